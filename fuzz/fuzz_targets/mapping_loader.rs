//! Mapping files: arbitrary text loads or gives diagnostics, never a panic.
#![no_main]

use std::path::Path;

use casebridge_mapping::Mapping;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(m) = Mapping::from_str(Path::new("/nonexistent/fuzz.toml"), text) {
            let header: Vec<String> = m.columns().iter().map(|(c, _)| c.to_string()).collect();
            let _ = m.bind(&header);
        }
    }
});
