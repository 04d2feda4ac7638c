//! CIN Census returns written from mapped values with `casebridge_xml::XmlWriter`:
//! a return read through the CIN mappings (`mappings/cin`, every path of
//! their `columns`) and written back is valid against the DfE schema
//! (`../shared/data/cin/CIN_schema_2024.xsd`, checked with xmllint) and
//! reads back the same, record by record, raw and mapped; the generator's
//! return is itself valid, and written back is the same bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use casebridge_mapping::{MappedRecord, Mapping, MappingSet};
use casebridge_model::{RecordSource, TextRow, Want};
use casebridge_runner::{open_source, Limits};
use casebridge_xml::{XmlLayout, XmlSource, XmlSourceConfig, XmlWriter};
use common::*;

const LINK: &str = "../ChildIdentifiers/LAchildID";
const KEY: &str = "ChildIdentifiers/LAchildID";

/// The schema's elements that occur several times in their parent
/// (`maxOccurs="unbounded"`), relative to a `Child`.
const REPEATING: &[&str] = &[
    "ChildCharacteristics/Disabilities/Disability",
    "CINdetails/Assessments",
    "CINdetails/Assessments/FactorsIdentifiedAtAssessment/AssessmentFactors",
    "CINdetails/CINPlanDates",
    "CINdetails/Section47",
    "CINdetails/ChildProtectionPlans",
    "CINdetails/ChildProtectionPlans/Reviews/CPPreviewDate",
];

/// The CIN mappings: (children, episodes).
fn cin_mappings() -> (Mapping, Mapping) {
    let set = MappingSet::load(&root().join("mappings/cin")).unwrap();
    let by_id = |id: &str| {
        set.mappings
            .iter()
            .find(|m| m.id == id)
            .unwrap_or_else(|| panic!("no mapping {id}"))
            .clone()
    };
    (by_id("cin-census-children"), by_id("cin-census-episodes"))
}

fn record_path(m: &Mapping) -> &str {
    m.source.record().expect("an xml mapping")
}

fn columns(m: &Mapping) -> &[String] {
    m.source
        .columns
        .as_deref()
        .expect("the CIN mappings list their columns")
}

fn shared_cin(name: &str) -> PathBuf {
    let p = root().join("../shared/data/cin").join(name);
    assert!(
        p.is_file(),
        "{} is missing: this test needs ../shared/data/cin beside the repository",
        p.display()
    );
    p
}

/// Every record of `file` at the mapping's record path, as the texts of
/// all its `columns` (repeats joined by `;`, as the reader gives them).
fn read_all(file: &Path, m: &Mapping) -> Vec<Vec<String>> {
    let cols = columns(m);
    let config = XmlSourceConfig::new(record_path(m), cols.iter().cloned());
    let mut src = XmlSource::open(file, config).unwrap();
    let want = vec![Want::Text; cols.len()];
    let mut row = TextRow::new();
    let mut out = Vec::new();
    while src.read_row(&mut row, &want).unwrap() {
        out.push(
            (0..cols.len())
                .map(|i| row.get(i).unwrap_or("").to_string())
                .collect(),
        );
    }
    out
}

/// Every record of `file` read as the runner reads it (`open_source`, the
/// mapping bound and applied): per record, each canonical slot's text and
/// value, and the number of findings.
fn read_mapped(file: &Path, m: &Mapping) -> Vec<(Vec<String>, usize)> {
    let mut src = open_source(file, m, &Limits::default()).unwrap();
    let bound = m.bind(src.columns()).unwrap();
    let mut row = TextRow::new();
    let mut out = Vec::new();
    while src.read_row(&mut row, bound.wanted()).unwrap() {
        let mut rec = MappedRecord::new(m.kind);
        let mut issues = Vec::new();
        bound.apply(&mut row, &mut rec, &mut issues, false);
        let slots = rec
            .slots
            .iter()
            .map(|s| format!("{}={:?}", s.text, s.value))
            .collect();
        out.push((slots, issues.len()));
    }
    out
}

/// A record's `(path, text)` pairs: every non-empty column, a joined
/// repeat given once per value; absolute paths (the header) left out.
fn pairs(cols: &[String], row: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (c, v) in cols.iter().zip(row) {
        if v.is_empty() || c.starts_with('/') {
            continue;
        }
        for part in v.split(';') {
            out.push((c.clone(), part.to_string()));
        }
    }
    out
}

/// Writes the records read from a return back with `XmlWriter`: the
/// layout from the two mappings (their record paths and `columns`), the
/// header from the episodes' absolute paths, each child with its episodes.
fn write_back(children: &Mapping, episodes: &Mapping, file: &Path, out: &Path) {
    let kids = read_all(file, children);
    let eps = read_all(file, episodes);
    assert!(!kids.is_empty() && !eps.is_empty());
    let ecols = columns(episodes);
    let link = ecols.iter().position(|c| c == LINK).unwrap();
    let key = columns(children).iter().position(|c| c == KEY).unwrap();

    let mut layout = XmlLayout::new(record_path(children), columns(children))
        .unwrap()
        .nested(record_path(episodes), ecols, LINK, KEY)
        .unwrap();
    for r in REPEATING {
        layout = layout.repeating(r).unwrap();
    }
    // The header as every episode read it.
    for (i, c) in ecols.iter().enumerate().filter(|(_, c)| c.starts_with('/')) {
        assert!(eps.iter().all(|e| e[i] == eps[0][i]), "{c}");
        layout = layout.document(c, &eps[0][i]).unwrap();
    }
    let mut w = XmlWriter::new(Vec::new(), layout).unwrap();
    for kid in &kids {
        let own = pairs(columns(children), kid);
        let nested: Vec<Vec<(String, String)>> = eps
            .iter()
            .filter(|e| e[link] == kid[key])
            .map(|e| pairs(ecols, e))
            .collect();
        w.record(&own, &[(0, nested)]).unwrap();
    }
    assert_eq!(w.records(), kids.len() as u64);
    let bytes = w.finish().unwrap();
    let mut f = std::fs::File::create(out).unwrap();
    f.write_all(&bytes).unwrap();
}

/// The diagnostics of `xmllint --noout --schema SCHEMA FILE` (empty: valid).
/// Fails, saying how to install it, when xmllint cannot be run.
fn xsd_errors(schema: &Path, file: &Path) -> Vec<String> {
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema)
        .arg(file)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run xmllint ({e}): install it with `apt-get install -y libxml2-utils` \
                 (as .ci/run does)"
            )
        });
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let diags: Vec<String> = text
        .lines()
        .filter(|l| !l.ends_with(" validates") && !l.ends_with(" fails to validate"))
        .map(String::from)
        .collect();
    match out.status.code() {
        Some(0) => {
            assert!(diags.is_empty(), "{text}");
            diags
        }
        // 1: not well-formed, 3: not valid.
        Some(1 | 3) => {
            assert!(!diags.is_empty(), "{text}");
            diags
        }
        code => panic!("xmllint could not check against the schema (exit {code:?}): {text}"),
    }
}

/// The 2024 schema with the one change of 2024/25 the generator's returns
/// follow (FORMATS.md section 5): `Sex` (M, F, U) in `GenderCurrent`'s place.
fn schema_2025(dir: &Path) -> PathBuf {
    let xsd = std::fs::read_to_string(shared_cin("CIN_schema_2024.xsd")).unwrap();
    let gender =
        r#"<xs:element name="GenderCurrent" type="gendertype" minOccurs="1" maxOccurs="1"/>"#;
    assert_eq!(xsd.matches(gender).count(), 1, "the 2024 schema changed");
    let sex = r#"<xs:element name="Sex" type="sextype" minOccurs="1" maxOccurs="1"/>"#;
    let sextype = r#"<xs:simpleType name="sextype"><xs:restriction base="nonEmptyString"><xs:enumeration value="M"/><xs:enumeration value="F"/><xs:enumeration value="U"/></xs:restriction></xs:simpleType>
</xs:schema>"#;
    let derived = xsd.replace(gender, sex).replace("</xs:schema>", sextype);
    let p = dir.join("CIN_schema_2025_sex.xsd");
    let mut f = std::fs::File::create(&p).unwrap();
    f.write_all(derived.as_bytes()).unwrap();
    p
}

/// The generator's clean CIN return (seed 5, 10 families).
fn generated(dir: &Path) -> PathBuf {
    let out = generator()
        .arg("--out")
        .arg(dir)
        .args(["--only", "CIN_Census", "--seed", "5", "--families", "10"])
        .args(["--as-of", "2026-04-01"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    dir.join("CIN_Census.xml")
}

/// Writes `file` back and checks the copy against `schema` and the original.
fn round_trip(file: &Path, schema: &Path, dir: &Path) -> PathBuf {
    let (children, episodes) = cin_mappings();
    let written = dir.join("CIN_written.xml");
    write_back(&children, &episodes, file, &written);
    let errors = xsd_errors(schema, &written);
    assert!(errors.is_empty(), "{errors:#?}");
    for m in [&children, &episodes] {
        let before = read_all(file, m);
        let after = read_all(&written, m);
        assert_eq!(before.len(), after.len(), "{}", m.id);
        for (i, (b, a)) in before.iter().zip(&after).enumerate() {
            assert_eq!(b, a, "{} record {}", m.id, i + 1);
        }
        assert_eq!(read_mapped(file, m), read_mapped(&written, m), "{}", m.id);
    }
    written
}

#[test]
fn the_sample_return_written_back_is_valid_and_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let sample = shared_cin("cin-2022-sample.xml");
    let xsd = shared_cin("CIN_schema_2024.xsd");
    assert!(xsd_errors(&xsd, &sample).is_empty());
    let written = round_trip(&sample, &xsd, dir.path());
    // Every element of the sample came back (its 44 text values).
    let values = |p: &Path| {
        let text = std::fs::read_to_string(p).unwrap();
        text.lines()
            .filter_map(|l| {
                let l = l.trim();
                (l.starts_with('<') && !l.starts_with("</") && l.contains("</"))
                    .then(|| l.to_string())
            })
            .collect::<Vec<_>>()
    };
    let (before, after) = (values(&sample), values(&written));
    assert_eq!(before.len(), 44);
    assert_eq!(before, after);
}

#[test]
fn the_generated_return_is_valid_and_written_back_is_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let file = generated(&dir.path().join("gen"));
    let xsd = shared_cin("CIN_schema_2024.xsd");
    let xsd_2025 = schema_2025(dir.path());
    assert!(xsd_errors(&xsd_2025, &file).is_empty());
    // Against the 2024 schema as published, only `Sex` is out of place.
    let old = xsd_errors(&xsd, &file);
    assert!(!old.is_empty());
    assert!(old.iter().all(|e| e.contains("element Sex:")), "{old:#?}");
    let written = round_trip(&file, &xsd_2025, dir.path());
    let (a, b) = (
        std::fs::read_to_string(&file).unwrap(),
        std::fs::read_to_string(&written).unwrap(),
    );
    pretty_assertions::assert_eq!(a, b);
}

#[test]
fn the_schema_check_fails_a_faulty_return() {
    // The shipped example has injected faults (an empty LAchildID, bad dates):
    // the harness must see them, or it proves nothing.
    let dir = tempfile::tempdir().unwrap();
    let xsd_2025 = schema_2025(dir.path());
    let errors = xsd_errors(&xsd_2025, &root().join("examples/cin/CIN_Census.xml"));
    assert!(
        errors.iter().any(|e| e.contains("LAchildID")),
        "{errors:#?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("PersonBirthDate")),
        "{errors:#?}"
    );
}

#[test]
fn every_episode_reads_the_header_of_its_return() {
    let (children, episodes) = cin_mappings();
    let cols = columns(&episodes);
    let eps = read_all(&shared_cin("cin-2022-sample.xml"), &episodes);
    let at = |p: &str| cols.iter().position(|c| c == p).unwrap();
    assert_eq!(eps[0][at("/Message/Header/Source/LEA")], "201");
    assert_eq!(eps[0][at("/Message/Header/CollectionDetails/Year")], "2022");
    assert_eq!(
        eps[0][at("/Message/Header/Source/DateTime")],
        "2022-05-23T11:14:05"
    );
    // The mappings' columns hold every path their fields and `public` name.
    for m in [&children, &episodes] {
        let cols = columns(m);
        for (c, _) in m.columns() {
            assert!(cols.iter().any(|x| x == c), "{}: field path {c}", m.id);
        }
        for p in &m.source.public {
            assert!(cols.iter().any(|x| x == p), "{}: public path {p}", m.id);
        }
    }
}

/// `casebridge export --to cin`, through the whole pipeline: the generated
/// return comes back byte for byte, directly and through JSON Lines, and
/// is valid against the schema.
#[test]
fn export_to_cin_writes_the_return_back_byte_for_byte_and_valid() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let file = generated(&src);
    let schema = schema_2025(dir.path());
    let export = |inputs: &Path, to: &str, out: &Path| {
        let o = common::casebridge()
            .args(["--no-audit", "export"])
            .arg(inputs)
            .args([
                "--mapping",
                "mappings/cin",
                "--to",
                to,
                "--as-of",
                "2026-11-01",
                "--out",
            ])
            .arg(out)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}{}",
            common::stdout(&o),
            stderr(&o)
        );
    };
    let direct = dir.path().join("direct");
    export(&src, "cin", &direct);
    let written = direct.join("CIN.xml");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(&written).unwrap()
    );
    let errors = xsd_errors(&schema, &written);
    assert!(errors.is_empty(), "{errors:#?}");

    let jl = dir.path().join("jl");
    export(&src, "jsonl", &jl);
    let again = dir.path().join("again");
    export(&jl, "cin", &again);
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(again.join("CIN.xml")).unwrap(),
        "XML -> JSON Lines -> XML"
    );
}
