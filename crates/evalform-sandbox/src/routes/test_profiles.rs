//! `/test-profiles/`: list, create, get, PATCH, PUT, DELETE.

use axum::http::StatusCode;
use serde_json::Value;

use super::super::drf::ApiError;
use super::super::state::{SandboxState, WriteMode};
use super::{ok, Call, Reply, Route};

pub(super) fn execute(state: &mut SandboxState, route: &Route, call: &Call<'_>) -> Result<Reply, ApiError> {
    match (route, call.method) {
        (Route::TestProfiles, "GET") => list(state, call),
        // Test profile create answers 200, not 201, as the platform does.
        (Route::TestProfiles, _) => {
            let id = state.write_test_profile(WriteMode::Create, None, None, call.body()?)?;
            ok(state.test_profile(id).unwrap_or_default())
        }
        (Route::TestProfile(id), "GET") => {
            state.test_profile(*id).map(ok).unwrap_or_else(|| Err(ApiError::not_found()))
        }
        (Route::TestProfile(id), "DELETE") => {
            state.test_profiles.remove(id).ok_or_else(ApiError::not_found)?;
            // Evaluators that used it keep running without it.
            for e in state.evaluators.values_mut() {
                if e.test_profile == Some(*id) {
                    e.test_profile = None;
                }
            }
            state.tick();
            Ok((StatusCode::NO_CONTENT, None))
        }
        (Route::TestProfile(id), m) => {
            if !state.test_profiles.contains_key(id) {
                return Err(ApiError::not_found());
            }
            let mode = if m == "PUT" { WriteMode::Put } else { WriteMode::Patch };
            state.write_test_profile(mode, Some(*id), None, call.body()?)?;
            ok(state.test_profile(*id).unwrap_or_default())
        }
        _ => Err(ApiError::not_found()),
    }
}

fn list(state: &SandboxState, call: &Call<'_>) -> Result<Reply, ApiError> {
    let agent = call.int("agent_id")?;
    let project = call.int("project_id")?;
    if agent.is_none() && project.is_none() {
        return Err(ApiError::detail(StatusCode::BAD_REQUEST, "Either agent_id or project_id is required."));
    }
    let items: Vec<Value> = state
        .test_profiles
        .values()
        .filter(|p| agent.is_none() || p.agent == agent)
        .filter(|p| project.is_none_or(|id| p.project == id))
        .map(|p| state.test_profile_json(p))
        .collect();
    ok(Value::Array(items))
}
