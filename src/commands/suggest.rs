//! `evalform suggest`.

use crate::cli::{GlobalArgs, SuggestArgs};
use crate::error::{CliError, Outcome};

pub async fn run(_global: &GlobalArgs, _args: SuggestArgs) -> Result<Outcome, CliError> {
    crate::cli::not_built("suggest", "issue 7")
}
