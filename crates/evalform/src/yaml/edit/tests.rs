use proptest::prelude::*;

use super::*;
use crate::yaml::emit::Entry;

const DOC: &str = r#"# Support line evaluators
version: 1
cekura:
  agent: 12   # the agent under test
  defaults:
    max_duration: 300
  evaluators:
    # the first one
    - name: 'Order status'
      id: 101
      instructions: |-   # keep this
        You are a customer.

        Ask about order 12345.
      tags: [smoke, orders]   # sets
      tools:
        - TOOL_END_CALL   # always
        - TOOL_DTMF
      expected_outcome: "The agent gives the date."
    - name: Book a cleaning
      metrics:
      - 501
      - 502
      first_message: >
        Hi there
"#;

fn edited(edits: &[Edit]) -> String {
    apply(DOC, edits).unwrap_or_else(|e| panic!("{e}"))
}

fn value_at(text: &str, path: &str) -> serde_yaml::Value {
    let mut v: serde_yaml::Value = serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for seg in path::parse(path).unwrap() {
        v = match seg {
            Segment::Key(k) => v[k.as_str()].clone(),
            Segment::Index(i) => v[i].clone(),
        };
    }
    v
}

fn diff(after: &str) -> String {
    unified_diff("f.yaml", DOC, after)
}

#[test]
fn scalars_keep_their_quoting() {
    let out = edited(&[
        Edit::set("cekura.evaluators[0].name", Value::Str("Order's status".into())),
        Edit::set("cekura.evaluators[0].expected_outcome", Value::Str("A date.".into())),
        Edit::set("cekura.evaluators[1].name", Value::Str("yes".into())),
        Edit::set("cekura.defaults.max_duration", Value::Int(600)),
    ]);
    insta::assert_snapshot!(diff(&out), @r#"
        --- a/f.yaml
        +++ b/f.yaml
        @@ -3,10 +3,10 @@
         cekura:
           agent: 12   # the agent under test
           defaults:
        -    max_duration: 300
        +    max_duration: 600
           evaluators:
             # the first one
        -    - name: 'Order status'
        +    - name: 'Order''s status'
               id: 101
               instructions: |-   # keep this
                 You are a customer.
        @@ -16,8 +16,8 @@
               tools:
                 - TOOL_END_CALL   # always
                 - TOOL_DTMF
        -      expected_outcome: "The agent gives the date."
        -    - name: Book a cleaning
        +      expected_outcome: "A date."
        +    - name: "yes"
               metrics:
               - 501
               - 502
        "#);
    assert_eq!(value_at(&out, "cekura.evaluators[0].name"), "Order's status");
    assert_eq!(value_at(&out, "cekura.evaluators[1].name"), "yes");
    // What single quotes cannot hold (a tab, a line break) falls back to double quotes.
    let out = edited(&[Edit::set("cekura.evaluators[0].name", Value::Str("a\tb".into()))]);
    assert!(out.contains("- name: \"a\\tb\"\n"), "{out}");
}

#[test]
fn block_scalars_keep_their_header() {
    let out = edited(&[
        Edit::set("cekura.evaluators[0].instructions", Value::Text("You are a caller.\nBe brief.".into())),
        Edit::set("cekura.evaluators[1].first_message", Value::Text("Hello\nthere".into())),
    ]);
    insta::assert_snapshot!(diff(&out), @r#"
        --- a/f.yaml
        +++ b/f.yaml
        @@ -9,9 +9,8 @@
             - name: 'Order status'
               id: 101
               instructions: |-   # keep this
        -        You are a customer.
        -
        -        Ask about order 12345.
        +        You are a caller.
        +        Be brief.
               tags: [smoke, orders]   # sets
               tools:
                 - TOOL_END_CALL   # always
        @@ -21,5 +20,6 @@
               metrics:
               - 501
               - 502
        -      first_message: >
        -        Hi there
        +      first_message: |-
        +        Hello
        +        there
        "#);
    assert_eq!(value_at(&out, "cekura.evaluators[0].instructions"), "You are a caller.\nBe brief.");
    assert_eq!(value_at(&out, "cekura.evaluators[1].first_message"), "Hello\nthere");
    // A text that ends with one line break fits a clipping `|` header, which then stays.
    let clip = apply("k: |   # note\n  old\nz: 1\n", &[Edit::set("k", Value::Text("new\ntext\n".into()))]).unwrap();
    assert_eq!(clip, "k: |   # note\n  new\n  text\nz: 1\n");
}

#[test]
fn a_one_line_value_can_become_a_block() {
    let out = edited(&[Edit::set("cekura.evaluators[0].expected_outcome", Value::Text("Line one\nLine two".into()))]);
    assert!(out.contains("      expected_outcome: |-\n        Line one\n        Line two\n"), "{out}");
    assert_eq!(value_at(&out, "cekura.evaluators[0].expected_outcome"), "Line one\nLine two");
}

#[test]
fn lists_keep_their_form() {
    let flow = |items: &[&str]| Value::Flow(items.iter().map(|s| Value::Str(s.to_string())).collect());
    let out = edited(&[
        Edit::set("cekura.evaluators[0].tags", flow(&["smoke", "a, b"])),
        Edit::set("cekura.evaluators[0].tools", flow(&["TOOL_DTMF"])),
        Edit::set("cekura.evaluators[1].metrics", Value::Flow(vec![Value::Int(503)])),
    ]);
    insta::assert_snapshot!(diff(&out), @r#"
        --- a/f.yaml
        +++ b/f.yaml
        @@ -12,14 +12,12 @@
                 You are a customer.
         
                 Ask about order 12345.
        -      tags: [smoke, orders]   # sets
        +      tags: [smoke, "a, b"]   # sets
               tools:
        -        - TOOL_END_CALL   # always
                 - TOOL_DTMF
               expected_outcome: "The agent gives the date."
             - name: Book a cleaning
               metrics:
        -      - 501
        -      - 502
        +      - 503
               first_message: >
                 Hi there
        "#);
}

#[test]
fn items_are_added_and_removed_in_place() {
    let out = edited(&[
        Edit::push("cekura.evaluators[0].tags", Value::Str("new".into())),
        Edit::remove("cekura.evaluators[0].tags[0]"),
        Edit::remove("cekura.evaluators[0].tools[1]"),
        Edit::push("cekura.evaluators[0].tools", Value::Str("TOOL_TRANSFER_CALL".into())),
        Edit::push("cekura.evaluators[1].metrics", Value::Int(507)),
        Edit::remove("cekura.evaluators[1].metrics[0]"),
    ]);
    insta::assert_snapshot!(diff(&out), @r#"
        --- a/f.yaml
        +++ b/f.yaml
        @@ -12,14 +12,14 @@
                 You are a customer.
         
                 Ask about order 12345.
        -      tags: [smoke, orders]   # sets
        +      tags: [orders, new]   # sets
               tools:
                 - TOOL_END_CALL   # always
        -        - TOOL_DTMF
        +        - TOOL_TRANSFER_CALL
               expected_outcome: "The agent gives the date."
             - name: Book a cleaning
               metrics:
        -      - 501
               - 502
        +      - 507
               first_message: >
                 Hi there
        "#);
}

#[test]
fn missing_keys_are_inserted_after_the_last_key() {
    let out = edited(&[
        Edit::set("cekura.evaluators[1].tags", Value::Flow(vec![Value::Str("smoke".into())])),
        Edit::set("cekura.defaults.personality", Value::Int(7)),
        Edit::set(
            "cekura.test_profiles",
            Value::Seq(vec![Item::new(Value::Map(vec![
                Entry::new("name", Value::Str("Premium".into())),
                Entry::new("main_agent_variables", Value::Map(vec![Entry::new("user_id", Value::Str("U-1".into()))])),
            ]))]),
        ),
    ]);
    insta::assert_snapshot!(diff(&out), @r#"
        --- a/f.yaml
        +++ b/f.yaml
        @@ -4,6 +4,7 @@
           agent: 12   # the agent under test
           defaults:
             max_duration: 300
        +    personality: 7
           evaluators:
             # the first one
             - name: 'Order status'
        @@ -23,3 +24,8 @@
               - 502
               first_message: >
                 Hi there
        +      tags: [smoke]
        +  test_profiles:
        +    - name: Premium
        +      main_agent_variables:
        +        user_id: U-1
        "#);
    assert_eq!(value_at(&out, "cekura.test_profiles[0].main_agent_variables.user_id"), "U-1");
}

#[test]
fn keys_that_are_not_words_and_flow_maps() {
    let text = "vars: {user.id: U-1, name: Jo}\nother: 1\n";
    let out = apply(
        text,
        &[
            Edit::set(key_path("vars", "user.id"), Value::Str("U-2".into())),
            Edit::set("vars.plan", Value::Str("gold".into())),
            Edit::remove("vars.name"),
        ],
    )
    .unwrap();
    assert_eq!(out, "vars: {user.id: U-2, plan: gold}\nother: 1\n");
}

#[test]
fn edge_placements() {
    // An empty value, an insert after a block scalar, a push at the end of a file without a final newline.
    let text = "a:\nb:\n  c: |\n    text\n  d: [x]\ne:\n  - 1";
    let out = apply(
        text,
        &[
            Edit::set("a", Value::Flow(vec![Value::Str("x".into())])),
            Edit::set("b.num", Value::Int(2)),
            Edit::push("e", Value::Int(2)),
        ],
    )
    .unwrap();
    assert_eq!(out, "a: [x]\nb:\n  c: |\n    text\n  d: [x]\n  num: 2\ne:\n  - 1\n  - 2");
    // CRLF files stay CRLF.
    let text = "k: v   # c\r\nl:\r\n  - 1\r\n";
    let out = apply(text, &[Edit::set("k", Value::Str("w".into())), Edit::push("l", Value::Int(2))]).unwrap();
    assert_eq!(out, "k: w   # c\r\nl:\r\n  - 1\r\n  - 2\r\n");
}

#[test]
fn errors_name_the_path() {
    let err = apply(DOC, &[Edit::set("cekura.nothing.here", Value::Int(1))]).unwrap_err();
    assert_eq!(err.to_string(), "there is no `cekura.nothing.here` in the file (nearest: line 4)");
    let err = apply(
        DOC,
        &[Edit::set("cekura.evaluators[0].tags", Value::Flow(vec![])), Edit::remove("cekura.evaluators[0].tags[1]")],
    )
    .unwrap_err();
    assert!(matches!(err, EditError::Overlap { .. }), "{err}");
    let err = apply(DOC, &[Edit::remove("cekura.agent.x")]).unwrap_err();
    assert!(matches!(err, EditError::NoSuchPath { .. }), "{err}");
}

/// A scalar as some style would write it, for documents the property test builds.
fn written(value: &str, style: u8) -> Option<String> {
    match style {
        0 => emit::plain_ok(value, false).then(|| value.to_string()),
        1 => (!value.contains('\n')).then(|| format!("'{}'", value.replace('\'', "''"))),
        2 => Some(emit::double_quoted(value)),
        _ => None,
    }
}

fn text_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z][a-zA-Z0-9 _.,'-]{0,20}[a-z]",
        "[ -~]{0,16}",
        "[a-z ]{1,10}\n[a-z ]{0,10}",
        Just("yes".to_string()),
        Just("12".to_string()),
    ]
}

proptest! {
    /// Replacing one value changes nothing outside that value: the text before and after its old span is kept
    /// byte for byte, and every other key reads back as before.
    #[test]
    fn only_the_edited_value_changes(
        values in proptest::collection::vec((text_strategy(), 0u8..3, any::<bool>()), 2..6),
        target in any::<proptest::sample::Index>(),
        new in text_strategy(),
    ) {
        let mut text = String::from("# head\nroot:\n");
        let mut keys = Vec::new();
        for (i, (v, style, comment)) in values.iter().enumerate() {
            let Some(w) = written(v, *style).or_else(|| written(v, 2)) else { continue };
            text.push_str(&format!("  k{i}: {w}"));
            if *comment {
                text.push_str("  # note");
            }
            text.push('\n');
            keys.push(format!("root.k{i}"));
        }
        let path = keys[target.index(keys.len())].clone();
        let out = apply(&text, &[Edit::set(path.clone(), Value::Text(new.clone()))]).unwrap();
        prop_assert_eq!(value_at(&out, &path), serde_yaml::Value::String(new.clone()));
        for k in keys.iter().filter(|k| **k != path) {
            prop_assert_eq!(value_at(&out, k), value_at(&text, k));
        }
        let root = yaml::parse_tree(&text).unwrap().unwrap();
        let key = path.rsplit('.').next().unwrap();
        let span = root.get("root").unwrap().get(key).unwrap().span;
        let key_end = text[..span.start].rfind(':').unwrap();
        prop_assert!(out.starts_with(&text[..key_end]));
        let tail = &text[text[span.end..].find('\n').map_or(text.len(), |i| span.end + i)..];
        let tail_kept = tail.trim_start_matches(|c| c != '\n');
        prop_assert!(out.ends_with(tail_kept), "{:?}\n{:?}", text, out);
        if text.contains("  # note") {
            prop_assert_eq!(out.matches("# note").count(), text.matches("# note").count());
        }
    }
}

#[test]
fn blocks_with_leading_blank_lines_keep_them_when_edited() {
    for (doc, new) in [
        ("k: |\n\n  a\n  b\nz: 1\n", "\nc\nd\n"),
        ("k: |\n\n  a\n  b\nz: 1\n", "c\nd\n"),
        ("k: |-\n  a\n  b\nz: 1\n", "\nc\nd"),
        ("k: |\n  a\n  b\nz: 1\n", "\nc\nd\n"),
        ("k:\n  - |\n\n    a\n  - x\n", "\nc\n"),
    ] {
        let path = if doc.starts_with("k:\n") { "k[0]" } else { "k" };
        let out = apply(doc, &[Edit::set(path, Value::Text(new.to_string()))]).unwrap();
        assert_eq!(value_at(&out, path).as_str(), Some(new), "{doc:?} -> {out}");
    }
}
