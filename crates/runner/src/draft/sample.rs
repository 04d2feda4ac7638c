//! The sample a draft is guessed from: the header and the first rows of a
//! file, read through the project's own readers ([`crate::open_source`]
//! with a mapping that reads nothing), and the CSV delimiter sniffed from
//! the header line.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use casebridge_mapping::{Mapping, SourceFormat};
use casebridge_model::{Encoding, SourceErrorKind, TextRow, Want};

use crate::{Error, Limits};

/// Markers of an empty value that exports write; each one seen becomes a
/// `null_values` entry.
pub(crate) const NULL_MARKERS: &[&str] = &["NULL", "null", "Null", "(null)", "N/A", "n/a", "#N/A"];

/// The delimiters sniffed, in order of preference on a tie.
pub(crate) const DELIMITERS: &[u8] = b",;\t|";

/// Values longer than this are kept only as "present": no date or code is
/// this long, and free text need not be held.
const KEPT_CHARS: usize = 64;

/// The most bytes of a CSV file read to find its header line.
const HEADER_SNIFF_BYTES: u64 = 1 << 20;

/// What the first rows of one column held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnSample {
    /// Each value, trimmed, that is not empty nor a null marker nor a
    /// typed date cell, and is at most 64 characters.
    pub values: Vec<String>,
    /// Values longer than 64 characters (counted, not kept).
    pub long: usize,
    /// Typed date cells (a workbook's dates), read whatever the formats.
    pub typed: usize,
    /// Empty cells and null markers.
    pub empty: usize,
}

impl ColumnSample {
    /// Adds one cell (`typed`: a workbook's date cell), counting a null
    /// marker in `nulls`.
    pub(crate) fn add(&mut self, cell: &str, typed: bool, nulls: &mut BTreeMap<String, usize>) {
        let v = cell.trim();
        if v.is_empty() {
            self.empty += 1;
        } else if NULL_MARKERS.contains(&v) {
            self.empty += 1;
            *nulls.entry(v.to_string()).or_default() += 1;
        } else if typed {
            self.typed += 1;
        } else if v.chars().count() > KEPT_CHARS {
            self.long += 1;
        } else {
            self.values.push(v.to_string());
        }
    }

    /// Cells that held a value.
    pub fn present(&self) -> usize {
        self.values.len() + self.long + self.typed
    }
}

/// The header and first rows of a file.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The file.
    pub path: PathBuf,
    /// How it was read.
    pub format: SourceFormat,
    /// Its header, in order.
    pub header: Vec<String>,
    /// One per header column.
    pub columns: Vec<ColumnSample>,
    /// Data rows read (good and rejected).
    pub rows: usize,
    /// Rows the reader rejected (ragged, badly encoded, ...).
    pub bad_rows: usize,
    /// Whether the file ended within the sample.
    pub whole_file: bool,
    /// Why reading stopped early, if it did (a file-level error after some rows).
    pub stopped: Option<String>,
    /// The encoding the reader decoded the sample from (CSV).
    pub encoding: Option<Encoding>,
    /// The delimiter sniffed from the header line (CSV), and how often
    /// each candidate appeared there.
    pub delimiter: Option<(u8, Vec<(u8, usize)>)>,
    /// The sheet read (XLSX).
    pub sheet: Option<String>,
    /// Null markers seen, with how many cells held each.
    pub nulls: BTreeMap<String, usize>,
}

/// The delimiter of a CSV header line (`bytes` from the start of the
/// file): the candidate found most often outside quotes before the first
/// line break, `,` on a tie or when there is none. Also each count.
pub fn detect_delimiter(bytes: &[u8]) -> (u8, Vec<(u8, usize)>) {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut counts: Vec<(u8, usize)> = DELIMITERS.iter().map(|d| (*d, 0)).collect();
    let mut quoted = false;
    for &b in bytes {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            _ if !quoted => {
                if let Some(c) = counts.iter_mut().find(|(d, _)| *d == b) {
                    c.1 += 1;
                }
            }
            _ => {}
        }
    }
    let best = counts
        .iter()
        .enumerate()
        .max_by_key(|(i, (_, n))| (*n, std::cmp::Reverse(*i)))
        .filter(|(_, (_, n))| *n > 0)
        .map_or(b',', |(_, (d, _))| *d);
    (best, counts)
}

/// The TOML spelling of a delimiter.
pub(crate) fn delimiter_name(d: u8) -> String {
    if d == b'\t' {
        "tab".to_string()
    } else {
        char::from(d).to_string()
    }
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Whether a header cell looks like data (a number or a date): then the
/// file has no header row, and its "column names" would be personal data.
fn looks_like_data(cell: &str) -> bool {
    let c = cell.trim();
    let numeric = !c.is_empty()
        && c.bytes().any(|b| b.is_ascii_digit())
        && c.bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-');
    numeric || super::dates::guess_formats(&[c]).unread == 0
}

/// Reads the header and up to `rows` data rows of `path` (CSV or XLSX).
pub fn sample_file(
    path: &Path,
    rows: usize,
    sheet: Option<&str>,
    limits: &Limits,
) -> Result<Sample, Error> {
    let input = |reason: String| Error::DraftInput {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| input(format!("cannot read: {e}")))?;
    if !meta.is_file() {
        return Err(input("not a regular file".to_string()));
    }
    let format = SourceFormat::from_extension(path);
    match format {
        SourceFormat::Xml => {
            return Err(input(
                "XML sources are not drafted: an XML mapping names its record element and an \
                 element path per field; start from mappings/cin/children.toml"
                    .to_string(),
            ))
        }
        SourceFormat::Jsonl => {
            return Err(input(
                "canonical JSON Lines are read without a mapping".to_string(),
            ))
        }
        SourceFormat::Csv | SourceFormat::Xlsx => {}
    }
    if meta.len() == 0 {
        return Err(Error::DraftEmpty(path.to_path_buf()));
    }
    let delimiter = if format == SourceFormat::Csv {
        let mut head = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(HEADER_SNIFF_BYTES).read_to_end(&mut head))
            .map_err(|e| input(format!("cannot read: {e}")))?;
        Some(detect_delimiter(&head))
    } else {
        None
    };

    // A mapping that reads nothing, to open the file as every command does.
    let mut probe = String::from(
        "[mapping]\nid = \"mapping-init-probe\"\nversion = \"0\"\nkind = \"person\"\n\n\
         [source]\nglob = \"*\"\n",
    );
    if let Some((d, _)) = &delimiter {
        probe.push_str("encoding = \"auto\"\n");
        probe.push_str(&format!("delimiter = {}\n", toml_str(&delimiter_name(*d))));
    }
    if let Some(s) = sheet {
        probe.push_str(&format!("sheet = {}\n", toml_str(s)));
    }
    probe.push_str("\n[fields]\n");
    let probe =
        Mapping::from_str(Path::new("<mapping init>"), &probe).map_err(Error::DraftInvalid)?;

    let mut source = crate::open_source(path, &probe, limits).map_err(|e| match e.kind {
        SourceErrorKind::Empty => Error::DraftEmpty(path.to_path_buf()),
        _ => input(e.kind_message()),
    })?;
    let header: Vec<String> = source.columns().to_vec();
    if header.iter().all(|h| h.trim().is_empty()) {
        return Err(Error::DraftEmpty(path.to_path_buf()));
    }
    if let Some(i) = header.iter().position(|h| looks_like_data(h)) {
        return Err(input(format!(
            "the first row looks like data, not a header (column {} holds a number or a date); \
             mapping init needs the column names in the first row",
            i + 1
        )));
    }
    let mut columns = vec![ColumnSample::default(); header.len()];
    let mut nulls: BTreeMap<String, usize> = BTreeMap::new();
    let wanted = vec![Want::Text; header.len()];
    let mut row = TextRow::new();
    let (mut read, mut bad_rows, mut whole_file, mut stopped) = (0usize, 0usize, false, None);
    while read < rows {
        match source.read_row(&mut row, &wanted) {
            Ok(true) => {
                read += 1;
                for (i, col) in columns.iter_mut().enumerate() {
                    col.add(row.get(i).unwrap_or(""), row.is_typed(i), &mut nulls);
                }
            }
            Ok(false) => {
                whole_file = true;
                break;
            }
            Err(e) if e.recoverable => {
                read += 1;
                bad_rows += 1;
            }
            Err(e) => {
                stopped = Some(format!("{}: {}", e.locator, e.kind_message()));
                break;
            }
        }
    }
    let encoding = source.detected_encoding();
    let sheet = source.part().map(str::to_string);
    Ok(Sample {
        path: path.to_path_buf(),
        format,
        header,
        columns,
        rows: read,
        bad_rows,
        whole_file,
        stopped,
        encoding,
        delimiter,
        sheet,
        nulls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delimiter_is_the_commonest_candidate_of_the_header_line() {
        assert_eq!(detect_delimiter(b"A,B,C\r\n1;2;3;4;5").0, b',');
        assert_eq!(detect_delimiter(b"A;B;C\n").0, b';');
        assert_eq!(detect_delimiter(b"A\tB\tC").0, b'\t');
        assert_eq!(detect_delimiter(b"A|B|C,D\n").0, b'|');
        // Inside quotes a delimiter is part of the name.
        assert_eq!(detect_delimiter(b"\"A,B\";\"C,D\";E\n").0, b';');
        // A byte-order mark is skipped; one column has no delimiter.
        assert_eq!(detect_delimiter(b"\xEF\xBB\xBFONLY\n").0, b',');
        let (_, counts) = detect_delimiter(b"A;B,C;D");
        assert_eq!(counts, vec![(b',', 1), (b';', 2), (b'\t', 0), (b'|', 0)]);
        // A tie goes to the comma.
        assert_eq!(detect_delimiter(b"A,B;C").0, b',');
    }

    #[test]
    fn header_cells_that_are_numbers_or_dates_look_like_data() {
        assert!(looks_like_data("100234"));
        assert!(looks_like_data("01/02/2010"));
        assert!(looks_like_data("2010-02-01"));
        assert!(!looks_like_data("PERSON_ID"));
        assert!(!looks_like_data("Address line 1"));
        assert!(!looks_like_data(""));
    }
}
