//! Step three of planning: compare one desired resource with its remote match, field by field.
//!
//! Only managed fields (`Some` on the desired side) are compared, minus `ignore_changes` (which applies to
//! updates: a create sets every managed field). Values arrive normalised and resolved, so comparison is plain
//! equality (sets compare as sets because they are sets). This module decides *what* differs; which API route
//! carries each difference is `build`'s business.

use std::collections::BTreeSet;

use super::{FieldChange, FieldValue, TestProfileRef};
use crate::model::{Evaluator, Field, MetricRef, NamedRef, ProfileRef, Script, SmallSet, Text};

/// A change of an evaluator's metric set, both as the whole new list (for PATCH and create) and as the set
/// operations relative to what the platform has now (for `adv_update`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricsChange {
    pub full: BTreeSet<u64>,
    pub add: BTreeSet<u64>,
    pub remove: BTreeSet<u64>,
    /// Metrics this plan creates, by name: added once their creates have answered.
    pub add_created: BTreeSet<String>,
}

/// The script's new value, and the tail to append when the remote text is a strict prefix of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptChange {
    pub to: Script,
    pub tail: Option<Text>,
    /// The platform's copy is of the other kind (instructions vs a flow), or there is none: `scenario_type` must
    /// be sent with the script. Otherwise it is left out, since it does not change.
    pub kind_changes: bool,
}

/// What differs for one evaluator: the new value of every changed field, plus the same as [`FieldChange`]s for
/// people. For a create, every managed field is "changed".
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EvaluatorDiff {
    pub changes: Vec<FieldChange>,
    pub name: Option<String>,
    pub folder: Option<String>,
    pub script: Option<ScriptChange>,
    pub expected_outcome: Option<Text>,
    pub first_message: Option<Text>,
    pub personality: Option<u64>,
    pub test_profile: Option<TestProfileRef>,
    pub metrics: Option<MetricsChange>,
    pub tools: Option<SmallSet<String>>,
    pub tags: Option<SmallSet<String>>,
    pub language: Option<String>,
    pub max_duration: Option<u32>,
    pub phone_number: Option<u64>,
}

impl EvaluatorDiff {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

pub fn text_value(t: &Text) -> FieldValue {
    FieldValue::Text(t.clone())
}

pub fn set_value<T: ToString>(items: impl IntoIterator<Item = T>) -> FieldValue {
    FieldValue::Set(items.into_iter().map(|i| i.to_string()).collect())
}

pub fn script_value(s: &Script) -> FieldValue {
    match s {
        Script::Text(t) => FieldValue::Text(t.clone()),
        // ConditionalActions serialises sensitive texts sealed, so this JSON never holds a secret.
        Script::Flow(flow) => FieldValue::Json(serde_json::to_value(flow).unwrap_or_default()),
    }
}

pub fn profile_value(p: &ProfileRef) -> FieldValue {
    match p {
        ProfileRef::Id(id) => FieldValue::Number(*id),
        ProfileRef::Name(n) => FieldValue::Text(Text::new(n.clone())),
    }
}

fn named_id(r: &NamedRef) -> Option<u64> {
    match r {
        NamedRef::Id(id) => Some(*id),
        NamedRef::Name(_) => None,
    }
}

pub fn metric_ids(set: &SmallSet<MetricRef>) -> BTreeSet<u64> {
    set.iter()
        .filter_map(|m| match m {
            MetricRef::Id(id) => Some(*id),
            MetricRef::Slug(_) => None,
        })
        .collect()
}

/// The names of metrics that the plan creates (references left unresolved by the resolver because the manifests
/// declare them and the platform does not have them yet).
pub fn created_metric_names(set: &SmallSet<MetricRef>) -> BTreeSet<String> {
    set.iter()
        .filter_map(|m| match m {
            MetricRef::Slug(name) => Some(name.clone()),
            MetricRef::Id(_) => None,
        })
        .collect()
}

/// The tail to append, when `desired` is `remote` plus a non-empty tail and `remote` is non-empty.
pub fn append_tail(remote: &str, desired: &str) -> Option<String> {
    if remote.is_empty() {
        return None;
    }
    desired.strip_prefix(remote).filter(|tail| !tail.is_empty()).map(str::to_string)
}

/// Compare a desired evaluator with its remote match (`None`: it is created).
pub fn diff_evaluator(desired: &Evaluator, remote: Option<&Evaluator>) -> EvaluatorDiff {
    diff_with_refs(desired, super::resolve::RefsView::of(&desired.spec), remote)
}

/// [`diff_evaluator`] with the desired evaluator's references (personality, test profile, metrics) as resolved
/// apart: the planner does not copy the desired evaluator to resolve them.
pub fn diff_with_refs(
    desired: &Evaluator,
    refs: super::resolve::RefsView<'_>,
    remote: Option<&Evaluator>,
) -> EvaluatorDiff {
    let mut d = EvaluatorDiff::default();
    let want = &desired.spec;
    let have = remote.map(|r| &r.spec);
    let considered = |f: Field| remote.is_none() || !desired.ignore_changes.contains(&f);
    let mut change = |field: &str, before: Option<FieldValue>, after: FieldValue| {
        d.changes.push(FieldChange { field: field.to_string(), before, after: Some(after) })
    };

    match remote {
        None => change("name", None, FieldValue::Text(Text::new(desired.name.clone()))),
        Some(r) if r.name != desired.name && considered(Field::Name) => {
            change(
                "name",
                Some(FieldValue::Text(Text::new(r.name.clone()))),
                FieldValue::Text(desired.name.clone().into()),
            );
            d.name = Some(desired.name.clone());
        }
        Some(_) => {}
    }
    if let Some(folder) = &want.folder {
        let before = have.and_then(|h| h.folder.as_ref());
        if considered(Field::Folder) && before != Some(folder) {
            change(
                "folder",
                before.map(|b| FieldValue::Text(b.clone().into())),
                FieldValue::Text(folder.clone().into()),
            );
            d.folder = Some(folder.clone());
        }
    }
    if let Some(script) = &want.script {
        let field = match script {
            Script::Text(_) => Field::Instructions,
            Script::Flow(_) => Field::ConditionalActions,
        };
        let before = have.and_then(|h| h.script.as_ref());
        if considered(field) && before != Some(script) {
            // A sensitive text is replaced whole, never appended to: a tail cut from it would have no template
            // of its own (a saved plan could not restore it) and would send part of a secret on its own.
            let tail = match (before, script) {
                (Some(Script::Text(r)), Script::Text(w)) if !w.is_sensitive() => {
                    append_tail(r.expose(), w.expose()).map(Text::new)
                }
                _ => None,
            };
            change(field.as_str(), before.map(script_value), script_value(script));
            let kind_changes = !matches!(
                (before, script),
                (Some(Script::Text(_)), Script::Text(_)) | (Some(Script::Flow(_)), Script::Flow(_))
            );
            d.script = Some(ScriptChange { to: script.clone(), tail, kind_changes });
        }
    }
    if let Some(v) = &want.expected_outcome {
        let before = have.and_then(|h| h.expected_outcome.as_ref());
        if considered(Field::ExpectedOutcome) && before != Some(v) {
            change("expected_outcome", before.map(text_value), text_value(v));
            d.expected_outcome = Some(v.clone());
        }
    }
    if let Some(v) = &want.first_message {
        let before = have.and_then(|h| h.first_message.as_ref());
        if considered(Field::FirstMessage) && before != Some(v) {
            change("first_message", before.map(text_value), text_value(v));
            d.first_message = Some(v.clone());
        }
    }
    if let Some(id) = refs.personality.and_then(named_id) {
        let before = have.and_then(|h| h.personality.as_ref()).and_then(named_id);
        if considered(Field::Personality) && before != Some(id) {
            change("personality", before.map(FieldValue::Number), FieldValue::Number(id));
            d.personality = Some(id);
        }
    }
    if let Some(p) = refs.test_profile {
        let before = have.and_then(|h| h.test_profile.as_ref());
        if considered(Field::TestProfile) && before != Some(p) {
            change("test_profile", before.map(profile_value), profile_value(p));
            d.test_profile = Some(match p {
                ProfileRef::Id(id) => TestProfileRef::Id(*id),
                ProfileRef::Name(n) => TestProfileRef::Created(n.clone()),
            });
        }
    }
    if let Some(m) = refs.metrics {
        let full = metric_ids(m);
        let created = created_metric_names(m);
        let before = have.and_then(|h| h.metrics.as_ref()).map(metric_ids);
        let differs = before.as_ref() != Some(&full) || !created.is_empty();
        if considered(Field::Metrics) && (remote.is_none() || differs) {
            let current = before.clone().unwrap_or_default();
            let shown = full.iter().map(u64::to_string).chain(created.iter().cloned());
            change("metrics", before.map(set_value), set_value(shown));
            d.metrics = Some(MetricsChange {
                add: full.difference(&current).copied().collect(),
                remove: current.difference(&full).copied().collect(),
                full,
                add_created: created,
            });
        }
    }
    for (field, want_set, have_set, slot) in [
        (Field::Tools, &want.tools, have.and_then(|h| h.tools.as_ref()), &mut d.tools),
        (Field::Tags, &want.tags, have.and_then(|h| h.tags.as_ref()), &mut d.tags),
    ] {
        if let Some(v) = want_set {
            if considered(field) && (remote.is_none() || have_set != Some(v)) {
                d.changes.push(FieldChange {
                    field: field.as_str().into(),
                    before: have_set.map(set_value),
                    after: Some(set_value(v)),
                });
                *slot = Some(v.clone());
            }
        }
    }
    let mut change = |field: &str, before: Option<FieldValue>, after: FieldValue| {
        d.changes.push(FieldChange { field: field.to_string(), before, after: Some(after) })
    };
    if let Some(v) = &want.language {
        let before = have.and_then(|h| h.language.as_ref());
        if considered(Field::Language) && before != Some(v) {
            change("language", before.map(|b| FieldValue::Text(b.clone().into())), FieldValue::Text(v.clone().into()));
            d.language = Some(v.clone());
        }
    }
    if let Some(v) = want.max_duration {
        let before = have.and_then(|h| h.max_duration);
        if considered(Field::MaxDuration) && before != Some(v) {
            change("max_duration", before.map(|b| FieldValue::Number(b.into())), FieldValue::Number(v.into()));
            d.max_duration = Some(v);
        }
    }
    if let Some(v) = want.phone_number {
        let before = have.and_then(|h| h.phone_number);
        if considered(Field::PhoneNumber) && before != Some(v) {
            change("phone_number", before.map(FieldValue::Number), FieldValue::Number(v));
            d.phone_number = Some(v);
        }
    }
    // Most diffs hold one or two changes; the first push made room for four, and a fleet change keeps one diff
    // per evaluator until the plan is built.
    d.changes.shrink_to_fit();
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EvaluatorSpec;

    fn ev(id: Option<u64>, name: &str, spec: EvaluatorSpec) -> Evaluator {
        Evaluator { id, name: name.into(), spec, ignore_changes: BTreeSet::new(), source: None }
    }

    #[test]
    fn only_managed_and_not_ignored_fields_differ() {
        let remote = ev(
            Some(1),
            "A",
            EvaluatorSpec {
                first_message: Some("hi".into()),
                tags: Some(["x".to_string()].into()),
                metrics: Some([MetricRef::Id(1), MetricRef::Id(2)].into()),
                ..EvaluatorSpec::default()
            },
        );
        let mut want = ev(
            None,
            "A",
            EvaluatorSpec {
                first_message: Some("hello".into()),
                metrics: Some([MetricRef::Id(2), MetricRef::Id(3)].into()),
                ..EvaluatorSpec::default()
            },
        );
        want.ignore_changes.insert(Field::FirstMessage);
        let d = diff_evaluator(&want, Some(&remote));
        let fields: Vec<&str> = d.changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["metrics"]);
        let m = d.metrics.unwrap();
        assert_eq!((m.add, m.remove), ([3].into(), [1].into()));
    }

    #[test]
    fn tails_are_strict_extensions_of_a_non_empty_remote() {
        assert_eq!(append_tail("Be polite.", "Be polite.\nConfirm."), Some("\nConfirm.".into()));
        assert_eq!(append_tail("", "anything"), None);
        assert_eq!(append_tail("Be polite.", "Be polite."), None);
        assert_eq!(append_tail("Be rude.", "Be polite.\nConfirm."), None);
    }
}
