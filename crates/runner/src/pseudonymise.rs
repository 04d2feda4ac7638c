//! Pseudonymised test extracts: every input file rewritten, same name, same
//! columns, with identifiers, names, national numbers, postcodes and
//! addresses replaced by keyed pseudonyms, dates shifted by a keyed
//! per-person offset, and the names and numbers of each record's people
//! (the subjects and their relatives) replaced in free text.
//!
//! Two passes: the first reads persons, relationships and workflow steps to
//! know who each record is about and what their names are; the second
//! rewrites the files. Columns no mapping reads are blanked unless kept on
//! purpose, since nothing is known of what they hold.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use casebridge_csv::{CsvSink, CsvSinkConfig, CsvSource, CsvSourceConfig};
use casebridge_mapping::{MappedRecord, Mapping, MappingSet, SourceFormat};
use casebridge_model::{rules, Encoding, RecordKind, RecordSource, TextRow, Want};
use casebridge_sheet::{SheetSink, SheetSource, SheetSourceConfig};
use casebridge_validate::{FileSummary, Finding, Report};
use chrono::Duration;
use rustc_hash::FxHashMap;

use crate::pseudo::{add_name_words, scrub, Pseudonymiser, Replacements, Treatment};
use crate::{
    display, open_source, plan_inputs, report_unmatched, source_finding, Error, Limits, Outcome,
    Progress,
};

/// Settings of a pseudonymisation run.
#[derive(Debug, Clone)]
pub struct PseudonymiseOptions {
    /// Where the pseudonymised files go (created owner-only if missing).
    pub out_dir: PathBuf,
    /// Copy columns no mapping reads instead of blanking them.
    pub keep_unmapped: bool,
    /// Resource limits.
    pub limits: Limits,
}

#[derive(Debug, Default)]
struct PersonNames {
    first: Vec<String>,
    last: Vec<String>,
}

/// What the first pass learns.
#[derive(Debug, Default)]
struct Index {
    names: FxHashMap<String, PersonNames>,
    related: FxHashMap<String, BTreeSet<String>>,
    /// Workflow step (or other source record) -> its persons.
    groups: FxHashMap<String, BTreeSet<String>>,
}

fn read_all(
    path: &Path,
    mapping: &Mapping,
    limits: &Limits,
    mut each: impl FnMut(&MappedRecord, &TextRow),
) -> Result<(), casebridge_model::SourceError> {
    let mut src = open_source(path, mapping, limits)?;
    let header = src.columns().to_vec();
    let Ok(bound) = mapping.bind(&header) else {
        return Ok(());
    };
    let mut row = TextRow::new();
    let mut rec = MappedRecord::new(mapping.kind);
    let mut issues = Vec::new();
    loop {
        match src.read_row(&mut row, bound.wanted()) {
            Ok(false) => break,
            Ok(true) => {
                issues.clear();
                bound.apply(&mut row, &mut rec, &mut issues, false);
                each(&rec, &row);
            }
            Err(e) if e.recoverable => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn text(rec: &MappedRecord, field: &str) -> Option<String> {
    rec.get(field).and_then(|s| s.str()).map(str::to_string)
}

fn people(rec: &MappedRecord, index: &Index) -> Vec<String> {
    let mut out = Vec::new();
    for (def, slot) in rec.kind.fields().iter().zip(&rec.slots) {
        let is_ref = def.ty == casebridge_model::FieldType::PersonRef;
        let is_person_key = rec.kind == RecordKind::Person && def.is_key;
        if !(is_ref || is_person_key) {
            continue;
        }
        if let Some(t) = slot.str() {
            for id in t.split([',', ';']).map(str::trim) {
                if !id.is_empty() && !id.parse::<i64>().is_ok_and(|n| n <= 0) {
                    out.push(id.to_string());
                }
            }
        }
    }
    if out.is_empty() {
        for f in ["workflow_step_id", "source_record"] {
            if let Some(group) = text(rec, f).and_then(|g| index.groups.get(&g)) {
                out.extend(group.iter().cloned());
            }
        }
    }
    out
}

/// Pseudonymises `inputs` into `opts.out_dir`.
pub fn pseudonymise(
    inputs: &[PathBuf],
    mappings: &MappingSet,
    pseudo: &Pseudonymiser,
    opts: &PseudonymiseOptions,
    report: &mut Report,
    progress: &dyn Progress,
) -> Result<Outcome, Error> {
    let plan = plan_inputs(inputs, mappings)?;
    // A file no single mapping reads cannot be pseudonymised: it is left out
    // of the extract, never copied as it is.
    let mut could_not_run = report_unmatched(&plan, report, ": left out of the extract")?;
    let mut planned: Vec<(&Mapping, PathBuf)> = Vec::new();
    for f in &plan.files {
        let parts = plan.files.iter().filter(|g| g.path == f.path).count();
        if parts == 1 {
            planned.push((f.mapping, f.path.clone()));
        } else if !planned.iter().any(|(_, p)| *p == f.path)
            && !report.files.iter().any(|s| s.file == display(&f.path))
        {
            // One output per input: a file several mappings read in parts
            // (sheets, XML record paths) would be written over.
            could_not_run = true;
            report.files.push(FileSummary {
                file: display(&f.path),
                status: "skipped".into(),
                ..FileSummary::default()
            });
            report.push(Finding::new(
                rules::FILE_UNREADABLE,
                &display(&f.path),
                None,
                None,
                format!("read by {parts} mappings in parts: pseudonymise writes one table per file; left out"),
            ))?;
        }
    }

    // First pass: names, relatives, groups.
    let mut index = Index::default();
    for (m, path) in &planned {
        let kind = m.kind;
        if !matches!(
            kind,
            RecordKind::Person | RecordKind::Relationship | RecordKind::ChronologyEntry
        ) {
            continue;
        }
        let _ = read_all(path, m, &opts.limits, |rec, _| match kind {
            RecordKind::Person => {
                if let Some(key) = text(rec, "source_key") {
                    let e = index.names.entry(key).or_default();
                    for f in ["first_name", "middle_names"] {
                        e.first.extend(text(rec, f));
                    }
                    e.last.extend(text(rec, "last_name"));
                    if let Some(full) = text(rec, "full_name") {
                        let mut words: Vec<&str> = full.split_whitespace().collect();
                        if let Some(last) = words.pop() {
                            e.last.push(last.to_string());
                        }
                        e.first.extend(words.into_iter().map(str::to_string));
                    }
                }
            }
            RecordKind::Relationship => {
                if let (Some(a), Some(b)) = (text(rec, "person"), text(rec, "other_person")) {
                    index
                        .related
                        .entry(a.clone())
                        .or_default()
                        .insert(b.clone());
                    index.related.entry(b).or_default().insert(a);
                }
            }
            _ => {
                if let (Some(g), Some(p)) = (text(rec, "source_record"), text(rec, "person")) {
                    index.groups.entry(g).or_default().insert(p);
                }
            }
        });
    }

    create_private_dir(&opts.out_dir).map_err(Error::Report)?;
    let mut family_cache: FxHashMap<Vec<String>, Replacements> = FxHashMap::default();
    for (mapping, path) in planned {
        could_not_run |= rewrite(
            path.as_path(),
            mapping,
            pseudo,
            opts,
            &index,
            &mut family_cache,
            report,
            progress,
        )?;
    }
    Ok(Outcome {
        could_not_run,
        has_errors: report.errors > 0,
    })
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

fn family_names(
    pseudo: &Pseudonymiser,
    index: &Index,
    people: &[String],
    cache: &mut FxHashMap<Vec<String>, Replacements>,
) -> Replacements {
    if let Some(r) = cache.get(people) {
        return r.clone();
    }
    let mut family: BTreeSet<&str> = BTreeSet::new();
    for p in people {
        family.insert(p);
        if let Some(rel) = index.related.get(p) {
            family.extend(rel.iter().map(String::as_str));
        }
    }
    let mut map = Replacements::default();
    for id in family {
        if let Some(n) = index.names.get(id) {
            let first: Vec<&str> = n.first.iter().map(String::as_str).collect();
            let last: Vec<&str> = n.last.iter().map(String::as_str).collect();
            add_name_words(pseudo, &mut map, &first, &last);
        }
    }
    if cache.len() > 100_000 {
        cache.clear();
    }
    cache.insert(people.to_vec(), map.clone());
    map
}

/// Where a rewritten file goes: the same format as it came in.
enum Sink {
    Csv(Box<CsvSink>),
    Sheet(Box<SheetSink>),
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Report(std::io::Error::other(e.to_string()))
}

impl Sink {
    fn write_row(&mut self, cells: &[String]) -> Result<(), Error> {
        match self {
            Sink::Csv(s) => s.write_row(cells).map_err(other),
            Sink::Sheet(s) => s.write_row(cells).map_err(other),
        }
    }

    fn finish(self) -> Result<(), Error> {
        match self {
            Sink::Csv(s) => s.finish().map(|_| ()).map_err(other),
            Sink::Sheet(s) => s.finish().map_err(other),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn rewrite(
    path: &Path,
    mapping: &Mapping,
    pseudo: &Pseudonymiser,
    opts: &PseudonymiseOptions,
    index: &Index,
    cache: &mut FxHashMap<Vec<String>, Replacements>,
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
    let file_name = path
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("out.csv"));
    let out_path = opts.out_dir.join(&file_name);
    if let (Ok(a), Ok(b)) = (
        std::fs::canonicalize(path),
        std::fs::canonicalize(&out_path),
    ) {
        if a == b {
            report.push(Finding::new(
                rules::FILE_UNREADABLE,
                &name,
                None,
                None,
                "the output would overwrite this input: choose another --out",
            ))?;
            return Ok(true);
        }
    }
    let format = mapping.source.format_of(path);
    if format == SourceFormat::Xml {
        report.push(Finding::new(
            rules::FILE_UNREADABLE,
            &name,
            None,
            None,
            "pseudonymise writes csv and xlsx extracts; xml is not rewritten yet: left out",
        ))?;
        return Ok(true);
    }
    let opened: Result<(Box<dyn RecordSource>, Option<String>), _> = match format {
        SourceFormat::Xlsx => SheetSource::open(
            path,
            SheetSourceConfig {
                sheet: mapping.source.sheet.clone(),
                header_row: mapping.source.header_row,
                max_record_bytes: opts.limits.max_record_bytes,
                archive: opts.limits.archive,
            },
        )
        .map(|s| {
            let sheet = s.sheet().to_string();
            (Box::new(s) as Box<dyn RecordSource>, Some(sheet))
        }),
        _ => CsvSource::open(
            path,
            CsvSourceConfig {
                encoding: mapping.source.encoding,
                delimiter: mapping.source.delimiter,
                header_row: mapping.source.header_row,
                max_record_bytes: opts.limits.max_record_bytes,
            },
        )
        .map(|s| (Box::new(s) as Box<dyn RecordSource>, None)),
    };
    let (mut src, sheet) = match opened {
        Ok(s) => s,
        Err(e) => {
            report.push(source_finding(&e, &name, format))?;
            return Ok(!matches!(e.kind, casebridge_model::SourceErrorKind::Empty));
        }
    };
    let header = src.columns().to_vec();
    let bound = match mapping.bind(&header) {
        Ok(b) => b,
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
            return Ok(true);
        }
    };
    // The treatment of each column: the strictest of the fields reading it.
    let mut treat: Vec<Option<(Treatment, Option<&casebridge_mapping::DateFormats>)>> =
        vec![None; header.len()];
    for (def, cols, formats) in mapping.field_sources() {
        let t = if cols.len() > 1 && def.is_key {
            Treatment::Identifier
        } else {
            Treatment::of(def)
        };
        for c in cols {
            let Some(i) = header.iter().position(|h| h.trim().eq_ignore_ascii_case(c)) else {
                continue;
            };
            let stricter = match treat[i] {
                None => true,
                Some((old, _)) => t > old,
            };
            if stricter {
                treat[i] = Some((t, formats));
            }
        }
    }
    let blanked = treat.iter().filter(|t| t.is_none()).count();
    let all = vec![Want::Text; header.len()];
    let sink_cfg = CsvSinkConfig {
        encoding: if mapping.source.encoding == Encoding::Windows1252 {
            Encoding::Windows1252
        } else {
            Encoding::Utf8
        },
        delimiter: mapping.source.delimiter,
        crlf: true,
    };
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut sink = match &sheet {
        Some(sheet) => Sink::Sheet(Box::new(
            SheetSink::create(&out_path, sheet, &header_refs).map_err(other)?,
        )),
        None => Sink::Csv(Box::new(
            CsvSink::create(&out_path, &header_refs, &sink_cfg).map_err(other)?,
        )),
    };
    let mut row = TextRow::new();
    let mut rec = MappedRecord::new(mapping.kind);
    let mut issues = Vec::new();
    let mut out: Vec<String> = vec![String::new(); header.len()];
    let (mut records, mut written) = (0u64, 0u64);
    loop {
        let got = src.read_row(&mut row, &all);
        let _ = src.take_warning();
        match got {
            Ok(false) => break,
            Ok(true) => {
                records += 1;
                // The mapping moves some cells out of the row: keep a copy.
                let cells: Vec<String> = (0..row.len())
                    .map(|i| row.get(i).unwrap_or("").to_string())
                    .collect();
                issues.clear();
                bound.apply(&mut row, &mut rec, &mut issues, false);
                let people = people(&rec, index);
                let offset_key = people
                    .first()
                    .cloned()
                    .or_else(|| text(&rec, "source_key"))
                    .or_else(|| text(&rec, "form_id"))
                    .unwrap_or_default();
                let offset = Duration::days(pseudo.date_offset_days(&offset_key));
                let names = family_names(pseudo, index, &people, cache);
                for (i, v) in cells.iter().enumerate() {
                    out[i] = match treat[i] {
                        None if opts.keep_unmapped => v.clone(),
                        None => String::new(),
                        Some(_) if v.trim().is_empty() => v.clone(),
                        Some((t, formats)) => match t {
                            Treatment::Keep => v.clone(),
                            Treatment::Identifier => pseudo.identifier(v),
                            Treatment::FirstName => pseudo.first_name(v),
                            Treatment::LastName => pseudo.last_name(v),
                            Treatment::FullName => pseudo.full_name(v),
                            Treatment::Nhs => pseudo.nhs(v),
                            Treatment::Upn => pseudo.upn(v),
                            Treatment::Postcode => pseudo.postcode(v),
                            Treatment::Address => pseudo.address(v),
                            Treatment::FreeText => scrub(pseudo, v, &names),
                            // A date that cannot be read cannot be shifted: blank it.
                            Treatment::Date => formats
                                .and_then(|f| f.parse_with_format(v.trim()))
                                .map(|(dt, f)| f.format(dt + offset))
                                .unwrap_or_default(),
                        },
                    };
                }
                sink.write_row(&out)?;
                written += 1;
            }
            Err(e) => {
                records += 1;
                // A row that cannot be read cannot be pseudonymised: left out.
                report.push(source_finding(&e, &name, format))?;
                if !e.recoverable {
                    break;
                }
            }
        }
    }
    let info = src.finish();
    sink.finish()?;
    if let Some(file) = report.files.last_mut() {
        file.records = records;
        file.valid = written;
        if let Ok(info) = &info {
            file.sha256 = Some(info.sha256.to_hex());
            file.bytes = info.bytes;
            file.status = "written".into();
            progress.file_done(info.bytes);
        }
    }
    report.records_read += records;
    report.records_valid += written;
    tracing::info!(file = %name, records, written, blanked_columns = blanked, "File pseudonymised.");
    Ok(info.is_err())
}
