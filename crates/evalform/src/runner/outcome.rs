//! A run set's verdict, read the way the platform means it: a result is over when its status is completed, failed,
//! timeout or cancelled, and `completed` only says the runs ended, not that they passed. A run passed when the
//! platform marks it `success: true`; an evaluator passed when all of its runs did; the set passed when every
//! result completed and the share of successful runs reaches `--min-success-rate` (1.0 by default: all of them).
//!
//! Pure: it reads [`RunResult`] values into plain data that the reports render. Run objects are free-form in the
//! platform's spec, so each is read leniently (see [`read_failure`]); nothing here fails on an unexpected shape.

use serde::Serialize;
use serde_json::Value;

use super::select::{AgentTargets, Target};
use crate::cekura::wire::RunResult;

/// The id of a [`Target`] that is a test case of a spec run (`evalform test`): it has no evaluator on the
/// platform, and its runs are matched by name.
pub const SPEC_CASE: u64 = 0;

/// The verdict of a whole `evalform run`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    pub passed: bool,
    pub min_success_rate: f64,
    pub total_runs: u64,
    pub successful_runs: u64,
    /// Successful runs over all runs, between 0 and 1.
    pub success_rate: f64,
    pub results: Vec<AgentResult>,
}

/// One agent's run set (one `run_scenarios` call, one result), or the runs of one Tela prompt's test cases (then
/// `prompt` is set, and `agent` and `result_id` are 0 and left out of JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentResult {
    #[serde(skip_serializing_if = "is_zero")]
    pub agent: u64,
    /// The Tela prompt whose test cases ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub result_id: u64,
    /// The result's final status.
    pub status: String,
    pub total_runs: u64,
    pub successful_runs: u64,
    /// How long evalform waited for it, in seconds.
    pub seconds: f64,
    pub evaluators: Vec<EvaluatorResult>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl AgentResult {
    /// `agent 101` or `prompt 5f0c…`, for reports.
    pub fn label(&self) -> String {
        match &self.prompt {
            Some(p) => format!("prompt {p}"),
            None => format!("agent {}", self.agent),
        }
    }
}

/// One evaluator's runs, or one Tela test case's run (then `test_case_id` is set and `id` is 0).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvaluatorResult {
    pub id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_case_id: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub verdict: Verdict,
    pub runs: u64,
    pub successful_runs: u64,
    /// One entry per run that did not succeed.
    pub failures: Vec<RunFailure>,
}

/// `passed`; `failed`: a run ended and did not meet its bar; `error`: a run did not end normally (timeout,
/// cancelled, failed on the platform's side, or not reported at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Passed,
    Failed,
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunFailure {
    /// `None` when the platform reported no run for the evaluator.
    pub run_id: Option<u64>,
    /// The Tela generation (run) of a test case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation_id: Option<String>,
    pub status: String,
    /// The first failing metric (or `Expected outcome`), when the platform names one.
    pub metric: Option<String>,
    pub explanation: Option<String>,
}

impl RunFailure {
    /// `run 1008 failed on Call success: the caller hung up` / `run 1009 ended timeout`.
    pub fn describe(&self) -> String {
        let run = match (&self.generation_id, self.run_id) {
            (Some(g), _) => format!("generation {g}"),
            (None, Some(id)) => format!("run {id}"),
            (None, None) => "no run".into(),
        };
        if self.status != "completed" {
            return match (self.run_id.is_some() || self.generation_id.is_some(), &self.explanation) {
                // Not ended: evalform stopped waiting for it (Ctrl-C), and the explanation says so.
                (true, Some(why)) if self.status == "interrupted" => format!("{run}: {why}"),
                (true, _) => format!("{run} ended {}", self.status),
                (false, Some(why)) => why.clone(),
                (false, None) => "the platform reported no run for this evaluator".into(),
            };
        }
        match (&self.metric, &self.explanation) {
            (Some(m), Some(e)) => format!("{run} failed on {m}: {e}"),
            (Some(m), None) => format!("{run} failed on {m}"),
            (None, Some(e)) => format!("{run} failed: {e}"),
            (None, None) => format!("{run} failed"),
        }
    }
}

impl RunReport {
    pub fn new(results: Vec<AgentResult>, min_success_rate: f64) -> Self {
        let total: u64 = results.iter().map(|r| r.total_runs).sum();
        let ok: u64 = results.iter().map(|r| r.successful_runs).sum();
        let rate = if total == 0 { 0.0 } else { ok as f64 / total as f64 };
        let all_completed = results.iter().all(|r| r.status == "completed");
        // A tiny tolerance so that 2 of 3 meets a bar written as 0.6667 or 0.666666.
        let passed = total > 0 && all_completed && rate + 1e-9 >= min_success_rate;
        RunReport { passed, min_success_rate, total_runs: total, successful_runs: ok, success_rate: rate, results }
    }

    pub fn evaluators(&self) -> impl Iterator<Item = (&AgentResult, &EvaluatorResult)> {
        self.results.iter().flat_map(|r| r.evaluators.iter().map(move |e| (r, e)))
    }

    pub fn count(&self, verdict: Verdict) -> usize {
        self.evaluators().filter(|(_, e)| e.verdict == verdict).count()
    }
}

/// A result evalform stopped waiting for (`--timeout`, or polls that kept failing): every evaluator is an error
/// carrying `reason`, so that reports (JUnit above all) still list every evaluator that was started.
pub fn unfinished(agent: &AgentTargets, result_id: u64, status: &str, reason: &str, seconds: f64) -> AgentResult {
    let evaluators = agent
        .targets
        .iter()
        .map(|t| EvaluatorResult {
            id: t.id,
            test_case_id: None,
            name: t.name.clone(),
            source: t.source.clone(),
            verdict: Verdict::Error,
            runs: 0,
            successful_runs: 0,
            failures: vec![RunFailure {
                run_id: None,
                generation_id: None,
                status: status.to_string(),
                metric: None,
                explanation: Some(reason.to_string()),
            }],
        })
        .collect();
    AgentResult {
        agent: agent.agent,
        prompt: None,
        result_id,
        status: status.to_string(),
        total_runs: 0,
        successful_runs: 0,
        seconds,
        evaluators,
    }
}

/// Read one final result against the evaluators it was started for (in their order).
pub fn read_result(agent: &AgentTargets, result: &RunResult, seconds: f64) -> AgentResult {
    let runs: Vec<(Option<u64>, &Value)> = match &result.runs {
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.parse().ok(), v)).collect(),
        Some(Value::Array(items)) => items.iter().map(|v| (None, v)).collect(),
        _ => Vec::new(),
    };
    let runs: Vec<Run> = runs.into_iter().map(|(key, v)| Run::read(key, v, &result.status)).collect();
    // A test case of a spec run was never saved as an evaluator: its runs are known by its name.
    let belongs = |r: &Run, t: &Target| match t.id {
        SPEC_CASE => r.name.as_deref() == Some(t.name.as_str()),
        id => r.scenario == Some(id),
    };
    let mut evaluators: Vec<EvaluatorResult> = agent
        .targets
        .iter()
        .map(|t| {
            let mut result = evaluator_result(t, runs.iter().filter(|r| belongs(r, t)));
            if t.id == SPEC_CASE {
                result.id = runs.iter().find(|r| belongs(r, t)).and_then(|r| r.scenario).unwrap_or(SPEC_CASE);
            }
            result
        })
        .collect();
    // Runs of an evaluator the run was not started for: shown, never silently dropped.
    let mut strays: Vec<&Run> = runs.iter().filter(|r| !agent.targets.iter().any(|t| belongs(r, t))).collect();
    strays.sort_by_key(|r| (r.scenario, r.id));
    for scenario in strays.iter().map(|r| r.scenario).collect::<std::collections::BTreeSet<_>>() {
        let of = strays.iter().copied().filter(|r| r.scenario == scenario);
        let name = of.clone().find_map(|r| r.name.clone()).unwrap_or_else(|| "(unnamed)".into());
        let target = Target { id: scenario.unwrap_or(0), name, source: None };
        evaluators.push(evaluator_result(&target, of));
    }
    let counted_total: u64 = evaluators.iter().map(|e| e.runs).sum();
    let counted_ok: u64 = evaluators.iter().map(|e| e.successful_runs).sum();
    AgentResult {
        agent: agent.agent,
        prompt: None,
        result_id: result.id,
        status: result.status.clone(),
        // The platform's own counts decide when it gives them; the runs give the details.
        total_runs: result.total_runs_count.unwrap_or(counted_total).max(counted_total),
        successful_runs: result.success_runs_count.unwrap_or(counted_ok),
        seconds,
        evaluators,
    }
}

struct Run {
    id: Option<u64>,
    scenario: Option<u64>,
    name: Option<String>,
    status: String,
    success: bool,
    value: Value,
}

impl Run {
    fn read(key: Option<u64>, v: &Value, result_status: &str) -> Run {
        Run {
            id: v.get("id").and_then(Value::as_u64).or(key),
            scenario: v.get("scenario").and_then(|s| s.as_u64().or_else(|| s.get("id").and_then(Value::as_u64))),
            name: v.get("scenario_name").and_then(Value::as_str).map(str::to_string),
            status: v.get("status").and_then(Value::as_str).unwrap_or(result_status).to_ascii_lowercase(),
            success: v.get("success").and_then(Value::as_bool).unwrap_or(false),
            value: v.clone(),
        }
    }
}

fn evaluator_result<'a>(target: &Target, runs: impl Iterator<Item = &'a Run>) -> EvaluatorResult {
    let runs: Vec<&Run> = runs.collect();
    let ok = runs.iter().filter(|r| r.success).count() as u64;
    let mut failures: Vec<RunFailure> = runs.iter().filter(|r| !r.success).map(|r| read_failure(r)).collect();
    if runs.is_empty() {
        failures.push(RunFailure {
            run_id: None,
            generation_id: None,
            status: "missing".into(),
            metric: None,
            explanation: None,
        });
    }
    let verdict = if failures.iter().any(|f| f.status != "completed") {
        Verdict::Error
    } else if failures.is_empty() {
        Verdict::Passed
    } else {
        Verdict::Failed
    };
    EvaluatorResult {
        id: target.id,
        test_case_id: None,
        name: target.name.clone(),
        source: target.source.clone(),
        verdict,
        runs: runs.len() as u64,
        successful_runs: ok,
        failures,
    }
}

/// Why a run did not succeed. The first metric that failed, from `evaluation.metrics` (or a top-level `metrics`
/// list), is one with `success`/`passed` false or, lacking those, a `score` of 0; failing that, an
/// `expected_outcome` scored below 100 names `Expected outcome`.
fn read_failure(run: &Run) -> RunFailure {
    let v = &run.value;
    let metrics = v.pointer("/evaluation/metrics").or_else(|| v.get("metrics")).and_then(Value::as_array);
    let failed_metric = metrics.into_iter().flatten().find(|m| {
        let verdict = m.get("success").or_else(|| m.get("passed")).and_then(Value::as_bool);
        verdict.map(|ok| !ok).unwrap_or_else(|| m.get("score").and_then(Value::as_f64) == Some(0.0))
    });
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(String::from);
    let outcome = v.get("expected_outcome").filter(|o| o.is_object());
    let (metric, explanation) = match failed_metric {
        Some(m) => (
            text(m.get("name")).or_else(|| m.get("id").map(|id| format!("metric {id}"))),
            text(m.get("explanation")).or_else(|| text(outcome.and_then(|o| o.get("explanation")))),
        ),
        None => {
            let low = outcome.and_then(|o| o.get("score")).and_then(Value::as_f64).is_some_and(|s| s < 100.0);
            (low.then(|| "Expected outcome".to_string()), text(outcome.and_then(|o| o.get("explanation"))))
        }
    };
    RunFailure { run_id: run.id, generation_id: None, status: run.status.clone(), metric, explanation }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn targets() -> AgentTargets {
        AgentTargets {
            agent: 101,
            project: None,
            targets: vec![
                Target { id: 5, name: "Order status".into(), source: Some("a.yaml:3:7".into()) },
                Target { id: 9, name: "Refund".into(), source: None },
                Target { id: 11, name: "Slow".into(), source: None },
            ],
        }
    }

    fn result(status: &str, runs: Value, counts: Option<(u64, u64)>) -> RunResult {
        let mut v = json!({"id": 77, "status": status, "runs": runs});
        if let Some((ok, total)) = counts {
            v["success_runs_count"] = json!(ok);
            v["total_runs_count"] = json!(total.to_string());
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn completed_is_not_passed() {
        let runs = json!({
            "1": {"id": 1, "scenario": 5, "status": "completed", "success": true},
            "2": {"id": 2, "scenario": 9, "status": "completed", "success": false,
                  "expected_outcome": {"score": 0, "explanation": "No refund offered."},
                  "evaluation": {"metrics": [{"name": "Latency", "score": 80}, {"name": "Call success", "success": false}]}},
            "3": {"id": 3, "scenario": 11, "status": "timeout", "success": null},
        });
        let r = read_result(&targets(), &result("completed", runs, Some((1, 3))), 1.5);
        let verdicts: Vec<Verdict> = r.evaluators.iter().map(|e| e.verdict).collect();
        assert_eq!(verdicts, vec![Verdict::Passed, Verdict::Failed, Verdict::Error]);
        assert_eq!(r.evaluators[1].failures[0].describe(), "run 2 failed on Call success: No refund offered.");
        assert_eq!(r.evaluators[2].failures[0].describe(), "run 3 ended timeout");
        let report = RunReport::new(vec![r.clone()], 1.0);
        assert!(!report.passed);
        assert!(RunReport::new(vec![r.clone()], 0.33).passed);
        assert!(!RunReport::new(vec![r.clone()], 0.34).passed);
        let mut cancelled = r;
        cancelled.status = "cancelled".into();
        assert!(!RunReport::new(vec![cancelled], 0.0).passed, "a result that did not complete never passes");
    }

    #[test]
    fn expected_outcome_names_the_failure_when_no_metric_does_and_missing_runs_are_errors() {
        let runs = json!({"4": {"scenario": 5, "status": "completed", "success": false,
                               "expected_outcome": {"score": 50, "explanation": " Half done. "}},
                          "8": {"scenario": 42, "scenario_name": "Surprise", "status": "completed", "success": true}});
        let r = read_result(&targets(), &result("completed", runs, None), 0.0);
        assert_eq!(r.evaluators[0].failures[0].describe(), "run 4 failed on Expected outcome: Half done.");
        assert_eq!(r.evaluators[1].verdict, Verdict::Error);
        assert_eq!(r.evaluators[1].failures[0].describe(), "the platform reported no run for this evaluator");
        assert_eq!(r.evaluators[3].name, "Surprise", "runs of unknown evaluators are shown");
        assert_eq!((r.total_runs, r.successful_runs), (2, 1));
        assert!(!RunReport::new(vec![], 0.0).passed, "no runs is not a pass");
    }
}
