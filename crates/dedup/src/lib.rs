//! Duplicate detection and person linkage for canonical records, every
//! decision explained.
//!
//! [`Deduper`] takes [`Record`]s one at a time and collapses exact
//! duplicates as they arrive: the same record read again (same
//! [`content_sha256`], same source system and key, any kind: overlapping
//! nightly exports) is one survivor with the provenance of every copy.
//! Records with the same content under *different* keys are not merged on
//! content alone (3,000 placeholder "Unknown Unknown" persons are 3,000
//! people): persons go through linkage, notes and entries through
//! near-duplicate detection. [`Deduper::run`]
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
//! each, and the candidate pairs) is held in memory; so are the records,
//! which are moved into the survivors, not copied. A merged cluster is
//! reported with the links that joined it (a spanning set: n - 1 pairs for
//! n records), never with all its n(n-1)/2 pairs.
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
//!         extras: Default::default(),
//!     },
//!     first_name: Some(first.into()),
//!     last_name: Some("Okafor".into()),
//!     date_of_birth: chrono::NaiveDate::from_ymd_opt(2015, 6, 1),
//!     ..Person::default()
//! });
//! let mut d = Deduper::new(DedupConfig::default());
//! d.push(person("1", "Amara"));
//! d.push(person("1", "Amara"));   // the same record again: an exact copy
//! d.push(person("2", "Amara"));   // another key: for linkage to decide
//! let out = d.run(&Default::default()).unwrap();
//! assert_eq!(out.summary.exact_duplicates, 1);
//! // Two records alone teach the model nothing: a name and a date of
//! // birth shared by everyone in the input identify no one.
//! assert_eq!(out.records.len(), 2);
//! assert!(out.pairs.iter().all(|p| p.decision != Decision::Merge));
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
    #[error("{}: cannot read", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("{}: cannot write", path.display())]
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
    /// The configuration is not valid: every problem, each with its file
    /// and line (values are never quoted).
    #[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Config {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        problems: Vec<casebridge_mapping::Diagnostic>,
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
    /// Exact copies: kind, content hash and a hash of the primary source key.
    by_hash: FxHashMap<(RecordKind, Sha256, u64), usize>,
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
            counts_in: FxHashMap::default(),
            exact: 0,
        }
    }

    /// Adds a record; a copy of one already added (same content, same
    /// system and key: overlapping exports) is merged into it, its
    /// provenance kept. Records with the same content under different keys
    /// are not merged here: the source holds them as different records, so
    /// only linkage (persons) or near-duplicate detection (notes, entries),
    /// with their guards, may merge them. See: issue 9.
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
        let key = key_hash(record.header());
        // The key is held as a hash; a hit is confirmed on the record's own
        // key (a collision is only a copy left unmerged, never a wrong merge).
        let hit = self.by_hash.get(&(kind, hash, key)).copied().filter(|&i| {
            survive::primary_key(self.records[i].header()) == survive::primary_key(record.header())
        });
        match hit {
            Some(i) => {
                self.exact += 1;
                let mut record = record;
                let h = std::mem::take(record.header_mut());
                let s = self.records[i].header_mut();
                for k in h.source_keys {
                    if !s.source_keys.contains(&k) {
                        s.source_keys.push(k);
                    }
                }
                s.provenance.extend(h.provenance);
            }
            None => {
                self.by_hash
                    .entry((kind, hash, key))
                    .or_insert(self.records.len());
                self.records.push(record);
            }
        }
    }

    /// The records held (exact copies merged, each with every copy's
    /// provenance), without linking them: for a run that stops before
    /// deduplication and must still account for what it read.
    pub fn into_records(self) -> Vec<Record> {
        self.records
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

fn key_hash(h: &casebridge_model::Header) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut s = rustc_hash::FxHasher::default();
    survive::primary_key(h).hash(&mut s);
    s.finish()
}

fn side(h: &casebridge_model::Header, key: &SourceKey) -> PairSide {
    PairSide {
        id: h.id.clone(),
        system: key.system.clone(),
        key: key.key.clone(),
    }
}

/// Distinct source keys of a record, primary first.
fn keys_of(h: &casebridge_model::Header) -> Vec<&SourceKey> {
    let mut out: Vec<&SourceKey> = Vec::new();
    for k in &h.source_keys {
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

/// A link that joined two groups of records (the spanning set of a cluster).
enum Join {
    /// Near-duplicate texts.
    Near(notes::NearPair),
    /// Linked persons (positions among the persons).
    Person(u32, u32),
}

fn near_pair(kind: RecordKind, left: PairSide, right: PairSide, np: &notes::NearPair) -> Pair {
    let (sim, days) = (np.similarity, np.days_apart);
    Pair {
        kind,
        left,
        right,
        score: sim,
        decision: Decision::Merge,
        method: Method::Near,
        reason: None,
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
                level: format!("{days} day(s) apart"),
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
}

fn run(d: Deduper, opts: &RunOptions) -> Result<Outcome> {
    let Deduper {
        cfg,
        records,
        counts_in,
        exact,
        by_hash,
    } = d;
    drop(by_hash);
    let mut out = Outcome::default();
    out.summary.exact_duplicates = exact;
    out.summary.records_in = RecordKind::ALL
        .iter()
        .filter_map(|k| counts_in.get(k).map(|n| (*k, *n)))
        .collect();

    // Which records end up merged into which, and the links that joined
    // each cluster (a spanning set: n - 1 links for n records, never every
    // pair).
    let n = records.len();
    let mut clusters = person::Clusters::new(n);
    let mut joins: Vec<(u32, u32, Join)> = Vec::new();

    // Near-duplicate notes and chronology entries.
    let text_idx: Vec<usize> = (0..n)
        .filter(|&i| matches!(records[i], Record::CaseNote(_) | Record::ChronologyEntry(_)))
        .collect();
    if cfg.notes.enabled {
        for p in notes::near_pairs(&records, &text_idx, &cfg.notes) {
            let (a, b) = (p.a as u32, p.b as u32);
            if clusters.union(a, b).is_some() {
                joins.push((a, b, Join::Near(p)));
            }
        }
    }
    tracing::info!(near_links = joins.len(), "Near duplicates found.");

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
    if !persons.is_empty() {
        link = Some(link_persons(&cfg, &persons, opts, &mut out)?);
    }
    if let Some(l) = &link {
        for &(a, b) in &l.merged {
            let (ra, rb) = (person_idx[a as usize] as u32, person_idx[b as usize] as u32);
            if clusters.union(ra, rb).is_some() {
                joins.push((ra, rb, Join::Person(a, b)));
            }
        }
    }

    // The pairs of every cluster: the keys of one record (an input that
    // already merged copies), then the links that joined it.
    let mut joins_of: FxHashMap<u32, Vec<usize>> = FxHashMap::default();
    for (j, (a, _, _)) in joins.iter().enumerate() {
        joins_of.entry(clusters.find(*a)).or_default().push(j);
    }
    let mut roots: Vec<(usize, u32)> = Vec::new();
    let mut seen = vec![false; n];
    for i in 0..n {
        let root = clusters.find(i as u32);
        if !seen[root as usize] {
            seen[root as usize] = true;
            roots.push((i, root));
        }
    }
    drop(seen);
    let person_pos: FxHashMap<usize, usize> = person_idx
        .iter()
        .enumerate()
        .map(|(p, &i)| (i, p))
        .collect();
    for &(first, root) in &roots {
        let kind = records[first].kind();
        let mut members: Vec<u32> = clusters.members(root).to_vec();
        members.sort_unstable();
        for &m in &members {
            let h = records[m as usize].header();
            let keys = keys_of(h);
            for k in keys.iter().skip(1) {
                let score = match (&link, person_pos.get(&(m as usize))) {
                    (Some(l), Some(&p)) => l.self_score(p),
                    _ => 1.0,
                };
                out.pairs.push(Pair {
                    kind,
                    left: side(h, keys[0]),
                    right: side(h, k),
                    score,
                    decision: Decision::Merge,
                    method: Method::Exact,
                    reason: None,
                    prior: None,
                    fields: Vec::new(),
                });
            }
        }
        for &j in joins_of.get(&root).map_or(&[][..], |v| &v[..]) {
            let (a, b, how) = &joins[j];
            let (ha, hb) = (records[*a as usize].header(), records[*b as usize].header());
            let (left, right) = (
                side(ha, &survive::primary_key(ha)),
                side(hb, &survive::primary_key(hb)),
            );
            let pair = match (how, &link) {
                (Join::Near(np), _) => near_pair(kind, left, right, np),
                (Join::Person(pa, pb), Some(l)) => {
                    let (pa, pb) = (*pa as usize, *pb as usize);
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
                }
                (Join::Person(..), None) => continue,
            };
            out.pairs.push(pair);
        }
    }
    drop(joins_of);
    drop(joins);
    drop(persons);
    drop(person_pos);

    // The survivors, moved out of the records (never cloned), in place: a
    // merged cluster's survivor takes its first member's slot, the other
    // members' slots are emptied (a record without allocations).
    let mut records = records;
    let mut keep = vec![false; n];
    let placeholder = || Record::Person(Person::default());
    for &(first, root) in &roots {
        keep[first] = true;
        let members = clusters.members(root);
        if members.len() <= 1 {
            continue;
        }
        let mut members: Vec<u32> = members.to_vec();
        members.sort_unstable();
        let taken: Vec<Record> = members
            .iter()
            .map(|&m| std::mem::replace(&mut records[m as usize], placeholder()))
            .collect();
        let survivor = if taken[0].kind() == RecordKind::Person {
            out.summary.persons_merged += taken.len() as u64 - 1;
            let ps: Vec<Person> = taken
                .into_iter()
                .filter_map(|r| match r {
                    Record::Person(p) => Some(p),
                    _ => None,
                })
                .collect();
            Some(Record::Person(survive::merge_persons(&cfg, ps)))
        } else {
            out.summary.near_duplicates += taken.len() as u64 - 1;
            survive::merge_texts(taken)
        };
        match survivor {
            Some(r) => records[first] = r,
            None => keep[first] = false,
        }
    }
    drop(roots);
    drop(clusters);
    let mut at = 0;
    records.retain(|_| {
        at += 1;
        keep[at - 1]
    });
    drop(keep);
    // Kinds in [`RecordKind::ALL`] order, each in read order: a stable
    // sort by kind, done as an in-place permutation.
    let rank = |r: &Record| RecordKind::ALL.iter().position(|k| *k == r.kind());
    let mut order: Vec<(Option<usize>, u32)> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (rank(r), i as u32))
        .collect();
    order.sort_unstable();
    // Apply: slot i receives record order[i].1 (cycle by cycle).
    let mut dest: Vec<u32> = vec![0; order.len()];
    for (i, &(_, src)) in order.iter().enumerate() {
        dest[src as usize] = i as u32;
    }
    drop(order);
    for i in 0..records.len() {
        while dest[i] as usize != i {
            let j = dest[i] as usize;
            records.swap(i, j);
            dest.swap(i, j);
        }
    }
    drop(dest);
    out.records = records;
    if let Some(l) = link {
        out.pairs.extend(l.other_pairs);
        out.model = Some(l.model);
    }
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
    /// Score of a person compared with itself (two keys of one record).
    fn self_score(&self, p: usize) -> f64 {
        self.model.total(self.feats.compare(p, p))
    }

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
    // each only if no pair across the two groups is kept apart. Records
    // identical in every feature compare alike, so the check runs over the
    // distinct groups of identical records on each side (a cluster of a
    // hundred thousand copies is one), and over the records a reviewer kept
    // apart from another.
    let mut cl = person::Clusters::new(persons.len());
    let mut tuples_in: Vec<Vec<u32>> = (0..persons.len()).map(|i| vec![feats.tuple(i)]).collect();
    let flagged: FxHashSet<u32> = cannot.iter().flat_map(|&(a, b)| [a, b]).collect();
    let mut flags_in: Vec<Vec<u32>> = (0..persons.len() as u32)
        .map(|i| {
            if flagged.contains(&i) {
                vec![i]
            } else {
                Vec::new()
            }
        })
        .collect();
    let tuple_pair = |a: u32, b: u32| {
        let (x, y) = (feats.tuple(a as usize), feats.tuple(b as usize));
        (x.min(y), x.max(y))
    };
    let forced_t: FxHashSet<(u32, u32)> = forced.iter().map(|&(a, b)| tuple_pair(a, b)).collect();
    fn join(cl: &mut person::Clusters, lists: [&mut Vec<Vec<u32>>; 2], a: u32, b: u32) -> bool {
        let Some((big, small)) = cl.union(a, b) else {
            return false;
        };
        for list in lists {
            let moved = std::mem::take(&mut list[small as usize]);
            for t in moved {
                if !list[big as usize].contains(&t) {
                    list[big as usize].push(t);
                }
            }
        }
        true
    }
    let mut edges: Vec<(u32, u32)> = Vec::new();
    let mut forced_sorted: Vec<(u32, u32)> = forced.iter().copied().collect();
    forced_sorted.sort_unstable();
    for &(a, b) in &forced_sorted {
        if join(&mut cl, [&mut tuples_in, &mut flags_in], a, b) {
            edges.push((a, b));
        }
    }
    let mut conflicts: Vec<(u32, u32)> = Vec::new();
    for &(_, a, b) in &merges {
        let (ra, rb) = (cl.find(a), cl.find(b));
        if ra == rb {
            continue;
        }
        let (ta, tb) = (&tuples_in[ra as usize], &tuples_in[rb as usize]);
        let (fa, fb) = (&flags_in[ra as usize], &flags_in[rb as usize]);
        let ok = ta.len() * tb.len() <= 400
            && fa
                .iter()
                .all(|&x| fb.iter().all(|&y| !cannot.contains(&(x.min(y), x.max(y)))))
            && ta.iter().all(|&p| {
                tb.iter().all(|&q| {
                    if forced_t.contains(&(p.min(q), p.max(q))) {
                        return true;
                    }
                    let (x, y) = (feats.tuple_rep(p), feats.tuple_rep(q));
                    let pat = feats.compare(x, y);
                    model.total(pat) >= cfg.linkage.cluster_min
                        && person::guard(&feats, cfg, x, y, pat).is_none()
                })
            });
        if ok {
            join(&mut cl, [&mut tuples_in, &mut flags_in], a, b);
            edges.push((a, b));
        } else {
            conflicts.push((a, b));
        }
    }
    drop((tuples_in, flags_in));

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use casebridge_model::{
        CaseNote, Header, Locator, MappingRef, Provenance, SourceKey, SourceRef,
    };

    fn key(system: &str, key: &str) -> SourceKey {
        SourceKey {
            system: system.into(),
            key: key.into(),
        }
    }

    fn prov(file: &str, line: u64) -> Provenance {
        Provenance {
            run_id: "t".into(),
            source: SourceRef {
                system: "mosaic".into(),
                file: file.into(),
                sha256: Sha256::default(),
            },
            locator: Locator::CsvLine {
                line,
                record: line - 1,
            },
            mapping: MappingRef {
                id: "m".into(),
                version: "1".into(),
                sha256: Sha256::default(),
            },
            content_sha256: Sha256::default(),
        }
    }

    fn unknown(k: &str, p: Provenance) -> Record {
        Record::Person(Person {
            header: Header {
                id: format!("person:{k}"),
                source_keys: vec![key("mosaic", k)],
                provenance: vec![p],
                extras: Default::default(),
            },
            first_name: Some("Unknown".into()),
            last_name: Some("Unknown".into()),
            ..Person::default()
        })
    }

    fn note(k: &str, day: u32) -> Record {
        Record::CaseNote(CaseNote {
            header: Header {
                id: format!("note:{k}"),
                source_keys: vec![key("mosaic", k)],
                provenance: vec![prov("CASE_NOTES.csv", 2)],
                extras: Default::default(),
            },
            subjects: vec!["person:1".into()],
            contact_date: chrono::NaiveDate::from_ymd_opt(2026, 3, day)
                .and_then(|d| d.and_hms_opt(10, 0, 0)),
            text: Some(
                "Visited the family at home. Mother said the children were well. \
                 We talked about school attendance and the plan."
                    .into(),
            ),
            ..CaseNote::default()
        })
    }

    // See: issue 9.
    #[test]
    fn issue_9_placeholder_persons_with_distinct_keys_are_not_one_survivor() {
        let mut d = Deduper::new(DedupConfig::default());
        for i in 0..3000u64 {
            d.push(unknown(
                &format!("{}", 100_000 + i),
                prov("DM_PERSONS.csv", i + 2),
            ));
        }
        let out = d.run(&RunOptions::default()).unwrap();
        assert_eq!(out.summary.exact_duplicates, 0);
        assert_eq!(out.records.len(), 3000, "3,000 keys are 3,000 people");
        assert!(out.pairs.iter().all(|p| p.decision != Decision::Merge));
    }

    #[test]
    fn overlapping_exports_collapse_as_exact_copies_with_every_provenance() {
        let mut d = Deduper::new(DedupConfig::default());
        for (file, n) in [("monday.csv", 3u64), ("tuesday.csv", 4)] {
            for i in 0..n {
                d.push(unknown(&format!("{}", 7 + i), prov(file, i + 2)));
            }
        }
        let out = d.run(&RunOptions::default()).unwrap();
        assert_eq!(out.summary.exact_duplicates, 3);
        assert_eq!(out.records.len(), 4);
        let provs: Vec<usize> = out
            .records
            .iter()
            .map(|r| r.header().provenance.len())
            .collect();
        assert_eq!(provs, [2, 2, 2, 1]);
        assert!(out
            .records
            .iter()
            .all(|r| r.header().source_keys.len() == 1));
        // A copy under the same key is no pair to explain.
        assert!(out.pairs.is_empty(), "{:?}", out.pairs);
    }

    #[test]
    fn identical_notes_under_other_keys_merge_as_near_duplicates_with_a_spanning_set() {
        let mut d = Deduper::new(DedupConfig::default());
        for i in 0..40 {
            d.push(note(&format!("N{i}"), 10));
        }
        let out = d.run(&RunOptions::default()).unwrap();
        assert_eq!(out.summary.exact_duplicates, 0);
        assert_eq!(out.records.len(), 1);
        assert_eq!(out.records[0].header().source_keys.len(), 40);
        assert_eq!(out.summary.near_duplicates, 39);
        // n - 1 links, not n(n-1)/2 = 780 pairs.
        assert_eq!(out.pairs.len(), 39);
        assert!(out
            .pairs
            .iter()
            .all(|p| p.method == Method::Near && p.score == 1.0));
    }
}
