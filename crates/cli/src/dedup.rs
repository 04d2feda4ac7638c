//! `casebridge dedup`: exact and near duplicates, and person linkage, with
//! explained decisions, a pairs file, an XLSX review queue and survivors.
//!
//! Inputs are read through their mappings into canonical records (with
//! provenance), then handed to [`casebridge_dedup::Deduper`]. A file that
//! cannot be read, that no mapping fits or whose header lacks a mapped
//! column stops the run before anything is linked (exit 2): linking part of
//! the records would report duplicates as distinct.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use casebridge_dedup::{review, Decision, DedupConfig, Deduper, Outcome, Pair, RunOptions};
use casebridge_io::OutputFile;
use casebridge_mapping::{Error as MappingError, MappedRecord, Mapping, MappingSet};
use casebridge_model::{
    Locator, MappingRef, Provenance, Record, RecordKind, Sha256, SourceErrorKind, SourceRef,
    TextRow,
};
use clap::{Args, ValueEnum};
use serde::Serialize;

/// Report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Counts, the model's parameters and the first pairs explained.
    Human,
    /// One JSON document: summary, files, blocking, model and every pair.
    Json,
}

/// Arguments of `casebridge dedup`.
#[derive(Debug, Args)]
pub struct DedupArgs {
    /// Input files or directories (a directory's files are matched to
    /// mappings by name; those no mapping fits are skipped).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// A mapping file (applied to every input) or a directory of mapping files.
    #[arg(long, short)]
    pub mapping: PathBuf,
    /// Dedup configuration (TOML): thresholds, blocking, guards, notes,
    /// survivorship. Defaults as in `mappings/dedup.toml`.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Write every merged or review pair here (CSV: id_l,id_r,score,decision,kind,method).
    #[arg(long)]
    pub pairs: Option<PathBuf>,
    /// Write the review queue (pairs between the thresholds) as an XLSX workbook.
    #[arg(long)]
    pub review: Option<PathBuf>,
    /// A reviewed workbook: its `decision` column (merge / distinct)
    /// overrides the model for those pairs.
    #[arg(long)]
    pub review_in: Option<PathBuf>,
    /// Write the surviving records (merged persons and notes included) as JSON Lines.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Write the report to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Show field values in pair explanations. They are personal data: off by default.
    #[arg(long)]
    pub show_values: bool,
    /// Pairs explained per decision in the human report.
    #[arg(long, default_value_t = 10)]
    pub examples: usize,
    /// Largest record, in bytes, held in memory; larger ones are rejected.
    #[arg(long, default_value_t = 64 << 20)]
    pub max_record_bytes: usize,
}

/// What happened to one input file.
#[derive(Debug, Clone, Serialize)]
struct FileReport {
    file: String,
    mapping: Option<String>,
    kind: Option<RecordKind>,
    sha256: Option<String>,
    #[serde(skip)]
    bytes: u64,
    records: u64,
    rejected: u64,
    status: &'static str,
}

/// Reads one file through its mapping into records; `Err` is a message
/// (ids and locations only) for a file that could not be read.
fn read_file(
    path: &Path,
    m: &Mapping,
    limits: &casebridge_runner::Limits,
    out: &mut Vec<Record>,
    report: &mut FileReport,
) -> Result<(), String> {
    let name = path.display().to_string();
    let mut src = match casebridge_runner::open_source(path, m, limits) {
        Ok(s) => s,
        Err(e) => return Err(format!("{name}: {e}")),
    };
    let header = src.columns().to_vec();
    let bound = m.bind(&header).map_err(|diags| {
        let d: Vec<String> = diags.iter().map(|d| format!("  {d}")).collect();
        format!(
            "{name}: header does not fit mapping `{}`:\n{}",
            m.id,
            d.join("\n")
        )
    })?;
    let start = out.len();
    let mut row = TextRow::new();
    let mut rec = MappedRecord::new(m.kind);
    let mut issues = Vec::new();
    let mapping = MappingRef {
        id: m.id.clone(),
        version: m.version.clone(),
        sha256: m.sha256,
    };
    loop {
        match src.read_row(&mut row, bound.wanted()) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) if e.recoverable => {
                report.records += 1;
                report.rejected += 1;
                continue;
            }
            Err(e) => return Err(format!("{name}: {e}")),
        }
        report.records += 1;
        issues.clear();
        // A bad value leaves its field empty; the record is kept.
        bound.apply(&mut row, &mut rec, &mut issues, false);
        let prov = Provenance {
            run_id: String::new(),
            source: SourceRef {
                system: m.system.clone(),
                file: name.clone(),
                sha256: Sha256::default(),
            },
            locator: row.locator.clone().unwrap_or(Locator::File),
            mapping: mapping.clone(),
            content_sha256: Sha256::default(),
        };
        match m.to_record(&rec, prov) {
            Some(r) => out.push(r),
            None => report.rejected += 1,
        }
    }
    drop(bound);
    match src.finish() {
        Ok(info) => {
            report.sha256 = Some(info.sha256.to_hex());
            report.bytes = info.bytes;
            for r in &mut out[start..] {
                for p in &mut r.header_mut().provenance {
                    p.source.sha256 = info.sha256;
                }
            }
            Ok(())
        }
        Err(e) if matches!(e.kind, SourceErrorKind::Empty) => Ok(()),
        Err(e) => Err(format!("{name}: {e}")),
    }
}

/// Runs `dedup`; returns the exit code: 0 done, 1 done with pairs left for
/// review, 2 could not run.
pub fn run(args: DedupArgs, quiet: bool) -> anyhow::Result<u8> {
    let mappings = match MappingSet::load(&args.mapping) {
        Ok(m) => m,
        Err(MappingError::Invalid(diags)) => {
            eprintln!("error: the mapping cannot be used:");
            for d in diags {
                eprintln!("  {d}");
            }
            return Ok(2);
        }
        Err(e) => return Err(e).context("loading mappings"),
    };
    let cfg = match &args.config {
        Some(p) => DedupConfig::from_path(p)?,
        None => DedupConfig::default(),
    };
    let reviewed = match &args.review_in {
        Some(p) => review::read_decisions(p)?,
        None => Vec::new(),
    };

    // Plan: every input gets one mapping, or the run stops.
    let plan = casebridge_runner::plan_inputs(&args.inputs, &mappings)?;
    let mut files: Vec<FileReport> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for u in &plan.unmatched {
        let name = u.path.display().to_string();
        if !u.candidates.is_empty() {
            problems.push(format!(
                "{name}: several mappings fit: {}",
                u.candidates.join(", ")
            ));
        } else if u.from_dir {
            files.push(file_report(&name, None, "skipped"));
        } else {
            problems.push(format!(
                "{name}: no mapping's source glob fits this file name"
            ));
        }
    }
    let mut planned: Vec<(PathBuf, &Mapping)> = Vec::new();
    for f in &plan.files {
        if f.mapping.kind == RecordKind::FormAnswer {
            files.push(file_report(
                &f.path.display().to_string(),
                Some(f.mapping),
                "skipped",
            ));
        } else {
            planned.push((f.path.clone(), f.mapping));
        }
    }
    let limits = casebridge_runner::Limits {
        max_record_bytes: args.max_record_bytes,
        ..casebridge_runner::Limits::default()
    };
    let mut records: Vec<Record> = Vec::new();
    for (path, m) in &planned {
        let mut fr = file_report(&path.display().to_string(), Some(m), "read");
        if let Err(msg) = read_file(path, m, &limits, &mut records, &mut fr) {
            fr.status = "failed";
            problems.push(msg);
        }
        files.push(fr);
    }
    crate::note_inputs(files.iter().map(|f| casebridge_runner::audit::AuditInput {
        file: f.file.clone(),
        sha256: f.sha256.clone(),
        bytes: f.bytes,
    }));
    if !problems.is_empty() {
        eprintln!("error: dedup could not run:");
        for p in &problems {
            eprintln!("  {p}");
        }
        return Ok(2);
    }
    if !quiet {
        tracing::info!(
            records = records.len(),
            files = planned.len(),
            "Inputs read."
        );
    }

    // The run id: a digest of what went in, so the same inputs give the same outputs.
    let mut digest = String::new();
    for f in &files {
        digest.push_str(f.sha256.as_deref().unwrap_or("-"));
    }
    for (_, m) in &planned {
        digest.push_str(&m.sha256.to_hex());
    }
    digest.push_str(&toml::to_string(&cfg).unwrap_or_default());
    let run_id = format!(
        "dedup-{}",
        &Sha256::digest(digest.as_bytes()).to_hex()[..16]
    );
    let mut deduper = Deduper::new(cfg.clone());
    for mut r in records {
        for p in &mut r.header_mut().provenance {
            p.run_id.clone_from(&run_id);
        }
        deduper.push(r);
    }
    let opts = RunOptions {
        with_values: args.show_values || args.review.is_some(),
        reviewed,
    };
    let outcome = deduper.run(&opts)?;
    tracing::info!(
        pairs = outcome.pairs.len(),
        review = outcome.summary.review_pairs,
        "Deduplication finished."
    );

    if let Some(path) = &args.pairs {
        write_pairs(path, &outcome)?;
    }
    if let Some(path) = &args.review {
        let queue: Vec<&Pair> = outcome
            .pairs
            .iter()
            .filter(|p| p.decision == Decision::Review)
            .collect();
        review::write_review(path, &queue)?;
    }
    if let Some(path) = &args.out {
        let mut f = OutputFile::create(path)?;
        for r in &outcome.records {
            let line = r.to_json_line().context("serialising a record")?;
            f.write_all(line.as_bytes())
                .and_then(|()| f.write_all(b"\n"))
                .with_context(|| format!("writing {}", path.display()))?;
        }
        f.finish()?;
    }

    let mut buf = Vec::new();
    match args.format {
        Format::Human => write_human(&mut buf, &outcome, &files, &run_id, &args, &cfg)?,
        Format::Json => write_json(&mut buf, &outcome, &files, &run_id, args.show_values)?,
    }
    match &args.output {
        Some(path) => OutputFile::write_all(path, &buf)?,
        None => {
            let stdout = io::stdout();
            let mut out = stdout.lock();
            match out.write_all(&buf).and_then(|()| out.flush()) {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                r => r.context("writing the report")?,
            }
        }
    }
    Ok(if outcome.summary.review_pairs > 0 {
        1
    } else {
        0
    })
}

fn file_report(name: &str, m: Option<&Mapping>, status: &'static str) -> FileReport {
    FileReport {
        file: name.to_string(),
        mapping: m.map(|m| m.id.clone()),
        kind: m.map(|m| m.kind),
        sha256: None,
        bytes: 0,
        records: 0,
        rejected: 0,
        status,
    }
}

/// Writes the pairs file; every error names it once (the output file's
/// own, or the context here).
fn write_pairs(path: &Path, outcome: &Outcome) -> anyhow::Result<()> {
    let mut f = OutputFile::create(path)?;
    let rows = (|| -> anyhow::Result<()> {
        let mut w = csv::Writer::from_writer(&mut f);
        w.write_record(["id_l", "id_r", "score", "decision", "kind", "method"])?;
        for p in &outcome.pairs {
            if !matches!(p.decision, Decision::Merge | Decision::Review) {
                continue;
            }
            w.write_record([
                p.left.key.as_str(),
                p.right.key.as_str(),
                &format!("{:.4}", p.score),
                p.decision.as_str(),
                p.kind.as_str(),
                p.method.as_str(),
            ])?;
        }
        w.flush()?;
        Ok(())
    })();
    rows.with_context(|| format!("writing {}", path.display()))?;
    f.finish()?;
    Ok(())
}

fn strip_values(p: &Pair) -> Pair {
    let mut p = p.clone();
    for e in &mut p.fields {
        e.left = None;
        e.right = None;
    }
    p
}

fn write_json(
    out: &mut Vec<u8>,
    o: &Outcome,
    files: &[FileReport],
    run_id: &str,
    show_values: bool,
) -> anyhow::Result<()> {
    #[derive(Serialize)]
    struct Doc<'a> {
        run_id: &'a str,
        summary: &'a casebridge_dedup::Summary,
        files: &'a [FileReport],
        blocking: &'a casebridge_dedup::BlockingStats,
        model: &'a Option<casebridge_dedup::Model>,
        pairs: Vec<Pair>,
    }
    let pairs = o
        .pairs
        .iter()
        .map(|p| {
            if show_values {
                p.clone()
            } else {
                strip_values(p)
            }
        })
        .collect();
    let doc = Doc {
        run_id,
        summary: &o.summary,
        files,
        blocking: &o.blocking,
        model: &o.model,
        pairs,
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    out.push(b'\n');
    Ok(())
}

fn write_human(
    out: &mut Vec<u8>,
    o: &Outcome,
    files: &[FileReport],
    run_id: &str,
    args: &DedupArgs,
    cfg: &DedupConfig,
) -> anyhow::Result<()> {
    let s = &o.summary;
    let read: u64 = files.iter().map(|f| f.records).sum();
    let rejected: u64 = files.iter().map(|f| f.rejected).sum();
    writeln!(
        out,
        "casebridge dedup (run {run_id}): {} file(s), {read} record(s) read, {rejected} rejected",
        files.iter().filter(|f| f.status == "read").count()
    )?;
    for (k, n) in &s.records_in {
        let after = s
            .records_out
            .iter()
            .find(|(x, _)| x == k)
            .map_or(0, |(_, n)| *n);
        writeln!(out, "  {:<18} {n:>9} in {after:>9} out", k.as_str())?;
    }
    writeln!(
        out,
        "exact duplicates {}, near-duplicate notes/entries merged {}, persons merged {}",
        s.exact_duplicates, s.near_duplicates, s.persons_merged
    )?;
    let count = |d: Decision| o.pairs.iter().filter(|p| p.decision == d).count();
    writeln!(
        out,
        "pairs: {} merge, {} review, {} kept apart ({} by guards); reviewer decisions applied {}, not matched {}",
        count(Decision::Merge),
        count(Decision::Review),
        count(Decision::Distinct),
        s.guarded_pairs,
        s.reviewer_decisions,
        s.reviewer_unmatched
    )?;
    if let Some(m) = &o.model {
        writeln!(
            out,
            "\nBlocking: {} candidate pairs",
            o.blocking.candidate_pairs
        )?;
        for p in &o.blocking.passes {
            write!(out, "  {:<18} {:>10} pairs", p.name, p.pairs)?;
            if p.oversized_blocks > 0 {
                write!(
                    out,
                    "  ({} blocks over {} records skipped, {} records)",
                    p.oversized_blocks, cfg.linkage.max_block_size, p.oversized_records
                )?;
            }
            writeln!(out)?;
        }
        writeln!(
            out,
            "\nModel: lambda {:.5} (prior weight {:+.2}), {} EM iteration(s); merge at {:+.2}, review at {:+.2}",
            m.lambda, m.prior_weight, m.iterations, cfg.linkage.merge_at, cfg.linkage.review_at
        )?;
        writeln!(
            out,
            "  {:<14} {:<15} {:>8} {:>10} {:>8}",
            "field", "level", "m", "u", "weight"
        )?;
        for f in m.fields.iter().filter(|f| f.used) {
            for l in &f.levels {
                writeln!(
                    out,
                    "  {:<14} {:<15} {:>8.4} {:>10.6} {:>+8.2}",
                    f.field, l.level, l.m, l.u, l.weight
                )?;
            }
        }
    }
    for d in [Decision::Merge, Decision::Review, Decision::Distinct] {
        let ps: Vec<&Pair> = o.pairs.iter().filter(|p| p.decision == d).collect();
        if ps.is_empty() || args.examples == 0 {
            continue;
        }
        writeln!(
            out,
            "\n{} pairs ({}, first {} shown):",
            d.as_str(),
            ps.len(),
            args.examples.min(ps.len())
        )?;
        for p in ps.iter().take(args.examples) {
            write!(
                out,
                "  {} {} ~ {}  score {:.2}  {}",
                p.kind.as_str(),
                p.left.key,
                p.right.key,
                p.score,
                p.method.as_str()
            )?;
            if let Some(r) = &p.reason {
                write!(out, " ({r})")?;
            }
            writeln!(out)?;
            if let Some(prior) = p.prior {
                write!(out, "      prior {prior:+.2}")?;
            } else {
                write!(out, "     ")?;
            }
            for e in &p.fields {
                write!(out, " | {} {} {:+.2}", e.field, e.level, e.weight)?;
                if args.show_values {
                    write!(
                        out,
                        " [{} / {}]",
                        e.left.as_deref().unwrap_or(""),
                        e.right.as_deref().unwrap_or("")
                    )?;
                }
            }
            writeln!(out, " = {:.2}", p.score)?;
        }
    }
    if o.model.is_none() && o.pairs.is_empty() {
        writeln!(out, "no duplicates found")?;
    }
    Ok(())
}
