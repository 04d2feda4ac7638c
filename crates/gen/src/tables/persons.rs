//! `DM_PERSONS.csv`, with duplicate person records at the end.

use std::borrow::Cow;

use chrono::{Datelike, NaiveDate};
use rand::Rng;

use super::{Gen, TableKind, TableReport};
use crate::faults::rule;
use crate::fmt::{push_date, push_text, push_u64};
use crate::out::{Row, Truth};
use crate::words;
use crate::world::{days, years_after, Person};

pub const COLUMNS: &[&str] = &[
    "PERSON_ID",
    "FIRST_NAME",
    "LAST_NAME",
    "FULL_NAME",
    "DATE_OF_BIRTH",
    "AGE_ESTIMATED",
    "DATE_OF_DEATH",
    "GENDER",
    "NHS_ID",
    "UPN_ID",
    "FULL_ETHNICITY_CODE",
    "IS_CHILD_LEGACY",
];

const ID: usize = 0;
const FIRST: usize = 1;
const LAST: usize = 2;
const FULL: usize = 3;
const DOB: usize = 4;
const AGE_EST: usize = 5;
const DOD: usize = 6;
const GENDER: usize = 7;
const NHS: usize = 8;
const UPN: usize = 9;
const ETH: usize = 10;
const CHILD: usize = 11;

/// A person row's values (a duplicate's may differ from the person's).
struct Values<'a> {
    id: u64,
    first: Cow<'a, str>,
    last: Cow<'a, str>,
    dob: NaiveDate,
    nhs: Option<&'a str>,
    upn: Option<&'a str>,
}

fn fill(row: &mut Row, p: &Person, v: &Values<'_>) {
    row.reset(COLUMNS.len());
    push_u64(row.set(ID), v.id);
    push_text(row.set(FIRST), &v.first);
    push_text(row.set(LAST), &v.last);
    let full = row.set(FULL);
    push_text(full, &v.first);
    full.push(b' ');
    push_text(full, &v.last);
    push_date(row.set(DOB), v.dob);
    row.put(AGE_EST, if p.age_estimated { b"Y" } else { b"N" });
    if let Some(d) = p.dod {
        push_date(row.set(DOD), d);
    }
    row.put(GENDER, p.gender.as_bytes());
    if let Some(n) = v.nhs {
        row.put(NHS, n.as_bytes());
    }
    if let Some(u) = v.upn {
        row.put(UPN, u.as_bytes());
    }
    row.put(ETH, p.ethnicity.as_bytes());
    row.put(CHILD, if p.is_child() { b"Y" } else { b"N" });
}

#[derive(Clone, Copy)]
enum Fault {
    BlankLast,
    BlankDob,
    BlankGender,
    BadDob,
    BadGender,
    BadEthnicity,
    Nhs,
    Upn,
    DobFuture,
    DobOld,
}

/// A realistic variant of a first name: a nickname or plain spelling, or a
/// typing slip.
fn vary_first<R: Rng>(rng: &mut R, first: &str) -> String {
    if let Some((_, nick)) = words::NICKNAMES.iter().find(|(n, _)| *n == first) {
        return (*nick).to_string();
    }
    let chars: Vec<char> = first.chars().collect();
    if chars.len() >= 4 {
        let i = rng.gen_range(1..chars.len() - 1);
        let mut c = chars.clone();
        match rng.gen_range(0..3) {
            0 if c[i] != c[i + 1] => c.swap(i, i + 1),
            1 => c.insert(i, c[i]),
            _ => {
                c.remove(i);
            }
        }
        return c.into_iter().collect();
    }
    let mut s = first.to_string();
    s.push(chars.last().copied().unwrap_or('e'));
    s
}

pub fn write(g: &Gen<'_>) -> anyhow::Result<(TableReport, Vec<Truth>)> {
    let kind = TableKind::Persons;
    let (_content, mut dup_rng, mut faults) = g.rngs(kind);
    let w = g.world;
    let mut table = g.table(kind)?;
    let mut row = Row::new(COLUMNS.len());
    let dups: Vec<bool> = w
        .persons
        .iter()
        .map(|_| g.opts.duplicate_rate > 0.0 && dup_rng.gen_bool(g.opts.duplicate_rate))
        .collect();
    let mut candidates = Vec::with_capacity(10);
    for (pi, p) in w.persons.iter().enumerate() {
        let v = Values {
            id: p.id,
            first: Cow::Borrowed(p.first),
            last: Cow::Borrowed(p.last),
            dob: p.dob,
            nhs: p.nhs.as_deref(),
            upn: p.upn.as_deref(),
        };
        fill(&mut row, p, &v);
        if !dups[pi] && faults.roll() {
            candidates.clear();
            candidates.extend([
                Fault::BlankLast,
                Fault::BlankGender,
                Fault::BadGender,
                Fault::BadEthnicity,
            ]);
            if p.dod.is_none() {
                candidates.extend([
                    Fault::BlankDob,
                    Fault::BadDob,
                    Fault::DobFuture,
                    Fault::DobOld,
                ]);
            }
            if p.nhs.is_some() {
                candidates.push(Fault::Nhs);
            }
            if p.upn.is_some() {
                candidates.push(Fault::Upn);
            }
            if let Some(f) = faults.choose(&candidates) {
                let line = table.line();
                match f {
                    Fault::BlankLast => {
                        row.set(LAST);
                        faults.record(line, rule::REQUIRED, "LAST_NAME", "blank");
                    }
                    Fault::BlankDob => {
                        row.set(DOB);
                        faults.record(line, rule::REQUIRED, "DATE_OF_BIRTH", "blank");
                    }
                    Fault::BlankGender => {
                        row.set(GENDER);
                        faults.record(line, rule::REQUIRED, "GENDER", "blank");
                    }
                    Fault::BadDob => {
                        let bad = faults.bad_date();
                        row.put(DOB, bad);
                        faults.record(line, rule::TYPE, "DATE_OF_BIRTH", "not a date");
                    }
                    Fault::BadGender => {
                        let bad = faults.choose(&[&b"X"[..], b"Q", b"0"]).unwrap_or(b"X");
                        row.put(GENDER, bad);
                        faults.record(line, rule::CODE, "GENDER", "unknown gender code");
                    }
                    Fault::BadEthnicity => {
                        let bad = faults
                            .choose(&[&b"ZZZZ"[..], b"WBRT", b"XXXX"])
                            .unwrap_or(b"ZZZZ");
                        row.put(ETH, bad);
                        faults.record(
                            line,
                            rule::CODE,
                            "FULL_ETHNICITY_CODE",
                            "unknown ethnicity code",
                        );
                    }
                    Fault::Nhs => {
                        let nhs = p.nhs.as_deref().unwrap_or("9990000000").as_bytes();
                        let f = row.set(NHS);
                        f.extend_from_slice(nhs);
                        if faults.rng().gen_bool(0.5) {
                            f.truncate(9);
                            faults.record(line, rule::NHS, "NHS_ID", "9 digits");
                        } else {
                            let last = f.len() - 1;
                            let d = f[last].wrapping_sub(b'0');
                            let shift = faults.rng().gen_range(1..=9u8);
                            f[last] = b'0' + (d + shift) % 10;
                            faults.record(line, rule::NHS, "NHS_ID", "bad check digit");
                        }
                    }
                    Fault::Upn => {
                        let upn = p.upn.as_deref().unwrap_or("A000000000000").as_bytes();
                        let f = row.set(UPN);
                        f.extend_from_slice(upn);
                        let letters = casebridge_model::ids::UPN_LETTERS;
                        let shift = faults.rng().gen_range(1..letters.len());
                        let at = letters.iter().position(|l| *l == f[0]).unwrap_or(0);
                        f[0] = letters[(at + shift) % letters.len()];
                        faults.record(line, rule::UPN, "UPN_ID", "bad check letter");
                    }
                    Fault::DobFuture => {
                        let years = faults.rng().gen_range(2..=4);
                        let extra = faults.rng().gen_range(0..365);
                        let d = years_after(w.as_of, years) + days(extra);
                        push_date(row.set(DOB), d);
                        faults.record(
                            line,
                            rule::DOB_FUTURE,
                            "DATE_OF_BIRTH",
                            "2 to 5 years after as-of",
                        );
                    }
                    Fault::DobOld => {
                        let y = faults.rng().gen_range(1850..=1899);
                        let d = NaiveDate::from_ymd_opt(y, p.dob.month(), p.dob.day().min(28))
                            .unwrap_or(NaiveDate::MIN);
                        push_date(row.set(DOB), d);
                        faults.record(
                            line,
                            rule::DOB_IMPLAUSIBLE,
                            "DATE_OF_BIRTH",
                            "born in the 1800s",
                        );
                    }
                }
            }
        }
        table.write(&row)?;
    }
    // Duplicate records, created later under new ids.
    let mut next_id = w
        .persons
        .last()
        .map_or(crate::world::FIRST_PERSON_ID, |p| p.id + 1);
    let mut n_dups = 0;
    for (pi, p) in w.persons.iter().enumerate() {
        if !dups[pi] {
            continue;
        }
        let mut first = Cow::Borrowed(p.first);
        let mut last = Cow::Borrowed(p.last);
        let mut dob = p.dob;
        match dup_rng.gen_range(0..4) {
            0 | 1 => first = Cow::Owned(vary_first(&mut dup_rng, p.first)),
            2 if p.last.contains('’') => last = Cow::Owned(p.last.replace('’', "'")),
            2 => first = Cow::Owned(vary_first(&mut dup_rng, p.first)),
            _ => {}
        }
        if dup_rng.gen_bool(0.3) && dob.day() <= 12 && dob.day() != dob.month() {
            if let Some(swapped) = NaiveDate::from_ymd_opt(dob.year(), dob.day(), dob.month()) {
                if swapped < w.as_of - days(1) && p.dod.is_none_or(|d| swapped < d) {
                    dob = swapped;
                }
            }
        }
        let nhs = if dup_rng.gen_bool(0.6) {
            p.nhs.as_deref()
        } else {
            None
        };
        let upn = if dup_rng.gen_bool(0.5) {
            p.upn.as_deref()
        } else {
            None
        };
        let v = Values {
            id: next_id,
            first,
            last,
            dob,
            nhs,
            upn,
        };
        fill(&mut row, p, &v);
        faults.record_duplicate(table.line(), rule::DUP_PERSON, p.id);
        table.write(&row)?;
        next_id += 1;
        n_dups += 1;
    }
    let report = TableReport {
        file: g.file(kind),
        rows: table.rows,
        bytes: table.bytes,
        faults: faults.count,
        duplicates: n_dups,
    };
    table.finish()?;
    Ok((report, faults.truth))
}
