//! The options of a JSON Lines source, and what this adapter reads
//! ([`DESCRIPTOR`]).
//!
//! Canonical JSON Lines carry their own meaning (every line names its kind
//! and holds canonical fields), so [`JsonlOptions`] takes no keys: the run
//! says which kind a part reads and which part reports unreadable lines.

use casebridge_model::{ConfigProblem, FormatDescriptor, RecordKind};
use serde::{Deserialize, Serialize};

use crate::{JsonlSourceConfig, EXTENSIONS};

/// What the JSON Lines adapter reads.
pub const DESCRIPTOR: FormatDescriptor = FormatDescriptor {
    name: "jsonl",
    aliases: &["ndjson"],
    extensions: EXTENSIONS,
    unsupported: &[],
    summary: "canonical records as JSON Lines (what `--out` writes), one record a line",
    magic: &[b"{"],
    binary: false,
    keys: &[],
    refuses: &[],
};

/// How to read a JSON Lines source: nothing to choose.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonlOptions {}

impl JsonlOptions {
    /// The configuration (there is only one).
    pub fn example() -> Self {
        JsonlOptions {}
    }

    /// Every problem with these options (there can be none).
    pub fn check(&self) -> Vec<ConfigProblem> {
        Vec::new()
    }

    /// The reader's configuration for the part reading `kind`.
    pub fn source_config(
        &self,
        kind: RecordKind,
        report_unreadable: bool,
        max_record_bytes: usize,
    ) -> JsonlSourceConfig {
        JsonlSourceConfig {
            kind,
            report_unreadable,
            max_record_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_example_round_trips_through_toml() {
        let ex = JsonlOptions::example();
        let text = toml::to_string(&ex).unwrap();
        assert_eq!(toml::from_str::<JsonlOptions>(&text).unwrap(), ex);
        assert!(toml::from_str::<JsonlOptions>("delimiter = \",\"").is_err());
        assert!(DESCRIPTOR.fits_magic(b"\n{\"kind\":"));
    }
}
