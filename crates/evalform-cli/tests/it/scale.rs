//! `--batch-size`: the most evaluators in one bulk call, the setting the benchmark's call counts depend on
//! (`docs/benchmarks.md`).

use evalform_sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};

use crate::common::{evalform, run};

const MANIFEST: &str = "version: 1\ncekura:\n  agent: 12\n  project: 1376\n  defaults:\n    personality: 7\n    \
                        metrics: [501, 502]\n  evaluators:\n    - {name: A, instructions: a}\n    \
                        - {name: B, instructions: b}\n    - {name: C, instructions: c}\n    \
                        - {name: D, instructions: d}\n    - {name: E, instructions: e}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_size_splits_bulk_calls() {
    let sandbox = Sandbox::start(0, SandboxConfig::default()).await.unwrap();
    sandbox.with_state(|s| {
        for (i, name) in ["A", "B", "C", "D", "E"].iter().enumerate() {
            let body = json!({"name": name, "agent": 12, "personality": 7, "metrics": [501],
                              "instructions": name.to_lowercase()});
            s.insert_evaluator(700 + i as u64, body).unwrap();
        }
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), MANIFEST).unwrap();
    let base = sandbox.base_url();
    let path = dir.path().to_path_buf();
    let calls = tokio::task::spawn_blocking(move || {
        let mut counts = Vec::new();
        for extra in [&[][..], &["--batch-size", "2"][..]] {
            let mut cmd = evalform();
            cmd.args(["plan", "--format", "json", "m.yaml"])
                .args(extra)
                .env("CEKURA_API_KEY", "k")
                .env("CEKURA_BASE_URL", &base);
            let out = run(cmd, Some(&path));
            assert_eq!(out.code, 0, "{}", out.snapshot());
            let plan: Value = serde_json::from_str(&out.stdout).unwrap();
            let bulk: Vec<usize> = plan["operations"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|op| op["path"].as_str().unwrap().ends_with("/adv_update/"))
                .map(|op| op["body"]["scenarios"].as_array().unwrap().len())
                .collect();
            counts.push(bulk);
        }
        counts
    })
    .await
    .unwrap();
    assert_eq!(calls[0], [5], "by default one call carries all five");
    let mut split = calls[1].clone();
    split.sort_unstable();
    assert_eq!(split, [1, 2, 2], "with --batch-size 2: ceil(5 / 2) calls");
    sandbox.shutdown().await;
}
