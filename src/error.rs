//! The error a command ends with, as the user sees it: one `error:` line, `caused by:` lines, `hint:` lines.
//!
//! Library modules keep their own `thiserror` enums with context as fields; this type is where they meet the
//! terminal. It must never carry a secret: messages are built from addresses, paths and the platform's own
//! messages, never from request bodies.

use std::fmt;

/// An error that ends a command with exit code 1.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub causes: Vec<String>,
    pub hints: Vec<String>,
}

impl CliError {
    pub fn new(message: impl Into<String>) -> Self {
        CliError { message: message.into(), causes: Vec::new(), hints: Vec::new() }
    }

    pub fn cause(mut self, cause: impl Into<String>) -> Self {
        self.causes.push(cause.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Build from any error, walking its `source()` chain into `caused by:` lines.
    pub fn from_error(err: &(dyn std::error::Error + 'static)) -> Self {
        let mut out = CliError::new(err.to_string());
        let mut source = err.source();
        while let Some(s) = source {
            out.causes.push(s.to_string());
            source = s.source();
        }
        out
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        for c in &self.causes {
            write!(f, "\ncaused by: {c}")?;
        }
        for h in &self.hints {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

/// How a command ended, mapped to the process exit code by `cli::main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 2: success, and there are changes (only with `--detailed-exitcode`).
    Changes,
    /// Exit 1, after the command has already printed why (a failed validation, failed runs).
    Failure,
}
