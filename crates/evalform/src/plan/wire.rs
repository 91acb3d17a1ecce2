//! The wire form of a [`Call`]: its HTTP method, path and JSON body, as the executor sends it and as
//! `plan --format json` shows it.
//!
//! One function serves both so the shown request is the sent request. For display, sensitive values are masked
//! ([`Secrets::Mask`]) and references to resources this plan creates stay symbolic (`{"created": NAME}`, and
//! `{created:NAME}` in a path); the executor passes [`Secrets::Expose`] and a lookup of the ids it has created.
//! No I/O here.

use serde_json::{json, Map, Value};

use super::{
    BulkScope, BulkUpdate, Call, EvaluatorBody, EvaluatorRef, MetricBody, ScheduleBody, TestCaseBody, TestProfileRef,
};
use crate::model::{ConditionTrigger, ConditionalActions, Information, Text};

/// The HTTP method of a call. A plain value, so the planner needs no HTTP client to say what it would send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Patch => "PATCH",
            Verb::Delete => "DELETE",
        }
    }
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether sensitive values are written as themselves (to the API) or as `(sensitive)` (to people).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    Expose,
    Mask,
}

/// A resource created earlier in the same plan, by the name the plan gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatedRef<'a> {
    Evaluator(&'a str),
    TestProfile(&'a str),
    Metric(&'a str),
}

const METRICS: &str = "/test_framework/v2/metrics/";
const CRON_JOBS: &str = "/schedules/v1/cron-jobs-external/";
const SCENARIOS: &str = "/test_framework/v1/scenarios/";
const PROFILES: &str = "/test_framework/v1/test-profiles/";

fn text(t: &Text, secrets: Secrets) -> Value {
    Value::String(match secrets {
        Secrets::Expose => t.expose().to_string(),
        Secrets::Mask => t.shown().to_string(),
    })
}

fn texts<'a>(m: impl IntoIterator<Item = (&'a String, &'a Text)>, secrets: Secrets) -> Value {
    Value::Object(m.into_iter().map(|(k, v)| (k.clone(), text(v, secrets))).collect())
}

/// `information` as the platform takes it.
pub fn information_json(info: &Information, secrets: Secrets) -> Value {
    match info {
        Information::Flat(m) => texts(m, secrets),
        Information::Sectioned { main_agent_variables, testing_agent_variables } => json!({
            "main_agent_variables": texts(main_agent_variables, secrets),
            "testing_agent_variables": texts(testing_agent_variables, secrets),
        }),
    }
}

/// A conditional-actions flow as the platform takes it.
pub fn flow_json(flow: &ConditionalActions, secrets: Secrets) -> Value {
    let conditions: Vec<Value> = flow
        .conditions
        .iter()
        .map(|c| {
            let trigger = match &c.condition {
                ConditionTrigger::Followup(id) => json!(id),
                ConditionTrigger::Text(t) => text(t, secrets),
            };
            json!({
                "id": c.id,
                "condition": trigger,
                "action": text(&c.action, secrets),
                "type": c.kind,
                "fixed_message": c.fixed_message,
            })
        })
        .collect();
    json!({"role": text(&flow.role, secrets), "conditions": conditions})
}

type Lookup<'a> = &'a dyn Fn(CreatedRef<'_>) -> Option<u64>;

fn evaluator_id(r: &EvaluatorRef, created: Lookup<'_>) -> Value {
    match r {
        EvaluatorRef::Id(id) => json!(id),
        EvaluatorRef::Created(name) => match created(CreatedRef::Evaluator(name)) {
            Some(id) => json!(id),
            None => json!({"created": name}),
        },
    }
}

fn evaluator_path(r: &EvaluatorRef, created: Lookup<'_>) -> String {
    match evaluator_id(r, created) {
        Value::Number(n) => format!("{SCENARIOS}{n}/"),
        _ => match r {
            EvaluatorRef::Created(name) => format!("{SCENARIOS}{{created:{name}}}/"),
            EvaluatorRef::Id(id) => format!("{SCENARIOS}{id}/"),
        },
    }
}

fn profile_id(r: &TestProfileRef, created: Lookup<'_>) -> Value {
    match r {
        TestProfileRef::Id(id) => json!(id),
        TestProfileRef::Created(name) => match created(CreatedRef::TestProfile(name)) {
            Some(id) => json!(id),
            None => json!({"created": name}),
        },
    }
}

fn evaluator_body(body: &EvaluatorBody, created: Lookup<'_>, secrets: Secrets) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    };
    put("name", body.name.as_ref().map(|n| json!(n)));
    put("personality", body.personality.map(|p| json!(p)));
    put("scenario_type", body.scenario_type.as_ref().map(|s| json!(s)));
    put("instructions", body.instructions.as_ref().map(|t| text(t, secrets)));
    put("conditional_actions", body.conditional_actions.as_ref().map(|f| flow_json(f, secrets)));
    put("expected_outcome_prompt", body.expected_outcome_prompt.as_ref().map(|t| text(t, secrets)));
    put("metrics", body.metrics.as_ref().map(|m| json!(m)));
    // Every write of `tags` carries evalform's ownership tag: the manifests' tags never hold it, and a write that
    // left it out would disown the evaluator.
    put(
        "tags",
        body.tags.as_ref().map(|t| {
            let mut tags: Vec<&str> =
                t.iter().map(String::as_str).filter(|t| *t != crate::model::OWNERSHIP_TAG).collect();
            tags.push(crate::model::OWNERSHIP_TAG);
            json!(tags)
        }),
    );
    put("tool_ids", body.tool_ids.as_ref().map(|t| json!(t)));
    put("test_profile", body.test_profile.as_ref().map(|p| profile_id(p, created)));
    put("phone_number", body.phone_number.map(|p| json!(p)));
    put("folder_path", body.folder_path.as_ref().map(|f| json!(f)));
    m
}

fn bulk_body(b: &BulkUpdate, created: Lookup<'_>, secrets: Secrets) -> Value {
    let mut m = Map::new();
    m.insert("scenarios".into(), Value::Array(b.scenarios.iter().map(|s| evaluator_id(s, created)).collect()));
    match b.scope {
        BulkScope::Agent(a) => m.insert("agent".into(), json!(a)),
        BulkScope::Project(p) => m.insert("project".into(), json!(p)),
    };
    if !b.metric_ids_to_add.is_empty() || !b.created_metrics_to_add.is_empty() {
        let mut add: Vec<Value> = b.metric_ids_to_add.iter().map(|id| json!(id)).collect();
        add.extend(b.created_metrics_to_add.iter().map(|name| match created(CreatedRef::Metric(name)) {
            Some(id) => json!(id),
            None => json!({"created": name}),
        }));
        m.insert("metric_ids_to_add".into(), Value::Array(add));
    }
    if !b.metric_ids_to_remove.is_empty() {
        m.insert("metric_ids_to_remove".into(), json!(b.metric_ids_to_remove));
    }
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    };
    put("personality", b.personality.map(|p| json!(p)));
    put("test_profile", b.test_profile.as_ref().map(|p| profile_id(p, created)));
    put("append_instruction", b.append_instruction.as_ref().map(|t| text(t, secrets)));
    put("first_message", b.first_message.as_ref().map(|t| text(t, secrets)));
    put("phone_number", b.phone_number.map(|p| json!(p)));
    put("folder_path", b.folder_path.as_ref().map(|f| json!(f)));
    put("max_duration", b.max_duration.map(|d| json!(d)));
    Value::Object(m)
}

fn metric_body(b: &MetricBody, secrets: Secrets) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    };
    put("name", b.name.as_ref().map(|v| json!(v)));
    put("type", b.kind.as_ref().map(|v| json!(v)));
    put("eval_type", b.eval_type.as_ref().map(|v| json!(v)));
    put("description", b.description.as_ref().map(|t| text(t, secrets)));
    put("enum_values", b.enum_values.as_ref().map(|v| json!(v)));
    put("evaluation_trigger", b.evaluation_trigger.as_ref().map(|v| json!(v)));
    put("custom_code", b.custom_code.as_ref().map(|t| text(t, secrets)));
    put("simulation_enabled", b.simulation_enabled.map(|v| json!(v)));
    put("observability_enabled", b.observability_enabled.map(|v| json!(v)));
    put("configuration", b.configuration.clone());
    m
}

fn schedule_body(b: &ScheduleBody, created: Lookup<'_>) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    };
    put("name", b.name.as_ref().map(|v| json!(v)));
    put("crontab_expression", b.crontab_expression.as_ref().map(|v| json!(v)));
    put("scenarios", b.scenarios.as_ref().map(|s| Value::Array(s.iter().map(|r| evaluator_id(r, created)).collect())));
    put("tags", b.tags.as_ref().map(|v| json!(v)));
    put("execution_mode", b.execution_mode.as_ref().map(|v| json!(v)));
    put("is_active", b.is_active.map(|v| json!(v)));
    m
}

fn test_case_body(prompt: Option<&str>, c: &TestCaseBody, secrets: Secrets) -> Value {
    let mut m = Map::new();
    if let Some(p) = prompt {
        m.insert("promptId".into(), json!(p));
    }
    if let Some(t) = &c.title {
        m.insert("title".into(), json!(t));
    }
    if let Some(msgs) = &c.messages {
        let list = msgs.iter().map(|msg| json!({"role": msg.role, "content": text(&msg.content, secrets)})).collect();
        m.insert("messages".into(), Value::Array(list));
    }
    if let Some(v) = &c.variables {
        m.insert("variables".into(), texts(v, secrets));
    }
    if let Some(e) = &c.expected_output {
        m.insert("expectedOutput".into(), text(e, secrets));
    }
    Value::Object(m)
}

/// The HTTP request one [`Call`] is. `created` maps a resource created earlier in the plan to its id; where it
/// answers `None` the reference stays symbolic (for display). The body is `Value::Null` for a body-less request.
/// `SetLanguage`'s body carries only `scenario_language`: the executor merges it into the evaluator it has just
/// read, because the route is a full PUT.
pub fn call_request(call: &Call, created: Lookup<'_>, secrets: Secrets) -> (Verb, String, Value) {
    match call {
        Call::CreateFolder { project, name, parent_path } => {
            let mut body = json!({"name": name, "project_id": project});
            if let Some(p) = parent_path {
                body["parent_path"] = json!(p);
            }
            (Verb::Post, format!("{SCENARIOS}create_folder/"), body)
        }
        Call::RenameFolder { project, path, name } => (
            Verb::Post,
            format!("{SCENARIOS}rename_folder/"),
            json!({"path": path, "name": name, "project_id": project}),
        ),
        Call::MoveFolder { project, path, new_parent_path } => (
            Verb::Post,
            format!("{SCENARIOS}move_folder/"),
            json!({"path": path, "project_id": project, "new_parent_path": new_parent_path}),
        ),
        Call::DeleteFolder { project, path, .. } => {
            (Verb::Post, format!("{SCENARIOS}delete_folder/"), json!({"path": path, "project_id": project}))
        }
        Call::CreateTestProfile { agent, name, information } => (
            Verb::Post,
            PROFILES.to_string(),
            json!({"agent": agent, "name": name, "information": information_json(information, secrets)}),
        ),
        Call::UpdateTestProfile { id, name, information } => {
            let mut body = Map::new();
            if let Some(n) = name {
                body.insert("name".into(), json!(n));
            }
            if let Some(i) = information {
                body.insert("information".into(), information_json(i, secrets));
            }
            (Verb::Patch, format!("{PROFILES}{id}/"), Value::Object(body))
        }
        Call::DeleteTestProfile { id } => (Verb::Delete, format!("{PROFILES}{id}/"), Value::Null),
        Call::CreateMetric { project, body, .. } => {
            let mut m = Map::new();
            m.insert("project".into(), json!(project));
            m.extend(metric_body(body, secrets));
            (Verb::Post, METRICS.to_string(), Value::Object(m))
        }
        Call::UpdateMetric { id, body } => {
            (Verb::Patch, format!("{METRICS}{id}/"), Value::Object(metric_body(body, secrets)))
        }
        Call::DeleteMetric { id } => (Verb::Delete, format!("{METRICS}{id}/"), Value::Null),
        Call::CreateSchedule { agent, body } => {
            let mut m = Map::new();
            m.insert("agent".into(), json!(agent));
            m.extend(schedule_body(body, created));
            (Verb::Post, CRON_JOBS.to_string(), Value::Object(m))
        }
        Call::UpdateSchedule { id, body } => {
            (Verb::Patch, format!("{CRON_JOBS}{id}/"), Value::Object(schedule_body(body, created)))
        }
        Call::CreateEvaluator { agent, body } => {
            let mut m = Map::new();
            m.insert("agent".into(), json!(agent));
            m.extend(evaluator_body(body, created, secrets));
            (Verb::Post, SCENARIOS.to_string(), Value::Object(m))
        }
        Call::PatchEvaluator { evaluator, body } => {
            (Verb::Patch, evaluator_path(evaluator, created), Value::Object(evaluator_body(body, created, secrets)))
        }
        Call::SetLanguage { evaluator, language } => {
            (Verb::Put, evaluator_path(evaluator, created), json!({"scenario_language": language}))
        }
        Call::AdoptEvaluator { id } => {
            (Verb::Patch, format!("{SCENARIOS}{id}/"), json!({"tags": ["...", crate::model::OWNERSHIP_TAG]}))
        }
        Call::BulkUpdate(b) => (Verb::Post, format!("{SCENARIOS}adv_update/"), bulk_body(b, created, secrets)),
        Call::DeleteEvaluators { agent, ids } => {
            (Verb::Post, format!("{SCENARIOS}delete_scenarios/"), json!({"scenarios": ids, "agent_id": agent}))
        }
        Call::CreateTestCases { prompt, cases } => (
            Verb::Post,
            "/test-case".to_string(),
            Value::Array(
                cases
                    .iter()
                    .map(|c| {
                        let mut body = test_case_body(Some(prompt), c, secrets);
                        // evalform's ownership mark: `prune` deletes only test cases that carry it.
                        body["metadata"] = json!({"managed_by": "evalform"});
                        body
                    })
                    .collect(),
            ),
        ),
        Call::DeleteTestCase { id } => (Verb::Delete, format!("/test-case/{id}"), Value::Null),
        Call::PatchTestCase { id, body } => {
            (Verb::Patch, format!("/test-case/{id}"), test_case_body(None, body, secrets))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_body_masks_and_keeps_created_refs_symbolic() {
        let call = Call::BulkUpdate(BulkUpdate {
            scenarios: vec![EvaluatorRef::Id(1), EvaluatorRef::Created("New".into())],
            scope: BulkScope::Agent(12),
            append_instruction: Some(Text::sensitive("token-123", "${env:T}")),
            test_profile: Some(TestProfileRef::Created("Premium".into())),
            ..BulkUpdate::default()
        });
        let (method, path, body) = call_request(&call, &|_| None, Secrets::Mask);
        assert_eq!((method, path.as_str()), (Verb::Post, "/test_framework/v1/scenarios/adv_update/"));
        insta::assert_snapshot!(body.to_string(), @r#"{"scenarios":[1,{"created":"New"}],"agent":12,"test_profile":{"created":"Premium"},"append_instruction":"(sensitive)"}"#);
        let lookup = |r: CreatedRef<'_>| match r {
            CreatedRef::Evaluator("New") => Some(7),
            CreatedRef::TestProfile("Premium") => Some(55),
            _ => None,
        };
        let (_, _, body) = call_request(&call, &lookup, Secrets::Expose);
        insta::assert_snapshot!(body.to_string(), @r#"{"scenarios":[1,7],"agent":12,"test_profile":55,"append_instruction":"token-123"}"#);
    }

    #[test]
    fn every_other_call_kind() {
        use crate::model::Information;
        let info = Information::Sectioned {
            main_agent_variables: [("api_token".to_string(), Text::sensitive("s3cret", "${env:T}"))].into(),
            testing_agent_variables: [("customer_name".to_string(), Text::new("John"))].into(),
        };
        let calls = [
            Call::CreateTestProfile { agent: 12, name: "Premium".into(), information: info },
            Call::DeleteTestProfile { id: 55 },
            Call::SetLanguage { evaluator: EvaluatorRef::Created("New".into()), language: "de".into() },
            Call::PatchTestCase {
                id: "u1".into(),
                body: TestCaseBody { expected_output: Some("Sorry.".into()), ..TestCaseBody::default() },
            },
            Call::CreateFolder { project: 9, name: "Inbound".into(), parent_path: Some("Sales".into()) },
        ];
        let shown: Vec<String> = calls
            .iter()
            .map(|c| {
                let (m, p, b) = call_request(c, &|_| None, Secrets::Mask);
                format!("{m} {p} {b}")
            })
            .collect();
        insta::assert_snapshot!(shown.join("\n"), @r#"
        POST /test_framework/v1/test-profiles/ {"agent":12,"name":"Premium","information":{"main_agent_variables":{"api_token":"(sensitive)"},"testing_agent_variables":{"customer_name":"John"}}}
        DELETE /test_framework/v1/test-profiles/55/ null
        PUT /test_framework/v1/scenarios/{created:New}/ {"scenario_language":"de"}
        PATCH /test-case/u1 {"expectedOutput":"Sorry."}
        POST /test_framework/v1/scenarios/create_folder/ {"name":"Inbound","project_id":9,"parent_path":"Sales"}
        "#);
    }
}
