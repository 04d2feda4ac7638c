//! The rule catalogue: every finding a run can report has one of these ids.
//!
//! Ids are stable: reports, ground-truth files and go-live scripts key on
//! them. Each rule has a default severity.

use serde::{Deserialize, Serialize};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Reported; does not fail the run.
    Warning,
    /// Fails the run (exit code 1): the record cannot be migrated as it is.
    Error,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A rule of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Stable id, e.g. `person.nhs-number`.
    pub id: &'static str,
    /// Default severity.
    pub severity: Severity,
    /// One line for users.
    pub summary: &'static str,
}

macro_rules! rules {
    ($($name:ident = $id:literal, $sev:ident, $summary:literal;)*) => {
        $(
            #[doc = $summary]
            pub const $name: &str = $id;
        )*
        /// Every rule, in catalogue order.
        pub const ALL: &[Rule] = &[
            $(Rule { id: $id, severity: Severity::$sev, summary: $summary },)*
        ];
    };
}

rules! {
    FILE_UNREADABLE = "file.unreadable", Error, "The input file cannot be opened or read.";
    FILE_EMPTY = "file.empty", Error, "The input file is empty (no header).";
    FILE_NO_MAPPING = "file.no-mapping", Error, "No mapping's source glob fits the file's name.";
    FILE_SKIPPED = "file.skipped", Warning, "A file in an input directory that no mapping fits, or a folder in one (folders are not read recursively), was skipped.";
    FILE_AMBIGUOUS_MAPPING = "file.ambiguous-mapping", Error, "Several mappings' source globs fit the file's name.";
    FILE_HEADER = "file.header", Error, "The file's header does not fit the mapping: it lacks a column the mapping reads, or holds a column name twice.";
    FILE_ENCODING = "file.encoding", Error, "The file is in an encoding casebridge does not read (e.g. UTF-16).";
    ENCODING_FALLBACK = "encoding.fallback", Warning, "Fields that are not valid UTF-8 are read as Windows-1252 (auto encoding).";
    ENCODING_INVALID = "encoding.invalid", Error, "A field's bytes are not valid in the declared encoding.";
    CSV_RAGGED_ROW = "csv.ragged-row", Error, "A row has more or fewer fields than the header.";
    CSV_SYNTAX = "csv.syntax", Error, "The CSV cannot be parsed past this point.";
    XML_SYNTAX = "xml.syntax", Error, "The XML is malformed: it cannot be parsed past this point.";
    XML_DTD = "xml.dtd", Error, "The XML declares a DTD (DOCTYPE), refused: no entity is ever expanded.";
    XML_ENTITY = "xml.entity", Error, "An element's text refers to an undefined entity (&name;); the record is rejected.";
    SHEET_MISSING = "sheet.missing", Error, "The workbook has no sheet of the name the mapping gives.";
    SHEET_CELL_ERROR = "sheet.cell-error", Error, "A cell holds a spreadsheet error value (#N/A, #REF!, ...).";
    SHEET_UNREADABLE = "sheet.unreadable", Error, "The workbook cannot be read as a spreadsheet.";
    SHEET_DUPLICATE_ROW = "sheet.duplicate-row", Warning, "A sheet row repeats an earlier row's number (or goes back); both rows are read.";
    FIELD_REQUIRED = "field.required", Error, "A required field is empty.";
    FIELD_TYPE = "field.type", Error, "A value is not of the field's type or format.";
    FIELD_CODE = "field.code", Error, "A value is not in the field's code set.";
    PERSON_NHS_NUMBER = "person.nhs-number", Error, "An NHS number is not 10 digits with a valid Modulus 11 check digit.";
    PERSON_UPN = "person.upn", Error, "A UPN is not 13 characters with a valid DfE check letter.";
    ADDRESS_POSTCODE = "address.postcode", Error, "A postcode is not in UK postcode format.";
    PERSON_DOB_FUTURE = "person.dob-future", Error, "A date of birth is in the future.";
    PERSON_DOB_IMPLAUSIBLE = "person.dob-implausible", Error, "A date of birth is more than 120 years ago.";
    DATE_FUTURE = "date.future", Error, "A note, event or start date is in the future.";
    DATE_END_BEFORE_START = "date.end-before-start", Error, "An end date is before its start date.";
    REF_PERSON_MISSING = "ref.person-missing", Error, "A referenced person is not among the inputs' persons.";
    REF_NOT_CHECKED = "ref.not-checked", Warning, "Person references could not be checked: no person records among the inputs.";
    WORKBOOK_UNKNOWN_QUESTION = "workbook.unknown-question", Error, "A question code is not in the workbook template.";
    WORKBOOK_ANSWER_TYPE = "workbook.answer-type", Error, "An answer is not of its question's type.";
    WORKBOOK_ANSWER_VALUE = "workbook.answer-value", Error, "A coded answer is not one of its question's values.";
    WORKBOOK_ANSWER_RANGE = "workbook.answer-range", Error, "A number or score is outside its question's range.";
    WORKBOOK_ANSWER_MISSING = "workbook.answer-missing", Warning, "An answer row holds no answer.";
    WORKBOOK_REQUIRED_MISSING = "workbook.required-missing", Warning, "A form has no answer to a question its template marks required.";
    WORKBOOK_ROW_ID = "workbook.row-id", Warning, "A repeating-table answer has no row id.";
    LIMIT_RECORD = "limit.record", Error, "A record is larger than the record size limit.";
    LIMIT_DEPTH = "limit.depth", Error, "XML elements nest deeper than the depth limit.";
    LIMIT_ARCHIVE = "limit.archive", Error, "A spreadsheet inflates past the decompressed size, ratio or entry limit.";
    LIMIT_FINDINGS = "limit.findings", Warning, "Too many findings: the rest are counted, not listed.";
    FILE_UNSUPPORTED = "file.unsupported", Error, "The file is in a format casebridge does not read (.xls, .xlsb, .ods).";
    JSONL_RECORD = "jsonl.record", Error, "A JSON Lines line is not a canonical record of a kind that can be read.";
    FILE_COLUMN_UNNAMED = "file.column-unnamed", Warning, "A column with no name in the header holds values: no mapping can name it, so they are not read.";
    FILE_COLUMN_MISSING = "file.column-missing", Warning, "The file lacks the column of an optional field: that field is left empty, the rest is read.";
    FILE_REPEATED = "file.repeated", Warning, "The same file was given more than once (by name, folder or link): it is read once.";
    FILE_NOT_REGULAR = "file.not-regular", Error, "An input is not a regular file (a FIFO, socket or device): it is never opened.";
    MAPPING_UNUSED = "mapping.unused", Warning, "A mapping of the set read no file: no input fits its source glob.";
    XML_NO_RECORDS = "xml.no-records", Error, "The XML has content but the mapping's record path matches no element.";
    KEY_DUPLICATE = "key.duplicate", Error, "A source key appears twice for one system and kind: two records would get one id.";
    RUN_NOTHING_CHECKED = "run.nothing-checked", Error, "No record was checked: a gate never passes by reading nothing.";
    EXPORT_NO_TARGET = "export.no-target", Warning, "The export target has no mapping (or writer) for a record's kind: the record is skipped, not written.";
    EXPORT_VALUE = "export.value", Error, "A value cannot be written through the target mapping (no code for it, a key that does not split, a text longer than an XLSX cell holds, a character the file's encoding lacks): the record is not written.";
    EXPORT_SHEET_FULL = "export.sheet-full", Error, "An XLSX sheet written holds all the rows it takes (Excel's 1,048,576, or `[limits] max_sheet_rows`): the record is not written; write the table as CSV.";
    FILE_CHANGED = "file.changed", Error, "The file changed between its hashing and its reading: its records' provenance names the hash taken first.";
    MIGRATE_WITHDRAWN = "migrate.withdrawn", Warning, "A record of the last full extract is absent from tonight's: it is written as withdrawn.";
    MIGRATE_WITHDRAWAL_HELD = "migrate.withdrawal-held", Warning, "A source of a full extract was not read through tonight: records absent from it are not withdrawn.";
    RUN_UNBALANCED = "run.unbalanced", Error, "Records read and records accounted for (valid, rejected, merged, skipped) differ.";
}

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    ALL.iter().find(|r| r.id == id)
}

/// The default severity of a rule id (error for unknown ids).
pub fn severity(id: &str) -> Severity {
    rule(id).map_or(Severity::Error, |r| r.severity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_dotted() {
        let mut ids: Vec<_> = ALL.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n);
        assert!(ALL
            .iter()
            .all(|r| r.id.contains('.') && r.id == r.id.to_lowercase()));
    }
}
