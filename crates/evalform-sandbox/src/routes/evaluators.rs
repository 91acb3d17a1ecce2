//! `/scenarios/`: list, create, get, PATCH, PUT, DELETE, `adv_update`, `delete_scenarios`.

use axum::http::StatusCode;
use serde_json::Value;

use super::super::drf::{paginate_json, ApiError};
use super::super::readings::Reading;
use super::super::state::{SandboxState, WriteMode};
use super::{ok, Call, Payload, Reply, Route};

pub(super) fn execute(state: &mut SandboxState, route: &Route, call: &Call<'_>) -> Result<Reply, ApiError> {
    match (route, call.method) {
        (Route::Scenarios, "GET") => list(state, call),
        (Route::Scenarios, _) => {
            let id = state.write_evaluator(WriteMode::Create, None, None, call.body()?)?;
            Ok((StatusCode::CREATED, state.evaluator(id).map(Payload::from)))
        }
        (Route::Scenario(id), "GET") => state.evaluator(*id).map(ok).unwrap_or_else(|| Err(ApiError::not_found())),
        (Route::Scenario(id), "DELETE") => {
            state.evaluators.remove(id).ok_or_else(ApiError::not_found)?;
            state.tick();
            Ok((StatusCode::NO_CONTENT, None))
        }
        (Route::Scenario(id), m) => {
            let mode = if m == "PUT" { WriteMode::Put } else { WriteMode::Patch };
            if !state.evaluators.contains_key(id) {
                return Err(ApiError::not_found());
            }
            state.write_evaluator(mode, Some(*id), None, call.body()?)?;
            ok(state.evaluator(*id).unwrap_or_default())
        }
        (Route::AdvUpdate, _) => {
            let items = state.bulk_update(call.body()?)?;
            // One `ScenarioList` (the first updated item) under that reading, the array of every item by default.
            match (state.reads(Reading::AdvUpdateObjectReply), items) {
                (true, Value::Array(items)) => ok(items.into_iter().next().unwrap_or_default()),
                (_, items) => ok(items),
            }
        }
        _ => {
            state.bulk_delete(call.body()?)?;
            Ok((StatusCode::NO_CONTENT, None))
        }
    }
}

fn list(state: &SandboxState, call: &Call<'_>) -> Result<Reply, ApiError> {
    let agent = call.int("agent_id")?;
    let project = call.int("project_id")?;
    let folder = call.get("folder_path");
    let tags: Vec<&str> = call
        .query
        .iter()
        .filter(|(k, _)| k == "tags")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    let items: Vec<_> = state
        .evaluators
        .values()
        .filter(|e| agent.is_none() || e.agent == agent)
        .filter(|e| project.is_none_or(|p| e.project == p))
        .filter(|e| folder.is_none() || e.folder_path.as_deref() == folder)
        .filter(|e| tags.is_empty() || e.tags.iter().any(|t| tags.contains(&t.as_str())))
        .collect();
    let page = paginate_json(items, &call.url, call.query, |e| state.list_item_view(e))?;
    Ok((StatusCode::OK, Some(Payload::Json(page))))
}
