//! `CASE_NOTES.csv`: case notes on the children, streamed family by family.
//! A note about several siblings is repeated for each of them (one row, and
//! one ID, per child). Duplicates (exact or near copies, new ID) come at the
//! end of their family's block.

use chrono::{Duration, NaiveDateTime};
use rand::Rng;

use super::{Gen, TableKind, TableReport};
use crate::faults::{rule, FaultKind};
use crate::fmt::{push_datetime, push_u64};
use crate::out::{Row, Truth};
use crate::prose::{self, Ctx, NOTE_MIN};
use crate::words;
use crate::world::{days, rand_date, rand_time, weighted, years_after};

pub const COLUMNS: &[&str] = &[
    "ID",
    "PERSON_ID",
    "NOTE_TYPE",
    "TITLE",
    "EFFECTIVE_DATE",
    "CREATED_ON",
    "CREATED_BY",
    "NOTE",
    "SIGNIFICANT_EVENT",
    "STATUS",
];

const ID: usize = 0;
const PERSON: usize = 1;
const TYPE: usize = 2;
const TITLE: usize = 3;
const EFFECTIVE: usize = 4;
const CREATED: usize = 5;
const CREATED_BY: usize = 6;
const NOTE: usize = 7;
const SIGNIFICANT: usize = 8;
const STATUS: usize = 9;

/// First case-note ID.
pub const FIRST_NOTE_ID: u64 = 3_000_001;

#[derive(Clone, Copy)]
enum Fault {
    BlankType,
    BlankEffective,
    BlankNote,
    BadEffective,
    BadType,
    Future,
    MissingPerson,
    Ragged,
}

impl FaultKind for Fault {
    fn csv_only(self) -> bool {
        matches!(self, Fault::Ragged)
    }
}

/// A duplicate waiting to be written.
struct Pending {
    of: u64,
    rule: &'static str,
    fields: Vec<Vec<u8>>,
}

/// Rows per family: by default 2 to 5 notes per child; with `--case-notes N`
/// exactly N in all, shared in proportion to the number of children.
fn targets(g: &Gen<'_>, rng: &mut crate::Rng8) -> Vec<u64> {
    let w = g.world;
    match g.opts.case_notes {
        None => w
            .families
            .iter()
            .map(|f| {
                f.children
                    .iter()
                    .map(|_| rng.gen_range(2..=5u64))
                    .sum::<u64>()
            })
            .collect(),
        Some(n) => {
            let kids: Vec<u64> = w.families.iter().map(|f| f.children.len() as u64).collect();
            let total: u64 = kids.iter().sum();
            if total == 0 {
                return vec![0; kids.len()];
            }
            let mut t: Vec<u64> = kids
                .iter()
                .map(|k| (u128::from(n) * u128::from(*k) / u128::from(total)) as u64)
                .collect();
            let mut rest = n - t.iter().sum::<u64>();
            for x in t.iter_mut() {
                if rest == 0 {
                    break;
                }
                *x += 1;
                rest -= 1;
            }
            t
        }
    }
}

/// `HH:MM` of a date-time.
fn hhmm(t: NaiveDateTime) -> [u8; 5] {
    use chrono::Timelike;
    let (h, m) = (t.hour() as u8, t.minute() as u8);
    [
        b'0' + h / 10,
        b'0' + h % 10,
        b':',
        b'0' + m / 10,
        b'0' + m % 10,
    ]
}

/// A small change to a note: doubled space, a typing slip, or truncation
/// at a sentence end. The note always changes.
fn near_edit<R: Rng>(rng: &mut R, note: &mut Vec<u8>) {
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    match rng.gen_range(0..3) {
        1 => {
            if let Some(at) = find(note, b" the ") {
                note[at + 2] = b'e';
                note[at + 3] = b'h';
                return;
            }
        }
        2 if note.len() > NOTE_MIN + 150 => {
            let lo = (note.len() * 6 / 10).max(NOTE_MIN);
            let hi = note.len() * 9 / 10;
            if let Some(cut) = (lo..hi)
                .rev()
                .find(|i| note[*i] == b'.' && note[*i + 1] == b' ')
            {
                note.truncate(cut + 1);
                return;
            }
        }
        _ => {}
    }
    if let Some(at) = find(note, b". ") {
        note.insert(at + 1, b' ');
    } else {
        note.push(b' ');
    }
}

pub fn write(g: &Gen<'_>) -> anyhow::Result<(TableReport, Vec<Truth>)> {
    let kind = TableKind::CaseNotes;
    let (mut rng, mut dup_rng, mut faults) = g.rngs(kind);
    let w = g.world;
    let banks = g.banks;
    let mut table = g.table(kind)?;
    let mut row = Row::new(COLUMNS.len());
    row.f[NOTE].reserve(prose::NOTE_MAX + 16);
    let mut note: Vec<u8> = Vec::with_capacity(prose::NOTE_MAX + 16);
    let targets = targets(g, &mut rng);
    let mut next_id = FIRST_NOTE_ID;
    let mut n_dups = 0u64;
    let mut events: Vec<(NaiveDateTime, u32)> = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    let mut candidates = Vec::with_capacity(8);
    let mut kids_in: Vec<usize> = Vec::with_capacity(5);
    let dup_rate = g.opts.duplicate_rate;
    let last_day = w.limit.date() - days(1);
    for (fi, fam) in w.families.iter().enumerate() {
        let target = targets[fi];
        if target == 0 || fam.children.is_empty() {
            continue;
        }
        let n_kids = fam.children.len();
        // Events: a date and the children it is about (bit mask).
        events.clear();
        let mut rows = 0u64;
        while rows < target {
            let mask: u32 = if n_kids > 1 && rng.gen_bool(0.25) {
                (1u32 << n_kids) - 1
            } else {
                1u32 << rng.gen_range(0..n_kids)
            };
            let d = rand_date(&mut rng, fam.start, last_day);
            events.push((d.and_time(rand_time(&mut rng)), mask));
            rows += u64::from(mask.count_ones());
        }
        events.sort_unstable();
        let carers: Vec<usize> = w.carers(fi).collect();
        let team = &w.teams[fam.team];
        let mut written = 0u64;
        for &(eff, mask) in &events {
            kids_in.clear();
            kids_in.extend((0..n_kids).filter(|k| mask & (1 << k) != 0));
            let ty = weighted(&mut rng, words::NOTE_TYPE_WEIGHTS);
            let which = rng.gen_range(0..banks.openers[ty].0.len());
            let opener = &banks.openers[ty].0[which];
            let title = &banks.titles[ty][which];
            let author = if rng.gen_bool(0.65) || team.workers.is_empty() {
                fam.worker
            } else {
                team.workers[rng.gen_range(0..team.workers.len())]
            };
            let lag = match rng.gen_range(0..10) {
                0..=5 => rng.gen_range(0..60),
                6..=8 => rng.gen_range(60..600),
                _ => rng.gen_range(600..4320),
            };
            let created = (eff + Duration::minutes(lag)).min(w.limit).max(eff);
            let significant = rng.gen_bool(0.08);
            let draft = rng.gen_bool(0.04);
            let about = fam.children[kids_in[rng.gen_range(0..kids_in.len())]];
            let parent_label = match carers.len() {
                0 => b"Mum".to_vec(),
                n => w.parent_label(carers[rng.gen_range(0..n)], rng.gen_bool(0.3)),
            };
            let time = hhmm(eff);
            let ctx = Ctx {
                child: &w.persons[about].first_w,
                parent: &parent_label,
                time,
            };
            let target_len = prose::note_target(&mut rng);
            prose::note(banks, &mut rng, opener, target_len, &ctx, &mut note);
            for &k in &kids_in {
                if written >= target {
                    break;
                }
                written += 1;
                let child = &w.persons[fam.children[k]];
                row.reset(COLUMNS.len());
                push_u64(row.set(ID), next_id);
                let id = next_id;
                next_id += 1;
                push_u64(row.set(PERSON), child.id);
                row.put(TYPE, words::NOTE_TYPES[ty].as_bytes());
                row.put(TITLE, title);
                push_datetime(row.set(EFFECTIVE), eff);
                push_datetime(row.set(CREATED), created);
                row.put(CREATED_BY, w.workers[author].user.as_bytes());
                row.put(NOTE, &note);
                row.put(SIGNIFICANT, if significant { b"Y" } else { b"N" });
                row.put(STATUS, if draft { b"DRAFT" } else { b"COMPLETE" });
                let dup = dup_rate > 0.0 && dup_rng.gen_bool(dup_rate);
                if dup {
                    let mut fields = row.f.clone();
                    let rule = if dup_rng.gen_bool(0.5) {
                        rule::DUP_NOTE_EXACT
                    } else {
                        near_edit(&mut dup_rng, &mut fields[NOTE]);
                        rule::DUP_NOTE_NEAR
                    };
                    pending.push(Pending {
                        of: id,
                        rule,
                        fields,
                    });
                } else if faults.roll() {
                    candidates.clear();
                    candidates.extend([
                        Fault::BlankType,
                        Fault::BlankEffective,
                        Fault::BlankNote,
                        Fault::BadEffective,
                        Fault::BadType,
                        Fault::Future,
                        Fault::MissingPerson,
                        Fault::Ragged,
                    ]);
                    let line = table.line();
                    match faults.choose_fault(&candidates) {
                        Some(Fault::BlankType) => {
                            row.set(TYPE);
                            faults.record(line, rule::REQUIRED, "NOTE_TYPE", "blank");
                        }
                        Some(Fault::BlankEffective) => {
                            row.set(EFFECTIVE);
                            faults.record(line, rule::REQUIRED, "EFFECTIVE_DATE", "blank");
                        }
                        Some(Fault::BlankNote) => {
                            row.set(NOTE);
                            faults.record(line, rule::REQUIRED, "NOTE", "blank");
                        }
                        Some(Fault::BadEffective) => {
                            let bad = faults.bad_datetime();
                            row.put(EFFECTIVE, bad);
                            faults.record(line, rule::TYPE, "EFFECTIVE_DATE", "not a date");
                        }
                        Some(Fault::BadType) => {
                            let bad = faults
                                .choose(&[&b"VISITT"[..], b"HOMEVIST", b"PHNOE", b"EMIAL"])
                                .unwrap_or(b"VISITT");
                            row.put(TYPE, bad);
                            faults.record(line, rule::CODE, "NOTE_TYPE", "unknown note type");
                        }
                        Some(Fault::Future) => {
                            let years = faults.rng().gen_range(2..=4);
                            let extra = faults.rng().gen_range(0..365);
                            let d = years_after(w.as_of, years) + days(extra);
                            push_datetime(row.set(EFFECTIVE), d.and_time(eff.time()));
                            faults.record(
                                line,
                                rule::DATE_FUTURE,
                                "EFFECTIVE_DATE",
                                "2 to 5 years after as-of",
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
        for p in pending.drain(..) {
            let mut dup_row = Row { f: p.fields };
            dup_row.f[ID].clear();
            push_u64(&mut dup_row.f[ID], next_id);
            next_id += 1;
            faults.record_duplicate(table.line(), p.rule, p.of);
            table.write(&dup_row)?;
            n_dups += 1;
        }
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
