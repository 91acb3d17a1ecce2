//! `evalform validate`.

use crate::cli::{GlobalArgs, PathArgs};
use crate::error::{CliError, Outcome};

pub async fn run(_global: &GlobalArgs, _args: PathArgs) -> Result<Outcome, CliError> {
    crate::cli::not_built("validate", "issue 2")
}
