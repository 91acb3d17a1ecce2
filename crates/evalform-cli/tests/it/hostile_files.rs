//! Hostile manifest files, end to end through `evalform validate`: every error located and in the manifest's
//! words (aliases, control characters, encodings, numbers, `${env:...}` as a name), the same file named twice read
//! once, and FIFOs, devices and link loops among the manifests skipped with a warning, never read.

use std::path::Path;

use crate::common::{evalform, run, Output};

fn validate_in(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = evalform();
    cmd.arg("validate").args(args);
    run(cmd, Some(dir))
}

fn validate_bytes(bytes: &[u8]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), bytes).unwrap();
    validate_in(dir.path(), &["m.yaml"])
}

const HEAD: &str = "version: 1\ncekura:\n  agent: 1\n  evaluators:\n    - name: A\n      personality: 7\n";

#[test]
fn an_error_reached_through_an_alias_points_at_the_alias() {
    let text = "version: 1\ncekura:\n  agent: 1\n  defaults:\n    personality: &p 7\n  evaluators:\n    - name: A\n      instructions: Hi\n      tags: *p\n";
    let out = validate_bytes(text.as_bytes());
    insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        --- stderr
        error: wrong type for `tags` in an evaluator: found an integer `7`
         --> m.yaml:9:13
          |
        9 |       tags: *p
          |             ^^ expected a list

        error: 1 problem in 1 file
        "#);
}

#[test]
fn control_characters_are_located_and_never_echoed_raw() {
    for (c, name) in [("\u{1b}", "ESC"), ("\u{7}", "BEL"), ("\u{0}", "NUL")] {
        let text = format!("{HEAD}      instructions: \"Hi {c} there\"\n");
        let out = validate_bytes(text.as_bytes());
        assert_eq!(out.code, 1, "{}", out.snapshot());
        assert!(out.stderr.contains(&format!("{name} (U+")), "{}", out.snapshot());
        assert!(out.stderr.contains("m.yaml:7:25"), "{}", out.snapshot());
        assert!(!out.stderr.contains(c), "a raw control character reached the terminal:\n{}", out.snapshot());
    }
    let out = validate_bytes(format!("{HEAD}      instructions: \"Hi \u{1b}[2J there\"\n").as_bytes());
    insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        --- stderr
        error: not valid YAML: ESC (U+001B) is not allowed in YAML; write it as an escape (`\u001B`) inside double quotes
         --> m.yaml:7:25
          |
        7 |       instructions: "Hi ␛[2J there"
          |                         ^
          = help: remove it, or write the escape in its place (the line above shows it as a symbol)

        error: 1 problem in 1 file
        "#);
}

#[test]
fn a_utf8_bom_is_accepted() {
    let out = validate_bytes(format!("\u{feff}{HEAD}      instructions: Hi\n").as_bytes());
    assert_eq!(out.code, 0, "{}", out.snapshot());
}

#[test]
fn utf16_and_latin1_files_are_named_as_such() {
    let text = format!("{HEAD}      instructions: Hi\n");
    let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect();
    let out = validate_bytes(&utf16);
    insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        --- stderr
        error: the file is UTF-16 encoded; manifests are UTF-8 (save it as UTF-8 in your editor)
         --> m.yaml

        error: 1 problem in 1 file
        "#);
    let latin1 =
        format!("{HEAD}      instructions: Caf").into_bytes().into_iter().chain([0xE9, b'\n']).collect::<Vec<u8>>();
    let out = validate_bytes(&latin1);
    insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        --- stderr
        error: the file is not UTF-8: byte 0xE9 at line 7 column 24 (Latin-1 or Windows-1252?); manifests are UTF-8 (save it as UTF-8 in your editor)
         --> m.yaml:7:24
          |
        7 |       instructions: Caf�
          |                        ^

        error: 1 problem in 1 file
        "#);
}

#[test]
fn number_errors_speak_the_manifests_language() {
    let out = validate_bytes(b"version: 1\ncekura:\n  agent: 0x65\n");
    insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        --- stderr
        error: `0x65` is not a decimal number
         --> m.yaml:3:10
          |
        3 |   agent: 0x65
          |          ^^^^ `agent` is written in decimal digits: write `agent: 101`

        error: 1 problem in 1 file
        "#);
    let out = validate_bytes(
        format!(
            "{}      metrics: [99999999999999999999]\n",
            HEAD.replace("personality: 7", "personality: 99999999999999999999999")
        )
        .as_bytes(),
    );
    assert_eq!(out.code, 1, "{}", out.snapshot());
    for rust in ["u32", "u64", "u128", "i64", "i128"] {
        assert!(!out.stderr.contains(rust), "{rust} in:\n{}", out.snapshot());
    }
    insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        --- stderr
        error: `99999999999999999999999` is too large for `personality`
         --> m.yaml:6:20
          |
        6 |       personality: 99999999999999999999999
          |                    ^^^^^^^^^^^^^^^^^^^^^^^ expected at most 18446744073709551615

        error: `99999999999999999999` is too large for `metrics`
         --> m.yaml:7:17
          |
        7 |       metrics: [99999999999999999999]
          |                 ^^^^^^^^^^^^^^^^^^^^ expected at most 18446744073709551615

        error: 2 problems in 1 file
        "#);
}

#[test]
fn an_env_reference_as_a_variable_name_is_reported_at_the_name() {
    let text = "version: 1\ncekura:\n  agent: 1\n  test_profiles:\n    - name: P\n      main_agent_variables:\n        \"${env:HOME}\": x\n";
    let out = validate_bytes(text.as_bytes());
    assert!(out.stderr.contains("m.yaml:7:9"), "{}", out.snapshot());
}

#[test]
fn the_same_file_named_twice_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), format!("{HEAD}      instructions: Hi\n")).unwrap();
    let out = validate_in(dir.path(), &["m.yaml", "./m.yaml", ".", "m.yaml"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(out.stdout.starts_with("ok: 1 file,"), "{}", out.snapshot());
}

#[cfg(unix)]
#[test]
fn fifos_devices_and_link_loops_are_skipped_with_a_warning_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("suite/sub")).unwrap();
    std::fs::write(d.join("suite/m.yaml"), format!("{HEAD}      instructions: Hi\n")).unwrap();
    let fifo = d.join("suite/pipe.yaml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    std::os::unix::fs::symlink("/dev/zero", d.join("suite/zero.yaml")).unwrap();
    std::os::unix::fs::symlink("..", d.join("suite/sub/loop")).unwrap();
    std::os::unix::fs::symlink("nowhere.yaml", d.join("suite/gone.yaml")).unwrap();
    // If evalform opened the FIFO it would block forever: the test would hang, not fail.
    let out = validate_in(d, &["suite", "suite/pipe.yaml"]);
    insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 0
        --- stdout
        ok: 1 file, 1 agent, 1 evaluator, 0 test profiles, 0 prompts with 0 test cases
        --- stderr
        warning: skipped suite/gone.yaml: a link that cannot be followed (No such file or directory (os error 2))
        warning: skipped suite/pipe.yaml: a FIFO (named pipe), not a regular file
        warning: skipped suite/sub/loop: a link back to a directory above it (a loop)
        warning: skipped suite/zero.yaml: a device, not a regular file
        "#);
}

#[cfg(unix)]
#[test]
fn a_symlinked_directory_of_manifests_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("shared")).unwrap();
    std::fs::create_dir_all(d.join("suite")).unwrap();
    std::fs::write(d.join("shared/m.yaml"), format!("{HEAD}      instructions: Hi\n")).unwrap();
    std::os::unix::fs::symlink("../shared", d.join("suite/linked")).unwrap();
    let out = validate_in(d, &["suite"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(out.stdout.contains("1 evaluator"), "{}", out.snapshot());
}

#[test]
fn an_empty_env_variable_is_an_error_unless_opted_in() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{HEAD}      instructions: \"Token ${{env:EVALFORM_T_EMPTY}}.\"\n");
    std::fs::write(dir.path().join("m.yaml"), text).unwrap();
    let mut cmd = evalform();
    cmd.args(["plan", "m.yaml"])
        .env("EVALFORM_T_EMPTY", "")
        .env("CEKURA_API_KEY", "k")
        .env("CEKURA_BASE_URL", "http://127.0.0.1:9");
    let out = run(cmd, Some(dir.path()));
    insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        --- stderr
        error: environment variable `EVALFORM_T_EMPTY` is empty
         --> m.yaml:7:21
          |
        7 |       instructions: "Token ${env:EVALFORM_T_EMPTY}."
          |                     ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ this value needs it
          = help: set `EVALFORM_T_EMPTY` to a value (an empty one would replace the platform's text with nothing), or write `${env:EVALFORM_T_EMPTY:-}` to allow empty

        error: 1 problem in 1 file
        "#);
}

#[cfg(unix)]
#[test]
fn a_fifo_given_as_a_saved_plan_is_refused_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("p.plan");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    // If evalform opened the FIFO it would block forever: the test would hang, not fail.
    let out = evalform_in(dir.path(), &["apply", "--plan", "p.plan"]);
    insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        --- stderr
        error: p.plan: not a regular file; a saved plan was not read
        hint: pass the file `evalform plan --out FILE` wrote
        "#);
}

fn evalform_in(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = evalform();
    cmd.args(args);
    run(cmd, Some(dir))
}

#[test]
fn an_escaped_reference_in_a_name_is_refused_not_taken_verbatim() {
    let out = validate_bytes(
        format!("{}      instructions: Hi\n", HEAD.replace("name: A", "name: \"A $${env:HOME}\"")).as_bytes(),
    );
    assert_eq!(out.code, 1, "{}", out.snapshot());
    assert!(out.stderr.contains("is not allowed in"), "{}", out.snapshot());
}
