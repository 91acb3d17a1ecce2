//! The one HTTP transport both platform clients share: base URL and key checked once, user agent, timeouts,
//! bounded concurrency, retries with backoff and jitter, and the classification of every failure into an
//! [`ApiError`] that says what the caller may do next.
//!
//! The rule this module exists to keep: only requests that are safe to repeat are repeated. Reads (`GET`) are
//! retried on 408, 429, 5xx, timeouts and dropped connections. Writes are retried only when the server certainly
//! did not act on them:
//! - the connection could not be opened (nothing was sent);
//! - the server answered 429 to an idempotent write (`PUT`, `PATCH`, `DELETE`): sending it again sets the same
//!   values, whoever applied the first one.
//!
//! A `POST` (a create, `adv_update` with `append_instruction`, starting runs) is never sent twice. A 429 does not
//! prove that it was refused: the platform's own throttle answers before its handler runs, but a proxy or gateway
//! in between may have passed the request on and answered 429 itself. So a 429 to a `POST` is an unknown outcome,
//! like any other failure of a write after it was sent (timeout, connection dropped before the answer, 5xx): it
//! comes back as [`ApiError::OutcomeUnknown`] and the caller settles it by reading the remote state again.
//!
//! Every read is bounded: an answer body larger than [`HttpSettings::max_body`] is not read (a clear error, not an
//! out-of-memory abort); each request has an overall deadline ([`HttpSettings::timeout`], covering a server that
//! trickles its answer byte by byte); and [`HttpSettings::deadline`] bounds every request of a whole command. A
//! timeout names the host that was slow.
//!
//! This module knows HTTP and JSON, nothing of manifests, plans or the platforms' resources. It never logs a key
//! or a body: one `info` line per attempt with method, path, status, duration and body size.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;

use crate::secret::ApiKey;

/// How a client talks to its platform. One value per command run, from the global flags.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Requests in flight at once, per client (`--parallelism`).
    pub parallelism: usize,
    /// Whole-request timeout: connect, send, and read the answer.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries after the first attempt, for requests that may be retried at all.
    pub max_retries: u32,
    pub user_agent: String,
    /// First backoff step; doubles per retry up to `backoff_max`, with jitter.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// The longest `Retry-After` honoured. A server asking for more is reported as unavailable rather than
    /// waited on, so a command never hangs for minutes on a rate limit.
    pub max_retry_after: Duration,
    /// The largest answer body read, in bytes.
    pub max_body: usize,
    /// When set, no request is started, waited on or retried past this instant (`--deadline`).
    pub deadline: Option<Instant>,
}

/// The default [`HttpSettings::max_body`]: 64 MiB, far above any answer the platforms give.
pub const MAX_BODY: usize = 64 << 20;

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            parallelism: 8,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_retries: 4,
            user_agent: format!("evalform/{}", env!("CARGO_PKG_VERSION")),
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            max_body: MAX_BODY,
            deadline: None,
        }
    }
}

impl HttpSettings {
    /// Settings for tests against the local sandbox: short backoff so fault-injection tests run fast.
    pub fn fast_for_tests() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(10),
            backoff_base: Duration::from_millis(2),
            backoff_max: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(2),
            max_retries: 8,
            ..HttpSettings::default()
        }
    }
}

/// Why a request failed, classified by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A clean failure: the server answered with a 4xx (not 429) and did not apply the request.
    #[error("{method} {path}: {}: {message}", status_text(*status))]
    Rejected { method: String, path: String, status: u16, message: String },
    /// A write was sent and may or may not have been applied. Settle it by reading, never by resending.
    #[error("{method} {path}: outcome unknown: {reason}; the request was sent and may or may not have been applied")]
    OutcomeUnknown { method: String, path: String, reason: String },
    /// A read (or a write that was certainly not applied) failed, after retries where retrying was allowed.
    #[error("{method} {path}: unavailable: {reason}")]
    Unavailable { method: String, path: String, reason: String },
    /// The answer is not what the API documents: an HTML page, wrong types, truncated JSON. For a write this
    /// means the server answered 2xx (it applied the request) but its answer could not be read.
    #[error("{method} {path}: unexpected response: {reason}")]
    Decode { method: String, path: String, reason: String },
    /// No key was given for a platform; `variable` is where the caller looked for it.
    #[error("no {platform} API key: set {variable}")]
    MissingKey { platform: &'static str, variable: String },
    /// A key over plain `http://` to a non-loopback host, a bad base URL, a key that cannot be a header.
    #[error("{0}")]
    Config(String),
}

impl ApiError {
    /// The HTTP status of a rejected request.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Rejected { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, ApiError::OutcomeUnknown { .. })
    }
}

fn status_text(status: u16) -> String {
    match StatusCode::from_u16(status) {
        Ok(s) => s.to_string(),
        Err(_) => status.to_string(),
    }
}

/// How a platform wants its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    /// The key as the whole value of a named header (Cekura: `X-CEKURA-API-KEY`).
    Header(&'static str),
    /// `Authorization: Bearer <key>` (Tela).
    Bearer,
}

/// A configured connection to one platform. Cheap to clone: clones share the connection pool and the
/// concurrency limit.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

struct Inner {
    platform: &'static str,
    client: reqwest::Client,
    base: Url,
    auth: (HeaderName, HeaderValue),
    permits: Semaphore,
    settings: HttpSettings,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("platform", &self.inner.platform)
            .field("base", &without_password(self.inner.base.as_str()))
            .field("key", &"***")
            .finish()
    }
}

/// A finished exchange: the server answered with a 2xx.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Transport {
    /// `platform` names the service in logs ("cekura", "tela"); `key_var` names the environment variable that
    /// supplies the key, for the message when `key` is `None`.
    pub fn new(
        platform: &'static str,
        base_url: &str,
        key: Option<ApiKey>,
        key_var: &str,
        scheme: AuthScheme,
        settings: HttpSettings,
    ) -> Result<Self, ApiError> {
        let shown = without_password(base_url);
        let base = Url::parse(base_url.trim())
            .map_err(|e| ApiError::Config(format!("{platform} base URL {shown:?} is not a URL: {e}")))?;
        match base.scheme() {
            "https" => {}
            "http" if is_loopback(&base) => {}
            "http" => {
                return Err(ApiError::Config(format!(
                    "refusing to send the {platform} key over plain http:// to {}: use https://, or a loopback \
                     address for a local sandbox",
                    base.host_str().unwrap_or("?")
                )))
            }
            other => {
                return Err(ApiError::Config(format!("{platform} base URL {shown:?}: unsupported scheme {other:?}")))
            }
        }
        let key = key.ok_or_else(|| ApiError::MissingKey { platform, variable: key_var.to_string() })?;
        let (name, value) = match scheme {
            AuthScheme::Header(name) => (HeaderName::from_static_lower(name), key.expose().to_string()),
            AuthScheme::Bearer => (reqwest::header::AUTHORIZATION, format!("Bearer {}", key.expose())),
        };
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| ApiError::Config(format!("{key_var} contains characters not allowed in an HTTP header")))?;
        value.set_sensitive(true);
        let client = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            // A redirect would carry the custom key header to wherever it points; the APIs do not redirect.
            .redirect(reqwest::redirect::Policy::none())
            // A pooled connection the server has already closed turns a write sent on it into an unknown
            // outcome. Servers close idle keep-alive connections after a few seconds (gunicorn: 2 s), so idle
            // connections are dropped sooner than that; connections are still reused within a burst.
            .pool_idle_timeout(Duration::from_secs(1))
            .build()
            .map_err(|e| ApiError::Config(format!("cannot build the {platform} HTTP client: {e}")))?;
        let permits = Semaphore::new(settings.parallelism.max(1));
        Ok(Transport { inner: Arc::new(Inner { platform, client, base, auth: (name, value), permits, settings }) })
    }

    /// The base URL, with the password of its user information (if any) masked.
    pub fn base_url(&self) -> String {
        without_password(self.inner.base.as_str())
    }

    pub fn settings(&self) -> &HttpSettings {
        &self.inner.settings
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Result<Url, ApiError> {
        let joined = format!("{}{}", self.inner.base.as_str().trim_end_matches('/'), path);
        let mut url = Url::parse(&joined).map_err(|e| ApiError::Config(format!("bad request URL {joined:?}: {e}")))?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// Send one request, retrying where that is safe (see the module docs), and return the 2xx answer.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, ApiError> {
        let url = self.url(path, query)?;
        let shown = shown_path(&url);
        let payload = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        let repeat = Repeat::of(&method);
        let settings = &self.inner.settings;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            if settings.deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(self.past_deadline(&method, &url, shown, attempt - 1, None));
            }
            let outcome = self.attempt(&method, &url, &shown, payload.as_deref(), attempt).await;
            let step = classify(repeat, outcome);
            let (why, retry_after) = match step {
                Step::Done(reply) => return Ok(reply),
                Step::Fail(failure) => return Err(failure.into_error(method.as_str(), &shown)),
                Step::Retry { why, retry_after } => (why, retry_after),
            };
            if attempt > settings.max_retries {
                return Err(ApiError::Unavailable {
                    method: method.to_string(),
                    path: shown,
                    reason: format!("{why} (gave up after {attempt} attempts)"),
                });
            }
            let delay = match backoff(settings, attempt, retry_after) {
                Ok(d) => d,
                Err(reason) => return Err(ApiError::Unavailable { method: method.to_string(), path: shown, reason }),
            };
            if settings.deadline.is_some_and(|d| Instant::now() + delay >= d) {
                return Err(self.past_deadline(&method, &url, shown, attempt, Some(why)));
            }
            tracing::debug!(platform = self.inner.platform, %method, path = %shown, "retrying in {delay:?}: {why}");
            tokio::time::sleep(delay).await;
        }
    }

    /// The error when the command's deadline ran out before the request could be (re)sent.
    fn past_deadline(
        &self,
        method: &Method,
        url: &Url,
        shown: String,
        attempts: u32,
        last: Option<String>,
    ) -> ApiError {
        ApiError::Unavailable {
            method: method.to_string(),
            path: shown,
            reason: format!(
                "the command's time limit (--deadline) ran out after {attempts} attempt{} waiting on {}{}",
                if attempts == 1 { "" } else { "s" },
                host_of(url),
                last.map(|w| format!(" (last: {w})")).unwrap_or_default()
            ),
        }
    }

    /// One attempt, holding a concurrency permit only while the request is in flight (not while backing off).
    async fn attempt(&self, method: &Method, url: &Url, shown: &str, payload: Option<&[u8]>, n: u32) -> Attempt {
        let inner = &self.inner;
        let _permit = inner.permits.acquire().await.expect("the semaphore is never closed");
        let started = Instant::now();
        let mut req = inner
            .client
            .request(method.clone(), url.clone())
            .header(inner.auth.0.clone(), inner.auth.1.clone())
            .header(ACCEPT, "application/json");
        if let Some(p) = payload {
            req = req.header(CONTENT_TYPE, "application/json").body(p.to_vec());
        }
        // The whole exchange (connect, send, and the last byte of the answer) within one deadline: the
        // request's own timeout, or what is left of the command's.
        let mut limit = inner.settings.timeout;
        if let Some(deadline) = inner.settings.deadline {
            limit = limit.min(deadline.saturating_duration_since(Instant::now()));
        }
        req = req.timeout(limit);
        let host = host_of(url);
        let describe = |e: reqwest::Error| describe(e, &host, limit);
        let sent = payload.map_or(0, <[u8]>::len);
        let outcome = match req.send().await {
            Err(e) => {
                if e.is_connect() {
                    Attempt::NotSent(format!("{host}: {}", describe(e)))
                } else {
                    Attempt::Lost(describe(e))
                }
            }
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after =
                    resp.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
                let location = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
                match read_body(resp, inner.settings.max_body).await {
                    Ok(Some(body)) => Attempt::Answered { status, body, retry_after, location },
                    Ok(None) => Attempt::Unreadable {
                        status,
                        why: format!(
                            "the answer ({status}) from {host} is larger than {} bytes; not read",
                            inner.settings.max_body
                        ),
                    },
                    Err(e) => Attempt::Lost(format!("the answer ({status}) was cut off: {}", describe(e))),
                }
            }
        };
        let ms = started.elapsed().as_millis();
        let platform = inner.platform;
        match &outcome {
            Attempt::Answered { status, body, .. } => tracing::info!(
                "{platform} {method} {shown} -> {status} in {ms}ms (attempt {n}, sent {sent} B, received {} B)",
                body.len()
            ),
            Attempt::NotSent(why) | Attempt::Lost(why) | Attempt::Unreadable { why, .. } => {
                tracing::info!("{platform} {method} {shown} -> no answer in {ms}ms (attempt {n}, sent {sent} B): {why}")
            }
        }
        outcome
    }

    /// Send and decode a JSON answer.
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<T, ApiError> {
        let reply = self.send(method.clone(), path, query, body).await?;
        let url = self.url(path, query)?;
        decode(method.as_str(), &shown_path(&url), &reply.body)
    }

    /// Send, expecting no body worth reading (204 deletes, folder creation).
    pub async fn empty(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<(), ApiError> {
        self.send(method, path, query, body).await.map(|_| ())
    }
}

trait HeaderNameExt {
    fn from_static_lower(name: &'static str) -> HeaderName;
}

impl HeaderNameExt for HeaderName {
    /// Header names are case-insensitive; `HeaderName::from_static` insists on lower case.
    fn from_static_lower(name: &'static str) -> HeaderName {
        HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).expect("a valid header name")
    }
}

/// A URL as messages show it: the password of `scheme://user:password@host` replaced by `***`. Works on text that
/// does not parse as a URL too, so that an invalid base URL is never echoed with its password.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else { return url.to_string() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.to_string(),
    }
}

/// The path and query as errors and logs show them. No secret is ever in a URL: keys travel in headers.
fn shown_path(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

/// The body of an answer, or `None` when it is larger than `max` bytes (then it is not read further).
async fn read_body(mut resp: reqwest::Response, max: usize) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > max {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// `host:port` of a URL, for messages that say who was slow.
fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => "?".to_string(),
    }
}

/// What went wrong, in the words of the innermost cause ("connection closed before message completed",
/// "Connection refused (os error 111)"); the outer layers only say "error sending request". A timeout names the
/// host and the limit.
fn describe(e: reqwest::Error, host: &str, limit: Duration) -> String {
    if e.is_timeout() {
        return format!("timed out: no complete answer from {host} within {}", shown_duration(limit));
    }
    let e = e.without_url();
    let mut innermost = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        innermost = s.to_string();
        source = s.source();
    }
    innermost
}

fn shown_duration(d: Duration) -> String {
    if d.as_millis() % 1000 == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// True for `localhost`, 127.0.0.0/8 and `[::1]`: the only hosts a key may reach over plain http.
pub fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// What one attempt came to, before classification. Plain data so that classification is a pure function.
#[derive(Debug)]
enum Attempt {
    Answered {
        status: u16,
        body: Vec<u8>,
        retry_after: Option<Duration>,
        location: Option<String>,
    },
    /// The connection could not be opened: the server saw nothing.
    NotSent(String),
    /// The request may have reached the server, but no complete answer came back.
    Lost(String),
    /// The server answered `status`, but its body is too large to read.
    Unreadable {
        status: u16,
        why: String,
    },
}

/// How safe a request is to send again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    /// A read: repeat on any transient failure.
    Safe,
    /// `PUT`, `PATCH`, `DELETE`: repeat when the server certainly did not act (no connection, 429).
    Idempotent,
    /// `POST`: repeat only when nothing was sent.
    Never,
}

impl Repeat {
    fn of(method: &Method) -> Repeat {
        if method == Method::GET || method == Method::HEAD {
            Repeat::Safe
        } else if method == Method::PUT || method == Method::PATCH || method == Method::DELETE {
            Repeat::Idempotent
        } else {
            Repeat::Never
        }
    }
}

#[derive(Debug)]
enum Step {
    Done(Reply),
    Retry { why: String, retry_after: Option<Duration> },
    Fail(Failure),
}

#[derive(Debug, PartialEq)]
enum Failure {
    Rejected {
        status: u16,
        message: String,
    },
    Unknown(String),
    /// A 2xx answer (or a read's answer) that cannot be read.
    Unreadable(String),
}

impl Failure {
    fn into_error(self, method: &str, path: &str) -> ApiError {
        let (method, path) = (method.to_string(), path.to_string());
        match self {
            Failure::Rejected { status, message } => ApiError::Rejected { method, path, status, message },
            Failure::Unknown(reason) => ApiError::OutcomeUnknown { method, path, reason },
            Failure::Unreadable(reason) => ApiError::Decode { method, path, reason },
        }
    }
}

/// Decide what to do with one attempt's outcome.
fn classify(repeat: Repeat, outcome: Attempt) -> Step {
    let read = repeat == Repeat::Safe;
    match outcome {
        Attempt::NotSent(why) => Step::Retry { why: format!("could not connect to {why}"), retry_after: None },
        Attempt::Lost(why) if read => Step::Retry { why, retry_after: None },
        Attempt::Lost(why) => Step::Fail(Failure::Unknown(why)),
        Attempt::Unreadable { status, why } => match status {
            _ if read => Step::Fail(Failure::Unreadable(why)),
            200..=299 => Step::Fail(Failure::Unreadable(why)),
            400..=428 | 430..=499 => Step::Fail(Failure::Rejected { status, message: why }),
            _ => Step::Fail(Failure::Unknown(why)),
        },
        Attempt::Answered { status, body, retry_after, location } => match status {
            200..=299 => Step::Done(Reply { status, body }),
            // A `POST` is never sent twice: a 429 from a proxy in between does not prove it was refused.
            429 if repeat == Repeat::Never => Step::Fail(Failure::Unknown(format!(
                "the answer was {}: {} (a create or an append is never sent twice; it is settled by reading)",
                status_text(429),
                platform_message(&body)
            ))),
            // Throttled before the handler ran: a read, or an idempotent write, is sent again.
            429 => Step::Retry { why: format!("{}: {}", status_text(429), platform_message(&body)), retry_after },
            408 | 500..=599 if read => {
                Step::Retry { why: format!("{}: {}", status_text(status), platform_message(&body)), retry_after }
            }
            // A 408 on a write comes from whatever timed out waiting: a gateway may have passed the request on.
            408 | 500..=599 => Step::Fail(Failure::Unknown(format!(
                "the server answered {}: {}",
                status_text(status),
                platform_message(&body)
            ))),
            300..=399 => Step::Fail(Failure::Rejected {
                status,
                message: format!(
                    "unexpected redirect to {} (not followed, so the key is not sent elsewhere)",
                    location.as_deref().unwrap_or("(no location)")
                ),
            }),
            _ => Step::Fail(Failure::Rejected { status, message: platform_message(&body) }),
        },
    }
}

/// How long to wait before retry number `attempt` (1-based). Exponential with "equal jitter" (half fixed, half
/// random) so that parallel requests hit by the same fault spread out; a `Retry-After` is honoured as given
/// plus a little jitter, unless it is longer than the configured bound.
fn backoff(settings: &HttpSettings, attempt: u32, retry_after: Option<Duration>) -> Result<Duration, String> {
    let jitter = |max: Duration| Duration::from_micros(fastrand::u64(0..=max.as_micros().max(1) as u64));
    if let Some(wait) = retry_after {
        if wait > settings.max_retry_after {
            return Err(format!(
                "rate limited: the server asked to wait {}s, longer than the {}s this client waits",
                wait.as_secs(),
                settings.max_retry_after.as_secs()
            ));
        }
        return Ok(wait + jitter(settings.backoff_base));
    }
    let exp = settings.backoff_base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16)).min(settings.backoff_max);
    Ok(exp / 2 + jitter(exp / 2))
}

/// `Retry-After` in delta-seconds. The HTTP-date form is not used by the platforms; it yields `None` and the
/// ordinary backoff applies.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    v.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64)
}

fn looks_like_html(body: &[u8]) -> bool {
    let start = String::from_utf8_lossy(&body[..body.len().min(64)]).trim_start().to_ascii_lowercase();
    start.starts_with("<!doctype") || start.starts_with("<html") || start.starts_with('<')
}

/// The platform's own message from an error body: DRF's `{"detail": ...}`, `{"field": ["msg"]}`, `["msg"]`;
/// an HTML page is named as such (with its title) rather than dumped.
pub fn platform_message(body: &[u8]) -> String {
    if body.iter().all(u8::is_ascii_whitespace) {
        return "(empty body)".to_string();
    }
    if looks_like_html(body) {
        let text = String::from_utf8_lossy(body);
        let title = text
            .to_ascii_lowercase()
            .find("<title>")
            .and_then(|i| text[i + 7..].split("</").next().map(|t| t.trim().to_string()))
            .filter(|t| !t.is_empty());
        return match title {
            Some(t) => format!("an HTML page ({t:?}, {} bytes)", body.len()),
            None => format!("an HTML page ({} bytes)", body.len()),
        };
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => {
            let mut parts = Vec::new();
            // Tela answers `{"message": ..., "error": "Bad Request", "statusCode": 400}`: the message is the news,
            // the other two repeat the status line already shown.
            let tela = v.get("statusCode").is_some() && v.get("message").is_some();
            match v.get("message") {
                Some(message) if tela => collect_messages("", message, &mut parts),
                _ => collect_messages("", &v, &mut parts),
            }
            if parts.is_empty() {
                truncate(&v.to_string(), 300)
            } else {
                truncate(&parts.join("; "), 600)
            }
        }
        Err(_) => truncate(String::from_utf8_lossy(body).trim(), 300),
    }
}

fn collect_messages(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    let label = |msg: String| if prefix.is_empty() { msg } else { format!("{prefix}: {msg}") };
    match v {
        Value::String(s) => out.push(label(s.clone())),
        Value::Array(items) => {
            for item in items {
                collect_messages(prefix, item, out);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                // DRF's `detail` and `non_field_errors` are not field names; show their message alone.
                let key = if k == "detail" || k == "non_field_errors" {
                    prefix.to_string()
                } else if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                collect_messages(&key, item, out);
            }
        }
        Value::Null => {}
        other => out.push(label(other.to_string())),
    }
}

fn truncate(s: &str, max: usize) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// Decode a 2xx body as `T`, or say precisely how it is not what the API documents.
pub fn decode<T: DeserializeOwned>(method: &str, path: &str, body: &[u8]) -> Result<T, ApiError> {
    let fail = |reason: String| ApiError::Decode { method: method.to_string(), path: path.to_string(), reason };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(fail("empty body where JSON was expected".to_string()));
    }
    if looks_like_html(body) {
        return Err(fail(format!("expected JSON, got {}", platform_message(body))));
    }
    serde_json::from_slice(body).map_err(|e| {
        if e.is_eof() {
            fail(format!("truncated JSON ({} bytes): {e}", body.len()))
        } else {
            fail(e.to_string())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16, body: &str) -> Attempt {
        Attempt::Answered { status, body: body.as_bytes().to_vec(), retry_after: None, location: None }
    }

    fn kind(step: &Step) -> &'static str {
        match step {
            Step::Done(_) => "done",
            Step::Retry { .. } => "retry",
            Step::Fail(Failure::Rejected { .. }) => "rejected",
            Step::Fail(Failure::Unknown(_)) => "unknown",
            Step::Fail(Failure::Unreadable(_)) => "unreadable",
        }
    }

    #[test]
    fn reads_retry_on_transient_failures() {
        assert_eq!(kind(&classify(Repeat::Safe, answered(200, "{}"))), "done");
        assert_eq!(kind(&classify(Repeat::Safe, answered(429, ""))), "retry");
        assert_eq!(kind(&classify(Repeat::Safe, answered(500, ""))), "retry");
        assert_eq!(kind(&classify(Repeat::Safe, answered(503, "<html></html>"))), "retry");
        assert_eq!(kind(&classify(Repeat::Safe, Attempt::Lost("connection closed".into()))), "retry");
        assert_eq!(kind(&classify(Repeat::Safe, Attempt::NotSent("refused".into()))), "retry");
        assert_eq!(kind(&classify(Repeat::Safe, answered(404, r#"{"detail":"Not found."}"#))), "rejected");
    }

    #[test]
    fn writes_are_retried_only_when_certainly_not_applied() {
        assert_eq!(kind(&classify(Repeat::Idempotent, answered(201, "{}"))), "done");
        assert_eq!(kind(&classify(Repeat::Idempotent, answered(429, ""))), "retry");
        assert_eq!(kind(&classify(Repeat::Idempotent, Attempt::NotSent("connection refused".into()))), "retry");
        assert_eq!(kind(&classify(Repeat::Idempotent, answered(500, ""))), "unknown");
        assert_eq!(kind(&classify(Repeat::Idempotent, answered(502, ""))), "unknown");
        assert_eq!(
            kind(&classify(Repeat::Idempotent, Attempt::Lost("connection closed before message completed".into()))),
            "unknown"
        );
        assert_eq!(kind(&classify(Repeat::Idempotent, Attempt::Lost("timed out".into()))), "unknown");
        assert_eq!(
            kind(&classify(Repeat::Idempotent, answered(400, r#"{"name":["This field is required."]}"#))),
            "rejected"
        );
        assert_eq!(kind(&classify(Repeat::Idempotent, answered(408, ""))), "unknown");
        assert_eq!(kind(&classify(Repeat::Never, answered(408, ""))), "unknown");
    }

    #[test]
    fn a_post_is_never_sent_twice() {
        assert_eq!(kind(&classify(Repeat::Never, answered(429, ""))), "unknown");
        assert_eq!(kind(&classify(Repeat::Never, answered(500, ""))), "unknown");
        assert_eq!(kind(&classify(Repeat::Never, Attempt::NotSent("connection refused".into()))), "retry");
        assert_eq!(kind(&classify(Repeat::Never, answered(400, "{}"))), "rejected");
        assert_eq!(Repeat::of(&Method::POST), Repeat::Never);
        assert_eq!(Repeat::of(&Method::PATCH), Repeat::Idempotent);
        assert_eq!(Repeat::of(&Method::GET), Repeat::Safe);
    }

    #[test]
    fn an_answer_too_large_to_read_is_never_retried() {
        let big = |status| Attempt::Unreadable { status, why: "too large".into() };
        assert_eq!(kind(&classify(Repeat::Safe, big(200))), "unreadable");
        assert_eq!(kind(&classify(Repeat::Never, big(201))), "unreadable");
        assert_eq!(kind(&classify(Repeat::Never, big(400))), "rejected");
        assert_eq!(kind(&classify(Repeat::Never, big(502))), "unknown");
    }

    #[test]
    fn redirects_are_rejected_not_followed() {
        let step = classify(
            Repeat::Safe,
            Attempt::Answered {
                status: 302,
                body: vec![],
                retry_after: None,
                location: Some("https://x.test/".into()),
            },
        );
        let Step::Fail(Failure::Rejected { message, .. }) = step else { panic!("{step:?}") };
        assert!(message.contains("https://x.test/"), "{message}");
    }

    #[test]
    fn error_messages_carry_method_path_status_and_platform_message() {
        let Step::Fail(f) =
            classify(Repeat::Idempotent, answered(400, r#"{"metric_ids_to_add": ["Invalid pk \"999\""]}"#))
        else {
            panic!()
        };
        let err = f.into_error("POST", "/test_framework/v1/scenarios/adv_update/");
        assert_eq!(
            err.to_string(),
            r#"POST /test_framework/v1/scenarios/adv_update/: 400 Bad Request: metric_ids_to_add: Invalid pk "999""#
        );
        let Step::Fail(f) = classify(Repeat::Idempotent, answered(503, r#"{"detail": "Try later."}"#)) else {
            panic!()
        };
        insta::assert_snapshot!(
            f.into_error("PATCH", "/test_framework/v1/scenarios/7/").to_string(),
            @"PATCH /test_framework/v1/scenarios/7/: outcome unknown: the server answered 503 Service Unavailable: Try later.; the request was sent and may or may not have been applied"
        );
    }

    #[test]
    fn platform_messages_in_every_drf_shape() {
        assert_eq!(platform_message(br#"{"detail": "Not found."}"#), "Not found.");
        assert_eq!(platform_message(br#"["Folder does not exist."]"#), "Folder does not exist.");
        assert_eq!(
            platform_message(br#"{"name": ["This field is required."], "personality": ["Invalid pk \"3\"."]}"#),
            r#"name: This field is required.; personality: Invalid pk "3"."#
        );
        assert_eq!(platform_message(br#"{"non_field_errors": ["Bad."]}"#), "Bad.");
        assert_eq!(
            platform_message(br#"{"information": {"main_agent_variables": ["Not a dict."]}}"#),
            "information.main_agent_variables: Not a dict."
        );
        assert_eq!(
            platform_message(b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head></html>"),
            "an HTML page (\"502 Bad Gateway\", 71 bytes)"
        );
        // Tela's shape: the message alone; `statusCode` and `error` repeat the status line.
        assert_eq!(
            platform_message(br#"{"message": "promptVersionId must be a string.", "statusCode": 400}"#),
            "promptVersionId must be a string."
        );
        assert_eq!(
            platform_message(
                br#"{"message": ["a must be a string", "b is required"], "error": "Bad Request", "statusCode": 400}"#
            ),
            "a must be a string; b is required"
        );
        assert_eq!(platform_message(b""), "(empty body)");
        assert_eq!(platform_message(b"upstream   connect\nerror"), "upstream connect error");
    }

    #[test]
    fn decode_errors_are_clear() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Item {
            id: u64,
        }
        let err = |body: &str| decode::<Item>("GET", "/x/", body.as_bytes()).unwrap_err().to_string();
        insta::assert_snapshot!(err("<html><title>Gateway</title></html>"), @r#"GET /x/: unexpected response: expected JSON, got an HTML page ("Gateway", 35 bytes)"#);
        insta::assert_snapshot!(err(r#"{"id": "seven"}"#), @r#"GET /x/: unexpected response: invalid type: string "seven", expected u64 at line 1 column 14"#);
        insta::assert_snapshot!(err(r#"{"id": 7, "na"#), @"GET /x/: unexpected response: truncated JSON (13 bytes): EOF while parsing a string at line 1 column 13");
        insta::assert_snapshot!(err(""), @"GET /x/: unexpected response: empty body where JSON was expected");
        assert_eq!(decode::<Item>("GET", "/x/", br#"{"id": 7, "extra": true}"#).unwrap().id, 7);
    }

    #[test]
    fn backoff_is_bounded_and_honours_retry_after() {
        let s = HttpSettings::default();
        for attempt in 1..40 {
            let d = backoff(&s, attempt, None).unwrap();
            assert!(d <= s.backoff_max, "{attempt}: {d:?}");
        }
        let first = backoff(&s, 1, None).unwrap();
        assert!(first >= s.backoff_base / 2 && first <= s.backoff_base, "{first:?}");
        let d = backoff(&s, 1, Some(Duration::from_secs(3))).unwrap();
        assert!(d >= Duration::from_secs(3) && d <= Duration::from_secs(3) + s.backoff_base, "{d:?}");
        assert!(backoff(&s, 1, Some(Duration::from_secs(3600))).unwrap_err().contains("3600s"));
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn base_urls_are_never_shown_with_their_password() {
        assert_eq!(without_password("https://u:pw@host/x?y"), "https://u:***@host/x?y");
        assert_eq!(without_password("https://u@host"), "https://u@host");
        assert_eq!(without_password("ht tp://u:pw@h st"), "ht tp://u:***@h st");
        assert_eq!(without_password("no url"), "no url");
        let make = |url: &str| {
            Transport::new("cekura", url, ApiKey::new("k"), "K", AuthScheme::Bearer, HttpSettings::default())
                .map(|t| format!("{t:?} {}", t.base_url()))
                .unwrap_or_else(|e| e.to_string())
        };
        for url in ["https://user:hunter2pw@[::1", "ftp://user:hunter2pw@host", "https://user:hunter2pw@host/"] {
            let shown = make(url);
            assert!(!shown.contains("hunter2pw"), "{shown}");
            assert!(shown.contains("user:***@"), "{shown}");
        }
    }

    #[test]
    fn keys_go_only_to_https_or_loopback() {
        let key = || ApiKey::new("k");
        let make = |url: &str| {
            Transport::new(
                "cekura",
                url,
                key(),
                "CEKURA_API_KEY",
                AuthScheme::Header("X-CEKURA-API-KEY"),
                HttpSettings::default(),
            )
        };
        assert!(make("https://api.cekura.ai").is_ok());
        assert!(make("http://127.0.0.1:8080").is_ok());
        assert!(make("http://127.8.9.1:8080").is_ok());
        assert!(make("http://localhost:8080/").is_ok());
        assert!(make("http://[::1]:8080").is_ok());
        insta::assert_snapshot!(make("http://api.cekura.ai").unwrap_err().to_string(), @"refusing to send the cekura key over plain http:// to api.cekura.ai: use https://, or a loopback address for a local sandbox");
        assert!(make("http://10.0.0.1").is_err());
        assert!(make("ftp://127.0.0.1").is_err());
        assert!(make("not a url").is_err());
        let none = Transport::new(
            "cekura",
            "https://api.cekura.ai",
            None,
            "CEKURA_API_KEY",
            AuthScheme::Header("X-CEKURA-API-KEY"),
            HttpSettings::default(),
        );
        insta::assert_snapshot!(none.unwrap_err().to_string(), @"no cekura API key: set CEKURA_API_KEY");
        let t = Transport::new(
            "tela",
            "https://api.tela.com",
            ApiKey::new("sekrit"),
            "TELA_API_KEY",
            AuthScheme::Bearer,
            HttpSettings::default(),
        )
        .unwrap();
        let shown = format!("{t:?}");
        assert!(!shown.contains("sekrit") && shown.contains("***"), "{shown}");
    }
}
