//! Drafts a mapping file for an export casebridge has no mapping for
//! (`casebridge mapping init`).
//!
//! [`draft_mapping`] reads the header and the first rows of a CSV or XLSX
//! file ([`sample_file`], through the same readers every command uses),
//! then [`draft_from_sample`] guesses the record kind and, per canonical
//! field, the column that holds it, comparing column names with the
//! catalogue's field names, built-in synonyms and the columns the shipped
//! mappings read ([`Knowledge`]). It guesses the source settings
//! (glob, encoding, delimiter, null markers, date formats from the values)
//! and a code set per coded field, and writes a TOML mapping in which every
//! guess carries a `# REVIEW:` comment saying what it came from.
//!
//! The draft never holds a value of a personal field: only column names,
//! the codes seen in coded fields and counts. It is loaded with
//! [`Mapping::from_str`] before it is returned; one that does not load is
//! [`Error::DraftInvalid`] (a bug).

mod dates;
mod knowledge;
mod names;
mod sample;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use casebridge_mapping::mapping::parse_bool;
use casebridge_mapping::{is_secret_key, DateFormats, Mapping, SourceFormat};
use casebridge_model::{Encoding, FieldDef, FieldType, RecordKind};

pub use knowledge::{Knowledge, KnownCodeSet, Learned, LearnedField};
pub use sample::{detect_delimiter, sample_file, ColumnSample, Sample};

use crate::{Error, Limits};
use names::{name_match, How};

/// Settings of a draft.
#[derive(Debug, Clone)]
pub struct DraftOptions {
    /// Data rows sampled.
    pub rows: usize,
    /// The record kind, when the user gives it (else guessed).
    pub kind: Option<RecordKind>,
    /// The sheet of a workbook (else its first).
    pub sheet: Option<String>,
    /// Where the draft will be written: code set and template files are
    /// named relative to its folder (absolute paths when `None`).
    pub out: Option<PathBuf>,
    /// Reader limits.
    pub limits: Limits,
}

impl Default for DraftOptions {
    fn default() -> Self {
        DraftOptions {
            rows: 200,
            kind: None,
            sheet: None,
            out: None,
            limits: Limits::default(),
        }
    }
}

/// A drafted mapping.
#[derive(Debug)]
pub struct Draft {
    /// The mapping file's text.
    pub text: String,
    /// Its record kind.
    pub kind: RecordKind,
    /// Whether the kind was guessed (not given).
    pub kind_guessed: bool,
    /// Data rows sampled.
    pub rows: usize,
    /// Columns in the header.
    pub columns: usize,
    /// Columns some field reads.
    pub matched_columns: usize,
    /// The draft, loaded.
    pub mapping: Mapping,
}

/// Reads the header and first rows of `input` and drafts a mapping for it.
pub fn draft_mapping(
    input: &Path,
    opts: &DraftOptions,
    knowledge: &Knowledge,
) -> Result<Draft, Error> {
    let sample = sample_file(input, opts.rows, opts.sheet.as_deref(), &opts.limits)?;
    draft_from_sample(&sample, opts, knowledge)
}

/// The least score a column needs to be taken for a field.
const MIN_SCORE: f64 = 0.5;

/// What a column name was compared with.
#[derive(Debug, Clone, Copy)]
enum Source<'k> {
    /// A column a shipped mapping reads for this field (`same`: for this kind).
    Learned {
        mapping: &'k Learned,
        field: &'k LearnedField,
        same: bool,
    },
    /// The field's own name.
    Canonical,
    /// A built-in synonym.
    Synonym(&'static str),
}

/// A column (or columns) taken for a field.
#[derive(Debug, Clone)]
struct Pick<'k> {
    field: usize,
    columns: Vec<usize>,
    separator: Option<String>,
    score: f64,
    how: Option<How>,
    source: Option<Source<'k>>,
    /// May share its column with another field: a shipped mapping of this
    /// kind reads that very column for this field.
    shares: bool,
    /// No column matched the key: one was taken by its shape.
    fallback: bool,
}

/// The fields of one kind matched to the header.
#[derive(Debug, Clone)]
struct Assignment<'k> {
    kind: RecordKind,
    picks: Vec<Pick<'k>>,
    score: f64,
}

impl Assignment<'_> {
    fn matched(&self) -> usize {
        self.picks.iter().filter(|p| !p.fallback).count()
    }
}

fn header_index(header: &[String], name: &str) -> Option<usize> {
    header.iter().position(|h| h.trim() == name).or_else(|| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    })
}

/// Whether a draft of `kind` should always map the key: unless every
/// shipped mapping of the kind leaves it out (form answers rarely have one).
fn wants_key(kind: RecordKind, knowledge: &Knowledge) -> bool {
    let mut of_kind = knowledge
        .mappings
        .iter()
        .filter(|m| m.kind == kind)
        .peekable();
    of_kind.peek().is_none() || of_kind.any(|m| m.fields.iter().any(|f| f.field == "source_key"))
}

/// A shipped mapping of `kind` that requires `field`: `prefer` if it does.
fn required_by_shipped<'k>(
    kind: RecordKind,
    field: &str,
    knowledge: &'k Knowledge,
    prefer: Option<&'k Learned>,
) -> Option<&'k Learned> {
    let requires =
        |m: &Learned| m.kind == kind && m.fields.iter().any(|f| f.field == field && f.required);
    prefer
        .filter(|m| requires(m))
        .or_else(|| knowledge.mappings.iter().find(|m| requires(m)))
}

/// Matches `kind`'s fields to the header: every (field, column) pair
/// scored by its best evidence, then taken greedily, best first (the key
/// and the fields shipped mappings require first on a tie), each column
/// once unless a shipped mapping of the kind reads it for both fields.
fn assign<'k>(kind: RecordKind, header: &[String], knowledge: &'k Knowledge) -> Assignment<'k> {
    let fields = kind.fields();
    let mut cands: Vec<Pick<'k>> = Vec::new();
    for (fi, def) in fields.iter().enumerate() {
        let mut evidence: Vec<(&str, f64, Source<'k>)> = Vec::new();
        for m in &knowledge.mappings {
            let same = m.kind == kind;
            for lf in m.fields.iter().filter(|f| f.field == def.name) {
                match lf.columns.as_slice() {
                    [one] => evidence.push((
                        one.as_str(),
                        if same { 1.0 } else { 0.8 },
                        Source::Learned {
                            mapping: m,
                            field: lf,
                            same,
                        },
                    )),
                    many if same && many.len() > 1 => {
                        let idx: Option<Vec<usize>> =
                            many.iter().map(|c| header_index(header, c)).collect();
                        if let Some(idx) = idx {
                            cands.push(Pick {
                                field: fi,
                                columns: idx,
                                separator: lf.separator.clone(),
                                score: 1.0,
                                how: Some(How::Exact),
                                source: Some(Source::Learned {
                                    mapping: m,
                                    field: lf,
                                    same,
                                }),
                                shares: true,
                                fallback: false,
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
        evidence.push((def.name, 0.9, Source::Canonical));
        for s in names::synonyms(kind, def.name) {
            evidence.push((s, 0.85, Source::Synonym(s)));
        }
        for (ci, col) in header.iter().enumerate() {
            let best = evidence
                .iter()
                .filter_map(|(name, strength, src)| {
                    name_match(col, name).map(|(q, how)| (q * strength, how, *src))
                })
                .max_by(|a, b| a.0.total_cmp(&b.0));
            if let Some((score, how, src)) = best {
                if score >= MIN_SCORE {
                    cands.push(Pick {
                        field: fi,
                        columns: vec![ci],
                        separator: None,
                        score,
                        how: Some(how),
                        source: Some(src),
                        shares: how == How::Exact
                            && matches!(src, Source::Learned { same: true, .. }),
                        fallback: false,
                    });
                }
            }
        }
    }
    let priority = |p: &Pick| {
        let def = &fields[p.field];
        if def.is_key {
            0
        } else if required_by_shipped(kind, def.name, knowledge, None).is_some() {
            1
        } else {
            2
        }
    };
    cands.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(priority(a).cmp(&priority(b)))
            .then(a.field.cmp(&b.field))
            .then(a.columns.cmp(&b.columns))
    });
    let mut used = vec![false; header.len()];
    let mut taken = vec![false; fields.len()];
    let mut picks: Vec<Pick<'k>> = Vec::new();
    for c in cands {
        if taken[c.field] || (!c.shares && c.columns.iter().any(|i| used[*i])) {
            continue;
        }
        taken[c.field] = true;
        for i in &c.columns {
            used[*i] = true;
        }
        picks.push(c);
    }
    let score = picks.iter().map(|p| p.score).sum();
    if let Some(key) = fields.iter().position(|f| f.is_key) {
        if !taken[key] && wants_key(kind, knowledge) && !header.is_empty() {
            let id_like = |h: &String| {
                let n = names::norm(h);
                n.rsplit('_')
                    .next()
                    .is_some_and(|w| ["id", "ref", "key", "no", "number", "code"].contains(&w))
            };
            let col = (0..header.len())
                .find(|i| !used[*i] && id_like(&header[*i]))
                .or_else(|| (0..header.len()).find(|i| !used[*i]))
                .unwrap_or(0);
            picks.push(Pick {
                field: key,
                columns: vec![col],
                separator: None,
                score: 0.0,
                how: None,
                source: None,
                shares: false,
                fallback: true,
            });
        }
    }
    picks.sort_by_key(|p| p.field);
    Assignment { kind, picks, score }
}

/// TOML string syntax for `s` (quoted and escaped).
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn q_list<S: AsRef<str>>(items: &[S]) -> String {
    let parts: Vec<String> = items.iter().map(|s| q(s.as_ref())).collect();
    format!("[{}]", parts.join(", "))
}

/// Appends `text` as `# ` comment lines of at most about 100 characters.
fn comment(out: &mut String, text: &str) {
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() + word.len() + 1 > 98 && line.len() > 12 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#  ");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}

fn review(out: &mut String, text: &str) {
    comment(out, &format!("REVIEW: {text}"));
}

/// `path` relative to the folder `from` (both absolute), with `/`; `to`
/// as it is when they share no folder but the root.
fn relative(from: &Path, to: &Path) -> String {
    let f: Vec<Component> = from.components().collect();
    let t: Vec<Component> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    if common <= 1 {
        return to.to_string_lossy().into_owned();
    }
    let mut parts: Vec<String> = vec!["..".to_string(); f.len() - common];
    parts.extend(
        t[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

/// A file glob for files like `name`: its stem without a trailing date or
/// number, then `*`, then its extension (`DM_PERSONS.csv` -> `DM_PERSONS*.csv`,
/// `persons_2024-05-01.csv` -> `persons*.csv`).
fn glob_for(name: &str) -> String {
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s, Some(e)),
        _ => (name, None),
    };
    let trimmed = stem.trim_end_matches(|c: char| c.is_ascii_digit() || "_- ".contains(c));
    let stem = if trimmed.is_empty() { stem } else { trimmed };
    let escape = |s: &str| {
        s.chars()
            .map(|c| {
                if "*?[]{}\\".contains(c) {
                    format!("\\{c}")
                } else {
                    c.to_string()
                }
            })
            .collect::<String>()
    };
    match ext {
        Some(e) => format!("{}*.{}", escape(stem), escape(e)),
        None => format!("{}*", escape(stem)),
    }
}

fn mapping_id(name: &str) -> String {
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    let mut slug = String::new();
    for c in stem.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "draft".to_string()
    } else {
        format!("draft-{slug}")
    }
}

/// A code set a draft refers to.
#[derive(Debug)]
enum CodeSetOut {
    File(PathBuf),
    Inline(BTreeMap<String, String>),
}

/// Everything written for one field.
#[derive(Debug, Default)]
struct FieldOut {
    reviews: Vec<String>,
    lines: Vec<String>,
    codeset: Option<(String, CodeSetOut, Vec<String>)>,
}

/// The values of a coded column with their counts, most common first;
/// `None` when they do not look like codes (too many, or too long).
fn code_values(col: &ColumnSample) -> Option<Vec<(&str, usize)>> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &col.values {
        *counts.entry(v.as_str()).or_default() += 1;
    }
    let distinct = counts.len();
    let coded = col.long == 0
        && distinct <= 50
        && (distinct <= 20 || distinct * 2 <= col.values.len())
        && counts.keys().all(|k| k.chars().count() <= 40);
    if !coded {
        return None;
    }
    let mut v: Vec<(&str, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    Some(v)
}

fn values_note(values: &[(&str, usize)], rows: usize) -> String {
    let shown: Vec<String> = values
        .iter()
        .take(20)
        .map(|(v, n)| format!("{} ({n})", q(v)))
        .collect();
    let more = values.len().saturating_sub(20);
    format!(
        "{} distinct value(s) in {rows} row(s): {}{}",
        values.len(),
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

struct Ctx<'a, 'k> {
    sample: &'a Sample,
    knowledge: &'k Knowledge,
    kind: RecordKind,
    /// The shipped mapping the field's column was learned from.
    prefer: Option<&'k Learned>,
}

impl<'k> Ctx<'_, 'k> {
    /// The code sets shipped mappings use for a field: the one the column
    /// was learned from first, then this kind's, then the others'.
    fn shipped_codesets(&self, field: &str) -> Vec<(&'k KnownCodeSet, &'k Learned)> {
        let mut out: Vec<(&KnownCodeSet, &Learned)> = Vec::new();
        let rank = |m: &Learned| {
            if self.prefer.is_some_and(|p| std::ptr::eq(p, m)) {
                0
            } else if m.kind == self.kind {
                1
            } else {
                2
            }
        };
        for r in 0..3 {
            for m in &self.knowledge.mappings {
                if rank(m) != r {
                    continue;
                }
                for f in m.fields.iter().filter(|f| f.field == field) {
                    if let Some(cs) = f.codeset.as_deref().and_then(|p| self.knowledge.codeset(p)) {
                        if !out.iter().any(|(c, _)| c.path == cs.path) {
                            out.push((cs, m));
                        }
                    }
                }
            }
        }
        out
    }

    /// A code field's code set: a shipped one most seen values are in, else
    /// an inline one from the values seen.
    fn code_field(&self, def: &FieldDef, col: &ColumnSample, out: &mut FieldOut) {
        let shipped = self.shipped_codesets(def.name);
        let present = col.present();
        if present == 0 {
            if let Some((cs, m)) = shipped.first() {
                out.reviews.push(format!(
                    "no values seen; code set `{}` is the one shipped mapping {} uses for this field",
                    cs.set.id, m.id
                ));
                out.codeset = Some((
                    def.name.to_string(),
                    CodeSetOut::File(cs.path.clone()),
                    vec![],
                ));
            } else {
                out.reviews.push(
                    "no values seen and no shipped code set for this field: read as text; add a \
                     code set"
                        .to_string(),
                );
            }
            return;
        }
        let Some(values) = code_values(col).filter(|_| !def.is_personal) else {
            out.reviews.push(format!(
                "{present} value(s) that do not look like codes (values not listed): check that \
                 this column holds the field; read as text until a code set is added"
            ));
            return;
        };
        out.reviews.push(values_note(&values, self.sample.rows));
        // The set most values are in; on a tie, the one listed first.
        let best = shipped
            .iter()
            .enumerate()
            .map(|(i, (cs, m))| {
                let rows_in: usize = values
                    .iter()
                    .filter(|(v, _)| cs.set.lookup(v).is_some())
                    .map(|(_, n)| n)
                    .sum();
                (rows_in, std::cmp::Reverse(i), *cs, *m)
            })
            .max_by_key(|(rows_in, i, _, _)| (*rows_in, *i))
            .map(|(rows_in, _, cs, m)| (rows_in, cs, m));
        let seen: usize = values.iter().map(|(_, n)| n).sum();
        match best {
            Some((rows_in, cs, m)) if rows_in * 5 >= seen * 4 => {
                let missing: Vec<String> = values
                    .iter()
                    .filter(|(v, _)| cs.set.lookup(v).is_none())
                    .map(|(v, _)| q(v))
                    .collect();
                let mut note = format!(
                    "{rows_in} of {seen} value(s) are in code set `{}`, which shipped mapping {} \
                     uses for this field",
                    cs.set.id, m.id
                );
                if !missing.is_empty() {
                    note.push_str(&format!(
                        "; not in it: {} (add them to a copy of the set)",
                        missing.join(", ")
                    ));
                }
                out.reviews.push(note);
                out.codeset = Some((
                    def.name.to_string(),
                    CodeSetOut::File(cs.path.clone()),
                    vec![],
                ));
            }
            _ => {
                let mut map = BTreeMap::new();
                let mut skipped = 0;
                for (v, _) in &values {
                    if is_secret_key(v) {
                        skipped += 1;
                    } else {
                        map.insert(v.to_string(), v.to_string());
                    }
                }
                let mut notes = vec![format!(
                    "inline code set drafted from the {} value(s) seen, each mapped to itself: \
                     give each its canonical value, or use a shared code set",
                    map.len()
                )];
                if skipped > 0 {
                    notes.push(format!(
                        "{skipped} value(s) left out: casebridge refuses keys that look like secrets"
                    ));
                }
                if map.is_empty() {
                    out.reviews.extend(notes);
                    return;
                }
                out.codeset = Some((def.name.to_string(), CodeSetOut::Inline(map), notes));
            }
        }
    }

    /// A yes/no field: read as it is if every value is yes/no, else through
    /// the yes/no code set shipped mappings use for it.
    fn boolean_field(&self, def: &FieldDef, col: &ColumnSample, out: &mut FieldOut) {
        if col.present() == 0 {
            return;
        }
        let values = code_values(col).filter(|_| !def.is_personal);
        if let Some(v) = &values {
            out.reviews.push(values_note(v, self.sample.rows));
        }
        let all_bool = col.long == 0 && col.values.iter().all(|v| parse_bool(v).is_some());
        if all_bool {
            out.reviews
                .push("every value reads as yes or no".to_string());
            return;
        }
        let fits = self.shipped_codesets(def.name).into_iter().find(|(cs, _)| {
            col.long == 0
                && col.values.iter().all(|v| {
                    cs.set
                        .lookup(v)
                        .is_some_and(|canonical| parse_bool(canonical).is_some())
                })
        });
        match fits {
            Some((cs, m)) => {
                out.reviews.push(format!(
                    "read through code set `{}`, which shipped mapping {} uses for this field",
                    cs.set.id, m.id
                ));
                out.lines.push("type = \"code\"".to_string());
                out.codeset = Some((def.name.to_string(), CodeSetOut::File(cs.path.clone()), vec![]));
            }
            None => out.reviews.push(
                "not every value reads as yes or no (y/n, yes/no, true/false, 1/0): add a code set \
                 mapping them to true or false, with type = \"code\""
                    .to_string(),
            ),
        }
    }
}

/// The formats guessed per date field, and the source-wide list.
struct DatePlan {
    per_field: BTreeMap<usize, dates::DateGuess>,
    source: Vec<&'static str>,
}

fn plan_dates(sample: &Sample, kind: RecordKind, picks: &[Pick]) -> DatePlan {
    let fields = kind.fields();
    let mut per_field = BTreeMap::new();
    let mut source: Vec<&'static str> = Vec::new();
    for p in picks {
        let def = &fields[p.field];
        if !matches!(def.ty, FieldType::Date | FieldType::DateTime) || p.columns.len() != 1 {
            continue;
        }
        let g = dates::guess_formats(&sample.columns[p.columns[0]].values);
        for f in &g.formats {
            if !source.contains(f) {
                source.push(f);
            }
        }
        per_field.insert(p.field, g);
    }
    DatePlan { per_field, source }
}

/// Whether `list` reads every value as `own` does.
fn reads_alike(values: &[String], own: &[&str], list: &[&str]) -> bool {
    let (Ok(own), Ok(list)) = (DateFormats::parse(own), DateFormats::parse(list)) else {
        return false;
    };
    values
        .iter()
        .all(|v| own.parse_datetime(v) == list.parse_datetime(v))
}

/// Drafts a mapping from a sample (see the module documentation).
pub fn draft_from_sample(
    sample: &Sample,
    opts: &DraftOptions,
    knowledge: &Knowledge,
) -> Result<Draft, Error> {
    let header = &sample.header;
    let has_template =
        |k: RecordKind| k != RecordKind::FormAnswer || template_of(knowledge).is_some();
    let mut tried: Vec<Assignment> = RecordKind::MAPPABLE
        .iter()
        .filter(|k| has_template(**k))
        .map(|k| assign(*k, header, knowledge))
        .collect();
    // Best score first; on a tie, the kind listed first.
    tried.sort_by(|a, b| b.score.total_cmp(&a.score));
    let (chosen, kind_note) = match opts.kind {
        Some(k) => {
            if !has_template(k) {
                return Err(Error::DraftInput {
                    path: sample.path.clone(),
                    reason: "a form_answer mapping needs a workbook template, and none was found \
                             beside the shipped mappings"
                        .to_string(),
                });
            }
            let a = assign(k, header, knowledge);
            let note = format!(
                "kind {k} given with --kind; {} of {} column(s) fit its fields",
                a.matched(),
                header.len()
            );
            (a, note)
        }
        None => {
            let Some(best) = tried.first().cloned() else {
                return Err(Error::DraftInput {
                    path: sample.path.clone(),
                    reason: "no record kind can be drafted".to_string(),
                });
            };
            let next = tried
                .get(1)
                .map(|n| format!("; next best {} ({:.2})", n.kind, n.score))
                .unwrap_or_default();
            let note = if best.score > 0.0 {
                format!(
                    "kind {} guessed: {} of {} column(s) fit its fields (score {:.2}{next}); \
                     give --kind to choose another",
                    best.kind,
                    best.matched(),
                    header.len(),
                    best.score
                )
            } else {
                format!(
                    "no column name fits any kind's fields: {} assumed; give --kind",
                    best.kind
                )
            };
            (best, note)
        }
    };
    let kind = chosen.kind;
    let fields = kind.fields();
    let file_name = sample
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".to_string());

    // Where relative file names start from.
    let out_dir: Option<PathBuf> = opts.out.as_ref().and_then(|o| {
        let parent = o
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::canonicalize(parent).ok()
    });
    let file_ref = |p: &Path| match &out_dir {
        Some(d) => relative(d, p),
        None => p.to_string_lossy().into_owned(),
    };

    let dates = plan_dates(sample, kind, &chosen.picks);
    let mut outs: Vec<(usize, FieldOut)> = Vec::new();
    for p in &chosen.picks {
        let def = &fields[p.field];
        let mut out = FieldOut::default();
        let learned_from = match p.source {
            Some(Source::Learned { mapping, .. }) => Some(mapping),
            _ => None,
        };
        let ctx = Ctx {
            sample,
            knowledge,
            kind,
            prefer: learned_from,
        };
        let cols: Vec<&str> = p.columns.iter().map(|i| header[*i].as_str()).collect();
        // Why this column.
        let why = match (p.source, p.how) {
            _ if p.fallback => format!(
                "no column name fits the key: column {} taken by its shape (the first free \
                 id-like column, else the first free one); the key must be unique per record",
                q(cols[0])
            ),
            (Some(Source::Learned { mapping, field, .. }), _) if cols.len() > 1 => format!(
                "columns {} joined with {} as shipped mapping {} joins them",
                cols.iter().map(|c| q(c)).collect::<Vec<_>>().join(" + "),
                q(field.separator.as_deref().unwrap_or(" ")),
                mapping.id
            ),
            (Some(Source::Learned { mapping, same, .. }), Some(how)) => format!(
                "column {} matched field {} {}: shipped mapping {} reads it{}",
                q(cols[0]),
                def.name,
                how.describe(),
                mapping.id,
                if same {
                    String::new()
                } else {
                    format!(" for {}", mapping.kind)
                }
            ),
            (Some(Source::Synonym(s)), Some(how)) => format!(
                "column {} matched field {} by synonym {}{}",
                q(cols[0]),
                def.name,
                q(s),
                if matches!(how, How::Exact | How::Normalised) {
                    String::new()
                } else {
                    format!(" ({})", how.describe())
                }
            ),
            (_, how) => format!(
                "column {} matched field {} {}",
                q(cols[0]),
                def.name,
                how.map_or("", How::describe)
            ),
        };
        out.reviews.push(why);
        if cols.len() > 1 {
            out.lines.push(format!("columns = {}", q_list(&cols)));
            if let Some(sep) = &p.separator {
                out.lines.push(format!("separator = {}", q(sep)));
            }
        } else {
            out.lines.push(format!("column = {}", q(cols[0])));
        }
        let col = p.columns.first().map(|i| &sample.columns[*i]);
        // Required: the key always; another field when shipped mappings of
        // the kind require it and no sampled row left it empty.
        if def.is_key {
            out.lines.push("required = true".to_string());
        } else if let (Some(m), Some(col)) = (
            required_by_shipped(kind, def.name, knowledge, learned_from),
            col,
        ) {
            if sample.rows > 0 && col.empty == 0 && cols.len() == 1 {
                out.reviews.push(format!(
                    "required, as in shipped mapping {}; no sampled row leaves it empty",
                    m.id
                ));
                out.lines.push("required = true".to_string());
            }
        }
        if let Some(Source::Learned { mapping, field, .. }) = p.source {
            if !field.transforms.is_empty() && cols.len() == 1 {
                out.reviews
                    .push(format!("transform as in shipped mapping {}", mapping.id));
                out.lines
                    .push(format!("transform = {}", q_list(&field.transforms)));
            }
        }
        if let Some(col) = col.filter(|_| cols.len() == 1) {
            match def.ty {
                FieldType::Code => ctx.code_field(def, col, &mut out),
                FieldType::Boolean => ctx.boolean_field(def, col, &mut out),
                FieldType::Date | FieldType::DateTime => {
                    if let Some(g) = dates.per_field.get(&p.field) {
                        let mut note = if g.values == 0 && col.typed > 0 {
                            format!(
                                "{} date cell(s), read as dates whatever the formats",
                                col.typed
                            )
                        } else if g.values == 0 {
                            "no values seen: no formats guessed (the source's or the default \
                             formats apply)"
                                .to_string()
                        } else {
                            format!(
                                "formats from {} value(s): {}",
                                g.values,
                                if g.formats.is_empty() {
                                    "none fits".to_string()
                                } else {
                                    g.formats.join(", ")
                                }
                            )
                        };
                        if g.values > 0 && col.typed > 0 {
                            note.push_str(&format!(
                                "; {} more are date cells, read as dates whatever the formats",
                                col.typed
                            ));
                        }
                        if let Some(o) = g.order_note() {
                            note.push_str(&format!("; {o}"));
                        }
                        if g.unread > 0 {
                            note.push_str(&format!(
                                "; {} of {} value(s) fit no known format (check the column)",
                                g.unread, g.values
                            ));
                        }
                        if !g.formats.is_empty()
                            && !reads_alike(&col.values, &g.formats, &dates.source)
                        {
                            out.lines
                                .push(format!("date_formats = {}", q_list(&g.formats)));
                            note.push_str(
                                "; given here, as the source's list reads them otherwise",
                            );
                        }
                        out.reviews.push(note);
                    }
                }
                _ => {}
            }
        }
        outs.push((p.field, out));
    }

    // The text.
    let mut t = String::new();
    let whole = if sample.whole_file {
        " (the whole file)"
    } else {
        ""
    };
    comment(
        &mut t,
        &format!(
            "DRAFT mapping written by `casebridge mapping init` from {}: its header and {} data \
             row(s){whole}.",
            file_name, sample.rows
        ),
    );
    comment(
        &mut t,
        "Every guess is marked REVIEW: check each, correct what is wrong, then delete the \
         REVIEW lines and this notice.",
    );
    match &knowledge.root {
        Some(root) if !knowledge.mappings.is_empty() => comment(
            &mut t,
            &format!(
                "Column names were compared with the canonical field names (`casebridge fields`), \
                 built-in synonyms and the columns of {} shipped mapping(s) in {}.",
                knowledge.mappings.len(),
                root.display()
            ),
        ),
        _ => comment(
            &mut t,
            "Column names were compared with the canonical field names (`casebridge fields`) \
             and built-in synonyms only: no shipped mappings were found.",
        ),
    }
    comment(
        &mut t,
        "No value of a personal field is written here: only column names, the codes of coded \
         fields, and counts.",
    );
    if sample.rows == 0 {
        comment(
            &mut t,
            if sample.whole_file {
                "The file has a header only: no date formats, code values or required fields \
                 could be guessed from values."
            } else {
                "No data rows were sampled: no date formats, code values or required fields \
                 could be guessed from values."
            },
        );
    }
    if sample.bad_rows > 0 {
        comment(
            &mut t,
            &format!(
                "{} sampled row(s) could not be read (ragged or badly encoded): `casebridge \
                 validate` lists them.",
                sample.bad_rows
            ),
        );
    }
    if let Some(why) = &sample.stopped {
        comment(&mut t, &format!("Reading stopped early: {why}."));
    }
    comment(
        &mut t,
        &format!(
            "Check it with: casebridge validate {} --mapping <this file>",
            file_name
        ),
    );

    // [mapping]
    t.push_str("\n[mapping]\n");
    review(&mut t, "give the mapping your own id and version");
    t.push_str(&format!(
        "id = {}\nversion = \"0.1.0\"\n",
        q(&mapping_id(&file_name))
    ));
    review(&mut t, &kind_note);
    t.push_str(&format!("kind = {}\n", q(kind.as_str())));
    let mut by_mapping: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    for p in &chosen.picks {
        if let Some(Source::Learned {
            mapping,
            same: true,
            ..
        }) = p.source
        {
            by_mapping
                .entry(&mapping.id)
                .or_insert((0, &mapping.system))
                .0 += 1;
        }
    }
    // A system is named only when one shipped mapping gave most matches.
    let system = by_mapping
        .iter()
        .max_by_key(|(_, (n, _))| *n)
        .map(|(id, (n, sys))| (*id, *n, *sys))
        .filter(|(_, n, _)| n * 2 > chosen.matched());
    match system {
        Some((id, n, sys)) => {
            review(
                &mut t,
                &format!("{n} field(s) matched the columns of shipped mapping {id}: its system"),
            );
            t.push_str(&format!("system = {}\n", q(sys)));
        }
        None => {
            review(&mut t, "name the source system (e.g. mosaic, liquidlogic)");
            t.push_str("system = \"unknown\"\n");
        }
    }
    t.push_str(&format!(
        "description = {}\n",
        q(&format!("Draft mapping for {file_name}"))
    ));
    if kind == RecordKind::FormAnswer {
        if let Some(tpl) = template_of(knowledge) {
            review(
                &mut t,
                "the workbook template the answers' question codes are checked against",
            );
            t.push_str(&format!("template = {}\n", q(&file_ref(tpl))));
        }
    }

    // [source]
    t.push_str("\n[source]\n");
    review(
        &mut t,
        &format!("the file names this mapping reads, from {}", q(&file_name)),
    );
    t.push_str(&format!("glob = {}\n", q(&glob_for(&file_name))));
    if sample.format == SourceFormat::Csv {
        let (enc, note) = match sample.encoding {
            Some(Encoding::Windows1252) => (
                "windows-1252",
                "some sampled field is not UTF-8: Windows-1252, as Excel and SQL Server write on \
                 Windows"
                    .to_string(),
            ),
            _ if sample.whole_file => (
                "utf-8",
                "every field of the file is valid UTF-8".to_string(),
            ),
            _ => (
                "auto",
                format!(
                    "the {} sampled row(s) are valid UTF-8; `auto` also reads a later \
                     Windows-1252 field (with a warning); `utf-8` would make it an error",
                    sample.rows
                ),
            ),
        };
        review(&mut t, &format!("encoding: {note}"));
        t.push_str(&format!("encoding = {}\n", q(enc)));
        if let Some((d, counts)) = &sample.delimiter {
            let seen: Vec<String> = counts
                .iter()
                .map(|(c, n)| format!("{} {n}", sample::delimiter_name(*c)))
                .collect();
            review(
                &mut t,
                &format!(
                    "delimiter found most often in the header line ({})",
                    seen.join(", ")
                ),
            );
            t.push_str(&format!("delimiter = {}\n", q(&sample::delimiter_name(*d))));
        }
    } else if let Some(sheet) = &opts.sheet {
        review(&mut t, "the sheet given with --sheet");
        t.push_str(&format!("sheet = {}\n", q(sheet)));
    } else if let Some(sheet) = &sample.sheet {
        comment(
            &mut t,
            &format!(
                "The first sheet was read; name one with sheet = \"...\" (this one: {}).",
                q(sheet)
            ),
        );
    }
    if !sample.nulls.is_empty() {
        let seen: Vec<String> = sample
            .nulls
            .iter()
            .map(|(v, n)| format!("{} in {n} cell(s)", q(v)))
            .collect();
        review(&mut t, &format!("null markers seen: {}", seen.join(", ")));
        let list: Vec<&str> = sample.nulls.keys().map(String::as_str).collect();
        t.push_str(&format!("null_values = {}\n", q_list(&list)));
    }
    if !dates.source.is_empty() {
        review(
            &mut t,
            "date formats from the date fields' values (each field's REVIEW says which)",
        );
        t.push_str(&format!("date_formats = {}\n", q_list(&dates.source)));
    }
    comment(&mut t, "The header, in order.");
    t.push_str(&format!("columns = {}\n", q_list(header)));

    let mut used = vec![false; header.len()];
    for p in &chosen.picks {
        for i in &p.columns {
            used[*i] = true;
        }
    }
    let unmatched: Vec<String> = header
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(h, _)| q(h))
        .collect();
    if !unmatched.is_empty() {
        t.push('\n');
        review(
            &mut t,
            &format!(
                "{} column(s) no field reads: {}",
                unmatched.len(),
                unmatched.join(", ")
            ),
        );
    }
    let missing: Vec<&str> = fields
        .iter()
        .enumerate()
        .filter(|(i, _)| !chosen.picks.iter().any(|p| p.field == *i))
        .map(|(_, f)| f.name)
        .collect();
    if !missing.is_empty() {
        comment(
            &mut t,
            &format!(
                "Fields of {kind} with no column found (map them by hand if the file has them): {}",
                missing.join(", ")
            ),
        );
    }

    // [codesets.*]
    for (_, out) in &outs {
        if let Some((name, cs, notes)) = &out.codeset {
            t.push('\n');
            for n in notes {
                review(&mut t, n);
            }
            if matches!(cs, CodeSetOut::File(_)) {
                review(
                    &mut t,
                    &format!("the code set field {name} reads (its REVIEW says why)"),
                );
            }
            t.push_str(&format!("[codesets.{name}]\n"));
            match cs {
                CodeSetOut::File(p) => t.push_str(&format!("file = {}\n", q(&file_ref(p)))),
                CodeSetOut::Inline(map) => {
                    let pairs: Vec<String> = map
                        .iter()
                        .map(|(k, v)| format!("{} = {}", q(k), q(v)))
                        .collect();
                    t.push_str(&format!("values = {{ {} }}\n", pairs.join(", ")));
                }
            }
        }
    }

    // [fields.*]
    for (fi, out) in &outs {
        let def = &fields[*fi];
        t.push('\n');
        for r in &out.reviews {
            review(&mut t, r);
        }
        t.push_str(&format!("[fields.{}]\n", def.name));
        for l in &out.lines {
            t.push_str(l);
            t.push('\n');
        }
        if let Some((name, _, _)) = &out.codeset {
            t.push_str(&format!("codeset = {}\n", q(name)));
        }
    }

    // The draft must load: where it will be written, so relative file
    // names resolve as they will.
    let anchor = match (&opts.out, &out_dir) {
        (Some(o), Some(d)) => d.join(o.file_name().unwrap_or_else(|| "draft.toml".as_ref())),
        (Some(o), None) => o.clone(),
        (None, _) => PathBuf::from("<mapping init draft>"),
    };
    let mapping = Mapping::from_str(&anchor, &t).map_err(Error::DraftInvalid)?;
    Ok(Draft {
        text: t,
        kind,
        kind_guessed: opts.kind.is_none(),
        rows: sample.rows,
        columns: header.len(),
        matched_columns: used.iter().filter(|u| **u).count(),
        mapping,
    })
}

/// The workbook template a form_answer draft names: the one shipped
/// form_answer mappings use, else the first found.
fn template_of(knowledge: &Knowledge) -> Option<&Path> {
    knowledge
        .mappings
        .iter()
        .filter(|m| m.kind == RecordKind::FormAnswer)
        .find_map(|m| m.template.as_deref())
        .or_else(|| knowledge.templates.first().map(PathBuf::as_path))
}

#[cfg(test)]
mod tests;
