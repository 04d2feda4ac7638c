//! The first place of every source key, for `key.duplicate`: the one set
//! of the pipeline that grows with the records read.
//!
//! Keys are kept end to end in one byte arena and the table holds only
//! their place in it and where the key was first seen, 24 bytes a key.
//! A map of boxed strings took about twice that, a small heap allocation
//! per key with its allocator overhead included (about 70 bytes a key
//! against about 37 here, measured as peak memory over a million keys).

use std::hash::{BuildHasher, BuildHasherDefault};

use rustc_hash::FxHasher;

/// A key's place in the arena and its first place in the inputs.
#[derive(Debug, Clone, Copy)]
struct Entry {
    off: u64,
    len: u32,
    file: u32,
    line: u64,
}

/// Source keys seen, each with the file and line it was first seen at.
#[derive(Default)]
pub(crate) struct KeySet {
    table: hashbrown::HashTable<Entry>,
    arena: Vec<u8>,
    hasher: BuildHasherDefault<FxHasher>,
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
        let arena = &self.arena;
        let at = |e: &Entry| -> &[u8] {
            let start = usize::try_from(e.off).unwrap_or(usize::MAX);
            arena
                .get(start..start.saturating_add(e.len as usize))
                .unwrap_or_default()
        };
        if let Some(e) = self.table.find(hash, |e| at(e) == key.as_bytes()) {
            return Some((e.file, e.line));
        }
        let (Ok(len), off) = (u32::try_from(key.len()), self.arena.len() as u64) else {
            // A key of 4 GiB: not remembered (the reader refuses records
            // that large long before).
            return None;
        };
        let hasher = self.hasher.clone();
        let arena = &self.arena;
        self.table.insert_unique(
            hash,
            Entry {
                off,
                len,
                file,
                line,
            },
            |e| {
                let start = usize::try_from(e.off).unwrap_or(usize::MAX);
                hasher.hash_one(
                    arena
                        .get(start..start.saturating_add(e.len as usize))
                        .unwrap_or_default(),
                )
            },
        );
        self.arena.extend_from_slice(key.as_bytes());
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
