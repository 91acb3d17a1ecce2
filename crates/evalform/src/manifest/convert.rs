//! From file texts to the desired [`State`]: parse, check structure, then per file expand `defaults`, interpolate
//! `${env:NAME}`, check what the schema cannot say (names, references, ranges, flows), and merge the files of one
//! agent or prompt. Every problem becomes a [`Diagnostic`] at the node it is about; nothing stops early.
//!
//! It must not resolve names against the platform (personalities, metric slugs and test profile ids stay as
//! written) and must not read the environment except through [`LoadOptions::env`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::diagnostic::Diagnostic;
use super::env::{self, EnvError};
use super::environment::{self, VarError};
use super::raw::{self, IdOrName, ScenarioType};
use super::structure::{self, nearest, Structure};
use super::{LoadOptions, ManifestFile};
use crate::model::{
    self, AgentState, Condition, ConditionKind, ConditionTrigger, ConditionalActions, EvaluatorSpec, Information,
    InstructionParts, Message, MetricRef, NamedRef, ProfileRef, PromptState, Script, SourceSpan, State, TestCase,
    TestProfile, Text,
};
use crate::yaml::{self, TreePositions};

/// Which end of a `key: value` pair a problem points at.
#[derive(Clone, Copy)]
enum On {
    Key,
    Value,
}

struct Src<'f> {
    name: String,
    text: &'f str,
    /// The file's tree, for positions: held while the file is converted, then dropped ([`Src::release`]) and
    /// parsed again from `text` only if a later message (a cross-file reference check) needs a place in it.
    index: std::cell::OnceCell<TreePositions>,
}

impl Src<'_> {
    fn nearest(&self, path: &str) -> yaml::Located {
        let index = self.index.get_or_init(|| {
            // The text parsed when the file was converted: it parses again into the same tree.
            let root = yaml::parse_document(self.text).ok().flatten().map(|d| d.root);
            TreePositions::new(root.unwrap_or_else(|| yaml::Node {
                pos: yaml::Pos { line: 1, column: 1 },
                width: 1,
                kind: yaml::NodeKind::Map(Vec::new()),
                span: yaml::Span { start: 0, end: 0 },
                flow: false,
            }))
        });
        index.nearest(path)
    }

    /// Drop the tree once the file is converted: the trees of all files are not held at once.
    fn release(&mut self) {
        self.index = std::cell::OnceCell::new();
    }

    fn diag(&self, path: &str, on: On, message: impl Into<String>) -> Diagnostic {
        let l = self.nearest(path);
        let (pos, width) = match (on, l.key) {
            (On::Key, Some(k)) => (k, l.key_width),
            _ => (l.value, l.value_width),
        };
        Diagnostic::at(&self.name, self.text, pos, width, message)
    }

    fn span(&self, path: &str) -> SourceSpan {
        let l = self.nearest(path);
        SourceSpan { file: self.name.clone(), line: l.value.line, column: l.value.column }
    }

    fn place(&self, path: &str, on: On) -> String {
        let l = self.nearest(path);
        let pos = match (on, l.key) {
            (On::Key, Some(k)) => k,
            _ => l.value,
        };
        format!("{}:{}:{}", self.name, pos.line, pos.column)
    }
}

#[derive(Default)]
struct AgentAcc {
    state: AgentState,
    /// Settings several files may repeat: the first value and where it was declared.
    project_decl: Option<(u64, String)>,
    prune_decl: Option<(bool, String)>,
    prune_folders_decl: Option<(bool, String)>,
    /// Names with where each was first declared and whether that declaration is pinned by `id`.
    evaluator_names: HashMap<String, (String, Pin)>,
    profile_names: HashMap<String, (String, Pin)>,
    metric_names: HashMap<String, (String, Pin)>,
    schedule_names: HashMap<String, (String, Pin)>,
    /// (file, path, name): evaluators named by schedules, checked once every file is read.
    schedule_refs: Vec<(usize, String, String)>,
    /// `id` pins, as text, with where each was first declared.
    evaluator_ids: HashMap<String, String>,
    profile_ids: HashMap<String, String>,
    /// (file, path, folder): checked against `folders` once every file is read.
    folder_uses: Vec<(usize, String, String)>,
    /// (file, path, name): test profile references by name, checked once every file is read.
    profile_refs: Vec<(usize, String, String)>,
}

#[derive(Default)]
struct PromptAcc {
    state: PromptState,
    prune_decl: Option<(bool, String)>,
    /// Where `prompt_version` was first declared.
    version_decl: Option<String>,
    titles: HashMap<String, (String, Pin)>,
}

/// Whether a declaration carries an `id` pin. Several declarations may share a name when every one is pinned:
/// the pins tell them apart (this is how `import` writes two platform objects that share a name).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pin {
    Pinned,
    /// Not pinned; `true` when the kind of resource could be pinned (evaluators and test profiles can, test cases
    /// cannot), to say so in the hint.
    Unpinned(bool),
}

impl Pin {
    fn of(id: Option<u64>) -> Pin {
        if id.is_some() {
            Pin::Pinned
        } else {
            Pin::Unpinned(true)
        }
    }
}

struct Converter<'a, 'f> {
    opts: &'a LoadOptions<'a>,
    srcs: Vec<Src<'f>>,
    diags: Vec<Diagnostic>,
    agents: BTreeMap<u64, AgentAcc>,
    prompts: BTreeMap<String, PromptAcc>,
    /// A file could not be read into types: cross-file reference checks would report noise, so they are skipped.
    incomplete: bool,
    /// `defaults.extra_*` of the file being converted: added to every evaluator's sets.
    extras: Extras,
}

/// `defaults.extra_metrics`, `extra_tools`, `extra_tags` of one file.
#[derive(Default)]
struct Extras {
    metrics: Vec<IdOrName>,
    tools: Vec<String>,
    tags: Vec<String>,
}

/// What [`convert`] gives: the desired state, the problems, and the `defaults` every evaluator of its file
/// overrides (warnings, for `validate`).
pub(crate) struct Converted {
    pub state: State,
    pub problems: Vec<Diagnostic>,
    pub shadowed: Vec<Diagnostic>,
}

pub(crate) fn convert(files: &[ManifestFile], opts: &LoadOptions) -> Converted {
    let schema = structure::compiled();
    let mut c = Converter {
        opts,
        srcs: Vec::new(),
        diags: Vec::new(),
        agents: BTreeMap::new(),
        prompts: BTreeMap::new(),
        incomplete: false,
        extras: Extras::default(),
    };
    let mut shadowed = Vec::new();
    for file in files {
        let name = file.path.to_string_lossy().replace('\\', "/");
        // A UTF-8 byte order mark (some Windows editors write one) is not part of the document.
        let text = file.text.strip_prefix('\u{feff}').unwrap_or(&file.text);
        if let Some((index, manifest, sound)) = c.parse(&name, text, schema) {
            if sound {
                shadowed.extend(super::shadow::shadowed_in(&name, &file.text, &manifest, &index));
            }
            c.srcs.push(Src { name, text, index: std::cell::OnceCell::from(index) });
            let fi = c.srcs.len() - 1;
            if let Some(cekura) = &manifest.cekura {
                c.cekura(fi, cekura);
            }
            if let Some(tela) = &manifest.tela {
                c.tela(fi, tela);
            }
            c.srcs[fi].release();
        }
    }
    if !c.incomplete {
        c.check_references();
    }
    let state = State {
        agents: c.agents.into_iter().map(|(id, acc)| (id, acc.state)).collect(),
        prompts: c.prompts.into_iter().map(|(id, acc)| (id, acc.state)).collect(),
    };
    Converted { state, problems: c.diags, shadowed }
}

impl<'a, 'f> Converter<'a, 'f> {
    /// Parse and structurally check one file; `None` (with diagnostics) when it cannot be read into types. The
    /// flag says the file was read whole (not only its sound rest).
    ///
    /// The text is parsed once, into a positioned tree; the typed manifest is read from that tree (serde_yaml reads
    /// the text only for what the tree reader leaves to it: tags, aliases, and every file it refuses, so that a
    /// file serde_yaml refuses is reported in its words as before).
    fn parse(
        &mut self,
        name: &str,
        text: &str,
        schema: &structure::Schema,
    ) -> Option<(TreePositions, raw::Manifest, bool)> {
        let fail = |c: &mut Self, d: Diagnostic| {
            c.diags.push(d);
            c.incomplete = true;
            None
        };
        let document = match yaml::parse_document(text) {
            Err(e) => {
                let d = Diagnostic::at(name, text, e.pos, 1, format!("not valid YAML: {}", e.message));
                let d = if e.message.starts_with("a second document") {
                    d.help("put each document in a file of its own; several files may describe one agent")
                } else if e.message.contains("is not allowed in YAML") {
                    d.help("remove it, or write the escape in its place (the line above shows it as a symbol)")
                } else {
                    d.help("check the indentation and quoting around this place")
                };
                return fail(self, d);
            }
            Ok(None) => {
                let d = Diagnostic::at(name, text, crate::yaml::Pos { line: 1, column: 1 }, 1, "the file is empty")
                    .label("expected a manifest")
                    .help("a manifest starts with `version: 1`, then a `cekura` or `tela` section");
                return fail(self, d);
            }
            Ok(Some(document)) => document,
        };
        let mut root = document.root;
        let mut structure = Structure::new(schema, name, text);
        structure.check_root(&root);
        if !structure.out.is_empty() {
            // Read what is sound, so that the checks below still report this file's other problems.
            let rest = yaml::to_json_text(&root, &|v, k| structure.keep(v, k));
            self.diags.extend(std::mem::take(&mut structure.out));
            let read = yaml::from_str::<raw::Manifest>(&rest).ok().filter(|m| m.version == 1);
            self.incomplete |= read.is_none();
            return read.map(|m| (TreePositions::new(root), m, false));
        }
        if let Some(version) = root.get("version").and_then(|v| v.as_str()).map(str::to_string) {
            if version != "1" {
                let l = TreePositions::new(root).nearest("version");
                let d = Diagnostic::at(name, text, l.value, l.value_width, format!("unsupported version `{version}`"))
                    .label("expected 1")
                    .help("this evalform reads manifest format version 1");
                return fail(self, d);
            }
        }
        let from_tree = match document.tags_or_aliases {
            false => yaml::de::from_tree::<raw::Manifest>(&mut root).ok(),
            true => None,
        };
        let index = TreePositions::new(root);
        match from_tree.map(Ok).unwrap_or_else(|| yaml::from_str::<raw::Manifest>(text)) {
            Ok(m) => Some((index, m, true)),
            Err(e) => {
                let d = Diagnostic::at(name, text, e.pos, 1, e.message);
                fail(self, d)
            }
        }
    }

    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// A string that may hold `${env:NAME}`.
    fn text(&mut self, fi: usize, path: &str, s: &str) -> Text {
        let with_vars = self.vars(fi, path, s);
        let s = with_vars.as_str();
        match env::interpolate(s, self.opts.env, self.opts.mode) {
            Ok(t) => t,
            Err(errors) => {
                for e in errors {
                    let mut d = self.srcs[fi].diag(path, On::Value, e.to_string());
                    d = match &e {
                        EnvError::Unset { name } => d
                            .label("this value needs it")
                            .help(format!("set `{name}` in the environment of `plan` and `apply`")),
                        EnvError::Empty { name } => d.label("this value needs it").help(format!(
                            "set `{name}` to a value (an empty one would replace the platform's text with nothing), \
                             or write `${{env:{name}:-}}` to allow empty"
                        )),
                        _ => d.label("expected `${env:NAME}`, NAME made of letters, digits and `_`"),
                    };
                    self.push(d);
                }
                Text::sensitive("", s)
            }
        }
    }

    /// `${var:NAME}` from the chosen environment of the project file; a problem is reported at `path`.
    fn vars(&mut self, fi: usize, path: &str, s: &str) -> String {
        match environment::interpolate_vars(s, self.opts.environment) {
            Ok(v) => v,
            Err(errors) => {
                for e in errors {
                    let mut d = self.srcs[fi].diag(path, On::Value, e.to_string());
                    d = match &e {
                        VarError::Unknown { known, .. } => d
                            .label("expected a name from the environment's `vars`")
                            .help(format!("the environment's vars are {}", environment::list(known))),
                        VarError::NoEnvironment { .. } => d.label("this value needs an environment").help(
                            "choose an environment of evalform.toml (--env NAME, EVALFORM_ENV or default_env) \
                                 whose `vars` define it",
                        ),
                        VarError::Unclosed { .. } => d.label("expected `${var:NAME}`"),
                    };
                    self.push(d);
                }
                s.to_string()
            }
        }
    }

    /// `agent:` as written: an id, or a name from the chosen environment's `agents`.
    fn agent_id(&mut self, fi: usize, agent: &raw::IdOrName) -> Option<u64> {
        let name = match agent {
            raw::IdOrName::Id(id) => return Some(*id),
            raw::IdOrName::Name(name) => name,
        };
        let d = match self.opts.environment {
            Some(env) => match env.agents.get(name) {
                Some(id) => return Some(*id),
                None => {
                    let known: Vec<String> = env.agents.keys().cloned().collect();
                    self.srcs[fi]
                        .diag(
                            "cekura.agent",
                            On::Value,
                            format!("agent `{name}` is not named in environment `{}`", env.name),
                        )
                        .label("expected an agent id, or a name from the environment's `agents`")
                        .help(format!("the agents of `{}` are {}", env.name, environment::list(&known)))
                }
            },
            None => self.srcs[fi]
                .diag("cekura.agent", On::Value, format!("agent `{name}` is a name, and no environment is in use"))
                .label("expected an agent id")
                .help(
                    "choose an environment of evalform.toml (--env NAME, EVALFORM_ENV or default_env) whose `agents` \
                     name it, or write the agent's id",
                ),
        };
        self.push(d);
        None
    }

    /// An identity field (name, title, folder, tag, tool, reference): `${env:...}` is refused. Returns whether it
    /// is acceptable.
    fn literal(&mut self, fi: usize, path: &str, s: &str, what: &str) -> bool {
        // Escaped or not: an identity is taken as written, so `$${env:` would not mean `${env:` here.
        let env_ref = s.contains("${env:");
        if env_ref || environment::has_var_reference(s) {
            let kind = if env_ref { "env" } else { "var" };
            let d = self.srcs[fi]
                .diag(path, On::Value, format!("`${{{kind}:...}}` is not allowed in {what}"))
                .label("expected literal text")
                .help(format!("{what} identifies something from run to run, so it must be written out"));
            self.push(d);
            return false;
        }
        true
    }

    fn cekura(&mut self, fi: usize, c: &raw::Cekura) {
        let Some(agent) = self.agent_id(fi, &c.agent) else { return };
        let mut acc = self.agents.remove(&agent).unwrap_or_default();
        acc.state.agent = agent;
        if let Some(project) = c.project {
            let what = format!("files of agent {agent} disagree on `project`");
            acc.state.project = Some(self.agree(fi, "cekura.project", project, &mut acc.project_decl, what));
        }
        if let Some(prune) = c.prune {
            let what = format!("files of agent {agent} disagree on `prune`");
            acc.state.prune = self.agree(fi, "cekura.prune", prune, &mut acc.prune_decl, what);
        }
        if let Some(prune) = c.prune_folders {
            let what = format!("files of agent {agent} disagree on `prune_folders`");
            acc.state.prune_folders = self.agree(fi, "cekura.prune_folders", prune, &mut acc.prune_folders_decl, what);
        }
        for (j, decl) in c.folders.iter().flatten().enumerate() {
            let (folder, path) = match decl {
                raw::FolderDecl::Path(p) => (p, format!("cekura.folders[{j}]")),
                raw::FolderDecl::Renamed(r) => {
                    let mut earlier = Vec::new();
                    for (k, old) in r.renamed_from.iter().enumerate() {
                        if self.folder_path(fi, &format!("cekura.folders[{j}].renamed_from[{k}]"), old) {
                            earlier.push(old.clone());
                        }
                    }
                    acc.state.folder_renames.insert(r.path.clone(), earlier);
                    (&r.path, format!("cekura.folders[{j}].path"))
                }
            };
            if self.folder_path(fi, &path, folder) {
                let mut prefix = String::new();
                for segment in folder.split('.') {
                    if !prefix.is_empty() {
                        prefix.push('.');
                    }
                    prefix.push_str(segment);
                    acc.state.folders.insert(prefix.clone());
                }
            }
        }
        for (j, m) in c.metrics.iter().flatten().enumerate() {
            let path = format!("cekura.metrics[{j}]");
            let metric = self.metric(fi, &mut acc, &path, m);
            if let Some(earlier) = m.renamed_from.as_ref().filter(|e| !e.is_empty()) {
                let address = model::Address::Metric { agent, name: metric.name.clone() };
                acc.state.renamed_from.insert(address, earlier.clone());
            }
            acc.state.metrics.push(metric);
        }
        for (j, s) in c.schedules.iter().flatten().enumerate() {
            let path = format!("cekura.schedules[{j}]");
            let schedule = self.schedule(fi, &mut acc, &path, s);
            acc.state.schedules.push(schedule);
        }
        for (j, p) in c.test_profiles.iter().flatten().enumerate() {
            let path = format!("cekura.test_profiles[{j}]");
            let profile = self.test_profile(fi, &mut acc, &path, p);
            if p.information.is_none() {
                for (section, given) in [
                    ("main_agent_variables", &p.main_agent_variables),
                    ("testing_agent_variables", &p.testing_agent_variables),
                ] {
                    let other_given = p.main_agent_variables.is_some() || p.testing_agent_variables.is_some();
                    if given.is_none() && other_given {
                        acc.state.unmanaged_sections.insert((profile.name.clone(), section.to_string()));
                    }
                }
            }
            if let Some(earlier) = p.renamed_from.as_ref().filter(|e| !e.is_empty()) {
                let address = model::Address::TestProfile { agent, name: profile.name.clone() };
                acc.state.renamed_from.insert(address, earlier.clone());
            }
            acc.state.test_profiles.push(profile);
        }
        let defaults = c.defaults.as_ref().map(|d| d.fields()).unwrap_or_default();
        self.extras = c.defaults.as_ref().map_or_else(Extras::default, |d| Extras {
            metrics: d.extra_metrics.clone().unwrap_or_default(),
            tools: d.extra_tools.clone().unwrap_or_default(),
            tags: d.extra_tags.clone().unwrap_or_default(),
        });
        for (j, e) in c.evaluators.iter().flatten().enumerate() {
            let path = format!("cekura.evaluators[{j}]");
            let evaluator = self.evaluator(fi, &mut acc, &path, e, &defaults);
            if let Some(earlier) = e.renamed_from.as_ref().filter(|e| !e.is_empty()) {
                let address = model::Address::Evaluator { agent, name: evaluator.name.clone() };
                acc.state.renamed_from.insert(address, earlier.clone());
            }
            acc.state.evaluators.push(evaluator);
        }
        self.agents.insert(agent, acc);
    }

    /// A setting that several files may repeat: the first declaration holds, and a different value later is an
    /// error that names both places. Returns the value that holds.
    fn agree<T: PartialEq + Copy + std::fmt::Display>(
        &mut self,
        fi: usize,
        path: &str,
        value: T,
        first: &mut Option<(T, String)>,
        message: String,
    ) -> T {
        match first {
            Some((held, at)) if *held != value => {
                let d = self.srcs[fi]
                    .diag(path, On::Value, message)
                    .label(format!("expected {held}, as declared before"))
                    .note(format!("first declared at {at}"));
                self.push(d);
                *held
            }
            Some((held, _)) => *held,
            None => {
                *first = Some((value, self.srcs[fi].place(path, On::Value)));
                value
            }
        }
    }

    /// A folder dot path: literal, no empty segment. `""` (no folder) is the caller's business.
    fn folder_path(&mut self, fi: usize, path: &str, folder: &str) -> bool {
        if !self.literal(fi, path, folder, "a folder path") {
            return false;
        }
        if folder.split('.').any(|s| s.trim().is_empty()) {
            let d = self.srcs[fi]
                .diag(path, On::Value, format!("folder path `{folder}` has an empty segment"))
                .label("expected folder names separated by single dots, like `Sales.Inbound`");
            self.push(d);
            return false;
        }
        true
    }

    /// A name that identifies something within its parent: non-empty, literal, declared once, or declared
    /// several times with every declaration pinned by `id`.
    #[allow(clippy::too_many_arguments)]
    fn identity(
        &mut self,
        fi: usize,
        path: &str,
        name: &str,
        what: &str,
        parent: &str,
        pin: Pin,
        seen: &mut HashMap<String, (String, Pin)>,
    ) {
        if name.trim().is_empty() {
            let d = self.srcs[fi].diag(path, On::Value, format!("{what} is empty")).label("expected a name");
            self.push(d);
            return;
        }
        if !self.literal(fi, path, name, what) {
            return;
        }
        let here = self.srcs[fi].place(path, On::Value);
        match seen.get(name) {
            Some((_, Pin::Pinned)) if pin == Pin::Pinned => {}
            Some((first, first_pin)) => {
                let pinnable = matches!((pin, first_pin), (Pin::Unpinned(true), _) | (_, Pin::Unpinned(true)));
                let mut d = self.srcs[fi]
                    .diag(path, On::Value, format!("`{name}` is declared twice for {parent}"))
                    .label(format!("{what} must be unique"))
                    .note(format!("first declared at {first}"));
                if pinnable {
                    d = d.help("to manage several with one name, pin every one of them with its `id`");
                }
                self.push(d);
            }
            None => {
                seen.insert(name.to_string(), (here, pin));
            }
        }
    }

    /// An `id` pin: one resource per id within the agent.
    fn pin(&mut self, fi: usize, path: &str, id: Option<u64>, what: &str, seen: &mut HashMap<String, String>) {
        let Some(id) = id else { return };
        let here = self.srcs[fi].place(path, On::Value);
        match seen.get(&id.to_string()) {
            Some(first) => {
                let d = self.srcs[fi]
                    .diag(path, On::Value, format!("{what} id {id} is pinned twice"))
                    .label("expected each id at most once per agent")
                    .note(format!("first pinned at {first}"));
                self.push(d);
            }
            None => {
                seen.insert(id.to_string(), here);
            }
        }
    }

    fn schedule(&mut self, fi: usize, acc: &mut AgentAcc, path: &str, s: &raw::Schedule) -> model::Schedule {
        let parent = format!("agent {}", acc.state.agent);
        let name_path = format!("{path}.name");
        self.identity(
            fi,
            &name_path,
            &s.name,
            "a schedule name",
            &parent,
            Pin::Unpinned(false),
            &mut acc.schedule_names,
        );
        let cron = s.cron.as_ref().and_then(|c| {
            let cron_path = format!("{path}.cron");
            if !self.literal(fi, &cron_path, c, "a crontab expression") {
                return None;
            }
            match super::cron::check(c) {
                Ok(normal) => Some(normal),
                Err(problem) => {
                    let d = self.srcs[fi]
                        .diag(&cron_path, On::Value, format!("`{c}` is not a crontab expression: {problem}"))
                        .label("expected 5 fields: minute hour day-of-month month day-of-week")
                        .help("for example `0 3 * * *` (every day at 03:00) or `*/15 9-17 * * mon-fri`");
                    self.push(d);
                    None
                }
            }
        });
        let evaluators = s.evaluators.as_ref().map(|names| {
            for (k, n) in names.iter().enumerate() {
                acc.schedule_refs.push((fi, format!("{path}.evaluators[{k}]"), n.clone()));
            }
            self.literal_set(fi, &format!("{path}.evaluators"), names, "an evaluator name")
        });
        let tags = s.tags.as_ref().map(|t| self.literal_set(fi, &format!("{path}.tags"), t, "a tag"));
        model::Schedule {
            id: None,
            name: s.name.clone(),
            spec: model::ScheduleSpec {
                cron,
                tags,
                evaluators,
                mode: s.mode.map(|m| m.as_str().to_string()),
                active: s.active,
            },
            source: Some(self.srcs[fi].span(path)),
        }
    }

    fn metric(&mut self, fi: usize, acc: &mut AgentAcc, path: &str, m: &raw::Metric) -> model::Metric {
        let parent = format!("the project of agent {}", acc.state.agent);
        let name_path = format!("{path}.name");
        self.identity(fi, &name_path, &m.name, "a metric name", &parent, Pin::Unpinned(false), &mut acc.metric_names);
        let long = |this: &mut Self, key: &str, v: &Option<String>| {
            v.as_ref().map(|t| this.text(fi, &format!("{path}.{key}"), t).normalized())
        };
        let description = long(self, "description", &m.description);
        let custom_code = long(self, "custom_code", &m.custom_code);
        if m.kind == Some(raw::MetricType::CustomCode) && m.custom_code.is_none() {
            let d = self.srcs[fi]
                .diag(&format!("{path}.type"), On::Value, format!("metric `{}` is `custom_code` without code", m.name))
                .label("expected `custom_code` beside it")
                .help("write the metric's code under `custom_code`, or use `type: llm_judge`");
            self.push(d);
        }
        if m.eval_type == Some(raw::EvalType::Enum) && m.enum_values.as_ref().is_none_or(Vec::is_empty) {
            let d = self.srcs[fi]
                .diag(&format!("{path}.eval_type"), On::Value, format!("metric `{}` is `enum` without values", m.name))
                .label("expected `enum_values` beside it")
                .help("list the values the metric may yield under `enum_values`");
            self.push(d);
        }
        model::Metric {
            id: None,
            name: m.name.clone(),
            spec: model::MetricSpec {
                kind: m.kind.map(|k| k.as_str().to_string()),
                eval_type: m.eval_type.map(|k| k.as_str().to_string()),
                description,
                enum_values: m.enum_values.clone(),
                evaluation_trigger: m.evaluation_trigger.map(|k| k.as_str().to_string()),
                custom_code,
                simulation_enabled: m.simulation_enabled,
                observability_enabled: m.observability_enabled,
            },
            source: Some(self.srcs[fi].span(path)),
            configuration: None,
        }
    }

    fn test_profile(&mut self, fi: usize, acc: &mut AgentAcc, path: &str, p: &raw::TestProfile) -> TestProfile {
        let parent = format!("agent {}", acc.state.agent);
        let pin = Pin::of(p.id);
        self.identity(
            fi,
            &format!("{path}.name"),
            &p.name,
            "a test profile name",
            &parent,
            pin,
            &mut acc.profile_names,
        );
        self.pin(fi, &format!("{path}.id"), p.id, "test profile", &mut acc.profile_ids);
        let sectioned = p.main_agent_variables.is_some() || p.testing_agent_variables.is_some();
        let information = match (&p.information, sectioned) {
            (Some(_), true) => {
                let d = self.srcs[fi]
                    .diag(&format!("{path}.information"), On::Key, "`information` together with sectioned variables")
                    .label("expected either `information` or `main_agent_variables`/`testing_agent_variables`")
                    .help("`information` is the legacy flat form; move its entries into the sectioned keys");
                self.push(d);
                None
            }
            (Some(flat), false) => Some(Information::Flat(self.variables(fi, &format!("{path}.information"), flat))),
            (None, true) => Some(Information::Sectioned {
                main_agent_variables: self.variables(
                    fi,
                    &format!("{path}.main_agent_variables"),
                    p.main_agent_variables.as_ref().unwrap_or(&BTreeMap::new()),
                ),
                testing_agent_variables: self.variables(
                    fi,
                    &format!("{path}.testing_agent_variables"),
                    p.testing_agent_variables.as_ref().unwrap_or(&BTreeMap::new()),
                ),
            }),
            (None, false) => None,
        };
        TestProfile { id: p.id, name: p.name.clone(), information, source: Some(self.srcs[fi].span(path)) }
    }

    fn variables(&mut self, fi: usize, path: &str, vars: &BTreeMap<String, String>) -> BTreeMap<String, Text> {
        let mut out = BTreeMap::new();
        for (k, v) in vars {
            let at = format!("{path}.{k}");
            if k.contains("${env:") {
                // Reported at the name, where the reference is.
                let d = self.srcs[fi]
                    .diag(&at, On::Key, "`${env:...}` is not allowed in a variable name")
                    .label("expected literal text")
                    .help("a variable name identifies something from run to run, so it must be written out");
                self.push(d);
                continue;
            }
            let value = self.text(fi, &at, v);
            out.insert(k.clone(), value);
        }
        out
    }

    fn evaluator(
        &mut self,
        fi: usize,
        acc: &mut AgentAcc,
        path: &str,
        e: &raw::Evaluator,
        defaults: &raw::EvaluatorFields,
    ) -> model::Evaluator {
        let parent = format!("agent {}", acc.state.agent);
        let name_path = format!("{path}.name");
        self.identity(fi, &name_path, &e.name, "an evaluator name", &parent, Pin::of(e.id), &mut acc.evaluator_names);
        self.pin(fi, &format!("{path}.id"), e.id, "evaluator", &mut acc.evaluator_ids);
        let length = e.name.chars().count();
        if length > model::MAX_NAME_LEN {
            let d = self.srcs[fi]
                .diag(&name_path, On::Value, format!("evaluator name is {length} characters long"))
                .label(format!("expected at most {} characters", model::MAX_NAME_LEN));
            self.push(d);
        }
        let own = e.fields();
        let layers = Layers { own: &own, defaults, path };
        let mut spec = EvaluatorSpec::default();
        self.script(fi, &layers, &mut spec);
        self.texts_and_folder(fi, acc, &layers, &mut spec);
        self.references(fi, acc, &layers, &mut spec);
        self.settings(fi, &layers, &mut spec);
        let ignore_changes =
            own.ignore_changes.as_ref().or(defaults.ignore_changes.as_ref()).into_iter().flatten().copied().collect();
        model::Evaluator {
            id: e.id,
            name: e.name.clone(),
            spec,
            ignore_changes,
            source: Some(self.srcs[fi].span(path)),
        }
    }

    /// `type`, `instructions` (+ `instructions_suffix`) or `conditional_actions`. The script keys go together: an
    /// evaluator that sets any of them takes none from `defaults`.
    fn script(&mut self, fi: usize, layers: &Layers<'_>, spec: &mut EvaluatorSpec) {
        let (own, defaults, path) = (layers.own, layers.defaults, layers.path);
        let own_script = own.kind.is_some() || own.instructions.is_some() || own.conditional_actions.is_some();
        let script_from = if own_script { own } else { defaults };
        let base = if own_script { path.to_string() } else { "cekura.defaults".to_string() };
        let kind = script_from.kind;
        if own.instructions_suffix.is_some() && script_from.instructions.is_none() {
            let d = self.srcs[fi]
                .diag(&format!("{path}.instructions_suffix"), On::Key, "`instructions_suffix` without `instructions`")
                .label("expected `instructions` on this evaluator")
                .help("a suffix in `defaults` applies only to evaluators with `instructions`; here it has nothing to extend");
            self.push(d);
        }
        match (kind, &script_from.instructions, &script_from.conditional_actions) {
            (Some(ScenarioType::ConditionalActions), None, None) => {
                let d = self.srcs[fi]
                    .diag(&format!("{base}.type"), On::Value, "`type: conditional_actions` without a flow")
                    .label("expected a `conditional_actions` key beside it")
                    .help("add `conditional_actions: {role: ..., conditions: [...]}`, or remove `type`");
                self.push(d);
            }
            (Some(ScenarioType::ConditionalActions), Some(_), _) => {
                let d = self.srcs[fi]
                    .diag(&format!("{base}.instructions"), On::Key, "`instructions` on a conditional-actions evaluator")
                    .label("expected `conditional_actions` only")
                    .help("a conditional-actions evaluator is scripted by its flow; remove `instructions`");
                self.push(d);
            }
            (Some(ScenarioType::ConditionalActions), None, Some(flow)) => {
                let flow = self.flow(fi, &format!("{base}.conditional_actions"), flow);
                spec.script = Some(Script::Flow(flow));
            }
            (_, _, Some(_)) => {
                let d = self.srcs[fi]
                    .diag(
                        &format!("{base}.conditional_actions"),
                        On::Key,
                        "a `conditional_actions` flow without its type",
                    )
                    .label("expected `type: conditional_actions` on this evaluator")
                    .help("add `type: conditional_actions` (and no `instructions`)");
                self.push(d);
            }
            (_, Some(instructions), None) => self.instructions(fi, layers, &base, instructions, spec),
            (_, None, None) => {}
        }
    }

    /// The desired instructions: `instructions` + `instructions_suffix`, kept as parts when nothing is sensitive.
    fn instructions(
        &mut self,
        fi: usize,
        layers: &Layers<'_>,
        base: &str,
        instructions: &str,
        spec: &mut EvaluatorSpec,
    ) {
        let (own, defaults) = (layers.own, layers.defaults);
        let body = self.text(fi, &format!("{base}.instructions"), instructions);
        let suffix_set = own.instructions_suffix.is_some();
        let suffix = own.instructions_suffix.as_ref().or(defaults.instructions_suffix.as_ref());
        let suffix = suffix.map(|s| (s.clone(), self.text(fi, &layers.at(suffix_set, "instructions_suffix"), s)));
        let mut value = body.expose().to_string();
        let mut template = instructions.to_string();
        let mut sensitive = body.is_sensitive();
        if let Some((raw_suffix, text)) = &suffix {
            value.push_str(text.expose());
            template.push_str(raw_suffix);
            sensitive |= text.is_sensitive();
        }
        let value = model::normalize_long_text(&value);
        if sensitive {
            // The parts would carry the value in plain strings: a sensitive text is always replaced whole.
            spec.script = Some(Script::Text(Text::sensitive(value, template)));
        } else {
            spec.script = Some(Script::Text(Text::new(value)));
            spec.instruction_parts =
                Some(InstructionParts { body: body.into_string(), suffix: suffix.map(|(_, t)| t.into_string()) });
        }
    }

    /// `folder`, `expected_outcome` and `first_message`.
    fn texts_and_folder(&mut self, fi: usize, acc: &mut AgentAcc, layers: &Layers<'_>, spec: &mut EvaluatorSpec) {
        let (own, defaults) = (layers.own, layers.defaults);
        if let Some(folder) = own.folder.as_ref().or(defaults.folder.as_ref()) {
            let fp = layers.at(own.folder.is_some(), "folder");
            if folder.is_empty() || self.folder_path(fi, &fp, folder) {
                if !folder.is_empty() {
                    acc.folder_uses.push((fi, fp, folder.clone()));
                }
                spec.folder = Some(folder.clone());
            }
        }
        if let Some(s) = own.expected_outcome.as_ref().or(defaults.expected_outcome.as_ref()) {
            spec.expected_outcome =
                Some(self.text(fi, &layers.at(own.expected_outcome.is_some(), "expected_outcome"), s).normalized());
        }
        if let Some(s) = own.first_message.as_ref().or(defaults.first_message.as_ref()) {
            spec.first_message =
                Some(self.text(fi, &layers.at(own.first_message.is_some(), "first_message"), s).normalized());
        }
    }

    /// References to the catalog and the agent's test profiles, and the sets: `personality`, `test_profile`,
    /// `metrics`, `tools`, `tags`.
    fn references(&mut self, fi: usize, acc: &mut AgentAcc, layers: &Layers<'_>, spec: &mut EvaluatorSpec) {
        let (own, defaults) = (layers.own, layers.defaults);
        if let Some(p) = own.personality.as_ref().or(defaults.personality.as_ref()) {
            spec.personality = Some(match p {
                IdOrName::Id(id) => NamedRef::Id(*id),
                IdOrName::Name(n) => {
                    self.literal(
                        fi,
                        &layers.at(own.personality.is_some(), "personality"),
                        n,
                        "a personality reference",
                    );
                    NamedRef::Name(n.clone())
                }
            });
        }
        if let Some(p) = own.test_profile.as_ref().or(defaults.test_profile.as_ref()) {
            let pp = layers.at(own.test_profile.is_some(), "test_profile");
            spec.test_profile = Some(match p {
                IdOrName::Id(id) => ProfileRef::Id(*id),
                IdOrName::Name(n) => {
                    if self.literal(fi, &pp, n, "a test profile reference") {
                        acc.profile_refs.push((fi, pp, n.clone()));
                    }
                    ProfileRef::Name(n.clone())
                }
            });
        }
        if let Some(metrics) = own.metrics.as_ref().or(defaults.metrics.as_ref()) {
            let base = layers.at(own.metrics.is_some(), "metrics");
            let mut set = model::SmallSet::new();
            for (k, m) in metrics.iter().enumerate() {
                set.insert(match m {
                    IdOrName::Id(id) => MetricRef::Id(*id),
                    IdOrName::Name(slug) => {
                        self.literal(fi, &format!("{base}[{k}]"), slug, "a metric name or slug");
                        MetricRef::Slug(slug.clone())
                    }
                });
            }
            spec.metrics = Some(set);
        }
        if let Some(tools) = own.tools.as_ref().or(defaults.tools.as_ref()) {
            spec.tools =
                Some(self.literal_set(fi, &layers.at(own.tools.is_some(), "tools"), tools, "a tool id").into());
        }
        if let Some(tags) = own.tags.as_ref().or(defaults.tags.as_ref()) {
            spec.tags = Some(self.literal_set(fi, &layers.at(own.tags.is_some(), "tags"), tags, "a tag").into());
        }
        self.add_extras(fi, spec);
    }

    /// `defaults.extra_*`: added to the evaluator's sets, whether they come from the evaluator or from `defaults`.
    fn add_extras(&mut self, fi: usize, spec: &mut EvaluatorSpec) {
        let extras = std::mem::take(&mut self.extras);
        if !extras.metrics.is_empty() {
            let set = spec.metrics.get_or_insert_with(model::SmallSet::new);
            for (k, m) in extras.metrics.iter().enumerate() {
                set.insert(match m {
                    IdOrName::Id(id) => MetricRef::Id(*id),
                    IdOrName::Name(slug) => {
                        self.literal(fi, &format!("cekura.defaults.extra_metrics[{k}]"), slug, "a metric slug");
                        MetricRef::Slug(slug.clone())
                    }
                });
            }
        }
        if !extras.tools.is_empty() {
            let more = self.literal_set(fi, "cekura.defaults.extra_tools", &extras.tools, "a tool id");
            spec.tools.get_or_insert_with(model::SmallSet::new).extend(more);
        }
        if !extras.tags.is_empty() {
            let more = self.literal_set(fi, "cekura.defaults.extra_tags", &extras.tags, "a tag");
            spec.tags.get_or_insert_with(model::SmallSet::new).extend(more);
        }
        self.extras = extras;
    }

    /// `language`, `max_duration` and `phone_number`, each checked against what the platform accepts.
    fn settings(&mut self, fi: usize, layers: &Layers<'_>, spec: &mut EvaluatorSpec) {
        let (own, defaults) = (layers.own, layers.defaults);
        if let Some(language) = own.language.as_ref().or(defaults.language.as_ref()) {
            let lp = layers.at(own.language.is_some(), "language");
            if model::LANGUAGES.contains(&language.as_str()) {
                spec.language = Some(language.clone());
            } else {
                let lower = language.to_lowercase();
                let mut d = self.srcs[fi]
                    .diag(&lp, On::Value, format!("`{language}` is not a language code the platform accepts"))
                    .label("expected a code such as en, de, es, fr or multi");
                d = match nearest(&lower, model::LANGUAGES) {
                    Some(near) => d.help(format!("did you mean `{near}`?")),
                    None => d.help(format!("the codes are: {}", model::LANGUAGES.join(", "))),
                };
                self.push(d);
            }
        }
        if let Some(seconds) = own.max_duration.or(defaults.max_duration) {
            if model::MAX_DURATION_RANGE.contains(&seconds) {
                spec.max_duration = Some(seconds);
            } else {
                let d = self.srcs[fi]
                    .diag(
                        &layers.at(own.max_duration.is_some(), "max_duration"),
                        On::Value,
                        format!("`max_duration: {seconds}` is out of range"),
                    )
                    .label(format!(
                        "expected {} to {} seconds",
                        model::MAX_DURATION_RANGE.start(),
                        model::MAX_DURATION_RANGE.end()
                    ));
                self.push(d);
            }
        }
        spec.phone_number = own.phone_number.or(defaults.phone_number);
    }

    fn literal_set(&mut self, fi: usize, path: &str, items: &[String], what: &str) -> BTreeSet<String> {
        let mut set = BTreeSet::new();
        for (k, item) in items.iter().enumerate() {
            if self.literal(fi, &format!("{path}[{k}]"), item, what) {
                set.insert(item.clone());
            }
        }
        set
    }

    fn flow(&mut self, fi: usize, path: &str, flow: &raw::ConditionalActions) -> ConditionalActions {
        let role = self.text(fi, &format!("{path}.role"), &flow.role);
        let mut ids: HashMap<u64, String> = HashMap::new();
        for (k, c) in flow.conditions.iter().enumerate() {
            let id_path = format!("{path}.conditions[{k}].id");
            if let Some(first) = ids.get(&c.id) {
                let d = self.srcs[fi]
                    .diag(&id_path, On::Value, format!("condition id `{}` is used twice in this flow", c.id))
                    .label("expected an id unique within the flow")
                    .note(format!("first used at {first}"));
                self.push(d);
            } else {
                ids.insert(c.id, self.srcs[fi].place(&id_path, On::Value));
            }
        }
        let mut known: Vec<u64> = ids.keys().copied().collect();
        known.sort_unstable();
        let mut conditions = Vec::new();
        for (k, c) in flow.conditions.iter().enumerate() {
            let cp = format!("{path}.conditions[{k}]");
            let condition = match &c.condition {
                IdOrName::Id(target) => {
                    if !ids.contains_key(target) {
                        let list: Vec<String> = known.iter().map(u64::to_string).collect();
                        let d = self.srcs[fi]
                            .diag(
                                &format!("{cp}.condition"),
                                On::Value,
                                format!(
                                    "condition {} follows up on id `{target}`, which this flow does not have",
                                    c.id
                                ),
                            )
                            .label(format!("expected one of the flow's ids: {}", list.join(", ")));
                        self.push(d);
                    }
                    ConditionTrigger::Followup(*target)
                }
                IdOrName::Name(text) => ConditionTrigger::Text(self.text(fi, &format!("{cp}.condition"), text)),
            };
            let kind = match (c.kind, &condition) {
                (Some(raw::ConditionType::Standard), _) => ConditionKind::Standard,
                (Some(raw::ConditionType::ActionFollowup), _) | (None, ConditionTrigger::Followup(_)) => {
                    ConditionKind::ActionFollowup
                }
                (None, ConditionTrigger::Text(_)) => ConditionKind::Standard,
            };
            let action = self.text(fi, &format!("{cp}.action"), &c.action);
            conditions.push(Condition {
                id: c.id,
                condition,
                action,
                kind,
                fixed_message: c.fixed_message.unwrap_or(false),
            });
        }
        ConditionalActions { role, conditions }
    }

    fn tela(&mut self, fi: usize, t: &raw::Tela) {
        if !self.literal(fi, "tela.prompt", &t.prompt, "a prompt id") {
            return;
        }
        let named = self.opts.environment.and_then(|e| e.tela_prompts.get(&t.prompt));
        let written = named.unwrap_or(&t.prompt).clone();
        if !is_uuid(&written) {
            let mut d = self.srcs[fi]
                .diag("tela.prompt", On::Value, format!("`{}` is not a prompt id", t.prompt))
                .label("expected a uuid such as 5f0c2a4e-0000-4000-8000-000000000001");
            if let Some(env) = self.opts.environment {
                let known: Vec<String> = env.tela_prompts.keys().cloned().collect();
                d = d.help(format!("the prompt names of environment `{}` are {}", env.name, environment::list(&known)));
            }
            self.push(d);
            return;
        }
        let prompt = written.to_lowercase();
        let mut acc = self.prompts.remove(&prompt).unwrap_or_default();
        acc.state.prompt = prompt.clone();
        if let Some(prune) = t.prune {
            let what = format!("files of prompt {prompt} disagree on `prune`");
            acc.state.prune = self.agree(fi, "tela.prune", prune, &mut acc.prune_decl, what);
        }
        if let Some(version) = &t.prompt_version {
            self.prompt_version(fi, &prompt, version, &mut acc);
        }
        let parent = format!("prompt {prompt}");
        for (j, tc) in t.test_cases.iter().flatten().enumerate() {
            let path = format!("tela.test_cases[{j}]");
            let pin = Pin::Unpinned(false);
            self.identity(fi, &format!("{path}.title"), &tc.title, "a test case title", &parent, pin, &mut acc.titles);
            let messages = tc.messages.as_ref().map(|messages| {
                messages
                    .iter()
                    .enumerate()
                    .map(|(k, m)| Message {
                        role: m.role.as_str().to_string(),
                        content: self.text(fi, &format!("{path}.messages[{k}].content"), &m.content).normalized(),
                    })
                    .collect()
            });
            let variables = tc.variables.as_ref().map(|v| self.variables(fi, &format!("{path}.variables"), v));
            let expected_output =
                tc.expected_output.as_ref().map(|s| self.text(fi, &format!("{path}.expected_output"), s).normalized());
            acc.state.test_cases.push(TestCase {
                id: None,
                title: tc.title.clone(),
                messages,
                variables,
                expected_output,
                source: Some(self.srcs[fi].span(&path)),
            });
        }
        self.prompts.insert(prompt, acc);
    }

    /// `tela.prompt_version`: any text (`${var:...}`, `${env:...}` allowed), not blank as written; a reference that
    /// comes out empty (`${env:V:-}` unset) leaves the version to Tela; one whose variable is unset stays, empty.
    /// Files of one prompt agree.
    fn prompt_version(&mut self, fi: usize, prompt: &str, written: &str, acc: &mut PromptAcc) {
        let path = "tela.prompt_version";
        if written.trim().is_empty() {
            let d = self.srcs[fi]
                .diag(path, On::Value, "`prompt_version` is empty")
                .label("expected a prompt version id")
                .help("leave `prompt_version` out to let Tela choose the version");
            self.push(d);
            return;
        }
        let version = self.text(fi, path, written);
        // Empty on purpose (`${env:V:-}` unset): Tela chooses. Empty because a variable is unset (a command that
        // does not need the environment, such as `validate` or `run`): kept empty, so that `run` can refuse to run
        // a version nobody named instead of letting Tela choose one silently.
        let unset = || env::interpolate(written, self.opts.env, super::EnvMode::Required).is_err();
        if version.expose().trim().is_empty() && !unset() {
            return;
        }
        match (&acc.state.prompt_version, &acc.version_decl) {
            (Some(held), Some(at)) if held.expose() != version.expose() => {
                let d = self.srcs[fi]
                    .diag(path, On::Value, format!("files of prompt {prompt} disagree on `prompt_version`"))
                    .label(format!("expected {}, as declared before", held.shown()))
                    .note(format!("first declared at {at}"));
                self.push(d);
            }
            (Some(_), _) => {}
            (None, _) => {
                acc.version_decl = Some(self.srcs[fi].place(path, On::Value));
                acc.state.prompt_version = Some(version);
            }
        }
    }

    /// Folders used by evaluators must be declared, and test profiles referred to by name must exist, in any file
    /// of the same agent.
    fn check_references(&mut self) {
        let mut found = Vec::new();
        for acc in self.agents.values() {
            let agent = acc.state.agent;
            let folders: Vec<&str> = acc.state.folders.iter().map(String::as_str).collect();
            for (fi, path, folder) in &acc.folder_uses {
                if acc.state.folders.contains(folder) {
                    continue;
                }
                let mut d = self.srcs[*fi]
                    .diag(path, On::Value, format!("folder `{folder}` is not declared for agent {agent}"))
                    .label(if folders.is_empty() {
                        "expected a folder listed in `folders`; none are declared".to_string()
                    } else {
                        format!("expected one of: {}", folders.join(", "))
                    });
                d = match nearest(folder, &folders) {
                    Some(near) => d.help(format!("did you mean `{near}`?")),
                    None => d.help(format!("add `{folder}` to `cekura.folders` in any file of agent {agent}")),
                };
                found.push(d);
            }
            let evaluators: Vec<&str> = acc.state.evaluators.iter().map(|e| e.name.as_str()).collect();
            for (fi, path, name) in &acc.schedule_refs {
                if evaluators.contains(&name.as_str()) {
                    continue;
                }
                let mut d = self.srcs[*fi]
                    .diag(path, On::Value, format!("evaluator `{name}` is not declared for agent {agent}"))
                    .label("a schedule runs evaluators the manifests declare, by name");
                d = match nearest(name, &evaluators) {
                    Some(near) => d.help(format!("did you mean `{near}`?")),
                    None => d.help("declare it under `cekura.evaluators`, or select evaluators with `tags`"),
                };
                found.push(d);
            }
            let profiles: Vec<&str> = acc.state.test_profiles.iter().map(|p| p.name.as_str()).collect();
            for (fi, path, name) in &acc.profile_refs {
                let namesakes: Vec<String> = acc
                    .state
                    .test_profiles
                    .iter()
                    .filter(|p| &p.name == name)
                    .filter_map(|p| p.id.map(|id| id.to_string()))
                    .collect();
                if namesakes.len() > 1 {
                    // Several pinned profiles share this name: the name alone does not say which one.
                    let d = self.srcs[*fi]
                        .diag(path, On::Value, format!("test profile `{name}` is ambiguous for agent {agent}"))
                        .label(format!("{} test profiles have this name", namesakes.len()))
                        .help(format!("refer to one by its id: {}", namesakes.join(", ")));
                    found.push(d);
                    continue;
                }
                if profiles.contains(&name.as_str()) {
                    continue;
                }
                let mut d = self.srcs[*fi]
                    .diag(path, On::Value, format!("test profile `{name}` is not declared for agent {agent}"))
                    .label("expected the name of a test profile of this agent, or an integer id");
                d = match nearest(name, &profiles) {
                    Some(near) => d.help(format!("did you mean `{near}`?")),
                    None => d.help(format!("declare it under `cekura.test_profiles` in any file of agent {agent}")),
                };
                found.push(d);
            }
        }
        self.diags.extend(found);
    }
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// An evaluator's own fields over its file's `defaults`, and where each came from (for messages).
struct Layers<'a> {
    own: &'a raw::EvaluatorFields,
    defaults: &'a raw::EvaluatorFields,
    /// The evaluator's path, `cekura.evaluators[3]`.
    path: &'a str,
}

impl Layers<'_> {
    /// The path of `key`: on the evaluator when `set` there, else in `defaults`.
    fn at(&self, set: bool, key: &str) -> String {
        if set {
            format!("{}.{key}", self.path)
        } else {
            format!("cekura.defaults.{key}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{load_texts, EnvMode, LoadOptions, ManifestFile};
    use super::*;

    fn load(texts: &[&str]) -> Result<State, String> {
        let env = |name: &str| (name == "TOKEN").then(|| "s3cr3t".to_string());
        let opts = LoadOptions { env: &env, mode: EnvMode::Required, environment: None };
        let files = texts
            .iter()
            .enumerate()
            .map(|(i, t)| ManifestFile { path: format!("f{i}.yaml").into(), text: t.to_string() })
            .collect();
        load_texts(files, &opts).map(|m| m.state).map_err(|d| d.to_string())
    }

    #[test]
    fn a_prompt_version_is_read_must_not_be_blank_and_files_of_a_prompt_agree() {
        let tela = |version: &str| {
            format!("version: 1\ntela:\n  prompt: 5f0c2a4e-0000-4000-8000-000000000001\n  prompt_version: {version}\n")
        };
        let prompt = "5f0c2a4e-0000-4000-8000-000000000001";
        let state = load(&[&tela("v-1"), &tela("v-1")]).unwrap();
        assert_eq!(state.prompts[prompt].prompt_version.as_ref().map(Text::expose), Some("v-1"));
        let secret = load(&[&tela("${env:TOKEN}")]).unwrap();
        let version = secret.prompts[prompt].prompt_version.clone().unwrap();
        assert_eq!((version.expose(), version.shown()), ("s3cr3t", "(sensitive)"));
        let unset = load(&[&tela("${env:NOPE:-}")]).unwrap();
        assert_eq!(unset.prompts[prompt].prompt_version, None, "empty from the environment: Tela chooses");
        let blank = load(&[&tela("\"  \"")]).unwrap_err();
        assert!(blank.contains("f0.yaml:4:19") && blank.contains("`prompt_version` is empty"), "{blank}");
        let disagree = load(&[&tela("v-1"), &tela("v-2")]).unwrap_err();
        assert!(disagree.contains("disagree on `prompt_version`"), "{disagree}");
        assert!(disagree.contains("expected v-1") && disagree.contains("first declared at f0.yaml:4:19"), "{disagree}");
    }

    const DEFAULTS: &str = r#"version: 1
cekura:
  agent: 5
  folders: [Sales.Inbound]
  test_profiles: [{name: Gold}]
  defaults:
    folder: Sales
    personality: Normal Male
    test_profile: Gold
    metrics: [501, call_success]
    tags: [smoke]
    max_duration: 300
    instructions_suffix: "\nConfirm your name.  "
  evaluators:
    - name: Uses every default
      instructions: "Ask about order 1.\n"
    - name: Overrides some
      folder: Sales.Inbound
      tags: []
      max_duration: 60
      instructions: Ask about order 2.
      instructions_suffix: " Then hang up."
    - name: Scripted
      type: conditional_actions
      conditional_actions:
        role: A caller
        conditions: [{id: 0, condition: FIRST_MESSAGE, action: Hi}]
"#;

    #[test]
    fn long_texts_are_normalised_as_the_fetcher_normalises_them() {
        // A block scalar ends with a newline and may carry CRLF or trailing blanks; the platform's copy does not.
        let text = "version: 1\ncekura:\n  agent: 5\n  evaluators:\n    - name: A\n      personality: 7\n      \
                    expected_outcome: |\n        The agent helps.  \n      first_message: \"Hi \\r\\n\"\n";
        let state = load(&[text]).unwrap();
        let spec = &state.agents[&5].evaluators[0].spec;
        assert_eq!(spec.expected_outcome, Some(Text::new("The agent helps.")));
        assert_eq!(spec.first_message, Some(Text::new("Hi")));
    }

    #[test]
    fn defaults_fill_what_an_evaluator_leaves_out() {
        let state = load(&[DEFAULTS]).unwrap();
        let agent = &state.agents[&5];
        assert_eq!(agent.folders, BTreeSet::from(["Sales".to_string(), "Sales.Inbound".to_string()]));
        let [first, second, third] = &agent.evaluators[..] else { panic!("{:?}", agent.evaluators) };

        assert_eq!(first.spec.folder.as_deref(), Some("Sales"));
        assert_eq!(first.spec.personality, Some(NamedRef::Name("Normal Male".into())));
        assert_eq!(first.spec.test_profile, Some(ProfileRef::Name("Gold".into())));
        assert_eq!(
            first.spec.metrics,
            Some(crate::model::SmallSet::from([MetricRef::Id(501), MetricRef::Slug("call_success".into())]))
        );
        assert_eq!(first.spec.max_duration, Some(300));
        assert_eq!(first.spec.script, Some(Script::Text(Text::new("Ask about order 1.\n\nConfirm your name."))));
        assert_eq!(
            first.spec.instruction_parts,
            Some(InstructionParts {
                body: "Ask about order 1.\n".into(),
                suffix: Some("\nConfirm your name.  ".into())
            })
        );
        assert_eq!(first.source, Some(SourceSpan { file: "f0.yaml".into(), line: 15, column: 7 }));

        assert_eq!(second.spec.folder.as_deref(), Some("Sales.Inbound"));
        assert_eq!(second.spec.tags, Some(crate::model::SmallSet::new()));
        assert_eq!(second.spec.max_duration, Some(60));
        assert_eq!(second.spec.script, Some(Script::Text(Text::new("Ask about order 2. Then hang up."))));

        // The default suffix leaves conditional-actions evaluators alone; everything else still applies.
        assert!(matches!(third.spec.script, Some(Script::Flow(_))));
        assert_eq!(third.spec.instruction_parts, None);
        assert_eq!(third.spec.max_duration, Some(300));
        // Fields nobody sets are not managed.
        assert_eq!(third.spec.language, None);
        assert_eq!(third.spec.first_message, None);
    }

    #[test]
    fn defaults_apply_per_file_and_files_merge_per_agent() {
        let other = "version: 1\ncekura:\n  agent: 5\n  evaluators:\n    - name: Elsewhere\n      folder: Sales\n";
        let state = load(&[DEFAULTS, other]).unwrap();
        let agent = &state.agents[&5];
        assert_eq!(agent.evaluators.len(), 4);
        let elsewhere = &agent.evaluators[3];
        assert_eq!(elsewhere.spec.max_duration, None, "defaults of another file do not apply");
        assert_eq!(elsewhere.source.as_ref().unwrap().file, "f1.yaml");
    }

    #[test]
    fn sensitive_instructions_are_replaced_whole() {
        let text =
            "version: 1\ncekura:\n  agent: 5\n  defaults:\n    instructions_suffix: \" Bye.\"\n  evaluators:\n    \
                    - name: Secret\n      instructions: \"Your PIN is ${env:TOKEN}.\"\n";
        let state = load(&[text]).unwrap();
        let e = &state.agents[&5].evaluators[0];
        let Some(Script::Text(t)) = &e.spec.script else { panic!() };
        assert!(t.is_sensitive());
        assert_eq!(t.expose(), "Your PIN is s3cr3t. Bye.");
        assert_eq!(t.template(), Some("Your PIN is ${env:TOKEN}. Bye."));
        assert_eq!(e.spec.instruction_parts, None);
        assert!(!format!("{e:?}").contains("s3cr3t"));
    }

    #[test]
    fn uuids() {
        assert!(is_uuid("5f0c2a4e-0000-4000-8000-000000000001"));
        assert!(!is_uuid("5f0c2a4e-0000-4000-8000-00000000001"));
        assert!(!is_uuid("order-support"));
    }
}

#[cfg(test)]
mod extras_tests {
    use super::super::{load_texts, EnvMode, LoadOptions, ManifestFile};
    use super::MetricRef;

    #[test]
    fn extra_sets_add_to_every_evaluator_even_those_with_their_own() {
        let text = "version: 1\ncekura:\n  agent: 5\n  defaults:\n    metrics: [1]\n    extra_metrics: [9, tone]\n    \
                    extra_tags: [nightly]\n    extra_tools: [TOOL_END_CALL]\n  evaluators:\n    - name: A\n    \
                    - name: B\n      metrics: [2]\n      tags: [smoke]\n";
        let opts = LoadOptions { env: &|_| None, mode: EnvMode::Required, environment: None };
        let files = vec![ManifestFile { path: "f.yaml".into(), text: text.into() }];
        let state = load_texts(files, &opts).map_err(|d| d.render(false)).unwrap().state;
        let [a, b] = &state.agents[&5].evaluators[..] else { panic!() };
        let metrics = |ids: &[u64]| {
            let mut set: crate::model::SmallSet<MetricRef> = ids.iter().map(|i| MetricRef::Id(*i)).collect();
            set.insert(MetricRef::Slug("tone".into()));
            Some(set)
        };
        assert_eq!(a.spec.metrics, metrics(&[1, 9]));
        assert_eq!(b.spec.metrics, metrics(&[2, 9]));
        assert_eq!(a.spec.tags, Some(crate::model::SmallSet::from(["nightly".to_string()])));
        assert_eq!(b.spec.tags, Some(crate::model::SmallSet::from(["nightly".to_string(), "smoke".to_string()])));
        assert_eq!(b.spec.tools, Some(crate::model::SmallSet::from(["TOOL_END_CALL".to_string()])));
    }
}

#[cfg(test)]
mod environment_tests {
    use super::super::{load_texts, EnvMode, Environment, LoadOptions, ManifestFile};
    use std::collections::BTreeMap;

    const SUITE: &str = "version: 1\ncekura:\n  agent: support\n  evaluators:\n    - name: Greets\n      \
                         first_message: \"${var:greeting}, I am calling about my order\"\n\
                         tela:\n  prompt: orders\n";

    fn staging() -> Environment {
        Environment {
            name: "staging".into(),
            agents: BTreeMap::from([("support".into(), 12)]),
            tela_prompts: BTreeMap::from([("orders".into(), "5F0C2A4E-0000-4000-8000-000000000001".into())]),
            vars: BTreeMap::from([("greeting".into(), "Hi there".into())]),
        }
    }

    fn load(text: &str, environment: Option<&Environment>) -> Result<super::State, String> {
        let opts = LoadOptions { env: &|_| None, mode: EnvMode::Required, environment };
        let files = vec![ManifestFile { path: "suite.yaml".into(), text: text.to_string() }];
        load_texts(files, &opts).map(|m| m.state).map_err(|d| d.render(false))
    }

    #[test]
    fn names_and_vars_resolve_in_the_environment() {
        let state = load(SUITE, Some(&staging())).unwrap();
        let agent = &state.agents[&12];
        let first = agent.evaluators[0].spec.first_message.as_ref().unwrap();
        assert_eq!(first.expose(), "Hi there, I am calling about my order");
        assert!(!first.is_sensitive(), "vars are shown in plans");
        assert!(state.prompts.contains_key("5f0c2a4e-0000-4000-8000-000000000001"));
    }

    #[test]
    fn unknown_names_are_located_and_list_the_known_ones() {
        let mut env = staging();
        env.vars.clear();
        env.tela_prompts.clear();
        insta::assert_snapshot!(load(SUITE, Some(&env)).unwrap_err(), @r#"
        error: `${var:greeting}` is not defined in environment `staging`
         --> suite.yaml:6:22
          |
        6 |       first_message: "${var:greeting}, I am calling about my order"
          |                      ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ expected a name from the environment's `vars`
          = help: the environment's vars are none

        error: `orders` is not a prompt id
         --> suite.yaml:8:11
          |
        8 |   prompt: orders
          |           ^^^^^^ expected a uuid such as 5f0c2a4e-0000-4000-8000-000000000001
          = help: the prompt names of environment `staging` are none

        error: 2 problems in 1 file
        "#);
        env.agents = BTreeMap::from([("sales".into(), 14)]);
        let err = load(SUITE, Some(&env)).unwrap_err();
        assert!(err.contains("agent `support` is not named in environment `staging`"), "{err}");
        assert!(err.contains("the agents of `staging` are `sales`"), "{err}");
        insta::assert_snapshot!(load(SUITE, None).unwrap_err(), @r"
        error: agent `support` is a name, and no environment is in use
         --> suite.yaml:3:10
          |
        3 |   agent: support
          |          ^^^^^^^ expected an agent id
          = help: choose an environment of evalform.toml (--env NAME, EVALFORM_ENV or default_env) whose `agents` name it, or write the agent's id

        error: `orders` is not a prompt id
         --> suite.yaml:8:11
          |
        8 |   prompt: orders
          |           ^^^^^^ expected a uuid such as 5f0c2a4e-0000-4000-8000-000000000001

        error: 2 problems in 1 file
        ");
    }
}

/// The manifest is parsed once: the typed reading from the positioned tree and the tree's positions must agree with
/// serde_yaml's reading of the text and with a full [`yaml::PositionIndex`], which the loader used before.
#[cfg(test)]
mod parse_once_tests {
    use super::raw;
    use crate::yaml::{self, PositionIndex, TreePositions};

    /// Every path a [`PositionIndex`] of `text` holds, and paths near them that do not exist, locate alike.
    fn positions_agree(text: &str) {
        let root = yaml::parse_tree(text).unwrap().unwrap();
        let index = PositionIndex::build(&root);
        let tree = TreePositions::new(root.clone());
        let mut paths = vec![String::new(), "missing".into(), "[0]".into(), "a.missing.deeper".into(), "a[7]".into()];
        let mut stack = vec![(String::new(), &root)];
        while let Some((path, node)) = stack.pop() {
            match &node.kind {
                yaml::NodeKind::Seq(items) => {
                    for (i, item) in items.iter().enumerate() {
                        stack.push((format!("{path}[{i}]"), item));
                    }
                    paths.push(format!("{path}[{}]", items.len()));
                    paths.push(format!("{path}[01]"));
                }
                yaml::NodeKind::Map(entries) => {
                    for (k, v) in entries {
                        let name = k.as_str().unwrap_or("?");
                        let p = if path.is_empty() { name.to_string() } else { format!("{path}.{name}") };
                        stack.push((p, v));
                    }
                }
                _ => {}
            }
            paths.push(format!("{path}.nope"));
            paths.push(path);
        }
        for p in &paths {
            assert_eq!(index.get(p), tree.get(p).as_ref(), "get({p:?}) in {text:?}");
            assert_eq!(index.nearest(p), tree.nearest(p), "nearest({p:?}) in {text:?}");
        }
    }

    #[test]
    fn tree_positions_locate_as_the_full_index() {
        for text in [
            "version: 1\ncekura:\n  agent: 12\n  evaluators:\n    - name: A\n      tags: [a, b]\n    - {name: B}\n",
            // Repeated keys: the last wins, also for what is below them.
            "a: {x: 1, y: 2}\nb: 3\na: {y: 4}\n",
            // Keys that look like paths, empty keys, keys that are not text.
            "a.b: 1\na: {b: 2, \"\": 3}\n\"\": {c: 4, \"\": {d: 5}}\n1: x\n? [k]\n: v\n",
            "\"\": 1\nc: 2\n\"\": {c: 3}\n",
            "a[0]: 1\na: [2, [3, {b: 4}]]\n",
            "- x\n- {a: 1}\n- [y]\n",
            "plain",
        ] {
            positions_agree(text);
        }
    }

    /// Whether the tree reader read `text` (and then as serde_yaml does); `false` when it is not YAML.
    fn typed_agree(text: &str) -> bool {
        let Ok(Some(mut root)) = yaml::parse_tree(text) else { return false };
        let tree = yaml::de::from_tree::<raw::Manifest>(&mut root);
        let serde = yaml::from_str::<raw::Manifest>(text);
        match (tree, serde) {
            (Ok(t), Ok(s)) => assert_eq!(format!("{t:?}"), format!("{s:?}"), "in {text:?}"),
            // Refusing is always safe: the loader then reads the text with serde_yaml.
            (Err(_), _) => return false,
            (Ok(t), Err(e)) => panic!("the tree reader accepted what serde_yaml refuses ({e}): {t:?} from {text:?}"),
        }
        true
    }

    #[test]
    fn the_tree_reader_reads_scalars_as_serde_yaml_does() {
        let mut read = 0;
        let values = [
            "12",
            "+12",
            "012",
            "0x1F",
            "0o17",
            "0b11",
            "-3",
            "1e3",
            "1.50",
            ".inf",
            "-.inf",
            ".nan",
            "~",
            "null",
            "Null",
            "",
            "true",
            "True",
            "TRUE",
            "yes",
            "on",
            "'12'",
            "\"true\"",
            "|\n    12\n",
            ">\n    a\n    b\n",
            "\"a\\tb\\u00e9\"",
            "'it''s'",
            "a b  c",
            "18446744073709551616",
            "-9223372036854775809",
            "[]",
            "{}",
        ];
        let slots = [
            "cekura:\n  agent: 1\n  project: {v}\n",
            "cekura:\n  agent: 1\n  prune: {v}\n",
            "cekura:\n  agent: {v}\n",
            "cekura:\n  agent: 1\n  folders: [{v}]\n",
            "cekura:\n  agent: 1\n  test_profiles:\n    - name: P\n      information: {k: {v}}\n",
            "cekura:\n  agent: 1\n  evaluators:\n    - name: E\n      first_message: {v}\n",
            "cekura:\n  agent: 1\n  evaluators:\n    - name: E\n      metrics: [{v}]\n",
            "cekura:\n  agent: 1\n  evaluators:\n    - name: E\n      max_duration: {v}\n",
            "cekura:\n  agent: 1\n  evaluators:\n    - name: E\n      type: {v}\n",
            "cekura:\n  agent: 1\n  evaluators:\n    - name: E\n      tags: {v}\n",
            "tela:\n  prompt: p\n  test_cases:\n    - title: T\n      variables:\n        k: {v}\n",
        ];
        for v in values {
            for slot in slots {
                read += typed_agree(&format!("version: 1\n{}", slot.replace("{v}", v))) as usize;
            }
        }
        for text in [
            "version: 1\ncekura:\n  agent: 1\n  evaluators:\n  test_profiles:\n",
            "version: 1\ntela:\n  prompt: p\n  test_cases:\n    - title: T\n      messages: [{role: user, content: hi}]\n",
            "version: 1\ncekura:\n  agent: 1\n  folders: [{path: A.B, renamed_from: [C]}, D]\n",
        ] {
            assert!(typed_agree(text), "{text}");
        }
        // Most of them are read from the tree (the rest is left to serde_yaml, which refuses them too).
        assert!(read >= 150, "{read}");
    }

    #[test]
    fn the_tree_reader_agrees_on_every_manifest_of_the_repository() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut dirs = vec![root.join("examples"), root.join("crates/evalform-cli/tests/fixtures")];
        let mut read = 0;
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                    let Ok(text) = std::fs::read_to_string(&path) else { continue };
                    read += typed_agree(&text) as usize;
                }
            }
        }
        assert!(read > 40, "only {read} manifests read from the tree");
    }
}
