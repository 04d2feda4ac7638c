//! What the canonical store held when a migration run began, in memory.
//!
//! A nightly run reads a full extract whose records are nearly all
//! unchanged. Asking the store (SQLite) about each one is a search of a
//! file far larger than its page cache: about 10 µs a record, most of a
//! nightly run of one changed row in a million; finding the records absent
//! tonight was a second pass over the whole store. Read once in storage
//! order (one sequential scan) and sorted, the same answers cost a lookup
//! in memory: 40 bytes a record and the index, within a budget (`[ledger]
//! memory`, 80 MiB by default: about 1.75M records; above that the run asks
//! the store, as before, in flat memory).
//!
//! Memory only ever answers what it can answer exactly enough to stand
//! for the store:
//! - a record id is `kind:` and 32 hex digits (128 bits of SHA-256), held
//!   as those bits: two ids are one entry only if they are one id. An id
//!   of another form, or two entries of one id, are always asked of the
//!   store;
//! - unchanged: the entry is in the store, not withdrawn, not written
//!   tonight, and the first 128 bits of its content hash (SHA-256) equal
//!   tonight's. A changed record passes for unchanged only if its new
//!   SHA-256 shares those 128 bits with the old one (about 2^-128);
//! - new: no entry of that id. Should the same id be written twice in a
//!   run, the store refuses the second "new" and the run asks the store
//!   (see `RunTxn::version`);
//! - absent: memory names the candidates (in the store as the run began,
//!   named by no disposition tonight, last read from a file that was
//!   read); the store confirms each one.

use std::hash::BuildHasher;

use casebridge_ledger::RunTxn;
use casebridge_model::Sha256;

/// In the store as the run began, not withdrawn: a candidate for absence.
const STORED: u8 = 1;
/// Unchanged can be answered (stored, and not written tonight).
const LIVE: u8 = 2;
/// The entry stands for exactly one id.
const EXACT: u8 = 4;
/// Named by a disposition tonight.
const SEEN: u8 = 8;

/// A stored record.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The 128 bits of its id (or, for an id of another form, a hash).
    key: [u64; 2],
    /// The first 128 bits of its content hash.
    sha: [u64; 2],
    /// The run of its latest version.
    run: u32,
    /// Its source and file, in [`Known::origins`].
    origin: u16,
    /// Its id's kind, in [`Known::kinds`].
    kind: u8,
    flags: u8,
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

/// The store's records as the run began, sorted by key.
#[derive(Debug)]
pub(crate) struct Known {
    entries: Vec<Entry>,
    /// Where each bucket (the top `shift` complement bits of a key) starts
    /// in `entries`; one past the last bucket's end at the end.
    starts: Vec<u32>,
    shift: u32,
    /// Id kinds (`person`, `case_note`, ...).
    kinds: Vec<String>,
    /// (source, file) pairs.
    origins: Vec<(String, String)>,
    hasher: std::collections::hash_map::RandomState,
}

/// An id's key and kind: exact when the id is `kind:` + 32 lowercase hex.
struct IdKey {
    key: [u64; 2],
    kind: Option<u8>,
    exact: bool,
}

impl Known {
    /// The memory an entry takes at most: 40 bytes, and its share of the
    /// bucket index (4 to 8 bytes).
    pub(crate) const BYTES: u64 = 48;
    /// The most records held in memory by default.
    #[cfg(test)]
    pub(crate) const MAX: u64 = crate::migrate::STORE_MEMORY / Known::BYTES;

    /// Reads the store in one pass; `None` when it holds more than `max`
    /// records (the run then asks the store), or `max` is 0.
    pub(crate) fn load(
        t: &mut RunTxn,
        max: u64,
    ) -> Result<Option<Known>, casebridge_ledger::Error> {
        if max == 0 {
            return Ok(None);
        }
        let n = t.store_len()?;
        if n > max {
            return Ok(None);
        }
        let seq = t.seq();
        let mut known = Known {
            entries: Vec::with_capacity(usize::try_from(n).unwrap_or(0)),
            starts: Vec::new(),
            shift: 64,
            kinds: Vec::new(),
            origins: Vec::new(),
            hasher: std::collections::hash_map::RandomState::new(),
        };
        let mut too_many = false;
        let mut last_origin = 0usize;
        t.each_stored(&mut |row| {
            known.intern_kind(row.id);
            let id = known.key_of(row.id);
            // Rows come mostly file by file: the last origin first.
            let same = |(s, f): &(String, String)| s == row.scope && f == row.file;
            let origin = if known.origins.get(last_origin).is_some_and(same) {
                last_origin
            } else if let Some(i) = known.origins.iter().position(same) {
                i
            } else {
                known
                    .origins
                    .push((row.scope.to_string(), row.file.to_string()));
                known.origins.len() - 1
            };
            last_origin = origin;
            let (Some(kind), Ok(origin)) = (id.kind, u16::try_from(origin)) else {
                too_many = true;
                return;
            };
            let sha = sha_of_hex(row.content_sha);
            let mut flags = 0;
            if !row.withdrawn && row.run < seq {
                flags |= STORED;
                if sha.is_some() {
                    flags |= LIVE;
                }
            }
            if id.exact {
                flags |= EXACT;
            }
            known.entries.push(Entry {
                key: id.key,
                sha: sha.unwrap_or_default(),
                run: u32::try_from(row.run).unwrap_or(u32::MAX),
                origin,
                kind,
                flags,
            });
        })?;
        if too_many {
            return Ok(None);
        }
        known.sort();
        Ok(Some(known))
    }

    /// Sorts the entries and indexes them. Two entries of one key: neither
    /// is answered from memory.
    fn sort(&mut self) {
        self.entries.sort_unstable_by_key(|e| (e.key, e.kind));
        for i in 1..self.entries.len() {
            let (a, b) = (self.entries[i - 1], self.entries[i]);
            if a.key == b.key && a.kind == b.kind {
                self.entries[i - 1].flags &= !EXACT;
                self.entries[i].flags &= !EXACT;
            }
        }
        self.index();
    }

    /// The bucket index: about one entry a bucket.
    fn index(&mut self) {
        let n = self.entries.len().max(1);
        let bits = usize::BITS - n.leading_zeros();
        self.shift = 64 - bits;
        let buckets = 1usize << bits;
        self.starts = Vec::with_capacity(buckets + 1);
        let mut i = 0usize;
        for b in 0..buckets {
            while i < self.entries.len() && ((self.entries[i].key[0] >> self.shift) as usize) < b {
                i += 1;
            }
            self.starts.push(u32::try_from(i).unwrap_or(u32::MAX));
        }
        self.starts
            .push(u32::try_from(self.entries.len()).unwrap_or(u32::MAX));
    }

    /// Adds the kind of a stored id of the exact form, if new.
    fn intern_kind(&mut self, id: &str) {
        if let Some((kind, hex)) = id.split_once(':') {
            if key_of_hex(hex).is_some() && !self.kinds.iter().any(|k| k == kind) {
                self.kinds.push(kind.to_string());
            }
        }
    }

    /// An id's key. Its kind is `None` when an id of the exact form has a
    /// kind the store holds no record of (or too many kinds to number);
    /// `u8::MAX` stands for the ids of another form.
    fn key_of(&self, id: &str) -> IdKey {
        if let Some((kind, hex)) = id.split_once(':') {
            if let Some(key) = key_of_hex(hex) {
                let k = self
                    .kinds
                    .iter()
                    .position(|k| k == kind)
                    .and_then(|i| u8::try_from(i).ok())
                    .filter(|&k| k < u8::MAX);
                return IdKey {
                    key,
                    kind: k,
                    exact: true,
                };
            }
        }
        IdKey {
            key: [self.hasher.hash_one(id), self.hasher.hash_one((id, 1u8))],
            kind: Some(u8::MAX),
            exact: false,
        }
    }

    fn find(&self, id: &str) -> Option<usize> {
        let k = self.key_of(id);
        let kind = k.kind?;
        let b = (k.key[0] >> self.shift) as usize;
        let lo = *self.starts.get(b)? as usize;
        let hi = *self.starts.get(b + 1)? as usize;
        (lo..hi).find(|&i| self.entries[i].key == k.key && self.entries[i].kind == kind)
    }

    /// What memory says of record `id` with content `sha`.
    pub(crate) fn answer(&self, id: &str, sha: &Sha256) -> Answer {
        match self.find(id) {
            None => Answer::New,
            Some(i) => {
                let e = &self.entries[i];
                let sure = LIVE | EXACT;
                if e.flags & sure == sure && e.sha == sha_of(sha) {
                    Answer::Unchanged {
                        run: i64::from(e.run),
                    }
                } else {
                    Answer::Ask
                }
            }
        }
    }

    /// Record `id` is named by a disposition tonight: it is there.
    pub(crate) fn seen(&mut self, id: &str) {
        if let Some(i) = self.find(id) {
            self.entries[i].flags |= SEEN;
        }
    }

    /// Record `id` was written tonight: from now on, ask the store.
    pub(crate) fn written(&mut self, id: &str) {
        if let Some(i) = self.find(id) {
            self.entries[i].flags &= !LIVE;
            self.entries[i].flags |= SEEN;
        }
    }

    /// The ids that may be absent tonight from source `scope`, in id order:
    /// stored as the run began, named by no disposition, last read from a
    /// file not in `skipped` (tonight's unchanged files). `None` when an
    /// id cannot be told from memory (the store is then searched whole).
    pub(crate) fn absent_candidates(&self, scope: &str, skipped: &[String]) -> Option<Vec<String>> {
        let origins: Vec<bool> = self
            .origins
            .iter()
            .map(|(s, f)| s == scope && !skipped.iter().any(|k| k == f))
            .collect();
        let mut out = Vec::new();
        for e in &self.entries {
            if e.flags & STORED == 0
                || !origins.get(usize::from(e.origin)).copied().unwrap_or(false)
            {
                continue;
            }
            if e.flags & EXACT == 0 || e.kind == u8::MAX {
                return None;
            }
            if e.flags & SEEN == 0 {
                let kind = self.kinds.get(usize::from(e.kind))?;
                out.push(format!("{kind}:{:016x}{:016x}", e.key[0], e.key[1]));
            }
        }
        out.sort_unstable();
        Some(out)
    }
}

/// 32 lowercase hex digits as 128 bits (the form `stable_id` writes).
fn key_of_hex(hex: &str) -> Option<[u64; 2]> {
    if hex.len() != 32
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    Some([
        u64::from_str_radix(hex.get(..16)?, 16).ok()?,
        u64::from_str_radix(hex.get(16..)?, 16).ok()?,
    ])
}

fn sha_of(sha: &Sha256) -> [u64; 2] {
    let mut a = [0u8; 8];
    let mut b = [0u8; 8];
    a.copy_from_slice(&sha.0[..8]);
    b.copy_from_slice(&sha.0[8..16]);
    [u64::from_be_bytes(a), u64::from_be_bytes(b)]
}

fn sha_of_hex(hex: &str) -> Option<[u64; 2]> {
    key_of_hex(hex.get(..32)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use casebridge_ledger::{Ledger, RunStart, RunTxn};

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

    fn id(n: u8) -> String {
        format!("person:{}", format!("{n:02x}").repeat(16))
    }

    /// The second run of a ledger at `path` whose first run wrote `rows`
    /// (id, content, file) as new records, then withdrew `withdrawn`.
    fn night_after(
        path: &std::path::Path,
        rows: &[(String, u8, &str)],
        withdrawn: &[String],
    ) -> RunTxn {
        let mut t = Ledger::open(path).unwrap().begin(start()).unwrap();
        for (id, n, file) in rows {
            let added = t
                .version(
                    id,
                    "person",
                    "new",
                    &sha(*n).to_hex(),
                    "[]",
                    "m",
                    file,
                    id,
                    "{}",
                    1,
                )
                .unwrap();
            assert!(added);
        }
        for id in withdrawn {
            let a = t.stored(id).unwrap().unwrap();
            t.withdraw(&a, "gone").unwrap();
        }
        t.commit("2026-12-01T00:00:01Z", "clean", "{}")
            .unwrap()
            .0
            .begin(start())
            .unwrap()
    }

    /// Persons 1 (content 1, from a.csv), 2 (withdrawn), 3 (from a.csv),
    /// 4 (from b.csv) and `odd` (an id of another form), all of run 1.
    fn ledger(dir: &std::path::Path) -> RunTxn {
        let rows = [
            (id(1), 1, "a.csv"),
            (id(2), 2, "a.csv"),
            (id(3), 3, "a.csv"),
            (id(4), 4, "b.csv"),
            ("odd".to_string(), 5, "a.csv"),
        ];
        night_after(&dir.join("l.sqlite"), &rows, &[id(2)])
    }

    #[test]
    fn memory_answers_unchanged_and_new_and_asks_the_store_for_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = ledger(dir.path());
        let mut k = Known::load(&mut t, Known::MAX).unwrap().unwrap();
        assert_eq!(k.answer(&id(1), &sha(1)), Answer::Unchanged { run: 1 });
        assert_eq!(k.answer(&id(1), &sha(9)), Answer::Ask, "changed content");
        assert_eq!(k.answer(&id(2), &sha(2)), Answer::Ask, "withdrawn");
        assert_eq!(k.answer(&id(7), &sha(4)), Answer::New);
        assert_eq!(k.answer("case_note:0101010101010101", &sha(1)), Answer::New);
        assert_eq!(
            k.answer("odd", &sha(5)),
            Answer::Ask,
            "an id of another form"
        );
        // Written tonight: the store is asked from then on.
        assert_eq!(k.answer(&id(3), &sha(3)), Answer::Unchanged { run: 1 });
        k.written(&id(3));
        assert_eq!(k.answer(&id(3), &sha(3)), Answer::Ask);
        // A store above the limit is not held.
        assert!(Known::load(&mut t, 2).unwrap().is_none());
    }

    #[test]
    fn absence_candidates_are_the_stored_records_no_disposition_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = ledger(dir.path());
        let mut k = Known::load(&mut t, Known::MAX).unwrap().unwrap();
        // An id of another form cannot be told from memory.
        assert_eq!(k.absent_candidates("m", &[]), None);
        // Without it (its file not read tonight):
        assert_eq!(
            k.absent_candidates("m", &["a.csv".into()]),
            Some(vec![id(4)])
        );
        let none: &[String] = &[];
        let rows: Vec<(String, u8, &str)> =
            [1u8, 3, 4].iter().map(|&n| (id(n), n, "a.csv")).collect();
        let mut t2 = night_after(&dir.path().join("other.sqlite"), &rows, &[]);
        let mut k2 = Known::load(&mut t2, Known::MAX).unwrap().unwrap();
        k2.seen(&id(1));
        k2.written(&id(4));
        assert_eq!(k2.absent_candidates("m", none), Some(vec![id(3)]));
        assert_eq!(k2.absent_candidates("other", none), Some(vec![]));
        // The store confirms them.
        assert_eq!(t2.absent_among("m", &[id(3)]).unwrap(), [id(3)]);
        t2.disposition(0, "person", "{}", Some(&id(3)), "rejected", Some("r"))
            .unwrap();
        assert!(t2.absent_among("m", &[id(3)]).unwrap().is_empty());
        k.seen(&id(4));
        assert_eq!(k.absent_candidates("m", &["a.csv".into()]), Some(vec![]));
    }

    #[test]
    fn a_record_written_tonight_before_the_store_is_read_is_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = ledger(dir.path());
        let added = t
            .version(
                &id(1),
                "person",
                "changed",
                &sha(5).to_hex(),
                "[]",
                "m",
                "a.csv",
                "a",
                "{}",
                2,
            )
            .unwrap();
        assert!(added);
        let k = Known::load(&mut t, Known::MAX).unwrap().unwrap();
        assert_eq!(k.answer(&id(1), &sha(5)), Answer::Ask);
    }

    #[test]
    fn two_entries_of_one_id_are_asked_for_and_ids_read_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = night_after(&dir.path().join("l.sqlite"), &[(id(1), 1, "a.csv")], &[]);
        let mut k = Known::load(&mut t, Known::MAX).unwrap().unwrap();
        let twin = k.entries[0];
        k.entries.push(twin);
        k.sort();
        assert_eq!(k.answer(&id(1), &sha(1)), Answer::Ask);
        assert_eq!(k.absent_candidates("m", &[]), None);
    }

    #[test]
    fn a_content_hash_reads_alike_from_bytes_and_from_hex() {
        let s = Sha256([7u8; 32]);
        assert_eq!(sha_of_hex(&s.to_hex()), Some(sha_of(&s)));
        assert_eq!(sha_of_hex("abc"), None);
        assert_eq!(sha_of_hex(&"zz".repeat(32)), None);
        assert_eq!(
            key_of_hex(&"AB".repeat(16)),
            None,
            "stable ids are lowercase"
        );
    }

    #[test]
    fn the_bucket_index_finds_every_entry_of_many() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<String> = (0..500u32)
            .map(|n| {
                casebridge_model::stable_id(
                    casebridge_model::RecordKind::Person,
                    "s",
                    &n.to_string(),
                )
            })
            .collect();
        let rows: Vec<(String, u8, &str)> = ids.iter().map(|h| (h.clone(), 1, "a.csv")).collect();
        let mut t = night_after(&dir.path().join("l.sqlite"), &rows, &[]);
        let k = Known::load(&mut t, Known::MAX).unwrap().unwrap();
        for h in &ids {
            assert_eq!(k.answer(h, &sha(1)), Answer::Unchanged { run: 1 }, "{h}");
        }
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(k.absent_candidates("m", &[]), Some(sorted));
    }
}
