//! `evalform import --evaluator ID` / `--test-profile ID`: adopt single platform resources into the manifests that
//! already exist, in the file where their agent lives, keeping everything else of that file (comments included).
//!
//! Pure: from the loaded manifests and the observed agent, the edits to make (the CLI applies them through
//! [`crate::writeback`], which reloads the edited set before anything is written). Prints and writes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::{evaluator_entries, test_profile, ImportInput, ProfileNames, Refs};
use crate::manifest::Manifests;
use crate::yaml::edit::{Edit, Value};
use crate::yaml::emit::Item;
use crate::yaml::{self, ScalarKind};

/// Why a resource cannot be adopted. Nothing has been edited when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdoptError {
    #[error("{kind} {id} is not one of agent {agent}'s on the platform")]
    NotFound { kind: &'static str, id: u64, agent: u64 },
    #[error("no manifest declares agent {agent}: adopting needs the file where its agent lives")]
    NoFileForAgent { agent: u64 },
    #[error("{kind} {id} (\"{name}\") is already declared in the manifests")]
    AlreadyDeclared { kind: &'static str, id: u64, name: String },
}

/// What to adopt of one agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Adopt {
    pub evaluators: Vec<u64>,
    pub test_profiles: Vec<u64>,
}

/// The edits, by file, that add the resources of `adopt` (of `input.agent`) to `manifests`: each evaluator, pinned
/// by its id, at the end of `cekura.evaluators` of the first file that declares its agent, its folder (when the
/// manifests do not declare it yet) where the agent's folders are declared, each test profile at the end of
/// `cekura.test_profiles`.
pub fn adopt_edits(
    manifests: &Manifests,
    input: &ImportInput,
    adopt: &Adopt,
) -> Result<BTreeMap<PathBuf, Vec<Edit>>, AdoptError> {
    let agent = input.agent.agent;
    let trees: Vec<(PathBuf, Option<yaml::Node>)> =
        manifests.files.iter().map(|f| (f.path.clone(), yaml::parse_tree(&f.text).ok().flatten())).collect();
    let of_agent = |t: &Option<yaml::Node>| {
        let value = t.as_ref().and_then(|r| r.get("cekura")).and_then(|c| c.get("agent"));
        value.is_some_and(|v| v.scalar_kind() == Some(ScalarKind::Integer) && v.as_str() == Some(&agent.to_string()))
    };
    let has =
        |t: &Option<yaml::Node>, key: &str| t.as_ref().and_then(|r| r.get("cekura")).and_then(|c| c.get(key)).is_some();
    // A file without `defaults` takes the entry as written; in one with them, a field the entry leaves out would
    // take the default, so those fields are listed in `ignore_changes` of the entry.
    let Some((path, tree)) = trees
        .iter()
        .find(|(_, t)| of_agent(t) && !has(t, "defaults"))
        .or_else(|| trees.iter().find(|(_, t)| of_agent(t)))
    else {
        return Err(AdoptError::NoFileForAgent { agent });
    };
    let default_keys: Vec<String> = tree
        .as_ref()
        .and_then(|r| r.get("cekura"))
        .and_then(|c| c.get("defaults"))
        .map(|d| d.entries().iter().filter_map(|(k, _)| k.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    // A default suffix is appended to every evaluator's own instructions: the entry is written against it.
    let default_suffix: Option<String> = tree
        .as_ref()
        .and_then(|r| r.get("cekura"))
        .and_then(|c| c.get("defaults"))
        .and_then(|d| d.get("instructions_suffix"))
        .and_then(|s| s.as_str().map(str::to_string));
    let declared = manifests.state.agents.get(&agent);
    let mut edits: BTreeMap<PathBuf, Vec<Edit>> = BTreeMap::new();
    let mut add = |file: &PathBuf, exists: bool, key: &str, items: Vec<Value>| {
        if items.is_empty() {
            return;
        }
        let path = format!("cekura.{key}");
        let list = edits.entry(file.clone()).or_default();
        if exists {
            list.extend(
                items.into_iter().map(|i| Edit { path: path.clone(), change: crate::yaml::edit::Change::Push(i) }),
            );
        } else {
            list.push(Edit::set(path, Value::Seq(items.into_iter().map(Item::new).collect())));
        }
    };

    let none = ProfileNames::new(&[]);
    let refs = Refs { catalog: input.catalog, phone_numbers: input.phone_numbers, profiles: &none };
    let mut evaluators = Vec::new();
    let mut folders: BTreeSet<String> = BTreeSet::new();
    for id in &adopt.evaluators {
        let e = input.agent.evaluators.iter().find(|e| e.id == Some(*id));
        let e = e.ok_or(AdoptError::NotFound { kind: "evaluator", id: *id, agent })?;
        let known = declared
            .is_some_and(|d| d.evaluators.iter().any(|w| w.id == Some(*id) || (w.id.is_none() && w.name == e.name)));
        if known {
            return Err(AdoptError::AlreadyDeclared { kind: "evaluator", id: *id, name: e.name.clone() });
        }
        // Its test profile by id (written by name, it would have to be declared too).
        let mut entries = evaluator_entries(e, &refs, default_suffix.as_deref(), true);
        let written: BTreeSet<String> = entries.iter().map(|en| en.key.clone()).collect();
        let script_written = ["instructions", "conditional_actions", "type"].iter().any(|k| written.contains(*k));
        let ignored: Vec<Value> = crate::model::Field::ALL
            .iter()
            .map(|f| f.as_str())
            .filter(|k| default_keys.iter().any(|d| d == k) && !written.contains(*k))
            .filter(|k| !(script_written && matches!(*k, "instructions" | "conditional_actions")))
            .map(|k| Value::Str(k.to_string()))
            .collect();
        if !ignored.is_empty() {
            entries.push(
                crate::yaml::emit::Entry::new("ignore_changes", Value::Flow(ignored))
                    .comment("not set on the platform; listed so that this file's `defaults` do not set them"),
            );
        }
        let node = Value::Map(entries);
        evaluators.push(node);
        if let Some(folder) = e.spec.folder.as_ref().filter(|f| !f.is_empty()) {
            let mut prefix = String::new();
            for part in folder.split('.') {
                if !prefix.is_empty() {
                    prefix.push('.');
                }
                prefix.push_str(part);
                if !declared.is_some_and(|d| d.folders.contains(&prefix)) {
                    folders.insert(prefix.clone());
                }
            }
        }
    }
    let names = ProfileNames::new(&input.agent.test_profiles);
    let mut profiles = Vec::new();
    for id in &adopt.test_profiles {
        let p = input.agent.test_profiles.iter().find(|p| p.id == Some(*id));
        let p = p.ok_or(AdoptError::NotFound { kind: "test profile", id: *id, agent })?;
        if declared
            .is_some_and(|d| d.test_profiles.iter().any(|w| w.id == Some(*id) || (w.id.is_none() && w.name == p.name)))
        {
            return Err(AdoptError::AlreadyDeclared { kind: "test profile", id: *id, name: p.name.clone() });
        }
        let node = test_profile(p, &names).node;
        profiles.push(node);
    }

    // Folders go where the agent's folders are declared (the loader reads them from one file of the agent).
    let folder_file = trees.iter().find(|(_, t)| of_agent(t) && has(t, "folders"));
    let (folder_path, folders_exist) = match folder_file {
        Some((p, _)) => (p.clone(), true),
        None => (path.clone(), false),
    };
    // Appends to existing lists first, new keys after: a new key goes at the end of the mapping, where an item
    // appended after it would land in the new list instead.
    add(path, has(tree, "evaluators"), "evaluators", evaluators);
    add(path, has(tree, "test_profiles"), "test_profiles", profiles);
    add(&folder_path, folders_exist, "folders", folders.into_iter().map(Value::Str).collect());
    Ok(edits)
}
