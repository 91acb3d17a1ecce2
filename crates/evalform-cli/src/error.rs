//! The error a command ends with, as the user sees it: one `error:` line, `caused by:` lines, `hint:` lines.
//!
//! The library's errors are `thiserror` enums with context as fields; this type is where they meet the
//! terminal. Each library error type has one `From` impl below, and that impl is where its hints are chosen, by
//! variant (never by matching message text). It must never carry a secret: messages are built from addresses,
//! paths and the platform's own messages, never from request bodies.

use std::fmt;

use evalform::apply::saved::SavedPlanError;
use evalform::apply::ApplyError;
use evalform::cekura::FetchError;
use evalform::format::FormatError;
use evalform::fsutil::WriteError;
use evalform::http::ApiError;
use evalform::import::ImportError;
use evalform::plan::PlanErrors;
use evalform::remote::{ObserveError, ReadError};

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

impl CliError {
    fn maybe_hint(self, hint: Option<&str>) -> Self {
        match hint {
            Some(h) => self.hint(h),
            None => self,
        }
    }
}

/// What the user can do about a failed API call, for the `hint:` line.
pub fn api_hint(err: &ApiError) -> Option<String> {
    match err {
        ApiError::MissingKey { platform: "cekura", variable } => {
            Some(format!("export {variable}=... (or run `evalform demo` to try evalform without a key)"))
        }
        ApiError::MissingKey { variable, .. } => Some(format!("export {variable}=...")),
        ApiError::Rejected { status: 401 | 403, .. } => {
            Some("check the API key (CEKURA_API_KEY or TELA_API_KEY) and that it may access this agent".into())
        }
        ApiError::OutcomeUnknown { .. } => Some(
            "evalform does not resend a write whose outcome is unknown; run `evalform plan` to see what the \
             platform has now"
                .into(),
        ),
        ApiError::Unavailable { .. } => Some("the platform is unreachable or overloaded; try again later".into()),
        _ => None,
    }
}

impl From<ApiError> for CliError {
    fn from(err: ApiError) -> Self {
        let hint = api_hint(&err);
        CliError::from_error(&err).maybe_hint(hint.as_deref())
    }
}

impl From<FetchError> for CliError {
    fn from(err: FetchError) -> Self {
        let hint = match &err {
            FetchError::Api { source, .. } => api_hint(source),
            _ => None,
        };
        CliError::from_error(&err).maybe_hint(hint.as_deref())
    }
}

impl From<ReadError> for CliError {
    fn from(err: ReadError) -> Self {
        let hint = match &err.source {
            FetchError::Api { source, .. } if source.status() == Some(404) => {
                let key = err.target.key();
                Some(format!("check `{key}` in the manifests: the platform has no such {}", key.replace('.', " ")))
            }
            FetchError::Api { source, .. } => api_hint(source),
            FetchError::ProjectMismatch { .. } => {
                Some("correct `project:` in the manifests, or leave it out: evalform reads the agent's project".into())
            }
            _ => None,
        };
        CliError::from_error(&err.source).maybe_hint(hint.as_deref())
    }
}

impl From<ObserveError> for CliError {
    fn from(err: ObserveError) -> Self {
        match err {
            ObserveError::Reads(reads) => {
                let n = reads.len();
                let mut reads = reads.into_iter().map(CliError::from);
                let Some(mut first) = reads.next() else { return CliError::new("reading the platform failed") };
                if n > 1 {
                    first.causes.extend(reads.map(|e| e.message));
                    first.message = format!("{n} reads failed; the first: {}", first.message);
                }
                first
            }
            other => CliError::from_error(&other),
        }
    }
}

impl From<PlanErrors> for CliError {
    fn from(errors: PlanErrors) -> Self {
        let n = errors.0.len();
        let mut out = CliError::new(format!("cannot plan: {n} problem{}", if n == 1 { "" } else { "s" }));
        for e in &errors.0 {
            out = out.cause(e.to_string());
        }
        if errors.0.iter().any(|e| matches!(e, evalform::plan::PlanError::PatternMatchesNothing { .. })) {
            out = out.hint(
                "patterns are globs on a resource's name or address (`Order*`, `cekura.agent[12].*`); \
                 see docs/planning.md",
            );
        }
        out
    }
}

impl From<ApplyError> for CliError {
    fn from(err: ApplyError) -> Self {
        match err {
            ApplyError::Observe(e) => e.into(),
            ApplyError::Replan(e) => {
                CliError::from_error(&e).hint("the platform changed during apply; run `evalform plan`")
            }
        }
    }
}

impl From<SavedPlanError> for CliError {
    fn from(err: SavedPlanError) -> Self {
        let out = CliError::new(err.to_string());
        match err {
            SavedPlanError::NotAPlan { .. } => out.hint("make one with `evalform plan --out FILE`"),
            SavedPlanError::Version { .. } => out.hint("plan again with this version of evalform"),
            SavedPlanError::Unseal { problems, .. } => {
                let mut out = out;
                for p in problems {
                    out = out.cause(p);
                }
                out.hint("set the same variables as when the plan was made, or plan again")
            }
            SavedPlanError::Locked { lock, .. } => out.hint(format!(
                "wait for it to end; if no apply of this plan is running (it was killed), remove {}",
                lock.display()
            )),
            _ => out,
        }
    }
}

impl From<ImportError> for CliError {
    fn from(err: ImportError) -> Self {
        let out = CliError::from_error(&err);
        match err {
            ImportError::Exists { .. } => out.hint("pass --force to overwrite, or choose another directory with --out"),
            ImportError::Io { .. } => out,
        }
    }
}

impl From<FormatError> for CliError {
    fn from(err: FormatError) -> Self {
        let out = CliError::from_error(&err);
        match err {
            FormatError::Unsupported { .. } => {
                out.hint("the file is left as it is; write it without YAML aliases, as one mapping of keys")
            }
            FormatError::WouldChangeMeaning { .. } => {
                out.hint("the file is left as it is; this is a bug in `evalform fmt`, please report it with the file")
            }
        }
    }
}

impl From<WriteError> for CliError {
    fn from(err: WriteError) -> Self {
        CliError::from_error(&err)
    }
}

/// How a command ended, mapped to the process exit code by `cli::main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 2: success, and there are changes (only with `--detailed-exitcode`).
    Changes,
    /// Exit 1, after the command has already printed why (a failed validation, failed runs).
    Failure,
    /// Exit 130, as a process stopped by SIGINT: a second Ctrl-C stopped the command at once, after it said so.
    Stopped,
}
