//! Where the vendor's sources disagree on what a Cekura server reads (the OpenAPI subset, the vendor's SDK and CLI,
//! the usage notes), the client does not depend on one reading silently. Write bodies are sent in the OpenAPI's
//! reading first; when the server refuses one (a 400, which applied nothing) on exactly the point in question, the
//! body is rebuilt in the other reading, sent once more, and that reading is kept for the rest of the run. Reads
//! are tolerant at the door instead (statuses in any case, tool ids in either spelling, folder lists of any depth).
//!
//! The points (the sandbox's `--reading` names): `adv_update.scenarios` as ids or as objects
//! (`adv-update-objects`); the `delete_scenarios` key `scenarios` or `scenario_ids` (`delete-scenario-ids`); tool
//! ids `TOOL_END_CALL` or `end_call` (`tools-lower-case`).

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{json, Value};

/// What this server was found to read, for the rest of the run. Shared by every clone of a client.
#[derive(Debug, Default)]
pub struct Dialect {
    adv_update_objects: AtomicBool,
    delete_scenario_ids: AtomicBool,
    tools_lower_case: AtomicBool,
}

impl Dialect {
    /// The body to send to `path`, in the readings learnt so far (unchanged until a server refused one).
    pub fn adapt(&self, path: &str, body: &Value) -> Value {
        let mut body = body.clone();
        if path.ends_with("/adv_update/") && self.adv_update_objects.load(Ordering::Relaxed) {
            scenarios_as_objects(&mut body);
        }
        if path.ends_with("/delete_scenarios/") && self.delete_scenario_ids.load(Ordering::Relaxed) {
            scenario_ids_too(&mut body);
        }
        if self.tools_lower_case.load(Ordering::Relaxed) {
            tools_lower_case(&mut body);
        }
        body
    }

    /// After a 400 to `sent` (what [`Dialect::adapt`] made of `body`) whose `message` (the platform's field errors,
    /// as `field: message`) names one of the open points: that reading is kept, and the body in it is returned
    /// when it differs from what was sent. `None` when the refusal is about something else. Requests refused
    /// at once (parallel creates) all switch, whichever of them taught the client.
    pub fn reconsider(&self, path: &str, body: &Value, sent: &Value, message: &str) -> Option<Value> {
        if path.ends_with("/adv_update/") && message.contains("scenarios: ") && message.contains("Expected a dict") {
            self.adv_update_objects.store(true, Ordering::Relaxed);
        }
        if path.ends_with("/delete_scenarios/") && message.contains("scenario_ids: ") {
            self.delete_scenario_ids.store(true, Ordering::Relaxed);
        }
        if body.get("tool_ids").is_some() && message.contains("tool_ids: ") && message.contains("not a valid choice") {
            self.tools_lower_case.store(true, Ordering::Relaxed);
        }
        let again = self.adapt(path, body);
        (again != *sent).then_some(again)
    }
}

fn scenarios_as_objects(body: &mut Value) {
    if let Some(Value::Array(items)) = body.get_mut("scenarios") {
        for item in items.iter_mut() {
            if let Some(id) = item.as_u64() {
                *item = json!({ "id": id });
            }
        }
    }
}

fn scenario_ids_too(body: &mut Value) {
    if let Some(ids) = body.get("scenarios").cloned() {
        body["scenario_ids"] = ids;
    }
}

fn tools_lower_case(body: &mut Value) {
    if let Some(Value::Array(tools)) = body.get_mut("tool_ids") {
        for t in tools.iter_mut() {
            if let Some(s) = t.as_str() {
                *t = Value::String(s.strip_prefix("TOOL_").unwrap_or(s).to_ascii_lowercase());
            }
        }
    }
}

/// A tool id as the manifests write it: the lower-case spelling (`end_call`) read as `TOOL_END_CALL`.
pub fn canonical_tool(tool: &str) -> String {
    if tool.starts_with("TOOL_") || tool.chars().any(|c| c.is_ascii_uppercase()) {
        tool.to_string()
    } else {
        format!("TOOL_{}", tool.to_ascii_uppercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_on_an_open_point_switches_the_reading_once_and_keeps_it() {
        let d = Dialect::default();
        let adv = "/test_framework/v1/scenarios/adv_update/";
        let body = json!({"scenarios": [5, 6], "agent": 1});
        assert_eq!(d.adapt(adv, &body), body, "the OpenAPI's reading first");
        assert_eq!(d.reconsider(adv, &body, &body, "agent: Invalid pk \"1\" - object does not exist."), None);
        let refused = "scenarios: Invalid data. Expected a dictionary, but got int.";
        let other = d.reconsider(adv, &body, &body, refused).unwrap();
        assert_eq!(other, json!({"scenarios": [{"id": 5}, {"id": 6}], "agent": 1}));
        assert_eq!(d.adapt(adv, &body), other, "kept for the run");
        assert_eq!(
            d.reconsider(adv, &body, &body, refused),
            Some(other.clone()),
            "a request refused at once also switches"
        );
        assert_eq!(d.reconsider(adv, &body, &other, refused), None, "never the same body twice");

        let del = "/test_framework/v1/scenarios/delete_scenarios/";
        let body = json!({"scenarios": [5], "agent_id": 1});
        let other = d.reconsider(del, &body, &body, "scenario_ids: This field is required.").unwrap();
        assert_eq!(other, json!({"scenarios": [5], "scenario_ids": [5], "agent_id": 1}));

        let body = json!({"name": "A", "tool_ids": ["TOOL_END_CALL", "TOOL_DTMF"]});
        let other = d.reconsider("/x/", &body, &body, "tool_ids: \"TOOL_END_CALL\" is not a valid choice.").unwrap();
        assert_eq!(other["tool_ids"], json!(["end_call", "dtmf"]));
        assert_eq!(
            (canonical_tool("end_call"), canonical_tool("TOOL_DTMF")),
            ("TOOL_END_CALL".into(), "TOOL_DTMF".into())
        );
    }
}
