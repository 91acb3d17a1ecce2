//! Evaluators (Cekura's scenarios): single writes, reads, `adv_update` and `delete_scenarios`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::super::drf::{invalid_pk, object_body, python_json, ApiError, FieldErrors, REQUIRED};
use super::super::readings::Reading;
use super::test_profiles::TestProfileView;
use super::{dedup, SandboxState, WriteMode, NAME_MAX};

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

/// A phone number as reads show it (`inbound_phone_number_data`, `outbound_phone_number_data`).
#[derive(Debug, Serialize)]
pub struct PhoneView<'a> {
    id: u64,
    number: &'a str,
    phone_number_id: String,
}

/// An evaluator as the list shows it (`ScenarioList`), in the platform's key order.
#[derive(Debug, Serialize)]
pub struct ListItemView<'a> {
    id: u64,
    name: &'a str,
    agent: Option<u64>,
    agent_name: &'a str,
    personality: Option<u64>,
    personality_name: &'a str,
    phone_number: Option<&'a str>,
    expected_outcome_prompt: &'a str,
    instructions: &'a str,
    scenario_language: &'a str,
    scenario_type: &'a str,
    tags: &'a [String],
    inbound_phone_number: Option<u64>,
    inbound_phone_number_data: Option<PhoneView<'a>>,
    metrics: &'a [u64],
    metric_names: Vec<&'a str>,
    first_message: &'a str,
    tool_ids: &'a [String],
    test_profile: Option<u64>,
    test_profile_data: Option<TestProfileView<'a>>,
    dynamic_variable_values: Option<()>,
    folder_path: Option<&'a str>,
    created_at: &'a str,
    updated_at: &'a str,
    created_by: u64,
    last_updated_by: u64,
}

/// The fields of an evaluator write, read and checked: `None` leaves the stored value as it is.
#[derive(Debug, Default)]
struct EvaluatorFields {
    name: Option<String>,
    personality: Option<Option<u64>>,
    /// (agent, project): set by a create only.
    owner: Option<(Option<u64>, u64)>,
    scenario_type: String,
    instructions: Option<String>,
    expected: Option<String>,
    metrics: Option<Vec<u64>>,
    tags: Option<Vec<String>>,
    tool_ids: Option<Vec<String>>,
    test_profile: Option<Option<u64>>,
    phone_number: Option<Option<u64>>,
    inbound: Option<Option<u64>>,
    folder: Option<Option<String>>,
    first_message: Option<String>,
    max_duration: Option<Option<u64>>,
    language: Option<String>,
}

impl EvaluatorFields {
    fn apply_to(self, e: &mut StoredEvaluator) {
        fn set<T>(slot: &mut T, value: Option<T>) {
            if let Some(v) = value {
                *slot = v;
            }
        }
        set(&mut e.name, self.name);
        set(&mut e.personality, self.personality);
        e.scenario_type = self.scenario_type;
        set(&mut e.instructions, self.instructions);
        set(&mut e.expected_outcome_prompt, self.expected);
        set(&mut e.metrics, self.metrics.map(dedup));
        set(&mut e.tags, self.tags.map(dedup));
        set(&mut e.tool_ids, self.tool_ids.map(dedup));
        set(&mut e.test_profile, self.test_profile);
        set(&mut e.phone_number, self.phone_number);
        set(&mut e.inbound_phone_number, self.inbound);
        set(&mut e.folder_path, self.folder);
        set(&mut e.first_message, self.first_message);
        set(&mut e.max_duration, self.max_duration);
        set(&mut e.scenario_language, self.language);
    }
}

/// What one `adv_update` sets on every listed evaluator.
#[derive(Debug)]
struct BulkUpdate {
    agent: Option<u64>,
    metrics_add: Vec<u64>,
    metrics_remove: Vec<u64>,
    personality: Option<u64>,
    test_profile: Option<u64>,
    append: Option<String>,
    first_message: Option<String>,
    phone: Option<u64>,
    inbound: Option<u64>,
    folder: Option<String>,
    max_duration: Option<u64>,
}

impl BulkUpdate {
    /// Metric add/remove change the current set; `append_instruction` appends on every call.
    fn apply_to(&self, e: &mut StoredEvaluator) {
        if let Some(a) = self.agent {
            e.agent = Some(a);
        }
        for m in &self.metrics_add {
            if !e.metrics.contains(m) {
                e.metrics.push(*m);
            }
        }
        e.metrics.retain(|m| !self.metrics_remove.contains(m));
        if let Some(text) = &self.append {
            e.instructions.push_str(text);
        }
        let set = |slot: &mut Option<u64>, v: Option<u64>| {
            if v.is_some() {
                *slot = v;
            }
        };
        set(&mut e.personality, self.personality);
        set(&mut e.test_profile, self.test_profile);
        set(&mut e.phone_number, self.phone);
        set(&mut e.inbound_phone_number, self.inbound);
        set(&mut e.max_duration, self.max_duration);
        if let Some(f) = &self.first_message {
            e.first_message = f.clone();
        }
        if let Some(f) = &self.folder {
            e.folder_path = Some(f.clone());
        }
    }
}

/// The spec types the tool fields as integers while tools are strings: strings are refused as DRF refuses a
/// non-integer list item, and integers are accepted and match no tool.
fn check_bulk_tool_fields(body: &Map<String, Value>, errors: &mut FieldErrors) {
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
}

impl SandboxState {
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
        let mut errors = FieldErrors::default();
        let fields = self.read_evaluator_fields(mode, old.as_ref(), body, &mut errors);
        errors.finish()?;

        let now = self.tick();
        let mut e = match old {
            Some(e) => e,
            None => self.new_evaluator(fields.owner.unwrap_or((None, 0)), chosen_id, &now),
        };
        fields.apply_to(&mut e);
        e.updated_at = now;
        let id = e.id;
        self.evaluators.insert(id, e);
        Ok(id)
    }

    fn read_evaluator_fields(
        &self,
        mode: WriteMode,
        old: Option<&StoredEvaluator>,
        body: &Map<String, Value>,
        errors: &mut FieldErrors,
    ) -> EvaluatorFields {
        if body.get("dynamic_variable_values").is_some_and(|v| !v.is_null()) {
            errors.add(
                "dynamic_variable_values",
                "This field has been removed from the API. Put dynamic-variable values in a test profile's \
                 information.main_agent_variables instead.",
            );
        }
        // Ownership: only a create sets it. PATCH and PUT ignore `agent`/`project` (moving is `adv_update`'s job).
        let owner = if mode == WriteMode::Create { self.read_owner(body, errors) } else { None };
        let project = owner.map(|o| o.1).or(old.map(|o| o.project)).unwrap_or(0);
        let (scenario_type, instructions) = read_content(body, old, errors);
        let mut fields = EvaluatorFields {
            name: read_evaluator_name(mode, body, errors),
            personality: self.read_personality(mode, body, errors),
            owner,
            scenario_type,
            instructions,
            expected: errors.string(body, "expected_outcome_prompt", true).map(Option::unwrap_or_default),
            ..EvaluatorFields::default()
        };
        self.read_links(&mut fields, project, body, errors);
        if matches!(mode, WriteMode::Put | WriteMode::Dashboard) {
            read_put_only(&mut fields, body, errors);
        } else if mode == WriteMode::Create && self.reads(Reading::FirstMessageOnCreate) {
            fields.first_message = errors.string(body, "first_message", true).map(Option::unwrap_or_default);
        }
        fields
    }

    fn read_personality(
        &self,
        mode: WriteMode,
        body: &Map<String, Value>,
        errors: &mut FieldErrors,
    ) -> Option<Option<u64>> {
        let full = mode.full();
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
        personality
    }

    /// The agent and project of a create: an agent implies its project, a project alone is allowed.
    fn read_owner(&self, body: &Map<String, Value>, errors: &mut FieldErrors) -> Option<(Option<u64>, u64)> {
        let agent = errors.pk(body, "agent", true).flatten();
        let project = errors.pk(body, "project", true).flatten();
        match (agent, project) {
            (None, None) => errors.add("non_field_errors", "Either agent or project must be provided."),
            (Some(a), p) => match self.seed.agent(a) {
                None => errors.add("agent", invalid_pk(&json!(a))),
                Some(agent) if p.is_some_and(|p| p != agent.project) => {
                    errors.add("non_field_errors", format!("Agent {a} does not belong to project {}.", p.unwrap_or(0)))
                }
                Some(agent) => return Some((Some(a), agent.project)),
            },
            (None, Some(p)) if self.seed.project_exists(p) => return Some((None, p)),
            (None, Some(p)) => errors.add("project", invalid_pk(&json!(p))),
        }
        None
    }

    /// Metrics, tags, tools, test profile, phone numbers and folder: each must exist (in `project` where scoped).
    fn read_links(&self, f: &mut EvaluatorFields, project: u64, body: &Map<String, Value>, errors: &mut FieldErrors) {
        f.metrics = errors.pk_list(body, "metrics");
        for m in f.metrics.iter().flatten() {
            if !self.metric_usable(*m, project) {
                errors.add("metrics", invalid_pk(&json!(m)));
            }
        }
        f.tags = errors.string_list(body, "tags");
        f.tool_ids = errors.string_list(body, "tool_ids");
        for t in f.tool_ids.iter().flatten() {
            if !self.tool_known(t) {
                errors.add("tool_ids", format!("\"{t}\" is not a valid choice."));
            }
        }
        f.test_profile = errors.pk(body, "test_profile", true);
        if let Some(Some(tp)) = f.test_profile {
            if self.test_profiles.get(&tp).is_none_or(|p| p.project != project) {
                errors.add("test_profile", invalid_pk(&json!(tp)));
            }
        }
        f.phone_number = errors.pk(body, "phone_number", true);
        f.inbound = errors.pk(body, "inbound_phone_number", true);
        for (field, value) in [("phone_number", f.phone_number), ("inbound_phone_number", f.inbound)] {
            if let Some(Some(row)) = value {
                if self.seed.phone_number(row).is_none() {
                    errors.add(field, invalid_pk(&json!(row)));
                }
            }
        }
        f.folder = errors.string(body, "folder_path", true).map(|f| f.filter(|f| !f.is_empty()));
        if let Some(Some(path)) = &f.folder {
            if !self.folder_exists(project, path) {
                errors.add("folder_path", format!("Folder \"{path}\" does not exist in project {project}."));
            }
        }
    }

    fn new_evaluator(&mut self, owner: (Option<u64>, u64), chosen_id: Option<u64>, now: &str) -> StoredEvaluator {
        let (agent, project) = owner;
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
            created_at: now.to_string(),
            updated_at: now.to_string(),
        }
    }
    fn phone_json(&self, row: Option<u64>) -> Value {
        serde_json::to_value(self.phone_view(row)).unwrap_or_default()
    }

    fn phone_view(&self, row: Option<u64>) -> Option<PhoneView<'_>> {
        row.and_then(|r| self.seed.phone_number(r)).map(|p| PhoneView {
            id: p.id,
            number: &p.number,
            phone_number_id: format!("PN{:08}", p.id),
        })
    }

    /// The fields the list item and the single GET share, borrowed from the stored evaluator: a page of the list
    /// is written out from these straight away (see [`crate::drf::paginate_json`]), without a JSON value of every
    /// field built first.
    pub fn list_item_view<'a>(&'a self, e: &'a StoredEvaluator) -> ListItemView<'a> {
        let agent = e.agent.and_then(|a| self.seed.agent(a));
        ListItemView {
            id: e.id,
            name: &e.name,
            agent: e.agent,
            agent_name: agent.map(|a| a.name.as_str()).unwrap_or(""),
            personality: e.personality,
            personality_name: e
                .personality
                .and_then(|p| self.seed.personality(p))
                .map(|p| p.name.as_str())
                .unwrap_or(""),
            phone_number: e.phone_number.and_then(|r| self.seed.phone_number(r)).map(|p| p.number.as_str()),
            expected_outcome_prompt: &e.expected_outcome_prompt,
            instructions: &e.instructions,
            scenario_language: &e.scenario_language,
            scenario_type: &e.scenario_type,
            tags: &e.tags,
            inbound_phone_number: e.inbound_phone_number,
            inbound_phone_number_data: self.phone_view(e.inbound_phone_number),
            metrics: &e.metrics,
            metric_names: e.metrics.iter().filter_map(|m| self.metric_name(*m)).collect(),
            first_message: &e.first_message,
            tool_ids: &e.tool_ids,
            test_profile: e.test_profile,
            test_profile_data: e
                .test_profile
                .and_then(|t| self.test_profiles.get(&t))
                .map(|p| self.test_profile_view(p)),
            dynamic_variable_values: None,
            folder_path: e.folder_path.as_deref(),
            created_at: &e.created_at,
            updated_at: &e.updated_at,
            created_by: 1,
            last_updated_by: 1,
        }
    }

    fn common_fields(&self, e: &StoredEvaluator) -> Map<String, Value> {
        match serde_json::to_value(self.list_item_view(e)) {
            Ok(Value::Object(map)) => map,
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
        let ids = self.read_adv_update_ids(body, &mut errors);
        if ids.as_ref().is_some_and(Vec::is_empty) {
            errors.add("scenarios", "This list may not be empty.");
        }
        let (agent, scope) = self.read_bulk_scope(ids.as_deref().unwrap_or_default(), body, &mut errors);
        let mut update = self.read_bulk_fields(ids.as_deref().unwrap_or_default(), scope, body, &mut errors);
        update.agent = agent;
        errors.finish()?;

        // Everything is valid: from here on nothing can fail, so the change is all-or-nothing.
        let now = self.tick();
        let ids = ids.unwrap_or_default();
        for id in &ids {
            if let Some(e) = self.evaluators.get_mut(id) {
                update.apply_to(e);
                e.updated_at = now.clone();
            }
        }
        let items: Vec<Value> =
            ids.iter().filter_map(|id| self.evaluators.get(id)).map(|e| self.evaluator_list_item(e)).collect();
        Ok(Value::Array(items))
    }

    /// The agent an `adv_update` moves evaluators to, and the project it works in (from `agent`, else `project`);
    /// every listed evaluator must exist and be in it.
    fn read_bulk_scope(
        &self,
        ids: &[u64],
        body: &Map<String, Value>,
        errors: &mut FieldErrors,
    ) -> (Option<u64>, Option<u64>) {
        for id in ids {
            if !self.evaluators.contains_key(id) {
                errors.add("scenarios", invalid_pk(&json!(id)));
            }
        }
        let agent = errors.pk(body, "agent", true).flatten();
        let project = errors.pk(body, "project", true).flatten();
        let scope = match (agent, project) {
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
        if let Some(p) = scope {
            for id in ids {
                if self.evaluators.get(id).is_some_and(|e| e.project != p) {
                    errors.add("scenarios", format!("Evaluator {id} does not belong to project {p}."));
                }
            }
        }
        (agent, scope)
    }

    /// Everything an `adv_update` may set, each checked against the catalog and the scope.
    fn read_bulk_fields(
        &self,
        ids: &[u64],
        scope: Option<u64>,
        body: &Map<String, Value>,
        errors: &mut FieldErrors,
    ) -> BulkUpdate {
        let u = BulkUpdate {
            agent: None,
            metrics_add: errors.pk_list(body, "metric_ids_to_add").unwrap_or_default(),
            metrics_remove: errors.pk_list(body, "metric_ids_to_remove").unwrap_or_default(),
            personality: errors.pk(body, "personality", false).flatten(),
            test_profile: errors.pk(body, "test_profile", false).flatten(),
            append: errors.string(body, "append_instruction", true).flatten().filter(|s| !s.is_empty()),
            first_message: errors.string(body, "first_message", true).flatten(),
            phone: errors.pk(body, "phone_number", false).flatten(),
            inbound: errors.pk(body, "inbound_phone_number", false).flatten(),
            folder: errors.string(body, "folder_path", true).flatten().filter(|f| !f.is_empty()),
            max_duration: errors.integer(body, "max_duration", false).flatten(),
        };
        for m in u.metrics_add.iter().chain(&u.metrics_remove) {
            if !self.metric_usable(*m, scope.unwrap_or_default()) {
                errors.add("metric_ids", invalid_pk(&json!(m)));
            }
        }
        check_bulk_tool_fields(body, errors);
        if u.personality.is_some_and(|p| self.seed.personality(p).is_none()) {
            errors.add("personality", invalid_pk(&json!(u.personality)));
        }
        if let Some(tp) = u.test_profile {
            if self.test_profiles.get(&tp).is_none_or(|t| Some(t.project) != scope) {
                errors.add("test_profile", invalid_pk(&json!(tp)));
            }
        }
        if u.append.is_some() {
            for id in ids {
                if self.evaluators.get(id).is_some_and(|e| e.scenario_type == "conditional_actions") {
                    errors.add(
                        "append_instruction",
                        format!("Evaluator {id} is a conditional_actions evaluator; its instructions are a flow."),
                    );
                }
            }
        }
        for (field, row) in [("phone_number", u.phone), ("inbound_phone_number", u.inbound)] {
            if row.is_some_and(|r| self.seed.phone_number(r).is_none()) {
                errors.add(field, invalid_pk(&json!(row)));
            }
        }
        if let (Some(path), Some(p)) = (&u.folder, scope) {
            if !self.folder_exists(p, path) {
                errors.add("folder_path", format!("Folder \"{path}\" does not exist in project {p}."));
            }
        }
        u
    }

    /// `adv_update.scenarios`: integer ids, or under that reading objects with an integer `id`.
    fn read_adv_update_ids(&self, body: &Map<String, Value>, errors: &mut FieldErrors) -> Option<Vec<u64>> {
        errors.required(body, "scenarios")?;
        if !self.reads(Reading::AdvUpdateObjects) {
            return errors.pk_list(body, "scenarios");
        }
        let Some(items) = body.get("scenarios").and_then(Value::as_array) else {
            errors.add("scenarios", "Expected a list of items.");
            return None;
        };
        let mut ids = Vec::with_capacity(items.len());
        for item in items {
            match item.get("id").and_then(Value::as_u64) {
                Some(id) if item.is_object() => ids.push(id),
                _ if item.is_object() => errors.add("scenarios", "Each item needs an integer \"id\"."),
                _ => errors
                    .add("scenarios", format!("Invalid data. Expected a dictionary, but got {}.", type_name(item))),
            }
        }
        // A bad item is reported once, not again as an empty list.
        (ids.len() == items.len()).then_some(ids)
    }

    /// `delete_scenarios`: all ids must exist and be in scope, or nothing is deleted.
    pub fn bulk_delete(&mut self, body: &Value) -> Result<(), ApiError> {
        let body = object_body(Some(body))?;
        let mut errors = FieldErrors::default();
        // The OpenAPI's `{scenarios, agent_id | project_id}`, or the vendor CLI's `{scenario_ids}` with an optional
        // scope under that reading.
        let by_cli = self.reads(Reading::DeleteScenarioIds);
        let key = if by_cli { "scenario_ids" } else { "scenarios" };
        let ids = errors.required(body, key).and_then(|_| errors.pk_list(body, key));
        let agent = errors.pk(body, "agent_id", true).flatten();
        let project = errors.pk(body, "project_id", true).flatten();
        let scope = match (agent, project) {
            (None, None) if by_cli => None,
            (None, None) => {
                errors.add("non_field_errors", "Either agent_id or project_id is required.");
                None
            }
            (Some(a), _) => self.seed.agent(a).map(|a| a.project),
            (None, p) => p,
        };
        let unscoped = by_cli && agent.is_none() && project.is_none();
        for id in ids.iter().flatten() {
            match self.evaluators.get(id) {
                None => errors.add(key, invalid_pk(&json!(id))),
                Some(e) if !unscoped && Some(e.project) != scope => {
                    errors.add(key, format!("Evaluator {id} is not in the given scope."))
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

/// An evaluator's name: the shared rule, and at most `NAME_MAX` characters.
fn read_evaluator_name(mode: WriteMode, body: &Map<String, Value>, errors: &mut FieldErrors) -> Option<String> {
    let name = super::read_name(mode, body, errors);
    if name.as_deref().is_some_and(|n| !n.trim().is_empty() && n.chars().count() > NAME_MAX) {
        errors.add("name", format!("Ensure this field has no more than {NAME_MAX} characters."));
    }
    name
}

/// The scenario type that results, and the instructions: plain text, or for `conditional_actions` the flow as
/// JSON text, given either as `conditional_actions` or as JSON text in `instructions`.
fn read_content(
    body: &Map<String, Value>,
    old: Option<&StoredEvaluator>,
    errors: &mut FieldErrors,
) -> (String, Option<String>) {
    let scenario_type = errors.string(body, "scenario_type", false).flatten();
    if let Some(t) = &scenario_type {
        if t != "instruction" && t != "conditional_actions" {
            errors.add("scenario_type", format!("\"{t}\" is not a valid choice."));
        }
    }
    let effective_type =
        scenario_type.clone().or(old.map(|o| o.scenario_type.clone())).unwrap_or_else(|| "instruction".into());

    let mut instructions = errors.string(body, "instructions", true).map(Option::unwrap_or_default);
    if let Some(flow) = body.get("conditional_actions").filter(|v| !v.is_null()) {
        if scenario_type.as_deref() != Some("conditional_actions") {
            errors.add("conditional_actions", "Requires scenario_type=\"conditional_actions\" in the same request.");
        } else if let Err(msg) = validate_flow(flow) {
            errors.add("conditional_actions", msg);
        } else {
            instructions = Some(python_json(flow));
        }
    } else if effective_type == "conditional_actions" {
        match &instructions {
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(flow) if validate_flow(&flow).is_ok() => instructions = Some(python_json(&flow)),
                _ => errors.add("instructions", "Instructions of a conditional_actions evaluator must be a flow."),
            },
            None if old.is_none_or(|o| o.scenario_type != "conditional_actions") => {
                errors.add("conditional_actions", REQUIRED)
            }
            None => {}
        }
    }
    (effective_type, instructions)
}

/// `first_message`, `max_duration` and `scenario_language`: read on PUT and in the dashboard only.
fn read_put_only(f: &mut EvaluatorFields, body: &Map<String, Value>, errors: &mut FieldErrors) {
    f.first_message = errors.string(body, "first_message", true).map(Option::unwrap_or_default);
    f.max_duration = errors.integer(body, "max_duration", true);
    f.language = errors.string(body, "scenario_language", false).flatten();
    if let Some(l) = &f.language {
        let valid = (2..=7).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic() || c == '-');
        if !valid {
            errors.add("scenario_language", format!("\"{l}\" is not a valid choice."));
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}
