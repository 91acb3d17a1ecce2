//! `evalform export --format cekura-spec`: the examples as Cekura's test-suite spec, checked against the vendor's
//! published schema (the copy the sandbox serves at `GET /test_framework/v1/scenarios/json_schema/`, in
//! `crates/evalform-sandbox/schema/`) by a small validator of the JSON Schema keywords that schema
//! uses. The validator refuses any keyword it does not know, so a newer schema cannot pass unchecked.

use serde_json::{json, Value};

use crate::common::{evalform, run, settings, workspace_root};

fn schema() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../evalform-sandbox/schema/cekura-tests-as-code-v1.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every way `value` breaks `schema`, as `/json/pointer: what`.
fn validate(root: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let Some(obj) = schema.as_object() else { return };
    for key in obj.keys() {
        const KNOWN: &[&str] = &[
            "$defs",
            "$id",
            "$ref",
            "$schema",
            "additionalProperties",
            "const",
            "description",
            "else",
            "enum",
            "if",
            "items",
            "maxItems",
            "maxLength",
            "maximum",
            "minItems",
            "minLength",
            "minProperties",
            "minimum",
            "not",
            "oneOf",
            "pattern",
            "properties",
            "required",
            "then",
            "title",
            "type",
        ];
        assert!(KNOWN.contains(&key.as_str()), "the validator does not know the keyword {key} (at {at})");
    }
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        let target = root.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("unresolved $ref {r}"));
        validate(root, target, value, at, out);
    }
    if let Some(t) = obj.get("type").and_then(Value::as_str) {
        let ok = match t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_u64() || value.is_i64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            other => panic!("unknown type {other}"),
        };
        if !ok {
            out.push(format!("{at}: expected {t}, got {value}"));
            return;
        }
    }
    if let Some(c) = obj.get("const") {
        if c != value {
            out.push(format!("{at}: expected {c}"));
        }
    }
    if let Some(e) = obj.get("enum").and_then(Value::as_array) {
        if !e.contains(value) {
            out.push(format!("{at}: {value} is not one of {}", Value::Array(e.clone())));
        }
    }
    if let Some(n) = value.as_f64() {
        if obj.get("minimum").and_then(Value::as_f64).is_some_and(|m| n < m) {
            out.push(format!("{at}: {n} is below the minimum"));
        }
        if obj.get("maximum").and_then(Value::as_f64).is_some_and(|m| n > m) {
            out.push(format!("{at}: {n} is above the maximum"));
        }
    }
    if let Some(s) = value.as_str() {
        let len = s.chars().count() as u64;
        if obj.get("maxLength").and_then(Value::as_u64).is_some_and(|m| len > m) {
            out.push(format!("{at}: longer than {}", obj["maxLength"]));
        }
        if obj.get("minLength").and_then(Value::as_u64).is_some_and(|m| len < m) {
            out.push(format!("{at}: shorter than {}", obj["minLength"]));
        }
        if let Some(p) = obj.get("pattern").and_then(Value::as_str) {
            // The only pattern the schema uses.
            assert_eq!(p, "^[a-z0-9_]+$", "the validator does not know the pattern {p}");
            if s.is_empty() || !s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
                out.push(format!("{at}: {s:?} does not match {p}"));
            }
        }
    }
    if let Some(items) = value.as_array() {
        let n = items.len() as u64;
        if obj.get("maxItems").and_then(Value::as_u64).is_some_and(|m| n > m) {
            out.push(format!("{at}: more than {} items", obj["maxItems"]));
        }
        if obj.get("minItems").and_then(Value::as_u64).is_some_and(|m| n < m) {
            out.push(format!("{at}: fewer than {} items", obj["minItems"]));
        }
        if let Some(item_schema) = obj.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(root, item_schema, item, &format!("{at}/{i}"), out);
            }
        }
    }
    if let Some(map) = value.as_object() {
        if let Some(required) = obj.get("required").and_then(Value::as_array) {
            for r in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(r) {
                    out.push(format!("{at}: missing required `{r}`"));
                }
            }
        }
        if obj.get("minProperties").and_then(Value::as_u64).is_some_and(|m| (map.len() as u64) < m) {
            out.push(format!("{at}: too few properties"));
        }
        let props = obj.get("properties").and_then(Value::as_object);
        for (k, v) in map {
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate(root, s, v, &format!("{at}/{k}"), out),
                None if obj.get("additionalProperties") == Some(&json!(false)) => {
                    out.push(format!("{at}: `{k}` is not allowed"));
                }
                None => {}
            }
        }
    }
    if let Some(options) = obj.get("oneOf").and_then(Value::as_array) {
        let passing = options
            .iter()
            .filter(|o| {
                let mut errs = Vec::new();
                validate(root, o, value, at, &mut errs);
                errs.is_empty()
            })
            .count();
        if passing != 1 {
            out.push(format!("{at}: matches {passing} of the oneOf options, not exactly one"));
        }
    }
    if let Some(not) = obj.get("not") {
        let mut errs = Vec::new();
        validate(root, not, value, at, &mut errs);
        if errs.is_empty() {
            out.push(format!("{at}: matches a `not` schema"));
        }
    }
    if let Some(cond) = obj.get("if") {
        let mut errs = Vec::new();
        validate(root, cond, value, at, &mut errs);
        let branch = if errs.is_empty() { obj.get("then") } else { obj.get("else") };
        if let Some(b) = branch {
            validate(root, b, value, at, out);
        }
    }
}

fn problems(value: &Value) -> Vec<String> {
    let schema = schema();
    let mut out = Vec::new();
    validate(&schema, &schema, value, "", &mut out);
    out
}

#[test]
fn the_validator_catches_what_the_schema_forbids() {
    let bad = json!({"version": "2", "scenarios": [{"name": "", "tools": ["TOOL_END_CALL"], "colour": 1}]});
    insta::assert_debug_snapshot!(problems(&bad), @r#"
    [
        "/version: expected \"1\"",
        "/scenarios/0/name: shorter than 1",
        "/scenarios/0/tools/0: \"TOOL_END_CALL\" is not one of [\"call_hold\",\"dtmf\",\"end_call\",\"end_call_only_on_transfer\",\"receive_dtmf\",\"send_sms\"]",
        "/scenarios/0: `colour` is not allowed",
        "/scenarios/0: missing required `instructions`",
    ]
    "#);
}

#[test]
fn the_examples_export_as_a_valid_spec_with_notes_on_stderr() {
    let mut cmd = evalform();
    cmd.args(["export", "--format", "cekura-spec", "--agent", "101", "examples/specs"]);
    let out = run(cmd, Some(&workspace_root()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let spec: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(problems(&spec), Vec::<String>::new());
    // The key is derived from the name alone: the same on every run and commit.
    assert_eq!(spec["scenarios"][0]["key"], "angry-caller-asks-for-a-manager");
    // A sensitive value is shown as its template, never as a value.
    assert!(out.stdout.contains("${env:ACME_SUPPORT_TOKEN}"));
    settings().bind(|| insta::assert_snapshot!("export_agent_101", out.snapshot()));
}

#[test]
fn every_example_agent_exports_validly_and_several_specs_need_a_choice() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = evalform();
    cmd.args(["export", "examples/specs", "--out"]).arg(dir.path());
    let out = run(cmd, Some(&workspace_root()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let names: Vec<String> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["agent-101.json", "agent-202.json"]);
    for f in &files {
        let spec: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        assert_eq!(problems(&spec), Vec::<String>::new(), "{}", f.display());
    }

    let mut cmd = evalform();
    cmd.args(["export", "examples/specs", "--tags", "smoke"]);
    let out = run(cmd, Some(&workspace_root()));
    let shown = out.snapshot();
    let stderr_tail: String = shown.lines().filter(|l| !l.starts_with("note:")).collect::<Vec<_>>().join("\n");
    insta::assert_snapshot!(stderr_tail, @r"
    exit: 1
    --- stdout
    --- stderr
    error: the selection makes 2 specs: the manifests name 2 agents
    hint: choose one agent with --agent ID, or write every spec with --out DIR
    ");

    let mut cmd = evalform();
    cmd.args(["export", "examples/specs", "--agent", "7"]);
    let out = run(cmd, Some(&workspace_root()));
    insta::assert_snapshot!(out.snapshot(), @r"
    exit: 1
    --- stdout
    --- stderr
    error: --agent 7: the manifests name no such agent
    hint: the manifests name agents 101, 202
    ");
}
