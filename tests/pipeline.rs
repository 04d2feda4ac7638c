//! The one pipeline, end to end: every command accounts for every record
//! (read = valid + rejected + merged + skipped, per file and per kind),
//! reports each bad row with its line, and reads JSON Lines back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use casebridge_mapping::MappingSet;
use casebridge_pseudonymise::Pseudonymiser;
use casebridge_runner::dedup::{dedup, DedupOptions};
use casebridge_runner::{
    pseudonymise, validate, Limits, NoProgress, PseudonymiseOptions, ValidateOptions,
};
use casebridge_validate::Report;
use proptest::prelude::*;

fn casebridge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_casebridge"));
    c.arg("--no-audit");
    c
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const PERSONS_HEADER: &str = "PERSON_ID,FIRST_NAME,LAST_NAME,FULL_NAME,DATE_OF_BIRTH,AGE_ESTIMATED,DATE_OF_DEATH,GENDER,NHS_ID,UPN_ID,FULL_ETHNICITY_CODE,IS_CHILD_LEGACY";

/// Good rows, a ragged row (line 4) and a bad date (line 5).
fn faulty_persons(dir: &Path) -> PathBuf {
    let path = dir.join("DM_PERSONS.csv");
    let text = format!(
        "{PERSONS_HEADER}\n\
         100001,Ann,Smith,Ann Smith,01/02/2015,N,,F,,,WBRI,Y\n\
         100002,Bob,Jones,Bob Jones,03/04/2016,N,,M,,,WBRI,Y\n\
         100003,Cat,Brown,Cat Brown,05/06/2017,N,,F,,WBRI,Y\n\
         100004,Dan,Green,Dan Green,31/02/2014,N,,M,,,WBRI,Y\n\
         100005,Eve,White,Eve White,07/08/2012,N,,F,,,WBRI,Y\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Every file of a JSON report balances, and in total.
fn assert_balanced(files: &serde_json::Value) {
    for f in files.as_array().unwrap() {
        let n = |k: &str| f[k].as_u64().unwrap();
        assert_eq!(
            n("records"),
            n("valid") + n("rejected") + n("merged") + n("skipped"),
            "{f}"
        );
        for (kind, t) in f["kinds"].as_object().unwrap() {
            let n = |k: &str| t[k].as_u64().unwrap();
            assert_eq!(
                n("read"),
                n("valid") + n("rejected") + n("merged") + n("skipped"),
                "{kind}: {f}"
            );
        }
    }
}

fn lines_of(findings: &serde_json::Value, rule: &str) -> Vec<u64> {
    findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule)
        .filter_map(|f| f["line"].as_u64())
        .collect()
}

#[test]
fn validate_reports_each_bad_row_with_its_line_and_balances() {
    let dir = tempfile::tempdir().unwrap();
    let input = faulty_persons(dir.path());
    let out = casebridge()
        .arg("validate")
        .arg(&input)
        .arg("-m")
        .arg(root().join("mappings/mosaic"))
        .args(["--as-of", "2026-11-01", "--format", "json", "-q"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(lines_of(&v["findings"], "csv.ragged-row"), [4]);
    assert_eq!(lines_of(&v["findings"], "field.type"), [5]);
    let f = &v["summary"]["files"][0];
    assert_eq!(
        (f["records"].as_u64(), f["valid"].as_u64()),
        (Some(5), Some(3))
    );
    assert_eq!(f["rejected"], 2);
    assert_balanced(&v["summary"]["files"]);
}

#[test]
fn dedup_reports_each_bad_row_with_its_line_and_balances() {
    let dir = tempfile::tempdir().unwrap();
    let input = faulty_persons(dir.path());
    let survivors = dir.path().join("out.jsonl");
    let out = casebridge()
        .arg("dedup")
        .arg(&input)
        .arg("-m")
        .arg(root().join("mappings/mosaic"))
        .args(["--as-of", "2026-11-01", "--format", "json", "-q", "--out"])
        .arg(&survivors)
        .output()
        .unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
    let v = json(&out);
    let findings = &v["report"]["findings"];
    assert_eq!(lines_of(findings, "csv.ragged-row"), [4]);
    assert_eq!(lines_of(findings, "field.type"), [5]);
    assert_balanced(&v["files"]);
    let f = &v["files"][0];
    // The ragged row cannot be mapped: rejected. The bad date is reported
    // and the person still linked (its date left empty).
    assert_eq!(f["rejected"], 1, "{f}");
    let written = std::fs::read_to_string(&survivors).unwrap().lines().count() as u64;
    assert_eq!(
        written,
        f["valid"].as_u64().unwrap(),
        "every kept record is in --out"
    );
}

#[test]
fn pseudonymise_reports_each_bad_row_with_its_line_and_balances() {
    let dir = tempfile::tempdir().unwrap();
    let input = faulty_persons(dir.path());
    let out_dir = dir.path().join("extract");
    let out = casebridge()
        .arg("pseudonymise")
        .arg(&input)
        .arg("-m")
        .arg(root().join("mappings/mosaic"))
        .arg("--out")
        .arg(&out_dir)
        .arg("-q")
        .env(
            "CASEBRIDGE_PSEUDONYM_KEY",
            "a-test-key-that-is-long-enough-0123456789",
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("DM_PERSONS.csv:4"), "{text}");
    assert!(
        // Written, not "valid": pseudonymise does not check (issue 9).
        text.contains("5 records         4 written       1 rejected"),
        "{text}"
    );
    let written = std::fs::read_to_string(out_dir.join("DM_PERSONS.csv")).unwrap();
    assert_eq!(
        written.lines().count(),
        5,
        "header and four rows: {written}"
    );
}

#[test]
fn survivors_written_as_json_lines_are_read_back_as_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let survivors = dir.path().join("survivors.jsonl");
    let ex = root().join("examples/dedup");
    let out = casebridge()
        .arg("dedup")
        .arg(ex.join("DM_PERSONS.csv"))
        .arg(ex.join("lcs_people.csv"))
        .arg("-m")
        .arg(ex.join("mappings"))
        .arg("-c")
        .arg(ex.join("dedup.toml"))
        .args(["--format", "json", "-q", "--out"])
        .arg(&survivors)
        .output()
        .unwrap();
    let v = json(&out);
    let kept: u64 = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["valid"].as_u64().unwrap())
        .sum();
    let merged: u64 = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["merged"].as_u64().unwrap())
        .sum();
    assert!(merged > 0, "the example has duplicates");
    let back = casebridge()
        .arg("validate")
        .arg(&survivors)
        .arg("-m")
        .arg(root().join("mappings/mosaic"))
        .args(["--as-of", "2026-11-01", "--format", "json", "-q"])
        .output()
        .unwrap();
    let b = json(&back);
    assert_eq!(b["summary"]["records_read"].as_u64(), Some(kept), "{b}");
    assert_eq!(b["summary"]["records_valid"].as_u64(), Some(kept));
    assert_balanced(&b["summary"]["files"]);
    // And dedup of the survivors again merges nothing more of what it merged.
    let again = casebridge()
        .arg("dedup")
        .arg(&survivors)
        .arg("-m")
        .arg(ex.join("mappings"))
        .arg("-c")
        .arg(ex.join("dedup.toml"))
        .args(["--format", "json", "-q"])
        .output()
        .unwrap();
    let a = json(&again);
    assert_balanced(&a["files"]);
    let read: u64 = a["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["records"].as_u64().unwrap())
        .sum();
    assert_eq!(read, kept);
}

#[test]
fn a_legacy_workbook_is_refused_by_name_never_read_as_csv() {
    let dir = tempfile::tempdir().unwrap();
    let xls = dir.path().join("DM_PERSONS.xls");
    // CSV text under an .xls name: still refused, as the format is named.
    std::fs::write(&xls, format!("{PERSONS_HEADER}\n")).unwrap();
    let out = casebridge()
        .arg("validate")
        .arg(&xls)
        .arg("-m")
        .arg(root().join("mappings/mosaic/persons.toml"))
        .args(["--format", "json", "-q"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v = json(&out);
    let msg = v["findings"][0]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("xls"), "{msg}");
    assert_eq!(v["findings"][0]["rule"], "file.unsupported");
}

#[test]
fn a_workbook_named_csv_is_refused_by_its_bytes_never_read_as_csv() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("DM_PERSONS.csv");
    std::fs::write(&csv, b"PK\x03\x04\x14\x00\x00\x00 a zip, not text").unwrap();
    let out = casebridge()
        .arg("validate")
        .arg(&csv)
        .arg("-m")
        .arg(root().join("mappings/mosaic/persons.toml"))
        .args(["--format", "json", "-q"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v = json(&out);
    let msg = v["findings"][0]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("looks like a workbook"), "{msg}");
}

#[test]
fn a_missing_input_says_so_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = casebridge()
        .arg("validate")
        .arg(dir.path().join("DM_PERSONS.csv"))
        .arg("-m")
        .arg(root().join("mappings/mosaic"))
        .args(["-q"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        all.to_lowercase().matches("no such file").count(),
        1,
        "{all}"
    );
    assert!(!all.contains("entity not found"), "{all}");
}

// --- Conservation on random inputs with random faults -----------------

#[derive(Debug, Clone)]
enum Fault {
    None,
    Ragged,
    BadDate,
    EmptyKey,
    BadNhs,
    Duplicate,
    Quote,
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        6 => Just(Fault::None),
        1 => Just(Fault::Ragged),
        1 => Just(Fault::BadDate),
        1 => Just(Fault::EmptyKey),
        1 => Just(Fault::BadNhs),
        2 => Just(Fault::Duplicate),
        1 => Just(Fault::Quote),
    ]
}

fn person_row(i: usize, f: &Fault) -> String {
    let id = 200_000 + i;
    let names = ["Ann", "Bob", "Cat", "Dan", "Eve", "Fay"];
    let first = names[i % names.len()];
    let dob = format!("{:02}/{:02}/20{:02}", 1 + i % 28, 1 + i % 12, 5 + i % 15);
    match f {
        Fault::None | Fault::Duplicate => {
            format!("{id},{first},Smith,{first} Smith,{dob},N,,F,,,WBRI,Y")
        }
        Fault::Ragged => format!("{id},{first},Smith,{dob},N,,F"),
        Fault::BadDate => format!("{id},{first},Smith,,32/13/2010,N,,F,,,WBRI,Y"),
        Fault::EmptyKey => format!(",{first},Smith,,{dob},N,,F,,,WBRI,Y"),
        Fault::BadNhs => format!("{id},{first},Smith,,{dob},N,,F,1234567890,,WBRI,Y"),
        Fault::Quote => format!("{id},\"{first}\nSmith\",Smith,,{dob},N,,F,,,WBRI,Y"),
    }
}

fn write_inputs(dir: &Path, faults: &[Fault]) -> Vec<PathBuf> {
    let mut text = format!("{PERSONS_HEADER}\n");
    for (i, f) in faults.iter().enumerate() {
        text.push_str(&person_row(i, f));
        text.push('\n');
        if matches!(f, Fault::Duplicate) {
            // The same person again, under another key.
            text.push_str(&person_row(i + 10_000, &Fault::None).replacen(
                &format!("{}", 210_000 + i),
                &format!("{}", 300_000 + i),
                1,
            ));
            text.push('\n');
        }
    }
    let path = dir.join("DM_PERSONS.csv");
    std::fs::write(&path, text).unwrap();
    vec![path]
}

fn balanced(report: &Report) -> Result<(), TestCaseError> {
    prop_assert!(report.unbalanced().is_empty(), "{:?}", report.unbalanced());
    for f in &report.files {
        prop_assert_eq!(f.records, f.valid + f.rejected + f.merged + f.skipped);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_command_accounts_for_every_record(faults in proptest::collection::vec(fault(), 0..40)) {
        let dir = tempfile::tempdir().unwrap();
        let inputs = write_inputs(dir.path(), &faults);
        let mappings = MappingSet::load(&root().join("mappings/mosaic")).unwrap();
        let as_of = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();

        let mut report = Report::new(1, false).unwrap();
        let opts = ValidateOptions { as_of, show_values: false, limits: Limits::default() };
        validate(&inputs, &mappings, &opts, &mut report, &NoProgress).unwrap();
        balanced(&report)?;
        prop_assert_eq!(report.records_read, report.files[0].records);

        let mut report = Report::new(1, false).unwrap();
        let opts = DedupOptions {
            config: casebridge_dedup::DedupConfig::default(),
            run: casebridge_dedup::RunOptions::default(),
            as_of,
            show_values: false,
            limits: Limits::default(),
        };
        let (run, _) = dedup(&inputs, &mappings, opts, &mut report, &NoProgress).unwrap();
        balanced(&report)?;
        if let Some(o) = &run.outcome {
            let kept: u64 = report.files.iter().map(|f| f.valid).sum();
            prop_assert_eq!(o.records.len() as u64, kept);
        }

        let mut report = Report::new(1, false).unwrap();
        let pseudo = Pseudonymiser::new(b"a-test-key-that-is-long-enough-0123456789").unwrap();
        let opts = PseudonymiseOptions {
            out_dir: dir.path().join("extract"),
            keep_unmapped: false,
            replace: true,
            limits: Limits::default(),
        };
        pseudonymise(&inputs, &mappings, &pseudo, &opts, &mut report, &NoProgress).unwrap();
        balanced(&report)?;
    }
}

#[test]
fn no_output_may_overwrite_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = faulty_persons(dir.path());
    let before = std::fs::read(&input).unwrap();
    let out = casebridge()
        .arg("validate")
        .arg(&input)
        .arg("-m")
        .arg(root().join("mappings/mosaic"))
        .arg("--output")
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    for flag in ["--out", "--pairs", "--review", "--output"] {
        // Named through the folder it is in, too.
        let out = casebridge()
            .arg("dedup")
            .arg(dir.path())
            .arg("-m")
            .arg(root().join("mappings/mosaic"))
            .arg(flag)
            .arg(&input)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("overwrite an input"));
    }
    assert_eq!(
        std::fs::read(&input).unwrap(),
        before,
        "the input is untouched"
    );
}

#[test]
fn logging_to_a_closed_stderr_never_panics() {
    // `-v ... 2>&1 | head -0`: stdout and stderr both a pipe nobody reads.
    for cmd in [
        "validate examples/mosaic -m mappings/mosaic --as-of 2026-11-01",
        "dedup examples/dedup/DM_PERSONS.csv -m examples/dedup/mappings",
    ] {
        let script = format!(
            "'{}' --no-audit -vv {cmd} 2>&1 | head -c 0; exit ${{PIPESTATUS[0]}}",
            env!("CARGO_BIN_EXE_casebridge")
        );
        let st = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(root())
            .status()
            .unwrap();
        let code = st.code().unwrap();
        assert!(code <= 2, "{cmd}: exit {code} (101 is a panic)");
    }
}

#[test]
fn a_headerless_file_quotes_no_data_in_did_you_mean_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("DM_PERSONS.csv");
    // No header: the first row is data.
    std::fs::write(
        &p,
        "100001,Anne,Fuller,Anne Fuller,01/02/2015,N,,F,,,WBRI,Y\n",
    )
    .unwrap();
    let run = |show: bool| {
        let mut c = casebridge();
        c.arg("validate")
            .arg(&p)
            .arg("-m")
            .arg(root().join("mappings/mosaic"));
        if show {
            c.arg("--show-values");
        }
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let quiet = run(false);
    assert!(
        quiet.contains("LAST_NAME"),
        "the mapping's own names are said: {quiet}"
    );
    for value in ["Fuller", "Anne", "100001"] {
        assert!(!quiet.contains(value), "{value} leaked: {quiet}");
    }
    // With --show-values the nearest header cell is named: a renamed
    // required column (LASTNAME for LAST_NAME) in a file with a header.
    std::fs::write(
        &p,
        "PERSON_ID,FIRST_NAME,LASTNAME,DATE_OF_BIRTH\n100001,Anne,Fuller,01/02/2015\n",
    )
    .unwrap();
    let named = run(true);
    assert!(named.contains("did you mean `LASTNAME`"), "{named}");
    assert!(!run(false).contains("did you mean `LASTNAME`"));
    assert!(
        named.contains("did you mean"),
        "with --show-values the nearest cell is named"
    );
}

#[test]
fn the_audit_log_warns_when_it_cannot_be_kept_or_its_chain_is_broken() {
    let persons = root().join("examples/mosaic/DM_PERSONS.csv");
    let m = root().join("mappings/mosaic");
    // No HOME: a warning, not silence.
    let out = Command::new(env!("CARGO_BIN_EXE_casebridge"))
        .args(["validate", "-q", "--as-of", "2026-11-01", "-m"])
        .arg(&m)
        .arg(&persons)
        .env_remove("HOME")
        .env_remove("XDG_STATE_HOME")
        .env_remove("CASEBRIDGE_AUDIT_LOG")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no audit log written"));
    // A broken chain is reported on the next run.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_casebridge"))
            .args([
                "validate",
                "-q",
                "--format",
                "json",
                "--as-of",
                "2026-11-01",
                "-m",
            ])
            .arg(&m)
            .arg(&persons)
            .env("CASEBRIDGE_AUDIT_LOG", &log)
            .output()
            .unwrap()
    };
    run();
    run();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("\"--as-of\",\"2026-11-01\""),
        "plain option values recorded: {text}"
    );
    assert!(text.contains("\"--format\",\"json\""));
    let first_line_end = text.find('\n').unwrap();
    std::fs::write(&log, &text[first_line_end + 1..]).unwrap();
    let third = run();
    let err = String::from_utf8_lossy(&third.stderr);
    assert!(err.contains("broken at line 1"), "{err}");
}

#[test]
fn a_narrower_extract_warns_once_per_missing_optional_column_and_finds_every_fault() {
    // A council's DM_PERSONS with only eight of the mapping's columns.
    let keep = [
        "PERSON_ID",
        "FIRST_NAME",
        "LAST_NAME",
        "DATE_OF_BIRTH",
        "GENDER",
        "NHS_ID",
        "UPN_ID",
        "FULL_ETHNICITY_CODE",
    ];
    let full = root().join("examples/mosaic/DM_PERSONS.csv");
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_path(&full)
        .unwrap();
    let rows: Vec<csv::ByteRecord> = rdr.byte_records().map(Result::unwrap).collect();
    let header: Vec<String> = rows[0]
        .iter()
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .collect();
    let idx: Vec<usize> = keep
        .iter()
        .map(|k| header.iter().position(|h| h == k).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let narrow = dir.path().join("DM_PERSONS.csv");
    let mut w = csv::Writer::from_path(&narrow).unwrap();
    for r in &rows {
        if r.len() == header.len() {
            w.write_byte_record(&idx.iter().map(|&i| &r[i]).collect())
                .unwrap();
        } else {
            // A ragged row stays ragged.
            w.write_byte_record(r).unwrap();
        }
    }
    w.flush().unwrap();
    drop(w);
    let run = |p: &Path| {
        let out = casebridge()
            .arg("validate")
            .arg(p)
            .arg("-m")
            .arg(root().join("mappings/mosaic"))
            .args(["--as-of", "2026-11-01", "--format", "json", "-q"])
            .output()
            .unwrap();
        (out.status.code(), json(&out))
    };
    let (code_full, full_report) = run(&full);
    let (code_narrow, narrow_report) = run(&narrow);
    assert_eq!(code_full, Some(1));
    assert_eq!(
        code_narrow,
        Some(1),
        "an optional column missing is no failure"
    );
    let missing: Vec<&serde_json::Value> = narrow_report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "file.column-missing")
        .collect();
    // FULL_NAME, AGE_ESTIMATED, DATE_OF_DEATH, IS_CHILD_LEGACY.
    assert_eq!(missing.len(), 4, "{missing:?}");
    for m in &missing {
        assert!(
            m["message"].as_str().unwrap().contains("persons.toml:"),
            "names the mapping line"
        );
        assert_eq!(m["severity"], "warning");
    }
    let faults = |v: &serde_json::Value, only_kept: bool| -> std::collections::BTreeSet<String> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] == "error")
            .filter(|f| !only_kept || f["field"].as_str().is_none_or(|c| keep.contains(&c)))
            .map(|f| format!("{}:{}:{}", f["line"], f["rule"], f["field"]))
            .collect()
    };
    let narrow_faults = faults(&narrow_report, false);
    assert!(
        narrow_faults.len() >= 3,
        "the example's faults: {narrow_faults:?}"
    );
    assert_eq!(
        narrow_faults,
        faults(&full_report, true),
        "every fault in the kept columns is still found, and nothing else"
    );
}

#[test]
fn the_readme_field_reference_is_the_catalogue() {
    let out = casebridge()
        .args(["fields", "--format", "markdown"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let generated = String::from_utf8(out.stdout).unwrap();
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let begin = readme.find("<!-- fields:begin -->\n").unwrap() + "<!-- fields:begin -->\n".len();
    let end = readme.find("<!-- fields:end -->").unwrap();
    assert_eq!(
        &readme[begin..end],
        generated,
        "README field reference is stale: run `casebridge fields --format markdown`"
    );
    assert!(generated.contains("| `nhs_number` | text | person.nhs-number | yes |"));
    let unknown = casebridge().args(["fields", "persn"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn the_shipped_root_several_sets_and_one_file_on_a_folder_all_plan_by_glob() {
    let read = |args: &[&std::ffi::OsStr]| {
        let out = casebridge()
            .arg("validate")
            .args(args)
            .args(["--as-of", "2026-11-01", "--format", "json", "-q"])
            .output()
            .unwrap();
        let v = json(&out);
        (
            out.status.code(),
            v["summary"]["records_read"].as_u64().unwrap_or(0),
        )
    };
    let os = std::ffi::OsStr::new;
    let mosaic = root().join("examples/mosaic");
    let cin = root().join("examples/cin");
    // `-m mappings`: every shipped set (dedup configs, code sets and
    // templates beside them are recognised, not parsed as mappings).
    let by_set = read(&[
        mosaic.as_os_str(),
        os("-m"),
        root().join("mappings/mosaic").as_os_str(),
    ]);
    let by_root = read(&[
        mosaic.as_os_str(),
        os("-m"),
        root().join("mappings").as_os_str(),
    ]);
    assert_eq!(by_root, by_set);
    assert_eq!(by_set.0, Some(1));
    let cin_set = read(&[
        cin.as_os_str(),
        os("-m"),
        root().join("mappings/cin").as_os_str(),
    ]);
    // Two sets, given twice over, read both folders.
    let both = read(&[
        mosaic.as_os_str(),
        cin.as_os_str(),
        os("-m"),
        root().join("mappings/mosaic").as_os_str(),
        os("-m"),
        root().join("mappings/cin").as_os_str(),
    ]);
    assert_eq!(both.1, by_set.1 + cin_set.1);
    // One mapping file on a folder: only the files its glob fits.
    let one = read(&[
        mosaic.as_os_str(),
        os("-m"),
        root().join("mappings/mosaic/persons.toml").as_os_str(),
    ]);
    assert_eq!(one, (Some(1), 110), "DM_PERSONS.csv only");
}
