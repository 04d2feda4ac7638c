//! Mapping files, workbook templates and code sets: the declarative layer
//! that knows what source columns mean.
//!
//! - [`Mapping`]: one mapping file (source selection, record kind, fields),
//!   checked at load time with file, line and "did you mean".
//! - [`MappingSet`]: the mappings of a run and the choice of one per input.
//! - [`Template`]: a workbook template (forms, sections, questions).
//! - [`CodeSet`], [`DateFormats`], [`Transform`]: the pieces fields use.

#![forbid(unsafe_code)]

pub mod canonical;
pub mod codeset;
pub mod datefmt;
mod diag;
pub mod mapping;
pub mod reverse;
pub mod set;
pub mod shipped;
pub mod template;
pub mod transform;

use std::path::PathBuf;

pub use canonical::{AnswerRow, FormPivot, PivotProblem};
pub use codeset::CodeSet;
pub use datefmt::DateFormats;
pub use diag::{check_no_secrets, did_you_mean, is_secret_key, toml_error, Diagnostic, LineIndex};
pub use mapping::{
    BoundMapping, FieldIssue, MappedRecord, Mapping, Slot, SourceFormat, SourceSpec, Value,
};
pub use reverse::{Cell, Direction, RowWriter};
pub use set::{canonical_mappings, canonical_tables, MappingSet, Selection};
pub use template::{AnswerType, Template};
pub use transform::Transform;

/// An error loading a mapping, template or code set.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("{}: cannot read", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file was read but is not valid; every problem found.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
}
