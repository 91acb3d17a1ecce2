//! Folder renames and moves (`folders: [{path: NEW, renamed_from: [OLD]}]`): a platform folder of an earlier path is
//! the declared folder, renamed (`rename_folder`) or moved (`move_folder`) with one call, its subfolders and
//! evaluators following on the platform. The planner compares evaluators with the platform *as it will be after the
//! rename*, so nothing moves evaluator by evaluator. Renames are made one at a time, each from where the ones before
//! it left its folder, once per project however many agents declare them, and every agent of the project plans on
//! the folders as they leave them. The folders no manifest uses are deleted under
//! `prune_folders` when that takes nothing but what `prune` deletes anyway (a folder that also holds other agents'
//! evaluators, after the calls of their plans that delete them or move them out), and otherwise listed as not
//! managed, once per project. Pure, like the rest of the planner.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::build::Builder;
use super::{Action, Call, FieldChange, FieldValue, PlanError, Unmanaged};
use crate::model::{Address, AgentId, AgentState, Evaluator, Text};

/// Folder renames as (platform path, declared path).
pub(super) type Renames = Vec<(String, String)>;

/// What the agents of one project share about its folders while they are planned one after another.
#[derive(Debug, Default)]
pub(super) struct ProjectFolders {
    /// The folder renames of every agent of the project, in the order they are made: every agent of the project
    /// plans on the platform as they leave it.
    pub renames: Renames,
    /// The same as they are made, each from where the ones before it leave its folder.
    pub steps: Vec<RenameStep>,
    /// The renames planned so far, (platform path, declared path), each with the last call that makes it: a rename
    /// several agents declare is made once.
    pub renames_planned: BTreeMap<(String, String), Option<usize>>,
    /// Each rename, (platform path, declared path), with the first agent that declares it: the rename is its.
    pub declared_by: BTreeMap<(String, String), AgentId>,
    /// The folders an agent planned before deletes: deleted once.
    pub deleted: BTreeSet<String>,
    /// The deletions that wait for other agents' operations, settled once every agent is planned.
    pub pending: Vec<PendingDelete>,
}

/// `path` after the folder `from` (and everything under it) moved to `to`.
pub fn moved(path: &str, from: &str, to: &str) -> String {
    if path == from {
        return to.to_string();
    }
    match path.strip_prefix(from).and_then(|rest| rest.strip_prefix('.')) {
        Some(rest) => format!("{to}.{rest}"),
        None => path.to_string(),
    }
}

/// Whether `path` is the folder `folder` or one under it.
pub fn within(path: &str, folder: &str) -> bool {
    path.strip_prefix(folder).is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// The renames to make, as (platform path, declared path): a declared folder the platform does not have under its
/// path, while it has one of its earlier paths (the first found, in the order written). In the order they are made:
/// shallower declared paths first (a folder moving into a renamed parent waits for it), then outer platform paths.
pub fn renames(want: &AgentState, have: &AgentState) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (new, earlier) in &want.folder_renames {
        if have.folders.contains(new) {
            continue;
        }
        if let Some(old) = earlier.iter().find(|old| have.folders.contains(*old)) {
            out.push((old.clone(), new.clone()));
        }
    }
    out.sort_by_key(|(old, new)| (depth(new), depth(old)));
    out
}

fn depth(path: &str) -> usize {
    path.matches('.').count()
}

/// One rename as it is made: `old` is the platform path the manifests name, `from` where that folder is once the
/// renames before it are made (a child of a renamed parent has moved with it), `to` the declared path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenameStep {
    pub old: String,
    pub from: String,
    pub to: String,
}

/// The renames in the order they are made, each from where the ones before it leave its folder.
pub fn rename_steps(renames: &[(String, String)]) -> Vec<RenameStep> {
    let mut out: Vec<RenameStep> = Vec::new();
    for (old, new) in renames {
        let from = out.iter().fold(old.clone(), |path, s| moved(&path, &s.from, &s.to));
        out.push(RenameStep { old: old.clone(), from, to: new.clone() });
    }
    out
}

/// Where a folder at `path` once every rename is made was on the platform before them.
pub fn platform_path(path: &str, steps: &[RenameStep]) -> String {
    steps.iter().rev().fold(path.to_string(), |p, s| moved(&p, &s.to, &s.from))
}

/// Where a platform folder is once every rename is made.
fn renamed(path: &str, steps: &[RenameStep]) -> String {
    steps.iter().fold(path.to_string(), |p, s| moved(&p, &s.from, &s.to))
}

/// The renames of several agents of a project in the order they are made, each once.
pub(super) fn project_renames(renames: &[(String, String)]) -> Renames {
    let mut renames = renames.to_vec();
    renames.sort_by(|(o1, n1), (o2, n2)| (depth(n1), depth(o1), o1, n1).cmp(&(depth(n2), depth(o2), o2, n2)));
    renames.dedup();
    renames
}

/// The paths of `folders` once the renames are made, of those a rename moves. `renames` may come from several
/// agents of a project: each agent's, in its order.
pub(super) fn after_renaming(folders: &BTreeSet<String>, renames: &[(String, String)]) -> Vec<String> {
    let steps = rename_steps(&project_renames(renames));
    folders.iter().map(|f| renamed(f, &steps)).filter(|f| !folders.contains(f)).collect()
}

/// The platform agent as it will be once `renames` are made: folders and evaluators' folders moved.
pub fn after_renames(have: &AgentState, renames: &[(String, String)]) -> AgentState {
    let steps = rename_steps(renames);
    let mut out = have.clone();
    out.folders = out.folders.iter().map(|f| renamed(f, &steps)).collect();
    for e in &mut out.evaluators {
        if let Some(f) = &mut e.spec.folder {
            *f = renamed(f, &steps);
        }
    }
    out
}

fn split(path: &str) -> (Option<&str>, &str) {
    match path.rsplit_once('.') {
        Some((parent, leaf)) => (Some(parent), leaf),
        None => (None, path),
    }
}

/// The calls of one rename: a move when the parent changes, a rename when the last segment does (both, move
/// first), from where the renames before it left the folder. Each waits for the rename before it (`last`: renames
/// of one agent are made one at a time, as each may move the folder of another) and for the creation or rename of
/// its new parent (`folder_ops`); the declared path and every folder under it (in `after`, the platform once every
/// rename is made) are then entered in `folder_ops`, so that what goes into them waits for the rename. Returns the
/// last call of the rename.
#[allow(clippy::too_many_arguments)]
pub(super) fn plan_rename(
    agent: AgentId,
    project: Option<u64>,
    step: &RenameStep,
    after: &AgentState,
    folder_ops: &mut BTreeMap<String, usize>,
    last: &mut Option<usize>,
    b: &mut Builder,
    errors: &mut Vec<PlanError>,
) -> Option<usize> {
    let RenameStep { old, from, to } = step;
    let address = Address::Folder { agent, path: to.clone() };
    let Some(project) = project else {
        errors.push(PlanError::MissingProject { address });
        return None;
    };
    let ((from_parent, from_leaf), (to_parent, to_leaf)) = (split(from), split(to));
    let mut deps: Vec<usize> = to_parent.and_then(|p| folder_ops.get(p)).copied().into_iter().collect();
    deps.extend(*last);
    let mut path = from.clone();
    let mut made = None;
    if from_parent != to_parent {
        let call = Call::MoveFolder { project, path: path.clone(), new_parent_path: to_parent.map(str::to_string) };
        let op = b.op(call, deps.clone(), vec![address.clone()]);
        deps = vec![op];
        made = Some(op);
        path = match to_parent {
            Some(p) => format!("{p}.{from_leaf}"),
            None => from_leaf.to_string(),
        };
    }
    if from_leaf != to_leaf {
        let op = b.op(Call::RenameFolder { project, path, name: to_leaf.to_string() }, deps, vec![address.clone()]);
        made = Some(op);
    }
    let field = FieldChange {
        field: "path".into(),
        before: Some(FieldValue::Text(Text::new(old.clone()))),
        after: Some(FieldValue::Text(Text::new(to.clone()))),
    };
    b.change(address, Action::Update, None, vec![field]);
    if let Some(op) = made {
        *last = Some(op);
        for f in after.folders.iter().filter(|f| within(f, to)) {
            folder_ops.insert(f.clone(), op);
        }
    }
    made
}

/// A folder `prune_folders` deletes: its path and the evaluators it takes with it (id, name), every one an evaluator
/// `prune` deletes anyway.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FolderDelete {
    pub path: String,
    pub evaluators: Vec<(u64, String)>,
}

/// Why an evaluator inside a folder keeps the folder, or `None` when evalform would delete it itself.
fn keeps_folder(e: &Evaluator, have: &AgentState, prune: bool, selected: bool) -> Option<&'static str> {
    let owned = e.id.is_some_and(|id| have.owned.contains(&id));
    if !owned {
        Some("made by hand (no tag \"managed-by:evalform\")")
    } else if !prune {
        Some("evalform's, but `prune` is off, so evalform does not delete it")
    } else if !selected {
        Some("not selected by --target/--exclude")
    } else {
        None
    }
}

/// A folder `prune_folders` deletes once other operations of this plan have emptied it: evaluators of other agents
/// of the project in it, which their own plans delete or move out, and this agent's own ones, which `prune` then
/// deletes one by one. Settled by [`plan_pending_deletes`] once every agent is planned.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PendingDelete {
    pub agent: AgentId,
    pub project: Option<u64>,
    pub path: String,
    /// Every evaluator inside, once the declared ones moved out: (id, how a note names it).
    pub inside: Vec<(u64, String)>,
    /// The operations the deletion waits for whatever happens to the evaluators (the agent's own, the renames).
    pub after: Vec<usize>,
}

/// What `prune_folders` does with the folders no manifest uses: the ones it deletes with what they hold, and the ones
/// that wait for other agents' plans to empty them.
#[derive(Debug, Default)]
pub(super) struct FolderDeletes {
    pub now: Vec<FolderDelete>,
    pub pending: Vec<PendingDelete>,
}

fn quoted(name: &str) -> String {
    serde_json::to_string(name).unwrap_or_default()
}

/// Under `prune_folders: true`, the folders to delete: the outermost platform folders no manifest uses (`used` holds
/// every folder a manifest of the project declares or puts an evaluator in, with its parents), whose evaluators,
/// once the declared ones have moved out, are all ones `prune` deletes (`orphans`: the agent's evaluators no
/// manifest declares). A folder holding anything else is kept, with a note naming what keeps it. A folder that also
/// holds evaluators of another read agent of the project (`others`) is pending: deleted after the operations of
/// this plan that take them out, if there are such (see [`plan_pending_deletes`]). `selects` says whether
/// `--target`/`--exclude` select an address.
#[allow(clippy::too_many_arguments)]
pub(super) fn folder_deletes(
    agent: AgentId,
    want: &AgentState,
    have: &AgentState,
    used: &BTreeSet<String>,
    orphans: &[&Evaluator],
    others: &[&AgentState],
    steps: &[RenameStep],
    selects: &dyn Fn(&Address) -> bool,
    b: &mut Builder,
) -> FolderDeletes {
    let unused: Vec<&String> = have.folders.iter().filter(|f| !used.contains(*f)).collect();
    // The outermost only: a subfolder goes with its parent.
    let outermost = unused.iter().filter(|f| !unused.iter().any(|p| *p != **f && within(f, p)));
    let mut out = FolderDeletes::default();
    for path in outermost {
        let address = Address::Folder { agent, path: (*path).clone() };
        // An excluded subfolder would go with its parent: the exclusion wins, and the parent stays.
        let excluded_inside =
            unused.iter().any(|f| within(f, path) && !selects(&Address::Folder { agent, path: (*f).clone() }));
        if !selects(&address) || excluded_inside {
            continue;
        }
        let mut taken = Vec::new();
        let mut kept = Vec::new();
        for e in orphans.iter().filter(|e| e.spec.folder.as_deref().is_some_and(|f| within(f, path))) {
            let selected = selects(&Address::Evaluator { agent, name: e.name.clone() });
            match keeps_folder(e, have, want.prune, selected) {
                None => taken.push((e.id.unwrap_or_default(), e.name.clone())),
                Some(why) => kept.push(format!("{} (id {}): {why}", quoted(&e.name), e.id.unwrap_or_default())),
            }
        }
        // Another agent's evaluator in it (where it will be once the project's renames are made) is that agent's
        // plan's to move or prune: the deletion waits for the operation that takes it out.
        let mut theirs = Vec::new();
        for other in others {
            for e in &other.evaluators {
                let Some(folder) = e.spec.folder.as_deref() else { continue };
                if within(&renamed(folder, steps), path) {
                    let id = e.id.unwrap_or_default();
                    theirs.push((id, format!("{} (id {id}) of agent {}", quoted(&e.name), other.agent)));
                }
            }
        }
        if kept.is_empty() && theirs.is_empty() {
            out.now.push(FolderDelete { path: (*path).clone(), evaluators: taken });
        } else if kept.is_empty() {
            let mut inside: Vec<(u64, String)> = taken
                .into_iter()
                .map(|(id, name)| (id, format!("{} (id {id}) of agent {agent}", quoted(&name))))
                .collect();
            inside.extend(theirs);
            out.pending.push(PendingDelete {
                agent,
                project: want.project.or(have.project),
                path: (*path).clone(),
                inside,
                after: Vec::new(),
            });
        } else {
            kept.extend(theirs.into_iter().map(|(_, label)| format!("{label}: another agent's")));
            b.note(
                Some(address),
                format!(
                    "prune_folders keeps this folder, which no manifest uses: deleting it would delete evaluators \
                     evalform does not delete: {}",
                    kept.join("; ")
                ),
            );
        }
    }
    out
}

/// What the plan does to an evaluator: the operations that delete it (`None`) or move it to a folder (`Some`, `""`
/// for out of every folder), in plan order.
type Removals = HashMap<u64, Vec<(usize, Option<String>)>>;

/// [`Removals`] of the evaluators `wanted`, built in one pass over the operations, so that finding what takes each
/// evaluator out of a folder does not walk every operation for every evaluator.
fn removals(operations: &[super::Operation], wanted: &HashSet<u64>) -> Removals {
    let mut out = Removals::new();
    let mut add = |id: u64, op: usize, to: Option<&str>| {
        if wanted.contains(&id) {
            out.entry(id).or_default().push((op, to.map(str::to_string)));
        }
    };
    for op in operations {
        match &op.call {
            Call::DeleteEvaluators { ids, .. } => ids.iter().for_each(|id| add(*id, op.id, None)),
            Call::DeleteFolder { evaluators, .. } => evaluators.iter().for_each(|id| add(*id, op.id, None)),
            Call::BulkUpdate(bulk) => {
                if let Some(to) = bulk.folder_path.as_deref() {
                    for r in &bulk.scenarios {
                        if let super::EvaluatorRef::Id(id) = r {
                            add(*id, op.id, Some(to));
                        }
                    }
                }
            }
            Call::PatchEvaluator { evaluator: super::EvaluatorRef::Id(id), body } => {
                if let Some(to) = body.folder_path.as_deref() {
                    add(*id, op.id, Some(to));
                }
            }
            _ => {}
        }
    }
    out
}

/// The operation of the plan that takes the evaluator `id` out of the folder `path`: deletes it (alone or with
/// another folder) or moves it to a folder outside. The last such, when several do.
fn taking_out(removals: &Removals, id: u64, path: &str) -> Option<usize> {
    let ops = removals.get(&id)?;
    ops.iter().rev().find(|(_, to)| to.as_deref().is_none_or(|f| !within(f, path))).map(|(op, _)| *op)
}

/// Once every agent is planned: each pending deletion is made when every evaluator inside is taken out by an
/// operation of the plan, after those operations; then it is the deletion of an empty folder, once per project
/// (a folder a deletion of the plan already takes is not deleted again). Otherwise the folder is kept, with a note
/// naming the evaluators that stay, and a later plan that finds it empty deletes it.
pub(super) fn plan_pending_deletes(mut pending: Vec<PendingDelete>, b: &mut Builder, errors: &mut Vec<PlanError>) {
    // Outer folders first: a subfolder then goes with its parent.
    pending.sort_by(|x, y| {
        (x.project, depth(&x.path), &x.path, x.agent).cmp(&(y.project, depth(&y.path), &y.path, y.agent))
    });
    // The calls that take evaluators out: those of the agents' plans (the deletions added below take none).
    let inside: HashSet<u64> = pending.iter().flat_map(|p| p.inside.iter().map(|(id, _)| *id)).collect();
    let removals = removals(&b.operations, &inside);
    for PendingDelete { agent, project, path, inside, after } in pending {
        let address = Address::Folder { agent, path: path.clone() };
        let Some(project) = project else {
            errors.push(PlanError::MissingProject { address });
            continue;
        };
        let gone = b.operations.iter().any(|op| {
            matches!(&op.call, Call::DeleteFolder { project: p, path: q, .. } if *p == project && within(&path, q))
        });
        if gone {
            continue;
        }
        let mut deps = after;
        let mut staying = Vec::new();
        for (id, label) in &inside {
            match taking_out(&removals, *id, &path) {
                Some(op) => deps.push(op),
                None => staying.push(label.as_str()),
            }
        }
        if staying.is_empty() {
            b.op(Call::DeleteFolder { project, path, evaluators: Vec::new() }, deps, vec![address.clone()]);
            b.change(address, Action::Delete, None, Vec::new());
        } else {
            b.note(
                Some(address),
                format!(
                    "prune_folders keeps this folder, which no manifest uses, while it holds evaluators of other \
                     agents that this plan does not delete or move out (a later plan deletes it once they are \
                     out): {}",
                    staying.join("; ")
                ),
            );
        }
    }
}

/// The calls and changes of the folder deletions: one `delete_folder` each (once per project), after every
/// operation of the agent planned before it (`after`: the moves of declared evaluators out of it among them). The change lists every
/// evaluator it takes with it, each of which also shows as deleted.
pub(super) fn plan_folder_deletes(
    agent: AgentId,
    project: Option<u64>,
    deletes: Vec<FolderDelete>,
    after: Vec<usize>,
    deleted: &mut BTreeSet<String>,
    b: &mut Builder,
    errors: &mut Vec<PlanError>,
) {
    for FolderDelete { path, evaluators } in deletes {
        // Deleted by an agent of the project planned before: it held no evaluator of this agent (it would have kept
        // the folder), so there is nothing left to do.
        if evaluators.is_empty() && !deleted.insert(path.clone()) {
            continue;
        }
        let address = Address::Folder { agent, path: path.clone() };
        let Some(project) = project else {
            errors.push(PlanError::MissingProject { address });
            continue;
        };
        let mut touches = vec![address.clone()];
        touches.extend(evaluators.iter().map(|(_, name)| Address::Evaluator { agent, name: name.clone() }));
        let ids = evaluators.iter().map(|(id, _)| *id).collect();
        b.op(Call::DeleteFolder { project, path: path.clone(), evaluators: ids }, after.clone(), touches);
        let listed: BTreeSet<String> = evaluators
            .iter()
            .map(|(id, name)| format!("{} (id {id})", serde_json::to_string(name).unwrap_or_default()))
            .collect();
        // An empty folder takes nothing with it: its change is the deletion alone.
        let fields = (!listed.is_empty()).then(|| FieldChange {
            field: "evaluators".into(),
            before: Some(FieldValue::Set(listed)),
            after: None,
        });
        b.change(address, Action::Delete, None, fields.into_iter().collect());
        for (id, name) in evaluators {
            b.change(Address::Evaluator { agent, name }, Action::Delete, Some(id.to_string()), Vec::new());
        }
    }
}

/// What one agent's planner saw of its project's folders, for [`list_unused`]: the platform's folders (after the
/// planned renames), the folders in use (declared by a manifest of the project, or where a declared evaluator of
/// this agent will be), and where this agent's undeclared evaluators are (id, folder).
#[derive(Debug, Clone, Default)]
pub(super) struct FolderView {
    pub agent: AgentId,
    pub project: Option<u64>,
    pub folders: BTreeSet<String>,
    pub used: BTreeSet<String>,
    pub undeclared: Vec<(u64, String)>,
}

/// List as not managed every folder of a project that no manifest loaded uses and that this plan neither deletes
/// nor speaks of (`prune_folders` does, in its notes): the outermost one, once per project, under the first agent
/// of the project whose address `--target`/`--exclude` select, with how many evaluators of the agents read are in
/// it once the plan is applied; a folder that holds none of them is left out. Only the evaluators of the agents the manifests name are read, and manifests of
/// other agents of the project may not be loaded: the note says both. Adds no read and no change.
pub(super) fn list_unused(views: &[FolderView], selects: &dyn Fn(&Address) -> bool, b: &mut Builder) {
    let mut projects: BTreeMap<u64, Vec<&FolderView>> = BTreeMap::new();
    for v in views {
        if let Some(project) = v.project {
            projects.entry(project).or_default().push(v);
        }
    }
    // Evaluators this plan deletes (one by one or with a folder) are not in any folder afterwards.
    let deleted: BTreeSet<u64> = b
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete && matches!(c.address, Address::Evaluator { .. }))
        .filter_map(|c| c.remote_id.as_deref().and_then(|id| id.parse().ok()))
        .collect();
    for (project, views) in &projects {
        let agents: BTreeSet<AgentId> = views.iter().map(|v| v.agent).collect();
        // Folders the plan creates, renames, deletes or notes (a folder `prune_folders` keeps) are spoken of.
        let spoken: BTreeSet<&str> = b
            .changes
            .iter()
            .map(|c| &c.address)
            .chain(b.notes.iter().filter_map(|n| n.address.as_ref()))
            .filter_map(|a| match a {
                Address::Folder { agent, path } if agents.contains(agent) => Some(path.as_str()),
                _ => None,
            })
            .collect();
        // A folder every agent's planner saw (a rename planned for one agent hides the old path from the others).
        let mut folders = views[0].folders.clone();
        for v in &views[1..] {
            folders.retain(|f| v.folders.contains(f));
        }
        let used: BTreeSet<&String> = views.iter().flat_map(|v| &v.used).collect();
        let unused: Vec<&String> =
            folders.iter().filter(|f| !used.contains(f) && !spoken.iter().any(|s| within(f, s))).collect();
        for path in unused.iter().filter(|f| !unused.iter().any(|p| *p != **f && within(f, p))) {
            let Some(agent) =
                views.iter().map(|v| v.agent).find(|a| selects(&Address::Folder { agent: *a, path: (*path).clone() }))
            else {
                continue;
            };
            let subfolders = folders.iter().filter(|f| *f != *path && within(f, path)).count();
            let inside = views
                .iter()
                .flat_map(|v| &v.undeclared)
                .filter(|(id, folder)| within(folder, path) && !deleted.contains(id))
                .count();
            // A folder that holds none of the read agents' evaluators is, as far as this plan can tell, another
            // agent's (their evaluators are not read): listing every such folder made each plan of one agent
            // repeat its neighbours' folders. It changes nothing here; `prune_folders` still deletes it when empty.
            if inside == 0 {
                continue;
            }
            b.unmanaged.push(Unmanaged {
                address: Address::Folder { agent, path: (*path).clone() },
                remote_id: None,
                note: Some(unused_note(*project, subfolders, inside, &agents)),
            });
        }
    }
}

/// `no manifest here uses it; it holds 2 evaluators of agent 12 (other agents of project 1376 are not read)`.
fn unused_note(project: u64, subfolders: usize, evaluators: usize, agents: &BTreeSet<AgentId>) -> String {
    let what = match subfolders {
        0 => "it".to_string(),
        1 => "it or its subfolder".to_string(),
        n => format!("it or its {n} subfolders"),
    };
    let held = match evaluators {
        1 => "1 evaluator".to_string(),
        n => format!("{n} evaluators"),
    };
    let ids: Vec<String> = agents.iter().map(u64::to_string).collect();
    let of = match ids.as_slice() {
        [one] => format!("agent {one}"),
        [init @ .., last] => format!("agents {} and {last}", init.join(", ")),
        [] => "no agent".to_string(),
    };
    let place = if subfolders == 0 { "it" } else { "they" };
    format!(
        "no manifest here uses {what}; {place} {} {held} of {of} (other agents of project {project} are not read)",
        if subfolders == 0 { "holds" } else { "hold" }
    )
}

#[cfg(test)]
mod tests {
    use super::{moved, within};

    use std::collections::BTreeMap;

    use crate::model::{Address, AgentState, Evaluator, EvaluatorSpec, State};
    use crate::plan::{plan, Observed, PlanSettings};
    use crate::render;

    fn evaluator(id: Option<u64>, name: &str, folder: Option<&str>) -> Evaluator {
        Evaluator {
            id,
            name: name.into(),
            spec: EvaluatorSpec { folder: folder.map(str::to_string), ..EvaluatorSpec::default() },
            ignore_changes: Default::default(),
            source: None,
        }
    }

    #[test]
    fn prune_folders_spares_folders_another_agent_of_the_project_declares_or_a_declared_evaluator_stays_in() {
        let folders = |paths: &[&str]| paths.iter().map(|p| p.to_string()).collect();
        let mine = AgentState {
            agent: 101,
            prune: true,
            prune_folders: true,
            // Declared without a `folder`: it stays where it is, in `Kept`.
            evaluators: vec![evaluator(None, "Stays put", None)],
            ..AgentState::default()
        };
        let theirs = AgentState { agent: 202, folders: folders(&["Shared.Inner"]), ..AgentState::default() };
        let platform = |agent| AgentState {
            agent,
            project: Some(7),
            folders: folders(&["Kept", "Old", "Old.Deeper", "Shared", "Shared.Inner"]),
            evaluators: if agent == 101 { vec![evaluator(Some(1), "Stays put", Some("Kept"))] } else { vec![] },
            owned: [1].into(),
            ..AgentState::default()
        };
        let desired = State { agents: BTreeMap::from([(101, mine), (202, theirs)]), ..State::default() };
        let observed =
            State { agents: BTreeMap::from([(101, platform(101)), (202, platform(202))]), ..State::default() };
        let p =
            plan(&desired, &Observed { state: observed, catalogs: BTreeMap::new() }, &PlanSettings::default()).unwrap();
        let changes: Vec<String> = p.changes.iter().map(|c| format!("{:?} {}", c.action, c.address)).collect();
        assert_eq!(changes, ["Delete cekura.agent[101].folder[\"Old\"]"]);
    }

    /// 101 prunes folders; `Old` and `Old.Deeper` hold nothing of 101's. What 202 declares, and the settings, decide.
    fn deletes_with(
        theirs_declared: Vec<Evaluator>,
        theirs_on_platform: Vec<Evaluator>,
        settings: &PlanSettings,
    ) -> Vec<String> {
        let folders = |paths: &[&str]| paths.iter().map(|p| p.to_string()).collect();
        let mine = AgentState { agent: 101, prune: true, prune_folders: true, ..AgentState::default() };
        let theirs = AgentState { agent: 202, evaluators: theirs_declared, ..AgentState::default() };
        let platform = |agent, evaluators| AgentState {
            agent,
            project: Some(7),
            folders: folders(&["Old", "Old.Deeper"]),
            evaluators,
            ..AgentState::default()
        };
        let desired = State { agents: BTreeMap::from([(101, mine), (202, theirs)]), ..State::default() };
        let observed = State {
            agents: BTreeMap::from([(101, platform(101, vec![])), (202, platform(202, theirs_on_platform))]),
            ..State::default()
        };
        let p = plan(&desired, &Observed { state: observed, catalogs: BTreeMap::new() }, settings).unwrap();
        p.changes.iter().filter(|c| c.action == crate::plan::Action::Delete).map(|c| c.address.to_string()).collect()
    }

    #[test]
    fn prune_folders_spares_a_folder_another_agent_s_declared_evaluator_stays_in_and_an_excluded_subfolder() {
        let default = PlanSettings::default();
        assert_eq!(deletes_with(vec![], vec![], &default), ["cekura.agent[101].folder[\"Old\"]"]);
        // 202 declares an evaluator without `folder`: it stays in `Old.Deeper`, so `Old` is in use.
        let stays = || vec![evaluator(None, "Theirs", None)];
        let there = vec![evaluator(Some(2), "Theirs", Some("Old.Deeper"))];
        assert_eq!(deletes_with(stays(), there, &default), Vec::<String>::new());
        // Excluding the subfolder keeps its parent: the exclusion wins over the deletion that would take it.
        let settings = PlanSettings { excludes: vec!["cekura.agent[101].folder[\"Old.Deeper\"]".into()], ..default };
        assert_eq!(deletes_with(vec![], vec![], &settings), Vec::<String>::new());
    }

    fn unmanaged_lines(desired: &State, observed: State, settings: &PlanSettings) -> Vec<String> {
        let p = plan(desired, &Observed { state: observed, catalogs: BTreeMap::new() }, settings).unwrap();
        p.unmanaged.iter().filter(|u| u.address.to_string().contains(".folder[")).map(render::unmanaged_line).collect()
    }

    /// Agents 101 and 202 of project 7. The platform: `Used` (declared by 202), `Old` and `Old.Deeper` (101's
    /// undeclared evaluator 1 and 202's undeclared evaluator 2 in them), `Empty`.
    fn project_of_two(prune_folders_101: bool) -> (State, State) {
        let folders = |paths: &[&str]| paths.iter().map(|p| p.to_string()).collect();
        let mine = AgentState { agent: 101, prune: true, prune_folders: prune_folders_101, ..AgentState::default() };
        let theirs = AgentState { agent: 202, folders: folders(&["Used"]), ..AgentState::default() };
        let platform = |agent, evaluators| AgentState {
            agent,
            project: Some(7),
            folders: folders(&["Empty", "Old", "Old.Deeper", "Used"]),
            evaluators,
            ..AgentState::default()
        };
        let desired = State { agents: BTreeMap::from([(101, mine), (202, theirs)]), ..State::default() };
        let observed = State {
            agents: BTreeMap::from([
                (101, platform(101, vec![evaluator(Some(1), "Made by hand", Some("Old.Deeper"))])),
                (202, platform(202, vec![evaluator(Some(2), "Also by hand", Some("Old"))])),
            ]),
            ..State::default()
        };
        (desired, observed)
    }

    #[test]
    fn folders_no_loaded_manifest_uses_are_listed_once_per_project_with_what_they_hold() {
        let (desired, observed) = project_of_two(false);
        // `Empty` holds none of the read agents' evaluators: as far as the plan can tell it is another agent's, and
        // it is not listed.
        insta::assert_debug_snapshot!(unmanaged_lines(&desired, observed.clone(), &PlanSettings::default()), @r#"
        [
            "cekura.agent[101].folder[\"Old\"]: no manifest here uses it or its subfolder; they hold 2 evaluators of agents 101 and 202 (other agents of project 7 are not read)",
        ]
        "#);

        // With 202's manifests not loaded, its folder `Used` holds no evaluator of 101: a plan of 101 alone does not
        // list its neighbour's folders.
        let mut alone = desired.clone();
        alone.agents.remove(&202);
        let mut observed_alone = observed;
        observed_alone.agents.remove(&202);
        let lines = unmanaged_lines(&alone, observed_alone, &PlanSettings::default());
        assert_eq!(
            lines,
            ["cekura.agent[101].folder[\"Old\"]: no manifest here uses it or its subfolder; they hold 1 evaluator of \
              agent 101 (other agents of project 7 are not read)"]
        );

        // Not selected by --target/--exclude: not listed.
        let settings = PlanSettings { excludes: vec!["Old".into()], ..PlanSettings::default() };
        let lines = unmanaged_lines(&desired, project_of_two(false).1, &settings);
        assert!(lines.is_empty(), "{lines:?}");
    }

    #[test]
    fn folders_prune_folders_deletes_or_keeps_are_not_listed_again() {
        let (desired, observed) = project_of_two(true);
        let p =
            plan(&desired, &Observed { state: observed, catalogs: BTreeMap::new() }, &PlanSettings::default()).unwrap();
        // `Empty` is deleted; `Old` is kept with a note (it holds evaluators made by hand): neither is listed.
        let deleted: Vec<String> = p.changes.iter().map(|c| c.address.to_string()).collect();
        assert_eq!(deleted, ["cekura.agent[101].folder[\"Empty\"]"]);
        assert!(p.notes.iter().any(|n| n.message.starts_with("prune_folders keeps this folder")), "{:?}", p.notes);
        assert!(!p.unmanaged.iter().any(|u| matches!(u.address, Address::Folder { .. })), "{:?}", p.unmanaged);
    }

    /// Project 7: 101 renames `Old` to `New` (naming no subfolder); the platform has `Old`, `Old.Inner`, `Unused`.
    /// Which agent prunes folders is the argument. Returns the deletions, and each with the calls it waits for.
    fn deletes_around_a_rename(pruner: u64) -> Vec<String> {
        let folders = |paths: &[&str]| paths.iter().map(|p| p.to_string()).collect();
        let mut mine = AgentState { agent: 101, prune: true, folders: folders(&["New"]), ..AgentState::default() };
        mine.folder_renames.insert("New".into(), vec!["Old".into()]);
        let mut theirs = AgentState { agent: 202, prune: true, ..AgentState::default() };
        for a in [&mut mine, &mut theirs] {
            a.prune_folders = a.agent == pruner;
        }
        let platform = |agent| AgentState {
            agent,
            project: Some(7),
            folders: folders(&["Old", "Old.Inner", "Unused"]),
            ..AgentState::default()
        };
        let desired = State { agents: BTreeMap::from([(101, mine), (202, theirs)]), ..State::default() };
        let observed =
            State { agents: BTreeMap::from([(101, platform(101)), (202, platform(202))]), ..State::default() };
        let p =
            plan(&desired, &Observed { state: observed, catalogs: BTreeMap::new() }, &PlanSettings::default()).unwrap();
        p.operations
            .iter()
            .map(|o| {
                let waits: Vec<String> = o.depends_on.iter().map(|d| format!("{:?}", p.operations[*d].call)).collect();
                format!("{:?} after {waits:?}", o.call)
            })
            .filter(|line| line.starts_with("DeleteFolder"))
            .collect()
    }

    #[test]
    fn every_agent_of_the_project_plans_folder_deletions_on_the_platform_as_the_renames_leave_it() {
        // Whichever agent prunes, the renamed folder is deleted under neither name; the subfolder it takes along,
        // which no manifest uses, goes under its new path, after the rename.
        let after_rename = [
            r#"DeleteFolder { project: 7, path: "New.Inner", evaluators: [] } after ["RenameFolder { project: 7, path: \"Old\", name: \"New\" }"]"#,
            r#"DeleteFolder { project: 7, path: "Unused", evaluators: [] } after ["RenameFolder { project: 7, path: \"Old\", name: \"New\" }"]"#,
        ];
        assert_eq!(deletes_around_a_rename(202), after_rename);
        assert_eq!(deletes_around_a_rename(101), after_rename);
    }

    #[test]
    fn a_folder_another_agents_declared_evaluator_stays_in_is_in_use_under_its_name_after_a_rename() {
        let folders = |paths: &[&str]| paths.iter().map(|p| p.to_string()).collect();
        // 101 renames `Old` to `New` and prunes folders; 202 declares an evaluator without `folder`, which stays
        // in `Old.Inner`: once renamed, `New.Inner`.
        let mut mine = AgentState {
            agent: 101,
            prune: true,
            prune_folders: true,
            folders: folders(&["New"]),
            ..AgentState::default()
        };
        mine.folder_renames.insert("New".into(), vec!["Old".into()]);
        let theirs =
            AgentState { agent: 202, evaluators: vec![evaluator(None, "Theirs", None)], ..AgentState::default() };
        let platform = |agent, evaluators| AgentState {
            agent,
            project: Some(7),
            folders: folders(&["Old", "Old.Inner"]),
            evaluators,
            ..AgentState::default()
        };
        let desired = State { agents: BTreeMap::from([(101, mine), (202, theirs)]), ..State::default() };
        let observed = State {
            agents: BTreeMap::from([
                (101, platform(101, vec![])),
                (202, platform(202, vec![evaluator(Some(2), "Theirs", Some("Old.Inner"))])),
            ]),
            ..State::default()
        };
        let p =
            plan(&desired, &Observed { state: observed, catalogs: BTreeMap::new() }, &PlanSettings::default()).unwrap();
        let changes: Vec<String> = p.changes.iter().map(|c| format!("{:?} {}", c.action, c.address)).collect();
        assert_eq!(changes, ["Update cekura.agent[101].folder[\"New\"]"]);
    }

    #[test]
    fn each_rename_starts_where_the_renames_before_it_left_its_folder() {
        let renames = [
            ("Orders.Tracking".to_string(), "Sales.Delivery".to_string()),
            ("Orders".to_string(), "Sales".to_string()),
            ("Loose".to_string(), "Sales.Loose".to_string()),
        ];
        let mut sorted = renames.to_vec();
        sorted.sort_by_key(|(old, new)| (new.matches('.').count(), old.matches('.').count()));
        let steps: Vec<(String, String)> = super::rename_steps(&sorted).into_iter().map(|s| (s.from, s.to)).collect();
        assert_eq!(
            steps,
            [
                ("Orders".to_string(), "Sales".to_string()),
                ("Loose".to_string(), "Sales.Loose".to_string()),
                ("Sales.Tracking".to_string(), "Sales.Delivery".to_string()),
            ]
        );
    }

    #[test]
    fn within_is_the_folder_or_under_it() {
        assert!(within("Orders", "Orders") && within("Orders.Tracking.Late", "Orders"));
        assert!(!within("OrdersX", "Orders") && !within("Orders", "Orders.Tracking") && !within("", "Orders"));
    }

    #[test]
    fn moved_follows_the_folder_and_everything_under_it_only() {
        assert_eq!(moved("Orders.Tracking", "Orders.Tracking", "Orders.Delivery"), "Orders.Delivery");
        assert_eq!(moved("Orders.Tracking.Late", "Orders.Tracking", "Delivery"), "Delivery.Late");
        assert_eq!(moved("Orders.TrackingX", "Orders.Tracking", "Delivery"), "Orders.TrackingX");
        assert_eq!(moved("Refunds", "Orders", "Sales.Orders"), "Refunds");
    }
}
