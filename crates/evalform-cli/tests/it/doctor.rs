//! `evalform doctor` against the sandbox under its default readings and under each alternative reading it can
//! tell: it reports the reading the server follows. Also: an agent that does not exist. (A refused key is not
//! tested: the sandbox accepts any key.)

use evalform_sandbox::{Reading, SandboxConfig};
use serde_json::Value;

use crate::apply::World;
use crate::common::{run, settings};

/// The examples applied (nested folders exist), one run done (a result to read the status of); then doctor.
fn doctor_under(readings: &[Reading], extra: &[&str]) -> (World, crate::common::Output) {
    let w = World::examples_with(SandboxConfig {
        readings: readings.iter().copied().collect(),
        ..SandboxConfig::default()
    });
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    let mut ran = w.cmd(&["run", "acme-shop", "--name", "Order status*", "--format", "json"]);
    ran.env("EVALFORM_POLL_INTERVAL_MS", "5");
    let ran = run(ran, None);
    assert_eq!(ran.code, 0, "{}", ran.snapshot());
    let report: Value = serde_json::from_str(&ran.stdout).unwrap();
    let result = report["results"][0]["result_id"].as_u64().unwrap().to_string();
    let mut args = vec!["doctor", "acme-shop", "--result", result.as_str(), "--probe-writes"];
    args.extend_from_slice(extra);
    let out = w.run(&args);
    (w, out)
}

fn readings_found(out: &crate::common::Output) -> Vec<(String, String)> {
    let doc: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| Some((c["id"].as_str()?.to_string(), c["reading"].as_str()?.to_string())))
        .collect()
}

#[test]
fn the_default_server_passes_and_says_so() {
    let (w, out) = doctor_under(&[], &[]);
    let shown = out.snapshot().replace(&w.sb.base_url(), "http://127.0.0.1:[PORT]");
    settings().bind(|| {
        insta::assert_snapshot!(shown, @"
        exit: 0
        --- stdout
        Cekura at http://127.0.0.1:[PORT] (from the environment variable CEKURA_BASE_URL), with an API key from the environment variable CEKURA_API_KEY
          ok   the server answered in [DURATION]; the key was accepted
          ok   agent 101 (project 7): 8 evaluators and 2 test profiles readable
          ok   paths without the trailing slash are served
          ok   page size: all 8 evaluators came on one page of up to 500
          ok   folder list: every depth without parent_path
          ok   result statuses in lower case (completed)
          ok   adv_update.scenarios are read as ids
          ok   delete_scenarios reads scenarios
          ok   tool ids are read as TOOL_END_CALL
        All checks passed.
        --- stderr
        ");
    });
}

#[test]
fn each_alternative_reading_it_can_tell_is_reported() {
    for reading in [
        Reading::FoldersTopLevel,
        Reading::StatusUpper,
        Reading::DeleteScenarioIds,
        Reading::AdvUpdateObjects,
        Reading::ToolsLowerCase,
    ] {
        let (_w, out) = doctor_under(&[reading], &["--format", "json"]);
        assert_eq!(out.code, 0, "{reading}: {}", out.snapshot());
        let found = readings_found(&out);
        let name = reading.to_string();
        assert!(found.iter().any(|(_, r)| *r == name), "{reading} not reported: {found:?}");
        let others: Vec<_> = found.iter().filter(|(_, r)| r != "default" && *r != name).collect();
        assert!(others.is_empty(), "{reading}: other readings reported too: {others:?}");
    }
}

#[test]
fn a_missing_agent_fails_with_a_fix_and_the_key_is_never_shown() {
    let w = World::new();
    let mut cmd = w.cmd(&["doctor", "--agent", "999"]);
    cmd.env("CEKURA_API_KEY", "sk-not-shown");
    let out = run(cmd, None);
    assert_eq!(out.code, 1);
    assert!(!out.stdout.contains("sk-not-shown") && !out.stderr.contains("sk-not-shown"));
    let shown = out.snapshot().replace(&w.sb.base_url(), "http://127.0.0.1:[PORT]");
    settings().bind(|| {
        insta::assert_snapshot!(shown, @"
        exit: 1
        --- stdout
        Cekura at http://127.0.0.1:[PORT] (from the environment variable CEKURA_BASE_URL), with an API key from the environment variable CEKURA_API_KEY
          ok   the server answered in [DURATION]; the key was accepted
          FAIL agent 999 cannot be read: GET /test_framework/v2/aiagents/999/: 404 Not Found: Not found.
               fix: check `cekura.agent` in the manifests: the id is in the agent's URL in the dashboard
          ok   paths without the trailing slash are served
          ok   page size: all 0 evaluators came on one page of up to 500
          --   folder list depth not probed: no agent to read
          --   result status case not probed (pass --result ID of an earlier run); evalform reads any case
          --   how adv_update, delete_scenarios and tool ids are read was not probed (--probe-writes sends requests built to be refused); evalform adapts on the first refusal anyway
        Tela at http://127.0.0.1:[PORT] (from the environment variable TELA_BASE_URL), with an API key from the environment variable TELA_API_KEY
          ok   the server answered in [DURATION]; the key was accepted
        1 check failed.
        --- stderr
        ");
    });
}

/// Manifests that describe Tela prompts: Tela is checked too (the server, the key, each prompt); a prompt Tela does
/// not have fails with a fix, and so does a missing Tela key. Manifests of Tela alone are not checked against Cekura.
#[test]
fn tela_is_checked_when_the_manifests_describe_prompts() {
    let w = World::examples();
    w.sb.with_state(|s| {
        s.insert_evaluator(900, serde_json::json!({"name": "Alone", "agent": 101, "personality": 7})).unwrap();
        s.insert_test_profile(901, serde_json::json!({"name": "Only one", "agent": 101})).unwrap();
    });
    let out = w.run(&["doctor", "."]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    // (Counts of one are singular.)
    let agents: Vec<&str> = out.stdout.lines().filter(|l| l.contains("readable") && l.contains("agent ")).collect();
    insta::assert_snapshot!(agents.join("\n"), @"
    ok   agent 101 (project 7): 1 evaluator and 1 test profile readable
    ok   agent 202 (project 7): 0 evaluators and 0 test profiles readable
    ");
    let tela: Vec<&str> = out.stdout.lines().skip_while(|l| !l.starts_with("Tela at")).collect();
    let shown = tela.join("\n").replace(&w.sb.base_url(), "http://127.0.0.1:[PORT]");
    settings().bind(|| insta::assert_snapshot!(shown, @"
    Tela at http://127.0.0.1:[PORT] (from the environment variable TELA_BASE_URL), with an API key from the environment variable TELA_API_KEY
      ok   the server answered in [DURATION]; the key was accepted
      ok   prompt 5f0c2a4e-0000-4000-8000-000000000001: 0 test cases readable
    All checks passed.
    "));

    // A prompt id Tela does not have, in manifests of Tela alone: no Cekura part.
    let prompt = "5f0c2a4e-0000-4000-8000-000000000001";
    w.edit("tela/order-support.yaml", prompt, "5f0c2a4e-0000-4000-8000-00000000dead");
    let out = w.run(&["doctor", "tela"]);
    assert_eq!(out.code, 1, "{}", out.snapshot());
    let shown = out.snapshot().replace(&w.sb.base_url(), "http://127.0.0.1:[PORT]");
    settings().bind(|| insta::assert_snapshot!(shown, @"
    exit: 1
    --- stdout
    Tela at http://127.0.0.1:[PORT] (from the environment variable TELA_BASE_URL), with an API key from the environment variable TELA_API_KEY
      ok   the server answered in [DURATION]; the key was accepted
      FAIL prompt 5f0c2a4e-0000-4000-8000-00000000dead not found: GET /test-case?promptId=5f0c2a4e-0000-4000-8000-00000000dead: 404 Not Found: Prompt 5f0c2a4e-0000-4000-8000-00000000dead not found.
           fix: check `tela.prompt` in the manifests: the prompt's id in Tela, in the key's workspace
    1 check failed.
    --- stderr
    "));

    let mut cmd = w.cmd(&["doctor", "tela"]);
    cmd.env_remove("TELA_API_KEY");
    let out = run(cmd, None);
    assert_eq!(out.code, 1, "{}", out.snapshot());
    let shown = out.snapshot().replace(&w.sb.base_url(), "http://127.0.0.1:[PORT]");
    settings().bind(|| {
        insta::assert_snapshot!(shown, @"
    exit: 1
    --- stdout
    Tela at http://127.0.0.1:[PORT] (from the environment variable TELA_BASE_URL), with no key
      FAIL no tela API key: set TELA_API_KEY
           fix: export TELA_API_KEY=...
    1 check failed.
    --- stderr
    ")
    });
}
