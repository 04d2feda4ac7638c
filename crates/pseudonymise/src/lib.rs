//! Keyed pseudonyms for test extracts: identifiers, names, national numbers,
//! postcodes, addresses and date offsets, all derived with HMAC-SHA256 from a
//! secret key, so the same value gets the same pseudonym in every file and
//! every run with that key, and nothing maps back without it.

#![forbid(unsafe_code)]

mod scrub;

pub use scrub::{fold, scrub, Dictionary, DATE_PLACEHOLDER, EMAIL_PLACEHOLDER};

use casebridge_model::ids::{nhs_check_digit, upn_check_letter};
use casebridge_model::{Check, FieldDef, FieldType};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What pseudonymisation does to a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Treatment {
    /// Kept as it is (codes, flags, numbers, public text).
    Keep,
    /// Dates shifted by the record's person's offset.
    Date,
    /// Free text with the names and numbers of the record's people replaced.
    FreeText,
    /// Replaced by a keyed pseudonym of the same shape.
    Identifier,
    /// A first or middle name.
    FirstName,
    /// A family name.
    LastName,
    /// A full name.
    FullName,
    /// An NHS number (a valid one in the 999 test range).
    Nhs,
    /// A UPN (valid check letter).
    Upn,
    /// A postcode (valid shape).
    Postcode,
    /// An address line (synthetic).
    Address,
}

impl Treatment {
    /// The treatment of a canonical field.
    pub fn of(def: &FieldDef) -> Treatment {
        match def.name {
            "first_name" | "middle_names" => return Treatment::FirstName,
            "last_name" => return Treatment::LastName,
            "full_name" => return Treatment::FullName,
            "address" => return Treatment::Address,
            _ => {}
        }
        for c in def.checks {
            match c {
                Check::NhsNumber => return Treatment::Nhs,
                Check::Upn => return Treatment::Upn,
                Check::Postcode => return Treatment::Postcode,
                _ => {}
            }
        }
        if def.is_key
            || def.ty == FieldType::PersonRef
            || def.name.ends_with("_id")
            || matches!(
                def.name,
                "source_record" | "row_id" | "author" | "worker" | "other_id"
            )
        {
            return Treatment::Identifier;
        }
        match def.ty {
            FieldType::Date | FieldType::DateTime => Treatment::Date,
            FieldType::Text if def.is_personal => Treatment::FreeText,
            _ => Treatment::Keep,
        }
    }
}

const FIRST: &[&str] = &[
    "Alex", "Bailey", "Casey", "Dana", "Eden", "Finley", "Gray", "Harper", "Indy", "Jules", "Kai",
    "Lane", "Morgan", "Noel", "Oakley", "Parker", "Quinn", "Reese", "Sage", "Taylor", "Umber",
    "Vale", "Wren", "Xen", "Yael", "Zephyr", "Arden", "Blair", "Cody", "Drew", "Ellis", "Frankie",
    "Glen", "Hollis", "Ira", "Jody", "Kendall", "Lou", "Marlo", "Nico", "Ollie", "Peyton", "Remy",
    "Robin", "Shay", "Toby", "Val", "Winter", "Ash", "Bryn", "Charlie", "Dale", "Emery", "Fran",
    "Hayden", "Jamie", "Kit", "Lee", "Max", "Noor", "Pat", "Rory", "Sam", "Tate", "Ziggy",
];

const LAST: &[&str] = &[
    "Ashdown",
    "Birchley",
    "Coldwell",
    "Dunmore",
    "Elmstead",
    "Fernhill",
    "Gorsley",
    "Hartwell",
    "Ivybridge",
    "Juniper",
    "Kestrel",
    "Larkfield",
    "Marshall",
    "Northcott",
    "Oakridge",
    "Pennant",
    "Quarry",
    "Redfern",
    "Stonebridge",
    "Thornbury",
    "Underhill",
    "Vaughan",
    "Westbrook",
    "Yardley",
    "Alder",
    "Brackley",
    "Cresswell",
    "Dovedale",
    "Eastleigh",
    "Foxley",
    "Greenway",
    "Hazelwood",
    "Inchley",
    "Kingsley",
    "Lockwood",
    "Millbrook",
    "Netherby",
    "Orchard",
    "Pembury",
    "Rowntree",
    "Sandford",
    "Tamworth",
    "Upton",
    "Wexley",
    "Ambleside",
    "Burnside",
    "Calder",
    "Denholm",
];

const STREETS: &[&str] = &[
    "Acacia", "Beech", "Cedar", "Chestnut", "Elm", "Hawthorn", "Holly", "Laurel", "Maple", "Oak",
    "Poplar", "Rowan", "Sycamore", "Willow", "Yew", "Linden", "Alder", "Aspen", "Hazel", "Juniper",
];
const SUFFIXES: &[&str] = &[
    "Road", "Street", "Close", "Avenue", "Lane", "Way", "Gardens", "Crescent",
];
const TOWNS: &[&str] = &[
    "Testbury",
    "Sampleton",
    "Exampleford",
    "Mockley",
    "Fictonby",
    "Dummerton",
];

/// Derives pseudonyms from a secret key.
pub struct Pseudonymiser {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.write_str("Pseudonymiser { .. }")
    }
}

fn title_case(s: &str) -> bool {
    s.chars().next().is_some_and(char::is_uppercase) && s.chars().skip(1).all(|c| !c.is_uppercase())
}

impl Pseudonymiser {
    /// The least key length accepted, in bytes.
    pub const MIN_KEY_BYTES: usize = 16;

    /// A pseudonymiser for a key of at least [`Pseudonymiser::MIN_KEY_BYTES`].
    pub fn new(key: &[u8]) -> Option<Pseudonymiser> {
        if key.len() < Self::MIN_KEY_BYTES {
            return None;
        }
        Hmac::<Sha256>::new_from_slice(key)
            .ok()
            .map(|mac| Pseudonymiser { mac })
    }

    fn digest(&self, domain: &str, value: &str) -> [u8; 32] {
        let mut m = self.mac.clone();
        m.update(domain.as_bytes());
        m.update(&[0]);
        m.update(value.as_bytes());
        m.finalize().into_bytes().into()
    }

    fn number(&self, domain: &str, value: &str) -> u64 {
        let d = self.digest(domain, value);
        u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
    }

    fn pick<'a>(&self, domain: &str, value: &str, list: &[&'a str]) -> &'a str {
        list[(self.number(domain, value) % list.len() as u64) as usize]
    }

    /// An identifier's pseudonym, of the same length and shape: each digit
    /// stays a digit, each ASCII letter a letter of the same case, anything
    /// else (hyphens, spaces) stays as it is, and leading zeros stay (the
    /// first other digit is not made a zero), so "100001" becomes another
    /// six-digit number and "WKR-7" another three letters, a hyphen and a
    /// digit. It is a keyed permutation of the identifiers of that shape
    /// (a Feistel network with cycle walking), so two identifiers never get
    /// one pseudonym however small their space; 0 and negative numbers
    /// (Mosaic's "every subject") are kept, and each part of a list
    /// ("12,15;18") is treated on its own.
    pub fn identifier(&self, value: &str) -> String {
        let v = value.trim();
        if v.is_empty() || v.parse::<i64>().is_ok_and(|n| n <= 0) {
            return v.to_string();
        }
        if v.contains([',', ';']) {
            let mut out = String::with_capacity(v.len());
            let mut part = String::new();
            for c in v.chars().chain(std::iter::once(',')) {
                if c == ',' || c == ';' {
                    let lead = part.len() - part.trim_start().len();
                    let trail = part.len() - part.trim_end().len();
                    out.push_str(&part[..lead]);
                    out.push_str(&self.identifier(&part));
                    out.push_str(&part[part.len() - trail..]);
                    out.push(c);
                    part.clear();
                } else {
                    part.push(c);
                }
            }
            out.pop();
            return out;
        }
        self.shaped(v)
    }

    fn shaped(&self, v: &str) -> String {
        // (position in chars, radix, offset of the first symbol).
        let chars: Vec<char> = v.chars().collect();
        let mut slots: Vec<(usize, u32, u8)> = Vec::new();
        let mut leading = true;
        for (i, c) in chars.iter().enumerate() {
            let slot = match c {
                '0' if leading => None,
                '1'..='9' if leading => Some((9, b'1')),
                '0'..='9' => Some((10, b'0')),
                'A'..='Z' => Some((26, b'A')),
                'a'..='z' => Some((26, b'a')),
                _ => None,
            };
            if let Some((radix, base)) = slot {
                leading = false;
                slots.push((i, radix, base));
            } else if c.is_alphanumeric() && !(leading && *c == '0') {
                leading = false;
            }
        }
        let space = slots
            .iter()
            .try_fold(1u128, |n, s| n.checked_mul(u128::from(s.1)))
            .filter(|n| *n <= 1 << 126);
        let mut out = chars.clone();
        let symbols: Vec<u32> = match space {
            Some(n) => {
                let mut x = 0u128;
                for (i, radix, base) in &slots {
                    x = x * u128::from(*radix) + u128::from(chars[*i] as u32 - u32::from(*base));
                }
                let mut y = self.permute(x, n);
                let mut digits = vec![0u32; slots.len()];
                for (d, (_, radix, _)) in digits.iter_mut().zip(&slots).rev() {
                    *d = (y % u128::from(*radix)) as u32;
                    y /= u128::from(*radix);
                }
                digits
            }
            // Too long for the permutation: a keyed digest per position,
            // of a space so large that two values never meet.
            None => {
                let mut stream = Vec::new();
                let mut round = 0u32;
                while stream.len() < slots.len() * 2 {
                    stream.extend(self.digest("id-long", &format!("{round}:{v}")));
                    round += 1;
                }
                slots
                    .iter()
                    .enumerate()
                    .map(|(k, (_, radix, _))| {
                        (u32::from(stream[2 * k]) << 8 | u32::from(stream[2 * k + 1])) % radix
                    })
                    .collect()
            }
        };
        for ((i, _, base), d) in slots.iter().zip(symbols) {
            out[*i] = char::from(*base + d as u8);
        }
        out.into_iter().collect()
    }

    /// A keyed permutation of `0..n`: a balanced Feistel network on the
    /// least even number of bits holding `n`, walked until it lands in range.
    fn permute(&self, x: u128, n: u128) -> u128 {
        let bits = (128 - (n - 1).leading_zeros()).max(2);
        let bits = bits + bits % 2;
        let half = bits / 2;
        let mask: u128 = (1u128 << half) - 1;
        let mut y = x;
        loop {
            let (mut l, mut r) = (y >> half, y & mask);
            for round in 0u8..8 {
                let mut m = self.mac.clone();
                m.update(b"id-feistel\0");
                m.update(&[round]);
                m.update(&n.to_le_bytes());
                m.update(&r.to_le_bytes());
                let d = m.finalize().into_bytes();
                let mut f = [0u8; 16];
                f.copy_from_slice(&d[..16]);
                let f = u128::from_le_bytes(f) & mask;
                (l, r) = (r, l ^ f);
            }
            y = (l << half) | r;
            if y < n {
                return y;
            }
        }
    }

    /// A keyed string of digits as long as `value`.
    pub fn digits(&self, value: &str) -> String {
        let d = self.digest("digits", value);
        (0..value.len())
            .map(|i| char::from(b'0' + d[i % 32] % 10))
            .collect()
    }

    /// A first name's pseudonym (same case style).
    pub fn first_name(&self, value: &str) -> String {
        self.name("first", value, FIRST)
    }

    /// A family name's pseudonym (same case style).
    pub fn last_name(&self, value: &str) -> String {
        self.name("last", value, LAST)
    }

    fn name(&self, domain: &str, value: &str, list: &[&str]) -> String {
        let v = value.trim();
        if v.is_empty() {
            return String::new();
        }
        // Folded, so that "José" and "Jose" get one pseudonym.
        let pick = self.pick(domain, &fold(v), list);
        if v.chars().all(|c| !c.is_lowercase()) && v.chars().count() > 1 {
            pick.to_uppercase()
        } else if title_case(v) || v.chars().next().is_some_and(char::is_uppercase) {
            pick.to_string()
        } else {
            pick.to_lowercase()
        }
    }

    /// A full name's pseudonym: first words as first names, the last as a family name.
    pub fn full_name(&self, value: &str) -> String {
        let words: Vec<&str> = value.split_whitespace().collect();
        match words.as_slice() {
            [] => String::new(),
            [one] => self.first_name(one),
            [init @ .., last] => {
                let mut out: Vec<String> = init.iter().map(|w| self.first_name(w)).collect();
                out.push(self.last_name(last));
                out.join(" ")
            }
        }
    }

    /// A valid NHS number in the 999 test range.
    pub fn nhs(&self, value: &str) -> String {
        let v: String = value.chars().filter(char::is_ascii_digit).collect();
        for attempt in 0u32.. {
            let n = self.number("nhs", &format!("{v}:{attempt}"));
            let mut nine = [9u8, 9, 9, 0, 0, 0, 0, 0, 0];
            for (i, d) in nine[3..].iter_mut().enumerate() {
                *d = ((n / 10u64.pow(i as u32)) % 10) as u8;
            }
            if let Some(check) = nhs_check_digit(&nine) {
                let mut s: String = nine.iter().map(|d| char::from(b'0' + d)).collect();
                s.push(char::from(b'0' + check));
                return s;
            }
        }
        unreachable!("some attempt has a check digit")
    }

    /// A UPN with a valid check letter.
    pub fn upn(&self, value: &str) -> String {
        let n = self.number("upn", value.trim());
        let body: Vec<u8> = (0..12)
            .map(|i| b'0' + ((n >> (i * 4)) % 10) as u8)
            .collect();
        let letter = upn_check_letter(&body).unwrap_or(b'A');
        let mut s = String::with_capacity(13);
        s.push(char::from(letter));
        s.extend(body.iter().map(|b| char::from(*b)));
        s
    }

    /// A postcode of valid shape.
    pub fn postcode(&self, value: &str) -> String {
        const AREA: &[u8] = b"ABDEFGHJKLMNPRSTWY";
        const INWARD: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
        let n = self.number("postcode", &value.trim().to_uppercase().replace(' ', ""));
        let at =
            |list: &[u8], shift: u32| char::from(list[((n >> shift) % list.len() as u64) as usize]);
        format!(
            "{}{}{} {}{}{}",
            at(AREA, 0),
            at(AREA, 5),
            1 + (n >> 10) % 9,
            (n >> 14) % 10,
            at(INWARD, 18),
            at(INWARD, 23)
        )
    }

    /// A synthetic address line.
    pub fn address(&self, value: &str) -> String {
        let v = value.trim();
        if v.is_empty() {
            return String::new();
        }
        let n = self.number("address", v);
        format!(
            "{} {} {}, {}",
            1 + n % 199,
            self.pick("street", v, STREETS),
            self.pick("suffix", v, SUFFIXES),
            self.pick("town", v, TOWNS)
        )
    }

    /// A synthetic house number and street ("12 Rowan Close"), for an
    /// address written in free text.
    pub fn street_line(&self, value: &str) -> String {
        let v = value.trim();
        format!(
            "{} {} {}",
            1 + self.number("address", v) % 199,
            self.pick("street", v, STREETS),
            self.pick("suffix", v, SUFFIXES)
        )
    }

    /// The number of days a person's dates move: 1 to 365 days back, so no
    /// date moves into the future and intervals within a person hold.
    pub fn date_offset_days(&self, person: &str) -> i64 {
        -1 - (self.number("date", person.trim()) % 365) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use casebridge_model::ids::{is_valid_nhs_number, is_valid_postcode, is_valid_upn};

    fn p(key: &str) -> Pseudonymiser {
        Pseudonymiser::new(key.as_bytes()).unwrap()
    }

    #[test]
    fn pseudonyms_are_keyed_consistent_and_well_formed() {
        let a = p("0123456789abcdef-key-a");
        let b = p("0123456789abcdef-key-b");
        assert_eq!(a.identifier("100001"), a.identifier(" 100001 "));
        assert_ne!(a.identifier("100001"), b.identifier("100001"));
        assert_eq!(a.identifier("0"), "0");
        for v in ["9434765919", "9998824354", ""] {
            assert!(is_valid_nhs_number(&a.nhs(v)));
            assert!(a.nhs(v).starts_with("999"));
        }
        assert!(is_valid_upn(&a.upn("N874247221993")));
        for v in ["LU1 3AB", "SW1A 1AA", "x"] {
            assert!(is_valid_postcode(&a.postcode(v)), "{}", a.postcode(v));
        }
        let off = a.date_offset_days("100001");
        assert!((-365..=-1).contains(&off));
        assert!(Pseudonymiser::new(b"short").is_none());
        assert_eq!(format!("{a:?}"), "Pseudonymiser { .. }");
    }

    #[test]
    fn names_keep_case_style_and_full_names_agree_with_parts() {
        let a = p("0123456789abcdef-key-a");
        let first = a.first_name("Donna");
        assert_eq!(a.first_name("DONNA"), first.to_uppercase());
        assert_eq!(
            a.full_name("Donna Jackson"),
            format!("{first} {}", a.last_name("Jackson"))
        );
    }

    #[test]
    fn scrub_replaces_known_names_and_long_numbers() {
        let a = p("0123456789abcdef-key-a");
        let mut names = Dictionary::default();
        names.add_person(&a, &["Donna"], &["O’Neill"]);
        let text = "Donna O’Neill said DONNA’s NHS number is 9434765919 (or 9434765918); \
                    Donnas and 12345678 stay.";
        let out = scrub(&a, text, &names);
        assert!(!out.contains("Donna ") && !out.contains("Neill") && !out.contains("DONNA"));
        assert!(!out.contains("9434765919") && !out.contains("9434765918"));
        assert!(out.contains(&a.nhs("9434765919")));
        assert!(out.contains("Donnas") && out.contains("12345678"));
        assert!(out.contains(&format!(
            "{} O’{}",
            a.first_name("Donna"),
            a.last_name("Neill")
        )));
    }

    #[test]
    fn identifiers_keep_their_length_and_shape() {
        let a = p("0123456789abcdef-key-a");
        let shape = |s: &str| -> String {
            s.chars()
                .map(|c| match c {
                    '0'..='9' => '9',
                    'A'..='Z' => 'A',
                    'a'..='z' => 'a',
                    c => c,
                })
                .collect()
        };
        for v in ["100001", "WKR-7", "ab12-CD", "007", "S-000123", "9", "x"] {
            let id = a.identifier(v);
            assert_eq!(shape(&id), shape(v), "{v} -> {id}");
            assert_ne!(id, v, "{v}");
        }
        assert!(a.identifier("007").starts_with("00"));
        assert!(!a.identifier("100001").starts_with('0'));
        let long = "1".repeat(60);
        assert_eq!(a.identifier(&long).len(), 60);
        assert_eq!(
            a.identifier("12, 15;18"),
            format!(
                "{}, {};{}",
                a.identifier("12"),
                a.identifier("15"),
                a.identifier("18")
            )
        );
    }

    #[test]
    fn identifiers_of_a_small_space_never_share_a_pseudonym() {
        // Every four-digit id without a leading zero: a permutation of them.
        let a = p("0123456789abcdef-key-a");
        let ids: std::collections::BTreeSet<String> = (1000..10000)
            .map(|n| a.identifier(&n.to_string()))
            .collect();
        assert_eq!(ids.len(), 9000);
        assert!(ids.iter().all(|i| i.len() == 4 && !i.starts_with('0')));
    }
}
