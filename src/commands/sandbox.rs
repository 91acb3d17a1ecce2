//! `evalform sandbox`.

use crate::cli::{GlobalArgs, SandboxArgs};
use crate::error::{CliError, Outcome};

pub async fn run(_global: &GlobalArgs, _args: SandboxArgs) -> Result<Outcome, CliError> {
    crate::cli::not_built("sandbox", "issue 3")
}
