//! The casebridge pipeline. This stage runs validation: every input file
//! through its mapping and the base rules into a [`Report`].
//!
//! Files are taken in record-kind order (persons first) so that references
//! to persons can be checked as the other files stream past; each file is
//! read once, one record at a time. A file that cannot be read is reported
//! and the others go on.

#![forbid(unsafe_code)]

pub mod audit;
pub mod config;
pub mod dedup;
pub mod draft;
pub mod export;
pub mod input;
mod keyset;
mod known;
pub mod migrate;
pub mod pipeline;
/// The pseudonymisation policy and primitives (a crate of their own).
pub use casebridge_pseudonymise as pseudo;
mod pseudonymise;

pub use config::RunConfig;
pub use input::{
    open_source, output_over_input, plan_inputs, Limits, Plan, PlannedFile, Unmatched, KEY_MEMORY,
};
pub use pipeline::{CheckOnly, FileCtx, Item, Needs, Pipeline, PipelineOptions, Stage, Verdict};
pub use pseudonymise::{pseudonymise, PseudonymiseOptions};

use std::path::{Path, PathBuf};

use casebridge_mapping::{MappingSet, SourceFormat};
use casebridge_model::{rules, SourceError};
use casebridge_validate::{Finding, Report};
use chrono::NaiveDate;

/// An error that stops a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The report could not be written (its temporary spill file).
    #[error("cannot write the report")]
    Report(#[from] std::io::Error),
    /// An input path does not exist.
    #[error("{}: no such file or directory", .0.display())]
    NoInput(PathBuf),
    /// The report could not keep or write its findings.
    #[error(transparent)]
    Validate(#[from] casebridge_validate::Error),
    /// Deduplication failed.
    #[error("deduplication failed")]
    Dedup(#[from] casebridge_dedup::Error),
    /// An output could not be written.
    #[error("cannot write an output")]
    Sink(#[from] casebridge_model::SinkError),
    /// An output file could not be written (the error names it).
    #[error(transparent)]
    Output(#[from] casebridge_io::Error),
    /// An output file in the run's staging folder could not be written:
    /// the error and its causes on one line, the file named at its place
    /// in the output folder (the staging folder is gone when the run
    /// ends). See [`Error::at_target`].
    #[error("cannot write an output: {0}")]
    Staged(String),
    /// A replaced output folder would delete an input.
    #[error("{}: the output folder holds the input {}; choose another --out", folder.display(), input.display())]
    OutputHoldsInput {
        /// The output folder.
        folder: PathBuf,
        /// The input inside it.
        input: PathBuf,
    },
    /// The ledger failed (its error names the file).
    #[error(transparent)]
    Ledger(#[from] casebridge_ledger::Error),
    /// The temporary database of source keys past `[limits] key_memory`
    /// failed.
    #[error("cannot keep the source keys in their temporary database")]
    KeySpill(#[source] rusqlite::Error),
    /// The ledger file is among the inputs.
    #[error("{}: the ledger is among the inputs; keep it outside the input folders", .0.display())]
    LedgerIsInput(PathBuf),
    /// The run's ledger transaction is gone (a bug).
    #[error("the run's ledger transaction ended early (a bug; please report it)")]
    LedgerState,
    /// `mapping init`: the file is not one a mapping can be drafted from
    /// (unreadable, not CSV or XLSX, no header row).
    #[error("{}: {reason}", path.display())]
    DraftInput {
        /// The file.
        path: PathBuf,
        /// Why, without any of its values.
        reason: String,
    },
    /// `mapping init`: the file holds no header row.
    #[error("{}: the file is empty: no header row to draft a mapping from", .0.display())]
    DraftEmpty(PathBuf),
    /// `mapping init`: the drafted mapping does not load (a bug).
    #[error(
        "the drafted mapping does not load (a bug in mapping init; please report it):\n{}",
        .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    )]
    DraftInvalid(Vec<casebridge_mapping::Diagnostic>),
}

/// Settings of a validation run.
#[derive(Debug, Clone)]
pub struct ValidateOptions {
    /// "Today" for future-date rules.
    pub as_of: NaiveDate,
    /// Put offending values in findings.
    pub show_values: bool,
    /// Resource limits.
    pub limits: Limits,
}

/// Progress of a run, for a progress bar.
pub trait Progress {
    /// Total bytes of all inputs, once known.
    fn start(&self, _total_bytes: u64) {}
    /// A file is being read.
    fn file(&self, _name: &str) {}
    /// Bytes read in the current file so far.
    fn advance(&self, _file_bytes: u64) {}
    /// A file is done; `bytes` is its size.
    fn file_done(&self, _bytes: u64) {}
}

/// No progress output.
pub struct NoProgress;
impl Progress for NoProgress {}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Some input could not be run (unreadable, no or ambiguous mapping, header
    /// lacking mapped columns): exit code 2.
    pub could_not_run: bool,
    /// Errors were found: exit code 1.
    pub has_errors: bool,
}

impl Outcome {
    /// 0 clean, 1 errors found, 2 could not run.
    pub fn exit_code(self) -> u8 {
        if self.could_not_run {
            2
        } else if self.has_errors {
            1
        } else {
            0
        }
    }
}

impl Error {
    /// This error, where it names a file in the staging folder `staging`,
    /// told of that file at its place in `target` instead (a user looks
    /// for `out/person.xlsx`, not `.out.casebridge-tmp.4242.../person.xlsx`,
    /// which the run removes). Other errors are left as they are.
    pub(crate) fn at_target(self, staging: &Path, target: &Path) -> Error {
        let text = chain(&self);
        let staged = display(staging);
        if staged.is_empty() || !text.contains(&staged) {
            return self;
        }
        let text = text.replace(&staged, &display(target));
        // Said once: the variant says it.
        match text.strip_prefix("cannot write an output: ") {
            Some(rest) => Error::Staged(rest.to_string()),
            None => Error::Staged(text),
        }
    }
}

/// An error and its causes on one line, each said once (`a: b: c`), for
/// findings, which carry text rather than errors.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

pub(crate) fn display(path: &Path) -> String {
    path.display().to_string()
}

/// Validates `inputs` (files or directories) against `mappings` into `report`:
/// plan, source, map, check, report.
pub fn validate(
    inputs: &[PathBuf],
    mappings: &MappingSet,
    opts: &ValidateOptions,
    report: &mut Report,
    progress: &dyn Progress,
) -> Result<Outcome, Error> {
    let plan = plan_inputs(inputs, mappings)?;
    let popts = PipelineOptions::checked(opts.as_of, opts.show_values, opts.limits.clone());
    let mut pipeline = Pipeline::new(popts, report, progress);
    pipeline.run(&plan, "", &mut CheckOnly)?;
    pipeline.end()?;
    let could_not_run = pipeline.could_not_run();
    check_balance(report)?;
    Ok(Outcome {
        could_not_run: could_not_run || !report.unbalanced().is_empty(),
        has_errors: report.errors > 0,
    })
}

/// Adds a `run.unbalanced` finding for every file (and kind) whose records
/// read differ from those accounted for. A sound run adds none.
pub fn check_balance(report: &mut Report) -> Result<(), Error> {
    for (file, kind, t) in report.unbalanced() {
        let what = kind.map(|k| format!(" ({k})")).unwrap_or_default();
        report.push(Finding::new(
            rules::RUN_UNBALANCED,
            &file,
            None,
            None,
            format!(
                "{}{what} record(s) read, {} accounted for ({} valid, {} rejected, {} merged, {} skipped)",
                t.read,
                t.disposed(),
                t.valid,
                t.rejected,
                t.merged,
                t.skipped
            ),
        ))?;
    }
    Ok(())
}

/// The finding for a reading error: its rule, field and message, and where.
pub(crate) fn source_finding(e: &SourceError, file: &str, format: SourceFormat) -> Finding {
    let line = e.locator.line();
    let syntax = match format {
        SourceFormat::Xml => rules::XML_SYNTAX,
        SourceFormat::Xlsx => rules::SHEET_UNREADABLE,
        SourceFormat::Csv => rules::CSV_SYNTAX,
        SourceFormat::Jsonl => rules::JSONL_RECORD,
    };
    let (rule, field, message) = e.finding_parts(syntax);
    Finding::new(rule, file, line, field, message).at_locator(Some(&e.locator))
}
