//! Fingerprints of the remote objects a plan was computed from, so `apply --plan` can refuse a stale plan.
//!
//! Each fingerprint is the SHA-256 of a canonical JSON serialisation of one observed object's normalised
//! fields. Only the hash is kept: a secret the platform returned in clear (a test profile variable) never reaches
//! a plan file. Keys: `cekura.scenario/ID`, `cekura.test_profile/ID`, `cekura.folders/PROJECT`,
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

fn evaluator_value(e: &Evaluator) -> Value {
    let s = &e.spec;
    let script = s.script.as_ref().map(|sc| match sc {
        Script::Text(t) => json!({"instructions": text(t)}),
        Script::Flow(f) => {
            json!({"conditional_actions": crate::plan::wire::flow_json(f, crate::plan::Secrets::Expose)})
        }
    });
    json!({
        "name": e.name,
        "folder": s.folder,
        "script": script,
        "expected_outcome": s.expected_outcome.as_ref().map(text),
        "first_message": s.first_message.as_ref().map(text),
        "personality": s.personality.as_ref().map(|p| match p { NamedRef::Id(i) => json!(i), NamedRef::Name(n) => json!(n) }),
        "test_profile": s.test_profile.as_ref().map(|p| match p { ProfileRef::Id(i) => json!(i), ProfileRef::Name(n) => json!(n) }),
        "metrics": s.metrics.as_ref().map(|m| m.iter().map(|r| match r { MetricRef::Id(i) => json!(i), MetricRef::Slug(n) => json!(n) }).collect::<Vec<_>>()),
        "tools": s.tools,
        "tags": s.tags,
        "language": s.language,
        "max_duration": s.max_duration,
        "phone_number": s.phone_number,
    })
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

/// One hash per observed object, keyed as documented in [`crate::plan::Plan::fingerprints`].
pub fn fingerprints(observed: &State) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for agent in observed.agents.values() {
        for e in &agent.evaluators {
            if let Some(id) = e.id {
                out.insert(format!("cekura.scenario/{id}"), hash(&evaluator_value(e)));
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
    }
}
