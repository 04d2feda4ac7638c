//! A mapping's `[source]` table handed to the adapters.
//!
//! The mapping crate keeps the keys that carry meaning (`glob`, `format`,
//! `columns`, `null_values`, `date_formats`) and passes every other entry
//! here with its line. Each entry goes to the adapter(s) whose descriptor
//! lists its key, among the formats the mapping may be read as: the one it
//! names, or else CSV and XLSX by each file's extension (a key only XML takes,
//! `record`, makes it XML). A key of another format is refused with the
//! reason its adapter gives, an unknown key gets a "did you mean", and each
//! adapter's own `check()` judges the values.

use casebridge_csv::CsvOptions;
use casebridge_jsonl::JsonlOptions;
use casebridge_model::ConfigProblem;
use casebridge_sheet::SheetOptions;
use casebridge_xml::XmlOptions;
use serde::de::DeserializeOwned;

use crate::{SourceConfig, SourceFormat};

/// One `[source]` entry with the line it is on.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionEntry {
    /// The key.
    pub key: String,
    /// The value.
    pub value: toml::Value,
    /// Its 1-based line in the mapping file, when known.
    pub line: Option<usize>,
}

/// One problem with a `[source]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The 1-based line in the mapping file, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// For an unknown name: what was given and the names known, so the
    /// caller can say "did you mean".
    pub unknown: Option<(String, Vec<String>)>,
}

/// The adapters' options a mapping's `[source]` table gives, for each format
/// it may be read as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceOptions {
    format: Option<SourceFormat>,
    csv: Option<CsvOptions>,
    xlsx: Option<SheetOptions>,
    xml: Option<XmlOptions>,
}

impl Default for SourceOptions {
    /// A table that gives nothing but a glob: CSV or XLSX by extension,
    /// every option at its default.
    fn default() -> Self {
        SourceOptions {
            format: None,
            csv: Some(CsvOptions::default()),
            xlsx: Some(SheetOptions::default()),
            xml: None,
        }
    }
}

impl SourceOptions {
    /// Hands `entries` to the adapters of `format` (or, without one, of the
    /// formats a file may be read as by its extension). `format_line` is the
    /// line of the mapping's `format`, where a missing key is reported.
    /// `common` lists the keys the caller keeps, for suggestions.
    pub fn from_table(
        format: Option<SourceFormat>,
        format_line: Option<usize>,
        entries: &[OptionEntry],
        common: &[&str],
    ) -> Result<SourceOptions, Vec<Problem>> {
        let owners = |key: &str| -> Vec<SourceFormat> {
            SourceFormat::ALL
                .into_iter()
                .filter(|f| f.descriptor().keys.contains(&key))
                .collect()
        };
        // A key that only one format takes names the format (`record`: XML).
        let format = format.or_else(|| {
            entries.iter().find_map(|e| match owners(&e.key)[..] {
                [only] if !matches!(only, SourceFormat::Csv | SourceFormat::Xlsx) => Some(only),
                _ => None,
            })
        });
        let candidates: Vec<SourceFormat> = match format {
            Some(f) => vec![f],
            None => vec![SourceFormat::Csv, SourceFormat::Xlsx],
        };
        let mut problems = Vec::new();
        let mut mine: Vec<&OptionEntry> = Vec::new();
        for e in entries {
            let own = owners(&e.key);
            if own.iter().any(|f| candidates.contains(f)) {
                mine.push(e);
                continue;
            }
            if own.is_empty() {
                let mut known: Vec<String> = common.iter().map(|k| k.to_string()).collect();
                for f in SourceFormat::ALL {
                    known.extend(f.descriptor().keys.iter().map(|k| k.to_string()));
                }
                known.sort();
                known.dedup();
                problems.push(Problem {
                    line: e.line,
                    message: format!("unknown [source] key `{}`", e.key),
                    unknown: Some((e.key.clone(), known)),
                });
                continue;
            }
            let names: Vec<&str> = own.iter().map(|f| f.as_str()).collect();
            let names = names.join(" and ");
            let why = candidates.iter().find_map(|f| {
                f.descriptor()
                    .refuses
                    .iter()
                    .find(|(k, _)| *k == e.key)
                    .map(|(_, why)| *why)
            });
            let here: Vec<&str> = candidates.iter().map(|f| f.as_str()).collect();
            problems.push(Problem {
                line: e.line,
                message: match why {
                    Some(why) => format!("`{}` applies to {names} sources: {why}", e.key),
                    None => format!(
                        "`{}` applies to {names} sources, not {}",
                        e.key,
                        here.join(" or ")
                    ),
                },
                unknown: None,
            });
        }
        let mut out = SourceOptions {
            format,
            csv: None,
            xlsx: None,
            xml: None,
        };
        for f in candidates {
            let keys = f.descriptor().keys;
            let entries: Vec<&OptionEntry> = mine
                .iter()
                .copied()
                .filter(|e| keys.contains(&e.key.as_str()))
                .collect();
            let line_of = |p: &ConfigProblem| {
                p.key
                    .and_then(|k| entries.iter().find(|e| e.key == k))
                    .map_or(format_line, |e| e.line)
            };
            match f {
                SourceFormat::Csv => {
                    out.csv = adapter(&entries, &mut problems, CsvOptions::check, line_of)
                }
                SourceFormat::Xlsx => {
                    out.xlsx = adapter(&entries, &mut problems, SheetOptions::check, line_of)
                }
                SourceFormat::Xml => {
                    out.xml = adapter(&entries, &mut problems, XmlOptions::check, line_of)
                }
                SourceFormat::Jsonl => {
                    adapter(&entries, &mut problems, JsonlOptions::check, line_of);
                }
            }
        }
        // The same key judged by two adapters (`header_row`) is said once.
        let mut seen = Vec::new();
        problems.retain(|p| {
            let new = !seen.contains(p);
            seen.push(p.clone());
            new
        });
        problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(problems)
        }
    }

    /// The format the mapping fixes (given, or implied by a key such as
    /// `record`), if any.
    pub fn format(&self) -> Option<SourceFormat> {
        self.format
    }

    /// The adapter options to read a file as `format` with, or `None` when
    /// the table does not set that format up (an XML file under a mapping
    /// without `record`).
    pub fn config(&self, format: SourceFormat) -> Option<SourceConfig> {
        match format {
            SourceFormat::Csv => self.csv.clone().map(SourceConfig::Csv),
            SourceFormat::Xlsx => self.xlsx.clone().map(SourceConfig::Xlsx),
            SourceFormat::Xml => self.xml.clone().map(SourceConfig::Xml),
            SourceFormat::Jsonl => Some(SourceConfig::Jsonl(JsonlOptions::default())),
        }
    }

    /// The CSV options (the defaults when the table is not for CSV): what a
    /// CSV written back in the source's layout uses.
    pub fn csv(&self) -> CsvOptions {
        self.csv.clone().unwrap_or_default()
    }

    /// The sheet a workbook source names.
    pub fn sheet(&self) -> Option<&str> {
        self.xlsx.as_ref().and_then(|o| o.sheet.as_deref())
    }

    /// The record path of an XML source (without a leading `/`).
    pub fn record(&self) -> Option<&str> {
        self.xml.as_ref().map(XmlOptions::record_path)
    }

    /// The header's line (row) for the formats with a header; 1 otherwise.
    pub fn header_row(&self) -> u64 {
        self.csv
            .as_ref()
            .map(|o| o.header_row)
            .or(self.xlsx.as_ref().map(|o| o.header_row))
            .unwrap_or(1)
    }

    /// Checks a column a mapping's field reads: for XML, an element path,
    /// by the reader's own grammar relative to `record`. The message names
    /// the path and what is wrong with it.
    pub fn check_column(&self, column: &str) -> Result<(), String> {
        match &self.xml {
            // A bad `record` is reported once, not with every field.
            Some(x) if x.check().is_empty() => x
                .check_field(column)
                .map_err(|e| format!("bad element path `{}`: {}", e.path(), e.reason())),
            _ => Ok(()),
        }
    }
}

/// Deserializes one adapter's options from its entries and runs its checks.
/// A value that does not deserialize is reported on its own entry's line.
fn adapter<T: DeserializeOwned>(
    entries: &[&OptionEntry],
    problems: &mut Vec<Problem>,
    check: impl Fn(&T) -> Vec<ConfigProblem>,
    line_of: impl Fn(&ConfigProblem) -> Option<usize>,
) -> Option<T> {
    let table = |es: &[&OptionEntry]| {
        toml::Value::Table(
            es.iter()
                .map(|e| (e.key.clone(), e.value.clone()))
                .collect(),
        )
    };
    match table(entries).try_into::<T>() {
        Ok(opts) => {
            problems.extend(check(&opts).into_iter().map(|p| Problem {
                line: line_of(&p),
                message: p.message,
                unknown: None,
            }));
            Some(opts)
        }
        Err(_) => {
            // Every option has a default, so each entry deserializes alone:
            // that finds the line of each bad one.
            for e in entries {
                if let Err(err) = table(&[e]).try_into::<T>() {
                    problems.push(value_problem(e, err.message()));
                }
            }
            None
        }
    }
}

/// A bad value, with the names known when it was an unknown name
/// (`unknown variant `utf-9`, expected one of `utf-8`, ...`).
fn value_problem(e: &OptionEntry, message: &str) -> Problem {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        if let Some((got, expected)) = rest.split_once('`') {
            let known = expected
                .split('`')
                .skip(1)
                .step_by(2)
                .map(String::from)
                .collect();
            return Problem {
                line: e.line,
                message: format!("unknown {} `{got}`", e.key),
                unknown: Some((got.to_string(), known)),
            };
        }
    }
    let message = if message.contains(&format!("`{}`", e.key)) || message.starts_with(&e.key) {
        message.to_string()
    } else {
        format!("`{}`: {message}", e.key)
    };
    Problem {
        line: e.line,
        message,
        unknown: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entries(text: &str) -> Vec<OptionEntry> {
        let table: toml::Table = text.parse().unwrap();
        text.lines()
            .enumerate()
            .filter_map(|(i, l)| {
                let key = l.split('=').next()?.trim();
                table.get(key).map(|v| OptionEntry {
                    key: key.to_string(),
                    value: v.clone(),
                    line: Some(i + 1),
                })
            })
            .collect()
    }

    fn problems(format: Option<SourceFormat>, text: &str) -> Vec<Problem> {
        SourceOptions::from_table(format, Some(99), &entries(text), &["glob"]).unwrap_err()
    }

    #[test]
    fn keys_go_to_their_adapters() {
        let o = SourceOptions::from_table(
            None,
            None,
            &entries("encoding = \"windows-1252\"\nsheet = \"P\"\nheader_row = 3"),
            &[],
        )
        .unwrap();
        assert_eq!(o.format(), None);
        assert_eq!(o.csv().encoding, casebridge_model::Encoding::Windows1252);
        assert_eq!(o.sheet(), Some("P"));
        assert_eq!(o.header_row(), 3);
        assert!(o.config(SourceFormat::Xml).is_none());
        let x = SourceOptions::from_table(None, None, &entries("record = \"/A/B\""), &[]).unwrap();
        assert_eq!(x.format(), Some(SourceFormat::Xml));
        assert_eq!(x.record(), Some("A/B"));
    }

    #[test]
    fn an_unknown_key_gets_its_line_and_a_suggestion() {
        let p = problems(
            Some(SourceFormat::Csv),
            "encoding = \"auto\"\ndelimter = \";\"",
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].line, Some(2));
        let (got, known) = p[0].unknown.clone().unwrap();
        assert_eq!(got, "delimter");
        assert!(known.iter().any(|k| k == "delimiter"));
    }

    #[test]
    fn another_formats_key_is_refused_with_its_line_and_reason() {
        let p = problems(
            Some(SourceFormat::Csv),
            "encoding = \"auto\"\nsheet = \"S\"",
        );
        assert_eq!(p[0].line, Some(2));
        assert_eq!(p[0].message, "`sheet` applies to xlsx sources, not csv");
        let p = problems(Some(SourceFormat::Xlsx), "encoding = \"auto\"");
        assert_eq!(p[0].line, Some(1));
        assert!(p[0].message.contains("always Unicode"), "{p:?}");
    }

    #[test]
    fn bad_values_are_judged_by_the_adapter_on_their_line() {
        let p = problems(
            None,
            "\nencoding = \"utf-9\"\nheader_row = 0\ndelimiter = \"ab\"",
        );
        let got: Vec<(Option<usize>, &str)> =
            p.iter().map(|p| (p.line, p.message.as_str())).collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0], (Some(2), "unknown encoding `utf-9`"));
        assert_eq!(p[0].unknown.as_ref().unwrap().1[0], "utf-8");
        assert_eq!(got[1].0, Some(3));
        assert_eq!(got[2].0, Some(4));
        assert!(got[2].1.contains("one ASCII character"), "{got:?}");
        // A missing `record` is reported where the format was named.
        let p = problems(Some(SourceFormat::Xml), "");
        assert_eq!(p[0].line, Some(99));
        assert!(p[0].message.contains("needs `record`"));
    }
}
