//! `dedup` as a composition of the pipeline's stages: plan, source, map,
//! check (findings reported; records with invalid values still linked, the
//! value left empty), then the dedup stage, whose merges become each input
//! record's disposition, then the sinks (survivors as JSON Lines, pairs,
//! the review queue).
//!
//! A file that cannot be read, that no mapping fits or whose header lacks
//! a mapped column stops the run before anything is linked: linking part
//! of the records would report duplicates as distinct.

use std::path::{Path, PathBuf};

use casebridge_dedup::{review, Decision, DedupConfig, Deduper, Outcome, Pair, RunOptions};
use casebridge_jsonl::JsonlSink;
use casebridge_mapping::MappingSet;
use casebridge_model::{
    Disposition, Event, EventSink, FileId, Record, RecordKind, RecordSink, Sha256,
};
use casebridge_validate::Report;
use rustc_hash::FxHashMap;

use crate::pipeline::{FileCtx, Item, Needs, Pipeline, PipelineOptions, Stage, Verdict};
use crate::{plan_inputs, Error, Limits, Progress};

/// Settings of a dedup run.
#[derive(Debug, Clone)]
pub struct DedupOptions {
    /// Thresholds, blocking, guards, notes, survivorship.
    pub config: DedupConfig,
    /// Evidence values and reviewer decisions.
    pub run: RunOptions,
    /// "Today" for the check stage's future-date rules.
    pub as_of: chrono::NaiveDate,
    /// Values in findings.
    pub show_values: bool,
    /// Resource limits.
    pub limits: Limits,
}

/// What a dedup run came to.
#[derive(Debug)]
pub struct DedupRun {
    /// A digest of what went in: the same inputs give the same run id.
    pub run_id: String,
    /// The dedup outcome; `None` when the run could not run (nothing linked).
    pub outcome: Option<Outcome>,
}

/// The dedup stage: takes canonical records as they are read (straight
/// into the [`Deduper`], so no second list of records is held) and decides
/// their dispositions once every file is in.
struct Collect {
    deduper: Deduper,
    /// File ids by name and kind (provenance names files; events number
    /// them, one number per part of a file read in parts). Each record taken
    /// is found again through its provenance entry of this run, so no list
    /// of inputs is held beside the records.
    ids: FxHashMap<(String, RecordKind), FileId>,
    /// Each file's SHA-256 once read, by name (provenance is completed with
    /// it at the end: records are in the deduper by then).
    hashes: FxHashMap<String, Sha256>,
}

impl Stage for Collect {
    fn needs(&self) -> Needs {
        Needs {
            records: true,
            rejected: true,
            text: true,
            raw: false,
            // Exact copies are found by their content hashes.
            unhashed: false,
        }
    }

    fn open(&mut self, file: &FileCtx<'_>, _: &[String], _: Option<&str>) -> Result<(), String> {
        self.ids
            .insert((file.name.clone(), file.mapping.kind), file.id);
        Ok(())
    }

    fn record(&mut self, file: &FileCtx<'_>, item: Item<'_>) -> Result<Verdict, Error> {
        match item.record {
            Some(r) => {
                self.deduper.push(r);
                Ok(Verdict::Deferred)
            }
            None => Ok(Verdict::Done(Disposition::Skipped {
                reason: format!(
                    "{} records are not deduplicated (they are pivoted into forms)",
                    file.mapping.kind
                ),
            })),
        }
    }

    fn close(&mut self, file: &FileCtx<'_>, sha256: Option<&Sha256>) -> Result<(), Error> {
        if let Some(sha) = sha256 {
            self.hashes.insert(file.name.clone(), *sha);
        }
        Ok(())
    }
}

/// Runs dedup over `inputs`; findings, files and every record's
/// disposition go to `report`.
pub fn dedup(
    inputs: &[PathBuf],
    mappings: &MappingSet,
    opts: DedupOptions,
    report: &mut Report,
    progress: &dyn Progress,
) -> Result<(DedupRun, bool), Error> {
    let plan = plan_inputs(inputs, mappings)?;
    let popts = PipelineOptions::checked(opts.as_of, opts.show_values, opts.limits.clone());
    let mut stage = Collect {
        deduper: Deduper::new(opts.config.clone()),
        ids: FxHashMap::default(),
        hashes: FxHashMap::default(),
    };
    let mut pipeline = Pipeline::new(popts, report, progress);
    pipeline.run(&plan, "", &mut stage)?;
    pipeline.end()?;
    let could_not_run = pipeline.could_not_run();
    drop(pipeline);

    // The run id: a digest of what went in, so the same inputs give the same outputs.
    let mut digest = String::new();
    for f in &report.files {
        digest.push_str(f.sha256.as_deref().unwrap_or("-"));
    }
    for f in &plan.files {
        digest.push_str(&f.mapping.sha256.to_hex());
    }
    digest.push_str(&toml::to_string(&opts.config).unwrap_or_default());
    let run_id = format!(
        "dedup-{}",
        &Sha256::digest(digest.as_bytes()).to_hex()[..16]
    );
    if could_not_run {
        // Nothing is linked; the records read are not disposed of, so the
        // report shows them as read and unaccounted: say why instead.
        let ids = std::mem::take(&mut stage.ids);
        for r in stage.deduper.into_records() {
            for p in this_run(&r) {
                if let Some(&file) = ids.get(&(p.source.file.clone(), r.kind())) {
                    report.emit(Event::Record {
                        file,
                        kind: r.kind(),
                        locator: &p.locator,
                        disposition: &Disposition::Skipped {
                            reason: "the run could not run: nothing was linked".into(),
                        },
                    })?;
                }
            }
        }
        return Ok((
            DedupRun {
                run_id,
                outcome: None,
            },
            true,
        ));
    }

    let Collect {
        deduper,
        ids,
        hashes,
    } = stage;
    tracing::info!(records = deduper.len(), "Inputs read.");
    let mut outcome = deduper.run(&opts.run)?;
    tracing::info!(
        pairs = outcome.pairs.len(),
        review = outcome.summary.review_pairs,
        "Deduplication finished."
    );
    // Every record read has its disposition, then this run's reads get the
    // run id and their file's hash.
    dispose(&outcome, &ids, report)?;
    for r in &mut outcome.records {
        for p in &mut r.header_mut().provenance {
            if p.run_id.is_empty() {
                p.run_id.clone_from(&run_id);
                if let Some(sha) = hashes.get(&p.source.file) {
                    p.source.sha256 = *sha;
                }
            }
        }
    }
    Ok((
        DedupRun {
            run_id,
            outcome: Some(outcome),
        },
        false,
    ))
}

/// The provenance entries of this run's reads (not yet given the run id):
/// one per input record that went into `r`.
fn this_run(r: &Record) -> impl Iterator<Item = &casebridge_model::Provenance> {
    r.header().provenance.iter().filter(|p| p.run_id.is_empty())
}

/// Every record taken by dedup gets its disposition, found through its
/// provenance entry of this run in the survivor it went into: the first
/// such entry of each survivor is valid (kept), every other merged into
/// the survivor. A record found in no survivor would leave its file
/// unbalanced (`run.unbalanced`).
fn dispose(
    outcome: &Outcome,
    ids: &FxHashMap<(String, RecordKind), FileId>,
    events: &mut dyn EventSink,
) -> Result<(), Error> {
    for r in &outcome.records {
        let kind = r.kind();
        // Entries naming no file of this run (a canonical input's own
        // lineage without a run id) are not reads of this run.
        let reads = this_run(r).filter_map(|p| {
            ids.get(&(p.source.file.clone(), kind))
                .map(|&file| (file, p))
        });
        for (i, (file, p)) in reads.enumerate() {
            let d = if i == 0 {
                Disposition::Valid
            } else {
                Disposition::Merged {
                    into: r.header().id.clone(),
                }
            };
            events.emit(Event::Record {
                file,
                kind,
                locator: &p.locator,
                disposition: &d,
            })?;
        }
    }
    Ok(())
}

/// Writes the survivors as JSON Lines through the JSON Lines sink.
pub fn write_survivors(path: &Path, outcome: &Outcome) -> Result<(), Error> {
    let mut sink: Box<dyn RecordSink> = Box::new(JsonlSink::create(path)?);
    for r in &outcome.records {
        sink.write_record(r)?;
    }
    sink.finish()?;
    Ok(())
}

/// Writes every merged or review pair as
/// `id_l,id_r,score,decision,kind,method`.
pub fn write_pairs(path: &Path, outcome: &Outcome) -> Result<(), Error> {
    let mut buf = Vec::new();
    {
        let mut w = csv::Writer::from_writer(&mut buf);
        let io = |e: csv::Error| Error::Report(std::io::Error::other(e.to_string()));
        w.write_record(["id_l", "id_r", "score", "decision", "kind", "method"])
            .map_err(io)?;
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
            ])
            .map_err(io)?;
        }
        w.flush().map_err(Error::Report)?;
    }
    casebridge_io::OutputFile::write_all(path, &buf)?;
    Ok(())
}

/// Writes the review queue (pairs between the thresholds) as XLSX.
pub fn write_review(path: &Path, outcome: &Outcome) -> Result<(), Error> {
    let queue: Vec<&Pair> = outcome
        .pairs
        .iter()
        .filter(|p| p.decision == Decision::Review)
        .collect();
    review::write_review(path, &queue)?;
    Ok(())
}
