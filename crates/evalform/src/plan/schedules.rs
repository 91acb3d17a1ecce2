//! Planning the schedules a suite declares (`cekura.schedules`): cron jobs matched by name within the agent, created
//! or updated (only the changed fields). Evaluators are named in the manifests and sent as ids; an evaluator this
//! plan creates is referred to by name and the schedule waits for its create.
//!
//! A cron job has no field evalform could mark it with (its `tags` select evaluators), so `prune` never deletes a
//! schedule: an undeclared one is listed as not managed. Pure, like the rest of the planner.

use std::collections::{BTreeMap, BTreeSet};

use super::build::Builder;
use super::diff::set_value;
use super::target::Selection;
use super::{Action, Call, EvaluatorRef, FieldChange, FieldValue, ScheduleBody, Unmanaged};
use crate::model::{Address, AgentId, AgentState, ScheduleSpec, Text};

fn word(s: &str) -> FieldValue {
    FieldValue::Text(Text::new(s))
}

/// What differs (all managed fields for a create), for people, and the body that carries it, with the evaluators
/// still as names.
fn diff_schedule(want: &ScheduleSpec, have: Option<&ScheduleSpec>) -> (Vec<FieldChange>, ScheduleBody, bool) {
    let mut changes = Vec::new();
    let mut body = ScheduleBody::default();
    let mut change = |field: &str, before: Option<FieldValue>, after: FieldValue| {
        changes.push(FieldChange { field: field.into(), before, after: Some(after) });
    };
    if let Some(c) = &want.cron {
        let before = have.and_then(|h| h.cron.as_ref());
        if before != Some(c) {
            change("cron", before.map(|b| word(b)), word(c));
            body.crontab_expression = Some(c.clone());
        }
    }
    if let Some(t) = &want.tags {
        let before = have.and_then(|h| h.tags.as_ref());
        if before != Some(t) {
            change("tags", before.map(set_value), set_value(t));
            body.tags = Some(t.iter().cloned().collect());
        }
    }
    let mut evaluators_changed = false;
    if let Some(e) = &want.evaluators {
        let before = have.and_then(|h| h.evaluators.as_ref());
        if before != Some(e) {
            change("evaluators", before.map(set_value), set_value(e));
            evaluators_changed = true;
        }
    }
    if let Some(m) = &want.mode {
        let before = have.and_then(|h| h.mode.as_ref());
        if before != Some(m) {
            change("mode", before.map(|b| word(b)), word(m));
            body.execution_mode = Some(m.clone());
        }
    }
    if let Some(a) = want.active {
        let before = have.and_then(|h| h.active);
        if before != Some(a) {
            let flag = |b: bool| FieldValue::Json(serde_json::json!(b));
            change("active", before.map(flag), flag(a));
            body.is_active = Some(a);
        }
    }
    (changes, body, evaluators_changed)
}

/// Plan the agent's declared schedules, after its evaluators: `evaluator_ops` holds, per evaluator this plan
/// creates, the operations that create and complete it.
pub(super) fn plan_schedules(
    agent: AgentId,
    want: &AgentState,
    have: &AgentState,
    selection: &Selection,
    evaluator_ops: &BTreeMap<EvaluatorRef, Vec<usize>>,
    b: &mut Builder,
) {
    for s in &want.schedules {
        let address = Address::Schedule { agent, name: s.name.clone() };
        if !selection.selects(&address) {
            continue;
        }
        let remote = have.schedules.iter().find(|r| r.name == s.name);
        let (mut changes, mut body, evaluators_changed) = diff_schedule(&s.spec, remote.map(|r| &r.spec));
        let mut deps = BTreeSet::new();
        if evaluators_changed {
            let names = s.spec.evaluators.iter().flatten();
            let refs = names
                .map(|name| match have.evaluators.iter().find(|e| &e.name == name).and_then(|e| e.id) {
                    Some(id) => EvaluatorRef::Id(id),
                    None => {
                        let r = EvaluatorRef::Created(name.clone());
                        deps.extend(evaluator_ops.get(&r).into_iter().flatten().copied());
                        r
                    }
                })
                .collect();
            body.scenarios = Some(refs);
        }
        match remote {
            None => {
                changes.insert(0, FieldChange { field: "name".into(), before: None, after: Some(word(&s.name)) });
                body.name = Some(s.name.clone());
                b.op(Call::CreateSchedule { agent, body }, deps, vec![address.clone()]);
                b.change(address, Action::Create, None, changes);
            }
            Some(r) if !changes.is_empty() => {
                let id = r.id.unwrap_or_default();
                b.op(Call::UpdateSchedule { id, body }, deps, vec![address.clone()]);
                b.change(address, Action::Update, Some(id.to_string()), changes);
            }
            Some(_) => {}
        }
    }
    let declared: BTreeSet<&str> = want.schedules.iter().map(|s| s.name.as_str()).collect();
    for r in have.schedules.iter().filter(|r| !declared.contains(r.name.as_str())) {
        let address = Address::Schedule { agent, name: r.name.clone() };
        if selection.selects(&address) {
            let note = want
                .prune
                .then(|| "prune leaves schedules: a cron job has no field to mark it as evalform's".to_string());
            b.unmanaged.push(Unmanaged { address, remote_id: r.id.map(|id| id.to_string()), note });
        }
    }
}
