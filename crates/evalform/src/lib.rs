//! evalform keeps AI-agent test suites as code: Cekura evaluators and test profiles, and Tela prompt test cases,
//! described in YAML manifests, planned against the platform and applied without ever replaying a
//! non-idempotent call.
//!
//! The data flows one way (docs/architecture.md): manifests are loaded into a desired [`model::State`], the
//! platform is read into an observed one, the pure planner turns the pair into a [`plan::Plan`], renderers show
//! it and the executor runs it.
//!
//! This crate is the library. It has no command line, prints nothing and reads no environment variable: every
//! setting is passed in by the caller (the `evalform` binary in `evalform-cli`), and every error is a typed enum
//! whose fields carry the context. The inner rooms (`model`, `manifest`, `yaml`, `plan`, `render`) never import
//! the platform clients or the executor; a test in `tests/architecture.rs` holds that rule.

pub mod apply;
pub mod cekura;
pub mod doctor;
pub mod export;
pub mod format;
pub mod fsutil;
pub mod http;
pub mod import;
pub mod manifest;
pub mod model;
pub mod plan;
pub mod project;
pub mod pull;
pub mod remote;
pub mod render;
pub mod runner;
pub mod secret;
pub mod suggest;
pub mod tela;
pub mod writeback;
pub mod yaml;
