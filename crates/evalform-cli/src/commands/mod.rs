//! One module per command. Each turns its arguments into settings, calls the library, prints, and returns an
//! [`Outcome`]. Nothing here is reused by another command: shared logic lives in the library modules.

use std::path::PathBuf;

use evalform::manifest::{self, EnvMode, LoadOptions, Manifests};
use evalform::plan::PlanSettings;

use crate::cli::{Cli, Command, GlobalArgs, TargetArgs};
use crate::error::{CliError, Outcome};
use crate::printer::Printer;

pub mod apply;
pub mod completions;
pub mod demo;
pub mod doctor;
pub mod export;
pub mod fmt;
pub mod import;
pub mod init;
pub mod man;
pub mod plan;
pub mod pull;
pub mod run;
pub mod sandbox;
pub mod schema;
pub mod show;
pub mod suggest;
pub mod test;
pub mod validate;

pub async fn dispatch(cli: Cli, p: &Printer) -> Result<Outcome, CliError> {
    let global = cli.global;
    let offline = matches!(
        cli.command,
        Command::Schema(_) | Command::Sandbox(_) | Command::Demo | Command::Completions(_) | Command::Man(_)
    );
    if !offline {
        crate::project::init(p, global.env.as_deref())?;
    }
    match cli.command {
        Command::Validate(args) => validate::run(&global, p, args).await,
        Command::Fmt(args) => fmt::run(p, args),
        Command::Plan(args) => plan::run(&global, p, args).await,
        Command::Apply(args) => apply::run(&global, p, args).await,
        Command::Init(args) => init::run(p, args),
        Command::Show(args) => show::run(p, args),
        Command::Import(args) => import::run(&global, p, args).await,
        Command::Pull(args) => pull::run(&global, p, args).await,
        Command::Run(args) => run::run(&global, p, args).await,
        Command::Test(args) => test::run(&global, p, args).await,
        Command::Suggest(args) => suggest::run(&global, p, args).await,
        Command::Export(args) => export::run(p, args),
        Command::Doctor(args) => doctor::run(&global, p, args).await,
        Command::Schema(args) => schema::run(p, args).await,
        Command::Sandbox(args) => sandbox::run(&global, p, args).await,
        Command::Demo => demo::run(p).await,
        Command::Completions(args) => completions::run(p, args),
        Command::Man(args) => man::run(p, args),
    }
}

/// The process environment, for [`LoadOptions::env`]. Every value read here is a secret of the run: it is
/// registered with [`crate::redact`] before the manifests ever see it.
pub fn process_env(name: &str) -> Option<String> {
    let value = crate::env::var(name);
    if let Some(v) = &value {
        crate::redact::register(v);
    }
    value
}

/// Load the manifests. On problems, print them (they are the command's output) and return `None`: the command
/// exits 1. `EnvMode::Required` for commands that write what the manifests say (plan, apply, pull); `Deferred`
/// for those that only need names and selections (run, suggest).
pub fn load_manifests(p: &Printer, paths: &[PathBuf], mode: EnvMode) -> Option<Manifests> {
    let opts = LoadOptions { env: &process_env, mode, environment: crate::project::environment() };
    let (warnings, result) = manifest::load_reporting(&crate::project::manifest_paths(paths), &opts);
    for warning in &warnings {
        p.manifest_warning(warning);
    }
    if let Some(path) = p.code_quality_report() {
        write_code_quality_report(p, path, result.as_ref().err());
    }
    match result {
        Ok(loaded) => Some(loaded),
        Err(diagnostics) => {
            p.diagnostics(&diagnostics);
            None
        }
    }
}

/// `--message-format gitlab`: the Code Quality report, an empty array when the manifests are fine (so the
/// artifact always exists and a fixed problem disappears from the merge request).
fn write_code_quality_report(p: &Printer, path: &std::path::Path, diagnostics: Option<&manifest::Diagnostics>) {
    let report = crate::annotations::gitlab(diagnostics.unwrap_or(&manifest::Diagnostics::default()));
    if let Err(err) = std::fs::write(path, report) {
        p.warn(&format!("warning: cannot write the Code Quality report {}: {err}", path.display()));
    }
}

/// Load the manifests for a command that talks to the platform: `${env:NAME}` must be set, and there must be
/// something to talk about.
pub fn load_desired(p: &Printer, paths: &[PathBuf]) -> Result<Option<Manifests>, CliError> {
    let Some(loaded) = load_manifests(p, paths, EnvMode::Required) else {
        return Ok(None);
    };
    if loaded.state.agents.is_empty() && loaded.state.prompts.is_empty() {
        return Err(CliError::new(format!(
            "no manifests found in {}",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ))
        .hint("point evalform at a directory of *.yaml manifests, or create one with `evalform import`"));
    }
    crate::project::announce(p, &loaded.state);
    Ok(Some(loaded))
}

/// What `plan` and `apply` both start from: the manifests, the platform's clients, and the plan between them.
#[derive(Debug)]
pub struct Planned {
    pub loaded: Manifests,
    pub settings: PlanSettings,
    pub remote: evalform::remote::Remote,
    pub plan: evalform::plan::Plan,
    /// The catalogs' names, to show metrics and personalities by name.
    pub names: evalform::render::Names,
}

/// Load the manifests, read the platform and plan. `None`: the manifests did not load (already reported).
/// `fingerprints`: whether the plan will be saved or applied (see [`PlanSettings::fingerprints`]).
pub async fn plan_manifests(
    global: &GlobalArgs,
    p: &Printer,
    paths: &[PathBuf],
    targets: &TargetArgs,
    remote: &crate::cli::RemoteArgs,
    fingerprints: bool,
) -> Result<Option<Planned>, CliError> {
    // The reads that need only ids start now, for the agents and prompts the files' headers name, and run while
    // the manifests load; the loaded state decides which of them are used.
    // Where the time goes, at `-v`: loading, the platform's reads (started before loading), planning.
    let started = std::time::Instant::now();
    let guess = evalform::manifest::scan::scan(paths);
    let (want_cekura, want_tela) = (!guess.agents.is_empty(), !guess.prompts.is_empty());
    let early =
        (want_cekura || want_tela).then(|| crate::connect::remote(remote, global.parallelism, want_cekura, want_tela));
    let prefetch = match &early {
        Some(Ok(r)) => r.prefetch(&guess),
        _ => evalform::remote::Prefetch::default(),
    };
    let Some(loaded) = off_the_runtime(|| load_desired(p, paths))? else {
        return Ok(None);
    };
    let loaded_at = started.elapsed();
    tracing::info!("timing: manifests loaded in {}ms ({})", loaded_at.as_millis(), loaded.summary());
    let settings = PlanSettings { fingerprints, ..plan_settings(targets) };
    let needs = (!loaded.state.agents.is_empty(), !loaded.state.prompts.is_empty());
    // The clients built for the guess are kept (each is built, and says where its settings came from, once).
    let remote = match early {
        Some(Ok(early)) => evalform::remote::Remote {
            cekura: match (needs.0, early.cekura) {
                (false, _) => None,
                (true, Some(client)) => Some(client),
                (true, None) => Some(crate::connect::cekura_client(remote, global.parallelism)?),
            },
            tela: match (needs.1, early.tela) {
                (false, _) => None,
                (true, Some(client)) => Some(client),
                (true, None) => Some(crate::connect::tela_client(remote, global.parallelism)?),
            },
        },
        Some(Err(err)) if needs == (want_cekura, want_tela) => return Err(err),
        _ => crate::connect::remote_for(remote, global.parallelism, &loaded.state)?,
    };
    let snapshot = {
        let _spinner = p.spinner("Reading the platform");
        remote.observe_prefetched(&loaded.state, prefetch).await?
    };
    let read_at = started.elapsed();
    tracing::info!(
        "timing: platform read {}ms after the start ({}ms after loading; the reads start while the manifests load)",
        read_at.as_millis(),
        read_at.saturating_sub(loaded_at).as_millis()
    );
    let plan = evalform::plan::plan(&loaded.state, &snapshot.observed, &settings)?;
    tracing::info!(
        "timing: planned in {}ms ({} changes, {} API calls)",
        started.elapsed().saturating_sub(read_at).as_millis(),
        plan.changes.len(),
        plan.operations.len()
    );
    let names = evalform::render::Names::from_catalogs(&snapshot.observed.catalogs);
    Ok(Some(Planned { loaded, settings, remote, plan, names }))
}

/// Run blocking work (loading manifests) without stalling the tasks of the runtime it is called from, when the
/// runtime has other threads to run them on.
fn off_the_runtime<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
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
