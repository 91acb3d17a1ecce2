//! `evalform doctor`: the library's probes ([`evalform::doctor`]) against the configured Cekura server (and Tela's,
//! when the manifests describe prompts or a Tela key is set), printed as a checklist (or JSON) with where each base
//! URL and key came from. Writes nothing; exit 1 when a check failed.

use evalform::doctor::{probe, probe_tela, Check, DoctorOptions, Verdict};
use evalform::manifest::EnvMode;

use crate::cli::{DoctorArgs, DoctorFormat, GlobalArgs};
use crate::env::{self, CekuraAuth};
use crate::error::{CliError, Outcome};
use crate::printer::Printer;

pub async fn run(global: &GlobalArgs, p: &Printer, args: DoctorArgs) -> Result<Outcome, CliError> {
    let mut agents = args.agents.clone();
    let mut prompts: Vec<String> = Vec::new();
    if !args.paths.is_empty() {
        let Some(manifests) = super::load_manifests(p, &args.paths, EnvMode::Deferred) else {
            return Ok(Outcome::Failure);
        };
        agents.extend(manifests.state.agents.keys().copied().filter(|a| !args.agents.contains(a)));
        prompts.extend(manifests.state.prompts.values().map(|p| p.prompt.clone()));
    }
    // Cekura unless the manifests given describe Tela prompts only; Tela when they describe prompts, or (no
    // manifests given) when a Tela key is set.
    let cekura = args.paths.is_empty() || !agents.is_empty() || prompts.is_empty();
    let tela_key = crate::connect::tela_key_source();
    let tela = !prompts.is_empty() || (args.paths.is_empty() && tela_key.is_some());
    let mut sections = Vec::new();
    if cekura {
        let (url, url_source) = env::cekura_base_url(args.remote.cekura_base_url.as_deref())?;
        let key_source = match env::cekura_auth() {
            CekuraAuth::Key(_, source) => format!("an API key from {source}"),
            CekuraAuth::Bearer(_, source) => format!("a bearer token from {source}"),
            CekuraAuth::None => "no key".to_string(),
        };
        let client = crate::connect::cekura_client(&args.remote, global.parallelism)?;
        let opts = DoctorOptions { agents, result: args.result, probe_writes: args.probe_writes };
        let checks = {
            let _spinner = p.spinner("Probing Cekura");
            probe(&client, &opts).await
        };
        sections.push(Section { platform: "Cekura", url, url_source: url_source.to_string(), key_source, checks });
    }
    if tela {
        let (url, url_source) = crate::connect::tela_url(&args.remote);
        let key_source = tela_key.map_or_else(|| "no key".to_string(), |s| format!("an API key from {s}"));
        // A client that cannot be made (no key, a bad URL) is this section's failure, not the command's.
        let checks = match crate::connect::tela_client(&args.remote, global.parallelism) {
            Ok(client) => {
                let _spinner = p.spinner("Probing Tela");
                probe_tela(&client, &prompts).await
            }
            Err(e) => vec![Check {
                id: "tela.client".into(),
                verdict: Verdict::Fail,
                found: std::iter::once(e.message).chain(e.causes).collect::<Vec<_>>().join(": "),
                fix: Some(e.hints.join("; ")).filter(|h| !h.is_empty()),
                reading: None,
            }],
        };
        sections.push(Section { platform: "Tela", url, url_source, key_source, checks });
    }
    let failed: usize = sections.iter().map(|s| s.checks.iter().filter(|c| c.verdict == Verdict::Fail).count()).sum();
    match args.format {
        DoctorFormat::Json => {
            let mut doc = serde_json::Map::new();
            for s in &sections {
                let fields = serde_json::json!({
                    "base_url": evalform::http::without_password(&s.url),
                    "base_url_source": s.url_source,
                    "credentials": s.key_source,
                    "checks": s.checks,
                });
                // Cekura's fields at the top, as before; Tela's under `tela`.
                match (s.platform, fields) {
                    ("Cekura", serde_json::Value::Object(f)) => doc.extend(f),
                    (_, fields) => {
                        doc.insert("tela".into(), fields);
                    }
                }
            }
            doc.insert("failed".into(), failed.into());
            p.data_line(&serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into()));
        }
        DoctorFormat::Text => {
            for s in &sections {
                let shown_url = evalform::http::without_password(&s.url);
                p.data_line(&format!("{} at {shown_url} (from {}), with {}", s.platform, s.url_source, s.key_source));
                for check in &s.checks {
                    p.data(&line(check));
                }
            }
            p.data_line(&match failed {
                0 => "All checks passed.".to_string(),
                n => format!("{n} check{} failed.", if n == 1 { "" } else { "s" }),
            });
        }
    }
    Ok(if failed == 0 { Outcome::Success } else { Outcome::Failure })
}

/// One platform's part of the checklist.
struct Section {
    platform: &'static str,
    url: String,
    url_source: String,
    key_source: String,
    checks: Vec<Check>,
}

fn line(check: &Check) -> String {
    let mark = match check.verdict {
        Verdict::Ok => "ok  ",
        Verdict::Fail => "FAIL",
        Verdict::Note => "--  ",
    };
    let reading = match check.reading.as_deref() {
        Some("default") | None => String::new(),
        Some(r) => format!(" [reading: {r}]"),
    };
    let mut out = format!("  {mark} {}{reading}\n", check.found);
    if let Some(fix) = &check.fix {
        out.push_str(&format!("       fix: {fix}\n"));
    }
    out
}
