//! The request log and counters: what tests and benchmarks count ("exactly one adv_update was sent"). It records
//! method, path, query, status, the JSON body of the request and what happened to it. It never records headers, so
//! a key cannot reach it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What happened to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestOutcome {
    /// Handled and answered (whatever the status).
    Answered,
    /// Answered 429 by fault injection, not handled.
    Injected429,
    /// Answered 5xx by fault injection, not handled.
    Injected5xx,
    /// Answered 400 by fault injection (`fail_next` with `bad_request`), not handled.
    Injected400,
    /// Answered 404 by fault injection (`fail_next` with `not_found`), not handled.
    Injected404,
    /// Handled (and committed, for a write), then the connection was dropped without a response.
    DroppedAfterCommit,
    /// Handled (and committed), then answered with its 2xx status and a body that is not JSON (`unreadable_ok`).
    AnsweredUnreadable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedRequest {
    /// Order of arrival, from 1.
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// The route the path matched, with ids as `{id}` (e.g. `PATCH /test_framework/v1/scenarios/{id}/`'s path part).
    pub route: String,
    /// The status the handler produced (for a dropped request: the status it would have had).
    pub status: u16,
    /// The request body, when it was JSON.
    pub body: Option<Value>,
    pub outcome: RequestOutcome,
}

#[derive(Debug, Default)]
pub struct RequestLog {
    entries: Vec<LoggedRequest>,
    next_seq: u64,
}

impl RequestLog {
    pub fn push(&mut self, mut entry: LoggedRequest) {
        self.next_seq += 1;
        entry.seq = self.next_seq;
        self.entries.push(entry);
    }

    pub fn entries(&self) -> Vec<LoggedRequest> {
        self.entries.clone()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Counts by `"METHOD route"`, by `"METHOD path"`, and by outcome.
    pub fn counters(&self) -> Counters {
        let mut c = Counters { total: self.entries.len(), ..Counters::default() };
        for e in &self.entries {
            *c.by_route.entry(format!("{} {}", e.method, e.route)).or_default() += 1;
            *c.by_path.entry(format!("{} {}", e.method, e.path)).or_default() += 1;
            let outcome = serde_json::to_value(e.outcome).ok().and_then(|v| v.as_str().map(String::from));
            *c.by_outcome.entry(outcome.unwrap_or_default()).or_default() += 1;
            *c.by_status.entry(e.status.to_string()).or_default() += 1;
        }
        c
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub total: usize,
    pub by_route: BTreeMap<String, usize>,
    pub by_path: BTreeMap<String, usize>,
    pub by_outcome: BTreeMap<String, usize>,
    pub by_status: BTreeMap<String, usize>,
}
