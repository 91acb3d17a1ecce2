//! The Cekura API client: one method per endpoint evalform uses, typed answers, every list read to its end.
//!
//! It knows paths, query parameters and wire types, and nothing of manifests or plans: write bodies arrive as
//! JSON built by the executor. Retrying, backoff, concurrency and error classification are the transport's
//! ([`crate::http`]); a write here is sent once, and an unknown outcome is returned as such.

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use std::sync::Arc;

use super::dialect::Dialect;
use super::wire;
use crate::http::{ApiError, AuthScheme, HttpSettings, Transport};
use crate::secret::ApiKey;

/// The environment variable that holds the Cekura key.
pub const KEY_VAR: &str = "CEKURA_API_KEY";
/// The header Cekura reads the key from.
pub const KEY_HEADER: &str = "X-CEKURA-API-KEY";
/// Asked for on every paginated read (the most Cekura grants); a server that caps it lower is followed by its own
/// page length.
pub const PAGE_SIZE: u64 = 500;
/// Readings of a list that changes while it is read, before the last one is used as it is.
pub const LIST_ATTEMPTS: u32 = 3;
/// The most pages of one list read: a `count` that needs more, or a `next` link that goes on past it, is an
/// error (a broken or hostile server), never a hang or an out-of-memory abort.
pub const MAX_PAGES: u64 = 5_000;

const SCENARIOS: &str = "/test_framework/v1/scenarios/";

/// A Cekura client. Cheap to clone; clones share connections and the `--parallelism` limit.
#[derive(Debug, Clone)]
pub struct CekuraClient {
    http: Transport,
    dialect: Arc<Dialect>,
}

impl CekuraClient {
    pub fn new(base_url: &str, key: Option<ApiKey>, settings: HttpSettings) -> Result<Self, ApiError> {
        let http = Transport::new("cekura", base_url, key, KEY_VAR, AuthScheme::Header(KEY_HEADER), settings)?;
        Ok(CekuraClient { http, dialect: Arc::default() })
    }

    /// With a bearer token instead of the API key header: the vendor CLI's login stores one
    /// (`~/.cekura/config.toml`, `access_token`).
    pub fn with_bearer(base_url: &str, token: Option<ApiKey>, settings: HttpSettings) -> Result<Self, ApiError> {
        let http = Transport::new("cekura", base_url, token, KEY_VAR, AuthScheme::Bearer, settings)?;
        Ok(CekuraClient { http, dialect: Arc::default() })
    }

    pub fn transport(&self) -> &Transport {
        &self.http
    }

    /// What this server was found to read where the vendor's sources disagree (kept for the run).
    pub fn dialect(&self) -> &Dialect {
        &self.dialect
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T, ApiError> {
        self.http.json(Method::GET, path, query, None).await
    }

    /// Every item of a DRF-paginated list. The first page tells the count and the server's page length; the
    /// remaining pages are then fetched in parallel (bounded by the transport's limit). Pages are numbered
    /// offsets, so a list that changes while it is read can shift an item between pages (read twice, or never):
    /// when the pages disagree on `count`, the whole list is read again (at most [`LIST_ATTEMPTS`] times).
    async fn get_all_pages<T>(&self, path: &'static str, query: Vec<(&'static str, String)>) -> Result<Vec<T>, ApiError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let mut attempt = 1;
        loop {
            let (items, consistent) = self.read_pages(path, &query).await?;
            if consistent || attempt == LIST_ATTEMPTS {
                if !consistent {
                    tracing::warn!("GET {path}: the list kept changing while it was read; using the last reading");
                }
                return Ok(items);
            }
            attempt += 1;
        }
    }

    /// One reading of every page; `false` when the pages disagree on the list's size.
    async fn read_pages<T>(
        &self,
        path: &'static str,
        query: &[(&'static str, String)],
    ) -> Result<(Vec<T>, bool), ApiError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let page = |n: u64| {
            let mut q = query.to_vec();
            q.push(("page", n.to_string()));
            q.push(("page_size", PAGE_SIZE.to_string()));
            q
        };
        let first: wire::Page<T> = self.get(path, &page(1)).await?;
        let count = first.count;
        let mut consistent = true;
        let mut more = first.next.is_some();
        let mut items = first.results;
        if !more {
            return Ok((items, true));
        }
        let per_page = items.len() as u64;
        if per_page == 0 {
            return Err(ApiError::Decode {
                method: "GET".into(),
                path: path.into(),
                reason: format!("page 1 is empty but announces a next page (count {count})"),
            });
        }
        let bad = |reason: String| ApiError::Decode { method: "GET".into(), path: path.into(), reason };
        let pages = count.div_ceil(per_page).max(1);
        if pages > MAX_PAGES {
            return Err(bad(format!(
                "the list announces {count} items ({pages} pages of {per_page}), more than the {MAX_PAGES} pages \
                 evalform reads of one list"
            )));
        }
        let mut tasks = JoinSet::new();
        for n in 2..=pages {
            let client = self.clone();
            let q = page(n);
            tasks.spawn(async move { (n, client.get::<wire::Page<T>>(path, &q).await) });
        }
        let mut fetched: Vec<(u64, wire::Page<T>)> = Vec::with_capacity(pages as usize);
        while let Some(joined) = tasks.join_next().await {
            let (n, result) = joined.map_err(|e| ApiError::Unavailable {
                method: "GET".into(),
                path: path.into(),
                reason: format!("a page request was aborted: {e}"),
            })?;
            match result {
                Ok(p) => fetched.push((n, p)),
                // DRF answers 404 "Invalid page." past the end: the list shrank while it was read.
                Err(e) if e.status() == Some(404) => consistent = false,
                Err(e) => return Err(e),
            }
        }
        fetched.sort_by_key(|(n, _)| *n);
        if let Some((_, last)) = fetched.last() {
            more = last.next.is_some();
        }
        for (_, p) in fetched {
            consistent &= p.count == count;
            items.extend(p.results);
        }
        let mut n = pages;
        let mut links = std::collections::BTreeSet::new();
        while more {
            // The list grew while it was read: follow it to the end, but not forever.
            consistent = false;
            n += 1;
            if n > MAX_PAGES {
                return Err(bad(format!("the list does not end: its `next` link goes on past {MAX_PAGES} pages")));
            }
            let p: wire::Page<T> = self.get(path, &page(n)).await?;
            if let Some(next) = &p.next {
                if !links.insert(next.clone()) {
                    return Err(bad(format!("the list's `next` link loops: page {n} links again to {next}")));
                }
            }
            more = p.next.is_some() && !p.results.is_empty();
            items.extend(p.results);
        }
        Ok((items, consistent))
    }

    /// Every evaluator of the agent, deduplicated by id (an item can shift pages while the list is read).
    pub async fn list_scenarios(&self, agent: u64) -> Result<Vec<wire::ScenarioListItem>, ApiError> {
        let items: Vec<wire::ScenarioListItem> =
            self.get_all_pages(SCENARIOS, vec![("agent_id", agent.to_string())]).await?;
        let mut seen = std::collections::BTreeSet::new();
        Ok(items.into_iter().filter(|i| seen.insert(i.id)).collect())
    }

    /// Every evaluator of the project, of every agent, deduplicated by id. A folder belongs to the project, so
    /// what a folder deletion would take is read here.
    pub async fn list_project_scenarios(&self, project: u64) -> Result<Vec<wire::ScenarioListItem>, ApiError> {
        let items: Vec<wire::ScenarioListItem> =
            self.get_all_pages(SCENARIOS, vec![("project_id", project.to_string())]).await?;
        let mut seen = std::collections::BTreeSet::new();
        Ok(items.into_iter().filter(|i| seen.insert(i.id)).collect())
    }

    pub async fn get_scenario(&self, id: u64) -> Result<wire::Scenario, ApiError> {
        self.get(&format!("{SCENARIOS}{id}/"), &[]).await
    }

    /// `POST /scenarios/` (201). Not retried once sent.
    pub async fn create_scenario(&self, body: &Value) -> Result<wire::Scenario, ApiError> {
        self.http.json(Method::POST, SCENARIOS, &[], Some(body)).await
    }

    /// `PATCH /scenarios/{id}/`. The platform silently ignores first_message, max_duration and
    /// scenario_language here; use [`CekuraClient::put_scenario`] or `adv_update` for those.
    pub async fn patch_scenario(&self, id: u64, body: &Value) -> Result<wire::Scenario, ApiError> {
        self.http.json(Method::PATCH, &format!("{SCENARIOS}{id}/"), &[], Some(body)).await
    }

    /// `PUT /scenarios/{id}/`: the full object; the only single-evaluator route that takes scenario_language.
    pub async fn put_scenario(&self, id: u64, body: &Value) -> Result<wire::Scenario, ApiError> {
        self.http.json(Method::PUT, &format!("{SCENARIOS}{id}/"), &[], Some(body)).await
    }

    /// `POST /scenarios/adv_update/`: the bulk change. Never replayed: `append_instruction` appends each time.
    /// An empty or non-JSON 200 body is returned as `null`, since the answer carries nothing evalform needs.
    pub async fn adv_update(&self, body: &Value) -> Result<Value, ApiError> {
        let reply = self.http.send(Method::POST, &format!("{SCENARIOS}adv_update/"), &[], Some(body)).await?;
        Ok(serde_json::from_slice(&reply.body).unwrap_or(Value::Null))
    }

    pub async fn delete_scenario(&self, id: u64) -> Result<(), ApiError> {
        self.http.empty(Method::DELETE, &format!("{SCENARIOS}{id}/"), &[], None).await
    }

    /// `POST /scenarios/delete_scenarios/` `{scenarios, agent_id}` (204). Irreversible.
    pub async fn delete_scenarios(&self, agent: u64, ids: &[u64]) -> Result<(), ApiError> {
        let path = format!("{SCENARIOS}delete_scenarios/");
        let body = json!({ "scenarios": ids, "agent_id": agent });
        let sent = self.dialect.adapt(&path, &body);
        match self.http.empty(Method::POST, &path, &[], Some(&sent)).await {
            Err(ApiError::Rejected { status: 400, message, method, path: p }) => {
                match self.dialect.reconsider(&path, &body, &sent, &message) {
                    Some(again) => self.http.empty(Method::POST, &path, &[], Some(&again)).await,
                    None => Err(ApiError::Rejected { method, path: p, status: 400, message }),
                }
            }
            other => other,
        }
    }

    /// One folder level; its parent must exist (`parent_path` is the parent's dot path).
    pub async fn create_folder(&self, project: u64, name: &str, parent_path: Option<&str>) -> Result<(), ApiError> {
        let body = json!({ "name": name, "parent_path": parent_path, "project_id": project });
        self.http.empty(Method::POST, &format!("{SCENARIOS}create_folder/"), &[], Some(&body)).await
    }

    /// Every folder of the project, at every depth. Without `parent_path` the list holds every depth on some
    /// readings and only the top level on others (nothing says which): a list with no nested path is completed by
    /// asking for the children of each folder, level by level.
    pub async fn list_folders(&self, project: u64) -> Result<Vec<wire::Folder>, ApiError> {
        const FOLDERS: &str = "/test_framework/v1/scenarios/folders/";
        let mut items: Vec<wire::Folder> =
            self.get_all_pages(FOLDERS, vec![("project_id", project.to_string())]).await?;
        if !items.iter().any(|f| f.path.contains('.')) {
            let mut level: Vec<String> = items.iter().map(|f| f.path.clone()).collect();
            while !level.is_empty() {
                // The folders of one level are asked for their children all at once (bounded by the transport's
                // limit), not one after another: ten folders cost one round trip, not ten.
                let mut tasks = JoinSet::new();
                for (i, parent) in level.iter().enumerate() {
                    let client = self.clone();
                    let query = vec![("project_id", project.to_string()), ("parent_path", parent.clone())];
                    tasks.spawn(async move { (i, client.get_all_pages::<wire::Folder>(FOLDERS, query).await) });
                }
                let mut read = Vec::with_capacity(level.len());
                while let Some(joined) = tasks.join_next().await {
                    read.push(joined.map_err(|e| ApiError::Unavailable {
                        method: "GET".into(),
                        path: FOLDERS.into(),
                        reason: format!("a folder request was aborted: {e}"),
                    })?);
                }
                // In the order of the level, so that the folders (and the first error) are as a serial read gives.
                read.sort_by_key(|(i, _)| *i);
                let mut next = Vec::new();
                for (i, children) in read {
                    let children = children?;
                    let prefix = format!("{}.", level[i]);
                    next.extend(children.iter().filter(|c| c.path.starts_with(&prefix)).map(|c| c.path.clone()));
                    items.extend(children);
                }
                level = next;
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        Ok(items.into_iter().filter(|f| seen.insert(f.path.clone())).collect())
    }

    /// The agent's test profiles (a plain array, not paginated).
    pub async fn list_test_profiles(&self, agent: u64) -> Result<Vec<wire::TestProfile>, ApiError> {
        self.get("/test_framework/v1/test-profiles/", &[("agent_id", agent.to_string())]).await
    }

    pub async fn get_test_profile(&self, id: u64) -> Result<wire::TestProfile, ApiError> {
        self.get(&format!("/test_framework/v1/test-profiles/{id}/"), &[]).await
    }

    /// `POST /test-profiles/`: answers 200, not 201.
    pub async fn create_test_profile(&self, body: &Value) -> Result<wire::TestProfile, ApiError> {
        self.http.json(Method::POST, "/test_framework/v1/test-profiles/", &[], Some(body)).await
    }

    /// PATCH replaces `information` whole: the body must carry all of it.
    pub async fn patch_test_profile(&self, id: u64, body: &Value) -> Result<wire::TestProfile, ApiError> {
        self.http.json(Method::PATCH, &format!("/test_framework/v1/test-profiles/{id}/"), &[], Some(body)).await
    }

    pub async fn delete_test_profile(&self, id: u64) -> Result<(), ApiError> {
        self.http.empty(Method::DELETE, &format!("/test_framework/v1/test-profiles/{id}/"), &[], None).await
    }

    pub async fn get_agent(&self, id: u64) -> Result<wire::Agent, ApiError> {
        self.get(&format!("/test_framework/v2/aiagents/{id}/"), &[]).await
    }

    pub async fn list_personalities(&self, project: u64) -> Result<Vec<wire::Personality>, ApiError> {
        self.get("/test_framework/v1/personalities/", &[("project_id", project.to_string())]).await
    }

    /// The agent's cron jobs (paginated).
    pub async fn list_cron_jobs(&self, agent: u64) -> Result<Vec<wire::CronJob>, ApiError> {
        self.get_all_pages("/schedules/v1/cron-jobs-external/", vec![("agent_id", agent.to_string())]).await
    }

    pub async fn list_metrics(&self, agent: u64) -> Result<Vec<wire::Metric>, ApiError> {
        self.get("/test_framework/v2/metrics/", &[("agent_id", agent.to_string())]).await
    }

    /// The organisation's phone-number rows (the spec's only phone-number list is the inbound one).
    pub async fn list_phone_numbers(&self) -> Result<Vec<wire::PhoneNumber>, ApiError> {
        self.get("/test_framework/v1/phone-numbers/inbound/", &[]).await
    }

    /// `POST /scenarios/run_scenarios/` (201). Starting runs twice runs them twice: not retried once sent.
    pub async fn run_scenarios(&self, body: &Value) -> Result<wire::RunStarted, ApiError> {
        self.http.json(Method::POST, &format!("{SCENARIOS}run_scenarios/"), &[], Some(body)).await
    }

    /// `POST /scenarios/run_scenarios_json/?dry_run=true`: validate a test-suite spec and price it, running nothing.
    pub async fn run_spec_dry(&self, body: &Value) -> Result<Value, ApiError> {
        let path = format!("{SCENARIOS}run_scenarios_json/");
        self.http.json(Method::POST, &path, &[("dry_run", "true".to_string())], Some(body)).await
    }

    /// `POST /scenarios/run_scenarios_json/` (201): run a test-suite spec without creating evaluators. Like
    /// `run_scenarios`, never resent: a second call runs the suite twice.
    pub async fn run_spec(&self, body: &Value) -> Result<wire::RunStarted, ApiError> {
        self.http.json(Method::POST, &format!("{SCENARIOS}run_scenarios_json/"), &[], Some(body)).await
    }

    pub async fn get_result(&self, id: u64) -> Result<wire::RunResult, ApiError> {
        self.get(&format!("/test_framework/v2/results/{id}/"), &[]).await
    }

    /// `POST /scenarios/scenario-agent/`: start an AI improvement session.
    pub async fn scenario_agent(&self, body: &Value) -> Result<wire::ScenarioAgentStarted, ApiError> {
        self.http.json(Method::POST, &format!("{SCENARIOS}scenario-agent/"), &[], Some(body)).await
    }

    pub async fn scenario_agent_progress(&self, progress_id: &str) -> Result<wire::ScenarioAgentProgress, ApiError> {
        self.get(&format!("{SCENARIOS}scenario-agent-progress/"), &[("progress_id", progress_id.to_string())]).await
    }
}
