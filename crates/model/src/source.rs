//! The boundary between source adapters and mappings: adapters know formats
//! and yield [`TextRow`]s; mappings know meaning and read them.
//!
//! A [`RecordSource`] is pulled one row at a time into a row the caller owns,
//! so a reader holds one record in memory whatever the size of its input.

use crate::{Locator, Sha256};

/// One source record decoded to text: its locator and the cells of the
/// columns the caller asked for (the others are left empty, undecoded).
///
/// A cell can be marked *typed* ([`TextRow::set_typed`]): the source held a
/// date, not text, and wrote it in the one canonical form, `yyyy-mm-dd` or
/// `yyyy-mm-dd HH:MM:SS[.fff]` (a workbook's date cells). Mappings read a
/// typed date as a date whatever the text formats they accept.
#[derive(Debug, Default, Clone)]
pub struct TextRow {
    /// Where the record starts.
    pub locator: Option<Locator>,
    cells: Vec<String>,
    /// Per cell: holds a typed date (see above).
    typed: Vec<bool>,
    len: usize,
}

impl TextRow {
    /// An empty row.
    pub fn new() -> Self {
        Self::default()
    }

    /// Clears the row for `len` cells, keeping the allocations.
    pub fn reset(&mut self, len: usize) {
        if self.cells.len() < len {
            self.cells.resize_with(len, String::new);
        }
        for c in &mut self.cells[..len] {
            c.clear();
        }
        self.typed.clear();
        self.typed.resize(len, false);
        self.len = len;
    }

    /// Marks cell `i` as a typed date in canonical form (a no-op past the end).
    pub fn set_typed(&mut self, i: usize) {
        if let Some(t) = self.typed.get_mut(i) {
            *t = true;
        }
    }

    /// Whether cell `i` holds a typed date (see [`TextRow`]).
    pub fn is_typed(&self, i: usize) -> bool {
        i < self.len && self.typed.get(i).copied().unwrap_or(false)
    }

    /// The buffer of cell `i`, to fill. Panics if `i` is past [`TextRow::reset`]'s `len`.
    pub fn cell_mut(&mut self, i: usize) -> &mut String {
        &mut self.cells[i]
    }

    /// Cell `i`, or `None` past the end of the row.
    pub fn get(&self, i: usize) -> Option<&str> {
        if i < self.len {
            self.cells.get(i).map(String::as_str)
        } else {
            None
        }
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the row has no cells.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Builds a row from cells (tests and small in-memory sources).
    pub fn from_cells<I, S>(locator: Locator, cells: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let cells: Vec<String> = cells.into_iter().map(Into::into).collect();
        let len = cells.len();
        TextRow {
            locator: Some(locator),
            cells,
            typed: vec![false; len],
            len,
        }
    }
}

/// How much of a column a reader should deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Want {
    /// Not at all: the cell stays empty.
    #[default]
    Skip,
    /// Only whether it holds something. A blank field gives an empty cell, a
    /// short one (up to [`PRESENCE_LIMIT`] bytes) its text, so that null
    /// markers such as `NULL` still read as empty, and a longer one
    /// [`PRESENT`] instead of its text: validation needs no more of fields
    /// that no rule reads, such as note bodies, and skips decoding them.
    Presence,
    /// Its decoded text.
    Text,
}

/// The cell of a [`Want::Presence`] column whose text was not decoded.
pub const PRESENT: &str = "\u{2026}";

/// The longest field a [`Want::Presence`] column still decodes.
pub const PRESENCE_LIMIT: usize = 32;

/// What is known of a source once it has been read to the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    /// File name or URL.
    pub name: String,
    /// SHA-256 of every byte read.
    pub sha256: Sha256,
    /// Bytes read.
    pub bytes: u64,
    /// Data records read (good and bad).
    pub records: u64,
}

/// What went wrong reading a source.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SourceErrorKind {
    /// The file could not be opened or read.
    Io(String),
    /// The file holds no header and no data.
    Empty,
    /// The file is in an encoding the source is not set up for (e.g. UTF-16).
    UnsupportedEncoding(String),
    /// A record has a different number of fields from the header.
    FieldCount {
        /// Fields in the header.
        expected: usize,
        /// Fields in this record.
        found: usize,
    },
    /// A field is not valid in the declared encoding.
    InvalidEncoding {
        /// The column's name in the header.
        column: String,
    },
    /// The CSV is malformed beyond recovery at this point.
    Syntax(String),
    /// A configured limit was exceeded.
    Limit(String),
    /// Not an error: an `auto` source read fields that are not valid UTF-8
    /// as Windows-1252 (every other field stays UTF-8). Raised once per
    /// file, at its end, located at the first such field's record.
    EncodingFallback {
        /// Fields read as Windows-1252 in the whole file (header included).
        fields: u64,
    },
    /// The XML declares a DTD (`<!DOCTYPE`). Refused outright: entity
    /// definitions are how billion-laughs and external-entity attacks work,
    /// and no ICS or DfE export needs one.
    Dtd,
    /// Text refers to an entity that is not one of XML's five (`&amp;` ...)
    /// nor a character reference: nothing defines it, as DTDs are refused.
    Entity {
        /// The entity's name.
        name: String,
    },
    /// Elements nest deeper than the depth limit.
    DepthLimit {
        /// The limit.
        limit: usize,
    },
    /// A spreadsheet archive inflates past a limit (a zip bomb, or simply too large).
    ArchiveLimit(String),
    /// A spreadsheet cell holds an error value (`#N/A`, `#REF!`, ...).
    CellError {
        /// The column's name in the header.
        column: String,
        /// The error as Excel shows it.
        error: String,
    },
    /// Not an error: a sheet row whose number repeats an earlier row's or
    /// goes back (a damaged or hand-built sheet). It is read as a record of
    /// its own, as is the earlier one.
    RowNumber {
        /// Its row number (1-based, as Excel shows it).
        row: u64,
        /// The number of the row before it in the sheet.
        after: u64,
    },
    /// The file is in a format casebridge does not read (`.xls`, `.ods`, a
    /// zip named `.csv`): refused by name or by its first bytes.
    Unsupported(String),
    /// The sheet the mapping names is not in the workbook.
    NoSheet {
        /// The sheet asked for.
        sheet: String,
        /// The sheets the workbook has.
        available: Vec<String>,
    },
}

/// An error from a source, with where it happened and whether reading can go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    /// What went wrong.
    pub kind: SourceErrorKind,
    /// Where; [`Locator::File`] for file-level errors.
    pub locator: Locator,
    /// `true`: the record is rejected and the next one can be read.
    /// `false`: the rest of the file cannot be read.
    pub recoverable: bool,
}

impl SourceError {
    /// What went wrong, without where (findings carry the place apart).
    pub fn kind_message(&self) -> String {
        self.kind.to_string()
    }

    /// The finding for this error: its rule id, the column concerned and a
    /// message without values. `syntax` is the rule of a syntax error in the
    /// source's format (`csv.syntax`, `xml.syntax`, ...). The one place that
    /// maps every kind to its rule: an exhaustive match, so a new kind
    /// cannot be added without its rule.
    pub fn finding_parts(&self, syntax: &'static str) -> (&'static str, Option<&str>, String) {
        match &self.kind {
            SourceErrorKind::Io(m) => (crate::rules::FILE_UNREADABLE, None, format!("cannot read: {m}")),
            SourceErrorKind::Empty => (
                crate::rules::FILE_EMPTY,
                None,
                "file is empty: no header row".to_string(),
            ),
            SourceErrorKind::UnsupportedEncoding(enc) => (
                crate::rules::FILE_ENCODING,
                None,
                format!("file is {enc}; export it as UTF-8 or Windows-1252"),
            ),
            SourceErrorKind::FieldCount { expected, found } => (
                crate::rules::CSV_RAGGED_ROW,
                None,
                format!("row has {found} fields, header has {expected}"),
            ),
            SourceErrorKind::InvalidEncoding { column } => (
                crate::rules::ENCODING_INVALID,
                Some(column.as_str()),
                "bytes not valid in the declared encoding".to_string(),
            ),
            SourceErrorKind::Syntax(m) => (syntax, None, m.clone()),
            SourceErrorKind::Unsupported(m) => (crate::rules::FILE_UNSUPPORTED, None, m.clone()),
            SourceErrorKind::Limit(m) => (crate::rules::LIMIT_RECORD, None, m.clone()),
            SourceErrorKind::EncodingFallback { fields } => (
                crate::rules::ENCODING_FALLBACK,
                None,
                format!(
                    "{fields} field{} not valid UTF-8 read as Windows-1252, the first on this line; \
                     every other field read as UTF-8",
                    if *fields == 1 { "" } else { "s" }
                ),
            ),
            SourceErrorKind::Dtd => (crate::rules::XML_DTD, None, self.kind_message()),
            SourceErrorKind::Entity { .. } => (crate::rules::XML_ENTITY, None, self.kind_message()),
            SourceErrorKind::DepthLimit { .. } => (crate::rules::LIMIT_DEPTH, None, self.kind_message()),
            SourceErrorKind::ArchiveLimit(_) => (crate::rules::LIMIT_ARCHIVE, None, self.kind_message()),
            SourceErrorKind::CellError { column, .. } => (
                crate::rules::SHEET_CELL_ERROR,
                Some(column.as_str()),
                self.kind_message(),
            ),
            SourceErrorKind::NoSheet { .. } => (crate::rules::SHEET_MISSING, None, self.kind_message()),
            SourceErrorKind::RowNumber { .. } => (crate::rules::SHEET_DUPLICATE_ROW, None, self.kind_message()),
            }
    }
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.locator, self.kind)
    }
}

impl std::fmt::Display for SourceErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceErrorKind::Io(e) => write!(f, "cannot read: {e}"),
            SourceErrorKind::Empty => f.write_str("file is empty"),
            SourceErrorKind::UnsupportedEncoding(e) => write!(f, "unsupported encoding {e}"),
            SourceErrorKind::FieldCount { expected, found } => {
                write!(f, "{found} fields, header has {expected}")
            }
            SourceErrorKind::InvalidEncoding { column } => {
                write!(
                    f,
                    "column {column}: bytes not valid in the declared encoding"
                )
            }
            SourceErrorKind::Syntax(m) | SourceErrorKind::Unsupported(m) => write!(f, "{m}"),
            SourceErrorKind::Limit(m) => write!(f, "limit exceeded: {m}"),
            SourceErrorKind::EncodingFallback { fields } => write!(
                f,
                "{fields} field{} not valid UTF-8, read as Windows-1252 (the first here)",
                if *fields == 1 { "" } else { "s" }
            ),
            SourceErrorKind::Dtd => f.write_str(
                "the XML declares a DTD (<!DOCTYPE>); refused, as entity expansion is never performed",
            ),
            SourceErrorKind::Entity { name } => write!(f, "undefined entity &{name};"),
            SourceErrorKind::DepthLimit { limit } => {
                write!(f, "limit exceeded: elements nest deeper than {limit}")
            }
            SourceErrorKind::ArchiveLimit(m) => write!(f, "limit exceeded: {m}"),
            SourceErrorKind::CellError { column, error } => {
                write!(f, "column {column}: cell holds the error {error}")
            }
            SourceErrorKind::RowNumber { row, after } if row == after => write!(
                f,
                "a second row numbered {row}: the sheet repeats a row number; both rows are read"
            ),
            SourceErrorKind::RowNumber { row, after } => write!(
                f,
                "row {row} comes after row {after}: the sheet's row numbers repeat or go back; \
                 every row is read"
            ),
            // The workbook's sheet names are the file's, not the mapping's:
            // counted, not quoted.
            SourceErrorKind::NoSheet { sheet, available } => {
                write!(f, "no sheet `{sheet}`; the workbook has {} other sheet(s)", available.len())
            }
        }
    }
}

impl std::error::Error for SourceError {}

/// A stream of records from one source.
pub trait RecordSource {
    /// The source's column names (header), in order.
    fn columns(&self) -> &[String];

    /// Reads the next record into `row`, delivering each column as `wanted`
    /// says (columns past the end of `wanted` are skipped). `Ok(false)` at the end. A recoverable error
    /// rejects this record only: record it and read on.
    fn read_row(&mut self, row: &mut TextRow, wanted: &[Want]) -> Result<bool, SourceError>;

    /// Bytes read so far (for progress).
    fn bytes_read(&self) -> u64;

    /// A warning raised by the last [`RecordSource::read_row`], if any (for
    /// example [`SourceErrorKind::EncodingFallback`]).
    fn take_warning(&mut self) -> Option<SourceError>;

    /// Reads what is left, then gives the source's hash and counts.
    fn finish(self: Box<Self>) -> Result<SourceInfo, SourceError>;

    /// The named part of the file being read, when the format has parts
    /// (a workbook's sheet).
    fn part(&self) -> Option<&str> {
        None
    }

    /// The canonical record behind the last row, for sources that hold
    /// canonical records already (JSON Lines): the pipeline passes it on
    /// as it is (ids, keys and provenance kept) instead of rebuilding it
    /// from the row.
    fn take_record(&mut self) -> Option<crate::Record> {
        None
    }

    /// The encoding the text read so far was decoded from, for sources
    /// that decode bytes (CSV): `Windows1252` once any field was not UTF-8,
    /// so that a file written back can keep its input's encoding.
    fn detected_encoding(&self) -> Option<Encoding> {
        None
    }
}

/// The text encoding of a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// UTF-8, with or without a byte-order mark.
    Utf8,
    /// Windows-1252 (what Excel and SQL Server exports on Windows write).
    Windows1252,
    /// Decided per field: a field that is valid UTF-8 is UTF-8, one that is
    /// not is Windows-1252; a file with any of the latter gets one warning
    /// (where the first was, and how many).
    #[default]
    Auto,
}

impl Encoding {
    /// Parses a mapping file's spelling: `utf-8`, `utf-8-bom`, `windows-1252`
    /// (`cp1252`), `auto`.
    pub fn parse(s: &str) -> Option<Encoding> {
        match s.to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" | "utf-8-bom" | "utf-8-sig" => Some(Encoding::Utf8),
            "windows-1252" | "cp1252" | "latin1" | "iso-8859-1" => Some(Encoding::Windows1252),
            "auto" => Some(Encoding::Auto),
            _ => None,
        }
    }

    /// The names [`Encoding::parse`] accepts (for suggestions).
    pub const NAMES: &'static [&'static str] = &["utf-8", "utf-8-bom", "windows-1252", "auto"];
}

/// An error writing records out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// Writing to the target failed.
    #[error("{target}: cannot write")]
    Io {
        /// The file or endpoint written.
        target: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The output helper failed (its error names the file).
    #[error(transparent)]
    Output(Box<dyn std::error::Error + Send + Sync>),
}

/// What a sink wrote, once finished.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkSummary {
    /// Records written.
    pub records: u64,
    /// Each file written: its name, SHA-256 and size.
    pub files: Vec<(String, Sha256, u64)>,
}

/// Writes canonical records out (JSON Lines, CSV, XLSX, a mapping set's
/// files). Nothing is visible until [`RecordSink::finish`] succeeds; a sink
/// dropped without it leaves no output.
pub trait RecordSink {
    /// Writes one record.
    fn write_record(&mut self, record: &crate::Record) -> Result<(), SinkError>;
    /// Flushes, syncs and puts the output in place.
    fn finish(self: Box<Self>) -> Result<SinkSummary, SinkError>;
}
