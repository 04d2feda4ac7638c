//! What the `xml_reader` fuzz target runs, here so that `cargo test`
//! replays its regressions and seeds through the same checks. Not an API.
//!
//! The whole input is the document (so seeds stay well-formed); the mode
//! (record path and fields, repeat separator, depth limit, what is wanted)
//! comes from a hash of its bytes.

use casebridge_model::{RecordSource, Sha256, SourceErrorKind, TextRow, Want};

use crate::{XmlLimits, XmlSource, XmlSourceConfig};

/// Reads `data` to the end and checks what must hold whatever it is: no
/// panic, a line on every record and every error but I/O ones, errors
/// without a way on end the read, and the hash and size of every byte.
pub fn run(data: &[u8]) {
    let mode = data
        .iter()
        .fold(0u8, |a, b| a.wrapping_mul(31).wrapping_add(*b));
    let (record, fields): (&str, &[&str]) = match mode % 3 {
        0 => (
            "Message/Children/Child",
            &[
                "ChildIdentifiers/LAchildID",
                "ChildIdentifiers/UPN",
                "ChildCharacteristics/Disabilities/Disability",
                "/Message/Header/Source/LEA",
                "@id",
                ".",
            ],
        ),
        1 => (
            "Message/Children/Child/CINdetails",
            &[
                "CINreferralDate",
                "../ChildIdentifiers/LAchildID",
                "../@id",
                "Assessments/FactorsIdentifiedAtAssessment/AssessmentFactors",
                "/Message/Header/Source/LEA",
                "..",
            ],
        ),
        _ => ("a/b", &["c", "@d", "../e", "c/@f", ".", "/a/g"]),
    };
    let config = XmlSourceConfig {
        record_path: record.into(),
        fields: fields.iter().map(|f| f.to_string()).collect(),
        repeat_separator: if mode & 0x10 != 0 {
            String::new()
        } else {
            ";".into()
        },
        limits: XmlLimits {
            max_depth: 8 + usize::from(mode >> 5),
            max_record_bytes: 256,
            max_token_bytes: 2048,
        },
    };
    let cursor = Box::new(std::io::Cursor::new(data.to_vec()));
    let mut src = match XmlSource::from_reader("fuzz.xml", cursor, config) {
        Ok(src) => src,
        Err(e) => {
            assert!(!e.recoverable, "an error at open ends the read");
            return;
        }
    };
    let wanted: Vec<Want> = (0..fields.len())
        .map(|i| [Want::Text, Want::Presence, Want::Skip][(i + usize::from(mode & 3)) % 3])
        .collect();
    let mut row = TextRow::new();
    let mut n = 0u32;
    loop {
        match src.read_row(&mut row, &wanted) {
            Ok(false) => break,
            Ok(true) => assert!(row.locator.as_ref().and_then(|l| l.line()).is_some()),
            Err(e) => {
                assert!(
                    e.locator.line().is_some() || matches!(e.kind, SourceErrorKind::Io(_)),
                    "record errors carry a line"
                );
                if !e.recoverable {
                    break;
                }
            }
        }
        n += 1;
        assert!(n < 1_000_000, "the read ends");
    }
    let info = match Box::new(src).finish() {
        Ok(info) => info,
        Err(e) => panic!("finish after a complete read: {e}"),
    };
    assert_eq!(info.sha256, Sha256::digest(data));
    assert_eq!(info.bytes, data.len() as u64);
}
