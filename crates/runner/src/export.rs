//! `casebridge export`: records read through one mapping set, written
//! through another (in reverse) or as canonical records.
//!
//! One pipeline: plan -> source -> map -> check -> the [`Export`] stage,
//! which hands each valid record to the writer of its kind. Rejected
//! records stop at the check stage (they are in the report, not in the
//! output). Everything is written into a staging folder beside `--out` and
//! put in place when the run ends ([`casebridge_io::OutputDir`]).
//!
//! Targets:
//! - `jsonl`: canonical JSON Lines, one file per kind (`person.jsonl`);
//! - `csv`, `xlsx`: canonical tables, one per kind: `id`, `source_keys`,
//!   the kind's fields, `extras` (JSON);
//! - a mapping set: each record through the set's mapping of its kind, in
//!   reverse, in that mapping's format (CSV as the mapping reads: delimiter,
//!   encoding; XLSX with typed cells), file named from its glob.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use casebridge_csv::{CsvSink, CsvSinkConfig};
use casebridge_jsonl::JsonlSink;
use casebridge_mapping::{
    AnswerRow, Cell, FieldIssue, FormPivot, Mapping, MappingSet, RowWriter, SourceFormat,
};
use casebridge_model::{
    rules, Disposition, Encoding, FieldType, Finding, Locator, Provenance, Record, RecordKind,
    RecordSink, Sha256, SinkError,
};
use casebridge_sheet::{SheetCell, SheetSink};
use casebridge_validate::Report;
use casebridge_xml::{XmlLayout, XmlWriter};
use chrono::NaiveDate;
use serde_json::Value as Json;

use crate::pipeline::{FileCtx, Item, Needs, Pipeline, PipelineOptions, Stage, Verdict};
use crate::{check_balance, plan_inputs, Error, Limits, Outcome, Progress};

/// What `export` writes.
#[derive(Debug)]
pub enum ExportTarget {
    /// Canonical JSON Lines.
    Jsonl,
    /// Canonical CSV tables.
    Csv,
    /// Canonical XLSX tables.
    Xlsx,
    /// The files a mapping set reads, each through its mapping in reverse;
    /// `format` overrides a mapping whose glob allows CSV and XLSX.
    Set {
        /// The set.
        set: MappingSet,
        /// CSV or XLSX for every table.
        format: Option<SourceFormat>,
    },
}

/// Options of an export.
#[derive(Debug)]
pub struct ExportOptions {
    /// The output folder.
    pub out_dir: PathBuf,
    /// Replace a non-empty output folder.
    pub replace: bool,
    /// What to write.
    pub target: ExportTarget,
    /// The check stage's date.
    pub as_of: NaiveDate,
    /// Values in findings.
    pub show_values: bool,
    /// Resource limits.
    pub limits: Limits,
}

/// What was written: file name, records.
#[derive(Debug, Default)]
pub struct ExportSummary {
    /// Each output file and its records, in name order.
    pub files: Vec<(String, u64)>,
}

/// Exports `inputs` read through `mappings`.
pub fn export(
    inputs: &[PathBuf],
    mappings: &MappingSet,
    opts: &ExportOptions,
    report: &mut Report,
    progress: &dyn Progress,
) -> Result<(Outcome, ExportSummary), Error> {
    let plan = plan_outside(inputs, mappings, &opts.out_dir)?;
    let out = casebridge_io::OutputDir::create(&opts.out_dir, opts.replace)?;
    // Records written as JSON Lines carry their provenance, whose file
    // SHA-256 the pipeline knows only at the end of the file: they are
    // written with a placeholder of the hash's width, filled in place when
    // the file closes (`JsonlSink::fill_pending`), so the inputs are read
    // once.
    let popts = PipelineOptions::checked(opts.as_of, opts.show_values, opts.limits.clone());
    let mut stage = Export::new(
        &opts.target,
        out.path().to_path_buf(),
        opts.show_values,
        BTreeMap::new(),
    )
    .with_sheet_rows(opts.limits.max_sheet_rows);
    let could_not_run;
    let staged = |e: Error| e.at_target(out.path(), out.target());
    {
        let mut pipeline = Pipeline::new(popts, report, progress);
        pipeline.run(&plan, "", &mut stage).map_err(staged)?;
        pipeline.end().map_err(staged)?;
        could_not_run = pipeline.could_not_run();
    }
    let summary = ExportSummary {
        files: stage.finish().map_err(staged)?,
    };
    out.commit()?;
    check_balance(report)?;
    Ok((
        Outcome {
            could_not_run: could_not_run || !report.unbalanced().is_empty(),
            has_errors: report.errors > 0,
        },
        summary,
    ))
}

/// The plan of `inputs`, refused when the output folder holds one of them
/// (replacing or writing into it would lose an input).
pub(crate) fn plan_outside<'m>(
    inputs: &[PathBuf],
    mappings: &'m MappingSet,
    out_dir: &Path,
) -> Result<crate::Plan<'m>, Error> {
    let plan = plan_inputs(inputs, mappings)?;
    if let Some(input) = crate::pseudonymise::input_inside(out_dir, &plan) {
        return Err(Error::OutputHoldsInput {
            folder: out_dir.to_path_buf(),
            input,
        });
    }
    Ok(plan)
}

/// Opens an output file's writer at its path.
type MakeWriter<'a, 't> = Box<dyn FnOnce(&Path) -> Result<Writer<'t>, Error> + 'a>;

/// Decides, record by record, whether the export stage writes a record,
/// and hears of each one written: `migrate`'s nightly versioning.
pub(crate) trait Gate {
    /// `Some(reason)`: the record is not written (unchanged), and is
    /// skipped with that reason.
    fn admit(&mut self, file: &FileCtx<'_>, record: &Record) -> Result<Option<String>, Error>;
    /// The record was written, with `provenance`. The stage may have
    /// taken the provenance out of `record` (so that it is not copied to
    /// be left out), or left it in.
    fn written(
        &mut self,
        file: &FileCtx<'_>,
        record: &Record,
        provenance: &[Provenance],
    ) -> Result<(), Error>;
    /// The record is in the input but broke a rule: not written.
    fn present(&mut self, _record: &Record) -> Result<(), Error> {
        Ok(())
    }
}

/// The export stage.
pub(crate) struct Export<'t> {
    /// Versioning of a migration run; `None`: every record is written.
    pub(crate) gate: Option<Box<dyn Gate + 't>>,
    target: &'t ExportTarget,
    dir: PathBuf,
    writers: BTreeMap<String, Writer<'t>>,
    findings: Vec<Finding>,
    show_values: bool,
    /// Form answers of the file being read, pivoted when it closes.
    answers: Vec<AnswerRow>,
    /// Where each form's answers were read, by form id: the forms'
    /// provenance (one entry per answer row).
    places: BTreeMap<String, Vec<Locator>>,
    /// The run id written into the forms' provenance.
    pub(crate) run_id: String,
    /// Each input's SHA-256 when known before the run (migrate hashes its
    /// inputs first); otherwise JSON Lines records carry a placeholder
    /// filled when the file closes.
    hashes: BTreeMap<PathBuf, Sha256>,
    cells: Vec<Cell>,
    /// The rows of a record written as several (a form's answers).
    rows: Vec<Vec<Cell>>,
    /// The encoding the form-answer file being read was found in.
    encoding: Option<Encoding>,
    issues: Vec<FieldIssue>,
    /// The output file each kind's records go to, once it is open: the
    /// name is worked out (mapping found, glob turned into a file name)
    /// once, not for every record.
    names: BTreeMap<RecordKind, String>,
    /// Rows a sheet written takes ([`Limits::max_sheet_rows`]).
    sheet_rows: u32,
}

/// One output file.
enum Writer<'t> {
    Jsonl(Box<JsonlSink>, u64),
    Xml(Box<XmlDoc<'t>>),
    Table {
        sink: Table,
        how: Columns<'t>,
        rows: u64,
    },
}

enum Table {
    Csv(Box<CsvSink>),
    Sheet(Box<SheetSink>),
}

/// How a table's cells come from a record.
enum Columns<'t> {
    /// Canonical columns of a kind.
    Canonical(Vec<String>, RecordKind),
    /// A mapping in reverse.
    Mapping(RowWriter<'t>),
}

impl Columns<'_> {
    /// The table's column names, in order.
    fn names(&self) -> &[String] {
        match self {
            Columns::Canonical(cols, _) => cols,
            Columns::Mapping(rw) => rw.columns(),
        }
    }
}

/// A sink's error, its chain of causes kept (each said once).
pub(crate) fn sink_err(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Sink(SinkError::Output(Box::new(e)))
}

/// An XML document of a mapping set (a CIN return): its top-level
/// records with their nested records, gathered as `(path, text)` pairs and
/// written when the run ends (nested records are grouped under their
/// parent, wherever they were read).
struct XmlDoc<'t> {
    path: PathBuf,
    /// The set's mappings writing this document: the top-level one first.
    writers: Vec<RowWriter<'t>>,
    /// Per mapping: its records' pairs.
    records: Vec<Vec<Vec<(String, String)>>>,
    /// Elements outside the records (the return's header), first seen kept.
    document: Vec<(String, String)>,
    /// The keys of the top-level records taken.
    keys: std::collections::HashSet<String>,
}

type Pairs = Vec<(String, String)>;

impl<'t> XmlDoc<'t> {
    fn new(path: PathBuf, set: &'t MappingSet, glob: &str) -> Result<XmlDoc<'t>, String> {
        let mut ms: Vec<&Mapping> = set
            .mappings
            .iter()
            .filter(|m| m.source.glob == glob && m.source.record().is_some())
            .collect();
        ms.sort_by_key(|m| m.source.record().map_or(0, |r| r.split('/').count()));
        if ms.is_empty() {
            return Err("no XML mapping".into());
        }
        let n = ms.len();
        Ok(XmlDoc {
            path,
            writers: ms.into_iter().map(Mapping::writer).collect(),
            records: vec![Vec::new(); n],
            document: Vec::new(),
            keys: Default::default(),
        })
    }

    /// Pairs of a written row: values no field reads (carried, as the
    /// reader joined repeats with `;`) split back into repeats; the
    /// absolute paths taken as the document's.
    /// Takes a record's row; `Err` when it is a nested record whose parent
    /// is not among the records taken (parents are read first: persons
    /// before the other kinds).
    fn push(&mut self, which: usize, cells: &[Cell]) -> Result<(), String> {
        let rw = &self.writers[which];
        let fields: Vec<&str> = rw.mapping().columns().into_iter().map(|(c, _)| c).collect();
        let mut pairs = Vec::new();
        for (col, cell) in rw.columns().iter().zip(cells) {
            let text = cell.text();
            if text.is_empty() {
                continue;
            }
            if col.starts_with('/') {
                if !self.document.iter().any(|(p, _)| p == col) {
                    self.document.push((col.clone(), text.to_string()));
                }
                continue;
            }
            if fields.contains(&col.as_str()) {
                pairs.push((col.clone(), text.to_string()));
            } else {
                pairs.extend(text.split(';').map(|t| (col.clone(), t.trim().to_string())));
            }
        }
        let top_key = self.writers[0]
            .mapping()
            .column_of("source_key")
            .unwrap_or("");
        if which == 0 {
            if let Some((_, k)) = pairs.iter().find(|(p, _)| p == top_key) {
                self.keys.insert(k.clone());
            }
        } else {
            let link = format!("../{top_key}");
            let parent = pairs.iter().find(|(p, _)| *p == link).map(|(_, k)| k);
            if !parent.is_some_and(|k| self.keys.contains(k)) {
                return Err(format!(
                    "its parent record ({}) is not among those written: it cannot stand alone in the document",
                    self.writers[0].mapping().kind
                ));
            }
        }
        self.records[which].push(pairs);
        Ok(())
    }

    fn which(&self, mapping: &Mapping) -> Option<usize> {
        self.writers
            .iter()
            .position(|w| w.mapping().id == mapping.id)
    }

    fn finish(self) -> Result<u64, Error> {
        let bad = |e: casebridge_xml::Error| sink_err(e);
        let top = self.writers[0].mapping();
        let record = top.source.record().unwrap_or("");
        let key = top.column_of("source_key").unwrap_or("").to_string();
        let mut layout = XmlLayout::new(record, self.writers[0].columns()).map_err(bad)?;
        let mut links = Vec::new();
        for w in &self.writers[1..] {
            let link = format!("../{key}");
            layout = layout
                .nested(
                    w.mapping().source.record().unwrap_or(""),
                    w.columns(),
                    &link,
                    &key,
                )
                .map_err(bad)?;
            links.push(link);
        }
        for (p, t) in &self.document {
            layout = layout.document(p, t).map_err(bad)?;
        }
        let file = casebridge_io::OutputFile::create(&self.path)?;
        let mut out = XmlWriter::new(std::io::BufWriter::new(file), layout).map_err(bad)?;
        let mut by_parent: Vec<BTreeMap<String, Vec<Pairs>>> = Vec::new();
        for (i, link) in links.iter().enumerate() {
            let mut m: BTreeMap<String, Vec<Pairs>> = BTreeMap::new();
            for r in &self.records[i + 1] {
                let k = r.iter().find(|(p, _)| p == link).map(|(_, t)| t.clone());
                m.entry(k.unwrap_or_default()).or_default().push(r.clone());
            }
            by_parent.push(m);
        }
        let mut n = 0u64;
        for r in &self.records[0] {
            let k = r
                .iter()
                .find(|(p, _)| *p == key)
                .map(|(_, t)| t.as_str())
                .unwrap_or("");
            let nested: Vec<casebridge_xml::Nested<String, String>> = by_parent
                .iter_mut()
                .enumerate()
                .map(|(i, m)| (i, m.remove(k).unwrap_or_default()))
                .collect();
            out.record(r, &nested).map_err(bad)?;
            n += 1;
        }
        let buf = out.finish().map_err(bad)?;
        let file = buf.into_inner().map_err(|e| sink_err(e.into_error()))?;
        file.finish()?;
        Ok(n)
    }
}

impl Writer<'_> {
    fn has_pending(&self) -> bool {
        matches!(self, Writer::Jsonl(s, _) if s.has_pending())
    }

    fn finish(self) -> Result<u64, Error> {
        match self {
            Writer::Xml(d) => d.finish(),
            Writer::Jsonl(s, n) => {
                s.finish_records()?;
                Ok(n)
            }
            Writer::Table { sink, rows, .. } => {
                match sink {
                    Table::Csv(s) => {
                        s.finish().map_err(sink_err)?;
                    }
                    Table::Sheet(s) => s.finish().map_err(sink_err)?,
                }
                Ok(rows)
            }
        }
    }
}

/// The SHA-256 of a file's bytes.
pub(crate) fn hash_file(path: &Path) -> std::io::Result<Sha256> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(Sha256(h.finalize().into()))
}

/// The canonical columns of a kind's table.
pub fn canonical_columns(kind: RecordKind) -> Vec<String> {
    let mut cols = vec!["id".to_string(), "source_keys".to_string()];
    match kind {
        RecordKind::WorkbookForm => cols.extend(
            [
                "template_id",
                "template_version",
                "form_code",
                "status",
                "workflow_step_id",
                "subjects",
                "sections",
            ]
            .map(String::from),
        ),
        _ => {
            for def in kind.fields() {
                if def.is_key {
                    continue;
                }
                let name = match (kind, def.name) {
                    (RecordKind::CaseNote | RecordKind::ChronologyEntry, "person") => "subjects",
                    (_, n) => n,
                };
                cols.push(name.to_string());
            }
        }
    }
    cols.push("extras".to_string());
    cols
}

/// The file a mapping's glob names: `DM_PERSONS*.{csv,xlsx}` ->
/// `DM_PERSONS.csv` (or `.xlsx`), `*episodes*.csv` -> `episodes.csv`.
pub fn file_name_of(glob: &str, format: SourceFormat) -> String {
    let ext = match format {
        SourceFormat::Xlsx => "xlsx",
        SourceFormat::Xml => "xml",
        SourceFormat::Jsonl => "jsonl",
        SourceFormat::Csv => "csv",
    };
    let stem = match glob.find('.') {
        Some(i) => &glob[..i],
        None => glob,
    };
    let stem: String = stem
        .chars()
        .filter(|c| !matches!(c, '*' | '?' | '[' | ']' | '{' | '}'))
        .collect();
    let stem = stem.trim_matches(['_', '-', ' ']);
    let stem = if stem.is_empty() { "records" } else { stem };
    format!("{stem}.{ext}")
}

/// The format a target mapping writes: XLSX or CSV as its glob says (the
/// first named), or `over` when the glob allows it.
fn format_of(mapping: &Mapping, over: Option<SourceFormat>) -> SourceFormat {
    if let Some(f) = mapping.source.format {
        return f;
    }
    let g = mapping.source.glob.to_ascii_lowercase();
    let csv = g.find("csv");
    let xlsx = g.find("xlsx");
    match (over, csv, xlsx) {
        (Some(o), _, _) if g.contains(o.as_str()) => o,
        (_, Some(c), Some(x)) if x < c => SourceFormat::Xlsx,
        (_, None, Some(_)) => SourceFormat::Xlsx,
        _ => SourceFormat::Csv,
    }
}

impl<'t> Export<'t> {
    /// A stage writing `target` into `dir`; `hashes` are the inputs'
    /// SHA-256s, taken before the run, for the records' provenance.
    pub(crate) fn new(
        target: &'t ExportTarget,
        dir: PathBuf,
        show_values: bool,
        hashes: BTreeMap<PathBuf, Sha256>,
    ) -> Export<'t> {
        Export {
            gate: None,
            target,
            dir,
            writers: BTreeMap::new(),
            findings: Vec::new(),
            show_values,
            answers: Vec::new(),
            places: BTreeMap::new(),
            run_id: String::new(),
            hashes,
            cells: Vec::new(),
            rows: Vec::new(),
            encoding: None,
            issues: Vec::new(),
            names: BTreeMap::new(),
            sheet_rows: casebridge_sheet::MAX_ROWS,
        }
    }

    /// At most `rows` rows a sheet written, its header's among them.
    pub(crate) fn with_sheet_rows(mut self, rows: u32) -> Export<'t> {
        self.sheet_rows = rows;
        self
    }

    /// Closes every output file: each file's name and records, in name order.
    pub(crate) fn finish(&mut self) -> Result<Vec<(String, u64)>, Error> {
        let mut files = Vec::new();
        self.names.clear();
        for (name, w) in std::mem::take(&mut self.writers) {
            files.push((name, w.finish()?));
        }
        Ok(files)
    }

    /// Writes one record that no source row is being read for (a withdrawn
    /// record's last version); `file` names where it was last read.
    pub(crate) fn write_record(
        &mut self,
        file: &FileCtx<'_>,
        record: &Record,
    ) -> Result<Verdict, Error> {
        self.write(file, record, &Locator::File, None, false)
    }

    /// The writer for a record of `kind`; `None` (with the reason) when
    /// the target has no mapping for it.
    fn writer(
        &mut self,
        kind: RecordKind,
        first: Option<&Record>,
    ) -> Result<Result<&mut Writer<'t>, String>, Error> {
        if let Some(name) = self.names.get(&kind) {
            return Ok(self
                .writers
                .get_mut(name)
                .ok_or_else(|| "no writer".to_string()));
        }
        let sheet_rows = self.sheet_rows;
        let (name, make): (String, MakeWriter<'_, 't>) = match self.target {
            ExportTarget::Jsonl => (
                format!("{kind}.jsonl"),
                Box::new(|p: &Path| Ok(Writer::Jsonl(Box::new(JsonlSink::create(p)?), 0))),
            ),
            ExportTarget::Csv | ExportTarget::Xlsx => {
                let xlsx = matches!(self.target, ExportTarget::Xlsx);
                let cols = canonical_columns(kind);
                let name = format!("{kind}.{}", if xlsx { "xlsx" } else { "csv" });
                (
                    name,
                    Box::new(move |p: &Path| {
                        let header: Vec<&str> = cols.iter().map(String::as_str).collect();
                        let sink = if xlsx {
                            Table::Sheet(Box::new(
                                SheetSink::create(p, kind.as_str(), &header)
                                    .and_then(SheetSink::as_table)
                                    .map(|s| s.with_max_rows(sheet_rows))
                                    .map_err(sink_err)?,
                            ))
                        } else {
                            Table::Csv(Box::new(
                                CsvSink::create(p, &header, &CsvSinkConfig::default())
                                    .map_err(sink_err)?,
                            ))
                        };
                        Ok(Writer::Table {
                            sink,
                            how: Columns::Canonical(cols, kind),
                            rows: 0,
                        })
                    }),
                )
            }
            ExportTarget::Set { set, format } => {
                let Some(m) = set.mappings.iter().find(|m| m.kind == writes(kind)) else {
                    return Ok(Err(format!(
                        "the target set has no mapping for {kind} records"
                    )));
                };
                let fmt = format_of(m, *format);
                let name = file_name_of(&m.source.glob, fmt);
                if fmt == SourceFormat::Xml {
                    if !self.writers.contains_key(&name) {
                        let doc = match XmlDoc::new(self.dir.join(&name), set, &m.source.glob) {
                            Ok(d) => d,
                            Err(reason) => return Ok(Err(reason)),
                        };
                        self.writers
                            .insert(name.clone(), Writer::Xml(Box::new(doc)));
                    }
                    self.names.insert(kind, name.clone());
                    return Ok(self
                        .writers
                        .get_mut(&name)
                        .ok_or_else(|| "no writer".to_string()));
                }
                (
                    name,
                    Box::new(move |p: &Path| {
                        let mut rw = m.writer();
                        if let Some(r) = first {
                            rw.add_carried(r);
                        }
                        let header: Vec<&str> = rw.columns().iter().map(String::as_str).collect();
                        let sink = match fmt {
                            SourceFormat::Xlsx => {
                                let sheet = m.source.sheet().unwrap_or("Sheet1");
                                Table::Sheet(Box::new(
                                    SheetSink::create(p, sheet, &header)
                                        .and_then(SheetSink::as_table)
                                        .map(|s| s.with_max_rows(sheet_rows))
                                        .map_err(sink_err)?,
                                ))
                            }
                            _ => {
                                let o = m.source.csv();
                                let config = CsvSinkConfig {
                                    encoding: match o.encoding {
                                        Encoding::Windows1252 => Encoding::Windows1252,
                                        _ => Encoding::Utf8,
                                    },
                                    delimiter: o.delimiter.0,
                                    crlf: true,
                                };
                                Table::Csv(Box::new(
                                    CsvSink::create(p, &header, &config).map_err(sink_err)?,
                                ))
                            }
                        };
                        Ok(Writer::Table {
                            sink,
                            how: Columns::Mapping(rw),
                            rows: 0,
                        })
                    }),
                )
            }
        };
        if !self.writers.contains_key(&name) {
            let w = make(&self.dir.join(&name))?;
            self.writers.insert(name.clone(), w);
        }
        self.names.insert(kind, name.clone());
        Ok(self
            .writers
            .get_mut(&name)
            .ok_or_else(|| "no writer".to_string()))
    }

    /// Writes one record; `Err(rules)` when a value cannot be written.
    fn write(
        &mut self,
        file: &FileCtx<'_>,
        record: &Record,
        locator: &Locator,
        encoding: Option<Encoding>,
        pending: bool,
    ) -> Result<Verdict, Error> {
        if let Some(gate) = &mut self.gate {
            if let Some(reason) = gate.admit(file, record)? {
                return Ok(Verdict::Done(Disposition::Skipped { reason }));
            }
        }
        let verdict = self.write_now(file, record, locator, encoding, pending)?;
        if let (Some(gate), Verdict::Done(Disposition::Valid)) = (&mut self.gate, &verdict) {
            gate.written(file, record, &record.header().provenance)?;
        }
        Ok(verdict)
    }

    /// [`Export::write`] of a record the stage owns: to a JSON Lines
    /// sink it is handed over whole, to be serialised (and dropped) on the
    /// sink's writer thread.
    fn write_owned(
        &mut self,
        file: &FileCtx<'_>,
        mut record: Record,
        locator: &Locator,
        encoding: Option<Encoding>,
        pending: bool,
    ) -> Result<Verdict, Error> {
        // Known from the target, before any writer (and its file) is made:
        // the gate decides first, as for every other target.
        if !matches!(self.target, ExportTarget::Jsonl) {
            return self.write(file, &record, locator, encoding, pending);
        }
        if let Some(gate) = &mut self.gate {
            if let Some(reason) = gate.admit(file, &record)? {
                return Ok(Verdict::Done(Disposition::Skipped { reason }));
            }
            // A JSON Lines line is always written: the gate hears of it
            // before the record is handed over.
            let provenance = std::mem::take(&mut record.header_mut().provenance);
            let heard = gate.written(file, &record, &provenance);
            record.header_mut().provenance = provenance;
            heard?;
        }
        match self.writer(record.kind(), Some(&record))? {
            Ok(Writer::Jsonl(s, n)) => {
                s.write_owned(record, pending)?;
                *n += 1;
                Ok(Verdict::Done(Disposition::Valid))
            }
            // A JSON Lines target has a writer for every kind.
            _ => Err(Error::Sink(casebridge_model::SinkError::Output(Box::new(
                std::io::Error::other(format!("no JSON Lines writer for {}", record.kind())),
            )))),
        }
    }

    fn write_now(
        &mut self,
        file: &FileCtx<'_>,
        record: &Record,
        locator: &Locator,
        encoding: Option<Encoding>,
        pending: bool,
    ) -> Result<Verdict, Error> {
        let show = self.show_values;
        let mut cells = std::mem::take(&mut self.cells);
        let mut issues = std::mem::take(&mut self.issues);
        let mut many = std::mem::take(&mut self.rows);
        issues.clear();
        let target = self.target;
        let verdict = match self.writer(record.kind(), Some(record))? {
            Err(reason) => {
                self.findings.push(
                    Finding::new(
                        rules::EXPORT_NO_TARGET,
                        &file.name,
                        locator.line(),
                        None,
                        reason.clone(),
                    )
                    .at_locator(Some(locator)),
                );
                Verdict::Done(Disposition::Skipped { reason })
            }
            Ok(Writer::Jsonl(s, n)) => {
                if pending {
                    s.write_record_pending(record)?;
                } else {
                    s.write_record(record)?;
                }
                *n += 1;
                Verdict::Done(Disposition::Valid)
            }
            Ok(Writer::Xml(doc)) => {
                let which = match target {
                    ExportTarget::Set { set, .. } => set
                        .mappings
                        .iter()
                        .find(|m| m.kind == writes(record.kind()))
                        .and_then(|m| doc.which(m)),
                    _ => None,
                };
                match which {
                    Some(i) => {
                        doc.writers[i].write(record, &mut cells, &mut issues, show);
                        if issues.is_empty() {
                            if let Err(message) = doc.push(i, &cells) {
                                issues.push(FieldIssue {
                                    rule: rules::EXPORT_VALUE,
                                    field: "-",
                                    column: String::new(),
                                    message,
                                    value: None,
                                });
                            }
                        }
                    }
                    None => issues.push(FieldIssue {
                        rule: rules::EXPORT_VALUE,
                        field: "-",
                        column: String::new(),
                        message: "no XML mapping of the target writes this kind".into(),
                        value: None,
                    }),
                }
                if issues.is_empty() {
                    Verdict::Done(Disposition::Valid)
                } else {
                    rejected(&mut self.findings, &file.name, locator, &mut issues)
                }
            }
            Ok(Writer::Table { sink, how, rows }) => {
                many.clear();
                match how {
                    Columns::Canonical(cols, kind) => {
                        canonical_cells(record, cols, *kind, &mut cells)
                    }
                    Columns::Mapping(rw) if record.kind() == RecordKind::WorkbookForm => {
                        rw.write_answers(record, &mut many, &mut issues, show)
                    }
                    Columns::Mapping(rw) => rw.write(record, &mut cells, &mut issues, show),
                }
                let single = many.is_empty();
                if single {
                    many.push(std::mem::take(&mut cells));
                }
                if issues.is_empty() {
                    // A Windows-1252 export read back through its own
                    // mapping (`encoding = "auto"`) comes back Windows-1252.
                    if let (Table::Csv(s), Columns::Mapping(rw), Some(Encoding::Windows1252)) =
                        (&mut *sink, &*how, encoding)
                    {
                        if rw.mapping().id == file.mapping.id {
                            s.set_encoding(Encoding::Windows1252).map_err(sink_err)?;
                        }
                    }
                    let holds = match &*sink {
                        Table::Sheet(_) => Holds::SheetCells,
                        Table::Csv(s) if s.encoding() == Encoding::Windows1252 => {
                            Holds::Windows1252
                        }
                        Table::Csv(_) => Holds::Anything,
                    };
                    unwritable_cells(&many, how.names(), holds, &mut issues);
                }
                if let Table::Sheet(s) = &*sink {
                    let left = usize::try_from(s.rows_left()).unwrap_or(usize::MAX);
                    if issues.is_empty() && left < many.len() {
                        issues.push(FieldIssue {
                            rule: rules::EXPORT_SHEET_FULL,
                            field: "-",
                            column: String::new(),
                            message: format!(
                                "{} is full: its sheet takes {} rows, the header's among them \
                                 (write this table as CSV)",
                                s.file_name(),
                                s.max_rows()
                            ),
                            value: None,
                        });
                    }
                }
                if issues.is_empty() {
                    for cells in &many {
                        match sink {
                            Table::Csv(s) => {
                                let text: Vec<&str> = cells.iter().map(Cell::text).collect();
                                s.write_row(&text).map_err(sink_err)?;
                            }
                            Table::Sheet(s) => {
                                let typed: Vec<SheetCell<'_>> =
                                    cells.iter().map(sheet_cell).collect();
                                s.write_cells(&typed).map_err(sink_err)?;
                            }
                        }
                    }
                    *rows += 1;
                    if single {
                        cells = many.pop().unwrap_or_default();
                    }
                    Verdict::Done(Disposition::Valid)
                } else {
                    if single {
                        cells = many.pop().unwrap_or_default();
                    }
                    rejected(&mut self.findings, &file.name, locator, &mut issues)
                }
            }
        };
        self.cells = cells;
        self.issues = issues;
        self.rows = many;
        Ok(verdict)
    }
}

/// A record that cannot be written: an `export.value` finding per value,
/// at the record's place, and its disposition.
fn rejected(
    findings: &mut Vec<Finding>,
    file: &str,
    locator: &Locator,
    issues: &mut Vec<FieldIssue>,
) -> Verdict {
    let mut broken = Vec::new();
    for i in issues.drain(..) {
        // The export's own rules (a value a table cannot hold, a full
        // sheet) as they are; a writer's (a code the target lacks, a value
        // its type refuses) are a value the target cannot write.
        let rule = if i.rule.starts_with("export.") {
            i.rule
        } else {
            rules::EXPORT_VALUE
        };
        if !broken.contains(&rule) {
            broken.push(rule);
        }
        findings.push(
            Finding::new(
                rule,
                file,
                locator.line(),
                (!i.column.is_empty()).then_some(i.column.as_str()),
                format!("cannot be written: {}", i.message),
            )
            .at_locator(Some(locator))
            .with_value(i.value),
        );
    }
    Verdict::Done(Disposition::Rejected {
        rules: broken.into_iter().map(str::to_string).collect(),
    })
}

/// The kind a target mapping takes for records of `kind`: workbook forms
/// go back as form answers.
fn writes(kind: RecordKind) -> RecordKind {
    match kind {
        RecordKind::WorkbookForm => RecordKind::FormAnswer,
        k => k,
    }
}

/// What a table's cells can hold, beyond what every table can.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Holds {
    /// Any text (a UTF-8 CSV).
    Anything,
    /// Texts of at most 32,767 characters (an XLSX sheet, which refuses a
    /// longer one, and with it the whole file).
    SheetCells,
    /// Characters Windows-1252 has a byte for (a CSV written in it: an
    /// encoder would write `&#321;` for the rest).
    Windows1252,
}

/// The cells of `rows` the table cannot hold: an `export.value` issue
/// each, naming the column, so that the record is rejected at its place
/// and the rest written.
fn unwritable_cells(
    rows: &[Vec<Cell>],
    names: &[String],
    holds: Holds,
    issues: &mut Vec<FieldIssue>,
) {
    use casebridge_sheet::MAX_CELL_CHARS;
    if holds == Holds::Anything {
        return;
    }
    for row in rows {
        for (i, c) in row.iter().enumerate() {
            let t = c.text();
            let message = match holds {
                // Bytes first: no text of fewer bytes has more characters.
                Holds::SheetCells if t.len() > MAX_CELL_CHARS => {
                    let n = t.chars().count();
                    (n > MAX_CELL_CHARS).then(|| {
                        format!("{n} characters, more than an XLSX cell holds ({MAX_CELL_CHARS})")
                    })
                }
                Holds::Windows1252 => casebridge_csv::windows_1252_lacks(t).map(|ch| {
                    format!(
                        "U+{:04X} is not in Windows-1252, the encoding the file is written in \
                         (as its input was read)",
                        u32::from(ch)
                    )
                }),
                _ => None,
            };
            if let Some(message) = message {
                issues.push(FieldIssue {
                    rule: rules::EXPORT_VALUE,
                    field: "-",
                    column: names.get(i).cloned().unwrap_or_default(),
                    message,
                    value: None,
                });
            }
        }
    }
}

fn sheet_cell(c: &Cell) -> SheetCell<'_> {
    match c {
        Cell::Empty => SheetCell::Empty,
        Cell::Text(t) => SheetCell::Text(t),
        Cell::Date { value, time, .. } => SheetCell::Date(*value, *time),
        Cell::Number { value, .. } => SheetCell::Number(*value),
    }
}

/// A record's canonical cells: scalars as text (dates typed, numbers
/// typed), lists and objects as JSON.
fn canonical_cells(record: &Record, cols: &[String], kind: RecordKind, out: &mut Vec<Cell>) {
    out.clear();
    let json = serde_json::to_value(record).unwrap_or(Json::Null);
    for c in cols {
        let v = json.get(c.as_str()).unwrap_or(&Json::Null);
        let ty = kind.field(c).map(|d| d.ty);
        out.push(match (v, ty) {
            (Json::Null, _) => Cell::Empty,
            (Json::Object(o), _) if o.is_empty() => Cell::Empty,
            (Json::String(s), Some(FieldType::Date | FieldType::DateTime)) => {
                match casebridge_mapping::reverse::iso_datetime(s) {
                    Some(dt) => Cell::Date {
                        value: dt,
                        time: ty == Some(FieldType::DateTime) || s.contains('T'),
                        text: s.clone(),
                    },
                    None => Cell::Text(s.clone()),
                }
            }
            (Json::String(s), _) => Cell::Text(s.clone()),
            (Json::Number(n), _) => match n.as_f64() {
                Some(f) => Cell::Number {
                    value: f,
                    text: n.to_string(),
                },
                None => Cell::Text(n.to_string()),
            },
            (Json::Bool(b), _) => Cell::Text(b.to_string()),
            (other, _) => Cell::Text(other.to_string()),
        });
    }
}

impl Stage for Export<'_> {
    fn needs(&self) -> Needs {
        Needs {
            records: true,
            text: true,
            // Only JSON Lines write the provenance, and only a migration
            // compares content with its last version.
            unhashed: self.gate.is_none() && !matches!(self.target, ExportTarget::Jsonl),
            ..Needs::default()
        }
    }

    fn record(&mut self, file: &FileCtx<'_>, item: Item<'_>) -> Result<Verdict, Error> {
        if file.mapping.kind == RecordKind::FormAnswer {
            self.encoding = item.encoding;
            // Answers are assembled into their forms when the file is read.
            return Ok(match AnswerRow::from_mapped(item.mapped) {
                Some(a) => {
                    self.places
                        .entry(a.form_id.clone())
                        .or_default()
                        .push(item.locator.clone());
                    self.answers.push(a);
                    Verdict::Done(Disposition::Valid)
                }
                None => Verdict::Done(Disposition::Rejected {
                    rules: vec![rules::FIELD_REQUIRED.to_string()],
                }),
            });
        }
        let (locator, encoding) = (item.locator, item.encoding);
        match item.record {
            // Its file's hash: known before the run (migrate), or filled
            // in when the file closes.
            Some(mut r) => match self.hashes.get(file.path) {
                Some(h) => {
                    if let Some(p) = r.header_mut().provenance.last_mut() {
                        p.source.sha256 = *h;
                    }
                    self.write_owned(file, r, locator, encoding, false)
                }
                None => self.write_owned(file, r, locator, encoding, true),
            },
            None => Ok(Verdict::Done(Disposition::Rejected {
                rules: vec![rules::FIELD_REQUIRED.to_string()],
            })),
        }
    }

    fn close(&mut self, file: &FileCtx<'_>, sha256: Option<&Sha256>) -> Result<(), Error> {
        // The file's hash over the placeholders of its records. A file not
        // read to its end has none: it is hashed as it is now.
        let hashed;
        let sha256 = match sha256 {
            Some(h) => Some(h),
            None if self.writers.values().any(Writer::has_pending) => {
                hashed = hash_file(file.path).ok();
                hashed.as_ref()
            }
            None => None,
        };
        for w in self.writers.values_mut() {
            if let Writer::Jsonl(s, _) = w {
                match sha256 {
                    Some(h) => s.fill_pending(h)?,
                    None => s.forget_pending()?,
                }
            }
        }
        if self.answers.is_empty() {
            return Ok(());
        }
        let Some(template) = file.mapping.template.clone() else {
            self.answers.clear();
            self.places.clear();
            return Ok(());
        };
        let places = std::mem::take(&mut self.places);
        let mut pivot = FormPivot::new(&template);
        for a in self.answers.drain(..) {
            pivot.push(a);
        }
        let (forms, problems) = pivot.finish(&file.mapping.system);
        for p in problems {
            let (rule, message) = match p {
                casebridge_mapping::PivotProblem::UnknownQuestion { question, .. } => (
                    rules::WORKBOOK_UNKNOWN_QUESTION,
                    format!("question `{question}` is not in template `{}`: the answer is left out of its form", template.id),
                ),
                casebridge_mapping::PivotProblem::MixedForms { .. } => (
                    rules::WORKBOOK_UNKNOWN_QUESTION,
                    "a form's answers belong to more than one form of the template: the others are left out".to_string(),
                ),
                casebridge_mapping::PivotProblem::BadAnswer { question, .. } => (
                    rules::WORKBOOK_ANSWER_TYPE,
                    format!("the answer to `{question}` cannot be read as its question's type: left out of its form"),
                ),
            };
            self.findings.push(Finding::new(
                rule,
                &file.name,
                None,
                Some("question_code"),
                message,
            ));
        }
        // A form without an answer to a question its template requires
        // (outside repeating tables, which may have no rows).
        for form in &forms {
            let Some(def) = template.forms.iter().find(|d| d.code() == form.form_code) else {
                continue;
            };
            let key = form
                .header
                .source_keys
                .first()
                .map_or("", |k| k.key.as_str());
            for sec in def.sections.iter().filter(|s| !s.repeating) {
                for q in sec.questions.iter().filter(|q| q.required) {
                    let code = q.code.get_ref();
                    let answered = form.sections.iter().any(|s| {
                        s.rows
                            .iter()
                            .any(|r| r.answers.iter().any(|a| &a.question == code))
                    });
                    if !answered {
                        self.findings.push(Finding::new(
                            rules::WORKBOOK_REQUIRED_MISSING,
                            &file.name,
                            None,
                            Some("question_code"),
                            format!(
                                "form {key}: no answer to `{code}`, which template `{}` requires",
                                template.id
                            ),
                        ));
                    }
                }
            }
        }
        // Forms are records the answers made, not input records: their
        // dispositions are the answers'; what cannot be written is a finding.
        let file_sha = self
            .hashes
            .get(file.path)
            .or(sha256)
            .copied()
            .unwrap_or_default();
        let mapping = casebridge_model::MappingRef {
            id: file.mapping.id.clone(),
            version: file.mapping.version.clone(),
            sha256: file.mapping.sha256,
        };
        for mut form in forms {
            // Every answer row the form was assembled from.
            let key = form
                .header
                .source_keys
                .first()
                .map(|k| k.key.clone())
                .unwrap_or_default();
            let content = casebridge_model::content_sha256(&Record::WorkbookForm(form.clone()));
            if let Some(locs) = places.get(&key) {
                form.header.provenance = locs
                    .iter()
                    .map(|l| casebridge_model::Provenance {
                        run_id: self.run_id.clone(),
                        source: casebridge_model::SourceRef {
                            system: file.mapping.system.clone(),
                            file: file.name.clone(),
                            sha256: file_sha,
                        },
                        locator: l.clone(),
                        mapping: mapping.clone(),
                        content_sha256: content,
                    })
                    .collect();
            }
            let record = Record::WorkbookForm(form);
            self.write(file, &record, &Locator::File, self.encoding, false)?;
        }
        Ok(())
    }

    fn take_findings(&mut self, out: &mut Vec<Finding>) {
        out.append(&mut self.findings);
    }
}
