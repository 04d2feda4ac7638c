//! A mapping run backwards: canonical records to the rows (or XML element
//! values) of the source the mapping reads.
//!
//! [`Mapping::writer`] plans, once per mapping, which record value each
//! output column takes and how it is spelled: code sets reversed (the code
//! a set's `write` names, else the first that reads as the value), dates in
//! the field's `write_format` (by default the first of its read formats),
//! multi-column keys split on their separator, extras by name. Columns are
//! written in the mapping's `[source] columns` order.
//!
//! [`Mapping::directions`] says, field by field, whether a value comes back
//! exactly or why not (a lossy transform, a constant, an alternative, a
//! code set that reads two codes as one value): what `casebridge mapping
//! check` lists.
//!
//! The plan is per column of one table. Writing one record into several
//! tables (Mosaic's live `MO_*` layout) is a set of such plans, one per
//! table, joined by key: see the note on [`RowWriter`].

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use serde_json::Value as Json;

use casebridge_model::{rules, FieldRef, Record, RecordKind};

use crate::datefmt::DateFormat;
use crate::mapping::{FieldIssue, FieldMap, Input, Mapping, Parse};
use crate::transform::Transform;

/// One written cell, typed for formats that keep types (XLSX); CSV and XML
/// write [`Cell::text`].
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Nothing.
    Empty,
    /// Text, as the source spells it (codes reversed, dates formatted).
    Text(String),
    /// A date or date and time, with its text in the mapping's format.
    Date {
        /// The value.
        value: NaiveDateTime,
        /// Whether the field has a time.
        time: bool,
        /// Its text.
        text: String,
    },
    /// A number, with its text.
    Number {
        /// The value.
        value: f64,
        /// Its text.
        text: String,
    },
}

impl Cell {
    /// The cell as text.
    pub fn text(&self) -> &str {
        match self {
            Cell::Empty => "",
            Cell::Text(t) | Cell::Date { text: t, .. } | Cell::Number { text: t, .. } => t,
        }
    }
}

/// Where an output column's value comes from.
#[derive(Debug, Clone)]
enum Source {
    /// A field (index into the mapping's fields), whole or as part `i` of
    /// `n` of a multi-column value.
    Field {
        field: usize,
        part: Option<(usize, usize)>,
    },
    /// An extra attribute by name (declared, or a carried column).
    Extra { field: Option<usize>, name: String },
}

/// The plan that writes records through one mapping in reverse.
///
/// Extension to several tables: a record assembled from `MO_PERSONS`,
/// `MO_PERSON_NAMES` and `MO_SUBJECT_REFERENCES` is written by one
/// `RowWriter` per table mapping, each taking the fields its mapping reads
/// and the shared key; a table that holds several rows per record (names
/// over time, one reference per type) adds a row selector to [`Source`].
#[derive(Debug)]
pub struct RowWriter<'m> {
    mapping: &'m Mapping,
    columns: Vec<String>,
    plan: Vec<Option<Source>>,
}

/// Whether a field comes back exactly, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Direction {
    /// The field (`gender`) or extra (`extras.RNE`).
    pub field: String,
    /// The source column(s) or path(s).
    pub columns: String,
    /// Written back at all.
    pub written: bool,
    /// Comes back exactly as read.
    pub exact: bool,
    /// Why not, or the condition under which it is exact.
    pub note: Option<String>,
}

impl Mapping {
    /// Plans writing records back through this mapping.
    pub fn writer(&self) -> RowWriter<'_> {
        let mut columns: Vec<String> = match &self.source.columns {
            Some(c) => c.clone(),
            None => Vec::new(),
        };
        let mut plan: Vec<Option<Source>> = vec![None; columns.len()];
        let mut place = |name: &str, src: Source, columns: &mut Vec<String>| match columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
        {
            Some(i) => {
                if plan[i].is_none() {
                    plan[i] = Some(src);
                }
            }
            None => {
                columns.push(name.to_string());
                plan.push(Some(src));
            }
        };
        for (i, f) in self.fields.iter().enumerate() {
            if f.fallback || (f.one_way && f.extra.is_none()) {
                continue;
            }
            match (&f.input, &f.extra) {
                (Input::Column { name, .. }, Some(extra)) => place(
                    name,
                    Source::Extra {
                        field: Some(i),
                        name: extra.clone(),
                    },
                    &mut columns,
                ),
                (Input::Column { name, .. }, None) => place(
                    name,
                    Source::Field {
                        field: i,
                        part: None,
                    },
                    &mut columns,
                ),
                (Input::Concat { columns: cols, .. }, _) => {
                    let n = cols.len();
                    for (p, (name, _)) in cols.iter().enumerate() {
                        place(
                            name,
                            Source::Field {
                                field: i,
                                part: Some((p, n)),
                            },
                            &mut columns,
                        );
                    }
                }
                (Input::Constant, _) => {}
            }
        }
        // A declared column no field reads travels as a carried extra.
        for (c, p) in columns.iter().zip(plan.iter_mut()) {
            if p.is_none() {
                *p = Some(Source::Extra {
                    field: None,
                    name: c.clone(),
                });
            }
        }
        RowWriter {
            mapping: self,
            columns,
            plan,
        }
    }

    /// Field by field, whether a value read through this mapping is
    /// written back exactly.
    pub fn directions(&self) -> Vec<Direction> {
        let mut out = Vec::new();
        for f in &self.fields {
            let mut d = Direction {
                field: f.label.clone(),
                columns: f.columns.clone(),
                written: true,
                exact: true,
                note: None,
            };
            let lossy: Vec<&str> = f
                .transforms
                .iter()
                .filter(|t| !matches!(t, Transform::Trim))
                .map(|t| t.name())
                .collect();
            let mut notes: Vec<String> = Vec::new();
            if f.fallback {
                d.written = false;
                d.exact = false;
                notes.push("an alternative source: read when the ones before it are empty, never written (the first alternative is)".into());
            } else if f.one_way {
                d.written = false;
                d.exact = false;
                notes.push("declared one-way (`one_way = true`)".into());
            } else if matches!(f.input, Input::Constant) {
                d.written = false;
                d.exact = false;
                notes.push(format!(
                    "a constant (`default = {:?}`): nothing is written back",
                    f.default.as_deref().unwrap_or("")
                ));
            }
            if !lossy.is_empty() {
                d.exact = false;
                notes.push(format!(
                    "transform {} is lossy: the transformed value is written",
                    lossy.join(", ")
                ));
            }
            if f.default.is_some() && !matches!(f.input, Input::Constant) {
                d.exact = false;
                notes.push(format!(
                    "an empty value is read as the default {:?} and written as it",
                    f.default.as_deref().unwrap_or("")
                ));
            }
            match &f.parse {
                Parse::Code(set) | Parse::Boolean(Some(set)) => {
                    for (value, codes) in set.ambiguous() {
                        d.exact = false;
                        notes.push(format!(
                            "codes {} of `{}` all read as `{value}`: `{}` is written (say which in the code set's `write`)",
                            codes.join(", "),
                            set.id,
                            codes.first().map_or("", String::as_str),
                        ));
                    }
                }
                Parse::Boolean(None) => {
                    d.exact = false;
                    notes.push("a yes/no read without a code set: written as true or false".into());
                }
                Parse::Date(formats) | Parse::DateTime(formats) => {
                    if f.def.ty == casebridge_model::FieldType::Date
                        && formats.iter().any(DateFormat::has_time)
                    {
                        d.exact = false;
                        notes.push(
                            "the canonical field is a date: a time the source gives is not kept"
                                .into(),
                        );
                    }
                    let w = write_format(f);
                    if formats.len() > 1 {
                        notes.push(format!(
                            "read in {} formats, written as {}: exact where the source uses it",
                            formats.len(),
                            w.map_or_else(|| "ISO 8601".to_string(), DateFormat::describe)
                        ));
                    }
                }
                Parse::Decimal => notes.push(
                    "a number: written in its shortest form (exact where the source uses it)"
                        .into(),
                ),
                _ => {}
            }
            if let Input::Concat { separator, .. } = &f.input {
                notes.push(format!(
                    "several columns joined by {separator:?}: split back on it (exact while no value holds it)"
                ));
            }
            if !notes.is_empty() {
                d.note = Some(notes.join("; "));
            }
            out.push(d);
        }
        out
    }
}

/// The format a field's dates are written in.
fn write_format(f: &FieldMap) -> Option<&DateFormat> {
    f.write_format.as_ref().or(match &f.parse {
        Parse::Date(d) | Parse::DateTime(d) => d.first(),
        _ => None,
    })
}

impl RowWriter<'_> {
    /// The output columns (header or element paths), in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Adds a column for each extra attribute of `record` that no column
    /// takes (a council's local column carried through), so that it is
    /// written back too.
    pub fn add_carried(&mut self, record: &Record) {
        for name in record.header().extras.keys() {
            let taken = self
                .plan
                .iter()
                .any(|p| matches!(p, Some(Source::Extra { name: n, .. }) if n == name))
                || self.columns.iter().any(|c| c.eq_ignore_ascii_case(name));
            if !taken {
                self.columns.push(name.clone());
                self.plan.push(Some(Source::Extra {
                    field: None,
                    name: name.clone(),
                }));
            }
        }
    }

    /// The mapping.
    pub fn mapping(&self) -> &Mapping {
        self.mapping
    }

    /// Writes one record as cells aligned with [`RowWriter::columns`],
    /// pushing an issue for each value that cannot be written (a value with
    /// no code in the set, a key with the wrong number of parts). Values go
    /// into issues only with `show_values`.
    pub fn write(
        &self,
        record: &Record,
        out: &mut Vec<Cell>,
        issues: &mut Vec<FieldIssue>,
        show_values: bool,
    ) {
        if record.kind() != self.mapping.kind {
            // A workbook form, or a record of a kind the mapping does not
            // write: through the record's JSON, as before.
            let json = serde_json::to_value(record).unwrap_or(Json::Null);
            self.write_json(&json, record, out, issues, show_values);
            return;
        }
        #[cfg(debug_assertions)]
        let before = issues.len();
        self.write_direct(record, out, issues, show_values);
        #[cfg(debug_assertions)]
        {
            // The direct path writes the cells and issues the JSON path writes.
            let json = serde_json::to_value(record).unwrap_or(Json::Null);
            let (mut want, mut want_issues) = (Vec::new(), Vec::new());
            self.write_json(&json, record, &mut want, &mut want_issues, show_values);
            debug_assert_eq!(out, &want, "{}", self.mapping.id);
            debug_assert_eq!(&issues[before..], &want_issues[..], "{}", self.mapping.id);
        }
    }

    /// [`RowWriter::write`] from the record's typed fields: no JSON tree,
    /// values borrowed until they are copied into their cell, and the
    /// cells of `out` (and their text buffers) reused.
    fn write_direct(
        &self,
        record: &Record,
        out: &mut Vec<Cell>,
        issues: &mut Vec<FieldIssue>,
        show_values: bool,
    ) {
        let extras = &record.header().extras;
        out.truncate(self.plan.len());
        out.resize(self.plan.len(), Cell::Empty);
        for (src, cell) in self.plan.iter().zip(out.iter_mut()) {
            match src {
                None => *cell = Cell::Empty,
                Some(Source::Extra { field, name }) => match (extras.get(name), field) {
                    (None | Some(Json::Null), _) => *cell = Cell::Empty,
                    (Some(v), Some(i)) => {
                        self.cell_into(
                            &self.mapping.fields[*i],
                            Val::Json(v),
                            cell,
                            issues,
                            show_values,
                        );
                    }
                    (Some(v), None) => set_text(cell, &plain_cow(v)),
                },
                Some(Source::Field { field, part }) => {
                    let f = &self.mapping.fields[*field];
                    match (self.direct_value(f, record), part) {
                        (None, _) => *cell = Cell::Empty,
                        (Some(v), None) => self.cell_into(f, v, cell, issues, show_values),
                        (Some(v), Some((p, n))) => {
                            match split_part(f, &v.text(), *p, *n, issues, show_values) {
                                Some(part) => set_text(cell, part),
                                None => *cell = Cell::Empty,
                            }
                        }
                    }
                }
            }
        }
    }

    /// A field's value in the record, as [`RowWriter::value_of`] finds it
    /// in the record's JSON (the record being of the mapping's kind).
    fn direct_value<'r>(&self, f: &FieldMap, record: &'r Record) -> Option<Val<'r>> {
        if f.def.is_key {
            let keys = &record.header().source_keys;
            let key = keys
                .iter()
                .find(|k| k.system == self.mapping.system)
                .or_else(|| keys.first())?;
            return Some(Val::Str(&key.key));
        }
        let subjects = matches!(
            self.mapping.kind,
            RecordKind::CaseNote | RecordKind::ChronologyEntry
        ) && f.def.name == "person";
        if subjects {
            return match record.field("subjects")? {
                FieldRef::Strs([]) => None,
                FieldRef::Strs([one]) => Some(Val::Str(one)),
                FieldRef::Strs(ids) => Some(Val::Owned(ids.join(","))),
                _ => None,
            };
        }
        Some(match record.field(f.def.name)? {
            FieldRef::Null => return None,
            FieldRef::Str(s) => Val::Str(s),
            FieldRef::Date(d) => Val::Date(d),
            FieldRef::DateTime(dt) => Val::DateTime(dt),
            FieldRef::Bool(b) => Val::Bool(b),
            FieldRef::Strs(a) => Val::Strs(a),
        })
    }

    /// [`RowWriter::cell`] of a typed value, into `cell` (its text buffer
    /// reused).
    fn cell_into(
        &self,
        f: &FieldMap,
        v: Val<'_>,
        cell: &mut Cell,
        issues: &mut Vec<FieldIssue>,
        show_values: bool,
    ) {
        let problem = |issues: &mut Vec<FieldIssue>, rule: &'static str, message: String| {
            issues.push(FieldIssue {
                rule,
                field: f.def.name,
                column: f.columns.clone(),
                message,
                value: show_values.then(|| v.text().into_owned()),
            });
        };
        match &f.parse {
            Parse::Text => set_text(cell, &v.text()),
            Parse::Code(set) => match set.code_of(&v.text()) {
                Some(code) => set_text(cell, code),
                None => {
                    problem(
                        issues,
                        rules::FIELD_CODE,
                        format!(
                            "{}: no code in code set `{}` to write the value as",
                            f.label, set.id
                        ),
                    );
                    *cell = Cell::Empty;
                }
            },
            Parse::Boolean(set) => {
                let b = match v {
                    Val::Bool(b) | Val::Json(&Json::Bool(b)) => b,
                    _ => crate::mapping::parse_bool(&v.text()).unwrap_or(false),
                };
                let word = if b { "true" } else { "false" };
                match set {
                    Some(set) => match set.code_of(word) {
                        Some(code) => set_text(cell, code),
                        None => {
                            problem(
                                issues,
                                rules::FIELD_CODE,
                                format!("{}: no code in code set `{}` for {word}", f.label, set.id),
                            );
                            *cell = Cell::Empty;
                        }
                    },
                    None => set_text(cell, word),
                }
            }
            Parse::Date(_) | Parse::DateTime(_) => {
                // A typed value is taken as it is where its ISO text reads
                // back as the same value (always, but for years outside
                // 1..=9999 and leap seconds); otherwise the text is parsed.
                let dt = match v {
                    Val::Date(d) if (1..=9999).contains(&d.year()) => {
                        Some(d.and_time(NaiveTime::MIN))
                    }
                    Val::DateTime(dt)
                        if (1..=9999).contains(&dt.year()) && dt.nanosecond() < 1_000_000_000 =>
                    {
                        Some(dt)
                    }
                    _ => iso_datetime(&v.text()),
                };
                let Some(dt) = dt else {
                    problem(
                        issues,
                        rules::FIELD_TYPE,
                        format!("{}: not an ISO date or date and time", f.label),
                    );
                    *cell = Cell::Empty;
                    return;
                };
                let has_time = dt.time() != NaiveTime::MIN || matches!(f.parse, Parse::DateTime(_));
                let fmt = date_format_for(f, dt);
                let mut text = take_text(cell);
                match fmt {
                    Some(w) => w.format_into(dt, &mut text),
                    None if has_time => {
                        let _ = write!(text, "{}", dt.format("%Y-%m-%dT%H:%M:%S"));
                    }
                    None => {
                        let _ = write!(text, "{}", dt.date());
                    }
                }
                *cell = Cell::Date {
                    value: dt,
                    time: has_time,
                    text,
                };
            }
            Parse::Integer | Parse::Decimal => match v {
                Val::Json(j) => match j.as_f64() {
                    Some(n) => {
                        let mut text = take_text(cell);
                        text.push_str(&plain_cow(j));
                        *cell = Cell::Number { value: n, text };
                    }
                    None => set_text(cell, &plain_cow(j)),
                },
                other => set_text(cell, &other.text()),
            },
        }
    }

    /// Writes a workbook form back as one row per answer (a `form_answer`
    /// mapping such as Mosaic's `DM_CACHED_FORM_ANSWERS`): text, codes and
    /// yes/no (`Y`/`N`) as text answers, dates as date answers, scores and
    /// numbers as number answers; a family-level answer's subject as `0`.
    pub fn write_answers(
        &self,
        record: &Record,
        rows: &mut Vec<Vec<Cell>>,
        issues: &mut Vec<FieldIssue>,
        show_values: bool,
    ) {
        rows.clear();
        let Record::WorkbookForm(form) = record else {
            return;
        };
        let key = form
            .header
            .source_keys
            .iter()
            .find(|k| k.system == self.mapping.system)
            .or_else(|| form.header.source_keys.first())
            .map(|k| k.key.clone())
            .unwrap_or_default();
        for section in &form.sections {
            for row in &section.rows {
                for a in &row.answers {
                    let mut o = serde_json::Map::new();
                    o.insert("form_id".into(), Json::String(key.clone()));
                    if let Some(w) = &form.workflow_step_id {
                        o.insert("workflow_step_id".into(), Json::String(w.clone()));
                    }
                    o.insert(
                        "subject_person".into(),
                        Json::String(a.subject.clone().unwrap_or_else(|| "0".into())),
                    );
                    o.insert("question_code".into(), Json::String(a.question.clone()));
                    if let Some(r) = &row.row_id {
                        o.insert("row_id".into(), Json::String(r.clone()));
                    }
                    if let Some(g) = form.header.extras.get("subgroup_id") {
                        o.insert("subgroup_id".into(), g.clone());
                    }
                    use casebridge_model::AnswerValue as V;
                    let (field, v) = match &a.value {
                        V::Text(t) | V::Code(t) => ("text_answer", Json::String(t.clone())),
                        V::Codes(c) => ("text_answer", Json::String(c.join(";"))),
                        V::Boolean(b) => (
                            "text_answer",
                            Json::String(if *b { "Y" } else { "N" }.into()),
                        ),
                        V::Date(d) => ("date_answer", Json::String(d.to_string())),
                        V::DateTime(dt) => (
                            "date_answer",
                            Json::String(dt.format("%Y-%m-%dT%H:%M:%S").to_string()),
                        ),
                        V::Score(n) => ("number_answer", Json::from(*n)),
                        V::Number(n) => (
                            "number_answer",
                            serde_json::Number::from_f64(*n).map_or(Json::Null, Json::Number),
                        ),
                    };
                    o.insert(field.into(), v);
                    let mut cells = Vec::new();
                    self.write_json(&Json::Object(o), record, &mut cells, issues, show_values);
                    rows.push(cells);
                }
            }
        }
    }

    fn write_json(
        &self,
        json: &Json,
        record: &Record,
        out: &mut Vec<Cell>,
        issues: &mut Vec<FieldIssue>,
        show_values: bool,
    ) {
        out.clear();
        let kind = record.kind();
        for src in &self.plan {
            let cell = match src {
                None => Cell::Empty,
                Some(Source::Extra { field, name }) => {
                    let v = json.get("extras").and_then(|e| e.get(name));
                    match (v, field) {
                        (None | Some(Json::Null), _) => Cell::Empty,
                        (Some(v), Some(i)) => {
                            self.cell(&self.mapping.fields[*i], v, issues, show_values)
                        }
                        (Some(v), None) => Cell::Text(plain(v)),
                    }
                }
                Some(Source::Field { field, part }) => {
                    let f = &self.mapping.fields[*field];
                    let v = self.value_of(f, kind, record, json);
                    match (v, part) {
                        (None, _) => Cell::Empty,
                        (Some(v), None) => self.cell(f, &v, issues, show_values),
                        (Some(v), Some((p, n))) => {
                            match split_part(f, &plain(&v), *p, *n, issues, show_values) {
                                Some(part) => Cell::Text(part.to_string()),
                                None => Cell::Empty,
                            }
                        }
                    }
                }
            };
            out.push(cell);
        }
    }

    /// A field's value in the record's JSON.
    fn value_of(
        &self,
        f: &FieldMap,
        kind: RecordKind,
        record: &Record,
        json: &Json,
    ) -> Option<Json> {
        if f.def.is_key && kind != RecordKind::WorkbookForm {
            let keys = &record.header().source_keys;
            let key = keys
                .iter()
                .find(|k| k.system == self.mapping.system)
                .or_else(|| keys.first())?;
            return Some(Json::String(key.key.clone()));
        }
        if matches!(kind, RecordKind::CaseNote | RecordKind::ChronologyEntry)
            && f.def.name == "person"
        {
            let ids: Vec<&str> = json
                .get("subjects")?
                .as_array()?
                .iter()
                .filter_map(Json::as_str)
                .collect();
            return (!ids.is_empty()).then(|| Json::String(ids.join(",")));
        }
        json.get(f.def.name).filter(|v| !v.is_null()).cloned()
    }

    fn cell(
        &self,
        f: &FieldMap,
        v: &Json,
        issues: &mut Vec<FieldIssue>,
        show_values: bool,
    ) -> Cell {
        let text = plain(v);
        let problem = |issues: &mut Vec<FieldIssue>, message: String| {
            issues.push(FieldIssue {
                rule: rules::FIELD_CODE,
                field: f.def.name,
                column: f.columns.clone(),
                message,
                value: show_values.then(|| text.clone()),
            });
        };
        match &f.parse {
            Parse::Text => Cell::Text(text),
            Parse::Code(set) => match set.code_of(&text) {
                Some(code) => Cell::Text(code.to_string()),
                None => {
                    problem(
                        issues,
                        format!(
                            "{}: no code in code set `{}` to write the value as",
                            f.label, set.id
                        ),
                    );
                    Cell::Empty
                }
            },
            Parse::Boolean(set) => {
                let b = match v {
                    Json::Bool(b) => *b,
                    _ => crate::mapping::parse_bool(&text).unwrap_or(false),
                };
                let word = if b { "true" } else { "false" };
                match set {
                    Some(set) => match set.code_of(word) {
                        Some(code) => Cell::Text(code.to_string()),
                        None => {
                            problem(
                                issues,
                                format!("{}: no code in code set `{}` for {word}", f.label, set.id),
                            );
                            Cell::Empty
                        }
                    },
                    None => Cell::Text(word.to_string()),
                }
            }
            Parse::Date(_) | Parse::DateTime(_) => {
                let Some(dt) = iso_datetime(&text) else {
                    issues.push(FieldIssue {
                        rule: rules::FIELD_TYPE,
                        field: f.def.name,
                        column: f.columns.clone(),
                        message: format!("{}: not an ISO date or date and time", f.label),
                        value: show_values.then(|| text.clone()),
                    });
                    return Cell::Empty;
                };
                let has_time = dt.time() != NaiveTime::MIN || matches!(f.parse, Parse::DateTime(_));
                let fmt = date_format_for(f, dt);
                let text = match fmt {
                    Some(w) => w.format(dt),
                    None if has_time => dt.format("%Y-%m-%dT%H:%M:%S").to_string(),
                    None => dt.date().to_string(),
                };
                Cell::Date {
                    value: dt,
                    time: has_time,
                    text,
                }
            }
            Parse::Integer | Parse::Decimal => match v.as_f64() {
                Some(n) => Cell::Number { value: n, text },
                None => Cell::Text(text),
            },
        }
    }
}

/// The format a date-time is written in: the field's, but a date field
/// holding a time the source gave keeps it (a format with a time is chosen
/// if the field's has none).
fn date_format_for(f: &FieldMap, dt: NaiveDateTime) -> Option<&DateFormat> {
    match (write_format(f), &f.parse) {
        (Some(w), Parse::Date(all) | Parse::DateTime(all))
            if dt.time() != NaiveTime::MIN && !w.has_time() =>
        {
            all.iter().find(|d| d.has_time()).or(Some(w))
        }
        (w, _) => w,
    }
}

/// A record value on the direct path, borrowed where it can be.
#[derive(Debug, Clone)]
enum Val<'a> {
    Str(&'a str),
    Owned(String),
    Bool(bool),
    Date(NaiveDate),
    DateTime(NaiveDateTime),
    Strs(&'a [String]),
    Json(&'a Json),
}

impl Val<'_> {
    /// The value as text: what [`plain`] gives for the record's JSON of it.
    fn text(&self) -> Cow<'_, str> {
        match self {
            Val::Str(s) => Cow::Borrowed(s),
            Val::Owned(s) => Cow::Borrowed(s),
            Val::Bool(true) => Cow::Borrowed("true"),
            Val::Bool(false) => Cow::Borrowed("false"),
            // chrono serialises dates and date-times with `Debug`.
            Val::Date(d) => Cow::Owned(format!("{d:?}")),
            Val::DateTime(dt) => Cow::Owned(format!("{dt:?}")),
            Val::Strs(a) => Cow::Owned(a.join(",")),
            Val::Json(j) => plain_cow(j),
        }
    }
}

/// Empties `cell`, handing back its text buffer (cleared) for reuse.
fn take_text(cell: &mut Cell) -> String {
    let mut text = match std::mem::replace(cell, Cell::Empty) {
        Cell::Text(t) | Cell::Date { text: t, .. } | Cell::Number { text: t, .. } => t,
        Cell::Empty => String::new(),
    };
    text.clear();
    text
}

/// Sets `cell` to the text `s`, reusing its buffer.
fn set_text(cell: &mut Cell, s: &str) {
    let mut text = take_text(cell);
    text.push_str(s);
    *cell = Cell::Text(text);
}

/// [`plain`], borrowing a string.
fn plain_cow(v: &Json) -> Cow<'_, str> {
    match v {
        Json::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(plain(other)),
    }
}

/// A JSON value as plain text.
fn plain(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        Json::Array(a) => a.iter().map(plain).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Parses the canonical model's ISO dates and datetimes.
pub fn iso_datetime(s: &str) -> Option<NaiveDateTime> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_time(NaiveTime::MIN))
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok())
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok())
}

/// Part `p` of the `n` columns a joined field is split into (on its
/// concatenation's separator, else a space), in one pass; `None` when the
/// text does not split into `n` parts, with one issue for the field (at
/// its first part).
fn split_part<'t>(
    f: &FieldMap,
    text: &'t str,
    p: usize,
    n: usize,
    issues: &mut Vec<FieldIssue>,
    show_values: bool,
) -> Option<&'t str> {
    let sep = match &f.input {
        Input::Concat { separator, .. } => separator.as_str(),
        _ => " ",
    };
    let (mut part, mut count) = (None, 0);
    for (i, s) in text.splitn(n, sep).enumerate() {
        if i == p {
            part = Some(s);
        }
        count = i + 1;
    }
    if count == n {
        return part;
    }
    if p == 0 {
        issues.push(FieldIssue {
            rule: rules::FIELD_TYPE,
            field: f.def.name,
            column: f.columns.clone(),
            message: format!(
                "{}: cannot be split into its {n} columns on {sep:?}",
                f.label
            ),
            value: show_values.then(|| text.to_string()),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use casebridge_model::{Locator, MappingRef, Provenance, Sha256, SourceRef, TextRow};
    use proptest::prelude::*;
    use std::path::Path;

    use crate::mapping::MappedRecord;

    fn persons() -> Mapping {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mappings/mosaic/persons.toml");
        Mapping::from_path(&p).expect("shipped persons mapping")
    }

    fn provenance() -> Provenance {
        Provenance {
            run_id: String::new(),
            source: SourceRef {
                system: "mosaic".into(),
                file: "DM_PERSONS.csv".into(),
                sha256: Sha256::default(),
            },
            locator: Locator::File,
            mapping: MappingRef {
                id: "m".into(),
                version: "1".into(),
                sha256: Sha256::default(),
            },
            content_sha256: Sha256::default(),
        }
    }

    /// Text as an export holds it: trimmed, single spaces, any letters.
    fn text() -> impl Strategy<Value = String> {
        proptest::collection::vec("[A-Za-z\u{e0}-\u{ff}\u{141}'\",-]{1,8}", 1..4)
            .prop_map(|w| w.join(" "))
    }

    proptest! {
        /// Every value the persons mapping reads exactly comes back as it
        /// was read: codes reversed, dates in their format, text as is.
        #[test]
        fn a_row_read_and_written_back_is_the_same_row(
            id in "[1-9][0-9]{0,8}",
            first in text(),
            last in text(),
            (d, mo, y) in (1u32..=28, 1u32..=12, 1930i32..2025),
            gender in prop::sample::select(vec!["M", "F", "U", "I"]),
            est in prop::sample::select(vec!["Y", "N"]),
            nhs in "[0-9]{10}",
            eth in prop::sample::select(vec!["WBRI", "WIRI", "WOTH"]),
            child in prop::sample::select(vec!["Y", "N"]),
        ) {
            let m = persons();
            let rw = m.writer();
            let header: Vec<String> = rw.columns().to_vec();
            let dob = format!("{d:02}/{mo:02}/{y}");
            let value = |c: &str| -> String {
                match c {
                    "PERSON_ID" => id.clone(),
                    "FIRST_NAME" => first.clone(),
                    "LAST_NAME" => last.clone(),
                    "FULL_NAME" => format!("{first} {last}"),
                    "DATE_OF_BIRTH" => dob.clone(),
                    "AGE_ESTIMATED" => est.to_string(),
                    "GENDER" => gender.to_string(),
                    "NHS_ID" => nhs.clone(),
                    "UPN_ID" => String::new(),
                    "FULL_ETHNICITY_CODE" => eth.to_string(),
                    "IS_CHILD_LEGACY" => child.to_string(),
                    _ => String::new(),
                }
            };
            let cells: Vec<String> = header.iter().map(|c| value(c)).collect();
            let bound = m.bind(&header).unwrap();
            let mut row = TextRow::new();
            row.reset(cells.len());
            for (i, c) in cells.iter().enumerate() {
                row.cell_mut(i).push_str(c);
            }
            let mut rec = MappedRecord::new(m.kind);
            let mut issues = Vec::new();
            bound.apply(&mut row, &mut rec, &mut issues, false);
            prop_assert!(issues.is_empty(), "{issues:?}");
            let record = m.to_record(&rec, provenance()).unwrap();
            // Unhashed: the same record, its content hash left zeros.
            let unhashed = m.to_record_with(&rec, provenance(), false).unwrap();
            let content = |r: &Record| r.header().provenance[0].content_sha256;
            prop_assert_ne!(content(&record), Sha256::default());
            prop_assert_eq!(content(&unhashed), Sha256::default());
            let mut same = unhashed.clone();
            same.header_mut().provenance[0].content_sha256 = content(&record);
            prop_assert_eq!(&same, &record);
            let mut out = Vec::new();
            rw.write(&record, &mut out, &mut issues, false);
            prop_assert!(issues.is_empty(), "{issues:?}");
            let back: Vec<&str> = out.iter().map(Cell::text).collect();
            let want: Vec<&str> = cells.iter().map(String::as_str).collect();
            prop_assert_eq!(back, want);
        }
    }

    #[test]
    fn a_value_with_no_code_to_write_is_an_issue_naming_no_value() {
        let m = persons();
        let rw = m.writer();
        let mut record = casebridge_model::Person::default();
        record.header.source_keys.push(casebridge_model::SourceKey {
            system: "mosaic".into(),
            key: "1".into(),
        });
        record.gender = Some("nonbinary-secret".into());
        let record = Record::Person(record);
        let (mut out, mut issues) = (Vec::new(), Vec::new());
        rw.write(&record, &mut out, &mut issues, false);
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].rule, rules::FIELD_CODE);
        assert!(issues[0].value.is_none() && !issues[0].message.contains("secret"));
    }
}
