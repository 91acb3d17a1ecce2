//! The one module that touches the YAML crates (`serde_yaml` for typed deserialisation, `yaml-rust2` for
//! positions), so that swapping the YAML crate means editing this file only.
//!
//! It offers two views of a text: a positioned [`Node`] tree built from yaml-rust2's event parser, in which
//! [`TreePositions`] (or a full [`PositionIndex`]) finds paths such as `cekura.evaluators[3].name` (the line and
//! column of the key and of the value), and a typed value, read from that tree ([`de::from_tree`], so a text is
//! parsed once) or, for what that reading leaves aside, from the text by serde_yaml ([`from_str`]). Lines and
//! columns are 1-based everywhere. This module knows nothing about manifests: it must not grow manifest rules.
//!
//! Writing YAML lives beside the reading: [`emit`] writes new documents (import), [`edit`] changes existing ones
//! in place, keeping comments and layout (pull, suggest).

pub mod de;
pub mod edit;
pub mod emit;

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A place in a text, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn from_marker(m: &Marker) -> Self {
        // yaml-rust2 counts lines from 1 and columns from 0.
        Pos { line: m.line().max(1), column: m.col() + 1 }
    }
}

/// A YAML syntax or type error, located.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at line {} column {}", pos.line, pos.column)]
pub struct YamlError {
    pub pos: Pos,
    /// The parser's message, without its own location suffix.
    pub message: String,
}

/// How a scalar was written; decides whether `123` is a number or text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarStyle {
    Plain,
    Quoted,
    Block,
}

/// The exact way a scalar was written, for an editor that keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

/// Byte offsets `start..end` of a node as written in the source: a scalar with its quotes or its block header
/// (`|-`), a flow collection with its brackets, a block collection from its first key or `-` to the end of its
/// last value. Comments after the node are not part of it. Used by the editor to replace text in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// One node of a YAML document with where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    /// How many characters of the source line the node's start covers, for a caret underline.
    pub width: usize,
    pub kind: NodeKind,
    /// Where the node is in the source, in bytes.
    pub span: Span,
    /// How a collection was written: `true` for `[...]` / `{...}`. Always `false` for scalars.
    pub flow: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Scalar {
        value: String,
        style: ScalarStyle,
        written: Written,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
    /// `*anchor` that was not expanded: its anchor is unknown, or the document expands aliases beyond
    /// [`MAX_ALIAS_NODES`]. Every other alias is replaced by a copy of its anchored node, placed at the alias.
    Alias,
}

/// What a plain scalar means under the YAML 1.2 core schema (the one serde_yaml uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarKind {
    Null,
    Bool,
    Integer,
    Float,
    String,
}

impl Node {
    /// The scalar text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Entries of a mapping (empty for anything else).
    pub fn entries(&self) -> &[(Node, Node)] {
        match &self.kind {
            NodeKind::Map(entries) => entries,
            _ => &[],
        }
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries().iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
    }

    /// What a scalar resolves to.
    pub fn scalar_kind(&self) -> Option<ScalarKind> {
        let NodeKind::Scalar { value, style, .. } = &self.kind else { return None };
        if *style != ScalarStyle::Plain {
            return Some(ScalarKind::String);
        }
        let v = value.as_str();
        Some(match v {
            "" | "~" | "null" | "Null" | "NULL" => ScalarKind::Null,
            "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => ScalarKind::Bool,
            _ if is_integer(v) => ScalarKind::Integer,
            _ if v.parse::<f64>().is_ok() && v.chars().any(|c| c.is_ascii_digit()) => ScalarKind::Float,
            ".inf" | "-.inf" | "+.inf" | ".nan" | ".NaN" | ".NAN" => ScalarKind::Float,
            _ => ScalarKind::String,
        })
    }

    /// A short description for messages: "a string `abc`", "a list", "a mapping".
    pub fn describe(&self) -> String {
        match (&self.kind, self.scalar_kind()) {
            (NodeKind::Seq(_), _) => "a list".into(),
            (NodeKind::Map(_), _) => "a mapping".into(),
            (NodeKind::Alias, _) => "an alias".into(),
            (_, Some(ScalarKind::Null)) => "nothing (null)".into(),
            (NodeKind::Scalar { value, .. }, Some(ScalarKind::Bool)) => format!("a boolean `{value}`"),
            (NodeKind::Scalar { value, .. }, Some(ScalarKind::Integer)) => format!("an integer `{value}`"),
            (NodeKind::Scalar { value, .. }, Some(ScalarKind::Float)) => format!("a number `{value}`"),
            (NodeKind::Scalar { value, .. }, _) => format!("a string `{}`", clip(value, 40)),
        }
    }
}

fn clip(s: &str, max: usize) -> String {
    let first_line = s.lines().next().unwrap_or("");
    if first_line.chars().count() > max || first_line.len() < s.len() {
        let cut: String = first_line.chars().take(max).collect();
        format!("{cut}…")
    } else {
        first_line.to_string()
    }
}

fn is_integer(v: &str) -> bool {
    let digits = v.strip_prefix(['-', '+']).unwrap_or(v);
    if let Some(hex) = digits.strip_prefix("0x") {
        return !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit());
    }
    if let Some(oct) = digits.strip_prefix("0o") {
        return !oct.is_empty() && oct.chars().all(|c| c.is_digit(8));
    }
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

/// Parse `text` into a positioned tree. `Ok(None)` is an empty document (nothing but comments or whitespace).
/// A stream of several documents (`---` between them) is an error: a manifest is one document.
pub fn parse_tree(text: &str) -> Result<Option<Node>, YamlError> {
    parse_document(text).map(|d| d.map(|d| d.root))
}

/// A parsed document: its tree, and whether the text uses tags (`!name`) or aliases (`*name`), which
/// [`de::from_tree`] leaves to serde_yaml.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub root: Node,
    pub tags_or_aliases: bool,
}

/// [`parse_tree`], saying whether the text uses tags or aliases.
pub fn parse_document(text: &str) -> Result<Option<Document>, YamlError> {
    if let Some(err) = control_character(text) {
        return Err(err);
    }
    let line_starts: Vec<usize> = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
    let mut builder = TreeBuilder {
        text,
        line_starts,
        text_lines: text.lines().collect(),
        stack: Vec::new(),
        root: None,
        done: false,
        documents: 0,
        second_document: None,
        anchor_stack: Vec::new(),
        anchors: HashMap::new(),
        expanded: 0,
        tags_or_aliases: false,
    };
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut builder, true)
        .map_err(|e| YamlError { pos: Pos::from_marker(e.marker()), message: e.info().to_string() })?;
    if let Some(pos) = builder.second_document {
        return Err(YamlError { pos, message: "a second document begins here; a manifest is one document".into() });
    }
    let tags_or_aliases = builder.tags_or_aliases;
    Ok(builder.root.map(|root| Document { root, tags_or_aliases }))
}

/// serde's messages in the manifest's words: no Rust type names (`as u128`, `expected u32`).
fn plain_words(message: &str) -> String {
    let mut out = message.to_string();
    for ty in ["u8", "u16", "u32", "u64", "u128", "i8", "i16", "i32", "i64", "i128", "usize", "isize", "f32", "f64"] {
        out = out.replace(&format!(" as {ty}"), "");
        out = out.replace(&format!("expected {ty}"), "expected a number that fits");
    }
    if out.contains("expected any value") && out.starts_with("invalid type: integer") {
        let number = out.split('`').nth(1).unwrap_or("");
        return format!("`{number}` is too large a number (at most {})", u64::MAX);
    }
    out
}

/// The first character YAML does not allow anywhere in a document (C0 and C1 control characters but tab, line
/// feed, carriage return and NEL), located, and named the way a person would look for it.
fn control_character(text: &str) -> Option<YamlError> {
    let mut line = 1;
    let mut column = 1;
    for c in text.chars() {
        let allowed = matches!(c, '\t' | '\n' | '\r' | '\u{85}') || !c.is_control();
        if !allowed {
            let name = match c {
                '\0' => "NUL".to_string(),
                '\u{7}' => "BEL".to_string(),
                '\u{8}' => "BS".to_string(),
                '\u{1b}' => "ESC".to_string(),
                '\u{7f}' => "DEL".to_string(),
                _ => "a control character".to_string(),
            };
            return Some(YamlError {
                pos: Pos { line, column },
                message: format!(
                    "{name} (U+{:04X}) is not allowed in YAML; write it as an escape (`\\u{:04X}`) inside double quotes",
                    c as u32, c as u32
                ),
            });
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    None
}

enum Frame {
    Seq(Node),
    Map(Node, Option<Node>),
}

struct TreeBuilder<'t> {
    text: &'t str,
    /// Byte offset of each character index (the parser counts characters), plus the end of the text.
    /// Byte offset of the start of each line.
    line_starts: Vec<usize>,
    text_lines: Vec<&'t str>,
    stack: Vec<Frame>,
    root: Option<Node>,
    done: bool,
    documents: usize,
    second_document: Option<Pos>,
    /// The anchor id of each open collection (0: none).
    anchor_stack: Vec<usize>,
    /// Anchored nodes by anchor id, for the aliases that follow.
    anchors: HashMap<usize, Node>,
    /// Nodes created by expanding aliases so far.
    expanded: usize,
    /// A tag or an alias was seen.
    tags_or_aliases: bool,
}

/// The most nodes alias expansion creates in one document; past it, aliases stay unexpanded (a "billion laughs"
/// document is then refused by the typed reading, which has its own limit).
pub const MAX_ALIAS_NODES: usize = 100_000;

fn count_nodes(node: &Node) -> usize {
    1 + match &node.kind {
        NodeKind::Seq(items) => items.iter().map(count_nodes).sum(),
        NodeKind::Map(entries) => entries.iter().map(|(k, v)| count_nodes(k) + count_nodes(v)).sum(),
        _ => 0,
    }
}

/// Place a copy of an anchored node at the alias that uses it: errors inside it are reported at the alias.
fn relocate(node: &mut Node, pos: Pos, width: usize, span: Span) {
    node.pos = pos;
    node.width = width;
    node.span = span;
    match &mut node.kind {
        NodeKind::Seq(items) => items.iter_mut().for_each(|n| relocate(n, pos, width, span)),
        NodeKind::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            relocate(k, pos, width, span);
            relocate(v, pos, width, span);
        }),
        _ => {}
    }
}

impl TreeBuilder<'_> {
    /// The byte offset of a marker, from its line and column: yaml-rust2's character index runs ahead after a
    /// block scalar holding characters of several bytes (it counts those in bytes), its line and column do not.
    fn byte(&self, m: &Marker) -> usize {
        let Some(&start) = self.line_starts.get(m.line().saturating_sub(1)) else { return self.text.len() };
        let line = &self.text[start..];
        line.char_indices().nth(m.col()).map_or(self.text.len(), |(i, _)| start + i)
    }

    /// Remember a node under its anchor (if any), then add it to the tree.
    fn push_anchored(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        self.push_node(node);
    }

    fn push_node(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
                self.done = true;
            }
            Some(Frame::Seq(seq)) => {
                if let NodeKind::Seq(items) = &mut seq.kind {
                    items.push(node);
                }
            }
            Some(Frame::Map(map, pending_key)) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => {
                    if let NodeKind::Map(entries) = &mut map.kind {
                        entries.push((key, node));
                    }
                }
            },
        }
    }

    /// The width of a scalar as written, for underlining it.
    fn scalar_width(&self, pos: Pos, value: &str, style: TScalarStyle) -> usize {
        let n = value.chars().count();
        match style {
            TScalarStyle::Plain => n.max(1),
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
                // Measure on the source line: escapes make the value shorter than what was written.
                let line = self.text_lines.get(pos.line - 1).copied().unwrap_or("");
                let mut rest = line.chars().skip(pos.column - 1);
                let quote = rest.next().unwrap_or('"');
                let mut width = 1;
                let mut escaped = false;
                for c in rest {
                    width += 1;
                    if escaped {
                        escaped = false;
                    } else if c == '\\' && quote == '"' {
                        escaped = true;
                    } else if c == quote {
                        return width;
                    }
                }
                width
            }
            _ => 1,
        }
    }
}

impl MarkedEventReceiver for TreeBuilder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos::from_marker(&mark);
        if ev == Event::DocumentStart {
            self.documents += 1;
            if self.documents == 2 {
                self.second_document = Some(pos);
            }
        }
        if self.done && self.stack.is_empty() {
            return;
        }
        if matches!(
            &ev,
            Event::Alias(_)
                | Event::Scalar(_, _, _, Some(_))
                | Event::SequenceStart(_, Some(_))
                | Event::MappingStart(_, Some(_))
        ) {
            self.tags_or_aliases = true;
        }
        match ev {
            Event::Scalar(value, style, anchor, _) => {
                let width = self.scalar_width(pos, &value, style);
                let at = self.byte(&mark);
                let span = spans::scalar(self.text, at, &value, style);
                let written = match style {
                    TScalarStyle::Plain => Written::Plain,
                    TScalarStyle::SingleQuoted => Written::SingleQuoted,
                    TScalarStyle::DoubleQuoted => Written::DoubleQuoted,
                    TScalarStyle::Literal => Written::Literal,
                    TScalarStyle::Folded => Written::Folded,
                };
                let style = match style {
                    TScalarStyle::Plain => ScalarStyle::Plain,
                    TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => ScalarStyle::Quoted,
                    _ => ScalarStyle::Block,
                };
                self.push_anchored(
                    Node { pos, width, kind: NodeKind::Scalar { value, style, written }, span, flow: false },
                    anchor,
                );
            }
            Event::Alias(id) => {
                let at = self.byte(&mark);
                let span = Span { start: at, end: spans::token_end(self.text, at) };
                let width = self.text[span.start..span.end].chars().count().max(1);
                match self.anchors.get(&id) {
                    Some(anchored) if self.expanded + count_nodes(anchored) <= MAX_ALIAS_NODES => {
                        let mut copy = anchored.clone();
                        self.expanded += count_nodes(&copy);
                        relocate(&mut copy, pos, width, span);
                        self.push_node(copy);
                    }
                    _ => self.push_node(Node { pos, width, kind: NodeKind::Alias, span, flow: false }),
                }
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                let anchor = match &ev {
                    Event::SequenceStart(a, _) | Event::MappingStart(a, _) => *a,
                    _ => 0,
                };
                self.anchor_stack.push(anchor);
                let at = self.byte(&mark);
                let flow = matches!(self.text.as_bytes().get(at), Some(b'[' | b'{'));
                let span = Span { start: at, end: at };
                if matches!(ev, Event::SequenceStart(..)) {
                    self.stack.push(Frame::Seq(Node { pos, width: 1, kind: NodeKind::Seq(vec![]), span, flow }))
                } else {
                    self.stack.push(Frame::Map(Node { pos, width: 1, kind: NodeKind::Map(vec![]), span, flow }, None))
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let at = self.byte(&mark);
                if let Some(Frame::Seq(node) | Frame::Map(node, _)) = self.stack.pop() {
                    let mut node = node;
                    // A block mapping's start event is marked at its first `:`; the first key is where it starts.
                    if let NodeKind::Map(entries) = &node.kind {
                        if let Some((first, _)) = entries.first() {
                            node.pos = node.pos.min(first.pos);
                        }
                    }
                    node.span = if node.flow {
                        // Flow collections end at their closing bracket, where the end event is marked.
                        Span { start: node.span.start, end: (at + 1).min(self.text.len()) }
                    } else {
                        let (first, last) = match &node.kind {
                            NodeKind::Seq(items) => (items.first().map(|n| n.span), items.last().map(|n| n.span)),
                            NodeKind::Map(entries) => {
                                (entries.first().map(|(k, _)| k.span), entries.last().map(|(_, v)| v.span))
                            }
                            _ => (None, None),
                        };
                        let mut start = first.map_or(node.span.start, |f| f.start);
                        if matches!(node.kind, NodeKind::Seq(_)) {
                            start = spans::dash_before(self.text, start);
                        }
                        Span { start, end: last.map_or(start, |l| l.end.max(start)) }
                    };
                    let anchor = self.anchor_stack.pop().unwrap_or(0);
                    self.push_anchored(node, anchor);
                }
            }
            _ => {}
        }
    }
}

/// Where nodes end. The parser marks only where events start, so ends are found in the text: every scalar style
/// has a rule that needs nothing but the start and the parsed value.
mod spans {
    use super::Span;
    use yaml_rust2::scanner::TScalarStyle;

    pub fn scalar(text: &str, at: usize, value: &str, style: TScalarStyle) -> Span {
        match style {
            TScalarStyle::Plain => Span { start: at, end: plain_end(text, at, value) },
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
                Span { start: at, end: quoted_end(text, at, style == TScalarStyle::DoubleQuoted) }
            }
            _ => block(text, at),
        }
    }

    /// A plain scalar is its value as written up to whitespace folding (it has no escapes), so it ends after as
    /// many non-blank characters as the value has.
    fn plain_end(text: &str, at: usize, value: &str) -> usize {
        let mut want = value.chars().filter(|c| !c.is_whitespace()).count();
        if want == 0 {
            return at;
        }
        for (i, c) in text[at..].char_indices() {
            if !c.is_whitespace() {
                want -= 1;
                if want == 0 {
                    return at + i + c.len_utf8();
                }
            }
        }
        text.len()
    }

    fn quoted_end(text: &str, at: usize, double: bool) -> usize {
        let bytes = text.as_bytes();
        let quote = if double { b'"' } else { b'\'' };
        let mut i = at + 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if double => i += 2,
                b if b == quote => {
                    // In single quotes `''` is an escaped quote.
                    if !double && bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                    } else {
                        return i + 1;
                    }
                }
                _ => i += 1,
            }
        }
        text.len()
    }

    fn line_start(text: &str, at: usize) -> usize {
        text[..at].rfind('\n').map_or(0, |i| i + 1)
    }

    fn indent_of(line: &str) -> usize {
        line.len() - line.trim_start_matches(' ').len()
    }

    /// A block scalar is marked at its first content line; it starts at its `|` or `>` on the header line above
    /// and ends at the end of its last content line (trailing blank lines are left outside).
    fn block(text: &str, at: usize) -> Span {
        let content_line = line_start(text, at);
        // The header is the last non-blank line before the content (blank lines may open the content).
        let mut header_end = content_line.saturating_sub(1);
        let header = loop {
            let start = line_start(text, header_end);
            let line = &text[start..header_end];
            if !line.trim().is_empty() || start == 0 {
                break (start, line);
            }
            header_end = start.saturating_sub(1);
        };
        let (header_start, header_line) = header;
        // When the value is on the header line itself (an empty block scalar marked there), this still works.
        let code = match header_line.find(" #") {
            Some(i) => &header_line[..i],
            None => header_line,
        };
        let code = code.trim_end();
        let token = code.rsplit([' ', '\t']).next().unwrap_or("");
        let start = if token.starts_with(['|', '>']) { header_start + code.len() - token.len() } else { at };
        let digit = token.chars().find(|c| c.is_ascii_digit()).and_then(|c| c.to_digit(10)).map(|d| d as usize);
        let content_indent = match digit {
            Some(d) => indent_of(header_line) + d,
            None => at - content_line,
        };
        let end = (start + token.len().max(1)).min(text.len());
        if content_indent <= indent_of(header_line) || at <= header_start + header_line.len() {
            // An empty block scalar: the parser marked whatever follows it.
            return Span { start, end };
        }
        let mut end = end;
        let mut pos = content_line;
        while pos < text.len() {
            let line_end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
            let line = &text[pos..line_end];
            if !line.trim().is_empty() {
                if indent_of(line) < content_indent {
                    break;
                }
                end = line_end;
            }
            pos = line_end + 1;
        }
        Span { start, end: end.max(start) }
    }

    /// The end of an alias `*name`.
    pub fn token_end(text: &str, at: usize) -> usize {
        text[at..].find(|c: char| c.is_whitespace() || ",[]{}".contains(c)).map_or(text.len(), |i| at + i)
    }

    /// The `-` of a block sequence's first item, which the parser does not mark.
    pub fn dash_before(text: &str, at: usize) -> usize {
        let before = text[..at].trim_end_matches([' ', '\t', '\n', '\r']);
        if before.ends_with('-') {
            before.len() - 1
        } else {
            at
        }
    }
}

/// A comment of a YAML text: `# ...` outside every scalar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// 1-based.
    pub line: usize,
    /// Byte offset of its `#`.
    pub at: usize,
    /// What follows the `#`, without one space after it and without the line end.
    pub text: String,
    /// Alone on its line (else it follows a value, `key: value  # comment`).
    pub own_line: bool,
}

/// The comments of `text`, whose tree is `root` (from [`parse_tree`] of the same text), in order. A `#` is a
/// comment where YAML says so: at the start of a line or after a blank, and not inside a scalar (a quoted one, a
/// block scalar's content, a plain one such as `a#b`).
pub fn comments(text: &str, root: Option<&Node>) -> Vec<Comment> {
    let mut inside = Vec::new();
    if let Some(root) = root {
        scalar_ranges(text, root, &mut inside);
    }
    inside.sort_unstable();
    // Scalars never nest, so the one that starts last at or before `at` is the only one that may hold it.
    let within = |at: usize| {
        let i = inside.partition_point(|&(start, _)| start <= at);
        i > 0 && at < inside[i - 1].1
    };
    let mut out = Vec::new();
    let mut line_start = 0;
    for (n, line) in text.split('\n').enumerate() {
        let bytes = line.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'#' && (i == 0 || matches!(bytes[i - 1], b' ' | b'\t')) && !within(line_start + i) {
                let rest = line[i + 1..].trim_end_matches('\r');
                out.push(Comment {
                    line: n + 1,
                    at: line_start + i,
                    text: rest.strip_prefix(' ').unwrap_or(rest).to_string(),
                    own_line: line[..i].trim().is_empty(),
                });
                break;
            }
        }
        line_start += line.len() + 1;
    }
    out
}

/// The byte ranges that hold scalar text: quoted and plain scalars whole, a block scalar from the end of its header
/// line (where a comment may follow the `|`) to its end.
fn scalar_ranges(text: &str, node: &Node, out: &mut Vec<(usize, usize)>) {
    match &node.kind {
        NodeKind::Scalar { written, .. } => {
            let start = match written {
                Written::Literal | Written::Folded => {
                    text[node.span.start..].find('\n').map_or(text.len(), |i| node.span.start + i)
                }
                _ => node.span.start,
            };
            if start < node.span.end {
                out.push((start, node.span.end));
            }
        }
        NodeKind::Seq(items) => items.iter().for_each(|i| scalar_ranges(text, i, out)),
        NodeKind::Map(entries) => entries.iter().for_each(|(k, v)| {
            scalar_ranges(text, k, out);
            scalar_ranges(text, v, out);
        }),
        NodeKind::Alias => {}
    }
}

/// Where a node is: the position of its key (for mapping values) and of its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located {
    pub key: Option<Pos>,
    pub key_width: usize,
    pub value: Pos,
    pub value_width: usize,
}

/// Where paths are in one tree, found by walking it when asked: the same answers as a [`PositionIndex`] built from
/// the tree (the last of repeated keys wins, as there), without building an entry for every node.
#[derive(Debug, Clone)]
pub struct TreePositions {
    root: Node,
}

impl TreePositions {
    pub fn new(root: Node) -> Self {
        TreePositions { root }
    }

    /// As [`PositionIndex::get`].
    pub fn get(&self, path: &str) -> Option<Located> {
        if path.is_empty() {
            return Some(empty_key(&self.root).unwrap_or_else(|| value_at(&self.root)));
        }
        find(&self.root, path, true)
    }

    /// As [`PositionIndex::nearest`].
    pub fn nearest(&self, path: &str) -> Located {
        let mut p = path;
        loop {
            if let Some(l) = self.get(p) {
                return l;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => p = "",
            }
        }
    }
}

fn value_at(node: &Node) -> Located {
    Located { key: None, key_width: 0, value: node.pos, value_width: node.width }
}

fn entry_at(k: &Node, v: &Node) -> Located {
    Located { key: Some(k.pos), key_width: k.width, value: v.pos, value_width: v.width }
}

/// An empty key at the top (or below empty keys at the top) has the empty path in a [`PositionIndex`].
fn empty_key(node: &Node) -> Option<Located> {
    node.entries()
        .iter()
        .rev()
        .find(|(k, _)| k.as_str() == Some(""))
        .map(|(k, v)| empty_key(v).unwrap_or(entry_at(k, v)))
}

/// `rest` (not empty) below `node`: `name...` at the top, else `.name...` or `[i]...`.
fn find(node: &Node, rest: &str, top: bool) -> Option<Located> {
    match &node.kind {
        NodeKind::Map(entries) => {
            let r = if top { rest } else { rest.strip_prefix('.')? };
            for (k, v) in entries.iter().rev() {
                let Some(name) = k.as_str() else { continue };
                if top && name.is_empty() {
                    // Its children's paths start at the top too.
                    if let Some(l) = find(v, r, true) {
                        return Some(l);
                    }
                    continue;
                }
                let Some(after) = r.strip_prefix(name) else { continue };
                if after.is_empty() {
                    return Some(entry_at(k, v));
                }
                if after.starts_with(['.', '[']) {
                    if let Some(l) = find(v, after, false) {
                        return Some(l);
                    }
                }
            }
            None
        }
        NodeKind::Seq(items) => {
            let r = rest.strip_prefix('[')?;
            let close = r.find(']')?;
            let i: usize = r[..close].parse().ok()?;
            if r[..close] != i.to_string() {
                return None;
            }
            let item = items.get(i)?;
            let after = &r[close + 1..];
            if after.is_empty() {
                Some(value_at(item))
            } else {
                find(item, after, false)
            }
        }
        _ => None,
    }
}

/// Paths (`cekura.evaluators[3].name`) to positions, for errors found after deserialisation.
#[derive(Debug, Clone, Default)]
pub struct PositionIndex {
    map: HashMap<String, Located>,
}

impl PositionIndex {
    pub fn build(root: &Node) -> Self {
        let mut index = PositionIndex::default();
        index.map.insert(String::new(), Located { key: None, key_width: 0, value: root.pos, value_width: root.width });
        index.walk(root, "");
        index
    }

    fn walk(&mut self, node: &Node, path: &str) {
        match &node.kind {
            NodeKind::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    self.map.insert(
                        p.clone(),
                        Located { key: None, key_width: 0, value: item.pos, value_width: item.width },
                    );
                    self.walk(item, &p);
                }
            }
            NodeKind::Map(entries) => {
                for (k, v) in entries {
                    let Some(name) = k.as_str() else { continue };
                    let p = if path.is_empty() { name.to_string() } else { format!("{path}.{name}") };
                    self.map.insert(
                        p.clone(),
                        Located { key: Some(k.pos), key_width: k.width, value: v.pos, value_width: v.width },
                    );
                    self.walk(v, &p);
                }
            }
            _ => {}
        }
    }

    pub fn get(&self, path: &str) -> Option<&Located> {
        self.map.get(path)
    }

    /// The position of `path`, or of its nearest ancestor that exists (a missing key is reported at its parent).
    pub fn nearest(&self, path: &str) -> Located {
        let mut p = path;
        loop {
            if let Some(l) = self.map.get(p) {
                return *l;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => {
                    return self.map.get("").copied().unwrap_or(Located {
                        key: None,
                        key_width: 0,
                        value: Pos { line: 1, column: 1 },
                        value_width: 1,
                    })
                }
            }
        }
    }
}

/// A copy of `node` as JSON text (which is YAML), leaving out map entries and list items that `keep` refuses.
/// Plain scalars that resolve to numbers, booleans or null are written as they were, so serde reads them as it
/// would have read the original; aliases become null. Used to read the sound rest of a file that has problems.
pub fn to_json_text(node: &Node, keep: &dyn Fn(&Node, Option<&Node>) -> bool) -> String {
    let mut out = String::new();
    write_json(node, keep, &mut out);
    out
}

fn write_json(node: &Node, keep: &dyn Fn(&Node, Option<&Node>) -> bool, out: &mut String) {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    match &node.kind {
        NodeKind::Scalar { value, .. } => match node.scalar_kind() {
            Some(ScalarKind::String) => out.push_str(&quote(value)),
            Some(ScalarKind::Null) => out.push_str("null"),
            _ => out.push_str(value),
        },
        NodeKind::Alias => out.push_str("null"),
        NodeKind::Seq(items) => {
            out.push('[');
            let mut first = true;
            for item in items.iter().filter(|i| keep(i, None)) {
                if !first {
                    out.push_str(", ");
                }
                first = false;
                write_json(item, keep, out);
            }
            out.push(']');
        }
        NodeKind::Map(entries) => {
            out.push('{');
            let mut first = true;
            for (k, v) in entries.iter().filter(|(k, v)| keep(v, Some(k))) {
                if !first {
                    out.push_str(", ");
                }
                first = false;
                out.push_str(&quote(k.as_str().unwrap_or("")));
                out.push_str(": ");
                write_json(v, keep, out);
            }
            out.push('}');
        }
    }
}

/// Deserialise `text` into `T` with serde_yaml, keeping its location.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    serde_yaml::from_str(text).map_err(|e| {
        let pos =
            e.location().map(|l| Pos { line: l.line(), column: l.column() }).unwrap_or(Pos { line: 1, column: 1 });
        let mut message = e.to_string();
        // serde_yaml appends " at line L column C" and prefixes the path; keep the message itself.
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        if let Some((path, rest)) = message.split_once(": ") {
            if !path.contains(' ') {
                message = rest.to_string();
            }
        }
        YamlError { pos, message: plain_words(&message) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_expanded_at_their_use_within_a_budget() {
        let root = parse_tree("a: &x {k: 1}\nb: *x\n").unwrap().unwrap();
        let b = root.get("b").unwrap();
        assert_eq!(b.get("k").and_then(Node::as_str), Some("1"));
        assert_eq!(b.get("k").unwrap().pos, Pos { line: 2, column: 4 });
        // A "billion laughs" document: expansion stops at the budget, leaving aliases, and ends at once.
        let mut text = "a0: &a0 lol\n".to_string();
        for i in 1..10 {
            text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 9].join(", ")));
        }
        let root = parse_tree(&text).unwrap().unwrap();
        assert!(count_nodes(&root) <= MAX_ALIAS_NODES + 1_000);
    }

    const DOC: &str = "version: 1\ncekura:\n  agent: 12\n  evaluators:\n    - name: \"Order\"\n      tags: [a, b]\n";

    #[test]
    fn index_locates_keys_and_values() {
        let root = parse_tree(DOC).unwrap().unwrap();
        let index = PositionIndex::build(&root);
        let name = index.get("cekura.evaluators[0].name").unwrap();
        assert_eq!(name.key, Some(Pos { line: 5, column: 7 }));
        assert_eq!(name.value, Pos { line: 5, column: 13 });
        assert_eq!(name.value_width, 7);
        assert_eq!(index.get("cekura.evaluators[0].tags[1]").unwrap().value, Pos { line: 6, column: 17 });
        assert_eq!(index.nearest("cekura.evaluators[0].missing").value, Pos { line: 5, column: 7 });
    }

    fn spanned<'a>(text: &'a str, node: &Node) -> &'a str {
        &text[node.span.start..node.span.end]
    }

    #[test]
    fn spans_cover_nodes_as_written() {
        let text = "a: 1 # one\nb:\n  - x\n  - {k: v, j: 'q''s'}\nc: |-  # note\n  text\n\n   more\n# c\nd: [1, \"2\\\"\"]  # c\n\
                    e:\n- f: 1\n  g: two\n    words\nh: >\n  folded\ni:\n  j: k\n";
        let root = parse_tree(text).unwrap().unwrap();
        assert_eq!(spanned(text, root.get("a").unwrap()), "1");
        let b = root.get("b").unwrap();
        assert_eq!(spanned(text, b), "- x\n  - {k: v, j: 'q''s'}");
        let NodeKind::Seq(items) = &b.kind else { panic!() };
        assert!(items[1].flow);
        assert_eq!(spanned(text, &items[1].entries()[1].1), "'q''s'");
        assert_eq!(spanned(text, root.get("c").unwrap()), "|-  # note\n  text\n\n   more");
        assert_eq!(spanned(text, root.get("d").unwrap()), "[1, \"2\\\"\"]");
        let e = root.get("e").unwrap();
        assert_eq!(spanned(text, e), "- f: 1\n  g: two\n    words");
        assert_eq!(spanned(text, root.get("h").unwrap()), ">\n  folded");
        assert_eq!(spanned(text, root.get("i").unwrap()), "j: k");
        assert_eq!(spanned(text, &root), &text[..text.len() - 1]);
    }

    /// yaml-rust2 counts the characters of a block scalar in bytes: spans after one that holds `ö` were a byte
    /// off, so comments were missed and edits landed beside their value.
    #[test]
    fn spans_stay_right_after_characters_of_several_bytes() {
        let text = "a: |-\n  höflich ¿\n  zwei\nb: ä  # c\nc: [ö, x]\nd: 1  # one\n";
        let root = parse_tree(text).unwrap().unwrap();
        assert_eq!(spanned(text, root.get("b").unwrap()), "ä");
        assert_eq!(spanned(text, root.get("c").unwrap()), "[ö, x]");
        assert_eq!(spanned(text, root.get("d").unwrap()), "1");
        let found: Vec<String> = comments(text, Some(&root)).into_iter().map(|c| c.text).collect();
        assert_eq!(found, ["c", "one"]);
        let edited = edit::apply(text, &[edit::Edit::set("d", edit::Value::Int(2))]).unwrap();
        assert_eq!(edited, "a: |-\n  höflich ¿\n  zwei\nb: ä  # c\nc: [ö, x]\nd: 2  # one\n");
    }

    #[test]
    fn comments_are_found_outside_scalars_only() {
        let text =
            "# top\na: 'x # not' # yes\nb: |-  # header\n  # content\n  text\nc: a#b\n  # own\nd: [1, 2] #flow\n";
        let root = parse_tree(text).unwrap().unwrap();
        let found: Vec<(usize, String, bool)> =
            comments(text, Some(&root)).into_iter().map(|c| (c.line, c.text, c.own_line)).collect();
        assert_eq!(
            found,
            [
                (1, "top".to_string(), true),
                (2, "yes".to_string(), false),
                (3, "header".to_string(), false),
                (7, "own".to_string(), true),
                (8, "flow".to_string(), false)
            ]
        );
    }

    #[test]
    fn spans_are_byte_offsets_also_after_wide_characters() {
        let text = "é: \"ça\"\nb:\n  - 😀 smile\n  - {k: 'ü'}\nc: |\n  naïve\n  text\n";
        let root = parse_tree(text).unwrap().unwrap();
        assert_eq!(spanned(text, root.get("é").unwrap()), "\"ça\"");
        let b = root.get("b").unwrap();
        assert_eq!(spanned(text, b), "- 😀 smile\n  - {k: 'ü'}");
        let NodeKind::Seq(items) = &b.kind else { panic!() };
        assert_eq!(spanned(text, &items[0]), "😀 smile");
        assert_eq!(spanned(text, &items[1].entries()[0].1), "'ü'");
        assert_eq!(spanned(text, root.get("c").unwrap()), "|\n  naïve\n  text");
        assert_eq!(root.get("é").unwrap().width, 4);
        // After a block scalar with wide characters, the parser's character index runs ahead: spans come from line
        // and column, so a value after it is spanned whole (an edit there lands on it, not a byte beside it).
        let text = "c: |\n  naïve ¿\nd: plain\n";
        let root = parse_tree(text).unwrap().unwrap();
        assert_eq!(spanned(text, root.get("d").unwrap()), "plain");
    }

    #[test]
    fn empty_and_broken_documents() {
        assert_eq!(parse_tree("# only a comment\n").unwrap(), None);
        let err = parse_tree("a: [1, 2\n").unwrap_err();
        assert_eq!(err.pos.line, 2);
        let err = parse_tree("---\na: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(err.pos, Pos { line: 3, column: 1 });
        assert!(parse_tree("---\na: 1\n").unwrap().is_some());
    }

    #[test]
    fn scalar_kinds_follow_the_core_schema() {
        let root = parse_tree("a: 12\nb: '12'\nc: true\nd: ~\ne: 1.5\nf: text\n").unwrap().unwrap();
        let kind = |k: &str| root.get(k).unwrap().scalar_kind().unwrap();
        assert_eq!(kind("a"), ScalarKind::Integer);
        assert_eq!(kind("b"), ScalarKind::String);
        assert_eq!(kind("c"), ScalarKind::Bool);
        assert_eq!(kind("d"), ScalarKind::Null);
        assert_eq!(kind("e"), ScalarKind::Float);
        assert_eq!(kind("f"), ScalarKind::String);
    }
}
