//! Where the Cekura base URL and key come from: `CEKURA_BASE_URL` or the vendor's `CEKURA_API_URL` (both set and
//! different is an error naming both), and the vendor CLI's login file when no key is in the environment. `-v`
//! says which source was used; the key itself never appears.

use crate::apply::World;
use crate::common::{run, settings};

fn plan(world: &World, configure: impl FnOnce(&mut std::process::Command)) -> crate::common::Output {
    let mut cmd = world.cmd(&["plan", "-v", "--target", "Toothache*"]);
    configure(&mut cmd);
    run(cmd, None)
}

#[test]
fn the_vendor_url_variable_is_read_and_a_conflict_names_both() {
    let world = World::examples();
    let url = world.sb.base_url();
    let out = plan(&world, |c| {
        c.env_remove("CEKURA_BASE_URL").env("CEKURA_API_URL", &url);
    });
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("Cekura: base URL http://127.0.0.1:"), "{}", out.stderr);
    assert!(out.stderr.contains("from the environment variable CEKURA_API_URL"), "{}", out.stderr);

    let out = plan(&world, |c| {
        c.env("CEKURA_API_URL", "https://staging.example.com");
    });
    let shown = out.snapshot().replace(&url, "http://127.0.0.1:[PORT]");
    settings().bind(|| {
        insta::assert_snapshot!(shown, @"
        exit: 1
        --- stdout
        --- stderr
         INFO timing: manifests loaded in [DURATION] (4 files, 2 agents, 13 evaluators, 4 test profiles, 1 prompt with 4 test cases)
        error: CEKURA_BASE_URL and CEKURA_API_URL are both set, to different URLs
        caused by: CEKURA_BASE_URL=http://127.0.0.1:[PORT]
        caused by: CEKURA_API_URL=https://staging.example.com
        hint: unset one of them (CEKURA_API_URL is the name the vendor's own CLI reads), or pass --cekura-base-url
        ")
    });
}

#[test]
fn the_vendor_cli_login_is_used_when_no_key_is_set() {
    let world = World::examples();
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".cekura")).unwrap();
    let config = home.path().join(".cekura/config.toml");
    std::fs::write(&config, format!("api_key = \"sk_from_file_7731\"\napi_url = \"{}\"\n", world.sb.base_url()))
        .unwrap();
    let out = plan(&world, |c| {
        c.env_remove("CEKURA_API_KEY").env_remove("CEKURA_BASE_URL").env("HOME", home.path());
    });
    assert_eq!(out.code, 0, "{}", out.stderr);
    let home_shown = home.path().display().to_string();
    assert!(out.stderr.contains(&format!("from `api_url` in {home_shown}/.cekura/config.toml")), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("Cekura: API key from `api_key` in {home_shown}/.cekura/config.toml")));
    assert!(!out.stderr.contains("sk_from_file_7731") && !out.stdout.contains("sk_from_file_7731"));
    let sent = world.sb.requests();
    assert!(!sent.is_empty());

    // An expired login token is not used: the missing key is reported as before.
    std::fs::write(
        &config,
        format!(
            "access_token = \"tok\"\ntoken_expires_at = \"2001-01-01T00:00:00Z\"\napi_url = \"{}\"\n",
            world.sb.base_url()
        ),
    )
    .unwrap();
    let out = plan(&world, |c| {
        c.env_remove("CEKURA_API_KEY").env_remove("CEKURA_BASE_URL").env("HOME", home.path());
    });
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("error: no cekura API key: set CEKURA_API_KEY"), "{}", out.stderr);
    assert!(out.stderr.contains("has expired"), "{}", out.stderr);
}
