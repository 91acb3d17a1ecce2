//! `evalform validate`: load the manifests offline and report every problem, or a one-line summary.
//!
//! Problems go to stderr (they are diagnostics); the `ok:` summary goes to stdout (it is the command's result) and
//! is left out with `-q`. Unset `${env:...}` variables are fine here: only `plan` and `apply` need their values.

use evalform::manifest::EnvMode;

use crate::cli::{GlobalArgs, PathArgs};
use crate::error::{CliError, Outcome};
use crate::printer::Printer;

pub async fn run(_global: &GlobalArgs, p: &Printer, args: PathArgs) -> Result<Outcome, CliError> {
    let Some(loaded) = super::load_manifests(p, &args.paths, EnvMode::Deferred) else {
        return Ok(Outcome::Failure);
    };
    for d in &loaded.shadowed {
        p.diagnostic_warning(d);
    }
    if !p.is_quiet() {
        p.data_line(&format!("ok: {}", loaded.summary()));
    }
    Ok(Outcome::Success)
}
