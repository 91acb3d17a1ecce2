//! `import`: turn what exists on the platform (an observed [`AgentState`] or [`PromptState`]) into manifest files
//! that describe it, so a team can adopt an existing suite. A plan on the written files right after shows no
//! changes: that is the contract every choice here serves.
//!
//! Rendering is pure ([`render_agent`], [`render_prompt`]): same state in, byte-identical files out, so a
//! re-import of an unchanged platform produces no diff. Only [`write_files`] touches the disk. This module never
//! talks to the platform and never parses YAML; the fetcher hands it normalised state.

mod layout;

pub mod adopt;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::model::{
    AgentState, Catalog, Condition, ConditionKind, ConditionTrigger, ConditionalActions, Evaluator, Information,
    MetricRef, NamedRef, ProfileRef, PromptState, Script, TestCase, TestProfile, Text,
};
use crate::writeback::{long_text, text_value};
use crate::yaml::emit::{self, Entry, Item, Node};

/// What [`render_agent`] reads: the observed agent and the lists that turn ids back into names.
#[derive(Debug, Clone, Copy)]
pub struct ImportInput<'a> {
    pub agent: &'a AgentState,
    pub catalog: &'a Catalog,
    /// Phone-number row id to the number, for the comment beside `phone_number`.
    pub phone_numbers: &'a BTreeMap<u64, String>,
}

/// One manifest to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedFile {
    /// Relative to the output directory.
    pub path: PathBuf,
    pub contents: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Nothing was written: these targets exist and `force` was not given.
    #[error("{}", exists_message(.paths))]
    Exists { paths: Vec<PathBuf> },
    #[error("cannot write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn exists_message(paths: &[PathBuf]) -> String {
    let list = paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    match paths.len() {
        1 => format!("1 file already exists: {list}"),
        n => format!("{n} files already exist: {list}"),
    }
}

/// The first lines of every file. No schema modeline: the schema's path relative to wherever `--out` points is
/// unknowable, so the comment says how to get one instead.
fn header(what: &str) -> Vec<String> {
    vec![
        format!("Imported by `{what}`. `evalform plan` on these files shows no changes until the platform changes."),
        "Editor completion: `evalform schema > evalform.schema.json` and point your YAML editor at it.".to_string(),
    ]
}

/// A test profile variable whose name says it holds a secret (`crm_token`, `api_key`, `password`, `pin`, ...). The
/// platform returns such values in clear, so import would write them in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LikelySecret {
    pub profile: String,
    /// `main_agent_variables`, `testing_agent_variables` or `information`.
    pub section: &'static str,
    pub key: String,
    /// The environment variable `--secrets-as-env` writes instead (`RETURNING_CUSTOMER_CRM_TOKEN`).
    pub env_name: String,
}

impl LikelySecret {
    /// Where it is, as the manifests say: `test profile "Returning customer" main_agent_variables.crm_token`.
    pub fn place(&self) -> String {
        format!("test profile {:?} {}.{}", self.profile, self.section, self.key)
    }
}

/// Whether a variable's name says it holds a secret.
fn secret_name(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["token", "secret", "password", "passwd", "apikey", "api_key", "credential", "auth"].iter().any(|w| k.contains(w))
        || k == "key"
        || k.ends_with("_key")
        || k == "pin"
        || k.ends_with("_pin")
}

/// `Returning customer` + `crm_token` -> `RETURNING_CUSTOMER_CRM_TOKEN`.
fn env_name(profile: &str, key: &str) -> String {
    let mut out = String::new();
    for c in format!("{profile}_{key}").chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_uppercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches('_').to_string();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("V_{out}")
    } else {
        out
    }
}

/// The test profile variables of `agent` that look like secrets, in the order the manifests write them.
pub fn likely_secrets(agent: &AgentState) -> Vec<LikelySecret> {
    let mut out = Vec::new();
    for p in &agent.test_profiles {
        let sections: Vec<(&'static str, &BTreeMap<String, Text>)> = match &p.information {
            Some(Information::Sectioned { main_agent_variables, testing_agent_variables }) => {
                vec![
                    ("main_agent_variables", main_agent_variables),
                    ("testing_agent_variables", testing_agent_variables),
                ]
            }
            Some(Information::Flat(vars)) => vec![("information", vars)],
            None => Vec::new(),
        };
        for (section, vars) in sections {
            for (key, value) in vars {
                if secret_name(key) && !value.expose().is_empty() && !value.is_sensitive() {
                    let env_name = env_name(&p.name, key);
                    out.push(LikelySecret { profile: p.name.clone(), section, key: key.clone(), env_name });
                }
            }
        }
    }
    out
}

/// Write each of `secrets` as a `${env:NAME}` reference instead of its value (`import --secrets-as-env`).
pub fn secrets_as_env(agent: &mut AgentState, secrets: &[LikelySecret]) {
    for p in &mut agent.test_profiles {
        let sections: Vec<(&'static str, &mut BTreeMap<String, Text>)> = match &mut p.information {
            Some(Information::Sectioned { main_agent_variables, testing_agent_variables }) => {
                vec![
                    ("main_agent_variables", main_agent_variables),
                    ("testing_agent_variables", testing_agent_variables),
                ]
            }
            Some(Information::Flat(vars)) => vec![("information", vars)],
            None => Vec::new(),
        };
        for (section, vars) in sections {
            for s in secrets.iter().filter(|s| s.profile == p.name && s.section == section) {
                if let Some(v) = vars.get_mut(&s.key) {
                    *v = Text::sensitive(v.expose().to_string(), format!("${{env:{}}}", s.env_name));
                }
            }
        }
    }
}

/// The folders an agent's manifests declare: folders belong to the project, which other agents share, so only
/// those this agent's evaluators are filed in (and the folders above them) are its own.
pub(crate) fn own_folders(agent: &AgentState) -> BTreeSet<String> {
    let used: BTreeSet<&str> = agent
        .evaluators
        .iter()
        .filter_map(|e| e.spec.folder.as_deref())
        .filter(|f| !f.is_empty())
        .flat_map(|f| f.match_indices('.').map(|(i, _)| &f[..i]).chain(std::iter::once(f)))
        .collect();
    agent.folders.iter().filter(|f| used.contains(f.as_str())).cloned().collect()
}

/// The manifests describing one agent: `agent-<ID>/_agent.yaml` (project, folders, test profiles), one file per
/// top-level folder, and `agent-<ID>/_root.yaml` for evaluators in no folder. Files are sorted by path.
pub fn render_agent(input: &ImportInput) -> Vec<ImportedFile> {
    let agent = input.agent;
    let dir = PathBuf::from(format!("agent-{}", agent.agent));
    let header = header(&format!("evalform import --agent {}", agent.agent));
    let profiles = ProfileNames::new(&agent.test_profiles);
    let catalog = named_project_metrics(input.catalog, &agent.metrics);
    let refs = Refs { catalog: &catalog, phone_numbers: input.phone_numbers, profiles: &profiles };

    let mut files = Vec::new();

    // The agent file: the only one that declares folders (the loader accepts them in one file only).
    let mut cekura = vec![Entry::new("agent", Node::Int(agent.agent))];
    if let Some(project) = agent.project {
        cekura.push(Entry::new("project", Node::Int(project)));
    }
    let folders: Vec<Item> = own_folders(agent).into_iter().map(|f| Item::new(Node::Str(f))).collect();
    if !folders.is_empty() {
        cekura.push(Entry::new("folders", Node::Seq(folders)));
    }
    if !agent.metrics.is_empty() {
        let mut sorted: Vec<&crate::model::Metric> = agent.metrics.iter().collect();
        sorted.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        cekura.push(Entry::new("metrics", Node::Seq(sorted.into_iter().map(metric).collect())));
    }
    if !agent.schedules.is_empty() {
        let mut sorted: Vec<&crate::model::Schedule> = agent.schedules.iter().collect();
        sorted.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        cekura.push(Entry::new("schedules", Node::Seq(sorted.into_iter().map(schedule).collect())));
    }
    if !agent.test_profiles.is_empty() {
        let mut sorted: Vec<&TestProfile> = agent.test_profiles.iter().collect();
        sorted.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        let items = sorted.into_iter().map(|p| test_profile(p, &profiles)).collect();
        cekura.push(Entry::new("test_profiles", Node::Seq(items)));
    }
    files.push(file(dir.join(format!("{}.yaml", layout::AGENT_STEM)), &header, cekura));

    // Evaluators, grouped by top-level folder.
    let name_counts = counts(agent.evaluators.iter().map(|e| e.name.as_str()));
    let mut groups: BTreeMap<Option<&str>, Vec<&Evaluator>> = BTreeMap::new();
    for e in &agent.evaluators {
        groups.entry(layout::top_level(e.spec.folder.as_deref().unwrap_or(""))).or_default().push(e);
    }
    let stems = layout::stems(groups.keys().flatten().copied());
    for (top, mut evaluators) in groups {
        evaluators
            .sort_by(|a, b| (a.spec.folder.as_deref(), &a.name, a.id).cmp(&(b.spec.folder.as_deref(), &b.name, b.id)));
        let stem = match top {
            None => layout::ROOT_STEM.to_string(),
            Some(name) => stems[name].clone(),
        };
        let mut cekura = vec![Entry::new("agent", Node::Int(agent.agent))];
        cekura.extend(evaluator_section(&evaluators, &refs, &name_counts));
        files.push(file(dir.join(format!("{stem}.yaml")), &header, cekura));
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// The manifest for one Tela prompt's test cases: `tela/<prompt-uuid>.yaml`.
pub fn render_prompt(prompt: &PromptState) -> ImportedFile {
    let header = header(&format!("evalform import --prompt {}", prompt.prompt));
    let mut cases: Vec<&TestCase> = prompt.test_cases.iter().collect();
    cases.sort_by(|a, b| (&a.title, &a.id).cmp(&(&b.title, &b.id)));
    let titles = counts(cases.iter().map(|c| c.title.as_str()));
    let items = cases
        .into_iter()
        .map(|case| {
            let mut entries = vec![Entry::new("title", Node::Str(case.title.clone()))];
            if let Some(messages) = &case.messages {
                let items = messages
                    .iter()
                    .map(|m| {
                        Item::new(Node::Map(vec![
                            Entry::new("role", Node::Str(m.role.clone())),
                            Entry::new("content", long_text(&m.content)),
                        ]))
                    })
                    .collect();
                entries.push(Entry::new("messages", Node::Seq(items)));
            }
            if let Some(variables) = &case.variables {
                entries.push(Entry::new("variables", text_map(variables)));
            }
            if let Some(expected) = &case.expected_output {
                entries.push(Entry::new("expected_output", long_text(expected)));
            }
            let mut item = Item::new(Node::Map(entries));
            if titles[case.title.as_str()] > 1 {
                item.comments.push(emit::Above::Comment(format!(
                    "{} test cases of this prompt are titled {}; titles identify test cases, so rename all but one",
                    titles[case.title.as_str()],
                    emit::double_quoted(&case.title)
                )));
            }
            item
        })
        .collect();
    let tela = vec![Entry::new("prompt", Node::Str(prompt.prompt.clone())), Entry::new("test_cases", Node::Seq(items))];
    let root = vec![Entry::new("version", Node::Int(1)), Entry::new("tela", Node::Map(tela))];
    ImportedFile {
        path: Path::new("tela").join(format!("{}.yaml", prompt.prompt)),
        contents: emit::document(&header, &root),
    }
}

fn file(path: PathBuf, header: &[String], cekura: Vec<Entry>) -> ImportedFile {
    let root = vec![Entry::new("version", Node::Int(1)), Entry::new("cekura", Node::Map(cekura))];
    ImportedFile { path, contents: emit::document(header, &root) }
}

/// A platform text that literally holds `${env:NAME}` must stay that text: written as is, the next apply would
/// put this machine's `$NAME` in its place. The manifests' escape for a literal `${env:` is `$${env:`. Replacing
/// every `${env:` (also one already preceded by `$`) round-trips when the loader reads `$${env:` as a literal
/// `${env:` scanning left to right: `$${env:X}` on the platform is written `$$${env:X}` and read back as `$` +
/// `${env:X}`.
pub(crate) fn escape_env_text(s: &str) -> String {
    s.replace("${env:", "$${env:")
}

fn counts<'a>(names: impl Iterator<Item = &'a str>) -> BTreeMap<&'a str, usize> {
    let mut out = BTreeMap::new();
    for n in names {
        *out.entry(n).or_default() += 1;
    }
    out
}

/// Test profile names and whether each is unique within the agent, to decide how references are written.
struct ProfileNames<'a> {
    by_id: BTreeMap<u64, &'a str>,
    counts: BTreeMap<&'a str, usize>,
}

impl<'a> ProfileNames<'a> {
    fn new(profiles: &'a [TestProfile]) -> Self {
        ProfileNames {
            by_id: profiles.iter().filter_map(|p| Some((p.id?, p.name.as_str()))).collect(),
            counts: counts(profiles.iter().map(|p| p.name.as_str())),
        }
    }

    fn is_unique(&self, name: &str) -> bool {
        self.counts.get(name).copied().unwrap_or(0) == 1
    }
}

/// What turns ids back into the names people read.
struct Refs<'a> {
    catalog: &'a Catalog,
    phone_numbers: &'a BTreeMap<u64, String>,
    profiles: &'a ProfileNames<'a>,
}

/// The comment above each of several resources that share a name: why it carries an `id`.
fn duplicate_comment(kind: &str, count: usize, name: &str) -> String {
    let name = emit::double_quoted(name);
    match count {
        2 => format!("two {kind} on the platform are named {name}; pinned by id so both are managed"),
        n => format!("{n} {kind} on the platform are named {name}; pinned by id so all are managed"),
    }
}

/// The catalog with each of the project's own metrics known by its name instead of its slug, so that evaluators
/// refer to them as the `metrics` section declares them (a name resolves like a slug).
fn named_project_metrics(catalog: &Catalog, metrics: &[crate::model::Metric]) -> Catalog {
    let mut out = catalog.clone();
    for c in &mut out.metrics {
        if let Some(m) = metrics.iter().find(|m| m.id == Some(c.id)) {
            c.slug = Some(m.name.clone());
        }
    }
    out
}

/// One metric of the project, with every field the platform has (a `type` the manifests cannot say, such as the
/// platform's `basic`, is left out: not managed).
fn metric(m: &crate::model::Metric) -> Item {
    let s = &m.spec;
    let mut entries = vec![Entry::new("name", Node::Str(m.name.clone()))];
    if let Some(kind) = s.kind.as_deref().filter(|k| ["llm_judge", "custom_code"].contains(k)) {
        entries.push(Entry::new("type", Node::Str(kind.to_string())));
    }
    if let Some(e) = &s.eval_type {
        entries.push(Entry::new("eval_type", Node::Str(e.clone())));
    }
    if let Some(d) = &s.description {
        entries.push(Entry::new("description", crate::writeback::long_text(d)));
    }
    if let Some(v) = s.enum_values.as_ref().filter(|v| !v.is_empty()) {
        entries.push(Entry::new("enum_values", Node::Flow(v.iter().cloned().map(Node::Str).collect())));
    }
    if let Some(t) = &s.evaluation_trigger {
        entries.push(Entry::new("evaluation_trigger", Node::Str(t.clone())));
    }
    if let Some(c) = s.custom_code.as_ref().filter(|c| !c.expose().is_empty()) {
        entries.push(Entry::new("custom_code", crate::writeback::long_text(c)));
    }
    for (key, flag) in
        [("simulation_enabled", s.simulation_enabled), ("observability_enabled", s.observability_enabled)]
    {
        if let Some(b) = flag {
            entries.push(Entry::new(key, Node::Bool(b)));
        }
    }
    Item::new(Node::Map(entries))
}

/// One schedule (cron job) of the agent: evaluators by name, tags when it selects by tag.
fn schedule(s: &crate::model::Schedule) -> Item {
    let p = &s.spec;
    let mut entries = vec![Entry::new("name", Node::Str(s.name.clone()))];
    if let Some(c) = &p.cron {
        entries.push(Entry::new("cron", Node::Str(c.clone())));
    }
    if let Some(t) = p.tags.as_ref().filter(|t| !t.is_empty()) {
        entries.push(Entry::new("tags", string_set(t)));
    }
    if let Some(e) = p.evaluators.as_ref().filter(|e| !e.is_empty()) {
        entries.push(Entry::new("evaluators", string_set(e)));
    }
    if let Some(m) = &p.mode {
        entries.push(Entry::new("mode", Node::Str(m.clone())));
    }
    if let Some(a) = p.active {
        entries.push(Entry::new("active", Node::Bool(a)));
    }
    Item::new(Node::Map(entries))
}

fn test_profile(profile: &TestProfile, names: &ProfileNames) -> Item {
    let mut entries = vec![Entry::new("name", Node::Str(profile.name.clone()))];
    let duplicate = !names.is_unique(&profile.name);
    if let (true, Some(id)) = (duplicate, profile.id) {
        entries.push(Entry::new("id", Node::Int(id)));
    }
    match &profile.information {
        Some(Information::Sectioned { main_agent_variables, testing_agent_variables }) => {
            entries.push(Entry::new("main_agent_variables", text_map(main_agent_variables)));
            entries.push(Entry::new("testing_agent_variables", text_map(testing_agent_variables)));
        }
        Some(Information::Flat(vars)) => entries.push(Entry::new("information", text_map(vars)).comment(
            "legacy flat variables: the platform sends them to both the agent under test and the simulated caller",
        )),
        None => {}
    }
    let mut item = Item::new(Node::Map(entries));
    if duplicate {
        item.comments
            .push(duplicate_comment("test profiles", names.counts[profile.name.as_str()], &profile.name).into());
    }
    item
}

fn text_map(map: &BTreeMap<String, Text>) -> Node {
    Node::Map(map.iter().map(|(k, v)| Entry::new(k.clone(), Node::Str(text_value(v)))).collect())
}

/// `defaults` and `evaluators` of one file.
fn evaluator_section(evaluators: &[&Evaluator], refs: &Refs, name_counts: &BTreeMap<&str, usize>) -> Vec<Entry> {
    let texts: Vec<&str> = evaluators
        .iter()
        .filter_map(|e| match &e.spec.script {
            Some(Script::Text(t)) => Some(t.expose()),
            _ => None,
        })
        .collect();
    let suffix = layout::common_suffix(&texts);

    let mut bodies: Vec<Vec<Entry>> = evaluators
        .iter()
        .map(|e| evaluator_entries(e, refs, suffix.as_deref(), name_counts[e.name.as_str()] > 1))
        .collect();
    let mut defaults = layout::extract_defaults(&mut bodies);
    if let Some(suffix) = &suffix {
        defaults.push(Entry::new("instructions_suffix", long_text(&Text::new(suffix.clone()))));
    }

    let items = evaluators
        .iter()
        .zip(bodies)
        .map(|(e, entries)| {
            let mut item = Item::new(Node::Map(entries));
            let n = name_counts[e.name.as_str()];
            if n > 1 {
                item.comments.push(duplicate_comment("evaluators", n, &e.name).into());
            }
            item
        })
        .collect();
    let mut out = Vec::new();
    if !defaults.is_empty() {
        out.push(Entry::new("defaults", Node::Map(defaults)));
    }
    out.push(Entry::new("evaluators", Node::Seq(items)));
    out
}

/// One evaluator's entries in the fixed key order. `id` only for a name that is not unique in the agent (the
/// caller adds the comment saying why).
fn evaluator_entries(e: &Evaluator, refs: &Refs, suffix: Option<&str>, pinned: bool) -> Vec<Entry> {
    let s = &e.spec;
    let mut out = vec![Entry::new("name", Node::Str(e.name.clone()))];
    if let Some(id) = e.id.filter(|_| pinned) {
        out.push(Entry::new("id", Node::Int(id)));
    }
    // `folder: ""` ("in no folder") is written too: left out, the folder would not be managed, and a move into a
    // folder on the platform would never show as drift.
    if let Some(folder) = &s.folder {
        out.push(Entry::new("folder", Node::Str(folder.clone())));
    }
    match &s.script {
        Some(Script::Text(text)) => {
            let full = text_value(text);
            match suffix.and_then(|sfx| layout::strip_suffix(&full, sfx)) {
                Some(body) => out.push(Entry::new("instructions", Node::Block(body.to_string()))),
                None => {
                    out.push(Entry::new("instructions", Node::Block(full.clone())));
                    if suffix.is_some() {
                        out.push(
                            Entry::new("instructions_suffix", Node::Str(String::new()))
                                .trailing(Some("does not end with the shared suffix".to_string())),
                        );
                    }
                }
            }
        }
        Some(Script::Flow(flow)) => {
            out.push(Entry::new("type", Node::Str("conditional_actions".into())));
            out.push(Entry::new("conditional_actions", conditional_actions(flow)));
        }
        None => {}
    }
    if let Some(t) = &s.expected_outcome {
        out.push(Entry::new("expected_outcome", long_text(t)));
    }
    if let Some(t) = &s.first_message {
        out.push(Entry::new("first_message", long_text(t)));
    }
    if let Some(p) = &s.personality {
        out.push(match p {
            NamedRef::Id(id) => {
                let name = refs.catalog.personalities.iter().find(|c| c.id == *id).map(|c| c.name.clone());
                Entry::new("personality", Node::Int(*id)).trailing(name)
            }
            NamedRef::Name(name) => Entry::new("personality", Node::Str(name.clone())),
        });
    }
    if let Some(p) = &s.test_profile {
        out.push(match p {
            ProfileRef::Id(id) => match refs.profiles.by_id.get(id) {
                Some(name) if refs.profiles.is_unique(name) => Entry::new("test_profile", Node::Str(name.to_string())),
                Some(name) => Entry::new("test_profile", Node::Int(*id))
                    .trailing(Some(format!("{} (not a unique name)", emit::double_quoted(name)))),
                None => Entry::new("test_profile", Node::Int(*id)),
            },
            ProfileRef::Name(name) => Entry::new("test_profile", Node::Str(name.clone())),
        });
    }
    if let Some(metrics) = &s.metrics {
        out.push(Entry::new("metrics", Node::Flow(metric_nodes(metrics, refs.catalog))));
    }
    if let Some(tools) = &s.tools {
        out.push(Entry::new("tools", string_set(tools)));
    }
    if let Some(tags) = &s.tags {
        out.push(Entry::new("tags", string_set(tags)));
    }
    if let Some(language) = &s.language {
        out.push(Entry::new("language", Node::Str(language.clone())));
    }
    if let Some(d) = s.max_duration {
        out.push(Entry::new("max_duration", Node::Int(d.into())));
    }
    if let Some(row) = s.phone_number {
        out.push(Entry::new("phone_number", Node::Int(row)).trailing(refs.phone_numbers.get(&row).cloned()));
    }
    out
}

/// Metrics by slug where the catalog has one, else by id; slugs first (sorted), then ids (ascending).
fn metric_nodes(metrics: &crate::model::SmallSet<MetricRef>, catalog: &Catalog) -> Vec<Node> {
    let mut slugs = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for m in metrics {
        match m {
            MetricRef::Id(id) => match slug_of(catalog, *id) {
                Some(slug) => {
                    slugs.insert(slug);
                }
                None => {
                    ids.insert(*id);
                }
            },
            MetricRef::Slug(slug) => {
                slugs.insert(slug.clone());
            }
        }
    }
    slugs.into_iter().map(Node::Str).chain(ids.into_iter().map(Node::Int)).collect()
}

/// A metric's slug, when it has one that no other metric of the catalog shares (a shared slug would not resolve
/// back to this id).
fn slug_of(catalog: &Catalog, id: u64) -> Option<String> {
    let slug = catalog.metrics.iter().find(|c| c.id == id)?.slug.as_deref()?;
    let holders = catalog.metrics.iter().filter(|c| c.slug.as_deref() == Some(slug)).count();
    (holders == 1).then(|| slug.to_string())
}

fn string_set<'a>(set: impl IntoIterator<Item = &'a String>) -> Node {
    Node::Flow(set.into_iter().map(|s| Node::Str(s.clone())).collect())
}

pub(crate) fn conditional_actions(flow: &ConditionalActions) -> Node {
    let conditions = flow.conditions.iter().map(|c| Item::new(Node::Map(condition(c)))).collect();
    Node::Map(vec![Entry::new("role", long_text(&flow.role)), Entry::new("conditions", Node::Seq(conditions))])
}

/// One condition; `type` and `fixed_message` only when they differ from what the loader fills in.
fn condition(c: &Condition) -> Vec<Entry> {
    let mut out = vec![Entry::new("id", Node::Int(c.id))];
    let default_kind = match &c.condition {
        ConditionTrigger::Followup(n) => {
            out.push(Entry::new("condition", Node::Int(*n)));
            ConditionKind::ActionFollowup
        }
        ConditionTrigger::Text(t) => {
            out.push(Entry::new("condition", long_text(t)));
            ConditionKind::Standard
        }
    };
    out.push(Entry::new("action", long_text(&c.action)));
    if c.kind != default_kind {
        let kind = match c.kind {
            ConditionKind::Standard => "standard",
            ConditionKind::ActionFollowup => "action_followup",
        };
        out.push(Entry::new("type", Node::Str(kind.into())));
    }
    if c.fixed_message {
        out.push(Entry::new("fixed_message", Node::Bool(true)));
    }
    out
}

/// Write `files` below `out`, creating directories. Without `force`, refuses before writing anything when any of
/// them exists, and names them all. Each file is written to a temporary sibling and renamed into place, so a
/// reader never sees half a file. Returns the paths written, in order.
pub fn write_files(out: &Path, files: &[ImportedFile], force: bool) -> Result<Vec<PathBuf>, ImportError> {
    let targets: Vec<PathBuf> = files.iter().map(|f| out.join(&f.path)).collect();
    if !force {
        let existing: Vec<PathBuf> = targets.iter().filter(|p| p.exists()).cloned().collect();
        if !existing.is_empty() {
            return Err(ImportError::Exists { paths: existing });
        }
    }
    for (file, target) in files.iter().zip(&targets) {
        crate::fsutil::write_atomic(target, file.contents.as_bytes())
            .map_err(|e| ImportError::Io { path: e.path, source: e.error })?;
    }
    Ok(targets)
}

#[cfg(test)]
mod tests;
