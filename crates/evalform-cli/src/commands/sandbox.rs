//! `evalform sandbox`: serve the local stand-in of the Cekura and Tela APIs until Ctrl-C. The one line on stdout is
//! the address, so scripts can read it (`--port 0` picks a free port); everything else goes to stderr.

use crate::cli::{GlobalArgs, SandboxArgs};
use crate::error::{CliError, Outcome};
use crate::printer::Printer;
use evalform_sandbox::persist::PersistError;
use evalform_sandbox::{Sandbox, SandboxConfig};

pub async fn run(_global: &GlobalArgs, p: &Printer, args: SandboxArgs) -> Result<Outcome, CliError> {
    // Saved state is the sandbox's own history: seeding it again would re-apply the demo over it.
    let resumed = args.state.as_ref().filter(|f| f.exists());
    let readings = args.readings.iter().copied().collect();
    let config = SandboxConfig { state_file: args.state.clone(), readings, ..SandboxConfig::default() };
    let sandbox = Sandbox::start(args.port, config).await.map_err(|err| {
        if let Some(persist) = err.get_ref().and_then(|e| e.downcast_ref::<PersistError>()) {
            let e = CliError::from_error(persist);
            return match persist {
                PersistError::Parse { .. } => {
                    e.hint("move the file away to start from the built-in world; the sandbox never overwrites it")
                }
                _ => e,
            };
        }
        let mut e =
            CliError::new(format!("cannot start the sandbox on 127.0.0.1:{}", args.port)).cause(err.to_string());
        if err.kind() == std::io::ErrorKind::AddrInUse {
            e = e.hint("another process uses that port; pass `--port 0` to pick a free one");
        }
        e
    })?;
    if args.seed_demo && resumed.is_none() {
        crate::demo::seed(&sandbox).await?;
    }
    // The notes go out before the address: a script that reads the address line finds them already written.
    match (&args.state, resumed) {
        (_, Some(path)) if args.seed_demo => p.status(&format!(
            "state is kept in {} (loaded as it was: --seed-demo seeds only a new state file)",
            path.display()
        )),
        (Some(path), _) => p.status(&format!("state is kept in {}", path.display())),
        (None, _) => {}
    }
    if args.seed_demo && resumed.is_none() {
        p.status("seeded with the demo's dashboard state (manifests: examples/specs)");
    }
    for reading in &args.readings {
        p.status(&format!("following the alternative reading `{reading}`"));
    }
    for line in exports(&sandbox.base_url(), args.seed_demo) {
        p.status(&line);
    }
    p.status("press Ctrl-C to stop");
    p.data_line(&format!("listening on {}", sandbox.base_url()));
    tokio::signal::ctrl_c().await.map_err(|e| CliError::new("cannot wait for Ctrl-C").cause(e.to_string()))?;
    sandbox.shutdown().await;
    Ok(Outcome::Success)
}

/// What a shell needs to point evalform at this sandbox (any non-empty key is accepted; the demo's manifests
/// take one variable of their own).
fn exports(base: &str, demo: bool) -> Vec<String> {
    let mut out = vec![
        "point evalform at it from another shell:".to_string(),
        format!("  export CEKURA_BASE_URL={base} TELA_BASE_URL={base}"),
        "  export CEKURA_API_KEY=sandbox TELA_API_KEY=sandbox".to_string(),
    ];
    if demo {
        out.push(format!("  export ACME_SUPPORT_TOKEN={}", crate::demo::DEMO_TOKEN));
    }
    out
}
