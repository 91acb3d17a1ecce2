//! Everything that talks to Cekura: the client ([`CekuraClient`]), its wire types ([`wire`]), and the fetcher
//! that turns an agent's remote state into the observed [`crate::model::AgentState`] ([`fetch`]).
//!
//! Nothing here knows manifests or plans; the executor builds write bodies and calls the client.

pub mod client;
pub mod dialect;
pub mod fetch;
pub mod wire;

pub use client::CekuraClient;
pub use dialect::Dialect;
pub use fetch::{fetch_agent, FetchError, FetchOptions, FetchedAgent};
