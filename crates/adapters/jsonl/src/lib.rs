//! Canonical records as JSON Lines: [`JsonlSink`] writes one record a line
//! with its provenance; [`JsonlSource`] reads such a file back as rows of
//! one record kind, so that JSON Lines is an input like any other.
//!
//! A JSON Lines file may hold several kinds (a dedup `--out` holds every
//! survivor). It is read in parts, one per kind, like an XML file read by
//! several mappings: each [`JsonlSource`] yields the lines of its kind and
//! passes over the others; the part that [`JsonlSourceConfig::report_unreadable`]
//! names reports the lines no part can read (not JSON, or not a kind read
//! from rows), so that each line is accounted for exactly once.
//!
//! Rows carry the record's canonical fields as text, in
//! [`RecordKind::fields`] order, and the record itself
//! ([`RecordSource::take_record`]), so that ids, keys and provenance pass
//! through unchanged.

#![forbid(unsafe_code)]

mod config;
mod table;

pub use config::{JsonlOptions, DESCRIPTOR};
pub use table::CanonicalTableSource;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};

use casebridge_io::{OutputFile, Worker};
use std::path::{Path, PathBuf};

use casebridge_model::{
    Locator, Record, RecordKind, RecordSink, RecordSource, Sha256, SinkError, SinkSummary,
    SourceError, SourceErrorKind, SourceInfo, TextRow, Want,
};
use serde_json::Value;
use sha2::Digest;

/// How to read a JSON Lines file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonlSourceConfig {
    /// The kind of record this part reads.
    pub kind: RecordKind,
    /// This part reports the lines that no part can read.
    pub report_unreadable: bool,
    /// Largest line held in memory; a longer one is rejected.
    pub max_record_bytes: usize,
}

/// The file extensions read as JSON Lines.
pub const EXTENSIONS: &[&str] = &["jsonl", "ndjson"];

/// Reads the records of one kind from a JSON Lines file.
pub struct JsonlSource {
    name: String,
    config: JsonlSourceConfig,
    columns: Vec<String>,
    input: BufReader<HashingRead>,
    line: Vec<u8>,
    line_no: u64,
    records: u64,
    record: Option<Record>,
}

/// Hashes every byte read through it.
struct HashingRead {
    inner: File,
    hasher: sha2::Sha256,
    bytes: u64,
}

impl Read for HashingRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

fn io_error(e: &io::Error) -> SourceError {
    SourceError {
        kind: SourceErrorKind::Io(e.to_string()),
        locator: Locator::File,
        recoverable: false,
    }
}

impl JsonlSource {
    /// Opens `path`.
    pub fn open(path: &Path, config: JsonlSourceConfig) -> Result<JsonlSource, SourceError> {
        let inner = File::open(path).map_err(|e| io_error(&e))?;
        let columns = config
            .kind
            .fields()
            .iter()
            .map(|f| f.name.to_string())
            .collect();
        Ok(JsonlSource {
            name: path.display().to_string(),
            config,
            columns,
            input: BufReader::with_capacity(
                1 << 16,
                HashingRead {
                    inner,
                    hasher: sha2::Sha256::new(),
                    bytes: 0,
                },
            ),
            line: Vec::new(),
            line_no: 0,
            records: 0,
            record: None,
        })
    }

    fn unreadable(&self, why: &str) -> Option<SourceError> {
        self.config.report_unreadable.then(|| SourceError {
            kind: SourceErrorKind::Syntax(format!("line {}: {why}", self.line_no)),
            locator: Locator::CsvLine {
                line: self.line_no,
                record: self.line_no,
            },
            recoverable: true,
        })
    }
}

/// The kind a line names, read cheaply from its start (the sink writes
/// `{"kind":"..."` first); `None`: parse the line to know.
fn kind_prefix(line: &[u8]) -> Option<&[u8]> {
    let rest = line.strip_prefix(b"{\"kind\":\"")?;
    let end = rest.iter().position(|b| *b == b'"')?;
    Some(&rest[..end])
}

/// Lays a canonical record out as the canonical mapping of its kind
/// reads it: one cell per field of the kind, lists joined by `;`.
pub fn flatten(record: &Record, kind: RecordKind, row: &mut TextRow, wanted: &[Want]) {
    let mut json = match serde_json::to_value(record) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let fields = kind.fields();
    row.reset(fields.len());
    for (i, def) in fields.iter().enumerate() {
        if wanted.get(i).copied().unwrap_or(Want::Skip) == Want::Skip {
            continue;
        }
        let out = row.cell_mut(i);
        if def.is_key {
            if let Some(k) = record.header().source_keys.first() {
                out.push_str(&k.key);
            }
            continue;
        }
        let name = match (kind, def.name) {
            (RecordKind::CaseNote | RecordKind::ChronologyEntry, "person") => "subjects",
            (_, n) => n,
        };
        if let Some(v) = json.remove(name) {
            cell(&v, out);
        }
    }
}

/// A field's value as the canonical mapping reads it.
fn cell(v: &Value, out: &mut String) {
    match v {
        Value::Null => {}
        Value::String(s) => {
            // Datetimes are written `yyyy-mm-ddTHH:MM:SS`; the canonical
            // mapping reads `yyyy-mm-dd HH:MM:SS`.
            if s.len() >= 19 && s.as_bytes().get(10) == Some(&b'T') && s.as_bytes()[4] == b'-' {
                out.push_str(&s[..10]);
                out.push(' ');
                out.push_str(&s[11..]);
            } else {
                out.push_str(s);
            }
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(';');
                }
                cell(item, out);
            }
        }
        Value::Object(_) => out.push_str(&v.to_string()),
    }
}

impl RecordSource for JsonlSource {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn read_row(&mut self, row: &mut TextRow, wanted: &[Want]) -> Result<bool, SourceError> {
        self.record = None;
        loop {
            self.line.clear();
            let n = self
                .input
                .read_until(b'\n', &mut self.line)
                .map_err(|e| io_error(&e))?;
            if n == 0 {
                return Ok(false);
            }
            self.line_no += 1;
            let text = self.line.trim_ascii();
            if text.is_empty() {
                continue;
            }
            if text.len() > self.config.max_record_bytes {
                if let Some(e) = self.unreadable("line longer than the record size limit") {
                    return Err(SourceError {
                        kind: SourceErrorKind::Limit(format!(
                            "line {} longer than {} bytes",
                            self.line_no, self.config.max_record_bytes
                        )),
                        ..e
                    });
                }
                continue;
            }
            let wanted_kind = self.config.kind.as_str().as_bytes();
            if let Some(k) = kind_prefix(text) {
                let known = RecordKind::ALL.iter().any(|r| r.as_str().as_bytes() == k);
                if k != wanted_kind && known && k != b"form_answer" {
                    // Another part's line.
                    continue;
                }
            }
            let Ok(text) = std::str::from_utf8(text) else {
                match self.unreadable("not UTF-8") {
                    Some(e) => return Err(e),
                    None => continue,
                }
            };
            let record = match Record::from_json_line(text) {
                Ok(r) => r,
                Err(_) => match self.unreadable("not a canonical record (JSON of a known kind)") {
                    Some(e) => return Err(e),
                    None => continue,
                },
            };
            if record.kind() != self.config.kind {
                let readable = matches!(
                    record.kind(),
                    RecordKind::Person
                        | RecordKind::PersonAddress
                        | RecordKind::Relationship
                        | RecordKind::Involvement
                        | RecordKind::CaseNote
                        | RecordKind::ChronologyEntry
                        | RecordKind::WorkbookForm
                );
                if !readable {
                    if let Some(e) = self.unreadable(&format!(
                        "{} records cannot be read back from JSON Lines yet",
                        record.kind()
                    )) {
                        return Err(e);
                    }
                }
                continue;
            }
            self.records += 1;
            flatten(&record, self.config.kind, row, wanted);
            row.locator = Some(Locator::CsvLine {
                line: self.line_no,
                record: self.line_no,
            });
            self.record = Some(record);
            return Ok(true);
        }
    }

    fn bytes_read(&self) -> u64 {
        self.input.get_ref().bytes
    }

    fn take_warning(&mut self) -> Option<SourceError> {
        None
    }

    fn finish(self: Box<Self>) -> Result<SourceInfo, SourceError> {
        let mut this = *self;
        // Hash what is left.
        io::copy(&mut this.input, &mut io::sink()).map_err(|e| io_error(&e))?;
        let h = this.input.into_inner();
        Ok(SourceInfo {
            name: this.name,
            sha256: Sha256(h.hasher.finalize().into()),
            bytes: h.bytes,
            records: this.records,
        })
    }

    fn take_record(&mut self) -> Option<Record> {
        self.record.take()
    }
}

/// Writes canonical records as JSON Lines, one record a line with its
/// provenance, through the shared output helper (exclusive owner-only
/// temporary file, renamed into place by `finish`).
///
/// A writer thread of the sink writes the file. Records handed over with
/// [`JsonlSink::write_owned`] are serialised there too, in batches, so
/// that the JSON (its string escaping the largest part) and the copy into
/// the page cache run beside the reading; records lent with
/// `write_record` are serialised on the caller's thread into blocks of
/// about 1 MiB that the writer writes. Either way lines are written in
/// the order they were given, and at most [`BLOCKS`] blocks or batches
/// are in flight. An error of the writer thread is returned by the next
/// call that hands it work, or by `finish`.
///
/// A record whose source file's SHA-256 is not known yet (a stream: the
/// hash is known when the file has been read to its end) is written
/// pending ([`JsonlSink::write_record_pending`], or `write_owned` with
/// `pending`): its last provenance's file hash is written as 64 zeros, a
/// placeholder of the hash's own width, and its offset kept;
/// [`JsonlSink::fill_pending`] writes the hash over them in place. So the
/// file is written in one pass and reads as if the hash had been known
/// all along; the offsets are kept as differences of a few bytes each,
/// and past [`Placeholders::HELD`] bytes in a temporary file, so memory
/// stays flat however many records are pending.
pub struct JsonlSink {
    path: PathBuf,
    records: u64,
    /// The block being filled on this thread.
    block: Vec<u8>,
    /// Offsets in `block` of the placeholders of its pending records.
    block_pending: Vec<usize>,
    /// Owned records waiting to be handed over, each with whether it is
    /// pending.
    batch: Vec<(Record, bool)>,
    /// Whether placeholders were written since the last fill.
    unfilled: bool,
    /// The writer thread; `None` once it is ended.
    worker: Option<Worker<Work, Written>>,
    /// Blocks the writer is done with, for reuse.
    spent: std::sync::mpsc::Receiver<Vec<u8>>,
    /// Batches the writer is done with, dropped on this thread (freeing
    /// on the thread that allocated costs less than across threads).
    done: std::sync::mpsc::Receiver<Vec<(Record, bool)>>,
}

/// Blocks or batches handed to the writer thread and not written yet, at most.
const BLOCKS: usize = 4;
/// A block is handed over once it holds this much.
const BLOCK_BYTES: usize = 1 << 20;
/// Owned records are handed over this many at a time.
const BATCH: usize = 256;

/// What the writer thread is asked to do, in order.
enum Work {
    /// Append these bytes; the offsets (in the block) of placeholders.
    Write(Vec<u8>, Vec<usize>),
    /// Serialise and append these records (those `true` pending).
    Records(Vec<(Record, bool)>),
    /// Write the hex digits over every placeholder written so far.
    Fill([u8; 64]),
    /// Leave the placeholders written so far as they are.
    Forget,
}

/// What the writer thread wrote.
struct Written {
    out: OutputFile,
    bytes: u64,
    /// SHA-256 of the bytes, when no placeholder was written (the bytes
    /// change when one is filled: the file is hashed at the end then).
    sha256: Option<Sha256>,
}

/// The writer thread's state: serialises records, appends blocks, fills
/// placeholders.
struct Writing {
    out: OutputFile,
    hasher: Option<sha2::Sha256>,
    bytes: u64,
    pending: Placeholders,
    /// The lines of owned records, serialised here (reused).
    own: Vec<u8>,
    spent: std::sync::mpsc::SyncSender<Vec<u8>>,
    done: std::sync::mpsc::SyncSender<Vec<(Record, bool)>>,
}

impl Writing {
    fn step(&mut self, w: Work) -> io::Result<()> {
        let Writing {
            out,
            hasher,
            bytes,
            pending,
            own,
            spent,
            done,
        } = self;
        match w {
            Work::Write(mut block, offsets) => {
                if !offsets.is_empty() {
                    *hasher = None;
                    for &o in &offsets {
                        pending.push(*bytes + o as u64)?;
                    }
                }
                if let Some(h) = hasher {
                    h.update(&block);
                }
                out.write_all(&block)?;
                *bytes += block.len() as u64;
                block.clear();
                let _ = spent.try_send(block);
            }
            Work::Records(records) => {
                own.clear();
                for (record, is_pending) in &records {
                    let start = own.len();
                    serde_json::to_writer(&mut *own, record).map_err(io::Error::other)?;
                    own.push(b'\n');
                    if *is_pending {
                        let provenances = record.header().provenance.len();
                        let off =
                            placeholder_offset(&own[start..], provenances).ok_or_else(|| {
                                io::Error::other("a pending record has no file hash placeholder")
                            })?;
                        pending.push(*bytes + (start + off) as u64)?;
                        *hasher = None;
                    }
                }
                if let Some(h) = hasher {
                    h.update(&*own);
                }
                out.write_all(own)?;
                *bytes += own.len() as u64;
                // Back to the sink's thread, which dropped them (or here,
                // when it is not taking them).
                let _ = done.try_send(records);
            }
            Work::Fill(hex) => {
                let mut patch = Patch {
                    file: out.get_ref()?,
                    hex: &hex,
                    start: 0,
                    at: Vec::new(),
                    buf: Vec::new(),
                };
                pending.drain(|off| patch.add(off))?;
                patch.flush()?;
            }
            Work::Forget => pending.clear(),
        }
        Ok(())
    }

    fn end(self) -> io::Result<Written> {
        Ok(Written {
            out: self.out,
            bytes: self.bytes,
            sha256: self.hasher.map(|h| Sha256(h.finalize().into())),
        })
    }
}

/// The offsets of the placeholders written since the last fill, in
/// ascending order: each as its difference from the one before, in LEB128
/// (two bytes for a record of a few KB), the first [`Placeholders::HELD`]
/// bytes in memory and the rest in an unnamed temporary file. (Ten lines
/// of varint code, not a dependency.)
#[derive(Default)]
struct Placeholders {
    held: Vec<u8>,
    spilled: Option<std::fs::File>,
    last: u64,
}

impl Placeholders {
    /// Bytes of differences held in memory before they go to the file.
    const HELD: usize = 256 << 10;

    fn push(&mut self, off: u64) -> io::Result<()> {
        let mut d = off.wrapping_sub(self.last);
        self.last = off;
        loop {
            let more = d >= 0x80;
            self.held
                .push((d as u8 & 0x7f) | if more { 0x80 } else { 0 });
            d >>= 7;
            if !more {
                break;
            }
        }
        if self.held.len() >= Self::HELD {
            if self.spilled.is_none() {
                self.spilled = Some(tempfile::tempfile()?);
            }
            if let Some(f) = &mut self.spilled {
                f.write_all(&self.held)?;
            }
            self.held.clear();
        }
        Ok(())
    }

    /// Calls `each` with every offset in order, then forgets them.
    fn drain(&mut self, mut each: impl FnMut(u64) -> io::Result<()>) -> io::Result<()> {
        let (mut off, mut d, mut shift) = (0u64, 0u64, 0u32);
        let mut take = |b: u8| -> io::Result<()> {
            d |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
            shift += 7;
            if b & 0x80 == 0 {
                off = off.wrapping_add(d);
                (d, shift) = (0, 0);
                each(off)?;
            }
            Ok(())
        };
        if let Some(mut f) = self.spilled.take() {
            use std::io::{Read, Seek};
            f.seek(io::SeekFrom::Start(0))?;
            let mut r = io::BufReader::new(f);
            let mut buf = [0u8; 64 << 10];
            loop {
                let n = r.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                for &b in &buf[..n] {
                    take(b)?;
                }
            }
        }
        for &b in &self.held {
            take(b)?;
        }
        self.clear();
        Ok(())
    }

    fn clear(&mut self) {
        self.held.clear();
        self.spilled = None;
        self.last = 0;
    }
}

/// The placeholder of a file hash not known yet: `Sha256::default()`.
const PLACEHOLDER: [u8; 64] = [b'0'; 64];

/// The offset, in a record's line, of the hex digits of its last
/// provenance's source SHA-256. The line is `{"kind":..,"id":..,
/// "source_keys":[..],"provenance":[{"run_id":..,"source":{"system":..,
/// "file":..,"sha256":"..."},..},..],..`: JSON escapes every quote inside
/// a string, so these keys are found only where the writer put them.
fn placeholder_offset(line: &[u8], provenances: usize) -> Option<usize> {
    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        memchr::memmem::find(hay, needle)
    }
    const PROV: &[u8] = b"\"provenance\":[";
    const RUN: &[u8] = b"{\"run_id\":";
    const SHA: &[u8] = b"\"sha256\":\"";
    let mut at = find(line, PROV)? + PROV.len();
    for i in 0..provenances {
        at += find(line.get(at..)?, RUN)?;
        if i + 1 < provenances {
            at += RUN.len();
        }
    }
    let off = at + find(line.get(at..)?, SHA)? + SHA.len();
    (line.get(off..off + PLACEHOLDER.len())? == PLACEHOLDER).then_some(off)
}

fn has_placeholder(record: &Record) -> bool {
    record
        .header()
        .provenance
        .last()
        .is_some_and(|p| p.source.sha256 == Sha256::default())
}

impl JsonlSink {
    /// Creates the sink's temporary file beside `path`.
    pub fn create(path: &Path) -> Result<JsonlSink, SinkError> {
        let out = OutputFile::create(path).map_err(|e| SinkError::Output(Box::new(e)))?;
        let (give_back, spent) = std::sync::mpsc::sync_channel(BLOCKS + 1);
        let (batch_done, done) = std::sync::mpsc::sync_channel(BLOCKS + 1);
        let writing = Writing {
            out,
            hasher: Some(sha2::Sha256::new()),
            bytes: 0,
            pending: Placeholders::default(),
            own: Vec::with_capacity(BLOCK_BYTES + (64 << 10)),
            spent: give_back,
            done: batch_done,
        };
        let worker = Worker::spawn("jsonl-writer", BLOCKS, writing, Writing::step, Writing::end)
            .map_err(|e| SinkError::Io {
                target: path.display().to_string(),
                source: e,
            })?;
        Ok(JsonlSink {
            path: path.to_path_buf(),
            records: 0,
            block: Vec::with_capacity(BLOCK_BYTES + (64 << 10)),
            block_pending: Vec::new(),
            batch: Vec::with_capacity(BATCH),
            unfilled: false,
            worker: Some(worker),
            spent,
            done,
        })
    }

    fn err(&self, source: io::Error) -> SinkError {
        SinkError::Io {
            target: self.path.display().to_string(),
            source,
        }
    }

    /// Hands work to the writer thread; its error if it has stopped.
    fn send(&mut self, work: Work) -> Result<(), SinkError> {
        match self.worker.as_mut().map(|w| w.send(work)) {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(self.err(e)),
            None => Err(self.err(io::Error::other("the writer thread stopped"))),
        }
    }

    /// Ends the writer thread, returning what it wrote.
    fn join(&mut self) -> Result<Written, SinkError> {
        match self.worker.take().map(Worker::finish) {
            Some(Ok(w)) => Ok(w),
            Some(Err(e)) => Err(self.err(e)),
            None => Err(self.err(io::Error::other("the writer thread stopped"))),
        }
    }

    /// Hands the block to the writer, taking a spent one (or a new one).
    fn hand_over(&mut self) -> Result<(), SinkError> {
        if self.block.is_empty() {
            return Ok(());
        }
        let next = self
            .spent
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BLOCK_BYTES + (64 << 10)));
        let full = std::mem::replace(&mut self.block, next);
        let offsets = std::mem::take(&mut self.block_pending);
        self.send(Work::Write(full, offsets))
    }

    /// Hands the owned records waiting to the writer.
    fn hand_over_batch(&mut self) -> Result<(), SinkError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let next = match self.done.try_recv() {
            Ok(mut spent) => {
                spent.clear();
                spent
            }
            Err(_) => Vec::with_capacity(BATCH),
        };
        let batch = std::mem::replace(&mut self.batch, next);
        self.send(Work::Records(batch))
    }

    /// Hands everything waiting to the writer, in order.
    fn hand_over_all(&mut self) -> Result<(), SinkError> {
        self.hand_over_batch()?;
        self.hand_over()
    }

    /// Appends `record`'s line (with its newline) to the block; returns
    /// where the line starts in the block.
    fn serialise(&mut self, record: &Record) -> Result<usize, SinkError> {
        // Lines are written in the order given: owned records first.
        self.hand_over_batch()?;
        let start = self.block.len();
        if let Err(e) = serde_json::to_writer(&mut self.block, record) {
            self.block.truncate(start);
            return Err(self.err(io::Error::other(e.to_string())));
        }
        self.block.push(b'\n');
        Ok(start)
    }

    /// Counts the line; hands the block over when full.
    fn written(&mut self) -> Result<(), SinkError> {
        self.records += 1;
        if self.block.len() >= BLOCK_BYTES {
            self.hand_over()?;
        }
        Ok(())
    }

    /// Writes `record`, whose last provenance's source SHA-256 is not
    /// known yet (it must be `Sha256::default()`): see
    /// [`JsonlSink::fill_pending`].
    pub fn write_record_pending(&mut self, record: &Record) -> Result<(), SinkError> {
        let start = self.serialise(record)?;
        let provenances = record.header().provenance.len();
        let off = if has_placeholder(record) {
            placeholder_offset(&self.block[start..], provenances)
        } else {
            None
        };
        let Some(off) = off else {
            self.block.truncate(start);
            return Err(self.err(io::Error::other(
                "a pending record has no file hash placeholder",
            )));
        };
        self.block_pending.push(start + off);
        self.unfilled = true;
        self.written()
    }

    /// Writes `record`, serialised on the writer thread (the record is
    /// dropped there too). `pending` as for
    /// [`JsonlSink::write_record_pending`].
    pub fn write_owned(&mut self, record: Record, pending: bool) -> Result<(), SinkError> {
        if pending && !has_placeholder(&record) {
            return Err(self.err(io::Error::other(
                "a pending record has no file hash placeholder",
            )));
        }
        // Lines are written in the order given: the block first.
        self.hand_over()?;
        self.unfilled |= pending;
        self.batch.push((record, pending));
        self.records += 1;
        if self.batch.len() >= BATCH {
            self.hand_over_batch()?;
        }
        Ok(())
    }

    /// Writes `sha256` over every placeholder written since the last
    /// fill, in place.
    pub fn fill_pending(&mut self, sha256: &Sha256) -> Result<(), SinkError> {
        if !self.unfilled {
            return Ok(());
        }
        let mut hex = [0u8; 64];
        hex.copy_from_slice(sha256.to_hex().as_bytes());
        self.hand_over_all()?;
        self.unfilled = false;
        self.send(Work::Fill(hex))
    }

    /// Whether placeholders wait for their hash.
    pub fn has_pending(&self) -> bool {
        self.unfilled
    }

    /// Leaves the placeholders written since the last fill as they are
    /// (zeros: the file's hash could not be taken).
    pub fn forget_pending(&mut self) -> Result<(), SinkError> {
        if !self.unfilled {
            return Ok(());
        }
        self.hand_over_all()?;
        self.unfilled = false;
        self.send(Work::Forget)
    }

    /// Writes what is left and ends the writer thread.
    fn close(&mut self) -> Result<Written, SinkError> {
        self.hand_over_all()?;
        self.join()
    }

    /// Flushes, syncs and renames the file into place; returns the records
    /// written. (`RecordSink::finish` also hashes the file.)
    pub fn finish_records(mut self) -> Result<u64, SinkError> {
        let w = self.close()?;
        w.out.finish().map_err(|e| SinkError::Output(Box::new(e)))?;
        Ok(self.records)
    }
}

/// Writes the file's hash over its placeholders, given in ascending order,
/// a window at a time: the placeholders within [`Patch::WINDOW`] bytes of
/// each other are patched in one read and one write of the bytes they
/// span, not one write each (a write per record cost a second a million
/// records, at the end of the file).
struct Patch<'a> {
    file: &'a File,
    hex: &'a [u8; 64],
    /// Where the window starts in the file.
    start: u64,
    /// The window's placeholders, from its start.
    at: Vec<usize>,
    buf: Vec<u8>,
}

impl Patch<'_> {
    const WINDOW: u64 = 1 << 20;

    fn add(&mut self, off: u64) -> io::Result<()> {
        let end = off + self.hex.len() as u64;
        if !self.at.is_empty() && end - self.start > Self::WINDOW {
            self.flush()?;
        }
        if self.at.is_empty() {
            self.start = off;
        }
        // Within the window: fits a usize.
        self.at
            .push(usize::try_from(off - self.start).map_err(io::Error::other)?);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.at.as_slice() {
            [] => {}
            [_] => write_at(self.file, self.hex, self.start)?,
            [.., last] => {
                self.buf.resize(last + self.hex.len(), 0);
                read_at(self.file, &mut self.buf, self.start)?;
                for &o in &self.at {
                    self.buf[o..o + self.hex.len()].copy_from_slice(self.hex);
                }
                write_at(self.file, &self.buf, self.start)?;
            }
        }
        self.at.clear();
        Ok(())
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], off: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, off)
}

#[cfg(not(unix))]
fn read_at(mut file: &File, buf: &mut [u8], off: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(off))?;
    file.read_exact(buf)?;
    file.seek(SeekFrom::End(0)).map(|_| ())
}

#[cfg(unix)]
fn write_at(file: &File, bytes: &[u8], off: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, off)
}

#[cfg(not(unix))]
fn write_at(mut file: &File, bytes: &[u8], off: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(off))?;
    file.write_all(bytes)?;
    file.seek(SeekFrom::End(0)).map(|_| ())
}

/// SHA-256 of a file's bytes.
fn hash_of(path: &Path) -> io::Result<Sha256> {
    let mut file = File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(Sha256(h.finalize().into()))
}

impl RecordSink for JsonlSink {
    fn write_record(&mut self, record: &Record) -> Result<(), SinkError> {
        self.serialise(record)?;
        self.written()
    }

    fn finish(mut self: Box<Self>) -> Result<SinkSummary, SinkError> {
        let mut w = self.close()?;
        let sha256 = match w.sha256 {
            Some(h) => h,
            None => {
                let r = match w.out.get_ref() {
                    Ok(_) => hash_of(w.out.temp_path()),
                    Err(e) => Err(e),
                };
                r.map_err(|e| self.err(e))?
            }
        };
        w.out.finish().map_err(|e| SinkError::Output(Box::new(e)))?;
        Ok(SinkSummary {
            records: self.records,
            files: vec![(self.path.display().to_string(), sha256, w.bytes)],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use casebridge_model::{CaseNote, Header, Person, SourceKey};

    #[test]
    fn placeholder_offsets_come_back_in_order_from_memory_and_from_their_file() {
        let mut p = Placeholders::default();
        // Gaps of every varint width; enough to pass the memory part.
        let mut want = Vec::new();
        let mut off = 0u64;
        for i in 0..400_000u64 {
            off += [1, 127, 128, 1_000, 16_384, 3_000_000, 1 << 40][(i % 7) as usize];
            want.push(off);
            p.push(off).unwrap();
        }
        assert!(p.spilled.is_some(), "past HELD the offsets go to a file");
        assert!(p.held.len() < Placeholders::HELD);
        let mut got = Vec::new();
        p.drain(|o| {
            got.push(o);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, want);
        // Drained: the next fill starts afresh.
        p.push(7).unwrap();
        let mut again = Vec::new();
        p.drain(|o| {
            again.push(o);
            Ok(())
        })
        .unwrap();
        assert_eq!(again, [7]);
    }

    fn person(key: &str) -> Record {
        Record::Person(Person {
            header: Header {
                id: format!("p-{key}"),
                source_keys: vec![SourceKey {
                    system: "mosaic".into(),
                    key: key.into(),
                }],
                provenance: vec![],
                extras: Default::default(),
            },
            first_name: Some("Ada".into()),
            date_of_birth: chrono::NaiveDate::from_ymd_opt(2015, 3, 1),
            ..Person::default()
        })
    }

    #[test]
    fn records_written_read_back_by_kind_with_every_line_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut sink = Box::new(JsonlSink::create(&path).unwrap());
        sink.write_record(&person("1")).unwrap();
        sink.write_record(&Record::CaseNote(CaseNote {
            header: Header {
                id: "n-1".into(),
                source_keys: vec![SourceKey {
                    system: "mosaic".into(),
                    key: "9".into(),
                }],
                provenance: vec![],
                extras: Default::default(),
            },
            subjects: vec!["1".into(), "2".into()],
            ..CaseNote::default()
        }))
        .unwrap();
        sink.write_record(&person("2")).unwrap();
        let summary = sink.finish().unwrap();
        assert_eq!(summary.records, 3);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("not json\n");
        std::fs::write(&path, text).unwrap();

        let read = |kind, report| {
            let cfg = JsonlSourceConfig {
                kind,
                report_unreadable: report,
                max_record_bytes: 1 << 20,
            };
            let mut src: Box<dyn RecordSource> = Box::new(JsonlSource::open(&path, cfg).unwrap());
            let all = vec![Want::Text; src.columns().len()];
            let mut row = TextRow::new();
            let (mut rows, mut errors) = (Vec::new(), 0);
            loop {
                match src.read_row(&mut row, &all) {
                    Ok(true) => {
                        let r = src.take_record().unwrap();
                        rows.push((row.get(0).unwrap().to_string(), row.locator.clone(), r));
                    }
                    Ok(false) => break,
                    Err(e) => {
                        assert!(e.recoverable);
                        assert_eq!(e.locator.line(), Some(4));
                        errors += 1;
                    }
                }
            }
            let info = src.finish().unwrap();
            (rows, errors, info)
        };
        let (persons, errors, info) = read(RecordKind::Person, true);
        assert_eq!(errors, 1, "the bad line is reported by the reporting part");
        assert_eq!(persons.len(), 2);
        assert_eq!(persons[0].0, "1");
        assert_eq!(persons[1].1.as_ref().and_then(Locator::line), Some(3));
        assert_eq!(info.records, 2);
        let (notes, errors, _) = read(RecordKind::CaseNote, false);
        assert_eq!(errors, 0, "and by no other part");
        assert_eq!(notes.len(), 1);
        let subjects = RecordKind::CaseNote.field_index("person").unwrap();
        let _ = subjects;
        assert!(matches!(&notes[0].2, Record::CaseNote(n) if n.subjects.len() == 2));
    }

    fn provenance(file: &str) -> casebridge_model::Provenance {
        casebridge_model::Provenance {
            run_id: String::new(),
            source: casebridge_model::SourceRef {
                system: "mosaic".into(),
                file: file.into(),
                sha256: Sha256::default(),
            },
            locator: Locator::File,
            mapping: casebridge_model::MappingRef {
                id: "m".into(),
                version: "1".into(),
                sha256: Sha256::default(),
            },
            content_sha256: Sha256::default(),
        }
    }

    #[test]
    fn pending_file_hashes_are_filled_in_place_and_only_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let zeros = "0".repeat(64);
        // Text that looks like the provenance the placeholder is in.
        let tricky = format!("\"provenance\":[{{\"run_id\":\"\",\"sha256\":\"{zeros}\"");
        let mut a = person("1");
        a.header_mut().provenance = vec![provenance("a.csv"), provenance("b.csv")];
        if let Record::Person(p) = &mut a {
            p.first_name = Some(tricky.clone());
        }
        let mut b = person("2");
        b.header_mut().provenance = vec![provenance(&tricky)];
        let h1 = Sha256::digest(b"one");
        let h2 = Sha256::digest(b"two");
        let mut sink = Box::new(JsonlSink::create(&path).unwrap());
        sink.write_record_pending(&a).unwrap();
        sink.fill_pending(&h1).unwrap();
        sink.write_record(&person("3")).unwrap();
        sink.write_record_pending(&b).unwrap();
        sink.fill_pending(&h2).unwrap();
        let summary = sink.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(summary.files[0].1, Sha256::digest(&bytes));
        let lines: Vec<Record> = String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| Record::from_json_line(l).unwrap())
            .collect();
        let mut want_a = a.clone();
        want_a.header_mut().provenance[1].source.sha256 = h1;
        let mut want_b = b.clone();
        want_b.header_mut().provenance[0].source.sha256 = h2;
        assert_eq!(lines, vec![want_a, person("3"), want_b]);
    }

    #[test]
    fn placeholders_dense_sparse_and_alone_are_all_filled_window_by_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let h = Sha256::digest(b"whole file");
        let mut sink = Box::new(JsonlSink::create(&path).unwrap());
        let mut want = Vec::new();
        // Runs of pending records (many to a window), then records with
        // no placeholder past a window's length, then a pending one alone.
        let padding = "p".repeat(3000);
        for i in 0..3000 {
            let mut r = person(&i.to_string());
            let pending = i % 1000 < 600 || i == 2999;
            if !pending {
                if let Record::Person(p) = &mut r {
                    p.first_name = Some(padding.clone());
                }
            }
            let mut w = r.clone();
            if pending {
                r.header_mut().provenance = vec![provenance("a.csv")];
                w.header_mut().provenance = vec![provenance("a.csv")];
                w.header_mut().provenance[0].source.sha256 = h;
            }
            want.push(w);
            sink.write_owned(r, pending).unwrap();
        }
        sink.fill_pending(&h).unwrap();
        sink.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() as u64 > 2 * Patch::WINDOW);
        let got: Vec<Record> = String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| Record::from_json_line(l).unwrap())
            .collect();
        assert!(got == want);
    }

    #[test]
    fn a_sink_dropped_without_finish_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut sink = JsonlSink::create(&path).unwrap();
        sink.write_record(&person("1")).unwrap();
        drop(sink);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn owned_and_lent_records_are_written_in_the_order_given_and_filled_alike() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let pending = |key: &str| {
            let mut r = person(key);
            r.header_mut().provenance = vec![provenance("a.csv")];
            r
        };
        let h1 = Sha256::digest(b"one");
        let h2 = Sha256::digest(b"two");
        let mut sink = Box::new(JsonlSink::create(&path).unwrap());
        let mut want = Vec::new();
        // Over several batches, owned and lent, pending and not, with a
        // fill between.
        for i in 0..(3 * BATCH + 7) {
            let key = i.to_string();
            let (r, is_pending) = if i % 3 == 0 {
                (person(&key), false)
            } else {
                (pending(&key), true)
            };
            let mut w = r.clone();
            if is_pending {
                w.header_mut().provenance[0].source.sha256 = if i < BATCH + 10 { h1 } else { h2 };
            }
            want.push(w);
            match (i % 5 == 0, is_pending) {
                (true, true) => sink.write_record_pending(&r).unwrap(),
                (true, false) => sink.write_record(&r).unwrap(),
                (false, p) => sink.write_owned(r, p).unwrap(),
            }
            if i + 1 == BATCH + 10 {
                assert!(sink.has_pending());
                sink.fill_pending(&h1).unwrap();
                assert!(!sink.has_pending());
            }
        }
        sink.fill_pending(&h2).unwrap();
        // A pending record must carry the placeholder.
        assert!(sink.write_owned(person("x"), true).is_err());
        let summary = sink.finish().unwrap();
        assert_eq!(summary.records, want.len() as u64);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(summary.files[0].1, Sha256::digest(&bytes));
        assert_eq!(summary.files[0].2, bytes.len() as u64);
        let got: Vec<Record> = String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| Record::from_json_line(l).unwrap())
            .collect();
        assert_eq!(got, want);

        // With nothing pending, the hash is taken as the lines are written.
        let path = dir.path().join("plain.jsonl");
        let mut sink = Box::new(JsonlSink::create(&path).unwrap());
        sink.write_owned(person("1"), false).unwrap();
        sink.write_record(&person("2")).unwrap();
        sink.write_owned(person("3"), false).unwrap();
        let summary = sink.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(summary.files[0].1, Sha256::digest(&bytes));
        assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 3);
    }
}
