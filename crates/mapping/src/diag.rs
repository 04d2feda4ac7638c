//! Diagnostics for mapping, template and code-set files: file, line and a
//! "did you mean" suggestion.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// The nearest known name, when one is close.
    pub suggestion: Option<String>,
}

impl Diagnostic {
    /// A diagnostic for `file` at `line`.
    pub fn new(file: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line,
            message: message.into(),
            suggestion: None,
        }
    }

    /// Adds the name among `known` nearest to `got`, if one is near.
    pub fn suggest<'a>(mut self, got: &str, known: impl IntoIterator<Item = &'a str>) -> Self {
        self.suggestion = did_you_mean(got, known);
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, " (did you mean `{s}`?)")?;
        }
        Ok(())
    }
}

/// The known name nearest to `got`, if it is near enough to be a typo.
pub fn did_you_mean<'a>(got: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let lower = got.to_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for k in known {
        let score = strsim::jaro_winkler(&lower, &k.to_lowercase());
        if score > best.map_or(0.0, |b| b.0) {
            best = Some((score, k));
        }
    }
    best.filter(|(s, _)| *s >= 0.8).map(|(_, k)| k.to_string())
}

/// Maps byte offsets of a file's text to 1-based lines.
#[derive(Debug)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes `text`.
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// The 1-based line of byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
}

/// Keys that hold secrets: refused in any configuration file.
const SECRET_KEYS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "secret",
    "api_key",
    "apikey",
    "bearer",
    "authorization",
    "client_secret",
    "access_key",
    "private_key",
    "credentials",
];

/// Whether a configuration key looks like it holds a secret (`password`,
/// `token`, `api_key`, `*_secret`, ...).
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SECRET_KEYS.contains(&k.as_str())
        || ["_token", "_password", "_secret", "_api_key"]
            .iter()
            .any(|s| k.ends_with(s))
}

/// Refuses secrets in a configuration file: every key that looks like a
/// token or password is a diagnostic telling how to pass it instead.
/// Secrets live in the environment only, never in files that get copied,
/// committed and attached to tickets.
pub fn check_no_secrets(path: &Path, text: &str) -> Vec<Diagnostic> {
    fn walk(v: &toml::Value, found: &mut Vec<String>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    if is_secret_key(k) {
                        found.push(k.clone());
                    }
                    walk(v, found);
                }
            }
            toml::Value::Array(a) => a.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let Ok(value) = text.parse::<toml::Value>() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    walk(&value, &mut found);
    let lines = LineIndex::new(text);
    found
        .into_iter()
        .map(|k| {
            let line = text
                .match_indices(k.as_str())
                .find(|(i, _)| {
                    text[..*i]
                        .rsplit('\n')
                        .next()
                        .is_some_and(|pre| pre.trim().is_empty())
                })
                .map(|(i, _)| lines.line(i));
            Diagnostic::new(
                path,
                line,
                format!(
                    "`{k}` looks like a secret; casebridge reads secrets only from the environment \
                     (an HTTP token from CASEBRIDGE_HTTP_TOKEN): remove it from this file"
                ),
            )
        })
        .collect()
}

/// Turns a TOML parse error into a diagnostic with its line, and for an
/// unknown key the nearest expected one.
pub fn toml_error(file: &Path, text: &str, err: &toml::de::Error) -> Diagnostic {
    let line = err.span().map(|s| LineIndex::new(text).line(s.start));
    let message = err.message().trim().to_string();
    let mut d = Diagnostic::new(file, line, message.clone());
    // serde: "unknown field `x`, expected one of `a`, `b`" (or "expected `a`").
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((got, expected)) = rest.split_once('`') {
            let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
            d = d.suggest(got, known);
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_a_near_name_only() {
        let known = ["first_name", "last_name", "date_of_birth"];
        assert_eq!(
            did_you_mean("frist_name", known).as_deref(),
            Some("first_name")
        );
        assert_eq!(did_you_mean("postcode", known), None);
    }

    #[test]
    fn unknown_keys_get_a_suggestion() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct S {
            glob: String,
            header_row: u64,
        }
        let text = "glob = 'x'\nheadr_row = 2\n";
        let err = toml::from_str::<S>(text)
            .err()
            .map(|e| toml_error(Path::new("m.toml"), text, &e));
        let d = err.expect("an error");
        assert_eq!(d.line, Some(2));
        assert_eq!(d.suggestion.as_deref(), Some("header_row"));
    }

    #[test]
    fn line_index_counts_from_one() {
        let idx = LineIndex::new("a\nbb\n\nc");
        assert_eq!(idx.line(0), 1);
        assert_eq!(idx.line(2), 2);
        assert_eq!(idx.line(5), 3);
        assert_eq!(idx.line(6), 4);
    }
}
