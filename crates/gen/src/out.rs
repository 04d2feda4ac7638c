//! Table output, and the ground truth. A [`Table`] has two backends:
//!
//! - CSV as a council's extract writes it (Windows-1252 bytes, CRLF, quoting
//!   only when needed), counting the physical lines that the ground truth
//!   needs;
//! - XLSX (`--format xlsx`): a one-sheet workbook named after the file stem,
//!   header in row 1, the same text decoded to UTF-8 (line breaks inside a
//!   cell as LF, as Excel writes them, not CRLF); whole-number ids and
//!   `NUMBER_ANSWER` as numbers, valid dates as Excel date cells, anything
//!   else (faults included) as text; `line` is the Excel row number.
//!
//! The tables build [`Row`]s of Windows-1252 bytes either way, so the fault
//! logic does not know which backend it writes to.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format as XlsxFormat, Workbook, Worksheet};

/// Output format of the tables (the CIN census is XML either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Windows-1252 CSV, CRLF.
    #[default]
    Csv,
    /// One-sheet XLSX workbooks.
    Xlsx,
}

impl Format {
    /// Parses `csv` or `xlsx` (any case).
    pub fn parse(s: &str) -> Option<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "xlsx" => Some(Format::Xlsx),
            _ => None,
        }
    }
}

/// How an XLSX backend writes the cells of a column. CSV ignores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    /// Text.
    Text,
    /// A number when the text is all digits (no leading zero) below 2^53.
    Id,
    /// A number when the text is a plain decimal number.
    Number,
    /// `dd/mm/yyyy`: a date cell (format `dd/mm/yyyy`) when valid.
    Date,
    /// `dd/mm/yyyy HH:MM`: a date cell (format `dd/mm/yyyy hh:mm`) when valid.
    DateTime,
    /// `yyyy-mm-dd HH:MM:SS`: a date cell (format `yyyy-mm-dd hh:mm:ss`)
    /// when valid.
    SqlDateTime,
}

/// Excel's largest exactly representable integer plus one.
const TWO_53: u64 = 1 << 53;

/// One row of `ground_truth.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truth {
    /// File name, e.g. `CASE_NOTES.csv`.
    pub file: &'static str,
    /// 1-based physical line on which the record starts (header = line 1).
    pub line: u64,
    /// Rule id, e.g. `field.required`.
    pub rule: &'static str,
    /// Source column, empty for `csv.ragged-row` and duplicates.
    pub field: &'static str,
    /// Short description, never personal data.
    pub detail: String,
}

/// The header of `ground_truth.csv`.
pub const TRUTH_HEADER: [&str; 5] = ["file", "line", "rule", "field", "detail"];

/// Writes `ground_truth.csv` (UTF-8, ASCII in practice; LF line ends).
pub fn write_truth(path: &Path, rows: &[Truth]) -> Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = csv::Writer::from_writer(BufWriter::new(file));
    w.write_record(TRUTH_HEADER)?;
    let mut line = String::new();
    for t in rows {
        line.clear();
        line.push_str(&t.line.to_string());
        w.write_record([t.file, line.as_str(), t.rule, t.field, t.detail.as_str()])?;
    }
    w.flush()?;
    Ok(())
}

/// A row being built: one byte buffer per field, reused from row to row.
#[derive(Debug, Default)]
pub struct Row {
    /// The fields, in column order (one more or one less for a ragged row).
    pub f: Vec<Vec<u8>>,
}

impl Row {
    /// A row of `n` empty fields.
    pub fn new(n: usize) -> Row {
        Row {
            f: (0..n).map(|_| Vec::with_capacity(32)).collect(),
        }
    }

    /// Makes the row `n` empty fields again.
    pub fn reset(&mut self, n: usize) {
        self.f.resize_with(n, Vec::new);
        for f in &mut self.f {
            f.clear();
        }
    }

    /// Field `i`, cleared, ready to be written.
    pub fn set(&mut self, i: usize) -> &mut Vec<u8> {
        let f = &mut self.f[i];
        f.clear();
        f
    }

    /// Field `i` replaced by `s` (ASCII or Windows-1252 bytes).
    pub fn put(&mut self, i: usize, s: &[u8]) {
        let f = self.set(i);
        f.extend_from_slice(s);
    }
}

/// The XLSX backend's state: the sheet is built in memory and saved by
/// [`Table::finish`].
struct Sheet {
    path: std::path::PathBuf,
    sheet: Worksheet,
    kinds: Vec<CellKind>,
    /// Fixed creation date of the workbook, so output is deterministic.
    created: ExcelDateTime,
    date: XlsxFormat,
    datetime: XlsxFormat,
    sql_datetime: XlsxFormat,
    /// Next 0-based row.
    next_row: u32,
}

enum Backend {
    Csv(Box<csv::Writer<BufWriter<File>>>),
    Xlsx(Box<Sheet>),
}

/// One output table.
pub struct Table {
    /// The file name.
    pub name: &'static str,
    backend: Backend,
    next_line: u64,
    /// Data rows written.
    pub rows: u64,
    /// Bytes written so far (approximate until finished; for XLSX the text
    /// written, not the compressed size).
    pub bytes: u64,
}

impl Table {
    /// Creates `dir/name` as CSV and writes the header.
    pub fn create(dir: &Path, name: &'static str, header: &[&str]) -> Result<Table> {
        let path = dir.join(name);
        let file =
            File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        let wtr = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .quote_style(csv::QuoteStyle::Necessary)
            .flexible(true)
            .from_writer(BufWriter::with_capacity(1 << 20, file));
        Table::start(name, Backend::Csv(Box::new(wtr)), header)
    }

    /// Creates the workbook `dir/name` (written by [`Table::finish`]) with
    /// one sheet named after the file stem, and writes the header in row 1.
    /// `kinds` says how each column's cells are written; `created` is the
    /// workbook's creation date (fixed, so that output is deterministic).
    pub fn create_xlsx(
        dir: &Path,
        name: &'static str,
        header: &[&str],
        kinds: &[CellKind],
        created: NaiveDate,
    ) -> Result<Table> {
        let path = dir.join(name);
        // Fail early, as the CSV backend does, if the file cannot be created.
        File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
        let mut sheet = Worksheet::new();
        sheet
            .set_name(stem)
            .with_context(|| format!("bad sheet name {stem}"))?;
        let widths = kinds.iter().map(|k| match k {
            CellKind::Date => 11.0,
            CellKind::DateTime => 16.0,
            CellKind::SqlDateTime => 19.0,
            CellKind::Id | CellKind::Number => 12.0,
            CellKind::Text => 16.0,
        });
        for (c, w) in widths.enumerate() {
            sheet.set_column_width(c as u16, w)?;
        }
        let created = xl_datetime(created.and_hms_opt(0, 0, 0).unwrap_or_default())
            .unwrap_or_else(|| ExcelDateTime::from_ymd(2026, 1, 1).unwrap_or_default());
        let s = Sheet {
            path,
            sheet,
            kinds: kinds.to_vec(),
            created,
            date: XlsxFormat::new().set_num_format("dd/mm/yyyy"),
            datetime: XlsxFormat::new().set_num_format("dd/mm/yyyy hh:mm"),
            sql_datetime: XlsxFormat::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
            next_row: 0,
        };
        Table::start(name, Backend::Xlsx(Box::new(s)), header)
    }

    fn start(name: &'static str, backend: Backend, header: &[&str]) -> Result<Table> {
        let mut t = Table {
            name,
            backend,
            next_line: 1,
            rows: 0,
            bytes: 0,
        };
        let mut row = Row::new(header.len());
        for (i, h) in header.iter().enumerate() {
            row.put(i, h.as_bytes());
        }
        t.write_raw(&row, true)
            .with_context(|| format!("cannot write {name}"))?;
        t.rows = 0;
        Ok(t)
    }

    /// Whether this table is a workbook (ragged rows cannot exist there).
    pub fn is_xlsx(&self) -> bool {
        matches!(self.backend, Backend::Xlsx(_))
    }

    /// The line on which the next record will start: the physical CSV line,
    /// or the Excel row number (header = 1 either way).
    pub fn line(&self) -> u64 {
        self.next_line
    }

    fn write_raw(&mut self, row: &Row, header: bool) -> Result<()> {
        let mut newlines = 0u64;
        for f in &row.f {
            newlines += memchr::memchr_iter(b'\n', f).count() as u64;
            self.bytes += f.len() as u64 + 1;
        }
        self.bytes += 1;
        match &mut self.backend {
            Backend::Csv(wtr) => {
                wtr.write_record(row.f.iter())?;
                self.next_line += 1 + newlines;
            }
            Backend::Xlsx(s) => {
                s.write_row(row, header)?;
                self.next_line += 1;
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Writes a data row.
    pub fn write(&mut self, row: &Row) -> Result<()> {
        self.write_raw(row, false)
            .with_context(|| format!("cannot write {}", self.name))
    }

    /// Flushes the file (saves the workbook).
    pub fn finish(self) -> Result<()> {
        match self.backend {
            Backend::Csv(wtr) => {
                let mut wtr = *wtr;
                wtr.flush()
                    .with_context(|| format!("cannot write {}", self.name))?;
                let mut inner = wtr
                    .into_inner()
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {}", self.name, e.error()))?;
                inner.flush()?;
            }
            Backend::Xlsx(s) => {
                let s = *s;
                let mut wb = Workbook::new();
                wb.set_properties(&DocProperties::new().set_creation_datetime(&s.created));
                wb.push_worksheet(s.sheet);
                wb.save(&s.path)
                    .with_context(|| format!("cannot write {}", s.path.display()))?;
            }
        }
        Ok(())
    }
}

/// `dt` as an Excel date-time, if Excel can hold it exactly (1901 to 9999:
/// earlier dates meet Excel's 1900 leap-year bug, and spreadsheets keep
/// them as text anyway).
fn xl_datetime(dt: NaiveDateTime) -> Option<ExcelDateTime> {
    let y = u16::try_from(dt.year())
        .ok()
        .filter(|y| (1901..=9999).contains(y))?;
    let d = ExcelDateTime::from_ymd(y, dt.month() as u8, dt.day() as u8).ok()?;
    d.and_hms(dt.hour() as u16, dt.minute() as u8, dt.second())
        .ok()
}

/// `s` as a whole number Excel holds exactly, if it is one.
fn as_id(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 16 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if b.len() > 1 && b[0] == b'0' {
        return None;
    }
    let n: u64 = s.parse().ok()?;
    (n < TWO_53).then_some(n as f64)
}

/// `s` as a plain decimal number (`-12`, `3.5`), if it is one.
fn as_number(s: &str) -> Option<f64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let ok = !int.is_empty()
        && int.len() <= 15
        && frac.len() <= 6
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && (digits.len() == int.len() || !frac.is_empty());
    if !ok {
        return None;
    }
    s.parse().ok()
}

impl Sheet {
    fn write_row(&mut self, row: &Row, header: bool) -> Result<()> {
        let r = self.next_row;
        for (c, bytes) in row.f.iter().enumerate() {
            if bytes.is_empty() {
                continue;
            }
            let mut text = encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0;
            if text.contains('\r') {
                // Line breaks in a cell are LF, as Excel writes them (a CR
                // would be stored as `_x000D_`, which calamine leaves as is).
                text = text.replace("\r\n", "\n").replace('\r', "\n").into();
            }
            let col = u16::try_from(c).context("too many columns")?;
            let kind = if header {
                CellKind::Text
            } else {
                self.kinds.get(c).copied().unwrap_or(CellKind::Text)
            };
            let dt = match kind {
                CellKind::Date => NaiveDate::parse_from_str(&text, "%d/%m/%Y")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|d| (d, &self.date)),
                CellKind::DateTime => NaiveDateTime::parse_from_str(&text, "%d/%m/%Y %H:%M")
                    .ok()
                    .map(|d| (d, &self.datetime)),
                CellKind::SqlDateTime => NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S")
                    .ok()
                    .map(|d| (d, &self.sql_datetime)),
                _ => None,
            };
            if let Some((d, fmt)) = dt {
                // chrono accepts one-digit days and months; a date cell only
                // stands for text in the canonical shape.
                let canonical = match kind {
                    CellKind::Date => d.format("%d/%m/%Y").to_string(),
                    CellKind::DateTime => d.format("%d/%m/%Y %H:%M").to_string(),
                    _ => d.format("%Y-%m-%d %H:%M:%S").to_string(),
                };
                if canonical == text {
                    if let Some(x) = xl_datetime(d) {
                        self.sheet.write_datetime_with_format(r, col, &x, fmt)?;
                        continue;
                    }
                }
            }
            let n = match kind {
                CellKind::Id => as_id(&text),
                CellKind::Number => as_number(&text),
                _ => None,
            };
            match n {
                Some(n) => self.sheet.write_number(r, col, n)?,
                None => self.sheet.write_string(r, col, text.as_ref())?,
            };
        }
        self.next_row += 1;
        Ok(())
    }
}
