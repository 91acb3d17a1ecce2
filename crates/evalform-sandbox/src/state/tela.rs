//! Tela test cases (Tela is not DRF: its own error body and field names).

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::super::drf::ApiError;
use super::super::world::Seed;
use super::SandboxState;

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
    /// The id of the generation running now (`POST /test-case/{id}/run`), until it is aborted.
    #[serde(default)]
    pub generation: Option<String>,
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
            generation: None,
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

    /// `POST /test-case/{id}/run`: starts a generation, or answers `success: false` when one is in progress.
    pub fn run_test_case(&mut self, id: &str) -> Result<Value, ApiError> {
        if !self.test_cases.contains_key(id) {
            return Err(tela_error(StatusCode::NOT_FOUND, "Test case not found."));
        }
        let generation = format!("9e4e2a7e-0000-4000-8000-{:012x}", self.take_id(None));
        let Some(tc) = self.test_cases.get_mut(id) else {
            return Err(tela_error(StatusCode::NOT_FOUND, "Test case not found."));
        };
        if let Some(running) = &tc.generation {
            return Ok(
                json!({ "success": false, "message": "A generation is already in progress.", "generationId": running }),
            );
        }
        tc.generation = Some(generation.clone());
        self.tick();
        Ok(json!({ "success": true, "testCaseId": id, "generationId": generation }))
    }

    /// `POST /test-case/run-all` `{testCaseIds}` or `{promptId}`: starts every listed case not already running.
    pub fn run_all_test_cases(&mut self, body: &Value) -> Result<Value, ApiError> {
        let ids: Vec<String> = match (body.get("testCaseIds"), body.get("promptId").and_then(Value::as_str)) {
            (Some(Value::Array(ids)), _) => ids.iter().filter_map(Value::as_str).map(String::from).collect(),
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
        let (mut started, mut skipped) = (Vec::new(), Vec::new());
        for id in ids {
            match self.run_test_case(&id)? {
                v if v["success"] == json!(true) => started.push(v),
                _ => skipped.push(id),
            }
        }
        Ok(json!({ "success": true, "started": started, "skipped": skipped }))
    }

    /// `POST /test-case/{id}/abort`: stops the running generation (`success: false` when none runs).
    pub fn abort_test_case(&mut self, id: &str) -> Result<Value, ApiError> {
        let tc =
            self.test_cases.get_mut(id).ok_or_else(|| tela_error(StatusCode::NOT_FOUND, "Test case not found."))?;
        let aborted = tc.generation.take();
        self.tick();
        Ok(json!({ "success": aborted.is_some(), "testCaseId": id, "generationId": aborted }))
    }
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
