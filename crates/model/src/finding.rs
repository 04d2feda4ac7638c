//! A finding: one rule broken at one place.

use crate::rules::{self, Severity};
use crate::Locator;
use serde::{Deserialize, Serialize};

/// One problem found, with where it is and which rule it breaks. Carries no
/// personal value unless `value` was filled on request (`--show-values`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Rule id, see [`crate::rules`].
    pub rule: String,
    /// Severity.
    pub severity: Severity,
    /// File name as given on the command line.
    pub file: String,
    /// 1-based physical line where the record starts (header = line 1);
    /// absent for findings about a whole file.
    pub line: Option<u64>,
    /// Where in the file beyond the line, for sources that are not CSV: the
    /// sheet and row of a spreadsheet, the element path and index of an XML
    /// record (e.g. `Message/Children/Child[12]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Source column(s), or the mapping field, concerned.
    pub field: Option<String>,
    /// Plain message, without personal values.
    pub message: String,
    /// The offending value: only with `--show-values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl Finding {
    /// A finding with the rule's default severity.
    pub fn new(
        rule: &str,
        file: &str,
        line: Option<u64>,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            rule: rule.to_string(),
            severity: rules::severity(rule),
            file: escape_controls(file),
            line,
            at: None,
            field: field.map(escape_controls),
            message: escape_controls(&message.into()),
            value: None,
        }
    }

    /// Sets the position within the file from a source locator, when the
    /// line alone does not say it (sheet rows, XML elements).
    pub fn at_locator(mut self, locator: Option<&Locator>) -> Finding {
        self.at = match locator {
            Some(Locator::SheetRow { sheet, row }) => Some(format!("sheet {sheet} row {row}")),
            Some(Locator::XmlPath { path, index, .. }) => Some(format!("{path}[{index}]")),
            _ => None,
        };
        self
    }

    /// Sets the value shown with `--show-values`.
    pub fn with_value(mut self, value: Option<String>) -> Finding {
        self.value = value;
        self
    }

    /// Whether it is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// `s` with control characters (a newline or an escape sequence in a file
/// name, a header cell) written as `\u{..}`, so that nothing printed can
/// move the cursor, clear the screen or forge a line of the report.
pub fn escape_controls(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_in_names_and_messages_are_escaped() {
        let f = Finding::new(
            crate::rules::FILE_UNREADABLE,
            "evil\n\u{1b}[2J.csv",
            None,
            Some("COL\r"),
            "cannot read\u{7}",
        );
        assert_eq!(f.file, "evil\\u{a}\\u{1b}[2J.csv");
        assert_eq!(f.field.as_deref(), Some("COL\\u{d}"));
        assert_eq!(f.message, "cannot read\\u{7}");
    }
}
