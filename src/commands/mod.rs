//! One module per command. Each turns its arguments into settings, calls the library, prints, and returns an
//! [`Outcome`]. Nothing here is reused by another command: shared logic lives in the library modules.

use std::path::PathBuf;

use crate::cli::{Cli, Command, GlobalArgs, TargetArgs};
use crate::error::{CliError, Outcome};
use crate::manifest::{self, EnvMode, LoadOptions, Manifests};
use crate::plan::{PlanErrors, PlanSettings};

pub mod apply;
pub mod completions;
pub mod demo;
pub mod import;
pub mod man;
pub mod plan;
pub mod pull;
pub mod run;
pub mod sandbox;
pub mod schema;
pub mod suggest;
pub mod validate;

pub async fn dispatch(cli: Cli) -> Result<Outcome, CliError> {
    let global = cli.global;
    match cli.command {
        Command::Validate(args) => validate::run(&global, args).await,
        Command::Plan(args) => plan::run(&global, args).await,
        Command::Apply(args) => apply::run(&global, args).await,
        Command::Import(args) => import::run(&global, args).await,
        Command::Pull(args) => pull::run(&global, args).await,
        Command::Run(args) => run::run(&global, args).await,
        Command::Suggest(args) => suggest::run(&global, args).await,
        Command::Schema => schema::run(&global).await,
        Command::Sandbox(args) => sandbox::run(&global, args).await,
        Command::Demo => demo::run(&global).await,
        Command::Completions(args) => completions::run(&global, args),
        Command::Man(args) => man::run(&global, args),
    }
}

/// Load the manifests. On problems, print them (they are the command's output) and return `None`: the command
/// exits 1. `EnvMode::Required` for commands that write what the manifests say (plan, apply, pull); `Deferred`
/// for those that only need names and selections (run, suggest).
pub fn load_manifests(global: &GlobalArgs, paths: &[PathBuf], mode: EnvMode) -> Option<Manifests> {
    use std::io::IsTerminal;
    let opts = LoadOptions { env: &manifest::process_env, mode };
    match manifest::load(paths, &opts) {
        Ok(loaded) => Some(loaded),
        Err(diagnostics) => {
            let color = crate::cli::color_enabled(global) && std::io::stderr().is_terminal();
            eprint!("{}", diagnostics.render(color));
            None
        }
    }
}

/// Load the manifests for a command that talks to the platform: `${env:NAME}` must be set, and there must be
/// something to talk about.
pub fn load_desired(global: &GlobalArgs, paths: &[PathBuf]) -> Result<Option<Manifests>, CliError> {
    let Some(loaded) = load_manifests(global, paths, EnvMode::Required) else {
        return Ok(None);
    };
    if loaded.state.agents.is_empty() && loaded.state.prompts.is_empty() {
        return Err(CliError::new(format!(
            "no manifests found in {}",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ))
        .hint("point evalform at a directory of *.yaml manifests, or create one with `evalform import`"));
    }
    Ok(Some(loaded))
}

/// What `plan` and `apply` both start from: the manifests, the platform's clients, and the plan between them.
#[derive(Debug)]
pub struct Planned {
    pub loaded: Manifests,
    pub settings: PlanSettings,
    pub remote: crate::remote::Remote,
    pub plan: crate::plan::Plan,
}

/// Load the manifests, read the platform and plan. `None`: the manifests did not load (already reported).
pub async fn plan_manifests(
    global: &GlobalArgs,
    paths: &[PathBuf],
    targets: &TargetArgs,
    remote: &crate::cli::RemoteArgs,
) -> Result<Option<Planned>, CliError> {
    let Some(loaded) = load_desired(global, paths)? else {
        return Ok(None);
    };
    let settings = plan_settings(targets);
    let remote = crate::remote::Remote::connect(remote, global.parallelism, &loaded.state)?;
    let snapshot = remote.observe(&loaded.state).await?;
    let plan = crate::plan::plan(&loaded.state, &snapshot.observed, &settings).map_err(plan_errors)?;
    Ok(Some(Planned { loaded, settings, remote, plan }))
}

/// The planner's settings from `--target` / `--exclude` / `--batch-size`.
pub fn plan_settings(targets: &TargetArgs) -> PlanSettings {
    PlanSettings {
        targets: targets.target.clone(),
        excludes: targets.exclude.clone(),
        batch_size: usize::try_from(targets.batch_size).unwrap_or(usize::MAX),
        ..PlanSettings::default()
    }
}

/// Problems that stop a plan, one `caused by:` line each.
pub fn plan_errors(errors: PlanErrors) -> CliError {
    let n = errors.0.len();
    let mut out = CliError::new(format!("cannot plan: {n} problem{}", if n == 1 { "" } else { "s" }));
    for e in &errors.0 {
        out = out.cause(e.to_string());
    }
    out
}
