//! The project file (`evalform.toml`) and the chosen environment, found once per process before a command runs:
//! which files are manifests, what names in them mean, and which key and base URL each platform takes.
//!
//! Held in a process-wide cell so that the commands, `connect` and `load_manifests` read the same choice without
//! threading it through every signature. Without a project file, [`current`] is `None` and nothing changes.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use evalform::manifest::Environment;
use evalform::model::State;
use evalform::project::{EnvironmentError, EnvironmentSpec, Project};

use crate::error::CliError;
use crate::printer::Printer;

/// The project file of this run and its chosen environment.
#[derive(Debug)]
pub struct Selected {
    pub project: Project,
    /// The project file as messages name it (relative to the current directory when below it).
    pub shown: String,
    /// The chosen environment: its name and table.
    pub env: Option<(String, EnvironmentSpec)>,
    /// The loader's view of the chosen environment.
    pub environment: Option<Environment>,
}

static CURRENT: OnceLock<Option<Selected>> = OnceLock::new();

/// The project file and environment of this run, once [`init`] has run; `None` without a project file.
pub fn current() -> Option<&'static Selected> {
    CURRENT.get().and_then(Option::as_ref)
}

/// The chosen environment's name.
pub fn env_name() -> Option<&'static str> {
    current().and_then(|s| s.env.as_ref()).map(|(n, _)| n.as_str())
}

/// The chosen environment's table.
pub fn env_spec() -> Option<&'static EnvironmentSpec> {
    current().and_then(|s| s.env.as_ref()).map(|(_, e)| e)
}

/// For [`evalform::manifest::LoadOptions::environment`].
pub fn environment() -> Option<&'static Environment> {
    current().and_then(|s| s.environment.as_ref())
}

/// Find the project file above the current directory, read it, and choose the environment (`--env`, else
/// `EVALFORM_ENV`, else `default_env`). Problems in the file are printed as diagnostics.
pub fn init(p: &Printer, env_flag: Option<&str>) -> Result<(), CliError> {
    let asked = crate::env::environment_name(env_flag);
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let Some(path) = evalform::project::find(&cwd) else {
        if let Some(name) = asked {
            return Err(CliError::from_error(&EnvironmentError::NoProjectFile { name })
                .hint("create evalform.toml at the repository root with an `[environments.NAME]` table (docs/environments.md)"));
        }
        let _ = CURRENT.set(None);
        return Ok(());
    };
    let shown = shown_path(&path, &cwd);
    let project = match Project::load(&path, &shown) {
        Ok(project) => project,
        Err(diagnostics) => {
            p.diagnostics(&diagnostics);
            return Err(CliError::new(format!("the project file {shown} has problems")));
        }
    };
    let env = match project.choose(asked.as_deref()) {
        Ok(env) => env.map(|(n, spec)| (n, spec.clone())),
        Err(EnvironmentError::Unknown { name, known, .. }) => {
            let list = if known.is_empty() { "none".to_string() } else { known.join(", ") };
            return Err(CliError::new(format!("environment `{name}` is not declared in {shown}"))
                .hint(format!("the environments of {shown} are: {list}")));
        }
        Err(err) => return Err(CliError::from_error(&err)),
    };
    let environment = env.as_ref().map(|(n, spec)| Project::environment(n, spec));
    tracing::info!("project file {shown}, environment {}", env.as_ref().map_or("(none)", |(n, _)| n.as_str()));
    let _ = CURRENT.set(Some(Selected { project, shown, env, environment }));
    Ok(())
}

/// The manifest files to load for the command's PATH arguments: without a project file, the arguments as they
/// are; with one, its `paths` when the arguments are the default `.`, and never a file its `exclude` names.
pub fn manifest_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    let Some(selected) = current() else { return paths.to_vec() };
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let default = paths.len() == 1 && paths[0] == Path::new(".");
    let roots: Vec<PathBuf> = paths.iter().map(|p| cwd.join(p)).collect();
    let files = selected.project.manifest_files(if default { None } else { Some(&roots) });
    files.iter().map(|f| relative(f, &cwd)).collect()
}

/// Say which environment and which agent ids and prompts a command that talks to the platform uses.
pub fn announce(p: &Printer, state: &State) {
    let Some(name) = env_name() else { return };
    let agents: Vec<String> = state.agents.keys().map(u64::to_string).collect();
    let mut line = format!("Environment {name}");
    if !agents.is_empty() {
        line.push_str(&format!(": agent{} {}", if agents.len() == 1 { "" } else { "s" }, agents.join(", ")));
    }
    if !state.prompts.is_empty() {
        let prompts: Vec<&str> = state.prompts.keys().map(String::as_str).collect();
        let sep = if agents.is_empty() { ": " } else { "; " };
        line.push_str(&format!("{sep}prompt{} {}", if prompts.len() == 1 { "" } else { "s" }, prompts.join(", ")));
    }
    p.status(&line);
}

fn shown_path(path: &Path, cwd: &Path) -> String {
    relative(path, cwd).to_string_lossy().replace('\\', "/")
}

/// `path` relative to `base` (`../x` when it is beside or above it), or as it is.
fn relative(path: &Path, base: &Path) -> PathBuf {
    let path_parts: Vec<_> = path.components().collect();
    let base_parts: Vec<_> = base.components().collect();
    let common = path_parts.iter().zip(&base_parts).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return path.to_path_buf();
    }
    let mut out = PathBuf::new();
    for _ in common..base_parts.len() {
        out.push("..");
    }
    for part in &path_parts[common..] {
        out.push(part);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::relative;
    use std::path::{Path, PathBuf};

    #[test]
    fn paths_are_shown_relative_to_the_current_directory() {
        assert_eq!(relative(Path::new("/r/suites/a.yaml"), Path::new("/r")), PathBuf::from("suites/a.yaml"));
        assert_eq!(
            relative(Path::new("/r/evalform.toml"), Path::new("/r/suites/x")),
            PathBuf::from("../../evalform.toml")
        );
        assert_eq!(relative(Path::new("/r"), Path::new("/r")), PathBuf::from("."));
    }
}
