//! The `evalform` binary: parse the command line, build the one tokio runtime, run, exit with the code the
//! contract promises (0, 1, or 2 for `--detailed-exitcode` with changes).

fn main() -> std::process::ExitCode {
    evalform_cli::cli::main()
}
