//! The scenario agent: suggestion sessions and their polls.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::super::drf::{invalid_pk, object_body, ApiError, FieldErrors};
use super::{SandboxState, WriteMode};

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

impl SandboxState {
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
        let (final_status, result, error) = self.suggestion_outcome(body, &lower, &ids)?;
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

    /// How a session will end, decided from markers in the message (`crash`, `cancel`, `clarify`, in that order),
    /// else applied (`apply_changes`) or suggested changes: (final status, result, error).
    fn suggestion_outcome(
        &mut self,
        body: &Map<String, Value>,
        lower: &str,
        ids: &[u64],
    ) -> Result<(&'static str, Value, Option<String>), ApiError> {
        if lower.contains("crash") {
            return Ok(("failed", Value::Null, Some("The improvement agent stopped unexpectedly.".to_string())));
        }
        if lower.contains("cancel") {
            return Ok(("cancelled", Value::Null, None));
        }
        if lower.contains("clarify") {
            let result = json!({ "message": "Which behaviour should the evaluators check more closely?", "updated_scenarios": [] });
            return Ok(("needs_clarification", result, None));
        }
        if body.get("apply_changes").and_then(Value::as_bool).unwrap_or(false) {
            let updates = body.get("updated_scenarios").cloned().unwrap_or(json!([]));
            let applied = self.apply_suggestions(&updates)?;
            let message = format!("Applied changes to {applied} evaluators.");
            return Ok(("completed", json!({ "message": message, "updated_scenarios": updates }), None));
        }
        // "all evaluators" in the message: suggestions for every evaluator of the agent, listed or not, as a
        // platform that reads the request broadly might send.
        let agent = body.get("agent_id").and_then(Value::as_u64);
        let ids: Vec<u64> = if lower.contains("all evaluators") && agent.is_some() {
            self.evaluators.values().filter(|e| e.agent == agent).map(|e| e.id).collect()
        } else {
            ids.to_vec()
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
        let message = format!("Suggested changes for {} evaluators.", suggestions.len());
        Ok(("completed", json!({ "message": message, "updated_scenarios": suggestions }), None))
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
