//! The one way records flow: plan -> source -> map -> check -> a command's
//! [`Stage`] (dedup, a sink, a rewriter) -> events.
//!
//! [`Pipeline::run`] is the only read loop of casebridge. For every planned
//! file it opens the source its format needs, binds the mapping to the
//! header, maps each row, runs the base rules (unless the command turns the
//! check stage off) and hands the record to the command's [`Stage`]. Every
//! file ends in one [`FileOutcome`] and every record read in one
//! [`Disposition`], each sent to the run's [`EventSink`] (the report, and
//! later the ledger), so that read = valid + rejected + merged + skipped
//! holds per file and per kind, whatever went wrong.
//!
//! A record whose disposition depends on records not yet read (dedup
//! merges) is [`Verdict::Deferred`]: the stage emits its disposition later.

use std::path::Path;

use casebridge_mapping::{MappedRecord, Mapping, SourceFormat};
use casebridge_model::{
    rules, Disposition, Event, EventSink, FieldType, FileId, FileOutcome, Finding, Locator,
    MappingRef, Provenance, Record, RecordKind, Sha256, SourceError, SourceErrorKind, SourceRef,
    TextRow,
};
use casebridge_validate::{CheckOptions, Checker, Issue};

use crate::input::{open_source, Limits, Plan, Unmatched};
use crate::{display, Error, Progress};

static WHOLE_FILE: Locator = Locator::File;

/// What a [`Stage`] needs of the pipeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// Canonical [`Record`]s (with provenance) built from mapped rows.
    pub records: bool,
    /// Every cell as read, before mapping (a rewriter writes rows back).
    pub raw: bool,
    /// Records that broke a rule are handed on too (a pseudonymised
    /// extract keeps its faults); otherwise they stop at the check stage.
    pub rejected: bool,
    /// Every mapped column decoded: off, columns that no rule reads are
    /// only tested for presence (validation skips decoding note bodies).
    pub text: bool,
    /// The records' content hashes are neither written nor compared (a
    /// reverse mapping's tables, canonical tables): they are not taken,
    /// and the provenance's `content_sha256` stays zeros.
    pub unhashed: bool,
}

/// One planned file, as the stages see it.
#[derive(Debug)]
pub struct FileCtx<'a> {
    /// Its number in the run.
    pub id: FileId,
    /// Its name as given.
    pub name: String,
    /// Its path.
    pub path: &'a Path,
    /// The mapping reading it.
    pub mapping: &'a Mapping,
    /// The format it is read as.
    pub format: SourceFormat,
}

/// One record handed to a [`Stage`].
#[derive(Debug)]
pub struct Item<'a> {
    /// Where it starts.
    pub locator: &'a Locator,
    /// Its cells as read, in header order (only with [`Needs::raw`]).
    pub raw: &'a [String],
    /// The mapped fields.
    pub mapped: &'a MappedRecord,
    /// The canonical record (only with [`Needs::records`]; `None` for form
    /// answers, which are pivoted, not mapped one row to one record).
    pub record: Option<Record>,
    /// The rules it broke, when [`Needs::rejected`] hands it on anyway.
    pub rejected: Option<&'a [String]>,
    /// The encoding the source decoded the file from so far, when it
    /// decodes bytes (see `RecordSource::detected_encoding`).
    pub encoding: Option<casebridge_model::Encoding>,
}

/// What a stage made of a record.
#[derive(Debug)]
pub enum Verdict {
    /// Its disposition now.
    Done(Disposition),
    /// The stage will emit its disposition later (dedup merges).
    Deferred,
}

/// What a command does with the records the pipeline hands it.
pub trait Stage {
    /// What it needs of the pipeline.
    fn needs(&self) -> Needs;
    /// A file is about to be read; `header` is its columns. `Err(reason)`:
    /// the file cannot be handled (e.g. its output cannot be created) and
    /// is not read.
    /// `part` is the part of the file read (a workbook's sheet).
    fn open(
        &mut self,
        _file: &FileCtx<'_>,
        _header: &[String],
        _part: Option<&str>,
    ) -> Result<(), String> {
        Ok(())
    }
    /// One record.
    fn record(&mut self, file: &FileCtx<'_>, item: Item<'_>) -> Result<Verdict, Error>;
    /// The file is done: `sha256` when it was read to the end. A stage
    /// holding the file's records can fill their provenance's file hash.
    fn close(&mut self, _file: &FileCtx<'_>, _sha256: Option<&Sha256>) -> Result<(), Error> {
        Ok(())
    }
    /// Findings the stage made of the last record (or of the file, after
    /// `close`), each with its place; the pipeline reports them.
    fn take_findings(&mut self, _out: &mut Vec<Finding>) {}
}

/// A stage that keeps nothing: every record that passed is valid (validate).
#[derive(Debug, Default)]
pub struct CheckOnly;

impl Stage for CheckOnly {
    fn needs(&self) -> Needs {
        Needs::default()
    }
    fn record(&mut self, _: &FileCtx<'_>, _: Item<'_>) -> Result<Verdict, Error> {
        Ok(Verdict::Done(Disposition::Valid))
    }
}

/// Settings of the source, map and check stages.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// The check stage's options; `None` turns the check stage off (field
    /// problems found while mapping are then not findings either).
    pub check: Option<CheckOptions>,
    /// Put offending values in findings.
    pub show_values: bool,
    /// Resource limits.
    pub limits: Limits,
    /// Run id written into provenance.
    pub run_id: String,
}

impl PipelineOptions {
    /// Options with the check stage on.
    pub fn checked(as_of: chrono::NaiveDate, show_values: bool, limits: Limits) -> Self {
        PipelineOptions {
            check: Some(CheckOptions { as_of, show_values }),
            show_values,
            limits,
            run_id: String::new(),
        }
    }
}

/// The runner's stages, driving one command's [`Stage`] over a plan.
pub struct Pipeline<'r> {
    opts: PipelineOptions,
    events: &'r mut dyn EventSink,
    progress: &'r dyn Progress,
    persons: PersonKeys,
    next_file: FileId,
    could_not_run: bool,
    /// Files opened and records read, for the nothing-checked gate.
    files_read: u64,
    records_read: u64,
    /// The set's globs, for messages on files no mapping fits.
    globs: Vec<String>,
    /// Whether the file being read has no other part (an XML whose record
    /// path matches nothing is then an error).
    sole_part: bool,
    /// First place (file, line) of each source key, per kind and system,
    /// for `key.duplicate`: the one set that grows with the records.
    keys: Vec<(RecordKind, String, usize)>,
    /// The sets of `keys`, within `[limits] key_memory`.
    key_sets: KeySets,
    /// File names by id.
    names: Vec<String>,
}

use crate::keyset::{KeySets, PersonKeys};

/// What one file's read came to.
struct FileRun {
    outcome: FileOutcome,
    /// The failure makes the run one that could not run (not so for an
    /// empty file, which is a finding on that file).
    fatal: bool,
    sha256: Option<Sha256>,
    bytes: u64,
    records: u64,
}

impl<'r> Pipeline<'r> {
    /// A pipeline sending its events to `events`.
    pub fn new(
        opts: PipelineOptions,
        events: &'r mut dyn EventSink,
        progress: &'r dyn Progress,
    ) -> Pipeline<'r> {
        let key_sets = KeySets::new(opts.limits.key_memory);
        let persons = PersonKeys::new(opts.limits.key_memory);
        Pipeline {
            opts,
            events,
            progress,
            persons,
            next_file: 0,
            could_not_run: false,
            files_read: 0,
            records_read: 0,
            globs: Vec::new(),
            sole_part: true,
            keys: Vec::new(),
            key_sets,
            names: Vec::new(),
        }
    }

    /// Whether some input could not be run (exit code 2).
    pub fn could_not_run(&self) -> bool {
        self.could_not_run
    }

    /// Marks the run as one that could not run.
    pub fn set_could_not_run(&mut self) {
        self.could_not_run = true;
    }

    /// A finding about the run as a whole.
    pub fn finding(&mut self, f: Finding) -> Result<(), Error> {
        self.events
            .emit(Event::Finding {
                file: None,
                finding: f,
            })
            .map_err(Error::Report)
    }

    /// A person file whose persons are known without reading it (a
    /// migration's person file unchanged since the last run): references
    /// are checked, against them among others.
    pub fn known_person_file(&mut self) {
        self.persons.loaded = true;
    }

    /// A person of such a file, for the reference checks.
    pub fn known_person(&mut self, key: &str) -> Result<(), Error> {
        self.persons.insert(key)
    }

    /// Reports a planned file that is not read, on purpose, with why (a
    /// migration's file unchanged since the last run): its outcome is
    /// skipped and it yields no records.
    pub fn skipped_file(
        &mut self,
        name: &str,
        mapping: &Mapping,
        reason: String,
        sha256: Option<&Sha256>,
        bytes: u64,
    ) -> Result<(), Error> {
        let id = self.start(name, Some(&mapping.id), Some(mapping.kind))?;
        self.files_read += 1;
        self.finish(id, &FileOutcome::Skipped { reason }, sha256, bytes, 0)
    }

    /// Reports the files of a plan that no single mapping fits, each as a
    /// file with its outcome; `what` is added to the message.
    pub fn unmatched(&mut self, unmatched: &[Unmatched], what: &str) -> Result<(), Error> {
        for u in unmatched {
            let name = display(&u.path);
            let (rule, outcome, message) = if !u.candidates.is_empty() {
                self.could_not_run = true;
                let m = format!(
                    "several mappings fit this file name: {}",
                    u.candidates.join(", ")
                );
                (
                    rules::FILE_AMBIGUOUS_MAPPING,
                    FileOutcome::Failed { reason: m.clone() },
                    m,
                )
            } else if u.from_dir {
                let m = format!(
                    "no mapping's source glob fits this file name{what} (tried: {})",
                    self.globs.join(", ")
                );
                (
                    rules::FILE_SKIPPED,
                    FileOutcome::Skipped { reason: m.clone() },
                    m,
                )
            } else {
                self.could_not_run = true;
                let m = format!(
                    "no mapping's source glob fits this file name{what} (tried: {})",
                    self.globs.join(", ")
                );
                (
                    rules::FILE_NO_MAPPING,
                    FileOutcome::Failed { reason: m.clone() },
                    m,
                )
            };
            let id = self.start(&name, None, None)?;
            self.file_finding(id, Finding::new(rule, &name, None, None, message))?;
            self.finish(id, &outcome, None, 0, 0)?;
        }
        Ok(())
    }

    /// Reports what the plan found before any file is read: missing
    /// inputs, files given twice, entries that are not regular files,
    /// folders inside input folders,
    /// files no mapping fits (`what` is added to that message) and
    /// mappings that read no file.
    pub fn plan_findings(&mut self, plan: &Plan<'_>, what: &str) -> Result<(), Error> {
        self.globs.clone_from(&plan.globs);
        self.missing(&plan.missing)?;
        for p in &plan.repeated {
            let reason = "given more than once: read once".to_string();
            self.skipped_unread(&display(p), rules::FILE_REPEATED, reason)?;
        }
        for (p, named) in &plan.not_files {
            let name = display(p);
            let reason = "not a regular file (a FIFO, socket or device): not opened".to_string();
            if *named {
                self.left_out(&name, rules::FILE_NOT_REGULAR, reason)?;
            } else {
                self.skipped_unread(&name, rules::FILE_SKIPPED, reason)?;
            }
        }
        for p in &plan.folders {
            let reason = "a folder inside an input folder: not read (folders are not read \
                          recursively; give it as an input to read its files)"
                .to_string();
            self.skipped_unread(&display(p), rules::FILE_SKIPPED, reason)?;
        }
        self.unmatched(&plan.unmatched, what)?;
        for (id, glob) in &plan.unused {
            self.finding(Finding::new(
                rules::MAPPING_UNUSED,
                "-",
                None,
                None,
                format!("mapping `{id}` read no file: no input fits its source glob `{glob}`"),
            ))?;
        }
        Ok(())
    }

    /// Ends the run's reading: a run in which no record was read could
    /// not run (a `run.nothing-checked` error saying why), so that a gate
    /// never passes by checking nothing.
    pub fn end(&mut self) -> Result<(), Error> {
        if self.records_read > 0 {
            return Ok(());
        }
        self.could_not_run = true;
        let why = if self.files_read == 0 {
            if self.globs.is_empty() {
                "no input file was read".to_string()
            } else {
                format!(
                    "no input file was read (source globs tried: {})",
                    self.globs.join(", ")
                )
            }
        } else {
            format!("the {} file(s) read hold no records", self.files_read)
        };
        self.finding(Finding::new(
            rules::RUN_NOTHING_CHECKED,
            "-",
            None,
            None,
            format!("no record was checked: {why}"),
        ))
    }

    /// An entry of the plan that is not read: a `rule` finding with
    /// `reason`, and the outcome skipped.
    fn skipped_unread(
        &mut self,
        name: &str,
        rule: &'static str,
        reason: String,
    ) -> Result<(), Error> {
        let id = self.start(name, None, None)?;
        self.file_finding(id, Finding::new(rule, name, None, None, reason.clone()))?;
        self.finish(id, &FileOutcome::Skipped { reason }, None, 0, 0)
    }

    /// Reports the named inputs that do not exist, as missing.
    fn missing(&mut self, missing: &[std::path::PathBuf]) -> Result<(), Error> {
        for p in missing {
            self.left_out(
                &display(p),
                rules::FILE_UNREADABLE,
                "no such file or directory".to_string(),
            )?;
        }
        Ok(())
    }

    fn start(
        &mut self,
        name: &str,
        mapping: Option<&str>,
        kind: Option<RecordKind>,
    ) -> Result<FileId, Error> {
        let id = self.next_file;
        self.next_file += 1;
        self.names.push(name.to_string());
        self.events
            .emit(Event::FileStarted {
                file: id,
                name,
                mapping,
                kind,
            })
            .map_err(Error::Report)?;
        Ok(id)
    }

    fn finish(
        &mut self,
        file: FileId,
        outcome: &FileOutcome,
        sha256: Option<&Sha256>,
        bytes: u64,
        records: u64,
    ) -> Result<(), Error> {
        self.events
            .emit(Event::FileFinished {
                file,
                outcome,
                sha256,
                bytes,
                records,
            })
            .map_err(Error::Report)
    }

    fn file_finding(&mut self, file: FileId, f: Finding) -> Result<(), Error> {
        self.events
            .emit(Event::Finding {
                file: Some(file),
                finding: f,
            })
            .map_err(Error::Report)
    }

    fn dispose(
        &mut self,
        file: FileId,
        kind: RecordKind,
        locator: &Locator,
        d: &Disposition,
    ) -> Result<(), Error> {
        self.events
            .emit(Event::Record {
                file,
                kind,
                locator,
                disposition: d,
            })
            .map_err(Error::Report)
    }

    /// Runs every planned file of `plan` through the stages into `stage`,
    /// after reporting its unmatched files. Returns whether the run could
    /// not run (some file failed).
    pub fn run(&mut self, plan: &Plan<'_>, what: &str, stage: &mut dyn Stage) -> Result<(), Error> {
        self.plan_findings(plan, what)?;
        self.progress.start(plan.total_bytes());
        self.persons.loaded |= plan
            .files
            .iter()
            .any(|f| f.mapping.kind == RecordKind::Person);
        let refs_needed = self.opts.check.is_some()
            && plan.files.iter().any(|f| {
                let m = f.mapping;
                m.mapped_fields().any(|(f, _)| {
                    m.kind
                        .field(f)
                        .is_some_and(|d| d.ty == FieldType::PersonRef)
                })
            });
        if refs_needed && !self.persons.loaded {
            self.finding(Finding::new(
                rules::REF_NOT_CHECKED,
                "-",
                None,
                None,
                "no person file among the inputs: references to persons were not checked",
            ))?;
        }
        // XML files read in parts: whether any part found a record.
        let mut xml_parts: Vec<(&Path, u64, bool)> = Vec::new();
        for f in &plan.files {
            let parts = plan.files.iter().filter(|g| g.path == f.path).count();
            self.sole_part = parts == 1;
            let before = self.records_read;
            let read = self.run_file(&f.path, f.mapping, stage)?;
            if parts > 1 && f.mapping.source.format_of(&f.path) == SourceFormat::Xml {
                let n = self.records_read - before;
                match xml_parts
                    .iter_mut()
                    .find(|(p, _, _)| *p == f.path.as_path())
                {
                    Some(e) => {
                        e.1 += n;
                        e.2 &= read;
                    }
                    None => xml_parts.push((&f.path, n, read)),
                }
            }
        }
        for (path, records, read) in xml_parts {
            let has_content = std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
            if records == 0 && read && has_content {
                self.could_not_run = true;
                self.finding(Finding::new(
                    rules::XML_NO_RECORDS,
                    &display(path),
                    None,
                    None,
                    "no mapping's record path matches an element of this file: no record read",
                ))?;
            }
        }
        Ok(())
    }

    /// A file left out of the run, with the finding that says why (the run
    /// could not run).
    pub fn left_out(&mut self, name: &str, rule: &str, reason: String) -> Result<(), Error> {
        self.could_not_run = true;
        let id = self.start(name, None, None)?;
        self.file_finding(id, Finding::new(rule, name, None, None, reason.clone()))?;
        self.finish(id, &FileOutcome::Failed { reason }, None, 0, 0)
    }

    /// Runs one file through the stages; whether it was read to the end.
    pub fn run_file(
        &mut self,
        path: &Path,
        mapping: &Mapping,
        stage: &mut dyn Stage,
    ) -> Result<bool, Error> {
        let name = display(path);
        self.progress.file(&name);
        let id = self.start(&name, Some(&mapping.id), Some(mapping.kind))?;
        let file = FileCtx {
            id,
            name,
            path,
            mapping,
            format: mapping.source.format_of(path),
        };
        let run = self.read_file(&file, stage)?;
        self.could_not_run |= run.fatal;
        self.records_read += run.records;
        if run.sha256.is_some() {
            self.files_read += 1;
        }
        stage.close(&file, run.sha256.as_ref())?;
        let mut closing = Vec::new();
        stage.take_findings(&mut closing);
        for f in closing {
            self.file_finding(id, f)?;
        }
        self.progress.file_done(
            std::fs::metadata(path)
                .map(|m| m.len())
                .unwrap_or(run.bytes),
        );
        self.finish(
            id,
            &run.outcome,
            run.sha256.as_ref(),
            run.bytes,
            run.records,
        )?;
        tracing::debug!(file = %file.name, records = run.records, "File read.");
        Ok(run.outcome == FileOutcome::Read)
    }

    fn source_finding(&mut self, file: &FileCtx<'_>, e: &SourceError) -> Result<(), Error> {
        let f = crate::source_finding(e, &file.name, file.format);
        self.file_finding(file.id, f)
    }

    fn read_file(&mut self, file: &FileCtx<'_>, stage: &mut dyn Stage) -> Result<FileRun, Error> {
        let needs = stage.needs();
        let mapping = file.mapping;
        let failed = |reason: String, records: u64| FileRun {
            outcome: FileOutcome::Failed { reason },
            fatal: true,
            sha256: None,
            bytes: 0,
            records,
        };
        let mut source = match open_source(file.path, mapping, &self.opts.limits) {
            Ok(s) => s,
            Err(e) => {
                self.source_finding(file, &e)?;
                let reason = e.kind_message();
                // An empty file is a finding on that file, not a failed run.
                if matches!(e.kind, SourceErrorKind::Empty) {
                    return Ok(FileRun {
                        fatal: false,
                        ..failed(reason, 0)
                    });
                }
                return Ok(failed(reason, 0));
            }
        };
        if let Some(w) = source.take_warning() {
            self.source_finding(file, &w)?;
        }
        let header = source.columns().to_vec();
        let bound = match mapping.bind(&header) {
            Ok(b) if needs.records => b.carry_unmapped(),
            Ok(b) if needs.text || needs.raw => b,
            Ok(b) => b.presence_only(),
            Err(mut diags) => {
                // A "did you mean" names a header cell, which is the file's
                // data when the file has no header (or the wrong header
                // row): quoted only with --show-values.
                if !self.opts.show_values {
                    for d in &mut diags {
                        d.suggestion = None;
                    }
                }
                let what = if file.format == SourceFormat::Xml {
                    "paths do not fit mapping"
                } else {
                    "header does not fit mapping"
                };
                for d in diags {
                    let line =
                        (file.format != SourceFormat::Xml).then_some(mapping.source.header_row);
                    self.file_finding(
                        file.id,
                        Finding::new(
                            rules::FILE_HEADER,
                            &file.name,
                            line,
                            None,
                            format!("{what}: {d}"),
                        ),
                    )?;
                }
                let _ = source.finish();
                return Ok(failed(what.to_string(), 0));
            }
        };
        for d in bound.missing() {
            let mut d = d.clone();
            if !self.opts.show_values {
                d.suggestion = None;
            }
            let line = (file.format != SourceFormat::Xml).then_some(mapping.source.header_row);
            self.file_finding(
                file.id,
                Finding::new(
                    rules::FILE_COLUMN_MISSING,
                    &file.name,
                    line,
                    None,
                    d.to_string(),
                ),
            )?;
        }
        if let Err(reason) = stage.open(file, &header, source.part()) {
            self.file_finding(
                file.id,
                Finding::new(
                    rules::FILE_UNREADABLE,
                    &file.name,
                    None,
                    None,
                    reason.clone(),
                ),
            )?;
            let _ = source.finish();
            return Ok(failed(reason, 0));
        }
        let checker = self.opts.check.clone().map(|c| Checker::new(mapping, c));
        let key_slot = mapping.kind.field_index("source_key");
        let is_person = mapping.kind == RecordKind::Person;
        let key_set = match self
            .keys
            .iter()
            .find(|(k, sys, _)| *k == mapping.kind && *sys == mapping.system)
        {
            Some(&(_, _, i)) => i,
            None => {
                let i = self.key_sets.add();
                self.keys.push((mapping.kind, mapping.system.clone(), i));
                i
            }
        };
        let all_text;
        let wanted = if needs.raw {
            all_text = vec![casebridge_model::Want::Text; header.len()];
            &all_text[..]
        } else {
            bound.wanted()
        };
        let mapping_ref = MappingRef {
            id: mapping.id.clone(),
            version: mapping.version.clone(),
            sha256: mapping.sha256,
        };
        let mut row = TextRow::new();
        let mut rec = casebridge_mapping::MappedRecord::new(mapping.kind);
        let mut raw: Vec<String> = Vec::new();
        let mut field_issues = Vec::new();
        let mut issues: Vec<Issue> = Vec::new();
        let mut broken: Vec<String> = Vec::new();
        let mut records = 0u64;
        let mut fatal: Option<String> = None;
        let mut stage_findings: Vec<Finding> = Vec::new();
        let show_values = self.opts.show_values;
        // Per column with no name: records with a value there, and the
        // first one's line.
        let mut unnamed: Vec<(u64, Option<u64>)> = vec![(0, None); bound.unnamed().len()];
        loop {
            let got = source.read_row(&mut row, wanted);
            if let Some(w) = source.take_warning() {
                self.source_finding(file, &w)?;
            }
            match got {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    self.source_finding(file, &e)?;
                    if !e.recoverable {
                        fatal = Some(e.kind_message());
                        break;
                    }
                    // A record that cannot be read is rejected with the
                    // source's rule, at its place.
                    records += 1;
                    let f = crate::source_finding(&e, &file.name, file.format);
                    let d = Disposition::Rejected {
                        rules: vec![f.rule],
                    };
                    self.dispose(file.id, mapping.kind, &e.locator, &d)?;
                    continue;
                }
            }
            records += 1;
            for (n, &c) in unnamed.iter_mut().zip(bound.unnamed()) {
                if row.get(c).is_some_and(|v| !v.trim().is_empty()) {
                    n.0 += 1;
                    n.1 = n.1.or_else(|| row.locator.as_ref().and_then(Locator::line));
                }
            }
            if needs.raw {
                raw.clear();
                raw.extend((0..row.len()).map(|i| row.get(i).unwrap_or("").to_string()));
            }
            field_issues.clear();
            issues.clear();
            broken.clear();
            bound.apply(&mut row, &mut rec, &mut field_issues, show_values);
            if is_person {
                if let Some(k) = key_slot.and_then(|s| rec.slots[s].str()) {
                    self.persons.insert(k)?;
                }
            }
            let locator: &Locator = row.locator.as_ref().unwrap_or(&WHOLE_FILE);
            let line = locator.line();
            if let Some(checker) = &checker {
                checker.check(&rec, &self.persons, &mut issues);
                if let Some(e) = self.persons.take_failure() {
                    return Err(e);
                }
                if let Some(key) = key_slot.and_then(|s| rec.slots[s].str()) {
                    if let Some((f, l)) =
                        self.key_sets
                            .first_or_insert(key_set, key, file.id, line.unwrap_or(0))?
                    {
                        let first = self.names.get(f as usize).map_or("-", String::as_str);
                        issues.push(Issue {
                            rule: rules::KEY_DUPLICATE,
                            column: mapping.column_of("source_key").unwrap_or("").to_string(),
                            message: format!(
                                "source_key: already used at {first}:{l} for this system and kind; two records would get one id"
                            ),
                            value: show_values.then(|| key.to_string()),
                        });
                    }
                }
                let found = field_issues
                    .drain(..)
                    .map(|fi| (fi.rule, fi.column, fi.message, fi.value))
                    .chain(
                        issues
                            .drain(..)
                            .map(|i| (i.rule, i.column, i.message, i.value)),
                    );
                let mut out = Vec::new();
                for (rule, column, message, value) in found {
                    let f = Finding::new(rule, &file.name, line, Some(&column), message)
                        .at_locator(Some(locator))
                        .with_value(value);
                    if f.is_error() && !broken.iter().any(|r| r == rule) {
                        broken.push(rule.to_string());
                    }
                    out.push(f);
                }
                for f in out {
                    self.file_finding(file.id, f)?;
                }
            }
            if !broken.is_empty() && !needs.rejected {
                let d = Disposition::Rejected {
                    rules: std::mem::take(&mut broken),
                };
                self.dispose(file.id, mapping.kind, locator, &d)?;
                continue;
            }
            let held = source.take_record();
            let prov = || Provenance {
                run_id: self.opts.run_id.clone(),
                source: SourceRef {
                    system: mapping.system.clone(),
                    file: file.name.clone(),
                    sha256: Sha256::default(),
                },
                locator: locator.clone(),
                mapping: mapping_ref.clone(),
                content_sha256: Sha256::default(),
            };
            let record = if let (true, Some(mut r)) = (needs.records, held) {
                // A canonical record read back: ids, keys and provenance
                // kept; this read is added to its lineage.
                let mut p = prov();
                if !needs.unhashed {
                    p.content_sha256 = casebridge_model::content_sha256(&r);
                }
                r.header_mut().provenance.push(p);
                Some(r)
            } else if needs.records && mapping.kind != RecordKind::FormAnswer {
                let prov = prov();
                match mapping.to_record_with(&rec, prov, !needs.unhashed) {
                    Some(r) => Some(r),
                    None => {
                        self.file_finding(
                            file.id,
                            Finding::new(
                                rules::FIELD_REQUIRED,
                                &file.name,
                                line,
                                mapping.column_of("source_key"),
                                "source_key is required but empty: the record has no key",
                            )
                            .at_locator(Some(locator)),
                        )?;
                        let d = Disposition::Rejected {
                            rules: vec![rules::FIELD_REQUIRED.to_string()],
                        };
                        self.dispose(file.id, mapping.kind, locator, &d)?;
                        continue;
                    }
                }
            } else {
                None
            };
            let item = Item {
                locator,
                raw: &raw,
                mapped: &rec,
                record,
                rejected: (!broken.is_empty()).then_some(&broken[..]),
                encoding: source.detected_encoding(),
            };
            let verdict = stage.record(file, item)?;
            stage.take_findings(&mut stage_findings);
            for f in stage_findings.drain(..) {
                self.file_finding(file.id, f)?;
            }
            match verdict {
                Verdict::Done(d) => self.dispose(file.id, mapping.kind, locator, &d)?,
                Verdict::Deferred => {}
            }
            if records.is_multiple_of(4096) {
                self.progress.advance(source.bytes_read());
            }
        }
        for (&(n, first), &c) in unnamed.iter().zip(bound.unnamed()) {
            if n == 0 {
                continue;
            }
            let message = format!(
                "column {} has no name in the header but holds values in {n} record{}, the \
                 first on line {}: no mapping can read it, so they are not read; give the \
                 column a name to carry them",
                c + 1,
                if n == 1 { "" } else { "s" },
                first.map_or_else(|| "-".to_string(), |l| l.to_string()),
            );
            self.file_finding(
                file.id,
                Finding::new(rules::FILE_COLUMN_UNNAMED, &file.name, first, None, message),
            )?;
        }
        let info = source.finish();
        if let (Ok(i), None) = (&info, &fatal) {
            if file.format == SourceFormat::Xml && self.sole_part && records == 0 && i.bytes > 0 {
                let message = format!(
                    "the record path `{}` matches no element: no record read",
                    mapping.source.record().unwrap_or("")
                );
                self.file_finding(
                    file.id,
                    Finding::new(
                        rules::XML_NO_RECORDS,
                        &file.name,
                        None,
                        None,
                        message.clone(),
                    ),
                )?;
                fatal = Some(message);
            }
        }
        Ok(match (info, fatal) {
            (Ok(info), None) => FileRun {
                outcome: FileOutcome::Read,
                fatal: false,
                sha256: Some(info.sha256),
                bytes: info.bytes,
                records,
            },
            (Ok(info), Some(reason)) => FileRun {
                outcome: FileOutcome::Failed { reason },
                fatal: true,
                sha256: Some(info.sha256),
                bytes: info.bytes,
                records,
            },
            (Err(e), fatal) => {
                self.source_finding(file, &e)?;
                FileRun {
                    outcome: FileOutcome::Failed {
                        reason: fatal.unwrap_or_else(|| e.kind_message()),
                    },
                    fatal: true,
                    sha256: None,
                    bytes: 0,
                    records,
                }
            }
        })
    }
}
