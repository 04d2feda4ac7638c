//! The XLSX archive check on arbitrary bytes: refuses or passes, in bounded
//! time and memory, never panics.
#![no_main]

use std::path::Path;

use casebridge_sheet::{check_archive, ArchiveLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = ArchiveLimits { max_total_bytes: 1 << 20, max_ratio: 100, max_entries: 64 };
    if let Ok(total) = check_archive(std::io::Cursor::new(data), data.len() as u64, Path::new("fuzz.xlsx"), &limits) {
        assert!(total <= limits.max_total_bytes);
    }
});
