//! The options of an XML source, as a mapping's `[source]` table gives them,
//! and what this adapter reads ([`DESCRIPTOR`]).
//!
//! [`XmlOptions`] is serde data; [`XmlOptions::source_config`] adds the
//! fields a mapping reads and the run's limits to make the
//! [`XmlSourceConfig`] that opens an [`XmlSource`](crate::XmlSource). The
//! path grammar is the reader's own ([`XmlOptions::check`] and
//! [`XmlOptions::check_field`] compile paths exactly as opening does), so a
//! path that loads is a path that reads.

use casebridge_model::{ConfigProblem, FormatDescriptor};
use serde::{Deserialize, Serialize};

use crate::{paths, Error, XmlLimits, XmlSourceConfig};

/// What the XML adapter reads.
pub const DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    name: "xml",
    aliases: &[],
    extensions: &["xml"],
    unsupported: &[],
    summary: "XML exports (the CIN Census and the like): one record per element at `record`",
    magic: &[b"<"],
    binary: false,
    keys: &["record"],
    refuses: &[(
        "encoding",
        "an XML file declares its encoding in its prolog",
    )],
};

/// How to read an XML source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XmlOptions {
    /// The element path of one record, from the root element, e.g.
    /// `Message/Children/Child` (a leading `/` is allowed). Element names
    /// match on their local part (namespace prefixes are ignored).
    #[serde(default)]
    pub record: String,
}

impl XmlOptions {
    /// A typical configuration (a CIN Census return read child by child).
    pub fn example() -> Self {
        XmlOptions {
            record: "Message/Children/Child".into(),
        }
    }

    /// Every problem with these options.
    pub fn check(&self) -> Vec<ConfigProblem> {
        if self.record.trim().is_empty() {
            return vec![ConfigProblem::at(
                "record",
                "an xml source needs `record`, the element path of one record, \
                 e.g. \"Message/Children/Child\"",
            )];
        }
        match paths::record_segments(&self.record) {
            Ok(_) => Vec::new(),
            Err(e) => vec![ConfigProblem::at(
                "record",
                format!("bad element path `{}`: {}", e.path(), e.reason()),
            )],
        }
    }

    /// The record path without its leading or trailing `/`.
    pub fn record_path(&self) -> &str {
        self.record.trim().trim_matches('/')
    }

    /// Checks one field path against the record path, with the grammar the
    /// reader compiles (so `../` cannot climb above the root, and an
    /// attribute must end a path).
    pub fn check_field(&self, field: &str) -> Result<(), Error> {
        paths::Plan::compile(&self.record, &[field.to_string()]).map(|_| ())
    }

    /// The reader's configuration for these options, the `fields` a mapping
    /// reads, and the run's `limits`.
    pub fn source_config(&self, fields: Vec<String>, limits: XmlLimits) -> XmlSourceConfig {
        XmlSourceConfig {
            record_path: self.record.clone(),
            fields,
            limits,
            ..XmlSourceConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_example_round_trips_through_toml() {
        let ex = XmlOptions::example();
        let text = toml::to_string(&ex).unwrap();
        assert_eq!(toml::from_str::<XmlOptions>(&text).unwrap(), ex);
        let keys: Vec<String> = text
            .parse::<toml::Table>()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, DESCRIPTOR.keys);
        assert!(ex.check().is_empty());
    }

    #[test]
    fn record_is_needed_and_checked() {
        let msg = |o: XmlOptions| o.check().pop().map(|p| p.message).unwrap_or_default();
        assert!(msg(XmlOptions::default()).contains("needs `record`"));
        let bad = XmlOptions {
            record: "Message/@id".into(),
        };
        assert!(msg(bad).contains("not an attribute"));
        let ok = XmlOptions {
            record: "/Message/Children/Child/".into(),
        };
        assert!(ok.check().is_empty());
        assert_eq!(ok.record_path(), "Message/Children/Child");
    }

    #[test]
    fn field_paths_are_checked_against_the_record_depth() {
        let o = XmlOptions::example();
        assert!(o.check_field("../../X").is_ok());
        assert!(o.check_field("../../../../X").is_err());
        assert!(o.check_field("/@x").is_err());
    }
}
