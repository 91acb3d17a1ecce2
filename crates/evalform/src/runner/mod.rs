//! `evalform run` as a library: choose the declared evaluators a run covers ([`select`]; Tela test cases: [`tela`]), start one run set per
//! agent and wait for it with backoff ([`wait`]), read the platform's result the way the platform means it
//! ([`outcome`]), and render the verdict as text, JSON, JUnit XML or Markdown ([`report`]).
//!
//! The pure parts (selection, reading a result, rendering) take plain values and are tested without a server. Only
//! [`wait`] does I/O, through the one Cekura client. Nothing here changes an evaluator: a run only reads them, and
//! starting runs is never retried by evalform, since a resent `run_scenarios` starts the runs twice.

pub mod outcome;
pub mod report;
pub mod select;
pub mod tela;
pub mod wait;

pub use outcome::{AgentResult, EvaluatorResult, RunFailure, RunReport, Verdict};
pub use select::{list_declared_agents, select, AgentTargets, Missing, SelectError, Selection, Target};
pub use wait::{start_body, wait_for_result, Backoff, PollSettings, RunOverrides, WaitError};

/// One read per key, all at once (within the transport's `--parallelism` limit): the answers by key, or the error
/// of the first key (in key order) whose read failed.
pub(crate) async fn read_each<K, V, Fut>(
    keys: impl IntoIterator<Item = K>,
    path: &str,
    read: impl Fn(K) -> Fut,
) -> Result<std::collections::BTreeMap<K, V>, crate::http::ApiError>
where
    K: Ord + Clone + Send + 'static,
    V: Send + 'static,
    Fut: std::future::Future<Output = Result<V, crate::http::ApiError>> + Send + 'static,
{
    let mut reads = tokio::task::JoinSet::new();
    for key in keys {
        let answer = read(key.clone());
        reads.spawn(async move { (key, answer.await) });
    }
    let mut read = std::collections::BTreeMap::new();
    while let Some(joined) = reads.join_next().await {
        let (key, answer) = joined.map_err(|e| crate::http::ApiError::Unavailable {
            method: "GET".into(),
            path: path.into(),
            reason: format!("a read was aborted: {e}"),
        })?;
        read.insert(key, answer);
    }
    read.into_iter().map(|(key, answer)| Ok((key, answer?))).collect()
}
