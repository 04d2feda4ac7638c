//! `DM_WORKFLOW_STEPS.csv`, in the shape of `DM_WORKFLOW_STEPS_PEOPLE_VW`:
//! one row per step and subject, so a sibling group's step repeats its
//! `WORKFLOW_STEP_ID` once per child.

use rand::Rng;

use super::{Gen, TableKind, TableReport};
use crate::faults::{rule, FaultKind};
use crate::fmt::{push_datetime, push_u64};
use crate::out::{Row, Truth};

pub const COLUMNS: &[&str] = &[
    "WORKFLOW_STEP_ID",
    "WORKFLOW_STEP_TYPE_ID",
    "PERSON_ID",
    "SUBGROUP_ID",
    "STEP_STATUS",
    "INCOMING_ON",
    "STARTED_ON",
    "COMPLETED_ON",
    "ASSIGNEE_ID",
    "RESPONSIBLE_TEAM_ID",
];

const ID: usize = 0;
const TYPE: usize = 1;
const PERSON: usize = 2;
const SUBGROUP: usize = 3;
const STATUS: usize = 4;
const INCOMING: usize = 5;
const STARTED: usize = 6;
const COMPLETED: usize = 7;
const ASSIGNEE: usize = 8;
const TEAM: usize = 9;

#[derive(Clone, Copy)]
enum Fault {
    BlankType,
    BlankStarted,
    BadStarted,
    BadType,
    EndBeforeStart,
    MissingPerson,
    Ragged,
}

impl FaultKind for Fault {
    fn csv_only(self) -> bool {
        matches!(self, Fault::Ragged)
    }
}

pub fn write(g: &Gen<'_>) -> anyhow::Result<(TableReport, Vec<Truth>)> {
    let kind = TableKind::WorkflowSteps;
    let (_content, _dups, mut faults) = g.rngs(kind);
    let w = g.world;
    let mut table = g.table(kind)?;
    let mut row = Row::new(COLUMNS.len());
    let mut candidates = Vec::with_capacity(8);
    for fam in &w.families {
        for step in &fam.steps {
            for &c in &fam.children {
                row.reset(COLUMNS.len());
                push_u64(row.set(ID), step.id);
                push_u64(row.set(TYPE), u64::from(step.ty));
                push_u64(row.set(PERSON), w.persons[c].id);
                push_u64(row.set(SUBGROUP), fam.subgroup);
                row.put(STATUS, step.status.as_bytes());
                push_datetime(row.set(INCOMING), step.incoming);
                push_datetime(row.set(STARTED), step.started);
                if let Some(done) = step.completed {
                    push_datetime(row.set(COMPLETED), done);
                }
                push_u64(row.set(ASSIGNEE), step.assignee);
                push_u64(row.set(TEAM), step.team);
                if faults.roll() {
                    candidates.clear();
                    candidates.extend([
                        Fault::BlankType,
                        Fault::BlankStarted,
                        Fault::BadStarted,
                        Fault::BadType,
                        Fault::MissingPerson,
                        Fault::Ragged,
                    ]);
                    if step.completed.is_some() {
                        candidates.push(Fault::EndBeforeStart);
                    }
                    let line = table.line();
                    match faults.choose_fault(&candidates) {
                        Some(Fault::BlankType) => {
                            row.set(TYPE);
                            faults.record(line, rule::REQUIRED, "WORKFLOW_STEP_TYPE_ID", "blank");
                        }
                        Some(Fault::BlankStarted) => {
                            row.set(STARTED);
                            faults.record(line, rule::REQUIRED, "STARTED_ON", "blank");
                        }
                        Some(Fault::BadStarted) => {
                            let bad = faults.bad_datetime();
                            row.put(STARTED, bad);
                            faults.record(line, rule::TYPE, "STARTED_ON", "not a date");
                        }
                        Some(Fault::BadType) => {
                            let bad = faults
                                .choose(&[&b"9999"[..], b"1099", b"1012"])
                                .unwrap_or(b"9999");
                            row.put(TYPE, bad);
                            faults.record(
                                line,
                                rule::CODE,
                                "WORKFLOW_STEP_TYPE_ID",
                                "unknown step type",
                            );
                        }
                        Some(Fault::EndBeforeStart) => {
                            let back = faults.rng().gen_range(24 * 60..=30 * 24 * 60);
                            let done = step.started - chrono::Duration::minutes(back);
                            push_datetime(row.set(COMPLETED), done);
                            faults.record(
                                line,
                                rule::END_BEFORE_START,
                                "COMPLETED_ON",
                                "completed before started",
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
