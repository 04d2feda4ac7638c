//! The sheet reader on arbitrary workbooks: a zip as it is, or workbook XML
//! parts zipped around a template (see casebridge_sheet::fuzzing). It
//! refuses or reads, in bounded time and memory, and never panics.
//!
//! calamine 0.30 panics on some malformed sheets (a shared-string index past
//! the table); the reader runs it on a thread that catches the panic and
//! reports a Syntax error. Such panics are let through here; any other
//! panic aborts as usual, so the fuzzer reports it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    casebridge_sheet::fuzzing::tolerate_calamine_panics();
    let path =
        std::env::temp_dir().join(format!("casebridge-fuzz-sheet-{}.xlsx", std::process::id()));
    casebridge_sheet::fuzzing::run(data, &path);
    let _ = std::fs::remove_file(&path);
});
