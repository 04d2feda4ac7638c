//! The XML reader on arbitrary bytes, with small limits and several record
//! paths and field sets: no panic, every error located, the hash of all the
//! bytes. The checks live in `casebridge_xml::fuzzing`, which `cargo test`
//! also runs on the regressions and seeds (tests/fuzz_regressions.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| casebridge_xml::fuzzing::run(data));
