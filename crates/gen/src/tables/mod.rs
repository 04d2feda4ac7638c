//! The six export tables, the CIN census, and the SSDA903 tables.

pub mod addresses;
pub mod cin;
pub mod forms;
pub mod notes;
pub mod persons;
pub mod relationships;
pub mod ssda903;
pub mod steps;

use std::path::Path;

use crate::faults::Faults;
use crate::out::{CellKind, Format, Table, Truth};
use crate::prose::Banks;
use crate::world::World;
use crate::{Options, Rng8};

/// A table the generator can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TableKind {
    Persons,
    Addresses,
    Relationships,
    CaseNotes,
    WorkflowSteps,
    FormAnswers,
    /// `CIN_Census.xml`: not a Mosaic table, written only when asked for
    /// (`--cin`, or `CIN_Census` in `--only`).
    CinCensus,
    /// `SSDA903_Header.csv` and `SSDA903_Episodes.csv`: the looked-after
    /// children's SSDA903 tables, written only when asked for (`--ssda903`,
    /// or `SSDA903` or the table names in `--only`), CSV in either format.
    Ssda903Header,
    Ssda903Episodes,
}

impl TableKind {
    /// The Mosaic tables, in the order they are written: what is written
    /// when `--only` is not given.
    pub const ALL: [TableKind; 6] = [
        TableKind::Persons,
        TableKind::Addresses,
        TableKind::Relationships,
        TableKind::CaseNotes,
        TableKind::WorkflowSteps,
        TableKind::FormAnswers,
    ];

    /// Everything `--only` accepts.
    pub const ANY: [TableKind; 9] = [
        TableKind::Persons,
        TableKind::Addresses,
        TableKind::Relationships,
        TableKind::CaseNotes,
        TableKind::WorkflowSteps,
        TableKind::FormAnswers,
        TableKind::CinCensus,
        TableKind::Ssda903Header,
        TableKind::Ssda903Episodes,
    ];

    /// The SSDA903 tables, which `--ssda903` (or `SSDA903` in `--only`)
    /// selects.
    pub const SSDA903: [TableKind; 2] = [TableKind::Ssda903Header, TableKind::Ssda903Episodes];

    /// Table name as `--only` takes it.
    pub fn name(self) -> &'static str {
        match self {
            TableKind::Persons => "DM_PERSONS",
            TableKind::Addresses => "DM_ADDRESSES",
            TableKind::Relationships => "DM_PERSONAL_RELATIONSHIPS",
            TableKind::CaseNotes => "CASE_NOTES",
            TableKind::WorkflowSteps => "DM_WORKFLOW_STEPS",
            TableKind::FormAnswers => "DM_CACHED_FORM_ANSWERS",
            TableKind::CinCensus => "CIN_Census",
            TableKind::Ssda903Header => "SSDA903_Header",
            TableKind::Ssda903Episodes => "SSDA903_Episodes",
        }
    }

    /// File name with `--format csv` (the default).
    pub fn file(self) -> &'static str {
        match self {
            TableKind::Persons => "DM_PERSONS.csv",
            TableKind::Addresses => "DM_ADDRESSES.csv",
            TableKind::Relationships => "DM_PERSONAL_RELATIONSHIPS.csv",
            TableKind::CaseNotes => "CASE_NOTES.csv",
            TableKind::WorkflowSteps => "DM_WORKFLOW_STEPS.csv",
            TableKind::FormAnswers => "DM_CACHED_FORM_ANSWERS.csv",
            TableKind::CinCensus => "CIN_Census.xml",
            TableKind::Ssda903Header => "SSDA903_Header.csv",
            TableKind::Ssda903Episodes => "SSDA903_Episodes.csv",
        }
    }

    /// File name in `format`: the CIN census is XML in either, the SSDA903
    /// tables CSV.
    pub fn file_in(self, format: Format) -> &'static str {
        match (format, self) {
            (Format::Csv, _)
            | (_, TableKind::CinCensus | TableKind::Ssda903Header | TableKind::Ssda903Episodes) => {
                self.file()
            }
            (Format::Xlsx, TableKind::Persons) => "DM_PERSONS.xlsx",
            (Format::Xlsx, TableKind::Addresses) => "DM_ADDRESSES.xlsx",
            (Format::Xlsx, TableKind::Relationships) => "DM_PERSONAL_RELATIONSHIPS.xlsx",
            (Format::Xlsx, TableKind::CaseNotes) => "CASE_NOTES.xlsx",
            (Format::Xlsx, TableKind::WorkflowSteps) => "DM_WORKFLOW_STEPS.xlsx",
            (Format::Xlsx, TableKind::FormAnswers) => "DM_CACHED_FORM_ANSWERS.xlsx",
        }
    }

    /// Header columns (none for the CIN census).
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            TableKind::Persons => persons::COLUMNS,
            TableKind::Addresses => addresses::COLUMNS,
            TableKind::Relationships => relationships::COLUMNS,
            TableKind::CaseNotes => notes::COLUMNS,
            TableKind::WorkflowSteps => steps::COLUMNS,
            TableKind::FormAnswers => forms::COLUMNS,
            TableKind::CinCensus => &[],
            TableKind::Ssda903Header => ssda903::HEADER_COLUMNS,
            TableKind::Ssda903Episodes => ssda903::EPISODES_COLUMNS,
        }
    }

    /// How the XLSX backend writes a column's cells.
    pub fn cell_kind(column: &str) -> CellKind {
        match column {
            "DATE_OF_BIRTH" | "DATE_OF_DEATH" | "START_DATE" | "END_DATE" => CellKind::Date,
            "EFFECTIVE_DATE" | "CREATED_ON" | "INCOMING_ON" | "STARTED_ON" | "COMPLETED_ON" => {
                CellKind::DateTime
            }
            "DATE_ANSWER" => CellKind::SqlDateTime,
            "NUMBER_ANSWER" => CellKind::Number,
            // NHS numbers and UPNs are identifiers of people, kept as text.
            "NHS_ID" | "UPN_ID" => CellKind::Text,
            c if c == "ID" || c.ends_with("_ID") => CellKind::Id,
            _ => CellKind::Text,
        }
    }

    /// Parses a name as `--only` takes it (case-insensitive, `.csv`, `.xlsx`
    /// or, for the CIN census, `.xml` optional).
    pub fn parse(s: &str) -> Option<TableKind> {
        let s = s.trim();
        let lower = s.to_ascii_lowercase();
        let s = [".csv", ".xlsx", ".xml"]
            .iter()
            .find_map(|ext| lower.ends_with(ext).then(|| &s[..s.len() - ext.len()]))
            .unwrap_or(s);
        TableKind::ANY
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
    }

    /// The tables a name of `--only` stands for: one table by
    /// [`TableKind::parse`], or `SSDA903` (any case) for both SSDA903 tables.
    pub fn parse_many(s: &str) -> Option<Vec<TableKind>> {
        if s.trim().eq_ignore_ascii_case("SSDA903") {
            return Some(TableKind::SSDA903.to_vec());
        }
        TableKind::parse(s).map(|t| vec![t])
    }

    fn stream(self) -> u64 {
        match self {
            TableKind::Persons => 0,
            TableKind::Addresses => 1,
            TableKind::Relationships => 2,
            TableKind::CaseNotes => 3,
            TableKind::WorkflowSteps => 4,
            TableKind::FormAnswers => 5,
            TableKind::CinCensus => 6,
            TableKind::Ssda903Header => 7,
            TableKind::Ssda903Episodes => 8,
        }
    }
}

/// RNG streams, so that each table's content does not depend on which other
/// tables are written, nor on the fault and duplicate rates.
pub mod streams {
    pub const POPULATION: u64 = 1;
    pub const STEPS: u64 = 2;
    /// Which children are looked after, and their SSDA903 episodes.
    pub const LOOKED_AFTER: u64 = 3;
    /// Content of table `t`: `CONTENT + t`.
    pub const CONTENT: u64 = 10;
    /// Duplicates of table `t`: `DUPLICATES + t`.
    pub const DUPLICATES: u64 = 20;
    /// Faults of table `t`: `FAULTS + t`.
    pub const FAULTS: u64 = 30;
}

/// What writing one table produced.
#[derive(Debug, Clone, Default)]
pub struct TableReport {
    pub file: &'static str,
    pub rows: u64,
    pub bytes: u64,
    pub faults: u64,
    pub duplicates: u64,
}

/// Shared state of a generation run.
pub struct Gen<'a> {
    pub world: &'a World,
    pub opts: &'a Options,
    pub banks: &'a Banks,
    pub dir: &'a Path,
    /// Ids from here upward belong to no person.
    pub missing_base: u64,
}

impl Gen<'_> {
    /// The RNG of a stream.
    pub fn rng(&self, stream: u64) -> Rng8 {
        crate::rng(self.opts.seed, stream)
    }

    /// The file name of a table in the run's format.
    pub fn file(&self, t: TableKind) -> &'static str {
        t.file_in(self.opts.format)
    }

    /// Creates a table's file in the run's format and writes its header.
    pub fn table(&self, t: TableKind) -> anyhow::Result<Table> {
        let columns = t.columns();
        match self.opts.format {
            Format::Csv => Table::create(self.dir, self.file(t), columns),
            Format::Xlsx => {
                let kinds: Vec<CellKind> =
                    columns.iter().map(|c| TableKind::cell_kind(c)).collect();
                Table::create_xlsx(self.dir, self.file(t), columns, &kinds, self.opts.as_of)
            }
        }
    }

    /// The content, duplicate and fault RNGs of a table. In XLSX output the
    /// faults leave out those only CSV can have (ragged rows).
    pub fn rngs(&self, t: TableKind) -> (Rng8, Rng8, Faults) {
        let mut faults = Faults::new(
            self.file(t),
            self.opts.error_rate,
            self.rng(streams::FAULTS + t.stream()),
            self.missing_base,
        );
        faults.csv_output = self.opts.format == Format::Csv;
        (
            self.rng(streams::CONTENT + t.stream()),
            self.rng(streams::DUPLICATES + t.stream()),
            faults,
        )
    }

    /// Writes one table and returns its report and ground truth.
    pub fn write(&self, t: TableKind) -> anyhow::Result<(TableReport, Vec<Truth>)> {
        match t {
            TableKind::Persons => persons::write(self),
            TableKind::Addresses => addresses::write(self),
            TableKind::Relationships => relationships::write(self),
            TableKind::CaseNotes => notes::write(self),
            TableKind::WorkflowSteps => steps::write(self),
            TableKind::FormAnswers => forms::write(self),
            TableKind::CinCensus => cin::write(self),
            TableKind::Ssda903Header => ssda903::write_header(self),
            TableKind::Ssda903Episodes => ssda903::write_episodes(self),
        }
    }
}
