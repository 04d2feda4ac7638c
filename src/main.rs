//! The `casebridge` binary; everything is in `casebridge-cli`.

fn main() -> std::process::ExitCode {
    casebridge_cli::main()
}
