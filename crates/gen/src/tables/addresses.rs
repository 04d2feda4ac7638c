//! `DM_ADDRESSES.csv`: each household member's current (HOME) address and,
//! for many, a previous (PREV) one.

use rand::Rng;

use super::{Gen, TableKind, TableReport};
use crate::faults::{rule, FaultKind};
use crate::fmt::{push_date, push_text, push_u64};
use crate::out::{Row, Truth};
use crate::world::days;

pub const COLUMNS: &[&str] = &[
    "REF_ADDRESSES_PEOPLE_ID",
    "PERSON_ID",
    "ADDRESS",
    "POST_CODE",
    "ADDRESS_TYPE",
    "START_DATE",
    "END_DATE",
];

const ID: usize = 0;
const PERSON: usize = 1;
const ADDRESS: usize = 2;
const POST_CODE: usize = 3;
const TYPE: usize = 4;
const START: usize = 5;
const END: usize = 6;

#[derive(Clone, Copy)]
enum Fault {
    BlankPostcode,
    BlankStart,
    BadStart,
    BadType,
    BadPostcode,
    EndBeforeStart,
    MissingPerson,
    Ragged,
}

impl FaultKind for Fault {
    fn csv_only(self) -> bool {
        matches!(self, Fault::Ragged)
    }
}

/// An invalid postcode made from a valid one.
fn bad_postcode<R: Rng>(rng: &mut R, pc: &str) -> String {
    let (outward, inward) = pc.split_once(' ').unwrap_or((pc, ""));
    let bad = if rng.gen_bool(0.5) && !inward.is_empty() {
        format!("{inward} {outward}")
    } else {
        pc[..pc.len().saturating_sub(1)].to_string()
    };
    if casebridge_model::ids::is_valid_postcode(&bad) {
        "LU1 3A".to_string()
    } else {
        bad
    }
}

pub fn write(g: &Gen<'_>) -> anyhow::Result<(TableReport, Vec<Truth>)> {
    let kind = TableKind::Addresses;
    let (_content, _dups, mut faults) = g.rngs(kind);
    let w = g.world;
    let mut table = g.table(kind)?;
    let mut row = Row::new(COLUMNS.len());
    let mut next_id = 400_001u64;
    let mut candidates = Vec::with_capacity(8);
    for (fi, fam) in w.families.iter().enumerate() {
        for pi in w.carers(fi).chain(fam.children.iter().copied()) {
            let p = &w.persons[pi];
            // (address, type, start, end)
            let mut rows = Vec::with_capacity(2);
            if let (Some((prev, prev_start)), None) = (&fam.prev, p.joined) {
                if p.dob < fam.moved_in - days(1) {
                    rows.push((prev, "PREV", (*prev_start).max(p.dob), Some(fam.moved_in)));
                }
            }
            let home_start = fam.moved_in.max(p.dob).max(p.joined.unwrap_or(p.dob));
            rows.push((&fam.home, "HOME", home_start, None));
            for (addr, ty, start, end) in rows {
                row.reset(COLUMNS.len());
                push_u64(row.set(ID), next_id);
                next_id += 1;
                push_u64(row.set(PERSON), p.id);
                push_text(row.set(ADDRESS), &addr.line);
                row.put(POST_CODE, addr.postcode.as_bytes());
                row.put(TYPE, ty.as_bytes());
                push_date(row.set(START), start);
                if let Some(e) = end {
                    push_date(row.set(END), e);
                }
                if faults.roll() {
                    candidates.clear();
                    candidates.extend([
                        Fault::BlankPostcode,
                        Fault::BlankStart,
                        Fault::BadStart,
                        Fault::BadType,
                        Fault::BadPostcode,
                        Fault::MissingPerson,
                        Fault::Ragged,
                    ]);
                    if end.is_some() {
                        candidates.push(Fault::EndBeforeStart);
                    }
                    let line = table.line();
                    match faults.choose_fault(&candidates) {
                        Some(Fault::BlankPostcode) => {
                            row.set(POST_CODE);
                            faults.record(line, rule::REQUIRED, "POST_CODE", "blank");
                        }
                        Some(Fault::BlankStart) => {
                            row.set(START);
                            faults.record(line, rule::REQUIRED, "START_DATE", "blank");
                        }
                        Some(Fault::BadStart) => {
                            let bad = faults.bad_date();
                            row.put(START, bad);
                            faults.record(line, rule::TYPE, "START_DATE", "not a date");
                        }
                        Some(Fault::BadType) => {
                            row.put(TYPE, if ty == "HOME" { b"HOEM" } else { b"PERV" });
                            faults.record(line, rule::CODE, "ADDRESS_TYPE", "unknown address type");
                        }
                        Some(Fault::BadPostcode) => {
                            let bad = bad_postcode(faults.rng(), &addr.postcode);
                            row.put(POST_CODE, bad.as_bytes());
                            faults.record(
                                line,
                                rule::POSTCODE,
                                "POST_CODE",
                                "not a postcode shape",
                            );
                        }
                        Some(Fault::EndBeforeStart) => {
                            let back = faults.rng().gen_range(1..=400);
                            push_date(row.set(END), start - days(back));
                            faults.record(
                                line,
                                rule::END_BEFORE_START,
                                "END_DATE",
                                "end before start",
                            );
                        }
                        Some(Fault::MissingPerson) => {
                            let id = faults.missing_person();
                            push_u64(row.set(PERSON), id);
                            faults.record(line, rule::REF_PERSON, "PERSON_ID", "no such person");
                        }
                        Some(Fault::Ragged) => faults.ragged(&mut row, line),
                        None => {}
                    }
                }
                table.write(&row)?;
            }
        }
    }
    let report = TableReport {
        file: g.file(kind),
        rows: table.rows,
        bytes: table.bytes,
        faults: faults.count,
        duplicates: 0,
    };
    table.finish()?;
    Ok((report, faults.truth))
}
