//! What the shipped mappings teach a draft: which column names each of
//! them reads for each canonical field, the code sets and templates they
//! use, and the code sets beside them.
//!
//! Mappings are loaded with [`Mapping::from_path`] (so only mappings that
//! load are learned from) and their columns come from
//! [`Mapping::field_sources`]; the few settings the loaded mapping does not
//! expose (`required`, a concatenation's `separator`, the code set file,
//! `transform`) are read from the same file's TOML.

use std::path::{Path, PathBuf};

use casebridge_mapping::{CodeSet, Mapping};
use casebridge_model::RecordKind;

/// One field of a shipped mapping.
#[derive(Debug, Clone)]
pub struct LearnedField {
    /// The canonical field.
    pub field: &'static str,
    /// The columns it reads (an XML path's last element, for XML mappings).
    pub columns: Vec<String>,
    /// The separator of a concatenation of several columns.
    pub separator: Option<String>,
    /// Whether the mapping requires it.
    pub required: bool,
    /// The code set file it uses (canonical path).
    pub codeset: Option<PathBuf>,
    /// Whether it is read as `type = "code"` (a boolean through a code set).
    pub as_code: bool,
    /// Its transforms.
    pub transforms: Vec<String>,
}

/// One shipped mapping.
#[derive(Debug, Clone)]
pub struct Learned {
    /// Its id.
    pub id: String,
    /// Its source system.
    pub system: String,
    /// Its kind.
    pub kind: RecordKind,
    /// Its workbook template (canonical path), for form answers.
    pub template: Option<PathBuf>,
    /// Its fields.
    pub fields: Vec<LearnedField>,
}

/// A code set file.
#[derive(Debug, Clone)]
pub struct KnownCodeSet {
    /// The file (canonical path).
    pub path: PathBuf,
    /// The loaded set.
    pub set: CodeSet,
}

/// Everything learned from a folder of shipped mappings.
#[derive(Debug, Clone, Default)]
pub struct Knowledge {
    /// The folder learned from.
    pub root: Option<PathBuf>,
    /// The mappings that loaded.
    pub mappings: Vec<Learned>,
    /// The code sets found (beside the mappings and named by them).
    pub codesets: Vec<KnownCodeSet>,
    /// Workbook templates found (canonical paths).
    pub templates: Vec<PathBuf>,
    /// Files that could not be learned from, each with why (no values).
    pub warnings: Vec<String>,
}

fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().and_then(|e| e.to_str()) == Some("toml"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The last element of an XML field path (`ChildIdentifiers/UPN` -> `UPN`),
/// which is what a flat export would call the column.
fn column_name(source: &str) -> String {
    source
        .rsplit('/')
        .next()
        .unwrap_or(source)
        .trim_start_matches('@')
        .to_string()
}

impl Knowledge {
    /// Learns from the mappings in `root` and its subfolders (the shipped
    /// `mappings/` holds a set per folder), the code sets in its
    /// `codesets/` folder and the templates in `templates/`.
    pub fn load(root: &Path) -> Knowledge {
        let mut k = Knowledge {
            root: Some(root.to_path_buf()),
            ..Knowledge::default()
        };
        if !root.is_dir() {
            k.warnings
                .push(format!("{}: not a folder of mappings", root.display()));
            return k;
        }
        let mut files = toml_files(root);
        for d in subdirs(root) {
            files.extend(toml_files(&d));
        }
        for f in &files {
            let Ok(text) = std::fs::read_to_string(f) else {
                continue;
            };
            let Ok(table) = text.parse::<toml::Table>() else {
                continue;
            };
            if table.contains_key("codeset") && table.contains_key("values") {
                match CodeSet::from_path(f) {
                    Ok(set) => k.add_codeset(f, set),
                    Err(_) => k
                        .warnings
                        .push(format!("{}: code set does not load; not used", f.display())),
                }
                continue;
            }
            if table.contains_key("template") && !table.contains_key("mapping") {
                k.templates.push(canonical(f));
                continue;
            }
            if !table.contains_key("mapping") {
                continue;
            }
            match Mapping::from_path(f) {
                Ok(m) => {
                    let learned = learn(&m, &table, f);
                    for lf in &learned.fields {
                        if let Some(cs) = &lf.codeset {
                            if !k.codesets.iter().any(|c| &c.path == cs) {
                                if let Ok(set) = CodeSet::from_path(cs) {
                                    k.add_codeset(cs, set);
                                }
                            }
                        }
                    }
                    if let Some(t) = &learned.template {
                        if !k.templates.contains(t) {
                            k.templates.push(t.clone());
                        }
                    }
                    k.mappings.push(learned);
                }
                Err(_) => k.warnings.push(format!(
                    "{}: mapping does not load (see `casebridge validate`); not learned from",
                    f.display()
                )),
            }
        }
        k
    }

    fn add_codeset(&mut self, path: &Path, set: CodeSet) {
        let path = canonical(path);
        if !self.codesets.iter().any(|c| c.path == path) {
            self.codesets.push(KnownCodeSet { path, set });
        }
    }

    /// The code set at `path`, if known.
    pub fn codeset(&self, path: &Path) -> Option<&KnownCodeSet> {
        self.codesets.iter().find(|c| c.path == path)
    }
}

fn learn(m: &Mapping, table: &toml::Table, file: &Path) -> Learned {
    let base = file.parent().unwrap_or(Path::new("."));
    let fields_raw = table.get("fields").and_then(|v| v.as_table());
    let codesets_raw = table.get("codesets").and_then(|v| v.as_table());
    let template = table
        .get("mapping")
        .and_then(|v| v.get("template"))
        .and_then(|v| v.as_str())
        .map(|t| canonical(&base.join(t)));
    let fields = m
        .field_sources()
        .into_iter()
        .filter(|(_, cols, _)| !cols.is_empty())
        .map(|(def, cols, _)| {
            let raw = fields_raw.and_then(|t| t.get(def.name));
            let get_str = |k: &str| raw.and_then(|r| r.get(k)).and_then(|v| v.as_str());
            let codeset = get_str("codeset")
                .and_then(|name| codesets_raw.and_then(|c| c.get(name)))
                .and_then(|c| c.get("file"))
                .and_then(|f| f.as_str())
                .map(|f| canonical(&base.join(f)));
            LearnedField {
                field: def.name,
                columns: cols.iter().map(|c| column_name(c)).collect(),
                separator: get_str("separator").map(str::to_string),
                required: raw
                    .and_then(|r| r.get("required"))
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
                codeset,
                as_code: get_str("type") == Some("code"),
                transforms: raw
                    .and_then(|r| r.get("transform"))
                    .and_then(|v| v.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|t| t.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    Learned {
        id: m.id.clone(),
        system: m.system.clone(),
        kind: m.kind,
        template,
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mappings")
    }

    #[test]
    fn the_shipped_mappings_teach_columns_code_sets_and_templates() {
        let k = Knowledge::load(&shipped());
        assert!(k.warnings.is_empty(), "{:?}", k.warnings);
        let persons = k
            .mappings
            .iter()
            .find(|m| m.id == "mosaic-dm-persons")
            .expect("the Mosaic persons mapping");
        assert_eq!(persons.kind, RecordKind::Person);
        let gender = persons.fields.iter().find(|f| f.field == "gender").unwrap();
        assert_eq!(gender.columns, ["GENDER"]);
        assert!(gender.required);
        let cs = gender.codeset.as_ref().expect("gender's code set");
        assert!(cs.ends_with("codesets/gender.toml"));
        assert!(k.codeset(cs).is_some());
        let steps = k
            .mappings
            .iter()
            .find(|m| m.id == "mosaic-dm-workflow-steps")
            .unwrap();
        let key = steps
            .fields
            .iter()
            .find(|f| f.field == "source_key")
            .unwrap();
        assert_eq!(key.columns, ["WORKFLOW_STEP_ID", "PERSON_ID"]);
        assert_eq!(key.separator.as_deref(), Some("-"));
        // XML paths give their last element.
        let cin = k
            .mappings
            .iter()
            .find(|m| m.id == "cin-census-children")
            .unwrap();
        let dob = cin
            .fields
            .iter()
            .find(|f| f.field == "date_of_birth")
            .unwrap();
        assert_eq!(dob.columns, ["PersonBirthDate"]);
        assert!(k.codesets.len() >= 10);
        assert!(k
            .templates
            .iter()
            .any(|t| t.ends_with("fs-workbook-v1.toml")));
    }

    #[test]
    fn a_missing_folder_is_a_warning_not_an_error() {
        let k = Knowledge::load(Path::new("/nonexistent/casebridge-mappings"));
        assert!(k.mappings.is_empty());
        assert_eq!(k.warnings.len(), 1);
    }
}
