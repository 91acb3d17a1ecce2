//! The one owner of stdout and stderr. Every command prints through a [`Printer`]: data (a plan, JSON, a diff) to
//! stdout, status lines, warnings and errors to stderr, nothing but data and errors with `-q`, colour only where
//! it was asked for and the stream is a terminal.
//!
//! A closed stdout (`evalform plan | head -1`) is not an error: the first failed write is remembered, nothing more
//! is written to stdout, and the command ends with the exit status a shell expects of a process whose reader went
//! away (141, as after SIGPIPE), instead of a panic.
//!
//! Every string passes through [`crate::redact::scrub`] on its way out: a secret value of the run never shows,
//! whichever field or message it hides in.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cli::GlobalArgs;
use crate::error::CliError;

/// Where output goes and how it looks, decided once from the global flags and the environment.
#[derive(Debug)]
pub struct Printer {
    quiet: bool,
    color_out: bool,
    color_err: bool,
    stderr_tty: bool,
    stdout_closed: AtomicBool,
}

impl Printer {
    pub fn new(global: &GlobalArgs) -> Self {
        let allowed = !global.no_color && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Printer {
            quiet: global.quiet,
            color_out: allowed && std::io::stdout().is_terminal(),
            color_err: allowed && std::io::stdout().is_terminal() && std::io::stderr().is_terminal(),
            stderr_tty: std::io::stderr().is_terminal(),
            stdout_closed: AtomicBool::new(false),
        }
    }

    /// Colour for what goes to stdout.
    pub fn color(&self) -> bool {
        self.color_out
    }

    /// Colour for what goes to stderr (diagnostics).
    pub fn stderr_color(&self) -> bool {
        self.color_err
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Whether stderr is a terminal (progress bars, prompts).
    pub fn stderr_is_terminal(&self) -> bool {
        self.stderr_tty
    }

    /// Data for stdout, exactly as given but for the secrets of the run ([`crate::redact`]).
    pub fn data(&self, text: &str) {
        if self.stdout_closed.load(Ordering::Relaxed) {
            return;
        }
        let text = crate::redact::scrub(text);
        let mut out = std::io::stdout().lock();
        if out.write_all(text.as_bytes()).and_then(|()| out.flush()).is_err() {
            self.stdout_closed.store(true, Ordering::Relaxed);
        }
    }

    /// A line of data for stdout.
    pub fn data_line(&self, line: &str) {
        self.data(&format!("{line}\n"));
    }

    /// A status line for stderr (progress, what was written, the next step); nothing with `-q`.
    pub fn status(&self, line: &str) {
        if !self.quiet {
            self.stderr(&format!("{line}\n"));
        }
    }

    /// A warning on stderr, shown even with `-q`: it is about the result, not the progress.
    pub fn warn(&self, line: &str) {
        self.stderr(&format!("{line}\n"));
    }

    /// Text for stderr as given but for the secrets of the run (diagnostics, a prompt), shown even with `-q`.
    pub fn stderr(&self, text: &str) {
        let text = crate::redact::scrub(text);
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
    }

    /// The error a command ended with.
    pub fn error(&self, err: &CliError) {
        self.stderr(&format!("{err}\n"));
    }

    /// Whether a write to stdout failed because its reader went away.
    pub fn stdout_closed(&self) -> bool {
        self.stdout_closed.load(Ordering::Relaxed)
    }
}
