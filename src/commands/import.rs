//! `evalform import`.

use crate::cli::{GlobalArgs, ImportArgs};
use crate::error::{CliError, Outcome};

pub async fn run(_global: &GlobalArgs, _args: ImportArgs) -> Result<Outcome, CliError> {
    crate::cli::not_built("import", "issue 6")
}
