//! The command line: clap definitions, global settings, and the dispatch to `commands::*`.
//!
//! This module turns flags into settings and calls the library; it holds no logic of its own. It builds the one
//! tokio runtime and maps each command's [`Outcome`] or [`crate::error::CliError`] to the exit codes of the contract.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::{CliError, Outcome};
use crate::printer::Printer;

const AFTER_HELP: &str = "\
Exit codes: 0 success (with --detailed-exitcode: no changes), 1 error, 2 changes (with --detailed-exitcode).
Environment: CEKURA_API_KEY, CEKURA_BASE_URL or CEKURA_API_URL, TELA_API_KEY, TELA_BASE_URL, NO_COLOR,
GITHUB_ACTIONS, EVALFORM_ENV.
Docs: docs/getting-started.md, docs/manifest.md";

/// The longest wait an option may ask for: a week.
const MAX_SECONDS: u64 = 604_800;

/// A platform id: a positive integer the platforms can store (a signed 64-bit column).
fn id_parser() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(1..=i64::MAX as u64)
}

#[derive(Debug, Parser)]
#[command(
    name = "evalform",
    version,
    about = "Keep AI-agent test suites as code: plan and apply Cekura evaluators, test profiles and Tela test cases from YAML",
    long_about = "evalform keeps AI-agent test suites as code. Evaluators and test profiles on Cekura, and test \
cases of Tela prompts, are described in YAML manifests kept in git. `plan` shows what would change on the \
platform, `apply` makes the platform match, and a scheduled `plan --detailed-exitcode` reports drift.\n\n\
Try it with no key and no network: `evalform demo`.",
    after_help = AFTER_HELP,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Settings every command accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// How many API requests may be in flight at once.
    #[arg(long, global = true, help_heading = "Global options", default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallelism: u16,
    /// Give up talking to the platforms after this many seconds, for the whole command (every request, retry and
    /// wait); a single request gives up after 30 seconds in any case.
    #[arg(long, global = true, help_heading = "Global options", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=MAX_SECONDS))]
    pub deadline: Option<u64>,
    /// When to colour the output: auto (on a terminal, unless NO_COLOR is set), always or never
    #[arg(long, global = true, help_heading = "Global options", value_enum, default_value_t = ColorChoice::Auto,
          value_name = "WHEN", hide_possible_values = true)]
    pub color: ColorChoice,
    /// Never colour the output (the same as --color never)
    #[arg(long, global = true, help_heading = "Global options")]
    pub no_color: bool,
    /// Print only data and errors, no progress or hints.
    #[arg(short, long, global = true, help_heading = "Global options", conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more about what happens on stderr (-v: each API call, -vv: debug detail).
    #[arg(short, long, global = true, help_heading = "Global options", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Also report manifest problems for a CI [default: human; github when GITHUB_ACTIONS=true]
    #[arg(long, global = true, help_heading = "Global options", value_enum, value_name = "FORMAT")]
    pub message_format: Option<crate::annotations::MessageFormat>,
    /// Where `--message-format gitlab` writes its Code Quality report [default: gl-code-quality-report.json]
    #[arg(long, global = true, help_heading = "Global options", value_name = "FILE")]
    pub code_quality_report: Option<PathBuf>,
    /// The environment of the project file (evalform.toml) to use [default: EVALFORM_ENV, else default_env]
    #[arg(long = "env", global = true, help_heading = "Global options", value_name = "NAME")]
    pub env: Option<String>,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when the stream is a terminal and NO_COLOR is not set
    Auto,
    /// Always colour, also into a pipe or file
    Always,
    /// Never colour
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and check manifests offline (no network, no key)
    #[command(long_about = "Parse and check manifests offline: unknown keys, wrong types, names declared twice, \
dangling test profile references, bad folders, conditional-actions flows. Every problem is reported with \
FILE:LINE:COLUMN; all problems of a run are reported, not just the first. Exit 0 when valid, 1 otherwise.")]
    Validate(PathArgs),
    /// Rewrite manifests in the form `import` writes, keeping comments
    #[command(long_about = "Rewrite every manifest in the form `evalform import` writes: key order, quoting, \
literal blocks for texts of several lines, two-space indentation, sets as [a, b]. Comments, blank lines between \
entries and ${env:...}/${var:...} placeholders are kept as written. Manifests are found as validate finds them \
(the project file's paths and exclude included).\n\n\
A formatted file is written only when it loads into exactly the same manifest as before; a file with problems is \
reported and left as it is, the others are still formatted. With --check nothing is written: the diff of every \
file that is not formatted goes to stdout. Exit 0 when every file is (or now is) formatted; 1 when --check finds \
a file to reformat, or a file has problems.")]
    Fmt(FmtArgs),
    /// Read the platform and show what would change
    #[command(long_about = "Read the platform's current state for every agent and prompt the manifests name, \
compare it with the manifests, and show the changes and the API calls that would make them. Writes nothing.\n\n\
With --detailed-exitcode the exit code tells drift apart: 0 no changes, 2 changes, 1 error.")]
    Plan(PlanArgs),
    /// Make the platform match the manifests (or execute a saved plan)
    #[command(long_about = "Plan, show the plan, ask for confirmation on a terminal, execute, then read back every \
touched object and verify it. Without a terminal, --auto-approve is required. With --plan FILE, execute a saved \
plan exactly; it is refused before anything is written if any object it was based on has changed since.\n\n\
Non-idempotent calls (append_instruction, metric add/remove) are never replayed: an unknown outcome is settled by \
reading the platform again.")]
    Apply(ApplyArgs),
    /// Start a suite for an agent that has none yet: a commented starter manifest
    #[command(long_about = "Write a commented starter manifest for an agent that has no evaluators yet (for an \
agent that already has some, use `evalform import`). It validates as written; `evalform plan` then shows the one \
evaluator it would create. Nothing is overwritten unless --force is given.")]
    Init(InitArgs),
    /// Show a saved plan (from `plan --out`), reading nothing remote
    #[command(long_about = "Render a saved plan (from `plan --out FILE`) as text, JSON or markdown, as `plan` \
showed it when it was made, without reading the platform or needing a key. Sensitive values are shown as \
(sensitive).")]
    Show(ShowArgs),
    /// Write manifests that describe what exists on the platform now (adoption)
    Import(ImportArgs),
    /// Write edits made on the platform back into the manifests (accept drift)
    Pull(PullArgs),
    /// Start runs of the declared evaluators, wait for them, report
    Run(RunArgs),
    /// Run the evaluators as the manifests say, without changing the platform, and report like run
    #[command(long_about = "Run the selected evaluators as the manifests define them (the branch's text, not \
what is on the platform), through Cekura's `run_scenarios_json`: nothing is created or changed in the agent's \
suite. Waits and reports exactly like `run` (text, json, junit, markdown; exit 1 unless the runs met \
--min-success-rate). More than 200 test cases are sent as several specs and reported as one run. --dry-run \
validates the specs and prints the platform's cost estimate without running anything; --max-credits refuses to \
run a selection estimated to cost more.")]
    Test(TestArgs),
    /// Ask Cekura's AI for improvements, shown as an edit of the manifests
    Suggest(SuggestArgs),
    /// Print the manifests as Cekura's own test-suite spec (run_scenarios_json)
    #[command(long_about = "Print the manifests as Cekura's test-suite spec (version 1, the format of \
`run_scenarios_json`): one test case per selected evaluator, with a stable `key` derived from its name, the \
instructions as the manifests say, test profiles inlined, metrics by slug. Sensitive values are written as their \
`${env:NAME}` template. What the spec cannot express (folders, phone numbers, names no catalog resolves offline) \
is named in a note on stderr. Reads nothing remote.")]
    Export(ExportArgs),
    /// Check the configured platform: key, reachability, permissions, and which reading it follows
    #[command(long_about = "Read-only probes against the configured Cekura server: whether the key is accepted, \
where the base URL and key came from, reachability and latency, access to every declared agent, the page size \
granted, and which reading the server follows on each point where the vendor's sources disagree (folder list \
depth, result status case; with --probe-writes, also how adv_update, delete_scenarios and tool ids are read, \
through requests built to be refused). Printed as a checklist with a fix for each failure. Writes nothing. Exit 1 \
when a check failed.")]
    Doctor(DoctorArgs),
    /// Print the manifests' JSON Schema (or, with --project-file, the project file's)
    Schema(SchemaArgs),
    /// Serve a local stand-in of the Cekura and Tela APIs on loopback
    Sandbox(SandboxArgs),
    /// A self-contained walkthrough on an in-process sandbox: no key, no network
    Demo,
    /// Print a completion script for a shell
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per command with --out-dir
    Man(ManArgs),
}

#[derive(Debug, Clone, Args)]
pub struct FmtArgs {
    #[command(flatten)]
    pub paths: PathArgs,
    /// Write nothing: print the diff of every file that is not formatted, and exit 1 when there is one
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Clone, Args)]
pub struct PathArgs {
    /// Manifest files or directories (all *.yaml / *.yml below them)
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    Markdown,
}

/// Which part of the manifests to plan.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Plan only resources whose name or address matches this glob (repeatable)
    #[arg(long, value_name = "PATTERN")]
    pub target: Vec<String>,
    /// Leave out resources whose name or address matches this glob (repeatable)
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Most evaluators in one bulk call (adv_update, delete_scenarios)
    #[arg(long, env = "EVALFORM_BATCH_SIZE", default_value_t = evalform::plan::DEFAULT_BATCH_SIZE as u64, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: u64,
}

/// Where the platforms are and how to reach them; read from the environment by default.
#[derive(Debug, Clone, Args)]
pub struct RemoteArgs {
    /// Cekura API root [default: CEKURA_BASE_URL or CEKURA_API_URL, else api_url of ~/.cekura/config.toml, else
    /// https://api.cekura.ai]
    #[arg(long, help_heading = "Platforms", value_name = "URL")]
    pub cekura_base_url: Option<String>,
    /// Tela API root [default: TELA_BASE_URL, else https://api.tela.com]
    #[arg(long, help_heading = "Platforms", value_name = "URL")]
    pub tela_base_url: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub paths: PathArgs,
    #[command(flatten)]
    pub targets: TargetArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Save the plan to FILE for `apply --plan FILE` (no secrets are written)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 2 when there are changes, 0 when there are none, 1 on error
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub paths: PathArgs,
    #[command(flatten)]
    pub targets: TargetArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Execute this saved plan exactly (from `plan --out`); no prompt
    #[arg(long, value_name = "FILE", conflicts_with_all = ["target", "exclude"])]
    pub plan: Option<PathBuf>,
    /// Do not ask for confirmation
    #[arg(long)]
    pub auto_approve: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    /// The saved plan
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// The Cekura agent the suite tests (the id in the agent's URL in the dashboard)
    #[arg(long, value_name = "ID", value_parser = id_parser())]
    pub agent: u64,
    /// Directory to write the manifest into
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// Overwrite an existing file
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The Cekura agent to import
    #[arg(long, value_name = "ID", required_unless_present_any = ["prompt", "evaluators", "test_profiles"], value_parser = id_parser())]
    pub agent: Option<u64>,
    /// Adopt these evaluators into the existing manifests under --out (in the file of their agent)
    #[arg(long = "evaluator", value_name = "ID", num_args = 1.., conflicts_with_all = ["agent", "prompt", "force"], value_parser = id_parser())]
    pub evaluators: Vec<u64>,
    /// Adopt these test profiles into the existing manifests under --out (in the file of their agent)
    #[arg(long = "test-profile", value_name = "ID", num_args = 1.., conflicts_with_all = ["agent", "prompt", "force"], value_parser = id_parser())]
    pub test_profiles: Vec<u64>,
    /// A Tela prompt whose test cases to import
    #[arg(long, value_name = "UUID")]
    pub prompt: Option<String>,
    /// Directory to write the manifests into
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// Overwrite existing files
    #[arg(long)]
    pub force: bool,
    /// Write test profile variables whose names say they are secrets (token, key, password, pin, ...) as
    /// `${env:NAME}` references, and list the variables to set
    #[arg(long)]
    pub secrets_as_env: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Clone, Args)]
pub struct PullArgs {
    #[command(flatten)]
    pub paths: PathArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Print the edit as a unified diff instead of writing the files
    #[arg(long)]
    pub dry_run: bool,
    /// A platform change to a value that comes from `defaults`: override it on the evaluator
    #[arg(long, conflicts_with = "default")]
    pub r#override: bool,
    /// A platform change to a value that comes from `defaults`: change the default
    #[arg(long)]
    pub default: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunFormat {
    Text,
    Json,
    Junit,
    Markdown,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub paths: PathArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Run only evaluators with any of these tags (comma-separated)
    #[arg(long, value_delimiter = ',', value_name = "TAG")]
    pub tags: Vec<String>,
    /// Run only evaluators in this folder (or below it)
    #[arg(long, value_name = "PATH")]
    pub folder: Option<String>,
    /// Run only evaluators whose name matches this glob
    #[arg(long, value_name = "PATTERN")]
    pub name: Option<String>,
    /// How many times to run each evaluator (1 to 1000)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub frequency: Option<u32>,
    /// Use this test profile (id) for every run
    #[arg(long, value_name = "ID", value_parser = id_parser())]
    pub test_profile: Option<u64>,
    /// Use this personality (id) for every run
    #[arg(long, value_name = "ID", value_parser = id_parser())]
    pub personality: Option<u64>,
    /// Start the runs and print the result id without waiting
    #[arg(long)]
    pub no_wait: bool,
    #[command(flatten)]
    pub report: ReportArgs,
}

/// How `run` and `test` wait for their results and report them.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Give up waiting after this many seconds (at most a week)
    #[arg(long, value_name = "SECONDS", default_value_t = 1800, value_parser = clap::value_parser!(u64).range(0..=MAX_SECONDS))]
    pub timeout: u64,
    /// The share of runs that must succeed, between 0 and 1
    #[arg(long, value_name = "RATE", default_value_t = 1.0)]
    pub min_success_rate: f64,
    /// Output format
    #[arg(long, value_enum, default_value_t = RunFormat::Text)]
    pub format: RunFormat,
}

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// Manifest files or directories whose agents to check (none: only the key and the server)
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Also check this agent (repeatable)
    #[arg(long = "agent", value_name = "ID", value_parser = id_parser())]
    pub agents: Vec<u64>,
    /// An earlier run's result id, to see how the server writes statuses
    #[arg(long, value_name = "ID", value_parser = id_parser())]
    pub result: Option<u64>,
    /// Also probe how writes are read, with requests built to be refused (nothing is changed)
    #[arg(long)]
    pub probe_writes: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = DoctorFormat::Text)]
    pub format: DoctorFormat,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DoctorFormat {
    Text,
    Json,
}

/// Which declared evaluators a command takes: all of them unless narrowed.
#[derive(Debug, Clone, Args)]
pub struct SelectArgs {
    /// Only evaluators with any of these tags (comma-separated)
    #[arg(long, value_delimiter = ',', value_name = "TAG")]
    pub tags: Vec<String>,
    /// Only evaluators in this folder (or below it)
    #[arg(long, value_name = "PATH")]
    pub folder: Option<String>,
    /// Only evaluators whose name matches this glob
    #[arg(long, value_name = "PATTERN")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Cekura's test-suite spec, version 1 (JSON)
    CekuraSpec,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub paths: PathArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    /// The format to write
    #[arg(long, value_enum, default_value_t = ExportFormat::CekuraSpec)]
    pub format: ExportFormat,
    /// The agent whose evaluators to export, when the manifests name several
    #[arg(long, value_name = "ID", value_parser = id_parser())]
    pub agent: Option<u64>,
    /// Write one file per spec into DIR (agent-ID.json, or agent-ID-partN.json past 200 test cases)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// How a spec run reaches the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Channel {
    Voice,
    Text,
}

#[derive(Debug, Clone, Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub paths: PathArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Only this agent's evaluators, when the manifests name several
    #[arg(long, value_name = "ID", value_parser = id_parser())]
    pub agent: Option<u64>,
    /// How the simulated caller reaches the agent
    #[arg(long, value_enum, default_value_t = Channel::Voice)]
    pub channel: Channel,
    /// Validate the specs and print the platform's cost estimate; run nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Refuse to run when the platform estimates more credits than this (asked with a dry run first)
    #[arg(long, value_name = "N")]
    pub max_credits: Option<u64>,
    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SuggestArgs {
    #[command(flatten)]
    pub paths: PathArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// What to improve, in your words
    #[arg(long, value_name = "TEXT")]
    pub message: String,
    /// Only evaluators whose name matches this glob
    #[arg(long, value_name = "PATTERN")]
    pub name: Option<String>,
    /// Write the edit into the manifest files instead of printing it
    #[arg(long)]
    pub write: bool,
}

#[derive(Debug, Clone, Args)]
pub struct SchemaArgs {
    /// Print the JSON Schema of the project file (evalform.toml) instead of the manifests'
    #[arg(long)]
    pub project_file: bool,
}

#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Port to listen on (0 picks a free one and prints it)
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// Keep state in FILE across restarts (written atomically)
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Seed the sandbox with the demo's dashboard state
    #[arg(long)]
    pub seed_demo: bool,
    /// Follow an alternative reading where the vendor's sources disagree (repeatable; see docs/sandbox.md)
    #[arg(long = "reading", value_name = "NAME", value_parser = parse_reading)]
    pub readings: Vec<evalform_sandbox::Reading>,
}

fn parse_reading(name: &str) -> Result<evalform_sandbox::Reading, String> {
    name.parse().map_err(|e: evalform_sandbox::UnknownReading| e.to_string())
}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write evalform.1 and one evalform-COMMAND.1 per command into DIR instead of printing evalform.1
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    // clap exits 2 on a usage error, which a CI script using --detailed-exitcode would read as "changes": a
    // mistyped flag would pass a drift check. The contract says bad input is 1.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() { ExitCode::from(1) } else { ExitCode::SUCCESS };
        }
    };
    crate::redact::install_panic_hook();
    // The keys are secrets of the run from the start, whether or not this command uses them.
    let _ = crate::env::api_key(evalform::cekura::client::KEY_VAR);
    let _ = crate::env::api_key(evalform::tela::client::KEY_VAR);
    if let Some(secs) = cli.global.deadline {
        crate::connect::set_deadline(std::time::Instant::now() + std::time::Duration::from_secs(secs));
    }
    let printer = Printer::new(&cli.global);
    init_logging(&cli.global, printer.stderr_color());
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            printer.error(&CliError::new(format!("cannot start the async runtime: {err}")));
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(crate::commands::dispatch(cli, &printer));
    let code = match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Changes) => ExitCode::from(2),
        Ok(Outcome::Failure) => ExitCode::from(1),
        Ok(Outcome::Stopped) => ExitCode::from(130),
        Err(err) => {
            printer.error(&err);
            ExitCode::from(1)
        }
    };
    // The reader of stdout went away (`evalform plan | head -1`): end as a process stopped by SIGPIPE would.
    if printer.stdout_closed() {
        return ExitCode::from(141);
    }
    code
}

fn init_logging(global: &GlobalArgs, color: bool) {
    let level = match (global.quiet, global.verbose) {
        (true, _) => tracing::Level::ERROR,
        (false, 0) => tracing::Level::WARN,
        (false, 1) => tracing::Level::INFO,
        (false, 2) => tracing::Level::DEBUG,
        (false, _) => tracing::Level::TRACE,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(crate::redact::LogWriter)
        .with_ansi(color)
        .without_time()
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
