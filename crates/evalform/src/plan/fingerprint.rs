//! Fingerprints of the remote objects a plan was computed from, so `apply --plan` can refuse a stale plan.
//!
//! Each fingerprint is the SHA-256 of a canonical JSON serialisation of one observed object's normalised
//! fields. Only the hash is kept: a secret the platform returned in clear (a test profile variable) never reaches
//! a plan file. Keys: `cekura.scenario/ID`, `cekura.test_profile/ID`, `cekura.folders/PROJECT`,
//! `cekura.folder/AGENT/PATH` (what deleting or renaming the platform folder would take along: its subfolders and
//! the evaluators of every read agent of the project in or under it), `cekura.metric/ID`,
//! `tela.test_case/UUID`. Must stay pure and deterministic (maps are ordered).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::model::{sha256_hex, Evaluator, Information, MetricRef, NamedRef, ProfileRef, Script, State, Text};

fn text(t: &Text) -> Value {
    Value::String(t.expose().to_string())
}

fn texts(m: &BTreeMap<String, Text>) -> Value {
    m.iter().map(|(k, v)| (k.clone(), text(v))).collect::<serde_json::Map<_, _>>().into()
}

/// The fields of an evaluator that a fingerprint covers, borrowed: serialised straight into the hasher, so
/// fingerprinting 10,000 evaluators builds no intermediate JSON. The JSON it writes is the canonical form (field
/// order fixed, sets ordered).
#[derive(serde::Serialize)]
struct EvaluatorView<'a> {
    name: &'a str,
    folder: &'a Option<String>,
    script: Option<ScriptView<'a>>,
    expected_outcome: Option<&'a str>,
    first_message: Option<&'a str>,
    personality: &'a Option<NamedRef>,
    test_profile: &'a Option<ProfileRef>,
    metrics: &'a Option<crate::model::SmallSet<MetricRef>>,
    tools: &'a Option<crate::model::SmallSet<String>>,
    tags: &'a Option<crate::model::SmallSet<String>>,
    language: &'a Option<String>,
    max_duration: Option<u32>,
    phone_number: Option<u64>,
    /// Whether it lacks evalform's ownership tag: adopting it is a write, so a person adding or removing the tag is a
    /// change of the object. Left out when it carries the tag, so the hashes of what evalform made stay as they were.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    unowned: bool,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "snake_case")]
enum ScriptView<'a> {
    Instructions(&'a str),
    ConditionalActions(Value),
}

fn evaluator_view(e: &Evaluator, owned: bool) -> EvaluatorView<'_> {
    let s = &e.spec;
    EvaluatorView {
        name: &e.name,
        folder: &s.folder,
        script: s.script.as_ref().map(|sc| match sc {
            Script::Text(t) => ScriptView::Instructions(t.expose()),
            Script::Flow(f) => {
                ScriptView::ConditionalActions(crate::plan::wire::flow_json(f, crate::plan::Secrets::Expose))
            }
        }),
        expected_outcome: s.expected_outcome.as_ref().map(Text::expose),
        first_message: s.first_message.as_ref().map(Text::expose),
        personality: &s.personality,
        test_profile: &s.test_profile,
        metrics: &s.metrics,
        tools: &s.tools,
        tags: &s.tags,
        language: &s.language,
        max_duration: s.max_duration,
        phone_number: s.phone_number,
        unowned: !owned,
    }
}

/// Hex SHA-256 of the canonical JSON of `value`. `buf` is scratch space reused across calls, so hashing 10,000
/// evaluators allocates once and feeds the hasher in one piece per object.
fn hash_of(value: &impl serde::Serialize, buf: &mut Vec<u8>) -> String {
    buf.clear();
    // Serialising plain data into memory cannot fail.
    let _ = serde_json::to_writer(&mut *buf, value);
    sha256_hex(buf)
}

fn information_value(i: &Option<Information>) -> Value {
    match i {
        None => Value::Null,
        Some(Information::Flat(m)) => json!({"flat": texts(m)}),
        Some(Information::Sectioned { main_agent_variables, testing_agent_variables }) => {
            json!({"main_agent_variables": texts(main_agent_variables), "testing_agent_variables": texts(testing_agent_variables)})
        }
    }
}

fn hash(v: &Value) -> String {
    sha256_hex(v.to_string().as_bytes())
}

/// Per platform folder, what deleting or renaming it would take along: its subfolders, and the evaluators in it or
/// under them of every agent read of its project (a folder is the project's, and whichever agent's evaluator lands
/// in it changes what a deletion would take). Keyed `cekura.folder/AGENT/PATH` for each agent of the project, by the
/// folder's path on the platform.
fn folder_fingerprints(observed: &State, out: &mut BTreeMap<String, String>) {
    let mut projects: BTreeMap<Option<u64>, Vec<&crate::model::AgentState>> = BTreeMap::new();
    for agent in observed.agents.values() {
        projects.entry(agent.project).or_default().push(agent);
    }
    // An agent without a known project is a project of its own.
    let groups = projects.into_iter().flat_map(|(project, agents)| match project {
        Some(_) => vec![agents],
        None => agents.into_iter().map(|a| vec![a]).collect(),
    });
    for agents in groups {
        let folders: std::collections::BTreeSet<&str> =
            agents.iter().flat_map(|a| a.folders.iter().map(String::as_str)).collect();
        let mut inside: BTreeMap<&str, (Vec<u64>, Vec<&str>)> =
            folders.iter().map(|f| (*f, (Vec::new(), Vec::new()))).collect();
        for e in agents.iter().flat_map(|a| &a.evaluators) {
            let (Some(id), Some(folder)) = (e.id, e.spec.folder.as_deref()) else { continue };
            for prefix in prefixes(folder) {
                if let Some((ids, _)) = inside.get_mut(prefix) {
                    ids.push(id);
                }
            }
        }
        for f in &folders {
            for prefix in prefixes(f).filter(|p| p.len() < f.len()) {
                if let Some((_, subfolders)) = inside.get_mut(prefix) {
                    subfolders.push(f);
                }
            }
        }
        for (folder, (mut ids, subfolders)) in inside {
            ids.sort_unstable();
            let hash = hash(&json!({"evaluators": ids, "subfolders": subfolders}));
            for agent in &agents {
                out.insert(format!("cekura.folder/{}/{folder}", agent.agent), hash.clone());
            }
        }
    }
}

/// Each folder above `path`, then `path` itself: `A`, `A.B`, `A.B.C`.
fn prefixes(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('.').map(|(end, _)| &path[..end]).chain([path])
}

/// One hash per observed object, keyed as documented in [`crate::plan::Plan::fingerprints`].
pub fn fingerprints(observed: &State) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut buf = Vec::new();
    folder_fingerprints(observed, &mut out);
    for agent in observed.agents.values() {
        for e in &agent.evaluators {
            if let Some(id) = e.id {
                let view = evaluator_view(e, agent.owned.contains(&id));
                out.insert(format!("cekura.scenario/{id}"), hash_of(&view, &mut buf));
            }
        }
        for p in &agent.test_profiles {
            if let Some(id) = p.id {
                out.insert(
                    format!("cekura.test_profile/{id}"),
                    hash(&json!({"name": p.name, "information": information_value(&p.information)})),
                );
            }
        }
        if let Some(project) = agent.project {
            out.insert(format!("cekura.folders/{project}"), hash(&json!(agent.folders)));
        }
        for s in &agent.schedules {
            if let Some(id) = s.id {
                let p = &s.spec;
                let value = json!({
                    "name": s.name, "cron": p.cron, "tags": p.tags, "evaluators": p.evaluators, "mode": p.mode,
                    "active": p.active,
                });
                out.insert(format!("cekura.cron_job/{id}"), hash(&value));
            }
        }
        for m in &agent.metrics {
            if let Some(id) = m.id {
                let s = &m.spec;
                let value = json!({
                    "name": m.name, "type": s.kind, "eval_type": s.eval_type,
                    "description": s.description.as_ref().map(text), "enum_values": s.enum_values,
                    "evaluation_trigger": s.evaluation_trigger, "custom_code": s.custom_code.as_ref().map(text),
                    "simulation_enabled": s.simulation_enabled, "observability_enabled": s.observability_enabled,
                    "owned": agent.owned_metrics.contains(&id),
                });
                out.insert(format!("cekura.metric/{id}"), hash(&value));
            }
        }
    }
    for prompt in observed.prompts.values() {
        for c in &prompt.test_cases {
            if let Some(id) = &c.id {
                let value = json!({
                    "title": c.title,
                    "messages": c.messages.as_ref().map(|m| m.iter().map(|m| json!({"role": m.role, "content": text(&m.content)})).collect::<Vec<_>>()),
                    "variables": c.variables.as_ref().map(texts),
                    "expected_output": c.expected_output.as_ref().map(text),
                });
                out.insert(format!("tela.test_case/{id}"), hash(&value));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AgentState, EvaluatorSpec};

    /// An evaluator `E{id}` of the platform in `folder`.
    fn evaluator(id: u64, folder: &str) -> Evaluator {
        Evaluator {
            id: Some(id),
            name: format!("E{id}"),
            spec: EvaluatorSpec { folder: Some(folder.into()), ..EvaluatorSpec::default() },
            ignore_changes: Default::default(),
            source: None,
        }
    }

    #[test]
    fn fingerprints_change_with_content_and_hide_values() {
        let mut state = State::default();
        state.agents.insert(
            1,
            AgentState {
                agent: 1,
                project: Some(9),
                evaluators: vec![Evaluator {
                    id: Some(101),
                    name: "A".into(),
                    spec: EvaluatorSpec { first_message: Some("secret-ish".into()), ..EvaluatorSpec::default() },
                    ignore_changes: Default::default(),
                    source: None,
                }],
                ..AgentState::default()
            },
        );
        let a = fingerprints(&state);
        assert_eq!(a.keys().collect::<Vec<_>>(), ["cekura.folders/9", "cekura.scenario/101"]);
        assert!(a.values().all(|v| v.len() == 64 && !v.contains("secret")));
        state.agents.get_mut(&1).unwrap().evaluators[0].spec.first_message = Some("other".into());
        let b = fingerprints(&state);
        assert_ne!(a["cekura.scenario/101"], b["cekura.scenario/101"]);
        assert_eq!(a["cekura.folders/9"], b["cekura.folders/9"]);
        // Gaining (or losing) evalform's ownership tag is a change of the object.
        state.agents.get_mut(&1).unwrap().owned.insert(101);
        let c = fingerprints(&state);
        assert_ne!(b["cekura.scenario/101"], c["cekura.scenario/101"]);
    }
    #[test]
    fn a_folder_fingerprint_changes_when_an_evaluator_lands_anywhere_under_it() {
        let mut state = State::default();
        state.agents.insert(
            12,
            AgentState {
                agent: 12,
                folders: ["Old".to_string(), "Old.Deep".to_string(), "Kept".to_string()].into(),
                evaluators: vec![evaluator(1, "Old")],
                ..AgentState::default()
            },
        );
        let a = fingerprints(&state);
        state.agents.get_mut(&12).unwrap().evaluators.push(evaluator(2, "Old.Deep"));
        let b = fingerprints(&state);
        assert_ne!(a["cekura.folder/12/Old"], b["cekura.folder/12/Old"]);
        assert_ne!(a["cekura.folder/12/Old.Deep"], b["cekura.folder/12/Old.Deep"]);
        assert_eq!(a["cekura.folder/12/Kept"], b["cekura.folder/12/Kept"]);
    }

    #[test]
    fn a_folder_fingerprint_covers_every_read_agent_of_the_project_and_the_subfolders() {
        let agent = |agent, project| AgentState {
            agent,
            project: Some(project),
            folders: ["Old".to_string()].into(),
            ..AgentState::default()
        };
        let mut state = State::default();
        state.agents.insert(101, agent(101, 7));
        state.agents.insert(202, agent(202, 7));
        state.agents.insert(303, agent(303, 8));
        let a = fingerprints(&state);
        // Agent 202's evaluator lands in project 7's `Old`: what 101's deletion of it would take changed.
        state.agents.get_mut(&202).unwrap().evaluators.push(evaluator(2, "Old"));
        let b = fingerprints(&state);
        assert_ne!(a["cekura.folder/101/Old"], b["cekura.folder/101/Old"]);
        assert_eq!(b["cekura.folder/101/Old"], b["cekura.folder/202/Old"]);
        // Another project's folder of the same path is another folder.
        assert_eq!(a["cekura.folder/303/Old"], b["cekura.folder/303/Old"]);
        // A subfolder appears under it.
        for a in state.agents.values_mut().filter(|a| a.project == Some(7)) {
            a.folders.insert("Old.New".into());
        }
        let c = fingerprints(&state);
        assert_ne!(b["cekura.folder/101/Old"], c["cekura.folder/101/Old"]);
    }

    #[test]
    fn the_borrowed_view_hashes_exactly_as_the_json_it_stands_for() {
        use crate::model::{Condition, ConditionKind, ConditionTrigger, ConditionalActions};
        let spec = EvaluatorSpec {
            folder: Some("Sales.Inbound".into()),
            script: Some(Script::Text("Call about order 1.".into())),
            expected_outcome: Some("Helped.".into()),
            first_message: Some("Hi".into()),
            personality: Some(NamedRef::Id(7)),
            test_profile: Some(ProfileRef::Id(55)),
            metrics: Some([MetricRef::Id(502), MetricRef::Id(501)].into()),
            tools: Some(["TOOL_END_CALL".to_string()].into()),
            tags: Some(["b".to_string(), "a".to_string()].into()),
            language: Some("en".into()),
            max_duration: Some(300),
            phone_number: Some(44),
            ..EvaluatorSpec::default()
        };
        let e = Evaluator { id: Some(1), name: "A".into(), spec, ignore_changes: Default::default(), source: None };
        let expected = json!({
            "name": "A", "folder": "Sales.Inbound", "script": {"instructions": "Call about order 1."},
            "expected_outcome": "Helped.", "first_message": "Hi", "personality": 7, "test_profile": 55,
            "metrics": [501, 502], "tools": ["TOOL_END_CALL"], "tags": ["a", "b"], "language": "en",
            "max_duration": 300, "phone_number": 44,
        });
        assert_eq!(hash_of(&evaluator_view(&e, true), &mut Vec::new()), hash(&expected));
        let flow = ConditionalActions {
            role: "r".into(),
            conditions: vec![Condition {
                id: 0,
                condition: ConditionTrigger::Text("FIRST_MESSAGE".into()),
                action: "Hi".into(),
                kind: ConditionKind::Standard,
                fixed_message: true,
            }],
        };
        let e = Evaluator { spec: EvaluatorSpec { script: Some(Script::Flow(flow)), ..EvaluatorSpec::default() }, ..e };
        let view = serde_json::to_value(evaluator_view(&e, true)).unwrap();
        assert_eq!(view["script"]["conditional_actions"]["conditions"][0]["type"], "standard");
        assert_eq!(hash_of(&evaluator_view(&e, true), &mut Vec::new()), hash(&view));
    }
}
