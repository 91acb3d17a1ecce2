//! evalform on a real terminal (a pseudo-terminal made by `script`, from util-linux): a spinner while the platform
//! is read, cleared before the prompt; a `yes` typed before the prompt appeared does not count. Skipped, with a
//! message, where `script` is not installed.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::apply::World;

/// Run `evalform ARGS` (with `world`'s environment) on a pseudo-terminal, typing `input` at once; the terminal's
/// whole output, with escape sequences, and the exit code.
fn on_terminal(world: &World, args: &[&str], input: &str) -> Option<(String, i32)> {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: `script` (util-linux) is not installed, so no pseudo-terminal can be made");
        return None;
    }
    let template = world.cmd(args);
    let mut line = shell_quote(template.get_program().to_str().unwrap());
    for a in template.get_args() {
        line.push(' ');
        line.push_str(&shell_quote(a.to_str().unwrap()));
    }
    let mut cmd = Command::new("script");
    cmd.args(["-qefc", &line, "/dev/null"]).current_dir(world.dir.path());
    for (k, v) in template.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.env("TERM", "xterm").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.as_mut().unwrap().write_all(input.as_bytes()).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    Some((String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code().unwrap_or(-1)))
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn a_yes_typed_before_the_prompt_does_not_apply_and_no_spinner_is_left_on_the_prompt_line() {
    let world = World::examples();
    let Some((screen, code)) = on_terminal(&world, &["apply", "--target", "Toothache*"], "yes\n") else { return };
    assert!(screen.contains("Do you want to apply these changes?"), "{screen}");
    assert!(screen.contains("Apply cancelled. Nothing was written."), "{screen}");
    assert_eq!(code, 1);
    let writes = world.sb.requests().iter().filter(|r| r.method != "GET").count();
    assert_eq!(writes, 0, "the typed-ahead yes was taken as the answer");
    // The spinner showed while reading, and its line was cleared: the prompt's line holds only the prompt.
    assert!(screen.contains("Reading the platform"), "{screen}");
    let prompt_line = screen.lines().find(|l| l.contains("Do you want to apply")).unwrap();
    assert!(!prompt_line.contains("Reading the platform"), "{prompt_line:?}");
}

#[test]
fn piped_output_has_no_spinner() {
    let world = World::examples();
    let out = crate::common::run(world.cmd(&["plan", "--target", "Toothache*"]), None);
    assert!(!out.stderr.contains("Reading the platform"), "{}", out.stderr);
}
