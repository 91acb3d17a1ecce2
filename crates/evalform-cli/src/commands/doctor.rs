//! `evalform doctor`: the library's probes ([`evalform::doctor`]) against the configured Cekura server, printed as
//! a checklist (or JSON) with where the base URL and key came from. Writes nothing; exit 1 when a check failed.

use evalform::doctor::{probe, Check, DoctorOptions, Verdict};
use evalform::manifest::EnvMode;

use crate::cli::{DoctorArgs, DoctorFormat, GlobalArgs};
use crate::env::{self, CekuraAuth};
use crate::error::{CliError, Outcome};
use crate::printer::Printer;

pub async fn run(global: &GlobalArgs, p: &Printer, args: DoctorArgs) -> Result<Outcome, CliError> {
    let mut agents = args.agents.clone();
    if !args.paths.is_empty() {
        let Some(manifests) = super::load_manifests(p, &args.paths, EnvMode::Deferred) else {
            return Ok(Outcome::Failure);
        };
        agents.extend(manifests.state.agents.keys().copied().filter(|a| !args.agents.contains(a)));
    }
    let (url, url_source) = env::cekura_base_url(args.remote.cekura_base_url.as_deref())?;
    let key_source = match env::cekura_auth() {
        CekuraAuth::Key(_, source) => format!("an API key from {source}"),
        CekuraAuth::Bearer(_, source) => format!("a bearer token from {source}"),
        CekuraAuth::None => "no key".to_string(),
    };
    let client = crate::connect::cekura_client(&args.remote, global.parallelism)?;
    let opts = DoctorOptions { agents, result: args.result, probe_writes: args.probe_writes };
    let checks = {
        let _spinner = p.spinner("Probing the platform");
        probe(&client, &opts).await
    };
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    let shown_url = evalform::http::without_password(&url);
    match args.format {
        DoctorFormat::Json => {
            let doc = serde_json::json!({
                "base_url": shown_url,
                "base_url_source": url_source.to_string(),
                "credentials": key_source,
                "checks": checks,
                "failed": failed,
            });
            p.data_line(&serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into()));
        }
        DoctorFormat::Text => {
            p.data_line(&format!("Cekura at {shown_url} (from {url_source}), with {key_source}"));
            for check in &checks {
                p.data(&line(check));
            }
            p.data_line(&match failed {
                0 => "All checks passed.".to_string(),
                n => format!("{n} check{} failed.", if n == 1 { "" } else { "s" }),
            });
        }
    }
    Ok(if failed == 0 { Outcome::Success } else { Outcome::Failure })
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
