//! `evalform demo`: the walkthrough of `crate::demo`, printed to stdout.

use crate::cli::GlobalArgs;
use crate::error::{CliError, Outcome};

pub async fn run(_global: &GlobalArgs) -> Result<Outcome, CliError> {
    let mut out = String::new();
    let result = crate::demo::run(&mut out).await;
    print!("{out}");
    result.map(|()| Outcome::Success)
}
