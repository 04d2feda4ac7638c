//! A go-live gate that cannot pass by accident: a run that checked nothing
//! exits 2 saying why; files given twice, FIFOs, record paths that match
//! nothing and keys used twice are all reported. See issue 9.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `casebridge validate ARGS --format json -q`, killed after 60 s so
/// that a run blocking on a FIFO fails the test instead of hanging it.
fn validate(args: &[&std::ffi::OsStr]) -> (i32, serde_json::Value, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_casebridge"))
        .args(["--no-audit", "validate"])
        .args(args)
        .args(["--as-of", "2026-11-01", "--format", "json", "-q"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Both pipes are read while the child runs (a report larger than a
    // pipe's buffer would otherwise block it).
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf).map(|_| buf)
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("validate did not finish in 60 s (blocked on an input?)");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = stdout.join().unwrap().unwrap();
    let err = stderr.join().unwrap().unwrap();
    let v = serde_json::from_slice(&out).unwrap_or(serde_json::Value::Null);
    (
        status.code().unwrap(),
        v,
        String::from_utf8_lossy(&err).into_owned(),
    )
}

fn os<P: AsRef<std::ffi::OsStr> + ?Sized>(p: &P) -> &std::ffi::OsStr {
    p.as_ref()
}

fn findings<'a>(v: &'a serde_json::Value, rule: &str) -> Vec<&'a serde_json::Value> {
    v["findings"]
        .as_array()
        .map(|a| a.iter().filter(|f| f["rule"] == rule).collect())
        .unwrap_or_default()
}

fn cin_return(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::copy(root().join("examples/cin/CIN_Census.xml"), &p).unwrap();
    p
}

#[test]
fn a_folder_whose_only_file_no_mapping_fits_checks_nothing_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    cin_return(dir.path(), "fake_CIN_data.xml");
    let cin = root().join("mappings/cin");
    let (code, v, _) = validate(&[os(dir.path()), os("-m"), os(&cin)]);
    assert_eq!(code, 2, "{v}");
    let nothing = findings(&v, "run.nothing-checked");
    assert_eq!(nothing.len(), 1, "{v}");
    assert!(nothing[0]["message"].as_str().unwrap().contains("CIN*.xml"));
    let skipped = findings(&v, "file.skipped");
    assert!(skipped[0]["message"]
        .as_str()
        .unwrap()
        .contains("tried: CIN*.xml"));
    // Both mappings of the set read nothing: each is named.
    let unused = findings(&v, "mapping.unused");
    assert_eq!(unused.len(), 2, "{v}");
}

#[test]
fn an_xml_whose_record_path_matches_nothing_is_a_file_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(root().join("examples/cin/CIN_Census.xml")).unwrap();
    for (name, text) in [
        (
            "CIN_lower.xml",
            good.replace("<Child>", "<child>")
                .replace("</Child>", "</child>"),
        ),
        (
            "CIN_foo.xml",
            "<?xml version=\"1.0\"?>\n<Foo><Bar>1</Bar></Foo>\n".to_string(),
        ),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let (code, v, _) = validate(&[os(&p), os("-m"), os(&root().join("mappings/cin"))]);
        assert_eq!(code, 2, "{name}: {v}");
        assert_eq!(findings(&v, "xml.no-records").len(), 1, "{name}: {v}");
    }
}

#[test]
fn a_mapping_file_whose_glob_fits_no_named_input_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let p = cin_return(dir.path(), "CIN_Census.xml");
    // The Mosaic set fits no CIN file: every mapping is unused, nothing checked.
    let (code, v, _) = validate(&[os(&p), os("-m"), os(&root().join("mappings/mosaic"))]);
    assert_eq!(code, 2, "{v}");
    let no_mapping = findings(&v, "file.no-mapping");
    assert!(no_mapping[0]["message"]
        .as_str()
        .unwrap()
        .contains("DM_PERSONS*.{csv,xlsx}"));
    assert!(findings(&v, "mapping.unused").len() >= 6, "{v}");
}

#[cfg(unix)]
#[test]
fn a_fifo_in_a_folder_is_skipped_and_a_named_device_refused_never_opened() {
    let dir = tempfile::tempdir().unwrap();
    cin_return(dir.path(), "CIN_Census.xml");
    let fifo = dir.path().join("CIN_pipe.xml");
    let st = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(st.success());
    let cin = root().join("mappings/cin");
    let (code, v, _) = validate(&[os(dir.path()), os("-m"), os(&cin)]);
    assert_eq!(code, 1, "the return is checked, the FIFO skipped: {v}");
    let skipped = findings(&v, "file.skipped");
    assert!(skipped
        .iter()
        .any(|f| f["file"].as_str().unwrap().ends_with("CIN_pipe.xml")));
    // A socket or device named on the command line is refused (a FIFO
    // named there is streamed: tests/security.rs pipes 2 GiB through one).
    let (code, v, _) = validate(&[os("/dev/null"), os("-m"), os(&cin)]);
    assert_eq!(code, 2, "{v}");
    assert_eq!(findings(&v, "file.not-regular").len(), 1, "{v}");
}

// A folder's files are read, not its folders': a folder inside an input
// folder used to be passed over without a word, so its files (here one that
// fits a mapping) were neither read nor reported.
#[test]
fn a_folder_inside_an_input_folder_is_reported_not_passed_over() {
    let dir = tempfile::tempdir().unwrap();
    let persons = root().join("examples/mosaic-clean/DM_PERSONS.csv");
    std::fs::copy(&persons, dir.path().join("DM_PERSONS.csv")).unwrap();
    std::fs::create_dir(dir.path().join("2024")).unwrap();
    std::fs::copy(&persons, dir.path().join("2024/DM_PERSONS_2024.csv")).unwrap();
    let m = root().join("mappings/mosaic");
    let (code, v, _) = validate(&[os(dir.path()), os("-m"), os(&m)]);
    assert_eq!(code, 0, "{v}");
    let skipped = findings(&v, "file.skipped");
    let folder: Vec<_> = skipped
        .iter()
        .filter(|f| f["file"].as_str().unwrap().ends_with("2024"))
        .collect();
    assert_eq!(folder.len(), 1, "{v}");
    assert!(
        folder[0]["message"]
            .as_str()
            .unwrap()
            .contains("not read recursively"),
        "{v}"
    );
    let files = v["summary"]["files"].as_array().unwrap();
    assert!(
        files
            .iter()
            .any(|f| f["file"].as_str().unwrap().ends_with("2024") && f["status"] == "skipped"),
        "{v}"
    );
    // Named as an input, its files are read.
    let (code, v, _) = validate(&[
        os(dir.path()),
        os(&dir.path().join("2024")),
        os("-m"),
        os(&m),
    ]);
    assert_eq!(code, 1, "the same persons twice: {v}");
    assert!(!findings(&v, "key.duplicate").is_empty(), "{v}");
    assert!(
        findings(&v, "file.skipped").is_empty(),
        "read, so not skipped: {v}"
    );
}

// A header with a column name twice used to be read as if it were not:
// the first column read, the second carried under the same name and lost
// when written back.
#[test]
fn a_column_name_twice_in_a_header_stops_that_file_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("DM_PERSONS.csv");
    std::fs::write(
        &p,
        "PERSON_ID,FIRST_NAME,LAST_NAME,FIRST_NAME,DATE_OF_BIRTH,GENDER\n\
         100001,Ann,Smith,Ann Smith,01/02/2015,F\n",
    )
    .unwrap();
    let notes = root().join("examples/mosaic-clean/CASE_NOTES.csv");
    let m = root().join("mappings/mosaic");
    let (code, v, _) = validate(&[os(&p), os(&notes), os("-m"), os(&m)]);
    assert_eq!(code, 2, "{v}");
    let header = findings(&v, "file.header");
    assert_eq!(header.len(), 1, "{v}");
    let message = header[0]["message"].as_str().unwrap();
    assert!(
        message.contains("column `FIRST_NAME` is in the file's header 2 times (columns 2, 4)"),
        "{message}"
    );
    assert!(
        !message.contains("Ann"),
        "values stay out of messages: {message}"
    );
    assert!(
        v["summary"]["records_read"].as_u64().unwrap() > 0,
        "the notes are read: {v}"
    );
}

// A column with no name cannot be read by a mapping, nor carried by its
// name: its values used to vanish without a word.
#[test]
fn values_in_a_column_with_no_name_are_a_warning_and_empty_ones_none() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("DM_PERSONS.csv");
    std::fs::write(
        &p,
        "PERSON_ID,FIRST_NAME,LAST_NAME,DATE_OF_BIRTH,GENDER,, ,\n\
         100001,Ann,Smith,01/02/2015,F,,,\n\
         100002,Bob,Jones,03/04/2016,M,Care leaver,,\n\
         100003,Cat,Brown,05/06/2017,F,Adopted,,\n",
    )
    .unwrap();
    let m = root().join("mappings/mosaic");
    let (code, v, _) = validate(&[os(&p), os("-m"), os(&m)]);
    assert_eq!(code, 0, "{v}");
    let w = findings(&v, "file.column-unnamed");
    assert_eq!(w.len(), 1, "only the column that holds values: {v}");
    assert_eq!(w[0]["line"], 3, "{v}");
    let message = w[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("column 6 has no name in the header but holds values in 2 records"),
        "{message}"
    );
    assert!(
        !message.contains("Care") && !message.contains("Adopted"),
        "values stay out: {message}"
    );
    // Export, which builds records (and carries named columns), says so too.
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_casebridge"))
        .args([
            "--no-audit",
            "-q",
            "export",
            "--as-of",
            "2026-11-01",
            "--to",
            "jsonl",
        ])
        .arg(&p)
        .arg("-m")
        .arg(&m)
        .arg("--out")
        .arg(out.path().join("o"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert_eq!(text.matches("column 6 has no name").count(), 1, "{text}");
}

#[test]
fn a_file_given_twice_is_read_once_with_a_warning() {
    let persons = root().join("examples/mosaic/DM_PERSONS.csv");
    let m = root().join("mappings/mosaic");
    let (_, once, _) = validate(&[os(&persons), os("-m"), os(&m)]);
    let (_, twice, _) = validate(&[os(&persons), os(&persons), os("-m"), os(&m)]);
    assert_eq!(
        once["summary"]["records_read"], twice["summary"]["records_read"],
        "{twice}"
    );
    assert_eq!(findings(&twice, "file.repeated").len(), 1);
    assert!(findings(&twice, "key.duplicate").is_empty());
}

#[test]
fn the_same_key_twice_in_one_system_names_both_places() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("DM_PERSONS.csv");
    std::fs::write(
        &p,
        "PERSON_ID,FIRST_NAME,LAST_NAME,FULL_NAME,DATE_OF_BIRTH,AGE_ESTIMATED,DATE_OF_DEATH,GENDER,NHS_ID,UPN_ID,FULL_ETHNICITY_CODE,IS_CHILD_LEGACY\n\
         100001,Ann,Smith,,01/02/2015,N,,F,,,WBRI,Y\n\
         100002,Bob,Jones,,03/04/2016,N,,M,,,WBRI,Y\n\
         100001,Cat,Brown,,05/06/2017,N,,F,,,WBRI,Y\n",
    )
    .unwrap();
    let (code, v, _) = validate(&[os(&p), os("-m"), os(&root().join("mappings/mosaic"))]);
    assert_eq!(code, 1, "{v}");
    let dup = findings(&v, "key.duplicate");
    assert_eq!(dup.len(), 1, "{v}");
    assert_eq!(dup[0]["line"], 4);
    assert_eq!(dup[0]["field"], "PERSON_ID");
    let msg = dup[0]["message"].as_str().unwrap();
    assert!(msg.contains("DM_PERSONS.csv:2"), "{msg}");
    assert!(
        !msg.contains("100001"),
        "no value without --show-values: {msg}"
    );
    assert_eq!(v["summary"]["files"][0]["rejected"], 1);
}

/// Duplicated person rows: every copy found, at its line, naming the first.
#[test]
fn keys_used_twice_are_found_alike_when_the_keys_are_moved_out_of_memory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let st = Command::new(env!("CARGO_BIN_EXE_casebridge-gen"))
        .args(["--seed", "41", "--families", "80", "--error-rate", "0.03"])
        .args([
            "--as-of",
            "2026-11-01",
            "--only",
            "DM_PERSONS,CASE_NOTES",
            "--out",
        ])
        .arg(&data)
        .status()
        .unwrap();
    assert!(st.success());
    // Every fifth person again, at the end of the file and in a second file.
    let persons = data.join("DM_PERSONS.csv");
    let bytes = std::fs::read(&persons).unwrap();
    let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
    let again: Vec<&[u8]> = lines[1..].iter().step_by(5).copied().collect();
    let half = again.len() / 2;
    let mut more = bytes.clone();
    for l in &again[..half] {
        more.extend_from_slice(l);
    }
    std::fs::write(&persons, &more).unwrap();
    let mut second = lines[0].to_vec();
    for l in &again[half..] {
        second.extend_from_slice(l);
    }
    std::fs::write(data.join("DM_PERSONS_2.csv"), &second).unwrap();
    let m = root().join("mappings/mosaic");
    let run = |memory: &str| {
        let (code, v, err) =
            validate(&[os(&data), os("-m"), os(&m), os("--key-memory"), os(memory)]);
        assert_eq!(code, 1, "{err}");
        let mut all: Vec<String> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        all.sort();
        (v, all)
    };
    let (held, held_all) = run("64MiB");
    // The person index moves out too: references are checked alike.
    assert!(!findings(&held, "ref.person-missing").is_empty(), "{held}");
    let dup = findings(&held, "key.duplicate");
    assert_eq!(dup.len(), again.len(), "{held}");
    let first_line = lines.len() + 1;
    let in_first: Vec<_> = dup
        .iter()
        .filter(|f| f["file"].as_str().unwrap().ends_with("DM_PERSONS.csv"))
        .collect();
    assert_eq!(in_first.len(), half);
    assert_eq!(in_first[0]["line"], first_line, "{:?}", in_first[0]);
    assert!(
        dup.iter()
            .all(|f| f["message"].as_str().unwrap().contains("DM_PERSONS.csv:")),
        "{:?}",
        dup[0]
    );
    // A budget of a few hundred keys, and none: the same findings.
    for memory in ["4k", "0"] {
        let (_, all) = run(memory);
        assert_eq!(all, held_all, "--key-memory {memory}");
    }
}
