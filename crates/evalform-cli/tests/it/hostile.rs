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
