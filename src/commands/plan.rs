//! `evalform plan`.

use crate::cli::{GlobalArgs, PlanArgs};
use crate::error::{CliError, Outcome};

pub async fn run(_global: &GlobalArgs, _args: PlanArgs) -> Result<Outcome, CliError> {
    crate::cli::not_built("plan", "issue 4")
}
