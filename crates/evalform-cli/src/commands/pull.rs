//! `evalform pull`: read the platform, and edit the manifests in place so that they describe it.
//!
//! The edits come from [`evalform::pull`] and are applied by [`evalform::yaml::edit`]; this file only loads, reads the
//! platform, checks that the edited manifests still load, and prints or writes. With `--dry-run` the unified diff
//! goes to stdout and nothing is written. What could not be placed goes to stderr with hints; it does not change
//! the exit code (pull did what it could), see docs/pull.md.

use std::collections::BTreeMap;

use evalform::manifest::{EnvMode, LoadOptions};
use evalform::pull::{DefaultsChoice, PullOptions};
use evalform::writeback::{self, WritebackError};

use crate::cli::{GlobalArgs, PullArgs};
use crate::error::{CliError, Outcome};
use crate::printer::Printer;

pub async fn run(global: &GlobalArgs, p: &Printer, args: PullArgs) -> Result<Outcome, CliError> {
    let Some(loaded) = super::load_desired(p, &args.paths.paths)? else {
        return Ok(Outcome::Failure);
    };
    let remote = crate::connect::remote_for(&args.remote, global.parallelism, &loaded.state)?;
    let snapshot = {
        let _spinner = p.spinner("Reading the platform");
        remote.observe(&loaded.state).await?
    };
    let defaults = match (args.r#override, args.default) {
        (true, _) => DefaultsChoice::Override,
        (_, true) => DefaultsChoice::Default,
        _ => DefaultsChoice::Report,
    };
    // Pull finds each agent's files by their `agent:` id: names of the environment are shown to it as ids.
    let for_pull = match crate::project::environment() {
        Some(env) => evalform::manifest::Manifests {
            state: loaded.state.clone(),
            files: evalform::project::with_ids(&loaded.files, env),
            warnings: Vec::new(),
            shadowed: Vec::new(),
        },
        None => loaded.clone(),
    };
    let pulled = evalform::pull::pull(&for_pull, &snapshot.observed, &PullOptions { defaults });

    // Every file's edits are applied in memory first, and the result must still load, before any is written.
    let edits: BTreeMap<_, _> = pulled.files.iter().map(|f| (f.path.clone(), f.edits.clone())).collect();
    let opts =
        LoadOptions { env: &super::process_env, mode: EnvMode::Required, environment: crate::project::environment() };
    let edited = writeback::edit_manifests(&loaded.files, &edits, &opts).map_err(|e| match e {
        WritebackError::Edit { path, source } => CliError::new(format!("cannot edit {}", path.display()))
            .cause(source.to_string())
            .hint("this is a bug in evalform; please report it with the manifest's shape (not its secrets)"),
        WritebackError::WouldNotLoad(problems) => {
            let mut err = CliError::new("the edited manifests would not load; nothing was written")
                .hint("this is a bug in evalform; run with --dry-run to see the edit, and please report it");
            for line in problems.render(false).lines().filter(|l| !l.trim().is_empty()).take(10) {
                err = err.cause(line.to_string());
            }
            err
        }
    })?;

    // A text written with `${var:NAME}` holds the environment's value on the platform: pulling it would replace the
    // reference with one environment's value and break the others. Refused before anything is written.
    if !args.dry_run {
        let lost: Vec<String> = edited
            .iter()
            .filter(|f| f.after.matches("${var:").count() < f.before.matches("${var:").count())
            .map(|f| f.path.display().to_string())
            .collect();
        if !lost.is_empty() {
            return Err(CliError::new(format!(
                "pull would replace `${{var:...}}` references with the values of environment `{}`; nothing was written",
                crate::project::env_name().unwrap_or("?")
            ))
            .cause(format!("in {}", lost.join(", ")))
            .hint("see the edit with `evalform pull --dry-run` and make it by hand, keeping the references"));
        }
    }
    for file in &edited {
        if args.dry_run {
            p.data(&file.diff());
        } else {
            writeback::write(file)?;
            let n = file.edits;
            p.status(&format!("updated {} ({n} change{})", file.path.display(), if n == 1 { "" } else { "s" }));
        }
    }
    if edited.is_empty() && pulled.not_placed.is_empty() {
        p.status("Nothing to pull: the manifests describe the platform.");
    }
    if !pulled.not_placed.is_empty() {
        let n = pulled.not_placed.len();
        p.warn(&format!(
            "warning: {n} platform change{} not placed in the manifests:",
            if n == 1 { " was" } else { "s were" }
        ));
        for item in &pulled.not_placed {
            p.warn(&format!("  {item}"));
            if let Some(h) = &item.hint {
                p.warn(&format!("    hint: {h}"));
            }
        }
    }
    Ok(Outcome::Success)
}
