//! Writes CSV files atomically: rows go to an [`OutputFile`] (an exclusive,
//! owner-only temporary file in the target directory), renamed into place by
//! [`CsvSink::finish`]. Dropped without `finish`, the sink leaves no output.
//!
//! The rows' text is copied into blocks handed to a [`Worker`] thread,
//! which quotes, encodes and writes them: the CSV work of an export
//! overlaps the reading and mapping of its records.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use casebridge_io::{OutputFile, Worker};
use casebridge_model::Encoding;

use crate::{Error, Result};

/// How to write a CSV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvSinkConfig {
    /// `Utf8` (no BOM) or `Windows1252` (characters it lacks become `?`).
    pub encoding: Encoding,
    /// Field delimiter.
    pub delimiter: u8,
    /// CRLF line endings, as Windows tools expect.
    pub crlf: bool,
}

impl Default for CsvSinkConfig {
    fn default() -> Self {
        CsvSinkConfig {
            encoding: Encoding::Utf8,
            delimiter: b',',
            crlf: true,
        }
    }
}

/// A CSV file being written.
pub struct CsvSink {
    path: PathBuf,
    worker: Worker<Rows, csv::Writer<OutputFile>>,
    encoding: Encoding,
    rows: u64,
    /// The rows being gathered on this thread.
    block: Rows,
    /// Blocks the writer is done with, for reuse.
    spent: Receiver<Rows>,
}

/// Rows handed to the writer at a time: their fields' UTF-8 text, one
/// after another.
#[derive(Default)]
struct Rows {
    text: String,
    /// Where each field ends in `text`.
    ends: Vec<usize>,
    /// Where each row ends in `ends`.
    rows: Vec<usize>,
    /// How the rows are encoded (one encoding a block).
    encoding: Encoding,
}

/// A block is handed over once its text is this long.
const BLOCK_BYTES: usize = 1 << 20;
/// Blocks handed over and not written yet, at most.
const BLOCKS: usize = 4;

/// What the writer thread keeps from block to block.
struct Writing {
    writer: csv::Writer<OutputFile>,
    /// A Windows-1252 row's fields, encoded one after another (reused).
    encoded: Vec<u8>,
    /// Where each encoded field ends in `encoded`.
    ends: Vec<usize>,
    give_back: SyncSender<Rows>,
}

impl Writing {
    fn write(&mut self, mut block: Rows) -> io::Result<()> {
        let (mut field, mut at) = (0, 0);
        for &row_end in &block.rows {
            let fields = &block.ends[field..row_end];
            field = row_end;
            match block.encoding {
                Encoding::Windows1252 => {
                    // Into one buffer kept from row to row: no allocation
                    // per field (ASCII, most fields, is copied as it is).
                    self.encoded.clear();
                    self.ends.clear();
                    for &end in fields {
                        let text = block.text.get(at..end).unwrap_or_default();
                        encode_windows_1252_into(text, &mut self.encoded);
                        self.ends.push(self.encoded.len());
                        at = end;
                    }
                    let mut start = 0;
                    let encoded = &self.encoded;
                    self.writer.write_record(self.ends.iter().map(|&end| {
                        let f = &encoded[start..end];
                        start = end;
                        f
                    }))?;
                }
                _ => {
                    let text = block.text.as_bytes();
                    self.writer.write_record(fields.iter().map(|&end| {
                        let f = text.get(at..end).unwrap_or_default();
                        at = end;
                        f
                    }))?;
                }
            }
        }
        block.text.clear();
        block.ends.clear();
        block.rows.clear();
        let _ = self.give_back.try_send(block);
        Ok(())
    }
}

impl CsvSink {
    /// Starts writing `path` with a header row.
    pub fn create(path: &Path, header: &[&str], config: &CsvSinkConfig) -> Result<CsvSink> {
        let file = OutputFile::create(path)?;
        let writer = csv::WriterBuilder::new()
            .delimiter(config.delimiter)
            .terminator(if config.crlf {
                csv::Terminator::CRLF
            } else {
                csv::Terminator::Any(b'\n')
            })
            .buffer_capacity(64 * 1024)
            .from_writer(file);
        let (give_back, spent) = sync_channel(BLOCKS + 1);
        let writing = Writing {
            writer,
            encoded: Vec::new(),
            ends: Vec::new(),
            give_back,
        };
        let worker = Worker::spawn("csv-writer", BLOCKS, writing, Writing::write, |w| {
            Ok(w.writer)
        })
        .map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?;
        let mut sink = CsvSink {
            path: path.to_path_buf(),
            worker,
            encoding: config.encoding,
            rows: 0,
            block: Rows::default(),
            spent,
        };
        sink.write_row(header)?;
        sink.rows = 0;
        Ok(sink)
    }

    fn err(&self, source: io::Error) -> Error {
        Error::Write {
            path: self.path.clone(),
            source,
        }
    }

    /// Writes one row.
    pub fn write_row<S: AsRef<str>>(&mut self, fields: &[S]) -> Result<()> {
        let block = &mut self.block;
        for f in fields {
            block.text.push_str(f.as_ref());
            block.ends.push(block.text.len());
        }
        block.rows.push(block.ends.len());
        self.rows += 1;
        if block.text.len() >= BLOCK_BYTES {
            self.hand_over()?;
        }
        Ok(())
    }

    /// Hands the rows gathered to the writer, taking a spent block.
    fn hand_over(&mut self) -> Result<()> {
        if self.block.rows.is_empty() {
            return Ok(());
        }
        let next = self.spent.try_recv().unwrap_or_default();
        let mut full = std::mem::replace(&mut self.block, next);
        full.encoding = self.encoding;
        self.worker.send(full).map_err(|e| self.err(e))
    }

    /// The encoding rows are written in now (a text it cannot spell is the
    /// caller's to refuse: see [`crate::windows_1252_lacks`]).
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Encodes the rows written from now on in `encoding`: a source read
    /// with `auto` that turns out to be Windows-1252 is written back so.
    /// (The rows before were valid UTF-8 in the input, in practice ASCII,
    /// which both encodings spell alike.)
    pub fn set_encoding(&mut self, encoding: Encoding) -> Result<()> {
        if encoding != self.encoding {
            self.hand_over()?;
            self.encoding = encoding;
        }
        Ok(())
    }

    /// Flushes, syncs and renames the file into place; returns the rows written.
    pub fn finish(mut self) -> Result<u64> {
        self.hand_over()?;
        let CsvSink {
            path, worker, rows, ..
        } = self;
        let err = |source| Error::Write {
            path: path.clone(),
            source,
        };
        let writer = worker.finish().map_err(err)?;
        let file = writer.into_inner().map_err(|e| err(e.into_error()))?;
        file.finish()?;
        Ok(rows)
    }
}

/// Appends `s` encoded in Windows-1252 to `out`, byte for byte what
/// `encoding_rs::WINDOWS_1252.encode(s)` gives (a character the encoding
/// lacks becomes an HTML numeric character reference, `&#8364;`).
fn encode_windows_1252_into(s: &str, out: &mut Vec<u8>) {
    if s.is_ascii() {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    let mut encoder = encoding_rs::WINDOWS_1252.new_encoder();
    let mut rest = s;
    loop {
        // Room for the rest if every character maps, plus one numeric
        // character reference (at most 10 bytes): each turn makes progress.
        let need = encoder
            .max_buffer_length_from_utf8_if_no_unmappables(rest.len())
            .unwrap_or(rest.len())
            .saturating_add(10);
        out.reserve(need);
        let (result, read, _) = encoder.encode_from_utf8_to_vec(rest, out, true);
        rest = rest.get(read..).unwrap_or("");
        if result == encoding_rs::CoderResult::InputEmpty {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CsvSource, CsvSourceConfig};
    use casebridge_model::{RecordSource, TextRow, Want};

    #[test]
    fn windows_1252_is_encoded_as_encoding_rs_encodes_it() {
        for s in [
            "",
            "plain",
            "Zoë",
            "O’Neill – “quoted”",
            "€ and 😀 and ✓",
            "ends é",
        ] {
            let mut out = b"x".to_vec();
            encode_windows_1252_into(s, &mut out);
            assert_eq!(&out[1..], &*encoding_rs::WINDOWS_1252.encode(s).0, "{s}");
        }
    }

    #[test]
    fn written_file_reads_back_with_newlines_and_windows_1252() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let cfg = CsvSinkConfig {
            encoding: Encoding::Windows1252,
            ..CsvSinkConfig::default()
        };
        let mut sink = CsvSink::create(&path, &["ID", "NOTE"], &cfg).unwrap();
        sink.write_row(&["1", "Zoë said \"no\"\r\nthen left"])
            .unwrap();
        sink.write_row(&["2", "O’Neill"]).unwrap();
        assert_eq!(sink.finish().unwrap(), 2);
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.contains(&0x92) && bytes.contains(&0xEB));

        let mut src = CsvSource::open(&path, CsvSourceConfig::default()).unwrap();
        let mut row = TextRow::new();
        let mut notes = vec![];
        while src.read_row(&mut row, &[Want::Text; 2]).unwrap() {
            notes.push(row.get(1).unwrap().to_string());
        }
        assert_eq!(notes, ["Zoë said \"no\"\r\nthen left", "O’Neill"]);
    }

    #[test]
    fn rows_over_many_blocks_keep_their_order_and_each_its_encoding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let mut sink = CsvSink::create(&path, &["N", "TEXT"], &CsvSinkConfig::default()).unwrap();
        let text = |i: usize| format!("{i} Zoë, \"{}\"", "x".repeat(i % 700));
        let mut want = b"N,TEXT\r\n".to_vec();
        for i in 0..6000 {
            if i == 3000 {
                sink.set_encoding(Encoding::Windows1252).unwrap();
            }
            let t = text(i);
            sink.write_row(&[i.to_string(), t.clone()]).unwrap();
            let quoted = format!("{i},\"{}\"\r\n", t.replace('"', "\"\""));
            if i < 3000 {
                want.extend_from_slice(quoted.as_bytes());
            } else {
                want.extend_from_slice(&encoding_rs::WINDOWS_1252.encode(&quoted).0);
            }
        }
        assert!(want.len() > 2 * BLOCK_BYTES, "several blocks");
        assert_eq!(sink.finish().unwrap(), 6000);
        assert!(std::fs::read(&path).unwrap() == want);
    }

    #[test]
    fn dropped_sink_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let mut sink = CsvSink::create(&path, &["A"], &CsvSinkConfig::default()).unwrap();
        for i in 0..20_000 {
            sink.write_row(&[format!("{i:0>100}")]).unwrap();
        }
        drop(sink);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
