//! `evalform sandbox` as a process: the address line, the notes on stderr, a busy port and a bad state file. The
//! sandbox's HTTP behaviour is tested in its own crate (`crates/evalform-sandbox/tests/http.rs`).

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use evalform_sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};

use crate::common::{evalform, run, settings};

#[tokio::test]
async fn the_command_prints_its_address_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut cmd = evalform();
    cmd.args(["sandbox", "--port", "0", "--state"]).arg(&state).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn evalform sandbox");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").expect("address line").to_string();
    let resp = reqwest::Client::new()
        .get(format!("{base}/test_framework/v1/scenarios/?agent_id=1"))
        .header("X-CEKURA-API-KEY", "x")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, json!({"count": 0, "next": null, "previous": null, "results": []}));
    assert!(state.exists(), "the state file is written at start");
    let shown = format!("--- stdout\n{line}--- stderr\n{}", stderr.replace(&dir.path().display().to_string(), "[DIR]"));
    settings().bind(|| {
        insta::assert_snapshot!(shown, @r"
        --- stdout
        listening on http://127.0.0.1:[PORT]
        --- stderr
        state is kept in [DIR]/state.json
        point evalform at it from another shell:
          export CEKURA_BASE_URL=http://127.0.0.1:[PORT] TELA_BASE_URL=http://127.0.0.1:[PORT]
          export CEKURA_API_KEY=sandbox TELA_API_KEY=sandbox
        press Ctrl-C to stop
        ")
    });
}

#[tokio::test]
async fn the_command_explains_a_busy_port_and_a_bad_state_file() {
    let sb = Sandbox::start(0, SandboxConfig::default()).await.expect("start sandbox");
    let mut cmd = evalform();
    cmd.args(["sandbox", "--port", &sb.addr().port().to_string()]);
    let out = run(cmd, None);
    assert_eq!(out.code, 1);
    settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r"
        exit: 1
        --- stdout
        --- stderr
        error: cannot start the sandbox on 127.0.0.1:[PORT]
        caused by: Address already in use (os error 98)
        hint: another process uses that port; pass `--port 0` to pick a free one
        ")
    });
    sb.shutdown().await;

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("state.json"), r#"{"seed": 1}"#).unwrap();
    let mut cmd = evalform();
    cmd.args(["sandbox", "--port", "0", "--state", "state.json"]);
    let out = run(cmd, Some(dir.path()));
    assert_eq!(out.code, 1);
    settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r"
        exit: 1
        --- stdout
        --- stderr
        error: the sandbox state file state.json is not a sandbox state
        caused by: invalid type: integer `1`, expected struct Seed at line 1 column 10
        hint: move the file away to start from the built-in world; the sandbox never overwrites it
        ")
    });
}

#[test]
fn an_unknown_reading_is_refused_with_the_valid_names() {
    let mut cmd = evalform();
    cmd.args(["sandbox", "--port", "0", "--reading", "status-upper", "--reading", "folders-everywhere"]);
    let out = run(cmd, None);
    assert_eq!(out.code, 1);
    settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @"
        exit: 1
        --- stdout
        --- stderr
        error: invalid value 'folders-everywhere' for '--reading <NAME>': unknown reading `folders-everywhere` (valid: folders-top-level, status-upper, delete-scenario-ids, adv-update-objects, adv-update-object-reply, tools-lower-case, first-message-on-create, tela-run-requires-version)

        For more information, try '--help'.
        ");
    });
}

#[tokio::test]
async fn a_reading_given_on_the_command_line_is_followed_and_said() {
    let mut cmd = evalform();
    cmd.args(["sandbox", "--port", "0", "--reading", "folders-top-level"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn evalform sandbox");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").expect("address line").to_string();
    let http = reqwest::Client::new();
    let post =
        |path: &str, body: Value| http.post(format!("{base}{path}")).header("X-CEKURA-API-KEY", "x").json(&body).send();
    for (name, parent) in [("Sales", Value::Null), ("Inbound", json!("Sales"))] {
        let resp = post(
            "/test_framework/v1/scenarios/create_folder",
            json!({"name": name, "parent_path": parent, "project_id": 7}),
        );
        assert_eq!(resp.await.unwrap().status().as_u16(), 201);
    }
    let folders: Value = http
        .get(format!("{base}/test_framework/v1/scenarios-external/folders?project_id=7"))
        .header("X-CEKURA-API-KEY", "x")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(folders["count"], 1, "only the top level: {folders}");
    let stderr = stderr.replace(&base, "http://127.0.0.1:[PORT]");
    insta::assert_snapshot!(stderr, @r"
    following the alternative reading `folders-top-level`
    point evalform at it from another shell:
      export CEKURA_BASE_URL=http://127.0.0.1:[PORT] TELA_BASE_URL=http://127.0.0.1:[PORT]
      export CEKURA_API_KEY=sandbox TELA_API_KEY=sandbox
    press Ctrl-C to stop
    ");
}
