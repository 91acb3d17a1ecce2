//! Ctrl-C during `evalform apply`: the calls on their way end and are reported, no other call starts, the report
//! says what was not started, and a following apply finishes without sending a completed call again. A second
//! Ctrl-C stops at once. Every signal follows what the sandbox holds and what evalform printed: no timing.

#![cfg(unix)]

use evalform_sandbox::FaultConfig;

use crate::apply::{apply_settings, World, SMALL};
use crate::common::{Interruptible, Output};

/// Hold every `POST` whose path contains `path` in the sandbox (for ten minutes: the test releases it first).
fn hold(w: &World, path: &str) {
    w.sb.set_faults(FaultConfig {
        latency_ms: 600_000,
        method: Some("POST".into()),
        path: Some(path.into()),
        ..FaultConfig::default()
    });
}

/// Run `evalform ARGS` in `w`; once the sandbox holds one request, send SIGINT, and wait until evalform says it
/// received it. Then, with `twice`, send a second SIGINT; without, let the held request land. Collect what was
/// printed.
fn interrupt_apply(w: &World, args: &[&str], twice: bool) -> Output {
    let mut child = Interruptible::start(w.cmd(args));
    crate::tela_run::until_held(&w.sb, 1);
    child.interrupt();
    child.until_line("Interrupt received");
    if twice {
        child.interrupt();
    } else {
        // Later requests are not held: were one sent, it would land and show in the log.
        w.sb.set_faults(FaultConfig::default());
        w.sb.release_held();
    }
    child.finish()
}

/// The writes the sandbox handled, as `METHOD PATH`.
fn writes(w: &World) -> Vec<String> {
    w.writes().iter().map(|r| format!("{} {}", r.method, r.path)).collect()
}

/// Before, Ctrl-C killed apply wherever it was, without a word. Now the folder create on its way lands and is
/// reported done; the five calls after it are not sent and are counted as not started; no verification round
/// runs; exit 1 with an `interrupted:` error. The next apply sends the rest and not the folder create again.
#[test]
fn ctrl_c_lets_the_call_on_its_way_land_and_starts_no_other() {
    let w = World::new();
    w.write("suite.yaml", SMALL);
    hold(&w, "create_folder");
    let out = interrupt_apply(&w, &["--parallelism", "1", "apply", "--auto-approve"], false);
    apply_settings().bind(|| insta::assert_snapshot!("apply-interrupted", out.snapshot()));
    assert_eq!(out.code, 1);
    assert_eq!(writes(&w), ["POST /test_framework/v1/scenarios/create_folder/"]);
    // No verification read after the call: the platform's evaluators were read once, by the plan.
    let reads = w.log().iter().filter(|r| r.method == "GET" && r.path == "/test_framework/v1/scenarios/").count();
    assert_eq!(reads, 1, "{:?}", w.log());
    let s = w.state();
    assert!(s.evaluators.is_empty() && s.test_profiles.is_empty() && s.test_cases.is_empty());

    w.sb.clear_requests();
    let again = w.run(&["--parallelism", "1", "apply", "--auto-approve"]);
    assert_eq!(again.code, 0, "{}", again.snapshot());
    let sent = writes(&w);
    assert!(!sent.iter().any(|r| r.contains("create_folder")), "the folder create was sent again: {sent:?}");
    assert_eq!(sent.len(), 5, "{sent:?}");
    w.assert_exact();
}

/// A second Ctrl-C stops at once (exit 130, as a process stopped by SIGINT), saying that nothing is replayed; the
/// held create never landed, and the next apply finishes.
#[test]
fn a_second_ctrl_c_stops_at_once() {
    let w = World::new();
    w.write("suite.yaml", SMALL);
    hold(&w, "create_folder");
    let out = interrupt_apply(&w, &["--parallelism", "1", "apply", "--auto-approve"], true);
    apply_settings().bind(|| insta::assert_snapshot!("apply-interrupted-twice", out.snapshot()));
    assert_eq!(out.code, 130);
    w.sb.set_faults(FaultConfig::default());
    let again = w.run(&["--parallelism", "1", "apply", "--auto-approve"]);
    assert_eq!(again.code, 0, "{}", again.snapshot());
    w.assert_exact();
}

/// `apply --plan FILE` is interrupted the same way, and its lock is removed when it ends.
#[test]
fn ctrl_c_interrupts_a_saved_plan_and_releases_its_lock() {
    let w = World::new();
    w.write("suite.yaml", SMALL);
    let saved = w.run(&["plan", "--out", "plan.json"]);
    assert_eq!(saved.code, 0, "{}", saved.snapshot());
    hold(&w, "create_folder");
    let out = interrupt_apply(&w, &["--parallelism", "1", "apply", "--plan", "plan.json"], false);
    assert_eq!(out.code, 1, "{}", out.snapshot());
    assert!(out.stdout.contains("Apply interrupted: 1 API call done, 5 not started (interrupted);"), "{}", out.stdout);
    assert!(out.stderr.starts_with("Interrupt received"), "{}", out.stderr);
    assert!(!w.path("plan.json.lock").exists(), "the lock was left behind");
    assert_eq!(writes(&w), ["POST /test_framework/v1/scenarios/create_folder/"]);
}

/// Ctrl-C while the last call is on its way: every call was sent, none is left not started; the platform is not
/// read again, and the apply says so.
#[test]
fn ctrl_c_during_the_last_call_reports_every_call_and_does_not_verify() {
    let w = World::new();
    w.write("suite.yaml", SMALL);
    hold(&w, "/test-case");
    let out = interrupt_apply(&w, &["--parallelism", "1", "apply", "--auto-approve"], false);
    apply_settings().bind(|| insta::assert_snapshot!("apply-interrupted-last-call", out.snapshot()));
    assert_eq!(out.code, 1);
    assert_eq!(writes(&w).len(), 6, "{:?}", writes(&w));
    w.sb.clear_requests();
    let plan = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "every call landed: {}", plan.snapshot());
    w.assert_exact();
}
