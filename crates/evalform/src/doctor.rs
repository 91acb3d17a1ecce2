//! `evalform doctor`: probes that tell whether evalform's assumptions hold for one account's Cekura server, and
//! which reading it follows on each point where the vendor's sources disagree (docs/sandbox.md, "Readings"); and
//! whether Tela answers, accepts the key and has the manifests' prompts ([`probe_tela`]).
//!
//! Every probe reads. The probes of how writes are read (`adv_update`, `delete_scenarios`, tool ids) are sent only
//! when asked ([`DoctorOptions::probe_writes`]): each is a request built to be refused (it names evaluator id 0,
//! which cannot exist, or has no name), so the refusal's wording tells the reading and nothing is changed. This
//! module decides nothing about output; the command line prints the [`Check`]s.

use std::time::Instant;

use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Value};

use crate::cekura::CekuraClient;
use crate::http::ApiError;
use crate::tela::TelaClient;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The assumption holds (or evalform works under what was found).
    Ok,
    /// Something a user must fix before evalform can work.
    Fail,
    /// Not decided (nothing to probe it with), or for information.
    Note,
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// A stable name, for `--format json` and scripts: `key`, `agent.101`, `slashless_paths`, ...
    pub id: String,
    pub verdict: Verdict,
    /// What was found, in a sentence.
    pub found: String,
    /// For a failure: what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// For a point the sources disagree on: the reading found (a sandbox `--reading` name, or `default`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reading: Option<String>,
}

impl Check {
    fn new(id: impl Into<String>, verdict: Verdict, found: impl Into<String>) -> Check {
        Check { id: id.into(), verdict, found: found.into(), fix: None, reading: None }
    }

    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }

    fn reading(mut self, reading: &str) -> Check {
        self.reading = Some(reading.to_string());
        self
    }
}

/// What to probe.
#[derive(Debug, Clone, Default)]
pub struct DoctorOptions {
    /// The agents the manifests declare (or `--agent`): each is read, with its evaluators and test profiles.
    pub agents: Vec<u64>,
    /// A result id of an earlier run, to see how the server writes statuses.
    pub result: Option<u64>,
    /// Send the requests built to be refused (see the module docs).
    pub probe_writes: bool,
}

const SCENARIOS: &str = "/test_framework/v1/scenarios/";

/// Run every probe, in order; a failure of the key stops the rest (nothing else can be read).
pub async fn probe(client: &CekuraClient, opts: &DoctorOptions) -> Vec<Check> {
    let t = client.transport();
    let mut out = Vec::new();
    let started = Instant::now();
    let first = match opts.agents.first() {
        Some(agent) => t.json::<Value>(Method::GET, &format!("/test_framework/v2/aiagents/{agent}/"), &[], None).await,
        None => t.json::<Value>(Method::GET, "/test_framework/v2/aiagents/", &[], None).await,
    };
    let ms = started.elapsed().as_millis();
    match &first {
        Err(e @ ApiError::Rejected { status: 401 | 403, .. }) => {
            out.push(Check::new("key", Verdict::Fail, format!("the key was refused: {e}")).fix(
                "check CEKURA_API_KEY (or the key of `cekura auth login`) and that it belongs to this organisation",
            ));
            return out;
        }
        Err(e @ (ApiError::Unavailable { .. } | ApiError::Config(_) | ApiError::MissingKey { .. })) => {
            out.push(
                Check::new("reachable", Verdict::Fail, format!("the server cannot be reached: {e}"))
                    .fix("check the base URL (-v says where it came from) and the network"),
            );
            return out;
        }
        _ => out.push(Check::new(
            "reachable",
            Verdict::Ok,
            format!("the server answered in {ms}ms; the key was accepted"),
        )),
    }

    let mut projects = Vec::new();
    for agent in &opts.agents {
        let (check, project) = agent_access(client, *agent).await;
        out.push(check);
        projects.extend(project.map(|p| (*agent, p)));
    }
    if let Some(agent) = opts.agents.first() {
        out.push(slashless_paths(client, *agent).await);
        out.push(page_size(client, *agent).await);
    }
    if let Some((_, project)) = projects.first() {
        out.push(folder_depth(client, *project).await);
    } else {
        out.push(
            Check::new("folders", Verdict::Note, "folder list depth not probed: no agent to read").reading("default"),
        );
    }
    out.push(statuses(client, opts.result).await);
    if opts.probe_writes {
        if let Some(agent) = opts.agents.first() {
            out.extend(refused_write_probes(client, *agent).await);
        }
    } else {
        out.push(Check::new(
            "write_readings",
            Verdict::Note,
            "how adv_update, delete_scenarios and tool ids are read was not probed (--probe-writes sends requests \
             built to be refused); evalform adapts on the first refusal anyway",
        ));
    }
    out
}

/// The Tela probes: the server answers and the key is accepted, and each of `prompts` (the prompts the manifests
/// declare test cases for) can be read. Without a prompt to read, a list without its prompt id is asked for: a
/// refusal of the request (400), not of the key, says the key was accepted. A refused key stops the rest.
pub async fn probe_tela(client: &TelaClient, prompts: &[String]) -> Vec<Check> {
    let mut out = Vec::new();
    let started = Instant::now();
    // The first prompt's test cases (their number), or the list without a prompt id.
    let first = match prompts.first() {
        Some(prompt) => client.list_test_cases(prompt).await.map(|cases| cases.len()),
        None => client.transport().json::<Value>(Method::GET, "/test-case", &[], None).await.map(|_| 0),
    };
    let ms = started.elapsed().as_millis();
    match &first {
        Err(e @ ApiError::Rejected { status: 401 | 403, .. }) => {
            out.push(
                Check::new("tela.key", Verdict::Fail, format!("the key was refused: {e}"))
                    .fix("check TELA_API_KEY and that it belongs to the workspace of the prompts"),
            );
            return out;
        }
        Err(e @ ApiError::MissingKey { .. }) => {
            out.push(
                Check::new("tela.key", Verdict::Fail, format!("no key: {e}"))
                    .fix("set TELA_API_KEY to a key of the workspace of the prompts"),
            );
            return out;
        }
        Err(e @ (ApiError::Unavailable { .. } | ApiError::Config(_))) => {
            out.push(
                Check::new("tela.reachable", Verdict::Fail, format!("the server cannot be reached: {e}"))
                    .fix("check the Tela base URL (-v says where it came from) and the network"),
            );
            return out;
        }
        // A prompt that is not there, or (without a prompt) the list refused for want of one: the key passed.
        _ => out.push(Check::new(
            "tela.reachable",
            Verdict::Ok,
            format!("the server answered in {ms}ms; the key was accepted"),
        )),
    }
    let mut first = Some(first);
    for prompt in prompts {
        let read = match first.take() {
            Some(read) => read,
            None => client.list_test_cases(prompt).await.map(|cases| cases.len()),
        };
        let id = format!("tela.prompt.{prompt}");
        out.push(match read {
            Ok(n) => Check::new(
                id,
                Verdict::Ok,
                format!("prompt {prompt}: {n} test case{} readable", if n == 1 { "" } else { "s" }),
            ),
            Err(e @ ApiError::Rejected { status: 404, .. }) => {
                Check::new(id, Verdict::Fail, format!("prompt {prompt} not found: {e}"))
                    .fix("check `tela.prompt` in the manifests: the prompt's id in Tela, in the key's workspace")
            }
            Err(e) => Check::new(id, Verdict::Fail, format!("prompt {prompt} cannot be read: {e}")),
        });
    }
    out
}

/// The agent, its evaluators and its test profiles can be read; its project.
async fn agent_access(client: &CekuraClient, agent: u64) -> (Check, Option<u64>) {
    let id = format!("agent.{agent}");
    let found = match client.get_agent(agent).await {
        Ok(a) => a,
        Err(e) => {
            let fix = if e.status() == Some(404) {
                "check `cekura.agent` in the manifests: the id is in the agent's URL in the dashboard"
            } else {
                "check that the key may read this agent"
            };
            return (Check::new(id, Verdict::Fail, format!("agent {agent} cannot be read: {e}")).fix(fix), None);
        }
    };
    let (scenarios, profiles) = tokio::join!(client.list_scenarios(agent), client.list_test_profiles(agent));
    let check = match (scenarios, profiles, found.project) {
        (Ok(s), Ok(p), Some(project)) => Check::new(
            id,
            Verdict::Ok,
            format!(
                "agent {agent} (project {project}): {} evaluator{} and {} test profile{} readable",
                s.len(),
                if s.len() == 1 { "" } else { "s" },
                p.len(),
                if p.len() == 1 { "" } else { "s" }
            ),
        ),
        (_, _, None) => Check::new(id, Verdict::Fail, format!("agent {agent} has no project"))
            .fix("give the agent a project in the dashboard, or set `project:` in the manifests"),
        (Err(e), _, _) | (_, Err(e), _) => Check::new(id, Verdict::Fail, format!("agent {agent}: {e}"))
            .fix("check that the key may read this agent's evaluators and test profiles"),
    };
    (check, found.project)
}

/// Whether paths without the trailing slash (what the vendor's own tools send) are served.
async fn slashless_paths(client: &CekuraClient, agent: u64) -> Check {
    let q = [("agent_id", agent.to_string()), ("page_size", "1".to_string())];
    match client.transport().json::<Value>(Method::GET, "/test_framework/v1/scenarios", &q, None).await {
        Ok(_) => Check::new("slashless_paths", Verdict::Ok, "paths without the trailing slash are served"),
        Err(e) => Check::new(
            "slashless_paths",
            Verdict::Note,
            format!("paths without the trailing slash are not served directly ({e}); evalform always sends the slash"),
        ),
    }
}

/// The page size the server grants when asked for 500.
async fn page_size(client: &CekuraClient, agent: u64) -> Check {
    let q = [("agent_id", agent.to_string()), ("page_size", "500".to_string())];
    match client.transport().json::<Value>(Method::GET, SCENARIOS, &q, None).await {
        Ok(page) => {
            let count = page.get("count").and_then(Value::as_u64).unwrap_or(0);
            let got = page.get("results").and_then(Value::as_array).map_or(0, Vec::len) as u64;
            let found = if count <= got {
                format!("page size: all {count} evaluators came on one page of up to 500")
            } else {
                format!("page size: {got} granted of 500 asked ({count} evaluators in all); evalform follows the pages")
            };
            Check::new("page_size", Verdict::Ok, found)
        }
        Err(e) => Check::new("page_size", Verdict::Fail, format!("the evaluator list cannot be read: {e}")),
    }
}

/// Whether the folder list without `parent_path` has every depth, or only the top level.
async fn folder_depth(client: &CekuraClient, project: u64) -> Check {
    let t = client.transport();
    let all = [("project_id", project.to_string()), ("page_size", "500".to_string())];
    let paths = |page: &Value| -> Vec<String> {
        page.get("results")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| f.get("path").and_then(Value::as_str).map(str::to_string))
            .collect()
    };
    let listed = match t.json::<Value>(Method::GET, &format!("{SCENARIOS}folders/"), &all, None).await {
        Ok(page) => paths(&page),
        Err(e) => return Check::new("folders", Verdict::Fail, format!("the folder list cannot be read: {e}")),
    };
    if listed.iter().any(|p| p.contains('.')) {
        return Check::new("folders", Verdict::Ok, "folder list: every depth without parent_path").reading("default");
    }
    for top in &listed {
        let q = [("project_id", project.to_string()), ("parent_path", top.clone())];
        if let Ok(page) = t.json::<Value>(Method::GET, &format!("{SCENARIOS}folders/"), &q, None).await {
            if paths(&page).iter().any(|p| p.starts_with(&format!("{top}."))) {
                return Check::new(
                    "folders",
                    Verdict::Ok,
                    "folder list: only the top level without parent_path; evalform lists each level",
                )
                .reading("folders-top-level");
            }
        }
    }
    Check::new("folders", Verdict::Note, "folder list depth not decided: the project has no nested folders")
}

/// How result statuses are written, from one earlier result.
async fn statuses(client: &CekuraClient, result: Option<u64>) -> Check {
    let Some(id) = result else {
        return Check::new(
            "statuses",
            Verdict::Note,
            "result status case not probed (pass --result ID of an earlier run); evalform reads any case",
        );
    };
    // Read raw: the client's own reading of a result lower-cases the status at the door.
    let path = format!("/test_framework/v2/results/{id}/");
    match client.transport().json::<Value>(Method::GET, &path, &[], None).await {
        Ok(r) => {
            let status = r.get("status").and_then(Value::as_str).unwrap_or("").to_string();
            if status.chars().any(|c| c.is_ascii_uppercase()) {
                Check::new("statuses", Verdict::Ok, format!("result statuses in upper case ({status})"))
                    .reading("status-upper")
            } else {
                Check::new("statuses", Verdict::Ok, format!("result statuses in lower case ({status})"))
                    .reading("default")
            }
        }
        Err(e) => Check::new("statuses", Verdict::Fail, format!("result {id} cannot be read: {e}"))
            .fix("pass the id of a result of this organisation"),
    }
}

/// Requests built to be refused; the wording of each refusal tells the reading.
async fn refused_write_probes(client: &CekuraClient, agent: u64) -> Vec<Check> {
    let t = client.transport();
    let refusal = |r: Result<Value, ApiError>| match r {
        Err(ApiError::Rejected { message, .. }) => Some(message),
        _ => None,
    };
    let mut out = Vec::new();
    let adv = refusal(
        t.json(Method::POST, &format!("{SCENARIOS}adv_update/"), &[], Some(&json!({"scenarios": [0], "agent": agent})))
            .await,
    );
    out.push(match adv {
        Some(m) if m.contains("Expected a dict") => {
            Check::new("adv_update", Verdict::Ok, "adv_update.scenarios are read as objects")
                .reading("adv-update-objects")
        }
        Some(_) => Check::new("adv_update", Verdict::Ok, "adv_update.scenarios are read as ids").reading("default"),
        None => {
            Check::new("adv_update", Verdict::Note, "adv_update: the probe was not refused as expected; not decided")
        }
    });
    let del = refusal(
        t.json(
            Method::POST,
            &format!("{SCENARIOS}delete_scenarios/"),
            &[],
            Some(&json!({"scenarios": [0], "agent_id": agent})),
        )
        .await,
    );
    out.push(match del {
        Some(m) if m.contains("scenario_ids") => {
            Check::new("delete_scenarios", Verdict::Ok, "delete_scenarios reads scenario_ids")
                .reading("delete-scenario-ids")
        }
        Some(_) => Check::new("delete_scenarios", Verdict::Ok, "delete_scenarios reads scenarios").reading("default"),
        None => Check::new(
            "delete_scenarios",
            Verdict::Note,
            "delete_scenarios: the probe was not refused as expected; not decided",
        ),
    });
    let tools = refusal(
        t.json(Method::POST, SCENARIOS, &[], Some(&json!({"agent": agent, "tool_ids": ["TOOL_END_CALL"]}))).await,
    );
    out.push(match tools {
        Some(m) if m.contains("tool_ids") => {
            Check::new("tool_ids", Verdict::Ok, "tool ids are read in lower case (end_call)")
                .reading("tools-lower-case")
        }
        Some(_) => Check::new("tool_ids", Verdict::Ok, "tool ids are read as TOOL_END_CALL").reading("default"),
        None => Check::new("tool_ids", Verdict::Note, "tool ids: the probe was not refused as expected; not decided"),
    });
    out
}
