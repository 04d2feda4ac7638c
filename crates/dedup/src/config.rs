//! The dedup configuration (`dedup.toml`): linkage thresholds, blocking
//! passes, guards, near-duplicate note settings and survivorship rules.
//!
//! Every section and field has a default, so an empty file (or none) is a
//! working configuration; `mappings/dedup.toml` lists them all, documented.
//!
//! [`DedupConfig::from_path`] reports every problem of a file at once, as
//! the mapping and run configuration loaders do: file, line, and for a
//! misspelt name the nearest known one; it refuses keys that look like
//! secrets, and never quotes a value of the file (a `password = ...` line
//! is named by its key and line only).

use std::collections::BTreeMap;
use std::path::Path;

use casebridge_mapping::{check_no_secrets, toml_error, Diagnostic};
use serde::{Deserialize, Serialize};

use crate::Error;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    /// Person linkage.
    pub linkage: LinkageConfig,
    /// Rules that keep distinct people apart whatever the score.
    pub guards: GuardConfig,
    /// Near-duplicate case notes and chronology entries.
    pub notes: NotesConfig,
    /// Which values a merged person keeps.
    pub survivorship: SurvivorshipConfig,
}

/// Person linkage settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkageConfig {
    /// A pair whose total match weight (log2 of the odds that the two
    /// records are one person, prior included) is at least this is merged.
    pub merge_at: f64,
    /// A pair at least this (and below `merge_at`) goes to review; below it
    /// the two are distinct.
    pub review_at: f64,
    /// Clustering joins two groups of records only if every pair across
    /// them scores at least this (and no guard or reviewer keeps it apart);
    /// otherwise the link goes to review. Below `review_at` on purpose: a
    /// record whose fields were blanked or mangled still joins its person
    /// through a better copy.
    pub cluster_min: f64,
    /// Blocking passes: a pair of records is compared when, in some pass,
    /// they agree on every key of the pass. Keys: `date_of_birth`,
    /// `dob_year`, `dob_month_day`, `nhs_number`, `upn`, `other_id`,
    /// `postcode`, `first_name`, `last_name`, `first_name_soundex`,
    /// `last_name_soundex`, `first_initial`, `locality`, `gender`.
    pub blocking: Vec<BlockingPass>,
    /// Blocks larger than this are not compared (and are counted in the
    /// report): a key shared by that many records does not identify anyone.
    /// Records identical in every compared field count once (they are
    /// compared as one group), so many copies of one record are linked.
    pub max_block_size: usize,
    /// Comparisons switched off (e.g. `["gender"]`). Fields: `first_name`,
    /// `last_name`, `date_of_birth`, `gender`, `nhs_number`, `upn`,
    /// `postcode`, `address`, `locality`, `other_id`, `ethnicity`.
    pub ignore_fields: Vec<String>,
    /// Random record pairs drawn to estimate the u probabilities (how often
    /// unrelated people agree by chance).
    pub u_sample_pairs: usize,
    /// Most EM iterations for the m probabilities.
    pub em_max_iterations: usize,
    /// Seed of the random pair sample (same seed, same result).
    pub seed: u64,
    /// Extra nickname groups, e.g. `[["margaret", "peggy", "maggie"]]`.
    pub nicknames: Vec<Vec<String>>,
    /// Worker threads for comparisons (0: one per core).
    pub threads: usize,
}

impl Default for LinkageConfig {
    fn default() -> Self {
        LinkageConfig {
            merge_at: 6.0,
            review_at: 0.0,
            cluster_min: -10.0,
            blocking: default_blocking(),
            max_block_size: 1000,
            ignore_fields: Vec::new(),
            u_sample_pairs: 100_000,
            em_max_iterations: 100,
            seed: 1,
            nicknames: Vec::new(),
            threads: 0,
        }
    }
}

/// One blocking pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockingPass {
    /// Name shown in the report.
    pub name: String,
    /// Keys that must all agree (and be present).
    pub keys: Vec<String>,
}

fn pass(name: &str, keys: &[&str]) -> BlockingPass {
    BlockingPass {
        name: name.to_string(),
        keys: keys.iter().map(|k| k.to_string()).collect(),
    }
}

/// The default passes: date of birth with the first initial or the surname's
/// sound, identifiers, and phonetic names with parts of the date of birth or
/// the postcode (so a day/month swap, a typing slip in the year, a changed
/// first name or a missing date is still met).
pub fn default_blocking() -> Vec<BlockingPass> {
    vec![
        pass("dob-initial", &["date_of_birth", "first_initial"]),
        pass("dob-surname", &["date_of_birth", "last_name_soundex"]),
        pass("dob-postcode", &["date_of_birth", "postcode"]),
        pass("nhs", &["nhs_number"]),
        pass("upn", &["upn"]),
        pass("other-id", &["other_id"]),
        pass(
            "names-year",
            &["last_name_soundex", "first_name_soundex", "dob_year"],
        ),
        pass(
            "names-day",
            &["last_name_soundex", "first_name_soundex", "dob_month_day"],
        ),
        pass("postcode-first", &["postcode", "first_name_soundex"]),
        pass("postcode-last", &["postcode", "last_name_soundex"]),
    ]
}

/// Guards against merging people who look alike. Neither applies when an
/// identifier (NHS number, UPN, other id) agrees exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    /// Same date of birth and surname but clearly different first names
    /// (not a nickname, not a spelling slip): twins, never merged.
    pub twins: bool,
    /// Dates of birth this many years or more apart (and not a day/month
    /// swap or a one-character slip): parent and child sharing a name,
    /// never merged. 0 switches the guard off.
    pub generation_gap_years: u32,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            twins: true,
            generation_gap_years: 12,
        }
    }
}

/// Near-duplicate notes and chronology entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotesConfig {
    /// Whether to look for near duplicates at all.
    pub enabled: bool,
    /// Text similarity (0 to 1) at or above which two notes of the same
    /// subject and date are one note.
    pub threshold: f64,
    /// Dates this many days apart still count as the same date.
    pub date_window_days: i64,
    /// The shorter text must be at least this share of the longer one (a
    /// truncated copy is still a copy; a one-line note is not a copy of a
    /// long one).
    pub min_length_ratio: f64,
}

impl Default for NotesConfig {
    fn default() -> Self {
        NotesConfig {
            enabled: true,
            threshold: 0.9,
            date_window_days: 1,
            min_length_ratio: 0.3,
        }
    }
}

/// How a merged person's value of a field is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// From the record whose system comes first in `source_priority`
    /// (then the earliest read) that has a value.
    SourcePriority,
    /// From the record read last that has a value (later file on the
    /// command line, later line).
    MostRecent,
    /// The longest value (then by source priority).
    MostComplete,
    /// The value most records agree on (then by source priority).
    MostCommon,
}

/// Survivorship rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SurvivorshipConfig {
    /// Systems in order of trust, e.g. `["mosaic", "lcs"]`; systems not
    /// listed come after, in the order first read.
    pub source_priority: Vec<String>,
    /// The rule for fields not listed in `fields`.
    pub default: Rule,
    /// Per canonical person field, its rule.
    pub fields: BTreeMap<String, Rule>,
}

impl Default for SurvivorshipConfig {
    fn default() -> Self {
        let mut fields = BTreeMap::new();
        fields.insert("nhs_number".to_string(), Rule::MostCommon);
        fields.insert("date_of_birth".to_string(), Rule::MostCommon);
        fields.insert("postcode".to_string(), Rule::MostRecent);
        fields.insert("address".to_string(), Rule::MostRecent);
        fields.insert("locality".to_string(), Rule::MostRecent);
        SurvivorshipConfig {
            source_priority: Vec::new(),
            default: Rule::MostComplete,
            fields,
        }
    }
}

/// Person fields survivorship can name.
pub const PERSON_FIELDS: &[&str] = &[
    "first_name",
    "middle_names",
    "last_name",
    "full_name",
    "date_of_birth",
    "dob_estimated",
    "date_of_death",
    "gender",
    "ethnicity",
    "nhs_number",
    "upn",
    "postcode",
    "role",
    "address",
    "locality",
    "other_id",
];

/// Blocking keys a pass can name.
pub const BLOCKING_KEYS: &[&str] = &[
    "date_of_birth",
    "dob_year",
    "dob_month_day",
    "nhs_number",
    "upn",
    "other_id",
    "postcode",
    "first_name",
    "last_name",
    "first_name_soundex",
    "last_name_soundex",
    "first_initial",
    "locality",
    "gender",
];

/// Comparison fields.
pub const COMPARE_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "date_of_birth",
    "gender",
    "nhs_number",
    "upn",
    "postcode",
    "address",
    "locality",
    "other_id",
    "ethnicity",
];

/// A problem found by [`DedupConfig::check`]: the dotted path of the
/// setting (`linkage.blocking.2.keys`), what is wrong, and for an unknown
/// name the name given and the names known (for a suggestion).
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Where: tables and keys as written, array items by 0-based index.
    pub path: String,
    /// What is wrong (names only, never a value of the file).
    pub message: String,
    /// An unknown name and the known ones.
    pub unknown: Option<(String, Vec<&'static str>)>,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn problem(path: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        path: path.into(),
        message: message.into(),
        unknown: None,
    }
}

fn unknown_name(path: String, what: &str, got: &str, known: &[&'static str]) -> Problem {
    Problem {
        path,
        message: format!("{what} `{got}` (known: {})", known.join(", ")),
        unknown: Some((got.to_string(), known.to_vec())),
    }
}

/// Lines of a TOML text's tables and keys, by dotted path (`[linkage]`
/// then `merge_at = 1` is `linkage.merge_at`; the third
/// `[[linkage.blocking]]` is `linkage.blocking.2`). A light scan, enough to
/// point at a line: it never reads values.
struct KeyLines {
    lines: Vec<(String, usize)>,
}

impl KeyLines {
    fn new(text: &str) -> Self {
        let mut lines = Vec::new();
        let mut current = String::new();
        let mut arrays: BTreeMap<String, usize> = BTreeMap::new();
        let unquote = |k: &str| {
            k.split('.')
                .map(|p| p.trim().trim_matches('"').trim_matches('\''))
                .collect::<Vec<_>>()
                .join(".")
        };
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if let Some(h) = line.strip_prefix("[[") {
                let h = unquote(h.split("]]").next().unwrap_or(""));
                let i = arrays.entry(h.clone()).or_insert(0);
                current = format!("{h}.{i}");
                *i += 1;
                lines.push((current.clone(), n + 1));
            } else if let Some(h) = line.strip_prefix('[') {
                current = unquote(h.split(']').next().unwrap_or(""));
                lines.push((current.clone(), n + 1));
            } else if let Some((k, _)) = line.split_once('=') {
                if line.starts_with('#') || k.contains('"') && !k.trim().starts_with('"') {
                    continue;
                }
                let k = unquote(k);
                let path = if current.is_empty() {
                    k
                } else {
                    format!("{current}.{k}")
                };
                lines.push((path, n + 1));
            }
        }
        KeyLines { lines }
    }

    /// The line of `path`, or of the nearest enclosing table or key written.
    fn line(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some((_, l)) = self.lines.iter().find(|(k, _)| k == p) {
                return Some(*l);
            }
            p = p.rsplit_once('.')?.0;
        }
    }
}

/// Keys of `value` that no configuration setting has (the known ones are
/// those of `known`, the default configuration as TOML). `path` is the
/// dotted path so far.
fn unknown_keys(value: &toml::Value, known: &toml::Value, path: &str, out: &mut Vec<Problem>) {
    let (toml::Value::Table(t), toml::Value::Table(k)) = (value, known) else {
        return;
    };
    let names: Vec<&'static str> = k
        .keys()
        .map(|s| -> &'static str {
            // Known names are the configuration's own fields.
            match CONFIG_KEYS.iter().find(|x| **x == s.as_str()) {
                Some(x) => x,
                None => "",
            }
        })
        .filter(|s| !s.is_empty())
        .collect();
    for (key, v) in t {
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match k.get(key) {
            None => {
                if casebridge_mapping::is_secret_key(key) {
                    continue; // reported as a secret
                }
                out.push(unknown_name(
                    here,
                    if path.is_empty() {
                        "unknown section"
                    } else {
                        "unknown setting"
                    },
                    key,
                    &names,
                ));
            }
            // Free-form tables: checked by name in `check`.
            Some(_) if here == "survivorship.fields" => {}
            Some(toml::Value::Array(ka)) => {
                if let (toml::Value::Array(items), Some(proto)) = (v, ka.first()) {
                    for (i, item) in items.iter().enumerate() {
                        unknown_keys(item, proto, &format!("{here}.{i}"), out);
                    }
                }
            }
            Some(kv) => unknown_keys(v, kv, &here, out),
        }
    }
}

/// A TOML error as a diagnostic, without the value serde quotes in type
/// errors (`invalid type: string "...", expected f64` names the kind only).
fn value_error(path: &Path, text: &str, e: &toml::de::Error) -> Diagnostic {
    let mut d = toml_error(path, text, e);
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = d.message.strip_prefix(prefix) {
            let kind = rest.split([' ', ',']).next().unwrap_or("value");
            let expected = rest
                .find(", expected")
                .map_or("", |i| &rest[i..])
                .to_string();
            d.message = format!("{prefix}{kind}{expected}");
            break;
        }
    }
    d
}

/// Every table and key name of the configuration (for suggestions).
const CONFIG_KEYS: &[&str] = &[
    "linkage",
    "guards",
    "notes",
    "survivorship",
    "merge_at",
    "review_at",
    "cluster_min",
    "blocking",
    "max_block_size",
    "ignore_fields",
    "u_sample_pairs",
    "em_max_iterations",
    "seed",
    "nicknames",
    "threads",
    "name",
    "keys",
    "twins",
    "generation_gap_years",
    "enabled",
    "threshold",
    "date_window_days",
    "min_length_ratio",
    "source_priority",
    "default",
    "fields",
];

impl DedupConfig {
    /// Reads and checks a TOML file; every problem is reported at once,
    /// with its line (see [`DedupConfig::from_str`]).
    pub fn from_path(path: &Path) -> Result<DedupConfig, Error> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config = |problems| Error::Config {
            path: path.to_path_buf(),
            problems,
        };
        let text = String::from_utf8(bytes).map_err(|_| {
            config(vec![Diagnostic::new(
                path,
                None,
                "dedup configuration is not UTF-8",
            )])
        })?;
        Self::from_str(path, &text).map_err(config)
    }

    /// Parses and checks configuration text; `path` names it in the
    /// diagnostics. Reports every problem at once, each with its line and,
    /// for a misspelt name, the nearest known one; refuses any key that
    /// looks like a secret (passwords and tokens come from the environment
    /// only). No diagnostic quotes a value of the file.
    pub fn from_str(path: &Path, text: &str) -> Result<DedupConfig, Vec<Diagnostic>> {
        let mut diags = check_no_secrets(path, text);
        let value: toml::Value = match text.parse() {
            Ok(v) => v,
            Err(e) => {
                diags.push(toml_error(path, text, &e));
                return Err(diags);
            }
        };
        let lines = KeyLines::new(text);
        let diag = |p: Problem| {
            let d = Diagnostic::new(path, lines.line(&p.path), p.message);
            match &p.unknown {
                Some((got, known)) => d.suggest(got, known.iter().copied()),
                None => d,
            }
        };
        let known = toml::Value::try_from(DedupConfig::default())
            .unwrap_or_else(|_| toml::Value::Table(toml::Table::new()));
        let mut unknown = Vec::new();
        unknown_keys(&value, &known, "", &mut unknown);
        diags.extend(unknown.into_iter().map(diag));
        diags.sort_by_key(|d| d.line);
        if !diags.is_empty() {
            return Err(diags);
        }
        let cfg: DedupConfig =
            toml::from_str(text).map_err(|e| vec![value_error(path, text, &e)])?;
        cfg.problems().map_err(|ps| {
            let mut ds: Vec<Diagnostic> = ps.into_iter().map(diag).collect();
            ds.sort_by_key(|d| d.line);
            ds
        })?;
        Ok(cfg)
    }

    /// Parses and checks TOML text; the message lists every problem.
    pub fn from_toml(text: &str) -> Result<DedupConfig, String> {
        Self::from_str(Path::new("dedup.toml"), text).map_err(|ds| {
            ds.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// Checks names and ranges; the message lists every problem.
    pub fn check(&self) -> Result<(), String> {
        self.problems().map_err(|ps| {
            ps.iter()
                .map(|p| format!("{}: {}", p.path, p.message))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// Checks names and ranges: every problem, with the path of its setting.
    pub fn problems(&self) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        let l = &self.linkage;
        if l.cluster_min > l.merge_at {
            problems.push(problem(
                "linkage.cluster_min",
                "linkage.cluster_min is above linkage.merge_at",
            ));
        }
        if l.review_at > l.merge_at {
            problems.push(problem(
                "linkage.review_at",
                "linkage.review_at is above linkage.merge_at",
            ));
        }
        for (i, p) in l.blocking.iter().enumerate() {
            let at = format!("linkage.blocking.{i}.keys");
            if p.keys.is_empty() {
                problems.push(problem(
                    &at,
                    format!("blocking pass `{}` has no keys", p.name),
                ));
            }
            for k in &p.keys {
                if !BLOCKING_KEYS.contains(&k.as_str()) {
                    let what = format!("blocking pass `{}`: unknown key", p.name);
                    problems.push(unknown_name(at.clone(), &what, k, BLOCKING_KEYS));
                }
            }
        }
        for f in &l.ignore_fields {
            if !COMPARE_FIELDS.contains(&f.as_str()) {
                problems.push(unknown_name(
                    "linkage.ignore_fields".into(),
                    "linkage.ignore_fields: unknown field",
                    f,
                    COMPARE_FIELDS,
                ));
            }
        }
        if l.max_block_size < 2 {
            problems.push(problem(
                "linkage.max_block_size",
                "linkage.max_block_size must be at least 2",
            ));
        }
        let n = &self.notes;
        for (key, v) in [
            ("threshold", n.threshold),
            ("min_length_ratio", n.min_length_ratio),
        ] {
            if !(0.0..=1.0).contains(&v) {
                problems.push(problem(
                    format!("notes.{key}"),
                    format!("notes.{key} must be between 0 and 1"),
                ));
            }
        }
        if n.date_window_days < 0 {
            problems.push(problem(
                "notes.date_window_days",
                "notes.date_window_days must not be negative",
            ));
        }
        for f in self.survivorship.fields.keys() {
            if !PERSON_FIELDS.contains(&f.as_str()) {
                problems.push(unknown_name(
                    format!("survivorship.fields.{f}"),
                    "survivorship.fields: unknown person field",
                    f,
                    PERSON_FIELDS,
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The rule for a person field.
    pub fn rule(&self, field: &str) -> Rule {
        self.survivorship
            .fields
            .get(field)
            .copied()
            .unwrap_or(self.survivorship.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_round_trips_through_toml() {
        let cfg = DedupConfig::default();
        let text = toml::to_string(&cfg).unwrap();
        assert_eq!(DedupConfig::from_toml(&text).unwrap(), cfg);
        assert_eq!(DedupConfig::from_toml("").unwrap(), cfg);
    }

    #[test]
    fn shipped_default_file_is_the_default() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mappings/dedup.toml");
        assert_eq!(
            DedupConfig::from_path(&path).unwrap(),
            DedupConfig::default()
        );
    }

    #[test]
    fn unknown_names_are_reported_together() {
        let e = DedupConfig::from_toml(
            "[linkage]\nignore_fields = [\"shoe_size\"]\n[[linkage.blocking]]\nname = \"x\"\nkeys = [\"dob\"]\n",
        )
        .unwrap_err();
        assert!(e.contains("shoe_size") && e.contains("`dob`"), "{e}");
        assert!(DedupConfig::from_toml("[linkage]\nmerge_at = 1\nreview_at = 2\n").is_err());
        assert!(DedupConfig::from_toml("[nope]\n").is_err());
    }

    fn diags(text: &str) -> Vec<Diagnostic> {
        DedupConfig::from_str(Path::new("dedup.toml"), text).unwrap_err()
    }

    // See: issue 8 item 6.
    #[test]
    fn every_problem_at_once_with_lines_and_suggestions() {
        let d = diags(
            "[linkage]\nmerge_at = 6.0\nreveiw_at = 1.0\nmax_blok_size = 10\n\n[notse]\nenabled = true\n",
        );
        let got: Vec<(Option<usize>, Option<&str>)> = d
            .iter()
            .map(|d| (d.line, d.suggestion.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (Some(3), Some("review_at")),
                (Some(4), Some("max_block_size")),
                (Some(6), Some("notes")),
            ],
            "{d:?}"
        );
        let d = diags(
            "[linkage]\nmerge_at = 1.0\nreview_at = 2.0\nignore_fields = [\"shoe_size\"]\n\n\
             [[linkage.blocking]]\nname = \"a\"\nkeys = [\"dob\"]\n\n\
             [[linkage.blocking]]\nname = \"b\"\nkeys = [\"postcod\"]\n\n\
             [notes]\nthreshold = 1.5\n\n[survivorship.fields]\nfirst_nmae = \"most_common\"\n",
        );
        let lines: Vec<Option<usize>> = d.iter().map(|d| d.line).collect();
        assert_eq!(
            lines,
            [Some(3), Some(4), Some(8), Some(12), Some(15), Some(18)],
            "{d:?}"
        );
        assert_eq!(d[3].suggestion.as_deref(), Some("postcode"));
        assert_eq!(d[5].suggestion.as_deref(), Some("first_name"));
        assert!(d[0].to_string().starts_with("dedup.toml:3: "), "{}", d[0]);
    }

    // See: issue 9.
    #[test]
    fn secrets_are_refused_and_never_echoed() {
        let d = diags("[linkage]\nmerge_at = 6.0\npassword = \"hunter2-xyz\"\n[notes]\napi_key = 'k-998877'\n");
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!((d[0].line, d[1].line), (Some(3), Some(5)));
        for x in &d {
            let msg = x.to_string();
            assert!(msg.contains("secret"), "{msg}");
            assert!(!msg.contains("hunter2") && !msg.contains("998877"), "{msg}");
        }
        let e = DedupConfig::from_toml("[http]\ntoken = \"abc-secret-1\"\n").unwrap_err();
        assert!(!e.contains("abc-secret-1"), "{e}");
    }

    #[test]
    fn a_bad_value_is_named_by_its_line_not_quoted() {
        // A type error and a syntax error: the line is given, its text is not.
        for text in [
            "[linkage]\nmerge_at = \"Amara Okafor 14/02/2016\"\n",
            "[linkage]\nmerge_at = Amara Okafor 14/02/2016\n",
        ] {
            let d = diags(text);
            assert_eq!(d.len(), 1, "{d:?}");
            assert_eq!(d[0].line, Some(2));
            let msg = d[0].to_string();
            assert!(!msg.contains("Okafor") && !msg.contains("14/02"), "{msg}");
        }
    }

    #[test]
    fn a_file_error_lists_every_problem_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dedup.toml");
        std::fs::write(&path, "[linkage]\nreveiw_at = 1\n[nope]\n").unwrap();
        let e = DedupConfig::from_path(&path).unwrap_err().to_string();
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 2, "{e}");
        assert!(
            lines[0].contains("dedup.toml:2: ") && lines[0].contains("review_at"),
            "{e}"
        );
        assert!(lines[1].contains("dedup.toml:3: "), "{e}");
    }
}
