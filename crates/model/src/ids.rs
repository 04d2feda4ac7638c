//! National identifiers: NHS number (Modulus 11) and the DfE Unique Pupil
//! Number (check letter first), and UK postcodes.
//!
//! These are pure functions so that the validator and the synthetic export
//! generator agree on them.

/// The check-letter alphabet of the UPN: A-Z without I, O and S.
pub const UPN_LETTERS: &[u8; 23] = b"ABCDEFGHJKLMNPQRTUVWXYZ";

/// The Modulus 11 check digit for the first nine digits of an NHS number,
/// or `None` when the remainder makes the number impossible (check value 10).
pub fn nhs_check_digit(first_nine: &[u8; 9]) -> Option<u8> {
    let sum: u32 = first_nine
        .iter()
        .zip((2..=10).rev())
        .map(|(d, w)| u32::from(*d) * w)
        .sum();
    match 11 - (sum % 11) {
        11 => Some(0),
        10 => None,
        c => Some(c as u8),
    }
}

/// Whether `s` is a valid NHS number: ten digits (spaces or dashes between
/// groups allowed, as `943 476 5919`) whose last digit is the Modulus 11
/// check digit of the first nine.
pub fn is_valid_nhs_number(s: &str) -> bool {
    let mut digits = [0u8; 10];
    let mut n = 0;
    for b in s.trim().bytes() {
        match b {
            b'0'..=b'9' => {
                if n == 10 {
                    return false;
                }
                digits[n] = b - b'0';
                n += 1;
            }
            b' ' | b'-' => {}
            _ => return false,
        }
    }
    if n != 10 {
        return false;
    }
    let mut nine = [0u8; 9];
    nine.copy_from_slice(&digits[..9]);
    nhs_check_digit(&nine) == Some(digits[9])
}

fn upn_char_value(b: u8, last: bool) -> Option<u32> {
    match b {
        b'0'..=b'9' => Some(u32::from(b - b'0')),
        // A temporary UPN ends in a letter, valued by its place in the alphabet.
        _ if last => UPN_LETTERS.iter().position(|l| *l == b).map(|p| p as u32),
        _ => None,
    }
}

/// The DfE check letter for characters 2 to 13 of a UPN (weights 2 to 13,
/// sum modulo 23, indexing [`UPN_LETTERS`]), or `None` if they are not UPN
/// characters.
pub fn upn_check_letter(rest: &[u8]) -> Option<u8> {
    if rest.len() != 12 {
        return None;
    }
    let mut sum = 0;
    for (i, b) in rest.iter().enumerate() {
        sum += upn_char_value(*b, i == 11)? * (i as u32 + 2);
    }
    Some(UPN_LETTERS[(sum % 23) as usize])
}

/// Whether `s` is a valid UPN: 13 characters, a check letter then eleven
/// digits and a digit or letter, the check letter matching.
pub fn is_valid_upn(s: &str) -> bool {
    let b = s.trim().as_bytes();
    b.len() == 13 && upn_check_letter(&b[1..]) == Some(b[0].to_ascii_uppercase())
}

/// Whether `s` has the shape of a UK postcode (`SW1A 1AA`, `M1 1AE`,
/// `B33 8TH`, `CR2 6XH`, `DN55 1PT`, `GIR 0AA`); case and the inner space are
/// not significant.
pub fn is_valid_postcode(s: &str) -> bool {
    let compact: Vec<u8> = s
        .trim()
        .bytes()
        .filter(|b| *b != b' ')
        .map(|b| b.to_ascii_uppercase())
        .collect();
    if compact == b"GIR0AA" {
        return true;
    }
    if !(5..=7).contains(&compact.len()) {
        return false;
    }
    let (outward, inward) = compact.split_at(compact.len() - 3);
    let inward_ok = inward[0].is_ascii_digit()
        && inward[1..]
            .iter()
            .all(|b| b.is_ascii_uppercase() && !b"CIKMOV".contains(b));
    let alpha = |b: &u8| b.is_ascii_uppercase();
    let digit = |b: &u8| b.is_ascii_digit();
    let outward_ok = match outward {
        [a, d] => alpha(a) && digit(d),
        [a, d, x] => {
            alpha(a) && digit(d) && (digit(x) || alpha(x)) || alpha(a) && alpha(d) && digit(x)
        }
        [a, b, d, x] => alpha(a) && alpha(b) && digit(d) && (digit(x) || alpha(x)),
        _ => false,
    };
    outward_ok && inward_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nhs_numbers() {
        assert!(is_valid_nhs_number("9434765919"));
        assert!(is_valid_nhs_number("943 476 5919"));
        assert!(!is_valid_nhs_number("9434765918"));
        assert!(!is_valid_nhs_number("943476591"));
        assert!(!is_valid_nhs_number("94347659190"));
        assert!(!is_valid_nhs_number("943476591X"));
        assert_eq!(nhs_check_digit(&[9, 4, 3, 4, 7, 6, 5, 9, 1]), Some(9));
    }

    #[test]
    fn upns() {
        let rest = b"82120012300";
        for last in [b'1', b'A'] {
            let mut body = rest.to_vec();
            body.push(last);
            let letter = upn_check_letter(&body).unwrap();
            let mut upn = vec![letter];
            upn.extend_from_slice(&body);
            let upn = String::from_utf8(upn).unwrap();
            assert!(is_valid_upn(&upn), "{upn}");
            let wrong = if letter == b'A' { 'B' } else { 'A' };
            assert!(!is_valid_upn(&format!("{wrong}{}", &upn[1..])));
        }
        assert!(!is_valid_upn("A12"));
        assert!(!is_valid_upn("A1234567890I2"));
    }

    #[test]
    fn postcodes() {
        for ok in [
            "SW1A 1AA", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "EC1A1BB", "gir 0aa", "w1a 0ax",
        ] {
            assert!(is_valid_postcode(ok), "{ok}");
        }
        for bad in [
            "",
            "SW1A",
            "1AA SW1",
            "SW1A 1CA",
            "SWW1A 1AA",
            "S 1AA",
            "AB1 A1A",
        ] {
            assert!(!is_valid_postcode(bad), "{bad}");
        }
    }
}
