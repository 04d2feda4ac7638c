//! Helpers shared by the end-to-end tests: run the real binaries, read their
//! JSON reports and the generator's ground truth.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn casebridge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_casebridge"));
    c.current_dir(root());
    // Tests keep the audit log out of the user's home.
    c.env(
        "CASEBRIDGE_AUDIT_LOG",
        std::env::temp_dir().join("casebridge-test-audit.jsonl"),
    );
    c
}

pub fn generator() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_casebridge-gen"));
    c.current_dir(root());
    c
}

pub fn mappings() -> PathBuf {
    root().join("mappings/mosaic")
}

/// Runs `casebridge validate <inputs> --mapping <mapping> --format json` and
/// returns the exit code and the parsed report.
pub fn validate_json(
    inputs: &[&Path],
    mapping: &Path,
    extra: &[&str],
) -> (i32, serde_json::Value, Output) {
    let mut cmd = casebridge();
    cmd.arg("validate");
    for i in inputs {
        cmd.arg(i);
    }
    cmd.arg("--mapping")
        .arg(mapping)
        .args(["--format", "json", "--as-of", "2026-11-01"])
        .args(extra);
    let out = cmd.output().expect("run casebridge");
    let code = out.status.code().expect("exit code");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "report is not JSON ({e}); exit {code}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, json, out)
}

/// (file name, line, rule, field) of every error finding.
pub type Key = (String, u64, String, String);

fn base(file: &str) -> String {
    Path::new(file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub fn error_keys(report: &serde_json::Value) -> BTreeSet<Key> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| {
            (
                base(f["file"].as_str().unwrap_or("")),
                f["line"].as_u64().unwrap_or(0),
                f["rule"].as_str().unwrap_or("").to_string(),
                f["field"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// The faults of a ground-truth file that validation must report (duplicates
/// are for deduplication, not validation).
pub fn truth_keys(path: &Path) -> BTreeSet<Key> {
    let mut rdr = csv::Reader::from_path(path).expect("ground truth");
    let mut out = BTreeSet::new();
    for rec in rdr.records() {
        let rec = rec.expect("truth row");
        let rule = rec.get(2).unwrap_or("").to_string();
        if rule.starts_with("duplicate.") {
            continue;
        }
        out.insert((
            rec.get(0).unwrap_or("").to_string(),
            rec.get(1).unwrap_or("0").parse().expect("line"),
            rule,
            rec.get(3).unwrap_or("").to_string(),
        ));
    }
    out
}

/// Asserts that the report's errors are exactly the injected faults, printing
/// the differences otherwise.
pub fn assert_matches_truth(report: &serde_json::Value, truth: &Path) {
    let got = error_keys(report);
    let want = truth_keys(truth);
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} injected faults not reported: {missing:#?}\n{} errors not injected: {extra:#?}",
        missing.len(),
        extra.len()
    );
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Copies a directory's files (not subdirectories).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}
