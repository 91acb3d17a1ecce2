//! API keys as a type that cannot leak by accident.
//!
//! [`ApiKey`] prints `***` through both `Debug` and `Display`, so a key inside a client, a settings struct, an
//! error or a log line never shows. The only way to the value is [`ApiKey::expose`], which the HTTP transport
//! calls once per client to build its auth header. This module must not offer `Serialize`, `Clone`-to-string
//! conversions or anything else that turns a key back into ordinary text.

use std::fmt;

/// An API key (`CEKURA_API_KEY`, `TELA_API_KEY`). `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// A key, or `None` when the text is empty or only whitespace (an unset variable exported as `""`).
    pub fn new(value: impl Into<String>) -> Option<Self> {
        let value = value.into();
        let trimmed = value.trim();
        if trimmed.is_empty() {
            None
        } else {
            Some(ApiKey(trimmed.to_string()))
        }
    }

    /// The real value, for the auth header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_never_prints() {
        let key = ApiKey::new("sk-live-123456").unwrap();
        assert_eq!(format!("{key} {key:?} {:?}", Some(&key)), "*** *** Some(***)");
        assert_eq!(key.expose(), "sk-live-123456");
    }

    #[test]
    fn empty_key_is_no_key() {
        assert!(ApiKey::new("").is_none());
        assert!(ApiKey::new("  \n").is_none());
        assert_eq!(ApiKey::new(" k \n").unwrap().expose(), "k");
    }
}
