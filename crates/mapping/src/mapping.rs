//! Mapping files: which source, which record kind, and per canonical field
//! the source column, type, code set, transforms and default.
//!
//! [`Mapping::from_path`] parses and checks a whole file, returning every
//! problem at once with its line and a "did you mean". [`Mapping::bind`]
//! resolves column names against a file's header into a [`BoundMapping`],
//! whose [`BoundMapping::apply`] turns one [`TextRow`] into a
//! [`MappedRecord`] of typed values, reusing its buffers row after row.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use casebridge_adapters::{OptionEntry, SourceConfig, SourceOptions};
use casebridge_csv::CsvOptions;
use casebridge_model::{rules, FieldDef, FieldType, RecordKind, Sha256, TextRow, Want};
use chrono::{NaiveDate, NaiveDateTime};
use serde::Deserialize;
use toml::Spanned;

use crate::codeset::CodeSet;
use crate::datefmt::DateFormats;
use crate::diag::{toml_error, Diagnostic, LineIndex};
use crate::template::Template;
use crate::transform::Transform;
use crate::Error;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    mapping: RawMeta,
    source: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    codesets: BTreeMap<String, Spanned<RawCodeSet>>,
    fields: BTreeMap<String, Spanned<RawField>>,
    /// Source values with no canonical field, carried by name.
    #[serde(default)]
    extras: BTreeMap<String, Spanned<RawField>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeta {
    id: String,
    version: String,
    kind: Spanned<String>,
    #[serde(default = "default_system")]
    system: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    template: Option<Spanned<String>>,
}

fn default_system() -> String {
    "unknown".to_string()
}

/// The `[source]` keys that carry meaning and stay with the mapping; every
/// other key is an adapter's (see [`SourceOptions`]).
const COMMON_KEYS: &[&str] = &[
    "glob",
    "format",
    "columns",
    "null_values",
    "date_formats",
    "public",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCodeSet {
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    values: Option<BTreeMap<String, String>>,
    #[serde(default)]
    case_sensitive: bool,
    #[serde(default)]
    write: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    #[serde(default)]
    column: Option<Spanned<String>>,
    #[serde(default)]
    path: Option<Spanned<String>>,
    #[serde(default)]
    columns: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    separator: Option<String>,
    #[serde(rename = "type", default)]
    ty: Option<Spanned<String>>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    codeset: Option<Spanned<String>>,
    #[serde(default)]
    date_formats: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    transform: Vec<Spanned<String>>,
    #[serde(default)]
    default: Option<String>,
    /// Alternative columns or paths, the first present one read.
    #[serde(default)]
    or: Vec<Spanned<RawField>>,
    /// The date format written back (default: the first read format).
    #[serde(default)]
    write_format: Option<Spanned<String>>,
    /// Declared one-way: the value is not written back.
    #[serde(default)]
    one_way: bool,
}

/// How a source value is read.
#[derive(Debug, Clone)]
pub(crate) enum Parse {
    Text,
    Code(Arc<CodeSet>),
    Date(DateFormats),
    DateTime(DateFormats),
    Integer,
    Decimal,
    Boolean(Option<Arc<CodeSet>>),
}

const SOURCE_TYPES: &[&str] = &[
    "text", "code", "date", "datetime", "integer", "decimal", "boolean",
];

/// Where a field's text comes from.
#[derive(Debug, Clone)]
pub(crate) enum Input {
    Column {
        name: String,
        line: usize,
    },
    Concat {
        columns: Vec<(String, usize)>,
        separator: String,
    },
    Constant,
}

/// One mapped canonical field, extra attribute, or alternative source of
/// either.
#[derive(Debug, Clone)]
pub(crate) struct FieldMap {
    pub(crate) def: &'static FieldDef,
    /// The field's name, or the extra's (`extras.RNE`), as findings say it.
    pub(crate) label: String,
    /// For an extra: its name.
    pub(crate) extra: Option<String>,
    pub(crate) slot: usize,
    /// Another alternative of the same field follows.
    pub(crate) more: bool,
    /// An alternative, read only when the ones before it gave nothing.
    pub(crate) fallback: bool,
    /// The date format written back.
    pub(crate) write_format: Option<crate::datefmt::DateFormat>,
    /// Declared one-way in the mapping.
    pub(crate) one_way: bool,
    pub(crate) input: Input,
    pub(crate) parse: Parse,
    pub(crate) required: bool,
    pub(crate) transforms: Vec<Transform>,
    pub(crate) default: Option<String>,
    /// The source column(s), as findings name them.
    pub(crate) columns: String,
}

pub use casebridge_adapters::SourceFormat;

/// The source settings of a mapping: which files, read as which format,
/// and the adapter options its `[source]` table gives (each adapter's own,
/// checked by it; see [`SourceOptions`]).
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// File-name glob (case-insensitive), e.g. `DM_PERSONS*.csv`.
    pub glob: String,
    /// The format, when the mapping fixes it (or `record` implies XML);
    /// otherwise each file's extension decides (see [`SourceSpec::format_of`]).
    pub format: Option<SourceFormat>,
    /// Physical line (row) of the header, from the adapter's options, for
    /// findings about the header; 1 for formats without one.
    pub header_row: u64,
    /// Expected header columns, when the mapping declares them; for an XML
    /// source, its element paths in document order (every field's among them).
    pub columns: Option<Vec<String>>,
    /// Values read as empty (e.g. `NULL`).
    pub null_values: Vec<String>,
    /// Columns (or XML paths, with the field path syntax) that no field
    /// reads and that hold no personal data (codes, a return's header):
    /// `pseudonymise` copies them as they are instead of blanking them.
    pub public: Vec<String>,
    options: SourceOptions,
    matcher: globset::GlobMatcher,
}

impl SourceSpec {
    /// The format `file` is read as: the mapping's, or else its extension's.
    pub fn format_of(&self, file: &Path) -> SourceFormat {
        self.format
            .unwrap_or_else(|| SourceFormat::from_extension(file))
    }

    /// Whether a file name fits the glob.
    pub fn matches(&self, file_name: &str) -> bool {
        self.matcher.is_match(file_name)
    }

    /// The adapters' options the `[source]` table gives.
    pub fn options(&self) -> &SourceOptions {
        &self.options
    }

    /// The adapter configuration to read `file` with, or `None` when the
    /// mapping does not set its format up (an XML file under a mapping
    /// without `record`).
    pub fn config_for(&self, file: &Path) -> Option<SourceConfig> {
        self.options.config(self.format_of(file))
    }

    /// The sheet of a workbook source (the first sheet when `None`).
    pub fn sheet(&self) -> Option<&str> {
        self.options.sheet()
    }

    /// The element path of one record of an XML source, e.g.
    /// `Message/Children/Child` (no leading `/`).
    pub fn record(&self) -> Option<&str> {
        self.options.record()
    }

    /// The CSV options (encoding, delimiter, header row); the defaults for
    /// a mapping that is not read as CSV.
    pub fn csv(&self) -> CsvOptions {
        self.options.csv()
    }
}

/// A loaded and checked mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// Mapping id.
    pub id: String,
    /// Mapping version.
    pub version: String,
    /// Record kind produced.
    pub kind: RecordKind,
    /// Source system, e.g. `mosaic`.
    pub system: String,
    /// Description.
    pub description: Option<String>,
    /// The file it came from.
    pub path: PathBuf,
    /// SHA-256 of the file's bytes.
    pub sha256: Sha256,
    /// Source settings.
    pub source: SourceSpec,
    /// The workbook template, for `form_answer` mappings.
    pub template: Option<Arc<Template>>,
    pub(crate) fields: Vec<FieldMap>,
}

/// A problem with one field of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldIssue {
    /// Rule id from [`casebridge_model::rules`].
    pub rule: &'static str,
    /// Canonical field.
    pub field: &'static str,
    /// Source column(s).
    pub column: String,
    /// Plain message, without the value.
    pub message: String,
    /// The offending value (shown only with `--show-values`).
    pub value: Option<String>,
}

/// A typed value of a mapped field.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Value {
    /// Not present (empty or not mapped).
    #[default]
    Empty,
    /// Text, in the slot's buffer.
    Text,
    /// A code, its canonical value in the slot's buffer.
    Code,
    /// A date.
    Date(NaiveDate),
    /// A date and time.
    DateTime(NaiveDateTime),
    /// A whole number.
    Integer(i64),
    /// A decimal number.
    Decimal(f64),
    /// Yes or no.
    Boolean(bool),
    /// Present but not readable as its type (a finding says why).
    Invalid,
}

/// One slot of a [`MappedRecord`].
#[derive(Debug, Clone, Default)]
pub struct Slot {
    /// The value's text after transforms (canonical value for codes).
    pub text: String,
    /// The typed value.
    pub value: Value,
    /// Whether the mapping maps this field at all.
    pub mapped: bool,
}

impl Slot {
    /// The date of a date or date-time value.
    pub fn date(&self) -> Option<NaiveDate> {
        match self.value {
            Value::Date(d) => Some(d),
            Value::DateTime(dt) => Some(dt.date()),
            _ => None,
        }
    }

    /// The date-time of a date (at midnight) or date-time value.
    pub fn datetime(&self) -> Option<NaiveDateTime> {
        match self.value {
            Value::Date(d) => d.and_hms_opt(0, 0, 0),
            Value::DateTime(dt) => Some(dt),
            _ => None,
        }
    }

    /// The text of a text or code value.
    pub fn str(&self) -> Option<&str> {
        match self.value {
            Value::Text | Value::Code => Some(&self.text),
            _ => None,
        }
    }

    /// Whether the slot holds a value.
    pub fn is_present(&self) -> bool {
        !matches!(self.value, Value::Empty)
    }
}

/// One source row mapped to a record kind's canonical fields, by slot
/// (the index of the field in [`RecordKind::fields`]).
#[derive(Debug, Clone)]
pub struct MappedRecord {
    /// The kind.
    pub kind: RecordKind,
    /// One slot per canonical field, then one per extra attribute (named
    /// by [`MappedRecord::extras`]).
    pub slots: Vec<Slot>,
    /// The extra attributes' names and types, in slot order after the
    /// kind's fields: the mapping's `[extras]`, then the columns carried
    /// as text (see [`BoundMapping::carry_unmapped`]).
    pub extras: Arc<[(String, FieldType)]>,
    scratch: String,
}

impl MappedRecord {
    /// An empty record of a kind.
    pub fn new(kind: RecordKind) -> Self {
        MappedRecord {
            kind,
            slots: vec![Slot::default(); kind.fields().len()],
            extras: Arc::from(Vec::new()),
            scratch: String::new(),
        }
    }

    /// The extra attributes with their slots.
    pub fn extra_slots(&self) -> impl Iterator<Item = (&str, FieldType, &Slot)> {
        let n = self.kind.fields().len();
        self.extras
            .iter()
            .zip(self.slots.get(n..).unwrap_or(&[]))
            .map(|((name, ty), slot)| (name.as_str(), *ty, slot))
    }

    /// The slot of a canonical field by name.
    pub fn get(&self, field: &str) -> Option<&Slot> {
        self.kind.field_index(field).and_then(|i| self.slots.get(i))
    }
}

impl Mapping {
    /// Loads and checks a mapping file, with its code sets and template.
    pub fn from_path(path: &Path) -> Result<Mapping, Error> {
        let bytes = std::fs::read(path).map_err(|e| Error::Read {
            path: path.to_path_buf(),
            source: e,
        })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            Error::Invalid(vec![Diagnostic::new(path, None, "mapping is not UTF-8")])
        })?;
        Mapping::from_str(path, &text).map_err(Error::Invalid)
    }

    /// Parses and checks mapping text; `path` names it and anchors relative paths.
    pub fn from_str(path: &Path, text: &str) -> Result<Mapping, Vec<Diagnostic>> {
        let secrets = crate::diag::check_no_secrets(path, text);
        if !secrets.is_empty() {
            return Err(secrets);
        }
        let raw: RawMapping = toml::from_str(text).map_err(|e| {
            // Every table's type errors, not only the first of the file.
            let each = section_errors(path, text);
            if each.is_empty() {
                vec![toml_error(path, text, &e)]
            } else {
                each
            }
        })?;
        let lines = LineIndex::new(text);
        let line_of = |start: usize| Some(lines.line(start));
        let base = path.parent().unwrap_or(Path::new("."));
        let mut diags = Vec::new();

        // Kind.
        let kind_names: Vec<&str> = RecordKind::MAPPABLE.iter().map(|k| k.as_str()).collect();
        let kind = match raw.mapping.kind.get_ref().parse::<RecordKind>() {
            Ok(k) if RecordKind::MAPPABLE.contains(&k) => Some(k),
            _ => {
                diags.push(
                    Diagnostic::new(
                        path,
                        line_of(raw.mapping.kind.span().start),
                        format!("unknown record kind `{}`", raw.mapping.kind.get_ref()),
                    )
                    .suggest(raw.mapping.kind.get_ref(), kind_names.iter().copied()),
                );
                None
            }
        };

        // Source: the keys with meaning stay here, the rest go to the adapters.
        let src = &raw.source;
        let source_line = |key: &str| src.get(key).and_then(|v| line_of(v.span().start));
        let glob = common::<String>(src, "glob", &lines, path, &mut diags);
        let format_raw = common::<String>(src, "format", &lines, path, &mut diags);
        let columns = common::<Vec<String>>(src, "columns", &lines, path, &mut diags);
        let date_formats = common::<Vec<String>>(src, "date_formats", &lines, path, &mut diags);
        let null_values =
            common::<Vec<String>>(src, "null_values", &lines, path, &mut diags).unwrap_or_default();
        let public =
            common::<Vec<String>>(src, "public", &lines, path, &mut diags).unwrap_or_default();
        if glob.is_none() && !src.contains_key("glob") {
            diags.push(Diagnostic::new(
                path,
                None,
                "[source] needs `glob`, the file names it reads, e.g. \"DM_PERSONS*.csv\"",
            ));
        }
        let format = match &format_raw {
            None => None,
            Some(f) => match SourceFormat::parse(f) {
                Some(sf) => Some(sf),
                None => {
                    diags.push(
                        Diagnostic::new(
                            path,
                            source_line("format"),
                            format!("unknown source format `{f}`"),
                        )
                        .suggest(f, SourceFormat::NAMES.iter().copied()),
                    );
                    None
                }
            },
        };
        let entries: Vec<OptionEntry> = src
            .iter()
            .filter(|(k, _)| !COMMON_KEYS.contains(&k.as_str()))
            .map(|(k, v)| OptionEntry {
                key: k.clone(),
                value: v.get_ref().clone(),
                line: line_of(v.span().start),
            })
            .collect();
        let options =
            match SourceOptions::from_table(format, source_line("format"), &entries, COMMON_KEYS) {
                Ok(o) => Some(o),
                Err(problems) => {
                    diags.extend(problems.into_iter().map(|p| {
                        let d = Diagnostic::new(path, p.line, p.message);
                        match &p.unknown {
                            Some((got, known)) => d.suggest(got, known.iter().map(String::as_str)),
                            None => d,
                        }
                    }));
                    None
                }
            };
        let format = options.as_ref().map_or(format, SourceOptions::format);
        // For XML, `columns` lists element paths (the fields' and the rest of
        // the record's, in document order: the order an XML writer follows).
        let xml = format == Some(SourceFormat::Xml);
        if format.is_some_and(|f| !f.has_header() && !xml) && columns.is_some() {
            diags.push(Diagnostic::new(
                path,
                None,
                "`columns` lists a csv or xlsx header, or an xml source's element paths",
            ));
        }
        if let (true, Some(cols), Some(opts)) = (xml, &columns, &options) {
            for c in cols {
                if let Err(m) = opts.check_column(c) {
                    diags.push(Diagnostic::new(path, source_line("columns"), m));
                }
            }
        }
        let matcher = glob.as_ref().and_then(|g| {
            match globset::GlobBuilder::new(g)
                .case_insensitive(true)
                .literal_separator(true)
                .build()
            {
                Ok(g) => Some(g.compile_matcher()),
                Err(e) => {
                    diags.push(Diagnostic::new(
                        path,
                        source_line("glob"),
                        format!("bad glob: {e}"),
                    ));
                    None
                }
            }
        });
        let source_formats = match &date_formats {
            None => DateFormats::default_list(),
            Some(list) => DateFormats::parse(list).unwrap_or_else(|m| {
                diags.push(Diagnostic::new(path, source_line("date_formats"), m));
                DateFormats::default_list()
            }),
        };
        // Field paths are checked by the adapter (XML: its path grammar)
        // only once its options are good.
        let no_options = SourceOptions::default();
        let source_options = options.as_ref().unwrap_or(&no_options);

        // Template.
        let template = match (&raw.mapping.template, kind) {
            (Some(t), Some(k)) if k != RecordKind::FormAnswer => {
                diags.push(Diagnostic::new(
                    path,
                    line_of(t.span().start),
                    format!("a template applies to form_answer mappings, not {k}"),
                ));
                None
            }
            (Some(t), _)
                if !base.join(t.get_ref()).is_file()
                    && crate::shipped::template(t.get_ref()).is_some() =>
            {
                let (stem, text) = crate::shipped::template(t.get_ref()).unwrap_or(("", ""));
                let p = Path::new("<shipped>/templates").join(format!("{stem}.toml"));
                match Template::from_str(&p, text) {
                    Ok(t) => Some(Arc::new(t)),
                    Err(d) => {
                        diags.extend(d);
                        None
                    }
                }
            }
            (Some(t), _) => {
                let tpath = base.join(t.get_ref());
                if !tpath.is_file() {
                    let known = sibling_files(tpath.parent().unwrap_or(base), "toml");
                    let name = tpath
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    diags.push(
                        Diagnostic::new(
                            path,
                            line_of(t.span().start),
                            format!("template `{}` not found", t.get_ref()),
                        )
                        .suggest(&name, known.iter().map(String::as_str)),
                    );
                    None
                } else {
                    match Template::from_path(&tpath) {
                        Ok(t) => Some(Arc::new(t)),
                        Err(Error::Invalid(d)) => {
                            diags.extend(d);
                            None
                        }
                        Err(e) => {
                            diags.push(Diagnostic::new(
                                path,
                                line_of(t.span().start),
                                e.to_string(),
                            ));
                            None
                        }
                    }
                }
            }
            (None, Some(RecordKind::FormAnswer)) => {
                diags.push(Diagnostic::new(
                    path,
                    line_of(raw.mapping.kind.span().start),
                    "a form_answer mapping needs `template`",
                ));
                None
            }
            (None, _) => None,
        };

        // Code sets.
        let mut codesets: BTreeMap<String, Arc<CodeSet>> = BTreeMap::new();
        for (name, cs) in &raw.codesets {
            let line = line_of(cs.span().start);
            let cs = cs.get_ref();
            match (&cs.file, &cs.values) {
                (Some(file), None) => {
                    let cpath = base.join(file);
                    // Not beside the mapping: the shipped one of that name.
                    if !cpath.is_file() {
                        if let Some((stem, text)) = crate::shipped::codeset(file) {
                            let p = Path::new("<shipped>/codesets").join(format!("{stem}.toml"));
                            match CodeSet::from_str(&p, text) {
                                Ok(set) => {
                                    codesets.insert(name.clone(), Arc::new(set));
                                }
                                Err(d) => diags.extend(d),
                            }
                            continue;
                        }
                    }
                    if !cpath.is_file() {
                        let known = sibling_files(cpath.parent().unwrap_or(base), "toml");
                        let fname = cpath
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        diags.push(
                            Diagnostic::new(
                                path,
                                line,
                                format!("code set file `{file}` not found"),
                            )
                            .suggest(&fname, known.iter().map(String::as_str)),
                        );
                        continue;
                    }
                    match CodeSet::from_path(&cpath) {
                        Ok(set) => {
                            codesets.insert(name.clone(), Arc::new(set));
                        }
                        Err(d) => diags.extend(d),
                    }
                }
                (None, Some(values)) if !values.is_empty() => {
                    let mut set = CodeSet::new(name, values.clone(), cs.case_sensitive);
                    if let Some(write) = &cs.write {
                        for m in set.with_write(write) {
                            diags.push(Diagnostic::new(path, line, m));
                        }
                    }
                    codesets.insert(name.clone(), Arc::new(set));
                }
                _ => diags.push(Diagnostic::new(
                    path,
                    line,
                    format!("code set `{name}` needs either `file` or a non-empty `values`"),
                )),
            }
        }

        // Code sets named by a field but not declared: found by name in the
        // mapping's folder (`NAME.toml`, `codesets/NAME.toml`,
        // `../codesets/NAME.toml`), then among the shipped ones.
        let named = raw
            .fields
            .values()
            .chain(raw.extras.values())
            .flat_map(|f| {
                let f = f.get_ref();
                std::iter::once(f.codeset.clone())
                    .chain(f.or.iter().map(|a| a.get_ref().codeset.clone()))
            })
            .flatten();
        for cs in named {
            let name = cs.get_ref();
            if codesets.contains_key(name) {
                continue;
            }
            let file = name.replace('_', "-");
            let local = [
                base.join(format!("{file}.toml")),
                base.join("codesets").join(format!("{file}.toml")),
                base.join("../codesets").join(format!("{file}.toml")),
            ]
            .into_iter()
            .find(|p| p.is_file());
            let loaded = match local {
                Some(p) => Some(CodeSet::from_path(&p)),
                None => crate::shipped::codeset(&file).map(|(stem, text)| {
                    CodeSet::from_str(
                        &Path::new("<shipped>/codesets").join(format!("{stem}.toml")),
                        text,
                    )
                }),
            };
            match loaded {
                Some(Ok(set)) => {
                    codesets.insert(name.clone(), Arc::new(set));
                }
                Some(Err(d)) => diags.extend(d),
                // Reported as an unknown code set where the field names it.
                None => {}
            }
        }

        // Fields.
        let mut fields = Vec::new();
        if let Some(kind) = kind {
            let field_names: Vec<&str> = kind.fields().iter().map(|f| f.name).collect();
            let key_line = |name: &str| {
                // The line of the `[fields.NAME]` header or inline key.
                let needle = format!("fields.{name}");
                text.find(&needle).map(|i| lines.line(i))
            };
            for (name, spec) in &raw.fields {
                let line = key_line(name).or_else(|| line_of(spec.span().start));
                let Some(slot) = kind.field_index(name) else {
                    diags.push(
                        Diagnostic::new(path, line, format!("{kind} has no field `{name}`"))
                            .suggest(name, field_names.iter().copied()),
                    );
                    continue;
                };
                let def = &kind.fields()[slot];
                let spec = spec.get_ref();
                let mut group = Vec::new();
                for (i, alt) in std::iter::once(spec)
                    .chain(spec.or.iter().map(Spanned::get_ref))
                    .enumerate()
                {
                    let alt = alternative(spec, alt, i);
                    if let Some(mut f) = compile_field(
                        path,
                        &lines,
                        line,
                        def,
                        name,
                        slot,
                        &alt,
                        &codesets,
                        &source_formats,
                        columns.as_deref(),
                        source_options,
                        &mut diags,
                    ) {
                        f.fallback = i > 0;
                        group.push(f);
                    }
                }
                let n = group.len();
                for (i, f) in group.iter_mut().enumerate() {
                    f.more = i + 1 < n;
                }
                fields.extend(group);
            }
            let base_slot = kind.fields().len();
            for (i, (name, spec)) in raw.extras.iter().enumerate() {
                let line = text
                    .find(&format!("extras.{name}"))
                    .map(|i| lines.line(i))
                    .or_else(|| line_of(spec.span().start));
                let mut spec = spec.get_ref().clone();
                if kind.field(name).is_some() {
                    diags.push(Diagnostic::new(
                        path,
                        line,
                        format!("extra `{name}` has the name of a {kind} field: map it under [fields.{name}]"),
                    ));
                    continue;
                }
                if !spec.or.is_empty() {
                    diags.push(Diagnostic::new(
                        path,
                        line,
                        format!("extra `{name}`: alternatives (`or`) are for fields"),
                    ));
                    continue;
                }
                if spec.column.is_none() && spec.path.is_none() && spec.columns.is_none() {
                    spec.column = Some(Spanned::new(0..0, name.clone()));
                }
                let ty = spec.ty.as_ref().map_or("text", |t| t.get_ref().as_str());
                let def = extra_def(ty);
                if let Some(mut f) = compile_field(
                    path,
                    &lines,
                    line,
                    def,
                    &format!("extras.{name}"),
                    base_slot + i,
                    &spec,
                    &codesets,
                    &source_formats,
                    columns.as_deref(),
                    source_options,
                    &mut diags,
                ) {
                    f.extra = Some(name.clone());
                    fields.push(f);
                }
            }
        }

        if !diags.is_empty() {
            return Err(diags);
        }
        let (Some(kind), Some(matcher), Some(glob), Some(options)) = (kind, matcher, glob, options)
        else {
            return Err(vec![Diagnostic::new(path, None, "mapping is incomplete")]);
        };
        fields.sort_by_key(|f| f.slot);
        Ok(Mapping {
            id: raw.mapping.id,
            version: raw.mapping.version,
            kind,
            system: raw.mapping.system,
            description: raw.mapping.description,
            path: path.to_path_buf(),
            sha256: Sha256::digest(text.as_bytes()),
            source: SourceSpec {
                glob,
                format,
                header_row: options.header_row(),
                columns,
                null_values,
                public,
                options,
                matcher,
            },
            template,
            fields,
        })
    }

    /// The source columns this mapping reads, each with its line in the mapping file.
    pub fn columns(&self) -> Vec<(&str, usize)> {
        let mut out = Vec::new();
        for f in &self.fields {
            match &f.input {
                Input::Column { name, line } => out.push((name.as_str(), *line)),
                Input::Concat { columns, .. } => {
                    out.extend(columns.iter().map(|(n, l)| (n.as_str(), *l)))
                }
                Input::Constant => {}
            }
        }
        out
    }

    /// Each mapped field with the source columns it reads and, for date
    /// fields, the formats it accepts (for tools that rewrite sources, such
    /// as pseudonymisation).
    pub fn field_sources(&self) -> Vec<(&'static FieldDef, Vec<&str>, Option<&DateFormats>)> {
        self.fields
            .iter()
            .map(|f| {
                let cols = match &f.input {
                    Input::Column { name, .. } => vec![name.as_str()],
                    Input::Concat { columns, .. } => {
                        columns.iter().map(|(n, _)| n.as_str()).collect()
                    }
                    Input::Constant => vec![],
                };
                let formats = match &f.parse {
                    Parse::Date(d) | Parse::DateTime(d) => Some(d),
                    _ => None,
                };
                (f.def, cols, formats)
            })
            .collect()
    }

    /// The names of the canonical fields mapped, with their source columns.
    pub fn mapped_fields(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.fields
            .iter()
            .filter(|f| f.extra.is_none() && !f.fallback)
            .map(|f| (f.def.name, f.columns.as_str()))
    }

    /// The extra attributes the mapping declares, with their source columns.
    pub fn extra_fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .filter_map(|f| Some((f.extra.as_deref()?, f.columns.as_str())))
    }

    /// The source column(s) of a canonical field, as findings name them.
    pub fn column_of(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.def.name == field && f.extra.is_none())
            .map(|f| f.columns.as_str())
    }

    /// Resolves the mapping's columns against a file's header. Every column
    /// that the header lacks is a diagnostic naming the mapping line, with
    /// the nearest header column as a suggestion.
    pub fn bind(&self, header: &[String]) -> Result<BoundMapping<'_>, Vec<Diagnostic>> {
        let find = |name: &str| {
            header.iter().position(|h| h.trim() == name).or_else(|| {
                header
                    .iter()
                    .position(|h| h.trim().eq_ignore_ascii_case(name))
            })
        };
        let mut diags = duplicate_columns(&self.path, header);
        let mut missing = Vec::new();
        // A renamed column is most likely one no other field reads.
        let claimed: Vec<&str> = self.columns().into_iter().map(|(c, _)| c).collect();
        let unclaimed: Vec<&str> = header
            .iter()
            .map(String::as_str)
            .filter(|h| !claimed.iter().any(|c| c.eq_ignore_ascii_case(h.trim())))
            .collect();
        let mut wanted = vec![Want::Skip; header.len()];
        let mut inputs = Vec::with_capacity(self.fields.len());
        // A field with alternatives is missing only when none is present.
        let mut group_present = vec![false; self.fields.len()];
        let mut start = 0;
        for (i, f) in self.fields.iter().enumerate() {
            if !f.fallback {
                start = i;
            }
            let present = match &f.input {
                Input::Column { name, .. } => find(name).is_some(),
                Input::Concat { columns, .. } => columns.iter().all(|(n, _)| find(n).is_some()),
                Input::Constant => true,
            };
            if present {
                group_present[start] = true;
            }
        }
        let mut start = 0;
        for (i, f) in self.fields.iter().enumerate() {
            if !f.fallback {
                start = i;
            }
            let alternatives = f.more || f.fallback;
            let mut idx = Vec::new();
            let cols: Vec<(&str, usize)> = match &f.input {
                Input::Column { name, line } => vec![(name.as_str(), *line)],
                Input::Concat { columns, .. } => {
                    columns.iter().map(|(n, l)| (n.as_str(), *l)).collect()
                }
                Input::Constant => vec![],
            };
            for (name, line) in cols {
                match find(name) {
                    Some(i) => {
                        wanted[i] = Want::Text;
                        idx.push(i);
                    }
                    // Another alternative of the field is there.
                    None if alternatives && group_present[start] => {}
                    // Reported once, for the first alternative.
                    None if f.fallback => {}
                    // A council's extract may lack an optional column: the
                    // field stays empty and the rest is read (one warning
                    // per file); a required field's or the key's column
                    // missing stops the file.
                    None if !f.required && !f.def.is_key => missing.push(
                        Diagnostic::new(
                            &self.path,
                            Some(line),
                            format!(
                                "column `{name}` ({}) is not in the file's header: the field is left empty",
                                describe(f)
                            ),
                        )
                        .suggest(name, unclaimed.iter().copied()),
                    ),
                    None => diags.push(
                        Diagnostic::new(
                            &self.path,
                            Some(line),
                            format!(
                                "column `{name}` ({}) is not in the file's header",
                                describe(f)
                            ),
                        )
                        .suggest(name, unclaimed.iter().copied()),
                    ),
                }
            }
            inputs.push(idx);
        }
        if diags.is_empty() {
            let mut uses = vec![0usize; header.len()];
            for cols in &inputs {
                for c in cols {
                    uses[*c] += 1;
                }
            }
            let exclusive = self
                .fields
                .iter()
                .zip(&inputs)
                .map(|(f, cols)| {
                    matches!(f.input, Input::Column { .. })
                        && f.transforms.is_empty()
                        && cols.len() == 1
                        && uses[cols[0]] == 1
                })
                .collect();
            let extras: Vec<(String, FieldType)> = self
                .fields
                .iter()
                .filter_map(|f| f.extra.as_ref().map(|n| (n.clone(), f.def.ty)))
                .collect();
            let unnamed: Vec<usize> = (0..header.len())
                .filter(|&i| header[i].trim().is_empty() && wanted[i] == Want::Skip)
                .collect();
            for &i in &unnamed {
                wanted[i] = Want::Presence;
            }
            Ok(BoundMapping {
                mapping: self,
                inputs,
                wanted,
                exclusive,
                missing,
                extras: Arc::from(extras),
                carried: Vec::new(),
                unnamed,
                header: header.to_vec(),
            })
        } else {
            Err(diags)
        }
    }
}

/// A column name the header holds more than once (blank names aside): no
/// mapping can tell which to read, and a column no field reads is carried
/// by its name, so one would be lost. One diagnostic per name, with the
/// columns' numbers (from 1).
fn duplicate_columns(path: &Path, header: &[String]) -> Vec<Diagnostic> {
    let mut seen: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, h) in header.iter().enumerate() {
        let name = h.trim();
        if !name.is_empty() {
            seen.entry(name).or_default().push(i + 1);
        }
    }
    let mut out: Vec<(usize, Diagnostic)> = seen
        .into_iter()
        .filter(|(_, at)| at.len() > 1)
        .map(|(name, at)| {
            let cols: Vec<String> = at.iter().map(usize::to_string).collect();
            (
                at[0],
                Diagnostic::new(
                    path,
                    None,
                    format!(
                        "column `{name}` is in the file's header {} times (columns {}): \
                         which to read cannot be told; rename all but one",
                        at.len(),
                        cols.join(", ")
                    ),
                ),
            )
        })
        .collect();
    out.sort_by_key(|(first, _)| *first);
    out.into_iter().map(|(_, d)| d).collect()
}

/// The type errors of every table of a mapping file that parses as TOML,
/// each table checked alone (serde stops at a file's first error): each
/// with the line of its key in the file.
fn section_errors(path: &Path, text: &str) -> Vec<Diagnostic> {
    let Ok(table) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let lines = LineIndex::new(text);
    let mut out = Vec::new();
    // One table alone, as text, deserialised as `T`; an error is placed on
    // the line of its key after the table's header in the file.
    fn one<T: serde::de::DeserializeOwned>(
        path: &Path,
        text: &str,
        lines: &LineIndex,
        header: &str,
        value: &toml::Value,
        out: &mut Vec<Diagnostic>,
    ) {
        let Ok(sub) = toml::to_string(value) else {
            return;
        };
        if let Err(e) = toml::from_str::<T>(&sub) {
            let start = text
                .find(&format!("[{header}]"))
                .or_else(|| text.find(header));
            let key = e
                .span()
                .and_then(|sp| sub.get(sp.start..))
                .and_then(|rest| rest.split(['=', '\n']).next())
                .map(|k| k.trim().trim_matches('"').to_string())
                .filter(|k| !k.is_empty());
            let at = match (start, &key) {
                (Some(st), Some(k)) => text[st..].find(k.as_str()).map(|i| st + i),
                (st, _) => st,
            };
            let message = format!("[{header}]: {}", e.message().trim());
            out.push(Diagnostic::new(path, at.map(|i| lines.line(i)), message));
        }
    }
    if let Some(v) = table.get("mapping") {
        one::<RawMeta>(path, text, &lines, "mapping", v, &mut out);
    }
    for (group, is_codeset) in [("codesets", true), ("fields", false), ("extras", false)] {
        if let Some(toml::Value::Table(t)) = table.get(group) {
            for (name, v) in t {
                let header = format!("{group}.{name}");
                if is_codeset {
                    one::<RawCodeSet>(path, text, &lines, &header, v, &mut out);
                } else {
                    one::<RawField>(path, text, &lines, &header, v, &mut out);
                }
            }
        }
    }
    for key in table.keys() {
        if !["mapping", "source", "codesets", "fields", "extras"].contains(&key.as_str()) {
            out.push(
                Diagnostic::new(
                    path,
                    text.find(key.as_str()).map(|i| lines.line(i)),
                    format!("unknown table `{key}`"),
                )
                .suggest(key, ["mapping", "source", "codesets", "fields", "extras"]),
            );
        }
    }
    out
}

/// The static catalogue entry an extra attribute of a source type is
/// checked as (extras have no field of their own).
fn extra_def(ty: &str) -> &'static FieldDef {
    const fn def(ty: FieldType) -> FieldDef {
        FieldDef {
            name: "extras",
            ty,
            is_key: false,
            is_personal: true,
            checks: &[],
            doc: "a source value with no canonical field",
        }
    }
    static TEXT: FieldDef = def(FieldType::Text);
    static CODE: FieldDef = def(FieldType::Code);
    static DATE: FieldDef = def(FieldType::Date);
    static DATETIME: FieldDef = def(FieldType::DateTime);
    static INTEGER: FieldDef = def(FieldType::Integer);
    static DECIMAL: FieldDef = def(FieldType::Decimal);
    static BOOLEAN: FieldDef = def(FieldType::Boolean);
    match ty {
        "code" => &CODE,
        "date" => &DATE,
        "datetime" => &DATETIME,
        "integer" => &INTEGER,
        "decimal" => &DECIMAL,
        "boolean" => &BOOLEAN,
        // An unknown type is reported by compile_field.
        _ => &TEXT,
    }
}

/// Alternative `i` of a field as a field of its own: its source (column,
/// path, code set, type, formats, transforms) with the field's `required`,
/// `default` and write settings.
fn alternative(primary: &RawField, alt: &RawField, i: usize) -> RawField {
    if i == 0 {
        let mut f = primary.clone();
        f.or.clear();
        return f;
    }
    RawField {
        column: alt.column.clone(),
        path: alt.path.clone(),
        columns: alt.columns.clone(),
        separator: alt.separator.clone(),
        ty: alt.ty.clone().or_else(|| primary.ty.clone()),
        required: primary.required,
        codeset: alt.codeset.clone(),
        date_formats: alt
            .date_formats
            .clone()
            .or_else(|| primary.date_formats.clone()),
        transform: alt.transform.clone(),
        default: primary.default.clone(),
        or: Vec::new(),
        write_format: None,
        one_way: true,
    }
}

#[allow(clippy::too_many_arguments)]
fn compile_field(
    path: &Path,
    lines: &LineIndex,
    line: Option<usize>,
    def: &'static FieldDef,
    label: &str,
    slot: usize,
    spec: &RawField,
    codesets: &BTreeMap<String, Arc<CodeSet>>,
    source_formats: &DateFormats,
    declared: Option<&[String]>,
    source: &SourceOptions,
    diags: &mut Vec<Diagnostic>,
) -> Option<FieldMap> {
    let start = diags.len();
    let name = label;
    let at = |s: usize| Some(lines.line(s));
    let check_declared = |col: &Spanned<String>, diags: &mut Vec<Diagnostic>| {
        if let Err(m) = source.check_column(col.get_ref()) {
            diags.push(Diagnostic::new(path, at(col.span().start), m));
        }
        if let Some(declared) = declared {
            if !declared
                .iter()
                .any(|c| c.eq_ignore_ascii_case(col.get_ref()))
            {
                diags.push(
                    Diagnostic::new(
                        path,
                        at(col.span().start),
                        format!("unknown column `{}`", col.get_ref()),
                    )
                    .suggest(col.get_ref(), declared.iter().map(String::as_str)),
                );
            }
        }
    };
    if let (Some(_), Some(p)) = (&spec.column, &spec.path) {
        diags.push(Diagnostic::new(
            path,
            at(p.span().start),
            format!("field `{name}`: give `column` or `path`, not both"),
        ));
    }
    let column = spec.column.as_ref().or(spec.path.as_ref());
    let input = match (column, &spec.columns) {
        (Some(c), None) => {
            check_declared(c, diags);
            Input::Column {
                name: c.get_ref().clone(),
                line: lines.line(c.span().start),
            }
        }
        (None, Some(cols)) if !cols.is_empty() => {
            for c in cols {
                check_declared(c, diags);
            }
            Input::Concat {
                columns: cols
                    .iter()
                    .map(|c| (c.get_ref().clone(), lines.line(c.span().start)))
                    .collect(),
                separator: spec.separator.clone().unwrap_or_else(|| " ".to_string()),
            }
        }
        (None, None) if spec.default.is_some() => Input::Constant,
        (Some(_), Some(_)) => {
            diags.push(Diagnostic::new(
                path,
                line,
                format!("field `{name}`: give `column` or `columns`, not both"),
            ));
            Input::Constant
        }
        _ => {
            diags.push(Diagnostic::new(
                path,
                line,
                format!("field `{name}` needs `column`, `columns` or `default`"),
            ));
            Input::Constant
        }
    };
    let columns = match &input {
        Input::Column { name, .. } => name.clone(),
        Input::Concat { columns, .. } => columns
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join("+"),
        Input::Constant => String::new(),
    };

    let codeset = match &spec.codeset {
        None => None,
        Some(cs) => match codesets.get(cs.get_ref()) {
            Some(set) => Some(set.clone()),
            None => {
                diags.push(
                    Diagnostic::new(
                        path,
                        at(cs.span().start),
                        format!("unknown code set `{}`", cs.get_ref()),
                    )
                    .suggest(cs.get_ref(), codesets.keys().map(String::as_str)),
                );
                None
            }
        },
    };
    let formats = match &spec.date_formats {
        None => source_formats.clone(),
        Some(list) => DateFormats::parse(list.get_ref()).unwrap_or_else(|m| {
            diags.push(Diagnostic::new(path, at(list.span().start), m));
            source_formats.clone()
        }),
    };
    let source_type = match &spec.ty {
        Some(t) => {
            if !SOURCE_TYPES.contains(&t.get_ref().as_str()) {
                diags.push(
                    Diagnostic::new(
                        path,
                        at(t.span().start),
                        format!("unknown type `{}`", t.get_ref()),
                    )
                    .suggest(t.get_ref(), SOURCE_TYPES.iter().copied()),
                );
                return None;
            }
            t.get_ref().as_str()
        }
        None => match def.ty {
            FieldType::Code if codeset.is_none() => "text",
            FieldType::PersonRef => "text",
            other => other.as_str(),
        },
    };
    let compatible = match def.ty {
        FieldType::Text | FieldType::PersonRef => {
            matches!(source_type, "text" | "code" | "integer")
        }
        FieldType::Code => matches!(source_type, "code" | "text"),
        FieldType::Date | FieldType::DateTime => matches!(source_type, "date" | "datetime"),
        FieldType::Integer => source_type == "integer",
        FieldType::Decimal => matches!(source_type, "decimal" | "integer"),
        FieldType::Boolean => matches!(source_type, "boolean" | "code"),
    };
    if !compatible {
        diags.push(Diagnostic::new(
            path,
            line,
            format!(
                "field `{name}` is {} and cannot be read as {source_type}",
                def.ty.as_str()
            ),
        ));
    }
    let parse = match source_type {
        "code" => match codeset {
            Some(cs) if def.ty == FieldType::Boolean => Parse::Boolean(Some(cs)),
            Some(cs) => Parse::Code(cs),
            None => {
                if spec.codeset.is_none() {
                    diags.push(Diagnostic::new(
                        path,
                        line,
                        format!("field `{name}` is a code and needs `codeset`"),
                    ));
                }
                Parse::Text
            }
        },
        "date" if def.ty == FieldType::DateTime => Parse::DateTime(formats),
        "date" => Parse::Date(formats),
        "datetime" if def.ty == FieldType::Date => Parse::Date(formats),
        "datetime" => Parse::DateTime(formats),
        "integer" if def.ty == FieldType::Decimal => Parse::Decimal,
        "integer" if matches!(def.ty, FieldType::Text | FieldType::PersonRef) => Parse::Text,
        "integer" => Parse::Integer,
        "decimal" => Parse::Decimal,
        "boolean" => Parse::Boolean(codeset),
        _ => Parse::Text,
    };
    let mut transforms = Vec::new();
    for t in &spec.transform {
        match Transform::parse(t.get_ref()) {
            Some(tr) => transforms.push(tr),
            None => diags.push(
                Diagnostic::new(
                    path,
                    at(t.span().start),
                    format!("unknown transform `{}`", t.get_ref()),
                )
                .suggest(t.get_ref(), Transform::NAMES.iter().copied()),
            ),
        }
    }
    let write_format = match &spec.write_format {
        None => None,
        Some(w) => match crate::datefmt::DateFormat::parse(w.get_ref()) {
            Ok(d) if matches!(parse, Parse::Date(_) | Parse::DateTime(_)) => Some(d),
            Ok(_) => {
                diags.push(Diagnostic::new(
                    path,
                    at(w.span().start),
                    format!("field `{name}`: `write_format` is for dates"),
                ));
                None
            }
            Err(m) => {
                diags.push(Diagnostic::new(path, at(w.span().start), m));
                None
            }
        },
    };
    (diags.len() == start).then(|| FieldMap {
        def,
        label: label.to_string(),
        extra: None,
        slot,
        more: false,
        fallback: false,
        write_format,
        one_way: spec.one_way,
        input,
        parse,
        required: spec.required,
        transforms,
        default: spec.default.clone(),
        columns,
    })
}

/// A `[source]` key the mapping keeps, read as `T`; a value of the wrong
/// type is a diagnostic on its line.
fn common<T: serde::de::DeserializeOwned>(
    src: &BTreeMap<String, Spanned<toml::Value>>,
    key: &str,
    lines: &LineIndex,
    path: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    let v = src.get(key)?;
    match v.get_ref().clone().try_into::<T>() {
        Ok(t) => Some(t),
        Err(e) => {
            diags.push(Diagnostic::new(
                path,
                Some(lines.line(v.span().start)),
                format!("`{key}`: {}", e.message().trim()),
            ));
            None
        }
    }
}

fn sibling_files(dir: &Path, ext: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().and_then(|x| x.to_str()) == Some(ext) {
                if let Some(n) = p.file_name().and_then(|n| n.to_str()) {
                    out.push(n.to_string());
                }
            }
        }
    }
    out.sort();
    out
}

/// A mapping resolved against one file's header.
#[derive(Debug)]
pub struct BoundMapping<'m> {
    /// The mapping.
    pub mapping: &'m Mapping,
    inputs: Vec<Vec<usize>>,
    wanted: Vec<Want>,
    /// Per field: its one column is read by no other field, so its text can
    /// be moved out of the row rather than copied.
    exclusive: Vec<bool>,
    /// Columns of optional fields the header lacks (those fields stay empty).
    missing: Vec<Diagnostic>,
    /// Extra attributes: the mapping's, then carried columns.
    extras: Arc<[(String, FieldType)]>,
    /// Header columns carried as text extras (see [`BoundMapping::carry_unmapped`]).
    carried: Vec<usize>,
    /// Header columns with no name: read for their presence only, so that
    /// values in them are reported (see [`BoundMapping::unnamed`]).
    unnamed: Vec<usize>,
    header: Vec<String>,
}

impl BoundMapping<'_> {
    /// The optional fields' columns the header lacks, each with the mapping
    /// line: a `file.column-missing` warning each.
    pub fn missing(&self) -> &[Diagnostic] {
        &self.missing
    }

    /// The header's columns with no name (from 0). No field can read one
    /// and none is carried (it has no name to travel by): a value in one
    /// is a `file.column-unnamed` warning, not a silent loss. Read for
    /// their presence only.
    pub fn unnamed(&self) -> &[usize] {
        &self.unnamed
    }

    /// Carries every header column that no field or extra reads as a text
    /// extra named by the column, so that writing the record back loses
    /// nothing (for runs that build records; a validation need not decode
    /// them).
    pub fn carry_unmapped(mut self) -> Self {
        let mut extras: Vec<(String, FieldType)> = self.extras.to_vec();
        for (i, h) in self.header.iter().enumerate() {
            let name = h.trim();
            let read = self.inputs.iter().any(|cols| cols.contains(&i));
            if read || name.is_empty() || extras.iter().any(|(n, _)| n == name) {
                continue;
            }
            self.wanted[i] = Want::Text;
            self.carried.push(i);
            extras.push((name.to_string(), FieldType::Text));
        }
        self.extras = Arc::from(extras);
        self
    }

    /// The extra attributes a mapped record of this file has.
    pub fn extras(&self) -> &[(String, FieldType)] {
        &self.extras
    }

    /// Per header column, whether the mapping reads it (the others need not
    /// be decoded).
    pub fn wanted(&self) -> &[Want] {
        &self.wanted
    }

    /// Asks only for the presence of columns whose text nothing reads when
    /// validating: plain text fields with no rule attached and no transform
    /// (note bodies, titles, authors). Their `required` rule still holds; the
    /// reader skips decoding them (see [`Want::Presence`]). Not for runs that
    /// build records.
    pub fn presence_only(mut self) -> Self {
        let kind = self.mapping.kind;
        let mut eligible = vec![true; self.wanted.len()];
        for (f, cols) in self.mapping.fields.iter().zip(&self.inputs) {
            let ok = f.def.ty == FieldType::Text
                && f.def.checks.is_empty()
                && !f.def.is_key
                && kind != RecordKind::FormAnswer
                && matches!(f.input, Input::Column { .. })
                && f.transforms.is_empty();
            for c in cols {
                eligible[*c] &= ok;
            }
        }
        for (w, ok) in self.wanted.iter_mut().zip(eligible) {
            if *w == Want::Text && ok {
                *w = Want::Presence;
            }
        }
        self
    }

    /// Maps one row into `out`, pushing a [`FieldIssue`] for every field
    /// that is missing, mistyped or not in its code set. Values go into
    /// issues only when `show_values` is set.
    pub fn apply(
        &self,
        row: &mut TextRow,
        out: &mut MappedRecord,
        issues: &mut Vec<FieldIssue>,
        show_values: bool,
    ) {
        debug_assert_eq!(out.kind, self.mapping.kind);
        let nkind = self.mapping.kind.fields().len();
        let wanted_slots = nkind + self.extras.len();
        if out.slots.len() != wanted_slots {
            out.slots.resize(wanted_slots, Slot::default());
        }
        if !Arc::ptr_eq(&out.extras, &self.extras) {
            out.extras = self.extras.clone();
        }
        for s in &mut out.slots {
            s.value = Value::Empty;
            s.mapped = false;
            s.text.clear();
        }
        let nulls = &self.mapping.source.null_values;
        for ((f, cols), exclusive) in self
            .mapping
            .fields
            .iter()
            .zip(&self.inputs)
            .zip(&self.exclusive)
        {
            let MappedRecord { slots, scratch, .. } = out;
            let slot = &mut slots[f.slot];
            // An alternative is read only when those before it gave nothing.
            if f.fallback && (slot.value != Value::Empty || !slot.text.is_empty()) {
                continue;
            }
            slot.mapped = true;
            slot.text.clear();
            // A typed date cell (a workbook's date) is a date whatever the
            // mapping's text formats; only text is parsed with them.
            let mut typed = false;
            match &f.input {
                Input::Column { .. } => {
                    let i = cols.first().copied().unwrap_or(usize::MAX);
                    typed = row.is_typed(i);
                    let v = row.get(i).unwrap_or("");
                    let trimmed = v.trim();
                    if nulls.iter().any(|n| n == trimmed) {
                    } else if *exclusive && !v.is_empty() && trimmed.len() == v.len() {
                        // Long text (case notes) is moved, not copied.
                        std::mem::swap(&mut slot.text, row.cell_mut(i));
                    } else {
                        slot.text.push_str(trimmed);
                    }
                }
                Input::Concat { separator, .. } => {
                    for i in cols {
                        let v = row.get(*i).unwrap_or("").trim();
                        if v.is_empty() || nulls.iter().any(|n| n == v) {
                            continue;
                        }
                        if !slot.text.is_empty() {
                            slot.text.push_str(separator);
                        }
                        slot.text.push_str(v);
                    }
                }
                Input::Constant => {}
            }
            for t in &f.transforms {
                t.apply(&mut slot.text, scratch);
            }
            if slot.text.is_empty() {
                if let Some(d) = &f.default {
                    slot.text.push_str(d);
                }
            }
            if slot.text.is_empty() {
                if f.required && !f.more {
                    issues.push(FieldIssue {
                        rule: rules::FIELD_REQUIRED,
                        field: f.def.name,
                        column: f.columns.clone(),
                        message: format!("{} is required but empty", f.label),
                        value: None,
                    });
                }
                continue;
            }
            let value = |s: &str| show_values.then(|| s.to_string());
            slot.value = match &f.parse {
                Parse::Text => Value::Text,
                Parse::Code(set) => match set.lookup(&slot.text) {
                    Some(canonical) => {
                        slot.text.clear();
                        slot.text.push_str(canonical);
                        Value::Code
                    }
                    None => {
                        issues.push(FieldIssue {
                            rule: rules::FIELD_CODE,
                            field: f.def.name,
                            column: f.columns.clone(),
                            message: format!("{}: not in code set `{}`", f.label, set.id),
                            value: value(&slot.text),
                        });
                        Value::Invalid
                    }
                },
                Parse::Date(formats) | Parse::DateTime(formats) => {
                    let parsed = if typed {
                        DateFormats::typed()
                            .parse_datetime(&slot.text)
                            .or_else(|| formats.parse_datetime(&slot.text))
                    } else {
                        formats.parse_datetime(&slot.text)
                    };
                    match parsed {
                        // A date field keeps a time the source gave, so that an end
                        // earlier the same day as its start is still caught.
                        Some(dt)
                            if matches!(f.parse, Parse::Date(_))
                                && dt.time() == chrono::NaiveTime::MIN =>
                        {
                            Value::Date(dt.date())
                        }
                        Some(dt) => Value::DateTime(dt),
                        None => {
                            issues.push(FieldIssue {
                                rule: rules::FIELD_TYPE,
                                field: f.def.name,
                                column: f.columns.clone(),
                                message: format!(
                                    "{}: not a valid date in an accepted format ({})",
                                    f.label,
                                    formats.describe()
                                ),
                                value: value(&slot.text),
                            });
                            Value::Invalid
                        }
                    }
                }
                Parse::Integer => match parse_integer(&slot.text) {
                    Some(n) => Value::Integer(n),
                    None => {
                        issues.push(type_issue(f, "not a whole number", value(&slot.text)));
                        Value::Invalid
                    }
                },
                Parse::Decimal => match parse_decimal(&slot.text) {
                    Some(n) => Value::Decimal(n),
                    None => {
                        issues.push(type_issue(f, "not a number", value(&slot.text)));
                        Value::Invalid
                    }
                },
                Parse::Boolean(set) => {
                    let mapped = set
                        .as_ref()
                        .and_then(|s| s.lookup(&slot.text))
                        .unwrap_or(&slot.text);
                    match parse_bool(mapped) {
                        Some(b) => Value::Boolean(b),
                        None => {
                            issues.push(type_issue(f, "not yes or no", value(&slot.text)));
                            Value::Invalid
                        }
                    }
                }
            };
        }
        // Columns no field reads, carried as text.
        let first = nkind + self.extras.len() - self.carried.len();
        for (j, &c) in self.carried.iter().enumerate() {
            let slot = &mut out.slots[first + j];
            slot.mapped = true;
            let v = row.get(c).unwrap_or("").trim();
            if !v.is_empty() && !nulls.iter().any(|n| n == v) {
                slot.text.push_str(v);
                slot.value = Value::Text;
            }
        }
    }
}

/// How findings name a field: `field gender`, `extra RNE`, or `field gender,
/// nor its alternatives`.
fn describe(f: &FieldMap) -> String {
    match &f.extra {
        Some(n) => format!("extra {n}"),
        None if f.more => format!("field {}, nor any alternative", f.def.name),
        None => format!("field {}", f.def.name),
    }
}

fn type_issue(f: &FieldMap, what: &str, value: Option<String>) -> FieldIssue {
    FieldIssue {
        rule: rules::FIELD_TYPE,
        field: f.def.name,
        column: f.columns.clone(),
        message: format!("{}: {what}", f.label),
        value,
    }
}

/// Parses a whole number; `7.0` and `7.00` are accepted (SQL exports write
/// numbers that way), `7.5` is not.
pub fn parse_integer(s: &str) -> Option<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    let (whole, frac) = s.split_once('.')?;
    if !frac.is_empty() && frac.bytes().all(|b| b == b'0') {
        whole.parse().ok()
    } else {
        None
    }
}

/// Parses a decimal number (no thousands separators, no exponent).
pub fn parse_decimal(s: &str) -> Option<f64> {
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+')
        && s.bytes().any(|b| b.is_ascii_digit());
    if ok {
        s.parse().ok()
    } else {
        None
    }
}

/// Parses yes/no spellings: `Y`, `Yes`, `T`, `True`, `1` and their opposites.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" | "t" | "true" | "1" => Some(true),
        "n" | "no" | "f" | "false" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use casebridge_model::Locator;

    const PERSONS: &str = r#"[mapping]
id = "persons"
version = "1"
kind = "person"
system = "mosaic"

[source]
glob = "DM_PERSONS*.csv"
encoding = "windows-1252"
null_values = ["NULL"]

[codesets.gender]
values = { M = "male", F = "female", U = "unknown" }

[fields.source_key]
column = "PERSON_ID"
required = true

[fields.first_name]
column = "FIRST_NAME"
transform = ["title"]

[fields.last_name]
column = "LAST_NAME"
required = true

[fields.date_of_birth]
column = "DATE_OF_BIRTH"
date_formats = ["dd/mm/yyyy"]

[fields.gender]
column = "GENDER"
codeset = "gender"

[fields.dob_estimated]
column = "AGE_ESTIMATED"
type = "boolean"
default = "N"
"#;

    fn load(text: &str) -> Result<Mapping, Vec<Diagnostic>> {
        Mapping::from_str(Path::new("persons.toml"), text)
    }

    fn header() -> Vec<String> {
        [
            "PERSON_ID",
            "FIRST_NAME",
            "LAST_NAME",
            "DATE_OF_BIRTH",
            "GENDER",
            "AGE_ESTIMATED",
        ]
        .map(String::from)
        .to_vec()
    }

    const CIN: &str = r#"[mapping]
id = "cin-children"
version = "1"
kind = "person"
[source]
glob = "CIN*.xml"
record = "/Message/Children/Child"
date_formats = ["yyyy-mm-dd"]
[fields.source_key]
path = "ChildIdentifiers/LAchildID"
required = true
[fields.upn]
path = "ChildIdentifiers/UPN"
[fields.other_id]
column = "/Message/Header/Source/LEA"
"#;

    #[test]
    fn xml_sources_take_a_record_path_and_element_paths() {
        let m = load(CIN).unwrap();
        assert_eq!(m.source.format, Some(SourceFormat::Xml));
        assert_eq!(m.source.record(), Some("Message/Children/Child"));
        let cols: Vec<&str> = m.columns().into_iter().map(|(c, _)| c).collect();
        assert_eq!(
            cols,
            [
                "ChildIdentifiers/LAchildID",
                "ChildIdentifiers/UPN",
                "/Message/Header/Source/LEA"
            ]
        );
        // A bad path is caught at load time, with its line.
        let bad = CIN.replace("ChildIdentifiers/UPN", "ChildIdentifiers//UPN");
        let e = load(&bad).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, Some(13), "{e:?}");
        assert!(e[0].message.contains("empty step"), "{e:?}");
    }

    #[test]
    fn xml_columns_list_element_paths_and_hold_every_field() {
        let listed = "columns = [\"/Message/Header/Source/LEA\", \"ChildIdentifiers/LAchildID\", \"ChildIdentifiers/UPN\", \"ChildCharacteristics/Ethnicity\"]\n";
        let with = |cols: &str| CIN.replace("date_formats", &format!("{cols}date_formats"));
        let m = load(&with(listed)).unwrap();
        let cols = m.source.columns.as_deref().unwrap();
        assert_eq!(cols.len(), 4);
        assert_eq!(cols[3], "ChildCharacteristics/Ethnicity");
        // A field whose path the list lacks, and a path the reader cannot read.
        let e = load(&with(&listed.replace("\"ChildIdentifiers/UPN\", ", ""))).unwrap_err();
        assert!(
            e[0].message
                .contains("unknown column `ChildIdentifiers/UPN`"),
            "{e:?}"
        );
        let e = load(&with(
            &listed.replace("ChildCharacteristics/", "ChildCharacteristics//"),
        ))
        .unwrap_err();
        assert!(e[0].message.contains("empty step"), "{e:?}");
        assert_eq!(e[0].line, Some(8), "{e:?}");
    }

    #[test]
    fn source_format_options_are_checked_against_the_format() {
        let e = load(&CIN.replace(
            "record = ",
            "delimiter = \";\"\nencoding = \"utf-8\"\nsheet = \"S\"\nrecord = ",
        ))
        .unwrap_err();
        let msgs: Vec<&str> = e.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(e.len(), 3, "{msgs:?}");
        assert!(msgs[0].contains("`delimiter` applies to csv"), "{msgs:?}");
        assert!(msgs[1].contains("prolog"), "{msgs:?}");
        assert!(msgs[2].contains("`sheet` applies to xlsx"), "{msgs:?}");
        let e = load(&CIN.replace("record = \"/Message/Children/Child\"", "format = \"xml\""))
            .unwrap_err();
        assert!(e[0].message.contains("needs `record`"), "{e:?}");
        let e =
            load(&PERSONS.replace("encoding = \"windows-1252\"", "format = \"xslx\"")).unwrap_err();
        assert_eq!(e[0].suggestion.as_deref(), Some("xlsx"), "{e:?}");
        let e = load(&PERSONS.replace(
            "encoding = \"windows-1252\"",
            "record = \"A/B\"\nformat = \"csv\"",
        ))
        .unwrap_err();
        assert!(e[0].message.contains("`record` applies to xml"), "{e:?}");
        let e = load(&PERSONS.replace(
            "[fields.first_name]\n",
            "[fields.first_name]\npath = \"X\"\n",
        ))
        .unwrap_err();
        assert!(e[0].message.contains("`column` or `path`"), "{e:?}");
    }

    #[test]
    fn xlsx_sheet_and_format_by_extension() {
        let m = load(&PERSONS.replace(
            "encoding = \"windows-1252\"",
            "format = \"xlsx\"\nsheet = \"DM_PERSONS\"",
        ))
        .unwrap();
        assert_eq!(m.source.sheet(), Some("DM_PERSONS"));
        assert_eq!(m.source.format_of(Path::new("x.csv")), SourceFormat::Xlsx);
        let m = load(&PERSONS.replace("DM_PERSONS*.csv", "DM_PERSONS*")).unwrap();
        assert_eq!(m.source.format, None);
        assert_eq!(
            m.source.format_of(Path::new("DM_PERSONS.XLSX")),
            SourceFormat::Xlsx
        );
        assert_eq!(
            m.source.format_of(Path::new("DM_PERSONS.csv")),
            SourceFormat::Csv
        );
        assert_eq!(
            m.source.format_of(Path::new("DM_PERSONS")),
            SourceFormat::Csv
        );
    }

    #[test]
    fn an_unknown_source_key_names_its_line_and_suggests() {
        let e =
            load(&PERSONS.replace("encoding = \"windows-1252\"", "delimter = \";\"")).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].line, Some(9));
        assert_eq!(e[0].suggestion.as_deref(), Some("delimiter"));
        assert!(e[0]
            .to_string()
            .starts_with("persons.toml:9: unknown [source] key `delimter`"));
    }

    #[test]
    fn another_formats_option_is_refused_with_its_line_and_why() {
        let e = load(&PERSONS.replace(
            "encoding = \"windows-1252\"",
            "format = \"csv\"\nsheet = \"DM_PERSONS\"",
        ))
        .unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].line, Some(10));
        assert_eq!(e[0].message, "`sheet` applies to xlsx sources, not csv");
        let e = load(&PERSONS.replace(
            "encoding = \"windows-1252\"",
            "format = \"xlsx\"\nencoding = \"utf-8\"",
        ))
        .unwrap_err();
        assert_eq!(e[0].line, Some(10));
        assert!(e[0].message.contains("always Unicode"), "{e:?}");
    }

    /// The old mapping checker took any `../` and an absolute `/@attr`; the
    /// reader refused them when the file was opened. Both now use the XML
    /// adapter's one grammar, so the mapping is refused when it loads.
    #[test]
    fn xml_paths_are_checked_by_the_readers_own_grammar() {
        for (path, why) in [
            ("../../../../UPN", "above the root"),
            ("/@id", "names no element"),
            ("1UPN", "not an XML element name"),
        ] {
            let e = load(&CIN.replace("ChildIdentifiers/UPN", path)).unwrap_err();
            assert_eq!(e.len(), 1, "{e:?}");
            assert_eq!(e[0].line, Some(13), "{e:?}");
            assert!(e[0].message.contains(why), "{path}: {e:?}");
            let reader =
                casebridge_xml::XmlSourceConfig::new("Message/Children/Child", [path]).check();
            assert!(reader.is_err(), "{path}");
        }
        // What the reader reads, the mapping takes: `..` and `./`.
        let m = load(&CIN.replace("ChildIdentifiers/UPN", "./ChildIdentifiers/UPN")).unwrap();
        assert!(m.source.config_for(Path::new("CIN.xml")).is_some());
        assert!(load(&CIN.replace("ChildIdentifiers/UPN", "..")).is_ok());
    }

    #[test]
    fn a_good_row_maps_to_typed_values() {
        let m = load(PERSONS).unwrap();
        let b = m.bind(&header()).unwrap();
        let mut row = TextRow::from_cells(
            Locator::CsvLine { line: 2, record: 1 },
            ["100001", "zoë", "Okafor", "04/03/2015", "f", ""],
        );
        let mut out = MappedRecord::new(RecordKind::Person);
        let mut issues = vec![];
        b.apply(&mut row, &mut out, &mut issues, false);
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(out.get("first_name").unwrap().text, "Zoë");
        assert_eq!(out.get("gender").unwrap().text, "female");
        assert_eq!(
            out.get("date_of_birth").unwrap().date(),
            NaiveDate::from_ymd_opt(2015, 3, 4)
        );
        assert_eq!(
            out.get("dob_estimated").unwrap().value,
            Value::Boolean(false)
        );
        assert!(!out.get("nhs_number").unwrap().is_present());
    }

    // See: issue 9 (a workbook's date cells failed dd/mm/yyyy mappings).
    #[test]
    fn typed_date_cells_are_dates_whatever_the_text_formats() {
        let m = load(PERSONS).unwrap();
        let b = m.bind(&header()).unwrap();
        let cells = |dob: &str| ["100001", "Amara", "Okafor", dob, "F", ""].map(String::from);
        let mut issues = vec![];
        let mut out = MappedRecord::new(RecordKind::Person);
        for (dob, typed, want) in [
            ("2015-03-04", true, NaiveDate::from_ymd_opt(2015, 3, 4)),
            (
                "2015-03-04 10:30:00",
                true,
                NaiveDate::from_ymd_opt(2015, 3, 4),
            ),
            ("04/03/2015", false, NaiveDate::from_ymd_opt(2015, 3, 4)),
            ("2015-03-04", false, None),
        ] {
            let mut row = TextRow::from_cells(Locator::CsvLine { line: 2, record: 1 }, cells(dob));
            if typed {
                row.set_typed(3);
            }
            issues.clear();
            b.apply(&mut row, &mut out, &mut issues, false);
            assert_eq!(
                out.get("date_of_birth").unwrap().date(),
                want,
                "{dob} typed {typed}"
            );
            // Only text is parsed with the mapping's formats.
            assert_eq!(issues.len(), usize::from(want.is_none()), "{issues:?}");
        }
    }

    #[test]
    fn bad_values_give_one_issue_each_without_values_by_default() {
        let m = load(PERSONS).unwrap();
        let b = m.bind(&header()).unwrap();
        let mut row = TextRow::from_cells(
            Locator::CsvLine { line: 2, record: 1 },
            ["100001", "Amara", "NULL", "31/02/2015", "X", "maybe"],
        );
        let mut out = MappedRecord::new(RecordKind::Person);
        let mut issues = vec![];
        b.apply(&mut row, &mut out, &mut issues, false);
        let got: Vec<_> = issues.iter().map(|i| (i.rule, i.column.as_str())).collect();
        assert_eq!(
            got,
            [
                (rules::FIELD_REQUIRED, "LAST_NAME"),
                (rules::FIELD_TYPE, "DATE_OF_BIRTH"),
                (rules::FIELD_TYPE, "AGE_ESTIMATED"),
                (rules::FIELD_CODE, "GENDER"),
            ]
        );
        assert!(issues.iter().all(|i| i.value.is_none()));
        let mut shown = vec![];
        let mut row = TextRow::from_cells(
            Locator::CsvLine { line: 2, record: 1 },
            ["100001", "Amara", "NULL", "31/02/2015", "X", "maybe"],
        );
        b.apply(&mut row, &mut out, &mut shown, true);
        assert_eq!(shown[3].value.as_deref(), Some("X"));
    }

    #[test]
    fn every_type_error_of_every_table_is_reported_with_its_line() {
        let text = PERSONS
            .replace("column = \"LAST_NAME\"", "column = 5")
            .replace("transform = [\"title\"]", "transform = \"title\"")
            .replace(
                "required = true\n\n[fields.first_name]",
                "required = \"yes\"\n\n[fields.first_name]",
            );
        let d = load(&text).unwrap_err();
        let lines: Vec<Option<usize>> = d.iter().map(|d| d.line).collect();
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(lines.contains(&Some(17)), "source_key's required: {d:?}");
        assert!(lines.contains(&Some(21)), "first_name's transform: {d:?}");
        assert!(lines.contains(&Some(24)), "last_name's column: {d:?}");
        assert!(
            d.iter().any(|x| x.message.contains("[fields.last_name]")),
            "{d:?}"
        );
    }

    #[test]
    fn alternatives_read_the_first_present_source_and_extras_are_typed() {
        let text = PERSONS.replace(
            "[fields.gender]\ncolumn = \"GENDER\"\ncodeset = \"gender\"",
            "[fields.gender]\ncolumn = \"SEX\"\ncodeset = \"gender\"\nor = [{ column = \"GENDER\", codeset = \"gender\" }]\n\n[extras.LOCAL_DATE]\ntype = \"date\"\ndate_formats = [\"dd/mm/yyyy\"]",
        );
        let m = load(&text).unwrap();
        let mut h = header();
        h.push("LOCAL_DATE".into());
        let bound = m.bind(&h).unwrap();
        assert!(
            bound.missing().is_empty(),
            "an alternative is there: {:?}",
            bound.missing()
        );
        let mut row = TextRow::new();
        let mut cells: Vec<&str> = vec!["1", "ada", "Lovelace", "10/12/2015", "F", "N"];
        cells.push("31/01/2020");
        row.reset(cells.len());
        for (i, c) in cells.iter().enumerate() {
            row.cell_mut(i).push_str(c);
        }
        let mut rec = MappedRecord::new(RecordKind::Person);
        let mut issues = Vec::new();
        bound.apply(&mut row, &mut rec, &mut issues, false);
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(rec.get("gender").and_then(Slot::str), Some("female"));
        let extras: Vec<_> = rec
            .extra_slots()
            .map(|(n, _, s)| (n.to_string(), s.date()))
            .collect();
        assert_eq!(
            extras,
            vec![(
                "LOCAL_DATE".to_string(),
                NaiveDate::from_ymd_opt(2020, 1, 31)
            )]
        );
        // Written back: the field to its first source, the alternative never.
        let dirs = m.directions();
        let alt = dirs
            .iter()
            .filter(|d| d.field == "gender")
            .collect::<Vec<_>>();
        assert_eq!(alt.len(), 2);
        assert!(alt[0].written && !alt[1].written);
    }

    #[test]
    fn unknown_field_names_its_line_and_suggests() {
        let text = PERSONS.replace("[fields.first_name]", "[fields.frist_name]");
        let d = load(&text).unwrap_err();
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].line, Some(19));
        assert_eq!(d[0].suggestion.as_deref(), Some("first_name"));
        assert!(d[0]
            .to_string()
            .starts_with("persons.toml:19: person has no field `frist_name`"));
    }

    #[test]
    fn unknown_code_set_type_transform_and_kind_are_all_reported() {
        let text = PERSONS
            .replace("codeset = \"gender\"", "codeset = \"gendr\"")
            .replace("type = \"boolean\"", "type = \"bool\"")
            .replace("transform = [\"title\"]", "transform = [\"titel\"]");
        let d = load(&text).unwrap_err();
        let msgs: Vec<_> = d.iter().map(|d| (d.line, d.suggestion.clone())).collect();
        assert_eq!(
            msgs,
            [
                (Some(37), Some("boolean".to_string())),
                (Some(21), Some("title".to_string())),
                (Some(33), Some("gender".to_string())),
            ]
        );
        let d = load(&PERSONS.replace("kind = \"person\"", "kind = \"persons\"")).unwrap_err();
        assert_eq!(d[0].line, Some(4));
        assert_eq!(d[0].suggestion.as_deref(), Some("person"));
    }

    #[test]
    fn column_missing_from_header_names_the_mapping_line() {
        let m = load(&PERSONS.replace("\"LAST_NAME\"", "\"LAST_NAM\"")).unwrap();
        let d = m.bind(&header()).unwrap_err();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].line, Some(24));
        assert_eq!(d[0].suggestion.as_deref(), Some("LAST_NAME"));
    }

    #[test]
    fn a_column_name_twice_in_the_header_is_an_error_naming_both_places() {
        let m = load(PERSONS).unwrap();
        // A column a field reads, and one no field reads (which would be
        // carried by its name): each ambiguous; blank names are not names.
        let mut h = header();
        h.push(" FIRST_NAME ".into());
        h.extend(["LOCAL".into(), String::new(), "LOCAL".into(), String::new()]);
        let d = m.bind(&h).unwrap_err();
        let messages: Vec<&str> = d.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "column `FIRST_NAME` is in the file's header 2 times (columns 2, 7): which to read cannot be told; rename all but one",
                "column `LOCAL` is in the file's header 2 times (columns 8, 10): which to read cannot be told; rename all but one",
            ]
        );
        // Names differing in case are told apart.
        let mut h = header();
        h.extend(["Local".into(), "LOCAL".into(), String::new(), String::new()]);
        assert!(m.bind(&h).is_ok());
    }

    #[test]
    fn declared_columns_are_checked_at_load() {
        let text = PERSONS.replace(
            "null_values = [\"NULL\"]",
            "null_values = [\"NULL\"]\ncolumns = [\"PERSON_ID\", \"FIRST_NAME\", \"LAST_NAME\", \"DATE_OF_BIRTH\", \"GENDER\", \"AGE_ESTIMATED\"]",
        )
        .replace("column = \"GENDER\"", "column = \"GENDRE\"");
        let d = load(&text).unwrap_err();
        assert_eq!(d[0].suggestion.as_deref(), Some("GENDER"));
        assert_eq!(d[0].line, Some(33));
    }

    #[test]
    fn incompatible_type_is_rejected() {
        let text = PERSONS.replace("date_formats = [\"dd/mm/yyyy\"]", "type = \"integer\"");
        assert!(load(&text).unwrap_err()[0]
            .message
            .contains("cannot be read as integer"));
    }

    #[test]
    fn concat_and_split_fields() {
        let text = r#"[mapping]
id = "x"
version = "1"
kind = "chronology_entry"
[source]
glob = "*.csv"
[fields.source_key]
columns = ["STEP", "PERSON"]
separator = "-"
[fields.description]
column = "NAME"
transform = ["split_name_last", "upper"]
"#;
        let m = load(text).unwrap();
        let b = m
            .bind(&["STEP".into(), "PERSON".into(), "NAME".into()])
            .unwrap();
        let mut row = TextRow::from_cells(Locator::File, ["9", "100", "Amara Okafor"]);
        let mut out = MappedRecord::new(RecordKind::ChronologyEntry);
        let mut issues = vec![];
        b.apply(&mut row, &mut out, &mut issues, false);
        assert_eq!(out.get("source_key").unwrap().text, "9-100");
        assert_eq!(out.get("description").unwrap().text, "OKAFOR");
        assert_eq!(m.column_of("source_key"), Some("STEP+PERSON"));
    }

    #[test]
    fn a_mapping_holding_a_token_is_refused_with_how_to_pass_it() {
        let text = PERSONS.replace("[source]\n", "[source]\napi_token = \"abc123\"\n");
        let d = load(&text).unwrap_err();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].line, Some(8));
        assert!(d[0].message.contains("CASEBRIDGE_HTTP_TOKEN"));
        assert!(
            !d[0].to_string().contains("abc123"),
            "the secret is not echoed"
        );
    }

    #[test]
    fn numbers_and_booleans() {
        assert_eq!(parse_integer("7"), Some(7));
        assert_eq!(parse_integer("7.00"), Some(7));
        assert_eq!(parse_integer("7.5"), None);
        assert_eq!(parse_decimal("-3.25"), Some(-3.25));
        assert_eq!(parse_decimal("seven"), None);
        assert_eq!(parse_decimal("1e5"), None);
        assert_eq!(parse_bool("Yes"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }
}
