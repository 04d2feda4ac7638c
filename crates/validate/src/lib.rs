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
pub use checks::{CheckOptions, Checker, Issue, PersonIndex};
pub use report::{FileSummary, Report, Summary};
