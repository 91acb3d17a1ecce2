//! The structural check: walks a file's positioned YAML tree alongside the JSON Schema generated from the raw
//! types and reports every unknown key (with the nearest valid one), wrong type, missing required key, value outside
//! an enum and repeated key, each at its exact place.
//!
//! serde stops at the first error of a file; this walk finds all of them, which is why it exists. It understands
//! only the subset of JSON Schema that schemars produces for our types (`$ref`, `anyOf`, `type`, `enum`,
//! `properties`, `additionalProperties`, `required`, `items`, `minimum`/`maximum`); it must not carry manifest
//! rules beyond what the schema says (those live in `convert`).

use std::collections::HashSet;

use serde_json::Value;

use super::diagnostic::Diagnostic;
use crate::yaml::{Node, NodeKind, Pos, ScalarKind};

pub(crate) struct Structure<'a> {
    root: &'a Value,
    file: &'a str,
    text: &'a str,
    pub out: Vec<Diagnostic>,
    /// Keys and values found wrong, left out when the rest of the file is read (see [`Structure::keep`]).
    pub bad_keys: HashSet<Pos>,
    pub bad_values: HashSet<Pos>,
}

impl<'a> Structure<'a> {
    pub fn new(schema: &'a Value, file: &'a str, text: &'a str) -> Self {
        Structure { root: schema, file, text, out: Vec::new(), bad_keys: HashSet::new(), bad_values: HashSet::new() }
    }

    /// Check the document root against the schema.
    pub fn check_root(&mut self, node: &Node) {
        let root = self.root;
        self.check(node, root, "the manifest", None);
    }

    /// Whether a value (and its key, for a map entry) passed the check: what is kept to read the rest of a file.
    pub fn keep(&self, value: &Node, key: Option<&Node>) -> bool {
        !self.bad_values.contains(&value.pos) && key.is_none_or(|k| !self.bad_keys.contains(&k.pos))
    }

    fn resolve(&self, mut schema: &'a Value) -> &'a Value {
        while let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r.trim_start_matches("#/$defs/");
            match self.root.get("$defs").and_then(|d| d.get(name)) {
                Some(s) => schema = s,
                None => break,
            }
        }
        schema
    }

    /// Does the node have a type this schema admits (shallow: nested content is not looked at)?
    fn admits(&self, node: &Node, schema: &'a Value) -> bool {
        let s = self.resolve(schema);
        if let Some(alts) = s.get("anyOf").or_else(|| s.get("oneOf")).and_then(Value::as_array) {
            return alts.iter().any(|a| self.admits(node, a));
        }
        if let NodeKind::Alias = node.kind {
            return true;
        }
        if let Some(values) = s.get("enum").and_then(Value::as_array) {
            return node.as_str().is_some_and(|v| values.iter().any(|e| e.as_str() == Some(v)))
                || (node.scalar_kind() == Some(ScalarKind::Null) && values.iter().any(Value::is_null));
        }
        if let Some(c) = s.get("const") {
            return node.as_str().is_some_and(|v| c.as_str() == Some(v));
        }
        let types: Vec<&str> = match s.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return true,
        };
        let kind = node.scalar_kind();
        types.iter().any(|t| match *t {
            "null" => kind == Some(ScalarKind::Null),
            "boolean" => kind == Some(ScalarKind::Bool),
            "integer" => kind == Some(ScalarKind::Integer),
            "number" => matches!(kind, Some(ScalarKind::Integer | ScalarKind::Float)),
            // serde_yaml reads any scalar as text when text is wanted.
            "string" => kind.is_some_and(|k| k != ScalarKind::Null),
            "array" => matches!(node.kind, NodeKind::Seq(_)),
            "object" => matches!(node.kind, NodeKind::Map(_)),
            _ => true,
        })
    }

    /// "an integer", "a list", "one of: user, system", "an integer or a string".
    fn expected(&self, schema: &'a Value) -> String {
        let s = self.resolve(schema);
        if let Some(alts) = s.get("anyOf").or_else(|| s.get("oneOf")).and_then(Value::as_array) {
            let parts: Vec<String> = alts
                .iter()
                .filter(|a| self.resolve(a).get("type").and_then(Value::as_str) != Some("null"))
                .map(|a| self.expected(a))
                .collect();
            return parts.join(" or ");
        }
        if let Some(values) = s.get("enum").and_then(Value::as_array) {
            let names: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
            return format!("one of: {}", names.join(", "));
        }
        let types: Vec<&str> = match s.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect(),
            _ => vec![],
        };
        let words: Vec<&str> = types
            .iter()
            .map(|t| match *t {
                "integer" => "an integer",
                "number" => "a number",
                "string" => "a string",
                "boolean" => "true or false",
                "array" => "a list",
                "object" => "a mapping",
                _ => "a value",
            })
            .collect();
        if words.is_empty() {
            "a value".into()
        } else {
            words.join(" or ")
        }
    }

    fn diag(&self, node: &Node, width: usize, message: String) -> Diagnostic {
        Diagnostic::at(self.file, self.text, node.pos, width, message)
    }

    fn check(&mut self, node: &Node, schema: &'a Value, what: &str, key: Option<&str>) {
        let s = self.resolve(schema);
        if let NodeKind::Alias = node.kind {
            return;
        }
        // A number no field can hold, wherever it is (a field that takes a name or an id included).
        if let (Some(ScalarKind::Integer), Some(v)) = (node.scalar_kind(), node.as_str()) {
            let decimal = !v.trim_start_matches(['-', '+']).starts_with("0x")
                && !v.trim_start_matches(['-', '+']).starts_with("0o");
            if decimal && v.parse::<i64>().is_err() && v.parse::<u64>().is_err() {
                let field = key.unwrap_or("value");
                let d = self
                    .diag(node, node.width, format!("`{v}` is too large for `{field}`"))
                    .label(format!("expected at most {}", u64::MAX));
                self.out.push(d);
                self.bad_values.insert(node.pos);
                return;
            }
        }
        if let Some(alts) = s.get("anyOf").or_else(|| s.get("oneOf")).and_then(Value::as_array) {
            let fitting: Vec<&Value> = alts.iter().filter(|a| self.admits(node, a)).collect();
            let non_null: Vec<&Value> =
                alts.iter().filter(|a| self.resolve(a).get("type").and_then(Value::as_str) != Some("null")).collect();
            match fitting.as_slice() {
                // An optional value of one kind: report as that kind does (enum values get their suggestion).
                [] if non_null.len() == 1 => self.check(node, non_null[0], what, key),
                [] => self.wrong_type(node, s, key, what),
                [one] => {
                    let what = def_title(one).unwrap_or(what);
                    self.check(node, one, what, key)
                }
                // An id or a name (`agent: 0x65`): a number is checked as a number, whatever else would admit it.
                many => {
                    let integer =
                        many.iter().find(|a| self.resolve(a).get("type").and_then(Value::as_str) == Some("integer"));
                    if let (Some(ScalarKind::Integer), Some(one)) = (node.scalar_kind(), integer) {
                        self.check(node, one, what, key)
                    }
                }
            }
            return;
        }
        if !self.admits(node, s) {
            if let (Some(values), Some(v)) = (s.get("enum").and_then(Value::as_array), node.as_str()) {
                let names: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
                let mut d = self
                    .diag(node, node.width, format!("`{v}` is not a valid value for `{}`", key.unwrap_or("value")))
                    .label(format!("expected one of: {}", names.join(", ")));
                if let Some(near) = nearest(v, &names) {
                    d = d.help(format!("did you mean `{near}`?"));
                }
                self.out.push(d);
                self.bad_values.insert(node.pos);
                return;
            }
            self.wrong_type(node, s, key, what);
            return;
        }
        if let (Some(ScalarKind::Integer), Some(v)) = (node.scalar_kind(), node.as_str()) {
            let field = key.unwrap_or("value");
            let digits = v.trim_start_matches(['-', '+']);
            let n: Option<i128> = v.parse().ok();
            let min = s.get("minimum").and_then(Value::as_f64);
            let max = s.get("maximum").and_then(Value::as_f64);
            let below = min.zip(n).is_some_and(|(m, n)| (n as f64) < m);
            let above = max.zip(n).is_some_and(|(m, n)| (n as f64) > m);
            let problem = if digits.starts_with("0x") || digits.starts_with("0o") {
                let decimal = i128::from_str_radix(&digits[2..], if digits.starts_with("0x") { 16 } else { 8 })
                    .map(|d| format!(": write `{field}: {d}`"))
                    .unwrap_or_default();
                Some((
                    format!("`{v}` is not a decimal number"),
                    format!("`{field}` is written in decimal digits{decimal}"),
                ))
            } else if below {
                Some((
                    format!("`{v}` is too small for `{field}`"),
                    format!("expected at least {}", min.unwrap_or(0.0) as i128),
                ))
            } else if above || n.is_none() {
                let most = max.map(|m| format!("at most {}", m as u128)).unwrap_or_else(|| "a smaller number".into());
                Some((format!("`{v}` is too large for `{field}`"), format!("expected {most}")))
            } else {
                None
            };
            if let Some((message, label)) = problem {
                let d = self.diag(node, node.width, message).label(label);
                self.out.push(d);
                self.bad_values.insert(node.pos);
            }
        }
        match &node.kind {
            NodeKind::Map(entries) => self.check_map(node, entries, s, what),
            NodeKind::Seq(items) => {
                if let Some(item_schema) = s.get("items") {
                    let item_what = def_title(item_schema).unwrap_or(what);
                    for item in items {
                        self.check(item, item_schema, item_what, key);
                    }
                }
            }
            _ => {}
        }
    }

    fn wrong_type(&mut self, node: &Node, schema: &'a Value, key: Option<&str>, what: &str) {
        let expected = self.expected(schema);
        let subject = match key {
            Some(k) => format!("`{k}` in {what}"),
            None => what.to_string(),
        };
        let d = self
            .diag(node, node.width, format!("wrong type for {subject}: found {}", node.describe()))
            .label(format!("expected {expected}"));
        self.out.push(d);
        self.bad_values.insert(node.pos);
    }

    fn check_map(&mut self, node: &Node, entries: &[(Node, Node)], s: &'a Value, what: &str) {
        let props = s.get("properties").and_then(Value::as_object);
        let additional = s.get("additionalProperties");
        let mut seen: Vec<(&str, &Node)> = Vec::new();
        // Keys suggested for a misspelt one are not reported missing as well.
        let mut suggested: Vec<&str> = Vec::new();
        for (k, v) in entries {
            let Some(name) = k.as_str() else { continue };
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
                let d = self
                    .diag(k, k.width, format!("key `{name}` appears twice in {what}"))
                    .note(format!("first at {}:{}:{}", self.file, first.pos.line, first.pos.column));
                self.out.push(d);
                self.bad_keys.insert(k.pos);
                continue;
            }
            seen.push((name, k));
            if let Some(prop) = props.and_then(|p| p.get(name)) {
                let inner = def_title(prop).unwrap_or(what);
                self.check(v, prop, inner, Some(name));
                continue;
            }
            match additional {
                Some(Value::Bool(false)) => {
                    let known: Vec<&str> = props.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
                    let mut d = self
                        .diag(k, k.width, format!("unknown key `{name}` in {what}"))
                        .label(format!("expected one of: {}", known.join(", ")));
                    if let Some(near) = nearest(name, &known) {
                        d = d.help(format!("did you mean `{near}`?"));
                        suggested.push(near);
                    }
                    self.out.push(d);
                    self.bad_keys.insert(k.pos);
                }
                Some(extra @ Value::Object(_)) => self.check(v, extra, what, Some(name)),
                _ => {}
            }
        }
        if let Some(required) = s.get("required").and_then(Value::as_array) {
            for r in required.iter().filter_map(Value::as_str) {
                if !seen.iter().any(|(n, _)| *n == r) && !suggested.contains(&r) {
                    let mut d = self
                        .diag(node, 1, format!("missing key `{r}` in {what}"))
                        .label(format!("expected a `{r}` key in this mapping"));
                    if let Some(prop) = props.and_then(|p| p.get(r)).and_then(|p| p.get("description")) {
                        d = d.note(format!("`{r}`: {}", prop.as_str().unwrap_or_default().replace('\n', " ")));
                    }
                    if r == "version" {
                        d = d.help("every manifest starts with `version: 1`");
                    }
                    self.out.push(d);
                }
            }
        }
    }
}

/// How messages name an object of a schema definition.
fn def_title(schema: &Value) -> Option<&'static str> {
    let r = schema
        .get("$ref")
        .and_then(Value::as_str)
        .or_else(|| schema.get("anyOf")?.as_array()?.iter().find_map(|a| a.get("$ref").and_then(Value::as_str)))?;
    Some(match r.trim_start_matches("#/$defs/") {
        "Cekura" => "the `cekura` section",
        "Tela" => "the `tela` section",
        "Evaluator" => "an evaluator",
        "Defaults" => "`defaults`",
        "TestProfile" => "a test profile",
        "ConditionalActions" => "a conditional-actions flow",
        "Condition" => "a condition",
        "TestCase" => "a test case",
        "Message" => "a message",
        _ => return None,
    })
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub(crate) fn nearest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_suggests_typos_only() {
        let keys = ["name", "id", "folder", "instructions", "max_duration"];
        assert_eq!(nearest("naem", &keys), Some("name"));
        assert_eq!(nearest("instruction", &keys), Some("instructions"));
        assert_eq!(nearest("max_durration", &keys), Some("max_duration"));
        assert_eq!(nearest("colour", &keys), None);
    }
}
