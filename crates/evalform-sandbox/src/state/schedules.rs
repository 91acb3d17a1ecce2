//! Schedules: cron jobs that start runs of an agent's evaluators (`/schedules/v1/cron-jobs-external`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::super::drf::{invalid_pk, object_body, ApiError, FieldErrors};
use super::{SandboxState, WriteMode};

/// The execution modes the sources show.
pub const EXECUTION_MODES: [&str; 7] = ["voice", "text", "websocket", "email", "sip", "livekit_v2", "pipecat_v2"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCronJob {
    pub id: u64,
    pub agent: u64,
    pub project: u64,
    pub name: String,
    pub crontab_expression: String,
    pub scenarios: Vec<u64>,
    pub tags: Vec<String>,
    pub execution_mode: String,
    pub is_active: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl SandboxState {
    pub fn cron_job_json(&self, j: &StoredCronJob) -> Value {
        json!({
            "id": j.id, "name": j.name, "agent": j.agent, "project": j.project,
            "agent_name": self.seed.agent(j.agent).map(|a| a.name.as_str()).unwrap_or(""),
            "crontab_expression": j.crontab_expression, "scenarios": j.scenarios, "tags": j.tags,
            "execution_mode": j.execution_mode, "is_active": j.is_active,
            "created_at": j.created_at, "updated_at": j.updated_at,
        })
    }

    pub fn cron_job(&self, id: u64) -> Option<Value> {
        self.cron_jobs.get(&id).map(|j| self.cron_job_json(j))
    }

    /// Create (`existing` = None) or PATCH a cron job.
    pub fn write_cron_job(&mut self, mode: WriteMode, existing: Option<u64>, body: &Value) -> Result<u64, ApiError> {
        let body = object_body(Some(body))?;
        let old = match existing {
            Some(id) => Some(self.cron_jobs.get(&id).cloned().ok_or_else(ApiError::not_found)?),
            None => None,
        };
        let mut errors = FieldErrors::default();
        let full = mode.full();
        let required_string = |errors: &mut FieldErrors, field: &str| {
            if full {
                errors.required(body, field).and_then(|_| errors.string(body, field, false)).flatten()
            } else {
                errors.string(body, field, false).flatten()
            }
        };
        let name = required_string(&mut errors, "name");
        let crontab = required_string(&mut errors, "crontab_expression");
        if let Some(c) = &crontab {
            if c.split_whitespace().count() != 5 {
                errors.add("crontab_expression", "Enter a valid cron expression of five fields.");
            }
        }
        let agent = match old.as_ref() {
            Some(j) => Some(j.agent),
            None => errors.required(body, "agent").and_then(|_| errors.pk(body, "agent", false)).flatten(),
        };
        let project = agent.and_then(|a| self.seed.agent(a)).map(|a| a.project);
        if let (Some(a), None) = (agent, project) {
            errors.add("agent", invalid_pk(&json!(a)));
        }
        let scenarios = errors.pk_list(body, "scenarios");
        for id in scenarios.iter().flatten() {
            if self.evaluators.get(id).is_none_or(|e| e.agent != agent) {
                errors.add("scenarios", invalid_pk(&json!(id)));
            }
        }
        let tags = errors.string_list(body, "tags");
        let mode_field = errors.string(body, "execution_mode", false).flatten();
        if let Some(m) = &mode_field {
            if !EXECUTION_MODES.contains(&m.as_str()) {
                errors.add("execution_mode", format!("\"{m}\" is not a valid choice."));
            }
        }
        let active = read_bool(body, "is_active", &mut errors);
        errors.finish()?;
        let now = self.tick();
        let mut j = match old {
            Some(j) => j,
            None => StoredCronJob {
                id: self.take_id(None),
                agent: agent.unwrap_or_default(),
                project: project.unwrap_or_default(),
                name: String::new(),
                crontab_expression: String::new(),
                scenarios: Vec::new(),
                tags: Vec::new(),
                execution_mode: "voice".into(),
                is_active: true,
                created_at: now.clone(),
                updated_at: now.clone(),
            },
        };
        j.name = name.unwrap_or(j.name);
        j.crontab_expression = crontab.unwrap_or(j.crontab_expression);
        j.scenarios = scenarios.unwrap_or(j.scenarios);
        j.tags = tags.unwrap_or(j.tags);
        j.execution_mode = mode_field.unwrap_or(j.execution_mode);
        j.is_active = active.unwrap_or(j.is_active);
        j.updated_at = now;
        let id = j.id;
        self.cron_jobs.insert(id, j);
        Ok(id)
    }
}

fn read_bool(body: &Map<String, Value>, field: &str, errors: &mut FieldErrors) -> Option<bool> {
    match body.get(field) {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            errors.add(field, "Must be a valid boolean.");
            None
        }
    }
}
