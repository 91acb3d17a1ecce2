//! Building the platform clients from the command line and the environment, so that every command reports a
//! missing key or a bad base URL the same way. The clients themselves, and the reading of the platform, are the
//! library's ([`evalform::remote`]).

use evalform::cekura::client::KEY_VAR as CEKURA_KEY_VAR;
use evalform::cekura::CekuraClient;
use evalform::model::State;
use evalform::remote::Remote;
use evalform::tela::client::KEY_VAR as TELA_KEY_VAR;
use evalform::tela::TelaClient;

use crate::cli::RemoteArgs;
use crate::error::CliError;

static DEADLINE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// `--deadline`: no request of this command is sent, waited on or retried past `at`.
pub fn set_deadline(at: std::time::Instant) {
    let _ = DEADLINE.set(at);
}

/// `wait`, shortened to what is left of `--deadline`.
pub fn within_deadline(wait: std::time::Duration) -> std::time::Duration {
    match DEADLINE.get() {
        Some(at) => wait.min(at.saturating_duration_since(std::time::Instant::now())),
        None => wait,
    }
}

fn http_settings(parallelism: u16) -> evalform::http::HttpSettings {
    evalform::http::HttpSettings { deadline: DEADLINE.get().copied(), ..crate::env::http_settings(parallelism) }
}

/// Clients for the platforms `desired` names.
pub fn remote_for(args: &RemoteArgs, parallelism: u16, desired: &State) -> Result<Remote, CliError> {
    remote(args, parallelism, !desired.agents.is_empty(), !desired.prompts.is_empty())
}

/// Clients for the platforms asked for; a platform not asked for needs no key.
pub fn remote(args: &RemoteArgs, parallelism: u16, cekura: bool, tela: bool) -> Result<Remote, CliError> {
    Ok(Remote {
        cekura: if cekura { Some(cekura_client(args, parallelism)?) } else { None },
        tela: if tela { Some(tela_client(args, parallelism)?) } else { None },
    })
}

pub fn cekura_client(args: &RemoteArgs, parallelism: u16) -> Result<CekuraClient, CliError> {
    crate::redact::register_url_password(&args.cekura_base_url);
    let settings = http_settings(parallelism);
    Ok(CekuraClient::new(&args.cekura_base_url, crate::env::api_key(CEKURA_KEY_VAR), settings)?)
}

pub fn tela_client(args: &RemoteArgs, parallelism: u16) -> Result<TelaClient, CliError> {
    crate::redact::register_url_password(&args.tela_base_url);
    let settings = http_settings(parallelism);
    Ok(TelaClient::new(&args.tela_base_url, crate::env::api_key(TELA_KEY_VAR), settings)?)
}
