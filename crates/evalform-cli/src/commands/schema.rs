//! `evalform schema`: print the manifests' JSON Schema, generated from the manifest types. The checked-in copy at
//! `docs/evalform.schema.json` is what editors load; a test keeps it equal to this output. `--project-file` prints
//! the project file's (`evalform.toml`) schema instead, kept at `docs/evalform-project.schema.json`.

use crate::cli::SchemaArgs;
use crate::error::{CliError, Outcome};
use crate::printer::Printer;

pub async fn run(p: &Printer, args: SchemaArgs) -> Result<Outcome, CliError> {
    if args.project_file {
        p.data_line(&evalform::project::schema_json());
    } else {
        p.data_line(&evalform::manifest::schema_json());
    }
    Ok(Outcome::Success)
}
