//! `evalform demo`: the walkthrough of `crate::demo`, printed to stdout.

use crate::error::{CliError, Outcome};
use crate::printer::Printer;

pub async fn run(p: &Printer) -> Result<Outcome, CliError> {
    let mut out = String::new();
    let result = crate::demo::run(&mut out).await;
    p.data(&out);
    result.map(|()| Outcome::Success)
}
