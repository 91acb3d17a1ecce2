//! The one integration-test binary: end to end through the real `evalform` binary and the library, against the
//! sandbox on an ephemeral loopback port. One module per area.

mod apply;
mod cli;
mod client;
mod client_sandbox;
mod common;
mod completions;
mod demo;
mod docs;
mod hostile;
mod hostile_files;
mod import;
mod manifest;
mod plan;
mod pull;
mod race;
mod recipes;
mod run;
mod sandbox;
mod scale;
mod secrets;
mod suggest;
mod tela;
