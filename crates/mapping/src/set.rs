//! A set of mappings loaded from one file or a directory, and the choice of
//! mapping for each input file by its source glob.

use std::path::{Path, PathBuf};

use crate::diag::Diagnostic;
use crate::mapping::Mapping;
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
    /// Several fit.
    Many(Vec<&'a Mapping>),
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
            _ => Selection::Many(fits),
        }
    }
}
