//! Case-note prose and workbook text answers, assembled from the word banks
//! pre-encoded in Windows-1252, so that a note is built by copying bytes.

use rand::Rng;

use crate::fmt::w1252;
use crate::words;

#[derive(Debug)]
enum Seg {
    Lit(Vec<u8>),
    Child,
    Parent,
    Time,
}

/// One fragment, split at its placeholders.
#[derive(Debug)]
pub struct Frag {
    segs: Vec<Seg>,
    /// Length in bytes with typical placeholder values.
    pub approx_len: usize,
}

impl Frag {
    fn new(src: &str) -> Frag {
        let mut segs = Vec::new();
        let mut rest = src;
        let mut approx_len = 0;
        while let Some(at) = rest.find('{') {
            let (lit, tail) = rest.split_at(at);
            if !lit.is_empty() {
                let b = w1252(lit);
                approx_len += b.len();
                segs.push(Seg::Lit(b));
            }
            let (seg, skip) = match tail.get(..3) {
                Some("{C}") => (Seg::Child, 3),
                Some("{P}") => (Seg::Parent, 3),
                Some("{T}") => (Seg::Time, 3),
                _ => (Seg::Lit(b"{".to_vec()), 1),
            };
            approx_len += 5;
            segs.push(seg);
            rest = &tail[skip..];
        }
        if !rest.is_empty() {
            let b = w1252(rest);
            approx_len += b.len();
            segs.push(Seg::Lit(b));
        }
        Frag { segs, approx_len }
    }

    /// Appends the fragment with the placeholders filled from `ctx`.
    pub fn render(&self, ctx: &Ctx<'_>, out: &mut Vec<u8>) {
        for s in &self.segs {
            match s {
                Seg::Lit(b) => out.extend_from_slice(b),
                Seg::Child => out.extend_from_slice(ctx.child),
                Seg::Parent => out.extend_from_slice(ctx.parent),
                Seg::Time => out.extend_from_slice(&ctx.time),
            }
        }
    }
}

/// What the placeholders stand for in one note or answer.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// A child's first name (Windows-1252).
    pub child: &'a [u8],
    /// How the worker refers to a parent or carer (Windows-1252).
    pub parent: &'a [u8],
    /// `HH:MM`.
    pub time: [u8; 5],
}

/// A list of fragments.
#[derive(Debug)]
pub struct Bank(pub Vec<Frag>);

impl Bank {
    fn new(src: &[&str]) -> Bank {
        Bank(src.iter().map(|s| Frag::new(s)).collect())
    }

    /// A fragment at random.
    pub fn pick<R: Rng>(&self, rng: &mut R) -> &Frag {
        &self.0[rng.gen_range(0..self.0.len())]
    }
}

/// All fragment banks, encoded once.
#[derive(Debug)]
pub struct Banks {
    pub openers: Vec<Bank>,
    pub titles: Vec<Vec<Vec<u8>>>,
    pub body: Bank,
    pub closers: Bank,
    pub strengths: Bank,
    pub risks: Bank,
    pub child_views: Bank,
    pub young_child_views: Bank,
    pub parent_views: Bank,
    pub decisions: Bank,
    pub actions: Bank,
    pub goals: Bank,
    pub outcomes: Bank,
}

impl Banks {
    /// Encodes the word banks.
    pub fn new() -> Banks {
        Banks {
            openers: words::OPENERS.iter().map(|o| Bank::new(o)).collect(),
            titles: words::TITLES
                .iter()
                .map(|t| t.iter().map(|s| w1252(s)).collect())
                .collect(),
            body: Bank::new(words::BODY),
            closers: Bank::new(words::CLOSERS),
            strengths: Bank::new(words::STRENGTHS),
            risks: Bank::new(words::RISKS),
            child_views: Bank::new(words::CHILD_VIEWS),
            young_child_views: Bank::new(words::YOUNG_CHILD_VIEWS),
            parent_views: Bank::new(words::PARENT_VIEWS),
            decisions: Bank::new(words::DECISIONS),
            actions: Bank::new(words::ACTIONS),
            goals: Bank::new(words::GOALS),
            outcomes: Bank::new(words::OUTCOMES),
        }
    }
}

impl Default for Banks {
    fn default() -> Self {
        Banks::new()
    }
}

/// Longest note, in bytes.
pub const NOTE_MAX: usize = 2500;
/// Shortest note, in bytes.
pub const NOTE_MIN: usize = 200;

/// A target note length: mostly 200 to 1,200 bytes, some up to 2,500;
/// notes come out at about 900 bytes on average (rows of about 1,000).
pub fn note_target<R: Rng>(rng: &mut R) -> usize {
    if rng.gen_bool(0.85) {
        rng.gen_range(NOTE_MIN..=1200)
    } else {
        rng.gen_range(1200..=NOTE_MAX)
    }
}

/// Writes a case note of about `target` bytes (never more than
/// [`NOTE_MAX`], never fewer than [`NOTE_MIN`]): the opener, body sentences
/// (none twice), sometimes several paragraphs separated by CRLF, and a
/// closing sentence.
pub fn note<R: Rng>(
    banks: &Banks,
    rng: &mut R,
    opener: &Frag,
    target: usize,
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
) {
    out.clear();
    opener.render(ctx, out);
    let mut used: u128 = 0;
    let mut in_para = 1;
    let mut para_len = rng.gen_range(2..=6);
    let closer = banks.closers.pick(rng);
    let reserve = closer.approx_len + 8;
    let mut attempts = 0;
    while out.len() + reserve < target || out.len() < NOTE_MIN {
        let mut i = rng.gen_range(0..banks.body.0.len());
        for _ in 0..4 {
            if used & (1 << (i % 128)) == 0 {
                break;
            }
            i = rng.gen_range(0..banks.body.0.len());
        }
        used |= 1 << (i % 128);
        let f = &banks.body.0[i];
        if out.len() + f.approx_len + reserve + 12 > NOTE_MAX {
            attempts += 1;
            if attempts > 8 {
                break;
            }
            continue;
        }
        if in_para >= para_len {
            if rng.gen_bool(0.3) {
                out.extend_from_slice(b"\r\n\r\n");
            } else {
                out.extend_from_slice(b"\r\n");
            }
            in_para = 0;
            para_len = rng.gen_range(2..=6);
        } else {
            out.push(b' ');
        }
        f.render(ctx, out);
        in_para += 1;
    }
    if out.len() + closer.approx_len + 12 <= NOTE_MAX {
        out.push(b' ');
        closer.render(ctx, out);
    }
    out.truncate(NOTE_MAX);
    while matches!(out.last(), Some(b'\r' | b'\n' | b' ')) {
        out.pop();
    }
}

/// Writes a text answer of `n` sentences from `bank`, separated by spaces.
pub fn sentences<R: Rng>(bank: &Bank, rng: &mut R, n: usize, ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    for i in 0..n {
        if i > 0 {
            out.push(b' ');
        }
        bank.pick(rng).render(ctx, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn banks_encode_without_loss() {
        let all: Vec<&[&str]> = vec![
            words::GIRLS,
            words::BOYS,
            words::WOMEN,
            words::MEN,
            words::SURNAMES,
            words::STREETS,
            words::BODY,
            words::CLOSERS,
            words::STRENGTHS,
            words::RISKS,
            words::CHILD_VIEWS,
            words::YOUNG_CHILD_VIEWS,
            words::PARENT_VIEWS,
            words::DECISIONS,
            words::ACTIONS,
            words::GOALS,
            words::OWNERS,
            words::OUTCOMES,
        ];
        let mut n = 0;
        for bank in all.iter().chain(words::OPENERS).chain(words::TITLES) {
            for s in *bank {
                let (_, _, lossy) = encoding_rs::WINDOWS_1252.encode(s);
                assert!(!lossy, "{s}");
                n += 1;
            }
        }
        assert!(n > 300);
        assert!(words::BODY.len() <= 128);
        for (o, t) in words::OPENERS.iter().zip(words::TITLES) {
            assert_eq!(o.len(), t.len());
        }
        assert_eq!(words::OPENERS.len(), words::NOTE_TYPES.len());
    }

    #[test]
    fn notes_stay_within_bounds() {
        let banks = Banks::new();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let ctx = Ctx {
            child: b"Zo\xeb",
            parent: b"Mum",
            time: *b"10:30",
        };
        let mut out = Vec::new();
        let mut total = 0;
        for i in 0..2000 {
            let t = note_target(&mut rng);
            let opener = banks.openers[i % 8].pick(&mut rng);
            note(&banks, &mut rng, opener, t, &ctx, &mut out);
            assert!(
                out.len() >= NOTE_MIN && out.len() <= NOTE_MAX,
                "{}",
                out.len()
            );
            assert!(!out.contains(&b'{'));
            total += out.len();
        }
        let avg = total / 2000;
        assert!((800..1100).contains(&avg), "{avg}");
    }
}
