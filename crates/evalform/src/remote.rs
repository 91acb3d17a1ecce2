//! The platforms as the library meets them: the clients a run needs, and the reading ("observing") of the current
//! state of every agent and prompt the desired state names.
//!
//! It reads and never writes. Building the clients (keys, base URLs, where each came from) is the command line's
//! job: this module takes them ready-made, so it reads no environment.

use std::collections::BTreeMap;

use tokio::task::JoinSet;

use tokio::task::JoinHandle;

use crate::cekura::fetch::{finish_agent_for, read_lists, AgentLists, FetchOptions, FetchedAgent, SingleReads};
use crate::cekura::{CekuraClient, FetchError};
use crate::manifest::scan::Targets;
use crate::model::{AgentId, PromptState, State};
use crate::plan::Observed;
use crate::tela::TelaClient;

/// The clients a command needs. A platform the manifests do not name has no client (and needs no key).
#[derive(Debug, Clone, Default)]
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

/// Which manifest key named the object a read was for: the hint for a 404 points there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadTarget {
    /// `cekura.agent`
    Agent,
    /// `tela.prompt`
    Prompt,
}

impl ReadTarget {
    /// The manifest key that names this kind of object.
    pub fn key(self) -> &'static str {
        match self {
            ReadTarget::Agent => "cekura.agent",
            ReadTarget::Prompt => "tela.prompt",
        }
    }
}

/// One read that failed.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct ReadError {
    pub target: ReadTarget,
    #[source]
    pub source: FetchError,
}

/// Why the platform could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    /// A client the run needs was not given (the manifests name no agent, or no prompt).
    #[error("no {platform} client: the manifests name no {what}")]
    NoClient { platform: &'static str, what: &'static str },
    /// One or more reads failed; all of them are kept, the first is the headline.
    #[error("{}", reads_message(.0))]
    Reads(Vec<ReadError>),
    /// A read task ended without an answer (it panicked or was cancelled).
    #[error("reading the platform failed: {0}")]
    Task(String),
}

fn reads_message(reads: &[ReadError]) -> String {
    match reads {
        [one] => one.source.to_string(),
        [first, ..] => format!("{} reads failed; the first: {}", reads.len(), first.source),
        [] => "reading the platform failed".to_string(),
    }
}

impl Remote {
    pub fn cekura(&self) -> Result<&CekuraClient, ObserveError> {
        self.cekura.as_ref().ok_or(ObserveError::NoClient { platform: "Cekura", what: "agent" })
    }

    pub fn tela(&self) -> Result<&TelaClient, ObserveError> {
        self.tela.as_ref().ok_or(ObserveError::NoClient { platform: "Tela", what: "prompt" })
    }

    /// Read every agent and prompt `desired` names, concurrently (each client bounds its own requests).
    pub async fn observe(&self, desired: &State) -> Result<Snapshot, ObserveError> {
        self.observe_prefetched(desired, Prefetch::default()).await
    }

    /// Start the reads that need only ids: each agent's lists and each prompt's test cases, for the agents and
    /// prompts `targets` guesses the manifests name. They run in the background (on the current Tokio runtime)
    /// while the manifests load; [`Remote::observe_prefetched`] then uses those that match the loaded state.
    /// Must be called within a Tokio runtime.
    pub fn prefetch(&self, targets: &Targets) -> Prefetch {
        let mut prefetch = Prefetch::default();
        if let Some(client) = &self.cekura {
            for (&agent, &project) in &targets.agents {
                let client = client.clone();
                let task = tokio::spawn(async move { read_lists(&client, agent, project).await });
                prefetch.agents.insert(agent, (project, task));
            }
        }
        if let Some(client) = &self.tela {
            for prompt in &targets.prompts {
                let (client, id) = (client.clone(), prompt.clone());
                let task = tokio::spawn(async move { crate::tela::fetch::fetch_prompt(&client, &id).await });
                prefetch.prompts.insert(prompt.clone(), task);
            }
        }
        prefetch
    }

    /// [`Remote::observe`], using the reads `prefetch` started where they are the ones `desired` needs (same
    /// agent and project, same prompt); the rest is read now, and the single evaluator reads that depend on the
    /// desired state (`max_duration`, `language`) are made once the lists are in.
    pub async fn observe_prefetched(&self, desired: &State, mut prefetch: Prefetch) -> Result<Snapshot, ObserveError> {
        let mut agents: JoinSet<(AgentId, Result<FetchedAgent, FetchError>)> = JoinSet::new();
        if let Some(client) = &self.cekura {
            for (id, want) in &desired.agents {
                let opts = FetchOptions {
                    need_max_duration: want.evaluators.iter().any(|e| e.spec.max_duration.is_some()),
                    need_language: want.evaluators.iter().any(|e| e.spec.language.is_some()),
                    project: want.project,
                };
                // Single reads only for the evaluators that manage a field the list lacks.
                let mut only = SingleReads::default();
                for e in want.evaluators.iter().filter(|e| e.spec.max_duration.is_some() || e.spec.language.is_some()) {
                    match e.id {
                        Some(id) => only.ids.insert(id),
                        None => only.names.insert(e.name.clone()),
                    };
                    // A renamed evaluator is still on the platform under an earlier name.
                    let address = crate::model::Address::Evaluator { agent: *id, name: e.name.clone() };
                    only.names.extend(want.renamed_from.get(&address).into_iter().flatten().cloned());
                }
                let started = match prefetch.agents.remove(id) {
                    Some((project, task)) if project == want.project => Some(task),
                    Some((_, task)) => {
                        task.abort();
                        None
                    }
                    None => None,
                };
                let (client, id) = (client.clone(), *id);
                agents.spawn(async move { (id, fetch_agent_from(&client, id, &opts, &only, started).await) });
            }
        }
        let mut prompts = JoinSet::new();
        if let Some(client) = &self.tela {
            for prompt in desired.prompts.keys() {
                let started = prefetch.prompts.remove(prompt);
                let (client, prompt) = (client.clone(), prompt.clone());
                prompts.spawn(async move {
                    if let Some(Ok(read)) = match started {
                        Some(task) => Some(task.await),
                        None => None,
                    } {
                        return read;
                    }
                    crate::tela::fetch::fetch_prompt(&client, &prompt).await
                });
            }
        }
        drop(prefetch);
        let mut snapshot = Snapshot::default();
        let mut errors = Vec::new();
        while let Some(joined) = agents.join_next().await {
            match joined {
                Ok((id, Ok(fetched))) => {
                    snapshot.observed.state.agents.insert(id, fetched.state);
                    snapshot.observed.catalogs.insert(id, fetched.catalog);
                    snapshot.phone_numbers.insert(id, fetched.phone_numbers);
                }
                Ok((_, Err(source))) => errors.push(ReadError { target: ReadTarget::Agent, source }),
                Err(e) => return Err(ObserveError::Task(e.to_string())),
            }
        }
        while let Some(joined) = prompts.join_next().await {
            match joined {
                Ok(Ok(state)) => {
                    snapshot.observed.state.prompts.insert(state.prompt.clone(), state);
                }
                Ok(Err(source)) => errors.push(ReadError { target: ReadTarget::Prompt, source }),
                Err(e) => return Err(ObserveError::Task(e.to_string())),
            }
        }
        if errors.is_empty() {
            Ok(snapshot)
        } else {
            Err(ObserveError::Reads(errors))
        }
    }
}

type ListsTask = JoinHandle<Result<AgentLists, FetchError>>;

/// Reads started before the manifests were loaded (see [`Remote::prefetch`]). Dropping it cancels those that were
/// not used.
#[derive(Debug, Default)]
pub struct Prefetch {
    /// Agent -> (the project the lists were read for, the reading).
    agents: BTreeMap<AgentId, (Option<u64>, ListsTask)>,
    prompts: BTreeMap<String, JoinHandle<Result<PromptState, FetchError>>>,
}

impl Prefetch {
    /// How many reads were started (agents and prompts).
    pub fn len(&self) -> usize {
        self.agents.len() + self.prompts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        for (_, task) in self.agents.values() {
            task.abort();
        }
        for task in self.prompts.values() {
            task.abort();
        }
    }
}

/// Read one agent, from its prefetched lists when there are some. A prefetched reading that failed with a 404 is
/// not taken as the answer: the agent is read again as [`fetch_agent_settled`] does (other errors are the answer,
/// as they would be on a fresh read).
async fn fetch_agent_from(
    client: &CekuraClient,
    id: AgentId,
    opts: &FetchOptions,
    only: &SingleReads,
    started: Option<ListsTask>,
) -> Result<FetchedAgent, FetchError> {
    if let Some(task) = started {
        match task.await {
            Ok(Ok(lists)) => match finish_agent_for(client, lists, opts, Some(only)).await {
                Err(FetchError::Api { source, .. }) if source.status() == Some(404) => {}
                other => return other,
            },
            Ok(Err(FetchError::Api { source, .. })) if source.status() == Some(404) => {}
            Ok(Err(other)) => return Err(other),
            Err(_) => {} // cancelled or failed: read afresh
        }
    }
    fetch_agent_settled(client, id, opts, only).await
}

/// Read one agent. An object deleted between the list and its single GET (another apply removing its twin, a
/// dashboard delete) makes that GET a 404: the agent is read again from the list, a few times, since reads are
/// safe to repeat and the next list no longer has it.
async fn fetch_agent_settled(
    client: &CekuraClient,
    id: AgentId,
    opts: &FetchOptions,
    only: &SingleReads,
) -> Result<FetchedAgent, FetchError> {
    let mut attempt = 0;
    loop {
        let read =
            async { finish_agent_for(client, read_lists(client, id, opts.project).await?, opts, Some(only)).await };
        match read.await {
            Err(FetchError::Api { source, .. }) if source.status() == Some(404) && attempt < 3 => {
                attempt += 1;
            }
            other => return other,
        }
    }
}
