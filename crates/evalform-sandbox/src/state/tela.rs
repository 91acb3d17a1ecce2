//! Tela test cases (Tela is not DRF: its own error body and field names).

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::super::drf::ApiError;
use super::super::readings::Reading;
use super::super::world::Seed;
use super::{SandboxState, FAIL_MARKER};

/// A Tela test case, with Tela's field names kept in the JSON it renders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredTestCase {
    pub id: String,
    pub prompt_id: String,
    pub title: String,
    pub messages: Value,
    pub variables: Value,
    pub variables_rich_content: Value,
    pub files: Value,
    pub expected_output: Value,
    pub answers: Value,
    pub prompt_application_id: Value,
    pub metadata: Value,
    pub created_at: String,
    pub updated_at: String,
    /// The runs of this test case (`POST /test-case/{id}/run`, `run-all`), oldest first.
    #[serde(default)]
    pub generations: Vec<StoredGeneration>,
}

/// One run of a test case ("generation" in Tela's words). Its status is derived from how many times it has been
/// read, as for Cekura results: see [`SandboxState::read_generations`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredGeneration {
    pub id: String,
    pub prompt_version_id: Value,
    /// How many reads (`GET /test-case...?includeGenerations=true`) have seen it.
    pub polls: u32,
    /// How the run ends, decided when it starts from the test case's title: `stuck` (never ends), `failed`,
    /// `aborted`; `None` completes.
    pub ending: Option<String>,
    /// Whether a completed run meets its expected output.
    pub passed: bool,
    /// Set by `POST /test-case/{id}/abort` while the run had not ended.
    pub aborted: bool,
    pub created_at: String,
}

impl StoredGeneration {
    /// `initializing` until read, `running` on the first read, the final status from the second read on (a `stuck`
    /// run stays `running`); `aborted` as soon as it was aborted.
    pub fn status(&self) -> &'static str {
        if self.aborted {
            return "aborted";
        }
        match (self.polls, self.ending.as_deref()) {
            (0, _) => "initializing",
            (1, _) | (_, Some("stuck")) => "running",
            (_, Some("failed")) => "failed",
            (_, Some("aborted")) => "aborted",
            _ => "completed",
        }
    }

    pub fn is_final(&self) -> bool {
        matches!(self.status(), "completed" | "failed" | "aborted")
    }
}

impl SandboxState {
    // ---- Tela test cases ----

    pub fn create_test_case(&mut self, chosen_id: Option<String>, body: &Value) -> Result<String, ApiError> {
        let Some(map) = body.as_object() else {
            return Err(tela_error(StatusCode::BAD_REQUEST, "A test case must be a JSON object."));
        };
        let prompt = map.get("promptId").and_then(Value::as_str).unwrap_or_default().to_string();
        if prompt.is_empty() {
            return Err(tela_error(StatusCode::BAD_REQUEST, "promptId is required."));
        }
        if self.seed.prompt(&prompt).is_none() {
            return Err(tela_error(StatusCode::NOT_FOUND, format!("Prompt {prompt} not found.")));
        }
        let now = self.tick();
        let id = match chosen_id {
            Some(id) => id,
            None => format!("7e57ca5e-0000-4000-8000-{:012x}", self.take_id(None)),
        };
        let mut tc = StoredTestCase {
            id: id.clone(),
            prompt_id: prompt,
            title: String::new(),
            messages: json!([]),
            variables: json!({}),
            variables_rich_content: json!({}),
            files: json!([]),
            expected_output: Value::Null,
            answers: Value::Null,
            prompt_application_id: Value::Null,
            metadata: json!({ "source": "api" }),
            created_at: now.clone(),
            updated_at: now,
            generations: Vec::new(),
        };
        apply_test_case_fields(&mut tc, map, &self.seed)?;
        self.test_cases.insert(id.clone(), tc);
        Ok(id)
    }

    pub fn patch_test_case(&mut self, id: &str, body: &Value) -> Result<Value, ApiError> {
        let Some(map) = body.as_object() else {
            return Err(tela_error(StatusCode::BAD_REQUEST, "The body must be a JSON object."));
        };
        let mut tc = self
            .test_cases
            .get(id)
            .cloned()
            .ok_or_else(|| tela_error(StatusCode::NOT_FOUND, "Test case not found."))?;
        apply_test_case_fields(&mut tc, map, &self.seed)?;
        tc.updated_at = self.tick();
        let json = test_case_json(&tc);
        self.test_cases.insert(id.to_string(), tc);
        Ok(json)
    }

    /// `DELETE /test-case/{id}`.
    pub fn delete_test_case(&mut self, id: &str) -> Result<(), ApiError> {
        self.test_cases.remove(id).ok_or_else(|| tela_error(StatusCode::NOT_FOUND, "Test case not found."))?;
        self.tick();
        Ok(())
    }

    /// `POST /test-case/{id}/run` `{promptVersionId?}`: starts a generation (created `initializing`), or answers
    /// `success: false` when one of this test case is still in progress.
    pub fn run_test_case(&mut self, id: &str, body: Option<&Value>) -> Result<Value, ApiError> {
        let version = self.prompt_version(body)?;
        let Some(tc) = self.test_cases.get(id) else {
            return Err(tela_error(StatusCode::NOT_FOUND, "Test case not found."));
        };
        if let Some(running) = tc.generations.iter().find(|g| !g.is_final()) {
            return Ok(json!({
                "success": false,
                "message": "A generation is already in progress for this test case.",
                "testCaseId": id,
                "generationId": running.id,
            }));
        }
        let (ending, passed) = generation_outcome(&tc.title);
        let generation = format!("9e4e2a7e-0000-4000-8000-{:012x}", self.take_id(None));
        let now = self.tick();
        let stored = StoredGeneration {
            id: generation.clone(),
            prompt_version_id: version,
            polls: 0,
            ending,
            passed,
            aborted: false,
            created_at: now,
        };
        if let Some(tc) = self.test_cases.get_mut(id) {
            tc.generations.push(stored);
        }
        Ok(json!({ "success": true, "testCaseId": id, "generationId": generation }))
    }

    /// `POST /test-case/run-all` `{promptVersionId?, testCaseIds}` or `{promptVersionId?, promptId}` (every test
    /// case of the prompt): starts every listed case that is not already running. Answers `{executionId,
    /// testCaseIds, generationIds}` for the cases it started, the two arrays aligned; when nothing was left to run,
    /// `executionId` is `""` and both arrays are empty. `filters` are not modelled (400).
    pub fn run_all_test_cases(&mut self, body: &Value) -> Result<Value, ApiError> {
        if body.get("filters").is_some_and(|f| !f.is_null()) {
            return Err(tela_error(StatusCode::BAD_REQUEST, "filters are not supported by the sandbox."));
        }
        self.prompt_version(Some(body))?;
        let ids: Vec<String> = match (body.get("testCaseIds"), body.get("promptId").and_then(Value::as_str)) {
            (Some(Value::Array(ids)), _) => {
                let ids: Vec<String> = ids.iter().filter_map(Value::as_str).map(String::from).collect();
                if ids.is_empty() {
                    return Err(tela_error(StatusCode::BAD_REQUEST, "testCaseIds must not be empty."));
                }
                ids
            }
            (Some(_), _) => return Err(tela_error(StatusCode::BAD_REQUEST, "testCaseIds must be an array of ids.")),
            (None, Some(prompt)) => {
                if self.seed.prompt(prompt).is_none() {
                    return Err(tela_error(StatusCode::NOT_FOUND, format!("Prompt {prompt} not found.")));
                }
                self.test_cases.values().filter(|t| t.prompt_id == prompt).map(|t| t.id.clone()).collect()
            }
            (None, None) => return Err(tela_error(StatusCode::BAD_REQUEST, "testCaseIds or promptId is required.")),
        };
        if let Some(missing) = ids.iter().find(|id| !self.test_cases.contains_key(*id)) {
            return Err(tela_error(StatusCode::NOT_FOUND, format!("Test case {missing} not found.")));
        }
        let (mut started, mut generations) = (Vec::new(), Vec::new());
        for id in ids {
            let reply = self.run_test_case(&id, Some(body))?;
            if reply["success"] == json!(true) {
                started.push(json!(id));
                generations.push(reply["generationId"].clone());
            }
        }
        let execution = if started.is_empty() {
            String::new()
        } else {
            format!("e8ec0710-0000-4000-8000-{:012x}", self.take_id(None))
        };
        Ok(json!({ "executionId": execution, "testCaseIds": started, "generationIds": generations }))
    }

    /// `POST /test-case/{id}/abort`: marks every generation of the test case that has not ended `aborted`.
    /// Succeeds also when nothing runs, saying so in `message`.
    pub fn abort_test_case(&mut self, id: &str) -> Result<Value, ApiError> {
        let tc =
            self.test_cases.get_mut(id).ok_or_else(|| tela_error(StatusCode::NOT_FOUND, "Test case not found."))?;
        let mut aborted = Vec::new();
        for g in tc.generations.iter_mut().filter(|g| !g.is_final()) {
            g.aborted = true;
            aborted.push(json!(g.id));
        }
        self.tick();
        let message = if aborted.is_empty() { "No generation was running." } else { "Aborted." };
        Ok(json!({ "success": true, "message": message, "testCaseId": id, "abortedGenerationIds": aborted }))
    }

    /// The `promptVersionId` of a run body: a string when present; required under the reading
    /// `tela-run-requires-version` (a 400 naming the field, in Tela's error shape, when missing).
    fn prompt_version(&self, body: Option<&Value>) -> Result<Value, ApiError> {
        match body.and_then(|b| b.get("promptVersionId")) {
            None | Some(Value::Null) if self.reads(Reading::TelaRunRequiresVersion) => {
                Err(tela_error(StatusCode::BAD_REQUEST, "promptVersionId must be a string."))
            }
            None | Some(Value::Null) => Ok(Value::Null),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(json!(s)),
            Some(_) => Err(tela_error(StatusCode::BAD_REQUEST, "promptVersionId must be a uuid.")),
        }
    }

    /// The test case as `GET /test-case...?includeGenerations=true` shows it: this read counts as a poll of each
    /// of its generations (newest first in `generations`).
    pub fn read_generations(&mut self, id: &str) -> Option<Value> {
        let tc = self.test_cases.get_mut(id)?;
        for g in &mut tc.generations {
            g.polls = g.polls.saturating_add(1);
        }
        let mut json = test_case_json(tc);
        json["generations"] = Value::Array(tc.generations.iter().rev().map(|g| generation_json(tc, g)).collect());
        Some(json)
    }
}

/// How a run of the test case titled `title` ends, from the markers of Cekura runs in its title: `stuck` never
/// ends, `crash` and `timeout` end `failed` (Tela has no timeout status), `cancel` ends `aborted`; otherwise it
/// completes, and passes unless the title contains `fail`.
fn generation_outcome(title: &str) -> (Option<String>, bool) {
    let ending = super::runs::ending(title, &[]).map(|e| match e {
        "stuck" => "stuck",
        "cancelled" => "aborted",
        _ => "failed",
    });
    (ending.map(String::from), !super::runs::marked(title, &[], FAIL_MARKER))
}

/// One generation as a read shows it. A completed one carries its `output` and an `evaluation` against the test
/// case's expected output (`passed`, `explanation`); a failed one an `error`.
fn generation_json(tc: &StoredTestCase, g: &StoredGeneration) -> Value {
    let status = g.status();
    let mut out = json!({
        "id": g.id,
        "testCaseId": tc.id,
        "promptVersionId": g.prompt_version_id,
        "status": status,
        "createdAt": g.created_at,
    });
    match status {
        "completed" => {
            out["output"] = tc.expected_output.clone();
            out["evaluation"] = if g.passed {
                json!({ "passed": true, "explanation": null })
            } else {
                json!({ "passed": false, "explanation": format!("\"{}\" is marked to fail in the sandbox.", tc.title) })
            };
        }
        "failed" => out["error"] = json!("The generation failed in the sandbox."),
        _ => {}
    }
    out
}

/// Tela's error body (Tela is not DRF): `{"message": ...}`.
pub fn tela_error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError::new(status, json!({ "message": message.into(), "statusCode": status.as_u16() }))
}

const ROLES: [&str; 5] = ["user", "system", "assistant", "function", "developer"];

fn apply_test_case_fields(tc: &mut StoredTestCase, map: &Map<String, Value>, seed: &Seed) -> Result<(), ApiError> {
    let bad = |m: String| Err(tela_error(StatusCode::BAD_REQUEST, m));
    if let Some(title) = map.get("title") {
        match title.as_str() {
            Some(t) => tc.title = t.to_string(),
            None => return bad("title must be a string.".into()),
        }
    }
    if let Some(messages) = map.get("messages") {
        let Some(items) = messages.as_array() else { return bad("messages must be an array.".into()) };
        for (i, m) in items.iter().enumerate() {
            let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
            if !ROLES.contains(&role) {
                return bad(format!("messages[{i}].role must be one of {}.", ROLES.join(", ")));
            }
            if !m.get("content").is_some_and(|c| c.is_string() || c.is_array()) {
                return bad(format!("messages[{i}].content is required."));
            }
        }
        tc.messages = messages.clone();
    }
    if let Some(v) = map.get("variables") {
        let ok = v.as_object().is_some_and(|o| o.values().all(Value::is_string));
        if !ok {
            return bad("variables must be an object of strings.".into());
        }
        tc.variables = v.clone();
    }
    if let Some(p) = map.get("promptId").and_then(Value::as_str) {
        if seed.prompt(p).is_none() {
            return Err(tela_error(StatusCode::NOT_FOUND, format!("Prompt {p} not found.")));
        }
        tc.prompt_id = p.to_string();
    }
    for (key, slot) in [
        ("variablesRichContent", &mut tc.variables_rich_content),
        ("files", &mut tc.files),
        ("expectedOutput", &mut tc.expected_output),
        ("answers", &mut tc.answers),
        ("promptApplicationId", &mut tc.prompt_application_id),
        ("metadata", &mut tc.metadata),
    ] {
        if let Some(v) = map.get(key) {
            *slot = v.clone();
        }
    }
    Ok(())
}

pub fn test_case_json(tc: &StoredTestCase) -> Value {
    json!({
        "id": tc.id,
        "title": tc.title,
        "promptId": tc.prompt_id,
        "messages": tc.messages,
        "variables": tc.variables,
        "variablesRichContent": tc.variables_rich_content,
        "files": tc.files,
        "expectedOutput": tc.expected_output,
        "answers": tc.answers,
        "promptApplicationId": tc.prompt_application_id,
        "metadata": tc.metadata,
        "createdAt": tc.created_at,
        "updatedAt": tc.updated_at,
        "deletedAt": null,
    })
}
