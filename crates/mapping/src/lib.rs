//! Mapping files, workbook templates and code sets.

#![forbid(unsafe_code)]

mod diag;
pub mod template;

use std::path::PathBuf;

pub use diag::{did_you_mean, Diagnostic};
pub use template::{AnswerType, Template};

/// An error loading or applying a mapping.
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
    /// A file was read but is not valid.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
}
