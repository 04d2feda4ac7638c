//! The options of a workbook source, as a mapping's `[source]` table gives
//! them, and what this adapter reads ([`DESCRIPTOR`]).
//!
//! [`SheetOptions`] is serde data; [`SheetOptions::source_config`] adds the
//! run's limits to make the [`SheetSourceConfig`] that opens a
//! [`SheetSource`](crate::SheetSource).

use casebridge_model::{ConfigProblem, FormatDescriptor};
use serde::{Deserialize, Serialize};

use crate::{ArchiveLimits, SheetSourceConfig};

/// Extensions of spreadsheet formats this adapter refuses by name: legacy
/// and binary Excel, OpenDocument and Numbers. Such a file is never read,
/// by this reader or as CSV.
pub(crate) const UNSUPPORTED: &[&str] =
    &["xls", "xla", "xlt", "xlsb", "ods", "ots", "fods", "numbers"];

/// What the workbook adapter reads.
pub const DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    name: "xlsx",
    aliases: &["xlsm", "excel"],
    extensions: &["xlsx", "xlsm"],
    unsupported: UNSUPPORTED,
    summary: "Excel workbooks (.xlsx, .xlsm): one sheet, one record per row under a header",
    // An XLSX workbook is a zip archive.
    magic: &[b"PK\x03\x04"],
    binary: true,
    keys: &["sheet", "header_row"],
    refuses: &[("encoding", "a workbook's text is always Unicode")],
};

/// How to read a workbook source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SheetOptions {
    /// The sheet to read, by name (matched exactly, else ignoring case);
    /// left out: the workbook's first sheet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// Row of the header as Excel numbers it (1-based); rows above it are
    /// skipped.
    #[serde(default = "default_header_row")]
    pub header_row: u64,
}

fn default_header_row() -> u64 {
    1
}

impl Default for SheetOptions {
    fn default() -> Self {
        SheetOptions {
            sheet: None,
            header_row: default_header_row(),
        }
    }
}

impl SheetOptions {
    /// A typical configuration (one table of a data-mart workbook).
    pub fn example() -> Self {
        SheetOptions {
            sheet: Some("DM_PERSONS".into()),
            header_row: 1,
        }
    }

    /// Every problem with these options.
    pub fn check(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        if self.sheet.as_deref().is_some_and(|s| s.trim().is_empty()) {
            out.push(ConfigProblem::at(
                "sheet",
                "`sheet` is empty: give the sheet's name, or leave it out for the first sheet",
            ));
        }
        if self.header_row == 0 {
            out.push(ConfigProblem::at("header_row", "header_row starts at 1"));
        }
        out
    }

    /// The reader's configuration for these options and the run's limits.
    pub fn source_config(
        &self,
        max_record_bytes: usize,
        archive: ArchiveLimits,
    ) -> SheetSourceConfig {
        SheetSourceConfig {
            sheet: self.sheet.clone(),
            header_row: self.header_row,
            max_record_bytes,
            archive,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_example_round_trips_through_toml() {
        let ex = SheetOptions::example();
        let text = toml::to_string(&ex).unwrap();
        assert_eq!(toml::from_str::<SheetOptions>(&text).unwrap(), ex);
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
    }

    #[test]
    fn an_empty_sheet_name_is_refused() {
        let o: SheetOptions = toml::from_str("sheet = \" \"").unwrap();
        assert_eq!(o.check()[0].key, Some("sheet"));
        assert!(toml::from_str::<SheetOptions>("shet = \"A\"").is_err());
    }

    #[test]
    fn workbooks_are_told_by_their_zip_magic() {
        assert!(DESCRIPTOR.fits_magic(b"PK\x03\x04rest"));
        assert!(!DESCRIPTOR.fits_magic(b"PERSON_ID,NAME"));
    }
}
