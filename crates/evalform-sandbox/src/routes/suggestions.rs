//! The scenario agent: `scenario-agent` and its progress.

use super::super::drf::ApiError;
use super::super::state::SandboxState;
use super::{ok, Call, Reply, Route};

pub(super) fn execute(state: &mut SandboxState, route: &Route, call: &Call<'_>) -> Result<Reply, ApiError> {
    match route {
        Route::ScenarioAgent => ok(state.start_suggestion(call.body()?)?),
        _ => {
            let id =
                call.get("progress_id").ok_or_else(|| ApiError::field("progress_id", "This field is required."))?;
            ok(state.poll_suggestion(id)?)
        }
    }
}
