//! Metrics, v1 (the SDK's) and v2 (the OpenAPI's) alike: list, create, get, PATCH, DELETE.

use axum::http::StatusCode;
use serde_json::Value;

use super::super::drf::ApiError;
use super::super::state::{SandboxState, WriteMode};
use super::{ok, Call, Payload, Reply, Route};

pub(super) fn execute(state: &mut SandboxState, route: &Route, call: &Call<'_>) -> Result<Reply, ApiError> {
    match (route, call.method) {
        (Route::Metrics, "GET") => {
            let agent = call.int("agent_id")?;
            let project = call.int("project_id")?;
            if agent.is_some_and(|a| state.seed.agent(a).is_none()) {
                return ok(Value::Array(Vec::new()));
            }
            ok(Value::Array(state.metrics_json(agent, project)))
        }
        (Route::Metrics, _) => {
            let id = state.write_metric(WriteMode::Create, None, call.body()?)?;
            Ok((StatusCode::CREATED, state.metric(id).map(Payload::from)))
        }
        (Route::Metric(id), "GET") => state.metric(*id).map(ok).unwrap_or_else(|| Err(ApiError::not_found())),
        (Route::Metric(id), "DELETE") => {
            state.delete_metric(*id)?;
            Ok((StatusCode::NO_CONTENT, None))
        }
        (Route::Metric(id), _) => {
            state.write_metric(WriteMode::Patch, Some(*id), call.body()?)?;
            ok(state.metric(*id).unwrap_or_default())
        }
        _ => Err(ApiError::not_found()),
    }
}
