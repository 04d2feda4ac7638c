//! Spreadsheets for casebridge: a safety check and a streaming row reader.
//!
//! # The zip-bomb check
//!
//! An XLSX file is a zip archive, and a zip bomb (a few kilobytes that
//! inflate to gigabytes) would take a reader's memory and time with it.
//! [`check_xlsx`] inflates every entry of the archive into nothing,
//! counting, and refuses the file once the total or the compression ratio
//! passes its [`ArchiveLimits`], before any workbook reader sees it.
//!
//! Declared sizes in the zip directory are not trusted (they can lie): the
//! bytes are counted as they inflate, and inflation stops at the limit, so
//! the check itself runs in bounded time and memory.
//!
//! # Reading a sheet
//!
//! [`SheetSource`] reads one sheet of an XLSX or XLSM workbook as a
//! [`casebridge_model::RecordSource`]: the header row gives the columns,
//! each later row that is not blank is a record, located by
//! [`casebridge_model::Locator::SheetRow`] with the row number Excel shows.
//! It runs [`check_xlsx`] first, then calamine's cell reader on a worker
//! thread, so memory holds the workbook's shared strings and a few batches
//! of rows, not the sheet. `.xls`, `.xlsb` and `.ods` files are refused as
//! unsupported.
//!
//! Cells become text as follows; this is what mappings parse:
//!
//! | cell | text |
//! |---|---|
//! | text | as it is (a header cell is trimmed) |
//! | whole number | digits, no `.0`, no exponent: `12345`, `9434765919`, `-7` |
//! | other number | shortest text that reads back to the same value, no exponent: `0.1`, `2.675` |
//! | boolean | `TRUE` / `FALSE` |
//! | date (a date number format) | `yyyy-mm-dd` at midnight, else `yyyy-mm-dd HH:MM:SS` (to the second); marked typed ([`casebridge_model::TextRow::is_typed`]), so mappings read it as a date whatever their text formats |
//! | time of day (a time format, value below 1) | `HH:MM:SS` |
//! | duration (an `[h]:mm` format) | `H:MM:SS`, hours past 24 as they are, `-` when negative |
//! | date outside 1900-01-01 ... 9999-12-31 | the number, as for numbers |
//! | ISO date cell (`t="d"`) | as dates above when `yyyy-mm-ddTHH:MM[:SS[.f]]`, else as it is |
//! | error (`#N/A`, `#REF!`, `#DIV/0!`, ...) | none: the record is rejected with [`casebridge_model::SourceErrorKind::CellError`] (only in wanted columns) |
//! | empty | empty |
//!
//! A cell's text is read as its cached value: a formula gives the result
//! Excel last computed. Blank rows (no cell holding anything but spaces)
//! are skipped. A row number that repeats (or goes back) starts a record of
//! its own, with a [`casebridge_model::SourceErrorKind::RowNumber`] warning.
//! A row may have fewer cells than the header (the rest are
//! empty); a non-blank cell past the header's last column rejects the row
//! with [`casebridge_model::SourceErrorKind::FieldCount`]. Errors and
//! messages name the sheet, the row and the column, never what a cell holds.

#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};

mod config;
#[doc(hidden)]
pub mod fuzzing;
mod reader;
mod text;
mod writer;

pub use config::{SheetOptions, DESCRIPTOR};
pub use reader::{SheetSource, SheetSourceConfig, MAX_COLUMNS};
pub use writer::{SheetCell, SheetSink, MAX_CELL_CHARS, MAX_ROWS};

/// The name of the thread that reads a workbook's cells. A panic inside
/// calamine on a damaged workbook is caught there and reported as an error
/// on that file; a program may keep its panic hook quiet for this thread.
pub const WORKER_THREAD: &str = "casebridge-sheet";

/// Limits on what an archive may inflate to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Most bytes all entries together may inflate to.
    pub max_total_bytes: u64,
    /// Most bytes inflated per byte of archive (file size).
    pub max_ratio: u64,
    /// Most entries.
    pub max_entries: usize,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_total_bytes: 512 << 20,
            max_ratio: 200,
            max_entries: 10_000,
        }
    }
}

/// Why a spreadsheet was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read.
    #[error("{}: cannot read", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Not a zip archive (so not an XLSX workbook).
    #[error("{}: not an xlsx workbook (not a zip archive)", path.display())]
    NotXlsx {
        /// The file.
        path: PathBuf,
    },
    /// A limit was passed.
    #[error("{}: refused: {what} (limit {limit})", path.display())]
    Limit {
        /// The file.
        path: PathBuf,
        /// Which limit.
        what: &'static str,
        /// Its value.
        limit: u64,
    },
    /// A workbook could not be written.
    #[error("{}: cannot write: {message}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why (no cell contents).
        message: String,
    },
    /// The output file could not be created, synced or renamed into place.
    #[error(transparent)]
    Output(#[from] casebridge_io::Error),
}

/// Inflates every entry of the XLSX at `path`, counting, and refuses it if it
/// passes `limits`. Returns the bytes it inflates to.
pub fn check_xlsx(path: &Path, limits: &ArchiveLimits) -> Result<u64, Error> {
    let read_err = |e: io::Error| Error::Read {
        path: path.to_path_buf(),
        source: e,
    };
    let file = File::open(path).map_err(read_err)?;
    let size = file.metadata().map_err(read_err)?.len();
    check_archive(file, size, path, limits)
}

/// [`check_xlsx`] on any seekable reader of `size` bytes; `path` names it in errors.
pub fn check_archive<R: Read + Seek>(
    reader: R,
    size: u64,
    path: &Path,
    limits: &ArchiveLimits,
) -> Result<u64, Error> {
    let read_err = |e: io::Error| Error::Read {
        path: path.to_path_buf(),
        source: e,
    };
    let not_xlsx = || Error::NotXlsx {
        path: path.to_path_buf(),
    };
    let mut zip = zip::ZipArchive::new(reader).map_err(|_| not_xlsx())?;
    let limit = |what, limit| Error::Limit {
        path: path.to_path_buf(),
        what,
        limit,
    };
    if zip.len() > limits.max_entries {
        return Err(limit("too many entries", limits.max_entries as u64));
    }
    let cap = limits
        .max_total_bytes
        .min(size.max(1).saturating_mul(limits.max_ratio));
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|_| not_xlsx())?;
        loop {
            let n = match entry.read(&mut buf) {
                Ok(n) => n,
                // A corrupt deflate stream is not a workbook either.
                Err(e) if e.kind() == io::ErrorKind::InvalidData => return Err(not_xlsx()),
                Err(e) => return Err(read_err(e)),
            };
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > cap {
                return Err(if total > limits.max_total_bytes {
                    limit("inflates past the size limit", limits.max_total_bytes)
                } else {
                    limit("compression ratio past the limit", limits.max_ratio)
                });
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_with(dir: &Path, name: &str, entries: &[(&str, u64)]) -> PathBuf {
        let path = dir.join(name);
        let mut w = zip::ZipWriter::new(File::create(&path).unwrap());
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let chunk = vec![0u8; 1 << 20];
        for (entry, bytes) in entries {
            w.start_file(*entry, opts).unwrap();
            let mut left = *bytes;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                w.write_all(&chunk[..n]).unwrap();
                left -= n as u64;
            }
        }
        w.finish().unwrap();
        path
    }

    #[test]
    fn a_zip_bomb_is_refused_and_a_plain_workbook_passes() {
        let dir = tempfile::tempdir().unwrap();
        let bomb = zip_with(
            dir.path(),
            "bomb.xlsx",
            &[("xl/worksheets/sheet1.xml", 64 << 20)],
        );
        assert!(std::fs::metadata(&bomb).unwrap().len() < 1 << 20);
        let err = check_xlsx(&bomb, &ArchiveLimits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Limit {
                    what: "compression ratio past the limit",
                    ..
                }
            ),
            "{err}"
        );
        let small = ArchiveLimits {
            max_total_bytes: 1 << 20,
            max_ratio: u64::MAX,
            max_entries: 10,
        };
        let err = check_xlsx(&bomb, &small).unwrap_err();
        assert!(matches!(
            err,
            Error::Limit {
                what: "inflates past the size limit",
                ..
            }
        ));

        let plain = zip_with(
            dir.path(),
            "plain.xlsx",
            &[("a.xml", 1000), ("b.xml", 2000)],
        );
        let lenient = ArchiveLimits {
            max_ratio: 10_000,
            ..ArchiveLimits::default()
        };
        assert_eq!(check_xlsx(&plain, &lenient).unwrap(), 3000);
    }

    #[test]
    fn garbage_is_not_a_workbook() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.xlsx");
        std::fs::write(&junk, b"PK\x03\x04 definitely not a zip").unwrap();
        assert!(matches!(
            check_xlsx(&junk, &ArchiveLimits::default()),
            Err(Error::NotXlsx { .. })
        ));
        assert!(matches!(
            check_xlsx(&dir.path().join("missing.xlsx"), &ArchiveLimits::default()),
            Err(Error::Read { .. })
        ));
    }
}
