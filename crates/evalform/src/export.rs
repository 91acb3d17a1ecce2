//! The manifests as Cekura's own test-suite spec (version 1, the `run_scenarios_json` format): what
//! `evalform export --format cekura-spec` prints and what `evalform test` sends.
//!
//! The spec runs test cases without creating evaluators, so it carries everything inline: the instructions (the
//! evaluator's `instructions` + `instructions_suffix`), the test profile's variables, metrics by slug. What the
//! spec cannot express (folders, phone numbers, a personality or metric known only by a name no catalog resolves)
//! is named in [`Spec::notes`], never dropped silently. Each test case's `key` is derived from the evaluator's
//! name alone, so results stay comparable across runs and commits. A spec holds at most [`MAX_CASES`] test cases;
//! a larger selection becomes several specs.
//!
//! Pure: no I/O. Sensitive values are masked or exposed as the caller says ([`Secrets`]): masked for printing
//! (as their `${env:NAME}` template), exposed only for the request that runs them.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::model::{
    AgentState, Catalog, Evaluator, Information, MetricRef, NamedRef, ProfileRef, Script, Text, LANGUAGES,
};
use crate::plan::{flow_json, Secrets};

/// The most test cases one spec may hold (the schema's `maxItems`).
pub const MAX_CASES: usize = 200;

/// The longest `key` the schema allows.
const MAX_KEY: usize = 128;

/// The tools the spec knows, by the platform's tool id (`TOOL_END_CALL` is `end_call` in a spec).
const SPEC_TOOLS: &[&str] = &["call_hold", "dtmf", "end_call", "end_call_only_on_transfer", "receive_dtmf", "send_sms"];

/// One spec document and what could not be put in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub agent: u64,
    /// 1-based part number when the selection needed several specs, else 1.
    pub part: usize,
    pub parts: usize,
    pub value: Value,
    /// Evaluator names in the order of the spec's `scenarios`.
    pub cases: Vec<String>,
    /// What the spec cannot express.
    pub notes: Vec<Note>,
}

/// Something of one evaluator that the spec cannot express.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Note {
    /// What is left out and why: `its folder is not part of a spec (...)`.
    pub what: String,
    pub evaluator: String,
    /// Whether a run of the spec differs from a run of the evaluator because of it (a folder only files the
    /// evaluator; a personality that could not be sent changes the call).
    pub affects_run: bool,
}

/// How to build specs.
#[derive(Debug, Clone, Copy)]
pub struct SpecOptions<'a> {
    pub secrets: Secrets,
    /// The agent's catalog, when the platform was read: personalities by name and metrics by name resolve
    /// through it. Without it (offline export), only ids and slugs can be written.
    pub catalog: Option<&'a Catalog>,
}

/// The specs for `evaluators` of `agent` (in the order given), [`MAX_CASES`] per spec.
pub fn cekura_specs(agent: &AgentState, evaluators: &[&Evaluator], opts: SpecOptions<'_>) -> Vec<Spec> {
    let keys = keys(evaluators.iter().map(|e| e.name.as_str()));
    let chunks: Vec<&[&Evaluator]> = evaluators.chunks(MAX_CASES).collect();
    let parts = chunks.len().max(1);
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut notes = Vec::new();
            let scenarios: Vec<Value> =
                chunk.iter().map(|e| scenario(agent, e, &keys[&e.name], opts, &mut notes)).collect();
            let name = if parts == 1 {
                format!("evalform: agent {}", agent.agent)
            } else {
                format!("evalform: agent {} (part {} of {parts})", agent.agent, i + 1)
            };
            Spec {
                agent: agent.agent,
                part: i + 1,
                parts,
                value: json!({"version": "1", "suite": {"name": name}, "scenarios": scenarios}),
                cases: chunk.iter().map(|e| e.name.clone()).collect(),
                notes,
            }
        })
        .collect()
}

/// A stable key per name: the name in lower case with every run of other characters as one `-`, cut to fit;
/// when two names give the same key (or one was cut), a short hash of the full name tells them apart.
fn keys<'a>(names: impl Iterator<Item = &'a str>) -> BTreeMap<String, String> {
    let names: Vec<&str> = names.collect();
    let plain: Vec<String> = names.iter().map(|n| slug(n)).collect();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for k in &plain {
        *seen.entry(k.as_str()).or_default() += 1;
    }
    names
        .iter()
        .zip(&plain)
        .map(|(name, key)| {
            let unique = seen[key.as_str()] == 1 && !key.is_empty() && key.len() < MAX_KEY - 9;
            let key = if unique {
                key.clone()
            } else {
                let hash = &crate::model::sha256_hex(name.as_bytes())[..8];
                let stem: String = key.chars().take(MAX_KEY - 9).collect();
                if stem.is_empty() {
                    hash.to_string()
                } else {
                    format!("{stem}-{hash}")
                }
            };
            (name.to_string(), key)
        })
        .collect()
}

fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// A text as the spec carries it. Masked, a sensitive value is written as its `${env:NAME}` template, so the
/// printed spec says where the value comes from without holding it.
fn text(t: &Text, secrets: Secrets) -> Value {
    match secrets {
        Secrets::Expose => json!(t.expose()),
        Secrets::Mask => json!(t.template().unwrap_or(t.shown())),
    }
}

/// One test case of the spec.
fn scenario(agent: &AgentState, e: &Evaluator, key: &str, opts: SpecOptions<'_>, notes: &mut Vec<Note>) -> Value {
    let s = &e.spec;
    let mut note = |what: String, affects_run: bool| notes.push(Note { what, evaluator: e.name.clone(), affects_run });
    let mut out = Map::new();
    out.insert("key".into(), json!(key));
    out.insert("name".into(), json!(e.name));
    match &s.script {
        Some(Script::Text(t)) => {
            out.insert("type".into(), json!("instruction"));
            out.insert("instructions".into(), text(t, opts.secrets));
        }
        Some(Script::Flow(flow)) => {
            out.insert("type".into(), json!("conditional_actions"));
            out.insert("conditional_actions".into(), flow_json(flow, opts.secrets));
        }
        None => {
            // The spec requires instructions; an evaluator that does not manage its script has none to give.
            note(
                "has no `instructions` in the manifests; the spec requires them, so it is sent with empty ones".into(),
                true,
            );
            out.insert("type".into(), json!("instruction"));
            out.insert("instructions".into(), json!(""));
        }
    }
    if let Some(t) = &s.expected_outcome {
        out.insert("expected_outcome".into(), text(t, opts.secrets));
    }
    if let Some(t) = &s.first_message {
        out.insert("first_message".into(), text(t, opts.secrets));
    }
    if let Some(p) = &s.personality {
        match personality(p, opts.catalog) {
            Some(id) => {
                out.insert("personality".into(), json!(id));
            }
            None => note(
                format!("personality {p:?} is known only by name here; the spec needs its id", p = name_of(p)),
                true,
            ),
        }
    }
    if let Some(p) = &s.test_profile {
        match profile(agent, p, opts.secrets) {
            Ok(v) => {
                out.insert("test_profile".into(), v);
            }
            Err(why) => note(why, true),
        }
    }
    if let Some(metrics) = &s.metrics {
        let mut items = Vec::new();
        for m in metrics {
            match metric(m, opts.catalog) {
                Some(v) => items.push(v),
                None => note(
                    format!("metric `{}` is not a slug the spec accepts, and no catalog resolves it", show_metric(m)),
                    true,
                ),
            }
        }
        out.insert("metrics".into(), Value::Array(items));
    }
    if let Some(tools) = &s.tools {
        let mut items = Vec::new();
        for t in tools {
            let spec_name = t.strip_prefix("TOOL_").unwrap_or(t).to_ascii_lowercase();
            if SPEC_TOOLS.contains(&spec_name.as_str()) {
                items.push(json!(spec_name));
            } else {
                note(format!("tool `{t}` has no spec equivalent"), true);
            }
        }
        out.insert("tools".into(), Value::Array(items));
    }
    if let Some(tags) = &s.tags {
        out.insert("tags".into(), json!(tags.iter().collect::<Vec<_>>()));
    }
    if let Some(language) = &s.language {
        if LANGUAGES.contains(&language.as_str()) {
            out.insert("language".into(), json!(language));
        }
    }
    if let Some(seconds) = s.max_duration {
        out.insert("max_duration".into(), json!(seconds));
    }
    if s.folder.as_deref().is_some_and(|f| !f.is_empty()) {
        note("its folder is not part of a spec (results are not filed in folders)".into(), false);
    }
    if s.phone_number.is_some() {
        note(
            "its phone number is not part of a spec (the request's agent decides how the call is reached)".into(),
            true,
        );
    }
    Value::Object(out)
}

fn name_of(p: &NamedRef) -> String {
    match p {
        NamedRef::Id(id) => id.to_string(),
        NamedRef::Name(n) => n.clone(),
    }
}

fn personality(p: &NamedRef, catalog: Option<&Catalog>) -> Option<u64> {
    match p {
        NamedRef::Id(id) => Some(*id),
        NamedRef::Name(n) => catalog?.personalities.iter().find(|c| &c.name == n).map(|c| c.id),
    }
}

fn show_metric(m: &MetricRef) -> String {
    match m {
        MetricRef::Id(id) => id.to_string(),
        MetricRef::Slug(s) => s.clone(),
    }
}

/// A metric as the spec takes it: an id, or a slug of `[a-z0-9_]+` (portable between projects).
fn metric(m: &MetricRef, catalog: Option<&Catalog>) -> Option<Value> {
    match m {
        MetricRef::Id(id) => Some(json!(id)),
        MetricRef::Slug(s)
            if !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') =>
        {
            Some(json!(s))
        }
        MetricRef::Slug(s) => {
            let catalog = catalog?;
            catalog.metrics.iter().find(|c| c.slug.as_deref() == Some(s) || &c.name == s).map(|c| json!(c.id))
        }
    }
}

/// A test profile: by id, or inlined from the manifests' declaration of it (the spec creates nothing).
fn profile(agent: &AgentState, p: &ProfileRef, secrets: Secrets) -> Result<Value, String> {
    match p {
        ProfileRef::Id(id) => Ok(json!(id)),
        ProfileRef::Name(name) => {
            let declared = agent.test_profiles.iter().find(|t| &t.name == name);
            let Some(information) = declared.and_then(|t| t.information.as_ref()) else {
                return Err(format!(
                    "test profile {name:?} is not declared with its variables in the manifests, so it cannot be inlined"
                ));
            };
            let vars = |m: &BTreeMap<String, Text>| -> Value {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), text(v, secrets))).collect())
            };
            let mut out = Map::new();
            out.insert("name".into(), json!(name));
            match information {
                Information::Sectioned { main_agent_variables, testing_agent_variables } => {
                    out.insert("agent_variables".into(), vars(main_agent_variables));
                    out.insert("caller_variables".into(), vars(testing_agent_variables));
                }
                // The legacy flat dict goes to both sides on the platform; the spec says so explicitly.
                Information::Flat(all) => {
                    out.insert("agent_variables".into(), vars(all));
                    out.insert("caller_variables".into(), vars(all));
                }
            }
            Ok(Value::Object(out))
        }
    }
}

/// The evaluators of `agent` that `keep` selects, in manifest order.
pub fn selected<'a>(agent: &'a AgentState, keep: &dyn Fn(&Evaluator) -> bool) -> Vec<&'a Evaluator> {
    agent.evaluators.iter().filter(|e| keep(e)).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::model::{EvaluatorSpec, TestProfile};

    fn evaluator(name: &str, spec: EvaluatorSpec) -> Evaluator {
        Evaluator { id: None, name: name.into(), spec, ignore_changes: BTreeSet::new(), source: None }
    }

    #[test]
    fn keys_are_stable_slugs_and_collisions_are_told_apart() {
        let k = keys(["Order status inquiry", "Order status: inquiry!", "Zahnschmerzen – Notfall", "???"].into_iter());
        assert_eq!(k["Zahnschmerzen – Notfall"], "zahnschmerzen-notfall");
        assert!(k["Order status inquiry"].starts_with("order-status-inquiry-"));
        assert_ne!(k["Order status inquiry"], k["Order status: inquiry!"]);
        assert_eq!(k["???"].len(), 8, "a name with no letters gets its hash");
        let again = keys(["Order status inquiry", "Order status: inquiry!"].into_iter());
        assert_eq!(again["Order status inquiry"], k["Order status inquiry"], "the same name, the same key");
    }

    #[test]
    fn a_scenario_carries_everything_inline_and_notes_what_it_cannot() {
        let mut agent = AgentState { agent: 12, ..AgentState::default() };
        agent.test_profiles.push(TestProfile {
            id: None,
            name: "Premium".into(),
            information: Some(Information::Sectioned {
                main_agent_variables: [("token".to_string(), Text::sensitive("s3cret", "${env:TOKEN}"))].into(),
                testing_agent_variables: [("name".to_string(), Text::new("Jo"))].into(),
            }),
            source: None,
        });
        let spec = EvaluatorSpec {
            folder: Some("Sales".into()),
            script: Some(Script::Text(Text::new("Call about order 1."))),
            expected_outcome: Some(Text::new("The date is given.")),
            personality: Some(NamedRef::Name("Normal Female".into())),
            test_profile: Some(ProfileRef::Name("Premium".into())),
            metrics: Some([MetricRef::Slug("call_success".into()), MetricRef::Slug("Politeness".into())].into()),
            tools: Some(["TOOL_END_CALL".to_string(), "TOOL_TRANSFER_CALL".to_string()].into()),
            tags: Some(["smoke".to_string()].into()),
            ..EvaluatorSpec::default()
        };
        agent.evaluators.push(evaluator("Order status", spec));
        let evaluators = selected(&agent, &|_| true);
        let specs = cekura_specs(&agent, &evaluators, SpecOptions { secrets: Secrets::Mask, catalog: None });
        assert_eq!(specs.len(), 1);
        insta::assert_json_snapshot!(specs[0].value, @r#"
        {
          "version": "1",
          "suite": {
            "name": "evalform: agent 12"
          },
          "scenarios": [
            {
              "key": "order-status",
              "name": "Order status",
              "type": "instruction",
              "instructions": "Call about order 1.",
              "expected_outcome": "The date is given.",
              "test_profile": {
                "name": "Premium",
                "agent_variables": {
                  "token": "${env:TOKEN}"
                },
                "caller_variables": {
                  "name": "Jo"
                }
              },
              "metrics": [
                "call_success"
              ],
              "tools": [
                "end_call"
              ],
              "tags": [
                "smoke"
              ]
            }
          ]
        }
        "#);
        let notes: Vec<&str> = specs[0].notes.iter().map(|n| n.what.as_str()).collect();
        insta::assert_debug_snapshot!(notes, @r#"
        [
            "personality \"Normal Female\" is known only by name here; the spec needs its id",
            "metric `Politeness` is not a slug the spec accepts, and no catalog resolves it",
            "tool `TOOL_TRANSFER_CALL` has no spec equivalent",
            "its folder is not part of a spec (results are not filed in folders)",
        ]
        "#);
        assert!(specs[0].notes.iter().all(|n| n.evaluator == "Order status"));

        let exposed = cekura_specs(&agent, &evaluators, SpecOptions { secrets: Secrets::Expose, catalog: None });
        assert_eq!(exposed[0].value.pointer("/scenarios/0/test_profile/agent_variables/token"), Some(&json!("s3cret")));
    }

    #[test]
    fn a_large_selection_becomes_several_specs_of_at_most_200() {
        let mut agent = AgentState { agent: 1, ..AgentState::default() };
        for i in 0..450 {
            let spec = EvaluatorSpec { script: Some(Script::Text(Text::new("x"))), ..EvaluatorSpec::default() };
            agent.evaluators.push(evaluator(&format!("Case {i}"), spec));
        }
        let evaluators = selected(&agent, &|_| true);
        let specs = cekura_specs(&agent, &evaluators, SpecOptions { secrets: Secrets::Mask, catalog: None });
        let sizes: Vec<usize> = specs.iter().map(|s| s.cases.len()).collect();
        assert_eq!(sizes, [200, 200, 50]);
        assert_eq!(specs[2].value["suite"]["name"], "evalform: agent 1 (part 3 of 3)");
        assert_eq!(specs[1].value["scenarios"][0]["key"], "case-200");
    }
}
