//! `evalform plan`: load the manifests, read the platform, print the plan; optionally save it for `apply --plan`.
//!
//! The plan goes to stdout in the chosen format; warnings and hints go to stderr. With `--detailed-exitcode` the
//! exit code tells "no changes" (0) from "changes" (2).

use evalform::apply::saved::SavedPlan;

use crate::cli::{GlobalArgs, PlanArgs, PlanFormat};
use crate::error::{CliError, Outcome};
use crate::printer::Printer;

pub async fn run(global: &GlobalArgs, p: &Printer, args: PlanArgs) -> Result<Outcome, CliError> {
    let Some(super::Planned { loaded, settings, plan, names, .. }) =
        super::plan_manifests(global, p, &args.paths.paths, &args.targets, &args.remote, args.out.is_some()).await?
    else {
        return Ok(Outcome::Failure);
    };

    let changes = !plan.is_empty();
    // Saved and executed with the ids; shown with names. The saved text is made first, so that the plan can then be
    // shown without a copy; it is written after the plan is shown, as before.
    let saved = match &args.out {
        Some(out) => Some((out, saved_text(&plan, &loaded.files, &settings, &names))),
        None => None,
    };
    let shown = evalform::render::named(plan, &names);
    match args.format {
        PlanFormat::Text => p.data(&evalform::render::text(&shown, p.color())),
        PlanFormat::Json => {
            p.data_line(&serde_json::to_string_pretty(&evalform::render::json(&shown)).unwrap_or_else(|_| "{}".into()))
        }
        PlanFormat::Markdown => p.data(&evalform::render::markdown(&shown)),
    }
    drop(shown);
    if let Some((out, text)) = saved {
        let text = text?;
        // Scrubbed like every other output: a secret value quoted by the platform's side of a change stays out.
        let scrubbed = crate::redact::scrub(&text);
        if changes_what_apply_sends(&text, &scrubbed) {
            return Err(CliError::new(format!(
                "the plan was not saved to {}: a secret value of this run appears in clear in what apply would send \
                 (the manifests or an API call), so a plan file would either hold the secret or change the call",
                out.display()
            ))
            .hint(
                "write the value as `${env:NAME}` wherever it appears, or run `evalform apply` without a saved plan",
            ));
        }
        evalform::fsutil::write_atomic(out, scrubbed.as_bytes())
            .map_err(|e| CliError::new(format!("cannot write the plan to {}: {}", out.display(), e.error)))?;
        p.status(&format!(
            "Saved the plan to {}. Apply it exactly with: evalform apply --plan {}",
            out.display(),
            out.display()
        ));
    }
    Ok(if args.detailed_exitcode && changes { Outcome::Changes } else { Outcome::Success })
}

/// The plan file's text, before scrubbing: the plan with its ids, the manifests it was made from, and the names
/// for `show`.
fn saved_text(
    plan: &evalform::plan::Plan,
    files: &[evalform::manifest::ManifestFile],
    settings: &evalform::plan::PlanSettings,
    names: &evalform::render::Names,
) -> Result<String, CliError> {
    let mut saved = SavedPlan::new(plan.clone(), files, &settings.targets, &settings.excludes);
    saved.environment = crate::project::env_name().map(str::to_string);
    saved.names = names.clone();
    Ok(saved.to_text()?)
}

/// Whether masking secrets changed the part of a saved plan that `apply --plan` executes (the manifests and the
/// API calls), rather than only what is shown (the changes' old values).
fn changes_what_apply_sends(original: &str, scrubbed: &str) -> bool {
    if original == scrubbed {
        return false;
    }
    let (Ok(a), Ok(b)) =
        (serde_json::from_str::<serde_json::Value>(original), serde_json::from_str::<serde_json::Value>(scrubbed))
    else {
        return true;
    };
    a.get("manifests") != b.get("manifests")
        || a.pointer("/plan/operations") != b.pointer("/plan/operations")
        || a.pointer("/plan/fingerprints") != b.pointer("/plan/fingerprints")
}
