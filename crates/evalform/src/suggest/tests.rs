use super::*;
use crate::manifest::{load_texts, EnvMode, LoadOptions, ManifestFile};

const FILE: &str = "\
version: 1
cekura:
  agent: 101
  defaults:
    instructions_suffix: \"\\nAlways confirm the caller's name.\"
  evaluators:
    # The one customers call about most.
    - name: Order status
      instructions: Ask where order 12345 is.
      expected_outcome: The agent gives the delivery date.
      tags: [smoke]
    - name: Refund
      id: 9
      expected_outcome: ${env:SECRET_OUTCOME}
      first_message: Hi
";

fn manifests() -> Manifests {
    let env = |name: &str| (name == "SECRET_OUTCOME").then(|| "hidden".to_string());
    let opts = LoadOptions { env: &env, mode: EnvMode::Required, environment: None };
    load_texts(vec![ManifestFile { path: "suite.yaml".into(), text: FILE.into() }], &opts).expect("valid")
}

fn targets() -> Vec<Target> {
    vec![
        Target { id: 5, name: "Order status".into(), source: None },
        Target { id: 9, name: "Refund".into(), source: None },
    ]
}

fn suggestion(id: u64, fields: Value) -> Suggestion {
    let name = fields.get("name").and_then(Value::as_str).map(str::to_string);
    Suggestion { id: Some(id), name, fields: serde_json::from_value(fields).unwrap() }
}

#[test]
fn suggested_values_become_edits_of_the_declaring_file() {
    let plan = plan_edits(
        &manifests(),
        101,
        &targets(),
        &[suggestion(
            5,
            json!({"name": "Order status", "expected_outcome_prompt": "The agent gives the date.",
                   "tags": ["smoke"], "instructions": "Ask where order 12345 is, twice.\nAlways confirm the caller's name."}),
        )],
    );
    assert_eq!(
        plan.edits,
        vec![
            FieldEdit {
                file: "suite.yaml".into(),
                path: "cekura.evaluators[0].expected_outcome".into(),
                value: NewValue::Text("The agent gives the date.".into())
            },
            FieldEdit {
                file: "suite.yaml".into(),
                path: "cekura.evaluators[0].instructions".into(),
                value: NewValue::Text("Ask where order 12345 is, twice.".into())
            },
        ]
    );
    assert_eq!(plan.unchanged, 1, "tags are already so");
    assert!(plan.not_placed.is_empty(), "{:?}", plan.not_placed);
}

#[test]
fn what_cannot_be_placed_is_reported() {
    let plan = plan_edits(
        &manifests(),
        101,
        &targets(),
        &[
            suggestion(9, json!({"expected_outcome_prompt": "New", "first_message": "Hello", "voice": "x"})),
            suggestion(5, json!({"name": "Order status v2", "instructions": "Unrelated text."})),
            suggestion(77, json!({"name": "Elsewhere", "expected_outcome_prompt": "x"})),
        ],
    );
    assert_eq!(plan.edits.len(), 1);
    assert_eq!(plan.edits[0].path, "cekura.evaluators[1].first_message");
    let reasons: Vec<String> = plan
        .not_placed
        .iter()
        .map(|n| format!("{} {}: {}", n.evaluator, n.field.as_deref().unwrap_or("-"), n.reason))
        .collect();
    insta::assert_debug_snapshot!(reasons, @r#"
    [
        "\"Refund\" (agent 101) expected_outcome_prompt: the value comes from ${env:SECRET_OUTCOME}; not written",
        "\"Refund\" (agent 101) voice: `voice` has no manifest key that evalform writes; change it by hand if you want it",
        "\"Order status\" (agent 101) instructions: the suggested text no longer ends with the file's `instructions_suffix`; edit it by hand",
        "\"Order status\" (agent 101) name: a rename needs an `id` pin on the evaluator, or apply would create a new one",
        "evaluator 77 \"Elsewhere\" (agent 101) -: the manifests do not declare this evaluator; nothing was written for it",
    ]
    "#);
    assert!(!reasons.iter().any(|r| r.contains("hidden")), "a sensitive value never shows");
}

#[test]
fn every_progress_status_is_read() {
    let p = |status: &str, result: Value, error: Option<&str>| {
        read_progress(&ScenarioAgentProgress {
            progress_id: "p".into(),
            session_id: None,
            mode: None,
            status: status.into(),
            result: Some(result),
            error: error.map(String::from),
        })
    };
    assert_eq!(p("in_progress", Value::Null, None), Progress::Working);
    assert_eq!(
        p("needs_clarification", json!({"message": "Which behaviour?"}), None),
        Progress::NeedsClarification { question: "Which behaviour?".into() }
    );
    assert_eq!(
        p("needs_agent_clarification", json!({}), Some("Which agent?")),
        Progress::NeedsClarification { question: "Which agent?".into() }
    );
    assert_eq!(
        p("failed", json!({}), Some("model overloaded")),
        Progress::Failed { reason: "model overloaded".into() }
    );
    assert_eq!(p("cancelled", json!({}), None), Progress::Cancelled);
    assert_eq!(p("paused", json!({}), None), Progress::Unknown { status: "paused".into() });
    let clarify = ScenarioAgentProgress {
        progress_id: "p".into(),
        session_id: None,
        mode: Some("clarify".into()),
        status: "completed".into(),
        result: Some(json!({"updated_scenarios": [{"id": 5, "tags": []}]})),
        error: None,
    };
    assert_eq!(read_progress(&clarify), Progress::OtherMode { mode: "clarify".into() });
    let Progress::Done { message, suggestions } =
        p("completed", json!({"message": "Done.", "updated_scenarios": [{"id": 5, "name": "A", "tags": []}, 3]}), None)
    else {
        panic!()
    };
    assert_eq!(message.as_deref(), Some("Done."));
    assert_eq!(suggestions, vec![suggestion(5, json!({"name": "A", "tags": []}))]);
}

#[test]
fn the_request_never_applies() {
    assert_eq!(
        request_body(101, &[5, 9], "More detail"),
        json!({"user_message": "More detail", "agent_id": 101, "scenarios": [5, 9], "apply_changes": false})
    );
}

#[test]
fn a_declared_evaluator_left_out_by_the_selection_is_not_written() {
    let only_refund = &targets()[1..];
    let plan =
        plan_edits(&manifests(), 101, only_refund, &[suggestion(5, json!({"name": "Order status", "tags": []}))]);
    assert!(plan.edits.is_empty());
    assert_eq!(
        plan.not_placed[0].reason,
        "not among the evaluators asked about (left out by --name); nothing was written for it"
    );
}
