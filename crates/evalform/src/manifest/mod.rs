//! Manifests in, desired [`State`] out: file discovery, YAML parsing (through [`crate::yaml`]), the structural
//! check against the generated schema, `defaults` expansion, `${env:NAME}` interpolation, the semantic checks, and
//! the conversion into [`model::State`](crate::model::State).
//!
//! Loading never stops at the first problem: every problem of every file is collected into [`Diagnostics`], each
//! pointing at `FILE:LINE:COLUMN`. This module performs file reads only; it never talks to the platform, so
//! references by name (personalities, metric slugs, test profiles) stay names here and are resolved by the planner.

use std::path::{Path, PathBuf};

use crate::model::State;

mod convert;
pub mod diagnostic;
mod env;
pub mod environment;
pub mod raw;
mod shadow;
mod structure;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use env::interpolate;
pub use environment::Environment;
pub use shadow::shadowed_defaults;

/// What to do with `${env:NAME}` whose variable is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvMode {
    /// `validate`: unset variables are fine; the value is left empty (and sensitive).
    Deferred,
    /// `plan` / `apply`: an unset variable is an error at its place.
    Required,
}

/// How to load: where environment values come from (tests pass a closure over a map), and what an unset one means.
pub struct LoadOptions<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub mode: EnvMode,
    /// The chosen environment of the project file (`evalform.toml`): agent and prompt names, `${var:NAME}`.
    /// `None` without a project file: names and `${var:...}` are then errors.
    pub environment: Option<&'a Environment>,
}

impl std::fmt::Debug for LoadOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions").field("mode", &self.mode).finish_non_exhaustive()
    }
}

/// One manifest file as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFile {
    /// As the user named it, or as found below a directory they named (`/`-separated).
    pub path: PathBuf,
    pub text: String,
}

/// The loaded manifests: the desired state, and the files it came from (for `pull` and for messages).
#[derive(Debug, Clone)]
pub struct Manifests {
    pub state: State,
    pub files: Vec<ManifestFile>,
}

impl Manifests {
    /// `4 files, 2 agents, 37 evaluators, 3 test profiles, 1 prompt with 5 test cases`.
    pub fn summary(&self) -> String {
        let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let agents = self.state.agents.values();
        let evaluators: usize = agents.clone().map(|a| a.evaluators.len()).sum();
        let profiles: usize = agents.map(|a| a.test_profiles.len()).sum();
        let cases: usize = self.state.prompts.values().map(|p| p.test_cases.len()).sum();
        format!(
            "{}, {}, {}, {}, {} with {}",
            plural(self.files.len(), "file", "files"),
            plural(self.state.agents.len(), "agent", "agents"),
            plural(evaluators, "evaluator", "evaluators"),
            plural(profiles, "test profile", "test profiles"),
            plural(self.state.prompts.len(), "prompt", "prompts"),
            plural(cases, "test case", "test cases"),
        )
    }
}

/// Load every manifest below `paths` (files, or directories searched for `*.yaml` / `*.yml`).
pub fn load(paths: &[PathBuf], opts: &LoadOptions) -> Result<Manifests, Diagnostics> {
    let (found, mut problems) = discover(paths);
    let mut files = Vec::new();
    for path in found {
        let shown = display_path(&path);
        match std::fs::read_to_string(&path) {
            Ok(text) => files.push(ManifestFile { path: PathBuf::from(shown), text }),
            Err(err) => problems.push(Diagnostic::file(&shown, format!("cannot read the file: {err}"))),
        }
    }
    let (state, more) = convert::convert(&files, opts);
    problems.extend(more);
    if problems.is_empty() {
        Ok(Manifests { state, files })
    } else {
        Err(Diagnostics::new(problems))
    }
}

/// Load manifests given as text (tests, and commands that hold files in memory). Names are used in messages.
pub fn load_texts(files: Vec<ManifestFile>, opts: &LoadOptions) -> Result<Manifests, Diagnostics> {
    let (state, problems) = convert::convert(&files, opts);
    if problems.is_empty() {
        Ok(Manifests { state, files })
    } else {
        Err(Diagnostics::new(problems))
    }
}

/// The manifest files below `paths`, sorted within each directory so that runs are reproducible.
pub fn discover(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        if path.is_dir() {
            let before = out.len();
            walk_dir(path, &mut out, &mut problems);
            if out.len() == before {
                problems.push(
                    Diagnostic::file(&display_path(path), "no manifest files (*.yaml, *.yml) in this directory")
                        .help("pass the directory that holds your manifests, or the files themselves"),
                );
            }
        } else if path.is_file() {
            out.push(path.clone());
        } else {
            problems.push(Diagnostic::file(&display_path(path), "no such file or directory"));
        }
    }
    out.dedup();
    (out, problems)
}

fn walk_dir(dir: &Path, out: &mut Vec<PathBuf>, problems: &mut Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(err) => {
            problems.push(Diagnostic::file(&display_path(dir), format!("cannot read the directory: {err}")));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let hidden = p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        // Symlinked directories are not followed, so a link loop cannot make discovery run forever.
        let linked_dir = std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) && p.is_dir();
        if linked_dir {
            continue;
        }
        if p.is_dir() {
            walk_dir(&p, out, problems);
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
}

/// A path as messages show it: as given, `/`-separated, without a leading `./`.
fn display_path(p: &Path) -> String {
    let s = p.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// The manifests' JSON Schema as pretty-printed JSON, exactly as `evalform schema` prints it (without the final
/// newline) and as `docs/evalform.schema.json` holds it.
pub fn schema_json() -> String {
    serde_json::to_string_pretty(&raw::schema()).expect("a schema is JSON")
}
