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
pub mod input;
pub mod pseudo;
mod pseudonymise;

pub use config::RunConfig;
pub use input::{open_source, plan_inputs, Limits, Plan, PlannedFile, Unmatched};
pub use pseudonymise::{pseudonymise, PseudonymiseOptions};

use std::path::{Path, PathBuf};

use casebridge_mapping::{MappedRecord, Mapping, MappingSet, SourceFormat};
use casebridge_model::{rules, RecordKind, SourceError, SourceErrorKind, TextRow};
use casebridge_validate::{
    CheckOptions, Checker, FileSummary, Finding, Issue, PersonIndex, Report,
};
use chrono::NaiveDate;

/// An error that stops a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The report could not be written (temporary spill file).
    #[error("report: {0}")]
    Report(#[from] std::io::Error),
    /// An input path does not exist.
    #[error("{}: no such file or directory", .0.display())]
    NoInput(PathBuf),
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

pub(crate) fn display(path: &Path) -> String {
    path.display().to_string()
}

/// Reports the files of a plan that no single mapping fits; returns whether
/// any of them makes the run one that could not run (a named file, not one
/// found in a directory, or several mappings fitting).
pub(crate) fn report_unmatched(
    plan: &Plan<'_>,
    report: &mut Report,
    what: &str,
) -> Result<bool, Error> {
    let mut could_not_run = false;
    for u in &plan.unmatched {
        let name = display(&u.path);
        let (rule, status, message) = if !u.candidates.is_empty() {
            could_not_run = true;
            (
                rules::FILE_AMBIGUOUS_MAPPING,
                "failed",
                format!(
                    "several mappings fit this file name: {}",
                    u.candidates.join(", ")
                ),
            )
        } else if u.from_dir {
            (
                rules::FILE_SKIPPED,
                "skipped",
                format!("no mapping's source glob fits this file name{what}"),
            )
        } else {
            could_not_run = true;
            (
                rules::FILE_NO_MAPPING,
                "failed",
                format!("no mapping's source glob fits this file name{what}"),
            )
        };
        report.files.push(FileSummary {
            file: name.clone(),
            status: status.into(),
            ..FileSummary::default()
        });
        report.push(Finding::new(rule, &name, None, None, message))?;
    }
    Ok(could_not_run)
}

/// Validates `inputs` (files or directories) against `mappings` into `report`.
pub fn validate(
    inputs: &[PathBuf],
    mappings: &MappingSet,
    opts: &ValidateOptions,
    report: &mut Report,
    progress: &dyn Progress,
) -> Result<Outcome, Error> {
    let plan = plan_inputs(inputs, mappings)?;
    let mut could_not_run = report_unmatched(&plan, report, "")?;
    progress.start(plan.total_bytes());

    let mut persons = PersonIndex::default();
    persons.loaded = plan
        .files
        .iter()
        .any(|f| f.mapping.kind == RecordKind::Person);
    let refs_needed = plan.files.iter().any(|f| {
        let m = f.mapping;
        m.mapped_fields().any(|(f, _)| {
            m.kind
                .field(f)
                .is_some_and(|d| d.ty == casebridge_model::FieldType::PersonRef)
        })
    });
    if refs_needed && !persons.loaded {
        report.push(Finding::new(
            rules::REF_NOT_CHECKED,
            "-",
            None,
            None,
            "no person file among the inputs: references to persons were not checked",
        ))?;
    }
    for f in &plan.files {
        could_not_run |= validate_file(&f.path, f.mapping, opts, &mut persons, report, progress)?;
    }
    Ok(Outcome {
        could_not_run,
        has_errors: report.errors > 0,
    })
}

/// The finding for a reading error: its rule, field and message, and where.
pub(crate) fn source_finding(e: &SourceError, file: &str, format: SourceFormat) -> Finding {
    let line = e.locator.line();
    let syntax = match format {
        SourceFormat::Xml => rules::XML_SYNTAX,
        SourceFormat::Xlsx => rules::SHEET_UNREADABLE,
        SourceFormat::Csv => rules::CSV_SYNTAX,
    };
    let (rule, field, message) = match &e.kind {
        SourceErrorKind::Io(m) => (rules::FILE_UNREADABLE, None, format!("cannot read: {m}")),
        SourceErrorKind::Empty => (
            rules::FILE_EMPTY,
            None,
            "file is empty: no header row".to_string(),
        ),
        SourceErrorKind::UnsupportedEncoding(enc) => (
            rules::FILE_ENCODING,
            None,
            format!("file is {enc}; export it as UTF-8 or Windows-1252"),
        ),
        SourceErrorKind::FieldCount { expected, found } => (
            rules::CSV_RAGGED_ROW,
            None,
            format!("row has {found} fields, header has {expected}"),
        ),
        SourceErrorKind::InvalidEncoding { column } => (
            rules::ENCODING_INVALID,
            Some(column.as_str()),
            "bytes not valid in the declared encoding".to_string(),
        ),
        SourceErrorKind::Syntax(m) => (syntax, None, m.clone()),
        SourceErrorKind::Limit(m) => (rules::LIMIT_RECORD, None, m.clone()),
        SourceErrorKind::EncodingFallback => (
            rules::ENCODING_FALLBACK,
            None,
            "not valid UTF-8: read as Windows-1252 from this line on".to_string(),
        ),
        SourceErrorKind::Dtd => (rules::XML_DTD, None, e.kind_message()),
        SourceErrorKind::Entity { .. } => (rules::XML_ENTITY, None, e.kind_message()),
        SourceErrorKind::DepthLimit { .. } => (rules::LIMIT_DEPTH, None, e.kind_message()),
        SourceErrorKind::ArchiveLimit(_) => (rules::LIMIT_ARCHIVE, None, e.kind_message()),
        SourceErrorKind::CellError { column, .. } => (
            rules::SHEET_CELL_ERROR,
            Some(column.as_str()),
            e.kind_message(),
        ),
        SourceErrorKind::NoSheet { .. } => (rules::SHEET_MISSING, None, e.kind_message()),
        _ => (syntax, None, e.to_string()),
    };
    Finding::new(rule, file, line, field, message).at_locator(Some(&e.locator))
}

/// Validates one file; returns whether it could not be run.
fn validate_file(
    path: &Path,
    mapping: &Mapping,
    opts: &ValidateOptions,
    persons: &mut PersonIndex,
    report: &mut Report,
    progress: &dyn Progress,
) -> Result<bool, Error> {
    let name = display(path);
    progress.file(&name);
    report.files.push(FileSummary {
        file: name.clone(),
        status: "failed".into(),
        mapping: Some(mapping.id.clone()),
        kind: Some(mapping.kind.to_string()),
        ..FileSummary::default()
    });
    let format = mapping.source.format_of(path);
    let mut source = match open_source(path, mapping, &opts.limits) {
        Ok(s) => s,
        Err(e) => {
            let could_not_run = !matches!(e.kind, SourceErrorKind::Empty);
            report.push(source_finding(&e, &name, format))?;
            if let Ok(meta) = std::fs::metadata(path) {
                progress.file_done(meta.len());
            }
            return Ok(could_not_run);
        }
    };
    if let Some(w) = source.take_warning() {
        report.push(source_finding(&w, &name, format))?;
    }
    let header = source.columns().to_vec();
    let bound = match mapping.bind(&header) {
        Ok(b) => b.presence_only(),
        Err(diags) => {
            for d in diags {
                report.push(Finding::new(
                    rules::FILE_HEADER,
                    &name,
                    Some(mapping.source.header_row),
                    None,
                    format!("header does not fit mapping: {d}"),
                ))?;
            }
            let _ = source.finish();
            return Ok(true);
        }
    };
    let checker = Checker::new(
        mapping,
        CheckOptions {
            as_of: opts.as_of,
            show_values: opts.show_values,
        },
    );
    let key_slot = mapping.kind.field_index("source_key");
    let is_person = mapping.kind == RecordKind::Person;
    let mut row = TextRow::new();
    let mut rec = MappedRecord::new(mapping.kind);
    let mut field_issues = Vec::new();
    let mut issues: Vec<Issue> = Vec::new();
    let (mut records, mut valid) = (0u64, 0u64);
    let mut fatal = false;
    loop {
        let got = source.read_row(&mut row, bound.wanted());
        if let Some(w) = source.take_warning() {
            report.push(source_finding(&w, &name, format))?;
        }
        match got {
            Ok(false) => break,
            Ok(true) => {
                records += 1;
                field_issues.clear();
                issues.clear();
                bound.apply(&mut row, &mut rec, &mut field_issues, opts.show_values);
                if is_person {
                    if let Some(k) = key_slot.and_then(|s| rec.slots[s].str()) {
                        persons.insert(k);
                    }
                }
                checker.check(&rec, persons, &mut issues);
                let line = row.locator.as_ref().and_then(|l| l.line());
                let mut errors = 0;
                for fi in field_issues.drain(..) {
                    let f = Finding::new(fi.rule, &name, line, Some(&fi.column), fi.message)
                        .at_locator(row.locator.as_ref())
                        .with_value(fi.value);
                    errors += usize::from(f.is_error());
                    report.push(f)?;
                }
                for i in issues.drain(..) {
                    let f = Finding::new(i.rule, &name, line, Some(&i.column), i.message)
                        .at_locator(row.locator.as_ref())
                        .with_value(i.value);
                    errors += usize::from(f.is_error());
                    report.push(f)?;
                }
                if errors == 0 {
                    valid += 1;
                }
            }
            Err(e) => {
                records += 1;
                report.push(source_finding(&e, &name, format))?;
                if !e.recoverable {
                    fatal = true;
                    break;
                }
            }
        }
        if records % 4096 == 0 {
            progress.advance(source.bytes_read());
        }
    }
    let info = source.finish();
    let file = report.files.last_mut();
    let mut could_not_run = false;
    if let Some(file) = file {
        file.records = records;
        file.valid = valid;
        match &info {
            Ok(info) => {
                file.sha256 = Some(info.sha256.to_hex());
                file.bytes = info.bytes;
                file.status = if fatal { "failed" } else { "checked" }.into();
                progress.file_done(info.bytes);
            }
            Err(_) => could_not_run = true,
        }
    }
    if let Err(e) = info {
        report.push(source_finding(&e, &name, format))?;
    }
    report.records_read += records;
    report.records_valid += valid;
    tracing::debug!(file = %name, records, valid, "File validated.");
    Ok(could_not_run || fatal)
}
