//! Tela's test-case shape (`GET/POST/PATCH /test-case`), kept apart from the manifest types.
//!
//! Lenient where the API is: unknown fields ignored, nullable fields optional. A message's `content` may be a
//! string or an object (the spec allows both), so it is kept as JSON here and converted in `fetch.rs`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestCase {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub prompt_id: Option<String>,
    #[serde(default)]
    pub messages: Option<Vec<Message>>,
    #[serde(default)]
    pub variables: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub expected_output: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Free-form; evalform's ownership mark is `{"managed_by": "evalform"}` in it.
    #[serde(default)]
    pub metadata: Option<Value>,
    /// A soft-deleted test case still listed by the API; the fetcher skips it.
    #[serde(default)]
    pub deleted_at: Option<String>,
    /// Its runs, only when read with `includeGenerations=true`.
    #[serde(default)]
    pub generations: Option<Vec<Generation>>,
}

/// One run of a test case ("generation"). Everything but the id is optional: a missing status reads as still
/// running, never as passed.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Generation {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
    /// Free-form; `passed` (or `success`) and `explanation` are read from it.
    #[serde(default)]
    pub evaluation: Option<Value>,
    #[serde(default)]
    pub error: Option<Value>,
}

/// `POST /test-case/{id}/run`: `success: false` (with a 200) when a generation is already in progress.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunStarted {
    #[serde(default)]
    pub success: Option<bool>,
    #[serde(default)]
    pub generation_id: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// `POST /test-case/run-all`: the cases started, with their generations, aligned; cases already running are left
/// out.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunAllStarted {
    #[serde(default)]
    pub execution_id: Option<String>,
    #[serde(default)]
    pub test_case_ids: Vec<String>,
    #[serde(default)]
    pub generation_ids: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: Value,
}

/// `POST /test-case` answers with one object for one, and an array for many.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Created {
    Many(Vec<TestCase>),
    One(Box<TestCase>),
}

impl Created {
    pub fn into_vec(self) -> Vec<TestCase> {
        match self {
            Created::Many(v) => v,
            Created::One(one) => vec![*one],
        }
    }
}
