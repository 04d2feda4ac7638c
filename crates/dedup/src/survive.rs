//! Survivorship: the values a merged person keeps, field by field, by the
//! configured rule (source priority, most recent, most complete, most
//! common). The survivor keeps every source key and every provenance.
//!
//! Members are moved in, not cloned, and each is read once: a cluster of a
//! hundred thousand copies costs time and memory linear in its size.

use std::hash::{Hash, Hasher};

use casebridge_model::{Header, Person, Provenance, Record, SourceKey};
use rustc_hash::{FxHashMap, FxHashSet, FxHasher};
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

fn fingerprint(p: &Provenance) -> u64 {
    let mut h = FxHasher::default();
    p.source.system.hash(&mut h);
    p.source.file.hash(&mut h);
    p.source.sha256.hash(&mut h);
    p.locator.hash(&mut h);
    p.mapping.id.hash(&mut h);
    p.content_sha256.hash(&mut h);
    h.finish()
}

/// Merges the headers of `members` (in read order) into `base`: its id,
/// then every other source key and provenance, without repeats. Moves,
/// and checks repeats by hash (linear in the members).
pub(crate) fn merge_headers(mut base: Header, members: impl Iterator<Item = Header>) -> Header {
    let mut keys: FxHashSet<SourceKey> = base.source_keys.iter().cloned().collect();
    let mut provs: FxHashMap<u64, Vec<usize>> = FxHashMap::default();
    for (i, p) in base.provenance.iter().enumerate() {
        provs.entry(fingerprint(p)).or_default().push(i);
    }
    for m in members {
        for k in m.source_keys {
            if !keys.contains(&k) {
                keys.insert(k.clone());
                base.source_keys.push(k);
            }
        }
        // An extra the survivor lacks is taken from the first member that has it.
        for (k, v) in m.extras {
            base.extras.entry(k).or_insert(v);
        }
        for p in m.provenance {
            let at = provs.entry(fingerprint(&p)).or_default();
            if at.iter().any(|&i| base.provenance[i] == p) {
                continue;
            }
            at.push(base.provenance.len());
            base.provenance.push(p);
        }
    }
    base
}

/// What one field's rule has chosen so far.
#[derive(Default)]
struct Choice {
    /// Sort key (smaller wins) and value.
    best: Option<((usize, usize, usize), Value)>,
    /// `most_common`: per distinct value (as JSON text), its count, its
    /// best (rank, read order) and the value.
    common: FxHashMap<String, (u64, (usize, usize), Value)>,
}

/// The surviving person of a cluster. `members` are in read order (the
/// last is the most recent).
pub(crate) fn merge_persons(cfg: &DedupConfig, mut members: Vec<Person>) -> Person {
    let ranks: Vec<usize> = members
        .iter()
        .map(|p| rank(cfg, system_of(&p.header)))
        .collect();
    // The base (whose id survives): best source priority, then first read.
    let base = (0..members.len())
        .min_by_key(|&i| (ranks[i], i))
        .unwrap_or(0);
    let rules: Vec<Rule> = PERSON_FIELDS.iter().map(|f| cfg.rule(f)).collect();
    let mut choices: Vec<Choice> = PERSON_FIELDS.iter().map(|_| Choice::default()).collect();
    let mut base_map = Map::new();
    for (i, p) in members.iter().enumerate() {
        let mut map = match serde_json::to_value(p) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        for (f, field) in PERSON_FIELDS.iter().enumerate() {
            let Some(v) = map.get(*field).filter(|v| !is_blank(v)) else {
                continue;
            };
            let c = &mut choices[f];
            let prio = (ranks[i], i);
            let key = match rules[f] {
                Rule::SourcePriority => (prio.0, prio.1, 0),
                // Later wins: the key falls as i grows.
                Rule::MostRecent => (usize::MAX - i, 0, 0),
                Rule::MostComplete => (usize::MAX - len_of(v), prio.0, prio.1),
                Rule::MostCommon => {
                    let e = c
                        .common
                        .entry(v.to_string())
                        .or_insert_with(|| (0, prio, v.clone()));
                    e.0 += 1;
                    e.1 = e.1.min(prio);
                    continue;
                }
            };
            if c.best.as_ref().is_none_or(|(k, _)| key < *k) {
                c.best = Some((key, v.clone()));
            }
        }
        if i == base {
            base_map = std::mem::take(&mut map);
        }
    }
    let mut out = base_map;
    for (f, field) in PERSON_FIELDS.iter().enumerate() {
        let c = std::mem::take(&mut choices[f]);
        let chosen = match rules[f] {
            Rule::MostCommon => c
                .common
                .into_values()
                .min_by_key(|(n, prio, _)| (std::cmp::Reverse(*n), *prio))
                .map(|(_, _, v)| v),
            _ => c.best.map(|(_, v)| v),
        };
        if let Some(v) = chosen {
            out.insert((*field).to_string(), v);
        }
    }
    let base_person = if base < members.len() {
        members.remove(base)
    } else {
        Person::default()
    };
    let mut person: Person = match serde_json::from_value(Value::Object(out)) {
        Ok(p) => p,
        Err(_) => base_person.clone(),
    };
    let base_header = base_person.header;
    person.header = merge_headers(base_header, members.into_iter().map(|p| p.header));
    person
}

/// The surviving note or entry of a near-duplicate cluster: the one with
/// the longest text (first read on a tie), with every key and provenance.
pub(crate) fn merge_texts(mut members: Vec<Record>) -> Option<Record> {
    let best = members
        .iter()
        .enumerate()
        .max_by_key(|(i, r)| (crate::notes::text_len(r), std::cmp::Reverse(*i)))
        .map(|(i, _)| i)?;
    let mut best = members.remove(best);
    let h = std::mem::take(best.header_mut());
    *best.header_mut() = merge_headers(
        h,
        members
            .into_iter()
            .map(|mut r| std::mem::take(r.header_mut())),
    );
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
                extras: Default::default(),
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
        let m = merge_persons(&cfg, vec![a, b, c]);
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
