//! The process environment, read in one place: the library takes every setting as a value, and this module is
//! where those values come from when the binary runs (keys, timing knobs for tests and benchmarks).

use std::time::Duration;

use evalform::http::HttpSettings;
use evalform::runner::PollSettings;
use evalform::secret::ApiKey;

/// Set to `1` by tests and benchmarks against the local sandbox: shorter backoff. It changes timing only, never
/// what is sent.
pub const FAST_RETRIES_VAR: &str = "EVALFORM_FAST_RETRIES";

/// The first poll interval in milliseconds (the cap is ten times it). Tests set it low; users rarely need it.
pub const POLL_INTERVAL_VAR: &str = "EVALFORM_POLL_INTERVAL_MS";

/// One variable of the process environment; `None` when unset or not Unicode.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// An API key from the variable `name`; `None` when it is unset or empty. The key is registered with
/// [`crate::redact`]: it never shows in any output, whatever message quotes it.
pub fn api_key(name: &str) -> Option<ApiKey> {
    let key = var(name).and_then(ApiKey::new)?;
    crate::redact::register(key.expose());
    Some(key)
}

/// HTTP settings for `--parallelism`.
pub fn http_settings(parallelism: u16) -> HttpSettings {
    let base = if var(FAST_RETRIES_VAR).is_some_and(|v| v == "1") {
        HttpSettings::fast_for_tests()
    } else {
        HttpSettings::default()
    };
    HttpSettings { parallelism: usize::from(parallelism), ..base }
}

/// How to wait for a run or a suggestion session that may take up to `timeout` (and no longer than `--deadline`).
pub fn poll_settings(timeout: Duration) -> PollSettings {
    let ms = var(POLL_INTERVAL_VAR).and_then(|v| v.trim().parse().ok());
    PollSettings::new(crate::connect::within_deadline(timeout), ms)
}
