//! Folder renames and moves (`folders: [{path: NEW, renamed_from: [OLD]}]`): a platform folder of an earlier path is
//! the declared folder, renamed (`rename_folder`) or moved (`move_folder`) with one call, its subfolders and
//! evaluators following on the platform. The planner compares evaluators with the platform *as it will be after the
//! rename*, so nothing moves evaluator by evaluator. Pure, like the rest of the planner.

use std::collections::BTreeMap;

use super::build::Builder;
use super::{Action, Call, FieldChange, FieldValue, PlanError};
use crate::model::{Address, AgentId, AgentState, Text};

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

#[cfg(test)]
mod tests {
    use super::moved;

    #[test]
    fn moved_follows_the_folder_and_everything_under_it_only() {
        assert_eq!(moved("Orders.Tracking", "Orders.Tracking", "Orders.Delivery"), "Orders.Delivery");
        assert_eq!(moved("Orders.Tracking.Late", "Orders.Tracking", "Delivery"), "Delivery.Late");
        assert_eq!(moved("Orders.TrackingX", "Orders.Tracking", "Delivery"), "Orders.TrackingX");
        assert_eq!(moved("Refunds", "Orders", "Sales.Orders"), "Refunds");
    }
}
