//! The registry of live temporary files, and what happens on SIGINT/SIGTERM.
//!
//! Every temporary file an [`OutputFile`](crate::OutputFile) holds is in
//! [`LIVE`] from its creation to its rename (both done while holding the
//! lock, so a signal never sees a file that exists but is not listed, nor a
//! renamed one still listed). On the first `create`, a thread starts that
//! waits for SIGINT or SIGTERM, removes every listed file and exits with
//! 128 + the signal (130, 143), as a shell reports a process killed by it.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, Once};

/// Temporary files that exist now, by absolute path.
static LIVE: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// The registry, even if a thread panicked holding it (a set of paths is
/// never left half-updated).
pub(crate) fn live() -> MutexGuard<'static, BTreeSet<PathBuf>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the signal thread, once per process.
///
/// The signals are registered on that thread and `install` waits until they
/// are, so from the first temporary file on a signal removes it. Should the
/// thread or the registration fail, the signals keep their default action
/// (the process dies; the next run removes the stale file).
#[cfg(unix)]
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let (ready, wait) = std::sync::mpsc::sync_channel::<()>(1);
        let spawned = std::thread::Builder::new()
            .name("casebridge-signals".into())
            .spawn(move || {
                use signal_hook::consts::{SIGINT, SIGTERM};
                let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
                    return;
                };
                let _ = ready.send(());
                if let Some(sig) = signals.forever().next() {
                    let live = live();
                    for path in live.iter() {
                        // A staging folder of an output folder goes whole.
                        if path.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                            let _ = std::fs::remove_dir_all(path);
                        } else {
                            let _ = std::fs::remove_file(path);
                        }
                    }
                    // Exits holding the lock: no new temporary file can appear.
                    std::process::exit(128 + sig);
                }
            });
        if spawned.is_ok() {
            // Returns once registered, or at once if the thread gave up.
            let _ = wait.recv();
        }
    });
}

/// Elsewhere signals keep their default action; stale temporary files are
/// removed by the next run.
#[cfg(not(unix))]
pub(crate) fn install() {}
