//! Schedules as code (`cekura.schedules`) end to end: a schedule created with evaluators named in the manifests
//! (one of them created in the same apply), then its cron changed; a bad crontab expression is a located error.

use crate::apply::World;
use crate::common::settings;

const SUITE: &str = r#"version: 1
cekura:
  agent: 12
  schedules:
    - name: Nightly smoke
      cron: "0 3 * * *"
      evaluators: [Order status inquiry]
      mode: text
  evaluators:
    - name: Order status inquiry
      personality: 7
      instructions: Ask where order 1234 is.
"#;

#[test]
fn a_schedule_is_created_then_its_cron_changed() {
    let w = World::new();
    w.write("suite.yaml", SUITE);
    let out = w.run(&["plan"]);
    settings().bind(|| insta::assert_snapshot!("schedule_create_plan", out.snapshot()));
    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let (job, evaluator) = w.sb.with_state(|s| {
        let job = s.cron_jobs.values().find(|j| j.name == "Nightly smoke").cloned().expect("created");
        let evaluator = s.evaluators.values().find(|e| e.name == "Order status inquiry").map(|e| e.id).unwrap();
        (job, evaluator)
    });
    assert_eq!(
        (job.crontab_expression.as_str(), job.scenarios.clone(), job.execution_mode.as_str(), job.agent),
        ("0 3 * * *", vec![evaluator], "text", 12)
    );
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0, "verified");

    w.edit("suite.yaml", r#"cron: "0 3 * * *""#, r#"cron: "30 2 * * mon-fri""#);
    let out = w.run(&["plan", "--detailed-exitcode"]);
    settings().bind(|| insta::assert_snapshot!("schedule_cron_change_plan", out.snapshot()));
    assert_eq!(out.code, 2);
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    let cron = w.sb.with_state(|s| s.cron_jobs[&job.id].crontab_expression.clone());
    assert_eq!(cron, "30 2 * * mon-fri", "the same cron job, changed");
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

#[test]
fn a_bad_crontab_expression_and_an_undeclared_evaluator_are_located() {
    let w = World::new();
    w.write("suite.yaml", &SUITE.replace("0 3 * * *", "0 25 * *").replace("[Order status inquiry]", "[Order status]"));
    let out = w.run(&["validate"]);
    settings().bind(|| insta::assert_snapshot!("schedule_validate_errors", out.snapshot()));
    assert_eq!(out.code, 1);
}

#[test]
fn import_writes_schedules_then_plan_shows_no_changes_and_pull_takes_a_dashboard_edit() {
    let w = World::new();
    w.write("suite.yaml", &SUITE.replace("      mode: text\n", "      mode: text\n    - name: Weekly tags\n      cron: \"0 6 * * sun\"\n      tags: [smoke]\n      active: false\n"));
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    let out = w.run(&["import", "--agent", "12", "--out", "imported"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let agent_file = std::fs::read_to_string(w.path("imported/agent-12/_agent.yaml")).unwrap();
    settings().bind(|| insta::assert_snapshot!("schedule_import_agent_file", agent_file));
    let out = w.run(&["plan", "--detailed-exitcode", "imported"]);
    assert_eq!(out.code, 0, "a plan right after import shows no changes:\n{}", out.snapshot());

    // A dashboard edit of the cron is drift; `pull` writes it into the manifest.
    w.sb.with_state(|s| {
        let id = s.cron_jobs.values().find(|j| j.name == "Nightly smoke").map(|j| j.id).unwrap();
        let body = serde_json::json!({"crontab_expression": "15 4 * * *"});
        s.write_cron_job(evalform_sandbox::state::WriteMode::Dashboard, Some(id), &body).unwrap();
    });
    assert_eq!(w.run(&["plan", "--detailed-exitcode", "suite.yaml"]).code, 2);
    let out = w.run(&["pull", "suite.yaml"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let text = std::fs::read_to_string(w.path("suite.yaml")).unwrap();
    assert!(text.contains("15 4 * * *"), "{text}");
    assert_eq!(w.run(&["plan", "--detailed-exitcode", "suite.yaml"]).code, 0);
}
