//! Output files, end to end, with the real binary: a planted symlink never
//! redirects a write, stale temporary files of killed runs are removed,
//! outputs are owner-only, and a run stopped by SIGTERM (or SIGINT) leaves
//! no temporary file behind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const KEY: &str = "test-key-0123456789abcdef";
/// A pid no process has: Linux pids stop at 2^22.
const DEAD_PID: u32 = 999_999_999;
/// What every temporary file name holds.
const MARKER: &str = ".casebridge-tmp.";

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

fn temporaries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(MARKER) || n.ends_with(".tmp"))
        .collect();
    v.sort();
    v
}

fn generate(dir: &Path, families: usize) {
    let status = generator()
        .arg("--out")
        .arg(dir)
        .args(["--seed", "5", "--families", &families.to_string()])
        .args(["--as-of", "2026-11-01"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

fn spawn_pseudonymise(data: &Path, out: &Path) -> Child {
    casebridge()
        .args(["-q", "pseudonymise"])
        .arg(data)
        .arg("--mapping")
        .arg(mappings())
        .arg("--out")
        .arg(out)
        .env("CASEBRIDGE_PSEUDONYM_KEY", KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn kill(child: &Child, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal}");
}

/// Waits for the child, at most `limit`.
fn wait(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The staging folders beside `out` (`.NAME.casebridge-tmp.PID.RANDOM`):
/// an extract is written there whole, then renamed into place.
fn staging(out: &Path) -> Vec<PathBuf> {
    let name = out.file_name().unwrap().to_string_lossy().into_owned();
    let parent = out.parent().unwrap();
    let mut v: Vec<PathBuf> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!(".{name}{MARKER}"))
        })
        .collect();
    v.sort();
    v
}

/// Starts `casebridge pseudonymise` on a generated export big enough to take
/// a while and returns it once a temporary file is in the staging folder of
/// `out` (the run is writing), with its input and output folders. Tries a
/// bigger export if a
/// run ends before one is seen.
fn pseudonymise_caught_writing(tmp: &Path) -> (Child, PathBuf, PathBuf) {
    for families in [400, 3000] {
        let data = tmp.join(format!("data-{families}"));
        let out = tmp.join(format!("out-{families}"));
        generate(&data, families);
        let mut child = spawn_pseudonymise(&data, &out);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(120) {
            if staging(&out).iter().any(|d| !temporaries(d).is_empty()) {
                return (child, data, out);
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("no run was ever seen writing a temporary file");
}

#[test]
fn sigterm_while_writing_removes_every_temporary_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut child, _, out) = pseudonymise_caught_writing(tmp.path());
    kill(&child, "TERM");
    let status = wait(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(143), "exit 128 + SIGTERM: {status:?}");
    // The staging folder and every temporary in it are gone, and no part of
    // the extract appeared: a set appears whole or not at all.
    assert_eq!(staging(&out), Vec::<PathBuf>::new());
    assert_eq!(temporaries(tmp.path()), Vec::<String>::new());
    assert!(!out.exists(), "no partial extract");
}

#[test]
fn sigint_while_writing_removes_every_temporary_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut child, _, out) = pseudonymise_caught_writing(tmp.path());
    kill(&child, "INT");
    let status = wait(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(130), "exit 128 + SIGINT: {status:?}");
    assert_eq!(staging(&out), Vec::<PathBuf>::new());
    assert_eq!(temporaries(tmp.path()), Vec::<String>::new());
    assert!(!out.exists(), "no partial extract");
}

#[test]
fn a_sigkilled_runs_temporary_is_removed_by_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut child, data, out) = pseudonymise_caught_writing(tmp.path());
    kill(&child, "KILL");
    let status = wait(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), None, "killed by a signal");
    // Nothing could clean up after SIGKILL: the staging folder with its
    // temporaries is still there, and its pid is now dead (the child was
    // reaped).
    let left = staging(&out);
    assert_eq!(left.len(), 1);
    assert!(!temporaries(&left[0]).is_empty());
    assert!(!Path::new(&format!("/proc/{}", child.id())).exists());
    // Plus one planted in the output folder by a long-dead run,
    // world-writable: not a file the folder "holds".
    std::fs::create_dir_all(&out).unwrap();
    let planted = out.join(format!(
        "{}{MARKER}{DEAD_PID}.00000000deadbeef",
        ".CASE_NOTES.csv"
    ));
    std::fs::write(&planted, b"stale").unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).unwrap();

    let again = casebridge()
        .args(["-q", "pseudonymise"])
        .arg(&data)
        .arg("--mapping")
        .arg(mappings())
        .arg("--out")
        .arg(&out)
        .env("CASEBRIDGE_PSEUDONYM_KEY", KEY)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(
        temporaries(&out),
        Vec::<String>::new(),
        "stale files removed"
    );
    assert_eq!(
        staging(&out),
        Vec::<PathBuf>::new(),
        "stale staging removed"
    );
    assert!(
        std::fs::read_dir(&out).unwrap().count() > 0,
        "the extract is in place"
    );
    for e in std::fs::read_dir(&out).unwrap() {
        assert_eq!(mode(&e.unwrap().path()), 0o600);
    }
}

#[test]
fn a_stale_world_writable_temporary_is_removed_and_the_report_is_private() {
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("report.json");
    let stale = tmp
        .path()
        .join(format!(".report.json{MARKER}{DEAD_PID}.0123456789abcdef"));
    std::fs::write(&stale, b"old partial report").unwrap();
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o666)).unwrap();
    // A world-readable report from before is replaced by a private one.
    std::fs::write(&report, b"old").unwrap();
    std::fs::set_permissions(&report, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = casebridge()
        .args([
            "validate",
            "examples/mosaic",
            "--mapping",
            "mappings/mosaic",
        ])
        .args(["--as-of", "2026-11-01", "--format", "json", "--output"])
        .arg(&report)
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    assert!(!stale.exists());
    assert_eq!(temporaries(tmp.path()), Vec::<String>::new());
    assert_eq!(mode(&report), 0o600);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert!(json.get("findings").is_some());
}

#[test]
fn symlinks_at_temporary_names_never_redirect_a_write() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim.txt");
    std::fs::write(&victim, b"precious").unwrap();
    let outdir = tmp.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    let names = ["report.json", "pairs.csv", "review.xlsx", "records.jsonl"];
    let mut planted = Vec::new();
    for name in names {
        // The fixed names earlier versions wrote through, and the pattern
        // with a dead pid (removed as a stale link, never followed).
        for tmp_name in [
            format!(".{name}.tmp"),
            format!(".{name}.{}.tmp", std::process::id()),
            format!(".{name}{MARKER}{DEAD_PID}.0000000000000000"),
            format!(".{name}{MARKER}1.0000000000000000"),
        ] {
            let p = outdir.join(tmp_name);
            std::os::unix::fs::symlink(&victim, &p).unwrap();
            planted.push(p);
        }
    }
    let out = casebridge()
        .args([
            "validate",
            "examples/mosaic",
            "--mapping",
            "mappings/mosaic",
        ])
        .args(["--as-of", "2026-11-01", "--output"])
        .arg(outdir.join("report.json"))
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let out = casebridge()
        .args(["dedup", "examples/mosaic", "--mapping", "mappings/mosaic"])
        .arg("--pairs")
        .arg(outdir.join("pairs.csv"))
        .arg("--review")
        .arg(outdir.join("review.xlsx"))
        .arg("--out")
        .arg(outdir.join("records.jsonl"))
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    for name in names {
        let p = outdir.join(name);
        let meta = std::fs::symlink_metadata(&p).unwrap();
        assert!(meta.file_type().is_file(), "{name} is a file");
        assert_eq!(mode(&p), 0o600, "{name}");
    }
    // Links that are not stale temporaries of ours are left alone.
    for p in &planted {
        let dead = p.to_string_lossy().contains(&DEAD_PID.to_string());
        assert_eq!(
            std::fs::symlink_metadata(p).is_ok(),
            !dead,
            "{}",
            p.display()
        );
    }
}

#[test]
fn an_out_folder_with_files_is_refused_unless_replaced_whole_and_never_shared() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    generate(&data, 5);
    let out = tmp.path().join("extract");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("STALE.csv"), b"old").unwrap();
    let run = |extra: &[&str]| {
        casebridge()
            .args(["-q", "pseudonymise"])
            .arg(&data)
            .arg("--mapping")
            .arg(mappings())
            .arg("--out")
            .arg(&out)
            .args(extra)
            .env("CASEBRIDGE_PSEUDONYM_KEY", KEY)
            .output()
            .unwrap()
    };
    let refused = run(&[]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("--replace"),
        "{}",
        stderr(&refused)
    );
    assert!(out.join("STALE.csv").exists(), "nothing touched");
    let replaced = run(&["--replace"]);
    assert_eq!(replaced.status.code(), Some(0), "{}", stderr(&replaced));
    assert!(!out.join("STALE.csv").exists(), "the old set is gone whole");
    assert!(out.join("DM_PERSONS.csv").exists());
    // A lock file left by a killed run, naming a pid alive now (this
    // one's), holds nothing: the folder is written.
    let lock = tmp.path().join(".extract.casebridge-lock");
    std::fs::write(&lock, format!("{} 1764633600\n", std::process::id())).unwrap();
    let after_kill = run(&["--replace"]);
    assert_eq!(after_kill.status.code(), Some(0), "{}", stderr(&after_kill));
    assert!(!lock.exists(), "the lock file is gone with the run");
    // A second run while a first holds the folder's lock fails, naming it.
    std::fs::write(&lock, format!("{} 1764633600\n", std::process::id())).unwrap();
    let held = std::fs::OpenOptions::new().write(true).open(&lock).unwrap();
    held.lock().unwrap();
    let second = run(&["--replace"]);
    assert_eq!(second.status.code(), Some(2));
    let text = stderr(&second);
    assert!(
        text.contains(&format!(
            "another run (pid {}, since 2025-12-02 00:00:00 UTC)",
            std::process::id()
        )),
        "{text}"
    );
    drop(held);
    std::fs::remove_file(&lock).unwrap();
    // And --replace never deletes an input: the data folder is refused.
    let over = casebridge()
        .args(["-q", "pseudonymise"])
        .arg(&data)
        .arg("--mapping")
        .arg(mappings())
        .arg("--out")
        .arg(tmp.path())
        .arg("--replace")
        .env("CASEBRIDGE_PSEUDONYM_KEY", KEY)
        .output()
        .unwrap();
    assert_eq!(over.status.code(), Some(2));
    assert!(
        stderr(&over).contains("holds the input"),
        "{}",
        stderr(&over)
    );
    assert!(data.join("DM_PERSONS.csv").exists());
}

#[test]
fn a_killed_dedups_temporary_survivors_file_is_removed_by_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    generate(&data, 20);
    let survivors = tmp.path().join("survivors.jsonl");
    // What a dedup killed outright while writing --out leaves: a hidden
    // temporary full of personal data, world-readable for good measure.
    let planted = tmp.path().join(format!(
        ".survivors.jsonl{MARKER}{DEAD_PID}.00000000deadbeef"
    ));
    std::fs::write(
        &planted,
        b"{\"kind\":\"person\",\"first_name\":\"canary\"}\n",
    )
    .unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = casebridge()
        .args(["-q", "dedup"])
        .arg(data.join("DM_PERSONS.csv"))
        .arg("--mapping")
        .arg(mappings())
        .arg("--out")
        .arg(&survivors)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        stderr(&out)
    );
    assert!(!planted.exists(), "the stale temporary is removed");
    assert_eq!(temporaries(tmp.path()), Vec::<String>::new());
    assert_eq!(mode(&survivors), 0o600);
}

// A write that fails part-way (here: a file-size limit, as a full disk
// would) used to be reported at the staging folder's temporary path,
// `.out.casebridge-tmp.PID.RANDOM/...`, which the run removes. It is
// named at its place in the output folder, once, and nothing is left.
#[cfg(unix)]
#[test]
fn a_write_that_fails_names_the_file_at_its_place_in_the_output_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    generate(&data, 5);
    for (command, extra, file) in [
        (
            "export",
            &["--to", "jsonl"][..],
            "out/case_note.jsonl: cannot write",
        ),
        ("pseudonymise", &[][..], "out/CASE_NOTES.csv: cannot write"),
    ] {
        let out = tmp.path().join("out");
        let mut cmd = casebridge();
        cmd.arg("--no-audit")
            .arg(command)
            .arg(data.join("CASE_NOTES.csv"))
            .arg(data.join("DM_PERSONS.csv"))
            .arg("--mapping")
            .arg(mappings())
            .arg("--out")
            .arg(&out)
            .args(extra)
            .env("CASEBRIDGE_PSEUDONYM_KEY", "test-key-0123456789abcdef");
        // At most 8 KiB a file written, the signal that would kill the
        // process ignored: the write fails with EFBIG.
        let o = Command::new("sh")
            .arg("-c")
            .arg("ulimit -f 8; trap '' XFSZ; exec \"$0\" \"$@\"")
            .arg(cmd.get_program())
            .args(cmd.get_args())
            .envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
            .current_dir(root())
            .output()
            .unwrap();
        let text = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{command}: {text}");
        assert!(text.contains(file), "{command}: {text}");
        assert!(!text.contains("casebridge-tmp"), "{command}: {text}");
        assert_eq!(
            text.matches("File too large").count(),
            1,
            "{command}: the cause said once: {text}"
        );
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "data")
            .collect();
        assert!(left.is_empty(), "{command}: left behind: {left:?}");
    }
}
