//! The provenance ledger of `casebridge migrate`: runs, source files, the
//! disposition of every input record and every version of every output
//! record with its provenance, and beside them the canonical store of
//! each record's current version.
//!
//! - **Append-only and hash-chained.** The ledger's tables (`files`,
//!   `dispositions`, `versions`, `merges`, `outputs`, `runs`) only take
//!   inserts (triggers refuse updates and deletes). Each run's digest is
//!   the SHA-256 of the previous run's digest, the run's own fields and,
//!   table by table, every row the run added in insertion order, so that an
//!   edited, deleted or reordered row breaks the run it belongs to and
//!   [`Ledger::verify`] says which.
//! - **One transaction a run.** A run writes all its rows and its store
//!   updates in one transaction ([`RunTxn`]), committed once its outputs are
//!   in place: a run killed at any point leaves no row at all.
//! - **One storage interface.** Everything goes through [`Backend`]; the
//!   embedded SQLite file is the default.
//!
//! The store table `current` (one row per record: its latest version,
//! content hash and canonical JSON) is not chained: it is state, derived
//! from the versions, and [`Ledger::verify`] checks it against them.

#![forbid(unsafe_code)]

mod backend;
mod lock;
mod query;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256 as Hasher};

pub use backend::{check_ledger, Backend, Journal, Sqlite, Value, DEFAULT_CACHE};
pub use lock::{lock_path, Holder, Lock};
pub use query::{
    hash_file, FileBalance, Lineage, LineageRead, LineageVersion, MergeRow, Problem,
    Reconciliation, RunInfo,
};

/// An error of the ledger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The ledger file cannot be opened.
    #[error("{}: cannot open the ledger: {}", path.display(), backend::sql_message(cause))]
    Db {
        /// The file.
        path: PathBuf,
        /// Why (in the message: SQLite's own error repeats its cause).
        cause: rusqlite::Error,
    },
    /// The file is not a ledger: not an SQLite database, or one that
    /// holds other tables and none of a ledger's. Nothing is written to it.
    #[error("{}: not a casebridge ledger ({why}); give the path of a ledger, or of a file that does not exist yet", path.display())]
    NotALedger {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        why: String,
    },
    /// A statement failed.
    #[error("ledger database error: {}", backend::sql_message(.0))]
    Sql(rusqlite::Error),
    /// No ledger at the path.
    #[error("{}: no ledger here (a ledger is made by the first `casebridge migrate`)", .0.display())]
    NoLedger(PathBuf),
    /// Another run holds the ledger.
    #[error("{}: the ledger is in use by another run ({holder}); wait for it to end", path.display())]
    Locked {
        /// The ledger.
        path: PathBuf,
        /// Who holds it, since when.
        holder: Holder,
    },
    /// The lock file cannot be made or read.
    #[error("{}: cannot take the ledger's lock", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A stored value is not what the ledger wrote (a damaged or foreign file).
    #[error("the ledger holds an unreadable value in {table}: {what}")]
    Corrupt {
        /// Where.
        table: &'static str,
        /// What.
        what: String,
    },
    /// No such run.
    #[error("the ledger has no run {0}")]
    NoRun(i64),
}

/// The tables of the hash chain and their columns (besides `run`), in the
/// order each run's digest takes them.
pub(crate) const CHAINED: &[(&str, &[&str])] = &[
    (
        "files",
        &[
            "file", "name", "mapping", "kind", "size", "sha256", "outcome", "reason", "records",
        ],
    ),
    (
        "dispositions",
        &[
            "file",
            "kind",
            "locator",
            "record_id",
            "disposition",
            "detail",
        ],
    ),
    (
        "versions",
        &[
            "record_id",
            "kind",
            "version",
            "change",
            "content_sha",
            "provenance",
        ],
    ),
    ("merges", &["record_id", "into_id", "evidence"]),
    ("outputs", &["path", "size", "sha256", "records"]),
];

/// The columns of a run row that its digest covers (all but `digest`).
pub(crate) const RUN_FIELDS: &[&str] = &[
    "run_id",
    "name",
    "started",
    "ended",
    "tool",
    "config_sha",
    "config",
    "mappings",
    "out_dir",
    "outcome",
    "summary",
    "prev_digest",
];

/// The tables. In `current` (the canonical store), `seen` is the run that
/// last wrote or withdrew the row: absence is found from the run's
/// dispositions (see [`RunTxn::absent`]), not by marking every record
/// read. Dispositions are indexed by run first, so that a run adds to
/// its own part of the index, however long the ledger's history; a
/// record's lineage looks it up run by run. Indexes an earlier version
/// made are replaced.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, name TEXT, started TEXT NOT NULL,
    ended TEXT NOT NULL, tool TEXT NOT NULL, config_sha TEXT, config TEXT, mappings TEXT NOT NULL,
    out_dir TEXT NOT NULL, outcome TEXT NOT NULL, summary TEXT NOT NULL, prev_digest TEXT NOT NULL,
    digest TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    run INTEGER NOT NULL, file INTEGER NOT NULL, name TEXT NOT NULL, mapping TEXT, kind TEXT,
    size INTEGER NOT NULL, sha256 TEXT, outcome TEXT NOT NULL, reason TEXT, records INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS files_name ON files (name, sha256);
CREATE TABLE IF NOT EXISTS dispositions (
    run INTEGER NOT NULL, file INTEGER NOT NULL, kind TEXT NOT NULL, locator TEXT NOT NULL,
    record_id TEXT, disposition TEXT NOT NULL, detail TEXT);
CREATE INDEX IF NOT EXISTS dispositions_run ON dispositions (run, file);
DROP INDEX IF EXISTS dispositions_record;
CREATE TABLE IF NOT EXISTS versions (
    run INTEGER NOT NULL, record_id TEXT NOT NULL, kind TEXT NOT NULL, version INTEGER NOT NULL,
    change TEXT NOT NULL, content_sha TEXT NOT NULL, provenance TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS merges (
    run INTEGER NOT NULL, record_id TEXT NOT NULL, into_id TEXT NOT NULL, evidence TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS merges_into ON merges (into_id);
CREATE TABLE IF NOT EXISTS outputs (
    run INTEGER NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,
    records INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS current (
    record_id TEXT PRIMARY KEY, kind TEXT NOT NULL, scope TEXT NOT NULL, file TEXT NOT NULL,
    key TEXT NOT NULL,
    version INTEGER NOT NULL, content_sha TEXT NOT NULL, run INTEGER NOT NULL,
    withdrawn INTEGER NOT NULL, seen INTEGER NOT NULL, record TEXT NOT NULL);
DROP INDEX IF EXISTS current_scope;
CREATE INDEX IF NOT EXISTS current_present ON current (scope, withdrawn, run);
";

/// The indexes keyed by record id, whose rows a run adds in random
/// order: a first run drops them and makes them again at its end (see
/// [`RunTxn::indexed`]).
const BY_RECORD: &str = "
CREATE INDEX IF NOT EXISTS dispositions_run_record ON dispositions (run, record_id);
CREATE INDEX IF NOT EXISTS versions_record ON versions (record_id);
";
const DROP_BY_RECORD: &str = "
DROP INDEX IF EXISTS dispositions_run_record;
DROP INDEX IF EXISTS versions_record;
";

/// A record of `current c` that source `?1` no longer holds in run `?2`:
/// in the store, not withdrawn, not written by the run, named by none of
/// its dispositions. For [`RunTxn::absent`] and [`RunTxn::absent_among`].
macro_rules! absent_where {
    () => {
        "scope = ?1 AND withdrawn = 0 AND run < ?2 \
         AND NOT EXISTS (SELECT 1 FROM dispositions d WHERE d.run = ?2 AND d.record_id = c.record_id)"
    };
}
const ABSENT: &str = absent_where!();
const ABSENT_ONE: &str = concat!(
    "SELECT 1 FROM current c WHERE record_id = ?3 AND ",
    absent_where!()
);

/// Triggers that make the chained tables append-only.
fn append_only() -> String {
    let mut sql = String::new();
    for t in CHAINED.iter().map(|(t, _)| *t).chain(["runs"]) {
        for (op, name) in [("UPDATE", "update"), ("DELETE", "delete")] {
            sql.push_str(&format!(
                "CREATE TRIGGER IF NOT EXISTS {t}_no_{name} BEFORE {op} ON {t} \
                 BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;\n"
            ));
        }
    }
    sql
}

/// Feeds one row's values to a digest: each value tagged and
/// length-prefixed, so that no two rows encode alike.
pub(crate) fn feed(h: &mut Hasher, values: &[Value]) {
    for v in values {
        match v {
            Value::Null => h.update([0u8]),
            Value::Int(i) => {
                h.update([1u8]);
                h.update(i.to_le_bytes());
            }
            Value::Text(s) => {
                h.update([2u8]);
                h.update((s.len() as u64).to_le_bytes());
                h.update(s.as_bytes());
            }
        }
    }
    h.update([0xffu8]);
}

/// A run's digest from its fields and its tables' row digests.
pub(crate) fn run_digest(fields: &[Value], tables: &[[u8; 32]]) -> String {
    let mut h = Hasher::new();
    h.update(b"casebridge-ledger-v1");
    feed(&mut h, fields);
    for ((name, _), d) in CHAINED.iter().zip(tables) {
        h.update(name.as_bytes());
        h.update(d);
    }
    hex::encode(h.finalize())
}

/// The digest before the first run.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The ledger file.
pub struct Ledger {
    db: Box<dyn Backend>,
    path: PathBuf,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("path", &self.path).finish()
    }
}

/// What the store holds of a record now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    /// Its latest version (1 = first).
    pub version: i64,
    /// Its content hash, hex.
    pub content_sha: String,
    /// The run of that version.
    pub run: i64,
    /// Whether it was withdrawn.
    pub withdrawn: bool,
}

/// A record of the store as [`RunTxn::each_stored`] reads it.
#[derive(Debug, Clone, Copy)]
pub struct Stored<'a> {
    /// Its id.
    pub id: &'a str,
    /// Its content hash, hex.
    pub content_sha: &'a str,
    /// The run of its latest version.
    pub run: i64,
    /// Whether it was withdrawn.
    pub withdrawn: bool,
    /// The mapping (source) that read it.
    pub scope: &'a str,
    /// The file it was last read from.
    pub file: &'a str,
}

/// A record in the store that tonight's full extract did not hold.
#[derive(Debug, Clone)]
pub struct Absent {
    /// Its id.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// Its last version's canonical JSON.
    pub record: String,
    /// Its content hash.
    pub content_sha: String,
    /// The file it was last read from.
    pub file: String,
}

/// A run as it starts.
#[derive(Debug, Clone)]
pub struct RunStart {
    /// A label (the run file's `[run] name`).
    pub name: Option<String>,
    /// When it started (RFC 3339).
    pub started: String,
    /// `casebridge <version>`.
    pub tool: String,
    /// SHA-256 of the run file.
    pub config_sha: Option<String>,
    /// The run file's text.
    pub config: Option<String>,
    /// The mappings and templates: JSON `[{id, version, sha256}]`.
    pub mappings: String,
    /// The output folder (relative to the ledger's folder when inside it).
    pub out_dir: String,
}

/// One file's row.
#[derive(Debug, Clone)]
pub struct FileRow {
    /// Its number in the run.
    pub file: u32,
    /// Its name as given.
    pub name: String,
    /// The mapping that read it.
    pub mapping: Option<String>,
    /// Its record kind.
    pub kind: Option<String>,
    /// Bytes.
    pub size: u64,
    /// SHA-256 (hex), when read to the end or known.
    pub sha256: Option<String>,
    /// `read`, `skipped`, `failed`.
    pub outcome: String,
    /// Why, for skipped and failed.
    pub reason: Option<String>,
    /// Records read.
    pub records: u64,
}

impl Ledger {
    /// Opens (creating) the ledger at `path`.
    pub fn open(path: &Path) -> Result<Ledger, Error> {
        Ledger::open_with_cache(path, backend::DEFAULT_CACHE)
    }

    /// Opens (creating) the ledger with a page cache of `cache_bytes` (more
    /// cache: fewer index pages written and read again in a large run).
    pub fn open_with_cache(path: &Path, cache_bytes: u64) -> Result<Ledger, Error> {
        Ledger::open_with(path, cache_bytes, Journal::default())
    }

    /// Opens (creating) the ledger with a page cache of `cache_bytes` and
    /// the journal `journal`.
    pub fn open_with(path: &Path, cache_bytes: u64, journal: Journal) -> Result<Ledger, Error> {
        let mut db = Sqlite::open_with(path, cache_bytes, journal)?;
        db.batch(SCHEMA)?;
        db.batch(BY_RECORD)?;
        db.batch(&append_only())?;
        Ok(Ledger {
            db: Box::new(db),
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing ledger for reading (reconcile, provenance, verify).
    pub fn open_read_only(path: &Path) -> Result<Ledger, Error> {
        let db = Sqlite::open_read_only(path)?;
        Ok(Ledger {
            db: Box::new(db),
            path: path.to_path_buf(),
        })
    }

    /// A ledger over another backend.
    pub fn with_backend(db: Box<dyn Backend>, path: PathBuf) -> Ledger {
        Ledger { db, path }
    }

    /// Its file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The backend, for queries of the query module.
    pub(crate) fn db(&mut self) -> &mut dyn Backend {
        self.db.as_mut()
    }

    /// The number the next run will have.
    pub fn next_seq(&mut self) -> Result<i64, Error> {
        let mut n = 0;
        self.db
            .query("SELECT COALESCE(MAX(seq), 0) FROM runs", &[], &mut |r| {
                n = r[0].int().unwrap_or(0);
                Ok(())
            })?;
        Ok(n + 1)
    }

    /// The last run's digest ([`GENESIS`] before the first).
    fn last_digest(&mut self) -> Result<String, Error> {
        let mut d = GENESIS.to_string();
        self.db.query(
            "SELECT digest FROM runs ORDER BY seq DESC LIMIT 1",
            &[],
            &mut |r| {
                d = r[0].str().to_string();
                Ok(())
            },
        )?;
        Ok(d)
    }

    /// The last run that read a file of this name to the end with this
    /// SHA-256, and how many records it read: the file is unchanged since.
    pub fn unchanged_since(&mut self, name: &str, sha256: &str) -> Result<Option<i64>, Error> {
        // Only the file's latest committed read counts: a file that went
        // back to an older content is read again.
        let mut last: Option<(i64, String)> = None;
        self.db.query(
            "SELECT run, sha256 FROM files WHERE name = ?1 AND outcome IN ('read', 'skipped') \
             AND sha256 IS NOT NULL ORDER BY run DESC, rowid DESC LIMIT 1",
            &[name.into()],
            &mut |r| {
                last = Some((r[0].int().unwrap_or(0), r[1].str().to_string()));
                Ok(())
            },
        )?;
        Ok(last.and_then(|(run, sha)| (sha == sha256).then_some(run)))
    }

    /// Starts a run: its one transaction.
    pub fn begin(mut self, start: RunStart) -> Result<RunTxn, Error> {
        let seq = self.next_seq()?;
        let prev = self.last_digest()?;
        self.db.begin()?;
        // The first run adds every row the ledger will hold of its
        // records, in random order of their ids: the indexes by record
        // are made once at its end, each by one sort, rather than grown
        // row by row (in the run's transaction: a killed run leaves them
        // as they were).
        let unindexed = seq == 1;
        if unindexed {
            self.db.batch(DROP_BY_RECORD)?;
        }
        Ok(RunTxn {
            ledger: self,
            seq,
            unindexed,
            start,
            prev,
            tables: CHAINED.iter().map(|_| Hasher::new()).collect(),
            inserts: CHAINED
                .iter()
                .map(|(name, cols)| {
                    let marks: Vec<String> =
                        (2..=cols.len() + 1).map(|i| format!("?{i}")).collect();
                    format!(
                        "INSERT INTO {name} (run, {}) VALUES (?1, {})",
                        cols.join(", "),
                        marks.join(", ")
                    )
                })
                .collect(),
        })
    }
}

/// A run's transaction: rows added as the run goes, all committed at once.
pub struct RunTxn {
    ledger: Ledger,
    seq: i64,
    start: RunStart,
    prev: String,
    tables: Vec<Hasher>,
    /// Each chained table's insert statement.
    inserts: Vec<String>,
    /// The indexes by record are still to be made (a first run).
    unindexed: bool,
}

impl std::fmt::Debug for RunTxn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunTxn").field("seq", &self.seq).finish()
    }
}

impl RunTxn {
    /// The run's number.
    pub fn seq(&self) -> i64 {
        self.seq
    }

    /// The run's id as records' provenance carries it.
    pub fn run_id(&self) -> String {
        run_id(self.seq)
    }

    /// Makes the indexes by record a first run put off (called before
    /// anything that looks rows up by them, and by the commit; a caller
    /// may make them earlier, while it waits for other work).
    pub fn indexed(&mut self) -> Result<(), Error> {
        if self.unindexed {
            self.ledger.db.batch(BY_RECORD)?;
            self.unindexed = false;
        }
        Ok(())
    }

    fn insert(&mut self, table: usize, values: Vec<Value>) -> Result<(), Error> {
        feed(&mut self.tables[table], &values);
        let mut params = Vec::with_capacity(values.len() + 1);
        params.push(Value::Int(self.seq));
        params.extend(values);
        self.ledger.db.execute(&self.inserts[table], &params)?;
        Ok(())
    }

    /// A file's row.
    pub fn file(&mut self, f: FileRow) -> Result<(), Error> {
        self.insert(
            0,
            vec![
                f.file.into(),
                f.name.into(),
                f.mapping.into(),
                f.kind.into(),
                f.size.into(),
                f.sha256.into(),
                f.outcome.into(),
                f.reason.into(),
                f.records.into(),
            ],
        )
    }

    /// One input record's disposition: `detail` is the rules broken
    /// (comma-separated), the survivor merged into, or why it was skipped.
    pub fn disposition(
        &mut self,
        file: u32,
        kind: &str,
        locator: &str,
        record_id: Option<&str>,
        disposition: &str,
        detail: Option<&str>,
    ) -> Result<(), Error> {
        self.insert(
            1,
            vec![
                file.into(),
                kind.into(),
                locator.into(),
                record_id.into(),
                disposition.into(),
                detail.into(),
            ],
        )
    }

    /// What the store holds of `id`.
    pub fn current(&mut self, id: &str) -> Result<Option<Current>, Error> {
        let mut out = None;
        self.ledger.db.query(
            "SELECT version, content_sha, run, withdrawn FROM current WHERE record_id = ?1",
            &[id.into()],
            &mut |r| {
                out = Some(Current {
                    version: r[0].int().unwrap_or(0),
                    content_sha: r[1].str().to_string(),
                    run: r[2].int().unwrap_or(0),
                    withdrawn: r[3].int().unwrap_or(0) != 0,
                });
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// A new version of a record (`change`: `new`, `changed`, `restored`),
    /// written to the output and the store. A `new` version of a record
    /// the store already holds is refused: `Ok(false)`, nothing added (the
    /// caller asks the store what it holds and writes the version that
    /// follows).
    #[allow(clippy::too_many_arguments)]
    pub fn version(
        &mut self,
        id: &str,
        kind: &str,
        change: &str,
        content_sha: &str,
        provenance: &str,
        scope: &str,
        file: &str,
        key: &str,
        record: &str,
        version: i64,
    ) -> Result<bool, Error> {
        macro_rules! into_store {
            ($verb:literal) => {
                concat!(
                    $verb,
                    " INTO current (record_id, kind, scope, file, key, version, content_sha, run, withdrawn, seen, record) \
                     VALUES (?1, ?2, ?3, ?4, ?9, ?5, ?6, ?7, 0, ?7, ?8)"
                )
            };
        }
        const NEW: &str = into_store!("INSERT OR IGNORE");
        const NEXT: &str = into_store!("INSERT OR REPLACE");
        let seq = self.seq;
        let added = self.ledger.db.execute(
            if change == "new" { NEW } else { NEXT },
            &[
                id.into(),
                kind.into(),
                scope.into(),
                file.into(),
                version.into(),
                content_sha.into(),
                seq.into(),
                record.into(),
                key.into(),
            ],
        )?;
        if added == 0 {
            return Ok(false);
        }
        self.insert(
            2,
            vec![
                id.into(),
                kind.into(),
                version.into(),
                change.into(),
                content_sha.into(),
                provenance.into(),
            ],
        )?;
        Ok(true)
    }

    /// How many records the store holds.
    pub fn store_len(&mut self) -> Result<u64, Error> {
        let mut n = 0u64;
        self.ledger
            .db
            .query("SELECT COUNT(*) FROM current", &[], &mut |r| {
                n = u64::try_from(r[0].int().unwrap_or(0)).unwrap_or(0);
                Ok(())
            })?;
        Ok(n)
    }

    /// Every record of the store, in one pass in storage order.
    pub fn each_stored(&mut self, each: &mut dyn FnMut(Stored<'_>)) -> Result<(), Error> {
        self.ledger.db.query(
            "SELECT record_id, content_sha, run, withdrawn, scope, file FROM current",
            &[],
            &mut |r| {
                each(Stored {
                    id: r[0].str(),
                    content_sha: r[1].str(),
                    run: r[2].int().unwrap_or(0),
                    withdrawn: r[3].int().unwrap_or(0) != 0,
                    scope: r[4].str(),
                    file: r[5].str(),
                });
                Ok(())
            },
        )
    }

    /// Of `ids`, those [`RunTxn::absent`] would name (`skipped` files
    /// aside: the caller leaves out the records of those), in the order
    /// given: a search by id for each, where a few may be absent of many.
    pub fn absent_among(&mut self, scope: &str, ids: &[String]) -> Result<Vec<String>, Error> {
        self.indexed()?;
        let seq = self.seq;
        let mut out = Vec::new();
        for id in ids {
            let mut hit = false;
            self.ledger.db.query(
                ABSENT_ONE,
                &[scope.into(), seq.into(), id.as_str().into()],
                &mut |_| {
                    hit = true;
                    Ok(())
                },
            )?;
            if hit {
                out.push(id.clone());
            }
        }
        Ok(out)
    }

    /// The source keys of the records last read from `file` through
    /// `scope` and not withdrawn (a skipped person file's persons, for
    /// reference checks).
    pub fn each_key_of_file(
        &mut self,
        scope: &str,
        file: &str,
        each: &mut dyn FnMut(&str),
    ) -> Result<(), Error> {
        self.ledger.db.query(
            "SELECT key FROM current WHERE scope = ?1 AND file = ?2 AND withdrawn = 0",
            &[scope.into(), file.into()],
            &mut |r| {
                each(r[0].str());
                Ok(())
            },
        )
    }

    /// The records of `scope` that tonight's extract did not hold, in id
    /// order: in the store, not withdrawn, not written by this run, named
    /// by none of this run's dispositions (an unchanged, rejected or
    /// unwritable record is still there), and last read from none of
    /// `skipped` (tonight's files of the scope that were not read again,
    /// being unchanged). Nothing is written for the records that are there:
    /// a nightly run of a large extract updates no row per unchanged record.
    pub fn absent(&mut self, scope: &str, skipped: &[String]) -> Result<Vec<String>, Error> {
        self.indexed()?;
        let seq = self.seq;
        let mut sql = format!("SELECT record_id FROM current c WHERE {ABSENT}");
        let mut params: Vec<Value> = vec![scope.into(), seq.into()];
        if !skipped.is_empty() {
            let marks: Vec<String> = (0..skipped.len()).map(|i| format!("?{}", i + 3)).collect();
            sql.push_str(&format!(" AND file NOT IN ({})", marks.join(", ")));
            params.extend(skipped.iter().map(|f| Value::from(f.as_str())));
        }
        sql.push_str(" ORDER BY record_id");
        let mut out = Vec::new();
        self.ledger.db.query(&sql, &params, &mut |r| {
            out.push(r[0].str().to_string());
            Ok(())
        })?;
        Ok(out)
    }

    /// What the store holds of `id` that a withdrawal writes: its last
    /// version, kind, content hash and file.
    pub fn stored(&mut self, id: &str) -> Result<Option<Absent>, Error> {
        let mut out = None;
        self.ledger.db.query(
            "SELECT record_id, kind, record, content_sha, file FROM current WHERE record_id = ?1",
            &[id.into()],
            &mut |r| {
                out = Some(Absent {
                    id: r[0].str().to_string(),
                    kind: r[1].str().to_string(),
                    record: r[2].str().to_string(),
                    content_sha: r[3].str().to_string(),
                    file: r[4].str().to_string(),
                });
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// Withdraws a record: a version saying so, and the store marks it.
    pub fn withdraw(&mut self, a: &Absent, reason: &str) -> Result<(), Error> {
        let version = self.current(&a.id)?.map_or(1, |c| c.version + 1);
        let prov = serde_json::json!({ "withdrawn": reason, "last_file": a.file }).to_string();
        self.insert(
            2,
            vec![
                a.id.as_str().into(),
                a.kind.as_str().into(),
                version.into(),
                "withdrawn".into(),
                a.content_sha.as_str().into(),
                prov.into(),
            ],
        )?;
        let seq = self.seq;
        self.ledger.db.execute(
            "UPDATE current SET withdrawn = 1, version = ?1, run = ?2, seen = ?2 WHERE record_id = ?3",
            &[version.into(), seq.into(), a.id.as_str().into()],
        )?;
        Ok(())
    }

    /// A dedup decision: `id` merged into `into`, with its evidence (JSON).
    pub fn merge(&mut self, id: &str, into: &str, evidence: &str) -> Result<(), Error> {
        self.insert(2 + 1, vec![id.into(), into.into(), evidence.into()])
    }

    /// An output file of the run, relative to the output folder.
    pub fn output(
        &mut self,
        path: &str,
        size: u64,
        sha256: &str,
        records: u64,
    ) -> Result<(), Error> {
        self.insert(
            4,
            vec![path.into(), size.into(), sha256.into(), records.into()],
        )
    }

    /// Commits the run: its row, with the digest over everything it added.
    pub fn commit(
        mut self,
        ended: &str,
        outcome: &str,
        summary: &str,
    ) -> Result<(Ledger, RunInfo), Error> {
        self.indexed()?;
        let fields = self.fields(ended, outcome, summary);
        let tables: Vec<[u8; 32]> = self
            .tables
            .iter()
            .map(|h| h.clone().finalize().into())
            .collect();
        let digest = run_digest(&fields, &tables);
        let mut sql = String::from("INSERT INTO runs (seq");
        for c in RUN_FIELDS {
            sql.push_str(", ");
            sql.push_str(c);
        }
        sql.push_str(", digest) VALUES (?1");
        for i in 0..=RUN_FIELDS.len() {
            sql.push_str(&format!(", ?{}", i + 2));
        }
        sql.push(')');
        let mut params = vec![Value::Int(self.seq)];
        params.extend(fields);
        params.push(digest.as_str().into());
        self.ledger.db.execute(&sql, &params)?;
        self.ledger.db.commit()?;
        let info = RunInfo {
            seq: self.seq,
            run_id: run_id(self.seq),
            name: self.start.name.clone(),
            started: self.start.started.clone(),
            ended: ended.to_string(),
            outcome: outcome.to_string(),
            summary: summary.to_string(),
            out_dir: self.start.out_dir.clone(),
            digest,
        };
        Ok((self.ledger, info))
    }

    /// Abandons the run: nothing it added stays.
    pub fn rollback(mut self) -> Result<Ledger, Error> {
        self.ledger.db.rollback()?;
        Ok(self.ledger)
    }

    /// The run's row (once a run: owned).
    fn fields(&self, ended: &str, outcome: &str, summary: &str) -> Vec<Value<'static>> {
        let s = &self.start;
        vec![
            run_id(self.seq).into(),
            s.name.clone().into(),
            s.started.clone().into(),
            ended.to_string().into(),
            s.tool.clone().into(),
            s.config_sha.clone().into(),
            s.config.clone().into(),
            s.mappings.clone().into(),
            s.out_dir.clone().into(),
            outcome.to_string().into(),
            summary.to_string().into(),
            self.prev.clone().into(),
        ]
    }
}

/// The id of run `seq` as provenance carries it: `run-000001`.
pub fn run_id(seq: i64) -> String {
    format!("run-{seq:06}")
}

/// The number of a run id or number as a user types it (`3`, `run-000003`).
pub fn parse_run(s: &str) -> Option<i64> {
    let t = s.trim();
    t.strip_prefix("run-").unwrap_or(t).parse().ok()
}

#[cfg(test)]
mod tests;
