//! `evalform plan`: load the manifests, read the platform, print the plan; optionally save it for `apply --plan`.
//!
//! The plan goes to stdout in the chosen format; warnings and hints go to stderr. With `--detailed-exitcode` the
//! exit code tells "no changes" (0) from "changes" (2).

use crate::apply::saved::SavedPlan;
use crate::cli::{GlobalArgs, PlanArgs, PlanFormat};
use crate::error::{CliError, Outcome};
use crate::remote::Remote;

pub async fn run(global: &GlobalArgs, args: PlanArgs) -> Result<Outcome, CliError> {
    let Some(loaded) = super::load_desired(global, &args.paths.paths)? else {
        return Ok(Outcome::Failure);
    };
    let settings = super::plan_settings(&args.targets);
    let remote = Remote::connect(&args.remote, global.parallelism, &loaded.state)?;
    let snapshot = remote.observe(&loaded.state).await?;
    let plan = crate::plan::plan(&loaded.state, &snapshot.observed, &settings).map_err(super::plan_errors)?;

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
