//! The command line itself: help texts and commands that are not built yet.

use crate::common::{evalform, run, settings};

#[test]
fn top_level_help_lists_every_command() {
    let mut cmd = evalform();
    cmd.arg("--help");
    let out = run(cmd, None);
    assert_eq!(out.code, 0);
    for command in ["validate", "plan", "apply", "import", "pull", "run", "suggest", "schema", "sandbox", "demo"] {
        assert!(out.stdout.contains(command), "help lacks {command}");
    }
    settings().bind(|| insta::assert_snapshot!("help", out.snapshot()));
}

/// `evalform schema | head -1`: the reader goes away before evalform writes. Every command that writes data ends
/// quietly with 141 (as after SIGPIPE), never with a panic (101) or an error message.
#[test]
fn a_closed_stdout_ends_quietly_with_the_sigpipe_status() {
    for args in [&["schema"][..], &["completions", "bash"], &["validate", "--help"], &["man"]] {
        // A connected socket pair whose reading end is closed before the child starts: every write the child
        // makes to stdout fails with a broken pipe, whatever the timing.
        let (writer, reader) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(reader);
        let mut cmd = evalform();
        cmd.args(args).stdout(std::process::Stdio::from(std::os::fd::OwnedFd::from(writer)));
        cmd.stderr(std::process::Stdio::piped());
        let out = cmd.spawn().expect("spawn evalform").wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        if args[0] == "validate" {
            // clap prints help itself; it must not panic either.
            assert_ne!(code, Some(101), "{args:?}: {stderr}");
            continue;
        }
        assert_eq!(code, Some(141), "{args:?}: {stderr}");
        assert_eq!(stderr, "", "{args:?}");
    }
}

/// `--color always` colours into a pipe; `auto` does not (not a terminal), nor does `never`, nor `--no-color`
/// with `always` (the older flag wins: it was asked for by name).
#[test]
fn color_is_chosen_by_the_flag() {
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/manifests/invalid/unknown-key.yaml");
    let colored = |args: &[&str]| {
        let mut cmd = evalform();
        cmd.env_remove("NO_COLOR").arg("validate").args(args).arg(&fixture);
        let out = run(cmd, None);
        assert_eq!(out.code, 1, "{}", out.stderr);
        out.stderr.contains("\u{1b}[")
    };
    assert!(colored(&["--color", "always"]));
    assert!(!colored(&["--color", "auto"]));
    assert!(!colored(&["--color", "never"]));
    assert!(!colored(&["--color", "always", "--no-color"]));
    let mut cmd = evalform();
    cmd.args(["validate", "--color", "sometimes"]);
    let out = run(cmd, None);
    insta::assert_snapshot!(out.snapshot(), @r"
    exit: 1
    --- stdout
    --- stderr
    error: invalid value 'sometimes' for '--color <WHEN>'
      [possible values: auto, always, never]

    For more information, try '--help'.
    ");
}

/// A saved plan carries its own manifests: a path given beside `--plan` would be ignored, so it is refused.
#[test]
fn apply_with_a_saved_plan_refuses_manifest_paths() {
    let mut cmd = evalform();
    cmd.args(["apply", "--plan", "plan.json", "examples/specs"]);
    let out = run(cmd, None);
    insta::assert_snapshot!(out.snapshot(), @r"
    exit: 1
    --- stdout
    --- stderr
    error: apply --plan plan.json takes no manifest paths (given: examples/specs)
    hint: a saved plan holds the manifests it was made from; to apply the files as they are now, run `evalform apply PATH` without --plan
    ");
}

/// Values an attacker, a broken script or a careless colleague might give any option.
const HOSTILE_VALUES: &[&str] = &[
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999999",
    "9223372036854775808",
    "-1",
    "-9223372036854775809",
    "0",
    "",
    " ",
    "NaN",
    "inf",
    "-inf",
    "1e999",
    "0x10",
    "1.5",
    "%s%n%x",
    "\u{1b}[31mred",
    "../../../../nonexistent/x",
    "*[",
    "ä€𝄞",
];

/// Every command with every option that takes a value; the flags without one are added in the last column.
const COMMANDS: &[(&str, &[&str], &[&str])] = &[
    ("validate", &[], &[]),
    (
        "plan",
        &["--target", "--exclude", "--batch-size", "--cekura-base-url", "--tela-base-url", "--format", "--out"],
        &["--detailed-exitcode"],
    ),
    ("apply", &["--target", "--exclude", "--batch-size", "--cekura-base-url", "--plan"], &["--auto-approve"]),
    ("import", &["--agent", "--prompt", "--out", "--evaluator", "--test-profile"], &["--force"]),
    ("pull", &["--cekura-base-url"], &["--dry-run", "--override"]),
    (
        "run",
        &[
            "--tags",
            "--folder",
            "--name",
            "--frequency",
            "--test-profile",
            "--personality",
            "--timeout",
            "--min-success-rate",
            "--format",
        ],
        &["--no-wait"],
    ),
    ("suggest", &["--message", "--name"], &[]),
    ("export", &["--tags", "--folder", "--name", "--format", "--agent"], &[]),
    (
        "test",
        &[
            "--tags",
            "--folder",
            "--name",
            "--agent",
            "--channel",
            "--max-credits",
            "--timeout",
            "--min-success-rate",
            "--format",
        ],
        &["--dry-run"],
    ),
    ("doctor", &["--agent", "--result", "--format"], &["--probe-writes"]),
    ("init", &["--agent"], &["--force"]),
    ("show", &["--format"], &[]),
    ("schema", &[], &[]),
    ("completions", &[], &[]),
    ("man", &["--out-dir"], &[]),
];

/// Options left out of [`COMMANDS`], and why: each would write outside the test's directory given a hostile path
/// (the test runs as whatever user runs it, root on CI), or serve forever.
const NOT_FUZZED: &[(&str, &str)] = &[("export", "--out"), ("init", "--out")];

/// Every option that takes a value, of every command, is either fuzzed by `no_command_panics_on_hostile_options` or named in
/// [`NOT_FUZZED`]: a new option cannot be forgotten.
#[test]
fn the_hostile_options_test_covers_every_option() {
    use clap::CommandFactory;
    let cli = evalform_cli::cli::Cli::command();
    let globals: Vec<String> = cli.get_arguments().filter_map(|a| a.get_long().map(|l| format!("--{l}"))).collect();
    let mut missing = Vec::new();
    for sub in cli.get_subcommands() {
        let name = sub.get_name();
        if matches!(name, "sandbox" | "demo" | "help") {
            continue; // sandbox is fuzzed on its own below; demo and help take no option
        }
        let listed = COMMANDS.iter().find(|(c, _, _)| *c == name);
        for arg in sub.get_arguments() {
            let Some(long) = arg.get_long().filter(|_| arg.get_action().takes_values()) else { continue };
            let long = format!("--{long}");
            if globals.contains(&long) || long == "--help" {
                continue;
            }
            let fuzzed = listed
                .is_some_and(|(_, options, flags)| options.contains(&long.as_str()) || flags.contains(&long.as_str()));
            let skipped = NOT_FUZZED.contains(&(name, long.as_str()));
            let base_url = long == "--cekura-base-url" || long == "--tela-base-url";
            if !fuzzed && !skipped && !base_url {
                missing.push(format!("{name} {long}"));
            }
        }
    }
    assert!(missing.is_empty(), "options no test gives hostile values: {missing:?}");
}

/// Arguments a command needs to get past clap with one hostile option.
fn base_args(command: &str) -> Vec<&'static str> {
    match command {
        "import" | "init" => vec!["--agent", "12"],
        "suggest" => vec!["--message", "better"],
        "completions" => vec!["bash"],
        "apply" => vec!["--auto-approve"],
        _ => vec![],
    }
}

/// No option value makes evalform panic (exit 101): every number is range-checked, every text handled.
#[test]
fn no_command_panics_on_hostile_options() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.yaml"),
        "version: 1\ncekura:\n  agent: 12\n  evaluators:\n    - name: A\n      personality: 7\n      instructions: Hi.\n",
    )
    .unwrap();
    // A closed port: every command that talks to a platform fails fast, and nothing reaches the network.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut runs = 0;
    let check = |args: Vec<String>| {
        let mut cmd = evalform();
        cmd.args(&args)
            .env("CEKURA_API_KEY", "k")
            .env("TELA_API_KEY", "k")
            .env("CEKURA_BASE_URL", &base)
            .env("TELA_BASE_URL", &base)
            .env("EVALFORM_FAST_RETRIES", "1")
            .stdin(std::process::Stdio::null());
        let out = run(cmd, Some(dir.path()));
        assert_ne!(out.code, 101, "{args:?} panicked:\n{}", out.snapshot());
        assert!(!out.stderr.contains("panicked"), "{args:?}:\n{}", out.snapshot());
    };
    for (command, options, flags) in COMMANDS {
        for value in HOSTILE_VALUES {
            for option in *options {
                let mut args = vec![command.to_string()];
                args.extend(base_args(command).iter().map(|s| s.to_string()));
                args.push(format!("{option}={value}"));
                args.extend(flags.iter().map(|s| s.to_string()));
                check(args);
                runs += 1;
            }
            // The value as a path, and as a global option.
            if *command != "completions" && *command != "schema" {
                check(vec![command.to_string(), value.to_string()]);
                runs += 1;
            }
            for global in ["--parallelism", "--deadline"] {
                check(vec![format!("{global}={value}"), command.to_string(), "m.yaml".to_string()]);
                runs += 1;
            }
        }
    }
    for value in HOSTILE_VALUES {
        for option in ["--port", "--state"] {
            // Only values that cannot start a server that would run forever.
            if option == "--port" && value.parse::<u16>().is_ok() {
                continue;
            }
            if option == "--state" {
                check(vec!["sandbox".into(), "--port=99999".into(), format!("--state={value}")]);
            } else {
                check(vec!["sandbox".into(), format!("{option}={value}")]);
            }
            runs += 1;
        }
    }
    assert!(runs > 500, "only {runs} runs");
}

/// Numbers that would overflow a clock or a counter are refused by name, before anything runs.
#[test]
fn numeric_options_are_range_checked() {
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--timeout", "18446744073709551615"], "is not in 0..=604800"),
        (&["run", "--frequency", "0"], "is not in 1..=1000"),
        (&["run", "--test-profile", "18446744073709551615"], "is not in 1..=9223372036854775807"),
        (&["import", "--agent", "0"], "is not in 1..=9223372036854775807"),
        (&["--deadline", "0", "plan"], "is not in 1..=604800"),
    ];
    for (args, expect) in cases {
        let mut cmd = evalform();
        cmd.args(*args);
        let out = run(cmd, None);
        assert_eq!(out.code, 1, "{args:?}:\n{}", out.snapshot());
        assert!(out.stderr.contains(expect), "{args:?}:\n{}", out.snapshot());
    }
}
