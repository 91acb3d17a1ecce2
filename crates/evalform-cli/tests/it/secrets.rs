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
