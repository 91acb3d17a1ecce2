//! Everything that talks to Tela: the client ([`TelaClient`]) for prompt test cases, its wire types, and the
//! fetcher that turns a prompt's test cases into the observed [`crate::model::PromptState`].
//!
//! Nothing here knows manifests or plans. Deletes (`DELETE /test-case/{id}`, for `prune`) are
//! plan operations sent by the executor.

pub mod client;
pub mod fetch;
pub mod wire;

pub use client::TelaClient;
pub use fetch::fetch_prompt;
