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
    /// The output folder holds files and `--replace` was not given.
    #[error("{}: the output folder is not empty; give --replace to replace its contents as a whole", path.display())]
    NotEmpty {
        /// The folder.
        path: PathBuf,
    },
    /// Another run is writing the same output folder.
    #[error("{}: another run (pid {pid}, since {}) is writing this output folder", path.display(), utc(*since))]
    Locked {
        /// The folder.
        path: PathBuf,
        /// The process holding the lock.
        pid: u32,
        /// When it took it (seconds since the Unix epoch).
        since: u64,
    },
}

impl Error {
    /// The target file.
    pub fn path(&self) -> &Path {
        match self {
            Error::Create { path, .. }
            | Error::Write { path, .. }
            | Error::Sync { path, .. }
            | Error::Rename { path, .. }
            | Error::NotEmpty { path }
            | Error::Locked { path, .. } => path,
        }
    }

    /// The operating system's error.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Error::Create { source, .. }
            | Error::Write { source, .. }
            | Error::Sync { source, .. }
            | Error::Rename { source, .. } => Some(source),
            Error::NotEmpty { .. } | Error::Locked { .. } => None,
        }
    }
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Seconds since the Unix epoch as a UTC time a person reads.
fn utc(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(
            || secs.to_string(),
            |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locked_folder_says_since_when_as_a_time_not_a_count_of_seconds() {
        let e = Error::Locked {
            path: PathBuf::from("out"),
            pid: 42,
            since: 1_796_234_340,
        };
        assert_eq!(
            e.to_string(),
            "out: another run (pid 42, since 2026-12-02 17:59:00 UTC) is writing this output folder"
        );
    }
}
