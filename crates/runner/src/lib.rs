//! The casebridge pipeline. This stage runs validation: every input file
//! through its mapping and the base rules into a [`Report`].
//!
//! Files are taken in record-kind order (persons first) so that references
//! to persons can be checked as the other files stream past; each file is
//! read once, one record at a time. A file that cannot be read is reported
//! and the others go on.

#![forbid(unsafe_code)]

pub mod audit;
pub mod pseudo;
mod pseudonymise;

pub use pseudonymise::{pseudonymise, PseudonymiseOptions};

use std::path::{Path, PathBuf};

use casebridge_csv::{CsvSource, CsvSourceConfig};
use casebridge_mapping::{MappedRecord, Mapping, MappingSet, Selection};
use casebridge_model::{rules, RecordKind, RecordSource, SourceError, SourceErrorKind, TextRow};
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
    /// Largest record held in memory.
    pub max_record_bytes: usize,
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

/// One input file and where it came from.
#[derive(Debug, Clone)]
struct Input {
    path: PathBuf,
    /// Found by listing a directory (a file no mapping fits is then skipped, not an error).
    from_dir: bool,
}

fn expand(inputs: &[PathBuf]) -> Result<Vec<Input>, Error> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|_| Error::NoInput(p.clone()))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            out.extend(files.into_iter().map(|path| Input {
                path,
                from_dir: true,
            }));
        } else {
            // A missing or unreadable file is reported as a finding, not here.
            out.push(Input {
                path: p.clone(),
                from_dir: false,
            });
        }
    }
    Ok(out)
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// Validates `inputs` (files or directories) against `mappings` into `report`.
pub fn validate(
    inputs: &[PathBuf],
    mappings: &MappingSet,
    opts: &ValidateOptions,
    report: &mut Report,
    progress: &dyn Progress,
) -> Result<Outcome, Error> {
    let inputs = expand(inputs)?;
    let mut could_not_run = false;
    let mut planned: Vec<(&Mapping, Input)> = Vec::new();
    for input in inputs {
        let name = display(&input.path);
        match mappings.select(&input.path) {
            Selection::One(m) => planned.push((m, input)),
            Selection::None => {
                let (rule, status) = if input.from_dir {
                    (rules::FILE_SKIPPED, "skipped")
                } else {
                    could_not_run = true;
                    (rules::FILE_NO_MAPPING, "failed")
                };
                report.files.push(FileSummary {
                    file: name.clone(),
                    status: status.into(),
                    ..FileSummary::default()
                });
                report.push(Finding::new(
                    rule,
                    &name,
                    None,
                    None,
                    "no mapping's source glob fits this file name",
                ))?;
            }
            Selection::Many(ms) => {
                could_not_run = true;
                let ids: Vec<&str> = ms.iter().map(|m| m.id.as_str()).collect();
                report.files.push(FileSummary {
                    file: name.clone(),
                    status: "failed".into(),
                    ..FileSummary::default()
                });
                report.push(Finding::new(
                    rules::FILE_AMBIGUOUS_MAPPING,
                    &name,
                    None,
                    None,
                    format!("several mappings fit this file name: {}", ids.join(", ")),
                ))?;
            }
        }
    }
    // Persons first, so references to them can be checked in one pass.
    planned.sort_by_key(|(m, _)| RecordKind::ALL.iter().position(|k| *k == m.kind));
    let total: u64 = planned
        .iter()
        .filter_map(|(_, i)| std::fs::metadata(&i.path).ok())
        .map(|m| m.len())
        .sum();
    progress.start(total);

    let mut persons = PersonIndex::default();
    persons.loaded = planned.iter().any(|(m, _)| m.kind == RecordKind::Person);
    let refs_needed = planned.iter().any(|(m, _)| {
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
    for (mapping, input) in planned {
        could_not_run |= validate_file(&input.path, mapping, opts, &mut persons, report, progress)?;
    }
    Ok(Outcome {
        could_not_run,
        has_errors: report.errors > 0,
    })
}

fn source_finding(e: &SourceError, file: &str, show_values: bool) -> Finding {
    let _ = show_values;
    let line = e.locator.line();
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
        SourceErrorKind::Syntax(m) => (rules::CSV_SYNTAX, None, m.clone()),
        SourceErrorKind::Limit(m) => (rules::LIMIT_RECORD, None, m.clone()),
        SourceErrorKind::EncodingFallback => (
            rules::ENCODING_FALLBACK,
            None,
            "not valid UTF-8: read as Windows-1252 from this line on".to_string(),
        ),
        _ => (rules::CSV_SYNTAX, None, e.to_string()),
    };
    Finding::new(rule, file, line, field, message)
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
    let config = CsvSourceConfig {
        encoding: mapping.source.encoding,
        delimiter: mapping.source.delimiter,
        header_row: mapping.source.header_row,
        max_record_bytes: opts.max_record_bytes,
    };
    let mut source: Box<dyn RecordSource> = match CsvSource::open(path, config) {
        Ok(s) => Box::new(s),
        Err(e) => {
            let could_not_run = !matches!(e.kind, SourceErrorKind::Empty);
            report.push(source_finding(&e, &name, opts.show_values))?;
            if let Ok(meta) = std::fs::metadata(path) {
                progress.file_done(meta.len());
            }
            return Ok(could_not_run);
        }
    };
    if let Some(w) = source.take_warning() {
        report.push(source_finding(&w, &name, opts.show_values))?;
    }
    let header = source.columns().to_vec();
    let bound = match mapping.bind(&header) {
        Ok(b) => b.presence_only(),
        Err(diags) => {
            for d in diags {
                report.push(Finding::new(
                    rules::FILE_HEADER,
                    &name,
                    Some(1),
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
            report.push(source_finding(&w, &name, opts.show_values))?;
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
                        .with_value(fi.value);
                    errors += usize::from(f.is_error());
                    report.push(f)?;
                }
                for i in issues.drain(..) {
                    let f = Finding::new(i.rule, &name, line, Some(&i.column), i.message)
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
                report.push(source_finding(&e, &name, opts.show_values))?;
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
        report.push(source_finding(&e, &name, opts.show_values))?;
    }
    report.records_read += records;
    report.records_valid += valid;
    tracing::debug!(file = %name, records, valid, "File validated.");
    Ok(could_not_run || fatal)
}
