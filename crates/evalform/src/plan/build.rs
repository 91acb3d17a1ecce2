//! Steps two and four of planning: match desired resources to remote ones, then turn the differences into the
//! fewest API calls each route can carry, in dependency order.
//!
//! The order within an agent is: folders (parent first), test profiles, evaluator creates, single-evaluator
//! PATCHes, `adv_update` calls, language changes, and last, under `prune: true` only, evaluator deletes and then
//! test profile deletes. How fields are routed and bulk calls grouped is explained in `docs/planning.md`. Nothing
//! here reads a clock, the network or randomness: the same inputs always give the same operations.

use std::collections::{BTreeMap, BTreeSet};

use super::diff::{diff_with_refs, EvaluatorDiff};
use super::resolve::{resolve_refs, Refs, RefsView};
use super::target::Selection;
use super::{
    fingerprint, tela, Action, BulkScope, BulkUpdate, Call, EvaluatorBody, EvaluatorRef, FieldChange, FieldValue,
    Observed, Operation, Plan, PlanError, PlanErrors, PlanNote, PlanSettings, ResourceChange, TestProfileRef,
    Unmanaged, PLAN_FORMAT_VERSION,
};
use crate::model::{
    Address, AgentId, AgentState, Catalog, Evaluator, Information, Script, State, TestProfile, Text, OWNERSHIP_TAG,
    SENSITIVE_MARK,
};

/// The plan under construction: what every step appends to.
#[derive(Debug, Default)]
pub struct Builder {
    pub changes: Vec<ResourceChange>,
    pub operations: Vec<Operation>,
    pub notes: Vec<PlanNote>,
    pub unmanaged: Vec<Unmanaged>,
    /// The project metrics no manifest declares, by id, as the agents seen so far left them (every agent of a
    /// project reads the project's metrics): deleted (`true`) or listed as not managed (`false`). Each is deleted
    /// or listed once.
    pub undeclared_metrics: BTreeMap<u64, bool>,
    /// The declared metrics written so far, by project and name (every agent of a project reads and writes the
    /// project's metrics): the operation that creates or updates each. A metric several agents declare alike is
    /// written once.
    pub metric_writes: BTreeMap<(u64, String), usize>,
}

impl Builder {
    /// Append an operation and return its id.
    pub fn op(&mut self, call: Call, depends_on: impl IntoIterator<Item = usize>, touches: Vec<Address>) -> usize {
        let id = self.operations.len();
        let mut deps: Vec<usize> = depends_on.into_iter().collect();
        deps.sort_unstable();
        deps.dedup();
        self.operations.push(Operation { id, depends_on: deps, touches, call });
        id
    }

    pub fn change(
        &mut self,
        address: Address,
        action: Action,
        remote_id: Option<String>,
        mut fields: Vec<FieldChange>,
    ) {
        // The value a secret replaces is as secret as the secret: show neither, and keep no trace of it at all.
        // It must not carry the new value's template either: a saved plan checks every template it holds against
        // the environment at `apply --plan`, and the old value would never match (the plan could not be applied).
        // The mark is its own template, with no `${env:...}` in it, so it restores to itself.
        for f in &mut fields {
            if let (Some(FieldValue::Text(before)), Some(FieldValue::Text(after))) = (&mut f.before, &f.after) {
                if !before.is_sensitive() && after.is_sensitive() {
                    *before = Text::sensitive(SENSITIVE_MARK, SENSITIVE_MARK);
                }
            }
        }
        self.changes.push(ResourceChange { address, action, remote_id, fields });
    }

    pub fn note(&mut self, address: Option<Address>, message: impl Into<String>) {
        self.notes.push(PlanNote { address, message: message.into() });
    }
}

pub(super) fn plan(desired: &State, observed: &Observed, settings: &PlanSettings) -> Result<Plan, PlanErrors> {
    let selection = Selection::new(settings).map_err(PlanErrors)?;
    let mut errors = Vec::new();
    let mut b = Builder::default();
    let no_catalog = Catalog::default();
    // Metrics belong to a project: a metric one agent's manifests declare is managed for every agent of it.
    let project_of =
        |agent: &AgentId, want: &AgentState| observed.state.agents.get(agent).and_then(|a| a.project).or(want.project);
    let mut declared_metrics: BTreeMap<Option<u64>, BTreeSet<String>> = BTreeMap::new();
    // The names the manifests declare metrics under, per project: an evaluator may name one its own agent's
    // manifests do not declare.
    let mut metric_names: BTreeMap<Option<u64>, BTreeSet<String>> = BTreeMap::new();
    for (agent, want) in &desired.agents {
        metric_names.entry(project_of(agent, want)).or_default().extend(want.metrics.iter().map(|m| m.name.clone()));
        let names = declared_metrics.entry(project_of(agent, want)).or_default();
        names.extend(want.metrics.iter().map(|m| m.name.clone()));
        // A metric renamed in the manifests is still under its earlier name on the platform: not undeclared.
        if let Some(have) = observed.state.agents.get(agent) {
            names.extend(super::metrics::renamed_metrics(*agent, want, have).into_values().map(|r| r.name.clone()));
        }
    }
    let no_metrics = BTreeSet::new();
    let metric_renames =
        super::metrics::check_project(desired, &observed.state, &observed.catalogs, &project_of, &mut errors);
    // Folders belong to the project too: a folder any agent's manifests of the project declare or put an evaluator
    // in is in use, with its parents.
    let mut used_folders: BTreeMap<Option<u64>, BTreeSet<String>> = BTreeMap::new();
    // Per project, the folder renames of every agent.
    let mut project_renames: BTreeMap<Option<u64>, super::folders::Renames> = BTreeMap::new();
    // Per project, each rename with the first agent that declares it.
    let mut declared_by: BTreeMap<Option<u64>, BTreeMap<(String, String), AgentId>> = BTreeMap::new();
    for (agent, want) in &desired.agents {
        let used = used_folders.entry(project_of(agent, want)).or_default();
        let declared = want.evaluators.iter().filter_map(|e| e.spec.folder.as_deref());
        for f in want.folders.iter().map(String::as_str).chain(declared) {
            add_with_parents_set(used, f);
        }
        // A declared evaluator that does not move (no `folder`, or its folder ignored) stays where the platform
        // has it, for every agent of the project: another agent's folder deletion must not count on it.
        if let Some(have) = observed.state.agents.get(agent) {
            for f in staying_folders(*agent, want, have, &selection) {
                add_with_parents_set(used, f);
            }
            let renames = super::folders::renames(want, have);
            let by = declared_by.entry(project_of(agent, want)).or_default();
            for rename in &renames {
                by.entry(rename.clone()).or_insert(*agent);
            }
            project_renames.entry(project_of(agent, want)).or_default().extend(renames);
        }
    }
    for (project, renames) in &project_renames {
        let used = used_folders.entry(*project).or_default();
        // Every agent of the project plans on the platform as the renames leave it: a folder in use (where a
        // declared evaluator stays, found on the platform as it is) is in use under its path after the renames.
        // (A renamed folder is declared under its new path; its old path is in no agent's view.)
        for f in super::folders::after_renaming(used, renames) {
            add_with_parents_set(used, &f);
        }
    }
    let mut folder_views = Vec::new();
    // Per project, what its agents share about folders while they are planned one after another.
    let mut shared_folders: BTreeMap<Option<u64>, super::folders::ProjectFolders> = project_renames
        .iter()
        .map(|(project, renames)| {
            let renames = super::folders::project_renames(renames);
            let steps = super::folders::rename_steps(&renames);
            let declared_by = declared_by.remove(project).unwrap_or_default();
            (*project, super::folders::ProjectFolders { renames, steps, declared_by, ..Default::default() })
        })
        .collect();
    // The agents that rename folders are planned first in their project, so that a rename is made by an agent that
    // declares it, and what the other agents put in the folder can wait for it.
    let mut order: Vec<(&AgentId, &AgentState)> = desired.agents.iter().collect();
    order.sort_by_key(|(agent, want)| {
        let have = observed.state.agents.get(*agent);
        have.is_none_or(|have| super::folders::renames(want, have).is_empty())
    });
    // Metrics first, for every agent: an evaluator may refer by name to a metric this plan creates, declared by its
    // own agent's manifests or by another agent's of its project.
    let mut metric_ops: BTreeMap<AgentId, BTreeMap<String, usize>> = BTreeMap::new();
    for (agent, want) in &order {
        let nothing = AgentState { agent: **agent, ..AgentState::default() };
        let have = observed.state.agents.get(*agent).unwrap_or(&nothing);
        let ops = super::metrics::plan_metrics(**agent, want, have, &selection, &mut b, &mut errors);
        metric_ops.insert(**agent, ops);
    }
    for (agent, want) in order {
        let project_metrics = declared_metrics.get(&project_of(agent, want)).unwrap_or(&no_metrics);
        let project_folders = used_folders.get(&project_of(agent, want)).unwrap_or(&no_metrics);
        let nothing = AgentState { agent: *agent, ..AgentState::default() };
        let have = observed.state.agents.get(agent).unwrap_or(&nothing);
        // A folder renamed in the manifests (of any agent of the project) is renamed on the platform with one call:
        // everything else is compared with the platform as it will be after it.
        let project = project_of(agent, want);
        let folder_renames = shared_folders.get(&project).map(|s| s.renames.clone()).unwrap_or_default();
        let renamed;
        let have = if folder_renames.is_empty() {
            have
        } else {
            renamed = super::folders::after_renames(have, &folder_renames);
            &renamed
        };
        let catalog = observed.catalogs.get(agent).unwrap_or(&no_catalog);
        let names = metric_names.get(&project_of(agent, want)).unwrap_or(&no_metrics);
        let refs = resolve_refs(want, have, catalog, metric_renames.get(agent), names, &mut errors);
        let view = AgentPlanner {
            agent: *agent,
            want,
            refs: &refs,
            have,
            selection: &selection,
            project_metrics,
            metric_ops: metric_ops.remove(agent).unwrap_or_default(),
            project_folders,
            folder_renames: &folder_renames,
            shared: shared_folders.entry(project).or_default(),
            platform: &observed.state.agents,
            batch_size: settings.batch_size.max(1),
            allow_append: settings.allow_append,
            b: &mut b,
            errors: &mut errors,
        }
        .run();
        // An agent the platform did not answer for has no folders to speak of.
        if observed.state.agents.contains_key(agent) {
            folder_views.push(super::folders::FolderView { project, ..view });
        }
    }
    // A folder that other agents' operations empty is deleted after them: once every agent is planned.
    let pending = shared_folders.into_values().flat_map(|s| s.pending).collect();
    super::folders::plan_pending_deletes(pending, &mut b, &mut errors);
    super::folders::list_unused(&folder_views, &|a| selection.selects(a), &mut b);
    tela::plan_prompts(desired, &observed.state, &selection, &mut b, &mut errors);
    if settings.patterns_must_match {
        errors.extend(selection.unused());
    }
    if selection.is_partial() {
        b.note(None, "This plan covers only the resources selected by --target/--exclude; others were not compared.");
    }
    if !errors.is_empty() {
        return Err(PlanErrors(errors));
    }
    Ok(Plan {
        format_version: PLAN_FORMAT_VERSION,
        changes: b.changes,
        operations: b.operations,
        fingerprints: match settings.fingerprints {
            true => fingerprint::fingerprints(&observed.state),
            false => BTreeMap::new(),
        },
        notes: b.notes,
        unmanaged: b.unmanaged,
    })
}

/// One value an `adv_update` call can set, for one evaluator. Calls are groups of atoms sharing evaluators.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Atom {
    MetricAdd(u64),
    /// A metric this plan creates, by name.
    MetricAddCreated(String),
    MetricRemove(u64),
    Personality(u64),
    TestProfile(TestProfileRef),
    Append(Text),
    FirstMessage(Text),
    PhoneNumber(u64),
    Folder(String),
    MaxDuration(u32),
}

/// An evaluator with bulk work: how calls refer to it, its address, and the operations it waits for.
#[derive(Debug, Clone)]
struct BulkItem {
    target: EvaluatorRef,
    address: Address,
    /// Sorted, each atom once: a set, kept as a vector because an evaluator has few (a `BTreeSet`'s first node
    /// holds room for eleven, and the plan of a fleet change holds one per evaluator).
    atoms: Vec<Atom>,
    deps: BTreeSet<usize>,
}

struct AgentPlanner<'a> {
    agent: AgentId,
    want: &'a AgentState,
    /// The references of `want.evaluators`, resolved, in the same order.
    refs: &'a [Refs],
    have: &'a AgentState,
    selection: &'a Selection,
    /// The metric names every desired agent of this agent's project declares.
    project_metrics: &'a BTreeSet<String>,
    /// The creates of the metrics this agent's manifests declare, by name (planned before every agent).
    metric_ops: BTreeMap<String, usize>,
    /// The folders every desired agent of this agent's project declares or puts an evaluator in, with parents.
    project_folders: &'a BTreeSet<String>,
    /// (platform path, declared path) of the folders to rename or move.
    folder_renames: &'a [(String, String)],
    /// What the agents of this agent's project share about folders (renames and deletions planned so far).
    shared: &'a mut super::folders::ProjectFolders,
    /// Every agent read of the platform: a folder deletion does not count on another agent's evaluator inside.
    platform: &'a BTreeMap<AgentId, AgentState>,
    batch_size: usize,
    /// `false` in apply's repair rounds: every instruction change is a full replacement.
    allow_append: bool,
    b: &'a mut Builder,
    errors: &'a mut Vec<PlanError>,
}

impl<'a> AgentPlanner<'a> {
    /// The resolved references of one of `want.evaluators` (found by its place in that list).
    fn refs_of(&self, want: &'a Evaluator) -> RefsView<'a> {
        let list = &self.want.evaluators;
        let at = (want as *const Evaluator as usize).wrapping_sub(list.as_ptr() as usize)
            / std::mem::size_of::<Evaluator>().max(1);
        match (list.get(at), self.refs.get(at)) {
            (Some(e), Some(r)) if std::ptr::eq(e, want) => r.view(),
            _ => RefsView::of(&want.spec),
        }
    }

    fn evaluator_address(&self, name: &str) -> Address {
        Address::Evaluator { agent: self.agent, name: name.to_string() }
    }

    /// Plan this agent; returns what it saw of the project's folders, for the listing of unused ones.
    fn run(mut self) -> super::folders::FolderView {
        let first_op = self.b.operations.len();
        self.check_renames();
        let mut metric_ops = std::mem::take(&mut self.metric_ops);
        let profiles = self.match_profiles();
        let (evaluators, orphans) = self.match_evaluators();
        // Where each declared evaluator will be after this plan: a folder it stays in is in use.
        let mut used_folders = self.project_folders.clone();
        for (want, have) in &evaluators {
            let Some(have) = have else { continue };
            let moves = self.selection.selects(&self.evaluator_address(&want.name))
                && want.spec.folder.is_some()
                && !want.ignore_changes.contains(&crate::model::Field::Folder);
            let stays = if moves { None } else { have.spec.folder.as_deref() };
            add_with_parents_set(&mut used_folders, stays.unwrap_or(""));
        }
        // Under `prune`, ownership decides what may be deleted: every declared evaluator without evalform's tag is
        // adopted (the tag is added), so that removing it from the manifests later deletes it.
        let to_adopt: Vec<(&Evaluator, u64)> = if self.want.prune {
            evaluators
                .iter()
                .filter(|(want, _)| self.selection.selects(&self.evaluator_address(&want.name)))
                .filter_map(|(want, have)| have.and_then(|h| h.id).map(|id| (*want, id)))
                .filter(|(_, id)| !self.have.owned.contains(id))
                .collect()
        } else {
            Vec::new()
        };
        let mut diffs: Vec<(&Evaluator, Option<&Evaluator>, EvaluatorDiff)> = evaluators
            .into_iter()
            .filter(|(want, _)| self.selection.selects(&self.evaluator_address(&want.name)))
            .map(|(want, have)| (want, have, diff_with_refs(want, self.refs_of(want), have)))
            .filter(|(_, _, d)| !d.is_empty())
            .collect();

        let folder_ops = self.plan_folders(&diffs);
        let profile_ops = self.plan_profiles(&profiles, &diffs);
        // A metric another agent of the project creates in this plan: its create is this agent's too.
        let project = self.want.project.or(self.have.project);
        for name in diffs.iter().flat_map(|(_, _, d)| d.metrics.iter().flat_map(|m| &m.add_created)) {
            if metric_ops.contains_key(name) {
                continue;
            }
            let Some(&op) = project.and_then(|p| self.b.metric_writes.get(&(p, name.clone()))) else { continue };
            if let Call::CreateMetric { shared_with, agent, .. } = &mut self.b.operations[op].call {
                if *agent != self.agent && !shared_with.contains(&self.agent) {
                    shared_with.push(self.agent);
                }
                metric_ops.insert(name.clone(), op);
            }
        }
        // The creates of the metrics an evaluator's metric adds wait for.
        let metric_deps = |d: &EvaluatorDiff| -> BTreeSet<usize> {
            let created = d.metrics.iter().flat_map(|m| &m.add_created);
            created.filter_map(|name| metric_ops.get(name).copied()).collect()
        };
        let dep_of = |d: &EvaluatorDiff| -> BTreeSet<usize> {
            let mut deps = metric_deps(d);
            if let Some(op) = d.folder.as_ref().and_then(|f| folder_ops.get(f)) {
                deps.insert(*op);
            }
            if let Some(TestProfileRef::Created(n)) = &d.test_profile {
                deps.extend(profile_ops.get(n));
            }
            deps
        };

        // Creates, and the work create cannot do.
        let mut bulk: Vec<BulkItem> = Vec::new();
        let mut languages: Vec<(EvaluatorRef, Address, String)> = Vec::new();
        let mut touched: BTreeMap<EvaluatorRef, Vec<usize>> = BTreeMap::new();
        // Each diff's field changes move into the plan (one copy of them, not two).
        let mut field_changes: Vec<Vec<FieldChange>> =
            diffs.iter_mut().map(|(_, _, d)| std::mem::take(&mut d.changes)).collect();
        for (i, (want, _, d)) in diffs.iter().enumerate().filter(|(_, (_, have, _))| have.is_none()) {
            let address = self.evaluator_address(&want.name);
            if d.personality.is_none() && want.spec.personality.is_some() {
                continue;
            }
            // An unresolved personality was already reported; only a missing one is this error.
            if want.spec.personality.is_none() {
                self.errors.push(PlanError::MissingPersonality { address, location: want.source.clone() });
                continue;
            }
            let body = EvaluatorBody {
                name: Some(want.name.clone()),
                folder_path: d.folder.clone().filter(|f| !f.is_empty()),
                // Always sent, so that the ownership tag goes with it (see `plan::wire`).
                tags: Some(d.tags.iter().flatten().cloned().collect()),
                ..patch_body(d, true)
            };
            let op = self.b.op(Call::CreateEvaluator { agent: self.agent, body }, dep_of(d), vec![address.clone()]);
            self.b.change(address.clone(), Action::Create, None, std::mem::take(&mut field_changes[i]));
            let target = EvaluatorRef::Created(want.name.clone());
            touched.entry(target.clone()).or_default().push(op);
            let mut atoms = Vec::new();
            atoms.extend(d.first_message.clone().map(Atom::FirstMessage));
            atoms.extend(d.max_duration.map(Atom::MaxDuration));
            atoms.extend(created_metric_atoms(d));
            if !atoms.is_empty() {
                atoms.sort();
                atoms.dedup();
                atoms.shrink_to_fit();
                let mut deps = metric_deps(d);
                deps.insert(op);
                bulk.push(BulkItem { target: target.clone(), address: address.clone(), atoms, deps });
            }
            if let Some(lang) = &d.language {
                languages.push((target, address, lang.clone()));
            }
        }

        // Updates: decide per evaluator whether it needs a PATCH, then what is left for bulk.
        let updates: Vec<_> = diffs.iter().enumerate().filter_map(|(i, (w, h, d))| h.map(|h| (i, *w, h, d))).collect();
        let needs_patch_alone = |d: &EvaluatorDiff| {
            d.name.is_some()
                || d.expected_outcome.is_some()
                || d.tools.is_some()
                || d.tags.is_some()
                || d.script.as_ref().is_some_and(|s| s.tail.is_none())
        };
        let mut tail_count: BTreeMap<&Text, usize> = BTreeMap::new();
        for (_, _, _, d) in &updates {
            if !needs_patch_alone(d) {
                if let Some(tail) = d.script.as_ref().and_then(|s| s.tail.as_ref()) {
                    *tail_count.entry(tail).or_default() += 1;
                }
            }
        }
        for &(i, want, have, d) in &updates {
            let address = self.evaluator_address(&want.name);
            let id = have.id.unwrap_or_default();
            let target = EvaluatorRef::Id(id);
            self.b.change(address.clone(), Action::Update, Some(id.to_string()), std::mem::take(&mut field_changes[i]));
            // A tail no other evaluator shares goes by PATCH: idempotent, and no more calls than an append.
            let shared_tail = d
                .script
                .as_ref()
                .and_then(|s| s.tail.as_ref())
                .filter(|t| self.allow_append && tail_count.get(t) > Some(&1));
            let patch = needs_patch_alone(d) || (d.script.is_some() && shared_tail.is_none());
            let mut atoms = Vec::new();
            atoms.extend(d.first_message.clone().map(Atom::FirstMessage));
            atoms.extend(d.max_duration.map(Atom::MaxDuration));
            atoms.extend(created_metric_atoms(d));
            let mut deps = dep_of(d);
            if patch {
                let body = patch_body(d, false);
                let op = self.b.op(
                    Call::PatchEvaluator { evaluator: target.clone(), body },
                    dep_of(d),
                    vec![address.clone()],
                );
                touched.entry(target.clone()).or_default().push(op);
                // A PATCH of `metrics` sends the whole list without the metrics still to be created: their add
                // comes after it.
                deps.insert(op);
            } else {
                if let Some(m) = &d.metrics {
                    atoms.extend(m.add.iter().copied().map(Atom::MetricAdd));
                    atoms.extend(m.remove.iter().copied().map(Atom::MetricRemove));
                }
                atoms.extend(d.personality.map(Atom::Personality));
                atoms.extend(d.test_profile.clone().map(Atom::TestProfile));
                atoms.extend(shared_tail.cloned().map(Atom::Append));
                atoms.extend(d.phone_number.map(Atom::PhoneNumber));
                atoms.extend(d.folder.clone().map(Atom::Folder));
            }
            if !atoms.is_empty() {
                atoms.sort();
                atoms.dedup();
                atoms.shrink_to_fit();
                bulk.push(BulkItem { target: target.clone(), address: address.clone(), atoms, deps });
            }
            if let Some(lang) = &d.language {
                languages.push((target, address, lang.clone()));
            }
        }

        for (want, id) in to_adopt {
            let address = self.evaluator_address(&want.name);
            let field = FieldChange {
                field: "ownership".into(),
                before: None,
                after: Some(FieldValue::Text(Text::new(format!("adopted by evalform (tag {OWNERSHIP_TAG})")))),
            };
            // A PATCH of `tags` carries the tag already; otherwise one call adds it.
            let tags_sent = updates.iter().any(|(_, w, _, d)| std::ptr::eq(*w, want) && d.tags.is_some());
            if !tags_sent {
                let op = self.b.op(Call::AdoptEvaluator { id }, [], vec![address.clone()]);
                touched.entry(EvaluatorRef::Id(id)).or_default().push(op);
            }
            match self.b.changes.iter_mut().find(|c| c.address == address) {
                Some(change) => change.fields.push(field),
                None => self.b.change(address, Action::Update, Some(id.to_string()), vec![field]),
            }
        }

        for (target, scenarios, touches, deps, atoms) in group_bulk(&bulk, self.batch_size) {
            let call = bulk_call(self.agent, scenarios, &atoms);
            let op = self.b.op(Call::BulkUpdate(call), deps, touches);
            for t in target {
                touched.entry(t).or_default().push(op);
            }
        }
        // The executor sends the language with a PUT built from a fresh read: after everything else.
        for (target, address, language) in languages {
            let deps = touched.get(&target).cloned().unwrap_or_default();
            self.b.op(Call::SetLanguage { evaluator: target, language }, deps, vec![address]);
        }

        super::schedules::plan_schedules(self.agent, self.want, self.have, self.selection, &touched, self.b);
        let looks_renamed = self.rename_hints(&diffs, &orphans);
        super::metrics::plan_metric_prune(
            self.agent,
            self.want,
            self.have,
            self.project_metrics,
            self.selection,
            self.b,
        );
        let folder_deletes = if self.want.prune_folders {
            let selection = self.selection;
            let project = self.want.project.or(self.have.project);
            let others: Vec<&AgentState> = self
                .platform
                .values()
                .filter(|a| a.agent != self.agent && project.is_some() && a.project == project)
                .collect();
            super::folders::folder_deletes(
                self.agent,
                self.want,
                self.have,
                &used_folders,
                &orphans,
                &others,
                &self.shared.steps,
                &|a| selection.selects(a),
                self.b,
            )
        } else {
            super::folders::FolderDeletes::default()
        };
        let taken: BTreeSet<u64> =
            folder_deletes.now.iter().flat_map(|d| d.evaluators.iter().map(|(id, _)| *id)).collect();
        let last_op = self.b.operations.len();
        if self.want.prune {
            self.plan_deletes(&orphans, &profiles, &taken);
        } else {
            self.list_unmanaged(&orphans, &profiles, &looks_renamed);
        }
        // After the project's renames too (made by the agent that declares them).
        let after: Vec<usize> =
            (first_op..last_op).chain(self.shared.renames_planned.values().flatten().copied()).collect();
        super::folders::plan_folder_deletes(
            self.agent,
            self.want.project.or(self.have.project),
            folder_deletes.now,
            after.clone(),
            &mut self.shared.deleted,
            self.b,
            self.errors,
        );
        for mut p in folder_deletes.pending {
            p.after = after.clone();
            self.shared.pending.push(p);
        }
        super::folders::FolderView {
            agent: self.agent,
            project: None,
            folders: self.have.folders.clone(),
            used: used_folders,
            undeclared: orphans.iter().filter_map(|e| Some((e.id?, e.spec.folder.clone()?))).collect(),
        }
    }

    /// A created evaluator whose script equals that of an undeclared one is most likely that one, renamed in the
    /// manifest: say so, and how to keep the platform's evaluator. Returns remote id -> the new name.
    fn rename_hints(
        &mut self,
        diffs: &[(&Evaluator, Option<&Evaluator>, EvaluatorDiff)],
        orphans: &[&Evaluator],
    ) -> BTreeMap<u64, String> {
        let mut out = BTreeMap::new();
        for (want, _, _) in diffs.iter().filter(|(_, have, _)| have.is_none()) {
            let Some(script) = want.spec.script.as_ref() else { continue };
            let Some(old) = orphans
                .iter()
                .find(|r| r.spec.script.as_ref() == Some(script) && !r.id.is_some_and(|id| out.contains_key(&id)))
            else {
                continue;
            };
            let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
            self.b.note(
                Some(self.evaluator_address(&want.name)),
                format!(
                    "looks like a rename of {} (id {}), which has the same script and no manifest declares: to keep \
                     that evaluator and its history, add `renamed_from: [{}]` to this evaluator",
                    quoted(&old.name),
                    old.id.unwrap_or_default(),
                    quoted(&old.name)
                ),
            );
            out.extend(old.id.map(|id| (id, want.name.clone())));
        }
        out
    }

    /// An earlier name must not be the name of another declared resource: the same platform object would be both.
    fn check_renames(&mut self) {
        let evaluators: BTreeSet<&str> = self.want.evaluators.iter().map(|e| e.name.as_str()).collect();
        let profiles: BTreeSet<&str> = self.want.test_profiles.iter().map(|p| p.name.as_str()).collect();
        let metrics: BTreeSet<&str> = self.want.metrics.iter().map(|m| m.name.as_str()).collect();
        let sources: BTreeMap<Address, Option<crate::model::SourceSpan>> = self
            .want
            .evaluators
            .iter()
            .map(|e| (self.evaluator_address(&e.name), e.source.clone()))
            .chain(
                self.want
                    .test_profiles
                    .iter()
                    .map(|p| (Address::TestProfile { agent: self.agent, name: p.name.clone() }, p.source.clone())),
            )
            .chain(
                self.want
                    .metrics
                    .iter()
                    .map(|m| (Address::Metric { agent: self.agent, name: m.name.clone() }, m.source.clone())),
            )
            .collect();
        for (address, earlier) in &self.want.renamed_from {
            let (names, kind) = match address {
                Address::TestProfile { .. } => (&profiles, "test profile"),
                Address::Metric { .. } => (&metrics, "metric"),
                _ => (&evaluators, "evaluator"),
            };
            for old in earlier.iter().filter(|o| names.contains(o.as_str()) && *o != address.name()) {
                self.errors.push(PlanError::RenameClash {
                    address: address.clone(),
                    location: sources.get(address).cloned().flatten(),
                    kind: kind.into(),
                    old: old.clone(),
                });
            }
        }
    }

    /// Every evaluator and test profile of this agent that no manifest declares and that this plan leaves alone,
    /// so a plan never hides them.
    fn list_unmanaged(
        &mut self,
        orphans: &[&Evaluator],
        profiles: &[(&TestProfile, Option<&TestProfile>)],
        looks_renamed: &BTreeMap<u64, String>,
    ) {
        for r in orphans {
            let address = self.evaluator_address(&r.name);
            if self.selection.selects(&address) {
                let note = r.id.and_then(|id| looks_renamed.get(&id)).map(|new| {
                    format!(
                        "same script as {}, which this plan creates",
                        serde_json::to_string(new).unwrap_or_default()
                    )
                });
                self.b.unmanaged.push(Unmanaged { address, remote_id: r.id.map(|id| id.to_string()), note });
            }
        }
        let kept: BTreeSet<u64> = profiles.iter().filter_map(|(_, r)| r.and_then(|r| r.id)).collect();
        for r in self.have.test_profiles.iter().filter(|r| !r.id.is_some_and(|id| kept.contains(&id))) {
            let address = Address::TestProfile { agent: self.agent, name: r.name.clone() };
            if self.selection.selects(&address) {
                self.b.unmanaged.push(Unmanaged { address, remote_id: r.id.map(|id| id.to_string()), note: None });
            }
        }
    }

    fn match_profiles(&mut self) -> Vec<(&'a TestProfile, Option<&'a TestProfile>)> {
        let (want, have): (&'a AgentState, &'a AgentState) = (self.want, self.have);
        let mut claimed = BTreeSet::new();
        let mut out = Vec::new();
        for p in &want.test_profiles {
            let address = Address::TestProfile { agent: self.agent, name: p.name.clone() };
            let remote = match p.id {
                Some(id) => {
                    if !claimed.insert(id) {
                        self.errors.push(PlanError::PinTwice { address, location: p.source.clone(), id });
                        continue;
                    }
                    let found = have.test_profiles.iter().find(|r| r.id == Some(id));
                    if found.is_none() {
                        self.errors.push(PlanError::PinNotFound { address, location: p.source.clone(), id });
                        continue;
                    }
                    found
                }
                None => None,
            };
            out.push((p, remote));
        }
        for (p, remote) in &mut out {
            if remote.is_none() {
                let unclaimed = |r: &&TestProfile| !r.id.is_some_and(|id| claimed.contains(&id));
                let address = Address::TestProfile { agent: self.agent, name: p.name.clone() };
                let earlier = want.renamed_from.get(&address).map(Vec::as_slice).unwrap_or_default();
                // Its name first; then, in order, its earlier names: a rename, not a second profile.
                *remote = have.test_profiles.iter().filter(unclaimed).find(|r| r.name == p.name).or_else(|| {
                    earlier.iter().find_map(|old| have.test_profiles.iter().filter(unclaimed).find(|r| r.name == *old))
                });
                if let Some(id) = remote.and_then(|r| r.id) {
                    claimed.insert(id);
                }
            }
        }
        out
    }

    /// Pinned evaluators first, then by name. Returns the pairs and the remote evaluators nothing matched.
    #[allow(clippy::type_complexity)]
    fn match_evaluators(&mut self) -> (Vec<(&'a Evaluator, Option<&'a Evaluator>)>, Vec<&'a Evaluator>) {
        let want_agent: &'a AgentState = self.want;
        let have: &'a Vec<Evaluator> = &self.have.evaluators;
        let mut claimed: BTreeSet<u64> = BTreeSet::new();
        let mut pairs: Vec<(&Evaluator, Option<&Evaluator>)> = Vec::new();
        for want in &want_agent.evaluators {
            if let Some(id) = want.id {
                let address = self.evaluator_address(&want.name);
                if !claimed.insert(id) {
                    self.errors.push(PlanError::PinTwice { address, location: want.source.clone(), id });
                    continue;
                }
                match have.iter().find(|r| r.id == Some(id)) {
                    Some(r) => pairs.push((want, Some(r))),
                    None => self.errors.push(PlanError::PinNotFound { address, location: want.source.clone(), id }),
                }
            }
        }
        // Indexed by name once: scanning every remote evaluator per desired one is quadratic, seconds at 10,000.
        let mut by_name: BTreeMap<&str, Vec<&'a Evaluator>> = BTreeMap::new();
        for r in have {
            by_name.entry(r.name.as_str()).or_default().push(r);
        }
        for want in want_agent.evaluators.iter().filter(|w| w.id.is_none()) {
            let candidates: Vec<&Evaluator> = by_name
                .get(want.name.as_str())
                .into_iter()
                .flatten()
                .copied()
                .filter(|r| !r.id.is_some_and(|id| claimed.contains(&id)))
                .collect();
            // Not on the platform under its name: under one of its earlier names, it is the same evaluator.
            let candidates = if candidates.is_empty() {
                let address = self.evaluator_address(&want.name);
                let earlier = want_agent.renamed_from.get(&address).map(Vec::as_slice).unwrap_or_default();
                let unclaimed = |r: &&&Evaluator| !r.id.is_some_and(|id| claimed.contains(&id));
                earlier
                    .iter()
                    .map(|old| by_name.get(old.as_str()).into_iter().flatten().filter(unclaimed).copied().collect())
                    .find(|found: &Vec<&Evaluator>| !found.is_empty())
                    .unwrap_or_default()
            } else {
                candidates
            };
            match candidates.as_slice() {
                [] => pairs.push((want, None)),
                [one] => {
                    claimed.extend(one.id);
                    pairs.push((want, Some(*one)));
                }
                many => self.errors.push(PlanError::DuplicateRemoteName {
                    address: self.evaluator_address(&want.name),
                    location: want.source.clone(),
                    ids: many.iter().filter_map(|r| r.id).collect(),
                }),
            }
        }
        // Keep the manifests' order for people reading the plan.
        let order: BTreeMap<*const Evaluator, usize> =
            want_agent.evaluators.iter().enumerate().map(|(i, e)| (e as *const Evaluator, i)).collect();
        pairs.sort_by_key(|(w, _)| order.get(&(*w as *const Evaluator)).copied());
        let orphans = have.iter().filter(|r| !r.id.is_some_and(|id| claimed.contains(&id))).collect();
        (pairs, orphans)
    }

    /// Create missing folders, each level after its parent. Returns folder path -> the op creating it.
    /// Create the folders the manifests need and make the renames, shallower paths first (a folder created under a
    /// renamed parent waits for the rename, a folder moved into a created one for the creation). Returns path -> the
    /// operation that makes the folder be there.
    fn plan_folders(&mut self, diffs: &[(&Evaluator, Option<&Evaluator>, EvaluatorDiff)]) -> BTreeMap<String, usize> {
        let mut wanted: BTreeMap<String, Option<String>> = BTreeMap::new(); // path -> evaluator that needs it
        for f in &self.want.folders {
            if self.selection.selects(&Address::Folder { agent: self.agent, path: f.clone() }) {
                add_with_parents(&mut wanted, f, None);
            }
        }
        for (want, _, d) in diffs {
            if let Some(f) = d.folder.as_ref().filter(|f| !f.is_empty()) {
                add_with_parents(&mut wanted, f, Some(&want.name));
            }
        }
        wanted.retain(|path, _| !self.have.folders.contains(path));
        let mut ordered: Vec<(String, Option<String>)> = wanted.into_iter().collect();
        ordered.sort_by_key(|(p, _)| (p.matches('.').count(), p.clone()));
        let mut ops = BTreeMap::new();
        let project = self.want.project.or(self.have.project);
        if project.is_none() && !ordered.is_empty() {
            let address = Address::Folder { agent: self.agent, path: ordered[0].0.clone() };
            self.errors.push(PlanError::MissingProject { address });
            ordered.clear();
        }
        let steps = super::folders::rename_steps(self.folder_renames);
        let mut renames = steps.iter().peekable();
        let mut last_rename = None;
        let depth = |p: &str| p.matches('.').count();
        for (path, needed_by) in ordered {
            while let Some(step) = renames.next_if(|s| depth(&s.to) <= depth(&path)) {
                self.plan_rename(project, step, &mut ops, &mut last_rename);
            }
            let Some(project) = project else { break };
            let address = Address::Folder { agent: self.agent, path: path.clone() };
            let (parent, name) = match path.rsplit_once('.') {
                Some((parent, name)) => (Some(parent.to_string()), name.to_string()),
                None => (None, path.clone()),
            };
            let deps = parent.as_ref().and_then(|p| ops.get(p)).copied();
            if let Some(ev) = needed_by.filter(|_| !self.selection.selects(&address)) {
                self.b
                    .note(Some(address.clone()), format!("created although not selected: evaluator \"{ev}\" is in it"));
            }
            let op = self.b.op(Call::CreateFolder { project, name, parent_path: parent }, deps, vec![address.clone()]);
            self.b.change(address, Action::Create, None, Vec::new());
            ops.insert(path, op);
        }
        for step in renames {
            self.plan_rename(project, step, &mut ops, &mut last_rename);
        }
        ops
    }

    /// One rename of the project: made by the first agent whose manifests declare it (the agents that rename are
    /// planned first); the other agents' operations in the folder wait for that call.
    fn plan_rename(
        &mut self,
        project: Option<u64>,
        step: &super::folders::RenameStep,
        ops: &mut BTreeMap<String, usize>,
        last: &mut Option<usize>,
    ) {
        let key = (step.old.clone(), step.to.clone());
        if let Some(made) = self.shared.renames_planned.get(&key).copied() {
            if let Some(op) = made {
                *last = Some(op);
                for f in self.have.folders.iter().filter(|f| super::folders::within(f, &step.to)) {
                    ops.insert(f.clone(), op);
                }
            }
            return;
        }
        // Another agent's rename, planned after this agent: that agent makes it, unless this agent puts something
        // in the folder. Then it is made now, in this agent's order and on that agent's behalf (its address), so
        // that what this agent puts in the folder waits for it.
        let by = if self.want.folder_renames.get(&step.to).is_some_and(|earlier| earlier.contains(&step.old)) {
            self.agent
        } else {
            let needed = self.want.folders.iter().any(|f| super::folders::within(f, &step.to));
            match self.shared.declared_by.get(&key) {
                Some(by) if needed => *by,
                _ => return,
            }
        };
        let made = super::folders::plan_rename(by, project, step, self.have, ops, last, self.b, self.errors);
        self.shared.renames_planned.insert(key, made);
    }

    /// Create and update test profiles. Returns profile name -> the op creating it.
    fn plan_profiles(
        &mut self,
        profiles: &[(&TestProfile, Option<&TestProfile>)],
        diffs: &[(&Evaluator, Option<&Evaluator>, EvaluatorDiff)],
    ) -> BTreeMap<String, usize> {
        let mut ops = BTreeMap::new();
        for (want, have) in profiles {
            let address = Address::TestProfile { agent: self.agent, name: want.name.clone() };
            let selected = self.selection.selects(&address);
            match have {
                None => {
                    let needed_by = diffs.iter().find(
                        |(_, _, d)| matches!(&d.test_profile, Some(TestProfileRef::Created(n)) if *n == want.name),
                    );
                    if !selected && needed_by.is_none() {
                        continue;
                    }
                    if let (false, Some((ev, _, _))) = (selected, needed_by) {
                        self.b.note(
                            Some(address.clone()),
                            format!("created although not selected: evaluator \"{}\" uses it", ev.name),
                        );
                    }
                    let information = want.information.clone().unwrap_or_else(empty_information);
                    let fields = information_changes(None, Some(&information));
                    let call = Call::CreateTestProfile { agent: self.agent, name: want.name.clone(), information };
                    let op = self.b.op(call, [], vec![address.clone()]);
                    self.b.change(address, Action::Create, None, fields);
                    ops.insert(want.name.clone(), op);
                }
                Some(remote) if selected => {
                    let rename = (remote.name != want.name).then(|| want.name.clone());
                    let wanted = keep_unmanaged_sections(want, remote, &self.want.unmanaged_sections);
                    let info = wanted.filter(|w| Some(w) != remote.information.as_ref());
                    if rename.is_none() && info.is_none() {
                        continue;
                    }
                    let mut fields = Vec::new();
                    if let Some(n) = &rename {
                        fields.push(FieldChange {
                            field: "name".into(),
                            before: Some(FieldValue::Text(remote.name.clone().into())),
                            after: Some(FieldValue::Text(n.clone().into())),
                        });
                    }
                    if let Some(i) = &info {
                        fields.extend(information_changes(remote.information.as_ref(), Some(i)));
                    }
                    let id = remote.id.unwrap_or_default();
                    self.b.op(
                        Call::UpdateTestProfile { id, name: rename, information: info },
                        [],
                        vec![address.clone()],
                    );
                    self.b.change(address, Action::Update, Some(id.to_string()), fields);
                }
                Some(_) => {}
            }
        }
        ops
    }

    /// `taken`: evaluators a folder deletion takes with it (not deleted one by one).
    fn plan_deletes(
        &mut self,
        orphans: &[&Evaluator],
        profiles: &[(&TestProfile, Option<&TestProfile>)],
        taken: &BTreeSet<u64>,
    ) {
        // Only what evalform created or adopted (it carries the ownership tag); anything made by hand stays, listed.
        let (owned, by_hand): (Vec<&Evaluator>, Vec<&Evaluator>) =
            orphans.iter().partition(|r| r.id.is_some_and(|id| self.have.owned.contains(&id)));
        for r in by_hand {
            let address = self.evaluator_address(&r.name);
            if self.selection.selects(&address) {
                let note = format!("prune leaves it: evalform did not create or adopt it (no tag {OWNERSHIP_TAG:?})");
                self.b.unmanaged.push(Unmanaged {
                    address,
                    remote_id: r.id.map(|id| id.to_string()),
                    note: Some(note),
                });
            }
        }
        let doomed: Vec<(u64, Address)> = owned
            .iter()
            .filter_map(|r| r.id.map(|id| (id, self.evaluator_address(&r.name))))
            .filter(|(id, a)| !taken.contains(id) && self.selection.selects(a))
            .collect();
        for chunk in doomed.chunks(self.batch_size) {
            let ids = chunk.iter().map(|(id, _)| *id).collect();
            let touches = chunk.iter().map(|(_, a)| a.clone()).collect();
            self.b.op(Call::DeleteEvaluators { agent: self.agent, ids }, [], touches);
            for (id, address) in chunk {
                self.b.change(address.clone(), Action::Delete, Some(id.to_string()), Vec::new());
            }
        }
        // A test profile has no field evalform could mark it with (only a name and the variables its agents see),
        // so evalform cannot tell the profiles it made from a person's: prune leaves every one of them.
        let kept: BTreeSet<u64> = profiles.iter().filter_map(|(_, r)| r.and_then(|r| r.id)).collect();
        for remote in &self.have.test_profiles {
            let Some(id) = remote.id.filter(|id| !kept.contains(id)) else { continue };
            let address = Address::TestProfile { agent: self.agent, name: remote.name.clone() };
            if self.selection.selects(&address) {
                let note = "prune leaves test profiles: the platform has no field to mark one as evalform's";
                self.b.unmanaged.push(Unmanaged { address, remote_id: Some(id.to_string()), note: Some(note.into()) });
            }
        }
    }
}

/// `path` (unless empty) and every parent of it.
/// The platform folders of the agent's declared evaluators that this plan does not move (no `folder`, `folder` in
/// `ignore_changes`, or not selected), matched by id pin, name, or an earlier name. The agent's own planner finds
/// the same more exactly; this is for the other agents of the project.
fn staying_folders<'a>(
    agent: AgentId,
    want: &'a AgentState,
    have: &'a AgentState,
    selection: &'a Selection,
) -> impl Iterator<Item = &'a str> + 'a {
    // Indexed once: a lookup per declared evaluator would be quadratic at 10,000.
    let mut by_name: BTreeMap<&str, &Evaluator> = BTreeMap::new();
    let mut by_id: BTreeMap<u64, &Evaluator> = BTreeMap::new();
    for r in &have.evaluators {
        by_name.entry(r.name.as_str()).or_insert(r);
        if let Some(id) = r.id {
            by_id.insert(id, r);
        }
    }
    want.evaluators.iter().filter_map(move |w| {
        // Cheap test first: an evaluator with a managed `folder` moves unless unselected.
        let manages_folder = w.spec.folder.is_some() && !w.ignore_changes.contains(&crate::model::Field::Folder);
        let address = || Address::Evaluator { agent, name: w.name.clone() };
        if manages_folder && selection.selects(&address()) {
            return None;
        }
        let found = match w.id {
            Some(id) => by_id.get(&id).copied(),
            None => by_name.get(w.name.as_str()).copied().or_else(|| {
                let earlier = want.renamed_from.get(&address()).map(Vec::as_slice).unwrap_or_default();
                earlier.iter().find_map(|old| by_name.get(old.as_str()).copied())
            }),
        };
        found.and_then(|r| r.spec.folder.as_deref())
    })
}

fn add_with_parents_set(set: &mut BTreeSet<String>, path: &str) {
    let mut prefix = String::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        if !prefix.is_empty() {
            prefix.push('.');
        }
        prefix.push_str(part);
        set.insert(prefix.clone());
    }
}

fn add_with_parents(wanted: &mut BTreeMap<String, Option<String>>, path: &str, needed_by: Option<&str>) {
    let mut prefix = String::new();
    for part in path.split('.') {
        if !prefix.is_empty() {
            prefix.push('.');
        }
        prefix.push_str(part);
        let entry = wanted.entry(prefix.clone()).or_insert(None);
        if entry.is_none() {
            *entry = needed_by.map(str::to_string);
        }
    }
}

/// The desired variables of a profile, with each section the manifest does not mention taken from the platform:
/// the platform replaces `information` whole, so an unmentioned section must be sent as it is to stay as it is.
fn keep_unmanaged_sections(
    want: &TestProfile,
    remote: &TestProfile,
    unmanaged: &BTreeSet<(String, String)>,
) -> Option<Information> {
    let mut info = want.information.clone()?;
    if let (
        Information::Sectioned { main_agent_variables, testing_agent_variables },
        Some(Information::Sectioned { main_agent_variables: have_main, testing_agent_variables: have_testing }),
    ) = (&mut info, &remote.information)
    {
        let kept = |section: &str| unmanaged.contains(&(want.name.clone(), section.to_string()));
        if kept("main_agent_variables") {
            main_agent_variables.clone_from(have_main);
        }
        if kept("testing_agent_variables") {
            testing_agent_variables.clone_from(have_testing);
        }
    }
    Some(info)
}

fn empty_information() -> Information {
    Information::Sectioned { main_agent_variables: BTreeMap::new(), testing_agent_variables: BTreeMap::new() }
}

/// Test profile variables flattened to `main_agent_variables.NAME` / `testing_agent_variables.NAME` /
/// `variables.NAME` (the legacy flat dict), for field-level changes.
fn flatten(info: Option<&Information>) -> BTreeMap<String, Text> {
    let mut out = BTreeMap::new();
    match info {
        Some(Information::Sectioned { main_agent_variables, testing_agent_variables }) => {
            for (k, v) in main_agent_variables {
                out.insert(format!("main_agent_variables.{k}"), v.clone());
            }
            for (k, v) in testing_agent_variables {
                out.insert(format!("testing_agent_variables.{k}"), v.clone());
            }
        }
        Some(Information::Flat(map)) => {
            for (k, v) in map {
                out.insert(format!("variables.{k}"), v.clone());
            }
        }
        None => {}
    }
    out
}

pub(crate) fn information_changes(before: Option<&Information>, after: Option<&Information>) -> Vec<FieldChange> {
    map_changes(&flatten(before), &flatten(after))
}

/// Per key of two string maps, the keys whose value differs.
pub(crate) fn map_changes(before: &BTreeMap<String, Text>, after: &BTreeMap<String, Text>) -> Vec<FieldChange> {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| FieldChange {
            field: k.clone(),
            before: before.get(k).cloned().map(FieldValue::Text),
            after: after.get(k).cloned().map(FieldValue::Text),
        })
        .collect()
}

/// The PATCH (or create) body for the fields a single-evaluator write carries. `create` keeps folders out
/// (the caller sets `folder_path` only when non-empty) and is otherwise the same.
fn patch_body(d: &EvaluatorDiff, create: bool) -> EvaluatorBody {
    let mut body = EvaluatorBody {
        name: d.name.clone(),
        personality: d.personality,
        expected_outcome_prompt: d.expected_outcome.clone(),
        metrics: d.metrics.as_ref().map(|m| m.full.iter().copied().collect()),
        tags: d.tags.as_ref().map(|t| t.iter().cloned().collect()),
        tool_ids: d.tools.as_ref().map(|t| t.iter().cloned().collect()),
        test_profile: d.test_profile.clone(),
        phone_number: d.phone_number,
        folder_path: if create { None } else { d.folder.clone() },
        ..EvaluatorBody::default()
    };
    // A PATCH of instructions alone does not send `scenario_type`, a field it leaves as it is; a create, a change
    // of kind, and every flow (the API takes `conditional_actions` only beside its type) do.
    let kind_changes = create || d.script.as_ref().is_some_and(|s| s.kind_changes);
    match d.script.as_ref().map(|s| &s.to) {
        Some(Script::Text(t)) => {
            body.scenario_type = kind_changes.then(|| "instruction".into());
            body.instructions = Some(t.clone());
        }
        Some(Script::Flow(flow)) => {
            body.scenario_type = Some("conditional_actions".into());
            body.conditional_actions = Some(flow.clone());
        }
        None => {}
    }
    body
}

/// The adds of metrics this plan creates, which only `adv_update` can carry (by the ids their creates answer).
fn created_metric_atoms(d: &EvaluatorDiff) -> impl Iterator<Item = Atom> + '_ {
    d.metrics.iter().flat_map(|m| m.add_created.iter().cloned().map(Atom::MetricAddCreated))
}

type BulkGroup = (Vec<EvaluatorRef>, Vec<EvaluatorRef>, Vec<Address>, BTreeSet<usize>, BTreeSet<Atom>);

/// Group the bulk work into as few `adv_update` calls as possible. Two groupings are computed and the smaller
/// kept: one call per distinct set of atoms (evaluators that need exactly the same changes), or one call per
/// distinct set of evaluators (atoms that apply to exactly the same evaluators). Groups over `batch_size` are
/// split. Each evaluator's atoms are distinct fields or distinct metric ids, so a call never carries two values
/// of one field.
fn group_bulk(items: &[BulkItem], batch_size: usize) -> Vec<BulkGroup> {
    // (i) by evaluator signature
    // Sorted vectors of distinct atoms compare as the sets they hold.
    let mut by_signature: BTreeMap<&[Atom], Vec<&BulkItem>> = BTreeMap::new();
    for item in items {
        by_signature.entry(&item.atoms).or_default().push(item);
    }
    let by_signature: Vec<(BTreeSet<Atom>, Vec<&BulkItem>)> =
        by_signature.into_iter().map(|(atoms, items)| (atoms.iter().cloned().collect(), items)).collect();
    // (ii) by evaluator set
    let mut holders: BTreeMap<&Atom, BTreeSet<usize>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        for atom in &item.atoms {
            holders.entry(atom).or_default().insert(i);
        }
    }
    let mut by_set: BTreeMap<BTreeSet<usize>, BTreeSet<Atom>> = BTreeMap::new();
    for (atom, set) in holders {
        by_set.entry(set).or_default().insert(atom.clone());
    }
    let by_set: Vec<(BTreeSet<Atom>, Vec<&BulkItem>)> =
        by_set.into_iter().map(|(set, atoms)| (atoms, set.into_iter().map(|i| &items[i]).collect())).collect();

    let calls = |groups: &[(BTreeSet<Atom>, Vec<&BulkItem>)]| -> usize {
        groups.iter().map(|(_, members)| members.len().div_ceil(batch_size)).sum()
    };
    let chosen = if calls(&by_set) < calls(&by_signature) { by_set } else { by_signature };

    let mut out = Vec::new();
    for (atoms, members) in chosen {
        for chunk in members.chunks(batch_size) {
            let refs: Vec<EvaluatorRef> = chunk.iter().map(|m| m.target.clone()).collect();
            let touches = chunk.iter().map(|m| m.address.clone()).collect();
            let deps = chunk.iter().flat_map(|m| m.deps.iter().copied()).collect();
            out.push((refs.clone(), refs, touches, deps, atoms.clone()));
        }
    }
    out
}

fn bulk_call(agent: AgentId, scenarios: Vec<EvaluatorRef>, atoms: &BTreeSet<Atom>) -> BulkUpdate {
    // Every listed evaluator was fetched for this agent or is created for it here, so `agent` moves nothing.
    let mut call = BulkUpdate { scenarios, scope: BulkScope::Agent(agent), ..BulkUpdate::default() };
    for atom in atoms {
        match atom {
            Atom::MetricAdd(id) => {
                call.metric_ids_to_add.insert(*id);
            }
            Atom::MetricRemove(id) => {
                call.metric_ids_to_remove.insert(*id);
            }
            Atom::MetricAddCreated(name) => {
                call.created_metrics_to_add.insert(name.clone());
            }
            Atom::Personality(v) => call.personality = Some(*v),
            Atom::TestProfile(v) => call.test_profile = Some(v.clone()),
            Atom::Append(v) => call.append_instruction = Some(v.clone()),
            Atom::FirstMessage(v) => call.first_message = Some(v.clone()),
            Atom::PhoneNumber(v) => call.phone_number = Some(*v),
            Atom::Folder(v) => call.folder_path = Some(v.clone()),
            Atom::MaxDuration(v) => call.max_duration = Some(*v),
        }
    }
    call
}
