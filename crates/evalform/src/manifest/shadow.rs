//! Defaults that no evaluator uses: a `defaults` key that every evaluator of the file sets itself. Not an error
//! (the file means what it says), but `validate` warns, since adding to such a default changes nothing; for sets,
//! `extra_metrics` / `extra_tools` / `extra_tags` are what add to every evaluator.

use super::raw;
use super::{Diagnostic, ManifestFile};
use crate::yaml::{self, TreePositions};

/// One warning per `defaults` key that every evaluator of its file overrides. Files that do not load are skipped
/// (the loader reports them). The loader gives the same warnings as [`super::Manifests::shadowed`] without reading
/// the files again.
pub fn shadowed_defaults(files: &[ManifestFile]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for file in files {
        let name = file.path.to_string_lossy().replace('\\', "/");
        let Ok(Some(document)) = yaml::parse_document(&file.text) else { continue };
        let mut root = document.root;
        let typed = match document.tags_or_aliases {
            false => yaml::de::from_tree::<raw::Manifest>(&mut root).ok(),
            true => None,
        };
        let Some(manifest) = typed.or_else(|| yaml::from_str::<raw::Manifest>(&file.text).ok()) else { continue };
        out.extend(shadowed_in(&name, &file.text, &manifest, &TreePositions::new(root)));
    }
    out
}

/// The warnings of one file, read as `manifest`, its positions in `index`.
pub(crate) fn shadowed_in(name: &str, text: &str, manifest: &raw::Manifest, index: &TreePositions) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(cekura) = &manifest.cekura else { return out };
    let (Some(defaults), Some(evaluators)) = (&cekura.defaults, &cekura.evaluators) else { return out };
    if evaluators.is_empty() {
        return out;
    }
    // Which fields every evaluator sets.
    let mut everywhere = [true; 16];
    for e in evaluators {
        for (all, (_, set)) in everywhere.iter_mut().zip(e.set_fields()) {
            *all &= set;
        }
    }
    for ((key, set), all) in defaults.set_fields().into_iter().zip(everywhere) {
        // `instructions_suffix` is appended to the evaluator's own instructions, so it is never shadowed.
        if !set || key == "instructions_suffix" || !all {
            continue;
        }
        let at = index.nearest(&format!("cekura.defaults.{key}"));
        let pos = at.key.unwrap_or(at.value);
        let width = if at.key.is_some() { at.key_width } else { at.value_width };
        let mut d = Diagnostic::at(
            name,
            text,
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
