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
pub fn redact_args(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut seen_subcommand = false;
    for (i, a) in args.iter().enumerate() {
        if i == 0 {
            out.push("casebridge".to_string());
        } else if a.starts_with('-') {
            // `--opt=value` keeps the option only.
            let name = a.split('=').next().unwrap_or(a);
            out.push(if name.len() < a.len() {
                format!("{name}=<redacted>")
            } else {
                a.clone()
            });
        } else if !seen_subcommand && a.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
            seen_subcommand = true;
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

/// The last line of a file (reads at most its last 1 MiB).
fn last_line(f: &mut std::fs::File) -> std::io::Result<Option<String>> {
    let len = f.seek(SeekFrom::End(0))?;
    let start = len.saturating_sub(1 << 20);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    Ok(text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::to_string))
}

/// Appends an entry to the log at `path` (created owner-only, with its
/// directory), filling `prev` from the current last line.
pub fn append(path: &Path, mut entry: AuditEntry) -> std::io::Result<()> {
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
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    entry.prev = last_line(&mut f)?
        .map(|l| Sha256::digest(l.as_bytes()).to_hex())
        .unwrap_or_default();
    let mut line = serde_json::to_string(&entry).map_err(std::io::Error::other)?;
    line.push('\n');
    f.write_all(line.as_bytes())?;
    f.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

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
                "--as-of=<redacted>",
                "-q"
            ]
        );
    }

    #[test]
    fn entries_chain_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/audit.jsonl");
        let entry = AuditEntry {
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
        };
        append(&path, entry.clone()).unwrap();
        append(&path, entry).unwrap();
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
        }
    }
}
