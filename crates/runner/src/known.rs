//! What the canonical store held when a migration run began, in memory.
//!
//! A nightly run reads a full extract whose records are nearly all
//! unchanged. Asking the store (SQLite) about each one is a search of a
//! file far larger than its page cache: about 10 µs a record, most of a
//! nightly run of one changed row in a million. Read once in storage order
//! (a sequential scan) and sorted, the same answers cost a binary search in
//! memory: 32 bytes a record, and only up to [`Known::MAX`] records (above
//! that the run asks the store, as before, in flat memory).
//!
//! Only "unchanged" and "new" are ever answered from memory, and only when
//! they are certain enough to stand for the store's answer:
//! - unchanged: the id's 64-bit hash names exactly one stored record, it is
//!   not withdrawn, not written tonight, and the first 128 bits of its
//!   content hash (SHA-256) equal tonight's. A changed record passes for
//!   unchanged only if its new SHA-256 shares those 128 bits with the old
//!   one (about 2^-128);
//! - new: no stored record's id hashes alike. Should the same id be
//!   written twice in a run, the store refuses the second "new" and the
//!   run asks the store (see `RunTxn::version`).
//!
//! Everything else (a hash shared by two ids, a record withdrawn or
//! written tonight, a content hash that differs) is asked of the store.

use std::hash::BuildHasher;

use casebridge_ledger::RunTxn;
use casebridge_model::Sha256;

/// A stored record: its id's hash, its content hash's first 128 bits, the
/// run of its latest version, and what can be said of it from memory.
#[derive(Debug, Clone, Copy)]
struct Entry {
    id: u64,
    sha: [u64; 2],
    run: u32,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In the store, not withdrawn: unchanged when the content matches.
    Live,
    /// Withdrawn, written tonight, or its id's hash is shared: ask.
    Ask,
}

/// What memory can say of a record about to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Its content equals its latest version's, of run `run`.
    Unchanged { run: i64 },
    /// The store held no record of that id when the run began.
    New,
    /// Ask the store.
    Ask,
}

/// The store's records as the run began, sorted by id hash.
#[derive(Debug)]
pub(crate) struct Known {
    entries: Vec<Entry>,
    hasher: std::collections::hash_map::RandomState,
}

impl Known {
    /// The most records held in memory (32 bytes each: 64 MiB).
    pub(crate) const MAX: u64 = 2 << 20;

    /// Reads the store in one pass; `None` when it holds more than
    /// [`Known::MAX`] records (the run then asks the store).
    pub(crate) fn load(
        t: &mut RunTxn,
        max: u64,
    ) -> Result<Option<Known>, casebridge_ledger::Error> {
        let n = t.store_len()?;
        if n > max {
            return Ok(None);
        }
        let seq = t.seq();
        let hasher = std::collections::hash_map::RandomState::new();
        let mut entries = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        t.each_stored(&mut |id, sha, run, withdrawn| {
            let prefix = sha_of_hex(sha);
            let usable = !withdrawn && run < seq && prefix.is_some();
            entries.push(Entry {
                id: hasher.hash_one(id),
                sha: prefix.unwrap_or_default(),
                run: u32::try_from(run).unwrap_or(u32::MAX),
                state: if usable { State::Live } else { State::Ask },
            });
        })?;
        entries.sort_unstable_by_key(|e| e.id);
        let mut known = Known { entries, hasher };
        known.mark_shared();
        Ok(Some(known))
    }

    /// Two ids of one hash: neither can be answered from memory.
    fn mark_shared(&mut self) {
        for i in 1..self.entries.len() {
            if self.entries[i].id == self.entries[i - 1].id {
                self.entries[i].state = State::Ask;
                self.entries[i - 1].state = State::Ask;
            }
        }
    }

    fn find(&self, id: &str) -> Result<usize, usize> {
        let h = self.hasher.hash_one(id);
        self.entries.binary_search_by_key(&h, |e| e.id)
    }

    /// What memory says of record `id` with content `sha`.
    pub(crate) fn answer(&self, id: &str, sha: &Sha256) -> Answer {
        match self.find(id) {
            Err(_) => Answer::New,
            Ok(i) => {
                let e = &self.entries[i];
                if e.state == State::Live && e.sha == sha_of(sha) {
                    Answer::Unchanged {
                        run: i64::from(e.run),
                    }
                } else {
                    Answer::Ask
                }
            }
        }
    }

    /// Record `id` was written tonight: from now on, ask the store.
    pub(crate) fn written(&mut self, id: &str) {
        if let Ok(i) = self.find(id) {
            self.entries[i].state = State::Ask;
        }
    }
}

fn sha_of(sha: &Sha256) -> [u64; 2] {
    let mut a = [0u8; 8];
    let mut b = [0u8; 8];
    a.copy_from_slice(&sha.0[..8]);
    b.copy_from_slice(&sha.0[8..16]);
    [u64::from_be_bytes(a), u64::from_be_bytes(b)]
}

fn sha_of_hex(hex: &str) -> Option<[u64; 2]> {
    Some([
        u64::from_str_radix(hex.get(..16)?, 16).ok()?,
        u64::from_str_radix(hex.get(16..32)?, 16).ok()?,
    ])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use casebridge_ledger::{Ledger, RunStart};

    fn start() -> RunStart {
        RunStart {
            name: None,
            started: "2026-12-01T00:00:00Z".into(),
            tool: "test".into(),
            config_sha: None,
            config: None,
            mappings: "[]".into(),
            out_dir: "out".into(),
        }
    }

    fn sha(n: u8) -> Sha256 {
        Sha256([n; 32])
    }

    /// A ledger whose store holds `a` (content 1), `b` (content 2, then
    /// withdrawn) and `c` (content 3), all of run 1.
    fn ledger(dir: &std::path::Path) -> Ledger {
        let mut t = Ledger::open(&dir.join("l.sqlite"))
            .unwrap()
            .begin(start())
            .unwrap();
        for (id, n) in [("a", 1), ("b", 2), ("c", 3)] {
            let added = t
                .version(
                    id,
                    "person",
                    "new",
                    &sha(n).to_hex(),
                    "[]",
                    "m",
                    "f.csv",
                    id,
                    "{}",
                    1,
                )
                .unwrap();
            assert!(added);
        }
        let b = t.stored("b").unwrap().unwrap();
        t.withdraw(&b, "gone").unwrap();
        t.commit("2026-12-01T00:00:01Z", "clean", "{}").unwrap().0
    }

    #[test]
    fn memory_answers_unchanged_and_new_and_asks_the_store_for_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = ledger(dir.path()).begin(start()).unwrap();
        let mut k = Known::load(&mut t, Known::MAX).unwrap().unwrap();
        assert_eq!(k.answer("a", &sha(1)), Answer::Unchanged { run: 1 });
        assert_eq!(k.answer("a", &sha(9)), Answer::Ask, "changed content");
        assert_eq!(k.answer("b", &sha(2)), Answer::Ask, "withdrawn");
        assert_eq!(k.answer("d", &sha(4)), Answer::New);
        // Written tonight: the store is asked from then on.
        assert_eq!(k.answer("c", &sha(3)), Answer::Unchanged { run: 1 });
        k.written("c");
        assert_eq!(k.answer("c", &sha(3)), Answer::Ask);
        // A store above the limit is not held.
        assert!(Known::load(&mut t, 2).unwrap().is_none());
    }

    #[test]
    fn a_record_written_tonight_before_the_store_is_read_is_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = ledger(dir.path()).begin(start()).unwrap();
        let added = t
            .version(
                "a",
                "person",
                "changed",
                &sha(5).to_hex(),
                "[]",
                "m",
                "f.csv",
                "a",
                "{}",
                2,
            )
            .unwrap();
        assert!(added);
        let k = Known::load(&mut t, Known::MAX).unwrap().unwrap();
        assert_eq!(k.answer("a", &sha(5)), Answer::Ask);
    }

    #[test]
    fn ids_of_one_hash_are_asked_for() {
        let e = |id, state| Entry {
            id,
            sha: [1, 1],
            run: 1,
            state,
        };
        let mut k = Known {
            entries: vec![e(5, State::Live), e(7, State::Live), e(7, State::Live)],
            hasher: std::collections::hash_map::RandomState::new(),
        };
        k.mark_shared();
        let states: Vec<State> = k.entries.iter().map(|e| e.state).collect();
        assert_eq!(states, [State::Live, State::Ask, State::Ask]);
    }

    #[test]
    fn a_content_hash_reads_alike_from_bytes_and_from_hex() {
        let sha = casebridge_model::Sha256([7u8; 32]);
        assert_eq!(sha_of_hex(&sha.to_hex()), Some(sha_of(&sha)));
        assert_eq!(sha_of_hex("abc"), None);
        assert_eq!(sha_of_hex(&"zz".repeat(32)), None);
    }
}
