//! `evalform demo`.

use crate::cli::GlobalArgs;
use crate::error::{CliError, Outcome};

pub async fn run(_global: &GlobalArgs) -> Result<Outcome, CliError> {
    crate::cli::not_built("demo", "issue 5")
}
