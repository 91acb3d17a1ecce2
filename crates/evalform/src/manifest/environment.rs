//! What a manifest may take from the chosen environment of the project file (`evalform.toml`): agent names,
//! Tela prompt names and `${var:NAME}` values. Values of `vars` are not sensitive: they show in plans as written.
//!
//! This module is kept apart from `${env:...}` interpolation on purpose: [`interpolate_vars`] runs first, once,
//! from the one place that reads a string value (`convert`), and leaves `${env:...}` untouched.

use std::collections::BTreeMap;

const OPEN: &str = "${var:";

/// One environment of the project file, as the loader needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    /// Its name (`staging`), for messages.
    pub name: String,
    /// Agent names used in manifests -> this environment's agent ids.
    pub agents: BTreeMap<String, u64>,
    /// Tela prompt names used in manifests -> this environment's prompt uuids.
    pub tela_prompts: BTreeMap<String, String>,
    /// `${var:NAME}` values.
    pub vars: BTreeMap<String, String>,
}

/// Why a `${var:...}` reference could not be replaced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VarError {
    #[error("`${{var:{name}}}` is not defined in environment `{env}`")]
    Unknown { name: String, env: String, known: Vec<String> },
    #[error("`${{var:{name}}}` needs an environment of a project file (evalform.toml), and none is in use")]
    NoEnvironment { name: String },
    #[error("`${{var:...}}` at character {offset} is not closed with `}}`")]
    Unclosed { offset: usize },
}

/// Does `s` contain a `${var:...}` reference?
pub fn has_var_reference(s: &str) -> bool {
    s.contains(OPEN)
}

/// Replace every `${var:NAME}` in `s` with the environment's value. A string without one is returned as is.
pub fn interpolate_vars(s: &str, env: Option<&Environment>) -> Result<String, Vec<VarError>> {
    if !has_var_reference(s) {
        return Ok(s.to_string());
    }
    let mut out = String::new();
    let mut errors = Vec::new();
    let mut rest = s;
    let mut consumed = 0;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find('}') else {
            errors.push(VarError::Unclosed { offset: s[..consumed + start].chars().count() + 1 });
            rest = "";
            break;
        };
        let name = &after[..end];
        match env {
            None => errors.push(VarError::NoEnvironment { name: name.to_string() }),
            Some(e) => match e.vars.get(name) {
                Some(v) => out.push_str(v),
                None => errors.push(VarError::Unknown {
                    name: name.to_string(),
                    env: e.name.clone(),
                    known: e.vars.keys().cloned().collect(),
                }),
            },
        }
        consumed += start + OPEN.len() + end + 1;
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// `a`, `b` and `c` / `none`.
pub(crate) fn list(names: &[String]) -> String {
    if names.is_empty() {
        return "none".to_string();
    }
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staging() -> Environment {
        Environment {
            name: "staging".into(),
            vars: BTreeMap::from([("greeting".into(), "Hi there".into()), ("phone".into(), "44".into())]),
            ..Environment::default()
        }
    }

    #[test]
    fn vars_are_replaced_and_other_references_left_alone() {
        let env = staging();
        assert_eq!(interpolate_vars("no refs", Some(&env)).unwrap(), "no refs");
        assert_eq!(
            interpolate_vars("${var:greeting}, call ${var:phone} ${env:TOKEN}", Some(&env)).unwrap(),
            "Hi there, call 44 ${env:TOKEN}"
        );
    }

    #[test]
    fn unknown_names_and_missing_environments_are_errors() {
        let env = staging();
        assert_eq!(
            interpolate_vars("${var:nope}", Some(&env)).unwrap_err(),
            vec![VarError::Unknown {
                name: "nope".into(),
                env: "staging".into(),
                known: vec!["greeting".into(), "phone".into()]
            }]
        );
        assert_eq!(
            interpolate_vars("${var:greeting}", None).unwrap_err(),
            vec![VarError::NoEnvironment { name: "greeting".into() }]
        );
        assert_eq!(interpolate_vars("ab ${var:x", Some(&env)).unwrap_err(), vec![VarError::Unclosed { offset: 4 }]);
    }
}
