//! The first place of every source key, for `key.duplicate`: the one set
//! of the pipeline that grows with the records read.
//!
//! Keys are kept end to end in one byte arena; a list holds where each
//! starts and where it was first seen (16 bytes and a file number), and
//! the hash table only the key's number in that list (4 bytes and its
//! control byte). A map of boxed strings took about 70 bytes a key, its
//! small heap allocation per key and the table's doubling included; this
//! takes about 30 with the key's own bytes, and a resize of the table
//! copies 4 bytes a key, not 24.

use std::hash::{BuildHasher, BuildHasherDefault};

use rustc_hash::FxHasher;

/// Where a key starts in the arena, and its first place in the inputs.
#[derive(Debug, Clone, Copy)]
struct Entry {
    off: u64,
    line: u64,
    file: u32,
}

/// Source keys seen, each with the file and line it was first seen at.
#[derive(Default)]
pub(crate) struct KeySet {
    /// Numbers of keys in `entries`.
    table: hashbrown::HashTable<u32>,
    entries: Vec<Entry>,
    arena: Vec<u8>,
    hasher: BuildHasherDefault<FxHasher>,
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

impl KeySet {
    /// Where `key` was first seen; otherwise notes it as seen at
    /// (`file`, `line`) and returns `None`.
    pub(crate) fn first_or_insert(
        &mut self,
        key: &str,
        file: u32,
        line: u64,
    ) -> Option<(u32, u64)> {
        let hash = self.hasher.hash_one(key.as_bytes());
        let (entries, arena) = (&self.entries, &self.arena);
        if let Some(&i) = self
            .table
            .find(hash, |&i| key_of(entries, arena, i) == key.as_bytes())
        {
            let e = entries.get(i as usize)?;
            return Some((e.file, e.line));
        }
        // Four thousand million keys: the rest are not remembered (no
        // export comes near).
        let i = u32::try_from(self.entries.len()).ok()?;
        self.entries.push(Entry {
            off: self.arena.len() as u64,
            line,
            file,
        });
        self.arena.extend_from_slice(key.as_bytes());
        let (hasher, entries, arena) = (&self.hasher, &self.entries, &self.arena);
        self.table
            .insert_unique(hash, i, |&j| hasher.hash_one(key_of(entries, arena, j)));
        None
    }

    /// Keys held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_seen_again_names_its_first_place_and_only_then() {
        let mut set = KeySet::default();
        assert_eq!(set.first_or_insert("3000001", 0, 2), None);
        assert_eq!(set.first_or_insert("3000002", 0, 3), None);
        assert_eq!(set.first_or_insert("", 1, 9), None);
        assert_eq!(set.first_or_insert("3000001", 1, 7), Some((0, 2)));
        assert_eq!(set.first_or_insert("", 2, 1), Some((1, 9)));
        // A prefix or an extension of a key is another key.
        assert_eq!(set.first_or_insert("300000", 0, 4), None);
        assert_eq!(set.first_or_insert("30000011", 0, 5), None);
        assert_eq!(set.len(), 5);
    }

    proptest::proptest! {
        #[test]
        fn it_answers_as_a_map_of_strings(keys in proptest::collection::vec("[a-c]{0,3}", 0..200)) {
            let mut set = KeySet::default();
            let mut map = std::collections::HashMap::new();
            for (i, k) in keys.iter().enumerate() {
                let want = map.get(k.as_str()).copied();
                if want.is_none() {
                    map.insert(k.clone(), (i as u32 % 3, i as u64));
                }
                proptest::prop_assert_eq!(set.first_or_insert(k, i as u32 % 3, i as u64), want);
            }
            proptest::prop_assert_eq!(set.len(), map.len());
        }
    }
}
