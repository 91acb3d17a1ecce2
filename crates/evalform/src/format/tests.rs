use std::collections::HashMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;
use crate::manifest::EnvMode;

fn format(text: &str) -> String {
    format_text(text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
}

fn file(path: &str, text: &str) -> ManifestFile {
    ManifestFile { path: PathBuf::from(path), text: text.to_string() }
}

fn check(before: &[ManifestFile], after: &[ManifestFile]) -> Vec<FormatError> {
    let env: HashMap<String, String> = HashMap::new();
    let lookup = |name: &str| env.get(name).cloned();
    let opts = LoadOptions { env: &lookup, mode: EnvMode::Deferred, environment: None };
    check_meaning(before, after, &opts)
}

/// Formats, checks the guard accepts the result, and that formatting again changes nothing.
fn format_checked(text: &str) -> String {
    let out = format(text);
    let refused = check(&[file("a.yaml", text)], &[file("a.yaml", &out)]);
    assert!(
        refused.is_empty(),
        "{refused:?}\n---\n{out}\n---\n{:?}",
        yaml::comments(&out, yaml::parse_tree(&out).unwrap().as_ref())
    );
    assert_eq!(format(&out), out, "formatting twice changes the text:\n{out}");
    out
}

const MESSY: &str = r#"

# Support line evaluators
#keep me close

cekura:
    evaluators:
      # the first one
      -   tags: [ orders , 'smoke' ]   # sets
          name: 'Order status'
          expected_outcome: "The agent gives the date."
          instructions: "You are a customer.\n\nAsk about order ${env:ORDER_ID}."
          id: 101

      - name: Book a cleaning
        tools:
          - TOOL_END_CALL
          - TOOL_DTMF
        first_message: >
          Hi there,
          I'd like a cleaning
        metrics:
        - 501   # the judge
        - 502
    agent: 12   # the agent under test
    defaults: {max_duration: 300, language: "en"}
    test_profiles:
    -   name: Returning customer
        main_agent_variables: {zip: "01234", crm_token: "${env:CRM_TOKEN}", amount: 1.50, vip: yes}
version: 1
# the end
"#;

#[test]
fn a_messy_manifest_reads_as_import_writes_it() {
    insta::assert_snapshot!(format_checked(MESSY), @r#"
    # Support line evaluators
    # keep me close

    version: 1
    cekura:
      agent: 12  # the agent under test
      test_profiles:
        - name: Returning customer
          main_agent_variables:
            amount: 1.50
            crm_token: ${env:CRM_TOKEN}
            vip: "yes"
            zip: "01234"
      defaults:
        language: en
        max_duration: 300
      evaluators:
        # the first one
        - name: Order status
          id: 101
          instructions: |-
            You are a customer.

            Ask about order ${env:ORDER_ID}.
          expected_outcome: The agent gives the date.
          tags: [orders, smoke]  # sets

        - name: Book a cleaning
          first_message: |
            Hi there, I'd like a cleaning
          metrics:
            - 501  # the judge
            - 502
          tools: [TOOL_END_CALL, TOOL_DTMF]
    # the end
    "#);
}

#[test]
fn imported_files_are_formatted_already() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut seen = 0;
    for path in ["getting-started/booking.yaml", "metrics/judges.yaml", "specs/tela/order-support.yaml"] {
        let text = std::fs::read_to_string(root.join(path)).unwrap();
        if text.starts_with("# Imported by") {
            assert_eq!(format(&text), text, "{path}");
            seen += 1;
        }
    }
    assert!(seen > 0);
}

#[test]
fn every_example_formats_keeping_its_meaning_and_is_stable() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let read = crate::manifest::read(&[root]);
    assert!(read.files.len() > 5);
    for f in &read.files {
        if let Ok(out) = format_text(&f.text) {
            assert_eq!(data_difference(&f.text, &out), None, "{}", f.path.display());
            assert_eq!(format(&out), out, "{}", f.path.display());
        }
    }
}

#[test]
fn comments_in_awkward_places_are_kept() {
    let text = "version: 1 # v\ntela:\n  prompt: 5f0c2a4e-0000-4000-8000-000000000001\n  test_cases:\n    - # a case\n      title: t\n      variables:\n        # above\n        b: \"1\"\n        a: x\n      messages: [ # inside a flow list\n        {role: user, content: hi}]\n    # after the last item\n\n# end of file\n\n# really the end\n";
    insta::assert_snapshot!(format_checked(text), @r#"
    version: 1  # v
    tela:
      prompt: "5f0c2a4e-0000-4000-8000-000000000001"
      test_cases:
        # a case
        - title: t
          messages:  # inside a flow list
            - role: user
              content: hi
          variables:
            a: x
            # above
            b: "1"
    # after the last item

    # end of file

    # really the end
    "#);
}

#[test]
fn odd_but_valid_yaml_formats_once_and_for_all() {
    let text = "%YAML 1.2\n---\n# top\nversion: 1\ncekura:\n  agent: &a 12   # anchored\n  evaluators:\n  - name: x\n    tags: [a,   # first\n      b]  # after\n    instructions:\n      # between key and value\n      \"hello\"\n    metrics:\n      # inside a block list\n      - m1\n      - m2\n  - name: y\n    expected_outcome: >-\n      folded\n      text\n\n      para\n    first_message: 'it''s'\n...\n";
    insta::assert_snapshot!(format_checked(text), @r#"
    # top
    version: 1
    cekura:
      agent: 12  # anchored
      evaluators:
        - name: x
          # after
          instructions: |-
            hello
          # between key and value
          metrics:
            # inside a block list
            - m1
            - m2
          tags: [a, b]  # first
        - name: "y"
          expected_outcome: |-
            folded text
            para
          first_message: it's
    "#);
}

#[test]
fn block_scalars_keep_their_text() {
    let text = "version: 1\ntela:\n  prompt: 5f0c2a4e-0000-4000-8000-000000000001\n  test_cases:\n    - title: t\n      expected_output: |\n\n        after a blank line\n          indented\n        # not a comment\n\n      messages:\n        - role: user\n          content: |2-\n              two spaces in\n            x\n";
    let out = format_checked(text);
    insta::assert_snapshot!(out, @r#"
    version: 1
    tela:
      prompt: "5f0c2a4e-0000-4000-8000-000000000001"
      test_cases:
        - title: t
          messages:
            - role: user
              content: |2-
                  two spaces in
                x
          expected_output: |

            after a blank line
              indented
            # not a comment
    "#);
}

#[test]
fn a_null_written_as_nothing_stays_nothing() {
    let text = "version: 1\ncekura:\n  prune:\n  agent: 12\n  evaluators:\n    - name: x\n      metrics: [ ]\n";
    assert_eq!(
        format_checked(text),
        "version: 1\ncekura:\n  agent: 12\n  prune:\n  evaluators:\n    - name: x\n      metrics: []\n"
    );
}

#[test]
fn crlf_files_stay_crlf() {
    let text = "cekura:\r\n  agent: 1\r\nversion: 1\r\n";
    assert_eq!(format_checked(text), "version: 1\r\ncekura:\r\n  agent: 1\r\n");
}

#[test]
fn an_empty_document_is_left_as_it_is() {
    assert_eq!(format("# nothing yet\n"), "# nothing yet\n");
}

#[test]
fn the_guard_refuses_a_text_whose_data_differs() {
    let before = "version: 1\ncekura:\n  agent: 12\n  evaluators:\n    - name: a\n      instructions: x\n";
    // What a formatter that quoted every scalar would write: the agent id becomes a name.
    let after = "version: 1\ncekura:\n  agent: \"12\"\n  evaluators:\n    - name: a\n      instructions: x\n";
    let refused = check(&[file("suites/a.yaml", before)], &[file("suites/a.yaml", after)]);
    assert_eq!(
        refused,
        vec![FormatError::WouldChangeMeaning {
            path: PathBuf::from("suites/a.yaml"),
            detail: "its YAML data would differ".into()
        }]
    );
    assert_eq!(
        refused[0].to_string(),
        "refusing to format suites/a.yaml: the formatted file would not mean the same (its YAML data would differ)"
    );
}

#[test]
fn the_guard_refuses_a_text_that_drops_a_comment() {
    let before = "version: 1\n# why\ncekura:\n  agent: 12\n";
    let after = "version: 1\ncekura:\n  agent: 12\n";
    let refused = check(&[file("a.yaml", before)], &[file("a.yaml", after)]);
    assert!(matches!(&refused[..], [FormatError::WouldChangeMeaning { detail, .. }] if detail.contains("1 comments")));
}

#[test]
fn the_guard_compares_the_loaded_state_too() {
    let env = |_: &str| None;
    let opts = LoadOptions { env: &env, mode: EnvMode::Deferred, environment: None };
    let a = "version: 1\ncekura:\n  agent: 12\n  folders: [Sales]\n";
    let b = "version: 1\ncekura:\n  agent: 12\n  evaluators:\n    - name: x\n      folder: Sales\n";
    let before = [file("a.yaml", a), file("b.yaml", b)];
    // The typed check alone names the file whose change makes the difference, even among several changed ones.
    let reordered = "version: 1\ncekura:\n  folders: [Sales]\n  agent: 12\n";
    let other_agent = "version: 1\ncekura:\n  agent: 13\n  folders: [Sales]\n";
    let refused = typed_difference(&before, &[file("a.yaml", other_agent), file("b.yaml", b)], &opts);
    assert_eq!(
        refused,
        vec![FormatError::WouldChangeMeaning {
            path: PathBuf::from("a.yaml"),
            detail: "it would load into a different desired state".into()
        }]
    );
    assert!(typed_difference(&before, &[file("a.yaml", reordered), file("b.yaml", b)], &opts).is_empty());
    // A formatted file that no longer loads is refused too.
    let broken = "version: 1\ncekura:\n  agent: 12\n";
    let refused = typed_difference(&before, &[file("a.yaml", broken), file("b.yaml", b)], &opts);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].path(), Path::new("a.yaml"));
    // A set that does not load before is not judged here (each file's data still is).
    assert!(typed_difference(&[file("b.yaml", b)], &[file("b.yaml", a)], &opts).is_empty());
}

#[test]
fn files_with_problems_are_reported_and_left_out() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "version: 1\ntela:\n  prompt: 5f0c2a4e-0000-4000-8000-000000000001\n  test_cases:\n  - {title: t}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.yaml"),
        "version: 1\ntela:\n  prompt: 5f0c2a4e-0000-4000-8000-000000000002\n  bogus: 1\n",
    )
    .unwrap();
    let env = |_: &str| None;
    let opts = LoadOptions { env: &env, mode: EnvMode::Deferred, environment: None };
    let report = format_manifests(&[dir.path().to_path_buf()], &opts);
    assert_eq!(report.files.len(), 1);
    assert!(report.files[0].path.ends_with("a.yaml"));
    assert!(report.files[0].changed());
    let problems = report.problems.expect("b.yaml has a problem");
    assert!(problems.iter().all(|d| d.file.ends_with("b.yaml")), "{problems}");
}

fn any_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just(" ".to_string()),
            Just("\n".to_string()),
            Just("\t".to_string()),
            Just("#".to_string()),
            Just(" # ".to_string()),
            Just(": ".to_string()),
            Just("- ".to_string()),
            Just("|".to_string()),
            Just("'".to_string()),
            Just("\"".to_string()),
            Just("${env:X}".to_string()),
            "[a-z0-9]{1,4}".prop_map(|s| s),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any text, written any way a hand-written file may hold it, reads back the same after formatting, and
    /// formatting again changes nothing.
    #[test]
    fn texts_survive_formatting(s in any_text(), t in any_text()) {
        let quoted = emit::double_quoted(&s);
        let text = format!(
            "version: 1\ntela:\n  test_cases:\n    - expected_output: {quoted}\n      title: {}\n  prompt: 5f0c2a4e-0000-4000-8000-000000000001\n",
            emit::double_quoted(&t),
        );
        let out = format(&text);
        prop_assert_eq!(data_difference(&text, &out), None, "{}", out);
        let root = yaml::parse_tree(&out).unwrap().unwrap();
        let case = &root.get("tela").unwrap().get("test_cases").unwrap();
        let NodeKind::Seq(items) = &case.kind else { panic!() };
        prop_assert_eq!(items[0].get("expected_output").and_then(yaml::Node::as_str), Some(s.as_str()));
        prop_assert_eq!(format(&out), out);
    }
}

/// An evaluator's entries in a random order, with a random subset of keys.
fn any_evaluator() -> impl Strategy<Value = Vec<Entry>> {
    (
        "[a-z]{1,6}",
        proptest::option::of(proptest::collection::vec("[a-z]{1,4}", 0..3)),
        proptest::option::of(any_text()),
        proptest::option::of(10u64..3600),
        proptest::option::of(prop_oneof![Just(Node::Int(7)), Just(Node::Str("Calm caller".into()))]),
        any::<u64>(),
    )
        .prop_map(|(name, tags, instructions, duration, personality, seed)| {
            let mut entries = vec![Entry::new("name", Node::Str(name))];
            if let Some(tags) = tags {
                entries
                    .push(Entry::new("tags", Node::Seq(tags.into_iter().map(|t| Item::new(Node::Str(t))).collect())));
            }
            if let Some(text) = instructions {
                entries.push(Entry::new("instructions", Node::Str(text)));
            }
            if let Some(d) = duration {
                entries.push(Entry::new("max_duration", Node::Int(d)));
            }
            if let Some(p) = personality {
                entries.push(Entry::new("personality", p));
            }
            // A cheap shuffle, so that keys come in every order.
            let n = entries.len();
            for i in 0..n {
                entries.swap(i, (seed as usize).wrapping_mul(i + 7) % n);
            }
            entries
        })
}

/// `text` with comment lines and blank lines before some lines and comments after some values. Only texts without
/// block scalars: a line inserted into one would change its text.
fn sprinkle(text: &str, marks: &[u8]) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let mark = marks.get(i).copied().unwrap_or(0);
        let indent = line.len() - line.trim_start().len();
        if mark & 1 != 0 {
            out.push_str(&format!("{}# above {i}\n", " ".repeat(indent)));
        }
        if mark & 2 != 0 {
            out.push('\n');
        }
        out.push_str(line);
        if mark & 4 != 0 && !line.trim_start().starts_with('#') {
            out.push_str(&format!("  # beside {i}"));
        }
        out.push('\n');
    }
    if marks.last().is_some_and(|m| m & 8 != 0) {
        out.push_str("# the end\n");
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any manifest, keys in any order, comments and blank lines anywhere between its lines: formatting keeps its
    /// data and every comment, and a second run changes nothing.
    #[test]
    fn any_commented_manifest_formats_keeping_data_and_comments(
        evaluators in proptest::collection::vec(any_evaluator(), 1..4),
        marks in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let items = evaluators.into_iter().map(|e| Item::new(Node::Map(e))).collect();
        let cekura = Node::Map(vec![Entry::new("evaluators", Node::Seq(items)), Entry::new("agent", Node::Int(12))]);
        let doc = emit::document(&[], &[Entry::new("cekura", cekura), Entry::new("version", Node::Int(1))]);
        let text = sprinkle(&doc, &marks);
        let out = format(&text);
        prop_assert_eq!(data_difference(&text, &out), None, "{}\n---\n{}", text, out);
        prop_assert_eq!(format(&out), out.clone(), "{}\n---\n{}", text, out);
    }
}

#[test]
fn a_file_changed_since_it_was_read_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("suite.yaml");
    std::fs::write(&path, "version: 1\n").unwrap();
    let file = super::FormattedFile {
        path: path.clone(),
        before: "version: 1\n".into(),
        after: "version: 1\n# formatted\n".into(),
        bom: false,
    };
    // Someone saves the file between the read and the write.
    std::fs::write(&path, "version: 1\ncekura: {agent: 12}\n").unwrap();
    let err = super::write(&file).unwrap_err();
    assert!(err.to_string().contains("changed since evalform read it"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "version: 1\ncekura: {agent: 12}\n");
    // Unchanged since the read: written.
    std::fs::write(&path, "version: 1\n").unwrap();
    super::write(&file).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "version: 1\n# formatted\n");
}

/// Every key the manifest schema defines has its place in fmt's order, so fmt never moves a known key (such as
/// `prune_folders` or a metric's `renamed_from`) to the end of its mapping.
#[test]
fn every_key_of_the_schema_is_in_its_places_order() {
    let schema = crate::manifest::raw::schema();
    let places = [
        ("Cekura", Place::Cekura),
        ("Evaluator", Place::Evaluator),
        ("Defaults", Place::Defaults),
        ("Metric", Place::Metric),
        ("Schedule", Place::Schedule),
        ("TestProfile", Place::TestProfile),
        ("RenamedFolder", Place::Folder),
        ("ConditionalActions", Place::Flow),
        ("Condition", Place::Condition),
        ("Tela", Place::Tela),
        ("TestCase", Place::TestCase),
        ("Message", Place::Message),
    ];
    let mut missing = Vec::new();
    let root: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    let defs = schema["$defs"].as_object().unwrap();
    let mut checked: Vec<(&str, Vec<&String>, Place)> = vec![("root", root, Place::Root)];
    for (name, place) in places {
        let keys = defs[name]["properties"].as_object().unwrap_or_else(|| panic!("no definition {name}")).keys();
        checked.push((name, keys.collect(), place));
    }
    for (name, keys, place) in checked {
        for key in keys {
            if !place.order().contains(&key.as_str()) {
                missing.push(format!("{name}.{key}"));
            }
        }
    }
    assert!(missing.is_empty(), "keys fmt would move to the end of their mapping: {missing:?}");
}

#[test]
fn prune_folders_and_a_metric_s_renamed_from_keep_their_places() {
    let text = "version: 1\ncekura:\n  agent: 12\n  prune: true\n  prune_folders: true\n  folders: [A]\n  metrics:\n    - name: Tone\n      renamed_from: [Voice]\n      type: llm_judge\n      description: d\n";
    let formatted = format(text);
    assert!(formatted.contains("  prune: true\n  prune_folders: true\n  folders:"), "{formatted}");
    assert!(formatted.contains("    - name: Tone\n      renamed_from: [Voice]\n      type: llm_judge"), "{formatted}");
}
