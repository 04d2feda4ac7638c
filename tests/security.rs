//! Children's data protection, end to end: no personal value in any output
//! of any command in default mode (the canary test), and pseudonymised
//! extracts that keep links, lose canaries and depend on the key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

const KEY: &str = "test-key-0123456789abcdef";

fn generate(dir: &Path, seed: u64, error_rate: f64, duplicate_rate: f64) {
    let status = generator()
        .arg("--out")
        .arg(dir)
        .args(["--seed", &seed.to_string(), "--families", "12"])
        .args([
            "--error-rate",
            &error_rate.to_string(),
            "--duplicate-rate",
            &duplicate_rate.to_string(),
        ])
        .args(["--as-of", "2026-11-01"])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Rewrites a generated export so every person has distinctive canary names,
/// some have canary (invalid) NHS numbers and dates of birth, and every note
/// names its subject and their NHS number. Returns the canary strings.
fn plant_canaries(dir: &Path) -> Vec<String> {
    let mut canaries = Vec::new();
    let persons = dir.join("DM_PERSONS.csv");
    let mut rdr = csv::ReaderBuilder::new().from_path(&persons).unwrap();
    let header = rdr.byte_headers().unwrap().clone();
    let mut rows: Vec<csv::ByteRecord> = rdr.byte_records().map(Result::unwrap).collect();
    let mut who = std::collections::HashMap::new();
    for (n, r) in rows.iter_mut().enumerate() {
        let first = format!("Zorbafirst{n}");
        let last = format!("Quibbleton{n}");
        let mut fields: Vec<Vec<u8>> = r.iter().map(<[u8]>::to_vec).collect();
        fields[1] = first.clone().into_bytes();
        fields[2] = last.clone().into_bytes();
        fields[3] = format!("{first} {last}").into_bytes();
        if n % 5 == 0 {
            // An NHS number with a bad check digit: reported, never shown.
            let bad = format!("99900{:05}", 10_000 + n);
            if !casebridge_model_is_valid_nhs(&bad) {
                fields[8] = bad.clone().into_bytes();
                canaries.push(bad);
            }
        }
        if n % 7 == 3 {
            fields[4] = b"31/04/1999".to_vec();
        }
        let nhs = String::from_utf8_lossy(&fields[8]).into_owned();
        if nhs.len() == 10 {
            canaries.push(nhs.clone());
        }
        who.insert(
            String::from_utf8_lossy(&fields[0]).into_owned(),
            (first.clone(), last.clone(), nhs),
        );
        canaries.push(first);
        canaries.push(last);
        *r = csv::ByteRecord::from(fields);
    }
    canaries.push("31/04/1999".into());
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_path(&persons)
        .unwrap();
    w.write_byte_record(&header).unwrap();
    for r in &rows {
        w.write_byte_record(r).unwrap();
    }
    w.flush().unwrap();

    let notes = dir.join("CASE_NOTES.csv");
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(&notes)
        .unwrap();
    let header = rdr.byte_headers().unwrap().clone();
    let rows: Vec<csv::ByteRecord> = rdr.byte_records().map(Result::unwrap).collect();
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .terminator(csv::Terminator::CRLF)
        .from_path(&notes)
        .unwrap();
    w.write_byte_record(&header).unwrap();
    for r in rows {
        let mut fields: Vec<Vec<u8>> = r.iter().map(<[u8]>::to_vec).collect();
        if fields.len() == 10 {
            let pid = String::from_utf8_lossy(&fields[1]).into_owned();
            if let Some((first, last, nhs)) = who.get(&pid) {
                fields[7] = format!("Visited {first} {last} at home.\r\n{first} showed me the garden. NHS number {nhs}.").into_bytes();
                fields[3] = format!("Visit to {first}").into_bytes();
            }
        }
        w.write_byte_record(&csv::ByteRecord::from(fields)).unwrap();
    }
    w.flush().unwrap();
    canaries.sort();
    canaries.dedup();
    canaries.retain(|c| !c.is_empty());
    canaries
}

fn casebridge_model_is_valid_nhs(s: &str) -> bool {
    let d: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != 10 {
        return false;
    }
    let sum: u32 = d[..9].iter().zip((2..=10).rev()).map(|(a, w)| a * w).sum();
    let c = 11 - sum % 11;
    let c = if c == 11 { 0 } else { c };
    c != 10 && c == d[9]
}

fn all_text(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

fn files_text(dir: &Path) -> String {
    let mut s = String::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            s.push_str(&String::from_utf8_lossy(&std::fs::read(p).unwrap()));
        }
    }
    s
}

fn assert_no_canary(what: &str, text: &str, canaries: &[String]) {
    for c in canaries {
        assert!(!text.contains(c.as_str()), "{what}: canary {c:?} leaked");
    }
}

#[test]
fn no_command_prints_personal_values_by_default() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    generate(&data, 13, 0.15, 0.1);
    let canaries = plant_canaries(&data);
    assert!(canaries.len() > 40);
    let maps = mappings();

    // validate, every output form and verbose logs; the audit log too.
    let audit = tmp.path().join("audit.jsonl");
    let report = tmp.path().join("report.json");
    let runs: Vec<Vec<String>> = vec![
        vec!["validate".into()],
        vec!["validate".into(), "--format".into(), "json".into()],
        vec!["-vv".into(), "validate".into()],
        vec![
            "validate".into(),
            "--format".into(),
            "json".into(),
            "--output".into(),
            report.display().to_string(),
        ],
    ];
    for args in runs {
        let out = casebridge()
            .args(&args)
            .arg(&data)
            .arg("--mapping")
            .arg(&maps)
            .args(["--as-of", "2026-11-01"])
            .env("CASEBRIDGE_LOG", "debug")
            .env("CASEBRIDGE_AUDIT_LOG", &audit)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert_no_canary(&format!("{args:?}"), &all_text(&out), &canaries);
    }
    let json = std::fs::read_to_string(&report).unwrap();
    assert!(
        json.contains("person.nhs-number"),
        "the planted faults are reported"
    );
    assert_no_canary("--output report", &json, &canaries);

    // With --show-values the values do appear: the canaries are real.
    let shown = casebridge()
        .args(["validate", "--show-values", "--format", "json"])
        .arg(&data)
        .arg("--mapping")
        .arg(&maps)
        .args(["--as-of", "2026-11-01"])
        .output()
        .unwrap();
    assert!(canaries.iter().any(|c| stdout(&shown).contains(c.as_str())));

    // pseudonymise: its summary, logs and the extract itself.
    let out_dir = tmp.path().join("extract");
    let out = casebridge()
        .args(["-vv", "pseudonymise"])
        .arg(&data)
        .arg("--mapping")
        .arg(&maps)
        .arg("--out")
        .arg(&out_dir)
        .env("CASEBRIDGE_PSEUDONYM_KEY", KEY)
        .env("CASEBRIDGE_LOG", "debug")
        .env("CASEBRIDGE_AUDIT_LOG", &audit)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        stderr(&out)
    );
    assert_no_canary("pseudonymise output", &all_text(&out), &canaries);
    assert_no_canary("pseudonymised files", &files_text(&out_dir), &canaries);
    assert!(!all_text(&out).contains(KEY), "the key is never printed");
    // dedup: human and JSON reports, logs, and the pairs file (ids only).
    let pairs = tmp.path().join("pairs.csv");
    for format in ["human", "json"] {
        let out = casebridge()
            .args(["-vv", "dedup", "--format", format, "--pairs"])
            .arg(&pairs)
            .arg(&data)
            .arg("--mapping")
            .arg(&maps)
            .env("CASEBRIDGE_LOG", "debug")
            .env("CASEBRIDGE_AUDIT_LOG", &audit)
            .output()
            .unwrap();
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "{}",
            stderr(&out)
        );
        assert_no_canary(&format!("dedup {format}"), &all_text(&out), &canaries);
    }
    assert_no_canary(
        "dedup pairs",
        &std::fs::read_to_string(&pairs).unwrap(),
        &canaries,
    );

    let log = std::fs::read_to_string(&audit).unwrap();
    assert_eq!(log.lines().count(), 7);
    assert_no_canary("audit log", &log, &canaries);
    assert!(!log.contains(KEY));
}

#[test]
fn the_audit_log_records_who_ran_what_on_which_files_chained() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("state/audit.jsonl");
    let dir = root().join("examples/mosaic-clean");
    for _ in 0..2 {
        let out = casebridge()
            .args(["validate", "--format", "json", "--audit-log"])
            .arg(&log)
            .arg(&dir)
            .arg("--mapping")
            .arg(mappings())
            .args(["--as-of", "2026-11-01"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    let e: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert!(!e["user"].as_str().unwrap().is_empty());
    assert!(!e["host"].as_str().unwrap().is_empty());
    assert_eq!(e["exit_code"], 0);
    let cmd: Vec<&str> = e["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(cmd[..2], ["casebridge", "validate"]);
    assert!(cmd.contains(&"--mapping") && cmd.contains(&"<redacted>"));
    assert!(
        !cmd.iter().any(|a| a.contains("examples")),
        "values are redacted: {cmd:?}"
    );
    let inputs = e["inputs"].as_array().unwrap();
    let persons = inputs
        .iter()
        .find(|i| i["file"].as_str().unwrap().ends_with("DM_PERSONS.csv"))
        .unwrap();
    let bytes = std::fs::read(dir.join("DM_PERSONS.csv")).unwrap();
    use sha2::Digest;
    let want: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(persons["sha256"], want);
    let prev: String = sha2::Sha256::digest(lines[0].as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(e["prev"], prev, "each entry chains to the one before");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

fn pseudonymise(data: &Path, out: &Path, key: &str) -> Output {
    casebridge()
        .arg("pseudonymise")
        .arg(data)
        .arg("--mapping")
        .arg(mappings())
        .arg("--out")
        .arg(out)
        .env("CASEBRIDGE_PSEUDONYM_KEY", key)
        .output()
        .unwrap()
}

fn column(path: &Path, col: usize) -> Vec<String> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .unwrap();
    rdr.byte_records()
        .map(|r| String::from_utf8_lossy(r.unwrap().get(col).unwrap_or(b"")).into_owned())
        .collect()
}

#[test]
fn pseudonymised_extract_keeps_links_loses_canaries_and_depends_on_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    generate(&data, 17, 0.0, 0.2);
    let canaries = plant_canaries(&data);

    let a1 = tmp.path().join("a1");
    let a2 = tmp.path().join("a2");
    let b = tmp.path().join("b");
    for (dir, key) in [(&a1, KEY), (&a2, KEY), (&b, "another-key-0123456789")] {
        let out = pseudonymise(&data, dir, key);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let names: Vec<PathBuf> = [
        "DM_PERSONS.csv",
        "CASE_NOTES.csv",
        "DM_CACHED_FORM_ANSWERS.csv",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    for n in &names {
        assert_eq!(
            std::fs::read(a1.join(n)).unwrap(),
            std::fs::read(a2.join(n)).unwrap(),
            "same key, same output"
        );
        assert_ne!(
            std::fs::read(a1.join(n)).unwrap(),
            std::fs::read(b.join(n)).unwrap(),
            "another key, another output"
        );
    }
    assert_no_canary("extract", &files_text(&a1), &canaries);

    // Links survive: the extract validates with no missing person, and the
    // persons are the same in number.
    let (code, report, _) = validate_json(&[&a1], &mappings(), &[]);
    assert_eq!(
        report["summary"]["rules"]["ref.person-missing"],
        serde_json::Value::Null,
        "{}",
        report["summary"]
    );
    assert_eq!(
        code, 1,
        "only the planted bad NHS numbers and dates remain errors"
    );
    let before: BTreeSet<String> = column(&data.join("DM_PERSONS.csv"), 0)
        .into_iter()
        .collect();
    let after: BTreeSet<String> = column(&a1.join("DM_PERSONS.csv"), 0).into_iter().collect();
    assert_eq!(before.len(), after.len());
    assert!(before.is_disjoint(&after));
    // Duplicates survive: persons that shared an NHS number still do.
    let nhs_before: BTreeSet<String> = column(&data.join("DM_PERSONS.csv"), 8)
        .into_iter()
        .collect();
    let nhs_after: BTreeSet<String> = column(&a1.join("DM_PERSONS.csv"), 8).into_iter().collect();
    assert_eq!(nhs_before.len(), nhs_after.len());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(a1.join("DM_PERSONS.csv"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn pseudonymise_refuses_to_run_without_a_key_from_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let out = casebridge()
        .arg("pseudonymise")
        .arg(root().join("examples/mosaic-clean"))
        .arg("--mapping")
        .arg(mappings())
        .arg("--out")
        .arg(tmp.path().join("x"))
        .env_remove("CASEBRIDGE_PSEUDONYM_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("CASEBRIDGE_PSEUDONYM_KEY"));
    assert!(!tmp.path().join("x").exists());
    let short = pseudonymise(
        &root().join("examples/mosaic-clean"),
        &tmp.path().join("y"),
        "short",
    );
    assert_eq!(short.status.code(), Some(2));
}

#[cfg(unix)]
#[test]
fn a_2_gib_single_field_streamed_through_a_pipe_is_rejected_in_bounded_memory() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("CASE_NOTES.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let persons = root().join("examples/mosaic-clean/DM_PERSONS.csv");
    let writer_path = fifo.clone();
    let writer = std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(writer_path)
            .unwrap();
        f.write_all(b"ID,PERSON_ID,NOTE_TYPE,TITLE,EFFECTIVE_DATE,CREATED_ON,CREATED_BY,NOTE,SIGNIFICANT_EVENT,STATUS\r\n").unwrap();
        f.write_all(b"1,100001,PHONE,Call,01/02/2026 10:00,01/02/2026 11:00,ab01,\"")
            .unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..2048 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(b"\",N,COMPLETE\r\n2,100001,PHONE,Call,01/02/2026 10:00,01/02/2026 11:00,ab01,fine,N,COMPLETE\r\n").unwrap();
    });
    let time = Path::new("/usr/bin/time");
    let mut cmd = if time.exists() {
        let mut c = std::process::Command::new(time);
        c.args(["-f", "peak_rss_kb=%M"])
            .arg(env!("CARGO_BIN_EXE_casebridge"));
        c
    } else {
        std::process::Command::new(env!("CARGO_BIN_EXE_casebridge"))
    };
    let out = cmd
        .env("CASEBRIDGE_AUDIT_LOG", tmp.path().join("audit.jsonl"))
        .args([
            "validate",
            "--format",
            "json",
            "--as-of",
            "2026-11-01",
            "--max-record-bytes",
            "1048576",
        ])
        .arg(&persons)
        .arg(&fifo)
        .arg("--mapping")
        .arg(mappings())
        .output()
        .unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "limit.record")
        .unwrap();
    assert_eq!(f["line"], 2);
    assert_eq!(report["summary"]["errors"], 1, "{}", report["summary"]);
    let notes = report["summary"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"].as_str().unwrap().ends_with("CASE_NOTES.csv"))
        .unwrap();
    assert_eq!(notes["records"], 2);
    assert_eq!(notes["valid"], 1, "the record after the giant one is read");
    assert!(
        notes["bytes"].as_u64().unwrap() > (2u64 << 30),
        "every byte was hashed"
    );
    if let Some(rss) = stderr(&out)
        .lines()
        .find_map(|l| l.strip_prefix("peak_rss_kb="))
    {
        let kb: u64 = rss.trim().parse().unwrap();
        assert!(kb < 256 * 1024, "peak memory {kb} KB");
    }
}

#[test]
fn a_zip_bomb_review_workbook_is_refused_before_it_is_inflated() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let bomb = tmp.path().join("review.xlsx");
    let mut w = zip::ZipWriter::new(std::fs::File::create(&bomb).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file("xl/worksheets/sheet1.xml", opts).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..128 {
        w.write_all(&zeros).unwrap();
    }
    w.finish().unwrap();
    assert!(std::fs::metadata(&bomb).unwrap().len() < 1 << 20);
    let out = casebridge()
        .arg("dedup")
        .arg(root().join("examples/mosaic-clean"))
        .arg("--mapping")
        .arg(mappings())
        .arg("--review-in")
        .arg(&bomb)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("limit exceeded"), "{}", stderr(&out));
}

/// Workbook and XML inputs carry personal values into the same error paths
/// as CSV (bad dates, codes, NHS numbers, ragged rows, malformed XML): none
/// may reach a report, a log or the audit log in default mode.
#[test]
fn workbook_and_xml_inputs_print_no_personal_values_by_default() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let header = [
        "PERSON_ID",
        "FIRST_NAME",
        "LAST_NAME",
        "FULL_NAME",
        "DATE_OF_BIRTH",
        "AGE_ESTIMATED",
        "DATE_OF_DEATH",
        "GENDER",
        "NHS_ID",
        "UPN_ID",
        "FULL_ETHNICITY_CODE",
        "IS_CHILD_LEGACY",
    ];
    let canaries: Vec<String> = [
        "Zorbasheetfirst",
        "Quibblesheetlast",
        "Canarydob31st",
        "Qxgendercanary",
        "9990001117",
        "Canaryupn77",
        "Wobbleraggedcell",
        "CANARYCHILD77",
        "Canaryxmldob",
        "Canaryxmlsex",
        "Canarymalformedtext",
    ]
    .map(String::from)
    .to_vec();
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("DM_PERSONS").unwrap();
    for (c, h) in header.iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    let rows: [[&str; 12]; 2] = [
        [
            "1",
            "Zorbasheetfirst",
            "Quibblesheetlast",
            "Zorbasheetfirst Quibblesheetlast",
            "Canarydob31st",
            "N",
            "",
            "Qxgendercanary",
            "9990001117",
            "Canaryupn77",
            "WBRI",
            "Y",
        ],
        [
            "2",
            "Ann",
            "Lee",
            "Ann Lee",
            "01/02/2015",
            "N",
            "",
            "F",
            "",
            "",
            "WBRI",
            "Y",
        ],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            ws.write_string(r as u32 + 1, c as u16, *v).unwrap();
        }
    }
    // A cell past the header's width: a ragged row.
    ws.write_string(2, 13, "Wobbleraggedcell").unwrap();
    wb.save(data.join("DM_PERSONS.xlsx")).unwrap();

    std::fs::write(
        data.join("CIN_canary.xml"),
        "<?xml version=\"1.0\"?>\n<Message><Children>\n<Child><ChildIdentifiers><LAchildID>CANARYCHILD77</LAchildID><UPN>Canaryupn77</UPN><PersonBirthDate>Canaryxmldob</PersonBirthDate><Sex>Canaryxmlsex</Sex></ChildIdentifiers></Child>\n<Child><ChildIdentifiers><LAchildID>C2</LAchildID><Bad>Canarymalformedtext</Mismatch></ChildIdentifiers></Child>\n</Children></Message>\n",
    )
    .unwrap();

    let audit = tmp.path().join("audit.jsonl");
    for (input, maps) in [
        (data.join("DM_PERSONS.xlsx"), mappings()),
        (data.join("CIN_canary.xml"), root().join("mappings/cin")),
    ] {
        for format in ["human", "json"] {
            let out = casebridge()
                .args(["-vv", "validate", "--format", format])
                .arg(&input)
                .arg("--mapping")
                .arg(&maps)
                .args(["--as-of", "2026-11-01"])
                .env("CASEBRIDGE_LOG", "debug")
                .env("CASEBRIDGE_AUDIT_LOG", &audit)
                .output()
                .unwrap();
            let code = out.status.code();
            assert!(code == Some(1) || code == Some(2), "{}", stderr(&out));
            assert!(
                stdout(&out).contains("error"),
                "the planted faults are found: {}",
                stdout(&out)
            );
            assert_no_canary(
                &format!("{} {format}", input.display()),
                &all_text(&out),
                &canaries,
            );
        }
        // With --show-values they appear: the canaries are real.
        let shown = casebridge()
            .args(["validate", "--show-values", "--format", "json"])
            .arg(&input)
            .arg("--mapping")
            .arg(&maps)
            .args(["--as-of", "2026-11-01"])
            .env("CASEBRIDGE_AUDIT_LOG", &audit)
            .output()
            .unwrap();
        assert!(
            canaries.iter().any(|c| stdout(&shown).contains(c.as_str())),
            "{}",
            stdout(&shown)
        );
    }
    let log = std::fs::read_to_string(&audit).unwrap();
    assert_no_canary("audit log", &log, &canaries);
}

fn sheet_column(path: &Path, col: usize) -> Vec<String> {
    use calamine::{open_workbook, Reader, Xlsx};
    let mut wb: Xlsx<_> = open_workbook(path).unwrap();
    let name = wb.sheet_names()[0].clone();
    let range = wb.worksheet_range(&name).unwrap();
    range
        .rows()
        .skip(1)
        .map(|r| r.get(col).map(|c| c.to_string()).unwrap_or_default())
        .collect()
}

#[test]
fn workbook_inputs_are_pseudonymised_into_workbooks_that_keep_their_links() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let status = generator()
        .arg("--out")
        .arg(&data)
        .args(["--seed", "23", "--families", "10", "--format", "xlsx"])
        .args([
            "--error-rate",
            "0",
            "--duplicate-rate",
            "0.2",
            "--as-of",
            "2026-11-01",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let a1 = tmp.path().join("a1");
    let a2 = tmp.path().join("a2");
    let b = tmp.path().join("b");
    for (dir, key) in [(&a1, KEY), (&a2, KEY), (&b, "another-key-0123456789")] {
        let out = pseudonymise(&data, dir, key);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    for n in [
        "DM_PERSONS.xlsx",
        "CASE_NOTES.xlsx",
        "DM_CACHED_FORM_ANSWERS.xlsx",
    ] {
        let (x1, x2, y) = (
            std::fs::read(a1.join(n)).unwrap(),
            std::fs::read(a2.join(n)).unwrap(),
            std::fs::read(b.join(n)).unwrap(),
        );
        assert_eq!(x1, x2, "{n}: same key, same bytes");
        assert_ne!(x1, y, "{n}: another key, another output");
    }
    // Names and ids are replaced; the extract validates clean, links intact.
    let before: BTreeSet<String> = sheet_column(&data.join("DM_PERSONS.xlsx"), 0)
        .into_iter()
        .collect();
    let after: BTreeSet<String> = sheet_column(&a1.join("DM_PERSONS.xlsx"), 0)
        .into_iter()
        .collect();
    assert_eq!(before.len(), after.len());
    assert!(before.is_disjoint(&after));
    let first_before: BTreeSet<String> = sheet_column(&data.join("DM_PERSONS.xlsx"), 1)
        .into_iter()
        .collect();
    let first_after: BTreeSet<String> = sheet_column(&a1.join("DM_PERSONS.xlsx"), 1)
        .into_iter()
        .collect();
    assert!(
        first_before.intersection(&first_after).count() * 4 < first_before.len(),
        "names replaced"
    );
    let (code, report, _) = validate_json(&[&a1], &mappings(), &[]);
    assert_eq!(code, 0, "{}", report["summary"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(a1.join("DM_PERSONS.xlsx"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

fn pseudonymise_cin(data: &Path, out: &Path, key: &str, extra: &[&str]) -> Output {
    casebridge()
        .arg("pseudonymise")
        .arg(data)
        .arg("--mapping")
        .arg(root().join("mappings/cin"))
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("CASEBRIDGE_PSEUDONYM_KEY", key)
        .output()
        .unwrap()
}

/// The cells of every record at `record` in an XML file, fields as given.
fn xml_records(path: &Path, record: &str, fields: &[&str]) -> Vec<Vec<String>> {
    use casebridge_model::{RecordSource, TextRow, Want};
    let config = casebridge_xml::XmlSourceConfig::new(record, fields.iter().copied());
    let mut src = casebridge_xml::XmlSource::open(path, config).unwrap();
    let mut row = TextRow::new();
    let mut out = Vec::new();
    while src
        .read_row(&mut row, &vec![Want::Text; fields.len()])
        .unwrap()
    {
        out.push(
            (0..fields.len())
                .map(|i| row.get(i).unwrap_or("").trim().to_string())
                .collect(),
        );
    }
    out
}

/// Days since 0000-03-01 of a `yyyy-mm-dd` date.
fn day_number(s: &str) -> Option<i64> {
    let p: Vec<i64> = s
        .split('-')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [y, m, d] = p[..] else { return None };
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if s.len() != 10 || !(1..=12).contains(&m) || d < 1 || d > days[(m - 1) as usize] {
        return None;
    }
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    Some(365 * y + y / 4 - y / 100 + y / 400 + (153 * m + 2) / 5 + d - 1)
}

/// Findings as (rule, line, record, field), sorted.
fn finding_keys(report: &serde_json::Value) -> Vec<(String, u64, String, String)> {
    let mut keys: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or("").to_string(),
                f["line"].as_u64().unwrap_or(0),
                f["at"].as_str().unwrap_or("").to_string(),
                f["field"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    keys.sort();
    keys
}

#[test]
fn a_cin_census_xml_is_pseudonymised_in_place_keeping_links_and_intervals() {
    let tmp = tempfile::tempdir().unwrap();
    let input = root().join("examples/cin/CIN_Census.xml");
    let (a1, a2, b) = (
        tmp.path().join("a1"),
        tmp.path().join("a2"),
        tmp.path().join("b"),
    );
    for (dir, key) in [(&a1, KEY), (&a2, KEY), (&b, "another-key-0123456789")] {
        let out = pseudonymise_cin(&root().join("examples/cin"), dir, key, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let output = a1.join("CIN_Census.xml");
    let bytes = std::fs::read(&output).unwrap();
    assert_eq!(
        bytes,
        std::fs::read(a2.join("CIN_Census.xml")).unwrap(),
        "same key, same bytes"
    );
    assert_ne!(
        bytes,
        std::fs::read(b.join("CIN_Census.xml")).unwrap(),
        "another key, another output"
    );
    // Written once although two mappings read it; nothing else is copied.
    assert_eq!(std::fs::read_dir(&a1).unwrap().count(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&output).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The same document: every line keeps its tags, only values differ.
    let (text_in, text_out) = (
        std::fs::read_to_string(&input).unwrap(),
        String::from_utf8(bytes).unwrap(),
    );
    let tags = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| {
                l.split('>')
                    .map(|p| p.split('<').nth(1).unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect()
    };
    assert_eq!(tags(&text_in), tags(&text_out));
    // Values the CIN mapping declares public (the header, codes) are kept;
    // other values nothing reads (an assessment's dates) are blanked.
    for kept in [
        "<LEA>999</LEA>",
        "<Collection>CIN</Collection>",
        "<ReferenceDate>2026-03-31</ReferenceDate>",
        "<ReferralSource>9</ReferralSource>",
        "<PrimaryNeedCode>N1</PrimaryNeedCode>",
    ] {
        assert!(text_out.contains(kept), "{kept} is kept");
    }
    assert!(
        text_out.contains("<AssessmentActualStartDate></AssessmentActualStartDate>"),
        "values nothing reads are blanked"
    );

    let child_fields = [
        "ChildIdentifiers/LAchildID",
        "ChildIdentifiers/UPN",
        "ChildIdentifiers/PersonBirthDate",
        "ChildIdentifiers/Sex",
        "ChildCharacteristics/Ethnicity",
    ];
    let episode_fields = [
        "../ChildIdentifiers/LAchildID",
        "CINreferralDate",
        "CINclosureDate",
    ];
    let record = "Message/Children/Child";
    let episodes = "Message/Children/Child/CINdetails";
    let (children_in, children_out) = (
        xml_records(&input, record, &child_fields),
        xml_records(&output, record, &child_fields),
    );
    let (episodes_in, episodes_out) = (
        xml_records(&input, episodes, &episode_fields),
        xml_records(&output, episodes, &episode_fields),
    );
    assert_eq!(children_in.len(), children_out.len());
    assert_eq!(episodes_in.len(), episodes_out.len());
    let ids_in: BTreeSet<&str> = children_in
        .iter()
        .map(|c| c[0].as_str())
        .filter(|s| !s.is_empty())
        .collect();
    let ids_out: BTreeSet<&str> = children_out
        .iter()
        .map(|c| c[0].as_str())
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(ids_in.len(), ids_out.len());
    assert!(ids_in.is_disjoint(&ids_out), "every LAchildID replaced");
    let mut new_id = std::collections::BTreeMap::new();
    let mut shift = std::collections::BTreeMap::new();
    for (i, o) in children_in.iter().zip(&children_out) {
        assert_eq!(i[0].is_empty(), o[0].is_empty());
        assert_eq!(i[1].is_empty(), o[1].is_empty());
        if !o[1].is_empty() {
            assert!(
                casebridge_model::ids::is_valid_upn(&o[1]),
                "UPN pseudonyms are valid"
            );
            assert_ne!(i[1], o[1]);
        }
        assert_eq!((&i[3], &i[4]), (&o[3], &o[4]), "codes kept");
        if !i[0].is_empty() {
            new_id.insert(i[0].clone(), o[0].clone());
        }
        match (day_number(&i[2]), day_number(&o[2])) {
            (Some(a), Some(b)) => {
                assert!((1..=365).contains(&(a - b)), "{}", a - b);
                // (A child without an id has no key for its offset.)
                if !i[0].is_empty() {
                    shift.insert(i[0].clone(), a - b);
                }
            }
            // A birth date that cannot be read is blanked.
            (None, _) => assert!(o[2].is_empty()),
            (Some(_), None) => panic!("a date became unreadable"),
        }
    }
    let mut checked = 0;
    for (i, o) in episodes_in.iter().zip(&episodes_out) {
        // Every episode still names its child, by the child's new id.
        if !i[0].is_empty() {
            assert_eq!(Some(&o[0]), new_id.get(&i[0]));
        }
        // And its dates moved as far as the child's birth date.
        for k in [1, 2] {
            if let (Some(a), Some(b), Some(s)) =
                (day_number(&i[k]), day_number(&o[k]), shift.get(&i[0]))
            {
                assert_eq!(a - b, *s, "same offset for a child's dates");
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "{checked}");

    // Validated with the same mappings, the findings are the input's, on
    // the same lines: the shift keeps intervals and (at most a year back)
    // leaves the planted future dates in the future; only the unreadable
    // birth dates (field.type), now blank, are reported as missing.
    let (_, before, _) = validate_json(&[&input], &root().join("mappings/cin"), &[]);
    let (_, after, _) = validate_json(&[&output], &root().join("mappings/cin"), &[]);
    assert!(before["summary"]["rules"]["field.type"].as_u64().unwrap() > 0);
    let mut expected: Vec<_> = finding_keys(&before)
        .into_iter()
        .map(|(rule, line, at, field)| {
            if rule == "field.type" {
                assert_eq!(field, "ChildIdentifiers/PersonBirthDate", "a required date");
                ("field.required".to_string(), line, at, field)
            } else {
                (rule, line, at, field)
            }
        })
        .collect();
    expected.sort();
    assert_eq!(finding_keys(&after), expected);
    assert_eq!(
        after["summary"]["records_read"],
        before["summary"]["records_read"]
    );
}

#[test]
fn a_cin_census_xml_pseudonymised_loses_its_canaries() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let text = std::fs::read_to_string(root().join("examples/cin/CIN_Census.xml")).unwrap();
    let canaries = ["CanaryLA4711x".to_string(), "Q271828182845".to_string()];
    let planted = text
        .replacen(
            "<LAchildID>100002</LAchildID>",
            "<LAchildID>CanaryLA4711x</LAchildID>",
            1,
        )
        .replacen("<UPN>C867240520336</UPN>", "<UPN>Q271828182845</UPN>", 1);
    assert_ne!(planted, text);
    std::fs::write(data.join("CIN_Census.xml"), planted).unwrap();
    for extra in [&[][..], &["-vv"][..], &["--keep-unmapped"][..]] {
        let out_dir = tmp.path().join(format!(
            "out{}",
            extra.len() + extra.first().map_or(0, |e| e.len())
        ));
        let out = pseudonymise_cin(&data, &out_dir, KEY, extra);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_no_canary("pseudonymise output", &all_text(&out), &canaries);
        assert_no_canary("extract", &files_text(&out_dir), &canaries);
    }
}
