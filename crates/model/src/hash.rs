//! Content hashes and stable ids.
//!
//! The content hash of a record is SHA-256 over a canonical encoding of its
//! fields: keys sorted, strings in Unicode NFC with whitespace folded (trimmed,
//! inner runs made one space), empty strings and nulls left out, and the
//! header (id, source keys, provenance) excluded, so two exports of the same
//! facts under different ids hash alike. Each value is written with a type tag
//! and a length so that no two different records share an encoding.

use sha2::{Digest, Sha256 as Hasher};
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

use crate::{Record, RecordKind, Sha256};

/// Unicode NFC with whitespace folded: trimmed, and every run of whitespace
/// inside made one ASCII space.
pub fn fold_text(s: &str) -> String {
    fold(s).into_owned()
}

/// [`fold_text`], borrowing text that is already folded (most of it: an
/// export's values are NFC with single spaces), so hashing copies nothing.
fn fold(s: &str) -> std::borrow::Cow<'_, str> {
    if is_nfc(s) {
        let mut prev_space = true;
        let mut folded = true;
        for c in s.chars() {
            if c.is_whitespace() {
                if prev_space || c != ' ' {
                    folded = false;
                    break;
                }
                prev_space = true;
            } else {
                prev_space = false;
            }
        }
        if folded && (!prev_space || s.is_empty()) {
            return std::borrow::Cow::Borrowed(s);
        }
    }
    std::borrow::Cow::Owned(fold_slow(s))
}

/// Hashes [`fold_text`] of `s` as a tagged string without building it
/// when `s` is NFC: its words, one space between.
fn write_folded(h: &mut Hasher, s: &str) {
    if !is_nfc(s) {
        write_tagged(h, b's', fold_slow(s).as_bytes());
        return;
    }
    // Most text is folded already (single spaces, no other white space):
    // hashed as it is, without a copy.
    if is_plainly_folded(s.as_bytes()) {
        write_tagged(h, b's', s.as_bytes());
        return;
    }
    // Otherwise folded into one reused buffer and hashed at once (many
    // small hasher updates cost more than the copy).
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        fold_into(s, &mut buf);
        write_tagged(h, b's', &buf);
    });
}

/// [`fold_text`] of NFC `s` into `buf`: runs without white space (but
/// single spaces) copied whole, found by [`next_suspect`]; only the bytes
/// it stops at are looked at one by one.
fn fold_into(s: &str, buf: &mut Vec<u8>) {
    buf.clear();
    let b = s.as_bytes();
    let mut pending = false;
    let mut i = 0;
    while i < b.len() {
        let j = next_suspect(b, i);
        if j > i {
            let mut seg = &b[i..j];
            if let Some(rest) = seg.strip_prefix(b" ") {
                pending = true;
                seg = rest;
            }
            let trail = seg.last() == Some(&b' ');
            if trail {
                seg = &seg[..seg.len() - 1];
            }
            if !seg.is_empty() {
                if pending && !buf.is_empty() {
                    buf.push(b' ');
                }
                buf.extend_from_slice(seg);
                pending = false;
            }
            pending |= trail;
            i = j;
            continue;
        }
        let c = b[i];
        let (ws, width) = match c {
            b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' => (true, 1),
            0xc2 | 0xe1 | 0xe2 | 0xe3 => {
                let w = if c == 0xc2 { 2 } else { 3 };
                let ch = s.get(i..i + w).and_then(|t| t.chars().next());
                (ch.is_some_and(char::is_whitespace), w)
            }
            _ => (false, 1),
        };
        let width = width.min(b.len() - i);
        if ws {
            pending = true;
        } else {
            if pending && !buf.is_empty() {
                buf.push(b' ');
            }
            pending = false;
            buf.extend_from_slice(&b[i..i + width]);
        }
        i += width;
    }
}

/// May `x` (followed by `next`) start white space other than one space
/// between words: a control, two spaces, or the lead byte of U+0085,
/// U+00A0, U+1680, U+2000..U+3000.
#[inline(always)]
fn suspect(x: u8, next: u8) -> bool {
    x < 0x20 || x == 0xc2 || (0xe1..=0xe3).contains(&x) || (x == b' ' && next == b' ')
}

/// The first index from `i` at which [`suspect`] holds, or `b.len()`.
/// Chunks are tested without early exit so that the test vectorises.
fn next_suspect(b: &[u8], mut i: usize) -> usize {
    const N: usize = 32;
    while i + N < b.len() {
        let c = &b[i..=i + N];
        let mut bad = false;
        for j in 0..N {
            bad |= suspect(c[j], c[j + 1]);
        }
        if bad {
            break;
        }
        i += N;
    }
    while i < b.len() {
        if suspect(b[i], b.get(i + 1).copied().unwrap_or(0)) {
            return i;
        }
        i += 1;
    }
    b.len()
}

/// Whether `b` (UTF-8) is certainly its own [`fold_text`] when NFC: no
/// leading or trailing space, no two spaces in a row, and no byte that
/// may start other white space (controls, and the lead bytes of U+0085,
/// U+00A0, U+1680, U+2000..U+3000). `false` is not certain: the caller
/// folds then. Chunks are tested without early exit so that the test
/// vectorises.
fn is_plainly_folded(b: &[u8]) -> bool {
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return true;
    };
    first != b' ' && last != b' ' && next_suspect(b, 0) == b.len()
}

fn fold_slow(s: &str) -> String {
    let nfc: String;
    let s = if is_nfc(s) {
        s
    } else {
        nfc = s.nfc().collect();
        &nfc
    };
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// SHA-256 of the record's canonical content.
pub fn content_sha256(record: &Record) -> Sha256 {
    let mut value = serde_json::to_value(record).unwrap_or(serde_json::Value::Null);
    if let serde_json::Value::Object(map) = &mut value {
        map.remove("id");
        map.remove("source_keys");
        map.remove("provenance");
    }
    let mut h = Hasher::new();
    write_value(&mut h, &value);
    Sha256(h.finalize().into())
}

/// [`content_sha256`] of a record given as its JSON object (as a mapping
/// builds it before the record is typed), without serialising it again:
/// `id`, `source_keys` and `provenance` are left out as there.
pub fn content_sha256_of_json(map: &serde_json::Map<String, serde_json::Value>) -> Sha256 {
    const LEFT_OUT: [&str; 3] = ["id", "source_keys", "provenance"];
    let mut keys: Vec<&String> = map
        .iter()
        .filter(|(k, v)| !LEFT_OUT.contains(&k.as_str()) && !is_blank(v))
        .map(|(k, _)| k)
        .collect();
    keys.sort();
    let mut h = Hasher::new();
    h.update([b'{']);
    h.update((keys.len() as u64).to_le_bytes());
    for k in keys {
        write_tagged(&mut h, b'k', k.as_bytes());
        write_value(&mut h, &map[k]);
    }
    Sha256(h.finalize().into())
}

/// One top-level value of a record, borrowed, for
/// [`content_sha256_of_fields`].
#[derive(Debug, Clone, Copy)]
pub enum ContentValue<'a> {
    /// A string (text, a code, a date as its ISO text).
    Str(&'a str),
    /// Yes or no.
    Bool(bool),
    /// A list of strings.
    Strs(&'a [String]),
    /// Extras (or any object) by name.
    Map(&'a std::collections::BTreeMap<String, serde_json::Value>),
}

/// [`content_sha256`] of a record given as its top-level fields (name,
/// value), as a mapping holds them before the record is built: the same
/// digest as of the record's JSON object (blank strings left out, keys
/// sorted here). `fields` is sorted in place.
pub fn content_sha256_of_fields(fields: &mut [(&str, ContentValue<'_>)]) -> Sha256 {
    fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let blank = |v: &ContentValue<'_>| matches!(v, ContentValue::Str(s) if s.trim().is_empty());
    let n = fields.iter().filter(|(_, v)| !blank(v)).count();
    let mut h = Hasher::new();
    h.update([b'{']);
    h.update((n as u64).to_le_bytes());
    for (k, v) in fields.iter() {
        if blank(v) {
            continue;
        }
        write_tagged(&mut h, b'k', k.as_bytes());
        match v {
            ContentValue::Str(s) => write_folded(&mut h, s),
            ContentValue::Bool(b) => h.update([b'b', u8::from(*b)]),
            ContentValue::Strs(items) => {
                h.update([b'[']);
                h.update((items.len() as u64).to_le_bytes());
                for s in *items {
                    write_folded(&mut h, s);
                }
            }
            ContentValue::Map(map) => {
                // A BTreeMap's keys are in order already.
                let keys: Vec<&String> = map.keys().filter(|k| !is_blank(&map[*k])).collect();
                h.update([b'{']);
                h.update((keys.len() as u64).to_le_bytes());
                for k in keys {
                    write_tagged(&mut h, b'k', k.as_bytes());
                    write_value(&mut h, &map[k]);
                }
            }
        }
    }
    Sha256(h.finalize().into())
}

fn write_tagged(h: &mut Hasher, tag: u8, bytes: &[u8]) {
    h.update([tag]);
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

fn is_blank(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

fn write_value(h: &mut Hasher, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Null => h.update([b'n']),
        Value::Bool(b) => h.update([b'b', u8::from(*b)]),
        Value::Number(n) => write_tagged(h, b'#', n.to_string().as_bytes()),
        Value::String(s) => write_folded(h, s),
        Value::Array(items) => {
            h.update([b'[']);
            h.update((items.len() as u64).to_le_bytes());
            for item in items {
                write_value(h, item);
            }
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().filter(|k| !is_blank(&map[*k])).collect();
            keys.sort();
            h.update([b'{']);
            h.update((keys.len() as u64).to_le_bytes());
            for k in keys {
                write_tagged(h, b'k', k.as_bytes());
                write_value(h, &map[k]);
            }
        }
    }
}

/// The stable id of a record: its kind and the first 16 bytes (32 hex digits)
/// of SHA-256 over system and source key, e.g. `person:1f0c...`. The same
/// source record gets the same id in every run.
pub fn stable_id(kind: RecordKind, system: &str, source_key: &str) -> String {
    let mut h = Hasher::new();
    write_tagged(&mut h, b'k', kind.as_str().as_bytes());
    write_tagged(&mut h, b's', system.as_bytes());
    write_tagged(&mut h, b'v', source_key.trim().as_bytes());
    let digest: [u8; 32] = h.finalize().into();
    let mut buf = [0u8; 64];
    let kind = kind.as_str();
    let mut id = String::with_capacity(kind.len() + 33);
    id.push_str(kind);
    id.push(':');
    id.push_str(hex_into(&digest[..16], &mut buf));
    id
}

/// `bytes` as lowercase hex in the front of `buf` (at most 32 bytes), by
/// table: the `hex` crate's `encode` builds its string a `char` at a time,
/// which showed in profiles at a few hex digests per record.
pub fn hex_into<'b>(bytes: &[u8], buf: &'b mut [u8; 64]) -> &'b str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let n = bytes.len().min(32);
    for (i, b) in bytes[..n].iter().enumerate() {
        buf[2 * i] = DIGITS[usize::from(b >> 4)];
        buf[2 * i + 1] = DIGITS[usize::from(b & 0x0f)];
    }
    // Hex digits are ASCII: this cannot fail.
    std::str::from_utf8(&buf[..2 * n]).unwrap_or_default()
}

/// Whether `s` is certainly NFC from its bytes alone: ASCII, the Latin
/// letters up to U+02FF, and the punctuation of Windows-1252 (U+2010 to
/// U+203A, the euro sign, the trade mark sign). Each of those is its own
/// NFC, has canonical combining class 0 and composes with nothing before
/// it (a unit test checks every one against `unicode-normalization`), so
/// any string of them is NFC; `false` is not certain, and the caller asks
/// the full quick check. Most text of an ICS export is such a string, and
/// this scan costs a fraction of the quick check's, which decodes and
/// looks up every character.
fn plainly_nfc(b: &[u8]) -> bool {
    let mut i = 0;
    while i < b.len() {
        // Runs of ASCII 16 bytes at a time (the test vectorises).
        if let Some(chunk) = b.get(i..i + 16) {
            if chunk.iter().fold(0u8, |acc, &x| acc | x) < 0x80 {
                i += 16;
                continue;
            }
        }
        match b[i] {
            0x00..=0x7f => i += 1,
            0xc2..=0xcb => i += 2,
            0xe2 => {
                let ok = matches!(
                    (b.get(i + 1), b.get(i + 2)),
                    (Some(0x80), Some(0x90..=0xba))
                        | (Some(0x82), Some(0xac))
                        | (Some(0x84), Some(0xa2))
                );
                if !ok {
                    return false;
                }
                i += 3;
            }
            _ => return false,
        }
    }
    true
}

/// Whether `s` is in Unicode NFC (quick check: `Maybe` counts as not).
fn is_nfc(s: &str) -> bool {
    plainly_nfc(s.as_bytes()) || matches!(is_nfc_quick(s.chars()), IsNormalized::Yes)
}

#[cfg(test)]
mod fold_tests {
    use super::*;

    #[test]
    fn text_folds_as_split_whitespace_splits_it() {
        for s in [
            "",
            " ",
            "a",
            " a  b\tc\n",
            "caf\u{e9} \u{a0}x\u{2003}y\u{3000}z\u{85}w",
            "\u{e9}\u{e1}\u{2019}quote",
            "x\u{200b}y",
            "\r\n\u{2028}end\u{2029}",
        ] {
            let mut got = Vec::new();
            fold_into(s, &mut got);
            let want: Vec<&str> = s.split_whitespace().collect();
            assert_eq!(String::from_utf8(got).unwrap(), want.join(" "), "{s:?}");
            if is_plainly_folded(s.as_bytes()) {
                assert_eq!(want.join(" "), s, "{s:?}");
            }
        }
    }
}

#[cfg(test)]
mod folded_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Text said to be folded is its own fold, at any length (the
        /// test runs in chunks) and with any white space.
        #[test]
        fn plainly_folded_text_is_its_own_fold(
            s in "[a-c \t\n\u{a0}\u{85}\u{2003}\u{2019}\u{e9}]{0,80}"
        ) {
            if is_plainly_folded(s.as_bytes()) {
                prop_assert_eq!(fold_slow(&s), s.clone());
            }
            let mut got = Vec::new();
            fold_into(&s, &mut got);
            prop_assert_eq!(String::from_utf8(got).unwrap(), fold_slow(&s));
        }

        /// Long text folds as `split_whitespace` splits it, whatever runs
        /// of white space fall across the scan's chunks.
        #[test]
        fn long_text_folds_as_words_joined(
            s in "[ab \r\n\t\u{a0}\u{85}\u{1680}\u{2003}\u{200b}\u{2019}\u{3000}\u{1}]{0,200}"
        ) {
            let mut got = Vec::new();
            fold_into(&s, &mut got);
            let want: Vec<&str> = s.split_whitespace().collect();
            prop_assert_eq!(String::from_utf8(got).unwrap(), want.join(" "));
        }
    }

    #[test]
    fn a_double_space_past_the_first_chunk_is_seen() {
        for at in [30, 31, 32, 33, 63, 64, 65] {
            let s = format!("{}  b", "a".repeat(at));
            assert!(!is_plainly_folded(s.as_bytes()), "{at}");
            let s = format!("{} b", "a".repeat(at));
            assert!(is_plainly_folded(s.as_bytes()), "{at}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Header, Person, SourceKey};

    fn person(key: &str, first: &str) -> Record {
        Record::Person(Person {
            header: Header {
                id: stable_id(RecordKind::Person, "mosaic", key),
                source_keys: vec![SourceKey {
                    system: "mosaic".into(),
                    key: key.into(),
                }],
                provenance: vec![],
                extras: Default::default(),
            },
            first_name: Some(first.into()),
            last_name: Some("Okafor".into()),
            ..Person::default()
        })
    }

    #[test]
    fn folding_makes_whitespace_and_composition_alike() {
        assert_eq!(fold_text("  Zoe\u{0308}   \t Smith\n"), "Zo\u{eb} Smith");
        assert_eq!(fold_text(""), "");
    }

    #[test]
    fn content_hash_ignores_ids_and_spacing_but_not_content() {
        let a = content_sha256(&person("1", "Amara"));
        let b = content_sha256(&person("2", " Amara  "));
        let c = content_sha256(&person("1", "Amira"));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn empty_string_and_absent_hash_alike() {
        let mut p = person("1", "Amara");
        let a = content_sha256(&p);
        if let Record::Person(p) = &mut p {
            p.upn = Some("  ".into());
        }
        assert_eq!(a, content_sha256(&p));
    }

    #[test]
    fn stable_ids_depend_on_kind_system_and_key() {
        let a = stable_id(RecordKind::Person, "mosaic", "100");
        assert_eq!(a, stable_id(RecordKind::Person, "mosaic", "100"));
        assert_ne!(a, stable_id(RecordKind::CaseNote, "mosaic", "100"));
        assert_ne!(a, stable_id(RecordKind::Person, "lcs", "100"));
        assert!(a.starts_with("person:") && a.len() == "person:".len() + 32);
    }

    #[test]
    fn every_character_the_byte_scan_takes_for_nfc_is_nfc_of_class_zero() {
        use unicode_normalization::char::canonical_combining_class;
        let mut taken = 0;
        for c in (0u32..0x3000).filter_map(char::from_u32) {
            let mut buf = [0u8; 4];
            let bytes = c.encode_utf8(&mut buf).as_bytes();
            if !plainly_nfc(bytes) {
                continue;
            }
            taken += 1;
            assert_eq!(
                is_nfc_quick(std::iter::once(c)),
                IsNormalized::Yes,
                "U+{:04X}",
                c as u32
            );
            assert_eq!(canonical_combining_class(c), 0, "U+{:04X}", c as u32);
            // Nothing before it composes with it.
            for base in ['a', 'e', 'A', 'z', '\u{e9}', '\u{2019}'] {
                let pair: String = [base, c].iter().collect();
                assert_eq!(pair.nfc().collect::<String>(), pair, "U+{:04X}", c as u32);
            }
        }
        // ASCII, U+0080..U+02FF, U+2010..U+203A, the euro and trade mark.
        assert_eq!(taken, 0x80 + (0x300 - 0x80) + (0x203b - 0x2010) + 2);
        assert!(plainly_nfc(
            "Mum said \u{201c}I never thought\u{201d} \u{2013} caf\u{e9}".as_bytes()
        ));
        assert!(!plainly_nfc("cafe\u{301}".as_bytes()));
        assert!(!plainly_nfc("\u{2000}".as_bytes()));
        assert!(!plainly_nfc("\u{3042}".as_bytes()));
    }

    proptest::proptest! {
        #[test]
        fn the_byte_scan_never_takes_text_that_is_not_nfc(s in "\\PC{0,40}") {
            if plainly_nfc(s.as_bytes()) {
                proptest::prop_assert_eq!(s.nfc().collect::<String>(), s);
            }
        }

        #[test]
        fn hex_is_the_hex_crates(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..33)) {
            let mut buf = [0u8; 64];
            proptest::prop_assert_eq!(hex_into(&bytes, &mut buf), hex::encode(&bytes));
        }
    }
}
