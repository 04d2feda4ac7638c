//! Date formats: arbitrary format strings compile or fail; arbitrary values
//! parse or fail; what parses formats back to something that parses.
#![no_main]

use casebridge_mapping::DateFormats;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (fmt, value) = text.split_once('\n').unwrap_or((text, text));
    if let Ok(formats) = DateFormats::parse(&[fmt]) {
        if let Some((dt, f)) = formats.parse_with_format(value) {
            let written = f.format(dt);
            assert!(f.parse_datetime(&written).is_some(), "{written}");
        }
    }
    let _ = DateFormats::default_list().parse_datetime(value);
});
