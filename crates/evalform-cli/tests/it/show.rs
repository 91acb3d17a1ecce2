//! `evalform show FILE`: a saved plan shown exactly as `plan` showed it, with no key, no variable and no platform.

use crate::apply::World;
use crate::common::{evalform, run};

#[test]
fn a_saved_plan_is_shown_as_plan_showed_it_offline() {
    let w = World::examples();
    let planned = w.run(&["plan", "--out", "plan.json"]);
    assert_eq!(planned.code, 0, "{}", planned.snapshot());
    assert!(planned.stdout.contains("Normal Female (8)"), "the plan shows a personality by name: {}", planned.stdout);
    for format in ["text", "json", "markdown"] {
        let with_platform = w.run(&["plan", "--format", format]);
        // No key, no ${env:...} value, no base URL: nothing remote can be read.
        let mut cmd = evalform();
        cmd.args(["show", "--format", format, "plan.json"]);
        let shown = run(cmd, Some(w.dir.path()));
        assert_eq!(shown.code, 0, "{}", shown.snapshot());
        assert_eq!(shown.stdout, with_platform.stdout, "{format}");
    }
    let mut cmd = evalform();
    cmd.args(["show", "suite.yaml"]).current_dir(w.dir.path());
    std::fs::write(w.path("suite.yaml"), "version: 1\n").unwrap();
    let out = run(cmd, None);
    insta::assert_snapshot!(out.snapshot(), @"
    exit: 1
    --- stdout
    --- stderr
    error: suite.yaml: not a saved plan: expected value at line 1 column 1
    hint: make one with `evalform plan --out FILE`
    ");
}
