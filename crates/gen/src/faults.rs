//! Fault injection helpers: the dice, the bad values, and the ground-truth
//! rows each fault must produce.

use rand::Rng;

use crate::out::Truth;
use crate::Rng8;

/// Rule ids the generator injects (and the validator must report).
pub mod rule {
    pub const REQUIRED: &str = "field.required";
    pub const TYPE: &str = "field.type";
    pub const CODE: &str = "field.code";
    pub const NHS: &str = "person.nhs-number";
    pub const UPN: &str = "person.upn";
    pub const POSTCODE: &str = "address.postcode";
    pub const DOB_FUTURE: &str = "person.dob-future";
    pub const DOB_IMPLAUSIBLE: &str = "person.dob-implausible";
    pub const DATE_FUTURE: &str = "date.future";
    pub const END_BEFORE_START: &str = "date.end-before-start";
    pub const REF_PERSON: &str = "ref.person-missing";
    pub const UNKNOWN_QUESTION: &str = "workbook.unknown-question";
    pub const ANSWER_VALUE: &str = "workbook.answer-value";
    pub const ANSWER_RANGE: &str = "workbook.answer-range";
    pub const RAGGED: &str = "csv.ragged-row";
    pub const DUP_PERSON: &str = "duplicate.person";
    pub const DUP_NOTE_EXACT: &str = "duplicate.note-exact";
    pub const DUP_NOTE_NEAR: &str = "duplicate.note-near";
}

/// Dates that do not parse.
const BAD_DATES: &[&str] = &[
    "31/02/2021",
    "2021-13-40",
    "next week",
    "29/02/2023",
    "32/01/2022",
];
/// Date-times that do not parse.
const BAD_DATETIMES: &[&str] = &[
    "31/02/2021 10:15",
    "2021-13-40 09:00",
    "next week",
    "32/01/2022 14:30",
    "29/02/2023 11:00",
];

/// The dice and bad values of one table, and the ground truth it adds.
pub struct Faults {
    rate: f64,
    rng: Rng8,
    missing_base: u64,
    file: &'static str,
    /// Ground truth rows added.
    pub truth: Vec<Truth>,
    /// Faults injected.
    pub count: u64,
    /// Whether the output is CSV, so that faults only CSV can have (ragged
    /// rows) may be injected; false for XLSX output.
    pub csv_output: bool,
}

/// A kind of fault a table injects.
pub trait FaultKind: Copy {
    /// Whether only a CSV file can hold it (a ragged row); such faults are
    /// not injected into workbooks.
    fn csv_only(self) -> bool;
}

impl Faults {
    /// Faults for `file` at `rate` per data row; ids from `missing_base`
    /// upward belong to no person.
    pub fn new(file: &'static str, rate: f64, rng: Rng8, missing_base: u64) -> Faults {
        Faults {
            rate,
            rng,
            missing_base,
            file,
            truth: Vec::new(),
            count: 0,
            csv_output: true,
        }
    }

    /// Whether this row gets a fault.
    pub fn roll(&mut self) -> bool {
        self.rate > 0.0 && self.rng.gen_bool(self.rate)
    }

    /// One of `candidates`, or `None` if there is none.
    pub fn choose<T: Copy>(&mut self, candidates: &[T]) -> Option<T> {
        if candidates.is_empty() {
            None
        } else {
            Some(candidates[self.rng.gen_range(0..candidates.len())])
        }
    }

    /// One of a table's candidate faults at random, leaving out those the
    /// output format cannot hold (see [`FaultKind::csv_only`]).
    pub fn choose_fault<T: FaultKind>(&mut self, candidates: &[T]) -> Option<T> {
        let csv = self.csv_output;
        let fits = |f: &&T| csv || !f.csv_only();
        let n = candidates.iter().filter(fits).count();
        if n == 0 {
            return None;
        }
        let k = self.rng.gen_range(0..n);
        candidates.iter().filter(fits).nth(k).copied()
    }

    /// The fault dice, for values the fault needs.
    pub fn rng(&mut self) -> &mut Rng8 {
        &mut self.rng
    }

    /// An id no person has.
    pub fn missing_person(&mut self) -> u64 {
        self.missing_base + self.rng.gen_range(0..9000)
    }

    /// A date that does not parse.
    pub fn bad_date(&mut self) -> &'static [u8] {
        BAD_DATES[self.rng.gen_range(0..BAD_DATES.len())].as_bytes()
    }

    /// A date-time that does not parse.
    pub fn bad_datetime(&mut self) -> &'static [u8] {
        BAD_DATETIMES[self.rng.gen_range(0..BAD_DATETIMES.len())].as_bytes()
    }

    /// Records a finding the validator must make on `line`.
    pub fn record(
        &mut self,
        line: u64,
        rule: &'static str,
        field: &'static str,
        detail: impl Into<String>,
    ) {
        self.count += 1;
        self.truth.push(Truth {
            file: self.file,
            line,
            rule,
            field,
            detail: detail.into(),
        });
    }

    /// Records a duplicate (not a validation error).
    pub fn record_duplicate(&mut self, line: u64, rule: &'static str, of: u64) {
        self.truth.push(Truth {
            file: self.file,
            line,
            rule,
            field: "",
            detail: format!("of {of}"),
        });
    }

    /// Makes the row ragged: one field more or one fewer.
    pub fn ragged(&mut self, row: &mut crate::out::Row, line: u64) {
        if self.rng.gen_bool(0.5) {
            row.f.pop();
            self.record(line, rule::RAGGED, "", "one field missing");
        } else {
            row.f.push(b"N".to_vec());
            self.record(line, rule::RAGGED, "", "one extra field");
        }
    }
}
