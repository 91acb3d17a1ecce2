//! The benchmark: how many write calls evalform makes, and how long a plan takes, on 10,000 evaluators.
//!
//! For each workload it seeds an in-process sandbox (with added latency) with a synthetic suite, writes the
//! changed manifests to a temporary directory, and runs `evalform plan` and then `evalform apply --auto-approve`
//! as a user would, each as a child process (this same executable, re-entered through `evalform_cli::cli::main`, the
//! function the `evalform` binary's `main` calls, so `cargo run --example bench` needs no other build). It prints
//! a Markdown table; `docs/benchmarks.md` explains each column and keeps the figures of a real run.
//!
//! It measures; it asserts only that the no-op workload writes nothing and that every apply verified.
//!
//! ```text
//! cargo run --release --example bench -- --evaluators 10000 --latency-ms 25 --parallelism 16
//! ```

#[path = "support/suite.rs"]
mod suite;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use evalform::plan::DEFAULT_BATCH_SIZE;
use evalform_sandbox::{FaultConfig, Sandbox, SandboxConfig};
use suite::{AgentSuite, Evaluator, FOLDERS, METRIC_SETS};

/// Set in the child's environment: run as the `evalform` binary.
const CHILD: &str = "EVALFORM_BENCH_AS_EVALFORM";

#[derive(Debug, Clone)]
struct Options {
    evaluators: usize,
    latency_ms: u64,
    parallelism: u16,
    seed: u64,
    workloads: Vec<String>,
    agents: Vec<usize>,
    /// Keep the generated manifests in this directory (to rerun evalform on them by hand).
    keep: Option<std::path::PathBuf>,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        evaluators: 10_000,
        latency_ms: 25,
        parallelism: 16,
        seed: 1,
        workloads: ["fleet", "tail", "mixed", "no-op"].map(String::from).to_vec(),
        agents: vec![1, 4],
        keep: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| v.parse::<u64>().map_err(|_| format!("{flag}: `{v}` is not a number"));
        match flag.as_str() {
            "--evaluators" => o.evaluators = num(value()?)? as usize,
            "--latency-ms" => o.latency_ms = num(value()?)?,
            "--parallelism" => o.parallelism = num(value()?)?.clamp(1, 256) as u16,
            "--seed" => o.seed = num(value()?)?,
            "--workloads" => o.workloads = value()?.split(',').map(String::from).collect(),
            "--agents" => {
                o.agents = value()?
                    .split(',')
                    .map(|a| num(a.to_string()).map(|n| n.clamp(1, 4) as usize))
                    .collect::<Result<_, _>>()?
            }
            "--keep" => o.keep = Some(value()?.into()),
            "-h" | "--help" => {
                return Err("usage: bench [--evaluators N] [--latency-ms MS] [--parallelism P] [--seed S] \
                            [--workloads fleet,tail,mixed,no-op,imported] [--agents 1,4] [--keep DIR]"
                    .into())
            }
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    Ok(o)
}

/// A workload: the suite after the change, and what any tool needs at least / a one-call-per-resource tool
/// would make.
struct Workload {
    after: Vec<AgentSuite>,
    lower_bound: usize,
    per_resource: usize,
}

fn batches(n: usize) -> usize {
    n.div_ceil(DEFAULT_BATCH_SIZE)
}

fn fleet(before: &[AgentSuite]) -> Workload {
    let mut after = before.to_vec();
    let mut lb = 0;
    let mut naive = 0;
    for s in &mut after {
        for e in &mut s.evaluators {
            e.metrics.push(502);
        }
        lb += batches(s.evaluators.len());
        naive += s.evaluators.len();
    }
    Workload { after, lower_bound: lb, per_resource: naive }
}

fn tail(before: &[AgentSuite]) -> Workload {
    let mut after = before.to_vec();
    let mut lb = 0;
    let mut naive = 0;
    for s in &mut after {
        s.suffix.push_str("\nIf you are put on hold, wait patiently.");
        lb += batches(s.evaluators.len());
        naive += s.evaluators.len();
    }
    Workload { after, lower_bound: lb, per_resource: naive }
}

fn noop(before: &[AgentSuite]) -> Workload {
    Workload { after: before.to_vec(), lower_bound: 0, per_resource: 0 }
}

/// Milliseconds of CPU used by this process itself (`utime` + `stime` of `/proc/self/stat`): the in-process
/// sandbox serving a child's requests, plus the benchmark's own sampling. `None` off Linux.
fn self_cpu_ms() -> Option<f64> {
    // Fields 14 and 15 of the whole line.
    stat_ms(11)
}

/// Milliseconds of CPU used by this process's waited-for children (`cutime` + `cstime` of `/proc/self/stat`), so a
/// child's CPU is the difference around its run. `None` off Linux.
fn children_cpu_ms() -> Option<f64> {
    // Fields 16 and 17 of the whole line.
    stat_ms(13)
}

/// The sum of two consecutive clock-tick fields of `/proc/self/stat`, the first `after_name` fields after the
/// command name, in milliseconds (ticks of 1/100 s, the Linux default).
fn stat_ms(after_name: usize) -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(after_name)?.parse::<u64>().ok()? + fields.get(after_name + 1)?.parse::<u64>().ok()?;
    Some(ticks as f64 * 10.0)
}

/// The typed-parse floor: parsing every manifest of `dir` into a YAML value, in process, as fast as a plain
/// parser goes (no positions, no schema, no model). What loading could cost at the least.
fn parse_floor_ms(dir: &Path) -> f64 {
    let start = Instant::now();
    let mut files: Vec<_> =
        std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
    files.sort();
    for f in files {
        if let Ok(text) = std::fs::read_to_string(&f) {
            let _: Result<serde_yaml::Value, _> = serde_yaml::from_str(&text);
        }
    }
    start.elapsed().as_secs_f64() * 1000.0
}

/// 2% new, 1% pruned, 10% rewritten instructions, 20% metric changes drawn from a few sets, 5% folder moves
/// among the 10 folders, 5% unique first messages (each drawn independently, so some evaluators get several),
/// and two test profile edits per agent.
///
/// The lower bound, per agent: one call per created evaluator, one per evaluator that needs a value no other
/// evaluator shares (rewritten instructions or a unique first message: PATCH, PUT or a one-item `adv_update`,
/// none of which can carry another evaluator), `ceil(n / batch)` for the deletes, and for the evaluators whose
/// changes are all shared values, the most any one field needs (one bulk call per distinct value per batch);
/// plus one call per edited test profile.
fn mixed(before: &[AgentSuite], seed: u64) -> Workload {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut after = before.to_vec();
    let (mut lb, mut naive) = (0, 0);
    for s in &mut after {
        let n = s.evaluators.len();
        let mut kept: Vec<Evaluator> = Vec::with_capacity(n);
        let (mut pruned, mut unique) = (0, 0);
        let mut metric_groups: BTreeMap<Vec<u64>, usize> = BTreeMap::new();
        let mut folder_groups: BTreeMap<usize, usize> = BTreeMap::new();
        for (i, e) in s.evaluators.iter().enumerate() {
            if rng.f64() < 0.01 {
                pruned += 1;
                continue;
            }
            let mut e = e.clone();
            let (mut changed, mut single) = (false, false);
            if rng.f64() < 0.10 {
                e.body = format!("{}\nThis time you are in a hurry (revision {}).", e.body, rng.u32(..));
                changed = true;
                single = true;
            }
            if rng.f64() < 0.05 {
                e.first_message = format!("Hello, caller {i} here, reference {}.", rng.u32(..));
                changed = true;
                single = true;
            }
            let mut metric_change = None;
            if rng.f64() < 0.20 {
                let set = METRIC_SETS[rng.usize(..METRIC_SETS.len())].to_vec();
                e.metrics = set.clone();
                metric_change = Some(set);
                changed = true;
            }
            let mut folder_change = None;
            if rng.f64() < 0.05 {
                let to = (e.folder + 1 + rng.usize(..FOLDERS - 1)) % FOLDERS;
                e.folder = to;
                folder_change = Some(to);
                changed = true;
            }
            if single {
                unique += 1;
            } else {
                if let Some(m) = metric_change {
                    *metric_groups.entry(m).or_default() += 1;
                }
                if let Some(f) = folder_change {
                    *folder_groups.entry(f).or_default() += 1;
                }
            }
            naive += usize::from(changed);
            kept.push(e);
        }
        let created = n / 50;
        for k in 0..created {
            let mut e = suite::evaluator(s.agent, n + k);
            e.name = format!("New caller {}-{k:04}", s.agent);
            kept.push(e);
        }
        rng.shuffle(&mut kept[..]);
        kept.sort_by(|a, b| a.name.cmp(&b.name));
        s.evaluators = kept;
        for p in s.profiles.iter_mut().take(2) {
            p.customer = format!("{} (moved to Portland)", p.customer);
        }
        lb += created + unique + batches(pruned) + bulk(&metric_groups).max(bulk(&folder_groups)) + 2;
        naive += created + pruned + 2;
    }
    Workload { after, lower_bound: lb, per_resource: naive }
}

/// Bulk calls for groups of evaluators that each need one shared value: one per value per batch.
fn bulk<K>(groups: &BTreeMap<K, usize>) -> usize {
    groups.values().map(|&c| batches(c)).sum()
}

/// What one child run of evalform took.
struct Run {
    wall: Duration,
    /// evalform's own CPU time (user + system), apart from the in-process sandbox's.
    cpu_ms: Option<f64>,
    /// The benchmark process's own CPU time meanwhile: the in-process sandbox serving evalform's requests.
    server_cpu_ms: Option<f64>,
    peak_kib: u64,
    ok: bool,
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Run evalform with `args` against `base_url`; sample its peak resident memory (`VmHWM`) while it runs.
fn run_evalform(base_url: &str, args: &[&str]) -> Result<Run, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let cpu_before = children_cpu_ms();
    let own_before = self_cpu_ms();
    let start = Instant::now();
    let mut child = Command::new(exe)
        .args(args)
        .env(CHILD, "1")
        .env("CEKURA_API_KEY", "bench-key")
        .env("CEKURA_BASE_URL", base_url)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start evalform: {e}"))?;
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = vm_hwm_kib(pid) {
            peak = peak.max(kib);
        }
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) => break status,
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    let wall = start.elapsed();
    let cpu_ms = cpu_before.zip(children_cpu_ms()).map(|(a, b)| b - a);
    let server_cpu_ms = own_before.zip(self_cpu_ms()).map(|(a, b)| b - a);
    if !status.success() && status.code() != Some(2) {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        eprintln!(
            "evalform {} failed ({status}):\n{}",
            args.join(" "),
            err.lines().take(20).collect::<Vec<_>>().join("\n")
        );
    }
    Ok(Run { wall, cpu_ms, server_cpu_ms, peak_kib: peak, ok: status.success() || status.code() == Some(2) })
}

#[derive(Debug)]
struct Row {
    workload: String,
    agents: usize,
    evaluators: usize,
    writes: usize,
    per_resource: usize,
    lower_bound: usize,
    plan_ms: f64,
    plan_cpu_ms: Option<f64>,
    plan_server_cpu_ms: Option<f64>,
    floor_ms: f64,
    parse_floor_ms: f64,
    validate_ms: f64,
    reads: usize,
    apply_ms: f64,
    plan_peak_mib: f64,
    apply_peak_mib: f64,
    verified: bool,
}

async fn measure(o: &Options, name: &str, agents: usize, dir: &Path) -> Result<Row, String> {
    let before = suite::suite(o.evaluators, agents);
    let w = match name {
        "fleet" => fleet(&before),
        "tail" => tail(&before),
        "mixed" => mixed(&before, o.seed),
        "no-op" | "imported" => noop(&before),
        other => return Err(format!("unknown workload `{other}`")),
    };
    // An imported suite manages every field, max_duration too, which only the single read returns.
    suite::write_manifests_managing(dir, &w.after, true, name == "imported").map_err(|e| e.to_string())?;
    let parse_floor_ms = parse_floor_ms(dir);
    let d = dir.to_string_lossy().to_string();
    let d2 = d.clone();
    // `validate` reads the same files, and nothing else: set beside the parse floor.
    let validate = tokio::task::spawn_blocking(move || run_evalform("http://127.0.0.1:9", &["validate", "-q", &d2]))
        .await
        .map_err(|e| e.to_string())??;
    if !validate.ok {
        return Err("evalform validate failed on the workload's manifests".into());
    }
    let sandbox = Sandbox::start(0, SandboxConfig::default()).await.map_err(|e| e.to_string())?;
    sandbox.with_state(|s| suite::seed_sandbox(s, &before))?;
    sandbox.set_faults(FaultConfig { latency_ms: o.latency_ms, ..FaultConfig::default() });
    let url = sandbox.base_url();
    let p = o.parallelism.to_string();

    sandbox.clear_requests();
    let u = url.clone();
    let (p2, d2) = (p.clone(), d.clone());
    let plan = tokio::task::spawn_blocking(move || run_evalform(&u, &["plan", "-q", "--parallelism", &p2, &d2]))
        .await
        .map_err(|e| e.to_string())??;
    let reads = sandbox.requests().iter().filter(|r| r.method == "GET").count();
    if std::env::var_os("EVALFORM_BENCH_LOG").is_some() {
        eprintln!("-- plan:");
        for r in sandbox.requests() {
            eprintln!("{} {} {}", r.method, r.route, r.query.as_deref().unwrap_or(""));
        }
    }

    sandbox.clear_requests();
    let u = url.clone();
    let apply = tokio::task::spawn_blocking(move || {
        run_evalform(&u, &["apply", "-q", "--auto-approve", "--parallelism", &p, &d])
    })
    .await
    .map_err(|e| e.to_string())??;
    let writes = sandbox.requests().iter().filter(|r| r.method != "GET").count();
    if std::env::var_os("EVALFORM_BENCH_LOG").is_some() {
        eprintln!("-- apply:");
        for r in sandbox.requests() {
            eprintln!("{} {} {}", r.method, r.route, r.query.as_deref().unwrap_or(""));
        }
    }
    sandbox.shutdown().await;

    let floor_ms = reads.div_ceil(usize::from(o.parallelism)) as f64 * o.latency_ms as f64;
    Ok(Row {
        workload: name.to_string(),
        agents,
        evaluators: o.evaluators,
        writes,
        per_resource: w.per_resource,
        lower_bound: w.lower_bound,
        plan_ms: plan.wall.as_secs_f64() * 1000.0,
        plan_cpu_ms: plan.cpu_ms,
        plan_server_cpu_ms: plan.server_cpu_ms,
        floor_ms,
        parse_floor_ms,
        validate_ms: validate.wall.as_secs_f64() * 1000.0,
        reads,
        apply_ms: apply.wall.as_secs_f64() * 1000.0,
        plan_peak_mib: plan.peak_kib as f64 / 1024.0,
        apply_peak_mib: apply.peak_kib as f64 / 1024.0,
        verified: plan.ok && apply.ok,
    })
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
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot make a temporary directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "evalform bench: {} evaluators, {} ms added latency per request, parallelism {}, batch size {}, seed {}",
        o.evaluators, o.latency_ms, o.parallelism, DEFAULT_BATCH_SIZE, o.seed
    );
    println!();
    println!("| workload | agents | evaluators | writes (evalform) | writes (1 per resource) | lower bound | vs bound | plan wall | plan CPU | sandbox CPU | reads | floor | parse floor | plan/(floor+parse) | validate wall | validate/parse | apply wall | peak RSS (plan, apply) | verified |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let mut failed = false;
    for &agents in &o.agents {
        for name in &o.workloads {
            let dir = o.keep.as_deref().unwrap_or(tmp.path()).join(format!("{name}-{agents}"));
            match runtime.block_on(measure(&o, name, agents, &dir)) {
                Ok(r) => {
                    let vs = if r.lower_bound == 0 {
                        if r.writes == 0 {
                            "=".to_string()
                        } else {
                            "n/a".to_string()
                        }
                    } else {
                        format!("{:+.1}%", (r.writes as f64 / r.lower_bound as f64 - 1.0) * 100.0)
                    };
                    println!(
                        "| {} | {} | {} | {} | {} | {} | {} | {:.0} ms | {} | {} | {} | {:.0} ms | {:.0} ms | {:.2}× | {:.0} ms | {:.2}× | {:.0} ms | {:.0}, {:.0} MiB | {} |",
                        r.workload,
                        r.agents,
                        r.evaluators,
                        r.writes,
                        r.per_resource,
                        r.lower_bound,
                        vs,
                        r.plan_ms,
                        r.plan_cpu_ms.map_or("n/a".to_string(), |c| format!("{c:.0} ms")),
                        r.plan_server_cpu_ms.map_or("n/a".to_string(), |c| format!("{c:.0} ms")),
                        r.reads,
                        r.floor_ms,
                        r.parse_floor_ms,
                        r.plan_ms / (r.floor_ms + r.parse_floor_ms).max(1.0),
                        r.validate_ms,
                        r.validate_ms / r.parse_floor_ms.max(1.0),
                        r.apply_ms,
                        r.plan_peak_mib,
                        r.apply_peak_mib,
                        if r.verified { "yes" } else { "NO" }
                    );
                    failed |= !r.verified || (matches!(r.workload.as_str(), "no-op" | "imported") && r.writes > 0);
                }
                Err(e) => {
                    eprintln!("{name} ({agents} agents): {e}");
                    failed = true;
                }
            }
            if o.keep.is_none() {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
