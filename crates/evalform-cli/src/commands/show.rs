//! `evalform show FILE`: a saved plan rendered as `plan` renders one, offline. Its sensitive values stay sealed
//! (they print as `(sensitive)` anyway), so no variable and no key is needed.

use evalform::apply::saved::SavedPlan;

use crate::cli::{PlanFormat, ShowArgs};
use crate::error::{CliError, Outcome};
use crate::printer::Printer;

pub fn run(p: &Printer, args: ShowArgs) -> Result<Outcome, CliError> {
    let saved = SavedPlan::read_sealed(&args.file)?;
    let plan = &evalform::render::named(saved.plan, &saved.names);
    if let Some(env) = &saved.environment {
        p.status(&format!("A plan for environment {env}, made by evalform {}.", saved.evalform_version));
    }
    match args.format {
        PlanFormat::Text => p.data(&evalform::render::text(plan, p.color())),
        PlanFormat::Json => {
            p.data_line(&serde_json::to_string_pretty(&evalform::render::json(plan)).unwrap_or_else(|_| "{}".into()))
        }
        PlanFormat::Markdown => p.data(&evalform::render::markdown(plan)),
    }
    Ok(Outcome::Success)
}
