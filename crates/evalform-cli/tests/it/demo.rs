//! `evalform demo`, the README's first command: it must run with no key and no network, and show the whole flow.

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
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

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
