//! End-to-end tests of `casebridge validate`: the real binary on the shipped
//! examples, on freshly generated exports, and on broken inputs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::*;

#[test]
fn shipped_examples_report_exactly_the_injected_faults() {
    let dir = root().join("examples/mosaic");
    let (code, report, _) = validate_json(&[&dir], &mappings(), &[]);
    assert_eq!(code, 1, "errors found means exit 1");
    assert_matches_truth(&report, &dir.join("ground_truth.csv"));
    // The ground truth sits beside the exports: skipped, with a warning.
    assert!(report["summary"]["rules"]["file.skipped"].as_u64() >= Some(1));
}

#[test]
fn clean_examples_exit_zero() {
    let dir = root().join("examples/mosaic-clean");
    let (code, report, out) = validate_json(&[&dir], &mappings(), &[]);
    assert_eq!(report["summary"]["errors"], 0, "{}", stdout(&out));
    assert_eq!(code, 0);
    let read = report["summary"]["records_read"].as_u64().unwrap();
    assert!(read > 100);
    assert_eq!(report["summary"]["records_valid"].as_u64(), Some(read));
    assert_eq!(
        report["summary"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["status"] == "checked")
            .count(),
        6
    );
}

fn generate(dir: &Path, seed: u64, families: u32, error_rate: f64, duplicate_rate: f64) {
    let status = generator()
        .arg("--out")
        .arg(dir)
        .args([
            "--seed",
            &seed.to_string(),
            "--families",
            &families.to_string(),
        ])
        .args([
            "--error-rate",
            &error_rate.to_string(),
            "--duplicate-rate",
            &duplicate_rate.to_string(),
        ])
        .args(["--as-of", "2026-11-01"])
        .status()
        .expect("run generator");
    assert!(status.success());
}

#[test]
fn generated_exports_at_several_rates_report_every_fault_with_rule_and_line() {
    for (seed, rate, dup) in [(3, 0.02, 0.0), (5, 0.1, 0.1), (9, 0.3, 0.05)] {
        let tmp = tempfile::tempdir().unwrap();
        generate(tmp.path(), seed, 40, rate, dup);
        let (code, report, _) = validate_json(&[tmp.path()], &mappings(), &[]);
        assert_eq!(code, 1, "seed {seed}");
        assert_matches_truth(&report, &tmp.path().join("ground_truth.csv"));
    }
}

#[test]
fn generated_clean_exports_exit_zero_and_human_report_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    generate(tmp.path(), 21, 30, 0.0, 0.2);
    let out = casebridge()
        .arg("validate")
        .arg(tmp.path())
        .arg("--mapping")
        .arg(mappings())
        .args(["--as-of", "2026-11-01"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains(" 0 error(s)"), "{text}");
    assert!(text.contains("DM_PERSONS.csv"));
}

#[test]
fn unknown_mapping_column_exits_2_naming_the_mapping_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let maps = tmp.path().join("mosaic");
    copy_dir(&mappings(), &maps);
    std::fs::create_dir_all(tmp.path().join("codesets")).unwrap();
    copy_dir(
        &root().join("mappings/codesets"),
        &tmp.path().join("codesets"),
    );
    copy_dir(
        &root().join("mappings/templates"),
        &tmp.path().join("templates"),
    );
    let persons = maps.join("persons.toml");
    let text = std::fs::read_to_string(&persons).unwrap();
    let typo = text.replace("column = \"LAST_NAME\"", "column = \"LAST_NMAE\"");
    assert_ne!(text, typo);
    std::fs::write(&persons, &typo).unwrap();
    let line = typo.lines().position(|l| l.contains("LAST_NMAE")).unwrap() + 1;

    let out = casebridge()
        .arg("validate")
        .arg(root().join("examples/mosaic-clean"))
        .arg("--mapping")
        .arg(&maps)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("persons.toml:{line}: unknown column `LAST_NMAE`")),
        "{err}"
    );
    assert!(err.contains("did you mean `LAST_NAME`?"), "{err}");
    assert!(
        stdout(&out).is_empty(),
        "nothing is validated with a bad mapping"
    );
}

#[test]
fn header_lacking_a_mapped_column_exits_2_and_other_files_are_still_checked() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&root().join("examples/mosaic-clean"), tmp.path());
    let notes = tmp.path().join("CASE_NOTES.csv");
    let bytes = std::fs::read(&notes).unwrap();
    let renamed = String::from_utf8_lossy(&bytes[..200]).replacen("NOTE_TYPE", "NOTE_KIND", 1);
    let mut new = renamed.into_bytes();
    new.extend_from_slice(&bytes[200..]);
    std::fs::write(&notes, new).unwrap();

    // The nearest header cell is the file's text: named only with
    // --show-values (issue 9; without it the mapping's own names are).
    let (code, report, _) = validate_json(&[tmp.path()], &mappings(), &["--show-values"]);
    assert_eq!(code, 2);
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "file.header")
        .unwrap();
    let msg = f["message"].as_str().unwrap();
    assert!(
        msg.contains("case-notes.toml:")
            && msg.contains("NOTE_TYPE")
            && msg.contains("did you mean `NOTE_KIND`?"),
        "{msg}"
    );
    let checked = report["summary"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "checked")
        .count();
    assert_eq!(checked, 5);
}

#[test]
fn unreadable_and_empty_files_are_reported_and_the_rest_checked() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&root().join("examples/mosaic-clean"), tmp.path());
    std::fs::write(tmp.path().join("DM_ADDRESSES.csv"), b"").unwrap();
    let missing = tmp.path().join("DM_WORKFLOW_STEPS_2.csv");
    let persons = tmp.path().join("DM_PERSONS.csv");
    let notes = tmp.path().join("CASE_NOTES.csv");
    let addresses = tmp.path().join("DM_ADDRESSES.csv");
    let (code, report, _) =
        validate_json(&[&persons, &notes, &addresses, &missing], &mappings(), &[]);
    assert_eq!(
        code, 2,
        "an unreadable input means the run could not complete"
    );
    let rules = &report["summary"]["rules"];
    assert_eq!(rules["file.unreadable"], 1);
    assert_eq!(rules["file.empty"], 1);
    let files = report["summary"]["files"].as_array().unwrap();
    let checked: Vec<_> = files
        .iter()
        .filter(|f| f["status"] == "checked")
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert_eq!(checked.len(), 2, "{files:?}");
    assert!(report["summary"]["records_read"].as_u64().unwrap() > 50);
}

#[test]
fn ragged_rows_invalid_bytes_and_embedded_newlines_are_located() {
    let tmp = tempfile::tempdir().unwrap();
    let persons = tmp.path().join("DM_PERSONS.csv");
    std::fs::write(
        &persons,
        "PERSON_ID,FIRST_NAME,LAST_NAME,FULL_NAME,DATE_OF_BIRTH,AGE_ESTIMATED,DATE_OF_DEATH,GENDER,NHS_ID,UPN_ID,FULL_ETHNICITY_CODE,IS_CHILD_LEGACY\r\n\
         100001,Amara,Okafor,Amara Okafor,04/03/2015,N,,F,9434765919,,WBRI,Y\r\n\
         100002,Tom,Okafor,Tom Okafor,05/06/1990,N,,M,,,WBRI,N\r\n",
    )
    .unwrap();
    let notes = tmp.path().join("CASE_NOTES.csv");
    let mut body = b"ID,PERSON_ID,NOTE_TYPE,TITLE,EFFECTIVE_DATE,CREATED_ON,CREATED_BY,NOTE,SIGNIFICANT_EVENT,STATUS\r\n".to_vec();
    body.extend_from_slice(b"1,100001,HOMEVISIT,Visit,01/02/2026 10:00,01/02/2026 11:00,ab01,\"Seen at home.\r\n\r\nSpoke to \"\"Amara\"\" alone.\",N,COMPLETE\r\n");
    body.extend_from_slice(b"2,100001,HOMEVISIT,Visit,01/02/2026 10:00\r\n");
    body.extend_from_slice(b"3,100002,PHONE,Call,01/02/2026 10:00,01/02/2026 11:00,ab01,\"Caf\xe9 \xff\",N,COMPLETE\r\n");
    body.extend_from_slice(
        b"4,100002,PHONE,Call,01/02/2026 10:00,01/02/2026 11:00,ab01,\"two\nlines\",N,COMPLETE\r\n",
    );
    body.extend_from_slice(
        b"5,100003,PHONE,Call,01/02/2026 10:00,01/02/2026 11:00,ab01,x,N,COMPLETE\r\n",
    );
    std::fs::write(&notes, &body).unwrap();

    // Declared UTF-8: the bad bytes are an error on their line and field.
    let strict = tmp.path().join("notes-utf8.toml");
    let text = std::fs::read_to_string(mappings().join("case-notes.toml")).unwrap();
    std::fs::write(
        &strict,
        text.replace("encoding = \"auto\"", "encoding = \"utf-8\"")
            .replace(
                "../codesets/",
                &format!("{}/", root().join("mappings/codesets").display()),
            ),
    )
    .unwrap();
    let (code, report, _) = validate_json(&[&notes], &strict, &[]);
    assert_eq!(code, 1);
    let keys = error_keys(&report);
    let want: Vec<Key> = vec![
        (
            "CASE_NOTES.csv".into(),
            5,
            "csv.ragged-row".into(),
            "".into(),
        ),
        (
            "CASE_NOTES.csv".into(),
            6,
            "encoding.invalid".into(),
            "NOTE".into(),
        ),
    ];
    assert_eq!(keys.into_iter().collect::<Vec<_>>(), want);
    assert_eq!(
        report["summary"]["rules"]["ref.not-checked"], 1,
        "no person file given"
    );
    assert_eq!(report["summary"]["records_read"], 5);
    assert_eq!(report["summary"]["records_valid"], 3);

    // With the persons and `auto`: Windows-1252 fallback (a warning), and the
    // person that does not exist, on the line after a two-line note.
    let (_, report, _) = validate_json(&[&notes, &persons], &mappings(), &[]);
    let keys = error_keys(&report);
    assert!(
        keys.contains(&(
            "CASE_NOTES.csv".into(),
            9,
            "ref.person-missing".into(),
            "PERSON_ID".into()
        )),
        "{keys:?}"
    );
    assert!(!keys.iter().any(|k| k.2 == "encoding.invalid"));
    let fallback = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "encoding.fallback")
        .unwrap();
    assert_eq!(fallback["severity"], "warning");
    assert_eq!(fallback["line"], 6);
}

#[test]
fn values_stay_out_of_reports_unless_asked() {
    let dir = root().join("examples/mosaic");
    let (_, report, out) = validate_json(&[&dir], &mappings(), &[]);
    assert!(report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f.get("value").is_none()));
    // Canary: no surname from the persons file appears anywhere in the output.
    let persons = std::fs::read(dir.join("DM_PERSONS.csv")).unwrap();
    let mut rdr = csv::ReaderBuilder::new().from_reader(&persons[..]);
    let text = stdout(&out) + &stderr(&out);
    for rec in rdr.byte_records().take(200) {
        let rec = rec.unwrap();
        let last = String::from_utf8_lossy(rec.get(2).unwrap()).into_owned();
        if last.len() > 3 {
            assert!(!text.contains(&last), "surname leaked into the report");
        }
    }
    let (_, shown, _) = validate_json(&[&dir], &mappings(), &["--show-values"]);
    assert!(shown["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f.get("value").is_some()));
}

#[test]
fn file_no_mapping_fits_is_named_and_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let odd = tmp.path().join("EXPORT_2026.csv");
    std::fs::write(&odd, "A,B\n1,2\n").unwrap();
    let (code, report, _) = validate_json(&[&odd], &mappings(), &[]);
    assert_eq!(code, 2);
    let f = &report["findings"][0];
    assert_eq!(f["rule"], "file.no-mapping");
    assert!(f["file"].as_str().unwrap().ends_with("EXPORT_2026.csv"));
}

#[test]
fn binary_garbage_named_csv_is_a_clear_error_not_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("CASE_NOTES.csv");
    let bytes: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&junk, bytes).unwrap();
    let (code, report, out) = validate_json(&[&junk], &mappings(), &[]);
    assert!(code == 1 || code == 2, "{}", stderr(&out));
    assert!(report["summary"]["errors"].as_u64().unwrap() >= 1);
    assert!(!stderr(&out).contains("panicked"));
}

#[test]
fn shipped_cin_census_xml_gives_exactly_its_ground_truth() {
    let dir = root().join("examples/cin");
    let (code, report, _) = validate_json(&[&dir], &root().join("mappings/cin"), &[]);
    assert_eq!(code, 1);
    assert_matches_truth(&report, &dir.join("ground_truth.csv"));
    // Findings name the element as well as the line.
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["severity"] == "error")
        .unwrap();
    assert!(
        f["at"]
            .as_str()
            .unwrap()
            .starts_with("Message/Children/Child"),
        "{f}"
    );
}

#[test]
fn shipped_xlsx_tables_give_exactly_their_ground_truth_with_the_csv_mappings() {
    let dir = root().join("examples/sheet");
    let (code, report, _) = validate_json(&[&dir], &mappings(), &[]);
    assert_eq!(code, 1);
    assert_matches_truth(&report, &dir.join("ground_truth.csv"));
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["severity"] == "error")
        .unwrap();
    assert!(f["at"].as_str().unwrap().starts_with("sheet "), "{f}");
}

#[test]
fn generated_cin_and_xlsx_exports_at_several_rates_report_every_fault() {
    for (seed, rate) in [(4, 0.05), (8, 0.3)] {
        let tmp = tempfile::tempdir().unwrap();
        let status = generator()
            .arg("--out")
            .arg(tmp.path())
            .args(["--seed", &seed.to_string(), "--families", "30"])
            .args(["--error-rate", &rate.to_string(), "--only", "CIN_Census"])
            .args(["--as-of", "2026-11-01"])
            .status()
            .unwrap();
        assert!(status.success());
        let (_, report, _) = validate_json(&[tmp.path()], &root().join("mappings/cin"), &[]);
        assert_matches_truth(&report, &tmp.path().join("ground_truth.csv"));

        let tmp = tempfile::tempdir().unwrap();
        let status = generator()
            .arg("--out")
            .arg(tmp.path())
            .args(["--seed", &seed.to_string(), "--families", "20"])
            .args(["--error-rate", &rate.to_string(), "--format", "xlsx"])
            .args(["--as-of", "2026-11-01"])
            .status()
            .unwrap();
        assert!(status.success());
        let (_, report, _) = validate_json(&[tmp.path()], &mappings(), &[]);
        assert_matches_truth(&report, &tmp.path().join("ground_truth.csv"));
    }
}
