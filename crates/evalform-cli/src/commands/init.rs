//! `evalform init --agent ID`: a commented starter manifest for an agent with no suite yet. It validates as written
//! and plans one evaluator; the comments say what each key is and where to read more. Writes one file, never over
//! an existing one without `--force`; the path goes to stdout, the next steps to stderr.

use crate::cli::InitArgs;
use crate::error::{CliError, Outcome};
use crate::printer::Printer;

/// The file `init` writes.
pub const FILE: &str = "suite.yaml";

pub fn run(p: &Printer, args: InitArgs) -> Result<Outcome, CliError> {
    let path = args.out.join(FILE);
    if path.exists() && !args.force {
        return Err(CliError::new(format!("{} already exists", path.display()))
            .hint("pass --force to overwrite it, or choose another directory with --out"));
    }
    evalform::fsutil::write_atomic(&path, starter(args.agent).as_bytes())?;
    p.data_line(&path.display().to_string());
    p.status(&format!(
        "next: edit {FILE}, then `evalform validate {}` and `evalform plan {}`",
        args.out.display(),
        args.out.display()
    ));
    Ok(Outcome::Success)
}

/// The starter manifest for `agent`.
pub fn starter(agent: u64) -> String {
    format!(
        r#"# The test suite of Cekura agent {agent}, kept as code: evalform plan shows what would change on the platform,
# evalform apply makes it so. Every key is described in docs/manifest.md; for completion in your editor, point it
# at the output of `evalform schema`.
version: 1
cekura:
  agent: {agent}
  # Folders (dot paths, such as Sales.Inbound) the evaluators below are filed in.
  folders: [Smoke]
  # What every evaluator of this file gets unless it says otherwise.
  defaults:
    personality: Normal Female   # the simulated caller: a personality's name or id
    metrics: [call_success]      # how runs are judged: metric slugs or ids
  evaluators:
    # One evaluator: a caller, what they do, and what a good call looks like. Its name is its identity: to
    # rename it later, change the name and list the old one under renamed_from.
    - name: Greets and asks how to help
      folder: Smoke
      instructions: |
        You are calling for the first time. Wait for the greeting, then ask what the agent can help you with.
      expected_outcome: The agent greets the caller and explains what it can help with.
      tags: [smoke]
"#
    )
}
