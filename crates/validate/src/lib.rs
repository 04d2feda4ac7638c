//! The validation rules and reports of casebridge.
//!
//! - [`Checker`]: the base rules on canonical fields (NHS number, UPN,
//!   postcode, dates of birth, future dates, end before start, references to
//!   persons, workbook answers against their template).
//! - [`Finding`] and [`Report`]: findings with file, line, field and rule,
//!   no personal values unless asked, rendered for people or as JSON.
//!
//! The rule catalogue itself is [`casebridge_model::rules`].

#![forbid(unsafe_code)]

mod checks;
mod report;

pub use casebridge_model::Finding;
pub use checks::{CheckOptions, Checker, Issue, Persons};
pub use report::{FileSummary, Report, Summary};

/// An error of the validate crate: the report could not keep or write its
/// findings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The temporary file findings are spilled to could not be created or
    /// written.
    #[error("cannot keep the findings (temporary spill file)")]
    Spill(#[source] std::io::Error),
    /// The report could not be written out.
    #[error("cannot write the report")]
    Write(#[source] std::io::Error),
}

impl Error {
    /// Whether the report's reader went away (`| head`): not a failure of
    /// the run.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Write(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
