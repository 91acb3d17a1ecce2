//! Two applies racing on the same manifests. Both plan from the same read, so both send the same
//! `append_instruction`: the platform then holds the tail twice, and the verification of whichever apply looks last
//! must repair it by full replacement. The end state must equal the manifests exactly.
//!
//! Races that must *create* the same evaluator are a known failure (two evaluators of one name; see
//! `docs/reliability.md`); this test covers updates, where the race is expected to end exact.

use evalform::apply::{converge, Interrupt, Silent};
use evalform::manifest::{self, EnvMode, LoadOptions, ManifestFile};
use evalform::model::normalize_long_text;
use evalform::plan::PlanSettings;
use evalform_sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

const N: usize = 30;
const TAIL: &str = "\nAlways confirm your name.";
const MORE: &str = "\nIf you are put on hold, wait patiently.";

fn manifest() -> String {
    let mut y = format!(
        "version: 1\ncekura:\n  agent: 101\n  project: 7\n  defaults:\n    personality: 7\n    metrics: [501, 502]\n    \
         instructions_suffix: {}\n  evaluators:\n",
        serde_json::to_string(&format!("{TAIL}{MORE}")).unwrap()
    );
    for i in 0..N {
        y.push_str(&format!("    - name: Caller {i}\n      instructions: You are caller {i}.\n"));
    }
    y
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_applies_racing_end_in_exactly_the_desired_state() {
    let sandbox = Sandbox::start(0, SandboxConfig::default()).await.unwrap();
    sandbox.with_state(|s| {
        for i in 0..N {
            let body = json!({
                "name": format!("Caller {i}"), "agent": 101, "personality": 7, "metrics": [501],
                "instructions": normalize_long_text(&format!("You are caller {i}.{TAIL}")),
            });
            s.insert_evaluator(5000 + i as u64, body).unwrap();
        }
    });
    let no_env = |_: &str| None;
    let files = vec![ManifestFile { path: "race.yaml".into(), text: manifest() }];
    let desired =
        manifest::load_texts(files, &LoadOptions { env: &no_env, mode: EnvMode::Required, environment: None })
            .unwrap()
            .state;
    let remote = evalform_cli::demo::remote_for(&sandbox, 4).unwrap();
    let settings = PlanSettings::default();
    let observed = remote.observe(&desired).await.unwrap().observed;
    let plan = evalform::plan::plan(&desired, &observed, &settings).unwrap();
    assert!(
        plan.operations
            .iter()
            .any(|op| matches!(&op.call, evalform::plan::Call::BulkUpdate(b) if b.append_instruction.is_some())),
        "the race must involve an append"
    );

    let never = Interrupt::new();
    let (a, b) = tokio::join!(
        converge(&remote, &desired, &settings, plan.clone(), 4, &Silent, &never),
        converge(&remote, &desired, &settings, plan, 4, &Silent, &never),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.succeeded() && b.succeeded(), "an apply did not verify:\n{a:#?}\n{b:#?}");

    let appends = sandbox
        .requests()
        .iter()
        .filter(|r| r.status == 200 && r.body.as_ref().is_some_and(|b| b.get("append_instruction").is_some()))
        .count();
    assert_eq!(appends, 2, "both applies should have appended (the race this test is about)");
    sandbox.with_state(|s| {
        for e in s.evaluators.values() {
            let i: usize = e.name.trim_start_matches("Caller ").parse().unwrap();
            assert_eq!(e.instructions, normalize_long_text(&format!("You are caller {i}.{TAIL}{MORE}")), "{}", e.name);
            assert_eq!(e.agent, Some(101));
            let mut m = e.metrics.clone();
            m.sort_unstable();
            assert_eq!(m, [501, 502]);
        }
        assert_eq!(s.evaluators.len(), N);
    });
    let again = remote.observe(&desired).await.unwrap().observed;
    assert!(evalform::plan::plan(&desired, &again, &settings).unwrap().is_empty());
    sandbox.shutdown().await;
}
