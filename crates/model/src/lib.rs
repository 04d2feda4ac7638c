//! Canonical records of casebridge: persons, relationships, involvements,
//! workbook forms, chronology entries and case notes, with their stable ids,
//! source keys and provenance.
//!
//! [`Record`] is one line of the JSON Lines interchange. [`RecordKind::fields`]
//! is the catalogue of canonical fields that mapping files name and the
//! validator's base rules hang on. [`content_sha256`] is deterministic:
//! Unicode NFC, whitespace folded, fixed field order. This crate does no I/O.

#![forbid(unsafe_code)]

mod adapter;
pub mod events;
mod finding;
mod hash;
pub mod ids;
mod kind;
mod locator;
mod provenance;
mod records;
pub mod rules;
mod source;

pub use adapter::{ConfigProblem, FormatDescriptor};
pub use events::{Disposition, Event, EventSink, FileId, FileOutcome, Tally};
pub use finding::{escape_controls, Finding};
pub use hash::{
    content_sha256, content_sha256_of_fields, content_sha256_of_json, fold_text, stable_id,
    ContentValue,
};
pub use kind::{Check, FieldDef, FieldType, RecordKind, UnknownKind};
pub use locator::Locator;
pub use provenance::{MappingRef, Provenance, Sha256, SourceRef};
pub use records::{
    Answer, AnswerValue, CaseNote, ChronologyEntry, FieldRef, Header, Involvement, Person,
    PersonAddress, Record, Relationship, Section, SectionRow, SourceKey, WorkbookForm,
};
pub use source::{
    Encoding, RecordSink, RecordSource, SinkError, SinkSummary, SourceError, SourceErrorKind,
    SourceInfo, TextRow, Want, PRESENCE_LIMIT, PRESENT,
};

/// An error from the model crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A JSON line could not be read or written.
    #[error("json: {0}")]
    Json(#[source] serde_json::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_through_a_json_line() {
        let rec = Record::CaseNote(CaseNote {
            header: Header {
                id: stable_id(RecordKind::CaseNote, "mosaic", "9"),
                source_keys: vec![SourceKey {
                    system: "mosaic".into(),
                    key: "9".into(),
                }],
                provenance: vec![Provenance {
                    run_id: "r1".into(),
                    source: SourceRef {
                        system: "mosaic".into(),
                        file: "CASE_NOTES.csv".into(),
                        sha256: Sha256::digest(b"x"),
                    },
                    locator: Locator::CsvLine { line: 2, record: 1 },
                    mapping: MappingRef {
                        id: "m".into(),
                        version: "1".into(),
                        sha256: Sha256::digest(b"m"),
                    },
                    content_sha256: Sha256::digest(b"c"),
                }],
                extras: Default::default(),
            },
            subjects: vec!["100".into(), "101".into()],
            text: Some("Visited the family.".into()),
            significant: true,
            ..CaseNote::default()
        });
        let line = rec.to_json_line().unwrap();
        assert!(line.starts_with("{\"kind\":\"case_note\""));
        assert_eq!(Record::from_json_line(&line).unwrap(), rec);
    }
}
