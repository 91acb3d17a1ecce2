//! `evalform plan`: load the manifests, read the platform, print the plan; optionally save it for `apply --plan`.
//!
//! The plan goes to stdout in the chosen format; warnings and hints go to stderr. With `--detailed-exitcode` the
//! exit code tells "no changes" (0) from "changes" (2).

use evalform::apply::saved::SavedPlan;

use crate::cli::{GlobalArgs, PlanArgs, PlanFormat};
use crate::error::{CliError, Outcome};
use crate::printer::Printer;

pub async fn run(global: &GlobalArgs, p: &Printer, args: PlanArgs) -> Result<Outcome, CliError> {
    let Some(super::Planned { loaded, settings, plan, .. }) =
        super::plan_manifests(global, p, &args.paths.paths, &args.targets, &args.remote).await?
    else {
        return Ok(Outcome::Failure);
    };

    match args.format {
        PlanFormat::Text => p.data(&evalform::render::text(&plan, p.color())),
        PlanFormat::Json => {
            p.data_line(&serde_json::to_string_pretty(&evalform::render::json(&plan)).unwrap_or_else(|_| "{}".into()))
        }
        PlanFormat::Markdown => p.data(&evalform::render::markdown(&plan)),
    }
    if let Some(out) = &args.out {
        let mut saved = SavedPlan::new(plan.clone(), &loaded.files, &settings.targets, &settings.excludes);
        saved.environment = crate::project::env_name().map(str::to_string);
        saved.write(out)?;
        p.status(&format!(
            "Saved the plan to {}. Apply it exactly with: evalform apply --plan {}",
            out.display(),
            out.display()
        ));
    }
    Ok(if args.detailed_exitcode && !plan.is_empty() { Outcome::Changes } else { Outcome::Success })
}
