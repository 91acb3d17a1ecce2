//! `evalform import`: read what exists on the platform and write manifests that describe it, so a plan on them
//! right after shows no changes.
//!
//! Thin by design: it connects only the platform asked for (`--agent` needs the Cekura key, `--prompt` the Tela
//! key), fetches every managed field, hands the state to [`evalform::import`] to render, and writes. It never changes
//! the platform. The paths written go to stdout (data, one per line); the hint about what to do next goes to
//! stderr.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use evalform::cekura::fetch::{fetch_agent, FetchOptions};
use evalform::cekura::FetchError;
use evalform::import::{render_agent, render_prompt, write_files, ImportInput};

use crate::cli::{GlobalArgs, ImportArgs};
use crate::error::{CliError, Outcome};
use crate::printer::Printer;

pub async fn run(global: &GlobalArgs, p: &Printer, args: ImportArgs) -> Result<Outcome, CliError> {
    if !args.evaluators.is_empty() || !args.test_profiles.is_empty() {
        return adopt(global, p, &args).await;
    }
    let prompt = args.prompt.as_deref().map(prompt_id).transpose()?;
    if let Some(name) = crate::project::env_name() {
        let agent = args.agent.map(|a| format!(": agent {a}")).unwrap_or_default();
        p.status(&format!("Environment {name}{agent}"));
    }
    let remote = crate::connect::remote(&args.remote, global.parallelism, args.agent.is_some(), prompt.is_some())?;

    let mut files = Vec::new();
    let mut secrets = Vec::new();
    if let Some(agent) = args.agent {
        // Every managed field is written, so every one must be read, including those only the single GET has.
        let opts = FetchOptions { need_max_duration: true, need_language: true, project: None };
        let fetched = fetch_agent(remote.cekura()?, agent, &opts)
            .await
            .map_err(|e| fetch_error(e, "check the agent id: it is in the agent's URL in the Cekura dashboard"))?;
        let mut state = fetched.state;
        secrets = evalform::import::likely_secrets(&state);
        if args.secrets_as_env {
            evalform::import::secrets_as_env(&mut state, &secrets);
        }
        files.extend(render_agent(&ImportInput {
            agent: &state,
            catalog: &fetched.catalog,
            phone_numbers: &fetched.phone_numbers,
        }));
    }
    if let Some(prompt) = &prompt {
        let state = evalform::tela::fetch::fetch_prompt(remote.tela()?, prompt)
            .await
            .map_err(|e| fetch_error(e, "check the prompt id: it is in the prompt's URL in Tela"))?;
        files.push(render_prompt(&state));
    }

    if let Some(env) = crate::project::environment() {
        let unnamed = evalform::project::name_imported(&mut files, env);
        if !unnamed.is_empty() {
            p.warn(&format!(
                "note: environment `{}` has no name for {}; written as {}",
                env.name,
                unnamed.join(", "),
                if unnamed.len() == 1 { "it is" } else { "they are" }
            ));
        }
    }
    let written = write_files(&args.out, &files, args.force)?;
    for path in &written {
        p.data_line(&path.display().to_string());
    }
    if !p.is_quiet() {
        for stale in others_beside(&written) {
            p.warn(&format!(
                "warning: {} was not written by this import and is still read by `evalform plan`; delete it if an \
                 earlier import wrote it",
                stale.display()
            ));
        }
    }
    report_secrets(p, &secrets, args.secrets_as_env);
    p.status(&format!("next: evalform plan {}", args.out.display()));
    Ok(Outcome::Success)
}

/// `--evaluator ID...` / `--test-profile ID...`: add single resources to the manifests under `--out`, in the file
/// of their agent, keeping comments; the edited set must load again before anything is written.
async fn adopt(global: &GlobalArgs, p: &Printer, args: &ImportArgs) -> Result<Outcome, CliError> {
    use evalform::import::adopt::{adopt_edits, Adopt};
    use evalform::manifest::{EnvMode, LoadOptions};
    use evalform::writeback;

    let Some(loaded) = super::load_desired(p, std::slice::from_ref(&args.out))? else {
        return Ok(Outcome::Failure);
    };
    let remote = crate::connect::remote(&args.remote, global.parallelism, true, false)?;
    let client = remote.cekura()?;
    let mut by_agent: std::collections::BTreeMap<u64, Adopt> = std::collections::BTreeMap::new();
    for id in &args.evaluators {
        let e = client
            .get_scenario(*id)
            .await
            .map_err(|e| CliError::new(format!("cannot read evaluator {id}")).cause(e.to_string()))?;
        let agent = e.item.agent.ok_or_else(|| CliError::new(format!("evaluator {id} belongs to no agent")))?;
        by_agent.entry(agent).or_default().evaluators.push(*id);
    }
    for id in &args.test_profiles {
        let t = client
            .get_test_profile(*id)
            .await
            .map_err(|e| CliError::new(format!("cannot read test profile {id}")).cause(e.to_string()))?;
        let agent = t.agent.ok_or_else(|| CliError::new(format!("test profile {id} belongs to no agent")))?;
        by_agent.entry(agent).or_default().test_profiles.push(*id);
    }
    let mut edits: std::collections::BTreeMap<PathBuf, Vec<evalform::yaml::edit::Edit>> = Default::default();
    for (agent, adopt) in &by_agent {
        let opts = FetchOptions { need_max_duration: true, need_language: true, project: None };
        let fetched = fetch_agent(client, *agent, &opts).await.map_err(|e| fetch_error(e, "check the id"))?;
        let input =
            ImportInput { agent: &fetched.state, catalog: &fetched.catalog, phone_numbers: &fetched.phone_numbers };
        let found = adopt_edits(&loaded, &input, adopt).map_err(|e| {
            CliError::from_error(&e)
                .hint("`evalform import --agent ID --out DIR` writes a fresh set of manifests for an agent")
        })?;
        for (path, list) in found {
            edits.entry(path).or_default().extend(list);
        }
    }
    let opts =
        LoadOptions { env: &super::process_env, mode: EnvMode::Required, environment: crate::project::environment() };
    let edited = writeback::edit_manifests(&loaded.files, &edits, &opts).map_err(|e| {
        let mut err =
            CliError::new("the adopted resources would leave manifests that do not load; nothing was written")
                .hint("this is a bug in evalform; please report it");
        match e {
            writeback::WritebackError::WouldNotLoad(problems) => {
                for line in problems.render(false).lines().filter(|l| !l.trim().is_empty()).take(10) {
                    err = err.cause(line.to_string());
                }
            }
            other => err = err.cause(other.to_string()),
        }
        err
    })?;
    for file in &edited {
        writeback::write(file)?;
        p.data_line(&file.path.display().to_string());
    }
    p.status(&format!("next: evalform plan {}", args.out.display()));
    Ok(Outcome::Success)
}

/// Manifests in the directories import wrote to that it did not write: after a re-import with `--force`, the file
/// of a folder deleted on the platform would otherwise go on declaring its evaluators unnoticed.
fn others_beside(written: &[PathBuf]) -> Vec<PathBuf> {
    let dirs: BTreeSet<&Path> = written.iter().filter_map(|p| p.parent()).collect();
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            let manifest = path.extension().is_some_and(|x| x == "yaml" || x == "yml");
            if manifest && path.is_file() && !written.contains(&path) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// A failed read, with the client's hint, or `not_found` when the platform does not know what was asked for.
fn fetch_error(err: FetchError, not_found: &str) -> CliError {
    match &err {
        FetchError::Api { source, .. } if source.status() == Some(404) => CliError::from_error(&err).hint(not_found),
        _ => err.into(),
    }
}

/// A prompt id as the manifests hold it: a uuid, lower-case (the loader lower-cases it too, so the written file
/// and the plan name the same prompt).
fn prompt_id(raw: &str) -> Result<String, CliError> {
    let groups: Vec<&str> = raw.split('-').collect();
    let is_uuid = groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()));
    if is_uuid {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(CliError::new(format!("`{raw}` is not a Tela prompt id"))
            .hint("a prompt id is a uuid such as 5f0c2a4e-0000-4000-8000-000000000001"))
    }
}

/// Values the platform returned in clear whose names say they are secrets: with `--secrets-as-env` they were
/// written as `${env:NAME}` and the variables to set are listed; without it, a warning names each one.
fn report_secrets(p: &Printer, secrets: &[evalform::import::LikelySecret], as_env: bool) {
    if secrets.is_empty() {
        return;
    }
    if as_env {
        p.status("set these variables before `evalform plan` (the values are on the platform):");
        for s in secrets {
            p.status(&format!("  {}  ({})", s.env_name, s.place()));
        }
        return;
    }
    let n = secrets.len();
    p.warn(&match n {
        1 => "warning: 1 value that looks like a secret was written in clear:".to_string(),
        n => format!("warning: {n} values that look like secrets were written in clear:"),
    });
    for s in secrets {
        p.warn(&format!("  {}", s.place()));
    }
    p.warn(
        "  hint: `evalform import --secrets-as-env` writes them as ${env:NAME} references instead (docs/secrets.md)",
    );
}
