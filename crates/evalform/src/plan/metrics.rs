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
    Address, AgentId, AgentState, Catalog, Metric, MetricRef, MetricSpec, State, Text, METRIC_OWNERSHIP_KEY,
    METRIC_OWNERSHIP_VALUE,
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

/// Fill the fields `into` does not send with those `from` sends (the declarations agree where both manage a field).
fn merge_body(into: &mut MetricBody, from: MetricBody) {
    into.kind = into.kind.take().or(from.kind);
    into.eval_type = into.eval_type.take().or(from.eval_type);
    into.description = into.description.take().or(from.description);
    into.enum_values = into.enum_values.take().or(from.enum_values);
    into.evaluation_trigger = into.evaluation_trigger.take().or(from.evaluation_trigger);
    into.custom_code = into.custom_code.take().or(from.custom_code);
    into.simulation_enabled = into.simulation_enabled.or(from.simulation_enabled);
    into.observability_enabled = into.observability_enabled.or(from.observability_enabled);
}

/// The fields two declarations of one metric both manage and set differently, as the manifests name them.
fn conflicting_fields(a: &MetricSpec, b: &MetricSpec) -> Vec<&'static str> {
    fn differ<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> bool {
        matches!((a, b), (Some(a), Some(b)) if a != b)
    }
    let mut out = Vec::new();
    for (field, conflict) in [
        ("type", differ(&a.kind, &b.kind)),
        ("eval_type", differ(&a.eval_type, &b.eval_type)),
        ("description", differ(&a.description, &b.description)),
        ("enum_values", differ(&a.enum_values, &b.enum_values)),
        ("evaluation_trigger", differ(&a.evaluation_trigger, &b.evaluation_trigger)),
        ("custom_code", differ(&a.custom_code, &b.custom_code)),
        ("simulation_enabled", differ(&a.simulation_enabled, &b.simulation_enabled)),
        ("observability_enabled", differ(&a.observability_enabled, &b.observability_enabled)),
    ] {
        if conflict {
            out.push(field);
        }
    }
    out
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

/// Per agent, the metrics its project's manifests rename in this plan (new name -> id), whichever agent's manifests
/// declare the rename: an evaluator of any agent of the project may refer to a renamed metric by its new name.
pub(super) type ProjectRenames = BTreeMap<AgentId, BTreeMap<String, u64>>;

/// One agent: what the manifests want of it, and what the platform has.
type WantHave<'a> = (&'a AgentState, &'a AgentState);

/// One declared metric matched to a platform metric.
struct Claim<'a> {
    agent: AgentId,
    metric: &'a Metric,
    remote: &'a Metric,
}

impl Claim<'_> {
    fn address(&self) -> Address {
        Address::Metric { agent: self.agent, name: self.metric.name.clone() }
    }

    fn renames(&self) -> bool {
        self.remote.name != self.metric.name
    }
}

/// Metrics belong to the project, not to one agent: what the manifests of all its agents say of them must agree.
/// Errors for a platform metric two declared metrics take under different names (renamed to two names, or renamed
/// by one agent's manifests and declared under its old name by another's), for a metric one agent's manifests
/// would create while another's rename a platform metric to its name, for an evaluator that refers to a
/// metric by the old name this plan renames away, and for a rename whose old and new names both exist when an
/// agent of the project prunes and evalform owns the old one (the prune would delete it). Returns, per agent, the
/// renames its project's manifests make.
pub(super) fn check_project(
    desired: &State,
    observed: &State,
    catalogs: &BTreeMap<AgentId, Catalog>,
    project_of: &dyn Fn(&AgentId, &AgentState) -> Option<u64>,
    errors: &mut Vec<PlanError>,
) -> ProjectRenames {
    let nothing = AgentState::default();
    // Agents of an unknown project are each a project of their own.
    let mut groups: BTreeMap<(Option<u64>, Option<AgentId>), Vec<WantHave>> = BTreeMap::new();
    for (agent, want) in &desired.agents {
        let project = project_of(agent, want);
        let have = observed.agents.get(agent).unwrap_or(&nothing);
        groups.entry((project, project.is_none().then_some(*agent))).or_default().push((want, have));
    }
    let mut out = ProjectRenames::new();
    for group in groups.values() {
        let mut claims: Vec<Claim> = Vec::new();
        let matched: Vec<BTreeMap<String, &Metric>> =
            group.iter().map(|(want, have)| matched_remotes(want.agent, want, have)).collect();
        for ((want, _), matched) in group.iter().zip(&matched) {
            for m in &want.metrics {
                let Some(remote) = matched.get(&m.name).copied() else { continue };
                let claim = Claim { agent: want.agent, metric: m, remote };
                let other = claims.iter().find(|c| c.remote.id == remote.id && c.metric.name != m.name);
                match other {
                    Some(other) => errors.push(PlanError::MetricClaimedTwice {
                        address: claim.address(),
                        location: m.source.clone(),
                        remote: remote.name.clone(),
                        id: remote.id.unwrap_or_default(),
                        renames: claim.renames(),
                        other: other.address(),
                        other_location: other.metric.source.clone(),
                        other_renames: other.renames(),
                    }),
                    None => claims.push(claim),
                }
            }
        }
        // One metric declared by several agents of the project: where two manage a field, they must agree, or
        // each agent's plan would write its own value over the other's.
        let mut first: BTreeMap<&str, (AgentId, &Metric)> = BTreeMap::new();
        for (want, _) in group {
            for m in &want.metrics {
                let Some((agent, earlier)) = first.get(m.name.as_str()).copied() else {
                    first.insert(&m.name, (want.agent, m));
                    continue;
                };
                let fields = conflicting_fields(&earlier.spec, &m.spec);
                if !fields.is_empty() {
                    errors.push(PlanError::MetricDeclaredDifferently {
                        address: Address::Metric { agent: want.agent, name: m.name.clone() },
                        location: m.source.clone(),
                        name: m.name.clone(),
                        fields: fields.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", "),
                        other: Address::Metric { agent, name: m.name.clone() },
                        other_location: earlier.source.clone(),
                    });
                }
            }
        }
        // Only a prune would lose anything: without one, the old metric is listed as not managed, saying why.
        let prunes = group.iter().any(|(want, _)| want.prune);
        let owned =
            |id: Option<u64>| group.iter().any(|(_, have)| id.is_some_and(|id| have.owned_metrics.contains(&id)));
        for (want, have) in group {
            stale_renames(want, have, |m, old, new| {
                if prunes && owned(old.id) {
                    errors.push(PlanError::MetricRenameTargetExists {
                        address: Address::Metric { agent: want.agent, name: m.name.clone() },
                        location: m.source.clone(),
                        old: old.name.clone(),
                        old_id: old.id.unwrap_or_default(),
                        id: new.id.unwrap_or_default(),
                    });
                }
            });
        }
        let renamed: Vec<&Claim> = claims.iter().filter(|c| c.renames()).collect();
        // A declared metric no platform metric is, while another agent's manifests rename one to its name: it
        // would be created beside the renamed one.
        for ((want, _), matched) in group.iter().zip(&matched) {
            for m in want.metrics.iter().filter(|m| !matched.contains_key(&m.name)) {
                let Some(by) = renamed.iter().find(|c| c.metric.name == m.name) else { continue };
                errors.push(PlanError::MetricRenamedElsewhere {
                    address: Address::Metric { agent: want.agent, name: m.name.clone() },
                    location: m.source.clone(),
                    old: by.remote.name.clone(),
                    id: by.remote.id.unwrap_or_default(),
                    by: by.address(),
                    by_location: by.metric.source.clone(),
                });
            }
        }
        let ids: BTreeMap<String, u64> =
            renamed.iter().filter_map(|c| Some((c.metric.name.clone(), c.remote.id?))).collect();
        for (want, _) in group {
            out.insert(want.agent, ids.clone());
            if renamed.is_empty() {
                continue;
            }
            let catalog = catalogs.get(&want.agent);
            let slug = |s: &str| catalog.is_some_and(|c| c.metrics.iter().any(|m| m.slug.as_deref() == Some(s)));
            for ev in &want.evaluators {
                let refs = ev.spec.metrics.iter().flatten();
                for old in refs.filter_map(|r| match r {
                    MetricRef::Slug(s) if !slug(s) && !want.metrics.iter().any(|m| m.name == *s) => Some(s),
                    _ => None,
                }) {
                    let Some(by) = renamed.iter().find(|c| c.remote.name == *old) else { continue };
                    errors.push(PlanError::MetricOldName {
                        address: Address::Evaluator { agent: want.agent, name: ev.name.clone() },
                        location: ev.source.clone(),
                        old: old.clone(),
                        new: by.metric.name.clone(),
                        by: by.address(),
                        by_location: by.metric.source.clone(),
                    });
                }
            }
        }
    }
    out
}

/// Each declared metric whose name the platform has, with an earlier name (`renamed_from`) the platform has too
/// and no metric of the agent declares: `f(declared, old, new)`. Neither is renamed.
fn stale_renames<'a>(
    want: &'a AgentState,
    have: &'a AgentState,
    mut f: impl FnMut(&'a Metric, &'a Metric, &'a Metric),
) {
    let declared = |name: &str| want.metrics.iter().any(|d| d.name == name);
    for m in &want.metrics {
        let Some(new) = have.metrics.iter().find(|r| r.name == m.name) else { continue };
        let address = Address::Metric { agent: want.agent, name: m.name.clone() };
        for old in want.renamed_from.get(&address).into_iter().flatten().filter(|o| !declared(o)) {
            if let Some(r) = have.metrics.iter().find(|r| r.name == *old) {
                f(m, r, new);
            }
        }
    }
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
                // Another agent of the project creates it already (declared alike: see `check_project`); the fields
                // only this agent's manifests manage are sent with it.
                if let Some(&op) = b.metric_writes.get(&(project, m.name.clone())) {
                    if let Call::CreateMetric { shared_with, body: sent, agent: first, .. } = &mut b.operations[op].call
                    {
                        shared_with.push(agent);
                        merge_body(sent, body);
                        let first = Address::Metric { agent: *first, name: m.name.clone() };
                        if let Some(change) = b.changes.iter_mut().find(|c| c.address == first) {
                            for f in changes {
                                if !change.fields.iter().any(|g| g.field == f.field) {
                                    change.fields.push(f);
                                }
                            }
                        }
                        created.insert(m.name.clone(), op);
                        continue;
                    }
                }
                changes.insert(0, FieldChange { field: "name".into(), before: None, after: Some(word(&m.name)) });
                body.name = Some(m.name.clone());
                body.configuration = Some(marked_configuration(None));
                let call = Call::CreateMetric { agent, project, body, shared_with: Vec::new() };
                let op = b.op(call, [], vec![address.clone()]);
                b.metric_writes.insert((project, m.name.clone()), op);
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
                // The same write, planned already for another agent of the project: sent once.
                let key = have.project.or(want.project).map(|p| (p, m.name.clone()));
                let planned = key.as_ref().and_then(|k| b.metric_writes.get(k)).map(|&op| &b.operations[op].call);
                if matches!(planned, Some(Call::UpdateMetric { id: i, body: sent }) if *i == id && *sent == body) {
                    continue;
                }
                let op = b.op(Call::UpdateMetric { id, body }, [], vec![address.clone()]);
                if let Some(key) = key {
                    b.metric_writes.entry(key).or_insert(op);
                }
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
        // Another agent of the project read the same metric: it is deleted once, and listed only when no agent
        // of the project deletes it.
        let earlier = b.undeclared_metrics.get(&id).copied();
        if earlier == Some(true) {
            continue;
        }
        if want.prune && owned {
            if earlier == Some(false) {
                let listed = |u: &Unmanaged| {
                    matches!(u.address, Address::Metric { .. }) && u.remote_id.as_deref() == Some(&id.to_string())
                };
                b.unmanaged.retain(|u| !listed(u));
            }
            b.undeclared_metrics.insert(id, true);
            b.op(Call::DeleteMetric { id }, [], vec![address.clone()]);
            b.change(address, Action::Delete, Some(id.to_string()), Vec::new());
            continue;
        }
        let mut stale = None;
        stale_renames(want, have, |m, old, _| {
            if old.id == r.id {
                stale.get_or_insert_with(|| m.name.clone());
            }
        });
        let note = match stale {
            Some(new) => Some(format!(
                "not renamed: metric {new:?} names it in `renamed_from`, but {new:?} exists too (delete or rename \
                 one of the two on the platform, or remove it from `renamed_from`)"
            )),
            None => want.prune.then(|| {
                format!(
                    "prune leaves it: evalform did not create or adopt it (no {METRIC_OWNERSHIP_KEY}: \
                     {METRIC_OWNERSHIP_VALUE} in its configuration)"
                )
            }),
        };
        if earlier == Some(false) {
            // Listed already: by an agent without `prune`, whose line says nothing on prune; this one's says why.
            let listed = b.unmanaged.iter_mut().find(|u| {
                matches!(u.address, Address::Metric { .. }) && u.remote_id.as_deref() == Some(&id.to_string())
            });
            if let Some(listed) = listed.filter(|l| l.note.is_none()) {
                listed.note = note;
            }
            continue;
        }
        b.undeclared_metrics.insert(id, false);
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

    /// Two agents of one project: the platform lists the project's metrics for each.
    fn two_agents(prune: bool) -> (State, Observed) {
        let (mut desired, mut observed) = world(prune);
        let mut want = desired.agents[&12].clone();
        want.agent = 13;
        want.metrics.clear();
        desired.agents.insert(13, want);
        desired.agents.get_mut(&12).unwrap().project = Some(1376);
        desired.agents.get_mut(&13).unwrap().project = Some(1376);
        let mut have = observed.state.agents[&12].clone();
        have.agent = 13;
        observed.state.agents.insert(13, have);
        (desired, observed)
    }

    #[test]
    fn a_project_metric_no_manifest_declares_is_deleted_or_listed_once_not_once_per_agent() {
        for prune in [true, false] {
            let (desired, observed) = two_agents(prune);
            let p = plan(&desired, &observed, &PlanSettings::default()).unwrap();
            let deletes = p.operations.iter().filter(|o| matches!(o.call, Call::DeleteMetric { id: 2 })).count();
            assert_eq!(deletes, usize::from(prune), "prune {prune}: {:#?}", lines(&p));
            let listed: Vec<String> = p.unmanaged.iter().map(crate::render::unmanaged_line).collect();
            let by_hand = listed.iter().filter(|l| l.contains("Made by a person")).count();
            assert_eq!(by_hand, 1, "prune {prune}: {listed:#?}");
        }
        // Only the second agent prunes: its deletion stands and takes the first agent's line away; the line of the
        // metric made by a person says why prune leaves it.
        let (mut desired, observed) = two_agents(false);
        desired.agents.get_mut(&13).unwrap().prune = true;
        let p = plan(&desired, &observed, &PlanSettings::default()).unwrap();
        insta::assert_debug_snapshot!(lines(&p), @r#"
        [
            "Create cekura.agent[12].metric[\"New\"]",
            "Delete cekura.agent[13].metric[\"Made by evalform, now undeclared\"]",
            "cekura.agent[12].metric[\"Made by a person\"] (id 3): prune leaves it: evalform did not create or adopt it (no managed_by: evalform in its configuration)",
        ]
        "#);
    }

    #[test]
    fn a_metric_two_agents_of_a_project_declare_alike_is_written_once() {
        let (mut desired, observed) = two_agents(false);
        desired.agents.get_mut(&13).unwrap().metrics = desired.agents[&12].metrics.clone();
        let p = plan(&desired, &observed, &PlanSettings::default()).unwrap();
        let creates = p.operations.iter().filter(|o| matches!(o.call, Call::CreateMetric { .. })).count();
        assert_eq!(creates, 1, "{:#?}", lines(&p));
    }

    #[test]
    fn an_update_two_agents_of_a_project_plan_alike_is_sent_once() {
        let (mut desired, observed) = two_agents(false);
        desired.agents.get_mut(&12).unwrap().metrics[0].spec.description = Some(Text::new("Judge A, stricter."));
        desired.agents.get_mut(&13).unwrap().metrics = desired.agents[&12].metrics.clone();
        let p = plan(&desired, &observed, &PlanSettings::default()).unwrap();
        let updates = p.operations.iter().filter(|o| matches!(o.call, Call::UpdateMetric { id: 1, .. })).count();
        assert_eq!(updates, 1, "{:#?}", lines(&p));
    }

    #[test]
    fn two_agents_of_a_project_declaring_one_metric_differently_is_an_error() {
        let (mut desired, observed) = two_agents(false);
        let mut other = desired.agents[&12].metrics.clone();
        other[1].spec.description = Some(Text::new("Judge M."));
        other[1].spec.eval_type = Some("binary".into());
        desired.agents.get_mut(&13).unwrap().metrics = other;
        let errors = plan(&desired, &observed, &PlanSettings::default()).unwrap_err();
        let shown: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
        insta::assert_debug_snapshot!(shown, @r#"
        [
            "cekura.agent[13].metric[\"New\"]: the project's metric \"New\" is declared twice, differently: `description` here and in cekura.agent[12].metric[\"New\"] differ (hint: metrics belong to the project: where several agents' manifests declare one metric, the fields they both set must agree; or declare it in one agent's manifests only)",
        ]
        "#);
    }

    #[test]
    fn a_metric_created_for_two_agents_carries_the_fields_either_manages() {
        let (mut desired, observed) = two_agents(false);
        let mut other = desired.agents[&12].metrics.clone();
        other[1].spec.eval_type = Some("binary".into());
        desired.agents.get_mut(&13).unwrap().metrics = other;
        let p = plan(&desired, &observed, &PlanSettings::default()).unwrap();
        let creates: Vec<&Call> =
            p.operations.iter().map(|o| &o.call).filter(|c| matches!(c, Call::CreateMetric { .. })).collect();
        insta::assert_debug_snapshot!(creates, @r#"
        [
            CreateMetric {
                agent: 12,
                project: 1376,
                body: MetricBody {
                    name: Some(
                        "New",
                    ),
                    kind: None,
                    eval_type: Some(
                        "binary",
                    ),
                    description: Some(
                        "Judge N.",
                    ),
                    enum_values: None,
                    evaluation_trigger: None,
                    custom_code: None,
                    simulation_enabled: None,
                    observability_enabled: None,
                    configuration: Some(
                        Object {
                            "managed_by": String("evalform"),
                        },
                    ),
                },
                shared_with: [
                    13,
                ],
            },
        ]
        "#);
        insta::assert_debug_snapshot!(lines(&p), @r#"
        [
            "Create cekura.agent[12].metric[\"New\"]",
            "cekura.agent[12].metric[\"Made by evalform, now undeclared\"] (id 2)",
            "cekura.agent[12].metric[\"Made by a person\"] (id 3)",
        ]
        "#);
    }

    /// The declared metric "New" renamed from "Old"; the platform has "Old" (id 1, evalform's when `owned`) and,
    /// when `both`, "New" (id 2) too.
    fn renaming(prune: bool, both: bool, owned: bool) -> (State, Observed) {
        let (mut desired, mut observed) = world(prune);
        let want = desired.agents.get_mut(&12).unwrap();
        want.metrics = vec![metric(None, "New", "Judge N.")];
        want.renamed_from.insert(Address::Metric { agent: 12, name: "New".into() }, vec!["Old".into()]);
        let have = observed.state.agents.get_mut(&12).unwrap();
        have.metrics = vec![metric(Some(1), "Old", "Judge N.")];
        if both {
            have.metrics.push(metric(Some(2), "New", "Judge N."));
        }
        have.owned_metrics = if owned { [1, 2].into() } else { [2].into() };
        (desired, observed)
    }

    #[test]
    fn an_evaluator_naming_a_metric_by_the_old_name_its_own_agent_renames_it_from_is_an_error() {
        let (mut desired, observed) = renaming(false, false, true);
        let ev =
            crate::plan::tests::wanted("Order status", |s| s.metrics = Some([MetricRef::Slug("Old".into())].into()));
        desired.agents.get_mut(&12).unwrap().evaluators = vec![ev];
        let errors = plan(&desired, &observed, &PlanSettings::default()).unwrap_err();
        // (This world has no catalog: the name is unknown to it too, which is a separate error.)
        let old_name: Vec<String> =
            errors.0.iter().filter(|e| matches!(e, PlanError::MetricOldName { .. })).map(ToString::to_string).collect();
        insta::assert_debug_snapshot!(old_name, @r#"
        [
            "suite.yaml:3:5: cekura.agent[12].evaluator[\"Order status\"]: metric `Old` is renamed to \"New\" in this plan, by cekura.agent[12].metric[\"New\"] (hint: refer to it by its new name, `New`)",
        ]
        "#);
    }

    #[test]
    fn a_rename_whose_new_name_exists_is_refused_only_when_prune_would_delete_the_old_metric() {
        let (desired, observed) = renaming(true, true, true);
        let errors = plan(&desired, &observed, &PlanSettings::default()).unwrap_err();
        assert!(matches!(errors.0[..], [PlanError::MetricRenameTargetExists { old_id: 1, id: 2, .. }]), "{errors:?}");

        // Made by a person, the old metric is not evalform's to delete: it is listed, saying why it was not renamed.
        let (desired, observed) = renaming(true, true, false);
        let p = plan(&desired, &observed, &PlanSettings::default()).unwrap();
        insta::assert_debug_snapshot!(lines(&p), @r#"
        [
            "cekura.agent[12].metric[\"Old\"] (id 1): not renamed: metric \"New\" names it in `renamed_from`, but \"New\" exists too (delete or rename one of the two on the platform, or remove it from `renamed_from`)",
        ]
        "#);
        let (desired, observed) = renaming(false, true, true);
        let p = plan(&desired, &observed, &PlanSettings::default()).unwrap();
        insta::assert_debug_snapshot!(lines(&p), @r#"
        [
            "cekura.agent[12].metric[\"Old\"] (id 1): not renamed: metric \"New\" names it in `renamed_from`, but \"New\" exists too (delete or rename one of the two on the platform, or remove it from `renamed_from`)",
        ]
        "#);
    }
}
