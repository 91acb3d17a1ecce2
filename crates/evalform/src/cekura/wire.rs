//! Cekura's request and response shapes, as the OpenAPI spec names them (`ScenarioList`, `SchemaScenario`,
//! `AIAgentTestProfile`, `ScenarioFolder`, ...), kept apart from the manifest types in `model`.
//!
//! Lenient where the API is: unknown fields are ignored, fields the spec marks optional or nullable are
//! `Option`, and `null` lists read as empty. Strict where a diff depends on it: an id that is not an integer or a
//! tag that is not a string is a decode error, not a silent default. Nothing here converts to `model` types;
//! that is `fetch.rs`'s job.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// DRF pagination: `{count, next, previous, results}`. `next`/`previous` are absolute URLs, which the client
/// does not follow directly (it asks its own base URL for the next page number, so a key is never sent to a
/// host named by a response).
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    pub count: u64,
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub previous: Option<String>,
    pub results: Vec<T>,
}

/// An item of `GET /test_framework/v1/scenarios/` (`ScenarioList`). It has no `max_duration` and no `project`.
#[derive(Debug, Clone, Deserialize)]
pub struct ScenarioListItem {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub agent: Option<u64>,
    #[serde(default)]
    pub personality: Option<u64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub instructions: String,
    #[serde(default)]
    pub scenario_type: Option<String>,
    #[serde(default)]
    pub scenario_language: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tool_ids: Vec<String>,
    /// The spec types this read-only field loosely ("string"); the API sends a list of ids. Objects with an `id`
    /// are accepted too.
    #[serde(default, deserialize_with = "metric_ids")]
    pub metrics: Vec<u64>,
    #[serde(default)]
    pub first_message: Option<String>,
    #[serde(default)]
    pub expected_outcome_prompt: Option<String>,
    #[serde(default)]
    pub test_profile: Option<u64>,
    /// The outbound number as a string (`"+1..."`); the row id is only in the single GET.
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub inbound_phone_number: Option<u64>,
    #[serde(default)]
    pub folder_path: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// One evaluator as `GET /test_framework/v1/scenarios/{id}/` and the writes return it (`SchemaScenario`): the list
/// item's fields, plus the three only the single read has.
#[derive(Debug, Clone, Deserialize)]
pub struct Scenario {
    #[serde(flatten)]
    pub item: ScenarioListItem,
    #[serde(default)]
    pub project: Option<u64>,
    /// The phone number's row: the id writes take (the list only has the number string).
    #[serde(default)]
    pub outbound_phone_number_data: Option<PhoneNumber>,
    #[serde(default)]
    pub max_duration: Option<u32>,
}

/// A test profile (`AIAgentTestProfile`). `information` is kept as JSON: sectioned or legacy flat.
#[derive(Debug, Clone, Deserialize)]
pub struct TestProfile {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub agent: Option<u64>,
    #[serde(default)]
    pub project: Option<u64>,
    #[serde(default)]
    pub information: Option<Value>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// A folder (`ScenarioFolder`). Folders have no id: `path` is the dot path and their identity.
#[derive(Debug, Clone, Deserialize)]
pub struct Folder {
    pub name: String,
    pub path: String,
}

/// `GET /test_framework/v2/aiagents/{id}/` (`AIAgentV2`), the fields evalform reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Agent {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub project: Option<u64>,
    #[serde(default)]
    pub language: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Personality {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub language: Option<String>,
}

/// `MetricListSerializerV2`, the fields evalform reads. A metric with a `project` is one the project defined; the
/// predefined catalog has none (and `is_predefined: true` where the server says so).
#[derive(Debug, Clone, Deserialize)]
pub struct Metric {
    pub id: u64,
    #[serde(default)]
    pub slug: Option<String>,
    pub name: String,
    #[serde(default)]
    pub project: Option<u64>,
    #[serde(default)]
    pub is_predefined: Option<bool>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub eval_type: Option<String>,
    /// A list of strings, or `null`.
    #[serde(default)]
    pub enum_values: Option<serde_json::Value>,
    #[serde(default)]
    pub evaluation_trigger: Option<String>,
    #[serde(default)]
    pub custom_code: Option<String>,
    #[serde(default)]
    pub simulation_enabled: Option<bool>,
    #[serde(default)]
    pub observability_enabled: Option<bool>,
    #[serde(default)]
    pub configuration: Option<serde_json::Value>,
}

/// A cron job (`/schedules/v1/cron-jobs-external/`), the fields evalform reads.
#[derive(Debug, Clone, Deserialize)]
pub struct CronJob {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub crontab_expression: Option<String>,
    #[serde(default)]
    pub scenarios: Vec<u64>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub execution_mode: Option<String>,
    #[serde(default)]
    pub is_active: Option<bool>,
}

/// `PhoneNumberInbound`: a phone-number row. Evaluators are written with `id` and read back with `number`.
#[derive(Debug, Clone, Deserialize)]
pub struct PhoneNumber {
    pub id: u64,
    #[serde(default)]
    pub number: Option<String>,
    #[serde(default)]
    pub phone_number_id: Option<String>,
}

/// The 201 answer of `run_scenarios`.
#[derive(Debug, Clone, Deserialize)]
pub struct RunStarted {
    pub id: u64,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub runs: Option<Value>,
}

/// `GET /test_framework/v2/results/{id}/` (`ResultDetailV2`). The counts are typed loosely in the spec
/// (read-only "string" method fields); numbers and numeric strings are both accepted.
#[derive(Debug, Clone, Deserialize)]
pub struct RunResult {
    pub id: u64,
    /// Lower case: the OpenAPI writes `completed`, the vendor's SDK upper-cases (`COMPLETED`).
    #[serde(deserialize_with = "lower_case")]
    pub status: String,
    #[serde(default)]
    pub success_rate: Option<f64>,
    #[serde(default, deserialize_with = "loose_count")]
    pub total_runs_count: Option<u64>,
    #[serde(default, deserialize_with = "loose_count")]
    pub success_runs_count: Option<u64>,
    #[serde(default, deserialize_with = "loose_count")]
    pub failed_runs_count: Option<u64>,
    #[serde(default, deserialize_with = "loose_count")]
    pub completed_runs_count: Option<u64>,
    /// An object keyed by run id.
    #[serde(default)]
    pub runs: Option<Value>,
}

impl RunResult {
    /// Final statuses, per the API notes: completed, failed, timeout, cancelled. A status that is none of those
    /// nor a known in-progress one is taken as final too (and not passed): the run is reported as ended with that
    /// status instead of being polled until the timeout.
    pub fn is_final(&self) -> bool {
        !matches!(
            self.status.as_str(),
            "pending" | "queued" | "scheduled" | "running" | "in_progress" | "started" | "processing" | "evaluating"
        )
    }

    /// All runs passed: `completed` alone does not mean that.
    pub fn all_passed(&self) -> bool {
        self.status == "completed"
            && matches!((self.success_runs_count, self.total_runs_count), (Some(s), Some(t)) if s == t)
    }
}

/// The answer of `POST .../scenario-agent/`.
#[derive(Debug, Clone, Deserialize)]
pub struct ScenarioAgentStarted {
    pub progress_id: String,
    #[serde(default)]
    pub session_id: Option<u64>,
}

/// `GET .../scenario-agent-progress/?progress_id=` (`ScenarioAgentProgress`).
#[derive(Debug, Clone, Deserialize)]
pub struct ScenarioAgentProgress {
    pub progress_id: String,
    #[serde(default)]
    pub session_id: Option<u64>,
    #[serde(default)]
    pub mode: Option<String>,
    pub status: String,
    #[serde(default)]
    pub result: Option<Value>,
    #[serde(default)]
    pub error: Option<String>,
}

/// `null` reads as the type's default (an empty list or string), as DRF sends for unset collections.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Metric ids: `[501, 502]`, or `[{"id": 501, ...}]`, or `null`.
fn metric_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Entry {
        Id(u64),
        Object { id: u64 },
    }
    let entries = Option::<Vec<Entry>>::deserialize(d)
        .map_err(|_| serde::de::Error::custom("metrics: expected a list of metric ids"))?
        .unwrap_or_default();
    Ok(entries
        .into_iter()
        .map(|e| match e {
            Entry::Id(id) | Entry::Object { id } => id,
        })
        .collect())
}

fn loose_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(other) => return Err(serde::de::Error::custom(format!("expected a count, got {other}"))),
    })
}

fn lower_case<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    String::deserialize(d).map(|s| s.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_item_is_lenient_where_the_api_is() {
        let item: ScenarioListItem = serde_json::from_str(
            r#"{"id": 3, "name": "A", "agent": 12, "personality": null, "instructions": null, "tags": null,
                "tool_ids": ["TOOL_END_CALL"], "metrics": [{"id": 501, "name": "Call success"}, {"id": 502}],
                "folder_path": null, "unknown_field": {"x": 1}}"#,
        )
        .unwrap();
        assert_eq!(item.metrics, vec![501, 502]);
        assert!(item.tags.is_empty());
        assert_eq!(item.instructions, "");
        let plain: ScenarioListItem = serde_json::from_str(r#"{"id": 4, "name": "B", "metrics": [7, 8]}"#).unwrap();
        assert_eq!(plain.metrics, vec![7, 8]);
    }

    #[test]
    fn wrong_types_are_errors() {
        assert!(serde_json::from_str::<ScenarioListItem>(r#"{"id": "x", "name": "A"}"#).is_err());
        assert!(serde_json::from_str::<ScenarioListItem>(r#"{"id": 1, "name": "A", "tags": [1]}"#).is_err());
        let err = serde_json::from_str::<ScenarioListItem>(r#"{"id": 1, "name": "A", "metrics": "501"}"#).unwrap_err();
        assert!(err.to_string().contains("metrics"), "{err}");
    }

    #[test]
    fn run_result_counts_and_verdict() {
        let r: RunResult = serde_json::from_str(
            r#"{"id": 9, "status": "completed", "total_runs_count": "3", "success_runs_count": 2, "runs": {}}"#,
        )
        .unwrap();
        assert!(r.is_final());
        assert!(!r.all_passed());
        assert_eq!(r.total_runs_count, Some(3));
    }

    #[test]
    fn statuses_are_read_in_any_case_and_unknown_ones_are_final() {
        let read = |status: &str| -> RunResult {
            serde_json::from_value(
                serde_json::json!({"id": 9, "status": status, "total_runs_count": 2, "success_runs_count": 2}),
            )
            .unwrap()
        };
        assert_eq!(read("COMPLETED").status, "completed");
        assert!(read("COMPLETED").all_passed(), "the vendor SDK's upper case");
        assert!(!read("RUNNING").is_final());
        assert!(!read("in_progress").is_final());
        let odd = read("ABORTED");
        assert!(odd.is_final() && !odd.all_passed(), "an unknown status ends the wait and does not pass");
    }
}
