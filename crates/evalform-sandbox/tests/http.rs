//! The sandbox over HTTP: every endpoint, every trap the client must handle, faults, the request log, the state
//! file, a concurrent burst. (`evalform sandbox` as a process is tested with the command line.)

use evalform_sandbox::{
    FaultConfig, FaultKind, RequestOutcome, RunningSandbox, Sandbox, SandboxConfig, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX,
};
use reqwest::Method;
use serde_json::{json, Value};

const PROMPT: &str = "5f0c2a4e-0000-4000-8000-000000000001";

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(sandbox: &RunningSandbox) -> Self {
        Client { http: reqwest::Client::new(), base: sandbox.base_url() }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>, auth: Option<(&str, &str)>) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some((k, v)) = auth {
            req = req.header(k, v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("json body") })
    }

    async fn cekura(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.send(method, path, body, Some(("X-CEKURA-API-KEY", "test-key"))).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.cekura(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.cekura(Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.cekura(Method::PATCH, path, Some(body)).await
    }

    async fn tela(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.send(method, path, body, Some(("Authorization", "Bearer tela-key"))).await
    }

    /// Create an evaluator of agent 12 with `extra` fields; returns its id.
    async fn evaluator(&self, name: &str, extra: Value) -> u64 {
        let mut body =
            json!({ "name": name, "agent": 12, "personality": 7, "instructions": "Call about order 12345." });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, created) = self.post("/test_framework/v1/scenarios/", body).await;
        assert_eq!(status, 201, "{created}");
        created["id"].as_u64().unwrap()
    }
}

async fn start() -> (RunningSandbox, Client) {
    let sandbox = Sandbox::start(0, SandboxConfig::default()).await.expect("start sandbox");
    let client = Client::new(&sandbox);
    (sandbox, client)
}

// ---- auth and paths ----

#[tokio::test]
async fn auth_and_paths() {
    let (sb, c) = start().await;
    let (s, body) = c.send(Method::GET, "/test_framework/v1/scenarios/?agent_id=1", None, None).await;
    assert_eq!((s, body), (401, json!({"detail": "Authentication credentials were not provided."})));
    let (s, _) = c.send(Method::GET, "/test_framework/v1/scenarios/", None, Some(("X-CEKURA-API-KEY", ""))).await;
    assert_eq!(s, 401);
    // Cekura takes a bearer token too (the vendor CLI's OAuth login); a Cekura key does not open Tela.
    let (s, _) = c.send(Method::GET, "/test_framework/v1/scenarios/", None, Some(("Authorization", "Bearer k"))).await;
    assert_eq!(s, 200);
    let (s, _) = c.send(Method::GET, "/test_framework/v1/scenarios/", None, Some(("Authorization", "Bearer "))).await;
    assert_eq!(s, 401);
    let (s, _) =
        c.send(Method::GET, &format!("/test-case?promptId={PROMPT}"), None, Some(("X-CEKURA-API-KEY", "k"))).await;
    assert_eq!(s, 401);
    let (s, _) = c.send(Method::GET, "/test-case?promptId=x", None, Some(("Authorization", "Bearer "))).await;
    assert_eq!(s, 401);

    // Paths are served with and without the trailing slash, as the vendor's SDK sends them.
    let (s, body) = c.get("/test_framework/v1/scenarios").await;
    assert_eq!((s, body), (200, json!({"count": 0, "next": null, "previous": null, "results": []})));
    assert_eq!(c.get("/test_framework/v2/aiagents/12").await.0, 200);
    assert_eq!(c.get("/test_framework/v1/scenarios/nothing").await.0, 404);
    // Unknown paths are 404 even without a key: routing comes before authentication.
    assert_eq!(c.send(Method::GET, "/test_framework/v1/nothing/", None, None).await.0, 404);
    let (s, body) = c.cekura(Method::DELETE, "/test_framework/v1/scenarios/adv_update/", None).await;
    assert_eq!((s, body), (405, json!({"detail": "Method \"DELETE\" not allowed."})));
    sb.shutdown().await;
}

// ---- evaluators ----

#[tokio::test]
async fn evaluator_create_get_and_list_shapes() {
    let (sb, c) = start().await;
    let (s, created) = c
        .post(
            "/test_framework/v1/scenarios/",
            json!({"name": "Order status", "agent": 12, "personality": 7, "instructions": "Ask about order 12345.",
                   "expected_outcome_prompt": "The agent gives the date.", "metrics": [501, 502], "tags": ["smoke"],
                   "tool_ids": ["TOOL_END_CALL"], "phone_number": 44}),
        )
        .await;
    assert_eq!(s, 201);
    let id = created["id"].as_u64().unwrap();
    let (s, one) = c.get(&format!("/test_framework/v1/scenarios/{id}/")).await;
    assert_eq!(s, 200);
    assert_eq!(one, created);
    insta::assert_json_snapshot!(one, @r#"
    {
      "id": 1001,
      "name": "Order status",
      "agent": 12,
      "agent_name": "Support line",
      "personality": 7,
      "personality_name": "Normal Male",
      "phone_number": "+14155550144",
      "expected_outcome_prompt": "The agent gives the date.",
      "instructions": "Ask about order 12345.",
      "scenario_language": "en",
      "scenario_type": "instruction",
      "tags": [
        "smoke"
      ],
      "inbound_phone_number": null,
      "inbound_phone_number_data": null,
      "metrics": [
        501,
        502
      ],
      "metric_names": [
        "Call success",
        "Appointment booked"
      ],
      "first_message": "",
      "tool_ids": [
        "TOOL_END_CALL"
      ],
      "test_profile": null,
      "test_profile_data": null,
      "dynamic_variable_values": null,
      "folder_path": null,
      "created_at": "2026-01-01T00:00:01Z",
      "updated_at": "2026-01-01T00:00:01Z",
      "created_by": 1,
      "last_updated_by": 1,
      "project": 1376,
      "max_duration": null,
      "outbound_phone_number_data": {
        "id": 44,
        "number": "+14155550144",
        "phone_number_id": "PN00000044"
      },
      "simulation_description": "",
      "information_fields": {},
      "suite_type": "undefined",
      "is_predefined": false,
      "generated_mock_tool_entries": null
    }
    "#);

    let (s, list) = c.get("/test_framework/v1/scenarios/?agent_id=12").await;
    assert_eq!(s, 200);
    assert_eq!(list["count"], 1);
    let item = &list["results"][0];
    assert!(item.get("max_duration").is_none(), "the list item has no max_duration");
    assert!(item.get("project").is_none(), "the list item has no project");
    assert!(item.get("outbound_phone_number_data").is_none());
    assert_eq!(item["phone_number"], "+14155550144");
    assert_eq!(c.get("/test_framework/v1/scenarios/?agent_id=101").await.1["count"], 0);
    assert_eq!(c.get("/test_framework/v1/scenarios/99999/").await.0, 404);
    sb.shutdown().await;
}

#[tokio::test]
async fn evaluator_list_paginates_with_absolute_links() {
    let (sb, c) = start().await;
    for i in 0..7 {
        c.evaluator(&format!("E{i}"), json!({"tags": if i % 2 == 0 { vec!["even"] } else { vec!["odd"] }})).await;
    }
    let (_, page1) = c.get("/test_framework/v1/scenarios/?agent_id=12&page_size=3").await;
    assert_eq!(page1["count"], 7);
    assert_eq!(page1["results"].as_array().unwrap().len(), 3);
    assert_eq!(page1["previous"], Value::Null);
    let next = page1["next"].as_str().unwrap();
    assert_eq!(next, format!("{}/test_framework/v1/scenarios/?agent_id=12&page_size=3&page=2", sb.base_url()));
    let path = next.strip_prefix(&sb.base_url()).unwrap();
    let (_, page2) = c.get(path).await;
    assert_eq!(page2["results"][0]["name"], "E3");
    assert!(page2["previous"].as_str().unwrap().starts_with("http://127.0.0.1:"));
    let (_, page3) = c.get("/test_framework/v1/scenarios/?agent_id=12&page_size=3&page=3").await;
    assert_eq!((page3["results"].as_array().unwrap().len(), &page3["next"]), (1, &Value::Null));
    assert_eq!(c.get("/test_framework/v1/scenarios/?agent_id=12&page=4").await.0, 404);
    let (_, tagged) = c.get("/test_framework/v1/scenarios/?agent_id=12&tags=odd").await;
    assert_eq!(tagged["count"], 3);
    assert_eq!((PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX), (50, 500));
    sb.shutdown().await;
}

#[tokio::test]
async fn default_page_size_is_50_and_max_is_500() {
    let (sb, c) = start().await;
    sb.with_state(|s| {
        for i in 0..520u64 {
            s.insert_evaluator(5000 + i, json!({"name": format!("E{i}"), "agent": 1, "personality": 8})).unwrap();
        }
    });
    let (_, page) = c.get("/test_framework/v1/scenarios/?agent_id=1").await;
    assert_eq!((page["count"].as_u64(), page["results"].as_array().unwrap().len()), (Some(520), 50));
    let (_, page) = c.get("/test_framework/v1/scenarios/?agent_id=1&page_size=1000").await;
    assert_eq!(page["results"].as_array().unwrap().len(), 500);
    sb.shutdown().await;
}

#[tokio::test]
async fn evaluator_create_validation_is_drf_shaped() {
    let (sb, c) = start().await;
    let url = "/test_framework/v1/scenarios/";
    let (s, body) = c.post(url, json!({"agent": 12})).await;
    assert_eq!(s, 400);
    insta::assert_json_snapshot!(body, @r#"
    {
      "name": [
        "This field is required."
      ],
      "personality": [
        "This field is required."
      ]
    }
    "#);
    let (s, body) = c.post(url, json!({"name": "x".repeat(81), "personality": 7})).await;
    assert_eq!(s, 400);
    insta::assert_json_snapshot!(body, @r#"
    {
      "name": [
        "Ensure this field has no more than 80 characters."
      ],
      "non_field_errors": [
        "Either agent or project must be provided."
      ]
    }
    "#);
    assert_eq!(c.post(url, json!({"name": "x".repeat(80), "personality": 7, "agent": 12})).await.0, 201);
    let (s, body) = c
        .post(
            url,
            json!({"name": "n", "personality": 99, "agent": 12, "metrics": [501, 9], "test_profile": 77,
                   "phone_number": "+14155550144", "folder_path": "Sales", "tool_ids": ["TOOL_NOPE"]}),
        )
        .await;
    assert_eq!(s, 400);
    insta::assert_json_snapshot!(body, @r#"
    {
      "folder_path": [
        "Folder \"Sales\" does not exist in project 1376."
      ],
      "metrics": [
        "Invalid pk \"9\" - object does not exist."
      ],
      "personality": [
        "Invalid pk \"99\" - object does not exist."
      ],
      "phone_number": [
        "Incorrect type. Expected pk value, received str."
      ],
      "test_profile": [
        "Invalid pk \"77\" - object does not exist."
      ],
      "tool_ids": [
        "\"TOOL_NOPE\" is not a valid choice."
      ]
    }
    "#);
    let (s, body) =
        c.post(url, json!({"name": "n", "personality": 7, "agent": 12, "dynamic_variable_values": {"a": "b"}})).await;
    assert_eq!(s, 400);
    assert!(body["dynamic_variable_values"][0].as_str().unwrap().contains("removed"));
    // null is what reads return, and writing it back is accepted.
    assert_eq!(
        c.post(url, json!({"name": "n", "personality": 7, "agent": 12, "dynamic_variable_values": null})).await.0,
        201
    );
    let (s, _) = c.post(url, json!({"name": "n", "personality": 7, "agent": 4242})).await;
    assert_eq!(s, 400);
    sb.shutdown().await;
}

#[tokio::test]
async fn create_ignores_first_message_max_duration_and_language() {
    let (sb, c) = start().await;
    let id = c
        .evaluator("A", json!({"first_message": "Hi", "max_duration": 300, "scenario_language": "de", "bogus": 1}))
        .await;
    let (_, e) = c.get(&format!("/test_framework/v1/scenarios/{id}/")).await;
    assert_eq!(
        (&e["first_message"], &e["max_duration"], &e["scenario_language"]),
        (&json!(""), &Value::Null, &json!("en"))
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn patch_ignores_read_only_fields_and_put_takes_them() {
    let (sb, c) = start().await;
    let id = c.evaluator("A", json!({})).await;
    let url = format!("/test_framework/v1/scenarios/{id}/");
    let (s, after) = c
        .patch(&url, json!({"first_message": "Hello?", "max_duration": 120, "scenario_language": "fr", "agent": 101, "unknown": 1}))
        .await;
    assert_eq!(s, 200, "PATCH of ignored fields succeeds");
    assert_eq!(after["first_message"], "");
    assert_eq!(after["max_duration"], Value::Null);
    assert_eq!(after["scenario_language"], "en");
    assert_eq!(after["agent"], 12);
    let (s, after) = c.patch(&url, json!({"name": "B", "tags": ["x", "x", "y"], "phone_number": 45})).await;
    assert_eq!(s, 200);
    assert_eq!(
        (&after["name"], &after["tags"], &after["phone_number"]),
        (&json!("B"), &json!(["x", "y"]), &json!("+14155550145"))
    );
    assert_eq!(after["outbound_phone_number_data"]["id"], 45);
    let (s, _) = c.patch(&url, json!({"dynamic_variable_values": {"k": "v"}})).await;
    assert_eq!(s, 400);
    let (s, _) = c.patch(&url, json!({"name": "z".repeat(81)})).await;
    assert_eq!(s, 400);

    let (s, body) = c.cekura(Method::PUT, &url, Some(json!({"scenario_language": "fr"}))).await;
    assert_eq!(s, 400, "PUT needs the full object: {body}");
    let (s, after) = c
        .cekura(
            Method::PUT,
            &url,
            Some(json!({"name": "C", "personality": 8, "scenario_language": "fr", "first_message": "Bonjour", "max_duration": 90})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        (&after["scenario_language"], &after["first_message"], &after["max_duration"], &after["personality"]),
        (&json!("fr"), &json!("Bonjour"), &json!(90), &json!(8))
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn conditional_actions_come_back_as_json_text() {
    let (sb, c) = start().await;
    let flow = json!({"role": "A patient booking a cleaning", "conditions": [
        {"id": 0, "condition": "FIRST_MESSAGE", "action": "Hi, I'd like to book a cleaning.", "fixed_message": true},
        {"id": 1, "condition": "The agent confirms the booking", "action": "Thanks! <endcall />"},
        {"id": 2, "condition": 1, "action": "<endcall />", "type": "action_followup"}]});
    let id = c.evaluator("Book", json!({"scenario_type": "conditional_actions", "conditional_actions": flow})).await;
    let (_, e) = c.get(&format!("/test_framework/v1/scenarios/{id}/")).await;
    let text = e["instructions"].as_str().expect("instructions is a string");
    assert_eq!(serde_json::from_str::<Value>(text).unwrap(), flow);
    assert!(text.starts_with(r#"{"role": "A patient"#), "Python-style separators: {text}");
    assert!(e.get("conditional_actions").is_none());
    // The flow needs scenario_type in the same request.
    let (s, body) = c.patch(&format!("/test_framework/v1/scenarios/{id}/"), json!({"conditional_actions": flow})).await;
    assert_eq!(s, 400, "{body}");
    let (s, _) = c
        .evaluator_raw(json!({"scenario_type": "conditional_actions", "conditional_actions": {"conditions": []}}))
        .await;
    assert_eq!(s, 400);
    // A follow-up must point at a condition of the same flow.
    let dangling = json!({"role": "r", "conditions": [{"id": 0, "condition": 5, "action": "a"}]});
    let (s, body) =
        c.evaluator_raw(json!({"scenario_type": "conditional_actions", "conditional_actions": dangling})).await;
    assert_eq!(s, 400, "{body}");
    // Seeding goes through the same rules.
    sb.with_state(|s| {
        s.insert_evaluator(77, json!({"name": "Seeded", "agent": 12, "personality": 7, "scenario_type": "conditional_actions", "conditional_actions": flow}))
            .unwrap();
    });
    let (_, seeded) = c.get("/test_framework/v1/scenarios/77/").await;
    assert_eq!(seeded["instructions"], e["instructions"]);
    sb.shutdown().await;
}

impl Client {
    async fn evaluator_raw(&self, extra: Value) -> (u16, Value) {
        let mut body = json!({ "name": "raw", "agent": 12, "personality": 7 });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.post("/test_framework/v1/scenarios/", body).await
    }
}

#[tokio::test]
async fn deletes_answer_204() {
    let (sb, c) = start().await;
    let a = c.evaluator("A", json!({})).await;
    let b = c.evaluator("B", json!({})).await;
    let d = c.evaluator("D", json!({})).await;
    let (s, body) = c.cekura(Method::DELETE, &format!("/test_framework/v1/scenarios/{a}/"), None).await;
    assert_eq!((s, body), (204, Value::Null));
    assert_eq!(c.get(&format!("/test_framework/v1/scenarios/{a}/")).await.0, 404);
    assert_eq!(c.cekura(Method::DELETE, &format!("/test_framework/v1/scenarios/{a}/"), None).await.0, 404);
    let url = "/test_framework/v1/scenarios/delete_scenarios/";
    let (s, _) = c.post(url, json!({"scenarios": [b, 999_999], "agent_id": 12})).await;
    assert_eq!(s, 400, "an unknown id deletes nothing");
    assert_eq!(c.get(&format!("/test_framework/v1/scenarios/{b}/")).await.0, 200);
    assert_eq!(c.post(url, json!({"scenarios": [b]})).await.0, 400, "a scope is required");
    let (s, body) = c.post(url, json!({"scenarios": [b, d], "agent_id": 12})).await;
    assert_eq!((s, body), (204, Value::Null));
    assert_eq!(c.get("/test_framework/v1/scenarios/?agent_id=12").await.1["count"], 0);
    sb.shutdown().await;
}

// ---- adv_update ----

#[tokio::test]
async fn append_instruction_concatenates_on_every_call() {
    let (sb, c) = start().await;
    let a = c.evaluator("A", json!({"instructions": "Base."})).await;
    let url = "/test_framework/v1/scenarios/adv_update/";
    let body = json!({"scenarios": [a], "project": 1376, "append_instruction": " Confirm the name."});
    assert_eq!(c.post(url, body.clone()).await.0, 200);
    assert_eq!(c.post(url, body).await.0, 200);
    let (_, e) = c.get(&format!("/test_framework/v1/scenarios/{a}/")).await;
    assert_eq!(e["instructions"], "Base. Confirm the name. Confirm the name.");
    sb.shutdown().await;
}

#[tokio::test]
async fn adv_update_changes_sets_and_fields() {
    let (sb, c) = start().await;
    sb.with_state(|s| s.insert_folder(1376, "Sales.Inbound")).unwrap();
    let a = c.evaluator("A", json!({"metrics": [501, 502]})).await;
    let b = c.evaluator("B", json!({"metrics": [503]})).await;
    let (s, items) = c
        .post(
            "/test_framework/v1/scenarios/adv_update/",
            json!({"scenarios": [a, b], "agent": 12, "metric_ids_to_add": [504], "metric_ids_to_remove": [502, 503],
                   "first_message": "Hi", "max_duration": 240, "phone_number": 45, "folder_path": "Sales.Inbound",
                   "personality": 9}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(items.as_array().map(Vec::len), Some(2), "answers the updated list items");
    for (id, metrics) in [(a, json!([501, 504])), (b, json!([504]))] {
        let (_, e) = c.get(&format!("/test_framework/v1/scenarios/{id}/")).await;
        assert_eq!(e["metrics"], metrics);
        assert_eq!(
            (&e["first_message"], &e["max_duration"], &e["phone_number"], &e["folder_path"], &e["personality"]),
            (&json!("Hi"), &json!(240), &json!("+14155550145"), &json!("Sales.Inbound"), &json!(9))
        );
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn adv_update_with_agent_moves_the_evaluators() {
    let (sb, c) = start().await;
    let one =
        sb.with_state(|s| s.insert_evaluator(1, json!({"name": "Shop", "agent": 101, "personality": 7}))).unwrap();
    let two =
        sb.with_state(|s| s.insert_evaluator(2, json!({"name": "Dental", "agent": 202, "personality": 7}))).unwrap();
    let (s, _) = c
        .post(
            "/test_framework/v1/scenarios/adv_update/",
            json!({"scenarios": [one, two], "agent": 202, "personality": 8}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, moved) = c.get("/test_framework/v1/scenarios/1/").await;
    assert_eq!((&moved["agent"], &moved["agent_name"]), (&json!(202), &json!("Bright Smile Dental reception")));
    assert_eq!(c.get("/test_framework/v1/scenarios/?agent_id=101").await.1["count"], 0);
    assert_eq!(c.get("/test_framework/v1/scenarios/?agent_id=202").await.1["count"], 2);
    sb.shutdown().await;
}

#[tokio::test]
async fn adv_update_is_all_or_nothing() {
    let (sb, c) = start().await;
    let a = c.evaluator("A", json!({"instructions": "Base."})).await;
    let before = sb.with_state(|s| s.clone());
    let url = "/test_framework/v1/scenarios/adv_update/";
    // One bad id among good ones.
    let (s, body) = c.post(url, json!({"scenarios": [a, 424242], "project": 1376, "append_instruction": "X"})).await;
    assert_eq!(s, 400);
    assert_eq!(body, json!({"scenarios": ["Invalid pk \"424242\" - object does not exist."]}));
    // A folder that does not exist, with otherwise valid changes.
    let (s, body) =
        c.post(url, json!({"scenarios": [a], "project": 1376, "append_instruction": "X", "folder_path": "Nope"})).await;
    assert_eq!(s, 400, "{body}");
    // No scope.
    assert_eq!(c.post(url, json!({"scenarios": [a], "append_instruction": "X"})).await.0, 400);
    // Tool ids as strings, as the spec types them as integers.
    let (s, body) = c.post(url, json!({"scenarios": [a], "project": 1376, "tool_ids_to_add": ["TOOL_DTMF"]})).await;
    assert_eq!(s, 400);
    assert_eq!(body, json!({"tool_ids_to_add": ["Item 0: A valid integer is required."]}));
    // Evaluators of another project.
    assert_eq!(c.post(url, json!({"scenarios": [a], "project": 7, "append_instruction": "X"})).await.0, 400);
    assert_eq!(sb.with_state(|s| s.clone()), before, "nothing changed");
    sb.shutdown().await;
}

// ---- folders ----

#[tokio::test]
async fn folders_must_exist_parent_first() {
    let (sb, c) = start().await;
    let url = "/test_framework/v1/scenarios/create_folder/";
    let (s, body) = c.post(url, json!({"name": "Inbound", "parent_path": "Sales", "project_id": 1376})).await;
    assert_eq!((s, body), (400, json!({"parent_path": ["Folder \"Sales\" does not exist in project 1376."]})));
    let (s, body) = c.post(url, json!({"name": "Sales", "project_id": 1376})).await;
    assert_eq!(s, 201);
    assert_eq!((&body["name"], &body["path"]), (&json!("Sales"), &json!("Sales")));
    let (s, body) = c.post(url, json!({"name": "Inbound", "parent_path": "Sales", "project_id": 1376})).await;
    assert_eq!((s, &body["path"]), (201, &json!("Sales.Inbound")));
    assert_eq!(c.post(url, json!({"name": "Sales", "project_id": 1376})).await.0, 400, "duplicate");
    assert_eq!(c.post(url, json!({"name": "X"})).await.1, json!({"project_id": ["This field is required."]}));
    c.post(url, json!({"name": "Support", "project_id": 1376})).await;

    let (s, all) = c.get("/test_framework/v1/scenarios/folders/?project_id=1376").await;
    assert_eq!(s, 200);
    let paths: Vec<&str> = all["results"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["Sales", "Sales.Inbound", "Support"]);
    assert_eq!(all["count"], 3);
    let (_, children) = c.get("/test_framework/v1/scenarios/folders/?project_id=1376&parent_path=Sales").await;
    assert_eq!(
        children["results"],
        json!([{"name": "Inbound", "path": "Sales.Inbound", "created_at": "2026-01-01T00:00:02Z", "updated_at": "2026-01-01T00:00:02Z"}])
    );
    assert_eq!(c.get("/test_framework/v1/scenarios/folders/").await.0, 400);
    assert_eq!(c.get("/test_framework/v1/scenarios/folders/?project_id=7").await.1["count"], 0);

    // Assigning never creates a folder.
    let (s, _) = c.evaluator_raw(json!({"folder_path": "Sales.Outbound"})).await;
    assert_eq!(s, 400);
    let id = c.evaluator("In folder", json!({"folder_path": "Sales.Inbound"})).await;
    let (_, listed) = c.get("/test_framework/v1/scenarios/?folder_path=Sales.Inbound").await;
    assert_eq!(listed["results"][0]["id"], id);
    sb.shutdown().await;
}

// ---- test profiles ----

#[tokio::test]
async fn test_profiles_create_200_and_information_replaced_whole() {
    let (sb, c) = start().await;
    let url = "/test_framework/v1/test-profiles/";
    let info = json!({"main_agent_variables": {"user_id": "U-42", "tier": "gold"}, "testing_agent_variables": {"customer_name": "John"}});
    let (s, created) = c.post(url, json!({"name": "Premium caller", "agent": 12, "information": info})).await;
    assert_eq!(s, 200, "test profile create answers 200, not 201");
    let id = created["id"].as_u64().unwrap();
    assert_eq!((&created["project"], &created["information"]), (&json!(1376), &info));
    assert_eq!(c.post(url, json!({"agent": 12})).await.1, json!({"name": ["This field is required."]}));

    let (s, list) = c.get(&format!("{url}?agent_id=12")).await;
    assert_eq!((s, list.as_array().map(Vec::len)), (200, Some(1)), "a plain array");
    assert_eq!(c.get(&format!("{url}?project_id=1376")).await.1.as_array().map(Vec::len), Some(1));
    assert_eq!(c.get(url).await.0, 400, "agent_id or project_id is required");

    let one = format!("{url}{id}/");
    let (s, after) = c.patch(&one, json!({"information": {"main_agent_variables": {"user_id": "U-43"}}})).await;
    assert_eq!(s, 200);
    assert_eq!(after["information"], json!({"main_agent_variables": {"user_id": "U-43"}}), "replaced, not merged");
    assert_eq!(c.get(&one).await.1["information"], after["information"]);

    let (s, body) = c.cekura(Method::PUT, &one, Some(json!({"information": {}}))).await;
    assert_eq!((s, body), (400, json!({"name": ["This field is required."]})), "PUT needs the whole object");
    let (s, put) = c.cekura(Method::PUT, &one, Some(json!({"name": "Premium caller", "information": info}))).await;
    assert_eq!((s, &put["information"]), (200, &info));

    // An evaluator can use it; the profile shows in test_profile_data.
    let e = c.evaluator("With profile", json!({"test_profile": id})).await;
    assert_eq!(
        c.get(&format!("/test_framework/v1/scenarios/{e}/")).await.1["test_profile_data"]["name"],
        "Premium caller"
    );
    // A profile of another project is not usable.
    let (_, other) = c.post(url, json!({"name": "Other", "agent": 101})).await;
    assert_eq!(c.evaluator_raw(json!({"test_profile": other["id"]})).await.0, 400);

    let (s, body) = c.cekura(Method::DELETE, &one, None).await;
    assert_eq!((s, body), (204, Value::Null));
    assert_eq!(c.get(&one).await.0, 404);
    sb.shutdown().await;
}

// ---- catalog ----

#[tokio::test]
async fn catalog_endpoints() {
    let (sb, c) = start().await;
    let (s, agent) = c.get("/test_framework/v2/aiagents/12/").await;
    assert_eq!((s, &agent["project"], &agent["name"]), (200, &json!(1376), &json!("Support line")));
    assert_eq!(c.get("/test_framework/v2/aiagents/13/").await.0, 404);
    let (_, p) = c.get("/test_framework/v1/personalities/?project_id=1376").await;
    let names: Vec<&str> = p.as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Normal Male", "Normal Female", "Impatient Caller", "Elderly Caller"]);
    let (_, m) = c.get("/test_framework/v2/metrics/?agent_id=12").await;
    assert_eq!(m.as_array().unwrap().len(), 7);
    assert_eq!(
        m[0],
        json!({"id": 501, "slug": "call_success", "name": "Call success", "description": "", "type": "basic", "eval_type": "binary", "agent": 12, "project": null, "agents": [], "is_predefined": true})
    );
    let (_, phones) = c.get("/test_framework/v1/phone-numbers/inbound/").await;
    assert_eq!(phones[1]["number"], "+14155550145");
    sb.shutdown().await;
}

// ---- runs and suggestions ----

#[tokio::test]
async fn runs_progress_and_fail_by_marker() {
    let (sb, c) = start().await;
    let ok = c.evaluator("Order status", json!({"tags": ["smoke"]})).await;
    let bad = c.evaluator("Refund", json!({"tags": ["smoke", "expect-fail"]})).await;
    let (s, started) =
        c.post("/test_framework/v1/scenarios/run_scenarios/", json!({"agent_id": 12, "scenarios": [ok, bad]})).await;
    assert_eq!(s, 201);
    assert_eq!(started["status"], "pending");
    assert_eq!(started["runs"].as_array().unwrap().len(), 2);
    let url = format!("/test_framework/v2/results/{}/", started["id"]);
    let mut statuses = Vec::new();
    let mut last = Value::Null;
    for _ in 0..4 {
        last = c.get(&url).await.1;
        statuses.push(last["status"].as_str().unwrap().to_string());
    }
    assert_eq!(statuses, ["pending", "running", "completed", "completed"]);
    assert_eq!(
        (&last["total_runs_count"], &last["success_runs_count"], &last["failed_runs_count"]),
        (&json!(2), &json!(1), &json!(1))
    );
    assert_eq!(last["success_rate"], 50.0);
    let runs = last["runs"].as_object().unwrap();
    let by_scenario = |id: u64| runs.values().find(|r| r["scenario"] == id).unwrap()["success"].clone();
    assert_eq!((by_scenario(ok), by_scenario(bad)), (json!(true), json!(false)));

    let (s, by_tag) = c
        .post("/test_framework/v1/scenarios/run_scenarios/", json!({"agent_id": 12, "tags": ["smoke"], "frequency": 2}))
        .await;
    assert_eq!((s, by_tag["runs"].as_array().map(Vec::len)), (201, Some(4)));
    assert_eq!(
        c.post("/test_framework/v1/scenarios/run_scenarios/", json!({"agent_id": 12, "tags": ["none"]})).await.0,
        400
    );
    assert_eq!(
        c.post("/test_framework/v1/scenarios/run_scenarios/", json!({"agent_id": 101, "scenarios": [ok]})).await.0,
        400
    );
    assert_eq!(c.get("/test_framework/v2/results/999999/").await.0, 404);
    sb.shutdown().await;
}

#[tokio::test]
async fn scenario_agent_suggests_deterministically() {
    let (sb, c) = start().await;
    let a = c.evaluator("A", json!({"expected_outcome_prompt": "The agent gives the date."})).await;
    let url = "/test_framework/v1/scenarios/scenario-agent/";
    let (s, started) =
        c.post(url, json!({"user_message": "Make outcomes stricter", "scenarios": [a], "agent_id": 12})).await;
    assert_eq!(s, 200);
    let progress = format!(
        "/test_framework/v1/scenarios/scenario-agent-progress/?progress_id={}",
        started["progress_id"].as_str().unwrap()
    );
    let (_, first) = c.get(&progress).await;
    assert_eq!((&first["status"], &first["result"]), (&json!("in_progress"), &Value::Null));
    let (_, done) = c.get(&progress).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["mode"], "improve");
    assert_eq!(
        done["result"]["updated_scenarios"],
        json!([{"id": a, "name": "A", "expected_outcome_prompt": "The agent gives the date. The agent confirms this explicitly before ending the call."}])
    );
    assert_eq!(
        c.get(&format!("/test_framework/v1/scenarios/{a}/")).await.1["expected_outcome_prompt"],
        "The agent gives the date.",
        "not applied"
    );

    let (_, started) = c.post(url, json!({"user_message": "Please clarify the goal", "scenarios": [a]})).await;
    let progress = format!(
        "/test_framework/v1/scenarios/scenario-agent-progress/?progress_id={}",
        started["progress_id"].as_str().unwrap()
    );
    c.get(&progress).await;
    assert_eq!(c.get(&progress).await.1["status"], "needs_clarification");
    let (s, body) = c.post(url, json!({"user_message": "unsupported request", "scenarios": [a]})).await;
    assert_eq!((s, body), (400, json!({"detail": "Improvement mode is not supported for this request."})));
    assert_eq!(c.get("/test_framework/v1/scenarios/scenario-agent-progress/?progress_id=nope").await.0, 404);
    sb.shutdown().await;
}

// ---- Tela ----

#[tokio::test]
async fn tela_test_cases() {
    let (sb, c) = start().await;
    let one = json!({"title": "Order has not arrived", "promptId": PROMPT, "messages": [{"role": "user", "content": "My order hasn't arrived yet."}],
                     "variables": {"customer_name": "John Doe"}, "expectedOutput": "I'll help you track it."});
    let (s, created) = c.tela(Method::POST, "/test-case", Some(one)).await;
    assert_eq!(s, 201);
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!((&created["promptId"], &created["deletedAt"]), (&json!(PROMPT), &Value::Null));
    let (s, many) = c
        .tela(
            Method::POST,
            "/test-case",
            Some(json!([{"title": "B", "promptId": PROMPT}, {"title": "C", "promptId": PROMPT}])),
        )
        .await;
    assert_eq!((s, many.as_array().map(Vec::len)), (201, Some(2)));
    let (s, bad) = c.tela(Method::POST, "/test-case", Some(json!([{"title": "D", "promptId": PROMPT}, {"title": "E", "promptId": PROMPT, "messages": [{"role": "robot", "content": "x"}]}]))).await;
    assert_eq!(s, 400, "{bad}");

    let (s, list) = c.tela(Method::GET, &format!("/test-case?promptId={PROMPT}"), None).await;
    assert_eq!((s, list.as_array().map(Vec::len)), (200, Some(3)), "a plain array; the failed batch created nothing");
    let (s, body) = c.tela(Method::GET, "/test-case?promptId=00000000-0000-4000-8000-00000000dead", None).await;
    assert_eq!(s, 404, "{body}");
    assert_eq!(c.tela(Method::GET, "/test-case", None).await.0, 400);
    let (_, other) = c.tela(Method::GET, "/test-case?promptId=5f0c2a4e-0000-4000-8000-000000000002", None).await;
    assert_eq!(other, json!([]));

    let path = format!("/test-case/{id}");
    let (s, after) = c.tela(Method::PATCH, &path, Some(json!({"title": "Renamed"}))).await;
    assert_eq!(s, 200);
    assert_eq!(
        (&after["title"], &after["variables"], &after["expectedOutput"]),
        (&json!("Renamed"), &json!({"customer_name": "John Doe"}), &json!("I'll help you track it."))
    );
    assert_eq!(c.tela(Method::GET, &path, None).await.1, after);
    assert_eq!(c.tela(Method::PUT, &path, None).await.0, 404, "no PUT endpoint");
    assert_eq!(c.tela(Method::DELETE, &path, None).await.0, 204);
    assert_eq!(c.tela(Method::GET, &path, None).await.0, 404, "deleted");
    assert_eq!(c.tela(Method::DELETE, &path, None).await.0, 404);
    assert_eq!(c.tela(Method::GET, "/test-case/nope", None).await.0, 404);
    sb.shutdown().await;
}

// ---- faults, log, counters ----

#[tokio::test]
async fn faults_429_and_5xx_are_not_handled() {
    let (sb, c) = start().await;
    sb.set_faults(FaultConfig {
        rate_429: 1.0,
        retry_after_secs: 7,
        path: Some("/scenarios/".into()),
        ..FaultConfig::default()
    });
    let resp = c
        .http
        .get(format!("{}/test_framework/v1/scenarios/", c.base))
        .header("X-CEKURA-API-KEY", "k")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    // Other paths are not targeted.
    assert_eq!(c.get("/test_framework/v2/aiagents/12/").await.0, 200);
    sb.set_faults(FaultConfig { rate_5xx: 1.0, method: Some("POST".into()), ..FaultConfig::default() });
    let (s, _) = c.evaluator_raw(json!({})).await;
    assert_eq!(s, 500);
    assert!(sb.with_state(|s| s.evaluators.is_empty()), "a 5xx commits nothing");
    assert_eq!(c.get("/test_framework/v1/scenarios/").await.0, 200);
    let outcomes: Vec<RequestOutcome> = sb.requests().iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [RequestOutcome::Injected429, RequestOutcome::Answered, RequestOutcome::Injected5xx, RequestOutcome::Answered]
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn drop_after_commit_applies_the_write_and_sends_nothing() {
    let (sb, c) = start().await;
    let a = c.evaluator("A", json!({"instructions": "Base."})).await;
    sb.set_faults(FaultConfig::fail_next(FaultKind::DropAfterCommit, 1, Some("POST"), Some("adv_update")));
    let url = format!("{}/test_framework/v1/scenarios/adv_update/", c.base);
    let body = json!({"scenarios": [a], "project": 1376, "append_instruction": " Tail."});
    let err = c.http.post(&url).header("X-CEKURA-API-KEY", "k").json(&body).send().await;
    assert!(err.is_err(), "no response: {err:?}");
    let (_, e) = c.get(&format!("/test_framework/v1/scenarios/{a}/")).await;
    assert_eq!(e["instructions"], "Base. Tail.", "the write was committed");
    // Exactly one request was dropped; the next one is answered.
    let resp = c.http.post(&url).header("X-CEKURA-API-KEY", "k").json(&body).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let adv: Vec<_> = sb.requests().into_iter().filter(|r| r.path.ends_with("adv_update/")).collect();
    assert_eq!(
        adv.iter().map(|r| r.outcome).collect::<Vec<_>>(),
        [RequestOutcome::DroppedAfterCommit, RequestOutcome::Answered]
    );
    assert_eq!(adv[0].body.as_ref().unwrap()["append_instruction"], " Tail.");
    assert_eq!(adv[0].status, 200);
    sb.shutdown().await;
}

#[tokio::test]
async fn faults_are_reproducible_from_the_seed() {
    async fn statuses(seed: u64) -> Vec<u16> {
        let config = FaultConfig { seed, rate_429: 0.3, rate_5xx: 0.2, ..FaultConfig::default() };
        let sb = Sandbox::start(0, SandboxConfig { faults: config, ..SandboxConfig::default() }).await.unwrap();
        let c = Client::new(&sb);
        let mut out = Vec::new();
        for _ in 0..30 {
            out.push(c.get("/test_framework/v2/aiagents/12/").await.0);
        }
        sb.shutdown().await;
        out
    }
    let first = statuses(42).await;
    assert_eq!(first, statuses(42).await);
    assert!(first.contains(&429) && first.contains(&500) && first.contains(&200), "{first:?}");
    assert_ne!(first, statuses(43).await);
}

#[tokio::test]
async fn latency_is_added() {
    let (sb, c) = start().await;
    sb.set_faults(FaultConfig { latency_ms: 400, ..FaultConfig::default() });
    let t = std::time::Instant::now();
    c.get("/test_framework/v2/aiagents/12/").await;
    assert!(t.elapsed() >= std::time::Duration::from_millis(400));
    // Never on /_sandbox/.
    let t = std::time::Instant::now();
    c.http.get(format!("{}/_sandbox/counters", c.base)).send().await.unwrap();
    assert!(t.elapsed() < std::time::Duration::from_millis(400));
    sb.shutdown().await;
}

#[tokio::test]
async fn control_endpoints_over_http() {
    let (sb, c) = start().await;
    c.get("/test_framework/v2/aiagents/12/").await;
    c.get("/test_framework/v2/aiagents/1/").await;
    c.get("/test_framework/v1/scenarios/").await;
    let (_, counters) = c.send(Method::GET, "/_sandbox/counters", None, None).await;
    assert_eq!(counters["total"], 3);
    assert_eq!(counters["by_route"]["GET /test_framework/v2/aiagents/{id}/"], 2);
    assert_eq!(counters["by_path"]["GET /test_framework/v1/scenarios/"], 1);
    let (_, log) = c.send(Method::GET, "/_sandbox/requests", None, None).await;
    assert_eq!(log[0]["path"], "/test_framework/v2/aiagents/12/");
    assert_eq!(log[0]["status"], 200);

    let faults = json!({"fail_next": {"kind": "server_error", "count": 2}, "path": "/test_framework/v2/aiagents/*/"});
    assert_eq!(c.send(Method::POST, "/_sandbox/faults", Some(faults), None).await.0, 200);
    assert_eq!(c.get("/test_framework/v2/aiagents/12/").await.0, 500);
    assert_eq!(c.get("/test_framework/v1/scenarios/").await.0, 200);
    assert_eq!(c.get("/test_framework/v2/aiagents/12/").await.0, 500);
    assert_eq!(c.get("/test_framework/v2/aiagents/12/").await.0, 200);
    assert_eq!(c.send(Method::POST, "/_sandbox/faults", Some(json!({"rate_429": "x"})), None).await.0, 400);

    assert_eq!(c.send(Method::DELETE, "/_sandbox/requests", None, None).await.0, 204);
    assert!(sb.requests().is_empty());
    c.get("/test_framework/v2/aiagents/12/").await;
    sb.clear_requests();
    assert_eq!(sb.counters().total, 0);
    sb.shutdown().await;
}

// ---- concurrency ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_requests() {
    let (sb, c) = start().await;
    let c = std::sync::Arc::new(c);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let c = c.clone();
        tasks.spawn(async move {
            if i % 4 == 0 {
                c.get("/test_framework/v1/scenarios/?agent_id=12&page_size=500").await.0
            } else {
                c.evaluator_raw(json!({"name": format!("Concurrent {i}")})).await.0
            }
        });
    }
    let mut statuses = Vec::new();
    while let Some(s) = tasks.join_next().await {
        statuses.push(s.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 150);
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 50);
    let (_, list) = c.get("/test_framework/v1/scenarios/?agent_id=12&page_size=500").await;
    let mut ids: Vec<u64> = list["results"].as_array().unwrap().iter().map(|e| e["id"].as_u64().unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 150, "every create got its own id");
    assert_eq!(sb.counters().by_route["POST /test_framework/v1/scenarios/"], 150);
    sb.shutdown().await;
}

// ---- state file ----

#[tokio::test]
async fn state_file_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sandbox.json");
    let config = || SandboxConfig { state_file: Some(file.clone()), ..SandboxConfig::default() };
    let sb = Sandbox::start(0, config()).await.unwrap();
    let c = Client::new(&sb);
    let id = c.evaluator("Persisted", json!({})).await;
    c.tela(Method::POST, "/test-case", Some(json!({"title": "T", "promptId": PROMPT}))).await;
    sb.shutdown().await;
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["sandbox.json"], "no temporary file is left behind");
    serde_json::from_str::<Value>(&std::fs::read_to_string(&file).unwrap()).expect("whole JSON");

    let sb = Sandbox::start(0, config()).await.unwrap();
    let c = Client::new(&sb);
    let (s, e) = c.get(&format!("/test_framework/v1/scenarios/{id}/")).await;
    assert_eq!((s, &e["name"]), (200, &json!("Persisted")));
    assert_eq!(
        c.tela(Method::GET, &format!("/test-case?promptId={PROMPT}"), None).await.1.as_array().map(Vec::len),
        Some(1)
    );
    // Ids continue after a restart instead of colliding.
    assert_ne!(c.evaluator("Next", json!({})).await, id);
    sb.shutdown().await;

    std::fs::write(&file, "{not json").unwrap();
    let err = Sandbox::start(0, config()).await.unwrap_err();
    assert!(err.to_string().contains("is not a sandbox state"), "{err}");
}

// ---- what the vendor's own tools use: metrics, folders, schedules, spec runs, Tela runs ----

#[tokio::test]
async fn metrics_are_created_changed_and_deleted_on_v1_and_v2() {
    let (sb, c) = start().await;
    let body = json!({"name": "Refund offered", "type": "llm_judge", "project": 7, "agents": [101]});
    let (s, m) = c.post("/test_framework/v1/metrics", body.clone()).await;
    assert_eq!(s, 201, "{m}");
    let id = m["id"].as_u64().unwrap();
    assert_eq!((&m["project"], &m["agents"], &m["eval_type"]), (&json!(7), &json!([101]), &json!("binary")));
    let (s, dup) = c.post("/test_framework/v2/metrics/", body).await;
    assert_eq!(s, 400, "a name is unique in its project: {dup}");
    assert!(dup["name"][0].as_str().unwrap().contains("already exists"), "{dup}");
    let (s, other_project) =
        c.post("/test_framework/v1/metrics", json!({"name": "Refund offered", "agents": [12]})).await;
    assert_eq!((s, &other_project["project"]), (201, &json!(1376)), "the first agent's project");

    let (s, got) =
        c.patch(&format!("/test_framework/v1/metrics/{id}"), json!({"name": "Refund offered politely"})).await;
    assert_eq!((s, &got["name"]), (200, &json!("Refund offered politely")));
    assert_eq!(c.get(&format!("/test_framework/v2/metrics/{id}/")).await.1, got);
    let (_, list) = c.get("/test_framework/v1/metrics?agent_id=101").await;
    assert!(list.as_array().unwrap().iter().any(|x| x["id"] == json!(id)));
    let (_, list) = c.get("/test_framework/v1/metrics?agent_id=12").await;
    assert!(!list.as_array().unwrap().iter().any(|x| x["id"] == json!(id)), "another project's metric is not listed");

    let (s, e) = c
        .post(
            "/test_framework/v1/scenarios",
            json!({"name": "E", "agent": 101, "personality": 7, "instructions": "x", "metrics": [id, 501]}),
        )
        .await;
    assert_eq!(s, 201, "{e}");
    let (s, body) = c.cekura(Method::PATCH, "/test_framework/v1/metrics/501", Some(json!({"name": "Mine"}))).await;
    assert_eq!(s, 403, "predefined metrics refuse writes: {body}");
    assert_eq!(c.cekura(Method::DELETE, "/test_framework/v1/metrics/501", None).await.0, 403);
    assert_eq!(c.cekura(Method::DELETE, &format!("/test_framework/v1/metrics/{id}"), None).await.0, 204);
    assert_eq!(c.get(&format!("/test_framework/v1/metrics/{id}")).await.0, 404);
    let (_, e) = c.get(&format!("/test_framework/v1/scenarios/{}", e["id"])).await;
    assert_eq!(e["metrics"], json!([501]), "deleting a metric detaches it from evaluators");
    sb.shutdown().await;
}

#[tokio::test]
async fn metric_settings_are_kept_as_sent_and_checked() {
    let (sb, c) = start().await;
    let body = json!({"name": "Short call", "project": 1376, "type": "custom_code", "eval_type": "numeric",
                      "custom_code": "def f(call):\n    return 1\n", "evaluation_trigger": "automatic",
                      "simulation_enabled": false, "observability_enabled": true,
                      "configuration": {"managed_by": "evalform"}});
    let (s, m) = c.post("/test_framework/v2/metrics/", body).await;
    assert_eq!(s, 201, "{m}");
    let (_, got) = c.get(&format!("/test_framework/v2/metrics/{}/", m["id"])).await;
    assert_eq!(
        (&got["custom_code"], &got["evaluation_trigger"], &got["simulation_enabled"], &got["observability_enabled"]),
        (&json!("def f(call):\n    return 1\n"), &json!("automatic"), &json!(false), &json!(true))
    );
    assert_eq!(got["configuration"], json!({"managed_by": "evalform"}));
    let (s, _) = c.post("/test_framework/v2/metrics/", json!({"name": "B", "project": 1376, "description": "x"})).await;
    assert_eq!(s, 201);
    let (_, b) = c.get("/test_framework/v2/metrics/?agent_id=12").await;
    let b = b.as_array().unwrap().iter().find(|x| x["name"] == "B").cloned().unwrap();
    assert_eq!((&b["evaluation_trigger"], &b["configuration"]), (&json!("always"), &json!({})), "defaults");
    let (s, err) = c
        .post("/test_framework/v2/metrics/", json!({"name": "C", "project": 1376, "evaluation_trigger": "never"}))
        .await;
    assert_eq!(s, 400, "{err}");
    sb.shutdown().await;
}

#[tokio::test]
async fn folders_are_renamed_moved_and_deleted_with_their_evaluators() {
    let (sb, c) = start().await;
    sb.with_state(|s| {
        s.insert_folder(7, "Sales.Inbound.Vip").unwrap();
        s.insert_folder(7, "Support").unwrap();
        s.insert_evaluator(5, json!({"name": "A", "agent": 101, "personality": 7, "folder_path": "Sales.Inbound"}))
            .unwrap();
        s.insert_evaluator(6, json!({"name": "B", "agent": 101, "personality": 7, "folder_path": "Sales.Inbound.Vip"}))
            .unwrap();
    });
    let ext = "/test_framework/v1/scenarios-external";
    let (s, f) = c
        .post(&format!("{ext}/rename_folder"), json!({"path": "Sales.Inbound", "name": "Calls", "project_id": 7}))
        .await;
    assert_eq!((s, &f["path"]), (200, &json!("Sales.Calls")), "{f}");
    let (_, e) = c.get("/test_framework/v1/scenarios/6").await;
    assert_eq!(e["folder_path"], "Sales.Calls.Vip", "evaluators below follow");
    let (s, f) = c
        .post(
            &format!("{ext}/move_folder"),
            json!({"path": "Sales.Calls", "project_id": 7, "new_parent_path": "Support"}),
        )
        .await;
    assert_eq!((s, &f["path"]), (200, &json!("Support.Calls")));
    let (s, f) = c
        .post(&format!("{ext}/move_folder"), json!({"path": "Support.Calls", "project_id": 7, "new_parent_path": null}))
        .await;
    assert_eq!((s, &f["path"]), (200, &json!("Calls")), "null moves to the top level");
    let (s, err) = c
        .post(&format!("{ext}/move_folder"), json!({"path": "Calls", "project_id": 7, "new_parent_path": "Calls.Vip"}))
        .await;
    assert_eq!(s, 400, "{err}");
    let (s, err) = c.post(&format!("{ext}/rename_folder"), json!({"path": "Nope", "name": "X", "project_id": 7})).await;
    assert_eq!((s, err), (400, json!({"path": ["Folder \"Nope\" does not exist in project 7."]})));
    let (s, _) = c.post("/test_framework/v1/scenarios/delete_folder/", json!({"path": "Calls", "project_id": 7})).await;
    assert_eq!(s, 204);
    let (_, folders) = c.get(&format!("{ext}/folders?project_id=7")).await;
    let paths: Vec<&str> = folders["results"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["Sales", "Support"]);
    let (_, list) = c.get("/test_framework/v1/scenarios?project_id=7").await;
    assert_eq!(list["count"], 0, "delete removes the folder and its evaluators");
    sb.shutdown().await;
}

#[tokio::test]
async fn cron_jobs_are_listed_created_changed_and_deleted() {
    let (sb, c) = start().await;
    let path = "/schedules/v1/cron-jobs-external";
    let (s, body) = c.get(path).await;
    assert_eq!(s, 400, "a scope is required: {body}");
    let job = json!({"name": "nightly", "agent": 101, "crontab_expression": "0 9 * * 1", "tags": ["smoke"], "execution_mode": "voice"});
    let (s, created) = c.post(path, job).await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_u64().unwrap();
    assert_eq!((&created["project"], &created["is_active"]), (&json!(7), &json!(true)));
    let (s, bad) =
        c.post(path, json!({"name": "x", "agent": 101, "crontab_expression": "soon", "execution_mode": "fax"})).await;
    assert_eq!(s, 400);
    assert_eq!(bad.as_object().unwrap().keys().collect::<Vec<_>>(), ["crontab_expression", "execution_mode"]);
    let (s, changed) =
        c.patch(&format!("{path}/{id}"), json!({"crontab_expression": "0 8 * * *", "is_active": false})).await;
    assert_eq!((s, &changed["crontab_expression"], &changed["is_active"]), (200, &json!("0 8 * * *"), &json!(false)));
    let (_, list) = c.get(&format!("{path}?project_id=7")).await;
    assert_eq!(list["results"][0], changed);
    assert_eq!(c.get(&format!("{path}?agent_id=12")).await.1["count"], 0);
    assert_eq!(c.cekura(Method::DELETE, &format!("/schedules/v1/cron-jobs/{id}/"), None).await.0, 204);
    assert_eq!(c.get(&format!("{path}/{id}")).await.0, 404);
    sb.shutdown().await;
}

#[tokio::test]
async fn spec_runs_validate_price_and_run_without_saving_evaluators() {
    let (sb, c) = start().await;
    let (s, schema) = c.get("/test_framework/v1/scenarios/json_schema").await;
    assert_eq!((s, &schema["title"]), (200, &json!("Cekura test suite")));
    let spec = json!({"version": "1", "scenarios": [
        {"name": "Refund", "instructions": "Ask for a refund.", "frequency": 2, "metrics": ["call_success"]},
        {"name": "Will fail", "instructions": "Be rude."},
    ]});
    let run = "/test_framework/v1/scenarios/run_scenarios_json";
    let (s, dry) =
        c.post(&format!("{run}?dry_run=true"), json!({"spec": spec, "agent_id": 101, "channel": "voice"})).await;
    assert_eq!(s, 200, "{dry}");
    assert_eq!(
        dry,
        json!({"dry_run": true, "valid": true, "plan": {"agent_id": 101, "channel": "voice", "test_cases": 2, "runs": 3, "estimated_credits": 30}})
    );
    let bad = json!({"version": "2", "scenarios": [{"instructions": "x", "colour": "red"}]});
    let (s, err) = c.post(&format!("{run}?dry_run=true"), json!({"spec": bad, "agent_id": 101})).await;
    assert_eq!(s, 400);
    assert_eq!(
        err,
        json!({"spec": ["version: Must be \"1\".", "scenarios[0].colour: Additional properties are not allowed.", "scenarios[0].name: Required, 1 to 80 characters."]})
    );
    let (s, started) = c.post(run, json!({"spec": spec, "agent_id": 101})).await;
    assert_eq!(s, 201, "{started}");
    let result = format!("/test_framework/v1/results/{}", started["id"]);
    let polled = [c.get(&result).await.1, c.get(&result).await.1, c.get(&result).await.1];
    assert_eq!(polled.clone().map(|r| r["status"].clone()), [json!("pending"), json!("running"), json!("completed")]);
    assert_eq!((&polled[2]["total_runs_count"], &polled[2]["success_runs_count"]), (&json!(3), &json!(2)));
    assert_eq!(c.get("/test_framework/v1/scenarios?agent_id=101").await.1["count"], 0, "nothing saved as an evaluator");
    sb.shutdown().await;
}

#[tokio::test]
async fn tela_test_cases_run_abort_and_run_all() {
    let (sb, c) = start().await;
    sb.with_state(|s| {
        s.insert_test_case("a", json!({"promptId": PROMPT, "title": "A"})).unwrap();
        s.insert_test_case("b", json!({"promptId": PROMPT, "title": "B"})).unwrap();
    });
    let (s, run) = c.tela(Method::POST, "/test-case/a/run", Some(json!({}))).await;
    assert_eq!((s, &run["success"], &run["testCaseId"]), (200, &json!(true), &json!("a")));
    let (_, again) = c.tela(Method::POST, "/test-case/a/run", None).await;
    assert_eq!((&again["success"], &again["generationId"]), (&json!(false), &run["generationId"]), "in progress");
    let (_, all) = c.tela(Method::POST, "/test-case/run-all", Some(json!({"testCaseIds": ["a", "b"]}))).await;
    assert_eq!(all["testCaseIds"], json!(["b"]), "a is skipped: it is running");
    assert_eq!(all["generationIds"].as_array().map(Vec::len), Some(1));
    assert_ne!(all["executionId"], "");
    let (_, none) = c.tela(Method::POST, "/test-case/run-all", Some(json!({"promptId": PROMPT}))).await;
    assert_eq!((&none["executionId"], &none["testCaseIds"]), (&json!(""), &json!([])), "both already running");
    let (_, aborted) = c.tela(Method::POST, "/test-case/a/abort", None).await;
    assert_eq!((&aborted["success"], &aborted["abortedGenerationIds"]), (&json!(true), &json!([run["generationId"]])));
    let (_, nothing) = c.tela(Method::POST, "/test-case/a/abort", None).await;
    assert_eq!((&nothing["success"], &nothing["message"]), (&json!(true), &json!("No generation was running.")));
    let (_, read) = c.tela(Method::GET, "/test-case/a?includeGenerations=true", None).await;
    assert_eq!(read["generations"][0]["status"], "aborted");
    assert_eq!(c.tela(Method::POST, "/test-case/zzz/run", None).await.0, 404);
    let bad = c.tela(Method::POST, "/test-case/b/run", Some(json!({"promptVersionId": 7}))).await;
    assert_eq!(bad.0, 400);
    let filters = c.tela(Method::POST, "/test-case/run-all", Some(json!({"promptId": PROMPT, "filters": {}}))).await;
    assert_eq!(filters.0, 400, "filters are not modelled");
    sb.shutdown().await;
}

#[tokio::test]
async fn tela_generations_end_as_the_title_says_and_are_polled_through_include_generations() {
    let (sb, c) = start().await;
    sb.with_state(|s| {
        for (id, title) in [("p", "Passes"), ("f", "Should fail"), ("x", "Crash here"), ("s", "Stuck forever")] {
            s.insert_test_case(id, json!({"promptId": PROMPT, "title": title, "expectedOutput": "ok"})).unwrap();
        }
    });
    let (s, all) = c.tela(Method::POST, "/test-case/run-all", Some(json!({"promptId": PROMPT}))).await;
    assert_eq!((s, all["testCaseIds"].as_array().map(Vec::len)), (200, Some(4)));
    let list = format!("/test-case?promptId={PROMPT}&includeGenerations=true");
    let statuses = |v: &Value| -> Vec<(String, Value)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| (t["title"].as_str().unwrap().to_string(), t["generations"][0]["status"].clone()))
            .collect()
    };
    let (_, plain) = c.tela(Method::GET, &format!("/test-case?promptId={PROMPT}"), None).await;
    assert!(plain[0].get("generations").is_none(), "only with includeGenerations, and not counted as a poll");
    let first = c.tela(Method::GET, &list, None).await.1;
    assert!(statuses(&first).iter().all(|(_, s)| s == "running"), "{first}");
    let second = c.tela(Method::GET, &list, None).await.1;
    let by_title: std::collections::BTreeMap<String, Value> = statuses(&second).into_iter().collect();
    assert_eq!(by_title["Passes"], "completed");
    assert_eq!(by_title["Should fail"], "completed");
    assert_eq!(by_title["Crash here"], "failed");
    assert_eq!(by_title["Stuck forever"], "running");
    let gen = |title: &str| {
        second.as_array().unwrap().iter().find(|t| t["title"] == title).unwrap()["generations"][0].clone()
    };
    assert_eq!(gen("Passes")["evaluation"]["passed"], true);
    assert_eq!(gen("Should fail")["evaluation"]["passed"], false);
    assert!(gen("Should fail")["evaluation"]["explanation"].as_str().unwrap().contains("marked to fail"));
    sb.shutdown().await;
}

// ---- readings ----

async fn start_reading(reading: evalform_sandbox::Reading) -> (RunningSandbox, Client) {
    let config = SandboxConfig { readings: [reading].into(), ..SandboxConfig::default() };
    let sandbox = Sandbox::start(0, config).await.expect("start sandbox");
    let client = Client::new(&sandbox);
    (sandbox, client)
}

#[tokio::test]
async fn each_alternative_reading_changes_exactly_its_point() {
    use evalform_sandbox::Reading;
    let seed = |sb: &RunningSandbox| {
        sb.with_state(|s| {
            s.insert_folder(7, "Sales.Inbound").unwrap();
            s.insert_evaluator(5, json!({"name": "A", "agent": 101, "personality": 7})).unwrap();
            s.insert_evaluator(6, json!({"name": "B timeout", "agent": 101, "personality": 7})).unwrap();
        })
    };

    let (sb, c) = start_reading(Reading::FoldersTopLevel).await;
    seed(&sb);
    let (_, top) = c.get("/test_framework/v1/scenarios/folders/?project_id=7").await;
    assert_eq!(top["count"], 1, "only the top level without parent_path");
    let (_, below) = c.get("/test_framework/v1/scenarios/folders/?project_id=7&parent_path=Sales").await;
    assert_eq!(below["results"][0]["path"], "Sales.Inbound");

    let (sb, c) = start_reading(Reading::StatusUpper).await;
    seed(&sb);
    let (_, started) =
        c.post("/test_framework/v1/scenarios/run_scenarios/", json!({"agent_id": 101, "scenarios": [6]})).await;
    assert_eq!(started["status"], "PENDING");
    let result = format!("/test_framework/v2/results/{}/", started["id"]);
    let last = [c.get(&result).await.1, c.get(&result).await.1, c.get(&result).await.1][2].clone();
    assert_eq!(last["status"], "FAILED", "no timeout in this reading");

    let (sb, c) = start_reading(Reading::DeleteScenarioIds).await;
    seed(&sb);
    let del = "/test_framework/v1/scenarios-external/delete_scenarios";
    let (s, err) = c.post(del, json!({"scenarios": [5], "agent_id": 101})).await;
    assert_eq!((s, err), (400, json!({"scenario_ids": ["This field is required."]})));
    assert_eq!(c.post(del, json!({"scenario_ids": [5]})).await.0, 204);

    let (sb, c) = start_reading(Reading::AdvUpdateObjects).await;
    seed(&sb);
    let adv = "/test_framework/v1/scenarios/adv_update/";
    let (s, err) = c.post(adv, json!({"scenarios": [5], "agent": 101, "metric_ids_to_add": [501]})).await;
    assert_eq!((s, err), (400, json!({"scenarios": ["Invalid data. Expected a dictionary, but got int."]})));
    let (s, items) = c.post(adv, json!({"scenarios": [{"id": 5}], "agent": 101, "metric_ids_to_add": [501]})).await;
    assert_eq!((s, &items[0]["metrics"]), (200, &json!([501])));

    let (sb, c) = start_reading(Reading::AdvUpdateObjectReply).await;
    seed(&sb);
    let (_, item) = c.post(adv, json!({"scenarios": [5, 6], "agent": 101, "metric_ids_to_add": [501]})).await;
    assert_eq!((&item["id"], &item["metrics"]), (&json!(5), &json!([501])), "one object: {item}");

    let (sb, c) = start_reading(Reading::ToolsLowerCase).await;
    seed(&sb);
    let (s, err) = c.patch("/test_framework/v1/scenarios/5/", json!({"tool_ids": ["TOOL_END_CALL"]})).await;
    assert_eq!((s, err), (400, json!({"tool_ids": ["\"TOOL_END_CALL\" is not a valid choice."]})));
    assert_eq!(c.patch("/test_framework/v1/scenarios/5/", json!({"tool_ids": ["end_call"]})).await.0, 200);

    let (_sb, c) = start_reading(Reading::FirstMessageOnCreate).await;
    let (_, e) = c
        .post(
            "/test_framework/v1/scenarios",
            json!({"name": "C", "agent": 101, "personality": 7, "instructions": "x", "first_message": "Hello"}),
        )
        .await;
    assert_eq!(e["first_message"], "Hello");

    let (sb, c) = start_reading(Reading::TelaRunRequiresVersion).await;
    sb.with_state(|s| s.insert_test_case("a", json!({"promptId": PROMPT, "title": "A"})).unwrap());
    let refused = json!({"message": "promptVersionId must be a string.", "statusCode": 400});
    assert_eq!(c.tela(Method::POST, "/test-case/a/run", Some(json!({}))).await, (400, refused.clone()));
    assert_eq!(c.tela(Method::POST, "/test-case/a/run", None).await, (400, refused.clone()));
    let all = c.tela(Method::POST, "/test-case/run-all", Some(json!({"testCaseIds": ["a"]}))).await;
    assert_eq!(all, (400, refused), "run-all too");
    let (_, read) = c.tela(Method::GET, "/test-case/a?includeGenerations=true", None).await;
    assert_eq!(read["generations"], json!([]), "a refused run started nothing");
    let body = json!({"testCaseIds": ["a"], "promptVersionId": "v-7"});
    let (s, started) = c.tela(Method::POST, "/test-case/run-all", Some(body)).await;
    assert_eq!((s, started["testCaseIds"].clone()), (200, json!(["a"])));
    let (_, read) = c.tela(Method::GET, "/test-case/a?includeGenerations=true", None).await;
    assert_eq!(read["generations"][0]["promptVersionId"], "v-7");
    drop(sb);
}
