//! The element paths of XML mappings, checked at load time so that a typo is
//! a message with its line rather than a field that is silently empty.
//!
//! A record path is `Name/Name/...` from the root (a leading `/` is allowed).
//! A field path is relative to the record element: `A/B`, `A/@attr`,
//! `@attr`, `.` (the record's own text), `../A/B` (from the record's parent,
//! seen before the record), or `/Root/A/B` (absolute, seen before the record).

/// What a path is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    /// The path of a record element.
    Record,
    /// A field path, relative to the record.
    Field,
}

fn name_ok(n: &str) -> bool {
    let mut chars = n.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_alphabetic() || first == '_' || first == ':')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

/// Checks `path`; returns it normalised (a record path without its leading `/`).
pub(crate) fn check(path: &str, what: Use) -> Result<String, String> {
    let bad = |why: &str| Err(format!("bad element path `{path}`: {why}"));
    let p = path.trim();
    if p.is_empty() {
        return bad("it is empty");
    }
    if what == Use::Field && p == "." {
        return Ok(p.to_string());
    }
    let mut rest = p;
    if let Some(r) = rest.strip_prefix('/') {
        rest = r;
    } else if what == Use::Field {
        while let Some(r) = rest.strip_prefix("../") {
            rest = r;
        }
    }
    if rest.is_empty() {
        return bad("it names no element");
    }
    let segments: Vec<&str> = rest.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if seg.is_empty() {
            return bad("an empty step (`//`)");
        }
        if *seg == ".." || *seg == "." {
            return bad("`..` may only lead a field path");
        }
        if let Some(attr) = seg.strip_prefix('@') {
            if what == Use::Record {
                return bad("a record is an element, not an attribute");
            }
            if !last {
                return bad("an attribute (`@name`) must be the last step");
            }
            if !name_ok(attr) {
                return bad("not an attribute name");
            }
        } else if !name_ok(seg) {
            return bad("a step is not an XML element name (no wildcards or predicates)");
        }
    }
    Ok(if what == Use::Record {
        rest.to_string()
    } else {
        p.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_and_field_paths() {
        assert_eq!(
            check("/Message/Children/Child", Use::Record).as_deref(),
            Ok("Message/Children/Child")
        );
        for ok in [
            "ChildIdentifiers/UPN",
            "@id",
            "A/@b",
            ".",
            "../ChildIdentifiers/LAchildID",
            "../../X",
            "/Message/Header/Source/LEA",
            "cin:Child",
        ] {
            assert!(check(ok, Use::Field).is_ok(), "{ok}");
        }
        for bad in [
            "", "A//B", "A/../B", "@a/B", "A/*", "A[1]", "1A", "..", "../",
        ] {
            assert!(check(bad, Use::Field).is_err(), "{bad:?}");
        }
        assert!(check("A/@b", Use::Record).is_err());
        assert!(check("../A", Use::Record).is_err());
    }
}
