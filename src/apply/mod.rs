//! Executes a plan and makes sure the platform ends where the manifests say, without ever replaying a
//! non-idempotent call.
//!
//! The loop is: run the plan's operations (dependency order, bounded parallelism, each sent exactly once), then
//! read the platform again and plan again from what it has now. An empty plan is the verification. A non-empty
//! one is what is still missing: writes whose outcome was unknown and did not land, fields the server silently
//! ignored, a tail appended twice by a racing apply. Those are repaired in another round, planned with
//! `append_instruction` disabled, so the repair is a full replacement (idempotent). Because every round is planned
//! from a fresh read, nothing is ever resent on the strength of an old reading: an unknown outcome is settled by
//! reading, not by resending.
//!
//! This module must not decide what to change (the planner does) nor how to show it (the renderers do).

pub mod saved;
pub mod schedule;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::error::CliError;
use crate::http::ApiError;
use crate::model::{Address, AgentId, State};
use crate::plan::{self, call_request, Call, CreatedRef, Operation, Plan, PlanSettings, Secrets};
use crate::remote::Remote;
pub use schedule::{run_schedule, OpStatus};

/// How many rounds of execute-then-verify before giving up. The first executes the plan; later ones settle
/// unknown outcomes and repair what verification found.
pub const MAX_ROUNDS: usize = 3;

/// Ids the platform gave to resources this apply created, so later operations can refer to them.
#[derive(Debug, Default)]
pub struct CreatedIds {
    evaluators: BTreeMap<(AgentId, String), u64>,
    test_profiles: BTreeMap<(AgentId, String), u64>,
}

/// The result of one operation, for the report.
#[derive(Debug, Clone)]
pub struct OpReport {
    pub round: usize,
    pub method: String,
    pub path: String,
    pub description: String,
    pub status: OpStatus,
    /// The evaluator or test profile this operation created, as the platform answered.
    pub created: Option<Created>,
}

/// A resource an apply created, by the id the platform gave it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Created {
    Evaluator { agent: AgentId, name: String, id: u64 },
    TestProfile { agent: AgentId, name: String, id: u64 },
}

/// What an apply did, in the words of the end report.
#[derive(Debug, Default)]
pub struct ApplyReport {
    pub ops: Vec<OpReport>,
    /// The plan still left after the last round: empty when the platform matches the manifests.
    pub remaining: Option<Plan>,
    /// Fields that did not take after being written (the server accepted and ignored them), with the route tried.
    pub stuck: Vec<String>,
    /// Rounds after the first: what verification found and repaired.
    pub repairs: Vec<String>,
}

impl ApplyReport {
    /// Verified: the last read planned nothing, nothing was refused, nothing is stuck. Operations skipped or
    /// with unknown outcomes in an earlier round do not count against it: the verification says whether what
    /// they were for was reached.
    pub fn succeeded(&self) -> bool {
        self.remaining.as_ref().is_some_and(Plan::is_empty)
            && self.stuck.is_empty()
            && self.ops.iter().all(|o| !matches!(o.status, OpStatus::Failed(_)))
    }

    pub fn count(&self, pred: impl Fn(&OpStatus) -> bool) -> usize {
        self.ops.iter().filter(|o| pred(&o.status)).count()
    }
}

/// Where progress goes: one call per finished operation.
pub trait Progress: Send + Sync {
    fn started(&self, total: usize, round: usize);
    fn finished(&self, op: &OpReport);
    fn done(&self);
}

/// Progress that says nothing (`-q`, and tests that only look at the report).
#[derive(Debug)]
pub struct Silent;

impl Progress for Silent {
    fn started(&self, _: usize, _: usize) {}
    fn finished(&self, _: &OpReport) {}
    fn done(&self) {}
}

/// Run `first` and converge: execute, re-read, re-plan, repair, at most [`MAX_ROUNDS`] rounds.
pub async fn converge(
    remote: &Remote,
    desired: &State,
    settings: &PlanSettings,
    first: Plan,
    parallelism: usize,
    progress: &dyn Progress,
) -> Result<ApplyReport, CliError> {
    let mut report = ApplyReport::default();
    // Objects the plan was made from: a twin among them is not another apply's doing (a rename still pending,
    // say), and is never resolved by deletion.
    let planned_from: std::collections::BTreeSet<String> = first.fingerprints.keys().cloned().collect();
    let mut plan = first;
    let mut last_round_touched: BTreeMap<Address, Vec<String>> = BTreeMap::new();
    let mut mine: Vec<Created> = Vec::new();
    for round in 1..=MAX_ROUNDS {
        let round_ops = execute(remote, &plan, round, parallelism, progress).await;
        // Only a clean refusal stops the repairs. An operation skipped because a dependency's outcome was
        // unknown is exactly what the next round, planned from a fresh read, is for.
        let clean_failure = round_ops.iter().any(|o| matches!(o.status, OpStatus::Failed(_)));
        let touched = touched_routes(&plan, &round_ops);
        mine.extend(round_ops.iter().filter_map(|o| o.created.clone()));
        report.ops.extend(round_ops);

        // Verify: read the platform again and plan again. From here on, instructions are repaired by full
        // replacement only.
        let mut snapshot = remote.observe(desired).await?;
        let mut waited = Duration::ZERO;
        loop {
            let removed = remove_own_twins(remote, &snapshot, &mine, &planned_from).await;
            let removed_any = !removed.is_empty();
            report.repairs.extend(removed);
            // A twin with a higher id than one this apply created is another apply's: it removes it when it
            // verifies. Give it that time, then plan (which names any twin still left).
            let waiting = !foreign_twins(&snapshot, &mine).is_empty() && waited < TWIN_WAIT;
            if !removed_any && !waiting {
                break;
            }
            if waiting {
                tokio::time::sleep(TWIN_POLL).await;
                waited += TWIN_POLL;
            }
            snapshot = remote.observe(desired).await?;
        }
        let repair_settings = PlanSettings { allow_append: false, ..settings.clone() };
        let next = plan::plan(desired, &snapshot.observed, &repair_settings)
            .map_err(|e| CliError::from_error(&e).hint("the platform changed during apply; run `evalform plan`"))?;
        if next.is_empty() {
            report.remaining = Some(next);
            return Ok(report);
        }
        // A field written in this round that is still wrong after a repair round did not take: report it with
        // the route that was tried, rather than writing it forever.
        let mut stuck = Vec::new();
        for change in &next.changes {
            if let (Some(prev), Some(now)) = (last_round_touched.get(&change.address), touched.get(&change.address)) {
                for field in &change.fields {
                    stuck.push(format!(
                        "{}: field `{}` did not change after {} (and again after {})",
                        change.address,
                        field.field,
                        prev.join(", "),
                        now.join(", ")
                    ));
                }
            }
        }
        if !stuck.is_empty() || clean_failure || round == MAX_ROUNDS {
            report.stuck = stuck;
            report.remaining = Some(next);
            return Ok(report);
        }
        report.repairs.push(format!(
            "round {round} left {} resource{} not as planned (an unknown outcome that did not land, a field the \
             server ignored, or a concurrent change); repairing from a fresh read",
            next.changes.len(),
            if next.changes.len() == 1 { "" } else { "s" }
        ));
        last_round_touched = touched;
        plan = next;
    }
    Ok(report)
}

/// Delete the evaluators and test profiles this apply created that have a same-named twin with a lower id in the
/// same agent: another apply, racing this one, created the same resource. Every apply keeps the lowest id and
/// deletes only what it created itself, so nothing anyone else made, and nothing with a history, is ever
/// deleted. Ids grow with creation time, so the apply that created the higher twin always reads after the lower
/// one exists and sees it: one of the two removes its own, whichever finishes last. Returns one line per
/// deletion, for the report.
async fn remove_own_twins(
    remote: &Remote,
    snapshot: &crate::remote::Snapshot,
    mine: &[Created],
    planned_from: &std::collections::BTreeSet<String>,
) -> Vec<String> {
    let Some(client) = &remote.cekura else { return Vec::new() };
    let mut out = Vec::new();
    for created in mine {
        let (agent, name, id, kind) = match created {
            Created::Evaluator { agent, name, id } => (agent, name, *id, "evaluator"),
            Created::TestProfile { agent, name, id } => (agent, name, *id, "test profile"),
        };
        let ids = same_named(snapshot, created);
        let Some(keep) = ids.iter().copied().min() else { continue };
        let key = match created {
            Created::Evaluator { .. } => format!("cekura.scenario/{keep}"),
            Created::TestProfile { .. } => format!("cekura.test_profile/{keep}"),
        };
        if keep == id || !ids.contains(&id) || planned_from.contains(&key) {
            continue;
        }
        let result = match created {
            Created::Evaluator { .. } => client.delete_scenario(id).await,
            Created::TestProfile { .. } => client.delete_test_profile(id).await,
        };
        out.push(match result {
            Ok(()) => format!(
                "{kind} \"{name}\" of agent {agent} was created twice, by this apply (id {id}) and by another \
                 one running at the same time (id {keep}); deleted the one this apply created and kept id {keep}"
            ),
            Err(e) => format!(
                "{kind} \"{name}\" of agent {agent} was created twice (ids {keep}, {id}); deleting \
                 this apply's twin (id {id}) failed: {e}"
            ),
        });
    }
    out
}

/// The ids of the evaluators (or test profiles) in the created resource's agent that have its name, itself included.
fn same_named(snapshot: &crate::remote::Snapshot, created: &Created) -> Vec<u64> {
    let (Created::Evaluator { agent, name, .. } | Created::TestProfile { agent, name, .. }) = created;
    let Some(have) = snapshot.observed.state.agents.get(agent) else { return Vec::new() };
    match created {
        Created::Evaluator { .. } => have.evaluators.iter().filter(|e| &e.name == name).filter_map(|e| e.id).collect(),
        Created::TestProfile { .. } => {
            have.test_profiles.iter().filter(|p| &p.name == name).filter_map(|p| p.id).collect()
        }
    }
}

/// How long verification waits for a racing apply to delete its twin of something this apply created.
const TWIN_WAIT: Duration = Duration::from_secs(30);
const TWIN_POLL: Duration = Duration::from_millis(250);

/// The twins, created by someone else, of resources this apply created and keeps (it holds the lowest id).
fn foreign_twins(snapshot: &crate::remote::Snapshot, mine: &[Created]) -> Vec<u64> {
    let own: std::collections::BTreeSet<u64> = mine
        .iter()
        .map(|c| match c {
            Created::Evaluator { id, .. } | Created::TestProfile { id, .. } => *id,
        })
        .collect();
    let mut out = Vec::new();
    for created in mine {
        let (Created::Evaluator { id, .. } | Created::TestProfile { id, .. }) = created;
        let id = *id;
        let ids = same_named(snapshot, created);
        if ids.iter().min() == Some(&id) {
            out.extend(ids.into_iter().filter(|i| *i > id && !own.contains(i)));
        }
    }
    out
}

/// For each resource, the routes this round sent to it successfully.
fn touched_routes(plan: &Plan, ops: &[OpReport]) -> BTreeMap<Address, Vec<String>> {
    let mut out: BTreeMap<Address, Vec<String>> = BTreeMap::new();
    for (op, rep) in plan.operations.iter().zip(ops) {
        if rep.status.is_done() {
            for a in &op.touches {
                out.entry(a.clone()).or_default().push(format!("{} {}", rep.method, rep.path));
            }
        }
    }
    out
}

/// Execute one plan's operations once each. The reports come back in plan order.
pub async fn execute(
    remote: &Remote,
    plan: &Plan,
    round: usize,
    parallelism: usize,
    progress: &dyn Progress,
) -> Vec<OpReport> {
    let created = Arc::new(Mutex::new(CreatedIds::default()));
    #[allow(clippy::type_complexity)]
    let requests: Arc<Mutex<BTreeMap<usize, (String, String, Option<Created>)>>> = Arc::default();
    progress.started(plan.operations.len(), round);
    let mut finished: BTreeMap<usize, OpReport> = BTreeMap::new();
    let remote = remote.clone();
    let statuses = run_schedule(
        &plan.operations,
        parallelism,
        |op| {
            let (remote, created, requests) = (remote.clone(), created.clone(), requests.clone());
            async move {
                let (status, method, path, made) = perform(&remote, &op, &created).await;
                requests.lock().unwrap_or_else(|e| e.into_inner()).insert(op.id, (method, path, made));
                status
            }
        },
        |op, status| {
            let (method, path, created) =
                requests.lock().unwrap_or_else(|e| e.into_inner()).get(&op.id).cloned().unwrap_or_else(|| {
                    let (method, path) = shown_request(op);
                    (method, path, None)
                });
            let rep = OpReport {
                round,
                method,
                path,
                description: crate::render::describe(op),
                status: status.clone(),
                created,
            };
            progress.finished(&rep);
            finished.insert(op.id, rep);
        },
    )
    .await;
    progress.done();
    plan.operations
        .iter()
        .map(|op| {
            finished.remove(&op.id).unwrap_or_else(|| OpReport {
                round,
                method: shown_request(op).0,
                path: shown_request(op).1,
                description: crate::render::describe(op),
                status: statuses.get(&op.id).cloned().unwrap_or(OpStatus::Failed("not run".into())),
                created: None,
            })
        })
        .collect()
}

/// The method and path as the plan shows them (created resources symbolic).
fn shown_request(op: &Operation) -> (String, String) {
    let (method, path, _) = call_request(&op.call, &|_| None, Secrets::Mask);
    (method.to_string(), path)
}

/// The agent an operation works in, for looking up resources created earlier in the same apply.
fn op_agent(op: &Operation) -> Option<AgentId> {
    op.touches.iter().find_map(|a| match a {
        Address::Evaluator { agent, .. } | Address::TestProfile { agent, .. } | Address::Folder { agent, .. } => {
            Some(*agent)
        }
        Address::TestCase { .. } => None,
    })
}

/// Send one operation. Returns its status, the method and path actually sent, and what it created.
async fn perform(
    remote: &Remote,
    op: &Operation,
    created: &Mutex<CreatedIds>,
) -> (OpStatus, String, String, Option<Created>) {
    let agent = op_agent(op).unwrap_or_default();
    let lookup = |r: CreatedRef<'_>| {
        let ids = created.lock().unwrap_or_else(|e| e.into_inner());
        match r {
            CreatedRef::Evaluator(name) => ids.evaluators.get(&(agent, name.to_string())).copied(),
            CreatedRef::TestProfile(name) => ids.test_profiles.get(&(agent, name.to_string())).copied(),
        }
    };
    let (method, path, body) = call_request(&op.call, &lookup, Secrets::Expose);
    let shown = (method.to_string(), path.clone());
    if path.contains("{created:") {
        let st = OpStatus::Failed("refers to a resource whose creation did not report an id".into());
        return (st, shown.0, shown.1, None);
    }
    let is_tela = matches!(op.call, Call::CreateTestCases { .. } | Call::PatchTestCase { .. });
    let transport = match (is_tela, &remote.tela, &remote.cekura) {
        (true, Some(t), _) => t.transport().clone(),
        (false, _, Some(c)) => c.transport().clone(),
        _ => return (OpStatus::Failed("no client for this platform".into()), shown.0, shown.1, None),
    };
    let result: Result<Value, ApiError> = match &op.call {
        Call::SetLanguage { language, .. } => put_language(&transport, &path, language).await,
        _ => {
            let body = if body.is_null() { None } else { Some(&body) };
            match transport.send(method.clone(), &path, &[], body).await {
                Ok(reply) if reply.body.is_empty() => Ok(Value::Null),
                Ok(reply) => serde_json::from_slice(&reply.body).map_err(|e| ApiError::Decode {
                    method: method.to_string(),
                    path: path.clone(),
                    reason: format!("the answer is not JSON: {e}"),
                }),
                Err(e) => Err(e),
            }
        }
    };
    let mut made = None;
    let status = match result {
        Ok(answer) => {
            match &op.call {
                Call::CreateEvaluator { body, .. } => {
                    if let (Some(id), Some(name)) = (answer.get("id").and_then(Value::as_u64), &body.name) {
                        created.lock().unwrap_or_else(|e| e.into_inner()).evaluators.insert((agent, name.clone()), id);
                        made = Some(Created::Evaluator { agent, name: name.clone(), id });
                    }
                }
                Call::CreateTestProfile { name, .. } => {
                    if let Some(id) = answer.get("id").and_then(Value::as_u64) {
                        created
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .test_profiles
                            .insert((agent, name.clone()), id);
                        made = Some(Created::TestProfile { agent, name: name.clone(), id });
                    }
                }
                _ => {}
            }
            OpStatus::Done
        }
        // A folder is identified by its path alone: when the platform refuses to create it, it may be because it
        // exists already (another apply, or the dashboard, made it since the plan read the folders). That is the
        // goal reached; settle it by reading the folders, as any doubtful write is settled.
        Err(e @ ApiError::Rejected { status: 400, .. }) => match &op.call {
            Call::CreateFolder { project, name, parent_path } => {
                let path = match parent_path {
                    Some(p) if !p.is_empty() => format!("{p}.{name}"),
                    _ => name.clone(),
                };
                match remote.cekura.as_ref() {
                    Some(c) => match c.list_folders(*project).await {
                        Ok(folders) if folders.iter().any(|f| f.path == path) => OpStatus::Done,
                        _ => OpStatus::Failed(e.to_string()),
                    },
                    None => OpStatus::Failed(e.to_string()),
                }
            }
            _ => OpStatus::Failed(e.to_string()),
        },
        // A delete of something already gone has reached its goal.
        Err(e) if method == Method::DELETE && e.status() == Some(404) => OpStatus::Done,
        Err(e @ ApiError::OutcomeUnknown { .. }) => OpStatus::Unknown(e.to_string()),
        // The server answered 2xx to a write but the answer could not be read: it applied the write, but what it
        // created is unknown. Settled like an unknown outcome, by reading.
        Err(e @ ApiError::Decode { .. }) if method != Method::GET => OpStatus::Unknown(e.to_string()),
        Err(e) => OpStatus::Failed(e.to_string()),
    };
    (status, shown.0, shown.1, made)
}

/// `PUT` is the only single-evaluator route that takes `scenario_language`, and it replaces the whole object:
/// read the evaluator now, and send it back whole with only the language changed.
async fn put_language(transport: &crate::http::Transport, path: &str, language: &str) -> Result<Value, ApiError> {
    let current: Value = transport.json(Method::GET, path, &[], None).await?;
    let mut body = serde_json::Map::new();
    for key in [
        "name",
        "personality",
        "scenario_type",
        "expected_outcome_prompt",
        "metrics",
        "tags",
        "tool_ids",
        "first_message",
        "max_duration",
    ] {
        if let Some(v) = current.get(key).filter(|v| !v.is_null()) {
            body.insert(key.into(), v.clone());
        }
    }
    if let Some(v) = current.get("instructions").filter(|v| !v.is_null()) {
        body.insert("instructions".into(), v.clone());
    }
    if let Some(v) = current.get("test_profile").filter(|v| !v.is_null()) {
        body.insert("test_profile".into(), v.clone());
    }
    // Read back as a number string; written as the row id.
    if let Some(row) = current.pointer("/outbound_phone_number_data/id").filter(|v| !v.is_null()) {
        body.insert("phone_number".into(), row.clone());
    }
    let folder = current.get("folder_path").cloned().unwrap_or(Value::Null);
    body.insert("folder_path".into(), folder);
    body.insert("scenario_language".into(), Value::String(language.to_string()));
    transport.json(Method::PUT, path, &[], Some(&Value::Object(body))).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AgentState, Evaluator, EvaluatorSpec};
    use crate::remote::Snapshot;

    fn snapshot(evaluators: &[(u64, &str)]) -> Snapshot {
        let mut s = Snapshot::default();
        let agent = AgentState {
            agent: 12,
            evaluators: evaluators
                .iter()
                .map(|(id, name)| Evaluator {
                    id: Some(*id),
                    name: name.to_string(),
                    spec: EvaluatorSpec::default(),
                    ignore_changes: Default::default(),
                    source: None,
                })
                .collect(),
            ..AgentState::default()
        };
        s.observed.state.agents.insert(12, agent);
        s
    }

    fn made(id: u64, name: &str) -> Created {
        Created::Evaluator { agent: 12, name: name.into(), id }
    }

    #[test]
    fn the_holder_of_the_lowest_twin_waits_for_the_others_and_nobody_waits_for_its_own() {
        let s = snapshot(&[(5, "A"), (9, "A"), (7, "B"), (3, "B"), (11, "C")]);
        // This apply made 5 (lowest of A: waits for 9) and 7 (not lowest of B: deletes it, waits for nothing).
        assert_eq!(foreign_twins(&s, &[made(5, "A"), made(7, "B")]), [9]);
        // Twins this apply made itself are not waited for.
        assert!(foreign_twins(&s, &[made(5, "A"), made(9, "A")]).is_empty());
        assert!(foreign_twins(&s, &[made(11, "C")]).is_empty());
        assert_eq!(same_named(&s, &made(3, "B")), [7, 3]);
    }
}
