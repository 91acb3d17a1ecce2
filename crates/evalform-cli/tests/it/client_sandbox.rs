//! The API clients and the fetcher against the sandbox (`evalform_sandbox`), with its fault injection on:
//! reads complete under 30% injected 5xx/429; a dropped write is reported as outcome-unknown and the sandbox's
//! request log proves it was sent once; what the fetcher reads back from the sandbox's shapes is normalised
//! into the manifests' types.

use evalform::cekura::{fetch_agent, CekuraClient, FetchOptions};
use evalform::http::{ApiError, HttpSettings};
use evalform::model::{ConditionKind, Information, MetricRef, NamedRef, ProfileRef, Script, Text};
use evalform::secret::ApiKey;
use evalform::tela::{fetch_prompt, TelaClient};
use evalform_sandbox::{FaultConfig, FaultKind, RequestOutcome, RunningSandbox, Sandbox, SandboxConfig};
use serde_json::json;

const PROMPT: &str = "5f0c2a4e-0000-4000-8000-000000000001";

async fn sandbox() -> RunningSandbox {
    Sandbox::start(0, SandboxConfig::default()).await.expect("start the sandbox")
}

fn settings() -> HttpSettings {
    // Generous retries: with 30% of reads failing, a request failing 13 times in a row is ~1 in 6 million.
    HttpSettings { max_retries: 12, parallelism: 8, ..HttpSettings::fast_for_tests() }
}

fn cekura(sb: &RunningSandbox) -> CekuraClient {
    CekuraClient::new(&sb.base_url(), ApiKey::new("sandbox-key"), settings()).unwrap()
}

fn count(sb: &RunningSandbox, method: &str, path: &str) -> usize {
    sb.requests().iter().filter(|r| r.method == method && r.path == path).count()
}

/// `n` plain evaluators on agent 1, created through the API with no faults.
async fn create_evaluators(client: &CekuraClient, n: usize) -> Vec<u64> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let body = json!({
            "name": format!("Evaluator {i:03}"), "agent": 1, "personality": 7,
            "instructions": format!("Call about order {i}."), "expected_outcome_prompt": "The agent helps.",
            "metrics": [501, 502], "tags": ["smoke"], "tool_ids": ["TOOL_END_CALL"],
        });
        ids.push(client.create_scenario(&body).await.expect("create an evaluator").item.id);
    }
    // Create does not take max_duration (only PUT and adv_update do), and the list does not return it.
    client.adv_update(&json!({"scenarios": ids, "agent": 1, "max_duration": 240})).await.expect("set max_duration");
    ids
}

#[tokio::test]
async fn sandbox_reads_complete_under_30_percent_injected_5xx_and_429() {
    let sb = sandbox().await;
    let client = cekura(&sb);
    let ids = create_evaluators(&client, 230).await;
    sb.set_faults(FaultConfig {
        seed: 7,
        rate_429: 0.15,
        retry_after_secs: 0,
        rate_5xx: 0.15,
        server_error_status: 503,
        method: Some("GET".into()),
        ..FaultConfig::default()
    });
    sb.clear_requests();

    let opts = FetchOptions { need_max_duration: true, ..FetchOptions::default() };
    let fetched = fetch_agent(&client, 1, &opts).await.expect("every read completes through the faults");
    let evaluators = &fetched.state.evaluators;
    assert_eq!(evaluators.len(), ids.len());
    assert!(evaluators.iter().all(|e| e.spec.max_duration.is_some()), "every single read completed");
    assert_eq!(evaluators[5].spec.max_duration, Some(240));

    let log = sb.requests();
    let injected =
        log.iter().filter(|r| matches!(r.outcome, RequestOutcome::Injected429 | RequestOutcome::Injected5xx));
    let injected = injected.count();
    let share = injected as f64 / log.len() as f64;
    assert!((0.2..0.4).contains(&share), "{injected} of {} requests were faulted", log.len());
}

#[tokio::test]
async fn sandbox_a_dropped_write_is_outcome_unknown_and_was_sent_once() {
    let sb = sandbox().await;
    let client = cekura(&sb);
    let ids = create_evaluators(&client, 2).await;
    sb.set_faults(FaultConfig::fail_next(FaultKind::DropAfterCommit, 1, Some("POST"), Some("adv_update")));
    sb.clear_requests();

    let body = json!({"scenarios": ids, "agent": 1, "append_instruction": "\nConfirm the name."});
    let err = client.adv_update(&body).await.unwrap_err();
    assert!(matches!(err, ApiError::OutcomeUnknown { .. }), "{err}");
    assert!(err.to_string().starts_with("POST /test_framework/v1/scenarios/adv_update/: outcome unknown: "), "{err}");

    let sent: Vec<_> = sb.requests().into_iter().filter(|r| r.path.ends_with("/adv_update/")).collect();
    assert_eq!(sent.len(), 1, "the write was sent exactly once: {sent:?}");
    assert_eq!(sent[0].outcome, RequestOutcome::DroppedAfterCommit);
    // It was committed: reading settles the unknown outcome; the text was appended once, not twice.
    let after = client.get_scenario(ids[0]).await.unwrap();
    assert_eq!(after.item.instructions.matches("Confirm the name.").count(), 1, "{:?}", after.item.instructions);
}

#[tokio::test]
async fn sandbox_a_write_answered_5xx_is_outcome_unknown_and_sent_once() {
    let sb = sandbox().await;
    let client = cekura(&sb);
    let ids = create_evaluators(&client, 1).await;
    sb.set_faults(FaultConfig::fail_next(FaultKind::ServerError, 1, Some("PATCH"), None));
    sb.clear_requests();
    let err = client.patch_scenario(ids[0], &json!({"tags": ["a"]})).await.unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
    assert_eq!(sb.requests().len(), 1);
}

#[tokio::test]
async fn sandbox_a_throttled_post_is_outcome_unknown_and_sent_once() {
    let sb = sandbox().await;
    let client = cekura(&sb);
    let mut faults = FaultConfig::fail_next(FaultKind::TooManyRequests, 2, Some("POST"), Some("create_folder"));
    faults.retry_after_secs = 0;
    sb.set_faults(faults);
    let err = client.create_folder(1, "Sales", None).await.unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
    assert_eq!(count(&sb, "POST", "/test_framework/v1/scenarios/create_folder/"), 1);
}

#[tokio::test]
async fn sandbox_a_throttled_patch_is_retried_and_applied_once() {
    let sb = sandbox().await;
    let client = cekura(&sb);
    let ids = create_evaluators(&client, 1).await;
    let mut faults = FaultConfig::fail_next(FaultKind::TooManyRequests, 2, Some("PATCH"), None);
    faults.retry_after_secs = 0;
    sb.set_faults(faults);
    sb.clear_requests();
    client.patch_scenario(ids[0], &json!({"tags": ["a"]})).await.expect("patched after two 429s");
    assert_eq!(sb.requests().len(), 3);
}

#[tokio::test]
async fn sandbox_rejections_carry_the_platform_message() {
    let sb = sandbox().await;
    let err = cekura(&sb).create_scenario(&json!({"name": "No personality", "agent": 1})).await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(err.to_string().starts_with("POST /test_framework/v1/scenarios/: 400 Bad Request: personality: "), "{err}");
    let missing = cekura(&sb).get_scenario(999_999).await.unwrap_err();
    assert_eq!(missing.status(), Some(404), "{missing}");
}

#[tokio::test]
async fn sandbox_fetch_normalises_what_the_sandbox_stores() {
    let sb = sandbox().await;
    let client = cekura(&sb);
    client.create_folder(1, "Sales", None).await.unwrap();
    client.create_folder(1, "Inbound", Some("Sales")).await.unwrap();
    let profile = client
        .create_test_profile(&json!({"name": "Premium caller", "agent": 1, "information": {
            "main_agent_variables": {"user_id": "U-42"}, "testing_agent_variables": {"customer_name": "John Doe"}}}))
        .await
        .unwrap();
    let order = client
        .create_scenario(&json!({
            "name": "Order status", "agent": 1, "personality": 8, "instructions": "Ask about order 1.\n\n",
            "expected_outcome_prompt": "Date given.", "metrics": [502, 501], "tags": ["b", "a"],
            "tool_ids": ["TOOL_DTMF", "TOOL_END_CALL"], "phone_number": 44, "folder_path": "Sales.Inbound",
            "test_profile": profile.id}))
        .await
        .unwrap();
    let order_id = order.item.id;
    let mut full = json!({
        "name": "Order status", "agent": 1, "personality": 8, "instructions": "Ask about order 1.\n\n",
        "expected_outcome_prompt": "Date given.", "metrics": [502, 501], "tags": ["b", "a"],
        "tool_ids": ["TOOL_DTMF", "TOOL_END_CALL"], "phone_number": 44, "folder_path": "Sales.Inbound",
        "test_profile": profile.id});
    full["scenario_language"] = json!("de");
    client.put_scenario(order_id, &full).await.expect("PUT takes scenario_language");
    client.adv_update(&json!({"scenarios": [order_id], "agent": 1, "max_duration": 300})).await.unwrap();
    client
        .create_scenario(&json!({
            "name": "Book a cleaning", "agent": 1, "personality": 7, "scenario_type": "conditional_actions",
            "conditional_actions": {"role": "A patient", "conditions": [
                {"id": 0, "condition": "FIRST_MESSAGE", "action": "Hi", "fixed_message": true},
                {"id": 1, "condition": "The agent confirms", "action": "Thanks! <endcall />"}]}}))
        .await
        .unwrap();

    let opts = FetchOptions { need_max_duration: true, ..FetchOptions::default() };
    let fetched = fetch_agent(&client, 1, &opts).await.unwrap();
    let st = &fetched.state;
    assert_eq!(st.project, Some(1));
    assert_eq!(st.folders.iter().cloned().collect::<Vec<_>>(), vec!["Sales", "Sales.Inbound"]);
    let Some(Information::Sectioned { main_agent_variables, .. }) = &st.test_profiles[0].information else {
        panic!("{:?}", st.test_profiles)
    };
    assert_eq!(main_agent_variables["user_id"], Text::new("U-42"));

    let order = st.evaluators.iter().find(|e| e.name == "Order status").unwrap();
    let s = &order.spec;
    assert_eq!(s.script, Some(Script::Text(Text::new("Ask about order 1."))));
    assert_eq!(s.metrics, Some([MetricRef::Id(501), MetricRef::Id(502)].into()));
    assert_eq!(s.tags, Some(["a".to_string(), "b".to_string()].into()));
    assert_eq!(s.phone_number, Some(44));
    assert_eq!(s.folder.as_deref(), Some("Sales.Inbound"));
    assert_eq!(s.personality, Some(NamedRef::Id(8)));
    assert_eq!(s.test_profile, Some(ProfileRef::Id(profile.id)));
    assert_eq!(s.max_duration, Some(300));
    assert_eq!(s.language.as_deref(), Some("de"));

    let book = st.evaluators.iter().find(|e| e.name == "Book a cleaning").unwrap();
    let Some(Script::Flow(flow)) = &book.spec.script else { panic!("{:?}", book.spec.script) };
    assert_eq!(flow.conditions[1].kind, ConditionKind::Standard);
    assert!(flow.conditions[0].fixed_message && !flow.conditions[1].fixed_message);
    assert_eq!(book.spec.folder.as_deref(), Some(""));

    assert!(fetched.catalog.metrics.iter().any(|m| m.slug.as_deref() == Some("call_success")));
    assert_eq!(fetched.phone_numbers.get(&44).map(String::as_str), Some("+14155550144"));

    // Read twice, the same: nothing in the normalised state depends on order or timing.
    let again = fetch_agent(&client, 1, &opts).await.unwrap();
    assert_eq!(again.state, fetched.state);
}

#[tokio::test]
async fn sandbox_tela_test_cases_round_trip() {
    let sb = sandbox().await;
    let tela = TelaClient::new(&sb.base_url(), ApiKey::new("tela-key"), settings()).unwrap();
    let created = tela
        .create_test_cases(&[
            json!({"promptId": PROMPT, "title": "Late order", "messages": [{"role": "user", "content": "Where is it?  \r\n"}],
                   "variables": {"customer_name": "John Doe"}, "expectedOutput": "I'll check."}),
            json!({"promptId": PROMPT, "title": "Refund", "messages": [], "expectedOutput": "Refunded."}),
        ])
        .await
        .unwrap();
    assert_eq!(created.len(), 2);
    tela.patch_test_case(&created[1].id, &json!({"expectedOutput": "Refund issued."})).await.unwrap();
    let one = tela.get_test_case(&created[1].id).await.unwrap();
    assert_eq!(one.expected_output.as_deref(), Some("Refund issued."));

    let prompt = fetch_prompt(&tela, PROMPT).await.unwrap();
    let late = prompt.test_cases.iter().find(|t| t.title == "Late order").unwrap();
    assert_eq!(late.messages.as_ref().unwrap()[0].content, Text::new("Where is it?"));
    assert_eq!(late.variables.as_ref().unwrap()["customer_name"], Text::new("John Doe"));
    assert_eq!(prompt.test_cases.len(), 2);
}

#[tokio::test]
async fn sandbox_a_key_never_reaches_the_request_log_or_errors() {
    let sb = sandbox().await;
    let client = CekuraClient::new(&sb.base_url(), ApiKey::new("very-secret-key"), settings()).unwrap();
    let err = client.get_scenario(424_242).await.unwrap_err();
    let everything = format!("{err} {err:?} {client:?} {:?}", sb.requests());
    assert!(!everything.contains("very-secret-key"), "{everything}");
}

const MANIFEST: &str = r#"version: 1
cekura:
  agent: 1
  folders: [Sales, Sales.Inbound]
  test_profiles:
    - name: Premium caller
      main_agent_variables: {user_id: U-42}
      testing_agent_variables: {customer_name: John Doe}
  defaults:
    personality: 7
    metrics: [501, 502]
    tools: [TOOL_END_CALL, TOOL_DTMF]
    max_duration: 300
    instructions_suffix: "\nAlways confirm the caller's name before ending."
  evaluators:
    - name: Order status inquiry
      folder: Sales.Inbound
      instructions: |
        You are a customer calling about order 12345.

        Ask when it will arrive.
      expected_outcome: The agent gives the delivery date.
      first_message: Hi, where is my order?
      test_profile: Premium caller
      tags: [smoke, orders]
      phone_number: 44
    - name: Book a cleaning
      type: conditional_actions
      folder: ""
      tags: []
      conditional_actions:
        role: A patient booking a dental cleaning
        conditions:
          - {id: 0, condition: FIRST_MESSAGE, action: "Hi, I'd like to book a cleaning.", fixed_message: true}
          - {id: 1, condition: The agent confirms the booking, action: "Thanks! <endcall />"}
"#;

/// The promise of the fetcher: a platform that holds what the manifests say reads back equal to the manifests,
/// field by managed field, so a plan of an unchanged platform is empty. The platform is set up here through the
/// API the way the executor would (create, then `adv_update` for what create does not take).
#[tokio::test]
async fn sandbox_a_platform_matching_the_manifest_reads_back_equal() {
    use evalform::manifest::{self, EnvMode, LoadOptions, ManifestFile};
    let env = |_: &str| None;
    let opts = LoadOptions { env: &env, mode: EnvMode::Required, environment: None };
    let files = vec![ManifestFile { path: "specs/a.yaml".into(), text: MANIFEST.to_string() }];
    let desired = manifest::load_texts(files, &opts).expect("the manifest loads").state.agents[&1].clone();

    let sb = sandbox().await;
    let client = cekura(&sb);
    client.create_folder(1, "Sales", None).await.unwrap();
    client.create_folder(1, "Inbound", Some("Sales")).await.unwrap();
    let profile = &desired.test_profiles[0];
    let Some(Information::Sectioned { main_agent_variables, testing_agent_variables }) = &profile.information else {
        panic!("{profile:?}")
    };
    let plain = |m: &std::collections::BTreeMap<String, Text>| -> serde_json::Map<String, serde_json::Value> {
        m.iter().map(|(k, v)| (k.clone(), json!(v.expose()))).collect()
    };
    let created = client
        .create_test_profile(&json!({"name": profile.name, "agent": 1, "information": {
            "main_agent_variables": plain(main_agent_variables),
            "testing_agent_variables": plain(testing_agent_variables)}}))
        .await
        .unwrap();

    let mut ids = Vec::new();
    for e in &desired.evaluators {
        let s = &e.spec;
        let ids_of = |set: &Option<evalform::model::SmallSet<MetricRef>>| -> Vec<u64> {
            set.iter().flatten().map(|m| if let MetricRef::Id(id) = m { *id } else { panic!("{m:?}") }).collect()
        };
        let mut body = json!({
            "name": e.name, "agent": 1, "personality": 7, "metrics": ids_of(&s.metrics),
            "tool_ids": s.tools.iter().flatten().collect::<Vec<_>>(), "tags": s.tags.iter().flatten().collect::<Vec<_>>(),
            "folder_path": s.folder,
        });
        match &s.script {
            Some(Script::Text(t)) => body["instructions"] = json!(t.expose()),
            Some(Script::Flow(flow)) => {
                body["scenario_type"] = json!("conditional_actions");
                body["conditional_actions"] = serde_json::to_value(flow).unwrap();
            }
            None => {}
        }
        if let Some(t) = &s.expected_outcome {
            body["expected_outcome_prompt"] = json!(t.expose());
        }
        if let Some(reference) = &s.test_profile {
            assert_eq!(reference, &ProfileRef::Name(profile.name.clone()));
            body["test_profile"] = json!(created.id);
        }
        if let Some(row) = s.phone_number {
            body["phone_number"] = json!(row);
        }
        let id = client.create_scenario(&body).await.unwrap().item.id;
        let mut bulk = json!({"scenarios": [id], "agent": 1, "max_duration": s.max_duration});
        if let Some(t) = &s.first_message {
            bulk["first_message"] = json!(t.expose());
        }
        client.adv_update(&bulk).await.unwrap();
        ids.push(id);
    }

    let opts = FetchOptions { need_max_duration: true, ..FetchOptions::default() };
    let observed = fetch_agent(&client, 1, &opts).await.unwrap().state;
    assert!(desired.folders.is_subset(&observed.folders), "{:?} vs {:?}", desired.folders, observed.folders);
    assert_eq!(observed.test_profiles[0].information, profile.information);
    for want in &desired.evaluators {
        let got = observed.evaluators.iter().find(|e| e.name == want.name).expect("created");
        let (w, g) = (&want.spec, &got.spec);
        // Every field the manifest manages (Some) reads back equal; unmanaged fields are not compared.
        macro_rules! same {
            ($($field:ident),*) => {$(
                if w.$field.is_some() {
                    assert_eq!(w.$field, g.$field, "{}: {}", want.name, stringify!($field));
                }
            )*};
        }
        same!(folder, script, expected_outcome, first_message, personality, metrics, tools, tags);
        // Names are resolved to ids by the planner, not by the fetcher.
        if w.test_profile.is_some() {
            assert_eq!(g.test_profile, Some(ProfileRef::Id(created.id)), "{}", want.name);
        }
        same!(language, max_duration, phone_number);
    }
}

/// The reads started before the manifests load are used when they are the ones the desired state needs (read
/// once, not again), and ignored when the guess named another project; a guessed agent the state does not name
/// changes nothing.
#[tokio::test]
async fn prefetched_reads_are_used_only_when_they_match_the_desired_state() {
    use evalform::manifest::scan::Targets;
    use evalform::model::{AgentState, State};
    use evalform::remote::Remote;

    let sb = sandbox().await;
    create_evaluators(&cekura(&sb), 3).await;
    let remote = Remote { cekura: Some(cekura(&sb)), tela: None };
    let mut desired = State::default();
    desired.agents.insert(1, AgentState { agent: 1, ..AgentState::default() });
    let plain = remote.observe(&desired).await.unwrap();
    assert_eq!(plain.observed.state.agents[&1].evaluators.len(), 3);

    sb.clear_requests();
    let guess = Targets { agents: [(1, None), (999_999, None)].into_iter().collect(), ..Targets::default() };
    let prefetch = remote.prefetch(&guess);
    assert_eq!(prefetch.len(), 2);
    let used = remote.observe_prefetched(&desired, prefetch).await.unwrap();
    assert_eq!(used.observed.state, plain.observed.state);
    assert_eq!(used.phone_numbers, plain.phone_numbers);
    assert_eq!(count(&sb, "GET", "/test_framework/v1/scenarios/"), 1, "the prefetched list was used, not read again");

    // A guess of another project: its reading (which would be refused as a mismatch) is dropped, the agent read anew.
    let wrong = Targets { agents: [(1, Some(424_242))].into_iter().collect(), ..Targets::default() };
    let prefetch = remote.prefetch(&wrong);
    let reread = remote.observe_prefetched(&desired, prefetch).await.unwrap();
    assert_eq!(reread.observed.state, plain.observed.state);
    sb.shutdown().await;
}

/// `max_duration` is only in an evaluator's single read: a plan reads singly only the evaluators whose manifest
/// manages it (matched by name, or by `id` pin), not every evaluator of the agent.
#[tokio::test]
async fn single_reads_only_for_the_evaluators_that_manage_max_duration() {
    use evalform::model::{AgentState, Evaluator, EvaluatorSpec, State};
    use evalform::remote::Remote;

    let sb = sandbox().await;
    let ids = create_evaluators(&cekura(&sb), 4).await;
    let remote = Remote { cekura: Some(cekura(&sb)), tela: None };
    let managed = |id: Option<u64>, name: &str| Evaluator {
        id,
        name: name.to_string(),
        spec: EvaluatorSpec { max_duration: Some(240), ..EvaluatorSpec::default() },
        ignore_changes: Default::default(),
        source: None,
    };
    let plain = Evaluator { spec: EvaluatorSpec::default(), ..managed(None, "Evaluator 000") };
    let mut desired = State::default();
    desired.agents.insert(
        1,
        AgentState {
            agent: 1,
            evaluators: vec![plain, managed(None, "Evaluator 001"), managed(Some(ids[3]), "Renamed")],
            ..AgentState::default()
        },
    );
    sb.clear_requests();
    let snapshot = remote.observe(&desired).await.unwrap();
    let singles: Vec<String> = sb
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .filter(|r| {
            let rest = r.path.strip_prefix("/test_framework/v1/scenarios/").unwrap_or("");
            rest.trim_end_matches('/').parse::<u64>().is_ok()
        })
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(singles.len(), 2, "{singles:?}");
    let durations: Vec<Option<u32>> =
        snapshot.observed.state.agents[&1].evaluators.iter().map(|e| e.spec.max_duration).collect();
    assert_eq!(durations, [None, Some(240), None, Some(240)]);
    sb.shutdown().await;
}
