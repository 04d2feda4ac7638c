//! End-to-end tests of the SSDA903 (children looked after) mapping set
//! `mappings/ssda903`: its code sets against the DfE schema, and the real
//! binary validating the shipped example and generated tables.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use casebridge_mapping::CodeSet;
use common::*;

fn ssda903() -> PathBuf {
    root().join("mappings/ssda903")
}

/// The DfE schema of the SSDA903 tables, from liia-tools (shared data).
fn schema_path() -> PathBuf {
    let p = root().join("../shared/data/ssda903/SSDA903_schema_2024.yml");
    assert!(
        p.is_file(),
        "{} is missing: the SSDA903 code set tests need the shared data folder beside the repository",
        p.display()
    );
    p
}

/// The code lists of the schema by (table, column), in order. The file is
/// YAML of a fixed shape (`column_map:`, a table per 4-space indent, a
/// column per 6-space one, `- code: "X"` items), read line by line: no YAML
/// crate is in the workspace.
fn schema_codes() -> BTreeMap<(String, String), Vec<String>> {
    let text = std::fs::read_to_string(schema_path()).unwrap();
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let (mut table, mut column) = (String::new(), String::new());
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if let Some(name) = t.strip_suffix(':') {
            match indent {
                4 => table = name.to_string(),
                6 => column = name.to_string(),
                _ => {}
            }
        } else if let Some(code) = t.strip_prefix("- code:") {
            out.entry((table.clone(), column.clone()))
                .or_default()
                .push(code.trim().trim_matches('"').to_string());
        }
    }
    assert!(
        out.len() > 20,
        "the schema's shape changed: {:?}",
        out.keys()
    );
    out
}

fn codeset(file: &str) -> CodeSet {
    CodeSet::from_path(&root().join("mappings/codesets").join(file)).unwrap()
}

/// Every code set the SSDA903 mappings use, with its table and column.
const CODE_SETS: &[(&str, &str, &str)] = &[
    ("ssda903-sex.toml", "Header", "SEX"),
    ("ethnicity-cin.toml", "Header", "ETHNIC"),
    ("ssda903-mother.toml", "Header", "MOTHER"),
    ("ssda903-rne.toml", "Episodes", "RNE"),
    ("ssda903-ls.toml", "Episodes", "LS"),
    ("ssda903-cin.toml", "Episodes", "CIN"),
    ("ssda903-place.toml", "Episodes", "PLACE"),
    ("ssda903-place-provider.toml", "Episodes", "PLACE_PROVIDER"),
    ("ssda903-rec.toml", "Episodes", "REC"),
    (
        "ssda903-reason-place-change.toml",
        "Episodes",
        "REASON_PLACE_CHANGE",
    ),
];

#[test]
fn code_sets_hold_exactly_the_schemas_codes() {
    let schema = schema_codes();
    for (file, table, column) in CODE_SETS {
        let want = &schema[&(table.to_string(), column.to_string())];
        let set = codeset(file);
        // Codes are unique in a set, so the same count and every code
        // found means the same codes.
        assert_eq!(set.len(), want.len(), "{file} against {table}.{column}");
        for code in want {
            let got = set.lookup(code);
            assert!(got.is_some(), "{file} lacks {table}.{column} code {code}");
            if *file != "ssda903-sex.toml" {
                assert_eq!(got, Some(code.as_str()), "{file}: {code} maps to itself");
            }
        }
        // The file names its source.
        let text = std::fs::read_to_string(root().join("mappings/codesets").join(file)).unwrap();
        assert!(text.contains("SSDA903_schema_2024.yml"), "{file}");
    }
    // SEX maps to the canonical genders Mosaic's and the CIN census's sets use.
    let (sex, gender) = (codeset("ssda903-sex.toml"), codeset("gender.toml"));
    assert_eq!(sex.lookup("1"), gender.lookup("M"));
    assert_eq!(sex.lookup("2"), gender.lookup("F"));
    assert_eq!(sex.lookup("2"), codeset("cin-sex.toml").lookup("F"));
}

#[test]
fn the_generator_draws_from_the_schemas_lists() {
    use casebridge_gen::tables::ssda903 as g;
    let schema = schema_codes();
    for (list, column) in [
        (g::RNE, "RNE"),
        (g::LS, "LS"),
        (g::CIN, "CIN"),
        (g::PLACE, "PLACE"),
        (g::PLACE_PROVIDER, "PLACE_PROVIDER"),
        (g::REC, "REC"),
        (g::REASON_PLACE_CHANGE, "REASON_PLACE_CHANGE"),
    ] {
        assert_eq!(
            list.to_vec(),
            schema[&("Episodes".to_string(), column.to_string())],
            "{column}"
        );
    }
    assert_eq!(
        g::MOTHER.to_vec(),
        schema[&("Header".to_string(), "MOTHER".to_string())]
    );
}

/// Runs the generator for the SSDA903 tables alone.
fn generate(dir: &Path, seed: u64, families: u32, error_rate: f64) {
    let out = generator()
        .arg("--out")
        .arg(dir)
        .args(["--seed", &seed.to_string()])
        .args(["--families", &families.to_string()])
        .args(["--error-rate", &error_rate.to_string()])
        .args(["--only", "SSDA903", "--as-of", "2026-11-01"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The report's entry for each file checked, by file name.
fn checked_files(report: &serde_json::Value) -> BTreeMap<String, serde_json::Value> {
    report["summary"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "checked")
        .map(|f| {
            let name = Path::new(f["file"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, f.clone())
        })
        .collect()
}

/// Both tables read by their mappings, every row accounted for.
fn assert_both_read_and_balanced(report: &serde_json::Value) {
    let files = checked_files(report);
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["SSDA903_Episodes.csv", "SSDA903_Header.csv"],
        "{:#}",
        report["summary"]
    );
    assert_eq!(files["SSDA903_Header.csv"]["mapping"], "ssda903-header");
    assert_eq!(files["SSDA903_Episodes.csv"]["mapping"], "ssda903-episodes");
    for (name, f) in &files {
        let n = |k: &str| f[k].as_u64().unwrap();
        assert!(n("records") > 0, "{name}");
        assert_eq!(
            n("records"),
            n("valid") + n("rejected") + n("skipped"),
            "{name}: {f:#}"
        );
    }
}

#[test]
fn shipped_example_reports_exactly_its_injected_faults() {
    let dir = root().join("examples/ssda903");
    let (code, report, out) = validate_json(&[&dir], &ssda903(), &[]);
    assert_eq!(code, 1, "{}", stderr(&out));
    assert_both_read_and_balanced(&report);
    let truth = truth_keys(&dir.join("ground_truth.csv"));
    assert!(truth.len() >= 3, "the example has faults: {truth:?}");
    assert_matches_truth(&report, &dir.join("ground_truth.csv"));
}

#[test]
fn generated_tables_at_several_rates_report_every_fault() {
    for (seed, rate) in [(2, 0.05), (6, 0.2), (13, 0.4)] {
        let tmp = tempfile::tempdir().unwrap();
        generate(tmp.path(), seed, 40, rate);
        let (code, report, out) = validate_json(&[tmp.path()], &ssda903(), &[]);
        assert_eq!(code, 1, "seed {seed}: {}", stderr(&out));
        assert_both_read_and_balanced(&report);
        assert_matches_truth(&report, &tmp.path().join("ground_truth.csv"));
    }
}

#[test]
fn a_clean_generated_set_validates_with_exit_0() {
    let tmp = tempfile::tempdir().unwrap();
    generate(tmp.path(), 21, 60, 0.0);
    let (code, report, out) = validate_json(&[tmp.path()], &ssda903(), &[]);
    assert_eq!(report["summary"]["errors"], 0, "{}", stdout(&out));
    assert_eq!(code, 0);
    assert_both_read_and_balanced(&report);
    let files = checked_files(&report);
    for f in files.values() {
        assert_eq!(f["records"], f["valid"], "{f:#}");
    }
    // Warnings are only the skipped ground truth, not missing columns.
    let rules = report["summary"]["rules"].as_object().unwrap();
    assert_eq!(
        rules.keys().collect::<Vec<_>>(),
        ["file.skipped"],
        "{rules:?}"
    );
}

/// Rewrites one cell of a CSV table (CRLF, no quoting needed) in place.
fn set_cell(path: &Path, line: usize, column: &str, value: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<String> = text.split("\r\n").map(String::from).collect();
    let col = lines[0].split(',').position(|h| h == column).unwrap();
    let mut cells: Vec<&str> = lines[line - 1].split(',').collect();
    cells[col] = value;
    lines[line - 1] = cells.join(",");
    std::fs::write(path, lines.join("\r\n")).unwrap();
}

#[test]
fn a_code_outside_a_dfe_list_names_file_line_and_column_not_the_value() {
    let tmp = tempfile::tempdir().unwrap();
    generate(tmp.path(), 21, 20, 0.0);
    let episodes = tmp.path().join("SSDA903_Episodes.csv");
    let header = tmp.path().join("SSDA903_Header.csv");
    set_cell(&episodes, 3, "PLACE", "Q9");
    set_cell(&episodes, 4, "LS", "C7");
    set_cell(&header, 2, "SEX", "9");
    let (code, report, out) = validate_json(&[tmp.path()], &ssda903(), &[]);
    assert_eq!(code, 1);
    let want: std::collections::BTreeSet<Key> = [
        ("SSDA903_Episodes.csv", 3, "PLACE"),
        ("SSDA903_Episodes.csv", 4, "LS"),
        ("SSDA903_Header.csv", 2, "SEX"),
    ]
    .into_iter()
    .map(|(f, l, c)| (f.to_string(), l, "field.code".to_string(), c.to_string()))
    .collect();
    assert_eq!(error_keys(&report), want);
    let text = stdout(&out) + &stderr(&out);
    for v in ["Q9", "C7"] {
        assert!(!text.contains(v), "the value {v} leaked: {text}");
    }
    // The human report says where too.
    let human = casebridge()
        .arg("validate")
        .arg(tmp.path())
        .arg("--mapping")
        .arg(ssda903())
        .args(["--as-of", "2026-11-01"])
        .output()
        .unwrap();
    let text = stdout(&human);
    assert!(
        text.contains("SSDA903_Episodes.csv:3") && text.contains("PLACE"),
        "{text}"
    );
    assert!(!text.contains("Q9"), "{text}");
    // With --show-values the value is given.
    let (_, shown, _) = validate_json(&[tmp.path()], &ssda903(), &["--show-values"]);
    assert!(shown["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["value"] == "Q9"));
}

#[test]
fn a_table_under_the_other_tables_name_is_reported_not_misread() {
    let gen = tempfile::tempdir().unwrap();
    generate(gen.path(), 21, 20, 0.0);
    for (from, to, mapping) in [
        (
            "SSDA903_Episodes.csv",
            "903_header_2024.csv",
            "ssda903-header",
        ),
        ("SSDA903_Header.csv", "episodes.csv", "ssda903-episodes"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::copy(gen.path().join(from), tmp.path().join(to)).unwrap();
        let (code, report, out) = validate_json(&[&tmp.path().join(to)], &ssda903(), &[]);
        assert_eq!(code, 2, "{to}: {}", stdout(&out));
        let file = &report["summary"]["files"][0];
        assert_eq!(file["mapping"], mapping, "{file:#}");
        assert_ne!(file["status"], "checked", "{file:#}");
        assert_eq!(file["records"], 0, "{file:#}");
        let headers: Vec<&serde_json::Value> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == "file.header")
            .collect();
        assert!(!headers.is_empty(), "{:#}", report["findings"]);
        for f in headers {
            assert!(f["file"].as_str().unwrap().ends_with(to), "{f}");
            assert_eq!(f["line"], 1, "{f}");
        }
    }
}

#[test]
fn export_to_ssda903_writes_the_tables_back_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, 21, 60, 0.0);
    // Every column holds a value somewhere, so every field and extra is
    // written back (MOTHER 1 with MC_DOB, REC, REASON_PLACE_CHANGE, ...).
    for file in ["SSDA903_Header.csv", "SSDA903_Episodes.csv"] {
        let mut rdr = csv::Reader::from_path(input.join(file)).unwrap();
        let header = rdr.headers().unwrap().clone();
        let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
        for (i, column) in header.iter().enumerate() {
            assert!(
                rows.iter().any(|r| !r[i].is_empty()),
                "{file}: no value in {column}"
            );
        }
    }
    let out = tmp.path().join("out");
    let run = casebridge()
        .arg("export")
        .arg(&input)
        .arg("--mapping")
        .arg(ssda903())
        .args(["--to", "ssda903", "--as-of", "2026-11-01", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        stderr(&run) + &stdout(&run)
    );
    let mut written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written, ["episodes.csv", "header.csv"]);
    for (back, original) in [
        ("header.csv", "SSDA903_Header.csv"),
        ("episodes.csv", "SSDA903_Episodes.csv"),
    ] {
        let a = std::fs::read(out.join(back)).unwrap();
        let b = std::fs::read(input.join(original)).unwrap();
        assert!(a == b, "{back} differs from {original}");
    }
}
