//! The house rules of docs/architecture.md, held by a test rather than by review:
//! - the library depends on no command-line, server or terminal crate, reads no environment and prints nothing;
//! - the inner rooms (model, manifest, yaml, plan, render) import neither the platform clients nor the executor,
//!   nor the HTTP stack;
//! - the sandbox depends on nothing of evalform.
//!
//! It reads the sources and manifests as text: a rule broken anywhere names the file and the line.

use std::path::{Path, PathBuf};

fn crate_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name)
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// `(file:line, text)` of every line in `files` that contains one of `needles`, outside comments.
fn hits(files: &[PathBuf], needles: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if needles.iter().any(|n| code.contains(n)) {
                out.push(format!("{}:{}: {}", file.display(), i + 1, code));
            }
        }
    }
    out
}

/// The `[dependencies]` table of a crate's manifest, as text.
fn dependencies(krate: &str) -> String {
    let manifest = std::fs::read_to_string(crate_dir(krate).join("Cargo.toml")).unwrap();
    let start = manifest.find("[dependencies]").expect("a [dependencies] table");
    let rest = &manifest[start + "[dependencies]".len()..];
    rest[..rest.find("\n[").unwrap_or(rest.len())].to_string()
}

#[test]
fn the_library_has_no_command_line_server_or_terminal_dependency() {
    let deps = dependencies("evalform");
    for forbidden in ["clap", "axum", "indicatif", "tracing-subscriber", "evalform-sandbox", "evalform-cli"] {
        assert!(
            !deps.lines().any(|l| l.trim_start().starts_with(forbidden)),
            "the library depends on {forbidden}:\n{deps}"
        );
    }
}

#[test]
fn the_library_reads_no_environment_and_prints_nothing() {
    let files: Vec<PathBuf> =
        rust_files(&crate_dir("evalform").join("src")).into_iter().filter(|f| !f.ends_with("tests.rs")).collect();
    assert!(files.len() > 40, "found only {} library sources", files.len());
    let found = hits(
        &files,
        &[
            "std::env::var",
            "env::var(",
            "env::var_os",
            "println!(",
            "eprintln!(",
            "print!(",
            "eprint!(",
            "stdout()",
            "stderr()",
        ],
    );
    assert!(found.is_empty(), "the CLI crate owns the environment and the terminal:\n{}", found.join("\n"));
}

#[test]
fn the_inner_rooms_import_no_client_and_no_executor() {
    let src = crate_dir("evalform").join("src");
    let mut files = vec![src.join("model.rs")];
    for room in ["manifest", "yaml", "plan", "render"] {
        files.extend(rust_files(&src.join(room)));
    }
    // Unit-test modules (`tests.rs`) may use anything to set up a case; the rule is about the rooms' own code.
    files.retain(|f| !f.ends_with("tests.rs"));
    assert!(files.len() > 20, "found only {} sources in the inner rooms", files.len());
    let found = hits(
        &files,
        &[
            "crate::cekura",
            "crate::tela",
            "crate::http",
            "crate::apply",
            "crate::remote",
            "crate::runner",
            "crate::import",
            "crate::pull",
            "crate::suggest",
            "crate::writeback",
            "crate::fsutil",
            "reqwest",
            "tokio",
        ],
    );
    assert!(found.is_empty(), "an inner room reaches outwards:\n{}", found.join("\n"));
}

#[test]
fn the_sandbox_knows_nothing_of_evalform() {
    let deps = dependencies("evalform-sandbox");
    assert!(!deps.lines().any(|l| l.trim_start().starts_with("evalform")), "{deps}");
    let found = hits(&rust_files(&crate_dir("evalform-sandbox").join("src")), &["evalform::", "evalform_cli"]);
    assert!(found.is_empty(), "{}", found.join("\n"));
}
