//! `--target` and `--exclude`: which resources a plan may touch.
//!
//! A pattern is a glob (crate `glob`) matched against a resource's name (`Address::name`) or its whole address.
//! With targets, only matching resources are planned; an exclude always wins over a target. This module only
//! answers "is this address selected"; how dependencies of a selected resource are treated is decided in
//! `build` (a selected evaluator pulls in the folders and new test profile it needs, with a note).

use glob::Pattern;

use super::{PlanError, PlanSettings};
use crate::model::Address;

#[derive(Debug, Clone, Default)]
pub struct Selection {
    targets: Vec<Pattern>,
    excludes: Vec<Pattern>,
}

impl Selection {
    /// Compile the settings' patterns; a malformed glob is a [`PlanError::BadPattern`].
    pub fn new(settings: &PlanSettings) -> Result<Selection, Vec<PlanError>> {
        let mut errors = Vec::new();
        let mut compile = |list: &[String]| {
            list.iter()
                .filter_map(|p| match Pattern::new(p) {
                    Ok(pat) => Some(pat),
                    Err(e) => {
                        errors.push(PlanError::BadPattern { pattern: p.clone(), message: e.msg.to_string() });
                        None
                    }
                })
                .collect::<Vec<_>>()
        };
        let targets = compile(&settings.targets);
        let excludes = compile(&settings.excludes);
        if errors.is_empty() {
            Ok(Selection { targets, excludes })
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
        // A literal address matches itself too, so users need not escape its brackets.
        let hit = |p: &Pattern| p.as_str() == full || p.matches(address.name()) || p.matches(&full);
        if self.excludes.iter().any(hit) {
            return false;
        }
        self.targets.is_empty() || self.targets.iter().any(hit)
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
    fn bad_glob_is_an_error() {
        let err = Selection::new(&PlanSettings { targets: vec!["[".into()], ..PlanSettings::default() }).unwrap_err();
        assert!(matches!(&err[0], PlanError::BadPattern { pattern, .. } if pattern == "["), "{err:?}");
    }
}
