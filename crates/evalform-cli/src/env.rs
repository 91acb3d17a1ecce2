//! The process environment, read in one place: the library takes every setting as a value, and this module is
//! where those values come from when the binary runs (keys, timing knobs for tests and benchmarks).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use evalform::http::HttpSettings;
use evalform::runner::PollSettings;
use evalform::secret::ApiKey;

use crate::error::CliError;

/// Set to `1` by tests and benchmarks against the local sandbox: shorter backoff. It changes timing only, never
/// what is sent.
pub const FAST_RETRIES_VAR: &str = "EVALFORM_FAST_RETRIES";

/// The first poll interval in milliseconds (the cap is ten times it). Tests set it low; users rarely need it.
pub const POLL_INTERVAL_VAR: &str = "EVALFORM_POLL_INTERVAL_MS";

/// The Cekura API root when nothing says otherwise.
pub const CEKURA_DEFAULT_URL: &str = "https://api.cekura.ai";

/// The Tela API root when nothing says otherwise.
pub const TELA_DEFAULT_URL: &str = "https://api.tela.com";

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

/// The environment of the project file to use: `--env`, else `EVALFORM_ENV` (empty counts as unset).
pub fn environment_name(flag: Option<&str>) -> Option<String> {
    flag.map(str::to_string).or_else(|| var("EVALFORM_ENV").filter(|v| !v.trim().is_empty()))
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

/// Whether the process runs in a GitHub Actions job (`GITHUB_ACTIONS=true`): manifest problems are then also
/// printed as workflow annotations unless `--message-format` says otherwise.
pub fn github_actions() -> bool {
    var("GITHUB_ACTIONS").is_some_and(|v| v == "true")
}

/// Where a setting came from, for `-v` and for messages. Never holds the value of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag(&'static str),
    Variable(&'static str),
    /// The vendor CLI's login file, and the key in it.
    VendorConfig {
        path: PathBuf,
        key: &'static str,
    },
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag(name) => write!(f, "the flag {name}"),
            Source::Variable(name) => write!(f, "the environment variable {name}"),
            Source::VendorConfig { path, key } => write!(f, "`{key}` in {}", path.display()),
            Source::Default => f.write_str("the default"),
        }
    }
}

/// The Tela base URL: `--tela-base-url`, else `TELA_BASE_URL`, else the default.
pub fn tela_base_url(flag: Option<&str>) -> (String, Source) {
    match (flag, var("TELA_BASE_URL").filter(|v| !v.trim().is_empty())) {
        (Some(url), _) => (url.to_string(), Source::Flag("--tela-base-url")),
        (None, Some(url)) => (url, Source::Variable("TELA_BASE_URL")),
        (None, None) => (TELA_DEFAULT_URL.to_string(), Source::Default),
    }
}

/// How to authenticate to Cekura.
#[derive(Debug)]
pub enum CekuraAuth {
    /// `X-CEKURA-API-KEY`.
    Key(ApiKey, Source),
    /// `Authorization: Bearer`, from the vendor CLI's login.
    Bearer(ApiKey, Source),
    /// Nothing found: the client reports the missing key, naming `CEKURA_API_KEY`.
    None,
}

/// The Cekura base URL: `--cekura-base-url`, else `CEKURA_BASE_URL` or `CEKURA_API_URL` (the vendor's name; both
/// set and different is an error naming both), else `api_url` of the vendor CLI's config, else the default.
pub fn cekura_base_url(flag: Option<&str>) -> Result<(String, Source), CliError> {
    if let Some(url) = flag {
        return Ok((url.to_string(), Source::Flag("--cekura-base-url")));
    }
    let ours = var("CEKURA_BASE_URL").filter(|v| !v.trim().is_empty());
    let vendor = var("CEKURA_API_URL").filter(|v| !v.trim().is_empty());
    match (ours, vendor) {
        (Some(a), Some(b)) if a.trim_end_matches('/') != b.trim_end_matches('/') => Err(CliError::new(
            "CEKURA_BASE_URL and CEKURA_API_URL are both set, to different URLs",
        )
        .cause(format!("CEKURA_BASE_URL={}", evalform::http::without_password(&a)))
        .cause(format!("CEKURA_API_URL={}", evalform::http::without_password(&b)))
        .hint("unset one of them (CEKURA_API_URL is the name the vendor's own CLI reads), or pass --cekura-base-url")),
        (Some(a), _) => Ok((a, Source::Variable("CEKURA_BASE_URL"))),
        (None, Some(b)) => Ok((b, Source::Variable("CEKURA_API_URL"))),
        (None, None) => match vendor_config() {
            Some((path, cfg)) if cfg.contains_key("api_url") => {
                Ok((cfg["api_url"].clone(), Source::VendorConfig { path, key: "api_url" }))
            }
            _ => Ok((CEKURA_DEFAULT_URL.to_string(), Source::Default)),
        },
    }
}

/// The Cekura credentials: `CEKURA_API_KEY`, else the vendor CLI's login (`api_key`, or an `access_token` that
/// has not expired, sent as a bearer token).
pub fn cekura_auth() -> CekuraAuth {
    if let Some(key) = api_key("CEKURA_API_KEY") {
        return CekuraAuth::Key(key, Source::Variable("CEKURA_API_KEY"));
    }
    let Some((path, cfg)) = vendor_config() else { return CekuraAuth::None };
    if let Some(key) = cfg.get("api_key").cloned().and_then(ApiKey::new) {
        crate::redact::register(key.expose());
        return CekuraAuth::Key(key, Source::VendorConfig { path, key: "api_key" });
    }
    let token = cfg.get("access_token").cloned().and_then(ApiKey::new);
    if let Some(t) = &token {
        crate::redact::register(t.expose());
    }
    let fresh = cfg.get("token_expires_at").is_some_and(|t| not_expired(t, std::time::SystemTime::now()));
    match token {
        Some(token) if fresh => CekuraAuth::Bearer(token, Source::VendorConfig { path, key: "access_token" }),
        Some(_) => {
            tracing::warn!("the access token in {} has expired (or has no expiry); it is not used", path.display());
            CekuraAuth::None
        }
        None => CekuraAuth::None,
    }
}

/// The vendor CLI's config, `~/.cekura/config.toml`: `key = "value"` lines, as the vendor CLI itself reads them
/// (not as full TOML).
fn vendor_config() -> Option<(PathBuf, BTreeMap<String, String>)> {
    let home = var("HOME").filter(|h| !h.is_empty())?;
    let path = PathBuf::from(home).join(".cekura").join("config.toml");
    let text = std::fs::read_to_string(&path).ok()?;
    Some((path, parse_vendor_config(&text)))
}

fn parse_vendor_config(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim();
            let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
            let v = v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).unwrap_or(v);
            out.insert(k.trim().to_string(), v.to_string());
        }
    }
    out
}

/// Whether an ISO-8601 expiry (`2026-11-27T18:00:00Z`, `+00:00`, or no zone: UTC, as the vendor reads it) is at
/// least a minute away from `now`. Anything unreadable counts as expired.
fn not_expired(expiry: &str, now: std::time::SystemTime) -> bool {
    let Some(at) = parse_utc(expiry) else { return false };
    let now = now.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(i64::MAX);
    at > now + 60
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.frac][Z|+00:00]`; other offsets are read as UTC too.
fn parse_utc(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, time) = s.split_once(['T', ' '])?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.trim_end_matches('Z');
    let time = time.split(['+']).next()?;
    let mut t = time.split(':');
    let (hh, mm) = (t.next()?.parse::<i64>().ok()?, t.next()?.parse::<i64>().ok()?);
    let ss = t.next().map_or(Some(0.0), |v| v.parse::<f64>().ok())? as i64;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendor_config_is_read_as_the_vendor_reads_it() {
        let cfg = parse_vendor_config("# login\napi_key = \"sk_1\"\napi_url='http://h:1'\n\nbroken line\n");
        assert_eq!(cfg.get("api_key").map(String::as_str), Some("sk_1"));
        assert_eq!(cfg.get("api_url").map(String::as_str), Some("http://h:1"));
        assert_eq!(cfg.len(), 2);
    }

    #[test]
    fn expiry_times_are_read_as_utc() {
        assert_eq!(parse_utc("1970-01-02T00:00:00Z"), Some(86_400));
        assert_eq!(parse_utc("2000-03-01T12:30:15.5+00:00"), Some(951_913_815));
        assert_eq!(parse_utc("2000-03-01 12:30:15"), Some(951_913_815));
        assert_eq!(parse_utc("soon"), None);
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(951_913_815);
        assert!(!not_expired("2000-03-01T12:30:15Z", now));
        assert!(!not_expired("2000-03-01T12:31:00Z", now), "less than a minute left counts as expired");
        assert!(not_expired("2000-03-01T12:32:00Z", now));
        assert!(!not_expired("garbage", now));
    }
}
