//! Text helpers for comparisons: name normalisation, phonetic codes,
//! nickname groups, small-edit tests and token similarity.

use rustc_hash::FxHashMap;
use unicode_normalization::UnicodeNormalization;

/// Lowercase ASCII letters and digits only: accents removed (NFD, marks
/// dropped), apostrophes, hyphens, spaces and punctuation gone. `O’Neill`,
/// `O'Neill` and `oneill` are alike.
pub fn squash(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.nfd() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !c.is_ascii() {
            match c {
                'ß' => out.push_str("ss"),
                'æ' | 'Æ' => out.push_str("ae"),
                'ø' | 'Ø' => out.push('o'),
                'œ' | 'Œ' => out.push_str("oe"),
                'ð' | 'Ð' => out.push('d'),
                'þ' | 'Þ' => out.push_str("th"),
                'ł' | 'Ł' => out.push('l'),
                _ => {}
            }
        }
    }
    out
}

/// Lowercase ASCII words (letters and digits), accents removed.
pub fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.nfd() {
        if c.is_ascii_alphanumeric() {
            cur.push(c.to_ascii_lowercase());
        } else if c == '\'' {
            // O'Neill is one word.
        } else if c.is_ascii() || c.is_whitespace() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else if c.is_alphabetic() {
            // Letters outside ASCII that do not decompose are kept as they are.
            cur.extend(c.to_lowercase());
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// American Soundex of an ASCII-lowercase word (`robert` -> `r163`), `""`
/// for an empty one.
pub fn soundex(s: &str) -> String {
    fn code(c: u8) -> u8 {
        match c {
            b'b' | b'f' | b'p' | b'v' => b'1',
            b'c' | b'g' | b'j' | b'k' | b'q' | b's' | b'x' | b'z' => b'2',
            b'd' | b't' => b'3',
            b'l' => b'4',
            b'm' | b'n' => b'5',
            b'r' => b'6',
            b'h' | b'w' => b'h',
            _ => b'0',
        }
    }
    let bytes: Vec<u8> = s.bytes().filter(u8::is_ascii_lowercase).collect();
    let Some(&first) = bytes.first() else {
        return String::new();
    };
    let mut out = vec![first];
    let mut last = code(first);
    for &b in &bytes[1..] {
        let c = code(b);
        if c == b'h' {
            continue; // h and w do not separate equal codes
        }
        if c != b'0' && c != last {
            out.push(c);
            if out.len() == 4 {
                break;
            }
        }
        last = c;
    }
    while out.len() < 4 {
        out.push(b'0');
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Whether two strings are at most one edit apart (insertion, deletion,
/// substitution or transposition of neighbours), and not equal.
pub fn one_edit(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a == b {
        return false;
    }
    let (la, lb) = (a.len(), b.len());
    if la.abs_diff(lb) > 1 {
        return false;
    }
    let p = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[p..], &b[p..]);
    if la == lb {
        // substitution, or transposition of a[p], a[p+1]
        ra[1..] == rb[1..]
            || (ra.len() >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && ra[2..] == rb[2..])
    } else if la > lb {
        ra[1..] == *rb
    } else {
        *ra == rb[1..]
    }
}

/// Jaro-Winkler similarity of two strings (prefix scale 0.1, prefix up to
/// 4, boost above 0.7). Byte strings of up to 64 bytes (the squashed ASCII names compared
/// here) are done without allocating; longer ones by `strsim`.
pub fn jaro_winkler(a: &str, b: &str) -> f64 {
    if a == b {
        return 1.0;
    }
    let (x, y) = (a.as_bytes(), b.as_bytes());
    if x.is_empty() || y.is_empty() {
        return 0.0;
    }
    if x.len() > 64 || y.len() > 64 || !a.is_ascii() || !b.is_ascii() {
        return strsim::jaro_winkler(a, b);
    }
    let window = (x.len().max(y.len()) / 2).saturating_sub(1);
    let (mut fx, mut fy) = (0u64, 0u64);
    let mut matches = 0usize;
    for (i, &c) in x.iter().enumerate() {
        let lo = i.saturating_sub(window);
        let hi = (i + window + 1).min(y.len());
        for (j, &d) in y.iter().enumerate().take(hi).skip(lo) {
            if fy & (1 << j) == 0 && d == c {
                fx |= 1 << i;
                fy |= 1 << j;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let mut t = 0usize;
    let mut j = 0usize;
    for (i, &c) in x.iter().enumerate() {
        if fx & (1 << i) == 0 {
            continue;
        }
        while fy & (1 << j) == 0 {
            j += 1;
        }
        if c != y[j] {
            t += 1;
        }
        j += 1;
    }
    let m = matches as f64;
    let jaro = (m / x.len() as f64 + m / y.len() as f64 + (m - (t / 2) as f64) / m) / 3.0;
    if jaro <= 0.7 {
        // The prefix bonus only boosts strings already alike (as strsim does).
        return jaro;
    }
    let prefix = x.iter().zip(y).take(4).take_while(|(p, q)| p == q).count();
    jaro + prefix as f64 * 0.1 * (1.0 - jaro)
}

/// Symmetric Monge-Elkan similarity of two word lists: each word matched
/// to its most similar word on the other side (Jaro-Winkler), averaged both
/// ways. Word order and a missing or extra word cost little.
pub fn token_similarity(a: &[&str], b: &[&str]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let one_way = |x: &[&str], y: &[&str]| -> f64 {
        x.iter()
            .map(|w| y.iter().map(|v| jaro_winkler(w, v)).fold(0.0, f64::max))
            .sum::<f64>()
            / x.len() as f64
    };
    (one_way(a, b) + one_way(b, a)) / 2.0
}

/// Groups of first names that name the same person (William, Will, Bill,
/// Billy, Liam...). Each group is listed once; a name may be in several.
const NICKNAMES: &[&[&str]] = &[
    &[
        "william", "will", "bill", "billy", "willy", "willie", "liam",
    ],
    &["robert", "rob", "bob", "bobby", "robbie", "bert"],
    &["richard", "rich", "rick", "ricky", "dick", "richie"],
    &["thomas", "tom", "tommy"],
    &["james", "jim", "jimmy", "jamie"],
    &["john", "jack", "johnny", "jon"],
    &["jonathan", "jon", "jonny", "nathan"],
    &["michael", "mike", "mick", "mikey", "mickey"],
    &["christopher", "chris", "kit"],
    &["christine", "chris", "chrissie", "tina"],
    &["christina", "chris", "tina"],
    &["joseph", "joe", "joey"],
    &["josephine", "jo", "josie"],
    &["joshua", "josh"],
    &["samuel", "sam", "sammy"],
    &["samantha", "sam", "sammie", "sammy"],
    &["daniel", "dan", "danny"],
    &["danielle", "dani"],
    &["alexander", "alex", "al", "sandy", "xander"],
    &["alexandra", "alex", "lexi", "sandra"],
    &["oliver", "ollie", "olly"],
    &["charlotte", "lottie", "charlie"],
    &["charles", "charlie", "chas", "chuck"],
    &["olivia", "liv", "livvy"],
    &["rebecca", "becky", "becca"],
    &["katherine", "kate", "kath", "kathy", "katie", "kat"],
    &["catherine", "kate", "cath", "cathy", "katie", "cat"],
    &["kathleen", "kath", "kathy"],
    &[
        "elizabeth",
        "liz",
        "lizzie",
        "beth",
        "betty",
        "eliza",
        "libby",
        "bess",
    ],
    &["margaret", "maggie", "meg", "peggy", "madge", "maisie"],
    &["matthew", "matt", "matty"],
    &["andrew", "andy", "drew"],
    &["anthony", "tony", "ant"],
    &["benjamin", "ben", "benny"],
    &["edward", "ed", "eddie", "ted", "teddy", "ned"],
    &["frederick", "fred", "freddie", "freddy"],
    &["henry", "harry", "hal"],
    &["harold", "harry", "hal"],
    &["jessica", "jess", "jessie"],
    &["jennifer", "jen", "jenny"],
    &["nicola", "nicky", "nikki"],
    &["nicholas", "nick", "nicky"],
    &["patrick", "pat", "paddy"],
    &["patricia", "pat", "patty", "trish"],
    &["peter", "pete"],
    &["stephen", "steve", "stevie"],
    &["steven", "steve", "stevie"],
    &["susan", "sue", "susie"],
    &["victoria", "vicky", "tori"],
    &["zachary", "zach", "zack"],
    &["abigail", "abby", "abi"],
    &["deborah", "debbie", "deb"],
    &["gregory", "greg"],
    &["jacob", "jake"],
    &["lawrence", "larry", "laurie"],
    &["leonard", "leo", "len", "lenny"],
    &["timothy", "tim", "timmy"],
    &["philip", "phil", "pip"],
    &["phillip", "phil"],
    &["ronald", "ron", "ronnie"],
    &["donald", "don", "donnie"],
    &["gerald", "gerry", "jerry"],
    &["eleanor", "ellie", "nell", "nora"],
    &["ellen", "ellie", "nell"],
    &["amelia", "millie", "amy"],
    &["emily", "em", "emmy", "millie"],
    &["isabella", "bella", "izzy", "isla"],
    &["isabelle", "bella", "izzy"],
    &["florence", "flo", "florrie"],
    &["dorothy", "dot", "dottie"],
    &[
        "mohammed", "muhammad", "mohammad", "mohamed", "mohamad", "muhammed",
    ],
    &["gabriel", "gabe"],
    &["gabrielle", "gabby"],
    &["theodore", "theo", "ted", "teddy"],
    &["sebastian", "seb"],
    &["francesca", "fran", "frankie"],
    &["frances", "fran", "frankie"],
    &["francis", "frank", "frankie"],
    &["louise", "lou", "lulu"],
    &["louis", "lou"],
    &["lucinda", "lucy", "cindy"],
    &["jacqueline", "jackie"],
    &["raymond", "ray"],
    &["reginald", "reg", "reggie"],
    &["walter", "walt", "wally"],
    &["albert", "al", "bert", "bertie"],
    &["alfred", "alf", "alfie", "fred"],
    &["archibald", "archie"],
    &["kenneth", "ken", "kenny"],
    &["terence", "terry"],
    &["vincent", "vince", "vinny"],
    &["wendy", "gwendolyn"],
];

/// Nickname groups: a name's group ids (a name can sit in several groups).
#[derive(Debug, Default, Clone)]
pub struct Nicknames {
    groups: FxHashMap<String, Vec<u32>>,
    /// The first name of each group, its canonical form.
    canonical: Vec<String>,
}

impl Nicknames {
    /// The built-in table plus `extra` groups (names in any case).
    pub fn new(extra: &[Vec<String>]) -> Self {
        let mut n = Nicknames::default();
        let builtin = NICKNAMES
            .iter()
            .map(|g| g.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        for group in builtin.chain(extra.iter().cloned()) {
            let id = n.canonical.len() as u32;
            let names: Vec<String> = group
                .iter()
                .map(|s| squash(s))
                .filter(|s| !s.is_empty())
                .collect();
            let Some(first) = names.first() else { continue };
            n.canonical.push(first.clone());
            for name in names {
                let ids = n.groups.entry(name).or_default();
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        n
    }

    /// Whether two different squashed names share a group.
    pub fn alike(&self, a: &str, b: &str) -> bool {
        match (self.groups.get(a), self.groups.get(b)) {
            (Some(x), Some(y)) => x.iter().any(|i| y.contains(i)),
            _ => false,
        }
    }

    /// The groups a squashed name is in (empty if none).
    pub fn groups_of(&self, name: &str) -> &[u32] {
        self.groups.get(name).map_or(&[], Vec::as_slice)
    }

    /// A canonical form for blocking: the first group's head, or the name.
    pub fn canonical<'a>(&'a self, name: &'a str) -> &'a str {
        match self.groups.get(name).and_then(|ids| ids.first()) {
            Some(&id) => self.canonical.get(id as usize).map_or(name, String::as_str),
            None => name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squash_folds_accents_apostrophes_and_case() {
        assert_eq!(squash("O’Neill"), "oneill");
        assert_eq!(squash("Zoë-Renée "), "zoerenee");
        assert_eq!(squash("Núñez"), "nunez");
    }

    #[test]
    fn soundex_codes() {
        for (w, c) in [
            ("robert", "r163"),
            ("rupert", "r163"),
            ("ashcraft", "a261"),
            ("tymczak", "t522"),
            ("pfister", "p236"),
            ("a", "a000"),
        ] {
            assert_eq!(soundex(w), c, "{w}");
        }
        assert_eq!(soundex(""), "");
    }

    #[test]
    fn one_edit_cases() {
        assert!(one_edit("smith", "smyth"));
        assert!(one_edit("smith", "smiht"));
        assert!(one_edit("smith", "smit"));
        assert!(one_edit("smith", "smitth"));
        assert!(!one_edit("smith", "smith"));
        assert!(!one_edit("smith", "smythe"));
        assert!(!one_edit("19810203", "19810302"));
        assert!(one_edit("19810203", "19810208"));
    }

    #[test]
    fn nicknames_link_groups_both_ways() {
        let n = Nicknames::new(&[vec!["Peggy".into(), "Pegs".into()]]);
        assert!(n.alike("bill", "william"));
        assert!(n.alike("tom", "thomas"));
        assert!(n.alike("pegs", "peggy"));
        assert!(!n.alike("tom", "william"));
        assert_eq!(n.canonical("billy"), "william");
        assert_eq!(n.canonical("zebedee"), "zebedee");
    }

    #[test]
    fn jaro_winkler_agrees_with_strsim() {
        for (a, b) in [
            ("martha", "marhta"),
            ("dwayne", "duane"),
            ("dixon", "dicksonx"),
            ("bne", "ben"),
            ("a", "b"),
            ("jonathan", "jon"),
            (
                "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl",
                "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkk",
            ),
        ] {
            let (x, y) = (jaro_winkler(a, b), strsim::jaro_winkler(a, b));
            assert!((x - y).abs() < 1e-9, "{a} {b}: {x} vs {y}");
        }
    }

    #[test]
    fn token_similarity_ignores_order() {
        let s = token_similarity(&["12", "high", "street"], &["high", "street", "12"]);
        assert!((s - 1.0).abs() < 1e-9);
        assert!(token_similarity(&["a"], &[]) == 0.0);
    }
}
