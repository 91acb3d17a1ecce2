//! The shapes of a Django REST Framework server, shared by every Cekura handler: error bodies, field readers that
//! collect every field error of a body at once (as DRF does), pagination, and JSON text written the way Python's
//! `json.dumps` writes it. Nothing here knows an endpoint.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// A response that is not a success: a status and a JSON body (DRF-shaped for Cekura paths).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, body: Value) -> Self {
        ApiError { status, body }
    }

    /// `{"detail": message}` with `status`.
    pub fn detail(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError::new(status, json!({ "detail": message.into() }))
    }

    pub fn not_found() -> Self {
        ApiError::detail(StatusCode::NOT_FOUND, "Not found.")
    }

    /// A 400 with one message on one field: `{"field": ["message"]}`.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        errors.into_error()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.body)
    }
}

impl std::error::Error for ApiError {}

pub const REQUIRED: &str = "This field is required.";

pub fn invalid_pk(id: &Value) -> String {
    format!("Invalid pk \"{}\" - object does not exist.", plain(id))
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Field errors of one body, collected so a 400 names every bad field at once.
#[derive(Debug, Default)]
pub struct FieldErrors {
    errors: BTreeMap<String, Vec<String>>,
}

impl FieldErrors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.errors.entry(field.to_string()).or_default().push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn into_error(self) -> ApiError {
        let body: Map<String, Value> = self.errors.into_iter().map(|(k, v)| (k, Value::from(v))).collect();
        ApiError::new(StatusCode::BAD_REQUEST, Value::Object(body))
    }

    /// `Ok(())` when nothing was collected, else the 400.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.into_error())
        }
    }

    /// A required field: records "This field is required." when absent.
    pub fn required<'a>(&mut self, body: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
        let v = body.get(field);
        if v.is_none() {
            self.add(field, REQUIRED);
        }
        v
    }

    /// A string field (absent = `None`; null is refused unless `nullable`, then it reads as `Some(None)`).
    pub fn string(&mut self, body: &Map<String, Value>, field: &str, nullable: bool) -> Option<Option<String>> {
        match body.get(field)? {
            Value::String(s) => Some(Some(s.clone())),
            Value::Null if nullable => Some(None),
            Value::Null => {
                self.add(field, "This field may not be null.");
                None
            }
            Value::Number(n) => Some(Some(n.to_string())),
            _ => {
                self.add(field, "Not a valid string.");
                None
            }
        }
    }

    /// An integer primary key (absent = `None`; null = `Some(None)` when `nullable`).
    pub fn pk(&mut self, body: &Map<String, Value>, field: &str, nullable: bool) -> Option<Option<u64>> {
        match body.get(field)? {
            Value::Null if nullable => Some(None),
            Value::Null => {
                self.add(field, "This field may not be null.");
                None
            }
            v => match v.as_u64() {
                Some(id) => Some(Some(id)),
                None => {
                    self.add(field, format!("Incorrect type. Expected pk value, received {}.", type_name(v)));
                    None
                }
            },
        }
    }

    /// A non-negative integer.
    pub fn integer(&mut self, body: &Map<String, Value>, field: &str, nullable: bool) -> Option<Option<u64>> {
        match body.get(field)? {
            Value::Null if nullable => Some(None),
            v => match v.as_u64() {
                Some(n) => Some(Some(n)),
                None => {
                    self.add(field, "A valid integer is required.");
                    None
                }
            },
        }
    }

    /// A list of integer primary keys.
    pub fn pk_list(&mut self, body: &Map<String, Value>, field: &str) -> Option<Vec<u64>> {
        match body.get(field)? {
            Value::Array(items) => {
                let ids: Vec<Option<u64>> = items.iter().map(Value::as_u64).collect();
                if let Some(bad) = items.iter().find(|v| v.as_u64().is_none()) {
                    self.add(field, format!("Incorrect type. Expected pk value, received {}.", type_name(bad)));
                    return None;
                }
                Some(ids.into_iter().flatten().collect())
            }
            other => {
                self.add(field, format!("Expected a list of items but got type \"{}\".", type_name(other)));
                None
            }
        }
    }

    /// A list of strings.
    pub fn string_list(&mut self, body: &Map<String, Value>, field: &str) -> Option<Vec<String>> {
        match body.get(field)? {
            Value::Array(items) => {
                if items.iter().any(|v| !v.is_string()) {
                    self.add(field, "Not a valid string.");
                    return None;
                }
                Some(items.iter().filter_map(|v| v.as_str().map(String::from)).collect())
            }
            Value::Null => Some(Vec::new()),
            other => {
                self.add(field, format!("Expected a list of items but got type \"{}\".", type_name(other)));
                None
            }
        }
    }
}

/// The body of a write as an object, or DRF's 400 for anything else.
pub fn object_body(body: Option<&Value>) -> Result<&Map<String, Value>, ApiError> {
    match body {
        Some(Value::Object(map)) => Ok(map),
        Some(other) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            json!({ "non_field_errors": [format!("Invalid data. Expected a dictionary, but got {}.", type_name(other))] }),
        )),
        None => Err(ApiError::detail(
            StatusCode::BAD_REQUEST,
            "JSON parse error - Expecting value: line 1 column 1 (char 0)",
        )),
    }
}

/// Default and maximum `page_size` of every paginated list.
pub const PAGE_SIZE_DEFAULT: usize = 50;
pub const PAGE_SIZE_MAX: usize = 500;

/// One page of `items` as DRF's `{count, next, previous, results}`; `next`/`previous` are absolute URLs built from
/// `url` (the request's own URL without query) and `query` (the request's query pairs, `page` replaced).
pub fn paginate(items: Vec<Value>, url: &str, query: &[(String, String)]) -> Result<Value, ApiError> {
    paginate_with(items, url, query, |v| v)
}

/// [`paginate`], rendering only the items of the requested page: a list of 10,000 evaluators is filtered as
/// stored items and only its page becomes JSON.
pub fn paginate_with<T>(
    items: Vec<T>,
    url: &str,
    query: &[(String, String)],
    render: impl Fn(T) -> Value,
) -> Result<Value, ApiError> {
    let page = page_of(items, url, query)?;
    Ok(json!({
        "count": page.count,
        "next": page.next,
        "previous": page.previous,
        "results": page.results.into_iter().map(render).collect::<Vec<Value>>(),
    }))
}

/// [`paginate_with`], written out as JSON text straight from a borrowed view of each item (the same keys in the
/// same order as the value [`paginate_with`] builds): serving a page of 500 evaluators then costs their encoding
/// only, not a JSON value of every field first, so the sandbox's own time stays small beside the client's.
pub fn paginate_json<T, V: Serialize>(
    items: Vec<T>,
    url: &str,
    query: &[(String, String)],
    view: impl Fn(T) -> V,
) -> Result<Vec<u8>, ApiError> {
    #[derive(Serialize)]
    struct Page<V> {
        count: usize,
        next: Option<String>,
        previous: Option<String>,
        results: Vec<V>,
    }
    let page = page_of(items, url, query)?;
    let page = Page {
        count: page.count,
        next: page.next,
        previous: page.previous,
        results: page.results.into_iter().map(view).collect(),
    };
    serde_json::to_vec(&page).map_err(|e| {
        ApiError::detail(StatusCode::INTERNAL_SERVER_ERROR, format!("the page cannot be written as JSON: {e}"))
    })
}

/// One page of a list: the items of the requested page, the list's size and the links to its neighbours.
struct PageOf<T> {
    count: usize,
    next: Option<String>,
    previous: Option<String>,
    results: Vec<T>,
}

fn page_of<T>(items: Vec<T>, url: &str, query: &[(String, String)]) -> Result<PageOf<T>, ApiError> {
    let get = |k: &str| query.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let page_size = match get("page_size").map(str::parse::<usize>) {
        Some(Ok(n)) if n > 0 => n.min(PAGE_SIZE_MAX),
        _ => PAGE_SIZE_DEFAULT,
    };
    let page = match get("page") {
        None => 1,
        Some("last") => items.len().div_ceil(page_size).max(1),
        Some(p) => match p.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => return Err(ApiError::detail(StatusCode::NOT_FOUND, "Invalid page.")),
        },
    };
    let pages = items.len().div_ceil(page_size).max(1);
    if page > pages {
        return Err(ApiError::detail(StatusCode::NOT_FOUND, "Invalid page."));
    }
    let link = |p: usize| -> String {
        let mut pairs: Vec<(String, String)> = query.iter().filter(|(k, _)| k != "page").cloned().collect();
        if p > 1 {
            pairs.push(("page".into(), p.to_string()));
        }
        if pairs.is_empty() {
            url.to_string()
        } else {
            let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
            format!("{url}?{}", q.join("&"))
        }
    };
    let count = items.len();
    Ok(PageOf {
        count,
        next: (page < pages).then(|| link(page + 1)),
        previous: (page > 1).then(|| link(page - 1)),
        results: items.into_iter().skip((page - 1) * page_size).take(page_size).collect(),
    })
}

/// Percent-encoding for query values in `next`/`previous` links.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Percent-decoding for query strings (`+` is a space, as in HTML forms).
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse a query string into ordered pairs.
pub fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// JSON text as Python's `json.dumps` writes it (`", "` and `": "` separators, non-ASCII escaped): what a Django
/// server puts in a text column, so clients that compare the text instead of the parsed value notice.
pub fn python_json(value: &Value) -> String {
    let mut out = String::new();
    write_python(value, &mut out);
    out
}

fn write_python(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python(v, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_string(k, out);
                out.push_str(": ");
                write_python(v, out);
            }
            out.push('}');
        }
        Value::String(s) => write_python_string(s, out),
        other => out.push_str(&other.to_string()),
    }
}

fn write_python_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_json_uses_python_separators_and_escapes() {
        let v = json!({"role": "Patient", "conditions": [{"id": 0, "action": "Olá\n"}]});
        assert_eq!(python_json(&v), r#"{"role": "Patient", "conditions": [{"id": 0, "action": "Ol\u00e1\n"}]}"#);
        assert_eq!(serde_json::from_str::<Value>(&python_json(&v)).unwrap(), v);
    }

    #[test]
    fn pagination_links_are_absolute_and_keep_filters() {
        let items: Vec<Value> = (0..5).map(Value::from).collect();
        let q = parse_query(Some("agent_id=12&page_size=2&page=2"));
        let page = paginate(items.clone(), "http://h/x/", &q).unwrap();
        assert_eq!(page["results"], json!([2, 3]));
        assert_eq!(page["next"], "http://h/x/?agent_id=12&page_size=2&page=3");
        assert_eq!(page["previous"], "http://h/x/?agent_id=12&page_size=2");
        assert_eq!(paginate(items, "http://h/x/", &parse_query(Some("page=9"))).unwrap_err().status, 404);
    }

    #[test]
    fn page_size_is_capped() {
        let items: Vec<Value> = (0..600).map(Value::from).collect();
        let page = paginate(items, "u", &parse_query(Some("page_size=10000"))).unwrap();
        assert_eq!(page["results"].as_array().unwrap().len(), PAGE_SIZE_MAX);
    }

    #[test]
    fn decode_handles_percent_and_plus() {
        assert_eq!(decode("Sales.In%20bound+x%"), "Sales.In bound x%");
    }
}
