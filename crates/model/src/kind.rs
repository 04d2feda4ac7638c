//! The record kinds a mapping can produce and the canonical fields of each.
//!
//! The catalogue here is what mappings are checked against when they load
//! (an unknown field gets a "did you mean") and what the validator's base
//! rules hang on: each [`FieldDef`] carries its type and the [`Check`]s that
//! apply to it wherever it came from.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A kind of canonical record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A person: child, parent or carer, other adult.
    Person,
    /// One address of a person, with its dates.
    PersonAddress,
    /// A family relationship between two persons.
    Relationship,
    /// A case or involvement: legal status, team, worker, dates.
    Involvement,
    /// A case note.
    CaseNote,
    /// A chronology entry (migrated, or derived from workflow steps).
    ChronologyEntry,
    /// One answer of a form, as entity-attribute-value exports hold them
    /// (Mosaic `DM_CACHED_FORM_ANSWERS`); pivoted into [`RecordKind::WorkbookForm`].
    FormAnswer,
    /// A whole workbook form with sections, questions and typed answers.
    WorkbookForm,
}

impl RecordKind {
    /// Every kind, in the order runs process them: persons first, so that
    /// references to them can be checked as the other kinds stream past.
    pub const ALL: [RecordKind; 8] = [
        RecordKind::Person,
        RecordKind::PersonAddress,
        RecordKind::Relationship,
        RecordKind::Involvement,
        RecordKind::CaseNote,
        RecordKind::ChronologyEntry,
        RecordKind::FormAnswer,
        RecordKind::WorkbookForm,
    ];

    /// The kinds a mapping file can name (a workbook form is built by
    /// pivoting form answers, not read from a single row).
    pub const MAPPABLE: [RecordKind; 7] = [
        RecordKind::Person,
        RecordKind::PersonAddress,
        RecordKind::Relationship,
        RecordKind::Involvement,
        RecordKind::CaseNote,
        RecordKind::ChronologyEntry,
        RecordKind::FormAnswer,
    ];

    /// The snake_case name used in mapping files and JSON Lines.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Person => "person",
            RecordKind::PersonAddress => "person_address",
            RecordKind::Relationship => "relationship",
            RecordKind::Involvement => "involvement",
            RecordKind::CaseNote => "case_note",
            RecordKind::ChronologyEntry => "chronology_entry",
            RecordKind::FormAnswer => "form_answer",
            RecordKind::WorkbookForm => "workbook_form",
        }
    }

    /// The canonical fields of this kind, in their fixed order.
    pub fn fields(self) -> &'static [FieldDef] {
        match self {
            RecordKind::Person => PERSON,
            RecordKind::PersonAddress => PERSON_ADDRESS,
            RecordKind::Relationship => RELATIONSHIP,
            RecordKind::Involvement => INVOLVEMENT,
            RecordKind::CaseNote => CASE_NOTE,
            RecordKind::ChronologyEntry => CHRONOLOGY_ENTRY,
            RecordKind::FormAnswer => FORM_ANSWER,
            RecordKind::WorkbookForm => &[],
        }
    }

    /// The field with this name, if the kind has one.
    pub fn field(self, name: &str) -> Option<&'static FieldDef> {
        self.fields().iter().find(|f| f.name == name)
    }

    /// The index of the field with this name in [`RecordKind::fields`].
    pub fn field_index(self, name: &str) -> Option<usize> {
        self.fields().iter().position(|f| f.name == name)
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a record kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown record kind")]
pub struct UnknownKind;

impl FromStr for RecordKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecordKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(UnknownKind)
    }
}

/// The type of a canonical field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Free text.
    Text,
    /// A value from a code set.
    Code,
    /// A calendar date.
    Date,
    /// A date and time (local, as ICS exports hold them).
    DateTime,
    /// A whole number.
    Integer,
    /// A decimal number.
    Decimal,
    /// Yes or no.
    Boolean,
    /// The source key of a person in the same inputs.
    PersonRef,
}

impl FieldType {
    /// The snake_case name used in mapping files.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Code => "code",
            FieldType::Date => "date",
            FieldType::DateTime => "datetime",
            FieldType::Integer => "integer",
            FieldType::Decimal => "decimal",
            FieldType::Boolean => "boolean",
            FieldType::PersonRef => "person_ref",
        }
    }
}

/// A domain rule that applies to a canonical field wherever it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// NHS number: 10 digits with a Modulus 11 check digit.
    NhsNumber,
    /// Unique Pupil Number: 13 characters with the DfE check letter first.
    Upn,
    /// UK postcode format.
    Postcode,
    /// A date of birth: not in the future and plausible.
    BirthDate,
    /// A date that must not be in the future.
    NotFuture,
    /// The end of a period: not before the named start field.
    NotBefore(&'static str),
}

/// One canonical field of a record kind.
#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    /// Field name as mapping files and JSON Lines spell it.
    pub name: &'static str,
    /// Its type.
    pub ty: FieldType,
    /// Whether this field is the record's source key.
    pub is_key: bool,
    /// Whether it holds personal data that reports must not show by default.
    pub is_personal: bool,
    /// Domain rules that apply to it.
    pub checks: &'static [Check],
    /// One line for users.
    pub doc: &'static str,
}

const fn f(name: &'static str, ty: FieldType, doc: &'static str) -> FieldDef {
    FieldDef {
        name,
        ty,
        is_key: false,
        is_personal: true,
        checks: &[],
        doc,
    }
}

const fn key(doc: &'static str) -> FieldDef {
    FieldDef {
        name: "source_key",
        ty: FieldType::Text,
        is_key: true,
        is_personal: false,
        checks: &[],
        doc,
    }
}

impl FieldDef {
    const fn checks(mut self, checks: &'static [Check]) -> Self {
        self.checks = checks;
        self
    }
    const fn public(mut self) -> Self {
        self.is_personal = false;
        self
    }
}

use Check::*;
use FieldType::*;

const PERSON: &[FieldDef] = &[
    key("the person's id in the source system"),
    f("first_name", Text, "first or given names"),
    f("middle_names", Text, "middle names"),
    f("last_name", Text, "family name"),
    f("full_name", Text, "full display name"),
    f("date_of_birth", Date, "date of birth").checks(&[BirthDate]),
    f(
        "dob_estimated",
        Boolean,
        "whether the date of birth is estimated",
    )
    .public(),
    f("date_of_death", Date, "date of death").checks(&[NotFuture, NotBefore("date_of_birth")]),
    f("gender", Code, "gender").public(),
    f("ethnicity", Code, "ethnicity").public(),
    f("nhs_number", Text, "NHS number").checks(&[NhsNumber]),
    f("upn", Text, "Unique Pupil Number").checks(&[Upn]),
    f("postcode", Text, "current postcode").checks(&[Postcode]),
    f("role", Code, "child, parent_carer or other_adult").public(),
    f(
        "address",
        Text,
        "current address lines (house number, street, area), for person linkage",
    ),
    f(
        "locality",
        Text,
        "current town, suburb or locality, for person linkage",
    ),
    f(
        "other_id",
        Text,
        "another identifier of the person (e.g. a social security or local id)",
    ),
];

const PERSON_ADDRESS: &[FieldDef] = &[
    key("the address row's id in the source system"),
    f("person", PersonRef, "the person living there").public(),
    f("address", Text, "address lines"),
    f("postcode", Text, "postcode").checks(&[Postcode]),
    f("address_type", Code, "type of address").public(),
    f("start_date", Date, "from").checks(&[NotFuture]).public(),
    f("end_date", Date, "to")
        .checks(&[NotBefore("start_date")])
        .public(),
];

const RELATIONSHIP: &[FieldDef] = &[
    key("the relationship's id in the source system"),
    f("person", PersonRef, "person A").public(),
    f("other_person", PersonRef, "person B").public(),
    f(
        "relationship_type",
        Code,
        "what A is to B: mother, father, sibling, ...",
    )
    .public(),
    f("start_date", Date, "from").checks(&[NotFuture]).public(),
    f("end_date", Date, "to")
        .checks(&[NotBefore("start_date")])
        .public(),
];

const INVOLVEMENT: &[FieldDef] = &[
    key("the involvement's id in the source system"),
    f("person", PersonRef, "the child").public(),
    f("case_id", Text, "family or case id").public(),
    f("legal_status", Code, "support, cin, cp or cla").public(),
    f("team", Text, "responsible team").public(),
    f("worker", Text, "allocated worker").public(),
    f("start_date", Date, "from").checks(&[NotFuture]).public(),
    f("end_date", Date, "to")
        .checks(&[NotBefore("start_date")])
        .public(),
    f("step_change", Code, "step_up or step_down").public(),
];

const CASE_NOTE: &[FieldDef] = &[
    key("the note's id in the source system"),
    f("person", PersonRef, "subject person").public(),
    f("note_type", Code, "note type").public(),
    f("title", Text, "title"),
    f("contact_date", DateTime, "date and time of the contact")
        .checks(&[NotFuture])
        .public(),
    f("recorded_date", DateTime, "date and time recorded")
        .checks(&[NotFuture])
        .public(),
    f("author", Text, "author").public(),
    f("text", Text, "note body"),
    f("significant", Boolean, "significant-event flag").public(),
    f("status", Code, "draft, complete or deleted").public(),
    f("confidentiality", Code, "confidentiality").public(),
];

const CHRONOLOGY_ENTRY: &[FieldDef] = &[
    key("the entry's id in the source system"),
    f("person", PersonRef, "subject person").public(),
    f("start_date", Date, "date, or start of the range")
        .checks(&[NotFuture])
        .public(),
    f("end_date", Date, "end of the range")
        .checks(&[NotFuture, NotBefore("start_date")])
        .public(),
    f(
        "date_approximate",
        Boolean,
        "whether the date is approximate",
    )
    .public(),
    f("category", Code, "event category").public(),
    f("source_agency", Text, "who reported it").public(),
    f("description", Text, "what happened"),
    f("analysis", Text, "analysis and impact on the child"),
    f("significant", Boolean, "significant-event flag").public(),
    f("source_record", Text, "id of the record it came from").public(),
];

const FORM_ANSWER: &[FieldDef] = &[
    key("the answer row's id, when the export has one"),
    f("form_id", Text, "the form instance").public(),
    f("workflow_step_id", Text, "the workflow step").public(),
    f("subgroup_id", Text, "the subgroup of subjects").public(),
    f(
        "subject_person",
        PersonRef,
        "the person answered for; 0 or less means every subject",
    )
    .public(),
    f(
        "question_code",
        Text,
        "question code in the workbook template",
    )
    .public(),
    f("text_answer", Text, "text or coded answer"),
    f("date_answer", DateTime, "date answer"),
    f("number_answer", Decimal, "number answer"),
    f("row_id", Text, "repeating-table row").public(),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for k in RecordKind::ALL {
            assert_eq!(k.as_str().parse::<RecordKind>(), Ok(k));
        }
    }

    #[test]
    fn every_mappable_kind_has_one_source_key_first() {
        for k in RecordKind::MAPPABLE {
            let keys: Vec<_> = k.fields().iter().filter(|f| f.is_key).collect();
            assert_eq!(keys.len(), 1, "{k}");
            assert_eq!(k.fields()[0].name, "source_key");
        }
    }

    #[test]
    fn not_before_names_a_field_of_the_same_kind() {
        for k in RecordKind::ALL {
            for fd in k.fields() {
                for c in fd.checks {
                    if let Check::NotBefore(start) = c {
                        assert!(k.field(start).is_some(), "{k}.{} -> {start}", fd.name);
                    }
                }
            }
        }
    }
}
