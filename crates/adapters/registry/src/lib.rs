//! The closed list of casebridge's source adapters, matched exhaustively.
//!
//! - [`SourceFormat`]: CSV, XLSX, XML, JSON Lines, each with its adapter's
//!   [`FormatDescriptor`] (name, extensions, refused extensions, magic bytes,
//!   option keys); the format of a file by its extension.
//! - [`SourceOptions`]: a mapping's `[source]` table handed to the adapters:
//!   each format's keys go to its adapter's options struct, which checks
//!   them itself; every problem comes back with its line in the mapping.
//! - [`SourceConfig`]: one adapter's options, which [`SourceConfig::open`]
//!   turns into a [`RecordSource`] under a [`BuildContext`] (the run's limits
//!   and what the mapping reads), after [`check_file`] has refused a file
//!   whose name or first bytes say it is in a format that is not read.
//!
//! Adapters know formats; this crate only lists them. It knows no mapping:
//! the mapping crate calls it with the table's entries and their lines.

#![forbid(unsafe_code)]

mod options;

use std::io::Read;
use std::path::Path;

use casebridge_csv::{CsvOptions, CsvSource};
use casebridge_jsonl::{JsonlOptions, JsonlSource};
use casebridge_model::{
    FormatDescriptor, Locator, RecordKind, RecordSource, SourceError, SourceErrorKind,
};
use casebridge_sheet::{ArchiveLimits, SheetOptions, SheetSource};
use casebridge_xml::{XmlLimits, XmlOptions, XmlSource};

pub use options::{OptionEntry, Problem, SourceOptions};

/// The file format of a source: one per adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// Delimited text.
    Csv,
    /// An Excel workbook (`.xlsx`, `.xlsm`).
    Xlsx,
    /// XML, one record per element at the mapping's `record` path.
    Xml,
    /// Canonical records as JSON Lines (what `--out` and the JSON Lines
    /// sink write), read back through the built-in canonical mappings.
    Jsonl,
}

impl SourceFormat {
    /// Every format, in the order extensions are looked up.
    pub const ALL: [SourceFormat; 4] = [
        SourceFormat::Csv,
        SourceFormat::Xlsx,
        SourceFormat::Xml,
        SourceFormat::Jsonl,
    ];

    /// The names a mapping file may give as `format`.
    pub const NAMES: &'static [&'static str] = &["csv", "xlsx", "xml"];

    /// What its adapter reads.
    pub fn descriptor(self) -> &'static FormatDescriptor {
        match self {
            SourceFormat::Csv => &casebridge_csv::DESCRIPTOR,
            SourceFormat::Xlsx => &casebridge_sheet::DESCRIPTOR,
            SourceFormat::Xml => &casebridge_xml::DESCRIPTOR,
            SourceFormat::Jsonl => &casebridge_jsonl::DESCRIPTOR,
        }
    }

    /// The format a mapping's `format` names (any case, or an alias).
    pub fn parse(s: &str) -> Option<SourceFormat> {
        Self::ALL
            .into_iter()
            .filter(|f| Self::NAMES.contains(&f.as_str()))
            .find(|f| f.descriptor().is_named(s))
    }

    /// The format a file's extension suggests (CSV when it suggests none).
    /// An extension an adapter refuses by name (`.xls`, `.ods`, ...) gives
    /// that adapter's format, never CSV; [`check_file`] refuses the file.
    pub fn from_extension(path: &Path) -> SourceFormat {
        let Some(ext) = extension(path) else {
            return SourceFormat::Csv;
        };
        Self::ALL
            .into_iter()
            .find(|f| {
                let d = f.descriptor();
                d.extensions.contains(&ext.as_str()) || d.unsupported.contains(&ext.as_str())
            })
            .unwrap_or(SourceFormat::Csv)
    }

    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        self.descriptor().name
    }

    /// Whether its records come under a header row (so a mapping's
    /// `columns` and a header line make sense).
    pub fn has_header(self) -> bool {
        matches!(self, SourceFormat::Csv | SourceFormat::Xlsx)
    }
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// The leading bytes of an OLE compound file: a legacy `.xls` workbook, or
/// an encrypted (password-protected) `.xlsx`. No adapter reads one.
const COMPOUND_FILE: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

fn refused(message: String) -> SourceError {
    SourceError {
        kind: SourceErrorKind::Unsupported(message),
        locator: Locator::File,
        recoverable: false,
    }
}

/// Refuses a file that is not to be read as `format`: its extension is one
/// an adapter refuses by name (`.xls`, `.xlsb`, `.ods`, ... whatever the
/// mapping's format), or its first bytes are a workbook's while the format
/// is text (a zip archive read as CSV). A file that cannot be read passes:
/// the reader reports that.
pub fn check_file(path: &Path, format: SourceFormat) -> Result<(), SourceError> {
    if let Some(ext) = extension(path) {
        if let Some(owner) = SourceFormat::ALL
            .into_iter()
            .find(|f| f.descriptor().unsupported.contains(&ext.as_str()))
        {
            let d = owner.descriptor();
            let takes: Vec<String> = d.extensions.iter().map(|e| format!(".{e}")).collect();
            return Err(refused(format!(
                "unsupported format .{ext}: the {} reader takes {} only; save the file as {}",
                d.name,
                takes.join(" and "),
                takes.first().map_or("", String::as_str),
            )));
        }
    }
    let d = format.descriptor();
    if d.binary {
        // The workbook reader tells a damaged or encrypted workbook itself.
        return Ok(());
    }
    // Only a regular file is sniffed: a named pipe's bytes can be read once,
    // by the reader (and opening one would wait for its writer).
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return Ok(());
    }
    let mut head = [0u8; 8];
    let n = match std::fs::File::open(path) {
        Ok(f) => f.take(8).read(&mut head).unwrap_or(0),
        Err(_) => return Ok(()),
    };
    let head = &head[..n];
    if head.starts_with(COMPOUND_FILE) {
        return Err(refused(format!(
            "looks like a legacy .xls workbook or a password-protected one, not {}: \
             not supported; save it as .xlsx without a password",
            d.name
        )));
    }
    if let Some(other) = SourceFormat::ALL
        .into_iter()
        .filter(|f| *f != format && f.descriptor().binary)
        .find(|f| f.descriptor().fits_magic(head))
    {
        return Err(refused(format!(
            "looks like a workbook (a zip archive), not {} text: name it .{} or give \
             the mapping `format = \"{}\"`",
            d.name,
            other
                .descriptor()
                .extensions
                .first()
                .copied()
                .unwrap_or_default(),
            other.as_str(),
        )));
    }
    Ok(())
}

/// One adapter's options: what a mapping's `[source]` table gives for the
/// format a file is read as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceConfig {
    /// Delimited text.
    Csv(CsvOptions),
    /// A workbook.
    Xlsx(SheetOptions),
    /// XML.
    Xml(XmlOptions),
    /// Canonical JSON Lines.
    Jsonl(JsonlOptions),
}

/// What opening a source needs besides its options: the run's limits and
/// what the mapping reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildContext {
    /// Largest record (CSV record, sheet row, XML record's text, JSON line)
    /// held in memory.
    pub max_record_bytes: usize,
    /// XML size limits other than the record's (depth, token).
    pub xml: XmlLimits,
    /// What a workbook's archive may inflate to.
    pub archive: ArchiveLimits,
    /// The source columns the mapping reads (for XML, the element paths
    /// that become the record's fields).
    pub fields: Vec<String>,
    /// The record kind the mapping reads (a JSON Lines part reads one).
    pub kind: RecordKind,
    /// For a file read in parts: this part reports what no part reads.
    pub report_unreadable: bool,
}

impl SourceConfig {
    /// Its format.
    pub fn format(&self) -> SourceFormat {
        match self {
            SourceConfig::Csv(_) => SourceFormat::Csv,
            SourceConfig::Xlsx(_) => SourceFormat::Xlsx,
            SourceConfig::Xml(_) => SourceFormat::Xml,
            SourceConfig::Jsonl(_) => SourceFormat::Jsonl,
        }
    }

    /// Checks the file ([`check_file`]) and opens it with its adapter.
    pub fn open(
        &self,
        path: &Path,
        cx: &BuildContext,
    ) -> Result<Box<dyn RecordSource>, SourceError> {
        check_file(path, self.format())?;
        let max = cx.max_record_bytes;
        Ok(match self {
            SourceConfig::Csv(o) => Box::new(CsvSource::open(path, o.source_config(max))?),
            SourceConfig::Xlsx(o) => {
                Box::new(SheetSource::open(path, o.source_config(max, cx.archive))?)
            }
            SourceConfig::Xml(o) => {
                let limits = XmlLimits {
                    max_record_bytes: max,
                    ..cx.xml
                };
                Box::new(XmlSource::open(
                    path,
                    o.source_config(cx.fields.clone(), limits),
                )?)
            }
            SourceConfig::Jsonl(o) => Box::new(JsonlSource::open(
                path,
                o.source_config(cx.kind, cx.report_unreadable, max),
            )?),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn extensions_come_from_the_descriptors() {
        let f = |p: &str| SourceFormat::from_extension(Path::new(p));
        assert_eq!(f("a.XLSX"), SourceFormat::Xlsx);
        assert_eq!(f("a.xlsm"), SourceFormat::Xlsx);
        assert_eq!(f("a.xml"), SourceFormat::Xml);
        assert_eq!(f("a.ndjson"), SourceFormat::Jsonl);
        assert_eq!(f("a.tsv"), SourceFormat::Csv);
        assert_eq!(f("a"), SourceFormat::Csv);
        for p in ["a.xls", "a.xlsb", "a.ods"] {
            assert_eq!(f(p), SourceFormat::Xlsx, "{p}: never read as csv");
        }
        assert_eq!(SourceFormat::parse("Excel"), Some(SourceFormat::Xlsx));
        assert_eq!(
            SourceFormat::parse("jsonl"),
            None,
            "not a mapping's to name"
        );
    }

    #[test]
    fn a_refused_extension_is_refused_whatever_the_format() {
        let dir = tempfile::tempdir().unwrap();
        for ext in ["xls", "xlsb", "ods"] {
            let p = dir.path().join(format!("DM_PERSONS.{ext}"));
            std::fs::write(&p, "PERSON_ID\n1\n").unwrap();
            for format in SourceFormat::ALL {
                let e = check_file(&p, format).unwrap_err();
                assert!(
                    matches!(&e.kind, SourceErrorKind::Unsupported(m) if m.contains(&format!(".{ext}"))),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn bytes_that_contradict_the_format_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("DM_PERSONS.csv");
        std::fs::write(&zip, b"PK\x03\x04\x14\x00\x00\x00").unwrap();
        let e = check_file(&zip, SourceFormat::Csv).unwrap_err();
        assert!(e.to_string().contains("looks like a workbook"), "{e}");
        assert!(
            check_file(&zip, SourceFormat::Xlsx).is_ok(),
            "the sheet reader judges"
        );
        let ole = dir.path().join("export.xml");
        std::fs::write(&ole, COMPOUND_FILE).unwrap();
        let e = check_file(&ole, SourceFormat::Xml).unwrap_err();
        assert!(e.to_string().contains("legacy .xls"), "{e}");
        let csv = dir.path().join("ok.csv");
        std::fs::write(&csv, "PK,NAME\n").unwrap();
        assert!(check_file(&csv, SourceFormat::Csv).is_ok());
        assert!(check_file(&dir.path().join("missing.csv"), SourceFormat::Csv).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn a_named_pipe_is_not_sniffed() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("CASE_NOTES.csv");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            return;
        }
        // Returns at once: opening the pipe would wait for a writer, and
        // reading it would take bytes the reader needs.
        assert!(check_file(&fifo, SourceFormat::Csv).is_ok());
    }
}
