//! Folder renames and moves (`folders: [{path: NEW, renamed_from: [OLD]}]`): a platform folder of an earlier path is
//! the declared folder, renamed (`rename_folder`) or moved (`move_folder`) with one call, its subfolders and
//! evaluators following on the platform. The planner compares evaluators with the platform *as it will be after the
//! rename*, so nothing moves evaluator by evaluator. Pure, like the rest of the planner.

use std::collections::{BTreeMap, BTreeSet};

use super::build::Builder;
use super::{Action, Call, FieldChange, FieldValue, PlanError};
use crate::model::{Address, AgentId, AgentState, Evaluator, Text};

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
/// path, while it has one of its earlier paths (the first found, in the order written).
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
    // Outer folders first: a nested rename then finds its folder where the outer one put it.
    out.sort_by_key(|(old, _)| old.matches('.').count());
    out
}

/// The platform agent as it will be once `renames` are made: folders and evaluators' folders moved.
pub fn after_renames(have: &AgentState, renames: &[(String, String)]) -> AgentState {
    let mut out = have.clone();
    for (old, new) in renames {
        out.folders = out.folders.iter().map(|f| moved(f, old, new)).collect();
        for e in &mut out.evaluators {
            if let Some(f) = &mut e.spec.folder {
                *f = moved(f, old, new);
            }
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

/// The calls of the renames: a move when the parent changes, a rename when the last segment does (both, move
/// first). Each waits for the creation of its new parent (`folder_ops`); the declared path and every folder under
/// it are then entered in `folder_ops`, so that evaluators moving into them wait for the rename.
#[allow(clippy::too_many_arguments)]
pub(super) fn plan_renames(
    agent: AgentId,
    project: Option<u64>,
    renames: &[(String, String)],
    after: &AgentState,
    folder_ops: &mut BTreeMap<String, usize>,
    b: &mut Builder,
    errors: &mut Vec<PlanError>,
) {
    for (old, new) in renames {
        let address = Address::Folder { agent, path: new.clone() };
        let Some(project) = project else {
            errors.push(PlanError::MissingProject { address });
            continue;
        };
        let ((old_parent, old_leaf), (new_parent, new_leaf)) = (split(old), split(new));
        let mut deps: Vec<usize> = new_parent.and_then(|p| folder_ops.get(p)).copied().into_iter().collect();
        let mut path = old.clone();
        let mut last = None;
        if old_parent != new_parent {
            let call =
                Call::MoveFolder { project, path: path.clone(), new_parent_path: new_parent.map(str::to_string) };
            let op = b.op(call, deps.clone(), vec![address.clone()]);
            deps = vec![op];
            last = Some(op);
            path = match new_parent {
                Some(p) => format!("{p}.{old_leaf}"),
                None => old_leaf.to_string(),
            };
        }
        if old_leaf != new_leaf {
            let op =
                b.op(Call::RenameFolder { project, path, name: new_leaf.to_string() }, deps, vec![address.clone()]);
            last = Some(op);
        }
        let field = FieldChange {
            field: "path".into(),
            before: Some(FieldValue::Text(Text::new(old.clone()))),
            after: Some(FieldValue::Text(Text::new(new.clone()))),
        };
        b.change(address, Action::Update, None, vec![field]);
        if let Some(op) = last {
            for f in after.folders.iter().filter(|f| *f == new || f.starts_with(&format!("{new}."))) {
                folder_ops.insert(f.clone(), op);
            }
        }
    }
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

/// Under `prune_folders: true`, the folders to delete: the outermost platform folders no manifest uses (`used` holds
/// every folder a manifest of the project declares or puts an evaluator in, with its parents), whose evaluators,
/// once the declared ones have moved out, are all ones `prune` deletes (`orphans`: the agent's evaluators no
/// manifest declares). A folder holding anything else is kept, with a note naming what keeps it. `selects` says
/// whether `--target`/`--exclude` select an address.
pub(super) fn folder_deletes(
    agent: AgentId,
    want: &AgentState,
    have: &AgentState,
    used: &BTreeSet<String>,
    orphans: &[&Evaluator],
    selects: &dyn Fn(&Address) -> bool,
    b: &mut Builder,
) -> Vec<FolderDelete> {
    let unused: Vec<&String> = have.folders.iter().filter(|f| !used.contains(*f)).collect();
    // The outermost only: a subfolder goes with its parent.
    let outermost = unused.iter().filter(|f| !unused.iter().any(|p| *p != **f && within(f, p)));
    let mut out = Vec::new();
    for path in outermost {
        let address = Address::Folder { agent, path: (*path).clone() };
        if !selects(&address) {
            continue;
        }
        let mut taken = Vec::new();
        let mut kept = Vec::new();
        for e in orphans.iter().filter(|e| e.spec.folder.as_deref().is_some_and(|f| within(f, path))) {
            let selected = selects(&Address::Evaluator { agent, name: e.name.clone() });
            match keeps_folder(e, have, want.prune, selected) {
                None => taken.push((e.id.unwrap_or_default(), e.name.clone())),
                Some(why) => kept.push(format!(
                    "{} (id {}): {why}",
                    serde_json::to_string(&e.name).unwrap_or_default(),
                    e.id.unwrap_or_default()
                )),
            }
        }
        if kept.is_empty() {
            out.push(FolderDelete { path: (*path).clone(), evaluators: taken });
        } else {
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

/// The calls and changes of the folder deletions: one `delete_folder` each, after every operation of the agent
/// planned before it (`after`: the moves of declared evaluators out of it among them). The change lists every
/// evaluator it takes with it, each of which also shows as deleted.
pub(super) fn plan_folder_deletes(
    agent: AgentId,
    project: Option<u64>,
    deletes: Vec<FolderDelete>,
    after: std::ops::Range<usize>,
    b: &mut Builder,
    errors: &mut Vec<PlanError>,
) {
    for FolderDelete { path, evaluators } in deletes {
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

#[cfg(test)]
mod tests {
    use super::{moved, within};

    use std::collections::BTreeMap;

    use crate::model::{AgentState, Evaluator, EvaluatorSpec, State};
    use crate::plan::{plan, Observed, PlanSettings};

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
