//! `evalform fmt`: rewrite the manifests in the form `import` writes, keeping comments; `--check` writes nothing
//! and shows the diff instead (for CI and pre-commit hooks).
//!
//! The library finds, formats and guards the files; this command writes them, and prints what it did: the diffs
//! of `--check` on stdout (they are its result), the files written, problems and the summary on stderr.

use evalform::format::{self, FormattedFile};
use evalform::manifest::{Diagnostic, EnvMode, LoadOptions};

use crate::annotations::{self, MessageFormat};
use crate::cli::FmtArgs;
use crate::error::{CliError, Outcome};
use crate::printer::Printer;

pub fn run(p: &Printer, args: FmtArgs) -> Result<Outcome, CliError> {
    let opts =
        LoadOptions { env: &super::process_env, mode: EnvMode::Deferred, environment: crate::project::environment() };
    let report = format::format_manifests(&crate::project::manifest_paths(&args.paths.paths), &opts);
    for warning in &report.warnings {
        p.manifest_warning(warning);
    }
    let mut failed = false;
    if let Some(problems) = &report.problems {
        p.diagnostics(problems);
        failed = true;
    }
    for err in report.refused.iter().cloned() {
        p.error(&CliError::from(err));
        failed = true;
    }
    let changed: Vec<&FormattedFile> = report.files.iter().filter(|f| f.changed()).collect();
    let unchanged = report.files.len() - changed.len();
    if args.check {
        for file in &changed {
            p.data(&file.diff());
            if p.message_format() == MessageFormat::Github {
                p.stderr(&format!("{}\n", annotation(file)));
            }
        }
        if !(failed && report.files.is_empty()) {
            p.status(&summary(changed.len(), unchanged, "would be reformatted"));
        }
        return Ok(if failed || !changed.is_empty() { Outcome::Failure } else { Outcome::Success });
    }
    let mut written = 0;
    for file in &changed {
        match format::write(file) {
            Ok(()) => {
                written += 1;
                p.status(&format!("formatted {}", file.path.display()));
            }
            Err(err) => {
                p.error(&CliError::from(err));
                failed = true;
            }
        }
    }
    if !(failed && report.files.is_empty()) {
        p.status(&summary(written, unchanged, "formatted"));
    }
    Ok(if failed { Outcome::Failure } else { Outcome::Success })
}

/// `2 files formatted, 3 already formatted`; `3 files already formatted`; `no manifests to format`.
/// Left out when every file has problems: they are the summary then.
fn summary(changed: usize, unchanged: usize, verb: &str) -> String {
    let files = |n: usize| format!("{n} file{}", if n == 1 { "" } else { "s" });
    match (changed, unchanged) {
        (0, 0) => "no manifests to format".to_string(),
        (0, n) => format!("{} already formatted", files(n)),
        (c, 0) => format!("{} {verb}", files(c)),
        (c, n) => format!("{} {verb}, {n} already formatted", files(c)),
    }
}

/// The GitHub workflow error that marks a file `fmt --check` would reformat, at its first line that changes.
fn annotation(file: &FormattedFile) -> String {
    let line = file.before.lines().zip(file.after.lines()).take_while(|(b, a)| b == a).count() + 1;
    let shown = file.path.display().to_string();
    let pos = evalform::yaml::Pos { line, column: 1 };
    let message = format!("not formatted; run `evalform fmt {shown}`");
    annotations::github_line(&Diagnostic::at(&shown, &file.before, pos, 1, message), annotations::Level::Error)
}
