//! CSV output as a council's extract writes it (Windows-1252 bytes, CRLF,
//! quoting only when needed), with the physical line count that the ground
//! truth needs, and the ground truth itself.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

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

/// One output table.
pub struct Table {
    /// The file name.
    pub name: &'static str,
    wtr: csv::Writer<BufWriter<File>>,
    next_line: u64,
    /// Data rows written.
    pub rows: u64,
    /// Bytes written so far (approximate until finished).
    pub bytes: u64,
}

impl Table {
    /// Creates `dir/name` and writes the header.
    pub fn create(dir: &Path, name: &'static str, header: &[&str]) -> Result<Table> {
        let path = dir.join(name);
        let file =
            File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        let wtr = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .quote_style(csv::QuoteStyle::Necessary)
            .flexible(true)
            .from_writer(BufWriter::with_capacity(1 << 20, file));
        let mut t = Table {
            name,
            wtr,
            next_line: 1,
            rows: 0,
            bytes: 0,
        };
        let mut row = Row::new(header.len());
        for (i, h) in header.iter().enumerate() {
            row.put(i, h.as_bytes());
        }
        t.write_raw(&row)?;
        t.rows = 0;
        Ok(t)
    }

    /// The physical line on which the next record will start.
    pub fn line(&self) -> u64 {
        self.next_line
    }

    fn write_raw(&mut self, row: &Row) -> io::Result<()> {
        let mut newlines = 0u64;
        for f in &row.f {
            newlines += memchr::memchr_iter(b'\n', f).count() as u64;
            self.bytes += f.len() as u64 + 1;
        }
        self.bytes += 1;
        self.wtr.write_record(row.f.iter())?;
        self.next_line += 1 + newlines;
        self.rows += 1;
        Ok(())
    }

    /// Writes a data row.
    pub fn write(&mut self, row: &Row) -> Result<()> {
        self.write_raw(row)
            .with_context(|| format!("cannot write {}", self.name))
    }

    /// Flushes the file.
    pub fn finish(mut self) -> Result<()> {
        self.wtr
            .flush()
            .with_context(|| format!("cannot write {}", self.name))?;
        let inner = self
            .wtr
            .into_inner()
            .map_err(|e| anyhow::anyhow!("cannot write {}: {}", self.name, e.error()))?;
        let mut inner = inner;
        inner.flush()?;
        Ok(())
    }
}
