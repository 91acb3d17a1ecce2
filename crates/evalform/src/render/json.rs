//! `plan --format json`: the plan as a versioned JSON document for programs. Each change has its address,
//! action and the before/after of changed fields; each operation its method, path and body exactly as the
//! executor sends them, except that secrets are `(sensitive)` and resources created by the plan are referred to
//! symbolically. Never writes a secret.

use serde_json::{json, Value};

use super::{request, summary, value_json};
use crate::plan::Plan;

pub fn json(plan: &Plan) -> Value {
    let s = summary(plan);
    let changes: Vec<Value> = plan
        .changes
        .iter()
        .map(|c| {
            let fields: Vec<Value> = c
                .fields
                .iter()
                .map(|f| {
                    json!({
                        "field": f.field,
                        "before": f.before.as_ref().map(value_json),
                        "after": f.after.as_ref().map(value_json),
                    })
                })
                .collect();
            let mut doc =
                json!({"address": c.address.to_string(), "action": c.action, "remote_id": c.remote_id, "fields": fields});
            if let Some(old) = super::renamed_from(c) {
                doc["renamed_from"] = Value::String(old);
            }
            doc
        })
        .collect();
    let operations: Vec<Value> = plan
        .operations
        .iter()
        .map(|op| {
            let (method, path, body) = request(op);
            json!({
                "id": op.id,
                "method": method,
                "path": path,
                "body": body,
                "depends_on": op.depends_on,
                "touches": op.touches.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let notes: Vec<Value> = plan
        .notes
        .iter()
        .map(|n| json!({"address": n.address.as_ref().map(|a| a.to_string()), "message": n.message}))
        .collect();
    let mut doc = json!({
        "format_version": crate::plan::PLAN_FORMAT_VERSION,
        "summary": {"create": s.create, "update": s.update, "delete": s.delete, "api_calls": s.api_calls},
        "changes": changes,
        "operations": operations,
        "notes": notes,
    });
    // Present only when there are some, so documents of plans without them keep their shape.
    if !plan.unmanaged.is_empty() {
        let unmanaged: Vec<Value> = plan
            .unmanaged
            .iter()
            .map(|u| json!({"address": u.address.to_string(), "remote_id": u.remote_id, "note": u.note}))
            .collect();
        doc["summary"]["unmanaged"] = Value::from(unmanaged.len());
        doc["unmanaged"] = Value::Array(unmanaged);
    }
    doc
}
