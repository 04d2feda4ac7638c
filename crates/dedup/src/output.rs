//! Output files written owner-only and atomically: a temporary file beside
//! the target, renamed into place by [`AtomicFile::finish`]. Dropped
//! without `finish`, it leaves nothing behind.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::Error;

/// A file being written.
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates the temporary file (mode 0600 on Unix).
    pub fn create(path: &Path) -> Result<AtomicFile, Error> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let f = opts.open(&tmp).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp,
            out: Some(BufWriter::with_capacity(1 << 16, f)),
        })
    }

    /// The writer.
    pub fn writer(&mut self) -> &mut dyn Write {
        match &mut self.out {
            Some(w) => w,
            None => unreachable_writer(),
        }
    }

    /// Flushes, syncs and renames the file into place.
    pub fn finish(mut self) -> Result<(), Error> {
        let err = |source| Error::Write {
            path: self.path.clone(),
            source,
        };
        let Some(w) = self.out.take() else {
            return Ok(());
        };
        let f = w.into_inner().map_err(|e| err(e.into_error()))?;
        f.sync_all().map_err(err)?;
        std::fs::rename(&self.tmp, &self.path).map_err(err)?;
        Ok(())
    }

    /// Writes `bytes` as the whole file.
    pub fn write_all(path: &Path, bytes: &[u8]) -> Result<(), Error> {
        let mut f = AtomicFile::create(path)?;
        f.writer().write_all(bytes).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?;
        f.finish()
    }
}

fn unreachable_writer() -> &'static mut dyn Write {
    // `out` is only taken by `finish`, which consumes the file.
    Box::leak(Box::new(std::io::sink()))
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
