//! `evalform run`: start runs of the declared evaluators, wait for their results, report, and exit 1 unless the
//! set met `--min-success-rate`.
//!
//! Progress (started, status changes) goes to stderr, the report to stdout. A run set that was started is always
//! named by its result id, also when waiting ends in an error, so the user can look at it later.

use std::time::{Duration, Instant};

use evalform::http::ApiError;
use evalform::manifest::EnvMode;
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
    let client = crate::connect::cekura_client(&args.remote, global.parallelism)?;
    let progress = |line: String| p.status(&line);

    let remote = runner::list_declared_agents(&client, &manifests.state).await?;
    let agents = runner::select(&manifests.state, &remote, &selection).map_err(select_error)?;
    warn_of_differences(p, &client, &manifests.state, &agents).await;

    let overrides = RunOverrides {
        frequency: args.frequency,
        test_profile: args.test_profile,
        personality: args.personality,
        name: Some("evalform run".into()),
    };
    let mut started = Vec::new();
    for agent in &agents {
        let body = runner::start_body(agent, &overrides);
        let reply = client.run_scenarios(&body).await.map_err(|e| start_error(e, agent.agent, &started))?;
        progress(format!(
            "started result {} for agent {}: {} evaluator{}",
            reply.id,
            agent.agent,
            agent.targets.len(),
            if agent.targets.len() == 1 { "" } else { "s" }
        ));
        started.push((agent, reply.id));
    }

    if args.no_wait {
        print_started(p, &started, args.report.format);
        return Ok(Outcome::Success);
    }

    wait_and_report(p, &client, &started, &args.report).await
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
pub async fn wait_and_report(
    p: &Printer,
    client: &evalform::cekura::CekuraClient,
    started: &[(&runner::AgentTargets, u64)],
    args: &ReportArgs,
) -> Result<Outcome, CliError> {
    let (min_success_rate, format) = (args.min_success_rate, args.format);
    let progress = |line: String| p.status(&line);
    let poll = crate::env::poll_settings(Duration::from_secs(args.timeout));
    let deadline = Instant::now() + poll.timeout;
    let mut results = Vec::new();
    let mut unfinished = Vec::new();
    for (agent, result_id) in started {
        let began = Instant::now();
        let waiting = p.spinner(&format!("result {result_id} (agent {}): waiting", agent.agent));
        let on_status = |status: &str| {
            let line = format!("result {result_id} (agent {}): {status}", agent.agent);
            if waiting.is_active() {
                waiting.set_message(&line);
            } else {
                progress(line);
            }
        };
        let waited = runner::wait_for_result(client, agent.agent, *result_id, deadline, &poll, &on_status).await;
        drop(waiting);
        match waited {
            Ok(result) => {
                progress(format!("result {result_id} (agent {}): {}", agent.agent, result.status));
                results.push(runner::outcome::read_result(agent, &result, began.elapsed().as_secs_f64()));
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
                results.push(runner::outcome::unfinished(agent, *result_id, &status, &reason, elapsed));
                unfinished.push(err);
            }
        }
    }

    let report = RunReport::new(results, min_success_rate);
    let text = match format {
        RunFormat::Text => report::text(&report),
        RunFormat::Json => report::json(&report),
        RunFormat::Junit => report::junit(&report),
        RunFormat::Markdown => report::markdown(&report),
    };
    p.data(&text);
    if let Some(first) = unfinished.first() {
        let mut err = CliError::from_error(first);
        for more in &unfinished[1..] {
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
    Ok(if report.passed { Outcome::Success } else { Outcome::Failure })
}

fn print_started(p: &Printer, started: &[(&runner::AgentTargets, u64)], format: RunFormat) {
    if format == RunFormat::Json {
        let items: Vec<serde_json::Value> = started
            .iter()
            .map(|(a, id)| serde_json::json!({ "agent": a.agent, "result_id": id, "evaluators": a.targets }))
            .collect();
        p.data_line(&serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".into()));
    } else {
        for (a, id) in started {
            p.data_line(&format!("agent {}: result {id}", a.agent));
        }
    }
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
fn start_error(err: ApiError, agent: u64, started: &[(&runner::AgentTargets, u64)]) -> CliError {
    let unknown = err.is_outcome_unknown();
    let mut out = CliError::new(format!("cannot start the runs of agent {agent}")).cause(err.to_string());
    if unknown {
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
