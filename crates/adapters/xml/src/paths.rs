//! Compiles the record path and field paths into a trie of element names,
//! walked one start tag at a time while streaming.

use crate::Error;

/// No node: an element no path goes through.
pub(crate) const NONE: u32 = u32::MAX;

/// One element name on some path.
#[derive(Debug, Default)]
pub(crate) struct Node {
    /// Local name (empty for the document node).
    pub name: Box<[u8]>,
    /// Child nodes.
    pub children: Vec<u32>,
    /// Slots that collect this element's text.
    pub text: Vec<u32>,
    /// Slots that collect one of this element's attributes (by local name).
    pub attrs: Vec<(Box<[u8]>, u32)>,
    /// Context slots cleared when this element opens and when it closes.
    pub anchors: Vec<u32>,
    /// Whether this is the record element.
    pub record: bool,
}

/// The compiled paths. Node 0 is the document.
#[derive(Debug)]
pub(crate) struct Plan {
    pub nodes: Vec<Node>,
    /// Per slot (field): whether it is context, captured outside records.
    pub context: Vec<bool>,
}

fn field_error(field: &str, reason: &'static str) -> Error {
    Error::Field {
        field: field.to_string(),
        reason,
    }
}

/// Whether `n` is an XML name as a path may give it: a letter or `_` first,
/// then letters, digits, `_`, `-`, `.` (a `prefix:` allowed, its local part
/// a name too). No wildcards, predicates or spaces: such a step could never
/// match an element, so it is refused rather than left silently empty.
fn name_ok(n: &str) -> bool {
    let word = |w: &str| {
        let mut chars = w.chars();
        chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    match n.split_once(':') {
        Some((prefix, local)) => word(prefix) && word(local),
        None => word(n),
    }
}

/// The local part of a name segment (after any `prefix:`), if it is a name.
fn local(segment: &str) -> Option<&str> {
    if !name_ok(segment) {
        return None;
    }
    segment.rsplit(':').next()
}

/// Why a step is not an element name.
fn step_error(seg: &str) -> &'static str {
    if seg.is_empty() {
        "an empty step (`//`)"
    } else {
        "a step is not an XML element name (no wildcards or predicates)"
    }
}

/// The element names of a record path (from the root element; a leading
/// or trailing `/` is allowed).
pub(crate) fn record_segments(record_path: &str) -> Result<Vec<&str>, Error> {
    let rp_error = |reason| Error::RecordPath {
        path: record_path.to_string(),
        reason,
    };
    let trimmed = record_path.trim().trim_matches('/');
    if trimmed.is_empty() {
        return Err(rp_error("it names no element"));
    }
    let mut record = Vec::new();
    for seg in trimmed.split('/') {
        if seg.starts_with('@') {
            return Err(rp_error("a record is an element, not an attribute"));
        }
        if seg == "." || seg == ".." {
            return Err(rp_error("`.` and `..` may only lead a field path"));
        }
        match local(seg) {
            Some(l) => record.push(l),
            None => return Err(rp_error(step_error(seg))),
        }
    }
    Ok(record)
}

/// A field path read from records at `record`, as the element names from
/// the root element it leads to and the attribute it ends on, if any.
pub(crate) fn resolve<'a>(
    record: &[&'a str],
    field: &'a str,
) -> Result<(Vec<&'a str>, Option<&'a str>), Error> {
    let f = field.trim();
    if f.is_empty() {
        return Err(field_error(field, "it is empty"));
    }
    let (absolute, body) = match f.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (false, f),
    };
    let segs: Vec<&str> = body.split('/').collect();
    let mut elements: Vec<&str> = if absolute {
        Vec::new()
    } else {
        record.to_vec()
    };
    let mut attr: Option<&str> = None;
    let mut leading = !absolute;
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        match *seg {
            "." => continue,
            ".." if leading => {
                if elements.pop().is_none() {
                    return Err(field_error(field, "`..` goes above the root element"));
                }
                continue;
            }
            ".." => return Err(field_error(field, "`..` may only lead a field path")),
            s if s.starts_with('@') => {
                if !last {
                    return Err(field_error(
                        field,
                        "an attribute (`@name`) must be the last step",
                    ));
                }
                match local(&s[1..]) {
                    Some(a) => attr = Some(a),
                    None => return Err(field_error(field, "not an attribute name")),
                }
            }
            s => match local(s) {
                Some(l) => elements.push(l),
                None => return Err(field_error(field, step_error(s))),
            },
        }
        leading = false;
    }
    if elements.is_empty() {
        return Err(field_error(field, "it names no element"));
    }
    Ok((elements, attr))
}

impl Plan {
    /// The child of `parent` named `name`, or [`NONE`].
    #[inline]
    pub fn child(&self, parent: u32, name: &[u8]) -> u32 {
        if parent == NONE {
            return NONE;
        }
        let Some(p) = self.nodes.get(parent as usize) else {
            return NONE;
        };
        for &c in &p.children {
            if let Some(n) = self.nodes.get(c as usize) {
                if &*n.name == name {
                    return c;
                }
            }
        }
        NONE
    }

    /// The node for `path` (element names from the document), created as needed.
    fn insert(&mut self, path: &[&str]) -> u32 {
        let mut at = 0u32;
        for seg in path {
            let next = self.child(at, seg.as_bytes());
            at = if next == NONE {
                let id = self.nodes.len() as u32;
                self.nodes.push(Node {
                    name: seg.as_bytes().into(),
                    ..Node::default()
                });
                self.nodes[at as usize].children.push(id);
                id
            } else {
                next
            };
        }
        at
    }

    /// Compiles a record path and its fields.
    pub fn compile(record_path: &str, fields: &[String]) -> Result<Plan, Error> {
        let record = record_segments(record_path)?;
        if fields.len() >= NONE as usize {
            return Err(Error::RecordPath {
                path: record_path.to_string(),
                reason: "too many fields",
            });
        }
        let mut plan = Plan {
            nodes: vec![Node::default()],
            context: Vec::with_capacity(fields.len()),
        };
        let rec = plan.insert(&record);
        plan.nodes[rec as usize].record = true;

        for (slot, field) in fields.iter().enumerate() {
            let slot = slot as u32;
            let (elements, attr) = resolve(&record, field)?;
            let relative = elements.len() >= record.len() && elements[..record.len()] == record[..];
            let node = plan.insert(&elements);
            match attr {
                Some(a) => plan.nodes[node as usize]
                    .attrs
                    .push((a.as_bytes().into(), slot)),
                None => plan.nodes[node as usize].text.push(slot),
            }
            plan.context.push(!relative);
            if !relative {
                // Cleared with the element it hangs from: itself when it is
                // an ancestor of the record, else the deepest ancestor it
                // shares with the record path.
                let common = if record.starts_with(&elements) {
                    elements.len()
                } else {
                    elements
                        .iter()
                        .zip(&record)
                        .take_while(|(a, b)| a == b)
                        .count()
                };
                if common > 0 {
                    let anchor = plan.insert(&elements[..common]);
                    plan.nodes[anchor as usize].anchors.push(slot);
                }
            }
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fields(f: &[&str]) -> Vec<String> {
        f.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn compiles_relative_context_and_absolute_paths() {
        let plan = Plan::compile(
            "/cin:Message/Children/Child/CINdetails/",
            &fields(&[
                "CINreferralDate",
                "../ChildIdentifiers/LAchildID",
                "/Message/Header/Source/LEA",
                "@id",
                "../@id",
                "/Message/Children/Child/CINdetails/ReferralSource",
                "./Assessments/x:AssessmentFactors",
            ]),
        )
        .unwrap();
        assert_eq!(plan.context, [false, true, true, false, true, false, false]);
        let msg = plan.child(0, b"Message");
        let child = plan.child(plan.child(msg, b"Children"), b"Child");
        let cin = plan.child(child, b"CINdetails");
        assert!(plan.nodes[cin as usize].record);
        assert_eq!(plan.nodes[cin as usize].attrs[0].1, 3);
        // LAchildID and ../@id hang from the Child, LEA from the Message.
        assert_eq!(plan.nodes[child as usize].anchors, [1, 4]);
        assert_eq!(plan.nodes[msg as usize].anchors, [2]);
        let rs = plan.child(cin, b"ReferralSource");
        assert_eq!(plan.nodes[rs as usize].text, [5]);
    }

    #[test]
    fn rejects_bad_paths() {
        for (rp, f) in [
            ("", "A"),
            ("a/../b", "A"),
            ("a/*", "A"),
            ("a/b", ""),
            ("a/b", "../../../x"),
            ("a/b", "x/../y"),
            ("a/b", "@x/y"),
            ("a/b", "x[1]"),
            ("a/b", "/@x"),
            ("a/b", "@"),
        ] {
            assert!(Plan::compile(rp, &fields(&[f])).is_err(), "{rp} {f}");
        }
    }

    /// The cases of the mapping crate's former checker (`xmlpath.rs`), now
    /// answered by this one grammar. Where the two disagreed, the reader's
    /// answer won when it could read the path (`..`, `./A`, a trailing `/`
    /// on a record path), the stricter one when the path could never match
    /// (`1A`, `cin:`, climbing above the root, `/@x`).
    #[test]
    fn one_grammar_for_mapping_load_and_reading() {
        let record = record_segments("/Message/Children/Child").unwrap();
        assert_eq!(record, ["Message", "Children", "Child"]);
        for ok in [
            "ChildIdentifiers/UPN",
            "@id",
            "A/@b",
            ".",
            "..",
            "./A",
            "../ChildIdentifiers/LAchildID",
            "../../X",
            "/Message/Header/Source/LEA",
            "cin:Child",
        ] {
            assert!(resolve(&record, ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("A//B", "empty step"),
            ("A/../B", "may only lead"),
            ("@a/B", "last step"),
            ("A/*", "not an XML element name"),
            ("A[1]", "not an XML element name"),
            ("1A", "not an XML element name"),
            ("cin:", "not an XML element name"),
            ("../", "empty step"),
            ("../../../../X", "above the root"),
            ("/@x", "names no element"),
        ] {
            let e = resolve(&record, bad).unwrap_err();
            assert!(e.reason().contains(why), "{bad:?}: {e}");
        }
        for bad in ["A/@b", "../A", "A//B", "", "A/*"] {
            assert!(record_segments(bad).is_err(), "{bad:?}");
        }
    }
}
