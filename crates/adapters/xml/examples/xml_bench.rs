//! Throughput of [`XmlSource`] against a bare quick-xml event loop over the
//! same file (run by `scripts/bench-xml.sh`).
//!
//! usage: xml_bench source|details|quick-xml|quick-xml-hash FILE

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::time::Instant;

use casebridge_model::{RecordSource, TextRow, Want};
use casebridge_xml::{XmlSource, XmlSourceConfig};
use quick_xml::events::Event;
use quick_xml::Reader;
use sha2::Digest;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(path)) = (args.get(1), args.get(2)) else {
        return Err("usage: xml_bench source|details|quick-xml|quick-xml-hash FILE".into());
    };
    let start = Instant::now();
    let (bytes, units) = match mode.as_str() {
        "source" | "details" => {
            let config = if mode == "source" {
                XmlSourceConfig::new(
                    "Message/Children/Child",
                    [
                        "ChildIdentifiers/LAchildID",
                        "ChildIdentifiers/UPN",
                        "ChildIdentifiers/PersonBirthDate",
                        "ChildIdentifiers/GenderCurrent",
                        "ChildCharacteristics/Ethnicity",
                        "ChildCharacteristics/Disabilities/Disability",
                        "CINdetails/CINreferralDate",
                        "CINdetails/ReferralSource",
                        "CINdetails/PrimaryNeedCode",
                        "/Message/Header/Source/LEA",
                    ],
                )
            } else {
                XmlSourceConfig::new(
                    "Message/Children/Child/CINdetails",
                    [
                        "../ChildIdentifiers/LAchildID",
                        "CINreferralDate",
                        "ReferralSource",
                        "PrimaryNeedCode",
                        "Assessments/AssessmentActualStartDate",
                        "Assessments/FactorsIdentifiedAtAssessment/AssessmentFactors",
                        "/Message/Header/Source/LEA",
                    ],
                )
            };
            let mut src = Box::new(XmlSource::open(Path::new(path), config)?);
            let wanted = vec![Want::Text; src.columns().len()];
            let mut row = TextRow::new();
            let mut records = 0u64;
            let mut errors = 0u64;
            loop {
                match src.read_row(&mut row, &wanted) {
                    Ok(true) => records += 1,
                    Ok(false) => break,
                    Err(e) if e.recoverable => errors += 1,
                    Err(e) => return Err(e.into()),
                }
            }
            let info = src.finish()?;
            eprintln!("records {records}, errors {errors}, sha256 {}", info.sha256);
            (info.bytes, records)
        }
        "quick-xml" | "quick-xml-hash" => {
            let hash = mode == "quick-xml-hash";
            let file = File::open(path)?;
            let mut reader = Reader::from_reader(BufReader::with_capacity(
                128 * 1024,
                Hashing {
                    inner: file,
                    hasher: hash.then(sha2::Sha256::new),
                    bytes: 0,
                },
            ));
            reader.config_mut().trim_text(false);
            let mut buf = Vec::with_capacity(8192);
            let mut events = 0u64;
            loop {
                buf.clear();
                match reader.read_event_into(&mut buf)? {
                    Event::Eof => break,
                    _ => events += 1,
                }
            }
            let inner = reader.into_inner().into_inner();
            if let Some(h) = inner.hasher {
                eprintln!("sha256 {:x}", h.finalize());
            }
            (inner.bytes, events)
        }
        _ => return Err(format!("unknown mode {mode}").into()),
    };
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{mode}: {:.1} MB in {secs:.2} s = {:.0} MB/s ({units} {})",
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / secs,
        if mode.starts_with("quick") {
            "events"
        } else {
            "records"
        }
    );
    Ok(())
}

/// Counts (and optionally hashes) the bytes read.
struct Hashing {
    inner: File,
    hasher: Option<sha2::Sha256>,
    bytes: u64,
}

impl Read for Hashing {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        if let Some(h) = &mut self.hasher {
            h.update(&out[..n]);
        }
        self.bytes += n as u64;
        Ok(n)
    }
}
