#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `casebridge migrate` end to end: nightly semantics (nothing twice, one
//! change, a withdrawal), the lock, dry runs, bad run files, and the
//! ledger's tamper checks (`ledger verify`), on the generator's data.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{casebridge, generator, root};

/// A migration workspace: `inputs/` from the generator, `run.toml`, and
/// the output folder and ledger beside them.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new(seed: &str, extra_toml: &str) -> Site {
        Site::generated(seed, &[], extra_toml)
    }

    fn generated(seed: &str, gen: &[&str], extra_toml: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let out = generator()
            .arg("--out")
            .arg(dir.path().join("inputs"))
            .args(["--seed", seed, "--families", "4", "--as-of", "2026-11-01"])
            .args(gen)
            .args(["--only", "DM_PERSONS,CASE_NOTES,DM_PERSONAL_RELATIONSHIPS"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = std::fs::remove_file(dir.path().join("inputs/ground_truth.csv"));
        let site = Site { dir };
        site.config("jsonl", extra_toml);
        site
    }

    fn config(&self, to: &str, extra: &str) {
        let text = format!(
            "[run]\nname = \"nightly\"\nas_of = \"2026-11-01\"\n\n[inputs]\npaths = [\"inputs\"]\nmappings = {:?}\n{extra}\n\n[output]\ndir = \"out\"\nto = \"{to}\"\n",
            root().join("mappings/mosaic").display().to_string()
        );
        std::fs::write(self.path("run.toml"), text).unwrap();
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// `run.toml` as `base` (its text as written first) with a `[ledger]`
    /// section of `lines`.
    fn with_ledger(&self, base: &str, lines: &str) {
        std::fs::write(
            self.path("run.toml"),
            format!("{base}\n[ledger]\n{lines}\n"),
        )
        .unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut c = casebridge();
        c.current_dir(self.dir.path()).arg("--no-audit").args(args);
        c.output().unwrap()
    }

    fn migrate(&self) -> (i32, String) {
        let out = self.run(&["-q", "migrate", "--config", "run.toml"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap(), text)
    }

    fn ledger_args(&self) -> [String; 2] {
        [
            "--ledger".into(),
            self.path("casebridge-ledger.sqlite").display().to_string(),
        ]
    }

    fn verify(&self) -> (i32, String) {
        let l = self.ledger_args();
        let out = self.run(&["ledger", "verify", &l[0], &l[1]]);
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    fn reconcile(&self, run: &str) -> (i32, serde_json::Value) {
        let l = self.ledger_args();
        let out = self.run(&["reconcile", run, &l[0], &l[1], "--format", "json"]);
        let json = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code().unwrap(), json)
    }

    /// `changes.csv` of a run: (id, kind, change).
    fn changes(&self, run: &str) -> Vec<(String, String, String)> {
        let text = std::fs::read_to_string(self.path(&format!("out/{run}/changes.csv"))).unwrap();
        text.lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[0].to_string(), f[1].to_string(), f[2].to_string())
            })
            .collect()
    }

    fn sql(&self, sql: &str) {
        let c = rusqlite::Connection::open(self.path("casebridge-ledger.sqlite")).unwrap();
        c.execute_batch(sql).unwrap();
    }

    fn count(&self, sql: &str) -> i64 {
        let c = rusqlite::Connection::open(self.path("casebridge-ledger.sqlite")).unwrap();
        c.query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

/// The lines of a Windows-1252 CSV as bytes (CRLF kept).
fn lines(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    bytes
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// Edits one field of data line `row` (0 is the header) of a CSV whose
/// fields hold no commas (the persons table), by its column name.
fn edit_field(path: &Path, row: usize, column: &str, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut ls = lines(path);
    let header: Vec<String> = String::from_utf8_lossy(&ls[0])
        .trim_end()
        .split(',')
        .map(str::to_string)
        .collect();
    let col = header.iter().position(|h| h == column).unwrap();
    let mut fields: Vec<Vec<u8>> = ls[row].split(|b| *b == b',').map(<[u8]>::to_vec).collect();
    edit(&mut fields[col]);
    ls[row] = fields.join(&b","[..]);
    write_lines(path, &ls);
}

fn write_lines(path: &Path, lines: &[Vec<u8>]) {
    std::fs::write(path, lines.concat()).unwrap();
}

fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_same_inputs_twice_write_nothing_new_and_say_so() {
    let site = Site::new("11", "");
    let (code, text) = site.migrate();
    assert_eq!(code, 0, "{text}");
    assert!(site.path("out/run-000001/person.jsonl").is_file(), "{text}");
    let first = site.changes("run-000001");
    assert!(first.iter().all(|(_, _, c)| c == "new"));
    assert!(!first.is_empty());

    let (code, text) = site.migrate();
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("nothing changed"), "{text}");
    assert!(!site.path("out/run-000002").exists());
    assert_eq!(site.count("SELECT COUNT(*) FROM runs"), 1);
    assert_eq!(site.verify().0, 0);
    let (code, rec) = site.reconcile("1");
    assert_eq!(code, 0);
    assert_eq!(rec["changes"]["new"], first.len());
}

#[test]
fn one_changed_row_is_written_as_changed_and_nothing_else() {
    let site = Site::new("12", "");
    assert_eq!(site.migrate().0, 0);
    let persons = site.path("inputs/DM_PERSONS.csv");
    // Change one person's last name: a letter appended.
    edit_field(&persons, 3, "LAST_NAME", |v| v.extend_from_slice(b"x"));

    let (code, text) = site.migrate();
    assert_eq!(code, 0, "{text}");
    let changes = site.changes("run-000002");
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].1, "person");
    assert_eq!(changes[0].2, "changed");
    let written = jsonl(&site.path("out/run-000002/person.jsonl"));
    assert_eq!(written.len(), 1);
    assert_eq!(written[0]["id"], changes[0].0.as_str());
    assert!(written[0]["last_name"].as_str().unwrap().ends_with('x'));
    assert!(!site.path("out/run-000002/case_note.jsonl").exists());

    // Accounting: the persons file read again, one migrated, the rest
    // skipped as unchanged; the other files skipped whole.
    let (code, rec) = site.reconcile("run-000002");
    assert_eq!(code, 0);
    let files = rec["files"].as_array().unwrap();
    let p = files
        .iter()
        .find(|f| f["name"].as_str().unwrap().ends_with("DM_PERSONS.csv"))
        .unwrap();
    assert_eq!(p["migrated"], 1);
    assert_eq!(
        p["skipped"].as_u64().unwrap() + 1,
        p["read"].as_u64().unwrap()
    );
    let notes = files
        .iter()
        .find(|f| f["name"].as_str().unwrap().ends_with("CASE_NOTES.csv"))
        .unwrap();
    assert_eq!(notes["outcome"], "skipped");
    assert!(notes["reason"]
        .as_str()
        .unwrap()
        .contains("unchanged since run 1"));

    // Its lineage: two versions, both runs.
    let l = site.ledger_args();
    let out = site.run(&[
        "provenance",
        &changes[0].0,
        &l[0],
        &l[1],
        "--format",
        "json",
    ]);
    assert!(out.status.success());
    let lin: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let versions = lin["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["change"], "new");
    assert_eq!(versions[1]["change"], "changed");
    assert_eq!(site.verify().0, 0);
}

#[test]
fn a_row_removed_from_a_full_extract_is_withdrawn_and_restored_when_back() {
    let site = Site::new("13", "");
    assert_eq!(site.migrate().0, 0);
    let persons = site.path("inputs/DM_PERSONS.csv");
    let original = lines(&persons);
    let mut ls = original.clone();
    ls.remove(2);
    write_lines(&persons, &ls);

    let (code, text) = site.migrate();
    assert!(code <= 1, "{text}");
    assert!(text.contains("migrate.withdrawn"), "{text}");
    let changes = site.changes("run-000002");
    assert_eq!(
        changes.iter().map(|c| c.2.as_str()).collect::<Vec<_>>(),
        ["withdrawn"],
        "{changes:?}"
    );
    let gone = jsonl(&site.path("out/run-000002/withdrawn/person.jsonl"));
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0]["id"], changes[0].0.as_str());
    assert_eq!(site.verify().0, 0);

    // Back tonight: restored.
    write_lines(&persons, &original);
    let (_, text) = site.migrate();
    let changes3 = site.changes("run-000003");
    assert_eq!(changes3.len(), 1, "{text}");
    assert_eq!(changes3[0].0, changes[0].0);
    assert_eq!(changes3[0].2, "restored");
}

#[test]
fn an_unchanged_file_keeps_its_records_while_a_changed_file_of_its_source_withdraws_one() {
    // One source (the persons mapping) in two files: tonight the first is
    // unchanged (not read again), the second lost a row.
    let site = Site::new("16", "");
    let persons = site.path("inputs/DM_PERSONS.csv");
    let all = lines(&persons);
    let half = all.len() / 2;
    assert!(
        half >= 3,
        "the generator made too few persons: {}",
        all.len()
    );
    let second: Vec<Vec<u8>> = std::iter::once(all[0].clone())
        .chain(all[half..].iter().cloned())
        .collect();
    write_lines(&persons, &all[..half]);
    write_lines(&site.path("inputs/DM_PERSONS_B.csv"), &second);
    let (code, text) = site.migrate();
    assert_eq!(code, 0, "{text}");
    let stored = site.count("SELECT COUNT(*) FROM current WHERE kind = 'person' AND withdrawn = 0");
    assert_eq!(stored as usize, all.len() - 1, "every person in the store");

    let mut fewer = second.clone();
    let gone = fewer.remove(1);
    write_lines(&site.path("inputs/DM_PERSONS_B.csv"), &fewer);
    let (code, text) = site.migrate();
    assert!(code <= 1, "{text}");
    assert!(text.contains("unchanged since run 1"), "{text}");
    let changes = site.changes("run-000002");
    assert_eq!(
        changes.iter().map(|c| c.2.as_str()).collect::<Vec<_>>(),
        ["withdrawn"],
        "only the removed row is withdrawn: {changes:?}"
    );
    let withdrawn = jsonl(&site.path("out/run-000002/withdrawn/person.jsonl"));
    let key = String::from_utf8_lossy(&gone)
        .split(',')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(withdrawn.len(), 1);
    assert!(
        withdrawn[0].to_string().contains(&format!("\"{key}\"")),
        "the removed row's person ({key}) is the one withdrawn: {}",
        withdrawn[0]
    );
    // The unchanged records are not rewritten in the store: still the
    // first run's rows.
    assert_eq!(
        site.count("SELECT COUNT(*) FROM current WHERE kind = 'person' AND run = 1"),
        stored - 1
    );
    let (code, _) = site.reconcile("2");
    assert_eq!(code, 0, "balances");
    assert_eq!(site.verify().0, 0);

    // The next night, nothing changed: nothing more is withdrawn.
    let (code, text) = site.migrate();
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("nothing changed"), "{text}");
    assert!(!site.path("out/run-000003").exists());
}

/// A person file unchanged since the last run is not read again, yet its
/// persons are known to the reference checks (streamed from the store, and
/// here past a key budget of 0, so from the temporary database).
#[test]
fn references_are_checked_against_the_persons_of_an_unchanged_file() {
    let site = Site::new("23", "\n[limits]\nkey_memory = 0");
    let (code, text) = site.migrate();
    assert_eq!(code, 0, "{text}");
    let rels = site.path("inputs/DM_PERSONAL_RELATIONSHIPS.csv");
    let rows = lines(&rels).len() - 1;
    assert!(rows >= 3, "too few relationships: {rows}");
    edit_field(&rels, 1, "OTHER_PERSON_ID", |v| *v = b"999999999".to_vec());
    let (code, text) = site.migrate();
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("unchanged since run 1"), "{text}");
    assert!(!text.contains("ref.not-checked"), "{text}");
    let missing = text
        .lines()
        .find(|l| l.trim_start().starts_with("ref.person-missing"))
        .unwrap_or_else(|| panic!("no ref.person-missing: {text}"));
    assert_eq!(
        missing.split_whitespace().nth(1),
        Some("1"),
        "exactly the edited row, of {rows}: {missing}"
    );
}

/// Rows of a ledger's tables that the store's answers decide, in order.
fn decided(site: &Site) -> Vec<Vec<String>> {
    let c = rusqlite::Connection::open(site.path("casebridge-ledger.sqlite")).unwrap();
    let mut out = Vec::new();
    for sql in [
        "SELECT run, file, locator, COALESCE(record_id, ''), disposition, COALESCE(detail, '') FROM dispositions ORDER BY rowid",
        "SELECT run, record_id, version, change, content_sha FROM versions ORDER BY rowid",
        "SELECT record_id, version, content_sha, run, withdrawn FROM current ORDER BY record_id",
    ] {
        let mut st = c.prepare(sql).unwrap();
        let n = st.column_count();
        let rows = st
            .query_map([], |r| {
                (0..n)
                    .map(|i| r.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}")))
                    .collect::<Result<Vec<String>, _>>()
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

#[test]
fn nights_end_alike_whether_the_store_is_held_in_memory_or_asked_record_by_record() {
    // The same nights on two sites of one seed: one with the store held in
    // memory (the default), one with `[ledger] memory = 0`.
    let held = Site::new("17", "");
    let asked = Site::new("17", "");
    let base = std::fs::read_to_string(asked.path("run.toml")).unwrap();
    asked.with_ledger(&base, "memory = 0");
    let persons = |s: &Site| s.path("inputs/DM_PERSONS.csv");
    let original = lines(&persons(&held));
    let nights: [&dyn Fn(&Site); 4] = [
        &|_| {},
        &|s| edit_field(&persons(s), 3, "LAST_NAME", |v| v.extend_from_slice(b"x")),
        &|s| {
            let mut ls = lines(&persons(s));
            ls.remove(2);
            write_lines(&persons(s), &ls);
        },
        &|s| {
            write_lines(&persons(s), &original);
            edit_field(&persons(s), 4, "DATE_OF_BIRTH", |v| {
                *v = b"31/02/2019".to_vec()
            });
        },
    ];
    for (n, night) in nights.iter().enumerate() {
        let run = format!("run-{:06}", n + 1);
        for s in [&held, &asked] {
            night(s);
            let (code, text) = s.migrate();
            assert!(code <= 1, "night {n}: {text}");
        }
        assert_eq!(held.changes(&run), asked.changes(&run), "night {n}");
        assert!(
            !held.changes(&run).is_empty(),
            "night {n} changed something"
        );
        // The run files differ (and so the runs' digests): the accounts
        // do not.
        let (h, a) = (held.reconcile(&run), asked.reconcile(&run));
        assert_eq!(
            (h.0, &h.1["files"], &h.1["changes"]),
            (a.0, &a.1["files"], &a.1["changes"]),
            "night {n}"
        );
    }
    let changes: Vec<String> = (2..=4)
        .flat_map(|n| held.changes(&format!("run-{n:06}")))
        .map(|c| c.2)
        .collect();
    assert_eq!(
        changes,
        ["changed", "withdrawn", "restored", "changed"],
        "{changes:?}"
    );
    assert_eq!(decided(&held), decided(&asked));
    assert_eq!(held.verify().0, 0);
    assert_eq!(asked.verify().0, 0);
    // A budget that is not a size is refused with its line.
    asked.with_ledger(&base, "memory = \"lots\"");
    let (code, text) = asked.migrate();
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("ledger.memory must be a size"), "{text}");
}

#[test]
fn a_delta_extract_withdraws_nothing() {
    let site = Site::new("14", "extract = \"delta\"");
    assert_eq!(site.migrate().0, 0);
    let persons = site.path("inputs/DM_PERSONS.csv");
    let mut ls = lines(&persons);
    ls.remove(2);
    write_lines(&persons, &ls);
    let (code, text) = site.migrate();
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("migrate.withdrawn"), "{text}");
    assert!(site.changes("run-000002").is_empty());
}

#[test]
fn a_record_faulty_tonight_is_rejected_not_withdrawn() {
    let site = Site::new("15", "");
    assert_eq!(site.migrate().0, 0);
    let persons = site.path("inputs/DM_PERSONS.csv");
    edit_field(&persons, 2, "DATE_OF_BIRTH", |v| {
        *v = b"31/02/2019".to_vec()
    });
    let (code, text) = site.migrate();
    assert_eq!(code, 1, "{text}");
    assert!(!text.contains("migrate.withdrawn"), "{text}");
    let (code, rec) = site.reconcile("2");
    assert_eq!(code, 0, "balances");
    let p = rec["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"].as_str().unwrap().ends_with("DM_PERSONS.csv"))
        .unwrap()
        .clone();
    assert_eq!(p["rejected"], 1);
    assert_eq!(p["migrated"], 0);
}

#[test]
fn a_dry_run_writes_and_records_nothing() {
    let site = Site::new("16", "");
    let out = site.run(&["-q", "migrate", "--config", "run.toml", "--dry-run"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("would write"), "{text}");
    assert!(!site.path("out/run-000001").exists());
    assert_eq!(site.count("SELECT COUNT(*) FROM runs"), 0);
    let left: Vec<_> = std::fs::read_dir(site.path("out")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    // The real run afterwards is run 1.
    assert_eq!(site.migrate().0, 0);
    assert!(site.path("out/run-000001").is_dir());
}

#[test]
fn a_second_run_on_a_held_ledger_says_who_holds_it() {
    let site = Site::new("17", "");
    let _held = casebridge_ledger::Lock::acquire(
        &site.path("casebridge-ledger.sqlite"),
        "pid 4242 on test-host, since 2026-12-01T02:00:00Z",
    )
    .unwrap();
    let (code, text) = site.migrate();
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("in use by another run"), "{text}");
    assert!(
        text.contains("pid 4242 on test-host, since 2026-12-01T02:00:00Z"),
        "{text}"
    );
    assert!(!site.path("out/run-000001").exists());
}

#[test]
fn migrate_writes_a_mapping_sets_tables() {
    let site = Site::new("18", "");
    site.config("mosaic", "");
    let (code, text) = site.migrate();
    assert_eq!(code, 0, "{text}");
    let persons = std::fs::read(site.path("out/run-000001/DM_PERSONS.csv")).unwrap();
    let original = std::fs::read(site.path("inputs/DM_PERSONS.csv")).unwrap();
    assert_eq!(
        persons.iter().filter(|b| **b == b'\n').count(),
        original.iter().filter(|b| **b == b'\n').count()
    );
}

#[test]
fn bad_run_files_are_refused_with_their_reason() {
    let site = Site::new("19", "");
    // No [output].
    std::fs::write(
        site.path("bad.toml"),
        "[inputs]\npaths = [\"inputs\"]\nmappings = \"nowhere\"\n",
    )
    .unwrap();
    let out = site.run(&["migrate", "--config", "bad.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no [output]"));
    // An unknown output format, with its line.
    std::fs::write(
        site.path("bad.toml"),
        "[inputs]\npaths = [\"inputs\"]\nmappings = \"m\"\n[output]\ndir = \"o\"\nto = \"mosaic\"\nformat = \"xls\"\n",
    )
    .unwrap();
    let out = site.run(&["migrate", "--config", "bad.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(":7") && err.contains("xls"), "{err}");
    // The output folder is the inputs folder.
    std::fs::write(
        site.path("bad.toml"),
        format!(
            "[inputs]\npaths = [\"inputs\"]\nmappings = {:?}\n[output]\ndir = \"inputs\"\nto = \"jsonl\"\n",
            root().join("mappings/mosaic").display().to_string()
        ),
    )
    .unwrap();
    let out = site.run(&["migrate", "--config", "bad.toml"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Reconcile on a ledger that does not exist.
    let out = site.run(&["reconcile", "--ledger", "nope.sqlite"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no ledger here"));
}

#[test]
fn an_empty_input_file_is_reported_and_the_rest_migrated() {
    let site = Site::new("20", "");
    std::fs::write(site.path("inputs/DM_PERSONAL_RELATIONSHIPS.csv"), b"").unwrap();
    let (code, text) = site.migrate();
    assert!(code >= 1, "{text}");
    assert!(site.path("out/run-000001/person.jsonl").is_file(), "{text}");
    let (code, _) = site.reconcile("1");
    assert_eq!(code, 0);
}

/// A ledger with two runs (the second after one changed row).
fn two_runs() -> Site {
    let site = Site::new("21", "");
    assert_eq!(site.migrate().0, 0);
    let persons = site.path("inputs/DM_PERSONS.csv");
    let mut ls = lines(&persons);
    ls.remove(3);
    write_lines(&persons, &ls);
    assert!(site.migrate().0 <= 1);
    assert_eq!(site.count("SELECT COUNT(*) FROM runs"), 2);
    assert_eq!(site.verify().0, 0);
    site
}

#[test]
fn ledger_verify_finds_an_edited_row() {
    let site = two_runs();
    site.sql(
        "DROP TRIGGER dispositions_no_update;
         UPDATE dispositions SET disposition = 'rejected' WHERE rowid = (SELECT MIN(rowid) FROM dispositions);",
    );
    let (code, text) = site.verify();
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("run 1:"), "{text}");
    assert!(!text.contains("run 2:"), "{text}");
}

#[test]
fn ledger_verify_finds_a_deleted_row() {
    let site = two_runs();
    site.sql(
        "DROP TRIGGER versions_no_delete;
         DELETE FROM versions WHERE rowid = (SELECT MAX(rowid) FROM versions);",
    );
    let (code, text) = site.verify();
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("run 2:"), "{text}");
}

#[test]
fn ledger_verify_finds_reordered_rows() {
    let site = two_runs();
    // The same two rows, swapped.
    site.sql(
        "DROP TRIGGER files_no_update;
         CREATE TEMP TABLE a AS SELECT * FROM files WHERE run = 1 ORDER BY rowid LIMIT 2;
         UPDATE files SET name = (SELECT name FROM a ORDER BY rowid DESC LIMIT 1),
                          sha256 = (SELECT sha256 FROM a ORDER BY rowid DESC LIMIT 1)
           WHERE rowid = (SELECT MIN(rowid) FROM files WHERE run = 1);
         UPDATE files SET name = (SELECT name FROM a ORDER BY rowid LIMIT 1),
                          sha256 = (SELECT sha256 FROM a ORDER BY rowid LIMIT 1)
           WHERE rowid = (SELECT MIN(rowid) + 1 FROM files WHERE run = 1);",
    );
    let (code, text) = site.verify();
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("run 1:"), "{text}");
}

#[test]
fn ledger_verify_finds_a_deleted_run_and_an_edited_output() {
    let site = two_runs();
    let out = site.path("out/run-000001/person.jsonl");
    let mut bytes = std::fs::read(&out).unwrap();
    bytes.extend_from_slice(b"\n");
    std::fs::write(&out, bytes).unwrap();
    let (code, text) = site.verify();
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("person.jsonl") && text.contains("changed after run 1"),
        "{text}"
    );

    site.sql("DROP TRIGGER runs_no_delete; DELETE FROM runs WHERE seq = 1;");
    let (code, text) = site.verify();
    assert_eq!(code, 1);
    assert!(text.contains("run 1 is missing"), "{text}");
}

#[test]
fn provenance_points_at_the_source_rows_and_prov_json_is_linked() {
    let site = Site::new("22", "");
    assert_eq!(site.migrate().0, 0);
    let notes = jsonl(&site.path("out/run-000001/case_note.jsonl"));
    let id = notes[0]["id"].as_str().unwrap().to_string();
    let line = notes[0]["provenance"][0]["locator"]["line"]
        .as_u64()
        .unwrap();
    let l = site.ledger_args();
    let out = site.run(&["provenance", &id, &l[0], &l[1]]);
    assert!(out.status.success());
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(human.contains(&format!("line {line}")), "{human}");
    assert!(human.contains("CASE_NOTES.csv"), "{human}");

    let out = site.run(&["provenance", &id, &l[0], &l[1], "--format", "prov-json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entities = doc["entity"].as_object().unwrap();
    let activities = doc["activity"].as_object().unwrap();
    // Every relation names entities and activities the document holds.
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for rel in ["wasGeneratedBy", "wasDerivedFrom", "used"] {
        for (_, r) in doc[rel].as_object().unwrap() {
            for (k, v) in r.as_object().unwrap() {
                let v = v.as_str().unwrap_or("");
                match k.as_str() {
                    "prov:entity" | "prov:generatedEntity" | "prov:usedEntity" => {
                        assert!(entities.contains_key(v), "{rel} names {v}");
                        *names.entry(rel).or_default() += 1;
                    }
                    "prov:activity" => assert!(activities.contains_key(v), "{rel} names {v}"),
                    _ => {}
                }
            }
        }
    }
    assert!(names.len() == 3, "{names:?}");

    let out = site.run(&["provenance", "case_note:nope", &l[0], &l[1]]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn with_dedup_copies_are_merged_into_survivors_with_their_evidence() {
    let dedup = root().join("mappings/dedup.toml");
    let site = Site::generated(
        "23",
        &["--duplicate-rate", "0.4"],
        &format!("\n[dedup]\nconfig = {:?}\n", dedup.display().to_string()),
    );
    let (code, text) = site.migrate();
    assert!(code <= 1, "{text}");
    let (code, rec) = site.reconcile("1");
    assert_eq!(code, 0, "{rec}");
    let merged: u64 = rec["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["merged"].as_u64().unwrap())
        .sum();
    assert!(merged > 0, "{rec}");
    // A survivor's lineage names its merged copies and the decision.
    let into: String = {
        let c = rusqlite::Connection::open(site.path("casebridge-ledger.sqlite")).unwrap();
        c.query_row(
            "SELECT detail FROM dispositions WHERE disposition = 'merged' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let l = site.ledger_args();
    let out = site.run(&["provenance", &into, &l[0], &l[1], "--format", "json"]);
    assert!(out.status.success());
    let lin: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(lin["reads"].as_array().unwrap().len() >= 2, "{lin}");
    assert!(!lin["merges"].as_array().unwrap().is_empty(), "{lin}");
    // Written once: the survivor's versions name every copy's read.
    let prov = lin["versions"][0]["provenance"].as_array().unwrap();
    assert!(prov.len() >= 2, "{lin}");
    assert_eq!(site.verify().0, 0);
    // And the same inputs again: nothing twice.
    let (_, text) = site.migrate();
    assert!(text.contains("nothing changed"), "{text}");

    // A night on which the first copy of a merged person changed (its last
    // name longer: the survivor's, most complete): the survivor is written
    // as changed, though its last copy read is as it was; nothing is
    // withdrawn (the copies' dispositions name the survivor).
    let (survivor, line): (String, i64) = {
        let c = rusqlite::Connection::open(site.path("casebridge-ledger.sqlite")).unwrap();
        c.query_row(
            "SELECT v.record_id, json_extract(v.locator, '$.line') FROM dispositions v \
             WHERE v.run = 1 AND v.disposition = 'valid' AND v.kind = 'person' AND EXISTS \
             (SELECT 1 FROM dispositions m WHERE m.run = 1 AND m.disposition = 'merged' AND m.record_id = v.record_id) \
             ORDER BY v.rowid LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    let stored = site.count("SELECT COUNT(*) FROM current WHERE withdrawn = 0");
    edit_field(
        &site.path("inputs/DM_PERSONS.csv"),
        usize::try_from(line - 1).unwrap(),
        "LAST_NAME",
        |v| v.extend_from_slice(b"xx"),
    );
    let (code, text) = site.migrate();
    assert!(code <= 1, "{text}");
    assert!(!text.contains("migrate.withdrawn"), "{text}");
    let changes = site.changes("run-000002");
    assert_eq!(
        changes,
        [(survivor, "person".to_string(), "changed".to_string())],
        "{text}"
    );
    assert_eq!(
        site.count("SELECT COUNT(*) FROM current WHERE withdrawn = 0"),
        stored,
        "nothing left the store"
    );
    let (code, rec) = site.reconcile("2");
    assert_eq!(code, 0, "{rec}");
    assert_eq!(site.verify().0, 0);
}

#[test]
fn a_ledger_among_the_inputs_is_refused_and_left_untouched() {
    let site = Site::new("24", "\n[ledger]\npath = \"inputs/DM_PERSONS.csv\"\n");
    let before = std::fs::read(site.path("inputs/DM_PERSONS.csv")).unwrap();
    let (code, text) = site.migrate();
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("the ledger is among the inputs"), "{text}");
    assert_eq!(
        std::fs::read(site.path("inputs/DM_PERSONS.csv")).unwrap(),
        before
    );
}

// A wrong `[ledger] path` (another application's database, a CSV that is
// not an input) used to be taken over: the ledger's tables were added to
// the other database, and a CSV got an SQLite error that named no file and
// said its cause twice.
#[test]
fn a_ledger_path_that_is_no_ledger_is_refused_and_left_untouched() {
    let site = Site::new("26", "");
    let base = std::fs::read_to_string(site.path("run.toml")).unwrap();
    let db = site.path("invoices.sqlite");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("CREATE TABLE invoices (id INTEGER, amount INTEGER); INSERT INTO invoices VALUES (1, 100);")
            .unwrap();
    }
    std::fs::write(site.path("notes.csv"), "ID,NOTE\n1,Mum attended\n").unwrap();
    for (file, why) in [
        (
            "invoices.sqlite",
            "an SQLite database of other tables: invoices",
        ),
        ("notes.csv", "not an SQLite database"),
    ] {
        let before = std::fs::read(site.path(file)).unwrap();
        site.with_ledger(&base, &format!("path = \"{file}\""));
        let (code, text) = site.migrate();
        assert_eq!(code, 2, "{text}");
        assert!(
            text.contains(&format!("{file}: not a casebridge ledger ({why})")),
            "{text}"
        );
        assert_eq!(
            text.matches("not a casebridge ledger").count(),
            1,
            "said once: {text}"
        );
        assert!(!text.contains("Error code"), "SQLite's cause again: {text}");
        assert_eq!(
            std::fs::read(site.path(file)).unwrap(),
            before,
            "{file} changed"
        );
        assert!(
            !site.path(&format!("{file}.lock")).exists(),
            "a lock beside {file}"
        );
        assert!(!site.path("out").exists(), "outputs written: {text}");
        // The readers say the same.
        for args in [
            vec!["reconcile", "--ledger", file],
            vec!["ledger", "verify", "--ledger", file],
            vec!["provenance", "person:x", "--ledger", file],
        ] {
            let out = site.run(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(
                err.contains(&format!("{file}: not a casebridge ledger ({why})")),
                "{args:?}: {err}"
            );
        }
    }
    let c = rusqlite::Connection::open(&db).unwrap();
    let tables: i64 = c
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 1, "tables added to another application's database");
    // A file that is not there yet becomes the ledger, as before.
    site.with_ledger(&base, "path = \"new.sqlite\"");
    let (code, text) = site.migrate();
    assert_eq!(code, 0, "{text}");
    let out = site.run(&["reconcile", "--ledger", "new.sqlite"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn validate_takes_a_migration_run_file() {
    let site = Site::new("25", "");
    let out = site.run(&["-q", "validate", "--config", "run.toml"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !site.path("out").exists(),
        "validate writes no migration output"
    );
}

#[test]
fn messages_name_records_by_id_not_by_their_values() {
    let site = Site::new("26", "");
    assert_eq!(site.migrate().0, 0);
    let persons = site.path("inputs/DM_PERSONS.csv");
    let mut ls = lines(&persons);
    let removed = String::from_utf8_lossy(&ls[2]).into_owned();
    ls.remove(2);
    write_lines(&persons, &ls);
    let (_, text) = site.migrate();
    assert!(text.contains("migrate.withdrawn"), "{text}");
    // No field of the withdrawn person's row (names, dates) is printed.
    for value in removed
        .trim_end()
        .split(',')
        .skip(1)
        .filter(|v| v.len() > 3)
    {
        assert!(!text.contains(value), "{value} printed: {text}");
    }
}

#[test]
fn the_ledgers_cache_is_a_size_in_the_run_file() {
    let site = Site::new("27", "");
    let text = std::fs::read_to_string(site.path("run.toml")).unwrap();
    site.with_ledger(&text, "cache = \"2 MiB\"");
    let (code, out) = site.migrate();
    assert_eq!(code, 0, "{out}");
    assert!(site.path("casebridge-ledger.sqlite").is_file());
    assert_eq!(site.verify().0, 0);
    site.with_ledger(&text, "cache = \"lots\"");
    let (code, out) = site.migrate();
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("ledger.cache must be a positive size"),
        "{out}"
    );
}

#[test]
fn a_killed_run_leaves_a_journal_that_readers_roll_back_and_the_journal_is_chosen_in_the_run_file()
{
    // A run file asking for a small cache, so that a run's pages spill to
    // the file (and the rollback journal) early.
    let site = Site::generated("31", &["--case-notes", "3000"], "");
    let text = std::fs::read_to_string(site.path("run.toml")).unwrap();
    site.with_ledger(&text, "cache = \"1 MiB\"");
    let (code, out) = site.migrate();
    assert_eq!(code, 0, "{out}");
    let mode = |site: &Site| -> String {
        let c = rusqlite::Connection::open(site.path("casebridge-ledger.sqlite")).unwrap();
        c.query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(mode(&site), "delete", "the default is a rollback journal");

    // Tonight's extract is another one: every record new or withdrawn.
    let other = tempfile::tempdir().unwrap();
    let g = generator()
        .arg("--out")
        .arg(other.path())
        .args(["--seed", "32", "--families", "4", "--case-notes", "3000"])
        .args(["--as-of", "2026-11-01"])
        .args(["--only", "DM_PERSONS,CASE_NOTES,DM_PERSONAL_RELATIONSHIPS"])
        .output()
        .unwrap();
    assert!(g.status.success());
    for name in [
        "DM_PERSONS.csv",
        "CASE_NOTES.csv",
        "DM_PERSONAL_RELATIONSHIPS.csv",
    ] {
        std::fs::copy(
            other.path().join(name),
            site.path(&format!("inputs/{name}")),
        )
        .unwrap();
    }
    let journal = site.path("casebridge-ledger.sqlite-journal");
    let ledger = site.path("casebridge-ledger.sqlite");
    let size_before = std::fs::metadata(&ledger).unwrap().len();
    let mut child = casebridge()
        .current_dir(site.dir.path())
        .args(["--no-audit", "-q", "migrate", "--config", "run.toml"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    // Killed once the run has written pages into the file itself: its
    // journal is then hot (needed to undo them).
    while !(journal.is_file() && std::fs::metadata(&ledger).unwrap().len() > size_before) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it spilled into the file: make the inputs larger"
        );
        assert!(start.elapsed().as_secs() < 120, "no journal after 120 s");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(journal.is_file(), "the kill left the run's journal");
    let read_only =
        rusqlite::Connection::open_with_flags(&ledger, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    assert!(
        read_only
            .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get::<_, i64>(0))
            .is_err(),
        "a hot journal, which a read-only connection cannot roll back"
    );
    drop(read_only);

    // Readers roll the killed run back and see run 1 only.
    let l = site.ledger_args();
    let out = site.run(&["reconcile", &l[0], &l[1], "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{json}");
    assert_eq!(json["run"]["run_id"], "run-000001", "{json}");
    assert!(!journal.exists(), "the reader rolled the journal back");
    assert_eq!(std::fs::metadata(&ledger).unwrap().len(), size_before);
    assert_eq!(site.verify().0, 0);
    assert_eq!(site.count("SELECT COUNT(*) FROM runs"), 1);

    // The next run is run 2, in WAL mode when the run file says so.
    site.with_ledger(&text, "journal = \"wal\"");
    let (code, out) = site.migrate();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("run-000002"), "{out}");
    assert_eq!(mode(&site), "wal");
    assert_eq!(site.verify().0, 0);

    // An unknown journal is refused with its line.
    site.with_ledger(&text, "journal = \"memory\"");
    let (code, out) = site.migrate();
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("unknown ledger journal `memory`: rollback or wal"),
        "{out}"
    );
}

#[test]
fn a_file_changed_with_no_record_changed_writes_no_output_of_that_kind() {
    let site = Site::new("33", "");
    assert_eq!(site.migrate().0, 0);
    // A second space where a last name's value is read: the file's bytes
    // change, no record's content does (white space is folded).
    let persons = site.path("inputs/DM_PERSONS.csv");
    edit_field(&persons, 2, "LAST_NAME", |v| v.push(b' '));

    let (code, text) = site.migrate();
    assert_eq!(code, 0, "{text}");
    assert!(site.changes("run-000002").is_empty(), "{text}");
    assert!(
        !site.path("out/run-000002/person.jsonl").exists(),
        "no person changed, so no person file: {:?}",
        std::fs::read_dir(site.path("out/run-000002"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect::<Vec<_>>()
    );
    let (code, rec) = site.reconcile("2");
    assert_eq!(code, 0, "{rec}");
    assert_eq!(site.verify().0, 0);
}
