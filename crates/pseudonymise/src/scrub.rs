//! Free-text scrubbing: the personal values a worker writes into a note,
//! found by dictionary (the names, address lines and postcodes of every
//! person in the extract) and by pattern (NHS numbers, phone numbers,
//! dates, postcodes, house number + street, UPNs, e-mail addresses).
//!
//! Text is cut into tokens (runs of letters and digits, and the runs of
//! other characters between them); each pattern looks at a few tokens from
//! the current one, so scrubbing is linear in the text. The dictionary is a
//! hash set of folded words (lowercase, accents removed: "Jose" finds
//! "José"), one lookup per word; it grows with persons, not with notes.
//!
//! Dates are replaced by [`DATE_PLACEHOLDER`], not shifted: a date written
//! in prose cannot be tied to one person's offset with certainty (a note
//! names several people), and a placeholder can never be shifted back.
//!
//! This is pattern- and dictionary-based: a name nobody in the extract
//! bears, a street with no house number, a date written as "the third of
//! July" or a number split oddly is not found.

use rustc_hash::{FxHashMap, FxHashSet};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::Pseudonymiser;

/// What a date in free text becomes.
pub const DATE_PLACEHOLDER: &str = "[date]";
/// What an e-mail address in free text becomes.
pub const EMAIL_PLACEHOLDER: &str = "[email]";

#[derive(Debug, Clone)]
struct NameEntry {
    pseudo: String,
    /// Only when written with a capital: a nickname nobody was recorded
    /// with that is also an English word ("Will", "Bill", "Sue").
    capital_only: bool,
}

/// The personal words of an extract that free text is scrubbed of: the
/// name words of every person (with common nicknames of their first
/// names), their address lines and postcodes.
#[derive(Debug, Clone, Default)]
pub struct Dictionary {
    names: FxHashMap<String, NameEntry>,
    /// First folded word of an address phrase -> the phrases starting so.
    addresses: FxHashMap<String, Vec<Vec<String>>>,
    /// Postcodes, upper case without spaces.
    postcodes: FxHashSet<String>,
}

/// Common English diminutives: a first name in a group brings the others
/// (a worker writes "Liz" of an "Elizabeth").
const NICKNAMES: &[&[&str]] = &[
    &[
        "elizabeth",
        "liz",
        "lizzie",
        "lizzy",
        "beth",
        "betty",
        "bess",
        "eliza",
        "libby",
        "elsie",
    ],
    &["william", "will", "bill", "billy", "willie", "liam"],
    &["robert", "rob", "bob", "bobby", "robbie", "bert"],
    &["richard", "rich", "rick", "ricky", "richie"],
    &["james", "jim", "jimmy", "jamie"],
    &["john", "johnny", "jack", "jon"],
    &["jonathan", "jon", "jonny"],
    &["michael", "mike", "mikey", "mick", "micky"],
    &["christopher", "chris", "kit"],
    &["christine", "christina", "chris", "chrissie", "tina"],
    &[
        "katherine",
        "catherine",
        "kathryn",
        "kate",
        "katie",
        "kat",
        "cath",
        "cathy",
        "kathy",
        "kitty",
    ],
    &["margaret", "maggie", "meg", "peggy"],
    &["jennifer", "jen", "jenny"],
    &["jessica", "jess", "jessie"],
    &["rebecca", "becky", "becca", "bex"],
    &["samantha", "sam", "sammy"],
    &["samuel", "sam", "sammy"],
    &["alexander", "alex", "alec", "xander"],
    &["alexandra", "alex", "lexi", "sandra"],
    &["daniel", "dan", "danny"],
    &["thomas", "tom", "tommy"],
    &["anthony", "tony"],
    &["joseph", "joe", "joey"],
    &["josephine", "josie"],
    &["matthew", "matt", "matty"],
    &["nicholas", "nick", "nicky"],
    &["patrick", "pat", "paddy"],
    &["edward", "eddie", "ted", "ned"],
    &["benjamin", "ben", "benny"],
    &["charlotte", "lottie", "charlie"],
    &["charles", "charlie", "chas"],
    &["victoria", "vicky", "tori"],
    &["abigail", "abbie", "abby"],
    &["deborah", "debbie"],
    &["susan", "sue", "susie"],
    &["stephen", "steven", "steve"],
    &["joshua", "josh"],
    &["zachary", "zach", "zak"],
    &["frederick", "fred", "freddie"],
    &["henry", "harry"],
    &["oliver", "ollie"],
    &["penelope", "penny"],
    &["amelia", "millie"],
    &["isabella", "isabelle", "izzy", "bella", "issy"],
    &["natalie", "natasha", "nat", "tash"],
    &["jacqueline", "jackie"],
    &["timothy", "tim", "timmy"],
    &["leonard", "leo", "len", "lenny"],
    &["mary", "molly", "polly"],
    &["sarah", "sally"],
    &["andrew", "andy", "drew"],
    &["peter", "pete"],
    &["david", "dave", "davey"],
    &["ronald", "ron", "ronnie"],
    &["donald", "donny"],
    &["gregory", "greg"],
    &["terence", "terry"],
];

/// Street words of the "house number + street" pattern.
const STREET_WORDS: &[&str] = &[
    "road", "rd", "street", "st", "close", "avenue", "ave", "lane", "ln", "drive", "dr", "way",
    "court", "ct", "gardens", "gdns", "crescent", "cres", "place", "pl", "terrace", "grove",
    "square", "sq", "mews", "rise", "row", "walk", "hill", "park",
];

const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
];

/// A word folded for comparison: lowercase, accents removed.
pub fn fold(word: &str) -> String {
    if word.is_ascii() {
        return word.to_ascii_lowercase();
    }
    word.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

fn title(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

impl Dictionary {
    /// Adds the words of a person's names (and the nicknames of their
    /// first names).
    pub fn add_person(&mut self, p: &Pseudonymiser, first: &[&str], last: &[&str]) {
        for (names, is_first) in [(first, true), (last, false)] {
            for word in names
                .iter()
                .flat_map(|n| words(n))
                .filter(|w| w.chars().count() >= 2)
            {
                let folded = fold(word);
                let pseudo = if is_first {
                    p.first_name(&title(&folded))
                } else {
                    p.last_name(&title(&folded))
                };
                self.insert(folded.clone(), pseudo, false);
                if is_first {
                    for group in NICKNAMES.iter().filter(|g| g.contains(&folded.as_str())) {
                        for nick in group.iter().filter(|n| **n != folded) {
                            self.insert((*nick).to_string(), p.first_name(&title(nick)), true);
                        }
                    }
                }
            }
        }
    }

    fn insert(&mut self, word: String, pseudo: String, capital_only: bool) {
        match self.names.get_mut(&word) {
            Some(e) => e.capital_only &= capital_only,
            None => {
                self.names.insert(
                    word,
                    NameEntry {
                        pseudo,
                        capital_only,
                    },
                );
            }
        }
    }

    /// Adds an address: each of its comma-separated parts that holds a
    /// digit or several words ("12 Acacia Avenue", "Flat 3", "Rose
    /// Cottage") is looked for in text; a part of one word with no digit
    /// (a town, a county) is not, since it names a place, not a person.
    pub fn add_address(&mut self, address: &str) {
        for part in address.split([',', '\n', ';']) {
            let ws: Vec<String> = words(part).map(fold).collect();
            let has_digit = part.chars().any(|c| c.is_ascii_digit());
            if ws.is_empty() || (ws.len() == 1 && !has_digit) {
                continue;
            }
            let phrases = self.addresses.entry(ws[0].clone()).or_default();
            if !phrases.contains(&ws) {
                phrases.push(ws);
            }
        }
    }

    /// Adds a postcode.
    pub fn add_postcode(&mut self, postcode: &str) {
        let pc = normal_postcode(postcode);
        if !pc.is_empty() {
            self.postcodes.insert(pc);
        }
    }

    /// The number of name words known.
    pub fn name_words(&self) -> usize {
        self.names.len()
    }
}

fn normal_postcode(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Whether `s` (upper case, no spaces) has a UK postcode's shape: outward
/// A9, A99, AA9, AA99, A9A or AA9A, then inward 9AA.
fn is_postcode_shape(s: &str) -> bool {
    let b = s.as_bytes();
    if !(5..=7).contains(&b.len()) || !s.is_ascii() {
        return false;
    }
    let (out, inw) = b.split_at(b.len() - 3);
    let inward_ok =
        inw[0].is_ascii_digit() && inw[1].is_ascii_uppercase() && inw[2].is_ascii_uppercase();
    inward_ok && is_outward(out)
}

fn is_outward(out: &[u8]) -> bool {
    let a = |i: usize| out.get(i).is_some_and(u8::is_ascii_uppercase);
    let d = |i: usize| out.get(i).is_some_and(u8::is_ascii_digit);
    match out.len() {
        2 => a(0) && d(1),
        3 => (a(0) && d(1) && d(2)) || (a(0) && a(1) && d(2)) || (a(0) && d(1) && a(2)),
        4 => a(0) && a(1) && d(2) && (d(3) || a(3)),
        _ => false,
    }
}

#[derive(Debug, Clone, Copy)]
struct Tok<'t> {
    text: &'t str,
    word: bool,
}

fn tokens(text: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut word = None;
    for (i, c) in text.char_indices() {
        let w = c.is_alphanumeric();
        match word {
            Some(prev) if prev != w => {
                out.push(Tok {
                    text: &text[start..i],
                    word: prev,
                });
                start = i;
            }
            _ => {}
        }
        word = Some(w);
    }
    if let Some(w) = word {
        out.push(Tok {
            text: &text[start..],
            word: w,
        });
    }
    out
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_space(s: &str) -> bool {
    !s.is_empty() && s.chars().all(char::is_whitespace)
}

fn capitalised(s: &str) -> bool {
    s.chars().next().is_some_and(char::is_uppercase)
}

/// A day of month, with or without an ordinal suffix ("3", "03", "3rd").
fn day(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let digits = ["st", "nd", "rd", "th"]
        .iter()
        .find_map(|suf| lower.strip_suffix(suf))
        .unwrap_or(&lower);
    digits.len() <= 2
        && all_digits(digits)
        && digits.parse::<u32>().is_ok_and(|d| (1..=31).contains(&d))
}

fn month(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    // "may" and "march" are also verbs, the short forms are words too:
    // months only with a capital, unless written out in full.
    MONTHS.contains(&lower.as_str())
        && (capitalised(s) || (lower.len() > 3 && lower != "may" && lower != "march"))
}

fn year(s: &str) -> bool {
    all_digits(s)
        && (s.len() == 2 || (s.len() == 4 && (s.starts_with("19") || s.starts_with("20"))))
}

/// Scrubbing state over one text's tokens.
struct Scrubber<'a, 't> {
    p: &'a Pseudonymiser,
    dict: &'a Dictionary,
    toks: Vec<Tok<'t>>,
    out: String,
}

impl<'t> Scrubber<'_, 't> {
    fn word(&self, i: usize) -> Option<&'t str> {
        self.toks.get(i).filter(|t| t.word).map(|t| t.text)
    }

    fn sep(&self, i: usize) -> Option<&'t str> {
        self.toks.get(i).filter(|t| !t.word).map(|t| t.text)
    }

    fn spaced(&self, i: usize) -> bool {
        self.sep(i).is_some_and(is_space)
    }

    /// `dd/mm/yyyy`, `d-m-yy`, `dd.mm.yyyy`, `yyyy-mm-dd`: tokens used.
    fn numeric_date(&self, i: usize) -> Option<usize> {
        let a = self.word(i)?;
        let s1 = self.sep(i + 1)?;
        let b = self.word(i + 2)?;
        let s2 = self.sep(i + 3)?;
        let c = self.word(i + 4)?;
        if s1 != s2 || !["/", "-", "."].contains(&s1) || ![a, b, c].iter().all(|w| all_digits(w)) {
            return None;
        }
        let n = |s: &str| s.parse::<u32>().unwrap_or(0);
        let ok = if a.len() == 4 {
            b.len() <= 2 && c.len() <= 2 && (1..=12).contains(&n(b)) && (1..=31).contains(&n(c))
        } else {
            a.len() <= 2
                && b.len() <= 2
                && (c.len() == 2 || c.len() == 4)
                && (1..=31).contains(&n(a))
                && (1..=31).contains(&n(b))
                && (n(a) <= 12 || n(b) <= 12)
        };
        ok.then_some(5)
    }

    /// "3 July 1996", "3rd of July, 1996", "July 3rd 1996", "3 July",
    /// "July 1996": tokens used.
    fn text_date(&self, i: usize) -> Option<usize> {
        let w = self.word(i)?;
        let year_after = |j: usize| -> usize {
            let comma_space = self
                .sep(j)
                .is_some_and(|s| s.trim().is_empty() || s.trim() == ",");
            if comma_space && self.word(j + 1).is_some_and(year) {
                2
            } else {
                0
            }
        };
        if day(w) && self.spaced(i + 1) {
            let mut j = i + 2;
            if self.word(j).is_some_and(|x| x.eq_ignore_ascii_case("of")) && self.spaced(j + 1) {
                j += 2;
            }
            if self.word(j).is_some_and(month) {
                return Some(j + 1 - i + year_after(j + 1));
            }
            return None;
        }
        if month(w) {
            self.sep(i + 1).filter(|s| is_space(s))?;
            if self.word(i + 2).is_some_and(day) {
                let y = year_after(i + 3);
                // "July 3" alone is too weak a signal ("May 2 people"): a
                // day after a month needs its year.
                return (y > 0).then_some(3 + y);
            }
            if self.word(i + 2).is_some_and(|y| y.len() == 4 && year(y)) {
                return Some(3);
            }
        }
        None
    }

    /// A postcode (one or two words): tokens used and the normal form.
    fn postcode(&self, i: usize) -> Option<(usize, String)> {
        let a = self.word(i)?;
        if let Some(b) = self.word(i + 2).filter(|_| self.sep(i + 1) == Some(" ")) {
            let joined = normal_postcode(&format!("{a}{b}"));
            let shaped = a.len() + b.len() == joined.len()
                && b.len() == 3
                && is_outward(normal_postcode(a).as_bytes())
                && is_postcode_shape(&joined);
            let exact_case = format!("{a}{b}") == joined;
            if shaped && (exact_case || self.dict.postcodes.contains(&joined)) {
                return Some((3, joined));
            }
        }
        let one = normal_postcode(a);
        if is_postcode_shape(&one) && (a == one || self.dict.postcodes.contains(&one)) {
            return Some((1, one));
        }
        None
    }

    /// An address known from the extract's records: tokens used.
    fn known_address(&self, i: usize) -> Option<usize> {
        let first = fold(self.word(i)?);
        let phrases = self.dict.addresses.get(&first)?;
        let mut best = None;
        for phrase in phrases {
            let mut j = i;
            let mut ok = true;
            for (k, w) in phrase.iter().enumerate() {
                if k > 0 {
                    let sep_ok = self
                        .sep(j + 1)
                        .is_some_and(|s| s.trim().is_empty() || s.trim() == ",");
                    if !sep_ok {
                        ok = false;
                        break;
                    }
                    j += 2;
                }
                if self.word(j).is_none_or(|x| fold(x) != *w) {
                    ok = false;
                    break;
                }
            }
            if ok && best.is_none_or(|b| j + 1 - i > b) {
                best = Some(j + 1 - i);
            }
        }
        best
    }

    /// House number + one to three capitalised words + a street word:
    /// tokens used.
    fn street(&self, i: usize) -> Option<usize> {
        let n = self.word(i)?;
        let digits = n.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        if !(1..=4).contains(&digits.len()) || !all_digits(digits) || n.len() > digits.len() + 1 {
            return None;
        }
        let mut j = i;
        for k in 0..4 {
            if !self.spaced(j + 1) {
                return None;
            }
            let w = self.word(j + 2)?;
            if !capitalised(w) || all_digits(w) {
                return None;
            }
            j += 2;
            if k > 0 && STREET_WORDS.contains(&w.to_ascii_lowercase().as_str()) {
                return Some(j + 1 - i);
            }
        }
        None
    }

    /// Digits in groups ("943 476 5919", "+44 7700 900123", "020-7946-0018")
    /// or one long number: tokens used and the digits.
    fn number_run(&self, i: usize) -> Option<(usize, String)> {
        let first = self.word(i).filter(|w| all_digits(w))?;
        let mut digits = first.to_string();
        let mut j = i;
        while digits.len() < 16 {
            let joined = self.sep(j + 1).is_some_and(|s| {
                s.len() <= 3 && s.chars().all(|c| " -()".contains(c)) && s.matches(' ').count() <= 1
            });
            match self.word(j + 2).filter(|w| joined && all_digits(w)) {
                Some(w) => {
                    digits.push_str(w);
                    j += 2;
                }
                None => break,
            }
        }
        (digits.len() >= 9).then_some((j + 1 - i, digits))
    }

    /// `name@host.tld`: tokens used, from a word before the `@`.
    fn email(&self, i: usize) -> Option<usize> {
        self.word(i)?;
        let mut j = i;
        // The local part may hold dots, hyphens, underscores and plus signs.
        while self
            .sep(j + 1)
            .is_some_and(|s| s.len() == 1 && ".-_+".contains(s))
            && self.word(j + 2).is_some()
        {
            j += 2;
        }
        if self.sep(j + 1) != Some("@") {
            return None;
        }
        j += 2;
        self.word(j)?;
        let mut dots = 0;
        while self.sep(j + 1).is_some_and(|s| s == "." || s == "-") && self.word(j + 2).is_some() {
            dots += 1;
            j += 2;
        }
        (dots > 0).then_some(j + 1 - i)
    }

    fn push_digits(&mut self, from: usize, used: usize, digits: &str) {
        let replaced = if digits.len() == 10 && casebridge_model::ids::is_valid_nhs_number(digits) {
            self.p.nhs(digits)
        } else {
            self.p.digits(digits)
        };
        let mut r = replaced.chars();
        for t in &self.toks[from..from + used] {
            if t.word {
                self.out.extend(r.by_ref().take(t.text.len()));
            } else {
                self.out.push_str(t.text);
            }
        }
    }

    fn push_word(&mut self, word: &str) {
        let folded = fold(word);
        let entry = self
            .dict
            .names
            .get(&folded)
            .filter(|e| !e.capital_only || capitalised(word));
        if let Some(e) = entry {
            let r = &e.pseudo;
            if word.chars().all(|c| !c.is_lowercase()) && word.chars().count() > 1 {
                self.out.push_str(&r.to_uppercase());
            } else if word.chars().next().is_some_and(char::is_lowercase) {
                self.out.push_str(&r.to_lowercase());
            } else {
                self.out.push_str(r);
            }
        } else if word.len() == 13 && casebridge_model::ids::is_valid_upn(word) {
            self.out.push_str(&self.p.upn(word));
        } else {
            self.out.push_str(word);
        }
    }

    fn run(mut self) -> String {
        let mut i = 0;
        while i < self.toks.len() {
            let t = self.toks[i];
            if !t.word {
                self.out.push_str(t.text);
                i += 1;
                continue;
            }
            if let Some(n) = self.email(i) {
                self.out.push_str(EMAIL_PLACEHOLDER);
                i += n;
            } else if let Some(n) = self.numeric_date(i) {
                self.out.push_str(DATE_PLACEHOLDER);
                i += n;
            } else if let Some(n) = self.known_address(i).or_else(|| self.street(i)) {
                let span: String = self.toks[i..i + n].iter().map(|t| t.text).collect();
                self.out.push_str(&self.p.street_line(&fold(&span)));
                i += n;
            } else if let Some(n) = self.text_date(i) {
                self.out.push_str(DATE_PLACEHOLDER);
                i += n;
            } else if let Some((n, pc)) = self.postcode(i) {
                self.out.push_str(&self.p.postcode(&pc));
                i += n;
            } else if let Some((n, digits)) = self.number_run(i) {
                self.push_digits(i, n, &digits);
                i += n;
            } else {
                self.push_word(t.text);
                i += 1;
            }
        }
        self.out
    }
}

/// Scrubs free text of the personal values `dict` knows (names, address
/// lines, postcodes of every person in the extract) and of those that have
/// a recognisable shape: NHS numbers and other numbers of nine digits or
/// more, in groups or not (phone numbers), dates (replaced by
/// [`DATE_PLACEHOLDER`]), postcodes, house number + street, UPNs and
/// e-mail addresses.
pub fn scrub(p: &Pseudonymiser, text: &str, dict: &Dictionary) -> String {
    Scrubber {
        p,
        dict,
        toks: tokens(text),
        out: String::with_capacity(text.len()),
    }
    .run()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Pseudonymiser, Dictionary) {
        let p = Pseudonymiser::new(b"0123456789abcdef-key-a").unwrap();
        let mut d = Dictionary::default();
        d.add_person(&p, &["José", "Elizabeth"], &["Zanzibarova"]);
        d.add_person(&p, &["Quentaro"], &["Vellacourt"]);
        d.add_address("17 Larchmere Avenue, Testbury");
        d.add_postcode("lu1 3ab");
        (p, d)
    }

    /// Each personal value is gone and the words around it stay.
    #[track_caller]
    fn gone(text: &str, canary: &str) {
        let (p, d) = setup();
        let out = scrub(&p, text, &d);
        assert!(!out.contains(canary), "{canary:?} survived in {out:?}");
        assert!(
            out.starts_with("Seen ") && out.ends_with(" today."),
            "{out:?}"
        );
    }

    #[test]
    fn spaced_and_hyphenated_nhs_numbers_are_scrubbed() {
        gone("Seen 943 476 5919 today.", "476 5919");
        gone("Seen 943-476-5919 today.", "476-5919");
    }

    #[test]
    fn dates_in_text_become_a_placeholder() {
        for d in [
            "03/07/1996",
            "3/7/96",
            "03.07.1996",
            "1996-07-03",
            "3 July 1996",
            "3rd July 1996",
            "3rd of July, 1996",
            "July 3, 1996",
            "July 1996",
            "3 Jul",
        ] {
            gone(&format!("Seen {d} today."), d);
            let (p, dict) = setup();
            assert_eq!(
                scrub(&p, &format!("Seen {d} today."), &dict),
                "Seen [date] today."
            );
        }
    }

    #[test]
    fn phone_numbers_are_scrubbed() {
        for n in [
            "07700 900123",
            "+44 7700 900123",
            "020 7946 0018",
            "(020) 7946 0018",
            "07700900123",
        ] {
            gone(&format!("Seen {n} today."), n);
            gone(&format!("Seen {n} today."), "900123");
        }
    }

    #[test]
    fn postcodes_of_any_person_or_of_postcode_shape_are_scrubbed() {
        gone("Seen LU1 3AB today.", "LU1 3AB");
        gone("Seen lu1 3ab today.", "lu1 3ab");
        gone("Seen SW1A 1AA today.", "SW1A");
        gone("Seen M1 1AE today.", "M1 1AE");
        gone("Seen B338TH today.", "B338TH");
    }

    #[test]
    fn addresses_known_and_of_street_shape_are_scrubbed() {
        gone("Seen 17 Larchmere Avenue today.", "Larchmere");
        gone("Seen 17 larchmere avenue today.", "larchmere");
        gone("Seen 4 Cobham Road today.", "Cobham");
        gone("Seen 22b Old Mill Lane today.", "Mill");
        gone("Seen 9 St Albans Close today.", "Albans");
    }

    #[test]
    fn names_of_every_person_nicknames_and_unaccented_spellings_are_scrubbed() {
        gone("Seen José today.", "José");
        gone("Seen Jose today.", "Jose");
        gone("Seen JOSE today.", "JOSE");
        gone("Seen Liz today.", "Liz");
        gone("Seen Beth today.", "Beth");
        gone("Seen Quentaro Vellacourt today.", "Quentaro");
        gone("Seen Zanzibarová today.", "Zanzibarov");
    }

    #[test]
    fn e_mail_addresses_are_scrubbed() {
        gone("Seen jo.bloggs-1@example.co.uk today.", "bloggs");
    }

    #[test]
    fn ordinary_words_numbers_and_english_that_looks_like_a_nickname_survive() {
        let (p, d) = setup();
        let text = "Mum will attend the Family Court on Monday with 2 children; \
                    scored 12345678, may call in March, lives 3 miles away, room 12/40.";
        assert_eq!(scrub(&p, text, &d), text);
    }
}
