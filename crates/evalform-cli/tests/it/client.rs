//! The API clients over real sockets. Two kinds of server:
//! - `stub`: a tiny scripted HTTP/1.1 server in this file, for what only a socket shows: a connection dropped
//!   after the request was read, a write that times out, Retry-After, the concurrency bound, parallel pages.
//! - the sandbox (`sandbox_*` tests below): the project's stand-in of Cekura and Tela, with its fault injection.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use evalform::cekura::{fetch_agent, CekuraClient, FetchOptions};
use evalform::http::{ApiError, HttpSettings};
use evalform::model::{Information, MetricRef, Script};
use evalform::secret::ApiKey;
use evalform::tela::TelaClient;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request as the stub saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path and query.
    target: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// What the stub does with a request.
enum Act {
    Reply {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Read the request, then close the connection without answering.
    Drop,
    /// Answer after a delay.
    Slow(Duration, Box<Act>),
}

fn ok(body: Value) -> Act {
    Act::Reply { status: 200, headers: vec![], body: body.to_string() }
}

fn status(status: u16, body: &str) -> Act {
    Act::Reply { status, headers: vec![], body: body.to_string() }
}

type Handler = dyn Fn(&Seen, usize) -> Act + Send + Sync;

struct Stub {
    base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    max_in_flight: Arc<AtomicUsize>,
}

impl Stub {
    /// Serve on an ephemeral loopback port; `handler` gets each request and how many came before it.
    async fn start(handler: impl Fn(&Seen, usize) -> Act + Send + Sync + 'static) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let (seen2, max2) = (seen.clone(), max_in_flight.clone());
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { return };
                let (seen, handler, in_flight, max) = (seen2.clone(), handler.clone(), in_flight.clone(), max2.clone());
                tokio::spawn(async move {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(now, Ordering::SeqCst);
                    serve(socket, seen, handler).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Stub { base_url, seen, max_in_flight }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.seen().iter().filter(|s| s.method == method && s.target.starts_with(path_prefix)).count()
    }
}

async fn serve(mut socket: TcpStream, seen: Arc<Mutex<Vec<Seen>>>, handler: Arc<Handler>) {
    let Some(req) = read_request(&mut socket).await else { return };
    let n = {
        let mut log = seen.lock().unwrap();
        log.push(req.clone());
        log.len() - 1
    };
    let mut act = handler(&req, n);
    loop {
        match act {
            Act::Slow(delay, inner) => {
                tokio::time::sleep(delay).await;
                act = *inner;
            }
            Act::Drop => return,
            Act::Reply { status, headers, body } => {
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
                let _ = socket.shutdown().await;
                return;
            }
        }
    }
}

async fn read_request(socket: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Seen { method, target, headers, body })
}

fn settings() -> HttpSettings {
    HttpSettings { timeout: Duration::from_secs(5), ..HttpSettings::fast_for_tests() }
}

fn cekura(base_url: &str) -> CekuraClient {
    CekuraClient::new(base_url, ApiKey::new("test-key-123"), settings()).unwrap()
}

#[tokio::test]
async fn stub_reads_retry_through_429_and_5xx_honouring_retry_after() {
    let stub = Stub::start(|_, n| match n {
        0 => Act::Reply {
            status: 429,
            headers: vec![("Retry-After", "1".into())],
            body: r#"{"detail":"Slow down."}"#.into(),
        },
        1 => status(502, "<html><title>Bad Gateway</title></html>"),
        _ => ok(json!({"id": 12, "name": "Support line", "project": 1376})),
    })
    .await;
    let started = std::time::Instant::now();
    let agent = cekura(&stub.base_url).get_agent(12).await.unwrap();
    assert_eq!(agent.project, Some(1376));
    assert_eq!(stub.count("GET", "/test_framework/v2/aiagents/12/"), 3);
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was not honoured: {:?}", started.elapsed());
}

#[tokio::test]
async fn stub_the_key_user_agent_and_body_are_sent() {
    let stub = Stub::start(|_, _| ok(json!({}))).await;
    cekura(&stub.base_url).adv_update(&json!({"scenarios": [1], "agent": 12})).await.unwrap();
    let tela = TelaClient::new(&stub.base_url, ApiKey::new("tela-key"), settings()).unwrap();
    let _ = tela.list_test_cases("5f0c2a4e-0000-4000-8000-000000000001").await;
    let seen = stub.seen();
    assert_eq!(seen[0].headers["x-cekura-api-key"], "test-key-123");
    assert!(seen[0].headers["user-agent"].starts_with("evalform/"));
    assert_eq!(seen[0].headers["content-type"], "application/json");
    assert_eq!(seen[0].headers["accept"], "application/json");
    assert_eq!(serde_json::from_slice::<Value>(&seen[0].body).unwrap(), json!({"scenarios": [1], "agent": 12}));
    assert_eq!(seen[1].headers["authorization"], "Bearer tela-key");
    assert_eq!(seen[1].target, "/test-case?promptId=5f0c2a4e-0000-4000-8000-000000000001");
}

#[tokio::test]
async fn stub_a_dropped_write_is_outcome_unknown_and_sent_once() {
    let stub = Stub::start(|_, _| Act::Drop).await;
    let err = cekura(&stub.base_url)
        .adv_update(&json!({"scenarios": [1], "agent": 12, "append_instruction": "x"}))
        .await
        .unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
    insta::assert_snapshot!(err.to_string(), @"POST /test_framework/v1/scenarios/adv_update/: outcome unknown: connection closed before message completed; the request was sent and may or may not have been applied");
    assert_eq!(stub.count("POST", "/test_framework/v1/scenarios/adv_update/"), 1);
}

#[tokio::test]
async fn stub_a_dropped_read_is_retried() {
    let stub = Stub::start(|_, n| if n < 2 { Act::Drop } else { ok(json!([])) }).await;
    let profiles = cekura(&stub.base_url).list_test_profiles(12).await.unwrap();
    assert!(profiles.is_empty());
    assert_eq!(stub.count("GET", "/test_framework/v1/test-profiles/"), 3);
}

#[tokio::test]
async fn stub_a_write_answered_5xx_is_outcome_unknown_and_sent_once() {
    let stub = Stub::start(|_, _| status(500, r#"{"detail": "Internal error"}"#)).await;
    let err = cekura(&stub.base_url).patch_scenario(7, &json!({"tags": ["a"]})).await.unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"PATCH /test_framework/v1/scenarios/7/: outcome unknown: the server answered 500 Internal Server Error: Internal error; the request was sent and may or may not have been applied");
    assert_eq!(stub.count("PATCH", "/test_framework/v1/scenarios/7/"), 1);
}

#[tokio::test]
async fn stub_a_write_that_times_out_is_outcome_unknown() {
    let stub = Stub::start(|_, _| Act::Slow(Duration::from_secs(3), Box::new(ok(json!({}))))).await;
    let s = HttpSettings { timeout: Duration::from_millis(300), ..settings() };
    let client = CekuraClient::new(&stub.base_url, ApiKey::new("k"), s).unwrap();
    let err = client.create_folder(7, "Sales", None).await.unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_eq!(stub.count("POST", "/test_framework/v1/scenarios/create_folder/"), 1);
}

#[tokio::test]
async fn stub_a_throttled_create_is_never_sent_twice() {
    // A 429 does not prove the create was refused (a gateway may have passed it on): an unknown outcome, sent once.
    let stub = Stub::start(|_, n| match n {
        0 => Act::Reply { status: 429, headers: vec![("Retry-After", "0".into())], body: "{}".into() },
        _ => Act::Reply { status: 201, headers: vec![], body: json!({"id": 5, "name": "A"}).to_string() },
    })
    .await;
    let created = cekura(&stub.base_url).create_scenario(&json!({"name": "A", "personality": 7, "agent": 1})).await;
    let err = created.unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
    assert_eq!(stub.count("POST", "/test_framework/v1/scenarios/"), 1);
}

#[tokio::test]
async fn stub_a_throttled_idempotent_write_is_retried() {
    let stub = Stub::start(|_, n| match n {
        0 => Act::Reply { status: 429, headers: vec![("Retry-After", "0".into())], body: "{}".into() },
        _ => Act::Reply { status: 200, headers: vec![], body: json!({"id": 5, "name": "A"}).to_string() },
    })
    .await;
    let patched = cekura(&stub.base_url).patch_scenario(5, &json!({"name": "A"})).await;
    assert_eq!(patched.unwrap().item.id, 5);
    assert_eq!(stub.count("PATCH", "/test_framework/v1/scenarios/5/"), 2);
}

#[tokio::test]
async fn stub_a_write_to_a_closed_port_is_unavailable_not_unknown() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let s = HttpSettings { max_retries: 1, ..settings() };
    let err = CekuraClient::new(&base, ApiKey::new("k"), s).unwrap().delete_scenario(3).await.unwrap_err();
    assert!(matches!(err, ApiError::Unavailable { .. }), "{err}");
    assert!(err.to_string().contains("could not connect"), "{err}");
}

#[tokio::test]
async fn stub_rejections_carry_the_platform_message() {
    let stub =
        Stub::start(|_, _| status(400, r#"{"metric_ids_to_add": ["Invalid pk \"999\" - object does not exist."]}"#))
            .await;
    let err = cekura(&stub.base_url).adv_update(&json!({"scenarios": [1]})).await.unwrap_err();
    insta::assert_snapshot!(err.to_string(), @r#"POST /test_framework/v1/scenarios/adv_update/: 400 Bad Request: metric_ids_to_add: Invalid pk "999" - object does not exist."#);
    assert_eq!(err.status(), Some(400));
    let rendered = format!("{err} {err:?}");
    assert!(!rendered.contains("test-key-123"), "{rendered}");
}

#[tokio::test]
async fn stub_an_html_page_or_wrong_types_are_decode_errors() {
    let stub = Stub::start(|s, _| {
        if s.target.contains("aiagents") {
            Act::Reply { status: 200, headers: vec![], body: "<!DOCTYPE html><html><title>Login</title></html>".into() }
        } else {
            ok(json!([{"id": "seven", "name": "x"}]))
        }
    })
    .await;
    let client = cekura(&stub.base_url);
    insta::assert_snapshot!(client.get_agent(1).await.unwrap_err().to_string(), @r#"GET /test_framework/v2/aiagents/1/: unexpected response: expected JSON, got an HTML page ("Login", 48 bytes)"#);
    insta::assert_snapshot!(client.list_metrics(1).await.unwrap_err().to_string(), @r#"GET /test_framework/v2/metrics/?agent_id=1: unexpected response: invalid type: string "seven", expected u64 at line 1 column 14"#);
}

/// A DRF list of `total` scenarios whose server caps `page_size` at `cap`.
fn scenario_pages(total: u64, cap: u64) -> impl Fn(&Seen, usize) -> Act + Send + Sync + 'static {
    growing_pages(move |_| total, cap)
}

/// A DRF list whose size is `total(n)` when the n-th request arrives.
fn growing_pages(
    total: impl Fn(usize) -> u64 + Send + Sync + 'static,
    cap: u64,
) -> impl Fn(&Seen, usize) -> Act + Send + Sync + 'static {
    move |s, n| {
        let total = total(n);
        let page: u64 = query(&s.target, "page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let size: u64 = query(&s.target, "page_size").and_then(|p| p.parse().ok()).unwrap_or(50).min(cap);
        let start = (page - 1) * size;
        let results: Vec<Value> = (start..(start + size).min(total))
            .map(|i| json!({"id": i + 1, "name": format!("E{i}"), "agent": 12, "instructions": "x", "metrics": [501]}))
            .collect();
        let next = (start + size < total).then(|| format!("http://elsewhere.test/x/?page={}", page + 1));
        Act::Slow(
            Duration::from_millis(30),
            Box::new(ok(json!({"count": total, "next": next, "previous": null, "results": results}))),
        )
    }
}

fn query<'a>(target: &'a str, key: &str) -> Option<&'a str> {
    target.split_once('?')?.1.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == key).map(|(_, v)| v)
}

#[tokio::test]
async fn stub_pagination_reads_every_page_in_parallel_within_the_bound() {
    let stub = Stub::start(scenario_pages(1030, 50)).await;
    let s = HttpSettings { parallelism: 3, ..settings() };
    let client = CekuraClient::new(&stub.base_url, ApiKey::new("k"), s).unwrap();
    let items = client.list_scenarios(12).await.unwrap();
    assert_eq!(items.len(), 1030);
    assert_eq!(items.iter().map(|i| i.id).collect::<Vec<_>>(), (1..=1030).collect::<Vec<_>>());
    assert_eq!(stub.count("GET", "/test_framework/v1/scenarios/"), 21);
    let max = stub.max_in_flight.load(Ordering::SeqCst);
    assert!(max > 1 && max <= 3, "in flight at once: {max}");
    // `next` names another host: the client asked its own base URL instead.
    assert!(stub.seen().iter().all(|s| s.target.contains("agent_id=12")));
}

#[tokio::test]
async fn stub_a_list_that_changes_while_read_is_read_again() {
    // One evaluator is created right after the first page was served.
    let stub = Stub::start(growing_pages(|n| if n == 0 { 150 } else { 151 }, 100)).await;
    let items = cekura(&stub.base_url).list_scenarios(12).await.unwrap();
    assert_eq!(items.iter().map(|i| i.id).collect::<Vec<_>>(), (1..=151).collect::<Vec<_>>());
    assert_eq!(stub.count("GET", "/test_framework/v1/scenarios/"), 4, "two readings of two pages");
}

/// A stub Cekura with one agent's state, for the fetcher.
fn world(s: &Seen, _: usize) -> Act {
    let path = s.target.split('?').next().unwrap_or("");
    let flow = json!({"role": "A patient", "conditions": [
        {"id": 0, "condition": "FIRST_MESSAGE", "action": "Hi", "fixed_message": true},
        {"id": 1, "condition": 0, "action": "Thanks <endcall />"}]});
    match path {
        "/test_framework/v2/aiagents/12/" => ok(json!({"id": 12, "project": 1376, "description": ""})),
        "/test_framework/v1/scenarios/" => ok(json!({"count": 2, "next": null, "previous": null, "results": [
            {"id": 1, "name": "Order status", "agent": 12, "personality": 7, "scenario_type": "instruction",
             "instructions": "Ask about order 1.\r\n", "metrics": [502, 501], "tags": ["b", "a"],
             "tool_ids": ["TOOL_END_CALL"], "phone_number": "+14155550144", "folder_path": "Sales",
             "scenario_language": "en", "first_message": "Hi", "expected_outcome_prompt": "Date given",
             "test_profile": 3, "updated_at": "2026-11-01T00:00:00Z"},
            {"id": 2, "name": "Book", "agent": 12, "personality": 8, "scenario_type": "conditional_actions",
             "instructions": flow.to_string(), "metrics": [], "tags": null, "tool_ids": [], "folder_path": null}]})),
        "/test_framework/v1/scenarios/1/" => ok(json!({"id": 1, "name": "Order status", "max_duration": 300,
            "outbound_phone_number_data": {"id": 44, "number": "+14155550144", "phone_number_id": "x"}})),
        "/test_framework/v1/scenarios/2/" => ok(json!({"id": 2, "name": "Book", "max_duration": null})),
        "/test_framework/v1/test-profiles/" => ok(json!([{"id": 3, "name": "Premium caller", "agent": 12,
            "information": {"main_agent_variables": {"user_id": "U-42"}, "testing_agent_variables": {"n": 1}}}])),
        "/test_framework/v1/scenarios/folders/" => ok(json!({"count": 2, "next": null, "previous": null,
            "results": [{"name": "Sales", "path": "Sales"}, {"name": "Inbound", "path": "Sales.Inbound"}]})),
        "/test_framework/v2/metrics/" => ok(json!([{"id": 501, "slug": "call_success", "name": "Call success"}])),
        "/test_framework/v1/personalities/" => ok(json!([{"id": 7, "name": "Normal Male", "language": "en"}])),
        "/test_framework/v1/phone-numbers/inbound/" => {
            ok(json!([{"id": 44, "number": "+14155550144", "phone_number_id": "a"}]))
        }
        _ => status(404, r#"{"detail": "Not found."}"#),
    }
}

#[tokio::test]
async fn stub_fetch_agent_normalises_everything() {
    let stub = Stub::start(world).await;
    let client = cekura(&stub.base_url);
    let fetched = fetch_agent(&client, 12, &FetchOptions::default()).await.unwrap();
    assert_eq!(stub.count("GET", "/test_framework/v1/scenarios/1/"), 0, "no single reads unless asked");
    let st = &fetched.state;
    assert_eq!(st.project, Some(1376));
    assert_eq!(st.folders.iter().cloned().collect::<Vec<_>>(), vec!["Sales", "Sales.Inbound"]);
    let order = &st.evaluators[0].spec;
    assert_eq!(order.metrics.as_ref().unwrap().iter().next(), Some(&MetricRef::Id(501)));
    assert_eq!(order.phone_number, Some(44));
    assert_eq!(order.max_duration, None);
    assert!(matches!(&st.evaluators[1].spec.script, Some(Script::Flow(f)) if f.conditions.len() == 2));
    assert_eq!(st.evaluators[1].spec.folder.as_deref(), Some(""));
    assert!(matches!(st.test_profiles[0].information, Some(Information::Sectioned { .. })));
    assert_eq!(fetched.catalog.metrics[0].slug.as_deref(), Some("call_success"));
    assert_eq!(fetched.remote.evaluators[&1].as_deref(), Some("2026-11-01T00:00:00Z"));

    let with_durations = FetchOptions { need_max_duration: true, project: Some(1376), ..FetchOptions::default() };
    let fetched = fetch_agent(&client, 12, &with_durations).await.unwrap();
    assert_eq!(fetched.state.evaluators[0].spec.max_duration, Some(300));
    assert_eq!(stub.count("GET", "/test_framework/v1/scenarios/1/"), 1);
    // The agent is read even when its project is given, so that an id that does not exist is said as such.
    assert_eq!(stub.count("GET", "/test_framework/v2/aiagents/"), 2);
}

#[tokio::test]
async fn stub_fetch_errors_name_what_was_read() {
    let stub =
        Stub::start(
            |s, n| if s.target.contains("test-profiles") { status(403, r#"{"detail": "No."}"#) } else { world(s, n) },
        )
        .await;
    let err = fetch_agent(&cekura(&stub.base_url), 12, &FetchOptions::default()).await.unwrap_err();
    let cli = evalform_cli::error::CliError::from_error(&err);
    insta::assert_snapshot!(cli.to_string(), @r"
    error: reading the test profiles of Cekura agent 12
    caused by: GET /test_framework/v1/test-profiles/?agent_id=12: 403 Forbidden: No.
    ");
}

/// An evaluator deleted between the list and its single read (a racing apply removing its twin) is simply gone:
/// the fetch does not fail on its 404.
#[tokio::test]
async fn stub_an_evaluator_deleted_after_the_list_is_left_out() {
    let stub = Stub::start(|s, n| {
        if s.target.starts_with("/test_framework/v1/scenarios/2/") {
            status(404, r#"{"detail": "Not found."}"#)
        } else {
            world(s, n)
        }
    })
    .await;
    let opts = FetchOptions { need_max_duration: true, ..FetchOptions::default() };
    let fetched = fetch_agent(&cekura(&stub.base_url), 12, &opts).await.unwrap();
    let ids: Vec<Option<u64>> = fetched.state.evaluators.iter().map(|e| e.id).collect();
    assert_eq!(ids, [Some(1)]);
    assert!(!fetched.remote.evaluators.contains_key(&2));
}
