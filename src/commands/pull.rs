//! `evalform pull`: read the platform, and edit the manifests in place so that they describe it.
//!
//! The edits come from [`crate::pull`] and are applied by [`crate::edit`]; this file only loads, reads the
//! platform, checks that the edited manifests still load, and prints or writes. With `--dry-run` the unified diff
//! goes to stdout and nothing is written. What could not be placed goes to stderr with hints; it does not change
//! the exit code (pull did what it could), see docs/pull.md.

use std::path::PathBuf;

use crate::cli::{GlobalArgs, PullArgs};
use crate::error::{CliError, Outcome};
use crate::manifest::{self, EnvMode, LoadOptions, ManifestFile};
use crate::pull::{DefaultsChoice, PullOptions};
use crate::remote::Remote;

pub async fn run(global: &GlobalArgs, args: PullArgs) -> Result<Outcome, CliError> {
    let Some(loaded) = super::load_desired(global, &args.paths.paths)? else {
        return Ok(Outcome::Failure);
    };
    let remote = Remote::connect(&args.remote, global.parallelism, &loaded.state)?;
    let snapshot = remote.observe(&loaded.state).await?;
    let defaults = match (args.r#override, args.default) {
        (true, _) => DefaultsChoice::Override,
        (_, true) => DefaultsChoice::Default,
        _ => DefaultsChoice::Report,
    };
    let pulled = crate::pull::pull(&loaded, &snapshot.observed, &PullOptions { defaults });

    // Apply every file's edits in memory first, and check the result still loads, before writing any of them.
    let mut edited: Vec<(PathBuf, String, String, usize)> = Vec::new();
    for f in &pulled.files {
        let Some(file) = loaded.files.iter().find(|m| m.path == f.path) else { continue };
        let after = crate::edit::apply(&file.text, &f.edits).map_err(|e| {
            CliError::new(format!("cannot edit {}", f.path.display()))
                .cause(e.to_string())
                .hint("this is a bug in evalform; please report it with the manifest's shape (not its secrets)")
        })?;
        if after != file.text {
            edited.push((f.path.clone(), file.text.clone(), after, f.edits.len()));
        }
    }
    let files: Vec<ManifestFile> = loaded
        .files
        .iter()
        .map(|m| match edited.iter().find(|(p, ..)| *p == m.path) {
            Some((_, _, after, _)) => ManifestFile { path: m.path.clone(), text: after.clone() },
            None => m.clone(),
        })
        .collect();
    let opts = LoadOptions { env: &manifest::process_env, mode: EnvMode::Required };
    if let Err(problems) = manifest::load_texts(files, &opts) {
        let mut err = CliError::new("the edited manifests would not load; nothing was written")
            .hint("this is a bug in evalform; run with --dry-run to see the edit, and please report it");
        for line in problems.render(false).lines().filter(|l| !l.trim().is_empty()).take(10) {
            err = err.cause(line.to_string());
        }
        return Err(err);
    }

    for (path, before, after, n) in &edited {
        let shown = path.display().to_string();
        if args.dry_run {
            print!("{}", crate::edit::unified_diff(&shown, before, after));
        } else {
            crate::import::write_atomically(path, after.as_bytes()).map_err(|e| CliError::from_error(&e))?;
            if !global.quiet {
                eprintln!("updated {shown} ({n} change{})", if *n == 1 { "" } else { "s" });
            }
        }
    }
    if edited.is_empty() && pulled.not_placed.is_empty() && !global.quiet {
        eprintln!("Nothing to pull: the manifests describe the platform.");
    }
    if !pulled.not_placed.is_empty() {
        let n = pulled.not_placed.len();
        eprintln!(
            "warning: {n} platform change{} not placed in the manifests:",
            if n == 1 { " was" } else { "s were" }
        );
        for item in &pulled.not_placed {
            eprintln!("  {item}");
            if let Some(h) = &item.hint {
                eprintln!("    hint: {h}");
            }
        }
    }
    Ok(Outcome::Success)
}
