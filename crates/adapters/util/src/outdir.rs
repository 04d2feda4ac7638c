//! Output folders: a run's whole set of files appears at once or not at all.
//!
//! [`OutputDir::create`] takes the folder's lock (an OS file lock on
//! `.NAME.casebridge-lock` beside it: held, the second run fails saying
//! which process and since when; the kernel lets go however the holder
//! ends, so a killed run's file is taken over),
//! refuses a folder that already holds files unless asked to replace it,
//! and makes a staging folder `.NAME.casebridge-tmp.PID.RANDOM` (0700)
//! beside it. Files are written into [`OutputDir::path`] (each through
//! [`OutputFile`](crate::OutputFile)); [`OutputDir::commit`] renames the
//! staging folder into place, the old folder (when replaced) moved aside
//! first and removed after. Dropped without `commit`, or on SIGINT/SIGTERM,
//! the staging folder is removed; so stale files of an earlier set are never
//! mixed with a new one.

use std::fs::{File, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::signals;

/// A run's output folder being written.
#[derive(Debug)]
pub struct OutputDir {
    target: PathBuf,
    staging: PathBuf,
    lock: PathBuf,
    /// The lock file, held (locked) until the folder is dropped.
    held: Option<File>,
    committed: bool,
}

fn name_of(target: &Path) -> Result<(PathBuf, String)> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::Create {
            path: target.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "the path names no folder"),
        })?;
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// Whether `file` is still the file `path` names (a holder removes the
/// lock file before it lets go: a run that opened it just before then
/// holds a file no longer there, and tries again).
fn still_named(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::symlink_metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}

/// Takes the folder's lock: an OS file lock on the lock file, released by
/// the kernel however the holder ends (a killed run's lock is free, and a
/// pid the system gave to another process since holds nothing). The file
/// names the holder and since when, for the run that finds it held.
fn take_lock(target: &Path, lock: &Path) -> Result<File> {
    let create_err = |source| Error::Create {
        path: target.to_path_buf(),
        source,
    };
    for _ in 0..16 {
        let mut live = signals::live();
        let mut f = crate::output::open_private(lock, false).map_err(create_err)?;
        match f.try_lock() {
            Ok(()) if still_named(&f, lock) => {
                live.insert(std::path::absolute(lock).unwrap_or_else(|_| lock.to_path_buf()));
                drop(live);
                let line = format!("{} {}\n", std::process::id(), now());
                f.set_len(0).map_err(create_err)?;
                f.write_all(line.as_bytes()).map_err(create_err)?;
                return Ok(f);
            }
            // Held a moment ago by a run that has since removed it.
            Ok(()) => continue,
            Err(TryLockError::WouldBlock) => {
                drop(live);
                let mut text = String::new();
                let _ = f.read_to_string(&mut text);
                let mut parts = text.split_whitespace();
                let pid = parts.next().and_then(|p| p.parse::<u32>().ok());
                let since = parts.next().and_then(|p| p.parse::<u64>().ok());
                return Err(Error::Locked {
                    path: target.to_path_buf(),
                    pid: pid.unwrap_or(0),
                    since: since.unwrap_or(0),
                });
            }
            Err(TryLockError::Error(e)) => return Err(create_err(e)),
        }
    }
    Err(create_err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "the lock could not be taken",
    )))
}

/// Removes, inside a folder about to be written, the temporary files that
/// killed runs left there (they are not "files the folder holds").
fn remove_dead_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let Some(at) = name.find(crate::TEMP_MARKER) else {
            continue;
        };
        let prefix = &name[..at + crate::TEMP_MARKER.len()];
        let Some(pid) = crate::output::temp_pid(&name, prefix) else {
            continue;
        };
        let plain = e
            .path()
            .symlink_metadata()
            .is_ok_and(|m| m.is_file() || m.file_type().is_symlink());
        if plain && name.starts_with('.') && pid != std::process::id() && !alive(pid) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Removes staging folders of runs that are no longer alive.
fn remove_stale(parent: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let Some(pid) = crate::output::temp_pid(&name, prefix) else {
            continue;
        };
        let is_dir = e.path().symlink_metadata().is_ok_and(|m| m.is_dir());
        if is_dir && pid != std::process::id() && !alive(pid) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl OutputDir {
    /// Opens `target` for a run's files. `replace`: an existing folder with
    /// files is replaced as a whole on commit; without it, such a folder is
    /// refused ([`Error::NotEmpty`]).
    pub fn create(target: &Path, replace: bool) -> Result<OutputDir> {
        let (parent, name) = name_of(target)?;
        signals::install();
        let lock = parent.join(format!(".{name}.casebridge-lock"));
        let held = take_lock(target, &lock)?;
        // Removed while still held, then let go (see `still_named`).
        let release = |e: Error| {
            let _ = std::fs::remove_file(&lock);
            signals::live().remove(&std::path::absolute(&lock).unwrap_or_else(|_| lock.clone()));
            e
        };
        remove_dead_temporaries(target);
        let has_files = std::fs::read_dir(target).is_ok_and(|mut d| d.next().is_some());
        if has_files && !replace {
            return Err(release(Error::NotEmpty {
                path: target.to_path_buf(),
            }));
        }
        if target.exists() && !target.is_dir() {
            return Err(release(Error::Create {
                path: target.to_path_buf(),
                source: io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "a file, not a folder, is there",
                ),
            }));
        }
        let prefix = crate::output::temp_prefix(&name);
        remove_stale(&parent, &prefix);
        let staging = parent.join(format!(
            "{prefix}{}.{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        {
            let mut live = signals::live();
            let mut b = std::fs::DirBuilder::new();
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                b.mode(0o700);
            }
            if let Err(source) = b.create(&staging) {
                // The registry's lock is not reentrant: let go before release.
                drop(live);
                return Err(release(Error::Create {
                    path: target.to_path_buf(),
                    source,
                }));
            }
            live.insert(std::path::absolute(&staging).unwrap_or_else(|_| staging.clone()));
        }
        Ok(OutputDir {
            target: target.to_path_buf(),
            staging,
            lock,
            held: Some(held),
            committed: false,
        })
    }

    /// Where the run writes its files (the staging folder).
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// The folder the files will be in once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Puts the whole set in place: the old folder (if any) moved aside,
    /// the staging folder renamed to the target, the old one removed.
    pub fn commit(mut self) -> Result<()> {
        let rename_err = |source| Error::Rename {
            path: self.target.clone(),
            source,
        };
        let (parent, name) = name_of(&self.target)?;
        let old = parent.join(format!(
            ".{name}.casebridge-old.{}.{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let had = self.target.exists();
        let mut live = signals::live();
        if had {
            std::fs::rename(&self.target, &old).map_err(rename_err)?;
        }
        if let Err(e) = std::fs::rename(&self.staging, &self.target) {
            if had {
                let _ = std::fs::rename(&old, &self.target);
            }
            return Err(rename_err(e));
        }
        live.remove(&std::path::absolute(&self.staging).unwrap_or_else(|_| self.staging.clone()));
        drop(live);
        self.committed = true;
        if had {
            let _ = std::fs::remove_dir_all(&old);
        }
        crate::output::sync_dir(&self.target);
        Ok(())
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        let mut live = signals::live();
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
            live.remove(
                &std::path::absolute(&self.staging).unwrap_or_else(|_| self.staging.clone()),
            );
        }
        let _ = std::fs::remove_file(&self.lock);
        live.remove(&std::path::absolute(&self.lock).unwrap_or_else(|_| self.lock.clone()));
        // Let go only once the file is gone (see `still_named`).
        drop(self.held.take());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_set_appears_at_commit_and_nothing_is_left_beside_it() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("extract");
        let out = OutputDir::create(&target, false).unwrap();
        crate::OutputFile::write_all(&out.path().join("a.csv"), b"x").unwrap();
        assert!(!target.exists(), "nothing before commit");
        out.commit().unwrap();
        assert_eq!(names(&target), ["a.csv"]);
        assert_eq!(names(tmp.path()), ["extract"]);
    }

    #[test]
    fn a_folder_with_files_is_refused_unless_replaced_as_a_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("extract");
        std::fs::create_dir(&target).unwrap();
        crate::OutputFile::write_all(&target.join("stale.csv"), b"old").unwrap();
        let e = OutputDir::create(&target, false).unwrap_err();
        assert!(matches!(e, Error::NotEmpty { .. }), "{e}");
        assert_eq!(names(tmp.path()), ["extract"], "the refusal leaves no lock");
        let out = OutputDir::create(&target, true).unwrap();
        crate::OutputFile::write_all(&out.path().join("new.csv"), b"new").unwrap();
        out.commit().unwrap();
        assert_eq!(
            names(&target),
            ["new.csv"],
            "the stale file is gone with the old set"
        );
        assert_eq!(names(tmp.path()), ["extract"]);
    }

    #[test]
    fn a_second_run_on_the_same_folder_fails_naming_the_first() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("extract");
        let first = OutputDir::create(&target, false).unwrap();
        let e = OutputDir::create(&target, false).unwrap_err();
        match &e {
            Error::Locked { pid, .. } => assert_eq!(*pid, std::process::id()),
            other => panic!("{other}"),
        }
        assert!(e.to_string().contains("another run"));
        drop(first);
        assert_eq!(
            names(tmp.path()),
            Vec::<String>::new(),
            "dropped: no staging, no lock"
        );
        // A killed run's lock is taken over.
        std::fs::write(tmp.path().join(".extract.casebridge-lock"), "999999999 1\n").unwrap();
        OutputDir::create(&target, false).unwrap().commit().unwrap();
        assert_eq!(names(tmp.path()), ["extract"]);
    }

    // A killed run's lock file naming a pid the system has since given to
    // a live process (here: this one, and pid 1) used to hold the folder
    // until someone removed the file by hand. Only an OS lock holds it.
    #[test]
    fn a_lock_file_naming_a_live_pid_but_held_by_nobody_is_taken_over() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("extract");
        let lock = tmp.path().join(".extract.casebridge-lock");
        for pid in [std::process::id(), 1] {
            std::fs::write(&lock, format!("{pid} 1\n")).unwrap();
            let out = OutputDir::create(&target, true).unwrap();
            let text = std::fs::read_to_string(&lock).unwrap();
            assert!(
                text.starts_with(&format!("{} ", std::process::id())),
                "{text}"
            );
            out.commit().unwrap();
            assert_eq!(names(tmp.path()), ["extract"]);
        }
        // Held: refused, and the holder's lock file left as it is.
        let first = OutputDir::create(&target, true).unwrap();
        let before = std::fs::read_to_string(&lock).unwrap();
        assert!(matches!(
            OutputDir::create(&target, true),
            Err(Error::Locked { .. })
        ));
        assert_eq!(std::fs::read_to_string(&lock).unwrap(), before);
        drop(first);
        assert!(!lock.exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_in_the_lock_files_place_is_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("extract");
        let victim = tmp.path().join("victim.txt");
        std::fs::write(&victim, "keep me").unwrap();
        std::os::unix::fs::symlink(&victim, tmp.path().join(".extract.casebridge-lock")).unwrap();
        assert!(OutputDir::create(&target, false).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    }
}
