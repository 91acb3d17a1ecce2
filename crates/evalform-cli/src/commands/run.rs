//! `evalform run`: start runs of the declared evaluators and Tela test cases, wait for their results, report, and
//! exit 1 unless the set met `--min-success-rate`.
//!
//! Progress (started, status changes) goes to stderr, the report to stdout. A run set that was started is always
//! named by its result id (a Tela test case by its generation), also when waiting ends in an error, so the user can
//! look at it later. Ctrl-C aborts the Tela test cases this run started that had not ended (see [`interrupted`]).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use evalform::http::ApiError;
use evalform::manifest::EnvMode;
use evalform::runner::tela::VersionRefusal;
use evalform::runner::{self, report, RunOverrides, RunReport, SelectError, Selection, WaitError};

use crate::cli::{GlobalArgs, ReportArgs, RunArgs, RunFormat};
use crate::error::{api_hint, CliError, Outcome};
use crate::printer::Printer;

pub async fn run(global: &GlobalArgs, p: &Printer, args: RunArgs) -> Result<Outcome, CliError> {
    check_report_args(&args.report)?;
    let selection = Selection::new(args.tags.clone(), args.folder.clone(), args.name.as_deref())
        .map_err(|e| CliError::from_error(&e))?;
    let Some(manifests) = super::load_manifests(p, &args.paths.paths, EnvMode::Deferred) else {
        return Ok(Outcome::Failure);
    };
    crate::project::announce(p, &manifests.state);
    let state = &manifests.state;

    // Cekura evaluators, then Tela test cases; each platform is contacted only when the manifests declare
    // something of it.
    let mut agents = Vec::new();
    let mut cekura = None;
    if state.agents.values().any(|a| !a.evaluators.is_empty()) {
        let client = crate::connect::cekura_client(&args.remote, global.parallelism)?;
        let remote = runner::list_declared_agents(&client, state).await?;
        match runner::select(state, &remote, &selection) {
            Ok(selected) => agents = selected,
            Err(SelectError::NothingSelected { .. }) => {}
            Err(e) => return Err(select_error(e)),
        }
        cekura = Some(client);
    }
    let mut prompts = Vec::new();
    let mut tela = None;
    if state.prompts.values().any(|p| !p.test_cases.is_empty()) {
        // A version named through a variable that is not set: running would test whichever version Tela picks.
        let unset = state.prompts.values().filter(|p| !p.test_cases.is_empty()).find_map(|p| {
            let v = p.prompt_version.as_ref().filter(|v| v.expose().is_empty())?;
            Some((p.prompt.clone(), v.template().unwrap_or_default().to_string()))
        });
        if let Some((prompt, template)) = unset {
            return Err(CliError::new(format!(
                "`tela.prompt_version` of prompt {prompt} is `{template}`, and its variable is not set"
            ))
            .hint("set the variable, or leave `prompt_version` out to let Tela choose the version; nothing was run"));
        }
        let client = crate::connect::tela_client(&args.remote, global.parallelism)?;
        let remote = runner::tela::list_declared_prompts(&client, state).await?;
        prompts = runner::tela::select_test_cases(state, &remote, &selection).map_err(missing_test_cases)?;
        tela = Some(client);
    }
    if agents.is_empty() && prompts.is_empty() {
        if tela.is_none() {
            return Err(select_error(SelectError::NothingSelected { selection: selection.describe() }));
        }
        return Err(CliError::new(format!(
            "no declared evaluator or Tela test case matches {}",
            selection.describe().replace("all declared evaluators", "the selection")
        ))
        .hint(
            "check the filters against the manifests' tags, folders and names (Tela test cases have no tags or \
             folders; --name matches their title)",
        ));
    }
    if let (Some(client), false) = (&cekura, agents.is_empty()) {
        warn_of_differences(p, client, state, &agents).await;
    }

    let overrides = RunOverrides {
        frequency: args.frequency,
        test_profile: args.test_profile,
        personality: args.personality,
        name: Some("evalform run".into()),
    };
    // From the first start on, Ctrl-C aborts (Tela) and names (Cekura) everything started so far, and reports
    // what ended; what it all is lives in `so_far`, outside the future that Ctrl-C drops.
    let so_far = SoFar::default();
    let work = start_and_wait(p, &so_far, cekura.as_ref(), &agents, tela.as_ref(), &prompts, &overrides, &args);
    match interruptible(work, ctrl_c_from_now()).await {
        Some(done) => done,
        None => Err(interrupted(p, &so_far, tela.as_ref(), &args.report, args.no_wait).await),
    }
}

/// What a run has started, what is on its way, and what has ended, as it goes.
#[derive(Default)]
pub(super) struct SoFar<'a> {
    pub(super) cekura: RefCell<Vec<(&'a runner::AgentTargets, u64)>>,
    tela: RefCell<Vec<runner::tela::StartedPrompt>>,
    /// The start request on its way (its outcome would be unknown if interrupted), described for the user.
    pub(super) sending: RefCell<Option<String>>,
    /// What the prompt being started has started already (one run per test case).
    tela_partial: RefCell<Option<runner::tela::StartedPrompt>>,
    /// The results that ended (or were given up on), in the report's order.
    ended: RefCell<Vec<runner::AgentResult>>,
    pub(super) waiting: Cell<bool>,
    /// The last status read of each result being waited for (by result id), and the last read of each Tela
    /// generation (by id), to show how far a run got, or how it ended, when the wait is interrupted.
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    results: BTreeMap<u64, String>,
    generations: BTreeMap<String, evalform::tela::wire::Generation>,
}

impl SoFar<'_> {
    /// `reason`, with the last status read of the run (`... (last seen: running)`) when one was read.
    fn reason_seen(&self, reason: &str, result: Option<u64>, generation: Option<&str>) -> String {
        let seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let status = match (result, generation) {
            (_, Some(g)) => seen.generations.get(g).and_then(|g| g.status.as_ref()),
            (Some(id), None) => seen.results.get(&id),
            (None, None) => None,
        };
        match status {
            Some(status) => format!("{reason} (last seen: {status})"),
            None => reason.to_string(),
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn start_and_wait<'a>(
    p: &Printer,
    so_far: &SoFar<'a>,
    cekura: Option<&evalform::cekura::CekuraClient>,
    agents: &'a [runner::AgentTargets],
    tela: Option<&evalform::tela::TelaClient>,
    prompts: &[runner::tela::PromptTargets],
    overrides: &RunOverrides,
    args: &RunArgs,
) -> Result<Outcome, CliError> {
    let progress = |line: String| p.status(&line);
    if let Some(client) = cekura {
        for agent in agents {
            let body = runner::start_body(agent, overrides);
            so_far.sending.replace(Some(cekura_start_sent(agent)));
            let reply = client.run_scenarios(&body).await;
            so_far.sending.replace(None);
            let reply = reply.map_err(|e| start_error(e, agent, &so_far.cekura.borrow()))?;
            progress(format!(
                "started result {} for agent {}: {} evaluator{}",
                reply.id,
                agent.agent,
                agent.targets.len(),
                if agent.targets.len() == 1 { "" } else { "s" }
            ));
            so_far.cekura.borrow_mut().push((agent, reply.id));
        }
    }
    if let Some(client) = tela {
        for prompt in prompts {
            let sending = |partial: &runner::tela::StartedPrompt, cases: &[runner::tela::CaseTarget]| {
                so_far.sending.replace(Some(tela_start_sent(prompt, cases)));
                so_far.tela_partial.replace(Some(partial.clone()));
            };
            let begun = runner::tela::start_telling(client, prompt, &sending).await;
            so_far.sending.replace(None);
            so_far.tela_partial.replace(None);
            let begun =
                begun.map_err(|e| tela_start_error(e, prompt, &so_far.cekura.borrow(), &so_far.tela.borrow()))?;
            let n = begun.generations().count();
            let how = if begun.execution.is_some() { "run-all" } else { "one run each" };
            progress(format!("started {n} test case{} of Tela prompt {} ({how})", plural(n), prompt.prompt));
            for case in begun.cases.iter().filter(|c| c.generation.is_none()) {
                p.warn(&format!(
                    "warning: test case {:?} of Tela prompt {} was not started: {}",
                    case.target.title,
                    prompt.prompt,
                    case.not_started.as_deref().unwrap_or("no generation")
                ));
            }
            so_far.tela.borrow_mut().push(begun);
        }
    }

    let started = so_far.cekura.borrow().clone();
    let tela_started = so_far.tela.borrow().clone();
    if args.no_wait {
        print_started(p, &started, &tela_started, args.report.format);
        return Ok(Outcome::Success);
    }
    so_far.waiting.set(true);
    let tela_runs = tela.map(|client| TelaRuns { client, started: tela_started });
    report_after_wait(p, cekura, &started, tela_runs.as_ref(), &args.report, so_far).await
}

/// What a Cekura start sends, for a message.
fn cekura_start_sent(agent: &runner::AgentTargets) -> String {
    let names: Vec<String> = agent.targets.iter().map(|t| format!("{:?} (id {})", t.name, t.id)).collect();
    format!(
        "POST /test_framework/v1/scenarios/run_scenarios/ for agent {}, evaluator{} {}",
        agent.agent,
        plural(names.len()),
        names.join(", ")
    )
}

/// What a Tela start of `cases` sends, for a message.
fn tela_start_sent(prompt: &runner::tela::PromptTargets, cases: &[runner::tela::CaseTarget]) -> String {
    let names: Vec<String> = cases.iter().map(|c| format!("{:?} (id {})", c.title, c.id)).collect();
    let request = match cases {
        [one] if !prompt.all_declared => format!("POST /test-case/{}/run", one.id),
        _ => "POST /test-case/run-all".to_string(),
    };
    format!("{request} for test case{} {} of Tela prompt {}", plural(names.len()), names.join(", "), prompt.prompt)
}

/// The Tela test cases a run started, to wait for (and to abort on Ctrl-C).
#[derive(Debug)]
pub(super) struct TelaRuns<'a> {
    pub(super) client: &'a evalform::tela::TelaClient,
    pub(super) started: Vec<runner::tela::StartedPrompt>,
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `--min-success-rate` is a share.
pub fn check_report_args(args: &ReportArgs) -> Result<(), CliError> {
    if (0.0..=1.0).contains(&args.min_success_rate) {
        return Ok(());
    }
    Err(CliError::new(format!("--min-success-rate {} is not between 0 and 1", args.min_success_rate))
        .hint("write a share: 0.9 means 90% of the runs must succeed"))
}

/// Wait for every started result (one deadline for all of them), report them as one run in `format`, and end
/// as the contract says: 1 unless the set met `min_success_rate`; an error naming every result that did not end.
/// Tela test cases, when a run started some, are waited for after the Cekura results and reported with them.
/// Each result goes to `so_far.ended` as it ends (for a report on Ctrl-C).
pub(super) async fn report_after_wait(
    p: &Printer,
    client: Option<&evalform::cekura::CekuraClient>,
    started: &[(&runner::AgentTargets, u64)],
    tela: Option<&TelaRuns<'_>>,
    args: &ReportArgs,
    so_far: &SoFar<'_>,
) -> Result<Outcome, CliError> {
    let (min_success_rate, format) = (args.min_success_rate, args.format);
    let poll = crate::env::poll_settings(Duration::from_secs(args.timeout));
    let deadline = Instant::now() + poll.timeout;
    let (unfinished, tela_unfinished) = wait_all(p, client, started, tela, deadline, &poll, so_far).await;
    let results = so_far.ended.take();

    let report = RunReport::new(results, min_success_rate);
    print_report(p, &report, format);
    if let Some(first) = unfinished.first() {
        let mut err = CliError::from_error(first);
        for more in &unfinished[1..] {
            err = err.cause(more.to_string());
        }
        for more in &tela_unfinished {
            err = err.cause(more.to_string());
        }
        let ids: Vec<u64> = unfinished.iter().map(WaitError::result_id).collect();
        let (which, path) = match ids.as_slice() {
            [one] => (format!("result {one}"), format!("{one}")),
            many => {
                let list: Vec<String> = many.iter().map(u64::to_string).collect();
                (format!("results {}", list.join(", ")), "ID".to_string())
            }
        };
        return Err(err.hint(format!(
            "the runs go on without evalform: look at {which} later on the Cekura dashboard or at \
             GET /test_framework/v2/results/{path}/"
        )));
    }
    if let Some(first) = tela_unfinished.first() {
        let mut err = CliError::from_error(first);
        for more in &tela_unfinished[1..] {
            err = err.cause(more.to_string());
        }
        return Err(err.hint(
            "the test cases go on running without evalform: look at them in Tela, or stop them with \
             POST /test-case/{id}/abort",
        ));
    }
    Ok(if report.passed { Outcome::Success } else { Outcome::Failure })
}

/// Ctrl-C, caught from this call on. `tokio::signal::ctrl_c()` only registers its handler when first polled, and
/// a signal that comes before that ends the process without a word.
pub(super) fn ctrl_c_from_now() -> impl std::future::Future<Output = std::io::Result<()>> {
    #[cfg(unix)]
    let listener = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    #[cfg(windows)]
    let listener = tokio::signal::windows::ctrl_c();
    async move {
        match listener?.recv().await {
            Some(()) => Ok(()),
            None => Err(std::io::Error::other("the signal stream ended")),
        }
    }
}

/// `work`, unless `signal` (Ctrl-C) comes first: then `None`, and `work` is dropped. A handler that cannot be
/// registered (`signal` ends in an error) means no Ctrl-C handling, said in a warning, never an interruption.
pub(super) async fn interruptible<T>(
    work: impl std::future::Future<Output = T>,
    signal: impl std::future::Future<Output = std::io::Result<()>>,
) -> Option<T> {
    tokio::pin!(work);
    tokio::select! {
        done = &mut work => return Some(done),
        caught = signal => match caught {
            Ok(()) => return None,
            Err(e) => tracing::warn!(
                "Ctrl-C cannot be handled ({e}): an interruption would not abort or name the runs started"
            ),
        },
    }
    Some(work.await)
}

type Waited = (Vec<WaitError>, Vec<runner::tela::TelaWaitError>);

fn print_report(p: &Printer, report: &RunReport, format: RunFormat) {
    let text = match format {
        RunFormat::Text => report::text(report),
        RunFormat::Json => report::json(report),
        RunFormat::Junit => report::junit(report),
        RunFormat::Markdown => report::markdown(report),
    };
    p.data(&text);
}

/// Wait for the Cekura results, then for the Tela test cases, against one deadline; each result goes to
/// `so_far.ended` as it ends.
async fn wait_all(
    p: &Printer,
    client: Option<&evalform::cekura::CekuraClient>,
    started: &[(&runner::AgentTargets, u64)],
    tela: Option<&TelaRuns<'_>>,
    deadline: Instant,
    poll: &runner::PollSettings,
    so_far: &SoFar<'_>,
) -> Waited {
    let progress = |line: String| p.status(&line);
    let results = &so_far.ended;
    // Only the lock is shared with the wait's status callbacks (which must be `Sync`).
    let seen = &so_far.seen;
    let mut unfinished = Vec::new();
    let cekura = client.map(|c| started.iter().map(move |s| (c, s))).into_iter().flatten();
    for (client, (agent, result_id)) in cekura {
        let began = Instant::now();
        let waiting = p.spinner(&format!("result {result_id} (agent {}): waiting", agent.agent));
        let on_status = |status: &str| {
            if let Ok(mut seen) = seen.lock() {
                seen.results.insert(*result_id, status.to_string());
            }
            let line = format!("result {result_id} (agent {}): {status}", agent.agent);
            if waiting.is_active() {
                waiting.set_message(&line);
            } else {
                progress(line);
            }
        };
        let waited = runner::wait_for_result(client, agent.agent, *result_id, deadline, poll, &on_status).await;
        drop(waiting);
        match waited {
            Ok(result) => {
                progress(format!("result {result_id} (agent {}): {}", agent.agent, result.status));
                results.borrow_mut().push(runner::outcome::read_result(agent, &result, began.elapsed().as_secs_f64()));
            }
            Err(err) => {
                // Still reported (JUnit lists every evaluator that was started), then named as an error below.
                let (status, reason) = match &err {
                    WaitError::TimedOut { status, .. } => {
                        (status.clone(), format!("result {result_id} did not end in time"))
                    }
                    WaitError::Poll { .. } => ("unknown".to_string(), format!("result {result_id} could not be read")),
                };
                let elapsed = began.elapsed().as_secs_f64();
                results.borrow_mut().push(runner::outcome::unfinished(agent, *result_id, &status, &reason, elapsed));
                unfinished.push(err);
            }
        }
    }
    let mut tela_unfinished = Vec::new();
    for (runs, prompt) in tela.iter().flat_map(|t| t.started.iter().map(move |s| (t, s))) {
        let began = Instant::now();
        let waiting = p.spinner(&format!("Tela prompt {}: waiting", prompt.prompt));
        let on_status = |title: &str, generation: &evalform::tela::wire::Generation| {
            if let Ok(mut seen) = seen.lock() {
                seen.generations.insert(generation.id.clone(), generation.clone());
            }
            let status = generation.status.as_deref().unwrap_or("unknown");
            let line = format!("Tela prompt {}, test case {title:?}: {status}", prompt.prompt);
            if waiting.is_active() {
                waiting.set_message(&line);
            } else {
                progress(line);
            }
        };
        let waited = runner::tela::wait(runs.client, prompt, deadline, poll, &on_status).await;
        drop(waiting);
        let elapsed = began.elapsed().as_secs_f64();
        let result = match waited {
            Ok(generations) => runner::tela::read(prompt, &generations, None, elapsed),
            Err(err) => {
                let (last, reason) = match &err {
                    runner::tela::TelaWaitError::TimedOut { last, .. } => (last.clone(), "did not end in time"),
                    runner::tela::TelaWaitError::Poll { last, .. } => (last.clone(), "could not be read"),
                };
                tela_unfinished.push(err);
                runner::tela::read(prompt, &last, Some(reason), elapsed)
            }
        };
        progress(format!("Tela prompt {}: {}", prompt.prompt, result.status));
        results.borrow_mut().push(result);
    }
    (unfinished, tela_unfinished)
}

/// Ctrl-C after the first start: abort every started Tela test case not read as ended (once each), say which were
/// aborted and which could not be, name a start that was on its way (it may have started), print the report of what
/// ended with the rest as interrupted (with the last status read of each), and name the Cekura results that go on
/// (Cekura's API has no cancel).
pub(super) async fn interrupted(
    p: &Printer,
    so_far: &SoFar<'_>,
    client: Option<&evalform::tela::TelaClient>,
    args: &ReportArgs,
    no_wait: bool,
) -> CliError {
    let what =
        if so_far.waiting.get() { "interrupted: stopped waiting" } else { "interrupted: stopped starting the runs" };
    let mut err = CliError::new(what);
    let mut tela = so_far.tela.take();
    tela.extend(so_far.tela_partial.take().filter(|partial| partial.generations().next().is_some()));
    // The generations as last read while waiting; those read as ended are reported as they ended, not aborted.
    let seen = so_far.seen.lock().map(|s| s.generations.clone()).unwrap_or_default();
    let ended = |g: &str| seen.get(g).and_then(|g| g.status.as_deref()).is_some_and(runner::tela::is_final);
    for (client, prompt) in client.iter().flat_map(|c| tela.iter().map(move |t| (*c, t))) {
        let going = runner::tela::StartedPrompt {
            cases: prompt.cases.iter().filter(|c| !c.generation.as_deref().is_some_and(ended)).cloned().collect(),
            ..prompt.clone()
        };
        let failed = runner::tela::abort(client, &going).await;
        for (case, _) in going.generations() {
            match failed.iter().find(|(id, _)| *id == case.target.id) {
                None => p.status(&format!(
                    "abort sent: test case {:?} of Tela prompt {} (generation {})",
                    case.target.title,
                    prompt.prompt,
                    case.generation.as_deref().unwrap_or("?")
                )),
                Some((_, e)) => {
                    err = err.cause(format!(
                        "test case {:?} (id {}) of Tela prompt {} could not be aborted and may still be running: {e}",
                        case.target.title, case.target.id, prompt.prompt
                    ))
                }
            }
        }
    }
    if let Some(sent) = so_far.sending.take() {
        err = err.cause(format!(
            "{sent} was on its way when interrupted, so its runs may have started; evalform did not send it again \
             and cannot abort them (it never learned their ids)"
        ));
    }

    // The report: what ended, then what was started and had not ended, as interrupted. With `--no-wait`, what
    // was started, as `--no-wait` prints it.
    let started = so_far.cekura.borrow().clone();
    if no_wait {
        print_started(p, &started, &tela, args.format);
    }
    let mut results = so_far.ended.take();
    let reason = "interrupted (Ctrl-C) before it ended";
    for (agent, id) in started.iter().filter(|_| !no_wait) {
        if !results.iter().any(|r| r.prompt.is_none() && r.result_id == *id) {
            let reason = so_far.reason_seen(reason, Some(*id), None);
            results.push(runner::outcome::unfinished(agent, *id, "interrupted", &reason, 0.0));
        }
    }
    for prompt in tela.iter().filter(|_| !no_wait) {
        if !results.iter().any(|r| r.prompt.as_deref() == Some(prompt.prompt.as_str())) {
            let mut result = runner::tela::read(prompt, &seen, Some(reason), 0.0);
            for failure in result.evaluators.iter_mut().flat_map(|e| e.failures.iter_mut()) {
                match &failure.generation_id {
                    Some(g) if !ended(g) => {
                        failure.status = "interrupted".into();
                        failure.explanation = Some(so_far.reason_seen(reason, None, Some(g)));
                        result.status = "interrupted".into();
                    }
                    _ => {}
                }
            }
            results.push(result);
        }
    }
    if !results.is_empty() {
        print_report(p, &RunReport::new(results, args.min_success_rate), args.format);
    }
    if !started.is_empty() {
        let ids: Vec<String> = started.iter().map(|(a, id)| format!("{id} (agent {})", a.agent)).collect();
        err = err.hint(format!("Cekura has no cancel: result {} goes on running", ids.join(", ")));
    }
    err
}

fn print_started(
    p: &Printer,
    started: &[(&runner::AgentTargets, u64)],
    tela: &[runner::tela::StartedPrompt],
    format: RunFormat,
) {
    if format == RunFormat::Json {
        let mut items: Vec<serde_json::Value> = started
            .iter()
            .map(|(a, id)| serde_json::json!({ "agent": a.agent, "result_id": id, "evaluators": a.targets }))
            .collect();
        for prompt in tela {
            let cases: Vec<serde_json::Value> = prompt
                .cases
                .iter()
                .map(|c| serde_json::json!({ "test_case_id": c.target.id, "title": c.target.title, "generation_id": c.generation }))
                .collect();
            items.push(serde_json::json!({ "prompt": prompt.prompt, "test_cases": cases }));
        }
        p.data_line(&serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".into()));
    } else {
        for (a, id) in started {
            p.data_line(&format!("agent {}: result {id}", a.agent));
        }
        for prompt in tela {
            for c in &prompt.cases {
                let g = c.generation.as_deref().map(|g| format!("generation {g}")).unwrap_or("not started".into());
                p.data_line(&format!("prompt {}: test case {:?}: {g}", prompt.prompt, c.target.title));
            }
        }
    }
}

/// Selected Tela test cases that the platform does not have.
fn missing_test_cases(missing: Vec<runner::tela::MissingCase>) -> CliError {
    let n = missing.len();
    let copies = missing.iter().any(|m| !m.copies.is_empty());
    let mut out = if copies {
        CliError::new(format!(
            "{n} selected Tela test case{} not on the platform exactly once",
            if n == 1 { " is" } else { "s are" }
        ))
    } else {
        CliError::new(format!(
            "{n} selected Tela test case{} not on the platform",
            if n == 1 { " is" } else { "s are" }
        ))
    };
    for m in &missing {
        out = out.cause(m.describe());
    }
    if copies {
        out.hint(
            "a title is a test case's identity: delete or rename the copies in Tela, then run again; nothing was run",
        )
    } else {
        out.hint("run `evalform apply` first, so that Tela has every test case the manifests declare")
    }
}

/// Starting a prompt's test cases failed. Never resent: say what may have started, and what did.
fn tela_start_error(
    err: runner::tela::StartError,
    targets: &runner::tela::PromptTargets,
    started: &[(&runner::AgentTargets, u64)],
    tela: &[runner::tela::StartedPrompt],
) -> CliError {
    let unknown = err.source.is_outcome_unknown();
    let mut out = CliError::from_error(&err);
    if let ApiError::Decode { .. } = &err.source {
        // Answered 2xx: Tela took the request, and its answer (the generations) is lost.
        let cases = match targets.all_declared {
            true => &targets.cases[..],
            false => targets.cases.get(err.started.cases.len()..=err.started.cases.len()).unwrap_or_default(),
        };
        out = CliError::new(format!(
            "the Tela test cases of prompt {} may have started: Tela accepted the start, and evalform cannot read \
             its answer",
            err.prompt
        ))
        .cause(err.source.to_string())
        .hint(format!("sent once and not retried (evalform never resends a start whose outcome is unknown): {}", tela_start_sent(targets, cases)))
        .hint("look at their generations in Tela before running again; stop them there, or with POST /test-case/{id}/abort");
    } else if unknown {
        out = out.hint(
            "the test cases may have started anyway; look at them in Tela before running again (evalform does not resend a run)",
        );
    } else if let Some(refusal) = err.version {
        out = out.hint(match refusal {
            VersionRefusal::Required => format!(
                "set `prompt_version: ID` under `tela:` in the manifests of prompt {} (per environment: \
                 `prompt_version: ${{var:NAME}}`); the refused request started nothing",
                err.prompt
            ),
            VersionRefusal::Rejected => {
                format!("check `tela.prompt_version` of prompt {}; the refused request started nothing", err.prompt)
            }
        });
    } else if let Some(h) = api_hint(&err.source) {
        out = out.hint(h);
    }
    let mut already: Vec<String> = started.iter().map(|(a, id)| format!("result {id} (agent {})", a.agent)).collect();
    for prompt in tela.iter().chain(std::iter::once(&err.started)) {
        for (case, g) in prompt.generations() {
            already.push(format!("test case {:?} of prompt {} (generation {g})", case.target.title, prompt.prompt));
        }
    }
    if !already.is_empty() {
        out = out.hint(format!("already started: {}", already.join(", ")));
    }
    out
}

fn select_error(err: SelectError) -> CliError {
    match &err {
        SelectError::NotOnPlatform { missing } => {
            let mut out = CliError::new(err.to_string());
            for m in missing {
                out = out.cause(m.describe());
            }
            out.hint("run `evalform apply` first, so that the platform has every evaluator the manifests declare")
        }
        SelectError::NothingSelected { .. } => {
            CliError::new(err.to_string()).hint("check the filters against the manifests' tags, folders and names")
        }
        SelectError::BadPattern { .. } => CliError::new(err.to_string()),
    }
}

/// Starting runs failed. An unknown outcome may have started them: say so, and never start them again blindly.
fn start_error(err: ApiError, agent: &runner::AgentTargets, started: &[(&runner::AgentTargets, u64)]) -> CliError {
    let unknown = err.is_outcome_unknown();
    let id = agent.agent;
    let mut out = CliError::new(format!("cannot start the runs of agent {id}")).cause(err.to_string());
    if let ApiError::Decode { .. } = &err {
        // Answered 2xx: the platform took the request, and its answer (the result id) is lost.
        out = CliError::new(format!(
            "the runs of agent {id} may have started: the platform accepted the start, and evalform cannot read its \
             answer"
        ))
        .cause(err.to_string())
        .hint(format!(
            "sent once and not retried (evalform never resends a start whose outcome is unknown): {}",
            cekura_start_sent(agent)
        ))
        .hint("look at the agent's results on the Cekura dashboard before running again");
    } else if unknown {
        out = out
            .hint("the runs may have started anyway; look at the agent's results on the platform before running again");
    } else if let Some(h) = api_hint(&err) {
        out = out.hint(h);
    }
    if !started.is_empty() {
        let ids: Vec<String> = started.iter().map(|(a, id)| format!("{id} (agent {})", a.agent)).collect();
        out = out.hint(format!("already started: result {}", ids.join(", ")));
    }
    out
}

/// `run` runs what is on the platform. When that differs from the manifests for a selected evaluator (an edit
/// not applied yet, a dashboard edit), say so before starting, naming the evaluators and fields: the result would
/// otherwise be read as the result of the manifests' text. A value the manifests take from an unset `${env:...}`
/// is not compared (it is unknown here). Reading or planning failures only skip the warning.
async fn warn_of_differences(
    p: &Printer,
    client: &evalform::cekura::CekuraClient,
    state: &evalform::model::State,
    agents: &[runner::AgentTargets],
) {
    use evalform::model::Address;
    use evalform::plan::{Action, FieldValue};

    let mut desired = state.clone();
    desired.prompts.clear();
    desired.agents.retain(|id, _| agents.iter().any(|a| a.agent == *id));
    let remote = evalform::remote::Remote { cekura: Some(client.clone()), tela: None };
    let observed = {
        let _spinner = p.spinner("Comparing the selected evaluators with the platform");
        match remote.observe(&desired).await {
            Ok(snapshot) => snapshot.observed,
            Err(e) => {
                tracing::info!("run: not compared with the platform: {e}");
                return;
            }
        }
    };
    let Ok(plan) = evalform::plan::plan(&desired, &observed, &evalform::plan::PlanSettings::default()) else {
        return;
    };
    let unknown =
        |v: &Option<FieldValue>| matches!(v, Some(FieldValue::Text(t)) if t.is_sensitive() && t.expose().is_empty());
    let mut differing = Vec::new();
    for change in plan.changes.iter().filter(|c| c.action == Action::Update) {
        let Address::Evaluator { agent, name } = &change.address else { continue };
        let selected = agents.iter().any(|a| a.agent == *agent && a.targets.iter().any(|t| &t.name == name));
        let fields: Vec<&str> = change.fields.iter().filter(|f| !unknown(&f.after)).map(|f| f.field.as_str()).collect();
        if selected && !fields.is_empty() {
            differing.push(format!("{name:?} ({})", fields.join(", ")));
        }
    }
    if differing.is_empty() {
        return;
    }
    let n = differing.len();
    p.warn(&format!(
        "warning: {n} selected evaluator{} differ{} on the platform from the manifests, and run runs the platform's copy: {}",
        if n == 1 { "" } else { "s" },
        if n == 1 { "s" } else { "" },
        differing.join(", ")
    ));
    p.warn("  hint: `evalform test` runs them as the manifests say, without changing the platform; or `evalform apply` first");
}

#[cfg(test)]
mod tests {
    use super::interruptible;

    /// A few polls of work that is not ready at first.
    async fn slow_work() -> u32 {
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        7
    }

    #[tokio::test]
    async fn a_signal_handler_that_cannot_be_registered_does_not_interrupt() {
        let failed = async { Err(std::io::Error::other("no signal driver")) };
        assert_eq!(interruptible(slow_work(), failed).await, Some(7));
    }

    #[tokio::test]
    async fn ctrl_c_interrupts_and_otherwise_the_work_ends() {
        assert_eq!(interruptible(slow_work(), async { Ok(()) }).await, None);
        assert_eq!(interruptible(slow_work(), std::future::pending()).await, Some(7));
    }
}
