//! `evalform demo`, the README's first command: it must run with no key and no network, and show the whole flow.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::common::{evalform, run, settings};

#[test]
fn demo_walks_through_plan_apply_and_drift() {
    let mut cmd = evalform();
    cmd.arg("demo");
    let out = run(cmd, None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("Verified: the platform matches the manifests."));
    assert!(out.stdout.contains("No changes. The platform matches the manifests.\nexit code 0"));
    assert!(out.stdout.contains("exit code 2 (drift"));
    assert!(!out.stdout.contains("demo-crm-token"), "a sensitive value leaked");
    settings().bind(|| insta::assert_snapshot!("demo", out.snapshot()));
}

/// `evalform sandbox --seed-demo` serves the demo's dashboard state, so the demo can be replayed by hand with the
/// real commands.
#[test]
fn the_sandbox_can_serve_the_demo_state() {
    let mut cmd = evalform();
    cmd.args(["sandbox", "--port", "0", "--seed-demo"]).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn evalform sandbox");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").expect("address line").to_string();

    let specs = crate::common::workspace_root().join("examples/specs");
    let mut plan = evalform();
    plan.args(["plan", "--detailed-exitcode"])
        .arg(&specs)
        .env("CEKURA_BASE_URL", &base)
        .env("TELA_BASE_URL", &base)
        .env("CEKURA_API_KEY", "k")
        .env("TELA_API_KEY", "k")
        .env("ACME_SUPPORT_TOKEN", "demo-crm-token-0000");
    let out = run(plan, None);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stdout.starts_with("Plan: 2 to create, 9 to update, 0 to delete"), "{}", out.stdout);
}

/// The README's tour starts with a `sh` block: the sandbox command and the exports it prints. They must be what
/// `evalform sandbox --seed-demo` prints (on its port), so the tour works by copy-paste.
#[test]
fn the_readme_tour_setup_is_what_the_sandbox_prints() {
    let readme = std::fs::read_to_string(crate::common::workspace_root().join("README.md")).unwrap();
    let block: Vec<&str> = readme
        .split("```sh\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .find(|b| b.contains("evalform sandbox --seed-demo"))
        .expect("a sh block that starts the sandbox")
        .lines()
        .collect();
    let command = block[0].split('#').next().unwrap().trim();
    assert_eq!(command, "evalform sandbox --seed-demo --port 8787");
    let documented: Vec<&str> = block[1..].iter().map(|l| l.trim()).collect();

    let mut cmd = evalform();
    cmd.args(["sandbox", "--seed-demo", "--port", "0"]).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn evalform sandbox");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").expect("address line").to_string();
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&base, "http://127.0.0.1:8787");
    let printed: Vec<&str> = stderr.lines().map(str::trim).filter(|l| l.starts_with("export ")).collect();
    assert_eq!(printed, documented);
}

/// `--seed-demo` with a state file that already exists loads the file as it was: an evaluator deleted since is not
/// brought back by seeding again.
#[tokio::test]
async fn seed_demo_seeds_only_a_new_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let start = || {
        let mut cmd = evalform();
        cmd.args(["sandbox", "--port", "0", "--seed-demo", "--state"]).arg(&state);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn evalform sandbox");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = line.trim().strip_prefix("listening on ").expect("address line").to_string();
        (child, base)
    };
    let http = reqwest::Client::new();
    let names = |base: String| {
        let http = http.clone();
        async move {
            let page: serde_json::Value = http
                .get(format!("{base}/test_framework/v1/scenarios/?agent_id=101&page_size=500"))
                .header("X-CEKURA-API-KEY", "k")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| (e["id"].as_u64().unwrap(), e["name"].to_string()))
                .collect::<Vec<_>>()
        }
    };

    let (mut first, base) = start();
    let before = names(base.clone()).await;
    assert!(before.len() > 3, "seeded: {before:?}");
    let (gone, _) = before[0].clone();
    let status = http
        .post(format!("{base}/test_framework/v1/scenarios/delete_scenarios/"))
        .header("X-CEKURA-API-KEY", "k")
        .json(&serde_json::json!({"scenarios": [gone], "agent_id": 101}))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");
    first.kill().unwrap();
    first.wait().unwrap();

    let (mut second, base) = start();
    let after = names(base).await;
    second.kill().unwrap();
    let out = second.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(after.len(), before.len() - 1, "the deleted evaluator came back: {after:?}");
    assert!(!after.iter().any(|(id, _)| *id == gone));
    assert!(stderr.contains("loaded as it was: --seed-demo seeds only a new state file"), "{stderr}");
}
