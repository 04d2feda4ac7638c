//! Where a canonical record came from: which run, which file (by SHA-256),
//! which place in it, which mapping, and the hash of the content it became.

use serde::{Deserialize, Serialize};

use crate::Locator;

/// A SHA-256 digest, serialised as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        self.hex_str(&mut [0; 64]).to_string()
    }

    /// Lowercase hex into `buf`, borrowed (no allocation: every record's
    /// provenance serialises two or three of these).
    pub fn hex_str<'b>(&self, buf: &'b mut [u8; 64]) -> &'b str {
        crate::hash::hex_into(&self.0, buf)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Sha256(out))
    }

    /// The digest of `bytes`.
    pub fn digest(bytes: &[u8]) -> Self {
        use sha2::Digest;
        Sha256(sha2::Sha256::digest(bytes).into())
    }
}

impl std::fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sha256({})", self.hex_str(&mut [0; 64]))
    }
}

impl std::fmt::Display for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.hex_str(&mut [0; 64]))
    }
}

impl Serialize for Sha256 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.hex_str(&mut [0; 64]))
    }
}

impl<'de> Deserialize<'de> for Sha256 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Sha256::from_hex(&s).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

/// The source of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRef {
    /// Source system, e.g. `mosaic`.
    pub system: String,
    /// File name (or URL for HTTP sources).
    pub file: String,
    /// SHA-256 of the whole file as read.
    pub sha256: Sha256,
}

/// The mapping that made a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingRef {
    /// Mapping id.
    pub id: String,
    /// Mapping version.
    pub version: String,
    /// SHA-256 of the mapping file's bytes.
    pub sha256: Sha256,
}

/// The provenance of one canonical record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The run that produced it.
    pub run_id: String,
    /// Where it was read.
    pub source: SourceRef,
    /// The place inside the source.
    pub locator: Locator,
    /// The mapping used.
    pub mapping: MappingRef,
    /// SHA-256 of the canonical content (see [`crate::content_sha256`]).
    pub content_sha256: Sha256,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_round_trips_through_hex_and_json() {
        let d = Sha256::digest(b"abc");
        assert_eq!(
            d.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Sha256>(&json).unwrap(), d);
        assert!(Sha256::from_hex("xyz").is_none());
    }
}
