//! `casebridge dedup`: exact and near duplicates, and person linkage, with
//! explained decisions, a pairs file, an XLSX review queue and survivors.
//!
//! Inputs are read through their mappings into canonical records (with
//! provenance), then handed to [`casebridge_dedup::Deduper`]. A file that
//! cannot be read, that no mapping fits or whose header lacks a mapped
//! column stops the run before anything is linked (exit 2): linking part of
//! the records would report duplicates as distinct.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use casebridge_dedup::{review, Decision, DedupConfig, Outcome, Pair, RunOptions};
use casebridge_io::OutputFile;
use casebridge_mapping::{Error as MappingError, MappingSet};
use casebridge_runner::dedup::DedupOptions;
use casebridge_validate::Report;

use crate::progress::Bar;
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
    /// A mapping file (applied to every named input, and to the files of a
    /// named folder its glob fits) or a folder of mapping files; may be
    /// given several times (`-m mappings` takes every shipped set).
    #[arg(long, short, required = true)]
    pub mapping: Vec<PathBuf>,
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
    /// "Today" for the future-date rules of the check stage (yyyy-mm-dd;
    /// default: the real today).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<chrono::NaiveDate>,
}

/// Runs `dedup`; returns the exit code: 0 done, 1 done with pairs left for
/// review, 2 could not run.
pub fn run(args: DedupArgs, quiet: bool, facts: &mut crate::RunFacts) -> anyhow::Result<u8> {
    let outputs: Vec<&std::path::Path> = [&args.out, &args.pairs, &args.review, &args.output]
        .into_iter()
        .flatten()
        .map(PathBuf::as_path)
        .collect();
    if let Some(out) = casebridge_runner::output_over_input(&outputs, &args.inputs) {
        say!(
            "error: {}: an output would overwrite an input; choose another path",
            out.display()
        );
        return Ok(2);
    }
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
    let cfg = match &args.config {
        Some(p) => DedupConfig::from_path(p)?,
        None => DedupConfig::default(),
    };
    let reviewed = match &args.review_in {
        Some(p) => review::read_decisions(p)?,
        None => Vec::new(),
    };
    let opts = DedupOptions {
        config: cfg.clone(),
        run: RunOptions {
            with_values: args.show_values || args.review.is_some(),
            reviewed,
        },
        as_of: args
            .as_of
            .unwrap_or_else(|| chrono::Local::now().date_naive()),
        show_values: args.show_values,
        limits: casebridge_runner::Limits {
            max_record_bytes: args.max_record_bytes,
            ..casebridge_runner::Limits::default()
        },
    };
    let mut report =
        Report::new(args.examples, args.format == Format::Json)?.with_read_status("read");
    let bar = Bar::new(quiet);
    let (run, could_not_run) =
        casebridge_runner::dedup::dedup(&args.inputs, &mappings, opts, &mut report, &bar)?;
    bar.finish();
    casebridge_runner::check_balance(&mut report)?;
    facts.note_report(&report);
    let Some(outcome) = &run.outcome else {
        say!("error: dedup could not run: nothing was linked");
        let stderr = io::stderr();
        let mut err = stderr.lock();
        let _ = report.write_human(&mut err);
        return Ok(2);
    };
    if let Some(path) = &args.pairs {
        casebridge_runner::dedup::write_pairs(path, outcome)?;
    }
    if let Some(path) = &args.review {
        casebridge_runner::dedup::write_review(path, outcome)?;
    }
    if let Some(path) = &args.out {
        casebridge_runner::dedup::write_survivors(path, outcome)?;
    }

    let mut buf = Vec::new();
    match args.format {
        Format::Human => write_human(&mut buf, outcome, &report, &run.run_id, &args, &cfg)?,
        Format::Json => write_json(
            &mut buf,
            outcome,
            &mut report,
            &run.run_id,
            args.show_values,
        )?,
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
    Ok(if could_not_run || !report.unbalanced().is_empty() {
        2
    } else if outcome.summary.review_pairs > 0 {
        1
    } else {
        0
    })
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
    report: &mut Report,
    run_id: &str,
    show_values: bool,
) -> anyhow::Result<()> {
    #[derive(Serialize)]
    struct Doc<'a> {
        run_id: &'a str,
        summary: &'a casebridge_dedup::Summary,
        files: &'a [casebridge_validate::FileSummary],
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
        files: &report.files,
        blocking: &o.blocking,
        model: &o.model,
        pairs,
    };
    // The document, then the findings report under "report".
    let mut doc = serde_json::to_value(&doc)?;
    let mut findings = Vec::new();
    report.write_json(&mut findings)?;
    if let serde_json::Value::Object(m) = &mut doc {
        m.insert("report".into(), serde_json::from_slice(&findings)?);
    }
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    out.push(b'\n');
    Ok(())
}

fn write_human(
    out: &mut Vec<u8>,
    o: &Outcome,
    report: &Report,
    run_id: &str,
    args: &DedupArgs,
    cfg: &DedupConfig,
) -> anyhow::Result<()> {
    let s = &o.summary;
    let t = report.tally();
    writeln!(
        out,
        "casebridge dedup (run {run_id}): {} file(s), {} record(s) read, {} kept, {} merged, {} rejected, {} skipped",
        report.files.iter().filter(|f| f.status == "read").count(),
        t.read,
        t.valid,
        t.merged,
        t.rejected,
        t.skipped
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
    // Findings by rule with their places, and every file's accounting.
    writeln!(out)?;
    report.write_human(out)?;
    Ok(())
}
