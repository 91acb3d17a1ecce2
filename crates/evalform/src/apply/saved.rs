//! Saved plans (`plan --out FILE`, `apply --plan FILE`): what apply needs to execute a plan exactly, and to
//! refuse it when the platform has moved since.
//!
//! A saved plan holds the [`Plan`] (operations, and a fingerprint of every remote object the plan read), the
//! manifest texts it was computed from (to verify and settle after executing, exactly as a normal apply does), and
//! the `--target`/`--exclude` selection. It holds no secret: a value that came from `${env:NAME}` is stored as its
//! template and a SHA-256 of the value; at apply time the template is interpolated again and must hash the same.
//! This module reads and writes files; it never talks to the platform.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::manifest::{self, EnvMode, ManifestFile};
use crate::model::sha256_hex;
use crate::plan::{Plan, PLAN_FORMAT_VERSION};

/// What `plan --out` writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedPlan {
    /// Always `evalform-plan`: tells a saved plan from any other JSON file.
    pub kind: String,
    pub format_version: u32,
    /// The evalform version that made it.
    pub evalform_version: String,
    pub plan: Plan,
    pub manifests: Vec<SavedManifest>,
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub excludes: Vec<String>,
    /// The environment of the project file the plan was made for; `apply --plan` refuses another one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The catalogs' names when the plan was made, so `show` shows it as `plan` did (display only).
    #[serde(default, skip_serializing_if = "is_default")]
    pub names: crate::render::Names,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedManifest {
    pub path: PathBuf,
    pub text: String,
}

const KIND: &str = "evalform-plan";

/// Why a saved plan cannot be written or used. Nothing on the platform has been touched when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("cannot serialise the plan: {0}")]
    Serialise(String),
    #[error("cannot write the plan to {}: {error}", path.display())]
    Write { path: PathBuf, error: std::io::Error },
    #[error("cannot read the saved plan {}: {error}", path.display())]
    Read { path: PathBuf, error: std::io::Error },
    /// Not JSON, or JSON without the saved plan's `kind`.
    #[error("{}: not a saved plan{detail}", path.display())]
    NotAPlan { path: PathBuf, detail: String },
    #[error("{}: saved plan format {found} is not supported by this evalform (it reads format {PLAN_FORMAT_VERSION})", path.display())]
    Version { path: PathBuf, found: String },
    /// A `${env:NAME}` value is unset now, or hashes differently than when the plan was made: one line each.
    #[error("{}: the plan's sensitive values cannot be restored from the environment", path.display())]
    Unseal { path: PathBuf, problems: Vec<String> },
    #[error("{}: the saved plan is damaged: {reason}", path.display())]
    Damaged { path: PathBuf, reason: String },
    /// Another `apply --plan` of the same file holds its lock (or one ended without removing it).
    #[error("{}: another `apply --plan` of this file is running (its lock {} exists); nothing was written", path.display(), lock.display())]
    Locked { path: PathBuf, lock: PathBuf },
    #[error("cannot take the lock {} of the saved plan: {error}", lock.display())]
    Lock { lock: PathBuf, error: std::io::Error },
}

/// An exclusive lock beside a saved plan (`FILE.lock`, created with `O_EXCL`), held while `apply --plan FILE`
/// runs and removed when it ends: two or three applies of one file started at once cannot each send its
/// operations (an `append_instruction` among them). The one that takes the lock applies; the others stop before
/// reading the platform. Once it is done, the plan is stale (the objects it writes changed), so starting it again
/// is refused as well.
#[derive(Debug)]
pub struct PlanLock {
    path: PathBuf,
}

impl PlanLock {
    pub fn acquire(plan: &Path) -> Result<PlanLock, SavedPlanError> {
        let mut name = plan.as_os_str().to_os_string();
        name.push(".lock");
        let lock = PathBuf::from(name);
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&lock) {
            Ok(mut f) => {
                use std::io::Write;
                // Who holds it, for a person who finds a lock left behind by a killed apply.
                let _ = writeln!(f, "pid {}", std::process::id());
                Ok(PlanLock { path: lock })
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(SavedPlanError::Locked { path: plan.to_path_buf(), lock })
            }
            Err(error) => Err(SavedPlanError::Lock { lock, error }),
        }
    }
}

impl Drop for PlanLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn is_default(names: &crate::render::Names) -> bool {
    *names == crate::render::Names::default()
}

impl SavedPlan {
    pub fn new(plan: Plan, files: &[ManifestFile], targets: &[String], excludes: &[String]) -> SavedPlan {
        SavedPlan {
            kind: KIND.into(),
            format_version: PLAN_FORMAT_VERSION,
            evalform_version: env!("CARGO_PKG_VERSION").into(),
            plan,
            manifests: files.iter().map(|f| SavedManifest { path: f.path.clone(), text: f.text.clone() }).collect(),
            targets: targets.to_vec(),
            excludes: excludes.to_vec(),
            environment: None,
            names: crate::render::Names::default(),
        }
    }

    /// The manifest files, as the loader takes them.
    pub fn manifest_files(&self) -> Vec<ManifestFile> {
        self.manifests.iter().map(|m| ManifestFile { path: m.path.clone(), text: m.text.clone() }).collect()
    }

    /// The file's text, as [`SavedPlan::write`] writes it (for a caller that scrubs it before writing).
    pub fn to_text(&self) -> Result<String, SavedPlanError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| SavedPlanError::Serialise(e.to_string()))?;
        Ok(text + "\n")
    }

    /// Write atomically ([`crate::fsutil::write_atomic`]), so a reader never sees half a plan.
    pub fn write(&self, path: &Path) -> Result<(), SavedPlanError> {
        crate::fsutil::write_atomic(path, self.to_text()?.as_bytes())
            .map_err(|e| SavedPlanError::Write { path: path.to_path_buf(), error: e.error })
    }

    /// Read a saved plan and put back its sensitive values from the environment, checking each against the hash
    /// it was planned with.
    pub fn read(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<SavedPlan, SavedPlanError> {
        let mut value = SavedPlan::checked_json(path)?;
        let mut problems = BTreeMap::new();
        unseal(&mut value, env, &mut problems);
        if !problems.is_empty() {
            return Err(SavedPlanError::Unseal {
                path: path.to_path_buf(),
                problems: problems.into_values().collect(),
            });
        }
        serde_json::from_value(value)
            .map_err(|e| SavedPlanError::Damaged { path: path.to_path_buf(), reason: e.to_string() })
    }

    /// Read a saved plan to show it: its sensitive values stay sealed (shown as `(sensitive)`), so no variable
    /// needs to be set. Never for executing.
    pub fn read_sealed(path: &Path) -> Result<SavedPlan, SavedPlanError> {
        serde_json::from_value(SavedPlan::checked_json(path)?)
            .map_err(|e| SavedPlanError::Damaged { path: path.to_path_buf(), reason: e.to_string() })
    }

    /// The file as JSON, once it is known to be a saved plan of the format this evalform reads.
    fn checked_json(path: &Path) -> Result<Value, SavedPlanError> {
        let path_buf = || path.to_path_buf();
        let text = std::fs::read_to_string(path).map_err(|error| SavedPlanError::Read { path: path_buf(), error })?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| SavedPlanError::NotAPlan { path: path_buf(), detail: format!(": {e}") })?;
        if value.get("kind").and_then(Value::as_str) != Some(KIND) {
            return Err(SavedPlanError::NotAPlan { path: path_buf(), detail: format!(" (no \"kind\": \"{KIND}\")") });
        }
        let version = value.get("format_version").and_then(Value::as_u64);
        if version != Some(u64::from(PLAN_FORMAT_VERSION)) {
            return Err(SavedPlanError::Version {
                path: path_buf(),
                found: version.map_or("unknown".to_string(), |v| v.to_string()),
            });
        }
        Ok(value)
    }
}

/// Replace every `{"sensitive": TEMPLATE, "sha256": HASH}` with `{"sensitive": TEMPLATE, "value": VALUE}`, the
/// value interpolated from `env` now; a variable that is unset, or whose value hashes differently, is a problem.
fn unseal(value: &mut Value, env: &dyn Fn(&str) -> Option<String>, problems: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            let sealed = map.len() == 2
                && map.get("sensitive").is_some_and(Value::is_string)
                && map.get("sha256").is_some_and(Value::is_string);
            if sealed {
                let template = map["sensitive"].as_str().unwrap_or_default().to_string();
                let hash = map["sha256"].as_str().unwrap_or_default().to_string();
                match manifest::interpolate(&template, env, EnvMode::Required) {
                    Ok(text) if sha256_hex(text.expose().as_bytes()) == hash => {
                        map.remove("sha256");
                        map.insert("value".into(), Value::String(text.into_string()));
                    }
                    Ok(_) => {
                        problems.insert(
                            template.clone(),
                            format!("`{template}` has a different value now than when the plan was made"),
                        );
                    }
                    Err(errors) => {
                        for e in errors {
                            problems.insert(format!("{template}/{e}"), format!("`{template}`: {e}"));
                        }
                    }
                }
            } else {
                for v in map.values_mut() {
                    unseal(v, env, problems);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| unseal(v, env, problems)),
        _ => {}
    }
}

/// Compare the fingerprints a plan was made with against the platform now. Returns one line per object that
/// changed, appeared or disappeared.
pub fn stale_objects(planned: &BTreeMap<String, String>, now: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (key, hash) in planned {
        match now.get(key) {
            None => out.push(format!("{key}: gone since the plan was made")),
            Some(h) if h != hash => out.push(format!("{key}: changed since the plan was made")),
            Some(_) => {}
        }
    }
    for key in now.keys().filter(|k| !planned.contains_key(*k)) {
        out.push(format!("{key}: appeared since the plan was made"));
    }
    out
}

/// Why a saved plan may not be applied as it is, found by [`check_saved`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Refusal {
    /// Objects the plan writes, or read to decide a write, that changed on the platform: by address and field.
    pub stale: Vec<String>,
    /// Changes or operations of the file that do not follow from the manifests it records (an edited or corrupted
    /// file), or that would send `agent` for an evaluator of another agent.
    pub edited: Vec<String>,
}

impl Refusal {
    pub fn is_empty(&self) -> bool {
        self.stale.is_empty() && self.edited.is_empty()
    }
}

/// Where an agent's folders are: its project (`(true, project)`), or the agent alone when its project is unknown.
type FolderScope = (bool, u64);

fn folder_scope(agent: u64, observed: &crate::model::State) -> FolderScope {
    match observed.agents.get(&agent).and_then(|a| a.project) {
        Some(project) => (true, project),
        None => (false, agent),
    }
}

/// The renames of folders a plan makes, per project, in the order it makes them (from the `path` field of each
/// folder's change; an agent of the project makes each, and every agent of it plans on what they leave).
fn folder_renames(
    plan: &Plan,
    observed: &crate::model::State,
) -> BTreeMap<FolderScope, Vec<crate::plan::folders::RenameStep>> {
    use crate::model::Address;
    use crate::plan::FieldValue;
    let mut pairs: BTreeMap<FolderScope, Vec<(String, String)>> = BTreeMap::new();
    for c in plan.changes.iter().filter(|c| c.action == crate::plan::Action::Update) {
        let Address::Folder { agent, .. } = &c.address else { continue };
        if let Some(f) = c.fields.iter().find(|f| f.field == "path") {
            if let (Some(FieldValue::Text(old)), Some(FieldValue::Text(new))) = (&f.before, &f.after) {
                let scope = folder_scope(*agent, observed);
                pairs.entry(scope).or_default().push((old.expose().to_string(), new.expose().to_string()));
            }
        }
    }
    pairs.into_iter().map(|(scope, renames)| (scope, crate::plan::folders::rename_steps(&renames))).collect()
}

/// The fingerprint keys of the remote objects a change is about (none when it has none). A folder is keyed by its
/// path on the platform: a deletion's path, which is where the folder is once the plan's renames are made, is
/// mapped back; a rename is about the folder it renames and the path it gives it (which must still be free).
fn object_keys(
    c: &crate::plan::ResourceChange,
    renames: &BTreeMap<FolderScope, Vec<crate::plan::folders::RenameStep>>,
    observed: &crate::model::State,
) -> Vec<String> {
    use crate::model::Address;
    if let Address::Folder { agent, path } = &c.address {
        let key = |p: &str| format!("cekura.folder/{agent}/{p}");
        let steps = renames.get(&folder_scope(*agent, observed)).map(Vec::as_slice).unwrap_or_default();
        return match c.action {
            crate::plan::Action::Delete => vec![key(&crate::plan::folders::platform_path(path, steps))],
            crate::plan::Action::Update => match steps.iter().find(|s| s.to == *path) {
                Some(step) => vec![key(&step.old), key(path)],
                None => Vec::new(),
            },
            crate::plan::Action::Create => Vec::new(),
        };
    }
    let Some(id) = c.remote_id.as_ref() else { return Vec::new() };
    let key = match &c.address {
        Address::Evaluator { .. } => format!("cekura.scenario/{id}"),
        Address::TestProfile { .. } => format!("cekura.test_profile/{id}"),
        Address::TestCase { .. } => format!("tela.test_case/{id}"),
        Address::Metric { .. } => format!("cekura.metric/{id}"),
        Address::Schedule { .. } => format!("cekura.cron_job/{id}"),
        Address::Folder { .. } => return Vec::new(),
    };
    vec![key]
}

/// Why a saved change of a folder is stale: `keys` as [`object_keys`] gives them.
fn folder_staleness(
    address: &str,
    c: &crate::plan::ResourceChange,
    keys: &[String],
    saved: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
) -> String {
    let folder_of = |key: &String| key.splitn(3, '/').nth(2).unwrap_or_default().to_string();
    match (c.action, keys) {
        (crate::plan::Action::Update, [old, new, ..]) => {
            if !now.contains_key(old) {
                format!(
                    "{address}: the folder {} it renames is no longer on the platform (renamed, moved or deleted since \
                     the plan was made)",
                    folder_of(old)
                )
            } else if saved.get(new) != now.get(new) {
                format!("{address}: a folder {} now exists on the platform", folder_of(new))
            } else {
                format!(
                    "{address}: the evaluators or subfolders in {} changed on the platform (the rename would take \
                     others along)",
                    folder_of(old)
                )
            }
        }
        (_, [key, ..]) if !now.contains_key(key) => {
            format!("{address}: deleted on the platform since the plan was made")
        }
        _ => format!(
            "{address}: the evaluators or subfolders in it changed on the platform (deleting it would take others)"
        ),
    }
}

/// Decide whether a saved plan may run now. `fresh` is the plan of the file's own recorded manifests (and
/// selection) against the platform as it is now; `now` the fingerprints of what was just read; `observed` that
/// state.
///
/// - Staleness is per object: the plan is stale only when an object it writes (and so read to decide that write)
///   changed since, or one it creates now exists. Objects it does not write may change freely. Each stale object
///   is named by its address, with the fields of the plan's change whose value moved.
/// - A change that differs while its object did not change, a change the recorded manifests call for that the file
///   lacks, or (when every change agrees) operations that differ from the re-plan's, mean the file was edited: it
///   is refused. Whatever the rest, a bulk call that would send `agent` for an evaluator of another agent is
///   refused.
pub fn check_saved(
    saved: &Plan,
    fresh: &Plan,
    now: &BTreeMap<String, String>,
    observed: &crate::model::State,
) -> Refusal {
    use crate::plan::{BulkScope, Call, EvaluatorRef};
    let mut r = Refusal::default();
    let changed = |keys: &[String]| keys.iter().any(|k| saved.fingerprints.get(k) != now.get(k));
    let renames = folder_renames(saved, observed);
    let fresh_by: BTreeMap<String, &crate::plan::ResourceChange> =
        fresh.changes.iter().map(|c| (c.address.to_string(), c)).collect();
    let saved_by: BTreeMap<String, &crate::plan::ResourceChange> =
        saved.changes.iter().map(|c| (c.address.to_string(), c)).collect();
    for c in &saved.changes {
        let address = c.address.to_string();
        let f = fresh_by.get(&address).copied();
        let keys = object_keys(c, &renames, observed);
        if f == Some(c) && !changed(&keys) {
            continue;
        }
        if changed(&keys) && matches!(c.address, crate::model::Address::Folder { .. }) {
            r.stale.push(folder_staleness(&address, c, &keys, &saved.fingerprints, now));
        } else if changed(&keys) {
            let fields: Vec<&str> = match f {
                Some(f) => {
                    let mut names: Vec<&str> = c
                        .fields
                        .iter()
                        .filter(|sf| {
                            f.fields.iter().find(|ff| ff.field == sf.field).map(|ff| &ff.before) != Some(&sf.before)
                        })
                        .map(|sf| sf.field.as_str())
                        .collect();
                    names.extend(
                        f.fields
                            .iter()
                            .filter(|ff| !c.fields.iter().any(|sf| sf.field == ff.field))
                            .map(|ff| ff.field.as_str()),
                    );
                    names
                }
                None => Vec::new(),
            };
            let key = keys.first().map(String::as_str).unwrap_or_default();
            r.stale.push(match (f, now.contains_key(key)) {
                (_, false) => format!("{address}: deleted on the platform since the plan was made"),
                (None, true) => format!("{address}: changed on the platform; it now needs no change"),
                (Some(_), true) if fields.is_empty() => {
                    format!("{address}: changed on the platform (in fields the plan does not write)")
                }
                (Some(_), true) => format!("{address}: {} changed on the platform", fields.join(", ")),
            });
        } else if c.remote_id.is_none() && f.is_some_and(|f| f.remote_id.is_some()) {
            r.stale.push(format!("{address}: now exists on the platform (it was to be created)"));
        } else {
            r.edited.push(format!("{address}: the file's change does not follow from its recorded manifests"));
        }
    }
    let fresh_renames = folder_renames(fresh, observed);
    for f in &fresh.changes {
        let address = f.address.to_string();
        let keys = object_keys(f, &fresh_renames, observed);
        // The object it changes was there when the plan was made (a rename's new path is free, not an object).
        let existed = keys.first().is_none_or(|k| saved.fingerprints.contains_key(k));
        if !saved_by.contains_key(&address) && existed && !changed(&keys) {
            r.edited.push(format!("{address}: its recorded manifests call for a change the file does not hold"));
        }
    }
    if r.is_empty() && saved.changes == fresh.changes && saved.operations != fresh.operations {
        r.edited.push("the file's API calls differ from those its recorded manifests give".into());
    }
    // Whatever else holds: a call scoped to an agent only lists that agent's evaluators (`adv_update` moves every
    // listed evaluator to the agent it is given; `delete_scenarios` deletes them).
    let of_agent = |agent: u64, id: u64| {
        observed.agents.get(&agent).is_some_and(|a| a.evaluators.iter().any(|x| x.id == Some(id)))
    };
    for op in &saved.operations {
        let (agent, ids): (u64, Vec<u64>) = match &op.call {
            Call::BulkUpdate(b) => match b.scope {
                BulkScope::Agent(agent) => (
                    agent,
                    b.scenarios
                        .iter()
                        .filter_map(|e| match e {
                            EvaluatorRef::Id(id) => Some(*id),
                            EvaluatorRef::Created(_) => None,
                        })
                        .collect(),
                ),
                BulkScope::Project(_) => continue,
            },
            Call::DeleteEvaluators { agent, ids } => (*agent, ids.clone()),
            _ => continue,
        };
        for id in ids.into_iter().filter(|id| !of_agent(agent, *id)) {
            r.edited.push(format!("API call {} names evaluator {id}, which is not one of agent {agent}'s", op.id + 1));
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Text;
    use crate::plan::{BulkScope, BulkUpdate, Call, EvaluatorRef, Operation};

    fn plan_with_secret(secret: &str) -> Plan {
        Plan {
            format_version: PLAN_FORMAT_VERSION,
            operations: vec![Operation {
                id: 0,
                depends_on: vec![],
                touches: vec![],
                call: Call::BulkUpdate(BulkUpdate {
                    scenarios: vec![EvaluatorRef::Id(1)],
                    scope: BulkScope::Agent(12),
                    first_message: Some(Text::sensitive(secret, "Hi ${env:GREETING}")),
                    ..BulkUpdate::default()
                }),
            }],
            ..Plan::default()
        }
    }

    #[test]
    fn a_saved_plan_can_be_locked_once_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let plan = dir.path().join("plan.json");
        let first = PlanLock::acquire(&plan).unwrap();
        let second = PlanLock::acquire(&plan).unwrap_err();
        assert!(matches!(&second, SavedPlanError::Locked { lock, .. } if lock.ends_with("plan.json.lock")), "{second}");
        drop(first);
        assert!(PlanLock::acquire(&plan).is_ok(), "released when the apply ends");
    }

    #[test]
    fn a_saved_plan_keeps_no_secret_and_restores_it_from_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        SavedPlan::new(plan_with_secret("Hi s3cr3t-value"), &[], &[], &[]).write(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("s3cr3t-value"), "{text}");
        assert!(text.contains("Hi ${env:GREETING}"));

        let env_same = |n: &str| (n == "GREETING").then(|| "s3cr3t-value".to_string());
        let back = SavedPlan::read(&path, &env_same).unwrap();
        let Call::BulkUpdate(b) = &back.plan.operations[0].call else { panic!("not a bulk update") };
        let first = b.first_message.as_ref().unwrap();
        assert_eq!(first.expose(), "Hi s3cr3t-value");
        assert!(first.is_sensitive());

        let env_changed = |n: &str| (n == "GREETING").then(|| "other".to_string());
        let shown = |e: SavedPlanError| match &e {
            SavedPlanError::Unseal { problems, .. } => format!("{e}\n{}", problems.join("\n")),
            _ => e.to_string(),
        };
        let err = shown(SavedPlan::read(&path, &env_changed).unwrap_err());
        assert!(err.contains("different value now"), "{err}");
        assert!(!err.contains("other") && !err.contains("s3cr3t"), "{err}");

        let env_unset = |_: &str| None;
        let err = shown(SavedPlan::read(&path, &env_unset).unwrap_err());
        assert!(err.contains("GREETING"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_a_plan_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        std::fs::write(&path, "{\"hello\": 1}").unwrap();
        let err = SavedPlan::read(&path, &|_| None).unwrap_err().to_string();
        assert!(err.contains("not a saved plan"), "{err}");
    }

    #[test]
    fn staleness_names_changed_gone_and_new_objects() {
        let planned = BTreeMap::from([("a".to_string(), "1".to_string()), ("b".into(), "2".into())]);
        let now = BTreeMap::from([("a".to_string(), "1".to_string()), ("c".into(), "3".into())]);
        assert_eq!(
            stale_objects(&planned, &now),
            ["b: gone since the plan was made", "c: appeared since the plan was made"]
        );
        assert!(stale_objects(&planned, &planned).is_empty());
    }
}
