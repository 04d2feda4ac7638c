//! The typed events of a run: every file's outcome, every finding, and the
//! one disposition of every input record.
//!
//! The runner's stages emit [`Event`]s to one [`EventSink`]; the report is
//! built from them (and the ledger, later, subscribes to the same stream), so
//! that `read = valid + rejected + merged + skipped` can be computed and
//! checked per file and per record kind for every command.
//!
//! Events borrow what they describe: a sink that keeps something copies it.
//! A record's disposition may come long after its file was read (dedup
//! decides merges once every file is in), so sinks must not assume that a
//! file's records all arrive before its [`Event::FileFinished`].

use serde::Serialize;

use crate::{Finding, Locator, RecordKind, Sha256};

/// A file's number within one run, given by [`Event::FileStarted`].
pub type FileId = u32;

/// What became of one input record. Exactly one per record read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "disposition", rename_all = "snake_case")]
pub enum Disposition {
    /// Passed every check and went on: valid (validate), written (export,
    /// pseudonymise, migrate) or kept as a survivor (dedup).
    Valid,
    /// Not passed on: the rules it broke (at least one).
    Rejected {
        /// Rule ids, see [`crate::rules`].
        rules: Vec<String>,
    },
    /// Merged into another record (an exact copy, a near duplicate, the
    /// same person): the survivor's id.
    Merged {
        /// The survivor's canonical id.
        into: String,
    },
    /// Read but deliberately not passed on, with why (e.g. a form answer,
    /// which dedup does not link; an unchanged record in a nightly run).
    Skipped {
        /// Why, in plain words without personal values.
        reason: String,
    },
}

impl Disposition {
    /// The snake_case name used in reports and the ledger.
    pub fn as_str(&self) -> &'static str {
        match self {
            Disposition::Valid => "valid",
            Disposition::Rejected { .. } => "rejected",
            Disposition::Merged { .. } => "merged",
            Disposition::Skipped { .. } => "skipped",
        }
    }
}

/// How one input file ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FileOutcome {
    /// Read to the end (its records may still have been rejected).
    Read,
    /// Not read, on purpose (e.g. a file in a folder that no mapping fits).
    Skipped {
        /// Why.
        reason: String,
    },
    /// Could not be read through (unreadable, header lacking a mapped
    /// column, malformed past recovery): the records before the failure, if
    /// any, still have their dispositions.
    Failed {
        /// Why.
        reason: String,
    },
}

impl FileOutcome {
    /// `read`, `skipped` or `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            FileOutcome::Read => "read",
            FileOutcome::Skipped { .. } => "skipped",
            FileOutcome::Failed { .. } => "failed",
        }
    }
}

/// One thing that happened in a run.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// A file is about to be read (or is known to be skipped).
    FileStarted {
        /// Its number in this run.
        file: FileId,
        /// Its name as given.
        name: &'a str,
        /// The mapping reading it, if any.
        mapping: Option<&'a str>,
        /// The record kind its mapping produces (`None`: several or unknown).
        kind: Option<RecordKind>,
    },
    /// A problem found, about a file (`Some`) or the run as a whole.
    Finding {
        /// The file concerned.
        file: Option<FileId>,
        /// The finding.
        finding: Finding,
    },
    /// The disposition of one input record.
    Record {
        /// The file it was read from.
        file: FileId,
        /// Its kind.
        kind: RecordKind,
        /// Where in the file.
        locator: &'a Locator,
        /// What became of it.
        disposition: &'a Disposition,
    },
    /// A file has been read as far as it could be.
    FileFinished {
        /// Its number.
        file: FileId,
        /// How it ended.
        outcome: &'a FileOutcome,
        /// SHA-256 of every byte, when the file was read to the end.
        sha256: Option<&'a Sha256>,
        /// Bytes read.
        bytes: u64,
        /// Records the source yielded, good and bad: the left side of the
        /// balance `read = valid + rejected + merged + skipped`.
        records: u64,
    },
}

/// Something that consumes a run's events: the report, the ledger, a
/// progress display.
pub trait EventSink {
    /// Takes one event. An error (e.g. the report's spill file cannot be
    /// written) stops the run.
    fn emit(&mut self, event: Event<'_>) -> std::io::Result<()>;
}

/// Ignores every event.
impl EventSink for () {
    fn emit(&mut self, _: Event<'_>) -> std::io::Result<()> {
        Ok(())
    }
}

/// Counts of dispositions, for a file, a kind, or a whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Records read (counted by the source, not from the dispositions).
    pub read: u64,
    /// Passed on.
    pub valid: u64,
    /// Rejected with rule ids.
    pub rejected: u64,
    /// Merged into a survivor.
    pub merged: u64,
    /// Skipped with a reason.
    pub skipped: u64,
}

impl Tally {
    /// Counts one disposition.
    pub fn count(&mut self, d: &Disposition) {
        match d {
            Disposition::Valid => self.valid += 1,
            Disposition::Rejected { .. } => self.rejected += 1,
            Disposition::Merged { .. } => self.merged += 1,
            Disposition::Skipped { .. } => self.skipped += 1,
        }
    }

    /// Records with a disposition.
    pub fn disposed(&self) -> u64 {
        self.valid + self.rejected + self.merged + self.skipped
    }

    /// Whether every record read has exactly one disposition.
    pub fn balances(&self) -> bool {
        self.read == self.disposed()
    }

    /// Adds another tally to this one.
    pub fn add(&mut self, o: &Tally) {
        self.read += o.read;
        self.valid += o.valid;
        self.rejected += o.rejected;
        self.merged += o.merged;
        self.skipped += o.skipped;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_balances_only_when_every_read_record_is_disposed() {
        let mut t = Tally {
            read: 3,
            ..Tally::default()
        };
        t.count(&Disposition::Valid);
        t.count(&Disposition::Rejected {
            rules: vec!["field.required".into()],
        });
        assert!(!t.balances());
        t.count(&Disposition::Merged { into: "x".into() });
        assert!(t.balances());
        t.count(&Disposition::Skipped { reason: "r".into() });
        assert!(!t.balances());
    }
}
