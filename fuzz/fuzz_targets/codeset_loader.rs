//! Code set files: arbitrary text loads or gives diagnostics.
#![no_main]

use std::path::Path;

use casebridge_mapping::CodeSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(set) = CodeSet::from_str(Path::new("fuzz.toml"), text) {
            let _ = set.lookup(text);
        }
    }
});
