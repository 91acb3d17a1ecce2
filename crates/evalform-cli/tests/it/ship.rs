//! How evalform is shipped: the container image (Dockerfile), the release workflow's assets, the `cargo binstall`
//! metadata and the action's install script must agree, and the image must hold nothing but the binary.
//!
//! There is no container engine on the test machines, so the Dockerfile is checked structurally (a small reader
//! of its instructions, not a linter): multi-stage, a static musl build, a final stage with no shell that copies
//! only the binary.

use std::process::Command;

use crate::common::workspace_root;

/// The targets a release is built for; the action installs exactly these.
const TARGETS: [&str; 5] = [
    "x86_64-unknown-linux-musl",
    "aarch64-unknown-linux-musl",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
    "x86_64-pc-windows-msvc",
];

fn read(path: &str) -> String {
    std::fs::read_to_string(workspace_root().join(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// A Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined, comments left out.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let (keyword, args) = current.split_once(char::is_whitespace).unwrap_or((&current, ""));
        out.push((keyword.to_ascii_uppercase(), args.trim().to_string()));
        current.clear();
    }
    assert!(current.is_empty(), "the Dockerfile ends inside a continued line");
    out
}

/// What is wrong with a Dockerfile for evalform's image; empty when nothing is.
fn dockerfile_problems(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let all = instructions(text);
    let known = ["FROM", "RUN", "COPY", "WORKDIR", "ENV", "USER", "ENTRYPOINT", "ARG", "LABEL", "CMD"];
    for (keyword, args) in &all {
        if !known.contains(&keyword.as_str()) {
            problems.push(format!("unknown instruction `{keyword} {args}`"));
        }
    }
    let stages: Vec<usize> = all.iter().enumerate().filter(|(_, (k, _))| k == "FROM").map(|(i, _)| i).collect();
    if stages.len() < 2 || stages[0] != 0 {
        problems.push("not multi-stage: FROM a build stage, then FROM the final image".to_string());
        return problems;
    }

    // The build stage: a musl toolchain, a locked release build of the CLI.
    let build = &all[..stages[stages.len() - 1]];
    let from = &build[0].1;
    let build_name = from.split_whitespace().last().unwrap_or_default();
    if !(from.contains("alpine") || from.contains("musl")) {
        problems.push(format!("the build stage does not link against musl: `{from}`"));
    }
    let locked_build = build
        .iter()
        .any(|(k, a)| k == "RUN" && a.contains("cargo build") && a.contains("--release") && a.contains("--locked"));
    if !locked_build {
        problems.push("no `cargo build --release --locked` in the build stage".to_string());
    }

    // The final stage: no shell (so no RUN, no shell-form ENTRYPOINT), only the binary copied in, not as root.
    let last = &all[stages[stages.len() - 1]..];
    let base = &last[0].1;
    if !(base == "scratch" || base.starts_with("gcr.io/distroless/static")) {
        problems.push(format!("the final base `{base}` has a shell"));
    }
    let allowed = ["FROM", "COPY", "ENV", "USER", "WORKDIR", "ENTRYPOINT", "LABEL"];
    for (keyword, args) in last {
        if !allowed.contains(&keyword.as_str()) {
            problems.push(format!("the final stage runs `{keyword} {args}`"));
        }
    }
    let copies: Vec<&str> = last.iter().filter(|(k, _)| k == "COPY").map(|(_, a)| a.as_str()).collect();
    let words: Vec<&str> = copies.first().map(|c| c.split_whitespace().collect()).unwrap_or_default();
    let only_the_binary = copies.len() == 1
        && words.len() == 3
        && words[0] == format!("--from={build_name}")
        && words[1].ends_with("/evalform")
        && words[2].ends_with("/evalform");
    if !only_the_binary {
        problems.push(format!("the final stage must copy only the binary from `{build_name}`: {copies:?}"));
    }
    let user = last.iter().filter(|(k, _)| k == "USER").map(|(_, a)| a.as_str()).next_back();
    if !user.is_some_and(|u| !u.starts_with("0") && !u.starts_with("root")) {
        problems.push(format!("the image runs as root: USER {user:?}"));
    }
    let entrypoint = last.iter().filter(|(k, _)| k == "ENTRYPOINT").map(|(_, a)| a.as_str()).next_back();
    match entrypoint.map(serde_json::from_str::<Vec<String>>) {
        Some(Ok(words_of_entry)) if words_of_entry.len() == 1 && words_of_entry[0].ends_with("evalform") => {
            let on_path = words_of_entry[0].starts_with('/')
                || last.iter().any(|(k, a)| {
                    k == "ENV"
                        && a.strip_prefix("PATH=").is_some_and(|p| {
                            let dir = words.get(2).and_then(|d| d.rsplit_once('/')).map_or("", |(dir, _)| dir);
                            p.split(':').any(|entry| entry == dir)
                        })
                });
            if !on_path {
                problems.push("ENTRYPOINT `evalform` is not on the image's PATH".to_string());
            }
        }
        _ => problems.push(format!("ENTRYPOINT must be [\"evalform\"] in exec form (no shell), not {entrypoint:?}")),
    }
    problems
}

#[test]
fn dockerfile_builds_a_static_binary_and_the_image_holds_only_it() {
    let problems = dockerfile_problems(&read("Dockerfile"));
    assert!(problems.is_empty(), "Dockerfile:\n{}", problems.join("\n"));

    // The build context leaves out build output (gigabytes of target/).
    let ignore = read(".dockerignore");
    assert!(ignore.lines().any(|l| l.trim() == "target"), "{ignore}");

    if ["docker", "podman", "buildah"]
        .iter()
        .any(|tool| Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success()))
    {
        eprintln!("NOTE: a container tool is installed, but the image is not built here (it compiles for minutes)");
    }
}

#[test]
fn dockerfile_check_refuses_an_image_with_a_shell_or_more_than_the_binary() {
    let good = read("Dockerfile");
    let bad = [
        good.replace("FROM scratch", "FROM alpine:3.20"),
        good.replace("ENTRYPOINT [\"evalform\"]", "ENTRYPOINT evalform"),
        good.replace("USER 65532:65532", "RUN adduser -D evalform\nUSER root"),
        good.replace("COPY --from=build /evalform /usr/local/bin/evalform", "COPY --from=build / /"),
        good.replace("--locked", ""),
        "FROM scratch\nCOPY evalform /evalform\nENTRYPOINT [\"/evalform\"]\n".to_string(),
    ];
    let found: Vec<String> = bad.iter().map(|text| dockerfile_problems(text).join("; ")).collect();
    insta::assert_snapshot!(found.join("\n"), @r#"
    the final base `alpine:3.20` has a shell
    ENTRYPOINT must be ["evalform"] in exec form (no shell), not Some("evalform")
    the final stage runs `RUN adduser -D evalform`; the image runs as root: USER Some("root")
    the final stage must copy only the binary from `build`: ["--from=build / /"]; ENTRYPOINT `evalform` is not on the image's PATH
    no `cargo build --release --locked` in the build stage
    not multi-stage: FROM a build stage, then FROM the final image
    "#);
}

#[test]
fn release_assets_binstall_and_the_installer_agree() {
    // The release workflow builds every target, and names the archives evalform-TARGET.
    let release: serde_yaml::Value = serde_yaml::from_str(&read(".github/workflows/release.yml")).unwrap();
    let job = &release["jobs"]["upload-assets"];
    let mut built: Vec<&str> = job["strategy"]["matrix"]["include"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    built.sort_unstable();
    let mut expected = TARGETS.to_vec();
    expected.sort_unstable();
    assert_eq!(built, expected);
    let upload = job["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("taiki-e/upload-rust-binary-action@")))
        .expect("the upload step");
    assert_eq!(upload["with"]["archive"].as_str(), Some("evalform-$target"));
    assert_eq!(upload["with"]["bin"].as_str(), Some("evalform"));
    assert_eq!(upload["with"]["zip"].as_str(), Some("windows"));
    assert_eq!(upload["with"]["tar"].as_str(), Some("unix"));
    assert!(read(".github/workflows/release.yml").contains("> SHA256SUMS"), "one checksum file per release");
    let on_tags = release["on"]["push"]["tags"][0].as_str().unwrap();
    assert!(on_tags.starts_with('v'), "{on_tags}");

    // `cargo binstall` finds the same archives.
    let cargo = read("crates/evalform-cli/Cargo.toml");
    let urls: Vec<&str> =
        cargo.lines().filter_map(|l| l.strip_prefix("pkg-url = \"")).map(|l| l.trim_end_matches('"')).collect();
    assert_eq!(urls.len(), 2, "the default and the Windows override: {urls:?}");
    for target in TARGETS {
        let url = if target.contains("windows") { urls[1] } else { urls[0] };
        let name = url.rsplit('/').next().unwrap().replace("{ target }", target);
        let ext = if target.contains("windows") { "zip" } else { "tar.gz" };
        assert_eq!(name, format!("evalform-{target}.{ext}"));
    }
    assert!(urls.iter().all(|u| u.contains("/releases/download/v{ version }/")), "{urls:?}");

    // The action's installer asks for the same names (its own test checks each runner).
    let install = read("action/install.sh");
    for target in TARGETS {
        assert!(install.contains(&format!("echo {target} ;;")), "install.sh does not know {target}");
    }
    assert!(install.contains("\"evalform-$1.zip\"") && install.contains("\"evalform-$1.tar.gz\""));
    assert!(install.contains("fetch SHA256SUMS"), "the installer verifies against the release's SHA256SUMS");
}

#[test]
fn gitlab_template_reports_code_quality_and_installs_the_release() {
    let text = read("templates/evalform.gitlab-ci.yml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(doc[".evalform"]["artifacts"]["reports"]["codequality"].as_str(), Some("gl-code-quality-report.json"));
    assert_eq!(doc[".evalform:apply"]["resource_group"].as_str(), Some("evalform-apply"));
    let install = doc[".evalform"]["before_script"][0].as_str().unwrap();
    assert!(install.contains("SHA256SUMS") && install.contains("sha256sum -c"), "{install}");
    assert!(!text.contains("cargo install"), "the template installs the release, it does not compile");
    for job in [".evalform:validate", ".evalform:plan", ".evalform:apply"] {
        let script = serde_yaml::to_string(&doc[job]["script"]).unwrap();
        assert!(script.contains("--message-format gitlab"), "{job}: {script}");
    }
}
