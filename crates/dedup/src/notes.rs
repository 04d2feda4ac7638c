//! Near-duplicate case notes and chronology entries: same subjects, dates
//! within a window, and text that is nearly the same (spacing, punctuation,
//! case, a few slipped words, or one cut short).
//!
//! Text similarity is the share of the shorter text's word trigrams found
//! in the longer one, so a copy cut at a sentence end scores 1; the shorter
//! must still be a given share of the longer. Two texts that share no
//! trigram are never near duplicates, whatever the threshold.
//!
//! Candidates come from an inverted index of trigrams per day (prefix
//! filtering), not from all pairs of a subject's day, and identical texts
//! are indexed once: a thousand copies of one note cost a thousand look-ups.

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

/// Length in bytes of the text compared (what [`text_of`] joins), without
/// building it.
pub(crate) fn text_len(r: &Record) -> usize {
    let parts: [Option<&String>; 2] = match r {
        Record::CaseNote(n) => [n.title.as_ref(), n.text.as_ref()],
        Record::ChronologyEntry(c) => [c.description.as_ref(), c.analysis.as_ref()],
        _ => [None, None],
    };
    let present: Vec<usize> = parts.iter().flatten().map(|s| s.len()).collect();
    present.iter().sum::<usize>() + present.len().saturating_sub(1)
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
#[cfg(test)]
pub(crate) fn similarity(a: &str, b: &str, cfg: &NotesConfig) -> (f64, bool) {
    let (sa, na) = shingles(a);
    let (sb, nb) = shingles(b);
    let ratio = na.min(nb) as f64 / na.max(nb).max(1) as f64;
    (containment(&sa, &sb), ratio >= cfg.min_length_ratio)
}

/// Texts of one day of one group that are identical (same shingles, same
/// word count): compared once, linked to each other in read order.
struct Class {
    shingles: Vec<u64>,
    words: usize,
    /// The member read last (links go to it).
    latest: usize,
    day: i64,
}

/// The index of one day's classes: every shingle, and each class's prefix
/// shingles (enough of them that any pair at or above the threshold shares
/// one; see [`prefix_len`]).
#[derive(Default)]
struct DayIndex {
    day: i64,
    by_set: FxHashMap<u64, Vec<u32>>,
    full: FxHashMap<u64, Vec<u32>>,
    prefix: FxHashMap<u64, Vec<u32>>,
}

/// Shingles of a set of `n` that must be indexed so that a set of `n`
/// (the shorter of a pair) holding a share `t` of its shingles in the
/// longer shares at least one of them with it (prefix filtering: the
/// pair has at least ceil(t n) in common, so any n - ceil(t n) + 1 of the
/// shorter's include one). Rounded in the safe direction.
fn prefix_len(n: usize, t: f64) -> usize {
    let need = (t * n as f64 - 1e-9).ceil().max(1.0) as usize;
    (n + 1).saturating_sub(need).min(n)
}

fn set_hash(shingles: &[u64], words: usize) -> u64 {
    let mut h = FxHasher::default();
    shingles.hash(&mut h);
    words.hash(&mut h);
    h.finish()
}

/// Compares the notes and entries among `idx` (indices into `records`) of
/// the same subjects within the date window, and returns links at or above
/// the threshold: enough of them to join every group that all matching
/// pairs would join (not every pair; a thousand copies of one note give
/// 999 links).
///
/// Work is near-linear: notes are read in date order; each is compared
/// only with the texts of the window's days that share a prefix shingle
/// with it (an inverted index per day), and identical texts of one day
/// are one entry of that index.
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
    for k in keys {
        let Some(g) = groups.get_mut(&k) else {
            continue;
        };
        if g.len() < 2 {
            continue;
        }
        g.sort_unstable();
        link_group(records, g, cfg, &mut out);
    }
    out.sort_by_key(|p| (p.a, p.b));
    out
}

fn link_group(records: &[Record], g: &[(i64, usize)], cfg: &NotesConfig, out: &mut Vec<NearPair>) {
    let t = cfg.threshold;
    let window = cfg.date_window_days;
    let mut classes: Vec<Class> = Vec::new();
    let mut days: std::collections::VecDeque<DayIndex> = std::collections::VecDeque::new();
    // Empty texts match only empty texts (and only when no length ratio is asked).
    let mut last_empty: Option<(i64, usize)> = None;
    let mut seen: Vec<u32> = Vec::new();
    let mut stamp = 0u32;
    for &(day, i) in g {
        let (sh, nw) = shingles(&text_of(&records[i]));
        // Days out of the window are dropped, with their texts.
        while days.front().is_some_and(|d| day - d.day > window) {
            if let Some(d) = days.pop_front() {
                for cs in d.by_set.into_values() {
                    for c in cs {
                        classes[c as usize].shingles = Vec::new();
                    }
                }
            }
        }
        if sh.is_empty() {
            if cfg.min_length_ratio <= 0.0 {
                if let Some((d0, j)) = last_empty.filter(|(d0, _)| day - d0 <= window) {
                    out.push(NearPair {
                        a: j.min(i),
                        b: j.max(i),
                        similarity: 1.0,
                        days_apart: day - d0,
                    });
                }
                last_empty = Some((day, i));
            }
            continue;
        }
        stamp += 1;
        if seen.len() < classes.len() + 1 {
            seen.resize(classes.len() + 1, 0);
        }
        // Candidates: classes where this text is the shorter (its prefix in
        // their full index) or the longer (its shingles in their prefixes).
        let mut cands: Vec<u32> = Vec::new();
        let p = prefix_len(sh.len(), t);
        for d in &days {
            for (keys, index) in [(&sh[..p], &d.full), (&sh[..], &d.prefix)] {
                for s in keys {
                    for &c in index.get(s).map_or(&[][..], |v| &v[..]) {
                        if seen[c as usize] != stamp {
                            seen[c as usize] = stamp;
                            cands.push(c);
                        }
                    }
                }
            }
        }
        cands.sort_unstable();
        let hash = set_hash(&sh, nw);
        let mut same: Option<u32> = None;
        for c in cands {
            let cl = &classes[c as usize];
            if cl.day == day && cl.words == nw && cl.shingles == sh {
                same = Some(c);
                continue;
            }
            let ratio = nw.min(cl.words) as f64 / nw.max(cl.words).max(1) as f64;
            if ratio < cfg.min_length_ratio {
                continue;
            }
            let sim = containment(&sh, &cl.shingles);
            if sim >= t {
                out.push(NearPair {
                    a: cl.latest.min(i),
                    b: cl.latest.max(i),
                    similarity: sim,
                    days_apart: day - cl.day,
                });
            }
        }
        if same.is_none() {
            // An identical text of the same day that shares no prefix shingle
            // cannot exist (it holds them all), but look it up by hash too.
            if let Some(d) = days.back().filter(|d| d.day == day) {
                same = d.by_set.get(&hash).and_then(|v| {
                    v.iter().copied().find(|&c| {
                        let cl = &classes[c as usize];
                        cl.words == nw && cl.shingles == sh
                    })
                });
            }
        }
        match same {
            Some(c) => {
                // Same text, same day: similarity 1, length ratio 1.
                let cl = &mut classes[c as usize];
                out.push(NearPair {
                    a: cl.latest.min(i),
                    b: cl.latest.max(i),
                    similarity: 1.0,
                    days_apart: 0,
                });
                cl.latest = i;
            }
            None => {
                let c = classes.len() as u32;
                if days.back().is_none_or(|d| d.day != day) {
                    days.push_back(DayIndex {
                        day,
                        ..DayIndex::default()
                    });
                }
                if let Some(d) = days.back_mut() {
                    d.by_set.entry(hash).or_default().push(c);
                    for s in &sh {
                        d.full.entry(*s).or_default().push(c);
                    }
                    for s in &sh[..prefix_len(sh.len(), t)] {
                        d.prefix.entry(*s).or_default().push(c);
                    }
                }
                classes.push(Class {
                    shingles: sh,
                    words: nw,
                    latest: i,
                    day,
                });
            }
        }
    }
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
