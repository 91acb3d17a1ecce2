//! Hostile input. Random and mangled manifests either load or fail with errors located in the file, never a panic.
//! API answers that are not what the spec says (HTML error pages, truncated JSON, wrong types, missing fields)
//! make `plan` fail with a clear error naming the request, never a panic and never a plan.

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::{header, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use evalform::manifest::{self, EnvMode, LoadOptions, ManifestFile};
use evalform_sandbox::{Sandbox, SandboxConfig};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::common::{evalform, run};

const VALID: &str = include_str!("../../../../examples/specs/acme-shop/orders.yaml");

/// Pieces that make YAML and manifests go wrong in interesting ways.
const FRAGMENTS: &[&str] = &[
    "\n",
    ": ",
    "- ",
    "  ",
    "\t",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "'",
    "&a ",
    "*a",
    "!!int ",
    "!!binary ",
    "|",
    ">",
    "#",
    "---\n",
    "...\n",
    "version: 1\n",
    "version: 2",
    "cekura:",
    "agent: ",
    "evaluators:",
    "name: ",
    "instructions: ",
    "id: ",
    "metrics: [",
    "folder: ",
    "${env:",
    "${env:NOPE}",
    "}",
    "99999999999999999999999",
    "-1",
    "1.5",
    "null",
    "~",
    "? ",
    "<<: *a",
    "\u{feff}",
    "é",
    "\u{0}",
    "\r\n",
    "\r",
];

fn load(text: &str) -> Result<(), manifest::Diagnostics> {
    let no_env = |_: &str| None;
    let files = vec![ManifestFile { path: "m.yaml".into(), text: text.to_string() }];
    manifest::load_texts(files, &LoadOptions { env: &no_env, mode: EnvMode::Required, environment: None }).map(|_| ())
}

/// Every problem names the file, and a position inside it when it has one.
fn assert_located(text: &str, result: Result<(), manifest::Diagnostics>) -> Result<(), TestCaseError> {
    let Err(diagnostics) = result else { return Ok(()) };
    prop_assert!(!diagnostics.is_empty(), "an error without a diagnostic");
    let lines = line_count(text);
    for d in diagnostics.iter() {
        prop_assert_eq!(&d.file, "m.yaml");
        prop_assert!(!d.message.trim().is_empty());
        let pos = d.pos.ok_or_else(|| TestCaseError::fail(format!("no position: {}", d.message)))?;
        prop_assert!(pos.line >= 1 && pos.line <= lines + 1, "line {} of {lines}: {}", pos.line, d.message);
        prop_assert!(pos.column >= 1, "column {}: {}", pos.column, d.message);
    }
    prop_assert!(diagnostics.render(false).contains("--> m.yaml:"));
    Ok(())
}

/// A valid manifest with a few random cuts and insertions.
fn mangled() -> impl Strategy<Value = String> {
    prop::collection::vec((0..VALID.len(), 0..FRAGMENTS.len(), 0usize..3, 0usize..20), 1..6).prop_map(|edits| {
        let mut text = VALID.to_string();
        for (at, frag, kind, len) in edits {
            let mut at = at.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            match kind {
                0 => text.insert_str(at, FRAGMENTS[frag]),
                1 => {
                    let mut end = (at + len).min(text.len());
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    text.replace_range(at..end, "");
                }
                _ => text.replace_range(at..at, &FRAGMENTS[frag].repeat(len % 3 + 1)),
            }
        }
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn mangled_manifests_load_or_fail_with_located_errors(text in mangled()) {
        assert_located(&text, load(&text))?;
    }

    #[test]
    fn random_text_loads_or_fails_with_located_errors(
        parts in prop::collection::vec(prop::sample::select(FRAGMENTS), 0..40)
    ) {
        let text = parts.concat();
        assert_located(&text, load(&text))?;
    }
}

/// What the proxy answers instead of the evaluator list: status, content type, body.
type Mangle = fn(Vec<u8>) -> (StatusCode, &'static str, Vec<u8>);

/// A proxy in front of the sandbox that answers the evaluator list with `mangle(real answer)`.
struct Proxy {
    upstream: String,
    client: reqwest::Client,
    mangle: Mangle,
}

async fn forward(State(p): State<Arc<Proxy>>, req: Request<Body>) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let pq = req.uri().path_and_query().map(|x| x.to_string()).unwrap_or_default();
    let body = to_bytes(req.into_body(), 1 << 24).await.unwrap_or_default();
    let upstream = p
        .client
        .request(method.clone(), format!("{}{pq}", p.upstream))
        .header("X-CEKURA-API-KEY", "k")
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    let Ok(upstream) = upstream else { return StatusCode::BAD_GATEWAY.into_response() };
    let status = upstream.status();
    let bytes = upstream.bytes().await.unwrap_or_default().to_vec();
    if method == "GET" && path == "/test_framework/v1/scenarios/" {
        let (status, content_type, bytes) = (p.mangle)(bytes);
        return (status, [(header::CONTENT_TYPE, content_type)], bytes).into_response();
    }
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

fn edit_first(bytes: Vec<u8>, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Vec<u8> {
    let mut page: Value = serde_json::from_slice(&bytes).unwrap();
    if let Some(Value::Object(item)) = page.pointer_mut("/results/0") {
        f(item);
    }
    serde_json::to_vec(&page).unwrap()
}

const MANIFEST: &str = "version: 1\ncekura:\n  agent: 12\n  project: 1376\n  evaluators:\n    - name: Refund\n      \
                        personality: 7\n      instructions: Ask for a refund.\n      metrics: [501]\n";

/// Run `evalform plan` through a proxy that mangles the evaluator list; return exit code, stdout, stderr.
async fn plan_through(mangle: Mangle) -> crate::common::Output {
    let sandbox = Sandbox::start(0, SandboxConfig::default()).await.unwrap();
    sandbox.with_state(|s| {
        s.insert_evaluator(
            5,
            json!({"name": "Refund", "agent": 12, "personality": 7, "instructions": "Ask for a refund.", "metrics": [502]}),
        )
        .unwrap();
    });
    let proxy = Arc::new(Proxy { upstream: sandbox.base_url(), client: reqwest::Client::new(), mangle });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), MANIFEST).unwrap();
    let mut cmd = evalform();
    cmd.args(["plan", "m.yaml"])
        .env("CEKURA_API_KEY", "k")
        .env("CEKURA_BASE_URL", format!("http://{addr}"))
        .env("EVALFORM_FAST_RETRIES", "1");
    let path = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || run(cmd, Some(&path))).await.unwrap();
    server.abort();
    sandbox.shutdown().await;
    out
}

fn assert_clear_failure(out: &crate::common::Output, expect: &str) {
    assert_eq!(out.code, 1, "{}", out.snapshot());
    assert!(out.stdout.is_empty(), "a plan was printed:\n{}", out.snapshot());
    assert!(!out.stderr.contains("panicked"), "{}", out.snapshot());
    assert!(out.stderr.starts_with("error: "), "{}", out.snapshot());
    assert!(out.stderr.contains("/test_framework/v1/scenarios/"), "the error names no request:\n{}", out.snapshot());
    assert!(out.stderr.contains(expect), "expected {expect:?} in:\n{}", out.snapshot());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_error_page_is_a_clear_error() {
    let out = plan_through(|_| {
        (StatusCode::OK, "text/html", b"<!DOCTYPE html><html><body><h1>Bad Gateway</h1></body></html>".to_vec())
    })
    .await;
    assert_clear_failure(&out, "expected JSON");
    crate::common::settings().bind(|| insta::assert_snapshot!("hostile_html_page", out.snapshot()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_json_is_a_clear_error() {
    let out = plan_through(|b| {
        let half = b.len() / 2;
        (StatusCode::OK, "application/json", b[..half].to_vec())
    })
    .await;
    assert_clear_failure(&out, "truncated JSON");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_type_is_a_clear_error() {
    let out = plan_through(|b| {
        (StatusCode::OK, "application/json", edit_first(b, |item| drop(item.insert("metrics".into(), json!("502")))))
    })
    .await;
    assert_clear_failure(&out, "metrics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_id_is_a_clear_error() {
    let out =
        plan_through(|b| (StatusCode::OK, "application/json", edit_first(b, |item| drop(item.remove("id"))))).await;
    assert_clear_failure(&out, "id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_name_is_a_clear_error_not_a_rename() {
    let out =
        plan_through(|b| (StatusCode::OK, "application/json", edit_first(b, |item| drop(item.remove("name"))))).await;
    assert_clear_failure(&out, "name");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_that_are_not_a_list_are_a_clear_error() {
    let out = plan_through(|b| {
        let mut page: Value = serde_json::from_slice(&b).unwrap();
        page["results"] = json!({"0": {}});
        (StatusCode::OK, "application/json", serde_json::to_vec(&page).unwrap())
    })
    .await;
    assert_clear_failure(&out, "expected a sequence");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_answer_plans_the_metric_change() {
    // The proxy itself changes nothing: without mangling, the plan shows the one drifted field.
    let out = plan_through(|b| (StatusCode::OK, "application/json", b)).await;
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(out.stdout.contains("metrics"), "{}", out.snapshot());
}

/// Lines as YAML counts them: `\n`, `\r\n` and a lone `\r` each end one (as most editors also show them).
fn line_count(text: &str) -> usize {
    1 + text.replace("\r\n", "\n").chars().filter(|&c| c == '\n' || c == '\r').count()
}

/// One request as a [`Hook`] sees it.
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

/// Called with `None` before a request is passed on: `Some(answer)` answers it instead of the sandbox. Called again
/// with the sandbox's status after it was passed on: `Some(answer)` replaces the sandbox's answer (a proxy that
/// lost or rewrote the answer of a request the platform did handle).
pub type Hook = Arc<dyn Fn(&Seen, Option<u16>) -> Option<Response> + Send + Sync>;

struct HookProxy {
    upstream: String,
    client: reqwest::Client,
    hook: Hook,
}

async fn forward_hooked(State(p): State<Arc<HookProxy>>, req: Request<Body>) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let pq = req.uri().path_and_query().map(|x| x.to_string()).unwrap_or_default();
    let headers = req.headers().clone();
    let body = to_bytes(req.into_body(), 1 << 24).await.unwrap_or_default().to_vec();
    let seen = Seen { method: method.to_string(), path, query, headers: headers.clone(), body: body.clone() };
    if let Some(answer) = (p.hook)(&seen, None) {
        return answer;
    }
    let mut upstream = p.client.request(method, format!("{}{pq}", p.upstream)).body(body);
    for (name, value) in &headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            upstream = upstream.header(name, value);
        }
    }
    let Ok(upstream) = upstream.send().await else { return StatusCode::BAD_GATEWAY.into_response() };
    let status = upstream.status();
    let bytes = upstream.bytes().await.unwrap_or_default().to_vec();
    if let Some(answer) = (p.hook)(&seen, Some(status.as_u16())) {
        return answer;
    }
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// A loopback proxy in front of `upstream` (the sandbox) that lets `hook` answer any request itself. Returns its
/// base URL; it stops with the test's runtime.
pub async fn hooked_proxy(upstream: String, hook: Hook) -> String {
    let proxy = Arc::new(HookProxy { upstream, client: reqwest::Client::new(), hook });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(forward_hooked).with_state(proxy);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A JSON answer from a hook.
pub fn answer(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// `plan` of [`MANIFEST`] through a proxy with `hook`, with extra arguments; the sandbox holds "Refund".
async fn plan_hooked(hook: Hook, extra: &[&str]) -> crate::common::Output {
    let sandbox = Sandbox::start(0, SandboxConfig::default()).await.unwrap();
    sandbox.with_state(|s| {
        s.insert_evaluator(5, json!({"name": "Refund", "agent": 12, "personality": 7, "instructions": "Ask."}))
            .unwrap();
    });
    let base = hooked_proxy(sandbox.base_url(), hook).await;
    let out = plan_at(&base, extra).await;
    sandbox.shutdown().await;
    out
}

async fn plan_at(base: &str, extra: &[&str]) -> crate::common::Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), MANIFEST).unwrap();
    let mut cmd = evalform();
    cmd.args(["plan", "m.yaml"])
        .args(extra)
        .env("CEKURA_API_KEY", "k")
        .env("CEKURA_BASE_URL", base)
        .env("EVALFORM_FAST_RETRIES", "1");
    let path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || run(cmd, Some(&path))).await.unwrap()
}

fn list_page(count: u64, next: Option<&str>) -> Response {
    let item = json!({"id": 5, "name": "Refund", "agent": 12, "personality": 7, "instructions": "Ask.",
        "metrics": [], "scenario_type": "instruction", "expected_outcome_prompt": "", "tags": []});
    answer(StatusCode::OK, json!({"count": count, "next": next, "previous": null, "results": [item]}))
}

fn is_list(seen: &Seen) -> bool {
    seen.method == "GET" && seen.path == "/test_framework/v1/scenarios/"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_count_of_ten_to_the_fifteen_is_a_clear_error_not_an_abort() {
    let hook: Hook = Arc::new(|seen: &Seen, after: Option<u16>| {
        (after.is_none() && is_list(seen)).then(|| list_page(1_000_000_000_000_000, Some("http://x.test/?page=2")))
    });
    let out = plan_hooked(hook, &[]).await;
    assert_eq!(out.code, 1, "{}", out.snapshot());
    assert!(out.stderr.contains("announces 1000000000000000 items"), "{}", out.snapshot());
    crate::common::settings().bind(|| insta::assert_snapshot!("hostile_huge_count", out.snapshot()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_link_that_loops_is_a_clear_error_not_a_hang() {
    // Every page claims one item in all and links to the same next page.
    let hook: Hook = Arc::new(|seen: &Seen, after: Option<u16>| {
        (after.is_none() && is_list(seen)).then(|| list_page(1, Some("http://x.test/?page=2")))
    });
    let out = plan_hooked(hook, &[]).await;
    assert_eq!(out.code, 1, "{}", out.snapshot());
    assert!(out.stderr.contains("`next` link loops"), "{}", out.snapshot());
    crate::common::settings().bind(|| insta::assert_snapshot!("hostile_next_loops", out.snapshot()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_link_that_never_ends_is_a_clear_error_not_a_hang() {
    // Every page claims one item in all and links to a new page, forever.
    let hook: Hook = Arc::new(|seen: &Seen, after: Option<u16>| {
        (after.is_none() && is_list(seen)).then(|| {
            let next = format!("http://x.test/?{}&more", seen.query);
            list_page(1, Some(&next))
        })
    });
    let out = plan_hooked(hook, &[]).await;
    assert_eq!(out.code, 1, "{}", out.snapshot());
    assert!(out.stderr.contains("the list does not end"), "{}", out.snapshot());
    crate::common::settings().bind(|| insta::assert_snapshot!("hostile_next_never_ends", out.snapshot()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_larger_than_the_limit_is_not_read() {
    let hook: Hook = Arc::new(|seen: &Seen, after: Option<u16>| {
        (after.is_none() && is_list(seen)).then(|| {
            let body = vec![b' '; evalform::http::MAX_BODY + 1];
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        })
    });
    let out = plan_hooked(hook, &[]).await;
    assert_eq!(out.code, 1, "{}", out.snapshot());
    assert!(out.stderr.contains("larger than 67108864 bytes; not read"), "{}", out.snapshot());
    crate::common::settings().bind(|| insta::assert_snapshot!("hostile_body_too_large", out.snapshot()));
}

/// A server that accepts every connection, sends the head of a 200 answer, then one byte of its body every
/// 100 ms, forever: a slow-loris answer.
async fn slow_loris() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                loop {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    if socket.write_all(b"1\r\n \r\n").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_loris_answer_is_cut_by_the_deadline_and_the_slow_host_is_named() {
    let base = slow_loris().await;
    let host = base.trim_start_matches("http://").to_string();
    let out = plan_at(&base, &["--deadline", "2"]).await;
    assert_eq!(out.code, 1, "{}", out.snapshot());
    assert!(out.stderr.contains(&host), "the slow host is not named:\n{}", out.snapshot());
    assert!(out.stderr.contains("--deadline"), "{}", out.snapshot());
    crate::common::settings().bind(|| insta::assert_snapshot!("hostile_slow_loris", out.snapshot()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_to_a_create_the_platform_handled_never_creates_twice() {
    // The proxy passes the first create on (the platform applies it), then answers 429 as a gateway would.
    let sandbox = Sandbox::start(0, SandboxConfig::default()).await.unwrap();
    let throttled = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = throttled.clone();
    let hook: Hook = Arc::new(move |seen: &Seen, after: Option<u16>| {
        let create = seen.method == "POST" && seen.path == "/test_framework/v1/scenarios/";
        if create && after.is_some() && count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            return Some(answer(StatusCode::TOO_MANY_REQUESTS, json!({"detail": "Request was throttled."})));
        }
        None
    });
    let base = hooked_proxy(sandbox.base_url(), hook).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), MANIFEST).unwrap();
    let mut cmd = evalform();
    cmd.args(["apply", "--auto-approve", "m.yaml"])
        .env("CEKURA_API_KEY", "k")
        .env("CEKURA_BASE_URL", &base)
        .env("EVALFORM_FAST_RETRIES", "1");
    let path = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || run(cmd, Some(&path))).await.unwrap();
    let names = sandbox.with_state(|s| {
        let state = serde_json::to_value(&*s).unwrap();
        let text = state.to_string();
        text.matches("\"Refund\"").count()
    });
    assert_eq!(
        throttled.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the create was sent again:\n{}",
        out.snapshot()
    );
    assert_eq!(names, 1, "the evaluator exists {names} times:\n{}", out.snapshot());
    assert!(out.stdout.contains("unknown outcome"), "{}", out.snapshot());
    assert_eq!(out.code, 0, "{}", out.snapshot());
    sandbox.shutdown().await;
}
