//! The canonical JSON Lines reader: arbitrary lines parse or fail; what
//! parses writes back and parses to the same record.
#![no_main]

use casebridge_model::{content_sha256, Record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for line in text.lines() {
            if let Ok(rec) = Record::from_json_line(line) {
                let _ = content_sha256(&rec);
                let again = rec.to_json_line().expect("serialise");
                let back = Record::from_json_line(&again).expect("round trip");
                assert_eq!(back.to_json_line().expect("serialise"), again);
            }
        }
    }
});
