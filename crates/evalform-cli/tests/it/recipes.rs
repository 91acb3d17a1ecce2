//! The CI recipes under `examples/ci/` must work as written: every file parses as YAML, every shell block is valid
//! bash, and every `evalform ...` command they run names a command, flags and values that exist in the clap
//! definition (`evalform_cli::cli::Cli`). A recipe that names a flag the binary does not have fails here, not in a
//! user's pipeline at night.
//!
//! The shell reading below is deliberately small: it understands the shapes the recipes use (pipelines, `&&`/`||`,
//! `if !`, assignments, redirections, quotes, line continuations) and nothing more. It must never execute a recipe.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use evalform_cli::cli::Cli;

/// Which CI system a recipe is for, and so which YAML keys hold shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provider {
    /// GitHub Actions: `run:` of a step.
    GitHub,
    /// GitLab CI: `script:`, `before_script:`, `after_script:` (a string or a list of strings).
    GitLab,
}

/// One shell block of a recipe, with where it came from for the error messages.
#[derive(Debug)]
struct ShellBlock {
    /// The YAML path, such as `jobs.plan.steps[3].run`.
    place: String,
    text: String,
}

fn recipes_dir() -> PathBuf {
    crate::common::workspace_root().join("examples/ci")
}

/// Every `*.yml` / `*.yaml` below `examples/ci`, dotfiles included, sorted.
fn recipe_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")) {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&recipes_dir(), &mut out);
    out.sort();
    out
}

fn provider_of(path: &Path) -> Provider {
    let rel = path.strip_prefix(recipes_dir()).unwrap();
    match rel.components().next().and_then(|c| c.as_os_str().to_str()) {
        Some("github") => Provider::GitHub,
        Some("gitlab") => Provider::GitLab,
        other => panic!("{}: recipes live under github/ or gitlab/, not {other:?}", path.display()),
    }
}

fn parse_recipe(path: &Path) -> serde_yaml::Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|err| panic!("{}: not valid YAML: {err}", path.display()))
}

/// Every shell block of a parsed recipe.
fn shell_blocks(doc: &serde_yaml::Value, provider: Provider) -> Vec<ShellBlock> {
    fn walk(value: &serde_yaml::Value, place: String, provider: Provider, out: &mut Vec<ShellBlock>) {
        match value {
            serde_yaml::Value::Mapping(map) => {
                for (key, value) in map {
                    let Some(key) = key.as_str() else { continue };
                    let here = if place.is_empty() { key.to_string() } else { format!("{place}.{key}") };
                    let is_shell = match provider {
                        Provider::GitHub => key == "run",
                        Provider::GitLab => matches!(key, "script" | "before_script" | "after_script"),
                    };
                    match (is_shell, value) {
                        (true, serde_yaml::Value::String(text)) => {
                            out.push(ShellBlock { place: here, text: text.clone() })
                        }
                        (true, serde_yaml::Value::Sequence(items)) if provider == Provider::GitLab => {
                            for (i, item) in items.iter().enumerate() {
                                let text = item.as_str().unwrap_or_else(|| panic!("{here}[{i}]: not a string"));
                                out.push(ShellBlock { place: format!("{here}[{i}]"), text: text.to_string() });
                            }
                        }
                        _ => walk(value, here, provider, out),
                    }
                }
            }
            serde_yaml::Value::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, format!("{place}[{i}]"), provider, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(doc, String::new(), provider, &mut out);
    out
}

/// A piece of shell, as far as finding commands needs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A word with its quotes removed.
    Word(String),
    /// Anything that ends a simple command: newline, `;`, `&`, `&&`, `||`, `|`, `(`, `)`, `$(`, `` ` ``.
    Separator,
    /// `>`, `>>`, `<`, `2>`, `&>`, `>&`...: the next word is a file, not an argument.
    Redirect,
}

/// Split shell text into words, separators and redirections.
fn lex(text: &str) -> Vec<Token> {
    let text = text.replace("\\\n", " ");
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut i = 0;
    let flush = |word: &mut String, in_word: &mut bool, tokens: &mut Vec<Token>| {
        if *in_word {
            tokens.push(Token::Word(std::mem::take(word)));
            *in_word = false;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' => {
                in_word = true;
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    word.push(chars[i]);
                    i += 1;
                }
            }
            '"' => {
                in_word = true;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    word.push(chars[i]);
                    i += 1;
                }
            }
            '\\' if i + 1 < chars.len() => {
                in_word = true;
                word.push(chars[i + 1]);
                i += 1;
            }
            '#' if !in_word => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '$' if chars.get(i + 1) == Some(&'(') => {
                flush(&mut word, &mut in_word, &mut tokens);
                tokens.push(Token::Separator);
                i += 1;
            }
            '>' | '<' => {
                // `2>` and `2>&1`: a word of digits glued to the operator is a file descriptor.
                if in_word && word.chars().all(|d| d.is_ascii_digit()) {
                    word.clear();
                    in_word = false;
                }
                flush(&mut word, &mut in_word, &mut tokens);
                while matches!(chars.get(i + 1), Some('>' | '&' | '|')) {
                    i += 1;
                }
                tokens.push(Token::Redirect);
            }
            '&' if chars.get(i + 1) == Some(&'>') => {
                flush(&mut word, &mut in_word, &mut tokens);
                i += 1;
                while matches!(chars.get(i + 1), Some('>')) {
                    i += 1;
                }
                tokens.push(Token::Redirect);
            }
            '\n' | ';' | '&' | '|' | '(' | ')' | '`' => {
                flush(&mut word, &mut in_word, &mut tokens);
                tokens.push(Token::Separator);
            }
            c if c.is_whitespace() => flush(&mut word, &mut in_word, &mut tokens),
            c => {
                in_word = true;
                word.push(c);
            }
        }
        i += 1;
    }
    flush(&mut word, &mut in_word, &mut tokens);
    tokens
}

/// Words that may stand before the command of a simple command without being it.
const PREFIX_WORDS: &[&str] =
    &["if", "then", "else", "elif", "do", "while", "until", "!", "{", "time", "exec", "command"];

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

/// The arguments (after `evalform`) of every `evalform` command in a piece of shell.
fn evalform_invocations(text: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut simple: Vec<String> = Vec::new();
    let mut skip_next_word = false;
    let mut finish = |simple: &mut Vec<String>| {
        let mut words = simple.iter().skip_while(|w| PREFIX_WORDS.contains(&w.as_str()) || is_assignment(w));
        if let Some(first) = words.next() {
            if first == "env" {
                // `env A=1 evalform ...`
                let mut rest = words.skip_while(|w| is_assignment(w));
                if rest.next().is_some_and(|w| w == "evalform" || w.ends_with("/evalform")) {
                    found.push(rest.cloned().collect());
                }
            } else if first == "evalform" || first.ends_with("/evalform") {
                found.push(words.cloned().collect());
            }
        }
        simple.clear();
    };
    for token in lex(text) {
        match token {
            Token::Word(word) if skip_next_word => {
                let _ = word;
                skip_next_word = false;
            }
            Token::Word(word) => simple.push(word),
            Token::Redirect => skip_next_word = true,
            Token::Separator => {
                skip_next_word = false;
                finish(&mut simple);
            }
        }
    }
    finish(&mut simple);
    found
}

/// The evalform command each step using the evalform GitHub Action (`uses: OWNER/evalform@REF`) runs, as the
/// action's `run.sh` builds it: `COMMAND [--format markdown] ARGS PATHS`. Words that come from an expression
/// (`${{ ... }}`) stand as `$EXPR`, a value that cannot be judged here.
fn action_invocations(doc: &serde_yaml::Value) -> Vec<(String, Vec<String>)> {
    fn walk(value: &serde_yaml::Value, place: String, out: &mut Vec<(String, Vec<String>)>) {
        match value {
            serde_yaml::Value::Mapping(map) => {
                let uses = map.get("uses").and_then(|u| u.as_str()).unwrap_or("");
                let is_action = uses.split_once('@').is_some_and(|(name, _)| name.ends_with("/evalform"));
                if is_action {
                    let with = &value["with"];
                    let text = |key: &str, default: &str| with[key].as_str().unwrap_or(default).to_string();
                    let command = text("command", "plan");
                    let mut words = vec![command.clone()];
                    if command == "plan" {
                        words.extend(["--format".to_string(), "markdown".to_string()]);
                    }
                    let (args, paths) =
                        (without_expressions(&text("args", "")), without_expressions(&text("paths", "")));
                    for word in args.split_whitespace().chain(paths.split_whitespace()) {
                        words.push(if word.contains("EXPR") { "$EXPR".to_string() } else { word.to_string() });
                    }
                    out.push((format!("{place}.with"), words));
                }
                for (key, value) in map {
                    if let Some(key) = key.as_str() {
                        walk(value, if place.is_empty() { key.to_string() } else { format!("{place}.{key}") }, out);
                    }
                }
            }
            serde_yaml::Value::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, format!("{place}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(doc, String::new(), &mut out);
    out
}

/// Check one invocation (the words after `evalform`) against the clap definition.
fn check_invocation(args: &[String]) -> Result<(), String> {
    let mut root = Cli::command();
    root.build();
    let shown = format!("evalform {}", args.join(" "));
    if matches!(args, [only] if only == "--version" || only == "-V") {
        return Ok(());
    }
    let mut sub: Option<&clap::Command> = None;
    let mut positional_only = false;
    let mut i = 0;
    while i < args.len() {
        let word = &args[i];
        let scope = sub.unwrap_or(&root);
        let scope_name = sub.map_or_else(|| "evalform".to_string(), |s| format!("evalform {}", s.get_name()));
        if word == "--" {
            positional_only = true;
        } else if let Some(long) = word.strip_prefix("--").filter(|_| !positional_only) {
            let (name, inline) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (long, None),
            };
            let arg = scope
                .get_arguments()
                .chain(root.get_arguments().filter(|a| a.is_global_set()))
                .find(|a| a.get_long() == Some(name) || a.get_all_aliases().into_iter().flatten().any(|al| al == name))
                .ok_or_else(|| {
                    // Suggest only a near miss (a typo), as clap does; a far "nearest" flag misleads.
                    let near = scope
                        .get_arguments()
                        .filter_map(|a| a.get_long())
                        .map(|k| (strsim::jaro_winkler(k, name), k))
                        .filter(|(score, _)| *score > 0.8)
                        .max_by(|a, b| a.0.total_cmp(&b.0));
                    match near {
                        Some((_, near)) => {
                            format!("`{shown}`: `{scope_name}` has no flag --{name} (did you mean --{near}?)")
                        }
                        None => format!("`{shown}`: `{scope_name}` has no flag --{name}"),
                    }
                })?;
            if arg.get_action().takes_values() {
                let value = match inline {
                    Some(value) => value,
                    None => {
                        i += 1;
                        args.get(i).cloned().ok_or_else(|| format!("`{shown}`: --{name} needs a value"))?
                    }
                };
                check_value(&shown, name, arg, &value)?;
            } else if inline.is_some() {
                return Err(format!("`{shown}`: --{name} takes no value"));
            }
        } else if let Some(shorts) = word.strip_prefix('-').filter(|s| !s.is_empty() && !positional_only) {
            for (at, c) in shorts.char_indices() {
                let arg = scope
                    .get_arguments()
                    .chain(root.get_arguments().filter(|a| a.is_global_set()))
                    .find(|a| a.get_short() == Some(c))
                    .ok_or_else(|| format!("`{shown}`: `{scope_name}` has no flag -{c}"))?;
                if arg.get_action().takes_values() {
                    let rest = &shorts[at + c.len_utf8()..];
                    if rest.is_empty() {
                        i += 1;
                    }
                    break;
                }
            }
        } else if sub.is_none() {
            sub = Some(root.find_subcommand(word).ok_or_else(|| {
                let known: Vec<&str> = root.get_subcommands().map(|s| s.get_name()).collect();
                format!("`{shown}`: no command `{word}` (commands: {})", known.join(", "))
            })?);
        } else if !scope.get_arguments().any(|a| a.is_positional()) {
            return Err(format!("`{shown}`: `{scope_name}` takes no argument `{word}`"));
        }
        i += 1;
    }
    if sub.is_none() {
        return Err(format!("`{shown}`: no command given"));
    }
    // The walk above names what is wrong; clap itself also catches conflicts and missing required flags. Values
    // that come from shell variables cannot be judged here, so only their errors are let through.
    let argv = std::iter::once("evalform".to_string()).chain(args.iter().cloned());
    if let Err(err) = Cli::command().try_get_matches_from(argv) {
        use clap::error::ErrorKind;
        let from_variable = args.iter().any(|a| a.contains('$'));
        let variable_error = matches!(err.kind(), ErrorKind::ValueValidation | ErrorKind::InvalidValue);
        if !(from_variable && variable_error) {
            return Err(format!("`{shown}`: clap refuses it: {}", err.to_string().lines().next().unwrap_or("")));
        }
    }
    Ok(())
}

fn check_value(shown: &str, name: &str, arg: &clap::Arg, value: &str) -> Result<(), String> {
    let possible = arg.get_possible_values();
    if possible.is_empty() || value.contains('$') {
        return Ok(());
    }
    let values: Vec<&str> = match arg.get_value_delimiter() {
        Some(delimiter) => value.split(delimiter).collect(),
        None => vec![value],
    };
    for value in values {
        if !possible.iter().any(|p| p.matches(value, false)) {
            let names: Vec<&str> = possible.iter().map(|p| p.get_name()).collect();
            return Err(format!("`{shown}`: --{name} {value} is not one of {}", names.join(", ")));
        }
    }
    Ok(())
}

/// Replace GitHub's `${{ ... }}` (not shell) so that `bash -n` judges the rest.
fn without_expressions(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        out.push_str("EXPR");
        rest = rest[start..].find("}}").map_or("", |end| &rest[start + end + 2..]);
    }
    out.push_str(rest);
    out
}

fn bash_syntax_error(text: &str) -> Option<String> {
    let out = std::process::Command::new("bash").arg("-n").arg("-c").arg(text).output().ok()?;
    (!out.status.success()).then(|| String::from_utf8_lossy(&out.stderr).trim().to_string())
}

#[test]
fn every_recipe_parses_and_calls_only_real_commands_and_flags() {
    let files = recipe_files();
    assert!(files.len() >= 6, "expected the GitHub and GitLab recipes, found {files:?}");
    let mut problems = Vec::new();
    let mut total = 0;
    for file in &files {
        let rel = file.strip_prefix(crate::common::workspace_root()).unwrap().display().to_string();
        let provider = provider_of(file);
        let doc = parse_recipe(file);
        let blocks = shell_blocks(&doc, provider);
        let mut in_file = 0;
        for block in &blocks {
            if provider == Provider::GitHub && block.text.contains("${{") {
                // An expression pasted into a script is a script-injection hole (a branch name is attacker-chosen);
                // the recipes pass such values through `env:`.
                problems.push(format!("{rel}: {}: uses ${{{{ }}}} inside the script; pass it via env:", block.place));
            }
            if let Some(err) = bash_syntax_error(&without_expressions(&block.text)) {
                problems.push(format!("{rel}: {}: not valid bash: {err}", block.place));
            }
            for invocation in evalform_invocations(&block.text) {
                in_file += 1;
                if let Err(err) = check_invocation(&invocation) {
                    problems.push(format!("{rel}: {}: {err}", block.place));
                }
            }
        }
        if provider == Provider::GitHub {
            for (place, invocation) in action_invocations(&doc) {
                in_file += 1;
                if let Err(err) = check_invocation(&invocation) {
                    problems.push(format!("{rel}: {place}: {err}"));
                }
            }
        }
        if in_file == 0 {
            problems.push(format!("{rel}: runs no evalform command (is the shell reading broken?)"));
        }
        total += in_file;
    }
    assert!(problems.is_empty(), "{} problem(s) in the CI recipes:\n{}", problems.len(), problems.join("\n"));
    assert!(total >= 10, "only {total} evalform commands found in the recipes");
}

/// The properties the recipes exist for, checked on the YAML rather than trusted to review.
#[test]
fn recipes_keep_their_promises() {
    let get = |name: &str| parse_recipe(&recipes_dir().join(name));
    let apply = get("github/apply.yml");
    assert_eq!(apply["concurrency"]["group"].as_str(), Some("evalform-apply"), "applies must never overlap");
    assert_eq!(apply["concurrency"]["cancel-in-progress"].as_bool(), Some(false), "an apply must never be cut");
    let smoke = get("github/apply-smoke.yml");
    assert_eq!(smoke["concurrency"]["group"].as_str(), Some("evalform-apply"));
    assert_eq!(smoke["concurrency"]["cancel-in-progress"].as_bool(), Some(false));

    // The plan comment is the action's: one comment, found again by its marker (action/comment.sh; its test is
    // tests/it/action.rs).
    let plan = get("github/plan.yml");
    let plan_steps = action_invocations(&plan);
    assert!(plan_steps.iter().any(|(_, words)| words[0] == "plan"), "{plan_steps:?}");
    assert!(plan["permissions"]["pull-requests"].as_str() == Some("write"), "the comment needs pull-requests: write");
    let comment = std::fs::read_to_string(crate::common::workspace_root().join("action/comment.sh")).unwrap();
    assert!(comment.contains("marker='<!-- evalform-plan -->'"), "the plan comment is found again by its marker");

    let drift = get("github/drift.yml");
    assert!(drift["on"]["schedule"][0]["cron"].is_string(), "drift runs on a schedule");

    let gitlab = get("gitlab/gitlab-ci.yml");
    assert_eq!(gitlab["evalform:apply"]["resource_group"].as_str(), Some("evalform-apply"));
    let gitlab_text = serde_yaml::to_string(&gitlab).unwrap();
    assert!(gitlab_text.contains("<!-- evalform-plan -->"));
    assert!(gitlab_text.contains("\"schedule\""), "drift runs in a scheduled pipeline");

    // No recipe compiles evalform: the action, the released binary or the image installs it.
    for file in recipe_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("cargo install"), "{}: compiles evalform in every job", file.display());
    }

    // Every plan in a recipe's shell decides something, so it reads the exit code: 2 is drift, not a failure. (The
    // action's plan on a pull request needs no --detailed-exitcode: it comments, and fails only on an error.)
    for file in recipe_files() {
        for block in shell_blocks(&parse_recipe(&file), provider_of(&file)) {
            for args in evalform_invocations(&block.text).iter().filter(|a| a.first().is_some_and(|c| c == "plan")) {
                let shown = args.join(" ");
                assert!(args.iter().any(|a| a == "--detailed-exitcode"), "{}: `{shown}`", file.display());
            }
        }
    }
}

#[test]
fn lexer_finds_commands_in_the_shapes_recipes_use() {
    let script = r#"
code=0
evalform plan --format markdown --detailed-exitcode > plan.md 2>plan.err || code=$?
if ! evalform validate manifests/; then exit 1; fi
echo "evalform plan is only text here" # evalform apply --nope
NO_COLOR=1 evalform apply --auto-approve \
  --parallelism 4 && evalform run --tags smoke --format junit > junit.xml
out=$(evalform plan --detailed-exitcode -q)
env CEKURA_BASE_URL=http://127.0.0.1:1 ./target/release/evalform schema | head
"#;
    let found: Vec<String> = evalform_invocations(script).iter().map(|a| a.join(" ")).collect();
    assert_eq!(
        found,
        [
            "plan --format markdown --detailed-exitcode",
            "validate manifests/",
            "apply --auto-approve --parallelism 4",
            "run --tags smoke --format junit",
            "plan --detailed-exitcode -q",
            "schema",
        ]
    );
}

fn check(line: &str) -> Result<(), String> {
    let invocations = evalform_invocations(line);
    assert_eq!(invocations.len(), 1, "{line}");
    check_invocation(&invocations[0])
}

#[test]
fn checker_accepts_what_the_binary_accepts() {
    for line in [
        "evalform plan --format markdown --detailed-exitcode --out plan.json",
        "evalform -q plan --parallelism=4 agents/a agents/b",
        "evalform apply --auto-approve -v",
        "evalform apply --plan plan.json",
        "evalform run --tags smoke,orders --format junit --min-success-rate 0.9",
        "evalform import --agent $AGENT_ID --out agents/support",
        "evalform completions bash",
        "evalform man --out-dir share/man/man1",
        "evalform pull --dry-run",
    ] {
        assert_eq!(check(line), Ok(()), "{line}");
    }
}

#[test]
fn checker_refuses_unknown_commands_flags_and_values() {
    let refusals: Vec<String> = [
        "evalform plan --formt markdown",
        "evalform plan --format html",
        "evalform plann",
        "evalform apply --auto-aprove",
        "evalform run --tags smoke --format junit --detailed-exitcode",
        "evalform apply --plan plan.json --target x",
        "evalform completions tcsh",
        "evalform schema extra",
        "evalform --parallelism 4",
    ]
    .iter()
    .map(|line| check(line).expect_err(line))
    .collect();
    insta::assert_snapshot!(refusals.join("\n"), @"
    `evalform plan --formt markdown`: `evalform plan` has no flag --formt (did you mean --format?)
    `evalform plan --format html`: --format html is not one of text, json, markdown
    `evalform plann`: no command `plann` (commands: validate, fmt, plan, apply, init, show, import, pull, run, test, suggest, export, doctor, schema, sandbox, demo, completions, man, help)
    `evalform apply --auto-aprove`: `evalform apply` has no flag --auto-aprove (did you mean --auto-approve?)
    `evalform run --tags smoke --format junit --detailed-exitcode`: `evalform run` has no flag --detailed-exitcode
    `evalform apply --plan plan.json --target x`: clap refuses it: error: the argument '--plan <FILE>' cannot be used with '--target <PATTERN>'
    `evalform completions tcsh`: clap refuses it: error: invalid value 'tcsh' for '<SHELL>'
    `evalform schema extra`: `evalform schema` takes no argument `extra`
    `evalform --parallelism 4`: no command given
    ");
}

/// A mistyped flag in a drift job must fail it. clap's own exit code for usage errors is 2, which is the contract's
/// "changes" under `--detailed-exitcode`; the binary maps it to 1.
#[test]
fn a_usage_error_exits_1_not_2() {
    let mut cmd = crate::common::evalform();
    cmd.args(["plan", "--detailed-exitcod"]);
    let out = crate::common::run(cmd, None);
    insta::assert_snapshot!(out.snapshot(), @r"
    exit: 1
    --- stdout
    --- stderr
    error: unexpected argument '--detailed-exitcod' found

      tip: a similar argument exists: '--detailed-exitcode'

    Usage: evalform plan --detailed-exitcode [PATH]...

    For more information, try '--help'.
    ");

    let mut cmd = crate::common::evalform();
    cmd.arg("--version");
    let out = crate::common::run(cmd, None);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// The commands shown in the docs are checked like the recipes: a reader copies them.
#[test]
fn commands_in_the_ci_docs_exist() {
    let mut problems = Vec::new();
    let mut total = 0;
    for doc in ["docs/ci.md", "docs/exit-codes.md"] {
        let text = std::fs::read_to_string(crate::common::workspace_root().join(doc)).unwrap();
        let mut in_block = false;
        let mut block = String::new();
        for line in text.lines() {
            if let Some(lang) = line.strip_prefix("```") {
                if in_block {
                    for invocation in evalform_invocations(&block) {
                        total += 1;
                        if let Err(err) = check_invocation(&invocation) {
                            problems.push(format!("{doc}: {err}"));
                        }
                    }
                    block.clear();
                    in_block = false;
                } else {
                    in_block = true;
                    // YAML blocks hold shell only after `- `; other languages are not shell at all.
                    if !matches!(lang, "sh" | "yaml") {
                        in_block = false;
                    }
                }
            } else if in_block {
                let line = line.trim_start();
                block.push_str(line.strip_prefix("- ").unwrap_or(line));
                block.push('\n');
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(total >= 8, "only {total} evalform commands found in the docs");
}

/// The action's own files are held to the recipes' rules: action.yml parses, its shell is valid bash with no
/// expression pasted into it (inputs reach the scripts through `env:`), every input reaches a script, and the
/// scripts themselves are valid bash. The GitLab template and the pre-commit hook run only real commands and flags.
#[test]
fn the_action_template_and_hook_follow_the_recipe_rules() {
    let root = crate::common::workspace_root();
    let text = std::fs::read_to_string(root.join("action.yml")).unwrap();
    let action: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));
    let mut problems = Vec::new();
    let steps = action["runs"]["steps"].as_sequence().unwrap();
    let mut env_text = String::new();
    for (i, step) in steps.iter().enumerate() {
        if let Some(run) = step["run"].as_str() {
            if run.contains("${{") {
                problems.push(format!("action.yml: runs.steps[{i}].run: uses ${{{{ }}}} inside the script"));
            }
            if let Some(err) = bash_syntax_error(run) {
                problems.push(format!("action.yml: runs.steps[{i}].run: not valid bash: {err}"));
            }
            if step["shell"].as_str() != Some("bash") {
                problems.push(format!("action.yml: runs.steps[{i}]: a composite run step needs `shell: bash`"));
            }
        }
        env_text.push_str(&serde_yaml::to_string(&step["env"]).unwrap());
    }
    for (name, _) in action["inputs"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        if !env_text.contains(&format!("inputs.{name}")) {
            problems.push(format!("action.yml: input `{name}` reaches no script"));
        }
    }
    for script in ["install.sh", "run.sh", "comment.sh"] {
        let text = std::fs::read_to_string(root.join("action").join(script)).unwrap();
        if let Some(err) = bash_syntax_error(&text) {
            problems.push(format!("action/{script}: not valid bash: {err}"));
        }
        if !text.starts_with("#!/usr/bin/env bash\n") {
            problems.push(format!("action/{script}: no bash shebang"));
        }
    }

    let template: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(root.join("templates/evalform.gitlab-ci.yml")).unwrap()).unwrap();
    let mut found = 0;
    for block in shell_blocks(&template, Provider::GitLab) {
        if let Some(err) = bash_syntax_error(&block.text) {
            problems.push(format!("templates/evalform.gitlab-ci.yml: {}: not valid bash: {err}", block.place));
        }
        for invocation in evalform_invocations(&block.text) {
            found += 1;
            if let Err(err) = check_invocation(&invocation) {
                problems.push(format!("templates/evalform.gitlab-ci.yml: {}: {err}", block.place));
            }
        }
    }
    assert!(found >= 4, "only {found} evalform commands in the GitLab template");

    let hooks: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(root.join(".pre-commit-hooks.yaml")).unwrap()).unwrap();
    for hook in hooks.as_sequence().unwrap() {
        let entry = hook["entry"].as_str().unwrap();
        let invocations = evalform_invocations(entry);
        assert_eq!(invocations.len(), 1, "{entry}");
        if let Err(err) = check_invocation(&invocations[0]) {
            problems.push(format!(".pre-commit-hooks.yaml: {err}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn action_steps_are_read_as_the_commands_they_run() {
    let doc: serde_yaml::Value = serde_yaml::from_str(
        r#"
jobs:
  a:
    steps:
      - uses: actions/checkout@v4
      - uses: OWNER/evalform@v1
        with:
          args: --out plan.json
      - uses: acme/evalform@v2.0.1
        with:
          command: apply
          paths: ${{ matrix.agent }}
          args: --auto-aprove
"#,
    )
    .unwrap();
    let found = action_invocations(&doc);
    let shown: Vec<String> = found.iter().map(|(place, words)| format!("{place}: {}", words.join(" "))).collect();
    assert_eq!(
        shown,
        [
            "jobs.a.steps[1].with: plan --format markdown --out plan.json",
            "jobs.a.steps[2].with: apply --auto-aprove $EXPR",
        ]
    );
    assert!(check_invocation(&found[0].1).is_ok());
    assert!(check_invocation(&found[1].1).unwrap_err().contains("did you mean --auto-approve?"));
}
