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

use casebridge_io::OutputFile;
use casebridge_model::{RecordSource, TextRow, Want};
use casebridge_sheet::{SheetSource, SheetSourceConfig};
use rust_xlsxwriter::{DataValidation, Format, Workbook};

use crate::{Error, Pair, Result};

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
    Ok(OutputFile::write_all(path, &bytes)?)
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

/// Reads the reviewer decisions of a workbook's first sheet. The workbook
/// comes back from a shared drive, so it is untrusted: it is read with the
/// same streaming reader as workbook inputs (zip-bomb check first, bounded
/// rows, a damaged workbook an error rather than a crash).
pub fn read_decisions(path: &Path) -> Result<Vec<Reviewed>> {
    let err = |message: String| Error::Review {
        path: path.to_path_buf(),
        message,
    };
    let mut src = SheetSource::open(path, SheetSourceConfig::default()).map_err(|e| {
        err(format!(
            "not a readable review workbook: {}",
            e.kind_message()
        ))
    })?;
    let sheet = src.sheet().to_string();
    let header: Vec<String> = src
        .columns()
        .iter()
        .map(|c| c.trim().to_lowercase())
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name);
    let (Some(il), Some(ir), Some(id)) = (col("id_l"), col("id_r"), col("decision")) else {
        return Err(err(format!(
            "sheet `{sheet}`: the first row must name the columns id_l, id_r and decision"
        )));
    };
    let (sl, sr) = (col("system_l"), col("system_r"));
    let mut want = vec![Want::Skip; header.len()];
    for c in [Some(il), Some(ir), Some(id), sl, sr].into_iter().flatten() {
        want[c] = Want::Text;
    }
    let mut out = Vec::new();
    let mut bad = Vec::new();
    let mut row = TextRow::new();
    loop {
        match src.read_row(&mut row, &want) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) if e.recoverable => {
                bad.push(format!("{} ({})", e.locator, e.kind_message()));
                continue;
            }
            Err(e) => return Err(err(e.to_string())),
        }
        // The sheet row as a spreadsheet shows it.
        let at = row
            .locator
            .as_ref()
            .and_then(|l| l.line())
            .map_or_else(|| "a row".to_string(), |r| format!("row {r}"));
        let get = |c: Option<usize>| {
            c.and_then(|c| row.get(c))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        let decision = get(Some(id)).to_lowercase();
        let decision = match decision.as_str() {
            "" => continue,
            "merge" | "same" | "yes" | "y" | "match" => ReviewDecision::Merge,
            "distinct" | "different" | "no" | "n" | "not a match" | "non-match" => {
                ReviewDecision::Distinct
            }
            _ => {
                bad.push(at);
                continue;
            }
        };
        let (left, right) = (get(Some(il)), get(Some(ir)));
        if left.is_empty() || right.is_empty() {
            bad.push(format!("{at} (no id)"));
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
    let _ = Box::new(src).finish();
    if !bad.is_empty() {
        return Err(err(format!(
            "sheet `{sheet}`: decision must be `merge`, `distinct` or blank at {}",
            bad.join(", ")
        )));
    }
    Ok(out)
}
