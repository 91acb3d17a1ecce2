//! Defaults that no evaluator uses: a `defaults` key that every evaluator of the file sets itself. Not an error
//! (the file means what it says), but `validate` warns, since adding to such a default changes nothing; for sets,
//! `extra_metrics` / `extra_tools` / `extra_tags` are what add to every evaluator.

use super::raw::{self, EvaluatorFields};
use super::{Diagnostic, ManifestFile};
use crate::yaml::{self, PositionIndex};

/// The keys of `fields` that are set.
fn set_keys(f: &EvaluatorFields) -> Vec<&'static str> {
    let all = [
        ("folder", f.folder.is_some()),
        ("type", f.kind.is_some()),
        ("instructions", f.instructions.is_some()),
        ("instructions_suffix", f.instructions_suffix.is_some()),
        ("conditional_actions", f.conditional_actions.is_some()),
        ("expected_outcome", f.expected_outcome.is_some()),
        ("first_message", f.first_message.is_some()),
        ("personality", f.personality.is_some()),
        ("test_profile", f.test_profile.is_some()),
        ("metrics", f.metrics.is_some()),
        ("tools", f.tools.is_some()),
        ("tags", f.tags.is_some()),
        ("language", f.language.is_some()),
        ("max_duration", f.max_duration.is_some()),
        ("phone_number", f.phone_number.is_some()),
        ("ignore_changes", f.ignore_changes.is_some()),
    ];
    all.into_iter().filter(|(_, set)| *set).map(|(k, _)| k).collect()
}

/// One warning per `defaults` key that every evaluator of its file overrides. Files that do not load are skipped
/// (the loader reports them).
pub fn shadowed_defaults(files: &[ManifestFile]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for file in files {
        let name = file.path.to_string_lossy().replace('\\', "/");
        let Ok(Some(root)) = yaml::parse_tree(&file.text) else { continue };
        let Ok(manifest) = yaml::from_str::<raw::Manifest>(&file.text) else { continue };
        let Some(cekura) = manifest.cekura else { continue };
        let (Some(defaults), Some(evaluators)) = (cekura.defaults, cekura.evaluators) else { continue };
        if evaluators.is_empty() {
            continue;
        }
        let index = PositionIndex::build(&root);
        let own: Vec<Vec<&'static str>> = evaluators.iter().map(|e| set_keys(&e.fields())).collect();
        for key in set_keys(&defaults.fields()) {
            // `instructions_suffix` is appended to the evaluator's own instructions, so it is never shadowed.
            if key == "instructions_suffix" || !own.iter().all(|keys| keys.contains(&key)) {
                continue;
            }
            let at = index.nearest(&format!("cekura.defaults.{key}"));
            let pos = at.key.unwrap_or(at.value);
            let width = if at.key.is_some() { at.key_width } else { at.value_width };
            let mut d = Diagnostic::at(
                &name,
                &file.text,
                pos,
                width,
                format!("`defaults.{key}` is never used: every evaluator of this file sets `{key}` itself"),
            )
            .label("shadowed by every evaluator");
            d = if matches!(key, "metrics" | "tools" | "tags") {
                d.help(format!("to add to every evaluator's own `{key}`, use `defaults.extra_{key}`"))
            } else {
                d.help("remove it, or remove the value from the evaluators that repeat it")
            };
            out.push(d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_every_evaluator_overrides_is_reported_once() {
        let text = "version: 1\ncekura:\n  agent: 5\n  defaults:\n    metrics: [1]\n    tags: [a]\n  evaluators:\n    \
                    - name: A\n      metrics: [2]\n    - name: B\n      metrics: [3]\n      tags: [b]\n";
        let files = vec![ManifestFile { path: "f.yaml".into(), text: text.into() }];
        let found = shadowed_defaults(&files);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].location(), "f.yaml:5:5");
        assert!(found[0].message.contains("`defaults.metrics` is never used"), "{}", found[0].message);
        assert_eq!(
            found[0].help.as_deref(),
            Some("to add to every evaluator's own `metrics`, use `defaults.extra_metrics`")
        );
    }
}
