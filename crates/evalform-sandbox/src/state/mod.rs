//! What the sandbox stores, and every rule of what a write may change. The HTTP handlers and the seeding helpers
//! that tests use ("the dashboard") both go through the methods here, so a seeded object is stored exactly as one
//! written over the API would be: a conditional-actions flow becomes a JSON string in `instructions`, a phone number
//! is kept as a row id and read back as its number, and so on.
//!
//! These are the server's own types. They must not borrow the client's wire types or `crate::model`: the sandbox
//! stands for the platform, and sharing types would hide exactly the mismatches it exists to expose.

mod evaluators;
mod folders;
mod metrics;
mod runs;
mod schedules;
mod spec_runs;
mod suggestions;
mod tela;
mod test_profiles;

pub use evaluators::StoredEvaluator;
pub use folders::{folder_json, StoredFolder};
pub use metrics::StoredMetric;
pub use runs::{StoredResult, StoredRun};
pub use schedules::{StoredCronJob, EXECUTION_MODES};
pub use spec_runs::SPEC_SCHEMA_V1;
pub use suggestions::{suggested_outcome, StoredSuggestion};
pub use tela::{tela_error, test_case_json, StoredTestCase};
pub use test_profiles::StoredTestProfile;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::drf::ApiError;
use super::readings::{Reading, Readings};
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
    /// Metrics defined over the API (the seeded catalog is in `seed`).
    #[serde(default)]
    pub metrics: BTreeMap<u64, StoredMetric>,
    #[serde(default)]
    pub cron_jobs: BTreeMap<u64, StoredCronJob>,
    /// The readings this sandbox follows where the sources disagree: configuration, not state (never saved).
    #[serde(skip)]
    pub readings: Readings,
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

/// The `name` of a write: required when the body must be full, a string, never blank (DRF's `CharField`).
fn read_name(
    mode: WriteMode,
    body: &serde_json::Map<String, Value>,
    errors: &mut super::drf::FieldErrors,
) -> Option<String> {
    let name = if mode.full() {
        errors.required(body, "name").and_then(|_| errors.string(body, "name", false))
    } else {
        errors.string(body, "name", false)
    }
    .flatten();
    if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        errors.add("name", "This field may not be blank.");
    }
    name
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
            metrics: BTreeMap::new(),
            cron_jobs: BTreeMap::new(),
            readings: Readings::new(),
            next_id: 1001,
            clock: 0,
        }
    }

    /// Advance the sandbox clock and return the new time as RFC 3339.
    pub fn tick(&mut self) -> String {
        self.clock += 1;
        timestamp(self.clock)
    }

    /// Whether this sandbox follows the alternative `reading`.
    pub fn reads(&self, reading: Reading) -> bool {
        self.readings.contains(&reading)
    }

    /// Whether `tool` is a tool id under this sandbox's reading of tool ids.
    pub fn tool_known(&self, tool: &str) -> bool {
        if self.reads(Reading::ToolsLowerCase) {
            // The same catalog, spelt as the vendor CLI spells it, with the CLI's extra ids.
            let spelt = |t: &String| t.strip_prefix("TOOL_").unwrap_or(t).to_ascii_lowercase();
            super::readings::LOWER_CASE_TOOLS.contains(&tool) || self.seed.tools.iter().any(|t| spelt(t) == tool)
        } else {
            self.seed.tools.iter().any(|t| t == tool)
        }
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
}

pub(crate) fn dedup<T: PartialEq>(items: Vec<T>) -> Vec<T> {
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
    fn every_resource_refuses_a_missing_or_blank_name_and_evaluators_a_long_one() {
        let mut s = SandboxState::new(Seed::default());
        let name_error = |r: Result<u64, ApiError>| r.unwrap_err().body["name"][0].as_str().unwrap().to_string();
        let body = |name: Value| json!({"name": name, "agent": 12, "personality": 7});
        let blank = "This field may not be blank.";
        assert_eq!(name_error(s.write_evaluator(WriteMode::Create, None, None, &body(json!("  ")))), blank);
        assert_eq!(name_error(s.write_test_profile(WriteMode::Create, None, None, &body(json!("")))), blank);
        assert_eq!(name_error(s.write_metric(WriteMode::Create, None, &body(json!(" ")))), blank);
        let required = "This field is required.";
        let nameless = json!({"agent": 12});
        assert_eq!(name_error(s.write_evaluator(WriteMode::Create, None, None, &nameless)), required);
        assert_eq!(name_error(s.write_test_profile(WriteMode::Create, None, None, &nameless)), required);
        assert_eq!(name_error(s.write_metric(WriteMode::Create, None, &nameless)), required);
        let long = body(json!("x".repeat(NAME_MAX + 1)));
        assert!(name_error(s.write_evaluator(WriteMode::Create, None, None, &long)).starts_with("Ensure this field"));
    }

    #[test]
    fn a_list_page_written_from_views_is_the_page_of_values_with_the_platform_s_keys_in_order() {
        let mut s = SandboxState::new(Seed::default());
        let profile = s
            .write_test_profile(
                WriteMode::Create,
                None,
                None,
                &json!({"name": "P", "agent": 12, "information": {"a": 1}}),
            )
            .unwrap();
        s.create_folder(&json!({"name": "A", "project_id": 1376})).unwrap();
        s.create_folder(&json!({"name": "B", "project_id": 1376, "parent_path": "A"})).unwrap();
        s.insert_evaluator(
            5,
            json!({"name": "Full", "agent": 12, "personality": 7, "tags": ["t"], "metrics": [501],
                   "tool_ids": ["TOOL_END_CALL"], "test_profile": profile, "folder_path": "A.B",
                   "inbound_phone_number": 44, "phone_number": 45, "instructions": "Say \"hi\"\n"}),
        )
        .unwrap();
        s.insert_evaluator(6, json!({"name": "Bare", "agent": 12, "personality": 7})).unwrap();
        let q = crate::drf::parse_query(Some("agent_id=12&page_size=1"));
        let items = || s.evaluators.values().collect::<Vec<_>>();
        let written = crate::drf::paginate_json(items(), "http://h/s/", &q, |e| s.list_item_view(e)).unwrap();
        let written: Value = serde_json::from_slice(&written).unwrap();
        let values = crate::drf::paginate_with(items(), "http://h/s/", &q, |e| s.evaluator_list_item(e)).unwrap();
        assert_eq!(written, values);
        assert_eq!(written["next"], "http://h/s/?agent_id=12&page_size=1&page=2");
        let item = &written["results"][0];
        let keys: Vec<&str> = item.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "id",
                "name",
                "agent",
                "agent_name",
                "personality",
                "personality_name",
                "phone_number",
                "expected_outcome_prompt",
                "instructions",
                "scenario_language",
                "scenario_type",
                "tags",
                "inbound_phone_number",
                "inbound_phone_number_data",
                "metrics",
                "metric_names",
                "first_message",
                "tool_ids",
                "test_profile",
                "test_profile_data",
                "dynamic_variable_values",
                "folder_path",
                "created_at",
                "updated_at",
                "created_by",
                "last_updated_by",
            ]
        );
        assert_eq!(
            item["inbound_phone_number_data"],
            json!({"id": 44, "number": "+14155550144", "phone_number_id": "PN00000044"})
        );
        assert_eq!(item["phone_number"], "+14155550145");
        assert_eq!(item["test_profile_data"]["information"], json!({"a": 1}));
        assert_eq!(item["instructions"], "Say \"hi\"\n");
        assert_eq!(item["dynamic_variable_values"], Value::Null);
        assert_eq!(item["metric_names"].as_array().unwrap().len(), 1);
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
