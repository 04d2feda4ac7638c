//! The dedup configuration (`dedup.toml`): linkage thresholds, blocking
//! passes, guards, near-duplicate note settings and survivorship rules.
//!
//! Every section and field has a default, so an empty file (or none) is a
//! working configuration; `mappings/dedup.toml` lists them all, documented.

use std::collections::BTreeMap;
use std::path::Path;

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

impl DedupConfig {
    /// Reads and checks a TOML file.
    pub fn from_path(path: &Path) -> Result<DedupConfig, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| Error::Config {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses and checks TOML text; the message says what is wrong.
    pub fn from_toml(text: &str) -> Result<DedupConfig, String> {
        let cfg: DedupConfig =
            toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        cfg.check()?;
        Ok(cfg)
    }

    /// Checks names and ranges.
    pub fn check(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        let l = &self.linkage;
        if l.cluster_min > l.merge_at {
            problems.push("linkage.cluster_min is above linkage.merge_at".to_string());
        }
        if l.review_at > l.merge_at {
            problems.push("linkage.review_at is above linkage.merge_at".to_string());
        }
        for p in &l.blocking {
            if p.keys.is_empty() {
                problems.push(format!("blocking pass `{}` has no keys", p.name));
            }
            for k in &p.keys {
                if !BLOCKING_KEYS.contains(&k.as_str()) {
                    problems.push(format!(
                        "blocking pass `{}`: unknown key `{k}` (known: {})",
                        p.name,
                        BLOCKING_KEYS.join(", ")
                    ));
                }
            }
        }
        for f in &l.ignore_fields {
            if !COMPARE_FIELDS.contains(&f.as_str()) {
                problems.push(format!(
                    "linkage.ignore_fields: unknown field `{f}` (known: {})",
                    COMPARE_FIELDS.join(", ")
                ));
            }
        }
        if l.max_block_size < 2 {
            problems.push("linkage.max_block_size must be at least 2".to_string());
        }
        let n = &self.notes;
        if !(0.0..=1.0).contains(&n.threshold) || !(0.0..=1.0).contains(&n.min_length_ratio) {
            problems.push("notes.threshold and notes.min_length_ratio are between 0 and 1".into());
        }
        if n.date_window_days < 0 {
            problems.push("notes.date_window_days must not be negative".into());
        }
        for f in self.survivorship.fields.keys() {
            if !PERSON_FIELDS.contains(&f.as_str()) {
                problems.push(format!(
                    "survivorship.fields: unknown person field `{f}` (known: {})",
                    PERSON_FIELDS.join(", ")
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
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
}
