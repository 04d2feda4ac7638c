//! The synthetic population: workers and teams, families (parents or carers
//! and children), their home addresses, and the workflow steps of their
//! involvement with children's social care. Built in memory (it is small);
//! the bulky tables are streamed from it.

use std::collections::{BTreeMap, HashSet};

use chrono::{Duration, Months, NaiveDate, NaiveDateTime, NaiveTime};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::fmt::w1252;
use crate::words;
use crate::Rng8;

/// First PERSON_ID.
pub const FIRST_PERSON_ID: u64 = 100_001;

/// Workflow step types.
pub mod step_type {
    pub const CONTACT: u32 = 1001;
    pub const REFERRAL: u32 = 1002;
    pub const ASSESSMENT: u32 = 1003;
    pub const STRATEGY: u32 = 1004;
    pub const S47: u32 = 1005;
    pub const ICPC: u32 = 1006;
    pub const CP_REVIEW: u32 = 1007;
    pub const CIN_REVIEW: u32 = 1008;
    pub const WORKBOOK: u32 = 1009;
    pub const GROUP_SUPERVISION: u32 = 1010;
    pub const CLOSURE: u32 = 1011;
    /// Every valid type id.
    pub const ALL: [u32; 11] = [
        CONTACT,
        REFERRAL,
        ASSESSMENT,
        STRATEGY,
        S47,
        ICPC,
        CP_REVIEW,
        CIN_REVIEW,
        WORKBOOK,
        GROUP_SUPERVISION,
        CLOSURE,
    ];
}

/// A person's place in the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Mother,
    Father,
    StepFather,
    StepMother,
    Grandmother,
    Grandfather,
    Child,
}

/// A person.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: u64,
    pub first: &'static str,
    pub last: &'static str,
    /// First name in Windows-1252, for prose.
    pub first_w: Vec<u8>,
    pub dob: NaiveDate,
    pub dod: Option<NaiveDate>,
    pub gender: &'static str,
    pub nhs: Option<String>,
    pub upn: Option<String>,
    pub ethnicity: &'static str,
    pub age_estimated: bool,
    pub role: Role,
    pub family: usize,
    /// Lives in the family home.
    pub household: bool,
    /// For children: index of the father in `World::persons`, if recorded.
    pub father: Option<usize>,
    /// For children: index of the mother, if recorded.
    pub mother: Option<usize>,
    /// Date the person joined the household, if later than the move.
    pub joined: Option<NaiveDate>,
}

impl Person {
    pub fn is_child(&self) -> bool {
        self.role == Role::Child
    }
}

/// A worker.
#[derive(Debug, Clone)]
pub struct Worker {
    pub id: u64,
    pub user: String,
    /// TM, CSW, SW, DA, SM, AMH or PSY.
    pub role: &'static str,
    pub team: usize,
}

/// A team.
#[derive(Debug, Clone)]
pub struct Team {
    pub id: u64,
    /// Indices into `World::workers`.
    pub workers: Vec<usize>,
}

/// A postal address.
#[derive(Debug, Clone)]
pub struct Address {
    /// One line, with commas.
    pub line: String,
    pub postcode: String,
}

/// A workflow step of a family (its subjects are the family's children).
#[derive(Debug, Clone)]
pub struct Step {
    pub id: u64,
    pub ty: u32,
    pub status: &'static str,
    pub incoming: NaiveDateTime,
    pub started: NaiveDateTime,
    pub completed: Option<NaiveDateTime>,
    pub assignee: u64,
    pub team: u64,
}

/// A family.
#[derive(Debug, Clone)]
pub struct Family {
    pub subgroup: u64,
    /// Indices into `World::persons`.
    pub adults: Vec<usize>,
    pub children: Vec<usize>,
    pub team: usize,
    /// The allocated social worker (index into `World::workers`).
    pub worker: usize,
    /// Date of the first contact.
    pub start: NaiveDate,
    pub home: Address,
    pub moved_in: NaiveDate,
    /// Previous address and the date the family moved there.
    pub prev: Option<(Address, NaiveDate)>,
    pub steps: Vec<Step>,
}

/// Everything generated in memory.
#[derive(Debug, Clone)]
pub struct World {
    pub as_of: NaiveDate,
    pub persons: Vec<Person>,
    pub families: Vec<Family>,
    pub workers: Vec<Worker>,
    pub teams: Vec<Team>,
    /// Last datetime allowed anywhere: the day before as-of, 23:59.
    pub limit: NaiveDateTime,
}

/// `n` days.
pub fn days(n: i64) -> Duration {
    Duration::days(n)
}

/// `d` minus `y` years (29 February becomes 28 February).
pub fn years_before(d: NaiveDate, y: u32) -> NaiveDate {
    d.checked_sub_months(Months::new(y * 12)).unwrap_or(d)
}

/// `d` plus `y` years.
pub fn years_after(d: NaiveDate, y: u32) -> NaiveDate {
    d.checked_add_months(Months::new(y * 12)).unwrap_or(d)
}

/// A date between `lo` and `hi` inclusive (`lo` if `hi` is earlier).
pub fn rand_date<R: Rng>(rng: &mut R, lo: NaiveDate, hi: NaiveDate) -> NaiveDate {
    let span = (hi - lo).num_days();
    if span <= 0 {
        lo
    } else {
        lo + days(rng.gen_range(0..=span))
    }
}

/// A working-hours time.
pub fn rand_time<R: Rng>(rng: &mut R) -> NaiveTime {
    let h = rng.gen_range(8..=18);
    let m = rng.gen_range(0..60);
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

/// `dt`, or the next 08:mm if it falls outside 08:00 to 18:59 (never earlier).
pub fn office_hours(dt: NaiveDateTime) -> NaiveDateTime {
    use chrono::Timelike;
    let m = dt.minute();
    let at = |d: NaiveDate| d.and_time(NaiveTime::from_hms_opt(8, m, 0).unwrap_or(NaiveTime::MIN));
    match dt.hour() {
        0..=7 => at(dt.date()),
        8..=18 => dt,
        _ => at(dt.date() + days(1)),
    }
}

/// Weighted choice.
pub fn weighted<R: Rng>(rng: &mut R, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut x = rng.gen_range(0..total.max(1));
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len().saturating_sub(1)
}

fn pick<R: Rng, T: Copy>(rng: &mut R, xs: &[T]) -> T {
    xs[rng.gen_range(0..xs.len())]
}

/// Lower-case ASCII user-name stem of a name.
fn ascii_fold(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = match c {
            'á' | 'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ñ' => 'n',
            c => c,
        };
        if c.is_ascii_alphabetic() {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Composition of a household.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    TwoParents,
    SingleMother,
    MotherStepfather,
    SingleFather,
    FatherStepmother,
    Grandparents,
}

struct Ids {
    person: u64,
    nhs: HashSet<u64>,
    upn: HashSet<u64>,
}

impl World {
    /// Builds the population for `families` families.
    pub fn build(pop: &mut Rng8, steps_rng: &mut Rng8, families: usize, as_of: NaiveDate) -> World {
        let limit = (as_of - days(1))
            .and_time(NaiveTime::from_hms_opt(23, 59, 0).unwrap_or(NaiveTime::MIN));
        let mut w = World {
            as_of,
            persons: Vec::new(),
            families: Vec::new(),
            workers: Vec::new(),
            teams: Vec::new(),
            limit,
        };
        w.build_workers(pop, families);
        let mut ids = Ids {
            person: FIRST_PERSON_ID,
            nhs: HashSet::new(),
            upn: HashSet::new(),
        };
        for fi in 0..families {
            w.build_family(pop, fi, &mut ids);
        }
        let mut next_step = 700_001;
        for fi in 0..families {
            w.build_steps(steps_rng, fi, &mut next_step);
        }
        w
    }

    fn build_workers(&mut self, rng: &mut Rng8, families: usize) {
        let n_teams = (families / 10).clamp(1, 12);
        let mut stems: BTreeMap<String, u32> = BTreeMap::new();
        let mut next_id = 2001;
        for t in 0..n_teams {
            let mut team = Team {
                id: 301 + t as u64,
                workers: Vec::new(),
            };
            for role in ["TM", "CSW", "SW", "SW", "SW", "DA", "SM", "AMH", "PSY"] {
                let first = if rng.gen_bool(0.7) {
                    pick(rng, words::WOMEN)
                } else {
                    pick(rng, words::MEN)
                };
                let last = pick(rng, words::SURNAMES);
                let mut stem = ascii_fold(&first[..first.chars().next().map_or(0, char::len_utf8)]);
                stem.push_str(&ascii_fold(last));
                let n = stems.entry(stem.clone()).or_insert(0);
                *n += 1;
                let user = format!("{stem}{:02}", *n);
                team.workers.push(self.workers.len());
                self.workers.push(Worker {
                    id: next_id,
                    user,
                    role,
                    team: t,
                });
                next_id += 1;
            }
            self.teams.push(team);
        }
    }

    /// Workers of `team` with `role`.
    pub fn team_role(&self, team: usize, role: &str) -> Vec<usize> {
        self.teams[team]
            .workers
            .iter()
            .copied()
            .filter(|w| self.workers[*w].role == role)
            .collect()
    }

    /// A unique valid NHS number in the 999 test range, or none once that
    /// range (about 909,000 numbers) is nearly used up: without the bound the
    /// retry loop never ended above about 230,000 families.
    fn nhs(&self, rng: &mut Rng8, ids: &mut Ids) -> String {
        for _ in 0..10_000 {
            let body: u64 = rng.gen_range(0..1_000_000);
            let n = 999_000_000 + body;
            let mut nine = [0u8; 9];
            let mut x = n;
            for d in nine.iter_mut().rev() {
                *d = (x % 10) as u8;
                x /= 10;
            }
            let Some(check) = casebridge_model::ids::nhs_check_digit(&nine) else {
                continue;
            };
            let full = n * 10 + u64::from(check);
            if ids.nhs.insert(full) {
                return format!("{full:010}");
            }
        }
        String::new()
    }

    fn upn(&self, rng: &mut Rng8, ids: &mut Ids, dob: NaiveDate) -> String {
        use chrono::Datelike;
        loop {
            let la: u64 = pick(rng, &[821u64, 867, 874, 919]);
            let estab: u64 = rng.gen_range(2000..=2999);
            let year = ((dob.year() + 4) % 100) as u64;
            let serial: u64 = rng.gen_range(1..=999);
            let n = ((la * 10_000 + estab) * 100 + year) * 1000 + serial;
            if !ids.upn.insert(n) {
                continue;
            }
            let rest = format!("{n:012}");
            if let Some(letter) = casebridge_model::ids::upn_check_letter(rest.as_bytes()) {
                let mut s = String::with_capacity(13);
                s.push(char::from(letter));
                s.push_str(&rest);
                return s;
            }
        }
    }

    fn address(&self, rng: &mut Rng8) -> Address {
        let street = pick(rng, words::STREETS);
        let (town, outward) = pick(rng, words::TOWNS);
        let number = rng.gen_range(1..=180);
        let line = if rng.gen_bool(0.15) {
            format!("Flat {}, {number} {street}, {town}", rng.gen_range(1..=24))
        } else {
            format!("{number} {street}, {town}")
        };
        let l = words::POSTCODE_LETTERS;
        let postcode = format!(
            "{outward} {}{}{}",
            rng.gen_range(1..=9),
            char::from(l[rng.gen_range(0..l.len())]),
            char::from(l[rng.gen_range(0..l.len())])
        );
        Address { line, postcode }
    }

    #[allow(clippy::too_many_arguments)]
    fn person(
        &mut self,
        rng: &mut Rng8,
        ids: &mut Ids,
        family: usize,
        role: Role,
        first: &'static str,
        last: &'static str,
        dob: NaiveDate,
        gender: &'static str,
        ethnicity: &'static str,
    ) -> usize {
        let is_child = role == Role::Child;
        let nhs = if is_child || rng.gen_bool(0.9) {
            Some(self.nhs(rng, ids))
        } else {
            None
        };
        let school_age = is_child && years_before(self.as_of, 4) >= dob;
        let upn = if school_age {
            Some(self.upn(rng, ids, dob))
        } else {
            None
        };
        let age_estimated = !is_child && rng.gen_bool(0.03);
        let p = Person {
            id: ids.person,
            first,
            last,
            first_w: w1252(first),
            dob,
            dod: None,
            gender,
            nhs,
            upn,
            ethnicity,
            age_estimated,
            role,
            family,
            household: true,
            father: None,
            mother: None,
            joined: None,
        };
        ids.person += 1;
        self.persons.push(p);
        self.persons.len() - 1
    }

    /// An adult's date of birth near `near`, at least 18 years before the
    /// eldest child `eldest` (if any), and 18 to 60 at as-of.
    fn adult_dob(&self, near: NaiveDate, eldest: Option<NaiveDate>) -> NaiveDate {
        let youngest_allowed = years_before(self.as_of, 18) - days(1);
        let mut hi = youngest_allowed;
        if let Some(e) = eldest {
            hi = hi.min(years_before(e, 18));
        }
        let lo = years_before(self.as_of, 60) + days(1);
        near.clamp(lo, hi.max(lo))
    }

    fn build_family(&mut self, rng: &mut Rng8, fi: usize, ids: &mut Ids) {
        let as_of = self.as_of;
        let shape = match weighted(rng, &[40, 25, 14, 7, 6, 8]) {
            0 => Shape::TwoParents,
            1 => Shape::SingleMother,
            2 => Shape::MotherStepfather,
            3 => Shape::SingleFather,
            4 => Shape::FatherStepmother,
            _ => Shape::Grandparents,
        };
        let n = 1 + weighted(rng, &[30, 30, 22, 12, 6]);
        // Children's dates of birth, youngest first, spread 11 months to 4 years.
        let mut gaps: Vec<i64> = (1..n).map(|_| rng.gen_range(330..=1500)).collect();
        let max_total: i64 = 17 * 365 - 150;
        let total: i64 = gaps.iter().sum();
        if total > max_total {
            for g in &mut gaps {
                *g = *g * max_total / total;
            }
        }
        let total: i64 = gaps.iter().sum();
        let youngest_age = rng.gen_range(120..=(18 * 365 - 31 - total).max(120));
        let mut child_dobs = vec![as_of - days(youngest_age)];
        for g in &gaps {
            let prev = child_dobs[child_dobs.len() - 1];
            child_dobs.push(prev - days(*g));
        }
        child_dobs.reverse(); // eldest first
        let eldest = child_dobs[0];
        let youngest = child_dobs[n - 1];
        let eldest_age_years = (as_of - eldest).num_days() / 365;
        let gap_years = (youngest - eldest).num_days() / 365;

        // Mother's age at the eldest's birth.
        let mut m_years = rng.gen_range(18..=38i64);
        if m_years + gap_years > 46 {
            m_years = (46 - gap_years).max(18);
        }
        if shape == Shape::Grandparents {
            m_years = m_years.min(40 - eldest_age_years).max(18);
        }
        let mother_dob = self.adult_dob(
            years_before(eldest, m_years as u32) - days(rng.gen_range(0..300)),
            Some(eldest),
        );

        let ew = words::ETHNICITIES.iter().map(|e| e.1).collect::<Vec<_>>();
        let eth_m = words::ETHNICITIES[weighted(rng, &ew)].0;
        let eth_f = if rng.gen_bool(0.8) {
            eth_m
        } else {
            words::ETHNICITIES[weighted(rng, &ew)].0
        };
        let surname_m = pick(rng, words::SURNAMES);
        let surname_f = if rng.gen_bool(0.5) {
            surname_m
        } else {
            pick(rng, words::SURNAMES)
        };

        let mut adults = Vec::new();
        let mut mother = None;
        let mut father = None;
        let mut step_or_second = None;
        let no_mother_with_grandparents = shape == Shape::Grandparents && rng.gen_bool(0.5);
        let has_mother = !matches!(shape, Shape::SingleFather | Shape::FatherStepmother)
            && !no_mother_with_grandparents;
        if has_mother {
            let first = pick(rng, words::WOMEN);
            let m = self.person(
                rng,
                ids,
                fi,
                Role::Mother,
                first,
                surname_m,
                mother_dob,
                "F",
                eth_m,
            );
            adults.push(m);
            mother = Some(m);
        }
        let has_father = matches!(
            shape,
            Shape::TwoParents | Shape::SingleFather | Shape::FatherStepmother
        ) || (shape == Shape::SingleMother && rng.gen_bool(0.08));
        if has_father {
            let near = mother_dob - days(rng.gen_range(-730..=2900));
            let dob = self.adult_dob(near, Some(eldest));
            let first = pick(rng, words::MEN);
            let f = self.person(
                rng,
                ids,
                fi,
                Role::Father,
                first,
                surname_f,
                dob,
                "M",
                eth_f,
            );
            if shape == Shape::SingleMother {
                // A father who has died: recorded, not in the household.
                let d = rand_date(rng, youngest + days(30), as_of - days(60));
                self.persons[f].dod = Some(d);
                self.persons[f].household = false;
            }
            adults.push(f);
            father = Some(f);
        }
        // Children of a mother and stepfather: the older ones from an earlier
        // relationship, the younger (up to two) the stepfather's.
        let with_step = match shape {
            Shape::MotherStepfather => rng.gen_range(0..=(n - 1).min(2)),
            _ => 0,
        };
        let first_step_child = n - with_step;
        match shape {
            Shape::MotherStepfather => {
                let step_eldest = if with_step > 0 {
                    child_dobs[first_step_child]
                } else {
                    youngest
                };
                let near = mother_dob - days(rng.gen_range(-1500..=2500));
                let dob = self.adult_dob(near, Some(step_eldest.min(eldest)));
                let first = pick(rng, words::MEN);
                let last = pick(rng, words::SURNAMES);
                let s = self.person(rng, ids, fi, Role::StepFather, first, last, dob, "M", eth_f);
                let joined = rand_date(
                    rng,
                    eldest + days(365),
                    if with_step > 0 {
                        child_dobs[first_step_child] - days(200)
                    } else {
                        as_of - days(120)
                    },
                );
                self.persons[s].joined = Some(joined.min(as_of - days(120)));
                adults.push(s);
                step_or_second = Some(s);
            }
            Shape::FatherStepmother => {
                let fdob = father.map_or(mother_dob, |f| self.persons[f].dob);
                let near = fdob + days(rng.gen_range(-1000..=3600));
                let dob = self.adult_dob(near, Some(eldest));
                let first = pick(rng, words::WOMEN);
                let last = pick(rng, words::SURNAMES);
                let s = self.person(rng, ids, fi, Role::StepMother, first, last, dob, "F", eth_m);
                let joined = rand_date(rng, eldest + days(365), as_of - days(120));
                self.persons[s].joined = Some(joined);
                adults.push(s);
                step_or_second = Some(s);
            }
            Shape::Grandparents => {
                let gm_dob = self.adult_dob(
                    years_before(mother_dob, rng.gen_range(18..=20)) - days(rng.gen_range(0..300)),
                    Some(years_before(mother_dob, 0)),
                );
                let gm_dob = gm_dob.min(years_before(mother_dob, 18));
                let first = pick(rng, words::WOMEN);
                let gm = self.person(
                    rng,
                    ids,
                    fi,
                    Role::Grandmother,
                    first,
                    surname_m,
                    gm_dob,
                    "F",
                    eth_m,
                );
                adults.push(gm);
                if rng.gen_bool(0.4) {
                    let near = gm_dob - days(rng.gen_range(0..=1800));
                    let dob = self.adult_dob(near, Some(mother_dob));
                    let first = pick(rng, words::MEN);
                    let gf = self.person(
                        rng,
                        ids,
                        fi,
                        Role::Grandfather,
                        first,
                        surname_m,
                        dob,
                        "M",
                        eth_m,
                    );
                    adults.push(gf);
                }
            }
            _ => {}
        }

        let mut children = Vec::new();
        for (ci, dob) in child_dobs.iter().enumerate() {
            let g = weighted(rng, &[485, 485, 20, 10]);
            let (gender, first) = match g {
                0 => ("M", pick(rng, words::BOYS)),
                1 => ("F", pick(rng, words::GIRLS)),
                g => {
                    let names = if rng.gen_bool(0.5) {
                        words::BOYS
                    } else {
                        words::GIRLS
                    };
                    (if g == 2 { "U" } else { "I" }, pick(rng, names))
                }
            };
            let stepfather_child = shape == Shape::MotherStepfather && ci >= first_step_child;
            let last = if stepfather_child {
                step_or_second.map_or(surname_m, |s| self.persons[s].last)
            } else if father.is_some() && rng.gen_bool(0.7) {
                surname_f
            } else {
                surname_m
            };
            let eth = if eth_m != eth_f && father.is_some() {
                pick(rng, words::MIXED)
            } else {
                eth_m
            };
            let c = self.person(rng, ids, fi, Role::Child, first, last, *dob, gender, eth);
            self.persons[c].mother = mother;
            self.persons[c].father = if stepfather_child {
                step_or_second
            } else {
                father
            };
            children.push(c);
        }

        let team = fi % self.teams.len();
        let sws = self.team_role(team, "SW");
        let worker = if sws.is_empty() {
            self.teams[team].workers[0]
        } else {
            sws[rng.gen_range(0..sws.len())]
        };
        let home = self.address(rng);
        let moved_in = rand_date(rng, years_before(as_of, 8), as_of - days(60));
        let prev = if rng.gen_bool(0.6) {
            let start = moved_in - days(rng.gen_range(365..=6 * 365));
            Some((self.address(rng), start))
        } else {
            None
        };
        let lo = (as_of - days(1000)).max(youngest + days(14));
        let start = rand_date(rng, lo, as_of - days(45));
        self.families.push(Family {
            subgroup: 50_001 + fi as u64,
            adults,
            children,
            team,
            worker,
            start,
            home,
            moved_in,
            prev,
            steps: Vec::new(),
        });
    }

    fn build_steps(&mut self, rng: &mut Rng8, fi: usize, next_id: &mut u64) {
        use step_type::*;
        let limit = self.limit;
        let fam = &self.families[fi];
        let team_idx = fam.team;
        let team_id = self.teams[team_idx].id;
        let sw = self.workers[fam.worker].id;
        let role_ids = |role: &str| -> Vec<u64> {
            self.team_role(team_idx, role)
                .iter()
                .map(|w| self.workers[*w].id)
                .collect()
        };
        let tm = role_ids("TM").first().copied().unwrap_or(sw);
        let specialists: Vec<u64> = ["DA", "SM", "AMH", "PSY"]
            .iter()
            .flat_map(|r| role_ids(r))
            .collect();
        let start = fam.start.and_time(rand_time(rng));
        let end = if rng.gen_bool(0.2) {
            let e = start + days(rng.gen_range(120..=600));
            if e < limit - days(7) {
                Some(e)
            } else {
                None
            }
        } else {
            None
        };
        let stop = end.unwrap_or(limit);
        let mut steps: Vec<Step> = Vec::new();
        let mut srng = Rng8::seed_from_u64(rng.gen());
        let mut add = |ty: u32,
                       incoming: NaiveDateTime,
                       wait_min: i64,
                       dur_min: i64,
                       assignee: u64|
         -> Option<NaiveDateTime> {
            let incoming = office_hours(incoming);
            let started = office_hours(incoming + Duration::minutes(wait_min));
            if started > stop || started > limit {
                return None;
            }
            let done = office_hours(started + Duration::minutes(dur_min));
            let (status, completed) = if done <= limit {
                if (ty == WORKBOOK || ty == CIN_REVIEW) && srng.gen_bool(0.03) {
                    ("CANCELLED", None)
                } else {
                    ("COMPLETED", Some(done.min(limit)))
                }
            } else if srng.gen_bool(0.1) {
                // Not yet picked up; STARTED_ON holds the scheduled start.
                ("INCOMING", None)
            } else {
                ("STARTED", None)
            };
            let incoming_on = if status == "INCOMING" {
                started
            } else {
                incoming
            };
            steps.push(Step {
                id: 0,
                ty,
                status,
                incoming: incoming_on,
                started,
                completed,
                assignee,
                team: team_id,
            });
            Some(completed.unwrap_or(started))
        };
        const DAY: i64 = 24 * 60;
        let Some(t) = add(
            CONTACT,
            start,
            rng.gen_range(0..=120),
            rng.gen_range(30..=600),
            sw,
        ) else {
            return;
        };
        let t = add(
            REFERRAL,
            t + Duration::minutes(rng.gen_range(10..=3 * DAY)),
            rng.gen_range(0..=DAY),
            rng.gen_range(60..=2 * DAY),
            sw,
        )
        .unwrap_or(t);
        let assess_in = t + Duration::minutes(rng.gen_range(60..=4 * DAY));
        let assess_done = add(
            ASSESSMENT,
            assess_in,
            rng.gen_range(0..=DAY),
            rng.gen_range(10 * DAY..=45 * DAY),
            sw,
        )
        .unwrap_or(assess_in);
        let mut review_from = assess_done;
        let mut review_ty = CIN_REVIEW;
        if rng.gen_bool(0.35) {
            let s_in = assess_in + Duration::minutes(rng.gen_range(60..=3 * DAY));
            if let Some(t) = add(STRATEGY, s_in, 30, rng.gen_range(60..=240), sw) {
                if let Some(t) = add(
                    S47,
                    t + Duration::minutes(rng.gen_range(30..=DAY)),
                    60,
                    rng.gen_range(5 * DAY..=15 * DAY),
                    sw,
                ) {
                    if rng.gen_bool(0.7) {
                        if let Some(t) = add(
                            ICPC,
                            t + Duration::minutes(rng.gen_range(5 * DAY..=15 * DAY)),
                            0,
                            rng.gen_range(90..=180),
                            tm,
                        ) {
                            review_from = t;
                            review_ty = CP_REVIEW;
                        }
                    }
                }
            }
        }
        let mut t = review_from + Duration::minutes(rng.gen_range(80 * DAY..=100 * DAY));
        while add(review_ty, t, 0, rng.gen_range(60..=180), tm).is_some() {
            t += Duration::minutes(rng.gen_range(150 * DAY..=190 * DAY));
        }
        let mut t = assess_in + Duration::minutes(rng.gen_range(3 * DAY..=10 * DAY));
        loop {
            let who = if !specialists.is_empty() && rng.gen_bool(0.4) {
                specialists[rng.gen_range(0..specialists.len())]
            } else {
                sw
            };
            if add(WORKBOOK, t, 0, rng.gen_range(60..=5 * DAY), who).is_none() {
                break;
            }
            t += Duration::minutes(rng.gen_range(20 * DAY..=45 * DAY));
        }
        let mut t = start + Duration::minutes(rng.gen_range(7 * DAY..=21 * DAY));
        while add(GROUP_SUPERVISION, t, 0, rng.gen_range(60..=120), tm).is_some() {
            t += Duration::minutes(rng.gen_range(40 * DAY..=70 * DAY));
        }
        if let Some(e) = end {
            add(CLOSURE, e, 0, rng.gen_range(30..=DAY), tm);
        }
        steps.sort_by_key(|s| (s.incoming, s.ty));
        for s in &mut steps {
            s.id = *next_id;
            *next_id += 1;
        }
        self.families[fi].steps = steps;
    }

    /// Living adults of a family who are in the household.
    pub fn carers(&self, fi: usize) -> impl Iterator<Item = usize> + '_ {
        self.families[fi]
            .adults
            .iter()
            .copied()
            .filter(|a| self.persons[*a].dod.is_none() && self.persons[*a].household)
    }

    /// How a worker refers to an adult in prose.
    pub fn parent_label(&self, p: usize, by_name: bool) -> Vec<u8> {
        let person = &self.persons[p];
        if by_name {
            return person.first_w.clone();
        }
        match person.role {
            Role::Mother => b"Mum".to_vec(),
            Role::Father => b"Dad".to_vec(),
            Role::Grandmother => b"Nan".to_vec(),
            Role::Grandfather => b"Grandad".to_vec(),
            _ => person.first_w.clone(),
        }
    }

    /// Shuffles a copy of a family's living household members.
    pub fn members_shuffled(&self, rng: &mut Rng8, fi: usize) -> Vec<usize> {
        let f = &self.families[fi];
        let mut v: Vec<usize> = self.carers(fi).chain(f.children.iter().copied()).collect();
        v.shuffle(rng);
        v
    }
}
