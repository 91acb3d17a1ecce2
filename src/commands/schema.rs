//! `evalform schema`.

use crate::cli::GlobalArgs;
use crate::error::{CliError, Outcome};

pub async fn run(_global: &GlobalArgs) -> Result<Outcome, CliError> {
    crate::cli::not_built("schema", "issue 2")
}
