//! Manifest problems in the forms CI systems show on a merge request: GitHub workflow commands
//! (`::error file=F,line=L,col=C::message`, shown on the lines of the pull request's diff) and GitLab's Code Quality
//! report (a JSON file kept as a `codequality` artifact).
//!
//! Pure text: the [`crate::printer::Printer`] prints the GitHub lines, `commands::load_manifests` writes the GitLab
//! file. The human rendering (`error:` / `-->` / carets) stays as it is in every format; these come in addition.

use clap::ValueEnum;
use evalform::manifest::{Diagnostic, Diagnostics};
use sha2::{Digest, Sha256};

/// `--message-format`: how manifest problems are reported besides the human text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    /// Only the human text (`error:`, `-->`, carets)
    Human,
    /// Also GitHub workflow commands (`::error file=...`), shown on the pull request's diff
    Github,
    /// Also a GitLab Code Quality report file (see --code-quality-report)
    Gitlab,
}

/// The Code Quality report's file name when `--code-quality-report` is not given.
pub const DEFAULT_CODE_QUALITY_REPORT: &str = "gl-code-quality-report.json";

/// How serious a problem is: load problems are errors; `validate`'s located warnings are printed as `::warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
}

/// The whole text of a problem: the message, then what was expected (the label under the carets), notes and
/// help, one per line (GitHub shows the line breaks; the source line and carets are left to the human rendering).
fn full_message(d: &Diagnostic) -> String {
    let mut text = d.message.clone();
    if let Some(label) = &d.label {
        text.push_str(&format!("\n{label}"));
    }
    for note in &d.notes {
        text.push_str(&format!("\nnote: {note}"));
    }
    if let Some(help) = &d.help {
        text.push_str(&format!("\nhelp: {help}"));
    }
    text
}

/// GitHub's escaping of a workflow command's message.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// GitHub's escaping of a workflow command's property value (a file name): the message's, plus `:` and `,`.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// One GitHub workflow command for one problem.
pub fn github_line(d: &Diagnostic, level: Level) -> String {
    let command = match level {
        Level::Error => "error",
        Level::Warning => "warning",
    };
    let mut props = format!("file={}", escape_property(&d.file));
    if let Some(pos) = d.pos {
        props.push_str(&format!(",line={},col={}", pos.line, pos.column));
    }
    format!("::{command} {props}::{}", escape_data(&full_message(d)))
}

/// A GitHub workflow warning for a message that has no place in a file (a skipped file, a shadowed default).
pub fn github_warning(message: &str) -> String {
    format!("::warning::{}", escape_data(message))
}

/// The GitHub workflow commands of every problem, one per line.
pub fn github(diagnostics: &Diagnostics) -> String {
    diagnostics.iter().map(|d| format!("{}\n", github_line(d, Level::Error))).collect()
}

/// GitLab's Code Quality report of every problem (an empty array when there are none), as pretty JSON.
pub fn gitlab(diagnostics: &Diagnostics) -> String {
    let issues: Vec<serde_json::Value> = diagnostics
        .iter()
        .map(|d| {
            let line = d.pos.map_or(1, |p| p.line);
            // Stable across runs and unique per problem: GitLab compares reports of two pipelines by it.
            let mut hasher = Sha256::new();
            hasher.update(format!("{}\0{line}\0{}", d.file, d.message).as_bytes());
            let fingerprint: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
            serde_json::json!({
                "description": full_message(d),
                "check_name": "evalform-manifest",
                "fingerprint": fingerprint,
                "severity": "major",
                "location": { "path": d.file, "lines": { "begin": line } },
            })
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&issues).unwrap_or_else(|_| "[]".to_string());
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use evalform::yaml::Pos;

    #[test]
    fn github_escapes_message_and_properties() {
        let d = Diagnostic::at("a,b:c%.yaml", "x\n", Pos { line: 1, column: 2 }, 1, "100% bad\r\nreally")
            .label("one, two: three")
            .help("fix it");
        assert_eq!(
            github_line(&d, Level::Error),
            "::error file=a%2Cb%3Ac%25.yaml,line=1,col=2::100%25 bad%0D%0Areally%0Aone, two: three%0Ahelp: fix it"
        );
        let whole = Diagnostic::file("gone.yaml", "cannot read");
        assert_eq!(github_line(&whole, Level::Warning), "::warning file=gone.yaml::cannot read");
    }

    #[test]
    fn gitlab_report_of_nothing_is_an_empty_array() {
        assert_eq!(gitlab(&Diagnostics::default()), "[]\n");
    }
}
