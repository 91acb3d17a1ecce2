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
    let spec = crate::project::env_spec();
    let (url, url_source) = match (args.cekura_base_url.as_deref(), spec.and_then(|e| e.cekura_base_url.as_deref())) {
        (None, Some(url)) => (url.to_string(), ENV_SOURCE.to_string()),
        (flag, _) => env::cekura_base_url(flag).map(|(u, s)| (u, s.to_string()))?,
    };
    crate::redact::register_url_password(&url);
    tracing::info!("Cekura: base URL {} from {url_source}", evalform::http::without_password(&url));
    if let Some(var) = spec.and_then(|e| e.cekura_api_key_env.as_deref()) {
        let key = environment_key(var, "Cekura")?;
        tracing::info!("Cekura: API key from the environment variable {var} ({ENV_SOURCE})");
        return Ok(CekuraClient::new(&url, Some(key), settings)?);
    }
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
    let spec = crate::project::env_spec();
    let (url, source) = tela_url(args);
    crate::redact::register_url_password(&url);
    tracing::info!("Tela: base URL {} from {source}", evalform::http::without_password(&url));
    let key = match spec.and_then(|e| e.tela_api_key_env.as_deref()) {
        Some(var) => Some(environment_key(var, "Tela")?),
        None => crate::env::api_key(TELA_KEY_VAR),
    };
    Ok(TelaClient::new(&url, key, settings)?)
}

/// The Tela base URL and where it came from: `--tela-base-url`, the chosen environment's table, `TELA_BASE_URL`, or
/// the default.
pub fn tela_url(args: &RemoteArgs) -> (String, String) {
    let spec = crate::project::env_spec();
    match (args.tela_base_url.as_deref(), spec.and_then(|e| e.tela_base_url.as_deref())) {
        (None, Some(url)) => (url.to_string(), ENV_SOURCE.to_string()),
        (flag, _) => {
            let (u, s) = env::tela_base_url(flag);
            (u, s.to_string())
        }
    }
}

/// Where the Tela key comes from (the variable the chosen environment names, else `TELA_API_KEY`), when it is set.
pub fn tela_key_source() -> Option<String> {
    let var = crate::project::env_spec().and_then(|e| e.tela_api_key_env.clone()).unwrap_or(TELA_KEY_VAR.to_string());
    crate::env::api_key(&var).map(|_| format!("the environment variable {var}"))
}

/// Where a setting of the chosen environment comes from, for `-v`.
const ENV_SOURCE: &str = "the environment's table in the project file";

/// The key of the chosen environment, from the variable its table names: unset is an error naming the
/// environment and the variable (never a fallback to another environment's key).
fn environment_key(var: &str, platform: &str) -> Result<evalform::secret::ApiKey, CliError> {
    let env = crate::project::env_name().unwrap_or("?");
    env::api_key(var).ok_or_else(|| {
        CliError::new(format!("environment `{env}` takes its {platform} key from `{var}`, which is not set")).hint(
            format!("set `{var}` (a secret of the `{env}` environment in CI), or change the variable its table names"),
        )
    })
}
