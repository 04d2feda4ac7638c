//! Reads CSV exports as a stream of [`TextRow`]s, and writes CSV files.
//!
//! [`CsvSource`] (opened from a [`CsvSourceConfig`]) decodes UTF-8 (with or
//! without a BOM) or Windows-1252, or decides between them field by field
//! (`auto`: valid UTF-8 is UTF-8, anything else Windows-1252, with one
//! warning per file), gives every record a [`Locator`] with the physical
//! line where it starts (LF, CRLF and a lone CR each end one line), and
//! holds one record in memory at a time. The file's SHA-256 is computed in
//! the same pass on a second thread, which reads the file in blocks and
//! hands them over a bounded channel, so hashing overlaps parsing and memory
//! stays fixed whatever the file's size.
//!
//! Quoted fields with embedded newlines, blank rows, ragged rows and bytes
//! that are not valid in the declared encoding are reported as recoverable
//! errors on that record; the reader goes on with the next.

#![forbid(unsafe_code)]

mod config;
mod reader;
mod writer;

pub use config::{CsvOptions, Delimiter, DESCRIPTOR};
pub use reader::{windows_1252_lacks, CsvSource, CsvSourceConfig};
pub use writer::{CsvSink, CsvSinkConfig};

use std::path::PathBuf;

/// An error from writing CSV (reading reports [`casebridge_model::SourceError`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The output could not be created or written.
    #[error("{}: cannot write", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The output file could not be created, synced or renamed into place.
    #[error(transparent)]
    Output(#[from] casebridge_io::Error),
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
