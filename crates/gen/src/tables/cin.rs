//! `CIN_Census.xml`: the children of the world as a local authority's CIN
//! Census return (DfE XML shape, `Message/Header` then
//! `Message/Children/Child`), UTF-8 with LF line ends, pretty-printed one
//! element per line so that each record has a line: the ground truth's
//! `line` is the line of a `<Child>` start tag (faults of the child's
//! identifiers or characteristics) or of a `<CINdetails>` start tag (faults
//! of an episode), and its `field` the element path relative to that record.
//!
//! Each child has its identifiers (`LAchildID` = its `PERSON_ID` in
//! DM_PERSONS, `UPN` or `UPNunknown`, `PersonBirthDate`, `Sex` M/F/U),
//! characteristics (`Ethnicity`, `Disabilities`) and one or two episodes:
//! the family's current one (referral from its workflow steps, closed if the
//! family's case was closed) and sometimes an earlier, closed one.

use std::fmt::Write as _;

use chrono::{Datelike, NaiveDate};
use rand::Rng;

use super::{Gen, TableKind, TableReport};
use crate::faults::{rule, Faults};
use crate::out::Truth;
use crate::world::{days, rand_date, step_type, weighted, years_after, Family, Person};
use crate::Rng8;

/// `Release` in the header: the version of this file's shape, not of the
/// crate, so that a version bump does not change the shipped example.
pub const RELEASE: &str = "1.0";

/// Referral sources (CIN census `ReferralSource`).
const REFERRAL_SOURCES: &[&str] = &[
    "1A", "1B", "1C", "1D", "2A", "2B", "3A", "3B", "3C", "3D", "3E", "3F", "4", "5A", "5B", "5C",
    "5D", "6", "7", "8", "9", "10",
];
/// Relative frequency of each referral source.
const REFERRAL_SOURCE_WEIGHTS: &[u32] = &[
    2, 3, 1, 1, 1, 1, 6, 2, 10, 2, 2, 1, 18, 2, 2, 3, 1, 1, 1, 1, 25, 3,
];
/// Primary need codes N1 to N9, abuse or neglect the most frequent.
const NEEDS: &[&str] = &["N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8", "N9"];
const NEED_WEIGHTS: &[u32] = &[55, 10, 4, 20, 4, 1, 1, 1, 4];
/// Reasons for closure.
const CLOSURE_REASONS: &[&str] = &[
    "RC1", "RC2", "RC3", "RC4", "RC5", "RC6", "RC7", "RC8", "RC9",
];
/// Disability codes other than `NONE`.
const DISABILITIES: &[&str] = &[
    "MOB", "HAND", "PC", "INC", "COMM", "LD", "HEAR", "VIS", "BEH", "CON", "AUT",
];
/// Factors identified at assessment.
const FACTORS: &[&str] = &[
    "1A", "1B", "2A", "2B", "3A", "3B", "3C", "4A", "4B", "5B", "6B", "7A", "8B", "9A", "10A",
    "11A", "12A", "16A", "18B", "19B", "20", "22A", "23A",
];
/// Ethnicity codes no child has.
const BAD_ETHNICITIES: &[&str] = &["ZZZZ", "WBRT", "XXXX"];

/// Record paths, as the ground truth's `field`s are relative to them.
pub const CHILD_PATH: &str = "Message/Children/Child";
pub const CINDETAILS_PATH: &str = "Message/Children/Child/CINdetails";
/// The child's id as seen from a `CINdetails` record.
pub const PARENT_ID: &str = "../ChildIdentifiers/LAchildID";

/// A pretty-printing XML writer that counts lines.
struct Xml {
    buf: String,
    depth: usize,
    /// The line the next element goes on.
    line: u64,
}

/// Escapes XML text content and attribute values.
pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

impl Xml {
    fn new() -> Xml {
        let mut x = Xml {
            buf: String::with_capacity(1 << 16),
            depth: 0,
            line: 1,
        };
        x.buf
            .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        x.line += 1;
        x
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.buf.push_str("  ");
        }
    }

    fn end_line(&mut self) {
        self.buf.push('\n');
        self.line += 1;
    }

    /// `<tag>`; returns its line.
    fn open(&mut self, tag: &str) -> u64 {
        let line = self.line;
        self.indent();
        let _ = write!(self.buf, "<{tag}>");
        self.end_line();
        self.depth += 1;
        line
    }

    fn close(&mut self, tag: &str) {
        self.depth -= 1;
        self.indent();
        let _ = write!(self.buf, "</{tag}>");
        self.end_line();
    }

    /// `<tag>text</tag>`.
    fn leaf(&mut self, tag: &str, text: &str) {
        self.indent();
        let _ = write!(self.buf, "<{tag}>{}</{tag}>", escape(text));
        self.end_line();
    }

    fn date(&mut self, tag: &str, d: NaiveDate) {
        self.leaf(tag, &iso(d));
    }

    /// An empty element, `<tag/>` or `<tag></tag>`.
    fn empty(&mut self, tag: &str, self_closing: bool) {
        self.indent();
        if self_closing {
            let _ = write!(self.buf, "<{tag}/>");
        } else {
            let _ = write!(self.buf, "<{tag}></{tag}>");
        }
        self.end_line();
    }
}

fn iso(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// The collection year of a reference date: the year of the 31 March that
/// ends the collection period containing it.
fn collection_year(reference: NaiveDate) -> i32 {
    if reference.month() <= 3 {
        reference.year()
    } else {
        reference.year() + 1
    }
}

/// An assessment.
struct Assessment {
    start: NaiveDate,
    authorised: Option<NaiveDate>,
    factors: Vec<&'static str>,
}

/// A CIN episode (`CINdetails`) as written, faults included.
struct Episode {
    /// `None`: no element, `Some(None)`: empty element.
    referral: Option<Option<NaiveDate>>,
    source: &'static str,
    need: &'static str,
    closure: Option<(NaiveDate, &'static str)>,
    assessment: Option<Assessment>,
}

/// A child record as written, faults included.
struct ChildRec {
    id: String,
    upn: Option<String>,
    /// Date as written (empty: empty element).
    dob: String,
    dob_self_closing: bool,
    id_self_closing: bool,
    sex: &'static str,
    ethnicity: &'static str,
    disabilities: Vec<&'static str>,
}

fn pick<T: Copy>(rng: &mut Rng8, xs: &[T]) -> T {
    xs[rng.gen_range(0..xs.len())]
}

fn pick_weighted(rng: &mut Rng8, xs: &[&'static str], w: &[u32]) -> &'static str {
    xs[weighted(rng, w)]
}

fn assessment_factors(rng: &mut Rng8) -> Vec<&'static str> {
    let n = 1 + weighted(rng, &[50, 35, 15]);
    let mut f: Vec<&'static str> = Vec::with_capacity(n);
    while f.len() < n {
        let x = pick(rng, FACTORS);
        if !f.contains(&x) {
            f.push(x);
        }
    }
    f
}

/// The child's episodes, clean, earliest first.
fn episodes(rng: &mut Rng8, fam: &Family, p: &Person, as_of: NaiveDate) -> Vec<Episode> {
    let last_day = as_of - days(1);
    let step = |ty: u32| fam.steps.iter().find(|s| s.ty == ty);
    let referral = step(step_type::REFERRAL)
        .or_else(|| step(step_type::CONTACT))
        .map_or(fam.start, |s| s.incoming.date())
        .max(p.dob)
        .min(last_day);
    let closure = step(step_type::CLOSURE)
        .and_then(|s| s.completed)
        .map(|d| d.date())
        .filter(|d| *d > referral && *d <= last_day);
    let closure = closure.map(|d| (d, pick(rng, CLOSURE_REASONS)));
    let assessment = step(step_type::ASSESSMENT)
        .filter(|s| s.started.date() >= referral && s.started.date() <= last_day)
        .filter(|_| rng.gen_bool(0.85))
        .map(|s| {
            let start = s.started.date();
            let authorised = s
                .completed
                .map(|d| d.date())
                .filter(|d| closure.is_none_or(|(c, _)| *d <= c));
            Assessment {
                start,
                authorised,
                factors: if authorised.is_some() {
                    assessment_factors(rng)
                } else {
                    Vec::new()
                },
            }
        });
    let current = Episode {
        referral: Some(Some(referral)),
        source: pick_weighted(rng, REFERRAL_SOURCES, REFERRAL_SOURCE_WEIGHTS),
        need: pick_weighted(rng, NEEDS, NEED_WEIGHTS),
        closure,
        assessment,
    };
    let mut out = Vec::with_capacity(2);
    // An earlier episode, closed before the current referral.
    if rng.gen_bool(0.3) && (referral - p.dob).num_days() >= 240 {
        let r = rand_date(rng, p.dob + days(30), referral - days(180));
        let span = ((referral - r).num_days() - 60).clamp(20, 400);
        let c = r + days(rng.gen_range(14..=span));
        let assessment = if rng.gen_bool(0.5) {
            let start = r + days(rng.gen_range(1..=7));
            let done = start + days(rng.gen_range(10..=40));
            let authorised = (done <= c).then_some(done);
            Some(Assessment {
                start,
                authorised,
                factors: if authorised.is_some() {
                    assessment_factors(rng)
                } else {
                    Vec::new()
                },
            })
        } else {
            None
        };
        out.push(Episode {
            referral: Some(Some(r)),
            source: pick_weighted(rng, REFERRAL_SOURCES, REFERRAL_SOURCE_WEIGHTS),
            need: pick_weighted(rng, NEEDS, NEED_WEIGHTS),
            closure: Some((c, pick(rng, CLOSURE_REASONS))),
            assessment,
        });
    }
    out.push(current);
    out
}

fn disabilities(rng: &mut Rng8) -> Vec<&'static str> {
    match weighted(rng, &[86, 10, 4]) {
        0 => vec!["NONE"],
        1 => vec![pick(rng, DISABILITIES)],
        _ => {
            let a = pick(rng, DISABILITIES);
            let mut b = pick(rng, DISABILITIES);
            while b == a {
                b = pick(rng, DISABILITIES);
            }
            vec![a, b]
        }
    }
}

#[derive(Clone, Copy)]
enum ChildFault {
    BlankId,
    Upn,
    BlankDob,
    BadDob,
    DobFuture,
    BadSex,
    BadEthnicity,
}

#[derive(Clone, Copy)]
enum EpisodeFault {
    EndBeforeStart,
    ReferralFuture,
    ReferralMissing,
}

/// Child fault chosen before writing; recorded once the line is known.
type Pending = Option<(&'static str, &'static str, &'static str)>;

fn child_fault(f: &mut Faults, p: &Person, c: &mut ChildRec, as_of: NaiveDate) -> Pending {
    let mut candidates = vec![
        ChildFault::BlankId,
        ChildFault::BlankDob,
        ChildFault::BadDob,
        ChildFault::DobFuture,
        ChildFault::BadSex,
        ChildFault::BadEthnicity,
    ];
    if c.upn.is_some() {
        candidates.push(ChildFault::Upn);
    }
    let fault = f.choose(&candidates)?;
    Some(match fault {
        ChildFault::BlankId => {
            c.id.clear();
            c.id_self_closing = f.rng().gen_bool(0.5);
            (
                rule::REQUIRED,
                "ChildIdentifiers/LAchildID",
                "empty element",
            )
        }
        ChildFault::Upn => {
            let mut upn = c.upn.take().unwrap_or_default().into_bytes();
            let letters = casebridge_model::ids::UPN_LETTERS;
            let shift = f.rng().gen_range(1..letters.len());
            let at = letters.iter().position(|l| *l == upn[0]).unwrap_or(0);
            upn[0] = letters[(at + shift) % letters.len()];
            c.upn = Some(String::from_utf8_lossy(&upn).into_owned());
            (rule::UPN, "ChildIdentifiers/UPN", "bad check letter")
        }
        ChildFault::BlankDob => {
            c.dob.clear();
            c.dob_self_closing = f.rng().gen_bool(0.5);
            (
                rule::REQUIRED,
                "ChildIdentifiers/PersonBirthDate",
                "empty element",
            )
        }
        ChildFault::BadDob => {
            let y = p.dob.year();
            let (bad, detail) = match f.rng().gen_range(0..4) {
                0 => (format!("31/02/{y}"), "not a date"),
                1 => (format!("{y}-02-30"), "not a date"),
                2 => (format!("{y}-13-01"), "not a date"),
                _ => (
                    p.dob.format("%d/%m/%Y").to_string(),
                    "UK date, not yyyy-mm-dd",
                ),
            };
            c.dob = bad;
            (rule::TYPE, "ChildIdentifiers/PersonBirthDate", detail)
        }
        ChildFault::DobFuture => {
            let years = f.rng().gen_range(2..=4);
            let extra = f.rng().gen_range(0..365);
            c.dob = iso(years_after(as_of, years) + days(extra));
            (
                rule::DOB_FUTURE,
                "ChildIdentifiers/PersonBirthDate",
                "2 to 5 years after as-of",
            )
        }
        ChildFault::BadSex => {
            c.sex = "X";
            (rule::CODE, "ChildIdentifiers/Sex", "unknown sex code")
        }
        ChildFault::BadEthnicity => {
            c.ethnicity = f.choose(BAD_ETHNICITIES).unwrap_or("ZZZZ");
            (
                rule::CODE,
                "ChildCharacteristics/Ethnicity",
                "unknown ethnicity code",
            )
        }
    })
}

fn episode_fault(f: &mut Faults, e: &mut Episode, as_of: NaiveDate) -> Pending {
    let fault = f.choose(&[
        EpisodeFault::EndBeforeStart,
        EpisodeFault::ReferralFuture,
        EpisodeFault::ReferralMissing,
    ])?;
    let referral = e.referral.flatten().unwrap_or(as_of - days(1));
    Some(match fault {
        EpisodeFault::EndBeforeStart => {
            let back = f.rng().gen_range(1..=90);
            let reason = e
                .closure
                .map_or_else(|| f.choose(CLOSURE_REASONS).unwrap_or("RC8"), |(_, r)| r);
            e.closure = Some((referral - days(back), reason));
            (
                rule::END_BEFORE_START,
                "CINclosureDate",
                "closure before referral",
            )
        }
        EpisodeFault::ReferralFuture => {
            let years = f.rng().gen_range(2..=4);
            let extra = f.rng().gen_range(0..365);
            e.referral = Some(Some(years_after(as_of, years) + days(extra)));
            // An open episode without assessments: one finding only.
            e.closure = None;
            e.assessment = None;
            (
                rule::DATE_FUTURE,
                "CINreferralDate",
                "2 to 5 years after as-of",
            )
        }
        EpisodeFault::ReferralMissing => {
            if f.rng().gen_bool(0.5) {
                e.referral = None;
                (rule::REQUIRED, "CINreferralDate", "element absent")
            } else {
                e.referral = Some(None);
                (rule::REQUIRED, "CINreferralDate", "empty element")
            }
        }
    })
}

pub fn write(g: &Gen<'_>) -> anyhow::Result<(TableReport, Vec<Truth>)> {
    let kind = TableKind::CinCensus;
    let (mut rng, _dups, mut faults) = g.rngs(kind);
    let w = g.world;
    let as_of = w.as_of;
    let reference = as_of - days(1);
    let mut x = Xml::new();
    x.open("Message");
    x.open("Header");
    x.open("CollectionDetails");
    x.leaf("Collection", "CIN");
    x.leaf("Year", &collection_year(reference).to_string());
    x.date("ReferenceDate", reference);
    x.close("CollectionDetails");
    x.open("Source");
    x.leaf("SourceLevel", "L");
    x.leaf("LEA", "999");
    x.leaf("SoftwareCode", "casebridge-gen");
    x.leaf("Release", RELEASE);
    // The schema's pattern is three digits or more.
    x.leaf("SerialNo", "001");
    x.leaf("DateTime", &format!("{}T00:00:00", iso(as_of)));
    x.close("Source");
    x.close("Header");
    x.open("Children");
    let mut rows = 0u64;
    for fam in &w.families {
        for &ci in &fam.children {
            let p = &w.persons[ci];
            // Content first, from the content stream, so that it does not
            // depend on the error rate.
            let mut c = ChildRec {
                id: p.id.to_string(),
                upn: p.upn.clone(),
                dob: iso(p.dob),
                dob_self_closing: false,
                id_self_closing: false,
                sex: match p.gender {
                    "M" => "M",
                    "F" => "F",
                    _ => "U",
                },
                ethnicity: p.ethnicity,
                disabilities: disabilities(&mut rng),
            };
            let mut eps = episodes(&mut rng, fam, p, as_of);
            let child_pending = if faults.roll() {
                child_fault(&mut faults, p, &mut c, as_of)
            } else {
                None
            };
            // An episode names its child only through the enclosing
            // `LAchildID`: when that is blank, each episode lacks its child
            // too (a finding of its own, and no other fault).
            let blank_id = c.id.is_empty();
            let ep_pending: Vec<Pending> = eps
                .iter_mut()
                .map(|e| {
                    if blank_id {
                        Some((rule::REQUIRED, PARENT_ID, "the child's LAchildID is blank"))
                    } else if faults.roll() {
                        episode_fault(&mut faults, e, as_of)
                    } else {
                        None
                    }
                })
                .collect();

            let line = x.open("Child");
            if let Some((r, field, detail)) = child_pending {
                faults.record(line, r, field, detail);
            }
            x.open("ChildIdentifiers");
            if c.id.is_empty() {
                x.empty("LAchildID", c.id_self_closing);
            } else {
                x.leaf("LAchildID", &c.id);
            }
            match &c.upn {
                Some(u) => x.leaf("UPN", u),
                // Under school age, no UPN yet [unverified: UN2 is the
                // code for "not of school age" in the DfE guide].
                None => x.leaf("UPNunknown", "UN2"),
            }
            if c.dob.is_empty() {
                x.empty("PersonBirthDate", c.dob_self_closing);
            } else {
                x.leaf("PersonBirthDate", &c.dob);
            }
            x.leaf("Sex", c.sex);
            x.close("ChildIdentifiers");
            x.open("ChildCharacteristics");
            x.leaf("Ethnicity", c.ethnicity);
            x.open("Disabilities");
            for d in &c.disabilities {
                x.leaf("Disability", d);
            }
            x.close("Disabilities");
            x.close("ChildCharacteristics");
            for (e, pending) in eps.iter().zip(ep_pending) {
                let line = x.open("CINdetails");
                if let Some((r, field, detail)) = pending {
                    faults.record(line, r, field, detail);
                }
                match e.referral {
                    Some(Some(d)) => x.date("CINreferralDate", d),
                    Some(None) => x.empty("CINreferralDate", false),
                    None => {}
                }
                x.leaf("ReferralSource", e.source);
                x.leaf("PrimaryNeedCode", e.need);
                if let Some((d, reason)) = e.closure {
                    x.date("CINclosureDate", d);
                    x.leaf("ReasonForClosure", reason);
                }
                if let Some(a) = &e.assessment {
                    x.open("Assessments");
                    x.date("AssessmentActualStartDate", a.start);
                    if let Some(d) = a.authorised {
                        x.date("AssessmentAuthorisationDate", d);
                    }
                    if !a.factors.is_empty() {
                        x.open("FactorsIdentifiedAtAssessment");
                        for f in &a.factors {
                            x.leaf("AssessmentFactors", f);
                        }
                        x.close("FactorsIdentifiedAtAssessment");
                    }
                    x.close("Assessments");
                }
                // Required by the schema, after the assessments (and the CIN
                // plans and section 47 enquiries, which are not generated):
                // every referral here led to an episode.
                x.leaf("ReferralNFA", "false");
                x.close("CINdetails");
            }
            x.close("Child");
            rows += 1;
        }
    }
    x.close("Children");
    x.close("Message");
    let path = g.dir.join(g.file(kind));
    std::fs::write(&path, x.buf.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    let report = TableReport {
        file: g.file(kind),
        rows,
        bytes: x.buf.len() as u64,
        faults: faults.count,
        duplicates: 0,
    };
    Ok((report, faults.truth))
}
