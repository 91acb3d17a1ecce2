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
