//! `casebridge validate --config run.toml`: the run configuration gives
//! inputs, mappings, limits and report settings; the command line overrides
//! it; a bad file is refused with its line and a suggestion.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_shipped_run_config_gives_the_same_findings_as_the_command_line() {
    let (code, by_cli, _) = validate_json(&[&root().join("examples/mosaic")], &mappings(), &[]);
    let out = casebridge()
        .args([
            "validate",
            "--config",
            "examples/mosaic/run.toml",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(code));
    let by_config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(error_keys(&by_config), error_keys(&by_cli));
    assert!(!error_keys(&by_cli).is_empty());

    // Without --format, the config's human report; the audit log lists the
    // configuration with its hash beside the inputs.
    let tmp = tempfile::tempdir().unwrap();
    let audit = tmp.path().join("audit.jsonl");
    let out = casebridge()
        .env("CASEBRIDGE_AUDIT_LOG", &audit)
        .args(["validate", "--config", "examples/mosaic/run.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(code));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Errors by rule"));
    let entry: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&audit)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    let want = {
        use sha2::Digest;
        let bytes = std::fs::read(root().join("examples/mosaic/run.toml")).unwrap();
        hex_of(&sha2::Sha256::digest(&bytes))
    };
    let inputs = entry["inputs"].as_array().unwrap();
    assert!(
        inputs
            .iter()
            .any(|i| i["file"].as_str().unwrap().ends_with("run.toml")
                && i["sha256"] == want.as_str()),
        "{entry}"
    );
    assert!(inputs
        .iter()
        .any(|i| i["file"].as_str().unwrap().ends_with("DM_PERSONS.csv")));
}

#[test]
fn config_limits_apply_and_the_command_line_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("run.toml");
    let data = root().join("examples/mosaic-clean");
    std::fs::write(
        &cfg,
        format!(
            "[run]\nas_of = \"2026-11-01\"\n[inputs]\npaths = [{:?}]\nmappings = {:?}\n[limits]\nmax_record_bytes = 256\n[report]\nformat = \"json\"\noutput = \"report.json\"\n",
            data.join("CASE_NOTES.csv"),
            mappings()
        ),
    )
    .unwrap();
    let out = casebridge()
        .arg("validate")
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The report went where the config said, relative to the config.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("report.json")).unwrap()).unwrap();
    assert!(report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule"] == "limit.record"));
    // The command line's limit overrides the config's.
    let out = casebridge()
        .arg("validate")
        .arg("--config")
        .arg(&cfg)
        .args(["--max-record-bytes", "1MiB"])
        .arg("--output")
        .arg(tmp.path().join("second.json"))
        .output()
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("second.json")).unwrap()).unwrap();
    assert!(
        !report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "limit.record"),
        "{report}"
    );
    assert_eq!(out.status.code(), Some(0), "{report}");
}

#[test]
fn a_bad_config_is_refused_with_lines_and_suggestions() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("run.toml");
    std::fs::write(&cfg, "[inputs]\npaths = [\"x\"]\nmapings = \"m\"\n").unwrap();
    let out = casebridge()
        .arg("validate")
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("run.toml:3"), "{err}");
    assert!(err.contains("did you mean `mappings`"), "{err}");

    std::fs::write(
        &cfg,
        "[inputs]\npaths = [\"x\"]\nmappings = \"m\"\n[http]\napi_key = \"sk-live-CANARY\"\n",
    )
    .unwrap();
    let out = casebridge()
        .arg("validate")
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CASEBRIDGE_HTTP_TOKEN"), "{err}");
    assert!(!err.contains("sk-live-CANARY"), "{err}");
}
