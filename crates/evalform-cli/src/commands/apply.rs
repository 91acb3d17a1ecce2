//! `evalform apply`: plan (or read a saved plan), show it, ask, execute, verify, and report.
//!
//! The plan and the final report go to stdout; the confirmation prompt and progress go to stderr. Without a
//! terminal, `--auto-approve` is required (or a saved plan, which is the approval). Exit 1 when the platform does
//! not verifiably match the manifests at the end: running apply again finishes the job.

use std::io::IsTerminal;
use std::sync::Mutex;

use evalform::apply::saved::{check_saved, PlanLock, SavedPlan};
use evalform::apply::{converge, ApplyReport, Interrupt, OpReport, OpStatus, Progress};
use evalform::manifest::{self, EnvMode, LoadOptions};
use evalform::plan::{Plan, PlanSettings};

use super::process_env;
use crate::cli::{ApplyArgs, GlobalArgs};
use crate::error::{CliError, Outcome};
use crate::printer::Printer;

pub async fn run(global: &GlobalArgs, p: &Printer, args: ApplyArgs) -> Result<Outcome, CliError> {
    if let Some(path) = &args.plan {
        // A saved plan carries its own manifests: paths beside it would be silently ignored.
        if args.paths.paths.iter().any(|given| given.as_path() != std::path::Path::new(".")) {
            let given: Vec<String> = args.paths.paths.iter().map(|p| p.display().to_string()).collect();
            return Err(CliError::new(format!(
                "apply --plan {} takes no manifest paths (given: {})",
                path.display(),
                given.join(", ")
            ))
            .hint("a saved plan holds the manifests it was made from; to apply the files as they are now, run `evalform apply PATH` without --plan"));
        }
    }
    // Held until this command ends: one `apply --plan` of a file at a time.
    let _lock = args.plan.as_deref().map(PlanLock::acquire).transpose()?;
    let (desired, settings, plan, remote, names) = match &args.plan {
        Some(path) => {
            // A FIFO or a device would block or never end: only a regular file is read.
            if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
                return Err(CliError::new(format!(
                    "{}: not a regular file; a saved plan was not read",
                    path.display()
                ))
                .hint("pass the file `evalform plan --out FILE` wrote"));
            }
            let saved = SavedPlan::read(path, &process_env)?;
            let now = crate::project::env_name();
            if saved.environment.as_deref() != now {
                let made =
                    saved.environment.as_deref().map_or("no environment".to_string(), |e| format!("environment `{e}`"));
                let used = now.map_or("no environment".to_string(), |e| format!("environment `{e}`"));
                return Err(CliError::new(format!(
                    "the saved plan {} was made for {made}, and this run uses {used}; nothing was written",
                    path.display()
                ))
                .hint(format!(
                    "apply it with the environment it was made for{}, or make a new plan with `evalform plan --out FILE`",
                    saved.environment.as_deref().map(|e| format!(" (--env {e})")).unwrap_or_default()
                )));
            }
            let opts =
                LoadOptions { env: &process_env, mode: EnvMode::Required, environment: crate::project::environment() };
            let loaded = manifest::load_texts(saved.manifest_files(), &opts).map_err(|d| {
                CliError::new(format!("{}: the manifests saved in the plan no longer load", path.display()))
                    .cause(d.to_string())
            })?;
            let settings = PlanSettings {
                targets: saved.targets.clone(),
                excludes: saved.excludes.clone(),
                ..PlanSettings::default()
            };
            crate::project::announce(p, &loaded.state);
            let remote = crate::connect::remote_for(&args.remote, global.parallelism, &loaded.state)?;
            let snapshot = {
                let _spinner = p.spinner("Reading the platform");
                remote.observe(&loaded.state).await?
            };
            let now = evalform::plan::fingerprints(&snapshot.observed.state);
            // What the file's own manifests give now: a saved plan runs only when its changes still come out so.
            let fresh = evalform::plan::plan(&loaded.state, &snapshot.observed, &settings)?;
            let refusal = check_saved(&saved.plan, &fresh, &now, &snapshot.observed.state);
            let (problems, message, hint) = if !refusal.stale.is_empty() {
                (
                    &refusal.stale,
                    format!(
                        "the saved plan {} is stale: {} object{} it writes changed on the platform since it was made; nothing was written",
                        path.display(),
                        refusal.stale.len(),
                        if refusal.stale.len() == 1 { "" } else { "s" }
                    ),
                    "run `evalform plan --out FILE` again and review the new plan",
                )
            } else {
                (
                    &refusal.edited,
                    format!(
                        "the saved plan {} does not follow from the manifests it records (an edited or corrupted file); nothing was written",
                        path.display()
                    ),
                    "make the plan again with `evalform plan --out FILE`; never edit a saved plan by hand",
                )
            };
            if !problems.is_empty() {
                let mut err = CliError::new(message);
                for s in problems.iter().take(20) {
                    err = err.cause(s.clone());
                }
                if problems.len() > 20 {
                    err = err.cause(format!("... and {} more", problems.len() - 20));
                }
                return Err(err.hint(hint));
            }
            let names = evalform::render::Names::from_catalogs(&snapshot.observed.catalogs);
            (loaded.state, settings, saved.plan, remote, names)
        }
        None => {
            let Some(planned) =
                super::plan_manifests(global, p, &args.paths.paths, &args.targets, &args.remote, true).await?
            else {
                return Ok(Outcome::Failure);
            };
            (planned.loaded.state, planned.settings, planned.plan, planned.remote, planned.names)
        }
    };

    p.data(&evalform::render::text(&evalform::render::named(plan.clone(), &names), p.color()));
    if plan.operations.is_empty() {
        return Ok(Outcome::Success);
    }
    if args.plan.is_none() && !args.auto_approve && !confirm(p)? {
        p.data_line("Apply cancelled. Nothing was written.");
        return Ok(Outcome::Failure);
    }

    // From here on (after the confirmation, before the first call), Ctrl-C is caught: the first stops the apply
    // from starting anything more, the second stops it at once. Before, nothing was sent, and Ctrl-C ends evalform
    // as it ends any program.
    let mut signals = ctrl_c_listener(p);
    let interrupt = Interrupt::new();
    let progress = StderrProgress::new(p);
    let work = converge(&remote, &desired, &settings, plan, usize::from(global.parallelism), &progress, &interrupt);
    tokio::pin!(work);
    let report = loop {
        tokio::select! {
            report = &mut work => break report?,
            () = next_ctrl_c(&mut signals) => {
                if !interrupt.is_set() {
                    interrupt.set();
                    progress.suspend(|| p.warn(
                        "Interrupt received: no new API call is started; waiting for the calls already sent to \
                         finish (Ctrl-C again stops at once)."
                    ));
                } else {
                    // Dropping the work ends the calls on their way (their outcome is unknown) and the lock of a
                    // saved plan is removed as this command returns.
                    progress.done();
                    p.warn(
                        "Second interrupt: stopped at once. A call that was on its way may or may not have landed; \
                         the next `evalform apply` reads the platform afresh and never sends a call twice."
                    );
                    return Ok(Outcome::Stopped);
                }
            }
        }
    };
    p.data(&render_report(&report));
    if report.interrupted {
        return Err(interrupted(&report));
    }
    Ok(if report.succeeded() { Outcome::Success } else { Outcome::Failure })
}

/// The error an interrupted apply ends with (exit 1, as an interrupted `run`): where it stopped.
fn interrupted(report: &ApplyReport) -> CliError {
    let not_started = report.count(|s| matches!(s, OpStatus::NotStarted));
    CliError::new(match (not_started, &report.remaining) {
        (0, None) => "interrupted: every API call was sent; the platform was not read again".to_string(),
        (0, Some(_)) => "interrupted: the platform was read again, and no repair was started".to_string(),
        (n, _) => format!("interrupted: {n} API call{} not started", if n == 1 { "" } else { "s" }),
    })
}

#[cfg(unix)]
type CtrlC = tokio::signal::unix::Signal;
#[cfg(windows)]
type CtrlC = tokio::signal::windows::CtrlC;

/// Ctrl-C, caught from this call on for as long as the listener lives. A handler that cannot be registered means
/// no Ctrl-C handling (Ctrl-C then ends evalform at once, as before), said in a warning.
fn ctrl_c_listener(p: &Printer) -> Option<CtrlC> {
    #[cfg(unix)]
    let listener = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    #[cfg(windows)]
    let listener = tokio::signal::windows::ctrl_c();
    listener
        .map_err(|e| {
            p.warn(&format!(
                "warning: Ctrl-C cannot be handled ({e}): an interruption would stop the apply without a report"
            ))
        })
        .ok()
}

/// The next Ctrl-C; never, without a listener.
async fn next_ctrl_c(listener: &mut Option<CtrlC>) {
    if let Some(l) = listener {
        if l.recv().await.is_some() {
            return;
        }
    }
    std::future::pending().await
}

/// Ask on the terminal. Without one, refuse: an unattended apply must say `--auto-approve`.
fn confirm(p: &Printer) -> Result<bool, CliError> {
    if !std::io::stdin().is_terminal() || !p.stderr_is_terminal() {
        return Err(CliError::new("apply needs confirmation, and there is no terminal to ask on; nothing was written")
            .hint("review the plan with `evalform plan`, then run `evalform apply --auto-approve`, or save it with `evalform plan --out FILE` and run `evalform apply --plan FILE`"));
    }
    // A `yes` typed while the plan was still being read or printed was not an answer to this question.
    discard_typed_ahead();
    p.stderr("\nDo you want to apply these changes? Only 'yes' is accepted: ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).map_err(|e| CliError::new(format!("cannot read the answer: {e}")))?;
    Ok(answer.trim() == "yes")
}

/// Drop what was typed on the terminal before the question was asked.
#[cfg(unix)]
fn discard_typed_ahead() {
    let _ = rustix::termios::tcflush(std::io::stdin(), rustix::termios::QueueSelector::IFlush);
}

#[cfg(not(unix))]
fn discard_typed_ahead() {}

/// The end report: what was done, what failed and why, what was skipped, and whether the platform now matches.
pub fn render_report(report: &ApplyReport) -> String {
    let mut out = String::new();
    let done = report.count(|s| matches!(s, OpStatus::Done));
    let failed = report.count(|s| matches!(s, OpStatus::Failed(_)));
    let unknown = report.count(|s| matches!(s, OpStatus::Unknown(_)));
    let skipped = report.count(|s| matches!(s, OpStatus::Skipped { .. }));
    let not_started = report.count(|s| matches!(s, OpStatus::NotStarted));
    out.push('\n');
    for repair in &report.repairs {
        out.push_str(&format!("Verification: {repair}.\n"));
    }
    let problems: Vec<&OpReport> = report.ops.iter().filter(|o| !o.status.is_done()).collect();
    for op in &problems {
        let (label, why) = match &op.status {
            OpStatus::Failed(why) => ("failed", why.clone()),
            // Interrupted before verification: nothing settled it yet; the next apply does, by reading.
            OpStatus::Unknown(why) if report.interrupted && report.remaining.is_none() => (
                "unknown",
                format!("{why}; the next `evalform apply` settles it by reading the platform, never by resending"),
            ),
            OpStatus::Unknown(why) => ("unknown", format!("{why}; settled by reading the platform again")),
            OpStatus::Skipped { because_of } => {
                ("skipped", format!("depends on operation {} that did not succeed", because_of + 1))
            }
            OpStatus::Done | OpStatus::NotStarted => continue,
        };
        // Client errors already start with the method and path; say them once.
        let why = why.strip_prefix(&format!("{} {}: ", op.method, op.path)).unwrap_or(&why).to_string();
        out.push_str(&format!("  {label}: {} {} ({}): {why}\n", op.method, op.path, op.description));
    }
    for s in &report.stuck {
        out.push_str(&format!("  did not take: {s}\n"));
    }
    let calls = format!(
        "{done} API call{} done{}{}{}{}",
        if done == 1 { "" } else { "s" },
        if failed > 0 { format!(", {failed} failed") } else { String::new() },
        if unknown > 0 { format!(", {unknown} with unknown outcome") } else { String::new() },
        if skipped > 0 { format!(", {skipped} skipped") } else { String::new() },
        if not_started > 0 { format!(", {not_started} not started (interrupted)") } else { String::new() },
    );
    if report.interrupted {
        let read = match &report.remaining {
            // Interrupted while verifying: the reading was complete.
            Some(left) => format!(
                "{} resource{} still differ{} from the manifests",
                left.changes.len(),
                if left.changes.len() == 1 { "" } else { "s" },
                if left.changes.len() == 1 { "s" } else { "" }
            ),
            None => "the platform was not read again, so it may differ from the manifests".to_string(),
        };
        out.push_str(&format!("Apply interrupted: {calls}; {read}.\n"));
        out.push_str(
            "Run `evalform plan` to see what is left, and `evalform apply` to finish it: it reads the platform afresh \
             and never sends a call twice.\n",
        );
    } else if report.succeeded() {
        out.push_str(&format!("Apply complete: {calls}. Verified: the platform matches the manifests.\n"));
    } else {
        let left = report.remaining.as_ref().map_or(0, |p: &Plan| p.changes.len());
        out.push_str(&format!(
            "Apply incomplete: {calls}; {left} resource{} still differ{} from the manifests.\n",
            if left == 1 { "" } else { "s" },
            if left == 1 { "s" } else { "" }
        ));
        out.push_str(
            "Run `evalform apply` again to finish: it reads the platform afresh and sends only what is still missing.\n",
        );
    }
    out
}

/// Progress on stderr: a bar on a terminal, a line per finished call otherwise, nothing with `-q`.
struct StderrProgress<'a> {
    printer: &'a Printer,
    bar: Mutex<Option<indicatif::ProgressBar>>,
    spinner: Mutex<Option<crate::printer::Spinner>>,
}

impl<'a> StderrProgress<'a> {
    fn new(printer: &'a Printer) -> Self {
        StderrProgress { printer, bar: Mutex::new(None), spinner: Mutex::new(None) }
    }

    /// Run `print` with the bar (if any) out of the way, so that a line printed does not tear it.
    fn suspend(&self, print: impl FnOnce()) {
        match self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }
}

impl Progress for StderrProgress<'_> {
    fn started(&self, total: usize, round: usize) {
        if self.printer.is_quiet() || total == 0 {
            return;
        }
        if round > 1 {
            self.printer.status(&format!("Repairing: {total} API call{}", if total == 1 { "" } else { "s" }));
        }
        if self.printer.stderr_is_terminal() {
            let bar = indicatif::ProgressBar::new(total as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}") {
                bar.set_style(style);
            }
            *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
        }
    }

    fn finished(&self, op: &OpReport) {
        // An operation not started (interrupted) was not a call: the report counts them.
        if self.printer.is_quiet() || matches!(op.status, OpStatus::NotStarted) {
            return;
        }
        let mark = match &op.status {
            OpStatus::Done => "done",
            OpStatus::Failed(_) => "FAILED",
            OpStatus::Unknown(_) => "UNKNOWN OUTCOME",
            OpStatus::Skipped { .. } => "skipped",
            OpStatus::NotStarted => "not started",
        };
        let line = format!("{} {} ({}): {mark}", op.method, op.path, op.description);
        match self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(bar) => {
                bar.set_message(crate::redact::scrub(&line).into_owned());
                bar.inc(1);
            }
            None => self.printer.status(&format!("  {line}")),
        }
    }

    fn verifying(&self, _round: usize) {
        let spinner = self.printer.spinner("Verifying: reading the platform again");
        *self.spinner.lock().unwrap_or_else(|e| e.into_inner()) = Some(spinner);
    }

    fn verified(&self) {
        self.spinner.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    fn done(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{interrupted, next_ctrl_c, render_report};
    use evalform::apply::{ApplyReport, OpReport, OpStatus};
    use evalform::model::Address;
    use evalform::plan::{Action, Plan, ResourceChange};

    /// Ctrl-C while calls were on their way: the platform was not read again, and an unknown outcome is left to
    /// the next apply. Ctrl-C while the platform was read for verification: the reading is complete, so the report
    /// says what it found still different, and no repair round ran.
    #[test]
    fn an_interrupted_report_says_whether_the_platform_was_read_again() {
        let op = |status| OpReport {
            round: 1,
            method: "POST".into(),
            path: "/test_framework/v1/scenarios/".into(),
            description: "create evaluator \"A\"".into(),
            status,
            created: None,
        };
        let left = ResourceChange {
            address: Address::Evaluator { agent: 12, name: "A".into() },
            action: Action::Update,
            remote_id: Some("5".into()),
            fields: vec![],
        };
        let report = ApplyReport {
            ops: vec![op(OpStatus::Done), op(OpStatus::Unknown("connection closed".into()))],
            remaining: Some(Plan { changes: vec![left], ..Plan::default() }),
            interrupted: true,
            ..ApplyReport::default()
        };
        let unread = ApplyReport { ops: report.ops.clone(), interrupted: true, ..ApplyReport::default() };
        insta::assert_snapshot!(render_report(&unread), @r#"

          unknown: POST /test_framework/v1/scenarios/ (create evaluator "A"): connection closed; the next `evalform apply` settles it by reading the platform, never by resending
        Apply interrupted: 1 API call done, 1 with unknown outcome; the platform was not read again, so it may differ from the manifests.
        Run `evalform plan` to see what is left, and `evalform apply` to finish it: it reads the platform afresh and never sends a call twice.
        "#);
        insta::assert_snapshot!(render_report(&report), @r#"

          unknown: POST /test_framework/v1/scenarios/ (create evaluator "A"): connection closed; settled by reading the platform again
        Apply interrupted: 1 API call done, 1 with unknown outcome; 1 resource still differs from the manifests.
        Run `evalform plan` to see what is left, and `evalform apply` to finish it: it reads the platform afresh and never sends a call twice.
        "#);
        insta::assert_snapshot!(interrupted(&unread), @"error: interrupted: every API call was sent; the platform was not read again");
        insta::assert_snapshot!(interrupted(&report), @"error: interrupted: the platform was read again, and no repair was started");
    }

    #[tokio::test]
    async fn without_a_listener_no_ctrl_c_ever_comes() {
        let mut none = None;
        tokio::select! {
            biased;
            () = next_ctrl_c(&mut none) => panic!("an interruption without a handler"),
            () = tokio::task::yield_now() => {}
        }
    }
}
