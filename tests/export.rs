//! `casebridge export`: records through one mapping set and back out
//! through another (or the same, in reverse), proven by round trips on the
//! generator's exports.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use common::{casebridge, generator, root, stderr, stdout};

const AS_OF: &str = "2026-11-01";

/// The tables the Mosaic mappings read exactly (every field written back
/// as read): byte-compared.
const EXACT: &[&str] = &[
    "DM_PERSONS.csv",
    "DM_ADDRESSES.csv",
    "CASE_NOTES.csv",
    "DM_PERSONAL_RELATIONSHIPS.csv",
];

fn generate(dir: &Path, seed: &str, extra: &[&str]) {
    let out = generator()
        .args(["--out"])
        .arg(dir)
        .args(["--seed", seed, "--families", "8", "--as-of", AS_OF])
        .args(extra)
        .output()
        .expect("run generator");
    assert!(out.status.success(), "generator: {}", stderr(&out));
}

fn export(inputs: &[&Path], mapping: &str, to: &str, out: &Path, extra: &[&str]) -> (i32, String) {
    let mut cmd = casebridge();
    cmd.arg("--no-audit").arg("export");
    for i in inputs {
        cmd.arg(i);
    }
    cmd.args(["--mapping", mapping, "--to", to, "--as-of", AS_OF])
        .arg("--out")
        .arg(out)
        .args(extra);
    let o = cmd.output().expect("run casebridge export");
    let code = o.status.code().expect("exit code");
    (code, format!("{}{}", stdout(&o), stderr(&o)))
}

/// A CSV as rows of cells, each field decoded as UTF-8 or else
/// Windows-1252 (as an `auto` export is).
fn table(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    r.byte_records()
        .map(|rec| {
            rec.expect("csv row")
                .iter()
                .map(|f| match std::str::from_utf8(f) {
                    Ok(s) => s.to_string(),
                    Err(_) => encoding_rs::WINDOWS_1252.decode(f).0.into_owned(),
                })
                .collect()
        })
        .collect()
}

/// The rows of a workbook's sheet under its header, read back.
fn sheet_rows(path: &Path) -> usize {
    use casebridge_model::{RecordSource, TextRow, Want};
    let mut s =
        casebridge_sheet::SheetSource::open(path, casebridge_sheet::SheetSourceConfig::default())
            .expect("open workbook");
    let want = vec![Want::Text; s.columns().len()];
    let mut row = TextRow::new();
    let mut rows = 0;
    while s.read_row(&mut row, &want).expect("a row") {
        rows += 1;
    }
    rows
}

/// Canonical records of a JSON Lines folder by id, provenance left out
/// (each read adds to it).
fn records(dir: &Path) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for e in fs::read_dir(dir).expect("read output") {
        let p = e.expect("entry").path();
        if p.extension().and_then(|x| x.to_str()) != Some("jsonl") {
            continue;
        }
        for line in fs::read_to_string(&p).expect("read jsonl").lines() {
            let mut v: serde_json::Value = serde_json::from_str(line).expect("json line");
            let obj = v.as_object_mut().expect("object");
            obj.remove("provenance");
            let id = obj["id"].as_str().expect("id").to_string();
            out.insert(id, v);
        }
    }
    out
}

#[test]
fn mosaic_csv_comes_back_byte_for_byte_where_the_mapping_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    generate(&src, "7", &[]);
    let out = dir.path().join("out");
    let (code, text) = export(&[&src], "mappings/mosaic", "mosaic", &out, &[]);
    assert_eq!(code, 0, "{text}");
    for name in EXACT {
        let a = fs::read(src.join(name)).unwrap();
        let b = fs::read(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
        assert!(a == b, "{name} differs after the round trip");
    }
    // Workflow steps: STARTED_ON and COMPLETED_ON are read into a date
    // field (one-way: `mapping check` says the time is not kept); every
    // other cell, and the dates, come back.
    let a = table(&src.join("DM_WORKFLOW_STEPS.csv"));
    let b = table(&out.join("DM_WORKFLOW_STEPS.csv"));
    assert_eq!(a.len(), b.len());
    assert_eq!(a[0], b[0], "header");
    let lossy: Vec<usize> = ["STARTED_ON", "COMPLETED_ON"]
        .iter()
        .map(|c| a[0].iter().position(|h| h == c).expect("column"))
        .collect();
    for (ra, rb) in a.iter().zip(&b).skip(1) {
        for (i, (x, y)) in ra.iter().zip(rb).enumerate() {
            if lossy.contains(&i) {
                assert_eq!(x.get(..10), y.get(..10), "date part of column {i}");
            } else {
                assert_eq!(x, y, "column {}", a[0][i]);
            }
        }
    }
}

#[test]
fn mosaic_csv_to_json_lines_and_back_gives_equal_tables() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    generate(&src, "9", &[]);
    let jl = dir.path().join("jsonl");
    let (code, text) = export(&[&src], "mappings/mosaic", "jsonl", &jl, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(jl.join("person.jsonl").is_file(), "{text}");
    let back = dir.path().join("back");
    let (code, text) = export(&[&jl], "mappings/mosaic", "mosaic", &back, &[]);
    assert!(code <= 1, "{text}");
    for name in EXACT {
        assert_eq!(
            table(&src.join(name)),
            table(&back.join(name)),
            "{name} after CSV -> JSON Lines -> CSV"
        );
    }
}

#[test]
fn mosaic_csv_to_xlsx_and_back_gives_equal_records_with_typed_cells() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    generate(&src, "5", &["--only", "DM_PERSONS,DM_ADDRESSES,CASE_NOTES"]);
    let xlsx = dir.path().join("xlsx");
    let (code, text) = export(
        &[&src],
        "mappings/mosaic",
        "mosaic",
        &xlsx,
        &["--format", "xlsx"],
    );
    assert_eq!(code, 0, "{text}");
    let book = xlsx.join("DM_PERSONS.xlsx");
    assert!(book.is_file(), "{text}");

    // Dates are date cells, identifiers text (leading zeros survive).
    use casebridge_model::{RecordSource, TextRow, Want};
    let mut s =
        casebridge_sheet::SheetSource::open(&book, casebridge_sheet::SheetSourceConfig::default())
            .expect("open workbook");
    let header = s.columns().to_vec();
    let dob = header
        .iter()
        .position(|h| h == "DATE_OF_BIRTH")
        .expect("DOB column");
    let id = header
        .iter()
        .position(|h| h == "PERSON_ID")
        .expect("id column");
    let mut row = TextRow::new();
    let want = vec![Want::Text; header.len()];
    assert!(s.read_row(&mut row, &want).expect("a row"));
    assert!(row.is_typed(dob), "DATE_OF_BIRTH is a date cell");
    assert!(!row.is_typed(id), "PERSON_ID is text");

    // Read back: the same canonical records as from the CSV.
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let (code, text) = export(&[&src], "mappings/mosaic", "jsonl", &a, &[]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = export(&[&xlsx], "mappings/mosaic", "jsonl", &b, &[]);
    assert_eq!(code, 0, "{text}");
    let (ra, rb) = (records(&a), records(&b));
    assert!(!ra.is_empty());
    assert_eq!(ra, rb, "records from CSV and from the exported XLSX");
}

#[test]
fn rejected_records_are_listed_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (code, text) = export(
        &[&root().join("examples/mosaic/DM_PERSONS.csv")],
        "mappings/mosaic",
        "jsonl",
        &out,
        &[],
    );
    assert_eq!(code, 1, "the example has faults: {text}");
    let (_, report, _) = common::validate_json(
        &[&root().join("examples/mosaic/DM_PERSONS.csv")],
        &root().join("mappings/mosaic"),
        &[],
    );
    let valid = report["summary"]["files"][0]["valid"]
        .as_u64()
        .expect("valid count");
    let rejected = report["summary"]["files"][0]["rejected"]
        .as_u64()
        .expect("rejected count");
    assert!(rejected > 0);
    let written = fs::read_to_string(out.join("person.jsonl"))
        .unwrap()
        .lines()
        .count() as u64;
    assert_eq!(written, valid, "only valid records are written");
    assert!(text.contains("rejected"), "{text}");
}

// A note longer than an XLSX cell holds (32,767 characters) used to stop
// the whole export (exit 2, no workbook), naming a temporary file.
#[test]
fn a_value_too_long_for_an_xlsx_cell_rejects_its_record_and_the_rest_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::copy(
        root().join("examples/mosaic-clean/DM_PERSONS.csv"),
        src.join("DM_PERSONS.csv"),
    )
    .unwrap();
    let long = "Home visit. ".repeat(3000);
    fs::write(
        src.join("CASE_NOTES.csv"),
        format!(
            "ID,PERSON_ID,NOTE_TYPE,TITLE,EFFECTIVE_DATE,CREATED_ON,CREATED_BY,NOTE,SIGNIFICANT_EVENT,STATUS\n\
             3000001,100002,PHONE,Call,11/03/2025 08:23,11/03/2025 08:25,sw01,Short note,N,COMPLETE\n\
             3000002,100002,HOMEVISIT,Visit,12/03/2025 10:00,12/03/2025 12:00,sw01,{long},N,COMPLETE\n\
             3000003,100002,PHONE,Call,13/03/2025 09:00,13/03/2025 09:05,sw01,Another note,N,COMPLETE\n"
        ),
    )
    .unwrap();
    for (to, extra, book, column) in [
        ("xlsx", &[][..], "case_note.xlsx", "[text]"),
        (
            "mosaic",
            &["--format", "xlsx"][..],
            "CASE_NOTES.xlsx",
            "[NOTE]",
        ),
    ] {
        let out = dir.path().join(to);
        let (code, text) = export(&[&src], "mappings/mosaic", to, &out, extra);
        assert_eq!(code, 1, "one record rejected: {text}");
        assert!(
            text.contains(&format!(
                "CASE_NOTES.csv:3 {column}: cannot be written: 35999 characters, more than an XLSX cell holds (32767)"
            )),
            "{text}"
        );
        assert!(!text.contains("casebridge-tmp"), "{text}");
        let rows = sheet_rows(&out.join(book));
        assert_eq!(rows, 2, "the other notes are written: {text}");
    }
}

// A Windows-1252 export (read `auto`) holding UTF-8 rows with letters
// Windows-1252 lacks used to be written back with `&#321;` in their place,
// exit 0: names garbled without a word.
#[test]
fn a_letter_windows_1252_lacks_rejects_its_record_rather_than_garble_it() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("DM_PERSONS.csv");
    let mut bytes = b"PERSON_ID,FIRST_NAME,LAST_NAME,DATE_OF_BIRTH,GENDER\r\n\
        100001,Ann,Smith,01/02/2015,F\r\n100003,Zo\xeb,Brown,05/06/2017,F\r\n"
        .to_vec();
    bytes.extend_from_slice("100002,Łukasz,Nowak,03/04/2016,M\r\n".as_bytes());
    bytes.extend_from_slice("100004,Zoë,Ďurová,03/04/2016,F\r\n".as_bytes());
    fs::write(&src, bytes).unwrap();
    let out = dir.path().join("mosaic");
    let (code, text) = export(&[&src], "mappings/mosaic", "mosaic", &out, &[]);
    assert_eq!(code, 1, "{text}");
    for (line, column, point) in [(4, "FIRST_NAME", "U+0141"), (5, "LAST_NAME", "U+010E")] {
        assert!(
            text.contains(&format!(
                "DM_PERSONS.csv:{line} [{column}]: cannot be written: {point} is not in Windows-1252"
            )),
            "{text}"
        );
    }
    assert!(
        !text.contains("Łukasz") && !text.contains("Nowak"),
        "values stay out: {text}"
    );
    let written = fs::read(out.join("DM_PERSONS.csv")).unwrap();
    assert!(
        !written.windows(2).any(|w| w == b"&#"),
        "a character reference written"
    );
    assert_eq!(
        table(&out.join("DM_PERSONS.csv")).len(),
        3,
        "header and the two that fit"
    );
    assert!(
        written.windows(4).any(|w| w == b"Zo\xeb,"),
        "Windows-1252 kept"
    );
    // Canonical CSV is UTF-8: every record is written.
    let canonical = dir.path().join("canonical");
    let (code, text) = export(&[&src], "mappings/mosaic", "csv", &canonical, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(fs::read_to_string(canonical.join("person.csv"))
        .unwrap()
        .contains("Łukasz"));
}

#[test]
fn a_local_column_travels_as_an_extra_and_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(
        src.join("DM_PERSONS.csv"),
        "PERSON_ID,FIRST_NAME,LAST_NAME,DATE_OF_BIRTH,GENDER,LOCAL_FLAG\r\n\
         1001,Ada,Testperson,01/02/2015,F,blue\r\n\
         1002,Bo,Testperson,03/04/2016,M,\r\n",
    )
    .unwrap();
    let jl = dir.path().join("jl");
    let (code, text) = export(&[&src], "mappings/mosaic", "jsonl", &jl, &[]);
    assert_eq!(code, 0, "{text}");
    let people = fs::read_to_string(jl.join("person.jsonl")).unwrap();
    assert!(
        people.contains(r#""extras":{"LOCAL_FLAG":"blue"}"#),
        "{people}"
    );
    // A warning per optional column the narrow file lacks.
    assert!(text.contains("file.column-missing"), "{text}");
    let back = dir.path().join("back");
    let (code, text) = export(&[&jl], "mappings/mosaic", "mosaic", &back, &[]);
    assert_eq!(code, 0, "{text}");
    let t = table(&back.join("DM_PERSONS.csv"));
    let col = t[0]
        .iter()
        .position(|h| h == "LOCAL_FLAG")
        .expect("LOCAL_FLAG written back");
    assert_eq!(t[1][col], "blue");
    assert_eq!(t[2][col], "");
}

#[test]
fn a_2022_cin_return_keeps_every_childs_gender_from_gender_current() {
    let sample = root().join("../shared/data/cin/cin-2022-sample.xml");
    let text = fs::read_to_string(&sample).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: this test needs ../shared/data beside the repository",
            sample.display()
        )
    });
    assert!(text.contains("<GenderCurrent>1</GenderCurrent>") && !text.contains("<Sex>"));
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("CIN_2022.xml");
    // The sample's UPN has a wrong check letter; without it the child is valid.
    fs::write(&input, text.replace("<UPN>A123456789123</UPN>", "")).unwrap();
    let out = dir.path().join("out");
    let (code, report) = export(&[&input], "mappings/cin", "jsonl", &out, &[]);
    assert_eq!(code, 0, "{report}");
    let people = fs::read_to_string(out.join("person.jsonl")).unwrap();
    assert!(people.contains(r#""gender":"male""#), "{people}");
}

#[test]
fn cin_xml_to_json_lines_keeps_every_child_and_episode() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    generate(&src, "4", &["--only", "CIN_Census"]);
    let out = dir.path().join("out");
    let (code, text) = export(&[&src], "mappings/cin", "jsonl", &out, &[]);
    assert_eq!(code, 0, "{text}");
    let xml = fs::read_to_string(src.join("CIN_Census.xml")).unwrap();
    let children = xml.matches("<Child>").count();
    let episodes = xml.matches("<CINdetails>").count();
    let count = |f: &str| fs::read_to_string(out.join(f)).unwrap().lines().count();
    assert_eq!(count("person.jsonl"), children);
    assert_eq!(count("involvement.jsonl"), episodes);
}

#[test]
fn export_refuses_an_output_folder_holding_its_inputs_and_a_bad_target() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    generate(&src, "3", &["--only", "DM_PERSONS"]);
    let before = fs::read(src.join("DM_PERSONS.csv")).unwrap();
    let (code, text) = export(&[&src], "mappings/mosaic", "mosaic", &src, &["--replace"]);
    assert_eq!(code, 2, "{text}");
    assert_eq!(
        fs::read(src.join("DM_PERSONS.csv")).unwrap(),
        before,
        "input untouched"
    );
    let (code, text) = export(
        &[&src],
        "mappings/mosaic",
        "nonesuch",
        &dir.path().join("o"),
        &[],
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("nonesuch"), "{text}");
    assert!(!dir.path().join("o").exists());
}

#[test]
fn canonical_tables_have_the_kinds_fields_and_extras() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    generate(&src, "6", &["--only", "DM_PERSONS,CASE_NOTES"]);
    for to in ["csv", "xlsx"] {
        let out: PathBuf = dir.path().join(to);
        let (code, text) = export(&[&src], "mappings/mosaic", to, &out, &[]);
        assert_eq!(code, 0, "{text}");
        assert!(out.join(format!("person.{to}")).is_file(), "{text}");
        assert!(out.join(format!("case_note.{to}")).is_file(), "{text}");
    }
    let t = table(&dir.path().join("csv/person.csv"));
    assert_eq!(t[0][0], "id");
    assert!(t[0].iter().any(|h| h == "date_of_birth"));
    assert_eq!(t[0].last().map(String::as_str), Some("extras"));
    let src_rows = table(&src.join("DM_PERSONS.csv")).len();
    assert_eq!(t.len(), src_rows, "one row per person");
}

#[test]
fn cin_xml_to_json_lines_to_xlsx_to_json_lines_gives_equal_records() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    generate(&src, "12", &["--only", "CIN_Census"]);
    let j1 = dir.path().join("j1");
    let (code, text) = export(&[&src], "mappings/cin", "jsonl", &j1, &[]);
    assert_eq!(code, 0, "{text}");
    let x = dir.path().join("x");
    let (code, text) = export(&[&j1], "canonical", "xlsx", &x, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(
        x.join("person.xlsx").is_file() && x.join("involvement.xlsx").is_file(),
        "{text}"
    );
    let j2 = dir.path().join("j2");
    let (code, text) = export(&[&x], "canonical", "jsonl", &j2, &[]);
    assert_eq!(code, 0, "{text}");
    let (a, b) = (records(&j1), records(&j2));
    assert!(a.len() > 10, "{text}");
    assert_eq!(
        a, b,
        "records after XML -> JSON Lines -> XLSX -> JSON Lines"
    );
}

#[test]
fn a_canonical_table_that_is_not_one_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(
        src.join("person.csv"),
        "PERSON_ID,LAST_NAME\r\n1,Testperson\r\n",
    )
    .unwrap();
    let (code, text) = export(&[&src], "canonical", "jsonl", &dir.path().join("o"), &[]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("person.csv") && text.contains("not a canonical person table"),
        "{text}"
    );
    assert!(!text.contains("Testperson"), "no value in messages: {text}");
}

#[test]
fn form_answers_become_workbook_forms_and_come_back_one_row_per_answer() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    generate(&src, "8", &["--only", "DM_PERSONS,DM_CACHED_FORM_ANSWERS"]);
    let jl = dir.path().join("jl");
    let (code, text) = export(&[&src], "mappings/mosaic", "jsonl", &jl, &[]);
    assert_eq!(code, 0, "{text}");
    let forms = fs::read_to_string(jl.join("workbook_form.jsonl")).unwrap();
    assert!(forms.lines().count() > 3, "{text}");
    assert!(forms.contains(r#""sections":[{"code":"#), "{forms}");
    let mut a = table(&src.join("DM_CACHED_FORM_ANSWERS.csv"));
    a.sort();
    // Straight back, and through JSON Lines (forms read back whole).
    for (from, name) in [(&src, "back"), (&jl, "via-jsonl")] {
        let back = dir.path().join(name);
        let (code, text) = export(&[from], "mappings/mosaic", "mosaic", &back, &[]);
        assert_eq!(code, 0, "{text}");
        // The same answers, row for row; forms are written in form order,
        // so the rows are compared as sorted tables.
        let mut b = table(&back.join("DM_CACHED_FORM_ANSWERS.csv"));
        b.sort();
        assert_eq!(a, b, "answers after rows -> forms -> rows ({name})");
    }
}

#[test]
fn mapping_check_lists_what_round_trips_and_every_problem_of_every_file() {
    let o = casebridge()
        .args([
            "--no-audit",
            "mapping",
            "check",
            "mappings/mosaic",
            "mappings/cin",
        ])
        .output()
        .unwrap();
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}{}", stderr(&o));
    // The one-way fields the round trip tests allow for are the ones listed.
    let line = |field: &str, col: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(field) && l.contains(col))
            .unwrap_or_else(|| panic!("{field} {col} not listed:\n{text}"))
            .to_string()
    };
    assert!(line("start_date", "STARTED_ON").contains("not exactly"));
    assert!(line("gender", "GenderCurrent").contains("one-way"));
    assert!(line("first_name", "FIRST_NAME").contains("round trips"));

    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    common::copy_dir(&root().join("mappings/mosaic"), &set);
    let p = set.join("persons.toml");
    let t = fs::read_to_string(&p).unwrap();
    fs::write(
        &p,
        t.replace("column = \"LAST_NAME\"", "column = 7")
            .replace("column = \"GENDER\"", "column = [\"GENDER\"]"),
    )
    .unwrap();
    let a = set.join("addresses.toml");
    let t = fs::read_to_string(&a).unwrap();
    fs::write(
        &a,
        t.replacen(
            "[fields.",
            "[fields.nonesuch]\ncolumn = \"X\"\n\n[fields.",
            1,
        ),
    )
    .unwrap();
    let o = casebridge()
        .args(["--no-audit", "mapping", "check"])
        .arg(&set)
        .output()
        .unwrap();
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("[fields.last_name]") && text.contains("[fields.gender]"),
        "both type errors: {text}"
    );
    assert!(
        text.contains("no field `nonesuch`"),
        "the other file's problem too: {text}"
    );
}

#[test]
fn a_mapping_copied_out_of_the_repository_still_loads_and_code_sets_are_found_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    generate(&src, "2", &["--only", "DM_PERSONS,DM_CACHED_FORM_ANSWERS"]);
    let alone = dir.path().join("alone");
    fs::create_dir(&alone).unwrap();
    // Its `file = "../codesets/..."` and `template = "../templates/..."`
    // are not beside it any more: the shipped ones of those names are used.
    fs::copy(
        root().join("mappings/mosaic/persons.toml"),
        alone.join("persons.toml"),
    )
    .unwrap();
    fs::copy(
        root().join("mappings/mosaic/form-answers.toml"),
        alone.join("form-answers.toml"),
    )
    .unwrap();
    // A code set named only by name: `codeset = "yes_no"` with no table.
    let p = alone.join("persons.toml");
    let t = fs::read_to_string(&p).unwrap();
    let t = t.replace(
        "[codesets.yes_no]\nfile = \"../codesets/yes-no.toml\"\n",
        "",
    );
    assert!(!t.contains("[codesets.yes_no]"));
    fs::write(&p, t).unwrap();
    let (code, text) = export(
        &[&src],
        alone.to_str().unwrap(),
        "jsonl",
        &dir.path().join("o"),
        &[],
    );
    assert_eq!(code, 0, "{text}");
    let people = fs::read_to_string(dir.path().join("o/person.jsonl")).unwrap();
    assert!(people.contains(r#""gender":"#), "{people}");
    assert!(dir.path().join("o/workbook_form.jsonl").is_file(), "{text}");
}

#[test]
fn a_form_missing_a_required_answer_is_a_finding() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    generate(&src, "8", &["--only", "DM_PERSONS,DM_CACHED_FORM_ANSWERS"]);
    let p = src.join("DM_CACHED_FORM_ANSWERS.csv");
    let bytes = fs::read(&p).unwrap();
    let kept: Vec<&[u8]> = bytes
        .split_inclusive(|b| *b == b'\n')
        .filter(|l| !l.windows(16).any(|w| w == b"FSW_CHAPTER_ROLE"))
        .collect();
    assert!(
        kept.len() < bytes.split(|b| *b == b'\n').count() - 1,
        "the generator wrote chapter roles"
    );
    fs::write(&p, kept.concat()).unwrap();
    let (code, text) = export(
        &[&src],
        "mappings/mosaic",
        "jsonl",
        &dir.path().join("o"),
        &[],
    );
    assert_eq!(code, 0, "a warning: {text}");
    assert!(text.contains("workbook.required-missing"), "{text}");
    assert!(text.contains("no answer to `FSW_CHAPTER_ROLE`"), "{text}");
}

// An XLSX sheet takes 1,048,576 rows; past them the whole export used to
// stop (exit 2, no workbook at all) with an error naming the staging
// folder's temporary file. Now the records past them are rejected, each
// with its place, and the rest is written. (`--max-sheet-rows` stands in
// for Excel's limit: a test cannot write a million rows in time.)
#[test]
fn records_past_what_a_sheet_takes_are_rejected_and_the_rest_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let src = root().join("examples/mosaic-clean/DM_PERSONS.csv");
    let persons = table(&src).len() - 1;
    assert!(persons > 6, "the example has persons to spare: {persons}");
    for (to, extra, book) in [
        ("xlsx", &[][..], "person.xlsx"),
        ("mosaic", &["--format", "xlsx"][..], "DM_PERSONS.xlsx"),
    ] {
        let out = dir.path().join(to);
        let mut args = vec!["--max-sheet-rows", "6"];
        args.extend_from_slice(extra);
        let (code, text) = export(&[&src], "mappings/mosaic", to, &out, &args);
        assert_eq!(code, 1, "records rejected: {text}");
        let full = format!("cannot be written: {book} is full: its sheet takes 6 rows");
        assert_eq!(
            text.matches(&full).count(),
            (persons - 5).min(5),
            "one finding a record past the sheet (examples shown: 5): {text}"
        );
        assert!(
            text.contains(&format!("DM_PERSONS.csv:7: {full}")),
            "the first record past it, at its line: {text}"
        );
        assert!(
            text.contains(&format!(
                "{persons} record(s) read, 5 written, {} rejected",
                persons - 5
            )),
            "every record accounted for: {text}"
        );
        assert!(text.contains("export.sheet-full"), "{text}");
        assert!(!text.contains("casebridge-tmp"), "{text}");
        let rows = sheet_rows(&out.join(book));
        assert_eq!(rows, 5, "the sheet is full, and nothing else lost: {text}");
    }
    // Not a sheet's size: refused before anything is read.
    let (code, text) = export(
        &[&src],
        "mappings/mosaic",
        "xlsx",
        &dir.path().join("none"),
        &["--max-sheet-rows", "1048577"],
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("--max-sheet-rows"), "{text}");
    assert!(!dir.path().join("none").exists());
}
