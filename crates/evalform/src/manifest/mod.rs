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
mod cron;
pub mod diagnostic;
mod env;
pub mod environment;
pub mod raw;
pub mod scan;
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
    /// What discovery skipped and why (a FIFO, a device, a directory link that loops), one line each, for the
    /// caller to show as warnings.
    pub warnings: Vec<String>,
    /// `defaults` keys that every evaluator of their file sets itself ([`shadowed_defaults`]), for `validate` to
    /// warn about.
    pub shadowed: Vec<Diagnostic>,
}

impl Manifests {
    /// `4 files, 2 agents, 37 evaluators, 3 test profiles, 1 prompt with 5 test cases`; metrics and schedules are
    /// counted after the test profiles when the manifests define any.
    pub fn summary(&self) -> String {
        let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let agents = self.state.agents.values();
        let evaluators: usize = agents.clone().map(|a| a.evaluators.len()).sum();
        let profiles: usize = agents.clone().map(|a| a.test_profiles.len()).sum();
        let metrics: usize = agents.clone().map(|a| a.metrics.len()).sum();
        let schedules: usize = agents.map(|a| a.schedules.len()).sum();
        let cases: usize = self.state.prompts.values().map(|p| p.test_cases.len()).sum();
        let mut parts = vec![
            plural(self.files.len(), "file", "files"),
            plural(self.state.agents.len(), "agent", "agents"),
            plural(evaluators, "evaluator", "evaluators"),
            plural(profiles, "test profile", "test profiles"),
        ];
        if metrics > 0 {
            parts.push(plural(metrics, "metric", "metrics"));
        }
        if schedules > 0 {
            parts.push(plural(schedules, "schedule", "schedules"));
        }
        parts.push(format!(
            "{} with {}",
            plural(self.state.prompts.len(), "prompt", "prompts"),
            plural(cases, "test case", "test cases")
        ));
        parts.join(", ")
    }
}

/// Load every manifest below `paths` (files, or directories searched for `*.yaml` / `*.yml`).
pub fn load(paths: &[PathBuf], opts: &LoadOptions) -> Result<Manifests, Diagnostics> {
    load_reporting(paths, opts).1
}

/// [`load`], and what discovery skipped (one line each), whether or not the manifests load.
pub fn load_reporting(paths: &[PathBuf], opts: &LoadOptions) -> (Vec<String>, Result<Manifests, Diagnostics>) {
    let found = discover(paths);
    let mut warnings = found.warnings.clone();
    let (skipped, result) = load_found(found, opts);
    warnings.extend(skipped);
    (warnings, result)
}

/// Whether a YAML text has a top-level `version`, `cekura` or `tela` key (block style, as manifests are written),
/// or is in flow style (then it is left to the loader to say).
fn looks_like_manifest(text: &str) -> bool {
    text.lines().any(|line| {
        let key = line.trim_end().trim_start_matches('\u{feff}');
        let key = key.strip_prefix(['"', '\'']).unwrap_or(key);
        key.starts_with('{')
            || ["version", "cekura", "tela"].iter().any(|k| {
                key.strip_prefix(k).is_some_and(|rest| {
                    let rest = rest.strip_prefix(['"', '\'']).unwrap_or(rest);
                    rest.trim_start().starts_with(':')
                })
            })
    })
}

fn load_found(found: Discovered, opts: &LoadOptions) -> (Vec<String>, Result<Manifests, Diagnostics>) {
    let discovered = found.warnings.clone();
    let (files, mut problems, skipped) = read_found(found);
    let converted = convert::convert(&files, opts);
    problems.extend(converted.problems);
    let result = if problems.is_empty() {
        let mut warnings = discovered;
        warnings.extend(skipped.iter().cloned());
        Ok(Manifests { state: converted.state, files, warnings, shadowed: converted.shadowed })
    } else {
        Err(Diagnostics::new(problems))
    };
    (skipped, result)
}

/// What [`read`] found: the texts of the manifest files, the problems of those that cannot be read, and what was
/// skipped (one line each).
#[derive(Debug, Default)]
pub struct Read {
    pub files: Vec<ManifestFile>,
    pub problems: Vec<Diagnostic>,
    pub warnings: Vec<String>,
}

/// Find and read the manifests below `paths` exactly as [`load`] does, without loading them (`fmt` formats the
/// files that load, and leaves the others).
pub fn read(paths: &[PathBuf]) -> Read {
    let found = discover(paths);
    let mut warnings = found.warnings.clone();
    let (files, problems, skipped) = read_found(found);
    warnings.extend(skipped);
    Read { files, problems, warnings }
}

/// Read the files discovery found: their texts, the problems of those that cannot be read, and the notes of those
/// skipped as plainly not manifests.
fn read_found(found: Discovered) -> (Vec<ManifestFile>, Vec<Diagnostic>, Vec<String>) {
    let mut problems = found.problems;
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for path in found.files {
        let shown = display_path(&path);
        match std::fs::read(&path) {
            Ok(bytes) => match decode_text(bytes) {
                // A `docker-compose.yml` beside the manifests: skipped with a note, only when it was found by
                // walking a directory (a file named on the command line is read as a manifest, and says why not).
                Ok(text) if found.walked.contains(&path) && !looks_like_manifest(&text) => {
                    skipped.push(format!(
                        "skipped {shown}: not an evalform manifest (no top-level `version`, `cekura` or `tela`)"
                    ));
                }
                Ok(text) => files.push(ManifestFile { path: PathBuf::from(shown), text }),
                Err((pos, text, message)) => problems.push(match pos {
                    Some(pos) => Diagnostic::at(&shown, &text, pos, 1, message),
                    None => Diagnostic::file(&shown, message),
                }),
            },
            Err(err) => problems.push(Diagnostic::file(&shown, format!("cannot read the file: {err}"))),
        }
    }
    (files, problems, skipped)
}

/// A file's bytes as text: UTF-8, a leading byte order mark dropped. UTF-16 and other encodings (Latin-1,
/// Windows-1252) are named, at the line of the first byte that is not UTF-8.
fn decode_text(bytes: Vec<u8>) -> Result<String, (Option<crate::yaml::Pos>, String, String)> {
    let utf16 = bytes.starts_with(&[0xFF, 0xFE])
        || bytes.starts_with(&[0xFE, 0xFF])
        || (bytes.len() >= 4 && bytes.iter().take(64).filter(|b| **b == 0).count() * 4 >= bytes.len().min(64));
    if utf16 {
        return Err((
            None,
            String::new(),
            "the file is UTF-16 encoded; manifests are UTF-8 (save it as UTF-8 in your editor)".to_string(),
        ));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(match text.strip_prefix('\u{feff}') {
            Some(rest) => rest.to_string(),
            None => text,
        }),
        Err(err) => {
            let at = err.utf8_error().valid_up_to();
            let bytes = err.into_bytes();
            let byte = bytes[at];
            let before = String::from_utf8_lossy(&bytes[..at]);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            Err((
                Some(crate::yaml::Pos { line, column }),
                text,
                format!(
                    "the file is not UTF-8: byte 0x{byte:02X} at line {line} column {column} (Latin-1 or \
                     Windows-1252?); manifests are UTF-8 (save it as UTF-8 in your editor)"
                ),
            ))
        }
    }
}

/// Load manifests given as text (tests, and commands that hold files in memory). Names are used in messages.
pub fn load_texts(files: Vec<ManifestFile>, opts: &LoadOptions) -> Result<Manifests, Diagnostics> {
    let converted = convert::convert(&files, opts);
    if converted.problems.is_empty() {
        Ok(Manifests { state: converted.state, files, warnings: Vec::new(), shadowed: converted.shadowed })
    } else {
        Err(Diagnostics::new(converted.problems))
    }
}

/// What [`discover`] found.
#[derive(Debug, Default)]
pub struct Discovered {
    /// The manifest files, each once, sorted within each directory so that runs are reproducible.
    pub files: Vec<PathBuf>,
    pub problems: Vec<Diagnostic>,
    /// What was skipped and why, one line each.
    pub warnings: Vec<String>,
    /// The files found by walking a directory (not named by the user): one that is plainly not a manifest is
    /// skipped with a note instead of failing the run.
    pub walked: std::collections::HashSet<PathBuf>,
}

/// The manifest files below `paths`. A file named twice (or reached twice, through a link) is read once.
/// Symlinked directories are followed, except one that leads back to a directory being read (a loop), which is
/// skipped with a warning. Only regular files are read: a FIFO, a socket or a device (or a link to one) is skipped
/// with a warning, never opened, so discovery never blocks.
pub fn discover(paths: &[PathBuf]) -> Discovered {
    let mut found = Discovered::default();
    let mut seen = std::collections::HashSet::new();
    for path in paths {
        let shown = display_path(path);
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                let mut ancestors = Vec::new();
                if walk_dir(path, &mut found, &mut seen, &mut ancestors) == 0 {
                    found.problems.push(
                        Diagnostic::directory(&shown, "no manifest files (*.yaml, *.yml) in this directory")
                            .help("pass the directory that holds your manifests, or the files themselves"),
                    );
                }
            }
            Ok(m) if m.is_file() => {
                if seen.insert(identity(path)) {
                    found.files.push(path.clone());
                }
            }
            Ok(m) => found.warnings.push(format!("skipped {shown}: {}, not a regular file", kind_of(&m.file_type()))),
            Err(_) => found.problems.push(Diagnostic::file(&shown, "no such file or directory")),
        }
    }
    let mut said = std::collections::HashSet::new();
    found.warnings.retain(|w| said.insert(w.clone()));
    found
}

/// What identifies a file or directory however it is reached: its canonical path.
fn identity(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn kind_of(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    let _ = t;
    "not a regular file"
}

/// Walk `dir`; returns how many manifest files it holds (read now, or already named before).
fn walk_dir(
    dir: &Path,
    found: &mut Discovered,
    seen: &mut std::collections::HashSet<PathBuf>,
    ancestors: &mut Vec<PathBuf>,
) -> usize {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(err) => {
            found.problems.push(Diagnostic::file(&display_path(dir), format!("cannot read the directory: {err}")));
            return 0;
        }
    };
    let mut manifests = 0;
    ancestors.push(identity(dir));
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let hidden = p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        let shown = display_path(&p);
        let linked = std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink());
        let meta = match std::fs::metadata(&p) {
            Ok(meta) => meta,
            Err(err) => {
                if linked {
                    found.warnings.push(format!("skipped {shown}: a link that cannot be followed ({err})"));
                }
                continue;
            }
        };
        if meta.is_dir() {
            // A directory link is followed, unless it leads back into a directory being read.
            if linked && ancestors.contains(&identity(&p)) {
                found.warnings.push(format!("skipped {shown}: a link back to a directory above it (a loop)"));
                continue;
            }
            manifests += walk_dir(&p, found, seen, ancestors);
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            if !meta.is_file() {
                found.warnings.push(format!("skipped {shown}: {}, not a regular file", kind_of(&meta.file_type())));
                continue;
            }
            manifests += 1;
            if seen.insert(identity(&p)) {
                found.walked.insert(p.clone());
                found.files.push(p);
            }
        }
    }
    ancestors.pop();
    manifests
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
