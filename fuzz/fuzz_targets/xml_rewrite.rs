//! The XML rewriter (pseudonymised extracts) on arbitrary bytes: no panic;
//! when the input is read to the end, the output is XML that the reader
//! reads to the end with the same records, and the hash is of every byte.
#![no_main]

use casebridge_model::{RecordSource, Sha256, TextRow, Want};
use casebridge_xml::{rewrite, RewriteConfig, XmlLimits, XmlSource, XmlSourceConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = XmlLimits {
        max_depth: 32,
        max_record_bytes: 4096,
        max_token_bytes: 1 << 16,
    };
    let config = RewriteConfig {
        record_paths: vec![
            "Message/Children/Child".into(),
            "Message/Children/Child/CINdetails".into(),
        ],
        targets: vec![
            (0, "ChildIdentifiers/LAchildID".into()),
            (0, "@id".into()),
            (1, "../ChildIdentifiers/LAchildID".into()),
            (1, "CINreferralDate".into()),
            (0, "/Message/Header/Source/LEA".into()),
        ],
        keep_markup: data.first().is_some_and(|b| b & 1 == 1),
        limits,
    };
    let mut out = Vec::new();
    // Every value read becomes a value needing escapes, so escaping is tested.
    let mut edit = |v: &casebridge_xml::Value<'_>| {
        (!v.targets.is_empty()).then(|| "<&\"'>\r\n x".to_string())
    };
    let Ok(info) = rewrite(Box::new(std::io::Cursor::new(data.to_vec())), &mut out, &config, &mut edit)
    else {
        return;
    };
    assert_eq!(info.sha256, Sha256::digest(data));
    // The output reads back: the same records, every value decodable.
    for (i, record) in config.record_paths.iter().enumerate() {
        let fields: Vec<String> = config
            .targets
            .iter()
            .filter(|(r, _)| *r == i)
            .map(|(_, p)| p.clone())
            .collect();
        let want = vec![Want::Text; fields.len()];
        let cfg = XmlSourceConfig {
            record_path: record.clone(),
            fields,
            limits: XmlLimits { max_record_bytes: 1 << 20, ..limits },
            ..XmlSourceConfig::default()
        };
        let mut src = match XmlSource::from_reader("out.xml", Box::new(std::io::Cursor::new(out.clone())), cfg) {
            Ok(s) => s,
            Err(e) => panic!("rewritten output does not open: {e}"),
        };
        let mut row = TextRow::new();
        let mut n = 0u64;
        loop {
            match src.read_row(&mut row, &want) {
                Ok(true) => n += 1,
                Ok(false) => break,
                Err(e) if e.recoverable => n += 1,
                Err(e) => panic!("rewritten output does not read: {e}"),
            }
        }
        assert_eq!(n, info.records[i], "records of {record}");
    }
});
