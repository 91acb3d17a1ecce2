//! Test profiles.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::super::drf::{invalid_pk, object_body, ApiError, FieldErrors};
use super::{read_name, SandboxState, WriteMode};

/// A test profile as reads show it, in the platform's key order.
#[derive(Debug, Serialize)]
pub struct TestProfileView<'a> {
    id: u64,
    project: u64,
    agent: Option<u64>,
    agent_name: &'a str,
    name: &'a str,
    information: &'a Value,
    created_by: u64,
    last_updated_by: u64,
    created_at: &'a str,
    updated_at: &'a str,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredTestProfile {
    pub id: u64,
    pub agent: Option<u64>,
    pub project: u64,
    pub name: String,
    pub information: Value,
    pub created_at: String,
    pub updated_at: String,
}

impl SandboxState {
    // ---- test profiles ----

    pub fn write_test_profile(
        &mut self,
        mode: WriteMode,
        existing: Option<u64>,
        chosen_id: Option<u64>,
        body: &Value,
    ) -> Result<u64, ApiError> {
        let body = object_body(Some(body))?;
        let old = match existing {
            Some(id) => Some(self.test_profiles.get(&id).cloned().ok_or_else(ApiError::not_found)?),
            None => None,
        };
        let mut errors = FieldErrors::default();
        let name = read_name(mode, body, &mut errors);
        let mut owner = None;
        if mode == WriteMode::Create {
            let agent = errors.pk(body, "agent", true).flatten();
            let project = errors.pk(body, "project", true).flatten();
            match (agent, project) {
                (None, None) => errors.add("non_field_errors", "Either agent or project must be provided."),
                (Some(a), _) => match self.seed.agent(a) {
                    Some(agent) => owner = Some((Some(a), agent.project)),
                    None => errors.add("agent", invalid_pk(&json!(a))),
                },
                (None, Some(p)) if self.seed.project_exists(p) => owner = Some((None, p)),
                (None, Some(p)) => errors.add("project", invalid_pk(&json!(p))),
            }
        }
        let information = match body.get("information") {
            None => None,
            Some(Value::Null) => Some(json!({})),
            Some(Value::Object(map)) => {
                for section in ["main_agent_variables", "testing_agent_variables"] {
                    if map.get(section).is_some_and(|v| !v.is_object()) {
                        errors.add("information", format!("\"{section}\" must be an object."));
                    }
                }
                Some(Value::Object(map.clone()))
            }
            Some(_) => {
                errors.add("information", "Expected a dictionary of items.");
                None
            }
        };
        errors.finish()?;
        let now = self.tick();
        let mut p = match old {
            Some(p) => p,
            None => {
                let (agent, project) = owner.unwrap_or((None, 0));
                StoredTestProfile {
                    id: self.take_id(chosen_id),
                    agent,
                    project,
                    name: String::new(),
                    information: json!({}),
                    created_at: now.clone(),
                    updated_at: now.clone(),
                }
            }
        };
        if let Some(n) = name {
            p.name = n;
        }
        if let Some(i) = information {
            // Replaced whole, never merged.
            p.information = i;
        }
        p.updated_at = now;
        let id = p.id;
        self.test_profiles.insert(id, p);
        Ok(id)
    }

    pub fn test_profile_json(&self, p: &StoredTestProfile) -> Value {
        serde_json::to_value(self.test_profile_view(p)).unwrap_or_default()
    }

    pub fn test_profile_view<'a>(&'a self, p: &'a StoredTestProfile) -> TestProfileView<'a> {
        TestProfileView {
            id: p.id,
            project: p.project,
            agent: p.agent,
            agent_name: p.agent.and_then(|a| self.seed.agent(a)).map(|a| a.name.as_str()).unwrap_or(""),
            name: &p.name,
            information: &p.information,
            created_by: 1,
            last_updated_by: 1,
            created_at: &p.created_at,
            updated_at: &p.updated_at,
        }
    }
}
