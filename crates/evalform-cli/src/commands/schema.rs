//! `evalform schema`: print the manifests' JSON Schema, generated from the manifest types. The checked-in copy at
//! `docs/evalform.schema.json` is what editors load; a test keeps it equal to this output.

use crate::error::{CliError, Outcome};
use crate::printer::Printer;

pub async fn run(p: &Printer) -> Result<Outcome, CliError> {
    p.data_line(&evalform::manifest::schema_json());
    Ok(Outcome::Success)
}
