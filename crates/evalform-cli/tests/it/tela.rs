//! Tela prompt test cases end to end (issue 8): create, update of one message, a no-op re-plan, prune reported as
//! unsupported, a prompt that does not exist, a missing key. The import round trip is in `import.rs`.

use serde_json::Value;

use crate::apply::World;
use crate::common::settings;

const PROMPT: &str = "5f0c2a4e-0000-4000-8000-000000000001";

fn tela_world() -> World {
    let w = World::new();
    let text = std::fs::read_to_string(crate::common::workspace_root().join("examples/specs/tela/order-support.yaml"))
        .unwrap();
    w.write("tela.yaml", &text);
    w
}

/// The sandbox's test cases of the prompt, as the API returns them.
fn cases(w: &World) -> Vec<Value> {
    w.sb.with_state(|s| {
        s.test_cases.keys().cloned().collect::<Vec<_>>().into_iter().filter_map(|id| s.test_case(&id)).collect()
    })
}

#[test]
fn new_cases_are_created_in_one_call_and_a_second_plan_is_empty() {
    let w = tela_world();
    let out = w.run(&["apply", "--auto-approve", "tela.yaml"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let writes = w.writes();
    assert_eq!(writes.len(), 1, "one POST /test-case for four cases: {writes:?}");
    assert_eq!(writes[0].path, "/test-case");
    assert_eq!(cases(&w).len(), 4);
    let again = w.run(&["plan", "--detailed-exitcode", "tela.yaml"]);
    assert_eq!(again.code, 0, "{}", again.snapshot());
}

#[test]
fn one_changed_message_is_patched_alone() {
    let w = tela_world();
    assert_eq!(w.run(&["apply", "--auto-approve", "tela.yaml"]).code, 0);
    w.sb.clear_requests();
    w.edit("tela.yaml", "It's A-66120.", "It's A-66120 from March.");

    let plan = w.run(&["plan", "--detailed-exitcode", "tela.yaml"]);
    assert_eq!(plan.code, 2, "{}", plan.snapshot());
    settings().bind(|| insta::assert_snapshot!("tela_one_message_plan", plan.snapshot()));

    let out = w.run(&["apply", "--auto-approve", "tela.yaml"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let writes = w.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].method, "PATCH");
    let body = writes[0].body.as_ref().unwrap();
    assert_eq!(body.as_object().unwrap().keys().collect::<Vec<_>>(), ["messages"], "only the changed field: {body}");
    let refund = cases(&w).into_iter().find(|c| c["title"] == "Refund status").unwrap();
    assert_eq!(refund["messages"][2]["content"], "It's A-66120 from March.");
    assert_eq!(refund["messages"].as_array().unwrap().len(), 3);
    assert_eq!(w.run(&["plan", "--detailed-exitcode", "tela.yaml"]).code, 0);
}

#[test]
fn prune_deletes_only_the_cases_evalform_created_and_lists_the_rest() {
    let w = tela_world();
    assert_eq!(w.run(&["apply", "--auto-approve", "tela.yaml"]).code, 0);
    // A case someone made by hand: no ownership mark in its metadata.
    w.sb.with_state(|s| {
        let body = serde_json::json!({"promptId": PROMPT, "title": "Made by hand", "messages": []});
        s.create_test_case(None, &body).unwrap();
    });
    // Drop the last case from the manifest and ask for pruning.
    let text = std::fs::read_to_string(w.path("tela.yaml")).unwrap();
    let kept = &text[..text.find("    - title: Rude customer").unwrap()];
    w.write("tela.yaml", &kept.replacen("  test_cases:", "  prune: true\n  test_cases:", 1));
    let plan = w.run(&["plan", "--detailed-exitcode", "tela.yaml"]);
    settings().bind(|| insta::assert_snapshot!("tela_prune_plan", plan.snapshot()));
    assert_eq!(plan.code, 2);
    let out = w.run(&["apply", "--auto-approve", "tela.yaml"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let titles: Vec<String> = cases(&w).iter().map(|c| c["title"].as_str().unwrap().to_string()).collect();
    assert!(!titles.contains(&"Rude customer".to_string()), "{titles:?}");
    assert!(titles.contains(&"Made by hand".to_string()), "a case made by hand stays: {titles:?}");
    assert_eq!(titles.len(), 4);
    assert_eq!(w.run(&["plan", "--detailed-exitcode", "tela.yaml"]).code, 0);
}

#[test]
fn a_prompt_that_does_not_exist_is_a_clear_error() {
    let w = tela_world();
    w.edit("tela.yaml", PROMPT, "5f0c2a4e-0000-4000-8000-000000000099");
    let out = w.run(&["plan", "tela.yaml"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("5f0c2a4e-0000-4000-8000-000000000099"), "{}", out.snapshot());
    settings().bind(|| insta::assert_snapshot!("tela_unknown_prompt", out.snapshot()));
}

#[test]
fn a_missing_key_names_the_variable() {
    let w = tela_world();
    let mut cmd = w.cmd(&["plan", "tela.yaml"]);
    cmd.env_remove("TELA_API_KEY");
    let out = crate::common::run(cmd, None);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("TELA_API_KEY"), "{}", out.snapshot());
    // A manifest with only Tela needs no Cekura key.
    assert!(!out.stderr.contains("CEKURA_API_KEY"), "{}", out.snapshot());
    settings().bind(|| insta::assert_snapshot!("tela_missing_key", out.snapshot()));
}
