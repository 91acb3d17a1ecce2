//! The docs cannot drift from the tool: every ```console block in README.md and docs/*.md is executed.
//!
//! A block is a sequence of `$ evalform ...` lines, each followed by the output it shows (stdout, then stderr) and
//! optionally `[exit N]` when the command exits non-zero. A command may start with `env -u NAME` (run without that
//! variable) or `NAME=value` (run with it), the way a shell reads them; `$ cp FROM TO` copies a file inside the
//! temporary directory (a doc's stand-in for "edit this file"), and prints nothing. Each file runs in a fresh temporary directory holding a
//! copy of `examples/`, against its own in-process sandbox seeded with the demo's dashboard state, with the keys and
//! `${env:...}` values of the examples set; commands within one file share that state, in order. With
//! `UPDATE_DOCS=1` the blocks are rewritten with the real output instead of compared (review the diff).

use std::path::{Path, PathBuf};

use crate::common::{evalform, run, Output};

/// One command of a console block and what the docs say it prints.
#[derive(Debug)]
struct Step {
    command: String,
    expected: String,
    code: i32,
}

/// A console block: where it is in the file (the lines between the fences) and its steps.
#[derive(Debug)]
struct Block {
    first_line: usize,
    last_line: usize,
    steps: Vec<Step>,
}

fn blocks(text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_end() == "```console" {
            let start = i + 1;
            let mut end = start;
            while end < lines.len() && lines[end].trim_end() != "```" {
                end += 1;
            }
            let mut steps: Vec<Step> = Vec::new();
            for line in &lines[start..end] {
                if let Some(cmd) = line.strip_prefix("$ ") {
                    steps.push(Step { command: cmd.to_string(), expected: String::new(), code: 0 });
                } else if let Some(step) = steps.last_mut() {
                    if let Some(code) = line.strip_prefix("[exit ").and_then(|c| c.strip_suffix(']')) {
                        step.code = code.parse().expect("[exit N] with a number");
                    } else {
                        step.expected.push_str(line);
                        step.expected.push('\n');
                    }
                }
            }
            out.push(Block { first_line: start, last_line: end, steps });
            i = end + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// The markdown files whose console blocks are executed.
fn documents() -> Vec<PathBuf> {
    let mut files = vec![crate::common::workspace_root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(crate::common::workspace_root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Split a command line into words, honouring single and double quotes (no other shell syntax is allowed).
fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, ' ') => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// What one `$ ...` line asks for, once the environment prefixes are taken off.
#[derive(Debug, PartialEq)]
struct Invocation {
    unset: Vec<String>,
    set: Vec<(String, String)>,
    program: Program,
}

#[derive(Debug, PartialEq)]
enum Program {
    Evalform(Vec<String>),
    Copy(String, String),
}

fn invocation(command: &str) -> Result<Invocation, String> {
    let mut argv = words(command).into_iter().peekable();
    let (mut unset, mut set) = (Vec::new(), Vec::new());
    loop {
        match argv.peek().map(String::as_str) {
            Some("env") => {
                argv.next();
                while argv.peek().map(String::as_str) == Some("-u") {
                    argv.next();
                    unset.push(argv.next().ok_or("`env -u` needs a variable name")?);
                }
            }
            Some(w) if w.contains('=') && !w.starts_with('-') => {
                let (name, value) = w.split_once('=').unwrap();
                set.push((name.to_string(), value.to_string()));
                argv.next();
            }
            _ => break,
        }
    }
    let rest: Vec<String> = argv.collect();
    let program = match rest.first().map(String::as_str) {
        Some("evalform") => Program::Evalform(rest[1..].to_vec()),
        Some("cp") if rest.len() == 3 && unset.is_empty() && set.is_empty() => {
            Program::Copy(rest[1].clone(), rest[2].clone())
        }
        _ => return Err(format!("not a command the docs can run: `{command}` (only evalform and `cp FROM TO`)")),
    };
    Ok(Invocation { unset, set, program })
}

fn normalise(s: &str, dir: &Path, base: &str) -> String {
    let mut out = s.replace(&dir.display().to_string(), "[DIR]").replace(base, "http://127.0.0.1:[PORT]");
    // Durations vary from run to run.
    let re = regex_lite_duration(&out);
    out = re;
    out
}

/// Replace `123ms` / `1.5s` with `[DURATION]` without pulling a regex crate into the tests.
fn regex_lite_duration(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        let boundary = start == 0 || !chars[start - 1].is_alphanumeric();
        if boundary && chars[i].is_ascii_digit() {
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                j += 1;
            }
            let unit_ms = j + 1 < chars.len() && chars[j] == 'm' && chars[j + 1] == 's';
            let unit_s = j < chars.len() && chars[j] == 's';
            let after = if unit_ms { j + 2 } else { j + 1 };
            let end_ok = after >= chars.len() || !chars[after].is_alphanumeric();
            if (unit_ms || unit_s) && end_ok {
                out.push_str("[DURATION]");
                i = after;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[test]
fn every_console_block_in_the_docs_runs_as_shown() {
    let update = std::env::var("UPDATE_DOCS").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    let mut executed = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        let found = blocks(&text);
        if found.is_empty() {
            continue;
        }
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let sandbox = rt.block_on(async {
            let sb = evalform_sandbox::Sandbox::start(0, Default::default()).await.unwrap();
            evalform_cli::demo::seed(&sb).await.unwrap();
            sb
        });
        let base = sandbox.base_url();
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&crate::common::workspace_root().join("examples"), &dir.path().join("examples"));

        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        // Rewrite from the last block up, so earlier line numbers stay valid.
        let mut rewritten: Vec<(usize, usize, Vec<String>)> = Vec::new();
        for block in &found {
            let mut actual_block = Vec::new();
            for step in &block.steps {
                let inv = invocation(&step.command).unwrap_or_else(|e| panic!("{}: {e}", doc.display()));
                let out = match &inv.program {
                    Program::Copy(from, to) => {
                        let copied = std::fs::copy(dir.path().join(from), dir.path().join(to));
                        let stderr = copied.err().map(|e| format!("cp: {e}\n")).unwrap_or_default();
                        Output { code: if stderr.is_empty() { 0 } else { 1 }, stdout: String::new(), stderr }
                    }
                    Program::Evalform(args) => {
                        let mut cmd = evalform();
                        cmd.args(args)
                            .env("CEKURA_BASE_URL", &base)
                            .env("TELA_BASE_URL", &base)
                            .env("CEKURA_API_KEY", "docs-example-key")
                            .env("TELA_API_KEY", "docs-example-key")
                            .env("ACME_SUPPORT_TOKEN", "demo-crm-token-0000")
                            .env("EVALFORM_FAST_RETRIES", "1");
                        for name in &inv.unset {
                            cmd.env_remove(name);
                        }
                        for (name, value) in &inv.set {
                            cmd.env(name, value);
                        }
                        run(cmd, Some(dir.path()))
                    }
                };
                executed += 1;
                let actual = normalise(&format!("{}{}", out.stdout, out.stderr), dir.path(), &base);
                actual_block.push(format!("$ {}", step.command));
                actual_block.extend(actual.lines().map(str::to_string));
                if out.code != 0 {
                    actual_block.push(format!("[exit {}]", out.code));
                }
                if !update && (actual != step.expected || out.code != step.code) {
                    failures.push(format!(
                        "{}: `{}`\n--- the docs show (exit {})\n{}--- it printed (exit {})\n{}",
                        doc.display(),
                        step.command,
                        step.code,
                        step.expected,
                        out.code,
                        actual
                    ));
                }
            }
            rewritten.push((block.first_line, block.last_line, actual_block));
        }
        if update {
            for (start, end, new) in rewritten.into_iter().rev() {
                lines.splice(start..end, new);
            }
            let mut text = lines.join("\n");
            text.push('\n');
            std::fs::write(&doc, text).unwrap();
        }
        rt.block_on(sandbox.shutdown());
    }
    assert!(executed > 0, "no console block found in README.md or docs/");
    assert!(
        failures.is_empty(),
        "{} command(s) print something else than the docs show (UPDATE_DOCS=1 rewrites them):\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn console_blocks_are_parsed_into_commands_outputs_and_exit_codes() {
    let text = "intro\n```console\n$ evalform plan x\nline one\nline two\n[exit 2]\n$ evalform validate\nok\n```\n";
    let b = blocks(text);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].steps.len(), 2);
    assert_eq!(b[0].steps[0].expected, "line one\nline two\n");
    assert_eq!(b[0].steps[0].code, 2);
    assert_eq!(b[0].steps[1].code, 0);
    assert_eq!(
        words("evalform run --name 'Order *' --tags a,b"),
        ["evalform", "run", "--name", "Order *", "--tags", "a,b"]
    );
    assert_eq!(
        invocation("env -u CEKURA_API_KEY evalform plan x").unwrap(),
        Invocation {
            unset: vec!["CEKURA_API_KEY".into()],
            set: vec![],
            program: Program::Evalform(vec!["plan".into(), "x".into()])
        }
    );
    assert_eq!(
        invocation("TOKEN='a b' evalform apply --plan p.json").unwrap(),
        Invocation {
            unset: vec![],
            set: vec![("TOKEN".into(), "a b".into())],
            program: Program::Evalform(vec!["apply".into(), "--plan".into(), "p.json".into()])
        }
    );
    assert_eq!(invocation("cp a b").unwrap().program, Program::Copy("a".into(), "b".into()));
    assert!(invocation("rm -rf suite").is_err());
    assert!(invocation("evalform-other plan").is_err());
    assert_eq!(regex_lite_duration("took 120ms and 1.5s; v2s stays"), "took [DURATION] and [DURATION]; v2s stays");
}

#[test]
fn every_relative_link_in_the_docs_points_at_a_file() {
    let mut broken = Vec::new();
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        let dir = doc.parent().unwrap();
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = rest[..end].split('#').next().unwrap_or("");
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") || target.contains(' ') {
                continue;
            }
            if !dir.join(target).exists() {
                broken.push(format!("{}: {target}", doc.display()));
            }
        }
    }
    assert!(broken.is_empty(), "links to files that do not exist:\n{}", broken.join("\n"));
}
