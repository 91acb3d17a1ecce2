//! The one redaction step: every secret value of the run, masked wherever it appears in a string that leaves the
//! process.
//!
//! The library masks sensitive values *by field* (a `${env:NAME}` text prints as `(sensitive)`), which cannot see a
//! secret in a place no field marks: the platform's old value of a field that no longer references the variable,
//! the platform side of a flow diff, a 400 body that quotes what was sent, a log line. This module masks *by
//! value*: every value read for a `${env:NAME}` of the manifests ([`crate::commands::process_env`]), the API keys
//! ([`crate::env::api_key`]) and the password of a base URL are registered here as soon as they are read, and the
//! [`crate::printer::Printer`] (stdout and stderr), the log writer, the progress bar and the saved plan file pass
//! every string through [`scrub`] before it leaves.
//!
//! Short values: a value of [`MIN_ANYWHERE`] characters or more is masked wherever it occurs; a value of
//! [`MIN_WORD`] to [`MIN_ANYWHERE`]` - 1` characters only where it stands as a whole word (not next to a letter or
//! a digit), so that a four-digit PIN does not eat every number of the output; a value shorter than [`MIN_WORD`]
//! cannot be told apart from ordinary text and is left to the by-field masking alone. docs/secrets.md says so.
//!
//! A value is registered with its JSON-escaped form too (a secret with a quote or a newline appears escaped in JSON
//! output and in a platform's JSON error body).

use std::borrow::Cow;
use std::sync::RwLock;

use evalform::model::SENSITIVE_MARK;

/// Values this long or longer are masked wherever they occur.
pub const MIN_ANYWHERE: usize = 8;
/// Values this long (and shorter than [`MIN_ANYWHERE`]) are masked where they stand as a whole word.
pub const MIN_WORD: usize = 4;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remember a secret value of this run. Empty and very short values are ignored (see the module docs).
pub fn register(value: &str) {
    let mut forms = vec![value.to_string(), value.trim().to_string()];
    if let Ok(json) = serde_json::to_string(value) {
        forms.push(json[1..json.len() - 1].to_string());
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for form in forms {
        if form.chars().count() >= MIN_WORD && !secrets.contains(&form) {
            secrets.push(form);
        }
    }
    // Longest first, so that a secret containing another is masked whole.
    secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
}

/// Remember the password of a URL (`https://user:pw@host`), valid or not.
pub fn register_url_password(url: &str) {
    let Some((_, rest)) = url.split_once("://") else { return };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let Some((userinfo, _)) = authority.rsplit_once('@') else { return };
    if let Some((_, password)) = userinfo.split_once(':') {
        register(password);
        // The percent-decoded form too, as a URL parser would show it.
        if password.contains('%') {
            register(&percent_decode(password));
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `text` with every registered secret replaced by `(sensitive)`.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    scrub_with(text, &secrets)
}

fn scrub_with<'a>(text: &'a str, secrets: &[String]) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(text);
    for secret in secrets {
        if !out.contains(secret.as_str()) {
            continue;
        }
        let replaced = if secret.chars().count() >= MIN_ANYWHERE {
            out.replace(secret.as_str(), SENSITIVE_MARK)
        } else {
            replace_words(&out, secret)
        };
        out = Cow::Owned(replaced);
    }
    out
}

/// Replace the occurrences of `word` that are not next to a letter or a digit.
fn replace_words(text: &str, word: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(word) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + word.len()..].chars().next();
        let alone = !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric);
        out.push_str(&rest[..at]);
        if alone {
            out.push_str(SENSITIVE_MARK);
        } else {
            out.push_str(word);
        }
        rest = &rest[at + word.len()..];
    }
    out.push_str(rest);
    out
}

/// A panic (a bug) prints its message through [`scrub`] too: a secret in a panic message stays out of stderr.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let text = format!("evalform {info}\nThis is a bug; please report it.\n");
        let mut err = std::io::stderr().lock();
        let _ = std::io::Write::write_all(&mut err, scrub(&text).as_bytes());
    }));
}

/// The log writer (`-v`, `-vv`, `-vvv`): each event is gathered whole, scrubbed, then written to stderr, so a
/// secret cannot slip through split across two writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = EventBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        EventBuffer(Vec::new())
    }
}

/// One log event on its way to stderr.
#[derive(Debug)]
pub struct EventBuffer(Vec<u8>);

impl std::io::Write for EventBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventBuffer {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.0);
        let mut err = std::io::stderr().lock();
        let _ = std::io::Write::write_all(&mut err, scrub(&text).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(values: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        v.sort_by_key(|s| std::cmp::Reverse(s.len()));
        v
    }

    #[test]
    fn long_values_are_masked_anywhere_short_ones_as_whole_words() {
        let s = secrets(&["hunter2-secret", "1234"]);
        assert_eq!(scrub_with("x=hunter2-secretY", &s), "x=(sensitive)Y");
        assert_eq!(scrub_with("PIN 1234. 12345 and a1234", &s), "PIN (sensitive). 12345 and a1234");
        assert_eq!(scrub_with("nothing here", &s), "nothing here");
    }

    #[test]
    fn url_passwords_are_registered_even_for_invalid_urls() {
        register_url_password("https://user:pa%24ss-word-9@host/x");
        register_url_password("ht tp://u:another-password@");
        let text = scrub("https://user:pa%24ss-word-9@host and pa$ss-word-9 and another-password");
        assert_eq!(text, "https://user:(sensitive)@host and (sensitive) and (sensitive)");
    }

    #[test]
    fn json_escaped_forms_are_masked() {
        register("line one\n\"quoted\"");
        assert_eq!(scrub(r#"{"v": "line one\n\"quoted\""}"#), r#"{"v": "(sensitive)"}"#);
    }
}
