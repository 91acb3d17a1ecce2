//! Secrets never leave through evalform's own outputs: API keys and `${env:...}` values are used (they reach the
//! sandbox) but appear in no stdout, no stderr at the most verbose level, and no saved plan file, across validate,
//! plan (every format), apply, `apply --plan`, run and import.
//!
//! `import` writes what the platform holds, in clear, into manifests (docs/import.md, "Limits"): its files are
//! checked for the keys only; its stdout and stderr for everything.

use std::path::Path;

use evalform_sandbox::{Sandbox, SandboxConfig};

use crate::common::{evalform, run, Output};

const CEKURA_KEY: &str = "ck-LEAKCHECK-cekura-9f27c1";
const TELA_KEY: &str = "tk-LEAKCHECK-tela-44d0ae";
const TOKEN: &str = "LEAKCHECK-crm-token-5b1e";
const PHRASE: &str = "LEAKCHECK-passphrase-0c3d";
const TELA_VAR: &str = "LEAKCHECK-tela-var-77aa";

const MANIFEST: &str = r#"version: 1
cekura:
  agent: 101
  project: 7
  test_profiles:
    - name: Premium caller
      main_agent_variables: {user_id: U-42, api_token: "${env:EVALFORM_T_TOKEN}"}
  evaluators:
    - name: Verify identity
      personality: 7
      test_profile: Premium caller
      instructions: "When asked, give the passphrase ${env:EVALFORM_T_PHRASE} and nothing else."
      expected_outcome: "The agent verifies the caller."
      metrics: [501]
    - name: Plain
      personality: 7
      instructions: Ask about opening hours.
tela:
  prompt: 5f0c2a4e-0000-4000-8000-000000000001
  test_cases:
    - title: Has a secret variable
      messages:
        - {role: user, content: Where is my order?}
      variables: {customer_name: John, session: "${env:EVALFORM_T_TELA}"}
"#;

fn cmd(base: &str, args: &[&str]) -> std::process::Command {
    let mut c = evalform();
    c.args(args)
        .env("CEKURA_API_KEY", CEKURA_KEY)
        .env("TELA_API_KEY", TELA_KEY)
        .env("CEKURA_BASE_URL", base)
        .env("TELA_BASE_URL", base)
        .env("EVALFORM_T_TOKEN", TOKEN)
        .env("EVALFORM_T_PHRASE", PHRASE)
        .env("EVALFORM_T_TELA", TELA_VAR)
        .env("RUST_LOG", "trace");
    c
}

fn assert_clean(what: &str, text: &str) {
    for secret in [CEKURA_KEY, TELA_KEY, TOKEN, PHRASE, TELA_VAR] {
        assert!(!text.contains(secret), "{what} contains the secret {secret:?}:\n{text}");
    }
}

fn check(label: &str, out: &Output, expect_code: &[i32]) {
    assert!(expect_code.contains(&out.code), "{label}: unexpected exit\n{}", out.snapshot());
    assert_clean(&format!("{label}: stdout"), &out.stdout);
    assert_clean(&format!("{label}: stderr"), &out.stderr);
}

fn run_in(dir: &Path, c: std::process::Command) -> Output {
    run(c, Some(dir))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_sensitive_values_appear_in_no_output_log_or_plan_file() {
    let sandbox = Sandbox::start(0, SandboxConfig::default()).await.unwrap();
    let base = sandbox.base_url();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("suite.yaml"), MANIFEST).unwrap();
    let d = dir.path().to_path_buf();

    let outputs = tokio::task::spawn_blocking(move || {
        let mut all = Vec::new();
        let steps: &[(&str, &[&str], &[i32])] = &[
            ("validate", &["validate", "-vvv", "suite.yaml"], &[0]),
            ("plan text", &["plan", "-vvv", "--out", "first.plan", "suite.yaml"], &[0]),
            ("plan json", &["plan", "-vvv", "--format", "json", "suite.yaml"], &[0]),
            ("plan markdown", &["plan", "-vvv", "--format", "markdown", "suite.yaml"], &[0]),
            ("apply --plan", &["apply", "-vvv", "--plan", "first.plan"], &[0]),
            ("plan after apply", &["plan", "-vvv", "--detailed-exitcode", "suite.yaml"], &[0]),
            ("apply", &["apply", "-vvv", "--auto-approve", "suite.yaml"], &[0]),
            ("run", &["run", "-vvv", "suite.yaml"], &[0]),
            ("import", &["import", "-vvv", "--agent", "101", "--out", "imported"], &[0]),
        ];
        for (label, args, codes) in steps {
            let out = run_in(&d, cmd(&base, args));
            check(label, &out, codes);
            all.push((label.to_string(), out));
        }
        let mut files = 0;
        let mut pending = vec![d.join("imported")];
        while let Some(path) = pending.pop() {
            if path.is_dir() {
                pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            files += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            for key in [CEKURA_KEY, TELA_KEY] {
                assert!(!text.contains(key), "an imported manifest contains an API key:\n{text}");
            }
        }
        assert!(files > 0, "import wrote nothing");
        let saved = std::fs::read_to_string(d.join("first.plan")).unwrap();
        assert_clean("the saved plan", &saved);
        assert!(saved.contains("EVALFORM_T_TOKEN"), "the plan file should keep the template:\n{saved}");
        all
    })
    .await
    .unwrap();

    // The verbose runs did log the requests (so the check above looked at real logs)...
    let apply = &outputs.iter().find(|(l, _)| l == "apply --plan").unwrap().1;
    assert!(apply.stderr.contains("/test_framework/"), "no request was logged at -vvv:\n{}", apply.stderr);
    // ...and the secrets were used: they reached the platform.
    let state = sandbox.with_state(|s| serde_json::to_string(&*s).unwrap());
    for secret in [TOKEN, PHRASE, TELA_VAR] {
        assert!(state.contains(secret), "{secret} never reached the sandbox");
    }
    sandbox.shutdown().await;
}

/// A suite where the secrets hide where no field marks them: the platform's old instructions of an evaluator
/// whose manifest no longer references the variable (the variable is still used by a test profile), and both sides
/// of a conditional-actions flow diff.
const BY_VALUE: &str = r#"version: 1
cekura:
  agent: 12
  project: 1376
  test_profiles:
    - name: Premium caller
      main_agent_variables: {api_token: "${env:EVALFORM_T_TOKEN}"}
  evaluators:
    - name: Was secret
      personality: 7
      instructions: Ask about opening hours.
    - name: Flow
      personality: 7
      type: conditional_actions
      conditional_actions:
        role: A caller
        conditions:
          - {id: 1, condition: FIRST_MESSAGE, action: "Give the passphrase ${env:EVALFORM_T_PHRASE} now."}
"#;

fn seed_by_value(sandbox: &evalform_sandbox::RunningSandbox) {
    sandbox.with_state(|s| {
        s.insert_evaluator(
            5,
            serde_json::json!({"name": "Was secret", "agent": 12, "personality": 7,
                "instructions": format!("Log in with the token {TOKEN} first.")}),
        )
        .unwrap();
        s.insert_evaluator(
            6,
            serde_json::json!({"name": "Flow", "agent": 12, "personality": 7, "scenario_type": "conditional_actions",
                "conditional_actions": {"role": "A caller", "conditions": [
                    {"id": 1, "condition": "FIRST_MESSAGE", "type": "standard", "fixed_message": false,
                     "action": format!("Give the passphrase {PHRASE} slowly.")}]}}),
        )
        .unwrap();
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_masked_by_value_in_old_values_flow_diffs_error_bodies_and_logs() {
    use axum::http::StatusCode;

    let sandbox = Sandbox::start(0, SandboxConfig::default()).await.unwrap();
    seed_by_value(&sandbox);
    // The proxy rejects every write with a 400 that quotes the request it got, and its key header: a platform
    // error message that repeats the submitted value.
    let hook: crate::hostile::Hook = std::sync::Arc::new(|seen: &crate::hostile::Seen, after: Option<u16>| {
        if seen.method == "GET" || after.is_some() {
            return None;
        }
        let key = seen.headers.get("x-cekura-api-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let sent = String::from_utf8_lossy(&seen.body).into_owned();
        Some(crate::hostile::answer(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"detail": format!("invalid request {sent} for key {key}")}),
        ))
    });
    let base = crate::hostile::hooked_proxy(sandbox.base_url(), hook).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("suite.yaml"), BY_VALUE).unwrap();
    let d = dir.path().to_path_buf();

    let outputs = tokio::task::spawn_blocking(move || {
        let steps: &[(&str, &[&str], &[i32])] = &[
            ("plan text", &["plan", "-vvv", "--out", "p.plan", "suite.yaml"], &[0]),
            ("plan json", &["plan", "-vvv", "--format", "json", "suite.yaml"], &[0]),
            ("plan markdown", &["plan", "-vvv", "--format", "markdown", "suite.yaml"], &[0]),
            ("apply", &["apply", "-vvv", "--auto-approve", "suite.yaml"], &[1]),
        ];
        let mut all = Vec::new();
        for (label, args, codes) in steps {
            let out = run_in(&d, cmd(&base, args));
            check(label, &out, codes);
            all.push((label.to_string(), out));
        }
        let saved = std::fs::read_to_string(d.join("p.plan")).unwrap();
        assert_clean("the saved plan", &saved);
        all
    })
    .await
    .unwrap();

    // The checks above looked at outputs that did carry the values' places.
    let plan = &outputs[0].1;
    assert!(plan.stdout.contains("Log in with the token (sensitive) first."), "{}", plan.stdout);
    assert!(plan.stdout.contains("Give the passphrase (sensitive) slowly."), "{}", plan.stdout);
    let apply = &outputs[3].1;
    assert!(apply.stdout.contains("invalid request"), "the 400 body was not shown:\n{}", apply.snapshot());
    assert!(apply.stdout.contains("for key (sensitive)"), "{}", apply.snapshot());
    sandbox.shutdown().await;
}

#[test]
fn a_base_url_with_credentials_is_never_echoed_with_its_password() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("suite.yaml"), MANIFEST).unwrap();
    for url in [
        "https://ci:url-password-77@[::1",
        "ftp://ci:url-password-77@example.test",
        "http://ci:url-password-77@example.test",
    ] {
        let mut c = cmd(url, &["plan", "-vvv", "suite.yaml"]);
        c.env("CEKURA_BASE_URL", url);
        let out = run_in(dir.path(), c);
        assert_eq!(out.code, 1, "{}", out.snapshot());
        assert!(!out.stderr.contains("url-password-77"), "{}", out.snapshot());
        assert!(out.stderr.contains("error:"), "{}", out.snapshot());
        let name = format!("secrets_base_url_{}", url.split(':').next().unwrap_or("x"));
        crate::common::settings().bind(|| insta::assert_snapshot!(name, out.snapshot()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doubled_dollar_writes_a_literal_reference_and_an_opted_in_empty_variable_writes_nothing() {
    let sandbox = Sandbox::start(0, SandboxConfig::default()).await.unwrap();
    let base = sandbox.base_url();
    let dir = tempfile::tempdir().unwrap();
    let manifest = "version: 1\ncekura:\n  agent: 12\n  evaluators:\n    - name: Literal\n      personality: 7\n      \
                    instructions: \"Say $${env:HOME} and [${env:EVALFORM_T_EMPTY:-}] and ${env:EVALFORM_T_MISSING:-none}.\"\n";
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        let mut c = cmd(&base, &["apply", "--auto-approve", "m.yaml"]);
        c.env("EVALFORM_T_EMPTY", "").env("HOME", "/home/should-not-appear");
        run_in(&d, c)
    })
    .await
    .unwrap();
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let state = sandbox.with_state(|s| serde_json::to_string(&*s).unwrap());
    assert!(state.contains("Say ${env:HOME} and [] and none."), "{state}");
    assert!(!state.contains("should-not-appear"), "{state}");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_whose_calls_hold_a_secret_in_clear_is_not_saved() {
    // The token is also written in clear in an instruction: masking it in the plan file would change what
    // `apply --plan` sends, and keeping it would leak it. The plan is refused, and nothing shows the token.
    let sandbox = Sandbox::start(0, SandboxConfig::default()).await.unwrap();
    let base = sandbox.base_url();
    let dir = tempfile::tempdir().unwrap();
    let manifest = BY_VALUE.replace("Ask about opening hours.", &format!("Use {TOKEN} to log in."));
    std::fs::write(dir.path().join("suite.yaml"), manifest).unwrap();
    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || run_in(&d, cmd(&base, &["plan", "--out", "p.plan", "suite.yaml"])))
        .await
        .unwrap();
    check("plan --out", &out, &[1]);
    assert!(out.stderr.contains("the plan was not saved"), "{}", out.snapshot());
    assert!(!dir.path().join("p.plan").exists());
    sandbox.shutdown().await;
}
