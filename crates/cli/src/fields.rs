//! `casebridge fields [KIND]`: the canonical fields of each record kind,
//! their types and the rules that apply to them, from the model's catalogue
//! (the one list; the README's field reference is generated from it and a
//! test keeps it current).

use std::io::{self, Write};

use anyhow::Context;
use casebridge_model::{rules, Check, RecordKind};
use clap::{Args, ValueEnum};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An aligned table per kind.
    Human,
    /// Markdown tables (the README's field reference).
    Markdown,
}

/// Arguments of `casebridge fields`.
#[derive(Debug, Args)]
pub struct FieldsArgs {
    /// Only this kind (`person`, `case_note`, ...); all when left out.
    pub kind: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// The rule ids a field's checks report.
fn rule_ids(checks: &[Check]) -> Vec<&'static str> {
    checks
        .iter()
        .map(|c| match c {
            Check::NhsNumber => rules::PERSON_NHS_NUMBER,
            Check::Upn => rules::PERSON_UPN,
            Check::Postcode => rules::ADDRESS_POSTCODE,
            Check::BirthDate => rules::PERSON_DOB_FUTURE,
            Check::NotFuture => rules::DATE_FUTURE,
            Check::NotBefore(_) => rules::DATE_END_BEFORE_START,
        })
        .collect()
}

fn rules_of(def: &casebridge_model::FieldDef) -> String {
    let mut r = rule_ids(def.checks);
    if def.checks.contains(&Check::BirthDate) {
        r.push(rules::PERSON_DOB_IMPLAUSIBLE);
    }
    let mut text = r.join(", ");
    for c in def.checks {
        if let Check::NotBefore(start) = c {
            text.push_str(&format!(" (not before `{start}`)"));
        }
    }
    text
}

/// The field reference for `kinds`, in `format`.
pub fn render(kinds: &[RecordKind], format: Format) -> String {
    let mut out = String::new();
    for kind in kinds {
        match format {
            Format::Markdown => {
                out.push_str(&format!(
                    "\n#### `{kind}`\n\n| field | type | rules | personal | what |\n|---|---|---|---|---|\n"
                ));
                for f in kind.fields() {
                    let ty = if f.is_key { "key" } else { f.ty.as_str() };
                    out.push_str(&format!(
                        "| `{}` | {ty} | {} | {} | {} |\n",
                        f.name,
                        rules_of(f),
                        if f.is_personal { "yes" } else { "no" },
                        f.doc
                    ));
                }
            }
            Format::Human => {
                out.push_str(&format!("{kind}\n"));
                for f in kind.fields() {
                    let ty = if f.is_key { "key" } else { f.ty.as_str() };
                    out.push_str(&format!(
                        "  {:<22} {:<10} {:<8} {:<52} {}\n",
                        f.name,
                        ty,
                        if f.is_personal { "personal" } else { "" },
                        rules_of(f),
                        f.doc
                    ));
                }
            }
        }
    }
    out
}

/// Runs `fields`; exit code 0, or 2 for an unknown kind.
pub fn run(args: FieldsArgs) -> anyhow::Result<u8> {
    let kinds: Vec<RecordKind> = match &args.kind {
        None => RecordKind::ALL.to_vec(),
        Some(k) => match k.parse::<RecordKind>() {
            Ok(k) => vec![k],
            Err(_) => {
                let names: Vec<&str> = RecordKind::ALL.iter().map(|k| k.as_str()).collect();
                say!(
                    "error: unknown record kind `{k}`; kinds: {}",
                    names.join(", ")
                );
                return Ok(2);
            }
        },
    };
    let text = render(&kinds, args.format);
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        r => r.context("writing the field list")?,
    }
    Ok(0)
}
