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

use crate::annotations::MessageFormat;
use crate::cli::{ColorChoice, GlobalArgs};
use crate::error::CliError;

/// A running spinner; cleared from the terminal when dropped.
#[derive(Debug)]
pub struct Spinner(Option<indicatif::ProgressBar>);

impl Spinner {
    /// Whether it shows (a terminal, not `-q`): where it does not, the caller prints status lines instead.
    pub fn is_active(&self) -> bool {
        self.0.is_some()
    }

    pub fn set_message(&self, message: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(message.to_string());
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}

/// Where output goes and how it looks, decided once from the global flags and the environment.
#[derive(Debug)]
pub struct Printer {
    quiet: bool,
    color_out: bool,
    color_err: bool,
    stderr_tty: bool,
    stdout_closed: AtomicBool,
    message_format: MessageFormat,
    code_quality_report: std::path::PathBuf,
}

impl Printer {
    pub fn new(global: &GlobalArgs) -> Self {
        let no_color_var = crate::env::var("NO_COLOR").is_some_and(|v| !v.is_empty());
        let (stdout_tty, stderr_tty) = (std::io::stdout().is_terminal(), std::io::stderr().is_terminal());
        let choice = if global.no_color { ColorChoice::Never } else { global.color };
        let (color_out, color_err) = match choice {
            ColorChoice::Always => (true, true),
            ColorChoice::Never => (false, false),
            ColorChoice::Auto if no_color_var => (false, false),
            ColorChoice::Auto => (stdout_tty, stdout_tty && stderr_tty),
        };
        Printer {
            quiet: global.quiet,
            color_out,
            color_err,
            stderr_tty,
            stdout_closed: AtomicBool::new(false),
            message_format: global.message_format.unwrap_or(if crate::env::github_actions() {
                MessageFormat::Github
            } else {
                MessageFormat::Human
            }),
            code_quality_report: global
                .code_quality_report
                .clone()
                .unwrap_or_else(|| crate::annotations::DEFAULT_CODE_QUALITY_REPORT.into()),
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

    /// How manifest problems are reported besides the human text (`--message-format`, or `github` in GitHub
    /// Actions).
    pub fn message_format(&self) -> MessageFormat {
        self.message_format
    }

    /// Where the GitLab Code Quality report goes; `None` unless `--message-format gitlab`.
    pub fn code_quality_report(&self) -> Option<&std::path::Path> {
        (self.message_format == MessageFormat::Gitlab).then_some(self.code_quality_report.as_path())
    }

    /// Manifest problems: the human text on stderr, and with `--message-format github` the workflow annotations
    /// too (on stderr, which the runner reads as well, so a plan on stdout stays clean).
    pub fn diagnostics(&self, diagnostics: &evalform::manifest::Diagnostics) {
        self.stderr(&diagnostics.render(self.color_err));
        if self.message_format == MessageFormat::Github {
            self.stderr(&crate::annotations::github(diagnostics));
        }
    }

    /// A warning about the manifests (a skipped file, a shadowed default): a `warning:` line, and with
    /// `--message-format github` a workflow warning too, so it shows on the pull request.
    pub fn manifest_warning(&self, message: &str) {
        self.warn(&format!("warning: {message}"));
        if self.message_format == MessageFormat::Github {
            self.stderr(&format!("{}\n", crate::annotations::github_warning(message)));
        }
    }

    /// A located warning about a manifest (a default no evaluator uses): the human line, and under
    /// `--message-format github` a `::warning file=…,line=…` annotation shown on the pull request's diff.
    pub fn diagnostic_warning(&self, d: &evalform::manifest::Diagnostic) {
        let help = d.help.as_deref().map(|h| format!(" (help: {h})")).unwrap_or_default();
        self.warn(&format!("warning: {}: {}{help}", d.location(), d.message));
        if self.message_format == MessageFormat::Github {
            let line = crate::annotations::github_line(d, crate::annotations::Level::Warning);
            self.stderr(&format!("{line}\n"));
        }
    }

    /// The error a command ended with.
    pub fn error(&self, err: &CliError) {
        self.stderr(&format!("{err}\n"));
    }

    /// A spinner with `message` on stderr while the returned guard lives, on a terminal only and never with `-q`;
    /// it leaves nothing behind when dropped. Long waits (reading the platform, verifying, polling) show one so a
    /// terminal is never blank for seconds.
    pub fn spinner(&self, message: &str) -> Spinner {
        if self.quiet || !self.stderr_tty {
            return Spinner(None);
        }
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.set_message(message.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Spinner(Some(bar))
    }

    /// Whether a write to stdout failed because its reader went away.
    pub fn stdout_closed(&self) -> bool {
        self.stdout_closed.load(Ordering::Relaxed)
    }
}
