//! Where a record came from inside its source: a CSV line, a sheet row, an XML
//! element or an HTTP page.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The position of one record inside its source.
///
/// Lines and rows are 1-based and physical: a CSV record whose quoted field
/// spans three lines has the line on which it starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Locator {
    /// A CSV record: the physical line where it starts, and its 1-based
    /// ordinal among data records (the header excluded).
    CsvLine {
        /// 1-based physical line where the record starts (the header is line 1).
        line: u64,
        /// 1-based ordinal of the record among data records.
        record: u64,
    },
    /// A spreadsheet row.
    SheetRow {
        /// Sheet name.
        sheet: String,
        /// 1-based row number as Excel shows it.
        row: u64,
    },
    /// An XML element: its path and its 1-based index among its siblings.
    XmlPath {
        /// Slash-separated element path.
        path: String,
        /// 1-based index among elements with the same path.
        index: u64,
        /// 1-based line of the element's start tag (0 when not known).
        #[serde(default)]
        line: u64,
    },
    /// An item of an HTTP page.
    HttpPage {
        /// 1-based page number.
        page: u64,
        /// 1-based index of the item in the page.
        index: u64,
    },
    /// The whole source (for findings about a file rather than a record).
    File,
}

impl Locator {
    /// The 1-based line or row, when the locator has one.
    pub fn line(&self) -> Option<u64> {
        match self {
            Locator::CsvLine { line, .. } => Some(*line),
            Locator::SheetRow { row, .. } => Some(*row),
            Locator::XmlPath { line, .. } if *line > 0 => Some(*line),
            _ => None,
        }
    }
}

impl fmt::Display for Locator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Locator::CsvLine { line, .. } => write!(f, "line {line}"),
            Locator::SheetRow { sheet, row } => write!(f, "sheet {sheet} row {row}"),
            Locator::XmlPath { path, index, line } if *line > 0 => {
                write!(f, "{path}[{index}] (line {line})")
            }
            Locator::XmlPath { path, index, .. } => write!(f, "{path}[{index}]"),
            Locator::HttpPage { page, index } => write!(f, "page {page} item {index}"),
            Locator::File => f.write_str("file"),
        }
    }
}
