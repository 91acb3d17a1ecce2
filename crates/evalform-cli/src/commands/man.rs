//! `evalform man`: the roff man page generated from the clap definitions in `cli`.
//!
//! Without flags it prints `evalform.1` to stdout (`evalform man | man -l -`); with `--out-dir DIR` it writes
//! `evalform.1` and one `evalform-COMMAND.1` per visible command, for packagers. It never writes anywhere else and
//! holds no text of its own: every word comes from the help texts, so the page cannot drift from the binary.

use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};
use crate::error::{CliError, Outcome};
use crate::printer::Printer;

pub fn run(p: &Printer, args: ManArgs) -> Result<Outcome, CliError> {
    // `evalform help` is clap's, adds nothing to a man page, and would name a page that is never written.
    let command = Cli::command().disable_help_subcommand(true);
    if let Some(dir) = args.out_dir {
        return match clap_mangen::generate_to(command, &dir) {
            Ok(()) => Ok(Outcome::Success),
            Err(err) => Err(CliError::new(format!("cannot write the man pages into {}", dir.display()))
                .cause(err.to_string())
                .hint("the directory must exist and be writable")),
        };
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut page)
        .map_err(|err| CliError::new("cannot render the man page").cause(err.to_string()))?;
    p.data(&String::from_utf8_lossy(&page));
    Ok(Outcome::Success)
}
