//! Step one of planning: turn the names and slugs a manifest may use into the platform's ids.
//!
//! Personalities by name and metrics by slug resolve through the agent's [`Catalog`]; a test profile by name
//! resolves to the id of the remote profile of that name (or the one its declaration pins), and stays a name
//! when the manifests declare it and it does not exist yet (the plan creates it). Anything unknown is a
//! [`PlanError`] that names the evaluator and its manifest location. This module compares nothing and never
//! normalises values: the loader and fetcher did that.

use std::collections::{BTreeMap, BTreeSet};

use super::PlanError;
use crate::model::{Address, AgentState, Catalog, Evaluator, MetricRef, NamedRef, ProfileRef};

/// The desired agent with every reference resolved: personalities and metrics are ids, test profiles are ids
/// or names of profiles this plan creates.
pub fn resolve_agent(
    desired: &AgentState,
    observed: &AgentState,
    catalog: &Catalog,
    errors: &mut Vec<PlanError>,
) -> AgentState {
    let refs = resolve_refs(desired, observed, catalog, None, &BTreeSet::new(), errors);
    let mut out = desired.clone();
    for (ev, r) in out.evaluators.iter_mut().zip(refs) {
        (ev.spec.personality, ev.spec.test_profile) = (r.personality, r.test_profile);
        if r.metrics.is_some() {
            ev.spec.metrics = r.metrics;
        }
    }
    out
}

/// The references of one desired evaluator, resolved (the planner keeps these beside the desired evaluator
/// instead of a resolved copy of it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Refs {
    pub personality: Option<NamedRef>,
    pub test_profile: Option<ProfileRef>,
    pub metrics: Option<crate::model::SmallSet<MetricRef>>,
}

/// The references the diff compares: resolved ones, or an evaluator's own.
#[derive(Debug, Clone, Copy)]
pub struct RefsView<'a> {
    pub personality: Option<&'a NamedRef>,
    pub test_profile: Option<&'a ProfileRef>,
    pub metrics: Option<&'a crate::model::SmallSet<MetricRef>>,
}

impl Refs {
    pub fn view(&self) -> RefsView<'_> {
        RefsView {
            personality: self.personality.as_ref(),
            test_profile: self.test_profile.as_ref(),
            metrics: self.metrics.as_ref(),
        }
    }
}

impl<'a> RefsView<'a> {
    /// An evaluator's references as they are (already resolved, or read from the platform).
    pub fn of(spec: &'a crate::model::EvaluatorSpec) -> Self {
        RefsView {
            personality: spec.personality.as_ref(),
            test_profile: spec.test_profile.as_ref(),
            metrics: spec.metrics.as_ref(),
        }
    }
}

/// [`resolve_agent`]'s references only, one per desired evaluator, in order. `project_renames` are the metrics
/// the manifests of the agent's whole project rename (new name -> id), when known: metrics belong to the project,
/// so another agent's manifests may rename one that this agent's evaluators refer to by its new name.
pub fn resolve_refs(
    desired: &AgentState,
    observed: &AgentState,
    catalog: &Catalog,
    project_renames: Option<&BTreeMap<String, u64>>,
    project_declared: &BTreeSet<String>,
    errors: &mut Vec<PlanError>,
) -> Vec<Refs> {
    let mut profile_ids: BTreeMap<&str, u64> = BTreeMap::new();
    let remote_ids: BTreeSet<u64> = observed.test_profiles.iter().filter_map(|p| p.id).collect();
    for p in &desired.test_profiles {
        if let Some(id) = p.id.filter(|id| remote_ids.contains(id)) {
            profile_ids.insert(&p.name, id);
        }
    }
    for p in &observed.test_profiles {
        if let Some(id) = p.id {
            profile_ids.entry(&p.name).or_insert(id);
        }
    }
    // A profile declared under a new name, still on the platform under an earlier one, is that profile.
    for p in &desired.test_profiles {
        if profile_ids.contains_key(p.name.as_str()) {
            continue;
        }
        let address = crate::model::Address::TestProfile { agent: desired.agent, name: p.name.clone() };
        let earlier = desired.renamed_from.get(&address).into_iter().flatten();
        let found = earlier.filter_map(|old| observed.test_profiles.iter().find(|r| r.name == *old)).find_map(|r| r.id);
        if let Some(id) = found {
            profile_ids.insert(&p.name, id);
        }
    }
    let declared: BTreeSet<&str> = desired.test_profiles.iter().map(|p| p.name.as_str()).collect();
    // Declared by this agent's manifests, or by another agent's of its project (metrics belong to the project).
    let declared_metrics: BTreeSet<&str> =
        desired.metrics.iter().map(|m| m.name.as_str()).chain(project_declared.iter().map(String::as_str)).collect();
    // A metric renamed in the manifests is referred to by its new name, while the platform has it under an earlier
    // one: the new name is that metric's id.
    let mut renamed_metrics: BTreeMap<String, u64> = super::metrics::renamed_metrics(desired.agent, desired, observed)
        .into_iter()
        .filter_map(|(name, r)| r.id.map(|id| (name, id)))
        .collect();
    for (name, id) in project_renames.into_iter().flatten() {
        renamed_metrics.entry(name.clone()).or_insert(*id);
    }

    let project_metric_ids: BTreeSet<u64> = observed.metrics.iter().filter_map(|m| m.id).collect();
    let known = Known {
        profile_ids: &profile_ids,
        declared: &declared,
        declared_metrics: &declared_metrics,
        renamed_metrics: &renamed_metrics,
        project_metric_ids: &project_metric_ids,
    };
    desired.evaluators.iter().map(|ev| resolve_evaluator(ev, desired.agent, catalog, &known, errors)).collect()
}

/// What names resolve against besides the catalog: test profiles (remote ids, declared names) and declared metrics.
struct Known<'a> {
    profile_ids: &'a BTreeMap<&'a str, u64>,
    declared: &'a BTreeSet<&'a str>,
    declared_metrics: &'a BTreeSet<&'a str>,
    /// Declared metrics renamed on the platform: new name -> id.
    renamed_metrics: &'a BTreeMap<String, u64>,
    /// Ids of the project's own metrics on the platform (a declared metric that exists is one of them).
    project_metric_ids: &'a BTreeSet<u64>,
}

fn resolve_evaluator(
    ev: &Evaluator,
    agent: crate::model::AgentId,
    catalog: &Catalog,
    known: &Known<'_>,
    errors: &mut Vec<PlanError>,
) -> Refs {
    let (profile_ids, declared) = (known.profile_ids, known.declared);
    // The address and location are built only for an error: planning 10,000 evaluators allocates no message.
    let Evaluator { name: ev_name, source, spec: given, .. } = ev;
    let mut spec =
        Refs { personality: given.personality.clone(), test_profile: given.test_profile.clone(), metrics: None };
    let address = || Address::Evaluator { agent, name: ev_name.clone() };
    // Ids are checked too when the platform listed anything: a mistyped id fails here, not at apply time.
    if let Some(NamedRef::Id(id)) = &spec.personality {
        if !catalog.personalities.is_empty() && !catalog.personalities.iter().any(|p| p.id == *id) {
            errors.push(PlanError::UnknownPersonality {
                address: address(),
                location: source.clone(),
                name: id.to_string(),
                hint: "no personality of the project has this id".into(),
            });
        }
    }
    if let Some(NamedRef::Name(name)) = &spec.personality {
        match catalog.personalities.iter().find(|p| &p.name == name) {
            Some(p) => spec.personality = Some(NamedRef::Id(p.id)),
            None => errors.push(PlanError::UnknownPersonality {
                address: address(),
                location: source.clone(),
                name: name.clone(),
                hint: suggest(name, catalog.personalities.iter().map(|p| p.name.as_str()), "personalities"),
            }),
        }
    }
    if let Some(metrics) = &given.metrics {
        let mut ids = BTreeSet::new();
        for m in metrics {
            match m {
                MetricRef::Id(id) => {
                    if !catalog.metrics.is_empty() && !catalog.metrics.iter().any(|c| c.id == *id) {
                        errors.push(PlanError::UnknownMetric {
                            address: address(),
                            location: source.clone(),
                            slug: id.to_string(),
                            hint: "the agent's metric list has no metric with this id".into(),
                        });
                    }
                    ids.insert(MetricRef::Id(*id));
                }
                // A slug first (slugs are unique); then a metric name, which must mean one metric: of the
                // project's list, the one the manifests renamed, or one the manifests declare that the platform
                // does not have yet (it stays a name: the plan creates that metric first and adds it by its id).
                MetricRef::Slug(slug) => {
                    if let Some(c) = catalog.metrics.iter().find(|c| c.slug.as_deref() == Some(slug)) {
                        ids.insert(MetricRef::Id(c.id));
                        continue;
                    }
                    let mut named: Vec<u64> =
                        catalog.metrics.iter().filter(|c| &c.name == slug).map(|c| c.id).collect();
                    named.extend(known.renamed_metrics.get(slug));
                    named.sort_unstable();
                    named.dedup();
                    let declared_new = known.declared_metrics.contains(slug.as_str())
                        && !named.iter().any(|id| known.project_metric_ids.contains(id));
                    match (named.as_slice(), declared_new) {
                        ([id], false) => {
                            ids.insert(MetricRef::Id(*id));
                        }
                        ([], true) => {
                            ids.insert(MetricRef::Slug(slug.clone()));
                        }
                        ([], false) => errors.push(PlanError::UnknownMetric {
                            address: address(),
                            location: source.clone(),
                            slug: slug.clone(),
                            hint: suggest(
                                slug,
                                catalog.metrics.iter().filter_map(|c| c.slug.as_deref()),
                                "metric slugs",
                            ),
                        }),
                        (candidates, declared) => errors.push(PlanError::AmbiguousMetric {
                            address: address(),
                            location: source.clone(),
                            name: slug.clone(),
                            ids: candidates.to_vec(),
                            declared,
                        }),
                    }
                }
            }
        }
        spec.metrics = Some(ids.into());
    }
    if let Some(ProfileRef::Name(name)) = &spec.test_profile {
        if let Some(id) = profile_ids.get(name.as_str()) {
            spec.test_profile = Some(ProfileRef::Id(*id));
        } else if !declared.contains(name.as_str()) {
            errors.push(PlanError::UnknownTestProfile {
                address: address(),
                location: source.clone(),
                name: name.clone(),
            });
        }
    }
    spec
}

/// "did you mean `x`?" when a known name is close, else the list of known names (or that there are none).
fn suggest<'a>(wanted: &str, known: impl Iterator<Item = &'a str>, what: &str) -> String {
    let known: Vec<&str> = known.collect();
    let best = known
        .iter()
        .map(|k| (strsim::jaro_winkler(wanted, k), *k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match (best, known.is_empty()) {
        (Some((_, k)), _) => format!("did you mean `{k}`?"),
        (None, true) => format!("the platform lists no {what} for this agent"),
        (None, false) => {
            let mut shown: Vec<&str> = known.iter().take(8).copied().collect();
            shown.sort_unstable();
            let more = if known.len() > 8 { ", ..." } else { "" };
            format!("known {what}: {}{more}", shown.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EvaluatorSpec, MetricInfo, PersonalityInfo, SourceSpan, TestProfile};

    fn catalog() -> Catalog {
        Catalog {
            metrics: vec![MetricInfo { id: 501, slug: Some("politeness".into()), name: "Politeness".into() }],
            personalities: vec![PersonalityInfo { id: 7, name: "Calm caller".into() }],
        }
    }

    fn agent(evaluators: Vec<Evaluator>, profiles: Vec<TestProfile>) -> AgentState {
        AgentState { agent: 12, evaluators, test_profiles: profiles, ..AgentState::default() }
    }

    fn ev(spec: EvaluatorSpec) -> Evaluator {
        Evaluator {
            id: None,
            name: "Order status".into(),
            spec,
            ignore_changes: BTreeSet::new(),
            source: Some(SourceSpan { file: "suite.yaml".into(), line: 4, column: 7 }),
        }
    }

    #[test]
    fn names_and_slugs_become_ids() {
        let desired = agent(
            vec![ev(EvaluatorSpec {
                personality: Some(NamedRef::Name("Calm caller".into())),
                metrics: Some([MetricRef::Slug("politeness".into()), MetricRef::Id(501)].into()),
                test_profile: Some(ProfileRef::Name("Premium".into())),
                ..EvaluatorSpec::default()
            })],
            vec![],
        );
        let observed =
            agent(vec![], vec![TestProfile { id: Some(55), name: "Premium".into(), information: None, source: None }]);
        let mut errors = vec![];
        let out = resolve_agent(&desired, &observed, &catalog(), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let spec = &out.evaluators[0].spec;
        assert_eq!(spec.personality, Some(NamedRef::Id(7)));
        assert_eq!(spec.metrics, Some([MetricRef::Id(501)].into()));
        assert_eq!(spec.test_profile, Some(ProfileRef::Id(55)));
    }

    #[test]
    fn unknown_references_are_all_reported() {
        let desired = agent(
            vec![ev(EvaluatorSpec {
                personality: Some(NamedRef::Name("Calm caler".into())),
                metrics: Some([MetricRef::Slug("latency".into()), MetricRef::Id(9)].into()),
                test_profile: Some(ProfileRef::Name("Nobody".into())),
                ..EvaluatorSpec::default()
            })],
            vec![],
        );
        let mut errors = vec![];
        resolve_agent(&desired, &agent(vec![], vec![]), &catalog(), &mut errors);
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        insta::assert_snapshot!(text.join("\n"), @r#"
        suite.yaml:4:7: cekura.agent[12].evaluator["Order status"]: unknown personality `Calm caler` (hint: did you mean `Calm caller`?)
        suite.yaml:4:7: cekura.agent[12].evaluator["Order status"]: unknown metric `9` (hint: the agent's metric list has no metric with this id)
        suite.yaml:4:7: cekura.agent[12].evaluator["Order status"]: unknown metric `latency` (hint: known metric slugs: politeness)
        suite.yaml:4:7: cekura.agent[12].evaluator["Order status"]: test profile `Nobody` is neither on the platform nor declared in the manifests (hint: declare it under `test_profiles`, or give its id)
        "#);
    }

    #[test]
    fn a_metric_name_that_could_mean_two_metrics_is_an_error_not_a_guess() {
        let by_name = |name: &str| {
            ev(EvaluatorSpec { metrics: Some([MetricRef::Slug(name.into())].into()), ..EvaluatorSpec::default() })
        };
        // The manifests declare their own "Politeness" (not on the platform yet) beside the predefined one.
        let mut desired = agent(vec![by_name("Politeness")], vec![]);
        desired.metrics = vec![crate::model::Metric {
            id: None,
            name: "Politeness".into(),
            spec: crate::model::MetricSpec::default(),
            source: None,
            configuration: None,
        }];
        let mut errors = vec![];
        resolve_agent(&desired, &agent(vec![], vec![]), &catalog(), &mut errors);
        // Two metrics of one name in the project's list (a project metric named like a predefined one).
        let mut two = catalog();
        two.metrics.push(MetricInfo { id: 1020, slug: None, name: "Politeness".into() });
        resolve_agent(&agent(vec![by_name("Politeness")], vec![]), &agent(vec![], vec![]), &two, &mut errors);
        // By slug it is one metric, whatever the names.
        let slug = agent(vec![by_name("politeness")], vec![]);
        let out = resolve_agent(&slug, &agent(vec![], vec![]), &two, &mut errors);
        assert_eq!(out.evaluators[0].spec.metrics, Some([MetricRef::Id(501)].into()));
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        insta::assert_snapshot!(text.join("\n"), @r#"
        suite.yaml:4:7: cekura.agent[12].evaluator["Order status"]: metric `Politeness` could mean metric 501 or the one the manifests declare (not created yet) (hint: refer to it by id or slug, or give the metric the manifests declare a name of its own)
        suite.yaml:4:7: cekura.agent[12].evaluator["Order status"]: metric `Politeness` could mean the metrics 501 and 1020 (hint: refer to it by id or slug)
        "#);
    }
}
