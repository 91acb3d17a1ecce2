//! The route table: which paths exist, which methods each takes, and what each does to the state. Routing is by
//! hand, not axum's router, because the platform's behaviour at the edges is the point: a Cekura path without its
//! trailing slash is a 404, a known path with the wrong method is DRF's 405, and authentication is checked only
//! once the path is known to exist (as Django resolves URLs before a view checks credentials).
//!
//! Nothing here touches sockets, faults or the log.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::drf::{paginate, paginate_with, ApiError};
use super::state::{folder_json, tela_error, test_case_json, SandboxState, WriteMode};

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
    RunScenarios,
    ScenarioAgent,
    ScenarioAgentProgress,
    Result(u64),
    TestProfiles,
    TestProfile(u64),
    Personalities,
    Metrics,
    Agents,
    Agent(u64),
    PhoneNumbers,
    TestCases,
    TestCase(String),
}

impl Route {
    pub fn api(&self) -> Api {
        match self {
            Route::TestCases | Route::TestCase(_) => Api::Tela,
            _ => Api::Cekura,
        }
    }

    /// The path with ids replaced by `{id}`, for counters.
    pub fn template(&self) -> &'static str {
        match self {
            Route::Scenarios => "/test_framework/v1/scenarios/",
            Route::Scenario(_) => "/test_framework/v1/scenarios/{id}/",
            Route::AdvUpdate => "/test_framework/v1/scenarios/adv_update/",
            Route::DeleteScenarios => "/test_framework/v1/scenarios/delete_scenarios/",
            Route::CreateFolder => "/test_framework/v1/scenarios/create_folder/",
            Route::Folders => "/test_framework/v1/scenarios/folders/",
            Route::RunScenarios => "/test_framework/v1/scenarios/run_scenarios/",
            Route::ScenarioAgent => "/test_framework/v1/scenarios/scenario-agent/",
            Route::ScenarioAgentProgress => "/test_framework/v1/scenarios/scenario-agent-progress/",
            Route::Result(_) => "/test_framework/v2/results/{id}/",
            Route::TestProfiles => "/test_framework/v1/test-profiles/",
            Route::TestProfile(_) => "/test_framework/v1/test-profiles/{id}/",
            Route::Personalities => "/test_framework/v1/personalities/",
            Route::Metrics => "/test_framework/v2/metrics/",
            Route::Agents => "/test_framework/v2/aiagents/",
            Route::Agent(_) => "/test_framework/v2/aiagents/{id}/",
            Route::PhoneNumbers => "/test_framework/v1/phone-numbers/inbound/",
            Route::TestCases => "/test-case",
            Route::TestCase(_) => "/test-case/{id}",
        }
    }

    fn methods(&self) -> &'static [&'static str] {
        match self {
            Route::Scenarios | Route::TestProfiles | Route::TestCases => &["GET", "POST"],
            Route::Scenario(_) => &["GET", "PATCH", "PUT", "DELETE"],
            Route::TestProfile(_) => &["GET", "PATCH", "PUT", "DELETE"],
            Route::TestCase(_) => &["GET", "PATCH"],
            Route::AdvUpdate
            | Route::DeleteScenarios
            | Route::CreateFolder
            | Route::RunScenarios
            | Route::ScenarioAgent => &["POST"],
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
        return match rest {
            "" => Some(Route::TestCases),
            r => {
                let id = r.strip_prefix('/')?;
                (!id.is_empty() && !id.contains('/')).then(|| Route::TestCase(id.to_string()))
            }
        };
    }
    // Every Cekura path ends with '/': without it the path does not exist.
    let inner = path.strip_prefix("/test_framework/")?.strip_suffix('/')?;
    let segs: Vec<&str> = inner.split('/').collect();
    let id = |s: &str| s.parse::<u64>().ok();
    Some(match segs.as_slice() {
        ["v1", "scenarios"] => Route::Scenarios,
        ["v1", "scenarios", "adv_update"] => Route::AdvUpdate,
        ["v1", "scenarios", "delete_scenarios"] => Route::DeleteScenarios,
        ["v1", "scenarios", "create_folder"] => Route::CreateFolder,
        ["v1", "scenarios", "folders"] => Route::Folders,
        ["v1", "scenarios", "run_scenarios"] => Route::RunScenarios,
        ["v1", "scenarios", "scenario-agent"] => Route::ScenarioAgent,
        ["v1", "scenarios", "scenario-agent-progress"] => Route::ScenarioAgentProgress,
        ["v1", "scenarios", n] => Route::Scenario(id(n)?),
        ["v1" | "v2", "results", n] => Route::Result(id(n)?),
        ["v1", "test-profiles"] => Route::TestProfiles,
        ["v1", "test-profiles", n] => Route::TestProfile(id(n)?),
        ["v1", "personalities"] => Route::Personalities,
        ["v2", "metrics"] => Route::Metrics,
        ["v2", "aiagents"] => Route::Agents,
        ["v2", "aiagents", n] => Route::Agent(id(n)?),
        ["v1", "phone-numbers", "inbound"] => Route::PhoneNumbers,
        _ => return None,
    })
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
pub type Reply = (StatusCode, Option<Value>);

fn ok(v: Value) -> Result<Reply, ApiError> {
    Ok((StatusCode::OK, Some(v)))
}

pub fn execute(state: &mut SandboxState, route: &Route, call: &Call<'_>) -> Result<Reply, ApiError> {
    let m = call.method;
    match route {
        Route::Scenarios if m == "GET" => {
            let agent = call.int("agent_id")?;
            let project = call.int("project_id")?;
            let folder = call.get("folder_path");
            let tags: Vec<&str> = call
                .query
                .iter()
                .filter(|(k, _)| k == "tags")
                .flat_map(|(_, v)| v.split(','))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .collect();
            let items: Vec<_> = state
                .evaluators
                .values()
                .filter(|e| agent.is_none() || e.agent == agent)
                .filter(|e| project.is_none_or(|p| e.project == p))
                .filter(|e| folder.is_none() || e.folder_path.as_deref() == folder)
                .filter(|e| tags.is_empty() || e.tags.iter().any(|t| tags.contains(&t.as_str())))
                .collect();
            ok(paginate_with(items, &call.url, call.query, |e| state.evaluator_list_item(e))?)
        }
        Route::Scenarios => {
            let id = state.write_evaluator(WriteMode::Create, None, None, call.body()?)?;
            Ok((StatusCode::CREATED, state.evaluator(id)))
        }
        Route::Scenario(id) => match m {
            "GET" => state.evaluator(*id).map(ok).unwrap_or_else(|| Err(ApiError::not_found())),
            "DELETE" => {
                state.evaluators.remove(id).ok_or_else(ApiError::not_found)?;
                state.tick();
                Ok((StatusCode::NO_CONTENT, None))
            }
            _ => {
                let mode = if m == "PUT" { WriteMode::Put } else { WriteMode::Patch };
                if !state.evaluators.contains_key(id) {
                    return Err(ApiError::not_found());
                }
                state.write_evaluator(mode, Some(*id), None, call.body()?)?;
                ok(state.evaluator(*id).unwrap_or_default())
            }
        },
        Route::AdvUpdate => ok(state.bulk_update(call.body()?)?),
        Route::DeleteScenarios => {
            state.bulk_delete(call.body()?)?;
            Ok((StatusCode::NO_CONTENT, None))
        }
        Route::CreateFolder => Ok((StatusCode::CREATED, Some(state.create_folder(call.body()?)?))),
        Route::Folders => {
            let project =
                call.int("project_id")?.ok_or_else(|| ApiError::field("project_id", "This field is required."))?;
            let parent = call.get("parent_path");
            let mut folders: Vec<_> = state
                .folders
                .iter()
                .filter(|f| f.project == project)
                .filter(|f| match parent {
                    None => true,
                    Some(p) => {
                        f.path.strip_prefix(p).and_then(|r| r.strip_prefix('.')).is_some_and(|r| !r.contains('.'))
                    }
                })
                .collect();
            folders.sort_by(|a, b| a.path.cmp(&b.path));
            ok(paginate(folders.into_iter().map(folder_json).collect(), &call.url, call.query)?)
        }
        Route::RunScenarios => Ok((StatusCode::CREATED, Some(state.start_runs(call.body()?)?))),
        Route::Result(id) => ok(state.poll_result(*id)?),
        Route::ScenarioAgent => ok(state.start_suggestion(call.body()?)?),
        Route::ScenarioAgentProgress => {
            let id =
                call.get("progress_id").ok_or_else(|| ApiError::field("progress_id", "This field is required."))?;
            ok(state.poll_suggestion(id)?)
        }
        Route::TestProfiles if m == "GET" => {
            let agent = call.int("agent_id")?;
            let project = call.int("project_id")?;
            if agent.is_none() && project.is_none() {
                return Err(ApiError::detail(StatusCode::BAD_REQUEST, "Either agent_id or project_id is required."));
            }
            let items: Vec<Value> = state
                .test_profiles
                .values()
                .filter(|p| agent.is_none() || p.agent == agent)
                .filter(|p| project.is_none_or(|id| p.project == id))
                .map(|p| state.test_profile_json(p))
                .collect();
            ok(Value::Array(items))
        }
        // Test profile create answers 200, not 201, as the platform does.
        Route::TestProfiles => {
            let id = state.write_test_profile(WriteMode::Create, None, None, call.body()?)?;
            ok(state.test_profile(id).unwrap_or_default())
        }
        Route::TestProfile(id) => match m {
            "GET" => state.test_profile(*id).map(ok).unwrap_or_else(|| Err(ApiError::not_found())),
            "DELETE" => {
                state.test_profiles.remove(id).ok_or_else(ApiError::not_found)?;
                // Evaluators that used it keep running without it.
                for e in state.evaluators.values_mut() {
                    if e.test_profile == Some(*id) {
                        e.test_profile = None;
                    }
                }
                state.tick();
                Ok((StatusCode::NO_CONTENT, None))
            }
            _ => {
                if !state.test_profiles.contains_key(id) {
                    return Err(ApiError::not_found());
                }
                let mode = if m == "PUT" { WriteMode::Put } else { WriteMode::Patch };
                state.write_test_profile(mode, Some(*id), None, call.body()?)?;
                ok(state.test_profile(*id).unwrap_or_default())
            }
        },
        Route::Personalities => {
            let language = call.get("language");
            let items: Vec<Value> = state
                .seed
                .personalities
                .iter()
                .filter(|p| language.is_none_or(|l| p.language == l))
                .map(|p| json!({ "id": p.id, "name": p.name, "language": p.language, "description": "", "accent": null }))
                .collect();
            ok(Value::Array(items))
        }
        Route::Metrics => {
            let agent = call.int("agent_id")?;
            if agent.is_some_and(|a| state.seed.agent(a).is_none()) {
                return ok(json!([]));
            }
            let items: Vec<Value> = state
                .seed
                .metrics
                .iter()
                .map(|x| json!({ "id": x.id, "slug": x.slug, "name": x.name, "description": "", "type": "basic", "eval_type": "binary", "agent": agent }))
                .collect();
            ok(Value::Array(items))
        }
        Route::Agents => {
            let items: Vec<Value> = state.seed.agents.iter().map(agent_json).collect();
            ok(paginate(items, &call.url, call.query)?)
        }
        Route::Agent(id) => {
            state.seed.agent(*id).map(|a| ok(agent_json(a))).unwrap_or_else(|| Err(ApiError::not_found()))
        }
        Route::PhoneNumbers => {
            let items: Vec<Value> = state
                .seed
                .phone_numbers
                .iter()
                .map(|p| json!({ "id": p.id, "number": p.number, "phone_number_id": format!("PN{:08}", p.id) }))
                .collect();
            ok(Value::Array(items))
        }
        Route::TestCases if m == "GET" => {
            let prompt =
                call.get("promptId").ok_or_else(|| tela_error(StatusCode::BAD_REQUEST, "promptId is required."))?;
            if state.seed.prompt(prompt).is_none() {
                return Err(tela_error(StatusCode::NOT_FOUND, format!("Prompt {prompt} not found.")));
            }
            let items: Vec<Value> =
                state.test_cases.values().filter(|t| t.prompt_id == prompt).map(test_case_json).collect();
            ok(Value::Array(items))
        }
        Route::TestCases => {
            let body = call.body.ok_or_else(|| tela_error(StatusCode::BAD_REQUEST, "The body must be JSON."))?;
            match body {
                // An array is created whole or not at all.
                Value::Array(items) => {
                    let mut scratch = state.clone();
                    let mut created = Vec::new();
                    for item in items {
                        let id = scratch.create_test_case(None, item)?;
                        created.push(scratch.test_case(&id).unwrap_or_default());
                    }
                    *state = scratch;
                    Ok((StatusCode::CREATED, Some(Value::Array(created))))
                }
                one => {
                    let id = state.create_test_case(None, one)?;
                    Ok((StatusCode::CREATED, state.test_case(&id)))
                }
            }
        }
        Route::TestCase(id) => match m {
            "GET" => state
                .test_case(id)
                .map(ok)
                .unwrap_or_else(|| Err(tela_error(StatusCode::NOT_FOUND, "Test case not found."))),
            _ => {
                let body = call.body.ok_or_else(|| tela_error(StatusCode::BAD_REQUEST, "The body must be JSON."))?;
                ok(state.patch_test_case(id, body)?)
            }
        },
    }
}

fn agent_json(a: &super::world::Agent) -> Value {
    json!({ "id": a.id, "agent_name": a.name, "name": a.name, "project": a.project, "inbound": false, "language": "en" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_slash_is_part_of_the_path() {
        assert_eq!(resolve("GET", "/test_framework/v1/scenarios/").unwrap(), Route::Scenarios);
        assert_eq!(resolve("GET", "/test_framework/v1/scenarios").unwrap_err().status, 404);
        assert_eq!(resolve("PATCH", "/test_framework/v1/scenarios/12/").unwrap(), Route::Scenario(12));
        assert_eq!(resolve("GET", "/test_framework/v1/scenarios/x/").unwrap_err().status, 404);
        assert_eq!(resolve("DELETE", "/test_framework/v1/scenarios/adv_update/").unwrap_err().status, 405);
        assert_eq!(resolve("GET", "/test-case/abc").unwrap(), Route::TestCase("abc".into()));
        assert_eq!(resolve("DELETE", "/test-case/abc").unwrap_err().status, 404);
        assert_eq!(resolve("GET", "/test-case/").unwrap_err().status, 404);
    }
}
