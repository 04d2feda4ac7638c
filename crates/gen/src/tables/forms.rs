//! `DM_CACHED_FORM_ANSWERS.csv`: FS Workbook forms filled from the workbook
//! template loaded at run time, one row per answer. Forms sit on the
//! family's FS Workbook (1009) or group supervision (1010) steps.
//!
//! Answers apply to the whole family (`SUBJECT_PERSON_ID` 0) except: a
//! question whose code contains `CHILD` in a plain section is answered once
//! per child, with the child's id; and every answer of a `gcp2` form (the
//! Graded Care Profile grades one child's care) carries that child's id.

use std::collections::BTreeSet;

use anyhow::Context;
use casebridge_mapping::template::{FormDef, Question};
use casebridge_mapping::{AnswerType, Template};
use chrono::{NaiveDateTime, NaiveTime};
use rand::seq::SliceRandom;
use rand::Rng;

use super::{Gen, TableKind, TableReport};
use crate::faults::{rule, FaultKind, Faults};
use crate::fmt::{push_sql_datetime, push_text, push_u64};
use crate::out::{Row, Table, Truth};
use crate::prose::{self, Bank, Ctx};
use crate::world::{days, step_type, Family, Role, Step};
use crate::{words, Rng8};

pub const COLUMNS: &[&str] = &[
    "FORM_ID",
    "WORKFLOW_STEP_ID",
    "SUBGROUP_ID",
    "SUBJECT_PERSON_ID",
    "QUESTION_USER_CODE",
    "TEXT_ANSWER",
    "DATE_ANSWER",
    "NUMBER_ANSWER",
    "FORM_ANSWER_ROW_ID",
];

const FORM: usize = 0;
const STEP: usize = 1;
const SUBGROUP: usize = 2;
const SUBJECT: usize = 3;
const CODE: usize = 4;
const TEXT: usize = 5;
const DATE: usize = 6;
const NUMBER: usize = 7;
const ROW_ID: usize = 8;

#[derive(Clone, Copy)]
enum Fault {
    BlankCode,
    UnknownCode,
    BadNumber,
    BadValue,
    OutOfRange,
    Ragged,
}

impl FaultKind for Fault {
    fn csv_only(self) -> bool {
        matches!(self, Fault::Ragged)
    }
}

/// How many forms of a code a family gets.
fn form_count(rng: &mut Rng8, code: &str, forced: bool) -> usize {
    match code {
        "session_record" => rng.gen_range(1..=3),
        "chapter_summary" => rng.gen_range(1..=2),
        "group_supervision" => 1 + usize::from(rng.gen_bool(0.3)),
        _ if forced => 1,
        _ => usize::from(rng.gen_bool(0.5)),
    }
}

/// Integer bounds of a numeric question.
fn int_bounds(q: &Question) -> (i64, i64) {
    let lo = q.min.map_or(0, |m| m.ceil() as i64);
    let hi = q.max.map_or(lo.max(0) + 100, |m| m.floor() as i64);
    (lo, hi.max(lo))
}

/// A misspelling of `code` that is no question of the template.
fn typo(rng: &mut Rng8, code: &str, known: &BTreeSet<String>) -> String {
    let b = code.as_bytes();
    for _ in 0..32 {
        if b.len() < 6 {
            break;
        }
        let i = rng.gen_range(4..b.len() - 1);
        let mut c = b.to_vec();
        match rng.gen_range(0..3) {
            0 => c.swap(i, i + 1),
            1 => {
                c.remove(i);
            }
            _ => c.insert(i, b[i]),
        }
        let s = String::from_utf8_lossy(&c).into_owned();
        if s != code && !known.contains(&s.to_ascii_uppercase()) {
            return s;
        }
    }
    format!("{code}_X")
}

/// A value of a code question that is not one of its values.
fn bad_value(rng: &mut Rng8, q: &Question) -> String {
    let known = |s: &str| q.values.iter().any(|v| v.trim().eq_ignore_ascii_case(s));
    if let Some(v) = q.values.choose(rng) {
        let mut s = v.clone();
        if rng.gen_bool(0.5) && s.len() > 2 {
            s.pop();
        } else {
            s.push('X');
        }
        if !known(&s) {
            return s;
        }
    }
    "NOT_A_VALUE".to_string()
}

struct FormWriter<'g, 'a> {
    g: &'g Gen<'a>,
    rng: Rng8,
    faults: Faults,
    table: Table,
    row: Row,
    known: BTreeSet<String>,
    next_form: u64,
    next_row: u64,
    candidates: Vec<Fault>,
    text: Vec<u8>,
}

/// What an answer may draw on.
struct AnswerCtx<'x> {
    form_id: u64,
    step: &'x Step,
    fam: &'x Family,
    form_at: NaiveDateTime,
    /// A household member the repeating row is about.
    member: Option<usize>,
    /// A worker the repeating row is about.
    worker: Option<usize>,
    /// A child to name in text.
    child: usize,
}

impl FormWriter<'_, '_> {
    fn date_for(&mut self, q: &Question, a: &AnswerCtx<'_>) -> NaiveDateTime {
        let code = q.code();
        let rng = &mut self.rng;
        let at = a.form_at;
        let d = if code.contains("START") {
            at - days(rng.gen_range(28..=120))
        } else if code.contains("END") {
            at - days(rng.gen_range(0..=7))
        } else if code.contains("DUE") || code.contains("TARGET") {
            at + days(rng.gen_range(7..=60))
        } else if code.contains("OFFERED") || code.contains("ENGAGE") {
            at - days(rng.gen_range(0..=60))
        } else {
            at
        };
        let lo = a.fam.start.and_time(NaiveTime::MIN);
        let d = d.clamp(lo, self.g.world.limit);
        if q.ty == AnswerType::Date {
            d.date().and_time(NaiveTime::MIN)
        } else {
            d
        }
    }

    /// Fills TEXT_ANSWER, DATE_ANSWER or NUMBER_ANSWER.
    fn answer(&mut self, q: &Question, a: &AnswerCtx<'_>) {
        let w = self.g.world;
        let code = q.code();
        match q.ty {
            AnswerType::Text => {
                let mut text = std::mem::take(&mut self.text);
                text.clear();
                self.text_answer(code, a, &mut text);
                self.row.put(TEXT, &text);
                self.text = text;
            }
            AnswerType::Code => {
                let role = if let Some(m) = a.member {
                    Some(match w.persons[m].role {
                        Role::Mother => "MOTHER",
                        Role::Father => "FATHER",
                        Role::StepFather | Role::StepMother => "STEPPARENT",
                        Role::Grandmother | Role::Grandfather => "GRANDPARENT",
                        Role::Child => "CHILD",
                    })
                } else {
                    a.worker.map(|x| w.workers[x].role)
                };
                let v = match role {
                    Some(r) if code.ends_with("_ROLE") && q.values.iter().any(|v| v == r) => r,
                    _ => q.values.choose(&mut self.rng).map_or("", String::as_str),
                };
                push_text(self.row.set(TEXT), v);
            }
            AnswerType::MultiCode => {
                let n = self.rng.gen_range(1..=q.values.len().clamp(1, 3));
                let mut picked: Vec<usize> =
                    rand::seq::index::sample(&mut self.rng, q.values.len(), n).into_vec();
                picked.sort_unstable();
                let f = self.row.set(TEXT);
                for (i, p) in picked.iter().enumerate() {
                    if i > 0 {
                        f.push(b';');
                    }
                    push_text(f, &q.values[*p]);
                }
            }
            AnswerType::Boolean => {
                let yes = self.rng.gen_bool(0.65);
                self.row.put(TEXT, if yes { b"Y" } else { b"N" });
            }
            AnswerType::Date | AnswerType::Datetime => {
                let d = self.date_for(q, a);
                push_sql_datetime(self.row.set(DATE), d);
            }
            AnswerType::Score | AnswerType::Integer => {
                let (lo, hi) = int_bounds(q);
                let v = self.rng.gen_range(lo..=hi);
                let f = self.row.set(NUMBER);
                if v < 0 {
                    f.push(b'-');
                }
                push_u64(f, v.unsigned_abs());
            }
            AnswerType::Decimal => {
                let lo = q.min.unwrap_or(0.0);
                let hi = q.max.unwrap_or(lo + 100.0).max(lo);
                let v = (self.rng.gen_range(lo..=hi) * 10.0).round() / 10.0;
                let v = v.clamp(lo, hi);
                let s = format!("{v:.1}");
                self.row.put(NUMBER, s.as_bytes());
            }
        }
    }

    fn text_answer(&mut self, code: &str, a: &AnswerCtx<'_>, out: &mut Vec<u8>) {
        let w = self.g.world;
        let banks = self.g.banks;
        let rng = &mut self.rng;
        if code.ends_with("_PERSON_ID") {
            let p = a.member.unwrap_or(a.child);
            push_u64(out, w.persons[p].id);
            return;
        }
        if code.contains("AUTHOR") || code.contains("CHAIR") || code.ends_with("ATTENDEE") {
            let x = a.worker.unwrap_or(a.fam.worker);
            out.extend_from_slice(w.workers[x].user.as_bytes());
            return;
        }
        if code.contains("OWNER") {
            if rng.gen_bool(0.2) {
                out.extend_from_slice(w.workers[a.fam.worker].user.as_bytes());
            } else {
                let o = words::OWNERS[rng.gen_range(0..words::OWNERS.len())];
                push_text(out, o);
            }
            return;
        }
        let carers: Vec<usize> = w.carers(w.persons[a.child].family).collect();
        let parent = match carers.len() {
            0 => b"Mum".to_vec(),
            n => w.parent_label(carers[rng.gen_range(0..n)], rng.gen_bool(0.3)),
        };
        let ctx = Ctx {
            child: &w.persons[a.child].first_w,
            parent: &parent,
            time: *b"10:00",
        };
        let young = crate::world::years_before(w.as_of, 4) < w.persons[a.child].dob;
        let (bank, lo, hi, paras): (&Bank, usize, usize, bool) = if code.contains("CHILD") {
            if young {
                (&banks.young_child_views, 1, 1, false)
            } else {
                (&banks.child_views, 1, 2, false)
            }
        } else if code.contains("PARENT") {
            (&banks.parent_views, 1, 2, false)
        } else if code.contains("STRENGTH") {
            (&banks.strengths, 2, 3, false)
        } else if code.contains("RISK") {
            (&banks.risks, 2, 3, false)
        } else if code.contains("DECISION") {
            (&banks.decisions, 1, 1, false)
        } else if code.contains("ACTION") {
            (&banks.actions, 1, 1, false)
        } else if code.contains("GOAL") {
            (&banks.goals, 1, 1, false)
        } else if code.contains("OUTCOME") {
            (&banks.outcomes, 1, 1, false)
        } else if ["SUMMARY", "ANALYSIS", "EVIDENCE", "RATIONALE", "NOTES"]
            .iter()
            .any(|k| code.contains(k))
        {
            (&banks.body, 3, 6, true)
        } else {
            (&banks.body, 1, 2, false)
        };
        let n = rng.gen_range(lo..=hi);
        if paras && n >= 4 && rng.gen_bool(0.3) {
            prose::sentences(bank, rng, 2, &ctx, out);
            out.extend_from_slice(b"\r\n");
            prose::sentences(bank, rng, n - 2, &ctx, out);
        } else {
            prose::sentences(bank, rng, n, &ctx, out);
        }
    }

    /// Writes one answer row, perhaps with a fault.
    fn emit(
        &mut self,
        subject: u64,
        q: &Question,
        row_id: Option<u64>,
        a: &AnswerCtx<'_>,
    ) -> anyhow::Result<()> {
        self.row.reset(COLUMNS.len());
        push_u64(self.row.set(FORM), a.form_id);
        push_u64(self.row.set(STEP), a.step.id);
        push_u64(self.row.set(SUBGROUP), a.fam.subgroup);
        push_u64(self.row.set(SUBJECT), subject);
        self.row.put(CODE, q.code().as_bytes());
        self.answer(q, a);
        if let Some(r) = row_id {
            push_u64(self.row.set(ROW_ID), r);
        }
        if self.faults.roll() {
            let c = &mut self.candidates;
            c.clear();
            if !q.required {
                c.extend([Fault::BlankCode, Fault::UnknownCode, Fault::Ragged]);
            }
            match q.ty {
                AnswerType::Score => c.extend([Fault::BadNumber, Fault::OutOfRange]),
                AnswerType::Code => c.push(Fault::BadValue),
                _ => {}
            }
            let line = self.table.line();
            let f = self.faults.choose_fault(&self.candidates);
            let faults = &mut self.faults;
            match f {
                Some(Fault::BlankCode) => {
                    self.row.set(CODE);
                    faults.record(line, rule::REQUIRED, "QUESTION_USER_CODE", "blank");
                }
                Some(Fault::UnknownCode) => {
                    let t = typo(faults.rng(), q.code(), &self.known);
                    self.row.put(CODE, t.as_bytes());
                    faults.record(
                        line,
                        rule::UNKNOWN_QUESTION,
                        "QUESTION_USER_CODE",
                        "misspelt question code",
                    );
                }
                Some(Fault::BadNumber) => {
                    let bad = faults
                        .choose(&[&b"seven"[..], b"high", b"five", b"low"])
                        .unwrap_or(b"seven");
                    self.row.put(NUMBER, bad);
                    faults.record(line, rule::TYPE, "NUMBER_ANSWER", "not a number");
                }
                Some(Fault::BadValue) => {
                    let v = bad_value(faults.rng(), q);
                    self.row.put(TEXT, v.as_bytes());
                    faults.record(
                        line,
                        rule::ANSWER_VALUE,
                        "TEXT_ANSWER",
                        "not one of the question's values",
                    );
                }
                Some(Fault::OutOfRange) => {
                    let (lo, hi) = int_bounds(q);
                    let v = if faults.rng().gen_bool(0.7) {
                        hi + faults.rng().gen_range(1..=4)
                    } else {
                        lo - faults.rng().gen_range(1..=2)
                    };
                    self.row.put(NUMBER, v.to_string().as_bytes());
                    faults.record(
                        line,
                        rule::ANSWER_RANGE,
                        "NUMBER_ANSWER",
                        "score out of range",
                    );
                }
                Some(Fault::Ragged) => faults.ragged(&mut self.row, line),
                None => {}
            }
        }
        self.table.write(&self.row)
    }

    fn form(&mut self, fam: &Family, step: &Step, form: &FormDef) -> anyhow::Result<()> {
        let w = self.g.world;
        let form_id = self.next_form;
        self.next_form += 1;
        let form_at = step.started;
        let gcp = form.code().eq_ignore_ascii_case("gcp2");
        let graded_child = fam.children[self.rng.gen_range(0..fam.children.len())];
        let family_subject = if gcp { w.persons[graded_child].id } else { 0 };
        let fi = w.persons[fam.children[0]].family;
        for section in &form.sections {
            if section.repeating {
                let mut rows = self.rng.gen_range(1..=4usize);
                let by_person = section
                    .questions
                    .iter()
                    .any(|q| q.code().ends_with("_PERSON_ID"));
                let by_worker = section
                    .questions
                    .iter()
                    .any(|q| q.ty == AnswerType::Text && q.code().ends_with("ATTENDEE"));
                let members = w.members_shuffled(&mut self.rng, fi);
                let mut workers = w.teams[fam.team].workers.clone();
                workers.shuffle(&mut self.rng);
                if by_person {
                    rows = rows.min(members.len());
                }
                if by_worker {
                    rows = rows.min(workers.len());
                }
                for r in 0..rows {
                    let row_id = self.next_row;
                    self.next_row += 1;
                    let a = AnswerCtx {
                        form_id,
                        step,
                        fam,
                        form_at,
                        member: by_person.then(|| members[r]),
                        worker: if by_worker { Some(workers[r]) } else { None },
                        child: if gcp {
                            graded_child
                        } else {
                            fam.children[self.rng.gen_range(0..fam.children.len())]
                        },
                    };
                    for q in &section.questions {
                        if !q.required && !self.rng.gen_bool(0.8) {
                            continue;
                        }
                        self.emit(family_subject, q, Some(row_id), &a)?;
                    }
                }
            } else {
                for q in &section.questions {
                    if !q.required && !self.rng.gen_bool(0.8) {
                        continue;
                    }
                    let per_child = !gcp && q.ty == AnswerType::Text && q.code().contains("CHILD");
                    if per_child {
                        for &c in &fam.children {
                            let a = AnswerCtx {
                                form_id,
                                step,
                                fam,
                                form_at,
                                member: None,
                                worker: None,
                                child: c,
                            };
                            self.emit(w.persons[c].id, q, None, &a)?;
                        }
                    } else {
                        let a = AnswerCtx {
                            form_id,
                            step,
                            fam,
                            form_at,
                            member: None,
                            worker: None,
                            child: if gcp {
                                graded_child
                            } else {
                                fam.children[self.rng.gen_range(0..fam.children.len())]
                            },
                        };
                        self.emit(family_subject, q, None, &a)?;
                    }
                }
            }
        }
        Ok(())
    }
}

pub fn write(g: &Gen<'_>) -> anyhow::Result<(TableReport, Vec<Truth>)> {
    let kind = TableKind::FormAnswers;
    let template = Template::from_path(&g.opts.template).with_context(|| {
        format!(
            "cannot load the workbook template {}",
            g.opts.template.display()
        )
    })?;
    let (rng, _dups, faults) = g.rngs(kind);
    let known: BTreeSet<String> = template
        .forms
        .iter()
        .flat_map(|f| f.sections.iter())
        .flat_map(|s| s.questions.iter())
        .map(|q| q.code().to_ascii_uppercase())
        .collect();
    let table = g.table(kind)?;
    let mut fw = FormWriter {
        g,
        rng,
        faults,
        table,
        row: Row::new(COLUMNS.len()),
        known,
        next_form: 800_001,
        next_row: 900_001,
        candidates: Vec::with_capacity(8),
        text: Vec::with_capacity(1024),
    };
    let n_forms = template.forms.len();
    let mut plan: Vec<(usize, usize)> = Vec::new();
    for (fi, fam) in g.world.families.iter().enumerate() {
        if fam.children.is_empty() {
            continue;
        }
        let pick_steps = |ty: u32, live: bool| -> Vec<usize> {
            fam.steps
                .iter()
                .enumerate()
                .filter(|(_, s)| s.ty == ty && (!live || s.status != "CANCELLED"))
                .map(|(i, _)| i)
                .collect()
        };
        let mut workbook = pick_steps(step_type::WORKBOOK, true);
        if workbook.is_empty() {
            workbook = pick_steps(step_type::WORKBOOK, false);
        }
        let mut supervision = pick_steps(step_type::GROUP_SUPERVISION, true);
        if supervision.is_empty() {
            supervision = workbook.clone();
        }
        if workbook.is_empty() {
            workbook = supervision.clone();
        }
        if workbook.is_empty() {
            continue;
        }
        plan.clear();
        for (k, form) in template.forms.iter().enumerate() {
            let code = form.code();
            let n = form_count(&mut fw.rng, code, fi % n_forms == k);
            let hosts = if code.contains("supervision") {
                &supervision
            } else {
                &workbook
            };
            for _ in 0..n {
                plan.push((hosts[fw.rng.gen_range(0..hosts.len())], k));
            }
        }
        plan.sort_unstable();
        for &(s, k) in &plan {
            fw.form(fam, &fam.steps[s], &template.forms[k])?;
        }
    }
    let report = TableReport {
        file: g.file(kind),
        rows: fw.table.rows,
        bytes: fw.table.bytes,
        faults: fw.faults.count,
        duplicates: 0,
    };
    fw.table.finish()?;
    Ok((report, fw.faults.truth))
}
