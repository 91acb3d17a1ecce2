//! Planning the metrics a suite defines (`cekura.metrics`): match by name within the agent's project, then create,
//! update (only the changed fields) and, under `prune`, delete what evalform created or adopted.
//!
//! Metrics go first in an agent's operations, so that an evaluator may refer by name to a metric created in the
//! same apply (its add waits for the create). Metrics carry no tags: evalform's ownership mark is a key in their
//! `configuration` ([`METRIC_OWNERSHIP_KEY`]). Pure, like the rest of the planner.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::build::Builder;
use super::diff::text_value;
use super::target::Selection;
use super::{Action, Call, FieldChange, FieldValue, MetricBody, PlanError, Unmanaged};
use crate::model::{
    Address, AgentId, AgentState, Metric, MetricSpec, Text, METRIC_OWNERSHIP_KEY, METRIC_OWNERSHIP_VALUE,
};

/// `configuration` with evalform's mark added to what the platform has (an object, or nothing).
pub fn marked_configuration(current: Option<&Value>) -> Value {
    let mut out = match current {
        Some(Value::Object(m)) => m.clone(),
        _ => serde_json::Map::new(),
    };
    out.insert(METRIC_OWNERSHIP_KEY.into(), json!(METRIC_OWNERSHIP_VALUE));
    Value::Object(out)
}

fn bool_value(b: bool) -> FieldValue {
    FieldValue::Json(json!(b))
}

fn word(s: &str) -> FieldValue {
    FieldValue::Text(Text::new(s))
}

/// What differs between the desired metric and the remote one (all managed fields for a create), as changes for
/// people and the body that carries them.
fn diff_metric(want: &MetricSpec, have: Option<&MetricSpec>) -> (Vec<FieldChange>, MetricBody) {
    let mut changes = Vec::new();
    let mut body = MetricBody::default();
    let mut change = |field: &str, before: Option<FieldValue>, after: FieldValue| {
        changes.push(FieldChange { field: field.into(), before, after: Some(after) });
    };
    macro_rules! words {
        ($field:ident, $key:literal) => {
            if let Some(w) = &want.$field {
                let before = have.and_then(|h| h.$field.as_ref());
                if before != Some(w) {
                    change($key, before.map(|b| word(b)), word(w));
                    body.$field = Some(w.clone());
                }
            }
        };
    }
    words!(kind, "type");
    words!(eval_type, "eval_type");
    words!(evaluation_trigger, "evaluation_trigger");
    macro_rules! texts {
        ($field:ident, $key:literal) => {
            if let Some(t) = &want.$field {
                let before = have.and_then(|h| h.$field.as_ref());
                if before != Some(t) {
                    change($key, before.map(text_value), text_value(t));
                    body.$field = Some(t.clone());
                }
            }
        };
    }
    texts!(description, "description");
    texts!(custom_code, "custom_code");
    if let Some(v) = &want.enum_values {
        let before = have.and_then(|h| h.enum_values.as_ref());
        if before != Some(v) {
            // A list, shown and saved as one: joined into a string it read as a single value.
            let list = |l: &Vec<String>| FieldValue::Json(json!(l));
            change("enum_values", before.map(list), list(v));
            body.enum_values = Some(v.clone());
        }
    }
    macro_rules! flags {
        ($field:ident, $key:literal) => {
            if let Some(b) = want.$field {
                let before = have.and_then(|h| h.$field);
                if before != Some(b) {
                    change($key, before.map(bool_value), bool_value(b));
                    body.$field = Some(b);
                }
            }
        };
    }
    flags!(simulation_enabled, "simulation_enabled");
    flags!(observability_enabled, "observability_enabled");
    (changes, body)
}

/// Per declared metric (by name), the platform metric it is: the one of its name; else, in the order written, the
/// first of its earlier names (`renamed_from`) that the platform has, that no declared metric is named and that no
/// other declared metric took first. That one is renamed in place.
pub(super) fn matched_remotes<'a>(
    agent: AgentId,
    want: &AgentState,
    have: &'a AgentState,
) -> BTreeMap<String, &'a Metric> {
    let mut out: BTreeMap<String, &Metric> = BTreeMap::new();
    for m in &want.metrics {
        if let Some(r) = have.metrics.iter().find(|r| r.name == m.name) {
            out.insert(m.name.clone(), r);
        }
    }
    let declared = |name: &str| want.metrics.iter().any(|d| d.name == name);
    for m in &want.metrics {
        if out.contains_key(&m.name) {
            continue;
        }
        let address = Address::Metric { agent, name: m.name.clone() };
        let Some(earlier) = want.renamed_from.get(&address) else { continue };
        let taken = |r: &Metric| out.values().any(|t| t.id == r.id);
        let found = earlier
            .iter()
            .filter(|old| !declared(old))
            .find_map(|old| have.metrics.iter().find(|r| r.name == *old && !taken(r)));
        if let Some(r) = found {
            out.insert(m.name.clone(), r);
        }
    }
    out
}

/// Per declared metric renamed on the platform, the platform metric of its earlier name.
pub(super) fn renamed_metrics<'a>(
    agent: AgentId,
    want: &AgentState,
    have: &'a AgentState,
) -> BTreeMap<String, &'a Metric> {
    let mut all = matched_remotes(agent, want, have);
    all.retain(|name, r| r.name != *name);
    all
}

/// Plan the creates and updates of the agent's declared metrics. Returns, per metric this plan creates, the
/// operation that creates it.
pub(super) fn plan_metrics(
    agent: AgentId,
    want: &AgentState,
    have: &AgentState,
    selection: &Selection,
    b: &mut Builder,
    errors: &mut Vec<PlanError>,
) -> BTreeMap<String, usize> {
    let mut created = BTreeMap::new();
    let remotes = matched_remotes(agent, want, have);
    for m in &want.metrics {
        let address = Address::Metric { agent, name: m.name.clone() };
        if !selection.selects(&address) {
            continue;
        }
        let remote = remotes.get(&m.name).copied();
        let (mut changes, mut body) = diff_metric(&m.spec, remote.map(|r| &r.spec));
        // A rename keeps the metric (its id, and so every evaluator it is attached to): its name is updated.
        if let Some(r) = remote.filter(|r| r.name != m.name) {
            let field = FieldChange { field: "name".into(), before: Some(word(&r.name)), after: Some(word(&m.name)) };
            changes.insert(0, field);
            body.name = Some(m.name.clone());
        }
        match remote {
            None => {
                let Some(project) = have.project.or(want.project) else {
                    errors.push(PlanError::MissingProject { address });
                    continue;
                };
                changes.insert(0, FieldChange { field: "name".into(), before: None, after: Some(word(&m.name)) });
                body.name = Some(m.name.clone());
                body.configuration = Some(marked_configuration(None));
                let op = b.op(Call::CreateMetric { agent, project, body }, [], vec![address.clone()]);
                b.change(address, Action::Create, None, changes);
                created.insert(m.name.clone(), op);
            }
            Some(r) => {
                let id = r.id.unwrap_or_default();
                if want.prune && !have.owned_metrics.contains(&id) {
                    body.configuration = Some(marked_configuration(r.configuration.as_ref()));
                    changes.push(FieldChange {
                        field: "ownership".into(),
                        before: None,
                        after: Some(word(&format!(
                            "adopted by evalform ({METRIC_OWNERSHIP_KEY}: {METRIC_OWNERSHIP_VALUE} in configuration)"
                        ))),
                    });
                }
                if changes.is_empty() {
                    continue;
                }
                b.op(Call::UpdateMetric { id, body }, [], vec![address.clone()]);
                b.change(address, Action::Update, Some(id.to_string()), changes);
            }
        }
    }
    created
}

/// The project's metrics that no manifest of the project declares: under `prune`, those evalform created or
/// adopted are deleted; every other one is listed as not managed. `declared` holds the metric names every agent of
/// the same project declares (metrics belong to the project, not to one agent).
pub(super) fn plan_metric_prune(
    agent: AgentId,
    want: &AgentState,
    have: &AgentState,
    declared: &BTreeSet<String>,
    selection: &Selection,
    b: &mut Builder,
) {
    for r in have.metrics.iter().filter(|r| !declared.contains(&r.name)) {
        let address = Address::Metric { agent, name: r.name.clone() };
        if !selection.selects(&address) {
            continue;
        }
        let id = r.id.unwrap_or_default();
        let owned = have.owned_metrics.contains(&id);
        if want.prune && owned {
            b.op(Call::DeleteMetric { id }, [], vec![address.clone()]);
            b.change(address, Action::Delete, Some(id.to_string()), Vec::new());
            continue;
        }
        let note = want.prune.then(|| {
            format!(
                "prune leaves it: evalform did not create or adopt it (no {METRIC_OWNERSHIP_KEY}: \
                 {METRIC_OWNERSHIP_VALUE} in its configuration)"
            )
        });
        b.unmanaged.push(Unmanaged { address, remote_id: Some(id.to_string()), note });
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::State;
    use crate::plan::{plan, Observed, PlanSettings};

    fn metric(id: Option<u64>, name: &str, prompt: &str) -> Metric {
        Metric {
            id,
            name: name.into(),
            spec: MetricSpec { description: Some(Text::new(prompt)), ..MetricSpec::default() },
            source: None,
            configuration: None,
        }
    }

    fn world(prune: bool) -> (State, Observed) {
        let want = AgentState {
            agent: 12,
            prune,
            metrics: vec![metric(None, "Declared by hand", "Judge A."), metric(None, "New", "Judge N.")],
            ..AgentState::default()
        };
        let have = AgentState {
            agent: 12,
            project: Some(1376),
            metrics: vec![
                metric(Some(1), "Declared by hand", "Judge A."),
                metric(Some(2), "Made by evalform, now undeclared", "Judge B."),
                metric(Some(3), "Made by a person", "Judge C."),
            ],
            owned_metrics: [2].into(),
            ..AgentState::default()
        };
        let desired = State { agents: BTreeMap::from([(12, want)]), ..State::default() };
        let observed = State { agents: BTreeMap::from([(12, have)]), ..State::default() };
        (desired, Observed { state: observed, catalogs: BTreeMap::new() })
    }

    fn lines(p: &crate::plan::Plan) -> Vec<String> {
        let mut out: Vec<String> = p.changes.iter().map(|c| format!("{:?} {}", c.action, c.address)).collect();
        out.extend(p.unmanaged.iter().map(crate::render::unmanaged_line));
        out
    }

    #[test]
    fn prune_deletes_only_metrics_evalform_made_and_adopts_declared_ones() {
        let (desired, observed) = world(true);
        let p = plan(&desired, &observed, &PlanSettings::default()).unwrap();
        insta::assert_debug_snapshot!(lines(&p), @r#"
        [
            "Update cekura.agent[12].metric[\"Declared by hand\"]",
            "Create cekura.agent[12].metric[\"New\"]",
            "Delete cekura.agent[12].metric[\"Made by evalform, now undeclared\"]",
            "cekura.agent[12].metric[\"Made by a person\"] (id 3): prune leaves it: evalform did not create or adopt it (no managed_by: evalform in its configuration)",
        ]
        "#);
        let adopt = p.operations.iter().find_map(|o| match &o.call {
            Call::UpdateMetric { id: 1, body } => body.configuration.clone(),
            _ => None,
        });
        assert_eq!(adopt, Some(json!({"managed_by": "evalform"})));
    }

    #[test]
    fn without_prune_undeclared_metrics_are_listed_and_nothing_is_adopted() {
        let (desired, observed) = world(false);
        let p = plan(&desired, &observed, &PlanSettings::default()).unwrap();
        insta::assert_debug_snapshot!(lines(&p), @r#"
        [
            "Create cekura.agent[12].metric[\"New\"]",
            "cekura.agent[12].metric[\"Made by evalform, now undeclared\"] (id 2)",
            "cekura.agent[12].metric[\"Made by a person\"] (id 3)",
        ]
        "#);
    }
}
