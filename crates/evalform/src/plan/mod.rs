//! The plan: what must change (resource changes, for people) and how (operations, for the executor).
//!
//! A [`Plan`] is plain data. The planner that builds it is pure (no I/O, no clock, no randomness); renderers only
//! read it; the executor only runs it. A plan saved with `--out` is this type serialised as JSON, plus the
//! desired state it was computed for, so that `apply --plan` can settle unknown outcomes by re-reading and
//! re-planning. Sensitive values serialise as their `${env:...}` template and a hash (see [`crate::model::Text`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::{Address, AgentId, ConditionalActions, Field, Information, Text};

/// Version of the saved-plan and `--format json` layout. Bump on any incompatible change.
pub const PLAN_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    /// Per resource, what changes: what a reviewer reads.
    pub changes: Vec<ResourceChange>,
    /// The API calls, in an order that respects `depends_on`.
    pub operations: Vec<Operation>,
    /// Every remote object the plan read, by key (`cekura.scenario/101`, `cekura.test_profile/55`,
    /// `cekura.folders/1376`, `cekura.folder/12/Sales.Old`, `tela.test_case/UUID`), to a hash of its normalised
    /// managed fields (for a folder, keyed by its platform path: its subfolders, and the ids of the evaluators in it
    /// or under it of every agent read of its project).
    pub fingerprints: BTreeMap<String, String>,
    /// Things the reviewer must know that are not changes: a delete the platform cannot do, a skipped resource.
    pub notes: Vec<PlanNote>,
    /// Resources on the platform, of the agents the manifests name, that no manifest declares (and the folders of
    /// their projects that no manifest uses): never changed, listed so that nothing is hidden. They are not changes
    /// (`--detailed-exitcode` ignores them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmanaged: Vec<Unmanaged>,
}

/// A platform resource no manifest declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unmanaged {
    pub address: Address,
    pub remote_id: Option<String>,
    /// Why it matters, when it does (`prune` leaves it because evalform did not create or adopt it; it looks like
    /// the old name of a resource the plan creates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanNote {
    pub address: Option<Address>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    pub address: Address,
    pub action: Action,
    /// The remote id, when the resource exists.
    pub remote_id: Option<String>,
    /// Only the fields that change (for a create: every managed field; for a delete: none).
    pub fields: Vec<FieldChange>,
}

/// One field's before and after, as values a renderer can show. Sensitive values are kept as [`Text`], whose
/// `Serialize` never writes the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// A managed field name (`instructions`, `metrics`, `main_agent_variables.api_token`, `messages`).
    pub field: String,
    pub before: Option<FieldValue>,
    pub after: Option<FieldValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FieldValue {
    Text(Text),
    Number(u64),
    /// A name shown for an id (`Impatient Caller (9)`): display only, never in what is sent or saved.
    Label(String),
    Set(BTreeSet<String>),
    Json(serde_json::Value),
}

/// One API call. `id` is the index in [`Plan::operations`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    pub id: usize,
    /// Operations that must have succeeded before this one runs.
    pub depends_on: Vec<usize>,
    /// The resources whose state this call changes (for progress, verification and `--target`).
    pub touches: Vec<Address>,
    pub call: Call,
}

/// An evaluator the call is about: an existing one by id, or one this plan creates, by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvaluatorRef {
    Id(u64),
    Created(String),
}

/// A test profile a call refers to: an existing one by id, or one this plan creates, by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestProfileRef {
    Id(u64),
    Created(String),
}

/// The API calls evalform makes. Each maps to exactly one HTTP request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Call {
    /// `POST /test_framework/v1/scenarios/create_folder/`
    CreateFolder { project: u64, name: String, parent_path: Option<String> },
    /// `POST /test_framework/v1/scenarios/rename_folder/`: the folder at `path` gets the last segment `name`; its
    /// subfolders and evaluators follow.
    RenameFolder { project: u64, path: String, name: String },
    /// `POST /test_framework/v1/scenarios/move_folder/`: the folder at `path` goes under `new_parent_path` (`None`:
    /// to the top level), keeping its name; its subfolders and evaluators follow.
    MoveFolder { project: u64, path: String, new_parent_path: Option<String> },
    /// `POST /test_framework/v1/scenarios/delete_folder/`: the folder at `path`, its subfolders and every evaluator
    /// in them (`prune_folders`). `evaluators` are the ids the plan found inside, every one evalform's to delete; the
    /// executor reads the project's evaluators immediately before and sends nothing when the folder holds another.
    DeleteFolder { project: u64, path: String, evaluators: Vec<u64> },
    /// `POST /test_framework/v1/test-profiles/`
    CreateTestProfile { agent: AgentId, name: String, information: Information },
    /// `PATCH /test_framework/v1/test-profiles/{id}/`: `information` is replaced whole.
    UpdateTestProfile { id: u64, name: Option<String>, information: Option<Information> },
    /// `DELETE /test_framework/v1/test-profiles/{id}/`
    DeleteTestProfile { id: u64 },
    /// `POST /test_framework/v1/scenarios/`
    CreateEvaluator { agent: AgentId, body: EvaluatorBody },
    /// `PATCH /test_framework/v1/scenarios/{id}/`: only the fields bulk cannot set, or that ride along for free.
    PatchEvaluator { evaluator: EvaluatorRef, body: EvaluatorBody },
    /// `PUT /test_framework/v1/scenarios/{id}/`: the only single route for `scenario_language`. The executor
    /// reads the evaluator fresh and sends it whole with the language changed.
    SetLanguage { evaluator: EvaluatorRef, language: String },
    /// `PATCH /test_framework/v1/scenarios/{id}/` with `tags`: adds evalform's ownership tag to an evaluator the
    /// manifests declare (adoption). The executor reads the evaluator's tags immediately before and sends them back
    /// with the tag added.
    AdoptEvaluator { id: u64 },
    /// `POST /test_framework/v1/scenarios/adv_update/`
    BulkUpdate(BulkUpdate),
    /// `POST /test_framework/v1/scenarios/delete_scenarios/`
    DeleteEvaluators { agent: AgentId, ids: Vec<u64> },
    /// `POST /test_framework/v2/metrics/`: a metric of the project, carrying evalform's ownership mark.
    CreateMetric {
        agent: AgentId,
        project: u64,
        body: MetricBody,
        /// The other agents of the project whose manifests declare the metric alike: it is created once, for all
        /// of them (their evaluators may refer to it).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        shared_with: Vec<AgentId>,
    },
    /// `PATCH /test_framework/v2/metrics/{id}/` with only the changed fields (and, to adopt it, the ownership mark
    /// added to the `configuration` read at plan time).
    UpdateMetric { id: u64, body: MetricBody },
    /// `DELETE /test_framework/v2/metrics/{id}/`: the platform detaches it from every evaluator.
    DeleteMetric { id: u64 },
    /// `POST /schedules/v1/cron-jobs-external/`
    CreateSchedule { agent: AgentId, body: ScheduleBody },
    /// `PATCH /schedules/v1/cron-jobs-external/{id}/` with only the changed fields.
    UpdateSchedule { id: u64, body: ScheduleBody },
    /// `POST /test-case` with an array
    CreateTestCases { prompt: String, cases: Vec<TestCaseBody> },
    /// `DELETE /test-case/{id}`: only test cases evalform created (`prune`).
    DeleteTestCase { id: String },
    /// `PATCH /test-case/{id}` with only the changed fields
    PatchTestCase { id: String, body: TestCaseBody },
}

/// The writable evaluator fields, as a create or PATCH sends them. `None` is "not sent".
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EvaluatorBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personality: Option<u64>,
    /// `instruction` or `conditional_actions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenario_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conditional_actions: Option<ConditionalActions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_outcome_prompt: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_profile: Option<TestProfileRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<u64>,
    /// `Some("")` moves the evaluator out of every folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folder_path: Option<String>,
}

/// A metric's writable fields, as a create or PATCH sends them. `None` is "not sent".
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MetricBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enum_values: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation_trigger: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_code: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simulation_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observability_enabled: Option<bool>,
    /// The whole `configuration` object, sent only to add evalform's ownership mark (create, adopt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configuration: Option<serde_json::Value>,
}

/// A cron job's writable fields, as a create or PATCH sends them. `None` is "not sent".
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ScheduleBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crontab_expression: Option<String>,
    /// The evaluators to run: existing ones by id, ones this plan creates by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenarios: Option<Vec<EvaluatorRef>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
}

/// One `adv_update` call: the same changes applied to every listed evaluator, in one transaction.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BulkUpdate {
    pub scenarios: Vec<EvaluatorRef>,
    /// The permission scope. `Agent` is sent only when every listed evaluator already belongs to that agent
    /// (the API moves evaluators to the agent it is given).
    pub scope: BulkScope,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub metric_ids_to_add: BTreeSet<u64>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub metric_ids_to_remove: BTreeSet<u64>,
    /// Metrics this plan creates, by name: sent in `metric_ids_to_add` with the ids their creates answered.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub created_metrics_to_add: BTreeSet<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personality: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_profile: Option<TestProfileRef>,
    /// Not idempotent: concatenated on every call. Never replayed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub append_instruction: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_message: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folder_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkScope {
    Agent(AgentId),
    Project(u64),
}

impl Default for BulkScope {
    fn default() -> Self {
        BulkScope::Agent(0)
    }
}

/// A Tela test case's writable fields. `None` is "not sent".
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TestCaseBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<crate::model::Message>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variables: Option<BTreeMap<String, Text>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_output: Option<Text>,
}

/// Fields of an evaluator, re-exported for planners and renderers.
pub type ManagedField = Field;

pub mod build;
pub mod diff;
pub mod fingerprint;
pub mod folders;
pub mod metrics;
pub mod resolve;
pub mod schedules;
pub mod simulate;
pub mod target;
pub mod tela;
pub mod wire;

pub use fingerprint::fingerprints;
pub use wire::{call_request, flow_json, CreatedRef, Secrets, Verb};

use crate::model::{Catalog, SourceSpan, State};

/// The default for [`PlanSettings::batch_size`]: at most this many evaluators go in one `adv_update` call. The
/// platform documents no limit; 500 keeps one transaction (and one failure) to a size a person can reason about.
pub const DEFAULT_BATCH_SIZE: usize = 500;

/// What the command line decides about a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSettings {
    /// Most evaluators in one `adv_update` (and one `delete_scenarios`) call. Default [`DEFAULT_BATCH_SIZE`].
    pub batch_size: usize,
    /// `--target` globs: when any is given, only resources whose name or address matches one are planned.
    pub targets: Vec<String>,
    /// `--exclude` globs: resources whose name or address matches one are left out.
    pub excludes: Vec<String>,
    /// Whether a shared instruction tail may go by `append_instruction`. Apply turns this off when it repairs
    /// what verification found (a tail appended twice by a racing apply is mended by full replacement, which is
    /// idempotent, never by another append).
    pub allow_append: bool,
    /// Whether a `--target`/`--exclude` pattern that matches no resource is an error (it is, for the plan a person
    /// reviews; apply's repair rounds re-plan after deletes and turn it off).
    pub patterns_must_match: bool,
    /// Whether the plan carries [`Plan::fingerprints`] (what `apply` and a saved plan need). `plan` without `--out`
    /// turns it off: hashing every object read is then work nobody uses.
    pub fingerprints: bool,
}

impl Default for PlanSettings {
    fn default() -> Self {
        PlanSettings {
            batch_size: DEFAULT_BATCH_SIZE,
            targets: Vec::new(),
            excludes: Vec::new(),
            allow_append: true,
            patterns_must_match: true,
            fingerprints: true,
        }
    }
}

/// What the fetcher read: the platform's state, and per agent the lists names and slugs resolve against.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub state: State,
    pub catalogs: BTreeMap<AgentId, Catalog>,
}

/// Every problem that stops a plan, found in one pass so the user fixes them all at once.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanErrors(pub Vec<PlanError>);

impl std::fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.len();
        write!(f, "cannot plan: {n} problem{}", if n == 1 { "" } else { "s" })?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PlanErrors {}

fn at(location: &Option<SourceSpan>) -> String {
    match location {
        Some(s) => format!("{s}: "),
        None => String::new(),
    }
}

/// One reason a plan cannot be made. Each names the resource and, for declared resources, where the manifest
/// declares it, and says what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("{}{address}: unknown metric `{slug}` (hint: {hint})", at(.location))]
    UnknownMetric { address: Address, location: Option<SourceSpan>, slug: String, hint: String },
    #[error(
        "{}{address}: metric `{name}` could mean {} (hint: refer to it by id or slug{})",
        at(.location), candidates(.ids, *.declared),
        if *.declared { ", or give the metric the manifests declare a name of its own" } else { "" }
    )]
    AmbiguousMetric { address: Address, location: Option<SourceSpan>, name: String, ids: Vec<u64>, declared: bool },
    #[error("{}{address}: unknown personality `{name}` (hint: {hint})", at(.location))]
    UnknownPersonality { address: Address, location: Option<SourceSpan>, name: String, hint: String },
    #[error(
        "{}{address}: {} evaluators with this name exist on the platform (ids {}) (hint: pin the one you mean with `id: {}`)",
        at(.location), .ids.len(), join_ids(.ids), .ids[0]
    )]
    DuplicateRemoteName { address: Address, location: Option<SourceSpan>, ids: Vec<u64> },
    #[error(
        "{}{address}: {} test cases with this title exist on the platform (ids {}) (hint: a title is a test case's identity: delete or rename the copies in Tela)",
        at(.location), .ids.len(), .ids.join(", ")
    )]
    DuplicateRemoteTitle { address: Address, location: Option<SourceSpan>, ids: Vec<String> },
    #[error(
        "{}{address}: test profile `{name}` is neither on the platform nor declared in the manifests (hint: declare it under `test_profiles`, or give its id)",
        at(.location)
    )]
    UnknownTestProfile { address: Address, location: Option<SourceSpan>, name: String },
    #[error("{}{address}: `id: {id}` does not exist on the platform for this agent (hint: remove the pin to create it, or fix the id)", at(.location))]
    PinNotFound { address: Address, location: Option<SourceSpan>, id: u64 },
    #[error("{}{address}: is pinned with `id: {id}`, which another resource also pins", at(.location))]
    PinTwice { address: Address, location: Option<SourceSpan>, id: u64 },
    #[error("{}{address}: cannot be created without a personality (the platform requires one) (hint: set `personality`, or put it in `defaults`)", at(.location))]
    MissingPersonality { address: Address, location: Option<SourceSpan> },
    #[error("{address}: creating this folder needs the agent's project, which is unknown (hint: set `project:` in the manifest)")]
    MissingProject { address: Address },
    #[error("bad pattern `{pattern}`: {message}")]
    BadPattern { pattern: String, message: String },
    #[error(
        "{}{address}: `renamed_from` names \"{old}\", which another {kind} of this agent is declared as (hint: an old name must not be in use; remove it from `renamed_from`, or rename the other)",
        at(.location)
    )]
    RenameClash { address: Address, location: Option<SourceSpan>, kind: String, old: String },
    #[error("{flag} `{pattern}` matches no resource of the manifests' agents and prompts")]
    PatternMatchesNothing { flag: String, pattern: String },
    /// Two declared metrics of one project (of different agents) are the same platform metric under two names.
    #[error(
        "{}{address}: {} the project's metric \"{remote}\" (id {id}), which {other}{} {}: one metric cannot have two names (hint: metrics belong to the project, so every agent's manifests must call a metric by one name: rename it in all of them, with the same `renamed_from`, or in none)",
        at(.location), if *.renames { "renames" } else { "is" }, within(.other_location),
        match (*.renames, *.other_renames) { (_, false) => "declares under that name", (true, true) => "renames too", (false, true) => "renames" }
    )]
    MetricClaimedTwice {
        address: Address,
        location: Option<SourceSpan>,
        remote: String,
        id: u64,
        renames: bool,
        other: Address,
        other_location: Option<SourceSpan>,
        other_renames: bool,
    },
    /// Two agents of one project declare one metric with different fields: each would write its own, forever.
    #[error(
        "{}{address}: the project's metric \"{name}\" is declared twice, differently: {fields} here and in {other}{} differ (hint: metrics belong to the project: where several agents' manifests declare one metric, the fields they both set must agree; or declare it in one agent's manifests only)",
        at(.location), within(.other_location)
    )]
    MetricDeclaredDifferently {
        address: Address,
        location: Option<SourceSpan>,
        name: String,
        fields: String,
        other: Address,
        other_location: Option<SourceSpan>,
    },
    /// A declared metric the platform does not have, while another agent's manifests rename a platform metric to
    /// its name: the plan would create a second metric of that name.
    #[error(
        "{}{address}: would be created, but {by}{} renames the project's metric \"{old}\" (id {id}) to this name (hint: metrics belong to the project: add `renamed_from: [{old:?}]` here too, or declare the metric in one agent's manifests only)",
        at(.location), within(.by_location)
    )]
    MetricRenamedElsewhere {
        address: Address,
        location: Option<SourceSpan>,
        old: String,
        id: u64,
        by: Address,
        by_location: Option<SourceSpan>,
    },
    /// A metric's earlier name and its name are both on the platform: the rename cannot happen, and a prune of the
    /// project would delete the earlier one (evalform owns it).
    #[error(
        "{}{address}: `renamed_from` names \"{old}\" (id {old_id}), but the project has a metric of this name too (id {id}): both exist, so neither is renamed, and `prune` would delete \"{old}\", which evalform created or adopted (hint: if \"{old}\" is a leftover, remove it from `renamed_from` and prune deletes it; to keep it, declare it too; or delete or rename one of the two on the platform)",
        at(.location)
    )]
    MetricRenameTargetExists { address: Address, location: Option<SourceSpan>, old: String, old_id: u64, id: u64 },
    /// An evaluator refers by its earlier name to a metric this plan renames.
    #[error(
        "{}{address}: metric `{old}` is renamed to \"{new}\" in this plan, by {by}{} (hint: refer to it by its new name, `{new}`)",
        at(.location), within(.by_location)
    )]
    MetricOldName {
        address: Address,
        location: Option<SourceSpan>,
        old: String,
        new: String,
        by: Address,
        by_location: Option<SourceSpan>,
    },
}

/// ` (suite.yaml:4:7)`, or nothing when the resource has no location.
fn within(location: &Option<SourceSpan>) -> String {
    match location {
        Some(s) => format!(" ({s})"),
        None => String::new(),
    }
}

/// `the metrics 501 and 1020`, `metric 501 or the one the manifests declare (not created yet)`.
fn candidates(ids: &[u64], declared: bool) -> String {
    match (ids, declared) {
        ([one], true) => format!("metric {one} or the one the manifests declare (not created yet)"),
        (ids, true) => format!("the metrics {} or the one the manifests declare (not created yet)", join_ids(ids)),
        ([init @ .., last], false) => format!("the metrics {} and {last}", join_ids(init)),
        ([], false) => "no metric".to_string(),
    }
}

fn join_ids(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
}

/// Plan the calls that make the platform (`observed`) match the manifests (`desired`). Pure: the same inputs
/// give the same plan. On failure every problem found is returned, and nothing has been written anywhere.
pub fn plan(desired: &State, observed: &Observed, settings: &PlanSettings) -> Result<Plan, PlanErrors> {
    build::plan(desired, observed, settings)
}

#[cfg(test)]
mod tests;
