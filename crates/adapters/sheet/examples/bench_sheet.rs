//! Benchmark helper for scripts/bench-sheet.sh.
//!
//! bench_sheet gen PATH ROWS     writes a persons-like XLSX (12 columns)
//! bench_sheet calamine PATH     bare calamine: open, iterate every cell of the first sheet
//! bench_sheet source PATH       SheetSource: every row, every column wanted as text
//! bench_sheet check PATH        the zip-bomb check alone (part of `source`)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Instant;

use calamine::{DataRef, Reader, Xlsx};
use casebridge_model::{RecordSource, TextRow, Want};
use casebridge_sheet::{SheetSource, SheetSourceConfig};
use rust_xlsxwriter::{Format, Workbook};

const FORENAMES: &[&str] = &[
    "Olivia", "Amelia", "Isla", "Ava", "Noah", "Oliver", "George", "Arthur", "Muhammad", "Leo",
    "Zoë", "Siân", "Aoife", "Kacper", "Ayaan", "Maryam",
];
const SURNAMES: &[&str] = &[
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
    "Johnson", "Roberts", "Khan", "O'Brien", "Nowak", "Patel", "Ahmed",
];
const ETHNICITY: &[&str] = &[
    "WBRI", "WIRI", "WOTH", "MWBC", "MWBA", "AIND", "APKN", "BCRB", "BAFR", "CHNE", "OOTH", "REFU",
];
const LEGAL: &[&str] = &["C1", "C2", "D1", "E1", "J1", "L1", "V2", "V3", "V4"];

fn gen(path: &Path, rows: u32) {
    let mut wb = Workbook::new();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let ws = wb.add_worksheet();
    ws.set_name("Persons").unwrap();
    let header = [
        "PERSON_ID",
        "NHS_NUMBER",
        "FORENAME",
        "SURNAME",
        "DOB",
        "GENDER",
        "ETHNICITY",
        "POSTCODE",
        "LA_CODE",
        "START_DATE",
        "END_DATE",
        "LEGAL_STATUS",
    ];
    for (c, h) in header.iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for r in 1..=rows {
        let i = u64::from(r);
        ws.write_number(r, 0, (1_000_000 + i) as f64).unwrap();
        ws.write_number(r, 1, (4_000_000_000 + rnd() % 999_999_999) as f64)
            .unwrap();
        ws.write_string(r, 2, FORENAMES[(rnd() % FORENAMES.len() as u64) as usize])
            .unwrap();
        ws.write_string(r, 3, SURNAMES[(rnd() % SURNAMES.len() as u64) as usize])
            .unwrap();
        ws.write_number_with_format(r, 4, (36_000 + rnd() % 8_000) as f64, &date)
            .unwrap();
        ws.write_string(r, 5, ["1", "2", "0", "9"][(rnd() % 4) as usize])
            .unwrap();
        ws.write_string(r, 6, ETHNICITY[(rnd() % ETHNICITY.len() as u64) as usize])
            .unwrap();
        let pc = rnd();
        ws.write_string(
            r,
            7,
            format!(
                "LS{} {}{}{}",
                pc % 30,
                (pc >> 8) % 10,
                char::from(b'A' + ((pc >> 16) % 26) as u8),
                char::from(b'A' + ((pc >> 24) % 26) as u8)
            ),
        )
        .unwrap();
        ws.write_number(r, 8, 383.0).unwrap();
        let start = (42_000 + rnd() % 3_000) as f64;
        ws.write_number_with_format(r, 9, start, &date).unwrap();
        if rnd() % 3 == 0 {
            ws.write_number_with_format(r, 10, start + (rnd() % 700) as f64, &date)
                .unwrap();
        }
        ws.write_string(r, 11, LEGAL[(rnd() % LEGAL.len() as u64) as usize])
            .unwrap();
    }
    wb.save(path).unwrap();
}

fn bare_calamine(path: &Path) -> (u64, u64) {
    let mut xlsx: Xlsx<_> = calamine::open_workbook(path).unwrap();
    let sheet = xlsx.sheet_names()[0].clone();
    let mut reader = xlsx.worksheet_cells_reader(&sheet).unwrap();
    let (mut cells, mut sum) = (0u64, 0u64);
    while let Some(cell) = reader.next_cell().unwrap() {
        cells += 1;
        sum += match cell.get_value() {
            DataRef::SharedString(s) => s.len() as u64,
            DataRef::String(s) => s.len() as u64,
            DataRef::Float(f) => *f as u64 & 1,
            DataRef::DateTime(d) => d.as_f64() as u64 & 1,
            _ => 0,
        };
    }
    (cells, sum)
}

fn source(path: &Path) -> (u64, u64) {
    let mut src = Box::new(SheetSource::open(path, SheetSourceConfig::default()).unwrap());
    let wanted = vec![Want::Text; src.columns().len()];
    let mut row = TextRow::new();
    let (mut rows, mut bytes) = (0u64, 0u64);
    while src.read_row(&mut row, &wanted).unwrap() {
        rows += 1;
        for i in 0..row.len() {
            bytes += row.get(i).map_or(0, str::len) as u64;
        }
    }
    let info = src.finish().unwrap();
    assert_eq!(info.records, rows);
    (rows, bytes)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = Path::new(&args[2]);
    let t = Instant::now();
    match args[1].as_str() {
        "gen" => gen(path, args[3].parse().unwrap()),
        "calamine" => {
            let (cells, sum) = bare_calamine(path);
            eprintln!("cells {cells} (checksum {sum})");
        }
        "source" => {
            let (rows, bytes) = source(path);
            eprintln!("rows {rows}, text bytes {bytes}");
        }
        "check" => {
            let n = casebridge_sheet::check_xlsx(path, &casebridge_sheet::ArchiveLimits::default())
                .unwrap();
            eprintln!("inflates to {n} bytes");
        }
        m => panic!("unknown mode {m}"),
    }
    println!("{:.3}", t.elapsed().as_secs_f64());
}
