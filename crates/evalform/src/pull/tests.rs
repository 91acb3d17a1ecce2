use std::path::PathBuf;

use super::*;
use crate::manifest::{load_texts, EnvMode, LoadOptions, ManifestFile};
use crate::model::{MetricInfo, PersonalityInfo};
use crate::plan::{plan, PlanSettings};

const LOCAL: &str = r#"# Support line
version: 1
cekura:
  agent: 12
  test_profiles:
    - name: Premium caller   # the gold tier
      id: 55
      main_agent_variables:
        user_id: U-42
        api_token: "${env:SUPPORT_TOKEN}"
  defaults:
    max_duration: 300   # five minutes
    instructions_suffix: "\nAlways confirm the caller's name before ending."
  evaluators:
    # Orders
    - name: Order status inquiry
      id: 101
      instructions: |
        You are a customer calling about order 12345.
      expected_outcome: The agent gives the delivery date.
      personality: Normal Male
      metrics: [call_success, latency]   # slugs
      tags: [smoke, orders]
      test_profile: Premium caller
    - name: Refund
      instructions: Ask for a refund.
      tools:
        - TOOL_END_CALL   # always
        - TOOL_DTMF
    - name: Book a cleaning
      type: conditional_actions
      conditional_actions:
        role: A patient
        conditions:
          - {id: 0, condition: FIRST_MESSAGE, action: "Hi, I'd like to book a cleaning.", fixed_message: true}
          - id: 1   # the closing
            condition: The agent confirms the booking
            action: "Thanks! <endcall />"
"#;

/// The platform's side, written as a manifest with every id pinned and every reference an id.
const REMOTE: &str = r#"version: 1
cekura:
  agent: 12
  test_profiles:
    - name: Premium caller
      id: 55
      main_agent_variables: {user_id: U-43, api_token: other-secret, region: eu}
  evaluators:
    - name: Order status (renamed)
      id: 101
      instructions: "You are a customer calling about order 12345 and 67890.\nAlways confirm the caller's name before ending."
      expected_outcome: The agent gives the delivery date.
      personality: 8
      metrics: [501, 507]
      tags: [smoke, orders, billing]
      test_profile: 55
      max_duration: 600
    - name: Refund
      id: 102
      instructions: "Ask for a refund politely.\nAlways confirm the caller's name before ending."
      tools: [TOOL_END_CALL, TOOL_TRANSFER_CALL]
      max_duration: 300
    - name: Book a cleaning
      id: 103
      type: conditional_actions
      conditional_actions:
        role: A patient booking a cleaning
        conditions:
          - {id: 0, condition: FIRST_MESSAGE, action: "Hello, I'd like to book a cleaning.", fixed_message: true}
          - {id: 1, condition: The agent confirms the booking, action: "Thank you! <endcall />", fixed_message: true}
      max_duration: 300
    - name: Only here
      id: 104
      instructions: Exists only on the platform.
"#;

fn env(name: &str) -> Option<String> {
    (name == "SUPPORT_TOKEN").then(|| "local-secret".to_string())
}

fn load(text: &str) -> Manifests {
    let opts = LoadOptions { env: &env, mode: EnvMode::Required, environment: None };
    let file = ManifestFile { path: PathBuf::from("support.yaml"), text: text.to_string() };
    load_texts(vec![file], &opts).unwrap_or_else(|d| panic!("{}", d.render(false)))
}

fn observed(remote: &str) -> Observed {
    let mut state = load(remote).state;
    for agent in state.agents.values_mut() {
        for e in &mut agent.evaluators {
            e.ignore_changes.clear();
        }
    }
    let catalog = Catalog {
        metrics: [(501, "call_success"), (503, "latency"), (507, "identity_verified")]
            .into_iter()
            .map(|(id, slug)| MetricInfo { id, slug: Some(slug.into()), name: slug.into() })
            .collect(),
        personalities: [(7, "Normal Male"), (8, "Normal Female")]
            .into_iter()
            .map(|(id, name)| PersonalityInfo { id, name: name.into() })
            .collect(),
    };
    Observed { state, catalogs: [(12, catalog)].into_iter().collect() }
}

/// Pull, and return the diff, the reports, and the changes a plan on the edited manifests still shows.
fn pulled(local: &str, remote: &str, defaults: DefaultsChoice) -> (String, String, Vec<String>) {
    let manifests = load(local);
    let observed = observed(remote);
    let result = pull(&manifests, &observed, &PullOptions { defaults });
    let mut after = local.to_string();
    for f in &result.files {
        after = crate::yaml::edit::apply(local, &f.edits).unwrap_or_else(|e| panic!("{e}\n{:#?}", f.edits));
    }
    let diff = crate::yaml::edit::unified_diff("support.yaml", local, &after);
    let reports: Vec<String> = result
        .not_placed
        .iter()
        .map(|n| format!("{n}{}", n.hint.as_ref().map(|h| format!("\n  hint: {h}")).unwrap_or_default()))
        .collect();
    let again = pull(&load(&after), &observed, &PullOptions { defaults });
    assert_eq!(again.files, vec![], "a second pull edits nothing");
    let replan = plan(&load(&after).state, &observed, &PlanSettings::default()).unwrap();
    let left: Vec<String> = replan
        .changes
        .iter()
        .filter(|c| matches!(c.action, crate::plan::Action::Update))
        .flat_map(|c| c.fields.iter().map(move |f| format!("{} {}", c.address, f.field)))
        .collect();
    (diff, reports.join("\n"), left)
}

#[test]
fn every_managed_field_kind_is_pulled_and_comments_stay() {
    let (diff, reports, left) = pulled(LOCAL, REMOTE, DefaultsChoice::Report);
    insta::assert_snapshot!(diff, @r#"
        --- a/support.yaml
        +++ b/support.yaml
        @@ -6,33 +6,35 @@
             - name: Premium caller   # the gold tier
               id: 55
               main_agent_variables:
        -        user_id: U-42
        +        user_id: U-43
                 api_token: "${env:SUPPORT_TOKEN}"
        +        region: eu
           defaults:
             max_duration: 300   # five minutes
             instructions_suffix: "\nAlways confirm the caller's name before ending."
           evaluators:
             # Orders
        -    - name: Order status inquiry
        +    - name: Order status (renamed)
               id: 101
        -      instructions: |
        -        You are a customer calling about order 12345.
        +      instructions: |-
        +        You are a customer calling about order 12345 and 67890.
               expected_outcome: The agent gives the delivery date.
        -      personality: Normal Male
        -      metrics: [call_success, latency]   # slugs
        -      tags: [smoke, orders]
        +      personality: Normal Female
        +      metrics: [call_success, identity_verified]   # slugs
        +      tags: [smoke, orders, billing]
               test_profile: Premium caller
             - name: Refund
        -      instructions: Ask for a refund.
        +      instructions: Ask for a refund politely.
               tools:
                 - TOOL_END_CALL   # always
        -        - TOOL_DTMF
        +        - TOOL_TRANSFER_CALL
             - name: Book a cleaning
               type: conditional_actions
               conditional_actions:
        -        role: A patient
        +        role: A patient booking a cleaning
                 conditions:
        -          - {id: 0, condition: FIRST_MESSAGE, action: "Hi, I'd like to book a cleaning.", fixed_message: true}
        +          - {id: 0, condition: FIRST_MESSAGE, action: "Hello, I'd like to book a cleaning.", fixed_message: true}
                   - id: 1   # the closing
                     condition: The agent confirms the booking
        -            action: "Thanks! <endcall />"
        +            action: "Thank you! <endcall />"
        +            fixed_message: true
        "#);
    insta::assert_snapshot!(reports, @r#"
        cekura.agent[12].evaluator["Only here"]: exists only on the platform (id 104); pull does not add evaluators
          hint: adopt it into these manifests with `evalform import --evaluator 104`
        cekura.agent[12].evaluator["Order status inquiry"] max_duration (support.yaml:12:5): changed on the platform, but its value comes from `defaults` shared by 3 evaluators
          hint: rerun with --override to set it on this evaluator, or --default to change the default
        cekura.agent[12].test_profile["Premium caller"] main_agent_variables.api_token (support.yaml:10:9): comes from ${env:SUPPORT_TOKEN}; not written
          hint: set the variable in the environment (or the secret store) to the platform's value
        "#);
    insta::assert_debug_snapshot!(left, @r#"
        [
            "cekura.agent[12].test_profile[\"Premium caller\"] main_agent_variables.api_token",
            "cekura.agent[12].evaluator[\"Order status (renamed)\"] max_duration",
        ]
        "#);
    assert!(!diff.contains("local-secret") && !diff.contains("other-secret"));
}

#[test]
fn defaults_are_overridden_on_the_evaluator() {
    let (diff, reports, left) = pulled(LOCAL, REMOTE, DefaultsChoice::Override);
    insta::assert_snapshot!(diff, @r#"
        --- a/support.yaml
        +++ b/support.yaml
        @@ -6,33 +6,36 @@
             - name: Premium caller   # the gold tier
               id: 55
               main_agent_variables:
        -        user_id: U-42
        +        user_id: U-43
                 api_token: "${env:SUPPORT_TOKEN}"
        +        region: eu
           defaults:
             max_duration: 300   # five minutes
             instructions_suffix: "\nAlways confirm the caller's name before ending."
           evaluators:
             # Orders
        -    - name: Order status inquiry
        +    - name: Order status (renamed)
               id: 101
        -      instructions: |
        -        You are a customer calling about order 12345.
        +      instructions: |-
        +        You are a customer calling about order 12345 and 67890.
               expected_outcome: The agent gives the delivery date.
        -      personality: Normal Male
        -      metrics: [call_success, latency]   # slugs
        -      tags: [smoke, orders]
        +      personality: Normal Female
        +      metrics: [call_success, identity_verified]   # slugs
        +      tags: [smoke, orders, billing]
               test_profile: Premium caller
        +      max_duration: 600
             - name: Refund
        -      instructions: Ask for a refund.
        +      instructions: Ask for a refund politely.
               tools:
                 - TOOL_END_CALL   # always
        -        - TOOL_DTMF
        +        - TOOL_TRANSFER_CALL
             - name: Book a cleaning
               type: conditional_actions
               conditional_actions:
        -        role: A patient
        +        role: A patient booking a cleaning
                 conditions:
        -          - {id: 0, condition: FIRST_MESSAGE, action: "Hi, I'd like to book a cleaning.", fixed_message: true}
        +          - {id: 0, condition: FIRST_MESSAGE, action: "Hello, I'd like to book a cleaning.", fixed_message: true}
                   - id: 1   # the closing
                     condition: The agent confirms the booking
        -            action: "Thanks! <endcall />"
        +            action: "Thank you! <endcall />"
        +            fixed_message: true
        "#);
    insta::assert_snapshot!(reports, @r#"
        cekura.agent[12].evaluator["Only here"]: exists only on the platform (id 104); pull does not add evaluators
          hint: adopt it into these manifests with `evalform import --evaluator 104`
        cekura.agent[12].test_profile["Premium caller"] main_agent_variables.api_token (support.yaml:10:9): comes from ${env:SUPPORT_TOKEN}; not written
          hint: set the variable in the environment (or the secret store) to the platform's value
        "#);
    insta::assert_debug_snapshot!(left, @r#"
        [
            "cekura.agent[12].test_profile[\"Premium caller\"] main_agent_variables.api_token",
        ]
        "#);
}

#[test]
fn a_default_changes_only_when_every_user_changed() {
    let (_, reports, _) = pulled(LOCAL, REMOTE, DefaultsChoice::Default);
    insta::assert_snapshot!(reports, @r#"
        cekura.agent[12].evaluator["Only here"]: exists only on the platform (id 104); pull does not add evaluators
          hint: adopt it into these manifests with `evalform import --evaluator 104`
        cekura.agent[12].evaluator["Order status inquiry"] max_duration (support.yaml:12:5): comes from `defaults`; not changed there: only 1 of the 3 evaluators that use it changed on the platform
          hint: rerun with --override to set it on this evaluator
        cekura.agent[12].test_profile["Premium caller"] main_agent_variables.api_token (support.yaml:10:9): comes from ${env:SUPPORT_TOKEN}; not written
          hint: set the variable in the environment (or the secret store) to the platform's value
        "#);
    let all_changed = REMOTE.replace("max_duration: 300", "max_duration: 600");
    let (diff, reports, left) = pulled(LOCAL, &all_changed, DefaultsChoice::Default);
    insta::assert_snapshot!(diff, @r#"
        --- a/support.yaml
        +++ b/support.yaml
        @@ -6,33 +6,35 @@
             - name: Premium caller   # the gold tier
               id: 55
               main_agent_variables:
        -        user_id: U-42
        +        user_id: U-43
                 api_token: "${env:SUPPORT_TOKEN}"
        +        region: eu
           defaults:
        -    max_duration: 300   # five minutes
        +    max_duration: 600   # five minutes
             instructions_suffix: "\nAlways confirm the caller's name before ending."
           evaluators:
             # Orders
        -    - name: Order status inquiry
        +    - name: Order status (renamed)
               id: 101
        -      instructions: |
        -        You are a customer calling about order 12345.
        +      instructions: |-
        +        You are a customer calling about order 12345 and 67890.
               expected_outcome: The agent gives the delivery date.
        -      personality: Normal Male
        -      metrics: [call_success, latency]   # slugs
        -      tags: [smoke, orders]
        +      personality: Normal Female
        +      metrics: [call_success, identity_verified]   # slugs
        +      tags: [smoke, orders, billing]
               test_profile: Premium caller
             - name: Refund
        -      instructions: Ask for a refund.
        +      instructions: Ask for a refund politely.
               tools:
                 - TOOL_END_CALL   # always
        -        - TOOL_DTMF
        +        - TOOL_TRANSFER_CALL
             - name: Book a cleaning
               type: conditional_actions
               conditional_actions:
        -        role: A patient
        +        role: A patient booking a cleaning
                 conditions:
        -          - {id: 0, condition: FIRST_MESSAGE, action: "Hi, I'd like to book a cleaning.", fixed_message: true}
        +          - {id: 0, condition: FIRST_MESSAGE, action: "Hello, I'd like to book a cleaning.", fixed_message: true}
                   - id: 1   # the closing
                     condition: The agent confirms the booking
        -            action: "Thanks! <endcall />"
        +            action: "Thank you! <endcall />"
        +            fixed_message: true
        "#);
    insta::assert_snapshot!(reports, @r#"
        cekura.agent[12].evaluator["Only here"]: exists only on the platform (id 104); pull does not add evaluators
          hint: adopt it into these manifests with `evalform import --evaluator 104`
        cekura.agent[12].test_profile["Premium caller"] main_agent_variables.api_token (support.yaml:10:9): comes from ${env:SUPPORT_TOKEN}; not written
          hint: set the variable in the environment (or the secret store) to the platform's value
        "#);
    insta::assert_debug_snapshot!(left, @r#"
        [
            "cekura.agent[12].test_profile[\"Premium caller\"] main_agent_variables.api_token",
        ]
        "#);
}

#[test]
fn tela_test_cases_are_pulled() {
    let local = r#"version: 1
tela:
  prompt: 5f0c2a4e-0000-4000-8000-000000000001
  test_cases:
    - title: Order has not arrived   # the classic
      messages:
        - {role: user, content: My order hasn't arrived yet.}
        - role: assistant
          content: Sorry to hear that.   # keep
      variables: {customer_name: John Doe, token: "${env:SUPPORT_TOKEN}"}
      expected_output: I'll help you track down your order.
"#;
    let remote = r#"version: 1
tela:
  prompt: 5f0c2a4e-0000-4000-8000-000000000001
  test_cases:
    - title: Order has not arrived
      messages:
        - {role: user, content: "My order hasn't arrived, it's late."}
        - {role: assistant, content: Sorry to hear that!}
      variables: {customer_name: Jane Doe, token: remote-secret}
      expected_output: |-
        I'll help you track down your order.
        First, your order number?
    - title: Only on Tela
      expected_output: Something.
"#;
    let (diff, reports, left) = pulled(local, remote, DefaultsChoice::Report);
    insta::assert_snapshot!(diff, @r#"
        --- a/support.yaml
        +++ b/support.yaml
        @@ -4,8 +4,10 @@
           test_cases:
             - title: Order has not arrived   # the classic
               messages:
        -        - {role: user, content: My order hasn't arrived yet.}
        +        - {role: user, content: "My order hasn't arrived, it's late."}
                 - role: assistant
        -          content: Sorry to hear that.   # keep
        -      variables: {customer_name: John Doe, token: "${env:SUPPORT_TOKEN}"}
        -      expected_output: I'll help you track down your order.
        +          content: Sorry to hear that!   # keep
        +      variables: {customer_name: Jane Doe, token: "${env:SUPPORT_TOKEN}"}
        +      expected_output: |-
        +        I'll help you track down your order.
        +        First, your order number?
        "#);
    insta::assert_snapshot!(reports, @r#"
        tela.prompt[5f0c2a4e-0000-4000-8000-000000000001].test_case["Order has not arrived"] variables.token (support.yaml:10:44): comes from ${env:SUPPORT_TOKEN}; not written
          hint: set the variable in the environment (or the secret store) to the platform's value
        tela.prompt[5f0c2a4e-0000-4000-8000-000000000001].test_case["Only on Tela"]: exists only on the platform; pull does not add test cases
          hint: adopt it with `evalform import --prompt 5f0c2a4e-0000-4000-8000-000000000001` and copy it into your manifests
        "#);
    insta::assert_debug_snapshot!(left, @r#"
        [
            "tela.prompt[5f0c2a4e-0000-4000-8000-000000000001].test_case[\"Order has not arrived\"] variables.token",
        ]
        "#);
}

#[test]
fn a_renamed_test_profile_is_followed_and_a_vanished_value_is_reported() {
    let local = r#"version: 1
cekura:
  agent: 12
  test_profiles:
    - {name: Premium caller, id: 55, main_agent_variables: {user_id: U-42}}
  defaults:
    test_profile: Premium caller
  evaluators:
    - name: Order status
      id: 101
      language: en
    - name: Refund
      id: 102
      test_profile: Premium caller   # by name
"#;
    let remote = r#"version: 1
cekura:
  agent: 12
  test_profiles:
    - {name: Gold caller, id: 55, main_agent_variables: {user_id: U-42}}
  evaluators:
    - {name: Order status, id: 101, test_profile: 55}
    - {name: Refund, id: 102, test_profile: 55}
"#;
    let (diff, reports, _) = pulled(local, remote, DefaultsChoice::Report);
    insta::assert_snapshot!(diff, @r#"
        --- a/support.yaml
        +++ b/support.yaml
        @@ -2,13 +2,13 @@
         cekura:
           agent: 12
           test_profiles:
        -    - {name: Premium caller, id: 55, main_agent_variables: {user_id: U-42}}
        +    - {name: Gold caller, id: 55, main_agent_variables: {user_id: U-42}}
           defaults:
        -    test_profile: Premium caller
        +    test_profile: Gold caller
           evaluators:
             - name: Order status
               id: 101
               language: en
             - name: Refund
               id: 102
        -      test_profile: Premium caller   # by name
        +      test_profile: Gold caller   # by name
        "#);
    insta::assert_snapshot!(reports, @r#"
        cekura.agent[12].evaluator["Order status"] language (support.yaml:11:7): has no value on the platform any more; the manifest cannot say "none" for it
          hint: remove `language` from the manifest to stop managing it, or `evalform apply` to set it again
        "#);
}

mod sets {
    use proptest::prelude::*;

    use super::super::{edits_for, Want};
    use crate::model::Catalog;
    use crate::yaml;

    const WORDS: [&str; 6] = ["smoke", "orders", "billing", "a-b", "yes", "x y"];

    fn render(items: &[&str], block: bool) -> String {
        let quoted = |w: &str| crate::yaml::emit::scalar(w, !block);
        let mut text = String::from("root:\n  before: 1   # kept\n  list:");
        if block {
            for w in items {
                text.push_str(&format!("\n    - {}   # note {w}", quoted(w)));
            }
        } else {
            let parts: Vec<String> = items.iter().map(|w| quoted(w)).collect();
            text.push_str(&format!(" [{}]   # the list", parts.join(", ")));
        }
        text.push_str("\n  after: x\n");
        text
    }

    proptest! {
        /// A set edited item by item reads back as the wanted set; items that stay keep their comments, and the
        /// keys around the list do not change.
        #[test]
        fn set_edits_reach_the_wanted_set(
            have in proptest::sample::subsequence(WORDS.to_vec(), 1..6).prop_shuffle(),
            want in proptest::sample::subsequence(WORDS.to_vec(), 0..6),
            block in any::<bool>(),
        ) {
            let text = render(&have, block);
            let root = yaml::parse_tree(&text).unwrap().unwrap();
            let node = root.get("root").and_then(|r| r.get("list"));
            let target = want.iter().map(|w| w.to_string()).collect();
            let edits = edits_for("root.list", node, &Want::Strings(target), &Catalog::default());
            let out = crate::yaml::edit::apply(&text, &edits).unwrap();
            let value: serde_yaml::Value = serde_yaml::from_str(&out).unwrap();
            let mut got: Vec<String> =
                value["root"]["list"].as_sequence().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
            got.sort();
            let mut wanted: Vec<String> = want.iter().map(|w| w.to_string()).collect();
            wanted.sort();
            prop_assert_eq!(got, wanted);
            prop_assert_eq!(value["root"]["before"].as_u64(), Some(1));
            prop_assert_eq!(value["root"]["after"].as_str(), Some("x"));
            prop_assert!(out.starts_with("root:\n  before: 1   # kept\n  list:"), "{}", out);
            if block {
                for w in have.iter().filter(|w| want.contains(w)) {
                    let note = format!("# note {w}");
                    prop_assert!(out.contains(&note), "{}", out);
                }
            } else if !want.is_empty() {
                prop_assert!(out.contains("# the list"), "{}", out);
            }
        }
    }
}

#[test]
fn a_literal_env_reference_on_the_platform_is_pulled_escaped() {
    // The round trip through the loader needs the loader's `$${env:` escape; this checks the written value.
    let manifests = load(LOCAL);
    let mut observed = observed(REMOTE);
    let agent = observed.state.agents.get_mut(&12).unwrap();
    let refund = agent
        .evaluators
        .iter_mut()
        .find(
            |e| matches!(&e.spec.script, Some(Script::Text(t)) if t.expose().starts_with("Ask for a refund politely")),
        )
        .unwrap();
    refund.spec.script = Some(Script::Text(Text::new("Read ${env:HOME} aloud.")));
    let result = pull(&manifests, &observed, &PullOptions { defaults: DefaultsChoice::Override });
    let values: Vec<String> = result
        .files
        .iter()
        .flat_map(|f| f.edits.iter())
        .filter_map(|e| match &e.change {
            crate::yaml::edit::Change::Set(Value::Text(s) | Value::Str(s) | Value::Block(s)) => Some(s.clone()),
            _ => None,
        })
        .collect();
    assert!(values.iter().any(|v| v.contains("Read $${env:HOME} aloud.")), "{values:?}");
    assert!(!values.iter().any(|v| v.contains("Read ${env:HOME}")), "{values:?}");
}
