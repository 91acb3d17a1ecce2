//! Folders: a dot path within a project is a folder's identity.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::super::drf::{invalid_pk, object_body, ApiError, FieldErrors};
use super::SandboxState;

/// A folder has no id: its dot path within a project is its identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredFolder {
    pub project: u64,
    pub name: String,
    pub path: String,
    pub created_at: String,
}

impl SandboxState {
    // ---- folders ----

    pub fn create_folder(&mut self, body: &Value) -> Result<Value, ApiError> {
        let body = object_body(Some(body))?;
        let mut errors = FieldErrors::default();
        let name = errors.required(body, "name").and_then(|_| errors.string(body, "name", false)).flatten();
        let project = errors.required(body, "project_id").and_then(|_| errors.pk(body, "project_id", false)).flatten();
        let parent = errors.string(body, "parent_path", true).flatten().filter(|p| !p.is_empty());
        if let Some(n) = &name {
            check_folder_name(n, &mut errors);
        }
        if let Some(p) = project {
            if !self.seed.project_exists(p) {
                errors.add("project_id", invalid_pk(&json!(p)));
            } else if let Some(parent) = &parent {
                if !self.folder_exists(p, parent) {
                    errors.add("parent_path", format!("Folder \"{parent}\" does not exist in project {p}."));
                }
            }
        }
        errors.finish()?;
        let (name, project) = (name.unwrap_or_default(), project.unwrap_or_default());
        let path = match parent {
            Some(p) => format!("{p}.{name}"),
            None => name.clone(),
        };
        if self.folder_exists(project, &path) {
            return Err(ApiError::field("name", format!("Folder \"{path}\" already exists.")));
        }
        let now = self.tick();
        let folder = StoredFolder { project, name, path, created_at: now };
        let json = folder_json(&folder);
        self.folders.push(folder);
        Ok(json)
    }

    /// `rename_folder` `{path, name, project_id}`: the folder, its subfolders and their evaluators follow.
    pub fn rename_folder(&mut self, body: &Value) -> Result<Value, ApiError> {
        let body = object_body(Some(body))?;
        let mut errors = FieldErrors::default();
        let target = self.read_folder_target(body, &mut errors);
        let name = errors.required(body, "name").and_then(|_| errors.string(body, "name", false)).flatten();
        if let Some(n) = &name {
            check_folder_name(n, &mut errors);
        }
        errors.finish()?;
        let ((project, path), name) = (target.unwrap_or_default(), name.unwrap_or_default());
        let new_path = match path.rsplit_once('.') {
            Some((parent, _)) => format!("{parent}.{name}"),
            None => name,
        };
        self.relocate_folder(project, &path, &new_path)
    }

    /// `move_folder` `{path, project_id, new_parent_path}`: `null` (or absent) moves it to the top level.
    pub fn move_folder(&mut self, body: &Value) -> Result<Value, ApiError> {
        let body = object_body(Some(body))?;
        let mut errors = FieldErrors::default();
        let target = self.read_folder_target(body, &mut errors);
        let parent = errors.string(body, "new_parent_path", true).flatten().filter(|p| !p.is_empty());
        if let (Some((project, path)), Some(parent)) = (&target, &parent) {
            if !self.folder_exists(*project, parent) {
                errors.add("new_parent_path", format!("Folder \"{parent}\" does not exist in project {project}."));
            } else if parent == path || parent.starts_with(&format!("{path}.")) {
                errors.add("new_parent_path", "A folder cannot be moved into itself or one of its subfolders.");
            }
        }
        errors.finish()?;
        let (project, path) = target.unwrap_or_default();
        let leaf = path.rsplit('.').next().unwrap_or_default();
        let new_path = match parent {
            Some(p) => format!("{p}.{leaf}"),
            None => leaf.to_string(),
        };
        self.relocate_folder(project, &path, &new_path)
    }

    /// `delete_folder` `{path, project_id}`: removes the folder, its subfolders and every evaluator in them.
    pub fn delete_folder(&mut self, body: &Value) -> Result<(), ApiError> {
        let body = object_body(Some(body))?;
        let mut errors = FieldErrors::default();
        let target = self.read_folder_target(body, &mut errors);
        errors.finish()?;
        let (project, path) = target.unwrap_or_default();
        let inside = |p: &str| p == path || p.starts_with(&format!("{path}."));
        self.folders.retain(|f| !(f.project == project && inside(&f.path)));
        self.evaluators.retain(|_, e| !(e.project == project && e.folder_path.as_deref().is_some_and(inside)));
        self.tick();
        Ok(())
    }

    /// `path` and `project_id` of a folder request; a folder that does not exist is a 400 naming `path`.
    fn read_folder_target(&self, body: &Map<String, Value>, errors: &mut FieldErrors) -> Option<(u64, String)> {
        let path = errors.required(body, "path").and_then(|_| errors.string(body, "path", false)).flatten();
        let project = errors.required(body, "project_id").and_then(|_| errors.pk(body, "project_id", false)).flatten();
        let (path, project) = (path?, project?);
        if !self.folder_exists(project, &path) {
            errors.add("path", format!("Folder \"{path}\" does not exist in project {project}."));
            return None;
        }
        Some((project, path))
    }

    /// Give folder `from` (and everything below it) the path `to`, which must be free.
    fn relocate_folder(&mut self, project: u64, from: &str, to: &str) -> Result<Value, ApiError> {
        if from == to {
            let f = self.folders.iter().find(|f| f.project == project && f.path == from);
            return Ok(f.map(folder_json).unwrap_or_default());
        }
        if self.folder_exists(project, to) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                json!({ "name": [format!("Folder \"{to}\" already exists.")] }),
            ));
        }
        let moved = |p: &str| -> Option<String> {
            if p == from {
                Some(to.to_string())
            } else {
                p.strip_prefix(from).filter(|r| r.starts_with('.')).map(|r| format!("{to}{r}"))
            }
        };
        let now = self.tick();
        for f in self.folders.iter_mut().filter(|f| f.project == project) {
            if let Some(p) = moved(&f.path) {
                f.name = p.rsplit('.').next().unwrap_or_default().to_string();
                f.path = p;
            }
        }
        for e in self.evaluators.values_mut().filter(|e| e.project == project) {
            if let Some(p) = e.folder_path.as_deref().and_then(moved) {
                e.folder_path = Some(p);
                e.updated_at = now.clone();
            }
        }
        let f = self.folders.iter().find(|f| f.project == project && f.path == to);
        Ok(f.map(folder_json).unwrap_or_default())
    }
}

pub fn folder_json(f: &StoredFolder) -> Value {
    json!({ "name": f.name, "path": f.path, "created_at": f.created_at, "updated_at": f.created_at })
}

fn check_folder_name(n: &str, errors: &mut FieldErrors) {
    if n.trim().is_empty() {
        errors.add("name", "This field may not be blank.");
    } else if n.contains('.') {
        errors.add("name", "Folder names may not contain \".\".");
    } else if n.chars().count() > 100 {
        errors.add("name", "Ensure this field has no more than 100 characters.");
    }
}
