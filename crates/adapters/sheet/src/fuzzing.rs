//! What the `sheet_reader` fuzz target runs, here so that the crate's tests
//! replay its regressions and seeds through the same code. Not an API.
//!
//! An input that starts like a zip archive (`PK`) or a compound file is
//! written out as it is. Any other input is the XML of a workbook's parts,
//! separated by NUL bytes: the sheet, then the shared strings, then the
//! styles; parts not given are taken from a small template, and the zip is
//! built around them (stored, with good checksums), so that the fuzzer
//! reaches the XML instead of stopping at the zip's checksums.

use std::io::Write;
use std::path::Path;

use casebridge_model::{Locator, RecordSource, Sha256, TextRow, Want};

use crate::{ArchiveLimits, SheetSource, SheetSourceConfig};

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>"#;

const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;

const WORKBOOK: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#;

const WORKBOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>"#;

/// The template's sheet: a header, then a row of each kind of cell.
pub const SHEET: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="A1:F3"/><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="inlineStr"><is><t>DOB</t></is></c><c r="D1" t="str"><v>Seen</v></c><c r="E1" t="str"><v>Wait</v></c><c r="F1" t="str"><v>Flag</v></c></row><row r="2"><c r="A2"><v>9434765919</v></c><c r="B2" t="s"><v>2</v></c><c r="C2" s="1"><v>45306</v></c><c r="D2" s="2"><v>45306.4375</v></c><c r="E2" s="3"><v>1.5625</v></c><c r="F2" t="b"><v>1</v></c></row><row r="4"><c r="A4"><v>2.675</v></c><c r="B4" t="e"><f>NA()</f><v>#N/A</v></c><c r="C4" t="d"><v>2024-01-15T10:30:00</v></c><c r="H4" t="str"><v>x</v></c></row></sheetData></worksheet>"#;

/// The template's shared strings.
pub const SHARED_STRINGS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="3" uniqueCount="3"><si><t>ID</t></si><si><t>Name</t></si><si><r><t>Zo</t></r><r><t>ë</t></r></si></sst>"#;

/// The template's styles: general, a date, a date and time, a duration.
pub const STYLES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><numFmts count="1"><numFmt numFmtId="164" formatCode="[h]:mm:ss"/></numFmts><cellXfs count="4"><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="22"/><xf numFmtId="164"/></cellXfs></styleSheet>"#;

/// The bytes of the workbook an input stands for.
pub fn workbook_bytes(data: &[u8]) -> Vec<u8> {
    if data.starts_with(b"PK") || data.starts_with(&[0xD0, 0xCF]) {
        return data.to_vec();
    }
    let mut parts = data.splitn(3, |b| *b == 0);
    let sheet = parts.next().unwrap_or_default();
    let strings = parts.next().unwrap_or(SHARED_STRINGS.as_bytes());
    let styles = parts.next().unwrap_or(STYLES.as_bytes());
    build_workbook(sheet, strings, styles).unwrap_or_default()
}

/// A stored zip of the template with these parts.
pub fn build_workbook(
    sheet: &[u8],
    strings: &[u8],
    styles: &[u8],
) -> zip::result::ZipResult<Vec<u8>> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in [
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
        ("_rels/.rels", RELS.as_bytes()),
        ("xl/workbook.xml", WORKBOOK.as_bytes()),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS.as_bytes()),
        ("xl/styles.xml", styles),
        ("xl/sharedStrings.xml", strings),
        ("xl/worksheets/sheet1.xml", sheet),
    ] {
        w.start_file(name, opts)?;
        w.write_all(bytes)?;
    }
    Ok(w.finish()?.into_inner())
}

/// Writes the workbook `data` stands for to `path`, reads it to the end,
/// and checks what must hold whatever the input: no panic, locators in the
/// sheet, errors without a way on ending the read, the hash of the file.
pub fn run(data: &[u8], path: &Path) {
    let bytes = workbook_bytes(data);
    if std::fs::write(path, &bytes).is_err() {
        return;
    }
    let config = SheetSourceConfig {
        max_record_bytes: 4096,
        archive: ArchiveLimits {
            max_total_bytes: 4 << 20,
            max_ratio: 1000,
            max_entries: 64,
        },
        ..SheetSourceConfig::default()
    };
    let Ok(mut src) = SheetSource::open(path, config) else {
        return;
    };
    let wanted: Vec<Want> = (0..src.columns().len())
        .map(|i| [Want::Text, Want::Presence, Want::Skip][i % 3])
        .collect();
    let mut row = TextRow::new();
    let mut records = 0u64;
    loop {
        match src.read_row(&mut row, &wanted) {
            Ok(false) => break,
            Ok(true) => {
                records += 1;
                assert!(matches!(row.locator, Some(Locator::SheetRow { row, .. }) if row > 0));
                assert_eq!(row.len(), src.columns().len());
            }
            Err(e) if e.recoverable => {
                records += 1;
                assert!(matches!(e.locator, Locator::SheetRow { .. }));
            }
            Err(_) => break,
        }
    }
    let Ok(info) = Box::new(src).finish() else {
        return;
    };
    assert_eq!(info.records, records);
    assert_eq!(info.sha256, Sha256::digest(&bytes));
    assert_eq!(info.bytes, bytes.len() as u64);
}

/// For fuzz targets that read workbooks: calamine 0.30 panics on some
/// malformed sheets (a shared-string index past the table); the reader runs
/// it on its worker thread, which catches the panic and reports a Syntax
/// error. Under a fuzzer every panic aborts, so such panics are let through
/// (once per process, call it before reading); any other panic aborts as
/// usual, so the fuzzer reports it.
pub fn tolerate_calamine_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_calamine = info
                .location()
                .is_some_and(|l| l.file().contains("/calamine-"));
            let on_reader = std::thread::current().name() == Some(crate::WORKER_THREAD);
            if !(in_calamine && on_reader) {
                previous(info);
            }
        }));
    });
}
