//! Shared I/O for casebridge's adapters: the one way a file is written, and
//! the one way an input is read and hashed.
//!
//! [`OutputFile`] writes every output file (reports, pairs, review
//! workbooks, pseudonymised extracts): an exclusive temporary file beside
//! the target, owner-only (0600), synced and renamed into place by
//! [`OutputFile::finish`]. Dropped without `finish`, or when the process gets
//! SIGINT or SIGTERM, the temporary file is removed; temporary files left by
//! an earlier run that was killed outright (SIGKILL, power loss) are removed
//! by the next run that writes the same target.
//!
//! [`HashingReader`] reads a byte stream in blocks on its own thread and
//! hashes every byte (SHA-256), so hashing overlaps parsing; the CSV, XML and
//! spreadsheet readers use it.
//!
//! # Example
//!
//! ```
//! use std::io::Write;
//! use casebridge_io::OutputFile;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("report.json");
//! let mut out = OutputFile::create(&path)?;
//! out.write_all(b"{}\n")?;
//! out.finish()?;
//! assert_eq!(std::fs::read(&path)?, b"{}\n");
//! # Ok(())
//! # }
//! ```
//!
//! # Temporary names
//!
//! A temporary file for `dir/NAME` is `dir/.NAME.casebridge-tmp.PID.RANDOM`
//! (`RANDOM`: 16 lowercase hex digits). It is created with `O_CREAT|O_EXCL`
//! and `O_NOFOLLOW`, so neither a symlink nor a file planted at that name can
//! redirect the output or widen its mode; a taken name is retried with
//! another suffix. Only names of exactly this shape whose `PID` is no live
//! process are ever removed as stale.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod hashing;
mod outdir;
mod output;
mod signals;
mod worker;

pub use error::{Error, Result};
pub use hashing::{HashingReader, DEFAULT_BLOCK};
pub use outdir::OutputDir;
pub use output::{OutputFile, TEMP_MARKER};
pub use worker::Worker;
