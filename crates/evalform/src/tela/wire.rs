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
