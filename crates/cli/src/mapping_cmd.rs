//! `casebridge mapping ...`: tools for people writing mappings. `init`
//! drafts a mapping for an export casebridge has none for (the drafting
//! is `casebridge_runner::draft`; this is the command line around it).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use casebridge_model::RecordKind;
use casebridge_runner::draft::{draft_mapping, DraftOptions, Knowledge};
use clap::{Args, Subcommand};

/// The `mapping` subcommands.
#[derive(Debug, Subcommand)]
pub enum MappingCommand {
    /// Draft a mapping for an export casebridge has no mapping for, from its
    /// header and first rows; every guess is marked `# REVIEW:`.
    ///
    /// Exit code 0: drafted; 2: could not (unreadable or empty file, an
    /// existing --out without --force).
    Init(InitArgs),
    /// Check mapping files or sets: every problem of every file at once, and
    /// for each field whether it round trips (is written back exactly) or
    /// why not.
    ///
    /// Exit code 0: every mapping loads; 1: problems found.
    Check(CheckArgs),
}

/// Arguments of `casebridge mapping check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Mapping files, or folders of them (a set; the shipped root `mappings`
    /// checks every set).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// The mapping files of a path: the file, or the `*.toml` with a
/// `[mapping]` table in a folder and its subfolders (one level).
fn mapping_files(path: &Path, depth: u8, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        out.push(path.to_path_buf());
        return;
    }
    let Ok(rd) = std::fs::read_dir(path) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() && depth > 0 {
            mapping_files(&p, depth - 1, out);
        } else if p.extension().and_then(|x| x.to_str()) == Some("toml")
            && std::fs::read_to_string(&p).is_ok_and(|t| t.lines().any(|l| l.trim() == "[mapping]"))
        {
            out.push(p);
        }
    }
}

fn check(args: CheckArgs) -> anyhow::Result<u8> {
    let mut files = Vec::new();
    for p in &args.paths {
        if !p.exists() {
            say!("error: {}: no such file or directory", p.display());
            return Ok(2);
        }
        let before = files.len();
        mapping_files(p, 1, &mut files);
        if files.len() == before {
            say!(
                "error: {}: no mapping files (*.toml with a [mapping] table)",
                p.display()
            );
            return Ok(2);
        }
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut problems = 0usize;
    let mut one_way = 0usize;
    for f in &files {
        match casebridge_mapping::Mapping::from_path(f) {
            Ok(m) => {
                writeln!(
                    out,
                    "{}: {} {} ({}, system {})",
                    f.display(),
                    m.id,
                    m.version,
                    m.kind,
                    m.system
                )?;
                for d in m.directions() {
                    let way = match (d.written, d.exact) {
                        (true, true) => "round trips",
                        (true, false) => "written, not exactly",
                        (false, _) => "one-way (read only)",
                    };
                    if !d.exact {
                        one_way += 1;
                    }
                    let cols = if d.columns.is_empty() {
                        "-"
                    } else {
                        d.columns.as_str()
                    };
                    writeln!(out, "  {:<22} {:<28} {way}", d.field, cols)?;
                    if let Some(n) = d.note {
                        writeln!(out, "      {n}")?;
                    }
                }
            }
            Err(casebridge_mapping::Error::Invalid(diags)) => {
                writeln!(out, "{}: cannot be used:", f.display())?;
                for d in diags {
                    problems += 1;
                    writeln!(out, "  {d}")?;
                }
            }
            Err(e) => {
                problems += 1;
                writeln!(out, "{}: {e}", f.display())?;
            }
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "{} mapping file(s), {problems} problem(s), {one_way} field(s) that do not round trip exactly",
        files.len()
    )?;
    out.flush()?;
    Ok(if problems > 0 { 1 } else { 0 })
}

/// Arguments of `casebridge mapping init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The export: a CSV file (any delimiter of , ; tab |) or an XLSX workbook.
    pub file: PathBuf,
    /// Write the draft to this file instead of stdout.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Replace --out if it exists.
    #[arg(long)]
    pub force: bool,
    /// The record kind (`person`, `case_note`, ...; see `casebridge fields`);
    /// guessed from the column names when left out.
    #[arg(long)]
    pub kind: Option<String>,
    /// Data rows read to guess date formats, codes and required fields.
    #[arg(long, default_value_t = 200)]
    pub rows: usize,
    /// The sheet of a workbook to read [default: the first].
    #[arg(long)]
    pub sheet: Option<String>,
    /// The shipped mappings to learn column names and code sets from
    /// [default: $CASEBRIDGE_MAPPINGS, else ./mappings, else the mappings/
    /// folder of this installation].
    #[arg(long, value_name = "DIR")]
    pub mappings: Option<PathBuf>,
}

/// Runs a `mapping` subcommand; returns the exit code.
pub fn run(cmd: MappingCommand, quiet: bool, facts: &mut crate::RunFacts) -> anyhow::Result<u8> {
    match cmd {
        MappingCommand::Init(args) => init(args, quiet, facts),
        MappingCommand::Check(args) => check(args),
    }
}

/// The shipped mappings: `given`, else `$CASEBRIDGE_MAPPINGS`, else
/// `./mappings`, else a `mappings/` folder beside an ancestor of the
/// executable (a source checkout's `target/release/casebridge`).
pub(crate) fn shipped_root(given: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = given {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("CASEBRIDGE_MAPPINGS") {
        return Some(PathBuf::from(p));
    }
    let looks_shipped = |d: &Path| d.join("codesets").is_dir();
    let here = PathBuf::from("mappings");
    if looks_shipped(&here) {
        return Some(here);
    }
    let exe = std::env::current_exe().ok();
    exe.iter()
        .flat_map(|e| e.ancestors().skip(1))
        .flat_map(|a| [a.join("mappings"), a.join("share/casebridge/mappings")])
        // A build from a source checkout: its own mappings/.
        .chain([Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mappings")])
        .find(|d| looks_shipped(d))
        .map(|d| std::fs::canonicalize(&d).unwrap_or(d))
}

fn init(args: InitArgs, quiet: bool, facts: &mut crate::RunFacts) -> anyhow::Result<u8> {
    let kind = match &args.kind {
        None => None,
        Some(k) => match k.parse::<RecordKind>() {
            Ok(k) if RecordKind::MAPPABLE.contains(&k) => Some(k),
            _ => {
                let names: Vec<&str> = RecordKind::MAPPABLE.iter().map(|k| k.as_str()).collect();
                say!(
                    "error: unknown record kind `{k}`; kinds: {}",
                    names.join(", ")
                );
                return Ok(2);
            }
        },
    };
    if let Some(out) = &args.out {
        if casebridge_runner::output_over_input(&[out.as_path()], std::slice::from_ref(&args.file))
            .is_some()
        {
            say!(
                "error: {}: the draft would overwrite the input; choose another --out",
                out.display()
            );
            return Ok(2);
        }
        if std::fs::symlink_metadata(out).is_ok() && !args.force {
            say!(
                "error: {}: already exists; give --force to replace it",
                out.display()
            );
            return Ok(2);
        }
        let parent = out.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(dir) = parent.filter(|d| !d.is_dir()) {
            say!("error: {}: no such folder for --out", dir.display());
            return Ok(2);
        }
    }
    if let Some(dir) = args.mappings.as_deref().filter(|d| !d.is_dir()) {
        say!(
            "error: {}: not a folder of mappings (--mappings)",
            dir.display()
        );
        return Ok(2);
    }
    if let Ok(meta) = std::fs::metadata(&args.file) {
        facts.note_inputs([casebridge_runner::audit::AuditInput {
            file: args.file.display().to_string(),
            // Only the first rows are read: no hash of the whole file.
            sha256: None,
            bytes: meta.len(),
        }]);
    }
    let mut knowledge = match shipped_root(args.mappings.as_deref()) {
        Some(root) => Knowledge::load(&root),
        None => Knowledge::default(),
    };
    if knowledge.root.is_none() {
        knowledge.warnings.push(
            "no shipped mappings found (give --mappings DIR): column names are compared with \
             the canonical field names and synonyms only"
                .to_string(),
        );
    }
    let opts = DraftOptions {
        rows: args.rows,
        kind,
        sheet: args.sheet.clone(),
        out: args.out.clone(),
        ..DraftOptions::default()
    };
    let draft = draft_mapping(&args.file, &opts, &knowledge)?;
    for w in &knowledge.warnings {
        say!("warning: {w}");
    }
    match &args.out {
        Some(out) => {
            // Owner-only and atomic; the error names the file.
            casebridge_io::OutputFile::write_all(out, draft.text.as_bytes())?;
        }
        None => {
            let stdout = io::stdout();
            let mut w = stdout.lock();
            match w.write_all(draft.text.as_bytes()).and_then(|()| w.flush()) {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                r => r.context("writing the draft")?,
            }
        }
    }
    tracing::info!(
        kind = %draft.kind,
        rows = draft.rows,
        columns = draft.columns,
        matched = draft.matched_columns,
        "Mapping drafted."
    );
    if !quiet {
        say!(
            "drafted a {} mapping ({}) for {}: {} of {} column(s) matched, {} row(s) sampled{}; \
             review every `# REVIEW:` line",
            draft.kind,
            if draft.kind_guessed {
                "kind guessed"
            } else {
                "kind given"
            },
            args.file.display(),
            draft.matched_columns,
            draft.columns,
            draft.rows,
            args.out
                .as_ref()
                .map(|o| format!(", written to {}", o.display()))
                .unwrap_or_default()
        );
    }
    Ok(0)
}
