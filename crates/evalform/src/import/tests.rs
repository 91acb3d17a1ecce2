//! Import of a small but varied agent: snapshots of every file, and a stand-in reading of the files back (defaults,
//! suffix, references by name and slug) that must give the observed state again.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::model::{Message, MetricInfo, PersonalityInfo};

fn text(s: &str) -> Text {
    Text::new(s)
}

fn catalog() -> Catalog {
    Catalog {
        metrics: vec![
            MetricInfo { id: 501, slug: Some("call_success".into()), name: "Call success".into() },
            MetricInfo { id: 502, slug: Some("appointment_booked".into()), name: "Appointment booked".into() },
            MetricInfo { id: 508, slug: None, name: "Custom, no slug".into() },
        ],
        personalities: vec![
            PersonalityInfo { id: 7, name: "Normal Male".into() },
            PersonalityInfo { id: 9, name: "Impatient Caller".into() },
        ],
    }
}

fn phones() -> BTreeMap<u64, String> {
    BTreeMap::from([(44, "+14155550144".to_string()), (45, "+14155550145".to_string())])
}

const SUFFIX: &str = "\nAlways confirm the caller's name before ending.";

#[allow(clippy::too_many_arguments)]
fn ev(
    id: u64,
    name: &str,
    folder: &str,
    script: Script,
    personality: u64,
    metrics: &[u64],
    tags: &[&str],
) -> Evaluator {
    Evaluator {
        id: Some(id),
        name: name.into(),
        spec: EvaluatorSpec {
            folder: Some(folder.into()),
            script: Some(script),
            instruction_parts: None,
            expected_outcome: Some(text("The agent helps.")),
            first_message: Some(text("")),
            personality: Some(NamedRef::Id(personality)),
            test_profile: None,
            metrics: Some(metrics.iter().map(|m| MetricRef::Id(*m)).collect()),
            tools: Some(crate::model::SmallSet::from(["TOOL_END_CALL".to_string()])),
            tags: Some(tags.iter().map(|t| t.to_string()).collect()),
            language: Some("en".into()),
            max_duration: Some(300),
            phone_number: Some(44),
        },
        ignore_changes: BTreeSet::new(),
        source: None,
    }
}

use crate::model::EvaluatorSpec;

fn flow(role: &str, conditions: Vec<Condition>) -> Script {
    Script::Flow(ConditionalActions { role: text(role), conditions })
}

fn cond(id: u64, trigger: ConditionTrigger, action: &str, kind: ConditionKind, fixed: bool) -> Condition {
    Condition { id, condition: trigger, action: text(action), kind, fixed_message: fixed }
}

fn agent() -> AgentState {
    let mut evaluators = vec![
        ev(
            101,
            "Order status inquiry",
            "Sales.Inbound",
            Script::Text(text(&format!("You are a customer calling about order 12345.\n\nAsk when it ships.{SUFFIX}"))),
            7,
            &[501, 502, 508],
            &["smoke", "orders"],
        ),
        ev(
            102,
            "Remboursement: commande «12»",
            "Sales.Inbound.EU",
            Script::Text(text(&format!("Vous appelez pour un remboursement.\n  - poli\n  - bref{SUFFIX}"))),
            7,
            &[501],
            &["fr"],
        ),
        ev(103, "Upsell", "Sales", Script::Text(text("Ask about the premium plan.\nyes: no")), 7, &[], &[]),
        ev(
            201,
            "Book a cleaning",
            "Support",
            flow(
                "A patient booking a dental cleaning",
                vec![
                    cond(
                        0,
                        ConditionTrigger::Text(text("FIRST_MESSAGE")),
                        "Hi, I'd like to book a cleaning.",
                        ConditionKind::Standard,
                        true,
                    ),
                    cond(
                        1,
                        ConditionTrigger::Text(text("The agent confirms the booking")),
                        "Thanks! <endcall />",
                        ConditionKind::Standard,
                        false,
                    ),
                    cond(
                        2,
                        ConditionTrigger::Followup(1),
                        "Say goodbye.\nThen hang up.",
                        ConditionKind::ActionFollowup,
                        false,
                    ),
                    cond(
                        3,
                        ConditionTrigger::Text(text("42")),
                        "A trigger that looks like a number.",
                        ConditionKind::ActionFollowup,
                        false,
                    ),
                ],
            ),
            9,
            &[],
            &[],
        ),
        ev(301, "Duplicate", "", Script::Text(text("  Starts with blanks.\nSecond line.")), 7, &[501], &["no"]),
        ev(302, "Duplicate", "", Script::Text(text("One line only.")), 7, &[501], &["no"]),
        ev(303, "yes", "", Script::Text(text("#not a comment\n- not a list")), 7, &[501], &["no"]),
    ];
    evaluators[0].spec.test_profile = Some(ProfileRef::Id(11));
    evaluators[1].spec.test_profile = Some(ProfileRef::Id(13));
    evaluators[1].spec.first_message = Some(text("Bonjour !"));
    evaluators[2].spec.phone_number = Some(45);
    evaluators[3].spec.test_profile = Some(ProfileRef::Id(12));
    // The fetcher's order is not the file order.
    evaluators.reverse();
    AgentState {
        agent: 12,
        project: Some(1376),
        prune: false,
        folders: ["Sales", "Sales.Inbound", "Sales.Inbound.EU", "Support", "Empty"].map(String::from).into(),
        test_profiles: vec![
            TestProfile {
                id: Some(11),
                name: "Premium caller".into(),
                information: Some(Information::Sectioned {
                    main_agent_variables: BTreeMap::from([
                        ("user_id".into(), text("U-42")),
                        ("pin".into(), text("0042")),
                    ]),
                    testing_agent_variables: BTreeMap::from([("customer name".into(), text("John Doe"))]),
                }),
                source: None,
            },
            TestProfile {
                id: Some(12),
                name: "Legacy".into(),
                information: Some(Information::Flat(BTreeMap::from([("account".into(), text("true"))]))),
                source: None,
            },
            TestProfile { id: Some(13), name: "Twin".into(), information: None, source: None },
            TestProfile {
                id: Some(14),
                name: "Twin".into(),
                information: Some(Information::Sectioned {
                    main_agent_variables: BTreeMap::new(),
                    testing_agent_variables: BTreeMap::new(),
                }),
                source: None,
            },
        ],
        evaluators,
        ..AgentState::default()
    }
}

fn render() -> Vec<ImportedFile> {
    let (agent, catalog, phones) = (agent(), catalog(), phones());
    render_agent(&ImportInput { agent: &agent, catalog: &catalog, phone_numbers: &phones })
}

#[test]
fn files_of_a_varied_agent() {
    let files = render();
    let paths: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
    assert_eq!(paths, ["agent-12/_agent.yaml", "agent-12/_root.yaml", "agent-12/sales.yaml", "agent-12/support.yaml"]);
    for f in &files {
        insta::assert_snapshot!(f.path.display().to_string().replace('/', "__"), f.contents);
    }
}

#[test]
fn same_state_same_bytes() {
    let a = render();
    let (mut agent, catalog, phones) = (agent(), catalog(), phones());
    agent.evaluators.rotate_left(3);
    agent.test_profiles.reverse();
    let b = render_agent(&ImportInput { agent: &agent, catalog: &catalog, phone_numbers: &phones });
    assert_eq!(a, b);
}

/// Reads the written files back into an [`AgentState`] the way the manifest format defines them (defaults,
/// suffix, references by name and slug, `id` pins) and resolves identities against `observed` as the planner
/// would: a stand-in for the loader, which lives on another branch. Import is right when this gives `observed`.
fn read_back(files: &[ImportedFile], catalog: &Catalog, observed: &AgentState) -> AgentState {
    use serde_yaml::Value;
    let docs: Vec<Value> = files.iter().map(|f| serde_yaml::from_str(&f.contents).unwrap()).collect();
    let agent_doc = &docs[0]["cekura"];
    assert_eq!(files[0].path.file_name().unwrap(), "_agent.yaml");
    let str_of = |v: &Value| v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}")).to_string();
    let seq = |v: Option<&Value>| v.and_then(Value::as_sequence).cloned().unwrap_or_default();
    let vars = |v: &Value| -> BTreeMap<String, Text> {
        v.as_mapping().unwrap().iter().map(|(k, v)| (str_of(k), Text::new(str_of(v)))).collect()
    };
    // Identity as the planner sees it: the `id` pin, else the one observed resource of that name.
    let identify = |name: &str, pin: Option<&Value>, candidates: Vec<(Option<u64>, &str)>| -> Option<u64> {
        match pin {
            Some(id) => Some(id.as_u64().unwrap()),
            None => {
                let matching: Vec<_> = candidates.iter().filter(|(_, n)| *n == name).collect();
                assert_eq!(matching.len(), 1, "{name} must be unique when not pinned");
                matching[0].0
            }
        }
    };

    let mut test_profiles: Vec<TestProfile> = seq(agent_doc.get("test_profiles"))
        .iter()
        .map(|p| {
            let name = str_of(&p["name"]);
            let candidates = observed.test_profiles.iter().map(|o| (o.id, o.name.as_str())).collect();
            let information = match p.get("information") {
                Some(flat) => Some(Information::Flat(vars(flat))),
                None => p.get("main_agent_variables").map(|main| Information::Sectioned {
                    main_agent_variables: vars(main),
                    testing_agent_variables: vars(&p["testing_agent_variables"]),
                }),
            };
            TestProfile { id: identify(&name, p.get("id"), candidates), name, information, source: None }
        })
        .collect();
    let profile_by_name = |name: &str| -> u64 {
        let found: Vec<_> = test_profiles.iter().filter(|p| p.name == name).collect();
        assert_eq!(found.len(), 1, "test profile reference {name} must be unique");
        found[0].id.unwrap()
    };

    let mut evaluators = Vec::new();
    for doc in &docs[1..] {
        let cekura = &doc["cekura"];
        assert_eq!(cekura["agent"].as_u64(), Some(observed.agent));
        assert!(cekura.get("folders").is_none() && cekura.get("test_profiles").is_none());
        let defaults = cekura.get("defaults").cloned().unwrap_or(Value::Mapping(Default::default()));
        for e in seq(cekura.get("evaluators")) {
            let get = |k: &str| e.get(k).or_else(|| defaults.get(k)).cloned();
            let name = str_of(&e["name"]);
            let script = match get("type").map(|t| str_of(&t)).as_deref() {
                Some("conditional_actions") => {
                    let ca = get("conditional_actions").unwrap();
                    let conditions = seq(ca.get("conditions"))
                        .iter()
                        .map(|c| {
                            let condition = match &c["condition"] {
                                Value::Number(n) => ConditionTrigger::Followup(n.as_u64().unwrap()),
                                v => ConditionTrigger::Text(Text::new(str_of(v))),
                            };
                            let kind = match (c.get("type").map(str_of).as_deref(), &condition) {
                                (Some("standard"), _) | (None, ConditionTrigger::Text(_)) => ConditionKind::Standard,
                                _ => ConditionKind::ActionFollowup,
                            };
                            Condition {
                                id: c["id"].as_u64().unwrap(),
                                condition,
                                action: Text::new(str_of(&c["action"])),
                                kind,
                                fixed_message: c.get("fixed_message").and_then(Value::as_bool).unwrap_or(false),
                            }
                        })
                        .collect();
                    Script::Flow(ConditionalActions { role: Text::new(str_of(&ca["role"])), conditions })
                }
                None => {
                    let body = str_of(&e["instructions"]);
                    let suffix = get("instructions_suffix").map(|s| str_of(&s)).unwrap_or_default();
                    Script::Text(Text::new(crate::model::normalize_long_text(&format!("{body}{suffix}"))))
                }
                Some(other) => panic!("unexpected type {other}"),
            };
            let set =
                |k: &str| -> Option<BTreeSet<String>> { get(k).map(|v| seq(Some(&v)).iter().map(str_of).collect()) };
            let candidates = observed.evaluators.iter().map(|o| (o.id, o.name.as_str())).collect();
            evaluators.push(Evaluator {
                id: identify(&name, e.get("id"), candidates),
                spec: EvaluatorSpec {
                    folder: Some(get("folder").map(|f| str_of(&f)).unwrap_or_default()),
                    script: Some(script),
                    instruction_parts: None,
                    expected_outcome: get("expected_outcome").map(|v| Text::new(str_of(&v))),
                    first_message: get("first_message").map(|v| Text::new(str_of(&v))),
                    personality: get("personality").map(|v| NamedRef::Id(v.as_u64().unwrap())),
                    test_profile: get("test_profile").map(|v| match v.as_u64() {
                        Some(id) => ProfileRef::Id(id),
                        None => ProfileRef::Id(profile_by_name(&str_of(&v))),
                    }),
                    metrics: get("metrics").map(|v| {
                        seq(Some(&v))
                            .iter()
                            .map(|m| match m.as_u64() {
                                Some(id) => MetricRef::Id(id),
                                None => {
                                    let slug = str_of(m);
                                    let found: Vec<_> =
                                        catalog.metrics.iter().filter(|c| c.slug.as_deref() == Some(&slug)).collect();
                                    assert_eq!(found.len(), 1, "slug {slug}");
                                    MetricRef::Id(found[0].id)
                                }
                            })
                            .collect()
                    }),
                    tools: set("tools").map(Into::into),
                    tags: set("tags").map(Into::into),
                    language: get("language").map(|v| str_of(&v)),
                    max_duration: get("max_duration").map(|v| v.as_u64().unwrap() as u32),
                    phone_number: get("phone_number").map(|v| v.as_u64().unwrap()),
                },
                name,
                ignore_changes: BTreeSet::new(),
                source: None,
            });
        }
    }
    let key = |e: &Evaluator| e.id;
    evaluators.sort_by_key(key);
    test_profiles.sort_by_key(|p| p.id);
    AgentState {
        agent: agent_doc["agent"].as_u64().unwrap(),
        project: agent_doc.get("project").and_then(Value::as_u64),
        prune: false,
        folders: seq(agent_doc.get("folders")).iter().map(str_of).collect(),
        test_profiles,
        evaluators,
        ..AgentState::default()
    }
}

/// `observed` with lists in the order [`read_back`] returns them.
/// The observed state as import describes it: sorted, and with the folders of the agent's own evaluators only.
fn sorted(mut observed: AgentState) -> AgentState {
    observed.folders = own_folders(&observed);
    observed.evaluators.sort_by_key(|e| e.id);
    observed.test_profiles.sort_by_key(|p| p.id);
    observed
}

#[test]
fn files_read_back_to_the_observed_state() {
    let observed = agent();
    assert_eq!(read_back(&render(), &catalog(), &observed), sorted(observed));
}

#[test]
fn agent_without_evaluators_is_one_file() {
    let agent = AgentState { agent: 1, project: Some(1), ..AgentState::default() };
    let files =
        render_agent(&ImportInput { agent: &agent, catalog: &Catalog::default(), phone_numbers: &BTreeMap::new() });
    assert_eq!(files.len(), 1);
    insta::assert_snapshot!(files[0].contents, @r"
    # Imported by `evalform import --agent 1`. `evalform plan` on these files shows no changes until the platform changes.
    # Editor completion: `evalform schema > evalform.schema.json` and point your YAML editor at it.
    version: 1
    cekura:
      agent: 1
      project: 1
    ");
}

#[test]
fn tela_prompt() {
    let prompt = PromptState {
        prompt: "5f0c2a4e-0000-4000-8000-000000000001".into(),
        owned: Default::default(),
        prune: false,
        prompt_version: None,
        test_cases: vec![
            TestCase {
                id: Some("b".into()),
                title: "Order has not arrived".into(),
                messages: Some(vec![
                    Message { role: "system".into(), content: text("You are support.\nBe brief.") },
                    Message { role: "user".into(), content: text("My order hasn't arrived yet.") },
                ]),
                variables: Some(BTreeMap::from([("customer_name".into(), text("John Doe"))])),
                expected_output: Some(text("I'll help you track down your order.")),
                source: None,
            },
            TestCase {
                id: Some("a".into()),
                title: "Empty".into(),
                messages: Some(vec![]),
                variables: Some(BTreeMap::new()),
                expected_output: None,
                source: None,
            },
        ],
    };
    let file = render_prompt(&prompt);
    assert_eq!(file.path, Path::new("tela/5f0c2a4e-0000-4000-8000-000000000001.yaml"));
    let back: serde_yaml::Value = serde_yaml::from_str(&file.contents).unwrap();
    assert_eq!(back["tela"]["test_cases"][1]["messages"][0]["content"].as_str(), Some("You are support.\nBe brief."));
    insta::assert_snapshot!(file.contents, @r#"
    # Imported by `evalform import --prompt 5f0c2a4e-0000-4000-8000-000000000001`. `evalform plan` on these files shows no changes until the platform changes.
    # Editor completion: `evalform schema > evalform.schema.json` and point your YAML editor at it.
    version: 1
    tela:
      prompt: "5f0c2a4e-0000-4000-8000-000000000001"
      test_cases:
        - title: Empty
          messages: []
          variables: {}
        - title: Order has not arrived
          messages:
            - role: system
              content: |-
                You are support.
                Be brief.
            - role: user
              content: My order hasn't arrived yet.
          variables:
            customer_name: John Doe
          expected_output: I'll help you track down your order.
    "#);
}

#[test]
fn refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let files = vec![
        ImportedFile { path: "agent-1/_agent.yaml".into(), contents: "a\n".into() },
        ImportedFile { path: "agent-1/sales.yaml".into(), contents: "b\n".into() },
    ];
    let written = write_files(dir.path(), &files, false).unwrap();
    assert_eq!(written, [dir.path().join("agent-1/_agent.yaml"), dir.path().join("agent-1/sales.yaml")]);
    assert_eq!(std::fs::read_to_string(&written[1]).unwrap(), "b\n");

    let changed = vec![ImportedFile { contents: "new\n".into(), ..files[1].clone() }];
    let err = write_files(dir.path(), &files, false).unwrap_err();
    let shown = err.to_string().replace(&dir.path().display().to_string(), "[DIR]");
    insta::assert_snapshot!(shown, @"2 files already exist: [DIR]/agent-1/_agent.yaml, [DIR]/agent-1/sales.yaml");
    assert!(matches!(err, ImportError::Exists { .. }));
    assert!(write_files(dir.path(), &changed, false).is_err());
    assert_eq!(std::fs::read_to_string(&written[1]).unwrap(), "b\n", "nothing written on refusal");

    write_files(dir.path(), &changed, true).unwrap();
    assert_eq!(std::fs::read_to_string(&written[1]).unwrap(), "new\n");
    let leftovers: Vec<_> =
        std::fs::read_dir(dir.path().join("agent-1")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 2, "no temporary files left: {leftovers:?}");
}

#[test]
fn metrics_by_slug_only_when_the_slug_resolves_back() {
    let catalog = Catalog {
        metrics: vec![
            MetricInfo { id: 1, slug: Some("shared".into()), name: "A".into() },
            MetricInfo { id: 2, slug: Some("shared".into()), name: "B".into() },
            MetricInfo { id: 3, slug: Some("own".into()), name: "C".into() },
            MetricInfo { id: 4, slug: None, name: "D".into() },
        ],
        personalities: vec![],
    };
    let metrics = [1, 3, 4, 9].map(MetricRef::Id).into_iter().chain([MetricRef::Slug("zeta".into())]).collect();
    let nodes = metric_nodes(&metrics, &catalog);
    assert_eq!(emit::document(&[], &[Entry::new("metrics", Node::Flow(nodes))]), "metrics: [own, zeta, 1, 4, 9]\n");
}

mod random_agents {
    use super::*;
    use proptest::prelude::*;

    fn pick<T: Clone + std::fmt::Debug + 'static>(options: &[T]) -> impl Strategy<Value = T> + use<T> {
        proptest::sample::select(options.to_vec())
    }

    fn subset(options: &'static [&'static str]) -> impl Strategy<Value = BTreeSet<String>> {
        proptest::sample::subsequence(options, 0..=options.len())
            .prop_map(|v| v.into_iter().map(String::from).collect())
    }

    /// Normalised texts from lines that repeat across evaluators, so suffixes and defaults occur.
    fn long_text() -> impl Strategy<Value = String> {
        let line = prop_oneof![
            Just(String::new()),
            Just("  - indented item".to_string()),
            Just("Always confirm the name.".to_string()),
            Just("End the call: politely.".to_string()),
            Just("yes".to_string()),
            "[a-c #:\\-]{1,6}",
            "\\PC{1,8}",
        ];
        proptest::collection::vec(line, 1..5).prop_map(|lines| crate::model::normalize_long_text(&lines.join("\n")))
    }

    fn script() -> impl Strategy<Value = Script> {
        let condition = (
            prop_oneof![
                (0u64..4).prop_map(ConditionTrigger::Followup),
                long_text().prop_map(|t| ConditionTrigger::Text(Text::new(t)))
            ],
            long_text(),
            any::<bool>(),
            any::<bool>(),
        );
        prop_oneof![
            3 => long_text().prop_filter("not empty", |t| !t.is_empty()).prop_map(|t| Script::Text(Text::new(t))),
            1 => (long_text(), proptest::collection::vec(condition, 0..3)).prop_map(|(role, conds)| {
                Script::Flow(ConditionalActions {
                    role: Text::new(role),
                    conditions: conds
                        .into_iter()
                        .enumerate()
                        .map(|(i, (condition, action, standard, fixed_message))| Condition {
                            id: i as u64,
                            condition,
                            action: Text::new(action),
                            kind: if standard { ConditionKind::Standard } else { ConditionKind::ActionFollowup },
                            fixed_message,
                        })
                        .collect(),
                })
            }),
        ]
    }

    fn spec() -> impl Strategy<Value = EvaluatorSpec> {
        (
            (pick(&["", "A", "A.B", "A.B.C", "B", "b!", "日本"]), script(), long_text(), long_text()),
            (pick(&[7u64, 9, 100]), proptest::option::of(pick(&[11u64, 12, 13, 99]))),
            (
                proptest::sample::subsequence(vec![501u64, 502, 508, 999], 0..=4),
                subset(&["TOOL_END_CALL", "TOOL_DTMF"]),
            ),
            (subset(&["no", "on", "smoke", "1.0"]), pick(&["en", "fr"]), pick(&[300u32, 60]), pick(&[44u64, 45, 46])),
        )
            .prop_map(
                |(
                    (folder, script, expected, first),
                    (personality, profile),
                    (metrics, tools),
                    (tags, language, max, phone),
                )| {
                    EvaluatorSpec {
                        folder: Some(folder.to_string()),
                        script: Some(script),
                        instruction_parts: None,
                        expected_outcome: Some(Text::new(expected)),
                        first_message: Some(Text::new(first)),
                        personality: Some(NamedRef::Id(personality)),
                        test_profile: profile.map(ProfileRef::Id),
                        metrics: Some(metrics.into_iter().map(MetricRef::Id).collect()),
                        tools: Some(tools.into()),
                        tags: Some(tags.into()),
                        language: Some(language.to_string()),
                        max_duration: Some(max),
                        phone_number: Some(phone),
                    }
                },
            )
    }

    fn agent() -> impl Strategy<Value = AgentState> {
        let evaluators = proptest::collection::vec((pick(&["x", "y", "yes", "Order: 1", " lead"]), spec()), 0..8);
        let information = prop_oneof![
            Just(None),
            proptest::collection::btree_map("[a-z ]{1,4}", long_text(), 0..3)
                .prop_map(|m| Some(Information::Flat(m.into_iter().map(|(k, v)| (k, Text::new(v))).collect()))),
            proptest::collection::btree_map("[a-z]{1,3}", "\\PC{0,6}", 0..3).prop_map(|m| {
                let m: BTreeMap<String, Text> = m.into_iter().map(|(k, v)| (k, Text::new(v))).collect();
                Some(Information::Sectioned { main_agent_variables: m.clone(), testing_agent_variables: m })
            }),
        ];
        let profiles = proptest::collection::vec((pick(&["P", "Q", "null"]), information), 0..4);
        (evaluators, profiles).prop_map(|(evaluators, profiles)| AgentState {
            agent: 12,
            project: Some(1376),
            prune: false,
            folders: ["A", "A.B", "A.B.C", "B", "b!", "日本"].map(String::from).into(),
            test_profiles: profiles
                .into_iter()
                .enumerate()
                .map(|(i, (name, information))| TestProfile {
                    id: Some(11 + i as u64),
                    name: name.to_string(),
                    information,
                    source: None,
                })
                .collect(),
            evaluators: evaluators
                .into_iter()
                .enumerate()
                .map(|(i, (name, spec))| Evaluator {
                    id: Some(1000 + i as u64),
                    name: name.to_string(),
                    spec,
                    ignore_changes: BTreeSet::new(),
                    source: None,
                })
                .collect(),
            ..AgentState::default()
        })
    }

    /// What the platform could hold: references the catalog and the agent's profiles resolve, follow-ups to
    /// conditions the flow has. The stand-in reader above does not care; the real loader and planner do.
    fn storable(mut agent: AgentState, catalog: &Catalog) -> AgentState {
        let profile_ids: BTreeSet<u64> = agent.test_profiles.iter().filter_map(|p| p.id).collect();
        for e in &mut agent.evaluators {
            let s = &mut e.spec;
            if let Some(NamedRef::Id(id)) = s.personality {
                if !catalog.personalities.iter().any(|p| p.id == id) {
                    s.personality = Some(NamedRef::Id(catalog.personalities[0].id));
                }
            }
            if let Some(metrics) = &mut s.metrics {
                metrics.retain(|m| matches!(m, MetricRef::Id(id) if catalog.metrics.iter().any(|c| c.id == *id)));
            }
            if let Some(ProfileRef::Id(id)) = s.test_profile {
                if !profile_ids.contains(&id) {
                    s.test_profile = None;
                }
            }
            if let Some(Script::Flow(flow)) = &mut s.script {
                // Until nothing changes: dropping a condition can orphan a follow-up to it.
                loop {
                    let ids: BTreeSet<u64> = flow.conditions.iter().map(|c| c.id).collect();
                    let before = flow.conditions.len();
                    flow.conditions
                        .retain(|c| !matches!(c.condition, ConditionTrigger::Followup(t) if !ids.contains(&t)));
                    if flow.conditions.len() == before {
                        break;
                    }
                }
            }
        }
        agent
    }

    /// The real round trip without a network: render, load with the manifest loader, plan against the same
    /// observed state with the planner. The plan must be empty.
    fn round_trip_plan(observed: &AgentState, catalog: &Catalog) -> Result<crate::plan::Plan, String> {
        let phones = phones();
        let files = render_agent(&ImportInput { agent: observed, catalog, phone_numbers: &phones });
        let texts = files
            .iter()
            .map(|f| crate::manifest::ManifestFile { path: f.path.clone(), text: f.contents.clone() })
            .collect();
        let opts = crate::manifest::LoadOptions {
            env: &|_| None,
            mode: crate::manifest::EnvMode::Required,
            environment: None,
        };
        let files_text = || files.iter().map(|f| format!("# {}\n{}", f.path.display(), f.contents)).collect::<String>();
        let desired = crate::manifest::load_texts(texts, &opts).map_err(|d| format!("{d}\n{}", files_text()))?.state;
        let mut have = crate::plan::Observed::default();
        have.state.agents.insert(observed.agent, observed.clone());
        have.catalogs.insert(observed.agent, catalog.clone());
        crate::plan::plan(&desired, &have, &crate::plan::PlanSettings::default())
            .map_err(|e| format!("{:?}\n{}", e.0, files_text()))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn any_agent_reads_back(observed in agent()) {
            let (catalog, phones) = (catalog(), phones());
            let files = render_agent(&ImportInput { agent: &observed, catalog: &catalog, phone_numbers: &phones });
            prop_assert_eq!(read_back(&files, &catalog, &observed), sorted(observed.clone()));
            let mut shuffled = observed.clone();
            shuffled.evaluators.reverse();
            shuffled.test_profiles.reverse();
            let again = render_agent(&ImportInput { agent: &shuffled, catalog: &catalog, phone_numbers: &phones });
            prop_assert_eq!(files, again);
        }

        #[test]
        fn import_then_plan_is_empty(observed in agent()) {
            let catalog = catalog();
            let observed = storable(observed, &catalog);
            let plan = round_trip_plan(&observed, &catalog).map_err(TestCaseError::fail)?;
            prop_assert!(plan.is_empty(), "{:#?}", plan.changes);
        }
    }
}

#[test]
fn sensitive_values_are_written_as_their_template() {
    let vars = BTreeMap::from([("token".to_string(), Text::sensitive("hunter2", "Bearer ${env:TOKEN}"))]);
    let doc = emit::document(&[], &[Entry::new("v", text_map(&vars))]);
    assert_eq!(doc, "v:\n  token: Bearer ${env:TOKEN}\n");
}

#[test]
fn duplicate_test_case_titles_are_kept_and_flagged() {
    let case = |id: &str| TestCase {
        id: Some(id.into()),
        title: "Late".into(),
        messages: None,
        variables: None,
        expected_output: Some(text(id)),
        source: None,
    };
    let prompt = PromptState {
        prompt: "p".into(),
        prune: false,
        test_cases: vec![case("b"), case("a")],
        ..PromptState::default()
    };
    let contents = render_prompt(&prompt).contents;
    let body = contents.lines().skip(2).collect::<Vec<_>>().join("\n");
    insta::assert_snapshot!(body, @r#"
    version: 1
    tela:
      prompt: p
      test_cases:
        # 2 test cases of this prompt are titled "Late"; titles identify test cases, so rename all but one
        - title: Late
          expected_output: a
        # 2 test cases of this prompt are titled "Late"; titles identify test cases, so rename all but one
        - title: Late
          expected_output: b
    "#);
}

#[test]
fn a_literal_env_reference_on_the_platform_is_written_escaped() {
    assert_eq!(super::escape_env_text("Say ${env:HOME} and $${env:X}."), "Say $${env:HOME} and $$${env:X}.");
    assert_eq!(super::escape_env_text("no reference, $HOME, ${var:x}"), "no reference, $HOME, ${var:x}");
    let mut a = agent();
    let e = a.evaluators.iter_mut().find(|e| matches!(e.spec.script, Some(Script::Text(_)))).unwrap();
    e.spec.script = Some(Script::Text(text("Read ${env:HOME} aloud.")));
    let files = render_agent(&ImportInput { agent: &a, catalog: &catalog(), phone_numbers: &phones() });
    let all: String = files.iter().map(|f| f.contents.as_str()).collect();
    assert!(all.contains("Read $${env:HOME} aloud."), "{all}");
    assert!(!all.contains(" ${env:HOME}"), "{all}");
}

#[test]
fn variables_named_like_secrets_are_found_and_written_as_env_references() {
    let mut agent = agent();
    let found = likely_secrets(&agent);
    let places: Vec<(String, &str)> = found.iter().map(|s| (s.place(), s.env_name.as_str())).collect();
    assert_eq!(
        places,
        [("test profile \"Premium caller\" main_agent_variables.pin".to_string(), "PREMIUM_CALLER_PIN")]
    );
    secrets_as_env(&mut agent, &found);
    let files = render_agent(&ImportInput { agent: &agent, catalog: &catalog(), phone_numbers: &phones() });
    let text = &files[0].contents;
    assert!(text.contains("pin: ${env:PREMIUM_CALLER_PIN}"), "{text}");
    assert!(!text.contains("0042"), "{text}");
}
