//! Cron jobs (`/schedules/v1/cron-jobs-external`): list, create, get, PATCH, DELETE.

use axum::http::StatusCode;
use serde_json::Value;

use super::super::drf::{paginate, ApiError};
use super::super::state::{SandboxState, WriteMode};
use super::{ok, Call, Payload, Reply, Route};

pub(super) fn execute(state: &mut SandboxState, route: &Route, call: &Call<'_>) -> Result<Reply, ApiError> {
    match (route, call.method) {
        (Route::CronJobs, "GET") => list(state, call),
        (Route::CronJobs, _) => {
            let id = state.write_cron_job(WriteMode::Create, None, call.body()?)?;
            Ok((StatusCode::CREATED, state.cron_job(id).map(Payload::from)))
        }
        (Route::CronJob(id), "GET") => state.cron_job(*id).map(ok).unwrap_or_else(|| Err(ApiError::not_found())),
        (Route::CronJob(id), "DELETE") => {
            state.cron_jobs.remove(id).ok_or_else(ApiError::not_found)?;
            state.tick();
            Ok((StatusCode::NO_CONTENT, None))
        }
        (Route::CronJob(id), _) => {
            state.write_cron_job(WriteMode::Patch, Some(*id), call.body()?)?;
            ok(state.cron_job(*id).unwrap_or_default())
        }
        _ => Err(ApiError::not_found()),
    }
}

/// One of `project_id`, `agent_id`, `organization_id` is required; the answer is paginated.
fn list(state: &SandboxState, call: &Call<'_>) -> Result<Reply, ApiError> {
    let project = call.int("project_id")?;
    let agent = call.int("agent_id")?;
    let organization = call.int("organization_id")?;
    if project.is_none() && agent.is_none() && organization.is_none() {
        return Err(ApiError::detail(
            StatusCode::BAD_REQUEST,
            "One of project_id, agent_id or organization_id is required.",
        ));
    }
    let items: Vec<Value> = state
        .cron_jobs
        .values()
        .filter(|j| project.is_none_or(|p| j.project == p))
        .filter(|j| agent.is_none_or(|a| j.agent == a))
        .map(|j| state.cron_job_json(j))
        .collect();
    ok(paginate(items, &call.url, call.query)?)
}
