//! `evalform completions SHELL`: print a completion script generated from the clap definitions in `cli`.
//!
//! The script is derived, never hand-written, so it cannot fall behind the flags. It prints to stdout only and
//! touches no file: where the script goes is the user's (or the packager's) choice, shown in `docs/ci.md`.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, GlobalArgs};
use crate::error::{CliError, Outcome};

pub fn run(_global: &GlobalArgs, args: CompletionsArgs) -> Result<Outcome, CliError> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "evalform", &mut script);
    write_stdout(&script)
}

/// Write all of `bytes` to stdout; a closed pipe (`| head`) is the reader's choice, not an error.
fn write_stdout(bytes: &[u8]) -> Result<Outcome, CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(Outcome::Success),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(Outcome::Success),
        Err(err) => Err(CliError::new("cannot write the completion script to stdout").cause(err.to_string())),
    }
}
