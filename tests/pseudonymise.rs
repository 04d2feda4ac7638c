//! `casebridge pseudonymise` end to end (issue 9): free text loses every
//! kind of personal value planted in it and keeps its other words; a date
//! in a key stays a date; the summary says written; Windows-1252 stays
//! Windows-1252; values kept with `--keep-unmapped` are scrubbed too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Output;

use common::*;

const KEY: &str = "test-key-0123456789abcdef";

fn run(data: &Path, mapping: &Path, out: &Path, extra: &[&str]) -> Output {
    casebridge()
        .arg("pseudonymise")
        .arg(data)
        .arg("--mapping")
        .arg(mapping)
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("CASEBRIDGE_PSEUDONYM_KEY", KEY)
        .output()
        .unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() && p.extension().is_some_and(|x| x == "csv") {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

fn append(path: &Path, line: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(line.as_bytes()).unwrap();
}

/// The note planted, with every kind of personal value, and its canaries.
const NOTE: &str = "Spoke with Jose and Quentaro Vellacourt at Flat 6, Hollowmere House \
    (lu7 2qx) and at 12 Brindle Road, LU3 1XY. NHS 943 476 5919 and 943-476-5919. \
    Born 03/07/1996, also written 3 July 1996 and 3rd July 1996. Phone 07700 900123, \
    +44 7700 900123 or 020 7946 0018. Liz was there. Plan agreed with school.";
const CANARIES: &[&str] = &[
    "Jose",
    "Quentaro",
    "Vellacourt",
    "Hollowmere",
    "lu7 2qx",
    "Brindle",
    "LU3 1XY",
    "476 5919",
    "476-5919",
    "03/07/1996",
    "3 July 1996",
    "3rd July 1996",
    "900123",
    "7946 0018",
    "Liz",
];

fn plant(data: &Path) {
    // Persons nobody's note is about: other persons of the extract.
    append(
        &data.join("DM_PERSONS.csv"),
        "199991,José,Pemberwick,José Pemberwick,01/02/1990,N,,M,,,AOTH,N\r\n\
         199992,Quentaro,Vellacourt,Quentaro Vellacourt,01/02/1991,N,,M,,,AOTH,N\r\n\
         199993,Elizabeth,Harrowgate,Elizabeth Harrowgate,01/02/1992,N,,F,,,AOTH,N\r\n",
    );
    append(
        &data.join("DM_ADDRESSES.csv"),
        "499991,100002,\"Flat 6, Hollowmere House, Dunstable\",LU7 2QX,PREV,11/09/2021,23/07/2024\r\n",
    );
    append(
        &data.join("CASE_NOTES.csv"),
        &format!(
            "3999991,100002,PHONE,Call,11/03/2025 08:23,11/03/2025 08:25,egallagher01,\"{NOTE}\",N,COMPLETE\r\n"
        ),
    );
}

fn planted_note(out: &Path) -> String {
    let bytes = std::fs::read(out.join("CASE_NOTES.csv")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    text.lines()
        .find(|l| l.contains("Plan agreed"))
        .expect("the planted note is written")
        .to_string()
}

#[test]
fn free_text_loses_every_kind_of_personal_value_and_keeps_its_other_words() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(&root().join("examples/mosaic-clean"), &data);
    plant(&data);
    let out = tmp.path().join("out");
    let o = run(&data, &mappings(), &out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let note = planted_note(&out);
    for c in CANARIES {
        assert!(!note.contains(c), "{c:?} survived: {note}");
    }
    for kept in [
        "Spoke with",
        "was there. Plan agreed with school.",
        "Phone",
        "[date]",
    ] {
        assert!(note.contains(kept), "{kept:?} lost: {note}");
    }
}

#[test]
fn values_kept_with_keep_unmapped_are_scrubbed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(&root().join("examples/mosaic-clean"), &data);
    // A column no mapping reads, holding a date of birth and a postcode.
    let notes = data.join("CASE_NOTES.csv");
    let text = std::fs::read(&notes).unwrap();
    let mut lines: Vec<Vec<u8>> = text.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    lines.retain(|l| !l.is_empty());
    let header = String::from_utf8(lines[0].clone()).unwrap();
    let mut out_text = format!("{},EXTRA\r\n", header.trim_end());
    out_text.push_str(
        "3999992,100002,PHONE,Call,11/03/2025 08:23,11/03/2025 08:25,egallagher01,Fine,N,COMPLETE,\"born 03/07/1996 at LU3 1XY, keeps bees\"\r\n",
    );
    std::fs::write(&notes, out_text).unwrap();
    let out = tmp.path().join("out");
    let o = run(&data, &mappings(), &out, &["--keep-unmapped"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let written = std::fs::read_to_string(out.join("CASE_NOTES.csv")).unwrap();
    assert!(
        !written.contains("03/07/1996") && !written.contains("LU3 1XY"),
        "{written}"
    );
    assert!(written.contains("keeps bees"), "{written}");
}

#[test]
fn windows_1252_input_is_written_back_in_windows_1252() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let input = root().join("examples/mosaic-clean/CASE_NOTES.csv");
    assert!(std::str::from_utf8(&std::fs::read(&input).unwrap()).is_err());
    let o = run(
        &root().join("examples/mosaic-clean"),
        &mappings(),
        &out,
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let bytes = std::fs::read(out.join("CASE_NOTES.csv")).unwrap();
    assert!(std::str::from_utf8(&bytes).is_err(), "written as UTF-8");
    assert!(!bytes.starts_with(&[0xef, 0xbb, 0xbf]));
    // And it reads back as Windows-1252 with the other words intact.
    let (text, _, bad) = encoding_rs::WINDOWS_1252.decode(&bytes);
    assert!(!bad && text.contains("no answer"));
}

// An `auto` file mixing Windows-1252 rows with UTF-8 rows holding letters
// Windows-1252 lacks: the copy, written in Windows-1252, used to carry
// `&#321;` for `Ł` (exit 0). Such a row is written in UTF-8, as it was read.
#[test]
fn a_utf8_row_of_a_windows_1252_file_keeps_its_letters() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(&root().join("examples/mosaic-clean"), &data);
    let notes = data.join("CASE_NOTES.csv");
    assert!(std::str::from_utf8(&std::fs::read(&notes).unwrap()).is_err());
    append(
        &notes,
        concat!(
            "3999993,100002,PHONE,Call,11/03/2025 08:23,11/03/2025 08:25,egallagher01,",
            "\"Moved to Łódź, keeps bees\",N,COMPLETE\r\n"
        ),
    );
    let out = tmp.path().join("out");
    let o = run(&data, &mappings(), &out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let bytes = std::fs::read(out.join("CASE_NOTES.csv")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains("&#"), "a letter garbled");
    let row = bytes
        .split(|b| *b == b'\n')
        .find(|l| l.windows(10).any(|w| w == b"keeps bees"))
        .expect("the note is written");
    let row = std::str::from_utf8(row).expect("the row is UTF-8, as read");
    assert!(row.contains("Łódź, keeps bees"), "{row}");
    // The rest of the copy is still Windows-1252, as the input.
    let (all, _, _) = encoding_rs::WINDOWS_1252.decode(&bytes);
    assert!(all.contains("no answer"));
    assert!(std::str::from_utf8(&bytes).is_err(), "still Windows-1252");
}

#[test]
fn the_pseudonymise_summary_says_written_not_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(
        &root().join("examples/mosaic-clean"),
        &mappings(),
        &tmp.path().join("out"),
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = stdout(&o);
    assert!(s.contains(" written, "), "{s}");
    // Neither the totals nor the files' lines call written records valid.
    assert!(
        !s.lines()
            .any(|l| l.contains(" records ") && l.contains(" valid ")),
        "{s}"
    );
    assert!(!s.contains(" valid, "), "{s}");
}

#[test]
fn a_date_in_a_two_column_key_is_shifted_not_hashed() {
    // SSDA903 episodes: the key is CHILD + DECOM.
    let tmp = tempfile::tempdir().unwrap();
    let maps = tmp.path().join("maps");
    std::fs::create_dir_all(&maps).unwrap();
    std::fs::write(
        maps.join("episodes.toml"),
        r#"[mapping]
id = "ssda903-episodes"
version = "1.0.0"
kind = "involvement"
system = "ssda903"

[source]
glob = "episodes*.csv"
date_formats = ["dd/mm/yyyy"]
columns = ["CHILD", "DECOM", "RNE", "DEC"]

[fields.source_key]
columns = ["CHILD", "DECOM"]
separator = "/"
required = true

[fields.person]
column = "CHILD"
required = true

[fields.start_date]
column = "DECOM"
required = true

[fields.end_date]
column = "DEC"
"#,
    )
    .unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("episodes.csv"),
        "CHILD,DECOM,RNE,DEC\r\n700001,01/04/2020,P,15/05/2020\r\n700001,15/05/2020,P,\r\n700002,03/02/2021,S,10/02/2021\r\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    let o = run(&data, &maps, &out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(out.join("episodes.csv")).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let date = |s: &str| chrono::NaiveDate::parse_from_str(s, "%d/%m/%Y").unwrap();
    for r in &rows {
        assert!(
            r[0].len() == 6 && r[0].bytes().all(|b| b.is_ascii_digit()),
            "{r:?}"
        );
        date(r[1]);
    }
    // The child's episodes keep their intervals: shifted, not hashed.
    assert_eq!(rows[0][0], rows[1][0]);
    assert_eq!(
        rows[0][3], rows[1][1],
        "one episode ends as the next starts"
    );
    assert_eq!((date(rows[0][3]) - date(rows[0][1])).num_days(), 44);
    // And the extract still validates as the input does.
    let (code_in, _, _) = validate_json(&[&data], &maps, &[]);
    let (code_out, report, _) = validate_json(&[&out], &maps, &[]);
    assert_eq!(code_in, code_out, "{}", report["summary"]);
}
