//! `casebridge export`: records from one format to another, through
//! canonical records.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use casebridge_mapping::{Error as MappingError, MappingSet, SourceFormat};
use casebridge_runner::export::{export, ExportOptions, ExportTarget};
use casebridge_validate::Report;
use chrono::NaiveDate;
use clap::Args;

use crate::progress::Bar;

/// Arguments of `casebridge export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Input files or directories.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The mapping set the inputs are read with (a file or folder; may be
    /// given several times), as for `validate`; `canonical` reads the
    /// canonical tables `--to csv|xlsx` writes (JSON Lines are always read).
    #[arg(long, short, required = true)]
    pub mapping: Vec<PathBuf>,
    /// What to write: `jsonl`, `csv` or `xlsx` (canonical records, one file
    /// per kind), or a mapping set by shipped name (`mosaic`, `cin`,
    /// `ssda903`) or folder: the files that set reads, each written through
    /// its mapping in reverse.
    #[arg(long)]
    pub to: String,
    /// For a mapping-set target whose tables may be CSV or XLSX: which.
    #[arg(long, value_parser = ["csv", "xlsx"])]
    pub format: Option<String>,
    /// Output folder (created owner-only; written whole, in place at the end).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace the contents of a non-empty --out folder.
    #[arg(long)]
    pub replace: bool,
    /// The date the check stage takes as today (yyyy-mm-dd).
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// Show offending values in findings (they may be personal data).
    #[arg(long)]
    pub show_values: bool,
    /// Largest record, in bytes, held in memory.
    #[arg(long, default_value_t = 64 << 20)]
    pub max_record_bytes: usize,
    /// Memory the source keys of `key.duplicate` may hold; beyond it they
    /// move to a temporary database (slower, memory flat): bytes, or e.g.
    /// "64MiB"; 0: always there.
    #[arg(long, value_parser = crate::validate::parse_size_or_zero, default_value = "64MiB")]
    pub key_memory: u64,
    /// Rows an XLSX sheet written takes, its header's among them (from 2
    /// to Excel's 1048576, the default; fewer for a spreadsheet that holds
    /// fewer). A record past them is rejected (`export.sheet-full`).
    #[arg(long, default_value_t = casebridge_sheet::MAX_ROWS,
          value_parser = clap::value_parser!(u32).range(2..=i64::from(casebridge_sheet::MAX_ROWS)))]
    pub max_sheet_rows: u32,
}

/// The folder of a shipped mapping set: `mappings/NAME` in the working
/// directory, else in the shipped root `mapping init` uses
/// (`$CASEBRIDGE_MAPPINGS`, beside the executable, the source checkout).
pub(crate) fn shipped(name: &str) -> Option<PathBuf> {
    let here = Path::new("mappings").join(name);
    if here.is_dir() {
        return Some(here);
    }
    crate::mapping_cmd::shipped_root(None)
        .map(|root| root.join(name))
        .filter(|p| p.is_dir())
}

pub(crate) fn load(paths: &[PathBuf], what: &str) -> anyhow::Result<Result<MappingSet, u8>> {
    // `--mapping canonical`: the canonical tables `export --to csv|xlsx` writes.
    if let [one] = paths {
        if one.as_os_str() == "canonical" && !one.exists() {
            return Ok(Ok(casebridge_mapping::canonical_tables()));
        }
    }
    match MappingSet::load_all(paths) {
        Ok(m) => Ok(Ok(m)),
        Err(MappingError::Invalid(diags)) => {
            say!("error: the {what} cannot be used:");
            for d in diags {
                say!("  {d}");
            }
            Ok(Err(2))
        }
        Err(e) => Err(e).context(format!("loading the {what}")),
    }
}

/// The target named by `--to` (or a run file's `output.to`): canonical
/// `jsonl`, `csv`, `xlsx`, or a mapping set by shipped name or folder;
/// `Err(exit code)` once the reason is said.
pub(crate) fn target_of(
    to: &str,
    format: Option<&str>,
    what: &str,
) -> anyhow::Result<Result<ExportTarget, u8>> {
    let format = format.and_then(SourceFormat::parse);
    Ok(Ok(match to {
        "jsonl" => ExportTarget::Jsonl,
        "csv" => ExportTarget::Csv,
        "xlsx" => ExportTarget::Xlsx,
        other => {
            let folder = if Path::new(other).is_dir() {
                Some(PathBuf::from(other))
            } else {
                shipped(other)
            };
            let Some(folder) = folder else {
                say!(
                    "error: {what} {other}: not jsonl, csv or xlsx, a shipped mapping set (mosaic, cin, ssda903) or a folder of mappings"
                );
                return Ok(Err(2));
            };
            match load(&[folder], "target mapping set")? {
                Ok(set) => ExportTarget::Set { set, format },
                Err(code) => return Ok(Err(code)),
            }
        }
    }))
}

/// Runs `export`; returns the exit code.
pub fn run(args: ExportArgs, quiet: bool, facts: &mut crate::RunFacts) -> anyhow::Result<u8> {
    let mappings = match load(&args.mapping, "mapping")? {
        Ok(m) => m,
        Err(code) => return Ok(code),
    };
    let target = match target_of(&args.to, args.format.as_deref(), "--to")? {
        Ok(t) => t,
        Err(code) => return Ok(code),
    };
    if casebridge_runner::output_over_input(&[args.out.as_path()], &args.inputs).is_some() {
        say!(
            "error: --out {} is an input; choose another folder",
            args.out.display()
        );
        return Ok(2);
    }
    let opts = ExportOptions {
        out_dir: args.out.clone(),
        replace: args.replace,
        target,
        as_of: args
            .as_of
            .unwrap_or_else(|| chrono::Local::now().date_naive()),
        show_values: args.show_values,
        limits: casebridge_runner::Limits {
            max_record_bytes: args.max_record_bytes,
            key_memory: args.key_memory,
            max_sheet_rows: args.max_sheet_rows,
            ..casebridge_runner::Limits::default()
        },
    };
    let mut report = Report::new(5, false)?
        .with_read_status("exported")
        .with_valid_label("written");
    let bar = Bar::new(quiet);
    let (outcome, summary) = export(&args.inputs, &mappings, &opts, &mut report, &bar)?;
    bar.finish();
    facts.note_report(&report);
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let written = report.write_human(&mut out).and_then(|()| {
        writeln!(out, "\nwritten to {}:", args.out.display())
            .and_then(|()| {
                summary
                    .files
                    .iter()
                    .try_for_each(|(name, n)| writeln!(out, "  {name}: {n} record(s)"))
            })
            .and_then(|()| out.flush())
            .map_err(casebridge_validate::Error::Write)
    });
    match written {
        Err(e) if e.is_broken_pipe() => {}
        r => r?,
    }
    Ok(outcome.exit_code())
}
