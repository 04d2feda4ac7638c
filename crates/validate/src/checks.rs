//! The base rules that hang on canonical fields, whichever mapping filled
//! them: identifiers, postcodes, dates, references to persons, and workbook
//! answers against their template.

#[cfg(test)]
use rustc_hash::FxHashSet;

use casebridge_mapping::mapping::{parse_bool, parse_decimal};
use casebridge_mapping::{AnswerType, DateFormats, MappedRecord, Mapping, Value};
use casebridge_model::ids::{is_valid_nhs_number, is_valid_postcode, is_valid_upn};
use casebridge_model::{rules, Check, FieldType, RecordKind};
use chrono::{Months, NaiveDate};

/// A problem found by a check, before it is placed in a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    /// Rule id.
    pub rule: &'static str,
    /// Source column(s).
    pub column: String,
    /// Plain message.
    pub message: String,
    /// The value, when values are shown.
    pub value: Option<String>,
}

/// The persons known to a run, by source key, in memory: the checks'
/// tests' [`Persons`] (a run's is the runner's, held within a budget).
#[cfg(test)]
#[derive(Debug, Default)]
pub struct PersonIndex {
    keys: FxHashSet<Box<str>>,
    /// Whether any person source was read (if not, references go unchecked).
    pub loaded: bool,
}

/// The persons the reference checks look keys up in.
pub trait Persons {
    /// Whether any person source was read (if not, references go unchecked).
    fn loaded(&self) -> bool;
    /// Whether a person's source key is known.
    fn contains(&self, key: &str) -> bool;
}

#[cfg(test)]
impl Persons for PersonIndex {
    fn loaded(&self) -> bool {
        self.loaded
    }

    fn contains(&self, key: &str) -> bool {
        PersonIndex::contains(self, key)
    }
}

#[cfg(test)]
impl PersonIndex {
    /// Adds a person's source key.
    pub fn insert(&mut self, key: &str) {
        let key = key.trim();
        if !key.is_empty() && !self.keys.contains(key) {
            self.keys.insert(key.into());
        }
    }

    /// Whether a key is known.
    pub fn contains(&self, key: &str) -> bool {
        self.keys.contains(key.trim())
    }
}

/// Settings of the checks.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// "Today": dates after it are in the future.
    pub as_of: NaiveDate,
    /// Put offending values in issues.
    pub show_values: bool,
}

/// Runs the base rules on mapped records of one mapping.
#[derive(Debug)]
pub struct Checker<'m> {
    mapping: &'m Mapping,
    opts: CheckOptions,
    oldest_birth: NaiveDate,
    /// (slot, checks, column) of each mapped field with checks.
    plan: Vec<(usize, &'static [Check], String)>,
    refs: Vec<(usize, String)>,
    answer_formats: DateFormats,
}

fn slot_of(kind: RecordKind, name: &str) -> usize {
    kind.field_index(name).unwrap_or(usize::MAX)
}

impl<'m> Checker<'m> {
    /// Prepares the checks for a mapping.
    pub fn new(mapping: &'m Mapping, opts: CheckOptions) -> Checker<'m> {
        let kind = mapping.kind;
        let mut plan = Vec::new();
        let mut refs = Vec::new();
        for (name, column) in mapping.mapped_fields() {
            let Some(slot) = kind.field_index(name) else {
                continue;
            };
            let def = &kind.fields()[slot];
            if !def.checks.is_empty() {
                plan.push((slot, def.checks, column.to_string()));
            }
            if def.ty == FieldType::PersonRef {
                refs.push((slot, column.to_string()));
            }
        }
        let oldest_birth = opts
            .as_of
            .checked_sub_months(Months::new(120 * 12))
            .unwrap_or(NaiveDate::MIN);
        Checker {
            mapping,
            opts,
            oldest_birth,
            plan,
            refs,
            answer_formats: DateFormats::default_list(),
        }
    }

    fn value(&self, s: &str) -> Option<String> {
        self.opts.show_values.then(|| s.to_string())
    }

    /// Checks one mapped record, pushing an [`Issue`] per problem. Fields the
    /// mapping already found invalid are not checked again.
    pub fn check(&self, rec: &MappedRecord, persons: &dyn Persons, out: &mut Vec<Issue>) {
        let kind = rec.kind;
        for (slot, checks, column) in &self.plan {
            let s = &rec.slots[*slot];
            if !s.is_present() || s.value == Value::Invalid {
                continue;
            }
            let name = kind.fields()[*slot].name;
            for check in *checks {
                let issue = |rule: &'static str, msg: String| Issue {
                    rule,
                    column: column.clone(),
                    message: msg,
                    value: self.value(&s.text),
                };
                match check {
                    Check::NhsNumber if !is_valid_nhs_number(&s.text) => out.push(issue(
                        rules::PERSON_NHS_NUMBER,
                        format!("{name}: not 10 digits with a valid Modulus 11 check digit"),
                    )),
                    Check::Upn if !is_valid_upn(&s.text) => out.push(issue(
                        rules::PERSON_UPN,
                        format!("{name}: not 13 characters with a valid check letter"),
                    )),
                    Check::Postcode if !is_valid_postcode(&s.text) => out.push(issue(
                        rules::ADDRESS_POSTCODE,
                        format!("{name}: not in UK postcode format"),
                    )),
                    Check::BirthDate => match s.date() {
                        Some(d) if d > self.opts.as_of => out.push(issue(
                            rules::PERSON_DOB_FUTURE,
                            format!("{name}: in the future (after {})", self.opts.as_of),
                        )),
                        Some(d) if d < self.oldest_birth => out.push(issue(
                            rules::PERSON_DOB_IMPLAUSIBLE,
                            format!("{name}: more than 120 years before {}", self.opts.as_of),
                        )),
                        _ => {}
                    },
                    Check::NotFuture if s.date().is_some_and(|d| d > self.opts.as_of) => {
                        out.push(issue(
                            rules::DATE_FUTURE,
                            format!("{name}: in the future (after {})", self.opts.as_of),
                        ));
                    }
                    Check::NotBefore(start) => {
                        let st = &rec.slots[slot_of(kind, start)];
                        if let (Some(end), Some(begin)) = (s.datetime(), st.datetime()) {
                            if end < begin {
                                out.push(issue(
                                    rules::DATE_END_BEFORE_START,
                                    format!("{name}: before {start}"),
                                ));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        if persons.loaded() {
            for (slot, column) in &self.refs {
                let s = &rec.slots[*slot];
                if !s.is_present() {
                    continue;
                }
                let name = kind.fields()[*slot].name;
                for key in s
                    .text
                    .split([',', ';'])
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                {
                    // In Mosaic's cached form answers a subject of 0 or less
                    // means every subject of the step.
                    if kind == RecordKind::FormAnswer && key.parse::<i64>().is_ok_and(|n| n <= 0) {
                        continue;
                    }
                    if !persons.contains(key) {
                        out.push(Issue {
                            rule: rules::REF_PERSON_MISSING,
                            column: column.clone(),
                            message: format!("{name}: no person with this id among the inputs"),
                            value: self.value(key),
                        });
                    }
                }
            }
        }
        if kind == RecordKind::FormAnswer {
            self.check_answer(rec, out);
        }
    }

    fn check_answer(&self, rec: &MappedRecord, out: &mut Vec<Issue>) {
        let Some(template) = &self.mapping.template else {
            return;
        };
        let kind = rec.kind;
        let slot = |name: &str| &rec.slots[slot_of(kind, name)];
        let col = |name: &str| self.mapping.column_of(name).unwrap_or(name).to_string();
        let code = slot("question_code");
        let Some(code_text) = code.str() else { return };
        let Some((at, q)) = template.question(code_text) else {
            out.push(Issue {
                rule: rules::WORKBOOK_UNKNOWN_QUESTION,
                column: col("question_code"),
                message: format!(
                    "question code not in template {} v{}",
                    template.id, template.version
                ),
                value: self.value(code_text),
            });
            return;
        };
        let qcode = q.code();
        if template.section(at).repeating
            && !slot("row_id").is_present()
            && self.mapping.column_of("row_id").is_some()
        {
            out.push(Issue {
                rule: rules::WORKBOOK_ROW_ID,
                column: col("row_id"),
                message: format!("{qcode} is in a repeating table but the answer has no row id"),
                value: None,
            });
        }
        let text = slot("text_answer");
        let number = slot("number_answer");
        let date = slot("date_answer");
        let issue = |rule: &'static str, column: String, message: String, value: &str| Issue {
            rule,
            column,
            message,
            value: self.value(value),
        };
        let missing = || Issue {
            rule: rules::WORKBOOK_ANSWER_MISSING,
            column: col("text_answer"),
            message: format!("{qcode}: no answer"),
            value: None,
        };
        match q.ty {
            AnswerType::Score | AnswerType::Integer | AnswerType::Decimal => {
                let (n, column, raw) = match number.value {
                    Value::Invalid => return,
                    Value::Decimal(n) => (n, col("number_answer"), number.text.as_str()),
                    Value::Integer(n) => (n as f64, col("number_answer"), number.text.as_str()),
                    _ => match text.str() {
                        None => return out.push(missing()),
                        Some(t) => match parse_decimal(t) {
                            Some(n) => (n, col("text_answer"), t),
                            None => {
                                return out.push(issue(
                                    rules::WORKBOOK_ANSWER_TYPE,
                                    col("text_answer"),
                                    format!("{qcode}: expects a {}", q.ty.as_str()),
                                    t,
                                ))
                            }
                        },
                    },
                };
                if q.ty != AnswerType::Decimal && n.fract() != 0.0 {
                    out.push(issue(
                        rules::WORKBOOK_ANSWER_TYPE,
                        column,
                        format!("{qcode}: expects a whole-number {}", q.ty.as_str()),
                        raw,
                    ));
                } else if q.min.is_some_and(|m| n < m) || q.max.is_some_and(|m| n > m) {
                    out.push(issue(
                        rules::WORKBOOK_ANSWER_RANGE,
                        column,
                        format!(
                            "{qcode}: outside {}..={}",
                            fmt_bound(q.min),
                            fmt_bound(q.max)
                        ),
                        raw,
                    ));
                }
            }
            AnswerType::Date | AnswerType::Datetime => match date.value {
                Value::Invalid | Value::Date(_) | Value::DateTime(_) => {}
                _ => match text.str() {
                    None => out.push(missing()),
                    Some(t) if self.answer_formats.parse_datetime(t).is_none() => out.push(issue(
                        rules::WORKBOOK_ANSWER_TYPE,
                        col("text_answer"),
                        format!("{qcode}: expects a date"),
                        t,
                    )),
                    Some(_) => {}
                },
            },
            AnswerType::Code | AnswerType::MultiCode => {
                let Some(t) = text.str() else {
                    return out.push(missing());
                };
                let parts: Vec<&str> = if q.ty == AnswerType::MultiCode {
                    t.split([';', ','])
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .collect()
                } else {
                    vec![t]
                };
                for p in parts {
                    if !q.values.iter().any(|v| v.eq_ignore_ascii_case(p)) {
                        out.push(issue(
                            rules::WORKBOOK_ANSWER_VALUE,
                            col("text_answer"),
                            format!(
                                "{qcode}: not one of the question's {} values",
                                q.values.len()
                            ),
                            p,
                        ));
                    }
                }
            }
            AnswerType::Boolean => match text.str() {
                None => out.push(missing()),
                Some(t) if parse_bool(t).is_none() => out.push(issue(
                    rules::WORKBOOK_ANSWER_TYPE,
                    col("text_answer"),
                    format!("{qcode}: expects yes or no"),
                    t,
                )),
                Some(_) => {}
            },
            AnswerType::Text => {
                if text.str().is_none() && !number.is_present() && !date.is_present() {
                    out.push(missing());
                }
            }
        }
    }
}

fn fmt_bound(b: Option<f64>) -> String {
    b.map_or_else(String::new, |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use casebridge_mapping::Mapping;
    use casebridge_model::{Locator, TextRow};
    use std::path::Path;

    fn run(
        mapping: &Mapping,
        header: &[&str],
        cells: &[&str],
        persons: &PersonIndex,
    ) -> Vec<&'static str> {
        let header: Vec<String> = header.iter().map(|s| s.to_string()).collect();
        let bound = mapping.bind(&header).unwrap();
        let mut row = TextRow::from_cells(
            Locator::CsvLine { line: 2, record: 1 },
            cells.iter().copied(),
        );
        let mut rec = MappedRecord::new(mapping.kind);
        let mut field_issues = vec![];
        bound.apply(&mut row, &mut rec, &mut field_issues, false);
        let opts = CheckOptions {
            as_of: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            show_values: false,
        };
        let mut out = vec![];
        Checker::new(mapping, opts).check(&rec, persons, &mut out);
        field_issues
            .iter()
            .map(|i| i.rule)
            .chain(out.iter().map(|i| i.rule))
            .collect()
    }

    const PERSON: &str = r#"
[mapping]
id = "p"
version = "1"
kind = "person"
[source]
glob = "*.csv"
[fields.source_key]
column = "ID"
[fields.date_of_birth]
column = "DOB"
[fields.date_of_death]
column = "DOD"
[fields.nhs_number]
column = "NHS"
[fields.upn]
column = "UPN"
[fields.postcode]
column = "PC"
"#;

    #[test]
    fn person_rules_one_case_a_line() {
        let m = Mapping::from_str(Path::new("p.toml"), PERSON).unwrap();
        let h = ["ID", "DOB", "DOD", "NHS", "UPN", "PC"];
        let none = PersonIndex::default();
        let cases: &[(&[&str], &[&str])] = &[
            (&["1", "04/03/2015", "", "9434765919", "", "LU1 3AB"], &[]),
            (
                &["1", "04/03/2027", "", "", "", ""],
                &[rules::PERSON_DOB_FUTURE],
            ),
            (
                &["1", "04/03/1890", "", "", "", ""],
                &[rules::PERSON_DOB_IMPLAUSIBLE],
            ),
            (
                &["1", "04/03/2015", "01/01/2014", "", "", ""],
                &[rules::DATE_END_BEFORE_START],
            ),
            (
                &["1", "04/03/2015", "01/01/2027", "", "", ""],
                &[rules::DATE_FUTURE],
            ),
            (
                &["1", "", "", "9434765918", "", ""],
                &[rules::PERSON_NHS_NUMBER],
            ),
            (&["1", "", "", "", "A12", ""], &[rules::PERSON_UPN]),
            (&["1", "", "", "", "", "LU1 3A"], &[rules::ADDRESS_POSTCODE]),
            (&["1", "31/02/2015", "", "", "", ""], &[rules::FIELD_TYPE]),
        ];
        for (cells, want) in cases {
            assert_eq!(run(&m, &h, cells, &none), *want, "{cells:?}");
        }
    }

    #[test]
    fn references_are_checked_only_when_persons_were_read() {
        let text = r#"
[mapping]
id = "n"
version = "1"
kind = "case_note"
[source]
glob = "*.csv"
[fields.source_key]
column = "ID"
[fields.person]
column = "P"
"#;
        let m = Mapping::from_str(Path::new("n.toml"), text).unwrap();
        let mut persons = PersonIndex::default();
        assert_eq!(
            run(&m, &["ID", "P"], &["1", "7"], &persons),
            Vec::<&str>::new()
        );
        persons.loaded = true;
        persons.insert("7");
        assert_eq!(
            run(&m, &["ID", "P"], &["1", "7"], &persons),
            Vec::<&str>::new()
        );
        assert_eq!(
            run(&m, &["ID", "P"], &["1", "8"], &persons),
            [rules::REF_PERSON_MISSING]
        );
        assert_eq!(
            run(&m, &["ID", "P"], &["1", "7, 9"], &persons),
            [rules::REF_PERSON_MISSING],
            "a comma-separated subject list is checked id by id"
        );
    }

    #[test]
    fn workbook_answers_against_the_shipped_template() {
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mappings/mosaic/form-answers.toml");
        let m = Mapping::from_path(&dir).unwrap();
        let t = m.template.clone().unwrap();
        // Find a score, a code and a repeating question in the template.
        let mut score = None;
        let mut code = None;
        for f in &t.forms {
            for s in &f.sections {
                for q in &s.questions {
                    match q.ty {
                        AnswerType::Score if score.is_none() => score = Some(q.clone()),
                        AnswerType::Code if code.is_none() && !s.repeating => {
                            code = Some(q.clone())
                        }
                        _ => {}
                    }
                }
            }
        }
        let (score, code) = (score.unwrap(), code.unwrap());
        let h = [
            "FORM_ID",
            "WORKFLOW_STEP_ID",
            "SUBGROUP_ID",
            "SUBJECT_PERSON_ID",
            "QUESTION_USER_CODE",
            "TEXT_ANSWER",
            "DATE_ANSWER",
            "NUMBER_ANSWER",
            "FORM_ANSWER_ROW_ID",
        ];
        let p = PersonIndex {
            loaded: true,
            ..PersonIndex::default()
        };
        let max = score.max.unwrap();
        let ok = format!("{}", score.min.unwrap());
        let high = format!("{}", max + 1.0);
        let row = |q: &str, text: &str, number: &str| -> Vec<String> {
            ["9", "8", "7", "0", q, text, "", number, ""]
                .iter()
                .map(|s| s.to_string())
                .collect()
        };
        let check = |cells: Vec<String>| {
            let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
            run(&m, &h, &cells, &p)
        };
        assert!(check(row(score.code(), "", &ok)).is_empty());
        assert_eq!(
            check(row(score.code(), "", &high)),
            [rules::WORKBOOK_ANSWER_RANGE]
        );
        assert_eq!(
            check(row(score.code(), "", "2.5")),
            [rules::WORKBOOK_ANSWER_TYPE]
        );
        assert_eq!(
            check(row(score.code(), "seven", "")),
            [rules::WORKBOOK_ANSWER_TYPE]
        );
        assert_eq!(check(row(score.code(), "", "seven")), [rules::FIELD_TYPE]);
        assert_eq!(
            check(row(score.code(), "", "")),
            [rules::WORKBOOK_ANSWER_MISSING]
        );
        assert!(check(row(code.code(), &code.values[0], "")).is_empty());
        assert_eq!(
            check(row(code.code(), "NOT_A_VALUE", "")),
            [rules::WORKBOOK_ANSWER_VALUE]
        );
        assert_eq!(
            check(row("FSW_NO_SUCH_QUESTION", "x", "")),
            [rules::WORKBOOK_UNKNOWN_QUESTION]
        );
    }
}
