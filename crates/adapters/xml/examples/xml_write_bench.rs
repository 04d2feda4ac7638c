//! Throughput and memory of [`XmlWriter`]: writes a CIN-shaped return of N
//! made-up children, two episodes each, to FILE.
//!
//! usage: xml_write_bench N FILE

use std::fs::File;
use std::io::BufWriter;
use std::time::Instant;

use casebridge_xml::{XmlLayout, XmlWriter};

const CHILD: &[&str] = &[
    "ChildIdentifiers/LAchildID",
    "ChildIdentifiers/UPN",
    "ChildIdentifiers/PersonBirthDate",
    "ChildIdentifiers/Sex",
    "ChildCharacteristics/Ethnicity",
    "ChildCharacteristics/Disabilities/Disability",
];
const EPISODE: &[&str] = &[
    "/Message/Header/Source/LEA",
    "../ChildIdentifiers/LAchildID",
    "CINreferralDate",
    "ReferralSource",
    "PrimaryNeedCode",
    "CINclosureDate",
    "ReasonForClosure",
    "Assessments/AssessmentActualStartDate",
    "Assessments/AssessmentAuthorisationDate",
    "Assessments/FactorsIdentifiedAtAssessment/AssessmentFactors",
    "ReferralNFA",
];

/// Peak resident memory, from /proc (Linux), in KiB.
fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(n), Some(path)) = (args.get(1), args.get(2)) else {
        return Err("usage: xml_write_bench N FILE".into());
    };
    let n: u64 = n.parse()?;
    let layout = XmlLayout::new("Message/Children/Child", CHILD)?
        .nested(
            "Message/Children/Child/CINdetails",
            EPISODE,
            "../ChildIdentifiers/LAchildID",
            "ChildIdentifiers/LAchildID",
        )?
        .repeating("CINdetails/Assessments")?
        .repeating("CINdetails/Assessments/FactorsIdentifiedAtAssessment/AssessmentFactors")?
        .document("/Message/Header/CollectionDetails/Collection", "CIN")?
        .document("/Message/Header/Source/LEA", "999")?;
    let out = BufWriter::with_capacity(1 << 16, File::create(path)?);
    let mut w = XmlWriter::new(out, layout)?;
    let start = Instant::now();
    for i in 0..n {
        let id = (100_000 + i).to_string();
        let child = vec![
            ("ChildCharacteristics/Ethnicity", "WBRI".to_string()),
            ("ChildIdentifiers/LAchildID", id.clone()),
            ("ChildIdentifiers/UPN", format!("A{:012}", i)),
            ("ChildIdentifiers/PersonBirthDate", "2015-04-01".to_string()),
            ("ChildIdentifiers/Sex", "F".to_string()),
            (
                "ChildCharacteristics/Disabilities/Disability",
                "NONE".to_string(),
            ),
        ];
        let episode = |d: &str| {
            vec![
                ("../ChildIdentifiers/LAchildID", id.clone()),
                ("CINreferralDate", d.to_string()),
                ("ReferralSource", "3C".to_string()),
                ("PrimaryNeedCode", "N1".to_string()),
                ("Assessments/AssessmentActualStartDate", d.to_string()),
                (
                    "Assessments/FactorsIdentifiedAtAssessment/AssessmentFactors",
                    "4B".to_string(),
                ),
                (
                    "Assessments/FactorsIdentifiedAtAssessment/AssessmentFactors",
                    "12A".to_string(),
                ),
                ("ReferralNFA", "false".to_string()),
            ]
        };
        w.record(
            &child,
            &[(0, vec![episode("2020-05-01"), episode("2023-10-22")])],
        )?;
    }
    let out = w.finish()?;
    drop(out);
    let secs = start.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(path)?.len();
    println!(
        "{n} children, {:.1} MB in {secs:.2} s: {:.0} records/s, {:.1} MB/s, peak {} KiB",
        bytes as f64 / 1e6,
        n as f64 / secs,
        bytes as f64 / 1e6 / secs,
        peak_kib().unwrap_or(0)
    );
    Ok(())
}
