//! `--target` and `--exclude`: which resources a plan may touch.
//!
//! A pattern is a glob (crate `glob`) matched against a resource's name (`Address::name`) or its whole address.
//! With targets, only matching resources are planned; an exclude always wins over a target. This module only
//! answers "is this address selected"; how dependencies of a selected resource are treated is decided in
//! `build` (a selected evaluator pulls in the folders and new test profile it needs, with a note).

use std::cell::RefCell;

use glob::Pattern;

use super::{PlanError, PlanSettings};
use crate::model::Address;

/// One `--target`/`--exclude` pattern: the glob, and the same text with its brackets read literally.
#[derive(Debug, Clone)]
struct Glob {
    text: String,
    glob: Pattern,
    /// `cekura.agent[12].*` means agent 12, not "a character among 1 and 2": the pattern matches when either
    /// reading does.
    literal_brackets: Option<Pattern>,
}

impl Glob {
    /// A malformed glob gives the parser's message.
    fn new(text: &str) -> Result<Glob, &'static str> {
        let glob = Pattern::new(text).map_err(|e| e.msg)?;
        let escaped: String = text
            .chars()
            .map(|c| match c {
                '[' => "[[]".to_string(),
                ']' => "[]]".to_string(),
                c => c.to_string(),
            })
            .collect();
        let literal_brackets = if text.contains('[') { Pattern::new(&escaped).ok() } else { None };
        Ok(Glob { text: text.to_string(), glob, literal_brackets })
    }

    fn hits(&self, address: &Address, full: &str) -> bool {
        let either = |p: &Pattern| p.matches(address.name()) || p.matches(full);
        // A literal address matches itself too, so users need not escape its brackets.
        self.text == full || either(&self.glob) || self.literal_brackets.as_ref().is_some_and(either)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Selection {
    targets: Vec<Glob>,
    excludes: Vec<Glob>,
    /// Which patterns matched at least one resource the planner looked at (targets first, then excludes).
    used: RefCell<Vec<bool>>,
}

impl Selection {
    /// Compile the settings' patterns; a malformed glob is a [`PlanError::BadPattern`].
    pub fn new(settings: &PlanSettings) -> Result<Selection, Vec<PlanError>> {
        let mut errors = Vec::new();
        let mut compile = |list: &[String]| {
            list.iter()
                .filter_map(|p| match Glob::new(p) {
                    Ok(g) => Some(g),
                    Err(message) => {
                        errors.push(PlanError::BadPattern { pattern: p.clone(), message: message.to_string() });
                        None
                    }
                })
                .collect::<Vec<_>>()
        };
        let targets = compile(&settings.targets);
        let excludes = compile(&settings.excludes);
        if errors.is_empty() {
            let used = RefCell::new(vec![false; targets.len() + excludes.len()]);
            Ok(Selection { targets, excludes, used })
        } else {
            Err(errors)
        }
    }

    /// Whether the user limited the plan at all (then the plan carries a note saying so).
    pub fn is_partial(&self) -> bool {
        !self.targets.is_empty() || !self.excludes.is_empty()
    }

    pub fn selects(&self, address: &Address) -> bool {
        let full = address.to_string();
        let mut used = self.used.borrow_mut();
        let n = self.targets.len();
        // Every pattern is tried (not only up to the first hit), so that "matches nothing" is exact.
        let mut excluded = false;
        for (i, g) in self.excludes.iter().enumerate() {
            if g.hits(address, &full) {
                used[n + i] = true;
                excluded = true;
            }
        }
        let mut targeted = self.targets.is_empty();
        for (i, g) in self.targets.iter().enumerate() {
            if g.hits(address, &full) {
                used[i] = true;
                targeted = true;
            }
        }
        targeted && !excluded
    }

    /// The patterns that matched no resource: each is an error (a typo would otherwise plan "no changes").
    pub fn unused(&self) -> Vec<PlanError> {
        let used = self.used.borrow();
        let kinds = self.targets.iter().map(|g| ("--target", g)).chain(self.excludes.iter().map(|g| ("--exclude", g)));
        kinds
            .zip(used.iter())
            .filter(|(_, used)| !**used)
            .map(|((flag, g), _)| PlanError::PatternMatchesNothing { flag: flag.to_string(), pattern: g.text.clone() })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(targets: &[&str], excludes: &[&str]) -> Selection {
        Selection::new(&PlanSettings {
            targets: targets.iter().map(|s| s.to_string()).collect(),
            excludes: excludes.iter().map(|s| s.to_string()).collect(),
            ..PlanSettings::default()
        })
        .unwrap()
    }

    #[test]
    fn names_and_addresses_match() {
        let a = Address::Evaluator { agent: 12, name: "Order status".into() };
        assert!(sel(&[], &[]).selects(&a));
        assert!(sel(&["Order*"], &[]).selects(&a));
        assert!(sel(&["cekura.agent?12?.evaluator*"], &[]).selects(&a));
        assert!(sel(&[r#"cekura.agent[12].evaluator["Order status"]"#], &[]).selects(&a), "literal address");
        assert!(!sel(&["Refund*"], &[]).selects(&a));
        assert!(!sel(&["*"], &["Order*"]).selects(&a), "exclude wins");
    }

    #[test]
    fn brackets_are_read_literally_too_and_unused_patterns_are_reported() {
        let agent1 = Address::Evaluator { agent: 1, name: "Order status".into() };
        let agent12 = Address::Evaluator { agent: 12, name: "Order status".into() };
        let s = sel(&["cekura.agent[1].*"], &["Nothing*"]);
        assert!(s.selects(&agent1), "[1] is agent 1");
        assert!(!s.selects(&agent12));
        let unused: Vec<String> = s.unused().iter().map(ToString::to_string).collect();
        assert_eq!(unused, ["--exclude `Nothing*` matches no resource of the manifests' agents and prompts"]);
        assert!(sel(&["Order [st]tatus"], &[]).selects(&agent1), "a class still works");
    }

    #[test]
    fn bad_glob_is_an_error() {
        let err = Selection::new(&PlanSettings { targets: vec!["[".into()], ..PlanSettings::default() }).unwrap_err();
        assert!(matches!(&err[0], PlanError::BadPattern { pattern, .. } if pattern == "["), "{err:?}");
    }
}
