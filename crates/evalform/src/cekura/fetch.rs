//! Read an agent's current state from Cekura and normalise it, at the door, into the same types the manifests
//! load into, so that an unchanged platform compares equal to its manifests and a plan shows no perpetual diff.
//!
//! The normalisation is a set of pure functions, each unit-tested: metrics, tools and tags become sets; long
//! texts go through [`model::normalize_long_text`]; the conditional-actions flow that the platform returns as a
//! JSON string inside `instructions` is parsed, with the defaults the manifest loader fills; the phone number
//! read back as a string becomes its row id. Nothing here decides what to change: that is the planner's job.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use tokio::task::JoinSet;

use super::client::CekuraClient;
use super::wire;
use crate::http::ApiError;
use crate::model::{
    self, AgentState, Catalog, Condition, ConditionKind, ConditionTrigger, ConditionalActions, Evaluator,
    EvaluatorSpec, Information, MetricInfo, MetricRef, NamedRef, PersonalityInfo, ProfileRef, Script, Text,
};

/// A fetch that could not complete: the API failed, or answered something that cannot be a platform state.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("reading {what}")]
    Api {
        /// What was being read: "Cekura agent 12", "Tela prompt 5f0c...".
        what: String,
        #[source]
        source: ApiError,
    },
    #[error("evaluator {id} ({name:?}) has scenario_type conditional_actions, but its flow in `instructions` does not parse: {reason}")]
    Flow { id: u64, name: String, reason: String },
    #[error("Cekura agent {agent} has no project")]
    NoProject { agent: u64 },
    #[error("Cekura agent {agent} is in project {actual}, not in project {declared} as the manifests say")]
    ProjectMismatch { agent: u64, declared: u64, actual: u64 },
}

impl FetchError {
    fn api(what: impl Into<String>) -> impl FnOnce(ApiError) -> FetchError {
        let what = what.into();
        move |source| FetchError::Api { what, source }
    }
}

/// What to read beyond the lists.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// A manifest manages `max_duration`, which only the single GET returns: read each evaluator once.
    pub need_max_duration: bool,
    /// A manifest manages `language`: read singly the evaluators whose list item lacks `scenario_language`.
    pub need_language: bool,
    /// The project, when the manifest gives it; otherwise it is read from the agent.
    pub project: Option<u64>,
}

/// An agent as the platform has it now.
#[derive(Debug, Clone)]
pub struct FetchedAgent {
    /// Observed and normalised: compare it with the desired state as it is.
    pub state: AgentState,
    /// Metrics and personalities, for resolving slugs and names in manifests.
    pub catalog: Catalog,
    /// Phone-number row id -> number string.
    pub phone_numbers: BTreeMap<u64, String>,
    /// What identifies each remote object's version, for refusing a stale saved plan: `updated_at` by id.
    pub remote: RemoteVersions,
}

/// `updated_at` of every evaluator and test profile that was read (None when the platform did not send it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteVersions {
    pub evaluators: BTreeMap<u64, Option<String>>,
    pub test_profiles: BTreeMap<u64, Option<String>>,
}

/// Read everything evalform manages for one agent. Independent lists are read concurrently; single evaluator
/// reads happen only when [`FetchOptions`] asks for fields the list lacks.
pub async fn fetch_agent(client: &CekuraClient, agent: u64, opts: &FetchOptions) -> Result<FetchedAgent, FetchError> {
    let lists = read_lists(client, agent, opts.project).await?;
    finish_agent(client, lists, opts).await
}

/// The lists of one agent, read before the desired state is known: [`read_lists`] needs only the agent and,
/// when the manifests give it, the project; [`finish_agent`] adds the single reads the desired state asks for.
#[derive(Debug)]
pub struct AgentLists {
    agent: u64,
    project: u64,
    scenarios: Vec<wire::ScenarioListItem>,
    profiles: Vec<wire::TestProfile>,
    folders: Vec<wire::Folder>,
    metrics: Vec<wire::Metric>,
    personalities: Vec<wire::Personality>,
    phones: Vec<wire::PhoneNumber>,
    cron_jobs: Vec<wire::CronJob>,
}

impl AgentLists {
    /// The agent these lists are of.
    pub fn agent(&self) -> u64 {
        self.agent
    }
}

/// Read the agent and every list evalform compares (evaluators, test profiles, folders, metrics, personalities,
/// phone numbers), concurrently. `project` is the manifests' `project:` when they give it; otherwise the agent
/// is read first to learn it.
pub async fn read_lists(client: &CekuraClient, agent: u64, project: Option<u64>) -> Result<AgentLists, FetchError> {
    let what = format!("Cekura agent {agent}");
    // The agent is always read: with `project:` in the manifests an agent id that does not exist would otherwise
    // show up only as every reference failing to resolve against empty lists.
    let (project, read_agent) = match project {
        Some(p) => (p, Some(client.get_agent(agent))),
        None => {
            let a = client.get_agent(agent).await.map_err(FetchError::api(&what))?;
            (a.project.ok_or(FetchError::NoProject { agent })?, None)
        }
    };
    let checked = async {
        match read_agent {
            Some(read) => read.await.map(Some),
            None => Ok(None),
        }
    };
    let (checked, scenarios, profiles, folders, metrics, personalities, phones, cron_jobs) = tokio::join!(
        checked,
        client.list_scenarios(agent),
        client.list_test_profiles(agent),
        client.list_folders(project),
        client.list_metrics(agent),
        client.list_personalities(project),
        client.list_phone_numbers(),
        client.list_cron_jobs(agent),
    );
    if let Some(found) = checked.map_err(FetchError::api(&what))? {
        if let Some(actual) = found.project.filter(|p| *p != project) {
            return Err(FetchError::ProjectMismatch { agent, declared: project, actual });
        }
    }
    // A server (or a key) without the schedules routes is an agent without schedules: reading them must not stop
    // the plan of a suite that declares none. A declared schedule is then planned as a create, which says so.
    let cron_jobs = match cron_jobs {
        Err(e) if matches!(e.status(), Some(403 | 404)) => Vec::new(),
        other => other.map_err(FetchError::api(format!("the schedules of {what}")))?,
    };
    Ok(AgentLists {
        agent,
        project,
        scenarios: scenarios.map_err(FetchError::api(format!("the evaluators of {what}")))?,
        profiles: profiles.map_err(FetchError::api(format!("the test profiles of {what}")))?,
        folders: folders.map_err(FetchError::api(format!("the folders of project {project}")))?,
        metrics: metrics.map_err(FetchError::api(format!("the metrics of {what}")))?,
        personalities: personalities.map_err(FetchError::api(format!("the personalities of project {project}")))?,
        phones: phones.map_err(FetchError::api("the phone numbers"))?,
        cron_jobs,
    })
}

/// Complete an agent's reading: the single evaluator reads [`FetchOptions`] asks for (the fields the list lacks),
/// then normalisation. `opts.project` is not used here (the lists were read for their own project).
pub async fn finish_agent(
    client: &CekuraClient,
    lists: AgentLists,
    opts: &FetchOptions,
) -> Result<FetchedAgent, FetchError> {
    finish_agent_for(client, lists, opts, None).await
}

/// The evaluators whose single read a plan needs: those a manifest declares (by `id` pin or by name, as the
/// planner matches them) with a field the list lacks. Another evaluator's `max_duration` is never compared.
#[derive(Debug, Clone, Default)]
pub struct SingleReads {
    pub ids: BTreeSet<u64>,
    pub names: BTreeSet<String>,
}

/// [`finish_agent`], reading singly only the evaluators `only` names (all of them when `None`).
pub async fn finish_agent_for(
    client: &CekuraClient,
    lists: AgentLists,
    opts: &FetchOptions,
    only: Option<&SingleReads>,
) -> Result<FetchedAgent, FetchError> {
    let AgentLists { agent, project, scenarios, profiles, folders, metrics, personalities, phones, cron_jobs } = lists;
    let phone_numbers: BTreeMap<u64, String> = phones.into_iter().filter_map(|p| p.number.map(|n| (p.id, n))).collect();

    let wanted: Vec<u64> = scenarios
        .iter()
        .filter(|s| opts.need_max_duration || (opts.need_language && s.scenario_language.is_none()))
        .filter(|s| only.is_none_or(|o| o.ids.contains(&s.id) || o.names.contains(&s.name)))
        .map(|s| s.id)
        .collect();
    let details = fetch_details(client, &wanted).await?;

    // What the rest needs of the list, taken before the list is consumed: the wire items are dropped one by one
    // as they are normalised, so the list and the normalised evaluators are never both whole in memory.
    let owned =
        scenarios.iter().filter(|s| s.tags.iter().any(|t| t == crate::model::OWNERSHIP_TAG)).map(|s| s.id).collect();
    let scheduled: BTreeSet<u64> = cron_jobs.iter().flat_map(|j| j.scenarios.iter().copied()).collect();
    let scenario_names: BTreeMap<u64, String> =
        scenarios.iter().filter(|s| scheduled.contains(&s.id)).map(|s| (s.id, s.name.clone())).collect();
    let mut evaluators = Vec::with_capacity(scenarios.len());
    let mut remote = RemoteVersions::default();
    for mut item in scenarios {
        let detail = match details.get(&item.id) {
            Some(None) => continue, // gone since the list was read
            Some(Some(d)) => Some(d),
            None => None,
        };
        remote.evaluators.insert(item.id, item.updated_at.take());
        evaluators.push(normalize_scenario_owned(item, detail, &phone_numbers)?);
    }
    drop(details);
    let mut test_profiles = Vec::with_capacity(profiles.len());
    for p in &profiles {
        remote.test_profiles.insert(p.id, p.updated_at.clone());
        test_profiles.push(normalize_test_profile(p));
    }
    let defined: Vec<&wire::Metric> =
        metrics.iter().filter(|m| m.project.is_some() && m.is_predefined != Some(true)).collect();
    let owned_metrics =
        defined.iter().filter(|m| carries_ownership_mark(m.configuration.as_ref())).map(|m| m.id).collect();
    let project_metrics = defined.into_iter().map(normalize_metric).collect();
    let state = AgentState {
        agent,
        project: Some(project),
        prune: false,
        folders: normalize_folders(&folders),
        test_profiles,
        evaluators,
        owned,
        metrics: project_metrics,
        owned_metrics,
        schedules: cron_jobs.iter().map(|j| schedule_of(j, |id| scenario_names.get(&id).cloned())).collect(),
        ..AgentState::default()
    };
    let catalog = Catalog {
        metrics: metrics.into_iter().map(|m| MetricInfo { id: m.id, slug: m.slug, name: m.name }).collect(),
        personalities: personalities.into_iter().map(|p| PersonalityInfo { id: p.id, name: p.name }).collect(),
    };
    Ok(FetchedAgent { state, catalog, phone_numbers, remote })
}

/// A cron job as the model has it: evaluators by name (`#ID` for an id the agent does not have), the crontab
/// expression with single spaces.
pub fn normalize_cron_job(j: &wire::CronJob, scenarios: &[wire::ScenarioListItem]) -> crate::model::Schedule {
    schedule_of(j, |id| scenarios.iter().find(|s| s.id == id).map(|s| s.name.clone()))
}

/// [`normalize_cron_job`], naming an evaluator id by `name` (`None`: the agent does not have it).
fn schedule_of(j: &wire::CronJob, name: impl Fn(u64) -> Option<String>) -> crate::model::Schedule {
    let name_of = |id: &u64| name(*id).unwrap_or_else(|| format!("#{id}"));
    crate::model::Schedule {
        id: Some(j.id),
        name: j.name.clone(),
        spec: crate::model::ScheduleSpec {
            cron: Some(j.crontab_expression.as_deref().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ")),
            tags: Some(j.tags.iter().cloned().collect()),
            evaluators: Some(j.scenarios.iter().map(name_of).collect()),
            mode: j.execution_mode.clone(),
            active: j.is_active,
        },
        source: None,
    }
}

/// Whether a metric's `configuration` (or a Tela test case's `metadata`) carries evalform's ownership mark.
pub fn carries_ownership_mark(configuration: Option<&serde_json::Value>) -> bool {
    configuration.and_then(|c| c.get(crate::model::METRIC_OWNERSHIP_KEY)).and_then(serde_json::Value::as_str)
        == Some(crate::model::METRIC_OWNERSHIP_VALUE)
}

/// A metric the project defines, normalised as the manifest loader normalises one: long texts like instructions,
/// `enum_values` a list of strings (empty when the platform has none).
pub fn normalize_metric(m: &wire::Metric) -> crate::model::Metric {
    let long = |t: &Option<String>| Text::new(crate::model::normalize_long_text(t.as_deref().unwrap_or("")));
    let enum_values = match &m.enum_values {
        Some(serde_json::Value::Array(items)) => {
            items.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect()
        }
        _ => Vec::new(),
    };
    crate::model::Metric {
        id: Some(m.id),
        name: m.name.clone(),
        spec: crate::model::MetricSpec {
            kind: m.kind.clone(),
            eval_type: m.eval_type.clone(),
            description: Some(long(&m.description)),
            enum_values: Some(enum_values),
            evaluation_trigger: m.evaluation_trigger.clone(),
            custom_code: Some(long(&m.custom_code)),
            simulation_enabled: m.simulation_enabled,
            observability_enabled: m.observability_enabled,
        },
        source: None,
        configuration: m.configuration.clone(),
    }
}

/// Single evaluator reads, in parallel within the client's concurrency limit.
/// `None` for an evaluator that was deleted after the list was read.
async fn fetch_details(
    client: &CekuraClient,
    ids: &[u64],
) -> Result<BTreeMap<u64, Option<wire::Scenario>>, FetchError> {
    let mut tasks = JoinSet::new();
    for &id in ids {
        let client = client.clone();
        tasks.spawn(async move { (id, client.get_scenario(id).await) });
    }
    let mut out = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        let (id, result) = joined.map_err(|e| FetchError::Api {
            what: "an evaluator".into(),
            source: ApiError::Unavailable {
                method: "GET".into(),
                path: "/test_framework/v1/scenarios/".into(),
                reason: e.to_string(),
            },
        })?;
        match result {
            Ok(detail) => {
                out.insert(id, Some(detail));
            }
            // Deleted between the list and this read (a racing apply removing its twin, a dashboard delete): it
            // is not on the platform any more, which is what the state must say.
            Err(e) if e.status() == Some(404) => {
                out.insert(id, None);
            }
            Err(e) => return Err(FetchError::api(format!("evaluator {id}"))(e)),
        }
    }
    Ok(out)
}

/// Observed folders: every folder path of the project, as dot paths.
pub fn normalize_folders(folders: &[wire::Folder]) -> BTreeSet<String> {
    folders.iter().map(|f| f.path.trim().to_string()).filter(|p| !p.is_empty()).collect()
}

/// One evaluator as the manifests would describe it. `detail` is the single GET, when it was read: it supplies
/// `max_duration`, the phone number's row id, and the language when the list item lacks it.
pub fn normalize_scenario(
    item: &wire::ScenarioListItem,
    detail: Option<&wire::Scenario>,
    phones: &BTreeMap<u64, String>,
) -> Result<Evaluator, FetchError> {
    normalize_scenario_owned(item.clone(), detail, phones)
}

/// [`normalize_scenario`], moving the item's strings into the evaluator instead of copying them.
pub fn normalize_scenario_owned(
    item: wire::ScenarioListItem,
    detail: Option<&wire::Scenario>,
    phones: &BTreeMap<u64, String>,
) -> Result<Evaluator, FetchError> {
    let script = if item.scenario_type.as_deref() == Some("conditional_actions") {
        let flow = parse_flow(&item.instructions).map_err(|reason| FetchError::Flow {
            id: item.id,
            name: item.name.clone(),
            reason,
        })?;
        Script::Flow(flow)
    } else {
        Script::Text(long_text_owned(item.instructions))
    };
    let phone_number = detail
        .and_then(|d| d.outbound_phone_number_data.as_ref().map(|p| p.id))
        .or_else(|| item.phone_number.as_deref().and_then(|n| phone_row(n, phones)));
    let language = item
        .scenario_language
        .or_else(|| detail.and_then(|d| d.item.scenario_language.clone()))
        .filter(|l| !l.is_empty());
    let folder = match item.folder_path {
        Some(f) if f.trim().len() == f.len() => f,
        Some(f) => f.trim().to_string(),
        None => String::new(),
    };
    let spec = EvaluatorSpec {
        folder: Some(folder),
        script: Some(script),
        instruction_parts: None,
        expected_outcome: Some(long_text_owned(item.expected_outcome_prompt.unwrap_or_default())),
        first_message: Some(long_text_owned(item.first_message.unwrap_or_default())),
        personality: item.personality.map(NamedRef::Id),
        test_profile: item.test_profile.map(ProfileRef::Id),
        metrics: Some(item.metrics.iter().copied().map(MetricRef::Id).collect()),
        tools: Some(item.tool_ids.iter().map(|t| super::dialect::canonical_tool(t)).collect()),
        tags: Some(item.tags.into_iter().filter(|t| t != crate::model::OWNERSHIP_TAG).collect()),
        language,
        max_duration: detail.and_then(|d| d.max_duration),
        phone_number,
    };
    Ok(Evaluator { id: Some(item.id), name: item.name, spec, ignore_changes: BTreeSet::new(), source: None })
}

/// A long text normalised ([`model::normalize_long_text`]): kept as it is when it is already normal (the usual
/// case), without a copy.
fn long_text_owned(s: String) -> Text {
    if model::is_normal_long_text(&s) {
        Text::new(s)
    } else {
        Text::new(model::normalize_long_text(&s))
    }
}

/// The row id of a phone number read back as a string. Compared by `+` and digits only, so formatting
/// ("+1 415-555-0144") does not matter. `None` when no row has that number (or the string is empty).
pub fn phone_row(number: &str, phones: &BTreeMap<u64, String>) -> Option<u64> {
    let key = |s: &str| s.chars().filter(|c| c.is_ascii_digit() || *c == '+').collect::<String>();
    let wanted = key(number);
    if wanted.is_empty() {
        return None;
    }
    let row = phones.iter().find(|(_, n)| key(n) == wanted).map(|(id, _)| *id);
    if row.is_none() {
        tracing::warn!("phone number {number} is not in the phone-number list; it is read as no phone number");
    }
    row
}

/// Parse the flow that a `conditional_actions` evaluator returns in `instructions`, filling the defaults the
/// manifest loader fills: `type` is `action_followup` for an integer trigger, else `standard`; `fixed_message`
/// is false. An integer `id` sent as a numeric string is accepted.
pub fn parse_flow(instructions: &str) -> Result<ConditionalActions, String> {
    let value: Value = serde_json::from_str(instructions.trim()).map_err(|e| format!("not JSON: {e}"))?;
    let obj = value.as_object().ok_or("expected a JSON object with `role` and `conditions`")?;
    let role = match obj.get("role") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => String::new(),
        Some(other) => return Err(format!("`role` must be a string, got {other}")),
    };
    let raw = match obj.get("conditions") {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => return Err("missing `conditions`".into()),
        Some(other) => return Err(format!("`conditions` must be a list, got {other}")),
    };
    let mut conditions = Vec::with_capacity(raw.len());
    for (i, c) in raw.iter().enumerate() {
        let at = |msg: String| format!("conditions[{i}]: {msg}");
        let c = c.as_object().ok_or_else(|| at("expected an object".into()))?;
        let id = match c.get("id") {
            Some(Value::Number(n)) => {
                n.as_u64().ok_or_else(|| at(format!("`id` must be a non-negative integer, got {n}")))?
            }
            Some(Value::String(s)) => {
                s.trim().parse().map_err(|_| at(format!("`id` must be an integer, got {s:?}")))?
            }
            other => return Err(at(format!("`id` must be an integer, got {}", show(other)))),
        };
        let condition = match c.get("condition") {
            Some(Value::Number(n)) => ConditionTrigger::Followup(
                n.as_u64().ok_or_else(|| at(format!("`condition` id must be a non-negative integer, got {n}")))?,
            ),
            Some(Value::String(s)) => ConditionTrigger::Text(Text::new(s.clone())),
            other => return Err(at(format!("`condition` must be a string or an integer, got {}", show(other)))),
        };
        let action = match c.get("action") {
            Some(Value::String(s)) => Text::new(s.clone()),
            other => return Err(at(format!("`action` must be a string, got {}", show(other)))),
        };
        let kind = match c.get("type") {
            None | Some(Value::Null) => match condition {
                ConditionTrigger::Followup(_) => ConditionKind::ActionFollowup,
                ConditionTrigger::Text(_) => ConditionKind::Standard,
            },
            Some(Value::String(s)) if s == "standard" => ConditionKind::Standard,
            Some(Value::String(s)) if s == "action_followup" => ConditionKind::ActionFollowup,
            Some(other) => return Err(at(format!("`type` must be standard or action_followup, got {other}"))),
        };
        let fixed_message = match c.get("fixed_message") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(at(format!("`fixed_message` must be true or false, got {other}"))),
        };
        conditions.push(Condition { id, condition, action, kind, fixed_message });
    }
    Ok(ConditionalActions { role: Text::new(role), conditions })
}

fn show(v: Option<&Value>) -> String {
    v.map_or_else(|| "nothing".to_string(), Value::to_string)
}

/// A test profile as the manifests would describe it.
pub fn normalize_test_profile(p: &wire::TestProfile) -> model::TestProfile {
    model::TestProfile {
        id: Some(p.id),
        name: p.name.clone(),
        information: Some(normalize_information(p.information.as_ref())),
        source: None,
    }
}

const SECTIONS: [&str; 2] = ["main_agent_variables", "testing_agent_variables"];

/// `information` is sectioned when it has only the keys `main_agent_variables` / `testing_agent_variables`
/// (at least one), each an object or null; anything else is the legacy flat dict. A value that is not a string
/// becomes its JSON text (`42` -> `"42"`, `{"a":1}` -> `"{\"a\":1}"`), because the manifests hold variables as
/// strings. A missing or null `information` is an empty flat dict.
pub fn normalize_information(info: Option<&Value>) -> Information {
    let Some(Value::Object(map)) = info else {
        return Information::Flat(BTreeMap::new());
    };
    let sectioned =
        !map.is_empty() && map.iter().all(|(k, v)| SECTIONS.contains(&k.as_str()) && (v.is_object() || v.is_null()));
    if sectioned {
        let section = |name: &str| match map.get(name) {
            Some(Value::Object(vars)) => text_map(vars),
            _ => BTreeMap::new(),
        };
        Information::Sectioned {
            main_agent_variables: section(SECTIONS[0]),
            testing_agent_variables: section(SECTIONS[1]),
        }
    } else {
        Information::Flat(text_map(map))
    }
}

/// String-valued variables, with other JSON values turned into their JSON text.
pub fn text_map(vars: &serde_json::Map<String, Value>) -> BTreeMap<String, Text> {
    vars.iter().map(|(k, v)| (k.clone(), Text::new(json_text(v)))).collect()
}

fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(v: Value) -> wire::ScenarioListItem {
        serde_json::from_value(v).unwrap()
    }

    fn phones() -> BTreeMap<u64, String> {
        BTreeMap::from([(44, "+14155550144".to_string()), (45, "+14155550145".to_string())])
    }

    #[test]
    fn a_moved_item_normalises_field_by_field() {
        let items = [
            json!({"id": 1, "name": "a", "instructions": "Plain.", "expected_outcome_prompt": "Done.",
                   "first_message": "Hi", "tags": ["managed-by:evalform", "x"], "folder_path": "  Sales.In ",
                   "metrics": [3]}),
            json!({"id": 2, "name": "b", "instructions": "Trailing  \r\nlines\t\n\n", "folder_path": "Sales",
                   "expected_outcome_prompt": null, "first_message": " kept leading"}),
            json!({"id": 3, "name": "c", "instructions": "", "folder_path": null}),
        ];
        for v in items {
            let it = item(v);
            let moved = normalize_scenario_owned(it.clone(), None, &phones()).unwrap();
            let s = &moved.spec;
            // As the manifests would say it, field by field.
            let long = |t: &Option<String>| Text::new(model::normalize_long_text(t.as_deref().unwrap_or("")));
            assert_eq!(s.script, Some(Script::Text(long(&Some(it.instructions.clone())))));
            assert_eq!(s.expected_outcome, Some(long(&it.expected_outcome_prompt)));
            assert_eq!(s.first_message, Some(long(&it.first_message)));
            assert_eq!(s.folder.as_deref(), Some(it.folder_path.as_deref().unwrap_or("").trim()));
            assert!(!s.tags.as_ref().unwrap().contains(crate::model::OWNERSHIP_TAG));
            assert_eq!(s.tags.as_ref().unwrap().len(), it.tags.len().min(1));
        }
    }

    #[test]
    fn a_text_evaluator_normalises_to_manifest_shape() {
        let it = item(json!({
            "id": 7, "name": "Order status", "agent": 12, "personality": 8, "scenario_type": "instruction",
            "instructions": "Call about order 1.  \r\nAsk twice.\r\n\r\n", "expected_outcome_prompt": "Date given. ",
            "first_message": "Hi\n", "tags": ["smoke", "orders", "smoke"], "tool_ids": ["TOOL_DTMF", "TOOL_END_CALL"],
            "metrics": [502, 501], "test_profile": 3, "phone_number": "+14155550145", "folder_path": "Sales.Inbound",
            "scenario_language": "en"
        }));
        let e = normalize_scenario(&it, None, &phones()).unwrap();
        assert_eq!(e.id, Some(7));
        let s = &e.spec;
        assert_eq!(s.script, Some(Script::Text(Text::new("Call about order 1.\nAsk twice."))));
        assert_eq!(s.expected_outcome, Some(Text::new("Date given.")));
        assert_eq!(s.first_message, Some(Text::new("Hi")));
        assert_eq!(s.tags, Some(crate::model::SmallSet::from(["orders".to_string(), "smoke".to_string()])));
        assert_eq!(s.tools.as_ref().unwrap().len(), 2);
        assert_eq!(s.metrics, Some(crate::model::SmallSet::from([MetricRef::Id(501), MetricRef::Id(502)])));
        assert_eq!(s.personality, Some(NamedRef::Id(8)));
        assert_eq!(s.test_profile, Some(ProfileRef::Id(3)));
        assert_eq!(s.phone_number, Some(45));
        assert_eq!(s.folder.as_deref(), Some("Sales.Inbound"));
        assert_eq!(s.language.as_deref(), Some("en"));
        assert_eq!(s.max_duration, None);
    }

    #[test]
    fn empty_fields_normalise_to_their_empty_values() {
        let it = item(json!({"id": 1, "name": "A", "folder_path": null, "tags": null, "phone_number": ""}));
        let s = normalize_scenario(&it, None, &phones()).unwrap().spec;
        assert_eq!(s.folder.as_deref(), Some(""));
        assert_eq!(s.tags, Some(crate::model::SmallSet::new()));
        assert_eq!(s.metrics, Some(crate::model::SmallSet::new()));
        assert_eq!(s.phone_number, None);
        assert_eq!(s.personality, None);
        let it = item(json!({"id": 1, "name": "A", "folder_path": ""}));
        assert_eq!(normalize_scenario(&it, None, &phones()).unwrap().spec.folder.as_deref(), Some(""));
    }

    #[test]
    fn the_single_get_supplies_max_duration_language_and_phone_row() {
        let it = item(json!({"id": 5, "name": "A", "phone_number": "+19999999999"}));
        let detail: wire::Scenario = serde_json::from_value(json!({
            "id": 5, "name": "A", "max_duration": 300, "scenario_language": "de",
            "outbound_phone_number_data": {"id": 77, "number": "+19999999999", "phone_number_id": "pn"}
        }))
        .unwrap();
        let s = normalize_scenario(&it, Some(&detail), &phones()).unwrap().spec;
        assert_eq!(s.max_duration, Some(300));
        assert_eq!(s.language.as_deref(), Some("de"));
        assert_eq!(s.phone_number, Some(77));
    }

    #[test]
    fn phone_numbers_map_by_digits() {
        assert_eq!(phone_row("+1 415-555-0144", &phones()), Some(44));
        assert_eq!(phone_row("+10000000000", &phones()), None);
        assert_eq!(phone_row("", &phones()), None);
    }

    #[test]
    fn a_flow_is_parsed_with_defaults_filled() {
        let flow = json!({"role": "A patient", "conditions": [
            {"id": 0, "condition": "FIRST_MESSAGE", "action": "Hi", "fixed_message": true},
            {"id": 1, "condition": "The agent confirms", "action": "Thanks! <endcall />"},
            {"id": "2", "condition": 1, "action": "Bye", "type": "action_followup"},
            {"id": 3, "condition": 2, "action": "Again"}
        ]});
        let it = item(json!({"id": 9, "name": "Book", "scenario_type": "conditional_actions",
                             "instructions": flow.to_string()}));
        let Some(Script::Flow(ca)) = normalize_scenario(&it, None, &phones()).unwrap().spec.script else { panic!() };
        assert_eq!(ca.role, Text::new("A patient"));
        let kinds: Vec<_> = ca.conditions.iter().map(|c| (c.id, c.kind, c.fixed_message)).collect();
        assert_eq!(
            kinds,
            vec![
                (0, ConditionKind::Standard, true),
                (1, ConditionKind::Standard, false),
                (2, ConditionKind::ActionFollowup, false),
                (3, ConditionKind::ActionFollowup, false),
            ]
        );
        assert_eq!(ca.conditions[2].condition, ConditionTrigger::Followup(1));
    }

    #[test]
    fn a_flow_that_does_not_parse_names_the_evaluator() {
        let bad = |instructions: &str| {
            let it = item(json!({"id": 9, "name": "Book", "scenario_type": "conditional_actions",
                                 "instructions": instructions}));
            normalize_scenario(&it, None, &phones()).unwrap_err().to_string()
        };
        insta::assert_snapshot!(bad("You are a patient"), @r#"evaluator 9 ("Book") has scenario_type conditional_actions, but its flow in `instructions` does not parse: not JSON: expected value at line 1 column 1"#);
        insta::assert_snapshot!(bad(r#"{"role": "x", "conditions": [{"id": 0, "condition": "FIRST_MESSAGE"}]}"#), @r#"evaluator 9 ("Book") has scenario_type conditional_actions, but its flow in `instructions` does not parse: conditions[0]: `action` must be a string, got nothing"#);
        assert!(bad(r#"{"role": "x"}"#).contains("missing `conditions`"));
        assert!(bad(r#"[1]"#).contains("expected a JSON object"));
    }

    #[test]
    fn information_sectioned_or_flat() {
        let sectioned = normalize_information(Some(&json!({
            "main_agent_variables": {"user_id": "U-42", "retries": 3},
            "testing_agent_variables": null
        })));
        let Information::Sectioned { main_agent_variables, testing_agent_variables } = sectioned else { panic!() };
        assert_eq!(main_agent_variables["user_id"], Text::new("U-42"));
        assert_eq!(main_agent_variables["retries"], Text::new("3"));
        assert!(testing_agent_variables.is_empty());

        let only_testing = normalize_information(Some(&json!({"testing_agent_variables": {"a": "b"}})));
        assert!(matches!(only_testing, Information::Sectioned { .. }));

        let flat =
            normalize_information(Some(&json!({"main_agent_variables": {"a": "b"}, "name": "John", "vip": true})));
        let Information::Flat(vars) = flat else { panic!() };
        assert_eq!(vars["main_agent_variables"], Text::new(r#"{"a":"b"}"#));
        assert_eq!(vars["vip"], Text::new("true"));

        assert_eq!(normalize_information(None), Information::Flat(BTreeMap::new()));
        assert_eq!(normalize_information(Some(&json!({}))), Information::Flat(BTreeMap::new()));
        assert!(matches!(normalize_information(Some(&json!({"main_agent_variables": "x"}))), Information::Flat(_)));
    }

    proptest::proptest! {
        /// The flow the platform stores is the one written; reading it back gives the same flow, whatever its
        /// texts, ids, triggers and flags: a flow that did not change never shows as a change.
        #[test]
        fn a_written_flow_reads_back_equal(
            role in ".{0,40}",
            conditions in proptest::collection::vec(
                (0u64..50, proptest::option::of(0u64..50), ".{0,30}", ".{0,30}", proptest::bool::ANY, proptest::bool::ANY),
                0..6,
            ),
        ) {
            let flow = ConditionalActions {
                role: Text::new(role),
                conditions: conditions
                    .into_iter()
                    .map(|(id, follow, cond, action, followup_kind, fixed_message)| Condition {
                        id,
                        condition: match follow {
                            Some(target) => ConditionTrigger::Followup(target),
                            None => ConditionTrigger::Text(Text::new(cond)),
                        },
                        action: Text::new(action),
                        kind: if followup_kind { ConditionKind::ActionFollowup } else { ConditionKind::Standard },
                        fixed_message,
                    })
                    .collect(),
            };
            let stored = serde_json::to_string(&flow).unwrap();
            proptest::prop_assert_eq!(parse_flow(&stored).unwrap(), flow);
        }
    }

    #[test]
    fn folders_are_every_path() {
        let folders: Vec<wire::Folder> = serde_json::from_value(json!([
            {"name": "Sales", "path": "Sales"}, {"name": "Inbound", "path": "Sales.Inbound"}, {"name": "Sales", "path": "Sales"}
        ]))
        .unwrap();
        assert_eq!(normalize_folders(&folders), BTreeSet::from(["Sales".to_string(), "Sales.Inbound".to_string()]));
    }
}
