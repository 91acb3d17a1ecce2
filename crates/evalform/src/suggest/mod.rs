//! `evalform suggest` as a library: the request to Cekura's AI improvement call (`scenario-agent`, never with
//! `apply_changes`), the reading of its progress, and the turning of its suggestions into edits of the manifest
//! files, addressed by path (`cekura.evaluators[2].expected_outcome`), for the one YAML editor (`crate::yaml::edit`).
//!
//! Pure: no I/O. It must never produce a request that applies changes on the platform: suggestions go through the
//! manifests and review like any other change. What cannot be written without guessing is reported, not invented:
//! suggestions for evaluators the manifests do not declare, values that come from `${env:NAME}`, renames of
//! evaluators without an `id` pin, instruction texts that no longer end with the file's `instructions_suffix`,
//! fields the manifests have no key for.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::cekura::wire::ScenarioAgentProgress;
use crate::manifest::Manifests;
use crate::model::{normalize_long_text, AgentId, Evaluator, MetricRef, NamedRef, Script};
use crate::runner::Target;

/// The `scenario-agent` body: improve these evaluators, suggest only.
pub fn request_body(agent: AgentId, ids: &[u64], message: &str) -> Value {
    json!({ "user_message": message, "agent_id": agent, "scenarios": ids, "apply_changes": false })
}

/// Where a suggestion session stands after one poll.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    Working,
    Done {
        message: Option<String>,
        suggestions: Vec<Suggestion>,
    },
    /// `needs_clarification` or `needs_agent_clarification`: the AI asks a question.
    NeedsClarification {
        question: String,
    },
    Failed {
        reason: String,
    },
    Cancelled,
    /// A status this version does not know; reported as it is.
    Unknown {
        status: String,
    },
    /// The session ran in another mode than `improve` (e.g. `clarify`, which drafts new evaluators): the platform
    /// no longer improved the ones it was given.
    OtherMode {
        mode: String,
    },
}

/// The suggested new values of one evaluator, as the platform names its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub id: Option<u64>,
    pub name: Option<String>,
    pub fields: BTreeMap<String, Value>,
}

pub fn read_progress(p: &ScenarioAgentProgress) -> Progress {
    let result = p.result.as_ref();
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| result.and_then(|r| r.get(*k)).and_then(Value::as_str))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    match p.status.as_str() {
        "in_progress" | "pending" | "running" => Progress::Working,
        "completed" if p.mode.as_deref().is_some_and(|m| m != "improve") => {
            Progress::OtherMode { mode: p.mode.clone().unwrap_or_default() }
        }
        "completed" => Progress::Done { message: text(&["message"]), suggestions: read_suggestions(result) },
        "needs_clarification" | "needs_agent_clarification" => Progress::NeedsClarification {
            question: text(&["question", "clarification", "message"])
                .or_else(|| p.error.clone())
                .unwrap_or_else(|| "(the platform sent no question)".into()),
        },
        "failed" => Progress::Failed {
            reason: p.error.clone().or_else(|| text(&["error", "message"])).unwrap_or_else(|| "no reason given".into()),
        },
        "cancelled" => Progress::Cancelled,
        other => Progress::Unknown { status: other.to_string() },
    }
}

/// `result.updated_scenarios` (or `result.scenarios`, or `result` itself when it is a list). The result is
/// free-form in the platform's spec, so anything that is not an object with fields is skipped.
fn read_suggestions(result: Option<&Value>) -> Vec<Suggestion> {
    let items = match result {
        Some(Value::Array(items)) => items.as_slice(),
        Some(r) => r
            .get("updated_scenarios")
            .or_else(|| r.get("scenarios"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default(),
        None => &[],
    };
    items
        .iter()
        .filter_map(Value::as_object)
        .map(|o| Suggestion {
            id: o.get("id").and_then(Value::as_u64),
            name: o.get("name").and_then(Value::as_str).map(str::to_string),
            fields: o
                .iter()
                .filter(|(k, _)| !IDENTITY.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
        .collect()
}

/// Fields of a suggestion that say which evaluator it is about, not what to change.
const IDENTITY: &[&str] = &["id", "agent", "project", "scenario_id"];

/// A value to write into a manifest, in the manifests' terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewValue {
    /// A long text (instructions, expected outcome): a block scalar when it has several lines.
    Text(String),
    Str(String),
    Int(u64),
    Strings(Vec<String>),
    Ints(Vec<u64>),
}

/// One value to set in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldEdit {
    pub file: String,
    /// `cekura.evaluators[2].expected_outcome`.
    pub path: String,
    pub value: NewValue,
}

/// A suggestion (or one field of it) that was not turned into an edit, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotPlaced {
    /// `"Refund request" (agent 101)`, or the platform's id and name for an undeclared evaluator.
    pub evaluator: String,
    pub field: Option<String>,
    pub reason: String,
}

/// What the suggestions of one agent come to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EditPlan {
    pub edits: Vec<FieldEdit>,
    pub not_placed: Vec<NotPlaced>,
    /// Suggested values equal to what the manifests already say.
    pub unchanged: usize,
}

/// Turn an agent's suggestions into edits of the files that declare its evaluators. `targets` are the evaluators the
/// request named (platform id, manifest name and source).
pub fn plan_edits(manifests: &Manifests, agent: AgentId, targets: &[Target], suggestions: &[Suggestion]) -> EditPlan {
    let mut plan = EditPlan::default();
    let declared = manifests.state.agents.get(&agent).map(|a| a.evaluators.as_slice()).unwrap_or_default();
    for s in suggestions {
        let target = s.id.and_then(|id| targets.iter().find(|t| t.id == id)).or_else(|| {
            s.id.is_none().then(|| s.name.as_ref().and_then(|n| targets.iter().find(|t| &t.name == n))).flatten()
        });
        let evaluator = target.and_then(|t| declared.iter().find(|e| e.name == t.name));
        let Some(evaluator) = evaluator else {
            let who = match (s.id, &s.name) {
                (Some(id), Some(n)) => format!("evaluator {id} {n:?} (agent {agent})"),
                (Some(id), None) => format!("evaluator {id} (agent {agent})"),
                (None, Some(n)) => format!("{n:?} (agent {agent})"),
                (None, None) => format!("an unnamed evaluator (agent {agent})"),
            };
            let declared_by_name = s.name.as_ref().is_some_and(|n| declared.iter().any(|e| &e.name == n));
            let reason = if declared_by_name {
                "not among the evaluators asked about (left out by --name); nothing was written for it"
            } else {
                "the manifests do not declare this evaluator; nothing was written for it"
            };
            plan.not_placed.push(NotPlaced { evaluator: who, field: None, reason: reason.into() });
            continue;
        };
        let who = format!("{:?} (agent {agent})", evaluator.name);
        let Some(base) = evaluator_path(manifests, evaluator) else {
            plan.not_placed.push(NotPlaced {
                evaluator: who,
                field: None,
                reason: "cannot find where the manifests declare it".into(),
            });
            continue;
        };
        for (field, value) in &s.fields {
            match place(evaluator, field, value) {
                Placed::Edit(key, new) => {
                    plan.edits.push(FieldEdit { file: base.0.clone(), path: format!("{}.{key}", base.1), value: new })
                }
                Placed::Same => plan.unchanged += 1,
                Placed::Skip => {}
                Placed::No(reason) => {
                    plan.not_placed.push(NotPlaced { evaluator: who.clone(), field: Some(field.clone()), reason })
                }
            }
        }
    }
    plan
}

/// The file and the path (`cekura.evaluators[N]`) of a declared evaluator, found by its name in the file its source
/// span names.
fn evaluator_path(manifests: &Manifests, evaluator: &Evaluator) -> Option<(String, String)> {
    let source = evaluator.source.as_ref()?;
    let file = manifests.files.iter().find(|f| f.path.to_string_lossy() == source.file)?;
    let root = crate::yaml::parse_tree(&file.text).ok()??;
    let items = match &root.get("cekura")?.get("evaluators")?.kind {
        crate::yaml::NodeKind::Seq(items) => items,
        _ => return None,
    };
    let index =
        items.iter().position(|item| item.get("name").and_then(|n| n.as_str()) == Some(evaluator.name.as_str()))?;
    Some((source.file.clone(), format!("cekura.evaluators[{index}]")))
}

enum Placed {
    Edit(&'static str, NewValue),
    Same,
    /// Not a change (`name` equal to the current one, a read-only field).
    Skip,
    No(String),
}

/// One suggested field against the declared evaluator.
fn place(e: &Evaluator, field: &str, value: &Value) -> Placed {
    let spec = &e.spec;
    let text = || value.as_str().map(str::to_string);
    let wrong = |what: &str| Placed::No(format!("expected {what}, the platform sent {value}"));
    match field {
        "name" => match text() {
            Some(n) if n == e.name => Placed::Skip,
            Some(n) if e.id.is_some() => Placed::Edit("name", NewValue::Str(n)),
            Some(_) => {
                Placed::No("a rename needs an `id` pin on the evaluator, or apply would create a new one".into())
            }
            None => wrong("a text"),
        },
        "expected_outcome_prompt" => {
            let Some(new) = text() else { return wrong("a text") };
            long_text(spec.expected_outcome.as_ref(), &new, "expected_outcome")
        }
        "first_message" => {
            let Some(new) = text() else { return wrong("a text") };
            match &spec.first_message {
                Some(t) if t.is_sensitive() => sensitive(t),
                Some(t) if t.expose() == new => Placed::Same,
                _ => Placed::Edit("first_message", NewValue::Str(new)),
            }
        }
        "instructions" => {
            let Some(new) = text() else { return wrong("a text") };
            instructions(e, &new)
        }
        "tags" | "tool_ids" => {
            let Some(items) = strings(value) else { return wrong("a list of texts") };
            let (current, key) = if field == "tags" { (&spec.tags, "tags") } else { (&spec.tools, "tools") };
            let set: crate::model::SmallSet<String> = items.iter().cloned().collect();
            if current.as_ref() == Some(&set) {
                Placed::Same
            } else {
                Placed::Edit(key, NewValue::Strings(items))
            }
        }
        "metrics" => {
            let Some(ids) = value.as_array().and_then(|a| a.iter().map(metric_id).collect::<Option<Vec<u64>>>()) else {
                return wrong("a list of metric ids");
            };
            let current: Option<Vec<u64>> = spec
                .metrics
                .as_ref()
                .map(|m| m.iter().filter_map(|r| if let MetricRef::Id(id) = r { Some(*id) } else { None }).collect());
            let same = spec.metrics.as_ref().is_some_and(|m| m.iter().all(|r| matches!(r, MetricRef::Id(_))))
                && current.as_ref().map(|c| sorted(c.clone())) == Some(sorted(ids.clone()));
            if same {
                Placed::Same
            } else {
                Placed::Edit("metrics", NewValue::Ints(ids))
            }
        }
        "personality" => match value.as_u64() {
            Some(id) if spec.personality == Some(NamedRef::Id(id)) => Placed::Same,
            Some(id) => Placed::Edit("personality", NewValue::Int(id)),
            None => wrong("a personality id"),
        },
        // Read-only or bookkeeping fields some answers carry.
        "created_at" | "updated_at" | "scenario_type" | "changes" | "explanation" | "reason" => Placed::Skip,
        other => {
            Placed::No(format!("`{other}` has no manifest key that evalform writes; change it by hand if you want it"))
        }
    }
}

fn long_text(current: Option<&crate::model::Text>, new: &str, key: &'static str) -> Placed {
    match current {
        Some(t) if t.is_sensitive() => sensitive(t),
        Some(t) if normalize_long_text(t.expose()) == normalize_long_text(new) => Placed::Same,
        _ => Placed::Edit(key, NewValue::Text(normalize_long_text(new))),
    }
}

/// Instructions are `instructions` + `instructions_suffix`: the suffix (often from `defaults`) stays, the rest is
/// written, when the new text still ends with it.
fn instructions(e: &Evaluator, new: &str) -> Placed {
    let new = normalize_long_text(new);
    match &e.spec.script {
        Some(Script::Flow(_)) => {
            return Placed::No("this evaluator is a conditional-actions flow; a text suggestion does not fit it".into())
        }
        Some(Script::Text(t)) if t.is_sensitive() => return sensitive(t),
        Some(Script::Text(t)) if normalize_long_text(t.expose()) == new => return Placed::Same,
        _ => {}
    }
    let suffix = e.spec.instruction_parts.as_ref().and_then(|p| p.suffix.clone()).filter(|s| !s.is_empty());
    match suffix {
        None => Placed::Edit("instructions", NewValue::Text(new)),
        Some(suffix) => match new.strip_suffix(normalize_long_text(&suffix).as_str()) {
            Some(body) => Placed::Edit("instructions", NewValue::Text(normalize_long_text(body))),
            None => Placed::No(
                "the suggested text no longer ends with the file's `instructions_suffix`; edit it by hand".into(),
            ),
        },
    }
}

fn sensitive(t: &crate::model::Text) -> Placed {
    Placed::No(format!("the value comes from {}; not written", t.template().unwrap_or("the environment")))
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array()?.iter().map(|x| x.as_str().map(str::to_string)).collect()
}

fn metric_id(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.get("id").and_then(Value::as_u64))
}

fn sorted(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests;
