//! `evalform apply` end to end: the real binary against an in-process sandbox. Every test ends by comparing the
//! sandbox's own stored objects with the manifests, field by field ([`World::assert_exact`]), and by counting in
//! the request log how often each evaluator received an `append_instruction` ([`World::appends`]): the one call
//! that must never be replayed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use evalform::manifest::{self, EnvMode, LoadOptions};
use evalform::model::{Information, MetricRef, NamedRef, ProfileRef, Script, Text, OWNERSHIP_TAG};
use evalform_sandbox::{
    FaultConfig, FaultKind, LoggedRequest, RequestOutcome, RunningSandbox, Sandbox, SandboxConfig, SandboxState,
};
use serde_json::{json, Value};

use crate::common::{evalform, filters, run, Output};

/// The value the examples' `${env:ACME_SUPPORT_TOKEN}` takes in these tests.
const TOKEN: &str = "tok-3f9a-not-printed";

/// A sandbox on its own runtime, and a directory of manifests.
pub struct World {
    pub sb: RunningSandbox,
    pub dir: tempfile::TempDir,
    // Declared last: the sandbox must be dropped while its runtime still exists.
    _rt: tokio::runtime::Runtime,
}

impl World {
    pub fn new() -> World {
        World::with_config(SandboxConfig::default())
    }

    /// A world whose sandbox starts with `config` (for instance under an alternative reading).
    pub fn with_config(config: SandboxConfig) -> World {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let sb = rt.block_on(Sandbox::start(0, config)).expect("start sandbox");
        World { sb, dir: tempfile::tempdir().unwrap(), _rt: rt }
    }

    /// A world whose manifests are a copy of `examples/specs`.
    pub fn examples() -> World {
        World::examples_with(SandboxConfig::default())
    }

    /// [`World::examples`] with a sandbox started with `config`.
    pub fn examples_with(config: SandboxConfig) -> World {
        let w = World::with_config(config);
        let src = crate::common::workspace_root().join("examples/specs");
        for sub in ["acme-shop", "bright-smile", "tela"] {
            for entry in std::fs::read_dir(src.join(sub)).unwrap() {
                let path = entry.unwrap().path();
                let name = format!("{sub}/{}", path.file_name().unwrap().to_str().unwrap());
                w.write(&name, &std::fs::read_to_string(&path).unwrap());
            }
        }
        w
    }

    pub fn write(&self, name: &str, text: &str) {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Replace `from` with `to` in a manifest; `from` must be there.
    pub fn edit(&self, name: &str, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.path(name)).unwrap();
        assert!(text.contains(from), "{name} does not contain {from:?}");
        self.write(name, &text.replacen(from, to, 1));
    }

    /// `evalform ARGS` in the manifest directory, pointed at the sandbox.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = evalform();
        let url = self.sb.base_url();
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("CEKURA_API_KEY", "test-key")
            .env("TELA_API_KEY", "tela-key")
            .env("CEKURA_BASE_URL", &url)
            .env("TELA_BASE_URL", &url)
            .env("ACME_SUPPORT_TOKEN", TOKEN)
            .env("EVALFORM_FAST_RETRIES", "1")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let out = run(self.cmd(args), None);
        assert!(!out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN), "the token leaked:\n{}", out.snapshot());
        out
    }

    pub fn state(&self) -> SandboxState {
        self.sb.with_state(|s| s.clone())
    }

    pub fn log(&self) -> Vec<LoggedRequest> {
        self.sb.requests()
    }

    /// Requests that changed, or may have changed, the platform: every non-GET the sandbox handled.
    pub fn writes(&self) -> Vec<LoggedRequest> {
        self.log().into_iter().filter(|r| r.method != "GET" && committed(r)).collect()
    }

    /// Per evaluator id: how many `append_instruction` calls reached (and were committed by) the platform.
    pub fn appends(&self) -> BTreeMap<u64, usize> {
        let mut out = BTreeMap::new();
        for r in self.writes() {
            let Some(body) = r.body.as_ref().filter(|_| r.path.ends_with("/adv_update/") && r.status == 200) else {
                continue;
            };
            if body.get("append_instruction").is_some_and(|v| !v.is_null()) {
                for id in body["scenarios"].as_array().unwrap() {
                    *out.entry(id.as_u64().unwrap()).or_default() += 1;
                }
            }
        }
        out
    }

    pub fn assert_no_append_twice(&self) {
        let twice: Vec<_> = self.appends().into_iter().filter(|(_, n)| *n > 1).collect();
        assert!(twice.is_empty(), "appended more than once (evaluator id, count): {twice:?}");
    }

    /// The sandbox's stored objects equal the manifests in every managed field (`tags` beside evalform's ownership
    /// tag); each declared resource exists exactly once; with `prune`, no other evaluator evalform made or adopted
    /// exists in the agent, and every declared one carries the ownership tag.
    pub fn assert_exact(&self) {
        let env = |name: &str| (name == "ACME_SUPPORT_TOKEN").then(|| TOKEN.to_string());
        let opts = LoadOptions { env: &env, mode: EnvMode::Required, environment: None };
        let desired = manifest::load(&[self.dir.path().to_path_buf()], &opts).expect("manifests load").state;
        let s = self.state();
        let mut problems = Vec::new();
        for (agent_id, agent) in &desired.agents {
            let project = s.seed.agent(*agent_id).unwrap().project;
            for folder in &agent.folders {
                if !s.folder_exists(project, folder) {
                    problems.push(format!("agent {agent_id}: folder {folder} missing"));
                }
            }
            let profiles: Vec<_> = s.test_profiles.values().filter(|p| p.agent == Some(*agent_id)).collect();
            for want in &agent.test_profiles {
                let got: Vec<_> = profiles.iter().filter(|p| p.name == want.name).collect();
                if got.len() != 1 {
                    problems.push(format!("agent {agent_id}: test profile {:?} exists {} times", want.name, got.len()));
                    continue;
                }
                if let Some(info) = &want.information {
                    if got[0].information != information(info) {
                        problems.push(format!("test profile {:?}: information {}", want.name, got[0].information));
                    }
                }
            }
            let evaluators: Vec<_> = s.evaluators.values().filter(|e| e.agent == Some(*agent_id)).collect();
            if agent.prune {
                let names: BTreeSet<_> = agent.evaluators.iter().map(|e| e.name.as_str()).collect();
                for e in evaluators.iter().filter(|e| e.tags.iter().any(|t| t == OWNERSHIP_TAG)) {
                    if !names.contains(e.name.as_str()) {
                        problems.push(format!("agent {agent_id}: evaluator {:?} should have been pruned", e.name));
                    }
                }
                for e in evaluators.iter().filter(|e| names.contains(e.name.as_str())) {
                    if !e.tags.iter().any(|t| t == OWNERSHIP_TAG) {
                        problems.push(format!("agent {agent_id}: evaluator {:?} was not adopted", e.name));
                    }
                }
            }
            for want in &agent.evaluators {
                let got: Vec<_> = evaluators.iter().filter(|e| e.name == want.name).collect();
                if got.len() != 1 {
                    problems.push(format!("agent {agent_id}: evaluator {:?} exists {} times", want.name, got.len()));
                    continue;
                }
                let (g, w) = (got[0], &want.spec);
                let mut check = |field: &str, ok: bool, got: String| {
                    if !ok {
                        problems.push(format!("evaluator {:?}: {field} is {got}", want.name));
                    }
                };
                if let Some(f) = &w.folder {
                    check("folder", g.folder_path.as_deref().unwrap_or("") == f, format!("{:?}", g.folder_path));
                }
                match &w.script {
                    Some(Script::Text(t)) => check(
                        "instructions",
                        g.scenario_type == "instruction"
                            && evalform::model::normalize_long_text(&g.instructions) == t.expose(),
                        format!("{:?} ({})", g.instructions, g.scenario_type),
                    ),
                    Some(Script::Flow(flow)) => {
                        let stored: Value = serde_json::from_str(&g.instructions).unwrap_or(Value::Null);
                        let want_flow = plain(serde_json::to_value(flow).unwrap());
                        check(
                            "conditional_actions",
                            g.scenario_type == "conditional_actions" && stored == want_flow,
                            g.instructions.clone(),
                        );
                    }
                    None => {}
                }
                if let Some(t) = &w.expected_outcome {
                    check(
                        "expected_outcome",
                        g.expected_outcome_prompt == t.expose(),
                        g.expected_outcome_prompt.clone(),
                    );
                }
                if let Some(t) = &w.first_message {
                    check("first_message", g.first_message == t.expose(), g.first_message.clone());
                }
                if let Some(p) = &w.personality {
                    let id = match p {
                        NamedRef::Id(id) => *id,
                        NamedRef::Name(n) => s.seed.personalities.iter().find(|x| &x.name == n).unwrap().id,
                    };
                    check("personality", g.personality == Some(id), format!("{:?}", g.personality));
                }
                if let Some(p) = &w.test_profile {
                    let id = match p {
                        ProfileRef::Id(id) => Some(*id),
                        ProfileRef::Name(n) => profiles.iter().find(|x| &x.name == n).map(|x| x.id),
                    };
                    check("test_profile", id.is_some() && g.test_profile == id, format!("{:?}", g.test_profile));
                }
                if let Some(m) = &w.metrics {
                    let ids: BTreeSet<u64> = m
                        .iter()
                        .map(|m| match m {
                            MetricRef::Id(id) => *id,
                            MetricRef::Slug(slug) => s.seed.metrics.iter().find(|x| &x.slug == slug).unwrap().id,
                        })
                        .collect();
                    check(
                        "metrics",
                        g.metrics.iter().copied().collect::<BTreeSet<_>>() == ids,
                        format!("{:?}", g.metrics),
                    );
                }
                if let Some(t) = &w.tools {
                    check(
                        "tools",
                        &g.tool_ids.iter().cloned().collect::<evalform::model::SmallSet<_>>() == t,
                        format!("{:?}", g.tool_ids),
                    );
                }
                if let Some(t) = &w.tags {
                    let theirs: evalform::model::SmallSet<String> =
                        g.tags.iter().filter(|t| *t != OWNERSHIP_TAG).cloned().collect();
                    check("tags", &theirs == t, format!("{:?}", g.tags));
                }
                if let Some(l) = &w.language {
                    check("language", &g.scenario_language == l, g.scenario_language.clone());
                }
                if let Some(d) = w.max_duration {
                    check("max_duration", g.max_duration == Some(u64::from(d)), format!("{:?}", g.max_duration));
                }
                if let Some(p) = w.phone_number {
                    check("phone_number", g.phone_number == Some(p), format!("{:?}", g.phone_number));
                }
            }
        }
        for (prompt, want) in &desired.prompts {
            let cases: Vec<_> = s.test_cases.values().filter(|c| &c.prompt_id == prompt).collect();
            for tc in &want.test_cases {
                let got: Vec<_> = cases.iter().filter(|c| c.title == tc.title).collect();
                if got.len() != 1 {
                    problems.push(format!("prompt {prompt}: test case {:?} exists {} times", tc.title, got.len()));
                    continue;
                }
                if let Some(m) = &tc.messages {
                    let want_m: Value =
                        m.iter().map(|m| json!({"role": m.role, "content": m.content.expose()})).collect();
                    if got[0].messages != want_m {
                        problems.push(format!("test case {:?}: messages {}", tc.title, got[0].messages));
                    }
                }
                if let Some(v) = &tc.variables {
                    if got[0].variables != texts(v) {
                        problems.push(format!("test case {:?}: variables {}", tc.title, got[0].variables));
                    }
                }
                if let Some(o) = &tc.expected_output {
                    if got[0].expected_output != json!(o.expose()) {
                        problems.push(format!("test case {:?}: expected output {}", tc.title, got[0].expected_output));
                    }
                }
            }
        }
        assert!(problems.is_empty(), "the platform differs from the manifests:\n  {}", problems.join("\n  "));
    }

    /// Poll the request log until `pred` holds or `timeout` passes.
    pub fn wait_for_log(&self, timeout: Duration, pred: impl Fn(&[LoggedRequest]) -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if pred(&self.log()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

/// A request the platform handled (so a write in it took effect), as opposed to an injected 429/5xx/400.
fn committed(r: &LoggedRequest) -> bool {
    matches!(r.outcome, RequestOutcome::Answered | RequestOutcome::DroppedAfterCommit) && r.status < 300
}

fn texts(map: &BTreeMap<String, Text>) -> Value {
    map.iter().map(|(k, v)| (k.clone(), json!(v.expose()))).collect::<serde_json::Map<_, _>>().into()
}

fn information(info: &Information) -> Value {
    match info {
        Information::Sectioned { main_agent_variables, testing_agent_variables } => json!({
            "main_agent_variables": texts(main_agent_variables),
            "testing_agent_variables": texts(testing_agent_variables),
        }),
        Information::Flat(map) => texts(map),
    }
}

/// A serialised flow with its `Text` values as plain strings (a sensitive `Text` serialises sealed).
fn plain(v: Value) -> Value {
    match v {
        Value::Object(map) if map.contains_key("sensitive") && map.contains_key("value") => map["value"].clone(),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, plain(v))).collect()),
        Value::Array(items) => Value::Array(items.into_iter().map(plain).collect()),
        other => other,
    }
}

/// Snapshot settings for apply output: ids the sandbox hands out depend on the order of concurrent creates.
/// Apply and plan output has no timings, but it does show `max duration 300s`: leave out the duration filter.
pub fn apply_settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    for (pattern, replacement) in filters().into_iter().filter(|(_, r)| *r != "[DURATION]") {
        s.add_filter(pattern, replacement);
    }
    s.set_prepend_module_to_snapshot(false);
    s.add_filter(r"/test-case/7e57ca5e-[0-9a-f-]+", "/test-case/[UUID]");
    s.add_filter(r"/scenarios/\d{4,}/", "/scenarios/[ID]/");
    s.add_filter(r"/test-profiles/\d{4,}/", "/test-profiles/[ID]/");
    s
}

/// Stderr progress lines come in the order calls finish; sort them so a snapshot does not depend on scheduling.
fn sorted_progress(out: &Output) -> Output {
    let mut lines: Vec<&str> = out.stderr.lines().collect();
    lines.sort_unstable();
    Output { code: out.code, stdout: out.stdout.clone(), stderr: lines.join("\n") }
}

// ---- every resource kind: create, update, delete ----

#[test]
fn apply_creates_updates_and_deletes_every_resource_kind() {
    let w = World::examples();
    // A test profile nobody uses, left out of the manifests later: prune leaves it (a test profile cannot carry
    // evalform's ownership mark).
    w.edit(
        "bright-smile/reception.yaml",
        "  test_profiles:\n",
        "  test_profiles:\n    - name: Walk-in\n      information: {note: no appointment}\n",
    );
    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    w.assert_exact();
    let plan = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.snapshot());

    // Update each kind: an instruction, metrics, a legacy (flat) information value, a flow's action, a Tela case.
    w.edit("acme-shop/orders.yaml", "placed eight days ago", "placed ten days ago");
    w.edit("acme-shop/orders.yaml", "metrics: [501, 505, 504]", "metrics: [501, 507]");
    w.edit("acme-shop/orders.yaml", "customer_name: Luis Ortega", "customer_name: Luis Ortega Ruiz");
    w.edit("bright-smile/reception.yaml", "insurance: Delta Dental", "insurance: Cigna");
    w.edit("bright-smile/reception.yaml", "Next Tuesday morning if possible.", "Next Wednesday morning.");
    w.edit("tela/order-support.yaml", "offers a free return label", "offers a prepaid return label");
    // Delete: prune an evaluator; the unused test profile is listed, not deleted.
    w.edit("bright-smile/reception.yaml", "  agent: 202\n", "  agent: 202\n  prune: true\n");
    w.edit("bright-smile/reception.yaml", "    - name: Walk-in\n      information: {note: no appointment}\n", "");
    let text = std::fs::read_to_string(w.path("bright-smile/reception.yaml")).unwrap();
    let cut = text.find("    - name: Elderly caller asks about parking").unwrap();
    w.write("bright-smile/reception.yaml", &text[..cut]);

    w.sb.clear_requests();
    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(out.stdout.contains("0 to create, 6 to update, 1 to delete"), "{}", out.stdout);
    assert!(
        out.stdout.contains(r#"? cekura.agent[202].test_profile["Walk-in"] (id "#)
            && out.stdout.contains("prune leaves test profiles"),
        "{}",
        out.stdout
    );
    w.assert_exact();
    let deleted: Vec<_> = w
        .writes()
        .into_iter()
        .filter(|r| r.method == "DELETE" || r.path.ends_with("/delete_scenarios/"))
        .map(|r| r.route)
        .collect();
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    let plan = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.snapshot());
}

// ---- saved plans ----

#[test]
fn a_saved_plan_applied_twice_refuses_the_second_time_and_appends_once() {
    let w = tails_world(4);
    let out = w.run(&["plan", "--out", "plan.json"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let out = w.run(&["apply", "--plan", "plan.json"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    w.assert_exact();
    let writes = w.writes().len();

    let again = w.run(&["apply", "--plan", "plan.json"]);
    assert_eq!(again.code, 1, "{}", again.snapshot());
    assert!(again.stderr.contains("is stale"), "{}", again.snapshot());
    assert_eq!(w.writes().len(), writes, "the stale plan wrote something");
    assert_eq!(w.appends().values().copied().collect::<Vec<_>>(), [1, 1, 1, 1]);
    w.assert_exact();
}

#[test]
fn a_stale_saved_plan_is_refused_with_nothing_written() {
    let w = tails_world(2);
    assert_eq!(w.run(&["plan", "--out", "plan.json"]).code, 0);
    // A dashboard edit after the plan was made.
    let id = *w.state().evaluators.keys().next().unwrap();
    w.sb.with_state(|s| s.edit_evaluator(id, json!({"expected_outcome_prompt": "Edited in the dashboard."}))).unwrap();
    let out = w.run(&["apply", "--plan", "plan.json"]);
    assert!(w.writes().is_empty(), "{:?}", w.writes());
    apply_settings().bind(|| insta::assert_snapshot!("apply-stale-saved-plan", out.snapshot()));
}

// ---- unknown outcomes, storms ----

/// `n` evaluators of agent 12 whose instructions lack the tail every manifest entry adds: the plan appends it
/// with one `adv_update`.
fn tails_world(n: usize) -> World {
    let w = World::new();
    let mut yaml = String::from(
        "version: 1\ncekura:\n  agent: 12\n  defaults:\n    instructions_suffix: \"\\nAlways confirm the caller's name.\"\n  evaluators:\n",
    );
    w.sb.with_state(|s| {
        for i in 0..n {
            let body = json!({"name": format!("Case {i}"), "agent": 12, "personality": 7,
                "instructions": format!("Caller {i} asks about an order."), "metrics": [501]});
            s.insert_evaluator(2000 + i as u64, body).unwrap();
        }
    });
    for i in 0..n {
        yaml.push_str(&format!("    - name: Case {i}\n      instructions: \"Caller {i} asks about an order.\"\n"));
    }
    w.write("suite.yaml", &yaml);
    w
}

#[test]
fn a_dropped_append_is_settled_by_reading_and_the_tail_lands_once() {
    let w = tails_world(3);
    w.sb.set_faults(FaultConfig::fail_next(FaultKind::DropAfterCommit, 1, Some("POST"), Some("adv_update")));
    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let dropped: Vec<_> = w.log().into_iter().filter(|r| r.outcome == RequestOutcome::DroppedAfterCommit).collect();
    assert_eq!(dropped.len(), 1);
    assert_eq!(w.appends(), BTreeMap::from([(2000, 1), (2001, 1), (2002, 1)]));
    w.assert_exact();
    apply_settings().bind(|| insta::assert_snapshot!("apply-dropped-append", sorted_progress(&out).snapshot()));
}

#[test]
fn apply_converges_through_429_and_5xx_storms() {
    let w = World::examples();
    w.sb.set_faults(FaultConfig {
        seed: 11,
        rate_429: 0.25,
        retry_after_secs: 0,
        rate_5xx: 0.15,
        server_error_status: 503,
        ..FaultConfig::default()
    });
    // A storm may leave some writes with unknown outcomes for more rounds than one apply runs (a create answered
    // 429 is settled by reading, never resent): apply again, as the report says, until it verifies. How many
    // applies that takes depends on the order concurrent requests meet the seeded faults.
    let mut attempts = Vec::new();
    for _ in 0..8 {
        let out = w.run(&["apply", "--auto-approve"]);
        let code = out.code;
        attempts.push(out);
        if code == 0 {
            break;
        }
    }
    let last = attempts.last().unwrap();
    assert_eq!(last.code, 0, "{}", attempts.iter().map(Output::snapshot).collect::<Vec<_>>().join("\n====\n"));
    let injected = w.log().iter().filter(|r| r.outcome != RequestOutcome::Answered).count();
    assert!(injected > 10, "the storm injected only {injected} faults");
    w.sb.set_faults(FaultConfig::default());
    w.assert_exact();
    w.assert_no_append_twice();
}

// ---- races and crashes ----

/// Two `apply --auto-approve` at once, every request delayed by `latency_ms` so that both read before either
/// writes; the faults are cleared once both have ended.
fn race(w: &World, latency_ms: u64) -> (Output, Output) {
    w.sb.set_faults(FaultConfig { latency_ms, ..FaultConfig::default() });
    let a = w.cmd(&["apply", "--auto-approve"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let b = w.cmd(&["apply", "--auto-approve"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let output = |o: std::process::Output| Output {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    let (a, b) = (output(a.wait_with_output().unwrap()), output(b.wait_with_output().unwrap()));
    w.sb.set_faults(FaultConfig::default());
    (a, b)
}

#[test]
fn two_applies_of_tails_at_once_end_in_exactly_the_desired_state() {
    let w = tails_world(6);
    // Latency so both read before either writes: both plan the same append.
    let (a, b) = race(&w, 40);
    w.assert_exact();
    let plan = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}\n--- a\n{}\n--- b\n{}", plan.snapshot(), a.snapshot(), b.snapshot());
    // Each apply sent its append once (so at most two per evaluator); the doubled tails were replaced whole.
    assert!(w.appends().values().all(|n| *n <= 2), "{:?}", w.appends());
    assert!(a.code == 0 && b.code == 0, "--- a\n{}\n--- b\n{}", a.snapshot(), b.snapshot());
}

#[test]
fn two_applies_creating_the_same_evaluators_at_once_end_in_exactly_the_desired_state() {
    let w = World::examples();
    // The examples' Tela test cases are created by both too.
    let (a, b) = race(&w, 20);
    // Both created; the one holding the higher id of each twin deleted its own.
    let twins_deleted = w.writes().iter().filter(|r| r.method == "DELETE").count();
    assert!(twins_deleted > 0, "the two applies did not race");
    w.assert_exact();
    assert!(a.code == 0 && b.code == 0, "--- a\n{}\n--- b\n{}", a.snapshot(), b.snapshot());
    let plan = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.snapshot());
}

/// Two applies creating the same new Tela test cases at once: each verification keeps, per title, the first id
/// in text order of those evalform made and deletes the others, as for evaluators; the platform ends exact.
#[test]
fn two_applies_racing_on_new_tela_test_cases_end_with_one_of_each() {
    let w = World::new();
    w.write(
        "tela.yaml",
        &std::fs::read_to_string(crate::common::workspace_root().join("examples/specs/tela/order-support.yaml"))
            .unwrap(),
    );
    let (a, b) = race(&w, 20);
    let twins_deleted = w.writes().iter().filter(|r| r.method == "DELETE" && r.path.starts_with("/test-case/")).count();
    assert!(twins_deleted > 0, "the two applies did not race");
    w.assert_exact();
    assert!(a.code == 0 && b.code == 0, "--- a\n{}\n--- b\n{}", a.snapshot(), b.snapshot());
    assert!(a.stdout.contains("was created more than once") || b.stdout.contains("was created more than once"));
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

#[test]
fn kill_9_mid_apply_then_apply_again_ends_exact() {
    let w = World::examples();
    w.sb.set_faults(FaultConfig { latency_ms: 60, ..FaultConfig::default() });
    let mut child = w
        .cmd(&["--parallelism", "2", "apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mid = w.wait_for_log(Duration::from_secs(30), |log| {
        log.iter().filter(|r| r.method != "GET" && r.path.ends_with("/scenarios/")).count() >= 3
    });
    child.kill().unwrap(); // SIGKILL on Unix
    let _ = child.wait();
    assert!(mid, "the apply never reached its evaluator creates");
    std::thread::sleep(Duration::from_millis(200));
    let partial = w.state();
    assert!(!partial.evaluators.is_empty() && partial.evaluators.len() < 13, "{}", partial.evaluators.len());

    w.sb.set_faults(FaultConfig::default());
    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    w.assert_exact();
    w.assert_no_append_twice();
}

// ---- partial failure, refusal ----

pub const SMALL: &str = r#"version: 1
cekura:
  agent: 12
  folders: [Support]
  test_profiles:
    - name: Regular
      information: {customer_name: Ana}
  evaluators:
    - name: Refund request
      folder: Support
      personality: 7
      test_profile: Regular
      instructions: The caller wants a refund for order 42.
      max_duration: 300
      language: en
tela:
  prompt: 5f0c2a4e-0000-4000-8000-000000000001
  test_cases:
    - title: Late order
      messages:
        - {role: user, content: Where is my order?}
      expected_output: Gives the tracking link.
"#;

#[test]
fn a_rejected_create_skips_its_dependents_and_a_second_apply_finishes() {
    let w = World::new();
    w.write("suite.yaml", SMALL);
    // The glob matches exactly the evaluator-create path: reject the one create with a 400.
    w.sb.set_faults(FaultConfig::fail_next(
        FaultKind::BadRequest,
        1,
        Some("POST"),
        Some("/test_framework/v1/scenario[s]/"),
    ));
    let out = w.run(&["--parallelism", "1", "apply", "--auto-approve"]);
    assert_eq!(out.code, 1, "{}", out.snapshot());
    apply_settings().bind(|| insta::assert_snapshot!("apply-partial-failure", sorted_progress(&out).snapshot()));
    let s = w.state();
    assert!(s.evaluators.is_empty() && s.test_profiles.len() == 1 && s.test_cases.len() == 1);

    let out = w.run(&["--parallelism", "1", "apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    w.assert_exact();
}

#[test]
fn apply_without_auto_approve_and_without_a_terminal_refuses() {
    let w = World::new();
    w.write("suite.yaml", SMALL);
    let out = w.run(&["apply"]);
    assert_eq!(out.code, 1);
    assert!(w.writes().is_empty(), "{:?}", w.writes());
    apply_settings().bind(|| insta::assert_snapshot!("apply-no-terminal", out.snapshot()));
}

#[test]
fn apply_auto_approve_shows_plan_progress_and_report() {
    let w = World::new();
    w.write("suite.yaml", SMALL);
    let out = w.run(&["--parallelism", "1", "apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    w.assert_exact();
    apply_settings().bind(|| insta::assert_snapshot!("apply-auto-approve", sorted_progress(&out).snapshot()));
}

#[test]
fn a_folder_created_elsewhere_after_the_plan_read_counts_as_done() {
    let w = World::new();
    w.write("suite.yaml", SMALL);
    w.sb.set_faults(FaultConfig { latency_ms: 800, path: Some("create_folder".into()), ..FaultConfig::default() });
    let child = w.cmd(&["apply", "--auto-approve"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Once the folders were read, the folder appears (another apply, the dashboard) before the create lands.
    assert!(w.wait_for_log(Duration::from_secs(20), |log| log.iter().any(|r| r.path.ends_with("/folders/"))));
    w.sb.with_state(|s| s.insert_folder(1376, "Support")).unwrap();
    let out = child.wait_with_output().unwrap();
    let status = out.status;
    let rejected = w.log().iter().filter(|r| r.path.ends_with("/create_folder/") && r.status == 400).count();
    assert_eq!(rejected, 1, "the race did not happen");
    assert!(status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    w.assert_exact();
}

#[test]
fn kill_9_while_an_append_is_in_flight_then_apply_again_appends_once() {
    let w = tails_world(4);
    w.sb.set_faults(FaultConfig { latency_ms: 600, path: Some("adv_update".into()), ..FaultConfig::default() });
    let mut child = w.cmd(&["apply", "--auto-approve"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    assert!(w.wait_for_log(Duration::from_secs(20), |log| log.iter().any(|r| r.path.ends_with("/metrics/"))));
    // The plan is made right after the reads; the append is then held in the sandbox's latency.
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "the apply finished before it was killed");
    std::thread::sleep(Duration::from_millis(700));
    w.sb.set_faults(FaultConfig::default());
    assert!(w.appends().values().all(|n| *n <= 1), "{:?}", w.appends());

    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    w.assert_exact();
    assert_eq!(w.appends().values().copied().collect::<Vec<_>>(), [1, 1, 1, 1], "{:?}", w.appends());
}

#[test]
fn apply_converges_when_writes_are_committed_and_their_answers_lost() {
    let w = World::examples();
    w.edit("acme-shop/orders.yaml", "  project: 7\n", "  project: 7\n  prune: true\n");
    w.sb.set_faults(FaultConfig {
        seed: 5,
        rate_drop_after_commit: 0.3,
        method: Some("POST".into()),
        ..FaultConfig::default()
    });
    let mut attempts = Vec::new();
    for _ in 0..4 {
        let out = w.run(&["apply", "--auto-approve"]);
        let code = out.code;
        attempts.push(out);
        if code == 0 {
            break;
        }
    }
    let dropped = w.log().iter().filter(|r| r.outcome == RequestOutcome::DroppedAfterCommit).count();
    assert!(dropped >= 3, "only {dropped} answers were lost");
    assert_eq!(
        attempts.last().unwrap().code,
        0,
        "{}",
        attempts.iter().map(Output::snapshot).collect::<Vec<_>>().join("\n====\n")
    );
    w.sb.set_faults(FaultConfig::default());
    w.assert_exact();
    w.assert_no_append_twice();
}

#[test]
fn an_unknown_create_with_dependents_is_settled_and_repaired_in_the_same_apply() {
    let w = World::new();
    w.write("suite.yaml", SMALL);
    // A 5xx on a write is an unknown outcome (here nothing was committed); its dependents are skipped.
    w.sb.set_faults(FaultConfig::fail_next(
        FaultKind::ServerError,
        1,
        Some("POST"),
        Some("/test_framework/v1/scenario[s]/"),
    ));
    let out = w.run(&["--parallelism", "1", "apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    w.assert_exact();
    apply_settings()
        .bind(|| insta::assert_snapshot!("apply-unknown-create-repaired", sorted_progress(&out).snapshot()));
}

#[test]
fn an_append_refused_with_a_5xx_is_never_resent_but_repaired_by_replacement() {
    let w = tails_world(3);
    w.sb.set_faults(FaultConfig::fail_next(FaultKind::ServerError, 1, Some("POST"), Some("adv_update")));
    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    // The 5xx came before the server handled it: nothing was appended. The repair replaced each text instead.
    let appends_sent =
        w.log().iter().filter(|r| r.body.as_ref().is_some_and(|b| b.get("append_instruction").is_some())).count();
    assert_eq!(appends_sent, 1, "the append was sent again");
    assert!(w.appends().is_empty());
    let patches = w.writes().iter().filter(|r| r.method == "PATCH").count();
    assert_eq!(patches, 3);
    w.assert_exact();
}

#[test]
fn a_saved_plan_of_the_examples_keeps_no_secret_and_applies_exactly() {
    let w = World::examples();
    assert_eq!(w.run(&["plan", "--out", "plan.json"]).code, 0);
    let saved = std::fs::read_to_string(w.path("plan.json")).unwrap();
    assert!(!saved.contains(TOKEN), "the saved plan holds a secret");
    assert!(saved.contains("${env:ACME_SUPPORT_TOKEN}"));
    let out = w.run(&["apply", "--plan", "plan.json"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    w.assert_exact();

    // With the variable changed since the plan was made, the plan is refused before anything is read or written.
    w.sb.clear_requests();
    let mut cmd = w.cmd(&["apply", "--plan", "plan.json"]);
    cmd.env("ACME_SUPPORT_TOKEN", "another-value");
    let out = run(cmd, None);
    assert_eq!(out.code, 1, "{}", out.snapshot());
    assert!(w.log().is_empty());
    assert!(!out.stderr.contains("another-value") && !out.stderr.contains(TOKEN), "{}", out.stderr);
    apply_settings().bind(|| insta::assert_snapshot!("apply-saved-plan-secret-changed", out.snapshot()));
}

// ---- concurrent human edits ----

#[test]
fn a_person_s_edit_between_the_language_read_and_its_write_survives() {
    let w = World::examples();
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    let id = w.state().evaluators.values().find(|e| e.name == "Toothache emergency").unwrap().id;
    w.edit("bright-smile/reception.yaml", "      max_duration: 180\n", "      max_duration: 180\n      language: de\n");
    // A field the manifest does not manage, changed in the dashboard after evalform read the evaluator and before
    // its PUT reached the platform.
    w.sb.before_next("PUT", &format!("/test_framework/v1/scenarios/{id}/"), move |s| {
        s.edit_evaluator(id, json!({"first_message": "Hello?"})).unwrap();
    });
    w.sb.clear_requests();
    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let put: Vec<Value> = w.writes().into_iter().filter(|r| r.method == "PUT").filter_map(|r| r.body).collect();
    assert_eq!(put.len(), 1, "{put:?}");
    let mut keys: Vec<&String> = put[0].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["name", "personality", "scenario_language"], "the PUT carries no field read earlier but these");
    let e = w.state().evaluators[&id].clone();
    assert_eq!(e.scenario_language, "de");
    assert_eq!(e.first_message, "Hello?", "the person's edit of a field no manifest manages survives");
    w.assert_exact();
}

/// An evaluator deleted between the plan's read and its PATCH (a person, or a racing apply removing its twin):
/// the PATCH's 404 is not a refusal of the change; the next round, from a fresh read, creates it again and the
/// apply verifies.
#[test]
fn an_evaluator_deleted_before_its_patch_is_made_again_and_the_apply_verifies() {
    let w = World::examples();
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    let id = w.state().evaluators.values().find(|e| e.name == "Toothache emergency").unwrap().id;
    w.edit("bright-smile/reception.yaml", "and want to be seen today.", "and want to be seen today, before noon.");
    w.sb.before_next("PATCH", &format!("/test_framework/v1/scenarios/{id}/"), move |s| {
        s.evaluators.remove(&id);
    });
    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(out.stdout.contains("(the evaluator is gone)"), "{}", out.stdout);
    w.assert_exact();
}

#[test]
fn a_variables_section_the_manifest_does_not_mention_is_not_managed() {
    let w = World::examples();
    w.edit("bright-smile/reception.yaml", "      testing_agent_variables:\n        patient_name: Tom Becker\n", "");
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    let profile = |w: &World| w.state().test_profiles.values().find(|p| p.name == "New patient").unwrap().clone();
    let id = profile(&w).id;
    // The manifest declares only `main_agent_variables` of "New patient"; a person fills in the caller's side.
    w.sb.with_state(|s| {
        let info = json!({"main_agent_variables": {"clinic_location": "Downtown"},
                          "testing_agent_variables": {"caller_name": "Ana"}});
        s.edit_test_profile(id, json!({"information": info})).unwrap();
    });
    let out = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.code, 0, "not a change: {}", out.snapshot());
    w.edit("bright-smile/reception.yaml", "clinic_location: Downtown", "clinic_location: Uptown");
    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(!out.stdout.contains("testing_agent_variables"), "{}", out.stdout);
    assert_eq!(
        profile(&w).information,
        json!({"main_agent_variables": {"clinic_location": "Uptown"}, "testing_agent_variables": {"caller_name": "Ana"}})
    );
}

// ---- ownership: prune and twins delete only what evalform made or adopted ----

#[test]
fn prune_deletes_what_evalform_made_or_adopted_never_what_a_person_made() {
    let w = World::examples();
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    let tags_of = |w: &World, id: u64| w.state().evaluators[&id].tags.clone();
    // Made in the dashboard: one nobody declares, one that a manifest will declare (and so adopt).
    w.sb.with_state(|s| {
        for (id, name) in [(9001, "Made by a teammate"), (9002, "Adopted later")] {
            let body = json!({"name": name, "agent": 202, "personality": 8, "instructions": "Hi.", "tags": ["mine"]});
            s.insert_evaluator(id, body).unwrap();
        }
    });
    w.edit("bright-smile/reception.yaml", "  agent: 202\n", "  agent: 202\n  prune: true\n");
    w.edit("bright-smile/reception.yaml", "  evaluators:\n", "  evaluators:\n    - name: Adopted later\n");
    let out = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.code, 2, "{}", out.snapshot());
    insta::assert_snapshot!(out.snapshot(), @r#"
    exit: 2
    --- stdout
    Plan: 0 to create, 1 to update, 0 to delete, in 3 API calls.

      ~ cekura.agent[202].evaluator["Adopted later"]
          metrics:       + appointment_booked (502), + call_success (501)
          tools:         + TOOL_END_CALL
          max_duration:  240
          ownership:     "adopted by evalform (tag managed-by:evalform)"

    API calls:
      1. PATCH /test_framework/v1/scenarios/9002/                update "Adopted later": metrics, tool_ids
      2. PATCH /test_framework/v1/scenarios/9002/                adopt "Adopted later": add tag "managed-by:evalform"
      3. POST /test_framework/v1/scenarios/adv_update/           1 evaluator: max duration 240s

    Not managed (on the platform, declared by no manifest; never changed):
      ? cekura.agent[202].evaluator["Made by a teammate"] (id 9001): prune leaves it: evalform did not create or adopt it (no tag "managed-by:evalform")
    --- stderr
    "#);
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    assert!(tags_of(&w, 9002).contains(&OWNERSHIP_TAG.to_string()), "adopted: {:?}", tags_of(&w, 9002));
    assert!(tags_of(&w, 9002).contains(&"mine".to_string()), "the person's tags stay");
    assert_eq!(tags_of(&w, 9001), ["mine"], "never marked, never deleted");
    w.assert_exact();

    // Dropped from the manifests: the adopted one and one evalform created go; the teammate's stays.
    w.edit("bright-smile/reception.yaml", "    - name: Adopted later\n", "");
    let text = std::fs::read_to_string(w.path("bright-smile/reception.yaml")).unwrap();
    let cut = text.find("    - name: Elderly caller asks about parking").unwrap();
    w.write("bright-smile/reception.yaml", &text[..cut]);
    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(out.stdout.contains("0 to create, 0 to update, 2 to delete"), "{}", out.stdout);
    let s = w.state();
    assert!(s.evaluators.contains_key(&9001) && !s.evaluators.contains_key(&9002));
    assert!(!s.evaluators.values().any(|e| e.name == "Elderly caller asks about parking"));
    w.assert_exact();
}

#[test]
fn a_namesake_a_person_creates_while_apply_creates_is_not_deleted_as_a_twin() {
    let w = World::examples();
    // While apply runs (after it created its evaluators, before its bulk updates), a person creates an evaluator
    // of a name apply has just created.
    w.sb.before_next("POST", "/test_framework/v1/scenarios/adv_update/", |s| {
        let body = json!({"name": "Legal threat", "agent": 101, "personality": 7, "instructions": "Mine."});
        s.insert_evaluator(99_999, body).unwrap();
    });
    let out = w.run(&["apply", "--auto-approve"]);
    assert!(w.state().evaluators.contains_key(&99_999), "the person's evaluator survives:\n{}", out.snapshot());
    assert!(!out.stderr.contains("created more than once"), "{}", out.snapshot());
    assert_eq!(w.state().evaluators.values().filter(|e| e.name == "Legal threat").count(), 2);
    // The next plan says which two there are, by id.
    let plan = w.run(&["plan"]);
    assert!(plan.stderr.contains("2 evaluators with this name exist on the platform"), "{}", plan.snapshot());
}

#[test]
fn a_saved_plan_is_stale_per_object_names_fields_and_refuses_an_edited_file() {
    let w = tails_world(2);
    w.sb.with_state(|s| {
        let body = json!({"name": "Someone's own", "agent": 12, "personality": 7, "instructions": "Mine."});
        s.insert_evaluator(2100, body).unwrap();
    });
    assert_eq!(w.run(&["plan", "--out", "plan.json"]).code, 0);
    let saved = std::fs::read_to_string(w.path("plan.json")).unwrap();

    // An object the plan neither writes nor reads to decide a write changes: not stale.
    w.sb.with_state(|s| s.edit_evaluator(2100, json!({"expected_outcome_prompt": "Changed."}))).unwrap();
    // The file, edited by hand: the append goes to another evaluator too, one of another agent.
    let other_agent = w.sb.with_state(|s| {
        let body = json!({"name": "Elsewhere", "agent": 101, "personality": 7, "instructions": "x"});
        s.insert_evaluator(2200, body).unwrap()
    });
    let edited = saved.replacen("\"scenarios\": [", &format!("\"scenarios\": [{{\"id\": {other_agent}}}, "), 1);
    assert_ne!(edited, saved, "the edit applies");
    w.write("edited.json", &edited);
    let out = w.run(&["apply", "--plan", "edited.json"]);
    assert!(w.writes().is_empty(), "{:?}", w.writes());
    insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        --- stderr
        error: the saved plan edited.json does not follow from the manifests it records (an edited or corrupted file); nothing was written
        caused by: the file's API calls differ from those its recorded manifests give
        caused by: API call 1 names evaluator 2200, which is not one of agent 12's
        hint: make the plan again with `evalform plan --out FILE`; never edit a saved plan by hand
        "#);

    // A field the plan writes changes: stale, named by evaluator and field.
    w.sb.with_state(|s| s.edit_evaluator(2001, json!({"instructions": "Caller 1 asks about a refund."}))).unwrap();
    let out = w.run(&["apply", "--plan", "plan.json"]);
    assert!(w.writes().is_empty(), "{:?}", w.writes());
    insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        --- stderr
        error: the saved plan plan.json is stale: 1 object it writes changed on the platform since it was made; nothing was written
        caused by: cekura.agent[12].evaluator["Case 1"]: instructions changed on the platform
        hint: run `evalform plan --out FILE` again and review the new plan
        "#);

    // Made again; only the unmanaged evaluator changes since: the plan applies.
    assert_eq!(w.run(&["plan", "--out", "plan.json"]).code, 0);
    w.sb.with_state(|s| s.edit_evaluator(2100, json!({"expected_outcome_prompt": "Changed again."}))).unwrap();
    let out = w.run(&["apply", "--plan", "plan.json"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    w.assert_exact();
    w.assert_no_append_twice();
}

#[test]
fn a_saved_plan_being_applied_is_locked_against_a_second_apply_of_it() {
    let w = tails_world(2);
    assert_eq!(w.run(&["plan", "--out", "plan.json"]).code, 0);
    // What a first `apply --plan plan.json` holds while it runs.
    w.write("plan.json.lock", "pid 1\n");
    w.sb.clear_requests();
    let out = w.run(&["apply", "--plan", "plan.json"]);
    assert!(w.log().is_empty(), "the platform was not even read: {:?}", w.log());
    insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        --- stderr
        error: plan.json: another `apply --plan` of this file is running (its lock plan.json.lock exists); nothing was written
        hint: wait for it to end; if no apply of this plan is running (it was killed), remove plan.json.lock
        "#);
    std::fs::remove_file(w.path("plan.json.lock")).unwrap();
    let out = w.run(&["apply", "--plan", "plan.json"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(!w.path("plan.json.lock").exists(), "released at the end");
    w.assert_exact();
    w.assert_no_append_twice();
}

#[test]
fn three_applies_of_one_saved_plan_started_at_once_append_once() {
    let w = tails_world(3);
    assert_eq!(w.run(&["plan", "--out", "plan.json"]).code, 0);
    let children: Vec<_> = (0..3)
        .map(|_| {
            w.cmd(&["apply", "-q", "--plan", "plan.json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let codes: Vec<i32> =
        children.into_iter().map(|c| c.wait_with_output().unwrap().status.code().unwrap_or(-1)).collect();
    // One applies; the others find the lock, or (started after it ended) a stale plan.
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 0 || *c == 1), "{codes:?}");
    assert_eq!(w.appends().values().copied().collect::<Vec<_>>(), [1, 1, 1], "{:?}", w.appends());
    w.assert_exact();
}
