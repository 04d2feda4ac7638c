//! The CSV reader on arbitrary bytes, in every encoding mode, with a small
//! record limit: no panic, every error located, the hash of all the bytes.
#![no_main]

use casebridge_csv::{CsvSource, CsvSourceConfig};
use casebridge_model::{Encoding, RecordSource, Sha256, TextRow, Want};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (mode, bytes) = data.split_first().map_or((0, data), |(m, rest)| (*m, rest));
    let encoding = match mode % 3 {
        0 => Encoding::Auto,
        1 => Encoding::Utf8,
        _ => Encoding::Windows1252,
    };
    let config = CsvSourceConfig {
        encoding,
        delimiter: if mode & 0x10 != 0 { b';' } else { b',' },
        header_row: u64::from(mode >> 6) + 1,
        max_record_bytes: 4096,
    };
    let Ok(mut src) = CsvSource::from_reader(Box::new(std::io::Cursor::new(bytes.to_vec())), "fuzz.csv", config) else {
        return;
    };
    let n = src.columns().len();
    let wanted: Vec<Want> = (0..n).map(|i| [Want::Text, Want::Presence, Want::Skip][i % 3]).collect();
    let mut row = TextRow::new();
    loop {
        match src.read_row(&mut row, &wanted) {
            Ok(false) => break,
            Ok(true) => assert!(row.locator.as_ref().and_then(|l| l.line()).is_some()),
            Err(e) => {
                assert!(e.locator.line().is_some(), "record errors carry a line");
                if !e.recoverable {
                    break;
                }
            }
        }
        let _ = src.take_warning();
    }
    let info = Box::new(src).finish().expect("finish");
    assert_eq!(info.sha256, Sha256::digest(bytes));
});
