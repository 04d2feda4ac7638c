//! Mapped rows of the shipped examples become canonical records: persons and
//! case notes one row each, with provenance; form answers pivoted into
//! workbook forms by the template.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use casebridge_csv::{CsvSource, CsvSourceConfig};
use casebridge_mapping::{AnswerRow, FormPivot, MappedRecord, Mapping};
use casebridge_model::{
    content_sha256, AnswerValue, Locator, MappingRef, Provenance, Record, RecordSource, SourceRef,
    TextRow,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Reads every row of an example file through a shipped mapping.
fn rows(mapping: &str, file: &str) -> (Mapping, Vec<(MappedRecord, Locator)>) {
    let m = Mapping::from_path(&root().join("mappings/mosaic").join(mapping)).unwrap();
    let cfg = CsvSourceConfig {
        encoding: m.source.csv().encoding,
        ..CsvSourceConfig::default()
    };
    let mut src = CsvSource::open(&root().join("examples/mosaic-clean").join(file), cfg).unwrap();
    let header = src.columns().to_vec();
    let bound = m.bind(&header).unwrap();
    let mut row = TextRow::new();
    let mut out = Vec::new();
    let mut issues = Vec::new();
    while src.read_row(&mut row, bound.wanted()).unwrap() {
        let mut rec = MappedRecord::new(m.kind);
        bound.apply(&mut row, &mut rec, &mut issues, false);
        out.push((rec, row.locator.clone().unwrap()));
    }
    assert!(issues.is_empty(), "{issues:?}");
    drop(bound);
    (m, out)
}

fn provenance(m: &Mapping, file: &str, at: Locator) -> Provenance {
    Provenance {
        run_id: "test".into(),
        source: SourceRef {
            system: m.system.clone(),
            file: file.into(),
            sha256: Default::default(),
        },
        locator: at,
        mapping: MappingRef {
            id: m.id.clone(),
            version: m.version.clone(),
            sha256: m.sha256,
        },
        content_sha256: Default::default(),
    }
}

#[test]
fn persons_and_notes_become_records_that_round_trip_as_json_lines() {
    for (mapping, file) in [
        ("persons.toml", "DM_PERSONS.csv"),
        ("case-notes.toml", "CASE_NOTES.csv"),
    ] {
        let (m, rows) = rows(mapping, file);
        assert!(rows.len() > 20);
        for (rec, at) in rows {
            let record = m.to_record(&rec, provenance(&m, file, at.clone())).unwrap();
            let line = record.to_json_line().unwrap();
            let back = Record::from_json_line(&line).unwrap();
            assert_eq!(back, record);
            let p = &record.header().provenance[0];
            assert_eq!(p.locator, at);
            assert_eq!(p.content_sha256, content_sha256(&record));
            assert!(record.header().id.starts_with(&format!("{}:", m.kind)));
            match &record {
                Record::Person(p) => assert!(p.last_name.is_some() && p.date_of_birth.is_some()),
                Record::CaseNote(n) => {
                    assert_eq!(n.subjects.len(), 1);
                    assert!(n.text.as_deref().is_some_and(|t| t.len() > 50));
                    assert!(n.contact_date.is_some());
                }
                other => panic!("unexpected {:?}", other.kind()),
            }
        }
    }
}

#[test]
fn form_answers_pivot_into_workbook_forms_of_the_template() {
    let (m, rows) = rows("form-answers.toml", "DM_CACHED_FORM_ANSWERS.csv");
    let template = m.template.clone().unwrap();
    let mut pivot = FormPivot::new(&template);
    let n = rows.len();
    for (rec, _) in &rows {
        pivot.push(AnswerRow::from_mapped(rec).unwrap());
    }
    let (forms, problems) = pivot.finish("mosaic");
    assert!(problems.is_empty(), "{problems:?}");
    assert!(forms.len() > 10);
    let answers: usize = forms
        .iter()
        .flat_map(|f| &f.sections)
        .flat_map(|s| &s.rows)
        .map(|r| r.answers.len())
        .sum();
    assert_eq!(answers, n, "every answer lands in one form");
    let codes: std::collections::BTreeSet<_> = forms.iter().map(|f| f.form_code.as_str()).collect();
    for f in &template.forms {
        assert!(
            codes.contains(f.code()),
            "no {} form in the examples",
            f.code()
        );
    }
    for form in &forms {
        let def = template.form_by_code(&form.form_code).unwrap();
        for s in &form.sections {
            let sdef = def.sections.iter().find(|d| d.code == s.code).unwrap();
            if sdef.repeating {
                let ids: std::collections::BTreeSet<_> =
                    s.rows.iter().map(|r| r.row_id.clone()).collect();
                assert_eq!(ids.len(), s.rows.len(), "one row per row id");
                assert!(s.rows.iter().all(|r| r.row_id.is_some()));
            } else {
                assert_eq!(s.rows.len(), 1);
            }
        }
        if form.form_code == "gcp2" {
            let scores: Vec<i64> = form
                .sections
                .iter()
                .flat_map(|s| &s.rows)
                .flat_map(|r| &r.answers)
                .filter_map(|a| match a.value {
                    AnswerValue::Score(n) => Some(n),
                    _ => None,
                })
                .collect();
            assert!(
                scores.len() >= 4 && scores.iter().all(|n| (1..=5).contains(n)),
                "{scores:?}"
            );
        }
    }
    // JSON Lines round trip of a whole form.
    let rec = Record::WorkbookForm(forms[0].clone());
    assert_eq!(
        Record::from_json_line(&rec.to_json_line().unwrap()).unwrap(),
        rec
    );
}
