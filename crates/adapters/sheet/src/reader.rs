//! The streaming sheet reader: calamine's cell reader on a worker thread,
//! rows handed over in batches of text.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use calamine::{DataRef, Reader, Xlsx, XlsxError};
use casebridge_io::HashingReader;
use casebridge_model::{
    Locator, RecordSource, SourceError, SourceErrorKind, SourceInfo, TextRow, Want, PRESENCE_LIMIT,
    PRESENT,
};

use crate::config::UNSUPPORTED;
use crate::text::{push_cell, Kind};
use crate::{check_archive, ArchiveLimits, Error as CheckError};

/// Most columns a header may have (Excel's own limit, column `XFD`).
pub const MAX_COLUMNS: usize = 16_384;

/// Batches in flight between the worker and the reader.
const IN_FLIGHT: usize = 4;
/// A batch is handed over once it holds this many rows...
const BATCH_ROWS: usize = 1024;
/// ... or this much text.
const BATCH_TEXT: usize = 256 << 10;

/// How to read a sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetSourceConfig {
    /// The sheet to read, by name (matched exactly, else ignoring case, as
    /// Excel does); `None`: the workbook's first sheet.
    pub sheet: Option<String>,
    /// 1-based row of the header, as Excel numbers it; rows above it are
    /// skipped (and blank rows from it on, until the first that is not).
    pub header_row: u64,
    /// Most bytes of text the wanted cells of one row may hold; a larger
    /// row is rejected. A row whose cells hold more than four times this in
    /// all (wanted or not) is rejected too, without being held.
    pub max_record_bytes: usize,
    /// What the workbook's archive may inflate to.
    pub archive: ArchiveLimits,
}

impl Default for SheetSourceConfig {
    fn default() -> Self {
        SheetSourceConfig {
            sheet: None,
            header_row: 1,
            max_record_bytes: 16 << 20,
            archive: ArchiveLimits::default(),
        }
    }
}

impl SheetSourceConfig {
    /// Opens `path` for reading with this configuration.
    pub fn build(&self, path: &Path) -> Result<SheetSource, SourceError> {
        SheetSource::open(path, self.clone())
    }
}

/// A read-only view of a file at its own position: the hashing thread, the
/// archive check and calamine each read the one open file, so all three see
/// the same file (even if the path is replaced meanwhile), without sharing a
/// seek position.
#[derive(Debug, Clone)]
struct SharedFile {
    file: Arc<File>,
    pos: u64,
    len: u64,
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

impl Read for SharedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let max = left.min(buf.len() as u64) as usize;
        if max == 0 {
            return Ok(0);
        }
        let n = read_at(&self.file, &mut buf[..max], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SharedFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match pos {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )),
        }
    }
}

/// One converted cell of a batch.
#[derive(Debug, Clone, Copy)]
struct CellRec {
    /// 0-based column.
    col: u32,
    /// Its text in [`Batch::text`].
    start: usize,
    end: usize,
    kind: Kind,
}

/// One non-blank row of a batch.
#[derive(Debug, Clone, Copy)]
struct RowRec {
    /// 0-based row.
    row: u32,
    /// End of its cells in [`Batch::cells`] (they start where the previous row's end).
    cells_end: usize,
    /// Its cells hold more text than the row limit; none are kept.
    oversized: bool,
    /// The row before it (0-based) when its number is not greater than
    /// that one's: a repeated or backward row number.
    follows: Option<u32>,
}

/// Rows converted by the worker, in sheet order.
#[derive(Debug, Default)]
struct Batch {
    text: String,
    cells: Vec<CellRec>,
    rows: Vec<RowRec>,
}

impl Batch {
    fn clear(&mut self) {
        self.text.clear();
        self.cells.clear();
        self.rows.clear();
    }

    fn cells_of(&self, i: usize) -> &[CellRec] {
        let start = if i == 0 {
            0
        } else {
            self.rows[i - 1].cells_end
        };
        &self.cells[start..self.rows[i].cells_end]
    }

    fn text_of(&self, c: &CellRec) -> &str {
        &self.text[c.start..c.end]
    }

    fn is_blank(&self, c: &CellRec) -> bool {
        c.kind == Kind::Text && self.text_of(c).trim().is_empty()
    }
}

/// Why the worker stopped before the end of the sheet.
#[derive(Debug)]
struct Failure {
    kind: SourceErrorKind,
    /// 1-based row it was reading, when known.
    row: Option<u64>,
}

fn syntax(message: impl Into<String>) -> Failure {
    Failure {
        kind: SourceErrorKind::Syntax(message.into()),
        row: None,
    }
}

/// From the worker to the reader.
enum Msg {
    /// The sheet is open: its name and its last row (0-based, as declared).
    Opened {
        sheet: String,
        last_row: u32,
    },
    Rows(Batch),
    Failed(Failure),
}

/// calamine's error, without anything a cell holds.
fn describe(e: &XlsxError) -> String {
    match e {
        XlsxError::Io(e) => format!("cannot read the workbook: {}", e.kind()),
        XlsxError::Zip(_) => "the workbook's zip archive is damaged".into(),
        XlsxError::Password => "the workbook is password-protected".into(),
        XlsxError::Xml(_)
        | XlsxError::XmlAttr(_)
        | XlsxError::XmlAttribute(_)
        | XlsxError::Encoding(_) => "malformed XML in the workbook".into(),
        XlsxError::XmlEof(what) => format!("the workbook's XML ends inside <{what}>"),
        XlsxError::UnexpectedNode(what) => {
            format!("unexpected XML element in the workbook (expected {what})")
        }
        XlsxError::Unexpected(what) => format!("malformed workbook: {what}"),
        XlsxError::FileNotFound(part) => format!("the workbook lacks its part {part}"),
        XlsxError::RelationshipNotFound => "the workbook lacks a relationship it refers to".into(),
        XlsxError::ParseFloat(_) | XlsxError::ParseInt(_) | XlsxError::Parse(_) => {
            "a cell holds a malformed number".into()
        }
        XlsxError::CellTAttribute(_) => "a cell has an unknown type".into(),
        XlsxError::CellError(_) => "a cell holds an unknown error value".into(),
        XlsxError::Alphanumeric(_)
        | XlsxError::NumericColumn(_)
        | XlsxError::RangeWithoutColumnComponent
        | XlsxError::RangeWithoutRowComponent
        | XlsxError::DimensionCount(_) => "a malformed cell reference in the workbook".into(),
        XlsxError::NotAWorksheet(_) => "the sheet is not a worksheet (a chart sheet?)".into(),
        XlsxError::WorksheetNotFound(_) => "the sheet's part is missing from the workbook".into(),
        _ => "the workbook is malformed".into(),
    }
}

/// What the worker needs to know.
struct WorkerConfig {
    sheet: Option<String>,
    /// 0-based header row: rows above it are not converted.
    first_row: u32,
    cell_cap: usize,
    row_cap: usize,
}

/// The worker's progress through the sheet, kept outside the code that may
/// panic so that the whole rows read before a failure are still delivered.
#[derive(Default)]
struct Progress {
    batch: Batch,
    /// The row being read (0-based).
    row: Option<u32>,
    /// Where its cells and text start in the batch.
    cells_start: usize,
    text_start: usize,
    /// Whether it holds anything.
    nonblank: bool,
    /// Whether it passed the row limit.
    oversized: bool,
    /// Its bytes of text.
    bytes: usize,
    /// The column of its last cell: a cell at or before it starts another
    /// row element with the same number (calamine gives positions, not rows).
    col: Option<u32>,
    /// The row before it, when its number does not go forward.
    follows: Option<u32>,
    /// Whether a row at or below the header row has started: every row
    /// after it in the sheet is read, whatever its number.
    past_header: bool,
}

impl Progress {
    /// Ends the current row: kept if it is at or below the header row (or
    /// comes after it in the sheet) and not blank.
    fn end_row(&mut self, first_row: u32) {
        match self.row {
            Some(r) if self.is_read(r, first_row) && self.nonblank => {
                self.batch.rows.push(RowRec {
                    row: r,
                    cells_end: self.batch.cells.len(),
                    oversized: self.oversized,
                    follows: self.follows,
                })
            }
            _ => self.drop_row(),
        }
    }

    /// Whether row `r` is read: at or below the header row, or after one
    /// in the sheet (a number going back does not hide a row).
    fn is_read(&self, r: u32, first_row: u32) -> bool {
        r >= first_row || self.past_header
    }

    fn drop_row(&mut self) {
        self.batch.cells.truncate(self.cells_start);
        self.batch.text.truncate(self.text_start);
    }

    fn start_row(&mut self, row: u32) {
        self.row = Some(row);
        self.cells_start = self.batch.cells.len();
        self.text_start = self.batch.text.len();
        self.nonblank = false;
        self.oversized = false;
        self.bytes = 0;
        self.col = None;
        self.follows = None;
    }
}

/// The worker thread: opens the workbook, then converts the sheet's rows,
/// and says why if it stops early. A panic inside calamine on a malformed
/// workbook ends up as a [`SourceErrorKind::Syntax`] error, not a crash.
fn worker(file: SharedFile, config: WorkerConfig, tx: SyncSender<Msg>, pool: Receiver<Batch>) {
    let mut progress = Progress::default();
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        work(file, &config, &tx, &pool, &mut progress)
    }));
    let mut failure = match result {
        Ok(Ok(())) => return,
        Ok(Err(f)) => f,
        Err(_) => syntax("the workbook is malformed (its reader failed)"),
    };
    // The rows before the one that failed are whole: deliver them first.
    progress.drop_row();
    if let Some(r) = progress.row {
        failure.row = Some(u64::from(r) + 1);
    }
    if !progress.batch.rows.is_empty() && tx.send(Msg::Rows(progress.batch)).is_err() {
        return;
    }
    let _ = tx.send(Msg::Failed(failure));
}

fn work(
    file: SharedFile,
    config: &WorkerConfig,
    tx: &SyncSender<Msg>,
    pool: &Receiver<Batch>,
    p: &mut Progress,
) -> Result<(), Failure> {
    let mut xlsx: Xlsx<_> =
        Xlsx::new(BufReader::with_capacity(64 << 10, file)).map_err(|e| syntax(describe(&e)))?;
    let names = xlsx.sheet_names();
    let Some(first) = names.first() else {
        return Err(syntax("not an xlsx workbook (it lists no sheets)"));
    };
    let sheet = match &config.sheet {
        None => first.clone(),
        Some(wanted) => names
            .iter()
            .find(|n| *n == wanted)
            .or_else(|| {
                let lower = wanted.to_lowercase();
                names.iter().find(|n| n.to_lowercase() == lower)
            })
            .cloned()
            .ok_or_else(|| Failure {
                kind: SourceErrorKind::NoSheet {
                    sheet: wanted.clone(),
                    available: names.clone(),
                },
                row: None,
            })?,
    };
    let mut cells = xlsx
        .worksheet_cells_reader(&sheet)
        .map_err(|e| syntax(format!("sheet {sheet}: {}", describe(&e))))?;
    let last_row = cells.dimensions().end.0;
    if tx.send(Msg::Opened { sheet, last_row }).is_err() {
        return Ok(());
    }

    while let Some(cell) = cells.next_cell().map_err(|e| syntax(describe(&e)))? {
        let (r, c) = cell.get_position();
        // A cell at or before the last one of the same row number starts
        // another row element with that number: a row of its own.
        let again = p.row == Some(r) && p.col.is_some_and(|last| c <= last);
        if p.row != Some(r) || again {
            let before = p.row;
            p.end_row(config.first_row);
            if p.batch.rows.len() >= BATCH_ROWS || p.batch.text.len() >= BATCH_TEXT {
                let mut next = pool.try_recv().unwrap_or_default();
                next.clear();
                if tx
                    .send(Msg::Rows(std::mem::replace(&mut p.batch, next)))
                    .is_err()
                {
                    return Ok(());
                }
            }
            p.start_row(r);
            p.follows = before.filter(|b| *b >= r);
            p.past_header |= r >= config.first_row;
        }
        p.col = Some(c);
        if !p.is_read(r, config.first_row) || p.oversized {
            continue;
        }
        let value = cell.get_value();
        if matches!(value, DataRef::Empty) {
            continue;
        }
        let start = p.batch.text.len();
        let kind = push_cell(&mut p.batch.text, value, config.cell_cap);
        let end = p.batch.text.len();
        match kind {
            Kind::Text if start == end => continue,
            Kind::Text => p.nonblank = p.nonblank || !p.batch.text[start..end].trim().is_empty(),
            Kind::Date | Kind::Error | Kind::Oversized => p.nonblank = true,
        }
        p.bytes += end - start;
        if p.bytes > config.row_cap {
            p.oversized = true;
            p.drop_row();
            continue;
        }
        p.batch.cells.push(CellRec {
            col: c,
            start,
            end,
            kind,
        });
    }
    p.end_row(config.first_row);
    p.row = None;
    let batch = std::mem::take(&mut p.batch);
    if !batch.rows.is_empty() {
        let _ = tx.send(Msg::Rows(batch));
    }
    Ok(())
}

/// What [`SheetSource::next`] found.
enum Next {
    /// Row `i` of the current batch.
    Row(usize),
    End,
    Failed(Failure),
}

/// A streaming reader of one sheet of an XLSX or XLSM workbook.
///
/// Memory holds the workbook's shared strings and styles, plus a few
/// batches of converted rows, whatever the number of rows.
pub struct SheetSource {
    name: String,
    sheet: String,
    header: Vec<String>,
    rx: Receiver<Msg>,
    recycle: SyncSender<Batch>,
    batch: Batch,
    next_row: usize,
    done: bool,
    worker: Option<JoinHandle<()>>,
    hasher: HashingReader,
    size: u64,
    last_row: u32,
    /// 1-based row last delivered.
    current_row: u64,
    records: u64,
    max_record_bytes: usize,
    row_cap: usize,
    warning: Option<SourceError>,
}

impl std::fmt::Debug for SheetSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SheetSource")
            .field("name", &self.name)
            .field("sheet", &self.sheet)
            .field("header", &self.header)
            .finish()
    }
}

fn file_error(kind: SourceErrorKind) -> SourceError {
    SourceError {
        kind,
        locator: Locator::File,
        recoverable: false,
    }
}

impl SheetSource {
    /// Opens a workbook, checks its archive against `config.archive`, and
    /// reads the header row of the sheet.
    pub fn open(path: &Path, config: SheetSourceConfig) -> Result<SheetSource, SourceError> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if UNSUPPORTED.contains(&ext.as_str()) {
            return Err(file_error(SourceErrorKind::Unsupported(format!(
                "unsupported spreadsheet format .{ext}: only .xlsx and .xlsm workbooks are read; \
                 save the sheet as .xlsx"
            ))));
        }
        let io_error = |e: io::Error| file_error(SourceErrorKind::Io(e.kind().to_string()));
        let file = File::open(path).map_err(io_error)?;
        let meta = file.metadata().map_err(io_error)?;
        if meta.is_dir() {
            return Err(file_error(SourceErrorKind::Io("is a directory".into())));
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let size = meta.len();
        let shared = SharedFile {
            file: Arc::new(file),
            pos: 0,
            len: size,
        };

        let mut magic = [0u8; 8];
        let n = read_at(&shared.file, &mut magic, 0).map_err(io_error)?;
        if magic[..n] == [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1] {
            return Err(file_error(SourceErrorKind::Syntax(
                "a password-protected workbook or a legacy .xls file: not supported; \
                 save it as .xlsx without a password"
                    .into(),
            )));
        }

        let hasher = HashingReader::hash_only(Box::new(shared.clone()));
        check_archive(shared.clone(), size, path, &config.archive).map_err(|e| {
            file_error(match e {
                CheckError::Limit { what, limit, .. } => {
                    SourceErrorKind::ArchiveLimit(format!("the workbook {what} (limit {limit})"))
                }
                CheckError::NotXlsx { .. } => SourceErrorKind::Syntax(
                    "not an xlsx workbook (not a zip archive, or a damaged one)".into(),
                ),
                CheckError::Read { source, .. } => SourceErrorKind::Io(source.kind().to_string()),
                CheckError::Write { message, .. } => SourceErrorKind::Io(message),
                CheckError::Output(e) => SourceErrorKind::Io(
                    e.io_error()
                        .map_or(std::io::ErrorKind::Other, std::io::Error::kind)
                        .to_string(),
                ),
            })
        })?;

        let max_record_bytes = config.max_record_bytes;
        let row_cap = max_record_bytes.saturating_mul(4);
        let worker_config = WorkerConfig {
            sheet: config.sheet.clone(),
            first_row: u32::try_from(config.header_row.saturating_sub(1)).unwrap_or(u32::MAX),
            cell_cap: max_record_bytes,
            row_cap,
        };
        let (tx, rx) = sync_channel::<Msg>(IN_FLIGHT);
        let (recycle, pool) = sync_channel::<Batch>(IN_FLIGHT + 2);
        let worker = std::thread::Builder::new()
            .name(crate::WORKER_THREAD.into())
            .spawn(move || worker(shared, worker_config, tx, pool))
            .map_err(io_error)?;

        let (sheet, last_row) = match rx.recv() {
            Ok(Msg::Opened { sheet, last_row }) => (sheet, last_row),
            Ok(Msg::Failed(f)) => return Err(file_error(f.kind)),
            Ok(Msg::Rows(_)) | Err(_) => {
                return Err(file_error(SourceErrorKind::Syntax(
                    "the workbook is malformed (its reader failed)".into(),
                )))
            }
        };
        let mut src = SheetSource {
            name,
            sheet,
            header: Vec::new(),
            rx,
            recycle,
            batch: Batch::default(),
            next_row: 0,
            done: false,
            worker: Some(worker),
            hasher,
            size,
            last_row,
            current_row: 0,
            records: 0,
            max_record_bytes,
            row_cap,
            warning: None,
        };
        let i = match src.next() {
            Next::Row(i) => i,
            Next::End => return Err(file_error(SourceErrorKind::Empty)),
            Next::Failed(f) => return Err(file_error(f.kind)),
        };
        let rec = src.batch.rows[i];
        let too_large = || {
            file_error(SourceErrorKind::Limit(format!(
                "header row larger than {max_record_bytes} bytes"
            )))
        };
        if rec.oversized {
            return Err(too_large());
        }
        let cells = src.batch.cells_of(i);
        let width = cells
            .iter()
            .filter(|c| !src.batch.is_blank(c))
            .map(|c| c.col as usize + 1)
            .max()
            .unwrap_or(0);
        if width > MAX_COLUMNS {
            return Err(file_error(SourceErrorKind::Limit(format!(
                "header row wider than {MAX_COLUMNS} columns"
            ))));
        }
        let mut header = vec![String::new(); width];
        for c in cells {
            if c.kind == Kind::Oversized {
                return Err(too_large());
            }
            if let Some(h) = header.get_mut(c.col as usize) {
                h.clear();
                h.push_str(src.batch.text_of(c).trim());
            }
        }
        src.header = header;
        src.current_row = u64::from(rec.row) + 1;
        Ok(src)
    }

    /// The file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The sheet being read.
    pub fn sheet(&self) -> &str {
        &self.sheet
    }

    fn next(&mut self) -> Next {
        loop {
            if self.next_row < self.batch.rows.len() {
                self.next_row += 1;
                return Next::Row(self.next_row - 1);
            }
            if self.done {
                return Next::End;
            }
            match self.rx.recv() {
                Ok(Msg::Rows(b)) => {
                    let old = std::mem::replace(&mut self.batch, b);
                    let _ = self.recycle.try_send(old);
                    self.next_row = 0;
                }
                Ok(Msg::Failed(f)) => {
                    self.done = true;
                    return Next::Failed(f);
                }
                Ok(Msg::Opened { .. }) => {}
                Err(_) => {
                    self.done = true;
                    return Next::End;
                }
            }
        }
    }

    fn error(&self, kind: SourceErrorKind, row: u64) -> SourceError {
        SourceError {
            kind,
            locator: Locator::SheetRow {
                sheet: self.sheet.clone(),
                row,
            },
            recoverable: true,
        }
    }
}

impl RecordSource for SheetSource {
    fn columns(&self) -> &[String] {
        &self.header
    }

    fn part(&self) -> Option<&str> {
        Some(&self.sheet)
    }

    fn read_row(&mut self, row: &mut TextRow, wanted: &[Want]) -> Result<bool, SourceError> {
        let i = match self.next() {
            Next::Row(i) => i,
            Next::End => return Ok(false),
            Next::Failed(f) => {
                let locator = match f.row {
                    Some(row) => Locator::SheetRow {
                        sheet: self.sheet.clone(),
                        row,
                    },
                    None => Locator::File,
                };
                return Err(SourceError {
                    kind: f.kind,
                    locator,
                    recoverable: false,
                });
            }
        };
        let rec = self.batch.rows[i];
        let excel_row = u64::from(rec.row) + 1;
        self.records += 1;
        self.current_row = excel_row;
        match &mut row.locator {
            Some(Locator::SheetRow { sheet, row }) if *sheet == self.sheet => *row = excel_row,
            l => {
                *l = Some(Locator::SheetRow {
                    sheet: self.sheet.clone(),
                    row: excel_row,
                })
            }
        }
        if let Some(before) = rec.follows {
            self.warning = Some(self.error(
                SourceErrorKind::RowNumber {
                    row: excel_row,
                    after: u64::from(before) + 1,
                },
                excel_row,
            ));
        }
        if rec.oversized {
            return Err(self.error(
                SourceErrorKind::Limit(format!(
                    "row holds more than {} bytes of text",
                    self.row_cap
                )),
                excel_row,
            ));
        }
        let n = self.header.len();
        let batch = &self.batch;
        let cells = batch.cells_of(i);
        let found = cells
            .iter()
            .filter(|c| c.col as usize >= n && !batch.is_blank(c))
            .map(|c| c.col as usize + 1)
            .max();
        if let Some(found) = found {
            return Err(self.error(
                SourceErrorKind::FieldCount { expected: n, found },
                excel_row,
            ));
        }
        row.reset(n);
        let mut bytes = 0usize;
        for c in cells {
            let col = c.col as usize;
            let want = wanted.get(col).copied().unwrap_or_default();
            if want == Want::Skip {
                continue;
            }
            let text = batch.text_of(c);
            if c.kind == Kind::Date {
                row.set_typed(col);
            }
            let out = row.cell_mut(col);
            out.clear();
            match (c.kind, want) {
                (Kind::Error, _) => {
                    return Err(self.error(
                        SourceErrorKind::CellError {
                            column: self.header[col].clone(),
                            error: text.to_string(),
                        },
                        excel_row,
                    ))
                }
                (Kind::Oversized, Want::Presence) => out.push_str(PRESENT),
                (Kind::Oversized, _) => {
                    return Err(self.error(
                        SourceErrorKind::Limit(format!(
                            "column {}: cell larger than {} bytes",
                            self.header[col], self.max_record_bytes
                        )),
                        excel_row,
                    ))
                }
                (Kind::Text, Want::Presence) => {
                    let trimmed = text.trim_ascii();
                    if trimmed.is_empty() {
                        continue;
                    }
                    out.push_str(if trimmed.len() > PRESENCE_LIMIT {
                        PRESENT
                    } else {
                        text
                    });
                }
                (Kind::Text | Kind::Date, _) => out.push_str(text),
            }
            bytes += out.len();
        }
        if bytes > self.max_record_bytes {
            return Err(self.error(
                SourceErrorKind::Limit(format!("row larger than {} bytes", self.max_record_bytes)),
                excel_row,
            ));
        }
        Ok(true)
    }

    fn bytes_read(&self) -> u64 {
        if self.done {
            return self.size;
        }
        let rows = u64::from(self.last_row) + 1;
        // calamine reads the sheet's XML in order: the share of its rows
        // read is the best estimate of the share of the file.
        (u128::from(self.size) * u128::from(self.current_row.min(rows)) / u128::from(rows)) as u64
    }

    fn take_warning(&mut self) -> Option<SourceError> {
        self.warning.take()
    }

    fn finish(mut self: Box<Self>) -> Result<SourceInfo, SourceError> {
        self.done = true;
        // Dropping the receiver stops the worker at its next batch.
        let (_, rx) = sync_channel(0);
        drop(std::mem::replace(&mut self.rx, rx));
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
        let (sha256, bytes) = self
            .hasher
            .finish()
            .map_err(|e| file_error(SourceErrorKind::Io(e.kind().to_string())))?;
        Ok(SourceInfo {
            name: self.name.clone(),
            sha256,
            bytes,
            records: self.records,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use casebridge_model::Sha256;
    use rust_xlsxwriter::{Format, Formula, Workbook};
    use std::path::PathBuf;

    type Rows = Vec<Result<(u64, Vec<String>), SourceError>>;

    fn lenient() -> SheetSourceConfig {
        SheetSourceConfig {
            // Tiny test workbooks compress well past the default ratio.
            archive: ArchiveLimits {
                max_ratio: 10_000,
                ..ArchiveLimits::default()
            },
            ..SheetSourceConfig::default()
        }
    }

    fn read_with(
        path: &Path,
        config: SheetSourceConfig,
        wanted: Option<Vec<Want>>,
    ) -> (Vec<String>, Rows, SourceInfo) {
        let mut src = Box::new(SheetSource::open(path, config).unwrap());
        let header = src.columns().to_vec();
        let wanted = wanted.unwrap_or_else(|| vec![Want::Text; header.len()]);
        let mut row = TextRow::new();
        let mut out = Vec::new();
        let mut last_progress = 0;
        loop {
            match src.read_row(&mut row, &wanted) {
                Ok(false) => break,
                Ok(true) => out.push(Ok((
                    row.locator.as_ref().and_then(Locator::line).unwrap(),
                    (0..row.len())
                        .map(|i| row.get(i).unwrap().to_string())
                        .collect(),
                ))),
                Err(e) => {
                    let stop = !e.recoverable;
                    out.push(Err(e));
                    if stop {
                        break;
                    }
                }
            }
            let p = src.bytes_read();
            assert!(p >= last_progress);
            last_progress = p;
        }
        assert!(src.take_warning().is_none());
        let info = src.finish().unwrap();
        (header, out, info)
    }

    fn read_all(path: &Path) -> (Vec<String>, Rows, SourceInfo) {
        read_with(path, lenient(), None)
    }

    fn ok_rows(rows: &Rows) -> Vec<(u64, Vec<String>)> {
        rows.iter()
            .filter_map(|r| r.as_ref().ok().cloned())
            .collect()
    }

    fn open_err(path: &Path, config: SheetSourceConfig) -> SourceError {
        let e = SheetSource::open(path, config).unwrap_err();
        assert!(!e.recoverable);
        assert_eq!(e.locator, Locator::File);
        e
    }

    /// A workbook with every kind of cell on sheet `Persons`, and a second sheet.
    fn typed_workbook(dir: &Path) -> PathBuf {
        let path = dir.join("typed.xlsx");
        let mut wb = Workbook::new();
        let date = Format::new().set_num_format("yyyy-mm-dd");
        let datetime = Format::new().set_num_format("dd/mm/yyyy hh:mm");
        let duration = Format::new().set_num_format("[h]:mm:ss");
        let ws = wb.add_worksheet();
        ws.set_name("Persons").unwrap();
        let header = [
            "ID", "Name", "NHS", "Score", "DOB", "Seen", "Active", "Check", "Wait",
        ];
        for (c, h) in header.iter().enumerate() {
            ws.write_string(0, c as u16, *h).unwrap();
        }
        // Row 2: every type.
        ws.write_number(1, 0, 12345.0).unwrap();
        ws.write_string(1, 1, "Zoë Ωmega-李 O'Brien").unwrap();
        ws.write_number(1, 2, 9_434_765_919.0).unwrap();
        ws.write_number(1, 3, 2.675).unwrap();
        ws.write_number_with_format(1, 4, 45306.0, &date).unwrap();
        ws.write_number_with_format(1, 5, 45306.4375, &datetime)
            .unwrap();
        ws.write_boolean(1, 6, true).unwrap();
        ws.write_formula(1, 7, Formula::new("=1+1").set_result("2"))
            .unwrap();
        ws.write_number_with_format(1, 8, 1.5625, &duration)
            .unwrap();
        // Row 3: blank (nothing written). Row 4: spaces only, so blank too.
        ws.write_string(3, 1, "   ").unwrap();
        // Row 5: fewer cells than the header, a date with a time of midnight.
        ws.write_number(4, 0, -7.0).unwrap();
        ws.write_number_with_format(4, 5, 45306.0, &datetime)
            .unwrap();
        ws.write_boolean(4, 6, false).unwrap();
        // Row 6: an error cell (a formula whose cached result is #DIV/0!).
        ws.write_number(5, 0, 3.0).unwrap();
        ws.write_formula(5, 7, Formula::new("=1/0").set_result("#DIV/0!"))
            .unwrap();
        // Row 7: a cell past the header's width.
        ws.write_number(6, 0, 4.0).unwrap();
        ws.write_string(6, 11, "stray").unwrap();
        // Row 8: #N/A in a column, then a good row 9.
        ws.write_formula(7, 3, Formula::new("=NA()").set_result("#N/A"))
            .unwrap();
        ws.write_number(8, 0, 0.1).unwrap();
        ws.write_string(8, 9, " ").unwrap();
        let other = wb.add_worksheet();
        other.set_name("Notes").unwrap();
        other.write_string(0, 0, "Note").unwrap();
        other.write_string(1, 0, "hello").unwrap();
        wb.save(&path).unwrap();
        path
    }

    #[test]
    fn reads_every_type_of_cell() {
        let dir = tempfile::tempdir().unwrap();
        let path = typed_workbook(dir.path());
        let (header, rows, info) = read_all(&path);
        assert_eq!(
            header,
            ["ID", "Name", "NHS", "Score", "DOB", "Seen", "Active", "Check", "Wait"]
        );
        let good = ok_rows(&rows);
        assert_eq!(good[0].0, 2);
        assert_eq!(
            good[0].1,
            [
                "12345",
                "Zoë Ωmega-李 O'Brien",
                "9434765919",
                "2.675",
                "2024-01-15",
                "2024-01-15 10:30:00",
                "TRUE",
                "2",
                "37:30:00"
            ]
        );
        assert_eq!(
            good[1],
            (
                5,
                ["-7", "", "", "", "", "2024-01-15", "FALSE", "", ""]
                    .map(String::from)
                    .to_vec()
            )
        );
        assert_eq!(good[2].0, 9);
        assert_eq!(good[2].1[0], "0.1");
        assert_eq!(good.len(), 3);

        let errors: Vec<&SourceError> = rows.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(
            errors[0].kind,
            SourceErrorKind::CellError {
                column: "Check".into(),
                error: "#DIV/0!".into()
            }
        );
        assert_eq!(
            errors[0].locator,
            Locator::SheetRow {
                sheet: "Persons".into(),
                row: 6
            }
        );
        assert!(errors[0].recoverable);
        assert_eq!(
            errors[1].kind,
            SourceErrorKind::FieldCount {
                expected: 9,
                found: 12
            }
        );
        assert_eq!(errors[1].locator.line(), Some(7));
        assert_eq!(
            errors[2].kind,
            SourceErrorKind::CellError {
                column: "Score".into(),
                error: "#N/A".into()
            }
        );
        // Messages name the place, never the content.
        for e in &errors {
            let m = e.to_string();
            assert!(
                !m.contains("stray") && m.contains("sheet Persons row"),
                "{m}"
            );
        }
        assert_eq!(info.records, 6);
        assert_eq!(info.name, "typed.xlsx");
    }

    // See: issue 9 (date cells must be dates whatever a mapping's text formats).
    #[test]
    fn date_cells_are_typed_and_text_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = typed_workbook(dir.path());
        let mut src = SheetSource::open(&path, lenient()).unwrap();
        let mut row = TextRow::new();
        let wanted = [Want::Text; 9];
        assert!(src.read_row(&mut row, &wanted).unwrap());
        let typed: Vec<usize> = (0..row.len()).filter(|i| row.is_typed(*i)).collect();
        // DOB (a date) and Seen (a date and time); not numbers, text,
        // booleans or the duration.
        assert_eq!(typed, [4, 5]);
        assert_eq!(row.get(5), Some("2024-01-15 10:30:00"));
        // Row 5: a date-time at midnight is written as a date, and typed.
        assert!(src.read_row(&mut row, &wanted).unwrap());
        assert_eq!((row.get(5), row.is_typed(5)), (Some("2024-01-15"), true));
        assert!(!row.is_typed(4), "reset with the row");
        // ISO date cells (t="d") too; a time of day alone is not a date.
        let sheet = crate::fuzzing::SHEET.replace(r#"<c r="H4" t="str"><v>x</v></c>"#, "");
        let path = template(dir.path(), &sheet, crate::fuzzing::SHARED_STRINGS);
        let mut src = SheetSource::open(&path, lenient()).unwrap();
        assert!(src.read_row(&mut row, &[Want::Text; 6]).unwrap());
        assert!(row.is_typed(2) && row.is_typed(3) && !row.is_typed(4));
        let past_error = [Want::Text, Want::Skip, Want::Text];
        assert!(src.read_row(&mut row, &past_error).unwrap());
        assert_eq!(
            (row.get(2), row.is_typed(2)),
            (Some("2024-01-15 10:30:00"), true)
        );
        assert!(!row.is_typed(0));
    }

    #[test]
    fn skipped_columns_are_not_checked_and_presence_abbreviates() {
        let dir = tempfile::tempdir().unwrap();
        let path = typed_workbook(dir.path());
        let mut wanted = vec![Want::Text; 9];
        wanted[3] = Want::Skip; // Score: its #N/A no longer rejects row 8
        wanted[7] = Want::Skip; // Check: nor #DIV/0! row 6
        wanted[1] = Want::Presence;
        let (_, rows, _) = read_with(&path, lenient(), Some(wanted));
        let good = ok_rows(&rows);
        assert_eq!(
            good.iter().map(|r| r.0).collect::<Vec<_>>(),
            [2, 5, 6, 8, 9]
        );
        assert_eq!(good[0].1[1], "Zoë Ωmega-李 O'Brien");
        assert_eq!(good[0].1[3], "");
        // Short `wanted`: the rest are skipped.
        let (_, rows, _) = read_with(&path, lenient(), Some(vec![Want::Text]));
        assert_eq!(ok_rows(&rows).len(), 5);
        assert_eq!(
            ok_rows(&rows)[0].1,
            ["12345", "", "", "", "", "", "", "", ""]
        );
    }

    #[test]
    fn sheets_by_name_first_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = typed_workbook(dir.path());
        let config = |sheet: Option<&str>| SheetSourceConfig {
            sheet: sheet.map(String::from),
            ..lenient()
        };
        let (header, rows, _) = read_with(&path, config(Some("Notes")), None);
        assert_eq!(header, ["Note"]);
        assert_eq!(ok_rows(&rows), [(2, vec!["hello".to_string()])]);
        assert_eq!(rows[0].as_ref().ok().map(|r| r.0), Some(2));
        // Case-insensitive, as Excel's sheet names are.
        assert_eq!(read_with(&path, config(Some("notes")), None).0, ["Note"]);
        let src = SheetSource::open(&path, config(Some("Notes"))).unwrap();
        assert_eq!(src.sheet(), "Notes");
        let (header, _, _) = read_with(&path, config(None), None);
        assert_eq!(header[0], "ID");
        let e = open_err(&path, config(Some("Missing")));
        assert_eq!(
            e.kind,
            SourceErrorKind::NoSheet {
                sheet: "Missing".into(),
                available: vec!["Persons".into(), "Notes".into()]
            }
        );
    }

    #[test]
    fn header_row_below_titles() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("titled.xlsx");
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 0, "Children looked after, March")
            .unwrap();
        ws.write_string(1, 3, "ignored").unwrap();
        // Row 3 blank; row 4 the header, trimmed, with a gap.
        ws.write_string(3, 0, " ID ").unwrap();
        ws.write_string(3, 2, "Code").unwrap();
        ws.write_string(4, 0, "a").unwrap();
        ws.write_string(4, 2, "c").unwrap();
        wb.save(&path).unwrap();
        let config = SheetSourceConfig {
            header_row: 3,
            ..lenient()
        };
        let (header, rows, info) = read_with(&path, config, None);
        assert_eq!(header, ["ID", "", "Code"]);
        assert_eq!(
            ok_rows(&rows),
            [(5, vec!["a".into(), "".into(), "c".into()])]
        );
        assert_eq!(info.records, 1);
        // Header row 1: the title is the header, and row 2's cell is past it.
        let (header, rows, _) = read_all(&path);
        assert_eq!(header, ["Children looked after, March"]);
        assert_eq!(
            rows[0].as_ref().unwrap_err().kind,
            SourceErrorKind::FieldCount {
                expected: 1,
                found: 4
            }
        );
        // Past the last row: nothing.
        let config = SheetSourceConfig {
            header_row: 99,
            ..lenient()
        };
        assert_eq!(open_err(&path, config).kind, SourceErrorKind::Empty);
    }

    #[test]
    fn a_workbook_without_sheets_is_not_a_workbook() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nosheets.xlsx");
        let mut w = zip::ZipWriter::new(File::create(&path).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        use std::io::Write;
        for (name, body) in [
            (
                "_rels/.rels",
                r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
            ),
            (
                "xl/_rels/workbook.xml.rels",
                r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"></Relationships>"#,
            ),
            (
                "xl/workbook.xml",
                r#"<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheets></sheets></workbook>"#,
            ),
        ] {
            w.start_file(name, opts).unwrap();
            w.write_all(body.as_bytes()).unwrap();
        }
        w.finish().unwrap();
        let e = open_err(&path, lenient());
        assert!(
            matches!(&e.kind, SourceErrorKind::Syntax(m) if m.contains("no sheets")),
            "{e}"
        );
    }

    #[test]
    fn empty_sheet_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.xlsx");
        let mut wb = Workbook::new();
        wb.add_worksheet();
        wb.save(&path).unwrap();
        assert_eq!(open_err(&path, lenient()).kind, SourceErrorKind::Empty);
    }

    #[test]
    fn limits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.xlsx");
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 0, "ID").unwrap();
        ws.write_string(0, 1, "Note").unwrap();
        ws.write_string(1, 0, "1").unwrap();
        ws.write_string(1, 1, "x".repeat(500)).unwrap();
        ws.write_string(2, 0, "2").unwrap();
        ws.write_string(2, 1, "short").unwrap();
        ws.write_string(3, 0, "3").unwrap();
        ws.write_string(3, 1, "y".repeat(5000)).unwrap();
        wb.save(&path).unwrap();
        let config = SheetSourceConfig {
            max_record_bytes: 1000,
            ..lenient()
        };
        let (_, rows, info) = read_with(&path, config.clone(), None);
        assert!(rows[0].is_ok());
        assert_eq!(rows[1].as_ref().unwrap().1, ["2", "short"]);
        // Row 4's note is past the limit.
        let e = rows[2].as_ref().unwrap_err();
        assert!(
            matches!(e.kind, SourceErrorKind::Limit(_)) && e.recoverable,
            "{e}"
        );
        assert_eq!(e.locator.line(), Some(4));
        assert!(!e.to_string().contains("yyy"));
        assert_eq!(info.records, 3);

        // Wanted text: 500 bytes pass 400 when wanted, not when skipped or
        // only checked for presence.
        let config = SheetSourceConfig {
            max_record_bytes: 400,
            ..lenient()
        };
        let (_, rows, _) = read_with(&path, config.clone(), None);
        assert!(matches!(
            rows[0].as_ref().unwrap_err().kind,
            SourceErrorKind::Limit(_)
        ));
        let (_, rows, _) = read_with(&path, config.clone(), Some(vec![Want::Text, Want::Skip]));
        assert_eq!(ok_rows(&rows).len(), 3);
        let (_, rows, _) = read_with(&path, config, Some(vec![Want::Text, Want::Presence]));
        assert_eq!(ok_rows(&rows)[0].1, ["1", PRESENT]);
        assert_eq!(ok_rows(&rows)[1].1, ["2", "short"]);
        assert_eq!(ok_rows(&rows)[2].1, ["3", PRESENT]);

        // A row holding more than four times the limit in all is rejected,
        // whatever is wanted, and not held.
        let path = dir.path().join("wide.xlsx");
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        for c in 0..6u16 {
            ws.write_string(0, c, format!("C{c}")).unwrap();
            ws.write_string(1, c, "z".repeat(900)).unwrap();
            ws.write_string(2, c, "ok").unwrap();
        }
        wb.save(&path).unwrap();
        let config = SheetSourceConfig {
            max_record_bytes: 1000,
            ..lenient()
        };
        let (_, rows, _) = read_with(&path, config, Some(vec![Want::Text]));
        assert!(matches!(
            rows[0].as_ref().unwrap_err().kind,
            SourceErrorKind::Limit(_)
        ));
        assert_eq!(rows[1].as_ref().unwrap().1[0], "ok");

        // A header past the limit.
        let config = SheetSourceConfig {
            max_record_bytes: 1,
            ..lenient()
        };
        assert!(matches!(
            open_err(&path, config).kind,
            SourceErrorKind::Limit(_)
        ));
    }

    fn bomb(dir: &Path) -> PathBuf {
        use std::io::Write;
        let path = dir.join("bomb.xlsx");
        let mut w = zip::ZipWriter::new(File::create(&path).unwrap());
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        w.start_file("xl/worksheets/sheet1.xml", opts).unwrap();
        let chunk = vec![b' '; 1 << 20];
        for _ in 0..64 {
            w.write_all(&chunk).unwrap();
        }
        w.finish().unwrap();
        path
    }

    #[test]
    fn a_zip_bomb_is_refused_before_calamine() {
        let dir = tempfile::tempdir().unwrap();
        let path = bomb(dir.path());
        let e = open_err(&path, SheetSourceConfig::default());
        assert!(
            matches!(&e.kind, SourceErrorKind::ArchiveLimit(m) if m.contains("ratio")),
            "{e}"
        );
    }

    #[test]
    fn garbage_and_other_formats_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.xlsx");
        std::fs::write(&junk, b"ID,Name\n1,Ann\n").unwrap();
        assert!(matches!(
            open_err(&junk, lenient()).kind,
            SourceErrorKind::Syntax(_)
        ));
        let junk = dir.path().join("junk.xlsm");
        std::fs::write(&junk, b"PK\x03\x04 not a zip at all").unwrap();
        assert!(matches!(
            open_err(&junk, lenient()).kind,
            SourceErrorKind::Syntax(_)
        ));
        // A zip that is no workbook.
        let zip_path = dir.path().join("other.xlsx");
        {
            use std::io::Write;
            let mut w = zip::ZipWriter::new(File::create(&zip_path).unwrap());
            w.start_file("hello.txt", zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(b"hello").unwrap();
            w.finish().unwrap();
        }
        let e = open_err(&zip_path, lenient());
        assert!(matches!(&e.kind, SourceErrorKind::Syntax(_)), "{e}");
        let cfb = dir.path().join("secret.xlsx");
        std::fs::write(&cfb, [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0]).unwrap();
        assert!(
            matches!(&open_err(&cfb, lenient()).kind, SourceErrorKind::Syntax(m) if m.contains("password"))
        );
        for ext in ["ods", "xls", "xlsb"] {
            let p = dir.path().join(format!("book.{ext}"));
            std::fs::write(&p, b"whatever").unwrap();
            assert!(
                matches!(&open_err(&p, lenient()).kind, SourceErrorKind::Unsupported(m) if m.contains("unsupported"))
            );
        }
        assert!(matches!(
            open_err(&dir.path().join("missing.xlsx"), lenient()).kind,
            SourceErrorKind::Io(_)
        ));
        assert!(matches!(
            open_err(dir.path(), lenient()).kind,
            SourceErrorKind::Io(_)
        ));
    }

    #[test]
    fn hash_and_size_cover_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = typed_workbook(dir.path());
        let bytes = std::fs::read(&path).unwrap();
        let (_, _, info) = read_all(&path);
        assert_eq!(info.sha256, Sha256::digest(&bytes));
        assert_eq!(info.bytes, bytes.len() as u64);
        // Finishing early still hashes the whole file.
        let src = Box::new(SheetSource::open(&path, lenient()).unwrap());
        let info = src.finish().unwrap();
        assert_eq!(info.sha256, Sha256::digest(&bytes));
        assert_eq!(info.records, 0);
    }

    #[test]
    fn many_rows_stream_through_batches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("many.xlsx");
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 0, "N").unwrap();
        ws.write_string(0, 1, "Text").unwrap();
        for r in 1..5000u32 {
            ws.write_number(r, 0, f64::from(r)).unwrap();
            ws.write_string(r, 1, format!("row {r}")).unwrap();
        }
        wb.save(&path).unwrap();
        let (_, rows, info) = read_all(&path);
        let good = ok_rows(&rows);
        assert_eq!(good.len(), 4999);
        for (i, (line, cells)) in good.iter().enumerate() {
            assert_eq!(*line, i as u64 + 2);
            assert_eq!(cells[0], (i + 1).to_string());
            assert_eq!(cells[1], format!("row {}", i + 1));
        }
        assert_eq!(info.records, 4999);
        // Dropped midway: the worker stops on its own.
        let mut src = SheetSource::open(&path, lenient()).unwrap();
        let mut row = TextRow::new();
        assert!(src.read_row(&mut row, &[Want::Text]).unwrap());
        assert!(src.bytes_read() > 0);
        drop(src);
    }

    fn read_bytes(dir: &Path, name: &str, data: &[u8]) {
        let path = dir.join(name);
        std::fs::write(&path, data).unwrap();
        let config = SheetSourceConfig {
            max_record_bytes: 4096,
            archive: ArchiveLimits {
                max_total_bytes: 1 << 20,
                max_ratio: 1000,
                max_entries: 64,
            },
            ..SheetSourceConfig::default()
        };
        let Ok(mut src) = SheetSource::open(&path, config) else {
            return;
        };
        let wanted: Vec<Want> = (0..src.columns().len())
            .map(|i| [Want::Text, Want::Presence, Want::Skip][i % 3])
            .collect();
        let mut row = TextRow::new();
        loop {
            match src.read_row(&mut row, &wanted) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) if e.recoverable => {}
                Err(_) => break,
            }
        }
        let info = Box::new(src).finish().unwrap();
        assert_eq!(info.sha256, Sha256::digest(data));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let dir = tempfile::tempdir().unwrap();
            read_bytes(dir.path(), "any.xlsx", &data);
            // As sheet XML zipped around the template (the fuzz target's other mode).
            crate::fuzzing::run(&data, &dir.path().join("xml.xlsx"));
        }

        #[test]
        fn damaged_workbooks_never_panic(flips in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 1..8)) {
            let dir = tempfile::tempdir().unwrap();
            let path = typed_workbook(dir.path());
            let mut data = std::fs::read(&path).unwrap();
            for (at, b) in flips {
                let i = at % data.len();
                data[i] = b;
            }
            read_bytes(dir.path(), "damaged.xlsx", &data);
        }
    }

    fn template(dir: &Path, sheet: &str, strings: &str) -> PathBuf {
        let path = dir.join("template.xlsx");
        let bytes = crate::fuzzing::build_workbook(
            sheet.as_bytes(),
            strings.as_bytes(),
            crate::fuzzing::STYLES.as_bytes(),
        )
        .unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn hand_written_xml_inline_strings_iso_dates_and_rich_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = template(
            dir.path(),
            crate::fuzzing::SHEET,
            crate::fuzzing::SHARED_STRINGS,
        );
        let (header, rows, _) = read_all(&path);
        assert_eq!(header, ["ID", "Name", "DOB", "Seen", "Wait", "Flag"]);
        assert_eq!(
            rows[0].as_ref().unwrap().1,
            [
                "9434765919",
                "Zoë",
                "2024-01-15",
                "2024-01-15 10:30:00",
                "37:30:00",
                "TRUE"
            ]
        );
        // Row 4: H4 is past the header.
        assert_eq!(
            rows[1].as_ref().unwrap_err().kind,
            SourceErrorKind::FieldCount {
                expected: 6,
                found: 8
            }
        );
        let (_, rows, _) = read_with(
            &path,
            lenient(),
            Some(vec![Want::Text, Want::Skip, Want::Text]),
        );
        assert_eq!(rows.len(), 2);
        let sheet = crate::fuzzing::SHEET.replace(r#"<c r="H4" t="str"><v>x</v></c>"#, "");
        let path = template(dir.path(), &sheet, crate::fuzzing::SHARED_STRINGS);
        let (_, rows, _) = read_with(
            &path,
            lenient(),
            Some(vec![Want::Text, Want::Skip, Want::Text]),
        );
        assert_eq!(
            rows[1].as_ref().unwrap().1,
            ["2.675", "", "2024-01-15 10:30:00", "", "", ""]
        );
    }

    // See: issue 9 (two `<row r="2">` merged, and the first one's cells were lost).
    #[test]
    fn a_repeated_row_number_keeps_both_rows_and_warns() {
        let dir = tempfile::tempdir().unwrap();
        let text =
            |r: &str, t: &str| format!(r#"<c r="{r}" t="inlineStr"><is><t>{t}</t></is></c>"#);
        let rows = [
            format!(
                r#"<row r="1">{}{}</row>"#,
                text("A1", "ID"),
                text("B1", "Name")
            ),
            format!(
                r#"<row r="2"><c r="A2"><v>1</v></c>{}</row>"#,
                text("B2", "first")
            ),
            format!(
                r#"<row r="2"><c r="A2"><v>2</v></c>{}</row>"#,
                text("B2", "second")
            ),
            r#"<row r="3"><c r="A3"><v>3</v></c></row>"#.to_string(),
            r#"<row r="2"><c r="A2"><v>4</v></c></row>"#.to_string(),
            r#"<row r="5"><c r="A5"><v>5</v></c></row>"#.to_string(),
        ];
        let sheet = format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{}</sheetData></worksheet>"#,
            rows.concat()
        );
        let path = template(dir.path(), &sheet, crate::fuzzing::SHARED_STRINGS);
        let mut src = Box::new(SheetSource::open(&path, lenient()).unwrap());
        let mut row = TextRow::new();
        let mut got = Vec::new();
        while src.read_row(&mut row, &[Want::Text; 2]).unwrap() {
            got.push((
                row.locator.as_ref().and_then(Locator::line).unwrap(),
                row.get(0).unwrap().to_string(),
                row.get(1).unwrap().to_string(),
                src.take_warning().map(|w| (w.kind, w.locator.line())),
            ));
        }
        let warn = |row, after| Some((SourceErrorKind::RowNumber { row, after }, Some(row)));
        assert_eq!(
            got,
            [
                (2, "1".into(), "first".into(), None),
                (2, "2".into(), "second".into(), warn(2, 2)),
                (3, "3".into(), "".into(), None),
                (2, "4".into(), "".into(), warn(2, 3)),
                (5, "5".into(), "".into(), None),
            ]
        );
        assert_eq!(
            warn(2, 2).unwrap().0.to_string(),
            "a second row numbered 2: the sheet repeats a row number; both rows are read"
        );
        assert_eq!(src.finish().unwrap().records, 5);
    }

    #[test]
    fn malformed_sheets_end_the_read_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        // A shared string index past the table: calamine panics; the reader says Syntax.
        let sheet = crate::fuzzing::SHEET.replace("<v>2</v>", "<v>99</v>");
        let path = template(dir.path(), &sheet, crate::fuzzing::SHARED_STRINGS);
        let mut src = SheetSource::open(&path, lenient()).unwrap();
        let mut row = TextRow::new();
        let e = src.read_row(&mut row, &[Want::Text]).unwrap_err();
        assert!(
            matches!(e.kind, SourceErrorKind::Syntax(_)) && !e.recoverable,
            "{e}"
        );
        assert_eq!(e.locator.line(), Some(2));
        assert!(!src.read_row(&mut row, &[Want::Text]).unwrap());
        // Truncated XML after two good rows: they are read, then the error.
        // (The row being read when the XML breaks is dropped: it may lack cells.)
        let sheet = crate::fuzzing::SHEET.replace("<v>#N/A</v></c>", "<v>#N/A</v>");
        let path = template(dir.path(), &sheet, crate::fuzzing::SHARED_STRINGS);
        let (_, rows, _) = read_all(&path);
        assert_eq!(rows.len(), 2);
        assert!(rows[0].is_ok(), "{rows:?}");
        let e = rows[1].as_ref().unwrap_err();
        assert!(
            matches!(e.kind, SourceErrorKind::Syntax(_)) && !e.recoverable,
            "{e}"
        );
        assert_eq!(e.locator.line(), Some(4));
        // A bad number.
        let sheet = crate::fuzzing::SHEET.replace("<v>9434765919</v>", "<v>12abc</v>");
        let path = template(dir.path(), &sheet, crate::fuzzing::SHARED_STRINGS);
        let (_, rows, _) = read_all(&path);
        assert_eq!(rows[0].as_ref().unwrap().1[0], "12abc");
    }

    #[test]
    fn fuzz_regressions_and_seeds_replay() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../fuzz");
        let dir = tempfile::tempdir().unwrap();
        let mut n = 0;
        for sub in ["regressions/sheet_reader", "seeds/sheet_reader"] {
            let Ok(rd) = std::fs::read_dir(root.join(sub)) else {
                continue;
            };
            for entry in rd.flatten() {
                let data = std::fs::read(entry.path()).unwrap();
                crate::fuzzing::run(&data, &dir.path().join("replay.xlsx"));
                n += 1;
            }
        }
        assert!(n >= 2, "no seeds found under {}", root.display());
        crate::fuzzing::run(crate::fuzzing::SHEET.as_bytes(), &dir.path().join("t.xlsx"));
    }
}
