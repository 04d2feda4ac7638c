//! Writes one-sheet XLSX workbooks (pseudonymised extracts of workbook
//! inputs), row by row in rust_xlsxwriter's constant-memory mode, so memory
//! does not grow with the rows. The file is written through an
//! [`OutputFile`]: owner-only (0600) under an exclusive temporary name
//! beside the target, renamed into place when complete; a failed write
//! leaves no partial file.

use std::path::{Path, PathBuf};

use casebridge_io::OutputFile;

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Workbook};

use crate::Error;

/// The most rows a sheet holds (Excel's limit).
pub const MAX_ROWS: u32 = 1_048_576;
/// The longest text a cell holds (Excel's limit, in characters).
pub const MAX_CELL_CHARS: usize = 32_767;

/// One typed cell of [`SheetSink::write_cells`].
#[derive(Debug, Clone, PartialEq)]
pub enum SheetCell<'a> {
    /// Left blank.
    Empty,
    /// A text cell (identifiers stay text, so leading zeros survive).
    Text(&'a str),
    /// A number cell.
    Number(f64),
    /// A date cell (`time`: shown with its time).
    Date(chrono::NaiveDateTime, bool),
}

/// A one-sheet workbook being written.
pub struct SheetSink {
    workbook: Workbook,
    path: PathBuf,
    next_row: u32,
    /// The most rows this sheet takes, its header's among them.
    max_rows: u32,
    width: usize,
    table: bool,
    date: rust_xlsxwriter::Format,
    datetime: rust_xlsxwriter::Format,
}

impl std::fmt::Debug for SheetSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SheetSink")
            .field("path", &self.path)
            .field("next_row", &self.next_row)
            .finish()
    }
}

fn write_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Write {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

impl SheetSink {
    /// Starts `path` with a sheet named `sheet` and `header` in row 1.
    pub fn create(path: &Path, sheet: &str, header: &[&str]) -> Result<SheetSink, Error> {
        let mut workbook = Workbook::new();
        // A fixed creation date: the same rows give the same bytes.
        let epoch =
            ExcelDateTime::from_ymd(2000, 1, 1).map_err(|e| write_err(path, e.to_string()))?;
        workbook.set_properties(&DocProperties::new().set_creation_datetime(&epoch));
        let ws = workbook.add_worksheet_with_constant_memory();
        ws.set_name(sheet)
            .map_err(|e| write_err(path, format!("sheet name: {e}")))?;
        let mut sink = SheetSink {
            workbook,
            path: path.to_path_buf(),
            next_row: 0,
            max_rows: MAX_ROWS,
            width: header.len(),
            table: false,
            date: rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd"),
            datetime: rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
        };
        let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
        sink.write_row(&header)?;
        Ok(sink)
    }

    /// At most `rows` rows, the header's among them (fewer than Excel's
    /// [`MAX_ROWS`], for a spreadsheet that holds fewer; at least the
    /// header and one row, at most `MAX_ROWS`).
    pub fn with_max_rows(mut self, rows: u32) -> SheetSink {
        self.max_rows = rows.clamp(2, MAX_ROWS);
        self
    }

    /// The most rows the sheet takes, its header's among them.
    pub fn max_rows(&self) -> u32 {
        self.max_rows
    }

    /// The file's name (without its folder: a staging folder's while
    /// the export runs).
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Rows the sheet still takes.
    pub fn rows_left(&self) -> u32 {
        self.max_rows.saturating_sub(self.next_row)
    }

    /// Appends a row of text cells (empty cells are left blank).
    pub fn write_row(&mut self, cells: &[String]) -> Result<(), Error> {
        if self.next_row >= self.max_rows {
            return Err(write_err(
                &self.path,
                format!(
                    "more than {} rows: past what the sheet holds",
                    self.max_rows
                ),
            ));
        }
        if cells.len() > usize::from(u16::MAX) || cells.len() > self.width.max(1) * 2 + 1024 {
            return Err(write_err(&self.path, "row far wider than the header"));
        }
        let row = self.next_row;
        let Some(ws) = self.workbook.worksheets_mut().first_mut() else {
            return Err(write_err(&self.path, "no sheet"));
        };
        for (c, v) in cells.iter().enumerate() {
            if v.is_empty() {
                continue;
            }
            if v.chars().count() > MAX_CELL_CHARS {
                return Err(write_err(
                    &self.path,
                    format!(
                        "row {}: a cell is longer than {MAX_CELL_CHARS} characters",
                        row + 1
                    ),
                ));
            }
            let col = u16::try_from(c).map_err(|_| write_err(&self.path, "too many columns"))?;
            ws.write_string(row, col, v)
                .map_err(|e| write_err(&self.path, format!("row {}: {e}", row + 1)))?;
        }
        self.next_row += 1;
        Ok(())
    }

    /// A table for people: the header row frozen and an autofilter over
    /// the rows (set when the workbook is saved).
    pub fn as_table(mut self) -> Result<Self, Error> {
        let path = self.path.clone();
        if let Some(ws) = self.workbook.worksheets_mut().first_mut() {
            ws.set_freeze_panes(1, 0)
                .map_err(|e| write_err(&path, format!("freeze panes: {e}")))?;
        }
        self.table = true;
        Ok(self)
    }

    /// Appends a row of typed cells: dates as date cells, numbers as
    /// numbers, the rest as text.
    pub fn write_cells(&mut self, cells: &[SheetCell<'_>]) -> Result<(), Error> {
        if self.next_row >= self.max_rows {
            return Err(write_err(
                &self.path,
                format!(
                    "more than {} rows: past what the sheet holds",
                    self.max_rows
                ),
            ));
        }
        let row = self.next_row;
        let path = self.path.clone();
        let (date, datetime) = (self.date.clone(), self.datetime.clone());
        let Some(ws) = self.workbook.worksheets_mut().first_mut() else {
            return Err(write_err(&path, "no sheet"));
        };
        let at = |e: rust_xlsxwriter::XlsxError| write_err(&path, format!("row {}: {e}", row + 1));
        for (c, v) in cells.iter().enumerate() {
            let col = u16::try_from(c).map_err(|_| write_err(&path, "too many columns"))?;
            match v {
                SheetCell::Empty => {}
                SheetCell::Text("") => {}
                SheetCell::Text(t) => {
                    if t.chars().count() > MAX_CELL_CHARS {
                        return Err(write_err(
                            &path,
                            format!(
                                "row {}: a cell is longer than {MAX_CELL_CHARS} characters",
                                row + 1
                            ),
                        ));
                    }
                    ws.write_string(row, col, *t).map_err(at)?;
                }
                SheetCell::Number(n) => {
                    ws.write_number(row, col, *n).map_err(at)?;
                }
                SheetCell::Date(dt, time) => {
                    let fmt = if *time { &datetime } else { &date };
                    ws.write_datetime_with_format(row, col, dt, fmt)
                        .map_err(at)?;
                }
            }
        }
        self.next_row += 1;
        Ok(())
    }

    /// Rows written, the header included.
    pub fn rows(&self) -> u32 {
        self.next_row
    }

    /// Saves the workbook: an [`OutputFile`] (an exclusive 0600 temporary
    /// file beside the target), synced, then renamed into place.
    pub fn finish(mut self) -> Result<(), Error> {
        if self.table && self.next_row > 1 && self.width > 0 {
            let (last_row, last_col) = (self.next_row - 1, (self.width - 1) as u16);
            let path = self.path.clone();
            if let Some(ws) = self.workbook.worksheets_mut().first_mut() {
                ws.autofilter(0, 0, last_row, last_col)
                    .map_err(|e| write_err(&path, format!("autofilter: {e}")))?;
            }
        }
        let mut out = OutputFile::create(&self.path)?;
        self.workbook
            .save_to_writer(&mut out)
            .map_err(|e| write_err(&self.path, e.to_string()))?;
        out.finish()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::{SheetSource, SheetSourceConfig};
    use casebridge_model::{RecordSource, TextRow, Want};

    #[test]
    fn a_sheet_takes_its_rows_and_no_more() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.xlsx");
        let sink = SheetSink::create(&path, "t", &["A"]).unwrap();
        assert_eq!(sink.max_rows(), MAX_ROWS);
        assert_eq!(sink.rows_left(), MAX_ROWS - 1);
        let mut sink = sink.with_max_rows(3);
        assert_eq!(sink.rows_left(), 2);
        sink.write_row(&["1".into()]).unwrap();
        sink.write_cells(&[SheetCell::Text("2")]).unwrap();
        assert_eq!(sink.rows_left(), 0);
        let e = sink.write_row(&["3".into()]).unwrap_err().to_string();
        assert!(e.contains("more than 3 rows"), "{e}");
        assert!(sink.write_cells(&[SheetCell::Text("3")]).is_err());
        sink.finish().unwrap();
        let clamped = SheetSink::create(&dir.path().join("u.xlsx"), "u", &["A"]).unwrap();
        assert_eq!(clamped.with_max_rows(u32::MAX).max_rows(), MAX_ROWS);
    }

    #[test]
    fn rows_read_back_exactly_the_file_is_private_and_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("DM_PERSONS.xlsx");
        let mut sink =
            SheetSink::create(&path, "DM_PERSONS", &["PERSON_ID", "FIRST_NAME"]).unwrap();
        for i in 0..1000 {
            sink.write_row(&[
                format!("{i}"),
                if i % 2 == 0 {
                    "Zoë\r\n_x0041_".into()
                } else {
                    String::new()
                },
            ])
            .unwrap();
        }
        assert_eq!(sink.rows(), 1001);
        sink.finish().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
        let mut src = SheetSource::open(&path, SheetSourceConfig::default()).unwrap();
        assert_eq!(src.columns(), ["PERSON_ID", "FIRST_NAME"]);
        assert_eq!(src.sheet(), "DM_PERSONS");
        let mut row = TextRow::new();
        let want = [Want::Text, Want::Text];
        let mut n = 0;
        while src.read_row(&mut row, &want).unwrap() {
            assert_eq!(row.get(0), Some(n.to_string().as_str()));
            assert_eq!(
                row.get(1),
                Some(if n % 2 == 0 { "Zoë\r\n_x0041_" } else { "" })
            );
            n += 1;
        }
        assert_eq!(n, 1000);
    }

    #[test]
    fn a_failed_save_leaves_nothing_and_oversized_cells_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("x.xlsx");
        let sink = SheetSink::create(&path, "S", &["A"]).unwrap();
        assert!(sink.finish().is_err());
        assert!(!path.exists());
        let mut sink = SheetSink::create(&dir.path().join("y.xlsx"), "S", &["A"]).unwrap();
        let err = sink
            .write_row(&["x".repeat(MAX_CELL_CHARS + 1)])
            .unwrap_err();
        assert!(
            !err.to_string().contains("xxxx"),
            "no cell contents in errors: {err}"
        );
    }
}
