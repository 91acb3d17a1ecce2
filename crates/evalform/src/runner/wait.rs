//! Starting a run set and waiting for its result: the `run_scenarios` body, and a poll loop with exponential
//! backoff, a cap, a deadline, and tolerance for polls that fail.
//!
//! Reads are already retried by the transport; a poll that still fails here (the platform was down for longer than
//! the transport's retries) is tried again at the next step, up to [`PollSettings::max_failed_polls`] in a row,
//! since losing a long run's verdict to a short outage helps nobody. A rejected read (404, 401) is final. This
//! module never starts runs itself and never resends `run_scenarios`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::select::AgentTargets;
use crate::cekura::wire::RunResult;
use crate::cekura::CekuraClient;
use crate::http::ApiError;

/// How to wait for a result.
#[derive(Debug, Clone)]
pub struct PollSettings {
    pub first_interval: Duration,
    pub max_interval: Duration,
    /// The whole wait, for all agents together (`--timeout`).
    pub timeout: Duration,
    /// Polls that may fail in a row before the wait gives up.
    pub max_failed_polls: u32,
}

impl PollSettings {
    /// 1 s doubling to 10 s, or `interval_ms` doubling to ten times it.
    pub fn new(timeout: Duration, interval_ms: Option<u64>) -> Self {
        // At most an hour between polls, whatever the setting says.
        let first = Duration::from_millis(interval_ms.unwrap_or(1000).clamp(1, 3_600_000));
        PollSettings { first_interval: first, max_interval: first.saturating_mul(10), timeout, max_failed_polls: 5 }
    }
}

/// Exponential backoff: each step doubles the last, up to the cap.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Self {
        Backoff { next: first, max }
    }

    pub fn next_delay(&mut self) -> Duration {
        let d = self.next.min(self.max);
        self.next = self.next.saturating_mul(2).min(self.max);
        d
    }
}

/// `--frequency`, `--test-profile`, `--personality`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOverrides {
    pub frequency: Option<u32>,
    pub test_profile: Option<u64>,
    pub personality: Option<u64>,
    /// The label of the result on the platform.
    pub name: Option<String>,
}

/// The `run_scenarios` body for one agent: its evaluators by id, never by tag or folder, so that the platform runs
/// exactly what the manifests selected.
pub fn start_body(agent: &AgentTargets, overrides: &RunOverrides) -> Value {
    let ids: Vec<u64> = agent.targets.iter().map(|t| t.id).collect();
    let mut body = json!({ "agent_id": agent.agent, "scenarios": ids });
    if let Some(f) = overrides.frequency {
        body["frequency"] = json!(f);
    }
    if let Some(p) = overrides.personality {
        body["personality_ids"] = json!([p]);
    }
    if let Some(t) = overrides.test_profile {
        body["test_profile_ids"] = json!([t]);
    }
    if let Some(n) = &overrides.name {
        body["name"] = json!(n);
    }
    body
}

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("result {result_id} of agent {agent} did not end within {}s (last status: {status})", timeout.as_secs())]
    TimedOut { agent: u64, result_id: u64, status: String, timeout: Duration },
    #[error("cannot read result {result_id} of agent {agent} ({attempts} failed polls)")]
    Poll {
        agent: u64,
        result_id: u64,
        attempts: u32,
        #[source]
        source: ApiError,
    },
}

impl WaitError {
    pub fn result_id(&self) -> u64 {
        match self {
            WaitError::TimedOut { result_id, .. } | WaitError::Poll { result_id, .. } => *result_id,
        }
    }
}

/// Poll result `result_id` until it reaches a final status or `deadline` passes. `progress` hears each new status.
pub async fn wait_for_result(
    client: &CekuraClient,
    agent: u64,
    result_id: u64,
    deadline: Instant,
    settings: &PollSettings,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<RunResult, WaitError> {
    let mut backoff = Backoff::new(settings.first_interval, settings.max_interval);
    let mut failures = 0;
    let mut last_status = String::from("pending");
    loop {
        match client.get_result(result_id).await {
            Ok(result) if result.is_final() => return Ok(result),
            Ok(result) => {
                failures = 0;
                if result.status != last_status {
                    progress(&result.status);
                    last_status = result.status;
                }
            }
            Err(err) if poll_may_retry(&err) && failures + 1 < settings.max_failed_polls => {
                failures += 1;
                tracing::warn!("result {result_id}: poll failed ({err}); trying again");
            }
            Err(source) => {
                return Err(WaitError::Poll { agent, result_id, attempts: failures + 1, source });
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(WaitError::TimedOut { agent, result_id, status: last_status, timeout: settings.timeout });
        }
        tokio::time::sleep(backoff.next_delay().min(deadline - now)).await;
    }
}

/// A rejected read (not found, no access) will not change by asking again; anything else may. Cekura results and
/// Tela generations are polled under this one rule.
pub(super) fn poll_may_retry(err: &ApiError) -> bool {
    match err {
        ApiError::Rejected { status, .. } => matches!(status, 408 | 429) || *status >= 500,
        ApiError::Config(_) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::select::Target;

    #[test]
    fn backoff_doubles_to_its_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let steps: Vec<u128> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(steps, vec![100, 200, 400, 500, 500]);
        let s = PollSettings::new(Duration::from_secs(5), Some(20));
        assert_eq!((s.first_interval.as_millis(), s.max_interval.as_millis()), (20, 200));
        assert_eq!(PollSettings::new(Duration::from_secs(5), None).max_interval, Duration::from_secs(10));
    }

    #[test]
    fn body_names_evaluators_by_id_and_carries_overrides() {
        let agent = AgentTargets {
            agent: 101,
            project: Some(7),
            targets: vec![
                Target { id: 5, name: "A".into(), source: None },
                Target { id: 9, name: "B".into(), source: None },
            ],
        };
        assert_eq!(start_body(&agent, &RunOverrides::default()), json!({"agent_id": 101, "scenarios": [5, 9]}));
        let all = RunOverrides { frequency: Some(3), test_profile: Some(44), personality: Some(8), name: None };
        assert_eq!(
            start_body(&agent, &all),
            json!({"agent_id": 101, "scenarios": [5, 9], "frequency": 3, "personality_ids": [8], "test_profile_ids": [44]})
        );
    }

    #[test]
    fn only_reads_that_may_change_are_polled_again() {
        let rejected =
            |status| ApiError::Rejected { method: "GET".into(), path: "/r/".into(), status, message: "".into() };
        assert!(!poll_may_retry(&rejected(404)));
        assert!(poll_may_retry(&rejected(503)));
        assert!(poll_may_retry(&ApiError::Unavailable { method: "GET".into(), path: "/".into(), reason: "x".into() }));
    }
}
