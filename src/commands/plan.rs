//! `evalform plan`: load the manifests, read the platform, print the plan; optionally save it for `apply --plan`.
//!
//! The plan goes to stdout in the chosen format; warnings and hints go to stderr. With `--detailed-exitcode` the
//! exit code tells "no changes" (0) from "changes" (2).

use crate::apply::saved::SavedPlan;
use crate::cli::{GlobalArgs, PlanArgs, PlanFormat};
use crate::error::{CliError, Outcome};

pub async fn run(global: &GlobalArgs, args: PlanArgs) -> Result<Outcome, CliError> {
    let Some(super::Planned { loaded, settings, plan, .. }) =
        super::plan_manifests(global, &args.paths.paths, &args.targets, &args.remote).await?
    else {
        return Ok(Outcome::Failure);
    };

    let color = crate::cli::color_enabled(global);
    match args.format {
        PlanFormat::Text => print!("{}", crate::render::text(&plan, color)),
        PlanFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&crate::render::json(&plan)).unwrap_or_else(|_| "{}".into()))
        }
        PlanFormat::Markdown => print!("{}", crate::render::markdown(&plan)),
    }
    if let Some(out) = &args.out {
        SavedPlan::new(plan.clone(), &loaded.files, &settings.targets, &settings.excludes).write(out)?;
        if !global.quiet {
            eprintln!(
                "Saved the plan to {}. Apply it exactly with: evalform apply --plan {}",
                out.display(),
                out.display()
            );
        }
    }
    Ok(if args.detailed_exitcode && !plan.is_empty() { Outcome::Changes } else { Outcome::Success })
}
