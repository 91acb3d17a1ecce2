//! `evalform schema`: print the manifests' JSON Schema, generated from the manifest types. The checked-in copy at
//! `docs/evalform.schema.json` is what editors load; a test keeps it equal to this output.

use crate::cli::GlobalArgs;
use crate::error::{CliError, Outcome};

pub async fn run(_global: &GlobalArgs) -> Result<Outcome, CliError> {
    println!("{}", crate::manifest::schema_json());
    Ok(Outcome::Success)
}
