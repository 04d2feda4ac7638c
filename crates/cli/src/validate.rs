//! `casebridge validate`: the go-live check.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use casebridge_mapping::{Error as MappingError, MappingSet};
use casebridge_runner::{validate, ValidateOptions};
use casebridge_validate::Report;
use chrono::NaiveDate;
use clap::{Args, ValueEnum};

use crate::progress::Bar;

/// Report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Grouped by rule with counts and the first examples.
    Human,
    /// One JSON document: `summary` and every finding.
    Json,
}

/// Arguments of `casebridge validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Input files or directories (a directory's files are matched to
    /// mappings by name; those no mapping fits are skipped with a warning).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// A mapping file (applied to every input) or a directory of mapping
    /// files (each input gets the one whose source glob fits its name).
    #[arg(long, short)]
    pub mapping: PathBuf,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Write the report to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Show offending values in findings. They are personal data: off by default.
    #[arg(long)]
    pub show_values: bool,
    /// The date taken as today for future-date rules (yyyy-mm-dd).
    #[arg(long, value_parser = parse_date)]
    pub as_of: Option<NaiveDate>,
    /// Examples shown per rule in the human report.
    #[arg(long, default_value_t = 5)]
    pub examples: usize,
    /// Largest record, in bytes, held in memory; larger ones are rejected.
    #[arg(long, default_value_t = 64 << 20)]
    pub max_record_bytes: usize,
    /// Most findings listed in the JSON report; the rest are counted.
    #[arg(long, default_value_t = 1_000_000)]
    pub max_findings: u64,
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| "expected yyyy-mm-dd".to_string())
}

/// Runs `validate`; returns the exit code.
pub fn run(args: ValidateArgs, quiet: bool) -> anyhow::Result<u8> {
    let mappings = match MappingSet::load(&args.mapping) {
        Ok(m) => m,
        Err(MappingError::Invalid(diags)) => {
            eprintln!("error: the mapping cannot be used:");
            for d in diags {
                eprintln!("  {d}");
            }
            return Ok(2);
        }
        Err(e) => return Err(e).context("loading mappings"),
    };
    let opts = ValidateOptions {
        as_of: args
            .as_of
            .unwrap_or_else(|| chrono::Local::now().date_naive()),
        show_values: args.show_values,
        max_record_bytes: args.max_record_bytes,
    };
    let mut report =
        Report::new(args.examples, args.format == Format::Json)?.with_limit(args.max_findings);
    let bar = Bar::new(quiet);
    let outcome = validate(&args.inputs, &mappings, &opts, &mut report, &bar)?;
    bar.finish();
    crate::note_report(&report);
    tracing::info!(
        records = report.records_read,
        errors = report.errors,
        warnings = report.warnings,
        "Validation finished."
    );
    let written = match &args.output {
        Some(path) => {
            let mut buf = Vec::new();
            render(&mut report, args.format, &mut buf)?;
            write_private(path, &buf).with_context(|| format!("writing {}", path.display()))
        }
        None => {
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            match render(&mut report, args.format, &mut out).and_then(|()| out.flush()) {
                // A closed pipe (`| head`) is not a failure of the run.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                r => r.context("writing the report"),
            }
        }
    };
    written?;
    Ok(outcome.exit_code())
}

fn render(report: &mut Report, format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Human => report.write_human(out),
        Format::Json => report.write_json(out),
    }
}

/// Writes a file readable by its owner only, atomically (temporary file, then rename).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
