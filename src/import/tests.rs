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
            tools: Some(BTreeSet::from(["TOOL_END_CALL".to_string()])),
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

/// Reads the written files the way the manifest format defines them (defaults, suffix, names and slugs) and
/// checks that every observed field comes back. A stand-in for the loader, which lives on another branch.
#[test]
fn files_read_back_to_the_observed_state() {
    use serde_yaml::Value;
    let observed = agent();
    let catalog = catalog();
    let files = render();
    let docs: Vec<Value> = files.iter().map(|f| serde_yaml::from_str(&f.contents).unwrap()).collect();

    let agent_doc = &docs[0]["cekura"];
    assert_eq!(agent_doc["project"].as_u64(), Some(1376));
    let folders: BTreeSet<String> =
        agent_doc["folders"].as_sequence().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect();
    assert_eq!(folders, observed.folders);
    let profile_ids: BTreeMap<String, u64> = observed
        .test_profiles
        .iter()
        .filter(|p| observed.test_profiles.iter().filter(|q| q.name == p.name).count() == 1)
        .map(|p| (p.name.clone(), p.id.unwrap()))
        .collect();
    let profiles = agent_doc["test_profiles"].as_sequence().unwrap();
    assert_eq!(profiles.len(), observed.test_profiles.len());
    for p in profiles {
        let name = p["name"].as_str().unwrap();
        let want = observed
            .test_profiles
            .iter()
            .find(|o| o.name == name && p.get("id").is_none_or(|id| o.id == id.as_u64()))
            .unwrap();
        let vars = |v: &Value| -> BTreeMap<String, Text> {
            v.as_mapping()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.as_str().unwrap().to_string(), text(v.as_str().unwrap())))
                .collect()
        };
        let got = match p.get("information") {
            Some(flat) => Some(Information::Flat(vars(flat))),
            None => p.get("main_agent_variables").map(|main| Information::Sectioned {
                main_agent_variables: vars(main),
                testing_agent_variables: vars(&p["testing_agent_variables"]),
            }),
        };
        assert_eq!(got, want.information, "{name}");
    }

    let mut seen = 0;
    for doc in &docs[1..] {
        let cekura = &doc["cekura"];
        assert_eq!(cekura["agent"].as_u64(), Some(12));
        let defaults = cekura.get("defaults").cloned().unwrap_or(Value::Mapping(Default::default()));
        for e in cekura["evaluators"].as_sequence().unwrap() {
            seen += 1;
            let get = |k: &str| e.get(k).or_else(|| defaults.get(k)).cloned();
            let name = e["name"].as_str().unwrap();
            let want = observed
                .evaluators
                .iter()
                .find(|o| o.name == name && e.get("id").is_none_or(|id| o.id == id.as_u64()))
                .unwrap();
            let s = &want.spec;
            let str_of = |k: &str| get(k).map(|v| v.as_str().unwrap().to_string());
            assert_eq!(str_of("folder").unwrap_or_default(), s.folder.clone().unwrap(), "{name}");
            match s.script.as_ref().unwrap() {
                Script::Text(t) => {
                    let joined = format!(
                        "{}{}",
                        str_of("instructions").unwrap(),
                        str_of("instructions_suffix").unwrap_or_default()
                    );
                    assert_eq!(crate::model::normalize_long_text(&joined), t.expose(), "{name}");
                    assert!(e.get("type").is_none());
                }
                Script::Flow(f) => {
                    assert_eq!(str_of("type").as_deref(), Some("conditional_actions"));
                    let ca = get("conditional_actions").unwrap();
                    assert_eq!(ca["role"].as_str(), Some(f.role.expose()));
                    let conds = ca["conditions"].as_sequence().unwrap();
                    assert_eq!(conds.len(), f.conditions.len());
                    for (c, w) in conds.iter().zip(&f.conditions) {
                        assert_eq!(c["id"].as_u64(), Some(w.id));
                        let trigger = match &c["condition"] {
                            Value::Number(n) => ConditionTrigger::Followup(n.as_u64().unwrap()),
                            v => ConditionTrigger::Text(text(v.as_str().unwrap())),
                        };
                        assert_eq!(trigger, w.condition);
                        assert_eq!(c["action"].as_str(), Some(w.action.expose()));
                        let default_kind = match trigger {
                            ConditionTrigger::Followup(_) => "action_followup",
                            ConditionTrigger::Text(_) => "standard",
                        };
                        let kind = c.get("type").and_then(|t| t.as_str()).unwrap_or(default_kind);
                        assert_eq!(kind == "standard", w.kind == ConditionKind::Standard);
                        assert_eq!(c.get("fixed_message").and_then(|f| f.as_bool()).unwrap_or(false), w.fixed_message);
                    }
                }
            }
            assert_eq!(str_of("expected_outcome").map(Text::new), s.expected_outcome, "{name}");
            assert_eq!(str_of("first_message").map(Text::new), s.first_message, "{name}");
            assert_eq!(get("personality").unwrap().as_u64().map(NamedRef::Id), s.personality);
            let profile = get("test_profile").map(|v| match v.as_u64() {
                Some(id) => ProfileRef::Id(id),
                None => ProfileRef::Id(profile_ids[v.as_str().unwrap()]),
            });
            assert_eq!(profile, s.test_profile, "{name}");
            let metrics: BTreeSet<MetricRef> = get("metrics")
                .unwrap()
                .as_sequence()
                .unwrap()
                .iter()
                .map(|m| match m.as_u64() {
                    Some(id) => MetricRef::Id(id),
                    None => MetricRef::Id(catalog.metrics.iter().find(|c| c.slug.as_deref() == m.as_str()).unwrap().id),
                })
                .collect();
            assert_eq!(Some(metrics), s.metrics, "{name}");
            let set = |k: &str| -> BTreeSet<String> {
                get(k).unwrap().as_sequence().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
            };
            assert_eq!(Some(set("tools")), s.tools);
            assert_eq!(Some(set("tags")), s.tags, "{name}");
            assert_eq!(str_of("language"), s.language);
            assert_eq!(get("max_duration").unwrap().as_u64(), s.max_duration.map(u64::from));
            assert_eq!(get("phone_number").unwrap().as_u64(), s.phone_number);
        }
    }
    assert_eq!(seen, observed.evaluators.len());
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
        prune: false,
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
    assert!(err.hint().unwrap().contains("--force"));
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
    assert_eq!(writer::document(&[], &[Entry::new("metrics", Node::Flow(nodes))]), "metrics: [own, zeta, 1, 4, 9]\n");
}
