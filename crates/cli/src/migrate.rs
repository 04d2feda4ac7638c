//! `casebridge migrate`, and the ledger's questions: `reconcile`,
//! `provenance`, `ledger verify`.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use casebridge_ledger::{parse_run, Ledger, Lineage, Reconciliation};
use casebridge_runner::migrate::{migrate, MigrateOptions, MigrateSummary};
use casebridge_runner::{Progress, RunConfig};
use casebridge_validate::Report;
use chrono::NaiveDate;
use clap::{Args, Subcommand, ValueEnum};

use crate::progress::Bar;

/// The ledger file when none is named.
const DEFAULT_LEDGER: &str = "casebridge-ledger.sqlite";

/// Arguments of `casebridge migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The run file: `[inputs]`, `[output]` (dir, to, format), `[ledger]`
    /// (path), optional `[dedup]`, limits and report settings.
    #[arg(long, short)]
    pub config: PathBuf,
    /// Report what would change; write nothing and record nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The date the check stage takes as today (yyyy-mm-dd).
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// Show offending values in findings (they may be personal data).
    #[arg(long)]
    pub show_values: bool,
}

/// Arguments of `casebridge reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The run (`3` or `run-000003`; default: the last).
    pub run: Option<String>,
    /// The ledger file.
    #[arg(long, default_value = DEFAULT_LEDGER)]
    pub ledger: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Shape::Human)]
    pub format: Shape,
}

/// Arguments of `casebridge provenance`.
#[derive(Debug, Args)]
pub struct ProvenanceArgs {
    /// The record's canonical id (e.g. `person:3f2a...`).
    pub record: String,
    /// The ledger file.
    #[arg(long, default_value = DEFAULT_LEDGER)]
    pub ledger: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = LineageFormat::Human)]
    pub format: LineageFormat,
}

/// `casebridge ledger ...`.
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Check the hash chain, every committed output file and the store.
    ///
    /// Exit code 0: intact; 1: problems found (each names the run it breaks).
    Verify {
        /// The ledger file.
        #[arg(long, default_value = DEFAULT_LEDGER)]
        ledger: PathBuf,
    },
}

/// Human or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shape {
    /// Lines for people.
    Human,
    /// One JSON document.
    Json,
}

/// How a lineage is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LineageFormat {
    /// Lines for people.
    Human,
    /// The ledger's rows as JSON.
    Json,
    /// W3C PROV-JSON.
    ProvJson,
}

/// Plain progress lines, one per source file, when stderr is not a terminal.
struct Lines {
    quiet: bool,
}

impl Progress for Lines {
    fn file(&self, name: &str) {
        if !self.quiet {
            say!("reading {name}");
        }
    }
}

/// Runs `migrate`; returns the exit code.
pub fn run(args: MigrateArgs, quiet: bool, facts: &mut crate::RunFacts) -> anyhow::Result<u8> {
    let config = match RunConfig::from_path(&args.config) {
        Ok(c) => c,
        Err(diags) => {
            say!("error: the run configuration cannot be used:");
            for d in diags {
                say!("  {d}");
            }
            return Ok(2);
        }
    };
    facts.note_inputs([casebridge_runner::audit::AuditInput {
        file: config.path.display().to_string(),
        sha256: Some(config.sha256.to_hex()),
        bytes: config.bytes,
    }]);
    let Some(output) = config.output.clone() else {
        say!(
            "error: {}: no [output] section: migrate needs `dir` and `to` (jsonl, csv, xlsx or a mapping set)",
            config.path.display()
        );
        return Ok(2);
    };
    let dedup = match &config.dedup {
        None => None,
        Some(path) => match casebridge_dedup::DedupConfig::from_path(path) {
            Ok(c) => Some(c),
            Err(e) => {
                say!("error: {e}");
                return Ok(2);
            }
        },
    };
    let mappings = match crate::export::load(std::slice::from_ref(&config.mappings), "mapping")? {
        Ok(m) => m,
        Err(code) => return Ok(code),
    };
    let what = format!("{}: output.to =", config.path.display());
    let target = match crate::export::target_of(&output.to, output.format.as_deref(), &what)? {
        Ok(t) => t,
        Err(code) => return Ok(code),
    };
    if casebridge_runner::output_over_input(&[output.dir.as_path()], &config.inputs).is_some() {
        say!(
            "error: output.dir {} is an input; choose another folder",
            output.dir.display()
        );
        return Ok(2);
    }
    let opts = MigrateOptions {
        out_dir: output.dir.clone(),
        target,
        ledger: config.ledger.clone(),
        ledger_cache: config
            .ledger_cache
            .unwrap_or(casebridge_ledger::DEFAULT_CACHE),
        ledger_journal: config.ledger_journal,
        store_memory: config
            .ledger_memory
            .unwrap_or(casebridge_runner::migrate::STORE_MEMORY),
        dry_run: args.dry_run,
        full_extract: config.full_extract,
        name: config.name.clone(),
        config: Some((config.text.clone(), config.sha256)),
        tool: format!("casebridge {}", env!("CARGO_PKG_VERSION")),
        as_of: args
            .as_of
            .or(config.as_of)
            .unwrap_or_else(|| chrono::Local::now().date_naive()),
        show_values: args.show_values || config.report.show_values,
        limits: config.limits.clone(),
        dedup,
    };
    let mut report = Report::new(config.report.examples.unwrap_or(5), false)?
        .with_read_status("migrated")
        .with_valid_label("migrated");
    let (outcome, summary) = if std::io::stderr().is_terminal() {
        let bar = Bar::new(quiet);
        let r = migrate(&config.inputs, &mappings, &opts, &mut report, &bar);
        bar.finish();
        r?
    } else {
        migrate(
            &config.inputs,
            &mappings,
            &opts,
            &mut report,
            &Lines { quiet },
        )?
    };
    facts.note_report(&report);
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let written = if summary.unchanged_since.is_some() {
        Ok(())
    } else {
        report.write_human(&mut out)
    }
    .and_then(|()| {
        write_summary(&mut out, &summary, &opts, &config.ledger)
            .and_then(|()| out.flush())
            .map_err(casebridge_validate::Error::Write)
    });
    match written {
        Err(e) if e.is_broken_pipe() => {}
        r => r?,
    }
    Ok(outcome.exit_code())
}

fn write_summary(
    out: &mut dyn Write,
    s: &MigrateSummary,
    opts: &MigrateOptions,
    ledger: &Path,
) -> io::Result<()> {
    if let Some(run) = s.unchanged_since {
        writeln!(
            out,
            "nothing changed: every input is as run {run} read it (same SHA-256); nothing written, nothing recorded"
        )?;
        for (f, r) in &s.unchanged_files {
            writeln!(out, "  {f}: unchanged since run {r}")?;
        }
        return Ok(());
    }
    let count = |k: &str| s.changes.get(k).copied().unwrap_or(0);
    let what = if opts.dry_run {
        format!("dry run: run {} would write", s.seq)
    } else {
        format!("run {}", s.seq)
    };
    writeln!(
        out,
        "\n{what}: {} new, {} changed, {} restored, {} withdrawn, {} unchanged (skipped)",
        count("new"),
        count("changed"),
        count("restored"),
        count("withdrawn"),
        count("unchanged"),
    )?;
    for (f, r) in &s.unchanged_files {
        writeln!(out, "  {f}: unchanged since run {r}, not read again")?;
    }
    if opts.dry_run {
        writeln!(out, "nothing written, nothing recorded (--dry-run)")?;
        return Ok(());
    }
    if let Some(folder) = &s.folder {
        writeln!(out, "written to {}:", folder.display())?;
        for (name, n) in &s.files {
            writeln!(out, "  {name}: {n} record(s)")?;
        }
    }
    if let Some(run) = &s.run {
        writeln!(
            out,
            "recorded in {} as {} (digest {})",
            ledger.display(),
            run.run_id,
            run.digest
        )?;
    }
    Ok(())
}

fn open(ledger: &Path) -> anyhow::Result<Ledger> {
    Ledger::open_read_only(ledger).map_err(anyhow::Error::from)
}

/// Runs `reconcile`; exit 1 when a file does not balance.
pub fn reconcile(args: ReconcileArgs) -> anyhow::Result<u8> {
    let seq = match &args.run {
        None => None,
        Some(r) => {
            Some(parse_run(r).with_context(|| format!("`{r}` is not a run (3 or run-000003)"))?)
        }
    };
    let mut ledger = open(&args.ledger)?;
    let rec = ledger.reconcile(seq)?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let r = match args.format {
        Shape::Json => serde_json::to_writer_pretty(&mut out, &rec)
            .map_err(io::Error::other)
            .and_then(|()| writeln!(out)),
        Shape::Human => write_reconciliation(&mut out, &rec),
    }
    .and_then(|()| out.flush());
    match r {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        r => r?,
    }
    Ok(if rec.balances() { 0 } else { 1 })
}

fn write_reconciliation(out: &mut dyn Write, rec: &Reconciliation) -> io::Result<()> {
    let run = &rec.run;
    writeln!(
        out,
        "{} ({}), {} to {}, {}",
        run.run_id,
        run.name.as_deref().unwrap_or("unnamed"),
        run.started,
        run.ended,
        run.outcome
    )?;
    writeln!(
        out,
        "{:<40} {:<16} {:>9} {:>9} {:>7} {:>9} {:>8}  balance",
        "file", "kind", "read", "migrated", "merged", "rejected", "skipped"
    )?;
    for f in &rec.files {
        let ok = if f.balances() { "ok" } else { "UNBALANCED" };
        writeln!(
            out,
            "{:<40} {:<16} {:>9} {:>9} {:>7} {:>9} {:>8}  {ok}",
            f.name, f.kind, f.read, f.migrated, f.merged, f.rejected, f.skipped
        )?;
        if f.outcome != "read" {
            writeln!(
                out,
                "  {}: {}",
                f.outcome,
                f.reason.as_deref().unwrap_or("")
            )?;
        }
    }
    let total =
        |g: fn(&casebridge_ledger::FileBalance) -> u64| rec.files.iter().map(g).sum::<u64>();
    writeln!(
        out,
        "{:<40} {:<16} {:>9} {:>9} {:>7} {:>9} {:>8}  {}",
        "total",
        "",
        total(|f| f.read),
        total(|f| f.migrated),
        total(|f| f.merged),
        total(|f| f.rejected),
        total(|f| f.skipped),
        if rec.balances() { "ok" } else { "UNBALANCED" }
    )?;
    let changes: Vec<String> = rec
        .changes
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    writeln!(
        out,
        "versions written: {}",
        if changes.is_empty() {
            "none".to_string()
        } else {
            changes.join(", ")
        }
    )?;
    if rec.balances() {
        writeln!(
            out,
            "read = migrated + merged + rejected + skipped for every file"
        )
    } else {
        writeln!(
            out,
            "some files do not balance: records were lost or counted twice"
        )
    }
}

/// Runs `provenance`; exit 1 when the ledger never saw the record.
pub fn provenance(args: ProvenanceArgs) -> anyhow::Result<u8> {
    let mut ledger = open(&args.ledger)?;
    let Some(lineage) = ledger.lineage(&args.record)? else {
        say!(
            "error: {}: the ledger has no record with this id",
            args.record
        );
        return Ok(1);
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let r = match args.format {
        LineageFormat::Json => serde_json::to_writer_pretty(&mut out, &lineage)
            .map_err(io::Error::other)
            .and_then(|()| writeln!(out)),
        LineageFormat::ProvJson => serde_json::to_writer_pretty(&mut out, &prov_json(&lineage))
            .map_err(io::Error::other)
            .and_then(|()| writeln!(out)),
        LineageFormat::Human => write_lineage(&mut out, &lineage),
    }
    .and_then(|()| out.flush());
    match r {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        r => r?,
    }
    Ok(0)
}

fn place(locator: &serde_json::Value) -> String {
    if let Some(line) = locator.get("line").and_then(serde_json::Value::as_u64) {
        return format!("line {line}");
    }
    match locator {
        serde_json::Value::Object(o) => o
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k} {s}"),
                other => format!("{k} {other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn write_lineage(out: &mut dyn Write, l: &Lineage) -> io::Result<()> {
    writeln!(out, "record {} ({})", l.id, l.kind)?;
    writeln!(out, "versions:")?;
    for v in &l.versions {
        writeln!(
            out,
            "  v{} by run {}: {} (content {})",
            v.version, v.run, v.change, v.content_sha256
        )?;
        if let serde_json::Value::Array(ps) = &v.provenance {
            for p in ps {
                writeln!(
                    out,
                    "      from {} ({}), {} [sha256 {}], mapping {} v{} [sha256 {}]",
                    p["source"]["file"].as_str().unwrap_or("?"),
                    p["source"]["system"].as_str().unwrap_or("?"),
                    place(&p["locator"]),
                    p["source"]["sha256"].as_str().unwrap_or("?"),
                    p["mapping"]["id"].as_str().unwrap_or("?"),
                    p["mapping"]["version"].as_str().unwrap_or("?"),
                    p["mapping"]["sha256"].as_str().unwrap_or("?"),
                )?;
            }
        } else if let Some(why) = v.provenance.get("withdrawn").and_then(|w| w.as_str()) {
            writeln!(out, "      {why}")?;
        }
    }
    writeln!(out, "source rows read, run by run:")?;
    for r in &l.reads {
        writeln!(
            out,
            "  run {}: {} {} [sha256 {}]: {}{}",
            r.run,
            r.file,
            place(&r.locator),
            r.sha256.as_deref().unwrap_or("-"),
            r.disposition,
            r.detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        )?;
    }
    if !l.merges.is_empty() {
        writeln!(out, "dedup decisions:")?;
        for m in &l.merges {
            writeln!(
                out,
                "  run {}: {} merged into {}: {}",
                m.run, m.record_id, m.into_id, m.evidence
            )?;
        }
    }
    writeln!(out, "runs:")?;
    for r in &l.runs {
        writeln!(
            out,
            "  {} ({}): {} to {}, {}",
            r.run_id,
            r.name.as_deref().unwrap_or("unnamed"),
            r.started,
            r.ended,
            r.outcome
        )?;
    }
    Ok(())
}

/// The lineage as W3C PROV-JSON: each version an entity generated by its
/// run (an activity) and derived from the source rows it was read from
/// (entities of their file, by SHA-256) and from its previous version.
pub fn prov_json(l: &Lineage) -> serde_json::Value {
    use serde_json::{json, Map, Value};
    let q = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    let mut entity = Map::new();
    let mut activity = Map::new();
    let mut generated = Map::new();
    let mut used = Map::new();
    let mut derived = Map::new();
    let mut n = 0;
    let mut id = |p: &str| {
        n += 1;
        format!("_:{p}{n}")
    };
    for r in &l.runs {
        activity.insert(
            format!("cb:{}", r.run_id),
            json!({
                "prov:startTime": r.started,
                "prov:endTime": r.ended,
                "prov:type": "cb:migration-run",
                "cb:outcome": r.outcome,
                "cb:digest": r.digest,
            }),
        );
    }
    let run_of = |seq: i64| format!("cb:{}", casebridge_ledger::run_id(seq));
    let mut previous: Option<String> = None;
    for v in &l.versions {
        let e = format!("cb:{}_v{}", q(&l.id), v.version);
        entity.insert(
            e.clone(),
            json!({
                "prov:type": "cb:record-version",
                "prov:label": format!("{} version {}", l.id, v.version),
                "cb:record": l.id,
                "cb:kind": l.kind,
                "cb:change": v.change,
                "cb:content_sha256": v.content_sha256,
            }),
        );
        generated.insert(
            id("g"),
            json!({ "prov:entity": e, "prov:activity": run_of(v.run) }),
        );
        if let Some(p) = &previous {
            derived.insert(
                id("d"),
                json!({
                    "prov:generatedEntity": e,
                    "prov:usedEntity": p,
                    "prov:activity": run_of(v.run),
                    "prov:type": "prov:Revision",
                }),
            );
        }
        if let Value::Array(ps) = &v.provenance {
            for p in ps {
                let sha = p["source"]["sha256"].as_str().unwrap_or("");
                let file = format!("cb:file_{}", q(sha));
                entity.entry(file.clone()).or_insert_with(|| {
                    json!({
                        "prov:type": "cb:source-file",
                        "prov:label": p["source"]["file"],
                        "cb:sha256": sha,
                        "cb:system": p["source"]["system"],
                    })
                });
                let row = format!("cb:row_{}_{}", q(sha), q(&place(&p["locator"])));
                entity.entry(row.clone()).or_insert_with(|| {
                    json!({
                        "prov:type": "cb:source-row",
                        "cb:file": file,
                        "cb:locator": p["locator"],
                    })
                });
                derived.insert(
                    id("d"),
                    json!({ "prov:generatedEntity": row, "prov:usedEntity": file, "prov:type": "prov:Quotation" }),
                );
                derived.insert(
                    id("d"),
                    json!({
                        "prov:generatedEntity": e,
                        "prov:usedEntity": row,
                        "prov:activity": run_of(v.run),
                        "cb:mapping": p["mapping"],
                    }),
                );
                used.insert(
                    id("u"),
                    json!({ "prov:activity": run_of(v.run), "prov:entity": file }),
                );
            }
        }
        previous = Some(e);
    }
    let mut doc = json!({
        "prefix": {
            "cb": "urn:casebridge:",
            "prov": "http://www.w3.org/ns/prov#",
        },
        "entity": entity,
        "activity": activity,
        "wasGeneratedBy": generated,
        "wasDerivedFrom": derived,
        "used": used,
    });
    if let Some(o) = doc.as_object_mut() {
        o.retain(|_, v| !v.as_object().is_some_and(Map::is_empty));
    }
    doc
}

/// Runs `ledger verify`; exit 1 when a problem is found.
pub fn ledger(cmd: LedgerCommand) -> anyhow::Result<u8> {
    match cmd {
        LedgerCommand::Verify { ledger } => {
            let mut l = open(&ledger)?;
            let runs = l.runs()?.len();
            let problems = l.verify()?;
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            let r = (|| -> io::Result<()> {
                if problems.is_empty() {
                    writeln!(
                        out,
                        "{}: intact: {runs} run(s), hash chain, output files and store all check",
                        ledger.display()
                    )?;
                } else {
                    for p in &problems {
                        match p.run {
                            Some(r) => writeln!(out, "run {r}: {}", p.what)?,
                            None => writeln!(out, "{}", p.what)?,
                        }
                    }
                    writeln!(
                        out,
                        "{}: {} problem(s) found",
                        ledger.display(),
                        problems.len()
                    )?;
                }
                out.flush()
            })();
            match r {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                r => r?,
            }
            Ok(if problems.is_empty() { 0 } else { 1 })
        }
    }
}
