//! Crash safety of `casebridge migrate` (DESIGN.md, invariant 3): a run
//! killed with SIGKILL at any point and run again ends with the same
//! outputs and the same ledger as an uninterrupted run.
//!
//! One input set is migrated once cleanly (folder A). Then, in a fresh
//! folder B for each kill point, the same run is started, killed, run again
//! to completion and run a third time (which must find nothing changed).
//! Every file under the output folder (hidden names included: no staging,
//! pending or lock debris may be left) must be byte-identical to A's, and
//! every ledger table must hold the same rows as A's (times and the digests
//! that depend on them aside); `ledger verify` and `reconcile` pass.
//!
//! Kill points: fractions of the clean run's duration spread over the run,
//! plus kills timed on the commit sequence (as soon as the staging folder
//! appears; and 0 to 40 ms after `OUT/.pending-run-000001` appears, the
//! moment the outputs are complete, just before the ledger commits and
//! closes, and the folder takes its name).
//!
//! Where the kills landed (debug build on a 2-core machine, clean run
//! 1.6-1.9 s; `--nocapture` prints each run's own tally), in four runs
//! of the 34 kill points: 2-3 before the output folder existed (planning,
//! opening the ledger) or just after; 18-23 while the run read its inputs
//! and wrote its staging folder; 6-7 with the outputs complete as
//! `OUT/.pending-run-000001` but the ledger not committed (rolled back:
//! the rerun removes the folder and runs again); 2-3 after the ledger
//! committed, the folder still pending (the ledger closing before the
//! rename; the rerun puts the folder in
//! place and finds nothing changed); and 0-5 after the run had ended (a
//! run faster than the clean one). Kills before the commit are asserted;
//! kills after it are only reported, as their timing depends on the
//! machine.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{generator, mappings, stderr, stdout};

const PENDING: &str = ".pending-run-000001";
const FINAL: &str = "run-000001";

fn casebridge_in(dir: &Path) -> Command {
    let mut c = common::casebridge();
    c.current_dir(dir).arg("--no-audit");
    c
}

fn migrate_cmd(dir: &Path) -> Command {
    let mut c = casebridge_in(dir);
    c.args(["migrate", "--config", "run.toml"]);
    c
}

/// A run folder: the inputs under `in/`, `run.toml`, outputs to `out/`, the
/// ledger beside them (not in `out/`: its lock file is not an output).
fn setup(dir: &Path, inputs: &Path) {
    fs::create_dir_all(dir).unwrap();
    common::copy_dir(inputs, &dir.join("in"));
    let toml = format!(
        "[run]\nname = \"kill-test\"\nas_of = \"2026-11-01\"\n\n\
         [inputs]\npaths = [\"in\"]\nmappings = {:?}\nextract = \"full\"\n\n\
         [output]\ndir = \"out\"\nto = \"jsonl\"\n\n\
         [ledger]\npath = \"ledger.sqlite\"\n",
        mappings().display().to_string()
    );
    fs::write(dir.join("run.toml"), toml).unwrap();
}

/// Every entry under `dir`, recursively, hidden names included: folders
/// as `None`, files with their bytes.
fn tree(dir: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Option<Vec<u8>>>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                out.insert(format!("{rel}/"), None);
                walk(base, &p, out);
            } else {
                out.insert(rel, Some(fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Columns left out of the comparison: the run's times and the digests
/// computed over them.
const VOLATILE: &[(&str, &str)] = &[
    ("runs", "started"),
    ("runs", "ended"),
    ("runs", "digest"),
    ("runs", "prev_digest"),
];

/// Every table of the ledger, row by row in insertion order (`current`,
/// a WITHOUT ROWID table, by its key).
fn dump(ledger: &Path) -> BTreeMap<String, Vec<Vec<String>>> {
    let conn =
        rusqlite::Connection::open_with_flags(ledger, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let tables: Vec<String> = {
        let mut st = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    for t in [
        "runs",
        "files",
        "dispositions",
        "versions",
        "merges",
        "outputs",
        "current",
    ] {
        assert!(tables.iter().any(|n| n == t), "no table {t}: {tables:?}");
    }
    let mut out = BTreeMap::new();
    for t in tables {
        let order = if t == "current" { "record_id" } else { "rowid" };
        let mut st = conn
            .prepare(&format!("SELECT * FROM {t} ORDER BY {order}"))
            .unwrap();
        let cols: Vec<String> = st.column_names().iter().map(|c| c.to_string()).collect();
        let keep: Vec<usize> = (0..cols.len())
            .filter(|&i| !VOLATILE.contains(&(t.as_str(), cols[i].as_str())))
            .collect();
        let rows = st
            .query_map([], |r| {
                keep.iter()
                    .map(|&i| {
                        Ok(match r.get_ref(i)? {
                            rusqlite::types::ValueRef::Null => "NULL".to_string(),
                            rusqlite::types::ValueRef::Integer(n) => format!("i:{n}"),
                            rusqlite::types::ValueRef::Real(f) => format!("f:{f}"),
                            rusqlite::types::ValueRef::Text(s) => {
                                format!("t:{}", String::from_utf8_lossy(s))
                            }
                            rusqlite::types::ValueRef::Blob(b) => format!("b:{b:?}"),
                        })
                    })
                    .collect::<Result<Vec<String>, _>>()
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        out.insert(t, rows);
    }
    out
}

/// Whether the ledger holds a committed run 1 (read-only: the kill's
/// leftovers are not touched before the rerun).
fn committed(ledger: &Path) -> Option<bool> {
    if !ledger.is_file() {
        return Some(false);
    }
    let conn =
        rusqlite::Connection::open_with_flags(ledger, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    let has_runs: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'runs'",
            [],
            |r| r.get(0),
        )
        .ok()?;
    if has_runs == 0 {
        return Some(false);
    }
    conn.query_row("SELECT COUNT(*) FROM runs WHERE seq = 1", [], |r| {
        r.get::<_, i64>(0)
    })
    .ok()
    .map(|n| n > 0)
}

/// When to kill a run.
#[derive(Debug, Clone, Copy)]
enum When {
    /// This long after the start.
    After(Duration),
    /// As soon as the staging folder is there.
    Staging,
    /// This long after `OUT/.pending-run-000001` appears.
    Pending(Duration),
}

/// Where a kill landed, seen from what it left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// No output folder yet: while planning or opening the ledger.
    Setup,
    /// The staging folder being written.
    Writing,
    /// Outputs complete as the pending folder; the ledger not committed.
    PendingUncommitted,
    /// The ledger committed; the folder not yet renamed.
    CommittedPending,
    /// The ledger committed and the folder in place, the process alive
    /// (or it had ended before the kill).
    Done,
    /// The output folder exists but holds nothing of the run yet.
    Started,
}

fn phase(dir: &Path, committed: bool) -> Phase {
    let out = dir.join("out");
    if !out.exists() {
        return Phase::Setup;
    }
    let names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let has = |n: &str| names.iter().any(|x| x == n);
    match (committed, has(PENDING), has(FINAL)) {
        (true, true, _) => Phase::CommittedPending,
        (true, false, _) => Phase::Done,
        (false, true, _) => Phase::PendingUncommitted,
        (false, false, _) if names.iter().any(|n| n.contains("casebridge-tmp")) => Phase::Writing,
        _ => Phase::Started,
    }
}

/// Polls `until` every half millisecond; false after `limit`.
fn wait_for(until: impl Fn() -> bool, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if until() {
            return true;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    false
}

fn staging_exists(out: &Path) -> bool {
    fs::read_dir(out).is_ok_and(|d| {
        d.flatten()
            .any(|e| e.file_name().to_string_lossy().contains("casebridge-tmp"))
    })
}

#[test]
fn a_run_killed_anywhere_and_run_again_ends_as_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    // ~1.5-2 s for a debug build: long enough for kills to spread over it,
    // short enough for 30-odd kills and reruns within the test's budget.
    let gen = tmp.path().join("gen");
    let g = generator()
        .arg("--out")
        .arg(&gen)
        .args(["--seed", "11", "--families", "20", "--case-notes", "800"])
        .args(["--error-rate", "0.05", "--duplicate-rate", "0.05"])
        .args(["--as-of", "2026-11-01"])
        .output()
        .unwrap();
    assert!(g.status.success(), "generator: {}", stderr(&g));
    let inputs = tmp.path().join("inputs");
    fs::create_dir_all(&inputs).unwrap();
    for e in fs::read_dir(&gen).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name != "ground_truth.csv" {
            fs::copy(&p, inputs.join(&name)).unwrap();
        }
    }

    // The uninterrupted run.
    let a = tmp.path().join("A");
    setup(&a, &inputs);
    let t0 = Instant::now();
    let clean = migrate_cmd(&a).output().unwrap();
    let clean_time = t0.elapsed();
    let clean_code = clean.status.code().unwrap();
    assert!(
        clean_code == 0 || clean_code == 1,
        "clean run: exit {clean_code}\n{}{}",
        stdout(&clean),
        stderr(&clean)
    );
    assert!(stdout(&clean).contains("recorded in"), "{}", stdout(&clean));
    let want_tree = tree(&a.join("out"));
    assert!(
        want_tree.contains_key("run-000001/"),
        "{:?}",
        want_tree.keys()
    );
    assert!(
        want_tree
            .keys()
            .all(|k| !k.contains("/.") && !k.starts_with('.')),
        "the clean run leaves hidden files: {:?}",
        want_tree.keys()
    );
    let want_ledger = dump(&a.join("ledger.sqlite"));
    assert_eq!(want_ledger["runs"].len(), 1);
    eprintln!("clean run: {clean_time:?}, exit {clean_code}");

    let mut points: Vec<When> = vec![When::After(Duration::ZERO)];
    for i in 1..=23u32 {
        points.push(When::After(clean_time * i / 24));
    }
    points.push(When::After(clean_time.mul_f64(0.99)));
    points.push(When::Staging);
    for ms in [0, 0, 1, 2, 5, 10, 20, 40] {
        points.push(When::Pending(Duration::from_millis(ms)));
    }

    let mut tally: BTreeMap<Phase, usize> = BTreeMap::new();
    let mut landed = Vec::new();
    for (i, when) in points.iter().enumerate() {
        let b = tmp.path().join(format!("B{i:02}"));
        setup(&b, &inputs);
        let out = b.join("out");
        let mut child = migrate_cmd(&b)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        match *when {
            When::After(d) => std::thread::sleep(d),
            When::Staging => {
                wait_for(|| staging_exists(&out), clean_time * 3);
            }
            When::Pending(d) => {
                wait_for(|| out.join(PENDING).exists(), clean_time * 3);
                std::thread::sleep(d);
            }
        }
        let ended_before = child.try_wait().unwrap().is_some();
        child.kill().unwrap();
        child.wait().unwrap();

        // Unreadable while a hot journal is there (a read-only connection
        // cannot roll it back): the killed run had not committed.
        let was_committed = committed(&b.join("ledger.sqlite")).unwrap_or(false);
        let ph = if ended_before {
            Phase::Done
        } else {
            phase(&b, was_committed)
        };
        *tally.entry(ph).or_default() += 1;
        landed.push((i, *when, ph));

        let again = migrate_cmd(&b).output().unwrap();
        let text = format!("{}{}", stdout(&again), stderr(&again));
        let code = again.status.code().unwrap();
        if was_committed {
            assert_eq!(code, 0, "B{i:02} ({when:?}, {ph:?}): rerun\n{text}");
            assert!(
                stdout(&again).contains("nothing changed"),
                "B{i:02} ({when:?}, {ph:?}): the run had committed\n{text}"
            );
        } else {
            assert_eq!(
                code, clean_code,
                "B{i:02} ({when:?}, {ph:?}): rerun\n{text}"
            );
            assert!(
                stdout(&again).contains("recorded in"),
                "B{i:02} ({when:?}, {ph:?}): rerun\n{text}"
            );
        }
        let third = migrate_cmd(&b).output().unwrap();
        assert_eq!(third.status.code(), Some(0), "B{i:02}: {}", stderr(&third));
        assert!(
            stdout(&third).contains("nothing changed"),
            "B{i:02} ({when:?}, {ph:?}): third run\n{}{}",
            stdout(&third),
            stderr(&third)
        );

        let got_tree = tree(&out);
        let got_names: Vec<&String> = got_tree.keys().collect();
        let want_names: Vec<&String> = want_tree.keys().collect();
        assert_eq!(
            got_names, want_names,
            "B{i:02} ({when:?}, {ph:?}): the output folder's entries"
        );
        for (name, want) in &want_tree {
            assert!(
                got_tree[name] == *want,
                "B{i:02} ({when:?}, {ph:?}): {name} differs from the uninterrupted run's"
            );
        }
        let got_ledger = dump(&b.join("ledger.sqlite"));
        for (t, rows) in &want_ledger {
            let got = &got_ledger[t];
            assert_eq!(
                got.len(),
                rows.len(),
                "B{i:02} ({when:?}, {ph:?}): rows of {t}"
            );
            if let Some(k) = (0..rows.len()).find(|&k| got[k] != rows[k]) {
                panic!(
                    "B{i:02} ({when:?}, {ph:?}): table {t}, row {k} differs:\n  want {:?}\n  got  {:?}",
                    rows[k], got[k]
                );
            }
        }
        assert_eq!(
            got_ledger.keys().collect::<Vec<_>>(),
            want_ledger.keys().collect::<Vec<_>>(),
            "B{i:02}: tables"
        );

        let verify = casebridge_in(&b)
            .args(["ledger", "verify", "--ledger", "ledger.sqlite"])
            .output()
            .unwrap();
        assert_eq!(
            verify.status.code(),
            Some(0),
            "B{i:02} ({when:?}, {ph:?}): ledger verify\n{}{}",
            stdout(&verify),
            stderr(&verify)
        );
        let rec = casebridge_in(&b)
            .args(["reconcile", "--ledger", "ledger.sqlite"])
            .output()
            .unwrap();
        assert_eq!(
            rec.status.code(),
            Some(0),
            "B{i:02} ({when:?}, {ph:?}): reconcile\n{}{}",
            stdout(&rec),
            stderr(&rec)
        );
        // Each folder holds a ~12 MB ledger: keep the disk use flat.
        fs::remove_dir_all(&b).unwrap();
    }

    for (i, when, ph) in &landed {
        eprintln!("B{i:02}: {when:?} -> {ph:?}");
    }
    eprintln!("kills by phase: {tally:?}");
    let before: usize = tally
        .iter()
        .filter(|(p, _)| {
            matches!(
                p,
                Phase::Setup | Phase::Started | Phase::Writing | Phase::PendingUncommitted
            )
        })
        .map(|(_, n)| n)
        .sum();
    let after: usize = tally
        .iter()
        .filter(|(p, _)| matches!(p, Phase::CommittedPending | Phase::Done))
        .map(|(_, n)| n)
        .sum();
    assert!(
        tally.get(&Phase::Writing).copied().unwrap_or(0) >= 5,
        "kills while the run writes its outputs: {tally:?}"
    );
    assert!(before >= 10, "kills before the commit: {tally:?}");
    if after == 0 {
        eprintln!("note: no kill landed after the ledger commit on this machine");
    }
}
