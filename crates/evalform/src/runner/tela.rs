//! Runs of Tela test cases, for `evalform run`: choose the declared test cases a run covers, start them (one
//! `run-all` for a prompt whose declared test cases are all selected, else one `run` per case), wait for their
//! generations by reading each prompt's test cases with `includeGenerations=true`, and read them into the same
//! [`AgentResult`] the Cekura runs give, so that every report shows both.
//!
//! Selection and reading are pure and tested with plain values. Starting is never retried (a resent run starts
//! another generation); a test case Tela did not start because a generation of it was already in progress is
//! reported as an error, not waited for. Aborting is the caller's decision (Ctrl-C): [`abort`] sends it.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::Value;

use super::outcome::{AgentResult, EvaluatorResult, RunFailure, Verdict};
use super::select::Selection;
use super::wait::{poll_may_retry, Backoff, PollSettings};
use crate::http::ApiError;
use crate::model::{State, Text};
use crate::tela::{wire, TelaClient};

/// One declared test case a run covers.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseTarget {
    pub id: String,
    pub title: String,
    /// Where the manifests declare it (`FILE:LINE:COLUMN`).
    pub source: Option<String>,
}

/// The test cases of one prompt a run covers, in declaration order.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptTargets {
    pub prompt: String,
    pub cases: Vec<CaseTarget>,
    /// Every test case the manifests declare for the prompt is selected: one `run-all` starts them.
    pub all_declared: bool,
    /// `tela.prompt_version`: sent as `promptVersionId` in every run body; `None` sends none (Tela chooses).
    pub version: Option<Text>,
}

/// A selected test case that the platform does not have, or has more than once (`copies`: the ids of the live test
/// cases with its title, when there are several), described for a message.
#[derive(Debug, Clone, PartialEq)]
pub struct MissingCase {
    pub prompt: String,
    pub title: String,
    pub source: Option<String>,
    pub copies: Vec<String>,
}

impl MissingCase {
    /// `"Order has not arrived" of prompt 5f0c…, declared at tela.yaml:4:7`, and the ids of its copies.
    pub fn describe(&self) -> String {
        let at = self.source.as_ref().map(|s| format!(", declared at {s}")).unwrap_or_default();
        let copies = match self.copies.as_slice() {
            [] => String::new(),
            ids => format!(": {} test cases on the platform have this title ({})", ids.len(), ids.join(", ")),
        };
        format!("{:?} of prompt {}{at}{copies}", self.title, self.prompt)
    }
}

/// The declared test cases of every prompt, matched by title (their identity) to the platform's `remote` lists.
/// Test cases have neither tags nor folders, so `--tags` or `--folder` select none of them; `--name` matches
/// their title. Prompts with nothing selected are left out. `Err` lists every selected case not on the platform.
pub fn select_test_cases(
    state: &State,
    remote: &BTreeMap<String, Vec<wire::TestCase>>,
    selection: &Selection,
) -> Result<Vec<PromptTargets>, Vec<MissingCase>> {
    if !selection.tags.is_empty() || selection.folder.is_some() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for (prompt, desired) in &state.prompts {
        let listed = remote.get(prompt).map(Vec::as_slice).unwrap_or_default();
        let mut cases = Vec::new();
        for tc in &desired.test_cases {
            if !selection.name.as_ref().is_none_or(|p| p.matches(&tc.title)) {
                continue;
            }
            let source = tc.source.as_ref().map(ToString::to_string);
            // A title is the identity: two live copies (one made in Tela's editor) would leave it to chance which
            // one runs, and apply would change another. Refused, naming both.
            let live: Vec<&wire::TestCase> =
                listed.iter().filter(|l| l.deleted_at.is_none() && l.title == tc.title).collect();
            let copies = match live.as_slice() {
                [found] => {
                    cases.push(CaseTarget { id: found.id.clone(), title: tc.title.clone(), source });
                    continue;
                }
                several => several.iter().map(|l| l.id.clone()).collect(),
            };
            missing.push(MissingCase { prompt: prompt.clone(), title: tc.title.clone(), source, copies });
        }
        if !cases.is_empty() {
            let all_declared = cases.len() == desired.test_cases.len();
            let version = desired.prompt_version.clone();
            out.push(PromptTargets { prompt: prompt.clone(), cases, all_declared, version });
        }
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(missing)
    }
}

/// The platform's test cases of every prompt the manifests declare test cases for. One read per prompt, the
/// prompts' reads at once; the first prompt's error (in prompt order) when several fail.
pub async fn list_declared_prompts(
    client: &TelaClient,
    state: &State,
) -> Result<BTreeMap<String, Vec<wire::TestCase>>, ApiError> {
    let prompts = state.prompts.values().filter(|p| !p.test_cases.is_empty()).map(|p| p.prompt.clone());
    super::read_each(prompts, "/test-case", |prompt| {
        let client = client.clone();
        async move { client.list_test_cases(&prompt).await }
    })
    .await
}

/// One test case as started: its generation, or why Tela started none.
#[derive(Debug, Clone, PartialEq)]
pub struct StartedCase {
    pub target: CaseTarget,
    pub generation: Option<String>,
    /// Why no generation was started (one was already in progress).
    pub not_started: Option<String>,
}

/// The started test cases of one prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct StartedPrompt {
    pub prompt: String,
    /// The `run-all` execution, when one call started them.
    pub execution: Option<String>,
    pub cases: Vec<StartedCase>,
}

impl StartedPrompt {
    /// The generations evalform waits for.
    pub fn generations(&self) -> impl Iterator<Item = (&StartedCase, &str)> {
        self.cases.iter().filter_map(|c| c.generation.as_deref().map(|g| (c, g)))
    }
}

/// Starting failed: the request was refused, or its outcome is unknown. `started` holds what this prompt had
/// started before (per-case runs), so that the caller can name it and abort it.
#[derive(Debug, thiserror::Error)]
#[error("{}", match version { Some(VersionRefusal::Required) => format!(
    "Tela requires a prompt version to run the test cases of prompt {prompt}"), _ => format!(
    "cannot start the Tela test cases of prompt {prompt}") })]
pub struct StartError {
    pub prompt: String,
    pub started: StartedPrompt,
    /// The refusal is about `promptVersionId`.
    pub version: Option<VersionRefusal>,
    #[source]
    pub source: ApiError,
}

/// A start Tela refused over the prompt version (a 400 that names `promptVersionId`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRefusal {
    /// None was sent, and Tela wants one: set `tela.prompt_version`.
    Required,
    /// The one sent (`tela.prompt_version`) was refused.
    Rejected,
}

/// Whether `err` is Tela refusing the run body's `promptVersionId` (or its absence), and which case it is.
fn version_refusal(err: &ApiError, sent: bool) -> Option<VersionRefusal> {
    match err {
        ApiError::Rejected { status: 400, message, .. } if message.contains("promptVersionId") => {
            Some(if sent { VersionRefusal::Rejected } else { VersionRefusal::Required })
        }
        _ => None,
    }
}

/// Start the selected test cases of one prompt: one `run-all` when `all_declared`, else one `run` per case, in
/// order, each naming `targets.version` when set. No request is sent twice: a start refused over the prompt
/// version (none sent, and Tela wants one) started nothing, and ends the start with [`VersionRefusal::Required`].
pub async fn start(client: &TelaClient, targets: &PromptTargets) -> Result<StartedPrompt, StartError> {
    start_telling(client, targets, &|_, _| {}).await
}

/// [`start`], telling `sending` before each request what this prompt has started so far and which test cases the
/// request is about to start (all of them for `run-all`, one for a `run`): a caller that is interrupted while the
/// request is on its way can name what may have started, and abort what did.
pub async fn start_telling(
    client: &TelaClient,
    targets: &PromptTargets,
    sending: &dyn Fn(&StartedPrompt, &[CaseTarget]),
) -> Result<StartedPrompt, StartError> {
    let mut started = StartedPrompt { prompt: targets.prompt.clone(), execution: None, cases: Vec::new() };
    let version = targets.version.as_ref().map(Text::expose);
    let fail = |started: StartedPrompt, source: ApiError| StartError {
        prompt: targets.prompt.clone(),
        started,
        version: version_refusal(&source, version.is_some()),
        source,
    };
    if targets.all_declared {
        let ids: Vec<String> = targets.cases.iter().map(|c| c.id.clone()).collect();
        sending(&started, &targets.cases);
        let reply = match client.run_all_test_cases(&ids, version).await {
            Ok(reply) => reply,
            Err(e) => return Err(fail(started, e)),
        };
        started.execution = reply.execution_id.filter(|e| !e.is_empty());
        let by_case: BTreeMap<&str, &str> = reply
            .test_case_ids
            .iter()
            .map(String::as_str)
            .zip(reply.generation_ids.iter().map(String::as_str))
            .collect();
        for target in &targets.cases {
            let generation = by_case.get(target.id.as_str()).map(|g| g.to_string());
            let not_started =
                generation.is_none().then(|| "Tela skipped it: a generation was already in progress".into());
            started.cases.push(StartedCase { target: target.clone(), generation, not_started });
        }
        return Ok(started);
    }
    for target in &targets.cases {
        sending(&started, std::slice::from_ref(target));
        let reply = match client.run_test_case(&target.id, version).await {
            Ok(reply) => reply,
            Err(e) => return Err(fail(started, e)),
        };
        let (generation, not_started) = match (reply.success, reply.generation_id) {
            (Some(false), _) | (_, None) => {
                let why = reply.message.unwrap_or_else(|| "a generation was already in progress".into());
                (None, Some(format!("Tela did not start it: {why}")))
            }
            (_, Some(g)) => (Some(g), None),
        };
        started.cases.push(StartedCase { target: target.clone(), generation, not_started });
    }
    Ok(started)
}

/// Whether a generation status is final: `completed`, `failed`, `aborted` (also `error`, `cancelled`), in any case.
pub fn is_final(status: &str) -> bool {
    matches!(status.to_ascii_lowercase().as_str(), "completed" | "failed" | "aborted" | "error" | "cancelled")
}

#[derive(Debug, thiserror::Error)]
pub enum TelaWaitError {
    #[error("the test cases of Tela prompt {prompt} did not end in time")]
    TimedOut { prompt: String, last: BTreeMap<String, wire::Generation> },
    #[error("cannot read the test cases of Tela prompt {prompt} ({attempts} failed polls)")]
    Poll {
        prompt: String,
        attempts: u32,
        last: BTreeMap<String, wire::Generation>,
        #[source]
        source: ApiError,
    },
}

/// Poll the prompt's test cases until every started generation is final or `deadline` passes. `progress` hears
/// `(title, generation)` whenever a generation's status changes, with the generation as read (a caller that stops
/// waiting early can still report what ended). Returns each generation by id.
pub async fn wait(
    client: &TelaClient,
    started: &StartedPrompt,
    deadline: Instant,
    settings: &PollSettings,
    progress: &(dyn Fn(&str, &wire::Generation) + Sync),
) -> Result<BTreeMap<String, wire::Generation>, TelaWaitError> {
    let mut backoff = Backoff::new(settings.first_interval, settings.max_interval);
    let mut failures = 0;
    let mut last: BTreeMap<String, wire::Generation> = BTreeMap::new();
    let wanted: BTreeMap<&str, &str> = started.generations().map(|(c, g)| (g, c.target.title.as_str())).collect();
    loop {
        if wanted.is_empty() {
            return Ok(last);
        }
        match client.list_test_cases_with_generations(&started.prompt).await {
            Ok(cases) => {
                failures = 0;
                let seen = cases.into_iter().flat_map(|c| c.generations.unwrap_or_default());
                for g in seen.filter(|g| wanted.contains_key(g.id.as_str())) {
                    let before = last.get(&g.id).and_then(|o| o.status.clone());
                    if g.status != before {
                        progress(wanted[g.id.as_str()], &g);
                    }
                    last.insert(g.id.clone(), g);
                }
                let done =
                    wanted.keys().all(|id| last.get(*id).and_then(|g| g.status.as_deref()).is_some_and(is_final));
                if done {
                    return Ok(last);
                }
            }
            Err(source) if !poll_may_retry(&source) || failures + 1 >= settings.max_failed_polls => {
                return Err(TelaWaitError::Poll {
                    prompt: started.prompt.clone(),
                    attempts: failures + 1,
                    last,
                    source,
                });
            }
            Err(err) => {
                failures += 1;
                tracing::warn!("Tela prompt {}: poll failed ({err}); trying again", started.prompt);
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(TelaWaitError::TimedOut { prompt: started.prompt.clone(), last });
        }
        tokio::time::sleep(backoff.next_delay().min(deadline - now)).await;
    }
}

/// `POST /test-case/{id}/abort` for every started test case that has a generation, once each. Returns the ids
/// that could not be aborted, with why.
pub async fn abort(client: &TelaClient, started: &StartedPrompt) -> Vec<(String, ApiError)> {
    let mut failed = Vec::new();
    for (case, _) in started.generations() {
        if let Err(e) = client.abort_test_case(&case.target.id).await {
            failed.push((case.target.id.clone(), e));
        }
    }
    failed
}

/// The prompt's runs as one result of the report. A generation passed when it `completed` and its evaluation
/// says `passed` (or `success`) true; completed and not passed is a failure (with the evaluation's explanation);
/// anything else (failed, aborted, not started, not reported, completed without an evaluation) is an error.
/// `reason` explains generations that were not final (the wait ended early).
pub fn read(
    started: &StartedPrompt,
    generations: &BTreeMap<String, wire::Generation>,
    reason: Option<&str>,
    seconds: f64,
) -> AgentResult {
    let mut cases = Vec::new();
    for case in &started.cases {
        let generation = case.generation.as_deref().and_then(|g| generations.get(g));
        let failure = match (case.generation.as_deref(), generation) {
            (None, _) => Some(failure(None, "not started", case.not_started.clone())),
            (Some(id), None) => Some(failure(
                Some(id),
                "missing",
                Some(reason.map(str::to_string).unwrap_or_else(|| format!("Tela reported no generation {id}"))),
            )),
            (Some(id), Some(g)) => read_generation(id, g, reason),
        };
        let verdict = match &failure {
            None => Verdict::Passed,
            Some(f) if f.status == "completed" => Verdict::Failed,
            Some(_) => Verdict::Error,
        };
        cases.push(EvaluatorResult {
            id: 0,
            test_case_id: Some(case.target.id.clone()),
            name: case.target.title.clone(),
            source: case.target.source.clone(),
            verdict,
            runs: u64::from(case.generation.is_some()),
            successful_runs: u64::from(verdict == Verdict::Passed),
            failures: failure.into_iter().collect(),
        });
    }
    let status = prompt_status(&cases);
    AgentResult {
        agent: 0,
        prompt: Some(started.prompt.clone()),
        result_id: 0,
        status,
        total_runs: cases.iter().map(|c| c.runs).sum(),
        successful_runs: cases.iter().map(|c| c.successful_runs).sum(),
        seconds,
        evaluators: cases,
    }
}

/// `completed` when every test case ran to its end; else the first of `failed`, `aborted`, then `running` (not
/// ended) found among them.
fn prompt_status(cases: &[EvaluatorResult]) -> String {
    let statuses: Vec<&str> = cases.iter().flat_map(|c| c.failures.iter().map(|f| f.status.as_str())).collect();
    if statuses.iter().all(|s| *s == "completed") {
        return "completed".into();
    }
    for s in ["failed", "aborted"] {
        if statuses.contains(&s) {
            return s.into();
        }
    }
    "incomplete".into()
}

fn failure(generation: Option<&str>, status: &str, explanation: Option<String>) -> RunFailure {
    RunFailure {
        run_id: None,
        generation_id: generation.map(str::to_string),
        status: status.into(),
        metric: None,
        explanation,
    }
}

/// `None` when the generation passed.
fn read_generation(id: &str, g: &wire::Generation, reason: Option<&str>) -> Option<RunFailure> {
    let status = g.status.as_deref().unwrap_or("unknown").to_ascii_lowercase();
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(String::from);
    if !is_final(&status) {
        return Some(failure(Some(id), &status, reason.map(str::to_string)));
    }
    if status != "completed" {
        let why = text(g.error.as_ref()).or_else(|| text(g.error.as_ref().and_then(|e| e.get("message"))));
        return Some(failure(Some(id), &status, why));
    }
    let evaluation = g.evaluation.as_ref();
    let passed = evaluation.and_then(|e| e.get("passed").or_else(|| e.get("success"))).and_then(Value::as_bool);
    let explanation = text(evaluation.and_then(|e| e.get("explanation")));
    match passed {
        Some(true) => None,
        Some(false) => {
            Some(RunFailure { metric: Some("Expected output".into()), ..failure(Some(id), "completed", explanation) })
        }
        None => Some(failure(Some(id), "unevaluated", Some("Tela reported no evaluation for this generation".into()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PromptState, SourceSpan, TestCase};
    use serde_json::json;

    fn declared(title: &str) -> TestCase {
        TestCase {
            id: None,
            title: title.into(),
            messages: None,
            variables: None,
            expected_output: None,
            source: Some(SourceSpan { file: "t.yaml".into(), line: 4, column: 7 }),
        }
    }

    fn world() -> (State, BTreeMap<String, Vec<wire::TestCase>>) {
        let mut state = State::default();
        let prompt = PromptState {
            prompt: "p1".into(),
            prune: false,
            prompt_version: Some(Text::new("v-7")),
            test_cases: vec![declared("Order late"), declared("Refund")],
            owned: Default::default(),
        };
        state.prompts.insert("p1".into(), prompt);
        let listed: Vec<wire::TestCase> = serde_json::from_value(json!([
            {"id": "tc-1", "title": "Order late"}, {"id": "tc-2", "title": "Refund"}, {"id": "tc-3", "title": "Other"}
        ]))
        .unwrap();
        (state, BTreeMap::from([("p1".to_string(), listed)]))
    }

    #[test]
    fn selection_by_title_run_all_only_when_every_declared_case_is_selected() {
        let (state, remote) = world();
        let all = select_test_cases(&state, &remote, &Selection::default()).unwrap();
        assert_eq!(all[0].cases.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["tc-1", "tc-2"]);
        assert!(all[0].all_declared, "the undeclared tc-3 does not count");
        assert_eq!(all[0].version.as_ref().map(Text::expose), Some("v-7"), "the prompt's version goes with it");
        let one = select_test_cases(&state, &remote, &Selection::new(vec![], None, Some("Ref*")).unwrap()).unwrap();
        assert_eq!((one[0].cases.len(), one[0].all_declared), (1, false));
        let tags = Selection::new(vec!["smoke".into()], None, None).unwrap();
        assert!(select_test_cases(&state, &remote, &tags).unwrap().is_empty(), "test cases have no tags");
        let mut more = state.clone();
        more.prompts.get_mut("p1").unwrap().test_cases.push(declared("New"));
        let missing = select_test_cases(&more, &remote, &Selection::default()).unwrap_err();
        assert_eq!(missing[0].describe(), "\"New\" of prompt p1, declared at t.yaml:4:7");
    }

    #[test]
    fn a_400_naming_prompt_version_id_is_a_version_refusal() {
        let rejected = |status, message: &str| ApiError::Rejected {
            method: "POST".into(),
            path: "/test-case/run-all".into(),
            status,
            message: message.into(),
        };
        let named = rejected(400, "promptVersionId is required.");
        assert_eq!(version_refusal(&named, false), Some(VersionRefusal::Required));
        assert_eq!(version_refusal(&named, true), Some(VersionRefusal::Rejected));
        assert_eq!(version_refusal(&rejected(400, "testCaseIds must not be empty."), false), None);
        assert_eq!(version_refusal(&rejected(404, "promptVersionId not found."), false), None);
    }

    #[test]
    fn generations_read_into_verdicts() {
        let target = |id: &str, title: &str| CaseTarget { id: id.into(), title: title.into(), source: None };
        let case = |id: &str, title: &str, g: Option<&str>| StartedCase {
            target: target(id, title),
            generation: g.map(String::from),
            not_started: g.is_none().then(|| "Tela did not start it: busy".into()),
        };
        let started = StartedPrompt {
            prompt: "p1".into(),
            execution: None,
            cases: vec![
                case("a", "Pass", Some("g1")),
                case("b", "Fail", Some("g2")),
                case("c", "Crash", Some("g3")),
                case("d", "Busy", None),
                case("e", "Silent", Some("g5")),
            ],
        };
        let gens: Vec<wire::Generation> = serde_json::from_value(json!([
            {"id": "g1", "status": "completed", "evaluation": {"passed": true}},
            {"id": "g2", "status": "COMPLETED", "evaluation": {"passed": false, "explanation": " Wrong order. "}},
            {"id": "g3", "status": "failed", "error": "boom"},
            {"id": "g5", "status": "completed"},
        ]))
        .unwrap();
        let by_id = gens.into_iter().map(|g| (g.id.clone(), g)).collect();
        let r = read(&started, &by_id, None, 1.0);
        let verdicts: Vec<Verdict> = r.evaluators.iter().map(|e| e.verdict).collect();
        assert_eq!(verdicts, [Verdict::Passed, Verdict::Failed, Verdict::Error, Verdict::Error, Verdict::Error]);
        assert_eq!(r.evaluators[1].failures[0].describe(), "generation g2 failed on Expected output: Wrong order.");
        assert_eq!(r.evaluators[2].failures[0].describe(), "generation g3 ended failed");
        assert_eq!(r.evaluators[3].failures[0].describe(), "Tela did not start it: busy");
        assert_eq!((r.status.as_str(), r.total_runs, r.successful_runs), ("failed", 4, 1));
        assert_eq!(r.label(), "prompt p1");
    }
}
