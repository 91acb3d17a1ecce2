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
