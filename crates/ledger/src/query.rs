//! What the ledger answers: its runs, a run's accounting
//! ([`Ledger::reconcile`]), a record's lineage ([`Ledger::lineage`]) and its
//! own integrity ([`Ledger::verify`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256 as Hasher};

use crate::{feed, run_digest, Error, Ledger, Value, CHAINED, GENESIS, RUN_FIELDS};

/// A committed run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunInfo {
    /// Its number.
    pub seq: i64,
    /// Its id (`run-000001`).
    pub run_id: String,
    /// Its label.
    pub name: Option<String>,
    /// Start, RFC 3339.
    pub started: String,
    /// End, RFC 3339.
    pub ended: String,
    /// `clean`, `errors`, ...
    pub outcome: String,
    /// Counts as JSON.
    pub summary: String,
    /// The output folder as recorded.
    pub out_dir: String,
    /// Its digest.
    pub digest: String,
}

/// One file's balance in a run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileBalance {
    /// The file's number in the run.
    pub file: i64,
    /// Its name.
    pub name: String,
    /// Its record kind.
    pub kind: String,
    /// `read`, `skipped`, `failed`.
    pub outcome: String,
    /// Why skipped or failed.
    pub reason: Option<String>,
    /// Its SHA-256.
    pub sha256: Option<String>,
    /// Records read.
    pub read: u64,
    /// Migrated (written or kept).
    pub migrated: u64,
    /// Merged into another record.
    pub merged: u64,
    /// Rejected.
    pub rejected: u64,
    /// Skipped (unchanged, or not passed on with a reason).
    pub skipped: u64,
}

impl FileBalance {
    /// read = migrated + merged + rejected + skipped.
    pub fn balances(&self) -> bool {
        self.read == self.migrated + self.merged + self.rejected + self.skipped
    }
}

/// A run's accounting.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reconciliation {
    /// The run.
    pub run: RunInfo,
    /// Every file (and part) it read, in order.
    pub files: Vec<FileBalance>,
    /// Record versions written: new, changed, restored, withdrawn.
    pub changes: BTreeMap<String, u64>,
}

impl Reconciliation {
    /// Whether every file balances.
    pub fn balances(&self) -> bool {
        self.files.iter().all(FileBalance::balances)
    }
}

/// One version of a record.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LineageVersion {
    /// The run that wrote it.
    pub run: i64,
    /// Its number.
    pub version: i64,
    /// `new`, `changed`, `restored`, `withdrawn`.
    pub change: String,
    /// Content hash.
    pub content_sha256: String,
    /// Its provenance (JSON: every copy's file, SHA-256, place, mapping).
    pub provenance: serde_json::Value,
}

/// One input record read into a record.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LineageRead {
    /// The run.
    pub run: i64,
    /// The file's name.
    pub file: String,
    /// Its SHA-256.
    pub sha256: Option<String>,
    /// The mapping that read it.
    pub mapping: Option<String>,
    /// Where in the file (JSON locator).
    pub locator: serde_json::Value,
    /// What became of it.
    pub disposition: String,
    /// Rules, survivor or reason.
    pub detail: Option<String>,
}

/// A dedup decision.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MergeRow {
    /// The run.
    pub run: i64,
    /// The record merged.
    pub record_id: String,
    /// Its survivor.
    pub into_id: String,
    /// The evidence (JSON).
    pub evidence: serde_json::Value,
}

/// Everything the ledger knows of a record.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Lineage {
    /// The record's id.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// Its versions, oldest first.
    pub versions: Vec<LineageVersion>,
    /// The input records read into it, run by run.
    pub reads: Vec<LineageRead>,
    /// Dedup decisions about it.
    pub merges: Vec<MergeRow>,
    /// The runs named above.
    pub runs: Vec<RunInfo>,
}

/// An integrity problem.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The run it breaks, when known.
    pub run: Option<i64>,
    /// What is wrong.
    pub what: String,
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or(serde_json::Value::String(s.to_string()))
}

impl Ledger {
    /// Every committed run, oldest first.
    pub fn runs(&mut self) -> Result<Vec<RunInfo>, Error> {
        let mut out = Vec::new();
        self.db().query(
            "SELECT seq, run_id, name, started, ended, outcome, summary, out_dir, digest FROM runs ORDER BY seq",
            &[],
            &mut |r| {
                out.push(run_info(r));
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// Run `seq`, or the last run.
    pub fn run(&mut self, seq: Option<i64>) -> Result<RunInfo, Error> {
        let runs = self.runs()?;
        match seq {
            Some(s) => runs.into_iter().find(|r| r.seq == s).ok_or(Error::NoRun(s)),
            None => runs.into_iter().last().ok_or(Error::NoRun(0)),
        }
    }

    /// The output folder of a run, as a path.
    pub fn out_dir_of(&self, run: &RunInfo) -> PathBuf {
        let p = Path::new(&run.out_dir);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.path.parent().unwrap_or(Path::new(".")).join(p)
        }
    }

    /// The accounting of run `seq` (default: the last).
    pub fn reconcile(&mut self, seq: Option<i64>) -> Result<Reconciliation, Error> {
        let run = self.run(seq)?;
        let mut files: Vec<FileBalance> = Vec::new();
        self.db().query(
            "SELECT file, name, kind, outcome, reason, sha256, records FROM files WHERE run = ?1 ORDER BY rowid",
            &[run.seq.into()],
            &mut |r| {
                files.push(FileBalance {
                    file: r[0].int().unwrap_or(-1),
                    name: r[1].str().to_string(),
                    kind: r[2].str().to_string(),
                    outcome: r[3].str().to_string(),
                    reason: r[4].text().map(str::to_string),
                    sha256: r[5].text().map(str::to_string),
                    read: u64::try_from(r[6].int().unwrap_or(0)).unwrap_or(0),
                    migrated: 0,
                    merged: 0,
                    rejected: 0,
                    skipped: 0,
                });
                Ok(())
            },
        )?;
        let mut counts: BTreeMap<(i64, String), u64> = BTreeMap::new();
        self.db().query(
            "SELECT file, disposition, COUNT(*) FROM dispositions WHERE run = ?1 GROUP BY file, disposition",
            &[run.seq.into()],
            &mut |r| {
                counts.insert(
                    (r[0].int().unwrap_or(-1), r[1].str().to_string()),
                    u64::try_from(r[2].int().unwrap_or(0)).unwrap_or(0),
                );
                Ok(())
            },
        )?;
        for ((file, d), n) in counts {
            match files.iter_mut().find(|f| f.file == file) {
                Some(f) => match d.as_str() {
                    "valid" => f.migrated += n,
                    "merged" => f.merged += n,
                    "rejected" => f.rejected += n,
                    _ => f.skipped += n,
                },
                None => files.push(FileBalance {
                    file,
                    name: format!("(file {file}: no file row)"),
                    kind: String::new(),
                    outcome: "missing".into(),
                    reason: None,
                    sha256: None,
                    read: 0,
                    migrated: u64::from(d == "valid") * n,
                    merged: u64::from(d == "merged") * n,
                    rejected: u64::from(d == "rejected") * n,
                    skipped: u64::from(!matches!(d.as_str(), "valid" | "merged" | "rejected")) * n,
                }),
            }
        }
        let mut changes = BTreeMap::new();
        self.db().query(
            "SELECT change, COUNT(*) FROM versions WHERE run = ?1 GROUP BY change",
            &[run.seq.into()],
            &mut |r| {
                changes.insert(
                    r[0].str().to_string(),
                    u64::try_from(r[1].int().unwrap_or(0)).unwrap_or(0),
                );
                Ok(())
            },
        )?;
        Ok(Reconciliation {
            run,
            files,
            changes,
        })
    }

    /// The lineage of record `id`; `None` when the ledger never saw it.
    pub fn lineage(&mut self, id: &str) -> Result<Option<Lineage>, Error> {
        let mut versions = Vec::new();
        let mut kind = String::new();
        self.db().query(
            "SELECT run, version, change, content_sha, provenance, kind FROM versions WHERE record_id = ?1 ORDER BY run, rowid",
            &[id.into()],
            &mut |r| {
                kind = r[5].str().to_string();
                versions.push(LineageVersion {
                    run: r[0].int().unwrap_or(0),
                    version: r[1].int().unwrap_or(0),
                    change: r[2].str().to_string(),
                    content_sha256: r[3].str().to_string(),
                    provenance: json(r[4].str()),
                });
                Ok(())
            },
        )?;
        let mut reads = Vec::new();
        self.db().query(
            "SELECT d.run, f.name, f.sha256, f.mapping, d.locator, d.disposition, d.detail, d.kind \
             FROM dispositions d LEFT JOIN files f ON f.run = d.run AND f.file = d.file \
             WHERE d.run IN (SELECT seq FROM runs) AND d.record_id = ?1 ORDER BY d.run, d.rowid",
            &[id.into()],
            &mut |r| {
                if kind.is_empty() {
                    kind = r[7].str().to_string();
                }
                reads.push(LineageRead {
                    run: r[0].int().unwrap_or(0),
                    file: r[1].str().to_string(),
                    sha256: r[2].text().map(str::to_string),
                    mapping: r[3].text().map(str::to_string),
                    locator: json(r[4].str()),
                    disposition: r[5].str().to_string(),
                    detail: r[6].text().map(str::to_string),
                });
                Ok(())
            },
        )?;
        let mut merges = Vec::new();
        self.db().query(
            "SELECT run, record_id, into_id, evidence FROM merges WHERE record_id = ?1 OR into_id = ?1 ORDER BY run, rowid",
            &[id.into()],
            &mut |r| {
                merges.push(MergeRow {
                    run: r[0].int().unwrap_or(0),
                    record_id: r[1].str().to_string(),
                    into_id: r[2].str().to_string(),
                    evidence: json(r[3].str()),
                });
                Ok(())
            },
        )?;
        if versions.is_empty() && reads.is_empty() && merges.is_empty() {
            return Ok(None);
        }
        let mut seqs: Vec<i64> = versions
            .iter()
            .map(|v| v.run)
            .chain(reads.iter().map(|r| r.run))
            .chain(merges.iter().map(|m| m.run))
            .collect();
        seqs.sort_unstable();
        seqs.dedup();
        let runs = self
            .runs()?
            .into_iter()
            .filter(|r| seqs.contains(&r.seq))
            .collect();
        Ok(Some(Lineage {
            id: id.to_string(),
            kind,
            versions,
            reads,
            merges,
            runs,
        }))
    }

    /// Checks the hash chain, every committed output file and the store.
    /// Returns the problems found (none: the ledger is intact).
    pub fn verify(&mut self) -> Result<Vec<Problem>, Error> {
        let mut problems = Vec::new();
        let mut runs: Vec<(i64, Vec<Value<'static>>, String)> = Vec::new();
        let cols = RUN_FIELDS.join(", ");
        self.db().query(
            &format!("SELECT seq, {cols}, digest FROM runs ORDER BY rowid"),
            &[],
            &mut |r| {
                let n = r.len();
                runs.push((
                    r[0].int().unwrap_or(0),
                    r[1..n - 1].iter().cloned().map(Value::into_owned).collect(),
                    r[n - 1].str().to_string(),
                ));
                Ok(())
            },
        )?;
        let mut prev = GENESIS.to_string();
        let mut expected = 1;
        let mut last_seq = 0;
        for (seq, fields, digest) in &runs {
            let seq = *seq;
            if seq != expected {
                problems.push(Problem {
                    run: Some(seq),
                    what: if seq > expected {
                        format!("run {expected} is missing from the ledger (the runs jump from {} to {seq})", expected - 1)
                    } else {
                        format!("run {seq} is out of order (after run {last_seq})")
                    },
                });
            }
            expected = seq + 1;
            last_seq = seq;
            let stored_prev = fields.last().map(Value::str).unwrap_or("");
            if stored_prev != prev {
                problems.push(Problem {
                    run: Some(seq),
                    what: format!("run {seq} does not follow the run before it: its previous digest is not that run's digest"),
                });
            }
            let mut tables = Vec::new();
            for (table, tcols) in CHAINED {
                let mut h = Hasher::new();
                self.db().query(
                    &format!(
                        "SELECT {} FROM {table} WHERE run = ?1 ORDER BY rowid",
                        tcols.join(", ")
                    ),
                    &[seq.into()],
                    &mut |r| {
                        feed(&mut h, r);
                        Ok(())
                    },
                )?;
                tables.push(h.finalize().into());
            }
            let again = run_digest(fields, &tables);
            if &again != digest {
                problems.push(Problem {
                    run: Some(seq),
                    what: format!(
                        "run {seq}'s rows do not match its digest: a row of the run (or the run's own row) was edited, deleted, added or reordered"
                    ),
                });
            }
            prev.clone_from(digest);
        }
        // Rows of no committed run.
        for (table, _) in CHAINED {
            let mut orphans = Vec::new();
            self.db().query(
                &format!(
                    "SELECT DISTINCT run FROM {table} WHERE run NOT IN (SELECT seq FROM runs)"
                ),
                &[],
                &mut |r| {
                    orphans.push(r[0].int().unwrap_or(0));
                    Ok(())
                },
            )?;
            for run in orphans {
                problems.push(Problem {
                    run: Some(run),
                    what: format!("table {table} holds rows of run {run}, which the ledger does not have (its run row was deleted)"),
                });
            }
        }
        // Output files.
        let infos = self.runs()?;
        for info in &infos {
            let dir = self.out_dir_of(info);
            let mut outs = Vec::new();
            self.db().query(
                "SELECT path, sha256 FROM outputs WHERE run = ?1 ORDER BY rowid",
                &[info.seq.into()],
                &mut |r| {
                    outs.push((r[0].str().to_string(), r[1].str().to_string()));
                    Ok(())
                },
            )?;
            for (path, sha) in outs {
                let p = dir.join(&path);
                match hash_file(&p) {
                    Ok(h) if h == sha => {}
                    Ok(_) => problems.push(Problem {
                        run: Some(info.seq),
                        what: format!("{}: the output file was changed after run {} wrote it (its SHA-256 differs)", p.display(), info.seq),
                    }),
                    Err(e) => problems.push(Problem {
                        run: Some(info.seq),
                        what: format!("{}: the output file of run {} cannot be read: {e}", p.display(), info.seq),
                    }),
                }
            }
        }
        // The store against the versions, in SQL: each store row against
        // its record's last version (both walked in record id order
        // through their indexes), in the page cache's memory however
        // large the ledger.
        let mut count = |sql: &str| -> Result<u64, Error> {
            let mut n = 0u64;
            self.db().query(sql, &[], &mut |r| {
                n = u64::try_from(r[0].int().unwrap_or(0)).unwrap_or(0);
                Ok(())
            })?;
            Ok(n)
        };
        let stray = count(
            "SELECT count(*) FROM current c WHERE NOT EXISTS (
                 SELECT 1 FROM (SELECT version, content_sha FROM versions v
                                WHERE v.record_id = c.record_id
                                ORDER BY v.run DESC, v.rowid DESC LIMIT 1) l
                 WHERE l.version = c.version AND l.content_sha = c.content_sha)",
        )?;
        let missing = count(
            "SELECT count(*) FROM (SELECT DISTINCT record_id FROM versions) v
             WHERE NOT EXISTS (SELECT 1 FROM current c WHERE c.record_id = v.record_id)",
        )?;
        if stray > 0 || missing > 0 {
            problems.push(Problem {
                run: None,
                what: format!(
                    "the canonical store is out of step with the ledger: {stray} record(s) differ from their latest version, {missing} version(s) have no record in the store"
                ),
            });
        }
        Ok(problems)
    }
}

fn run_info(r: &[Value]) -> RunInfo {
    RunInfo {
        seq: r[0].int().unwrap_or(0),
        run_id: r[1].str().to_string(),
        name: r[2].text().map(str::to_string),
        started: r[3].str().to_string(),
        ended: r[4].str().to_string(),
        outcome: r[5].str().to_string(),
        summary: r[6].str().to_string(),
        out_dir: r[7].str().to_string(),
        digest: r[8].str().to_string(),
    }
}

/// SHA-256 (hex) of a file's bytes.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Hasher::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}
