//! The review queue as an XLSX workbook, and reading reviewer decisions back.
//!
//! [`write_review`] writes one row per pair (left and right side by side,
//! score, model decision, a `decision` column for the reviewer, then per
//! field its level, weight and both values). [`read_decisions`] reads any
//! workbook whose first sheet has `id_l`, `id_r` and `decision` columns
//! (`system_l`/`system_r` optional): `merge` (or `same`, `yes`, `y`) and
//! `distinct` (or `different`, `no`, `n`) override the model; a blank cell
//! leaves the pair to it.

use std::path::Path;

use calamine::{open_workbook, Data, Reader, Xlsx};
use rust_xlsxwriter::{DataValidation, Format, Workbook};

use crate::{AtomicFile, Error, Pair, Result};

/// A reviewer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewDecision {
    /// The same person: merge.
    Merge,
    /// Different people: never merge.
    Distinct,
}

/// One reviewed pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reviewed {
    /// Left record's system, when the sheet has it.
    pub left_system: Option<String>,
    /// Left record's source key.
    pub left: String,
    /// Right record's system.
    pub right_system: Option<String>,
    /// Right record's source key.
    pub right: String,
    /// The decision.
    pub decision: ReviewDecision,
}

const FIXED: &[&str] = &[
    "pair",
    "kind",
    "system_l",
    "id_l",
    "system_r",
    "id_r",
    "score",
    "model_decision",
    "reason",
    "decision",
];

/// Writes `pairs` (those the caller chose, usually the `review` ones) as a
/// review workbook, atomically and owner-only. Values are included: the
/// workbook is for the reviewer.
pub fn write_review(path: &Path, pairs: &[&Pair]) -> Result<()> {
    let bytes = review_bytes(pairs).map_err(|e| Error::Xlsx {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    AtomicFile::write_all(path, &bytes)
}

fn review_bytes(pairs: &[&Pair]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let ws = wb.add_worksheet();
    ws.set_name("review")?;
    // Field columns: the union of evidence fields, in first-seen order.
    let mut fields: Vec<&str> = Vec::new();
    for p in pairs {
        for e in &p.fields {
            if !fields.contains(&e.field) {
                fields.push(e.field);
            }
        }
    }
    let mut col: u16 = 0;
    for h in FIXED {
        ws.write_string_with_format(0, col, *h, &bold)?;
        col += 1;
    }
    for f in &fields {
        for suffix in ["level", "weight", "left", "right"] {
            ws.write_string_with_format(0, col, format!("{f} {suffix}"), &bold)?;
            col += 1;
        }
    }
    let decision_col = FIXED.iter().position(|h| *h == "decision").unwrap_or(0) as u16;
    for (i, p) in pairs.iter().enumerate() {
        let row = i as u32 + 1;
        ws.write_number(row, 0, (i + 1) as f64)?;
        ws.write_string(row, 1, p.kind.as_str())?;
        ws.write_string(row, 2, &p.left.system)?;
        ws.write_string(row, 3, &p.left.key)?;
        ws.write_string(row, 4, &p.right.system)?;
        ws.write_string(row, 5, &p.right.key)?;
        ws.write_number(row, 6, (p.score * 1000.0).round() / 1000.0)?;
        ws.write_string(row, 7, p.decision.as_str())?;
        ws.write_string(row, 8, p.reason.as_deref().unwrap_or(""))?;
        let mut c = FIXED.len() as u16;
        for f in &fields {
            if let Some(e) = p.fields.iter().find(|e| e.field == *f) {
                ws.write_string(row, c, &e.level)?;
                ws.write_number(row, c + 1, (e.weight * 1000.0).round() / 1000.0)?;
                ws.write_string(row, c + 2, e.left.as_deref().unwrap_or(""))?;
                ws.write_string(row, c + 3, e.right.as_deref().unwrap_or(""))?;
            }
            c += 4;
        }
    }
    if !pairs.is_empty() {
        let dv = DataValidation::new()
            .allow_list_strings(&["merge", "distinct"])?
            .ignore_blank(true);
        ws.add_data_validation(1, decision_col, pairs.len() as u32, decision_col, &dv)?;
    }
    ws.set_freeze_panes(1, 0)?;
    ws.autofit();
    wb.save_to_buffer()
}

fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        other => other.to_string().trim().to_string(),
    }
}

/// Reads the reviewer decisions of a workbook's first sheet.
pub fn read_decisions(path: &Path) -> Result<Vec<Reviewed>> {
    let err = |message: String| Error::Review {
        path: path.to_path_buf(),
        message,
    };
    // A workbook is a zip archive: refuse a zip bomb before calamine inflates it.
    casebridge_sheet::check_xlsx(path, &casebridge_sheet::ArchiveLimits::default())
        .map_err(|e| err(e.to_string()))?;
    let mut wb: Xlsx<_> =
        open_workbook(path).map_err(|e| err(format!("not a readable xlsx workbook: {e}")))?;
    let sheet = wb
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| err("the workbook has no sheet".into()))?;
    let range = wb
        .worksheet_range(&sheet)
        .map_err(|e| err(format!("sheet `{sheet}`: {e}")))?;
    let mut rows = range.rows();
    let header: Vec<String> = rows
        .next()
        .map(|r| r.iter().map(|c| cell_text(c).to_lowercase()).collect())
        .unwrap_or_default();
    let col = |name: &str| header.iter().position(|h| h == name);
    let (Some(il), Some(ir), Some(id)) = (col("id_l"), col("id_r"), col("decision")) else {
        return Err(err(format!(
            "sheet `{sheet}`: the first row must name the columns id_l, id_r and decision"
        )));
    };
    let (sl, sr) = (col("system_l"), col("system_r"));
    let start_row = range.start().map_or(0, |(r, _)| r) as usize;
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (n, r) in rows.enumerate() {
        let get = |c: Option<usize>| c.and_then(|c| r.get(c)).map(cell_text).unwrap_or_default();
        let decision = get(Some(id)).to_lowercase();
        let decision = match decision.as_str() {
            "" => continue,
            "merge" | "same" | "yes" | "y" | "match" => ReviewDecision::Merge,
            "distinct" | "different" | "no" | "n" | "not a match" | "non-match" => {
                ReviewDecision::Distinct
            }
            _ => {
                // The sheet row as a spreadsheet shows it (1-based, header on the first).
                bad.push(format!("row {}", start_row + n + 2));
                continue;
            }
        };
        let (left, right) = (get(Some(il)), get(Some(ir)));
        if left.is_empty() || right.is_empty() {
            bad.push(format!("row {} (no id)", start_row + n + 2));
            continue;
        }
        let opt = |s: String| (!s.is_empty()).then_some(s);
        out.push(Reviewed {
            left_system: opt(get(sl)),
            left,
            right_system: opt(get(sr)),
            right,
            decision,
        });
    }
    if !bad.is_empty() {
        return Err(err(format!(
            "sheet `{sheet}`: decision must be `merge`, `distinct` or blank at {}",
            bad.join(", ")
        )));
    }
    Ok(out)
}
