//! What the API reads but never writes: personalities, agents, phone numbers.

use serde_json::{json, Value};

use super::super::drf::{paginate, ApiError};
use super::super::state::SandboxState;
use super::super::world::Agent;
use super::{ok, Call, Reply, Route};

pub(super) fn execute(state: &mut SandboxState, route: &Route, call: &Call<'_>) -> Result<Reply, ApiError> {
    match route {
        Route::Personalities => {
            let language = call.get("language");
            let items: Vec<Value> = state
                .seed
                .personalities
                .iter()
                .filter(|p| language.is_none_or(|l| p.language == l))
                .map(|p| json!({ "id": p.id, "name": p.name, "language": p.language, "description": "", "accent": null }))
                .collect();
            ok(Value::Array(items))
        }
        Route::Agents => {
            let items: Vec<Value> = state.seed.agents.iter().map(agent_json).collect();
            ok(paginate(items, &call.url, call.query)?)
        }
        Route::Agent(id) => {
            state.seed.agent(*id).map(|a| ok(agent_json(a))).unwrap_or_else(|| Err(ApiError::not_found()))
        }
        _ => {
            let items: Vec<Value> = state
                .seed
                .phone_numbers
                .iter()
                // `number` is what evalform's notes name; `phone_number`, `agent` and `created_at` are what the vendor CLI's
                // table reads. Both are served.
                .map(|p| {
                    json!({ "id": p.id, "number": p.number, "phone_number": p.number,
                            "phone_number_id": format!("PN{:08}", p.id), "agent": null,
                            "created_at": "2026-01-01T00:00:00Z" })
                })
                .collect();
            ok(Value::Array(items))
        }
    }
}

fn agent_json(a: &Agent) -> Value {
    json!({ "id": a.id, "agent_name": a.name, "name": a.name, "project": a.project, "inbound": false, "language": "en" })
}
