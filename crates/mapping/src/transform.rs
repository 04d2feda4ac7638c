//! Field transforms applied, in the order listed, to a value's text before it
//! is typed: `trim` (always done first anyway), `upper`, `lower`, `title`,
//! `collapse_spaces`, `digits_only`, `split_name_first`, `split_name_last`.
//!
//! The name splits read a full name as either `Last, First Middle` or
//! `First Middle Last`: `split_name_first` keeps the first given name,
//! `split_name_last` the family name.

/// One transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// Trim surrounding whitespace.
    Trim,
    /// Upper case.
    Upper,
    /// Lower case.
    Lower,
    /// Title case (`o'neill` -> `O'Neill`, `smith-jones` -> `Smith-Jones`).
    Title,
    /// Make every run of whitespace one space.
    CollapseSpaces,
    /// Keep only the digits.
    DigitsOnly,
    /// The given name of a full name.
    SplitNameFirst,
    /// The family name of a full name.
    SplitNameLast,
}

impl Transform {
    /// The names mapping files use.
    pub const NAMES: &'static [&'static str] = &[
        "trim",
        "upper",
        "lower",
        "title",
        "collapse_spaces",
        "digits_only",
        "split_name_first",
        "split_name_last",
    ];

    /// The name mapping files use.
    pub fn name(self) -> &'static str {
        match self {
            Transform::Trim => "trim",
            Transform::Upper => "upper",
            Transform::Lower => "lower",
            Transform::Title => "title",
            Transform::CollapseSpaces => "collapse_spaces",
            Transform::DigitsOnly => "digits_only",
            Transform::SplitNameFirst => "split_name_first",
            Transform::SplitNameLast => "split_name_last",
        }
    }

    /// Parses a transform name.
    pub fn parse(s: &str) -> Option<Transform> {
        Some(match s {
            "trim" => Transform::Trim,
            "upper" => Transform::Upper,
            "lower" => Transform::Lower,
            "title" => Transform::Title,
            "collapse_spaces" => Transform::CollapseSpaces,
            "digits_only" => Transform::DigitsOnly,
            "split_name_first" => Transform::SplitNameFirst,
            "split_name_last" => Transform::SplitNameLast,
            _ => return None,
        })
    }

    /// Applies the transform to `text` in place (`scratch` is a reusable buffer).
    pub fn apply(self, text: &mut String, scratch: &mut String) {
        scratch.clear();
        match self {
            Transform::Trim => scratch.push_str(text.trim()),
            Transform::Upper => {
                if !text.bytes().any(|b| b.is_ascii_lowercase() || b >= 0x80) {
                    return;
                }
                scratch.push_str(&text.to_uppercase());
            }
            Transform::Lower => scratch.push_str(&text.to_lowercase()),
            Transform::Title => {
                let mut start = true;
                for c in text.chars() {
                    if start {
                        scratch.extend(c.to_uppercase());
                    } else {
                        scratch.extend(c.to_lowercase());
                    }
                    start = !c.is_alphanumeric();
                }
            }
            Transform::CollapseSpaces => {
                for (i, word) in text.split_whitespace().enumerate() {
                    if i > 0 {
                        scratch.push(' ');
                    }
                    scratch.push_str(word);
                }
            }
            Transform::DigitsOnly => scratch.extend(text.chars().filter(char::is_ascii_digit)),
            Transform::SplitNameFirst | Transform::SplitNameLast => {
                let (first, last) = split_name(text);
                scratch.push_str(if self == Transform::SplitNameFirst {
                    first
                } else {
                    last
                });
            }
        }
        std::mem::swap(text, scratch);
    }
}

/// Splits a full name into (first given name, family name).
pub fn split_name(full: &str) -> (&str, &str) {
    let full = full.trim();
    if let Some((last, given)) = full.split_once(',') {
        let first = given.split_whitespace().next().unwrap_or("");
        return (first, last.trim());
    }
    let mut words = full.split_whitespace();
    let first = words.next().unwrap_or("");
    let last = full
        .split_whitespace()
        .last()
        .filter(|_| full.split_whitespace().count() > 1)
        .unwrap_or("");
    (first, last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(t: &str, s: &str) -> String {
        let mut text = s.to_string();
        let mut scratch = String::new();
        Transform::parse(t).unwrap().apply(&mut text, &mut scratch);
        text
    }

    #[test]
    fn transforms() {
        assert_eq!(run("upper", "zoë"), "ZOË");
        assert_eq!(run("lower", "ABC"), "abc");
        assert_eq!(run("title", "o'neill smith-JONES"), "O'Neill Smith-Jones");
        assert_eq!(run("collapse_spaces", " a  b\t c "), "a b c");
        assert_eq!(run("digits_only", "943 476-5919"), "9434765919");
        assert_eq!(run("split_name_first", "Amara Grace Okafor"), "Amara");
        assert_eq!(run("split_name_last", "Amara Grace Okafor"), "Okafor");
        assert_eq!(run("split_name_first", "Okafor, Amara Grace"), "Amara");
        assert_eq!(run("split_name_last", "Okafor, Amara"), "Okafor");
        assert_eq!(run("split_name_last", "Cher"), "");
        assert!(Transform::parse("uppercase").is_none());
    }
}
