//! `evalform fmt` and `fmt --check` end to end: files found as validate finds them, rewritten in the form import
//! writes with their comments, files with problems reported and left alone, `--check` as a CI gate.

use std::path::Path;

use crate::common::{evalform, run, settings, Output};

/// Out of order, oddly indented and quoted, with comments and placeholders.
const MESSY: &str = r#"# Support line evaluators

cekura:
    evaluators:
      # the first one
      -   tags: [ orders , 'smoke' ]   # sets
          name: 'Order status'
          instructions: "You are a customer.\nAsk about order ${env:ORDER_ID}."
    agent: 12   # the agent under test
version: 1
"#;

const FORMATTED: &str = "version: 1\ntela:\n  prompt: \"5f0c2a4e-0000-4000-8000-000000000001\"\n  test_cases:\n    - title: Where is my order\n";

const BROKEN: &str = "version: 1\ncekura:\n    agent: 13\n    evaluators:\n      - name: x\n        instructionz: y\n";

fn fmt(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = evalform();
    cmd.arg("fmt").args(args);
    run(cmd, Some(dir))
}

fn suite() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), MESSY).unwrap();
    std::fs::write(dir.path().join("b.yaml"), FORMATTED).unwrap();
    dir
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

#[test]
fn fmt_rewrites_what_is_not_formatted_and_says_so() {
    let dir = suite();
    let out = fmt(dir.path(), &[]);
    insta::assert_snapshot!(out.snapshot(), @r"
    exit: 0
    --- stdout
    --- stderr
    formatted a.yaml
    1 file formatted, 1 already formatted
    ");
    insta::assert_snapshot!(read(dir.path(), "a.yaml"), @r"
    # Support line evaluators

    version: 1
    cekura:
      agent: 12  # the agent under test
      evaluators:
        # the first one
        - name: Order status
          instructions: |-
            You are a customer.
            Ask about order ${env:ORDER_ID}.
          tags: [orders, smoke]  # sets
    ");
    assert_eq!(read(dir.path(), "b.yaml"), FORMATTED);

    // Twice is once.
    let again = fmt(dir.path(), &[]);
    insta::assert_snapshot!(again.snapshot(), @r"
    exit: 0
    --- stdout
    --- stderr
    2 files already formatted
    ");
    let check = fmt(dir.path(), &["--check"]);
    assert_eq!(check.code, 0, "{}", check.snapshot());
}

#[test]
fn quiet_fmt_prints_nothing() {
    let dir = suite();
    let out = fmt(dir.path(), &["-q"]);
    insta::assert_snapshot!(out.snapshot(), @r"
    exit: 0
    --- stdout
    --- stderr
    ");
    assert_ne!(read(dir.path(), "a.yaml"), MESSY);
}

#[test]
fn check_prints_the_diff_writes_nothing_and_fails() {
    let dir = suite();
    let out = fmt(dir.path(), &["--check"]);
    insta::assert_snapshot!(out.snapshot(), @r#"
    exit: 1
    --- stdout
    --- a/a.yaml
    +++ b/a.yaml
    @@ -1,10 +1,12 @@
     # Support line evaluators
     
    +version: 1
     cekura:
    -    evaluators:
    -      # the first one
    -      -   tags: [ orders , 'smoke' ]   # sets
    -          name: 'Order status'
    -          instructions: "You are a customer.\nAsk about order ${env:ORDER_ID}."
    -    agent: 12   # the agent under test
    -version: 1
    +  agent: 12  # the agent under test
    +  evaluators:
    +    # the first one
    +    - name: Order status
    +      instructions: |-
    +        You are a customer.
    +        Ask about order ${env:ORDER_ID}.
    +      tags: [orders, smoke]  # sets
    --- stderr
    1 file would be reformatted, 1 already formatted
    "#);
    assert_eq!(read(dir.path(), "a.yaml"), MESSY);
}

#[test]
fn check_on_formatted_files_passes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("b.yaml"), FORMATTED).unwrap();
    let out = fmt(dir.path(), &["--check"]);
    insta::assert_snapshot!(out.snapshot(), @r"
    exit: 0
    --- stdout
    --- stderr
    1 file already formatted
    ");
}

#[test]
fn check_annotates_unformatted_files_for_github() {
    let dir = suite();
    let out = fmt(dir.path(), &["--check", "--message-format", "github"]);
    assert_eq!(out.code, 1);
    insta::assert_snapshot!(out.stderr, @r"
    ::error file=a.yaml,line=3,col=1::not formatted; run `evalform fmt a.yaml`
    1 file would be reformatted, 1 already formatted
    ");
}

#[test]
fn a_file_with_a_problem_is_reported_and_left_alone_while_the_others_are_formatted() {
    let dir = suite();
    std::fs::write(dir.path().join("c.yaml"), BROKEN).unwrap();
    let out = fmt(dir.path(), &[]);
    insta::assert_snapshot!(out.snapshot(), @r"
    exit: 1
    --- stdout
    --- stderr
    error: unknown key `instructionz` in an evaluator
     --> c.yaml:6:9
      |
    6 |         instructionz: y
      |         ^^^^^^^^^^^^ expected one of: name, id, renamed_from, folder, type, instructions, instructions_suffix, conditional_actions, expected_outcome, first_message, personality, test_profile, metrics, tools, tags, language, max_duration, phone_number, ignore_changes
      = help: did you mean `instructions`?

    error: 1 problem in 1 file
    formatted a.yaml
    1 file formatted, 1 already formatted
    ");
    assert_eq!(read(dir.path(), "c.yaml"), BROKEN);
    assert_ne!(read(dir.path(), "a.yaml"), MESSY);
}

#[test]
fn the_project_file_decides_which_files_are_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("suites/drafts")).unwrap();
    std::fs::write(root.join("evalform.toml"), "paths = [\"suites\"]\nexclude = [\"suites/drafts/**\"]\n").unwrap();
    std::fs::write(root.join("suites/a.yaml"), MESSY).unwrap();
    std::fs::write(root.join("suites/drafts/d.yaml"), MESSY).unwrap();
    std::fs::write(root.join("elsewhere.yaml"), MESSY).unwrap();
    let out = fmt(root, &[]);
    settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r"
        exit: 0
        --- stdout
        --- stderr
        formatted suites/a.yaml
        1 file formatted
        ");
    });
    assert_eq!(read(root, "suites/drafts/d.yaml"), MESSY);
    assert_eq!(read(root, "elsewhere.yaml"), MESSY);
}

#[test]
fn yaml_that_is_plainly_not_a_manifest_is_skipped() {
    let dir = suite();
    let compose = "services:\n    web:\n        image: nginx\n";
    std::fs::write(dir.path().join("docker-compose.yml"), compose).unwrap();
    let out = fmt(dir.path(), &["--check"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with("warning: skipped docker-compose.yml: not an evalform manifest"),
        "{}",
        out.snapshot()
    );
    assert_eq!(read(dir.path(), "docker-compose.yml"), compose);
}

/// Odd and hostile files: `fmt` never panics; a file that loads is formatted once and for all, one that does not
/// is left byte for byte.
#[test]
fn hostile_files_never_panic_and_are_left_alone_unless_they_load() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("flow", b"{version: 1, cekura: {agent: 1, evaluators: [{name: A, tags: [x]}]}}\n".to_vec()),
        ("alias", b"version: 1\ncekura:\n  agent: &a 1\n  project: *a\n".to_vec()),
        ("unknown-alias", b"version: 1\ncekura:\n  agent: *nope\n".to_vec()),
        ("control", b"version: 1\ncekura:\n  agent: 1\n  evaluators:\n    - name: \"a\x07\"\n".to_vec()),
        ("latin1", b"version: 1\ncekura:\n  agent: 1\n  evaluators:\n    - name: caf\xe9\n".to_vec()),
        ("utf16", b"\xff\xfev\x00e\x00r\x00".to_vec()),
        ("bom", b"\xef\xbb\xbfversion: 1\ncekura:\n    agent: 1\n".to_vec()),
        ("empty", b"".to_vec()),
        ("comments-only", b"# nothing here yet\n".to_vec()),
        ("a-list", b"- version: 1\n".to_vec()),
        ("two-documents", b"version: 1\n---\nversion: 1\n".to_vec()),
        ("deep", format!("version: 1\ncekura: {}1{}\n", "[".repeat(200), "]".repeat(200)).into_bytes()),
        ("long-key", format!("version: 1\n{}: 1\n", "k".repeat(5000)).into_bytes()),
        ("tabs", b"version: 1\ncekura:\n\tagent: 1\n".to_vec()),
    ];
    for (name, bytes) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        std::fs::write(&path, &bytes).unwrap();
        let check = fmt(dir.path(), &["--check", "m.yaml"]);
        assert!(check.code == 0 || check.code == 1, "{name}: {}", check.snapshot());
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name}: --check wrote");
        let out = fmt(dir.path(), &["m.yaml"]);
        assert!(out.code == 0 || out.code == 1, "{name}: {}", out.snapshot());
        if out.code == 1 {
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name}: a file with problems was written");
        } else {
            let again = fmt(dir.path(), &["--check", "m.yaml"]);
            assert_eq!(again.code, 0, "{name}: not formatted once and for all: {}", again.snapshot());
        }
    }
}

#[test]
fn a_file_with_a_byte_order_mark_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let bom = "\u{feff}";
    std::fs::write(dir.path().join("a.yaml"), format!("{bom}{MESSY}")).unwrap();
    // One agent per file: a name declared twice for one agent is a problem.
    let other = |agent: &str| MESSY.replace("agent: 12", agent);
    std::fs::write(dir.path().join("crlf.yaml"), format!("{bom}{}", other("agent: 13").replace('\n', "\r\n"))).unwrap();
    std::fs::write(dir.path().join("b.yaml"), other("agent: 14")).unwrap();
    let out = fmt(dir.path(), &[]);
    insta::assert_snapshot!(out.snapshot(), @r"
    exit: 0
    --- stdout
    --- stderr
    formatted a.yaml
    formatted b.yaml
    formatted crlf.yaml
    3 files formatted
    ");
    let a = read(dir.path(), "a.yaml");
    let b = read(dir.path(), "b.yaml");
    assert_eq!(a.replace("agent: 12", "agent: 14"), format!("{bom}{b}"), "the mark is kept, the rest as without it");
    let crlf = read(dir.path(), "crlf.yaml").replace("agent: 13", "agent: 14");
    assert_eq!(crlf, format!("{bom}{}", b.replace('\n', "\r\n")));
    assert!(!b.starts_with(bom), "a file without the mark gets none");
    let again = fmt(dir.path(), &["--check"]);
    insta::assert_snapshot!(again.snapshot(), @r"
    exit: 0
    --- stdout
    --- stderr
    3 files already formatted
    ");
}
