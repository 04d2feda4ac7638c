//! From mapped rows to canonical [`Record`]s: one row to one record, and
//! entity-attribute-value form answers pivoted into [`WorkbookForm`]s.

use std::collections::BTreeMap;

use casebridge_model::{
    content_sha256, content_sha256_of_fields, stable_id, Answer, AnswerValue, ContentValue,
    FieldType, Header, Provenance, Record, RecordKind, Section, SectionRow, SourceKey,
    WorkbookForm,
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
    pub fn to_record(&self, rec: &MappedRecord, provenance: Provenance) -> Option<Record> {
        self.to_record_with(rec, provenance, true)
    }

    /// [`Mapping::to_record`]; with `hash` false the content hash is not
    /// taken (left as zeros) where the record is built from the slots: for
    /// a consumer that writes none and compares none (a reverse mapping).
    pub fn to_record_with(
        &self,
        rec: &MappedRecord,
        provenance: Provenance,
        hash: bool,
    ) -> Option<Record> {
        if self.kind == RecordKind::FormAnswer {
            return None;
        }
        match self.to_record_direct(rec, hash) {
            Direct::Built(mut record, content) => {
                #[cfg(debug_assertions)]
                {
                    // The direct path makes the record the JSON map makes.
                    let slow = self.to_record_by_json(rec, provenance.clone());
                    let mut want = slow.clone();
                    if let Some(w) = &mut want {
                        w.header_mut().provenance.clear();
                    }
                    debug_assert_eq!(want.as_ref(), Some(&record), "{}", self.id);
                    let slow_content = slow
                        .as_ref()
                        .and_then(|r| r.header().provenance.last())
                        .map(|p| p.content_sha256);
                    if hash {
                        debug_assert_eq!(slow_content, Some(content), "{}", self.id);
                    }
                }
                let mut provenance = provenance;
                provenance.content_sha256 = content;
                record.header_mut().provenance.push(provenance);
                Some(record)
            }
            Direct::NoKey => None,
            Direct::Unusual => self.to_record_by_json(rec, provenance),
        }
    }

    /// The record built from the slots, field by field, with its content
    /// hash taken from the same slots (no JSON map in between); `Unusual`
    /// for a slot whose value the record's field does not hold as it is
    /// (left to [`Mapping::to_record_by_json`], which decides as before).
    fn to_record_direct(&self, rec: &MappedRecord, hash: bool) -> Direct {
        let fields = self.kind.fields();
        if rec.slots.len() < fields.len() {
            return Direct::Unusual;
        }
        let Some(mut record) = Record::empty_of(self.kind) else {
            return Direct::Unusual;
        };
        let mut key = None;
        for (def, slot) in fields.iter().zip(&rec.slots) {
            if def.is_key {
                key = slot.str();
                continue;
            }
            let subjects = matches!(
                self.kind,
                RecordKind::CaseNote | RecordKind::ChronologyEntry
            ) && def.name == "person";
            let v = if subjects {
                Typed::Subjects(slot.str().unwrap_or(""))
            } else {
                match (slot.value, def.ty) {
                    (Value::Empty | Value::Invalid, _) => Typed::None,
                    (
                        Value::Text | Value::Code,
                        FieldType::Text | FieldType::Code | FieldType::PersonRef,
                    ) => Typed::Str(&slot.text),
                    (Value::Date(d), FieldType::Date) => Typed::Date(d),
                    (Value::DateTime(dt), FieldType::Date) => Typed::Date(dt.date()),
                    (Value::DateTime(dt), FieldType::DateTime) => Typed::DateTime(dt),
                    (Value::Boolean(b), FieldType::Boolean) => Typed::Bool(b),
                    _ => return Direct::Unusual,
                }
            };
            if !set_field(&mut record, def.name, v) {
                return Direct::Unusual;
            }
        }
        let mut extras = BTreeMap::new();
        for (name, ty, slot) in rec.extra_slots() {
            let v = slot_json(slot, ty);
            if !v.is_null() {
                extras.insert(name.to_string(), v);
            }
        }
        // The content hash, of the fields as the record's JSON has them.
        let content = if !hash {
            // (Every slot's value and type passed the loop above, which
            // returns `Unusual` where this one would.)
            casebridge_model::Sha256::default()
        } else {
            let mut texts: Vec<String> = Vec::new();
            let mut bools: Vec<(&'static str, bool)> = Vec::new();
            let mut strs: Vec<(&'static str, usize)> = Vec::new();
            let mut borrowed: Vec<(&'static str, &str)> = Vec::new();
            for (def, slot) in fields.iter().zip(&rec.slots) {
                if def.is_key {
                    continue;
                }
                if matches!(
                    self.kind,
                    RecordKind::CaseNote | RecordKind::ChronologyEntry
                ) && def.name == "person"
                {
                    continue;
                }
                match (slot.value, def.ty) {
                    (Value::Boolean(b), _) => bools.push((def.name, b)),
                    (_, FieldType::Boolean) => bools.push((def.name, false)),
                    (Value::Empty | Value::Invalid, _) => {}
                    (Value::Text | Value::Code, _) => borrowed.push((def.name, &slot.text)),
                    (Value::Date(d), _) => {
                        strs.push((def.name, texts.len()));
                        texts.push(iso_date(d));
                    }
                    (Value::DateTime(dt), FieldType::Date) => {
                        strs.push((def.name, texts.len()));
                        texts.push(iso_date(dt.date()));
                    }
                    (Value::DateTime(dt), _) => {
                        strs.push((def.name, texts.len()));
                        texts.push(iso_datetime_text(dt));
                    }
                    _ => return Direct::Unusual,
                }
            }
            let mut all: Vec<(&str, ContentValue<'_>)> = Vec::with_capacity(fields.len() + 2);
            all.push(("kind", ContentValue::Str(self.kind.as_str())));
            all.extend(borrowed.iter().map(|(k, v)| (*k, ContentValue::Str(v))));
            all.extend(
                strs.iter()
                    .map(|(k, i)| (*k, ContentValue::Str(texts[*i].as_str()))),
            );
            all.extend(bools.iter().map(|(k, b)| (*k, ContentValue::Bool(*b))));
            let subjects: &[String] = match &record {
                Record::CaseNote(n) => &n.subjects,
                Record::ChronologyEntry(c) => &c.subjects,
                _ => &[],
            };
            if matches!(
                self.kind,
                RecordKind::CaseNote | RecordKind::ChronologyEntry
            ) {
                all.push(("subjects", ContentValue::Strs(subjects)));
            }
            if !extras.is_empty() {
                all.push(("extras", ContentValue::Map(&extras)));
            }
            content_sha256_of_fields(&mut all)
        };
        let Some(key) = key else {
            return Direct::NoKey;
        };
        let header = record.header_mut();
        header.id = stable_id(self.kind, &self.system, key);
        header.source_keys = vec![SourceKey {
            system: self.system.clone(),
            key: key.to_string(),
        }];
        header.extras = extras;
        Direct::Built(record, content)
    }

    /// [`Mapping::to_record`] through the record's JSON map: the
    /// reference the direct path is checked against, and the path taken
    /// for slots it does not handle.
    fn to_record_by_json(&self, rec: &MappedRecord, mut provenance: Provenance) -> Option<Record> {
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

/// What the direct path made of a mapped row.
// Returned once and unpacked at once: boxing would cost an allocation a row.
#[allow(clippy::large_enum_variant)]
enum Direct {
    /// The record (without provenance) and its content hash.
    Built(Record, casebridge_model::Sha256),
    /// No source key: no record.
    NoKey,
    /// A value the direct path leaves to the JSON path.
    Unusual,
}

/// A field's value as the record holds it.
enum Typed<'a> {
    None,
    Str(&'a str),
    Date(chrono::NaiveDate),
    DateTime(NaiveDateTime),
    Bool(bool),
    /// A case note's or chronology entry's subjects, as read.
    Subjects(&'a str),
}

/// `yyyy-mm-dd`, as the record's JSON spells a date.
fn iso_date(d: chrono::NaiveDate) -> String {
    d.to_string()
}

/// `yyyy-mm-ddTHH:MM:SS[.fff]`, as the record's JSON spells a date-time.
fn iso_datetime_text(dt: NaiveDateTime) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(29);
    let _ = write!(s, "{dt:?}");
    s
}

/// Sets a field of `record` by its canonical name; `false` when the kind
/// has no such field of that type.
fn set_field(record: &mut Record, name: &str, v: Typed<'_>) -> bool {
    fn text(v: &Typed<'_>) -> Option<Option<String>> {
        match v {
            Typed::None => Some(None),
            Typed::Str(s) => Some(Some((*s).to_string())),
            _ => None,
        }
    }
    fn date(v: &Typed<'_>) -> Option<Option<chrono::NaiveDate>> {
        match v {
            Typed::None => Some(None),
            Typed::Date(d) => Some(Some(*d)),
            _ => None,
        }
    }
    fn datetime(v: &Typed<'_>) -> Option<Option<NaiveDateTime>> {
        match v {
            Typed::None => Some(None),
            Typed::DateTime(d) => Some(Some(*d)),
            _ => None,
        }
    }
    fn flag(v: &Typed<'_>) -> Option<bool> {
        match v {
            Typed::None => Some(false),
            Typed::Bool(b) => Some(*b),
            _ => None,
        }
    }
    fn subjects(v: &Typed<'_>) -> Option<Vec<String>> {
        match v {
            Typed::Subjects(s) => Some(
                s.split([',', ';'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            ),
            _ => None,
        }
    }
    macro_rules! set {
        ($slot:expr, $how:ident) => {
            match $how(&v) {
                Some(x) => {
                    $slot = x;
                    true
                }
                None => false,
            }
        };
    }
    match record {
        Record::Person(p) => match name {
            "first_name" => set!(p.first_name, text),
            "middle_names" => set!(p.middle_names, text),
            "last_name" => set!(p.last_name, text),
            "full_name" => set!(p.full_name, text),
            "date_of_birth" => set!(p.date_of_birth, date),
            "dob_estimated" => set!(p.dob_estimated, flag),
            "date_of_death" => set!(p.date_of_death, date),
            "gender" => set!(p.gender, text),
            "ethnicity" => set!(p.ethnicity, text),
            "nhs_number" => set!(p.nhs_number, text),
            "upn" => set!(p.upn, text),
            "postcode" => set!(p.postcode, text),
            "role" => set!(p.role, text),
            "address" => set!(p.address, text),
            "locality" => set!(p.locality, text),
            "other_id" => set!(p.other_id, text),
            _ => false,
        },
        Record::PersonAddress(a) => match name {
            "person" => set!(a.person, text),
            "address" => set!(a.address, text),
            "postcode" => set!(a.postcode, text),
            "address_type" => set!(a.address_type, text),
            "start_date" => set!(a.start_date, date),
            "end_date" => set!(a.end_date, date),
            _ => false,
        },
        Record::Relationship(r) => match name {
            "person" => set!(r.person, text),
            "other_person" => set!(r.other_person, text),
            "relationship_type" => set!(r.relationship_type, text),
            "start_date" => set!(r.start_date, date),
            "end_date" => set!(r.end_date, date),
            _ => false,
        },
        Record::Involvement(i) => match name {
            "person" => set!(i.person, text),
            "case_id" => set!(i.case_id, text),
            "legal_status" => set!(i.legal_status, text),
            "team" => set!(i.team, text),
            "worker" => set!(i.worker, text),
            "start_date" => set!(i.start_date, date),
            "end_date" => set!(i.end_date, date),
            "step_change" => set!(i.step_change, text),
            _ => false,
        },
        Record::CaseNote(n) => match name {
            "person" => set!(n.subjects, subjects),
            "note_type" => set!(n.note_type, text),
            "title" => set!(n.title, text),
            "contact_date" => set!(n.contact_date, datetime),
            "recorded_date" => set!(n.recorded_date, datetime),
            "author" => set!(n.author, text),
            "text" => set!(n.text, text),
            "significant" => set!(n.significant, flag),
            "status" => set!(n.status, text),
            "confidentiality" => set!(n.confidentiality, text),
            _ => false,
        },
        Record::ChronologyEntry(c) => match name {
            "person" => set!(c.subjects, subjects),
            "start_date" => set!(c.start_date, date),
            "end_date" => set!(c.end_date, date),
            "date_approximate" => set!(c.date_approximate, flag),
            "category" => set!(c.category, text),
            "source_agency" => set!(c.source_agency, text),
            "description" => set!(c.description, text),
            "analysis" => set!(c.analysis, text),
            "significant" => set!(c.significant, flag),
            "source_record" => set!(c.source_record, text),
            _ => false,
        },
        Record::WorkbookForm(_) => false,
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
