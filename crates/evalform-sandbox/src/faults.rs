//! Fault injection: added latency, 429 with `Retry-After`, 5xx, "commit the write, then drop the connection
//! without a response", and "commit the write, then answer 2xx with a body that cannot be read". Each fault has a rate drawn from one seeded generator, so a run with the same seed and the
//! same request sequence injects the same faults; `fail_next` fails exactly the next N matching requests.
//!
//! Faults never apply to `/_sandbox/` paths. This module decides; it does not touch sockets or state.

use serde::{Deserialize, Serialize};

/// Which fault a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 429 with `Retry-After`, before the request is handled.
    TooManyRequests,
    /// A 5xx (see [`FaultConfig::server_error_status`]), before the request is handled.
    ServerError,
    /// The request is handled and committed, then the connection is closed without a response.
    DropAfterCommit,
    /// A 400 `{"detail": ...}` before the request is handled: a clean rejection, nothing committed. Only through
    /// `fail_next` (there is no rate): tests use it to reject one chosen write.
    BadRequest,
    /// The request is handled and committed, then a 2xx is answered with a body that is not JSON (an HTML page,
    /// as a proxy in front of the API might send). Only through `fail_next`: tests use it on one chosen write, the
    /// start of a run above all, whose outcome the client cannot read.
    UnreadableOk,
    /// A 404 `{"detail": "Not found."}` before the request is handled: nothing is committed. Only through
    /// `fail_next`: tests use it to answer one chosen write as a platform answers one for something that is not
    /// there (a folder deletion landing after someone else's).
    NotFound,
}

/// Fail exactly the next `count` matching requests with `kind`, before any rate is drawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailNext {
    pub kind: FaultKind,
    pub count: u32,
}

/// What to inject, and where. The default injects nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultConfig {
    /// Seed of the generator that draws the rates.
    pub seed: u64,
    /// Added to every matching request, in milliseconds.
    pub latency_ms: u64,
    /// Share (0.0 to 1.0) of matching requests answered 429.
    pub rate_429: f64,
    /// `Retry-After` of a 429, in seconds.
    pub retry_after_secs: u64,
    /// Share of matching requests answered with `server_error_status`.
    pub rate_5xx: f64,
    pub server_error_status: u16,
    /// Share of matching requests handled, then dropped without a response.
    pub rate_drop_after_commit: f64,
    /// Only paths that match: a glob when it contains `*`, `?` or `[`, else a substring.
    pub path: Option<String>,
    /// Only this method (case-insensitive), e.g. `POST`.
    pub method: Option<String>,
    pub fail_next: Option<FailNext>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            seed: 0,
            latency_ms: 0,
            rate_429: 0.0,
            retry_after_secs: 1,
            rate_5xx: 0.0,
            server_error_status: 500,
            rate_drop_after_commit: 0.0,
            path: None,
            method: None,
            fail_next: None,
        }
    }
}

impl FaultConfig {
    /// Fail exactly the next `count` requests that match `method` and `path` with `kind`.
    pub fn fail_next(kind: FaultKind, count: u32, method: Option<&str>, path: Option<&str>) -> Self {
        FaultConfig {
            fail_next: Some(FailNext { kind, count }),
            method: method.map(String::from),
            path: path.map(String::from),
            ..FaultConfig::default()
        }
    }

    pub fn matches(&self, method: &str, path: &str) -> bool {
        if path.starts_with("/_sandbox/") {
            return false;
        }
        if let Some(m) = &self.method {
            if !m.eq_ignore_ascii_case(method) {
                return false;
            }
        }
        match &self.path {
            None => true,
            Some(p) if p.contains(['*', '?', '[']) => glob::Pattern::new(p).is_ok_and(|g| g.matches(path)),
            Some(p) => path.contains(p.as_str()),
        }
    }
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decision {
    pub latency_ms: u64,
    pub fault: Option<FaultKind>,
}

/// The config and its generator; one per sandbox, behind a lock.
#[derive(Debug)]
pub struct Faults {
    config: FaultConfig,
    rng: fastrand::Rng,
}

impl Faults {
    pub fn new(config: FaultConfig) -> Self {
        let rng = fastrand::Rng::with_seed(config.seed);
        Faults { config, rng }
    }

    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// Decide for one request. Draws exactly one number per matching request, so the sequence of decisions
    /// depends only on the seed and the order of matching requests.
    pub fn decide(&mut self, method: &str, path: &str) -> Decision {
        if !self.config.matches(method, path) {
            return Decision::default();
        }
        let latency_ms = self.config.latency_ms;
        if let Some(next) = self.config.fail_next.as_mut() {
            if next.count > 0 {
                next.count -= 1;
                return Decision { latency_ms, fault: Some(next.kind) };
            }
        }
        let c = &self.config;
        if c.rate_429 + c.rate_5xx + c.rate_drop_after_commit <= 0.0 {
            return Decision { latency_ms, fault: None };
        }
        let r = self.rng.f64();
        let fault = if r < c.rate_429 {
            Some(FaultKind::TooManyRequests)
        } else if r < c.rate_429 + c.rate_5xx {
            Some(FaultKind::ServerError)
        } else if r < c.rate_429 + c.rate_5xx + c.rate_drop_after_commit {
            Some(FaultKind::DropAfterCommit)
        } else {
            None
        };
        Decision { latency_ms, fault }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_faults() {
        let config = FaultConfig { seed: 7, rate_429: 0.3, rate_5xx: 0.3, ..FaultConfig::default() };
        let draw = |c: &FaultConfig| {
            let mut f = Faults::new(c.clone());
            (0..50).map(|_| f.decide("GET", "/test_framework/v1/scenarios/").fault).collect::<Vec<_>>()
        };
        assert_eq!(draw(&config), draw(&config));
        assert!(draw(&config).iter().any(Option::is_some));
        assert!(draw(&config).iter().any(Option::is_none));
    }

    #[test]
    fn fail_next_counts_only_matching_requests() {
        let mut f =
            Faults::new(FaultConfig::fail_next(FaultKind::DropAfterCommit, 1, Some("post"), Some("adv_update")));
        assert_eq!(f.decide("GET", "/test_framework/v1/scenarios/adv_update/").fault, None);
        assert_eq!(f.decide("POST", "/test_framework/v1/scenarios/").fault, None);
        assert_eq!(
            f.decide("POST", "/test_framework/v1/scenarios/adv_update/").fault,
            Some(FaultKind::DropAfterCommit)
        );
        assert_eq!(f.decide("POST", "/test_framework/v1/scenarios/adv_update/").fault, None);
    }

    #[test]
    fn globs_and_sandbox_paths() {
        let c = FaultConfig { path: Some("/test_framework/v1/scenarios/*/".into()), ..FaultConfig::default() };
        assert!(c.matches("PATCH", "/test_framework/v1/scenarios/5/"));
        assert!(!c.matches("GET", "/test-case"));
        assert!(!FaultConfig::default().matches("GET", "/_sandbox/requests"));
    }
}
