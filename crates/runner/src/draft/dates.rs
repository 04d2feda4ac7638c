//! Date formats guessed from a column's values, in the mapping files'
//! own syntax (see [`casebridge_mapping::datefmt`]).
//!
//! Each candidate format is compiled by the mapping crate and tried on
//! every value; the fewest formats that read every value are kept (most
//! values first). `01/02/2020` reads as day/month and as month/day: with
//! only such values the English day-first order is assumed and said so;
//! one value such as `13/01/2020` decides.

use casebridge_mapping::datefmt::DateFormat;

/// The formats tried, in order of preference.
pub(crate) const CANDIDATES: &[&str] = &[
    "dd/mm/yyyy",
    "dd/mm/yyyy HH:MM",
    "dd/mm/yyyy HH:MM:SS",
    "mm/dd/yyyy",
    "mm/dd/yyyy HH:MM",
    "mm/dd/yyyy HH:MM:SS",
    "yyyy-mm-dd",
    "yyyy-mm-dd HH:MM",
    "yyyy-mm-dd HH:MM:SS",
    "yyyy-mm-dd HH:MM:SS.fff",
    "yyyy-mm-ddTHH:MM:SS",
    "yyyy-mm-ddTHH:MM:SS.fff",
    "dd-mm-yyyy",
    "dd-mm-yyyy HH:MM",
    "dd.mm.yyyy",
    "yyyy/mm/dd",
    "yyyymmdd",
    "excel",
];

/// Formats that read the same text day first and month first.
const DAY_MONTH_PAIRS: &[(&str, &str)] = &[
    ("dd/mm/yyyy", "mm/dd/yyyy"),
    ("dd/mm/yyyy HH:MM", "mm/dd/yyyy HH:MM"),
    ("dd/mm/yyyy HH:MM:SS", "mm/dd/yyyy HH:MM:SS"),
];

/// How the order of day and month was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DayMonth {
    /// No value is written `nn/nn/yyyy`.
    NotApplicable,
    /// Some value can only be read day first (a day above 12).
    DayFirst,
    /// Some value can only be read month first (a month position above 12).
    MonthFirst,
    /// Every such value reads both ways: day first assumed.
    AssumedDayFirst,
    /// Some values read only day first, others only month first: day first
    /// kept, the others left unread.
    Mixed,
}

/// The formats guessed for one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DateGuess {
    /// The formats to accept, most values first.
    pub formats: Vec<&'static str>,
    /// Values tried.
    pub values: usize,
    /// Values none of `formats` reads.
    pub unread: usize,
    /// How day and month were ordered.
    pub order: DayMonth,
}

impl DateGuess {
    /// What the REVIEW comment says about the order of day and month.
    pub(crate) fn order_note(&self) -> Option<&'static str> {
        match self.order {
            DayMonth::NotApplicable => None,
            DayMonth::DayFirst => Some("day first: some value has a day above 12"),
            DayMonth::MonthFirst => {
                Some("MONTH first (US order): some value has a month position above 12")
            }
            DayMonth::AssumedDayFirst => Some(
                "day/month order ambiguous (no value has a number above 12 in either place): \
                 day first assumed, the English default",
            ),
            DayMonth::Mixed => Some(
                "some values read only day first, others only month first: day first kept, \
                 the others fail",
            ),
        }
    }
}

/// Guesses the formats of `values` (trimmed, non-empty text).
pub(crate) fn guess_formats<S: AsRef<str>>(values: &[S]) -> DateGuess {
    let compiled: Vec<(&'static str, DateFormat)> = CANDIDATES
        .iter()
        .filter_map(|name| DateFormat::parse(name).ok().map(|f| (*name, f)))
        .collect();
    // reads[f][v]: format f reads value v.
    let reads: Vec<Vec<bool>> = compiled
        .iter()
        .map(|(_, f)| {
            values
                .iter()
                .map(|v| f.parse_datetime(v.as_ref()).is_some())
                .collect()
        })
        .collect();
    let index = |name: &str| compiled.iter().position(|(n, _)| *n == name);
    let reads_any = |first: bool, v: usize| {
        DAY_MONTH_PAIRS
            .iter()
            .map(|p| if first { p.0 } else { p.1 })
            .any(|n| index(n).is_some_and(|i| reads[i][v]))
    };
    let (mut day_only, mut month_only, mut both) = (0usize, 0usize, 0usize);
    for v in 0..values.len() {
        let day = reads_any(true, v);
        let month = reads_any(false, v);
        match (day, month) {
            (true, false) => day_only += 1,
            (false, true) => month_only += 1,
            (true, true) => both += 1,
            (false, false) => {}
        }
    }
    let order = match (day_only > 0, month_only > 0) {
        _ if day_only + month_only + both == 0 => DayMonth::NotApplicable,
        (true, false) => DayMonth::DayFirst,
        (false, true) => DayMonth::MonthFirst,
        (false, false) => DayMonth::AssumedDayFirst,
        (true, true) => DayMonth::Mixed,
    };
    let excluded: Vec<&str> = DAY_MONTH_PAIRS
        .iter()
        .map(|p| {
            if order == DayMonth::MonthFirst {
                p.0
            } else {
                p.1
            }
        })
        .collect();

    // Fewest formats that read every value: each round takes the format
    // reading most of the values not yet read (the earlier on a tie).
    let mut read = vec![false; values.len()];
    let mut formats = Vec::new();
    loop {
        let best = compiled
            .iter()
            .enumerate()
            .filter(|(_, (name, _))| !excluded.contains(name) && !formats.contains(name))
            .map(|(i, (name, _))| {
                let gain = reads[i]
                    .iter()
                    .zip(&read)
                    .filter(|(r, done)| **r && !**done)
                    .count();
                (gain, std::cmp::Reverse(i), *name)
            })
            .max();
        match best {
            Some((gain, std::cmp::Reverse(i), name)) if gain > 0 => {
                formats.push(name);
                for (done, r) in read.iter_mut().zip(&reads[i]) {
                    *done |= *r;
                }
            }
            _ => break,
        }
    }
    DateGuess {
        formats,
        values: values.len(),
        unread: read.iter().filter(|r| !**r).count(),
        order,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ambiguous_days_assume_day_first_and_say_so() {
        let g = guess_formats(&["01/02/2020", "03/04/2021", "12/12/1999"]);
        assert_eq!(g.formats, ["dd/mm/yyyy"]);
        assert_eq!(g.order, DayMonth::AssumedDayFirst);
        assert!(g.order_note().unwrap().contains("ambiguous"));
        assert_eq!(g.unread, 0);
    }

    #[test]
    fn one_day_above_twelve_decides_day_first() {
        let g = guess_formats(&["01/02/2020", "13/01/2020"]);
        assert_eq!(g.formats, ["dd/mm/yyyy"]);
        assert_eq!(g.order, DayMonth::DayFirst);
    }

    #[test]
    fn one_month_position_above_twelve_decides_month_first() {
        let g = guess_formats(&["01/02/2020", "01/13/2020", "12/31/2019"]);
        assert_eq!(g.formats, ["mm/dd/yyyy"]);
        assert_eq!(g.order, DayMonth::MonthFirst);
        assert_eq!(g.unread, 0);
    }

    #[test]
    fn both_orders_seen_keep_day_first_and_count_the_rest() {
        let g = guess_formats(&["13/01/2020", "01/13/2020", "02/03/2020"]);
        assert_eq!(g.formats, ["dd/mm/yyyy"]);
        assert_eq!(g.order, DayMonth::Mixed);
        assert_eq!(g.unread, 1);
    }

    #[test]
    fn dates_with_and_without_times_get_a_format_each() {
        let g = guess_formats(&["14/01/2020 09:30", "15/01/2020", "16/01/2020 10:00"]);
        assert_eq!(g.formats, ["dd/mm/yyyy HH:MM", "dd/mm/yyyy"]);
        assert_eq!(g.unread, 0);
    }

    #[test]
    fn iso_compact_and_excel_values_are_recognised() {
        assert_eq!(
            guess_formats(&["2020-01-02", "2021-12-31"]).formats,
            ["yyyy-mm-dd"]
        );
        assert_eq!(
            guess_formats(&["2020-01-02 10:11:12", "2021-12-31 00:00:00"]).formats,
            ["yyyy-mm-dd HH:MM:SS"]
        );
        assert_eq!(
            guess_formats(&["2020-01-02 10:11:12.250"]).formats,
            ["yyyy-mm-dd HH:MM:SS.fff"]
        );
        assert_eq!(
            guess_formats(&["20200102", "19991231"]).formats,
            ["yyyymmdd"]
        );
        assert_eq!(guess_formats(&["44259", "44259.75"]).formats, ["excel"]);
        let g = guess_formats(&["2020-01-02", "2021-12-31"]);
        assert_eq!(g.order, DayMonth::NotApplicable);
        assert_eq!(g.order_note(), None);
    }

    #[test]
    fn values_no_format_reads_are_counted_not_guessed() {
        let g = guess_formats(&["next week", "2020-01-02", "31/02/2020"]);
        assert_eq!(g.formats, ["yyyy-mm-dd"]);
        assert_eq!(g.unread, 2);
        let none = guess_formats::<&str>(&[]);
        assert!(none.formats.is_empty());
        assert_eq!(none.values, 0);
    }

    #[test]
    fn every_candidate_is_a_valid_mapping_format() {
        for c in CANDIDATES {
            assert!(DateFormat::parse(c).is_ok(), "{c}");
        }
    }
}
