//! The route table: which paths exist, which methods each takes, and what each does to the state. Routing is by
//! hand, not axum's router, because the platform's behaviour at the edges is the point: a known path with the wrong
//! method is DRF's 405, and authentication is checked only once the path is known to exist (as Django resolves URLs
//! before a view checks credentials).
//!
//! Nothing here touches sockets, faults or the log.

use axum::http::StatusCode;
use serde_json::Value;

mod catalog;
mod evaluators;
mod folders;
mod metrics;
mod runs;
mod schedules;
mod suggestions;
mod tela;
mod test_profiles;

use super::drf::ApiError;
use super::state::{tela_error, SandboxState};

/// Which vendor a path belongs to (they authenticate differently).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Cekura,
    Tela,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Scenarios,
    Scenario(u64),
    AdvUpdate,
    DeleteScenarios,
    CreateFolder,
    Folders,
    RenameFolder,
    MoveFolder,
    DeleteFolder,
    RunScenarios,
    RunScenariosJson,
    JsonSchema,
    ScenarioAgent,
    ScenarioAgentProgress,
    Result(u64),
    TestProfiles,
    TestProfile(u64),
    Personalities,
    Metrics,
    Metric(u64),
    CronJobs,
    CronJob(u64),
    Agents,
    Agent(u64),
    PhoneNumbers,
    TestCases,
    TestCase(String),
    TestCaseRun(String),
    TestCaseAbort(String),
    TestCasesRunAll,
}

impl Route {
    pub fn api(&self) -> Api {
        match self {
            Route::TestCases
            | Route::TestCase(_)
            | Route::TestCaseRun(_)
            | Route::TestCaseAbort(_)
            | Route::TestCasesRunAll => Api::Tela,
            _ => Api::Cekura,
        }
    }

    /// The path with ids replaced by `{id}`, for counters: one template per route, whichever alias and slash form
    /// the request used.
    pub fn template(&self) -> &'static str {
        match self {
            Route::Scenarios => "/test_framework/v1/scenarios/",
            Route::Scenario(_) => "/test_framework/v1/scenarios/{id}/",
            Route::AdvUpdate => "/test_framework/v1/scenarios/adv_update/",
            Route::DeleteScenarios => "/test_framework/v1/scenarios/delete_scenarios/",
            Route::CreateFolder => "/test_framework/v1/scenarios/create_folder/",
            Route::Folders => "/test_framework/v1/scenarios/folders/",
            Route::RenameFolder => "/test_framework/v1/scenarios/rename_folder/",
            Route::MoveFolder => "/test_framework/v1/scenarios/move_folder/",
            Route::DeleteFolder => "/test_framework/v1/scenarios/delete_folder/",
            Route::RunScenarios => "/test_framework/v1/scenarios/run_scenarios/",
            Route::RunScenariosJson => "/test_framework/v1/scenarios/run_scenarios_json/",
            Route::JsonSchema => "/test_framework/v1/scenarios/json_schema/",
            Route::ScenarioAgent => "/test_framework/v1/scenarios/scenario-agent/",
            Route::ScenarioAgentProgress => "/test_framework/v1/scenarios/scenario-agent-progress/",
            Route::Result(_) => "/test_framework/v2/results/{id}/",
            Route::TestProfiles => "/test_framework/v1/test-profiles/",
            Route::TestProfile(_) => "/test_framework/v1/test-profiles/{id}/",
            Route::Personalities => "/test_framework/v1/personalities/",
            Route::Metrics => "/test_framework/v2/metrics/",
            Route::Metric(_) => "/test_framework/v2/metrics/{id}/",
            Route::CronJobs => "/schedules/v1/cron-jobs-external/",
            Route::CronJob(_) => "/schedules/v1/cron-jobs-external/{id}/",
            Route::Agents => "/test_framework/v2/aiagents/",
            Route::Agent(_) => "/test_framework/v2/aiagents/{id}/",
            Route::PhoneNumbers => "/test_framework/v1/phone-numbers/inbound/",
            Route::TestCases => "/test-case",
            Route::TestCase(_) => "/test-case/{id}",
            Route::TestCaseRun(_) => "/test-case/{id}/run",
            Route::TestCaseAbort(_) => "/test-case/{id}/abort",
            Route::TestCasesRunAll => "/test-case/run-all",
        }
    }

    fn methods(&self) -> &'static [&'static str] {
        match self {
            Route::Scenarios | Route::TestProfiles | Route::TestCases | Route::Metrics | Route::CronJobs => {
                &["GET", "POST"]
            }
            Route::Scenario(_) | Route::TestProfile(_) => &["GET", "PATCH", "PUT", "DELETE"],
            Route::Metric(_) | Route::CronJob(_) => &["GET", "PATCH", "DELETE"],
            Route::TestCase(_) => &["GET", "PATCH", "DELETE"],
            Route::AdvUpdate
            | Route::DeleteScenarios
            | Route::CreateFolder
            | Route::RenameFolder
            | Route::MoveFolder
            | Route::DeleteFolder
            | Route::RunScenarios
            | Route::RunScenariosJson
            | Route::ScenarioAgent
            | Route::TestCaseRun(_)
            | Route::TestCaseAbort(_)
            | Route::TestCasesRunAll => &["POST"],
            _ => &["GET"],
        }
    }

    /// Whether a write on this route validates its whole request before it changes anything (single-evaluator
    /// create, PATCH, PUT, DELETE), so that it can work on the state itself instead of a copy and still be all or
    /// nothing.
    pub fn validates_before_writing(&self) -> bool {
        matches!(self, Route::Scenarios | Route::Scenario(_))
    }

    /// Whether a successful request on this route changes the state (polls advance a run or a suggestion).
    pub fn writes(&self, method: &str) -> bool {
        method != "GET" || matches!(self, Route::Result(_) | Route::ScenarioAgentProgress)
    }
}

/// Find the route of `path`, or the 404/405 the platform would answer.
pub fn resolve(method: &str, path: &str) -> Result<Route, ApiError> {
    let route = match_path(path).ok_or_else(|| match path.starts_with("/test-case") {
        true => tela_error(StatusCode::NOT_FOUND, format!("Cannot {method} {path}")),
        false => ApiError::not_found(),
    })?;
    if !route.methods().contains(&method) {
        return Err(match route.api() {
            Api::Cekura => {
                ApiError::detail(StatusCode::METHOD_NOT_ALLOWED, format!("Method \"{method}\" not allowed."))
            }
            // Tela documents no other methods; an Express-style server answers 404 for them.
            Api::Tela => tela_error(StatusCode::NOT_FOUND, format!("Cannot {method} {path}")),
        });
    }
    Ok(route)
}

fn match_path(path: &str) -> Option<Route> {
    if let Some(rest) = path.strip_prefix("/test-case") {
        return match_tela(rest);
    }
    // Cekura paths are served with and without the trailing slash (the OpenAPI writes it, the vendor's SDK does
    // not), and the `-external` aliases the SDK uses are the same views routed twice.
    if let Some(inner) = path.strip_prefix("/schedules/") {
        let inner = inner.strip_suffix('/').unwrap_or(inner);
        return match inner.split('/').collect::<Vec<_>>().as_slice() {
            ["v1", "cron-jobs" | "cron-jobs-external"] => Some(Route::CronJobs),
            ["v1", "cron-jobs" | "cron-jobs-external", n] => Some(Route::CronJob(n.parse().ok()?)),
            _ => None,
        };
    }
    let inner = path.strip_prefix("/test_framework/")?;
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    let segs: Vec<&str> = inner
        .split('/')
        .map(|s| match s {
            "scenarios-external" => "scenarios",
            "test-profiles-external" => "test-profiles",
            other => other,
        })
        .collect();
    let id = |s: &str| s.parse::<u64>().ok();
    Some(match segs.as_slice() {
        ["v1", "scenarios"] => Route::Scenarios,
        ["v1", "scenarios", "adv_update"] => Route::AdvUpdate,
        ["v1", "scenarios", "delete_scenarios"] => Route::DeleteScenarios,
        ["v1", "scenarios", "create_folder"] => Route::CreateFolder,
        ["v1", "scenarios", "folders"] => Route::Folders,
        ["v1", "scenarios", "rename_folder"] => Route::RenameFolder,
        ["v1", "scenarios", "move_folder"] => Route::MoveFolder,
        ["v1", "scenarios", "delete_folder"] => Route::DeleteFolder,
        ["v1", "scenarios", "run_scenarios"] => Route::RunScenarios,
        ["v1", "scenarios", "run_scenarios_json"] => Route::RunScenariosJson,
        ["v1", "scenarios", "json_schema"] => Route::JsonSchema,
        ["v1", "scenarios", "scenario-agent"] => Route::ScenarioAgent,
        ["v1", "scenarios", "scenario-agent-progress"] => Route::ScenarioAgentProgress,
        ["v1", "scenarios", n] => Route::Scenario(id(n)?),
        ["v1" | "v2", "results", n] => Route::Result(id(n)?),
        ["v1", "test-profiles"] => Route::TestProfiles,
        ["v1", "test-profiles", n] => Route::TestProfile(id(n)?),
        ["v1", "personalities"] => Route::Personalities,
        ["v1" | "v2", "metrics"] => Route::Metrics,
        ["v1" | "v2", "metrics", n] => Route::Metric(id(n)?),
        ["v2", "aiagents"] => Route::Agents,
        ["v2", "aiagents", n] => Route::Agent(id(n)?),
        ["v1", "phone-numbers", "inbound"] => Route::PhoneNumbers,
        _ => return None,
    })
}

/// Tela's paths (after `/test-case`): no trailing slash, as Express routes them.
fn match_tela(rest: &str) -> Option<Route> {
    let id_ok = |id: &str| !id.is_empty() && !id.contains('/');
    match rest {
        "" => Some(Route::TestCases),
        "/run-all" => Some(Route::TestCasesRunAll),
        r => {
            let r = r.strip_prefix('/')?;
            if let Some(id) = r.strip_suffix("/run").filter(|id| id_ok(id)) {
                return Some(Route::TestCaseRun(id.to_string()));
            }
            if let Some(id) = r.strip_suffix("/abort").filter(|id| id_ok(id)) {
                return Some(Route::TestCaseAbort(id.to_string()));
            }
            id_ok(r).then(|| Route::TestCase(r.to_string()))
        }
    }
}

/// One request, as the handlers see it.
#[derive(Debug)]
pub struct Call<'a> {
    pub method: &'a str,
    pub query: &'a [(String, String)],
    pub body: Option<&'a Value>,
    /// The request's own URL without query (`http://host/path`), for pagination links.
    pub url: String,
}

impl Call<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// An integer query parameter: absent = `None`, not an integer = DRF's filter 400.
    fn int(&self, key: &str) -> Result<Option<u64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| ApiError::field(key, "Enter a whole number.")),
        }
    }

    fn body(&self) -> Result<&Value, ApiError> {
        self.body.ok_or_else(|| {
            ApiError::detail(StatusCode::BAD_REQUEST, "JSON parse error - Expecting value: line 1 column 1 (char 0)")
        })
    }
}

/// A successful answer: status and optional JSON body.
pub type Reply = (StatusCode, Option<Payload>);

/// A JSON body: a value, or one already written out as JSON text (a page of a long list, see
/// [`super::drf::paginate_json`]).
#[derive(Debug)]
pub enum Payload {
    Value(Value),
    Json(Vec<u8>),
}

impl From<Value> for Payload {
    fn from(v: Value) -> Self {
        Payload::Value(v)
    }
}

fn ok(v: Value) -> Result<Reply, ApiError> {
    Ok((StatusCode::OK, Some(v.into())))
}

/// Run one request against the state: each resource's handlers live in their own module.
pub fn execute(state: &mut SandboxState, route: &Route, call: &Call<'_>) -> Result<Reply, ApiError> {
    match route {
        Route::Scenarios | Route::Scenario(_) | Route::AdvUpdate | Route::DeleteScenarios => {
            evaluators::execute(state, route, call)
        }
        Route::CreateFolder | Route::Folders | Route::RenameFolder | Route::MoveFolder | Route::DeleteFolder => {
            folders::execute(state, route, call)
        }
        Route::RunScenarios | Route::Result(_) | Route::RunScenariosJson | Route::JsonSchema => {
            runs::execute(state, route, call)
        }
        Route::Metrics | Route::Metric(_) => metrics::execute(state, route, call),
        Route::CronJobs | Route::CronJob(_) => schedules::execute(state, route, call),
        Route::ScenarioAgent | Route::ScenarioAgentProgress => suggestions::execute(state, route, call),
        Route::TestProfiles | Route::TestProfile(_) => test_profiles::execute(state, route, call),
        Route::Personalities | Route::Agents | Route::Agent(_) | Route::PhoneNumbers => {
            catalog::execute(state, route, call)
        }
        Route::TestCases
        | Route::TestCase(_)
        | Route::TestCaseRun(_)
        | Route::TestCaseAbort(_)
        | Route::TestCasesRunAll => tela::execute(state, route, call),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_with_and_without_the_slash_and_through_the_aliases() {
        assert_eq!(resolve("GET", "/test_framework/v1/scenarios/").unwrap(), Route::Scenarios);
        assert_eq!(resolve("GET", "/test_framework/v1/scenarios").unwrap(), Route::Scenarios);
        assert_eq!(resolve("PATCH", "/test_framework/v1/scenarios/12/").unwrap(), Route::Scenario(12));
        assert_eq!(resolve("PATCH", "/test_framework/v1/scenarios/12").unwrap(), Route::Scenario(12));
        assert_eq!(resolve("GET", "/test_framework/v1/scenarios-external/folders").unwrap(), Route::Folders);
        assert_eq!(resolve("GET", "/test_framework/v1/test-profiles-external/4").unwrap(), Route::TestProfile(4));
        assert_eq!(resolve("PATCH", "/test_framework/v1/metrics/9").unwrap(), Route::Metric(9));
        assert_eq!(resolve("GET", "/schedules/v1/cron-jobs-external").unwrap(), Route::CronJobs);
        assert_eq!(resolve("DELETE", "/schedules/v1/cron-jobs-external/3").unwrap(), Route::CronJob(3));
        assert_eq!(resolve("GET", "/test_framework/v1/scenarios/x/").unwrap_err().status, 404);
        assert_eq!(resolve("GET", "/test_framework/v1/scenarios//").unwrap_err().status, 404);
        assert_eq!(resolve("DELETE", "/test_framework/v1/scenarios/adv_update/").unwrap_err().status, 405);
        assert_eq!(resolve("GET", "/test-case/abc").unwrap(), Route::TestCase("abc".into()));
        assert_eq!(resolve("DELETE", "/test-case/abc").unwrap(), Route::TestCase("abc".into()));
        assert_eq!(resolve("POST", "/test-case/abc/run").unwrap(), Route::TestCaseRun("abc".into()));
        assert_eq!(resolve("POST", "/test-case/abc/abort").unwrap(), Route::TestCaseAbort("abc".into()));
        assert_eq!(resolve("POST", "/test-case/run-all").unwrap(), Route::TestCasesRunAll);
        assert_eq!(resolve("PUT", "/test-case/abc").unwrap_err().status, 404);
        assert_eq!(resolve("GET", "/test-case/").unwrap_err().status, 404);
    }
}
