//! `evalform pull`.

use crate::cli::{GlobalArgs, PullArgs};
use crate::error::{CliError, Outcome};

pub async fn run(_global: &GlobalArgs, _args: PullArgs) -> Result<Outcome, CliError> {
    crate::cli::not_built("pull", "issue 11")
}
