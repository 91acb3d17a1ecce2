//! One module per command. Each turns its arguments into settings, calls the library, prints, and returns an
//! [`Outcome`]. Nothing here is reused by another command: shared logic lives in the library modules.

use crate::cli::{Cli, Command};
use crate::error::{CliError, Outcome};

pub mod apply;
pub mod completions;
pub mod demo;
pub mod import;
pub mod man;
pub mod plan;
pub mod pull;
pub mod run;
pub mod sandbox;
pub mod schema;
pub mod suggest;
pub mod validate;

pub async fn dispatch(cli: Cli) -> Result<Outcome, CliError> {
    let global = cli.global;
    match cli.command {
        Command::Validate(args) => validate::run(&global, args).await,
        Command::Plan(args) => plan::run(&global, args).await,
        Command::Apply(args) => apply::run(&global, args).await,
        Command::Import(args) => import::run(&global, args).await,
        Command::Pull(args) => pull::run(&global, args).await,
        Command::Run(args) => run::run(&global, args).await,
        Command::Suggest(args) => suggest::run(&global, args).await,
        Command::Schema => schema::run(&global).await,
        Command::Sandbox(args) => sandbox::run(&global, args).await,
        Command::Demo => demo::run(&global).await,
        Command::Completions(args) => completions::run(&global, args),
        Command::Man(args) => man::run(&global, args),
    }
}
