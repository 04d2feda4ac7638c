//! `casebridge validate`: the go-live check.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use casebridge_mapping::{Error as MappingError, MappingSet};
use casebridge_runner::{validate, RunConfig, ValidateOptions};
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
    /// Not needed with --config.
    #[arg(required_unless_present = "config")]
    pub inputs: Vec<PathBuf>,
    /// A run configuration file (run.toml): inputs, mappings, limits and
    /// report settings. Options given here override it.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// A mapping file (applied to every input) or a directory of mapping
    /// files (each input gets the one whose source glob fits its name).
    /// May be given several times (`-m mappings` takes every shipped set).
    #[arg(long, short, required_unless_present = "config")]
    pub mapping: Vec<PathBuf>,
    /// Report format [default: human].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write the report to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Show offending values in findings. They are personal data: off by default.
    #[arg(long)]
    pub show_values: bool,
    /// The date taken as today for future-date rules (yyyy-mm-dd).
    #[arg(long, value_parser = parse_date)]
    pub as_of: Option<NaiveDate>,
    /// Examples shown per rule in the human report [default: 5].
    #[arg(long)]
    pub examples: Option<usize>,
    /// Largest record (CSV record, sheet row, XML record) held in memory;
    /// larger ones are rejected: bytes, or e.g. "64MiB" [default: 64MiB].
    #[arg(long, value_parser = parse_size)]
    pub max_record_bytes: Option<u64>,
    /// Most findings listed in the JSON report; the rest are counted [default: 1000000].
    #[arg(long)]
    pub max_findings: Option<u64>,
    /// Deepest nesting of XML elements [default: 64].
    #[arg(long)]
    pub max_xml_depth: Option<usize>,
    /// Most bytes an XLSX workbook may inflate to [default: 512MiB].
    #[arg(long, value_parser = parse_size)]
    pub max_xlsx_bytes: Option<u64>,
    /// Most bytes an XLSX workbook may inflate to per byte of file [default: 200].
    #[arg(long)]
    pub max_xlsx_ratio: Option<u64>,
    /// Memory the source keys of `key.duplicate` may hold; beyond it they
    /// move to a temporary database (slower, memory flat): bytes, or e.g.
    /// "64MiB"; 0: always there [default: 64MiB].
    #[arg(long, value_parser = parse_size_or_zero)]
    pub key_memory: Option<u64>,
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| "expected yyyy-mm-dd".to_string())
}

pub(crate) fn parse_size_or_zero(s: &str) -> Result<u64, String> {
    casebridge_runner::config::parse_size(s)
        .ok_or_else(|| "expected a number of bytes, or e.g. 64MiB".to_string())
}

fn parse_size(s: &str) -> Result<u64, String> {
    casebridge_runner::config::parse_size(s)
        .filter(|n| *n > 0)
        .ok_or_else(|| "expected a positive number of bytes, or e.g. 64MiB".to_string())
}

/// Runs `validate`; returns the exit code.
pub fn run(args: ValidateArgs, quiet: bool, facts: &mut crate::RunFacts) -> anyhow::Result<u8> {
    let config = match &args.config {
        None => None,
        Some(path) => match RunConfig::from_path(path) {
            Ok(c) => Some(c),
            Err(diags) => {
                say!("error: the run configuration cannot be used:");
                for d in diags {
                    say!("  {d}");
                }
                return Ok(2);
            }
        },
    };
    if let Some(c) = &config {
        facts.note_inputs([casebridge_runner::audit::AuditInput {
            file: c.path.display().to_string(),
            sha256: Some(c.sha256.to_hex()),
            bytes: c.bytes,
        }]);
    }
    // The command line wins over the run configuration, which wins over defaults.
    let inputs = if args.inputs.is_empty() {
        config
            .as_ref()
            .map(|c| c.inputs.clone())
            .unwrap_or_default()
    } else {
        args.inputs.clone()
    };
    let mapping_paths: Vec<PathBuf> = if args.mapping.is_empty() {
        config
            .as_ref()
            .map(|c| vec![c.mappings.clone()])
            .unwrap_or_default()
    } else {
        args.mapping.clone()
    };
    if mapping_paths.is_empty() {
        anyhow::bail!("no mapping: give --mapping or a --config naming one");
    }
    let mut limits = config
        .as_ref()
        .map(|c| c.limits.clone())
        .unwrap_or_default();
    if let Some(n) = args.max_record_bytes {
        limits.max_record_bytes = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(n) = args.max_xml_depth {
        limits.max_xml_depth = n;
    }
    if let Some(n) = args.max_xlsx_bytes {
        limits.archive.max_total_bytes = n;
    }
    if let Some(n) = args.key_memory {
        limits.key_memory = n;
    }
    if let Some(n) = args.max_xlsx_ratio {
        limits.archive.max_ratio = n;
    }
    let rc = config
        .as_ref()
        .map(|c| c.report.clone())
        .unwrap_or_default();
    let format = args.format.unwrap_or(match rc.format.as_deref() {
        Some("json") => Format::Json,
        _ => Format::Human,
    });
    let output = args.output.clone().or(rc.output);
    let examples = args.examples.or(rc.examples).unwrap_or(5);
    let max_findings = args
        .max_findings
        .or(config.as_ref().and_then(|c| c.max_findings))
        .unwrap_or(1_000_000);
    let as_of = args
        .as_of
        .or(config.as_ref().and_then(|c| c.as_of))
        .unwrap_or_else(|| chrono::Local::now().date_naive());

    if let Some(out) = output
        .as_deref()
        .and_then(|o| casebridge_runner::output_over_input(&[o], &inputs))
    {
        say!(
            "error: {}: the report would overwrite an input; choose another --output",
            out.display()
        );
        return Ok(2);
    }
    let mappings = match MappingSet::load_all(&mapping_paths) {
        Ok(m) => m,
        Err(MappingError::Invalid(diags)) => {
            say!("error: the mapping cannot be used:");
            for d in diags {
                say!("  {d}");
            }
            return Ok(2);
        }
        Err(e) => return Err(e).context("loading mappings"),
    };
    let opts = ValidateOptions {
        as_of,
        show_values: args.show_values || rc.show_values,
        limits,
    };
    let mut report = Report::new(examples, format == Format::Json)?.with_limit(max_findings);
    let bar = Bar::new(quiet);
    let outcome = validate(&inputs, &mappings, &opts, &mut report, &bar)?;
    bar.finish();
    facts.note_report(&report);
    tracing::info!(
        records = report.records_read,
        errors = report.errors,
        warnings = report.warnings,
        "Validation finished."
    );
    let written = match &output {
        Some(path) => {
            let mut buf = Vec::new();
            render(&mut report, format, &mut buf)?;
            // Owner-only and atomic; the error names the file.
            casebridge_io::OutputFile::write_all(path, &buf).map_err(anyhow::Error::from)
        }
        None => {
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            let flushed = render(&mut report, format, &mut out)
                .and_then(|()| out.flush().map_err(casebridge_validate::Error::Write));
            match flushed {
                // A closed pipe (`| head`) is not a failure of the run.
                Err(e) if e.is_broken_pipe() => Ok(()),
                r => r.map_err(anyhow::Error::from),
            }
        }
    };
    written?;
    Ok(outcome.exit_code())
}

fn render(
    report: &mut Report,
    format: Format,
    out: &mut dyn Write,
) -> casebridge_validate::Result<()> {
    match format {
        Format::Human => report.write_human(out),
        Format::Json => report.write_json(out),
    }
}
