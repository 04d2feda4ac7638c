//! [`OutputFile`]: the one way casebridge writes a file.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::signals;
use crate::{Error, Result};

/// What every temporary file name holds: `.NAME` + this + `PID.RANDOM`.
pub const TEMP_MARKER: &str = ".casebridge-tmp.";

/// Buffer between the writer and the file.
const BUFFER: usize = 128 * 1024;
/// Names tried before giving up (each taken one is someone else's file).
const ATTEMPTS: usize = 64;
/// Digits of the random suffix.
const SUFFIX_DIGITS: usize = 16;
/// The longest target name kept whole in a temporary name (names are at
/// most 255 bytes; the marker, a pid and the suffix take about 45).
const MAX_NAME_IN_TEMP: usize = 200;
/// Where `/proc` cannot tell whether a pid lives, a temporary file older
/// than this is taken as stale.
const STALE_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// A file being written: an exclusive temporary file beside the target.
///
/// Write through [`Write`] (buffered; [`Seek`] too, for writers such as
/// `rust_xlsxwriter` that seek), then [`finish`](OutputFile::finish). The
/// target is untouched until `finish` renames the complete, synced file
/// over it. Dropped without `finish`, or on SIGINT/SIGTERM, the temporary
/// file is removed.
#[derive(Debug)]
pub struct OutputFile {
    path: PathBuf,
    tmp: PathBuf,
    /// The path in the signal registry (absolute).
    registered: PathBuf,
    out: Option<BufWriter<File>>,
}

impl OutputFile {
    /// Creates the temporary file for `path` (mode 0600, exclusively, never
    /// through a symlink), first removing stale temporary files that killed
    /// runs left for the same target.
    pub fn create(path: &Path) -> Result<OutputFile> {
        OutputFile::create_with(path, || fastrand::u64(..))
    }

    /// [`create`](OutputFile::create), the random suffixes from `suffix`.
    fn create_with(path: &Path, mut suffix: impl FnMut() -> u64) -> Result<OutputFile> {
        let create_err = |source| Error::Create {
            path: path.to_path_buf(),
            source,
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                create_err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the path names no file",
                ))
            })?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let prefix = temp_prefix(&name);
        signals::install();
        remove_stale(dir, &prefix);

        let pid = std::process::id();
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let tmp = dir.join(format!(
                "{prefix}{pid}.{:0width$x}",
                suffix(),
                width = SUFFIX_DIGITS
            ));
            let registered = std::path::absolute(&tmp).unwrap_or_else(|_| tmp.clone());
            // Created and listed under the lock: a signal between the two
            // would leave a file nobody removes.
            let mut live = signals::live();
            match open_exclusive(&tmp) {
                Ok(file) => {
                    live.insert(registered.clone());
                    drop(live);
                    return Ok(OutputFile {
                        path: path.to_path_buf(),
                        tmp,
                        registered,
                        out: Some(BufWriter::with_capacity(BUFFER, file)),
                    });
                }
                Err(e) if is_taken(&e) => last = Some(e),
                Err(e) => return Err(create_err(e)),
            }
        }
        Err(create_err(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name")
        })))
    }

    /// Writes `bytes` as the whole of `path`.
    pub fn write_all(path: &Path, bytes: &[u8]) -> Result<()> {
        let mut out = OutputFile::create(path)?;
        Write::write_all(&mut out, bytes).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?;
        out.finish()
    }

    /// The target.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temporary file (created by [`create`](OutputFile::create), removed
    /// or renamed by the end).
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// The underlying file, after flushing what is buffered.
    pub fn get_ref(&mut self) -> io::Result<&File> {
        let out = self.writer()?;
        out.flush()?;
        Ok(out.get_ref())
    }

    /// Flushes, makes the file owner-only, syncs it, renames it into place,
    /// then syncs the directory (best effort). On error the temporary file
    /// is removed and the target is untouched.
    pub fn finish(mut self) -> Result<()> {
        let path = self.path.clone();
        let Some(out) = self.out.take() else {
            return Ok(());
        };
        let file = out.into_inner().map_err(|e| Error::Write {
            path: path.clone(),
            source: e.into_error(),
        })?;
        let sync_err = |source| Error::Sync {
            path: path.clone(),
            source,
        };
        set_private(&file).map_err(sync_err)?;
        file.sync_all().map_err(sync_err)?;
        drop(file);
        {
            let mut live = signals::live();
            std::fs::rename(&self.tmp, &self.path).map_err(|source| Error::Rename {
                path: path.clone(),
                source,
            })?;
            live.remove(&self.registered);
        }
        sync_dir(&self.path);
        Ok(())
    }

    fn writer(&mut self) -> io::Result<&mut BufWriter<File>> {
        self.out
            .as_mut()
            .ok_or_else(|| io::Error::other("the output file is finished"))
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer()?.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer()?.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer()?.flush()
    }
}

impl Seek for OutputFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.writer()?.seek(pos)
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        // Not renamed: remove it. (`finish` failed or was never called.)
        let mut live = signals::live();
        if live.remove(&self.registered) {
            self.out = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// `.NAME.casebridge-tmp.`, the name cut (at a character) if very long.
pub(crate) fn temp_prefix(name: &str) -> String {
    let mut end = name.len().min(MAX_NAME_IN_TEMP);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!(".{}{TEMP_MARKER}", &name[..end])
}

pub(crate) fn open_exclusive(tmp: &Path) -> io::Result<File> {
    open_private(tmp, true)
}

/// Opens `path` readable and writable, owner-only and never through a
/// symlink: created new (`exclusive`: failing if it is there) or opened
/// as it is, created if missing (an output folder's lock file).
pub(crate) fn open_private(path: &Path, exclusive: bool) -> io::Result<File> {
    let mut opts = std::fs::OpenOptions::new();
    // Readable too: a JSON Lines sink reads back the windows of bytes it
    // patches in place, a lock's second run reads who holds it.
    opts.read(true).write(true);
    if exclusive {
        opts.create_new(true);
    } else {
        opts.create(true).truncate(false);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    opts.open(path)
}

/// The name is someone else's: a file, or a symlink (`O_NOFOLLOW` reports
/// `ELOOP` where `O_EXCL` has not already said `EEXIST`).
fn is_taken(e: &io::Error) -> bool {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::ELOOP) {
        return true;
    }
    e.kind() == io::ErrorKind::AlreadyExists
}

#[cfg(unix)]
fn set_private(file: &File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // On the open file, not by path: nothing to follow.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn set_private(_file: &File) -> io::Result<()> {
    Ok(())
}

/// Makes the rename durable; not every platform or file system allows it.
pub(crate) fn sync_dir(path: &Path) {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// The pid in a temporary name `{prefix}PID.RANDOM`, if `name` is exactly
/// of that shape.
pub(crate) fn temp_pid(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?;
    let (pid, suffix) = rest.split_once('.')?;
    let digits = |s: &str, hex: bool| {
        !s.is_empty()
            && s.bytes().all(|b| {
                b.is_ascii_digit() || (hex && b.is_ascii_hexdigit() && b.is_ascii_lowercase())
            })
    };
    if pid.len() > 10
        || !digits(pid, false)
        || suffix.len() != SUFFIX_DIGITS
        || !digits(suffix, true)
    {
        return None;
    }
    pid.parse().ok()
}

/// Removes the temporary files for the same target that runs no longer
/// alive left behind (killed outright). Best effort: a file that cannot be
/// removed is left as it is.
fn remove_stale(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let proc = Path::new("/proc");
    let have_proc = proc.join("self").exists();
    let me = std::process::id();
    for entry in entries.flatten() {
        let name: OsString = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| temp_pid(n, prefix)) else {
            continue;
        };
        if pid == me {
            continue;
        }
        // Never followed: a symlink is itself the planted thing removed.
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        let ft = meta.file_type();
        if !(ft.is_file() || ft.is_symlink()) {
            continue;
        }
        let stale = if have_proc {
            !proc.join(pid.to_string()).exists()
        } else {
            meta.modified()
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .is_some_and(|age| age > STALE_AGE)
        };
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }

    /// A pid no process has (Linux pids stop at 2^22).
    const DEAD_PID: u32 = 999_999_999;

    #[test]
    fn finish_gives_exactly_the_bytes_owner_only_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        std::fs::write(&path, b"old").unwrap();
        let mut out = OutputFile::create(&path).unwrap();
        let tmp = out.temp_path().to_path_buf();
        assert!(tmp.exists());
        let name = tmp.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(
            temp_pid(&name, &temp_prefix("out.csv")),
            Some(std::process::id())
        );
        out.write_all(b"a,b\r\n").unwrap();
        out.write_all(&[7u8; 300_000]).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"old",
            "untouched until finish"
        );
        out.finish().unwrap();
        let mut want = b"a,b\r\n".to_vec();
        want.extend_from_slice(&[7u8; 300_000]);
        assert_eq!(std::fs::read(&path).unwrap(), want);
        assert_eq!(names(dir.path()), ["out.csv"]);
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        assert!(!signals::live().contains(&std::path::absolute(&tmp).unwrap()));
    }

    #[test]
    fn dropped_without_finish_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        let mut out = OutputFile::create(&path).unwrap();
        out.write_all(b"partial").unwrap();
        let tmp = out.temp_path().to_path_buf();
        drop(out);
        assert!(!tmp.exists());
        assert!(names(dir.path()).is_empty());
        assert!(!signals::live().contains(&std::path::absolute(&tmp).unwrap()));
    }

    #[test]
    fn write_all_writes_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        OutputFile::write_all(&path, b"hello\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello\n");
        assert_eq!(names(dir.path()), ["a.txt"]);
    }

    #[test]
    fn a_path_without_a_file_name_is_refused() {
        assert_eq!(temp_prefix("x.csv"), ".x.csv.casebridge-tmp.");
        let err = OutputFile::create(Path::new("/")).unwrap_err();
        assert!(matches!(err, Error::Create { .. }));
    }

    #[test]
    fn a_failed_rename_removes_the_temporary_and_names_the_target_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("taken");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), b"x").unwrap();
        let mut out = OutputFile::create(&path).unwrap();
        out.write_all(b"data").unwrap();
        let err = out.finish().unwrap_err();
        assert!(matches!(err, Error::Rename { .. }));
        assert_eq!(err.path(), path);
        let msg = err.to_string();
        assert!(msg.ends_with("taken: cannot rename into place"), "{msg}");
        let cause = std::error::Error::source(&err).unwrap().to_string();
        assert!(!msg.contains(&cause), "cause printed once: {msg}");
        assert_eq!(names(dir.path()), ["taken"]);
    }

    #[test]
    fn a_missing_directory_is_a_create_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir").join("x.csv");
        let err = OutputFile::create(&path).unwrap_err();
        assert!(matches!(err, Error::Create { .. }), "{err:?}");
        assert_eq!(err.io_error().unwrap().kind(), io::ErrorKind::NotFound);
        assert!(err
            .to_string()
            .ends_with("x.csv: cannot create a temporary file"));
    }

    #[test]
    fn only_exact_temporary_names_are_recognised() {
        let p = temp_prefix("out.csv");
        assert_eq!(
            temp_pid(".out.csv.casebridge-tmp.42.0123456789abcdef", &p),
            Some(42)
        );
        for other in [
            "out.csv",
            ".out.csv.casebridge-tmp.42.0123456789abcde",
            ".out.csv.casebridge-tmp.42.0123456789abcdeF",
            ".out.csv.casebridge-tmp.42.0123456789abcdef0",
            ".out.csv.casebridge-tmp.x42.0123456789abcdef",
            ".out.csv.casebridge-tmp..0123456789abcdef",
            ".out.csv.casebridge-tmp.42.0123456789abcdef.bak",
            ".other.csv.casebridge-tmp.42.0123456789abcdef",
            ".out.csv.x.casebridge-tmp.42.0123456789abcdef",
        ] {
            assert_eq!(temp_pid(other, &p), None, "{other}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_stale_world_writable_temporary_of_a_dead_run_is_removed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let stale = dir.path().join(format!(
            ".out.csv.casebridge-tmp.{DEAD_PID}.00000000deadbeef"
        ));
        std::fs::write(&stale, b"old partial output").unwrap();
        std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o666)).unwrap();
        // Not ours, though alike: kept.
        let alike = [
            dir.path()
                .join(format!(".out.csv.casebridge-tmp.{DEAD_PID}.keep")),
            dir.path().join(format!(
                ".other.csv.casebridge-tmp.{DEAD_PID}.00000000deadbeef"
            )),
            dir.path().join("out.csv.tmp"),
        ];
        for p in &alike {
            std::fs::write(p, b"someone else's").unwrap();
        }
        // A live run's temporary (this process's pid is live; so is pid 1).
        let live = dir
            .path()
            .join(".out.csv.casebridge-tmp.1.00000000deadbeef");
        std::fs::write(&live, b"in progress").unwrap();

        OutputFile::write_all(&path, b"new").unwrap();
        assert!(!stale.exists(), "stale temporary removed");
        for p in &alike {
            assert_eq!(std::fs::read(p).unwrap(), b"someone else's");
        }
        assert!(live.exists(), "a live pid's file is not stale");
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(mode(&path), 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_a_temporary_name_never_redirects_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let victim_dir = tempfile::tempdir().unwrap();
        let victim = victim_dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let path = dir.path().join("out.csv");
        // Old fixed names other writers used, and pattern names with our pid
        // (a collision forces a retry, never a write through the link).
        let pid = std::process::id();
        let mut planted = vec![
            dir.path().join(".out.csv.tmp"),
            dir.path().join(format!(".out.csv.{pid}.tmp")),
        ];
        for i in 0..8u64 {
            planted.push(
                dir.path()
                    .join(format!(".out.csv.casebridge-tmp.{pid}.{i:016x}")),
            );
        }
        for p in &planted {
            std::os::unix::fs::symlink(&victim, p).unwrap();
        }
        // The first 8 names tried are the planted links: each is refused
        // and another tried; the 9th is free.
        let mut next = 0u64;
        let mut out = OutputFile::create_with(&path, || {
            next += 1;
            next - 1
        })
        .unwrap();
        assert_eq!(
            out.temp_path(),
            dir.path()
                .join(format!(".out.csv.casebridge-tmp.{pid}.{:016x}", 8))
        );
        out.write_all(b"output").unwrap();
        out.finish().unwrap();
        // With random names too.
        for _ in 0..5 {
            OutputFile::write_all(&path, b"output").unwrap();
        }
        // Every name taken: an error, nothing written anywhere.
        let err = OutputFile::create_with(&path, || 3).unwrap_err();
        assert!(matches!(err, Error::Create { .. }));
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(&path).unwrap(), b"output");
        assert!(!std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(mode(&path), 0o600);
        // A link at the exact next name is refused by O_EXCL|O_NOFOLLOW.
        let link = dir.path().join("direct");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let err = open_exclusive(&link).unwrap_err();
        assert!(is_taken(&err), "{err}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }

    #[cfg(unix)]
    #[test]
    fn a_stale_symlink_is_removed_as_a_link_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim_dir = tempfile::tempdir().unwrap();
        let victim = victim_dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let link = dir.path().join(format!(
            ".out.csv.casebridge-tmp.{DEAD_PID}.0000000000000001"
        ));
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        OutputFile::write_all(&dir.path().join("out.csv"), b"x").unwrap();
        assert!(std::fs::symlink_metadata(&link).is_err(), "link removed");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn seeking_writers_work() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.bin");
        let mut out = OutputFile::create(&path).unwrap();
        out.write_all(b"xxxxworld").unwrap();
        out.seek(SeekFrom::Start(0)).unwrap();
        out.write_all(b"helo").unwrap();
        assert_eq!(out.get_ref().unwrap().metadata().unwrap().len(), 9);
        out.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"heloworld");
    }
}
