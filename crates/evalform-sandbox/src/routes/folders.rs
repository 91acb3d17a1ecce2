//! Folders: `create_folder`, `rename_folder`, `move_folder`, `delete_folder` (the folder, its subfolders and the
//! evaluators in them), and the `folders` list.

use axum::http::StatusCode;

use super::super::drf::{paginate, ApiError};
use super::super::readings::Reading;
use super::super::state::{folder_json, SandboxState};
use super::{ok, Call, Reply, Route};

pub(super) fn execute(state: &mut SandboxState, route: &Route, call: &Call<'_>) -> Result<Reply, ApiError> {
    match route {
        Route::CreateFolder => Ok((StatusCode::CREATED, Some(state.create_folder(call.body()?)?.into()))),
        Route::RenameFolder => ok(state.rename_folder(call.body()?)?),
        Route::MoveFolder => ok(state.move_folder(call.body()?)?),
        Route::DeleteFolder => {
            state.delete_folder(call.body()?)?;
            Ok((StatusCode::NO_CONTENT, None))
        }
        _ => list(state, call),
    }
}

fn list(state: &SandboxState, call: &Call<'_>) -> Result<Reply, ApiError> {
    let project = call.int("project_id")?.ok_or_else(|| ApiError::field("project_id", "This field is required."))?;
    let parent = call.get("parent_path");
    // Without `parent_path`: every depth by default, only the top level under that reading.
    let top_only = state.reads(Reading::FoldersTopLevel);
    let mut folders: Vec<_> = state
        .folders
        .iter()
        .filter(|f| f.project == project)
        .filter(|f| match parent {
            None => !top_only || !f.path.contains('.'),
            Some(p) => f.path.strip_prefix(p).and_then(|r| r.strip_prefix('.')).is_some_and(|r| !r.contains('.')),
        })
        .collect();
    folders.sort_by(|a, b| a.path.cmp(&b.path));
    ok(paginate(folders.into_iter().map(folder_json).collect(), &call.url, call.query)?)
}
