//! From mapped rows to canonical [`Record`]s: one row to one record, and
//! entity-attribute-value form answers pivoted into [`WorkbookForm`]s.

use std::collections::BTreeMap;

use casebridge_model::{
    content_sha256, stable_id, Answer, AnswerValue, FieldType, Header, Provenance, Record,
    RecordKind, Section, SectionRow, SourceKey, WorkbookForm,
};
use chrono::NaiveDateTime;
use serde_json::{Map, Value as Json};

use crate::mapping::{parse_bool, parse_decimal, MappedRecord, Mapping, Slot, Value};
use crate::template::{AnswerType, Template};
use crate::DateFormats;

fn slot_json(slot: &Slot, ty: FieldType) -> Json {
    match slot.value {
        Value::Empty | Value::Invalid => Json::Null,
        Value::Text | Value::Code => Json::String(slot.text.clone()),
        Value::Date(d) => Json::String(d.to_string()),
        Value::DateTime(dt) if ty == FieldType::Date => Json::String(dt.date().to_string()),
        Value::DateTime(dt) => Json::String(dt.format("%Y-%m-%dT%H:%M:%S%.f").to_string()),
        Value::Integer(n) => Json::from(n),
        Value::Decimal(n) => serde_json::Number::from_f64(n).map_or(Json::Null, Json::Number),
        Value::Boolean(b) => Json::Bool(b),
    }
}

impl Mapping {
    /// The canonical record of a mapped row, with its provenance (whose
    /// `content_sha256` is filled here). `None` for form answers, which are
    /// pivoted with [`FormPivot`], and for a row without a source key.
    pub fn to_record(&self, rec: &MappedRecord, mut provenance: Provenance) -> Option<Record> {
        if self.kind == RecordKind::FormAnswer {
            return None;
        }
        let mut map = Map::new();
        map.insert("kind".into(), Json::String(self.kind.as_str().into()));
        let mut key = None;
        for (def, slot) in self.kind.fields().iter().zip(&rec.slots) {
            if def.is_key {
                key = slot.str().map(str::to_string);
                continue;
            }
            let v = slot_json(slot, def.ty);
            let name = match (self.kind, def.name) {
                (RecordKind::CaseNote | RecordKind::ChronologyEntry, "person") => {
                    let ids: Vec<Json> = slot
                        .str()
                        .unwrap_or("")
                        .split([',', ';'])
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| Json::String(s.to_string()))
                        .collect();
                    map.insert("subjects".into(), Json::Array(ids));
                    continue;
                }
                (_, n) => n,
            };
            if !v.is_null() {
                map.insert(name.into(), v);
            }
        }
        let extras: Map<String, Json> = rec
            .extra_slots()
            .filter_map(|(name, ty, slot)| {
                let v = slot_json(slot, ty);
                (!v.is_null()).then(|| (name.to_string(), v))
            })
            .collect();
        if !extras.is_empty() {
            map.insert("extras".into(), Json::Object(extras));
        }
        // Yes/no fields are plain booleans in the model (absent is false):
        // the map says so too, so that it is the record's JSON.
        for def in self.kind.fields() {
            if def.ty == FieldType::Boolean && !map.contains_key(def.name) {
                map.insert(def.name.into(), Json::Bool(false));
            }
        }
        // The content hash, taken from the map the record is made of (the
        // record serialised again gives the same; checked in debug builds,
        // which every end-to-end test runs).
        let content = casebridge_model::content_sha256_of_json(&map);
        let key = key?;
        map.insert(
            "id".into(),
            Json::String(stable_id(self.kind, &self.system, &key)),
        );
        map.insert(
            "source_keys".into(),
            serde_json::to_value(vec![SourceKey {
                system: self.system.clone(),
                key,
            }])
            .ok()?,
        );
        let mut record: Record = serde_json::from_value(Json::Object(map)).ok()?;
        debug_assert_eq!(content, content_sha256(&record), "{}", self.id);
        provenance.content_sha256 = content;
        record.header_mut().provenance.push(provenance);
        Some(record)
    }
}

/// One form answer, owned, as [`FormPivot`] collects them.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerRow {
    /// Form instance.
    pub form_id: String,
    /// Workflow step.
    pub workflow_step_id: Option<String>,
    /// Subject person; `None` for a family-level answer (0 or less in Mosaic).
    pub subject: Option<String>,
    /// Question code.
    pub question: String,
    /// Text answer.
    pub text: Option<String>,
    /// Date answer.
    pub date: Option<NaiveDateTime>,
    /// Number answer.
    pub number: Option<f64>,
    /// Repeating-table row.
    pub row_id: Option<String>,
    /// The subgroup of subjects (Mosaic `SUBGROUP_ID`).
    pub subgroup_id: Option<String>,
}

impl AnswerRow {
    /// Takes the answer out of a mapped `form_answer` row; `None` without a
    /// form id or question code.
    pub fn from_mapped(rec: &MappedRecord) -> Option<AnswerRow> {
        let get = |name: &str| rec.get(name).and_then(Slot::str).map(str::to_string);
        let subject = get("subject_person").filter(|s| !s.parse::<i64>().is_ok_and(|n| n <= 0));
        Some(AnswerRow {
            form_id: get("form_id")?,
            workflow_step_id: get("workflow_step_id"),
            subject,
            question: get("question_code")?,
            text: get("text_answer"),
            date: rec.get("date_answer").and_then(Slot::datetime),
            number: rec.get("number_answer").and_then(|s| match s.value {
                Value::Decimal(n) => Some(n),
                Value::Integer(n) => Some(n as f64),
                _ => None,
            }),
            row_id: get("row_id"),
            subgroup_id: get("subgroup_id"),
        })
    }
}

/// Gathers answer rows by form and builds [`WorkbookForm`]s in template
/// order: sections as the template lists them, repeating tables one row per
/// row id, answers typed by their question.
///
/// Holds the answers of the forms it is given; a migration feeds it one
/// batch of forms at a time.
#[derive(Debug)]
pub struct FormPivot<'t> {
    template: &'t Template,
    forms: BTreeMap<String, Vec<AnswerRow>>,
    formats: DateFormats,
}

/// Answers of one form by (section index, row order, row id), each with its
/// question index.
type Cells = BTreeMap<(usize, usize, Option<String>), Vec<(usize, Answer)>>;

/// Why an answer could not be placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PivotProblem {
    /// The question is not in the template.
    UnknownQuestion { form_id: String, question: String },
    /// A form's answers belong to more than one template form.
    MixedForms { form_id: String },
    /// The answer cannot be read as its question's type.
    BadAnswer { form_id: String, question: String },
}

impl<'t> FormPivot<'t> {
    /// A pivot for one template.
    pub fn new(template: &'t Template) -> Self {
        FormPivot {
            template,
            forms: BTreeMap::new(),
            formats: DateFormats::default_list(),
        }
    }

    /// Adds an answer.
    pub fn push(&mut self, answer: AnswerRow) {
        self.forms
            .entry(answer.form_id.clone())
            .or_default()
            .push(answer);
    }

    fn typed(&self, ty: AnswerType, a: &AnswerRow) -> Option<AnswerValue> {
        let text = a.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let number = a.number.or_else(|| text.and_then(parse_decimal));
        Some(match ty {
            AnswerType::Text => AnswerValue::Text(text?.to_string()),
            AnswerType::Code => AnswerValue::Code(text?.to_string()),
            AnswerType::MultiCode => AnswerValue::Codes(
                text?
                    .split([';', ','])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
            ),
            AnswerType::Boolean => AnswerValue::Boolean(parse_bool(text?)?),
            AnswerType::Score | AnswerType::Integer => {
                let n = number?;
                (n.fract() == 0.0).then_some(AnswerValue::Score(n as i64))?
            }
            AnswerType::Decimal => AnswerValue::Number(number?),
            AnswerType::Date => AnswerValue::Date(
                a.date
                    .or_else(|| self.formats.parse_datetime(text?))?
                    .date(),
            ),
            AnswerType::Datetime => {
                AnswerValue::DateTime(a.date.or_else(|| self.formats.parse_datetime(text?))?)
            }
        })
    }

    /// Builds the forms, in form-id order, with every problem met.
    pub fn finish(self, system: &str) -> (Vec<WorkbookForm>, Vec<PivotProblem>) {
        let mut forms = Vec::new();
        let mut problems = Vec::new();
        for (form_id, answers) in &self.forms {
            let mut form_index = None;
            // (section index, row id) -> answers
            let mut cells: Cells = BTreeMap::new();
            let mut order = 0;
            for a in answers {
                let Some((at, q)) = self.template.question(&a.question) else {
                    problems.push(PivotProblem::UnknownQuestion {
                        form_id: form_id.clone(),
                        question: a.question.clone(),
                    });
                    continue;
                };
                match form_index {
                    None => form_index = Some(at.form),
                    Some(f) if f != at.form => {
                        problems.push(PivotProblem::MixedForms {
                            form_id: form_id.clone(),
                        });
                        continue;
                    }
                    Some(_) => {}
                }
                let Some(value) = self.typed(q.ty, a) else {
                    problems.push(PivotProblem::BadAnswer {
                        form_id: form_id.clone(),
                        question: a.question.clone(),
                    });
                    continue;
                };
                let repeating = self.template.section(at).repeating;
                let row_id = if repeating { a.row_id.clone() } else { None };
                // Rows of a repeating table keep the order they first appear in.
                let row_order = if repeating { order } else { 0 };
                order += 1;
                let entry = cells
                    .keys()
                    .find(|(s, _, r)| *s == at.section && *r == row_id)
                    .cloned();
                let k = entry.unwrap_or((at.section, row_order, row_id));
                cells.entry(k).or_default().push((
                    at.question,
                    Answer {
                        question: a.question.clone(),
                        subject: a.subject.clone(),
                        value,
                    },
                ));
            }
            let Some(fi) = form_index else { continue };
            let def = &self.template.forms[fi];
            let mut sections: Vec<Section> = Vec::new();
            for ((si, _, row_id), mut row) in cells {
                row.sort_by_key(|(qi, _)| *qi);
                let row = SectionRow {
                    row_id,
                    answers: row.into_iter().map(|(_, a)| a).collect(),
                };
                let code = def.sections[si].code.clone();
                match sections.iter_mut().find(|s| s.code == code) {
                    Some(s) => s.rows.push(row),
                    None => sections.push(Section {
                        code,
                        rows: vec![row],
                    }),
                }
            }
            let mut subjects: Vec<String> =
                answers.iter().filter_map(|a| a.subject.clone()).collect();
            subjects.sort();
            subjects.dedup();
            // The subgroup the form's answers share travels with the form.
            let mut extras = BTreeMap::new();
            let first = answers.first().and_then(|a| a.subgroup_id.clone());
            if let Some(g) = first {
                if answers
                    .iter()
                    .all(|a| a.subgroup_id.as_deref() == Some(g.as_str()))
                {
                    extras.insert("subgroup_id".to_string(), Json::String(g));
                }
            }
            let mut form = WorkbookForm {
                header: Header {
                    id: stable_id(RecordKind::WorkbookForm, system, form_id),
                    source_keys: vec![SourceKey {
                        system: system.to_string(),
                        key: form_id.clone(),
                    }],
                    provenance: Vec::new(),
                    extras,
                },
                template_id: self.template.id.clone(),
                template_version: self.template.version.clone(),
                form_code: def.code().to_string(),
                status: None,
                workflow_step_id: answers.iter().find_map(|a| a.workflow_step_id.clone()),
                subjects,
                sections,
            };
            form.sections
                .sort_by_key(|s| def.sections.iter().position(|d| d.code == s.code));
            forms.push(form);
        }
        (forms, problems)
    }
}
