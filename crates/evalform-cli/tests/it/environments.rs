//! One suite, many environments: the project file `evalform.toml`, `--env` / `EVALFORM_ENV` / `default_env`,
//! agent names and `${var:NAME}` per environment, a key variable per environment, saved plans bound to their
//! environment, and the project's `paths`/`exclude` deciding which files are manifests.

use std::process::{Command, Stdio};

use evalform_sandbox::{RunningSandbox, Sandbox, SandboxConfig};

use crate::common::{evalform, run, settings, workspace_root, Output};

const PROJECT: &str = r#"paths = ["suites"]
exclude = ["suites/drafts/**"]
default_env = "staging"

[environments.staging]
agents = { support = 1 }
project = 1
cekura_api_key_env = "CEKURA_STAGING_KEY"
vars = { greeting = "Hi there" }

[environments.production]
agents = { support = 12 }
project = 1376
cekura_api_key_env = "CEKURA_PROD_KEY"
vars = { greeting = "Hello" }
"#;

const SUITE: &str = "version: 1
cekura:
  agent: support
  evaluators:
    - name: Greets the caller
      first_message: \"${var:greeting}, I am calling about my order\"
      personality: Normal Female
      instructions: You ask where your order is.
      expected_outcome: The agent finds the order.
";

/// What a repository holds beside its suites: never a manifest.
const COMPOSE: &str = "services:\n  web:\n    image: nginx\n";

struct Repo {
    sb: RunningSandbox,
    dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

impl Repo {
    fn new() -> Repo {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let sb = rt.block_on(Sandbox::start(0, SandboxConfig::default())).expect("start sandbox");
        let repo = Repo { sb, dir: tempfile::tempdir().unwrap(), _rt: rt };
        repo.write("evalform.toml", PROJECT);
        repo.write("suites/support.yaml", SUITE);
        repo.write("suites/drafts/unfinished.yaml", "version: 1\ncekura: [not, finished\n");
        repo.write("docker-compose.yml", COMPOSE);
        repo.write("mkdocs.yml", "site_name: Docs\n");
        repo
    }

    fn write(&self, name: &str, text: &str) {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// `evalform ARGS` at the repository root: each environment's key in its own variable, none in
    /// `CEKURA_API_KEY`.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = evalform();
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("CEKURA_BASE_URL", self.sb.base_url())
            .env("CEKURA_STAGING_KEY", "staging-key")
            .env("CEKURA_PROD_KEY", "prod-key")
            .env_remove("EVALFORM_ENV")
            .env("EVALFORM_FAST_RETRIES", "1")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        run(self.cmd(args), None)
    }

    /// `(agent, first message)` of every evaluator the sandbox holds for agents 1 and 12.
    fn first_messages(&self) -> Vec<(u64, String)> {
        let state = self.sb.with_state(|s| s.clone());
        let mut out: Vec<(u64, String)> = state
            .evaluators
            .values()
            .filter(|e| matches!(e.agent, Some(1) | Some(12)) && e.name == "Greets the caller")
            .map(|e| (e.agent.unwrap_or_default(), e.first_message.clone()))
            .collect();
        out.sort();
        out
    }

    fn writes(&self) -> usize {
        self.sb.requests().iter().filter(|r| r.method != "GET").count()
    }
}

#[test]
fn one_suite_is_applied_to_two_environments() {
    let repo = Repo::new();
    let staging = repo.run(&["apply", "--auto-approve"]);
    assert_eq!(staging.code, 0, "{}", staging.snapshot());
    assert!(staging.stderr.contains("Environment staging: agent 1\n"), "{}", staging.snapshot());
    let production = repo.run(&["--env", "production", "apply", "--auto-approve"]);
    assert_eq!(production.code, 0, "{}", production.snapshot());
    assert!(production.stderr.contains("Environment production: agent 12\n"), "{}", production.snapshot());
    assert_eq!(
        repo.first_messages(),
        [
            (1, "Hi there, I am calling about my order".to_string()),
            (12, "Hello, I am calling about my order".to_string())
        ]
    );
    // Both are in sync now; EVALFORM_ENV picks the environment as --env does.
    for env in ["staging", "production"] {
        let mut cmd = repo.cmd(&["plan", "--detailed-exitcode"]);
        cmd.env("EVALFORM_ENV", env);
        let out = run(cmd, None);
        assert_eq!(out.code, 0, "{env}: {}", out.snapshot());
        assert!(out.stderr.contains(&format!("Environment {env}: agent ")), "{}", out.snapshot());
    }
    // Each environment's key comes from its own variable (-v names the source, never the key).
    for (env, var) in [("staging", "CEKURA_STAGING_KEY"), ("production", "CEKURA_PROD_KEY")] {
        let out = repo.run(&["-v", "--env", env, "plan"]);
        assert_eq!(out.code, 0, "{}", out.snapshot());
        assert!(out.stderr.contains(&format!("Cekura: API key from the environment variable {var}")), "{}", out.stderr);
        assert!(!out.stderr.contains("staging-key") && !out.stderr.contains("prod-key"), "{}", out.stderr);
    }
    // -q leaves the status line out.
    let quiet = repo.run(&["-q", "plan"]);
    assert!(!quiet.stderr.contains("Environment"), "{}", quiet.snapshot());
}

#[test]
fn the_plan_shows_the_environment_values() {
    let repo = Repo::new();
    let out = repo.run(&["--env", "production", "plan"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(out.stdout.contains("Hello, I am calling about my order"), "{}", out.snapshot());
    assert!(out.stdout.contains("agent[12]"), "{}", out.snapshot());
}

#[test]
fn a_staging_plan_is_refused_for_production() {
    let repo = Repo::new();
    let out = repo.run(&["plan", "--out", "staging.plan.json"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo.dir.path().join("staging.plan.json")).unwrap()).unwrap();
    assert_eq!(saved["environment"], "staging");
    let before = repo.writes();
    let refused = repo.run(&["apply", "--plan", "staging.plan.json", "--env", "production"]);
    settings().bind(|| {
        insta::assert_snapshot!(refused.snapshot(), @r"
        exit: 1
        --- stdout
        --- stderr
        error: the saved plan staging.plan.json was made for environment `staging`, and this run uses environment `production`; nothing was written
        hint: apply it with the environment it was made for (--env staging), or make a new plan with `evalform plan --out FILE`
        ");
    });
    assert_eq!(repo.writes(), before, "nothing may be written");
    let applied = repo.run(&["apply", "--plan", "staging.plan.json", "--env", "staging"]);
    assert_eq!(applied.code, 0, "{}", applied.snapshot());
    assert_eq!(repo.first_messages(), [(1, "Hi there, I am calling about my order".to_string())]);
}

#[test]
fn an_unknown_environment_lists_the_known_ones() {
    let repo = Repo::new();
    let out = repo.run(&["--env", "prod", "validate"]);
    settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r"
        exit: 1
        --- stdout
        --- stderr
        error: environment `prod` is not declared in evalform.toml
        hint: the environments of evalform.toml are: production, staging
        ");
    });
}

#[test]
fn an_environment_without_its_key_names_the_variable() {
    let repo = Repo::new();
    let mut cmd = repo.cmd(&["--env", "production", "plan"]);
    cmd.env_remove("CEKURA_PROD_KEY").env("CEKURA_API_KEY", "the-default-key-is-not-used");
    let out = run(cmd, None);
    settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r"
        exit: 1
        --- stdout
        --- stderr
        Environment production: agent 12
        error: environment `production` takes its Cekura key from `CEKURA_PROD_KEY`, which is not set
        hint: set `CEKURA_PROD_KEY` (a secret of the `production` environment in CI), or change the variable its table names
        ");
    });
}

#[test]
fn the_project_file_decides_which_files_are_manifests() {
    // docker-compose.yml, mkdocs.yml and the excluded draft would each fail to load as a manifest.
    let repo = Repo::new();
    let out = repo.run(&["validate"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(out.stdout.contains("1 file, 1 agent, 1 evaluator"), "{}", out.snapshot());
    // From a subdirectory, the project file is found by walking up.
    let mut cmd = repo.cmd(&["validate"]);
    cmd.current_dir(repo.dir.path().join("suites/drafts"));
    let out = run(cmd, None);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(out.stdout.contains("1 file, 1 agent, 1 evaluator"), "{}", out.snapshot());
    // Without the project file, the same directory reads docker-compose.yml as a manifest.
    std::fs::remove_file(repo.dir.path().join("evalform.toml")).unwrap();
    let out = repo.run(&["validate"]);
    assert_eq!(out.code, 1, "{}", out.snapshot());
}

#[test]
fn problems_in_the_project_file_are_located() {
    let repo = Repo::new();
    repo.write("evalform.toml", &PROJECT.replace("vars = { greeting = \"Hello\" }", "varz = { greeting = \"Hello\" }"));
    let out = repo.run(&["validate"]);
    settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        --- stderr
        error: unknown key `varz`
          --> evalform.toml:15:1
           |
        15 | varz = { greeting = "Hello" }
           | ^^^^ not a key of [environments.production]
           = help: did you mean `vars`?

        error: 1 problem in 1 file
        error: the project file evalform.toml has problems
        "#);
    });
}

#[test]
fn env_without_a_project_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = evalform();
    cmd.args(["--env", "staging", "validate"]).current_dir(dir.path()).env_remove("EVALFORM_ENV");
    let out = run(cmd, None);
    settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r"
        exit: 1
        --- stdout
        --- stderr
        error: environment `staging` was asked for (--env or EVALFORM_ENV), but there is no project file (evalform.toml) here or in a parent directory
        hint: create evalform.toml at the repository root with an `[environments.NAME]` table (docs/environments.md)
        ");
    });
}

#[test]
fn project_schema_command_matches_the_checked_in_copy() {
    let mut cmd = evalform();
    cmd.args(["schema", "--project-file"]);
    let out = run(cmd, None);
    assert_eq!(out.code, 0);
    let generated = format!("{}\n", evalform::project::schema_json());
    assert_eq!(out.stdout, generated);
    let path = workspace_root().join("docs/evalform-project.schema.json");
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/evalform-project.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test --test it environments::project_schema` and commit it"
    );
    for key in ["paths", "exclude", "default_env", "agents", "cekura_api_key_env", "tela_prompts", "vars"] {
        assert!(generated.contains(&format!("\"{key}\"")), "{key} is missing from the schema");
    }
}

#[test]
fn validate_warns_of_a_default_every_evaluator_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let text = "version: 1\ncekura:\n  agent: 12\n  defaults:\n    metrics: [501]\n    extra_tags: [nightly]\n  \
                evaluators:\n    - name: A\n      metrics: [502]\n    - name: B\n      metrics: [503]\n";
    std::fs::write(dir.path().join("suite.yaml"), text).unwrap();
    let mut cmd = evalform();
    cmd.arg("validate").current_dir(dir.path()).env_remove("EVALFORM_ENV");
    let out = run(cmd, None);
    settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r"
        exit: 0
        --- stdout
        ok: 1 file, 1 agent, 2 evaluators, 0 test profiles, 0 prompts with 0 test cases
        --- stderr
        warning: suite.yaml:5:5: `defaults.metrics` is never used: every evaluator of this file sets `metrics` itself (help: to add to every evaluator's own `metrics`, use `defaults.extra_metrics`)
        ");
    });
}

#[test]
fn import_with_an_environment_writes_the_agent_name() {
    let repo = Repo::new();
    let applied = repo.run(&["--env", "production", "apply", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}", applied.snapshot());
    let out = repo.run(&["--env", "production", "import", "--agent", "12", "--out", "imported"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(out.stderr.contains("Environment production: agent 12\n"), "{}", out.snapshot());
    let agent_file = std::fs::read_to_string(repo.dir.path().join("imported/agent-12/_agent.yaml")).unwrap();
    assert!(agent_file.contains("\n  agent: support\n"), "{agent_file}");
    // The imported files are portable: they plan clean in the environment they came from.
    let plan = repo.run(&["--env", "production", "plan", "imported", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.snapshot());
}

#[test]
fn tela_prompts_and_keys_resolve_per_environment() {
    let repo = Repo::new();
    let project = PROJECT
        .replace(
            "vars = { greeting = \"Hi there\" }",
            "vars = { greeting = \"Hi there\" }\ntela_api_key_env = \"TELA_STAGING_KEY\"\n\
             tela_prompts = { orders = \"5f0c2a4e-0000-4000-8000-000000000001\" }",
        )
        .replace(
            "vars = { greeting = \"Hello\" }",
            "vars = { greeting = \"Hello\" }\ntela_api_key_env = \"TELA_PROD_KEY\"\n\
             tela_prompts = { orders = \"5f0c2a4e-0000-4000-8000-000000000002\" }",
        );
    repo.write("evalform.toml", &project);
    repo.write(
        "suites/orders.yaml",
        "version: 1\ntela:\n  prompt: orders\n  test_cases:\n    - title: Where is my order\n      messages:\n        \
         - {role: user, content: \"${var:greeting}, where is my order?\"}\n",
    );
    for env in ["staging", "production"] {
        let mut cmd = repo.cmd(&["--env", env, "apply", "--auto-approve"]);
        cmd.env("TELA_BASE_URL", repo.sb.base_url()).env("TELA_STAGING_KEY", "t-s").env("TELA_PROD_KEY", "t-p");
        let out = run(cmd, None);
        assert_eq!(out.code, 0, "{env}: {}", out.snapshot());
    }
    let state = repo.sb.with_state(|s| s.clone());
    let mut cases: Vec<(String, String)> = state
        .test_cases
        .values()
        .filter(|c| c.title == "Where is my order")
        .map(|c| (c.prompt_id.clone(), c.messages[0]["content"].as_str().unwrap_or_default().to_string()))
        .collect();
    cases.sort();
    assert_eq!(
        cases,
        [
            ("5f0c2a4e-0000-4000-8000-000000000001".to_string(), "Hi there, where is my order?".to_string()),
            ("5f0c2a4e-0000-4000-8000-000000000002".to_string(), "Hello, where is my order?".to_string()),
        ]
    );
    // Without the production Tela key, production stops and names the variable.
    let mut cmd = repo.cmd(&["--env", "production", "plan"]);
    cmd.env("TELA_BASE_URL", repo.sb.base_url()).env("TELA_API_KEY", "not-this-one");
    let out = run(cmd, None);
    assert_eq!(out.code, 1, "{}", out.snapshot());
    assert!(
        out.stderr.contains("environment `production` takes its Tela key from `TELA_PROD_KEY`, which is not set"),
        "{}",
        out.snapshot()
    );
}

#[test]
fn names_need_a_chosen_environment() {
    let repo = Repo::new();
    repo.write("evalform.toml", &PROJECT.replace("default_env = \"staging\"\n", ""));
    let out = repo.run(&["validate"]);
    settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r"
        exit: 1
        --- stdout
        --- stderr
        error: agent `support` is a name, and no environment is in use
         --> suites/support.yaml:3:10
          |
        3 |   agent: support
          |          ^^^^^^^ expected an agent id
          = help: choose an environment of evalform.toml (--env NAME, EVALFORM_ENV or default_env) whose `agents` name it, or write the agent's id

        error: 1 problem in 1 file
        ");
    });
}

#[test]
fn pull_never_replaces_a_var_reference_with_one_environments_value() {
    let repo = Repo::new();
    let applied = repo.run(&["apply", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}", applied.snapshot());
    // A dashboard edit of the text that comes from `${var:greeting}`.
    repo.sb.with_state(|s| {
        let ids: Vec<u64> = s
            .evaluators
            .values()
            .filter(|e| e.agent == Some(1) && e.name == "Greets the caller")
            .map(|e| e.id)
            .collect();
        for id in ids {
            let body = serde_json::json!({"first_message": "Good morning, I am calling about my order"});
            s.edit_evaluator(id, body).unwrap();
        }
    });
    let before = std::fs::read_to_string(repo.dir.path().join("suites/support.yaml")).unwrap();
    let out = repo.run(&["pull"]);
    settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r"
        exit: 1
        --- stdout
        --- stderr
        Environment staging: agent 1
        error: pull would replace `${var:...}` references with the values of environment `staging`; nothing was written
        caused by: in suites/support.yaml
        hint: see the edit with `evalform pull --dry-run` and make it by hand, keeping the references
        ");
    });
    assert_eq!(std::fs::read_to_string(repo.dir.path().join("suites/support.yaml")).unwrap(), before);
    let dry = repo.run(&["pull", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.snapshot());
    assert!(dry.stdout.contains("+      first_message: \"Good morning"), "{}", dry.snapshot());
}

#[test]
fn pull_finds_the_files_of_a_named_agent() {
    let repo = Repo::new();
    let applied = repo.run(&["--env", "production", "apply", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}", applied.snapshot());
    repo.sb.with_state(|s| {
        let ids: Vec<u64> = s
            .evaluators
            .values()
            .filter(|e| e.agent == Some(12) && e.name == "Greets the caller")
            .map(|e| e.id)
            .collect();
        for id in ids {
            let body = serde_json::json!({"expected_outcome_prompt": "The agent finds the order and gives a date."});
            s.edit_evaluator(id, body).unwrap();
        }
    });
    let out = repo.run(&["--env", "production", "pull"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let text = std::fs::read_to_string(repo.dir.path().join("suites/support.yaml")).unwrap();
    assert!(text.contains("expected_outcome: The agent finds the order and gives a date."), "{text}");
    assert!(text.contains("  agent: support\n") && text.contains("${var:greeting}"), "{text}");
    let plan = repo.run(&["--env", "production", "plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.snapshot());
}
