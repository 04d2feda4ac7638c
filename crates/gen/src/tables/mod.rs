//! The six export tables.

pub mod addresses;
pub mod forms;
pub mod notes;
pub mod persons;
pub mod relationships;
pub mod steps;

use std::path::Path;

use crate::faults::Faults;
use crate::out::Truth;
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
}

impl TableKind {
    /// All tables, in the order they are written.
    pub const ALL: [TableKind; 6] = [
        TableKind::Persons,
        TableKind::Addresses,
        TableKind::Relationships,
        TableKind::CaseNotes,
        TableKind::WorkflowSteps,
        TableKind::FormAnswers,
    ];

    /// Table name as `--only` takes it.
    pub fn name(self) -> &'static str {
        match self {
            TableKind::Persons => "DM_PERSONS",
            TableKind::Addresses => "DM_ADDRESSES",
            TableKind::Relationships => "DM_PERSONAL_RELATIONSHIPS",
            TableKind::CaseNotes => "CASE_NOTES",
            TableKind::WorkflowSteps => "DM_WORKFLOW_STEPS",
            TableKind::FormAnswers => "DM_CACHED_FORM_ANSWERS",
        }
    }

    /// File name.
    pub fn file(self) -> &'static str {
        match self {
            TableKind::Persons => "DM_PERSONS.csv",
            TableKind::Addresses => "DM_ADDRESSES.csv",
            TableKind::Relationships => "DM_PERSONAL_RELATIONSHIPS.csv",
            TableKind::CaseNotes => "CASE_NOTES.csv",
            TableKind::WorkflowSteps => "DM_WORKFLOW_STEPS.csv",
            TableKind::FormAnswers => "DM_CACHED_FORM_ANSWERS.csv",
        }
    }

    /// Header columns.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            TableKind::Persons => persons::COLUMNS,
            TableKind::Addresses => addresses::COLUMNS,
            TableKind::Relationships => relationships::COLUMNS,
            TableKind::CaseNotes => notes::COLUMNS,
            TableKind::WorkflowSteps => steps::COLUMNS,
            TableKind::FormAnswers => forms::COLUMNS,
        }
    }

    /// Parses a name as `--only` takes it (case-insensitive, `.csv` optional).
    pub fn parse(s: &str) -> Option<TableKind> {
        let s = s.trim();
        let s = s
            .strip_suffix(".csv")
            .or_else(|| s.strip_suffix(".CSV"))
            .unwrap_or(s);
        TableKind::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
    }

    fn stream(self) -> u64 {
        match self {
            TableKind::Persons => 0,
            TableKind::Addresses => 1,
            TableKind::Relationships => 2,
            TableKind::CaseNotes => 3,
            TableKind::WorkflowSteps => 4,
            TableKind::FormAnswers => 5,
        }
    }
}

/// RNG streams, so that each table's content does not depend on which other
/// tables are written, nor on the fault and duplicate rates.
pub mod streams {
    pub const POPULATION: u64 = 1;
    pub const STEPS: u64 = 2;
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

    /// The content, duplicate and fault RNGs of a table.
    pub fn rngs(&self, t: TableKind) -> (Rng8, Rng8, Faults) {
        let faults = Faults::new(
            t.file(),
            self.opts.error_rate,
            self.rng(streams::FAULTS + t.stream()),
            self.missing_base,
        );
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
        }
    }
}
