//! `evalform test`: run the selected evaluators as the manifests define them, through Cekura's spec runs
//! (`run_scenarios_json`), so a branch is tested before anything changes for everyone else. Nothing is created or
//! changed in the agent's suite. The report is `run`'s (one run, however many specs were sent).
//!
//! The spec is built by the library ([`evalform::export`]) with the values the manifests resolve to (sensitive
//! ones included: they go to the platform, as `apply` sends them) and the agent's catalog, so personalities and
//! metrics known by name are sent by id. `--dry-run` asks the platform to validate and price every spec and runs
//! nothing; `--max-credits` asks the same first and refuses a selection estimated above the limit.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use evalform::cekura::{CekuraClient, FetchError};
use evalform::export::{cekura_specs, Spec, SpecOptions};
use evalform::model::{Catalog, MetricInfo, PersonalityInfo};
use evalform::plan::Secrets;
use evalform::runner::outcome::SPEC_CASE;
use evalform::runner::{AgentTargets, Target};

use crate::cli::{Channel, GlobalArgs, TestArgs};
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

    let mut started_ids: Vec<u64> = Vec::new();
    for (spec, targets) in &specs {
        let reply = client.run_spec(&body(spec)).await.map_err(|e| {
            let mut err = CliError::from(e);
            if !started_ids.is_empty() {
                let ids: Vec<String> = started_ids.iter().map(u64::to_string).collect();
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
        started_ids.push(reply.id);
    }
    let started: Vec<(&AgentTargets, u64)> =
        specs.iter().zip(&started_ids).map(|((_, targets), id)| (targets, *id)).collect();
    super::run::wait_and_report(p, Some(&client), &started, None, &args.report).await
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
