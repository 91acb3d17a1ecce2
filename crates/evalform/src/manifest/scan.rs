//! A quick look at the manifests' headers, before they are loaded: which Cekura agents (and their projects) and
//! which Tela prompts they name, so that the platform reads can start while the files are parsed.
//!
//! It is a guess, never a verdict: it reads lines, not YAML, and finds only the plain block form
//! (`cekura:` then an indented `agent: 12`, `project: 7`; `tela:` then `prompt: ID`). Whatever it misses or gets
//! wrong costs time only: the loader's state is what the reads are checked against.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::model::AgentId;

/// What the headers name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    /// Agent -> the project a header gives for it (`None` when none does, or two disagree).
    pub agents: BTreeMap<AgentId, Option<u64>>,
    pub prompts: BTreeSet<String>,
}

impl Targets {
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty() && self.prompts.is_empty()
    }
}

/// The agents and prompts named by the manifests below `paths` (found as [`super::discover`] finds them).
pub fn scan(paths: &[PathBuf]) -> Targets {
    let mut out = Targets::default();
    let mut projects: BTreeMap<AgentId, BTreeSet<u64>> = BTreeMap::new();
    for path in super::discover(paths).files {
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let (agent, project, prompt) = scan_text(&text);
        if let Some(agent) = agent {
            projects.entry(agent).or_default().extend(project);
        }
        if let Some(prompt) = prompt {
            out.prompts.insert(prompt);
        }
    }
    out.agents = projects
        .into_iter()
        .map(|(agent, ps)| (agent, if ps.len() == 1 { ps.into_iter().next() } else { None }))
        .collect();
    out
}

/// One file's `cekura.agent`, `cekura.project` and `tela.prompt`, when written in the plain block form.
fn scan_text(text: &str) -> (Option<AgentId>, Option<u64>, Option<String>) {
    let (mut agent, mut project, mut prompt) = (None, None, None);
    let mut section = "";
    // The indentation of the current section's keys, learnt from its first key.
    let mut indent: Option<usize> = None;
    for line in text.lines() {
        let body = line.trim_start_matches(' ');
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let width = line.len() - body.len();
        if width == 0 {
            section = match body.split_once(':') {
                Some((key, rest)) if rest.trim().is_empty() || rest.trim_start().starts_with('#') => key.trim(),
                _ => "",
            };
            indent = None;
            continue;
        }
        if section.is_empty() || *indent.get_or_insert(width) != width {
            continue;
        }
        let Some((key, value)) = body.split_once(':') else { continue };
        let value = value.split(" #").next().unwrap_or("").trim();
        match (section, key) {
            ("cekura", "agent") => agent = value.parse().ok(),
            ("cekura", "project") => project = value.parse().ok(),
            ("tela", "prompt") => {
                let v = value.trim_matches(|c| c == '"' || c == '\'');
                if !v.is_empty() && !v.contains("${") {
                    prompt = Some(v.to_string());
                }
            }
            _ => {}
        }
    }
    (agent, project, prompt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_form_is_read() {
        let text = "# c\nversion: 1\ncekura:\n  agent: 101 # the line\n  folders: [A]\n  evaluators:\n    - name: x\n      agent: 5\n  project: 7\n";
        assert_eq!(scan_text(text), (Some(101), Some(7), None));
        let tela = "version: 1\ntela:\n    prompt: \"5f0c\"\n    test_cases: []\n";
        assert_eq!(scan_text(tela), (None, None, Some("5f0c".to_string())));
        let both = "version: 1\ncekura:\n  agent: 3\n  project: 4\ntela:\n  prompt: p-1\n";
        assert_eq!(scan_text(both), (Some(3), Some(4), Some("p-1".to_string())));
    }

    #[test]
    fn other_forms_are_not_guessed() {
        assert_eq!(scan_text("cekura: {agent: 1}\n"), (None, None, None));
        assert_eq!(scan_text("cekura:\n  agent: support-bot\n"), (None, None, None));
        assert_eq!(scan_text("other:\n  agent: 3\n"), (None, None, None));
        assert_eq!(scan_text("tela:\n  prompt: ${env:P}\n"), (None, None, None));
    }
}
