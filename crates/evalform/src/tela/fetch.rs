//! Read a Tela prompt's test cases and normalise them, at the door, into the types the manifests load into.
//!
//! Long texts (message contents, the expected output) go through [`model::normalize_long_text`]; variables
//! become strings (a non-string value becomes its JSON text, as in test profiles); a message content that is an
//! object becomes its JSON text. Soft-deleted test cases (`deletedAt` set) are left out. Nothing here decides
//! what to change.

use std::collections::BTreeMap;

use serde_json::Value;

use super::client::TelaClient;
use super::wire;
use crate::cekura::FetchError;
use crate::model::{self, Message, PromptState, TestCase, Text};

/// The prompt's test cases as the platform has them now.
pub async fn fetch_prompt(client: &TelaClient, prompt: &str) -> Result<PromptState, FetchError> {
    let cases = client
        .list_test_cases(prompt)
        .await
        .map_err(|source| FetchError::Api { what: format!("the test cases of Tela prompt {prompt}"), source })?;
    let live: Vec<&wire::TestCase> = cases.iter().filter(|c| c.deleted_at.is_none()).collect();
    let owned = live
        .iter()
        .filter(|c| crate::cekura::fetch::carries_ownership_mark(c.metadata.as_ref()))
        .map(|c| c.id.clone())
        .collect();
    let test_cases = live.into_iter().map(normalize_test_case).collect();
    Ok(PromptState { prompt: prompt.to_string(), prune: false, prompt_version: None, test_cases, owned })
}

/// One test case as the manifests would describe it.
pub fn normalize_test_case(c: &wire::TestCase) -> TestCase {
    let messages = c
        .messages
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|m| Message { role: m.role.clone(), content: long_text(&json_text(&m.content)) })
        .collect();
    let variables: BTreeMap<String, Text> =
        c.variables.iter().flatten().map(|(k, v)| (k.clone(), Text::new(json_text(v)))).collect();
    TestCase {
        id: Some(c.id.clone()),
        title: c.title.clone(),
        messages: Some(messages),
        variables: Some(variables),
        expected_output: Some(long_text(c.expected_output.as_deref().unwrap_or(""))),
        source: None,
    }
}

fn long_text(s: &str) -> Text {
    Text::new(model::normalize_long_text(s))
}

fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_test_case_normalises_to_manifest_shape() {
        let wire: wire::TestCase = serde_json::from_value(json!({
            "id": "tc-1", "title": "Order has not arrived", "promptId": "p",
            "messages": [{"role": "user", "content": "My order hasn't arrived yet.  \r\n"},
                         {"role": "function", "content": {"name": "lookup", "ok": true}}],
            "variables": {"customer_name": "John Doe", "count": 2},
            "expectedOutput": "I'll help.\n\n", "variablesRichContent": {}, "answers": null
        }))
        .unwrap();
        let tc = normalize_test_case(&wire);
        assert_eq!(tc.id.as_deref(), Some("tc-1"));
        let messages = tc.messages.unwrap();
        assert_eq!(messages[0].content, Text::new("My order hasn't arrived yet."));
        assert_eq!(messages[1].content, Text::new(r#"{"name":"lookup","ok":true}"#));
        let vars = tc.variables.unwrap();
        assert_eq!(vars["customer_name"], Text::new("John Doe"));
        assert_eq!(vars["count"], Text::new("2"));
        assert_eq!(tc.expected_output, Some(Text::new("I'll help.")));
    }

    #[test]
    fn missing_collections_are_empty() {
        let wire: wire::TestCase =
            serde_json::from_value(json!({"id": "tc-2", "title": "T", "variables": null, "expectedOutput": null}))
                .unwrap();
        let tc = normalize_test_case(&wire);
        assert_eq!(tc.messages, Some(vec![]));
        assert_eq!(tc.variables, Some(BTreeMap::new()));
        assert_eq!(tc.expected_output, Some(Text::new("")));
    }
}
