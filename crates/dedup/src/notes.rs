//! Near-duplicate case notes and chronology entries: same subjects, dates
//! within a window, and text that is nearly the same (spacing, punctuation,
//! case, a few slipped words, or one cut short).
//!
//! Text similarity is the share of the shorter text's word trigrams found
//! in the longer one, so a copy cut at a sentence end scores 1; the shorter
//! must still be a given share of the longer.

use std::hash::{Hash, Hasher};

use casebridge_model::Record;
use chrono::NaiveDate;
use rustc_hash::{FxHashMap, FxHasher};

use crate::config::NotesConfig;
use crate::text::words;

/// What a note or entry is compared on.
struct NoteKey {
    subjects: String,
    date: Option<NaiveDate>,
}

fn key_of(r: &Record) -> Option<NoteKey> {
    let (subjects, date) = match r {
        Record::CaseNote(n) => (
            &n.subjects,
            n.contact_date.or(n.recorded_date).map(|d| d.date()),
        ),
        Record::ChronologyEntry(c) => (&c.subjects, c.start_date),
        _ => return None,
    };
    let mut s: Vec<&str> = subjects.iter().map(|s| s.trim()).collect();
    s.sort_unstable();
    s.dedup();
    Some(NoteKey {
        subjects: s.join("\u{1f}"),
        date,
    })
}

/// The text compared: title and body of a note, description and analysis
/// of an entry.
pub(crate) fn text_of(r: &Record) -> String {
    let parts: [Option<&String>; 2] = match r {
        Record::CaseNote(n) => [n.title.as_ref(), n.text.as_ref()],
        Record::ChronologyEntry(c) => [c.description.as_ref(), c.analysis.as_ref()],
        _ => [None, None],
    };
    parts
        .iter()
        .flatten()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Sorted, distinct hashes of word trigrams (single words for short texts),
/// and the number of words.
fn shingles(text: &str) -> (Vec<u64>, usize) {
    let w = words(text);
    let h = |ws: &[String]| {
        let mut s = FxHasher::default();
        ws.hash(&mut s);
        s.finish()
    };
    let mut out: Vec<u64> = if w.len() < 3 {
        w.chunks(1).map(h).collect()
    } else {
        w.windows(3).map(h).collect()
    };
    out.sort_unstable();
    out.dedup();
    (out, w.len())
}

fn containment(a: &[u64], b: &[u64]) -> f64 {
    let (s, l) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if s.is_empty() {
        return if l.is_empty() { 1.0 } else { 0.0 };
    }
    let (mut i, mut j, mut n) = (0, 0, 0usize);
    while i < s.len() && j < l.len() {
        match s[i].cmp(&l[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n as f64 / s.len() as f64
}

/// A near-duplicate pair found: record indices, similarity, days apart.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NearPair {
    pub a: usize,
    pub b: usize,
    pub similarity: f64,
    pub days_apart: i64,
}

/// Similarity of two texts, and whether the length rule lets them match.
pub(crate) fn similarity(a: &str, b: &str, cfg: &NotesConfig) -> (f64, bool) {
    let (sa, na) = shingles(a);
    let (sb, nb) = shingles(b);
    let ratio = na.min(nb) as f64 / na.max(nb).max(1) as f64;
    (containment(&sa, &sb), ratio >= cfg.min_length_ratio)
}

/// Compares the notes and entries among `idx` (indices into `records`) of
/// the same subjects within the date window; every pair at or above the
/// threshold.
pub(crate) fn near_pairs(records: &[Record], idx: &[usize], cfg: &NotesConfig) -> Vec<NearPair> {
    let mut groups: FxHashMap<(u8, String), Vec<(i64, usize)>> = FxHashMap::default();
    for &i in idx {
        let Some(k) = key_of(&records[i]) else {
            continue;
        };
        if k.subjects.is_empty() {
            continue;
        }
        let Some(date) = k.date else { continue };
        let kind = u8::from(matches!(records[i], Record::ChronologyEntry(_)));
        let day = i64::from(chrono::Datelike::num_days_from_ce(&date));
        groups.entry((kind, k.subjects)).or_default().push((day, i));
    }
    let mut keys: Vec<_> = groups.keys().cloned().collect();
    keys.sort();
    let mut out = Vec::new();
    let mut cache: FxHashMap<usize, (Vec<u64>, usize)> = FxHashMap::default();
    for k in keys {
        let Some(g) = groups.get_mut(&k) else {
            continue;
        };
        if g.len() < 2 {
            continue;
        }
        g.sort_unstable();
        for x in 0..g.len() {
            for y in x + 1..g.len() {
                let days = g[y].0 - g[x].0;
                if days > cfg.date_window_days {
                    break;
                }
                let (a, b) = (g[x].1.min(g[y].1), g[x].1.max(g[y].1));
                for i in [a, b] {
                    cache
                        .entry(i)
                        .or_insert_with(|| shingles(&text_of(&records[i])));
                }
                let (Some((sa, na)), Some((sb, nb))) = (cache.get(&a), cache.get(&b)) else {
                    continue;
                };
                let ratio = *na.min(nb) as f64 / *na.max(nb).max(&1) as f64;
                if ratio < cfg.min_length_ratio {
                    continue;
                }
                let s = containment(sa, sb);
                if s >= cfg.threshold {
                    out.push(NearPair {
                        a,
                        b,
                        similarity: s,
                        days_apart: days,
                    });
                }
            }
        }
    }
    out.sort_by_key(|p| (p.a, p.b));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Visited the family at home. Mother said the children were well. \
        We talked about school attendance and the plan. Next visit in two weeks.";

    #[test]
    fn spacing_slips_and_truncation_score_high() {
        let cfg = NotesConfig::default();
        let spaced = TEXT.replace("the family", "the  family");
        assert_eq!(similarity(TEXT, &spaced, &cfg), (1.0, true));
        let slip = TEXT.replace("attendance", "attendence");
        let (s, ok) = similarity(TEXT, &slip, &cfg);
        assert!(s > 0.85 && ok, "{s}");
        let cut = &TEXT[..TEXT.find("We talked").unwrap()];
        let (s, ok) = similarity(TEXT, cut, &cfg);
        assert!(s == 1.0 && ok, "{s}");
        let other = "Phoned the school about attendance. No answer; will try again tomorrow.";
        assert!(similarity(TEXT, other, &cfg).0 < 0.3);
        let (_, ok) = similarity(TEXT, "Visited the family.", &cfg);
        assert!(!ok, "a one-line note is not a copy of a long one");
    }
}
