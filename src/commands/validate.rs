//! `evalform validate`: load the manifests offline and report every problem, or a one-line summary.
//!
//! Problems go to stderr (they are diagnostics); the `ok:` summary goes to stdout (it is the command's result) and
//! is left out with `-q`. Unset `${env:...}` variables are fine here: only `plan` and `apply` need their values.

use std::io::IsTerminal;

use crate::cli::{GlobalArgs, PathArgs};
use crate::error::{CliError, Outcome};
use crate::manifest::{self, EnvMode, LoadOptions};

pub async fn run(global: &GlobalArgs, args: PathArgs) -> Result<Outcome, CliError> {
    let opts = LoadOptions { env: &manifest::process_env, mode: EnvMode::Deferred };
    match manifest::load(&args.paths, &opts) {
        Ok(loaded) => {
            if !global.quiet {
                println!("ok: {}", loaded.summary());
            }
            Ok(Outcome::Success)
        }
        Err(diagnostics) => {
            let color = crate::cli::color_enabled(global) && std::io::stderr().is_terminal();
            eprint!("{}", diagnostics.render(color));
            Ok(Outcome::Failure)
        }
    }
}
