//! The XML reader on arbitrary bytes, with small limits and several record
//! paths and field sets: no panic, every error located, the hash of all the
//! bytes.
#![no_main]

use casebridge_model::{RecordSource, Sha256, SourceErrorKind, TextRow, Want};
use casebridge_xml::{XmlLimits, XmlSource, XmlSourceConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The whole input is the document (seeds stay well-formed); the mode
    // (paths, separator, depth limit, what is wanted) comes from its bytes.
    let bytes = data;
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
    let cursor = Box::new(std::io::Cursor::new(bytes.to_vec()));
    let mut src = match XmlSource::from_reader("fuzz.xml", cursor, config) {
        Ok(src) => src,
        Err(e) => {
            assert!(!e.recoverable);
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
        assert!(n < 1_000_000);
    }
    let info = Box::new(src).finish().expect("finish");
    assert_eq!(info.sha256, Sha256::digest(bytes));
    assert_eq!(info.bytes, bytes.len() as u64);
});
