//! `evalform test`: run the selected evaluators as the manifests define them, through Cekura's spec runs
//! (`run_scenarios_json`), so a branch is tested before anything changes for everyone else. Nothing is created or
//! changed in the agent's suite. The report is `run`'s (one run, however many specs were sent).
//!
//! The spec is built by the library ([`evalform::export`]) with the values the manifests resolve to (sensitive
//! ones included: they go to the platform, as `apply` sends them) and the agent's catalog, so personalities and
//! metrics known by name are sent by id. `--dry-run` asks the platform to validate and price every spec and runs
//! nothing; `--max-credits` asks the same first and refuses a selection estimated above the limit.
//!
//! From the first start on, Ctrl-C is handled as `run` handles it: the results started so far are named (Cekura has
//! no cancel), a start on its way is named as possibly started, the report of what ended is printed, exit 1.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use evalform::cekura::{CekuraClient, FetchError};
use evalform::export::{cekura_specs, Spec, SpecOptions};
use evalform::model::{Catalog, MetricInfo, PersonalityInfo};
use evalform::plan::Secrets;
use evalform::runner::outcome::SPEC_CASE;
use evalform::runner::{AgentTargets, Target};

use super::run::{ctrl_c_from_now, interrupted, interruptible, report_after_wait, SoFar};
use crate::cli::{Channel, GlobalArgs, ReportArgs, TestArgs};
use crate::error::{CliError, Outcome};
use crate::printer::Printer;

pub async fn run(global: &GlobalArgs, p: &Printer, args: TestArgs) -> Result<Outcome, CliError> {
    super::run::check_report_args(&args.report)?;
    let selection = super::export::selection(&args.select)?;
    let Some(manifests) = super::load_desired(p, &args.paths.paths)? else {
        return Ok(Outcome::Failure);
    };
    let client = crate::connect::cekura_client(&args.remote, global.parallelism)?;

    let mut specs: Vec<(Spec, AgentTargets)> = Vec::new();
    for (id, agent) in &manifests.state.agents {
        if args.agent.is_some_and(|want| want != *id) {
            continue;
        }
        let chosen: Vec<_> = agent.evaluators.iter().filter(|e| selection.takes_declared(e)).collect();
        if chosen.is_empty() {
            continue;
        }
        let (project, catalog) = catalog(&client, *id).await?;
        let sources: BTreeMap<&str, Option<String>> =
            chosen.iter().map(|e| (e.name.as_str(), e.source.as_ref().map(ToString::to_string))).collect();
        for spec in cekura_specs(agent, &chosen, SpecOptions { secrets: Secrets::Expose, catalog: Some(&catalog) }) {
            let targets = spec
                .cases
                .iter()
                .map(|name| Target { id: SPEC_CASE, name: name.clone(), source: sources[name.as_str()].clone() })
                .collect();
            let targets = AgentTargets { agent: *id, project: Some(project), targets };
            specs.push((spec, targets));
        }
    }
    if specs.is_empty() {
        let what = match args.agent {
            Some(a) => format!("{} of agent {a}", selection.describe()),
            None => selection.describe(),
        };
        return Err(CliError::new(format!("{what} selects no evaluator in the manifests"))
            .hint("check the filters against the manifests' tags, folders and names"));
    }
    let all: Vec<Spec> = specs.iter().map(|(s, _)| s.clone()).collect();
    // What only files an evaluator (its folder) does not change what runs, so it is not worth a note here.
    for line in super::export::notes(&all, true) {
        p.warn(&line);
    }
    let channel = match args.channel {
        Channel::Voice => "voice",
        Channel::Text => "text",
    };
    let body =
        |spec: &Spec| json!({"spec": spec.value, "agent_id": spec.agent, "channel": channel, "name": "evalform test"});

    if args.dry_run || args.max_credits.is_some() {
        let mut total = Some(0);
        let mut lines = Vec::new();
        for (spec, _) in &specs {
            let answer = client.run_spec_dry(&body(spec)).await?;
            let credits = estimate(&answer);
            total = total.zip(credits).map(|(a, b): (u64, u64)| a.saturating_add(b));
            let part = if spec.parts > 1 { format!(" (part {} of {})", spec.part, spec.parts) } else { String::new() };
            let cost = credits.map_or("no estimate given".to_string(), |c| format!("{c} credits estimated"));
            lines.push(format!(
                "agent {}{part}: {} test case{}, {cost}",
                spec.agent,
                spec.cases.len(),
                plural(spec.cases.len())
            ));
        }
        if args.dry_run {
            for line in &lines {
                p.data_line(line);
            }
            match total {
                Some(t) => p.data_line(&format!("The specs are valid. Estimated cost: {t} credits. Nothing was run.")),
                None => p.data_line("The specs are valid. The platform gave no cost estimate. Nothing was run."),
            }
            return Ok(Outcome::Success);
        }
        if let Some(limit) = args.max_credits {
            match total {
                Some(t) if t > limit => {
                    return Err(CliError::new(format!(
                        "the platform estimates {t} credits, more than --max-credits {limit}; nothing was run"
                    ))
                    .hint("narrow the selection (--tags, --folder, --name), or raise --max-credits"));
                }
                Some(t) => p.status(&format!("estimated cost: {t} credits (limit {limit})")),
                None => {
                    return Err(CliError::new(
                        "the platform gave no cost estimate, so --max-credits cannot be checked; nothing was run",
                    )
                    .hint("run without --max-credits, or use --dry-run to see what the platform answers"));
                }
            }
        }
    }

    // From the first start on, Ctrl-C names the results started so far (Cekura has no cancel) and a start on its
    // way, and reports what ended, as `run` does.
    let so_far = SoFar::default();
    let work = start_and_wait(p, &so_far, &client, &specs, &body, &args.report);
    match interruptible(work, ctrl_c_from_now()).await {
        Some(done) => done,
        None => Err(interrupted(p, &so_far, None, &args.report, false).await),
    }
}

/// Start every spec, once, then wait for the results and report them; what is started and on its way is kept in
/// `so_far` as it goes.
async fn start_and_wait<'a>(
    p: &Printer,
    so_far: &SoFar<'a>,
    client: &CekuraClient,
    specs: &'a [(Spec, AgentTargets)],
    body: &dyn Fn(&Spec) -> Value,
    args: &ReportArgs,
) -> Result<Outcome, CliError> {
    for (spec, targets) in specs {
        so_far.sending.replace(Some(spec_start_sent(spec)));
        let reply = client.run_spec(&body(spec)).await;
        so_far.sending.replace(None);
        let reply = reply.map_err(|e| {
            let mut err = CliError::from(e);
            let started = so_far.cekura.borrow();
            if !started.is_empty() {
                let ids: Vec<String> = started.iter().map(|(_, id)| id.to_string()).collect();
                err = err.hint(format!("already started: result {}", ids.join(", ")));
            }
            err
        })?;
        p.status(&format!(
            "started result {} for agent {}: {} test case{} from the manifests",
            reply.id,
            targets.agent,
            targets.targets.len(),
            plural(targets.targets.len())
        ));
        so_far.cekura.borrow_mut().push((targets, reply.id));
    }
    so_far.waiting.set(true);
    let started = so_far.cekura.borrow().clone();
    report_after_wait(p, Some(client), &started, None, args, so_far).await
}

/// What a spec start sends, for a message.
fn spec_start_sent(spec: &Spec) -> String {
    let part = if spec.parts > 1 { format!(" (part {} of {})", spec.part, spec.parts) } else { String::new() };
    format!(
        "POST /test_framework/v1/scenarios/run_scenarios_json/ for agent {}{part}, {} test case{} from the manifests",
        spec.agent,
        spec.cases.len(),
        plural(spec.cases.len())
    )
}

/// The agent's project and its catalog (metrics and personalities), to send names as ids.
async fn catalog(client: &CekuraClient, agent: u64) -> Result<(u64, Catalog), CliError> {
    let what = format!("Cekura agent {agent}");
    let api = |what: String| move |source| FetchError::Api { what, source };
    let found = client.get_agent(agent).await.map_err(api(what.clone()))?;
    let project = found.project.ok_or(FetchError::NoProject { agent })?;
    let (metrics, personalities) = tokio::join!(client.list_metrics(agent), client.list_personalities(project));
    let metrics = metrics.map_err(api(format!("the metrics of {what}")))?;
    let personalities = personalities.map_err(api(format!("the personalities of project {project}")))?;
    let catalog = Catalog {
        metrics: metrics.into_iter().map(|m| MetricInfo { id: m.id, slug: m.slug, name: m.name }).collect(),
        personalities: personalities.into_iter().map(|p| PersonalityInfo { id: p.id, name: p.name }).collect(),
    };
    Ok((project, catalog))
}

/// The credits a dry run estimates, wherever the answer puts them (`plan.estimated_credits`, or at the top).
fn estimate(answer: &Value) -> Option<u64> {
    ["/plan/estimated_credits", "/estimated_credits", "/plan/credits", "/credits"]
        .iter()
        .find_map(|p| answer.pointer(p).and_then(Value::as_u64))
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
