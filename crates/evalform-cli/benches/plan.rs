//! Micro-benchmark: diff and plan 10,000 in-memory evaluators (`evalform::plan::plan`, pure, no I/O).
//!
//! The observed state is read once, untimed, from an in-process sandbox seeded with the synthetic suite of the
//! `bench` example; the desired state is loaded from that suite's manifests, changed as the workloads change it.
//! Only `plan()` is timed, with the settings `evalform plan` uses without `--out` (no fingerprints: they are timed
//! apart, for a plan that is saved or applied): repetitions, then the median and the fastest. Goal: under 100 ms.
//!
//! ```text
//! cargo bench --bench plan            # or: cargo bench --bench plan -- --evaluators 10000 --reps 21
//! ```

#[path = "../examples/support/suite.rs"]
mod suite;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use evalform::manifest::{self, EnvMode, LoadOptions, ManifestFile};
use evalform::plan::{Plan, PlanSettings};
use evalform_sandbox::{Sandbox, SandboxConfig};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn load(dir: &std::path::Path) -> evalform::model::State {
    let no_env = |_: &str| None;
    let mut files: Vec<ManifestFile> = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        files.push(ManifestFile { path, text });
    }
    let loaded = manifest::load_texts(files, &LoadOptions { env: &no_env, mode: EnvMode::Required, environment: None })
        .unwrap_or_else(|d| panic!("the generated manifests do not load:\n{d}"));
    loaded.state
}

fn main() {
    let n = arg("--evaluators", 10_000);
    let reps = arg("--reps", 21).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let before = suite::suite(n, 1);

    let observed = runtime.block_on(async {
        let sandbox = Sandbox::start(0, SandboxConfig::default()).await.unwrap();
        sandbox.with_state(|s| suite::seed_sandbox(s, &before)).unwrap();
        suite::write_manifests(tmp.path(), &before, true).unwrap();
        let desired = load(tmp.path());
        let remote = evalform_cli::demo::remote_for(&sandbox, 16).unwrap();
        let snapshot = remote.observe(&desired).await.unwrap();
        sandbox.shutdown().await;
        snapshot.observed
    });

    println!("evalform plan micro-benchmark: {n} evaluators in one agent, {reps} repetitions, median (min)");
    let mut fleet = before.clone();
    fleet[0].evaluators.iter_mut().for_each(|e| e.metrics.push(502));
    let mut tail = before.clone();
    tail[0].suffix.push_str("\nIf you are put on hold, wait patiently.");
    let mut mixed = before.clone();
    for (i, e) in mixed[0].evaluators.iter_mut().enumerate() {
        if i % 10 == 0 {
            e.body.push_str("\nThis time you are in a hurry.");
        }
        if i % 5 == 1 {
            e.metrics = vec![501, 503];
        }
        if i % 20 == 2 {
            e.folder = (e.folder + 3) % suite::FOLDERS;
        }
    }
    // As `evalform plan` plans when the plan is only shown; the fingerprints are timed apart below.
    let settings = PlanSettings { fingerprints: false, ..PlanSettings::default() };
    let mut worst = Duration::ZERO;
    for (name, suite_after) in [("no-op", &before), ("fleet", &fleet), ("tail", &tail), ("mixed", &mixed)] {
        suite::write_manifests(tmp.path(), suite_after, true).unwrap();
        let desired = load(tmp.path());
        let mut times = Vec::with_capacity(reps);
        let mut plan = Plan::default();
        for _ in 0..reps {
            let start = Instant::now();
            plan = evalform::plan::plan(&desired, &observed, &settings).unwrap();
            times.push(start.elapsed());
            std::hint::black_box(&plan);
        }
        times.sort();
        let median = times[times.len() / 2];
        worst = worst.max(median);
        println!(
            "{name:>6}: {:>8.2} ms ({:.2} ms)  {} changes, {} calls",
            median.as_secs_f64() * 1000.0,
            times[0].as_secs_f64() * 1000.0,
            plan.changes.len(),
            plan.operations.len()
        );
    }
    let mut times: Vec<Duration> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(evalform::plan::fingerprints(&observed.state));
            start.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "plus, for a plan that is saved (`--out`) or applied, the fingerprints of the observed state: {:.2} ms",
        times[times.len() / 2].as_secs_f64() * 1000.0
    );
    println!(
        "slowest median {:.2} ms: {} the 100 ms goal",
        worst.as_secs_f64() * 1000.0,
        if worst < Duration::from_millis(100) { "within" } else { "OVER" }
    );
}
