//! The manifest file as written: serde + schemars types that mirror the YAML one to one, with
//! `deny_unknown_fields` everywhere. The JSON Schema (`evalform schema`) is generated from these types, and the
//! structural checker walks that schema, so a key added here is known to the schema, the checker and the docs test
//! at once.
//!
//! Nothing here interprets values (defaults, `${env:...}`, references): that is `convert`'s job. Doc comments
//! become schema descriptions that editors show, so they speak to manifest authors.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::model::Field;

/// An evalform manifest (format version 1): Cekura evaluators and test profiles of one agent, and/or Tela test
/// cases of one prompt.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "evalform manifest")]
pub struct Manifest {
    /// The manifest format version. Only `1` exists.
    pub version: u32,
    /// Cekura evaluators, test profiles and folders of one agent.
    #[serde(default)]
    pub cekura: Option<Cekura>,
    /// Tela test cases of one prompt.
    #[serde(default)]
    pub tela: Option<Tela>,
}

/// The Cekura part of a manifest: everything in it belongs to `agent`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cekura {
    /// The agent under test: its id, or (with a project file, evalform.toml) a name from the chosen environment's
    /// `agents`.
    pub agent: IdOrName,
    /// The agent's project id; looked up from the agent when absent.
    #[serde(default)]
    pub project: Option<u64>,
    /// `true`: evaluators and test profiles of this agent that no manifest declares are deleted.
    #[serde(default)]
    pub prune: Option<bool>,
    /// `true`: a folder of the project that no manifest of this agent declares or puts an evaluator in is deleted,
    /// with the evaluators inside, but only when every one of them is an evaluator `prune` deletes anyway (carries
    /// the ownership tag, declared by no manifest). A folder holding anything else is kept, and the plan says why.
    #[serde(default)]
    pub prune_folders: Option<bool>,
    /// Folder dot paths (`Sales.Inbound`); declaring a path declares its parents. A folder that was renamed or
    /// moved is written `{path: NEW, renamed_from: [OLD]}`: the platform's folder is renamed or moved with one call,
    /// its evaluators with it.
    #[serde(default)]
    pub folders: Option<Vec<FolderDecl>>,
    /// Metrics (judges) this suite defines in the agent's project, identified by name. Evaluators refer to them
    /// by name in `metrics`.
    #[serde(default)]
    pub metrics: Option<Vec<Metric>>,
    /// Schedules (cron jobs) that run the agent's evaluators, identified by name.
    #[serde(default)]
    pub schedules: Option<Vec<Schedule>>,
    /// Test profiles of the agent, identified by name.
    #[serde(default)]
    pub test_profiles: Option<Vec<TestProfile>>,
    /// Evaluator fields that every evaluator of this file gets unless it sets them itself.
    #[serde(default)]
    pub defaults: Option<Defaults>,
    /// Evaluators of the agent, identified by name.
    #[serde(default)]
    pub evaluators: Option<Vec<Evaluator>>,
}

/// A metric of the agent's project: what decides pass or fail. A field left out is not managed.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    /// Identity within the agent's project.
    pub name: String,
    /// Earlier names of this metric: a metric of the project of one of these names is this one, renamed in place
    /// (same id, still attached to its evaluators), never deleted and created anew.
    #[serde(default)]
    pub renamed_from: Option<Vec<String>>,
    /// `llm_judge` (a prompt judges the call) or `custom_code` (code does).
    #[serde(default, rename = "type")]
    pub kind: Option<MetricType>,
    /// What the metric yields.
    #[serde(default)]
    pub eval_type: Option<EvalType>,
    /// The judge prompt: what the metric checks, in plain text.
    #[serde(default)]
    pub description: Option<String>,
    /// The values an `enum` metric may yield.
    #[serde(default)]
    pub enum_values: Option<Vec<String>>,
    /// When the metric is evaluated.
    #[serde(default)]
    pub evaluation_trigger: Option<EvaluationTrigger>,
    /// The code of a `custom_code` metric (kept as text; evalform never runs it).
    #[serde(default)]
    pub custom_code: Option<String>,
    /// Evaluated on simulated calls (evaluator runs).
    #[serde(default)]
    pub simulation_enabled: Option<bool>,
    /// Evaluated on production calls (observability).
    #[serde(default)]
    pub observability_enabled: Option<bool>,
}

/// A folder: its dot path, or its path and the earlier paths it had.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum FolderDecl {
    Path(String),
    Renamed(RenamedFolder),
}

/// A folder that had another path: renamed (same parent), moved (other parent), or both.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenamedFolder {
    /// The folder's dot path now.
    pub path: String,
    /// Earlier dot paths, newest first: a platform folder of one of these paths is this one.
    pub renamed_from: Vec<String>,
}

/// A schedule: runs of the agent's evaluators, started by the platform at the times a crontab expression says.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Identity within the agent.
    pub name: String,
    /// A 5-field crontab expression (minute hour day-of-month month day-of-week), such as `0 3 * * *`.
    #[serde(default)]
    pub cron: Option<String>,
    /// Runs the evaluators that carry any of these tags (a set).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Runs these evaluators of the agent, by name (a set); each must be declared in the manifests.
    #[serde(default)]
    pub evaluators: Option<Vec<String>>,
    /// How the runs reach the agent.
    #[serde(default)]
    pub mode: Option<ExecutionMode>,
    /// `false` pauses the schedule.
    #[serde(default)]
    pub active: Option<bool>,
}

/// How a scheduled run reaches the agent (the platform's `execution_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionMode {
    Voice,
    Text,
    Websocket,
    Email,
    Sip,
    LivekitV2,
    PipecatV2,
}

impl ExecutionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionMode::Voice => "voice",
            ExecutionMode::Text => "text",
            ExecutionMode::Websocket => "websocket",
            ExecutionMode::Email => "email",
            ExecutionMode::Sip => "sip",
            ExecutionMode::LivekitV2 => "livekit_v2",
            ExecutionMode::PipecatV2 => "pipecat_v2",
        }
    }
}

/// How a metric is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricType {
    LlmJudge,
    CustomCode,
}

/// What a metric yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvalType {
    Binary,
    ContinuousQualitative,
    Numeric,
    Enum,
}

/// When a metric is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvaluationTrigger {
    Always,
    Automatic,
    Custom,
}

impl MetricType {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::LlmJudge => "llm_judge",
            MetricType::CustomCode => "custom_code",
        }
    }
}

impl EvalType {
    pub fn as_str(self) -> &'static str {
        match self {
            EvalType::Binary => "binary",
            EvalType::ContinuousQualitative => "continuous_qualitative",
            EvalType::Numeric => "numeric",
            EvalType::Enum => "enum",
        }
    }
}

impl EvaluationTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            EvaluationTrigger::Always => "always",
            EvaluationTrigger::Automatic => "automatic",
            EvaluationTrigger::Custom => "custom",
        }
    }
}

/// A Cekura test profile.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestProfile {
    /// Identity within the agent.
    pub name: String,
    /// Pins identity to an existing test profile.
    #[serde(default)]
    pub id: Option<u64>,
    /// Earlier names of this test profile: a test profile of one of these names on the platform is this one, and
    /// is renamed, never created a second time.
    #[serde(default)]
    pub renamed_from: Option<Vec<String>>,
    /// Variables given to the agent under test.
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, Scalar>>")]
    pub main_agent_variables: Option<BTreeMap<String, String>>,
    /// Variables given to the simulated caller.
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, Scalar>>")]
    pub testing_agent_variables: Option<BTreeMap<String, String>>,
    /// Legacy flat variables, sent to both sides; not together with the sectioned keys.
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, Scalar>>")]
    pub information: Option<BTreeMap<String, String>>,
}

// Only the schema uses this type (so editors accept `id: 42`); the loader reads every scalar as its source text.
/// A variable value: text. Numbers and booleans are taken as written (`42` is the text "42", `1.50` is "1.50").
#[derive(Debug, Clone, JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum Scalar {
    Text(String),
    Integer(i64),
    Number(f64),
    Bool(bool),
}

/// An id, or a name (personalities, test profiles) or slug (metrics).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum IdOrName {
    Id(u64),
    Name(String),
}

/// How the simulated caller is scripted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioType {
    Instruction,
    ConditionalActions,
}

/// Declares a struct with its own fields followed by every managed evaluator field, so that `Evaluator` and
/// `Defaults` cannot drift apart (serde's `flatten` does not combine with `deny_unknown_fields`).
macro_rules! with_evaluator_fields {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            /// Folder dot path, declared in `folders`; `""` is "in no folder".
            #[serde(default)]
            pub folder: Option<String>,
            /// `instruction` (the default) or `conditional_actions` (requires `conditional_actions`).
            #[serde(default, rename = "type")]
            pub kind: Option<ScenarioType>,
            /// What the simulated caller does, in plain text.
            #[serde(default)]
            pub instructions: Option<String>,
            /// Appended to `instructions`; usually set in `defaults` to share a tail.
            #[serde(default)]
            pub instructions_suffix: Option<String>,
            /// A rule-based caller, with `type: conditional_actions`.
            #[serde(default)]
            pub conditional_actions: Option<ConditionalActions>,
            /// What a passing call achieves.
            #[serde(default)]
            pub expected_outcome: Option<String>,
            /// The caller's first message.
            #[serde(default)]
            pub first_message: Option<String>,
            /// A personality id, or its name in the project.
            #[serde(default)]
            pub personality: Option<IdOrName>,
            /// A test profile's name in this agent, or an integer id.
            #[serde(default)]
            pub test_profile: Option<IdOrName>,
            /// Metric ids, slugs, or names of metrics of the project (also those declared under `metrics`); a set.
            #[serde(default)]
            pub metrics: Option<Vec<IdOrName>>,
            /// Tool ids such as `TOOL_END_CALL` (a set).
            #[serde(default)]
            pub tools: Option<Vec<String>>,
            /// Tags (a set).
            #[serde(default)]
            pub tags: Option<Vec<String>>,
            /// A language code the platform accepts (`en`, `de`, `multi`, ...).
            #[serde(default)]
            pub language: Option<String>,
            /// Longest call, in seconds (10 to 3600).
            #[serde(default)]
            pub max_duration: Option<u32>,
            /// The phone-number row id.
            #[serde(default)]
            pub phone_number: Option<u64>,
            /// Fields whose drift is neither reported nor reverted.
            #[serde(default)]
            pub ignore_changes: Option<Vec<Field>>,
        }

        impl $name {
            /// Which managed evaluator fields are set, by key, in the order of [`EvaluatorFields`].
            pub fn set_fields(&self) -> [(&'static str, bool); 16] {
                [
                    ("folder", self.folder.is_some()),
                    ("type", self.kind.is_some()),
                    ("instructions", self.instructions.is_some()),
                    ("instructions_suffix", self.instructions_suffix.is_some()),
                    ("conditional_actions", self.conditional_actions.is_some()),
                    ("expected_outcome", self.expected_outcome.is_some()),
                    ("first_message", self.first_message.is_some()),
                    ("personality", self.personality.is_some()),
                    ("test_profile", self.test_profile.is_some()),
                    ("metrics", self.metrics.is_some()),
                    ("tools", self.tools.is_some()),
                    ("tags", self.tags.is_some()),
                    ("language", self.language.is_some()),
                    ("max_duration", self.max_duration.is_some()),
                    ("phone_number", self.phone_number.is_some()),
                    ("ignore_changes", self.ignore_changes.is_some()),
                ]
            }

            /// The managed evaluator fields, without the struct's own.
            pub fn fields(&self) -> EvaluatorFields {
                EvaluatorFields {
                    folder: self.folder.clone(),
                    kind: self.kind,
                    instructions: self.instructions.clone(),
                    instructions_suffix: self.instructions_suffix.clone(),
                    conditional_actions: self.conditional_actions.clone(),
                    expected_outcome: self.expected_outcome.clone(),
                    first_message: self.first_message.clone(),
                    personality: self.personality.clone(),
                    test_profile: self.test_profile.clone(),
                    metrics: self.metrics.clone(),
                    tools: self.tools.clone(),
                    tags: self.tags.clone(),
                    language: self.language.clone(),
                    max_duration: self.max_duration,
                    phone_number: self.phone_number,
                    ignore_changes: self.ignore_changes.clone(),
                }
            }
        }
    };
}

with_evaluator_fields! {
    /// A Cekura evaluator (the API calls it a scenario).
    pub struct Evaluator {
        /// Identity within the agent, at most 80 characters.
        pub name: String,
        /// Pins identity to an existing evaluator (rename by changing `name`).
        #[serde(default)]
        pub id: Option<u64>,
        /// Earlier names of this evaluator: an evaluator of one of these names on the platform is this one, and
        /// is renamed (keeping its id and history), never created a second time.
        #[serde(default)]
        pub renamed_from: Option<Vec<String>>,
    }
}

with_evaluator_fields! {
    /// Evaluator fields that every evaluator of the file gets unless it sets them: all fields but `name` and `id`;
    /// and `extra_metrics`, `extra_tools`, `extra_tags`, added to every evaluator's set even when it lists its own.
    pub struct Defaults {
        /// Metric ids or slugs added to the `metrics` of every evaluator of this file, also of those that list
        /// their own.
        #[serde(default)]
        pub extra_metrics: Option<Vec<IdOrName>>,
        /// Tool ids added to the `tools` of every evaluator of this file, also of those that list their own.
        #[serde(default)]
        pub extra_tools: Option<Vec<String>>,
        /// Tags added to the `tags` of every evaluator of this file, also of those that list their own.
        #[serde(default)]
        pub extra_tags: Option<Vec<String>>,
    }
}

/// The managed fields of an evaluator, as written (see the evaluator keys for their meaning).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvaluatorFields {
    pub folder: Option<String>,
    pub kind: Option<ScenarioType>,
    pub instructions: Option<String>,
    pub instructions_suffix: Option<String>,
    pub conditional_actions: Option<ConditionalActions>,
    pub expected_outcome: Option<String>,
    pub first_message: Option<String>,
    pub personality: Option<IdOrName>,
    pub test_profile: Option<IdOrName>,
    pub metrics: Option<Vec<IdOrName>>,
    pub tools: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub language: Option<String>,
    pub max_duration: Option<u32>,
    pub phone_number: Option<u64>,
    pub ignore_changes: Option<Vec<Field>>,
}

/// A conditional-actions flow.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionalActions {
    /// Who the caller is.
    pub role: String,
    /// The rules, each with a unique `id`.
    pub conditions: Vec<Condition>,
}

/// One rule of a conditional-actions flow.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// Unique within the flow.
    pub id: u64,
    /// `FIRST_MESSAGE`, a description of what the agent does, or (for a follow-up) another condition's id.
    pub condition: IdOrName,
    /// What the caller says or does.
    pub action: String,
    /// `standard`, or `action_followup`; defaults to `action_followup` when `condition` is an id.
    #[serde(default, rename = "type")]
    pub kind: Option<ConditionType>,
    /// Say `action` verbatim instead of paraphrasing it; default `false`.
    #[serde(default)]
    pub fixed_message: Option<bool>,
}

/// The kind of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConditionType {
    Standard,
    ActionFollowup,
}

/// The Tela part of a manifest: test cases of one prompt.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tela {
    /// The prompt's uuid, or (with a project file, evalform.toml) a name from the chosen environment's
    /// `tela_prompts`.
    pub prompt: String,
    /// `true`: test cases of this prompt that no manifest declares are reported as "would delete" (Tela has no
    /// delete call, so they stay).
    #[serde(default)]
    pub prune: Option<bool>,
    /// The prompt version that `evalform run` names in every run of these test cases (Tela's `promptVersionId`),
    /// for a Tela that requires one; unset, Tela picks. May be `${var:NAME}` (per environment) or `${env:NAME}`.
    /// Not a managed field: plans and apply ignore it.
    #[serde(default)]
    pub prompt_version: Option<String>,
    /// Test cases, identified by title within the prompt.
    #[serde(default)]
    pub test_cases: Option<Vec<TestCase>>,
}

/// A Tela test case.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// Identity within the prompt.
    pub title: String,
    /// The conversation so far, in order.
    #[serde(default)]
    pub messages: Option<Vec<Message>>,
    /// Values for the prompt's variables.
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, Scalar>>")]
    pub variables: Option<BTreeMap<String, String>>,
    /// What a good reply looks like.
    #[serde(default)]
    pub expected_output: Option<String>,
}

/// One message of a test case.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

/// Who speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    System,
    Assistant,
    Function,
    Developer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::System => "system",
            Role::Assistant => "assistant",
            Role::Function => "function",
            Role::Developer => "developer",
        }
    }
}

/// The JSON Schema of a manifest, as `evalform schema` prints it.
pub fn schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Manifest);
    serde_json::to_value(&schema).expect("a schema is JSON")
}
