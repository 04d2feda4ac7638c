//! Dedup configuration files: arbitrary text loads and checks, or is
//! refused with a message, never a panic.
#![no_main]

use casebridge_dedup::DedupConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(c) = DedupConfig::from_toml(text) {
            let _ = c.check();
        }
    }
});
