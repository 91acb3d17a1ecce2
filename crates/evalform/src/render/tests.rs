//! Snapshots of the three renderers on one plan that has a bit of everything: creates, updates, deletes, an
//! append, a conditional_actions change, sensitive values, a long instruction diff, a Tela case and a note.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::model::{
    AgentState, Condition, ConditionKind, ConditionTrigger, ConditionalActions, Evaluator, EvaluatorSpec, Information,
    Message, MetricRef, NamedRef, PromptState, Script, State, TestCase, TestProfile, Text,
};
use crate::plan::{plan, Observed, PlanSettings};

fn ev(id: Option<u64>, name: &str, spec: EvaluatorSpec) -> Evaluator {
    Evaluator { id, name: name.into(), spec, ignore_changes: BTreeSet::new(), source: None }
}

fn base(script: &str) -> EvaluatorSpec {
    EvaluatorSpec {
        folder: Some(String::new()),
        script: Some(Script::Text(script.into())),
        expected_outcome: Some("Resolved.".into()),
        first_message: Some("Hi".into()),
        personality: Some(NamedRef::Id(7)),
        metrics: Some([MetricRef::Id(501)].into()),
        tools: Some(crate::model::SmallSet::new()),
        tags: Some(crate::model::SmallSet::new()),
        language: Some("en".into()),
        max_duration: Some(300),
        ..EvaluatorSpec::default()
    }
}

fn flow(second_action: &str) -> Script {
    Script::Flow(ConditionalActions {
        role: "A patient booking a dental cleaning".into(),
        conditions: vec![
            Condition {
                id: 0,
                condition: ConditionTrigger::Text("FIRST_MESSAGE".into()),
                action: "Hi, I'd like to book a cleaning.".into(),
                kind: ConditionKind::Standard,
                fixed_message: true,
            },
            Condition {
                id: 1,
                condition: ConditionTrigger::Text("The agent confirms the booking".into()),
                action: second_action.into(),
                kind: ConditionKind::Standard,
                fixed_message: false,
            },
        ],
    })
}

const TAIL: &str = "\nAlways confirm the caller's name before ending.";

fn long_script(changed: &str) -> String {
    (1..=12)
        .map(|i| if i == 7 { changed.to_string() } else { format!("Step {i}: follow the script.") })
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) fn sample_plan() -> crate::plan::Plan {
    let token = |v: &str| Text::sensitive(v, "${env:SUPPORT_TOKEN}");
    let mut have_agent = AgentState {
        agent: 101,
        project: Some(1376),
        prune: false,
        folders: BTreeSet::new(),
        test_profiles: vec![TestProfile {
            id: Some(55),
            name: "Premium caller".into(),
            information: Some(Information::Sectioned {
                main_agent_variables: [
                    ("api_token".to_string(), Text::new("old-token")),
                    ("user_id".to_string(), "U-41".into()),
                ]
                .into(),
                testing_agent_variables: BTreeMap::new(),
            }),
            source: None,
        }],
        evaluators: vec![
            ev(Some(201), "Order status inquiry", base("You are calling about order 12345.\nBe polite.")),
            ev(Some(202), "Delivery delay", base("You are calling about a late parcel.\nBe polite.")),
            ev(Some(203), "Book a cleaning", EvaluatorSpec { script: Some(flow("Thanks! <endcall />")), ..base("") }),
            ev(Some(204), "Long script", base(&long_script("Step 7: ask for the manager."))),
            ev(Some(205), "Old test", base("Obsolete.")),
        ],
        ..AgentState::default()
    };
    let want = |name: &str, f: &dyn Fn(&mut EvaluatorSpec)| {
        let mut spec = EvaluatorSpec::default();
        f(&mut spec);
        ev(None, name, spec)
    };
    let want_agent = AgentState {
        agent: 101,
        project: None,
        prune: true,
        folders: BTreeSet::new(),
        test_profiles: vec![TestProfile {
            id: None,
            name: "Premium caller".into(),
            information: Some(Information::Sectioned {
                main_agent_variables: [
                    ("api_token".to_string(), token("new-token")),
                    ("user_id".to_string(), "U-42".into()),
                ]
                .into(),
                testing_agent_variables: [("customer_name".to_string(), "John Doe".into())].into(),
            }),
            source: None,
        }],
        evaluators: vec![
            want("Refund for damaged item", &|s| {
                s.folder = Some("Refunds".into());
                s.personality = Some(NamedRef::Id(7));
                s.metrics = Some([MetricRef::Id(501), MetricRef::Id(505)].into());
                s.script = Some(Script::Text("You received a broken vase.\nAsk for a refund.".into()));
                s.first_message = Some(token("Bearer abc"));
            }),
            want("Order status inquiry", &|s| {
                s.script = Some(Script::Text(format!("You are calling about order 12345.\nBe polite.{TAIL}").into()));
                s.metrics = Some([MetricRef::Id(501), MetricRef::Id(506)].into());
            }),
            want("Delivery delay", &|s| {
                s.script = Some(Script::Text(format!("You are calling about a late parcel.\nBe polite.{TAIL}").into()));
                s.metrics = Some([MetricRef::Id(501), MetricRef::Id(506)].into());
            }),
            want("Book a cleaning", &|s| s.script = Some(flow("Thank you, goodbye! <endcall />"))),
            want("Long script", &|s| {
                s.script = Some(Script::Text(long_script("Step 7: ask for a supervisor, politely.").into()));
                s.tags = Some(["smoke".to_string()].into());
            }),
        ],
        ..AgentState::default()
    };
    let case = |id: Option<&str>, title: &str| TestCase {
        id: id.map(str::to_string),
        title: title.into(),
        messages: Some(vec![Message { role: "user".into(), content: "My order hasn't arrived yet.".into() }]),
        variables: Some([("customer_name".to_string(), "John Doe".into())].into()),
        expected_output: Some("I'll help you track down your order.".into()),
        source: None,
    };
    let prompt = "5f0c2a4e-0000-4000-8000-000000000001".to_string();
    let mut have = State::default();
    // All made by evalform: prune may delete them.
    have_agent.owned = have_agent.evaluators.iter().filter_map(|e| e.id).collect();
    have.agents.insert(101, have_agent);
    have.prompts.insert(
        prompt.clone(),
        PromptState {
            prompt: prompt.clone(),
            prune: true,
            prompt_version: None,
            test_cases: vec![case(Some("c-1"), "Wrong item")],
            owned: Default::default(),
        },
    );
    let mut desired = State::default();
    desired.agents.insert(101, want_agent);
    desired.prompts.insert(
        prompt.clone(),
        PromptState {
            prompt,
            prune: true,
            prompt_version: None,
            test_cases: vec![case(None, "Order has not arrived")],
            owned: Default::default(),
        },
    );
    plan(&desired, &Observed { state: have, catalogs: BTreeMap::new() }, &PlanSettings::default()).unwrap()
}

#[test]
fn text_snapshot() {
    let out = text(&sample_plan(), false);
    assert!(!out.contains("new-token") && !out.contains("Bearer abc"), "{out}");
    assert!(!out.contains('\u{1b}'));
    insta::assert_snapshot!(out);
}

#[test]
fn text_colours_only_when_asked() {
    assert!(text(&sample_plan(), true).contains("\u{1b}[32m"));
}

#[test]
fn json_snapshot() {
    let out = serde_json::to_string_pretty(&json(&sample_plan())).unwrap();
    assert!(!out.contains("new-token") && !out.contains("Bearer abc"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn markdown_snapshot() {
    let out = markdown(&sample_plan());
    assert!(!out.contains("new-token") && !out.contains("Bearer abc"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn empty_plan_says_so() {
    let empty = crate::plan::Plan::default();
    insta::assert_snapshot!(text(&empty, false), @"No changes. The platform matches the manifests.");
    insta::assert_snapshot!(markdown(&empty), @r"
    ### evalform plan

    No changes. The platform matches the manifests.
    ");
}

#[test]
fn markdown_is_cut_under_the_limit_with_a_note() {
    let mut p = sample_plan();
    let template = p.changes.iter().find(|c| c.address.name() == "Long script").unwrap().clone();
    p.changes = (0..400)
        .map(|i| {
            let mut c = template.clone();
            c.address = crate::model::Address::Evaluator { agent: 101, name: format!("Long script {i}") };
            c
        })
        .collect();
    let out = markdown(&p);
    assert!(out.len() <= markdown::MAX_CHARS, "{}", out.len());
    let note = out.lines().find(|l| l.contains("are not shown")).expect("a cut note");
    insta::assert_snapshot!(note, @"> **260 of 400 resources are not shown** to keep this comment under 60000 characters. Run `evalform plan` locally to see the whole plan.");
}

#[test]
fn a_saved_plan_keeps_no_secret_and_reads_back() {
    let p = sample_plan();
    let saved = serde_json::to_string(&p).unwrap();
    assert!(!saved.contains("new-token") && !saved.contains("Bearer abc") && !saved.contains("old-token"));
    assert!(saved.contains("${env:SUPPORT_TOKEN}"), "the template is kept for re-interpolation");
    let back: crate::plan::Plan = serde_json::from_str(&saved).unwrap();
    assert_eq!(back.operations.len(), p.operations.len());
    assert_eq!(text(&back, false), text(&p, false), "a plan read back renders the same");
}

fn with_unmanaged(mut p: crate::plan::Plan) -> crate::plan::Plan {
    use crate::model::Address;
    use crate::plan::Unmanaged;
    p.unmanaged = vec![
        Unmanaged {
            address: Address::Evaluator { agent: 101, name: "Scratch".into() },
            remote_id: Some("205".into()),
            note: None,
        },
        Unmanaged {
            address: Address::Evaluator { agent: 101, name: "Made by hand".into() },
            remote_id: Some("206".into()),
            note: Some("prune leaves it".into()),
        },
        Unmanaged {
            address: Address::TestProfile { agent: 101, name: "Old caller".into() },
            remote_id: Some("56".into()),
            note: None,
        },
    ];
    p
}

#[test]
fn unmanaged_resources_are_listed_and_no_changes_says_of_what() {
    let empty = with_unmanaged(crate::plan::Plan::default());
    assert!(empty.is_empty(), "unmanaged resources are not changes");
    insta::assert_snapshot!(text(&empty, false), @r#"
    No changes to the managed resources. 2 evaluators and 1 test profile on the platform are not managed (listed below).

    Not managed (on the platform, declared by no manifest; never changed):
      ? cekura.agent[101].evaluator["Scratch"] (id 205)
      ? cekura.agent[101].evaluator["Made by hand"] (id 206): prune leaves it
      ? cekura.agent[101].test_profile["Old caller"] (id 56)
    "#);
    insta::assert_snapshot!(markdown(&empty), @r#"
    ### evalform plan

    No changes to the managed resources. 2 evaluators and 1 test profile on the platform are not managed (listed below).

    **Not managed (on the platform, declared by no manifest; never changed)**

    - `cekura.agent[101].evaluator["Scratch"] (id 205)`
    - `cekura.agent[101].evaluator["Made by hand"] (id 206): prune leaves it`
    - `cekura.agent[101].test_profile["Old caller"] (id 56)`
    "#);
    let doc = json(&empty);
    insta::assert_snapshot!(serde_json::to_string_pretty(&doc["unmanaged"]).unwrap(), @r#"
    [
      {
        "address": "cekura.agent[101].evaluator[\"Scratch\"]",
        "remote_id": "205",
        "note": null
      },
      {
        "address": "cekura.agent[101].evaluator[\"Made by hand\"]",
        "remote_id": "206",
        "note": "prune leaves it"
      },
      {
        "address": "cekura.agent[101].test_profile[\"Old caller\"]",
        "remote_id": "56",
        "note": null
      }
    ]
    "#);
    assert_eq!(doc["summary"]["unmanaged"], 3);
    // A plan with changes keeps the section too.
    let full = text(&with_unmanaged(sample_plan()), false);
    assert!(full.contains("\nNot managed (on the platform, declared by no manifest; never changed):\n  ? cekura.agent[101].evaluator[\"Scratch\"] (id 205)\n"), "{full}");
    let back: crate::plan::Plan = serde_json::from_str(&serde_json::to_string(&empty).unwrap()).unwrap();
    assert_eq!(back.unmanaged, empty.unmanaged, "saved plans keep the section");
}
