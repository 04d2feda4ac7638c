//! Person linkage: comparison features, blocking, field comparisons,
//! Fellegi-Sunter weights with m estimated by EM and u from random pairs,
//! guards, and clustering of pairwise matches.
//!
//! Candidate pairs come from blocking passes (a pair is compared once, in
//! the first pass whose keys it shares), so the work grows with candidate
//! pairs. EM runs on the counts of distinct comparison patterns, not on
//! the pairs, so it costs the same for a thousand pairs or fifty million.

use std::hash::{Hash, Hasher};

use casebridge_model::Person;
use chrono::Datelike;
use rustc_hash::{FxHashMap, FxHasher};
use serde::Serialize;

use crate::config::{DedupConfig, LinkageConfig};
use crate::text::{jaro_winkler, one_edit, soundex, squash, words, Nicknames};

/// A compared field and the names of its comparison levels (level 0,
/// `null`, means one side is missing and weighs nothing).
pub(crate) struct FieldSpec {
    pub name: &'static str,
    pub levels: &'static [&'static str],
}

pub(crate) const FIRST: usize = 0;
pub(crate) const LAST: usize = 1;
pub(crate) const DOB: usize = 2;
pub(crate) const GENDER: usize = 3;
pub(crate) const NHS: usize = 4;
pub(crate) const UPN: usize = 5;
pub(crate) const POSTCODE: usize = 6;
pub(crate) const ADDRESS: usize = 7;
pub(crate) const LOCALITY: usize = 8;
pub(crate) const OTHER_ID: usize = 9;
pub(crate) const ETHNICITY: usize = 10;

pub(crate) const FIELDS: [FieldSpec; 11] = [
    FieldSpec {
        name: "first_name",
        levels: &[
            "null",
            "exact",
            "nickname",
            "jw>=0.92",
            "jw>=0.80",
            "initial",
            "swapped",
            "different",
        ],
    },
    FieldSpec {
        name: "last_name",
        levels: &[
            "null",
            "exact",
            "jw>=0.92",
            "jw>=0.80",
            "swapped",
            "different",
        ],
    },
    FieldSpec {
        name: "date_of_birth",
        levels: &[
            "null",
            "exact",
            "day-month-swap",
            "one-slip",
            "two-parts",
            "different",
        ],
    },
    FieldSpec {
        name: "gender",
        levels: &["null", "same", "different"],
    },
    FieldSpec {
        name: "nhs_number",
        levels: &["null", "exact", "one-slip", "different"],
    },
    FieldSpec {
        name: "upn",
        levels: &["null", "exact", "one-slip", "different"],
    },
    FieldSpec {
        name: "postcode",
        levels: &["null", "exact", "one-slip", "different"],
    },
    FieldSpec {
        name: "address",
        levels: &["null", "sim>=0.95", "sim>=0.80", "sim>=0.60", "different"],
    },
    FieldSpec {
        name: "locality",
        levels: &["null", "exact", "jw>=0.90", "different"],
    },
    FieldSpec {
        name: "other_id",
        levels: &["null", "exact", "one-slip", "different"],
    },
    FieldSpec {
        name: "ethnicity",
        levels: &["null", "same", "different"],
    },
];

const NF: usize = FIELDS.len();
const BITS: u32 = 4;

/// A comparison pattern: the level of every field, 4 bits each.
pub(crate) type Pattern = u64;

pub(crate) fn level(p: Pattern, f: usize) -> usize {
    ((p >> (f as u32 * BITS)) & 0xF) as usize
}

fn set_level(p: &mut Pattern, f: usize, l: usize) {
    *p |= (l as u64) << (f as u32 * BITS);
}

#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: u32,
    len: u32,
}

/// Comparison features of one person, text held in a shared arena.
#[derive(Debug, Clone, Copy, Default)]
struct Feat {
    first: Span,
    /// Nickname groups of the first name (up to two; 0 = none).
    nick: [u32; 2],
    last: Span,
    /// yyyymmdd, 0 when missing.
    dob: u32,
    gender: u32,
    ethnicity: u32,
    nhs: Span,
    upn: Span,
    postcode: Span,
    address: Span,
    locality: Span,
    other: Span,
}

/// Features of every person, ready to compare.
pub(crate) struct Features {
    arena: String,
    /// Sorted character bigrams of each address, `grams[addr_grams[i]]`.
    grams: Vec<u16>,
    addr_grams: Vec<(u32, u32)>,
    feats: Vec<Feat>,
    codes: FxHashMap<String, u32>,
    pub nick: Nicknames,
    enabled: [bool; NF],
    /// Per record, its group of records identical in every feature (they
    /// compare alike with anyone, so linkage compares a group once).
    tuple: Vec<u32>,
    /// Per group, its first record.
    tuple_rep: Vec<u32>,
    tuple_index: FxHashMap<u64, Vec<u32>>,
}

fn hash_str(salt: u64, parts: &[&str]) -> u64 {
    let mut h = FxHasher::default();
    salt.hash(&mut h);
    for p in parts {
        p.hash(&mut h);
    }
    h.finish() | 1
}

fn alnum_upper(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

impl Features {
    pub fn new(cfg: &LinkageConfig) -> Self {
        let mut enabled = [true; NF];
        for (i, f) in FIELDS.iter().enumerate() {
            if cfg.ignore_fields.iter().any(|x| x == f.name) {
                enabled[i] = false;
            }
        }
        Features {
            arena: String::new(),
            grams: Vec::new(),
            addr_grams: Vec::new(),
            feats: Vec::new(),
            codes: FxHashMap::default(),
            nick: Nicknames::new(&cfg.nicknames),
            enabled,
            tuple: Vec::new(),
            tuple_rep: Vec::new(),
            tuple_index: FxHashMap::default(),
        }
    }

    /// The texts and codes of a record's features, for grouping.
    fn tuple_of(&self, f: &Feat) -> ([&str; 8], [u32; 5]) {
        (
            [
                self.get(f.first),
                self.get(f.last),
                self.get(f.nhs),
                self.get(f.upn),
                self.get(f.postcode),
                self.get(f.address),
                self.get(f.locality),
                self.get(f.other),
            ],
            [f.nick[0], f.nick[1], f.dob, f.gender, f.ethnicity],
        )
    }

    /// The group of records identical to record `i` in every feature.
    pub fn tuple(&self, i: usize) -> u32 {
        self.tuple[i]
    }

    /// The first record of group `t`.
    pub fn tuple_rep(&self, t: u32) -> usize {
        self.tuple_rep[t as usize] as usize
    }

    pub fn len(&self) -> usize {
        self.feats.len()
    }

    fn put(&mut self, s: &str) -> Span {
        if s.is_empty() {
            return Span::default();
        }
        let start = self.arena.len() as u32;
        self.arena.push_str(s);
        Span {
            start,
            len: s.len() as u32,
        }
    }

    fn code(&mut self, s: Option<&str>) -> u32 {
        let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
            return 0;
        };
        let key = s.to_lowercase();
        let next = self.codes.len() as u32 + 1;
        *self.codes.entry(key).or_insert(next)
    }

    fn get(&self, s: Span) -> &str {
        let (a, b) = (s.start as usize, (s.start + s.len) as usize);
        self.arena.get(a..b).unwrap_or("")
    }

    /// Adds a person's features; returns its index.
    pub fn push(&mut self, p: &Person) -> usize {
        fn opt(s: &Option<String>) -> &str {
            s.as_deref().unwrap_or("")
        }
        // A first name may hold middle names too ("Mary Jane"): the first word compares.
        let first_word = words(opt(&p.first_name))
            .into_iter()
            .next()
            .unwrap_or_default();
        let first = squash(&first_word);
        let last = squash(opt(&p.last_name));
        let dob = p.date_of_birth.map_or(0, |d| {
            (d.year().max(0) as u32) * 10000 + d.month() * 100 + d.day()
        });
        let groups = self.nick.groups_of(&first);
        let nick = [
            groups.first().map_or(0, |g| g + 1),
            groups.get(1).map_or(0, |g| g + 1),
        ];
        let f = Feat {
            nick,
            first: self.put(&first),
            last: self.put(&last),
            dob,
            gender: self.code(p.gender.as_deref()),
            ethnicity: self.code(p.ethnicity.as_deref()),
            nhs: self.put(&alnum_upper(opt(&p.nhs_number))),
            upn: self.put(&alnum_upper(opt(&p.upn))),
            postcode: self.put(&alnum_upper(opt(&p.postcode))),
            address: self.put(&words(opt(&p.address)).join(" ")),
            locality: self.put(&squash(opt(&p.locality))),
            other: self.put(&alnum_upper(opt(&p.other_id))),
        };
        let start = self.grams.len() as u32;
        let addr = self.get(f.address).as_bytes();
        let mut g: Vec<u16> = addr
            .windows(2)
            .map(|w| u16::from(w[0]) << 8 | u16::from(w[1]))
            .collect();
        g.sort_unstable();
        self.grams.extend(g);
        self.addr_grams
            .push((start, self.grams.len() as u32 - start));
        let i = self.feats.len() as u32;
        let key = self.tuple_of(&f);
        let mut h = FxHasher::default();
        key.hash(&mut h);
        let h = h.finish();
        let found = self.tuple_index.get(&h).and_then(|ts| {
            ts.iter().copied().find(|&t| {
                let r = self.tuple_rep[t as usize] as usize;
                self.tuple_of(&self.feats[r]) == key
            })
        });
        let t = match found {
            Some(t) => t,
            None => {
                let t = self.tuple_rep.len() as u32;
                self.tuple_rep.push(i);
                self.tuple_index.entry(h).or_default().push(t);
                t
            }
        };
        self.tuple.push(t);
        self.feats.push(f);
        self.feats.len() - 1
    }

    /// The blocking key of record `i` for a pass (0: a key part is missing).
    pub fn block_key(&self, i: usize, salt: u64, keys: &[String]) -> u64 {
        let f = &self.feats[i];
        let mut parts: Vec<String> = Vec::with_capacity(keys.len());
        for k in keys {
            let v = match k.as_str() {
                "date_of_birth" => (f.dob != 0).then(|| f.dob.to_string()),
                "dob_year" => (f.dob != 0).then(|| (f.dob / 10000).to_string()),
                "dob_month_day" => (f.dob != 0).then(|| (f.dob % 10000).to_string()),
                "nhs_number" => Some(self.get(f.nhs).to_string()),
                "upn" => Some(self.get(f.upn).to_string()),
                "other_id" => Some(self.get(f.other).to_string()),
                "postcode" => Some(self.get(f.postcode).to_string()),
                "locality" => Some(self.get(f.locality).to_string()),
                "first_name" => Some(self.nick.canonical(self.get(f.first)).to_string()),
                "last_name" => Some(self.get(f.last).to_string()),
                "first_name_soundex" => Some(soundex(self.nick.canonical(self.get(f.first)))),
                "last_name_soundex" => Some(soundex(self.get(f.last))),
                "first_initial" => self.get(f.first).get(..1).map(str::to_string),
                "gender" => (f.gender != 0).then(|| f.gender.to_string()),
                _ => None,
            };
            match v {
                Some(v) if !v.is_empty() => parts.push(v),
                _ => return 0,
            }
        }
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        hash_str(salt, &refs)
    }

    /// Compares records `a` and `b` into a pattern.
    pub fn compare(&self, a: usize, b: usize) -> Pattern {
        let (x, y) = (&self.feats[a], &self.feats[b]);
        let mut p: Pattern = 0;
        let e = &self.enabled;
        let (fx, fy) = (self.get(x.first), self.get(y.first));
        let (lx, ly) = (self.get(x.last), self.get(y.last));
        if e[FIRST] && !fx.is_empty() && !fy.is_empty() {
            let l = if fx == fy {
                1
            } else if x.nick[0] != 0 && x.nick.iter().any(|g| *g != 0 && y.nick.contains(g)) {
                2
            } else {
                let jw = jaro_winkler(fx, fy);
                if jw >= 0.92 || one_edit(fx, fy) {
                    3
                } else if jw >= 0.80 {
                    4
                } else if (fx.len() == 1 || fy.len() == 1) && fx.as_bytes()[0] == fy.as_bytes()[0] {
                    5
                } else if !lx.is_empty() && fx == ly && fy == lx {
                    6
                } else {
                    7
                }
            };
            set_level(&mut p, FIRST, l);
        }
        if e[LAST] && !lx.is_empty() && !ly.is_empty() {
            let l = if lx == ly {
                1
            } else {
                let jw = jaro_winkler(lx, ly);
                if jw >= 0.92 || one_edit(lx, ly) {
                    2
                } else if jw >= 0.80 {
                    3
                } else if !fx.is_empty() && fx == ly && fy == lx {
                    4
                } else {
                    5
                }
            };
            set_level(&mut p, LAST, l);
        }
        if e[DOB] && x.dob != 0 && y.dob != 0 {
            set_level(&mut p, DOB, dob_level(x.dob, y.dob));
        }
        if e[GENDER] && x.gender != 0 && y.gender != 0 {
            set_level(&mut p, GENDER, if x.gender == y.gender { 1 } else { 2 });
        }
        if e[ETHNICITY] && x.ethnicity != 0 && y.ethnicity != 0 {
            set_level(
                &mut p,
                ETHNICITY,
                if x.ethnicity == y.ethnicity { 1 } else { 2 },
            );
        }
        for (f, sx, sy) in [
            (NHS, x.nhs, y.nhs),
            (UPN, x.upn, y.upn),
            (POSTCODE, x.postcode, y.postcode),
            (OTHER_ID, x.other, y.other),
        ] {
            let (u, v) = (self.get(sx), self.get(sy));
            if e[f] && !u.is_empty() && !v.is_empty() {
                let l = if u == v {
                    1
                } else if one_edit(u, v) {
                    2
                } else {
                    3
                };
                set_level(&mut p, f, l);
            }
        }
        let (ax, ay) = (self.get(x.address), self.get(y.address));
        if e[ADDRESS] && !ax.is_empty() && !ay.is_empty() {
            let l = if ax == ay {
                1
            } else {
                let s = dice(self.grams_of(a), self.grams_of(b));
                if s >= 0.95 {
                    1
                } else if s >= 0.80 {
                    2
                } else if s >= 0.60 {
                    3
                } else {
                    4
                }
            };
            set_level(&mut p, ADDRESS, l);
        }
        let (cx, cy) = (self.get(x.locality), self.get(y.locality));
        if e[LOCALITY] && !cx.is_empty() && !cy.is_empty() {
            let l = if cx == cy {
                1
            } else if jaro_winkler(cx, cy) >= 0.90 {
                2
            } else {
                3
            };
            set_level(&mut p, LOCALITY, l);
        }
        p
    }

    fn grams_of(&self, i: usize) -> &[u16] {
        let (s, n) = self.addr_grams[i];
        self.grams.get(s as usize..(s + n) as usize).unwrap_or(&[])
    }

    /// Years between the two dates of birth, when both are known.
    pub fn dob_years_apart(&self, a: usize, b: usize) -> Option<u32> {
        let (x, y) = (self.feats[a].dob, self.feats[b].dob);
        (x != 0 && y != 0).then(|| (x / 10000).abs_diff(y / 10000))
    }

    /// Per field, the chance that two random records with the field both
    /// present hold the same value (from value frequencies).
    fn exact_agreement(&self) -> [f64; NF] {
        let mut out = [0.0; NF];
        for (f, o) in out.iter_mut().enumerate() {
            let mut counts: FxHashMap<u64, u64> = FxHashMap::default();
            for x in &self.feats {
                let key = match f {
                    FIRST => hash_str(0, &[self.get(x.first)]),
                    LAST => hash_str(0, &[self.get(x.last)]),
                    DOB => u64::from(x.dob),
                    GENDER => u64::from(x.gender),
                    ETHNICITY => u64::from(x.ethnicity),
                    NHS => hash_str(0, &[self.get(x.nhs)]),
                    UPN => hash_str(0, &[self.get(x.upn)]),
                    POSTCODE => hash_str(0, &[self.get(x.postcode)]),
                    ADDRESS => hash_str(0, &[self.get(x.address)]),
                    LOCALITY => hash_str(0, &[self.get(x.locality)]),
                    _ => hash_str(0, &[self.get(x.other)]),
                };
                if key != 0 && key != hash_str(0, &[""]) {
                    *counts.entry(key).or_insert(0) += 1;
                }
            }
            let n: f64 = counts.values().sum::<u64>() as f64;
            if n >= 2.0 {
                let same: f64 = counts
                    .values()
                    .map(|&c| (c as f64) * (c as f64 - 1.0))
                    .sum();
                *o = same / (n * (n - 1.0));
            }
        }
        out
    }

    /// Which fields hold a value in at least one record.
    pub fn present_fields(&self) -> [bool; NF] {
        let mut out = [false; NF];
        for f in &self.feats {
            let has = [
                f.first.len > 0,
                f.last.len > 0,
                f.dob != 0,
                f.gender != 0,
                f.nhs.len > 0,
                f.upn.len > 0,
                f.postcode.len > 0,
                f.address.len > 0,
                f.locality.len > 0,
                f.other.len > 0,
                f.ethnicity != 0,
            ];
            for (o, h) in out.iter_mut().zip(has) {
                *o |= h;
            }
        }
        for (o, e) in out.iter_mut().zip(self.enabled) {
            *o &= e;
        }
        out
    }
}

/// Dice coefficient of two sorted bigram lists (a multiset measure: word
/// order, a missing word and a typing slip cost a little).
fn dice(x: &[u16], y: &[u16]) -> f64 {
    if x.is_empty() || y.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut n) = (0, 0, 0usize);
    while i < x.len() && j < y.len() {
        match x[i].cmp(&y[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    2.0 * n as f64 / (x.len() + y.len()) as f64
}

/// Whether two yyyymmdd numbers are one slip apart (one digit changed, or
/// two neighbouring digits swapped), without allocating.
fn one_edit_digits(a: u32, b: u32) -> bool {
    let digits = |mut x: u32| {
        let mut d = [0u8; 8];
        for i in (0..8).rev() {
            d[i] = (x % 10) as u8;
            x /= 10;
        }
        d
    };
    let (x, y) = (digits(a), digits(b));
    let mut at = [0usize; 2];
    let mut n = 0;
    for i in 0..8 {
        if x[i] != y[i] {
            if n < 2 {
                at[n] = i;
            }
            n += 1;
        }
    }
    let [i, j] = at;
    n == 1 || (n == 2 && j == i + 1 && x[i] == y[j] && x[j] == y[i])
}

fn dob_level(a: u32, b: u32) -> usize {
    if a == b {
        return 1;
    }
    let (ya, ma, da) = (a / 10000, a / 100 % 100, a % 100);
    let (yb, mb, db) = (b / 10000, b / 100 % 100, b % 100);
    if ya == yb && ma == db && da == mb {
        return 2;
    }
    if one_edit_digits(a, b) {
        return 3;
    }
    let same = u32::from(ya == yb) + u32::from(ma == mb) + u32::from(da == db);
    if same >= 2 {
        4
    } else {
        5
    }
}

/// The estimated model: per field and level, m, u and the weight.
#[derive(Debug, Clone, Serialize)]
pub struct Model {
    /// Share of candidate pairs that are matches (EM's lambda).
    pub lambda: f64,
    /// log2(lambda / (1 - lambda)): the weight every pair starts from.
    pub prior_weight: f64,
    /// EM iterations run.
    pub iterations: usize,
    /// Per field.
    pub fields: Vec<FieldParams>,
    #[serde(skip)]
    weights: Vec<Vec<f64>>,
}

/// The estimated parameters of one field.
#[derive(Debug, Clone, Serialize)]
pub struct FieldParams {
    /// Field name.
    pub field: &'static str,
    /// Whether it is compared (present in the data and not ignored).
    pub used: bool,
    /// Per level (after `null`).
    pub levels: Vec<LevelParams>,
}

/// m, u and weight of one comparison level.
#[derive(Debug, Clone, Serialize)]
pub struct LevelParams {
    /// Level name.
    pub level: &'static str,
    /// P(level | same person).
    pub m: f64,
    /// P(level | different people).
    pub u: f64,
    /// log2(m / u).
    pub weight: f64,
}

impl Model {
    /// Weight of one field's level.
    pub fn weight(&self, f: usize, l: usize) -> f64 {
        self.weights
            .get(f)
            .and_then(|w| w.get(l))
            .copied()
            .unwrap_or(0.0)
    }

    /// Total match weight of a pattern, prior included.
    pub fn total(&self, p: Pattern) -> f64 {
        self.prior_weight + (0..NF).map(|f| self.weight(f, level(p, f))).sum::<f64>()
    }
}

/// Deterministic 64-bit generator (SplitMix64) for the random pair sample.
struct SplitMix(u64);
impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// u probabilities: level frequencies among random pairs (all pairs when
/// there are few), with half a pair of pseudo-count per level.
fn estimate_u(feats: &Features, cfg: &LinkageConfig, used: &[bool; NF]) -> Vec<Vec<f64>> {
    let n = feats.len();
    let mut counts: Vec<Vec<f64>> = FIELDS.iter().map(|f| vec![0.0; f.levels.len()]).collect();
    let all = n.saturating_mul(n.saturating_sub(1)) / 2;
    let pairs: Vec<(u32, u32)> = if all <= cfg.u_sample_pairs {
        (0..n as u32)
            .flat_map(|a| (a + 1..n as u32).map(move |b| (a, b)))
            .collect()
    } else {
        let mut rng = SplitMix(cfg.seed);
        (0..cfg.u_sample_pairs)
            .map(|_| {
                let a = rng.below(n);
                let mut b = rng.below(n - 1);
                if b >= a {
                    b += 1;
                }
                (a as u32, b as u32)
            })
            .collect()
    };
    let threads = threads(cfg);
    let per = pairs.len() / threads + 1;
    let parts: Vec<Vec<Vec<f64>>> = std::thread::scope(|sc| {
        let hs: Vec<_> = pairs
            .chunks(per)
            .map(|chunk| {
                sc.spawn(move || {
                    let mut c: Vec<Vec<f64>> =
                        FIELDS.iter().map(|f| vec![0.0; f.levels.len()]).collect();
                    for &(a, b) in chunk {
                        let p = feats.compare(a as usize, b as usize);
                        for (f, x) in c.iter_mut().enumerate() {
                            x[level(p, f)] += 1.0;
                        }
                    }
                    c
                })
            })
            .collect();
        hs.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    for part in parts {
        for (c, x) in counts.iter_mut().zip(part) {
            for (a, b) in c.iter_mut().zip(x) {
                *a += b;
            }
        }
    }
    let exact = feats.exact_agreement();
    counts
        .into_iter()
        .enumerate()
        .map(|(f, c)| {
            if !used[f] {
                return vec![0.0; c.len()];
            }
            // Level 1 (exact) from value frequencies, exactly; the others
            // from the sample, sharing what is left.
            let k = (c.len() - 2) as f64;
            let rest: f64 = c[2..].iter().sum::<f64>() + 0.5 * k;
            let p1 = exact[f].max(0.5 / (c.iter().sum::<f64>() + 1.0)).min(0.999);
            c.iter()
                .enumerate()
                .map(|(l, &x)| match l {
                    0 => 0.0,
                    1 => p1,
                    _ => (1.0 - p1) * (x + 0.5) / rest,
                })
                .collect()
        })
        .collect()
}

/// Initial m: most matches agree exactly, few disagree.
fn initial_m(f: usize) -> Vec<f64> {
    let n = FIELDS[f].levels.len();
    let mut m = vec![0.0; n];
    if n < 3 {
        return m;
    }
    m[1] = 0.8;
    m[n - 1] = 0.05;
    let mid = n - 3;
    for x in m.iter_mut().take(n - 1).skip(2) {
        *x = 0.15 / mid as f64;
    }
    if mid == 0 {
        m[1] = 0.95;
    }
    m
}

/// The comparison field a blocking key fixes (pairs of a pass that blocks
/// on it all agree on it, so the pass says nothing about its m).
fn field_of_key(key: &str) -> Option<usize> {
    Some(match key {
        "date_of_birth" | "dob_year" | "dob_month_day" => DOB,
        "nhs_number" => NHS,
        "upn" => UPN,
        "other_id" => OTHER_ID,
        "postcode" => POSTCODE,
        "first_name" | "first_name_soundex" | "first_initial" => FIRST,
        "last_name" | "last_name_soundex" => LAST,
        "locality" => LOCALITY,
        "gender" => GENDER,
        _ => return None,
    })
}

fn log_odds(p: Pattern, m: &[Vec<f64>], u: &[Vec<f64>], active: &[bool; NF]) -> f64 {
    let mut lo = 0.0;
    for f in 0..NF {
        let l = level(p, f);
        if l == 0 || !active[f] {
            continue;
        }
        lo += (m[f][l].max(1e-12) / u[f][l].max(1e-12)).ln();
    }
    lo
}

/// One EM session over the pairs of one blocking pass: m of the fields the
/// pass does not block on, and the share of matches, with u fixed. Returns
/// (m, expected matches, iterations).
fn em_session(
    pats: &[(Pattern, f64)],
    u: &[Vec<f64>],
    active: &[bool; NF],
    max_iter: usize,
) -> (Vec<Vec<f64>>, f64, usize) {
    let mut m: Vec<Vec<f64>> = (0..NF).map(initial_m).collect();
    let total: f64 = pats.iter().map(|(_, c)| c).sum();
    let mut lambda = 0.1f64;
    let mut iterations = 0;
    let mut matches = 0.0;
    for it in 0..max_iter {
        iterations = it + 1;
        let mut acc: Vec<Vec<f64>> = FIELDS.iter().map(|f| vec![0.0; f.levels.len()]).collect();
        let mut gsum = 0.0;
        let prior = (lambda / (1.0 - lambda)).ln();
        for &(p, c) in pats {
            let g = 1.0 / (1.0 + (-(prior + log_odds(p, &m, u, active))).exp());
            gsum += c * g;
            for (f, a) in acc.iter_mut().enumerate() {
                a[level(p, f)] += c * g;
            }
        }
        matches = gsum;
        let new_lambda = (gsum / total).clamp(1e-9, 1.0 - 1e-9);
        let mut delta = (new_lambda - lambda).abs();
        lambda = new_lambda;
        for f in 0..NF {
            let s: f64 = acc[f][1..].iter().sum();
            if s <= 0.0 || !active[f] {
                continue;
            }
            // One pseudo-pair spread as the initial m: no level of a field
            // is impossible for a match just because it is rare here.
            let m0 = initial_m(f);
            for l in 1..acc[f].len() {
                let v = ((acc[f][l] + m0[l]) / (s + 1.0)).max(1e-6);
                delta = delta.max((v - m[f][l]).abs());
                m[f][l] = v;
            }
        }
        if delta < 1e-7 {
            break;
        }
    }
    (m, matches, iterations)
}

/// Estimates the model: u from random pairs; m by EM, one session per
/// blocking pass (leaving out the fields that pass blocks on), combined
/// weighted by each session's expected matches; then the prior, as the
/// share of all record pairs that match, from the expected matches among
/// the candidates.
pub(crate) fn estimate(
    feats: &Features,
    cfg: &LinkageConfig,
    per_pass: &[FxHashMap<Pattern, u64>],
    cands: &[Candidate],
) -> Model {
    let used = feats.present_fields();
    let u = estimate_u(feats, cfg, &used);
    let m0: Vec<Vec<f64>> = (0..NF).map(initial_m).collect();
    let mut m_sum: Vec<Vec<f64>> = FIELDS.iter().map(|f| vec![0.0; f.levels.len()]).collect();
    let mut w_sum = [0.0f64; NF];
    let mut iterations = 0;
    for (pi, counts) in per_pass.iter().enumerate() {
        let mut active = used;
        for k in cfg.blocking.get(pi).map_or(&[][..], |p| &p.keys[..]) {
            if let Some(f) = field_of_key(k) {
                active[f] = false;
            }
        }
        let mut masked: FxHashMap<Pattern, f64> = FxHashMap::default();
        for (&p, &c) in counts {
            let mut q = 0;
            for (f, a) in active.iter().enumerate() {
                if *a {
                    set_level(&mut q, f, level(p, f));
                }
            }
            *masked.entry(q).or_insert(0.0) += c as f64;
        }
        let mut pats: Vec<(Pattern, f64)> = masked.into_iter().collect();
        pats.sort_unstable_by_key(|(p, _)| *p);
        if pats.is_empty() {
            continue;
        }
        let (m, matches, its) = em_session(&pats, &u, &active, cfg.em_max_iterations);
        iterations = iterations.max(its);
        tracing::debug!(pass = pi, matches, iterations = its, "EM session done.");
        for f in 0..NF {
            if active[f] && matches > 0.0 {
                w_sum[f] += matches;
                for l in 1..m[f].len() {
                    m_sum[f][l] += matches * m[f][l];
                }
            }
        }
    }
    let m: Vec<Vec<f64>> = (0..NF)
        .map(|f| {
            if w_sum[f] > 0.0 {
                m_sum[f].iter().map(|x| x / w_sum[f]).collect()
            } else {
                m0[f].clone()
            }
        })
        .collect();

    // Prior: expected matches among candidates over all record pairs.
    let n = feats.len() as f64;
    let all_pairs = (n * (n - 1.0) / 2.0).max(1.0);
    let mut union: FxHashMap<Pattern, f64> = FxHashMap::default();
    for c in cands {
        *union.entry(c.pattern).or_insert(0.0) += 1.0;
    }
    let lo: Vec<(f64, f64)> = union
        .iter()
        .map(|(&p, &c)| (log_odds(p, &m, &u, &used), c))
        .collect();
    let mut lambda = (1.0 / n.max(2.0)).min(0.5);
    for _ in 0..200 {
        let prior = (lambda / (1.0 - lambda)).ln();
        let e: f64 = lo
            .iter()
            .map(|(l, c)| c / (1.0 + (-(prior + l)).exp()))
            .sum();
        let next = (e / all_pairs).clamp(1e-12, 0.5);
        if (next - lambda).abs() <= 1e-9 * lambda {
            lambda = next;
            break;
        }
        lambda = next;
    }

    let mut fields = Vec::new();
    let mut weights = Vec::new();
    for f in 0..NF {
        let mut w = vec![0.0; FIELDS[f].levels.len()];
        let mut levels = Vec::new();
        if used[f] {
            for l in 1..w.len() {
                w[l] = (m[f][l].max(1e-6) / u[f][l].max(1e-9)).log2();
            }
            // Any kind of agreement weighs at least as much as disagreement
            // (a level that matches rarely show is not evidence against).
            let last = w.len() - 1;
            let floor = w[last];
            for x in &mut w[1..last] {
                *x = x.max(floor);
            }
        }
        for l in 1..w.len() {
            levels.push(LevelParams {
                level: FIELDS[f].levels[l],
                m: m[f][l],
                u: u[f][l],
                weight: w[l],
            });
        }
        fields.push(FieldParams {
            field: FIELDS[f].name,
            used: used[f],
            levels,
        });
        weights.push(w);
    }
    Model {
        lambda,
        prior_weight: (lambda / (1.0 - lambda)).log2(),
        iterations,
        fields,
        weights,
    }
}

/// A compared candidate pair.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    pub a: u32,
    pub b: u32,
    pub pattern: Pattern,
}

/// Counts of the blocking stage.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BlockingStats {
    /// Per pass: name, candidate pairs it added, blocks skipped as too large.
    pub passes: Vec<PassStats>,
    /// Candidate pairs compared.
    pub candidate_pairs: u64,
}

/// One pass's counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PassStats {
    /// Pass name.
    pub name: String,
    /// New candidate pairs.
    pub pairs: u64,
    /// Blocks larger than `max_block_size`, not compared.
    pub oversized_blocks: u64,
    /// Records in those blocks.
    pub oversized_records: u64,
}

fn threads(cfg: &LinkageConfig) -> usize {
    if cfg.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        cfg.threads
    }
}

/// A block: its range of the pass's records, and its groups of identical
/// records as ranges.
type Block = (usize, usize, Vec<(u32, u32)>);

/// Generates and compares the candidate pairs of every blocking pass.
pub(crate) fn candidates(
    feats: &Features,
    cfg: &LinkageConfig,
) -> (Vec<Candidate>, Vec<FxHashMap<Pattern, u64>>, BlockingStats) {
    let n = feats.len();
    let passes = &cfg.blocking;
    let keys: Vec<Vec<u64>> = passes
        .iter()
        .enumerate()
        .map(|(pi, p)| {
            (0..n)
                .map(|i| feats.block_key(i, pi as u64, &p.keys))
                .collect()
        })
        .collect();
    let threads = threads(cfg);
    let mut out = Vec::new();
    let mut per_pass: Vec<FxHashMap<Pattern, u64>> = Vec::new();
    let mut stats = BlockingStats::default();
    for (pi, pass) in passes.iter().enumerate() {
        let mut ps = PassStats {
            name: pass.name.clone(),
            ..PassStats::default()
        };
        // Records by key, then by group of identical records, then read order.
        let mut order: Vec<(u64, u32, u32)> = keys[pi]
            .iter()
            .enumerate()
            .filter(|(_, &k)| k != 0)
            .map(|(i, &k)| (k, feats.tuple(i), i as u32))
            .collect();
        order.sort_unstable();
        // Blocks as ranges of `order`, with their groups as ranges. A block
        // of many identical records is one group: compared once.
        let mut blocks: Vec<Block> = Vec::new();
        let mut s = 0;
        while s < order.len() {
            let mut e = s + 1;
            while e < order.len() && order[e].0 == order[s].0 {
                e += 1;
            }
            let mut runs: Vec<(u32, u32)> = Vec::new();
            let mut r = s;
            while r < e {
                let mut q = r + 1;
                while q < e && order[q].1 == order[r].1 {
                    q += 1;
                }
                runs.push((r as u32, q as u32));
                r = q;
            }
            if runs.len() > cfg.max_block_size {
                ps.oversized_blocks += 1;
                ps.oversized_records += (e - s) as u64;
            } else if e - s > 1 {
                blocks.push((s, e, runs));
            }
            s = e;
        }
        let cost = |(s, e, runs): &Block| runs.len() * runs.len().saturating_sub(1) / 2 + (e - s);
        let work: usize = blocks.iter().map(cost).sum();
        let per = work / threads + 1;
        let mut chunks: Vec<&[Block]> = Vec::new();
        let mut start = 0;
        let mut acc = 0;
        for (i, b) in blocks.iter().enumerate() {
            acc += cost(b);
            if acc >= per {
                chunks.push(&blocks[start..=i]);
                start = i + 1;
                acc = 0;
            }
        }
        if start < blocks.len() {
            chunks.push(&blocks[start..]);
        }
        let earlier = &keys[..pi];
        let order = &order;
        let results: Vec<(Vec<Candidate>, FxHashMap<Pattern, u64>)> = std::thread::scope(|sc| {
            let handles: Vec<_> = chunks
                .iter()
                .map(|chunk| {
                    sc.spawn(move || {
                        let mut v = Vec::new();
                        let mut c: FxHashMap<Pattern, u64> = FxHashMap::default();
                        let mut emit = |a: u32, b: u32, pattern: Pattern| {
                            let (a, b) = (a.min(b), a.max(b));
                            let seen = earlier.iter().any(|k| {
                                let x = k[a as usize];
                                x != 0 && x == k[b as usize]
                            });
                            if !seen {
                                v.push(Candidate { a, b, pattern });
                            }
                        };
                        for (_, _, runs) in chunk.iter() {
                            let members = |r: &(u32, u32)| {
                                order[r.0 as usize..r.1 as usize].iter().map(|x| x.2)
                            };
                            for (x, rx) in runs.iter().enumerate() {
                                let px = order[rx.0 as usize].2;
                                // Identical records: one comparison, each linked to the first.
                                if rx.1 - rx.0 > 1 {
                                    let pattern = feats.compare(px as usize, px as usize);
                                    *c.entry(pattern).or_insert(0) += 1;
                                    for m in members(rx).skip(1) {
                                        emit(px, m, pattern);
                                    }
                                }
                                for ry in &runs[x + 1..] {
                                    let py = order[ry.0 as usize].2;
                                    let (a, b) = (px.min(py), px.max(py));
                                    // Every pair of groups of the pass counts once for its
                                    // EM session (a session that saw only the pairs earlier
                                    // passes missed would learn that matches disagree on
                                    // their keys); each pair is a candidate once. The
                                    // members of two groups compare alike: each is
                                    // paired with the other group's first (n + m - 1
                                    // pairs, not n m).
                                    let pattern = feats.compare(a as usize, b as usize);
                                    *c.entry(pattern).or_insert(0) += 1;
                                    for m in members(rx) {
                                        emit(m, py, pattern);
                                    }
                                    for m in members(ry).skip(1) {
                                        emit(px, m, pattern);
                                    }
                                }
                            }
                        }
                        (v, c)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        let mut counts: FxHashMap<Pattern, u64> = FxHashMap::default();
        for (v, c) in results {
            ps.pairs += v.len() as u64;
            out.extend(v);
            for (p, k) in c {
                *counts.entry(p).or_insert(0) += k;
            }
        }
        stats.candidate_pairs += ps.pairs;
        stats.passes.push(ps);
        per_pass.push(counts);
    }
    (out, per_pass, stats)
}

/// Why a pair is kept apart whatever its score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Guard {
    /// Same date of birth and surname, different first names.
    Twins,
    /// Dates of birth a generation apart.
    GenerationGap,
}

impl Guard {
    /// Short name.
    pub fn as_str(self) -> &'static str {
        match self {
            Guard::Twins => "twins",
            Guard::GenerationGap => "generation-gap",
        }
    }
}

/// The guard that applies to a pair, if any.
pub(crate) fn guard(
    feats: &Features,
    cfg: &DedupConfig,
    a: usize,
    b: usize,
    p: Pattern,
) -> Option<Guard> {
    let g = &cfg.guards;
    // An identifier that agrees exactly names one person: no guard.
    if [NHS, UPN, OTHER_ID].iter().any(|&f| level(p, f) == 1) {
        return None;
    }
    if g.twins && level(p, DOB) == 1 && matches!(level(p, LAST), 1 | 2) && level(p, FIRST) == 7 {
        return Some(Guard::Twins);
    }
    if g.generation_gap_years > 0
        && !matches!(level(p, DOB), 1..=3)
        && feats
            .dob_years_apart(a, b)
            .is_some_and(|y| y >= g.generation_gap_years)
    {
        return Some(Guard::GenerationGap);
    }
    None
}

/// Union-find with member lists, for clustering.
pub(crate) struct Clusters {
    parent: Vec<u32>,
    members: Vec<Vec<u32>>,
}

impl Clusters {
    pub fn new(n: usize) -> Self {
        Clusters {
            parent: (0..n as u32).collect(),
            members: (0..n as u32).map(|i| vec![i]).collect(),
        }
    }

    pub fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }

    pub fn members(&self, root: u32) -> &[u32] {
        &self.members[root as usize]
    }

    /// Joins the groups of `a` and `b`; returns (new root, absorbed root)
    /// when they were apart, `None` when already one group.
    pub fn union(&mut self, a: u32, b: u32) -> Option<(u32, u32)> {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return None;
        }
        let (big, small) = if self.members[ra as usize].len() >= self.members[rb as usize].len() {
            (ra, rb)
        } else {
            (rb, ra)
        };
        self.parent[small as usize] = big;
        let moved = std::mem::take(&mut self.members[small as usize]);
        self.members[big as usize].extend(moved);
        Some((big, small))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn person(first: &str, last: &str, dob: &str) -> Person {
        Person {
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            date_of_birth: NaiveDate::parse_from_str(dob, "%Y-%m-%d").ok(),
            ..Person::default()
        }
    }

    #[test]
    fn dob_levels() {
        assert_eq!(dob_level(20120304, 20120304), 1);
        assert_eq!(dob_level(20120304, 20120403), 2);
        assert_eq!(dob_level(20120304, 20120305), 3);
        assert_eq!(dob_level(20120304, 20130304), 3);
        assert_eq!(dob_level(20120304, 20120319), 4);
        assert_eq!(dob_level(20120304, 19850611), 5);
    }

    #[test]
    fn name_levels() {
        let mut f = Features::new(&LinkageConfig::default());
        let a = f.push(&person("William", "O’Neill", "2012-03-04"));
        let b = f.push(&person("Bill", "O'Neill", "2012-04-03"));
        let c = f.push(&person("Wiliam", "ONeil", "2012-03-04"));
        let d = f.push(&person("Grace", "O'Neill", "2012-03-04"));
        let e = f.push(&person("O'Neill", "William", "1985-01-01"));
        let p = f.compare(a, b);
        assert_eq!((level(p, FIRST), level(p, LAST), level(p, DOB)), (2, 1, 2));
        let p = f.compare(a, c);
        assert_eq!((level(p, FIRST), level(p, LAST), level(p, DOB)), (3, 2, 1));
        assert_eq!(level(p, NHS), 0);
        let p = f.compare(a, d);
        assert_eq!(level(p, FIRST), 7);
        let cfg = DedupConfig::default();
        assert_eq!(guard(&f, &cfg, a, d, p), Some(Guard::Twins));
        let p = f.compare(a, e);
        assert_eq!((level(p, FIRST), level(p, LAST)), (6, 4));
        assert_eq!(guard(&f, &cfg, a, e, p), Some(Guard::GenerationGap));
    }

    #[test]
    fn every_pair_is_compared_once_across_passes() {
        let mut f = Features::new(&LinkageConfig::default());
        for first in ["Amara", "Amira", "Amina", "Amani", "Amaya"] {
            f.push(&person(first, "Okafor", "2012-03-04"));
        }
        let (c, counts, stats) = candidates(&f, &LinkageConfig::default());
        assert_eq!(c.len(), 10);
        assert_eq!(counts[0].values().sum::<u64>(), 10);
        assert_eq!(stats.candidate_pairs, 10);
    }

    #[test]
    fn identical_records_are_compared_once_as_a_group() {
        let cfg = LinkageConfig {
            max_block_size: 10,
            ..LinkageConfig::default()
        };
        let mut f = Features::new(&cfg);
        for _ in 0..20_000 {
            f.push(&person("Amara", "Okafor", "2012-03-04"));
        }
        for _ in 0..3 {
            f.push(&person("Amira", "Okafor", "2012-03-04"));
        }
        let (c, counts, stats) = candidates(&f, &cfg);
        // Each record linked to its group's first (19,999 + 2), and the two
        // groups through their firsts (20,000 + 3 - 1): linear, not n^2;
        // the block of 20,003 records is 2 groups, within max_block_size.
        assert_eq!(c.len(), 19_999 + 2 + 20_002);
        assert_eq!(stats.candidate_pairs, c.len() as u64);
        assert_eq!(stats.passes[0].oversized_blocks, 0);
        // EM sees each pair of groups once.
        assert_eq!(counts[0].values().sum::<u64>(), 3);
    }
}
