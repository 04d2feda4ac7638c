//! The error of writing an output file.

use std::io;
use std::path::{Path, PathBuf};

/// Why an output file could not be written. Every message names the target
/// (not the temporary file) and what failed; the operating system's reason
/// is the [`source`](std::error::Error::source), printed once by `{:#}`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The temporary file beside the target could not be created.
    #[error("{}: cannot create a temporary file", path.display())]
    Create {
        /// The target.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Writing (or flushing) the temporary file failed.
    #[error("{}: cannot write", path.display())]
    Write {
        /// The target.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file could not be made owner-only or synced to disk.
    #[error("{}: cannot sync", path.display())]
    Sync {
        /// The target.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The complete temporary file could not be renamed into place.
    #[error("{}: cannot rename into place", path.display())]
    Rename {
        /// The target.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// The target file.
    pub fn path(&self) -> &Path {
        match self {
            Error::Create { path, .. }
            | Error::Write { path, .. }
            | Error::Sync { path, .. }
            | Error::Rename { path, .. } => path,
        }
    }

    /// The operating system's error.
    pub fn io_error(&self) -> &io::Error {
        match self {
            Error::Create { source, .. }
            | Error::Write { source, .. }
            | Error::Sync { source, .. }
            | Error::Rename { source, .. } => source,
        }
    }
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
