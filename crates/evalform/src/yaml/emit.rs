//! A small YAML emitter for the manifests `import` writes: a tree of [`Node`]s in, text out.
//!
//! It exists because the manifests must read like hand-written ones (block scalars for long texts, flow sequences
//! for short sets, comments beside the values that explain them) and be byte-identical for identical input, which a
//! generic serializer does not promise. It only emits; it never parses YAML. Quoting is conservative: a scalar is
//! written plain only when both YAML 1.1 and YAML 1.2 readers would read it back as the same string, otherwise it
//! is double-quoted with JSON-style escapes (which YAML double-quoted scalars accept).

/// One value of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Int(u64),
    Bool(bool),
    /// A plain scalar written exactly as given: a number, boolean or null as a hand-written manifest had it
    /// (`-3`, `1.50`, `~`). The caller vouches that it reads back as what it meant.
    Plain(String),
    /// A short string: plain when safe, else double-quoted.
    Str(String),
    /// A long text: a literal block scalar when it has more than one line (or is [`Node::Block`]), else as
    /// [`Node::Str`]: `|-` for a text without a final line break, `|` for one with exactly one. Falls back to
    /// double quotes when a block cannot hold it exactly.
    Text(String),
    /// A text that is always a literal block scalar when a block can hold it exactly, even on one line.
    Block(String),
    /// A one-line flow sequence of scalars: `[a, b, 3]`.
    Flow(Vec<Node>),
    Map(Vec<Entry>),
    Seq(Vec<Item>),
}

/// A line above an entry or item: a comment (its text, without the `# `), or an empty line that separates groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Above {
    Comment(String),
    Blank,
}

impl From<String> for Above {
    fn from(text: String) -> Self {
        Above::Comment(text)
    }
}

impl From<&str> for Above {
    fn from(text: &str) -> Self {
        Above::Comment(text.to_string())
    }
}

/// A key and its value, with lines above it (comments, blank lines) and an optional comment at the end of its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: Node,
    pub comments: Vec<Above>,
    pub trailing: Option<String>,
}

impl Entry {
    pub fn new(key: impl Into<String>, value: Node) -> Self {
        Entry { key: key.into(), value, comments: Vec::new(), trailing: None }
    }

    pub fn trailing(mut self, comment: Option<String>) -> Self {
        self.trailing = comment;
        self
    }

    pub fn comment(mut self, comment: impl Into<String>) -> Self {
        self.comments.push(Above::Comment(comment.into()));
        self
    }
}

/// A sequence item with lines above its `- ` and, for a scalar item, an optional comment at the end of its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub node: Node,
    pub comments: Vec<Above>,
    pub trailing: Option<String>,
}

impl Item {
    pub fn new(node: Node) -> Self {
        Item { node, comments: Vec::new(), trailing: None }
    }

    pub fn comment(mut self, comment: impl Into<String>) -> Self {
        self.comments.push(Above::Comment(comment.into()));
        self
    }
}

/// The whole document: header comment lines, then the top-level mapping. Ends with exactly one newline.
pub fn document(header: &[String], root: &[Entry]) -> String {
    let header: Vec<Above> = header.iter().map(|h| Above::Comment(h.clone())).collect();
    document_with_footer(&header, root, &[])
}

/// [`document`] with a header that may hold blank lines, and `footer` lines after the last entry (a hand-written
/// file's closing comments). Blank lines at the very start and end of the document are left out.
pub fn document_with_footer(header: &[Above], root: &[Entry], footer: &[Above]) -> String {
    let mut out = String::new();
    push_above(&mut out, 0, header);
    emit_map(&mut out, root, 0, false);
    let last = footer.iter().rposition(|l| *l != Above::Blank).map_or(0, |i| i + 1);
    push_above(&mut out, 0, &footer[..last]);
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A comment cannot span lines or carry characters a reader would choke on: those become spaces.
fn sanitize_comment(text: &str) -> String {
    text.chars().map(|c| if is_plain_char(c) { c } else { ' ' }).collect::<String>().trim_end().to_string()
}

/// Lines above an entry or item at indentation `at`. A blank line is never written at the start of the document
/// nor twice in a row.
fn push_above(out: &mut String, at: usize, lines: &[Above]) {
    for line in lines {
        match line {
            Above::Comment(text) => push_comment(out, at, text),
            Above::Blank if out.is_empty() || out.ends_with("\n\n") => {}
            Above::Blank => out.push('\n'),
        }
    }
}

fn push_comment(out: &mut String, at: usize, text: &str) {
    indent(out, at);
    let text = sanitize_comment(text);
    if text.is_empty() {
        out.push('#');
    } else {
        out.push_str("# ");
        out.push_str(&text);
    }
    out.push('\n');
}

/// Longest key written in the implicit `key: value` form (YAML allows 1024 characters, quotes and all).
const MAX_IMPLICIT_KEY: usize = 1000;

/// Emit the entries of a mapping at indentation `at`. With `first_inline`, the caller has already written the
/// position of the first key (after a sequence's `- `).
fn emit_map(out: &mut String, entries: &[Entry], at: usize, first_inline: bool) {
    for (i, entry) in entries.iter().enumerate() {
        if !(first_inline && i == 0) {
            push_above(out, at, &entry.comments);
            indent(out, at);
        }
        let key = scalar(&entry.key, false);
        if key.chars().count() > MAX_IMPLICIT_KEY {
            // YAML limits implicit keys to 1024 characters; longer ones need the explicit `? key` / `: value` form.
            out.push_str("? ");
            out.push_str(&key);
            out.push('\n');
            indent(out, at);
        } else {
            out.push_str(&key);
        }
        out.push(':');
        emit_value(out, &entry.value, at, entry.trailing.as_deref());
    }
}

/// Write a value after `key:` (or after `-`), ending with its newline. `at` is the indentation of the key.
fn emit_value(out: &mut String, value: &Node, at: usize, trailing: Option<&str>) {
    let end_line = |out: &mut String| {
        if let Some(c) = trailing.map(sanitize_comment).filter(|c| !c.is_empty()) {
            out.push_str("  # ");
            out.push_str(&c);
        }
        out.push('\n');
    };
    match value {
        Node::Map(entries) if !entries.is_empty() => {
            end_line(out);
            emit_map(out, entries, at + 2, false);
        }
        Node::Seq(items) if !items.is_empty() => {
            end_line(out);
            emit_seq(out, items, at + 2);
        }
        Node::Text(text) | Node::Block(text)
            if block_ok(text) && (matches!(value, Node::Block(_)) || text.contains('\n')) =>
        {
            // Clip chomping (`|`) keeps exactly one final line break, strip (`|-`) none.
            let (body, chomp) = match text.strip_suffix('\n') {
                Some(body) => (body, ""),
                None => (text.as_str(), "-"),
            };
            out.push_str(" |");
            // An indentation indicator is needed when the first line with content starts with a blank: the reader
            // would otherwise take that blank for indentation.
            let first = body.split('\n').find(|l| !l.is_empty()).unwrap_or("");
            if first.starts_with([' ', '\t']) {
                out.push('2');
            }
            out.push_str(chomp);
            end_line(out);
            for line in body.split('\n') {
                if !line.is_empty() {
                    indent(out, at + 2);
                    out.push_str(line);
                }
                out.push('\n');
            }
        }
        other => {
            // An empty plain scalar (a null written as nothing) leaves `key:` alone, without a trailing blank.
            let text = inline(other);
            if !text.is_empty() {
                out.push(' ');
                out.push_str(&text);
            }
            end_line(out);
        }
    }
}

fn emit_seq(out: &mut String, items: &[Item], at: usize) {
    for item in items {
        push_above(out, at, &item.comments);
        match &item.node {
            Node::Map(entries) if !entries.is_empty() => {
                push_above(out, at, &entries[0].comments);
                indent(out, at);
                out.push_str("- ");
                emit_map(out, entries, at + 2, true);
            }
            other => {
                indent(out, at);
                out.push('-');
                emit_value(out, other, at, item.trailing.as_deref());
            }
        }
    }
}

/// A value on one line: scalars, flow sequences, empty collections.
fn inline(node: &Node) -> String {
    match node {
        Node::Int(n) => n.to_string(),
        Node::Bool(b) => b.to_string(),
        Node::Plain(s) => s.clone(),
        Node::Str(s) | Node::Text(s) | Node::Block(s) => scalar(s, false),
        Node::Flow(items) => {
            let parts: Vec<String> = items.iter().map(flow_item).collect();
            format!("[{}]", parts.join(", "))
        }
        Node::Map(_) => "{}".to_string(),
        Node::Seq(_) => "[]".to_string(),
    }
}

fn flow_item(node: &Node) -> String {
    match node {
        Node::Str(s) | Node::Text(s) | Node::Block(s) => scalar(s, true),
        other => inline(other),
    }
}

/// A string as a YAML scalar: plain when that is safe in this context, else double-quoted.
pub fn scalar(s: &str, in_flow: bool) -> String {
    if plain_ok(s, in_flow) {
        s.to_string()
    } else {
        double_quoted(s)
    }
}

/// Characters that may appear raw in any scalar and in comments: printable, and not a line break in any YAML
/// version (YAML 1.1 also breaks lines at NEL, LS and PS). Tabs are excluded: they are legal in places but trip
/// up readers and editors.
fn is_plain_char(c: char) -> bool {
    match c {
        '\u{20}'..='\u{7e}' => true,
        '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}' => false,
        '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..='\u{10ffff}' => true,
        _ => false,
    }
}

/// Words that some YAML version reads as null, a boolean or a merge key rather than a string.
const RESERVED: &[&str] = &["null", "~", "true", "false", "yes", "no", "y", "n", "on", "off", "<<", "="];

/// May `s` be written as a plain scalar? Conservative: refusing costs only a pair of quotes.
pub fn plain_ok(s: &str, in_flow: bool) -> bool {
    let Some(first) = s.chars().next() else { return false };
    if !s.chars().all(is_plain_char) {
        return false;
    }
    // Indicators that start something else when they open a scalar.
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) || first == ' ' || s.ends_with(' ') {
        return false;
    }
    if s.contains(": ") || s.ends_with(':') || s.contains(" #") {
        return false;
    }
    if in_flow && s.contains([',', '[', ']', '{', '}', ':', '#']) {
        return false;
    }
    if RESERVED.iter().any(|w| s.eq_ignore_ascii_case(w)) {
        return false;
    }
    // Anything that might be read as a number, a timestamp or a sexagesimal (all start with a digit, a sign or a
    // dot followed by a digit, or are `.inf`/`.nan`).
    let mut chars = s.chars();
    let (c0, c1) = (chars.next(), chars.next());
    let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
    if digit(c0) {
        return false;
    }
    if matches!(c0, Some('+' | '.')) && (digit(c1) || c1 == Some('.')) {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if unsigned == ".inf" || unsigned == ".nan" {
        return false;
    }
    true
}

/// Double-quoted with the escapes JSON and YAML share (`\"`, `\\`, `\n`, `\t`, `\r`, `\uXXXX`); every character
/// that may not appear raw is escaped, so the result is one line.
pub fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_plain_char(c) => out.push(c),
            c => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

/// Can a literal block scalar hold `s` exactly, with strip chomping (`|-`) or, for a text that ends with one line
/// break, clip chomping (`|`)? Not when a line ends with a blank (a block keeps it, but editors and the loader's
/// normalisation strip it), when `s` ends with more than one line break (or is nothing but line breaks), or when
/// it holds a character that may not appear raw.
pub fn block_ok(s: &str) -> bool {
    let body = s.strip_suffix('\n').unwrap_or(s);
    !body.is_empty()
        && !body.ends_with('\n')
        && body
            .split('\n')
            .all(|line| !line.ends_with([' ', '\t']) && line.chars().all(|c| c == '\t' || is_plain_char(c)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(doc: &str) -> serde_yaml::Value {
        serde_yaml::from_str(doc).unwrap_or_else(|e| panic!("{e}\n---\n{doc}"))
    }

    fn round_trip(node: Node) -> serde_yaml::Value {
        let doc = document(&[], &[Entry::new("k", node)]);
        parse(&doc)["k"].clone()
    }

    /// The string at `k` as the positioned reader (yaml-rust2, which the loader's checks use) reads it.
    fn tree_string(doc: &str, path: &[&str]) -> String {
        let root = crate::yaml::parse_tree(doc).unwrap_or_else(|e| panic!("{e}\n---\n{doc}")).expect("a document");
        let mut node = &root;
        for key in path {
            node = node.get(key).unwrap_or_else(|| panic!("no {key} in\n{doc}"));
        }
        node.as_str().expect("a scalar").to_string()
    }

    /// `s` written as every kind of text node, at the top and inside a sequence item, read back by both readers.
    fn assert_round_trips(s: &str) {
        for node in [Node::Str(s.to_string()), Node::Text(s.to_string()), Node::Block(s.to_string())] {
            let doc = document(&[], &[Entry::new("k", node.clone()), Entry::new("after", Node::Int(1))]);
            assert_eq!(as_string(&parse(&doc)["k"]), s, "serde_yaml, {node:?}:\n{doc}");
            assert_eq!(tree_string(&doc, &["k"]), s, "yaml-rust2, {node:?}:\n{doc}");
            let nested = Node::Seq(vec![Item::new(Node::Map(vec![Entry::new("x", node.clone())]))]);
            let doc = document(&[], &[Entry::new("k", nested), Entry::new("after", Node::Int(1))]);
            assert_eq!(as_string(&parse(&doc)["k"][0]["x"]), s, "serde_yaml, nested {node:?}:\n{doc}");
        }
    }

    #[test]
    fn block_edge_cases_round_trip_through_both_readers() {
        for s in [
            "\nleading blank line",
            "\n\nleading blank lines\nand more",
            "\nleading blank line, final break\n",
            "  leading spaces\nx",
            "\n  leading spaces after a blank line\nx",
            "final break\n",
            "two lines\nfinal break\n",
            "two final breaks\n\n",
            "no final break\nx",
            "\n",
            "\n\n\n",
            "\tleading tab\nx",
            "inner\ttab\nx",
            "a\n#not a comment",
            "a\n# not a comment\n",
            "#first\n- item",
            "a\n\n\nb",
            "a\n   \nb",
            "|\n>",
            "   \n",
            " ",
        ] {
            assert_round_trips(s);
        }
    }

    #[test]
    fn a_text_with_one_final_line_break_is_a_clip_block() {
        let doc = document(&[], &[Entry::new("k", Node::Text("\nfirst\nsecond\n".into()))]);
        insta::assert_snapshot!(doc, @r"
        k: |

          first
          second
        ");
    }

    fn as_string(v: &serde_yaml::Value) -> String {
        match v {
            serde_yaml::Value::String(s) => s.clone(),
            other => panic!("not a string: {other:?}"),
        }
    }

    #[test]
    fn plain_when_safe() {
        for s in ["Order status", "I'd like a cleaning.", "ünïcödé 日本語", "a-b", "TOOL_END_CALL", "x:y", "a#b"]
        {
            assert!(plain_ok(s, false), "{s}");
        }
    }

    #[test]
    fn quoted_when_a_reader_could_misread() {
        for s in [
            "",
            "yes",
            "No",
            "ON",
            "off",
            "y",
            "null",
            "~",
            "true",
            "1",
            "1.5",
            "0x1f",
            "1e3",
            "+1",
            "-1",
            ".5",
            ".inf",
            "-.Inf",
            ".NaN",
            "12:30",
            "2026-11-21",
            "- item",
            "? key",
            ": x",
            "a: b",
            "key:",
            "a #b",
            "#c",
            "&a",
            "*a",
            "!tag",
            "%x",
            "@x",
            "`x",
            "|",
            ">",
            "'q",
            "\"q",
            "[a]",
            "{a}",
            " lead",
            "trail ",
            "tab\t",
            "two\nlines",
            "<<",
            "=",
            "nel\u{85}",
            "ls\u{2028}",
            "bom\u{feff}",
            "del\u{7f}",
        ] {
            assert!(!plain_ok(s, false), "{s:?} should be quoted");
            assert_eq!(as_string(&round_trip(Node::Str(s.to_string()))), s);
        }
        assert!(!plain_ok("a,b", true));
        assert!(plain_ok("a,b", false));
    }

    #[test]
    fn document_layout() {
        let doc = document(
            &["header".to_string()],
            &[
                Entry::new("version", Node::Int(1)),
                Entry::new(
                    "cekura",
                    Node::Map(vec![
                        Entry::new("agent", Node::Int(12)).trailing(Some("Support\nline".into())),
                        Entry::new("tags", Node::Flow(vec![Node::Str("a,b".into()), Node::Str("c".into())])),
                        Entry::new("empty", Node::Map(vec![])),
                        Entry::new(
                            "evaluators",
                            Node::Seq(vec![Item {
                                node: Node::Map(vec![
                                    Entry::new("name", Node::Str("yes".into())),
                                    Entry::new("instructions", Node::Block(" starts with a blank\n\nthen more".into())),
                                    Entry::new("short", Node::Block("one line".into())),
                                ]),
                                comments: vec!["pinned".into()],
                                trailing: None,
                            }]),
                        ),
                    ]),
                ),
            ],
        );
        insta::assert_snapshot!(doc, @r#"
        # header
        version: 1
        cekura:
          agent: 12  # Support line
          tags: ["a,b", c]
          empty: {}
          evaluators:
            # pinned
            - name: "yes"
              instructions: |2-
                 starts with a blank

                then more
              short: |-
                one line
        "#);
        let v = parse(&doc);
        let e = &v["cekura"]["evaluators"][0];
        assert_eq!(e["instructions"].as_str(), Some(" starts with a blank\n\nthen more"));
        assert_eq!(e["name"].as_str(), Some("yes"));
        assert_eq!(v["cekura"]["tags"][0].as_str(), Some("a,b"));
    }

    #[test]
    fn block_falls_back_to_quotes_when_it_cannot_hold_the_text() {
        for s in ["trailing blank \nx", "ends with breaks\n\n", "\n", "\n\n", "ctrl\u{1}x\ny", "", "ls\u{2028}x\ny"] {
            assert!(!block_ok(s), "{s:?}");
            assert_eq!(as_string(&round_trip(Node::Block(s.to_string()))), s);
        }
    }

    #[test]
    fn empty_lines_and_leading_breaks_in_blocks() {
        for s in
            ["\nleading break", "\n\n  indented after breaks\nx", "a\n\n\nb", "\tleading tab\nx", "#not a comment\n- x"]
        {
            assert!(block_ok(s), "{s:?}");
            assert_eq!(as_string(&round_trip(Node::Block(s.to_string()))), s);
        }
    }

    #[test]
    fn long_keys_use_the_explicit_form() {
        let long = "k: ".repeat(600);
        let nested = Node::Map(vec![Entry::new(long.clone(), Node::Block("a\nb".into()))]);
        let doc = document(&[], &[Entry::new(long.clone(), Node::Int(1)), Entry::new("m", nested.clone())]);
        assert!(doc.starts_with("? \""), "{doc}");
        let v = parse(&doc);
        assert_eq!(v[long.as_str()].as_u64(), Some(1));
        assert_eq!(v["m"][long.as_str()].as_str(), Some("a\nb"));
        let in_seq = round_trip(Node::Seq(vec![Item::new(Node::Map(vec![Entry::new(long.clone(), nested)]))]));
        assert_eq!(in_seq[0][long.as_str()][long.as_str()].as_str(), Some("a\nb"));
    }

    fn any_text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            // Texts that look like YAML are the interesting ones: bias towards its punctuation and words.
            proptest::collection::vec(
                prop_oneof![
                    Just(" ".to_string()),
                    Just("\n".to_string()),
                    Just("\t".to_string()),
                    Just(": ".to_string()),
                    Just(" #".to_string()),
                    Just("- ".to_string()),
                    Just("yes".to_string()),
                    Just("1".to_string()),
                    Just(".".to_string()),
                    Just("\"".to_string()),
                    Just("'".to_string()),
                    Just("\\".to_string()),
                    "[-?:,\\[\\]{}#&*!|>%@`a-z0-9]{1,3}".prop_map(|s| s),
                    "\\PC{1,4}".prop_map(|s| s),
                ],
                0..12,
            )
            .prop_map(|parts| parts.concat()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn any_string_round_trips(s in any_text()) {
            for node in [Node::Str(s.clone()), Node::Text(s.clone()), Node::Block(s.clone())] {
                prop_assert_eq!(as_string(&round_trip(node.clone())), s.clone());
                let doc = document(&[], &[Entry::new("k", node.clone()), Entry::new("after", Node::Int(1))]);
                prop_assert_eq!(tree_string(&doc, &["k"]), s.clone());
                let in_seq = round_trip(Node::Seq(vec![Item::new(Node::Map(vec![Entry::new("x", node)]))]));
                prop_assert_eq!(as_string(&in_seq[0]["x"]), s.clone());
            }
            let flow = round_trip(Node::Flow(vec![Node::Str(s.clone()), Node::Str(s.clone())]));
            prop_assert_eq!(as_string(&flow[1]), s.clone());
        }

        #[test]
        fn any_key_round_trips(s in any_text()) {
            let doc = document(&[], &[Entry::new(s.clone(), Node::Int(1))]);
            let v = parse(&doc);
            let map = v.as_mapping().unwrap();
            prop_assert_eq!(map.len(), 1);
            let (k, _) = map.iter().next().unwrap();
            prop_assert_eq!(as_string(k), s);
        }

        #[test]
        fn any_comment_keeps_the_document_valid(c in any_text(), s in any_text()) {
            let doc = document(std::slice::from_ref(&c), &[Entry::new("k", Node::Str(s.clone())).trailing(Some(c.clone())).comment(c.clone())]);
            prop_assert_eq!(as_string(&parse(&doc)["k"]), s);
        }
    }
}
