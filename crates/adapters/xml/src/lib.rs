//! Reads XML exports (the DfE CIN Census and the like) as a stream of
//! [`TextRow`](casebridge_model::TextRow)s, and writes XML documents from
//! mapped values ([`XmlWriter`], see [`mod@write`]).
//!
//! [`XmlSource`] walks the document with `quick-xml`'s pull parser and turns
//! every element at [`XmlSourceConfig::record_path`] into one record whose
//! cells are the [`XmlSourceConfig::fields`]. It holds one record in memory
//! whatever the size of the file, and hashes every byte as it streams through.
//!
//! # Paths
//!
//! Paths are slash-separated element names. Names are matched on their
//! **local part**: a namespace prefix is stripped on both sides (`cin:Child`
//! in the document and `cin:Child` or `Child` in a path all match `Child`),
//! and namespace URIs are not looked at; `xmlns` declarations are never
//! attributes.
//!
//! * `record_path`, e.g. `Message/Children/Child`: from the root element; every
//!   element at that path is one record.
//! * a field, relative to the record element:
//!   * `ChildIdentifiers/UPN`: the text of that descendant;
//!   * `@id`, `ChildIdentifiers/@id`: an attribute of the record element or a descendant;
//!   * `.`: the record element's own text;
//!   * `../ChildIdentifiers/LAchildID`, `../../X`, `../@id`, `..`: context from
//!     an ancestor of the record, as seen *before* the record started;
//!   * `/Message/Header/Source/LEA`: an absolute path, also context seen before
//!     the record.
//!
//! The text of an element is its XPath string value: all the text inside it,
//! its descendants' included, in document order, with CDATA sections, the
//! five predefined entities and character references decoded and whitespace
//! kept as it is (mappings trim). Attribute values are not normalised either.
//! An element (or attribute) that occurs several times in a record gives all
//! its values joined with [`XmlSourceConfig::repeat_separator`], an empty
//! occurrence (`<Disability/>`) included; an absent one an empty cell.
//!
//! Context values are captured outside records only, for the paths some field
//! names, and are cleared when the element they hang from closes: a context
//! path that is an ancestor of the record (`..`, `../@id`) is cleared with that
//! element, any other with the deepest ancestor it shares with the record path
//! (for `../ChildIdentifiers/LAchildID` under record
//! `Message/Children/Child/CINdetails`, when the `Child` closes), so a record
//! never sees a previous `Child`'s values. A `../` or absolute path that leads
//! into the record element itself is read as the relative field it names.
//!
//! # Presence
//!
//! A [`Want::Presence`](casebridge_model::Want::Presence) cell gets the text of
//! the field while it is at most
//! [`PRESENCE_LIMIT`](casebridge_model::PRESENCE_LIMIT) bytes (so that null
//! markers still read as empty), and [`PRESENT`](casebridge_model::PRESENT)
//! beyond that; past the limit the text is neither held nor checked for
//! entities or encoding, as the CSV reader does. Context fields are always held
//! in full (they are captured before the record says what it wants).
//!
//! # Errors and security
//!
//! * Any `<!DOCTYPE` is refused ([`SourceErrorKind::Dtd`](casebridge_model::SourceErrorKind::Dtd),
//!   not recoverable): no entity is ever defined, so none is ever expanded, and
//!   external entities are never fetched.
//! * A reference to any other entity than `&lt;` `&gt;` `&amp;` `&apos;` `&quot;`
//!   or a valid character reference, in a wanted field, rejects that record
//!   ([`Entity`](casebridge_model::SourceErrorKind::Entity), recoverable); an
//!   `&` that starts no reference at all is a recoverable `Syntax` error.
//! * Elements nested deeper than [`XmlLimits::max_depth`]: `DepthLimit`, not recoverable.
//! * A record whose wanted text passes [`XmlLimits::max_record_bytes`]: `Limit`,
//!   recoverable; the rest of the record is read without being held.
//! * A single tag, text node, comment, CDATA section or declaration longer than
//!   [`XmlLimits::max_token_bytes`]: `Limit`, **not recoverable**. The parser
//!   buffers whole tokens, so the byte stream under it counts what each token
//!   has consumed and fails within one 128 KiB block of the limit, whatever
//!   the token holds (`<` and `>` included).
//! * Malformed XML: `Syntax`, not recoverable; the records before it stand.
//! * A UTF-16 or UTF-32 document, or one declaring an encoding other than
//!   UTF-8, US-ASCII, ISO-8859-1 or Windows-1252: `UnsupportedEncoding`. The
//!   last two (and their WHATWG aliases) are decoded as Windows-1252. A UTF-8
//!   byte-order mark wins over a declaration.
//! * Bytes not valid in the encoding, in a wanted field: `InvalidEncoding`
//!   naming the field, recoverable.
//!
//! Lines are physical: newlines (LF, so CRLF too) counted in every byte
//! before the record's start tag, comments, CDATA and multi-line text and
//! attributes included; a lone CR (old Mac files) does not start a line.
//!
//! The file's SHA-256 is computed on a second thread, which reads the input
//! in 128 KiB blocks and hands them over a bounded channel, so hashing
//! overlaps parsing and memory stays fixed;
//! [`finish`](casebridge_model::RecordSource::finish) reads what
//! is left, even after a fatal error, so the hash is always of every byte.
//!
//! Errors carry an [`Locator::XmlPath`](casebridge_model::Locator::XmlPath)
//! with the record path, the ordinal of the record the error is in (or, between
//! records, of the one that would come next) and the physical line, except the
//! file-level `Empty`, `UnsupportedEncoding` and I/O errors, which carry
//! [`Locator::File`](casebridge_model::Locator::File). Messages name elements,
//! fields, entities and lines, never text content of the document.

#![forbid(unsafe_code)]

mod config;
#[doc(hidden)]
pub mod fuzzing;
mod input;
mod paths;
pub mod rewrite;
mod source;
mod text;
pub mod write;

pub use config::{XmlOptions, DESCRIPTOR};
pub use rewrite::{rewrite, rewrite_file, RecordAt, RewriteConfig, RewriteInfo, Value};
pub use source::XmlSource;
pub use write::{Nested, XmlLayout, XmlWriter};

/// Size limits of an [`XmlSource`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlLimits {
    /// Deepest nesting of elements (the root is depth 1).
    pub max_depth: usize,
    /// Most bytes of text held for one record's wanted fields (and for each
    /// context field).
    pub max_record_bytes: usize,
    /// Largest single token (tag, text node, comment, CDATA section, DTD) the
    /// parser may buffer.
    pub max_token_bytes: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        XmlLimits {
            max_depth: 64,
            max_record_bytes: 16 << 20,
            max_token_bytes: 64 << 20,
        }
    }
}

/// How to read an XML file: which elements are records and which paths are
/// their fields (see the [crate documentation](crate) for the path syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlSourceConfig {
    /// Slash-separated element path from the root, e.g. `Message/Children/Child`.
    pub record_path: String,
    /// The source's columns: paths relative to the record element, `../`
    /// context paths or `/`-absolute context paths.
    pub fields: Vec<String>,
    /// Joins the values of a field that occurs several times in one record.
    pub repeat_separator: String,
    /// Size limits.
    pub limits: XmlLimits,
}

impl Default for XmlSourceConfig {
    fn default() -> Self {
        XmlSourceConfig {
            record_path: String::new(),
            fields: Vec::new(),
            repeat_separator: ";".into(),
            limits: XmlLimits::default(),
        }
    }
}

impl XmlSourceConfig {
    /// A configuration with the default separator and limits.
    pub fn new<I, S>(record_path: &str, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        XmlSourceConfig {
            record_path: record_path.into(),
            fields: fields.into_iter().map(Into::into).collect(),
            ..XmlSourceConfig::default()
        }
    }

    /// Checks the record path and the field paths without opening anything
    /// (for mapping validation; [`XmlSource::open`] checks them too).
    pub fn check(&self) -> Result<()> {
        paths::Plan::compile(&self.record_path, &self.fields).map(|_| ())
    }
}

/// A configuration error (reading reports [`casebridge_model::SourceError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The record path is not a path of element names.
    #[error("record path `{path}`: {reason}")]
    RecordPath {
        /// The path as configured.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A field path cannot be read (or, in an [`XmlLayout`], written).
    #[error("field `{field}`: {reason}")]
    Field {
        /// The field as configured.
        field: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A record [`XmlWriter::record`] cannot write (nothing of it is
    /// written; the writer can go on with the next record).
    #[error("{record}: `{path}`: {reason}")]
    Value {
        /// The record: its path and number, e.g. `Message/Children/Child 3`,
        /// and a nested record's name and number (`, CINdetails 2`).
        record: String,
        /// The value's path as given.
        path: String,
        /// Why it cannot be written.
        reason: &'static str,
    },
    /// Writing the output failed; what was written is incomplete.
    #[error("cannot write: {0}")]
    Io(std::io::ErrorKind),
}

impl Error {
    /// What is wrong with the path, without the path.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::RecordPath { reason, .. }
            | Error::Field { reason, .. }
            | Error::Value { reason, .. } => reason,
            Error::Io(_) => "cannot write",
        }
    }

    /// The path as configured (or given, for a value); empty for `Io`.
    pub fn path(&self) -> &str {
        match self {
            Error::RecordPath { path, .. } | Error::Value { path, .. } => path,
            Error::Field { field, .. } => field,
            Error::Io(_) => "",
        }
    }
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
