//! A byte-based progress bar on stderr when it is a terminal; nothing otherwise.

use std::io::IsTerminal;

use casebridge_runner::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar over the bytes of all inputs.
pub struct Bar {
    bar: Option<ProgressBar>,
    done: std::cell::Cell<u64>,
}

impl Bar {
    /// A bar when stderr is a terminal and `quiet` is off.
    pub fn new(quiet: bool) -> Bar {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}) {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Bar {
            bar,
            done: std::cell::Cell::new(0),
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
        }
    }
    fn file(&self, name: &str) {
        if let Some(b) = &self.bar {
            let short = std::path::Path::new(name)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            b.set_message(short.unwrap_or_default());
        }
    }
    fn advance(&self, file_bytes: u64) {
        if let Some(b) = &self.bar {
            b.set_position(self.done.get() + file_bytes);
        }
    }
    fn file_done(&self, bytes: u64) {
        self.done.set(self.done.get() + bytes);
        if let Some(b) = &self.bar {
            b.set_position(self.done.get());
        }
    }
}
