//! How imported evaluators are spread over files and what each file factors out: one file per top-level folder,
//! the fields every evaluator of a file shares (`defaults`), and the instruction tail most of them share
//! (`instructions_suffix`).
//!
//! Pure decisions over plain values; no YAML and no I/O here. Every choice is deterministic (sorted keys, ties
//! broken by content), so the same platform state always gives the same files.

use std::collections::{BTreeMap, HashMap};

use crate::yaml::emit::Entry;

/// The file stem for evaluators in no folder. Folder slugs never start with `_`, so it cannot collide.
pub const ROOT_STEM: &str = "_root";
/// The file stem for the agent itself: project, folders, test profiles.
pub const AGENT_STEM: &str = "_agent";

/// The top-level folder of a dot path; `None` for "in no folder".
pub fn top_level(folder: &str) -> Option<&str> {
    if folder.is_empty() {
        None
    } else {
        Some(folder.split('.').next().unwrap_or(folder))
    }
}

/// A file-name-safe form of a folder name: lower-case ASCII letters and digits, other runs become one `-`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() {
        "folder".to_string()
    } else {
        trimmed.to_string()
    }
}

/// File stems for top-level folder names. Names whose slugs collide ("Sales" and "sales!") get `-2`, `-3`, ... in
/// the order of the names, so the assignment only depends on the set of names.
pub fn stems<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeMap<&'a str, String> {
    let mut by_name: BTreeMap<&str, String> = BTreeMap::new();
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    let mut sorted: Vec<&str> = names.into_iter().collect();
    sorted.sort_unstable();
    sorted.dedup();
    for name in sorted {
        let base = slug(name);
        let mut stem = base.clone();
        let mut n = 1;
        while taken.contains_key(&stem) {
            n += 1;
            stem = format!("{base}-{n}");
        }
        taken.insert(stem.clone(), 1);
        by_name.insert(name, stem);
    }
    by_name
}

/// The body of `text` once `suffix` is taken off, when the split is safe: the body is not empty and does not end
/// with whitespace, so neither the loader's normalisation of the concatenation nor of the body alone can change it.
pub fn strip_suffix<'t>(text: &'t str, suffix: &str) -> Option<&'t str> {
    let body = text.strip_suffix(suffix)?;
    let last = body.chars().last()?;
    (!last.is_whitespace()).then_some(body)
}

/// The longest tail that starts at a line break and that more than half of `texts` (and at least two) end with,
/// where taking it off leaves a safe body (see [`strip_suffix`]). Ties in length cannot happen: two different
/// tails of one length cannot both be held by more than half.
pub fn common_suffix(texts: &[&str]) -> Option<String> {
    if texts.len() < 2 {
        return None;
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for text in texts {
        for (i, _) in text.match_indices('\n') {
            let tail = &text[i..];
            if strip_suffix(text, tail).is_some() {
                *counts.entry(tail).or_default() += 1;
            }
        }
    }
    counts
        .into_iter()
        .filter(|&(_, n)| n >= 2 && n * 2 > texts.len())
        .max_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| b.0.cmp(a.0)))
        .map(|(tail, _)| tail.to_string())
}

/// Fields that may move into `defaults`. Identity and the per-evaluator texts never do.
pub const DEFAULTABLE: &[&str] = &[
    "folder",
    "first_message",
    "personality",
    "test_profile",
    "metrics",
    "tools",
    "tags",
    "language",
    "max_duration",
    "phone_number",
];

/// Move every [`DEFAULTABLE`] entry that is identical (value and comment) in all of `evaluators` (at least two)
/// out of them and into the returned `defaults` entries, in [`DEFAULTABLE`] order.
pub fn extract_defaults(evaluators: &mut [Vec<Entry>]) -> Vec<Entry> {
    let mut defaults = Vec::new();
    if evaluators.len() < 2 {
        return defaults;
    }
    for key in DEFAULTABLE {
        let find = |entries: &Vec<Entry>| entries.iter().find(|e| e.key == *key).cloned();
        let Some(first) = find(&evaluators[0]) else { continue };
        let shared = evaluators
            .iter()
            .all(|entries| find(entries).is_some_and(|e| e.value == first.value && e.trailing == first.trailing));
        if shared {
            for entries in evaluators.iter_mut() {
                entries.retain(|e| e.key != *key);
            }
            defaults.push(Entry { comments: Vec::new(), ..first });
        }
    }
    defaults
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::emit::Node;

    #[test]
    fn slugs_and_collisions() {
        assert_eq!(slug("Sales"), "sales");
        assert_eq!(slug("Customer Care / EU"), "customer-care-eu");
        assert_eq!(slug("日本"), "folder");
        let s = stems(["Sales", "sales!", "Support", "日本", "Ärger"]);
        assert_eq!(s["Sales"], "sales");
        assert_eq!(s["sales!"], "sales-2");
        assert_eq!(s["Support"], "support");
        assert_eq!(s["Ärger"], "rger");
        assert_eq!(s["日本"], "folder");
    }

    #[test]
    fn top_level_folder() {
        assert_eq!(top_level(""), None);
        assert_eq!(top_level("Sales"), Some("Sales"));
        assert_eq!(top_level("Sales.Inbound.EU"), Some("Sales"));
    }

    #[test]
    fn suffix_shared_by_most() {
        let tail = "\nAlways confirm the caller's name.\nThen end the call.";
        let a = format!("Ask about order 1.{tail}");
        let b = format!("Ask about a refund.\nBe polite.{tail}");
        let c = "Something else entirely.\nThen end the call.".to_string();
        assert_eq!(common_suffix(&[&a, &b, &c]).as_deref(), Some(tail));
        // Two of four is not more than half.
        let d = "Another.".to_string();
        assert_eq!(common_suffix(&[&a, &b, &c, &d]).as_deref(), Some("\nThen end the call."));
        assert_eq!(common_suffix(&[&a]), None);
        assert_eq!(common_suffix(&[&a, &d]), None);
    }

    #[test]
    fn suffix_never_leaves_a_body_ending_in_a_blank_line() {
        let a = "First.\n\nShared tail.";
        let b = "Second.\n\nShared tail.";
        assert_eq!(common_suffix(&[a, b]).as_deref(), Some("\n\nShared tail."));
        assert_eq!(strip_suffix(a, "\nShared tail."), None);
        assert_eq!(strip_suffix("\nShared tail.", "\nShared tail."), None);
        assert_eq!(strip_suffix(a, "\n\nShared tail."), Some("First."));
    }

    use proptest::prelude::*;

    /// Normalised texts built from a few lines that share tails often, with blanks and indentation.
    fn texts() -> impl Strategy<Value = Vec<String>> {
        let line = prop_oneof![
            Just(String::new()),
            Just("  indented".to_string()),
            Just("Always confirm the name.".to_string()),
            Just("End the call.".to_string()),
            "[a-c ]{1,4}",
        ];
        let text = proptest::collection::vec(line, 1..6)
            .prop_map(|lines| crate::model::normalize_long_text(&lines.join("\n")))
            .prop_filter("not empty", |t| !t.is_empty());
        proptest::collection::vec(text, 0..6)
    }

    proptest! {
        /// The split survives the loader's normalisation, whether it normalises the concatenation or each part.
        #[test]
        fn suffix_split_round_trips(texts in texts()) {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            if let Some(suffix) = common_suffix(&refs) {
                prop_assert!(suffix.starts_with('\n'));
                let holders = refs.iter().filter(|t| strip_suffix(t, &suffix).is_some()).count();
                prop_assert!(holders >= 2 && holders * 2 > refs.len());
                for text in &refs {
                    if let Some(body) = strip_suffix(text, &suffix) {
                        let joined = format!("{body}{suffix}");
                        prop_assert_eq!(crate::model::normalize_long_text(&joined), *text);
                        let parts = format!("{}{}", crate::model::normalize_long_text(body), suffix);
                        prop_assert_eq!(parts, *text);
                    }
                }
            }
        }
    }

    #[test]
    fn defaults_take_only_what_all_share() {
        let ev = |p: u64, tags: &[&str]| {
            vec![
                Entry::new("name", Node::Str("x".into())),
                Entry::new("personality", Node::Int(p)).trailing(Some("Normal Male".into())),
                Entry::new("tags", Node::Flow(tags.iter().map(|t| Node::Str(t.to_string())).collect())),
                Entry::new("language", Node::Str("en".into())),
            ]
        };
        let mut evs = vec![ev(7, &["a"]), ev(7, &["b"])];
        let defaults = extract_defaults(&mut evs);
        let keys: Vec<&str> = defaults.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["personality", "language"]);
        assert_eq!(defaults[0].trailing.as_deref(), Some("Normal Male"));
        assert!(evs.iter().all(|e| e.iter().map(|e| e.key.as_str()).eq(["name", "tags"])));
        let mut one = vec![ev(7, &["a"])];
        assert!(extract_defaults(&mut one).is_empty());
        assert_eq!(one[0].len(), 4);
    }
}
