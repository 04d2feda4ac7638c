//! End-to-end tests of the generator: template, determinism, ground-truth
//! lines, and the validity of clean output.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use casebridge_mapping::{AnswerType, Template};
use casebridge_model::ids::{is_valid_nhs_number, is_valid_postcode, is_valid_upn};
use chrono::{Datelike, NaiveDate, NaiveDateTime};

use crate::tables::TableKind;
use crate::world::{step_type, Role, World};
use crate::{generate, rng, tables::streams, Options};

fn template_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mappings/templates/fs-workbook-v1.toml")
}

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
}

fn opts(dir: &Path, seed: u64, families: usize, err: f64, dup: f64) -> Options {
    let mut o = Options::new(dir, as_of());
    o.seed = seed;
    o.families = families;
    o.error_rate = err;
    o.duplicate_rate = dup;
    o.template = template_path();
    o
}

/// A parsed file: header and records with their start lines, decoded from
/// Windows-1252.
struct Parsed {
    header: Vec<String>,
    records: Vec<(u64, Vec<String>)>,
}

impl Parsed {
    fn col(&self, name: &str) -> usize {
        self.header.iter().position(|h| h == name).unwrap()
    }

    fn by_line(&self) -> BTreeMap<u64, &Vec<String>> {
        self.records.iter().map(|(l, r)| (*l, r)).collect()
    }
}

/// Parses a file with the csv crate. The physical line on which a record
/// starts is counted from the record's byte offset: with CRLF terminators the
/// csv crate's `position()` stands on the previous record's `\n`, one line
/// early, so its `line()` is checked against ours rather than used as is.
fn parse(path: &Path) -> Parsed {
    let raw = std::fs::read(path).unwrap();
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(raw.as_slice());
    let mut header = Vec::new();
    let mut records = Vec::new();
    let (mut counted_to, mut newlines) = (0usize, 0u64);
    for (i, rec) in rdr.byte_records().enumerate() {
        let rec = rec.unwrap();
        let pos = rec.position().unwrap();
        let mut start = pos.byte() as usize;
        let on_newline = raw.get(start) == Some(&b'\n');
        if on_newline {
            start += 1;
        }
        newlines += raw[counted_to..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        counted_to = start;
        let line = newlines + 1;
        assert_eq!(line, pos.line() + u64::from(on_newline));
        let fields: Vec<String> = rec
            .iter()
            .map(|f| {
                let (s, _, bad) = encoding_rs::WINDOWS_1252.decode(f);
                assert!(!bad);
                s.into_owned()
            })
            .collect();
        if i == 0 {
            assert_eq!(line, 1);
            header = fields;
        } else {
            records.push((line, fields));
        }
    }
    Parsed { header, records }
}

struct TruthRow {
    file: String,
    line: u64,
    rule: String,
    field: String,
    detail: String,
}

fn truth(dir: &Path) -> Vec<TruthRow> {
    let mut rdr = csv::Reader::from_path(dir.join("ground_truth.csv")).unwrap();
    assert_eq!(
        rdr.headers().unwrap().iter().collect::<Vec<_>>(),
        ["file", "line", "rule", "field", "detail"]
    );
    rdr.records()
        .map(|r| {
            let r = r.unwrap();
            TruthRow {
                file: r[0].to_string(),
                line: r[1].parse().unwrap(),
                rule: r[2].to_string(),
                field: r[3].to_string(),
                detail: r[4].to_string(),
            }
        })
        .collect()
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn uk_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%d/%m/%Y").ok()
}

fn uk_datetime(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, "%d/%m/%Y %H:%M").ok()
}

#[test]
fn template_loads_with_the_workbook_forms() {
    let t = Template::from_path(&template_path()).expect("template loads");
    assert_eq!(t.id, "fs-workbook");
    assert_eq!(t.version, "1");
    let forms: BTreeSet<&str> = t.forms.iter().map(|f| f.code()).collect();
    for f in [
        "chapter_summary",
        "session_record",
        "group_supervision",
        "integrated_family_assessment",
        "parenting_assessment",
        "gcp2",
        "outcome_star",
        "family_plan",
        "review",
    ] {
        assert!(forms.contains(f), "{f}");
    }
    let mut codes = BTreeSet::new();
    for q in t
        .forms
        .iter()
        .flat_map(|f| &f.sections)
        .flat_map(|s| &s.questions)
    {
        let c = q.code();
        assert!(c.starts_with("FSW_") && c == c.to_ascii_uppercase(), "{c}");
        assert!(codes.insert(c.to_string()), "{c} twice");
    }
    let scores = |form: &str| -> Vec<(f64, f64)> {
        t.form_by_code(form)
            .unwrap()
            .sections
            .iter()
            .flat_map(|s| &s.questions)
            .filter(|q| q.ty == AnswerType::Score)
            .map(|q| (q.min.unwrap(), q.max.unwrap()))
            .collect()
    };
    assert_eq!(scores("gcp2"), vec![(1.0, 5.0); 4]);
    assert!(scores("outcome_star").len() >= 8);
    assert!(scores("outcome_star").iter().all(|r| *r == (1.0, 10.0)));
    assert_eq!(scores("session_record"), vec![(0.0, 10.0); 3]);
    let (_, q) = t.question("FSW_REVIEW_DECISION").unwrap();
    assert_eq!(q.values, ["STEP_UP", "STEP_DOWN", "CONTINUE", "CLOSE"]);
    let (_, q) = t.question("FSW_PACAP_CONCLUSION").unwrap();
    assert_eq!(q.values, ["CAPACITY", "LIMITED", "NO_CAPACITY", "UNCLEAR"]);
    let (at, _) = t.question("FSW_SESSION_ATTENDEE_PERSON_ID").unwrap();
    assert!(t.section(at).repeating);
}

#[test]
fn same_seed_gives_identical_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    generate(&opts(a.path(), 5, 12, 0.1, 0.1)).unwrap();
    generate(&opts(b.path(), 5, 12, 0.1, 0.1)).unwrap();
    generate(&opts(c.path(), 6, 12, 0.1, 0.1)).unwrap();
    let (fa, fb, fc) = (files(a.path()), files(b.path()), files(c.path()));
    assert_eq!(fa.len(), 7);
    assert_eq!(fa, fb);
    assert_ne!(fa["CASE_NOTES.csv"], fc["CASE_NOTES.csv"]);
}

#[test]
fn a_table_does_not_depend_on_the_others_written() {
    let all = tempfile::tempdir().unwrap();
    let some = tempfile::tempdir().unwrap();
    generate(&opts(all.path(), 9, 10, 0.05, 0.05)).unwrap();
    let mut o = opts(some.path(), 9, 10, 0.05, 0.05);
    o.only = vec![TableKind::CaseNotes, TableKind::Persons];
    generate(&o).unwrap();
    let (fa, fs) = (files(all.path()), files(some.path()));
    assert_eq!(fs.len(), 3);
    assert_eq!(fa["CASE_NOTES.csv"], fs["CASE_NOTES.csv"]);
    assert_eq!(fa["DM_PERSONS.csv"], fs["DM_PERSONS.csv"]);
}

#[test]
fn ground_truth_lines_are_record_starts_and_show_the_fault() {
    let dir = tempfile::tempdir().unwrap();
    let s = generate(&opts(dir.path(), 3, 30, 0.15, 0.08)).unwrap();
    let gt = truth(dir.path());
    assert!(gt.len() > 200, "{}", gt.len());
    assert_eq!(gt.len() as u64, s.faults() + s.duplicates());
    let rules: BTreeSet<&str> = gt.iter().map(|t| t.rule.as_str()).collect();
    for r in [
        "field.required",
        "field.type",
        "field.code",
        "ref.person-missing",
        "csv.ragged-row",
        "date.end-before-start",
        "date.future",
        "workbook.answer-value",
        "duplicate.person",
        "duplicate.note-exact",
        "duplicate.note-near",
    ] {
        assert!(rules.contains(r), "{r} missing from {rules:?}");
    }
    let mut parsed = BTreeMap::new();
    for t in TableKind::ALL {
        parsed.insert(t.file().to_string(), parse(&dir.path().join(t.file())));
    }
    // Multi-line notes exist, so physical lines and record numbers differ.
    let notes = &parsed["CASE_NOTES.csv"];
    let (last_line, _) = notes.records.last().unwrap();
    assert!(*last_line > notes.records.len() as u64 + 100);
    let persons = &parsed["DM_PERSONS.csv"];
    let person_ids: BTreeSet<&str> = persons.records.iter().map(|(_, r)| r[0].as_str()).collect();
    let template = Template::from_path(&template_path()).unwrap();
    let mut seen = BTreeSet::new();
    for t in &gt {
        assert!(
            seen.insert((t.file.clone(), t.line)),
            "two ground-truth rows on {}:{}",
            t.file,
            t.line
        );
        let p = &parsed[&t.file];
        let lines = p.by_line();
        let rec = lines
            .get(&t.line)
            .unwrap_or_else(|| panic!("{}:{} is not a record start", t.file, t.line));
        assert!(!t.detail.is_empty());
        if t.rule == "csv.ragged-row" {
            assert!(t.field.is_empty());
            assert_ne!(rec.len(), p.header.len(), "{}:{}", t.file, t.line);
            assert_ne!(t.file, "DM_PERSONS.csv");
            continue;
        }
        assert_eq!(rec.len(), p.header.len(), "{}:{}", t.file, t.line);
        if t.rule.starts_with("duplicate.") {
            assert!(t.field.is_empty());
            let of = t.detail.strip_prefix("of ").unwrap();
            let orig = p.records.iter().find(|(_, r)| r[0] == of).unwrap();
            assert_ne!(rec[0], of);
            match t.rule.as_str() {
                "duplicate.note-exact" => assert_eq!(rec[1..], orig.1[1..]),
                "duplicate.note-near" => {
                    assert_eq!(rec[1..7], orig.1[1..7]);
                    assert_ne!(rec[7], orig.1[7]);
                }
                _ => assert_eq!(rec[10], orig.1[10]),
            }
            continue;
        }
        let v = &rec[p.col(&t.field)];
        match t.rule.as_str() {
            "field.required" => assert!(v.is_empty()),
            "field.type" => assert!(
                uk_date(v).is_none() && uk_datetime(v).is_none() && v.parse::<f64>().is_err(),
                "{v}"
            ),
            "field.code" => assert!(!v.is_empty()),
            "person.nhs-number" => assert!(!is_valid_nhs_number(v)),
            "person.upn" => assert!(!is_valid_upn(v)),
            "address.postcode" => assert!(!is_valid_postcode(v)),
            "person.dob-future" => assert!(
                uk_date(v).unwrap() > as_of(),
                "{}:{} {v} {rec:?}",
                t.file,
                t.line
            ),
            "person.dob-implausible" => {
                assert!(uk_date(v).unwrap() < NaiveDate::from_ymd_opt(1900, 1, 1).unwrap())
            }
            "date.future" => assert!(uk_datetime(v).unwrap().date() > as_of()),
            "ref.person-missing" => assert!(!person_ids.contains(v.as_str())),
            "date.end-before-start" => {
                let start = if t.file == "DM_ADDRESSES.csv" {
                    "START_DATE"
                } else {
                    "STARTED_ON"
                };
                let s = &rec[p.col(start)];
                let before = match (uk_date(v), uk_date(s)) {
                    (Some(e), Some(s)) => e < s,
                    _ => uk_datetime(v).unwrap() < uk_datetime(s).unwrap(),
                };
                assert!(before, "{v} {s}");
            }
            "workbook.answer-range" => {
                let n: f64 = v.parse().unwrap();
                let (_, q) = template
                    .question(&rec[p.col("QUESTION_USER_CODE")])
                    .unwrap();
                assert!(n < q.min.unwrap() || n > q.max.unwrap(), "{n}");
            }
            "workbook.answer-value" => {
                let (_, q) = template
                    .question(&rec[p.col("QUESTION_USER_CODE")])
                    .unwrap();
                assert!(!v.is_empty() && !q.values.contains(v), "{v}");
            }
            "workbook.unknown-question" => {
                assert!(!v.is_empty() && template.question(v).is_none(), "{v}");
            }
            r => panic!("unexpected rule {r}"),
        }
    }
}

#[test]
fn clean_output_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let s = generate(&opts(dir.path(), 11, 40, 0.0, 0.0)).unwrap();
    assert_eq!(s.faults(), 0);
    let gt = std::fs::read(dir.path().join("ground_truth.csv")).unwrap();
    assert_eq!(gt, b"file,line,rule,field,detail\n");
    let as_of = as_of();
    // CRLF everywhere, Windows-1252 text with non-ASCII names and symbols.
    let notes_raw = std::fs::read(dir.path().join("CASE_NOTES.csv")).unwrap();
    assert!(notes_raw.starts_with(b"ID,PERSON_ID,NOTE_TYPE,TITLE,"));
    for (i, b) in notes_raw.iter().enumerate() {
        if *b == b'\n' {
            assert_eq!(notes_raw[i - 1], b'\r');
        }
    }
    assert!(notes_raw.contains(&0xA3) && notes_raw.contains(&0x96)); // £ and –
    let persons_raw = std::fs::read(dir.path().join("DM_PERSONS.csv")).unwrap();
    assert!(std::str::from_utf8(&persons_raw).is_err());

    let persons = parse(&dir.path().join("DM_PERSONS.csv"));
    assert_eq!(persons.header, TableKind::Persons.columns());
    let mut ids = BTreeSet::new();
    let mut adults_without_nhs = 0;
    let mut adults = 0;
    for (_, r) in &persons.records {
        assert!(ids.insert(r[0].clone()));
        let dob = uk_date(&r[4]).unwrap();
        assert!(dob < as_of);
        let child = r[11] == "Y";
        if child {
            assert!(!r[8].is_empty());
        } else {
            adults += 1;
        }
        if r[8].is_empty() {
            adults_without_nhs += 1;
        } else {
            assert!(
                is_valid_nhs_number(&r[8]) && r[8].starts_with("999"),
                "{}",
                r[8]
            );
        }
        if !r[9].is_empty() {
            assert!(child && is_valid_upn(&r[9]), "{}", r[9]);
            assert_eq!(r[9].len(), 13);
        }
        assert!(["M", "F", "U", "I"].contains(&r[7].as_str()));
        assert!(r[10].len() == 4);
        if !r[6].is_empty() {
            let dod = uk_date(&r[6]).unwrap();
            assert!(dod > dob && dod < as_of);
        }
    }
    assert!(adults_without_nhs > 0 && adults_without_nhs < adults / 3);
    let all_names: String = persons.records.iter().map(|(_, r)| r[3].clone()).collect();
    assert!(!all_names.is_ascii());

    let addresses = parse(&dir.path().join("DM_ADDRESSES.csv"));
    for (_, r) in &addresses.records {
        assert!(ids.contains(&r[1]));
        assert!(r[2].contains(','));
        assert!(is_valid_postcode(&r[3]), "{}", r[3]);
        assert!(r[4] == "HOME" || r[4] == "PREV");
        let start = uk_date(&r[5]).unwrap();
        assert!(start < as_of);
        match r[4].as_str() {
            "HOME" => assert!(r[6].is_empty()),
            _ => assert!(uk_date(&r[6]).unwrap() > start),
        }
    }

    let rels = parse(&dir.path().join("DM_PERSONAL_RELATIONSHIPS.csv"));
    let pairs: BTreeSet<(String, String)> = rels
        .records
        .iter()
        .map(|(_, r)| (r[1].clone(), r[2].clone()))
        .collect();
    for (_, r) in &rels.records {
        assert!(ids.contains(&r[1]) && ids.contains(&r[2]));
        assert!(pairs.contains(&(r[2].clone(), r[1].clone())), "no reverse");
        assert_eq!(r[4] == "Y", r[3] == "MOTHER");
        if let (Some(s), Some(e)) = (uk_date(&r[6]), uk_date(&r[7])) {
            assert!(e > s);
        }
        for d in [&r[6], &r[7]] {
            if !d.is_empty() {
                assert!(uk_date(d).unwrap() < as_of);
            }
        }
    }

    let notes = parse(&dir.path().join("CASE_NOTES.csv"));
    let mut note_ids = BTreeSet::new();
    let mut multi_para = 0;
    for (_, r) in &notes.records {
        assert!(note_ids.insert(r[0].clone()));
        assert!(ids.contains(&r[1]));
        let eff = uk_datetime(&r[4]).unwrap();
        let created = uk_datetime(&r[5]).unwrap();
        assert!(eff <= created && created.date() < as_of);
        let len = encoding_rs::WINDOWS_1252.encode(&r[7]).0.len();
        assert!((200..=2500).contains(&len), "{len}");
        multi_para += usize::from(r[7].contains("\r\n"));
    }
    assert!(multi_para > notes.records.len() / 4);

    let steps = parse(&dir.path().join("DM_WORKFLOW_STEPS.csv"));
    let mut step_rows: BTreeMap<String, usize> = BTreeMap::new();
    let mut step_types: BTreeMap<String, String> = BTreeMap::new();
    for (_, r) in &steps.records {
        *step_rows.entry(r[0].clone()).or_default() += 1;
        step_types.insert(r[0].clone(), r[1].clone());
        assert!(ids.contains(&r[2]));
        let ty: u32 = r[1].parse().unwrap();
        assert!(step_type::ALL.contains(&ty));
        let inc = uk_datetime(&r[5]).unwrap();
        let start = uk_datetime(&r[6]).unwrap();
        assert!(inc <= start && start.date() < as_of);
        if r[4] == "COMPLETED" {
            let done = uk_datetime(&r[7]).unwrap();
            assert!(done >= start && done.date() < as_of);
        } else {
            assert!(r[7].is_empty());
        }
    }
    assert!(
        step_rows.values().any(|n| *n > 1),
        "sibling groups share steps"
    );

    // Form answers: typed, within range and values, on 1009/1010 steps.
    let t = Template::from_path(&template_path()).unwrap();
    let forms = parse(&dir.path().join("DM_CACHED_FORM_ANSWERS.csv"));
    let mut form_codes = BTreeSet::new();
    let mut row_ids: BTreeMap<String, String> = BTreeMap::new();
    let mut per_child = 0;
    for (_, r) in &forms.records {
        let (at, q) = t.question(&r[4]).unwrap();
        form_codes.insert(t.form(at).code().to_string());
        assert!(["1009", "1010"].contains(&step_types[&r[1]].as_str()));
        if r[3] != "0" {
            assert!(ids.contains(&r[3]));
            per_child += 1;
        }
        let (text, date, number) = (&r[5], &r[6], &r[7]);
        match q.ty {
            AnswerType::Text => assert!(!text.is_empty() && date.is_empty() && number.is_empty()),
            AnswerType::Code => assert!(q.values.contains(text), "{text}"),
            AnswerType::MultiCode => {
                assert!(text.split(';').all(|p| q.values.iter().any(|v| v == p)))
            }
            AnswerType::Boolean => assert!(text == "Y" || text == "N"),
            AnswerType::Date | AnswerType::Datetime => {
                let d = NaiveDateTime::parse_from_str(date, "%Y-%m-%d %H:%M:%S").unwrap();
                assert!(d.date() < as_of && text.is_empty() && number.is_empty());
            }
            AnswerType::Score | AnswerType::Integer | AnswerType::Decimal => {
                let n: f64 = number.parse().unwrap();
                assert!(q.min.is_none_or(|m| n >= m) && q.max.is_none_or(|m| n <= m));
                assert!(q.ty == AnswerType::Decimal || n.fract() == 0.0);
                assert!(text.is_empty() && date.is_empty());
            }
        }
        if t.section(at).repeating {
            // A repeating row belongs to one form.
            let prev = row_ids.insert(r[8].clone(), r[0].clone());
            assert!(prev.is_none_or(|f| f == r[0]));
        } else {
            assert!(r[8].is_empty());
        }
    }
    assert!(per_child > 0);
    let all_forms: BTreeSet<String> = t.forms.iter().map(|f| f.code().to_string()).collect();
    assert_eq!(form_codes, all_forms);
}

#[test]
fn families_are_plausible() {
    let w = World::build(
        &mut rng(4, streams::POPULATION),
        &mut rng(4, streams::STEPS),
        300,
        as_of(),
    );
    let age = |d: NaiveDate| as_of().years_since(d).unwrap();
    for (fi, f) in w.families.iter().enumerate() {
        assert!((1..=5).contains(&f.children.len()));
        assert!((1..=3).contains(&f.adults.len()));
        assert!(w.carers(fi).count() >= 1);
        let eldest = f.children.iter().map(|c| w.persons[*c].dob).min().unwrap();
        for c in &f.children {
            let p = &w.persons[*c];
            assert!(p.dob < as_of() && age(p.dob) <= 17);
            assert_eq!(p.role, Role::Child);
        }
        for a in &f.adults {
            let p = &w.persons[*a];
            assert!(
                (18..=60).contains(&age(p.dob)),
                "{:?} {}",
                p.role,
                age(p.dob)
            );
            assert!(p.dob < eldest, "{:?} younger than a child", p.role);
        }
        let mut prev = None;
        for s in &f.steps {
            assert!(prev.is_none_or(|p| s.id > p));
            prev = Some(s.id);
        }
        assert!(f.steps.iter().any(|s| s.ty == step_type::WORKBOOK));
    }
}

#[test]
fn case_notes_override_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path(), 2, 7, 0.0, 0.0);
    o.case_notes = Some(1234);
    o.only = vec![TableKind::CaseNotes];
    let s = generate(&o).unwrap();
    assert_eq!(s.tables.len(), 1);
    assert_eq!(s.tables[0].rows, 1234);
    assert_eq!(
        parse(&dir.path().join("CASE_NOTES.csv")).records.len(),
        1234
    );
}

/// The shipped examples and the options that make them (see
/// examples/README.md): Mosaic CSV at as-of 2026-11-01; the CIN census at
/// as-of 2026-04-01 (reference date 2026-03-31, collection year 2026); the
/// XLSX tables and the SSDA903 tables at 2026-11-01.
fn shipped_examples() -> Vec<(&'static str, Options)> {
    let mut v = Vec::new();
    let tmp = Path::new("unused");
    for (name, seed, families, err, dup) in [
        ("mosaic", 7, 25, 0.03, 0.05),
        ("mosaic-clean", 11, 15, 0.0, 0.0),
    ] {
        v.push((name, opts(tmp, seed, families, err, dup)));
    }
    let mut cin = opts(tmp, 7, 40, 0.1, 0.0);
    cin.as_of = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
    cin.only = vec![TableKind::CinCensus];
    v.push(("cin", cin));
    let mut sheet = opts(tmp, 3, 8, 0.05, 0.0);
    sheet.format = crate::Format::Xlsx;
    v.push(("sheet", sheet));
    let mut ssda903 = opts(tmp, 1, 10, 0.15, 0.0);
    ssda903.only = TableKind::SSDA903.to_vec();
    v.push(("ssda903", ssda903));
    v
}

#[test]
fn shipped_examples_are_up_to_date() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    // Only what the generator writes: a directory may hold other files
    // (a run configuration, notes).
    let generated = |name: &String| [".csv", ".xlsx", ".xml"].iter().any(|e| name.ends_with(e));
    for (name, mut o) in shipped_examples() {
        let dir = tempfile::tempdir().unwrap();
        o.out = dir.path().to_path_buf();
        generate(&o).unwrap();
        let mut shipped = files(&examples.join(name));
        shipped.retain(|k, _| generated(k));
        let fresh = files(dir.path());
        assert_eq!(
            shipped.keys().collect::<Vec<_>>(),
            fresh.keys().collect::<Vec<_>>(),
            "examples/{name}"
        );
        for (file, bytes) in &fresh {
            assert!(
                shipped[file] == *bytes,
                "examples/{name}/{file} is stale: regenerate it (see examples/README.md)"
            );
        }
        let total: usize = shipped.values().map(Vec::len).sum();
        assert!(total < 1_000_000, "examples/{name} is {total} bytes");
    }
    // The CIN example's header is the 2025-26 collection.
    let cin = std::fs::read_to_string(examples.join("cin/CIN_Census.xml")).unwrap();
    assert!(
        cin.contains("<Year>2026</Year>")
            && cin.contains("<ReferenceDate>2026-03-31</ReferenceDate>")
    );
    let rules = check_cin(
        &examples.join("cin"),
        NaiveDate::from_ymd_opt(2026, 4, 1).unwrap(),
    );
    assert!(rules.len() >= 8, "{rules:?}");
}

/// A record of `CIN_Census.xml`: its start line, whether it is a `Child`
/// (else a `CINdetails`), and its leaf elements by path relative to it
/// (repeated elements in order; an empty element has an empty value).
#[derive(Debug)]
struct XmlRecord {
    child: bool,
    fields: BTreeMap<String, Vec<String>>,
}

impl XmlRecord {
    fn one(&self, path: &str) -> Option<&str> {
        self.fields.get(path).map(|v| {
            assert_eq!(v.len(), 1, "{path} repeated");
            v[0].as_str()
        })
    }
}

/// Parses the CIN census with quick-xml (which checks well-formedness and
/// end-tag names), returning the header's leaves and the records by line.
fn parse_cin(path: &Path) -> (BTreeMap<String, String>, BTreeMap<u64, XmlRecord>) {
    use quick_xml::events::Event;
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
    assert!(!text.contains('\r'));
    let mut r = quick_xml::Reader::from_str(&text);
    r.config_mut().trim_text(true);
    // Line of a byte offset, counted incrementally (offsets only grow).
    let (mut counted_to, mut newlines) = (0usize, 0u64);
    let mut line_at = |pos: usize| {
        newlines += memchr::memchr_iter(b'\n', &text.as_bytes()[counted_to..pos]).count() as u64;
        counted_to = pos;
        newlines + 1
    };
    let mut stack: Vec<String> = Vec::new();
    // (line, depth in stack of the record element) of the open records.
    let mut open: Vec<(u64, usize)> = Vec::new();
    let mut records: BTreeMap<u64, XmlRecord> = BTreeMap::new();
    let mut header = BTreeMap::new();
    let mut leaf_text: Option<String> = None;
    let record_leaf = |stack: &[String],
                       open: &[(u64, usize)],
                       records: &mut BTreeMap<u64, XmlRecord>,
                       header: &mut BTreeMap<String, String>,
                       name: &str,
                       value: String| {
        match open.last() {
            Some((line, depth)) => {
                let mut rel: Vec<&str> = stack[depth + 1..].iter().map(String::as_str).collect();
                rel.push(name);
                records
                    .get_mut(line)
                    .unwrap()
                    .fields
                    .entry(rel.join("/"))
                    .or_default()
                    .push(value);
            }
            None => {
                let mut p: Vec<&str> = stack.iter().map(String::as_str).collect();
                p.push(name);
                header.insert(p.join("/"), value);
            }
        }
    };
    loop {
        let ev = r.read_event().unwrap();
        let end = r.buffer_position() as usize;
        match ev {
            Event::Start(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                assert_eq!(e.attributes().count(), 0);
                let line = line_at(end - name.len() - 2);
                let path = format!("{}/{name}", stack.join("/"));
                if path == "Message/Children/Child" || path == "Message/Children/Child/CINdetails" {
                    assert_eq!(&text[end - name.len() - 2..end], format!("<{name}>"));
                    records.insert(
                        line,
                        XmlRecord {
                            child: name == "Child",
                            fields: BTreeMap::new(),
                        },
                    );
                    open.push((line, stack.len()));
                }
                stack.push(name);
                leaf_text = Some(String::new());
            }
            Event::Text(t) => {
                leaf_text
                    .as_mut()
                    .expect("text outside a leaf")
                    .push_str(&t.unescape().unwrap());
            }
            Event::Empty(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                record_leaf(
                    &stack,
                    &open,
                    &mut records,
                    &mut header,
                    &name,
                    String::new(),
                );
                leaf_text = None;
            }
            Event::End(_) => {
                let name = stack.pop().unwrap();
                if open.last().is_some_and(|(_, d)| *d == stack.len()) {
                    open.pop();
                } else if let Some(t) = leaf_text.take() {
                    record_leaf(&stack, &open, &mut records, &mut header, &name, t);
                }
                leaf_text = None;
            }
            Event::Decl(_) => {}
            Event::Eof => break,
            e => panic!("unexpected {e:?}"),
        }
    }
    assert!(stack.is_empty());
    (header, records)
}

fn iso_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// Checks a CIN census against DM_PERSONS.csv of the same run and its ground
/// truth; returns the (rule, field) pairs of the faults.
fn check_cin(dir: &Path, as_of: NaiveDate) -> BTreeSet<(String, String)> {
    use crate::tables::cin::{CHILD_PATH, CINDETAILS_PATH};
    use crate::words::ETHNICITIES;
    let (header, records) = parse_cin(&dir.join("CIN_Census.xml"));
    let reference = as_of - chrono::Duration::days(1);
    let h = |p: &str| header.get(p).map(String::as_str);
    assert_eq!(
        h("Message/Header/CollectionDetails/Collection"),
        Some("CIN")
    );
    assert_eq!(
        h("Message/Header/CollectionDetails/ReferenceDate"),
        Some(reference.format("%Y-%m-%d").to_string().as_str())
    );
    assert_eq!(h("Message/Header/Source/SourceLevel"), Some("L"));
    assert_eq!(h("Message/Header/Source/LEA"), Some("999"));
    assert_eq!(
        h("Message/Header/Source/SoftwareCode"),
        Some("casebridge-gen")
    );
    // DM_PERSONS.csv of the same run, if written.
    let persons = if dir.join("DM_PERSONS.csv").exists() {
        parse(&dir.join("DM_PERSONS.csv"))
    } else {
        Parsed {
            header: Vec::new(),
            records: Vec::new(),
        }
    };
    let gt = truth(dir);
    // DM_PERSONS rows without a fault of their own, by id.
    let bad_person_lines: BTreeSet<u64> = gt
        .iter()
        .filter(|t| t.file == "DM_PERSONS.csv")
        .map(|t| t.line)
        .collect();
    let by_id: BTreeMap<&str, &Vec<String>> = persons
        .records
        .iter()
        .filter(|(l, _)| !bad_person_lines.contains(l))
        .map(|(_, r)| (r[0].as_str(), r))
        .collect();
    let n_children = records.values().filter(|r| r.child).count();
    if !persons.records.is_empty() {
        let in_persons = persons.records.iter().filter(|(_, r)| r[11] == "Y").count();
        assert_eq!(n_children, in_persons);
    }
    assert!(n_children > 0 && records.len() > 2 * n_children);

    let text = std::fs::read_to_string(dir.join("CIN_Census.xml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut faulty: BTreeMap<u64, &TruthRow> = BTreeMap::new();
    let mut kinds = BTreeSet::new();
    for t in gt.iter().filter(|t| t.file == "CIN_Census.xml") {
        assert!(
            faulty.insert(t.line, t).is_none(),
            "two faults on line {}",
            t.line
        );
        let rec = records
            .get(&t.line)
            .unwrap_or_else(|| panic!("line {} is not a record start", t.line));
        let child_field = t.field.starts_with("Child");
        assert_eq!(rec.child, child_field, "{}", t.field);
        let tag = if rec.child { "<Child>" } else { "<CINdetails>" };
        assert_eq!(lines[t.line as usize - 1].trim(), tag);
        assert!(!t.detail.is_empty());
        kinds.insert((t.rule.clone(), t.field.clone()));
        let v = rec.fields.get(&t.field).map(|v| v[0].as_str());
        match (t.rule.as_str(), t.field.as_str()) {
            ("field.required", f) if !f.starts_with("../") => {
                assert!(v.is_none_or(str::is_empty), "{v:?}")
            }
            ("field.type", "ChildIdentifiers/PersonBirthDate") => {
                let v = v.unwrap();
                assert!(!v.is_empty() && iso_date(v).is_none(), "{v}");
            }
            ("person.dob-future", "ChildIdentifiers/PersonBirthDate")
            | ("date.future", "CINreferralDate") => {
                assert!(iso_date(v.unwrap()).unwrap() > as_of)
            }
            ("person.upn", "ChildIdentifiers/UPN") => assert!(!is_valid_upn(v.unwrap())),
            ("field.code", "ChildIdentifiers/Sex") => {
                assert!(!["M", "F", "U"].contains(&v.unwrap()))
            }
            ("field.code", "ChildCharacteristics/Ethnicity") => {
                assert!(!ETHNICITIES.iter().any(|(e, _)| *e == v.unwrap()))
            }
            ("field.required", "../ChildIdentifiers/LAchildID") => {
                let (_, parent) = records
                    .range(..t.line)
                    .rev()
                    .find(|(_, r)| r.child)
                    .unwrap();
                assert_eq!(parent.one("ChildIdentifiers/LAchildID"), Some(""));
            }
            ("date.end-before-start", "CINclosureDate") => {
                let start = iso_date(rec.one("CINreferralDate").unwrap()).unwrap();
                assert!(iso_date(v.unwrap()).unwrap() < start);
            }
            (r, f) => panic!("unexpected fault {r} {f}"),
        }
    }
    assert!(CHILD_PATH.ends_with("/Child") && CINDETAILS_PATH.ends_with("/CINdetails"));
    // Every record without a fault is valid, and a child's record agrees
    // with DM_PERSONS.
    let mut dob = None;
    let mut seen_ids = BTreeSet::new();
    let mut parent_blank = false;
    for (line, rec) in &records {
        if rec.child {
            dob = None;
            parent_blank = rec.one("ChildIdentifiers/LAchildID") == Some("");
        }
        if faulty.contains_key(line) {
            continue;
        }
        assert!(
            !parent_blank,
            "line {line}: episode of a blank LAchildID not in the truth"
        );
        if rec.child {
            let id = rec.one("ChildIdentifiers/LAchildID").unwrap();
            assert!(seen_ids.insert(id.to_string()));
            let d = rec.one("ChildIdentifiers/PersonBirthDate").unwrap();
            dob = Some(iso_date(d).unwrap());
            assert!(dob.unwrap() < as_of);
            let upn = rec.one("ChildIdentifiers/UPN");
            match upn {
                Some(u) => assert!(is_valid_upn(u), "{u}"),
                None => assert_eq!(rec.one("ChildIdentifiers/UPNunknown"), Some("UN2")),
            }
            // DM_PERSONS holds the same child, unless its row has a fault.
            assert!(id.parse::<u64>().unwrap() >= 100_001);
            let Some(p) = by_id.get(id) else {
                continue;
            };
            assert_eq!(p[11], "Y");
            assert_eq!(dob, uk_date(&p[4]));
            assert_eq!(upn.unwrap_or(""), p[9]);
            let sex = rec.one("ChildIdentifiers/Sex").unwrap();
            assert!(["M", "F", "U"].contains(&sex));
            if p[7] == "M" || p[7] == "F" {
                assert_eq!(sex, p[7]);
            }
            let eth = rec.one("ChildCharacteristics/Ethnicity").unwrap();
            assert!(ETHNICITIES.iter().any(|(e, _)| *e == eth));
            let dis = &rec.fields["ChildCharacteristics/Disabilities/Disability"];
            assert!(
                dis == &["NONE"]
                    || (!dis.is_empty() && dis.len() <= 2 && !dis.contains(&"NONE".to_string()))
            );
        } else {
            let r = iso_date(rec.one("CINreferralDate").unwrap()).unwrap();
            assert!(r < as_of);
            if let Some(d) = dob {
                assert!(r >= d);
            }
            let need = rec.one("PrimaryNeedCode").unwrap();
            assert!(need.len() == 2 && need.starts_with('N') && need != "N0");
            assert!(!rec.one("ReferralSource").unwrap().is_empty());
            match rec.one("CINclosureDate") {
                Some(c) => {
                    let c = iso_date(c).unwrap();
                    assert!(c > r && c < as_of);
                    assert!(rec.one("ReasonForClosure").unwrap().starts_with("RC"));
                }
                None => assert!(rec.one("ReasonForClosure").is_none()),
            }
            if let Some(a) = rec.one("Assessments/AssessmentActualStartDate") {
                assert!(iso_date(a).unwrap() >= r);
            }
        }
    }
    kinds.into_iter().collect()
}

#[test]
fn cin_census_is_well_formed_and_its_ground_truth_points_at_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path(), 5, 60, 0.2, 0.0);
    o.only = vec![TableKind::Persons];
    o.cin = true;
    let s = generate(&o).unwrap();
    assert_eq!(s.tables.len(), 2);
    let gt = truth(dir.path());
    assert_eq!(gt.len() as u64, s.faults());
    let kinds = check_cin(dir.path(), as_of());
    let expected: BTreeSet<(String, String)> = [
        ("field.required", "ChildIdentifiers/LAchildID"),
        ("person.upn", "ChildIdentifiers/UPN"),
        ("field.required", "ChildIdentifiers/PersonBirthDate"),
        ("field.type", "ChildIdentifiers/PersonBirthDate"),
        ("person.dob-future", "ChildIdentifiers/PersonBirthDate"),
        ("field.code", "ChildIdentifiers/Sex"),
        ("field.code", "ChildCharacteristics/Ethnicity"),
        ("date.end-before-start", "CINclosureDate"),
        ("date.future", "CINreferralDate"),
        ("field.required", "CINreferralDate"),
        ("field.required", "../ChildIdentifiers/LAchildID"),
    ]
    .iter()
    .map(|(r, f)| (r.to_string(), f.to_string()))
    .collect();
    assert_eq!(kinds, expected);
    // Both spellings of an empty element, and an absent referral date.
    let xml = std::fs::read_to_string(dir.path().join("CIN_Census.xml")).unwrap();
    assert!(xml.contains("/>") && xml.contains("></"));
    assert!(gt.iter().any(|t| t.detail == "element absent"));
    // Some closed episodes, some children with two, some with disabilities.
    assert!(xml.contains("<CINclosureDate>") && xml.contains("<Assessments>"));
    assert!(
        xml.contains("<Disability>LD</Disability>") || xml.contains("<Disability>AUT</Disability>")
    );
    assert!(xml.contains("<UPNunknown>"));

    // Clean: no truth, and the CIN content does not depend on the rate.
    let clean = tempfile::tempdir().unwrap();
    let mut o = opts(clean.path(), 5, 60, 0.0, 0.0);
    o.only = vec![TableKind::Persons, TableKind::CinCensus];
    generate(&o).unwrap();
    assert!(truth(clean.path()).is_empty());
    assert!(check_cin(clean.path(), as_of()).is_empty());
    // The content does not depend on the rate: records without a fault
    // are the same as in the clean file, in the same order.
    let (_, faulty_recs) = parse_cin(&dir.path().join("CIN_Census.xml"));
    let (_, clean_recs) = parse_cin(&clean.path().join("CIN_Census.xml"));
    assert_eq!(faulty_recs.len(), clean_recs.len());
    let bad: BTreeSet<u64> = gt
        .iter()
        .filter(|t| t.file == "CIN_Census.xml")
        .map(|t| t.line)
        .collect();
    let mut same = 0;
    for ((line, f), c) in faulty_recs.iter().zip(clean_recs.values()) {
        assert_eq!(f.child, c.child);
        if !bad.contains(line) {
            assert_eq!(f.fields, c.fields, "line {line}");
            same += 1;
        }
    }
    assert_eq!(same + bad.len(), clean_recs.len());
}

#[test]
fn cin_only_and_parse_names() {
    assert_eq!(
        TableKind::parse("cin_census.xml"),
        Some(TableKind::CinCensus)
    );
    assert_eq!(
        TableKind::parse("DM_PERSONS.xlsx"),
        Some(TableKind::Persons)
    );
    assert_eq!(TableKind::parse("dm_persons.CSV"), Some(TableKind::Persons));
    assert_eq!(TableKind::parse("CIN"), None);
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path(), 1, 3, 0.0, 0.0);
    o.only = vec![TableKind::CinCensus];
    o.format = crate::Format::Xlsx;
    generate(&o).unwrap();
    assert_eq!(
        files(dir.path()).keys().collect::<Vec<_>>(),
        ["CIN_Census.xml", "ground_truth.csv"]
    );
}

/// The one sheet of a workbook, named after the file stem, as rows.
fn read_sheet(path: &Path) -> Vec<Vec<calamine::Data>> {
    use calamine::Reader;
    let mut wb: calamine::Xlsx<_> = calamine::open_workbook(path).unwrap();
    let stem = path.file_stem().unwrap().to_str().unwrap();
    assert_eq!(wb.sheet_names(), [stem]);
    let range = wb.worksheet_range(stem).unwrap();
    assert_eq!(range.start(), Some((0, 0)));
    range.rows().map(<[calamine::Data]>::to_vec).collect()
}

/// The CSV text a cell stands for, and whether it is a date cell.
fn cell_text(cell: &calamine::Data, kind: crate::out::CellKind) -> (String, bool) {
    use crate::out::CellKind;
    use calamine::Data;
    match cell {
        Data::Empty => (String::new(), false),
        Data::String(s) => (s.clone(), false),
        Data::Float(n) => {
            assert!(
                matches!(kind, CellKind::Id | CellKind::Number),
                "{kind:?} {n}"
            );
            if kind == CellKind::Id {
                assert!(n.fract() == 0.0 && *n >= 0.0);
                (format!("{}", *n as u64), false)
            } else {
                (format!("{n}"), false)
            }
        }
        Data::DateTime(d) => {
            let dt = d.as_datetime().unwrap();
            let f = match kind {
                CellKind::Date => "%d/%m/%Y",
                CellKind::DateTime => "%d/%m/%Y %H:%M",
                CellKind::SqlDateTime => "%Y-%m-%d %H:%M:%S",
                k => panic!("date cell in a {k:?} column"),
            };
            (dt.format(f).to_string(), true)
        }
        c => panic!("unexpected cell {c:?}"),
    }
}

#[test]
fn xlsx_reads_back_as_the_csv_text_with_date_cells_and_faults_on_their_rows() {
    use crate::out::CellKind;
    use crate::Format;
    let csv_dir = tempfile::tempdir().unwrap();
    let xlsx_dir = tempfile::tempdir().unwrap();
    let again = tempfile::tempdir().unwrap();
    generate(&opts(csv_dir.path(), 3, 15, 0.0, 0.0)).unwrap();
    let mut o = opts(xlsx_dir.path(), 3, 15, 0.12, 0.0);
    o.format = Format::Xlsx;
    let s = generate(&o).unwrap();
    o.out = again.path().to_path_buf();
    generate(&o).unwrap();
    let (fx, fa) = (files(xlsx_dir.path()), files(again.path()));
    assert_eq!(fx, fa, "xlsx output is not deterministic");
    assert_eq!(fx.len(), 7);

    let gt = truth(xlsx_dir.path());
    assert_eq!(gt.len() as u64, s.faults());
    assert!(gt.len() > 100);
    assert!(gt.iter().all(|t| t.file.ends_with(".xlsx")));
    assert!(gt.iter().all(|t| t.rule != "csv.ragged-row"));
    let person_ids: BTreeSet<String> = parse(&csv_dir.path().join("DM_PERSONS.csv"))
        .records
        .iter()
        .map(|(_, r)| r[0].clone())
        .collect();
    let (mut date_cells, mut numbers, mut multiline, mut checked_faults) = (0, 0, 0, 0);
    for t in TableKind::ALL {
        let csv = parse(&csv_dir.path().join(t.file()));
        let sheet = read_sheet(&xlsx_dir.path().join(t.file_in(Format::Xlsx)));
        let columns = t.columns();
        let header: Vec<String> = sheet[0]
            .iter()
            .map(|c| cell_text(c, CellKind::Text).0)
            .collect();
        assert_eq!(header, columns);
        assert_eq!(sheet.len(), csv.records.len() + 1, "{}", t.name());
        let kinds: Vec<CellKind> = columns.iter().map(|c| TableKind::cell_kind(c)).collect();
        let faults: BTreeMap<u64, &TruthRow> = gt
            .iter()
            .filter(|g| g.file == t.file_in(Format::Xlsx))
            .map(|g| (g.line, g))
            .collect();
        for (i, (_, rec)) in csv.records.iter().enumerate() {
            let excel_row = i as u64 + 2;
            let cells = &sheet[i + 1];
            assert_eq!(cells.len(), columns.len());
            let fault = faults.get(&excel_row);
            for (c, col) in columns.iter().enumerate() {
                let (text, is_date) = cell_text(&cells[c], kinds[c]);
                if let Some(f) = fault.filter(|f| f.field == *col) {
                    checked_faults += 1;
                    assert_ne!(text, rec[c], "{}:{excel_row} {col}", t.name());
                    match f.rule.as_str() {
                        "field.required" => assert!(text.is_empty()),
                        "field.type" => assert!(!is_date && !text.is_empty(), "{text}"),
                        "person.dob-future" | "date.future" => {
                            assert!(is_date, "{text}");
                            let d = uk_date(&text[..10]).unwrap();
                            assert!(d > as_of());
                        }
                        "person.dob-implausible" => {
                            assert!(!is_date && uk_date(&text).unwrap().year() < 1900)
                        }
                        "date.end-before-start" => {
                            assert!(is_date);
                            let start = if t == TableKind::Addresses {
                                "START_DATE"
                            } else {
                                "STARTED_ON"
                            };
                            let sc = columns.iter().position(|x| *x == start).unwrap();
                            let (st, st_date) = cell_text(&cells[sc], kinds[sc]);
                            assert!(st_date);
                            let end = uk_datetime(&text).or_else(|| {
                                uk_date(&text).map(|d| d.and_hms_opt(0, 0, 0).unwrap())
                            });
                            let st = uk_datetime(&st)
                                .or_else(|| uk_date(&st).map(|d| d.and_hms_opt(0, 0, 0).unwrap()));
                            assert!(end.unwrap() < st.unwrap());
                        }
                        "ref.person-missing" => {
                            assert!(matches!(cells[c], calamine::Data::Float(_)));
                            assert!(!person_ids.contains(&text));
                        }
                        _ => assert!(!text.is_empty()),
                    }
                    continue;
                }
                if kinds[c] == CellKind::Number && matches!(cells[c], calamine::Data::Float(_)) {
                    // A number cell: the same number (`14.0` reads back `14`).
                    assert_eq!(text.parse::<f64>().unwrap(), rec[c].parse::<f64>().unwrap());
                } else {
                    // Line breaks in cells are LF, as Excel writes them.
                    let want = rec[c].replace("\r\n", "\n");
                    assert_eq!(text, want, "{}:{excel_row} {col}", t.name());
                }
                if !text.is_empty() {
                    match kinds[c] {
                        CellKind::Date | CellKind::DateTime | CellKind::SqlDateTime => {
                            assert!(is_date, "{}:{excel_row} {col} {text}", t.name());
                            date_cells += 1;
                        }
                        CellKind::Id | CellKind::Number => {
                            assert!(matches!(cells[c], calamine::Data::Float(_)), "{col} {text}");
                            numbers += 1;
                        }
                        CellKind::Text => assert!(matches!(cells[c], calamine::Data::String(_))),
                    }
                }
                multiline += usize::from(text.contains('\n'));
            }
        }
    }
    assert_eq!(checked_faults, gt.len());
    assert!(
        date_cells > 1000 && numbers > 1000 && multiline > 10,
        "{date_cells} {numbers} {multiline}"
    );
}
