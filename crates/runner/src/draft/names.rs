//! Column names matched against canonical field names: normalisation
//! (case, separators, camel case, common suffixes) and a small built-in
//! list of synonyms per field.
//!
//! A match has a *quality* (how closely the names agree) that the caller
//! multiplies by the *strength* of what it compared against (a shipped
//! mapping's column for the same kind beats a synonym).

use casebridge_model::RecordKind;

/// Suffixes exports add to a field's name (`GENDER_CODE`, `PERSON_ID`,
/// `NHS_NUMBER`): ignored when comparing stems.
const SUFFIXES: &[&str] = &[
    "id", "code", "cd", "ref", "no", "num", "number", "key", "desc", "txt", "dt",
];

/// A column name as lower-case words joined by `_`: case folded, every run
/// of non-alphanumeric characters one `_`, camel case split
/// (`DateOfBirth` -> `date_of_birth`).
pub(crate) fn norm(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev: Option<char> = None;
    for c in name.trim().chars() {
        if c.is_alphanumeric() {
            let boundary =
                c.is_uppercase() && prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit());
            if boundary && !out.ends_with('_') && !out.is_empty() {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
        prev = Some(c);
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// The words of a normalised name without separators (`first_name` ->
/// `firstname`), so that `FirstName`, `FIRST_NAME` and `firstname` agree.
pub(crate) fn compact(normed: &str) -> String {
    normed.chars().filter(|c| *c != '_').collect()
}

/// A normalised name without one trailing common suffix (`person_id` ->
/// `person`); the name itself when it is only that suffix.
pub(crate) fn stem(normed: &str) -> &str {
    for s in SUFFIXES {
        if let Some(rest) = normed.strip_suffix(s) {
            if let Some(rest) = rest.strip_suffix('_') {
                if !rest.is_empty() {
                    return rest;
                }
            }
        }
    }
    normed
}

/// How a column name matched a name it was compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum How {
    /// The same name, case aside.
    Exact,
    /// The same words (`Date Of Birth`, `date_of_birth`, `DateOfBirth`).
    Normalised,
    /// The same once a common suffix is dropped (`GENDER_CODE`, `gender`).
    Suffix,
    /// One name's words are a run of the other's (`CHILD_DATE_OF_BIRTH`).
    Contains,
    /// Spelt nearly alike.
    Similar,
}

impl How {
    /// The words a REVIEW comment uses.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            How::Exact => "exactly",
            How::Normalised => "by its words",
            How::Suffix => "ignoring a suffix",
            How::Contains => "by a part of its name",
            How::Similar => "by a similar spelling",
        }
    }
}

/// How well `column` matches `name` (0 to 1), if it does at all.
pub(crate) fn name_match(column: &str, name: &str) -> Option<(f64, How)> {
    if column.trim().eq_ignore_ascii_case(name.trim()) {
        return Some((1.0, How::Exact));
    }
    let (nc, nn) = (norm(column), norm(name));
    if nc.is_empty() || nn.is_empty() {
        return None;
    }
    let (cc, cn) = (compact(&nc), compact(&nn));
    if cc == cn {
        return Some((0.95, How::Normalised));
    }
    let (sc, sn) = (compact(stem(&nc)), compact(stem(&nn)));
    if sc == sn {
        return Some((0.9, How::Suffix));
    }
    let (wc, wn): (Vec<&str>, Vec<&str>) = (nc.split('_').collect(), nn.split('_').collect());
    let contains = |long: &[&str], short: &[&str]| {
        short.len() < long.len() && long.windows(short.len()).any(|w| w == short)
    };
    // A run of words, not a short common word: `OTHER_PERSON_ID` holds
    // `person`, but every `*_ID` column does not hold `id`, nor every
    // `*_DATE` column `date`.
    let meaningful = |short: &[&str]| short.iter().map(|w| w.len()).sum::<usize>() >= 5;
    if (contains(&wc, &wn) && meaningful(&wn)) || (contains(&wn, &wc) && meaningful(&wc)) {
        return Some((0.7, How::Contains));
    }
    if cc.len() >= 5 && cn.len() >= 5 {
        let sim = strsim::jaro_winkler(&cc, &cn);
        if sim >= 0.93 {
            return Some((0.6 * sim, How::Similar));
        }
    }
    None
}

/// Other names exports give a field (compared like column names).
pub(crate) fn synonyms(kind: RecordKind, field: &str) -> &'static [&'static str] {
    use RecordKind::*;
    match (kind, field) {
        (Person, "source_key") => &[
            "person_id",
            "person_ref",
            "child_id",
            "child_ref",
            "client_id",
            "client_ref",
            "subject_id",
            "la_child_id",
            "local_id",
            "id",
        ],
        (PersonAddress, "source_key") => &["address_id", "person_address_id", "id"],
        (Relationship, "source_key") => &["relationship_id", "personal_relationship_id", "id"],
        (Involvement, "source_key") => &["involvement_id", "episode_id", "period_id", "id"],
        (CaseNote, "source_key") => &["note_id", "case_note_id", "id"],
        (ChronologyEntry, "source_key") => &["entry_id", "chronology_id", "event_id", "id"],
        (FormAnswer, "source_key") => &["answer_id", "form_answer_id"],
        (_, "first_name") => &[
            "forename",
            "forenames",
            "first_names",
            "given_name",
            "given_names",
            "christian_name",
        ],
        (_, "middle_names") => &["middle_name", "middle", "other_names", "second_name"],
        (_, "last_name") => &["surname", "family_name", "lastname"],
        (_, "full_name") => &["name", "display_name", "person_name", "child_name"],
        (_, "date_of_birth") => &["dob", "birth_date", "date_birth", "person_birth_date"],
        (_, "dob_estimated") => &[
            "age_estimated",
            "estimated_dob",
            "dob_approximate",
            "dob_is_estimated",
        ],
        (_, "date_of_death") => &["dod", "death_date", "person_death_date", "deceased_date"],
        (_, "gender") => &["sex", "gender_current", "person_gender"],
        (_, "ethnicity") => &[
            "ethnic_origin",
            "ethnic_group",
            "ethnic",
            "full_ethnicity",
            "ethnicity_code",
        ],
        (_, "nhs_number") => &["nhs", "nhs_no"],
        (_, "upn") => &["unique_pupil_number", "pupil_number"],
        (_, "postcode") => &["post_code", "postal_code", "zip"],
        (_, "role") => &["is_child", "person_type", "role_type"],
        (_, "address") => &["address_line", "address_lines", "street", "full_address"],
        (_, "locality") => &["town", "city", "suburb", "area"],
        (_, "other_id") => &["other_identifier", "alternative_id", "legacy_id"],
        (_, "person") => &[
            "person_id",
            "child_id",
            "client_id",
            "subject_id",
            "person_ref",
            "child_ref",
        ],
        (_, "other_person") => &[
            "other_person_id",
            "related_person_id",
            "related_person",
            "person_b",
            "relative_id",
        ],
        (_, "relationship_type") => &["relationship", "relation", "relationship_code"],
        (_, "start_date") => &[
            "start",
            "from_date",
            "date_from",
            "started_on",
            "valid_from",
            "begin_date",
            "start_dt",
        ],
        (_, "end_date") => &[
            "end",
            "to_date",
            "date_to",
            "ended_on",
            "completed_on",
            "valid_to",
            "end_dt",
        ],
        (_, "address_type") => &["address_usage", "type_of_address"],
        (_, "case_id") => &["case", "case_ref", "family_id", "family_ref", "case_number"],
        (_, "legal_status") => &["legal", "status_type", "category_of_need"],
        (_, "team") => &["team_name", "team_id", "responsible_team"],
        (_, "worker") => &[
            "worker_name",
            "allocated_worker",
            "social_worker",
            "worker_id",
        ],
        (_, "step_change") => &["step_up_down", "step"],
        (_, "note_type") => &["case_note_type", "contact_type", "type"],
        (_, "title") => &["subject", "note_title", "heading"],
        (_, "contact_date") => &["effective_date", "event_date", "note_date", "date"],
        (_, "recorded_date") => &[
            "created_on",
            "created_date",
            "recorded_on",
            "entered_on",
            "date_recorded",
        ],
        (_, "author") => &["created_by", "author_name", "recorded_by", "written_by"],
        (CaseNote, "text") => &[
            "note",
            "note_text",
            "body",
            "notes",
            "narrative",
            "contents",
        ],
        (_, "significant") => &["significant_event", "is_significant", "significant_flag"],
        (_, "status") => &["note_status", "record_status", "state"],
        (_, "confidentiality") => &["confidential", "restricted", "sensitivity"],
        (_, "date_approximate") => &["approximate", "date_estimated", "approx_date"],
        (_, "category") => &["event_type", "event_category", "step_type", "type"],
        (_, "source_agency") => &["agency", "reported_by", "source"],
        (_, "description") => &["event", "details", "summary", "event_description"],
        (_, "analysis") => &["impact", "impact_on_child", "analysis_text"],
        (_, "source_record") => &["source_id", "record_id", "linked_record"],
        (_, "question_code") => &["question", "question_user_code", "question_id"],
        (_, "text_answer") => &["answer", "answer_text", "text_value"],
        (_, "date_answer") => &["answer_date", "date_value"],
        (_, "number_answer") => &["answer_number", "numeric_answer", "number_value"],
        (_, "subject_person") => &["subject_person_id", "subject_id", "person_id"],
        (_, "row_id") => &["answer_row", "row", "form_answer_row_id"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_across_case_separators_and_camel_case() {
        for (raw, want) in [
            ("DATE_OF_BIRTH", "date_of_birth"),
            ("Date of Birth", "date_of_birth"),
            ("DateOfBirth", "date_of_birth"),
            ("  date-of-birth ", "date_of_birth"),
            ("ChildRef", "child_ref"),
            ("NHS_ID", "nhs_id"),
            ("person__id__", "person_id"),
            ("UPN", "upn"),
        ] {
            assert_eq!(norm(raw), want, "{raw}");
        }
        assert_eq!(compact("first_name"), "firstname");
        assert_eq!(stem("gender_code"), "gender");
        assert_eq!(stem("person_id"), "person");
        assert_eq!(stem("id"), "id", "a bare suffix stays");
    }

    #[test]
    fn matches_are_graded_from_exact_to_similar() {
        let how = |c: &str, n: &str| name_match(c, n).map(|(_, h)| h);
        assert_eq!(how("GENDER", "gender"), Some(How::Exact));
        assert_eq!(how("FirstName", "first_name"), Some(How::Normalised));
        assert_eq!(how("firstname", "first_name"), Some(How::Normalised));
        assert_eq!(how("GENDER_CODE", "gender"), Some(How::Suffix));
        assert_eq!(how("NHS_ID", "nhs_number"), Some(How::Suffix));
        assert_eq!(how("UPN_ID", "upn"), Some(How::Suffix));
        assert_eq!(
            how("CHILD_DATE_OF_BIRTH", "date_of_birth"),
            Some(How::Contains)
        );
        assert_eq!(how("ETHNICTY", "ethnicity"), Some(How::Similar));
        assert_eq!(how("SURNAME", "first_name"), None);
        assert_eq!(how("START_DATE", "end_date"), None);
        // Every `_ID` column does not match a bare `id`.
        assert_eq!(how("PERSON_ID", "id"), None);
        let q = |c: &str, n: &str| name_match(c, n).map_or(0.0, |(q, _)| q);
        assert!(q("GENDER", "gender") > q("GENDER_CODE", "gender"));
        assert!(q("GENDER_CODE", "gender") > q("PERSON_GENDER_X", "gender"));
    }

    #[test]
    fn synonyms_cover_the_usual_spellings() {
        let hit = |kind, field, col: &str| {
            synonyms(kind, field)
                .iter()
                .any(|s| name_match(col, s).is_some_and(|(q, _)| q >= 0.9))
        };
        assert!(hit(RecordKind::Person, "first_name", "Forename"));
        assert!(hit(RecordKind::Person, "last_name", "Surname"));
        assert!(hit(RecordKind::Person, "date_of_birth", "DOB"));
        assert!(hit(RecordKind::Person, "gender", "Sex"));
        assert!(hit(RecordKind::Person, "source_key", "ChildRef"));
        assert!(hit(RecordKind::Person, "first_name", "GIVEN_NAME"));
        assert!(hit(RecordKind::Person, "last_name", "family_name"));
        assert!(hit(RecordKind::Person, "date_of_birth", "birth_date"));
        assert!(!hit(RecordKind::Person, "first_name", "Surname"));
    }
}
