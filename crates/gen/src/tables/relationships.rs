//! `DM_PERSONAL_RELATIONSHIPS.csv`: family relationships, both directions.
//! `RELATIONSHIP_TYPE` says what `PERSON_ID` is to `OTHER_PERSON_ID`
//! (mother to child: `MOTHER`; child to mother: `CHILD`), and `IS_MOTHER`
//! is `Y` exactly on `MOTHER` rows.

use chrono::NaiveDate;
use rand::Rng;

use super::{Gen, TableKind, TableReport};
use crate::faults::{rule, FaultKind};
use crate::fmt::{push_date, push_u64};
use crate::out::{Row, Truth};
use crate::world::{days, rand_date, years_after, years_before, Role};
use crate::Rng8;

pub const COLUMNS: &[&str] = &[
    "PERSONAL_RELATIONSHIP_ID",
    "PERSON_ID",
    "OTHER_PERSON_ID",
    "RELATIONSHIP_TYPE",
    "IS_MOTHER",
    "FAMILY_CATEGORY",
    "START_DATE",
    "END_DATE",
];

const ID: usize = 0;
const PERSON: usize = 1;
const OTHER: usize = 2;
const TYPE: usize = 3;
const IS_MOTHER: usize = 4;
const CATEGORY: usize = 5;
const START: usize = 6;
const END: usize = 7;

/// One relationship, stated in both directions.
struct Rel {
    a: usize,
    b: usize,
    a_to_b: &'static str,
    b_to_a: &'static str,
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
}

#[derive(Clone, Copy)]
enum Fault {
    BlankType,
    BadType,
    MissingOther,
    Ragged,
}

impl FaultKind for Fault {
    fn csv_only(self) -> bool {
        matches!(self, Fault::Ragged)
    }
}

fn maybe<R: Rng>(rng: &mut R, p: f64, d: NaiveDate) -> Option<NaiveDate> {
    if rng.gen_bool(p) {
        Some(d)
    } else {
        None
    }
}

fn family_rels(g: &Gen<'_>, rng: &mut Rng8, fi: usize, out: &mut Vec<Rel>) {
    let w = g.world;
    let fam = &w.families[fi];
    let role_of = |r: Role| fam.adults.iter().copied().find(|a| w.persons[*a].role == r);
    let mother = role_of(Role::Mother);
    let father = role_of(Role::Father);
    let stepfather = role_of(Role::StepFather);
    let stepmother = role_of(Role::StepMother);
    let gm = role_of(Role::Grandmother);
    let gf = role_of(Role::Grandfather);
    let eldest = fam.children.first().map(|c| w.persons[*c].dob);
    // Partners.
    let couples = [
        (mother, father),
        (mother, stepfather),
        (father, stepmother),
        (gm, gf),
    ];
    for (x, y) in couples {
        if let (Some(x), Some(y)) = (x, y) {
            let (px, py) = (&w.persons[x], &w.persons[y]);
            let start = match px.joined.or(py.joined) {
                Some(j) => Some(j),
                None => {
                    let hi = eldest.map_or(w.as_of - days(400), |e| e - days(200));
                    let lo = years_after(px.dob.max(py.dob), 16).max(years_before(hi, 6));
                    if lo < hi {
                        {
                            let d = rand_date(rng, lo, hi);
                            maybe(rng, 0.7, d)
                        }
                    } else {
                        None
                    }
                }
            };
            let end = px.dod.or(py.dod);
            out.push(Rel {
                a: x,
                b: y,
                a_to_b: "PARTNER",
                b_to_a: "PARTNER",
                start,
                end,
            });
        }
    }
    // Grandparents are parents of the mother, when she is recorded.
    if let Some(m) = mother {
        for (gp, ty) in [(gm, "MOTHER"), (gf, "FATHER")] {
            if let Some(gp) = gp {
                let start = maybe(rng, 0.5, w.persons[m].dob);
                out.push(Rel {
                    a: gp,
                    b: m,
                    a_to_b: ty,
                    b_to_a: "CHILD",
                    start,
                    end: None,
                });
            }
        }
    }
    // Parents, step-parents and grandparents of each child.
    for &c in &fam.children {
        let child = &w.persons[c];
        let born = child.dob;
        let mut parents: Vec<(usize, &'static str, Option<NaiveDate>)> = Vec::new();
        if let Some(m) = child.mother {
            parents.push((m, "MOTHER", maybe(rng, 0.7, born)));
        }
        if let Some(f) = child.father {
            parents.push((f, "FATHER", maybe(rng, 0.7, born)));
        }
        if let Some(s) = stepfather {
            if child.father != Some(s) {
                parents.push((s, "STEPFATHER", w.persons[s].joined.map(|j| j.max(born))));
            }
        }
        if let Some(s) = stepmother {
            parents.push((s, "STEPMOTHER", w.persons[s].joined.map(|j| j.max(born))));
        }
        if let Some(x) = gm {
            parents.push((x, "GRANDMOTHER", maybe(rng, 0.5, born)));
        }
        if let Some(x) = gf {
            parents.push((x, "GRANDFATHER", maybe(rng, 0.5, born)));
        }
        for (p, ty, start) in parents {
            let end = w.persons[p].dod.filter(|d| start.is_none_or(|s| *d > s));
            out.push(Rel {
                a: p,
                b: c,
                a_to_b: ty,
                b_to_a: "CHILD",
                start,
                end,
            });
        }
    }
    // Siblings.
    for (i, &x) in fam.children.iter().enumerate() {
        for &y in &fam.children[i + 1..] {
            let (px, py) = (&w.persons[x], &w.persons[y]);
            let ty = if px.mother == py.mother && px.father == py.father {
                "SIBLING"
            } else {
                "HALFSIBLING"
            };
            let start = maybe(rng, 0.6, px.dob.max(py.dob));
            out.push(Rel {
                a: x,
                b: y,
                a_to_b: ty,
                b_to_a: ty,
                start,
                end: None,
            });
        }
    }
}

pub fn write(g: &Gen<'_>) -> anyhow::Result<(TableReport, Vec<Truth>)> {
    let kind = TableKind::Relationships;
    let (mut rng, _dups, mut faults) = g.rngs(kind);
    let w = g.world;
    let mut table = g.table(kind)?;
    let mut row = Row::new(COLUMNS.len());
    let mut next_id = 600_001u64;
    let mut rels = Vec::new();
    let mut candidates = Vec::with_capacity(4);
    for fi in 0..w.families.len() {
        rels.clear();
        family_rels(g, &mut rng, fi, &mut rels);
        for r in &rels {
            for (p, o, ty) in [(r.a, r.b, r.a_to_b), (r.b, r.a, r.b_to_a)] {
                row.reset(COLUMNS.len());
                push_u64(row.set(ID), next_id);
                next_id += 1;
                push_u64(row.set(PERSON), w.persons[p].id);
                push_u64(row.set(OTHER), w.persons[o].id);
                row.put(TYPE, ty.as_bytes());
                let is_mother = ty == "MOTHER";
                row.put(IS_MOTHER, if is_mother { b"Y" } else { b"N" });
                row.put(CATEGORY, b"Family");
                if let Some(s) = r.start {
                    push_date(row.set(START), s);
                }
                if let Some(e) = r.end {
                    push_date(row.set(END), e);
                }
                if faults.roll() {
                    candidates.clear();
                    candidates.extend([Fault::MissingOther, Fault::Ragged]);
                    if !is_mother {
                        candidates.extend([Fault::BlankType, Fault::BadType]);
                    }
                    let line = table.line();
                    match faults.choose_fault(&candidates) {
                        Some(Fault::BlankType) => {
                            row.set(TYPE);
                            faults.record(line, rule::REQUIRED, "RELATIONSHIP_TYPE", "blank");
                        }
                        Some(Fault::BadType) => {
                            let bad = faults
                                .choose(&[&b"COUSINN"[..], b"SIBLNG", b"FATHR", b"PARTNR"])
                                .unwrap_or(b"COUSINN");
                            row.put(TYPE, bad);
                            faults.record(
                                line,
                                rule::CODE,
                                "RELATIONSHIP_TYPE",
                                "unknown relationship type",
                            );
                        }
                        Some(Fault::MissingOther) => {
                            let id = faults.missing_person();
                            push_u64(row.set(OTHER), id);
                            faults.record(
                                line,
                                rule::REF_PERSON,
                                "OTHER_PERSON_ID",
                                "no such person",
                            );
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
