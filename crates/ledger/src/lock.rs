//! One run at a time on a ledger: an OS file lock on `<ledger>.lock`,
//! released by the kernel when the holder ends, however it ends (a run
//! killed with SIGKILL leaves no stale lock). The file names the holder,
//! so that a second run can say who holds the ledger and since when.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::Error;

/// Who holds a ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder(pub String);

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.trim().is_empty() {
            f.write_str("holder unknown")
        } else {
            f.write_str(self.0.trim())
        }
    }
}

/// A held ledger lock; released when dropped.
#[derive(Debug)]
pub struct Lock {
    file: File,
    path: PathBuf,
}

/// The lock file of a ledger.
pub fn lock_path(ledger: &Path) -> PathBuf {
    let mut name = ledger.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    ledger.with_file_name(name)
}

impl Lock {
    /// Takes the lock of `ledger`, or says who holds it. `what` describes
    /// this run for the next one to read (`pid 42 since ...`).
    pub fn acquire(ledger: &Path, what: &str) -> Result<Lock, Error> {
        let path = lock_path(ledger);
        let err = |source| Error::Lock {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(Error::Locked {
                    path: ledger.to_path_buf(),
                    holder: Holder(text),
                });
            }
            Err(TryLockError::Error(e)) => return Err(err(e)),
        }
        file.set_len(0).map_err(err)?;
        file.seek(SeekFrom::Start(0)).map_err(err)?;
        file.write_all(what.as_bytes()).map_err(err)?;
        file.sync_all().map_err(err)?;
        Ok(Lock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}
