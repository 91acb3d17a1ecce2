//! The one shape both sides of a diff share: what the manifests want (`Desired`) and what the platform has
//! (`Observed`) are both a [`State`].
//!
//! Everything here is plain, normalised data. Normalisation (sets, line endings and trailing whitespace in long
//! texts, the JSON flow inside `instructions`, phone-number row ids) happens once at the doors: in the manifest
//! loader and in the fetcher. Nothing in this module performs I/O, and the diff never normalises again.
//!
//! A field held as `None` in an [`EvaluatorSpec`] is *not managed*: the manifests do not mention it, so evalform
//! neither reports nor changes it. Observed state always has every field the platform returned set.

use std::collections::{BTreeMap, BTreeSet};

mod set;
pub use set::SmallSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A string that may have come from `${env:NAME}`. Compared by value; printed by `Debug` as `(sensitive)` when it
/// is sensitive, so a secret cannot leak through a log line or a panic message.
///
/// `Serialize` never writes a sensitive value: it writes `{"sensitive": TEMPLATE, "sha256": HEX}` (the manifest's
/// `${env:NAME}` template and a hash of the value), which is what plan files store. Code that builds request
/// bodies calls [`Text::expose`] explicitly.
#[derive(Clone, Default)]
pub struct Text {
    value: String,
    /// The `${env:...}` template the value came from, when it is sensitive.
    origin: Option<String>,
}

impl Text {
    pub fn new(value: impl Into<String>) -> Self {
        Text { value: value.into(), origin: None }
    }

    /// A value interpolated from the environment; `template` is the manifest string (`"Bearer ${env:TOKEN}"`).
    pub fn sensitive(value: impl Into<String>, template: impl Into<String>) -> Self {
        Text { value: value.into(), origin: Some(template.into()) }
    }

    /// The real value. Callers that print must check [`Text::is_sensitive`] first (or use [`Text::shown`]).
    pub fn expose(&self) -> &str {
        &self.value
    }

    pub fn is_sensitive(&self) -> bool {
        self.origin.is_some()
    }

    /// The `${env:...}` template of a sensitive value.
    pub fn template(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// The value as it may be shown to a person: `(sensitive)` for a sensitive value.
    pub fn shown(&self) -> &str {
        if self.is_sensitive() {
            SENSITIVE_MARK
        } else {
            &self.value
        }
    }

    /// Hex SHA-256 of the value: what plan files keep of a sensitive value.
    pub fn digest(&self) -> String {
        match self.sealed_digest() {
            Some(d) => d.to_string(),
            None => sha256_hex(self.value.as_bytes()),
        }
    }

    pub fn into_string(self) -> String {
        self.value
    }

    /// The same text with [`normalize_long_text`] applied to its value; sensitivity is kept.
    pub fn normalized(self) -> Text {
        Text { value: normalize_long_text(&self.value), origin: self.origin }
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Eq for Text {}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}

impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.value.hash(state)
    }
}

/// Hex SHA-256, used for fingerprints and for what plan files keep of sensitive values.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = sha2::Sha256::digest(bytes);
    // One allocation, not one `format!` per byte: plans fingerprint every observed evaluator.
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// How a sensitive value is shown in every output.
pub const SENSITIVE_MARK: &str = "(sensitive)";

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_sensitive() {
            f.write_str(SENSITIVE_MARK)
        } else {
            fmt::Debug::fmt(&self.value, f)
        }
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text::new(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text::new(s)
    }
}

/// Equality of sensitive and plain text is by value only: sensitivity is about display, not identity.
impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.value == other
    }
}

impl Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.origin {
            None => s.serialize_str(&self.value),
            Some(template) => {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("sensitive", template)?;
                m.serialize_entry("sha256", &self.digest())?;
                m.end()
            }
        }
    }
}

/// Reads a plain string, or the sensitive form that [`Serialize`] writes. The sensitive form comes back with an
/// empty value and its template: the caller re-interpolates it from the environment and checks the hash
/// (see [`Text::sealed_digest`]).
impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Plain(String),
            Resolved { sensitive: String, value: String },
            Sealed { sensitive: String, sha256: String },
        }
        Ok(match Wire::deserialize(d)? {
            Wire::Plain(s) => Text::new(s),
            Wire::Resolved { sensitive, value } => Text::sensitive(value, sensitive),
            Wire::Sealed { sensitive, sha256 } => {
                Text { value: format!("\u{0}sha256:{sha256}"), origin: Some(sensitive) }
            }
        })
    }
}

impl Text {
    /// For a sensitive value read back from a plan file: the hash it was stored with, until it is re-interpolated.
    pub fn sealed_digest(&self) -> Option<&str> {
        self.value.strip_prefix("\u{0}sha256:")
    }

    /// Replace a sealed value with its re-interpolated value (the caller has checked the hash).
    pub fn unseal(&mut self, value: String) {
        self.value = value;
    }
}

/// Normalise a long text the same way on both sides: CRLF and CR become LF, trailing whitespace is removed from
/// every line and from the end of the text. Leading whitespace and blank lines inside the text are kept.
pub fn normalize_long_text(s: &str) -> String {
    let unified = s.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(unified.len());
    for (i, line) in unified.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(line.trim_end());
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}

/// Whether [`normalize_long_text`] would return `s` unchanged: no carriage return, no whitespace at the end of a
/// line or of the text.
pub fn is_normal_long_text(s: &str) -> bool {
    !s.contains('\r') && s.split('\n').all(|line| line.trim_end().len() == line.len()) && s.trim_end().len() == s.len()
}

/// Identity of the Cekura agent a group of resources belongs to.
pub type AgentId = u64;

/// The whole desired or observed world: Cekura agents and Tela prompts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    pub agents: BTreeMap<AgentId, AgentState>,
    pub prompts: BTreeMap<String, PromptState>,
}

/// One Cekura agent and everything of it that evalform manages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentState {
    pub agent: AgentId,
    /// Desired: from the manifest when given, else looked up from the agent. Observed: the agent's project.
    pub project: Option<u64>,
    /// Desired only: delete evaluators and test profiles of this agent that no manifest declares.
    pub prune: bool,
    /// Desired only: delete the folders no manifest of this agent uses, when everything inside is evalform's to
    /// delete (`prune_folders: true`).
    pub prune_folders: bool,
    /// Dot paths ("Sales.Inbound"). Desired: folders the manifests declare. Observed: folders of the project.
    pub folders: BTreeSet<String>,
    /// Desired only: per declared folder path, the earlier paths it had (`renamed_from`), newest first. A platform
    /// folder of an earlier path is this folder: it is renamed or moved, never created anew.
    pub folder_renames: BTreeMap<String, Vec<String>>,
    pub test_profiles: Vec<TestProfile>,
    pub evaluators: Vec<Evaluator>,
    /// Desired only: per declared evaluator, test profile or metric (by its address), the earlier names it was known by
    /// (`renamed_from`). A remote resource of an earlier name is the same resource: it is renamed, never
    /// re-created.
    pub renamed_from: BTreeMap<Address, Vec<String>>,
    /// Desired only: (test profile name, section) of every section of sectioned variables that the manifest does
    /// not mention (it sets `main_agent_variables` alone, or `testing_agent_variables` alone). Such a section is not
    /// managed: the plan keeps what the platform has in it.
    pub unmanaged_sections: BTreeSet<(String, String)>,
    /// Observed only: ids of the evaluators that carry evalform's ownership tag ([`OWNERSHIP_TAG`]): created or
    /// adopted by evalform, so `prune` may delete them. The tag itself is kept out of `tags` on both sides.
    pub owned: BTreeSet<u64>,
    /// Desired: the metrics the manifests define for the agent's project (`cekura.metrics`). Observed: the custom
    /// metrics of the agent's project (predefined metrics are read-only and never listed here).
    pub metrics: Vec<Metric>,
    /// Observed only: ids of the metrics that carry evalform's ownership mark ([`METRIC_OWNERSHIP_KEY`] in their
    /// `configuration`): created or adopted by evalform, so `prune` may delete them.
    pub owned_metrics: BTreeSet<u64>,
    /// Desired: the schedules the manifests declare (`cekura.schedules`). Observed: the agent's cron jobs.
    pub schedules: Vec<Schedule>,
}

/// A schedule (a cron job) that starts runs of the agent's evaluators. Identity: `name` within the agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Observed: always set. Desired: unset.
    pub id: Option<u64>,
    pub name: String,
    pub spec: ScheduleSpec,
    pub source: Option<SourceSpan>,
}

/// The managed fields of a schedule; `None` is "not managed" on the desired side.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScheduleSpec {
    /// A 5-field crontab expression, with single spaces between fields.
    pub cron: Option<String>,
    /// Runs the evaluators that carry any of these tags.
    pub tags: Option<BTreeSet<String>>,
    /// Runs these evaluators, by name. Observed: the names of the evaluators the cron job lists (`#ID` for an id
    /// the agent does not have).
    pub evaluators: Option<BTreeSet<String>>,
    /// The platform's `execution_mode` (`voice`, `text`, ...).
    pub mode: Option<String>,
    /// The platform's `is_active`.
    pub active: Option<bool>,
}

/// The key evalform sets in a metric's `configuration` (`{"managed_by": "evalform"}`) on every metric it creates or
/// adopts. Metrics carry no tags; `configuration` is the metric's free-form settings object, shown with the metric
/// in the API and kept by the platform. It is never part of the manifests.
pub const METRIC_OWNERSHIP_KEY: &str = "managed_by";
/// The value of [`METRIC_OWNERSHIP_KEY`].
pub const METRIC_OWNERSHIP_VALUE: &str = "evalform";

/// A metric a project defines (a judge). Identity: `name` within the agent's project.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Observed: always set. Desired: unset.
    pub id: Option<u64>,
    pub name: String,
    pub spec: MetricSpec,
    pub source: Option<SourceSpan>,
    /// Observed only: the metric's `configuration` object as read, so that adopting it adds evalform's mark to
    /// what is there. Never compared.
    pub configuration: Option<serde_json::Value>,
}

/// The managed fields of a metric. `None` is "not managed" on the desired side; observed state sets every field
/// the platform returned.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricSpec {
    /// `llm_judge` or `custom_code` (the platform also lists `basic` and `custom_prompt`).
    pub kind: Option<String>,
    /// `binary`, `continuous_qualitative`, `numeric` or `enum`.
    pub eval_type: Option<String>,
    /// The judge prompt, normalised like instructions.
    pub description: Option<Text>,
    pub enum_values: Option<Vec<String>>,
    /// `always`, `automatic` or `custom`.
    pub evaluation_trigger: Option<String>,
    /// The code of a `custom_code` metric, normalised like instructions. Never executed by evalform.
    pub custom_code: Option<Text>,
    pub simulation_enabled: Option<bool>,
    pub observability_enabled: Option<bool>,
}

/// The tag evalform puts on every evaluator it creates or adopts: a person sees it in the dashboard (and can
/// filter by it), and `prune` deletes only evaluators that carry it. It is never part of the manifests' `tags`:
/// the reader removes it, and every write of `tags` adds it back.
pub const OWNERSHIP_TAG: &str = "managed-by:evalform";

/// Where a desired resource was declared, for messages (`FILE:LINE:COLUMN`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SourceSpan {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for SourceSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A Cekura test profile. Identity: `name` within the agent, or the `id` pin.
#[derive(Debug, Clone, PartialEq)]
pub struct TestProfile {
    pub id: Option<u64>,
    pub name: String,
    /// `None` in desired state: the manifest does not manage the variables.
    pub information: Option<Information>,
    pub source: Option<SourceSpan>,
}

/// A test profile's variables, in the platform's two shapes. Serialises as the platform writes it (sensitive
/// values in their sealed form, see [`Text`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Information {
    /// `main_agent_variables` go to the agent under test, `testing_agent_variables` to the simulated caller.
    Sectioned { main_agent_variables: BTreeMap<String, Text>, testing_agent_variables: BTreeMap<String, Text> },
    /// The legacy flat dict, which the platform sends to both sides.
    Flat(BTreeMap<String, Text>),
}

/// A test profile reference: by name within the agent (it may not exist yet), or by id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ProfileRef {
    Id(u64),
    Name(String),
}

/// A personality reference, resolved to an id through the platform's list before planning.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NamedRef {
    Id(u64),
    Name(String),
}

/// The script of an evaluator: its instructions text, or its conditional-actions flow. The platform's
/// `scenario_type` follows from which one it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Script {
    /// Normalised with [`normalize_long_text`]. Desired: `instructions` + `instructions_suffix`.
    Text(Text),
    Flow(ConditionalActions),
}

/// The desired instruction text split where the manifest split it, so the planner can recognise a shared tail.
/// `Script::Text` holds the concatenation; this is only a hint.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InstructionParts {
    pub body: String,
    pub suffix: Option<String>,
}

/// A conditional-actions flow, with every default filled in so that parsed remote JSON and manifests compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionalActions {
    pub role: Text,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub id: u64,
    /// `FIRST_MESSAGE`, a natural-language description, or (for `action_followup`) another condition's id.
    pub condition: ConditionTrigger,
    pub action: Text,
    /// `standard` or `action_followup`; defaults to `action_followup` for an integer trigger, `standard` otherwise.
    #[serde(rename = "type")]
    pub kind: ConditionKind,
    pub fixed_message: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConditionTrigger {
    Followup(u64),
    Text(Text),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionKind {
    Standard,
    ActionFollowup,
}

/// A Cekura evaluator ("scenario" in the API). Identity: `name` within the agent, or the `id` pin.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluator {
    /// Desired: the `id` pin, if any. Observed: always set.
    pub id: Option<u64>,
    pub name: String,
    pub spec: EvaluatorSpec,
    /// Desired only: fields whose drift is neither reported nor reverted.
    pub ignore_changes: BTreeSet<Field>,
    pub source: Option<SourceSpan>,
}

/// The managed fields of an evaluator. `None` is "not managed" on the desired side.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EvaluatorSpec {
    /// Dot path; `""` is "in no folder".
    pub folder: Option<String>,
    pub script: Option<Script>,
    /// Desired only: how `script` was composed, when it is text.
    pub instruction_parts: Option<InstructionParts>,
    pub expected_outcome: Option<Text>,
    pub first_message: Option<Text>,
    pub personality: Option<NamedRef>,
    pub test_profile: Option<ProfileRef>,
    /// Metric ids, or slugs before resolution.
    pub metrics: Option<SmallSet<MetricRef>>,
    pub tools: Option<SmallSet<String>>,
    pub tags: Option<SmallSet<String>>,
    pub language: Option<String>,
    pub max_duration: Option<u32>,
    /// The phone-number row id (the API reads back the number string; the fetcher maps it to the row id).
    pub phone_number: Option<u64>,
}

/// A metric by id or by slug; slugs are resolved to ids through the platform's metric list before planning.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MetricRef {
    Id(u64),
    Slug(String),
}

/// The managed evaluator fields, by the name the manifests use. Used by `ignore_changes`, diffs and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Name,
    Folder,
    Instructions,
    ConditionalActions,
    ExpectedOutcome,
    FirstMessage,
    Personality,
    TestProfile,
    Metrics,
    Tools,
    Tags,
    Language,
    MaxDuration,
    PhoneNumber,
}

impl Field {
    pub const ALL: [Field; 14] = [
        Field::Name,
        Field::Folder,
        Field::Instructions,
        Field::ConditionalActions,
        Field::ExpectedOutcome,
        Field::FirstMessage,
        Field::Personality,
        Field::TestProfile,
        Field::Metrics,
        Field::Tools,
        Field::Tags,
        Field::Language,
        Field::MaxDuration,
        Field::PhoneNumber,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Folder => "folder",
            Field::Instructions => "instructions",
            Field::ConditionalActions => "conditional_actions",
            Field::ExpectedOutcome => "expected_outcome",
            Field::FirstMessage => "first_message",
            Field::Personality => "personality",
            Field::TestProfile => "test_profile",
            Field::Metrics => "metrics",
            Field::Tools => "tools",
            Field::Tags => "tags",
            Field::Language => "language",
            Field::MaxDuration => "max_duration",
            Field::PhoneNumber => "phone_number",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One Tela prompt and its test cases.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PromptState {
    pub prompt: String,
    pub prune: bool,
    /// Desired only: the prompt version every run of these test cases names (`promptVersionId`); `None` lets Tela
    /// choose. Not a managed field: plans and apply never read it.
    pub prompt_version: Option<Text>,
    pub test_cases: Vec<TestCase>,
    /// Observed only: ids of the test cases that carry evalform's ownership mark (`{"managed_by": "evalform"}` in
    /// their `metadata`): created by evalform, so `prune` may delete them.
    pub owned: BTreeSet<String>,
}

/// A Tela test case. Identity: `title` within the prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    /// Observed: the uuid. Desired: unset.
    pub id: Option<String>,
    pub title: String,
    /// Ordered; `None` is not managed.
    pub messages: Option<Vec<Message>>,
    pub variables: Option<BTreeMap<String, Text>>,
    pub expected_output: Option<Text>,
    pub source: Option<SourceSpan>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: Text,
}

/// What the platform lists alongside an agent, used to resolve names and slugs in manifests to ids.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub metrics: Vec<MetricInfo>,
    pub personalities: Vec<PersonalityInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricInfo {
    pub id: u64,
    pub slug: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalityInfo {
    pub id: u64,
    pub name: String,
}

/// Where a resource lives, as users write it in `--target` and as plans print it:
/// `cekura.agent[12].evaluator["Order status"]`, `cekura.agent[12].test_profile["Premium caller"]`,
/// `cekura.agent[12].folder["Sales.Inbound"]`, `tela.prompt[UUID].test_case["Order has not arrived"]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Address {
    Folder {
        agent: AgentId,
        path: String,
    },
    TestProfile {
        agent: AgentId,
        name: String,
    },
    Evaluator {
        agent: AgentId,
        name: String,
    },
    TestCase {
        prompt: String,
        title: String,
    },
    /// A metric of the agent's project: `cekura.agent[12].metric["Greets the caller"]`.
    Metric {
        agent: AgentId,
        name: String,
    },
    /// A schedule (cron job) of the agent: `cekura.agent[12].schedule["Nightly smoke"]`.
    Schedule {
        agent: AgentId,
        name: String,
    },
}

impl Address {
    /// The name part alone (evaluator name, profile name, folder path, test case title), for `--target` globs.
    pub fn name(&self) -> &str {
        match self {
            Address::Folder { path, .. } => path,
            Address::TestProfile { name, .. }
            | Address::Evaluator { name, .. }
            | Address::Metric { name, .. }
            | Address::Schedule { name, .. } => name,
            Address::TestCase { title, .. } => title,
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
        match self {
            Address::Folder { agent, path } => write!(f, "cekura.agent[{agent}].folder[{}]", quoted(path)),
            Address::TestProfile { agent, name } => write!(f, "cekura.agent[{agent}].test_profile[{}]", quoted(name)),
            Address::Evaluator { agent, name } => write!(f, "cekura.agent[{agent}].evaluator[{}]", quoted(name)),
            Address::TestCase { prompt, title } => write!(f, "tela.prompt[{prompt}].test_case[{}]", quoted(title)),
            Address::Metric { agent, name } => write!(f, "cekura.agent[{agent}].metric[{}]", quoted(name)),
            Address::Schedule { agent, name } => write!(f, "cekura.agent[{agent}].schedule[{}]", quoted(name)),
        }
    }
}

impl From<Address> for String {
    fn from(a: Address) -> String {
        a.to_string()
    }
}

impl TryFrom<String> for Address {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bad = || format!("not a resource address: {s}");
        let (head, rest) = s.split_once('[').ok_or_else(bad)?;
        let (scope, rest) = rest.split_once("].").ok_or_else(bad)?;
        let (kind, name) = rest.split_once('[').ok_or_else(bad)?;
        let name = name.strip_suffix(']').ok_or_else(bad)?;
        let name: String = serde_json::from_str(name).map_err(|_| bad())?;
        let agent = || scope.parse::<AgentId>().map_err(|_| bad());
        match (head, kind) {
            ("cekura.agent", "folder") => Ok(Address::Folder { agent: agent()?, path: name }),
            ("cekura.agent", "test_profile") => Ok(Address::TestProfile { agent: agent()?, name }),
            ("cekura.agent", "evaluator") => Ok(Address::Evaluator { agent: agent()?, name }),
            ("cekura.agent", "metric") => Ok(Address::Metric { agent: agent()?, name }),
            ("cekura.agent", "schedule") => Ok(Address::Schedule { agent: agent()?, name }),
            ("tela.prompt", "test_case") => Ok(Address::TestCase { prompt: scope.to_string(), title: name }),
            _ => Err(bad()),
        }
    }
}

/// The languages the platform accepts for `scenario_language` (the OpenAPI enum, in its order).
pub const LANGUAGES: &[&str] = &[
    "af", "ar", "bn", "bg", "zh", "cs", "da", "nl", "en", "et", "fi", "fr", "de", "el", "gu", "hi", "he", "hu", "id",
    "it", "ja", "kn", "ko", "ms", "ml", "mr", "multi", "no", "pl", "pa", "pt", "ro", "ru", "sk", "es", "sv", "th",
    "tr", "tl", "ta", "te", "uk", "vi",
];

/// Evaluator names are at most this long on the platform.
pub const MAX_NAME_LEN: usize = 80;

/// The platform's bounds for `max_duration`, in seconds.
pub const MAX_DURATION_RANGE: std::ops::RangeInclusive<u32> = 10..=3600;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_text_never_shows_in_debug() {
        let t = Text::sensitive("hunter2-secret", "${env:PASSWORD}");
        let rendered = format!("{t:?} {:?}", vec![t.clone()]);
        assert!(!rendered.contains("hunter2"), "{rendered}");
        assert_eq!(t.expose(), "hunter2-secret");
        assert_eq!(t.shown(), SENSITIVE_MARK);
        let json = serde_json::to_string(&t).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        let back: Text = serde_json::from_str(&json).unwrap();
        assert_eq!(back.sealed_digest(), Some(t.digest().as_str()));
        assert_eq!(back.template(), Some("${env:PASSWORD}"));
    }

    #[test]
    fn addresses_round_trip() {
        for a in [
            Address::Evaluator { agent: 12, name: "Order \"status\" [x]".into() },
            Address::Folder { agent: 1, path: "Sales.Inbound".into() },
            Address::TestProfile { agent: 3, name: "Premium caller".into() },
            Address::Metric { agent: 3, name: "Greets \"by name\"".into() },
            Address::Schedule { agent: 3, name: "Nightly smoke".into() },
            Address::TestCase { prompt: "5f0c2a4e-0000-4000-8000-000000000001".into(), title: "Late".into() },
        ] {
            let s = a.to_string();
            assert_eq!(Address::try_from(s.clone()).unwrap(), a, "{s}");
        }
        assert_eq!(
            Address::Evaluator { agent: 12, name: "Order status".into() }.to_string(),
            r#"cekura.agent[12].evaluator["Order status"]"#
        );
    }

    #[test]
    fn long_text_normalisation() {
        assert_eq!(normalize_long_text("a  \r\nb\t\r\n\r\n"), "a\nb");
        assert_eq!(normalize_long_text("  indented\n\n  kept"), "  indented\n\n  kept");
        assert_eq!(normalize_long_text(""), "");
    }

    #[test]
    fn a_normal_long_text_is_one_normalisation_keeps() {
        let pieces = ["", "a", " ", "\t", "\r", "\n", "\r\n", "b c", "\u{a0}", "\u{3000}"];
        let mut texts = vec![String::new()];
        for _ in 0..3 {
            texts = texts.iter().flat_map(|t| pieces.iter().map(move |p| format!("{t}{p}"))).collect();
        }
        for t in &texts {
            assert_eq!(is_normal_long_text(t), normalize_long_text(t) == *t, "{t:?}");
        }
    }
}
