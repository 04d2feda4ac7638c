//! `casebridge pseudonymise`: test extracts safe to share.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use casebridge_mapping::{Error as MappingError, MappingSet};
use casebridge_runner::pseudo::Pseudonymiser;
use casebridge_runner::{pseudonymise, PseudonymiseOptions};
use casebridge_validate::Report;
use clap::Args;

use crate::progress::Bar;

/// The environment variable holding the pseudonymisation key.
pub const KEY_VAR: &str = "CASEBRIDGE_PSEUDONYM_KEY";

/// Arguments of `casebridge pseudonymise`.
///
/// The key is read from the environment variable CASEBRIDGE_PSEUDONYM_KEY
/// only (at least 16 bytes), never from a file or an argument, so it does not
/// end up in shell history, process lists or configuration.
#[derive(Debug, Args)]
pub struct PseudonymiseArgs {
    /// Input files or directories.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// A mapping file or a folder of mappings, as for `validate`; may be
    /// given several times.
    #[arg(long, short, required = true)]
    pub mapping: Vec<PathBuf>,
    /// Directory for the pseudonymised files (created owner-only).
    #[arg(long)]
    pub out: PathBuf,
    /// Copy columns (and XML values) no mapping reads instead of blanking
    /// them. They may hold personal data casebridge knows nothing about, so
    /// they are scrubbed as free text on the way: names of persons in the
    /// extract, NHS and phone numbers, dates, postcodes and streets are
    /// replaced, anything else is copied as it is.
    #[arg(long)]
    pub keep_unmapped: bool,
    /// Replace the contents of a non-empty --out folder as a whole (the new
    /// extract appears at once or not at all; stale files never stay).
    /// Without it, a folder that holds files is refused.
    #[arg(long)]
    pub replace: bool,
    /// Largest record, in bytes, held in memory.
    #[arg(long, default_value_t = 64 << 20)]
    pub max_record_bytes: usize,
}

/// Runs `pseudonymise`; returns the exit code.
pub fn run(args: PseudonymiseArgs, quiet: bool, facts: &mut crate::RunFacts) -> anyhow::Result<u8> {
    let Some(key) = std::env::var_os(KEY_VAR) else {
        say!(
            "error: set {KEY_VAR} to a secret of at least {} bytes; the key is read from the \
             environment only, never from a file or an argument",
            Pseudonymiser::MIN_KEY_BYTES
        );
        return Ok(2);
    };
    let Some(pseudo) = Pseudonymiser::new(key.as_encoded_bytes()) else {
        say!(
            "error: {KEY_VAR} is shorter than {} bytes",
            Pseudonymiser::MIN_KEY_BYTES
        );
        return Ok(2);
    };
    let mappings = match MappingSet::load_all(&args.mapping) {
        Ok(m) => m,
        Err(MappingError::Invalid(diags)) => {
            say!("error: the mapping cannot be used:");
            for d in diags {
                say!("  {d}");
            }
            return Ok(2);
        }
        Err(e) => return Err(e).context("loading mappings"),
    };
    let opts = PseudonymiseOptions {
        out_dir: args.out.clone(),
        keep_unmapped: args.keep_unmapped,
        replace: args.replace,
        limits: casebridge_runner::Limits {
            max_record_bytes: args.max_record_bytes,
            ..casebridge_runner::Limits::default()
        },
    };
    let mut report = Report::new(5, false)?
        .with_read_status("written")
        .with_valid_label("written");
    let bar = Bar::new(quiet);
    let outcome = pseudonymise(&args.inputs, &mappings, &pseudo, &opts, &mut report, &bar)?;
    bar.finish();
    facts.note_report(&report);
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let written = report
        .write_human(&mut out)
        .and_then(|()| out.flush().map_err(casebridge_validate::Error::Write));
    match written {
        Err(e) if e.is_broken_pipe() => {}
        r => r?,
    }
    Ok(outcome.exit_code())
}
