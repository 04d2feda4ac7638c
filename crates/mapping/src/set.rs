//! A set of mappings loaded from one file or a directory, and the choice of
//! mapping for each input file by its source glob.

use std::path::{Path, PathBuf};

use crate::diag::Diagnostic;
use crate::mapping::{Mapping, SourceFormat};
use crate::Error;

/// The mappings a run uses.
#[derive(Debug)]
pub struct MappingSet {
    /// The mappings, in file-name order.
    pub mappings: Vec<Mapping>,
    /// Whether one file was named: then it applies to every input.
    pub single: bool,
}

/// Which mapping an input file gets.
#[derive(Debug)]
pub enum Selection<'a> {
    /// Exactly one.
    One(&'a Mapping),
    /// None fits the file's name.
    None,
    /// Several fit, each reading its own part of the file: XML mappings
    /// with different `record` paths, or workbook mappings with different
    /// `sheet`s (a CIN census return holds children and their episodes; a
    /// workbook holds a sheet per table). The file is read once per mapping.
    Parts(Vec<&'a Mapping>),
    /// Several fit and would read the same records.
    Many(Vec<&'a Mapping>),
}

/// Whether mappings that fit one file each read a different part of it.
fn distinct_parts(ms: &[&Mapping], file: &Path) -> bool {
    let mut parts: Vec<String> = Vec::new();
    for m in ms {
        let part = match m.source.format_of(file) {
            SourceFormat::Xml => m.source.record().map(|r| format!("xml:{r}")),
            SourceFormat::Xlsx => m.source.sheet().map(|s| format!("sheet:{s}")),
            SourceFormat::Jsonl => Some(format!("jsonl:{}", m.kind)),
            SourceFormat::Csv => None,
        };
        match part {
            Some(p) if !parts.contains(&p) => parts.push(p),
            _ => return false,
        }
    }
    true
}

/// Whether a TOML file is a mapping (has a `[mapping]` table); a file that
/// does not parse counts as one, so that loading it reports its problems.
/// Dedup configurations, code sets and templates beside mappings are
/// recognised this way and left alone.
fn is_mapping_file(path: &Path) -> bool {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .parse::<toml::Table>()
            .map_or(true, |t| t.contains_key("mapping")),
        Err(_) => true,
    }
}

/// The mapping files of a folder: its own `*.toml` mappings, and those of
/// its subfolders (the shipped root `mappings/` holds a set per folder).
fn mapping_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::Read {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_file() && p.extension().and_then(|e| e.to_str()) == Some("toml") {
            if is_mapping_file(&p) {
                out.push(p);
            }
        } else if p.is_dir() && depth > 0 {
            mapping_files(&p, depth - 1, out)?;
        }
    }
    Ok(())
}

impl MappingSet {
    /// Loads every mapping named: files, and folders of mappings (each
    /// folder a set; a folder of sets, such as the shipped `mappings/`,
    /// gives all of them). One file alone applies to every named input and
    /// to the files of a named folder that its glob fits. Mapping ids must
    /// be unique across all of them; every problem is reported.
    pub fn load_all(paths: &[PathBuf]) -> Result<MappingSet, Error> {
        if let [one] = paths {
            return MappingSet::load(one);
        }
        let mut files = Vec::new();
        for p in paths {
            if p.is_file() {
                files.push(p.clone());
            } else {
                let before = files.len();
                mapping_files(p, 1, &mut files)?;
                if files.len() == before {
                    return Err(Error::Invalid(vec![Diagnostic::new(
                        p,
                        None,
                        "no mapping files (*.toml with a [mapping] table) here",
                    )]));
                }
            }
        }
        MappingSet::from_files(files)
    }

    fn from_files(files: Vec<PathBuf>) -> Result<MappingSet, Error> {
        let mut mappings = Vec::new();
        let mut diags = Vec::new();
        for f in files {
            match Mapping::from_path(&f) {
                Ok(m) => mappings.push(m),
                Err(Error::Invalid(d)) => diags.extend(d),
                Err(e) => return Err(e),
            }
        }
        let mut ids: Vec<(&str, &Path)> = Vec::new();
        for m in &mappings {
            if let Some((_, other)) = ids.iter().find(|(id, _)| *id == m.id) {
                diags.push(Diagnostic::new(
                    &m.path,
                    None,
                    format!("mapping id `{}` is also used by {}", m.id, other.display()),
                ));
            }
            ids.push((&m.id, &m.path));
        }
        if diags.is_empty() {
            Ok(MappingSet {
                mappings,
                single: false,
            })
        } else {
            Err(Error::Invalid(diags))
        }
    }

    /// Loads a mapping file, or every `*.toml` directly inside a directory
    /// (code sets and templates live in subdirectories). Every problem in
    /// every file is reported.
    pub fn load(path: &Path) -> Result<MappingSet, Error> {
        if path.is_file() {
            return Ok(MappingSet {
                mappings: vec![Mapping::from_path(path)?],
                single: true,
            });
        }
        let mut files = Vec::new();
        mapping_files(path, 1, &mut files)?;
        if files.is_empty() {
            return Err(Error::Invalid(vec![Diagnostic::new(
                path,
                None,
                "no mapping files (*.toml) here",
            )]));
        }
        MappingSet::from_files(files)
    }

    /// The mapping for a file, by its name (not its directory).
    pub fn select(&self, file: &Path) -> Selection<'_> {
        if self.single {
            return Selection::One(&self.mappings[0]);
        }
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let fits: Vec<&Mapping> = self
            .mappings
            .iter()
            .filter(|m| m.source.matches(&name))
            .collect();
        match fits.len() {
            0 => Selection::None,
            1 => Selection::One(fits[0]),
            _ if distinct_parts(&fits, file) => Selection::Parts(fits),
            _ => Selection::Many(fits),
        }
    }
}

/// The built-in mappings that read canonical JSON Lines back: one per
/// record kind a row maps to, each reading every canonical field from the
/// column of the same name (the JSON Lines source flattens each record to
/// those columns). A `.jsonl` or `.ndjson` input is read by all of them,
/// each taking the lines of its own kind.
pub fn canonical_mappings() -> &'static [Mapping] {
    static CANONICAL: std::sync::OnceLock<Vec<Mapping>> = std::sync::OnceLock::new();
    CANONICAL.get_or_init(|| {
        use casebridge_model::RecordKind;
        RecordKind::MAPPABLE
            .iter()
            .filter(|k| **k != RecordKind::FormAnswer)
            .filter_map(|&kind| {
                let mut text = format!(
                    "[mapping]\nid = \"canonical-{kind}\"\nversion = \"1\"\nkind = \"{kind}\"\n\
                     system = \"canonical\"\ndescription = \"Canonical {kind} records (JSON Lines)\"\n\n\
                     [source]\nglob = \"*.{{jsonl,ndjson}}\"\nencoding = \"utf-8\"\n\
                     date_formats = [\"yyyy-mm-dd\", \"yyyy-mm-dd HH:MM:SS\", \"yyyy-mm-dd HH:MM:SS.fff\"]\n"
                );
                for def in kind.fields() {
                    text.push_str(&format!("\n[fields.{}]\ncolumn = \"{}\"\n", def.name, def.name));
                    if def.is_key {
                        text.push_str("required = true\n");
                    }
                }
                let path = Path::new("<canonical>").join(format!("{kind}.toml"));
                Mapping::from_str(&path, &text).ok()
            })
            .chain(canonical_forms())
            .collect()
    })
}

/// The canonical mapping of workbook forms in JSON Lines: no field of its
/// own (a form is read whole, sections and answers, as the record it is).
fn canonical_forms() -> Option<Mapping> {
    let text =
        "[mapping]\nid = \"canonical-workbook_form\"\nversion = \"1\"\nkind = \"case_note\"\n\
                system = \"canonical\"\ndescription = \"Canonical workbook forms (JSON Lines)\"\n\n\
                [source]\nglob = \"*.{jsonl,ndjson}\"\nencoding = \"utf-8\"\n\n\
                [fields.source_key]\ncolumn = \"source_key\"\n";
    let path = Path::new("<canonical>").join("workbook_form.toml");
    let mut m = Mapping::from_str(&path, text).ok()?;
    m.kind = casebridge_model::RecordKind::WorkbookForm;
    m.fields.clear();
    Some(m)
}

/// The mappings of canonical tables (`casebridge export --to csv|xlsx`):
/// `person.csv` or `person.xlsx` and so on, one per kind, read back into
/// the records they were written from (`--mapping canonical`).
pub fn canonical_tables() -> MappingSet {
    use casebridge_model::RecordKind;
    let mappings = RecordKind::MAPPABLE
        .iter()
        .filter(|k| **k != RecordKind::FormAnswer)
        .filter_map(|&kind| {
            let mut text = format!(
                "[mapping]\nid = \"canonical-table-{kind}\"\nversion = \"1\"\nkind = \"{kind}\"\n\
                 system = \"canonical\"\ndescription = \"Canonical {kind} table (CSV or XLSX)\"\n\n\
                 [source]\nglob = \"{kind}.{{csv,xlsx}}\"\n\
                 date_formats = [\"yyyy-mm-dd\", \"yyyy-mm-dd HH:MM:SS\", \"yyyy-mm-dd HH:MM:SS.fff\"]\n"
            );
            for def in kind.fields() {
                text.push_str(&format!("\n[fields.{}]\ncolumn = \"{}\"\n", def.name, def.name));
                if def.is_key {
                    text.push_str("required = true\n");
                }
            }
            let path = Path::new("<canonical>").join(format!("{kind}-table.toml"));
            Mapping::from_str(&path, &text).ok()
        })
        .collect();
    MappingSet {
        mappings,
        single: false,
    }
}

#[cfg(test)]
mod canonical_tests {
    #[test]
    fn every_row_kind_has_a_canonical_table_mapping_that_loads() {
        // The six row kinds (forms are tables of their own: JSON only).
        assert_eq!(super::canonical_tables().mappings.len(), 6);
    }

    #[test]
    fn every_row_kind_has_a_canonical_mapping_that_loads() {
        // Person, address, relationship, involvement, case note,
        // chronology, and workbook forms read whole.
        let m = super::canonical_mappings();
        assert_eq!(m.len(), 7);
        assert_eq!(m[6].kind, casebridge_model::RecordKind::WorkbookForm);
    }
}
