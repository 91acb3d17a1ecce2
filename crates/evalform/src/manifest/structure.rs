//! The structural check: walks a file's positioned YAML tree alongside the JSON Schema generated from the raw
//! types and reports every unknown key (with the nearest valid one), wrong type, missing required key, value outside
//! an enum and repeated key, each at its exact place.
//!
//! serde stops at the first error of a file; this walk finds all of them, which is why it exists. It understands
//! only the subset of JSON Schema that schemars produces for our types (`$ref`, `anyOf`, `type`, `enum`,
//! `properties`, `additionalProperties`, `required`, `items`, `minimum`/`maximum`); it must not carry manifest
//! rules beyond what the schema says (those live in `convert`).

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde_json::Value;

use super::diagnostic::Diagnostic;
use crate::yaml::{Node, NodeKind, Pos, ScalarKind};

/// The manifests' schema, compiled once per process from [`super::raw::schema`] into a tree the walk indexes
/// directly: every `$ref` resolved, every keyword the walk reads taken out of its JSON map (looking keys up in
/// `serde_json` maps for every node of every file was a tenth of `validate`).
pub(crate) fn compiled() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| Schema::compile(&super::raw::schema()))
}

/// Index of a [`Shape`] in [`Schema::shapes`].
type Id = usize;

/// The compiled schema: its shapes, the root's first.
#[derive(Debug)]
pub(crate) struct Schema {
    shapes: Vec<Shape>,
}

/// One schema, `$ref`s followed: what the walk reads of it.
#[derive(Debug, Default)]
struct Shape {
    /// `anyOf` (or `oneOf`), when present.
    alts: Option<Vec<Use>>,
    /// `enum`; `None` items are `null`.
    enum_values: Option<Vec<Option<String>>>,
    /// `const`, when present; `None` when it is not text.
    constant: Option<Option<String>>,
    /// `type`, when present (one, or several).
    types: Option<Vec<String>>,
    /// `type` when it is a single name (what "is this alternative `null`" and "`integer`" look at).
    single_type: Option<String>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    /// `properties`, in the schema's order (messages list them so).
    properties: Option<Vec<Property>>,
    /// The same, by name.
    by_name: HashMap<String, usize>,
    additional: Additional,
    required: Vec<String>,
    items: Option<Use>,
}

/// A place where a schema is used (a property, the items of a list, an alternative): the shape it resolves to and
/// how messages name its object there.
#[derive(Debug, Clone, Copy)]
struct Use {
    shape: Id,
    title: Option<&'static str>,
}

#[derive(Debug)]
struct Property {
    name: String,
    schema: Use,
    description: Option<String>,
}

#[derive(Debug, Default)]
enum Additional {
    /// Absent, or anything other than `false` or a schema: any key is fine.
    #[default]
    Any,
    /// `false`: unknown keys are reported.
    Denied,
    Schema(Use),
}

impl Schema {
    fn compile(root: &Value) -> Schema {
        let mut c = Compiler { root, shapes: Vec::new(), defs: HashMap::new() };
        let first = c.shape(root);
        debug_assert_eq!(first, 0);
        Schema { shapes: c.shapes }
    }

    fn get(&self, id: Id) -> &Shape {
        &self.shapes[id]
    }
}

struct Compiler<'v> {
    root: &'v Value,
    shapes: Vec<Shape>,
    /// `$defs` names already compiled (or being compiled: recursive definitions refer to their own index).
    defs: HashMap<String, Id>,
}

impl<'v> Compiler<'v> {
    /// Follow `$ref`s as the walk did: to the definition, or to the schema itself when it has none (or a dangling
    /// one); the name of the last definition reached.
    fn resolve(&self, mut schema: &'v Value) -> (&'v Value, Option<&'v str>) {
        let mut def = None;
        while let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r.trim_start_matches("#/$defs/");
            match self.root.get("$defs").and_then(|d| d.get(name)) {
                Some(s) => {
                    schema = s;
                    def = Some(name);
                }
                None => break,
            }
        }
        (schema, def)
    }

    fn use_of(&mut self, schema: &'v Value) -> Use {
        Use { shape: self.shape(schema), title: def_title(schema) }
    }

    fn shape(&mut self, schema: &'v Value) -> Id {
        let (s, def) = self.resolve(schema);
        if let Some(name) = def {
            if let Some(&id) = self.defs.get(name) {
                return id;
            }
        }
        let id = self.shapes.len();
        self.shapes.push(Shape::default());
        if let Some(name) = def {
            self.defs.insert(name.to_string(), id);
        }
        let text = |v: &Value| v.as_str().map(str::to_string);
        let mut shape = Shape {
            enum_values: s.get("enum").and_then(Value::as_array).map(|vs| vs.iter().map(text).collect()),
            constant: s.get("const").map(text),
            types: match s.get("type") {
                Some(Value::String(t)) => Some(vec![t.clone()]),
                Some(Value::Array(ts)) => Some(ts.iter().filter_map(text).collect()),
                _ => None,
            },
            single_type: s.get("type").and_then(text),
            minimum: s.get("minimum").and_then(Value::as_f64),
            maximum: s.get("maximum").and_then(Value::as_f64),
            required: s
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(text).collect())
                .unwrap_or_default(),
            ..Shape::default()
        };
        if let Some(alts) = s.get("anyOf").or_else(|| s.get("oneOf")).and_then(Value::as_array) {
            shape.alts = Some(alts.iter().map(|a| self.use_of(a)).collect());
        }
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            let mut list = Vec::with_capacity(props.len());
            for (name, prop) in props {
                shape.by_name.insert(name.clone(), list.len());
                list.push(Property {
                    name: name.clone(),
                    schema: self.use_of(prop),
                    description: prop.get("description").and_then(text),
                });
            }
            shape.properties = Some(list);
        }
        shape.additional = match s.get("additionalProperties") {
            Some(Value::Bool(false)) => Additional::Denied,
            Some(extra @ Value::Object(_)) => Additional::Schema(self.use_of(extra)),
            _ => Additional::Any,
        };
        shape.items = s.get("items").map(|i| self.use_of(i));
        self.shapes[id] = shape;
        id
    }
}

pub(crate) struct Structure<'a> {
    schema: &'a Schema,
    file: &'a str,
    text: &'a str,
    pub out: Vec<Diagnostic>,
    /// Keys and values found wrong, left out when the rest of the file is read (see [`Structure::keep`]).
    pub bad_keys: HashSet<Pos>,
    pub bad_values: HashSet<Pos>,
}

impl<'a> Structure<'a> {
    pub fn new(schema: &'a Schema, file: &'a str, text: &'a str) -> Self {
        Structure { schema, file, text, out: Vec::new(), bad_keys: HashSet::new(), bad_values: HashSet::new() }
    }

    /// Check the document root against the schema.
    pub fn check_root(&mut self, node: &Node) {
        self.check(node, 0, "the manifest", None);
    }

    /// Whether a value (and its key, for a map entry) passed the check: what is kept to read the rest of a file.
    pub fn keep(&self, value: &Node, key: Option<&Node>) -> bool {
        !self.bad_values.contains(&value.pos) && key.is_none_or(|k| !self.bad_keys.contains(&k.pos))
    }

    fn is_null(&self, alt: &Use) -> bool {
        self.schema.get(alt.shape).single_type.as_deref() == Some("null")
    }

    /// Does the node have a type this schema admits (shallow: nested content is not looked at)?
    fn admits(&self, node: &Node, id: Id) -> bool {
        let s = self.schema.get(id);
        if let Some(alts) = &s.alts {
            return alts.iter().any(|a| self.admits(node, a.shape));
        }
        if let NodeKind::Alias = node.kind {
            return true;
        }
        if let Some(values) = &s.enum_values {
            return node.as_str().is_some_and(|v| values.iter().any(|e| e.as_deref() == Some(v)))
                || (node.scalar_kind() == Some(ScalarKind::Null) && values.iter().any(Option::is_none));
        }
        if let Some(c) = &s.constant {
            return node.as_str().is_some_and(|v| c.as_deref() == Some(v));
        }
        let Some(types) = &s.types else { return true };
        let kind = node.scalar_kind();
        types.iter().any(|t| match t.as_str() {
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
    fn expected(&self, id: Id) -> String {
        let s = self.schema.get(id);
        if let Some(alts) = &s.alts {
            let parts: Vec<String> = alts.iter().filter(|a| !self.is_null(a)).map(|a| self.expected(a.shape)).collect();
            return parts.join(" or ");
        }
        if let Some(values) = &s.enum_values {
            let names: Vec<&str> = values.iter().filter_map(Option::as_deref).collect();
            return format!("one of: {}", names.join(", "));
        }
        // A single `type` is named whatever it is; of a list of types, `null` is left out.
        let types: Vec<&str> = match (&s.single_type, &s.types) {
            (Some(t), _) => vec![t.as_str()],
            (None, Some(ts)) => ts.iter().map(String::as_str).filter(|t| *t != "null").collect(),
            (None, None) => vec![],
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

    fn check(&mut self, node: &Node, id: Id, what: &str, key: Option<&str>) {
        let schema = self.schema;
        let s = schema.get(id);
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
        if let Some(alts) = &s.alts {
            let fitting: Vec<&Use> = alts.iter().filter(|a| self.admits(node, a.shape)).collect();
            let non_null: Vec<&Use> = alts.iter().filter(|a| !self.is_null(a)).collect();
            match fitting.as_slice() {
                // An optional value of one kind: report as that kind does (enum values get their suggestion).
                [] if non_null.len() == 1 => self.check(node, non_null[0].shape, what, key),
                [] => self.wrong_type(node, id, key, what),
                [one] => self.check(node, one.shape, one.title.unwrap_or(what), key),
                // An id or a name (`agent: 0x65`): a number is checked as a number, whatever else would admit it.
                many => {
                    let integer = many.iter().find(|a| schema.get(a.shape).single_type.as_deref() == Some("integer"));
                    if let (Some(ScalarKind::Integer), Some(one)) = (node.scalar_kind(), integer) {
                        self.check(node, one.shape, what, key)
                    }
                }
            }
            return;
        }
        if !self.admits(node, id) {
            if let (Some(values), Some(v)) = (&s.enum_values, node.as_str()) {
                let names: Vec<&str> = values.iter().filter_map(Option::as_deref).collect();
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
            self.wrong_type(node, id, key, what);
            return;
        }
        if let (Some(ScalarKind::Integer), Some(v)) = (node.scalar_kind(), node.as_str()) {
            let field = key.unwrap_or("value");
            let digits = v.trim_start_matches(['-', '+']);
            let n: Option<i128> = v.parse().ok();
            let (min, max) = (s.minimum, s.maximum);
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
            NodeKind::Map(entries) => self.check_map(node, entries, id, what),
            NodeKind::Seq(items) => {
                if let Some(item) = s.items {
                    let item_what = item.title.unwrap_or(what);
                    for node in items {
                        self.check(node, item.shape, item_what, key);
                    }
                }
            }
            _ => {}
        }
    }

    fn wrong_type(&mut self, node: &Node, id: Id, key: Option<&str>, what: &str) {
        let expected = self.expected(id);
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

    fn check_map(&mut self, node: &Node, entries: &[(Node, Node)], id: Id, what: &str) {
        let schema = self.schema;
        let s = schema.get(id);
        let prop = |name: &str| s.properties.as_ref().and_then(|p| s.by_name.get(name).map(|&i| &p[i]));
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
            if let Some(p) = prop(name) {
                self.check(v, p.schema.shape, p.schema.title.unwrap_or(what), Some(name));
                continue;
            }
            match s.additional {
                Additional::Denied => {
                    let known: Vec<&str> = s.properties.iter().flatten().map(|p| p.name.as_str()).collect();
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
                Additional::Schema(extra) => self.check(v, extra.shape, what, Some(name)),
                Additional::Any => {}
            }
        }
        for r in &s.required {
            let r = r.as_str();
            if !seen.iter().any(|(n, _)| *n == r) && !suggested.contains(&r) {
                let mut d = self
                    .diag(node, 1, format!("missing key `{r}` in {what}"))
                    .label(format!("expected a `{r}` key in this mapping"));
                if let Some(description) = prop(r).and_then(|p| p.description.as_deref()) {
                    d = d.note(format!("`{r}`: {}", description.replace('\n', " ")));
                }
                if r == "version" {
                    d = d.help("every manifest starts with `version: 1`");
                }
                self.out.push(d);
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
