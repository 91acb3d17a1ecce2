//! A synthetic evaluator suite for the benchmark and the soak: generated from a seed, written out as manifests the
//! way a large team keeps them (files of a few hundred evaluators per agent), and loaded into a sandbox directly
//! (as if made in the dashboard) so that seeding 10,000 evaluators costs no API calls.
//!
//! It describes resources in the manifest's terms only; it must not reach into the planner or the executor, so
//! that what the benchmark counts is what evalform chose to send.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use evalform_sandbox::SandboxState;
use serde_json::json;

/// Agents of the sandbox's built-in world, with their projects.
pub const AGENTS: [(u64, u64); 4] = [(12, 1376), (1, 1), (101, 7), (202, 7)];
pub const FOLDERS: usize = 10;
pub const PROFILES: usize = 5;
/// Evaluators per manifest file.
pub const PER_FILE: usize = 500;
pub const BASE_SUFFIX: &str = "\nAlways confirm the caller's name before ending.";
pub const DEFAULT_FIRST_MESSAGE: &str = "Hi, I need some help.";
/// Metric sets the mixed workload draws from (all start at `[501]`).
pub const METRIC_SETS: [&[u64]; 3] = [&[501, 502], &[501, 503], &[501, 504, 505]];

#[derive(Debug, Clone, PartialEq)]
pub struct Evaluator {
    pub name: String,
    pub body: String,
    pub expected: String,
    pub first_message: String,
    pub metrics: Vec<u64>,
    pub folder: usize,
    pub profile: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub customer: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AgentSuite {
    pub agent: u64,
    pub project: u64,
    pub suffix: String,
    pub profiles: Vec<Profile>,
    pub evaluators: Vec<Evaluator>,
}

pub fn evaluator(agent: u64, i: usize) -> Evaluator {
    Evaluator {
        name: format!("Caller {agent}-{i:05}"),
        body: format!(
            "You are caller number {i} of agent {agent}. You placed order A-{:05} last week.\n\
             Ask where the order is and when it will arrive; if the agent asks, give your postcode {:05}.",
            (i * 7919) % 100_000,
            (i * 104_729) % 100_000
        ),
        expected: format!("The agent finds order A-{:05} and gives a delivery estimate.", (i * 7919) % 100_000),
        first_message: DEFAULT_FIRST_MESSAGE.to_string(),
        metrics: vec![501],
        folder: i % FOLDERS,
        profile: i % PROFILES,
    }
}

/// `total` evaluators spread evenly over `agents` agents of the built-in world.
pub fn suite(total: usize, agents: usize) -> Vec<AgentSuite> {
    AGENTS[..agents]
        .iter()
        .enumerate()
        .map(|(k, &(agent, project))| {
            let n = total / agents + usize::from(k < total % agents);
            AgentSuite {
                agent,
                project,
                suffix: BASE_SUFFIX.to_string(),
                profiles: (0..PROFILES)
                    .map(|p| Profile { name: format!("Profile {p}"), customer: format!("Customer {p}") })
                    .collect(),
                evaluators: (0..n).map(|i| evaluator(agent, i)).collect(),
            }
        })
        .collect()
}

pub fn folder_name(k: usize) -> String {
    format!("Queue{k}")
}

/// A YAML scalar: JSON's double-quoted strings are valid YAML.
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Write the suite as manifests under `dir` (replacing what is there).
/// What every seeded evaluator's `max_duration` is (the list does not return it: managing it costs a single read
/// per evaluator).
pub const MAX_DURATION: u32 = 300;

pub fn write_manifests(dir: &Path, suites: &[AgentSuite], prune: bool) -> std::io::Result<()> {
    write_manifests_managing(dir, suites, prune, false)
}

/// [`write_manifests`], with `max_duration` managed in `defaults` when `max_duration` is true (as `import`
/// writes suites: it manages every field).
pub fn write_manifests_managing(
    dir: &Path,
    suites: &[AgentSuite],
    prune: bool,
    max_duration: bool,
) -> std::io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    for s in suites {
        for (chunk_no, chunk) in s.evaluators.chunks(PER_FILE).enumerate() {
            let mut y = String::new();
            let _ =
                writeln!(y, "version: 1\ncekura:\n  agent: {}\n  project: {}\n  prune: {prune}", s.agent, s.project);
            if chunk_no == 0 {
                let folders: Vec<String> = (0..FOLDERS).map(folder_name).collect();
                let _ = writeln!(y, "  folders: [{}]", folders.join(", "));
                let _ = writeln!(y, "  test_profiles:");
                for p in &s.profiles {
                    let _ = writeln!(
                        y,
                        "    - name: {}\n      testing_agent_variables: {{customer_name: {}}}",
                        q(&p.name),
                        q(&p.customer)
                    );
                }
            }
            let _ = writeln!(
                y,
                "  defaults:\n    personality: 7\n    tools: [TOOL_END_CALL]\n    tags: [bench]\n    instructions_suffix: {}",
                q(&s.suffix)
            );
            if max_duration {
                let _ = writeln!(y, "    max_duration: {MAX_DURATION}");
            }
            let _ = writeln!(y, "  evaluators:");
            for e in chunk {
                let metrics: Vec<String> = e.metrics.iter().map(u64::to_string).collect();
                let _ = writeln!(
                    y,
                    "    - name: {}\n      folder: {}\n      test_profile: {}\n      instructions: {}\n      \
                     expected_outcome: {}\n      first_message: {}\n      metrics: [{}]",
                    q(&e.name),
                    folder_name(e.folder),
                    q(&s.profiles[e.profile].name),
                    q(&e.body),
                    q(&e.expected),
                    q(&e.first_message),
                    metrics.join(", ")
                );
            }
            std::fs::write(dir.join(format!("agent-{}-{chunk_no:03}.yaml", s.agent)), y)?;
        }
    }
    Ok(())
}

/// Put the suite into a sandbox state as the dashboard would have made it. Returns, per agent, the ids given to
/// its evaluators by name.
pub fn seed_sandbox(state: &mut SandboxState, suites: &[AgentSuite]) -> Result<BTreeMap<String, u64>, String> {
    let mut ids = BTreeMap::new();
    let mut next = 100_000u64;
    for s in suites {
        for k in 0..FOLDERS {
            if !state.folder_exists(s.project, &folder_name(k)) {
                state.insert_folder(s.project, &folder_name(k)).map_err(|e| format!("{e:?}"))?;
            }
        }
        let mut profile_ids = Vec::new();
        for p in &s.profiles {
            next += 1;
            let body = json!({
                "name": p.name, "agent": s.agent,
                "information": {"testing_agent_variables": {"customer_name": p.customer}},
            });
            profile_ids.push(state.insert_test_profile(next, body).map_err(|e| format!("{e:?}"))?);
        }
        for e in &s.evaluators {
            next += 1;
            let body = json!({
                "name": e.name,
                "agent": s.agent,
                "personality": 7,
                "instructions": evalform::model::normalize_long_text(&format!("{}{}", e.body, s.suffix)),
                "expected_outcome_prompt": e.expected,
                "metrics": e.metrics,
                // Made by evalform in an earlier apply: it carries evalform's ownership mark (docs/ownership.md), so
                // a plan neither adopts it again nor leaves it unprunable.
                "tags": ["bench", evalform::model::OWNERSHIP_TAG],
                "tool_ids": ["TOOL_END_CALL"],
                "test_profile": profile_ids[e.profile],
                "folder_path": folder_name(e.folder),
            });
            let id = state.insert_evaluator(next, body).map_err(|e| format!("{e:?}"))?;
            // Like the API, creation takes neither of these: they are set by an edit.
            state
                .edit_evaluator(id, json!({"first_message": e.first_message, "max_duration": MAX_DURATION}))
                .map_err(|e| format!("{e:?}"))?;
            ids.insert(e.name.clone(), id);
        }
    }
    Ok(ids)
}
