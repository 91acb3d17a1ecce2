//! `evalform apply`.

use crate::cli::{ApplyArgs, GlobalArgs};
use crate::error::{CliError, Outcome};

pub async fn run(_global: &GlobalArgs, _args: ApplyArgs) -> Result<Outcome, CliError> {
    crate::cli::not_built("apply", "issue 5")
}
