//! Run configuration files: arbitrary text loads or gives diagnostics, each
//! naming the file, never a panic; a loaded config's paths are resolved.
#![no_main]

use std::path::Path;

use casebridge_runner::RunConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let path = Path::new("/nonexistent/run.toml");
        match RunConfig::from_str(path, text) {
            Ok(c) => {
                assert!(!c.inputs.is_empty());
                assert!(c.limits.max_record_bytes > 0 && c.limits.max_xml_depth > 0);
            }
            Err(diags) => {
                assert!(!diags.is_empty());
                assert!(diags.iter().all(|d| d.file == path));
            }
        }
    }
});
