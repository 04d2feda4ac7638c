//! Code sets: the values a coded source field may take and the canonical
//! value each one maps to, inline in a mapping or in a shared file.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use std::path::Path;

use serde::Deserialize;

use crate::diag::{toml_error, Diagnostic};

/// A code set file: `[codeset] id, description, case_sensitive` and `[values]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeSetFile {
    codeset: CodeSetMeta,
    values: BTreeMap<String, String>,
    /// For a canonical value that several codes read as, the code written.
    #[serde(default)]
    write: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeSetMeta {
    id: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    case_sensitive: bool,
}

/// A loaded code set.
#[derive(Debug, Clone)]
pub struct CodeSet {
    /// Id.
    pub id: String,
    /// Description.
    pub description: Option<String>,
    case_sensitive: bool,
    map: FxHashMap<String, String>,
    /// Canonical value -> the code written back.
    back: FxHashMap<String, String>,
    /// Canonical values read from more than one code, with those codes,
    /// that `[write]` does not settle (the first code is written).
    ambiguous: Vec<(String, Vec<String>)>,
}

impl CodeSet {
    /// A code set from a map of source code to canonical value.
    pub fn new(id: &str, values: BTreeMap<String, String>, case_sensitive: bool) -> CodeSet {
        let mut back: FxHashMap<String, String> = FxHashMap::default();
        let mut codes: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (code, value) in &values {
            codes
                .entry(value)
                .or_default()
                .push(code.trim().to_string());
            back.entry(value.clone())
                .or_insert_with(|| code.trim().to_string());
        }
        let ambiguous = codes
            .into_iter()
            .filter(|(_, c)| c.len() > 1)
            .map(|(v, c)| (v.to_string(), c))
            .collect();
        let map = values
            .into_iter()
            .map(|(k, v)| {
                (
                    if case_sensitive {
                        k.trim().to_string()
                    } else {
                        k.trim().to_uppercase()
                    },
                    v,
                )
            })
            .collect();
        CodeSet {
            id: id.to_string(),
            description: None,
            case_sensitive,
            map,
            back,
            ambiguous,
        }
    }

    /// Settles which code is written for a canonical value that several
    /// codes read as; each entry must name a code of the set that reads as
    /// that value. Returns the entries that do not, as messages.
    pub fn with_write(&mut self, write: &BTreeMap<String, String>) -> Vec<String> {
        let mut bad = Vec::new();
        for (value, code) in write {
            if self.lookup(code) == Some(value.as_str()) {
                self.back.insert(value.clone(), code.clone());
                self.ambiguous.retain(|(v, _)| v != value);
            } else {
                bad.push(format!(
                    "`write`: code `{code}` does not read as `{value}` in code set `{}`",
                    self.id
                ));
            }
        }
        bad
    }

    /// The code written back for a canonical value.
    pub fn code_of(&self, value: &str) -> Option<&str> {
        self.back.get(value).map(String::as_str)
    }

    /// Canonical values several codes read as, with the codes, where the
    /// set does not say which is written (the first listed is).
    pub fn ambiguous(&self) -> &[(String, Vec<String>)] {
        &self.ambiguous
    }

    /// Loads a shared code set file.
    pub fn from_path(path: &Path) -> Result<CodeSet, Vec<Diagnostic>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![Diagnostic::new(
                path,
                None,
                format!("cannot read code set: {e}"),
            )]
        })?;
        CodeSet::from_str(path, &text)
    }

    /// Parses code set text; `path` names it in diagnostics.
    pub fn from_str(path: &Path, text: &str) -> Result<CodeSet, Vec<Diagnostic>> {
        let secrets = crate::diag::check_no_secrets(path, text);
        if !secrets.is_empty() {
            return Err(secrets);
        }
        let file: CodeSetFile =
            toml::from_str(text).map_err(|e| vec![toml_error(path, text, &e)])?;
        let mut set = CodeSet::new(&file.codeset.id, file.values, file.codeset.case_sensitive);
        set.description = file.codeset.description;
        let bad = set.with_write(&file.write);
        if !bad.is_empty() {
            return Err(bad
                .into_iter()
                .map(|m| Diagnostic::new(path, None, m))
                .collect());
        }
        if set.map.is_empty() {
            return Err(vec![Diagnostic::new(path, None, "code set has no values")]);
        }
        Ok(set)
    }

    /// The canonical value of a source code, if the code is in the set.
    pub fn lookup(&self, code: &str) -> Option<&str> {
        if self.case_sensitive {
            self.map.get(code).map(String::as_str)
        } else if code.bytes().any(|b| b.is_ascii_lowercase()) {
            self.map.get(&code.to_uppercase()).map(String::as_str)
        } else {
            self.map.get(code).map(String::as_str)
        }
    }

    /// Number of codes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ignores_case_unless_asked() {
        let values: BTreeMap<_, _> = [
            ("M".to_string(), "male".to_string()),
            ("F".into(), "female".into()),
        ]
        .into();
        let set = CodeSet::new("g", values.clone(), false);
        assert_eq!(set.lookup("m"), Some("male"));
        assert_eq!(set.lookup("X"), None);
        let strict = CodeSet::new("g", values, true);
        assert_eq!(strict.lookup("m"), None);
        assert_eq!(strict.lookup("M"), Some("male"));
    }
}
