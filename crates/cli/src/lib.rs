//! The `casebridge` command line: argument parsing and one module per
//! subcommand. `main.rs` only calls [`main`].

#![forbid(unsafe_code)]

mod progress;
pub mod pseudonymise;
pub mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Maps, validates and deduplicates children's social care records between
/// ICS exports and the Family Safeguarding Workbook.
#[derive(Debug, Parser)]
#[command(name = "casebridge", version, about, long_about = None)]
pub struct Cli {
    /// Print nothing but the report (no progress bar).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More log lines on stderr (ids, counts and locations only).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check exports against their mappings and the base rules (the go-live gate).
    ///
    /// Exit code 0: no errors; 1: errors found; 2: could not run (bad mapping,
    /// unreadable input, a file no mapping fits).
    Validate(validate::ValidateArgs),
    /// Write pseudonymised copies of exports for testing: keyed pseudonyms
    /// for identifiers and names, shifted dates, scrubbed free text.
    ///
    /// The key comes from the environment variable CASEBRIDGE_PSEUDONYM_KEY.
    Pseudonymise(pseudonymise::PseudonymiseArgs),
}

/// Parses the command line, runs it and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs a parsed command line; the exit code on success.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Validate(args) => validate::run(args, cli.quiet),
        Command::Pseudonymise(args) => pseudonymise::run(args, cli.quiet),
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CASEBRIDGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
