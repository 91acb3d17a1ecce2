//! The platforms as the commands meet them: connect the clients the manifests need, and read ("observe") the
//! current state of every agent and prompt they name.
//!
//! This is the one place that turns command-line settings into clients, so every command reports a missing key
//! or a bad base URL the same way. It reads and never writes.

use std::collections::BTreeMap;

use tokio::task::JoinSet;

use crate::cekura::fetch::{fetch_agent, FetchOptions, FetchedAgent};
use crate::cekura::CekuraClient;
use crate::cli::RemoteArgs;
use crate::error::CliError;
use crate::http::{ApiError, HttpSettings};
use crate::model::{AgentId, State};
use crate::plan::Observed;
use crate::tela::TelaClient;

/// The clients a command needs. A platform the manifests do not name has no client (and needs no key).
#[derive(Debug, Clone)]
pub struct Remote {
    pub cekura: Option<CekuraClient>,
    pub tela: Option<TelaClient>,
}

/// What the platforms have now, for the agents and prompts the desired state names.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub observed: Observed,
    /// Per agent: phone-number row id -> number string.
    pub phone_numbers: BTreeMap<AgentId, BTreeMap<u64, String>>,
}

/// HTTP settings from the global flags.
pub fn http_settings(parallelism: u16) -> HttpSettings {
    let mut settings = HttpSettings { parallelism: usize::from(parallelism), ..HttpSettings::default() };
    // Tests and benchmarks against the local sandbox shorten backoff through this variable; it changes timing
    // only, never what is sent.
    if std::env::var("EVALFORM_FAST_RETRIES").is_ok_and(|v| v == "1") {
        settings = HttpSettings { parallelism: usize::from(parallelism), ..HttpSettings::fast_for_tests() };
    }
    settings
}

impl Remote {
    /// Connect to the platforms `desired` names, with keys from the environment.
    pub fn connect(args: &RemoteArgs, parallelism: u16, desired: &State) -> Result<Remote, CliError> {
        let needs_cekura = !desired.agents.is_empty();
        let needs_tela = !desired.prompts.is_empty();
        Remote::connect_to(args, parallelism, needs_cekura, needs_tela)
    }

    pub fn connect_to(
        args: &RemoteArgs,
        parallelism: u16,
        needs_cekura: bool,
        needs_tela: bool,
    ) -> Result<Remote, CliError> {
        let settings = http_settings(parallelism);
        let cekura = if needs_cekura {
            Some(CekuraClient::from_env(&args.cekura_base_url, settings.clone()).map_err(connect_error)?)
        } else {
            None
        };
        let tela = if needs_tela {
            Some(TelaClient::from_env(&args.tela_base_url, settings).map_err(connect_error)?)
        } else {
            None
        };
        Ok(Remote { cekura, tela })
    }

    pub fn cekura(&self) -> Result<&CekuraClient, CliError> {
        self.cekura.as_ref().ok_or_else(|| CliError::new("no Cekura client: the manifests name no agent"))
    }

    pub fn tela(&self) -> Result<&TelaClient, CliError> {
        self.tela.as_ref().ok_or_else(|| CliError::new("no Tela client: the manifests name no prompt"))
    }

    /// Read every agent and prompt `desired` names, concurrently (each client bounds its own requests).
    pub async fn observe(&self, desired: &State) -> Result<Snapshot, CliError> {
        let mut agents: JoinSet<(AgentId, Result<FetchedAgent, crate::cekura::FetchError>)> = JoinSet::new();
        if let Some(client) = &self.cekura {
            for (id, want) in &desired.agents {
                let opts = FetchOptions {
                    need_max_duration: want.evaluators.iter().any(|e| e.spec.max_duration.is_some()),
                    need_language: want.evaluators.iter().any(|e| e.spec.language.is_some()),
                    project: want.project,
                };
                let (client, id) = (client.clone(), *id);
                agents.spawn(async move { (id, fetch_agent_settled(&client, id, &opts).await) });
            }
        }
        let mut prompts = JoinSet::new();
        if let Some(client) = &self.tela {
            for prompt in desired.prompts.keys() {
                let (client, prompt) = (client.clone(), prompt.clone());
                prompts.spawn(async move { crate::tela::fetch::fetch_prompt(&client, &prompt).await });
            }
        }
        let mut snapshot = Snapshot::default();
        let mut errors = Vec::new();
        while let Some(joined) = agents.join_next().await {
            match joined {
                Ok((id, Ok(fetched))) => {
                    snapshot.observed.state.agents.insert(id, fetched.state);
                    snapshot.observed.catalogs.insert(id, fetched.catalog);
                    snapshot.phone_numbers.insert(id, fetched.phone_numbers);
                }
                Ok((_, Err(e))) => errors.push(fetch_error(&e, "cekura.agent")),
                Err(e) => errors.push(CliError::new(format!("reading the platform failed: {e}"))),
            }
        }
        while let Some(joined) = prompts.join_next().await {
            match joined {
                Ok(Ok(state)) => {
                    snapshot.observed.state.prompts.insert(state.prompt.clone(), state);
                }
                Ok(Err(e)) => errors.push(fetch_error(&e, "tela.prompt")),
                Err(e) => errors.push(CliError::new(format!("reading the platform failed: {e}"))),
            }
        }
        match errors.len() {
            0 => Ok(snapshot),
            1 => Err(errors.remove(0)),
            n => {
                let mut first = errors.remove(0);
                first.causes.extend(errors.into_iter().map(|e| e.message));
                first.message = format!("{n} reads failed; the first: {}", first.message);
                Err(first)
            }
        }
    }
}

/// Read one agent. An object deleted between the list and its single GET (another apply removing its twin, a
/// dashboard delete) makes that GET a 404: the agent is read again from the list, a few times, since reads are
/// safe to repeat and the next list no longer has it.
async fn fetch_agent_settled(
    client: &CekuraClient,
    id: AgentId,
    opts: &FetchOptions,
) -> Result<FetchedAgent, crate::cekura::FetchError> {
    let mut attempt = 0;
    loop {
        match fetch_agent(client, id, opts).await {
            Err(crate::cekura::FetchError::Api { source, .. }) if source.status() == Some(404) && attempt < 3 => {
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// A client that cannot be built: a missing key names its variable; a refused URL says why.
pub fn connect_error(err: ApiError) -> CliError {
    let hint = match &err {
        ApiError::Config(msg) if msg.contains("CEKURA_API_KEY") => {
            Some("export CEKURA_API_KEY=... (or run `evalform demo` to try evalform without a key)")
        }
        ApiError::Config(msg) if msg.contains("TELA_API_KEY") => Some("export TELA_API_KEY=..."),
        _ => err.hint(),
    };
    let out = CliError::from_error(&err);
    match hint {
        Some(h) => out.hint(h),
        None => out,
    }
}

/// A failed read, with a hint: a 404 means the manifests name something the platform does not have.
fn fetch_error(err: &crate::cekura::FetchError, key: &str) -> CliError {
    let out = CliError::from_error(err);
    match err {
        crate::cekura::FetchError::Api { source, .. } if source.status() == Some(404) => {
            out.hint(format!("check `{key}` in the manifests: the platform has no such {}", key.replace('.', " ")))
        }
        crate::cekura::FetchError::Api { source, .. } => match source.hint() {
            Some(h) => out.hint(h),
            None => out,
        },
        _ => out,
    }
}

/// An API error as the user sees it, with the client's hint.
pub fn api_error(err: &ApiError) -> CliError {
    let out = CliError::from_error(err);
    match err.hint() {
        Some(h) => out.hint(h),
        None => out,
    }
}
