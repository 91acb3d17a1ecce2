//! Runs: `run_scenarios` and the polled results.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::super::drf::{invalid_pk, object_body, ApiError, FieldErrors, REQUIRED};
use super::{SandboxState, StoredEvaluator, CANCEL_MARKER, CRASH_MARKER, FAIL_MARKER, STUCK_MARKER, TIMEOUT_MARKER};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRun {
    pub id: u64,
    pub scenario: u64,
    pub scenario_name: String,
    pub success: bool,
    /// How the run ends when it does not simply complete: `stuck` (never ends), `failed`, `timeout`, `cancelled`.
    #[serde(default)]
    pub ending: Option<String>,
    /// The metric a failing run fails on (the evaluator's lowest metric id), with its name.
    #[serde(default)]
    pub failing_metric: Option<(u64, String)>,
}

/// One `run_scenarios` call. Its status is derived from how many times it has been read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredResult {
    pub id: u64,
    pub agent: u64,
    pub name: String,
    pub polls: u32,
    pub runs: Vec<StoredRun>,
    pub created_at: String,
}

impl SandboxState {
    // ---- runs ----

    /// Whether a run of `e` succeeds: it fails exactly when the evaluator's name or one of its tags contains
    /// [`FAIL_MARKER`] (case-insensitive), as it is when the run starts.
    pub fn run_succeeds(e: &StoredEvaluator) -> bool {
        Self::run_ending(e).is_none() && !Self::marked(e, FAIL_MARKER)
    }

    /// How a run of `e` ends when it does not complete: `stuck` (never), `failed`, `timeout` or `cancelled`, from
    /// the first of [`STUCK_MARKER`], [`CRASH_MARKER`], [`TIMEOUT_MARKER`], [`CANCEL_MARKER`] in its name or tags.
    pub fn run_ending(e: &StoredEvaluator) -> Option<&'static str> {
        ending(&e.name, &e.tags)
    }

    fn marked(e: &StoredEvaluator, marker: &str) -> bool {
        marked(&e.name, &e.tags, marker)
    }

    pub fn start_runs(&mut self, body: &Value) -> Result<Value, ApiError> {
        let body = object_body(Some(body))?;
        let mut errors = FieldErrors::default();
        let agent = errors.required(body, "agent_id").and_then(|_| errors.pk(body, "agent_id", false)).flatten();
        let ids = errors.pk_list(body, "scenarios");
        let tags = errors.string_list(body, "tags");
        let folder = errors.string(body, "folder_path", true).flatten();
        let frequency = errors.integer(body, "frequency", false).flatten().unwrap_or(1);
        if frequency == 0 {
            errors.add("frequency", "Ensure this value is greater than or equal to 1.");
        }
        let name = errors.string(body, "name", true).flatten();
        let agent = agent.and_then(|a| match self.seed.agent(a) {
            Some(a) => Some(a.clone()),
            None => {
                errors.add("agent_id", invalid_pk(&json!(a)));
                None
            }
        });
        errors.finish()?;
        let agent = agent.ok_or_else(|| ApiError::field("agent_id", REQUIRED))?;
        let selected = self.select_for_run(agent.id, ids, tags, folder)?;
        let now = self.tick();
        let id = self.take_id(None);
        let runs = self.runs_of(&selected, frequency);
        Ok(self.record_result(id, agent.id, name, runs, now))
    }

    /// The agent's evaluators a run selects: by `scenarios` (each must be the agent's), else `tags` (any matches),
    /// else `folder_path` (that folder and below).
    fn select_for_run(
        &self,
        agent: u64,
        ids: Option<Vec<u64>>,
        tags: Option<Vec<String>>,
        folder: Option<String>,
    ) -> Result<Vec<StoredEvaluator>, ApiError> {
        let of_agent = |e: &&StoredEvaluator| e.agent == Some(agent);
        let selected: Vec<StoredEvaluator> = if let Some(ids) = ids {
            let mut out = Vec::new();
            for id in ids {
                match self.evaluators.get(&id).filter(|e| of_agent(e)) {
                    Some(e) => out.push(e.clone()),
                    None => return Err(ApiError::field("scenarios", invalid_pk(&json!(id)))),
                }
            }
            out
        } else if let Some(tags) = tags {
            self.evaluators
                .values()
                .filter(of_agent)
                .filter(|e| e.tags.iter().any(|t| tags.contains(t)))
                .cloned()
                .collect()
        } else if let Some(path) = folder {
            let prefix = format!("{path}.");
            self.evaluators
                .values()
                .filter(of_agent)
                .filter(|e| e.folder_path.as_deref().is_some_and(|f| f == path || f.starts_with(&prefix)))
                .cloned()
                .collect()
        } else {
            return Err(ApiError::field("scenarios", "Either scenarios, tags, or folder_path must be provided."));
        };
        if selected.is_empty() {
            return Err(ApiError::field("scenarios", "No evaluators matched the selection."));
        }
        Ok(selected)
    }

    /// `frequency` runs of each selected evaluator, decided now (markers as they are when the run starts).
    fn runs_of(&mut self, selected: &[StoredEvaluator], frequency: u64) -> Vec<StoredRun> {
        let mut runs = Vec::new();
        for e in selected {
            for _ in 0..frequency {
                let run_id = self.take_id(None);
                let failing_metric = e.metrics.iter().min().map(|id| {
                    let name = self.metric_name(*id).map(str::to_string);
                    (*id, name.unwrap_or_else(|| format!("Metric {id}")))
                });
                runs.push(StoredRun {
                    id: run_id,
                    scenario: e.id,
                    scenario_name: e.name.clone(),
                    success: Self::run_succeeds(e),
                    ending: Self::run_ending(e).map(str::to_string),
                    failing_metric,
                });
            }
        }
        runs
    }

    /// Store a started result and answer as `run_scenarios` does.
    pub(super) fn record_result(
        &mut self,
        id: u64,
        agent: u64,
        name: Option<String>,
        runs: Vec<StoredRun>,
        now: String,
    ) -> Value {
        let result = StoredResult {
            id,
            agent,
            name: name.unwrap_or_else(|| format!("Run {id}")),
            polls: 0,
            runs,
            created_at: now,
        };
        let summary: Vec<Value> = result
            .runs
            .iter()
            .map(|r| {
                json!({ "id": r.id, "status": "pending", "scenario": r.scenario, "scenario_name": r.scenario_name,
                        "number": "+14155550100", "inbound_number": null, "test_profile_data": null })
            })
            .collect();
        self.results.insert(id, result);
        json!({ "id": id, "agent": agent, "status": "pending", "run_as_text": false, "runs": summary })
    }

    /// One read of a result: the first read answers `pending`, the second `running`, every later one the final
    /// status. A run that ends another way than completing (see [`SandboxState::run_ending`]) decides the result's
    /// final status: any `stuck` run keeps it `running` forever, else `failed`, then `timeout`, then `cancelled`
    /// win over `completed`. A failing completed run carries explanations for its expected outcome and metric.
    pub fn poll_result(&mut self, id: u64) -> Result<Value, ApiError> {
        let agents = self.seed.agents.clone();
        let r = self.results.get_mut(&id).ok_or_else(ApiError::not_found)?;
        r.polls += 1;
        let endings: Vec<&str> = r.runs.iter().filter_map(|x| x.ending.as_deref()).collect();
        let final_status = ["stuck", "failed", "timeout", "cancelled"]
            .into_iter()
            .find(|s| endings.contains(s))
            .map(|s| if s == "stuck" { "running" } else { s })
            .unwrap_or("completed");
        let status = match r.polls {
            1 => "pending",
            2 => "running",
            _ => final_status,
        };
        let ended = r.polls >= 3;
        let done = |x: &StoredRun| ended && x.ending.as_deref() != Some("stuck");
        let total = r.runs.len();
        let success = r.runs.iter().filter(|x| done(x) && x.success).count();
        let finished = r.runs.iter().filter(|x| done(x)).count();
        let runs: Map<String, Value> = r.runs.iter().map(|x| (x.id.to_string(), run_json(x, ended, status))).collect();
        let rate = if ended && total > 0 { (success as f64) * 100.0 / (total as f64) } else { 0.0 };
        Ok(json!({
            "id": r.id,
            "name": r.name,
            "agent": r.agent,
            "agent_name": agents.iter().find(|a| a.id == r.agent).map(|a| a.name.as_str()).unwrap_or(""),
            "status": status,
            "success_rate": rate,
            "run_as_text": false,
            "total_runs_count": total,
            "completed_runs_count": finished,
            "success_runs_count": success,
            "failed_runs_count": finished - success,
            "runs": runs,
            "created_at": r.created_at,
            "updated_at": r.created_at,
        }))
    }
}

/// Whether `name` or one of `tags` contains `marker`, case-insensitively.
pub(super) fn marked(name: &str, tags: &[String], marker: &str) -> bool {
    let has = |s: &str| s.to_lowercase().contains(marker);
    has(name) || tags.iter().any(|t| has(t))
}

/// How a run of a test named `name` with `tags` ends when it does not complete (see [`SandboxState::run_ending`]).
pub(super) fn ending(name: &str, tags: &[String]) -> Option<&'static str> {
    [(STUCK_MARKER, "stuck"), (CRASH_MARKER, "failed"), (TIMEOUT_MARKER, "timeout"), (CANCEL_MARKER, "cancelled")]
        .into_iter()
        .find(|(marker, _)| marked(name, tags, marker))
        .map(|(_, ending)| ending)
}

/// One run of a polled result: before the result has ended every run shows the result's `status`; after, its own
/// ending. A run that completed and failed carries explanations for its expected outcome and its metric.
fn run_json(x: &StoredRun, ended: bool, status: &str) -> Value {
    let done = ended && x.ending.as_deref() != Some("stuck");
    let run_status = match (ended, x.ending.as_deref()) {
        (false, _) => status,
        (true, Some("stuck")) => "running",
        (true, Some(ending)) => ending,
        (true, None) => "completed",
    };
    let mut run = json!({
        "id": x.id,
        "scenario": x.scenario,
        "scenario_name": x.scenario_name,
        "status": run_status,
        "success": if done { json!(x.success) } else { Value::Null },
        "expected_outcome": if done && x.ending.is_none() {
            json!({ "score": if x.success { 100 } else { 0 } })
        } else {
            Value::Null
        },
    });
    if done && x.ending.is_none() && !x.success {
        run["expected_outcome"]["explanation"] =
            json!(format!("\"{}\" is marked to fail in the sandbox.", x.scenario_name));
        if let Some((metric, name)) = &x.failing_metric {
            run["evaluation"] = json!({ "metrics": [{
                "id": metric,
                "name": name,
                "score": 0,
                "explanation": format!("{name} was not met: the evaluator is marked to fail."),
            }] });
        }
    }
    run
}
