//! The Tela API client: list, read, create and update a prompt's test cases, with `Authorization: Bearer`.
//!
//! It knows paths and wire types only; retries, concurrency and error classification are the transport's
//! ([`crate::http`]). Test case ids come from responses and are percent-encoded into paths, so a hostile id
//! cannot change which path is called.

use reqwest::Method;
use serde_json::{json, Value};

use super::wire;
use crate::http::{ApiError, AuthScheme, HttpSettings, Transport};
use crate::secret::ApiKey;

/// The environment variable that holds the Tela key.
pub const KEY_VAR: &str = "TELA_API_KEY";

#[derive(Debug, Clone)]
pub struct TelaClient {
    http: Transport,
}

impl TelaClient {
    pub fn new(base_url: &str, key: Option<ApiKey>, settings: HttpSettings) -> Result<Self, ApiError> {
        Ok(TelaClient { http: Transport::new("tela", base_url, key, KEY_VAR, AuthScheme::Bearer, settings)? })
    }

    pub fn transport(&self) -> &Transport {
        &self.http
    }

    /// The prompt's test cases (a plain array).
    pub async fn list_test_cases(&self, prompt: &str) -> Result<Vec<wire::TestCase>, ApiError> {
        self.http.json(Method::GET, "/test-case", &[("promptId", prompt.to_string())], None).await
    }

    pub async fn get_test_case(&self, id: &str) -> Result<wire::TestCase, ApiError> {
        self.http.json(Method::GET, &format!("/test-case/{}", segment(id)?), &[], None).await
    }

    /// One `POST /test-case` for all of `bodies` (an object for one, an array for many). Not retried once sent.
    pub async fn create_test_cases(&self, bodies: &[Value]) -> Result<Vec<wire::TestCase>, ApiError> {
        let body = match bodies {
            [one] => one.clone(),
            many => Value::Array(many.to_vec()),
        };
        let created: wire::Created = self.http.json(Method::POST, "/test-case", &[], Some(&body)).await?;
        Ok(created.into_vec())
    }

    /// The prompt's test cases with their runs (`includeGenerations=true`): one read polls every run of a prompt.
    pub async fn list_test_cases_with_generations(&self, prompt: &str) -> Result<Vec<wire::TestCase>, ApiError> {
        let query = [("promptId", prompt.to_string()), ("includeGenerations", "true".to_string())];
        self.http.json(Method::GET, "/test-case", &query, None).await
    }

    /// `POST /test-case/{id}/run`, naming `version` (`promptVersionId`) when given. Not retried once sent: a
    /// resent run starts another generation.
    pub async fn run_test_case(&self, id: &str, version: Option<&str>) -> Result<wire::RunStarted, ApiError> {
        let body = with_version(json!({}), version);
        self.http.json(Method::POST, &format!("/test-case/{}/run", segment(id)?), &[], Some(&body)).await
    }

    /// `POST /test-case/run-all` for these test cases of one prompt, naming `version` when given. Not retried once
    /// sent.
    pub async fn run_all_test_cases(
        &self,
        ids: &[String],
        version: Option<&str>,
    ) -> Result<wire::RunAllStarted, ApiError> {
        let body = with_version(json!({ "testCaseIds": ids }), version);
        self.http.json(Method::POST, "/test-case/run-all", &[], Some(&body)).await
    }

    /// `POST /test-case/{id}/abort`: ends every run of the test case that has not ended.
    pub async fn abort_test_case(&self, id: &str) -> Result<Value, ApiError> {
        self.http.json(Method::POST, &format!("/test-case/{}/abort", segment(id)?), &[], None).await
    }

    /// `DELETE /test-case/{id}`.
    pub async fn delete_test_case(&self, id: &str) -> Result<(), ApiError> {
        self.http.empty(Method::DELETE, &format!("/test-case/{}", segment(id)?), &[], None).await
    }

    /// `PATCH /test-case/{id}`: only the fields sent change.
    pub async fn patch_test_case(&self, id: &str, body: &Value) -> Result<wire::TestCase, ApiError> {
        self.http.json(Method::PATCH, &format!("/test-case/{}", segment(id)?), &[], Some(body)).await
    }
}

/// A run body with `promptVersionId` set to `version`, when there is one.
fn with_version(mut body: Value, version: Option<&str>) -> Value {
    if let (Some(v), Some(map)) = (version, body.as_object_mut()) {
        map.insert("promptVersionId".into(), json!(v));
    }
    body
}

/// An id as one path segment; `.` and `..` (even encoded) would be resolved away by URL parsing, so refuse them.
fn segment(id: &str) -> Result<String, ApiError> {
    if matches!(id.trim(), "" | "." | "..") {
        return Err(ApiError::Config(format!("not a Tela test case id: {id:?}")));
    }
    Ok(encode_segment(id))
}

/// Percent-encode everything but RFC 3986 unreserved characters, so an id is always one path segment.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_stay_one_segment() {
        assert_eq!(
            super::encode_segment("5f0c2a4e-0000-4000-8000-000000000001"),
            "5f0c2a4e-0000-4000-8000-000000000001"
        );
        assert_eq!(super::encode_segment("../x?y"), "..%2Fx%3Fy");
        assert!(super::segment("..").is_err());
    }
}
