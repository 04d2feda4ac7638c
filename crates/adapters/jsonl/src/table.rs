//! Canonical tables read back: the CSV or XLSX that `casebridge export --to
//! csv|xlsx` writes (one table per kind: `id`, `source_keys`, the kind's
//! fields, `extras`), turned into the same canonical records, ids and keys
//! kept, as their JSON Lines would give.
//!
//! [`CanonicalTableSource`] wraps the CSV or workbook reader of the file:
//! each row is typed by the kind's field types (dates from date cells or
//! ISO text, numbers, lists and objects from their JSON) and becomes a
//! [`Record`], laid out for the canonical mapping as JSON Lines are.

use casebridge_model::{
    Encoding, FieldType, Record, RecordKind, RecordSource, SourceError, SourceErrorKind,
    SourceInfo, TextRow, Want,
};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use serde_json::{Map, Value};

/// A canonical table, read through the reader of its format.
pub struct CanonicalTableSource {
    inner: Box<dyn RecordSource>,
    kind: RecordKind,
    header: Vec<String>,
    columns: Vec<String>,
    cells: TextRow,
    record: Option<Record>,
}

impl std::fmt::Debug for CanonicalTableSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CanonicalTableSource")
            .field("kind", &self.kind)
            .finish()
    }
}

/// The columns a canonical table may hold that are JSON text.
const JSON_COLUMNS: &[&str] = &["source_keys", "subjects", "sections", "extras"];

impl CanonicalTableSource {
    /// Wraps the reader of a canonical table of `kind`.
    pub fn new(inner: Box<dyn RecordSource>, kind: RecordKind) -> Result<Self, SourceError> {
        let header: Vec<String> = inner
            .columns()
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        for needed in ["id", "source_keys"] {
            if !header.iter().any(|h| h == needed) {
                return Err(SourceError {
                    kind: SourceErrorKind::Syntax(format!(
                        "not a canonical {kind} table: no `{needed}` column"
                    )),
                    locator: casebridge_model::Locator::File,
                    recoverable: false,
                });
            }
        }
        Ok(CanonicalTableSource {
            inner,
            kind,
            header,
            columns: kind.fields().iter().map(|f| f.name.to_string()).collect(),
            cells: TextRow::new(),
            record: None,
        })
    }

    fn value(&self, column: &str, text: &str, typed: bool) -> Result<Value, String> {
        if JSON_COLUMNS.contains(&column) {
            return serde_json::from_str(text).map_err(|_| format!("`{column}` is not JSON"));
        }
        let ty = self.kind.field(column).map(|d| d.ty);
        Ok(match ty {
            Some(FieldType::Date | FieldType::DateTime) => {
                let dt = iso(text).ok_or_else(|| format!("`{column}` is not a date"))?;
                if ty == Some(FieldType::Date) && dt.time() == NaiveTime::MIN {
                    Value::String(dt.date().to_string())
                } else {
                    serde_json::to_value(dt).map_err(|e| e.to_string())?
                }
            }
            Some(FieldType::Integer) => text
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| text.parse::<f64>().map(|f| Value::from(f as i64)))
                .map_err(|_| format!("`{column}` is not a whole number"))?,
            Some(FieldType::Decimal) => text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("`{column}` is not a number"))?,
            Some(FieldType::Boolean) => match text {
                "true" | "TRUE" | "1" => Value::Bool(true),
                "false" | "FALSE" | "0" => Value::Bool(false),
                _ => return Err(format!("`{column}` is not true or false")),
            },
            // Text, codes and references; a workbook's number cell read as
            // text keeps its text.
            _ => {
                let _ = typed;
                Value::String(text.to_string())
            }
        })
    }
}

/// ISO dates and datetimes as the canonical model and workbooks spell them.
fn iso(s: &str) -> Option<NaiveDateTime> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_time(NaiveTime::MIN))
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok())
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok())
}

impl RecordSource for CanonicalTableSource {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn read_row(&mut self, row: &mut TextRow, wanted: &[Want]) -> Result<bool, SourceError> {
        self.record = None;
        let all = vec![Want::Text; self.header.len()];
        if !self.inner.read_row(&mut self.cells, &all)? {
            return Ok(false);
        }
        let locator = self.cells.locator.clone();
        let mut obj = Map::new();
        obj.insert("kind".into(), Value::String(self.kind.as_str().into()));
        let mut problem = None;
        for (i, column) in self.header.iter().enumerate() {
            let text = self.cells.get(i).unwrap_or("").trim();
            if text.is_empty() || column == "kind" {
                continue;
            }
            match self.value(column, text, self.cells.is_typed(i)) {
                Ok(v) => {
                    obj.insert(column.clone(), v);
                }
                Err(m) => {
                    problem.get_or_insert(m);
                }
            }
        }
        let record = match problem {
            None => serde_json::from_value::<Record>(Value::Object(obj))
                .map_err(|_| "not a canonical record of its kind".to_string()),
            Some(m) => Err(m),
        };
        match record {
            Ok(r) => {
                crate::flatten(&r, self.kind, row, wanted);
                row.locator = locator;
                self.record = Some(r);
                Ok(true)
            }
            Err(m) => Err(SourceError {
                kind: SourceErrorKind::Syntax(m),
                locator: locator.unwrap_or(casebridge_model::Locator::File),
                recoverable: true,
            }),
        }
    }

    fn bytes_read(&self) -> u64 {
        self.inner.bytes_read()
    }

    fn take_warning(&mut self) -> Option<SourceError> {
        self.inner.take_warning()
    }

    fn finish(self: Box<Self>) -> Result<SourceInfo, SourceError> {
        self.inner.finish()
    }

    fn part(&self) -> Option<&str> {
        self.inner.part()
    }

    fn take_record(&mut self) -> Option<Record> {
        self.record.take()
    }

    fn detected_encoding(&self) -> Option<Encoding> {
        self.inner.detected_encoding()
    }
}
