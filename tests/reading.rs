//! The reading defects of issue 9 ("Nothing collapsed or garbled"): what a
//! reader delivers and how `validate` reports it, on small synthetic files
//! built in temporary directories.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use casebridge_mapping::{MappedRecord, Mapping};
use casebridge_model::{RecordSource, TextRow};
use casebridge_sheet::{ArchiveLimits, SheetSource, SheetSourceConfig};
use chrono::{NaiveDate, NaiveDateTime};
use common::*;
use rust_xlsxwriter::{Format, Workbook};

/// A workbook: a date cell, a date-time cell at midnight, one at 10:30, a
/// text date (`text`), and an ISO date written as text.
fn dates_workbook(path: &Path, text: &str) {
    let mut wb = Workbook::new();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let datetime = Format::new().set_num_format("dd/mm/yyyy hh:mm");
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "ID").unwrap();
    ws.write_string(0, 1, "WHEN").unwrap();
    for r in 1..=5u32 {
        ws.write_string(r, 0, r.to_string()).unwrap();
    }
    ws.write_number_with_format(1, 1, 45306.0, &date).unwrap();
    ws.write_number_with_format(2, 1, 45306.0, &datetime)
        .unwrap();
    ws.write_number_with_format(3, 1, 45306.4375, &datetime)
        .unwrap();
    ws.write_string(4, 1, text).unwrap();
    ws.write_string(5, 1, "2024-01-17").unwrap();
    wb.save(path).unwrap();
}

/// Reads `path` through the mapping `text`: per row, the field's value as
/// a date-time, and how many issues the row had.
fn read_through(path: &Path, mapping: &str, field: &str) -> Vec<(Option<NaiveDateTime>, usize)> {
    let m = Mapping::from_str(Path::new("m.toml"), mapping).unwrap();
    let config = SheetSourceConfig {
        // Tiny test workbooks compress well past the default ratio.
        archive: ArchiveLimits {
            max_ratio: 10_000,
            ..ArchiveLimits::default()
        },
        ..SheetSourceConfig::default()
    };
    let mut src = SheetSource::open(path, config).unwrap();
    let bound = m.bind(src.columns()).unwrap();
    let mut row = TextRow::new();
    let mut out = Vec::new();
    while src.read_row(&mut row, bound.wanted()).unwrap() {
        let mut rec = MappedRecord::new(m.kind);
        let mut issues = Vec::new();
        bound.apply(&mut row, &mut rec, &mut issues, false);
        out.push((rec.get(field).unwrap().datetime(), issues.len()));
    }
    out
}

fn at(d: u32, h: u32, m: u32) -> Option<NaiveDateTime> {
    NaiveDate::from_ymd_opt(2024, 1, d).and_then(|d| d.and_hms_opt(h, m, 0))
}

// See: issue 9 (a midnight date-time failed a `dd/mm/yyyy HH:MM` mapping,
// and every date cell a `dd/mm/yyyy` one).
#[test]
fn issue_9_xlsx_date_cells_are_dates_whatever_the_mappings_text_formats() {
    let dir = tempfile::tempdir().unwrap();
    let notes = r#"[mapping]
id = "t-notes"
version = "1"
kind = "case_note"
[source]
glob = "*.xlsx"
date_formats = ["dd/mm/yyyy HH:MM"]
[fields.source_key]
column = "ID"
required = true
[fields.contact_date]
column = "WHEN"
"#;
    let path = dir.path().join("notes.xlsx");
    dates_workbook(&path, "16/01/2024 09:15");
    assert_eq!(
        read_through(&path, notes, "contact_date"),
        [
            (at(15, 0, 0), 0),
            (at(15, 0, 0), 0),
            (at(15, 10, 30), 0),
            (at(16, 9, 15), 0),
            // An ISO date typed as text is text: the mapping's formats decide.
            (None, 1),
        ]
    );

    let persons = r#"[mapping]
id = "t-persons"
version = "1"
kind = "person"
[source]
glob = "*.xlsx"
date_formats = ["dd/mm/yyyy"]
[fields.source_key]
column = "ID"
required = true
[fields.date_of_birth]
column = "WHEN"
"#;
    let path = dir.path().join("persons.xlsx");
    dates_workbook(&path, "16/01/2024");
    let got = read_through(&path, persons, "date_of_birth");
    let days: Vec<(Option<NaiveDate>, usize)> =
        got.iter().map(|(d, n)| (d.map(|d| d.date()), *n)).collect();
    let day = |d| NaiveDate::from_ymd_opt(2024, 1, d);
    assert_eq!(
        days,
        [
            (day(15), 0),
            (day(15), 0),
            (day(15), 0),
            (day(16), 0),
            (None, 1)
        ]
    );
}

const PERSONS: &str = r#"[mapping]
id = "t-persons"
version = "1"
kind = "person"
[source]
glob = "P_*"
encoding = "auto"
[fields.source_key]
column = "ID"
required = true
[fields.last_name]
column = "NAME"
required = true
"#;

fn findings<'a>(report: &'a serde_json::Value, file: &str) -> Vec<&'a serde_json::Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["file"].as_str().unwrap().ends_with(file))
        .collect()
}

fn file_summary<'a>(report: &'a serde_json::Value, file: &str) -> &'a serde_json::Value {
    report["summary"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"].as_str().unwrap_or("").ends_with(file))
        .unwrap_or_else(|| panic!("no file {file} in {}", report["summary"]["files"]))
}

// See: issue 9: each defect reported once, at its line, with its rule.
#[test]
fn issue_9_reading_defects_are_reported_at_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    let maps = dir.path().join("mappings");
    std::fs::create_dir(&maps).unwrap();
    std::fs::write(maps.join("persons.toml"), PERSONS).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // UTF-8 after a Windows-1252 byte stays UTF-8.
    std::fs::write(
        data.join("P_mixed.csv"),
        b"ID,NAME\n1,Amara\n2,Zo\xEB\n3,Ren\xC3\xA9e\n4,O\x92Neill\n",
    )
    .unwrap();
    // Old Mac line endings; a ragged row on line 4. (Each file its own ids:
    // a key used twice for one system is a finding of its own.)
    std::fs::write(
        data.join("P_mac.csv"),
        b"ID,NAME\r11,A\r12,B\r13,C,extra\r14,D\r",
    )
    .unwrap();
    // A quote opened on line 3 and never closed.
    std::fs::write(data.join("P_quote.csv"), b"ID,NAME\n21,A\n22,\"Bo\n23,C\n").unwrap();
    // A sheet that repeats row number 2.
    let sheet = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>ID</t></is></c><c r="B1" t="inlineStr"><is><t>NAME</t></is></c></row><row r="2"><c r="A2"><v>31</v></c><c r="B2" t="inlineStr"><is><t>A</t></is></c></row><row r="2"><c r="A2"><v>32</v></c><c r="B2" t="inlineStr"><is><t>B</t></is></c></row><row r="3"><c r="A3"><v>33</v></c><c r="B3" t="inlineStr"><is><t>C</t></is></c></row></sheetData></worksheet>"#;
    let xlsx = casebridge_sheet::fuzzing::build_workbook(
        sheet.as_bytes(),
        casebridge_sheet::fuzzing::SHARED_STRINGS.as_bytes(),
        casebridge_sheet::fuzzing::STYLES.as_bytes(),
    )
    .unwrap();
    std::fs::write(data.join("P_dup.xlsx"), xlsx).unwrap();

    let (code, report, _) = validate_json(&[&data], &maps, &["--max-xlsx-ratio", "10000"]);
    // The unclosed quote stops its file (the rest of it is one field): exit 2.
    assert_eq!(code, 2, "{report}");

    let mixed = findings(&report, "P_mixed.csv");
    assert_eq!(mixed.len(), 1, "{mixed:?}");
    assert_eq!(mixed[0]["rule"], "encoding.fallback");
    assert_eq!(mixed[0]["severity"], "warning");
    assert_eq!(mixed[0]["line"], 3);
    assert_eq!(
        mixed[0]["message"],
        "2 fields not valid UTF-8 read as Windows-1252, the first on this line; every other \
         field read as UTF-8"
    );

    let mac = findings(&report, "P_mac.csv");
    assert_eq!(mac.len(), 1, "{mac:?}");
    assert_eq!(
        (&mac[0]["rule"], &mac[0]["line"]),
        (&"csv.ragged-row".into(), &4.into())
    );
    assert_eq!(file_summary(&report, "P_mac.csv")["records"], 4);

    let quote = findings(&report, "P_quote.csv");
    assert_eq!(quote.len(), 1, "{quote:?}");
    assert_eq!(quote[0]["rule"], "csv.syntax");
    assert_eq!(quote[0]["line"], 3);
    assert_eq!(file_summary(&report, "P_quote.csv")["status"], "failed");
    assert_eq!(
        quote[0]["message"],
        "a quote opened on line 3 is never closed: the rest of the file (2 lines) was read as \
         one field"
    );

    let dup = findings(&report, "P_dup.xlsx");
    assert_eq!(dup.len(), 1, "{dup:?}");
    assert_eq!(dup[0]["rule"], "sheet.duplicate-row");
    assert_eq!(
        (&dup[0]["severity"], &dup[0]["line"]),
        (&"warning".into(), &2.into())
    );
    assert_eq!(file_summary(&report, "P_dup.xlsx")["records"], 3);
}
