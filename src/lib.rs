//! evalform keeps AI-agent test suites as code: Cekura evaluators and test profiles, and Tela prompt test cases,
//! described in YAML manifests, planned against the platform and applied without ever replaying a
//! non-idempotent call.
//!
//! The data flows one way (see `STYLE.md` in the docs): manifests are loaded into a desired [`model::State`], the
//! platform is fetched into an observed one, the pure planner turns the pair into a [`plan::Plan`], renderers
//! show it and the executor runs it. The binary in `main.rs` only parses flags and calls into here.

pub mod apply;
pub mod cekura;
pub mod cli;
pub mod commands;
pub mod demo;
pub mod edit;
pub mod error;
pub mod http;
pub mod import;
pub mod manifest;
pub mod model;
pub mod plan;
pub mod pull;
pub mod remote;
pub mod render;
pub mod runner;
pub mod sandbox;
pub mod secret;
pub mod suggest;
pub mod tela;
pub mod yaml;
