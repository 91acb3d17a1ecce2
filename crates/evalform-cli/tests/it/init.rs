//! `evalform init`: a starter manifest that validates as written and plans exactly what it shows.

use crate::apply::World;
use crate::common::settings;

#[test]
fn the_starter_validates_plans_one_evaluator_and_is_never_overwritten() {
    let w = World::new();
    let out = w.run(&["init", "--agent", "12"]);
    settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r"
        exit: 0
        --- stdout
        ./suite.yaml
        --- stderr
        next: edit suite.yaml, then `evalform validate .` and `evalform plan .`
        ")
    });
    let text = std::fs::read_to_string(w.path("suite.yaml")).unwrap();
    settings().bind(|| insta::assert_snapshot!("init_starter", text));
    assert_eq!(w.run(&["validate"]).code, 0);
    let plan = w.run(&["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.snapshot());
    assert!(plan.stdout.starts_with("Plan: 2 to create, 0 to update, 0 to delete"), "{}", plan.stdout);
    assert!(plan.stdout.contains("evaluator[\"Greets and asks how to help\"]"), "{}", plan.stdout);

    std::fs::write(w.path("suite.yaml"), "# mine\n").unwrap();
    let again = w.run(&["init", "--agent", "12"]);
    insta::assert_snapshot!(again.snapshot(), @r"
    exit: 1
    --- stdout
    --- stderr
    error: ./suite.yaml already exists
    hint: pass --force to overwrite it, or choose another directory with --out
    ");
    assert_eq!(std::fs::read_to_string(w.path("suite.yaml")).unwrap(), "# mine\n");
}
