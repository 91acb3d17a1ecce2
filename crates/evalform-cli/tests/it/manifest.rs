//! Manifests: `evalform validate` on the examples and on the data-driven fixtures in
//! `tests/fixtures/manifests/{valid,invalid}` (one snapshot of the exact message per invalid fixture), the JSON
//! Schema against its checked-in copy, the manifest reference against the schema, and the library's loader.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use evalform::manifest::{self, EnvMode, LoadOptions, ManifestFile};
use evalform::model::{ConditionKind, ConditionTrigger, Information, Script};

use crate::common::{evalform, run, settings, workspace_root};

/// The CLI crate's directory: the fixtures are below it, and their paths in messages are relative to it.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The entries of a fixture directory: files, and directories that hold a multi-file case.
fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = root().join("tests/fixtures/manifests").join(kind);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    entries.into_iter().map(|p| p.strip_prefix(root()).unwrap().to_path_buf()).collect()
}

fn validate(path: &Path) -> crate::common::Output {
    let mut cmd = evalform();
    cmd.arg("validate").arg(path);
    run(cmd, Some(root()))
}

#[test]
fn examples_validate() {
    let mut cmd = evalform();
    cmd.args(["validate", "examples/specs"]);
    let out = run(cmd, Some(&workspace_root()));
    insta::assert_snapshot!(out.snapshot(), @r"
    exit: 0
    --- stdout
    ok: 4 files, 2 agents, 13 evaluators, 4 test profiles, 1 prompt with 4 test cases
    --- stderr
    ");
}

#[test]
fn quiet_leaves_out_the_summary() {
    let mut cmd = evalform();
    cmd.args(["validate", "-q", "examples/specs"]);
    let out = run(cmd, Some(&workspace_root()));
    assert_eq!((out.code, out.stdout.as_str(), out.stderr.as_str()), (0, "", ""));
}

#[test]
fn examples_point_editors_at_the_schema() {
    for dir in ["acme-shop", "bright-smile", "tela"] {
        for entry in std::fs::read_dir(workspace_root().join("examples/specs").join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.starts_with("# yaml-language-server: $schema=../../../docs/evalform.schema.json\n"),
                "{} lacks the schema line",
                path.display()
            );
        }
    }
}

#[test]
fn valid_fixtures_validate() {
    let all = fixtures("valid");
    assert!(all.len() >= 5);
    for path in all {
        let out = validate(&path);
        assert_eq!(out.code, 0, "{}:\n{}", path.display(), out.stderr);
        assert!(out.stdout.starts_with("ok: "), "{}", out.stdout);
        assert_eq!(out.stderr, "");
    }
}

#[test]
fn invalid_fixtures_fail_with_their_message() {
    let all = fixtures("invalid");
    assert!(all.len() >= 20, "only {} invalid fixtures", all.len());
    for path in all {
        let out = validate(&path);
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        assert_eq!(out.code, 1, "{name} should fail:\n{}", out.stdout);
        assert_eq!(out.stdout, "", "{name}: problems go to stderr");
        assert!(out.stderr.contains(&format!("--> {}", path.display())), "{name} names no place:\n{}", out.stderr);
        settings().bind(|| insta::assert_snapshot!(format!("invalid-{name}"), out.snapshot()));
    }
}

#[test]
fn missing_paths_are_reported() {
    let out = validate(Path::new("no/such/dir"));
    insta::assert_snapshot!(out.snapshot(), @r"
    exit: 1
    --- stdout
    --- stderr
    error: no such file or directory
     --> no/such/dir

    error: 1 problem in 1 file
    ");
}

#[test]
fn schema_command_matches_the_checked_in_copy() {
    let mut cmd = evalform();
    cmd.arg("schema");
    let out = run(cmd, None);
    assert_eq!(out.code, 0);
    let path = workspace_root().join("docs/evalform.schema.json");
    let generated = format!("{}\n", manifest::schema_json());
    assert_eq!(out.stdout, generated);
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/evalform.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test --test it manifest::schema` and commit it"
    );
}

/// Every key of the schema is documented in docs/manifest.md as `` `key` ``.
#[test]
fn manifest_reference_documents_every_key() {
    let schema = evalform::manifest::raw::schema();
    let docs = std::fs::read_to_string(workspace_root().join("docs/manifest.md")).unwrap();
    let mut keys = Vec::new();
    collect_properties(&schema, &mut keys);
    assert!(keys.len() > 30, "{keys:?}");
    let missing: Vec<&String> = keys.iter().filter(|k| !docs.contains(&format!("`{k}`"))).collect();
    assert!(missing.is_empty(), "docs/manifest.md does not document: {missing:?}");
}

fn collect_properties(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(props)) = map.get("properties") {
                out.extend(props.keys().cloned());
            }
            map.values().for_each(|v| collect_properties(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_properties(v, out)),
        _ => {}
    }
}

fn load(text: &str, env: &BTreeMap<&str, &str>, mode: EnvMode) -> Result<manifest::Manifests, manifest::Diagnostics> {
    let lookup = |name: &str| env.get(name).map(|v| v.to_string());
    let opts = LoadOptions { env: &lookup, mode, environment: None };
    manifest::load_texts(vec![ManifestFile { path: "specs/a.yaml".into(), text: text.to_string() }], &opts)
}

const WITH_SECRET: &str = r#"version: 1
cekura:
  agent: 12
  test_profiles:
    - name: Premium caller
      main_agent_variables: {user_id: 42, api_token: "Bearer ${env:SUPPORT_TOKEN}"}
"#;

#[test]
fn unset_variables_fail_only_when_required() {
    let none = BTreeMap::new();
    let deferred = load(WITH_SECRET, &none, EnvMode::Deferred).unwrap();
    let profile = &deferred.state.agents[&12].test_profiles[0];
    let Some(Information::Sectioned { main_agent_variables, .. }) = &profile.information else { panic!() };
    assert!(main_agent_variables["api_token"].is_sensitive());
    assert_eq!(main_agent_variables["user_id"].expose(), "42");

    let err = load(WITH_SECRET, &none, EnvMode::Required).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @r#"
    error: environment variable `SUPPORT_TOKEN` is not set
     --> specs/a.yaml:6:54
      |
    6 |       main_agent_variables: {user_id: 42, api_token: "Bearer ${env:SUPPORT_TOKEN}"}
      |                                                      ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ this value needs it
      = help: set `SUPPORT_TOKEN` in the environment of `plan` and `apply`

    error: 1 problem in 1 file
    "#);
}

#[test]
fn sensitive_values_never_show_in_debug() {
    let env = BTreeMap::from([("SUPPORT_TOKEN", "tok-7f3a9c-secret")]);
    let loaded = load(WITH_SECRET, &env, EnvMode::Required).unwrap();
    let debug = format!("{:?}", loaded.state);
    assert!(!debug.contains("tok-7f3a9c"), "{debug}");
    assert!(debug.contains("(sensitive)"));
    let profile = &loaded.state.agents[&12].test_profiles[0];
    let Some(Information::Sectioned { main_agent_variables, .. }) = &profile.information else { panic!() };
    assert_eq!(main_agent_variables["api_token"].expose(), "Bearer tok-7f3a9c-secret");
}

#[test]
fn flows_get_every_default() {
    let text =
        "version: 1\ncekura:\n  agent: 1\n  evaluators:\n    - name: Flow\n      type: conditional_actions\n      \
                conditional_actions:\n        role: A caller\n        conditions:\n          \
                - {id: 0, condition: FIRST_MESSAGE, action: Hi}\n          - {id: 1, condition: 0, action: Bye}\n";
    let loaded = load(text, &BTreeMap::new(), EnvMode::Deferred).unwrap();
    let Some(Script::Flow(flow)) = &loaded.state.agents[&1].evaluators[0].spec.script else { panic!() };
    assert_eq!(flow.conditions[0].kind, ConditionKind::Standard);
    assert_eq!(flow.conditions[1].kind, ConditionKind::ActionFollowup);
    assert_eq!(flow.conditions[1].condition, ConditionTrigger::Followup(0));
    assert!(!flow.conditions[0].fixed_message);
}

/// A directory without manifests is one problem about a directory, not "in 1 file".
#[test]
fn an_empty_directory_is_not_counted_as_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = evalform();
    cmd.arg("validate").arg(".");
    let out = run(cmd, Some(dir.path()));
    insta::assert_snapshot!(out.snapshot(), @r"
    exit: 1
    --- stdout
    --- stderr
    error: no manifest files (*.yaml, *.yml) in this directory
     --> .
      = help: pass the directory that holds your manifests, or the files themselves

    error: 1 problem
    ");
}

/// Without a project file, a YAML file found in a directory that is plainly not a manifest (no top-level
/// `version`, `cekura` or `tela`: a `docker-compose.yml`) is skipped with a note; named on the command line, it is
/// read as a manifest and its problems are reported.
#[test]
fn a_yaml_file_that_is_plainly_not_a_manifest_is_skipped_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("docker-compose.yml"), "services:\n  web:\n    image: nginx\n").unwrap();
    std::fs::write(dir.path().join("suite.yaml"), "version: 1\ncekura:\n  agent: 12\n").unwrap();
    let mut cmd = evalform();
    cmd.args(["validate", "."]);
    let out = run(cmd, Some(dir.path()));
    insta::assert_snapshot!(out.snapshot(), @"
    exit: 0
    --- stdout
    ok: 1 file, 1 agent, 0 evaluators, 0 test profiles, 0 prompts with 0 test cases
    --- stderr
    warning: skipped docker-compose.yml: not an evalform manifest (no top-level `version`, `cekura` or `tela`)
    ");
    let mut cmd = evalform();
    cmd.args(["validate", "docker-compose.yml"]);
    let out = run(cmd, Some(dir.path()));
    assert_eq!(out.code, 1, "{}", out.snapshot());
}
