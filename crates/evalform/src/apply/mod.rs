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

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde_json::Value;

use crate::http::ApiError;
use crate::model::{Address, AgentId, State};
use crate::plan::{self, call_request, Call, CreatedRef, Operation, Plan, PlanSettings, Secrets, Verb};
use crate::remote::{ObserveError, Remote};
pub use schedule::{run_schedule, Interrupt, OpStatus};

/// How many rounds of execute-then-verify before giving up. The first executes the plan; later ones settle
/// unknown outcomes and repair what verification found.
pub const MAX_ROUNDS: usize = 3;

/// Ids the platform gave to resources this apply created, so later operations can refer to them.
#[derive(Debug, Default)]
pub struct CreatedIds {
    evaluators: BTreeMap<(AgentId, String), u64>,
    test_profiles: BTreeMap<(AgentId, String), u64>,
    metrics: BTreeMap<(AgentId, String), u64>,
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
    /// The apply was interrupted: operations not started are [`OpStatus::NotStarted`], and when it came during a
    /// round, the platform was not read again (`remaining` is `None`).
    pub interrupted: bool,
}

impl ApplyReport {
    /// Verified: the last read planned nothing and nothing is stuck. Operations refused, skipped or with unknown
    /// outcomes along the way do not count against it once the verification says that what they were for was
    /// reached (a racing apply may have deleted the twin a call was about, or made the change first); the report
    /// still lists them. A refusal whose goal was not reached leaves a non-empty plan, and so a failure.
    pub fn succeeded(&self) -> bool {
        self.remaining.as_ref().is_some_and(Plan::is_empty) && self.stuck.is_empty()
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
    /// Verification of `round` starts: the platform is read again (it can take seconds).
    fn verifying(&self, _round: usize) {}
    /// Verification of the latest round has read the platform.
    fn verified(&self) {}
}

/// Progress that says nothing (`-q`, and tests that only look at the report).
#[derive(Debug)]
pub struct Silent;

impl Progress for Silent {
    fn started(&self, _: usize, _: usize) {}
    fn finished(&self, _: &OpReport) {}
    fn done(&self) {}
}

/// Why an apply stopped before it could verify. What it executed so far stays executed; a new `plan` reads it.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Verification could not read the platform.
    #[error(transparent)]
    Observe(#[from] ObserveError),
    /// The platform, as read after executing, can no longer be planned against (it changed during apply).
    #[error("{0}")]
    Replan(plan::PlanErrors),
}

/// Run `first` and converge: execute, re-read, re-plan, repair, at most [`MAX_ROUNDS`] rounds. Once `interrupt`
/// is set, no operation starts; the round's operations already sent end and are recorded, and no verification or
/// repair follows (the report says `interrupted`).
pub async fn converge(
    remote: &Remote,
    desired: &State,
    settings: &PlanSettings,
    first: Plan,
    parallelism: usize,
    progress: &dyn Progress,
    interrupt: &Interrupt,
) -> Result<ApplyReport, ApplyError> {
    let mut report = ApplyReport::default();
    // Objects the plan was made from: a twin among them is not another apply's doing (a rename still pending,
    // say), and is never resolved by deletion.
    let planned_from: std::collections::BTreeSet<String> = first.fingerprints.keys().cloned().collect();
    let mut plan = first;
    let mut last_round_touched: BTreeMap<Address, Vec<String>> = BTreeMap::new();
    let mut claims: BTreeSet<Claim> = BTreeSet::new();
    let mut case_claims: BTreeSet<CaseClaim> = BTreeSet::new();
    for round in 1..=MAX_ROUNDS {
        let round_ops = execute(remote, &plan, round, parallelism, progress, interrupt).await;
        // Only a clean refusal stops the repairs. An operation skipped because a dependency's outcome was
        // unknown is exactly what the next round, planned from a fresh read, is for.
        let clean_failure = round_ops.iter().any(|o| matches!(o.status, OpStatus::Failed(_)));
        let touched = touched_routes(&plan, &round_ops);
        claims.extend(claims_of(&plan));
        case_claims.extend(case_claims_of(&plan));
        report.ops.extend(round_ops);
        // The round's plan is done with (its claims and routes are taken): not held while the platform is read.
        drop(std::mem::take(&mut plan));
        // Asked to stop: what was sent has ended and is recorded; reading the platform again is not what the
        // user asked for.
        if interrupt.is_set() {
            report.interrupted = true;
            return Ok(report);
        }

        // Verify: read the platform again and plan again. From here on, instructions are repaired by full
        // replacement only.
        progress.verifying(round);
        let observed = remote.observe(desired).await;
        progress.verified();
        let mut snapshot = observed?;
        // A racing apply's create can land between two reads: settle twins until a read shows none (bounded).
        for _ in 0..TWIN_PASSES {
            let mut removed = remove_twins(remote, &snapshot, &claims, &planned_from).await;
            removed.extend(remove_case_twins(remote, &snapshot, &case_claims, &planned_from).await);
            if removed.is_empty() {
                break;
            }
            report.repairs.extend(removed);
            // One reading at a time: the stale one goes before the next is read.
            drop(std::mem::take(&mut snapshot));
            snapshot = remote.observe(desired).await?;
        }
        // A pattern may match nothing any more once its resource was deleted: not an error after the first plan.
        let repair_settings = PlanSettings { allow_append: false, patterns_must_match: false, ..settings.clone() };
        let next = plan::plan(desired, &snapshot.observed, &repair_settings).map_err(ApplyError::Replan)?;
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
        if !stuck.is_empty() || clean_failure || round == MAX_ROUNDS || interrupt.is_set() {
            // Interrupted while verifying: the reading is complete, and no repair round starts.
            report.interrupted = interrupt.is_set();
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

/// How many times one verification removes twins and reads again.
const TWIN_PASSES: usize = 5;

/// A create this apply sent, answered or not: what it may have made.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Claim {
    test_profile: bool,
    agent: AgentId,
    name: String,
}

/// The names a round set out to create, whatever became of each create: the plan creates only names that did not
/// exist when it read the platform, so every object of such a name was made during this apply (by it, or by an
/// apply racing it), and the twin rule below may choose among them.
fn claims_of(plan: &Plan) -> Vec<Claim> {
    plan.operations
        .iter()
        .filter_map(|op| {
            let agent = op_agent(op)?;
            match &op.call {
                Call::CreateEvaluator { body, .. } => {
                    Some(Claim { test_profile: false, agent, name: body.name.clone()? })
                }
                Call::CreateTestProfile { name, .. } => Some(Claim { test_profile: true, agent, name: name.clone() }),
                _ => None,
            }
        })
        .collect()
}

/// A Tela test case a round set out to create: its title within its prompt (the test cases' identity).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct CaseClaim {
    prompt: String,
    title: String,
}

/// The test case titles a round set out to create, as [`claims_of`] does for evaluators.
fn case_claims_of(plan: &Plan) -> Vec<CaseClaim> {
    let mut out = Vec::new();
    for op in &plan.operations {
        if let Call::CreateTestCases { prompt, cases } = &op.call {
            for title in cases.iter().filter_map(|c| c.title.clone()) {
                out.push(CaseClaim { prompt: prompt.clone(), title });
            }
        }
    }
    out
}

/// The twin rule for Tela test cases: for each claimed title standing more than once in its prompt among the test
/// cases evalform made (they carry its ownership mark), keep the first id in text order and delete every other
/// that was not on the platform when the plan was made. Returns (claim, kept id, id to delete).
fn case_twins_to_delete<'a>(
    snapshot: &crate::remote::Snapshot,
    claims: &'a BTreeSet<CaseClaim>,
    planned_from: &BTreeSet<String>,
) -> Vec<(&'a CaseClaim, String, String)> {
    let mut out = Vec::new();
    for claim in claims {
        let Some(have) = snapshot.observed.state.prompts.get(&claim.prompt) else { continue };
        let mut ids: Vec<&String> = have
            .test_cases
            .iter()
            .filter(|c| c.title == claim.title)
            .filter_map(|c| c.id.as_ref())
            .filter(|id| have.owned.contains(*id))
            .collect();
        ids.sort_unstable();
        let Some((keep, others)) = ids.split_first() else { continue };
        for id in others {
            if !planned_from.contains(&format!("tela.test_case/{id}")) {
                out.push((claim, (*keep).clone(), (*id).clone()));
            }
        }
    }
    out
}

/// [`remove_twins`] for Tela test cases.
async fn remove_case_twins(
    remote: &Remote,
    snapshot: &crate::remote::Snapshot,
    claims: &BTreeSet<CaseClaim>,
    planned_from: &BTreeSet<String>,
) -> Vec<String> {
    let Some(client) = &remote.tela else { return Vec::new() };
    let mut out = Vec::new();
    for (claim, keep, id) in case_twins_to_delete(snapshot, claims, planned_from) {
        let (prompt, title) = (&claim.prompt, &claim.title);
        out.push(match client.delete_test_case(&id).await {
            Ok(()) => format!(
                "test case \"{title}\" of Tela prompt {prompt} was created more than once by applies running at the \
                 same time; kept id {keep}, deleted id {id}"
            ),
            Err(e) if e.status() == Some(404) => format!(
                "test case \"{title}\" of Tela prompt {prompt} was created more than once; id {id} was already \
                 deleted by the other apply, id {keep} is kept"
            ),
            Err(e) => format!(
                "test case \"{title}\" of Tela prompt {prompt} was created more than once (ids {keep}, {id}); \
                 deleting id {id} failed: {e}"
            ),
        });
    }
    out
}

/// Resolve twins that racing applies made: when a name this apply created (or may have created) now stands more
/// than once in its agent, keep the lowest id and delete the others that did not exist when the plan was made.
/// Every apply of the same manifests applies the same rule, so they agree on the survivor whichever verifies
/// first, and one whose create was never answered still cleans up after itself. An object that existed when the
/// plan read the platform (a dashboard creation, a pending rename) is never deleted: the plan then names the
/// duplicate and asks for a pin. Returns one line per deletion, for the report.
async fn remove_twins(
    remote: &Remote,
    snapshot: &crate::remote::Snapshot,
    claims: &BTreeSet<Claim>,
    planned_from: &BTreeSet<String>,
) -> Vec<String> {
    let Some(client) = &remote.cekura else { return Vec::new() };
    let mut out = Vec::new();
    for (claim, keep, id) in twins_to_delete(snapshot, claims, planned_from) {
        let result =
            if claim.test_profile { client.delete_test_profile(id).await } else { client.delete_scenario(id).await };
        let kind = if claim.test_profile { "test profile" } else { "evaluator" };
        let (agent, name) = (claim.agent, &claim.name);
        out.push(match result {
            Ok(()) => format!(
                "{kind} \"{name}\" of agent {agent} was created more than once by applies running at the same \
                 time; kept id {keep}, deleted id {id}"
            ),
            Err(e) if e.status() == Some(404) => format!(
                "{kind} \"{name}\" of agent {agent} was created more than once; id {id} was already deleted by \
                 the other apply, id {keep} is kept"
            ),
            Err(e) => format!(
                "{kind} \"{name}\" of agent {agent} was created more than once (ids {keep}, {id}); deleting \
                 id {id} failed: {e}"
            ),
        });
    }
    out
}

/// The twin rule, pure: for each claimed name standing more than once in its agent, keep the lowest id and delete
/// every other that was not on the platform when the plan was made. Returns (claim, kept id, id to delete).
///
/// Evaluators: only those that carry evalform's ownership tag count (every evalform create sends it), so an
/// evaluator a person made by hand under the same name while the applies ran is never deleted: it stays, and the
/// next plan names both ids.
fn twins_to_delete<'a>(
    snapshot: &crate::remote::Snapshot,
    claims: &'a BTreeSet<Claim>,
    planned_from: &BTreeSet<String>,
) -> Vec<(&'a Claim, u64, u64)> {
    let mut out = Vec::new();
    for claim in claims {
        let Some(have) = snapshot.observed.state.agents.get(&claim.agent) else { continue };
        let mut ids: Vec<u64> = if claim.test_profile {
            have.test_profiles.iter().filter(|p| p.name == claim.name).filter_map(|p| p.id).collect()
        } else {
            let evalform_made = |id: &u64| have.owned.contains(id);
            have.evaluators.iter().filter(|e| e.name == claim.name).filter_map(|e| e.id).filter(evalform_made).collect()
        };
        ids.sort_unstable();
        let Some((&keep, others)) = ids.split_first() else { continue };
        let key = if claim.test_profile { "test_profile" } else { "scenario" };
        for &id in others {
            if !planned_from.contains(&format!("cekura.{key}/{id}")) {
                out.push((claim, keep, id));
            }
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

/// Execute one plan's operations once each, none started once `interrupt` is set. The reports come back in plan
/// order.
pub async fn execute(
    remote: &Remote,
    plan: &Plan,
    round: usize,
    parallelism: usize,
    progress: &dyn Progress,
    interrupt: &Interrupt,
) -> Vec<OpReport> {
    let created = Arc::new(Mutex::new(CreatedIds::default()));
    // What each operation sent and made, by operation id, for its report line.
    let performed: Arc<Mutex<BTreeMap<usize, Performed>>> = Arc::default();
    progress.started(plan.operations.len(), round);
    let mut finished: BTreeMap<usize, OpReport> = BTreeMap::new();
    let remote = remote.clone();
    let statuses = run_schedule(
        &plan.operations,
        parallelism,
        interrupt,
        |op| {
            let (remote, created, performed) = (remote.clone(), created.clone(), performed.clone());
            async move {
                let done = perform(&remote, &op, &created).await;
                let status = done.status.clone();
                performed.lock().unwrap_or_else(|e| e.into_inner()).insert(op.id, done);
                status
            }
        },
        |op, status| {
            let done = performed.lock().unwrap_or_else(|e| e.into_inner()).remove(&op.id);
            let (method, path, created) = match done {
                Some(d) => (d.method, d.path, d.created),
                None => {
                    let (method, path) = shown_request(op);
                    (method, path, None)
                }
            };
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
        Address::Evaluator { agent, .. }
        | Address::TestProfile { agent, .. }
        | Address::Folder { agent, .. }
        | Address::Metric { agent, .. }
        | Address::Schedule { agent, .. } => Some(*agent),
        Address::TestCase { .. } => None,
    })
}

/// What sending one operation came to.
#[derive(Debug)]
struct Performed {
    status: OpStatus,
    /// The method and path actually sent (created resources resolved to their ids).
    method: String,
    path: String,
    /// What it created, as the platform answered.
    created: Option<Created>,
}

/// Send a write as the server reads it: in the readings learnt so far, and once more in the other reading when
/// the server refuses it on one of the points the vendor's sources disagree on (see [`crate::cekura::dialect`]).
async fn send_in_dialect(
    transport: &crate::http::Transport,
    dialect: Option<&crate::cekura::Dialect>,
    method: &Method,
    path: &str,
    body: &Value,
) -> Result<crate::http::Reply, ApiError> {
    let Some(dialect) = dialect.filter(|_| !body.is_null()) else {
        let body = if body.is_null() { None } else { Some(body) };
        return transport.send(method.clone(), path, &[], body).await;
    };
    let sent = dialect.adapt(path, body);
    match transport.send(method.clone(), path, &[], Some(&sent)).await {
        Err(ApiError::Rejected { status: 400, message, .. }) => match dialect.reconsider(path, body, &sent, &message) {
            Some(again) => transport.send(method.clone(), path, &[], Some(&again)).await,
            None => {
                Err(ApiError::Rejected { method: method.to_string(), path: path.to_string(), status: 400, message })
            }
        },
        other => other,
    }
}

/// Send one operation.
async fn perform(remote: &Remote, op: &Operation, created: &Mutex<CreatedIds>) -> Performed {
    let agent = op_agent(op).unwrap_or_default();
    let lookup = |r: CreatedRef<'_>| {
        let ids = created.lock().unwrap_or_else(|e| e.into_inner());
        match r {
            CreatedRef::Evaluator(name) => ids.evaluators.get(&(agent, name.to_string())).copied(),
            CreatedRef::TestProfile(name) => ids.test_profiles.get(&(agent, name.to_string())).copied(),
            CreatedRef::Metric(name) => ids.metrics.get(&(agent, name.to_string())).copied(),
        }
    };
    let (verb, path, body) = call_request(&op.call, &lookup, Secrets::Expose);
    let method = http_method(verb);
    let done = |status: OpStatus, created: Option<Created>| Performed {
        status,
        method: verb.to_string(),
        path: path.clone(),
        created,
    };
    if path.contains("{created:") {
        return done(OpStatus::Failed("refers to a resource whose creation did not report an id".into()), None);
    }
    let is_tela =
        matches!(op.call, Call::CreateTestCases { .. } | Call::PatchTestCase { .. } | Call::DeleteTestCase { .. });
    let transport = match (is_tela, &remote.tela, &remote.cekura) {
        (true, Some(t), _) => t.transport().clone(),
        (false, _, Some(c)) => c.transport().clone(),
        _ => return done(OpStatus::Failed("no client for this platform".into()), None),
    };
    if let Call::DeleteFolder { project, path: folder, evaluators } = &op.call {
        if let Err(why) = folder_holds_only(remote, *project, folder, evaluators).await {
            return done(OpStatus::Failed(why), None);
        }
    }
    let result: Result<Value, ApiError> = match &op.call {
        Call::SetLanguage { language, .. } => put_language(&transport, &path, language).await,
        Call::AdoptEvaluator { .. } => add_ownership_tag(&transport, &path).await,
        _ => {
            let dialect = remote.cekura.as_ref().filter(|_| !is_tela).map(|c| c.dialect());
            match send_in_dialect(&transport, dialect, &method, &path, &body).await {
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
    let deleted_folder = match &op.call {
        Call::DeleteFolder { project, path, .. } => Some((*project, path.as_str())),
        _ => None,
    };
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
                Call::CreateMetric { body, shared_with, .. } => {
                    if let (Some(id), Some(name)) = (answer.get("id").and_then(Value::as_u64), &body.name) {
                        let mut created = created.lock().unwrap_or_else(|e| e.into_inner());
                        for a in std::iter::once(agent).chain(shared_with.iter().copied()) {
                            created.metrics.insert((a, name.clone()), id);
                        }
                    }
                }
                _ => {}
            }
            OpStatus::Done
        }
        // A folder already gone (another apply, or a person, deleted it) is the goal reached, whether the platform
        // refuses the deletion of a missing folder with a 400 or a 404: settled by reading the folders.
        Err(e @ ApiError::Rejected { status: 400 | 404, .. }) if deleted_folder.is_some() => {
            match (remote.cekura.as_ref(), deleted_folder) {
                (Some(c), Some((project, path))) => match c.list_folders(project).await {
                    Ok(folders) if !folders.iter().any(|f| f.path == path) => OpStatus::Done,
                    _ => OpStatus::Failed(e.to_string()),
                },
                _ => OpStatus::Failed(e.to_string()),
            }
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
        Err(e) if verb == Verb::Delete && e.status() == Some(404) => OpStatus::Done,
        // An evaluator gone since the plan read it (a racing apply removed its twin, a person deleted it): the
        // change has nothing to land on. Not a refusal of the change: the next round, planned from a fresh read,
        // decides what is still needed (these writes carry whole values, so planning them again is safe).
        Err(e)
            if e.status() == Some(404)
                && matches!(
                    op.call,
                    Call::PatchEvaluator { .. } | Call::SetLanguage { .. } | Call::AdoptEvaluator { .. }
                ) =>
        {
            OpStatus::Unknown(format!("{e} (the evaluator is gone)"))
        }
        Err(e @ ApiError::OutcomeUnknown { .. }) => OpStatus::Unknown(e.to_string()),
        // The server answered 2xx to a write but the answer could not be read: it applied the write, but what it
        // created is unknown. Settled like an unknown outcome, by reading.
        Err(e @ ApiError::Decode { .. }) if verb != Verb::Get => OpStatus::Unknown(e.to_string()),
        Err(e) => OpStatus::Failed(e.to_string()),
    };
    done(status, made)
}

/// A folder deletion takes every evaluator inside, of any agent of the project: read them immediately before, and
/// refuse (sending nothing) when the folder holds one the plan did not count (made or moved there since the plan,
/// or of an agent the manifests do not describe).
async fn folder_holds_only(remote: &Remote, project: u64, folder: &str, expected: &[u64]) -> Result<(), String> {
    let Some(client) = remote.cekura.as_ref() else { return Err("no client for this platform".into()) };
    let items = client
        .list_project_scenarios(project)
        .await
        .map_err(|e| format!("cannot read what the folder holds, so it was not deleted: {e}"))?;
    let others: Vec<String> = items
        .iter()
        .filter(|i| i.folder_path.as_deref().map(str::trim).is_some_and(|f| crate::plan::folders::within(f, folder)))
        .filter(|i| !expected.contains(&i.id))
        .map(|i| format!("{} (id {})", serde_json::to_string(&i.name).unwrap_or_default(), i.id))
        .collect();
    if others.is_empty() {
        return Ok(());
    }
    Err(format!(
        "folder {folder} was not deleted: it now holds evaluators the plan did not count, which deleting it would \
         delete too: {}",
        others.join(", ")
    ))
}

/// The client's method for a planned call's verb.
fn http_method(verb: Verb) -> Method {
    match verb {
        Verb::Get => Method::GET,
        Verb::Post => Method::POST,
        Verb::Put => Method::PUT,
        Verb::Patch => Method::PATCH,
        Verb::Delete => Method::DELETE,
    }
}

/// `PUT` is the only single-evaluator route that takes `scenario_language`. The platform requires `name` and
/// `personality` on a PUT and keeps every field a PUT does not carry as it was (DRF's full update sets only the
/// fields it was given), so only those two go with the language, read immediately before. No other field is sent:
/// a person's edit of any of them, made at any time, survives. What is left is a window of one round trip in
/// which a person's change of `name` or `personality` could be written back; `name` is managed (identity), and the
/// verification read after the apply reports a managed `personality` that differs.
async fn put_language(transport: &crate::http::Transport, path: &str, language: &str) -> Result<Value, ApiError> {
    let current: Value = transport.json(Method::GET, path, &[], None).await?;
    let mut body = serde_json::Map::new();
    for key in ["name", "personality"] {
        if let Some(v) = current.get(key).filter(|v| !v.is_null()) {
            body.insert(key.into(), v.clone());
        }
    }
    body.insert("scenario_language".into(), Value::String(language.to_string()));
    transport.json(Method::PUT, path, &[], Some(&Value::Object(body))).await
}

/// Adoption: the evaluator's tags as they are now, read immediately before, with evalform's ownership tag added.
/// Only `tags` is sent; the window in which a person's tag edit could be written back is one round trip.
async fn add_ownership_tag(transport: &crate::http::Transport, path: &str) -> Result<Value, ApiError> {
    let current: Value = transport.json(Method::GET, path, &[], None).await?;
    let mut tags: Vec<Value> = current.get("tags").and_then(Value::as_array).cloned().unwrap_or_default();
    if tags.iter().any(|t| t.as_str() == Some(crate::model::OWNERSHIP_TAG)) {
        return Ok(current);
    }
    tags.push(Value::String(crate::model::OWNERSHIP_TAG.into()));
    transport.json(Method::PATCH, path, &[], Some(&serde_json::json!({ "tags": tags }))).await
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
            // All made by evalform, unless a test takes the mark away.
            owned: evaluators.iter().map(|(id, _)| *id).collect(),
            ..AgentState::default()
        };
        s.observed.state.agents.insert(12, agent);
        s
    }

    #[test]
    fn a_twin_made_by_hand_during_the_apply_is_never_deleted() {
        let mut s = snapshot(&[(4, "A"), (5, "A"), (9, "A")]);
        // 4: a person created "A" in the dashboard while two applies created 5 and 9; it has no ownership tag.
        s.observed.state.agents.get_mut(&12).unwrap().owned.remove(&4);
        let doomed: Vec<(u64, u64)> = twins_to_delete(&s, &BTreeSet::from([claim("A")]), &BTreeSet::new())
            .into_iter()
            .map(|(_, keep, id)| (keep, id))
            .collect();
        assert_eq!(doomed, [(5, 9)], "the hand-made 4 is neither kept in evalform's place nor deleted");
    }

    fn claim(name: &str) -> Claim {
        Claim { test_profile: false, agent: 12, name: name.into() }
    }

    #[test]
    fn twins_made_during_the_apply_keep_the_lowest_id_and_nothing_older_is_touched() {
        let s = snapshot(&[(5, "A"), (9, "A"), (7, "B"), (3, "B"), (11, "C"), (12, "C"), (13, "C")]);
        let claims = BTreeSet::from([claim("A"), claim("B"), claim("C")]);
        // 3 existed when the plan read the platform (a name the plan did not create is never claimed, but a
        // pre-existing twin is kept even when it is not the lowest); 12 existed too.
        let planned_from = BTreeSet::from(["cekura.scenario/3".to_string(), "cekura.scenario/12".to_string()]);
        let doomed: Vec<(String, u64, u64)> = twins_to_delete(&s, &claims, &planned_from)
            .into_iter()
            .map(|(c, keep, id)| (c.name.clone(), keep, id))
            .collect();
        assert_eq!(
            doomed,
            [("A".to_string(), 5, 9), ("B".to_string(), 3, 7), ("C".to_string(), 11, 13)],
            "lowest kept; 12 was there before the plan and stays"
        );
        // A name not claimed is left alone, whatever its twins.
        assert!(twins_to_delete(&s, &BTreeSet::from([claim("Z")]), &BTreeSet::new()).is_empty());
    }

    #[test]
    fn test_case_twins_keep_the_first_id_and_spare_hand_made_and_older_ones() {
        use crate::model::{PromptState, TestCase};
        let case = |id: &str, title: &str| TestCase {
            id: Some(id.into()),
            title: title.into(),
            messages: None,
            variables: None,
            expected_output: None,
            source: None,
        };
        let prompt = PromptState {
            prompt: "p1".into(),
            test_cases: vec![case("c", "A"), case("a", "A"), case("b", "A"), case("z", "B"), case("y", "B")],
            // "b" was made by hand (no ownership mark) during the apply; "y" was there when the plan was made.
            owned: ["a", "c", "y", "z"].map(String::from).into(),
            ..PromptState::default()
        };
        let mut s = crate::remote::Snapshot::default();
        s.observed.state.prompts.insert("p1".into(), prompt);
        let claims = BTreeSet::from([
            CaseClaim { prompt: "p1".into(), title: "A".into() },
            CaseClaim { prompt: "p1".into(), title: "B".into() },
        ]);
        let planned_from = BTreeSet::from(["tela.test_case/y".to_string()]);
        let doomed: Vec<(String, String, String)> = case_twins_to_delete(&s, &claims, &planned_from)
            .into_iter()
            .map(|(c, keep, id)| (c.title.clone(), keep, id))
            .collect();
        let expected =
            [("A", "a", "c"), ("B", "y", "z")].map(|(t, k, d)| (t.to_string(), k.to_string(), d.to_string()));
        assert_eq!(doomed, expected, "the hand-made b stays; y was there before and is kept");
    }

    #[test]
    fn every_create_of_a_plan_is_claimed_whatever_became_of_it() {
        use crate::plan::{EvaluatorBody, Operation};
        let create = |id: usize, name: &str| Operation {
            id,
            depends_on: vec![],
            touches: vec![Address::Evaluator { agent: 12, name: name.into() }],
            call: Call::CreateEvaluator {
                agent: 12,
                body: EvaluatorBody { name: Some(name.into()), ..EvaluatorBody::default() },
            },
        };
        let plan = Plan { operations: vec![create(0, "A"), create(1, "B")], ..Plan::default() };
        assert_eq!(claims_of(&plan), [claim("A"), claim("B")]);
    }
}
