//! A local stand-in for the Cekura and Tela APIs, served on loopback for the test suite, the demo and benchmarks:
//! the same paths, auth headers, status codes, pagination and quirks as the real services (see `docs/sandbox.md`
//! for each choice made where the vendors say nothing), with seeded fault injection and a request log.
//!
//! It is a server, not a client: its stored types live in [`state`], never in the client's wire types or
//! `crate::model`. It binds only to 127.0.0.1 and never reaches the network.

pub mod drf;
pub mod faults;
pub mod log;
pub mod persist;
pub mod readings;
pub mod routes;
pub mod state;
pub mod world;

use std::future::IntoFuture;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use axum::Router;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

pub use drf::{ApiError, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX};
pub use faults::{FailNext, FaultConfig, FaultKind};
pub use log::{Counters, LoggedRequest, RequestOutcome};
pub use readings::{Reading, Readings, UnknownReading};
pub use state::{SandboxState, FAIL_MARKER};
pub use world::Seed;

use persist::StateFile;
use routes::{Api, Call};

/// How a sandbox starts.
#[derive(Debug, Clone, Default)]
pub struct SandboxConfig {
    /// The catalog it starts with (ignored when `state_file` exists: the file wins).
    pub seed: Seed,
    pub faults: FaultConfig,
    /// Keep state in this file: loaded at start when present, rewritten atomically after every committed write.
    pub state_file: Option<PathBuf>,
    /// The alternative readings to follow where the vendor's sources disagree (empty: every default).
    pub readings: Readings,
}

/// Starts sandboxes.
#[derive(Debug)]
pub struct Sandbox;

/// Everything the server shares between requests.
#[derive(Debug)]
struct Shared {
    state: Mutex<SandboxState>,
    faults: Mutex<faults::Faults>,
    log: Mutex<log::RequestLog>,
    file: Option<StateFile>,
    before_next: Mutex<Option<BeforeNext>>,
    /// Requests sleeping through their `latency_ms` right now (not yet handled).
    held: std::sync::atomic::AtomicUsize,
    /// Wakes every held request at once, so it is handled now (see [`RunningSandbox::release_held`]).
    release: tokio::sync::Notify,
}

/// A change of the state to make just before the next request of one method and path is handled: a person's
/// edit landing between a client's read and its write, without timing.
struct BeforeNext {
    method: String,
    path: String,
    edit: Box<dyn FnOnce(&mut SandboxState) + Send>,
}

impl std::fmt::Debug for BeforeNext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BeforeNext({} {})", self.method, self.path)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in a handler must not take the whole sandbox down with a poisoned lock.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Write the state file (when there is one) after a committed write. Serialised under the state lock so the
    /// file always holds a state the API has answered with.
    fn persist(&self, state: &SandboxState) {
        if let Some(file) = &self.file {
            if let Err(err) = file.save(state) {
                tracing::error!("sandbox: {err}");
            }
        }
    }
}

/// A sandbox serving on loopback until [`RunningSandbox::shutdown`] (or drop, which stops it too).
#[derive(Debug)]
pub struct RunningSandbox {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Sandbox {
    /// Bind 127.0.0.1:`port` (0 picks a free port) and serve until shut down.
    pub async fn start(port: u16, config: SandboxConfig) -> std::io::Result<RunningSandbox> {
        let file = config.state_file.map(StateFile::new);
        let mut state = match &file {
            Some(f) => f.load()?.unwrap_or_else(|| SandboxState::new(config.seed.clone())),
            None => SandboxState::new(config.seed.clone()),
        };
        state.readings = config.readings;
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            faults: Mutex::new(faults::Faults::new(config.faults)),
            log: Mutex::new(log::RequestLog::default()),
            file,
            before_next: Mutex::new(None),
            held: std::sync::atomic::AtomicUsize::new(0),
            release: tokio::sync::Notify::new(),
        });
        if let Some(file) = &shared.file {
            file.save(&lock(&shared.state)).map_err(std::io::Error::other)?;
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
        let addr = listener.local_addr()?;
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = axum::serve(KillableListener(listener), app.into_make_service_with_connect_info::<Conn>())
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
        let task = tokio::spawn(async move {
            if let Err(err) = server.into_future().await {
                tracing::error!("sandbox server stopped: {err}");
            }
        });
        Ok(RunningSandbox { addr, shared, stop: Some(stop), task: Some(task) })
    }
}

impl RunningSandbox {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: the base URL of both the Cekura and the Tela paths.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Read or change the state directly, as the dashboard would; the state file is rewritten afterwards.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut SandboxState) -> R) -> R {
        let mut state = lock(&self.shared.state);
        let out = f(&mut state);
        self.shared.persist(&state);
        out
    }

    /// Every request so far (except `/_sandbox/` ones), in order of arrival.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).entries()
    }

    pub fn counters(&self) -> Counters {
        lock(&self.shared.log).counters()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Run `edit` on the state just before the next `method` request to exactly `path` is handled (once).
    pub fn before_next(&self, method: &str, path: &str, edit: impl FnOnce(&mut SandboxState) + Send + 'static) {
        *lock(&self.shared.before_next) =
            Some(BeforeNext { method: method.to_string(), path: path.to_string(), edit: Box::new(edit) });
    }

    /// How many requests are being held by `latency_ms` right now: arrived, not yet handled. A test waits for
    /// this to know that a client's request is in flight, without timing.
    pub fn held_requests(&self) -> usize {
        self.shared.held.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// End the latency of every request held right now: each is handled at once, as if its latency were over. A
    /// test holds a client's request, does what it must while the request is in flight, then lets it land.
    pub fn release_held(&self) {
        self.shared.release.notify_waiters();
    }

    /// Replace the fault config (and restart its generator from its seed).
    pub fn set_faults(&self, faults: FaultConfig) {
        *lock(&self.shared.faults) = faults::Faults::new(faults);
    }

    /// Stop accepting, let requests in flight finish, and return.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            // In-flight connections get a short grace period; keep-alive clients must not hold shutdown forever.
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The one handler: faults, routing, auth, the state change, persistence, the log.
async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    req: Request<Body>,
) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(String::from);
    let headers = req.headers().clone();
    let bytes = to_bytes(req.into_body(), 16 * 1024 * 1024).await.unwrap_or_default();
    let body: Option<Value> = if bytes.is_empty() { None } else { serde_json::from_slice(&bytes).ok() };

    if path.starts_with("/_sandbox/") {
        return control(&shared, &method, &path, body);
    }

    let decision = lock(&shared.faults).decide(method.as_str(), &path);
    if decision.latency_ms > 0 {
        // Counted until the sleep ends, or until the request is dropped (its client went away).
        struct Held<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Held<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        // Made before the request counts as held: a release that follows a count that includes it wakes it.
        let released = shared.release.notified();
        shared.held.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let _held = Held(&shared.held);
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(decision.latency_ms)) => {}
            () = released => {}
        }
    }
    let route = routes::resolve(method.as_str(), &path);
    let template = route.as_ref().map(|r| r.template().to_string()).unwrap_or_else(|_| path.clone());
    let entry = |status: StatusCode, outcome| LoggedRequest {
        seq: 0,
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        route: template.clone(),
        status: status.as_u16(),
        body: body.clone(),
        outcome,
    };

    // A test's edit set to land just before this request (a person editing between evalform's read and write). It
    // lands whether or not a fault then answers the request: the person does not know of the fault.
    let hook = {
        let mut slot = lock(&shared.before_next);
        match slot.take() {
            Some(h) if h.method == method.as_str() && h.path == path => Some(h),
            other => {
                *slot = other;
                None
            }
        }
    };
    if let Some(h) = hook {
        (h.edit)(&mut lock(&shared.state));
    }
    let injected = injected_fault(&shared, decision.fault);
    if let Some((resp, outcome)) = injected {
        lock(&shared.log).push(entry(resp.status(), outcome));
        return resp;
    }

    let result = route.and_then(|route| {
        authenticate(route.api(), &headers)?;
        if body.is_none() && !bytes.is_empty() {
            return Err(match route.api() {
                Api::Cekura => {
                    ApiError::detail(StatusCode::BAD_REQUEST, "JSON parse error - the body is not valid JSON.")
                }
                Api::Tela => state::tela_error(StatusCode::BAD_REQUEST, "The body is not valid JSON."),
            });
        }
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
        let pairs = drf::parse_query(query.as_deref());
        let call =
            Call { method: method.as_str(), query: &pairs, body: body.as_ref(), url: format!("http://{host}{path}") };
        execute_and_commit(&shared, &route, &call)
    });
    let (status, resp) = match result {
        Ok((status, Some(routes::Payload::Value(v)))) => (status, (status, axum::Json(v)).into_response()),
        Ok((status, Some(routes::Payload::Json(bytes)))) => {
            (status, (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response())
        }
        Ok((status, None)) => (status, status.into_response()),
        Err(e) => {
            let mut resp = (e.status, axum::Json(e.body)).into_response();
            if e.status == StatusCode::UNAUTHORIZED {
                let scheme = if path.starts_with("/test-case") { "Bearer" } else { "Api-Key" };
                if let Ok(v) = scheme.parse() {
                    resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
            }
            (e.status, resp)
        }
    };
    if decision.fault == Some(FaultKind::DropAfterCommit) {
        lock(&shared.log).push(entry(status, RequestOutcome::DroppedAfterCommit));
        conn.kill();
        return resp;
    }
    if decision.fault == Some(FaultKind::UnreadableOk) && status.is_success() {
        lock(&shared.log).push(entry(status, RequestOutcome::AnsweredUnreadable));
        let page = "<html><head><title>OK</title></head><body>Request accepted.</body></html>";
        return (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response();
    }
    lock(&shared.log).push(entry(status, RequestOutcome::Answered));
    resp
}

/// The answer of an injected 429, 5xx, 400 or 404 (answered before the request is handled: nothing is committed).
fn injected_fault(shared: &Shared, fault: Option<FaultKind>) -> Option<(Response, RequestOutcome)> {
    match fault {
        Some(FaultKind::TooManyRequests) => {
            let secs = lock(&shared.faults).config().retry_after_secs;
            let resp = (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, secs.to_string())],
                axum::Json(
                    json!({ "detail": format!("Request was throttled. Expected available in {secs} seconds.") }),
                ),
            )
                .into_response();
            Some((resp, RequestOutcome::Injected429))
        }
        Some(FaultKind::ServerError) => {
            let code = lock(&shared.faults).config().server_error_status;
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let resp = (status, axum::Json(json!({ "detail": "A server error occurred." }))).into_response();
            Some((resp, RequestOutcome::Injected5xx))
        }
        Some(FaultKind::BadRequest) => {
            let resp = (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({ "detail": "Rejected by the sandbox's fault injection (bad_request)." })),
            )
                .into_response();
            Some((resp, RequestOutcome::Injected400))
        }
        Some(FaultKind::NotFound) => {
            let resp = (StatusCode::NOT_FOUND, axum::Json(json!({ "detail": "Not found." }))).into_response();
            Some((resp, RequestOutcome::Injected404))
        }
        _ => None,
    }
}

/// Run one request under the state lock; a write is all or nothing and is persisted when it succeeds.
fn execute_and_commit(shared: &Shared, route: &routes::Route, call: &Call<'_>) -> Result<routes::Reply, ApiError> {
    let mut state = lock(&shared.state);
    if !route.writes(call.method) {
        return routes::execute(&mut state, route, call);
    }
    if route.validates_before_writing() {
        // Single-evaluator writes check the whole body before they change anything, so they need no copy;
        // copying 10,000 evaluators per PATCH would make the sandbox, not the client, what benchmarks measure.
        let reply = routes::execute(&mut state, route, call)?;
        shared.persist(&state);
        return Ok(reply);
    }
    // Work on a copy so a handler that fails half-way leaves nothing behind: every write is all or nothing.
    let mut scratch = state.clone();
    let reply = routes::execute(&mut scratch, route, call)?;
    *state = scratch;
    shared.persist(&state);
    Ok(reply)
}

fn authenticate(api: Api, headers: &HeaderMap) -> Result<(), ApiError> {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).unwrap_or("");
    let auth = value("authorization");
    let bearer = !auth.strip_prefix("Bearer ").map(str::trim).unwrap_or("").is_empty();
    // Cekura takes its key header or an OAuth bearer token (what the vendor CLI sends after `cekura auth login`);
    // Tela takes only a bearer token.
    let accepted = match api {
        Api::Cekura => bearer || !value("x-cekura-api-key").is_empty(),
        Api::Tela => bearer,
    };
    if accepted {
        Ok(())
    } else {
        Err(ApiError::detail(StatusCode::UNAUTHORIZED, "Authentication credentials were not provided."))
    }
}

/// `/_sandbox/`: the log, the counters, the fault config and the state, for tests and benchmarks outside the
/// process. Not authenticated, not logged, never faulted.
fn control(shared: &Shared, method: &Method, path: &str, body: Option<Value>) -> Response {
    let json = |v: Value| (StatusCode::OK, axum::Json(v)).into_response();
    match (method.as_str(), path) {
        ("GET", "/_sandbox/requests") => json(serde_json::to_value(lock(&shared.log).entries()).unwrap_or_default()),
        ("DELETE", "/_sandbox/requests") => {
            lock(&shared.log).clear();
            StatusCode::NO_CONTENT.into_response()
        }
        ("GET", "/_sandbox/counters") => json(serde_json::to_value(lock(&shared.log).counters()).unwrap_or_default()),
        ("GET", "/_sandbox/faults") => json(serde_json::to_value(lock(&shared.faults).config()).unwrap_or_default()),
        ("POST", "/_sandbox/faults") => match body.map(serde_json::from_value::<FaultConfig>) {
            Some(Ok(config)) => {
                let v = serde_json::to_value(&config).unwrap_or_default();
                *lock(&shared.faults) = faults::Faults::new(config);
                json(v)
            }
            Some(Err(e)) => (StatusCode::BAD_REQUEST, axum::Json(json!({ "detail": e.to_string() }))).into_response(),
            None => (StatusCode::BAD_REQUEST, axum::Json(json!({ "detail": "Send a fault config as JSON." })))
                .into_response(),
        },
        ("GET", "/_sandbox/state") => json(serde_json::to_value(&*lock(&shared.state)).unwrap_or_default()),
        _ => (StatusCode::NOT_FOUND, axum::Json(json!({ "detail": "Not found." }))).into_response(),
    }
}

/// A connection's kill switch: once set, the connection's writes fail and hyper closes it without a response.
#[derive(Debug, Clone)]
struct Conn(Arc<AtomicBool>);

impl Conn {
    fn kill(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        stream.remote_addr().clone()
    }
}

#[derive(Debug)]
struct KillableListener(TcpListener);

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = Conn;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let killed = Arc::new(AtomicBool::new(false));
                    return (KillableStream { inner: stream, killed: killed.clone() }, Conn(killed));
                }
                // Out of file descriptors and the like: wait instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(Conn(Arc::new(AtomicBool::new(false))))
    }
}

#[derive(Debug)]
struct KillableStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

impl KillableStream {
    fn dead(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}

fn broken() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "sandbox fault: connection dropped after commit")
}

impl AsyncRead for KillableStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.dead() {
            return Poll::Ready(Err(broken()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if self.dead() {
            return Poll::Ready(Err(broken()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.dead() {
            return Poll::Ready(Err(broken()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if self.dead() {
            return Poll::Ready(Err(broken()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
