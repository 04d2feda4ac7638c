//! Decoding raw text and attribute values: the document's encoding, then
//! references.

use std::borrow::Cow;

/// The document's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Enc {
    Utf8,
    Windows1252,
}

/// Why a piece of text could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TextError {
    /// Bytes not valid in the encoding.
    Encoding,
    /// A reference to an entity nothing defines (or an invalid character reference).
    Entity(String),
    /// An `&` that starts no reference.
    Amp,
}

/// Longest entity name looked for after an `&`.
const MAX_ENTITY: usize = 40;

/// The bytes as text in `enc`.
pub(crate) fn decode(raw: &[u8], enc: Enc) -> Result<Cow<'_, str>, TextError> {
    match enc {
        Enc::Utf8 => std::str::from_utf8(raw)
            .map(Cow::Borrowed)
            .map_err(|_| TextError::Encoding),
        Enc::Windows1252 => Ok(encoding_rs::WINDOWS_1252.decode_without_bom_handling(raw).0),
    }
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':') || !c.is_ascii()
}

/// The character a character reference body (after `#`) stands for.
fn char_ref(body: &str) -> Option<char> {
    let code = match body.strip_prefix('x') {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u32::from_str_radix(hex, 16).ok()?
        }
        Some(_) => return None,
        None if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) => {
            body.parse::<u32>().ok()?
        }
        None => return None,
    };
    // XML's Char production.
    match code {
        0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF => {
            char::from_u32(code)
        }
        _ => None,
    }
}

/// Appends `text` to `out` with the predefined entities and character
/// references replaced.
pub(crate) fn unescape(text: &str, out: &mut String) -> Result<(), TextError> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    while let Some(j) = memchr::memchr(b'&', &bytes[pos..]) {
        let amp = pos + j;
        out.push_str(&text[pos..amp]);
        let after = amp + 1;
        let window = &bytes[after..bytes.len().min(after + MAX_ENTITY)];
        let Some(len) = window.iter().position(|&b| b == b';') else {
            return Err(TextError::Amp);
        };
        // `;` is ASCII, so `after..after + len` is on character boundaries.
        let name = &text[after..after + len];
        let c = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "apos" => '\'',
            "quot" => '"',
            _ => {
                if let Some(body) = name.strip_prefix('#') {
                    match char_ref(body) {
                        Some(c) => c,
                        None => return Err(TextError::Entity(name.to_string())),
                    }
                } else if !name.is_empty() && name.chars().all(is_name_char) {
                    return Err(TextError::Entity(name.to_string()));
                } else {
                    return Err(TextError::Amp);
                }
            }
        };
        out.push(c);
        pos = after + len + 1;
    }
    out.push_str(&text[pos..]);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn un(s: &str) -> Result<String, TextError> {
        let mut out = String::new();
        unescape(s, &mut out).map(|()| out)
    }

    #[test]
    fn predefined_entities_and_char_refs() {
        assert_eq!(
            un("a &lt;b&gt; &amp; &apos;c&quot; &#233;&#xE9;&#x1F600;").unwrap(),
            "a <b> & 'c\" éé😀"
        );
        assert_eq!(un("plain").unwrap(), "plain");
        assert_eq!(un("").unwrap(), "");
    }

    #[test]
    fn undefined_and_invalid_references() {
        assert_eq!(un("x &foo; y"), Err(TextError::Entity("foo".into())));
        assert_eq!(un("&#0;"), Err(TextError::Entity("#0".into())));
        assert_eq!(un("&#xD800;"), Err(TextError::Entity("#xD800".into())));
        assert_eq!(un("&#x110000;"), Err(TextError::Entity("#x110000".into())));
        assert_eq!(un("&#12a;"), Err(TextError::Entity("#12a".into())));
        assert_eq!(un("Tom & Jerry"), Err(TextError::Amp));
        assert_eq!(un("a &; b"), Err(TextError::Amp));
        assert_eq!(un("&"), Err(TextError::Amp));
        assert_eq!(un("é&é;"), Err(TextError::Entity("é".into())));
    }

    #[test]
    fn windows_1252() {
        assert_eq!(
            decode(b"Zo\xEB \x92", Enc::Windows1252).unwrap(),
            "Zoë \u{2019}"
        );
        assert_eq!(decode(b"Zo\xEB", Enc::Utf8), Err(TextError::Encoding));
    }
}
