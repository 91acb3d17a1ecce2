//! What the sandbox stores, and every rule of what a write may change. The HTTP handlers and the seeding helpers
//! that tests use ("the dashboard") both go through the methods here, so a seeded object is stored exactly as one
//! written over the API would be: a conditional-actions flow becomes a JSON string in `instructions`, a phone number
//! is kept as a row id and read back as its number, and so on.
//!
//! These are the server's own types. They must not borrow the client's wire types or `crate::model`: the sandbox
//! stands for the platform, and sharing types would hide exactly the mismatches it exists to expose.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::drf::{invalid_pk, object_body, python_json, ApiError, FieldErrors, REQUIRED};
use super::world::Seed;

/// The longest evaluator name the platform accepts.
pub const NAME_MAX: usize = 80;
/// The marker that makes a run fail: see [`SandboxState::run_succeeds`].
pub const FAIL_MARKER: &str = "fail";
/// Markers (in an evaluator's name or tags, case-insensitive) for the other ways a run ends, so that tests can
/// reach every final status: see [`SandboxState::run_ending`]. Checked in this order, before [`FAIL_MARKER`].
pub const STUCK_MARKER: &str = "stuck";
pub const CRASH_MARKER: &str = "crash";
pub const TIMEOUT_MARKER: &str = "timeout";
pub const CANCEL_MARKER: &str = "cancel";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvaluator {
    pub id: u64,
    /// `None` for an evaluator created with only a project.
    pub agent: Option<u64>,
    pub project: u64,
    pub name: String,
    pub personality: Option<u64>,
    /// `instruction` or `conditional_actions`.
    pub scenario_type: String,
    /// Plain text, or for `conditional_actions` the flow as JSON text.
    pub instructions: String,
    pub expected_outcome_prompt: String,
    pub first_message: String,
    pub metrics: Vec<u64>,
    pub tags: Vec<String>,
    pub tool_ids: Vec<String>,
    pub test_profile: Option<u64>,
    /// Row id of the outbound phone number.
    pub phone_number: Option<u64>,
    /// Row id of the (deprecated) inbound phone number.
    pub inbound_phone_number: Option<u64>,
    pub folder_path: Option<String>,
    pub scenario_language: String,
    pub max_duration: Option<u64>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredTestProfile {
    pub id: u64,
    pub agent: Option<u64>,
    pub project: u64,
    pub name: String,
    pub information: Value,
    pub created_at: String,
    pub updated_at: String,
}

/// A folder has no id: its dot path within a project is its identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredFolder {
    pub project: u64,
    pub name: String,
    pub path: String,
    pub created_at: String,
}

/// A Tela test case, with Tela's field names kept in the JSON it renders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredTestCase {
    pub id: String,
    pub prompt_id: String,
    pub title: String,
    pub messages: Value,
    pub variables: Value,
    pub variables_rich_content: Value,
    pub files: Value,
    pub expected_output: Value,
    pub answers: Value,
    pub prompt_application_id: Value,
    pub metadata: Value,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRun {
    pub id: u64,
    pub scenario: u64,
    pub scenario_name: String,
    pub success: bool,
    /// How the run ends when it does not simply complete: `stuck` (never ends), `failed`, `timeout`, `cancelled`.
    #[serde(default)]
    pub ending: Option<String>,
    /// The metric a failing run fails on (the evaluator's lowest metric id), with its name.
    #[serde(default)]
    pub failing_metric: Option<(u64, String)>,
}

/// One `run_scenarios` call. Its status is derived from how many times it has been read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredResult {
    pub id: u64,
    pub agent: u64,
    pub name: String,
    pub polls: u32,
    pub runs: Vec<StoredRun>,
    pub created_at: String,
}

/// One `scenario-agent` request. Its status is derived from how many times it has been polled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSuggestion {
    pub progress_id: String,
    pub session_id: u64,
    pub mode: String,
    pub polls: u32,
    /// The status reached after the first poll.
    pub final_status: String,
    pub result: Value,
    /// The `error` of a `failed` session.
    #[serde(default)]
    pub error: Option<String>,
}

/// Everything the sandbox knows. Fields are public so tests can inspect; prefer the `insert_*` helpers to write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxState {
    pub seed: Seed,
    pub evaluators: BTreeMap<u64, StoredEvaluator>,
    pub test_profiles: BTreeMap<u64, StoredTestProfile>,
    pub folders: Vec<StoredFolder>,
    pub test_cases: BTreeMap<String, StoredTestCase>,
    pub results: BTreeMap<u64, StoredResult>,
    pub suggestions: BTreeMap<String, StoredSuggestion>,
    /// The next id handed out (one sequence for every integer id, so ids never collide across kinds).
    pub next_id: u64,
    /// Seconds since 2026-01-01T00:00:00Z of the sandbox clock, which advances one second per write so that
    /// timestamps are deterministic and strictly increasing.
    pub clock: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    Create,
    Patch,
    Put,
    /// A change made in the dashboard: partial like PATCH, but every field is writable.
    Dashboard,
}

impl WriteMode {
    /// Whether the body must hold every required field.
    fn full(self) -> bool {
        matches!(self, WriteMode::Create | WriteMode::Put)
    }
}

impl SandboxState {
    pub fn new(seed: Seed) -> Self {
        SandboxState {
            seed,
            evaluators: BTreeMap::new(),
            test_profiles: BTreeMap::new(),
            folders: Vec::new(),
            test_cases: BTreeMap::new(),
            results: BTreeMap::new(),
            suggestions: BTreeMap::new(),
            next_id: 1001,
            clock: 0,
        }
    }

    /// Advance the sandbox clock and return the new time as RFC 3339.
    pub fn tick(&mut self) -> String {
        self.clock += 1;
        timestamp(self.clock)
    }

    fn take_id(&mut self, chosen: Option<u64>) -> u64 {
        let id = chosen.unwrap_or(self.next_id);
        self.next_id = self.next_id.max(id + 1);
        id
    }

    // ---- seeding helpers: the dashboard ----

    /// Create an evaluator as `POST /scenarios/` would, with a chosen id; `body` uses the API's field names.
    pub fn insert_evaluator(&mut self, id: u64, body: Value) -> Result<u64, ApiError> {
        self.write_evaluator(WriteMode::Create, None, Some(id), &body)
    }

    /// Change an evaluator as the dashboard does: every field of `SchemaScenario` is writable there, including
    /// `first_message`, `max_duration` and `scenario_language`.
    pub fn edit_evaluator(&mut self, id: u64, body: Value) -> Result<u64, ApiError> {
        self.write_evaluator(WriteMode::Dashboard, Some(id), None, &body)
    }

    /// Change a test profile as the dashboard does (like PATCH: `information`, when given, replaces the old one).
    pub fn edit_test_profile(&mut self, id: u64, body: Value) -> Result<u64, ApiError> {
        self.write_test_profile(WriteMode::Patch, Some(id), None, &body)
    }

    /// Change a Tela test case as the dashboard does (like PATCH).
    pub fn edit_test_case(&mut self, id: &str, body: Value) -> Result<Value, ApiError> {
        self.patch_test_case(id, &body)
    }

    /// An evaluator as `GET /scenarios/{id}/` returns it.
    pub fn evaluator(&self, id: u64) -> Option<Value> {
        self.evaluators.get(&id).map(|e| self.evaluator_detail(e))
    }

    /// Create a test profile as `POST /test-profiles/` would, with a chosen id.
    pub fn insert_test_profile(&mut self, id: u64, body: Value) -> Result<u64, ApiError> {
        self.write_test_profile(WriteMode::Create, None, Some(id), &body)
    }

    pub fn test_profile(&self, id: u64) -> Option<Value> {
        self.test_profiles.get(&id).map(|p| self.test_profile_json(p))
    }

    /// Create every missing level of `path` ("Sales.Inbound") in `project`, parents first.
    pub fn insert_folder(&mut self, project: u64, path: &str) -> Result<(), ApiError> {
        let mut parent: Option<String> = None;
        for name in path.split('.') {
            let full = match &parent {
                Some(p) => format!("{p}.{name}"),
                None => name.to_string(),
            };
            if !self.folder_exists(project, &full) {
                self.create_folder(&json!({ "name": name, "parent_path": parent, "project_id": project }))?;
            }
            parent = Some(full);
        }
        Ok(())
    }

    pub fn folder_exists(&self, project: u64, path: &str) -> bool {
        self.folders.iter().any(|f| f.project == project && f.path == path)
    }

    /// Create a Tela test case as `POST /test-case` would, with a chosen id.
    pub fn insert_test_case(&mut self, id: &str, body: Value) -> Result<String, ApiError> {
        self.create_test_case(Some(id.to_string()), &body)
    }

    pub fn test_case(&self, id: &str) -> Option<Value> {
        self.test_cases.get(id).map(test_case_json)
    }

    // ---- evaluators ----

    /// Validate a create, PATCH or PUT body in full, then store it. Unknown and read-only fields are ignored, as
    /// DRF does; `first_message`, `max_duration` and `scenario_language` are read only on PUT.
    pub fn write_evaluator(
        &mut self,
        mode: WriteMode,
        existing: Option<u64>,
        chosen_id: Option<u64>,
        body: &Value,
    ) -> Result<u64, ApiError> {
        let body = object_body(Some(body))?;
        let old = match existing {
            Some(id) => Some(self.evaluators.get(&id).cloned().ok_or_else(ApiError::not_found)?),
            None => None,
        };
        let full = mode.full();
        let mut errors = FieldErrors::default();

        if let Some(v) = body.get("dynamic_variable_values") {
            if !v.is_null() {
                errors.add(
                    "dynamic_variable_values",
                    "This field has been removed from the API. Put dynamic-variable values in a test profile's \
                     information.main_agent_variables instead.",
                );
            }
        }

        let name = if full {
            errors.required(body, "name").and_then(|_| errors.string(body, "name", false))
        } else {
            errors.string(body, "name", false)
        }
        .flatten();
        if let Some(n) = &name {
            if n.trim().is_empty() {
                errors.add("name", "This field may not be blank.");
            } else if n.chars().count() > NAME_MAX {
                errors.add("name", format!("Ensure this field has no more than {NAME_MAX} characters."));
            }
        }

        let personality = if full && errors.required(body, "personality").is_none() {
            None
        } else {
            errors.pk(body, "personality", !full)
        };
        if let Some(Some(p)) = personality {
            if self.seed.personality(p).is_none() {
                errors.add("personality", invalid_pk(&json!(p)));
            }
        }

        // Ownership: only a create sets it. PATCH and PUT ignore `agent`/`project` (moving is `adv_update`'s job).
        let mut owner: Option<(Option<u64>, u64)> = None;
        if mode == WriteMode::Create {
            let agent = errors.pk(body, "agent", true).flatten();
            let project = errors.pk(body, "project", true).flatten();
            match (agent, project) {
                (None, None) => errors.add("non_field_errors", "Either agent or project must be provided."),
                (Some(a), p) => match self.seed.agent(a) {
                    None => errors.add("agent", invalid_pk(&json!(a))),
                    Some(agent) if p.is_some_and(|p| p != agent.project) => errors
                        .add("non_field_errors", format!("Agent {a} does not belong to project {}.", p.unwrap_or(0))),
                    Some(agent) => owner = Some((Some(a), agent.project)),
                },
                (None, Some(p)) => {
                    if self.seed.project_exists(p) {
                        owner = Some((None, p));
                    } else {
                        errors.add("project", invalid_pk(&json!(p)));
                    }
                }
            }
        }
        let project = owner.map(|o| o.1).or(old.as_ref().map(|o| o.project)).unwrap_or(0);

        let scenario_type = errors.string(body, "scenario_type", false).flatten();
        if let Some(t) = &scenario_type {
            if t != "instruction" && t != "conditional_actions" {
                errors.add("scenario_type", format!("\"{t}\" is not a valid choice."));
            }
        }
        let effective_type = scenario_type
            .clone()
            .or(old.as_ref().map(|o| o.scenario_type.clone()))
            .unwrap_or_else(|| "instruction".into());

        let mut instructions = errors.string(body, "instructions", true).map(Option::unwrap_or_default);
        if let Some(flow) = body.get("conditional_actions").filter(|v| !v.is_null()) {
            if scenario_type.as_deref() != Some("conditional_actions") {
                errors
                    .add("conditional_actions", "Requires scenario_type=\"conditional_actions\" in the same request.");
            } else if let Err(msg) = validate_flow(flow) {
                errors.add("conditional_actions", msg);
            } else {
                instructions = Some(python_json(flow));
            }
        } else if effective_type == "conditional_actions" {
            // Without `conditional_actions`, the flow may come as JSON text in `instructions`.
            match &instructions {
                Some(text) => match serde_json::from_str::<Value>(text) {
                    Ok(flow) if validate_flow(&flow).is_ok() => instructions = Some(python_json(&flow)),
                    _ => errors.add("instructions", "Instructions of a conditional_actions evaluator must be a flow."),
                },
                None if old.as_ref().is_none_or(|o| o.scenario_type != "conditional_actions") => {
                    errors.add("conditional_actions", REQUIRED)
                }
                None => {}
            }
        }

        let expected = errors.string(body, "expected_outcome_prompt", true).map(Option::unwrap_or_default);

        let metrics = errors.pk_list(body, "metrics");
        for m in metrics.iter().flatten() {
            if self.seed.metric(*m).is_none() {
                errors.add("metrics", invalid_pk(&json!(m)));
            }
        }
        let tags = errors.string_list(body, "tags");
        let tool_ids = errors.string_list(body, "tool_ids");
        for t in tool_ids.iter().flatten() {
            if !self.seed.tools.contains(t) {
                errors.add("tool_ids", format!("\"{t}\" is not a valid choice."));
            }
        }

        let test_profile = errors.pk(body, "test_profile", true);
        if let Some(Some(tp)) = test_profile {
            if self.test_profiles.get(&tp).is_none_or(|p| p.project != project) {
                errors.add("test_profile", invalid_pk(&json!(tp)));
            }
        }
        let phone_number = errors.pk(body, "phone_number", true);
        let inbound = errors.pk(body, "inbound_phone_number", true);
        for (field, value) in [("phone_number", phone_number), ("inbound_phone_number", inbound)] {
            if let Some(Some(row)) = value {
                if self.seed.phone_number(row).is_none() {
                    errors.add(field, invalid_pk(&json!(row)));
                }
            }
        }
        let folder = errors.string(body, "folder_path", true).map(|f| f.filter(|f| !f.is_empty()));
        if let Some(Some(path)) = &folder {
            if !self.folder_exists(project, path) {
                errors.add("folder_path", format!("Folder \"{path}\" does not exist in project {project}."));
            }
        }

        let (mut first_message, mut max_duration, mut language) = (None, None, None);
        if matches!(mode, WriteMode::Put | WriteMode::Dashboard) {
            first_message = errors.string(body, "first_message", true).map(Option::unwrap_or_default);
            max_duration = errors.integer(body, "max_duration", true);
            language = errors.string(body, "scenario_language", false).flatten();
            if let Some(l) = &language {
                let valid = (2..=7).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic() || c == '-');
                if !valid {
                    errors.add("scenario_language", format!("\"{l}\" is not a valid choice."));
                }
            }
        }
        errors.finish()?;

        let now = self.tick();
        let mut e = match old {
            Some(e) => e,
            None => {
                let (agent, project) = owner.unwrap_or((None, 0));
                StoredEvaluator {
                    id: self.take_id(chosen_id),
                    agent,
                    project,
                    name: String::new(),
                    personality: None,
                    scenario_type: "instruction".into(),
                    instructions: String::new(),
                    expected_outcome_prompt: String::new(),
                    first_message: String::new(),
                    metrics: Vec::new(),
                    tags: Vec::new(),
                    tool_ids: Vec::new(),
                    test_profile: None,
                    phone_number: None,
                    inbound_phone_number: None,
                    folder_path: None,
                    scenario_language: "en".into(),
                    max_duration: None,
                    created_at: now.clone(),
                    updated_at: now.clone(),
                }
            }
        };
        if let Some(n) = name {
            e.name = n;
        }
        if let Some(p) = personality {
            e.personality = p;
        }
        e.scenario_type = effective_type;
        if let Some(i) = instructions {
            e.instructions = i;
        }
        if let Some(x) = expected {
            e.expected_outcome_prompt = x;
        }
        if let Some(m) = metrics {
            e.metrics = dedup(m);
        }
        if let Some(t) = tags {
            e.tags = dedup(t);
        }
        if let Some(t) = tool_ids {
            e.tool_ids = dedup(t);
        }
        if let Some(tp) = test_profile {
            e.test_profile = tp;
        }
        if let Some(p) = phone_number {
            e.phone_number = p;
        }
        if let Some(p) = inbound {
            e.inbound_phone_number = p;
        }
        if let Some(f) = folder {
            e.folder_path = f;
        }
        if let Some(f) = first_message {
            e.first_message = f;
        }
        if let Some(m) = max_duration {
            e.max_duration = m;
        }
        if let Some(l) = language {
            e.scenario_language = l;
        }
        e.updated_at = now;
        let id = e.id;
        self.evaluators.insert(id, e);
        Ok(id)
    }

    fn phone_json(&self, row: Option<u64>) -> Value {
        match row.and_then(|r| self.seed.phone_number(r)) {
            Some(p) => json!({ "id": p.id, "number": p.number, "phone_number_id": format!("PN{:08}", p.id) }),
            None => Value::Null,
        }
    }

    fn common_fields(&self, e: &StoredEvaluator) -> Map<String, Value> {
        let agent = e.agent.and_then(|a| self.seed.agent(a));
        let metric_names: Vec<&str> =
            e.metrics.iter().filter_map(|m| self.seed.metric(*m)).map(|m| m.name.as_str()).collect();
        let json = json!({
            "id": e.id,
            "name": e.name,
            "agent": e.agent,
            "agent_name": agent.map(|a| a.name.as_str()).unwrap_or(""),
            "personality": e.personality,
            "personality_name": e.personality.and_then(|p| self.seed.personality(p)).map(|p| p.name.as_str()).unwrap_or(""),
            "phone_number": e.phone_number.and_then(|r| self.seed.phone_number(r)).map(|p| p.number.as_str()),
            "expected_outcome_prompt": e.expected_outcome_prompt,
            "instructions": e.instructions,
            "scenario_language": e.scenario_language,
            "scenario_type": e.scenario_type,
            "tags": e.tags,
            "inbound_phone_number": e.inbound_phone_number,
            "inbound_phone_number_data": self.phone_json(e.inbound_phone_number),
            "metrics": e.metrics,
            "metric_names": metric_names,
            "first_message": e.first_message,
            "tool_ids": e.tool_ids,
            "test_profile": e.test_profile,
            "test_profile_data": e.test_profile.and_then(|t| self.test_profiles.get(&t)).map(|p| self.test_profile_json(p)),
            "dynamic_variable_values": null,
            "folder_path": e.folder_path,
            "created_at": e.created_at,
            "updated_at": e.updated_at,
            "created_by": 1,
            "last_updated_by": 1,
        });
        match json {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    /// The list item (`ScenarioList`): no `max_duration`, no `project`.
    pub fn evaluator_list_item(&self, e: &StoredEvaluator) -> Value {
        Value::Object(self.common_fields(e))
    }

    /// The single GET (`SchemaScenario`).
    pub fn evaluator_detail(&self, e: &StoredEvaluator) -> Value {
        let mut map = self.common_fields(e);
        map.insert("project".into(), json!(e.project));
        map.insert("max_duration".into(), json!(e.max_duration));
        map.insert("outbound_phone_number_data".into(), self.phone_json(e.phone_number));
        map.insert("simulation_description".into(), json!(""));
        map.insert("information_fields".into(), json!({}));
        map.insert("suite_type".into(), json!("undefined"));
        map.insert("is_predefined".into(), json!(false));
        map.insert("generated_mock_tool_entries".into(), Value::Null);
        Value::Object(map)
    }

    /// `adv_update`: validate everything, then apply to every listed evaluator, or change nothing.
    pub fn bulk_update(&mut self, body: &Value) -> Result<Value, ApiError> {
        let body = object_body(Some(body))?;
        let mut errors = FieldErrors::default();
        let ids = errors.required(body, "scenarios").and_then(|_| errors.pk_list(body, "scenarios"));
        if ids.as_ref().is_some_and(Vec::is_empty) {
            errors.add("scenarios", "This list may not be empty.");
        }
        for id in ids.iter().flatten() {
            if !self.evaluators.contains_key(id) {
                errors.add("scenarios", invalid_pk(&json!(id)));
            }
        }
        let agent = errors.pk(body, "agent", true).flatten();
        let project = errors.pk(body, "project", true).flatten();
        let scope_project = match (agent, project) {
            (None, None) => {
                errors.add("non_field_errors", "Either agent or project must be provided.");
                None
            }
            (Some(a), _) => match self.seed.agent(a) {
                Some(agent) => Some(agent.project),
                None => {
                    errors.add("agent", invalid_pk(&json!(a)));
                    None
                }
            },
            (None, Some(p)) => Some(p),
        };
        if let Some(p) = scope_project {
            for id in ids.iter().flatten() {
                if self.evaluators.get(id).is_some_and(|e| e.project != p) {
                    errors.add("scenarios", format!("Evaluator {id} does not belong to project {p}."));
                }
            }
        }
        let metrics_add = errors.pk_list(body, "metric_ids_to_add").unwrap_or_default();
        let metrics_remove = errors.pk_list(body, "metric_ids_to_remove").unwrap_or_default();
        for m in metrics_add.iter().chain(&metrics_remove) {
            if self.seed.metric(*m).is_none() {
                errors.add("metric_ids", invalid_pk(&json!(m)));
            }
        }
        // The spec types the tool fields as integers while tools are strings: strings are refused as DRF refuses
        // a non-integer list item, and integers are accepted and match no tool.
        for field in ["tool_ids_to_add", "tool_ids_to_remove"] {
            match body.get(field) {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        if item.as_u64().is_none() {
                            errors.add(field, format!("Item {i}: A valid integer is required."));
                        }
                    }
                }
                Some(_) => errors.add(field, "Expected a list of items."),
            }
        }
        let personality = errors.pk(body, "personality", false).flatten();
        if let Some(p) = personality {
            if self.seed.personality(p).is_none() {
                errors.add("personality", invalid_pk(&json!(p)));
            }
        }
        let test_profile = errors.pk(body, "test_profile", false).flatten();
        if let Some(tp) = test_profile {
            if self.test_profiles.get(&tp).is_none_or(|t| Some(t.project) != scope_project) {
                errors.add("test_profile", invalid_pk(&json!(tp)));
            }
        }
        let append = errors.string(body, "append_instruction", true).flatten().filter(|s| !s.is_empty());
        if append.is_some() {
            for id in ids.iter().flatten() {
                if self.evaluators.get(id).is_some_and(|e| e.scenario_type == "conditional_actions") {
                    errors.add(
                        "append_instruction",
                        format!("Evaluator {id} is a conditional_actions evaluator; its instructions are a flow."),
                    );
                }
            }
        }
        let first_message = errors.string(body, "first_message", true).flatten();
        let phone = errors.pk(body, "phone_number", false).flatten();
        let inbound = errors.pk(body, "inbound_phone_number", false).flatten();
        for (field, row) in [("phone_number", phone), ("inbound_phone_number", inbound)] {
            if let Some(r) = row {
                if self.seed.phone_number(r).is_none() {
                    errors.add(field, invalid_pk(&json!(r)));
                }
            }
        }
        let folder = errors.string(body, "folder_path", true).flatten().filter(|f| !f.is_empty());
        if let (Some(path), Some(p)) = (&folder, scope_project) {
            if !self.folder_exists(p, path) {
                errors.add("folder_path", format!("Folder \"{path}\" does not exist in project {p}."));
            }
        }
        let max_duration = errors.integer(body, "max_duration", false).flatten();
        errors.finish()?;

        // Everything is valid: from here on nothing can fail, so the change is all-or-nothing.
        let now = self.tick();
        let ids = ids.unwrap_or_default();
        for id in &ids {
            let Some(e) = self.evaluators.get_mut(id) else { continue };
            if let Some(a) = agent {
                e.agent = Some(a);
            }
            for m in &metrics_add {
                if !e.metrics.contains(m) {
                    e.metrics.push(*m);
                }
            }
            e.metrics.retain(|m| !metrics_remove.contains(m));
            if let Some(p) = personality {
                e.personality = Some(p);
            }
            if let Some(tp) = test_profile {
                e.test_profile = Some(tp);
            }
            if let Some(text) = &append {
                e.instructions.push_str(text);
            }
            if let Some(f) = &first_message {
                e.first_message = f.clone();
            }
            if let Some(r) = phone {
                e.phone_number = Some(r);
            }
            if let Some(r) = inbound {
                e.inbound_phone_number = Some(r);
            }
            if let Some(f) = &folder {
                e.folder_path = Some(f.clone());
            }
            if let Some(m) = max_duration {
                e.max_duration = Some(m);
            }
            e.updated_at = now.clone();
        }
        let items: Vec<Value> =
            ids.iter().filter_map(|id| self.evaluators.get(id)).map(|e| self.evaluator_list_item(e)).collect();
        Ok(Value::Array(items))
    }

    /// `delete_scenarios`: all ids must exist and be in scope, or nothing is deleted.
    pub fn bulk_delete(&mut self, body: &Value) -> Result<(), ApiError> {
        let body = object_body(Some(body))?;
        let mut errors = FieldErrors::default();
        let ids = errors.required(body, "scenarios").and_then(|_| errors.pk_list(body, "scenarios"));
        let agent = errors.pk(body, "agent_id", true).flatten();
        let project = errors.pk(body, "project_id", true).flatten();
        let scope = match (agent, project) {
            (None, None) => {
                errors.add("non_field_errors", "Either agent_id or project_id is required.");
                None
            }
            (Some(a), _) => self.seed.agent(a).map(|a| a.project),
            (None, p) => p,
        };
        for id in ids.iter().flatten() {
            match self.evaluators.get(id) {
                None => errors.add("scenarios", invalid_pk(&json!(id))),
                Some(e) if Some(e.project) != scope => {
                    errors.add("scenarios", format!("Evaluator {id} is not in the given scope."))
                }
                Some(_) => {}
            }
        }
        errors.finish()?;
        for id in ids.unwrap_or_default() {
            self.evaluators.remove(&id);
        }
        self.tick();
        Ok(())
    }

    // ---- test profiles ----

    pub fn write_test_profile(
        &mut self,
        mode: WriteMode,
        existing: Option<u64>,
        chosen_id: Option<u64>,
        body: &Value,
    ) -> Result<u64, ApiError> {
        let body = object_body(Some(body))?;
        let old = match existing {
            Some(id) => Some(self.test_profiles.get(&id).cloned().ok_or_else(ApiError::not_found)?),
            None => None,
        };
        let mut errors = FieldErrors::default();
        let name = if mode.full() {
            errors.required(body, "name").and_then(|_| errors.string(body, "name", false))
        } else {
            errors.string(body, "name", false)
        }
        .flatten();
        if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            errors.add("name", "This field may not be blank.");
        }
        let mut owner = None;
        if mode == WriteMode::Create {
            let agent = errors.pk(body, "agent", true).flatten();
            let project = errors.pk(body, "project", true).flatten();
            match (agent, project) {
                (None, None) => errors.add("non_field_errors", "Either agent or project must be provided."),
                (Some(a), _) => match self.seed.agent(a) {
                    Some(agent) => owner = Some((Some(a), agent.project)),
                    None => errors.add("agent", invalid_pk(&json!(a))),
                },
                (None, Some(p)) if self.seed.project_exists(p) => owner = Some((None, p)),
                (None, Some(p)) => errors.add("project", invalid_pk(&json!(p))),
            }
        }
        let information = match body.get("information") {
            None => None,
            Some(Value::Null) => Some(json!({})),
            Some(Value::Object(map)) => {
                for section in ["main_agent_variables", "testing_agent_variables"] {
                    if map.get(section).is_some_and(|v| !v.is_object()) {
                        errors.add("information", format!("\"{section}\" must be an object."));
                    }
                }
                Some(Value::Object(map.clone()))
            }
            Some(_) => {
                errors.add("information", "Expected a dictionary of items.");
                None
            }
        };
        errors.finish()?;
        let now = self.tick();
        let mut p = match old {
            Some(p) => p,
            None => {
                let (agent, project) = owner.unwrap_or((None, 0));
                StoredTestProfile {
                    id: self.take_id(chosen_id),
                    agent,
                    project,
                    name: String::new(),
                    information: json!({}),
                    created_at: now.clone(),
                    updated_at: now.clone(),
                }
            }
        };
        if let Some(n) = name {
            p.name = n;
        }
        if let Some(i) = information {
            // Replaced whole, never merged.
            p.information = i;
        }
        p.updated_at = now;
        let id = p.id;
        self.test_profiles.insert(id, p);
        Ok(id)
    }

    pub fn test_profile_json(&self, p: &StoredTestProfile) -> Value {
        json!({
            "id": p.id,
            "project": p.project,
            "agent": p.agent,
            "agent_name": p.agent.and_then(|a| self.seed.agent(a)).map(|a| a.name.as_str()).unwrap_or(""),
            "name": p.name,
            "information": p.information,
            "created_by": 1,
            "last_updated_by": 1,
            "created_at": p.created_at,
            "updated_at": p.updated_at,
        })
    }

    // ---- folders ----

    pub fn create_folder(&mut self, body: &Value) -> Result<Value, ApiError> {
        let body = object_body(Some(body))?;
        let mut errors = FieldErrors::default();
        let name = errors.required(body, "name").and_then(|_| errors.string(body, "name", false)).flatten();
        let project = errors.required(body, "project_id").and_then(|_| errors.pk(body, "project_id", false)).flatten();
        let parent = errors.string(body, "parent_path", true).flatten().filter(|p| !p.is_empty());
        if let Some(n) = &name {
            if n.trim().is_empty() {
                errors.add("name", "This field may not be blank.");
            } else if n.contains('.') {
                errors.add("name", "Folder names may not contain \".\".");
            } else if n.chars().count() > 100 {
                errors.add("name", "Ensure this field has no more than 100 characters.");
            }
        }
        if let Some(p) = project {
            if !self.seed.project_exists(p) {
                errors.add("project_id", invalid_pk(&json!(p)));
            } else if let Some(parent) = &parent {
                if !self.folder_exists(p, parent) {
                    errors.add("parent_path", format!("Folder \"{parent}\" does not exist in project {p}."));
                }
            }
        }
        errors.finish()?;
        let (name, project) = (name.unwrap_or_default(), project.unwrap_or_default());
        let path = match parent {
            Some(p) => format!("{p}.{name}"),
            None => name.clone(),
        };
        if self.folder_exists(project, &path) {
            return Err(ApiError::field("name", format!("Folder \"{path}\" already exists.")));
        }
        let now = self.tick();
        let folder = StoredFolder { project, name, path, created_at: now };
        let json = folder_json(&folder);
        self.folders.push(folder);
        Ok(json)
    }

    // ---- runs ----

    /// Whether a run of `e` succeeds: it fails exactly when the evaluator's name or one of its tags contains
    /// [`FAIL_MARKER`] (case-insensitive), as it is when the run starts.
    pub fn run_succeeds(e: &StoredEvaluator) -> bool {
        Self::run_ending(e).is_none() && !Self::marked(e, FAIL_MARKER)
    }

    /// How a run of `e` ends when it does not complete: `stuck` (never), `failed`, `timeout` or `cancelled`, from
    /// the first of [`STUCK_MARKER`], [`CRASH_MARKER`], [`TIMEOUT_MARKER`], [`CANCEL_MARKER`] in its name or tags.
    pub fn run_ending(e: &StoredEvaluator) -> Option<&'static str> {
        [(STUCK_MARKER, "stuck"), (CRASH_MARKER, "failed"), (TIMEOUT_MARKER, "timeout"), (CANCEL_MARKER, "cancelled")]
            .into_iter()
            .find(|(marker, _)| Self::marked(e, marker))
            .map(|(_, ending)| ending)
    }

    fn marked(e: &StoredEvaluator, marker: &str) -> bool {
        let has = |s: &str| s.to_lowercase().contains(marker);
        has(&e.name) || e.tags.iter().any(|t| has(t))
    }

    pub fn start_runs(&mut self, body: &Value) -> Result<Value, ApiError> {
        let body = object_body(Some(body))?;
        let mut errors = FieldErrors::default();
        let agent = errors.required(body, "agent_id").and_then(|_| errors.pk(body, "agent_id", false)).flatten();
        let ids = errors.pk_list(body, "scenarios");
        let tags = errors.string_list(body, "tags");
        let folder = errors.string(body, "folder_path", true).flatten();
        let frequency = errors.integer(body, "frequency", false).flatten().unwrap_or(1);
        if frequency == 0 {
            errors.add("frequency", "Ensure this value is greater than or equal to 1.");
        }
        let name = errors.string(body, "name", true).flatten();
        let agent = agent.and_then(|a| match self.seed.agent(a) {
            Some(a) => Some(a.clone()),
            None => {
                errors.add("agent_id", invalid_pk(&json!(a)));
                None
            }
        });
        errors.finish()?;
        let agent = agent.ok_or_else(|| ApiError::field("agent_id", REQUIRED))?;
        let of_agent = |e: &&StoredEvaluator| e.agent == Some(agent.id);
        let selected: Vec<StoredEvaluator> = if let Some(ids) = ids {
            let mut out = Vec::new();
            for id in ids {
                match self.evaluators.get(&id).filter(|e| of_agent(e)) {
                    Some(e) => out.push(e.clone()),
                    None => return Err(ApiError::field("scenarios", invalid_pk(&json!(id)))),
                }
            }
            out
        } else if let Some(tags) = tags {
            self.evaluators
                .values()
                .filter(of_agent)
                .filter(|e| e.tags.iter().any(|t| tags.contains(t)))
                .cloned()
                .collect()
        } else if let Some(path) = folder {
            let prefix = format!("{path}.");
            self.evaluators
                .values()
                .filter(of_agent)
                .filter(|e| e.folder_path.as_deref().is_some_and(|f| f == path || f.starts_with(&prefix)))
                .cloned()
                .collect()
        } else {
            return Err(ApiError::field("scenarios", "Either scenarios, tags, or folder_path must be provided."));
        };
        if selected.is_empty() {
            return Err(ApiError::field("scenarios", "No evaluators matched the selection."));
        }
        let now = self.tick();
        let id = self.take_id(None);
        let mut runs = Vec::new();
        for e in &selected {
            for _ in 0..frequency {
                let run_id = self.take_id(None);
                let failing_metric = e.metrics.iter().min().map(|id| {
                    let name = self.seed.metrics.iter().find(|m| m.id == *id).map(|m| m.name.clone());
                    (*id, name.unwrap_or_else(|| format!("Metric {id}")))
                });
                runs.push(StoredRun {
                    id: run_id,
                    scenario: e.id,
                    scenario_name: e.name.clone(),
                    success: Self::run_succeeds(e),
                    ending: Self::run_ending(e).map(str::to_string),
                    failing_metric,
                });
            }
        }
        let result = StoredResult {
            id,
            agent: agent.id,
            name: name.unwrap_or_else(|| format!("Run {id}")),
            polls: 0,
            runs,
            created_at: now,
        };
        let summary: Vec<Value> = result
            .runs
            .iter()
            .map(|r| {
                json!({ "id": r.id, "status": "pending", "scenario": r.scenario, "scenario_name": r.scenario_name,
                        "number": "+14155550100", "inbound_number": null, "test_profile_data": null })
            })
            .collect();
        self.results.insert(id, result);
        Ok(json!({ "id": id, "agent": agent.id, "status": "pending", "run_as_text": false, "runs": summary }))
    }

    /// One read of a result: the first read answers `pending`, the second `running`, every later one the final
    /// status. A run that ends another way than completing (see [`SandboxState::run_ending`]) decides the result's
    /// final status: any `stuck` run keeps it `running` forever, else `failed`, then `timeout`, then `cancelled`
    /// win over `completed`. A failing completed run carries explanations for its expected outcome and metric.
    pub fn poll_result(&mut self, id: u64) -> Result<Value, ApiError> {
        let agents = self.seed.agents.clone();
        let r = self.results.get_mut(&id).ok_or_else(ApiError::not_found)?;
        r.polls += 1;
        let endings: Vec<&str> = r.runs.iter().filter_map(|x| x.ending.as_deref()).collect();
        let final_status = ["stuck", "failed", "timeout", "cancelled"]
            .into_iter()
            .find(|s| endings.contains(s))
            .map(|s| if s == "stuck" { "running" } else { s })
            .unwrap_or("completed");
        let status = match r.polls {
            1 => "pending",
            2 => "running",
            _ => final_status,
        };
        let ended = r.polls >= 3;
        let run_status = |x: &StoredRun| -> String {
            match (ended, x.ending.as_deref()) {
                (false, _) => status.to_string(),
                (true, Some("stuck")) => "running".to_string(),
                (true, Some(ending)) => ending.to_string(),
                (true, None) => "completed".to_string(),
            }
        };
        let done = |x: &StoredRun| ended && x.ending.as_deref() != Some("stuck");
        let total = r.runs.len();
        let success = r.runs.iter().filter(|x| done(x) && x.success).count();
        let finished = r.runs.iter().filter(|x| done(x)).count();
        let runs: Map<String, Value> = r
            .runs
            .iter()
            .map(|x| {
                let completed_and_failed = done(x) && x.ending.is_none() && !x.success;
                let mut run = json!({
                    "id": x.id,
                    "scenario": x.scenario,
                    "scenario_name": x.scenario_name,
                    "status": run_status(x),
                    "success": if done(x) { json!(x.success) } else { Value::Null },
                    "expected_outcome": if done(x) && x.ending.is_none() {
                        json!({ "score": if x.success { 100 } else { 0 } })
                    } else {
                        Value::Null
                    },
                });
                if completed_and_failed {
                    run["expected_outcome"]["explanation"] =
                        json!(format!("\"{}\" is marked to fail in the sandbox.", x.scenario_name));
                    if let Some((metric, name)) = &x.failing_metric {
                        run["evaluation"] = json!({ "metrics": [{
                            "id": metric,
                            "name": name,
                            "score": 0,
                            "explanation": format!("{name} was not met: the evaluator is marked to fail."),
                        }] });
                    }
                }
                (x.id.to_string(), run)
            })
            .collect();
        let rate = if ended && total > 0 { (success as f64) * 100.0 / (total as f64) } else { 0.0 };
        Ok(json!({
            "id": r.id,
            "name": r.name,
            "agent": r.agent,
            "agent_name": agents.iter().find(|a| a.id == r.agent).map(|a| a.name.as_str()).unwrap_or(""),
            "status": status,
            "success_rate": rate,
            "run_as_text": false,
            "total_runs_count": total,
            "completed_runs_count": finished,
            "success_runs_count": success,
            "failed_runs_count": finished - success,
            "runs": runs,
            "created_at": r.created_at,
            "updated_at": r.created_at,
        }))
    }

    // ---- scenario-agent ----

    pub fn start_suggestion(&mut self, body: &Value) -> Result<Value, ApiError> {
        let body = object_body(Some(body))?;
        let mut errors = FieldErrors::default();
        let message = errors.string(body, "user_message", true).flatten().unwrap_or_default();
        let ids: Vec<u64> = match body.get("scenarios") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) if s == "all" => {
                let agent = body.get("agent_id").and_then(Value::as_u64);
                self.evaluators.values().filter(|e| agent.is_none() || e.agent == agent).map(|e| e.id).collect()
            }
            Some(v) if v.as_u64().is_some() => v.as_u64().into_iter().collect(),
            Some(_) => errors.pk_list(body, "scenarios").unwrap_or_default(),
        };
        for id in &ids {
            if !self.evaluators.contains_key(id) {
                errors.add("scenarios", invalid_pk(&json!(id)));
            }
        }
        errors.finish()?;
        let lower = message.to_lowercase();
        if lower.contains("unsupported") {
            return Err(ApiError::detail(
                StatusCode::BAD_REQUEST,
                "Improvement mode is not supported for this request.",
            ));
        }
        let mode = if ids.is_empty() { "clarify" } else { "improve" };
        let apply = body.get("apply_changes").and_then(Value::as_bool).unwrap_or(false);
        let mut error = None;
        let (final_status, result) = if lower.contains("crash") {
            error = Some("The improvement agent stopped unexpectedly.".to_string());
            ("failed", Value::Null)
        } else if lower.contains("cancel") {
            ("cancelled", Value::Null)
        } else if lower.contains("clarify") {
            (
                "needs_clarification",
                json!({ "message": "Which behaviour should the evaluators check more closely?", "updated_scenarios": [] }),
            )
        } else if apply {
            let updates = body.get("updated_scenarios").cloned().unwrap_or(json!([]));
            let applied = self.apply_suggestions(&updates)?;
            (
                "completed",
                json!({ "message": format!("Applied changes to {applied} evaluators."), "updated_scenarios": updates }),
            )
        } else {
            // "all evaluators" in the message: suggestions for every evaluator of the agent, listed or not, as a
            // platform that reads the request broadly might send.
            let agent = body.get("agent_id").and_then(Value::as_u64);
            let ids: Vec<u64> = if lower.contains("all evaluators") && agent.is_some() {
                self.evaluators.values().filter(|e| e.agent == agent).map(|e| e.id).collect()
            } else {
                ids.clone()
            };
            let suggestions: Vec<Value> = ids
                .iter()
                .filter_map(|id| self.evaluators.get(id))
                .map(|e| {
                    json!({
                        "id": e.id,
                        "name": e.name,
                        "expected_outcome_prompt": suggested_outcome(&e.expected_outcome_prompt),
                    })
                })
                .collect();
            (
                "completed",
                json!({ "message": format!("Suggested changes for {} evaluators.", suggestions.len()), "updated_scenarios": suggestions }),
            )
        };
        self.tick();
        let session_id = body.get("session_id").and_then(Value::as_u64).unwrap_or_else(|| self.take_id(None));
        let progress_id = format!("progress-{}", self.take_id(None));
        self.suggestions.insert(
            progress_id.clone(),
            StoredSuggestion {
                progress_id: progress_id.clone(),
                session_id,
                mode: mode.into(),
                polls: 0,
                final_status: final_status.into(),
                result,
                error,
            },
        );
        Ok(json!({ "progress_id": progress_id, "session_id": session_id }))
    }

    fn apply_suggestions(&mut self, updates: &Value) -> Result<usize, ApiError> {
        let Some(items) = updates.as_array() else {
            return Err(ApiError::field("updated_scenarios", "Expected a list of items."));
        };
        let mut n = 0;
        for item in items {
            let Some(id) = item.get("id").and_then(Value::as_u64) else { continue };
            let mut patch = item.clone();
            if let Some(map) = patch.as_object_mut() {
                map.remove("id");
            }
            self.write_evaluator(WriteMode::Patch, Some(id), None, &patch)?;
            n += 1;
        }
        Ok(n)
    }

    /// One poll of a suggestion: `in_progress` first, then its final status.
    pub fn poll_suggestion(&mut self, progress_id: &str) -> Result<Value, ApiError> {
        let s = self.suggestions.get_mut(progress_id).ok_or_else(ApiError::not_found)?;
        s.polls += 1;
        let done = s.polls > 1;
        Ok(json!({
            "progress_id": s.progress_id,
            "session_id": s.session_id,
            "mode": s.mode,
            "status": if done { s.final_status.as_str() } else { "in_progress" },
            "result": if done { s.result.clone() } else { Value::Null },
            "error": if done { json!(s.error) } else { Value::Null },
        }))
    }

    // ---- Tela test cases ----

    pub fn create_test_case(&mut self, chosen_id: Option<String>, body: &Value) -> Result<String, ApiError> {
        let Some(map) = body.as_object() else {
            return Err(tela_error(StatusCode::BAD_REQUEST, "A test case must be a JSON object."));
        };
        let prompt = map.get("promptId").and_then(Value::as_str).unwrap_or_default().to_string();
        if prompt.is_empty() {
            return Err(tela_error(StatusCode::BAD_REQUEST, "promptId is required."));
        }
        if self.seed.prompt(&prompt).is_none() {
            return Err(tela_error(StatusCode::NOT_FOUND, format!("Prompt {prompt} not found.")));
        }
        let now = self.tick();
        let id = match chosen_id {
            Some(id) => id,
            None => format!("7e57ca5e-0000-4000-8000-{:012x}", self.take_id(None)),
        };
        let mut tc = StoredTestCase {
            id: id.clone(),
            prompt_id: prompt,
            title: String::new(),
            messages: json!([]),
            variables: json!({}),
            variables_rich_content: json!({}),
            files: json!([]),
            expected_output: Value::Null,
            answers: Value::Null,
            prompt_application_id: Value::Null,
            metadata: json!({ "source": "api" }),
            created_at: now.clone(),
            updated_at: now,
        };
        apply_test_case_fields(&mut tc, map, &self.seed)?;
        self.test_cases.insert(id.clone(), tc);
        Ok(id)
    }

    pub fn patch_test_case(&mut self, id: &str, body: &Value) -> Result<Value, ApiError> {
        let Some(map) = body.as_object() else {
            return Err(tela_error(StatusCode::BAD_REQUEST, "The body must be a JSON object."));
        };
        let mut tc = self
            .test_cases
            .get(id)
            .cloned()
            .ok_or_else(|| tela_error(StatusCode::NOT_FOUND, "Test case not found."))?;
        apply_test_case_fields(&mut tc, map, &self.seed)?;
        tc.updated_at = self.tick();
        let json = test_case_json(&tc);
        self.test_cases.insert(id.to_string(), tc);
        Ok(json)
    }
}

/// Tela's error body (Tela is not DRF): `{"message": ...}`.
pub fn tela_error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError::new(status, json!({ "message": message.into(), "statusCode": status.as_u16() }))
}

const ROLES: [&str; 5] = ["user", "system", "assistant", "function", "developer"];

fn apply_test_case_fields(tc: &mut StoredTestCase, map: &Map<String, Value>, seed: &Seed) -> Result<(), ApiError> {
    let bad = |m: String| Err(tela_error(StatusCode::BAD_REQUEST, m));
    if let Some(title) = map.get("title") {
        match title.as_str() {
            Some(t) => tc.title = t.to_string(),
            None => return bad("title must be a string.".into()),
        }
    }
    if let Some(messages) = map.get("messages") {
        let Some(items) = messages.as_array() else { return bad("messages must be an array.".into()) };
        for (i, m) in items.iter().enumerate() {
            let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
            if !ROLES.contains(&role) {
                return bad(format!("messages[{i}].role must be one of {}.", ROLES.join(", ")));
            }
            if !m.get("content").is_some_and(|c| c.is_string() || c.is_array()) {
                return bad(format!("messages[{i}].content is required."));
            }
        }
        tc.messages = messages.clone();
    }
    if let Some(v) = map.get("variables") {
        let ok = v.as_object().is_some_and(|o| o.values().all(Value::is_string));
        if !ok {
            return bad("variables must be an object of strings.".into());
        }
        tc.variables = v.clone();
    }
    if let Some(p) = map.get("promptId").and_then(Value::as_str) {
        if seed.prompt(p).is_none() {
            return Err(tela_error(StatusCode::NOT_FOUND, format!("Prompt {p} not found.")));
        }
        tc.prompt_id = p.to_string();
    }
    for (key, slot) in [
        ("variablesRichContent", &mut tc.variables_rich_content),
        ("files", &mut tc.files),
        ("expectedOutput", &mut tc.expected_output),
        ("answers", &mut tc.answers),
        ("promptApplicationId", &mut tc.prompt_application_id),
        ("metadata", &mut tc.metadata),
    ] {
        if let Some(v) = map.get(key) {
            *slot = v.clone();
        }
    }
    Ok(())
}

pub fn test_case_json(tc: &StoredTestCase) -> Value {
    json!({
        "id": tc.id,
        "title": tc.title,
        "promptId": tc.prompt_id,
        "messages": tc.messages,
        "variables": tc.variables,
        "variablesRichContent": tc.variables_rich_content,
        "files": tc.files,
        "expectedOutput": tc.expected_output,
        "answers": tc.answers,
        "promptApplicationId": tc.prompt_application_id,
        "metadata": tc.metadata,
        "createdAt": tc.created_at,
        "updatedAt": tc.updated_at,
        "deletedAt": null,
    })
}

pub fn folder_json(f: &StoredFolder) -> Value {
    json!({ "name": f.name, "path": f.path, "created_at": f.created_at, "updated_at": f.created_at })
}

/// The deterministic suggestion for an expected outcome.
pub fn suggested_outcome(current: &str) -> String {
    let base = current.trim();
    if base.is_empty() {
        "The agent resolves the caller's request and confirms it before ending the call.".into()
    } else {
        format!("{base} The agent confirms this explicitly before ending the call.")
    }
}

fn validate_flow(flow: &Value) -> Result<(), String> {
    let Some(map) = flow.as_object() else { return Err("Expected an object with role and conditions.".into()) };
    if !map.get("role").is_some_and(Value::is_string) {
        return Err("role: This field is required.".into());
    }
    let Some(conditions) = map.get("conditions").and_then(Value::as_array) else {
        return Err("conditions: This field is required.".into());
    };
    let ids: Vec<u64> = conditions.iter().filter_map(|c| c.get("id").and_then(Value::as_u64)).collect();
    for (i, c) in conditions.iter().enumerate() {
        if c.get("id").and_then(Value::as_u64).is_none() {
            return Err(format!("conditions[{i}].id: A valid integer is required."));
        }
        if !c.get("action").is_some_and(Value::is_string) {
            return Err(format!("conditions[{i}].action: This field is required."));
        }
        // A trigger is FIRST_MESSAGE, a description, or (for an action_followup) the id of another condition.
        match c.get("condition") {
            Some(Value::String(_)) => {}
            Some(Value::Number(n)) => match n.as_u64() {
                Some(target) if ids.contains(&target) => {}
                _ => return Err(format!("conditions[{i}].condition: refers to no condition of this flow.")),
            },
            _ => return Err(format!("conditions[{i}].condition: This field is required.")),
        }
        if let Some(t) = c.get("type") {
            if t != "standard" && t != "action_followup" {
                return Err(format!("conditions[{i}].type: \"{}\" is not a valid choice.", t.as_str().unwrap_or("?")));
            }
        }
        if c.get("fixed_message").is_some_and(|v| !v.is_boolean()) {
            return Err(format!("conditions[{i}].fixed_message: Must be a valid boolean."));
        }
    }
    Ok(())
}

fn dedup<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// RFC 3339 time of the sandbox clock: `seconds` after 2026-01-01T00:00:00Z.
pub fn timestamp(seconds: u64) -> String {
    const EPOCH_DAYS: i64 = 20454; // 2026-01-01 in days since 1970-01-01
    let days = EPOCH_DAYS + (seconds / 86_400) as i64;
    let rem = seconds % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_start_at_2026() {
        assert_eq!(timestamp(0), "2026-01-01T00:00:00Z");
        assert_eq!(timestamp(86_400 * 59 + 3661), "2026-03-01T01:01:01Z");
    }

    #[test]
    fn run_success_depends_on_the_marker_only() {
        let mut s = SandboxState::new(Seed::default());
        s.insert_evaluator(5, json!({"name": "Ok", "agent": 12, "personality": 7})).unwrap();
        s.insert_evaluator(6, json!({"name": "ok", "agent": 12, "personality": 7, "tags": ["will-FAIL"]})).unwrap();
        assert!(SandboxState::run_succeeds(&s.evaluators[&5]));
        assert!(!SandboxState::run_succeeds(&s.evaluators[&6]));
    }

    #[test]
    fn markers_reach_every_final_status_and_failures_are_explained() {
        let poll3 = |tags: &[&str], metrics: &[u64]| {
            let mut s = SandboxState::new(Seed::default());
            s.insert_evaluator(
                5,
                json!({"name": "A", "agent": 12, "personality": 7, "tags": tags, "metrics": metrics}),
            )
            .unwrap();
            let id = s.start_runs(&json!({"agent_id": 12, "scenarios": [5]})).unwrap()["id"].as_u64().unwrap();
            (0..2).for_each(|_| drop(s.poll_result(id).unwrap()));
            s.poll_result(id).unwrap()
        };
        let status = |tags: &[&str]| poll3(tags, &[])["status"].as_str().unwrap().to_string();
        assert_eq!(status(&[]), "completed");
        assert_eq!(status(&["stuck"]), "running");
        assert_eq!(status(&["crash"]), "failed");
        assert_eq!(status(&["timeout"]), "timeout");
        assert_eq!(status(&["cancel-me"]), "cancelled");
        assert_eq!(status(&["stuck", "cancel"]), "running", "stuck wins");
        let failed = poll3(&["fail"], &[503, 501]);
        let run = failed["runs"].as_object().unwrap().values().next().unwrap().clone();
        assert_eq!(run["evaluation"]["metrics"][0]["name"], "Call success");
        assert_eq!(run["expected_outcome"]["score"], 0);
        assert!(run["expected_outcome"]["explanation"].as_str().unwrap().contains("marked to fail"));
        let timed_out = poll3(&["timeout"], &[501]);
        assert_eq!(timed_out["success_runs_count"], 0);
        assert_eq!(timed_out["runs"].as_object().unwrap().values().next().unwrap()["status"], "timeout");
    }

    #[test]
    fn dashboard_edits_are_partial_and_reach_every_field() {
        let mut s = SandboxState::new(Seed::default());
        s.insert_evaluator(5, json!({"name": "A", "agent": 12, "personality": 7, "first_message": "ignored"})).unwrap();
        assert_eq!(s.evaluators[&5].first_message, "");
        s.edit_evaluator(5, json!({"first_message": "Hi", "max_duration": 60, "scenario_language": "es"})).unwrap();
        let e = &s.evaluators[&5];
        assert_eq!((e.first_message.as_str(), e.max_duration, e.scenario_language.as_str()), ("Hi", Some(60), "es"));
        assert_eq!(e.name, "A");
        assert!(s.edit_evaluator(5, json!({"folder_path": "Nope"})).is_err(), "folders must exist here too");
    }

    #[test]
    fn seeded_conditional_actions_read_back_as_json_text() {
        let mut s = SandboxState::new(Seed::default());
        let flow =
            json!({"role": "A patient", "conditions": [{"id": 0, "condition": "FIRST_MESSAGE", "action": "Hi"}]});
        s.insert_evaluator(
            9,
            json!({"name": "Book", "agent": 202, "personality": 7, "scenario_type": "conditional_actions", "conditional_actions": flow}),
        )
        .unwrap();
        let got = s.evaluator(9).unwrap();
        let text = got["instructions"].as_str().unwrap();
        assert_eq!(serde_json::from_str::<Value>(text).unwrap(), flow);
        assert!(got.get("conditional_actions").is_none());
    }
}
