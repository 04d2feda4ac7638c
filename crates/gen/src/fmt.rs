//! Byte-level formatting of the values the exports hold: integers, UK dates
//! and date-times, SQL Server date-times, and Windows-1252 text.
//!
//! Everything appends to a caller's buffer so that rows are built without
//! allocating.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

/// Appends the decimal digits of `n`.
pub fn push_u64(buf: &mut Vec<u8>, n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    let mut n = n;
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

fn push_2(buf: &mut Vec<u8>, n: u32) {
    buf.push(b'0' + (n / 10 % 10) as u8);
    buf.push(b'0' + (n % 10) as u8);
}

fn push_4(buf: &mut Vec<u8>, n: i32) {
    let n = n.clamp(0, 9999) as u32;
    push_2(buf, n / 100);
    push_2(buf, n % 100);
}

/// Appends `dd/mm/yyyy`.
pub fn push_date(buf: &mut Vec<u8>, d: NaiveDate) {
    push_2(buf, d.day());
    buf.push(b'/');
    push_2(buf, d.month());
    buf.push(b'/');
    push_4(buf, d.year());
}

/// Appends `dd/mm/yyyy HH:MM`.
pub fn push_datetime(buf: &mut Vec<u8>, dt: NaiveDateTime) {
    push_date(buf, dt.date());
    buf.push(b' ');
    push_2(buf, dt.hour());
    buf.push(b':');
    push_2(buf, dt.minute());
}

/// Appends `yyyy-mm-dd HH:MM:SS` (SQL Server style).
pub fn push_sql_datetime(buf: &mut Vec<u8>, dt: NaiveDateTime) {
    push_4(buf, dt.year());
    buf.push(b'-');
    push_2(buf, dt.month());
    buf.push(b'-');
    push_2(buf, dt.day());
    buf.push(b' ');
    push_2(buf, dt.hour());
    buf.push(b':');
    push_2(buf, dt.minute());
    buf.push(b':');
    push_2(buf, dt.second());
}

/// Appends `s` encoded in Windows-1252 (characters it cannot hold become
/// numeric character references, as encoding_rs does; the generator's own
/// text never has any).
pub fn push_text(buf: &mut Vec<u8>, s: &str) {
    if s.is_ascii() {
        buf.extend_from_slice(s.as_bytes());
    } else {
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(s);
        buf.extend_from_slice(&bytes);
    }
}

/// `s` encoded in Windows-1252.
pub fn w1252(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len());
    push_text(&mut v, s);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 7).unwrap();
        let dt = d.and_hms_opt(9, 5, 3).unwrap();
        let mut b = Vec::new();
        push_date(&mut b, d);
        b.push(b'|');
        push_datetime(&mut b, dt);
        b.push(b'|');
        push_sql_datetime(&mut b, dt);
        b.push(b'|');
        push_u64(&mut b, 0);
        b.push(b'|');
        push_u64(&mut b, 18_446_744_073_709_551_615);
        assert_eq!(
            String::from_utf8(b).unwrap(),
            "07/03/2026|07/03/2026 09:05|2026-03-07 09:05:03|0|18446744073709551615"
        );
        assert_eq!(
            w1252("Zoë O’Neill £5 – ok"),
            b"Zo\xeb O\x92Neill \xa35 \x96 ok"
        );
    }
}
