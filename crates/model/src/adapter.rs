//! What every source adapter declares about itself, and the shape of the
//! problems its configuration checks report.
//!
//! Each adapter crate exports a `const DESCRIPTOR: FormatDescriptor` (name,
//! extensions, one-line summary, magic bytes, the `[source]` keys its options
//! take) and a `check()` on its options that returns [`ConfigProblem`]s. The
//! mapping layer turns those into diagnostics with the mapping file's lines;
//! adapters never see a mapping.

use serde::de::{self, Deserialize, Deserializer};
use serde::{Serialize, Serializer};

use crate::Encoding;

/// What a source adapter reads, for listing and auto-detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatDescriptor {
    /// The format's name, as a mapping's `format` gives it (`csv`, `xlsx`, ...).
    pub name: &'static str,
    /// Other spellings `format` accepts (`tsv`, `excel`, ...).
    pub aliases: &'static [&'static str],
    /// File extensions (lower case, no dot) read by this adapter.
    pub extensions: &'static [&'static str],
    /// Extensions of neighbouring formats this adapter refuses by name
    /// (`xls`, `ods`, ...): such a file is never read by any adapter.
    pub unsupported: &'static [&'static str],
    /// One line on what it reads.
    pub summary: &'static str,
    /// Leading bytes of a file in this format, when it has any; a file
    /// starting with none of them is not in this format. Text formats are
    /// matched after a UTF-8 byte-order mark and ASCII whitespace.
    pub magic: &'static [&'static [u8]],
    /// Whether `magic` is matched on the first bytes exactly (binary formats)
    /// rather than after a BOM and whitespace.
    pub binary: bool,
    /// The `[source]` keys its options take.
    pub keys: &'static [&'static str],
    /// Keys other adapters take that this one refuses with a reason of its
    /// own (e.g. XML: `encoding`, "an XML file declares its encoding in its
    /// prolog").
    pub refuses: &'static [(&'static str, &'static str)],
}

impl FormatDescriptor {
    /// Whether `name` (any case) is this format's name or an alias.
    pub fn is_named(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }

    /// Whether `head`, the first bytes of a file, fits this format's magic
    /// bytes (always, for a format without any).
    pub fn fits_magic(&self, head: &[u8]) -> bool {
        if self.magic.is_empty() {
            return true;
        }
        let head = if self.binary {
            head
        } else {
            let h = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
            let start = h
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .unwrap_or(h.len());
            &h[start..]
        };
        self.magic.iter().any(|m| head.starts_with(m))
    }
}

/// One problem with an adapter's options. Says what is wrong, never quoting a
/// data file's values (option values are configuration, not data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The `[source]` key it is about, when one is.
    pub key: Option<&'static str>,
    /// What is wrong, in lower case.
    pub message: String,
}

impl ConfigProblem {
    /// A problem with `key`.
    pub fn at(key: &'static str, message: impl Into<String>) -> Self {
        ConfigProblem {
            key: Some(key),
            message: message.into(),
        }
    }
}

impl Serialize for Encoding {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Windows1252 => "windows-1252",
            Encoding::Auto => "auto",
        })
    }
}

impl<'de> Deserialize<'de> for Encoding {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Encoding::parse(&s).ok_or_else(|| de::Error::unknown_variant(&s, Encoding::NAMES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const XMLISH: FormatDescriptor = FormatDescriptor {
        name: "xml",
        aliases: &[],
        extensions: &["xml"],
        unsupported: &[],
        summary: "",
        magic: &[b"<"],
        binary: false,
        keys: &[],
        refuses: &[],
    };

    #[test]
    fn text_magic_skips_a_bom_and_whitespace() {
        assert!(XMLISH.fits_magic(b"\xEF\xBB\xBF \n<?xml"));
        assert!(!XMLISH.fits_magic(b"PK\x03\x04"));
        assert!(XMLISH.is_named("XML"));
    }

    #[test]
    fn encodings_read_as_mapping_files_spell_them() {
        let e: Encoding = serde_json::from_str("\"UTF-8\"").unwrap();
        assert_eq!(e, Encoding::Utf8);
        let err = serde_json::from_str::<Encoding>("\"utf-9\"").unwrap_err();
        assert!(
            err.to_string().starts_with("unknown variant `utf-9`"),
            "{err}"
        );
    }
}
