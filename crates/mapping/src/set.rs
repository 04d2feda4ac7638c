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

impl MappingSet {
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
        let rd = std::fs::read_dir(path).map_err(|e| Error::Read {
            path: path.to_path_buf(),
            source: e,
        })?;
        let mut files: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().and_then(|e| e.to_str()) == Some("toml"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::Invalid(vec![Diagnostic::new(
                path,
                None,
                "no mapping files (*.toml) here",
            )]));
        }
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
            .collect()
    })
}

#[cfg(test)]
mod canonical_tests {
    #[test]
    fn every_row_kind_has_a_canonical_mapping_that_loads() {
        // Person, address, relationship, involvement, case note, chronology.
        assert_eq!(super::canonical_mappings().len(), 6);
    }
}
