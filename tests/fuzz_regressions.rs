//! Replays fuzz regressions and seeds through the same checks as the fuzz
//! targets (fuzz/fuzz_targets/), so a crash once found stays fixed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use casebridge_csv::{CsvSource, CsvSourceConfig};
use casebridge_mapping::{CodeSet, DateFormats, Mapping, Template};
use casebridge_model::{Encoding, Record, RecordSource, Sha256, TextRow, Want};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut paths: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

fn csv_reader(data: &[u8]) {
    let (mode, bytes) = data.split_first().map_or((0, data), |(m, rest)| (*m, rest));
    let encoding = [Encoding::Auto, Encoding::Utf8, Encoding::Windows1252][usize::from(mode % 3)];
    let config = CsvSourceConfig {
        encoding,
        delimiter: if mode & 0x10 != 0 { b';' } else { b',' },
        header_row: u64::from(mode >> 6) + 1,
        max_record_bytes: 4096,
    };
    let cursor = Box::new(std::io::Cursor::new(bytes.to_vec()));
    let Ok(mut src) = CsvSource::from_reader(cursor, "fuzz.csv", config) else {
        return;
    };
    let wanted: Vec<Want> = (0..src.columns().len())
        .map(|i| [Want::Text, Want::Presence, Want::Skip][i % 3])
        .collect();
    let mut row = TextRow::new();
    loop {
        match src.read_row(&mut row, &wanted) {
            Ok(false) => break,
            Ok(true) => assert!(row.locator.as_ref().and_then(|l| l.line()).is_some()),
            Err(e) => {
                assert!(e.locator.line().is_some());
                if !e.recoverable {
                    break;
                }
            }
        }
    }
    assert_eq!(
        Box::new(src).finish().unwrap().sha256,
        Sha256::digest(bytes)
    );
}

#[test]
fn csv_reader_regressions_and_examples() {
    let mut inputs = files(&root().join("fuzz/regressions/csv_reader"));
    assert!(!inputs.is_empty());
    for dir in ["examples/mosaic", "examples/mosaic-clean"] {
        for f in files(&root().join(dir)) {
            for mode in [0u8, 1, 2, 0x42] {
                let mut d = vec![mode];
                d.extend_from_slice(&f[..f.len().min(20_000)]);
                inputs.push(d);
            }
        }
    }
    for i in inputs {
        csv_reader(&i);
    }
}

#[test]
fn loader_regressions_and_shipped_files() {
    for (dir, extra) in [
        ("fuzz/regressions/mapping_loader", "mappings/mosaic"),
        ("fuzz/regressions/template_loader", "mappings/templates"),
        ("fuzz/regressions/codeset_loader", "mappings/codesets"),
    ] {
        for data in files(&root().join(dir))
            .into_iter()
            .chain(files(&root().join(extra)))
        {
            let Ok(text) = std::str::from_utf8(&data) else {
                continue;
            };
            let p = Path::new("/nonexistent/fuzz.toml");
            let _ = Mapping::from_str(p, text);
            let _ = Template::from_str(p, text);
            let _ = CodeSet::from_str(p, text);
        }
    }
    for data in files(&root().join("fuzz/seeds/jsonl_reader")) {
        for line in String::from_utf8(data).unwrap().lines() {
            let rec = Record::from_json_line(line).unwrap();
            assert_eq!(
                Record::from_json_line(&rec.to_json_line().unwrap()).unwrap(),
                rec
            );
        }
    }
}

/// The date_formats target: what parses formats back to something that parses.
fn date_formats(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (fmt, value) = text.split_once('\n').unwrap_or((text, text));
    if let Ok(formats) = DateFormats::parse(&[fmt]) {
        if let Some((dt, f)) = formats.parse_with_format(value) {
            let written = f.format(dt);
            assert!(
                f.parse_datetime(&written).is_some(),
                "{fmt:?} {value:?} -> {written:?}"
            );
        }
    }
}

#[test]
fn date_format_regressions_and_seeds() {
    let inputs: Vec<Vec<u8>> = files(&root().join("fuzz/regressions/date_formats"))
        .into_iter()
        .chain(files(&root().join("fuzz/seeds/date_formats")))
        .collect();
    assert!(inputs.len() >= 4);
    for i in inputs {
        date_formats(&i);
    }
}

#[test]
fn xml_reader_regressions_and_seeds() {
    let inputs: Vec<Vec<u8>> = files(&root().join("fuzz/regressions/xml_reader"))
        .into_iter()
        .chain(files(&root().join("fuzz/seeds/xml_reader")))
        .collect();
    assert!(inputs.len() >= 4);
    for i in inputs {
        casebridge_xml::fuzzing::run(&i);
    }
}

#[test]
fn review_reader_regressions_and_seeds() {
    // A reviewer's workbook is untrusted: any bytes give decisions or an
    // error, never a panic (calamine panics on some damaged workbooks; the
    // reader catches that on its worker thread).
    let inputs: Vec<Vec<u8>> = files(&root().join("fuzz/regressions/review_reader"))
        .into_iter()
        .chain(files(&root().join("fuzz/seeds/review_reader")))
        .collect();
    assert!(inputs.len() >= 2);
    let dir = tempfile::tempdir().unwrap();
    for (n, data) in inputs.iter().enumerate() {
        let path = dir.path().join(format!("review{n}.xlsx"));
        std::fs::write(&path, data).unwrap();
        let _ = casebridge_dedup::review::read_decisions(&path);
    }
}

#[test]
fn config_loader_seeds_and_shipped_configs() {
    for data in files(&root().join("fuzz/seeds/run_config_loader")) {
        let text = String::from_utf8(data).unwrap();
        let r = casebridge_runner::RunConfig::from_str(Path::new("/x/run.toml"), &text);
        if let Err(d) = r {
            assert!(!d.is_empty());
        }
    }
    for p in ["mappings/dedup.toml", "mappings/febrl/dedup.toml"] {
        let text = std::fs::read_to_string(root().join(p)).unwrap();
        let c = casebridge_dedup::DedupConfig::from_toml(&text).unwrap();
        c.check().unwrap();
    }
}
