//! The canonical record types, serialised as JSON Lines (one record a line,
//! tagged by `kind`).

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::{Provenance, RecordKind};

/// A record's key in its source system.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SourceKey {
    /// Source system, e.g. `mosaic`.
    pub system: String,
    /// The key as the source spells it.
    pub key: String,
}

/// Fields every canonical record carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Header {
    /// Stable id derived from kind, system and source key (see [`crate::stable_id`]).
    pub id: String,
    /// Keys in source systems; a merged record keeps those of every copy.
    pub source_keys: Vec<SourceKey>,
    /// Provenance of every copy that made this record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provenance: Vec<Provenance>,
    /// Source values with no canonical field (SSDA903 `RNE`, a council's
    /// local columns), by name, so that a round trip loses nothing the
    /// mapping read: text, codes and dates as strings, numbers as numbers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extras: BTreeMap<String, serde_json::Value>,
}

/// A person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[allow(missing_docs)]
pub struct Person {
    #[serde(flatten)]
    pub header: Header,
    pub first_name: Option<String>,
    pub middle_names: Option<String>,
    pub last_name: Option<String>,
    pub full_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    #[serde(default)]
    pub dob_estimated: bool,
    pub date_of_death: Option<NaiveDate>,
    pub gender: Option<String>,
    pub ethnicity: Option<String>,
    pub nhs_number: Option<String>,
    pub upn: Option<String>,
    pub postcode: Option<String>,
    pub role: Option<String>,
    /// Current address lines (house number, street, area), when the source
    /// holds them on the person (person lists for linkage often do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Current town, suburb or locality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    /// Another identifier of the person: a social security number, a local
    /// authority or health board id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_id: Option<String>,
}

/// An address of a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[allow(missing_docs)]
pub struct PersonAddress {
    #[serde(flatten)]
    pub header: Header,
    pub person: Option<String>,
    pub address: Option<String>,
    pub postcode: Option<String>,
    pub address_type: Option<String>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
}

/// A relationship: `person` is `relationship_type` of `other_person`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[allow(missing_docs)]
pub struct Relationship {
    #[serde(flatten)]
    pub header: Header,
    pub person: Option<String>,
    pub other_person: Option<String>,
    pub relationship_type: Option<String>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
}

/// A case or involvement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[allow(missing_docs)]
pub struct Involvement {
    #[serde(flatten)]
    pub header: Header,
    pub person: Option<String>,
    pub case_id: Option<String>,
    pub legal_status: Option<String>,
    pub team: Option<String>,
    pub worker: Option<String>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub step_change: Option<String>,
}

/// A case note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[allow(missing_docs)]
pub struct CaseNote {
    #[serde(flatten)]
    pub header: Header,
    /// Subject persons: one note can cover several children of a group.
    pub subjects: Vec<String>,
    pub note_type: Option<String>,
    pub title: Option<String>,
    pub contact_date: Option<NaiveDateTime>,
    pub recorded_date: Option<NaiveDateTime>,
    pub author: Option<String>,
    pub text: Option<String>,
    #[serde(default)]
    pub significant: bool,
    pub status: Option<String>,
    pub confidentiality: Option<String>,
}

/// A chronology entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[allow(missing_docs)]
pub struct ChronologyEntry {
    #[serde(flatten)]
    pub header: Header,
    pub subjects: Vec<String>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    #[serde(default)]
    pub date_approximate: bool,
    pub category: Option<String>,
    pub source_agency: Option<String>,
    pub description: Option<String>,
    pub analysis: Option<String>,
    #[serde(default)]
    pub significant: bool,
    pub source_record: Option<String>,
}

/// A typed answer to a workbook question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum AnswerValue {
    /// Free text.
    Text(String),
    /// A date.
    Date(NaiveDate),
    /// A date and time.
    DateTime(NaiveDateTime),
    /// One coded choice.
    Code(String),
    /// Several coded choices.
    Codes(Vec<String>),
    /// A score on the question's scale.
    Score(i64),
    /// A number.
    Number(f64),
    /// Yes or no.
    Boolean(bool),
}

/// One answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// Question code in the template.
    pub question: String,
    /// The person answered for, when the answer is about one subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The value.
    pub value: AnswerValue,
}

/// One row of a section: a plain section has one, a repeating table several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SectionRow {
    /// The source's row id for repeating tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_id: Option<String>,
    /// Answers in template order.
    pub answers: Vec<Answer>,
}

/// A section of a workbook form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// Section code in the template.
    pub code: String,
    /// Its rows.
    pub rows: Vec<SectionRow>,
}

/// A workbook form: a chapter summary, session record, assessment, measure...
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct WorkbookForm {
    /// Id, source keys, provenance.
    #[serde(flatten)]
    pub header: Header,
    /// Template id, e.g. `fs-workbook`.
    pub template_id: String,
    /// Template version.
    pub template_version: String,
    /// Form code in the template, e.g. `gcp2`.
    pub form_code: String,
    /// draft, completed or authorised.
    pub status: Option<String>,
    /// The workflow step the form sits on.
    pub workflow_step_id: Option<String>,
    /// Subject persons (a family-level form covers several).
    pub subjects: Vec<String>,
    /// Sections in template order.
    pub sections: Vec<Section>,
}

/// Any canonical record: one line of the JSON Lines interchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Record {
    Person(Person),
    PersonAddress(PersonAddress),
    Relationship(Relationship),
    Involvement(Involvement),
    CaseNote(CaseNote),
    ChronologyEntry(ChronologyEntry),
    WorkbookForm(WorkbookForm),
}

/// A canonical field's value, borrowed from its record (see [`Record::field`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldRef<'a> {
    /// No value (the field is `None`; JSON `null`).
    Null,
    /// Text, a code or a person reference.
    Str(&'a str),
    /// A date.
    Date(NaiveDate),
    /// A date and time.
    DateTime(NaiveDateTime),
    /// Yes or no.
    Bool(bool),
    /// A list of persons (a note's or entry's `subjects`).
    Strs(&'a [String]),
}

impl Record {
    /// The record's kind.
    pub fn kind(&self) -> RecordKind {
        match self {
            Record::Person(_) => RecordKind::Person,
            Record::PersonAddress(_) => RecordKind::PersonAddress,
            Record::Relationship(_) => RecordKind::Relationship,
            Record::Involvement(_) => RecordKind::Involvement,
            Record::CaseNote(_) => RecordKind::CaseNote,
            Record::ChronologyEntry(_) => RecordKind::ChronologyEntry,
            Record::WorkbookForm(_) => RecordKind::WorkbookForm,
        }
    }

    /// The common header.
    pub fn header(&self) -> &Header {
        match self {
            Record::Person(r) => &r.header,
            Record::PersonAddress(r) => &r.header,
            Record::Relationship(r) => &r.header,
            Record::Involvement(r) => &r.header,
            Record::CaseNote(r) => &r.header,
            Record::ChronologyEntry(r) => &r.header,
            Record::WorkbookForm(r) => &r.header,
        }
    }

    /// The common header, mutably.
    pub fn header_mut(&mut self) -> &mut Header {
        match self {
            Record::Person(r) => &mut r.header,
            Record::PersonAddress(r) => &mut r.header,
            Record::Relationship(r) => &mut r.header,
            Record::Involvement(r) => &mut r.header,
            Record::CaseNote(r) => &mut r.header,
            Record::ChronologyEntry(r) => &mut r.header,
            Record::WorkbookForm(r) => &mut r.header,
        }
    }

    /// An empty record of a kind built field by field from a row (`None`
    /// for form answers and workbook forms, which are assembled).
    pub fn empty_of(kind: RecordKind) -> Option<Record> {
        Some(match kind {
            RecordKind::Person => Record::Person(Person::default()),
            RecordKind::PersonAddress => Record::PersonAddress(PersonAddress::default()),
            RecordKind::Relationship => Record::Relationship(Relationship::default()),
            RecordKind::Involvement => Record::Involvement(Involvement::default()),
            RecordKind::CaseNote => Record::CaseNote(CaseNote::default()),
            RecordKind::ChronologyEntry => Record::ChronologyEntry(ChronologyEntry::default()),
            RecordKind::FormAnswer | RecordKind::WorkbookForm => return None,
        })
    }

    /// The value of the field `name` as the record's JSON names it (the
    /// [`RecordKind::fields`] catalogue's names, but `subjects` where a case
    /// note or chronology entry holds its `person`s), without building
    /// the JSON: `None` for a name the record has no field of (its source
    /// key, `id`, a workbook form's fields).
    pub fn field(&self, name: &str) -> Option<FieldRef<'_>> {
        fn s(v: &Option<String>) -> Option<FieldRef<'_>> {
            Some(v.as_deref().map_or(FieldRef::Null, FieldRef::Str))
        }
        fn d(v: &Option<NaiveDate>) -> Option<FieldRef<'_>> {
            Some(v.map_or(FieldRef::Null, FieldRef::Date))
        }
        fn dt(v: &Option<NaiveDateTime>) -> Option<FieldRef<'_>> {
            Some(v.map_or(FieldRef::Null, FieldRef::DateTime))
        }
        fn b(v: bool) -> Option<FieldRef<'static>> {
            Some(FieldRef::Bool(v))
        }
        match self {
            Record::Person(p) => match name {
                "first_name" => s(&p.first_name),
                "middle_names" => s(&p.middle_names),
                "last_name" => s(&p.last_name),
                "full_name" => s(&p.full_name),
                "date_of_birth" => d(&p.date_of_birth),
                "dob_estimated" => b(p.dob_estimated),
                "date_of_death" => d(&p.date_of_death),
                "gender" => s(&p.gender),
                "ethnicity" => s(&p.ethnicity),
                "nhs_number" => s(&p.nhs_number),
                "upn" => s(&p.upn),
                "postcode" => s(&p.postcode),
                "role" => s(&p.role),
                "address" => s(&p.address),
                "locality" => s(&p.locality),
                "other_id" => s(&p.other_id),
                _ => None,
            },
            Record::PersonAddress(a) => match name {
                "person" => s(&a.person),
                "address" => s(&a.address),
                "postcode" => s(&a.postcode),
                "address_type" => s(&a.address_type),
                "start_date" => d(&a.start_date),
                "end_date" => d(&a.end_date),
                _ => None,
            },
            Record::Relationship(r) => match name {
                "person" => s(&r.person),
                "other_person" => s(&r.other_person),
                "relationship_type" => s(&r.relationship_type),
                "start_date" => d(&r.start_date),
                "end_date" => d(&r.end_date),
                _ => None,
            },
            Record::Involvement(i) => match name {
                "person" => s(&i.person),
                "case_id" => s(&i.case_id),
                "legal_status" => s(&i.legal_status),
                "team" => s(&i.team),
                "worker" => s(&i.worker),
                "start_date" => d(&i.start_date),
                "end_date" => d(&i.end_date),
                "step_change" => s(&i.step_change),
                _ => None,
            },
            Record::CaseNote(n) => match name {
                "subjects" => Some(FieldRef::Strs(&n.subjects)),
                "note_type" => s(&n.note_type),
                "title" => s(&n.title),
                "contact_date" => dt(&n.contact_date),
                "recorded_date" => dt(&n.recorded_date),
                "author" => s(&n.author),
                "text" => s(&n.text),
                "significant" => b(n.significant),
                "status" => s(&n.status),
                "confidentiality" => s(&n.confidentiality),
                _ => None,
            },
            Record::ChronologyEntry(c) => match name {
                "subjects" => Some(FieldRef::Strs(&c.subjects)),
                "start_date" => d(&c.start_date),
                "end_date" => d(&c.end_date),
                "date_approximate" => b(c.date_approximate),
                "category" => s(&c.category),
                "source_agency" => s(&c.source_agency),
                "description" => s(&c.description),
                "analysis" => s(&c.analysis),
                "significant" => b(c.significant),
                "source_record" => s(&c.source_record),
                _ => None,
            },
            Record::WorkbookForm(_) => None,
        }
    }

    /// One JSON line (no trailing newline).
    pub fn to_json_line(&self) -> Result<String, crate::Error> {
        serde_json::to_string(self).map_err(crate::Error::Json)
    }

    /// Parses one JSON line.
    pub fn from_json_line(line: &str) -> Result<Self, crate::Error> {
        serde_json::from_str(line).map_err(crate::Error::Json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty(kind: RecordKind) -> Option<Record> {
        Record::empty_of(kind)
    }

    #[test]
    fn every_catalogue_field_is_read_as_the_json_has_it() {
        for kind in RecordKind::ALL {
            let Some(record) = empty(kind) else { continue };
            let json = serde_json::to_value(&record).unwrap();
            for def in kind.fields().iter().filter(|d| !d.is_key) {
                let name = match (kind, def.name) {
                    (RecordKind::CaseNote | RecordKind::ChronologyEntry, "person") => "subjects",
                    (_, n) => n,
                };
                let got = record.field(name);
                let want = match &json[name] {
                    serde_json::Value::Null => Some(FieldRef::Null),
                    serde_json::Value::Bool(b) => Some(FieldRef::Bool(*b)),
                    serde_json::Value::Array(a) if a.is_empty() => Some(FieldRef::Strs(&[])),
                    other => panic!("{kind}.{name}: {other}"),
                };
                assert_eq!(got, want, "{kind}.{name}");
            }
        }
    }

    #[test]
    fn a_set_field_is_borrowed_from_the_record() {
        let note = Record::CaseNote(CaseNote {
            text: Some("seen at home".into()),
            subjects: vec!["1".into(), "2".into()],
            significant: true,
            ..CaseNote::default()
        });
        assert_eq!(note.field("text"), Some(FieldRef::Str("seen at home")));
        assert_eq!(note.field("significant"), Some(FieldRef::Bool(true)));
        assert_eq!(
            note.field("subjects"),
            Some(FieldRef::Strs(&["1".to_string(), "2".to_string()]))
        );
        assert_eq!(note.field("person"), None);
        assert_eq!(note.field("source_key"), None);
    }
}
