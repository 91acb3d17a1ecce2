//! `evalform pull` end to end: manifests applied to the sandbox, edited "in the dashboard" through the API, pulled
//! back. The files after pull keep every comment, what cannot be placed is reported, and a plan afterwards is empty.

use std::path::Path;
use std::process::Command;

use evalform::cekura::client::CekuraClient;
use evalform::http::HttpSettings;
use evalform::secret::ApiKey;
use evalform_sandbox::{RunningSandbox, Sandbox, SandboxConfig};
use serde_json::json;

use crate::common::{evalform, run, settings, Output};

const MANIFEST: &str = r#"# Support line: evaluators kept as code
version: 1
cekura:
  agent: 12            # Support line
  test_profiles:
    - name: Premium caller   # the gold tier
      main_agent_variables:
        user_id: U-42
        api_token: "${env:SUPPORT_TOKEN}"   # never in git
  defaults:
    personality: 7     # Normal Male, for every evaluator below
    instructions_suffix: "\nAlways confirm the caller's name before ending."
  evaluators:
    # Orders
    - name: Order status inquiry
      instructions: |
        You are a customer calling about order 12345.
      expected_outcome: 'The agent gives the delivery date.'
      metrics: [call_success, latency]   # slugs
      tags: [smoke, orders]
      test_profile: Premium caller
    # Refunds
    - name: Refund request
      instructions: Ask for a refund.
      tools:
        - TOOL_END_CALL   # always
        - TOOL_DTMF
"#;

fn cmd(sb: &RunningSandbox, dir: &Path, args: &[&str], token: &str) -> Output {
    let mut c: Command = evalform();
    c.args(args).env("CEKURA_API_KEY", "sandbox-key").env("CEKURA_BASE_URL", sb.base_url()).env("SUPPORT_TOKEN", token);
    run(c, Some(dir))
}

async fn in_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("the command ran")
}

/// The common filters, and evaluator ids (the sandbox numbers them) as `[ID]`.
fn pull_settings() -> insta::Settings {
    let mut s = settings();
    s.add_filter(r"id: \d+", "id: [ID]");
    s
}

fn client(sb: &RunningSandbox) -> CekuraClient {
    CekuraClient::new(&sb.base_url(), ApiKey::new("dashboard-key"), HttpSettings::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_writes_dashboard_edits_back_and_keeps_comments() {
    let sb = Sandbox::start(0, SandboxConfig::default()).await.expect("start the sandbox");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("support.yaml");
    std::fs::write(&file, MANIFEST).unwrap();
    let sbu = std::sync::Arc::new(sb);
    let exec = |args: &'static [&'static str], token: &'static str| {
        let (sb, dir) = (sbu.clone(), dir.path().to_path_buf());
        in_blocking(move || cmd(&sb, &dir, args, token))
    };

    let applied = exec(&["apply", "--auto-approve"], "local-secret").await;
    assert_eq!(applied.code, 0, "{}", applied.snapshot());

    // Pin the order evaluator by id, so that a rename on the platform is a rename, not a new evaluator.
    let api = client(&sbu);
    let scenarios = api.list_scenarios(12).await.unwrap();
    let id_of = |name: &str| scenarios.iter().find(|s| s.name == name).map(|s| s.id).unwrap();
    let (order, refund) = (id_of("Order status inquiry"), id_of("Refund request"));
    let pinned = MANIFEST.replace(
        "    - name: Order status inquiry\n",
        &format!("    - name: Order status inquiry\n      id: {order}\n"),
    );
    std::fs::write(&file, &pinned).unwrap();

    // Dashboard edits: a rename, an instruction, a tag, a metric, a tool, a shared default, a profile variable.
    api.patch_scenario(
        order,
        &json!({
            "name": "Order status (by phone)",
            "instructions": "You are a customer calling about order 12345 and 67890.\nAlways confirm the caller's name before ending.",
            "tags": ["smoke", "orders", "billing"],
            "metrics": [501, 503, 507],
        }),
    )
    .await
    .unwrap();
    api.patch_scenario(refund, &json!({"personality": 9, "tool_ids": ["TOOL_END_CALL", "TOOL_TRANSFER_CALL"]}))
        .await
        .unwrap();
    let profile = api.list_test_profiles(12).await.unwrap().into_iter().find(|p| p.name == "Premium caller").unwrap();
    api.patch_test_profile(
        profile.id,
        &json!({"information": {
            "main_agent_variables": {"user_id": "U-43", "api_token": "rotated-secret", "region": "eu"},
            "testing_agent_variables": {},
        }}),
    )
    .await
    .unwrap();

    let dry = exec(&["pull", "--dry-run"], "local-secret").await;
    pull_settings().bind(|| insta::assert_snapshot!("pull_dry_run", dry.snapshot()));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), pinned, "--dry-run writes nothing");

    let pulled = exec(&["pull"], "local-secret").await;
    settings().bind(|| insta::assert_snapshot!("pull_output", pulled.snapshot()));
    let after = std::fs::read_to_string(&file).unwrap();
    pull_settings().bind(|| insta::assert_snapshot!("pull_file_after", after));
    for comment in MANIFEST.lines().filter_map(|l| l.find('#').map(|i| &l[i..])) {
        assert!(after.contains(comment), "comment kept: {comment}");
    }
    assert!(!after.contains("rotated-secret") && !after.contains("local-secret"));

    // Only what was reported is left: the shared default and the secret.
    let plan = exec(&["plan", "--detailed-exitcode"], "local-secret").await;
    assert_eq!(plan.code, 2, "{}", plan.snapshot());

    let overridden = exec(&["pull", "--override"], "local-secret").await;
    settings().bind(|| insta::assert_snapshot!("pull_override_output", overridden.snapshot()));
    let plan = exec(&["plan", "--detailed-exitcode"], "rotated-secret").await;
    assert_eq!(
        plan.code,
        0,
        "after pull, with the secret set to the platform's value, nothing differs\n{}",
        plan.snapshot()
    );

    let again = exec(&["pull"], "rotated-secret").await;
    settings().bind(|| {
        insta::assert_snapshot!(again.snapshot(), @r"
        exit: 0
        --- stdout
        --- stderr
        Nothing to pull: the manifests describe the platform.
        ")
    });
}

const FLOWS: &str = r#"version: 1
cekura:
  agent: 12
  defaults:
    personality: 7   # shared
  evaluators:
    - name: Book a cleaning
      type: conditional_actions
      conditional_actions:
        role: A patient booking a dental cleaning
        conditions:
          - {id: 0, condition: FIRST_MESSAGE, action: "Hi, I'd like to book a cleaning.", fixed_message: true}
          - {id: 1, condition: The agent confirms the booking, action: "Thanks! <endcall />"}
    - name: Cancel a cleaning
      instructions: Cancel your appointment for Tuesday.
      expected_outcome: >-
        The agent cancels it.
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_default_changes_a_shared_default_and_flows_keep_their_form() {
    let sb = std::sync::Arc::new(Sandbox::start(0, SandboxConfig::default()).await.expect("start the sandbox"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dental.yaml");
    std::fs::write(&file, FLOWS).unwrap();
    let exec = |args: &'static [&'static str]| {
        let (sb, dir) = (sb.clone(), dir.path().to_path_buf());
        in_blocking(move || cmd(&sb, &dir, args, "unused"))
    };
    let applied = exec(&["apply", "--auto-approve"]).await;
    assert_eq!(applied.code, 0, "{}", applied.snapshot());

    let api = client(&sb);
    let scenarios = api.list_scenarios(12).await.unwrap();
    let id_of = |name: &str| scenarios.iter().find(|s| s.name == name).map(|s| s.id).unwrap();
    let flow = json!({
        "role": "A patient booking a dental cleaning",
        "conditions": [
            {"id": 0, "condition": "FIRST_MESSAGE", "action": "Hello, I'd like to book a cleaning.", "type": "standard", "fixed_message": true},
            {"id": 1, "condition": "The agent confirms the booking", "action": "Thanks! <endcall />", "type": "standard", "fixed_message": false},
        ],
    });
    api.patch_scenario(
        id_of("Book a cleaning"),
        &json!({"personality": 9, "scenario_type": "conditional_actions", "conditional_actions": flow}),
    )
    .await
    .unwrap();
    api.patch_scenario(
        id_of("Cancel a cleaning"),
        &json!({"personality": 9, "expected_outcome_prompt": "The agent cancels it and offers a new date."}),
    )
    .await
    .unwrap();

    let pulled = exec(&["pull", "--default"]).await;
    settings().bind(|| {
        insta::assert_snapshot!(pulled.snapshot(), @r#"
            exit: 0
            --- stdout
            --- stderr
            updated dental.yaml (3 changes)
            "#)
    });
    let after = std::fs::read_to_string(&file).unwrap();
    insta::assert_snapshot!(crate_diff(&after), @r#"
        --- a/dental.yaml
        +++ b/dental.yaml
        @@ -2,16 +2,16 @@
         cekura:
           agent: 12
           defaults:
        -    personality: 7   # shared
        +    personality: 9   # shared
           evaluators:
             - name: Book a cleaning
               type: conditional_actions
               conditional_actions:
                 role: A patient booking a dental cleaning
                 conditions:
        -          - {id: 0, condition: FIRST_MESSAGE, action: "Hi, I'd like to book a cleaning.", fixed_message: true}
        +          - {id: 0, condition: FIRST_MESSAGE, action: "Hello, I'd like to book a cleaning.", fixed_message: true}
                   - {id: 1, condition: The agent confirms the booking, action: "Thanks! <endcall />"}
             - name: Cancel a cleaning
               instructions: Cancel your appointment for Tuesday.
               expected_outcome: >-
        -        The agent cancels it.
        +        The agent cancels it and offers a new date.
        "#);
    let plan = exec(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(plan.code, 0, "{}", plan.snapshot());
}

fn crate_diff(after: &str) -> String {
    evalform::yaml::edit::unified_diff("dental.yaml", FLOWS, after)
}

#[test]
fn pull_names_every_resource_no_manifest_declares_with_the_command_that_adopts_it() {
    use serde_json::json;
    let w = crate::apply::World::examples();
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    w.sb.with_state(|s| {
        let body = json!({"name": "Made in the dashboard", "agent": 101, "personality": 7, "instructions": "Hi."});
        s.insert_evaluator(9001, body).unwrap();
        let profile = json!({"name": "Someone's profile", "agent": 101, "information": {}});
        s.insert_test_profile(9101, profile).unwrap();
    });
    let out = w.run(&["pull"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    insta::assert_snapshot!(out.stderr, @r#"
        warning: 2 platform changes were not placed in the manifests:
          cekura.agent[101].evaluator["Made in the dashboard"]: exists only on the platform (id 9001); pull does not add evaluators
            hint: adopt it into these manifests with `evalform import --evaluator 9001`
          cekura.agent[101].test_profile["Someone's profile"]: exists only on the platform (id 9101); pull does not add test profiles
            hint: adopt it into these manifests with `evalform import --test-profile 9101`
        "#);
    // The command it names adopts it.
    let adopt = w.run(&["import", "--evaluator", "9001", "--test-profile", "9101"]);
    assert_eq!(adopt.code, 0, "{}", adopt.snapshot());
    let plan = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.snapshot());
    assert!(!plan.stdout.contains("Not managed"), "{}", plan.stdout);
}
