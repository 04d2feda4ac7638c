//! `casebridge migrate`: the pipeline's stages with the ledger.
//!
//! plan -> (files unchanged since the last run skipped whole) -> source ->
//! map -> check -> the [`Export`] stage, whose [`Gate`] skips records whose
//! content is unchanged since their last version -> sinks; every event also
//! goes to the ledger. Records of a full extract that tonight's files no
//! longer hold are written as withdrawn.
//!
//! **One transaction.** Every ledger row of the run and every store
//! update are in one SQLite transaction. Outputs go to a staging folder
//! ([`casebridge_io::OutputDir`]) that is put in place as
//! `OUT/.pending-run-N` once complete and hashed; then the ledger commits;
//! then `.pending-run-N` becomes `OUT/run-N`. A run killed before the
//! ledger commits leaves no row and its pending folder is removed by the
//! next run; killed after, the next run finds the pending folder of a
//! committed run and puts it in place. Either way the next run ends as an
//! uninterrupted one would have.
//!
//! **Nothing twice.** A run in which no file changed is not recorded at
//! all (the ledger and outputs stay as they are), so running the same
//! inputs again, or again after a kill, gives the same ledger.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use casebridge_csv::{CsvSink, CsvSinkConfig};
use casebridge_ledger::{Absent, FileRow, Ledger, Lock, RunInfo, RunStart, RunTxn};
use casebridge_mapping::{Mapping, MappingSet};
use casebridge_model::{
    rules, Disposition, Event, EventSink, FileId, FileOutcome, Finding, Provenance, Record,
    RecordKind, Sha256,
};
use casebridge_validate::Report;
use chrono::NaiveDate;

use crate::export::{Export, ExportTarget, Gate};
use crate::known::{Answer, Known};
use crate::pipeline::{FileCtx, Item, Needs, Pipeline, PipelineOptions, Stage, Verdict};
use crate::{check_balance, Error, Limits, Outcome, PlannedFile, Progress};

/// Settings of a migration run.
#[derive(Debug)]
pub struct MigrateOptions {
    /// The output folder: each run writes `run-NNNNNN/` in it.
    pub out_dir: PathBuf,
    /// What to write.
    pub target: ExportTarget,
    /// The ledger file.
    pub ledger: PathBuf,
    /// The ledger's page cache in bytes.
    pub ledger_cache: u64,
    /// The ledger's journal.
    pub ledger_journal: casebridge_ledger::Journal,
    /// The most memory the store may take when held in memory for the run
    /// (bytes; 0: never held, the store is asked record by record).
    pub store_memory: u64,
    /// Report what would change; write nothing, record nothing.
    pub dry_run: bool,
    /// The inputs are full extracts: a record absent tonight is withdrawn.
    pub full_extract: bool,
    /// A label for the run.
    pub name: Option<String>,
    /// The run file's text and SHA-256, kept with the run.
    pub config: Option<(String, Sha256)>,
    /// `casebridge <version>`.
    pub tool: String,
    /// The check stage's date.
    pub as_of: NaiveDate,
    /// Values in findings.
    pub show_values: bool,
    /// Resource limits.
    pub limits: Limits,
    /// Deduplicate tonight's records before writing: survivors written,
    /// copies merged into them (with every copy's provenance).
    pub dedup: Option<casebridge_dedup::DedupConfig>,
}

/// What a migration run came to.
#[derive(Debug, Default)]
pub struct MigrateSummary {
    /// The run's number (the one it would have had, when not committed).
    pub seq: i64,
    /// The committed run; `None` for a dry run or when nothing changed.
    pub run: Option<RunInfo>,
    /// Nothing changed since this run: nothing was written or recorded.
    pub unchanged_since: Option<i64>,
    /// Records by change: `new`, `changed`, `restored`, `withdrawn`, `unchanged`.
    pub changes: BTreeMap<String, u64>,
    /// Files skipped whole as unchanged, with the run that last read them.
    pub unchanged_files: Vec<(String, i64)>,
    /// The run's folder, once in place.
    pub folder: Option<PathBuf>,
    /// Its files and their records.
    pub files: Vec<(String, u64)>,
}

/// The name of run `seq`'s folder.
pub fn run_folder(seq: i64) -> String {
    format!("run-{seq:06}")
}

const PENDING: &str = ".pending-";

/// The most memory the store takes when held in memory for a run, by
/// default (`[ledger] memory`): 80 MiB, about 1.75M records.
pub const STORE_MEMORY: u64 = 80 << 20;

/// Migrates `inputs` read through `mappings` with the ledger.
pub fn migrate(
    inputs: &[PathBuf],
    mappings: &MappingSet,
    opts: &MigrateOptions,
    report: &mut Report,
    progress: &dyn Progress,
) -> Result<(Outcome, MigrateSummary), Error> {
    let plan = crate::export::plan_outside(inputs, mappings, &opts.out_dir)?;
    if plan.files.iter().any(|f| same_file(&f.path, &opts.ledger)) {
        return Err(Error::LedgerIsInput(opts.ledger.clone()));
    }
    let started = now();
    let holder = format!(
        "pid {} on {}, since {started}",
        std::process::id(),
        hostname()
    );
    if let Some(dir) = opts.ledger.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| {
            Error::Output(casebridge_io::Error::Create {
                path: dir.to_path_buf(),
                source,
            })
        })?;
    }
    casebridge_ledger::check_ledger(&opts.ledger)?;
    let _lock = Lock::acquire(&opts.ledger, &holder)?;
    let mut ledger = Ledger::open_with(&opts.ledger, opts.ledger_cache, opts.ledger_journal)?;
    std::fs::create_dir_all(&opts.out_dir).map_err(|source| {
        Error::Output(casebridge_io::Error::Create {
            path: opts.out_dir.clone(),
            source,
        })
    })?;
    recover(&mut ledger, &opts.out_dir)?;

    // Files unchanged since the last run that read them are skipped whole.
    let mut hashes = BTreeMap::new();
    let mut sizes = BTreeMap::new();
    let mut unchanged: Vec<(&PlannedFile<'_>, i64, Sha256)> = Vec::new();
    let mut changed: Vec<PlannedFile<'_>> = Vec::new();
    for f in &plan.files {
        let known = hashes.get(&f.path).copied();
        let sha = match known {
            Some(h) => Some(h),
            None => crate::export::hash_file(&f.path).ok(),
        };
        if let Some(h) = sha {
            hashes.insert(f.path.clone(), h);
            if let Ok(m) = std::fs::metadata(&f.path) {
                sizes.insert(f.path.clone(), m.len());
            }
            if let Some(run) = ledger.unchanged_since(&crate::display(&f.path), &h.to_hex())? {
                unchanged.push((f, run, h));
                continue;
            }
        }
        changed.push(PlannedFile {
            path: f.path.clone(),
            mapping: f.mapping,
        });
    }
    let seq = ledger.next_seq()?;
    let mut summary = MigrateSummary {
        seq,
        unchanged_files: unchanged
            .iter()
            .map(|(f, run, _)| (crate::display(&f.path), *run))
            .collect(),
        ..MigrateSummary::default()
    };
    // Files in a folder that no mapping fits are skipped every night:
    // they change nothing.
    let nothing_to_read = changed.is_empty()
        && !unchanged.is_empty()
        && plan.missing.is_empty()
        && plan.not_files.iter().all(|(_, named)| !named)
        && plan
            .unmatched
            .iter()
            .all(|u| u.from_dir && u.candidates.is_empty());
    if nothing_to_read {
        // Nothing changed: the run is not recorded at all.
        summary.unchanged_since = unchanged.iter().map(|(_, r, _)| *r).max();
        return Ok((Outcome::default(), summary));
    }

    let start = RunStart {
        name: opts.name.clone(),
        started: started.clone(),
        tool: opts.tool.clone(),
        config_sha: opts.config.as_ref().map(|(_, s)| s.to_hex()),
        config: opts.config.as_ref().map(|(t, _)| t.clone()),
        mappings: mappings_json(mappings),
        out_dir: relative_to(&opts.out_dir, &opts.ledger),
    };
    let txn = ledger.begin(start)?;
    let run_id = txn.run_id();
    let folder = run_folder(seq);
    let pending = opts.out_dir.join(format!("{PENDING}{folder}"));
    let out = casebridge_io::OutputDir::create(&pending, true)?;
    // Errors of files in the staging folder name them in `run-N`.
    let final_dir = opts.out_dir.join(&folder);
    let at_target = |e: Error| e.at_target(out.path(), &final_dir);
    let changes_log = CsvSink::create(
        &out.path().join("changes.csv"),
        &["id", "kind", "change", "version", "content_sha256"],
        &CsvSinkConfig::default(),
    )
    .map_err(|e| Error::Sink(casebridge_model::SinkError::Output(Box::new(e))))?;
    let shared = Rc::new(RefCell::new(Shared {
        txn: Some(txn),
        pending: None,
        files: BTreeMap::new(),
        changes: BTreeMap::new(),
        log: Some(changes_log),
        scopes: BTreeMap::new(),
        error: None,
        known: None,
        survivors: false,
    }));

    let mut popts = PipelineOptions::checked(opts.as_of, opts.show_values, opts.limits.clone());
    popts.run_id.clone_from(&run_id);
    let mut stage = Migrate {
        export: Export::new(
            &opts.target,
            out.path().to_path_buf(),
            opts.show_values,
            hashes.clone(),
        )
        .with_sheet_rows(opts.limits.max_sheet_rows),
        deduper: opts.dedup.clone().map(casebridge_dedup::Deduper::new),
        files: BTreeMap::new(),
        hashes: hashes.clone(),
        shared: Some(Rc::clone(&shared)),
        changed: Vec::new(),
    };
    stage.export.run_id.clone_from(&run_id);
    stage.export.gate = Some(Box::new(Versioning {
        shared: Rc::clone(&shared),
        last: None,
    }));
    let could_not_run;
    {
        let mut events = LedgerEvents {
            report: &mut *report,
            shared: Rc::clone(&shared),
        };
        let mut pipeline = Pipeline::new(popts, &mut events, progress);
        // Unchanged files: reported as skipped; their records are still
        // there (not withdrawn), and a person file's persons are known to
        // the reference checks.
        for (f, run, sha) in &unchanged {
            let name = crate::display(&f.path);
            let scope = f.mapping.id.clone();
            {
                let mut s = shared.borrow_mut();
                let state = s.scope(&scope);
                state.whole = true;
                state.skipped.push(name.clone());
                let t = s.txn()?;
                if f.mapping.kind == RecordKind::Person {
                    // Streamed from the store into the (bounded) index.
                    pipeline.known_person_file();
                    let mut failed = None;
                    t.each_key_of_file(&scope, &name, &mut |k| {
                        if failed.is_none() {
                            failed = pipeline.known_person(k).err();
                        }
                    })?;
                    if let Some(e) = failed {
                        return Err(e);
                    }
                }
            }
            pipeline.skipped_file(
                &name,
                f.mapping,
                format!("unchanged since run {run} (same SHA-256): not read again"),
                Some(sha),
                sizes.get(&f.path).copied().unwrap_or(0),
            )?;
        }
        let reduced = crate::Plan {
            files: changed,
            unmatched: plan.unmatched.clone(),
            missing: plan.missing.clone(),
            repeated: plan.repeated.clone(),
            not_files: plan.not_files.clone(),
            folders: plan.folders.clone(),
            globs: plan.globs.clone(),
            unused: plan.unused.clone(),
        };
        if !reduced.files.is_empty() {
            let mut s = shared.borrow_mut();
            s.known = Known::load(s.txn()?, opts.store_memory / Known::BYTES)?;
        }
        pipeline.run(&reduced, "", &mut stage).map_err(at_target)?;
        pipeline.end().map_err(at_target)?;
        could_not_run = pipeline.could_not_run();
    }
    if let Some(e) = shared.borrow_mut().error.take() {
        return Err(e.into());
    }
    if let Some(deduper) = stage.deduper.take() {
        let mut events = LedgerEvents {
            report: &mut *report,
            shared: Rc::clone(&shared),
        };
        write_survivors(
            deduper,
            &mut stage,
            mappings,
            &mut events,
            &shared,
            could_not_run,
        )?;
        if let Some(e) = shared.borrow_mut().error.take() {
            return Err(e.into());
        }
    }

    // Tonight's records are all written: their files are hashed for the
    // ledger on a thread of their own while the withdrawals are found and
    // written, and a first run's indexes made.
    let mut files = stage.export.finish().map_err(at_target)?;
    let hashing = (!opts.dry_run).then(|| {
        let dir = out.path().to_path_buf();
        let names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
        std::thread::spawn(move || {
            names
                .into_iter()
                .map(|n| {
                    let hashed = hash_output(&dir.join(&n));
                    (n, hashed)
                })
                .collect::<BTreeMap<_, _>>()
        })
    });

    // Withdrawals: records of a full extract that tonight's files of the
    // same source no longer hold.
    let scopes: Vec<(String, ScopeState)> = shared
        .borrow()
        .scopes
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut withdrawn_export = Export::new(
        &opts.target,
        out.path().join("withdrawn"),
        opts.show_values,
        BTreeMap::new(),
    )
    .with_sheet_rows(opts.limits.max_sheet_rows);
    let mut withdrawn_any = false;
    for (scope, state) in scopes {
        let Some(mapping) = mappings.mappings.iter().find(|m| m.id == scope) else {
            continue;
        };
        if !opts.full_extract || !state.whole {
            continue;
        }
        if state.failed {
            report.push(Finding::new(
                rules::MIGRATE_WITHDRAWAL_HELD,
                "-",
                None,
                None,
                format!("a file of mapping `{scope}` was not read through: records absent from it are not withdrawn in this run"),
            ))?;
            continue;
        }
        let absent = {
            let mut s = shared.borrow_mut();
            // Memory names the few candidates and the store confirms them;
            // else the store is searched whole.
            let candidates = s
                .known
                .as_ref()
                .and_then(|k| k.absent_candidates(&scope, &state.skipped));
            match candidates {
                Some(ids) => s.txn()?.absent_among(&scope, &ids)?,
                None => s.txn()?.absent(&scope, &state.skipped)?,
            }
        };
        for id in absent {
            // Named by the store in this transaction, so it is there.
            let Some(a) = shared.borrow_mut().txn()?.stored(&id)? else {
                return Err(Error::LedgerState);
            };
            if !withdrawn_any {
                std::fs::create_dir_all(out.path().join("withdrawn")).map_err(|source| {
                    Error::Output(casebridge_io::Error::Create {
                        path: out.path().join("withdrawn"),
                        source,
                    })
                })?;
                withdrawn_any = true;
            }
            withdraw(&a, mapping, &mut withdrawn_export, &shared, seq, report)?;
        }
    }

    for (name, n) in withdrawn_export.finish().map_err(at_target)? {
        files.push((format!("withdrawn/{name}"), n));
    }
    let log = shared.borrow_mut().log.take();
    if let Some(log) = log {
        let n = log
            .finish()
            .map_err(|e| Error::Sink(casebridge_model::SinkError::Output(Box::new(e))))?;
        files.push(("changes.csv".into(), n));
    }
    files.sort();
    check_balance(report)?;
    let outcome = Outcome {
        could_not_run: could_not_run || !report.unbalanced().is_empty(),
        has_errors: report.errors > 0,
    };
    let (txn, changes) = {
        let mut s = shared.borrow_mut();
        let t = s.txn.take();
        (t, std::mem::take(&mut s.changes))
    };
    drop(stage);
    let Some(mut txn) = txn else {
        return Err(Error::LedgerState);
    };
    summary.changes = changes;
    summary.files.clone_from(&files);
    let Some(hashing) = hashing else {
        txn.rollback()?;
        return Ok((outcome, summary));
    };
    txn.indexed()?;
    // (A file the thread did not hash is hashed here.)
    let mut hashed = hashing.join().unwrap_or_default();
    for (name, records) in &files {
        let (size, sha) = match hashed.remove(name) {
            Some(h) => h,
            None => hash_output(&out.path().join(name)),
        }?;
        txn.output(&format!("{folder}/{name}"), size, &sha, *records)?;
    }
    let run_summary = serde_json::json!({
        "files_read": report.files.len(),
        "records_read": report.records_read,
        "errors": report.errors,
        "warnings": report.warnings,
        "changes": &summary.changes,
    })
    .to_string();
    let outcome_name = if outcome.could_not_run {
        "could-not-run"
    } else if outcome.has_errors {
        "errors"
    } else {
        "clean"
    };
    // Outputs complete and hashed: in place as pending, then the ledger
    // commits, then the folder takes its name.
    out.commit()?;
    let (_, info) = txn.commit(&now(), outcome_name, &run_summary)?;
    let final_dir = opts.out_dir.join(&folder);
    put_in_place(&pending, &final_dir)?;
    summary.run = Some(info);
    summary.folder = Some(final_dir);
    Ok((outcome, summary))
}

/// Deduplicates tonight's records and writes the survivors through the
/// export stage (and its versioning gate): each survivor's first read is
/// its disposition (migrated, or skipped as unchanged), every other read is
/// merged into it; every pair decision is kept in the ledger with its
/// evidence. A run that could not read some file links nothing (linking
/// part of the records would report duplicates as distinct): its records
/// are skipped with that reason.
fn write_survivors(
    deduper: casebridge_dedup::Deduper,
    stage: &mut Migrate<'_>,
    mappings: &MappingSet,
    events: &mut LedgerEvents<'_>,
    shared: &Rc<RefCell<Shared>>,
    could_not_run: bool,
) -> Result<(), Error> {
    let reads = |r: &Record| -> Vec<(FileId, casebridge_model::Locator, String)> {
        r.header()
            .provenance
            .iter()
            .filter_map(|p| {
                stage
                    .files
                    .get(&(p.source.file.clone(), r.kind()))
                    .map(|(id, m)| (*id, p.locator.clone(), m.clone()))
            })
            .collect()
    };
    if could_not_run {
        let records = deduper.into_records();
        for r in &records {
            for (file, locator, _) in reads(r) {
                events.emit(Event::Record {
                    file,
                    kind: r.kind(),
                    locator: &locator,
                    disposition: &Disposition::Skipped {
                        reason: "the run could not read every file: nothing was linked or written"
                            .into(),
                    },
                })?;
            }
        }
        return Ok(());
    }
    let outcome = deduper.run(&casebridge_dedup::RunOptions::default())?;
    shared.borrow_mut().survivors = true;
    {
        let mut s = shared.borrow_mut();
        let t = s.txn()?;
        for p in &outcome.pairs {
            let evidence = serde_json::to_string(p).unwrap_or_default();
            t.merge(&p.left.id, &p.right.id, &evidence)?;
        }
    }
    for r in &outcome.records {
        let rs = reads(r);
        let Some((first_file, _, mapping_id)) = rs.first().cloned() else {
            continue;
        };
        let Some(mapping) = mappings.mappings.iter().find(|m| m.id == mapping_id) else {
            // Cannot happen (the reads name files this run's mappings
            // read), but no read may leave without a disposition.
            for (file, locator, _) in &rs {
                events.emit(Event::Record {
                    file: *file,
                    kind: r.kind(),
                    locator,
                    disposition: &Disposition::Skipped {
                        reason: format!("its mapping `{mapping_id}` is not in the set"),
                    },
                })?;
            }
            continue;
        };
        let name = r
            .header()
            .provenance
            .iter()
            .find(|p| stage.files.contains_key(&(p.source.file.clone(), r.kind())))
            .map(|p| p.source.file.clone())
            .unwrap_or_default();
        let path = PathBuf::from(&name);
        let ctx = FileCtx {
            id: first_file,
            name,
            path: &path,
            mapping,
            format: mapping.source.format_of(&path),
        };
        let verdict = stage.export.write_record(&ctx, r)?;
        let mut found = Vec::new();
        stage.export.take_findings(&mut found);
        for f in found {
            events.emit(Event::Finding {
                file: Some(first_file),
                finding: f,
            })?;
        }
        let first = match verdict {
            Verdict::Done(d) => d,
            Verdict::Deferred => Disposition::Valid,
        };
        let id = r.header().id.clone();
        for (i, (file, locator, _)) in rs.iter().enumerate() {
            let d = if i == 0 {
                first.clone()
            } else {
                Disposition::Merged { into: id.clone() }
            };
            shared.borrow_mut().pending = Some(id.clone());
            events.emit(Event::Record {
                file: *file,
                kind: r.kind(),
                locator,
                disposition: &d,
            })?;
        }
    }
    Ok(())
}

/// The pending folders of earlier runs: a committed run's put in place, an
/// uncommitted one's removed.
fn recover(ledger: &mut Ledger, out_dir: &Path) -> Result<(), Error> {
    let next = ledger.next_seq()?;
    let Ok(entries) = std::fs::read_dir(out_dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(folder) = name.strip_prefix(PENDING) else {
            continue;
        };
        let Some(seq) = folder
            .strip_prefix("run-")
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        let final_dir = out_dir.join(folder);
        if seq < next && !final_dir.exists() {
            tracing::info!(
                run = seq,
                "Putting the outputs of a committed run in place."
            );
            put_in_place(&e.path(), &final_dir)?;
        } else {
            tracing::info!(
                run = seq,
                "Removing the outputs of a run that did not commit."
            );
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    Ok(())
}

/// An output file's size and SHA-256 (hex), for the ledger.
fn hash_output(path: &Path) -> Result<(u64, String), Error> {
    std::fs::metadata(path)
        .and_then(|m| Ok((m.len(), casebridge_ledger::hash_file(path)?)))
        .map_err(|source| {
            Error::Output(casebridge_io::Error::Create {
                path: path.to_path_buf(),
                source,
            })
        })
}

fn put_in_place(from: &Path, to: &Path) -> Result<(), Error> {
    std::fs::rename(from, to).map_err(|source| {
        Error::Output(casebridge_io::Error::Rename {
            path: to.to_path_buf(),
            source,
        })
    })?;
    if let Some(parent) = to.parent() {
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn withdraw(
    a: &Absent,
    mapping: &Mapping,
    export: &mut Export<'_>,
    shared: &Rc<RefCell<Shared>>,
    seq: i64,
    report: &mut Report,
) -> Result<(), Error> {
    let reason = format!("absent from run {seq}'s full extract");
    {
        let mut s = shared.borrow_mut();
        s.txn()?.withdraw(a, &reason)?;
        s.change(&a.id, &a.kind, "withdrawn", 0, &a.content_sha)?;
    }
    report.push(Finding::new(
        rules::MIGRATE_WITHDRAWN,
        &a.file,
        None,
        None,
        format!(
            "record {} ({}) is not in this run's extract: written as withdrawn",
            a.id, a.kind
        ),
    ))?;
    match Record::from_json_line(&a.record) {
        Ok(r) => {
            let path = PathBuf::from(&a.file);
            let ctx = FileCtx {
                id: 0,
                name: a.file.clone(),
                path: &path,
                mapping,
                format: mapping.source.format_of(&path),
            };
            export.write_record(&ctx, &r)?;
            let mut found = Vec::new();
            export.take_findings(&mut found);
            for f in found {
                report.push(f)?;
            }
        }
        Err(_) => report.push(Finding::new(
            rules::MIGRATE_WITHDRAWN,
            &a.file,
            None,
            None,
            format!(
                "record {}: its last version in the store cannot be read back; it is withdrawn in the ledger but not written",
                a.id
            ),
        ))?,
    }
    Ok(())
}

/// What the run's parts share: the ledger transaction, the id of the
/// record whose disposition comes next, and tallies.
struct Shared {
    txn: Option<RunTxn>,
    /// Set by the gate for the record being decided; taken by the next
    /// `Event::Record` (the pipeline emits a record's disposition right
    /// after the stage decides it).
    pending: Option<String>,
    files: BTreeMap<FileId, (String, Option<String>, Option<RecordKind>)>,
    changes: BTreeMap<String, u64>,
    log: Option<CsvSink>,
    scopes: BTreeMap<String, ScopeState>,
    error: Option<casebridge_ledger::Error>,
    /// The store as the run began, when a file is read and it fits in
    /// memory: which records are unchanged, and which were named tonight.
    known: Option<Known>,
    /// Dedup survivors are being written (their content hashes are their
    /// own, not a read's).
    survivors: bool,
}

/// A source (mapping) in tonight's run.
#[derive(Debug, Clone, Default)]
struct ScopeState {
    /// A file of it was read to the end (or is unchanged).
    whole: bool,
    /// A file of it failed.
    failed: bool,
    /// Its files that were not read again, being unchanged: their records
    /// are all still there.
    skipped: Vec<String>,
}

impl Shared {
    fn txn(&mut self) -> Result<&mut RunTxn, Error> {
        self.txn.as_mut().ok_or(Error::LedgerState)
    }

    fn scope(&mut self, id: &str) -> &mut ScopeState {
        self.scopes.entry(id.to_string()).or_default()
    }

    fn change(
        &mut self,
        id: &str,
        kind: &str,
        change: &str,
        version: i64,
        sha: &str,
    ) -> Result<(), Error> {
        *self.changes.entry(change.to_string()).or_default() += 1;
        if let Some(log) = &mut self.log {
            let v = if version > 0 {
                version.to_string()
            } else {
                String::new()
            };
            log.write_row(&[id, kind, change, &v, sha])
                .map_err(|e| Error::Sink(casebridge_model::SinkError::Output(Box::new(e))))?;
        }
        Ok(())
    }
}

/// The migrate stage: the export stage, with records that broke a rule
/// noted as still present (so that a record faulty tonight is rejected,
/// not withdrawn).
struct Migrate<'t> {
    export: Export<'t>,
    /// With `[dedup]`: tonight's records, linked once every file is in.
    deduper: Option<casebridge_dedup::Deduper>,
    /// File ids and mappings by file name and kind, for the deferred
    /// dispositions of deduplicated records.
    files: BTreeMap<(String, RecordKind), (FileId, String)>,
    /// Each input's SHA-256, for the provenance of records held for dedup.
    hashes: BTreeMap<PathBuf, Sha256>,
    /// The run's shared state (the id of the record disposed of next).
    shared: Option<Rc<RefCell<Shared>>>,
    /// `file.changed` findings: a file whose reading pass hashed otherwise
    /// than the hash taken before the run.
    changed: Vec<Finding>,
}

impl Stage for Migrate<'_> {
    fn needs(&self) -> Needs {
        Needs {
            rejected: true,
            ..self.export.needs()
        }
    }

    fn open(
        &mut self,
        file: &FileCtx<'_>,
        header: &[String],
        part: Option<&str>,
    ) -> Result<(), String> {
        self.files.insert(
            (file.name.clone(), file.mapping.kind),
            (file.id, file.mapping.id.clone()),
        );
        self.export.open(file, header, part)
    }

    fn record(&mut self, file: &FileCtx<'_>, mut item: Item<'_>) -> Result<Verdict, Error> {
        // With dedup, a record that passed goes to the deduper (taken out
        // of the item only then; form answers have none and go on).
        if let (None, Some(deduper)) = (item.rejected, self.deduper.as_mut()) {
            if let Some(mut r) = item.record.take() {
                if let (Some(h), Some(p)) = (
                    self.hashes.get(file.path),
                    r.header_mut().provenance.last_mut(),
                ) {
                    p.source.sha256 = *h;
                }
                deduper.push(r);
                return Ok(Verdict::Deferred);
            }
        }
        if let Some(broken) = item.rejected {
            if let Some(r) = &item.record {
                if let Some(gate) = self.export.gate.as_mut() {
                    gate.present(r)?;
                }
            }
            return Ok(Verdict::Done(Disposition::Rejected {
                rules: broken.to_vec(),
            }));
        }
        // A form answer's disposition names the form it goes into.
        let form = (file.mapping.kind == RecordKind::FormAnswer)
            .then(|| item.mapped.get("form_id").and_then(|s| s.str()))
            .flatten()
            .map(|k| {
                casebridge_model::stable_id(RecordKind::WorkbookForm, &file.mapping.system, k)
            });
        let verdict = self.export.record(file, item)?;
        if let (Some(id), Some(shared)) = (form, &self.shared) {
            shared.borrow_mut().pending = Some(id);
        }
        Ok(verdict)
    }

    fn close(&mut self, file: &FileCtx<'_>, sha256: Option<&Sha256>) -> Result<(), Error> {
        if let (Some(first), Some(read)) = (self.hashes.get(file.path), sha256) {
            if first != read {
                self.changed.push(Finding::new(
                    rules::FILE_CHANGED,
                    &file.name,
                    None,
                    None,
                    "the file changed while it was migrated: its records' provenance names the SHA-256 taken first; run again",
                ));
            }
        }
        self.export.close(file, sha256)
    }

    fn take_findings(&mut self, out: &mut Vec<Finding>) {
        out.append(&mut self.changed);
        self.export.take_findings(out);
    }
}

/// The nightly versioning of records.
struct Versioning {
    shared: Rc<RefCell<Shared>>,
    /// The record admit last decided: its id, content hash, and what the
    /// store held of it.
    last: Option<(String, Sha256, Option<casebridge_ledger::Current>)>,
}

/// A record's content hash: its read's, taken as it was read, unless it is
/// a dedup survivor (`merged`), whose content is its copies' merged: a
/// read's hash is one copy's content, and a change to another copy would
/// pass for unchanged.
fn content_of(record: &Record, merged: bool) -> Sha256 {
    match record.header().provenance.last() {
        Some(p) if !merged && p.content_sha256 != Sha256::default() => p.content_sha256,
        _ => casebridge_model::content_sha256(record),
    }
}

fn first_key(record: &Record) -> &str {
    record
        .header()
        .source_keys
        .first()
        .map_or("", |k| k.key.as_str())
}

impl Gate for Versioning {
    fn admit(&mut self, _file: &FileCtx<'_>, record: &Record) -> Result<Option<String>, Error> {
        let id = &record.header().id;
        let content = content_of(record, self.shared.borrow().survivors);
        let mut s = self.shared.borrow_mut();
        s.pending = Some(id.clone());
        match s.known.as_ref().map(|k| k.answer(id, &content)) {
            Some(Answer::Unchanged { run }) => {
                self.last = None;
                *s.changes.entry("unchanged".into()).or_default() += 1;
                return Ok(Some(format!("unchanged since run {run}")));
            }
            Some(Answer::New) => {
                self.last = Some((id.clone(), content, None));
                return Ok(None);
            }
            Some(Answer::Ask) | None => {}
        }
        let sha = content.to_hex();
        let current = s.txn()?.current(id)?;
        self.last = Some((id.clone(), content, current.clone()));
        match current {
            Some(c) if !c.withdrawn && c.content_sha == sha => {
                *s.changes.entry("unchanged".into()).or_default() += 1;
                Ok(Some(format!("unchanged since run {}", c.run)))
            }
            _ => Ok(None),
        }
    }

    fn written(
        &mut self,
        file: &FileCtx<'_>,
        record: &Record,
        provenance: &[Provenance],
    ) -> Result<(), Error> {
        let h = record.header();
        // What admit found of it (a form or survivor written without
        // admit is hashed and looked up).
        let last = match self.last.take() {
            Some((id, content, current)) if id == h.id => Some((content, current)),
            _ => None,
        };
        let sha = last
            .as_ref()
            .map_or_else(
                || content_of(record, self.shared.borrow().survivors),
                |l| l.0,
            )
            .to_hex();
        let kind = record.kind().as_str();
        // The store keeps the record without its provenance, which the
        // version row holds.
        let provenance = serde_json::to_string(provenance).unwrap_or_default();
        let json = if h.provenance.is_empty() {
            record.to_json_line()
        } else {
            let mut bare = record.clone();
            bare.header_mut().provenance.clear();
            bare.to_json_line()
        }
        .map_err(|e| Error::Sink(casebridge_model::SinkError::Output(Box::new(e))))?;
        let mut s = self.shared.borrow_mut();
        let t = s.txn()?;
        let current = match last {
            Some((_, current)) => current,
            None => t.current(&h.id)?,
        };
        let next = |current: Option<casebridge_ledger::Current>| match current {
            None => ("new", 1),
            Some(c) if c.withdrawn => ("restored", c.version + 1),
            Some(c) => ("changed", c.version + 1),
        };
        let written = |t: &mut RunTxn, (change, version): (&'static str, i64)| {
            t.version(
                &h.id,
                kind,
                change,
                &sha,
                &provenance,
                &file.mapping.id,
                &file.name,
                first_key(record),
                json.trim_end(),
                version,
            )
        };
        let mut change = next(current);
        if !written(t, change)? {
            // The store holds it after all (written earlier tonight): the
            // version that follows its.
            change = next(t.current(&h.id)?);
            written(t, change)?;
        }
        let (change, version) = change;
        if let Some(known) = s.known.as_mut() {
            known.written(&h.id);
        }
        s.pending = Some(h.id.clone());
        s.change(&h.id, kind, change, version, &sha)?;
        Ok(())
    }

    fn present(&mut self, record: &Record) -> Result<(), Error> {
        // Its disposition names it: the record is there tonight.
        self.shared.borrow_mut().pending = Some(record.header().id.clone());
        Ok(())
    }
}

/// The run's events, to the report and to the ledger.
struct LedgerEvents<'a> {
    report: &'a mut Report,
    shared: Rc<RefCell<Shared>>,
}

impl EventSink for LedgerEvents<'_> {
    fn emit(&mut self, event: Event<'_>) -> std::io::Result<()> {
        let mut s = self.shared.borrow_mut();
        if let Err(e) = to_ledger(&mut s, &event) {
            let message = e.to_string();
            s.error.get_or_insert(e);
            return Err(std::io::Error::other(message));
        }
        drop(s);
        self.report.emit(event)
    }
}

fn to_ledger(s: &mut Shared, event: &Event<'_>) -> Result<(), casebridge_ledger::Error> {
    match event {
        Event::FileStarted {
            file,
            name,
            mapping,
            kind,
        } => {
            s.files.insert(
                *file,
                (name.to_string(), mapping.map(str::to_string), *kind),
            );
        }
        Event::Finding { .. } => {}
        Event::Record {
            file,
            kind,
            locator,
            disposition,
        } => {
            let id = s.pending.take();
            if let (Some(id), Some(known)) = (&id, s.known.as_mut()) {
                known.seen(id);
            }
            let loc = serde_json::to_string(locator).unwrap_or_default();
            let detail = match disposition {
                Disposition::Valid => None,
                Disposition::Rejected { rules } => Some(rules.join(",")),
                Disposition::Merged { into } => Some(into.clone()),
                Disposition::Skipped { reason } => Some(reason.clone()),
            };
            if let Some(t) = s.txn.as_mut() {
                t.disposition(
                    *file,
                    kind.as_str(),
                    &loc,
                    id.as_deref(),
                    disposition.as_str(),
                    detail.as_deref(),
                )?;
            }
        }
        Event::FileFinished {
            file,
            outcome,
            sha256,
            bytes,
            records,
        } => {
            let (name, mapping, kind) = s.files.get(file).cloned().unwrap_or_default();
            if let Some(m) = &mapping {
                let whole = matches!(outcome, FileOutcome::Read);
                let failed = matches!(outcome, FileOutcome::Failed { .. });
                let st = s.scope(m);
                st.whole |= whole;
                st.failed |= failed;
            }
            let reason = match outcome {
                FileOutcome::Read => None,
                FileOutcome::Skipped { reason } | FileOutcome::Failed { reason } => {
                    Some(reason.clone())
                }
            };
            if let Some(t) = s.txn.as_mut() {
                t.file(FileRow {
                    file: *file,
                    name,
                    mapping,
                    kind: kind.map(|k| k.as_str().to_string()),
                    size: *bytes,
                    sha256: sha256.map(Sha256::to_hex),
                    outcome: outcome.as_str().to_string(),
                    reason,
                    records: *records,
                })?;
            }
        }
    }
    Ok(())
}

fn mappings_json(set: &MappingSet) -> String {
    let mut v: Vec<serde_json::Value> = set
        .mappings
        .iter()
        .map(|m| {
            let mut o = serde_json::json!({
                "id": m.id,
                "version": m.version,
                "sha256": m.sha256.to_hex(),
            });
            if let Some(t) = &m.template {
                let sha = std::fs::read(&t.path)
                    .map(|b| Sha256::digest(&b).to_hex())
                    .unwrap_or_default();
                o["template"] =
                    serde_json::json!({ "id": t.id, "version": t.version, "sha256": sha });
            }
            o
        })
        .collect();
    v.sort_by_key(|o| o["id"].as_str().unwrap_or("").to_string());
    serde_json::Value::Array(v).to_string()
}

/// `path` relative to the ledger's folder when inside it, else absolute.
fn relative_to(path: &Path, ledger: &Path) -> String {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let p = abs(path);
    // A bare file name's parent is "", which `absolute` refuses: the
    // ledger's folder is then the current one.
    let base = abs(ledger
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new(".")));
    match p.strip_prefix(&base) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => p.display().to_string(),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this machine".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_folder_is_recorded_relative_to_a_ledger_named_bare() {
        assert_eq!(
            relative_to(Path::new("out"), Path::new("ledger.sqlite")),
            "out"
        );
        assert_eq!(
            relative_to(Path::new("out"), Path::new("./ledger.sqlite")),
            "out"
        );
        assert_eq!(
            relative_to(Path::new("a/out"), Path::new("a/ledger.sqlite")),
            "out"
        );
        assert!(
            Path::new(&relative_to(Path::new("out"), Path::new("b/ledger.sqlite"))).is_absolute()
        );
    }
}
