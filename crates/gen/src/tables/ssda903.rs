//! The SSDA903 (children looked after) return's `Header` and `Episodes`
//! tables for the looked-after subset of the world's children, as the DfE
//! CSV tables (FORMATS.md section 6): `SSDA903_Header.csv` (one row per
//! looked-after child) and `SSDA903_Episodes.csv` (1 to 4 episodes per
//! child, in date order). ASCII, CRLF, dates `dd/mm/yyyy`; codes from the
//! DfE lists of the 2024 schema (liia-tools' `SSDA903_schema_2024.yml`).
//!
//! Which children are looked after, and their episodes, come from a stream
//! of their own ([`super::streams::LOOKED_AFTER`]), so that both tables
//! agree whichever of them is written; each table has its own fault stream.
//! Both are CSV whatever `--format` says (the return is CSV or XML).

use chrono::NaiveDate;
use rand::Rng;

use super::{Gen, TableKind, TableReport};
use crate::faults::{rule, Faults};
use crate::fmt::{push_date, push_u64};
use crate::out::{Row, Table, Truth};
use crate::world::{days, rand_date, weighted, years_after, years_before, Person};
use crate::{words, Rng8};

/// The Header table's columns, in the return's order.
pub const HEADER_COLUMNS: &[&str] = &["CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"];

/// The Episodes table's columns, in the return's order.
pub const EPISODES_COLUMNS: &[&str] = &[
    "CHILD",
    "DECOM",
    "RNE",
    "LS",
    "CIN",
    "PLACE",
    "PLACE_PROVIDER",
    "DEC",
    "REC",
    "REASON_PLACE_CHANGE",
    "HOME_POST",
    "PL_POST",
    "URN",
];

/// DfE code lists (SSDA903 2024 schema). Reason for new episode.
pub const RNE: &[&str] = &["S", "L", "P", "T", "B", "U"];
/// Legal status.
pub const LS: &[&str] = &[
    "C1", "C2", "D1", "E1", "V2", "V3", "V4", "L1", "L2", "L3", "J1", "J2", "J3",
];
const LS_WEIGHTS: &[u32] = &[25, 30, 2, 3, 25, 2, 1, 2, 2, 1, 2, 2, 1];
/// Category of need.
pub const CIN: &[&str] = &["N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8"];
const CIN_WEIGHTS: &[u32] = &[62, 4, 4, 15, 5, 2, 1, 7];
/// Placement type.
pub const PLACE: &[&str] = &[
    "A3", "A4", "A5", "A6", "H5", "K1", "K2", "P1", "P2", "P3", "R1", "R2", "R3", "R5", "S1", "T0",
    "T1", "T2", "T3", "T4", "U1", "U2", "U3", "U4", "U5", "U6", "Z1",
];
const PLACE_WEIGHTS: &[u32] = &[
    1, 1, 1, 1, 2, 1, 10, 5, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 20, 5, 12, 6, 8, 3, 1,
];
/// Placement provider.
pub const PLACE_PROVIDER: &[&str] = &["PR0", "PR1", "PR2", "PR3", "PR4", "PR5"];
const PROVIDER_WEIGHTS: &[u32] = &[5, 40, 10, 5, 25, 15];
/// Reason episode ceased.
pub const REC: &[&str] = &[
    "X1", "E11", "E12", "E2", "E3", "E4A", "E4B", "E13", "E41", "E45", "E46", "E47", "E48", "E5",
    "E6", "E7", "E9", "E14", "E15", "E16", "E17", "E8",
];
/// Reason for a placement change.
pub const REASON_PLACE_CHANGE: &[&str] = &[
    "CARPL", "CLOSE", "ALLEG", "STAND", "APPRR", "CREQB", "CREQO", "CHILD", "LAREQ", "PLACE",
    "CUSTOD", "OTHER",
];
/// `MOTHER`: whether a looked-after girl is a mother.
pub const MOTHER: &[&str] = &["0", "1"];

/// Placements without a provider (with parents, in custody, other).
const NO_PROVIDER: &[&str] = &["P1", "T0", "T1", "T2", "T3", "T4", "Z1"];
/// Placements in a setting Ofsted registers, which has a URN.
const REGISTERED: &[&str] = &["H5", "K1", "K2", "R1", "R2", "R5", "S1"];
/// URN of a placement no registered setting provides [unverified: the
/// DfE guide's value for "not applicable" is seven X's].
const NO_URN: &str = "XXXXXXX";

/// Share of the world's children who are looked after.
const LOOKED_AFTER_SHARE: f64 = 0.3;

/// Bad values the faults write.
const BAD_SEX: &[&str] = &["X", "3", "M"];
const BAD_ETHNIC: &[&str] = &["ZZZZ", "WBRT", "XXXX"];
const BAD_LS: &[&str] = &["C3", "V1", "S20"];
const BAD_PLACE: &[&str] = &["U7", "F1", "K3"];

/// One episode of care as written (faults change it before writing).
#[derive(Debug, Clone)]
pub struct Episode {
    pub decom: NaiveDate,
    pub rne: &'static str,
    pub ls: &'static str,
    pub cin: &'static str,
    pub place: &'static str,
    pub provider: Option<&'static str>,
    pub dec: Option<NaiveDate>,
    pub rec: Option<&'static str>,
    pub reason: Option<&'static str>,
    pub home_post: String,
    pub pl_post: String,
    pub urn: String,
}

/// A looked-after child.
#[derive(Debug, Clone)]
pub struct LookedAfter {
    /// Index of the child in [`crate::world::World::persons`].
    pub person: usize,
    /// `1` or `2`.
    pub sex: &'static str,
    /// `MOTHER`, for girls of 12 and over.
    pub mother: Option<&'static str>,
    /// `MC_DOB`, when `MOTHER` is `1`.
    pub mc_dob: Option<NaiveDate>,
    /// Earliest first.
    pub episodes: Vec<Episode>,
}

fn pick<T: Copy>(rng: &mut Rng8, xs: &[T]) -> T {
    xs[rng.gen_range(0..xs.len())]
}

fn placement_postcode(rng: &mut Rng8) -> String {
    let (_, outward) = pick(rng, words::TOWNS);
    let l = words::POSTCODE_LETTERS;
    format!(
        "{outward} {}{}{}",
        rng.gen_range(1..=9),
        char::from(l[rng.gen_range(0..l.len())]),
        char::from(l[rng.gen_range(0..l.len())])
    )
}

/// A placement: type, provider, postcode and URN.
fn placement(
    rng: &mut Rng8,
    home_post: &str,
) -> (&'static str, Option<&'static str>, String, String) {
    let place = PLACE[weighted(rng, PLACE_WEIGHTS)];
    let provider =
        (!NO_PROVIDER.contains(&place)).then(|| PLACE_PROVIDER[weighted(rng, PROVIDER_WEIGHTS)]);
    let post = if place == "P1" {
        home_post.to_string()
    } else {
        placement_postcode(rng)
    };
    let urn = if REGISTERED.contains(&place) {
        format!("SC{:06}", rng.gen_range(40_000..1_000_000))
    } else {
        NO_URN.to_string()
    };
    (place, provider, post, urn)
}

/// The episodes of one period of care, from `start`; `None` when the
/// child is too young for one before as-of.
fn episodes(rng: &mut Rng8, p: &Person, home: &str, as_of: NaiveDate) -> Option<Vec<Episode>> {
    let last_day = as_of - days(1);
    let lo = p.dob.max(years_before(as_of, 5));
    let hi = as_of - days(60);
    if hi < lo {
        return None;
    }
    let n = 1 + weighted(rng, &[40, 30, 20, 10]);
    let mut decom = rand_date(rng, lo, hi);
    let (place, provider, pl_post, urn) = placement(rng, home);
    let mut eps = vec![Episode {
        decom,
        rne: "S",
        ls: LS[weighted(rng, LS_WEIGHTS)],
        cin: CIN[weighted(rng, CIN_WEIGHTS)],
        place,
        provider,
        dec: None,
        rec: None,
        reason: None,
        home_post: home.to_string(),
        pl_post,
        urn,
    }];
    while eps.len() < n {
        let next = decom + days(rng.gen_range(20..=400));
        if next >= last_day {
            break;
        }
        let prev = eps.len() - 1;
        // L: the legal status changes; P: the placement; T, B, U: both.
        let rne = ["P", "L", "T", "B", "U"][weighted(rng, &[45, 20, 10, 15, 10])];
        let mut e = eps[prev].clone();
        e.decom = next;
        e.rne = rne;
        if rne != "P" {
            let mut ls = LS[weighted(rng, LS_WEIGHTS)];
            while ls == e.ls {
                ls = LS[weighted(rng, LS_WEIGHTS)];
            }
            e.ls = ls;
        }
        let moves = rne != "L";
        if moves {
            let (place, provider, pl_post, urn) = placement(rng, home);
            e.place = place;
            e.provider = provider;
            e.pl_post = pl_post;
            e.urn = urn;
        }
        eps[prev].dec = Some(next);
        eps[prev].rec = Some("X1");
        eps[prev].reason = moves.then(|| pick(rng, REASON_PLACE_CHANGE));
        eps.push(e);
        decom = next;
    }
    // The period of care ended for about a third of the children.
    if rng.gen_bool(0.35) {
        let end = decom + days(rng.gen_range(10..=300));
        if end < last_day {
            let last = eps.len() - 1;
            eps[last].dec = Some(end);
            eps[last].rec = Some(pick(rng, &REC[1..]));
        }
    }
    Some(eps)
}

/// The looked-after children of the world and their episodes: a pure
/// function of the seed, the families and as-of.
pub fn looked_after(g: &Gen<'_>) -> Vec<LookedAfter> {
    let mut rng = g.rng(super::streams::LOOKED_AFTER);
    let w = g.world;
    let mut out = Vec::new();
    for fam in &w.families {
        for &ci in &fam.children {
            let p = &w.persons[ci];
            if !rng.gen_bool(LOOKED_AFTER_SHARE) {
                continue;
            }
            let Some(episodes) = episodes(&mut rng, p, &fam.home.postcode, w.as_of) else {
                continue;
            };
            let sex = match p.gender {
                "M" => "1",
                "F" => "2",
                _ => pick(&mut rng, &["1", "2"]),
            };
            let (mother, mc_dob) = if sex == "2" && years_after(p.dob, 12) <= w.as_of {
                let from = years_after(p.dob, 13);
                if rng.gen_bool(0.08) && from < w.as_of - days(30) {
                    (
                        Some("1"),
                        Some(rand_date(&mut rng, from, w.as_of - days(2))),
                    )
                } else {
                    (Some("0"), None)
                }
            } else {
                (None, None)
            };
            out.push(LookedAfter {
                person: ci,
                sex,
                mother,
                mc_dob,
                episodes,
            });
        }
    }
    out
}

fn put_opt_date(row: &mut Row, i: usize, d: Option<NaiveDate>) {
    if let Some(d) = d {
        push_date(row.set(i), d);
    }
}

fn put_opt(row: &mut Row, i: usize, s: Option<&str>) {
    if let Some(s) = s {
        row.put(i, s.as_bytes());
    }
}

#[derive(Clone, Copy)]
enum HeaderFault {
    BadSex,
    BlankSex,
    BadDob,
    BlankDob,
    DobFuture,
    BadEthnic,
    Upn,
}

pub fn write_header(g: &Gen<'_>) -> anyhow::Result<(TableReport, Vec<Truth>)> {
    let kind = TableKind::Ssda903Header;
    let (_content, _dups, mut faults) = g.rngs(kind);
    let w = g.world;
    let lac = looked_after(g);
    let mut table = Table::create(g.dir, kind.file(), HEADER_COLUMNS)?;
    let mut row = Row::new(HEADER_COLUMNS.len());
    for c in &lac {
        let p = &w.persons[c.person];
        row.reset(HEADER_COLUMNS.len());
        push_u64(row.set(0), p.id);
        row.put(1, c.sex.as_bytes());
        push_date(row.set(2), p.dob);
        row.put(3, p.ethnicity.as_bytes());
        put_opt(&mut row, 4, p.upn.as_deref());
        put_opt(&mut row, 5, c.mother);
        put_opt_date(&mut row, 6, c.mc_dob);
        if faults.roll() {
            header_fault(&mut faults, &mut row, p, w.as_of, table.line());
        }
        table.write(&row)?;
    }
    let report = TableReport {
        file: kind.file(),
        rows: table.rows,
        bytes: table.bytes,
        faults: faults.count,
        duplicates: 0,
    };
    table.finish()?;
    Ok((report, faults.truth))
}

fn header_fault(f: &mut Faults, row: &mut Row, p: &Person, as_of: NaiveDate, line: u64) {
    let mut candidates = vec![
        HeaderFault::BadSex,
        HeaderFault::BlankSex,
        HeaderFault::BadDob,
        HeaderFault::BlankDob,
        HeaderFault::DobFuture,
        HeaderFault::BadEthnic,
    ];
    if p.upn.is_some() {
        candidates.push(HeaderFault::Upn);
    }
    let Some(fault) = f.choose(&candidates) else {
        return;
    };
    match fault {
        HeaderFault::BadSex => {
            let bad = f.choose(BAD_SEX).unwrap_or("X");
            row.put(1, bad.as_bytes());
            f.record(line, rule::CODE, "SEX", "not a DfE sex code");
        }
        HeaderFault::BlankSex => {
            row.set(1);
            f.record(line, rule::REQUIRED, "SEX", "blank");
        }
        HeaderFault::BadDob => {
            let bad = f.bad_date();
            row.put(2, bad);
            f.record(line, rule::TYPE, "DOB", "not a date");
        }
        HeaderFault::BlankDob => {
            row.set(2);
            f.record(line, rule::REQUIRED, "DOB", "blank");
        }
        HeaderFault::DobFuture => {
            let years = f.rng().gen_range(2..=4);
            let extra = f.rng().gen_range(0..365);
            push_date(row.set(2), years_after(as_of, years) + days(extra));
            f.record(line, rule::DOB_FUTURE, "DOB", "2 to 5 years after as-of");
        }
        HeaderFault::BadEthnic => {
            let bad = f.choose(BAD_ETHNIC).unwrap_or("ZZZZ");
            row.put(3, bad.as_bytes());
            f.record(line, rule::CODE, "ETHNIC", "not a DfE ethnicity code");
        }
        HeaderFault::Upn => {
            let letters = casebridge_model::ids::UPN_LETTERS;
            let shift = f.rng().gen_range(1..letters.len());
            let field = row.set(4);
            field.extend_from_slice(p.upn.as_deref().unwrap_or("A000000000000").as_bytes());
            let at = letters.iter().position(|l| *l == field[0]).unwrap_or(0);
            field[0] = letters[(at + shift) % letters.len()];
            f.record(line, rule::UPN, "UPN", "bad check letter");
        }
    }
}

#[derive(Clone, Copy)]
enum EpisodeFault {
    EndBeforeStart,
    BadDec,
    DecomFuture,
    BadLs,
    BlankLs,
    BadPlace,
    MissingChild,
}

fn episode_fault(f: &mut Faults, e: &mut Episode, last: bool, as_of: NaiveDate) -> Option<Pending> {
    let mut candidates = vec![
        EpisodeFault::EndBeforeStart,
        EpisodeFault::BadDec,
        EpisodeFault::BadLs,
        EpisodeFault::BlankLs,
        EpisodeFault::BadPlace,
        EpisodeFault::MissingChild,
    ];
    // Only an open episode's start can move into the future without
    // ending after its end.
    if last && e.dec.is_none() {
        candidates.push(EpisodeFault::DecomFuture);
    }
    let fault = f.choose(&candidates)?;
    let mut p = Pending::default();
    match fault {
        EpisodeFault::EndBeforeStart => {
            let back = f.rng().gen_range(1..=90);
            e.dec = Some(e.decom - days(back));
            if e.rec.is_none() {
                e.rec = f.choose(&REC[1..]);
            }
            p.truth = Some((rule::END_BEFORE_START, "DEC", "DEC before DECOM"));
        }
        EpisodeFault::BadDec => {
            p.bad_dec = Some(f.bad_date());
            if e.rec.is_none() {
                e.rec = f.choose(&REC[1..]);
            }
            p.truth = Some((rule::TYPE, "DEC", "not a date"));
        }
        EpisodeFault::DecomFuture => {
            let years = f.rng().gen_range(2..=4);
            let extra = f.rng().gen_range(0..365);
            e.decom = years_after(as_of, years) + days(extra);
            p.truth = Some((rule::DATE_FUTURE, "DECOM", "2 to 5 years after as-of"));
        }
        EpisodeFault::BadLs => {
            e.ls = f.choose(BAD_LS).unwrap_or("C3");
            p.truth = Some((rule::CODE, "LS", "not a DfE legal status"));
        }
        EpisodeFault::BlankLs => {
            e.ls = "";
            p.truth = Some((rule::REQUIRED, "LS", "blank"));
        }
        EpisodeFault::BadPlace => {
            e.place = f.choose(BAD_PLACE).unwrap_or("U7");
            p.truth = Some((rule::CODE, "PLACE", "not a DfE placement type"));
        }
        EpisodeFault::MissingChild => {
            p.child = Some(f.missing_person());
            p.truth = Some((rule::REF_PERSON, "CHILD", "no child with this id"));
        }
    }
    Some(p)
}

/// What a fault changes that the episode does not hold.
#[derive(Default)]
struct Pending {
    truth: Option<(&'static str, &'static str, &'static str)>,
    bad_dec: Option<&'static [u8]>,
    child: Option<u64>,
}

pub fn write_episodes(g: &Gen<'_>) -> anyhow::Result<(TableReport, Vec<Truth>)> {
    let kind = TableKind::Ssda903Episodes;
    let (_content, _dups, mut faults) = g.rngs(kind);
    let w = g.world;
    let lac = looked_after(g);
    let mut table = Table::create(g.dir, kind.file(), EPISODES_COLUMNS)?;
    let mut row = Row::new(EPISODES_COLUMNS.len());
    for c in &lac {
        let p = &w.persons[c.person];
        let n = c.episodes.len();
        for (i, e) in c.episodes.iter().enumerate() {
            let mut e = e.clone();
            let pending = if faults.roll() {
                episode_fault(&mut faults, &mut e, i + 1 == n, w.as_of)
            } else {
                None
            }
            .unwrap_or_default();
            row.reset(EPISODES_COLUMNS.len());
            push_u64(row.set(0), pending.child.unwrap_or(p.id));
            push_date(row.set(1), e.decom);
            row.put(2, e.rne.as_bytes());
            row.put(3, e.ls.as_bytes());
            row.put(4, e.cin.as_bytes());
            row.put(5, e.place.as_bytes());
            put_opt(&mut row, 6, e.provider);
            put_opt_date(&mut row, 7, e.dec);
            if let Some(bad) = pending.bad_dec {
                row.put(7, bad);
            }
            put_opt(&mut row, 8, e.rec);
            put_opt(&mut row, 9, e.reason);
            row.put(10, e.home_post.as_bytes());
            row.put(11, e.pl_post.as_bytes());
            row.put(12, e.urn.as_bytes());
            if let Some((r, field, detail)) = pending.truth {
                faults.record(table.line(), r, field, detail);
            }
            table.write(&row)?;
        }
    }
    let report = TableReport {
        file: kind.file(),
        rows: table.rows,
        bytes: table.bytes,
        faults: faults.count,
        duplicates: 0,
    };
    table.finish()?;
    Ok((report, faults.truth))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    use casebridge_model::ids::{is_valid_postcode, is_valid_upn};
    use chrono::NaiveDate;

    use super::*;
    use crate::{generate, Options};

    fn as_of() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
    }

    fn opts(dir: &Path, seed: u64, families: usize, err: f64) -> Options {
        let mut o = Options::new(dir, as_of());
        o.seed = seed;
        o.families = families;
        o.error_rate = err;
        o.only = TableKind::SSDA903.to_vec();
        o
    }

    /// Header and records with their physical lines (no multi-line
    /// fields here: line = record index + 2). Asserts CRLF and ASCII.
    fn read(path: &Path) -> (Vec<String>, Vec<(u64, Vec<String>)>) {
        let raw = std::fs::read(path).unwrap();
        assert!(raw.is_ascii());
        assert!(raw.ends_with(b"\r\n"));
        assert_eq!(
            raw.iter().filter(|b| **b == b'\n').count(),
            raw.windows(2).filter(|w| w == b"\r\n").count()
        );
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(raw.as_slice());
        let mut recs = rdr.records().map(|r| r.unwrap());
        let header = recs.next().unwrap().iter().map(String::from).collect();
        let rows = recs
            .enumerate()
            .map(|(i, r)| (i as u64 + 2, r.iter().map(String::from).collect()))
            .collect();
        (header, rows)
    }

    fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect()
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%d/%m/%Y").unwrap()
    }

    #[test]
    fn deterministic_and_each_table_alone_is_the_same() {
        let (a, b, c) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        generate(&opts(a.path(), 5, 20, 0.1)).unwrap();
        generate(&opts(b.path(), 5, 20, 0.1)).unwrap();
        let mut alone = opts(c.path(), 5, 20, 0.1);
        alone.only = vec![TableKind::Ssda903Episodes];
        generate(&alone).unwrap();
        let (fa, fb, fc) = (files(a.path()), files(b.path()), files(c.path()));
        assert_eq!(
            fa.keys().collect::<Vec<_>>(),
            [
                "SSDA903_Episodes.csv",
                "SSDA903_Header.csv",
                "ground_truth.csv"
            ]
        );
        assert_eq!(fa, fb);
        assert_eq!(fa["SSDA903_Episodes.csv"], fc["SSDA903_Episodes.csv"]);
        // The Mosaic tables do not move the SSDA903 ones, nor --format.
        let d = tempfile::tempdir().unwrap();
        let mut all = opts(d.path(), 5, 20, 0.1);
        all.only = vec![];
        all.ssda903 = true;
        all.format = crate::Format::Xlsx;
        all.template = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../mappings/templates/fs-workbook-v1.toml");
        generate(&all).unwrap();
        let fd = files(d.path());
        assert_eq!(fa["SSDA903_Header.csv"], fd["SSDA903_Header.csv"]);
        assert_eq!(fa["SSDA903_Episodes.csv"], fd["SSDA903_Episodes.csv"]);
        assert!(fd.contains_key("DM_PERSONS.xlsx"));
    }

    #[test]
    fn names_select_the_tables() {
        assert_eq!(
            TableKind::parse_many("ssda903"),
            Some(TableKind::SSDA903.to_vec())
        );
        assert_eq!(
            TableKind::parse_many("SSDA903_Header.csv"),
            Some(vec![TableKind::Ssda903Header])
        );
        assert_eq!(
            TableKind::parse("ssda903_episodes"),
            Some(TableKind::Ssda903Episodes)
        );
        assert_eq!(TableKind::parse("SSDA903"), None);
        let mut o = Options::new("x", as_of());
        o.ssda903 = true;
        o.only = vec![TableKind::Persons];
        assert_eq!(
            o.selected(),
            [
                TableKind::Persons,
                TableKind::Ssda903Header,
                TableKind::Ssda903Episodes
            ]
        );
    }

    #[test]
    fn clean_tables_are_plausible_and_agree() {
        let dir = tempfile::tempdir().unwrap();
        let s = generate(&opts(dir.path(), 11, 60, 0.0)).unwrap();
        assert_eq!(s.faults(), 0);
        let (hh, header) = read(&dir.path().join("SSDA903_Header.csv"));
        let (eh, episodes) = read(&dir.path().join("SSDA903_Episodes.csv"));
        assert_eq!(hh, HEADER_COLUMNS);
        assert_eq!(eh, EPISODES_COLUMNS);
        // About 30% of the children (60 families have about 150).
        assert!((25..=70).contains(&header.len()), "{}", header.len());
        let mut dobs = BTreeMap::new();
        let mut mothers = 0;
        for (_, r) in &header {
            assert!(dobs.insert(r[0].clone(), date(&r[2])).is_none());
            assert!(["1", "2"].contains(&r[1].as_str()));
            assert!(crate::words::ETHNICITIES.iter().any(|(c, _)| *c == r[3]));
            assert!(r[4].is_empty() || is_valid_upn(&r[4]), "{}", r[4]);
            match r[5].as_str() {
                "" => assert!(r[6].is_empty()),
                "0" => assert!(r[1] == "2" && r[6].is_empty()),
                "1" => {
                    assert_eq!(r[1], "2");
                    assert!(date(&r[6]) > date(&r[2]) && date(&r[6]) < as_of());
                    mothers += 1;
                }
                m => panic!("MOTHER {m}"),
            }
        }
        let mut by_child: BTreeMap<&str, Vec<&Vec<String>>> = BTreeMap::new();
        let mut keys = BTreeSet::new();
        let mut counts = [0usize; 5];
        for (_, r) in &episodes {
            by_child.entry(r[0].as_str()).or_default().push(r);
            assert!(keys.insert((r[0].clone(), r[1].clone())));
            let code = |i: usize, list: &[&str]| assert!(list.contains(&r[i].as_str()), "{r:?}");
            code(2, RNE);
            code(3, LS);
            code(4, CIN);
            code(5, PLACE);
            assert_eq!(r[6].is_empty(), NO_PROVIDER.contains(&r[5].as_str()));
            if !r[6].is_empty() {
                code(6, PLACE_PROVIDER);
            }
            assert_eq!(r[7].is_empty(), r[8].is_empty(), "{r:?}");
            if !r[8].is_empty() {
                code(8, REC);
            }
            if !r[9].is_empty() {
                code(9, REASON_PLACE_CHANGE);
                assert_eq!(r[8], "X1");
            }
            assert!(is_valid_postcode(&r[10]) && is_valid_postcode(&r[11]));
            if REGISTERED.contains(&r[5].as_str()) {
                assert!(r[12].starts_with("SC") && r[12].len() == 8, "{r:?}");
            } else {
                assert_eq!(r[12], NO_URN);
            }
        }
        assert_eq!(
            by_child.keys().collect::<BTreeSet<_>>(),
            dobs.keys()
                .map(String::as_str)
                .collect::<BTreeSet<_>>()
                .iter()
                .collect(),
            "every child has episodes, every episode a child"
        );
        for (child, eps) in &by_child {
            counts[eps.len()] += 1;
            assert_eq!(eps[0][2], "S");
            for (i, e) in eps.iter().enumerate() {
                let start = date(&e[1]);
                assert!(start >= dobs[*child] && start < as_of());
                if i > 0 {
                    assert_ne!(e[2], "S");
                }
                if let Some(next) = eps.get(i + 1) {
                    // Episodes of one period of care follow each other.
                    assert_eq!(e[7], next[1]);
                    assert_eq!(e[8], "X1");
                    assert!(date(&next[1]) > start);
                } else if !e[7].is_empty() {
                    assert!(date(&e[7]) > start && date(&e[7]) < as_of());
                    assert_ne!(e[8], "X1");
                }
            }
        }
        assert_eq!(counts[0], 0);
        assert!(
            counts[1] > 0 && counts[2] > 0 && counts[3] + counts[4] > 0,
            "{counts:?}"
        );
        assert!(mothers <= header.len() / 4);
    }

    #[test]
    fn ground_truth_lines_are_rows_that_show_the_fault() {
        let dir = tempfile::tempdir().unwrap();
        let clean_dir = tempfile::tempdir().unwrap();
        generate(&opts(dir.path(), 4, 80, 0.3)).unwrap();
        generate(&opts(clean_dir.path(), 4, 80, 0.0)).unwrap();
        let mut rdr = csv::Reader::from_path(dir.path().join("ground_truth.csv")).unwrap();
        let truth: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
        let mut rules = BTreeSet::new();
        let tables: BTreeMap<&str, _> = ["SSDA903_Header.csv", "SSDA903_Episodes.csv"]
            .into_iter()
            .map(|f| {
                let (h, rows) = read(&dir.path().join(f));
                let (_, clean) = read(&clean_dir.path().join(f));
                assert_eq!(rows.len(), clean.len(), "faults add no rows");
                (f, (h, rows, clean))
            })
            .collect();
        let mut faulty_lines = BTreeSet::new();
        for t in &truth {
            let (file, line, rule, field) = (&t[0], t[1].parse::<u64>().unwrap(), &t[2], &t[3]);
            assert!(
                faulty_lines.insert((file.to_string(), line)),
                "one fault a row"
            );
            let (header, rows, clean) = &tables[file];
            let i = (line - 2) as usize;
            let (row, was) = (&rows[i].1, &clean[i].1);
            let col = header.iter().position(|h| h == field).unwrap();
            rules.insert((file.to_string(), rule.to_string(), field.to_string()));
            let v = row[col].as_str();
            match rule {
                "field.code" => assert!(v != was[col] && !v.is_empty()),
                "field.required" => assert!(v.is_empty() && !was[col].is_empty()),
                "field.type" => assert!(NaiveDate::parse_from_str(v, "%d/%m/%Y").is_err()),
                "date.end-before-start" => assert!(date(v) < date(&row[1])),
                "date.future" | "person.dob-future" => assert!(date(v) > years_after(as_of(), 2)),
                "person.upn" => assert!(!is_valid_upn(v) && is_valid_upn(&was[col])),
                "ref.person-missing" => assert!(!tables["SSDA903_Header.csv"]
                    .1
                    .iter()
                    .any(|(_, h)| h[0] == v)),
                r => panic!("unexpected rule {r}"),
            }
            // Everything else of the row is the clean row's.
            for (c, (a, b)) in row.iter().zip(was).enumerate() {
                if c != col && !(file == "SSDA903_Episodes.csv" && c == 8) {
                    assert_eq!(a, b, "{file}:{line} column {}", header[c]);
                }
            }
        }
        // Rows without a fault are the clean rows.
        for (file, (_, rows, clean)) in &tables {
            for ((line, r), (_, c)) in rows.iter().zip(clean) {
                if !faulty_lines.contains(&(file.to_string(), *line)) {
                    assert_eq!(r, c, "{file}:{line}");
                }
            }
        }
        assert!(rules.len() >= 12, "{rules:?}");
    }
}
