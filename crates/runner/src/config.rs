//! The run configuration file (`run.toml`): a run's inputs, mappings,
//! resource limits and report settings in one reviewed, versioned file, so
//! that a nightly job or a go-live gate runs the same way every time
//! (`casebridge validate --config run.toml`; `casebridge migrate --config
//! run.toml` reads the same file, with its `[output]`, `[ledger]` and
//! `[dedup]` sections). Relative paths are taken from the file's directory.
//!
//! Like mapping files, the loader reports every problem at once with its line
//! and a "did you mean", and refuses a file that holds a secret (tokens and
//! passwords come from the environment only).
//!
//! ```toml
//! [run]
//! name = "mosaic-go-live"
//! as_of = "2026-11-24"          # today, for future-date rules (default: the real today)
//!
//! [inputs]
//! paths = ["exports/"]          # files or directories
//! mappings = "mappings/mosaic"  # a mapping file or a directory of them
//!
//! [limits]                      # every key optional; sizes in bytes or "64 MiB"
//! max_record_bytes = "64 MiB"
//! max_findings = 1000000
//! max_xml_depth = 64
//! max_xml_token_bytes = "64 MiB"
//! max_xlsx_bytes = "512 MiB"
//! max_xlsx_ratio = 200
//! max_xlsx_entries = 10000
//! key_memory = "64 MiB"         # source keys held for key.duplicate; beyond: a temporary database (0: always)
//! max_sheet_rows = 1048576      # rows an XLSX sheet written takes, its header's among them (at most Excel's limit)
//!
//! [report]
//! format = "json"               # human | json
//! output = "reports/validate.json"
//! examples = 5
//! show_values = false
//!
//! # `casebridge migrate` only (validate ignores them):
//! # [inputs] extract = "full"   # full (default): records gone tonight are withdrawn; delta: never
//! [output]
//! dir = "migrated"              # each run writes migrated/run-NNNNNN/
//! to = "jsonl"                  # jsonl | csv | xlsx | mosaic | cin | ssda903 | a mapping folder
//! # format = "xlsx"             # csv | xlsx for a mapping set's tables
//!
//! [ledger]
//! path = "casebridge-ledger.sqlite"   # the default, beside this file
//! # cache = "256 MiB"         # page cache of a run (default 64 MiB): faster large runs, more memory
//! # journal = "wal"           # rollback (default, faster) | wal (readers never wait for a run)
//!
//! [dedup]                       # optional
//! config = "mappings/dedup.toml"
//! ```

use std::path::{Path, PathBuf};

use casebridge_mapping::{check_no_secrets, toml_error, Diagnostic, LineIndex};
use casebridge_model::Sha256;
use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

use crate::Limits;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    run: RawRun,
    inputs: RawInputs,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    report: RawReport,
    output: Option<RawOutput>,
    ledger: Option<RawLedger>,
    dedup: Option<RawDedup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    dir: Spanned<String>,
    to: Spanned<String>,
    format: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLedger {
    path: Option<String>,
    cache: Option<Spanned<Size>>,
    journal: Option<Spanned<String>>,
    memory: Option<Spanned<Size>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDedup {
    config: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    name: Option<String>,
    as_of: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInputs {
    paths: Spanned<Vec<String>>,
    mappings: Spanned<String>,
    extract: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(i64),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_record_bytes: Option<Spanned<Size>>,
    max_findings: Option<Spanned<i64>>,
    max_xml_depth: Option<Spanned<i64>>,
    max_xml_token_bytes: Option<Spanned<Size>>,
    max_xlsx_bytes: Option<Spanned<Size>>,
    max_xlsx_ratio: Option<Spanned<i64>>,
    max_xlsx_entries: Option<Spanned<i64>>,
    key_memory: Option<Spanned<Size>>,
    max_sheet_rows: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReport {
    format: Option<Spanned<String>>,
    output: Option<String>,
    examples: Option<Spanned<i64>>,
    show_values: Option<bool>,
}

/// Report settings of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportConfig {
    /// `human` or `json`.
    pub format: Option<String>,
    /// Where the report goes (stdout when absent).
    pub output: Option<PathBuf>,
    /// Examples shown per rule in the human report.
    pub examples: Option<usize>,
    /// Put offending values in findings.
    pub show_values: bool,
}

/// A loaded and checked run configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunConfig {
    /// The file it came from.
    pub path: PathBuf,
    /// SHA-256 of its text (for the audit log and the ledger).
    pub sha256: Sha256,
    /// Its size in bytes.
    pub bytes: u64,
    /// A label for the run.
    pub name: Option<String>,
    /// "Today" for future-date rules, when fixed.
    pub as_of: Option<NaiveDate>,
    /// Input files and directories, resolved against the file's directory.
    pub inputs: Vec<PathBuf>,
    /// The mapping file or directory, resolved likewise.
    pub mappings: PathBuf,
    /// Resource limits (defaults where the file is silent).
    pub limits: Limits,
    /// Most findings listed in a JSON report, when set.
    pub max_findings: Option<u64>,
    /// Report settings.
    pub report: ReportConfig,
    /// `migrate`: where and what to write.
    pub output: Option<OutputConfig>,
    /// `migrate`: the ledger file (default `casebridge-ledger.sqlite`
    /// beside the run file).
    pub ledger: PathBuf,
    /// `migrate`: the ledger's page cache in bytes (default 64 MiB).
    pub ledger_cache: Option<u64>,
    /// `migrate`: the ledger's journal (default a rollback journal).
    pub ledger_journal: casebridge_ledger::Journal,
    /// `migrate`: the most memory the store may take when held in memory
    /// for a run, in bytes (default 72 MiB; 0: never held).
    pub ledger_memory: Option<u64>,
    /// `migrate`: a dedup configuration file.
    pub dedup: Option<PathBuf>,
    /// `migrate`: the inputs are full extracts (default), so that a record
    /// absent tonight is withdrawn; `false` for delta extracts.
    pub full_extract: bool,
    /// The file's text (kept in the ledger with each run).
    pub text: String,
}

/// `[output]` of a run file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputConfig {
    /// The output folder, resolved against the run file's folder.
    pub dir: PathBuf,
    /// `jsonl`, `csv`, `xlsx`, a shipped set name or a mapping folder
    /// (resolved likewise when it is a path).
    pub to: String,
    /// `csv` or `xlsx` for a set's tables.
    pub format: Option<String>,
}

/// Parses a size: a whole number of bytes, or a number with a unit
/// (`k`/`KiB`/`KB` = 1024, `M`/`MiB`/`MB`, `G`/`GiB`/`GB`), e.g. `"64 MiB"`.
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

impl RunConfig {
    /// Loads and checks a run configuration file.
    pub fn from_path(path: &Path) -> Result<RunConfig, Vec<Diagnostic>> {
        let bytes = std::fs::read(path)
            .map_err(|e| vec![Diagnostic::new(path, None, format!("cannot read: {e}"))])?;
        let text = String::from_utf8(bytes).map_err(|_| {
            vec![Diagnostic::new(
                path,
                None,
                "run configuration is not UTF-8",
            )]
        })?;
        RunConfig::from_str(path, &text)
    }

    /// Parses and checks configuration text; `path` names it and anchors
    /// relative paths.
    pub fn from_str(path: &Path, text: &str) -> Result<RunConfig, Vec<Diagnostic>> {
        let secrets = check_no_secrets(path, text);
        if !secrets.is_empty() {
            return Err(secrets);
        }
        let raw: Raw = toml::from_str(text).map_err(|e| vec![toml_error(path, text, &e)])?;
        let lines = LineIndex::new(text);
        let at = |start: usize| Some(lines.line(start));
        // A value that must be one of `choices` (trimmed, in any case):
        // the choice, or a diagnostic at its line naming them.
        let one_of = |v: &Spanned<String>,
                      what: &str,
                      choices: &[&'static str],
                      diags: &mut Vec<Diagnostic>|
         -> Option<&'static str> {
            let got = v.get_ref().trim().to_ascii_lowercase();
            let found = choices.iter().copied().find(|c| *c == got);
            if found.is_none() {
                diags.push(
                    Diagnostic::new(
                        path,
                        at(v.span().start),
                        format!("unknown {what} `{}`: {}", v.get_ref(), choices.join(" or ")),
                    )
                    .suggest(v.get_ref(), choices.iter().copied()),
                );
            }
            found
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &str| {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let mut diags = Vec::new();

        let as_of = raw.run.as_of.as_ref().and_then(|d| {
            NaiveDate::parse_from_str(d.get_ref().trim(), "%Y-%m-%d")
                .map_err(|_| {
                    diags.push(Diagnostic::new(
                        path,
                        at(d.span().start),
                        "as_of must be a date written yyyy-mm-dd",
                    ))
                })
                .ok()
        });

        if raw.inputs.paths.get_ref().is_empty() {
            diags.push(Diagnostic::new(
                path,
                at(raw.inputs.paths.span().start),
                "inputs.paths is empty: name at least one file or directory",
            ));
        }
        if raw.inputs.mappings.get_ref().trim().is_empty() {
            diags.push(Diagnostic::new(
                path,
                at(raw.inputs.mappings.span().start),
                "inputs.mappings is empty: name a mapping file or directory",
            ));
        }

        let mut limits = Limits::default();
        let l = &raw.limits;
        // A size in bytes; `zero`: 0 is allowed (it means "none").
        let sized =
            |v: &Option<Spanned<Size>>, key: &str, zero: bool, diags: &mut Vec<Diagnostic>| {
                let v = v.as_ref()?;
                let n = match v.get_ref() {
                    Size::Bytes(n) => u64::try_from(*n).ok(),
                    Size::Text(s) => parse_size(s),
                };
                match n {
                    Some(n) if n > 0 || zero => Some(n),
                    _ => {
                        let what = if zero { "a size" } else { "a positive size" };
                        diags.push(Diagnostic::new(
                            path,
                            at(v.span().start),
                            format!("{key} must be {what}: bytes, or a number with k, MiB or GiB"),
                        ));
                        None
                    }
                }
            };
        let size = |v: &Option<Spanned<Size>>, key: &str, diags: &mut Vec<Diagnostic>| {
            sized(v, key, false, diags)
        };
        let count = |v: &Option<Spanned<i64>>, key: &str, diags: &mut Vec<Diagnostic>| {
            let v = v.as_ref()?;
            match u64::try_from(*v.get_ref()) {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    diags.push(Diagnostic::new(
                        path,
                        at(v.span().start),
                        format!("{key} must be a positive whole number"),
                    ));
                    None
                }
            }
        };
        let usize_of = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        if let Some(n) = size(&l.max_record_bytes, "max_record_bytes", &mut diags) {
            limits.max_record_bytes = usize_of(n);
        }
        if let Some(n) = size(&l.max_xml_token_bytes, "max_xml_token_bytes", &mut diags) {
            limits.max_xml_token_bytes = usize_of(n);
        }
        if let Some(n) = size(&l.max_xlsx_bytes, "max_xlsx_bytes", &mut diags) {
            limits.archive.max_total_bytes = n;
        }
        if let Some(n) = count(&l.max_xml_depth, "max_xml_depth", &mut diags) {
            limits.max_xml_depth = usize_of(n);
        }
        if let Some(n) = count(&l.max_xlsx_ratio, "max_xlsx_ratio", &mut diags) {
            limits.archive.max_ratio = n;
        }
        if let Some(n) = count(&l.max_xlsx_entries, "max_xlsx_entries", &mut diags) {
            limits.archive.max_entries = usize_of(n);
        }
        if let Some(n) = sized(&l.key_memory, "key_memory", true, &mut diags) {
            limits.key_memory = n;
        }
        if let Some(v) = &l.max_sheet_rows {
            let most = casebridge_sheet::MAX_ROWS;
            match u32::try_from(*v.get_ref()) {
                Ok(n) if (2..=most).contains(&n) => limits.max_sheet_rows = n,
                _ => diags.push(Diagnostic::new(
                    path,
                    at(v.span().start),
                    format!("max_sheet_rows must be a whole number from 2 to {most} (a sheet's header and at least one row; Excel's limit)"),
                )),
            }
        }
        let max_findings = count(&l.max_findings, "max_findings", &mut diags);

        let r = &raw.report;
        let format = r.format.as_ref().and_then(|f| {
            one_of(f, "report format", &["human", "json"], &mut diags).map(str::to_string)
        });
        let examples = r.examples.as_ref().and_then(|e| {
            usize::try_from(*e.get_ref())
                .map_err(|_| {
                    diags.push(Diagnostic::new(
                        path,
                        at(e.span().start),
                        "examples must be a whole number, 0 or more",
                    ))
                })
                .ok()
        });

        let full_extract = raw
            .inputs
            .extract
            .as_ref()
            .and_then(|e| one_of(e, "extract", &["full", "delta"], &mut diags))
            != Some("delta");
        let output = raw.output.as_ref().and_then(|o| {
            let format = o.format.as_ref().and_then(|f| {
                one_of(f, "output format", &["csv", "xlsx"], &mut diags).map(str::to_string)
            });
            if o.dir.get_ref().trim().is_empty() {
                diags.push(Diagnostic::new(
                    path,
                    at(o.dir.span().start),
                    "output.dir is empty: name the output folder",
                ));
                return None;
            }
            let to = o.to.get_ref().trim();
            if to.is_empty() {
                diags.push(Diagnostic::new(
                    path,
                    at(o.to.span().start),
                    "output.to is empty: jsonl, csv, xlsx, a shipped set (mosaic, cin, ssda903) or a mapping folder",
                ));
                return None;
            }
            let shipped = ["jsonl", "csv", "xlsx", "mosaic", "cin", "ssda903"];
            let to = if shipped.contains(&to.to_ascii_lowercase().as_str()) {
                to.to_ascii_lowercase()
            } else {
                resolve(to).display().to_string()
            };
            Some(OutputConfig {
                dir: resolve(o.dir.get_ref().trim()),
                to,
                format,
            })
        });
        let ledger = raw
            .ledger
            .as_ref()
            .and_then(|l| l.path.as_deref())
            .map_or_else(|| base.join("casebridge-ledger.sqlite"), resolve);
        let ledger_cache = raw
            .ledger
            .as_ref()
            .and_then(|l| size(&l.cache, "ledger.cache", &mut diags));
        let ledger_memory = raw
            .ledger
            .as_ref()
            .and_then(|l| sized(&l.memory, "ledger.memory", true, &mut diags));
        let ledger_journal = raw
            .ledger
            .as_ref()
            .and_then(|l| l.journal.as_ref())
            .and_then(|j| one_of(j, "ledger journal", &["rollback", "wal"], &mut diags))
            .and_then(casebridge_ledger::Journal::parse)
            .unwrap_or_default();
        let dedup = raw.dedup.as_ref().map(|d| resolve(&d.config));

        if !diags.is_empty() {
            return Err(diags);
        }
        Ok(RunConfig {
            output,
            ledger,
            ledger_cache,
            ledger_journal,
            ledger_memory,
            dedup,
            full_extract,
            text: text.to_string(),
            path: path.to_path_buf(),
            sha256: Sha256::digest(text.as_bytes()),
            bytes: text.len() as u64,
            name: raw.run.name,
            as_of,
            inputs: raw
                .inputs
                .paths
                .get_ref()
                .iter()
                .map(|p| resolve(p))
                .collect(),
            mappings: resolve(raw.inputs.mappings.get_ref()),
            limits,
            max_findings,
            report: ReportConfig {
                format,
                output: r.output.as_deref().map(resolve),
                examples,
                show_values: r.show_values.unwrap_or(false),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn load(text: &str) -> Result<RunConfig, Vec<Diagnostic>> {
        RunConfig::from_str(Path::new("/srv/cb/run.toml"), text)
    }

    #[test]
    fn full_file_loads_with_paths_from_its_directory() {
        let c = load(
            r#"
[run]
name = "nightly"
as_of = "2026-11-24"
[inputs]
paths = ["exports/", "/data/extra.csv"]
mappings = "../mappings/mosaic"
[limits]
max_record_bytes = "1 MiB"
max_findings = 500
max_xml_depth = 32
max_xlsx_bytes = 1048576
max_xlsx_ratio = 50
key_memory = 0
[report]
format = "JSON"
output = "out/report.json"
"#,
        )
        .unwrap();
        assert_eq!(c.name.as_deref(), Some("nightly"));
        assert_eq!(c.as_of, NaiveDate::from_ymd_opt(2026, 11, 24));
        assert_eq!(
            c.inputs,
            vec![
                PathBuf::from("/srv/cb/exports/"),
                PathBuf::from("/data/extra.csv")
            ]
        );
        assert_eq!(c.mappings, PathBuf::from("/srv/cb/../mappings/mosaic"));
        assert_eq!(c.limits.max_record_bytes, 1 << 20);
        assert_eq!(c.limits.max_xml_depth, 32);
        assert_eq!(c.limits.key_memory, 0, "0: every key in the database");
        assert_eq!(c.limits.archive.max_total_bytes, 1 << 20);
        assert_eq!(c.limits.archive.max_ratio, 50);
        assert_eq!(c.max_findings, Some(500));
        assert_eq!(c.report.format.as_deref(), Some("json"));
        assert_eq!(
            c.report.output,
            Some(PathBuf::from("/srv/cb/out/report.json"))
        );
    }

    #[test]
    fn defaults_where_silent() {
        let c = load("[inputs]\npaths = ['a']\nmappings = 'm'\n").unwrap();
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.report, ReportConfig::default());
        assert_eq!(c.as_of, None);
    }

    #[test]
    fn every_problem_at_once_with_lines() {
        let e = load(
            "[run]\nas_of = '24/11/2026'\n[inputs]\npaths = []\nmappings = 'm'\n[limits]\nmax_record_bytes = '12 parsecs'\nmax_xml_depth = 0\n[report]\nformat = 'jsn'\n",
        )
        .unwrap_err();
        let lines: Vec<Option<usize>> = e.iter().map(|d| d.line).collect();
        assert_eq!(lines, vec![Some(2), Some(4), Some(7), Some(8), Some(10)]);
        assert_eq!(e[4].suggestion.as_deref(), Some("json"));
    }

    #[test]
    fn unknown_keys_and_sections_are_named_with_a_suggestion() {
        let e = load("[inputs]\npaths = ['a']\nmapings = 'm'\n").unwrap_err();
        assert_eq!(e[0].line, Some(3));
        assert_eq!(e[0].suggestion.as_deref(), Some("mappings"));
        let e = load("[inputs]\npaths = ['a']\nmappings = 'm'\n[limit]\n").unwrap_err();
        assert_eq!(e[0].suggestion.as_deref(), Some("limits"));
    }

    #[test]
    fn secrets_are_refused_without_echoing_them() {
        let e = load("[inputs]\npaths = ['a']\nmappings = 'm'\n[http]\ntoken = 'abc123secret'\n")
            .unwrap_err();
        let msg = e[0].to_string();
        assert!(msg.contains("CASEBRIDGE_HTTP_TOKEN"), "{msg}");
        assert!(!msg.contains("abc123secret"));
    }

    #[test]
    fn a_sheet_row_limit_is_taken_within_what_a_sheet_holds() {
        let base = "[inputs]\npaths = ['a']\nmappings = 'm'\n[limits]\n";
        let c = load(&format!("{base}max_sheet_rows = 1000\n")).unwrap();
        assert_eq!(c.limits.max_sheet_rows, 1000);
        let c = load(base).unwrap();
        assert_eq!(c.limits.max_sheet_rows, casebridge_sheet::MAX_ROWS);
        for bad in ["1", "0", "-5", "1048577"] {
            let e = load(&format!("{base}max_sheet_rows = {bad}\n")).unwrap_err();
            assert_eq!(e[0].line, Some(5), "{bad}");
            assert!(
                e[0].to_string().contains("from 2 to 1048576"),
                "{bad}: {}",
                e[0]
            );
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64 MiB"), Some(64 << 20));
        assert_eq!(parse_size("16k"), Some(16 << 10));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size("MiB"), None);
        assert_eq!(parse_size("1 parsec"), None);
        assert_eq!(parse_size("99999999999999999999 GiB"), None);
    }
}
