//! The sheet reader on arbitrary workbooks: a zip as it is, or workbook XML
//! parts zipped around a template (see casebridge_sheet::fuzzing). It
//! refuses or reads, in bounded time and memory, and never panics.
//!
//! calamine 0.30 panics on some malformed sheets (a shared-string index past
//! the table); the reader runs it on a thread that catches the panic and
//! reports a Syntax error. Such panics are let through here; any other
//! panic aborts as usual, so the fuzzer reports it.
#![no_main]

use std::sync::Once;

use libfuzzer_sys::fuzz_target;

static HOOK: Once = Once::new();

fn tolerate_calamine_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_calamine = info
            .location()
            .is_some_and(|l| l.file().contains("/calamine-"));
        let on_reader = std::thread::current().name() == Some("casebridge-sheet");
        if !(in_calamine && on_reader) {
            previous(info);
        }
    }));
}

fuzz_target!(|data: &[u8]| {
    HOOK.call_once(tolerate_calamine_panics);
    let path =
        std::env::temp_dir().join(format!("casebridge-fuzz-sheet-{}.xlsx", std::process::id()));
    casebridge_sheet::fuzzing::run(data, &path);
    let _ = std::fs::remove_file(&path);
});
