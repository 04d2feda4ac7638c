//! The one storage interface of the ledger: a few SQL primitives over
//! typed values. [`Sqlite`] is the embedded default; a PostgreSQL backend
//! for shared, multi-runner deployments implements the same trait (its
//! placeholders are rewritten from `?N` to `$N`, `INSERT OR REPLACE` to
//! `ON CONFLICT DO UPDATE`; the lock becomes an advisory lock) and
//! nothing above this module changes.

use std::borrow::Cow;
use std::path::Path;

use rusqlite::types::{ToSqlOutput, ValueRef};

use crate::Error;

/// A value in a ledger row: text borrowed where it can be (a run's rows
/// are bound straight from the caller's strings, a row read is lent from
/// the database's own buffer), owned where it must outlive either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// Text.
    Text(Cow<'a, str>),
}

impl Value<'_> {
    /// The value, owning its text.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Int(i) => Value::Int(i),
            Value::Text(s) => Value::Text(Cow::Owned(s.into_owned())),
        }
    }

    /// The text, if it is text.
    pub fn text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if it is one.
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The text, or "" for anything else.
    pub fn str(&self) -> &str {
        self.text().unwrap_or("")
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Value::Text(Cow::Borrowed(s))
    }
}
impl From<String> for Value<'_> {
    fn from(s: String) -> Self {
        Value::Text(Cow::Owned(s))
    }
}
impl From<i64> for Value<'_> {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<u64> for Value<'_> {
    fn from(i: u64) -> Self {
        Value::Int(i64::try_from(i).unwrap_or(i64::MAX))
    }
}
impl From<u32> for Value<'_> {
    fn from(i: u32) -> Self {
        Value::Int(i64::from(i))
    }
}
impl<'a, T: Into<Value<'a>>> From<Option<T>> for Value<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// What the ledger needs of a database.
pub trait Backend {
    /// Runs statements with no parameters (schema).
    fn batch(&mut self, sql: &str) -> Result<(), Error>;
    /// Runs one statement; returns the rows changed.
    fn execute(&mut self, sql: &str, params: &[Value<'_>]) -> Result<usize, Error>;
    /// Runs a query, calling `each` with every row's values (lent for
    /// the call: [`Value::into_owned`] keeps one).
    fn query(
        &mut self,
        sql: &str,
        params: &[Value<'_>],
        each: &mut dyn FnMut(&[Value<'_>]) -> Result<(), Error>,
    ) -> Result<(), Error>;
    /// Starts the run's one transaction.
    fn begin(&mut self) -> Result<(), Error>;
    /// Commits it: every row of the run, or (killed before) none.
    fn commit(&mut self) -> Result<(), Error>;
    /// Abandons it.
    fn rollback(&mut self) -> Result<(), Error>;
}

/// The page size of a new ledger: 16 KiB. Measured on a first run of
/// 300,535 records (2 cores): 0.91x the time of 4 KiB pages; 64 KiB gained
/// no more, and costs four times the bytes read for one record asked of a
/// store larger than the page cache.
pub const PAGE_SIZE: i64 = 16 << 10;

/// The page cache a run's connection keeps by default: 64 MiB.
pub const DEFAULT_CACHE: u64 = 64 << 20;

/// How a run's transaction is kept safe against a kill, SQLite's journal
/// mode. Either way a killed run leaves nothing of itself at the next open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Journal {
    /// A rollback journal (the default): the pages a run changes are
    /// saved first, pages it adds are written once. About a third faster
    /// for large runs than [`Journal::Wal`], but a reader (reconcile,
    /// provenance) waits while a large run holds the file.
    #[default]
    Rollback,
    /// Write-ahead log: readers never wait for a run, and every page is
    /// written twice (to the log, then to the file).
    Wal,
}

impl Journal {
    /// From its name in a run file (`rollback`, `wal`).
    pub fn parse(s: &str) -> Option<Journal> {
        match s.trim().to_ascii_lowercase().as_str() {
            "rollback" => Some(Journal::Rollback),
            "wal" => Some(Journal::Wal),
            _ => None,
        }
    }

    fn pragma(self) -> &'static str {
        match self {
            Journal::Rollback => "DELETE",
            Journal::Wal => "WAL",
        }
    }
}

/// The embedded SQLite ledger file.
pub struct Sqlite {
    conn: rusqlite::Connection,
}

impl Sqlite {
    /// Opens (creating) the file.
    pub fn open(path: &Path) -> Result<Sqlite, Error> {
        Sqlite::open_with_cache(path, DEFAULT_CACHE)
    }

    /// Opens (creating) the file with a page cache of `cache_bytes`.
    pub fn open_with_cache(path: &Path, cache_bytes: u64) -> Result<Sqlite, Error> {
        Sqlite::open_with(path, cache_bytes, Journal::default())
    }

    /// Opens (creating) the file with a page cache of `cache_bytes` and
    /// `journal` (a ledger made with the other journal is switched: the
    /// run holds the ledger's lock, so no other run has it open).
    pub fn open_with(path: &Path, cache_bytes: u64, journal: Journal) -> Result<Sqlite, Error> {
        let conn = rusqlite::Connection::open(path).map_err(|e| Error::Db {
            path: path.to_path_buf(),
            cause: e,
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(Error::Sql)?;
        // Before anything is written to it (the journal mode is).
        match tables(&conn, path)? {
            Some(tables) if foreign(&tables) => return Err(other_tables(path, &tables)),
            // A new ledger: larger pages than SQLite's 4 KiB, set before
            // its first page is written (an existing ledger keeps its own).
            // A store row (a record's canonical JSON, about 2 KB) then
            // shares a page with others: fewer pages split and written.
            Some(tables) if tables.is_empty() => conn
                .pragma_update(None, "page_size", PAGE_SIZE)
                .map_err(Error::Sql)?,
            _ => {}
        }
        // A killed run's transaction is absent at the next open: rolled
        // back from the journal, or never checkpointed from the log. (A
        // reader still holding a WAL ledger open keeps it WAL: it answers
        // with the mode it stays in, and either mode is safe.)
        conn.pragma_update_and_check(None, "journal_mode", journal.pragma(), |_| Ok(()))
            .map_err(Error::Sql)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(Error::Sql)?;
        // A run is one large transaction: keep its pages in memory rather
        // than spilling them to the WAL as it goes (a negative size is KiB).
        let kib = i64::try_from(cache_bytes / 1024)
            .unwrap_or(i64::MAX)
            .max(1024);
        conn.pragma_update(None, "cache_size", -kib)
            .map_err(Error::Sql)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Sqlite { conn })
    }

    /// Opens an existing file for reading only.
    ///
    /// Opened writable where it can be (statements still cannot write:
    /// `query_only`), so that SQLite can roll back what a killed run left
    /// in a rollback journal, which a read-only connection cannot; a file
    /// that cannot be opened writable (read-only media) is opened
    /// read-only.
    pub fn open_read_only(path: &Path) -> Result<Sqlite, Error> {
        use rusqlite::OpenFlags;
        if !path.is_file() {
            return Err(Error::NoLedger(path.to_path_buf()));
        }
        let db_err = |e| Error::Db {
            path: path.to_path_buf(),
            cause: e,
        };
        let conn = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|c| c.pragma_update(None, "query_only", true).map(|()| c))
        .or_else(|_| {
            rusqlite::Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
        })
        .map_err(db_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(Error::Sql)?;
        match tables(&conn, path)? {
            Some(t) if t.is_empty() => return Err(Error::NoLedger(path.to_path_buf())),
            Some(t) if foreign(&t) => return Err(other_tables(path, &t)),
            _ => {}
        }
        Ok(Sqlite { conn })
    }
}

/// Whether `path`, if it exists, is a ledger or an SQLite file with no
/// tables yet (which a run makes a ledger): checked before a run takes the
/// ledger's lock, so that a wrong path (an input, another application's
/// database) gets neither a lock file nor a ledger's tables. A file that
/// cannot be read now (another run is writing it) passes: the lock then
/// says who holds it.
pub fn check_ledger(path: &Path) -> Result<(), Error> {
    use rusqlite::OpenFlags;
    if !path.exists() {
        return Ok(());
    }
    if !path.is_file() {
        return Err(Error::NotALedger {
            path: path.to_path_buf(),
            why: "a folder".into(),
        });
    }
    let Ok(conn) = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) else {
        return Ok(());
    };
    match tables(&conn, path) {
        Ok(Some(t)) if foreign(&t) => Err(other_tables(path, &t)),
        Err(e @ Error::NotALedger { .. }) => Err(e),
        _ => Ok(()),
    }
}

/// The tables of the database; `None` when it cannot be read now (busy,
/// locked: not a verdict); a file that is not an SQLite database is
/// [`Error::NotALedger`].
fn tables(conn: &rusqlite::Connection, path: &Path) -> Result<Option<Vec<String>>, Error> {
    let got = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        });
    match got {
        Ok(t) => Ok(Some(t)),
        Err(rusqlite::Error::SqliteFailure(f, _))
            if f.code == rusqlite::ErrorCode::NotADatabase =>
        {
            Err(Error::NotALedger {
                path: path.to_path_buf(),
                why: "not an SQLite database".into(),
            })
        }
        Err(_) => Ok(None),
    }
}

/// Tables, and none of them a ledger's `runs`: another application's
/// database. (No tables at all: a new file, which a run makes a ledger.)
fn foreign(tables: &[String]) -> bool {
    !tables.is_empty() && !tables.iter().any(|t| t == "runs")
}

/// [`Error::NotALedger`] for a database of other tables (their names are
/// a schema's, not data).
fn other_tables(path: &Path, tables: &[String]) -> Error {
    const SHOWN: usize = 5;
    let mut names = tables
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if tables.len() > SHOWN {
        names.push_str(&format!(" and {} more", tables.len() - SHOWN));
    }
    Error::NotALedger {
        path: path.to_path_buf(),
        why: format!("an SQLite database of other tables: {names}"),
    }
}

/// SQLite's message for an error, once: `rusqlite` gives the message and
/// then, as its cause, the code's description, which says it again.
pub(crate) fn sql_message(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
        rusqlite::Error::SqliteFailure(f, None) => f.to_string(),
        other => other.to_string(),
    }
}

struct P<'a, 'v>(&'a Value<'v>);

impl rusqlite::ToSql for P<'_, '_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

fn value_of(v: ValueRef<'_>) -> Value<'_> {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Text(Cow::Owned(f.to_string())),
        ValueRef::Text(t) | ValueRef::Blob(t) => Value::Text(String::from_utf8_lossy(t)),
    }
}

impl Backend for Sqlite {
    fn batch(&mut self, sql: &str) -> Result<(), Error> {
        self.conn.execute_batch(sql).map_err(Error::Sql)
    }

    fn execute(&mut self, sql: &str, params: &[Value<'_>]) -> Result<usize, Error> {
        let mut st = self.conn.prepare_cached(sql).map_err(Error::Sql)?;
        st.execute(rusqlite::params_from_iter(params.iter().map(P)))
            .map_err(Error::Sql)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Value<'_>],
        each: &mut dyn FnMut(&[Value<'_>]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut st = self.conn.prepare_cached(sql).map_err(Error::Sql)?;
        let n = st.column_count();
        let mut rows = st
            .query(rusqlite::params_from_iter(params.iter().map(P)))
            .map_err(Error::Sql)?;
        while let Some(row) = rows.next().map_err(Error::Sql)? {
            let vals = (0..n)
                .map(|i| row.get_ref(i).map(value_of))
                .collect::<Result<Vec<_>, _>>()
                .map_err(Error::Sql)?;
            each(&vals)?;
        }
        Ok(())
    }

    fn begin(&mut self) -> Result<(), Error> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(Error::Sql)
    }

    fn commit(&mut self) -> Result<(), Error> {
        self.conn.execute_batch("COMMIT").map_err(Error::Sql)
    }

    fn rollback(&mut self) -> Result<(), Error> {
        if self.conn.is_autocommit() {
            return Ok(());
        }
        self.conn.execute_batch("ROLLBACK").map_err(Error::Sql)
    }
}
