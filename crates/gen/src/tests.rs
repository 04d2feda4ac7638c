//! End-to-end tests of the generator: template, determinism, ground-truth
//! lines, and the validity of clean output.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use casebridge_mapping::{AnswerType, Template};
use casebridge_model::ids::{is_valid_nhs_number, is_valid_postcode, is_valid_upn};
use chrono::{NaiveDate, NaiveDateTime};

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

#[test]
fn shipped_examples_are_up_to_date() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    for (name, seed, families, err, dup) in [
        ("mosaic", 7, 25, 0.03, 0.05),
        ("mosaic-clean", 11, 15, 0.0, 0.0),
    ] {
        let dir = tempfile::tempdir().unwrap();
        generate(&opts(dir.path(), seed, families, err, dup)).unwrap();
        let shipped = files(&examples.join(name));
        let fresh = files(dir.path());
        assert_eq!(
            shipped.keys().collect::<Vec<_>>(),
            fresh.keys().collect::<Vec<_>>()
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
}
