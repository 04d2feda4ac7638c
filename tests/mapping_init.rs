//! End-to-end tests of `casebridge mapping init`: the real binary drafts
//! mappings for generated Mosaic tables (CSV and XLSX) and for inline
//! exports with unfamiliar column names; every draft loads, guesses the
//! shipped mapping's kind and most of its columns, and `validate` runs
//! with it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use casebridge_mapping::Mapping;
use common::*;

fn generate(dir: &Path, format: &str) {
    let status = generator()
        .arg("--out")
        .arg(dir)
        .args(["--seed", "3", "--families", "10", "--format", format])
        .args(["--as-of", "2026-11-01"])
        .status()
        .expect("run generator");
    assert!(status.success());
}

/// Runs `casebridge mapping init <file> <extra>`.
fn init(file: &Path, extra: &[&str]) -> std::process::Output {
    casebridge()
        .args(["mapping", "init"])
        .arg(file)
        .args(extra)
        .output()
        .expect("run casebridge")
}

/// Drafts `file` into `out`, checking the run and that the draft loads.
fn draft(file: &Path, out: &Path, extra: &[&str]) -> Mapping {
    let o = init(file, &[&["--out", out.to_str().unwrap()], extra].concat());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    Mapping::from_path(out).unwrap_or_else(|e| panic!("draft does not load: {e}"))
}

/// The shipped mapping's (field, columns) pairs the draft has too, and
/// how many the shipped one has.
fn right_pairs(shipped: &Mapping, draft: &Mapping) -> (usize, usize) {
    let got: Vec<(&str, &str)> = draft.mapped_fields().collect();
    let want: Vec<(&str, &str)> = shipped.mapped_fields().collect();
    (want.iter().filter(|p| got.contains(p)).count(), want.len())
}

/// Whether `text` holds `value` as a whole token (not inside a longer word
/// or number).
fn holds_token(text: &str, value: &str) -> bool {
    text.match_indices(value).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + value.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// The six Mosaic tables, their shipped mappings and the pairs a draft
/// must get right (measured: every pair of every table).
const TABLES: &[(&str, &str, usize)] = &[
    ("DM_PERSONS", "persons", 12),
    ("DM_ADDRESSES", "addresses", 7),
    ("DM_PERSONAL_RELATIONSHIPS", "relationships", 6),
    ("CASE_NOTES", "case-notes", 10),
    ("DM_WORKFLOW_STEPS", "workflow-steps", 7),
    ("DM_CACHED_FORM_ANSWERS", "form-answers", 9),
];

fn check_table(dir: &Path, table: &str, ext: &str, shipped: &str, floor: usize) {
    let input = dir.join(format!("{table}.{ext}"));
    let out = dir.join(format!("draft-{table}-{ext}.toml"));
    let d = draft(&input, &out, &[]);
    let shipped =
        Mapping::from_path(&root().join(format!("mappings/mosaic/{shipped}.toml"))).unwrap();
    assert_eq!(d.kind, shipped.kind, "{table}.{ext}: kind");
    let (right, of) = right_pairs(&shipped, &d);
    eprintln!("{table}.{ext}: {right} of {of} shipped field->column pairs");
    assert!(
        right >= floor,
        "{table}.{ext}: {right} of {of} pairs right, floor {floor}"
    );
    assert!(d.source.matches(&format!("{table}.{ext}")));
    // The draft drives validation: it runs (clean or with findings).
    let (code, report, o) = validate_json(&[&input], &out, &[]);
    assert!(
        code == 0 || code == 1,
        "{table}.{ext}: validate exit {code}: {}",
        stdout(&o)
    );
    assert!(report["summary"]["records_read"].as_u64() > Some(0));
}

#[test]
fn drafts_for_the_six_mosaic_tables_load_and_match_the_shipped_mappings() {
    let tmp = tempfile::tempdir().unwrap();
    generate(tmp.path(), "csv");
    for (table, shipped, floor) in TABLES {
        check_table(tmp.path(), table, "csv", shipped, *floor);
    }
}

#[test]
fn a_draft_for_an_xlsx_table_loads_and_matches() {
    let tmp = tempfile::tempdir().unwrap();
    generate(tmp.path(), "xlsx");
    check_table(tmp.path(), "DM_PERSONS", "xlsx", "persons", 12);
    check_table(tmp.path(), "CASE_NOTES", "xlsx", "case-notes", 10);
}

/// Learning from every shipped set but Mosaic's: what names, synonyms and
/// the other systems' columns find alone (measured floors).
#[test]
fn without_the_mosaic_mappings_names_and_synonyms_still_find_most_columns() {
    let tmp = tempfile::tempdir().unwrap();
    generate(tmp.path(), "csv");
    let learn = tmp.path().join("learn");
    for sub in ["cin", "febrl", "codesets", "templates"] {
        copy_dir(&root().join("mappings").join(sub), &learn.join(sub));
    }
    let floors = [12, 7, 6, 10, 3, 9];
    for ((table, shipped, _), floor) in TABLES.iter().zip(floors) {
        let input = tmp.path().join(format!("{table}.csv"));
        let out = tmp.path().join(format!("learned-{table}.toml"));
        let d = draft(&input, &out, &["--mappings", learn.to_str().unwrap()]);
        let shipped =
            Mapping::from_path(&root().join(format!("mappings/mosaic/{shipped}.toml"))).unwrap();
        let (right, of) = right_pairs(&shipped, &d);
        eprintln!(
            "{table} (no Mosaic mappings): kind {}, {right} of {of} pairs",
            d.kind
        );
        assert!(right >= floor, "{table}: {right} of {of}, floor {floor}");
        // Workflow steps are a Mosaic-specific reading (steps as chronology).
        if *table != "DM_WORKFLOW_STEPS" {
            assert_eq!(d.kind, shipped.kind, "{table}");
        }
    }
}

#[test]
fn no_personal_value_of_the_input_reaches_the_draft() {
    let tmp = tempfile::tempdir().unwrap();
    generate(tmp.path(), "csv");
    let input = tmp.path().join("DM_PERSONS.csv");
    let o = init(&input, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("[fields.first_name]"), "{text}");
    // The generator writes Windows-1252: read the bytes as such.
    let bytes = std::fs::read(&input).unwrap();
    let (decoded, _, _) = encoding_rs::WINDOWS_1252.decode(&bytes);
    let mut rdr = csv::Reader::from_reader(decoded.as_bytes());
    let header = rdr.headers().unwrap().clone();
    let personal = [
        "PERSON_ID",
        "FIRST_NAME",
        "LAST_NAME",
        "DATE_OF_BIRTH",
        "NHS_ID",
        "UPN_ID",
    ];
    let idx: Vec<usize> = personal
        .iter()
        .map(|c| header.iter().position(|h| h == *c).unwrap())
        .collect();
    let mut checked = 0;
    for rec in rdr.records() {
        let rec = rec.unwrap();
        for i in &idx {
            let v = rec.get(*i).unwrap_or("").trim();
            if v.len() >= 3 {
                assert!(
                    !holds_token(&text, v),
                    "a personal value is in the draft:\n{text}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "{checked} values checked");
}

#[test]
fn unfamiliar_column_names_get_kind_person_and_their_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("children export.csv");
    // Synthetic values; semicolons, as some exports use.
    std::fs::write(
        &input,
        "ChildRef;Forename;Surname;DOB;Sex;Keyworker notes\r\n\
         CR-0001;Tamsin;Quarrell;14/03/2015;F;Met at school\r\n\
         CR-0002;Oswin;Pellow;02/11/2016;M;\r\n\
         CR-0003;Jory;Trevail;23/07/2014;M;NULL\r\n",
    )
    .unwrap();
    let out = tmp.path().join("draft.toml");
    let d = draft(&input, &out, &[]);
    assert_eq!(d.kind, casebridge_model::RecordKind::Person);
    for (field, col) in [
        ("source_key", "ChildRef"),
        ("first_name", "Forename"),
        ("last_name", "Surname"),
        ("date_of_birth", "DOB"),
        ("gender", "Sex"),
    ] {
        assert_eq!(d.column_of(field), Some(col), "{field}");
    }
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("delimiter = \";\""), "{text}");
    // One column a CIN path shares and one FEBRL's do not name a system.
    assert!(text.contains("system = \"unknown\""), "{text}");
    assert!(text.contains("date_formats = [\"dd/mm/yyyy\"]"), "{text}");
    assert!(text.contains("null_values = [\"NULL\"]"));
    assert!(
        text.contains("\"Keyworker notes\""),
        "unmatched column listed"
    );
    assert!(text.contains("glob = \"children export*.csv\""), "{text}");
    for v in [
        "CR-0001",
        "Tamsin",
        "Quarrell",
        "14/03/2015",
        "Met at school",
    ] {
        assert!(!text.contains(v), "{v} in the draft");
    }
    // It reads the file it came from.
    let (code, report, o) = validate_json(&[&input], &out, &[]);
    assert_eq!(code, 0, "{}", stdout(&o));
    assert_eq!(report["summary"]["records_valid"], 3);
}

#[test]
fn an_empty_file_is_refused_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("EMPTY_EXPORT.csv");
    std::fs::write(&input, "").unwrap();
    let o = init(&input, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("EMPTY_EXPORT.csv"), "{}", stderr(&o));
    assert!(stderr(&o).contains("empty"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    // A file that does not exist, likewise.
    let o = init(&tmp.path().join("NOT_THERE.csv"), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("NOT_THERE.csv"), "{}", stderr(&o));
}

#[test]
fn a_header_only_file_still_drafts_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("DM_ADDRESSES.csv");
    std::fs::write(
        &input,
        "REF_ADDRESSES_PEOPLE_ID,PERSON_ID,ADDRESS,POST_CODE,ADDRESS_TYPE,START_DATE,END_DATE\r\n",
    )
    .unwrap();
    let out = tmp.path().join("draft.toml");
    let d = draft(&input, &out, &[]);
    assert_eq!(d.kind, casebridge_model::RecordKind::PersonAddress);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("header only"), "{text}");
    assert!(text.contains("no date formats"), "{text}");
    assert!(!text.contains("\ndate_formats ="), "{text}");
}

#[test]
fn the_draft_never_overwrites_the_input_nor_an_existing_file_unasked() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("DM_PERSONS.csv");
    let body = "PERSON_ID,FIRST_NAME\r\n1,Ann\r\n";
    std::fs::write(&input, body).unwrap();
    for extra in [&["--out"][..], &["--out", "--force"][..]] {
        let mut args: Vec<&str> = extra.to_vec();
        args.insert(1, input.to_str().unwrap());
        let o = init(&input, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains("overwrite the input"), "{}", stderr(&o));
        assert_eq!(std::fs::read_to_string(&input).unwrap(), body);
    }
    let out: PathBuf = tmp.path().join("draft.toml");
    std::fs::write(&out, "kept").unwrap();
    let o = init(&input, &["--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "kept");
    let o = init(&input, &["--out", out.to_str().unwrap(), "--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(Mapping::from_path(&out).is_ok());
}

#[test]
fn kind_can_be_given_and_an_unknown_kind_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("steps.csv");
    std::fs::write(&input, "STEP_ID,PERSON_ID,START_DATE\r\n1,2,01/02/2020\r\n").unwrap();
    let out = tmp.path().join("d.toml");
    let d = draft(&input, &out, &["--kind", "involvement"]);
    assert_eq!(d.kind, casebridge_model::RecordKind::Involvement);
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("given with --kind"));
    let o = init(&input, &["--kind", "people"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown record kind"));
}

#[test]
fn the_audit_log_records_the_subcommand_and_the_input_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("smith family.csv");
    std::fs::write(&input, "PERSON_ID,FIRST_NAME\r\n1,Ann\r\n").unwrap();
    let log = tmp.path().join("audit.jsonl");
    let o = casebridge()
        .args(["mapping", "init"])
        .arg(&input)
        .arg("--audit-log")
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&log).unwrap();
    let entry: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let command: Vec<&str> = entry["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        &command[..4],
        ["casebridge", "mapping", "init", "<redacted>"]
    );
    assert_eq!(entry["inputs"][0]["file"], input.display().to_string());
    assert_eq!(entry["exit_code"], 0);
}
