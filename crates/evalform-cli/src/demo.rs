//! `evalform demo`: the whole flow on an in-process sandbox, with no key and no network.
//!
//! The demo seeds a realistic "dashboard" state (built from the example manifests, then edited the way people
//! edit dashboards: an instruction tail added in git but not on the platform, a test profile that was never
//! created, a hand-edited expected outcome, an extra tag, a missing Tela test case), then walks through plan ->
//! apply -> plan (no changes) -> a dashboard edit -> drift detected. It uses the library exactly as the commands do;
//! it prints to the writer it is given, so it can be snapshotted. It must never reach beyond loopback.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::json;

use crate::error::CliError;
use evalform::apply::{converge, ApplyReport, Interrupt, Silent};
use evalform::cekura::CekuraClient;
use evalform::manifest::{self, EnvMode, LoadOptions, ManifestFile, Manifests};
use evalform::model::{MetricRef, Script, State, Text};
use evalform::plan::{Plan, PlanSettings};
use evalform::remote::Remote;
use evalform::secret::ApiKey;
use evalform::tela::TelaClient;
use evalform_sandbox::{RunningSandbox, Sandbox, SandboxConfig};

/// The example manifests, embedded so the demo runs from any directory.
pub const EXAMPLES: &[(&str, &str)] = &[
    ("examples/specs/acme-shop/orders.yaml", include_str!("../../../examples/specs/acme-shop/orders.yaml")),
    ("examples/specs/acme-shop/escalation.yaml", include_str!("../../../examples/specs/acme-shop/escalation.yaml")),
    ("examples/specs/bright-smile/reception.yaml", include_str!("../../../examples/specs/bright-smile/reception.yaml")),
    ("examples/specs/tela/order-support.yaml", include_str!("../../../examples/specs/tela/order-support.yaml")),
];

/// The metrics example: the judges of agent 12's project, an evaluator that uses them by name, and a schedule.
pub const JUDGES: (&str, &str) =
    ("examples/metrics/judges.yaml", include_str!("../../../examples/metrics/judges.yaml"));

/// The value the demo gives `${env:ACME_SUPPORT_TOKEN}`: the examples keep a secret in the environment, as real
/// suites do.
pub const DEMO_TOKEN: &str = "demo-crm-token-0000";

fn demo_env(name: &str) -> Option<String> {
    (name == "ACME_SUPPORT_TOKEN").then(|| DEMO_TOKEN.to_string())
}

/// The example manifests, loaded as `plan` would load them.
pub fn load_examples() -> Result<Manifests, CliError> {
    let files = EXAMPLES.iter().map(|(p, t)| ManifestFile { path: PathBuf::from(p), text: t.to_string() }).collect();
    manifest::load_texts(files, &LoadOptions { env: &demo_env, mode: EnvMode::Required, environment: None })
        .map_err(|d| CliError::new("the embedded example manifests do not load").cause(d.to_string()))
}

/// The metrics example, loaded as `plan examples/metrics` would load it.
fn load_judges() -> Result<Manifests, CliError> {
    let files = vec![ManifestFile { path: PathBuf::from(JUDGES.0), text: JUDGES.1.to_string() }];
    manifest::load_texts(files, &LoadOptions { env: &demo_env, mode: EnvMode::Required, environment: None })
        .map_err(|d| CliError::new("the embedded metrics example does not load").cause(d.to_string()))
}

/// Agent 12's project before the judges were reviewed: the first judge with the first line of its prompt only,
/// the second judge not made yet (nor used), and no nightly schedule.
fn judges_dashboard_state(desired: &State) -> State {
    let mut old = desired.clone();
    for agent in old.agents.values_mut() {
        for m in &mut agent.metrics {
            if let Some(prompt) = &m.spec.description {
                let first = prompt.expose().lines().next().unwrap_or_default().to_string();
                m.spec.description = Some(Text::new(first));
            }
        }
        agent.metrics.retain(|m| m.name != "Caller mood");
        for e in &mut agent.evaluators {
            if let Some(metrics) = &mut e.spec.metrics {
                metrics.remove(&MetricRef::Slug("Caller mood".into()));
            }
        }
        agent.schedules.clear();
    }
    old
}

/// Clients for a sandbox, with demo keys (the sandbox accepts any non-empty key).
pub fn remote_for(sandbox: &RunningSandbox, parallelism: usize) -> Result<Remote, CliError> {
    let settings = evalform::http::HttpSettings { parallelism, ..evalform::http::HttpSettings::fast_for_tests() };
    let url = sandbox.base_url();
    let cekura = CekuraClient::new(&url, ApiKey::new("demo-cekura-key"), settings.clone())?;
    let tela = TelaClient::new(&url, ApiKey::new("demo-tela-key"), settings)?;
    Ok(Remote { cekura: Some(cekura), tela: Some(tela) })
}

/// The platform as a team left it before adopting evalform: the examples, minus what was added in git since, plus
/// what someone changed by hand.
fn dashboard_state(desired: &State) -> State {
    let mut old = desired.clone();
    for agent in old.agents.values_mut() {
        if agent.agent == 101 {
            // The shared instruction tail was added to the manifests after these evaluators were made.
            for e in &mut agent.evaluators {
                if let Some(parts) = e.spec.instruction_parts.take() {
                    e.spec.script = Some(Script::Text(Text::new(evalform::model::normalize_long_text(&parts.body))));
                }
            }
            // The "New customer" profile exists only in the manifests.
            agent.test_profiles.retain(|p| p.name != "New customer");
            for e in &mut agent.evaluators {
                if e.spec.test_profile == Some(evalform::model::ProfileRef::Name("New customer".into())) {
                    e.spec.test_profile = None;
                }
            }
        }
        for e in &mut agent.evaluators {
            match e.name.as_str() {
                "Toothache emergency" => {
                    e.spec.expected_outcome = Some(Text::new("The receptionist books the next free slot."));
                }
                "Cancel an order" => {
                    if let Some(tags) = &mut e.spec.tags {
                        tags.insert("vip".into());
                    }
                }
                _ => {}
            }
        }
    }
    for prompt in old.prompts.values_mut() {
        prompt.test_cases.retain(|c| c.title != "Rude customer");
    }
    old
}

/// Bring a sandbox to the demo's dashboard state, through the API as a person's earlier tooling would have.
pub async fn seed(sandbox: &RunningSandbox) -> Result<(), CliError> {
    let examples = load_examples()?;
    let remote = remote_for(sandbox, 1)?;
    let old = dashboard_state(&examples.state);
    let judges = judges_dashboard_state(&load_judges()?.state);
    for state in [&old, &judges] {
        let report = plan_and_apply(&remote, state).await?;
        if !report.succeeded() {
            return Err(CliError::new("seeding the demo sandbox did not complete"));
        }
    }
    sandbox.clear_requests();
    Ok(())
}

async fn plan_for(remote: &Remote, desired: &State) -> Result<Plan, CliError> {
    Ok(plan_with_names(remote, desired).await?.0)
}

/// The plan, and the catalogs' names to show it with (as `evalform plan` shows it).
async fn plan_with_names(remote: &Remote, desired: &State) -> Result<(Plan, evalform::render::Names), CliError> {
    let snapshot = remote.observe(desired).await?;
    let plan = evalform::plan::plan(desired, &snapshot.observed, &PlanSettings::default())?;
    Ok((plan, evalform::render::Names::from_catalogs(&snapshot.observed.catalogs)))
}

async fn plan_and_apply(remote: &Remote, desired: &State) -> Result<ApplyReport, CliError> {
    let plan = plan_for(remote, desired).await?;
    Ok(converge(remote, desired, &PlanSettings::default(), plan, 1, &Silent, &Interrupt::new()).await?)
}

/// Run the walkthrough, writing what a user would see to `out`.
pub async fn run(out: &mut String) -> Result<(), CliError> {
    let sandbox = Sandbox::start(0, SandboxConfig::default())
        .await
        .map_err(|e| CliError::new(format!("cannot start the in-process sandbox: {e}")))?;
    let result = walkthrough(&sandbox, out).await;
    sandbox.shutdown().await;
    result
}

async fn walkthrough(sandbox: &RunningSandbox, out: &mut String) -> Result<(), CliError> {
    let examples = load_examples()?;
    seed(sandbox).await?;
    let remote = remote_for(sandbox, 1)?;
    let desired = &examples.state;
    let w = |out: &mut String, s: &str| {
        let _ = writeln!(out, "{s}");
    };

    w(out, "evalform demo: a local sandbox stands in for Cekura and Tela (no key, no network).");
    w(out, "It holds what a team built in the dashboard before adopting evalform. The manifests are");
    w(out, "examples/specs/: an e-commerce support agent (101), a dental receptionist (202) and a Tela prompt.");
    w(out, "");

    w(out, "== 1. What would change? ==");
    w(out, "$ evalform plan examples/specs");
    let (plan, names) = plan_with_names(&remote, desired).await?;
    out.push_str(&evalform::render::text(&evalform::render::named(plan.clone(), &names), false));
    w(out, "");
    let appends = plan
        .operations
        .iter()
        .filter(|op| matches!(&op.call, evalform::plan::Call::BulkUpdate(b) if b.append_instruction.is_some()))
        .count();
    let tails = plan.changes.iter().filter(|c| c.fields.iter().any(|f| f.field == "instructions")).count();
    w(
        out,
        &format!(
            "{tails} evaluators need the new shared instruction tail; {appends} adv_update call{} carry it (one with",
            if appends == 1 { "" } else { "s" }
        ),
    );
    w(out, "other changes folded in) and an evaluator that needs a PATCH anyway gets its full text there.");
    w(out, "An append is never sent twice, even when a response is lost.");
    w(out, "");

    w(out, "== 2. Make the platform match ==");
    w(out, "$ evalform apply --auto-approve examples/specs");
    sandbox.clear_requests();
    let report = converge(&remote, desired, &PlanSettings::default(), plan, 1, &Silent, &Interrupt::new()).await?;
    out.push_str(crate::commands::apply::render_report(&report).trim_start_matches('\n'));
    let writes = sandbox.requests().iter().filter(|r| r.method != "GET").count();
    w(out, &format!("({writes} write requests reached the platform.)"));
    w(out, "");

    w(out, "== 3. Plan again: nothing to do ==");
    w(out, "$ evalform plan --detailed-exitcode examples/specs");
    let again = plan_for(&remote, desired).await?;
    out.push_str(&evalform::render::text(&again, false));
    w(out, &format!("exit code {}", if again.is_empty() { 0 } else { 2 }));
    w(out, "");

    w(out, "== 4. Someone edits an evaluator in the dashboard ==");
    let edited = sandbox.with_state(|s| {
        let id = s.evaluators.values().find(|e| e.name == "Order status inquiry").map(|e| e.id)?;
        s.edit_evaluator(id, json!({"first_message": "Hello, where is my parcel?", "tags": ["orders"]})).ok()
    });
    if edited.is_none() {
        return Err(CliError::new("the demo could not find the evaluator it edits"));
    }
    w(out, "(first message and tags of \"Order status inquiry\" changed by hand)");
    w(out, "");

    w(out, "== 5. The nightly drift check notices ==");
    w(out, "$ evalform plan --detailed-exitcode examples/specs");
    let (drift, names) = plan_with_names(&remote, desired).await?;
    out.push_str(&evalform::render::text(&evalform::render::named(drift.clone(), &names), false));
    w(
        out,
        &format!(
            "exit code {} (drift: run `evalform apply` to revert it, or `evalform pull` to accept it)",
            if drift.is_empty() { 0 } else { 2 }
        ),
    );
    w(out, "");

    w(out, "== 6. The judges and the schedule are code too ==");
    w(out, "(examples/metrics/judges.yaml: two metrics of agent 12's project, an evaluator that uses them by name,");
    w(out, "and the nightly run. A judge prompt was tightened in review; the second judge is new.)");
    w(out, "$ evalform plan examples/metrics");
    let judges = load_judges()?;
    let (plan, names) = plan_with_names(&remote, &judges.state).await?;
    out.push_str(&evalform::render::text(&evalform::render::named(plan.clone(), &names), false));
    w(out, "");
    w(out, "$ evalform apply --auto-approve examples/metrics");
    let report =
        converge(&remote, &judges.state, &PlanSettings::default(), plan, 1, &Silent, &Interrupt::new()).await?;
    out.push_str(crate::commands::apply::render_report(&report).trim_start_matches('\n'));
    w(out, "The new judge was created first and attached in the same run; the old one kept its id, so its");
    w(out, "results history stays with it.");
    w(out, "");
    w(out, "Next: `evalform import --agent ID` adopts an existing agent into manifests; docs/getting-started.md");
    w(out, "walks through the first reviewed apply on a real agent.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_examples_load_and_the_dashboard_state_differs_from_them() {
        let examples = load_examples().unwrap();
        let old = dashboard_state(&examples.state);
        assert_ne!(old, examples.state);
        assert_eq!(examples.state.agents.len(), 2);
    }
}
