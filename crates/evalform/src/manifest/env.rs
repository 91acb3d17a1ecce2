//! `${env:NAME}` interpolation. A string with at least one reference becomes a sensitive [`Text`] that remembers
//! its template, so the value never reaches an output; a string without one stays plain.
//!
//! - `${env:NAME}` must be set and not empty: CI systems export a missing secret as an empty variable, and an empty
//!   value would silently replace the platform's text with nothing.
//! - `${env:NAME:-}` opts in to an empty value (unset or empty gives nothing); `${env:NAME:-TEXT}` gives `TEXT`
//!   when the variable is unset or empty.
//! - `$${env:NAME}` is the escape for platform text that literally contains `${env:NAME}`: it is written as
//!   `${env:NAME}`, with nothing read from the environment (a `$` right before `${env:` escapes it).
//!
//! This module reads the environment only through the function it is given (tests pass a map), and it never
//! puts a value into an error: errors name the variable, never what it holds.

use crate::model::Text;

use super::EnvMode;

const OPEN: &str = "${env:";

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("environment variable `{name}` is not set")]
    Unset { name: String },
    #[error("environment variable `{name}` is empty")]
    Empty { name: String },
    #[error("`${{env:...}}` at character {offset} is not closed with `}}`")]
    Unclosed { offset: usize },
    #[error("`{name}` is not a valid environment variable name")]
    BadName { name: String },
}

/// Replace every `${env:NAME}` in `template`. In [`EnvMode::Deferred`] an unset variable is not an error: the whole
/// value is left empty (and sensitive), since `validate` does not need it.
pub fn interpolate(template: &str, env: &dyn Fn(&str) -> Option<String>, mode: EnvMode) -> Result<Text, Vec<EnvError>> {
    if !template.contains(OPEN) {
        return Ok(Text::new(template));
    }
    let mut out = String::new();
    let mut errors = Vec::new();
    let mut unset = false;
    let mut references = 0;
    let mut rest = template;
    let mut consumed = 0;
    while let Some(start) = rest.find(OPEN) {
        if rest[..start].ends_with('$') {
            // `$${env:` : the literal text `${env:`.
            out.push_str(&rest[..start - 1]);
            out.push_str(OPEN);
            consumed += start + OPEN.len();
            rest = &rest[start + OPEN.len()..];
            continue;
        }
        references += 1;
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find('}') else {
            errors.push(EnvError::Unclosed { offset: template[..consumed + start].chars().count() + 1 });
            rest = "";
            break;
        };
        let (name, fallback) = match after[..end].split_once(":-") {
            Some((name, fallback)) => (name, Some(fallback)),
            None => (&after[..end], None),
        };
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            errors.push(EnvError::BadName { name: name.to_string() });
        } else {
            match (env(name).filter(|v| !v.is_empty()), fallback) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(fallback)) => out.push_str(fallback),
                (None, None) if mode == EnvMode::Deferred => unset = true,
                (None, None) if env(name).is_some() => errors.push(EnvError::Empty { name: name.to_string() }),
                (None, None) => errors.push(EnvError::Unset { name: name.to_string() }),
            }
        }
        consumed += start + OPEN.len() + end + 1;
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    if !errors.is_empty() {
        return Err(errors);
    }
    if references == 0 {
        // Only escapes: plain text.
        return Ok(Text::new(out));
    }
    if unset {
        out.clear();
    }
    Ok(Text::sensitive(out, template))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cr3t-value".into()),
            "USER_ID" => Some("U-42".into()),
            _ => None,
        }
    }

    #[test]
    fn plain_strings_stay_plain() {
        let t = interpolate("no references here", &env, EnvMode::Required).unwrap();
        assert!(!t.is_sensitive());
        assert_eq!(t.expose(), "no references here");
    }

    #[test]
    fn references_become_sensitive_and_never_show_in_debug() {
        let t = interpolate("Bearer ${env:TOKEN} for ${env:USER_ID}", &env, EnvMode::Required).unwrap();
        assert_eq!(t.expose(), "Bearer s3cr3t-value for U-42");
        assert_eq!(t.template(), Some("Bearer ${env:TOKEN} for ${env:USER_ID}"));
        let debug = format!("{t:?} {:?}", Some(&t));
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert_eq!(debug, "(sensitive) Some((sensitive))");
    }

    #[test]
    fn unset_variables_depend_on_the_mode() {
        let deferred = interpolate("x ${env:MISSING}", &env, EnvMode::Deferred).unwrap();
        assert!(deferred.is_sensitive());
        assert_eq!(deferred.expose(), "");
        let required = interpolate("x ${env:MISSING} ${env:TOKEN}", &env, EnvMode::Required).unwrap_err();
        assert_eq!(required, vec![EnvError::Unset { name: "MISSING".into() }]);
    }

    #[test]
    fn an_empty_variable_is_an_error_unless_opted_in() {
        let env = |name: &str| match name {
            "EMPTY" => Some(String::new()),
            "SET" => Some("v4lue".to_string()),
            _ => None,
        };
        assert_eq!(
            interpolate("x ${env:EMPTY}", &env, EnvMode::Required).unwrap_err(),
            vec![EnvError::Empty { name: "EMPTY".into() }]
        );
        assert_eq!(interpolate("x${env:EMPTY:-}y", &env, EnvMode::Required).unwrap().expose(), "xy");
        assert_eq!(interpolate("x${env:MISSING:-}y", &env, EnvMode::Required).unwrap().expose(), "xy");
        assert_eq!(interpolate("${env:EMPTY:-fallback}", &env, EnvMode::Required).unwrap().expose(), "fallback");
        assert_eq!(interpolate("${env:SET:-fallback}", &env, EnvMode::Required).unwrap().expose(), "v4lue");
    }

    #[test]
    fn a_doubled_dollar_writes_a_literal_reference() {
        let t = interpolate("path $${env:HOME}/x", &env, EnvMode::Required).unwrap();
        assert!(!t.is_sensitive());
        assert_eq!(t.expose(), "path ${env:HOME}/x");
        let t = interpolate("$${env:HOME} and ${env:TOKEN}", &env, EnvMode::Required).unwrap();
        assert!(t.is_sensitive());
        assert_eq!(t.expose(), "${env:HOME} and s3cr3t-value");
    }

    #[test]
    fn malformed_references_are_errors_in_every_mode() {
        assert_eq!(
            interpolate("a ${env:TOKEN", &env, EnvMode::Deferred).unwrap_err(),
            vec![EnvError::Unclosed { offset: 3 }]
        );
        assert_eq!(
            interpolate("${env:9X}", &env, EnvMode::Deferred).unwrap_err(),
            vec![EnvError::BadName { name: "9X".into() }]
        );
    }
}
