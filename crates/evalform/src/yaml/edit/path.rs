//! Paths into a YAML document, the same form [`crate::yaml::PositionIndex`] uses: `cekura.evaluators[3].tags`.
//! A key that is not a plain word (it holds `.`, `[`, `]` or `"`, or is empty) is written as a JSON string in
//! brackets: `main_agent_variables["user.id"]`.

use super::EditError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// Append `key` to `path` in the form [`parse`] reads back.
pub fn key_path(path: &str, key: &str) -> String {
    let plain = !key.is_empty() && !key.contains(['.', '[', ']', '"']);
    match (plain, path.is_empty()) {
        (true, true) => key.to_string(),
        (true, false) => format!("{path}.{key}"),
        (false, _) => format!("{path}[{}]", serde_json::to_string(key).unwrap_or_default()),
    }
}

pub fn parse(path: &str) -> Result<Vec<Segment>, EditError> {
    let bad = |reason: &str| EditError::BadPath { path: path.to_string(), reason: reason.to_string() };
    let mut out = Vec::new();
    let mut rest = path;
    let mut first = true;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            if r.starts_with('"') {
                // A quoted key: find the closing quote that JSON would accept.
                let mut de = serde_json::Deserializer::from_str(r).into_iter::<String>();
                let key = match de.next() {
                    Some(Ok(k)) => k,
                    _ => return Err(bad("a quoted key is not a valid JSON string")),
                };
                let used = de.byte_offset();
                rest = r[used..].strip_prefix(']').ok_or_else(|| bad("`]` expected after a quoted key"))?;
                out.push(Segment::Key(key));
            } else {
                let (n, r) = r.split_once(']').ok_or_else(|| bad("`]` expected"))?;
                out.push(Segment::Index(n.parse().map_err(|_| bad("an index is a number"))?));
                rest = r;
            }
        } else {
            let r = if first { rest } else { rest.strip_prefix('.').ok_or_else(|| bad("`.` or `[` expected"))? };
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return Err(bad("an empty key"));
            }
            out.push(Segment::Key(r[..end].to_string()));
            rest = &r[end..];
        }
        first = false;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        let p = key_path(&key_path("cekura.evaluators[3]", "tags"), "user.id");
        assert_eq!(p, r#"cekura.evaluators[3].tags["user.id"]"#);
        assert_eq!(
            parse(&p).unwrap(),
            vec![
                Segment::Key("cekura".into()),
                Segment::Key("evaluators".into()),
                Segment::Index(3),
                Segment::Key("tags".into()),
                Segment::Key("user.id".into()),
            ]
        );
        assert!(parse("a..b").is_err());
        assert!(parse("a[x]").is_err());
    }
}
