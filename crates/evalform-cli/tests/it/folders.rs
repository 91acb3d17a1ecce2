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
