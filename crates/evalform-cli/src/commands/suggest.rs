//! `evalform suggest`: ask Cekura's AI to improve the selected evaluators, and show its suggestions as an edit of
//! the manifests (a unified diff on stdout), or write them into the files with `--write`.
//!
//! Nothing is applied to the platform: the request always says `apply_changes: false`, and the edit reaches the
//! platform only through review and `evalform apply`. Files are edited through the one YAML editor
//! ([`evalform::yaml::edit`]), which keeps comments, key order and formatting of everything it does not change.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use std::path::PathBuf;

use evalform::cekura::CekuraClient;
use evalform::http::ApiError;
use evalform::manifest::{EnvMode, LoadOptions, ManifestFile};
use evalform::runner::{self, Backoff, SelectError, Selection};
use evalform::suggest::{self, FieldEdit, NewValue, NotPlaced, Progress};
use evalform::writeback::{self, EditedFile, WritebackError};
use evalform::yaml::edit::{self, Edit};

use crate::cli::{GlobalArgs, SuggestArgs};
use crate::error::{CliError, Outcome};
use crate::printer::Printer;

/// How long one suggestion session may take before evalform stops waiting.
const SESSION_TIMEOUT: Duration = Duration::from_secs(600);

pub async fn run(global: &GlobalArgs, p: &Printer, args: SuggestArgs) -> Result<Outcome, CliError> {
    if args.message.trim().is_empty() {
        return Err(CliError::new("--message is empty")
            .hint("say what to improve, e.g. --message 'Make the expected outcomes stricter'"));
    }
    let selection = Selection::new(Vec::new(), None, args.name.as_deref()).map_err(|e| CliError::from_error(&e))?;
    let Some(manifests) = super::load_manifests(p, &args.paths.paths, EnvMode::Deferred) else {
        return Ok(Outcome::Failure);
    };
    crate::project::announce(p, &manifests.state);
    let client = crate::connect::cekura_client(&args.remote, global.parallelism)?;
    let progress = |line: String| p.status(&line);

    let remote = runner::list_declared_agents(&client, &manifests.state).await?;
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
        p.warn(&format!("warning: not written: {}{field}: {}", n.evaluator, n.reason));
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
    for file in &changed {
        if args.write {
            writeback::write(file)?;
            let count = file.edits;
            progress(format!("updated {} ({count} change{})", file.path.display(), if count == 1 { "" } else { "s" }));
        } else {
            p.data(&file.diff());
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
    let settings = crate::env::poll_settings(SESSION_TIMEOUT);
    let mut backoff = Backoff::new(settings.first_interval, settings.max_interval);
    let deadline = Instant::now() + settings.timeout;
    loop {
        let answer = client.scenario_agent_progress(progress_id).await?;
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
fn edit_files(files: &[ManifestFile], edits: &[FieldEdit]) -> Result<Vec<EditedFile>, CliError> {
    let mut by_file: BTreeMap<PathBuf, Vec<Edit>> = BTreeMap::new();
    for e in edits {
        by_file.entry(PathBuf::from(&e.file)).or_default().push(Edit::set(e.path.clone(), value(&e.value)));
    }
    let opts =
        LoadOptions { env: &super::process_env, mode: EnvMode::Deferred, environment: crate::project::environment() };
    writeback::edit_manifests(files, &by_file, &opts).map_err(|e| match e {
        WritebackError::Edit { path, source } => {
            CliError::new(format!("cannot edit {}", path.display())).cause(source.to_string())
        }
        WritebackError::WouldNotLoad(diagnostics) => {
            CliError::new("the suggested edit would make the manifests invalid; nothing was written")
                .cause(diagnostics.render(false).trim_end().to_string())
        }
    })
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
    err.into()
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
