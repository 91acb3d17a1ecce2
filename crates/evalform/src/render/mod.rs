//! Renderers: the same [`Plan`] shown as text for terminals, JSON for programs, Markdown for pull-request
//! comments.
//!
//! Renderers only read a plan; they compute nothing the planner decided. Every value passes through one masking
//! step, so a sensitive value is `(sensitive)` in every format, and request bodies come from
//! [`crate::plan::call_request`] with secrets masked, so what is shown is what the executor sends.

pub mod json;
pub mod markdown;
pub mod names;
pub mod text;

pub use json::json;
pub use markdown::markdown;
pub use names::{named, Names};
pub use text::text;

use serde_json::Value;

use crate::model::{Address, SENSITIVE_MARK};
use crate::plan::{call_request, Action, BulkUpdate, Call, FieldValue, Operation, Plan, Secrets};

/// Counts for the summary line and table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub api_calls: usize,
}

pub fn summary(plan: &Plan) -> Summary {
    let count = |a: Action| plan.changes.iter().filter(|c| c.action == a).count();
    Summary {
        create: count(Action::Create),
        update: count(Action::Update),
        delete: count(Action::Delete),
        api_calls: plan.operations.len(),
    }
}

pub(crate) const NO_CHANGES: &str = "No changes. The platform matches the manifests.";

/// The first line of a plan with no changes: "No changes" is said of the managed resources only, and the
/// unmanaged ones are counted right there, so nobody reads it as "the platform holds nothing else".
pub(crate) fn no_changes_line(plan: &Plan) -> String {
    if plan.unmanaged.is_empty() {
        return NO_CHANGES.to_string();
    }
    let n = plan.unmanaged.len();
    format!(
        "No changes to the managed resources. {} on the platform {} not managed (listed below).",
        unmanaged_counts(plan),
        if n == 1 { "is" } else { "are" }
    )
}

/// "2 evaluators and 1 test profile": the unmanaged resources by kind.
pub(crate) fn unmanaged_counts(plan: &Plan) -> String {
    let count = |kind: fn(&Address) -> bool| plan.unmanaged.iter().filter(|u| kind(&u.address)).count();
    let evaluators = count(|a| matches!(a, Address::Evaluator { .. }));
    let metrics = count(|a| matches!(a, Address::Metric { .. }));
    let schedules = count(|a| matches!(a, Address::Schedule { .. }));
    let cases = count(|a| matches!(a, Address::TestCase { .. }));
    let folders = count(|a| matches!(a, Address::Folder { .. }));
    let profiles = plan.unmanaged.len() - evaluators - metrics - schedules - cases - folders;
    let parts: Vec<String> = [
        (evaluators, "evaluator"),
        (profiles, "test profile"),
        (metrics, "metric"),
        (schedules, "schedule"),
        (folders, "folder"),
        (cases, "test case"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| plural(n, what))
    .collect();
    match parts.as_slice() {
        [] => plural(0, "evaluator"),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The heading of the unmanaged section, in every format.
pub(crate) const UNMANAGED_HEADING: &str = "Not managed (on the platform, declared by no manifest; never changed)";

/// One unmanaged resource as a line: its address, its id, and its note.
pub(crate) fn unmanaged_line(u: &crate::plan::Unmanaged) -> String {
    let mut line = u.address.to_string();
    if let Some(id) = &u.remote_id {
        line.push_str(&format!(" (id {id})"));
    }
    if let Some(note) = &u.note {
        line.push_str(&format!(": {note}"));
    }
    line
}

pub(crate) fn summary_line(plan: &Plan) -> String {
    let s = summary(plan);
    let calls = if s.api_calls == 1 { "call" } else { "calls" };
    format!(
        "Plan: {} to create, {} to update, {} to delete, in {} API {calls}.",
        s.create, s.update, s.delete, s.api_calls
    )
}

/// The earlier name of a resource this change renames (an update of its `name`): shown beside its address, so
/// a rename reads as one resource keeping its identity, not as a new one.
pub(crate) fn renamed_from(change: &crate::plan::ResourceChange) -> Option<String> {
    if change.action != Action::Update {
        return None;
    }
    let f = change.fields.iter().find(|f| f.field == "name")?;
    match (&f.before, &f.after) {
        (Some(FieldValue::Text(before)), Some(_)) => Some(before.shown().to_string()),
        _ => None,
    }
}

/// The head of a resource's block: marker, address, and the earlier name of a rename.
pub(crate) fn change_head(change: &crate::plan::ResourceChange) -> String {
    let mut head = format!("{} {}", marker(change.action), change.address);
    if let Some(old) = renamed_from(change) {
        head.push_str(&format!(" (renamed from {})", quoted(&old)));
    }
    head
}

pub(crate) fn marker(a: Action) -> char {
    match a {
        Action::Create => '+',
        Action::Update => '~',
        Action::Delete => '-',
    }
}

/// Replace the sealed form of sensitive values (`{"sensitive": TEMPLATE, "sha256": HEX}`) with `(sensitive)`.
pub(crate) fn mask_json(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.len() == 2 && m.contains_key("sensitive") && m.contains_key("sha256") => {
            Value::String(SENSITIVE_MARK.into())
        }
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), mask_json(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(mask_json).collect()),
        other => other.clone(),
    }
}

/// A field value as JSON with secrets masked.
pub(crate) fn value_json(v: &FieldValue) -> Value {
    match v {
        FieldValue::Text(t) => Value::String(t.shown().to_string()),
        FieldValue::Number(n) => Value::from(*n),
        FieldValue::Label(l) => Value::String(l.clone()),
        FieldValue::Set(s) => Value::Array(sorted_set(s).into_iter().map(Value::String).collect()),
        FieldValue::Json(j) => mask_json(j),
    }
}

/// Set members in numeric order when they are all numbers (metric ids), else as stored.
pub(crate) fn sorted_set(s: &std::collections::BTreeSet<String>) -> Vec<String> {
    let mut items: Vec<String> = s.iter().cloned().collect();
    if items.iter().all(|i| i.parse::<u64>().is_ok()) {
        items.sort_by_key(|i| i.parse::<u64>().unwrap_or(0));
    }
    items
}

/// Method, path and masked body of an operation, with refs to created resources symbolic.
pub(crate) fn request(op: &Operation) -> (String, String, Value) {
    let (method, path, body) = call_request(&op.call, &|_| None, Secrets::Mask);
    (method.as_str().to_string(), path, body)
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn touched_name(op: &Operation) -> String {
    op.touches.first().map(|a: &Address| quoted(a.name())).unwrap_or_default()
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

fn bulk_description(b: &BulkUpdate) -> String {
    let mut parts = Vec::new();
    if let Some(t) = &b.append_instruction {
        parts.push(format!("append instruction tail ({} chars)", t.expose().chars().count()));
    }
    if !b.metric_ids_to_add.is_empty() || !b.created_metrics_to_add.is_empty() {
        let mut added: Vec<String> = b.metric_ids_to_add.iter().map(u64::to_string).collect();
        added.extend(b.created_metrics_to_add.iter().map(|n| quoted(n)));
        parts.push(format!("add metric {}", added.join(", ")));
    }
    if !b.metric_ids_to_remove.is_empty() {
        let ids: Vec<String> = b.metric_ids_to_remove.iter().map(u64::to_string).collect();
        parts.push(format!("remove metric {}", ids.join(", ")));
    }
    if let Some(p) = b.personality {
        parts.push(format!("personality {p}"));
    }
    if let Some(p) = &b.test_profile {
        parts.push(match p {
            crate::plan::TestProfileRef::Id(id) => format!("test profile {id}"),
            crate::plan::TestProfileRef::Created(n) => format!("test profile {} (new)", quoted(n)),
        });
    }
    if let Some(t) = &b.first_message {
        parts.push(format!(
            "first message {}",
            if t.is_sensitive() { SENSITIVE_MARK.into() } else { quoted(t.expose()) }
        ));
    }
    if let Some(p) = b.phone_number {
        parts.push(format!("phone number {p}"));
    }
    if let Some(f) = &b.folder_path {
        parts.push(format!("folder {}", quoted(f)));
    }
    if let Some(d) = b.max_duration {
        parts.push(format!("max duration {d}s"));
    }
    format!("{}: {}", plural(b.scenarios.len(), "evaluator"), parts.join(", "))
}

/// One line saying what a call does, for people.
pub fn describe(op: &Operation) -> String {
    match &op.call {
        Call::CreateFolder { name, parent_path, .. } => match parent_path {
            Some(p) => format!("create folder {p}.{name}"),
            None => format!("create folder {name}"),
        },
        Call::RenameFolder { path, name, .. } => format!("rename folder {path} to {name}"),
        Call::MoveFolder { path, new_parent_path, .. } => match new_parent_path {
            Some(p) => format!("move folder {path} into {p}"),
            None => format!("move folder {path} to the top level"),
        },
        Call::DeleteFolder { path, evaluators, .. } => match evaluators.len() {
            0 => format!("delete folder {path} (empty)"),
            n => format!("delete folder {path} and the {} in it", plural(n, "evaluator")),
        },
        Call::CreateTestProfile { name, .. } => format!("create test profile {}", quoted(name)),
        Call::UpdateTestProfile { .. } => format!("update test profile {}", touched_name(op)),
        Call::DeleteTestProfile { .. } => format!("delete test profile {}", touched_name(op)),
        Call::CreateEvaluator { body, .. } => {
            format!("create evaluator {}", quoted(body.name.as_deref().unwrap_or("")))
        }
        Call::PatchEvaluator { .. } => {
            let (_, _, body) = request(op);
            let fields: Vec<String> = body.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
            format!("update {}: {}", touched_name(op), fields.join(", "))
        }
        Call::SetLanguage { language, .. } => format!("set language of {} to {language}", touched_name(op)),
        Call::AdoptEvaluator { .. } => {
            format!("adopt {}: add tag {}", touched_name(op), quoted(crate::model::OWNERSHIP_TAG))
        }
        Call::BulkUpdate(b) => bulk_description(b),
        Call::DeleteEvaluators { ids, .. } => format!("delete {}", plural(ids.len(), "evaluator")),
        Call::CreateTestCases { cases, .. } => format!("create {}", plural(cases.len(), "test case")),
        Call::DeleteTestCase { .. } => format!("delete test case {}", touched_name(op)),
        Call::CreateMetric { body, .. } => format!("create metric {}", quoted(body.name.as_deref().unwrap_or(""))),
        Call::UpdateMetric { .. } => {
            let (_, _, body) = request(op);
            let fields: Vec<String> = body.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
            format!("update metric {}: {}", touched_name(op), fields.join(", "))
        }
        Call::DeleteMetric { .. } => format!("delete metric {}", touched_name(op)),
        Call::CreateSchedule { body, .. } => {
            format!("create schedule {}", quoted(body.name.as_deref().unwrap_or("")))
        }
        Call::UpdateSchedule { .. } => {
            let (_, _, body) = request(op);
            let fields: Vec<String> = body.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
            format!("update schedule {}: {}", touched_name(op), fields.join(", "))
        }
        Call::PatchTestCase { .. } => {
            let (_, _, body) = request(op);
            let fields: Vec<String> = body.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
            format!("update test case {}: {}", touched_name(op), fields.join(", "))
        }
    }
}

#[cfg(test)]
mod tests;
