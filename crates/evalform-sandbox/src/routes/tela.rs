//! Tela's `/test-case`: list, create (one or an array, all or nothing), get, PATCH, DELETE, and runs (`run`,
//! `run-all`, `abort`).

use axum::http::StatusCode;
use serde_json::Value;

use super::super::drf::ApiError;
use super::super::state::{tela_error, test_case_json, SandboxState};
use super::{ok, Call, Payload, Reply, Route};

pub(super) fn execute(state: &mut SandboxState, route: &Route, call: &Call<'_>) -> Result<Reply, ApiError> {
    match (route, call.method) {
        (Route::TestCases, "GET") => list(state, call),
        (Route::TestCases, _) => create(state, call),
        (Route::TestCase(id), "GET") => {
            let found = if with_generations(call) { state.read_generations(id) } else { state.test_case(id) };
            found.map(ok).unwrap_or_else(|| Err(tela_error(StatusCode::NOT_FOUND, "Test case not found.")))
        }
        (Route::TestCase(id), "DELETE") => {
            state.delete_test_case(id)?;
            Ok((StatusCode::NO_CONTENT, None))
        }
        (Route::TestCase(id), _) => ok(state.patch_test_case(id, tela_body(call)?)?),
        (Route::TestCaseRun(id), _) => ok(state.run_test_case(id, call.body)?),
        (Route::TestCaseAbort(id), _) => ok(state.abort_test_case(id)?),
        (Route::TestCasesRunAll, _) => ok(state.run_all_test_cases(tela_body(call)?)?),
        _ => Err(ApiError::not_found()),
    }
}

fn tela_body<'a>(call: &Call<'a>) -> Result<&'a Value, ApiError> {
    call.body.ok_or_else(|| tela_error(StatusCode::BAD_REQUEST, "The body must be JSON."))
}

/// `includeGenerations=true`: each test case carries its generations (and the read counts as a poll of them).
fn with_generations(call: &Call<'_>) -> bool {
    call.get("includeGenerations").is_some_and(|v| matches!(v, "true" | "1"))
}

fn list(state: &mut SandboxState, call: &Call<'_>) -> Result<Reply, ApiError> {
    let prompt = call.get("promptId").ok_or_else(|| tela_error(StatusCode::BAD_REQUEST, "promptId is required."))?;
    if state.seed.prompt(prompt).is_none() {
        return Err(tela_error(StatusCode::NOT_FOUND, format!("Prompt {prompt} not found.")));
    }
    let ids: Vec<String> = state.test_cases.values().filter(|t| t.prompt_id == prompt).map(|t| t.id.clone()).collect();
    let items: Vec<Value> = if with_generations(call) {
        ids.iter().filter_map(|id| state.read_generations(id)).collect()
    } else {
        ids.iter().filter_map(|id| state.test_cases.get(id)).map(test_case_json).collect()
    };
    ok(Value::Array(items))
}

fn create(state: &mut SandboxState, call: &Call<'_>) -> Result<Reply, ApiError> {
    match tela_body(call)? {
        // An array is created whole or not at all.
        Value::Array(items) => {
            let mut scratch = state.clone();
            let mut created = Vec::new();
            for item in items {
                let id = scratch.create_test_case(None, item)?;
                created.push(scratch.test_case(&id).unwrap_or_default());
            }
            *state = scratch;
            Ok((StatusCode::CREATED, Some(Value::Array(created).into())))
        }
        one => {
            let id = state.create_test_case(None, one)?;
            Ok((StatusCode::CREATED, state.test_case(&id).map(Payload::from)))
        }
    }
}
