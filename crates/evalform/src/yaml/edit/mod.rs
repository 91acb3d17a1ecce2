//! Edits of a YAML file that keep everything they do not touch: given a file's text and changes addressed by path
//! (`cekura.evaluators[3].tags`), produce the new text. `pull` and `suggest --write` both write manifests through
//! this module.
//!
//! Only the bytes of the values being changed are rewritten: comments, key order, blank lines, indentation and the
//! quoting of every other value stay byte for byte. A replaced scalar keeps its quoting style when the new value
//! allows it, a replaced block scalar keeps its header (`|-`, its comment), a missing key is inserted after the
//! last key of its mapping at that mapping's indentation. New text is produced by the import writer
//! ([`crate::yaml::emit`]), so there is one quoting function. This module never reads files and knows nothing
//! of manifests; all YAML parsing goes through [`crate::yaml`].

mod path;
#[cfg(test)]
mod tests;

use std::fmt;

use crate::yaml::emit::{self, Entry, Item};
use crate::yaml::{self, Node, NodeKind, Written, YamlError};

pub use crate::yaml::emit::Node as Value;
pub use path::{key_path, Segment};

/// One change of a file, addressed by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// `cekura.evaluators[3].tags`; a key that is not a plain word is written `["user.id"]`.
    pub path: String,
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Replace the value at the path, or add the key when the mapping above it lacks it.
    Set(Value),
    /// Remove a mapping entry or a sequence item.
    Remove,
    /// Append an item to the sequence at the path.
    Push(Value),
}

impl Edit {
    pub fn set(path: impl Into<String>, value: Value) -> Self {
        Edit { path: path.into(), change: Change::Set(value) }
    }

    pub fn remove(path: impl Into<String>) -> Self {
        Edit { path: path.into(), change: Change::Remove }
    }

    pub fn push(path: impl Into<String>, value: Value) -> Self {
        Edit { path: path.into(), change: Change::Push(value) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("the file is not valid YAML: {0}")]
    Parse(#[from] YamlError),
    #[error("the file is empty: there is nothing to edit at `{path}`")]
    Empty { path: String },
    #[error("`{path}` is not a valid path: {reason}")]
    BadPath { path: String, reason: String },
    #[error("there is no `{path}` in the file (nearest: line {line})")]
    NoSuchPath { path: String, line: usize },
    #[error("cannot edit `{path}` at line {line}: {reason}")]
    Unsupported { path: String, line: usize, reason: String },
    #[error("the edits of `{first}` and `{second}` overlap")]
    Overlap { first: String, second: String },
}

/// Apply `edits` to `text`. Every edit is located in the original text, so they do not see each other's results;
/// two edits of overlapping text are an error. The result is not re-validated as a manifest: callers load it.
pub fn apply(text: &str, edits: &[Edit]) -> Result<String, EditError> {
    if edits.is_empty() {
        return Ok(text.to_string());
    }
    // A file with CRLF line ends throughout is edited as LF and written back with CRLF, so new lines match.
    let crlf = text.contains("\r\n") && text.matches('\n').count() == text.matches("\r\n").count();
    if crlf {
        return apply_lf(&text.replace("\r\n", "\n"), edits).map(|out| out.replace('\n', "\r\n"));
    }
    apply_lf(text, edits)
}

fn apply_lf(text: &str, edits: &[Edit]) -> Result<String, EditError> {
    let root = yaml::parse_tree(text)?.ok_or_else(|| EditError::Empty { path: edits[0].path.clone() })?;
    let file = File { text, root: &root };
    let mut splices = Vec::new();
    for (order, edit) in edits.iter().enumerate() {
        let (start, end, new) = file.splice(edit)?;
        splices.push(Splice { start, end, text: new, order });
    }
    splices.sort_by_key(|s| (s.start, s.end, s.order));
    for pair in splices.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if b.start < a.end || (a.start == b.start && a.end == b.end && a.start != a.end) {
            return Err(EditError::Overlap { first: edits[a.order].path.clone(), second: edits[b.order].path.clone() });
        }
    }
    let mut out = String::with_capacity(text.len() + 64);
    let mut cursor = 0;
    for s in &splices {
        out.push_str(&text[cursor..s.start]);
        out.push_str(&s.text);
        cursor = s.end;
    }
    out.push_str(&text[cursor..]);
    Ok(out)
}

/// A unified diff of one file (`--- a/PATH` / `+++ b/PATH`, three lines of context); empty when nothing changed.
pub fn unified_diff(path: &str, before: &str, after: &str) -> String {
    if before == after {
        return String::new();
    }
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}

struct Splice {
    start: usize,
    end: usize,
    text: String,
    order: usize,
}

struct File<'a> {
    text: &'a str,
    root: &'a Node,
}

/// What a path leads to: the node, its key when it is a mapping value, and whether it sits inside a flow
/// collection (where plain scalars may not hold `,[]{}`).
struct Target<'a> {
    node: &'a Node,
    key: Option<&'a Node>,
    parent: Option<&'a Node>,
    in_flow: bool,
}

impl<'a> File<'a> {
    fn line_of(&self, byte: usize) -> usize {
        self.text[..byte.min(self.text.len())].matches('\n').count() + 1
    }

    fn line_start(&self, at: usize) -> usize {
        self.text[..at].rfind('\n').map_or(0, |i| i + 1)
    }

    fn line_end(&self, at: usize) -> usize {
        self.text[at..].find('\n').map_or(self.text.len(), |i| at + i)
    }

    /// Where a new line goes after the line holding `at`: after its newline, so that removing that line (which
    /// takes the newline with it) and adding after it do not overlap. Returns the place and what to prefix.
    fn after_line(&self, at: usize) -> (usize, &'static str) {
        let end = self.line_end(at);
        if end < self.text.len() {
            (end + 1, "")
        } else {
            (end, "\n")
        }
    }

    /// The column (in bytes, which is characters for the spaces of indentation) where `at` is on its line.
    fn column(&self, at: usize) -> usize {
        at - self.line_start(at)
    }

    fn unsupported(&self, path: &str, at: usize, reason: impl Into<String>) -> EditError {
        EditError::Unsupported { path: path.to_string(), line: self.line_of(at), reason: reason.into() }
    }

    fn walk(&self, path: &str, segments: &[Segment]) -> Result<Target<'a>, (usize, EditError)> {
        let mut t = Target { node: self.root, key: None, parent: None, in_flow: false };
        for (depth, seg) in segments.iter().enumerate() {
            let next = match (seg, &t.node.kind) {
                (Segment::Key(k), NodeKind::Map(entries)) => {
                    entries.iter().find(|(key, _)| key.as_str() == Some(k)).map(|(key, v)| (Some(key), v))
                }
                (Segment::Index(i), NodeKind::Seq(items)) => items.get(*i).map(|v| (None, v)),
                _ => None,
            };
            let Some((key, node)) = next else {
                let err = EditError::NoSuchPath { path: path.to_string(), line: self.line_of(t.node.span.start) };
                return Err((depth, err));
            };
            let in_flow = t.in_flow || t.node.flow;
            t = Target { node, key, parent: Some(t.node), in_flow };
        }
        Ok(t)
    }

    /// The byte range to replace and its new text.
    fn splice(&self, edit: &Edit) -> Result<(usize, usize, String), EditError> {
        let path = edit.path.as_str();
        let segments = path::parse(path)?;
        match self.walk(path, &segments) {
            Ok(t) => match &edit.change {
                Change::Set(v) => self.replace(path, &t, v),
                Change::Remove => self.remove(path, &t),
                Change::Push(v) => self.push(path, &t, v),
            },
            // A missing last key of an existing mapping is inserted.
            Err((depth, err)) if depth + 1 == segments.len() => match (&edit.change, &segments[depth]) {
                (Change::Set(v), Segment::Key(k)) => {
                    let parent = self.walk(path, &segments[..depth]).map_err(|(_, e)| e)?;
                    self.insert(path, &parent, k, v).map_err(|e| match e {
                        EditError::NoSuchPath { .. } => err,
                        e => e,
                    })
                }
                _ => Err(err),
            },
            Err((_, err)) => Err(err),
        }
    }

    fn replace(&self, path: &str, t: &Target, value: &Value) -> Result<(usize, usize, String), EditError> {
        let old = t.node;
        let span = old.span;
        if let NodeKind::Scalar { written, value: old_value, .. } = &old.kind {
            let empty = old_value.is_empty() && *written == Written::Plain;
            if !empty {
                if let Some(new) = self.scalar_in_style(old, *written, value, t.in_flow) {
                    return Ok(new);
                }
            }
        }
        // Collections written inline stay inline when the new value can be.
        let inline_old = old.flow || matches!(&old.kind, NodeKind::Scalar { written, .. } if !is_block(*written));
        if inline_old
            && !matches!(&old.kind, NodeKind::Scalar { value, written: Written::Plain, .. } if value.is_empty())
        {
            if let Some(s) = inline(value, t.in_flow, old.flow && matches!(old.kind, NodeKind::Map(_))) {
                return Ok((span.start, span.end, s));
            }
        }
        if t.in_flow {
            return Err(self.unsupported(
                path,
                span.start,
                "a value inside `[...]` or `{...}` can only become a one-line value",
            ));
        }
        let Some(key) = t.key else {
            return Err(self.unsupported(path, span.start, "only values under a key can be rewritten as a block"));
        };
        self.rewrite_after_key(path, key, old, value)
    }

    /// A scalar replaced by a scalar, in the style it was written in when the new value allows it.
    fn scalar_in_style(
        &self,
        old: &Node,
        written: Written,
        value: &Value,
        in_flow: bool,
    ) -> Option<(usize, usize, String)> {
        let span = old.span;
        let s = match value {
            Value::Int(n) => return Some((span.start, span.end, n.to_string())),
            Value::Bool(b) => return Some((span.start, span.end, b.to_string())),
            Value::Str(s) | Value::Text(s) | Value::Block(s) => s,
            _ => return None,
        };
        match written {
            Written::Literal | Written::Folded => {
                // Keep the header (indicator, indentation digit, comment) and choose the chomping that gives
                // exactly the new value: clip (`|`) adds one line break at the end, strip (`|-`) none.
                let (content, chomp) = match s.strip_suffix('\n') {
                    Some(c) if !c.ends_with('\n') => (c, ""),
                    Some(_) => return None,
                    None => (s.as_str(), "-"),
                };
                let first = content.split('\n').find(|l| !l.is_empty());
                if !emit::block_ok(content) || first.is_some_and(|l| l.starts_with([' ', '\t'])) {
                    return None;
                }
                let header_end = self.line_end(span.start);
                let header = &self.text[span.start..header_end];
                let token_len = header.find(|c: char| c.is_whitespace()).unwrap_or(header.len());
                let digits: String = header[1..token_len].chars().filter(char::is_ascii_digit).collect();
                // A folded block would join the lines; a literal one keeps them as they are. One line reads the
                // same either way, so a folded header stays.
                let indicator = if written == Written::Folded && !content.contains('\n') { '>' } else { '|' };
                let token = format!("{indicator}{digits}{chomp}");
                let indent = old.pos.column - 1;
                let mut text = format!("{token}{}", &header[token_len..]);
                for line in content.split('\n') {
                    text.push('\n');
                    if !line.is_empty() {
                        text.extend(std::iter::repeat_n(' ', indent));
                        text.push_str(line);
                    }
                }
                Some((span.start, span.end, text))
            }
            _ if s.contains('\n') && !in_flow => None,
            Written::SingleQuoted if single_quotable(s) => {
                Some((span.start, span.end, format!("'{}'", s.replace('\'', "''"))))
            }
            Written::SingleQuoted | Written::DoubleQuoted => Some((span.start, span.end, emit::double_quoted(s))),
            Written::Plain => Some((span.start, span.end, emit::scalar(s, in_flow))),
        }
    }

    /// Rewrite everything from the end of `key` to the end of the old value with what the import writer makes of
    /// `key: value` at the key's indentation, keeping a comment on the key's line.
    fn rewrite_after_key(
        &self,
        path: &str,
        key: &Node,
        old: &Node,
        value: &Value,
    ) -> Result<(usize, usize, String), EditError> {
        let start = key.span.end;
        let key_line_end = self.line_end(start);
        let empty = matches!(&old.kind, NodeKind::Scalar { value, written: Written::Plain, .. } if value.is_empty());
        let end = if empty {
            // `key:` with nothing after it: the parser places the empty value at whatever follows.
            match self.text[start..key_line_end].find(':') {
                Some(i) => start + i + 1,
                None => return Err(self.unsupported(path, start, "cannot find the `:` after the key")),
            }
        } else {
            old.span.end
        };
        let mut end = end;
        let mut comment = if empty || old.span.start > key_line_end {
            self.text[start..key_line_end]
                .find(" #")
                .map(|i| self.text[start + i..key_line_end].trim_start().to_string())
        } else {
            None
        };
        // A comment after the old value moves with it to the first line of the new one.
        if !empty {
            let value_line_end = self.line_end(end);
            let rest = self.text[end..value_line_end].trim();
            if rest.starts_with('#') {
                comment = Some(match comment {
                    Some(c) => format!("{c} {rest}"),
                    None => rest.to_string(),
                });
                end = value_line_end;
            }
        }
        let key_col = self.column(key.span.start);
        // A list written as a block stays a block.
        let block_list;
        let value = match (value, &old.kind, old.flow) {
            (Value::Flow(items), NodeKind::Seq(_), false) if !items.is_empty() => {
                block_list = Value::Seq(items.iter().cloned().map(Item::new).collect());
                &block_list
            }
            _ => value,
        };
        let mut rendered = render_entry(value, key_col);
        // Keep an indentless or deeper block sequence where it was.
        if let (NodeKind::Seq(_) | NodeKind::Map(_), false) = (&old.kind, old.flow) {
            let old_col = self.column(old.span.start) as isize;
            rendered = shift_block(&rendered, old_col - (key_col as isize + 2));
        }
        if let Some(c) = comment {
            let first_end = rendered.find('\n').unwrap_or(rendered.len());
            rendered.insert_str(first_end, &format!("  {c}"));
        }
        Ok((start, end, rendered))
    }

    fn insert(
        &self,
        path: &str,
        parent: &Target,
        key: &str,
        value: &Value,
    ) -> Result<(usize, usize, String), EditError> {
        let map = parent.node;
        let NodeKind::Map(entries) = &map.kind else {
            return Err(EditError::NoSuchPath { path: path.to_string(), line: self.line_of(map.span.start) });
        };
        if map.flow {
            let in_flow = true;
            let v = inline(value, in_flow, false).ok_or_else(|| {
                self.unsupported(path, map.span.start, "a `{...}` mapping can only take a one-line value")
            })?;
            let entry = format!("{}: {v}", emit::scalar(key, true));
            return Ok(match entries.last() {
                Some((_, last)) => (last.span.end, last.span.end, format!(", {entry}")),
                None => (map.span.start + 1, map.span.start + 1, entry),
            });
        }
        let Some((first_key, _)) = entries.first() else {
            return Err(self.unsupported(path, map.span.start, "the mapping is empty"));
        };
        let (_, last_value) = entries.last().expect("not empty");
        let col = self.column(first_key.span.start);
        let (at, prefix) = self.after_line(last_value.span.end);
        let mut text = String::from(prefix);
        text.extend(std::iter::repeat_n(' ', col));
        text.push_str(&emit::scalar(key, false));
        text.push_str(&render_entry(value, col));
        if prefix.is_empty() {
            text.push('\n');
        }
        Ok((at, at, text))
    }

    fn remove(&self, path: &str, t: &Target) -> Result<(usize, usize, String), EditError> {
        let parent = t.parent.ok_or_else(|| self.unsupported(path, 0, "the whole document cannot be removed"))?;
        let start = t.key.map_or(t.node.span.start, |k| k.span.start);
        let end = t.node.span.end;
        if parent.flow {
            let spans: Vec<(usize, usize)> = match &parent.kind {
                NodeKind::Seq(items) => items.iter().map(|n| (n.span.start, n.span.end)).collect(),
                NodeKind::Map(entries) => entries.iter().map(|(k, v)| (k.span.start, v.span.end)).collect(),
                _ => vec![],
            };
            let i = spans.iter().position(|s| s.0 == start).unwrap_or(0);
            return Ok(if let Some(next) = spans.get(i + 1) {
                (start, next.0, String::new())
            } else if i > 0 {
                (spans[i - 1].1, end, String::new())
            } else {
                (start, end, String::new())
            });
        }
        let count = match &parent.kind {
            NodeKind::Seq(items) => items.len(),
            NodeKind::Map(entries) => entries.len(),
            _ => 0,
        };
        if count == 1 {
            return Err(self.unsupported(path, start, "it is the only entry; set the whole value instead"));
        }
        // A block entry goes with its whole lines: from the `-` or the key to the end of its last line.
        let item_start = if matches!(parent.kind, NodeKind::Seq(_)) { dash_before(self.text, start) } else { start };
        let line_start = self.line_start(item_start);
        if !self.text[line_start..item_start].trim().is_empty() {
            return Err(self.unsupported(path, start, "the entry shares its line with another one"));
        }
        let line_end = self.line_end(end);
        Ok((line_start, (line_end + 1).min(self.text.len()), String::new()))
    }

    fn push(&self, path: &str, t: &Target, value: &Value) -> Result<(usize, usize, String), EditError> {
        let seq = t.node;
        let NodeKind::Seq(items) = &seq.kind else {
            return Err(self.unsupported(path, seq.span.start, "it is not a list"));
        };
        if seq.flow {
            let v = inline(value, true, false)
                .ok_or_else(|| self.unsupported(path, seq.span.start, "a `[...]` list can only take one-line items"))?;
            return Ok(match items.last() {
                Some(last) => (last.span.end, last.span.end, format!(", {v}")),
                None => (seq.span.start + 1, seq.span.start + 1, v),
            });
        }
        let last = items.last().expect("a block sequence has items");
        let col = self.column(seq.span.start);
        let (at, prefix) = self.after_line(last.span.end);
        // Render `k:\n  - value` and move it to this list's indentation.
        let doc = emit::document(&[], &[Entry::new("k", Value::Seq(vec![Item::new(value.clone())]))]);
        let body = doc.split_once('\n').map_or("", |(_, rest)| rest).trim_end_matches('\n');
        let shifted = shift_lines(body, col as isize - 2);
        let suffix = if prefix.is_empty() { "\n" } else { "" };
        Ok((at, at, format!("{prefix}{shifted}{suffix}")))
    }
}

/// Single quotes have no escapes: they hold a text only when the writer would escape nothing in it but `"` and `\`.
fn single_quotable(s: &str) -> bool {
    emit::double_quoted(s) == format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn is_block(w: Written) -> bool {
    matches!(w, Written::Literal | Written::Folded)
}

fn dash_before(text: &str, at: usize) -> usize {
    let before = text[..at].trim_end_matches([' ', '\t']);
    if before.ends_with('-') {
        before.len() - 1
    } else {
        at
    }
}

/// A value on one line, if it has a one-line form: scalars, lists and mappings of scalars (mappings only when
/// `flow_map` allows `{...}`, which is written only where the file already used it).
fn inline(value: &Value, in_flow: bool, flow_map: bool) -> Option<String> {
    let scalar = |v: &Value, in_flow: bool| -> Option<String> {
        match v {
            Value::Int(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Str(s) | Value::Text(s) | Value::Block(s) => Some(emit::scalar(s, in_flow)),
            _ => None,
        }
    };
    match value {
        Value::Flow(items) => {
            let parts: Option<Vec<String>> = items.iter().map(|i| scalar(i, true)).collect();
            Some(format!("[{}]", parts?.join(", ")))
        }
        Value::Seq(items) => {
            let parts: Option<Vec<String>> = items.iter().map(|i| scalar(&i.node, true)).collect();
            Some(format!("[{}]", parts?.join(", ")))
        }
        Value::Map(entries) if entries.is_empty() => Some("{}".into()),
        Value::Map(entries) if flow_map => {
            let parts: Option<Vec<String>> = entries
                .iter()
                .map(|e| scalar(&e.value, true).map(|v| format!("{}: {v}", emit::scalar(&e.key, true))))
                .collect();
            Some(format!("{{{}}}", parts?.join(", ")))
        }
        Value::Map(_) => None,
        Value::Text(s) | Value::Block(s) if s.contains('\n') && !in_flow => None,
        other => scalar(other, in_flow),
    }
}

/// What the import writer makes of `k: value` at indentation `col`, from the `:` on, without the final newline.
fn render_entry(value: &Value, col: usize) -> String {
    let doc = emit::document(&[], &[Entry::new("k", value.clone())]);
    let rest = doc.strip_prefix('k').unwrap_or(&doc).trim_end_matches('\n');
    let mut out = String::new();
    for (i, line) in rest.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            if !line.is_empty() {
                out.extend(std::iter::repeat_n(' ', col));
            }
        }
        out.push_str(line);
    }
    out
}

/// Move every line but the first by `by` columns (block scalar content included, so it stays consistent).
fn shift_block(text: &str, by: isize) -> String {
    let Some((first, rest)) = text.split_once('\n') else { return text.to_string() };
    format!("{first}\n{}", shift_lines(rest, by))
}

fn shift_lines(text: &str, by: isize) -> String {
    if by == 0 {
        return text.to_string();
    }
    text.split('\n')
        .map(|line| {
            if line.is_empty() {
                String::new()
            } else if by > 0 {
                format!("{}{line}", " ".repeat(by as usize))
            } else {
                let strip = line.len() - line.trim_start_matches(' ').len();
                line[strip.min((-by) as usize)..].to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Key(k) => f.write_str(k),
            Segment::Index(i) => write!(f, "[{i}]"),
        }
    }
}
