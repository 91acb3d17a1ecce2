//! The pure part of `evalform pull`: from the loaded manifests and what the platform has now, the edits that make
//! the manifests describe the platform, and what could not be placed without guessing.
//!
//! What differs is decided by the planner's own comparison ([`crate::plan::diff::diff_evaluator`] on resolved
//! references), so that a plan right after a pull is empty for everything placed. Where a value goes is read from
//! the YAML tree of the file that declares the resource: the evaluator's own key, or the file's `defaults` when
//! the evaluator lacks it. Values are written in the manifest's style (a metric as a slug when the list uses
//! slugs, a personality by name when it was named, a test profile by name). This module performs no I/O and never
//! writes a sensitive value (one that came from `${env:NAME}`): such a difference is reported instead.

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use crate::manifest::Manifests;
use crate::model::{
    Address, AgentId, AgentState, Catalog, ConditionalActions, Evaluator, Information, MetricRef, NamedRef, ProfileRef,
    Script, TestCase, TestProfile, Text,
};
use crate::plan::Observed;
use crate::yaml::edit::{key_path, Edit, Value};
use crate::yaml::emit::{Entry, Item};
use crate::yaml::{self, Node, NodeKind, ScalarKind, Written};

/// What to do with a platform change to a value that comes from `defaults`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DefaultsChoice {
    /// Report it; write nothing for it.
    #[default]
    Report,
    /// `--override`: write the key on the evaluator (and, for instructions whose shared suffix no longer fits,
    /// `instructions_suffix: ""` with the whole text).
    Override,
    /// `--default`: change the default, when every evaluator that uses it now has the new value on the platform.
    Default,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct PullOptions {
    pub defaults: DefaultsChoice,
}

/// The edits of one manifest file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileEdits {
    pub path: PathBuf,
    pub edits: Vec<Edit>,
}

/// A platform change `pull` did not write, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotPlaced {
    pub address: Address,
    /// The field, when it is about one field (`tags`, `main_agent_variables.api_token`).
    pub field: Option<String>,
    /// `FILE:LINE:COLUMN` of the value in the manifests, when there is one.
    pub location: Option<String>,
    pub reason: String,
    pub hint: Option<String>,
}

impl fmt::Display for NotPlaced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.address)?;
        if let Some(field) = &self.field {
            write!(f, " {field}")?;
        }
        if let Some(loc) = &self.location {
            write!(f, " ({loc})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Everything `pull` found: edits per file (files without edits are left out) and what was not placed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pulled {
    pub files: Vec<FileEdits>,
    pub not_placed: Vec<NotPlaced>,
}

/// Compute the edits that bring `manifests` in line with `observed`.
pub fn pull(manifests: &Manifests, observed: &Observed, opts: &PullOptions) -> Pulled {
    let docs: Vec<Doc> = manifests
        .files
        .iter()
        .map(|f| {
            let root = yaml::parse_tree(&f.text).ok().flatten();
            let agent = root.as_ref().and_then(|r| r.get("cekura")).and_then(|c| c.get("agent")).and_then(int_of);
            Doc { path: f.path.clone(), root, agent }
        })
        .collect();
    let mut run = Run { docs: &docs, opts: *opts, edits: vec![Vec::new(); docs.len()], not_placed: Vec::new() };
    for (agent, want) in &manifests.state.agents {
        let Some(have) = observed.state.agents.get(agent) else { continue };
        let catalog = observed.catalogs.get(agent).cloned().unwrap_or_default();
        run.agent(*agent, want, have, &catalog);
    }
    for (prompt, want) in &manifests.state.prompts {
        if let Some(have) = observed.state.prompts.get(prompt) {
            run.prompt(prompt, &want.test_cases, &have.test_cases);
        }
    }
    let files = docs
        .iter()
        .zip(run.edits)
        .filter(|(_, e)| !e.is_empty())
        // A literal `${env:` of the platform is written escaped, as import writes it (`writeback::text_value`).
        .map(|(d, edits)| FileEdits { path: d.path.clone(), edits })
        .collect();
    Pulled { files, not_placed: run.not_placed }
}

struct Doc {
    path: PathBuf,
    root: Option<Node>,
    agent: Option<AgentId>,
}

/// Where an evaluator is declared: its file and its path in that file.
#[derive(Clone)]
struct Place<'d> {
    file: usize,
    path: String,
    node: &'d Node,
}

/// A field's new value, in terms the file can take.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Want {
    Value(Value),
    Strings(BTreeSet<String>),
    Metrics(BTreeSet<u64>),
    /// A conditional-actions flow: only the role and the conditions that differ are rewritten.
    Flow {
        from: ConditionalActions,
        to: ConditionalActions,
    },
}

/// One evaluator whose field, taken from `defaults`, changed on the platform.
struct DefaultUse<'d> {
    address: Address,
    place: Place<'d>,
    want: Want,
}

struct Run<'d> {
    docs: &'d [Doc],
    opts: PullOptions,
    edits: Vec<Vec<Edit>>,
    not_placed: Vec<NotPlaced>,
}

const SCRIPT_KEYS: [&str; 3] = ["type", "instructions", "conditional_actions"];

impl<'d> Run<'d> {
    fn report(
        &mut self,
        address: &Address,
        field: Option<&str>,
        location: Option<String>,
        reason: String,
        hint: Option<String>,
    ) {
        self.not_placed.push(NotPlaced {
            address: address.clone(),
            field: field.map(str::to_string),
            location,
            reason,
            hint,
        });
    }

    fn location(&self, file: usize, path: &str) -> Option<String> {
        let root = self.docs[file].root.as_ref()?;
        let index = yaml::PositionIndex::build(root);
        let at = index.nearest(path);
        let pos = at.key.unwrap_or(at.value);
        Some(format!("{}:{}:{}", self.docs[file].path.display(), pos.line, pos.column))
    }

    /// The node of every `cekura.<list>[i]` of this agent with `name`.
    fn find(&self, agent: AgentId, list: &str, name: &str) -> Option<Place<'d>> {
        for (file, doc) in self.docs.iter().enumerate() {
            if doc.agent != Some(agent) {
                continue;
            }
            let Some(items) = doc.root.as_ref().and_then(|r| r.get("cekura")).and_then(|c| c.get(list)) else {
                continue;
            };
            let NodeKind::Seq(items) = &items.kind else { continue };
            for (i, item) in items.iter().enumerate() {
                if item.get("name").and_then(Node::as_str) == Some(name) {
                    return Some(Place { file, path: format!("cekura.{list}[{i}]"), node: item });
                }
            }
        }
        None
    }

    fn defaults_of(&self, file: usize) -> Option<&'d Node> {
        self.docs[file].root.as_ref()?.get("cekura")?.get("defaults")
    }

    fn agent(&mut self, agent: AgentId, want: &AgentState, have: &AgentState, catalog: &Catalog) {
        let mut errors = Vec::new();
        let resolved = crate::plan::resolve::resolve_agent(want, have, catalog, &mut errors);
        // Pinned evaluators claim their remote match first, then the rest match by name (as the planner does).
        let pinned: BTreeSet<u64> = want.evaluators.iter().filter_map(|w| w.id).collect();
        let mut claimed = BTreeSet::new();
        let mut pairs: Vec<(&Evaluator, &Evaluator, Option<&Evaluator>)> = Vec::new();
        for (w, r) in want.evaluators.iter().zip(&resolved.evaluators) {
            let remote = match w.id {
                Some(id) => have.evaluators.iter().find(|h| h.id == Some(id)),
                None => have.evaluators.iter().find(|h| {
                    h.name == w.name && !h.id.is_some_and(|id| pinned.contains(&id) || claimed.contains(&id))
                }),
            };
            claimed.extend(remote.and_then(|h| h.id));
            pairs.push((w, r, remote));
        }
        let mut shared: BTreeMap<(usize, String), Vec<DefaultUse<'d>>> = BTreeMap::new();
        for (w, r, remote) in pairs {
            let address = Address::Evaluator { agent, name: w.name.clone() };
            let Some(place) = self.find(agent, "evaluators", &w.name) else { continue };
            let Some(remote) = remote else {
                let how = match w.id {
                    Some(id) => format!("no evaluator with id {id} exists on the platform"),
                    None => "no evaluator of this name exists on the platform".to_string(),
                };
                self.report(
                    &address,
                    None,
                    self.location(place.file, &place.path),
                    format!("{how}; pull does not delete it from the manifest"),
                    Some("remove it from the manifest, or run `evalform apply` to create it again".into()),
                );
                continue;
            };
            self.evaluator(&address, w, r, remote, &place, have, catalog, &mut shared);
        }
        for r in &have.evaluators {
            if !r.id.is_some_and(|id| claimed.contains(&id)) {
                let address = Address::Evaluator { agent, name: r.name.clone() };
                let id = r.id.map(|id| format!(" (id {id})")).unwrap_or_default();
                self.report(
                    &address,
                    None,
                    None,
                    format!("exists only on the platform{id}; pull does not add evaluators"),
                    Some(match r.id {
                        Some(id) => format!("adopt it into these manifests with `evalform import --evaluator {id}`"),
                        None => {
                            format!("adopt it with `evalform import --agent {agent}` and copy it into your manifests")
                        }
                    }),
                );
            }
        }
        self.place_defaults(shared, catalog);
        self.test_profiles(agent, want, have);
        self.metrics(agent, want, have);
        self.schedules(agent, want, have);
    }

    #[allow(clippy::too_many_arguments)]
    fn evaluator(
        &mut self,
        address: &Address,
        desired: &Evaluator,
        resolved: &Evaluator,
        remote: &Evaluator,
        place: &Place<'d>,
        have: &AgentState,
        catalog: &Catalog,
        shared: &mut BTreeMap<(usize, String), Vec<DefaultUse<'d>>>,
    ) {
        let diff = crate::plan::diff::diff_evaluator(resolved, Some(remote));
        let changed: BTreeSet<&str> = diff.changes.iter().map(|c| c.field.as_str()).collect();
        let defaults = self.defaults_of(place.file);
        let own_script = SCRIPT_KEYS.iter().any(|k| place.node.get(k).is_some());
        for field in changed {
            let key = field;
            // Where the field is written: on the evaluator, or in the file's defaults.
            let script_key = matches!(key, "instructions" | "conditional_actions");
            let own = if script_key { own_script } else { place.node.get(key).is_some() };
            let at = if own { format!("{}.{key}", place.path) } else { format!("cekura.defaults.{key}") };
            let location = self.location(place.file, &at);
            let node = if own { place.node.get(key) } else { defaults.and_then(|d| d.get(key)) };
            let sensitive_reason = |t: &Text| {
                let template = t.template().unwrap_or("${env:...}");
                format!("comes from {template}; not written")
            };
            // The manifest format has no way to say "none" for these; the user decides whether to stop managing it.
            let unset = |run: &mut Self, location: Option<String>| {
                run.report(
                    address,
                    Some(key),
                    location,
                    "has no value on the platform any more; the manifest cannot say \"none\" for it".into(),
                    Some(format!(
                        "remove `{key}` from the manifest to stop managing it, or `evalform apply` to set it again"
                    )),
                );
            };
            let want = match key {
                "name" => Want::Value(Value::Str(remote.name.clone())),
                "folder" => Want::Value(Value::Str(remote.spec.folder.clone().unwrap_or_default())),
                "expected_outcome" | "first_message" => {
                    let (d, r) = if key == "expected_outcome" {
                        (&desired.spec.expected_outcome, &remote.spec.expected_outcome)
                    } else {
                        (&desired.spec.first_message, &remote.spec.first_message)
                    };
                    if let Some(t) = d.as_ref().filter(|t| t.is_sensitive()) {
                        self.report(address, Some(key), location, sensitive_reason(t), None);
                        continue;
                    }
                    Want::Value(crate::writeback::long_text(&r.clone().unwrap_or_default()))
                }
                "instructions" | "conditional_actions" => {
                    match self.script(address, desired, remote, place, node, location.clone()) {
                        Some(w) => w,
                        None => continue,
                    }
                }
                "personality" => {
                    let Some(NamedRef::Id(id)) = remote.spec.personality.clone() else {
                        unset(self, location);
                        continue;
                    };
                    let by_name = node.is_some_and(|n| n.scalar_kind() == Some(ScalarKind::String));
                    match catalog.personalities.iter().find(|p| p.id == id).filter(|_| by_name) {
                        Some(p) => Want::Value(Value::Str(p.name.clone())),
                        None => Want::Value(Value::Int(id)),
                    }
                }
                "test_profile" => match remote.spec.test_profile.clone() {
                    Some(ProfileRef::Id(id)) => match have.test_profiles.iter().find(|p| p.id == Some(id)) {
                        Some(p) => Want::Value(Value::Str(p.name.clone())),
                        None => Want::Value(Value::Int(id)),
                    },
                    Some(ProfileRef::Name(n)) => Want::Value(Value::Str(n)),
                    None => {
                        unset(self, location);
                        continue;
                    }
                },
                "metrics" => Want::Metrics(
                    remote
                        .spec
                        .metrics
                        .iter()
                        .flatten()
                        .filter_map(|m| match m {
                            MetricRef::Id(id) => Some(*id),
                            MetricRef::Slug(_) => None,
                        })
                        .collect(),
                ),
                "tools" => Want::Strings(remote.spec.tools.iter().flatten().cloned().collect()),
                "tags" => Want::Strings(remote.spec.tags.iter().flatten().cloned().collect()),
                "language" | "max_duration" | "phone_number" => {
                    let value = match key {
                        "language" => remote.spec.language.clone().map(Value::Str),
                        "max_duration" => remote.spec.max_duration.map(|n| Value::Int(n.into())),
                        _ => remote.spec.phone_number.map(Value::Int),
                    };
                    match value {
                        Some(v) => Want::Value(v),
                        None => {
                            unset(self, location);
                            continue;
                        }
                    }
                }
                other => {
                    self.report(address, Some(other), location, "pull does not write this field".into(), None);
                    continue;
                }
            };
            if own {
                let edits = edits_for(&at, node, &want, catalog);
                self.edits[place.file].extend(edits);
            } else if node.is_some() {
                shared.entry((place.file, key.to_string())).or_default().push(DefaultUse {
                    address: address.clone(),
                    place: place.clone(),
                    want,
                });
            } else {
                self.report(address, Some(key), location, "cannot find where the manifest sets it".into(), None);
            }
        }
    }

    /// The new `instructions` (minus the suffix) or `conditional_actions` of an evaluator, or a report.
    fn script(
        &mut self,
        address: &Address,
        desired: &Evaluator,
        remote: &Evaluator,
        place: &Place<'d>,
        node: Option<&Node>,
        location: Option<String>,
    ) -> Option<Want> {
        match (&desired.spec.script, &remote.spec.script) {
            (Some(Script::Text(d)), Some(Script::Text(r))) => {
                if d.is_sensitive() {
                    let template = d.template().unwrap_or("${env:...}");
                    self.report(
                        address,
                        Some("instructions"),
                        location,
                        format!("comes from {template}; not written"),
                        None,
                    );
                    return None;
                }
                let suffix = desired.spec.instruction_parts.as_ref().and_then(|p| p.suffix.clone()).unwrap_or_default();
                let suffix = crate::model::normalize_long_text(&suffix);
                let remote_text = r.expose();
                if suffix.is_empty() {
                    // The loader drops trailing line breaks of instructions, so a `|` block may keep its own.
                    let clip = matches!(&node.map(|n| &n.kind), Some(NodeKind::Scalar { value, written: Written::Literal, .. }) if value.ends_with('\n'));
                    let text = if clip { format!("{remote_text}\n") } else { remote_text.to_string() };
                    return Some(Want::Value(Value::Text(crate::import::escape_env_text(&text))));
                }
                if let Some(body) = remote_text.strip_suffix(suffix.as_str()) {
                    return Some(Want::Value(Value::Text(crate::import::escape_env_text(body))));
                }
                if self.opts.defaults == DefaultsChoice::Override {
                    // The whole text on the evaluator, and no suffix for it.
                    let file = place.file;
                    let mut edits =
                        vec![Edit::set(format!("{}.instructions_suffix", place.path), Value::Str(String::new()))];
                    let whole = crate::import::escape_env_text(remote_text);
                    edits.push(Edit::set(format!("{}.instructions", place.path), Value::Text(whole)));
                    self.edits[file].extend(edits);
                    return None;
                }
                self.report(
                    address,
                    Some("instructions"),
                    location,
                    "the platform's text no longer ends with `instructions_suffix`".into(),
                    Some("rerun with --override to write the whole text on this evaluator with `instructions_suffix: \"\"`".into()),
                );
                None
            }
            (Some(Script::Flow(d)), Some(Script::Flow(r))) => {
                let sensitive = d.role.is_sensitive()
                    || d.conditions.iter().any(|c| {
                        c.action.is_sensitive()
                            || matches!(&c.condition, crate::model::ConditionTrigger::Text(t) if t.is_sensitive())
                    });
                if sensitive {
                    self.report(
                        address,
                        Some("conditional_actions"),
                        location,
                        "the flow holds values from ${env:...}; not written".into(),
                        None,
                    );
                    return None;
                }
                Some(Want::Flow { from: d.clone(), to: r.clone() })
            }
            _ => {
                self.report(
                    address,
                    Some("type"),
                    location,
                    "the evaluator changed between instructions and a conditional-actions flow on the platform".into(),
                    Some("edit the manifest by hand, or `evalform import` the agent to see the new script".into()),
                );
                None
            }
        }
    }

    /// Values that come from `defaults`: report, override on the evaluator, or change the default.
    fn place_defaults(&mut self, shared: BTreeMap<(usize, String), Vec<DefaultUse<'d>>>, catalog: &Catalog) {
        for ((file, key), uses) in shared {
            let users = self.default_users(file, &key);
            let default_path = format!("cekura.defaults.{key}");
            let default_node = self.defaults_of(file).and_then(|d| d.get(&key));
            let all_same = uses.iter().all(|u| u.want == uses[0].want);
            let every_user = users == uses.len();
            let location = self.location(file, &default_path);
            if every_user && all_same && (users == 1 || self.opts.defaults == DefaultsChoice::Default) {
                let edits = edits_for(&default_path, default_node, &uses[0].want, catalog);
                self.edits[file].extend(edits);
                continue;
            }
            match self.opts.defaults {
                DefaultsChoice::Override => {
                    for u in uses {
                        let at = format!("{}.{key}", u.place.path);
                        // A list inserted on the evaluator is written in the default's style.
                        let edits = match (&u.want, default_node) {
                            (Want::Metrics(ids), Some(n)) => {
                                vec![Edit::set(at, metrics_value(ids, Some(n), Some(catalog)))]
                            }
                            _ => edits_for(&at, None, &u.want, catalog),
                        };
                        self.edits[u.place.file].extend(edits);
                    }
                }
                DefaultsChoice::Default => {
                    let why = if !all_same {
                        "the evaluators that use it have different values on the platform now".to_string()
                    } else {
                        format!("only {} of the {users} evaluators that use it changed on the platform", uses.len())
                    };
                    for u in uses {
                        self.report(
                            &u.address,
                            Some(&key),
                            location.clone(),
                            format!("comes from `defaults`; not changed there: {why}"),
                            Some("rerun with --override to set it on this evaluator".into()),
                        );
                    }
                }
                DefaultsChoice::Report => {
                    for u in uses {
                        self.report(
                            &u.address,
                            Some(&key),
                            location.clone(),
                            format!("changed on the platform, but its value comes from `defaults` shared by {users} evaluators"),
                            Some("rerun with --override to set it on this evaluator, or --default to change the default".into()),
                        );
                    }
                }
            }
        }
    }

    /// How many evaluators of `file` take `key` from its defaults.
    fn default_users(&self, file: usize, key: &str) -> usize {
        let Some(items) = self.docs[file].root.as_ref().and_then(|r| r.get("cekura")).and_then(|c| c.get("evaluators"))
        else {
            return 0;
        };
        let NodeKind::Seq(items) = &items.kind else { return 0 };
        items
            .iter()
            .filter(|e| {
                if matches!(key, "instructions" | "conditional_actions" | "type") {
                    SCRIPT_KEYS.iter().all(|k| e.get(k).is_none())
                } else {
                    e.get(key).is_none()
                }
            })
            .count()
    }

    /// The `tela.test_cases[i]` with `title` in a file of `prompt`.
    fn find_case(&self, prompt: &str, title: &str) -> Option<Place<'d>> {
        for (file, doc) in self.docs.iter().enumerate() {
            let Some(tela) = doc.root.as_ref().and_then(|r| r.get("tela")) else { continue };
            if tela.get("prompt").and_then(Node::as_str) != Some(prompt) {
                continue;
            }
            let Some(NodeKind::Seq(items)) = tela.get("test_cases").map(|n| &n.kind) else { continue };
            for (i, item) in items.iter().enumerate() {
                if item.get("title").and_then(Node::as_str) == Some(title) {
                    return Some(Place { file, path: format!("tela.test_cases[{i}]"), node: item });
                }
            }
        }
        None
    }

    /// Tela test cases, matched by title: messages (the changed ones, in their form), variables key by key, the
    /// expected output.
    fn prompt(&mut self, prompt: &str, want: &[TestCase], have: &[TestCase]) {
        for case in want {
            let address = Address::TestCase { prompt: prompt.to_string(), title: case.title.clone() };
            let Some(place) = self.find_case(prompt, &case.title) else { continue };
            let Some(remote) = have.iter().find(|r| r.title == case.title) else {
                self.report(
                    &address,
                    None,
                    self.location(place.file, &place.path),
                    "no test case of this title on the platform; pull does not delete it from the manifest".into(),
                    Some("remove it from the manifest, or run `evalform apply` to create it again".into()),
                );
                continue;
            };
            let location = |run: &Self, key: &str| run.location(place.file, &format!("{}.{key}", place.path));
            if let (Some(d), Some(r)) = (&case.messages, &remote.messages) {
                if d != r {
                    if d.iter().any(|m| m.content.is_sensitive()) {
                        let reason = "a message comes from ${env:...}; not written".to_string();
                        self.report(&address, Some("messages"), location(self, "messages"), reason, None);
                    } else {
                        let new: Vec<Value> = r
                            .iter()
                            .map(|m| {
                                Value::Map(vec![
                                    Entry::new("role", Value::Str(m.role.clone())),
                                    Entry::new("content", crate::writeback::long_text(&m.content)),
                                ])
                            })
                            .collect();
                        let path = format!("{}.messages", place.path);
                        let items = match place.node.get("messages").map(|n| &n.kind) {
                            Some(NodeKind::Seq(items)) if items.len() == r.len() && d.len() == r.len() => Some(items),
                            _ => None,
                        };
                        let edits = match items {
                            Some(items) => {
                                let changed: Vec<bool> = d.iter().zip(r).map(|(a, b)| a != b).collect();
                                item_edits(&path, items, &new.iter().collect::<Vec<_>>(), &changed)
                            }
                            None => vec![Edit::set(path, Value::Seq(new.into_iter().map(Item::new).collect()))],
                        };
                        self.edits[place.file].extend(edits);
                    }
                }
            }
            if let (Some(d), Some(r)) = (&case.variables, &remote.variables) {
                if d != r {
                    let path = format!("{}.variables", place.path);
                    self.map_section(&address, place.file, "variables", &path, place.node.get("variables"), d, r);
                }
            }
            if let Some(d) = &case.expected_output {
                let r = remote.expected_output.clone().unwrap_or_default();
                if *d != r {
                    if d.is_sensitive() {
                        let template = d.template().unwrap_or("${env:...}");
                        let reason = format!("comes from {template}; not written");
                        self.report(&address, Some("expected_output"), location(self, "expected_output"), reason, None);
                    } else {
                        let path = format!("{}.expected_output", place.path);
                        self.edits[place.file].push(Edit::set(path, crate::writeback::long_text(&r)));
                    }
                }
            }
        }
        for r in have.iter().filter(|r| !want.iter().any(|c| c.title == r.title)) {
            self.report(
                &Address::TestCase { prompt: prompt.to_string(), title: r.title.clone() },
                None,
                None,
                "exists only on the platform; pull does not add test cases".into(),
                Some(format!("adopt it with `evalform import --prompt {prompt}` and copy it into your manifests")),
            );
        }
    }

    /// Metrics the manifests declare: every field a declaration sets takes the platform's value (a dashboard edit of
    /// a judge prompt is accepted). A metric only on the platform is reported, as unmanaged evaluators are.
    fn metrics(&mut self, agent: AgentId, want: &AgentState, have: &AgentState) {
        for m in &want.metrics {
            let Some(place) = self.find(agent, "metrics", &m.name) else { continue };
            let address = Address::Metric { agent, name: m.name.clone() };
            let Some(remote) = have.metrics.iter().find(|r| r.name == m.name) else { continue };
            let (w, r) = (&m.spec, &remote.spec);
            let mut sets: Vec<(&str, Value)> = Vec::new();
            for (key, want_word, have_word) in [
                ("type", &w.kind, &r.kind),
                ("eval_type", &w.eval_type, &r.eval_type),
                ("evaluation_trigger", &w.evaluation_trigger, &r.evaluation_trigger),
            ] {
                if let (Some(v), Some(h)) = (want_word, have_word) {
                    if v != h {
                        sets.push((key, Value::Str(h.clone())));
                    }
                }
            }
            for (key, want_text, have_text) in
                [("description", &w.description, &r.description), ("custom_code", &w.custom_code, &r.custom_code)]
            {
                let (Some(d), Some(h)) = (want_text, have_text) else { continue };
                if d == h {
                    continue;
                }
                if d.is_sensitive() {
                    let template = d.template().unwrap_or("${env:...}");
                    let location = self.location(place.file, &format!("{}.{key}", place.path));
                    self.report(&address, Some(key), location, format!("comes from {template}; not written"), None);
                } else {
                    sets.push((key, crate::writeback::long_text(h)));
                }
            }
            if let (Some(v), Some(h)) = (&w.enum_values, &r.enum_values) {
                if v != h {
                    sets.push(("enum_values", Value::Flow(h.iter().cloned().map(Value::Str).collect())));
                }
            }
            for (key, want_flag, have_flag) in [
                ("simulation_enabled", w.simulation_enabled, r.simulation_enabled),
                ("observability_enabled", w.observability_enabled, r.observability_enabled),
            ] {
                if let (Some(v), Some(h)) = (want_flag, have_flag) {
                    if v != h {
                        sets.push((key, Value::Bool(h)));
                    }
                }
            }
            for (key, value) in sets {
                self.edits[place.file].push(Edit::set(format!("{}.{key}", place.path), value));
            }
        }
    }

    /// Schedules the manifests declare: every field a declaration sets takes the platform's value.
    fn schedules(&mut self, agent: AgentId, want: &AgentState, have: &AgentState) {
        for s in &want.schedules {
            let Some(place) = self.find(agent, "schedules", &s.name) else { continue };
            let Some(remote) = have.schedules.iter().find(|r| r.name == s.name) else { continue };
            let (w, r) = (&s.spec, &remote.spec);
            let mut sets: Vec<(&str, Value)> = Vec::new();
            for (key, want_word, have_word) in [("cron", &w.cron, &r.cron), ("mode", &w.mode, &r.mode)] {
                if let (Some(v), Some(h)) = (want_word, have_word) {
                    if v != h {
                        sets.push((key, Value::Str(h.clone())));
                    }
                }
            }
            for (key, want_set, have_set) in [("tags", &w.tags, &r.tags), ("evaluators", &w.evaluators, &r.evaluators)]
            {
                if let (Some(v), Some(h)) = (want_set, have_set) {
                    if v != h {
                        sets.push((key, Value::Flow(h.iter().cloned().map(Value::Str).collect())));
                    }
                }
            }
            if let (Some(v), Some(h)) = (w.active, r.active) {
                if v != h {
                    sets.push(("active", Value::Bool(h)));
                }
            }
            for (key, value) in sets {
                self.edits[place.file].push(Edit::set(format!("{}.{key}", place.path), value));
            }
        }
    }

    fn test_profiles(&mut self, agent: AgentId, want: &AgentState, have: &AgentState) {
        let mut claimed = BTreeSet::new();
        for p in &want.test_profiles {
            let remote = match p.id {
                Some(id) => have.test_profiles.iter().find(|h| h.id == Some(id)),
                None => have.test_profiles.iter().find(|h| h.name == p.name),
            };
            claimed.extend(remote.and_then(|r| r.id));
            let Some(place) = self.find(agent, "test_profiles", &p.name) else { continue };
            let address = Address::TestProfile { agent, name: p.name.clone() };
            let Some(remote) = remote else {
                self.report(
                    &address,
                    None,
                    self.location(place.file, &place.path),
                    "no such test profile on the platform; pull does not delete it from the manifest".into(),
                    Some("remove it from the manifest, or run `evalform apply` to create it again".into()),
                );
                continue;
            };
            if remote.name != p.name {
                self.edits[place.file].push(Edit::set(format!("{}.name", place.path), Value::Str(remote.name.clone())));
                self.rename_profile_references(agent, &p.name, &remote.name);
            }
            self.variables(&address, p, remote, &place);
        }
        for r in &have.test_profiles {
            if !r.id.is_some_and(|id| claimed.contains(&id)) {
                self.report(
                    &Address::TestProfile { agent, name: r.name.clone() },
                    None,
                    None,
                    match r.id {
                        Some(id) => format!("exists only on the platform (id {id}); pull does not add test profiles"),
                        None => "exists only on the platform; pull does not add test profiles".into(),
                    },
                    Some(match r.id {
                        Some(id) => format!("adopt it into these manifests with `evalform import --test-profile {id}`"),
                        None => {
                            format!("adopt it with `evalform import --agent {agent}` and copy it into your manifests")
                        }
                    }),
                );
            }
        }
    }

    /// A test profile renamed on the platform (pinned by `id`): evaluators and defaults that name it follow.
    fn rename_profile_references(&mut self, agent: AgentId, old: &str, new: &str) {
        for (file, doc) in self.docs.iter().enumerate() {
            if doc.agent != Some(agent) {
                continue;
            }
            let Some(cekura) = doc.root.as_ref().and_then(|r| r.get("cekura")) else { continue };
            let mut paths = Vec::new();
            if cekura.get("defaults").and_then(|d| d.get("test_profile")).and_then(Node::as_str) == Some(old) {
                paths.push("cekura.defaults.test_profile".to_string());
            }
            if let Some(NodeKind::Seq(items)) = cekura.get("evaluators").map(|e| &e.kind) {
                for (i, item) in items.iter().enumerate() {
                    let named = item.get("test_profile").filter(|n| n.scalar_kind() == Some(ScalarKind::String));
                    if named.and_then(Node::as_str) == Some(old) {
                        paths.push(format!("cekura.evaluators[{i}].test_profile"));
                    }
                }
            }
            for path in paths {
                // The evaluator's own comparison may already have written the new name there.
                if !self.edits[file].iter().any(|e| e.path == path) {
                    self.edits[file].push(Edit::set(path, Value::Str(new.to_string())));
                }
            }
        }
    }

    fn variables(&mut self, address: &Address, desired: &TestProfile, remote: &TestProfile, place: &Place<'d>) {
        let Some(want) = &desired.information else { return };
        let empty = BTreeMap::new();
        let sections: Vec<(&str, &Vars, &Vars)> = match (want, remote.information.as_ref()) {
            (
                Information::Sectioned { main_agent_variables: dm, testing_agent_variables: dt },
                Some(Information::Sectioned { main_agent_variables: rm, testing_agent_variables: rt }),
            ) => vec![("main_agent_variables", dm, rm), ("testing_agent_variables", dt, rt)],
            (Information::Sectioned { main_agent_variables: dm, testing_agent_variables: dt }, None) => {
                vec![("main_agent_variables", dm, &empty), ("testing_agent_variables", dt, &empty)]
            }
            (Information::Flat(d), Some(Information::Flat(r))) => vec![("information", d, r)],
            (Information::Flat(d), None) => vec![("information", d, &empty)],
            _ => {
                if want != remote.information.as_ref().unwrap_or(want) {
                    self.report(
                        address,
                        Some("variables"),
                        self.location(place.file, &place.path),
                        "the platform holds the variables in the other form (flat or sectioned)".into(),
                        Some("edit the manifest by hand, or `evalform import` the agent to see them".into()),
                    );
                }
                return;
            }
        };
        for (section, d, r) in sections {
            if d == r {
                continue;
            }
            let section_path = format!("{}.{section}", place.path);
            self.map_section(address, place.file, section, &section_path, place.node.get(section), d, r);
        }
    }

    /// A mapping of variables, key by key: changed and new keys are set, dropped keys removed; a sensitive value
    /// is reported, never written.
    #[allow(clippy::too_many_arguments)]
    fn map_section(
        &mut self,
        address: &Address,
        file: usize,
        label: &str,
        section_path: &str,
        section_node: Option<&Node>,
        d: &Vars,
        r: &Vars,
    ) {
        let mut edits = Vec::new();
        let mut blocked = false;
        for (k, dv) in d {
            if r.get(k) != Some(dv) && dv.is_sensitive() {
                let template = dv.template().unwrap_or("${env:...}");
                let field = format!("{label}.{k}");
                self.report(
                    address,
                    Some(&field),
                    self.location(file, &key_path(section_path, k)),
                    format!("comes from {template}; not written"),
                    Some("set the variable in the environment (or the secret store) to the platform's value".into()),
                );
                blocked = true;
            }
        }
        match section_node {
            Some(node) if matches!(node.kind, NodeKind::Map(_)) => {
                let kept = d.keys().filter(|k| r.contains_key(*k)).count();
                if kept == 0 && !blocked {
                    edits.push(Edit::set(section_path, string_map(r)));
                } else {
                    for k in d.keys().filter(|k| !r.contains_key(*k)) {
                        if !d[k].is_sensitive() {
                            edits.push(Edit::remove(key_path(section_path, k)));
                        }
                    }
                    for (k, rv) in r {
                        if d.get(k) != Some(rv) && !d.get(k).is_some_and(Text::is_sensitive) {
                            edits.push(Edit::set(
                                key_path(section_path, k),
                                Value::Str(crate::writeback::text_value(rv)),
                            ));
                        }
                    }
                }
            }
            _ if !blocked => edits.push(Edit::set(section_path, string_map(r))),
            _ => {}
        }
        self.edits[file].extend(edits);
    }
}

type Vars = BTreeMap<String, Text>;

fn string_map(map: &BTreeMap<String, Text>) -> Value {
    Value::Map(map.iter().map(|(k, v)| Entry::new(k.clone(), Value::Str(crate::writeback::text_value(v)))).collect())
}

fn int_of(node: &Node) -> Option<u64> {
    (node.scalar_kind() == Some(ScalarKind::Integer)).then(|| node.as_str()?.parse().ok()).flatten()
}

/// The edits that make the value at `path` (written as `node`, if it exists) hold `want`: lists are edited item
/// by item so that the items that stay keep their place and comments.
fn edits_for(path: &str, node: Option<&Node>, want: &Want, catalog: &Catalog) -> Vec<Edit> {
    let items = node.and_then(|n| match &n.kind {
        NodeKind::Seq(items) => Some(items),
        _ => None,
    });
    match (want, items) {
        (Want::Value(v), _) => vec![Edit::set(path, v.clone())],
        (Want::Flow { from, to }, _) => flow_edits(path, node, from, to),
        (Want::Strings(set), Some(items)) => {
            let current: Vec<Option<String>> = items.iter().map(|i| i.as_str().map(str::to_string)).collect();
            set_edits(path, node.is_some_and(|n| n.flow), &current, set, |s| Value::Str(s.clone()))
        }
        (Want::Strings(set), None) => vec![Edit::set(path, Value::Flow(set.iter().cloned().map(Value::Str).collect()))],
        (Want::Metrics(ids), Some(items)) => {
            let current: Vec<Option<u64>> = items.iter().map(|i| metric_id(i, catalog)).collect();
            let new_style = |id: &u64| metric_value(*id, node, Some(catalog));
            set_edits(path, node.is_some_and(|n| n.flow), &current, ids, new_style)
        }
        (Want::Metrics(ids), None) => vec![Edit::set(path, metrics_value(ids, None, Some(catalog)))],
    }
}

/// The edits of a conditional-actions flow: its role, and each condition that differs, in the form it was written
/// (a `{...}` condition stays one). When conditions were added or removed, the whole flow is rewritten.
fn flow_edits(path: &str, node: Option<&Node>, from: &ConditionalActions, to: &ConditionalActions) -> Vec<Edit> {
    let whole = || vec![Edit::set(path, crate::import::conditional_actions(to))];
    let Some(node) = node else { return whole() };
    let Some(NodeKind::Seq(items)) = node.get("conditions").map(|c| &c.kind) else { return whole() };
    let Value::Map(entries) = crate::import::conditional_actions(to) else { return whole() };
    let new_items: Vec<&Value> = match entries.iter().find(|e| e.key == "conditions").map(|e| &e.value) {
        Some(Value::Seq(items)) => items.iter().map(|i| &i.node).collect(),
        _ => return whole(),
    };
    if items.len() != to.conditions.len() || from.conditions.len() != to.conditions.len() {
        return whole();
    }
    let mut edits = Vec::new();
    if from.role != to.role {
        edits.push(Edit::set(format!("{path}.role"), crate::writeback::long_text(&to.role)));
    }
    let changed: Vec<bool> = from.conditions.iter().zip(&to.conditions).map(|(a, b)| a != b).collect();
    edits.extend(item_edits(&format!("{path}.conditions"), items, &new_items, &changed));
    edits
}

/// Rewrite the items of a list of mappings marked `changed`, each in the form it was written: a `{...}` item whole
/// on its line, a block item key by key (keys it should no longer have are removed).
fn item_edits(path: &str, items: &[Node], new_items: &[&Value], changed: &[bool]) -> Vec<Edit> {
    let mut edits = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if !changed.get(i).copied().unwrap_or(false) {
            continue;
        }
        let item_path = format!("{path}[{i}]");
        let Some(Value::Map(fields)) = new_items.get(i) else { continue };
        if item.flow || !matches!(item.kind, NodeKind::Map(_)) {
            edits.push(Edit::set(item_path, Value::Map(fields.clone())));
            continue;
        }
        for f in fields {
            let same = match (item.get(&f.key).and_then(Node::as_str), &f.value) {
                (Some(old), Value::Int(n)) => old == n.to_string(),
                (Some(old), Value::Bool(b)) => old == b.to_string(),
                (Some(old), Value::Str(s) | Value::Text(s) | Value::Block(s)) => old == s,
                _ => false,
            };
            if !same {
                edits.push(Edit::set(key_path(&item_path, &f.key), f.value.clone()));
            }
        }
        for (k, _) in item.entries() {
            if let Some(k) = k.as_str().filter(|k| !fields.iter().any(|f| f.key == *k)) {
                edits.push(Edit::remove(key_path(&item_path, k)));
            }
        }
    }
    edits
}

/// Remove the items that are no longer members, append the new members; the whole list when nothing stays. A
/// `[...]` list that loses items is written whole (the members that stay first, in their order): it has no
/// comments inside to keep, and removing neighbours one by one would touch the same commas.
fn set_edits<T: Ord + Clone>(
    path: &str,
    flow: bool,
    current: &[Option<T>],
    want: &BTreeSet<T>,
    render: impl Fn(&T) -> Value,
) -> Vec<Edit> {
    let keep: Vec<bool> = current.iter().map(|c| c.as_ref().is_some_and(|c| want.contains(c))).collect();
    let present: BTreeSet<&T> = current.iter().flatten().collect();
    let added: Vec<Value> = want.iter().filter(|w| !present.contains(w)).map(&render).collect();
    if !keep.iter().any(|k| *k) {
        let all: Vec<Value> = want.iter().map(&render).collect();
        return vec![Edit::set(path, Value::Flow(all))];
    }
    if flow && keep.iter().any(|k| !*k) {
        let mut all: Vec<Value> =
            current.iter().zip(&keep).filter(|(_, k)| **k).filter_map(|(c, _)| c.as_ref().map(&render)).collect();
        all.extend(added);
        return vec![Edit::set(path, Value::Flow(all))];
    }
    let mut edits: Vec<Edit> =
        keep.iter().enumerate().filter(|(_, k)| !**k).map(|(i, _)| Edit::remove(format!("{path}[{i}]"))).collect();
    edits.extend(added.into_iter().map(|v| Edit::push(path, v)));
    edits
}

fn metric_id(item: &Node, catalog: &Catalog) -> Option<u64> {
    int_of(item).or_else(|| {
        let slug = item.as_str()?;
        catalog.metrics.iter().find(|m| m.slug.as_deref() == Some(slug)).map(|m| m.id)
    })
}

/// A metric as the list writes them: by slug when the list uses slugs and the catalog has one, else by id.
fn metric_value(id: u64, list: Option<&Node>, catalog: Option<&Catalog>) -> Value {
    let uses_slugs = list.is_some_and(|n| match &n.kind {
        NodeKind::Seq(items) => items.iter().any(|i| i.scalar_kind() == Some(ScalarKind::String)),
        _ => false,
    });
    let slug = catalog.and_then(|c| c.metrics.iter().find(|m| m.id == id)).and_then(|m| m.slug.clone());
    match slug.filter(|_| uses_slugs) {
        Some(s) => Value::Str(s),
        None => Value::Int(id),
    }
}

fn metrics_value(ids: &BTreeSet<u64>, list: Option<&Node>, catalog: Option<&Catalog>) -> Value {
    Value::Flow(ids.iter().map(|id| metric_value(*id, list, catalog)).collect())
}
