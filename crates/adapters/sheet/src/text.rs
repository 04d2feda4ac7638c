//! Cell values to text: the one spelling mappings parse (see the crate docs).

use calamine::{DataRef, ExcelDateTime};
use chrono::{Datelike, Timelike};

/// What a converted cell is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Text (possibly empty).
    Text,
    /// A date or date-time cell, written `yyyy-mm-dd` or
    /// `yyyy-mm-dd HH:MM:SS[.fff]`: delivered as a typed cell, which a
    /// mapping reads as a date whatever its text date formats.
    Date,
    /// An error value (`#N/A` ...); the text is the error as Excel shows it.
    Error,
    /// Text longer than the cell limit, not held.
    Oversized,
}

/// Largest serial number that is a date (9999-12-31 is 2958465).
const MAX_SERIAL: f64 = 2_958_466.0;

/// Appends the text of `value` to `out`, unless it is longer than `cap`
/// bytes (then appends nothing and says [`Kind::Oversized`]).
pub(crate) fn push_cell(out: &mut String, value: &DataRef<'_>, cap: usize) -> Kind {
    match value {
        DataRef::Empty => Kind::Text,
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) if s.len() > cap => {
            Kind::Oversized
        }
        DataRef::SharedString(s) if s.len() > cap => Kind::Oversized,
        DataRef::String(s) | DataRef::DurationIso(s) => {
            push_xstring(out, s);
            Kind::Text
        }
        DataRef::SharedString(s) => {
            push_xstring(out, s);
            Kind::Text
        }
        DataRef::DateTimeIso(s) => {
            if push_iso(out, s) {
                Kind::Date
            } else {
                Kind::Text
            }
        }
        DataRef::Int(i) => {
            push_i64(out, *i);
            Kind::Text
        }
        DataRef::Float(f) => {
            push_f64(out, *f);
            Kind::Text
        }
        DataRef::Bool(b) => {
            out.push_str(if *b { "TRUE" } else { "FALSE" });
            Kind::Text
        }
        DataRef::DateTime(dt) => {
            if push_datetime(out, dt) {
                Kind::Date
            } else {
                Kind::Text
            }
        }
        DataRef::Error(e) => {
            use std::fmt::Write;
            let _ = write!(out, "{e}");
            Kind::Error
        }
    }
}

/// Appends OOXML string text, decoding its `_xHHHH_` escapes (ECMA-376
/// `ST_Xstring`): Excel writes a carriage return in a cell as `_x000D_` and
/// a literal `_x` sequence as `_x005F_x...`; calamine hands them over as
/// they are. An escape that names no character is kept as written.
pub(crate) fn push_xstring(out: &mut String, s: &str) {
    let b = s.as_bytes();
    let mut from = 0;
    let mut i = 0;
    while let Some(at) = memchr_x(&b[i..]) {
        let p = i + at;
        let esc = b.get(p..p + 7);
        let code = esc
            .filter(|e| e[6] == b'_' && e[2..6].iter().all(u8::is_ascii_hexdigit))
            .and_then(|e| std::str::from_utf8(&e[2..6]).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32);
        match code {
            Some(c) => {
                out.push_str(&s[from..p]);
                out.push(c);
                i = p + 7;
                from = i;
            }
            None => i = p + 1,
        }
    }
    out.push_str(&s[from..]);
}

/// The offset of the next `_x` in `b`.
fn memchr_x(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"_x")
}

/// Decimal digits of an integer, without going through `fmt`.
pub(crate) fn push_i64(out: &mut String, v: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push('-');
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

/// An integral number as an integer (`12345`, never `12345.0` or `1.2345E4`),
/// any other as the shortest text that reads back to the same `f64`, never
/// with an exponent.
pub(crate) fn push_f64(out: &mut String, f: f64) {
    // Every integral f64 below 2^63 converts to i64 exactly.
    if f.fract() == 0.0 && f.abs() < 9.223_372_036_854_775e18 {
        push_i64(out, f as i64);
    } else {
        use std::fmt::Write;
        // `Display` for f64 is shortest round-trip and never uses an exponent.
        let _ = write!(out, "{f}");
    }
}

fn push_2(out: &mut String, v: u32) {
    out.push(char::from(b'0' + (v / 10 % 10) as u8));
    out.push(char::from(b'0' + (v % 10) as u8));
}

fn push_date(out: &mut String, year: i32, month: u32, day: u32) {
    let y = year.unsigned_abs();
    push_2(out, y / 100);
    push_2(out, y % 100);
    out.push('-');
    push_2(out, month);
    out.push('-');
    push_2(out, day);
}

fn push_hms(out: &mut String, h: u32, m: u32, s: u32) {
    push_2(out, h);
    out.push(':');
    push_2(out, m);
    out.push(':');
    push_2(out, s);
}

/// A date or time cell: `yyyy-mm-dd` at midnight, `yyyy-mm-dd HH:MM:SS`
/// otherwise, `HH:MM:SS` for a time of day alone (serial below 1); a
/// duration as `[-]H:MM:SS` (hours not wrapped at 24). Rounded to the
/// second. A serial outside Excel's dates (negative, past 9999-12-31) is
/// written as the number it is. Says whether it wrote a date.
fn push_datetime(out: &mut String, dt: &ExcelDateTime) -> bool {
    let v = dt.as_f64();
    if dt.is_duration() {
        if v.is_nan() || v.abs() >= 1e12 {
            push_f64(out, v);
            return false;
        }
        let secs = (v * 86_400.0).round() as i64;
        if secs < 0 {
            out.push('-');
        }
        let secs = secs.unsigned_abs();
        push_i64(out, (secs / 3600) as i64);
        out.push(':');
        push_2(out, (secs / 60 % 60) as u32);
        out.push(':');
        push_2(out, (secs % 60) as u32);
        return false;
    }
    if !(0.0..MAX_SERIAL).contains(&v) {
        push_f64(out, v);
        return false;
    }
    if v < 1.0 {
        let secs = ((v * 86_400.0).round() as u32).min(86_399);
        push_hms(out, secs / 3600, secs / 60 % 60, secs % 60);
        return false;
    }
    // In range, calamine's conversion (1900 leap-year bug, 1904 system) cannot fail.
    let Some(t) = dt.as_datetime() else {
        push_f64(out, v);
        return false;
    };
    let t = t + chrono::TimeDelta::milliseconds(500);
    if t.year() > 9999 {
        push_f64(out, v);
        return false;
    }
    push_date(out, t.year(), t.month(), t.day());
    let (h, m, s) = (t.hour(), t.minute(), t.second());
    if (h, m, s) != (0, 0, 0) {
        out.push(' ');
        push_hms(out, h, m, s);
    }
    true
}

/// An ISO 8601 date cell (`t="d"`): `yyyy-mm-ddTHH:MM[:SS[.fff]]` is
/// written as the other date cells are (a fraction of a second kept when
/// not zero); anything else as it is. Says whether it wrote a date.
fn push_iso(out: &mut String, s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let date_ok = b.len() >= 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10);
    if !date_ok {
        out.push_str(s);
        return false;
    }
    if b.len() == 10 {
        out.push_str(s);
        return true;
    }
    let time_ok =
        b.len() >= 16 && b[10] == b'T' && digits(11..13) && b[13] == b':' && digits(14..16);
    if !time_ok {
        out.push_str(s);
        return false;
    }
    let (secs, rest) = if b.len() >= 19 && b[16] == b':' && digits(17..19) {
        (&s[17..19], &s[19..])
    } else {
        ("00", &s[16..])
    };
    let frac = match rest.strip_prefix('.') {
        Some(f) if !f.is_empty() && f.bytes().all(|c| c.is_ascii_digit()) => f,
        None if rest.is_empty() => "",
        _ => {
            out.push_str(s);
            return false;
        }
    };
    let frac_zero = frac.bytes().all(|c| c == b'0');
    out.push_str(&s[..10]);
    if &s[11..16] == "00:00" && secs == "00" && frac_zero {
        return true;
    }
    out.push(' ');
    out.push_str(&s[11..16]);
    out.push(':');
    out.push_str(secs);
    if !frac_zero {
        out.push('.');
        out.push_str(frac);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::ExcelDateTimeType;

    fn text(v: DataRef<'_>) -> String {
        let mut s = String::new();
        push_cell(&mut s, &v, usize::MAX);
        s
    }

    #[test]
    fn ooxml_escapes_are_decoded() {
        let dec = |s: &str| {
            let mut out = String::new();
            push_xstring(&mut out, s);
            out
        };
        assert_eq!(dec("line one_x000D_\nline two"), "line one\r\nline two");
        assert_eq!(dec("a_x005F_x0041_b"), "a_x0041_b");
        assert_eq!(dec("plain"), "plain");
        assert_eq!(dec("_x00e9_t_x00E9_"), "été");
        assert_eq!(dec("_xZZZZ_ _x12_ _x"), "_xZZZZ_ _x12_ _x");
        assert_eq!(dec("_xD800_"), "_xD800_", "a surrogate is no character");
        assert_eq!(dec("é_x0041_é"), "éAé");
    }

    #[test]
    fn numbers() {
        assert_eq!(text(DataRef::Float(12345.0)), "12345");
        assert_eq!(text(DataRef::Float(9_434_765_919.0)), "9434765919");
        assert_eq!(text(DataRef::Float(-0.0)), "0");
        assert_eq!(text(DataRef::Float(-42.0)), "-42");
        assert_eq!(text(DataRef::Float(0.1)), "0.1");
        assert_eq!(text(DataRef::Float(1.5e-7)), "0.00000015");
        assert_eq!(text(DataRef::Float(1e20)), "100000000000000000000");
        assert_eq!(text(DataRef::Int(i64::MIN)), "-9223372036854775808");
        assert_eq!(text(DataRef::Int(0)), "0");
        assert_eq!(text(DataRef::Bool(true)), "TRUE");
    }

    fn dt(v: f64, ty: ExcelDateTimeType, is_1904: bool) -> String {
        text(DataRef::DateTime(ExcelDateTime::new(v, ty, is_1904)))
    }

    #[test]
    fn dates_times_durations() {
        use ExcelDateTimeType::{DateTime, TimeDelta};
        assert_eq!(dt(45306.0, DateTime, false), "2024-01-15");
        assert_eq!(dt(45306.4375, DateTime, false), "2024-01-15 10:30:00");
        assert_eq!(dt(45306.0 - 1462.0, DateTime, true), "2024-01-15");
        assert_eq!(dt(1.0, DateTime, false), "1900-01-01");
        assert_eq!(dt(61.0, DateTime, false), "1900-03-01");
        assert_eq!(dt(0.75, DateTime, false), "18:00:00");
        // 23:59:59.9 rounds into the next day.
        assert_eq!(
            dt(45306.0 + 86_399.9 / 86_400.0, DateTime, false),
            "2024-01-16"
        );
        assert_eq!(dt(2_958_465.0, DateTime, false), "9999-12-31");
        assert_eq!(dt(-3.0, DateTime, false), "-3");
        assert_eq!(dt(1e300, DateTime, false), text(DataRef::Float(1e300)));
        assert_eq!(dt(f64::NAN, DateTime, false), "NaN");
        assert_eq!(dt(1.5625, TimeDelta, false), "37:30:00");
        assert_eq!(dt(-0.5, TimeDelta, false), "-12:00:00");
        assert_eq!(dt(f64::INFINITY, TimeDelta, false), "inf");
    }

    #[test]
    fn iso_dates() {
        let iso = |s: &str| text(DataRef::DateTimeIso(s.to_string()));
        assert_eq!(iso("2024-01-15"), "2024-01-15");
        assert_eq!(iso("2024-01-15T00:00:00"), "2024-01-15");
        assert_eq!(iso("2024-01-15T00:00:00.000"), "2024-01-15");
        assert_eq!(iso("2024-01-15T10:30"), "2024-01-15 10:30:00");
        assert_eq!(iso("2024-01-15T10:30:05.250"), "2024-01-15 10:30:05.250");
        assert_eq!(iso("2024-01-15T10:30:05Z"), "2024-01-15T10:30:05Z");
        assert_eq!(iso("10:30"), "10:30");
        assert_eq!(iso("2024-01-15Tß"), "2024-01-15Tß");
    }

    #[test]
    fn errors_and_caps() {
        let mut s = String::new();
        assert_eq!(
            push_cell(&mut s, &DataRef::Error(calamine::CellErrorType::NA), 100),
            Kind::Error
        );
        assert_eq!(s, "#N/A");
        let mut s = String::new();
        assert_eq!(
            push_cell(&mut s, &DataRef::SharedString("abcdef"), 3),
            Kind::Oversized
        );
        assert_eq!(s, "");
    }
}
