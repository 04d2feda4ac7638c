//! Date and date-time formats as mapping files spell them: `dd/mm/yyyy`,
//! `yyyy-mm-dd`, `dd/mm/yyyy HH:MM`, `yyyy-mm-dd HH:MM:SS.fff`, and `excel`
//! for Excel serial numbers (days since 1899-12-30, with a fraction for time).
//!
//! Hand-written rather than chrono's `parse_from_str`: these few fixed shapes
//! are parsed on the hot path of every row, and a compiled token list is
//! several times faster than a strftime interpreter. Day, month, hour,
//! minute and second take one or two digits (`1/2/2020` is common in
//! exports); the year takes four. Calendar validity is chrono's.

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Day,
    Month,
    Year,
    Hour,
    Minute,
    Second,
    Fraction,
    Lit(u8),
}

/// One accepted date format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateFormat {
    /// A pattern of tokens and literal characters.
    Pattern {
        /// The pattern as written.
        text: String,
        /// Compiled tokens.
        toks: Vec<TokRepr>,
    },
    /// An Excel serial number.
    Excel,
}

/// A compiled token (opaque).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokRepr(Tok);

/// The formats accepted when a mapping names none.
pub const DEFAULT_FORMATS: &[&str] = &[
    "dd/mm/yyyy",
    "dd/mm/yyyy HH:MM",
    "dd/mm/yyyy HH:MM:SS",
    "yyyy-mm-dd",
    "yyyy-mm-dd HH:MM:SS",
    "yyyy-mm-dd HH:MM:SS.fff",
    "yyyy-mm-ddTHH:MM:SS",
    "excel",
];

/// How a source writes a typed date cell (see `casebridge_model::TextRow`).
pub const TYPED_FORMATS: &[&str] = &[
    "yyyy-mm-dd",
    "yyyy-mm-dd HH:MM:SS",
    "yyyy-mm-dd HH:MM:SS.fff",
];

impl DateFormat {
    /// The format as a mapping writes it.
    pub fn describe(&self) -> String {
        match self {
            DateFormat::Excel => "excel serial".to_string(),
            DateFormat::Pattern { text, .. } => text.clone(),
        }
    }

    /// Parses a format as written in a mapping file.
    pub fn parse(text: &str) -> Result<DateFormat, String> {
        if text.eq_ignore_ascii_case("excel") {
            return Ok(DateFormat::Excel);
        }
        let mut toks = Vec::new();
        let mut rest = text;
        let table: [(&str, Tok); 7] = [
            ("yyyy", Tok::Year),
            ("dd", Tok::Day),
            ("mm", Tok::Month),
            ("HH", Tok::Hour),
            ("MM", Tok::Minute),
            ("SS", Tok::Second),
            ("fff", Tok::Fraction),
        ];
        'outer: while !rest.is_empty() {
            for (name, tok) in table {
                if let Some(r) = rest.strip_prefix(name) {
                    toks.push(TokRepr(tok));
                    rest = r;
                    continue 'outer;
                }
            }
            let c = rest.as_bytes()[0];
            if c.is_ascii_alphanumeric() && c != b'T' {
                return Err(format!(
                    "unknown date format `{text}`: use dd, mm, yyyy, HH, MM, SS, fff, literal \
                     separators, or `excel`"
                ));
            }
            if !c.is_ascii() {
                return Err(format!(
                    "unknown date format `{text}`: separators must be ASCII"
                ));
            }
            toks.push(TokRepr(Tok::Lit(c)));
            rest = &rest[1..];
        }
        let count = |t: Tok| toks.iter().filter(|x| x.0 == t).count();
        if count(Tok::Day) == 0 || count(Tok::Month) == 0 || count(Tok::Year) == 0 {
            return Err(format!("date format `{text}` needs dd, mm and yyyy"));
        }
        // Found by fuzzing: a part given twice (`SS.ffffff` is two `fff`s)
        // reads ambiguously and cannot be written back.
        let parts = [
            Tok::Day,
            Tok::Month,
            Tok::Year,
            Tok::Hour,
            Tok::Minute,
            Tok::Second,
            Tok::Fraction,
        ];
        if parts.iter().any(|t| count(*t) > 1) {
            return Err(format!("date format `{text}` gives a part twice"));
        }
        Ok(DateFormat::Pattern {
            text: text.to_string(),
            toks,
        })
    }

    /// Whether the format carries a time of day.
    pub fn has_time(&self) -> bool {
        match self {
            DateFormat::Excel => true,
            DateFormat::Pattern { toks, .. } => toks.iter().any(|t| t.0 == Tok::Hour),
        }
    }

    /// Writes a date-time in this format (the inverse of
    /// [`DateFormat::parse_datetime`] for values it reads; day, month and
    /// time parts are written with two digits).
    pub fn format(&self, dt: NaiveDateTime) -> String {
        let mut out = String::new();
        self.format_into(dt, &mut out);
        out
    }

    /// [`DateFormat::format`], appending to `out`.
    pub fn format_into(&self, dt: NaiveDateTime, out: &mut String) {
        use chrono::{Datelike, Timelike};
        use std::fmt::Write as _;
        match self {
            DateFormat::Excel => {
                // As in parsing: serials before 60 (1900-03-01) count from
                // 1899-12-31, later ones from 1899-12-30 (Excel's 1900-02-29).
                let march_1900 =
                    NaiveDate::from_ymd_opt(1900, 3, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
                let day = if march_1900.is_some_and(|m| dt < m) {
                    31
                } else {
                    30
                };
                let epoch =
                    NaiveDate::from_ymd_opt(1899, 12, day).and_then(|d| d.and_hms_opt(0, 0, 0));
                let Some(epoch) = epoch else {
                    return;
                };
                let secs = (dt - epoch).num_seconds();
                let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
                let _ = if rest == 0 {
                    write!(out, "{days}")
                } else {
                    write!(out, "{}", days as f64 + rest as f64 / 86_400.0)
                };
            }
            DateFormat::Pattern { toks, .. } => {
                out.reserve(toks.len() * 2);
                for t in toks {
                    match t.0 {
                        Tok::Year => match u32::try_from(dt.year()) {
                            Ok(y) if y < 10_000 => push_digits(out, y, 4),
                            _ => {
                                let _ = write!(out, "{:04}", dt.year());
                            }
                        },
                        Tok::Month => push_digits(out, dt.month(), 2),
                        Tok::Day => push_digits(out, dt.day(), 2),
                        Tok::Hour => push_digits(out, dt.hour(), 2),
                        Tok::Minute => push_digits(out, dt.minute(), 2),
                        Tok::Second => push_digits(out, dt.second(), 2),
                        Tok::Fraction => push_digits(out, dt.nanosecond() / 1_000_000, 3),
                        Tok::Lit(c) => out.push(char::from(c)),
                    }
                }
            }
        }
    }

    /// Parses `s` (already trimmed) as a date-time in this format.
    pub fn parse_datetime(&self, s: &str) -> Option<NaiveDateTime> {
        match self {
            DateFormat::Excel => parse_excel(s),
            DateFormat::Pattern { toks, .. } => parse_pattern(toks, s.as_bytes()),
        }
    }
}

fn digits(b: &[u8], i: &mut usize, min: usize, max: usize) -> Option<u32> {
    let start = *i;
    let mut v = 0u32;
    while *i < b.len() && *i - start < max && b[*i].is_ascii_digit() {
        v = v * 10 + u32::from(b[*i] - b'0');
        *i += 1;
    }
    (*i - start >= min).then_some(v)
}

fn parse_pattern(toks: &[TokRepr], b: &[u8]) -> Option<NaiveDateTime> {
    let (mut y, mut mo, mut d, mut h, mut mi, mut s, mut nanos) = (0i32, 0, 0, 0, 0, 0, 0u32);
    let mut i = 0;
    for t in toks {
        match t.0 {
            Tok::Year => y = digits(b, &mut i, 4, 4)? as i32,
            Tok::Month => mo = digits(b, &mut i, 1, 2)?,
            Tok::Day => d = digits(b, &mut i, 1, 2)?,
            Tok::Hour => h = digits(b, &mut i, 1, 2)?,
            Tok::Minute => mi = digits(b, &mut i, 1, 2)?,
            Tok::Second => s = digits(b, &mut i, 1, 2)?,
            Tok::Fraction => {
                let start = i;
                let v = digits(b, &mut i, 1, 9)?;
                nanos = v * 10u32.pow(9 - (i - start) as u32);
            }
            Tok::Lit(c) => {
                if b.get(i) != Some(&c) {
                    return None;
                }
                i += 1;
            }
        }
    }
    if i != b.len() {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(y, mo, d)?;
    let time = NaiveTime::from_hms_nano_opt(h, mi, s, nanos)?;
    Some(date.and_time(time))
}

fn parse_excel(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    if b.is_empty() || !b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    // Excel's serials run from 1 (1900-01-01) to 2958465 (9999-12-31); its
    // fictitious 1900-02-29 (serial 60) is why the epoch is 1899-12-30.
    if !(1.0..2_958_466.0).contains(&v) || (60.0..61.0).contains(&v) {
        return None;
    }
    let days = v.trunc() as i64;
    let secs = ((v - v.trunc()) * 86_400.0).round() as i64;
    let epoch = NaiveDate::from_ymd_opt(1899, 12, if days < 60 { 31 } else { 30 })?;
    epoch
        .and_hms_opt(0, 0, 0)?
        .checked_add_signed(Duration::days(days) + Duration::seconds(secs))
}

/// A list of formats tried in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormats(Vec<DateFormat>);

impl DateFormats {
    /// The first format (the one written back by default).
    pub fn first(&self) -> Option<&DateFormat> {
        self.0.first()
    }

    /// The formats, in the order they are tried.
    pub fn iter(&self) -> impl Iterator<Item = &DateFormat> {
        self.0.iter()
    }

    /// How many formats.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compiles a list of formats.
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<DateFormats, String> {
        list.iter()
            .map(|s| DateFormat::parse(s.as_ref()))
            .collect::<Result<_, _>>()
            .map(DateFormats)
    }

    /// The canonical forms of typed date cells ([`TYPED_FORMATS`]), which a
    /// mapping accepts from such a cell whatever its own formats.
    pub fn typed() -> &'static DateFormats {
        static TYPED: std::sync::LazyLock<DateFormats> = std::sync::LazyLock::new(|| {
            // The fallback never happens (the list is constant and valid),
            // and would still read every canonical form.
            DateFormats::parse(TYPED_FORMATS).unwrap_or_else(|_| DateFormats::default_list())
        });
        &TYPED
    }

    /// The default list ([`DEFAULT_FORMATS`]).
    pub fn default_list() -> DateFormats {
        DateFormats::parse(DEFAULT_FORMATS).unwrap_or(DateFormats(vec![DateFormat::Excel]))
    }

    /// The first format that reads `s` as a date-time (a date alone is midnight).
    pub fn parse_datetime(&self, s: &str) -> Option<NaiveDateTime> {
        self.0.iter().find_map(|f| f.parse_datetime(s))
    }

    /// The first format that reads `s`, with the value.
    pub fn parse_with_format(&self, s: &str) -> Option<(NaiveDateTime, &DateFormat)> {
        self.0
            .iter()
            .find_map(|f| f.parse_datetime(s).map(|d| (d, f)))
    }

    /// The formats, as written, for messages.
    pub fn describe(&self) -> String {
        self.0
            .iter()
            .map(|f| match f {
                DateFormat::Excel => "excel serial",
                DateFormat::Pattern { text, .. } => text.as_str(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Appends `n` zero-padded to `width` digits, as `{:0width$}` does (more
/// digits where `n` needs them), without the formatting machinery.
fn push_digits(out: &mut String, n: u32, width: usize) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(n);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(digits);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> Option<String> {
        DateFormats::default_list()
            .parse_datetime(s)
            .map(|d| d.to_string())
    }

    #[test]
    fn digits_are_padded_as_format_pads_them() {
        for (n, width) in [
            (0, 2),
            (7, 2),
            (42, 2),
            (123, 2),
            (5, 3),
            (999, 3),
            (1000, 3),
        ]
        .into_iter()
        .chain([(0, 4), (9, 4), (2024, 4), (99_999, 4), (u32::MAX, 4)])
        {
            let mut s = String::new();
            push_digits(&mut s, n, width);
            assert_eq!(s, format!("{n:0width$}"));
        }
    }

    #[test]
    fn written_dates_read_back() {
        let f = DateFormat::parse("dd/mm/yyyy HH:MM:SS.fff").unwrap();
        let t = NaiveDate::from_ymd_opt(987, 3, 4)
            .and_then(|d| d.and_hms_milli_opt(5, 6, 7, 89))
            .unwrap();
        assert_eq!(f.format(t), "04/03/0987 05:06:07.089");
        assert_eq!(f.parse_datetime(&f.format(t)), Some(t));
        let mut s = String::from("x");
        f.format_into(t, &mut s);
        assert_eq!(s, "x04/03/0987 05:06:07.089");
    }

    #[test]
    fn uk_iso_and_excel_dates_parse() {
        assert_eq!(dt("04/03/2021").as_deref(), Some("2021-03-04 00:00:00"));
        assert_eq!(dt("4/3/2021").as_deref(), Some("2021-03-04 00:00:00"));
        assert_eq!(
            dt("04/03/2021 14:05").as_deref(),
            Some("2021-03-04 14:05:00")
        );
        assert_eq!(dt("2021-03-04").as_deref(), Some("2021-03-04 00:00:00"));
        assert_eq!(
            dt("2021-03-04 09:10:11.500").as_deref(),
            Some("2021-03-04 09:10:11.500")
        );
        assert_eq!(
            dt("2021-03-04T09:10:11").as_deref(),
            Some("2021-03-04 09:10:11")
        );
        assert_eq!(dt("44259").as_deref(), Some("2021-03-04 00:00:00"));
        assert_eq!(dt("44259.75").as_deref(), Some("2021-03-04 18:00:00"));
        assert_eq!(dt("1").as_deref(), Some("1900-01-01 00:00:00"));
    }

    #[test]
    fn impossible_and_malformed_dates_do_not_parse() {
        for bad in [
            "31/02/2021",
            "2021-13-40",
            "next week",
            "04/03/21",
            "04/03/2021 25:00",
            "",
            "60",
            "04/03/2021x",
        ] {
            assert_eq!(dt(bad), None, "{bad}");
        }
    }

    #[test]
    fn formatting_inverts_parsing() {
        let formats = DateFormats::default_list();
        for s in [
            "04/03/2021",
            "04/03/2021 14:05",
            "2021-03-04 09:10:11.500",
            "2021-03-04T09:10:11",
            "44259",
            "44259.75",
            // Found by fuzzing (fuzz/regressions/date_formats): a serial before
            // Excel's fictitious 1900-02-29 was formatted back as 60.75.
            "59.75",
            "1",
            "61",
        ] {
            let (dt, f) = formats.parse_with_format(s).unwrap();
            assert_eq!(f.format(dt), s);
        }
    }

    #[test]
    fn unknown_format_tokens_are_rejected() {
        assert!(DateFormat::parse("dd/mm/yy").is_err());
        assert!(DateFormat::parse("HH:MM").is_err());
        assert!(DateFormat::parse("dd.mm.yyyy").is_ok());
        assert!(DateFormat::parse("yyyy-mm-ddTHH:MM:SS.ffffff").is_err());
        assert!(DateFormat::parse("dd/mm/yyyy dd").is_err());
    }
}
