//! Manifest problems as the user reads them: `error:` line, `--> FILE:LINE:COLUMN`, the offending source line with
//! a caret underline and what was expected, then `note:` and `help:` lines, rustc-style.
//!
//! A [`Diagnostic`] is plain data (so tests and other commands can inspect it); rendering is pure text, with ANSI
//! colour only when asked. It must never include a sensitive value: messages quote manifest text, which holds
//! `${env:...}` templates, never the interpolated values.

use std::fmt;

use crate::yaml::Pos;

/// One problem in one manifest file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as the user named it (or as found below a directory they named).
    pub file: String,
    /// 1-based; `None` when the problem is about the whole file (unreadable, not found).
    pub pos: Option<Pos>,
    /// How many characters to underline.
    pub width: usize,
    pub message: String,
    /// The source line at `pos`.
    pub source_line: Option<String>,
    /// Printed after the underline: what was expected.
    pub label: Option<String>,
    pub notes: Vec<String>,
    pub help: Option<String>,
    /// The problem is about a directory the user named, not a file: it is not counted as a file with problems.
    pub directory: bool,
}

impl Diagnostic {
    /// A problem at `pos` in `text` (the file's content, for the source line).
    pub fn at(file: &str, text: &str, pos: Pos, width: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_string(),
            pos: Some(pos),
            width: width.max(1),
            message: message.into(),
            source_line: text.lines().nth(pos.line.saturating_sub(1)).map(|l| shown_line(l.trim_end())),
            label: None,
            notes: Vec::new(),
            help: None,
            directory: false,
        }
    }

    /// A problem with a whole file.
    pub fn file(file: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_string(),
            pos: None,
            width: 0,
            message: message.into(),
            source_line: None,
            label: None,
            notes: Vec::new(),
            help: None,
            directory: false,
        }
    }

    /// A problem with a directory the user named (no manifests in it).
    pub fn directory(path: &str, message: impl Into<String>) -> Self {
        Diagnostic { directory: true, ..Diagnostic::file(path, message) }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// `FILE:LINE:COLUMN`, or `FILE`.
    pub fn location(&self) -> String {
        match self.pos {
            Some(p) => format!("{}:{}:{}", self.file, p.line, p.column),
            None => self.file.clone(),
        }
    }

    fn render_into(&self, out: &mut String, color: bool) {
        let paint = |code: &str, s: &str| if color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() };
        out.push_str(&format!("{}{}\n", paint("1;31", "error"), paint("1", &format!(": {}", self.message))));
        let gutter = self.pos.map(|p| p.line.to_string().len()).unwrap_or(1);
        let pad = " ".repeat(gutter);
        out.push_str(&format!("{pad}{} {}\n", paint("1;34", "-->"), self.location()));
        if let (Some(pos), Some(line)) = (self.pos, &self.source_line) {
            let bar = paint("1;34", "|");
            out.push_str(&format!("{pad} {bar}\n"));
            out.push_str(&format!("{} {bar} {line}\n", paint("1;34", &pos.line.to_string())));
            // Tabs keep their width so the caret lines up under the text.
            let lead: String =
                line.chars().take(pos.column.saturating_sub(1)).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
            let carets = paint("1;31", &"^".repeat(self.width));
            let label = self.label.as_ref().map(|l| format!(" {}", paint("1;31", l))).unwrap_or_default();
            out.push_str(&format!("{pad} {bar} {lead}{carets}{label}\n"));
        } else if let Some(label) = &self.label {
            out.push_str(&format!("{pad} = expected: {label}\n"));
        }
        for note in &self.notes {
            out.push_str(&format!("{pad} {} note: {note}\n", paint("1;34", "=")));
        }
        if let Some(help) = &self.help {
            out.push_str(&format!("{pad} {} help: {help}\n", paint("1;34", "=")));
        }
    }
}

/// Every problem of a run, sorted by file, then line, then column.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn new(mut all: Vec<Diagnostic>) -> Self {
        all.sort_by(|a, b| (&a.file, a.pos, &a.message).cmp(&(&b.file, b.pos, &b.message)));
        all.dedup();
        Diagnostics(all)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    /// How many distinct files have problems (a directory without manifests is not a file).
    pub fn file_count(&self) -> usize {
        let mut files: Vec<&str> = self.0.iter().filter(|d| !d.directory).map(|d| d.file.as_str()).collect();
        files.dedup();
        files.len()
    }

    /// All problems, a blank line between them, then `error: N problems in M files`.
    pub fn render(&self, color: bool) -> String {
        let mut out = String::new();
        for d in &self.0 {
            d.render_into(&mut out, color);
            out.push('\n');
        }
        let n = self.len();
        let files = self.file_count();
        let problems = if n == 1 { "problem" } else { "problems" };
        let summary = match files {
            0 => format!(": {n} {problems}"),
            1 => format!(": {n} {problems} in 1 file"),
            _ => format!(": {n} {problems} in {files} files"),
        };
        if color {
            out.push_str(&format!("\x1b[1;31merror\x1b[0m\x1b[1m{summary}\x1b[0m\n"));
        } else {
            out.push_str(&format!("error{summary}\n"));
        }
        out
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl std::error::Error for Diagnostics {}

/// A source line as a terminal may show it: each control character (an ESC could start a terminal escape
/// sequence) becomes its visible symbol from the Control Pictures block, one character for one, so that columns
/// still line up.
fn shown_line(line: &str) -> String {
    line.chars()
        .map(|c| match c {
            '\t' => c,
            '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('?'),
            '\u{7f}' => '\u{2421}',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_rustc() {
        let text = "version: 1\ncekura:\n  agent: 1\n  evaluators:\n    - naem: Order status\n";
        let d = Diagnostic::at("specs/orders.yaml", text, Pos { line: 5, column: 7 }, 4, "unknown key `naem`")
            .label("expected one of: name, id")
            .help("did you mean `name`?");
        insta::assert_snapshot!(Diagnostics::new(vec![d]).to_string(), @r"
        error: unknown key `naem`
         --> specs/orders.yaml:5:7
          |
        5 |     - naem: Order status
          |       ^^^^ expected one of: name, id
          = help: did you mean `name`?

        error: 1 problem in 1 file
        ");
    }

    #[test]
    fn colour_only_adds_escapes() {
        let text = "version: 2\n";
        let d = Diagnostic::at("a.yaml", text, Pos { line: 1, column: 10 }, 1, "unsupported version `2`")
            .label("expected 1")
            .note("a note")
            .help("a help");
        let all = Diagnostics::new(vec![d]);
        let colored = all.render(true);
        assert!(colored.contains("\x1b[1;31merror\x1b[0m"), "{colored:?}");
        let mut stripped = String::new();
        let mut in_escape = false;
        for c in colored.chars() {
            match (in_escape, c) {
                (false, '\x1b') => in_escape = true,
                (true, 'm') => in_escape = false,
                (false, c) => stripped.push(c),
                _ => {}
            }
        }
        assert_eq!(stripped, all.render(false));
    }
}
