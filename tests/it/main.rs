//! The one integration-test binary: end to end through the real `evalform` binary and the library, against the
//! sandbox on an ephemeral loopback port. One module per area.

mod cli;
mod client;
mod client_sandbox;
mod common;
mod completions;
mod manifest;
mod recipes;
mod run;
mod sandbox;
