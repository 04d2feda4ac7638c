//! Inputs of a run: files and directories expanded, each file matched to its
//! mapping, and opened with the reader its format needs, under the run's
//! resource limits. Every command (validate, pseudonymise, dedup, and the
//! migrate runner to come) plans and opens its inputs here.

use std::path::{Path, PathBuf};

use casebridge_adapters::BuildContext;
use casebridge_mapping::{canonical_mappings, Mapping, MappingSet, Selection, SourceFormat};
use casebridge_model::{Locator, RecordKind, RecordSource, SourceError, SourceErrorKind};
use casebridge_sheet::ArchiveLimits;
use casebridge_xml::XmlLimits;

use crate::Error;

/// Resource limits of a run. Exceeding one is an error for that record or
/// that file; the rest of the run goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest record (CSV record, sheet row, XML record's text) held in memory.
    pub max_record_bytes: usize,
    /// Deepest nesting of XML elements.
    pub max_xml_depth: usize,
    /// Largest single XML token (a text node or tag) the parser may buffer.
    pub max_xml_token_bytes: usize,
    /// What a spreadsheet archive may inflate to.
    pub archive: ArchiveLimits,
    /// Memory the source keys of `key.duplicate` may hold; beyond it they
    /// move to a temporary database (0: always there).
    pub key_memory: u64,
    /// Rows an XLSX sheet written takes, its header's among them (at
    /// most Excel's 1,048,576): a record past them is rejected
    /// (`export.sheet-full`), not the whole export stopped.
    pub max_sheet_rows: u32,
}

/// The default of [`Limits::key_memory`]: about two million keys.
pub const KEY_MEMORY: u64 = 64 << 20;

impl Default for Limits {
    fn default() -> Self {
        let xml = XmlLimits::default();
        Limits {
            max_record_bytes: 64 << 20,
            max_xml_depth: xml.max_depth,
            max_xml_token_bytes: xml.max_token_bytes,
            archive: ArchiveLimits::default(),
            key_memory: KEY_MEMORY,
            max_sheet_rows: casebridge_sheet::MAX_ROWS,
        }
    }
}

/// One input file with its mapping.
#[derive(Debug, Clone)]
pub struct PlannedFile<'m> {
    /// The file.
    pub path: PathBuf,
    /// Its mapping.
    pub mapping: &'m Mapping,
}

/// A file no single mapping fits.
#[derive(Debug, Clone)]
pub struct Unmatched {
    /// The file.
    pub path: PathBuf,
    /// Found by listing a directory: then "no mapping" means skipped, not an error.
    pub from_dir: bool,
    /// The ids of the mappings that fit, when several do (empty: none).
    pub candidates: Vec<String>,
}

/// The files of a run, persons first so that references to persons can be
/// checked as the other files stream past.
#[derive(Debug)]
pub struct Plan<'m> {
    /// Files with exactly one mapping, in record-kind order, then name order.
    pub files: Vec<PlannedFile<'m>>,
    /// Files with none or several.
    pub unmatched: Vec<Unmatched>,
    /// Named inputs that do not exist.
    pub missing: Vec<PathBuf>,
    /// Inputs given more than once (by name, through a folder or a
    /// link): read once, each repeat noted.
    pub repeated: Vec<PathBuf>,
    /// Entries that are not regular files (a FIFO in a folder, a socket, a
    /// device): never opened, so a run cannot hang on one; (path, named on
    /// the command line). A FIFO named on the command line is read.
    pub not_files: Vec<(PathBuf, bool)>,
    /// Folders inside an input folder: not read (a folder's files are
    /// read, not its folders'), each reported so that no file in one goes
    /// unaccounted for.
    pub folders: Vec<PathBuf>,
    /// The source globs of the set's mappings (to say which were tried).
    pub globs: Vec<String>,
    /// Mappings of a folder set that no input file fits: (id, glob).
    pub unused: Vec<(String, String)>,
}

impl Plan<'_> {
    /// Total size of the planned files (for progress).
    pub fn total_bytes(&self) -> u64 {
        self.files
            .iter()
            .filter_map(|f| std::fs::metadata(&f.path).ok())
            .map(|m| m.len())
            .sum()
    }
}

/// Expands directories (their files, sorted; not recursive: the folders in
/// them are listed in [`Plan::folders`]) and matches
/// every file to a mapping. A named file that does not exist is kept, so
/// that opening it reports it; a directory that cannot be listed is an error.
pub fn plan_inputs<'m>(inputs: &[PathBuf], mappings: &'m MappingSet) -> Result<Plan<'m>, Error> {
    let mut plan = Plan {
        files: Vec::new(),
        unmatched: Vec::new(),
        missing: Vec::new(),
        repeated: Vec::new(),
        not_files: Vec::new(),
        folders: Vec::new(),
        globs: mappings
            .mappings
            .iter()
            .map(|m| m.source.glob.clone())
            .collect(),
        unused: Vec::new(),
    };
    let mut expanded: Vec<(PathBuf, bool)> = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let (mut folders, mut files): (Vec<PathBuf>, Vec<PathBuf>) = std::fs::read_dir(p)
                .map_err(|_| Error::NoInput(p.clone()))?
                .flatten()
                .map(|e| e.path())
                .partition(|p| p.is_dir());
            files.sort();
            folders.sort();
            plan.folders.extend(folders);
            expanded.extend(files.into_iter().map(|f| (f, true)));
        } else if std::fs::symlink_metadata(p).is_err() {
            plan.missing.push(p.clone());
        } else {
            expanded.push((p.clone(), false));
        }
    }
    // A folder that is itself an input is read, not passed over.
    let named: Vec<PathBuf> = inputs
        .iter()
        .filter(|p| p.is_dir())
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    plan.folders
        .retain(|f| std::fs::canonicalize(f).map_or(true, |c| !named.contains(&c)));
    // Each file once, whichever way it was named; never a FIFO or device.
    let mut seen: Vec<PathBuf> = Vec::new();
    expanded.retain(|(path, from_dir)| {
        // A FIFO named on the command line is streamed (an export piped in
        // from a decompressor); one found in a folder is never opened, as
        // nothing may be writing to it and the run would hang.
        let named_fifo = !*from_dir && {
            use std::os::unix::fs::FileTypeExt;
            std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo())
        };
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() || named_fifo => {}
            _ => {
                plan.not_files.push((path.clone(), !*from_dir));
                return false;
            }
        }
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
        if seen.contains(&real) {
            plan.repeated.push(path.clone());
            return false;
        }
        seen.push(real);
        true
    });
    for (path, from_dir) in expanded {
        // Canonical JSON Lines are read by the built-in canonical mappings,
        // one part per kind, whatever the run's mapping set.
        if SourceFormat::from_extension(&path) == SourceFormat::Jsonl {
            plan.files
                .extend(canonical_mappings().iter().map(|mapping| PlannedFile {
                    path: path.clone(),
                    mapping,
                }));
            continue;
        }
        match mappings.select(&path) {
            // One mapping file given: a file found in a named folder must fit
            // its glob (named files are read with it whatever their name).
            Selection::One(mapping)
                if mappings.single
                    && from_dir
                    && !mapping.source.matches(
                        &path
                            .file_name()
                            .map(|n| n.to_string_lossy())
                            .unwrap_or_default(),
                    ) =>
            {
                plan.unmatched.push(Unmatched {
                    path,
                    from_dir,
                    candidates: Vec::new(),
                })
            }
            Selection::One(mapping) => plan.files.push(PlannedFile { path, mapping }),
            Selection::Parts(ms) => plan.files.extend(ms.into_iter().map(|mapping| PlannedFile {
                path: path.clone(),
                mapping,
            })),
            Selection::None => plan.unmatched.push(Unmatched {
                path,
                from_dir,
                candidates: Vec::new(),
            }),
            Selection::Many(ms) => plan.unmatched.push(Unmatched {
                path,
                from_dir,
                candidates: ms.iter().map(|m| m.id.clone()).collect(),
            }),
        }
    }
    plan.files
        .sort_by_key(|f| RecordKind::ALL.iter().position(|k| *k == f.mapping.kind));
    if !mappings.single {
        for m in &mappings.mappings {
            let used = plan.files.iter().any(|f| std::ptr::eq(f.mapping, m))
                || plan.unmatched.iter().any(|u| u.candidates.contains(&m.id));
            if !used {
                plan.unused.push((m.id.clone(), m.source.glob.clone()));
            }
        }
    }
    Ok(plan)
}

/// Opens `path` with the adapter its mapping's format (or else its
/// extension) calls for, configured from the mapping's `[source]` options
/// and the run's limits. For XML the source's columns are the element
/// paths the mapping reads.
pub fn open_source(
    path: &Path,
    mapping: &Mapping,
    limits: &Limits,
) -> Result<Box<dyn RecordSource>, SourceError> {
    let Some(config) = mapping.source.config_for(path) else {
        // The mapping loader refuses an xml mapping without `record`; a csv
        // mapping applied to a .xml file lands here.
        return Err(SourceError {
            kind: SourceErrorKind::Syntax(format!(
                "mapping `{}` gives no `record` element path, so it cannot read XML",
                mapping.id
            )),
            locator: Locator::File,
            recoverable: false,
        });
    };
    let mut fields: Vec<String> = Vec::new();
    for (c, _) in mapping.columns() {
        if !fields.iter().any(|f| f == c) {
            fields.push(c.to_string());
        }
    }
    // An XML mapping's declared paths that no field reads are read too: a
    // run that builds records carries them as extras (the return's header,
    // the codes of a CIN episode), so that writing back loses nothing.
    if mapping.source.format_of(path) == SourceFormat::Xml {
        for c in mapping.source.columns.iter().flatten() {
            if !fields.iter().any(|f| f == c) {
                fields.push(c.clone());
            }
        }
    }
    let cx = BuildContext {
        max_record_bytes: limits.max_record_bytes,
        xml: XmlLimits {
            max_depth: limits.max_xml_depth,
            max_record_bytes: limits.max_record_bytes,
            max_token_bytes: limits.max_xml_token_bytes,
        },
        archive: limits.archive,
        fields,
        kind: mapping.kind,
        // A JSON Lines file is read in parts, one per kind: the first
        // (persons) reports the lines no part reads.
        report_unreadable: canonical_mappings()
            .first()
            .is_some_and(|m| m.kind == mapping.kind),
    };
    let source = config.open(path, &cx)?;
    // A canonical table (`export --to csv|xlsx`) is read back into the
    // records it was written from.
    if mapping.system == "canonical" && mapping.source.format_of(path) != SourceFormat::Jsonl {
        return Ok(Box::new(casebridge_jsonl::CanonicalTableSource::new(
            source,
            mapping.kind,
        )?));
    }
    Ok(source)
}

/// The first of `outputs` that would overwrite one of `inputs` (a named
/// file, or a file inside a named directory), symlinks resolved. Every
/// command refuses such a run before reading anything.
pub fn output_over_input<'a>(outputs: &[&'a Path], inputs: &[PathBuf]) -> Option<&'a Path> {
    let resolved: Vec<PathBuf> = inputs
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    outputs.iter().copied().find(|out| {
        let Ok(out_real) = std::fs::canonicalize(out) else {
            return false;
        };
        resolved
            .iter()
            .any(|i| *i == out_real || (i.is_dir() && out_real.parent() == Some(i.as_path())))
    })
}
