//! Synthetic Mosaic-style exports for casebridge: persons, addresses,
//! relationships, case notes, workflow steps and FS Workbook form answers,
//! as a council's data-mart extract writes them (CSV, Windows-1252, CRLF,
//! UK dates; or, with `--format xlsx`, one-sheet workbooks with date cells),
//! and on request (`--cin`) the same children's CIN Census return
//! (`CIN_Census.xml`, the DfE XML shape) and (`--ssda903`) the looked-after
//! children's SSDA903 Header and Episodes tables, with injected faults and
//! duplicates listed in `ground_truth.csv` so that the validator and the
//! de-duplication can be tested end to end. All data is synthetic: NHS
//! numbers are in the `999` range reserved for tests.
//!
//! Output is a pure function of the options: each table draws on its own
//! ChaCha8 stream seeded from `--seed`, so a table's content does not depend
//! on which other tables are written, and the fault and duplicate dice have
//! streams of their own.

#![forbid(unsafe_code)]

pub mod faults;
pub mod fmt;
pub mod out;
pub mod prose;
pub mod tables;
pub mod words;
pub mod world;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use clap::Parser;
use rand::SeedableRng;

pub use out::Format;
pub use tables::{TableKind, TableReport};

/// The generator's random number generator.
pub type Rng8 = rand_chacha::ChaCha8Rng;

/// The RNG of one stream of a seed.
pub fn rng(seed: u64, stream: u64) -> Rng8 {
    let mut r = Rng8::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// Default workbook template path.
pub const DEFAULT_TEMPLATE: &str = "mappings/templates/fs-workbook-v1.toml";

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Output directory (created if missing).
    pub out: PathBuf,
    /// Seed.
    pub seed: u64,
    /// Number of families.
    pub families: usize,
    /// Probability that a data row gets a fault.
    pub error_rate: f64,
    /// Probability that a person or a case note gets a duplicate.
    pub duplicate_rate: f64,
    /// Reference date: every generated date is before it (except faults).
    pub as_of: NaiveDate,
    /// Workbook template used for the form answers.
    pub template: PathBuf,
    /// Tables to write (the six Mosaic tables when empty).
    pub only: Vec<TableKind>,
    /// Also write `CIN_Census.xml` (same as listing
    /// [`TableKind::CinCensus`] in `only`).
    pub cin: bool,
    /// Also write the SSDA903 tables (same as listing
    /// [`TableKind::SSDA903`] in `only`).
    pub ssda903: bool,
    /// Format of the Mosaic tables.
    pub format: Format,
    /// Exact number of case notes (before duplicates), instead of 2 to 5
    /// per child.
    pub case_notes: Option<u64>,
}

impl Options {
    /// Defaults, writing to `out`, with `as_of` as reference date.
    pub fn new(out: impl Into<PathBuf>, as_of: NaiveDate) -> Options {
        Options {
            out: out.into(),
            seed: 1,
            families: 20,
            error_rate: 0.0,
            duplicate_rate: 0.0,
            as_of,
            template: PathBuf::from(DEFAULT_TEMPLATE),
            only: Vec::new(),
            cin: false,
            ssda903: false,
            format: Format::Csv,
            case_notes: None,
        }
    }

    /// The tables a run writes, in order.
    pub fn selected(&self) -> Vec<TableKind> {
        let mut selected: Vec<TableKind> = if self.only.is_empty() {
            TableKind::ALL.to_vec()
        } else {
            self.only.clone()
        };
        if self.cin {
            selected.push(TableKind::CinCensus);
        }
        if self.ssda903 {
            selected.extend(TableKind::SSDA903);
        }
        selected.sort_unstable();
        selected.dedup();
        selected
    }
}

/// What a run wrote.
#[derive(Debug, Clone)]
pub struct Summary {
    /// One report per table written.
    pub tables: Vec<TableReport>,
    /// Rows of `ground_truth.csv`.
    pub truth: Vec<out::Truth>,
}

impl Summary {
    /// Faults injected.
    pub fn faults(&self) -> u64 {
        self.tables.iter().map(|t| t.faults).sum()
    }

    /// Duplicates added.
    pub fn duplicates(&self) -> u64 {
        self.tables.iter().map(|t| t.duplicates).sum()
    }
}

/// Generates the files of `opts`.
pub fn generate(opts: &Options) -> Result<Summary> {
    for (name, r) in [
        ("--error-rate", opts.error_rate),
        ("--duplicate-rate", opts.duplicate_rate),
    ] {
        if !(0.0..=1.0).contains(&r) {
            bail!("{name} must be between 0 and 1, not {r}");
        }
    }
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("cannot create {}", opts.out.display()))?;
    let world = world::World::build(
        &mut rng(opts.seed, tables::streams::POPULATION),
        &mut rng(opts.seed, tables::streams::STEPS),
        opts.families,
        opts.as_of,
    );
    let persons = world.persons.len() as u64;
    // Ids from here up belong to no person, even counting duplicates.
    let missing_base = (world::FIRST_PERSON_ID + 2 * persons + 10_000).max(990_000);
    let banks = prose::Banks::new();
    let g = tables::Gen {
        world: &world,
        opts,
        banks: &banks,
        dir: &opts.out,
        missing_base,
    };
    let selected = opts.selected();
    let mut summary = Summary {
        tables: Vec::new(),
        truth: Vec::new(),
    };
    for t in selected {
        let (report, truth) = g.write(t)?;
        summary.tables.push(report);
        summary.truth.extend(truth);
    }
    out::write_truth(&opts.out.join("ground_truth.csv"), &summary.truth)?;
    Ok(summary)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let r: f64 = s.trim().parse().map_err(|_| format!("not a number: {s}"))?;
    if (0.0..=1.0).contains(&r) {
        Ok(r)
    } else {
        Err(format!("must be between 0 and 1: {s}"))
    }
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("not a yyyy-mm-dd date: {s}"))
}

/// The tables one name of `--only` stands for.
#[derive(Debug, Clone)]
struct Tables(Vec<TableKind>);

fn parse_table(s: &str) -> Result<Tables, String> {
    TableKind::parse_many(s).map(Tables).ok_or_else(|| {
        let names: Vec<&str> = TableKind::ANY.iter().map(|t| t.name()).collect();
        format!("unknown table {s}; one of {}, SSDA903", names.join(", "))
    })
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::parse(s).ok_or_else(|| format!("unknown format {s}; csv or xlsx"))
}

/// Generates synthetic Mosaic data-mart extracts (Windows-1252 CSV, or XLSX
/// workbooks) and optionally a CIN Census XML return and SSDA903 tables,
/// with injected faults and duplicates, and their ground truth
/// (ground_truth.csv).
#[derive(Debug, Parser)]
#[command(name = "casebridge-gen", version)]
struct Cli {
    /// Output directory (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Seed: the same seed and arguments give byte-identical files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of families.
    #[arg(long, default_value_t = 20)]
    families: usize,
    /// Probability that a data row gets one injected fault.
    #[arg(long, default_value = "0.0", value_parser = parse_rate)]
    error_rate: f64,
    /// Probability that a person or a case note gets a duplicate.
    #[arg(long, default_value = "0.0", value_parser = parse_rate)]
    duplicate_rate: f64,
    /// Reference date (yyyy-mm-dd); every date is before it. Default: today.
    #[arg(long, value_parser = parse_date)]
    as_of: Option<NaiveDate>,
    /// Workbook template for the form answers.
    #[arg(long, default_value = DEFAULT_TEMPLATE)]
    template: PathBuf,
    /// Write only these tables (comma-separated, e.g. CASE_NOTES,DM_PERSONS;
    /// CIN_Census for the CIN Census XML; SSDA903 for both SSDA903 tables,
    /// or SSDA903_Header, SSDA903_Episodes).
    #[arg(long, value_delimiter = ',', value_parser = parse_table)]
    only: Vec<Tables>,
    /// Also write CIN_Census.xml: the children's CIN Census return (DfE XML,
    /// UTF-8), with faults of its own at --error-rate.
    #[arg(long)]
    cin: bool,
    /// Also write SSDA903_Header.csv and SSDA903_Episodes.csv: the
    /// looked-after children's SSDA903 tables, with faults of their own at
    /// --error-rate.
    #[arg(long)]
    ssda903: bool,
    /// Format of the Mosaic tables: csv (Windows-1252, CRLF) or xlsx (one
    /// sheet per workbook, date cells; no ragged-row faults).
    #[arg(long, default_value = "csv", value_parser = parse_format)]
    format: Format,
    /// Number of case notes (spread over the children) instead of 2 to 5
    /// per child.
    #[arg(long)]
    case_notes: Option<u64>,
}

/// The `casebridge-gen` command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let as_of = cli
        .as_of
        .unwrap_or_else(|| chrono::Local::now().date_naive());
    let opts = Options {
        out: cli.out,
        seed: cli.seed,
        families: cli.families,
        error_rate: cli.error_rate,
        duplicate_rate: cli.duplicate_rate,
        as_of,
        template: cli.template,
        only: cli.only.into_iter().flat_map(|t| t.0).collect(),
        cin: cli.cin,
        ssda903: cli.ssda903,
        format: cli.format,
        case_notes: cli.case_notes,
    };
    let t0 = Instant::now();
    match generate(&opts) {
        Ok(s) => {
            let bytes: u64 = s.tables.iter().map(|t| t.bytes).sum();
            let parts: Vec<String> = s
                .tables
                .iter()
                .map(|t| format!("{} {}", t.file, t.rows))
                .collect();
            eprintln!(
                "casebridge-gen: wrote {} to {} ({} rows, {:.1} MB; {} faults, {} duplicates in ground_truth.csv; seed {}, as-of {}) in {:.1}s",
                parts.join(", "),
                opts.out.display(),
                s.tables.iter().map(|t| t.rows).sum::<u64>(),
                bytes as f64 / 1e6,
                s.faults(),
                s.duplicates(),
                opts.seed,
                opts.as_of,
                t0.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("casebridge-gen: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
