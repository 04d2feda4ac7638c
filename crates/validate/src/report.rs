//! Collects findings with bounded memory and renders them for people (grouped
//! by rule, with counts and the first examples) or for machines (one JSON
//! document).
//!
//! Counts and the first examples of each rule stay in memory; when every
//! finding is wanted (JSON), findings are spilled as JSON lines to an
//! anonymous temporary file and streamed out at the end, so a run with
//! millions of findings does not hold them all.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Seek, Write};

use casebridge_model::rules::{self, Severity};
use casebridge_model::{Event, EventSink, FileId, FileOutcome, Tally};
use serde::Serialize;

use crate::{Error, Finding, Result};

/// What happened to one input file.
#[derive(Debug, Clone, Serialize, Default)]
pub struct FileSummary {
    /// File name as given.
    pub file: String,
    /// `checked` (`written` by pseudonymise, `read` by dedup), `skipped`
    /// (no mapping in a directory), or `failed` (could not be read through).
    pub status: String,
    /// Why the file was skipped or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Mapping id used.
    pub mapping: Option<String>,
    /// Record kind.
    pub kind: Option<String>,
    /// SHA-256 of the whole file.
    pub sha256: Option<String>,
    /// Bytes read.
    pub bytes: u64,
    /// Data records read.
    pub records: u64,
    /// Records with no error (passed on).
    pub valid: u64,
    /// Records rejected with rule ids.
    pub rejected: u64,
    /// Records merged into a survivor.
    pub merged: u64,
    /// Records skipped with a reason.
    pub skipped: u64,
    /// The same counts per record kind: `read = valid + rejected + merged + skipped`.
    pub kinds: BTreeMap<String, Tally>,
    /// Errors found in the file.
    pub errors: u64,
    /// Warnings found in the file.
    pub warnings: u64,
}

#[derive(Debug)]
struct RuleStats {
    severity: Severity,
    count: u64,
    examples: Vec<Finding>,
}

/// The findings of a run.
#[derive(Debug)]
pub struct Report {
    examples: usize,
    rules: BTreeMap<String, RuleStats>,
    spill: Option<BufWriter<File>>,
    max_listed: u64,
    listed: u64,
    /// One entry per input file.
    pub files: Vec<FileSummary>,
    /// Index in `files` of each [`FileId`] seen in a [`Event::FileStarted`].
    ids: Vec<Option<usize>>,
    /// The `status` of a file read to the end (`checked`, `written`, `read`).
    read_status: &'static str,
    /// What the human report calls the records counted as valid.
    valid_label: &'static str,
    /// Data records read.
    pub records_read: u64,
    /// Records with no error.
    pub records_valid: u64,
    /// Errors.
    pub errors: u64,
    /// Warnings.
    pub warnings: u64,
}

/// The summary part of the JSON report.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    /// Data records read.
    pub records_read: u64,
    /// Records with no error.
    pub records_valid: u64,
    /// Errors.
    pub errors: u64,
    /// Warnings.
    pub warnings: u64,
    /// Count of findings per rule id.
    pub rules: BTreeMap<&'a str, u64>,
    /// Per input file.
    pub files: &'a [FileSummary],
}

impl Report {
    /// A report keeping `examples` findings per rule in memory, and every
    /// finding on disk when `keep_all` is set.
    pub fn new(examples: usize, keep_all: bool) -> Result<Report> {
        let spill = if keep_all {
            Some(BufWriter::with_capacity(
                1 << 16,
                tempfile::tempfile().map_err(Error::Spill)?,
            ))
        } else {
            None
        };
        Ok(Report {
            examples,
            rules: BTreeMap::new(),
            spill,
            max_listed: u64::MAX,
            listed: 0,
            files: Vec::new(),
            ids: Vec::new(),
            read_status: "checked",
            valid_label: "valid",
            records_read: 0,
            records_valid: 0,
            errors: 0,
            warnings: 0,
        })
    }

    /// Lists at most `max` findings in the JSON report; the rest are counted
    /// (per rule and in total) but not listed, and a `limit.findings` warning
    /// says so. Bounds the report's size, not just its memory.
    pub fn with_limit(mut self, max: u64) -> Self {
        self.max_listed = max;
        self
    }

    /// The status a file read to the end is shown with (default `checked`).
    pub fn with_read_status(mut self, status: &'static str) -> Self {
        self.read_status = status;
        self
    }

    /// What the human report calls the records counted as valid (default
    /// `valid`): `written` for a pseudonymised extract, whose records are
    /// written, not checked.
    pub fn with_valid_label(mut self, label: &'static str) -> Self {
        self.valid_label = label;
        self
    }

    /// Adds a finding, counted against the last file started.
    pub fn push(&mut self, f: Finding) -> Result<()> {
        let last = self.files.len().checked_sub(1);
        self.push_at(last, f)
    }

    /// Adds a finding, counted against file `at` (an index in `files`).
    fn push_at(&mut self, at: Option<usize>, f: Finding) -> Result<()> {
        self.push_inner(at, f).map_err(Error::Spill)
    }

    fn push_inner(&mut self, at: Option<usize>, f: Finding) -> io::Result<()> {
        if self.listed == self.max_listed && self.spill.is_some() {
            self.listed += 1;
            let note = Finding::new(
                rules::LIMIT_FINDINGS,
                &f.file,
                f.line,
                None,
                format!(
                    "more than {} findings: the rest are counted, not listed",
                    self.max_listed
                ),
            );
            self.warnings += 1;
            if let Some(spill) = &mut self.spill {
                serde_json::to_writer(&mut *spill, &note)?;
                spill.write_all(b"\n")?;
            }
            self.rules
                .entry(note.rule.clone())
                .or_insert_with(|| RuleStats {
                    severity: note.severity,
                    count: 0,
                    examples: Vec::new(),
                })
                .count += 1;
        }
        match f.severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
        }
        if let Some(file) = at.and_then(|i| self.files.get_mut(i)) {
            match f.severity {
                Severity::Error => file.errors += 1,
                Severity::Warning => file.warnings += 1,
            }
        }
        if self.listed < self.max_listed {
            if let Some(spill) = &mut self.spill {
                self.listed += 1;
                serde_json::to_writer(&mut *spill, &f)?;
                spill.write_all(b"\n")?;
            }
        }
        let stats = self
            .rules
            .entry(f.rule.clone())
            .or_insert_with(|| RuleStats {
                severity: f.severity,
                count: 0,
                examples: Vec::new(),
            });
        stats.count += 1;
        if stats.examples.len() < self.examples {
            stats.examples.push(f);
        }
        Ok(())
    }

    /// The summary.
    pub fn summary(&self) -> Summary<'_> {
        Summary {
            records_read: self.records_read,
            records_valid: self.records_valid,
            errors: self.errors,
            warnings: self.warnings,
            rules: self
                .rules
                .iter()
                .map(|(k, v)| (k.as_str(), v.count))
                .collect(),
            files: &self.files,
        }
    }

    /// The files (and kinds) whose records do not balance: read differs
    /// from valid + rejected + merged + skipped. Empty after a sound run.
    pub fn unbalanced(&self) -> Vec<(String, Option<String>, Tally)> {
        let mut out = Vec::new();
        for f in &self.files {
            let total = Tally {
                read: f.records,
                valid: f.valid,
                rejected: f.rejected,
                merged: f.merged,
                skipped: f.skipped,
            };
            if !total.balances() {
                out.push((f.file.clone(), None, total));
            }
            for (k, t) in &f.kinds {
                if !t.balances() {
                    out.push((f.file.clone(), Some(k.clone()), *t));
                }
            }
        }
        out
    }

    /// Totals over every file.
    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        for f in &self.files {
            t.add(&Tally {
                read: f.records,
                valid: f.valid,
                rejected: f.rejected,
                merged: f.merged,
                skipped: f.skipped,
            });
        }
        t
    }

    fn file_index(&self, id: FileId) -> Option<usize> {
        self.ids.get(id as usize).copied().flatten()
    }

    /// Count of findings of a rule.
    pub fn count(&self, rule: &str) -> u64 {
        self.rules.get(rule).map_or(0, |s| s.count)
    }

    /// Writes the JSON document: `{"summary": {...}, "findings": [...]}`.
    pub fn write_json(&mut self, out: &mut dyn Write) -> Result<()> {
        self.write_json_inner(out).map_err(Error::Write)
    }

    fn write_json_inner(&mut self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(b"{\"summary\":")?;
        serde_json::to_writer_pretty(&mut *out, &self.summary())?;
        out.write_all(b",\n\"findings\":[")?;
        if let Some(spill) = self.spill.take() {
            let mut file = spill.into_inner().map_err(|e| e.into_error())?;
            file.rewind()?;
            let mut first = true;
            for line in BufReader::new(file).lines() {
                let line = line?;
                out.write_all(if first { b"\n" } else { b",\n" })?;
                out.write_all(line.as_bytes())?;
                first = false;
            }
        }
        out.write_all(b"\n]}\n")?;
        out.flush()
    }

    /// Writes the human report: totals, then each rule with its count and
    /// first examples, errors first, then the files.
    pub fn write_human(&self, out: &mut dyn Write) -> Result<()> {
        self.write_human_inner(out).map_err(Error::Write)
    }

    fn write_human_inner(&self, out: &mut dyn Write) -> io::Result<()> {
        let t = self.tally();
        writeln!(
            out,
            "{} file(s), {} record(s) read, {} {}, {} rejected, {} merged, {} skipped, {} error(s), {} warning(s)",
            self.files.len(),
            self.records_read,
            self.records_valid,
            self.valid_label,
            t.rejected,
            t.merged,
            t.skipped,
            self.errors,
            self.warnings
        )?;
        for (sev, title) in [(Severity::Error, "Errors"), (Severity::Warning, "Warnings")] {
            let of_sev: Vec<_> = self
                .rules
                .iter()
                .filter(|(_, s)| s.severity == sev)
                .collect();
            if of_sev.is_empty() {
                continue;
            }
            writeln!(out, "\n{title} by rule:")?;
            for (rule, stats) in of_sev {
                let summary = rules::rule(rule).map_or("", |r| r.summary);
                writeln!(out, "  {rule:<28} {:>9}  {summary}", stats.count)?;
                for f in &stats.examples {
                    let mut at = match f.line {
                        Some(l) => format!("{}:{l}", f.file),
                        None => f.file.clone(),
                    };
                    if let Some(pos) = &f.at {
                        at.push_str(&format!(" ({pos})"));
                    }
                    let field = f
                        .field
                        .as_deref()
                        .map(|c| format!(" [{c}]"))
                        .unwrap_or_default();
                    let value = f
                        .value
                        .as_deref()
                        .map(|v| format!(" (value: {v:?})"))
                        .unwrap_or_default();
                    writeln!(out, "      {at}{field}: {}{value}", f.message)?;
                }
                if stats.count > stats.examples.len() as u64 {
                    writeln!(
                        out,
                        "      ... and {} more",
                        stats.count - stats.examples.len() as u64
                    )?;
                }
            }
        }
        writeln!(out, "\nFiles:")?;
        for f in &self.files {
            writeln!(
                out,
                "  {:<36} {:<8} {:>9} records {:>9} {} {:>7} rejected {:>7} merged {:>7} skipped {:>7} errors {:>7} warnings  {}  sha256 {}",
                f.file,
                f.status,
                f.records,
                f.valid,
                self.valid_label,
                f.rejected,
                f.merged,
                f.skipped,
                f.errors,
                f.warnings,
                f.mapping.as_deref().unwrap_or("-"),
                f.sha256.as_deref().map_or("-", |s| &s[..16.min(s.len())]),
            )?;
        }
        Ok(())
    }
}

/// The report is built from the run's events: files, findings and the
/// disposition of every record.
impl EventSink for Report {
    fn emit(&mut self, event: Event<'_>) -> io::Result<()> {
        match event {
            Event::FileStarted {
                file,
                name,
                mapping,
                kind,
            } => {
                let i = file as usize;
                if self.ids.len() <= i {
                    self.ids.resize(i + 1, None);
                }
                self.ids[i] = Some(self.files.len());
                self.files.push(FileSummary {
                    file: name.to_string(),
                    status: "failed".into(),
                    mapping: mapping.map(str::to_string),
                    kind: kind.map(|k| k.to_string()),
                    ..FileSummary::default()
                });
            }
            Event::Finding { file, finding } => {
                let at = file.and_then(|id| self.file_index(id));
                self.push_inner(at, finding)?;
            }
            Event::Record {
                file,
                kind,
                disposition,
                ..
            } => {
                if let Some(f) = self.file_index(file).and_then(|i| self.files.get_mut(i)) {
                    let mut t = Tally::default();
                    t.count(disposition);
                    f.valid += t.valid;
                    f.rejected += t.rejected;
                    f.merged += t.merged;
                    f.skipped += t.skipped;
                    let k = f.kinds.entry(kind.to_string()).or_default();
                    k.count(disposition);
                    // A file of one kind: every record read is of that kind.
                    // Otherwise (JSON Lines of several kinds) a kind's records
                    // read are those disposed of it.
                    if f.kind.is_none() {
                        k.read += 1;
                    }
                    self.records_valid += t.valid;
                }
            }
            Event::FileFinished {
                file,
                outcome,
                sha256,
                bytes,
                records,
            } => {
                let read_status = self.read_status;
                if let Some(f) = self.file_index(file).and_then(|i| self.files.get_mut(i)) {
                    f.status = match outcome {
                        FileOutcome::Read => read_status.to_string(),
                        o => o.as_str().to_string(),
                    };
                    f.reason = match outcome {
                        FileOutcome::Read => None,
                        FileOutcome::Skipped { reason } | FileOutcome::Failed { reason } => {
                            Some(reason.clone())
                        }
                    };
                    f.sha256 = sha256.map(|s| s.to_hex());
                    f.bytes = bytes;
                    f.records = records;
                    if let Some(kind) = &f.kind {
                        f.kinds.entry(kind.clone()).or_default().read = records;
                    }
                    self.records_read += records;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_report_streams_every_finding_and_counts_per_rule() {
        let mut r = Report::new(2, true).unwrap();
        r.files.push(FileSummary {
            file: "a.csv".into(),
            ..FileSummary::default()
        });
        for line in 2..7 {
            r.push(Finding::new(
                rules::FIELD_REQUIRED,
                "a.csv",
                Some(line),
                Some("X"),
                "x is required but empty",
            ))
            .unwrap();
        }
        r.push(Finding::new(
            rules::ENCODING_FALLBACK,
            "a.csv",
            Some(3),
            None,
            "fallback",
        ))
        .unwrap();
        let mut out = Vec::new();
        r.write_json(&mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["summary"]["errors"], 5);
        assert_eq!(v["summary"]["warnings"], 1);
        assert_eq!(v["summary"]["rules"]["field.required"], 5);
        assert_eq!(v["findings"].as_array().unwrap().len(), 6);
        assert_eq!(v["findings"][4]["line"], 6);
        assert_eq!(v["summary"]["files"][0]["errors"], 5);

        let mut human = Vec::new();
        r.write_human(&mut human).unwrap();
        let human = String::from_utf8(human).unwrap();
        assert!(human.contains("... and 3 more"), "{human}");
        assert!(human.contains("a.csv:2 [X]: x is required but empty"));
    }

    #[test]
    fn listing_stops_at_the_limit_but_counting_does_not() {
        let mut r = Report::new(1, true).unwrap().with_limit(3);
        for line in 2..12 {
            r.push(Finding::new(
                rules::FIELD_REQUIRED,
                "a.csv",
                Some(line),
                None,
                "m",
            ))
            .unwrap();
        }
        let mut out = Vec::new();
        r.write_json(&mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["summary"]["rules"]["field.required"], 10);
        assert_eq!(v["summary"]["errors"], 10);
        assert_eq!(v["summary"]["rules"]["limit.findings"], 1);
        let listed = v["findings"].as_array().unwrap();
        assert_eq!(listed.len(), 4);
        assert_eq!(listed[3]["rule"], "limit.findings");
    }
}
