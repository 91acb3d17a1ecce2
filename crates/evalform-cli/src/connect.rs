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
    let settings = crate::env::http_settings(parallelism);
    let (url, url_source) = env::cekura_base_url(args.cekura_base_url.as_deref())?;
    tracing::info!("Cekura: base URL {} from {url_source}", shown_url(&url));
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
    let settings = crate::env::http_settings(parallelism);
    let (url, source) = env::tela_base_url(args.tela_base_url.as_deref());
    tracing::info!("Tela: base URL {} from {source}", shown_url(&url));
    Ok(TelaClient::new(&url, crate::env::api_key(TELA_KEY_VAR), settings)?)
}

/// A URL as messages may show it: a user name or password in it is replaced by `***`.
pub fn shown_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_in_a_url_are_never_shown() {
        assert_eq!(super::shown_url("https://user:pw@api.example.com/x?a=b@c"), "https://***@api.example.com/x?a=b@c");
        assert_eq!(super::shown_url("https://api.example.com/a@b"), "https://api.example.com/a@b");
        assert_eq!(super::shown_url("not a url"), "not a url");
    }
}
