//! Workbook templates: arbitrary text loads or gives diagnostics.
#![no_main]

use std::path::Path;

use casebridge_mapping::Template;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(t) = Template::from_str(Path::new("fuzz.toml"), text) {
            for code in t.question_codes() {
                assert!(t.question(code).is_some());
            }
        }
    }
});
