//! The `casebridge` command line: argument parsing and one module per
//! subcommand. `main.rs` only calls [`main`].

#![forbid(unsafe_code)]

/// `eprintln!` that never panics: a closed or broken stderr loses the
/// line, not the run (`-v 2>&1 | head -0` must not exit 101).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

pub mod dedup;
pub mod export;
pub mod fields;
pub mod mapping_cmd;
pub mod migrate;
mod progress;
pub mod pseudonymise;
pub mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use casebridge_runner::audit;
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
    /// Audit log to append this run to (default: $CASEBRIDGE_AUDIT_LOG, else
    /// ~/.local/state/casebridge/audit.jsonl).
    #[arg(long, global = true, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Do not write the audit log.
    #[arg(long, global = true)]
    pub no_audit: bool,
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
    /// Find exact and near duplicates and link persons, every decision explained.
    ///
    /// Exit code 0: done; 1: done, pairs left for review; 2: could not run
    /// (bad mapping or config, unreadable input, a file no mapping fits).
    Dedup(dedup::DedupArgs),
    /// List the canonical fields of each record kind: type, rules, whether
    /// personal (for people writing mappings).
    Fields(fields::FieldsArgs),
    /// Write records in another format: canonical JSON Lines, CSV or XLSX,
    /// or the files of a mapping set (mosaic, cin, ssda903), each through its
    /// mapping in reverse.
    ///
    /// Exit code 0: written, no errors; 1: written, records rejected (listed,
    /// not written); 2: could not run.
    Export(export::ExportArgs),
    /// Tools for writing mappings: `init` drafts one for an unfamiliar export.
    #[command(subcommand)]
    Mapping(mapping_cmd::MappingCommand),
    /// Migrate with the ledger: validate, write what changed since the last
    /// run into a folder of its own, record every record's disposition and
    /// lineage. Nightly-safe: unchanged files and records are skipped,
    /// records gone from a full extract are withdrawn, a run killed at any
    /// point leaves nothing half-done.
    ///
    /// Exit code 0: done, no errors; 1: done, records rejected; 2: could not run.
    Migrate(migrate::MigrateArgs),
    /// The accounting of a run: per file and kind, read = migrated + merged
    /// + rejected + skipped. Exit code 1 when a file does not balance.
    Reconcile(migrate::ReconcileArgs),
    /// The lineage of a record: every source row that fed it, mappings,
    /// each run that changed it.
    Provenance(migrate::ProvenanceArgs),
    /// The ledger's integrity.
    #[command(subcommand)]
    Ledger(migrate::LedgerCommand),
}

/// What a command read and found, for the audit log: each command fills
/// it from its report (itself built from the run's events).
#[derive(Debug, Default)]
pub struct RunFacts {
    inputs: Vec<audit::AuditInput>,
    errors: u64,
    warnings: u64,
}

impl RunFacts {
    /// Records a command's inputs.
    pub(crate) fn note_inputs(&mut self, inputs: impl IntoIterator<Item = audit::AuditInput>) {
        self.inputs.extend(inputs);
    }

    /// Records a command's report.
    pub(crate) fn note_report(&mut self, report: &casebridge_validate::Report) {
        self.inputs
            .extend(report.files.iter().map(|file| audit::AuditInput {
                file: file.file.clone(),
                sha256: file.sha256.clone(),
                bytes: file.bytes,
            }));
        self.errors += report.errors;
        self.warnings += report.warnings;
    }
}

/// The spreadsheet reader's worker thread catches a panic inside calamine
/// (a damaged workbook, e.g. a shared-string index out of range) and reports
/// it as a finding on that file; the default hook would still print a
/// "thread panicked" line that reads like a crash. Panics anywhere else are
/// printed as usual.
fn quiet_caught_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some(casebridge_sheet::WORKER_THREAD) {
            tracing::debug!("A workbook reader panicked on damaged input; reported as a finding.");
            return;
        }
        default(info);
    }));
}

/// Parses the command line, runs it and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    quiet_caught_panics();
    let cli_no_audit = cli.no_audit;
    let log = if cli.no_audit {
        None
    } else {
        cli.audit_log.clone().or_else(audit::default_path)
    };
    let mut facts = RunFacts::default();
    let code = match run(cli, &mut facts) {
        Ok(code) => code,
        Err(e) => {
            say!("error: {e:#}");
            2
        }
    };
    if let Some(path) = log {
        let args: Vec<String> = std::env::args().collect();
        let entry = audit::AuditEntry {
            time: chrono::Utc::now().to_rfc3339(),
            user: audit::current_user(),
            host: audit::host_name(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            command: audit::redact_args(&args),
            inputs: facts.inputs,
            exit_code: code,
            errors: facts.errors,
            warnings: facts.warnings,
            prev: String::new(),
        };
        match audit::append(&path, entry) {
            Ok(a) => {
                if let Some(line) = a.chain_broken_at {
                    say!(
                        "warning: the audit log {} is broken at line {line}: an entry was removed, edited or reordered there",
                        path.display()
                    );
                }
            }
            Err(e) => say!(
                "warning: cannot append to the audit log {}: {e}",
                path.display()
            ),
        }
    } else if !cli_no_audit {
        say!(
            "warning: no audit log written: set HOME, XDG_STATE_HOME or CASEBRIDGE_AUDIT_LOG, or give --audit-log (--no-audit to silence this)"
        );
    }
    ExitCode::from(code)
}

/// Runs a parsed command line; the exit code on success.
pub fn run(cli: Cli, facts: &mut RunFacts) -> anyhow::Result<u8> {
    match cli.command {
        Command::Validate(args) => validate::run(args, cli.quiet, facts),
        Command::Dedup(args) => dedup::run(args, cli.quiet, facts),
        Command::Pseudonymise(args) => pseudonymise::run(args, cli.quiet, facts),
        Command::Fields(args) => fields::run(args),
        Command::Export(args) => export::run(args, cli.quiet, facts),
        Command::Mapping(cmd) => mapping_cmd::run(cmd, cli.quiet, facts),
        Command::Migrate(args) => migrate::run(args, cli.quiet, facts),
        Command::Reconcile(args) => migrate::reconcile(args),
        Command::Provenance(args) => migrate::provenance(args),
        Command::Ledger(cmd) => migrate::ledger(cmd),
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
    // A closed or broken stderr must never panic a run: the subscriber's
    // own "cannot write" notice would go to a closed stderr and panic.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false)
        .try_init();
}
