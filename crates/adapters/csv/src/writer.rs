//! Writes CSV files atomically: rows go to an [`OutputFile`] (an exclusive,
//! owner-only temporary file in the target directory), renamed into place by
//! [`CsvSink::finish`]. Dropped without `finish`, the sink leaves no output.

use std::path::{Path, PathBuf};

use casebridge_io::OutputFile;
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
    writer: csv::Writer<OutputFile>,
    encoding: Encoding,
    rows: u64,
    /// A Windows-1252 row's fields, encoded one after another (reused).
    encoded: Vec<u8>,
    /// Where each encoded field ends in `encoded`.
    ends: Vec<usize>,
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
        let mut sink = CsvSink {
            path: path.to_path_buf(),
            writer,
            encoding: config.encoding,
            rows: 0,
            encoded: Vec::new(),
            ends: Vec::new(),
        };
        sink.write_row(header)?;
        sink.rows = 0;
        Ok(sink)
    }

    /// Writes one row.
    pub fn write_row<S: AsRef<str>>(&mut self, fields: &[S]) -> Result<()> {
        let CsvSink {
            path,
            writer,
            encoding,
            encoded,
            ends,
            ..
        } = self;
        match encoding {
            Encoding::Windows1252 => {
                // Into one buffer kept from row to row: no allocation per
                // field (ASCII, most fields, is copied as it is).
                encoded.clear();
                ends.clear();
                for f in fields {
                    encode_windows_1252_into(f.as_ref(), encoded);
                    ends.push(encoded.len());
                }
                let mut start = 0;
                writer.write_record(ends.iter().map(|&end| {
                    let field = &encoded[start..end];
                    start = end;
                    field
                }))
            }
            _ => writer.write_record(fields.iter().map(|f| f.as_ref().as_bytes())),
        }
        .map_err(|e| Error::Csv {
            path: path.clone(),
            source: e,
        })?;
        self.rows += 1;
        Ok(())
    }

    /// Encodes the rows written from now on in `encoding`: a source read
    /// with `auto` that turns out to be Windows-1252 is written back so.
    /// (The rows before were valid UTF-8 in the input, in practice ASCII,
    /// which both encodings spell alike.)
    pub fn set_encoding(&mut self, encoding: Encoding) {
        self.encoding = encoding;
    }

    /// Flushes, syncs and renames the file into place; returns the rows written.
    pub fn finish(self) -> Result<u64> {
        let file = self.writer.into_inner().map_err(|e| Error::Write {
            path: self.path.clone(),
            source: e.into_error(),
        })?;
        file.finish()?;
        Ok(self.rows)
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
    fn dropped_sink_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let mut sink = CsvSink::create(&path, &["A"], &CsvSinkConfig::default()).unwrap();
        sink.write_row(&["1"]).unwrap();
        drop(sink);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
