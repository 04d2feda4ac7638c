//! Hostile and broken XML and spreadsheet inputs through the real binary:
//! each is a clear finding for that file, in bounded memory, and the other
//! inputs of the run are still read. A file that cannot be read makes the
//! run exit 2 (could not run), as documented in the README.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

fn cin_mappings() -> PathBuf {
    root().join("mappings/cin")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A small, valid CIN census return with three children.
const GOOD_CIN: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Message>
  <Header>
    <Source><LEA>999</LEA></Source>
  </Header>
  <Children>
    <Child>
      <ChildIdentifiers>
        <LAchildID>C0001</LAchildID>
        <UPN>N874247221993</UPN>
        <PersonBirthDate>2015-03-04</PersonBirthDate>
        <Sex>F</Sex>
      </ChildIdentifiers>
      <ChildCharacteristics><Ethnicity>WBRI</Ethnicity></ChildCharacteristics>
      <CINdetails><CINreferralDate>2025-01-10</CINreferralDate></CINdetails>
    </Child>
    <Child>
      <ChildIdentifiers>
        <LAchildID>C0002</LAchildID>
        <PersonBirthDate>2017-06-01</PersonBirthDate>
        <Sex>M</Sex>
      </ChildIdentifiers>
      <CINdetails>
        <CINreferralDate>2025-02-01</CINreferralDate>
        <CINclosureDate>2025-05-01</CINclosureDate>
      </CINdetails>
    </Child>
    <Child>
      <ChildIdentifiers>
        <LAchildID>C0003</LAchildID>
        <PersonBirthDate>2019-12-24</PersonBirthDate>
        <Sex>U</Sex>
      </ChildIdentifiers>
    </Child>
  </Children>
</Message>
"#;

fn findings(report: &serde_json::Value) -> Vec<serde_json::Value> {
    report["findings"].as_array().unwrap().clone()
}

fn file_summary<'a>(report: &'a serde_json::Value, name: &str) -> Vec<&'a serde_json::Value> {
    report["summary"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["file"].as_str().unwrap().ends_with(name))
        .collect()
}

/// Runs validate under /usr/bin/time when there is one; returns the exit
/// code, the report and the peak RSS in KB.
fn validate_measured(
    inputs: &[&Path],
    mapping: &Path,
    audit: &Path,
) -> (i32, serde_json::Value, Option<u64>, Output) {
    let time = Path::new("/usr/bin/time");
    let mut cmd = if time.exists() {
        let mut c = std::process::Command::new(time);
        c.args(["-f", "peak_rss_kb=%M"])
            .arg(env!("CARGO_BIN_EXE_casebridge"));
        c
    } else {
        std::process::Command::new(env!("CARGO_BIN_EXE_casebridge"))
    };
    cmd.env("CASEBRIDGE_AUDIT_LOG", audit).args([
        "validate",
        "--format",
        "json",
        "--as-of",
        "2026-11-01",
    ]);
    for i in inputs {
        cmd.arg(i);
    }
    let out = cmd.arg("--mapping").arg(mapping).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stderr(&out)));
    let rss = stderr(&out)
        .lines()
        .find_map(|l| l.strip_prefix("peak_rss_kb="))
        .and_then(|v| v.trim().parse().ok());
    (out.status.code().unwrap(), report, rss, out)
}

#[test]
fn a_good_cin_return_reads_children_and_their_episodes() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("CIN_good.xml");
    std::fs::write(&good, GOOD_CIN).unwrap();
    let (code, report, _) = validate_json(&[&good], &cin_mappings(), &[]);
    assert_eq!(code, 0, "{report}");
    let files = file_summary(&report, "CIN_good.xml");
    assert_eq!(files.len(), 2, "one file, read by two mappings: {report}");
    let records: Vec<u64> = files
        .iter()
        .map(|f| f["records"].as_u64().unwrap())
        .collect();
    assert_eq!(records, vec![3, 2], "children, then episodes");
}

#[test]
fn billion_laughs_is_refused_without_expansion_and_the_other_file_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("CIN_good.xml");
    std::fs::write(&good, GOOD_CIN).unwrap();
    let bomb = tmp.path().join("CIN_bomb.xml");
    let mut doc =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE Message [\n  <!ENTITY lol \"lol\">\n");
    doc.push_str("  <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n");
    for i in 2..=9 {
        let prev = format!("&lol{};", i - 1);
        doc.push_str(&format!("  <!ENTITY lol{i} \"{}\">\n", prev.repeat(10)));
    }
    doc.push_str("]>\n<Message><Children><Child><ChildIdentifiers><LAchildID>&lol9;</LAchildID></ChildIdentifiers></Child></Children></Message>\n");
    std::fs::write(&bomb, doc).unwrap();
    let (code, report, rss, out) = validate_measured(
        &[&bomb, &good],
        &cin_mappings(),
        &tmp.path().join("audit.jsonl"),
    );
    assert_eq!(
        code, 2,
        "a refused file means the run could not run entirely: {report}"
    );
    let dtd: Vec<_> = findings(&report)
        .into_iter()
        .filter(|f| f["rule"] == "xml.dtd")
        .collect();
    assert!(!dtd.is_empty(), "{report}");
    assert!(dtd
        .iter()
        .all(|f| f["file"].as_str().unwrap().ends_with("CIN_bomb.xml")));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("lollol"));
    for f in file_summary(&report, "CIN_good.xml") {
        assert_eq!(f["status"], "checked", "{report}");
    }
    assert_eq!(report["summary"]["records_valid"], 5, "{report}");
    if let Some(kb) = rss {
        assert!(kb < 64 * 1024, "peak memory {kb} KB");
    }
}

#[test]
fn an_external_entity_is_never_fetched_nor_echoed() {
    let tmp = tempfile::tempdir().unwrap();
    let secret = tmp.path().join("secret.txt");
    std::fs::write(&secret, "CANARY-SECRET-CONTENT").unwrap();
    let xxe = tmp.path().join("CIN_xxe.xml");
    std::fs::write(
        &xxe,
        format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE Message [<!ENTITY xxe SYSTEM \"file://{}\">]>\n<Message><Children><Child><ChildIdentifiers><LAchildID>&xxe;</LAchildID><PersonBirthDate>2015-01-01</PersonBirthDate></ChildIdentifiers></Child></Children></Message>\n",
            secret.display()
        ),
    )
    .unwrap();
    let (code, report, out) = validate_json(&[&xxe], &cin_mappings(), &["--show-values"]);
    assert_eq!(code, 2, "{report}");
    assert!(
        findings(&report).iter().any(|f| f["rule"] == "xml.dtd"),
        "{report}"
    );
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!all.contains("CANARY-SECRET-CONTENT"), "{all}");
}

#[test]
fn undefined_entities_reject_their_record_only_and_deep_nesting_stops_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let ent = tmp.path().join("CIN_entity.xml");
    std::fs::write(
        &ent,
        GOOD_CIN.replace(
            "<LAchildID>C0002</LAchildID>",
            "<LAchildID>&nope;</LAchildID>",
        ),
    )
    .unwrap();
    let (code, report, _) = validate_json(&[&ent], &cin_mappings(), &[]);
    assert_eq!(code, 1, "{report}");
    let bad: Vec<_> = findings(&report)
        .into_iter()
        .filter(|f| f["rule"] == "xml.entity")
        .collect();
    assert!(!bad.is_empty(), "{report}");
    assert!(
        bad.iter()
            .any(|f| f["line"] == 17 && f["at"] == "Message/Children/Child[2]"),
        "the second Child's start tag: {report}"
    );
    let children = file_summary(&report, "CIN_entity.xml");
    assert_eq!(children[0]["records"], 3, "{report}");
    assert_eq!(children[0]["valid"], 2, "{report}");

    let deep = tmp.path().join("CIN_deep.xml");
    let mut f = std::fs::File::create(&deep).unwrap();
    f.write_all(b"<Message><Children>").unwrap();
    for _ in 0..100_000 {
        f.write_all(b"<a>").unwrap();
    }
    drop(f);
    let (code, report, _) = validate_json(&[&deep], &cin_mappings(), &["--max-xml-depth", "50"]);
    assert_eq!(code, 2, "{report}");
    assert!(
        findings(&report).iter().any(|f| f["rule"] == "limit.depth"),
        "{report}"
    );
}

fn write_bomb(path: &Path) {
    let mut w = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file("xl/worksheets/sheet1.xml", opts).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        w.write_all(&zeros).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn a_zip_bomb_workbook_and_garbage_named_xlsx_are_refused_the_csv_beside_them_read() {
    let tmp = tempfile::tempdir().unwrap();
    let bomb = tmp.path().join("DM_ADDRESSES.xlsx");
    write_bomb(&bomb);
    assert!(std::fs::metadata(&bomb).unwrap().len() < 2 << 20);
    let garbage = tmp.path().join("DM_PERSONAL_RELATIONSHIPS.xlsx");
    std::fs::write(&garbage, b"\x00\x01garbage, not a workbook\xff\xfe").unwrap();
    let persons = root().join("examples/mosaic-clean/DM_PERSONS.csv");
    let (code, report, rss, out) = validate_measured(
        &[&persons, &bomb, &garbage],
        &mappings(),
        &tmp.path().join("audit.jsonl"),
    );
    assert_eq!(code, 2, "{report}");
    let rules: Vec<(String, String)> = findings(&report)
        .iter()
        .map(|f| {
            let file = f["file"].as_str().unwrap();
            (
                Path::new(file)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                f["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        rules.contains(&("DM_ADDRESSES.xlsx".into(), "limit.archive".into())),
        "{rules:?}"
    );
    assert!(
        rules.contains(&(
            "DM_PERSONAL_RELATIONSHIPS.xlsx".into(),
            "sheet.unreadable".into()
        )),
        "{rules:?}"
    );
    let p = &file_summary(&report, "DM_PERSONS.csv")[0];
    assert_eq!(p["status"], "checked");
    assert_eq!(p["records"], p["valid"]);
    assert!(p["records"].as_u64().unwrap() > 0);
    assert!(!stderr(&out).contains("panicked"));
    if let Some(kb) = rss {
        assert!(kb < 128 * 1024, "peak memory {kb} KB");
    }
}

#[test]
fn a_damaged_workbook_that_trips_the_xlsx_library_is_a_finding_not_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    // The header cells point past the shared-strings table: calamine panics
    // on this; the reader catches it on its worker thread.
    let sheet = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>999</v></c></row><row r="2"><c r="A2"><v>1</v></c></row></sheetData></worksheet>"#;
    let bytes = casebridge_sheet::fuzzing::build_workbook(
        sheet,
        casebridge_sheet::fuzzing::SHARED_STRINGS.as_bytes(),
        casebridge_sheet::fuzzing::STYLES.as_bytes(),
    )
    .unwrap();
    let damaged = tmp.path().join("DM_PERSONS.xlsx");
    std::fs::write(&damaged, bytes).unwrap();
    let (code, report, out) = validate_json(&[&damaged], &mappings(), &[]);
    assert_eq!(code, 2, "{report}");
    assert!(
        findings(&report)
            .iter()
            .any(|f| f["rule"] == "sheet.unreadable"),
        "{report}"
    );
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}
