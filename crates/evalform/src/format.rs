//! `fmt`: rewrite manifests into the canonical form `import` writes (key order, quoting, block scalars for
//! multi-line texts, two-space indentation, flow lists for sets), keeping every comment and every
//! `${env:...}`/`${var:...}` placeholder as written.
//!
//! Formatting must never change what a manifest means. [`check_meaning`] holds that: a formatted file is accepted
//! only when its YAML data equals the original's (scalar by scalar, with the type each scalar resolves to), it
//! keeps as many comments, and the set of formatted files loads into the same desired state as the originals. A
//! file that fails any of these is refused by name and left as it is. Only [`write`] touches the disk; nothing
//! here prints.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::fsutil::{write_atomic, WriteError};
use crate::manifest::{self, Diagnostics, LoadOptions, ManifestFile};
use crate::model::State;
use crate::yaml::emit::{self, Above, Entry, Item, Node};
use crate::yaml::{self, Comment, NodeKind, ScalarKind, ScalarStyle};

#[cfg(test)]
mod tests;

/// One manifest that loaded, before and after formatting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormattedFile {
    pub path: PathBuf,
    /// The texts, without the byte order mark the file may start with (the loader drops it).
    pub before: String,
    pub after: String,
    /// Whether the file starts with a UTF-8 byte order mark: [`write`] keeps it.
    pub bom: bool,
}

impl FormattedFile {
    /// Whether formatting changes the file.
    pub fn changed(&self) -> bool {
        self.before != self.after
    }

    /// The unified diff from the file as it is to the file formatted; empty when it is formatted already.
    pub fn diff(&self) -> String {
        yaml::edit::unified_diff(&self.path.display().to_string(), &self.before, &self.after)
    }
}

/// Why one file is not formatted. The file is left as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The file holds something the formatter cannot write back (an alias whose anchor is unknown).
    #[error("cannot format {}: {reason}", path.display())]
    Unsupported { path: PathBuf, reason: String },
    /// The formatted text would not mean what the file means: a bug of the formatter, caught before writing.
    #[error("refusing to format {}: the formatted file would not mean the same ({detail})", path.display())]
    WouldChangeMeaning { path: PathBuf, detail: String },
}

impl FormatError {
    /// The file that is not formatted.
    pub fn path(&self) -> &std::path::Path {
        match self {
            FormatError::Unsupported { path, .. } | FormatError::WouldChangeMeaning { path, .. } => path,
        }
    }
}

/// What [`format_manifests`] found.
#[derive(Debug, Default)]
pub struct FormatReport {
    /// Every manifest that loads and could be formatted, in discovery order, changed or not.
    pub files: Vec<FormattedFile>,
    /// The problems of the manifests that do not load (their files are left out of `files`).
    pub problems: Option<Diagnostics>,
    /// Files that load but are not formatted.
    pub refused: Vec<FormatError>,
    /// What discovery skipped, one line each.
    pub warnings: Vec<String>,
}

/// Find the manifests below `paths` as `validate` does, and format every one that loads. Files with problems are
/// reported in [`FormatReport::problems`] and left out; a formatted file that fails [`check_meaning`] is
/// refused. Writes nothing.
pub fn format_manifests(paths: &[PathBuf], opts: &LoadOptions) -> FormatReport {
    let read = manifest::read(paths);
    let mut report = FormatReport { warnings: read.warnings, ..FormatReport::default() };
    let mut problems = read.problems;
    let bad: BTreeSet<String> = match manifest::load_texts(read.files.clone(), opts) {
        Ok(_) => BTreeSet::new(),
        Err(diagnostics) => {
            let files = diagnostics.iter().filter(|d| !d.directory).map(|d| d.file.clone()).collect();
            problems.extend(diagnostics.iter().cloned());
            files
        }
    };
    if !problems.is_empty() {
        report.problems = Some(Diagnostics::new(problems));
    }
    let good: Vec<ManifestFile> =
        read.files.into_iter().filter(|f| !bad.contains(&f.path.display().to_string())).collect();
    let mut formatted = Vec::new();
    for file in &good {
        match format_text(&file.text) {
            Ok(after) => formatted.push(ManifestFile { path: file.path.clone(), text: after }),
            Err(reason) => report.refused.push(FormatError::Unsupported { path: file.path.clone(), reason }),
        }
    }
    let before: Vec<ManifestFile> = good.into_iter().filter(|f| formatted.iter().any(|a| a.path == f.path)).collect();
    let refused = check_meaning(&before, &formatted, opts);
    for (b, a) in before.into_iter().zip(formatted) {
        if refused.iter().all(|e| e.path() != a.path) {
            let bom = starts_with_bom(&a.path);
            report.files.push(FormattedFile { path: a.path, before: b.text, after: a.text, bom });
        }
    }
    report.refused.extend(refused);
    report
}

/// The UTF-8 byte order mark some editors (Notepad, Visual Studio) put at the start of a file.
const BOM: &str = "\u{feff}";

/// Whether the file at `path` starts with a UTF-8 byte order mark. The loader drops the mark from the text it
/// reads, so it is looked for in the file itself; a file that cannot be read now has none to keep.
fn starts_with_bom(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 3];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok() && head == BOM.as_bytes()
}

/// Write one formatted file in place, atomically. A file that started with a byte order mark keeps it.
pub fn write(file: &FormattedFile) -> Result<(), WriteError> {
    // Formatting took a moment: a file saved by an editor (or written by `pull`) since it was read is left alone,
    // not overwritten with the formatting of its old text.
    let now = std::fs::read_to_string(&file.path).map_err(|error| WriteError { path: file.path.clone(), error })?;
    if now.strip_prefix(BOM).unwrap_or(&now) != file.before {
        let error = std::io::Error::other("it changed since evalform read it; run `evalform fmt` again");
        return Err(WriteError { path: file.path.clone(), error });
    }
    if file.bom {
        write_atomic(&file.path, format!("{BOM}{}", file.after).as_bytes())
    } else {
        write_atomic(&file.path, file.after.as_bytes())
    }
}

/// The guard: which of the `after` texts (the formatted `before`, pair by pair) would not mean the same. Each
/// file's YAML data must be equal (the type each scalar resolves to included) and keep its comments; and when the
/// `before` files load together, the `after` files must load into the same desired state.
pub fn check_meaning(before: &[ManifestFile], after: &[ManifestFile], opts: &LoadOptions) -> Vec<FormatError> {
    let mut refused = Vec::new();
    for (b, a) in before.iter().zip(after) {
        if b.text == a.text {
            continue;
        }
        if let Some(detail) = data_difference(&b.text, &a.text) {
            refused.push(FormatError::WouldChangeMeaning { path: a.path.clone(), detail });
        }
    }
    for e in typed_difference(before, after, opts) {
        if refused.iter().all(|r| r.path() != e.path()) {
            refused.push(e);
        }
    }
    refused
}

/// The files of `after` that make the set load into another desired state than `before` does (nothing when
/// `before` does not load on its own, as when it needs a file that has problems).
fn typed_difference(before: &[ManifestFile], after: &[ManifestFile], opts: &LoadOptions) -> Vec<FormatError> {
    let mut refused = Vec::new();
    let Ok(want) = manifest::load_texts(before.to_vec(), opts) else { return refused };
    let want = without_places(want.state);
    let same = |files: Vec<ManifestFile>| {
        manifest::load_texts(files, opts).is_ok_and(|loaded| without_places(loaded.state) == want)
    };
    if same(after.to_vec()) {
        return refused;
    }
    // Find the files that make the difference: each formatted one in place of its original alone.
    for (i, (b, a)) in before.iter().zip(after).enumerate() {
        if b.text == a.text {
            continue;
        }
        let mut files = before.to_vec();
        files[i] = a.clone();
        if !same(files) {
            refused.push(FormatError::WouldChangeMeaning {
                path: a.path.clone(),
                detail: "it would load into a different desired state".to_string(),
            });
        }
    }
    refused
}

/// The desired state without the lines and columns it was declared at (formatting moves them).
fn without_places(mut state: State) -> State {
    let clear = |s: &mut Option<crate::model::SourceSpan>| {
        if let Some(s) = s {
            s.line = 0;
            s.column = 0;
        }
    };
    for agent in state.agents.values_mut() {
        agent.evaluators.iter_mut().for_each(|e| clear(&mut e.source));
        agent.test_profiles.iter_mut().for_each(|p| clear(&mut p.source));
        agent.metrics.iter_mut().for_each(|m| clear(&mut m.source));
        agent.schedules.iter_mut().for_each(|s| clear(&mut s.source));
    }
    for prompt in state.prompts.values_mut() {
        prompt.test_cases.iter_mut().for_each(|c| clear(&mut c.source));
    }
    state
}

/// YAML data as a value to compare: scalars with the type they resolve to, mappings in key order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Data {
    Scalar(u8, String),
    Seq(Vec<Data>),
    Map(Vec<(Data, Data)>),
    Alias,
}

fn data(node: &yaml::Node) -> Data {
    match &node.kind {
        NodeKind::Scalar { value, .. } => {
            let kind = match node.scalar_kind() {
                Some(ScalarKind::Null) => return Data::Scalar(0, String::new()),
                Some(ScalarKind::Bool) => 1,
                Some(ScalarKind::Integer) => 2,
                Some(ScalarKind::Float) => 3,
                _ => 4,
            };
            let value = if kind == 1 { value.to_ascii_lowercase() } else { value.clone() };
            Data::Scalar(kind, value)
        }
        NodeKind::Seq(items) => Data::Seq(items.iter().map(data).collect()),
        NodeKind::Map(entries) => {
            let mut pairs: Vec<(Data, Data)> = entries.iter().map(|(k, v)| (data(k), data(v))).collect();
            pairs.sort();
            Data::Map(pairs)
        }
        NodeKind::Alias => Data::Alias,
    }
}

/// What differs between the data and the comments of two texts, or `None` when nothing does.
fn data_difference(before: &str, after: &str) -> Option<String> {
    let b = match yaml::parse_tree(before) {
        Ok(b) => b,
        Err(err) => return Some(format!("the original does not parse: {err}")),
    };
    let a = match yaml::parse_tree(after) {
        Ok(a) => a,
        Err(err) => return Some(format!("the formatted text does not parse: {err}")),
    };
    if b.as_ref().map(data) != a.as_ref().map(data) {
        return Some("its YAML data would differ".to_string());
    }
    let (cb, ca) = (yaml::comments(before, b.as_ref()).len(), yaml::comments(after, a.as_ref()).len());
    if cb != ca {
        return Some(format!("it has {cb} comments, the formatted text {ca}"));
    }
    None
}

/// The canonical text of one manifest, keeping its comments; `Err` says why it cannot be formatted. A file of CRLF
/// line ends is formatted with CRLF line ends. An empty document is returned as it is.
pub fn format_text(text: &str) -> Result<String, String> {
    let crlf = text.contains("\r\n") && text.matches('\n').count() == text.matches("\r\n").count();
    if crlf {
        return format_lf(&text.replace("\r\n", "\n")).map(|out| out.replace('\n', "\r\n"));
    }
    format_lf(text)
}

fn format_lf(text: &str) -> Result<String, String> {
    let root = yaml::parse_tree(text).map_err(|e| e.to_string())?;
    let Some(root) = root else { return Ok(text.to_string()) };
    if !matches!(root.kind, NodeKind::Map(_)) {
        return Err("the document is not a mapping of keys".to_string());
    }
    let comments = yaml::comments(text, Some(&root));
    let mut layout = Layout::new(text, &root, &comments);
    let entries = root.entries();
    layout.map(entries, Place::Root)?;
    layout.settle();
    let root_entries = layout.map(entries, Place::Root)?;
    let footer = layout.footer();
    Ok(emit::document_with_footer(&layout.header, &root_entries, &footer))
}

/// Where a mapping is in a manifest: decides its key order and how its values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Root,
    Cekura,
    Evaluator,
    Defaults,
    Metric,
    Schedule,
    TestProfile,
    Folder,
    Flow,
    Condition,
    Tela,
    TestCase,
    Message,
    /// Variables: keys sorted, as `import` writes them.
    Variables,
    Other,
}

impl Place {
    /// The keys in the order `import` writes them; keys not listed follow, as they were.
    fn order(self) -> &'static [&'static str] {
        const EVALUATOR: &[&str] = &[
            "name",
            "id",
            "renamed_from",
            "folder",
            "instructions",
            "instructions_suffix",
            "type",
            "conditional_actions",
            "expected_outcome",
            "first_message",
            "personality",
            "test_profile",
            "metrics",
            "extra_metrics",
            "tools",
            "extra_tools",
            "tags",
            "extra_tags",
            "language",
            "max_duration",
            "phone_number",
            "ignore_changes",
        ];
        match self {
            Place::Root => &["version", "cekura", "tela"],
            Place::Cekura => &[
                "agent",
                "project",
                "prune",
                "prune_folders",
                "folders",
                "metrics",
                "schedules",
                "test_profiles",
                "defaults",
                "evaluators",
            ],
            Place::Evaluator => EVALUATOR,
            // `import` adds a shared instructions tail after the fields it moved into `defaults`.
            Place::Defaults => &[
                "folder",
                "instructions",
                "type",
                "conditional_actions",
                "expected_outcome",
                "first_message",
                "personality",
                "test_profile",
                "metrics",
                "extra_metrics",
                "tools",
                "extra_tools",
                "tags",
                "extra_tags",
                "language",
                "max_duration",
                "phone_number",
                "ignore_changes",
                "instructions_suffix",
            ],
            Place::Metric => &[
                "name",
                "renamed_from",
                "type",
                "eval_type",
                "description",
                "enum_values",
                "evaluation_trigger",
                "custom_code",
                "simulation_enabled",
                "observability_enabled",
            ],
            Place::Schedule => &["name", "cron", "tags", "evaluators", "mode", "active"],
            Place::TestProfile => {
                &["name", "id", "renamed_from", "main_agent_variables", "testing_agent_variables", "information"]
            }
            Place::Folder => &["path", "renamed_from"],
            Place::Flow => &["role", "conditions"],
            Place::Condition => &["id", "condition", "action", "type", "fixed_message"],
            Place::Tela => &["prompt", "prune", "prompt_version", "test_cases"],
            Place::TestCase => &["title", "messages", "variables", "expected_output"],
            Place::Message => &["role", "content"],
            Place::Variables | Place::Other => &[],
        }
    }

    /// Where the value of `key` in a mapping at this place is; for a list, where its items are.
    fn child(self, key: &str) -> Place {
        match (self, key) {
            (Place::Root, "cekura") => Place::Cekura,
            (Place::Root, "tela") => Place::Tela,
            (Place::Cekura, "evaluators") => Place::Evaluator,
            (Place::Cekura, "defaults") => Place::Defaults,
            (Place::Cekura, "metrics") => Place::Metric,
            (Place::Cekura, "schedules") => Place::Schedule,
            (Place::Cekura, "test_profiles") => Place::TestProfile,
            (Place::Cekura, "folders") => Place::Folder,
            (Place::Evaluator | Place::Defaults, "conditional_actions") => Place::Flow,
            (Place::Flow, "conditions") => Place::Condition,
            (Place::Tela, "test_cases") => Place::TestCase,
            (Place::TestCase, "messages") => Place::Message,
            (Place::TestProfile, "main_agent_variables" | "testing_agent_variables" | "information")
            | (Place::TestCase, "variables") => Place::Variables,
            _ => Place::Other,
        }
    }
}

/// What a line of the source is, for placing comments and blank lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    Code,
    Comment,
    Blank,
    /// A line of a scalar that started on an earlier line (a block scalar's content).
    InScalar,
}

/// The comments and blank lines of the source, handed out to the entries and items they stand above or beside.
///
/// The conversion runs twice: the first run records the source line of every entry and item in the order they
/// are visited, which decides who takes what (the first on a line takes the lines above it, the last one the
/// comment beside it, and a comment nobody stands right below goes above the next entry, or to the end); the
/// second run hands them out.
struct Layout<'a> {
    text: &'a str,
    lines: Vec<LineKind>,
    comments: BTreeMap<usize, &'a Comment>,
    recording: bool,
    visits: Vec<usize>,
    visit: usize,
    first_on_line: BTreeSet<usize>,
    last_on_line: BTreeMap<usize, usize>,
    /// Comments no entry or item stands right below or beside, by the line of the next entry or item.
    strays: BTreeMap<usize, Vec<&'a Comment>>,
    footer: Vec<&'a Comment>,
    /// The lines above the document's first key: they stay at the top, whichever key comes first.
    header: Vec<Above>,
}

impl<'a> Layout<'a> {
    fn new(text: &'a str, root: &yaml::Node, comments: &'a [Comment]) -> Self {
        let mut lines: Vec<LineKind> = std::iter::once(LineKind::Code)
            .chain(text.split('\n').map(|l| if l.trim().is_empty() { LineKind::Blank } else { LineKind::Code }))
            .collect();
        mark_scalars(text, root, &mut lines);
        let comments: BTreeMap<usize, &Comment> = comments.iter().map(|c| (c.line, c)).collect();
        for c in comments.values().filter(|c| c.own_line) {
            lines[c.line] = LineKind::Comment;
        }
        Layout {
            text,
            lines,
            comments,
            recording: true,
            visits: Vec::new(),
            visit: 0,
            first_on_line: BTreeSet::new(),
            last_on_line: BTreeMap::new(),
            strays: BTreeMap::new(),
            footer: Vec::new(),
            header: Vec::new(),
        }
    }

    /// After the recording run: decide who takes which comment and blank line.
    fn settle(&mut self) {
        let mut taken = BTreeSet::new();
        let mut seen = BTreeSet::new();
        for (visit, line) in self.visits.iter().enumerate() {
            if seen.insert(*line) {
                self.first_on_line.insert(visit);
                taken.extend(self.run_above(*line));
            }
            self.last_on_line.insert(*line, visit);
        }
        taken.extend(self.last_on_line.keys().copied());
        let mut starts = self.visits.clone();
        starts.sort_unstable();
        starts.dedup();
        for (line, c) in &self.comments {
            if taken.contains(line) {
                continue;
            }
            match starts.iter().find(|l| **l > *line) {
                Some(next) => self.strays.entry(*next).or_default().push(c),
                None => self.footer.push(c),
            }
        }
        self.recording = false;
        self.visit = 0;
    }

    /// The comment and blank lines right above `line`, top first.
    fn run_above(&self, line: usize) -> Vec<usize> {
        let mut l = line;
        while l > 1 && matches!(self.lines[l - 1], LineKind::Comment | LineKind::Blank) {
            l -= 1;
        }
        (l..line).collect()
    }

    /// The lines above and the comment beside the entry or item starting on `line`, visited now.
    fn take(&mut self, line: usize) -> (Vec<Above>, Option<String>) {
        if self.recording {
            self.visits.push(line);
            return (Vec::new(), None);
        }
        let visit = self.visit;
        self.visit += 1;
        let mut above = Vec::new();
        if self.first_on_line.contains(&visit) {
            if let Some(strays) = self.strays.remove(&line) {
                above.extend(strays.into_iter().map(|c| Above::Comment(c.text.clone())));
            }
            for l in self.run_above(line) {
                match (self.lines[l], self.comments.get(&l)) {
                    (LineKind::Blank, _) => above.push(Above::Blank),
                    (_, Some(c)) => above.push(Above::Comment(c.text.clone())),
                    _ => {}
                }
            }
        }
        if visit == 0 {
            // The file's header: it stays at the top of the document, whichever key comes first.
            self.header = std::mem::take(&mut above);
        }
        let beside = (self.last_on_line.get(&line) == Some(&visit))
            .then(|| self.comments.get(&line).filter(|c| !c.own_line).map(|c| c.text.clone()))
            .flatten();
        (above, beside)
    }

    fn footer(&self) -> Vec<Above> {
        let mut out = Vec::new();
        for c in &self.footer {
            if self.lines[c.line - 1] == LineKind::Blank {
                out.push(Above::Blank);
            }
            out.push(Above::Comment(c.text.clone()));
        }
        out
    }

    /// The 1-based line where `node` ends.
    fn end_line(&self, node: &yaml::Node) -> usize {
        self.text[..node.span.end.min(self.text.len())].matches('\n').count() + 1
    }

    /// The entries of a mapping at `place`, in canonical order.
    fn map(&mut self, entries: &[(yaml::Node, yaml::Node)], place: Place) -> Result<Vec<Entry>, String> {
        let mut out = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let (above, beside) = self.take(key.pos.line);
            let name = match &key.kind {
                NodeKind::Scalar { value, .. } if key.scalar_kind() == Some(ScalarKind::String) => value.clone(),
                _ => return Err(format!("line {}: a key that is not text", key.pos.line)),
            };
            let node = self.value(value, &name, key.pos.line, place.child(&name))?;
            let mut entry = Entry::new(name, node).trailing(beside);
            entry.comments = above;
            out.push(entry);
        }
        let keys: Vec<String> = out.iter().map(|e| e.key.clone()).collect();
        if place == Place::Variables {
            out.sort_by(|a, b| a.key.cmp(&b.key));
        } else {
            let order = place.order();
            out.sort_by_key(|e| order.iter().position(|k| *k == e.key).unwrap_or(order.len()));
        }
        if out.iter().map(|e| &e.key).ne(keys.iter()) {
            // Blank lines grouped keys in an order that is gone: they would now separate the wrong ones.
            out.iter_mut().for_each(|e| e.comments.retain(|l| *l != Above::Blank));
        }
        if let Some(first) = out.first_mut() {
            drop_leading_blanks(&mut first.comments);
        }
        Ok(out)
    }

    /// The value of `key` (on line `key_line`), whose mappings are at `place`.
    fn value(&mut self, node: &yaml::Node, key: &str, key_line: usize, place: Place) -> Result<Node, String> {
        match &node.kind {
            NodeKind::Scalar { .. } => Ok(scalar(node, key == "instructions")),
            NodeKind::Alias => Err(format!("line {}: an alias whose anchor is not known", node.pos.line)),
            NodeKind::Map(entries) => Ok(Node::Map(self.map(entries, place)?)),
            NodeKind::Seq(items) => {
                // A list of scalars is written `[a, b]`, as `import` writes sets, unless it is a block list with
                // comments inside, which would have no place there. (Comments inside a `[...]` over several lines
                // go above the next entry, so that a second run finds what the first one wrote.)
                let scalars = items.iter().all(|i| matches!(i.kind, NodeKind::Scalar { .. }));
                let end = self.end_line(node);
                let inner_comments =
                    !node.flow && end > key_line && self.comments.range(key_line + 1..=end).next().is_some();
                if !items.is_empty() && scalars && key != "folders" && !inner_comments {
                    return Ok(Node::Flow(items.iter().map(|i| scalar(i, false)).collect()));
                }
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let (mut above, mut beside) = if node.flow { (Vec::new(), None) } else { self.take(item.pos.line) };
                    let value = self.value(item, "", item.pos.line, place)?;
                    if matches!(value, Node::Map(ref e) if !e.is_empty()) {
                        // A mapping item has no end of line of its own to hold a comment: it goes above.
                        above.extend(beside.take().map(Above::Comment));
                    }
                    let mut it = Item::new(value);
                    it.comments = above;
                    it.trailing = beside;
                    out.push(it);
                }
                if let Some(first) = out.first_mut() {
                    drop_leading_blanks(&mut first.comments);
                }
                Ok(Node::Seq(out))
            }
        }
    }
}

/// A blank line stays between entries and items, never before the first of a collection (which follows its key).
fn drop_leading_blanks(lines: &mut Vec<Above>) {
    let leading = lines.iter().take_while(|l| **l == Above::Blank).count();
    lines.drain(..leading);
}

/// Mark the lines of scalars that run over several lines (after their first), so their blank lines and `#`s are
/// not taken for layout.
fn mark_scalars(text: &str, node: &yaml::Node, lines: &mut [LineKind]) {
    match &node.kind {
        NodeKind::Scalar { .. } => {
            let first = text[..node.span.start.min(text.len())].matches('\n').count() + 1;
            let last = text[..node.span.end.min(text.len())].matches('\n').count() + 1;
            for line in lines.iter_mut().take(last + 1).skip(first + 1) {
                *line = LineKind::InScalar;
            }
        }
        NodeKind::Seq(items) => items.iter().for_each(|i| mark_scalars(text, i, lines)),
        NodeKind::Map(entries) => entries.iter().for_each(|(k, v)| {
            mark_scalars(text, k, lines);
            mark_scalars(text, v, lines);
        }),
        NodeKind::Alias => {}
    }
}

/// A scalar as `import` writes it: numbers, booleans and nulls as written; texts plain when that is safe, else
/// quoted; texts of several lines as literal blocks (`instructions` always, when a block can hold it).
fn scalar(node: &yaml::Node, always_block: bool) -> Node {
    let NodeKind::Scalar { value, style, .. } = &node.kind else { return Node::Plain("null".into()) };
    if *style == ScalarStyle::Plain && node.scalar_kind() != Some(ScalarKind::String) {
        return Node::Plain(value.clone());
    }
    if always_block {
        Node::Block(value.clone())
    } else if value.trim_start_matches('\n').contains('\n') {
        Node::Text(value.clone())
    } else {
        Node::Str(value.clone())
    }
}
