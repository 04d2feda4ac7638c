//! The audit log: who ran what, on which files, with what result, one JSON
//! line per run, appended to an owner-only file and hash-chained (each entry
//! carries the SHA-256 of the line before it) so that a removed or edited
//! entry shows.
//!
//! The command line is recorded with every value redacted: the subcommand and
//! option names stay, arguments become `<redacted>`, since paths and values
//! may carry names. Input files are recorded by name and SHA-256.
//!
//! Until the provenance ledger exists this file is the record of runs; the
//! ledger will take these entries over.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use casebridge_model::Sha256;
use serde::Serialize;

/// One input of a run.
#[derive(Debug, Clone, Serialize)]
pub struct AuditInput {
    /// File name as given.
    pub file: String,
    /// SHA-256 of the whole file, when it was read.
    pub sha256: Option<String>,
    /// Bytes.
    pub bytes: u64,
}

/// One run.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    /// UTC time the run ended (RFC 3339).
    pub time: String,
    /// Operating-system user.
    pub user: String,
    /// Host name.
    pub host: String,
    /// casebridge version.
    pub version: String,
    /// Command line, values redacted.
    pub command: Vec<String>,
    /// Inputs read.
    pub inputs: Vec<AuditInput>,
    /// Exit code.
    pub exit_code: u8,
    /// Errors found.
    pub errors: u64,
    /// Warnings found.
    pub warnings: u64,
    /// SHA-256 of the previous line of the log (hex), empty for the first.
    pub prev: String,
}

/// The default log: `$CASEBRIDGE_AUDIT_LOG`, else
/// `$XDG_STATE_HOME/casebridge/audit.jsonl`, else
/// `~/.local/state/casebridge/audit.jsonl`.
pub fn default_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CASEBRIDGE_AUDIT_LOG") {
        return Some(PathBuf::from(p));
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(state.join("casebridge/audit.jsonl"))
}

/// The command line with values redacted: the program, the subcommand and
/// option names are kept, everything else is `<redacted>`.
/// Options whose values are not personal and say how a run was made: they
/// are recorded as given.
const PLAIN_OPTIONS: &[&str] = &[
    "--as-of",
    "--format",
    "--examples",
    "--max-record-bytes",
    "--max-findings",
    "--max-xml-depth",
    "--max-xlsx-bytes",
    "--max-xlsx-ratio",
];

/// Subcommand groups and their subcommands, kept as given.
const SUBCOMMAND_GROUPS: &[(&str, &[&str])] = &[("mapping", &["init", "check"])];

/// The command line with values redacted (see `PLAIN_OPTIONS`); a
/// group's subcommand (`mapping init`) is kept with the group.
pub fn redact_args(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut seen_subcommand = false;
    let mut plain_next = false;
    // The subcommand group just kept (`mapping`), whose own subcommand
    // (`init`) is kept too.
    let mut group: Option<&[&str]> = None;
    for (i, a) in args.iter().enumerate() {
        let in_group = std::mem::take(&mut group).is_some_and(|subs| subs.contains(&a.as_str()));
        let plain_value = std::mem::take(&mut plain_next) && !a.starts_with('-');
        if i == 0 {
            out.push("casebridge".to_string());
        } else if in_group || plain_value {
            out.push(a.clone());
        } else if a.starts_with('-') {
            // `--opt=value` keeps the option only, unless its value is plain.
            let name = a.split('=').next().unwrap_or(a);
            let plain = PLAIN_OPTIONS.contains(&name);
            plain_next = plain && name.len() == a.len();
            out.push(if name.len() < a.len() && !plain {
                format!("{name}=<redacted>")
            } else {
                a.clone()
            });
        } else if !seen_subcommand && a.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
            seen_subcommand = true;
            group = SUBCOMMAND_GROUPS
                .iter()
                .find(|(g, _)| g == a)
                .map(|(_, subs)| *subs);
            out.push(a.clone());
        } else {
            out.push("<redacted>".to_string());
        }
    }
    out
}

/// The operating-system user running the process.
pub fn current_user() -> String {
    for var in ["USER", "LOGNAME", "USERNAME"] {
        if let Ok(u) = std::env::var(var) {
            if !u.is_empty() {
                return u;
            }
        }
    }
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| format!("uid {}", l[4..].split_whitespace().next().unwrap_or("?")))
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// The host name.
pub fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_string())
}

/// What appending found of the log before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Appended {
    /// The first line (1-based) whose `prev` is not the SHA-256 of the line
    /// before it: an entry was removed, edited or reordered there.
    pub chain_broken_at: Option<usize>,
}

/// The first line whose `prev` does not match the line before it.
fn broken_link(text: &str) -> Option<usize> {
    let mut prev: Option<&str> = None;
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let want = prev
            .map(|p| Sha256::digest(p.as_bytes()).to_hex())
            .unwrap_or_default();
        let got = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("prev").and_then(|p| p.as_str()).map(str::to_string));
        if got.as_deref() != Some(want.as_str()) {
            return Some(i + 1);
        }
        prev = Some(line);
    }
    None
}

/// Appends `entry` (its `prev` set to the SHA-256 of the last line), under
/// an exclusive lock on the file so that parallel runs never fork the
/// chain. The file is created owner-only, kept owner-only, and never opened
/// through a symlink; the whole chain is checked on the way.
pub fn append(path: &Path, mut entry: AuditEntry) -> std::io::Result<Appended> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir)?;
    }
    let mut opts = OpenOptions::new();
    opts.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Never through a symlink planted at the log's path.
        opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let mut f = opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.lock()?;
    f.seek(SeekFrom::Start(0))?;
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    let appended = Appended {
        chain_broken_at: broken_link(&text),
    };
    entry.prev = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| Sha256::digest(l.as_bytes()).to_hex())
        .unwrap_or_default();
    let mut line = serde_json::to_string(&entry).map_err(std::io::Error::other)?;
    line.push('\n');
    f.write_all(line.as_bytes())?;
    f.sync_data()?;
    f.unlock()?;
    Ok(appended)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> AuditEntry {
        AuditEntry {
            time: "t".into(),
            user: "u".into(),
            host: "h".into(),
            version: "v".into(),
            command: vec![],
            inputs: vec![],
            exit_code: 0,
            errors: 0,
            warnings: 0,
            prev: String::new(),
        }
    }

    #[test]
    fn a_group_keeps_its_subcommand_and_drops_the_file() {
        let args: Vec<String> = ["casebridge", "mapping", "init", "init", "--out", "init"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            redact_args(&args),
            [
                "casebridge",
                "mapping",
                "init",
                "<redacted>",
                "--out",
                "<redacted>"
            ]
        );
    }

    #[test]
    fn command_lines_keep_options_and_drop_values() {
        let args: Vec<String> = [
            "/usr/bin/casebridge",
            "validate",
            "smith-family.csv",
            "--mapping",
            "m/",
            "--as-of=2026-01-01",
            "-q",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            redact_args(&args),
            [
                "casebridge",
                "validate",
                "<redacted>",
                "--mapping",
                "<redacted>",
                "--as-of=2026-01-01",
                "-q"
            ]
        );
    }

    #[test]
    fn entries_chain_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/audit.jsonl");
        let entry = entry();
        append(&path, entry.clone()).unwrap();
        assert_eq!(append(&path, entry.clone()).unwrap().chain_broken_at, None);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let second: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(second["prev"], Sha256::digest(lines[0].as_bytes()).to_hex());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
            // Widened by hand: narrowed again on the next append.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        // An edited entry breaks the chain at the line after it.
        let edited = text.replacen("\"u\"", "\"x\"", 1);
        std::fs::write(&path, edited).unwrap();
        assert_eq!(append(&path, entry).unwrap().chain_broken_at, Some(2));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn parallel_appends_never_fork_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let entry = entry();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..10 {
                        append(&path, entry.clone()).unwrap();
                    }
                });
            }
        });
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 80);
        assert_eq!(broken_link(&text), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_log_path_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere.txt");
        std::fs::write(&target, "keep").unwrap();
        let path = dir.path().join("audit.jsonl");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let entry = entry();
        assert!(append(&path, entry).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }

    #[test]
    fn plain_option_values_are_recorded_and_others_redacted() {
        let args: Vec<String> = [
            "casebridge",
            "validate",
            "x.csv",
            "--format",
            "json",
            "--as-of",
            "2026-11-01",
            "-m",
            "maps",
            "--max-findings=10",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            redact_args(&args),
            [
                "casebridge",
                "validate",
                "<redacted>",
                "--format",
                "json",
                "--as-of",
                "2026-11-01",
                "-m",
                "<redacted>",
                "--max-findings=10"
            ]
        );
    }
}
