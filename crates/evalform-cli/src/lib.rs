//! The `evalform` command line: clap definitions, one module per command, the demo, and the doors between the
//! terminal and the library: [`printer::Printer`] owns stdout and stderr, [`error::CliError`] turns library
//! errors into `error:`/`caused by:`/`hint:` lines, [`env`] reads the process environment, [`connect`] builds the
//! platform clients. Logic lives in the `evalform` library; this crate turns flags into settings and prints.

pub mod annotations;
pub mod cli;
pub mod commands;
pub mod connect;
pub mod demo;
pub mod env;
pub mod error;
pub mod printer;
pub mod project;
pub mod redact;

/// Every program built on this crate (the `evalform` binary, its tests and benchmarks) allocates with jemalloc,
/// configured in `.cargo/config.toml`; see docs/benchmarks.md for what it changes.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
