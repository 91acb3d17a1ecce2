//! Runs: `run_scenarios`, spec runs (`run_scenarios_json`, `json_schema`) and the results they poll.

use axum::http::StatusCode;
use serde_json::Value;

use super::super::drf::ApiError;
use super::super::readings::Reading;
use super::super::state::{SandboxState, SPEC_SCHEMA_V1};
use super::{ok, Call, Payload, Reply, Route};

pub(super) fn execute(state: &mut SandboxState, route: &Route, call: &Call<'_>) -> Result<Reply, ApiError> {
    let reply = match route {
        Route::Result(id) => ok(state.poll_result(*id)?),
        Route::JsonSchema => json_schema(call),
        Route::RunScenariosJson => {
            let dry_run = call.get("dry_run").is_some_and(|v| matches!(v, "true" | "True" | "1"));
            let reply = state.run_spec(call.body()?, dry_run)?;
            Ok((if dry_run { StatusCode::OK } else { StatusCode::CREATED }, Some(reply.into())))
        }
        _ => Ok((StatusCode::CREATED, Some(state.start_runs(call.body()?)?.into()))),
    }?;
    if state.reads(Reading::StatusUpper) {
        let upper = |p| match p {
            Payload::Value(v) => Payload::Value(upper_case_statuses(v)),
            written => written,
        };
        return Ok((reply.0, reply.1.map(upper)));
    }
    Ok(reply)
}

fn json_schema(call: &Call<'_>) -> Result<Reply, ApiError> {
    if let Some(v) = call.get("version").filter(|v| *v != "1") {
        return Err(ApiError::field("version", format!("\"{v}\" is not a valid choice.")));
    }
    let schema: Value = serde_json::from_str(SPEC_SCHEMA_V1)
        .map_err(|e| ApiError::detail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    ok(schema)
}

/// The upper-case reading: every `status` of a result and its runs in upper case, and no `timeout` (a run that
/// timed out reads `FAILED`).
fn upper_case_statuses(mut v: Value) -> Value {
    fn fix(slot: &mut Value) {
        if let Some(s) = slot.as_str() {
            *slot = Value::String(if s == "timeout" { "FAILED".into() } else { s.to_uppercase() });
        }
    }
    if let Some(status) = v.get_mut("status") {
        fix(status);
    }
    match v.get_mut("runs") {
        Some(Value::Object(runs)) => runs.values_mut().filter_map(|r| r.get_mut("status")).for_each(fix),
        Some(Value::Array(runs)) => runs.iter_mut().filter_map(|r| r.get_mut("status")).for_each(fix),
        _ => {}
    }
    v
}
