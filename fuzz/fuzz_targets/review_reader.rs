//! The dedup review workbook reader (a reviewer's XLSX comes back from a
//! shared drive: untrusted) on arbitrary bytes: decisions or an error, never
//! a panic, in bounded memory (the archive check runs first). calamine's
//! known panics on malformed sheets are caught by the reader's worker
//! thread and let through here (see `tolerate_calamine_panics`).
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    casebridge_sheet::fuzzing::tolerate_calamine_panics();
    let Ok(mut f) = tempfile::Builder::new().suffix(".xlsx").tempfile() else {
        return;
    };
    if f.write_all(data).is_err() {
        return;
    }
    let _ = casebridge_dedup::review::read_decisions(f.path());
});
