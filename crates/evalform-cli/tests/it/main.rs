//! The one integration-test binary: end to end through the real `evalform` binary and the library, against the
//! sandbox on an ephemeral loopback port. One module per area.

mod action;
mod annotations;
mod apply;
mod cli;
mod client;
mod client_sandbox;
mod common;
mod completions;
mod credentials;
mod demo;
mod docs;
mod doctor;
mod environments;
mod export;
mod hostile;
mod hostile_files;
mod import;
mod init;
mod manifest;
mod metrics;
mod plan;
mod pull;
mod race;
mod readings;
mod recipes;
mod run;
mod sandbox;
mod scale;
mod secrets;
mod ship;
mod suggest;
mod tela;
mod terminal;
mod test_cmd;
mod vendor;
