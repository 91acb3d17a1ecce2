//! The soak: many seeded rounds of "a drifted platform, a flaky network, an apply that may be killed", each
//! checked against the sandbox for exactness.
//!
//! Every round starts an in-process sandbox holding a randomly drifted copy of a small two-agent suite (agents
//! 101 and 202 share project 7, so a wrongly scoped bulk call would move evaluators between them), turns on
//! faults (10% 5xx, 10% 429, 5% "committed then dropped"), and runs `evalform apply --auto-approve` as a child
//! process (this executable re-entered through `evalform_cli::cli::main`). In some rounds the apply is killed with
//! SIGKILL at a random moment; in some, two applies race. Then evalform is applied again until it exits 0 (at
//! most a few times, as a user would), and the round checks the sandbox's own state:
//! - every evaluator, test profile and folder equals what the manifests say, field by field, and nothing else
//!   exists in those agents (prune);
//! - no `append_instruction` was committed twice for one evaluator (outside racing rounds, where a double
//!   append is possible by design and must be repaired);
//! - no evaluator changed agent.
//!
//! ```text
//! cargo run --release --example soak -- --rounds 200 --seed 1
//! cargo run --release --example soak -- --rounds 50 --seed 1 --races 1   # also race two applies
//! ```

#[path = "support/suite.rs"]
mod suite;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use evalform::model::normalize_long_text;
use evalform_sandbox::{FaultConfig, RequestOutcome, Sandbox, SandboxConfig, SandboxState};
use suite::{AgentSuite, FOLDERS, METRIC_SETS};

const CHILD: &str = "EVALFORM_SOAK_AS_EVALFORM";
const MAX_APPLIES: usize = 8;

struct Options {
    /// Whether some rounds race two applies (`--races 1`).
    races: bool,
    rounds: u64,
    seed: u64,
    evaluators: usize,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options { races: false, rounds: 20, seed: 1, evaluators: 60 };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let v = args.next().ok_or_else(|| {
            format!("{flag} needs a value (usage: soak [--rounds N] [--seed S] [--evaluators M] [--races 0|1])")
        })?;
        let n = v.parse::<u64>().map_err(|_| format!("{flag}: `{v}` is not a number"))?;
        match flag.as_str() {
            "--rounds" => o.rounds = n,
            "--seed" => o.seed = n,
            "--evaluators" => o.evaluators = (n as usize).max(2),
            "--races" => o.races = n != 0,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(o)
}

/// The desired suite of a round: two agents of project 7, a shared tail that sometimes grew a line.
fn desired(rng: &mut fastrand::Rng, n: usize) -> Vec<AgentSuite> {
    let mut s = suite::suite(n, 4);
    s.retain(|a| a.project == 7);
    for a in &mut s {
        if rng.bool() {
            a.suffix.push_str("\nIf you are put on hold, wait patiently.");
        }
        for e in &mut a.evaluators {
            if rng.f64() < 0.3 {
                e.metrics = METRIC_SETS[rng.usize(..METRIC_SETS.len())].to_vec();
            }
        }
    }
    s
}

/// The platform at the start of a round: the desired suite with the base tail only (so a grown tail is an
/// append), some evaluators missing, some drifted, some extra.
fn drifted(rng: &mut fastrand::Rng, want: &[AgentSuite]) -> Vec<AgentSuite> {
    let mut out = want.to_vec();
    for a in &mut out {
        a.suffix = suite::BASE_SUFFIX.to_string();
        a.evaluators.retain(|_| rng.f64() >= 0.15);
        for e in &mut a.evaluators {
            match rng.usize(..10) {
                0 => e.body = format!("{} (edited in the dashboard)", e.body),
                1 => e.metrics = vec![501, 506],
                2 => e.folder = (e.folder + 1) % FOLDERS,
                3 => e.first_message = "Hello?".into(),
                _ => {}
            }
        }
        for k in 0..rng.usize(0..4) {
            let mut e = suite::evaluator(a.agent, 900 + k);
            e.name = format!("Stale caller {}-{k}", a.agent);
            a.evaluators.push(e);
        }
        if rng.bool() {
            a.profiles[0].customer = "Someone else".into();
        }
    }
    out
}

fn evalform(exe: &Path, base: &str, dir: &Path) -> std::io::Result<Child> {
    evalform_command(exe, base, dir).spawn()
}

/// `evalform apply` on the round's manifests against the round's sandbox, with no output.
fn evalform_command(exe: &Path, base: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(["apply", "-q", "--auto-approve", "--parallelism", "8"])
        .arg(dir)
        .env(CHILD, "1")
        .env("CEKURA_API_KEY", "soak-key")
        .env("CEKURA_BASE_URL", base)
        .env("EVALFORM_FAST_RETRIES", "1")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// What is wrong with the final state, compared with the manifests; empty when exact.
fn check(state: &SandboxState, want: &[AgentSuite], agents_before: &BTreeMap<u64, Option<u64>>) -> Vec<String> {
    let mut problems = Vec::new();
    for (id, agent) in agents_before {
        if let Some(e) = state.evaluators.get(id) {
            if e.agent != *agent {
                problems.push(format!("evaluator {id} moved from agent {agent:?} to {:?}", e.agent));
            }
        }
    }
    for a in want {
        let profile_ids: BTreeMap<&str, u64> = state
            .test_profiles
            .values()
            .filter(|p| p.agent == Some(a.agent))
            .map(|p| (p.name.as_str(), p.id))
            .collect();
        for p in &a.profiles {
            let Some(stored) = profile_ids.get(p.name.as_str()).and_then(|id| state.test_profiles.get(id)) else {
                problems.push(format!("agent {}: test profile {:?} missing", a.agent, p.name));
                continue;
            };
            let got = stored.information.pointer("/testing_agent_variables/customer_name").and_then(|v| v.as_str());
            if got != Some(p.customer.as_str()) {
                problems.push(format!("agent {}: test profile {:?} has customer {got:?}", a.agent, p.name));
            }
        }
        let mine: Vec<_> = state.evaluators.values().filter(|e| e.agent == Some(a.agent)).collect();
        let names: BTreeSet<&str> = mine.iter().map(|e| e.name.as_str()).collect();
        let wanted: BTreeSet<&str> = a.evaluators.iter().map(|e| e.name.as_str()).collect();
        if mine.len() != names.len() {
            problems.push(format!(
                "agent {}: {} evaluators but {} names (a duplicate)",
                a.agent,
                mine.len(),
                names.len()
            ));
        }
        for extra in names.difference(&wanted) {
            problems.push(format!("agent {}: {extra:?} should have been pruned", a.agent));
        }
        for e in &a.evaluators {
            let Some(got) = mine.iter().find(|s| s.name == e.name) else {
                problems.push(format!("agent {}: {:?} missing", a.agent, e.name));
                continue;
            };
            let instructions = normalize_long_text(&format!("{}{}", e.body, a.suffix));
            let mut metrics = got.metrics.clone();
            metrics.sort_unstable();
            let folder = suite::folder_name(e.folder);
            let profile = profile_ids.get(a.profiles[e.profile].name.as_str()).copied();
            let fields = [
                ("instructions", got.instructions == instructions),
                ("expected outcome", got.expected_outcome_prompt == e.expected),
                ("first message", got.first_message == e.first_message),
                ("metrics", metrics == e.metrics),
                ("folder", got.folder_path.as_deref() == Some(folder.as_str())),
                ("test profile", got.test_profile == profile),
                ("personality", got.personality == Some(7)),
                // evalform's ownership tag beside the manifests' own.
                ("tags", {
                    let mut tags = got.tags.clone();
                    tags.sort();
                    tags == ["bench", evalform::model::OWNERSHIP_TAG]
                }),
                ("tools", got.tool_ids == ["TOOL_END_CALL"]),
            ];
            for (field, ok) in fields {
                if !ok {
                    problems.push(format!("agent {}: {:?}: {field} differs", a.agent, e.name));
                }
            }
            if got.instructions.matches(a.suffix.trim()).count() > 1 {
                problems.push(format!("agent {}: {:?}: the tail is there twice", a.agent, e.name));
            }
        }
    }
    problems
}

/// Evaluators that received a committed `append_instruction` more than once.
fn appended_twice(sandbox: &evalform_sandbox::RunningSandbox) -> Vec<u64> {
    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    for r in sandbox.requests() {
        let committed = matches!(r.outcome, RequestOutcome::Answered | RequestOutcome::DroppedAfterCommit);
        if !(r.path.ends_with("/adv_update/") && committed && r.status == 200) {
            continue;
        }
        let Some(body) = &r.body else { continue };
        if body.get("append_instruction").is_none_or(|v| v.is_null()) {
            continue;
        }
        for id in body.get("scenarios").and_then(|s| s.as_array()).into_iter().flatten().filter_map(|v| v.as_u64()) {
            *seen.entry(id).or_default() += 1;
        }
    }
    seen.into_iter().filter(|&(_, n)| n > 1).map(|(id, _)| id).collect()
}

#[derive(Default)]
struct Tally {
    rounds: u64,
    killed: u64,
    /// Kills after which the platform had some of the apply's writes and still needed more.
    killed_mid_write: u64,
    raced: u64,
    applies: u64,
    faults: BTreeMap<String, u64>,
    failed: Vec<String>,
}

async fn round(exe: &Path, o: &Options, r: u64, dir: &Path, tally: &mut Tally) -> Result<(), String> {
    let mut rng = fastrand::Rng::with_seed(o.seed.wrapping_mul(1_000_003).wrapping_add(r));
    let want = desired(&mut rng, o.evaluators * 2);
    let start = drifted(&mut rng, &want);
    suite::write_manifests(dir, &want, true).map_err(|e| e.to_string())?;
    let sandbox = Sandbox::start(0, SandboxConfig::default()).await.map_err(|e| e.to_string())?;
    // Seeded as evalform left it (every evaluator carries its ownership mark), then drifted: the stale callers
    // are evalform's, so prune deletes them.
    sandbox.with_state(|s| suite::seed_sandbox(s, &start))?;
    let agents_before: BTreeMap<u64, Option<u64>> =
        sandbox.with_state(|s| s.evaluators.values().map(|e| (e.id, e.agent)).collect());
    sandbox.set_faults(FaultConfig {
        seed: rng.u64(..),
        rate_5xx: 0.10,
        rate_429: 0.10,
        retry_after_secs: 0,
        rate_drop_after_commit: 0.05,
        ..FaultConfig::default()
    });
    let base = sandbox.base_url();
    let (kill, race) = match rng.usize(..10) {
        0..=3 => (true, false),
        4 | 5 if o.races => (false, true),
        _ => (false, false),
    };
    let mut mid_write_check = None;
    if kill {
        tally.killed += 1;
        let mut child = evalform(exe, &base, dir).map_err(|e| e.to_string())?;
        tally.applies += 1;
        tokio::time::sleep(Duration::from_millis(rng.u64(0..80))).await;
        let _ = child.kill(); // SIGKILL on Unix
        let _ = child.wait();
        let writes = |s: &evalform_sandbox::RunningSandbox| s.requests().iter().filter(|r| r.method != "GET").count();
        let before = writes(&sandbox);
        if before > 0 {
            mid_write_check = Some(before);
        }
    }
    if race {
        tally.raced += 1;
        let mut a = evalform_command(exe, &base, dir);
        let mut b = evalform_command(exe, &base, dir);
        for c in [&mut a, &mut b] {
            c.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        let (a, b) = (a.spawn().map_err(|e| e.to_string())?, b.spawn().map_err(|e| e.to_string())?);
        tally.applies += 2;
        let (a, b) = tokio::task::spawn_blocking(move || (a.wait_with_output(), b.wait_with_output()))
            .await
            .map_err(|e| e.to_string())?;
        if std::env::var_os("SOAK_DEBUG").is_some() {
            for out in [a, b].into_iter().flatten() {
                eprintln!(
                    "--- racing apply ({}):\n{}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
    let mut ok = false;
    let mut last_error = String::new();
    for _ in 0..MAX_APPLIES {
        let mut cmd = evalform_command(exe, &base, dir);
        cmd.stderr(Stdio::piped()).stdout(Stdio::piped());
        tally.applies += 1;
        let out = tokio::task::spawn_blocking(move || cmd.output()).await.map_err(|e| e.to_string())?;
        let out = out.map_err(|e| e.to_string())?;
        if out.status.success() {
            ok = true;
            break;
        }
        // Keep what the last failing apply said, so a failed round can be understood.
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        last_error = text
            .lines()
            .filter(|l| {
                l.starts_with("error") || l.contains("failed:") || l.starts_with("caused by") || l.starts_with("Apply")
            })
            .take(6)
            .collect::<Vec<_>>()
            .join(" | ");
    }
    if let Some(before) = mid_write_check {
        // The next apply wrote too: the kill interrupted the writes, it did not land after them.
        if sandbox.requests().iter().skip(before).any(|r| r.method != "GET") {
            tally.killed_mid_write += 1;
        }
    }
    for req in sandbox.requests() {
        let key = format!("{:?}", req.outcome);
        *tally.faults.entry(key).or_default() += 1;
    }
    let mut problems = Vec::new();
    if !ok {
        problems.push(format!("apply did not succeed in {MAX_APPLIES} attempts (the last said: {last_error})"));
    }
    problems.extend(sandbox.with_state(|s| check(s, &want, &agents_before)));
    if !race {
        let twice = appended_twice(&sandbox);
        if !twice.is_empty() {
            problems.push(format!("append_instruction committed twice for evaluators {twice:?}"));
        }
    }
    sandbox.shutdown().await;
    tally.rounds += 1;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "round {r} ({}): {}",
            if kill {
                "killed"
            } else if race {
                "raced"
            } else {
                "plain"
            },
            problems.iter().take(10).cloned().collect::<Vec<_>>().join("; ")
        ))
    }
}

fn main() -> ExitCode {
    if std::env::var_os(CHILD).is_some() {
        return evalform_cli::cli::main();
    }
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let (Ok(exe), Ok(runtime), Ok(tmp)) = (
        std::env::current_exe(),
        tokio::runtime::Builder::new_multi_thread().enable_all().build(),
        tempfile::tempdir(),
    ) else {
        eprintln!("cannot set up the soak (executable path, runtime or temporary directory)");
        return ExitCode::FAILURE;
    };
    let started = Instant::now();
    let mut tally = Tally::default();
    for r in 0..o.rounds {
        let dir = tmp.path().join("manifests");
        if let Err(e) = runtime.block_on(round(&exe, &o, r, &dir, &mut tally)) {
            eprintln!("FAIL {e}");
            tally.failed.push(e);
        }
    }
    let faults: Vec<String> = tally.faults.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!(
        "soak: seed {}, {} rounds ({} with a SIGKILLed apply, {} of them killed between writes; {} with two racing \
         applies), {} evaluators per agent, {} applies, {:.1} s",
        o.seed,
        tally.rounds,
        tally.killed,
        tally.killed_mid_write,
        tally.raced,
        o.evaluators,
        tally.applies,
        started.elapsed().as_secs_f64()
    );
    println!("requests by outcome: {}", faults.join(", "));
    if tally.failed.is_empty() {
        println!(
            "all {} rounds exact: final state equals the manifests, no tail appended twice, no evaluator changed agent",
            tally.rounds
        );
        ExitCode::SUCCESS
    } else {
        println!("{} of {} rounds FAILED", tally.failed.len(), tally.rounds);
        ExitCode::FAILURE
    }
}
