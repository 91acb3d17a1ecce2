//! Folder lifecycle end to end: a folder renamed or moved in the manifests (`{path, renamed_from}`) is renamed or
//! moved on the platform with one call, its evaluators following, never moved one by one.

use crate::apply::World;
use crate::common::settings;

const SUITE: &str = r#"version: 1
cekura:
  agent: 12
  folders: [Orders, Orders.Tracking]
  defaults:
    personality: 7
    folder: Orders.Tracking
  evaluators:
    - name: Where is my parcel
      instructions: Ask where parcel 1 is.
    - name: Parcel is late
      instructions: Say parcel 2 is late.
"#;

fn writes(w: &World) -> Vec<String> {
    w.writes().iter().map(|r| format!("{} {}", r.method, r.path)).collect()
}

#[test]
fn a_folder_renamed_then_moved_in_the_manifests_takes_one_call_each() {
    let w = World::new();
    w.write("suite.yaml", SUITE);
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);

    let renamed = SUITE
        .replace(
            "folders: [Orders, Orders.Tracking]",
            "folders: [Orders, {path: Orders.Delivery, renamed_from: [Orders.Tracking]}]",
        )
        .replace("folder: Orders.Tracking", "folder: Orders.Delivery");
    w.write("suite.yaml", &renamed);
    let out = w.run(&["plan", "--detailed-exitcode"]);
    settings().bind(|| insta::assert_snapshot!("folder_rename_plan", out.snapshot()));
    w.sb.clear_requests();
    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert_eq!(writes(&w), ["POST /test_framework/v1/scenarios/rename_folder/"]);
    let folders: Vec<Option<String>> =
        w.sb.with_state(|s| s.evaluators.values().map(|e| e.folder_path.clone()).collect());
    assert_eq!(folders, [Some("Orders.Delivery".to_string()), Some("Orders.Delivery".to_string())]);
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);

    // Moved to the top level, under a new name: a move, then a rename.
    let moved = renamed
        .replace(
            "{path: Orders.Delivery, renamed_from: [Orders.Tracking]}",
            "{path: Shipping, renamed_from: [Orders.Delivery]}",
        )
        .replace("folder: Orders.Delivery", "folder: Shipping");
    w.write("suite.yaml", &moved);
    w.sb.clear_requests();
    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert_eq!(
        writes(&w),
        ["POST /test_framework/v1/scenarios/move_folder/", "POST /test_framework/v1/scenarios/rename_folder/"]
    );
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

/// Three folders, an evaluator in each, all made by evalform (`prune: true`, `prune_folders: true`).
const OWNED: &str = r#"version: 1
cekura:
  agent: 12
  prune: true
  prune_folders: true
  folders: [Orders, Orders.Tracking, Refunds]
  defaults:
    personality: 7
  evaluators:
    - name: Where is my parcel
      folder: Orders.Tracking
      instructions: Ask where parcel 1 is.
    - name: Refund please
      folder: Refunds
      instructions: Ask for a refund of order 2.
    - name: Order status
      folder: Orders
      instructions: Ask about order 3.
"#;

/// `OWNED` with `Refunds` and its evaluator gone, and the tracking evaluator moved up into `Orders`.
fn owned_without_refunds() -> String {
    OWNED
        .replace("folders: [Orders, Orders.Tracking, Refunds]", "folders: [Orders]")
        .replace("      folder: Orders.Tracking\n", "      folder: Orders\n")
        .replace(
            "    - name: Refund please\n      folder: Refunds\n      instructions: Ask for a refund of order 2.\n",
            "",
        )
}

fn folders_of(w: &World) -> Vec<String> {
    let mut out: Vec<String> =
        w.sb.with_state(|s| s.folders.iter().filter(|f| f.project == 1376).map(|f| f.path.clone()).collect());
    out.sort();
    out
}

fn evaluator_names(w: &World) -> Vec<String> {
    w.sb.with_state(|s| s.evaluators.values().map(|e| e.name.clone()).collect())
}

#[test]
fn prune_folders_deletes_an_unused_folder_with_the_evaluators_evalform_would_delete() {
    let w = World::new();
    w.write("suite.yaml", OWNED);
    // One call at a time: the ids the plans show are always the same.
    assert_eq!(w.run(&["apply", "--auto-approve", "--parallelism", "1"]).code, 0);
    w.write("suite.yaml", &owned_without_refunds());

    let out = w.run(&["plan", "--detailed-exitcode"]);
    settings().bind(|| insta::assert_snapshot!("prune_folders_plan", out.snapshot()));
    let out = w.run(&["plan", "--format", "markdown"]);
    settings().bind(|| insta::assert_snapshot!("prune_folders_plan_markdown", out.stdout));
    let out = w.run(&["plan", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let folder_changes: Vec<&serde_json::Value> = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["address"].as_str().unwrap().contains("folder["))
        .collect();
    let folder_ops: Vec<&serde_json::Value> = json["operations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["path"].as_str().unwrap().ends_with("delete_folder/"))
        .collect();
    settings().bind(|| insta::assert_json_snapshot!("prune_folders_plan_json", (folder_changes, folder_ops)));

    w.sb.clear_requests();
    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    // The tracking evaluator moves out first; each folder then goes with one call, its evaluators with it.
    assert_eq!(
        writes(&w),
        [
            "POST /test_framework/v1/scenarios/adv_update/",
            "POST /test_framework/v1/scenarios/delete_folder/",
            "POST /test_framework/v1/scenarios/delete_folder/",
        ]
    );
    assert_eq!(folders_of(&w), ["Orders"]);
    assert_eq!(evaluator_names(&w), ["Where is my parcel", "Order status"]);
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

#[test]
fn prune_folders_keeps_a_folder_holding_an_evaluator_made_by_hand_and_says_why() {
    let w = World::new();
    w.write("suite.yaml", OWNED);
    assert_eq!(w.run(&["apply", "--auto-approve", "--parallelism", "1"]).code, 0);
    w.sb.with_state(|s| {
        s.insert_evaluator(
            9001,
            serde_json::json!({"name": "Made in the dashboard", "agent": 12, "personality": 7,
                               "instructions": "Ask for a refund.", "folder_path": "Refunds"}),
        )
        .unwrap();
    });
    w.write("suite.yaml", &owned_without_refunds());
    let out = w.run(&["plan"]);
    settings().bind(|| insta::assert_snapshot!("prune_folders_refused_plan", out.snapshot()));
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    // The folder and the hand-made evaluator stay; evalform's own evaluator in it was pruned alone.
    assert_eq!(folders_of(&w), ["Orders", "Refunds"]);
    assert_eq!(evaluator_names(&w), ["Where is my parcel", "Order status", "Made in the dashboard"]);
    // Only the emptied `Orders.Tracking` went.
    assert_eq!(writes(&w).iter().filter(|r| r.contains("delete_folder")).count(), 1);
}

#[test]
fn without_prune_folders_no_folder_is_deleted() {
    let w = World::new();
    let plain = OWNED.replace("  prune_folders: true\n", "");
    w.write("suite.yaml", &plain);
    assert_eq!(w.run(&["apply", "--auto-approve", "--parallelism", "1"]).code, 0);
    w.write("suite.yaml", &owned_without_refunds().replace("  prune_folders: true\n", ""));
    let out = w.run(&["plan"]);
    settings().bind(|| insta::assert_snapshot!("prune_folders_off_plan", out.snapshot()));
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    assert_eq!(folders_of(&w), ["Orders", "Orders.Tracking", "Refunds"]);

    // The folders no manifest uses that hold evaluators of the agents read are listed, in every format, and are
    // not changes; the empty `Orders.Tracking` could be another agent's, and is not.
    w.sb.with_state(|s| {
        s.insert_evaluator(
            9001,
            serde_json::json!({"name": "Made in the dashboard", "agent": 12, "personality": 7,
                               "instructions": "Ask for a refund.", "folder_path": "Refunds"}),
        )
        .unwrap();
    });
    w.sb.clear_requests();
    let out = w.run(&["plan", "--detailed-exitcode"]);
    insta::assert_snapshot!(out.snapshot(), @r#"
    exit: 0
    --- stdout
    No changes to the managed resources. 1 evaluator and 1 folder on the platform are not managed (listed below).

    Not managed (on the platform, declared by no manifest; never changed):
      ? cekura.agent[12].evaluator["Made in the dashboard"] (id 9001): prune leaves it: evalform did not create or adopt it (no tag "managed-by:evalform")
      ? cekura.agent[12].folder["Refunds"]: no manifest here uses it; it holds 1 evaluator of agent 12 (other agents of project 1376 are not read)
    --- stderr
    "#);
    let out = w.run(&["plan", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["summary"]["unmanaged"], 2);
    insta::assert_json_snapshot!(json["unmanaged"][1], @r#"
    {
      "address": "cekura.agent[12].folder[\"Refunds\"]",
      "remote_id": null,
      "note": "no manifest here uses it; it holds 1 evaluator of agent 12 (other agents of project 1376 are not read)"
    }
    "#);
    let out = w.run(&["plan", "--format", "markdown"]);
    assert!(
        out.stdout.contains("- `cekura.agent[12].folder[\"Refunds\"]: no manifest here uses it; it holds 1 evaluator"),
        "{}",
        out.stdout
    );
    assert!(w.writes().is_empty(), "a plan writes nothing: {:?}", writes(&w));
}

#[test]
fn a_saved_folder_deletion_is_stale_once_the_folder_gains_an_evaluator() {
    let w = World::new();
    w.write("suite.yaml", OWNED);
    assert_eq!(w.run(&["apply", "--auto-approve", "--parallelism", "1"]).code, 0);
    w.write("suite.yaml", &owned_without_refunds());
    assert_eq!(w.run(&["plan", "--out", "plan.json"]).code, 0);
    w.sb.with_state(|s| {
        s.insert_evaluator(
            9001,
            serde_json::json!({"name": "Made in the dashboard", "agent": 12, "personality": 7,
                               "instructions": "Ask for a refund.", "folder_path": "Refunds"}),
        )
        .unwrap();
    });
    w.sb.clear_requests();
    let out = w.run(&["apply", "--plan", "plan.json"]);
    settings().bind(|| insta::assert_snapshot!("prune_folders_saved_plan_stale", out.snapshot()));
    assert!(w.writes().is_empty(), "nothing written: {:?}", writes(&w));
    assert_eq!(folders_of(&w), ["Orders", "Orders.Tracking", "Refunds"]);
}

#[test]
fn a_folder_deletion_sends_nothing_when_the_folder_holds_another_agents_evaluator() {
    // Agents 101 and 202 share project 7: a folder is the project's, and deleting it would take 202's evaluator,
    // which the manifests of 101 cannot see.
    let w = World::new();
    let suite = r#"version: 1
cekura:
  agent: 101
  prune: true
  prune_folders: true
  folders: [Old]
  evaluators:
    - name: Old question
      folder: Old
      personality: 7
      instructions: Ask an old question.
"#;
    w.write("suite.yaml", suite);
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    w.sb.with_state(|s| {
        s.insert_evaluator(
            9001,
            serde_json::json!({"name": "Dental question", "agent": 202, "personality": 7,
                               "instructions": "Ask about a filling.", "folder_path": "Old"}),
        )
        .unwrap();
    });
    w.write("suite.yaml", "version: 1\ncekura:\n  agent: 101\n  prune: true\n  prune_folders: true\n");
    let out = w.run(&["apply", "--auto-approve"]);
    settings().bind(|| insta::assert_snapshot!("prune_folders_other_agent", out.snapshot()));
    assert_ne!(out.code, 0);
    assert!(!writes(&w).iter().any(|r| r.contains("delete_folder")), "{:?}", writes(&w));
    let names = evaluator_names(&w);
    assert!(names.contains(&"Dental question".to_string()), "{names:?}");
}

#[test]
fn a_folder_already_gone_when_its_deletion_lands_counts_as_done() {
    let w = World::new();
    w.write("suite.yaml", OWNED);
    assert_eq!(w.run(&["apply", "--auto-approve", "--parallelism", "1"]).code, 0);
    // Only `Refunds` (and its evaluator) is dropped from the manifests: one folder deletion.
    let without_refunds = OWNED.replace("Orders.Tracking, Refunds]", "Orders.Tracking]").replace(
        "    - name: Refund please\n      folder: Refunds\n      instructions: Ask for a refund of order 2.\n",
        "",
    );
    w.write("suite.yaml", &without_refunds);
    // After apply has read what the folder holds, and before its deletion lands, someone else deletes it.
    w.sb.before_next("POST", "/test_framework/v1/scenarios/delete_folder/", |s| {
        s.delete_folder(&serde_json::json!({"project_id": 1376, "path": "Refunds"})).unwrap();
    });
    w.sb.clear_requests();
    let out = w.run(&["apply", "--auto-approve"]);
    insta::assert_snapshot!(out.snapshot(), @r#"
    exit: 0
    --- stdout
    Plan: 0 to create, 0 to update, 2 to delete, in 1 API call.

      - cekura.agent[12].folder["Refunds"]
          evaluators:    ["Refund please" (id 1002)] -> (removed)
      - cekura.agent[12].evaluator["Refund please"]

    API calls:
      1. POST /test_framework/v1/scenarios/delete_folder/        delete folder Refunds and the 1 evaluator in it

    Apply complete: 1 API call done. Verified: the platform matches the manifests.
    --- stderr
      POST /test_framework/v1/scenarios/delete_folder/ (delete folder Refunds and the 1 evaluator in it): done
    "#);
    // The platform refused the deletion (no such folder); apply read the folders, found it gone, and sent nothing
    // more: no repair round, no other write.
    let sent: Vec<String> =
        w.log().iter().filter(|r| r.method != "GET").map(|r| format!("{} {} {}", r.method, r.path, r.status)).collect();
    assert_eq!(sent, ["POST /test_framework/v1/scenarios/delete_folder/ 400"]);
    assert_eq!(folders_of(&w), ["Orders", "Orders.Tracking"]);
    assert_eq!(evaluator_names(&w), ["Where is my parcel", "Order status"]);
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

#[test]
fn a_folder_already_gone_counts_as_done_when_its_deletion_answers_404() {
    use evalform_sandbox::{FaultConfig, FaultKind};
    let w = World::new();
    w.write("suite.yaml", OWNED);
    assert_eq!(w.run(&["apply", "--auto-approve", "--parallelism", "1"]).code, 0);
    let without_refunds = OWNED.replace("Orders.Tracking, Refunds]", "Orders.Tracking]").replace(
        "    - name: Refund please\n      folder: Refunds\n      instructions: Ask for a refund of order 2.\n",
        "",
    );
    w.write("suite.yaml", &without_refunds);
    // Someone else deletes the folder just before evalform's deletion lands, and the platform answers that one 404
    // (the sandbox's `not_found` fault), as a platform may for a folder that does not exist.
    w.sb.before_next("POST", "/test_framework/v1/scenarios/delete_folder/", |s| {
        s.delete_folder(&serde_json::json!({"project_id": 1376, "path": "Refunds"})).unwrap();
    });
    w.sb.set_faults(FaultConfig::fail_next(FaultKind::NotFound, 1, Some("POST"), Some("delete_folder")));
    w.sb.clear_requests();
    let out = w.run(&["apply", "--auto-approve"]);
    settings().bind(|| insta::assert_snapshot!("folder_delete_404_apply", out.snapshot()));
    let sent: Vec<String> =
        w.log().iter().filter(|r| r.method != "GET").map(|r| format!("{} {} {}", r.method, r.path, r.status)).collect();
    assert_eq!(sent, ["POST /test_framework/v1/scenarios/delete_folder/ 404"]);
    assert_eq!(folders_of(&w), ["Orders", "Orders.Tracking"]);
    assert_eq!(evaluator_names(&w), ["Where is my parcel", "Order status"]);
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

/// Agent 101 declares folders; agent 202 of the same project (7) prunes folders and declares none.
const RENAMER: &str = r#"version: 1
cekura:
  agent: 101
  folders: [Old, Old.Inner]
"#;
const PRUNER: &str = r#"version: 1
cekura:
  agent: 202
  prune: true
  prune_folders: true
"#;

fn project_folders(w: &World, project: u64) -> Vec<String> {
    let mut out: Vec<String> =
        w.sb.with_state(|s| s.folders.iter().filter(|f| f.project == project).map(|f| f.path.clone()).collect());
    out.sort();
    out
}

#[test]
fn a_folder_one_agent_renames_is_not_deleted_by_another_agents_prune_folders() {
    let w = World::new();
    w.write("a.yaml", RENAMER);
    w.write("b.yaml", PRUNER);
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    assert_eq!(project_folders(&w, 7), ["Old", "Old.Inner"]);
    // 101 renames `Old` (its subfolder goes with it). 202's plan sees `Old` and `Old.Inner`, which no manifest
    // declares under those paths, and must not delete them while they move.
    w.write(
        "a.yaml",
        &RENAMER.replace("folders: [Old, Old.Inner]", "folders: [{path: New, renamed_from: [Old]}, New.Inner]"),
    );
    let out = w.run(&["plan", "--detailed-exitcode"]);
    settings().bind(|| insta::assert_snapshot!("folder_renamed_by_one_agent_plan", out.snapshot()));
    w.sb.clear_requests();
    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert_eq!(writes(&w), ["POST /test_framework/v1/scenarios/rename_folder/"]);
    assert_eq!(project_folders(&w, 7), ["New", "New.Inner"]);
}

#[test]
fn nested_renames_and_a_folder_created_under_a_renamed_parent_are_planned_in_order() {
    let w = World::new();
    w.write("suite.yaml", SUITE);
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    // `Orders` becomes `Sales`, `Orders.Tracking` becomes `Sales.Delivery`, and `Sales.Returns` is new.
    let nested = SUITE
        .replace(
            "folders: [Orders, Orders.Tracking]",
            "folders:\n    - {path: Sales, renamed_from: [Orders]}\n    - {path: Sales.Delivery, renamed_from: \
             [Orders.Tracking]}\n    - Sales.Returns",
        )
        .replace("folder: Orders.Tracking", "folder: Sales.Delivery");
    w.write("suite.yaml", &nested);
    let out = w.run(&["plan", "--detailed-exitcode"]);
    settings().bind(|| insta::assert_snapshot!("folder_nested_rename_plan", out.snapshot()));
    // The rename of the child and the creation under the parent wait for the parent's rename.
    let out = w.run(&["plan", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let ops: Vec<String> = json["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| format!("{} {} after {}", o["id"], o["body"], o["depends_on"]))
        .collect();
    insta::assert_debug_snapshot!(ops, @r#"
    [
        "0 {\"path\":\"Orders\",\"name\":\"Sales\",\"project_id\":1376} after []",
        "1 {\"path\":\"Sales.Tracking\",\"name\":\"Delivery\",\"project_id\":1376} after [0]",
        "2 {\"name\":\"Returns\",\"project_id\":1376,\"parent_path\":\"Sales\"} after [0]",
    ]
    "#);
    w.sb.clear_requests();
    let out = w.run(&["apply", "--auto-approve", "--parallelism", "1"]);
    settings().bind(|| insta::assert_snapshot!("folder_nested_rename_apply", out.snapshot()));
    assert_eq!(
        writes(&w),
        [
            "POST /test_framework/v1/scenarios/rename_folder/",
            "POST /test_framework/v1/scenarios/rename_folder/",
            "POST /test_framework/v1/scenarios/create_folder/",
        ]
    );
    assert_eq!(folders_of(&w), ["Sales", "Sales.Delivery", "Sales.Returns"]);
    let folders: Vec<Option<String>> =
        w.sb.with_state(|s| s.evaluators.values().map(|e| e.folder_path.clone()).collect());
    assert_eq!(folders, [Some("Sales.Delivery".to_string()), Some("Sales.Delivery".to_string())]);
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

#[test]
fn a_saved_folder_rename_is_stale_once_the_folder_changed_on_the_platform() {
    let w = World::new();
    w.write("suite.yaml", SUITE);
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    w.write(
        "suite.yaml",
        &SUITE
            .replace(
                "folders: [Orders, Orders.Tracking]",
                "folders: [Orders, {path: Orders.Delivery, renamed_from: [Orders.Tracking]}]",
            )
            .replace("folder: Orders.Tracking", "folder: Orders.Delivery"),
    );
    assert_eq!(w.run(&["plan", "--out", "plan.json"]).code, 0);
    // Someone renames the folder in the dashboard meanwhile.
    w.sb.with_state(|s| {
        s.rename_folder(&serde_json::json!({"project_id": 1376, "path": "Orders.Tracking", "name": "Late"})).unwrap();
    });
    w.sb.clear_requests();
    let out = w.run(&["apply", "--plan", "plan.json"]);
    settings().bind(|| insta::assert_snapshot!("folder_rename_saved_plan_stale", out.snapshot()));
    assert!(w.writes().is_empty(), "nothing written: {:?}", writes(&w));
    assert_eq!(folders_of(&w), ["Orders", "Orders.Late"]);
}

#[test]
fn a_saved_folder_deletion_is_stale_once_another_agents_evaluator_lands_in_it() {
    // 101 prunes folders and no longer uses `Old`; 202's manifests are loaded too.
    let w = World::new();
    w.write("a.yaml", "version: 1\ncekura:\n  agent: 101\n  folders: [Old]\n");
    w.write("b.yaml", "version: 1\ncekura:\n  agent: 202\n");
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    w.write("a.yaml", "version: 1\ncekura:\n  agent: 101\n  prune: true\n  prune_folders: true\n");
    assert_eq!(w.run(&["plan", "--out", "plan.json"]).code, 0);
    // A person makes an evaluator of agent 202 in `Old`.
    w.sb.with_state(|s| {
        s.insert_evaluator(
            9001,
            serde_json::json!({"name": "Dental question", "agent": 202, "personality": 7,
                               "instructions": "Ask about a filling.", "folder_path": "Old"}),
        )
        .unwrap();
    });
    w.sb.clear_requests();
    let out = w.run(&["apply", "--plan", "plan.json"]);
    settings().bind(|| insta::assert_snapshot!("folder_delete_saved_plan_stale_other_agent", out.snapshot()));
    assert!(w.writes().is_empty(), "nothing written: {:?}", writes(&w));
    assert_eq!(project_folders(&w, 7), ["Old"]);
}

#[test]
fn a_saved_deletion_of_a_subfolder_of_a_renamed_folder_is_stale_once_an_evaluator_lands_in_it() {
    let w = World::new();
    let suite = SUITE.replace("folders: [Orders, Orders.Tracking]", "folders: [Orders, Orders.Tracking, Orders.Old]");
    w.write("suite.yaml", &suite);
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    // `Orders` becomes `Sales`; `Orders.Old` goes along as `Sales.Old`, which no manifest uses: pruned after the
    // rename, under the path it has then.
    let renamed = SUITE
        .replace("agent: 12\n", "agent: 12\n  prune: true\n  prune_folders: true\n")
        .replace(
            "folders: [Orders, Orders.Tracking]",
            "folders: [{path: Sales, renamed_from: [Orders]}, Sales.Tracking]",
        )
        .replace("folder: Orders.Tracking", "folder: Sales.Tracking");
    w.write("suite.yaml", &renamed);
    let out = w.run(&["plan", "--out", "plan.json"]);
    settings().bind(|| insta::assert_snapshot!("folder_rename_then_delete_plan", out.snapshot()));
    // A person puts an evaluator in the subfolder, under its present path.
    w.sb.with_state(|s| {
        s.insert_evaluator(
            9001,
            serde_json::json!({"name": "Made in the dashboard", "agent": 12, "personality": 7,
                               "instructions": "Ask for a refund.", "folder_path": "Orders.Old"}),
        )
        .unwrap();
    });
    w.sb.clear_requests();
    let out = w.run(&["apply", "--plan", "plan.json"]);
    settings().bind(|| insta::assert_snapshot!("folder_rename_then_delete_saved_plan_stale", out.snapshot()));
    assert!(w.writes().is_empty(), "nothing written: {:?}", writes(&w));
    assert_eq!(folders_of(&w), ["Orders", "Orders.Old", "Orders.Tracking"]);
}

#[test]
fn a_folder_two_agents_rename_alike_is_renamed_once() {
    let w = World::new();
    w.write("a.yaml", "version: 1\ncekura:\n  agent: 101\n  folders: [Old]\n");
    w.write("b.yaml", "version: 1\ncekura:\n  agent: 202\n  folders: [Old]\n");
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    let renamed =
        |agent| format!("version: 1\ncekura:\n  agent: {agent}\n  folders: [{{path: New, renamed_from: [Old]}}]\n");
    w.write("a.yaml", &renamed(101));
    // 202 also makes a folder under the renamed one: it waits for 101's rename.
    w.write("b.yaml", &renamed(202).replace("renamed_from: [Old]}]", "renamed_from: [Old]}, New.Sub]"));
    let out = w.run(&["plan", "--detailed-exitcode"]);
    settings().bind(|| insta::assert_snapshot!("folder_renamed_by_two_agents_plan", out.snapshot()));
    let ops = planned_calls(&w);
    insta::assert_debug_snapshot!(ops, @r#"
    [
        "0 \"/test_framework/v1/scenarios/rename_folder/\" after []",
        "1 \"/test_framework/v1/scenarios/create_folder/\" after [0]",
    ]
    "#);
    w.sb.clear_requests();
    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert_eq!(
        writes(&w),
        ["POST /test_framework/v1/scenarios/rename_folder/", "POST /test_framework/v1/scenarios/create_folder/"]
    );
    assert_eq!(project_folders(&w, 7), ["New", "New.Sub"]);
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

#[test]
fn a_folder_holding_evaluators_of_two_pruning_agents_is_emptied_by_each_then_deleted_once() {
    // Agents 101 and 202 of project 7 both prune folders; `Old` holds an evaluator of each, which each prunes.
    let w = World::new();
    let before = |agent, name| {
        format!(
            "version: 1\ncekura:\n  agent: {agent}\n  prune: true\n  folders: [Old]\n  evaluators:\n    - name: {name}\n      \
             folder: Old\n      personality: 7\n      instructions: Ask {name}.\n"
        )
    };
    w.write("a.yaml", &before(101, "A1"));
    w.write("b.yaml", &before(202, "B1"));
    assert_eq!(w.run(&["apply", "--auto-approve", "--parallelism", "1"]).code, 0);
    let after = |agent| format!("version: 1\ncekura:\n  agent: {agent}\n  prune: true\n  prune_folders: true\n");
    w.write("a.yaml", &after(101));
    w.write("b.yaml", &after(202));
    // Neither agent's deletion of `Old` may take the other's evaluator: each prunes its own, and the folder, empty
    // then, is deleted once, after both, in the same round.
    let out = w.run(&["plan"]);
    settings().bind(|| insta::assert_snapshot!("folder_of_two_pruning_agents_plan", out.snapshot()));
    w.sb.clear_requests();
    let out = w.run(&["apply", "--auto-approve", "--parallelism", "1"]);
    settings().bind(|| insta::assert_snapshot!("folder_of_two_pruning_agents_apply", out.snapshot()));
    assert_eq!(
        writes(&w),
        [
            "POST /test_framework/v1/scenarios/delete_scenarios/",
            "POST /test_framework/v1/scenarios/delete_scenarios/",
            "POST /test_framework/v1/scenarios/delete_folder/",
        ]
    );
    assert_eq!(project_folders(&w, 7), Vec::<String>::new());
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

#[test]
fn another_agent_of_the_project_plans_on_the_folders_as_a_rename_leaves_them() {
    // 202 renames `Old` to `New`; 101's evaluator is in `Old`, and 101's manifests now put it in `New` (and a new
    // folder under it), without declaring the rename themselves.
    let w = World::new();
    let theirs = "version: 1\ncekura:\n  agent: 202\n  folders: [Old]\n";
    let mine = "version: 1\ncekura:\n  agent: 101\n  folders: [Old]\n  evaluators:\n    - name: Mine\n      \
                folder: Old\n      personality: 7\n      instructions: Ask about an order.\n";
    w.write("a.yaml", mine);
    w.write("b.yaml", theirs);
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    w.write("b.yaml", &theirs.replace("folders: [Old]", "folders: [{path: New, renamed_from: [Old]}]"));
    w.write("a.yaml", &mine.replace("folders: [Old]", "folders: [New, New.Sub]").replace("folder: Old", "folder: New"));
    let out = w.run(&["plan", "--detailed-exitcode"]);
    settings().bind(|| insta::assert_snapshot!("folder_renamed_by_another_agent_plan", out.snapshot()));
    let ops = planned_calls(&w);
    insta::assert_debug_snapshot!(ops, @r#"
    [
        "0 \"/test_framework/v1/scenarios/rename_folder/\" after []",
        "1 \"/test_framework/v1/scenarios/create_folder/\" after [0]",
    ]
    "#);
    w.sb.clear_requests();
    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert_eq!(
        writes(&w),
        ["POST /test_framework/v1/scenarios/rename_folder/", "POST /test_framework/v1/scenarios/create_folder/"]
    );
    assert_eq!(project_folders(&w, 7), ["New", "New.Sub"]);
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

#[test]
fn a_saved_deletion_after_another_agents_rename_is_stale_once_an_evaluator_lands_in_the_folder() {
    let w = World::new();
    w.write("a.yaml", RENAMER);
    w.write("b.yaml", PRUNER);
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    // 101 renames `Old` and no longer names its subfolder: 202's prune_folders deletes it, as `New.Inner`, after the
    // rename.
    w.write("a.yaml", &RENAMER.replace("folders: [Old, Old.Inner]", "folders: [{path: New, renamed_from: [Old]}]"));
    let out = w.run(&["plan", "--out", "plan.json"]);
    settings().bind(|| insta::assert_snapshot!("folder_deleted_after_another_agents_rename_plan", out.snapshot()));
    w.sb.with_state(|s| {
        s.insert_evaluator(
            9001,
            serde_json::json!({"name": "Dental question", "agent": 202, "personality": 7,
                               "instructions": "Ask about a filling.", "folder_path": "Old.Inner"}),
        )
        .unwrap();
    });
    w.sb.clear_requests();
    let out = w.run(&["apply", "--plan", "plan.json"]);
    settings().bind(|| {
        insta::assert_snapshot!("folder_deleted_after_another_agents_rename_saved_plan_stale", out.snapshot())
    });
    assert!(w.writes().is_empty(), "nothing written: {:?}", writes(&w));
    assert_eq!(project_folders(&w, 7), ["Old", "Old.Inner"]);
}

/// Agents 101 and 202 of project 7, an evaluator of each in `Old` (both made by evalform).
fn two_agents_in_old(w: &World) {
    let before = |agent, name| {
        format!(
            "version: 1\ncekura:\n  agent: {agent}\n  prune: true\n  folders: [Old]\n  evaluators:\n    - name: {name}\n      \
             folder: Old\n      personality: 7\n      instructions: Ask {name}.\n"
        )
    };
    w.write("a.yaml", &before(101, "A1"));
    w.write("b.yaml", &before(202, "B1"));
    assert_eq!(w.run(&["apply", "--auto-approve", "--parallelism", "1"]).code, 0);
}

#[test]
fn a_folder_emptied_by_another_agents_prune_is_deleted_after_it_in_the_same_round() {
    // 101 prunes folders; 202 prunes its evaluator but not folders. `Old` is empty once both prunes ran: the plan
    // deletes it after them, and apply needs no second round.
    let w = World::new();
    two_agents_in_old(&w);
    w.write("a.yaml", "version: 1\ncekura:\n  agent: 101\n  prune: true\n  prune_folders: true\n");
    w.write("b.yaml", "version: 1\ncekura:\n  agent: 202\n  prune: true\n");
    let out = w.run(&["plan"]);
    settings().bind(|| insta::assert_snapshot!("folder_emptied_by_another_agents_prune_plan", out.snapshot()));
    let ops = planned_calls(&w);
    insta::assert_debug_snapshot!(ops, @r#"
    [
        "0 \"/test_framework/v1/scenarios/delete_scenarios/\" after []",
        "1 \"/test_framework/v1/scenarios/delete_scenarios/\" after []",
        "2 \"/test_framework/v1/scenarios/delete_folder/\" after [0,1]",
    ]
    "#);
    w.sb.clear_requests();
    let out = w.run(&["apply", "--auto-approve", "--parallelism", "1"]);
    settings().bind(|| insta::assert_snapshot!("folder_emptied_by_another_agents_prune_apply", out.snapshot()));
    assert!(!out.stdout.contains("Verification: round"), "{}", out.snapshot());
    assert_eq!(
        writes(&w),
        [
            "POST /test_framework/v1/scenarios/delete_scenarios/",
            "POST /test_framework/v1/scenarios/delete_scenarios/",
            "POST /test_framework/v1/scenarios/delete_folder/",
        ]
    );
    assert_eq!(project_folders(&w, 7), Vec::<String>::new());
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

#[test]
fn a_folder_another_agents_unpruned_evaluator_stays_in_is_kept() {
    // 202 no longer declares B1 but does not prune: B1 stays in `Old`, which 101's prune_folders must keep.
    let w = World::new();
    two_agents_in_old(&w);
    w.write("a.yaml", "version: 1\ncekura:\n  agent: 101\n  prune: true\n  prune_folders: true\n");
    w.write("b.yaml", "version: 1\ncekura:\n  agent: 202\n");
    let out = w.run(&["plan"]);
    settings()
        .bind(|| insta::assert_snapshot!("folder_kept_for_another_agents_unpruned_evaluator_plan", out.snapshot()));
    w.sb.clear_requests();
    let out = w.run(&["apply", "--auto-approve", "--parallelism", "1"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert_eq!(writes(&w), ["POST /test_framework/v1/scenarios/delete_scenarios/"]);
    assert_eq!(project_folders(&w, 7), ["Old"]);
}

#[test]
fn a_folder_another_agent_moves_its_evaluators_out_of_is_deleted_after_the_moves() {
    // `Old` holds 101's A1 and 202's B1 and B2. 101 prunes A1 and folders; 202 moves B1 (a bulk update) and B2 (with
    // new instructions: a PATCH) to `New`. `Old` is empty once those ran: deleted after them, in the same round.
    let w = World::new();
    w.write(
        "a.yaml",
        "version: 1\ncekura:\n  agent: 101\n  prune: true\n  folders: [Old]\n  evaluators:\n    - name: A1\n      \
         folder: Old\n      personality: 7\n      instructions: Ask A1.\n",
    );
    let theirs = "version: 1\ncekura:\n  agent: 202\n  folders: [Old]\n  defaults:\n    folder: Old\n    \
                  personality: 7\n  evaluators:\n    - name: B1\n      instructions: Ask B1.\n    - name: B2\n      \
                  instructions: Ask B2.\n";
    w.write("b.yaml", theirs);
    assert_eq!(w.run(&["apply", "--auto-approve", "--parallelism", "1"]).code, 0);
    w.write("a.yaml", "version: 1\ncekura:\n  agent: 101\n  prune: true\n  prune_folders: true\n");
    w.write(
        "b.yaml",
        &theirs.replace("[Old]", "[New]").replace("folder: Old", "folder: New").replace("Ask B2.", "Ask B2 again."),
    );
    let out = w.run(&["plan"]);
    settings().bind(|| insta::assert_snapshot!("folder_emptied_by_another_agents_moves_plan", out.snapshot()));
    let ops = planned_calls(&w);
    insta::assert_debug_snapshot!(ops, @r#"
    [
        "0 \"/test_framework/v1/scenarios/delete_scenarios/\" after []",
        "1 \"/test_framework/v1/scenarios/create_folder/\" after []",
        "2 \"/test_framework/v1/scenarios/1003/\" after [1]",
        "3 \"/test_framework/v1/scenarios/adv_update/\" after [1]",
        "4 \"/test_framework/v1/scenarios/delete_folder/\" after [0,2,3]",
    ]
    "#);
    w.sb.clear_requests();
    let out = w.run(&["apply", "--auto-approve", "--parallelism", "1"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(!out.stdout.contains("Verification: round"), "{}", out.snapshot());
    assert_eq!(project_folders(&w, 7), ["New"]);
    assert_eq!(evaluator_names(&w), ["B1", "B2"]);
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

#[test]
fn an_evaluator_put_into_a_folder_another_renaming_agent_renames_waits_for_the_rename() {
    // 101 renames `A` to `A2`; 202 renames `Y` to `Y2`. 101's evaluator goes into `Y2`: after 202's rename, which
    // 101's plan (planned first) makes, as 202's, where its own folders come.
    let w = World::new();
    let mine = "version: 1\ncekura:\n  agent: 101\n  folders: [A]\n  evaluators:\n    - name: Mine\n      \
                folder: A\n      personality: 7\n      instructions: Ask about an order.\n";
    let theirs = "version: 1\ncekura:\n  agent: 202\n  folders: [Y]\n";
    w.write("a.yaml", mine);
    w.write("b.yaml", theirs);
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    w.write(
        "a.yaml",
        &mine
            .replace("folders: [A]", "folders: [{path: A2, renamed_from: [A]}, Y2]")
            .replace("folder: A\n", "folder: Y2\n"),
    );
    w.write("b.yaml", &theirs.replace("folders: [Y]", "folders: [{path: Y2, renamed_from: [Y]}]"));
    let out = w.run(&["plan"]);
    settings().bind(|| insta::assert_snapshot!("evaluator_into_folder_another_agent_renames_plan", out.snapshot()));
    let ops = planned_calls(&w);
    insta::assert_debug_snapshot!(ops, @r#"
    [
        "0 \"/test_framework/v1/scenarios/rename_folder/\" after []",
        "1 \"/test_framework/v1/scenarios/rename_folder/\" after [0]",
        "2 \"/test_framework/v1/scenarios/adv_update/\" after [1]",
    ]
    "#);
    w.sb.clear_requests();
    let out = w.run(&["apply", "--auto-approve", "--parallelism", "1"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(!out.stdout.contains("Verification: round"), "{}", out.snapshot());
    assert_eq!(project_folders(&w, 7), ["A2", "Y2"]);
}

#[test]
fn a_saved_plan_deleting_a_folder_other_agents_empty_applies_in_one_round() {
    let w = World::new();
    two_agents_in_old(&w);
    w.write("a.yaml", "version: 1\ncekura:\n  agent: 101\n  prune: true\n  prune_folders: true\n");
    w.write("b.yaml", "version: 1\ncekura:\n  agent: 202\n  prune: true\n");
    assert_eq!(w.run(&["plan", "--out", "plan.json"]).code, 0);
    w.sb.clear_requests();
    let out = w.run(&["apply", "--plan", "plan.json"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(!out.stdout.contains("Verification: round"), "{}", out.snapshot());
    assert_eq!(writes(&w).last().map(String::as_str), Some("POST /test_framework/v1/scenarios/delete_folder/"));
    assert_eq!(project_folders(&w, 7), Vec::<String>::new());
}

#[test]
fn a_folder_is_kept_while_an_excluded_evaluator_of_another_agent_stays_in_it() {
    let w = World::new();
    two_agents_in_old(&w);
    w.write("a.yaml", "version: 1\ncekura:\n  agent: 101\n  prune: true\n  prune_folders: true\n");
    w.write("b.yaml", "version: 1\ncekura:\n  agent: 202\n  prune: true\n");
    let out = w.run(&["plan", "--exclude", r#"cekura.agent[202].evaluator["B1"]"#]);
    settings().bind(|| insta::assert_snapshot!("folder_kept_for_an_excluded_evaluator_plan", out.snapshot()));
    w.sb.clear_requests();
    let out = w.run(&["apply", "--auto-approve", "--exclude", r#"cekura.agent[202].evaluator["B1"]"#]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert_eq!(writes(&w), ["POST /test_framework/v1/scenarios/delete_scenarios/"]);
    assert_eq!(project_folders(&w, 7), ["Old"]);
}

/// The calls `plan --format json` lists: id, path and what each waits for.
fn planned_calls(w: &World) -> Vec<String> {
    let out = w.run(&["plan", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let ops = json["operations"].as_array().unwrap();
    ops.iter().map(|o| format!("{} {} after {}", o["id"], o["path"], o["depends_on"])).collect()
}
