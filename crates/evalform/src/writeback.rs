//! Writing the platform's state back into manifests: the one "edit in memory, reload, then show or write" flow
//! that `pull` and `suggest` share, and the way a manifest writes a text (shared with `import`).
//!
//! Edits are applied to every file in memory first, and the whole set of edited files must load again before
//! anything is shown or written, so a bug in an edit can never leave a manifest that evalform itself cannot read.
//! Writing goes through [`crate::fsutil::write_atomic`]. This module decides nothing about *what* to edit (the
//! `pull` and `suggest` modules do) and prints nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::fsutil::{write_atomic, WriteError};
use crate::manifest::{self, Diagnostics, LoadOptions, ManifestFile};
use crate::model::Text;
use crate::yaml::edit::{self, Edit, EditError};
use crate::yaml::emit::Node;

/// One manifest that the edits change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditedFile {
    pub path: PathBuf,
    pub before: String,
    pub after: String,
    /// How many edits were asked of this file.
    pub edits: usize,
}

impl EditedFile {
    /// The unified diff of this file, headed by its path.
    pub fn diff(&self) -> String {
        edit::unified_diff(&self.path.display().to_string(), &self.before, &self.after)
    }
}

/// Why edited manifests cannot be shown or written. Nothing has been written when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum WritebackError {
    #[error("cannot edit {}", path.display())]
    Edit {
        path: PathBuf,
        #[source]
        source: EditError,
    },
    /// The edited files, all together, no longer load.
    #[error("the edited manifests would not load")]
    WouldNotLoad(Diagnostics),
}

/// Apply `edits` (by file path) to `files` in memory, and check that the edited set still loads with `load`.
/// Returns the files that change, in the order of `files`.
pub fn edit_manifests(
    files: &[ManifestFile],
    edits: &BTreeMap<PathBuf, Vec<Edit>>,
    load: &LoadOptions<'_>,
) -> Result<Vec<EditedFile>, WritebackError> {
    let mut changed = Vec::new();
    let mut after_all = Vec::with_capacity(files.len());
    for file in files {
        let text = match edits.get(&file.path) {
            Some(list) => {
                let after = edit::apply(&file.text, list)
                    .map_err(|source| WritebackError::Edit { path: file.path.clone(), source })?;
                if after != file.text {
                    changed.push(EditedFile {
                        path: file.path.clone(),
                        before: file.text.clone(),
                        after: after.clone(),
                        edits: list.len(),
                    });
                }
                after
            }
            None => file.text.clone(),
        };
        after_all.push(ManifestFile { path: file.path.clone(), text });
    }
    if !changed.is_empty() {
        manifest::load_texts(after_all, load).map_err(WritebackError::WouldNotLoad)?;
    }
    Ok(changed)
}

/// Write one edited file in place, atomically.
pub fn write(file: &EditedFile) -> Result<(), WriteError> {
    write_atomic(&file.path, file.after.as_bytes())
}

/// A text as a manifest writes it. A sensitive value (never expected in observed state) is written as its
/// `${env:...}` template, which is also what the manifest it came from said.
///
/// A platform text that literally holds `${env:NAME}` is written escaped (`$${env:NAME}`,
/// [`crate::import::escape_env_text`]), so the next apply does not put this machine's `$NAME` in its place; a
/// template is written as it is (it is meant as a reference).
pub fn text_value(text: &Text) -> String {
    match text.template() {
        Some(template) => template.to_string(),
        None => crate::import::escape_env_text(text.expose()),
    }
}

/// A long text (instructions, outcomes, messages) as a manifest writes it: a block when it has several lines.
pub fn long_text(text: &Text) -> Node {
    let s = text_value(text);
    // A tail that only starts with a line break (a typical suffix) reads better quoted on one line.
    if s.trim_start_matches('\n').contains('\n') {
        Node::Text(s)
    } else {
        Node::Str(s)
    }
}
