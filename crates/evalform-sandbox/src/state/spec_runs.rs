//! Spec runs (tests as code): `run_scenarios_json` validates a suite written to Cekura's published schema and,
//! unless it is a dry run, runs it. The test cases it runs are never saved as evaluators: they do not show up in
//! any scenario list, only in the result.

use serde_json::{json, Map, Value};

use super::super::drf::{invalid_pk, object_body, ApiError, FieldErrors, REQUIRED};
use super::runs::{ending, marked};
use super::{SandboxState, StoredRun, FAIL_MARKER};

/// The schema `GET .../scenarios/json_schema` serves (version 1, the only one).
pub const SPEC_SCHEMA_V1: &str = include_str!("../../schema/cekura-tests-as-code-v1.schema.json");

const CHANNELS: [&str; 3] = ["voice", "text", "elevenlabs"];
const TOP_LEVEL: [&str; 5] = ["$schema", "version", "suite", "defaults", "scenarios"];
const SCENARIO_KEYS: [&str; 15] = [
    "conditional_actions",
    "expected_outcome",
    "first_message",
    "frequency",
    "instructions",
    "key",
    "language",
    "max_duration",
    "metrics",
    "name",
    "personality",
    "tags",
    "test_profile",
    "tools",
    "type",
];
/// Credits a run costs, by channel (the sandbox's own price list).
fn credits_per_run(channel: &str) -> u64 {
    if channel == "text" {
        2
    } else {
        10
    }
}

/// One test case of a spec, validated.
struct SpecCase {
    name: String,
    tags: Vec<String>,
    frequency: u64,
    metrics: Vec<u64>,
}

impl SandboxState {
    /// `run_scenarios_json`: `{spec, agent_id, channel, name}`. A dry run answers
    /// `{dry_run: true, valid: true, plan}`; otherwise the run starts and answers as `run_scenarios` does.
    pub fn run_spec(&mut self, body: &Value, dry_run: bool) -> Result<Value, ApiError> {
        let body = object_body(Some(body))?;
        let mut errors = FieldErrors::default();
        let agent = errors.required(body, "agent_id").and_then(|_| errors.pk(body, "agent_id", false)).flatten();
        let project = agent.and_then(|a| self.seed.agent(a)).map(|a| a.project);
        if let (Some(a), None) = (agent, project) {
            errors.add("agent_id", invalid_pk(&json!(a)));
        }
        let channel = errors.string(body, "channel", false).flatten().unwrap_or_else(|| "voice".into());
        if !CHANNELS.contains(&channel.as_str()) {
            errors.add("channel", format!("\"{channel}\" is not a valid choice."));
        }
        let name = errors.string(body, "name", true).flatten();
        let cases = match body.get("spec") {
            None | Some(Value::Null) => {
                errors.add("spec", REQUIRED);
                Vec::new()
            }
            Some(spec) => {
                let (cases, problems) = self.read_spec(spec, project.unwrap_or_default());
                for p in problems {
                    errors.add("spec", p);
                }
                cases
            }
        };
        errors.finish()?;
        let agent = agent.unwrap_or_default();
        let runs: u64 = cases.iter().map(|c| c.frequency).sum();
        if dry_run {
            return Ok(json!({
                "dry_run": true,
                "valid": true,
                "plan": {
                    "agent_id": agent,
                    "channel": channel,
                    "test_cases": cases.len(),
                    "runs": runs,
                    "estimated_credits": runs * credits_per_run(&channel),
                },
            }));
        }
        let now = self.tick();
        let id = self.take_id(None);
        let mut stored = Vec::new();
        for case in &cases {
            let scenario = self.take_id(None);
            for _ in 0..case.frequency {
                let failing_metric =
                    case.metrics.iter().min().map(|m| {
                        (*m, self.metric_name(*m).map(str::to_string).unwrap_or_else(|| format!("Metric {m}")))
                    });
                let ending = ending(&case.name, &case.tags);
                stored.push(StoredRun {
                    id: self.take_id(None),
                    scenario,
                    scenario_name: case.name.clone(),
                    success: ending.is_none() && !marked(&case.name, &case.tags, FAIL_MARKER),
                    ending: ending.map(str::to_string),
                    failing_metric,
                });
            }
        }
        Ok(self.record_result(id, agent, name, stored, now))
    }

    /// Check a spec against the published schema (the parts a run depends on) and the project's catalog; every
    /// problem is one message naming where it is.
    fn read_spec(&self, spec: &Value, project: u64) -> (Vec<SpecCase>, Vec<String>) {
        let mut problems = Vec::new();
        let Some(map) = spec.as_object() else {
            return (Vec::new(), vec!["The spec must be a JSON object.".into()]);
        };
        for key in map.keys().filter(|k| !TOP_LEVEL.contains(&k.as_str())) {
            problems.push(format!("{key}: Additional properties are not allowed."));
        }
        if map.get("version") != Some(&json!("1")) {
            problems.push("version: Must be \"1\".".into());
        }
        let defaults = map.get("defaults").and_then(Value::as_object);
        let default_frequency = defaults.and_then(|d| d.get("frequency")).and_then(Value::as_u64).unwrap_or(1);
        let mut cases = Vec::new();
        match map.get("scenarios").and_then(Value::as_array) {
            None => problems.push("scenarios: This field is required and must be a list.".into()),
            Some(items) if items.is_empty() || items.len() > 200 => {
                problems.push("scenarios: Must hold between 1 and 200 test cases.".into())
            }
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    match self.read_spec_case(item, project, default_frequency) {
                        Ok(case) => cases.push(case),
                        Err(msgs) => problems.extend(msgs.into_iter().map(|m| format!("scenarios[{i}].{m}"))),
                    }
                }
            }
        }
        (cases, problems)
    }

    fn read_spec_case(&self, item: &Value, project: u64, default_frequency: u64) -> Result<SpecCase, Vec<String>> {
        let mut problems = Vec::new();
        let empty = Map::new();
        let map = item.as_object().unwrap_or(&empty);
        if !item.is_object() {
            problems.push("(item): Must be an object.".to_string());
        }
        for key in map.keys().filter(|k| !SCENARIO_KEYS.contains(&k.as_str())) {
            problems.push(format!("{key}: Additional properties are not allowed."));
        }
        let name = map.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        if name.is_empty() || name.chars().count() > 80 {
            problems.push("name: Required, 1 to 80 characters.".into());
        }
        let conditional = map.get("type") == Some(&json!("conditional_actions"));
        if let Some(t) = map.get("type").filter(|t| *t != "instruction" && *t != "conditional_actions") {
            problems.push(format!("type: {t} is not one of \"instruction\", \"conditional_actions\"."));
        }
        if conditional && !map.get("conditional_actions").is_some_and(Value::is_object) {
            problems.push("conditional_actions: Required when type is \"conditional_actions\".".into());
        }
        if !conditional && !map.get("instructions").is_some_and(Value::is_string) {
            problems.push("instructions: Required unless type is \"conditional_actions\".".into());
        }
        let frequency = match map.get("frequency") {
            None => default_frequency,
            Some(v) => v.as_u64().filter(|f| *f >= 1).unwrap_or_else(|| {
                problems.push("frequency: Must be an integer of at least 1.".into());
                1
            }),
        };
        let tags: Vec<String> = map
            .get("tags")
            .and_then(Value::as_array)
            .map(|t| t.iter().filter_map(Value::as_str).map(String::from).collect())
            .unwrap_or_default();
        let mut metrics = Vec::new();
        for m in map.get("metrics").and_then(Value::as_array).into_iter().flatten() {
            match self.spec_metric(m, project) {
                Some(id) => metrics.push(id),
                None => problems.push(format!("metrics: {m} is not a metric of project {project}.")),
            }
        }
        if let Some(p) = map.get("personality").and_then(Value::as_u64) {
            if self.seed.personality(p).is_none() {
                problems.push(format!("personality: {}", invalid_pk(&json!(p))));
            }
        }
        if problems.is_empty() {
            Ok(SpecCase { name, tags, frequency, metrics })
        } else {
            Err(problems)
        }
    }

    /// A spec's metric reference: a numeric id or a slug, of the seeded catalog or the project's metrics.
    fn spec_metric(&self, m: &Value, project: u64) -> Option<u64> {
        match m {
            Value::Number(n) => n.as_u64().filter(|id| self.metric_usable(*id, project)),
            Value::String(slug) => self
                .seed
                .metrics
                .iter()
                .find(|x| &x.slug == slug)
                .map(|x| x.id)
                .or_else(|| self.metrics.values().find(|x| x.project == project && &x.slug == slug).map(|x| x.id)),
            _ => None,
        }
    }
}
