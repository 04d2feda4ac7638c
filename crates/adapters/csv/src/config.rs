//! The options of a CSV source, as a mapping's `[source]` table gives them,
//! and what this adapter reads ([`DESCRIPTOR`]).
//!
//! [`CsvOptions`] is serde data; [`CsvOptions::source_config`] adds the run's
//! record limit to make the [`CsvSourceConfig`] that opens a
//! [`CsvSource`](crate::CsvSource).

use std::fmt;

use casebridge_model::{ConfigProblem, Encoding, FormatDescriptor};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use crate::CsvSourceConfig;

/// What the CSV adapter reads. It has no magic bytes: any text is CSV, so a
/// file whose bytes are another format's (a workbook's zip) is refused by
/// the caller that sniffs them.
pub const DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    name: "csv",
    aliases: &["tsv", "txt"],
    extensions: &["csv", "tsv", "txt"],
    unsupported: &[],
    summary: "delimited text (UTF-8 or Windows-1252), one record per row under a header",
    magic: &[],
    binary: false,
    keys: &["encoding", "delimiter", "header_row"],
    refuses: &[],
};

/// How to read a CSV source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    /// Text encoding: `utf-8` (with or without a byte-order mark),
    /// `windows-1252`, or `auto` (UTF-8 until a record is not, then
    /// Windows-1252 from there on, with a warning).
    #[serde(default)]
    pub encoding: Encoding,
    /// Field delimiter: one ASCII character, or `tab`.
    #[serde(default)]
    pub delimiter: Delimiter,
    /// Physical line of the header (1-based); lines above it are skipped.
    #[serde(default = "default_header_row")]
    pub header_row: u64,
}

fn default_header_row() -> u64 {
    1
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            encoding: Encoding::default(),
            delimiter: Delimiter::default(),
            header_row: default_header_row(),
        }
    }
}

impl CsvOptions {
    /// A typical configuration (a SQL Server export on Windows).
    pub fn example() -> Self {
        CsvOptions {
            encoding: Encoding::Windows1252,
            delimiter: Delimiter(b';'),
            header_row: 1,
        }
    }

    /// Every problem with these options.
    pub fn check(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        if self.header_row == 0 {
            out.push(ConfigProblem::at("header_row", "header_row starts at 1"));
        }
        if matches!(self.delimiter.0, b'"' | b'\r' | b'\n') {
            out.push(ConfigProblem::at(
                "delimiter",
                "the delimiter cannot be a quote or a line break",
            ));
        }
        out
    }

    /// The reader's configuration for these options and the run's limit on
    /// the bytes of one record.
    pub fn source_config(&self, max_record_bytes: usize) -> CsvSourceConfig {
        CsvSourceConfig {
            encoding: self.encoding,
            delimiter: self.delimiter.0,
            header_row: self.header_row,
            max_record_bytes,
        }
    }
}

/// A field delimiter: one ASCII byte (`,` by default), written `tab` for a tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiter(pub u8);

impl Default for Delimiter {
    fn default() -> Self {
        Delimiter(b',')
    }
}

impl Delimiter {
    /// Parses a mapping file's spelling: one ASCII character, `tab` or `\t`.
    pub fn parse(s: &str) -> Option<Delimiter> {
        match s {
            "\\t" | "\t" | "tab" => Some(Delimiter(b'\t')),
            s if s.len() == 1 && s.is_ascii() => Some(Delimiter(s.as_bytes()[0])),
            _ => None,
        }
    }
}

impl fmt::Display for Delimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            b'\t' => f.write_str("tab"),
            b => write!(f, "{}", char::from(b)),
        }
    }
}

impl Serialize for Delimiter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Delimiter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Delimiter::parse(&s).ok_or_else(|| {
            de::Error::custom(format!(
                "delimiter `{s}` must be one ASCII character or `tab`"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_example_round_trips_through_toml() {
        let ex = CsvOptions::example();
        let text = toml::to_string(&ex).unwrap();
        assert_eq!(toml::from_str::<CsvOptions>(&text).unwrap(), ex);
        let keys: Vec<String> = text
            .parse::<toml::Table>()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let mut want: Vec<&str> = DESCRIPTOR.keys.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want);
        assert!(ex.check().is_empty());
        let tab: CsvOptions = toml::from_str("delimiter = \"tab\"").unwrap();
        assert_eq!(tab.delimiter, Delimiter(b'\t'));
        assert!(toml::to_string(&tab).unwrap().contains("\"tab\""));
    }

    #[test]
    fn bad_options_are_refused_with_their_key() {
        let e = toml::from_str::<CsvOptions>("delimiter = \";;\"").unwrap_err();
        assert!(e.message().contains("one ASCII character or `tab`"), "{e}");
        let e = toml::from_str::<CsvOptions>("encodng = \"auto\"").unwrap_err();
        assert!(e.message().starts_with("unknown field `encodng`"), "{e}");
        let zero = CsvOptions {
            header_row: 0,
            ..CsvOptions::default()
        };
        assert_eq!(zero.check()[0].key, Some("header_row"));
    }
}
