//! The plan: what must change (resource changes, for people) and how (operations, for the executor).
//!
//! A [`Plan`] is plain data. The planner that builds it is pure (no I/O, no clock, no randomness); renderers only
//! read it; the executor only runs it. A plan saved with `--out` is this type serialised as JSON, plus the
//! desired state it was computed for, so that `apply --plan` can settle unknown outcomes by re-reading and
//! re-planning. Sensitive values serialise as their `${env:...}` template and a hash (see [`crate::model::Text`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::{Address, AgentId, ConditionalActions, Field, Text};

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
    /// `cekura.folders/1376`, `tela.test_case/UUID`), to a hash of its normalised managed fields.
    pub fingerprints: BTreeMap<String, String>,
    /// Things the reviewer must know that are not changes: a delete the platform cannot do, a skipped resource.
    pub notes: Vec<PlanNote>,
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
    /// `POST /test_framework/v1/test-profiles/`
    CreateTestProfile { agent: AgentId, name: String, information: serde_json::Value },
    /// `PATCH /test_framework/v1/test-profiles/{id}/`: `information` is replaced whole.
    UpdateTestProfile { id: u64, name: Option<String>, information: Option<serde_json::Value> },
    /// `DELETE /test_framework/v1/test-profiles/{id}/`
    DeleteTestProfile { id: u64 },
    /// `POST /test_framework/v1/scenarios/`
    CreateEvaluator { agent: AgentId, body: EvaluatorBody },
    /// `PATCH /test_framework/v1/scenarios/{id}/`: only the fields bulk cannot set, or that ride along for free.
    PatchEvaluator { evaluator: EvaluatorRef, body: EvaluatorBody },
    /// `PUT /test_framework/v1/scenarios/{id}/`: the only single route for `scenario_language`. The executor
    /// reads the evaluator fresh and sends it whole with the language changed.
    SetLanguage { evaluator: EvaluatorRef, language: String },
    /// `POST /test_framework/v1/scenarios/adv_update/`
    BulkUpdate(BulkUpdate),
    /// `POST /test_framework/v1/scenarios/delete_scenarios/`
    DeleteEvaluators { agent: AgentId, ids: Vec<u64> },
    /// `POST /test-case` with an array
    CreateTestCases { prompt: String, cases: Vec<TestCaseBody> },
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
