//! The first place of every source key, for `key.duplicate`: the one set
//! of the pipeline that grows with the records read, held within a memory
//! budget (`[limits] key_memory`).
//!
//! Keys are kept end to end in one byte arena; a list holds where each
//! starts and where it was first seen (16 bytes and a file number), and
//! the hash table only the key's number in that list (4 bytes and its
//! control byte). A map of boxed strings took about 70 bytes a key, its
//! small heap allocation per key and the table's doubling included; this
//! takes about 30 with the key's own bytes, and a resize of the table
//! copies 4 bytes a key, not 24.
//!
//! When the keys held pass the budget, every key held is moved to a
//! private temporary SQLite database (SQLite's own temporary file, removed
//! when the run ends, or by the system at once when the run is killed: it
//! is unlinked as soon as it is made) and memory starts again; a key not
//! held is then looked for there too. A fixed-size Bloom filter of the
//! spilled keys, made at the first spill, answers "not there" for most new
//! keys without a lookup. So memory is flat in the number of records: the
//! budget, the filter (a quarter of the budget) and SQLite's page cache.

use std::cell::RefCell;
use std::hash::{BuildHasher, BuildHasherDefault};

use casebridge_validate::Persons;

use rusqlite::{params, Connection, OptionalExtension};
use rustc_hash::FxHasher;

use crate::Error;

/// Where a key starts in the arena, and its first place in the inputs.
#[derive(Debug, Clone, Copy)]
struct Entry {
    off: u64,
    line: u64,
    file: u32,
}

/// Source keys of one kind and system held in memory, each with the file
/// and line it was first seen at.
#[derive(Default)]
struct KeySet {
    /// Numbers of keys in `entries`.
    table: hashbrown::HashTable<u32>,
    entries: Vec<Entry>,
    arena: Vec<u8>,
}

/// Key `i`'s bytes: from its start to the next key's (or the arena's end).
fn key_of<'a>(entries: &[Entry], arena: &'a [u8], i: u32) -> &'a [u8] {
    let i = i as usize;
    let start = entries.get(i).map_or(arena.len() as u64, |e| e.off);
    let end = entries.get(i + 1).map_or(arena.len() as u64, |e| e.off);
    let (start, end) = (
        usize::try_from(start).unwrap_or(usize::MAX),
        usize::try_from(end).unwrap_or(usize::MAX),
    );
    arena.get(start..end).unwrap_or_default()
}

type Hasher = BuildHasherDefault<FxHasher>;

impl KeySet {
    /// Where `key` (of hash `hash`) was first seen, if it is held.
    fn find(&self, hash: u64, key: &[u8]) -> Option<(u32, u64)> {
        let (entries, arena) = (&self.entries, &self.arena);
        let &i = self
            .table
            .find(hash, |&i| key_of(entries, arena, i) == key)?;
        let e = entries.get(i as usize)?;
        Some((e.file, e.line))
    }

    /// Holds `key` as first seen at (`file`, `line`). False when the set
    /// holds four thousand million keys already (it must be spilled).
    fn insert(&mut self, hasher: &Hasher, hash: u64, key: &[u8], file: u32, line: u64) -> bool {
        let Ok(i) = u32::try_from(self.entries.len()) else {
            return false;
        };
        self.entries.push(Entry {
            off: self.arena.len() as u64,
            line,
            file,
        });
        self.arena.extend_from_slice(key);
        let (entries, arena) = (&self.entries, &self.arena);
        self.table
            .insert_unique(hash, i, |&j| hasher.hash_one(key_of(entries, arena, j)));
        true
    }

    /// Bytes of memory held (capacities: what the allocator gave).
    fn bytes(&self) -> u64 {
        let table = self.table.capacity() * (std::mem::size_of::<u32>() + 1);
        let entries = self.entries.capacity() * std::mem::size_of::<Entry>();
        (table + entries + self.arena.capacity()) as u64
    }

    /// Bytes more the set would hold once `key_len` more bytes of key
    /// are added (0 when it has room: no allocation). Each part doubles.
    fn growth(&self, key_len: usize) -> u64 {
        let mut more = 0;
        if self.table.len() == self.table.capacity() {
            more += (self.table.capacity().max(3) + 1) * (std::mem::size_of::<u32>() + 1);
        }
        if self.entries.len() == self.entries.capacity() {
            more += self.entries.capacity().max(4) * std::mem::size_of::<Entry>();
        }
        if self.arena.len() + key_len > self.arena.capacity() {
            more += self.arena.capacity().max(key_len).max(8);
        }
        more as u64
    }
}

/// A Bloom filter of fixed size (hand-written: a bit array and four
/// probes from two hashes, not worth a dependency).
struct Bloom {
    bits: Vec<u64>,
}

impl Bloom {
    const PROBES: u64 = 4;

    fn new(bytes: u64) -> Bloom {
        let words = usize::try_from(bytes / 8).unwrap_or(usize::MAX).max(1);
        Bloom {
            bits: vec![0; words],
        }
    }

    /// The probes' words and bits of a hash, in a filter of `words` words.
    fn probes(words: usize, hash: u64) -> impl Iterator<Item = (usize, u64)> {
        let n = words as u64 * 64;
        let (a, b) = (mix(hash), mix(hash ^ 0x9e37_79b9_7f4a_7c15) | 1);
        (0..Self::PROBES).map(move |i| {
            let bit = a.wrapping_add(i.wrapping_mul(b)) % n;
            ((bit / 64) as usize, 1u64 << (bit % 64))
        })
    }

    fn add(&mut self, hash: u64) {
        for (w, m) in Self::probes(self.bits.len(), hash) {
            if let Some(word) = self.bits.get_mut(w) {
                *word |= m;
            }
        }
    }

    fn may_hold(&self, hash: u64) -> bool {
        Self::probes(self.bits.len(), hash)
            .all(|(w, m)| self.bits.get(w).is_some_and(|word| word & m != 0))
    }

    fn bytes(&self) -> u64 {
        self.bits.len() as u64 * 8
    }
}

/// SplitMix64's finaliser: FxHash's bits spread for the filter's probes.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The keys moved out of memory.
struct Spill {
    db: Connection,
    filter: Bloom,
    /// Keys in the database.
    keys: u64,
}

/// The database's key of a set's key, into `k`: the set's number, then
/// the key.
fn spilled_key(k: &mut Vec<u8>, set: usize, key: &[u8]) {
    k.clear();
    k.extend_from_slice(&u32::try_from(set).unwrap_or(u32::MAX).to_be_bytes());
    k.extend_from_slice(key);
}

fn spill_error(e: rusqlite::Error) -> Error {
    Error::KeySpill(e)
}

/// The source keys of every kind and system of a run, within a budget.
pub(crate) struct KeySets {
    sets: Vec<KeySet>,
    hasher: Hasher,
    /// Bytes the sets may hold before their keys are spilled.
    budget: u64,
    spill: Option<Spill>,
    /// Times the keys were moved out.
    spills: u64,
}

impl KeySets {
    /// Page cache of the spill database.
    const SPILL_CACHE_KIB: i64 = 2 << 10;

    /// Sets holding at most about `budget` bytes in memory (0: every key
    /// goes to the temporary database).
    pub(crate) fn new(budget: u64) -> KeySets {
        KeySets {
            sets: Vec::new(),
            hasher: Hasher::default(),
            budget,
            spill: None,
            spills: 0,
        }
    }

    /// A new set; its number for [`KeySets::first_or_insert`].
    pub(crate) fn add(&mut self) -> usize {
        self.sets.push(KeySet::default());
        self.sets.len() - 1
    }

    /// Where `key` was first seen in set `set`; otherwise notes it as seen
    /// at (`file`, `line`) and returns `None`.
    pub(crate) fn first_or_insert(
        &mut self,
        set: usize,
        key: &str,
        file: u32,
        line: u64,
    ) -> Result<Option<(u32, u64)>, Error> {
        let key = key.as_bytes();
        let hash = self.hasher.hash_one(key);
        let Some(held) = self.sets.get(set) else {
            return Ok(None);
        };
        if let Some(first) = held.find(hash, key) {
            return Ok(Some(first));
        }
        if let Some(first) = self.spilled_first(set, hash, key)? {
            return Ok(Some(first));
        }
        let room = self.room();
        let held: u64 = self.sets.iter().map(KeySet::bytes).sum();
        let grows = self.sets.get(set).map_or(0, |s| s.growth(key.len()));
        // A key that would make the sets grow past their room first sends
        // every key held to the database: memory is kept for the next.
        // (Memory past the room with keys held, as a budget of 0 leaves it,
        // spills them too.)
        if held + grows > room && self.sets.iter().any(|s| !s.entries.is_empty()) {
            self.spill_all()?;
        }
        let fits = match self.sets.get_mut(set) {
            Some(s) => s.insert(&self.hasher, hash, key, file, line),
            None => return Ok(None),
        };
        if !fits {
            self.spill_all()?;
            if let Some(s) = self.sets.get_mut(set) {
                s.insert(&self.hasher, hash, key, file, line);
            }
        }
        Ok(None)
    }

    /// Bytes the sets may hold: the budget, less the filter's once made.
    fn room(&self) -> u64 {
        let filter = self.spill.as_ref().map_or(0, |s| s.filter.bytes());
        self.budget.saturating_sub(filter)
    }

    /// Whether set `set` holds `key`.
    pub(crate) fn contains(&self, set: usize, key: &str) -> Result<bool, Error> {
        let key = key.as_bytes();
        let hash = self.hasher.hash_one(key);
        if self.sets.get(set).and_then(|s| s.find(hash, key)).is_some() {
            return Ok(true);
        }
        Ok(self.spilled_first(set, hash, key)?.is_some())
    }

    /// Where a key not held was first seen, if it was spilled.
    fn spilled_first(
        &self,
        set: usize,
        hash: u64,
        key: &[u8],
    ) -> Result<Option<(u32, u64)>, Error> {
        let Some(spill) = &self.spill else {
            return Ok(None);
        };
        if !spill.filter.may_hold(spilled_hash(set, hash)) {
            return Ok(None);
        }
        let mut k = Vec::with_capacity(4 + key.len());
        spilled_key(&mut k, set, key);
        let first = spill
            .db
            .prepare_cached("SELECT file, line FROM keys WHERE k = ?1")
            .and_then(|mut q| {
                q.query_row([k], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, i64>(1)?)))
                    .optional()
            })
            .map_err(spill_error)?;
        Ok(first.map(|(f, l)| (f, u64::try_from(l).unwrap_or(0))))
    }

    /// Moves every key held to the database, and frees the memory.
    fn spill_all(&mut self) -> Result<(), Error> {
        if self.spill.is_none() {
            // "": a private temporary database on disk, deleted when closed.
            let db = Connection::open("").map_err(spill_error)?;
            db.execute_batch(&format!(
                "PRAGMA cache_size = -{};\
                 PRAGMA journal_mode = OFF;\
                 PRAGMA synchronous = OFF;\
                 CREATE TABLE keys (k BLOB PRIMARY KEY, file INTEGER NOT NULL, line INTEGER NOT NULL) WITHOUT ROWID;",
                Self::SPILL_CACHE_KIB
            ))
            .map_err(spill_error)?;
            self.spill = Some(Spill {
                db,
                filter: Bloom::new(self.budget / 4),
                keys: 0,
            });
        }
        let Some(spill) = self.spill.as_mut() else {
            return Ok(());
        };
        // In the database's key order (set, then key), so that each insert
        // lands beside the last: 8 bytes a key while it is sorted.
        let mut order: Vec<(u32, u32)> = Vec::new();
        for (n, set) in self.sets.iter().enumerate() {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            order.extend((0..set.entries.len()).filter_map(|i| Some((n, u32::try_from(i).ok()?))));
        }
        let sets = &self.sets;
        let key = |&(n, i): &(u32, u32)| {
            sets.get(n as usize)
                .map_or(&[][..], |s| key_of(&s.entries, &s.arena, i))
        };
        order.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| key(a).cmp(key(b))));
        let tx = spill.db.transaction().map_err(spill_error)?;
        {
            let mut ins = tx
                .prepare_cached("INSERT INTO keys (k, file, line) VALUES (?1, ?2, ?3)")
                .map_err(spill_error)?;
            let mut k = Vec::new();
            for at in &order {
                let (n, i) = (at.0 as usize, at.1 as usize);
                let (bytes, Some(e)) = (key(at), sets.get(n).and_then(|s| s.entries.get(i))) else {
                    continue;
                };
                spilled_key(&mut k, n, bytes);
                ins.execute(params![
                    k,
                    e.file,
                    i64::try_from(e.line).unwrap_or(i64::MAX)
                ])
                .map_err(spill_error)?;
                spill
                    .filter
                    .add(spilled_hash(n, self.hasher.hash_one(bytes)));
            }
        }
        tx.commit().map_err(spill_error)?;
        spill.keys += order.len() as u64;
        self.spills += 1;
        tracing::debug!(
            keys = spill.keys,
            spills = self.spills,
            "source keys moved to their temporary database"
        );
        // Emptied, their memory kept for the keys to come; unless it is
        // more than the room left beside the filter (the first spill made
        // it), which would make every key spill: then it is given back.
        let keep = self.sets.iter().map(KeySet::bytes).sum::<u64>() <= self.room();
        for set in &mut self.sets {
            if keep {
                set.table.clear();
                set.entries.clear();
                set.arena.clear();
            } else {
                *set = KeySet::default();
            }
        }
        Ok(())
    }

    /// Keys held in memory.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.sets.iter().map(|s| s.table.len()).sum()
    }

    /// Keys moved to the database.
    #[cfg(test)]
    fn spilled(&self) -> u64 {
        self.spill.as_ref().map_or(0, |s| s.keys)
    }
}

/// The persons of the reference checks (their source keys, trimmed),
/// within a budget of their own as the source keys are: past it they move
/// to a temporary database, and a reference is looked for there.
pub(crate) struct PersonKeys {
    keys: KeySets,
    set: usize,
    /// Whether any person source was read.
    pub(crate) loaded: bool,
    /// The first failure of a lookup (the checks cannot return one): the
    /// pipeline takes it after each record's checks.
    failed: RefCell<Option<Error>>,
}

impl PersonKeys {
    pub(crate) fn new(budget: u64) -> PersonKeys {
        let mut keys = KeySets::new(budget);
        let set = keys.add();
        PersonKeys {
            keys,
            set,
            loaded: false,
            failed: RefCell::new(None),
        }
    }

    /// Adds a person's source key.
    pub(crate) fn insert(&mut self, key: &str) -> Result<(), Error> {
        let key = key.trim();
        if key.is_empty() {
            return Ok(());
        }
        self.keys.first_or_insert(self.set, key, 0, 0).map(|_| ())
    }

    /// A lookup's failure since the last call.
    pub(crate) fn take_failure(&self) -> Option<Error> {
        self.failed.borrow_mut().take()
    }
}

impl Persons for PersonKeys {
    fn loaded(&self) -> bool {
        self.loaded
    }

    fn contains(&self, key: &str) -> bool {
        match self.keys.contains(self.set, key.trim()) {
            Ok(known) => known,
            Err(e) => {
                // Known, so that no false finding is made; the run fails.
                self.failed.borrow_mut().get_or_insert(e);
                true
            }
        }
    }
}

/// The filter's hash of a set's key.
fn spilled_hash(set: usize, hash: u64) -> u64 {
    hash ^ (set as u64).wrapping_mul(0xa076_1d64_78bd_642f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_seen_again_names_its_first_place_and_only_then() {
        let mut keys = KeySets::new(64 << 20);
        let (a, b) = (keys.add(), keys.add());
        let mut f = |set, k, file, line| keys.first_or_insert(set, k, file, line).unwrap();
        assert_eq!(f(a, "3000001", 0, 2), None);
        assert_eq!(f(a, "3000002", 0, 3), None);
        assert_eq!(f(a, "", 1, 9), None);
        assert_eq!(f(a, "3000001", 1, 7), Some((0, 2)));
        assert_eq!(f(a, "", 2, 1), Some((1, 9)));
        // A prefix or an extension of a key is another key.
        assert_eq!(f(a, "300000", 0, 4), None);
        assert_eq!(f(a, "30000011", 0, 5), None);
        // Another set (kind or system) is another key space.
        assert_eq!(f(b, "3000001", 3, 1), None);
        assert_eq!(keys.held(), 6);
        assert_eq!(keys.spilled(), 0);
    }

    #[test]
    fn past_its_budget_the_set_moves_its_keys_out_and_still_finds_them() {
        // Room for a few hundred keys: 20,000 keys spill many times.
        let mut keys = KeySets::new(16 << 10);
        let (a, b) = (keys.add(), keys.add());
        for i in 0..20_000u64 {
            let k = format!("{:07}", 3_000_000 + i);
            assert_eq!(keys.first_or_insert(a, &k, 0, i + 2).unwrap(), None);
        }
        assert!(keys.spilled() > 19_000, "spilled {}", keys.spilled());
        // Each spill moves many keys, never one at a time.
        assert!(keys.spills * 20 < keys.spilled(), "{} spills", keys.spills);
        assert!(keys.held() < 1_000, "held {}", keys.held());
        for i in (0..20_000u64).step_by(997) {
            let k = format!("{:07}", 3_000_000 + i);
            assert_eq!(
                keys.first_or_insert(a, &k, 1, 1).unwrap(),
                Some((0, i + 2)),
                "{k}"
            );
            assert_eq!(keys.first_or_insert(b, &k, 1, 1).unwrap(), None, "{k}");
        }
        // Memory stays within the budget, the filter's quarter included.
        let held: u64 = keys.sets.iter().map(KeySet::bytes).sum();
        let filter = keys
            .spill
            .as_ref()
            .map_or(0, |s| s.filter.bits.len() as u64 * 8);
        assert!(held + filter <= 16 << 10, "{held} + {filter} bytes held");
    }

    #[test]
    fn whatever_the_budget_each_spill_moves_many_keys() {
        // The memory kept after the first spill is within the room the
        // filter leaves, whichever size the set had doubled to.
        for kib in (8..=96).step_by(4) {
            let mut keys = KeySets::new(kib << 10);
            let a = keys.add();
            for i in 0..6_000u64 {
                keys.first_or_insert(a, &format!("{:07}", 3_000_000 + i), 0, i)
                    .unwrap();
            }
            assert!(
                keys.spills * 20 < keys.spilled().max(20),
                "{kib} KiB: {} spills of {} keys",
                keys.spills,
                keys.spilled()
            );
        }
    }

    #[test]
    fn with_no_budget_every_key_is_kept_in_the_database() {
        let mut keys = KeySets::new(0);
        let a = keys.add();
        assert_eq!(keys.first_or_insert(a, "x", 0, 1).unwrap(), None);
        assert_eq!(keys.first_or_insert(a, "y", 0, 2).unwrap(), None);
        assert!(keys.held() <= 1, "one key at most waits in memory");
        assert_eq!(keys.spilled(), 1);
        assert_eq!(keys.first_or_insert(a, "x", 1, 5).unwrap(), Some((0, 1)));
        assert_eq!(keys.first_or_insert(a, "y", 1, 6).unwrap(), Some((0, 2)));
    }

    #[test]
    fn persons_are_found_in_memory_and_past_their_budget() {
        for budget in [64 << 20, 0] {
            let mut p = PersonKeys::new(budget);
            for i in 0..500 {
                p.insert(&format!(" {} ", 100_000 + i)).unwrap();
            }
            p.insert("   ").unwrap();
            assert!(p.contains("100000") && p.contains(" 100499"), "{budget}");
            assert!(!p.contains("100500") && !p.contains(""), "{budget}");
            assert!(p.take_failure().is_none());
            assert_eq!(p.keys.held() as u64 + p.keys.spilled(), 500);
            if budget == 0 {
                assert!(p.keys.spilled() >= 499);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn it_answers_as_a_map_of_strings(
            keys in proptest::collection::vec(("[a-c]{0,3}", 0usize..2), 0..300),
            budget in proptest::sample::select(vec![0u64, 64, 512, 4096, 64 << 20]),
        ) {
            let mut set = KeySets::new(budget);
            let sets = [set.add(), set.add()];
            let mut map = std::collections::HashMap::new();
            for (i, (k, s)) in keys.iter().enumerate() {
                let want = map.get(&(k.as_str(), *s)).copied();
                if want.is_none() {
                    map.insert((k.as_str(), *s), (i as u32 % 3, i as u64));
                }
                let got = set.first_or_insert(sets[*s], k, i as u32 % 3, i as u64).unwrap();
                proptest::prop_assert_eq!(got, want);
            }
            proptest::prop_assert_eq!(set.held() as u64 + set.spilled(), map.len() as u64);
        }
    }
}
