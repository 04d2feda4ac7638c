//! Survivorship: the values a merged person keeps, field by field, by the
//! configured rule (source priority, most recent, most complete, most
//! common). The survivor keeps every source key and every provenance.

use casebridge_model::{Header, Person, Record, SourceKey};
use serde_json::{Map, Value};

use crate::config::{DedupConfig, Rule, PERSON_FIELDS};

/// Rank of a system in the priority list (unlisted systems after, equal).
fn rank(cfg: &DedupConfig, system: &str) -> usize {
    let p = &cfg.survivorship.source_priority;
    p.iter().position(|s| s == system).unwrap_or(p.len())
}

fn system_of(h: &Header) -> &str {
    h.source_keys.first().map_or("", |k| k.system.as_str())
}

fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Bool(b) => !b,
        _ => false,
    }
}

fn len_of(v: &Value) -> usize {
    match v {
        Value::String(s) => s.trim().chars().count(),
        Value::Null => 0,
        _ => 1,
    }
}

/// Merges the header of `members` (in read order) into the one of `base`:
/// its id, then every other source key and provenance, without repeats.
pub(crate) fn merge_headers<'a>(
    base: &Header,
    members: impl Iterator<Item = &'a Header>,
) -> Header {
    let mut h = base.clone();
    for m in members {
        for k in &m.source_keys {
            if !h.source_keys.contains(k) {
                h.source_keys.push(k.clone());
            }
        }
        for p in &m.provenance {
            if !h.provenance.contains(p) {
                h.provenance.push(p.clone());
            }
        }
    }
    h
}

/// The surviving person of a cluster. `members` are in read order (the
/// last is the most recent).
pub(crate) fn merge_persons(cfg: &DedupConfig, members: &[&Person]) -> Person {
    // The base (whose id survives): best source priority, then first read.
    let base = members
        .iter()
        .enumerate()
        .min_by_key(|(i, p)| (rank(cfg, system_of(&p.header)), *i))
        .map_or(0, |(i, _)| i);
    let maps: Vec<Map<String, Value>> = members
        .iter()
        .map(|p| match serde_json::to_value(p) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        })
        .collect();
    let mut out = maps.get(base).cloned().unwrap_or_default();
    for field in PERSON_FIELDS {
        let values: Vec<(usize, &Value)> = maps
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.get(*field).filter(|v| !is_blank(v)).map(|v| (i, v)))
            .collect();
        if values.is_empty() {
            continue;
        }
        let by_priority = |i: usize| (rank(cfg, system_of(&members[i].header)), i);
        let chosen = match cfg.rule(field) {
            Rule::SourcePriority => values.iter().min_by_key(|(i, _)| by_priority(*i)),
            Rule::MostRecent => values.last(),
            Rule::MostComplete => values
                .iter()
                .min_by_key(|(i, v)| (std::cmp::Reverse(len_of(v)), by_priority(*i))),
            Rule::MostCommon => values.iter().min_by_key(|(i, v)| {
                let n = values.iter().filter(|(_, w)| w == v).count();
                (std::cmp::Reverse(n), by_priority(*i))
            }),
        };
        if let Some((_, v)) = chosen {
            out.insert((*field).to_string(), (*v).clone());
        }
    }
    let mut person: Person = match serde_json::from_value(Value::Object(out)) {
        Ok(p) => p,
        Err(_) => members.get(base).map(|p| (*p).clone()).unwrap_or_default(),
    };
    let base_header = members
        .get(base)
        .map(|p| p.header.clone())
        .unwrap_or_default();
    person.header = merge_headers(&base_header, members.iter().map(|p| &p.header));
    person
}

/// The surviving note or entry of a near-duplicate cluster: the one with
/// the longest text (first read on a tie), with every key and provenance.
pub(crate) fn merge_texts(members: &[&Record]) -> Option<Record> {
    let best = members
        .iter()
        .enumerate()
        .max_by_key(|(i, r)| (crate::notes::text_of(r).len(), std::cmp::Reverse(*i)))
        .map(|(_, r)| (*r).clone())?;
    let mut best = best;
    let h = merge_headers(best.header(), members.iter().map(|r| r.header()));
    *best.header_mut() = h;
    Some(best)
}

/// A person field's value as text (for review sheets and `--show-values`).
pub fn person_value(p: &Person, field: &str) -> Option<String> {
    let v = serde_json::to_value(p).ok()?;
    match v.get(field)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The first source key of a record.
pub fn primary_key(h: &Header) -> SourceKey {
    h.source_keys.first().cloned().unwrap_or(SourceKey {
        system: String::new(),
        key: h.id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SurvivorshipConfig;
    use chrono::NaiveDate;

    fn p(
        system: &str,
        key: &str,
        first: &str,
        nhs: Option<&str>,
        postcode: Option<&str>,
    ) -> Person {
        Person {
            header: Header {
                id: format!("person:{key}"),
                source_keys: vec![SourceKey {
                    system: system.into(),
                    key: key.into(),
                }],
                provenance: vec![],
            },
            first_name: Some(first.into()),
            nhs_number: nhs.map(Into::into),
            postcode: postcode.map(Into::into),
            date_of_birth: NaiveDate::from_ymd_opt(2012, 3, 4),
            ..Person::default()
        }
    }

    #[test]
    fn rules_pick_per_field_and_keys_are_kept() {
        let mut cfg = DedupConfig {
            survivorship: SurvivorshipConfig {
                source_priority: vec!["lcs".into(), "mosaic".into()],
                ..SurvivorshipConfig::default()
            },
            ..DedupConfig::default()
        };
        cfg.survivorship
            .fields
            .insert("first_name".into(), Rule::SourcePriority);
        let a = p("mosaic", "1", "Tom", Some("9990000018"), Some("LU1 1AA"));
        let b = p("lcs", "X7", "Thomas", None, Some("LU2 2BB"));
        let c = p("mosaic", "2", "Tommy", Some("9990000018"), None);
        let m = merge_persons(&cfg, &[&a, &b, &c]);
        assert_eq!(m.header.id, "person:X7", "the lcs record is the base");
        assert_eq!(m.first_name.as_deref(), Some("Thomas"));
        assert_eq!(m.nhs_number.as_deref(), Some("9990000018"));
        assert_eq!(
            m.postcode.as_deref(),
            Some("LU2 2BB"),
            "most recent with a value"
        );
        let keys: Vec<&str> = m
            .header
            .source_keys
            .iter()
            .map(|k| k.key.as_str())
            .collect();
        assert_eq!(keys, ["X7", "1", "2"]);
    }
}
