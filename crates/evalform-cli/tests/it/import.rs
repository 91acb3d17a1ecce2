//! `evalform import` end to end: the real binary against an in-process sandbox seeded with a varied state. The
//! test of import is that `plan --detailed-exitcode` on what it wrote exits 0, and that importing twice gives the
//! same bytes.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use evalform::manifest::{self, EnvMode, LoadOptions};
use evalform_sandbox::{RunningSandbox, Sandbox, SandboxConfig, SandboxState};
use serde_json::json;

use crate::common::{evalform, run, settings, Output};

const PROMPT: &str = "5f0c2a4e-0000-4000-8000-000000000001";

async fn start() -> RunningSandbox {
    Sandbox::start(0, SandboxConfig::default()).await.expect("start the sandbox")
}

/// `evalform ARGS` pointed at the sandbox, with both keys.
fn cmd(sb: &RunningSandbox, args: &[&str]) -> Command {
    let mut cmd = evalform();
    cmd.env("CEKURA_BASE_URL", sb.base_url())
        .env("CEKURA_API_KEY", "test-key")
        .env("TELA_BASE_URL", sb.base_url())
        .env("TELA_API_KEY", "test-key")
        .env("EVALFORM_FAST_RETRIES", "1")
        .args(args);
    cmd
}

/// Run the binary off the runtime's thread, so the in-process sandbox keeps serving.
async fn exec(cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || run(cmd, None)).await.expect("run evalform")
}

/// Every file below `dir`, by path relative to it.
fn read_tree(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
                out.insert(rel, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    out
}

fn evaluator(s: &mut SandboxState, id: u64, body: serde_json::Value, dashboard: serde_json::Value) {
    s.insert_evaluator(id, body).expect("a valid evaluator");
    if dashboard.as_object().is_some_and(|m| !m.is_empty()) {
        s.edit_evaluator(id, dashboard).expect("a valid dashboard edit");
    }
}

/// A state that exercises every rule of import: folders three levels deep, conditional actions with follow-ups
/// and a numeric-looking text trigger, legacy and sectioned test profiles, duplicate names, unicode and multi-line
/// texts, a shared instruction tail, evaluators in no folder, fields only the dashboard sets.
fn seed_varied(s: &mut SandboxState) {
    for folder in ["Sales.Inbound.EU", "Support", "Café ☕"] {
        s.insert_folder(1376, folder).unwrap();
    }
    s.insert_test_profile(
        301,
        json!({"agent": 12, "name": "Premium caller", "information": {
            "main_agent_variables": {"user_id": "U-42", "retries": 3},
            "testing_agent_variables": {"customer_name": "Jöhn Doe"}}}),
    )
    .unwrap();
    s.insert_test_profile(302, json!({"agent": 12, "name": "Legacy", "information": {"name": "Ann", "vip": true}}))
        .unwrap();
    s.insert_test_profile(303, json!({"agent": 12, "name": "Twin", "information": {}})).unwrap();
    s.insert_test_profile(
        304,
        json!({"agent": 12, "name": "Twin", "information": {"main_agent_variables": {}, "testing_agent_variables": {}}}),
    )
    .unwrap();
    s.insert_test_profile(
        305,
        json!({"agent": 12, "name": "Empty sections", "information": {
        "main_agent_variables": {}, "testing_agent_variables": {}}}),
    )
    .unwrap();

    let tail = "\n\nAlways confirm the caller's name before ending.";
    evaluator(
        s,
        1001,
        json!({"agent": 12, "name": "Order status", "personality": 7, "folder_path": "Sales.Inbound.EU",
               "instructions": format!("You are calling about order 12345.\nAsk when it arrives.{tail}"),
               "expected_outcome_prompt": "The agent gives the delivery date.",
               "metrics": [501, 502], "tool_ids": ["TOOL_END_CALL", "TOOL_DTMF"], "tags": ["smoke", "orders"],
               "test_profile": 301, "phone_number": 44}),
        json!({"first_message": "Hi, where is my order?", "max_duration": 300, "scenario_language": "en"}),
    );
    evaluator(
        s,
        1002,
        json!({"agent": 12, "name": "Refund request", "personality": 8, "folder_path": "Sales",
               "instructions": format!("  Indented first line.\nAsk for a refund.{tail}"),
               "metrics": [503], "tags": [], "test_profile": 302}),
        json!({"max_duration": 120, "scenario_language": "de"}),
    );
    evaluator(
        s,
        1003,
        json!({"agent": 12, "name": "Upsell", "personality": 7, "folder_path": "Sales.Inbound",
               "instructions": format!("Ask about the premium plan.{tail}"), "test_profile": 304}),
        json!({}),
    );
    evaluator(
        s,
        1004,
        json!({"agent": 12, "name": "No tail", "personality": 7, "folder_path": "Sales",
               "instructions": "Say yes: then no.\nnull\n- a dash"}),
        json!({"first_message": ""}),
    );
    let flow = json!({"role": "A patient booking a dental cleaning", "conditions": [
        {"id": 0, "condition": "FIRST_MESSAGE", "action": "Hi, I'd like to book a cleaning.", "fixed_message": true},
        {"id": 1, "condition": "The agent confirms the booking", "action": "Thanks!\nBye. <endcall />"},
        {"id": 2, "condition": 1, "action": "Ask for the time again", "type": "action_followup"},
        {"id": 3, "condition": 1, "action": "Standard on a follow-up", "type": "standard"},
        {"id": 4, "condition": "42", "action": "A text trigger that looks like a number"}
    ]});
    evaluator(
        s,
        1005,
        json!({"agent": 12, "name": "Book a cleaning", "personality": 9, "folder_path": "Support",
               "scenario_type": "conditional_actions", "conditional_actions": flow, "tags": ["dental"]}),
        json!({}),
    );
    // A flow in a file whose text evaluators share a suffix: the suffix default must leave it alone.
    let callback = json!({"role": "A caller waiting for a callback", "conditions": [
        {"id": 0, "condition": "FIRST_MESSAGE", "action": "Did you call me?"}]});
    evaluator(
        s,
        1010,
        json!({"agent": 12, "name": "Callback", "personality": 7, "folder_path": "Sales.Inbound",
               "scenario_type": "conditional_actions", "conditional_actions": callback}),
        json!({}),
    );
    // Two evaluators share a name, in no folder.
    for id in [1006, 1007] {
        evaluator(
            s,
            id,
            json!({"agent": 12, "name": "Angry caller", "personality": 9,
                   "instructions": format!("Complain loudly (copy {id}).")}),
            json!({}),
        );
    }
    evaluator(
        s,
        1008,
        json!({"agent": 12, "name": "Grüße an José 🎉", "personality": 10, "folder_path": "Café ☕",
               "instructions": "Sprich Deutsch.\n\n  Mit Einrückung.\nÜmlaute: äöü — “quotes” # not a comment",
               "expected_outcome_prompt": "Der Agent antwortet: höflich.\nZweite Zeile."}),
        json!({"first_message": "¿Hola?"}),
    );
    evaluator(
        s,
        1009,
        json!({"agent": 12, "name": "yes", "personality": 7, "instructions": "0042", "tags": ["no", "on"],
               "metrics": [501, 502, 503, 504, 505, 506, 507]}),
        json!({}),
    );
    // More than one page of evaluators (the list is paginated by 50).
    s.insert_folder(1376, "Bulk").unwrap();
    for i in 0..55u64 {
        let body = json!({"agent": 12, "name": format!("Bulk {i:02}"), "personality": 8, "folder_path": "Bulk",
                          "instructions": format!("Case {i}.\nEnd politely.")});
        evaluator(s, 3000 + i, body, json!({}));
    }
    // Another agent's evaluator is not imported.
    evaluator(s, 2001, json!({"agent": 1, "name": "Elsewhere", "personality": 7}), json!({}));
}

#[tokio::test]
async fn import_then_plan_shows_no_changes_and_a_reimport_is_byte_identical() {
    let sb = start().await;
    sb.with_state(seed_varied);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("suite");
    let out_s = out.to_str().unwrap();

    let imported = exec(cmd(&sb, &["import", "--agent", "12", "--out", out_s])).await;
    assert_eq!(imported.code, 0, "{}", imported.snapshot());
    let first = read_tree(&out);
    assert_eq!(
        first.keys().cloned().collect::<Vec<_>>(),
        [
            "agent-12/_agent.yaml",
            "agent-12/_root.yaml",
            "agent-12/bulk.yaml",
            "agent-12/caf.yaml",
            "agent-12/sales.yaml",
            "agent-12/support.yaml"
        ]
    );

    // Plan reads the platform as import did, so a page import missed would go unnoticed there: count them.
    assert_eq!(first["agent-12/bulk.yaml"].matches("- name: Bulk ").count(), 55);
    let plan = exec(cmd(&sb, &["plan", out_s, "--detailed-exitcode"])).await;
    assert_eq!(plan.code, 0, "plan after import must show no changes:\n{}\n{first:#?}", plan.snapshot());
    // What import writes is the form `fmt` writes.
    let fmt = exec(cmd(&sb, &["fmt", "--check", out_s])).await;
    assert_eq!(fmt.code, 0, "imported files must be formatted already:\n{}", fmt.snapshot());

    let again = exec(cmd(&sb, &["import", "--agent", "12", "--out", out_s, "--force"])).await;
    assert_eq!(again.code, 0, "{}", again.snapshot());
    assert_eq!(read_tree(&out), first, "a re-import of an unchanged platform gives the same bytes");
    sb.shutdown().await;
}

#[tokio::test]
async fn drift_after_an_import_shows_in_the_plan() {
    // The round trip above would pass if plan compared nothing: show that it compares what import wrote.
    let sb = start().await;
    sb.with_state(seed_varied);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap().to_string();
    assert_eq!(exec(cmd(&sb, &["import", "--agent", "12", "--out", &out])).await.code, 0);
    sb.with_state(|s| {
        s.edit_evaluator(1007, json!({"first_message": "Changed on the dashboard"})).unwrap();
        s.edit_evaluator(1002, json!({"folder_path": ""})).unwrap();
    });
    let plan = exec(cmd(&sb, &["plan", &out, "--detailed-exitcode"])).await;
    assert_eq!(plan.code, 2, "{}", plan.snapshot());
    assert!(plan.stdout.contains("Changed on the dashboard"), "{}", plan.stdout);
    assert!(plan.stdout.contains("Refund request"), "{}", plan.stdout);
    sb.shutdown().await;
}

/// A small state whose files are snapshotted whole.
fn seed_small(s: &mut SandboxState) {
    s.insert_folder(1376, "Sales.Inbound").unwrap();
    s.insert_test_profile(301, json!({"agent": 12, "name": "Legacy", "information": {"name": "Ann"}})).unwrap();
    for (id, name, folder) in [(1001, "Order status", "Sales.Inbound"), (1002, "Refund", "Sales")] {
        evaluator(
            s,
            id,
            json!({"agent": 12, "name": name, "personality": 7, "folder_path": folder, "metrics": [501],
                   "instructions": format!("Ask about {name}.\nThen hang up.\n\nBe polite."), "test_profile": 301}),
            json!({"max_duration": 300}),
        );
    }
    for id in [1003, 1004] {
        evaluator(s, id, json!({"agent": 12, "name": "Twin", "personality": 8, "instructions": "Hello."}), json!({}));
    }
}

#[tokio::test]
async fn the_files_of_a_small_state() {
    let sb = start().await;
    sb.with_state(seed_small);
    let dir = tempfile::tempdir().unwrap();
    let mut command = cmd(&sb, &["import", "--agent", "12", "--out", "suite"]);
    command.current_dir(dir.path());
    let out = exec(command).await;
    settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r"
        exit: 0
        --- stdout
        suite/agent-12/_agent.yaml
        suite/agent-12/_root.yaml
        suite/agent-12/sales.yaml
        --- stderr
        next: evalform plan suite
        ");
    });
    for (path, contents) in read_tree(&dir.path().join("suite")) {
        settings().bind(|| insta::assert_snapshot!(format!("import-small-{}", path.replace('/', "__")), contents));
    }
    let mut plan = cmd(&sb, &["plan", "suite", "--detailed-exitcode"]);
    plan.current_dir(dir.path());
    let plan = exec(plan).await;
    assert_eq!(plan.code, 0, "{}", plan.snapshot());
    sb.shutdown().await;
}

#[tokio::test]
async fn existing_files_are_not_overwritten_without_force() {
    let sb = start().await;
    sb.with_state(seed_small);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("agent-12");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("_agent.yaml"), "mine\n").unwrap();
    std::fs::write(root.join("sales.yaml"), "mine too\n").unwrap();
    let mut command = cmd(&sb, &["import", "--agent", "12"]);
    command.current_dir(dir.path());
    let out = exec(command).await;
    settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r"
        exit: 1
        --- stdout
        --- stderr
        error: 2 files already exist: ./agent-12/_agent.yaml, ./agent-12/sales.yaml
        hint: pass --force to overwrite, or choose another directory with --out
        ");
    });
    assert_eq!(std::fs::read_to_string(root.join("_agent.yaml")).unwrap(), "mine\n");
    assert!(!root.join("_root.yaml").exists(), "nothing at all is written");

    // With --force, import's own files are replaced; another manifest beside them is named, not deleted.
    std::fs::write(root.join("old-folder.yaml"), "version: 1\n").unwrap();
    let mut command = cmd(&sb, &["import", "--agent", "12", "--force"]);
    command.current_dir(dir.path());
    let out = exec(command).await;
    settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r"
        exit: 0
        --- stdout
        ./agent-12/_agent.yaml
        ./agent-12/_root.yaml
        ./agent-12/sales.yaml
        --- stderr
        warning: ./agent-12/old-folder.yaml was not written by this import and is still read by `evalform plan`; delete it if an earlier import wrote it
        next: evalform plan .
        ");
    });
    assert!(std::fs::read_to_string(root.join("_agent.yaml")).unwrap().contains("name: Legacy"));
    assert!(root.join("old-folder.yaml").exists());

    let mut command = cmd(&sb, &["import", "--agent", "12", "--force", "-q"]);
    command.current_dir(dir.path());
    let out = exec(command).await;
    assert_eq!((out.code, out.stderr.as_str(), out.stdout.lines().count()), (0, "", 3), "{}", out.snapshot());
    sb.shutdown().await;
}

#[tokio::test]
async fn a_prompt_imports_and_plans_clean() {
    let sb = start().await;
    sb.with_state(|s| {
        s.insert_test_case(
            "7e57ca5e-0000-4000-8000-000000000001",
            json!({"promptId": PROMPT, "title": "Order has not arrived",
                   "messages": [{"role": "system", "content": "Be brief.\nBe kind."},
                                {"role": "user", "content": "My order hasn't arrived yet."}],
                   "variables": {"customer_name": "Jöhn", "order": "0042"},
                   "expectedOutput": "I'll help you track down your order."}),
        )
        .unwrap();
        s.insert_test_case(
            "7e57ca5e-0000-4000-8000-000000000002",
            json!({"promptId": PROMPT, "title": "yes", "messages": [{"role": "user", "content": "¿Dónde está?"}]}),
        )
        .unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let mut command = cmd(&sb, &["import", "--prompt", &PROMPT.to_uppercase(), "--out", "suite"]);
    command.current_dir(dir.path()).env_remove("CEKURA_API_KEY");
    let out = exec(command).await;
    settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r"
        exit: 0
        --- stdout
        suite/tela/5f0c2a4e-0000-4000-8000-000000000001.yaml
        --- stderr
        next: evalform plan suite
        ");
    });
    let files = read_tree(&dir.path().join("suite"));
    settings().bind(|| insta::assert_snapshot!("import-prompt", files.values().next().unwrap()));
    let mut plan = cmd(&sb, &["plan", "suite", "--detailed-exitcode"]);
    plan.current_dir(dir.path()).env_remove("CEKURA_API_KEY");
    let plan = exec(plan).await;
    assert_eq!(plan.code, 0, "{}", plan.snapshot());
    let mut fmt = cmd(&sb, &["fmt", "--check", "suite"]);
    fmt.current_dir(dir.path());
    let fmt = exec(fmt).await;
    assert_eq!(fmt.code, 0, "imported files must be formatted already:\n{}", fmt.snapshot());

    // Both at once, again: the same bytes for the prompt.
    let mut both = cmd(&sb, &["import", "--agent", "1", "--prompt", PROMPT, "--out", "suite", "--force"]);
    both.current_dir(dir.path());
    let both = exec(both).await;
    assert_eq!(both.code, 0, "{}", both.snapshot());
    let again = read_tree(&dir.path().join("suite"));
    let prompt_file = "tela/5f0c2a4e-0000-4000-8000-000000000001.yaml";
    assert_eq!(again[prompt_file], files[prompt_file]);
    assert!(again.contains_key("agent-1/_agent.yaml"), "{:?}", again.keys());
    sb.shutdown().await;
}

#[tokio::test]
async fn errors_say_what_to_do() {
    let sb = start().await;
    let dir = tempfile::tempdir().unwrap();
    let go = |args: &[&str], without: Option<&str>| {
        let mut c = cmd(&sb, args);
        c.current_dir(dir.path());
        if let Some(var) = without {
            c.env_remove(var);
        }
        c
    };
    let no_key = exec(go(&["import", "--agent", "12"], Some("CEKURA_API_KEY"))).await;
    let bad_prompt = exec(go(&["import", "--prompt", "order-support"], None)).await;
    let unknown_agent = exec(go(&["import", "--agent", "999"], None)).await;
    let nothing = exec(go(&["import"], None)).await;
    settings().bind(|| {
        insta::assert_snapshot!(no_key.snapshot(), @r"
        exit: 1
        --- stdout
        --- stderr
        error: no cekura API key: set CEKURA_API_KEY
        hint: export CEKURA_API_KEY=... (or run `evalform demo` to try evalform without a key)
        ");
        insta::assert_snapshot!(bad_prompt.snapshot(), @r"
        exit: 1
        --- stdout
        --- stderr
        error: `order-support` is not a Tela prompt id
        hint: a prompt id is a uuid such as 5f0c2a4e-0000-4000-8000-000000000001
        ");
        insta::assert_snapshot!(unknown_agent.snapshot(), @r"
        exit: 1
        --- stdout
        --- stderr
        error: reading Cekura agent 999
        caused by: GET /test_framework/v2/aiagents/999/: 404 Not Found: Not found.
        hint: check the agent id: it is in the agent's URL in the Cekura dashboard
        ");
        insta::assert_snapshot!(nothing.snapshot(), @r"
        exit: 1
        --- stdout
        --- stderr
        error: the following required arguments were not provided:
          --agent <ID>

        Usage: evalform import --agent <ID>

        For more information, try '--help'.
        ");
    });
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "a failed import writes nothing");
    sb.shutdown().await;
}

/// What the loader makes of a manifest, one line per managed value, for the import-rule snapshots.
fn describe(state: &evalform::model::State) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for agent in state.agents.values() {
        let _ = writeln!(out, "agent {} project {:?} folders {:?}", agent.agent, agent.project, agent.folders);
        for p in &agent.test_profiles {
            let _ = writeln!(out, "test profile {:?} id {:?}: {:?}", p.name, p.id, p.information);
        }
        for e in &agent.evaluators {
            let _ = writeln!(out, "evaluator {:?} id {:?}", e.name, e.id);
            let s = &e.spec;
            let fields: [(&str, Option<String>); 14] = [
                ("folder", s.folder.as_ref().map(|v| format!("{v:?}"))),
                ("script", s.script.as_ref().map(|v| format!("{v:?}"))),
                ("instruction_parts", s.instruction_parts.as_ref().map(|v| format!("{v:?}"))),
                ("expected_outcome", s.expected_outcome.as_ref().map(|v| format!("{v:?}"))),
                ("first_message", s.first_message.as_ref().map(|v| format!("{v:?}"))),
                ("personality", s.personality.as_ref().map(|v| format!("{v:?}"))),
                ("test_profile", s.test_profile.as_ref().map(|v| format!("{v:?}"))),
                ("metrics", s.metrics.as_ref().map(|v| format!("{v:?}"))),
                ("tools", s.tools.as_ref().map(|v| format!("{v:?}"))),
                ("tags", s.tags.as_ref().map(|v| format!("{v:?}"))),
                ("language", s.language.as_ref().map(|v| format!("{v:?}"))),
                ("max_duration", s.max_duration.map(|v| format!("{v:?}"))),
                ("phone_number", s.phone_number.map(|v| format!("{v:?}"))),
                ("ignore_changes", (!e.ignore_changes.is_empty()).then(|| format!("{:?}", e.ignore_changes))),
            ];
            for (key, value) in fields {
                if let Some(v) = value {
                    let _ = writeln!(out, "  {key}: {v}");
                }
            }
        }
    }
    out
}

/// Each rule the import writer relies on has a fixture (`tests/fixtures/manifests/valid/import-rule-*`, also
/// validated with the other valid fixtures) and a snapshot of what the loader makes of it.
#[test]
fn the_loader_accepts_what_import_writes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/fixtures/manifests/valid");
    let mut rules: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("import-rule-"))
        .collect();
    rules.sort();
    assert_eq!(rules.len(), 8);
    let opts = LoadOptions { env: &|_| None, mode: EnvMode::Required, environment: None };
    for path in rules {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let loaded =
            manifest::load(std::slice::from_ref(&path), &opts).unwrap_or_else(|d| panic!("{name} does not load:\n{d}"));
        settings().bind(|| insta::assert_snapshot!(name, describe(&loaded.state)));
    }
}

#[test]
fn import_evaluator_adopts_one_resource_into_the_existing_manifests_keeping_comments() {
    use serde_json::json;
    let w = crate::apply::World::examples();
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    w.sb.with_state(|s| {
        let body = json!({"name": "Made in the dashboard", "agent": 101, "personality": 7,
            "instructions": "Ask where the parcel is.", "tags": ["mine"]});
        s.insert_evaluator(9001, body).unwrap();
    });
    let before: std::collections::BTreeMap<String, String> = ["acme-shop/orders.yaml", "acme-shop/escalation.yaml"]
        .iter()
        .map(|f| (f.to_string(), std::fs::read_to_string(w.path(f)).unwrap()))
        .collect();
    let out = w.run(&["import", "--evaluator", "9001"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let (file, old) =
        before.iter().find(|(f, old)| std::fs::read_to_string(w.path(f)).unwrap() != **old).expect("a file changed");
    let new = std::fs::read_to_string(w.path(file)).unwrap();
    assert!(new.starts_with(old.trim_end()), "everything before, comments included, stays:\n{new}");
    insta::assert_snapshot!(new[old.trim_end().len()..].to_string(), @r#"

        - name: Made in the dashboard
          id: 9001
          folder: ""
          instructions: |-
            Ask where the parcel is.
          instructions_suffix: ""  # does not end with the shared suffix
          expected_outcome: ""
          first_message: ""
          personality: 7  # Normal Male
          metrics: []
          tools: []
          tags: [mine]
          language: en
          # not set on the platform; listed so that this file's `defaults` do not set them
          ignore_changes: [max_duration]
        "#);
    let plan = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "adopted as it is: {}", plan.snapshot());
    assert!(!plan.stdout.contains("Made in the dashboard"), "{}", plan.stdout);
    // Declared already: refused, nothing written.
    let again = w.run(&["import", "--evaluator", "9001"]);
    assert_eq!(again.code, 1, "{}", again.snapshot());
    assert!(again.stderr.contains("already declared"), "{}", again.snapshot());
}

/// The platform returns secrets in clear: import names the values that look like secrets, and with
/// `--secrets-as-env` writes them as `${env:NAME}` references and lists the variables; the suite then plans clean.
#[test]
fn values_that_look_like_secrets_are_named_or_written_as_env_references() {
    let w = crate::apply::World::examples();
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    let out = w.run(&["import", "--agent", "101", "--out", "plain"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let warning: Vec<&str> = out.stderr.lines().filter(|l| !l.starts_with("next:")).collect();
    insta::assert_snapshot!(warning.join("\n"), @r#"
    warning: 1 value that looks like a secret was written in clear:
      test profile "Returning customer" main_agent_variables.crm_token
      hint: `evalform import --secrets-as-env` writes them as ${env:NAME} references instead (docs/secrets.md)
    "#);

    let out = w.run(&["import", "--agent", "101", "--out", "env", "--secrets-as-env"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let listed: Vec<&str> = out.stderr.lines().filter(|l| !l.starts_with("next:")).collect();
    insta::assert_snapshot!(listed.join("\n"), @r#"
    set these variables before `evalform plan` (the values are on the platform):
      RETURNING_CUSTOMER_CRM_TOKEN  (test profile "Returning customer" main_agent_variables.crm_token)
    "#);
    let agent_file = std::fs::read_to_string(w.path("env/agent-101/_agent.yaml")).unwrap();
    assert!(agent_file.contains("crm_token: ${env:RETURNING_CUSTOMER_CRM_TOKEN}"), "{agent_file}");
    let mut plan = w.cmd(&["plan", "--detailed-exitcode", "env"]);
    plan.env("RETURNING_CUSTOMER_CRM_TOKEN", "tok-3f9a-not-printed");
    let planned = crate::common::run(plan, None);
    assert_eq!(planned.code, 0, "{}", planned.snapshot());
}
