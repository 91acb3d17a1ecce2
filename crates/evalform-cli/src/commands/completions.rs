//! `evalform completions SHELL`: print a completion script generated from the clap definitions in `cli`.
//!
//! The script is derived, never hand-written, so it cannot fall behind the flags. It prints to stdout only and
//! touches no file: where the script goes is the user's (or the packager's) choice, shown in `docs/ci.md`.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::{CliError, Outcome};
use crate::printer::Printer;

pub fn run(p: &Printer, args: CompletionsArgs) -> Result<Outcome, CliError> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "evalform", &mut script);
    p.data(&String::from_utf8_lossy(&script));
    Ok(Outcome::Success)
}
