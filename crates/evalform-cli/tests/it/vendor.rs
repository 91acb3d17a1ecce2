//! Conformance: the vendor's own CLI (PyPI `cekura[cli]==1.6.7`, installed into a throwaway venv) against the
//! sandbox seeded by `evalform apply examples/specs`. Each listed command must succeed unmodified: exit 0 and the
//! output a user would expect. Skipped, with a printed reason, when python3, venv, pip or the package index is not
//! available. The vendor CLI talks only to the sandbox on 127.0.0.1 (its environment is cleared, its HOME is a
//! temporary directory); pip talks only to the package index.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::apply::World;

const PACKAGE: &str = "cekura[cli]==1.6.7";

/// Install the vendor CLI into a new venv under `dir` with `python`; `Err` says why it could not be.
fn install_vendor_cli(python: &str, dir: &Path) -> Result<PathBuf, String> {
    let venv = dir.join("venv");
    let made = Command::new(python).args(["-m", "venv"]).arg(&venv).output();
    match made {
        Err(e) => return Err(format!("{python} is not available ({e})")),
        Ok(o) if !o.status.success() => {
            return Err(format!("python3 -m venv failed: {}", String::from_utf8_lossy(&o.stderr).trim()))
        }
        Ok(_) => {}
    }
    let pip = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "--timeout", "30", "--retries", "1", PACKAGE])
        .output()
        .map_err(|e| format!("pip could not start ({e})"))?;
    if !pip.status.success() {
        let why = String::from_utf8_lossy(&pip.stderr);
        return Err(format!("pip install \"{PACKAGE}\" failed: {}", why.lines().last().unwrap_or("").trim()));
    }
    Ok(venv.join("bin/cekura"))
}

struct Vendor<'a> {
    exe: PathBuf,
    home: &'a Path,
    base_url: String,
    work: &'a Path,
}

impl Vendor<'_> {
    /// `cekura ARGS` with only what it needs in its environment: no proxy, no user config, no other key.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(&self.exe)
            .args(args)
            .current_dir(self.work)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.home)
            .env("CEKURA_API_URL", &self.base_url)
            .env("CEKURA_API_KEY", "sk_conformance")
            .env("COLUMNS", "1000")
            .env("NO_PROXY", "*")
            .output()
            .expect("run the vendor CLI");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
    }
}

#[test]
fn the_vendor_cli_works_against_the_sandbox() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = match install_vendor_cli("python3", tmp.path()) {
        Ok(exe) => exe,
        Err(why) => {
            println!("SKIPPED vendor::the_vendor_cli_works_against_the_sandbox: {why}");
            eprintln!("SKIPPED vendor::the_vendor_cli_works_against_the_sandbox: {why}");
            return;
        }
    };
    let w = World::examples();
    let applied = w.run(&["apply", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}", applied.snapshot());

    let state = w.state();
    let mut ids: Vec<u64> = state.evaluators.values().filter(|e| e.agent == Some(101)).map(|e| e.id).collect();
    ids.sort_unstable();
    let (first, second) = (ids[0].to_string(), ids[1].to_string());
    let profile = state.test_profiles.values().find(|p| p.agent == Some(101)).expect("a test profile").id.to_string();

    let home = tmp.path().join("home");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    let file = |name: &str, text: String| std::fs::write(work.join(name), text).unwrap();
    file("adv.json", format!(r#"{{"scenarios": [{first}, {second}], "project": 7, "metric_ids_to_add": [504]}}"#));
    file("folder.json", r#"{"name": "Vendor", "project_id": 7, "parent_path": "Orders"}"#.into());
    file(
        "agent.json",
        format!(r#"{{"user_message": "Make the outcomes stricter", "scenarios": [{first}], "agent_id": 101}}"#),
    );
    file(
        "spec.json",
        r#"{"version": "1", "scenarios": [{"name": "Refund", "instructions": "Ask for a refund."}]}"#.into(),
    );
    let vendor = Vendor { exe, home: &home, base_url: w.sb.base_url(), work: &work };

    // (command, what its output must contain)
    let commands: Vec<(Vec<&str>, String)> = vec![
        (vec!["scenarios", "list", "--agent-id", "101", "--format", "json"], "\"Order status inquiry\"".into()),
        (vec!["scenarios", "get", &first, "--format", "json"], format!("\"id\": {first}")),
        (vec!["scenarios", "bulk-update", "--from-file", "adv.json"], "504".into()),
        (vec!["scenarios", "folders", "--project-id", "7"], "Orders.Tracking".into()),
        (vec!["scenarios", "folder-create", "--from-file", "folder.json"], "Orders.Vendor".into()),
        (
            vec!["scenarios", "folder-rename", "--path", "Orders.Vendor", "--name", "Partner", "--project-id", "7"],
            "Orders.Partner".into(),
        ),
        (
            vec!["scenarios", "folder-move", "--path", "Orders.Partner", "--project-id", "7"],
            "\"path\": \"Partner\"".into(),
        ),
        (vec!["scenarios", "scenario-agent", "--from-file", "agent.json"], "progress_id".into()),
        (vec!["test-profiles", "list", "--agent-id", "101", "--format", "json"], "Returning customer".into()),
        (vec!["test-profiles", "get", &profile, "--format", "json"], format!("\"id\": {profile}")),
        (
            vec!["test-profiles", "create", "--name", "Vendor profile", "--agent-id", "101", "--format", "json"],
            "Vendor profile".into(),
        ),
        (
            vec!["test-profiles", "update", &profile, "--name", "Renamed profile", "--format", "json"],
            "Renamed profile".into(),
        ),
        (vec!["run", "start", "--agent-id", "101", "--scenario-ids", &first, "--format", "json"], "Run started".into()),
        (vec!["metrics", "list", "--agent-id", "101", "--format", "json"], "Call success".into()),
        (
            vec![
                "metrics",
                "create",
                "--name",
                "Vendor metric",
                "--type",
                "llm_judge",
                "--project-id",
                "7",
                "--agent-id",
                "101",
                "--format",
                "json",
            ],
            "\"Vendor metric\"".into(),
        ),
        (vec!["personalities", "list", "--format", "json"], "Normal Male".into()),
        (vec!["phone-numbers", "inbound", "--project-id", "7", "--format", "json"], "+14155550144".into()),
        (vec!["agents", "get", "101", "--format", "json"], "Acme Shop support".into()),
        (vec!["cron", "list", "--project-id", "7", "--format", "json"], "\"count\"".into()),
        (
            vec![
                "cron",
                "create",
                "--name",
                "nightly",
                "--agent-id",
                "101",
                "--schedule",
                "0 9 * * 1",
                "--scenario-ids",
                &first,
                "--mode",
                "voice",
                "--format",
                "json",
            ],
            "0 9 * * 1".into(),
        ),
        (vec!["run", "spec-schema"], "Cekura test suite".into()),
        (
            vec!["run", "spec", "spec.json", "--agent-id", "101", "--dry-run", "--format", "json"],
            "\"valid\": true".into(),
        ),
    ];
    let mut passed = Vec::new();
    let mut failed = Vec::new();
    for (args, expected) in &commands {
        let (code, stdout, stderr) = vendor.run(args);
        let line = format!("cekura {}", args.join(" "));
        if code == 0 && stdout.contains(expected.as_str()) {
            passed.push(line);
        } else {
            failed.push(format!(
                "{line}\n  exit {code}, expected {expected:?} on stdout\n  stdout: {stdout}\n  stderr: {stderr}"
            ));
        }
    }
    println!("vendor CLI {PACKAGE}: {} of {} commands succeeded", passed.len(), commands.len());
    for line in &passed {
        println!("  ok  {line}");
    }
    assert!(failed.is_empty(), "{} of {} vendor commands failed:\n{}", failed.len(), commands.len(), failed.join("\n"));

    // What the vendor did is what the sandbox holds.
    let after = w.state();
    assert!(after.folder_exists(7, "Partner"), "the renamed and moved folder");
    assert!(after.metrics.values().any(|m| m.name == "Vendor metric" && m.project == 7));
    assert!(after.cron_jobs.values().any(|j| j.name == "nightly" && j.agent == 101));
    assert!(after.test_profiles.values().any(|p| p.name == "Renamed profile"));
}

#[test]
fn a_missing_python_is_a_reason_to_skip_not_a_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let why = install_vendor_cli("python3-that-does-not-exist", tmp.path()).unwrap_err();
    assert!(why.starts_with("python3-that-does-not-exist is not available ("), "{why}");
}
