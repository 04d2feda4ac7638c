//! Pseudonymised test extracts: every input file rewritten, same name, same
//! columns, with identifiers, names, national numbers, postcodes and
//! addresses replaced by keyed pseudonyms, dates shifted by a keyed
//! per-person offset, and free text scrubbed (see
//! [`casebridge_pseudonymise::scrub`]) of the names, address lines and
//! postcodes of every person in the extract and of values with a
//! recognisable shape (NHS and phone numbers, dates, postcodes, streets).
//!
//! Two passes: the first reads persons, addresses and chronology entries to
//! know who each record is about and every person's names and addresses;
//! the second rewrites the files. Columns no mapping reads are blanked unless kept on
//! purpose, since nothing is known of what they hold.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use casebridge_csv::{CsvSink, CsvSinkConfig};
use casebridge_mapping::{DateFormats, MappedRecord, Mapping, MappingSet, SourceFormat};
use casebridge_model::{rules, Disposition, Encoding, Locator, RecordKind};
use casebridge_sheet::SheetSink;
use casebridge_validate::Report;
use casebridge_xml::{rewrite_file, RewriteConfig, Value, XmlLimits};
use chrono::Duration;
use rustc_hash::FxHashMap;

use crate::export::sink_err;
use crate::pipeline::{FileCtx, Item, Needs, Pipeline, PipelineOptions, Stage, Verdict};
use crate::{display, plan_inputs, source_finding, Error, Limits, NoProgress, Outcome, Progress};
use casebridge_pseudonymise::{scrub, Dictionary, Pseudonymiser, Treatment};

/// Settings of a pseudonymisation run.
#[derive(Debug, Clone)]
pub struct PseudonymiseOptions {
    /// Where the pseudonymised files go (created owner-only if missing).
    pub out_dir: PathBuf,
    /// Copy columns no mapping reads instead of blanking them.
    pub keep_unmapped: bool,
    /// Replace a non-empty output folder as a whole (otherwise refused).
    pub replace: bool,
    /// Resource limits.
    pub limits: Limits,
}

/// What the first pass learns.
#[derive(Debug, Default)]
struct Index {
    /// The names, address lines and postcodes of every person in the
    /// extract: free text is scrubbed of all of them, whoever the record is
    /// about (a note names other children, other parents, neighbours).
    dict: Dictionary,
    /// Workflow step (or other source record) -> its persons.
    groups: FxHashMap<String, BTreeSet<String>>,
}

/// First pass: who each record is about, and the personal words of every
/// person.
struct Learn<'i> {
    pseudo: &'i Pseudonymiser,
    index: &'i mut Index,
}

impl Stage for Learn<'_> {
    fn needs(&self) -> Needs {
        Needs {
            text: true,
            rejected: true,
            ..Needs::default()
        }
    }

    fn record(&mut self, file: &FileCtx<'_>, item: Item<'_>) -> Result<Verdict, Error> {
        let rec = item.mapped;
        let index = &mut *self.index;
        match file.mapping.kind {
            RecordKind::Person => {
                let mut first: Vec<String> = Vec::new();
                let mut last: Vec<String> = Vec::new();
                for f in ["first_name", "middle_names"] {
                    first.extend(text(rec, f));
                }
                last.extend(text(rec, "last_name"));
                if let Some(full) = text(rec, "full_name") {
                    let mut words: Vec<&str> = full.split_whitespace().collect();
                    if let Some(l) = words.pop() {
                        last.push(l.to_string());
                    }
                    first.extend(words.into_iter().map(str::to_string));
                }
                let first: Vec<&str> = first.iter().map(String::as_str).collect();
                let last: Vec<&str> = last.iter().map(String::as_str).collect();
                index.dict.add_person(self.pseudo, &first, &last);
                learn_address(&mut index.dict, rec);
            }
            RecordKind::PersonAddress => learn_address(&mut index.dict, rec),
            _ => {
                if let (Some(g), Some(p)) = (text(rec, "source_record"), text(rec, "person")) {
                    index.groups.entry(g).or_default().insert(p);
                }
            }
        }
        Ok(Verdict::Done(Disposition::Valid))
    }
}

fn learn_address(dict: &mut Dictionary, rec: &MappedRecord) {
    for f in ["address", "locality"] {
        if let Some(a) = rec.get(f).and_then(|s| s.str()) {
            dict.add_address(a);
        }
    }
    if let Some(pc) = rec.get("postcode").and_then(|s| s.str()) {
        dict.add_postcode(pc);
    }
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

/// Pseudonymises `inputs` into `opts.out_dir`: plan, source, map (no
/// check: an extract for testing keeps its faults), and a sink in each
/// input's own format.
pub fn pseudonymise(
    inputs: &[PathBuf],
    mappings: &MappingSet,
    pseudo: &Pseudonymiser,
    opts: &PseudonymiseOptions,
    report: &mut Report,
    progress: &dyn Progress,
) -> Result<Outcome, Error> {
    let plan = plan_inputs(inputs, mappings)?;
    let popts = PipelineOptions {
        check: None,
        show_values: false,
        limits: opts.limits.clone(),
        run_id: String::new(),
    };

    // One output per input: the mappings of a file read in parts are
    // applied together. XML is rewritten in place, so its parts can be;
    // a CSV or workbook extract is one table per file, so not theirs.
    let mut groups: Vec<(PathBuf, Vec<&Mapping>)> = Vec::new();
    for f in &plan.files {
        match groups.iter_mut().find(|(p, _)| *p == f.path) {
            Some((_, ms)) => ms.push(f.mapping),
            None => groups.push((f.path.clone(), vec![f.mapping])),
        }
    }

    // First pass: names, addresses, groups (its events are not the run's).
    let mut index = Index::default();
    {
        let mut silent = ();
        let mut learn = Pipeline::new(popts.clone(), &mut silent, &NoProgress);
        let mut stage = Learn {
            pseudo,
            index: &mut index,
        };
        for f in &plan.files {
            if matches!(
                f.mapping.kind,
                RecordKind::Person | RecordKind::PersonAddress | RecordKind::ChronologyEntry
            ) {
                learn.run_file(&f.path, f.mapping, &mut stage)?;
            }
        }
    }

    // The output folder: locked, written whole in a staging folder beside
    // it, and put in place at the end; never a folder holding an input.
    if let Some(input) = input_inside(&opts.out_dir, &plan) {
        return Err(Error::OutputHoldsInput {
            folder: opts.out_dir.clone(),
            input,
        });
    }
    let out = casebridge_io::OutputDir::create(&opts.out_dir, opts.replace)?;
    let staging = out.path().to_path_buf();
    let at_target = |e: Error| e.at_target(out.path(), out.target());
    let mut pipeline = Pipeline::new(popts, report, progress);
    // A file no single mapping reads cannot be pseudonymised: it is left
    // out of the extract, never copied as it is.
    pipeline.plan_findings(&plan, ": left out of the extract")?;
    for (path, ms) in groups {
        let xml = ms
            .iter()
            .all(|m| m.source.format_of(&path) == SourceFormat::Xml);
        if xml {
            rewrite_xml(&path, &ms, pseudo, opts, &staging, &index, &mut pipeline)
                .map_err(at_target)?;
        } else if ms.len() == 1 {
            let mut stage = Rewrite {
                pseudo,
                opts,
                staging: &staging,
                index: &index,
                file: None,
            };
            pipeline
                .run_file(&path, ms[0], &mut stage)
                .map_err(at_target)?;
        } else {
            pipeline.left_out(
                &display(&path),
                rules::FILE_UNREADABLE,
                format!(
                    "read by {} mappings in parts: pseudonymise writes one table per csv or workbook file; left out",
                    ms.len()
                ),
            )?;
        }
    }
    pipeline.end().map_err(at_target)?;
    let could_not_run = pipeline.could_not_run();
    drop(pipeline);
    crate::check_balance(report)?;
    // The extract appears whole, with what could be pseudonymised (files
    // that could not are reported and left out, never copied as they are).
    out.commit()?;
    Ok(Outcome {
        could_not_run,
        has_errors: report.errors > 0,
    })
}

/// The first planned input inside `folder` (which a replaced output folder
/// would delete).
pub(crate) fn input_inside(folder: &Path, plan: &crate::Plan<'_>) -> Option<PathBuf> {
    let folder = std::fs::canonicalize(folder).ok()?;
    plan.files
        .iter()
        .map(|f| &f.path)
        .chain(plan.unmatched.iter().map(|u| &u.path))
        .find(|p| std::fs::canonicalize(p).is_ok_and(|p| p.starts_with(&folder)))
        .cloned()
}

/// Where a rewritten file goes: the same format as it came in.
enum Sink {
    Csv(Box<CsvSink>),
    Sheet(Box<SheetSink>),
}

impl Sink {
    fn write_row(&mut self, cells: &[String]) -> Result<(), Error> {
        match self {
            Sink::Csv(s) => s.write_row(cells).map_err(sink_err),
            Sink::Sheet(s) => s.write_row(cells).map_err(sink_err),
        }
    }

    fn finish(self) -> Result<(), Error> {
        match self {
            Sink::Csv(s) => s.finish().map(|_| ()).map_err(sink_err),
            Sink::Sheet(s) => s.finish().map_err(sink_err),
        }
    }
}

/// Where `path`'s pseudonymised copy is written (in the staging folder);
/// `Err` (a reason) when its place in the output folder is the input.
fn out_path_of(path: &Path, opts: &PseudonymiseOptions, staging: &Path) -> Result<PathBuf, String> {
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
            return Err("the output would overwrite this input: choose another --out".into());
        }
    }
    Ok(staging.join(file_name))
}

/// A treatment applied to a (not blank) value.
fn apply(
    pseudo: &Pseudonymiser,
    t: Treatment,
    formats: Option<&DateFormats>,
    v: &str,
    offset: impl FnOnce() -> Duration,
    dict: &Dictionary,
) -> String {
    match t {
        Treatment::Keep => v.to_string(),
        Treatment::Identifier => pseudo.identifier(v),
        Treatment::FirstName => pseudo.first_name(v),
        Treatment::LastName => pseudo.last_name(v),
        Treatment::FullName => pseudo.full_name(v),
        Treatment::Nhs => pseudo.nhs(v),
        Treatment::Upn => pseudo.upn(v),
        Treatment::Postcode => pseudo.postcode(v),
        Treatment::Address => pseudo.address(v),
        Treatment::FreeText => scrub(pseudo, v, dict),
        // A date that cannot be read cannot be shifted: blank it.
        Treatment::Date => formats
            .and_then(|f| f.parse_with_format(v.trim()))
            .map(|(dt, f)| f.format(dt + offset()))
            .unwrap_or_default(),
    }
}

/// The file being rewritten: its sink and each column's treatment.
struct RewriteFile {
    sink: Sink,
    /// The treatment of each column: the strictest of the fields reading it.
    treat: Vec<Option<(Treatment, Option<DateFormats>)>>,
    out: Vec<String>,
    written: u64,
    /// The copy's encoding: the input's, so far as it is known.
    encoding: Encoding,
    /// Rows written in UTF-8 in a Windows-1252 copy (see `record`).
    utf8_rows: u64,
}

/// Second pass for a CSV or workbook file: every row written back, in the
/// input's format, with its values treated.
struct Rewrite<'a> {
    pseudo: &'a Pseudonymiser,
    opts: &'a PseudonymiseOptions,
    /// Where the extract's files are written until it is put in place.
    staging: &'a Path,
    index: &'a Index,
    file: Option<RewriteFile>,
}

impl Stage for Rewrite<'_> {
    fn needs(&self) -> Needs {
        Needs {
            raw: true,
            text: true,
            rejected: true,
            records: false,
            unhashed: false,
        }
    }

    fn open(
        &mut self,
        file: &FileCtx<'_>,
        header: &[String],
        part: Option<&str>,
    ) -> Result<(), String> {
        let mapping = file.mapping;
        let out_path = out_path_of(file.path, self.opts, self.staging)?;
        let mut treat: Vec<Option<(Treatment, Option<DateFormats>)>> = vec![None; header.len()];
        for (c, t, formats) in column_treatments(mapping) {
            let Some(i) = header.iter().position(|h| h.trim().eq_ignore_ascii_case(c)) else {
                continue;
            };
            let stricter = match &treat[i] {
                None => true,
                Some((old, _)) => t > *old,
            };
            if stricter {
                treat[i] = Some((t, formats.cloned()));
            }
        }
        // Declared public by the mapping (codes no field reads): kept.
        for c in &mapping.source.public {
            if let Some(i) = header.iter().position(|h| h.trim().eq_ignore_ascii_case(c)) {
                treat[i].get_or_insert((Treatment::Keep, None));
            }
        }
        let csv = mapping.source.csv();
        let sink_cfg = CsvSinkConfig {
            encoding: if csv.encoding == Encoding::Windows1252 {
                Encoding::Windows1252
            } else {
                Encoding::Utf8
            },
            delimiter: csv.delimiter.0,
            crlf: true,
        };
        let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
        let sink = match (file.format, part) {
            (SourceFormat::Xlsx, Some(sheet)) => Sink::Sheet(Box::new(
                SheetSink::create(&out_path, sheet, &header_refs).map_err(|e| crate::chain(&e))?,
            )),
            _ => Sink::Csv(Box::new(
                CsvSink::create(&out_path, &header_refs, &sink_cfg)
                    .map_err(|e| crate::chain(&e))?,
            )),
        };
        self.file = Some(RewriteFile {
            sink,
            treat,
            out: vec![String::new(); header.len()],
            written: 0,
            encoding: sink_cfg.encoding,
            utf8_rows: 0,
        });
        Ok(())
    }

    fn record(&mut self, _: &FileCtx<'_>, item: Item<'_>) -> Result<Verdict, Error> {
        let Some(f) = &mut self.file else {
            return Ok(Verdict::Done(Disposition::Skipped {
                reason: "no output open for this file".into(),
            }));
        };
        if item.encoding == Some(Encoding::Windows1252) {
            // The input held a field that is not UTF-8: the copy keeps
            // the input's encoding.
            f.encoding = Encoding::Windows1252;
        }
        let rec = item.mapped;
        let people = people(rec, self.index);
        let offset_key = people
            .first()
            .cloned()
            .or_else(|| text(rec, "source_key"))
            .or_else(|| text(rec, "form_id"))
            .unwrap_or_default();
        let offset = Duration::days(self.pseudo.date_offset_days(&offset_key));
        let dict = &self.index.dict;
        f.out
            .resize(item.raw.len().max(f.treat.len()), String::new());
        for (i, v) in item.raw.iter().enumerate() {
            f.out[i] = match f.treat.get(i).and_then(Option::as_ref) {
                // Kept on purpose, but nothing is known of what it holds:
                // scrubbed as free text.
                None if self.opts.keep_unmapped => scrub(self.pseudo, v, dict),
                None => String::new(),
                Some(_) if v.trim().is_empty() => v.clone(),
                Some((t, formats)) => apply(self.pseudo, *t, formats.as_ref(), v, || offset, dict),
            };
        }
        f.out.truncate(f.treat.len());
        if let Sink::Csv(s) = &mut f.sink {
            // A letter Windows-1252 has no byte for (`Ł`) came from a
            // field that was UTF-8 in the input (an `auto` file mixing
            // both): its row is written in UTF-8, as it was read, rather
            // than with `&#321;` in its place.
            let lacks = f.encoding == Encoding::Windows1252
                && f.out
                    .iter()
                    .any(|v| casebridge_csv::windows_1252_lacks(v).is_some());
            f.utf8_rows += u64::from(lacks);
            let row = if lacks { Encoding::Utf8 } else { f.encoding };
            s.set_encoding(row).map_err(sink_err)?;
        }
        f.sink.write_row(&f.out)?;
        f.written += 1;
        Ok(Verdict::Done(Disposition::Valid))
    }

    fn close(
        &mut self,
        file: &FileCtx<'_>,
        _: Option<&casebridge_model::Sha256>,
    ) -> Result<(), Error> {
        if let Some(f) = self.file.take() {
            let blanked = f.treat.iter().filter(|t| t.is_none()).count();
            f.sink.finish()?;
            tracing::info!(file = %file.name, written = f.written, blanked_columns = blanked, utf8_rows = f.utf8_rows, "File pseudonymised.");
        }
        Ok(())
    }
}

/// One mapping's part of an XML file: what the first pass learned of each
/// of its records (by index, as the reader counts them): its date offset.
struct Part {
    /// Elements in the record path (the innermost open record wins).
    depth: usize,
    /// Offset in days per record; `i16::MIN`: not known (record unreadable).
    offsets: Vec<i16>,
}

/// How a target path is treated.
struct TargetTreatment<'m> {
    part: usize,
    treatment: Treatment,
    formats: Option<&'m DateFormats>,
}

/// The targets (record path index, field path) of the mappings reading one
/// XML file, each with its treatment: the field's, except that a column of
/// a key made of several is an identifier only where no other field of the
/// mapping reads it (a CIN episode's key is its child's id and its referral
/// date: the date stays a date, shifted with the child's other dates).
fn xml_targets<'m>(mappings: &[&'m Mapping]) -> (Vec<(usize, String)>, Vec<TargetTreatment<'m>>) {
    let mut targets = Vec::new();
    let mut treatments = Vec::new();
    for (part, m) in mappings.iter().enumerate() {
        for (c, treatment, formats) in column_treatments(m) {
            targets.push((part, c.to_string()));
            treatments.push(TargetTreatment {
                part,
                treatment,
                formats,
            });
        }
        // Values the mapping declares public (codes, the return's header):
        // kept, unless a field reads them too (the strictest wins).
        for c in &m.source.public {
            targets.push((part, c.clone()));
            treatments.push(TargetTreatment {
                part,
                treatment: Treatment::Keep,
                formats: None,
            });
        }
    }
    (targets, treatments)
}

type FieldSources<'m> = [(
    &'static casebridge_model::FieldDef,
    Vec<&'m str>,
    Option<&'m DateFormats>,
)];

/// Whether a field other than `field` reads column `c` alone.
/// Each column (or XML path) a mapping reads, with its treatment: its
/// field's, except that a column of a key made of several is treated as
/// the field that reads it alone, when one does (an SSDA903 episode's
/// DECOM, a CIN episode's referral date: a date, shifted with the child's
/// other dates), and as an identifier otherwise. CSV and XML alike.
fn column_treatments(m: &Mapping) -> Vec<(&str, Treatment, Option<&DateFormats>)> {
    let sources = m.field_sources();
    let mut out = Vec::new();
    for (def, cols, formats) in &sources {
        for c in cols {
            let t = if cols.len() > 1 && def.is_key {
                if read_alone(&sources, def.name, c) {
                    continue;
                }
                Treatment::Identifier
            } else {
                Treatment::of(def)
            };
            out.push((*c, t, *formats));
        }
    }
    out
}

fn read_alone(sources: &FieldSources<'_>, field: &str, c: &str) -> bool {
    sources
        .iter()
        .any(|(d, cs, _)| d.name != field && cs.len() == 1 && cs[0] == c)
}

/// First pass over one mapping's part of an XML file: each record's date
/// offset.
struct XmlLearn<'a> {
    pseudo: &'a Pseudonymiser,
    index: &'a Index,
    part: Part,
}

impl Stage for XmlLearn<'_> {
    fn needs(&self) -> Needs {
        Needs {
            text: true,
            rejected: true,
            ..Needs::default()
        }
    }

    fn record(&mut self, _: &FileCtx<'_>, item: Item<'_>) -> Result<Verdict, Error> {
        let at = match item.locator {
            Locator::XmlPath { index, .. } => usize::try_from(*index).ok(),
            _ => None,
        };
        let Some(i) = at.filter(|i| *i >= 1) else {
            return Ok(Verdict::Done(Disposition::Valid));
        };
        let rec = item.mapped;
        let people = people(rec, self.index);
        let offset_key = people
            .first()
            .cloned()
            .or_else(|| text(rec, "source_key"))
            .or_else(|| text(rec, "form_id"))
            .unwrap_or_default();
        let part = &mut self.part;
        if part.offsets.len() < i {
            part.offsets.resize(i, i16::MIN);
        }
        part.offsets[i - 1] = self.pseudo.date_offset_days(&offset_key) as i16;
        Ok(Verdict::Done(Disposition::Valid))
    }
}

/// Pseudonymises one XML file read by `mappings` (one or several parts):
/// a first pass per mapping (through the pipeline, which accounts for its
/// records) learns each record's people and date offset, then the
/// document is streamed once to the output with every value treated by
/// the strictest field reading it, and values nothing reads blanked unless
/// kept.
#[allow(clippy::too_many_arguments)]
fn rewrite_xml(
    path: &Path,
    mappings: &[&Mapping],
    pseudo: &Pseudonymiser,
    opts: &PseudonymiseOptions,
    staging: &Path,
    index: &Index,
    pipeline: &mut Pipeline<'_>,
) -> Result<(), Error> {
    let name = display(path);
    let out_path = match out_path_of(path, opts, staging) {
        Ok(p) => p,
        Err(reason) => return pipeline.left_out(&name, rules::FILE_UNREADABLE, reason),
    };
    let mut parts = Vec::with_capacity(mappings.len());
    for m in mappings {
        let mut stage = XmlLearn {
            pseudo,
            index,
            part: Part {
                depth: m
                    .source
                    .record()
                    .unwrap_or("")
                    .trim_matches('/')
                    .split('/')
                    .count(),
                offsets: Vec::new(),
            },
        };
        if !pipeline.run_file(path, m, &mut stage)? {
            // Unreadable (a DTD, malformed XML...): never written.
            return Ok(());
        }
        parts.push(stage.part);
    }
    let (targets, treatments) = xml_targets(mappings);
    let config = RewriteConfig {
        record_paths: mappings
            .iter()
            .map(|m| m.source.record().unwrap_or_default().to_string())
            .collect(),
        targets,
        keep_markup: opts.keep_unmapped,
        limits: XmlLimits {
            max_depth: opts.limits.max_xml_depth,
            max_record_bytes: opts.limits.max_record_bytes,
            max_token_bytes: opts.limits.max_xml_token_bytes,
        },
    };
    let mut edit = |v: &Value<'_>| -> Option<String> {
        // The strictest treatment of the fields reading the value, the
        // first such field on a tie.
        let Some(best) = v
            .targets
            .iter()
            .map(|&t| &treatments[t as usize])
            .reduce(|a, b| if b.treatment > a.treatment { b } else { a })
        else {
            // Kept on purpose (`--keep-unmapped`), unknown values are
            // scrubbed as free text; otherwise blanked.
            if !opts.keep_unmapped {
                return Some(String::new());
            }
            return v
                .text
                .filter(|t| !t.trim().is_empty())
                .map(|t| scrub(pseudo, t, &index.dict))
                .filter(|s| s != v.text.unwrap_or_default());
        };
        let Some(value) = v.text else {
            // Cannot be read, so cannot be treated: blanked.
            return Some(String::new());
        };
        if value.trim().is_empty() || best.treatment == Treatment::Keep {
            return None;
        }
        // The record whose people the value belongs to: the one of the
        // part reading it, else the innermost open one, else (a context
        // value, read before its record) the part's next record.
        let (p, i) = match v.records[best.part].open {
            Some(i) => (best.part, i),
            None => v
                .records
                .iter()
                .enumerate()
                .filter_map(|(p, r)| r.open.map(|i| (p, i)))
                .max_by_key(|(p, _)| parts[*p].depth)
                .unwrap_or((best.part, v.records[best.part].seen + 1)),
        };
        let i = usize::try_from(i).unwrap_or(usize::MAX).saturating_sub(1);
        let part = &parts[p];
        let offset = || {
            Duration::days(match part.offsets.get(i) {
                Some(&o) if o != i16::MIN => i64::from(o),
                _ => pseudo.date_offset_days(""),
            })
        };
        Some(apply(
            pseudo,
            best.treatment,
            best.formats,
            value,
            offset,
            &index.dict,
        ))
    };
    let info = match rewrite_file(path, &out_path, &config, &mut edit) {
        Ok(info) => info,
        Err(e) => {
            pipeline.set_could_not_run();
            return pipeline.finding(source_finding(&e, &name, SourceFormat::Xml));
        }
    };
    tracing::info!(
        file = %name,
        values = info.values,
        replaced = info.replaced,
        "File pseudonymised."
    );
    Ok(())
}
