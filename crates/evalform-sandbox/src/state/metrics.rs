//! Metrics: the seeded catalog (predefined: readable in every project, never writable) and the metrics a project
//! defines over the API (v1 and v2 routes alike).

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::super::drf::{invalid_pk, object_body, ApiError, FieldErrors, REQUIRED};
use super::{read_name, SandboxState, WriteMode};

const TYPES: [&str; 4] = ["basic", "custom_prompt", "custom_code", "llm_judge"];
const EVAL_TYPES: [&str; 4] = ["binary", "continuous_qualitative", "numeric", "enum"];
const TRIGGERS: [&str; 3] = ["always", "automatic", "custom"];

/// A metric defined in a project over the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMetric {
    pub id: u64,
    pub project: u64,
    pub agents: Vec<u64>,
    pub name: String,
    pub slug: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub eval_type: String,
    pub enum_values: Value,
    /// The other settings a team sets (`evaluation_trigger`, `custom_code`, `simulation_enabled`,
    /// `observability_enabled`, `configuration`), kept as sent.
    #[serde(default)]
    pub settings: Map<String, Value>,
    pub created_at: String,
    pub updated_at: String,
}

impl SandboxState {
    /// The name of a seeded or defined metric.
    pub fn metric_name(&self, id: u64) -> Option<&str> {
        match self.seed.metric(id) {
            Some(m) => Some(m.name.as_str()),
            None => self.metrics.get(&id).map(|m| m.name.as_str()),
        }
    }

    /// Whether an evaluator of `project` may use metric `id`: a seeded one anywhere, a defined one in its project.
    pub fn metric_usable(&self, id: u64, project: u64) -> bool {
        self.seed.metric(id).is_some() || self.metrics.get(&id).is_some_and(|m| m.project == project)
    }

    /// `GET /metrics`: the seeded catalog, then the metrics defined in the agent's (or the given) project.
    pub fn metrics_json(&self, agent: Option<u64>, project: Option<u64>) -> Vec<Value> {
        let scope = agent.and_then(|a| self.seed.agent(a)).map(|a| a.project).or(project);
        let seeded = self.seed.metrics.iter().map(|x| {
            json!({ "id": x.id, "slug": x.slug, "name": x.name, "description": "", "type": "basic",
                    "eval_type": "binary", "agent": agent, "project": null, "agents": [], "is_predefined": true })
        });
        let defined = self
            .metrics
            .values()
            .filter(|m| scope.is_none_or(|p| m.project == p))
            .filter(|m| agent.is_none_or(|a| m.agents.is_empty() || m.agents.contains(&a)))
            .map(|m| self.metric_json(m));
        seeded.chain(defined).collect()
    }

    pub fn metric(&self, id: u64) -> Option<Value> {
        if let Some(x) = self.seed.metric(id) {
            return Some(json!({ "id": x.id, "slug": x.slug, "name": x.name, "description": "", "type": "basic",
                                "eval_type": "binary", "project": null, "agents": [], "is_predefined": true }));
        }
        self.metrics.get(&id).map(|m| self.metric_json(m))
    }

    fn metric_json(&self, m: &StoredMetric) -> Value {
        let names: Vec<&str> = m.agents.iter().filter_map(|a| self.seed.agent(*a)).map(|a| a.name.as_str()).collect();
        let mut out = json!({
            "evaluation_trigger": "always", "custom_code": "", "simulation_enabled": true,
            "observability_enabled": false, "configuration": {},
        });
        if let Value::Object(o) = &mut out {
            o.extend(m.settings.clone());
        }
        let mut base = json!({
            "id": m.id, "slug": m.slug, "name": m.name, "description": m.description, "type": m.kind,
            "eval_type": m.eval_type, "enum_values": m.enum_values, "project": m.project, "agents": m.agents,
            "agent_names": names.join(", "), "is_predefined": false, "overall_score": null,
            "created_at": m.created_at, "updated_at": m.updated_at,
        });
        if let (Value::Object(b), Value::Object(o)) = (&mut base, out) {
            b.extend(o);
        }
        base
    }

    /// Create (`existing` = None) or PATCH a defined metric. A predefined metric refuses every write.
    pub fn write_metric(&mut self, mode: WriteMode, existing: Option<u64>, body: &Value) -> Result<u64, ApiError> {
        if let Some(id) = existing {
            if self.seed.metric(id).is_some() {
                return Err(predefined(id));
            }
        }
        let body = object_body(Some(body))?;
        let old = match existing {
            Some(id) => Some(self.metrics.get(&id).cloned().ok_or_else(ApiError::not_found)?),
            None => None,
        };
        let mut errors = FieldErrors::default();
        let name = read_name(mode, body, &mut errors);
        let (project, agents) = self.read_metric_scope(old.as_ref(), body, &mut errors);
        let kind = choice(body, "type", &TYPES, &mut errors);
        let eval_type = choice(body, "eval_type", &EVAL_TYPES, &mut errors);
        let description = errors.string(body, "description", true).map(Option::unwrap_or_default);
        let trigger = choice(body, "evaluation_trigger", &TRIGGERS, &mut errors);
        let custom_code = errors.string(body, "custom_code", true).map(Option::unwrap_or_default);
        let mut settings = Map::new();
        for flag in ["simulation_enabled", "observability_enabled"] {
            match body.get(flag) {
                Some(v @ Value::Bool(_)) => {
                    settings.insert(flag.into(), v.clone());
                }
                Some(_) => errors.add(flag, "Must be a valid boolean."),
                None => {}
            }
        }
        match body.get("configuration") {
            Some(v @ Value::Object(_)) => {
                settings.insert("configuration".into(), v.clone());
            }
            Some(Value::Null) | None => {}
            Some(_) => errors.add("configuration", "Value must be valid JSON."),
        }
        if let Some(t) = trigger {
            settings.insert("evaluation_trigger".into(), Value::String(t));
        }
        if let Some(c) = custom_code {
            settings.insert("custom_code".into(), Value::String(c));
        }
        if let (Some(n), Some(p)) = (&name, project) {
            let taken = self.metrics.values().any(|m| m.project == p && &m.name == n && Some(m.id) != existing);
            if taken {
                errors.add("name", format!("A metric named \"{n}\" already exists in project {p}."));
            }
        }
        errors.finish()?;
        let now = self.tick();
        let mut m = match old {
            Some(m) => m,
            None => StoredMetric {
                id: self.take_id(None),
                project: project.unwrap_or_default(),
                agents: Vec::new(),
                name: String::new(),
                slug: String::new(),
                description: String::new(),
                kind: "llm_judge".into(),
                eval_type: "binary".into(),
                enum_values: Value::Null,
                settings: Map::new(),
                created_at: now.clone(),
                updated_at: now.clone(),
            },
        };
        if let Some(n) = name {
            m.slug = format!("{}_{}", slug(&n), m.id);
            m.name = n;
        }
        if let Some(a) = agents {
            m.agents = a;
        }
        m.kind = kind.unwrap_or(m.kind);
        m.eval_type = eval_type.unwrap_or(m.eval_type);
        m.description = description.unwrap_or(m.description);
        if let Some(v) = body.get("enum_values") {
            m.enum_values = v.clone();
        }
        m.settings.extend(settings);
        m.updated_at = now;
        let id = m.id;
        self.metrics.insert(id, m);
        Ok(id)
    }

    /// The project (set on create only: `project`, or the first agent's) and the agents (each in that project).
    fn read_metric_scope(
        &self,
        old: Option<&StoredMetric>,
        body: &Map<String, Value>,
        errors: &mut FieldErrors,
    ) -> (Option<u64>, Option<Vec<u64>>) {
        let agents = errors.pk_list(body, "agents");
        let project = match old {
            Some(m) => Some(m.project),
            None => {
                let given = errors.pk(body, "project", true).flatten();
                let first_agent = agents.iter().flatten().next().and_then(|a| self.seed.agent(*a)).map(|a| a.project);
                match given.or(first_agent) {
                    None => {
                        errors.add("project", REQUIRED);
                        None
                    }
                    Some(p) if !self.seed.project_exists(p) => {
                        errors.add("project", invalid_pk(&json!(p)));
                        None
                    }
                    p => p,
                }
            }
        };
        for a in agents.iter().flatten() {
            match self.seed.agent(*a) {
                Some(agent) if project.is_none_or(|p| agent.project == p) => {}
                _ => errors.add("agents", invalid_pk(&json!(a))),
            }
        }
        (project, agents)
    }

    /// Delete a defined metric and detach it from every evaluator that used it.
    pub fn delete_metric(&mut self, id: u64) -> Result<(), ApiError> {
        if self.seed.metric(id).is_some() {
            return Err(predefined(id));
        }
        self.metrics.remove(&id).ok_or_else(ApiError::not_found)?;
        for e in self.evaluators.values_mut() {
            e.metrics.retain(|m| *m != id);
        }
        self.tick();
        Ok(())
    }
}

fn predefined(id: u64) -> ApiError {
    ApiError::detail(StatusCode::FORBIDDEN, format!("Metric {id} is predefined and cannot be changed or deleted."))
}

fn choice(body: &Map<String, Value>, field: &str, valid: &[&str], errors: &mut FieldErrors) -> Option<String> {
    let v = errors.string(body, field, false).flatten()?;
    if valid.contains(&v.as_str()) {
        Some(v)
    } else {
        errors.add(field, format!("\"{v}\" is not a valid choice."));
        None
    }
}

fn slug(name: &str) -> String {
    let s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    s.split('_').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("_")
}
