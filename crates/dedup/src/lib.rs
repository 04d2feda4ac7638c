//! Duplicate detection and person linkage for canonical records, every
//! decision explained.
//!
//! [`Deduper`] takes [`Record`]s one at a time and collapses exact
//! duplicates as they arrive (same [`content_sha256`], any kind: one
//! survivor keeps the source keys and provenance of every copy). [`Deduper::run`]
//! then finds near-duplicate case notes and chronology entries (same
//! subjects, same or adjacent date, nearly the same text) and links
//! persons: blocking passes give candidate pairs, each pair's fields are
//! compared into levels, Fellegi-Sunter weights come from m probabilities
//! estimated by EM on the candidate pairs and u probabilities from random
//! pairs (no labels), pairs at or above `merge_at` are clustered into
//! persons (a merge that would put a pair scoring below `review_at`, or
//! kept apart by a guard, into one person is sent to review instead), and
//! survivorship rules choose each merged person's values.
//!
//! Every pair in the [`Outcome`] carries its explanation: each field's
//! comparison level and weight, the prior and the total. Reviewer
//! decisions ([`review::read_decisions`]) override the model.
//!
//! The person linkage index (features of every person, a few dozen bytes
//! each, and the candidate pairs) is held in memory; so are the records.
//!
//! # Example
//! ```
//! use casebridge_dedup::{DedupConfig, Deduper, Decision};
//! use casebridge_model::{Header, Person, Record, SourceKey};
//!
//! let person = |key: &str, first: &str| Record::Person(Person {
//!     header: Header {
//!         id: format!("person:{key}"),
//!         source_keys: vec![SourceKey { system: "demo".into(), key: key.into() }],
//!         provenance: vec![],
//!     },
//!     first_name: Some(first.into()),
//!     last_name: Some("Okafor".into()),
//!     date_of_birth: chrono::NaiveDate::from_ymd_opt(2015, 6, 1),
//!     ..Person::default()
//! });
//! let mut d = Deduper::new(DedupConfig::default());
//! d.push(person("1", "Amara"));
//! d.push(person("2", "Amara"));   // an exact copy under another id
//! let out = d.run(&Default::default()).unwrap();
//! assert_eq!(out.records.len(), 1);
//! assert_eq!(out.records[0].header().source_keys.len(), 2);
//! assert_eq!(out.pairs[0].decision, Decision::Merge);
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod config;
mod notes;
mod person;
pub mod review;
mod survive;
pub mod text;

use std::path::PathBuf;

use casebridge_model::{content_sha256, Person, Record, RecordKind, Sha256, SourceKey};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

pub use config::{BlockingPass, DedupConfig, Rule};
pub use person::{BlockingStats, FieldParams, Guard, LevelParams, Model, PassStats};
pub use review::{ReviewDecision, Reviewed};
pub use survive::person_value;

/// An error from deduplication.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An output file could not be created, synced or renamed into place.
    #[error(transparent)]
    Output(#[from] casebridge_io::Error),
    /// The configuration is not valid.
    #[error("{}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        message: String,
    },
    /// A review workbook could not be written.
    #[error("{}: cannot write the review workbook: {message}", path.display())]
    Xlsx {
        /// The file.
        path: PathBuf,
        /// Why (from the writer).
        message: String,
    },
    /// A reviewed workbook could not be read or understood.
    #[error("{}: {message}", path.display())]
    Review {
        /// The file.
        path: PathBuf,
        /// What is wrong and where (sheet, row, column).
        message: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What was decided about a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// One record (person, note): merged.
    Merge,
    /// Uncertain: for a reviewer.
    Review,
    /// Different.
    Distinct,
}

impl Decision {
    /// `merge`, `review` or `distinct`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Merge => "merge",
            Decision::Review => "review",
            Decision::Distinct => "distinct",
        }
    }
}

/// How a pair was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Same content hash.
    Exact,
    /// Near-identical text (notes, chronology entries).
    Near,
    /// Probabilistic person linkage.
    Linkage,
}

impl Method {
    /// `exact`, `near` or `linkage`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Exact => "exact",
            Method::Near => "near",
            Method::Linkage => "linkage",
        }
    }
}

/// One field's part in a pair decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// Field name.
    pub field: &'static str,
    /// Comparison level.
    pub level: String,
    /// Its weight (log2 m/u for linkage; similarity for text).
    pub weight: f64,
    /// The left record's value (personal data: only filled when asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left: Option<String>,
    /// The right record's value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub right: Option<String>,
}

/// A record of a pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairSide {
    /// Canonical id.
    pub id: String,
    /// Source system.
    pub system: String,
    /// Source key, as in the input.
    pub key: String,
}

/// A pair and its explained decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pair {
    /// Record kind.
    pub kind: RecordKind,
    /// Left record.
    pub left: PairSide,
    /// Right record.
    pub right: PairSide,
    /// Linkage: total match weight (log2 odds, prior included). Text:
    /// similarity 0 to 1. Exact: as linkage for persons, 1 otherwise.
    pub score: f64,
    /// The decision.
    pub decision: Decision,
    /// How it was found.
    pub method: Method,
    /// Why, when not by threshold alone: `guard:twins`,
    /// `guard:generation-gap`, `reviewer`, `cluster-conflict`, `transitive`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The prior weight (linkage).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prior: Option<f64>,
    /// Per field: level and weight.
    pub fields: Vec<Evidence>,
}

/// Options of a run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Put field values in pair evidence (for review sheets or `--show-values`).
    pub with_values: bool,
    /// Reviewer decisions that override the model.
    pub reviewed: Vec<Reviewed>,
}

/// Counts of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Records given, per kind.
    pub records_in: Vec<(RecordKind, u64)>,
    /// Records out, per kind.
    pub records_out: Vec<(RecordKind, u64)>,
    /// Copies collapsed by content hash.
    pub exact_duplicates: u64,
    /// Notes and entries merged as near duplicates.
    pub near_duplicates: u64,
    /// Person records merged into another by linkage.
    pub persons_merged: u64,
    /// Pairs left for review.
    pub review_pairs: u64,
    /// Pairs kept apart by a guard though they scored at least `review_at`.
    pub guarded_pairs: u64,
    /// Reviewer decisions applied.
    pub reviewer_decisions: u64,
    /// Reviewer decisions naming records not in the inputs.
    pub reviewer_unmatched: u64,
}

/// The result of a run.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Surviving records, kinds in [`RecordKind::ALL`] order, each in the
    /// order first read.
    pub records: Vec<Record>,
    /// Every pair merged, for review, or kept apart by a guard or a reviewer.
    pub pairs: Vec<Pair>,
    /// Counts.
    pub summary: Summary,
    /// The linkage model, when there were persons.
    pub model: Option<Model>,
    /// Blocking counts.
    pub blocking: BlockingStats,
}

/// Collects records and deduplicates them.
#[derive(Debug)]
pub struct Deduper {
    cfg: DedupConfig,
    records: Vec<Record>,
    by_hash: FxHashMap<(RecordKind, Sha256), usize>,
    /// For each survivor, the copies merged into it: (their first key, their id).
    copies: Vec<Vec<SourceKey>>,
    counts_in: FxHashMap<RecordKind, u64>,
    exact: u64,
}

impl Deduper {
    /// A deduper with a configuration (checked by [`DedupConfig::check`]).
    pub fn new(cfg: DedupConfig) -> Self {
        Deduper {
            cfg,
            records: Vec::new(),
            by_hash: FxHashMap::default(),
            copies: Vec::new(),
            counts_in: FxHashMap::default(),
            exact: 0,
        }
    }

    /// Adds a record; an exact copy of one already added is merged into it.
    pub fn push(&mut self, record: Record) {
        let kind = record.kind();
        *self.counts_in.entry(kind).or_insert(0) += 1;
        let hash = record
            .header()
            .provenance
            .first()
            .map(|p| p.content_sha256)
            .filter(|h| *h != Sha256::default())
            .unwrap_or_else(|| content_sha256(&record));
        match self.by_hash.get(&(kind, hash)) {
            Some(&i) => {
                self.exact += 1;
                let h = record.header();
                let s = self.records[i].header_mut();
                for k in &h.source_keys {
                    if !s.source_keys.contains(k) {
                        s.source_keys.push(k.clone());
                    }
                }
                s.provenance.extend(h.provenance.iter().cloned());
                self.copies[i].extend(h.source_keys.iter().cloned());
            }
            None => {
                self.by_hash.insert((kind, hash), self.records.len());
                self.records.push(record);
                self.copies.push(Vec::new());
            }
        }
    }

    /// Records held (after exact deduplication).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no record was added.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Finds near duplicates, links persons, applies reviewer decisions and
    /// survivorship.
    pub fn run(self, opts: &RunOptions) -> Result<Outcome> {
        run(self, opts)
    }
}

fn side(h: &casebridge_model::Header, key: &SourceKey) -> PairSide {
    PairSide {
        id: h.id.clone(),
        system: key.system.clone(),
        key: key.key.clone(),
    }
}

/// Distinct source keys of a record, primary first.
fn keys_of(h: &casebridge_model::Header) -> Vec<SourceKey> {
    let mut out: Vec<SourceKey> = Vec::new();
    for k in &h.source_keys {
        if !out.contains(k) {
            out.push(k.clone());
        }
    }
    out
}

/// Pairs between every two distinct keys of a set of (record, key) entries.
fn all_pairs(
    entries: &[(usize, SourceKey)],
    mut make: impl FnMut(usize, &SourceKey, usize, &SourceKey),
) {
    for x in 0..entries.len() {
        for y in x + 1..entries.len() {
            let (a, ka) = &entries[x];
            let (b, kb) = &entries[y];
            if ka != kb {
                make(*a, ka, *b, kb);
            }
        }
    }
}

fn run(d: Deduper, opts: &RunOptions) -> Result<Outcome> {
    let Deduper {
        cfg,
        records,
        copies: _,
        counts_in,
        exact,
        ..
    } = d;
    let mut out = Outcome::default();
    out.summary.exact_duplicates = exact;
    out.summary.records_in = RecordKind::ALL
        .iter()
        .filter_map(|k| counts_in.get(k).map(|n| (*k, *n)))
        .collect();

    // Which records end up merged into which: cluster id per record.
    let n = records.len();
    let mut clusters = person::Clusters::new(n);

    // Near-duplicate notes and chronology entries.
    let text_idx: Vec<usize> = (0..n)
        .filter(|&i| matches!(records[i], Record::CaseNote(_) | Record::ChronologyEntry(_)))
        .collect();
    let mut near_sim: FxHashMap<(usize, usize), notes::NearPair> = FxHashMap::default();
    if cfg.notes.enabled {
        for p in notes::near_pairs(&records, &text_idx, &cfg.notes) {
            clusters.union(p.a as u32, p.b as u32);
            near_sim.insert((p.a, p.b), p);
        }
    }

    // Person linkage.
    let person_idx: Vec<usize> = (0..n)
        .filter(|&i| matches!(records[i], Record::Person(_)))
        .collect();
    let persons: Vec<&Person> = person_idx
        .iter()
        .filter_map(|&i| match &records[i] {
            Record::Person(p) => Some(p),
            _ => None,
        })
        .collect();
    let mut link = None;
    tracing::info!(near_pairs = near_sim.len(), "Near duplicates found.");
    if !persons.is_empty() {
        link = Some(link_persons(&cfg, &persons, opts, &mut out)?);
    }
    if let Some(l) = &link {
        for (a, b) in &l.merged {
            clusters.union(
                person_idx[*a as usize] as u32,
                person_idx[*b as usize] as u32,
            );
        }
    }

    // Pairs of every merged group: exact copies, near duplicates, linked persons.
    let person_pos: FxHashMap<usize, usize> = person_idx
        .iter()
        .enumerate()
        .map(|(p, &i)| (i, p))
        .collect();
    let mut done = vec![false; n];
    let mut survivors: Vec<(usize, Record)> = Vec::new();
    for i in 0..n {
        let root = clusters.find(i as u32);
        if done[root as usize] {
            continue;
        }
        done[root as usize] = true;
        let mut members: Vec<usize> = clusters.members(root).iter().map(|&m| m as usize).collect();
        members.sort_unstable();
        let entries: Vec<(usize, SourceKey)> = members
            .iter()
            .flat_map(|&m| {
                keys_of(records[m].header())
                    .into_iter()
                    .map(move |k| (m, k))
            })
            .collect();
        let kind = records[members[0]].kind();
        all_pairs(&entries, |a, ka, b, kb| {
            let (left, right) = (side(records[a].header(), ka), side(records[b].header(), kb));
            let pair = if a == b {
                let score = match (&link, person_pos.get(&a)) {
                    (Some(l), Some(&p)) => l.model.total(l.feats.compare(p, p)),
                    _ => 1.0,
                };
                Pair {
                    kind,
                    left,
                    right,
                    score,
                    decision: Decision::Merge,
                    method: Method::Exact,
                    reason: None,
                    prior: None,
                    fields: Vec::new(),
                }
            } else if let (Some(l), Some(&pa), Some(&pb)) =
                (&link, person_pos.get(&a), person_pos.get(&b))
            {
                let mut pair = l.explain(&cfg, pa, pb, &persons, opts.with_values, left, right);
                pair.decision = Decision::Merge;
                pair.reason = l
                    .forced
                    .contains(&(pa.min(pb) as u32, pa.max(pb) as u32))
                    .then(|| "reviewer".to_string())
                    .or_else(|| {
                        (pair.score < cfg.linkage.merge_at).then(|| "transitive".to_string())
                    });
                pair
            } else {
                let np = near_sim.get(&(a.min(b), a.max(b))).copied();
                let (sim, days) = match np {
                    Some(p) => (p.similarity, p.days_apart),
                    None => {
                        let (s, _) = notes::similarity(
                            &notes::text_of(&records[a]),
                            &notes::text_of(&records[b]),
                            &cfg.notes,
                        );
                        (s, -1)
                    }
                };
                Pair {
                    kind,
                    left,
                    right,
                    score: sim,
                    decision: Decision::Merge,
                    method: Method::Near,
                    reason: np.is_none().then(|| "transitive".to_string()),
                    prior: None,
                    fields: vec![
                        Evidence {
                            field: "subjects",
                            level: "same".into(),
                            weight: 0.0,
                            left: None,
                            right: None,
                        },
                        Evidence {
                            field: "date",
                            level: if days < 0 {
                                "-".into()
                            } else {
                                format!("{days} day(s) apart")
                            },
                            weight: 0.0,
                            left: None,
                            right: None,
                        },
                        Evidence {
                            field: "text",
                            level: format!("similarity {sim:.3}"),
                            weight: sim,
                            left: None,
                            right: None,
                        },
                    ],
                }
            };
            out.pairs.push(pair);
        });
        // The survivor.
        let survivor = if members.len() == 1 {
            records[members[0]].clone()
        } else if kind == RecordKind::Person {
            let ps: Vec<&Person> = members
                .iter()
                .filter_map(|&m| match &records[m] {
                    Record::Person(p) => Some(p),
                    _ => None,
                })
                .collect();
            out.summary.persons_merged += members.len() as u64 - 1;
            Record::Person(survive::merge_persons(&cfg, &ps))
        } else {
            out.summary.near_duplicates += members.len() as u64 - 1;
            let rs: Vec<&Record> = members.iter().map(|&m| &records[m]).collect();
            match survive::merge_texts(&rs) {
                Some(r) => r,
                None => records[members[0]].clone(),
            }
        };
        survivors.push((members[0], survivor));
    }
    if let Some(l) = link {
        out.pairs.extend(l.other_pairs);
        out.model = Some(l.model);
    }
    survivors
        .sort_by_key(|(first, r)| (RecordKind::ALL.iter().position(|k| *k == r.kind()), *first));
    out.records = survivors.into_iter().map(|(_, r)| r).collect();
    let mut counts: FxHashMap<RecordKind, u64> = FxHashMap::default();
    for r in &out.records {
        *counts.entry(r.kind()).or_insert(0) += 1;
    }
    out.summary.records_out = RecordKind::ALL
        .iter()
        .filter_map(|k| counts.get(k).map(|n| (*k, *n)))
        .collect();
    out.summary.review_pairs = out
        .pairs
        .iter()
        .filter(|p| p.decision == Decision::Review)
        .count() as u64;
    Ok(out)
}

/// The person linkage result.
struct Linked {
    feats: person::Features,
    model: Model,
    /// Merge edges (person positions).
    merged: Vec<(u32, u32)>,
    /// Pairs merged by a reviewer.
    forced: FxHashSet<(u32, u32)>,
    /// Review, guarded and reviewer-distinct pairs (not merged).
    other_pairs: Vec<Pair>,
}

impl Linked {
    #[allow(clippy::too_many_arguments)]
    fn explain(
        &self,
        cfg: &DedupConfig,
        a: usize,
        b: usize,
        persons: &[&Person],
        with_values: bool,
        left: PairSide,
        right: PairSide,
    ) -> Pair {
        let p = self.feats.compare(a, b);
        let fields = self
            .model
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.used)
            .map(|(f, fp)| {
                let l = person::level(p, f);
                Evidence {
                    field: fp.field,
                    level: person::FIELDS[f].levels[l].to_string(),
                    weight: self.model.weight(f, l),
                    left: with_values
                        .then(|| person_value(persons[a], fp.field))
                        .flatten(),
                    right: with_values
                        .then(|| person_value(persons[b], fp.field))
                        .flatten(),
                }
            })
            .collect();
        let score = self.model.total(p);
        let guard = person::guard(&self.feats, cfg, a, b, p);
        let decision = if guard.is_some() {
            Decision::Distinct
        } else if score >= cfg.linkage.merge_at {
            Decision::Merge
        } else if score >= cfg.linkage.review_at {
            Decision::Review
        } else {
            Decision::Distinct
        };
        Pair {
            kind: RecordKind::Person,
            left,
            right,
            score,
            decision,
            method: Method::Linkage,
            reason: guard.map(|g| format!("guard:{}", g.as_str())),
            prior: Some(self.model.prior_weight),
            fields,
        }
    }
}

fn link_persons(
    cfg: &DedupConfig,
    persons: &[&Person],
    opts: &RunOptions,
    out: &mut Outcome,
) -> Result<Linked> {
    let t0 = std::time::Instant::now();
    let mut feats = person::Features::new(&cfg.linkage);
    for p in persons {
        feats.push(p);
    }
    tracing::info!(
        persons = persons.len(),
        ms = t0.elapsed().as_millis() as u64,
        "Features built."
    );
    let (cands, counts, stats) = person::candidates(&feats, &cfg.linkage);
    tracing::info!(
        persons = persons.len(),
        candidate_pairs = stats.candidate_pairs,
        patterns = counts.iter().map(|c| c.len()).sum::<usize>(),
        "Candidate pairs compared."
    );
    tracing::info!(ms = t0.elapsed().as_millis() as u64, "Candidates compared.");
    let model = person::estimate(&feats, &cfg.linkage, &counts, &cands);
    tracing::info!(ms = t0.elapsed().as_millis() as u64, "Model estimated.");
    drop(counts);
    out.blocking = stats;

    // Reviewer decisions by source key.
    let mut by_key: FxHashMap<(&str, &str), u32> = FxHashMap::default();
    let mut by_bare: FxHashMap<&str, Option<u32>> = FxHashMap::default();
    for (i, p) in persons.iter().enumerate() {
        for k in &p.header.source_keys {
            by_key.insert((k.system.as_str(), k.key.as_str()), i as u32);
            let e = by_bare.entry(k.key.as_str()).or_insert(Some(i as u32));
            if *e != Some(i as u32) {
                *e = None; // the same key in two systems: ambiguous without a system
            }
        }
    }
    let find = |system: &Option<String>, key: &str| -> Option<u32> {
        match system.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => by_key.get(&(s, key)).copied(),
            None => by_bare.get(key).copied().flatten(),
        }
    };
    let mut forced: FxHashSet<(u32, u32)> = FxHashSet::default();
    let mut cannot: FxHashSet<(u32, u32)> = FxHashSet::default();
    for r in &opts.reviewed {
        let (Some(a), Some(b)) = (
            find(&r.left_system, &r.left),
            find(&r.right_system, &r.right),
        ) else {
            out.summary.reviewer_unmatched += 1;
            continue;
        };
        if a == b {
            continue;
        }
        out.summary.reviewer_decisions += 1;
        let k = (a.min(b), a.max(b));
        match r.decision {
            ReviewDecision::Merge => {
                forced.insert(k);
            }
            ReviewDecision::Distinct => {
                cannot.insert(k);
            }
        }
    }

    // Decide every candidate pair.
    let mut merges: Vec<(f64, u32, u32)> = Vec::new();
    let mut review: Vec<(u32, u32)> = Vec::new();
    let mut guarded: Vec<(u32, u32)> = Vec::new();
    let mut weight_of: FxHashMap<person::Pattern, f64> = FxHashMap::default();
    for c in &cands {
        let k = (c.a, c.b);
        if forced.contains(&k) || cannot.contains(&k) {
            continue;
        }
        let w = *weight_of
            .entry(c.pattern)
            .or_insert_with(|| model.total(c.pattern));
        if w < cfg.linkage.review_at {
            continue;
        }
        if person::guard(&feats, cfg, c.a as usize, c.b as usize, c.pattern).is_some() {
            guarded.push(k);
        } else if w >= cfg.linkage.merge_at {
            merges.push((w, c.a, c.b));
        } else {
            review.push(k);
        }
    }
    drop(cands);
    merges.sort_by(|x, y| y.0.total_cmp(&x.0).then((x.1, x.2).cmp(&(y.1, y.2))));

    // Clustering: reviewer merges first, then model merges by falling score,
    // each only if no pair across the two groups is kept apart.
    let mut cl = person::Clusters::new(persons.len());
    let mut edges: Vec<(u32, u32)> = Vec::new();
    let mut forced_sorted: Vec<(u32, u32)> = forced.iter().copied().collect();
    forced_sorted.sort_unstable();
    for &(a, b) in &forced_sorted {
        cl.union(a, b);
        edges.push((a, b));
    }
    let mut conflicts: Vec<(u32, u32)> = Vec::new();
    for &(_, a, b) in &merges {
        let (ra, rb) = (cl.find(a), cl.find(b));
        if ra == rb {
            continue;
        }
        let (ma, mb) = (cl.members(ra), cl.members(rb));
        let ok = ma.len() * mb.len() <= 400
            && ma.iter().all(|&x| {
                mb.iter().all(|&y| {
                    let k = (x.min(y), x.max(y));
                    if cannot.contains(&k) {
                        return false;
                    }
                    if forced.contains(&k) {
                        return true;
                    }
                    let p = feats.compare(x as usize, y as usize);
                    model.total(p) >= cfg.linkage.cluster_min
                        && person::guard(&feats, cfg, x as usize, y as usize, p).is_none()
                })
            });
        if ok {
            cl.union(a, b);
            edges.push((a, b));
        } else {
            conflicts.push((a, b));
        }
    }

    tracing::info!(
        ms = t0.elapsed().as_millis() as u64,
        "Pairs decided and clustered."
    );
    let linked = Linked {
        feats,
        model,
        merged: edges,
        forced,
        other_pairs: Vec::new(),
    };
    let mut other = Vec::new();
    let side_of = |i: u32| {
        let h = &persons[i as usize].header;
        side(h, &survive::primary_key(h))
    };
    let push = |a: u32, b: u32, decision: Decision, reason: Option<&str>, other: &mut Vec<Pair>| {
        let mut p = linked.explain(
            cfg,
            a as usize,
            b as usize,
            persons,
            opts.with_values,
            side_of(a),
            side_of(b),
        );
        p.decision = decision;
        if let Some(r) = reason {
            p.reason = Some(r.to_string());
        }
        other.push(p);
    };
    for &(a, b) in &review {
        if cl.find(a) != cl.find(b) {
            push(a, b, Decision::Review, None, &mut other);
        }
    }
    for &(a, b) in &conflicts {
        if cl.find(a) != cl.find(b) {
            push(a, b, Decision::Review, Some("cluster-conflict"), &mut other);
        }
    }
    out.summary.guarded_pairs = guarded.len() as u64;
    for &(a, b) in &guarded {
        if cl.find(a) != cl.find(b) {
            push(a, b, Decision::Distinct, None, &mut other);
        }
    }
    let mut cannot_sorted: Vec<(u32, u32)> = cannot.iter().copied().collect();
    cannot_sorted.sort_unstable();
    for (a, b) in cannot_sorted {
        push(a, b, Decision::Distinct, Some("reviewer"), &mut other);
    }
    Ok(Linked {
        other_pairs: other,
        ..linked
    })
}
