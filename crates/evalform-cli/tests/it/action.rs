//! The GitHub Action's scripts (`action/*.sh`), run for real in a fake GitHub job: an event file of a pull request,
//! `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY` files, `GITHUB_API_URL` pointing at a stub of the comment endpoints on
//! 127.0.0.1 that records every request, the `evalform` binary under test (`EVALFORM_BIN`, so nothing is
//! installed) and the sandbox seeded with the demo's state. The install script is fed a fake release directory
//! through a `file://` URL.
//!
//! Skipped, saying so, where bash, curl, jq or tar is missing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, patch};
use axum::Json;
use serde_json::{json, Value};

use crate::common::{evalform, workspace_root};

const TOKEN: &str = "ghs_fake_token_0123456789";

fn missing_tools(tools: &[&str]) -> Option<String> {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| {
            Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err()
        })
        .collect();
    (!missing.is_empty()).then(|| missing.join(", "))
}

macro_rules! require_tools {
    ($($tool:expr),*) => {
        if let Some(missing) = missing_tools(&[$($tool),*]) {
            eprintln!("SKIPPED: {} not installed; the action's scripts need them", missing);
            return;
        }
    };
}

/// What the stub of GitHub's API saw and holds.
#[derive(Debug, Default)]
struct Stub {
    /// `METHOD PATH` of every request, in order.
    requests: Vec<String>,
    /// Whether every request carried the token.
    all_authorized: bool,
    /// The pull request's comments: (id, body).
    comments: Vec<(u64, String)>,
    /// How many comments of other people come before ours (at least one).
    others: u64,
}

type Shared = Arc<Mutex<Stub>>;

fn record(stub: &Shared, headers: &HeaderMap, line: String) {
    let mut s = stub.lock().unwrap();
    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"));
    if s.requests.is_empty() {
        s.all_authorized = true;
    }
    s.all_authorized &= authorized;
    s.requests.push(line);
}

async fn list(
    State(stub): State<Shared>,
    UrlPath((owner, repo, number)): UrlPath<(String, String, u64)>,
    Query(query): Query<std::collections::HashMap<String, usize>>,
    headers: HeaderMap,
) -> Json<Value> {
    let page = query.get("page").copied().unwrap_or(1).max(1);
    let per_page = query.get("per_page").copied().unwrap_or(30).min(100);
    record(&stub, &headers, format!("GET /repos/{owner}/{repo}/issues/{number}/comments?page={page}"));
    let s = stub.lock().unwrap();
    // Someone else's comments first: the marker, not the position, finds ours.
    let mut all: Vec<Value> = (1..=s.others.max(1)).map(|id| json!({"id": id, "body": "LGTM"})).collect();
    all.extend(s.comments.iter().map(|(id, body)| json!({"id": id, "body": body})));
    Json(Value::Array(all.into_iter().skip((page - 1) * per_page).take(per_page).collect()))
}

async fn create(
    State(stub): State<Shared>,
    UrlPath((owner, repo, number)): UrlPath<(String, String, u64)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    record(&stub, &headers, format!("POST /repos/{owner}/{repo}/issues/{number}/comments"));
    let mut s = stub.lock().unwrap();
    let id = 1000 + s.comments.len() as u64;
    s.comments.push((id, body["body"].as_str().unwrap_or_default().to_string()));
    (StatusCode::CREATED, Json(json!({"id": id})))
}

async fn update(
    State(stub): State<Shared>,
    UrlPath((owner, repo, id)): UrlPath<(String, String, u64)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    record(&stub, &headers, format!("PATCH /repos/{owner}/{repo}/issues/comments/{id}"));
    let mut s = stub.lock().unwrap();
    match s.comments.iter_mut().find(|(have, _)| *have == id) {
        Some(comment) => {
            comment.1 = body["body"].as_str().unwrap_or_default().to_string();
            (StatusCode::OK, Json(json!({"id": id})))
        }
        None => (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))),
    }
}

/// The releases of the evalform repository, newest first, as GitHub lists them.
async fn releases(
    State(stub): State<Shared>,
    UrlPath((owner, repo)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Json<Value> {
    record(&stub, &headers, format!("GET /repos/{owner}/{repo}/releases"));
    Json(json!([
        {"tag_name": "v2.0.0", "draft": false, "prerelease": false},
        {"tag_name": "v1.4.0", "draft": true, "prerelease": false},
        {"tag_name": "v1.4.0-rc.1", "draft": false, "prerelease": true},
        {"tag_name": "v1.3.2", "draft": false, "prerelease": false},
        {"tag_name": "v1.3.1", "draft": false, "prerelease": false},
        {"tag_name": "v0.9.0", "draft": false, "prerelease": false},
    ]))
}

/// Start the stub on an ephemeral loopback port, in a thread of its own; returns its base URL.
fn start_stub(stub: Shared) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = axum::Router::new()
                .route("/repos/{owner}/{repo}/issues/{number}/comments", get(list).post(create))
                .route("/repos/{owner}/{repo}/issues/comments/{id}", patch(update))
                .route("/repos/{owner}/{repo}/releases", get(releases))
                .with_state(stub);
            let _ = axum::serve(listener, app).await;
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

/// `evalform sandbox --port 0 --seed-demo`, killed when dropped.
struct Sandbox {
    child: Child,
    base: String,
}

impl Sandbox {
    fn start() -> Self {
        let mut cmd = evalform();
        cmd.args(["sandbox", "--port", "0", "--seed-demo"]).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = cmd.spawn().expect("spawn evalform sandbox");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = line.trim().strip_prefix("listening on ").expect("address line").to_string();
        Sandbox { child, base }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fake GitHub job: its files in a temp dir.
struct Job {
    dir: tempfile::TempDir,
}

impl Job {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("event.json"), r#"{"action":"synchronize","pull_request":{"number":7}}"#)
            .unwrap();
        for file in ["output", "summary"] {
            std::fs::write(dir.path().join(file), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("runner-temp")).unwrap();
        Job { dir }
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(file)).unwrap()
    }

    /// `bash action/SCRIPT` with a clean environment: only what a GitHub job would set, and `vars`.
    fn script(&self, script: &str, vars: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg(workspace_root().join("action").join(script))
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("NO_COLOR", "1")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_EVENT_NAME", "pull_request")
            .env("GITHUB_EVENT_PATH", self.dir.path().join("event.json"))
            .env("GITHUB_OUTPUT", self.dir.path().join("output"))
            .env("GITHUB_STEP_SUMMARY", self.dir.path().join("summary"))
            .env("GITHUB_REPOSITORY", "acme/agents")
            .env("GITHUB_SERVER_URL", "https://github.example")
            .env("GITHUB_RUN_ID", "42")
            .env("RUNNER_TEMP", self.dir.path().join("runner-temp"));
        for (name, value) in vars {
            cmd.env(name, value);
        }
        cmd
    }
}

fn run(mut cmd: Command) -> crate::common::Output {
    crate::common::run(std::mem::replace(&mut cmd, Command::new("true")), None)
}

fn specs() -> PathBuf {
    workspace_root().join("examples/specs")
}

/// The inputs of a `plan` step on a pull request, against the sandbox and the stub.
fn plan_vars<'a>(sandbox: &'a Sandbox, api: &'a str, bin: &'a str, specs: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("EVALFORM_BIN", bin),
        ("EVALFORM_COMMAND", "plan"),
        ("EVALFORM_PATHS", specs),
        ("EVALFORM_ARGS", "--detailed-exitcode"),
        ("EVALFORM_COMMENT", "true"),
        ("GITHUB_API_URL", api),
        ("GITHUB_TOKEN", TOKEN),
        ("CEKURA_BASE_URL", &sandbox.base),
        ("TELA_BASE_URL", &sandbox.base),
        ("CEKURA_API_KEY", "k"),
        ("TELA_API_KEY", "k"),
        ("ACME_SUPPORT_TOKEN", "demo-crm-token-0000"),
    ]
}

#[test]
fn plan_on_a_pull_request_keeps_one_comment_and_passes_the_exit_code_through() {
    require_tools!("bash", "curl", "jq");
    let stub = Shared::default();
    let api = start_stub(stub.clone());
    let sandbox = Sandbox::start();
    let job = Job::new();
    let bin = env!("CARGO_BIN_EXE_evalform");
    let specs = specs().display().to_string();

    // First push: the plan has changes (exit 2 with --detailed-exitcode), a comment is created.
    let first = run(job.script("run.sh", &plan_vars(&sandbox, &api, bin, &specs)));
    assert_eq!(first.code, 2, "{}", first.snapshot());
    assert!(first.stdout.contains("| 2 | 9 | 0 |"), "{}", first.stdout);
    assert!(job.read("output").contains("exitcode=2\n"), "{}", job.read("output"));
    assert!(job.read("summary").contains("| 2 | 9 | 0 |"), "{}", job.read("summary"));
    {
        let s = stub.lock().unwrap();
        assert_eq!(
            s.requests,
            ["GET /repos/acme/agents/issues/7/comments?page=1", "POST /repos/acme/agents/issues/7/comments"]
        );
        assert_eq!(s.comments.len(), 1);
        assert!(s.comments[0].1.starts_with("<!-- evalform-plan -->\n### evalform plan\n"), "{}", s.comments[0].1);
        assert!(s.comments[0].1.contains("| 2 | 9 | 0 |"));
        let body = s.comments[0].1.clone();
        crate::common::settings().bind(|| insta::assert_snapshot!("action-plan-comment", body));
    }

    // Second push: the same comment is updated, not a second one created.
    let second = run(job.script("run.sh", &plan_vars(&sandbox, &api, bin, &specs)));
    assert_eq!(second.code, 2, "{}", second.snapshot());
    {
        let s = stub.lock().unwrap();
        assert_eq!(
            s.requests[2..],
            ["GET /repos/acme/agents/issues/7/comments?page=1", "PATCH /repos/acme/agents/issues/comments/1000"]
        );
        assert_eq!(s.comments.len(), 1, "one comment, updated in place");
    }

    // A broken manifest: exit 1 passes through, the comment says the plan failed, the annotations reach the log.
    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/manifests/invalid/many-problems.yaml");
    let bad = bad.display().to_string();
    let mut vars = plan_vars(&sandbox, &api, bin, &specs);
    vars.retain(|(name, _)| *name != "EVALFORM_PATHS");
    vars.push(("EVALFORM_PATHS", &bad));
    let failed = run(job.script("run.sh", &vars));
    assert_eq!(failed.code, 1, "{}", failed.snapshot());
    assert!(failed.stderr.contains("::error file="), "GITHUB_ACTIONS=true gives annotations: {}", failed.stderr);
    assert!(job.read("output").contains("exitcode=1\n"), "{}", job.read("output"));
    assert!(job.read("summary").contains("### evalform plan failed (exit 1)"), "{}", job.read("summary"));
    let s = stub.lock().unwrap();
    assert_eq!(s.requests.len(), 6, "{:?}", s.requests);
    assert_eq!(s.requests[5], "PATCH /repos/acme/agents/issues/comments/1000");
    assert_eq!(s.comments.len(), 1);
    assert!(s.all_authorized, "every API call carries the token");
    crate::common::settings().bind(|| {
        insta::assert_snapshot!(s.comments[0].1, @r"
        <!-- evalform-plan -->
        ### evalform plan failed

        See the [job log](https://github.example/acme/agents/actions/runs/42) for the error.
        ");
    });
    for out in [&first, &second, &failed] {
        assert!(!out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN), "the token leaked");
        assert!(!out.stdout.contains("demo-crm-token") && !out.stderr.contains("demo-crm-token"), "a secret leaked");
    }
}

#[test]
fn other_commands_pass_their_exit_code_and_post_nothing() {
    require_tools!("bash", "curl", "jq");
    let stub = Shared::default();
    let api = start_stub(stub.clone());
    let job = Job::new();
    let bin = env!("CARGO_BIN_EXE_evalform");
    let specs = specs().display().to_string();
    let vars =
        [("EVALFORM_BIN", bin), ("EVALFORM_COMMAND", "validate"), ("EVALFORM_PATHS", &specs), ("GITHUB_API_URL", &api)];
    let out = run(job.script("run.sh", &vars));
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(out.stdout.starts_with("ok: "), "{}", out.stdout);
    assert_eq!(job.read("output"), "exitcode=0\n");

    // A formatting gate: the hand-written examples are not in import's form.
    let vars = [
        ("EVALFORM_BIN", bin),
        ("EVALFORM_COMMAND", "fmt"),
        ("EVALFORM_ARGS", "--check"),
        ("EVALFORM_PATHS", &specs),
        ("GITHUB_API_URL", &api),
    ];
    let out = run(job.script("run.sh", &vars));
    assert_eq!(out.code, 1, "{}", out.snapshot());
    assert!(out.stdout.starts_with("--- a/"), "{}", out.stdout);
    assert!(out.stderr.ends_with("files would be reformatted\n"), "{}", out.stderr);
    assert_eq!(job.read("output"), "exitcode=0\nexitcode=1\n");

    let vars = [("EVALFORM_BIN", bin), ("EVALFORM_COMMAND", "destroy"), ("GITHUB_API_URL", api.as_str())];
    let out = run(job.script("run.sh", &vars));
    assert_eq!(out.code, 1);
    insta::assert_snapshot!(out.stderr, @"::error title=evalform::input command must be plan, apply, test, run, validate or fmt, not 'destroy'");
    assert!(stub.lock().unwrap().requests.is_empty(), "only plan comments");
}

#[test]
fn a_plan_outside_a_pull_request_writes_the_summary_but_no_comment() {
    require_tools!("bash", "curl", "jq");
    let stub = Shared::default();
    let api = start_stub(stub.clone());
    let sandbox = Sandbox::start();
    let job = Job::new();
    let bin = env!("CARGO_BIN_EXE_evalform");
    let specs = specs().display().to_string();
    let mut cmd = job.script("run.sh", &plan_vars(&sandbox, &api, bin, &specs));
    cmd.env("GITHUB_EVENT_NAME", "schedule");
    let out = run(cmd);
    assert_eq!(out.code, 2, "a drift job fails on changes: {}", out.snapshot());
    assert!(job.read("summary").contains("| 2 | 9 | 0 |"));
    assert!(stub.lock().unwrap().requests.is_empty());
}

/// A release directory as the release workflow publishes it, served as `file://`.
struct Release {
    dir: tempfile::TempDir,
}

impl Release {
    /// `download/TAG/evalform-TARGET.tar.gz` holding a fake `evalform`, and `SHA256SUMS` (corrupted if asked).
    fn new(tag: &str, target: &str, corrupt: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let stage = dir.path().join("stage");
        std::fs::create_dir_all(&stage).unwrap();
        std::fs::write(stage.join("evalform"), format!("#!/bin/sh\necho 'evalform {tag} (fake)'\n")).unwrap();
        let download = dir.path().join("download").join(tag);
        std::fs::create_dir_all(&download).unwrap();
        let asset = format!("evalform-{target}.tar.gz");
        let status = Command::new("tar")
            .args(["-czf"])
            .arg(download.join(&asset))
            .arg("-C")
            .arg(&stage)
            .arg("evalform")
            .status()
            .unwrap();
        assert!(status.success());
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("cd '{}' && (sha256sum * 2>/dev/null || shasum -a 256 *)", download.display()))
            .output()
            .unwrap();
        let mut sums = String::from_utf8(out.stdout).unwrap();
        assert!(sums.contains(&asset), "{sums}");
        if corrupt {
            // Change the first digit to another one (whatever the hash, so the test never passes by chance).
            let first = sums.chars().next().unwrap();
            sums.replace_range(..1, if first == '0' { "1" } else { "0" });
        }
        // Another asset's line first: the script must pick the line of its own asset.
        let sums = format!("{}  evalform-other.tar.gz\n{sums}", "ab".repeat(32));
        std::fs::write(download.join("SHA256SUMS"), sums).unwrap();
        Release { dir }
    }

    fn url(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }
}

#[test]
fn install_picks_the_asset_for_each_runner() {
    require_tools!("bash");
    let job = Job::new();
    let mut table = String::new();
    for (os, arch) in [
        ("Linux", "X64"),
        ("Linux", "ARM64"),
        ("macOS", "X64"),
        ("macOS", "ARM64"),
        ("Windows", "X64"),
        ("Windows", "ARM64"),
        ("Linux", "ARM"),
    ] {
        let mut cmd = job.script("install.sh", &[("RUNNER_OS", os), ("RUNNER_ARCH", arch)]);
        cmd.arg("--asset");
        let out = run(cmd);
        assert_eq!(out.code, 0, "{}", out.snapshot());
        let asset = out.stdout.trim();
        table.push_str(&format!(
            "{os}/{arch}: {}\n",
            if asset.is_empty() { "(none: build from source)" } else { asset }
        ));
    }
    insta::assert_snapshot!(table, @r"
    Linux/X64: evalform-x86_64-unknown-linux-musl.tar.gz
    Linux/ARM64: evalform-aarch64-unknown-linux-musl.tar.gz
    macOS/X64: evalform-x86_64-apple-darwin.tar.gz
    macOS/ARM64: evalform-aarch64-apple-darwin.tar.gz
    Windows/X64: evalform-x86_64-pc-windows-msvc.zip
    Windows/ARM64: (none: build from source)
    Linux/ARM: (none: build from source)
    ");

    // The version: the input, else the action's ref when it is a version (a major one is resolved to its newest
    // release through the API), else the latest release.
    let stub = Shared::default();
    let api = start_stub(stub.clone());
    let plan = |vars: &[(&str, &str)]| {
        let mut all = vec![
            ("RUNNER_OS", "Linux"),
            ("RUNNER_ARCH", "X64"),
            ("RUNNER_TOOL_CACHE", "/cache"),
            ("EVALFORM_REPO", "acme/evalform"),
            ("GITHUB_API_URL", api.as_str()),
            ("GITHUB_TOKEN", TOKEN),
        ];
        all.extend_from_slice(vars);
        let mut cmd = job.script("install.sh", &all);
        cmd.arg("--plan");
        run(cmd).stdout
    };
    insta::assert_snapshot!(plan(&[("EVALFORM_ACTION_REF", "v1")]), @r"
    version=v1.3.2
    target=x86_64-unknown-linux-musl
    asset=evalform-x86_64-unknown-linux-musl.tar.gz
    dir=/cache/evalform/v1.3.2/x86_64-unknown-linux-musl
    key=evalform-v1.3.2-x86_64-unknown-linux-musl
    cacheable=true
    ");
    assert!(plan(&[("EVALFORM_ACTION_REF", "main")]).contains("version=latest\n"));
    assert!(plan(&[("EVALFORM_ACTION_REF", "main")]).contains("cacheable=false\n"));
    assert!(plan(&[("EVALFORM_ACTION_REF", "v0.3.1")]).starts_with("version=v0.3.1\n"));
    assert!(plan(&[("EVALFORM_ACTION_REF", "main"), ("EVALFORM_VERSION", "0.2.0")]).starts_with("version=v0.2.0\n"));
    assert!(plan(&[("EVALFORM_VERSION", "v1.3")]).starts_with("version=v1.3.2\n"));
    // Inside a composite action the repository and ref may only be known from where the runner put the action.
    let mut from_path =
        job.script("install.sh", &[("RUNNER_OS", "Linux"), ("RUNNER_ARCH", "X64"), ("GITHUB_API_URL", api.as_str())]);
    from_path.arg("--plan").env("GITHUB_ACTION_PATH", "/home/runner/work/_actions/acme/evalform/v1");
    let from_path = run(from_path);
    assert!(from_path.stdout.starts_with("version=v1.3.2\n"), "{}", from_path.snapshot());
    let mut nowhere = job.script("install.sh", &[("RUNNER_OS", "Linux"), ("RUNNER_ARCH", "X64")]);
    nowhere.arg("--plan");
    let nowhere = run(nowhere);
    assert_eq!(nowhere.code, 1);
    insta::assert_snapshot!(nowhere.stderr, @"::error title=evalform install::cannot tell which repository evalform is released from: set EVALFORM_REPO=OWNER/evalform");
    // No release in v3: the moving tag is built from source, and not cached.
    let v3 = plan(&[("EVALFORM_ACTION_REF", "v3")]);
    assert!(v3.starts_with("version=v3\n") && v3.contains("cacheable=false\n"), "{v3}");
    let s = stub.lock().unwrap();
    assert!(s.requests.iter().all(|r| r == "GET /repos/acme/evalform/releases"), "{:?}", s.requests);
    assert_eq!(s.requests.len(), 4, "only major and minor versions ask the API: {:?}", s.requests);
}

#[test]
fn install_verifies_the_checksum_and_adds_the_binary_to_the_path() {
    require_tools!("bash", "curl", "tar");
    let target = "x86_64-unknown-linux-musl";
    let job = Job::new();
    std::fs::write(job.dir.path().join("path"), "").unwrap();
    let bin_dir = job.dir.path().join("bin").display().to_string();
    let path_file = job.dir.path().join("path").display().to_string();

    let good = Release::new("v9.9.9", target, false);
    let url = good.url();
    let vars = [
        ("RUNNER_OS", "Linux"),
        ("RUNNER_ARCH", "X64"),
        ("EVALFORM_VERSION", "v9.9.9"),
        ("EVALFORM_RELEASES_URL", url.as_str()),
        ("EVALFORM_INSTALL_DIR", bin_dir.as_str()),
        ("GITHUB_PATH", path_file.as_str()),
    ];
    let out = run(job.script("install.sh", &vars));
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(out.stderr.contains(&format!("evalform-{target}.tar.gz verified (sha256 ")), "{}", out.stderr);
    assert!(out.stderr.contains("evalform v9.9.9 (fake)"), "{}", out.stderr);
    assert_eq!(job.read("path"), format!("{bin_dir}\n"));
    assert!(job.read("output").contains(&format!("dir={bin_dir}\n")));

    // Installed once, found again (the cache restores the directory).
    let again = run(job.script("install.sh", &vars));
    assert_eq!(again.code, 0, "{}", again.snapshot());
    assert!(again.stderr.contains("found in the cache"), "{}", again.stderr);

    // A wrong checksum fails the job: no binary, and no quiet fallback to a build.
    let bad = Release::new("v9.9.9", target, true);
    let bad_url = bad.url();
    let bad_dir = job.dir.path().join("bad-bin").display().to_string();
    let mut bad_vars = vars.to_vec();
    bad_vars.retain(|(n, _)| !matches!(*n, "EVALFORM_RELEASES_URL" | "EVALFORM_INSTALL_DIR"));
    bad_vars.push(("EVALFORM_RELEASES_URL", &bad_url));
    bad_vars.push(("EVALFORM_INSTALL_DIR", &bad_dir));
    let out = run(job.script("install.sh", &bad_vars));
    assert_eq!(out.code, 1, "{}", out.snapshot());
    assert!(
        out.stderr.contains(&format!("checksum mismatch for evalform-{target}.tar.gz of release v9.9.9")),
        "{}",
        out.stderr
    );
    assert!(!Path::new(&bad_dir).join("evalform").exists(), "a binary that failed its checksum was installed");
}

#[test]
fn install_builds_from_source_only_when_no_release_matches() {
    require_tools!("bash", "curl");
    let job = Job::new();
    // A stand-in `cargo` that records its arguments and "builds" a binary where `--root` says.
    let fake = job.dir.path().join("fake-cargo");
    std::fs::create_dir(&fake).unwrap();
    let script = "#!/usr/bin/env bash\necho \"$*\" > \"$HOME/cargo-args\"\nwhile [ \"$1\" != --root ]; do shift; done\n\
                  mkdir -p \"$2/bin\" && printf '#!/bin/sh\\necho evalform built\\n' > \"$2/bin/evalform\" && chmod +x \"$2/bin/evalform\"\n";
    std::fs::write(fake.join("cargo"), script).unwrap();
    let chmod = Command::new("chmod").arg("+x").arg(fake.join("cargo")).status().unwrap();
    assert!(chmod.success());
    let path = format!("{}:{}", fake.display(), std::env::var("PATH").unwrap_or_default());
    let empty = tempfile::tempdir().unwrap();
    let url = format!("file://{}", empty.path().display());
    let bin_dir = job.dir.path().join("bin").display().to_string();
    let mut cmd = job.script(
        "install.sh",
        &[
            ("RUNNER_OS", "Linux"),
            ("RUNNER_ARCH", "X64"),
            ("EVALFORM_VERSION", "v0.2.0"),
            ("EVALFORM_REPO", "acme/evalform"),
            ("EVALFORM_RELEASES_URL", &url),
            ("EVALFORM_INSTALL_DIR", &bin_dir),
        ],
    );
    cmd.env("PATH", path);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(out.stderr.contains("no release v0.2.0 with evalform-x86_64-unknown-linux-musl.tar.gz"), "{}", out.stderr);
    assert_eq!(
        job.read("cargo-args").trim().replace(&bin_dir, "[BIN]"),
        "install --locked --root [BIN]/.cargo --git https://github.example/acme/evalform --tag v0.2.0 evalform-cli"
    );
    assert!(out.stderr.contains("evalform built"), "{}", out.stderr);
}

/// A busy pull request: the plan comment is on the second page of comments, and is still the one updated.
#[test]
fn the_comment_is_found_past_the_first_page() {
    require_tools!("bash", "curl", "jq");
    let stub = Shared::default();
    {
        let mut s = stub.lock().unwrap();
        s.others = 150;
        s.comments.push((5000, "<!-- evalform-plan -->\nan old plan".to_string()));
    }
    let api = start_stub(stub.clone());
    let sandbox = Sandbox::start();
    let job = Job::new();
    let specs = specs().display().to_string();
    let out = run(job.script("run.sh", &plan_vars(&sandbox, &api, env!("CARGO_BIN_EXE_evalform"), &specs)));
    assert_eq!(out.code, 2, "{}", out.snapshot());
    let s = stub.lock().unwrap();
    assert_eq!(
        s.requests,
        [
            "GET /repos/acme/agents/issues/7/comments?page=1",
            "GET /repos/acme/agents/issues/7/comments?page=2",
            "PATCH /repos/acme/agents/issues/comments/5000",
        ]
    );
    assert_eq!(s.comments.len(), 1);
    assert!(s.comments[0].1.contains("| 2 | 9 | 0 |"), "{}", s.comments[0].1);
}
