#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn shipped() -> Knowledge {
    Knowledge::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mappings"))
}

/// A sample as the reader would give it, from inline synthetic rows.
fn sample(name: &str, header: &[&str], rows: &[&[&str]]) -> Sample {
    let mut columns = vec![ColumnSample::default(); header.len()];
    let mut nulls = BTreeMap::new();
    for r in rows {
        for (i, c) in columns.iter_mut().enumerate() {
            c.add(r.get(i).copied().unwrap_or(""), false, &mut nulls);
        }
    }
    Sample {
        path: PathBuf::from(name),
        format: SourceFormat::Csv,
        header: header.iter().map(|h| h.to_string()).collect(),
        columns,
        rows: rows.len(),
        bad_rows: 0,
        whole_file: true,
        stopped: None,
        encoding: Some(Encoding::Utf8),
        delimiter: Some(detect_delimiter(header.join(",").as_bytes())),
        sheet: None,
        nulls,
    }
}

fn pairs(m: &Mapping) -> Vec<(String, String)> {
    m.mapped_fields()
        .map(|(f, c)| (f.to_string(), c.to_string()))
        .collect()
}

fn has(m: &Mapping, field: &str, column: &str) -> bool {
    m.column_of(field) == Some(column)
}

const UNFAMILIAR: &[&str] = &["ChildRef", "Forename", "Surname", "DOB", "Sex", "Notes"];
const ROWS: &[&[&str]] = &[
    &["C001", "Ayla", "Brook", "01/02/2015", "F", "likes football"],
    &["C002", "Bram", "Castle", "03/04/2016", "M", ""],
    &["C003", "Cleo", "Dunmore", "05/06/2017", "F", "NULL"],
];

#[test]
fn unfamiliar_names_are_matched_by_synonym_without_shipped_mappings() {
    let s = sample("children.csv", UNFAMILIAR, ROWS);
    let d = draft_from_sample(&s, &DraftOptions::default(), &Knowledge::default()).unwrap();
    assert_eq!(d.kind, RecordKind::Person);
    assert!(d.kind_guessed);
    for (field, col) in [
        ("source_key", "ChildRef"),
        ("first_name", "Forename"),
        ("last_name", "Surname"),
        ("date_of_birth", "DOB"),
        ("gender", "Sex"),
    ] {
        assert!(
            has(&d.mapping, field, col),
            "{field}: {:?}",
            pairs(&d.mapping)
        );
    }
    assert!(d.text.contains("by synonym \"dob\""), "{}", d.text);
    assert!(d.text.contains("system = \"unknown\""), "{}", d.text);
    // Only ambiguous days: day first, and the comment says so.
    assert!(
        d.text.contains("date_formats = [\"dd/mm/yyyy\"]"),
        "{}",
        d.text
    );
    assert!(d.text.contains("day first assumed, the English default"));
    // Without a shipped code set the codes seen become an inline table.
    assert!(
        d.text.contains("values = { \"F\" = \"F\", \"M\" = \"M\" }"),
        "{}",
        d.text
    );
    assert!(d.text.contains("null_values = [\"NULL\"]"));
    assert!(d.text.contains("\"Notes\""), "unmatched columns are listed");
}

#[test]
fn no_personal_sample_value_reaches_the_draft() {
    let s = sample("children.csv", UNFAMILIAR, ROWS);
    for k in [Knowledge::default(), shipped()] {
        let d = draft_from_sample(&s, &DraftOptions::default(), &k).unwrap();
        for v in [
            "C001",
            "Ayla",
            "Brook",
            "01/02/2015",
            "football",
            "Castle",
            "05/06/2017",
        ] {
            assert!(!d.text.contains(v), "{v} in the draft:\n{}", d.text);
        }
    }
}

/// Copies the shipped Mosaic mappings and code sets under `dir`.
fn copy_shipped(dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mappings");
    for sub in ["mosaic", "codesets", "templates"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for e in std::fs::read_dir(root.join(sub)).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, dir.join(sub).join(p.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn shipped_mappings_teach_their_column_names_and_code_sets() {
    let tmp = tempfile::tempdir().unwrap();
    copy_shipped(&tmp.path().join("mappings"));
    let k = Knowledge::load(&tmp.path().join("mappings"));
    let s = sample(
        "DM_PERSONS_2024.csv",
        &[
            "PERSON_ID",
            "FIRST_NAME",
            "LAST_NAME",
            "DATE_OF_BIRTH",
            "GENDER",
            "FULL_ETHNICITY_CODE",
            "UPN_ID",
        ],
        &[
            &["1", "Ann", "Ash", "13/01/2015", "F", "WBRI", ""],
            &["2", "Bob", "Birch", "02/03/2016", "M", "WIRI", ""],
        ],
    );
    std::fs::create_dir(tmp.path().join("council")).unwrap();
    let opts = DraftOptions {
        out: Some(tmp.path().join("council/draft.toml")),
        ..DraftOptions::default()
    };
    let d = draft_from_sample(&s, &opts, &k).unwrap();
    assert_eq!(d.kind, RecordKind::Person);
    for (field, col) in [
        ("source_key", "PERSON_ID"),
        ("first_name", "FIRST_NAME"),
        ("last_name", "LAST_NAME"),
        ("date_of_birth", "DATE_OF_BIRTH"),
        ("gender", "GENDER"),
        ("ethnicity", "FULL_ETHNICITY_CODE"),
        ("upn", "UPN_ID"),
    ] {
        assert!(
            has(&d.mapping, field, col),
            "{field}: {:?}",
            pairs(&d.mapping)
        );
    }
    assert_eq!(d.matched_columns, 7);
    assert!(d.text.contains("glob = \"DM_PERSONS*.csv\""), "{}", d.text);
    assert!(d.text.contains("system = \"mosaic\""));
    // Shipped code sets, named relative to where the draft goes (it loads
    // from there: the draft is checked with that anchor).
    assert!(
        d.text
            .contains("file = \"../mappings/codesets/gender.toml\""),
        "{}",
        d.text
    );
    assert!(d.text.contains("2 of 2 value(s) are in code set `gender`"));
    // 13/01 decides the order.
    assert!(d.text.contains("day first: some value has a day above 12"));
    // The transform comes with the learned column.
    assert!(d.text.contains("transform = [\"upper\"]"));
    // Required as shipped, only when never empty.
    assert!(d
        .text
        .contains("required, as in shipped mapping mosaic-dm-persons"));
}

#[test]
fn codes_outside_every_shipped_set_get_an_inline_table_marked_for_review() {
    let s = sample(
        "people.csv",
        &["PERSON_ID", "GENDER"],
        &[&["1", "Woman"], &["2", "Man"], &["3", "Woman"]],
    );
    let d = draft_from_sample(&s, &DraftOptions::default(), &shipped()).unwrap();
    assert!(
        d.text
            .contains("values = { \"Man\" = \"Man\", \"Woman\" = \"Woman\" }"),
        "{}",
        d.text
    );
    assert!(d.text.contains("each mapped to itself"));
    assert!(d.text.contains("\"Woman\" (2), \"Man\" (1)"));
}

#[test]
fn a_column_of_many_distinct_values_is_not_listed_as_codes() {
    let rows: Vec<Vec<String>> = (0..30)
        .map(|i| vec![i.to_string(), format!("Person{i} Name")])
        .collect();
    let rows_ref: Vec<Vec<&str>> = rows
        .iter()
        .map(|r| r.iter().map(String::as_str).collect())
        .collect();
    let rows_ref: Vec<&[&str]> = rows_ref.iter().map(Vec::as_slice).collect();
    let s = sample("p.csv", &["PERSON_ID", "GENDER"], &rows_ref);
    let d = draft_from_sample(&s, &DraftOptions::default(), &Knowledge::default()).unwrap();
    assert!(!d.text.contains("Person1"), "{}", d.text);
    assert!(d.text.contains("do not look like codes"));
}

#[test]
fn month_first_dates_get_their_own_formats_when_the_source_list_differs() {
    let s = sample(
        "cases.csv",
        &["INVOLVEMENT_ID", "PERSON_ID", "START_DATE", "END_DATE"],
        &[
            &["1", "10", "13/01/2020", "01/13/2021"],
            &["2", "11", "02/03/2020", "02/03/2021"],
        ],
    );
    let d = draft_from_sample(
        &s,
        &DraftOptions {
            kind: Some(RecordKind::Involvement),
            ..DraftOptions::default()
        },
        &Knowledge::default(),
    )
    .unwrap();
    assert!(!d.kind_guessed);
    assert!(
        d.text
            .contains("date_formats = [\"dd/mm/yyyy\", \"mm/dd/yyyy\"]"),
        "{}",
        d.text
    );
    // end_date is month first: the source list would read 02/03 day first.
    assert!(
        d.text.contains("date_formats = [\"mm/dd/yyyy\"]"),
        "{}",
        d.text
    );
    assert!(d.text.contains("MONTH first"));
}

#[test]
fn a_header_only_file_drafts_and_says_nothing_was_guessed_from_values() {
    let s = sample(
        "DM_ADDRESSES.csv",
        &[
            "REF_ADDRESSES_PEOPLE_ID",
            "PERSON_ID",
            "POST_CODE",
            "START_DATE",
        ],
        &[],
    );
    let d = draft_from_sample(&s, &DraftOptions::default(), &shipped()).unwrap();
    assert_eq!(d.kind, RecordKind::PersonAddress);
    assert_eq!(d.rows, 0);
    assert!(d.text.contains("header only"), "{}", d.text);
    assert!(!d.text.contains("\ndate_formats"), "{}", d.text);
    assert!(d.text.contains("no values seen"));
}

#[test]
fn a_key_is_taken_by_its_shape_when_no_name_fits() {
    let s = sample(
        "odd.csv",
        &["Forename", "Surname", "XREF"],
        &[&["A", "B", "1"]],
    );
    let d = draft_from_sample(&s, &DraftOptions::default(), &Knowledge::default()).unwrap();
    assert!(has(&d.mapping, "source_key", "XREF"), "{}", d.text);
    assert!(d.text.contains("taken by its shape"));
}

#[test]
fn form_answers_keep_no_key_and_name_the_template() {
    let s = sample(
        "DM_CACHED_FORM_ANSWERS.csv",
        &[
            "FORM_ID",
            "QUESTION_USER_CODE",
            "TEXT_ANSWER",
            "DATE_ANSWER",
        ],
        &[&["1", "FSW_X", "yes", "2024-01-02 00:00:00"]],
    );
    let out = tempfile::tempdir().unwrap();
    let opts = DraftOptions {
        out: Some(out.path().join("f.toml")),
        ..DraftOptions::default()
    };
    let d = draft_from_sample(&s, &opts, &shipped()).unwrap();
    assert_eq!(d.kind, RecordKind::FormAnswer);
    assert_eq!(d.mapping.column_of("source_key"), None);
    assert!(d.mapping.template.is_some());
    assert!(d.text.contains("yyyy-mm-dd HH:MM:SS"));
}

#[test]
fn a_concatenated_key_is_learned_with_its_separator() {
    let s = sample(
        "DM_WORKFLOW_STEPS.csv",
        &[
            "WORKFLOW_STEP_ID",
            "WORKFLOW_STEP_TYPE_ID",
            "PERSON_ID",
            "STARTED_ON",
        ],
        &[&["7", "1001", "10", "10/12/2025 12:20"]],
    );
    let d = draft_from_sample(&s, &DraftOptions::default(), &shipped()).unwrap();
    assert_eq!(d.kind, RecordKind::ChronologyEntry);
    assert_eq!(
        d.mapping.column_of("source_key"),
        Some("WORKFLOW_STEP_ID+PERSON_ID")
    );
    assert_eq!(
        d.mapping.column_of("source_record"),
        Some("WORKFLOW_STEP_ID")
    );
    assert!(d.text.contains("separator = \"-\""));
}

#[test]
fn globs_ids_and_relative_paths() {
    assert_eq!(glob_for("DM_PERSONS.csv"), "DM_PERSONS*.csv");
    assert_eq!(glob_for("persons_2024-05-01.csv"), "persons*.csv");
    assert_eq!(glob_for("2024.csv"), "2024*.csv");
    assert_eq!(glob_for("a[1].xlsx"), "a\\[1\\]*.xlsx");
    assert_eq!(glob_for("export"), "export*");
    assert_eq!(mapping_id("DM_PERSONS.csv"), "draft-dm-persons");
    assert_eq!(mapping_id("__.csv"), "draft");
    assert_eq!(
        relative(
            Path::new("/a/b/c"),
            Path::new("/a/mappings/codesets/x.toml")
        ),
        "../../mappings/codesets/x.toml"
    );
    assert_eq!(relative(Path::new("/a"), Path::new("/a/x.toml")), "x.toml");
    assert_eq!(
        relative(Path::new("/tmp/x"), Path::new("/a/x.toml")),
        "/a/x.toml"
    );
}

#[test]
fn every_draft_glob_is_valid_and_fits_its_file() {
    for name in ["DM_PERSONS.csv", "a[1].xlsx", "we{ird}*.csv", "x?.csv"] {
        let s = sample(name, &["PERSON_ID", "FIRST_NAME"], &[&["1", "A"]]);
        let d = draft_from_sample(&s, &DraftOptions::default(), &Knowledge::default()).unwrap();
        assert!(
            d.mapping.source.matches(name),
            "{name}: {}",
            d.mapping.source.glob
        );
    }
}
