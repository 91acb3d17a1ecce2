//! Planner tests on plain values: routing, grouping, matching errors, and the property that running a plan on
//! the platform model reaches the desired state and leaves nothing to plan.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::model::{
    AgentState, Catalog, Evaluator, EvaluatorSpec, MetricRef, NamedRef, ProfileRef, PromptState, Script, SourceSpan,
    State, TestCase, TestProfile,
};

pub(crate) fn remote(id: u64, name: &str, f: impl FnOnce(&mut EvaluatorSpec)) -> Evaluator {
    let mut spec = EvaluatorSpec {
        folder: Some(String::new()),
        script: Some(Script::Text("Be polite.".into())),
        instruction_parts: None,
        expected_outcome: Some("Resolved.".into()),
        first_message: Some("Hi".into()),
        personality: Some(NamedRef::Id(7)),
        test_profile: None,
        metrics: Some([MetricRef::Id(501)].into()),
        tools: Some(crate::model::SmallSet::new()),
        tags: Some(crate::model::SmallSet::new()),
        language: Some("en".into()),
        max_duration: Some(300),
        phone_number: None,
    };
    f(&mut spec);
    Evaluator { id: Some(id), name: name.into(), spec, ignore_changes: BTreeSet::new(), source: None }
}

pub(crate) fn wanted(name: &str, f: impl FnOnce(&mut EvaluatorSpec)) -> Evaluator {
    let mut spec = EvaluatorSpec::default();
    f(&mut spec);
    Evaluator {
        id: None,
        name: name.into(),
        spec,
        ignore_changes: BTreeSet::new(),
        source: Some(SourceSpan { file: "suite.yaml".into(), line: 3, column: 5 }),
    }
}

pub(crate) fn world(agent: AgentState) -> State {
    let mut s = State::default();
    s.agents.insert(agent.agent, agent);
    s
}

pub(crate) fn agent(evaluators: Vec<Evaluator>) -> AgentState {
    // Remote evaluators of these tests were made by evalform (they carry its tag) unless a test says otherwise.
    let owned = evaluators.iter().filter_map(|e| e.id).collect();
    AgentState { agent: 12, project: Some(1376), evaluators, owned, ..AgentState::default() }
}

fn observed(state: State) -> Observed {
    Observed { state, catalogs: BTreeMap::new() }
}

fn write_calls(p: &Plan) -> usize {
    p.operations.len()
}

/// Plan, run on the model, plan again: the second plan must be empty.
fn converges(desired: &State, have: &State) -> Plan {
    let p = plan(desired, &observed(have.clone()), &PlanSettings::default()).unwrap();
    let after = simulate::apply(have, &p).unwrap_or_else(|e| panic!("{e}\n{p:#?}"));
    let again = plan(desired, &observed(after), &PlanSettings::default()).unwrap();
    assert!(again.is_empty(), "second plan not empty: {:#?}", again.changes);
    p
}

#[test]
fn a_thousand_evaluators_needing_a_metric_and_a_tail_take_two_calls() {
    let have: Vec<Evaluator> = (0..1000).map(|i| remote(1000 + i, &format!("E{i}"), |_| {})).collect();
    let want: Vec<Evaluator> = (0..1000)
        .map(|i| {
            wanted(&format!("E{i}"), |s| {
                s.metrics = Some([MetricRef::Id(501), MetricRef::Id(506)].into());
                s.script = Some(Script::Text("Be polite.\nAlways confirm the caller's name.".into()));
            })
        })
        .collect();
    let p = converges(&world(agent(want)), &world(agent(have)));
    assert_eq!(write_calls(&p), 2, "{:#?}", p.operations.iter().map(|o| o.touches.len()).collect::<Vec<_>>());
    for op in &p.operations {
        let Call::BulkUpdate(b) = &op.call else { panic!("{op:?}") };
        assert_eq!(b.scenarios.len(), 500);
        assert_eq!(b.metric_ids_to_add, [506].into());
        assert_eq!(b.append_instruction.as_ref().map(|t| t.expose()), Some("\nAlways confirm the caller's name."));
        assert_eq!(b.scope, BulkScope::Agent(12));
    }
}

#[test]
fn a_lone_tail_is_a_replacement_and_a_shared_one_an_append() {
    let have = vec![remote(1, "A", |_| {}), remote(2, "B", |_| {}), remote(3, "C", |_| {})];
    let tail = |s: &str| {
        let s = s.to_string();
        move |spec: &mut EvaluatorSpec| spec.script = Some(Script::Text(format!("Be polite.{s}").into()))
    };
    let want = vec![wanted("A", tail("\nShared.")), wanted("B", tail("\nShared.")), wanted("C", tail("\nOwn."))];
    let p = converges(&world(agent(want)), &world(agent(have)));
    let kinds: Vec<String> = p
        .operations
        .iter()
        .map(|o| match &o.call {
            Call::PatchEvaluator { evaluator, body } => format!("patch {evaluator:?} {:?}", body.instructions),
            Call::BulkUpdate(b) => format!("bulk {:?} {:?}", b.scenarios, b.append_instruction),
            other => format!("{other:?}"),
        })
        .collect();
    insta::assert_debug_snapshot!(kinds, @r#"
    [
        "patch Id(3) Some(\"Be polite.\\nOwn.\")",
        "bulk [Id(1), Id(2)] Some(\"\\nShared.\")",
    ]
    "#);
}

#[test]
fn a_changed_secret_leaves_no_trace_of_the_old_value_and_its_saved_plan_applies() {
    use crate::model::Text;
    let have = world(agent(vec![remote(1001, "A", |s| s.first_message = Some("Hi old-secret".into()))]));
    let want = world(agent(vec![wanted("A", |s| {
        s.first_message = Some(Text::sensitive("Hi new-secret", "Hi ${env:GREETING}"));
    })]));
    let p = plan(&want, &observed(have), &PlanSettings::default()).unwrap();
    let field = &p.changes[0].fields[0];
    let Some(FieldValue::Text(before)) = &field.before else { panic!("{field:?}") };
    assert_eq!(before.shown(), "(sensitive)");

    let json = serde_json::to_string(&p).unwrap();
    assert!(!json.contains("old-secret") && !json.contains("new-secret"), "{json}");
    let old_digest = crate::model::sha256_hex(b"Hi old-secret");
    assert!(!json.contains(&old_digest), "the old value's digest is in the plan: {json}");

    // The saved plan restores with the variable it was made with (it used to be refused: the old value was
    // stored under the new value's template, and never hashed like it).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.json");
    crate::apply::saved::SavedPlan::new(p, &[], &[], &[]).write(&path).unwrap();
    let env = |n: &str| (n == "GREETING").then(|| "new-secret".to_string());
    crate::apply::saved::SavedPlan::read(&path, &env).unwrap();
}

#[test]
fn a_sensitive_instruction_text_is_replaced_whole_never_appended_to() {
    use crate::model::Text;
    let have = world(agent((0..2).map(|i| remote(1000 + i, &format!("E{i}"), |_| {})).collect()));
    let want = world(agent(
        (0..2)
            .map(|i| {
                wanted(&format!("E{i}"), |s| {
                    s.script =
                        Some(Script::Text(Text::sensitive("Be polite.\nPIN 1234.", "Be polite.\nPIN ${env:PIN}.")));
                })
            })
            .collect(),
    ));
    let p = plan(&want, &observed(have), &PlanSettings::default()).unwrap();
    assert_eq!(p.operations.len(), 2, "{:#?}", p.operations);
    for op in &p.operations {
        assert!(matches!(op.call, Call::PatchEvaluator { .. }), "{:?}", op.call);
    }
}

#[test]
fn an_evaluator_that_needs_a_patch_takes_its_other_fields_along() {
    let have = vec![remote(1, "A", |_| {})];
    let want = vec![wanted("A", |s| {
        s.tags = Some(["smoke".to_string()].into());
        s.metrics = Some([MetricRef::Id(502)].into());
        s.personality = Some(NamedRef::Id(8));
        s.max_duration = Some(120);
    })];
    let p = converges(&world(agent(want)), &world(agent(have)));
    let calls: Vec<&Call> = p.operations.iter().map(|o| &o.call).collect();
    assert_eq!(calls.len(), 2, "{calls:#?}");
    let Call::PatchEvaluator { body, .. } = calls[0] else { panic!("{calls:?}") };
    assert_eq!((body.metrics.clone(), body.personality), (Some(vec![502]), Some(8)));
    let Call::BulkUpdate(b) = calls[1] else { panic!("{calls:?}") };
    assert_eq!((b.max_duration, b.metric_ids_to_add.len()), (Some(120), 0));
}

#[test]
fn creates_folders_parent_first_then_evaluator_then_what_create_cannot_set() {
    let want = vec![wanted("New", |s| {
        s.folder = Some("Sales.Inbound".into());
        s.personality = Some(NamedRef::Id(7));
        s.first_message = Some("Hello".into());
        s.language = Some("de".into());
        s.script = Some(Script::Text("Call about an order.".into()));
    })];
    let p = converges(&world(agent(want)), &world(agent(vec![])));
    let shown: Vec<String> = p.operations.iter().map(|o| format!("{:?} <- {:?}", o.call, o.depends_on)).collect();
    insta::assert_debug_snapshot!(shown, @r#"
    [
        "CreateFolder { project: 1376, name: \"Sales\", parent_path: None } <- []",
        "CreateFolder { project: 1376, name: \"Inbound\", parent_path: Some(\"Sales\") } <- [0]",
        "CreateEvaluator { agent: 12, body: EvaluatorBody { name: Some(\"New\"), personality: Some(7), scenario_type: Some(\"instruction\"), instructions: Some(\"Call about an order.\"), conditional_actions: None, expected_outcome_prompt: None, metrics: None, tags: Some([]), tool_ids: None, test_profile: None, phone_number: None, folder_path: Some(\"Sales.Inbound\") } } <- [1]",
        "BulkUpdate(BulkUpdate { scenarios: [Created(\"New\")], scope: Agent(12), metric_ids_to_add: {}, metric_ids_to_remove: {}, created_metrics_to_add: {}, personality: None, test_profile: None, append_instruction: None, first_message: Some(\"Hello\"), phone_number: None, folder_path: None, max_duration: None }) <- [2]",
        "SetLanguage { evaluator: Created(\"New\"), language: \"de\" } <- [2, 3]",
    ]
    "#);
}

#[test]
fn problems_are_reported_together_with_places_and_hints() {
    let have = vec![remote(101, "Dup", |_| {}), remote(102, "Dup", |_| {})];
    let mut pinned = wanted("Pinned", |s| s.personality = Some(NamedRef::Id(7)));
    pinned.id = Some(999);
    let want = vec![
        wanted("Dup", |_| {}),
        pinned,
        wanted("No personality", |s| s.tags = Some(crate::model::SmallSet::new())),
        wanted("Bad metric", |s| {
            s.personality = Some(NamedRef::Id(7));
            s.metrics = Some([MetricRef::Slug("latncy".into())].into());
        }),
    ];
    let mut obs = observed(world(agent(have)));
    obs.catalogs.insert(
        12,
        Catalog {
            metrics: vec![crate::model::MetricInfo { id: 5, slug: Some("latency".into()), name: "Latency".into() }],
            personalities: vec![],
        },
    );
    let err = plan(&world(agent(want)), &obs, &PlanSettings::default()).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @r#"
    cannot plan: 4 problems
      suite.yaml:3:5: cekura.agent[12].evaluator["Bad metric"]: unknown metric `latncy` (hint: did you mean `latency`?)
      suite.yaml:3:5: cekura.agent[12].evaluator["Pinned"]: `id: 999` does not exist on the platform for this agent (hint: remove the pin to create it, or fix the id)
      suite.yaml:3:5: cekura.agent[12].evaluator["Dup"]: 2 evaluators with this name exist on the platform (ids 101, 102) (hint: pin the one you mean with `id: 101`)
      suite.yaml:3:5: cekura.agent[12].evaluator["No personality"]: cannot be created without a personality (the platform requires one) (hint: set `personality`, or put it in `defaults`)
    "#);
}

#[test]
fn a_pinned_duplicate_is_fine_and_a_rename_is_a_name_change() {
    let have = vec![remote(101, "Dup", |_| {}), remote(102, "Dup", |_| {})];
    let mut w = wanted("Renamed", |_| {});
    w.id = Some(102);
    let p = converges(&world(agent(vec![w])), &world(agent(have)));
    assert_eq!(p.changes.len(), 1);
    assert_eq!(p.changes[0].fields[0].field, "name");
}

#[test]
fn namesakes_pinned_by_id_are_each_managed() {
    // What `import` writes for two evaluators (and two test profiles) that share a name: every copy pinned.
    let have_profiles = vec![
        TestProfile { id: Some(303), name: "Twin".into(), information: None, source: None },
        TestProfile { id: Some(304), name: "Twin".into(), information: None, source: None },
    ];
    let have = vec![
        remote(101, "Dup", |s| s.test_profile = Some(ProfileRef::Id(303))),
        remote(102, "Dup", |s| s.test_profile = Some(ProfileRef::Id(304))),
    ];
    let pinned = |id: u64, profile: u64, tags: &[&str]| {
        let mut w = wanted("Dup", |s| {
            s.test_profile = Some(ProfileRef::Id(profile));
            s.tags = Some(tags.iter().map(|t| t.to_string()).collect());
        });
        w.id = Some(id);
        w
    };
    let with = |evaluators: Vec<Evaluator>, profiles: &[TestProfile]| {
        let mut a = agent(evaluators);
        a.test_profiles = profiles.to_vec();
        a.prune = true;
        world(a)
    };
    let have_world = with(have, &have_profiles);
    let mut want_profiles = have_profiles.clone();
    for p in &mut want_profiles {
        p.source = Some(SourceSpan { file: "_agent.yaml".into(), line: 5, column: 7 });
    }

    // Unchanged: no error, nothing to do, nothing pruned.
    let same = with(vec![pinned(101, 303, &[]), pinned(102, 304, &[])], &want_profiles);
    let p = plan(&same, &observed(have_world.clone()), &PlanSettings::default()).unwrap();
    assert!(p.is_empty(), "{:#?}", p.changes);

    // A change to one copy touches that copy only.
    let one = with(vec![pinned(101, 303, &[]), pinned(102, 304, &["smoke"])], &want_profiles);
    let p = converges(&one, &have_world);
    assert_eq!(p.changes.len(), 1);
    assert_eq!(p.changes[0].remote_id.as_deref(), Some("102"));
}

#[test]
fn prune_deletes_only_evaluators_evalform_made_or_adopted_and_no_test_profile() {
    let mut have =
        agent(vec![remote(1, "Keep", |_| {}), remote(2, "Old", |s| s.test_profile = Some(ProfileRef::Id(55)))]);
    have.test_profiles.push(TestProfile { id: Some(55), name: "Gone".into(), information: None, source: None });
    let mut want = agent(vec![wanted("Keep", |_| {})]);
    want.prune = true;
    let p = converges(&world(want.clone()), &world(have.clone()));
    let shown: Vec<String> = p.operations.iter().map(|o| format!("{:?} <- {:?}", o.call, o.depends_on)).collect();
    insta::assert_debug_snapshot!(shown, @r#"
    [
        "DeleteEvaluators { agent: 12, ids: [2] } <- []",
    ]
    "#);
    // An evaluator a person made (no ownership tag) is listed, never deleted; so is every test profile.
    let mut have2 = have.clone();
    have2.evaluators.push(remote(3, "Made by hand", |_| {}));
    let p = plan(&world(want.clone()), &observed(world(have2)), &PlanSettings::default()).unwrap();
    assert!(!p.operations.iter().any(|o| format!("{:?}", o.call).contains("ids: [2, 3]")));
    let listed: Vec<String> =
        p.unmanaged.iter().map(|u| format!("{}: {}", u.address, u.note.clone().unwrap_or_default())).collect();
    insta::assert_debug_snapshot!(listed, @r#"
        [
            "cekura.agent[12].evaluator[\"Made by hand\"]: prune leaves it: evalform did not create or adopt it (no tag \"managed-by:evalform\")",
            "cekura.agent[12].test_profile[\"Gone\"]: prune leaves test profiles: the platform has no field to mark one as evalform's",
        ]
        "#);
    // A declared evaluator without the tag is adopted under prune: one call adds the tag.
    let mut untagged = have.clone();
    untagged.owned.remove(&1);
    let p = converges(&world(want.clone()), &world(untagged));
    let shown: Vec<String> = p.operations.iter().map(|o| format!("{:?}", o.call)).collect();
    insta::assert_debug_snapshot!(shown, @r#"
        [
            "AdoptEvaluator { id: 1 }",
            "DeleteEvaluators { agent: 12, ids: [2] }",
        ]
        "#);
    want.prune = false;
    assert!(plan(&world(want), &observed(world(have)), &PlanSettings::default()).unwrap().is_empty());
}

#[test]
fn a_new_test_profile_is_created_before_the_evaluator_that_uses_it() {
    let mut want = agent(vec![wanted("A", |s| s.test_profile = Some(ProfileRef::Name("Premium".into())))]);
    want.test_profiles.push(TestProfile {
        id: None,
        name: "Premium".into(),
        information: Some(crate::model::Information::Flat([("k".to_string(), "v".into())].into())),
        source: None,
    });
    let p = converges(&world(want), &world(agent(vec![remote(1, "A", |_| {})])));
    let shown: Vec<String> = p.operations.iter().map(|o| format!("{:?} <- {:?}", o.call, o.depends_on)).collect();
    insta::assert_debug_snapshot!(shown, @r#"
    [
        "CreateTestProfile { agent: 12, name: \"Premium\", information: Flat({\"k\": \"v\"}) } <- []",
        "BulkUpdate(BulkUpdate { scenarios: [Id(1)], scope: Agent(12), metric_ids_to_add: {}, metric_ids_to_remove: {}, created_metrics_to_add: {}, personality: None, test_profile: Some(Created(\"Premium\")), append_instruction: None, first_message: None, phone_number: None, folder_path: None, max_duration: None }) <- [0]",
    ]
    "#);
}

#[test]
fn targets_limit_the_plan_and_pull_in_dependencies_with_a_note() {
    let have = vec![remote(1, "A", |_| {}), remote(2, "B", |_| {})];
    let want = vec![
        wanted("A", |s| s.folder = Some("Refunds".into())),
        wanted("B", |s| s.tags = Some(["x".to_string()].into())),
    ];
    let settings = PlanSettings { targets: vec!["A".into()], ..PlanSettings::default() };
    let p = plan(&world(agent(want)), &observed(world(agent(have))), &settings).unwrap();
    let addresses: Vec<String> = p.changes.iter().map(|c| c.address.to_string()).collect();
    assert_eq!(addresses, [r#"cekura.agent[12].folder["Refunds"]"#, r#"cekura.agent[12].evaluator["A"]"#]);
    let notes: Vec<&str> = p.notes.iter().map(|n| n.message.as_str()).collect();
    insta::assert_debug_snapshot!(notes, @r#"
    [
        "created although not selected: evaluator \"A\" is in it",
        "This plan covers only the resources selected by --target/--exclude; others were not compared.",
    ]
    "#);
}

#[test]
fn tela_cases_create_in_one_call_patch_changed_fields_and_prune_leaves_what_evalform_did_not_make() {
    let case = |id: Option<&str>, title: &str, expected: &str| TestCase {
        id: id.map(str::to_string),
        title: title.into(),
        messages: Some(vec![crate::model::Message { role: "user".into(), content: "Where is my order?".into() }]),
        variables: Some([("name".to_string(), "John".into())].into()),
        expected_output: Some(expected.into()),
        source: None,
    };
    let mut have = State::default();
    have.prompts.insert(
        "P".into(),
        PromptState {
            prompt: "P".into(),
            owned: Default::default(),
            prune: false,
            prompt_version: None,
            test_cases: vec![case(Some("u1"), "Late", "Sorry."), case(Some("u2"), "Stale", "x")],
        },
    );
    let mut want = State::default();
    want.prompts.insert(
        "P".into(),
        PromptState {
            prompt: "P".into(),
            owned: Default::default(),
            prune: true,
            prompt_version: None,
            test_cases: vec![
                case(None, "Late", "Sorry about that."),
                case(None, "New 1", "a"),
                case(None, "New 2", "b"),
            ],
        },
    );
    let p = converges(&want, &have);
    let shown: Vec<String> = p.operations.iter().map(|o| format!("{:?}", o.call)).collect();
    insta::assert_debug_snapshot!((shown, &p.unmanaged[0].note), @r#"
    (
        [
            "PatchTestCase { id: \"u1\", body: TestCaseBody { title: None, messages: None, variables: None, expected_output: Some(\"Sorry about that.\") } }",
            "CreateTestCases { prompt: \"P\", cases: [TestCaseBody { title: Some(\"New 1\"), messages: Some([Message { role: \"user\", content: \"Where is my order?\" }]), variables: Some({\"name\": \"John\"}), expected_output: Some(\"a\") }, TestCaseBody { title: Some(\"New 2\"), messages: Some([Message { role: \"user\", content: \"Where is my order?\" }]), variables: Some({\"name\": \"John\"}), expected_output: Some(\"b\") }] }",
        ],
        Some(
            "prune leaves it: evalform did not create it (no managed_by: evalform in its metadata)",
        ),
    )
    "#);
}

// ---- the property: plan, run on the platform model, plan again ----

const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];
const TEXTS: [&str; 5] = ["", "Base.", "Base.\nTail one.", "Base.\nTail two.", "Other."];
const FOLDERS: [&str; 4] = ["", "Sales", "Sales.Inbound", "Support.Tier1"];

fn arb_remote_spec() -> impl Strategy<Value = EvaluatorSpec> {
    (0..3usize, 0..3usize, prop::collection::btree_set(500u64..504, 0..3), 0..2u64, any::<bool>(), 0..2u32, 0..2u64)
        .prop_map(|(text, folder, metrics, personality, tagged, dur, phone)| EvaluatorSpec {
            folder: Some(FOLDERS[folder.min(1)].into()),
            script: Some(Script::Text(TEXTS[text].into())),
            instruction_parts: None,
            expected_outcome: Some("ok".into()),
            first_message: Some("Hi".into()),
            personality: Some(NamedRef::Id(7 + personality)),
            test_profile: Some(ProfileRef::Id(55)),
            metrics: Some(metrics.into_iter().map(MetricRef::Id).collect()),
            tools: Some(crate::model::SmallSet::new()),
            tags: Some(if tagged { ["t".to_string()].into() } else { crate::model::SmallSet::new() }),
            language: Some("en".into()),
            max_duration: Some(300 + 60 * dur),
            phone_number: Some(40 + phone),
        })
}

fn flow(action: &str) -> Script {
    Script::Flow(crate::model::ConditionalActions {
        role: "A caller".into(),
        conditions: vec![crate::model::Condition {
            id: 0,
            condition: crate::model::ConditionTrigger::Text("FIRST_MESSAGE".into()),
            action: action.into(),
            kind: crate::model::ConditionKind::Standard,
            fixed_message: true,
        }],
    })
}

fn arb_desired_spec() -> impl Strategy<Value = (EvaluatorSpec, BTreeSet<crate::model::Field>)> {
    use crate::model::Field;
    (
        (
            prop::option::of(0..4usize),
            prop::option::of(1..7usize),
            prop::option::of(prop::collection::btree_set(500u64..504, 0..3)),
            prop::option::of(0..2u64),
            prop::option::of(any::<bool>()),
            prop::option::of(0..2u32),
        ),
        (prop::option::of(0..2u64), prop::option::of(0..3usize), prop::option::of(any::<bool>())),
        (
            prop::option::of((0..2usize, any::<bool>())),
            prop::option::of(any::<bool>()),
            prop::option::of(0..2usize),
            prop::collection::btree_set(
                prop::sample::select(vec![Field::FirstMessage, Field::Metrics, Field::Instructions]),
                0..2,
            ),
        ),
    )
        .prop_map(
            |(
                (folder, text, metrics, personality, tagged, dur),
                (phone, profile, lang),
                (first, tools, expected, ignore),
            )| {
                let spec = EvaluatorSpec {
                    folder: folder.map(|f| FOLDERS[f].into()),
                    script: text.map(|t| match t {
                        5 => flow("Hello."),
                        6 => flow("Good day."),
                        t => Script::Text(TEXTS[t].into()),
                    }),
                    personality: Some(NamedRef::Id(7 + personality.unwrap_or(0))),
                    metrics: metrics.map(|m| m.into_iter().map(MetricRef::Id).collect()),
                    tags: tagged.map(|t| if t { ["t".to_string()].into() } else { crate::model::SmallSet::new() }),
                    max_duration: dur.map(|d| 300 + 60 * d),
                    phone_number: phone.map(|p| 40 + p),
                    test_profile: profile.map(|p| match p {
                        0 => ProfileRef::Id(55),
                        1 => ProfileRef::Id(56),
                        _ => ProfileRef::Name("New profile".into()),
                    }),
                    language: lang.map(|l| if l { "en".into() } else { "de".into() }),
                    first_message: first.map(|(v, sensitive)| {
                        let v = ["Hi", "Hello there"][v];
                        if sensitive {
                            crate::model::Text::sensitive(v, "${env:GREETING}")
                        } else {
                            v.into()
                        }
                    }),
                    tools: tools.map(|t| {
                        if t {
                            ["TOOL_END_CALL".to_string()].into()
                        } else {
                            crate::model::SmallSet::new()
                        }
                    }),
                    expected_outcome: expected.map(|e| ["ok", "The agent helps."][e].into()),
                    ..EvaluatorSpec::default()
                };
                (spec, ignore)
            },
        )
}

fn arb_agent(agent_id: u64, desired: bool) -> impl Strategy<Value = AgentState> {
    let specs = if desired {
        arb_desired_spec().boxed()
    } else {
        (arb_remote_spec(), prop::bool::weighted(0.2))
            .prop_map(|(mut spec, flowed)| {
                if flowed {
                    spec.script = Some(flow("Hello."));
                }
                (spec, BTreeSet::new())
            })
            .boxed()
    };
    (prop::collection::vec(prop::option::of(specs), NAMES.len()), any::<bool>(), any::<bool>()).prop_map(
        move |(specs, prune, pin)| {
            let evaluators: Vec<Evaluator> = specs
                .into_iter()
                .enumerate()
                .filter_map(|(i, spec)| {
                    spec.map(|(mut spec, ignore_changes)| {
                        // Test profile ids are per agent: 55, 56 in agent 1; 65, 66 in agent 2.
                        if let Some(ProfileRef::Id(p)) = &mut spec.test_profile {
                            *p += 10 * (agent_id - 1);
                        }
                        // Sometimes the last desired evaluator pins the remote "a": a rename.
                        let id = match (desired, pin && i == NAMES.len() - 1) {
                            (false, _) => Some(agent_id * 100 + i as u64),
                            (true, true) => Some(agent_id * 100),
                            (true, false) => None,
                        };
                        Evaluator { id, name: NAMES[i].into(), spec, ignore_changes, source: None }
                    })
                })
                .collect();
            let test_profiles = if desired {
                vec![TestProfile { id: None, name: "New profile".into(), information: None, source: None }]
            } else {
                vec![
                    TestProfile { id: Some(45 + 10 * agent_id), name: "P55".into(), information: None, source: None },
                    TestProfile { id: Some(46 + 10 * agent_id), name: "P56".into(), information: None, source: None },
                ]
            };
            // Remote evaluators here were all made by evalform (prune may delete them); hand-made ones are
            // tested in `prune_deletes_only_evaluators_evalform_made_or_adopted_and_no_test_profile`.
            let owned: BTreeSet<u64> =
                if desired { BTreeSet::new() } else { evaluators.iter().filter_map(|e| e.id).collect() };
            AgentState {
                agent: agent_id,
                project: Some(9),
                prune: desired && prune,
                folders: if desired { BTreeSet::new() } else { ["Sales".to_string()].into() },
                test_profiles,
                evaluators,
                owned,
                ..AgentState::default()
            }
        },
    )
}

fn arb_state(desired: bool) -> impl Strategy<Value = State> {
    (arb_agent(1, desired), arb_agent(2, desired)).prop_map(|(a, b)| {
        let mut s = State::default();
        s.agents.insert(1, a);
        s.agents.insert(2, b);
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn running_a_plan_reaches_the_desired_state_and_replanning_is_empty(
        desired in arb_state(true),
        have in arb_state(false),
        batch_size in 1usize..4,
    ) {
        let settings = PlanSettings { batch_size, ..PlanSettings::default() };
        let p = match plan(&desired, &observed(have.clone()), &settings) {
            Ok(p) => p,
            // The pin generator may point at a remote evaluator that was not generated.
            Err(PlanErrors(errs)) => {
                prop_assert!(errs.iter().all(|e| matches!(e, PlanError::PinNotFound { .. })), "{errs:?}");
                return Ok(());
            }
        };
        let after = simulate::apply(&have, &p).map_err(|e| TestCaseError::fail(format!("{e}\n{p:#?}")))?;
        // Every desired evaluator exists in its own agent, with every managed field as desired.
        for (id, want) in &desired.agents {
            for w in &want.evaluators {
                let got = after.agents[id].evaluators.iter().find(|e| e.name == w.name && w.id.is_none_or(|pin| e.id == Some(pin)));
                let got = got.ok_or_else(|| TestCaseError::fail(format!("{} missing from agent {id}", w.name)))?;
                let mut w = w.clone();
                let address = crate::model::Address::Evaluator { agent: *id, name: w.name.clone() };
                if p.changes.iter().any(|c| c.address == address && c.action == Action::Create) {
                    w.ignore_changes.clear(); // a create sets ignored fields too; an update leaves them alone
                }
                let d = diff::diff_evaluator(&w, Some(got));
                // A profile created by name is compared by id on the replan below.
                prop_assert!(d.changes.iter().all(|c| c.field == "test_profile"), "{:?}", d.changes);
            }
            if want.prune {
                prop_assert_eq!(after.agents[id].evaluators.len(), want.evaluators.len());
            }
        }
        let again = plan(&desired, &observed(after), &settings).unwrap();
        prop_assert!(again.is_empty(), "second plan: {:#?}", again.changes);
    }
}

fn arb_cases(desired: bool) -> impl Strategy<Value = Vec<TestCase>> {
    prop::collection::vec(
        prop::option::of((
            prop::option::of(prop::collection::vec((0..2usize, 0..3usize), 0..3)),
            prop::option::of(prop::collection::btree_map(0..3usize, 0..2usize, 0..3)),
            prop::option::of(0..2usize),
        )),
        4,
    )
    .prop_map(move |slots| {
        slots
            .into_iter()
            .enumerate()
            .filter_map(|(i, slot)| {
                slot.map(|(messages, variables, expected)| TestCase {
                    id: (!desired).then(|| format!("uuid-{i}")),
                    title: format!("Case {i}"),
                    messages: messages
                        .map(|m| {
                            m.into_iter()
                                .map(|(role, text)| crate::model::Message {
                                    role: ["user", "assistant"][role].into(),
                                    content: ["Hi", "Where is it?", "Thanks"][text].into(),
                                })
                                .collect()
                        })
                        .or((!desired).then(Vec::new)),
                    variables: variables
                        .map(|v| v.into_iter().map(|(k, v)| (format!("k{k}"), ["a", "b"][v].into())).collect())
                        .or((!desired).then(BTreeMap::new)),
                    expected_output: expected.map(|e| ["Sure.", "Sorry."][e].into()).or((!desired).then(|| "".into())),
                    source: None,
                })
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn tela_plans_converge(want in arb_cases(true), have in arb_cases(false), prune in any::<bool>()) {
        let prompt = |cases, prune| {
            let mut s = State::default();
            s.prompts.insert("P".into(), PromptState { prompt: "P".into(), prune, test_cases: cases, ..PromptState::default() });
            s
        };
        let (desired, observed_state) = (prompt(want.clone(), prune), prompt(have.clone(), false));
        let p = plan(&desired, &observed(observed_state.clone()), &PlanSettings::default()).unwrap();
        let creates = p.operations.iter().filter(|o| matches!(o.call, Call::CreateTestCases { .. })).count();
        prop_assert!(creates <= 1, "one create call per prompt, got {}", creates);
        let after = simulate::apply(&observed_state, &p).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let again = plan(&desired, &observed(after), &PlanSettings::default()).unwrap();
        prop_assert!(again.is_empty(), "{:#?}", again.changes);
        let orphans = have.iter().filter(|h| !want.iter().any(|w| w.title == h.title)).count();
        prop_assert_eq!(p.unmanaged.len(), if prune { orphans } else { 0 });
    }
}

#[test]
fn a_plan_without_fingerprints_differs_only_in_them() {
    let want = vec![
        wanted("A", |s| s.script = Some(Script::Text("New.".into()))),
        wanted("B", |s| s.personality = Some(NamedRef::Id(7))),
    ];
    let have = vec![remote(1, "A", |_| {}), remote(2, "C", |_| {})];
    let (desired, observed) = (world(agent(want)), observed(world(agent(have))));
    let full = plan(&desired, &observed, &PlanSettings::default()).unwrap();
    assert!(!full.fingerprints.is_empty() && !full.changes.is_empty());
    let lean = plan(&desired, &observed, &PlanSettings { fingerprints: false, ..PlanSettings::default() }).unwrap();
    assert!(lean.fingerprints.is_empty());
    assert_eq!(Plan { fingerprints: full.fingerprints.clone(), ..lean }, full);
}

#[test]
fn references_by_name_are_compared_as_the_ids_they_resolve_to() {
    let catalog = Catalog {
        metrics: vec![crate::model::MetricInfo { id: 501, slug: Some("latency".into()), name: "Latency".into() }],
        personalities: vec![crate::model::PersonalityInfo { id: 7, name: "Calm caller".into() }],
    };
    let by_name = |s: &mut EvaluatorSpec| {
        s.personality = Some(NamedRef::Name("Calm caller".into()));
        s.metrics = Some([MetricRef::Slug("latency".into())].into());
        s.test_profile = Some(ProfileRef::Name("Premium".into()));
    };
    let profile = TestProfile { id: Some(55), name: "Premium".into(), information: Default::default(), source: None };
    let mut want = agent(vec![wanted("A", by_name)]);
    want.test_profiles = vec![TestProfile { id: None, ..profile.clone() }];
    let have_with = |profile_id: u64, personality: u64| {
        let mut have = agent(vec![remote(1, "A", |s| {
            s.personality = Some(NamedRef::Id(personality));
            s.test_profile = Some(ProfileRef::Id(profile_id));
        })]);
        have.test_profiles = vec![profile.clone()];
        Observed { state: world(have), catalogs: BTreeMap::from([(12, catalog.clone())]) }
    };
    let settings = PlanSettings::default();
    assert!(plan(&world(want.clone()), &have_with(55, 7), &settings).unwrap().is_empty());
    let p = plan(&world(want), &have_with(56, 8), &settings).unwrap();
    let fields: Vec<String> =
        p.changes[0].fields.iter().map(|f| format!("{}: {:?} -> {:?}", f.field, f.before, f.after)).collect();
    insta::assert_debug_snapshot!(fields, @r#"
    [
        "personality: Some(Number(8)) -> Some(Number(7))",
        "test_profile: Some(Number(56)) -> Some(Number(55))",
    ]
    "#);
}
