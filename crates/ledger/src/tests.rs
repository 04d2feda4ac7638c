#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn start() -> RunStart {
    RunStart {
        name: Some("t".into()),
        started: "2026-12-01T00:00:00Z".into(),
        tool: "casebridge test".into(),
        config_sha: None,
        config: None,
        mappings: "[]".into(),
        out_dir: "out".into(),
    }
}

fn file(n: u32) -> FileRow {
    FileRow {
        file: n,
        name: format!("f{n}.csv"),
        mapping: Some("m".into()),
        kind: Some("person".into()),
        size: 10,
        sha256: Some("ab".repeat(32)),
        outcome: "read".into(),
        reason: None,
        records: 2,
    }
}

/// A ledger with two committed runs.
fn two_runs(dir: &Path) -> PathBuf {
    let path = dir.join("l.sqlite");
    let mut ledger = Ledger::open(&path).unwrap();
    for run in 1..=2 {
        let mut t = ledger.begin(start()).unwrap();
        assert_eq!(t.seq(), run);
        t.file(file(0)).unwrap();
        for i in 0..2 {
            let id = format!("p{i}");
            t.disposition(0, "person", "{\"line\":2}", Some(&id), "valid", None)
                .unwrap();
            t.version(
                &id,
                "person",
                if run == 1 { "new" } else { "changed" },
                &format!("{run}{i}"),
                "[]",
                "m",
                "f0.csv",
                &id,
                "{}",
                run,
            )
            .unwrap();
        }
        ledger = t.commit("2026-12-01T00:00:01Z", "clean", "{}").unwrap().0;
    }
    path
}

fn raw(path: &Path, sql: &str) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(sql).unwrap();
}

#[test]
fn an_intact_ledger_verifies_and_balances() {
    let dir = tempfile::tempdir().unwrap();
    let path = two_runs(dir.path());
    let mut l = Ledger::open_read_only(&path).unwrap();
    assert_eq!(l.verify().unwrap(), vec![]);
    let r = l.reconcile(None).unwrap();
    assert_eq!(r.run.seq, 2);
    assert!(r.balances());
    assert_eq!(r.files[0].migrated, 2);
    let lin = l.lineage("p1").unwrap().unwrap();
    assert_eq!(lin.versions.len(), 2);
    assert_eq!(lin.reads.len(), 2);
    assert!(l.lineage("nobody").unwrap().is_none());
}

#[test]
fn the_ledger_refuses_updates_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let path = two_runs(dir.path());
    let c = rusqlite::Connection::open(&path).unwrap();
    assert!(c
        .execute_batch("UPDATE dispositions SET disposition = 'rejected'")
        .is_err());
    assert!(c.execute_batch("DELETE FROM runs").is_err());
}

#[test]
fn an_edited_row_breaks_its_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = two_runs(dir.path());
    raw(&path, "DROP TRIGGER dispositions_no_update; UPDATE dispositions SET disposition = 'rejected' WHERE rowid = 1;");
    let p = Ledger::open_read_only(&path).unwrap().verify().unwrap();
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].run, Some(1));
}

#[test]
fn a_deleted_row_and_a_deleted_run_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = two_runs(dir.path());
    raw(
        &path,
        "DROP TRIGGER versions_no_delete; DELETE FROM versions WHERE rowid = 4;",
    );
    let p = Ledger::open_read_only(&path).unwrap().verify().unwrap();
    assert!(p.iter().any(|p| p.run == Some(2)), "{p:?}");
    raw(
        &path,
        "DROP TRIGGER runs_no_delete; DELETE FROM runs WHERE seq = 1;",
    );
    let p = Ledger::open_read_only(&path).unwrap().verify().unwrap();
    assert!(
        p.iter().any(|p| p.what.contains("run 1 is missing")),
        "{p:?}"
    );
}

#[test]
fn reordered_rows_break_their_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = two_runs(dir.path());
    // Swap two rows' contents: the same rows, another order.
    raw(
        &path,
        "DROP TRIGGER dispositions_no_update;
         UPDATE dispositions SET record_id = 'tmp' WHERE rowid = 1;
         UPDATE dispositions SET record_id = 'p0' WHERE rowid = 2;
         UPDATE dispositions SET record_id = 'p1' WHERE rowid = 1;",
    );
    let p = Ledger::open_read_only(&path).unwrap().verify().unwrap();
    assert_eq!(p.iter().map(|p| p.run).collect::<Vec<_>>(), vec![Some(1)]);
}

/// The canonical store is checked against each record's last version.
#[test]
fn a_store_out_of_step_with_the_versions_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = two_runs(dir.path());
    let store = |p: &[Problem]| -> Vec<String> {
        p.iter()
            .filter(|p| p.what.contains("canonical store"))
            .map(|p| p.what.clone())
            .collect()
    };
    // p0 set back to its first version: a version, but not the last.
    raw(
        &path,
        "UPDATE current SET version = 1, content_sha = '10' WHERE record_id = 'p0';",
    );
    let p = Ledger::open_read_only(&path).unwrap().verify().unwrap();
    assert_eq!(
        store(&p),
        ["the canonical store is out of step with the ledger: 1 record(s) differ from their latest version, 0 version(s) have no record in the store"],
        "{p:?}"
    );
    // p1's row gone, and a row no version made.
    raw(
        &path,
        "DELETE FROM current WHERE record_id = 'p1';
         INSERT INTO current SELECT 'p9', kind, scope, file, 'p9', 1, 'ff', run, 0, run, record FROM current WHERE record_id = 'p0';",
    );
    let p = Ledger::open_read_only(&path).unwrap().verify().unwrap();
    let s = store(&p);
    assert_eq!(s.len(), 1, "{p:?}");
    assert!(s[0].contains(": 2 record(s) differ"), "{s:?}");
    assert!(s[0].contains(", 1 version(s) have no record"), "{s:?}");
    assert!(
        p.iter().all(|p| p.run.is_none()),
        "the chain is intact: {p:?}"
    );
}

#[test]
fn a_rolled_back_run_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = two_runs(dir.path());
    let ledger = Ledger::open(&path).unwrap();
    let mut t = ledger.begin(start()).unwrap();
    t.file(file(0)).unwrap();
    let mut ledger = t.rollback().unwrap();
    assert_eq!(ledger.next_seq().unwrap(), 3);
    assert_eq!(ledger.verify().unwrap(), vec![]);
}

#[test]
fn unchanged_files_are_known_by_name_and_hash() {
    let dir = tempfile::tempdir().unwrap();
    let path = two_runs(dir.path());
    let mut l = Ledger::open(&path).unwrap();
    assert_eq!(
        l.unchanged_since("f0.csv", &"ab".repeat(32)).unwrap(),
        Some(2)
    );
    assert_eq!(l.unchanged_since("f0.csv", &"cd".repeat(32)).unwrap(), None);
    assert_eq!(
        l.unchanged_since("other.csv", &"ab".repeat(32)).unwrap(),
        None
    );
}

#[test]
fn a_second_lock_says_who_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite");
    let held = Lock::acquire(&path, "pid 1 since 2026-12-01T00:00:00Z").unwrap();
    match Lock::acquire(&path, "pid 2") {
        Err(Error::Locked { holder, .. }) => assert!(holder.0.contains("pid 1"), "{holder}"),
        other => panic!("{other:?}"),
    }
    drop(held);
    Lock::acquire(&path, "pid 2").unwrap();
}

fn indexes(path: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut s = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap();
    s.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn absence_is_found_from_the_runs_dispositions_and_skipped_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = two_runs(dir.path());
    let ledger = Ledger::open(&path).unwrap();
    let mut t = ledger.begin(start()).unwrap();
    // p0 is named by a disposition tonight (unchanged); p1 is not.
    t.disposition(
        0,
        "person",
        "{\"line\":2}",
        Some("p0"),
        "skipped",
        Some("unchanged since run 2"),
    )
    .unwrap();
    assert_eq!(t.absent("m", &[]).unwrap(), ["p1"]);
    // Its file was not read again: nothing of it is absent.
    assert!(t.absent("m", &["f0.csv".into()]).unwrap().is_empty());
    assert!(t.absent("other", &[]).unwrap().is_empty());
    let p1 = t.stored("p1").unwrap().unwrap();
    assert_eq!((p1.kind.as_str(), p1.file.as_str()), ("person", "f0.csv"));
    t.withdraw(&p1, "absent").unwrap();
    // Withdrawn: no longer absent, and its row is the run's.
    assert!(t.absent("m", &[]).unwrap().is_empty());
    assert!(t.current("p1").unwrap().unwrap().withdrawn);
}

#[test]
fn a_ledger_of_an_earlier_version_gets_the_indexes_absence_needs() {
    let dir = tempfile::tempdir().unwrap();
    let path = two_runs(dir.path());
    raw(
        &path,
        "DROP INDEX dispositions_run_record; DROP INDEX current_present;
         CREATE INDEX dispositions_record ON dispositions (record_id);
         CREATE INDEX current_scope ON current (scope, seen);",
    );
    drop(Ledger::open(&path).unwrap());
    let names = indexes(&path);
    assert!(
        names.contains(&"dispositions_run_record".to_string()),
        "{names:?}"
    );
    assert!(names.contains(&"current_present".to_string()), "{names:?}");
    assert!(
        !names.contains(&"dispositions_record".to_string()),
        "{names:?}"
    );
    assert!(!names.contains(&"current_scope".to_string()), "{names:?}");
    let mut l = Ledger::open_read_only(&path).unwrap();
    assert_eq!(l.verify().unwrap(), vec![]);
    assert_eq!(l.lineage("p1").unwrap().unwrap().versions.len(), 2);
}

#[test]
fn a_new_version_of_a_record_the_store_holds_is_refused_and_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = two_runs(dir.path());
    let mut t = Ledger::open(&path).unwrap().begin(start()).unwrap();
    let new = |t: &mut RunTxn, id: &str| {
        t.version(id, "person", "new", "cd", "[]", "m", "f0.csv", id, "{}", 1)
            .unwrap()
    };
    assert!(!new(&mut t, "p0"), "p0 is in the store");
    assert!(new(&mut t, "p9"));
    assert!(!new(&mut t, "p9"), "written once tonight");
    let (_, _) = t.commit("2026-12-01T00:00:02Z", "clean", "{}").unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = c
        .query_row("SELECT COUNT(*) FROM versions WHERE run = 3", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 1, "one version added");
    let mut l = Ledger::open_read_only(&path).unwrap();
    assert_eq!(l.verify().unwrap(), vec![]);
}

/// The indexes the run's own connection sees.
fn txn_indexes(t: &mut RunTxn) -> Vec<String> {
    let mut names = Vec::new();
    t.ledger
        .db
        .query(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'",
            &[],
            &mut |r| {
                names.push(r[0].str().to_string());
                Ok(())
            },
        )
        .unwrap();
    names
}

#[test]
fn a_first_run_makes_the_indexes_by_record_at_its_end_and_later_runs_keep_them() {
    let by_record = ["dispositions_run_record", "versions_record"];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite");
    let has_all = |names: &[String]| by_record.iter().all(|i| names.iter().any(|n| n == i));
    let has_none = |names: &[String]| !by_record.iter().any(|i| names.iter().any(|n| n == i));

    // A first run abandoned (rolled back, or its process killed: the
    // connection closed mid-transaction) leaves the indexes as they were.
    let mut t = Ledger::open(&path).unwrap().begin(start()).unwrap();
    assert!(has_none(&txn_indexes(&mut t)));
    t.rollback().unwrap();
    assert!(has_all(&indexes(&path)));
    let mut t = Ledger::open(&path).unwrap().begin(start()).unwrap();
    t.disposition(0, "person", "{}", Some("p0"), "valid", None)
        .unwrap();
    drop(t);
    assert!(has_all(&indexes(&path)));

    // Committed: made, and used at once by the absence query.
    let mut t = Ledger::open(&path).unwrap().begin(start()).unwrap();
    assert_eq!(t.seq(), 1);
    t.file(file(0)).unwrap();
    t.disposition(0, "person", "{}", Some("p0"), "valid", None)
        .unwrap();
    assert!(t
        .version("p0", "person", "new", "01", "[]", "m", "f0.csv", "p0", "{}", 1)
        .unwrap());
    assert!(has_none(&txn_indexes(&mut t)));
    assert!(t.absent("m", &[]).unwrap().is_empty());
    assert!(has_all(&txn_indexes(&mut t)));
    t.commit("2026-12-01T00:00:01Z", "clean", "{}").unwrap();
    assert!(has_all(&indexes(&path)));

    // A later run does not drop them.
    let mut t = Ledger::open(&path).unwrap().begin(start()).unwrap();
    assert_eq!(t.seq(), 2);
    assert!(has_all(&txn_indexes(&mut t)));
    t.commit("2026-12-01T00:00:02Z", "clean", "{}").unwrap();
    let mut l = Ledger::open_read_only(&path).unwrap();
    assert_eq!(l.verify().unwrap(), vec![]);
    assert_eq!(l.lineage("p0").unwrap().unwrap().versions.len(), 1);
}

#[test]
fn a_new_ledger_has_larger_pages_and_an_existing_one_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let page = |path: &Path| -> i64 {
        rusqlite::Connection::open(path)
            .unwrap()
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap()
    };
    let new = two_runs(dir.path());
    assert_eq!(page(&new), backend::PAGE_SIZE);
    let old = dir.path().join("old.sqlite");
    raw(
        &old,
        "PRAGMA page_size = 4096; CREATE TABLE runs (seq INTEGER);",
    );
    drop(Ledger::open(&old).unwrap());
    assert_eq!(page(&old), 4096);
}

// `.cargo/config.toml` builds SQLite without its memory statistics (a
// global mutex on each of its allocations): a first run's rows cost less.
#[test]
fn sqlite_is_built_without_its_memory_statistics() {
    let c = rusqlite::Connection::open_in_memory().unwrap();
    let mut s = c.prepare("PRAGMA compile_options").unwrap();
    let options: Vec<String> = s
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
        "{options:?}"
    );
}
