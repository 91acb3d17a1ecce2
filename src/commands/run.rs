//! `evalform run`.

use crate::cli::{GlobalArgs, RunArgs};
use crate::error::{CliError, Outcome};

pub async fn run(_global: &GlobalArgs, _args: RunArgs) -> Result<Outcome, CliError> {
    crate::cli::not_built("run", "issue 7")
}
