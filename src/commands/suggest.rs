//! `evalform suggest`: ask Cekura's AI to improve the selected evaluators, and show its suggestions as an edit of
//! the manifests (a unified diff on stdout), or write them into the files with `--write`.
//!
//! Nothing is applied to the platform: the request always says `apply_changes: false`, and the edit reaches the
//! platform only through review and `evalform apply`. Files are edited through the one YAML editor
//! ([`crate::edit`]), which keeps comments, key order and formatting of everything it does not change.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::cekura::CekuraClient;
use crate::cli::{GlobalArgs, SuggestArgs};
use crate::edit::{self, Edit};
use crate::error::{CliError, Outcome};
use crate::http::ApiError;
use crate::manifest::{self, EnvMode, LoadOptions, ManifestFile};
use crate::runner::{self, Backoff, PollSettings, SelectError, Selection};
use crate::suggest::{self, FieldEdit, NewValue, NotPlaced, Progress};

/// How long one suggestion session may take before evalform stops waiting.
const SESSION_TIMEOUT: Duration = Duration::from_secs(600);

pub async fn run(global: &GlobalArgs, args: SuggestArgs) -> Result<Outcome, CliError> {
    if args.message.trim().is_empty() {
        return Err(CliError::new("--message is empty")
            .hint("say what to improve, e.g. --message 'Make the expected outcomes stricter'"));
    }
    let selection = Selection::new(Vec::new(), None, args.name.as_deref()).map_err(|e| CliError::from_error(&e))?;
    let Some(manifests) = super::load_manifests(global, &args.paths.paths, EnvMode::Deferred) else {
        return Ok(Outcome::Failure);
    };
    let client = CekuraClient::from_env(&args.remote.cekura_base_url, crate::remote::http_settings(global.parallelism))
        .map_err(api_error)?;
    let progress = |line: String| {
        if !global.quiet {
            eprintln!("{line}");
        }
    };

    let remote = runner::list_declared_agents(&client, &manifests.state).await.map_err(api_error)?;
    let agents = runner::select(&manifests.state, &remote, &selection).map_err(select_error)?;

    let mut edits: Vec<FieldEdit> = Vec::new();
    let mut not_placed: Vec<NotPlaced> = Vec::new();
    let mut unchanged = 0;
    for agent in &agents {
        let ids: Vec<u64> = agent.targets.iter().map(|t| t.id).collect();
        let body = suggest::request_body(agent.agent, &ids, &args.message);
        let started = client.scenario_agent(&body).await.map_err(start_error)?;
        progress(format!(
            "asked Cekura's AI about {} evaluator{} of agent {}",
            ids.len(),
            if ids.len() == 1 { "" } else { "s" },
            agent.agent
        ));
        let suggestions = wait_for_suggestions(&client, &started.progress_id, &progress).await?;
        let plan = suggest::plan_edits(&manifests, agent.agent, &agent.targets, &suggestions);
        edits.extend(plan.edits);
        not_placed.extend(plan.not_placed);
        unchanged += plan.unchanged;
    }

    let changed = edit_files(&manifests.files, &edits)?;
    for n in &not_placed {
        let field = n.field.as_deref().map(|f| format!(" {f}")).unwrap_or_default();
        eprintln!("warning: not written: {}{field}: {}", n.evaluator, n.reason);
    }
    if changed.is_empty() {
        let same = if unchanged > 0 {
            format!(" ({unchanged} suggested values are what the manifests say)")
        } else {
            String::new()
        };
        progress(format!("no changes to the manifests{same}"));
        return Ok(Outcome::Success);
    }
    for (file, before, after, count) in &changed {
        if args.write {
            write_atomically(file, after)?;
            progress(format!("updated {file} ({count} change{})", if *count == 1 { "" } else { "s" }));
        } else {
            print!("{}", edit::unified_diff(file, before, after));
        }
    }
    if !args.write {
        progress("review the edit, then write it with --write; `evalform apply` sends it to the platform".into());
    }
    Ok(Outcome::Success)
}

/// Poll the session until it ends; every status but `completed` ends the command with its own message.
async fn wait_for_suggestions(
    client: &CekuraClient,
    progress_id: &str,
    progress: &dyn Fn(String),
) -> Result<Vec<suggest::Suggestion>, CliError> {
    let settings = PollSettings::from_env(SESSION_TIMEOUT);
    let mut backoff = Backoff::new(settings.first_interval, settings.max_interval);
    let deadline = Instant::now() + settings.timeout;
    loop {
        let answer = client.scenario_agent_progress(progress_id).await.map_err(api_error)?;
        match suggest::read_progress(&answer) {
            Progress::Working => {}
            Progress::Done { message, suggestions } => {
                if let Some(m) = message {
                    progress(format!("Cekura's AI: {m}"));
                }
                return Ok(suggestions);
            }
            Progress::NeedsClarification { question } => {
                return Err(CliError::new("Cekura's AI needs more detail before it suggests changes")
                    .cause(format!("it asks: {question}"))
                    .hint("run `evalform suggest` again with a --message that answers the question"));
            }
            Progress::Failed { reason } => {
                return Err(CliError::new("the suggestion session failed on the platform").cause(reason));
            }
            Progress::Cancelled => {
                return Err(CliError::new("the suggestion session was cancelled on the platform")
                    .hint("nothing was written; run `evalform suggest` again"));
            }
            Progress::OtherMode { mode } => {
                return Err(CliError::new(format!(
                    "Cekura's AI answered in {mode:?} mode, not in improvement mode: it did not improve the evaluators"
                ))
                .hint(
                    "the platform has announced that this call may lose its improvement mode; nothing was written; \
                     edit the manifests by hand",
                ));
            }
            Progress::Unknown { status } => {
                return Err(CliError::new(format!("the suggestion session answered an unknown status {status:?}"))
                    .hint("nothing was written; this version of evalform does not know what it means"));
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(CliError::new(format!(
                "the suggestion session {progress_id} did not end within {}s",
                SESSION_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(backoff.next_delay().min(deadline - now)).await;
    }
}

/// Apply the edits file by file; check that the edited manifests still load before anything is shown or written.
/// Returns (file, before, after, number of edits) for each file that changes.
fn edit_files(files: &[ManifestFile], edits: &[FieldEdit]) -> Result<Vec<(String, String, String, usize)>, CliError> {
    let mut by_file: BTreeMap<&str, Vec<Edit>> = BTreeMap::new();
    for e in edits {
        by_file.entry(e.file.as_str()).or_default().push(Edit::set(e.path.clone(), value(&e.value)));
    }
    let mut out = Vec::new();
    let mut after_all = Vec::new();
    for f in files {
        let name = f.path.to_string_lossy().into_owned();
        let text = match by_file.get(name.as_str()) {
            Some(list) => {
                let new = edit::apply(&f.text, list)
                    .map_err(|e| CliError::new(format!("cannot edit {name}")).cause(e.to_string()))?;
                if new != f.text {
                    out.push((name.clone(), f.text.clone(), new.clone(), list.len()));
                }
                new
            }
            None => f.text.clone(),
        };
        after_all.push(ManifestFile { path: f.path.clone(), text });
    }
    let opts = LoadOptions { env: &manifest::process_env, mode: EnvMode::Deferred };
    if let Err(diagnostics) = manifest::load_texts(after_all, &opts) {
        return Err(CliError::new("the suggested edit would make the manifests invalid; nothing was written")
            .cause(diagnostics.render(false).trim_end().to_string()));
    }
    Ok(out)
}

fn value(v: &NewValue) -> edit::Value {
    match v {
        NewValue::Text(s) => edit::Value::Text(s.clone()),
        NewValue::Str(s) => edit::Value::Str(s.clone()),
        NewValue::Int(n) => edit::Value::Int(*n),
        NewValue::Strings(items) => edit::Value::Flow(items.iter().cloned().map(edit::Value::Str).collect()),
        NewValue::Ints(items) => edit::Value::Flow(items.iter().copied().map(edit::Value::Int).collect()),
    }
}

/// Write to a temporary file beside the target, then rename it over the target: never a half-written manifest.
fn write_atomically(path: &str, text: &str) -> Result<(), CliError> {
    let target = std::path::Path::new(path);
    let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.evalform-tmp"));
    let fail = |e: std::io::Error| CliError::new(format!("cannot write {path}")).cause(e.to_string());
    std::fs::write(&tmp, text).map_err(fail)?;
    std::fs::rename(&tmp, target).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e)
    })
}

fn api_error(err: ApiError) -> CliError {
    crate::remote::api_error(&err)
}

/// The platform has announced that `scenario-agent` may lose its improvement mode: when it says it does not
/// support it, say so plainly instead of showing a bare 400.
fn start_error(err: ApiError) -> CliError {
    if let ApiError::Rejected { status: 400, message, .. } = &err {
        let m = message.to_lowercase();
        if m.contains("not supported") || m.contains("unsupported") || m.contains("no longer supported") {
            return CliError::new("Cekura's AI improvement call does not support improvement mode for this request")
                .cause(format!("the platform answered: {message}"))
                .hint(
                    "the platform has announced that this call may lose its improvement mode; until evalform \
                       supports what replaces it, edit the manifests by hand",
                );
        }
    }
    api_error(err)
}

fn select_error(err: SelectError) -> CliError {
    match &err {
        SelectError::NotOnPlatform { missing } => {
            let mut out = CliError::new(err.to_string());
            for m in missing {
                out = out.cause(m.describe());
            }
            out.hint("run `evalform apply` first: suggestions are asked for evaluators that exist on the platform")
        }
        _ => CliError::new(err.to_string()),
    }
}
