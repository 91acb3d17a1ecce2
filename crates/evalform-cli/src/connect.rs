//! Building the platform clients from the command line and the environment, so that every command reports a
//! missing key or a bad base URL the same way. The clients themselves, and the reading of the platform, are the
//! library's ([`evalform::remote`]).

use evalform::cekura::CekuraClient;
use evalform::model::State;
use evalform::remote::Remote;
use evalform::tela::client::KEY_VAR as TELA_KEY_VAR;
use evalform::tela::TelaClient;

use crate::cli::RemoteArgs;
use crate::env::{self, CekuraAuth};
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

/// The Cekura client, with the base URL and the credentials from wherever they are set (`-v` says where; the
/// key itself is never shown).
pub fn cekura_client(args: &RemoteArgs, parallelism: u16) -> Result<CekuraClient, CliError> {
    let settings = http_settings(parallelism);
    let (url, url_source) = env::cekura_base_url(args.cekura_base_url.as_deref())?;
    crate::redact::register_url_password(&url);
    tracing::info!("Cekura: base URL {} from {url_source}", evalform::http::without_password(&url));
    let client = match env::cekura_auth() {
        CekuraAuth::Key(key, source) => {
            tracing::info!("Cekura: API key from {source}");
            CekuraClient::new(&url, Some(key), settings)?
        }
        CekuraAuth::Bearer(token, source) => {
            tracing::info!("Cekura: bearer token from {source}");
            CekuraClient::with_bearer(&url, Some(token), settings)?
        }
        CekuraAuth::None => CekuraClient::new(&url, None, settings)?,
    };
    Ok(client)
}

pub fn tela_client(args: &RemoteArgs, parallelism: u16) -> Result<TelaClient, CliError> {
    let settings = http_settings(parallelism);
    let (url, source) = env::tela_base_url(args.tela_base_url.as_deref());
    crate::redact::register_url_password(&url);
    tracing::info!("Tela: base URL {} from {source}", evalform::http::without_password(&url));
    Ok(TelaClient::new(&url, crate::env::api_key(TELA_KEY_VAR), settings)?)
}
