//! Writes an XML document from mapped values: records given as `(path, text)`
//! pairs, with the paths of the reader's grammar, written in schema order.
//!
//! [`XmlLayout`] says what the document looks like: the record path (e.g.
//! `Message/Children/Child`), records nested in it (e.g.
//! `Message/Children/Child/CINdetails`, linked to their parent by a context
//! path such as `../ChildIdentifiers/LAchildID`), fixed document elements
//! outside the records (`/Message/Header/Source/LEA` and its text), and the
//! order of elements, from order lists (a mapping's `[source] columns`).
//! [`XmlWriter`] streams: [`XmlWriter::record`] writes one top-level record
//! with its nested records, so memory is bounded by one record, not by the
//! document.
//!
//! # Paths
//!
//! A value's path is read as the reader reads it (see the [crate
//! documentation](crate)), relative to its record element: `A/B`, `A/@id`,
//! `@id`, `.` (the record's own text), and for a nested record `../X`, a path
//! into its parent record. A `../` or absolute path that leads back into the
//! record is the relative path it names. Elements are written by their local
//! name (a `prefix:` is dropped; no namespaces are declared).
//!
//! A path the writer cannot place is an [`Error::Value`] naming the record
//! and the path (never the value), and nothing of that record is written; the
//! writer can go on with the next record:
//!
//! * a path that leads outside the record (`..` above a top-level record, or
//!   above a nested record's parent; an absolute path outside the record):
//!   document elements are the layout's ([`XmlLayout::document`]);
//! * a top-level record's path into a nested record (give it with the nested
//!   record);
//! * a nested record whose link is missing, empty, or not its parent's key;
//!   a nested `../X` whose text differs from the parent's (when the parent
//!   has no `X`, the nested record's value is written there);
//! * the record element's own text or an attribute given twice;
//! * a character XML 1.0 cannot hold (most C0 controls, U+FFFE, U+FFFF).
//!
//! # Order
//!
//! The children of an element are written in the order the layout's order
//! lists give them. Each list (the top-level record's, each nested record's,
//! then the document elements in the order given, then the record paths
//! themselves) ranks the children of every element it goes through by first
//! appearance; the rankings are merged so that every list's order is kept,
//! and elements that no list puts in order keep the order of the list that
//! names them first, except that the records and their containers go after
//! the siblings no list orders them with (so document elements come before
//! the records by default). Lists that contradict each other are an error
//! when the writer is made. So the CIN mappings' `columns`, in the DfE schema's order,
//! give `Header` before `Children` (the episodes' list names the header, then
//! `../ChildIdentifiers/LAchildID`), `ChildIdentifiers` before
//! `ChildCharacteristics` before `CINdetails`. Elements no list names go
//! after the listed ones, in the order given (siblings of one name together).
//!
//! # Repeats
//!
//! A value goes into the latest instance of each element on its path. A path
//! given again whose element already has its text (or attribute) opens a new
//! instance: of the deepest element on the path declared
//! [`repeating`](XmlLayout::repeating), or else of the element itself, so
//! `ChildCharacteristics/Disabilities/Disability` given twice gives two
//! `Disability` siblings in one `Disabilities`, and with `CINdetails/Assessments`
//! declared repeating, `Assessments/AssessmentActualStartDate` given twice
//! gives two `Assessments` (the values of one instance are given together).
//! A leaf that repeats inside a declared group is declared too
//! (`CINdetails/Assessments/FactorsIdentifiedAtAssessment/AssessmentFactors`),
//! or its second value would open a new group.
//!
//! Nested records are one level deep: inside the top-level record, not
//! inside each other.
//!
//! # Text
//!
//! UTF-8, `<?xml version="1.0" encoding="UTF-8"?>`, text escaped with
//! quick-xml's escaping (`<`, `>`, `&`, `'`, `"`) and a carriage return as
//! `&#13;` (attribute values also tab and line feed), so that a reader gets
//! the value back exactly. An empty (or whitespace-only) value is omitted,
//! and an element left with nothing in it is not written, unless the path is
//! [`required`](XmlLayout::required): then it is written empty (`<X/>`), also
//! when the record gives no value for it. Indentation is two spaces by default
//! ([`XmlLayout::indent`]); the output is the same bytes for the same input.
//!
//! # Example
//!
//! ```
//! use casebridge_xml::{XmlLayout, XmlWriter};
//!
//! let layout = XmlLayout::new("Message/Children/Child", ["ChildIdentifiers/LAchildID"])?
//!     .nested(
//!         "Message/Children/Child/CINdetails",
//!         ["/Message/Header/Source/LEA", "../ChildIdentifiers/LAchildID", "CINreferralDate"],
//!         "../ChildIdentifiers/LAchildID",
//!         "ChildIdentifiers/LAchildID",
//!     )?
//!     .document("/Message/Header/Source/LEA", "201")?
//!     .indent(None);
//! let mut w = XmlWriter::new(Vec::new(), layout)?;
//! let episode = vec![
//!     ("CINreferralDate", "2024-05-01"),
//!     ("../ChildIdentifiers/LAchildID", "C1"),
//! ];
//! w.record(&[("ChildIdentifiers/LAchildID", "C1")], &[(0, vec![episode])])?;
//! let xml = String::from_utf8(w.finish()?).unwrap();
//! assert_eq!(
//!     xml,
//!     "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Message><Header><Source><LEA>201</LEA>\
//!      </Source></Header><Children><Child><ChildIdentifiers><LAchildID>C1</LAchildID>\
//!      </ChildIdentifiers><CINdetails><CINreferralDate>2024-05-01</CINreferralDate>\
//!      </CINdetails></Child></Children></Message>\n"
//! );
//! # Ok::<(), casebridge_xml::Error>(())
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;

use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::QName;
use quick_xml::Writer;

use crate::paths::{record_segments, resolve};
use crate::{Error, Result};

/// No node.
const NONE: u32 = u32::MAX;

/// Rank of the first sibling no order list names.
const UNLISTED: u64 = 1 << 32;

/// A path resolved to element names from the root, and the attribute it ends
/// on, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    elements: Vec<String>,
    attr: Option<String>,
}

fn target(record: &[String], path: &str) -> Result<Target> {
    let record: Vec<&str> = record.iter().map(String::as_str).collect();
    let (elements, attr) = resolve(&record, path)?;
    Ok(Target {
        elements: elements.into_iter().map(str::to_string).collect(),
        attr: attr.map(str::to_string),
    })
}

fn field_error(field: &str, reason: &'static str) -> Error {
    Error::Field {
        field: field.to_string(),
        reason,
    }
}

/// Whether XML 1.0 can hold `c` (as text or as a character reference).
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

const BAD_CHAR: &str = "holds a character XML 1.0 cannot hold";

/// A record nested in the top-level record.
#[derive(Debug, Clone)]
struct NestedLayout {
    /// Element names from the root.
    record: Vec<String>,
    /// The link path as given (relative to the nested record).
    link: String,
    /// The parent's key, relative to the parent record element.
    key: Vec<String>,
    key_attr: Option<String>,
}

/// What an XML document written by [`XmlWriter`] looks like (see the
/// [module documentation](self)).
#[derive(Debug, Clone)]
pub struct XmlLayout {
    record_path: String,
    record: Vec<String>,
    nested: Vec<NestedLayout>,
    /// Order lists, each as element paths from the root.
    lists: Vec<Vec<Vec<String>>>,
    /// Document elements: path as given, resolved, text.
    document: Vec<(String, Target, String)>,
    /// Elements that repeat, from the root.
    repeating: Vec<Vec<String>>,
    /// Paths written even when empty, from the root.
    required: Vec<Target>,
    indent: Option<usize>,
}

impl XmlLayout {
    /// A layout for records at `record_path` (from the root element, e.g.
    /// `Message/Children/Child`; at least two elements, as records sit in a
    /// root element), with `order`, the paths of the record in document order
    /// (a mapping's `[source] columns`: relative, `../` and absolute paths
    /// alike).
    pub fn new<I, S>(record_path: &str, order: I) -> Result<XmlLayout>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let record: Vec<String> = record_segments(record_path)?
            .into_iter()
            .map(str::to_string)
            .collect();
        if record.len() < 2 {
            return Err(Error::RecordPath {
                path: record_path.to_string(),
                reason: "records are written inside a root element: give its path too",
            });
        }
        let mut layout = XmlLayout {
            record_path: record.join("/"),
            record,
            nested: Vec::new(),
            lists: Vec::new(),
            document: Vec::new(),
            repeating: Vec::new(),
            required: Vec::new(),
            indent: Some(2),
        };
        let list = layout.list(&layout.record, order)?;
        layout.lists.push(list);
        Ok(layout)
    }

    fn list<I, S>(&self, record: &[String], order: I) -> Result<Vec<Vec<String>>>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        order
            .into_iter()
            .map(|p| target(record, p.as_ref()).map(|t| t.elements))
            .collect()
    }

    /// Adds records nested in the top-level record at `record_path` (e.g.
    /// `Message/Children/Child/CINdetails`), with their order list and the
    /// context path that links one to its parent (`link`, e.g.
    /// `../ChildIdentifiers/LAchildID`), which must lead to the parent's
    /// `key` (`ChildIdentifiers/LAchildID`, relative to the parent). Its index
    /// (0 for the first) is how [`XmlWriter::record`] names it.
    pub fn nested<I, S>(
        mut self,
        record_path: &str,
        order: I,
        link: &str,
        key: &str,
    ) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let record: Vec<String> = record_segments(record_path)?
            .into_iter()
            .map(str::to_string)
            .collect();
        let rp_error = |reason| Error::RecordPath {
            path: record_path.to_string(),
            reason,
        };
        if record.len() <= self.record.len() || !record.starts_with(&self.record) {
            return Err(rp_error("a nested record must be inside the record"));
        }
        if self
            .nested
            .iter()
            .any(|n| record.starts_with(&n.record) || n.record.starts_with(&record))
        {
            return Err(rp_error(
                "nested records are inside the record only, not inside each other",
            ));
        }
        let link_to = target(&record, link)?;
        let key_to = target(&self.record, key)?;
        if link_to != key_to || !key_to.elements.starts_with(&self.record) {
            return Err(field_error(
                link,
                "the link must lead to the parent record's key",
            ));
        }
        if key_to.elements.starts_with(&record) {
            return Err(field_error(key, "the key is inside the nested record"));
        }
        let list = self.list(&record, order)?;
        self.lists.push(list);
        self.nested.push(NestedLayout {
            link: link.to_string(),
            key: key_to.elements[self.record.len()..].to_vec(),
            key_attr: key_to.attr,
            record,
        });
        Ok(self)
    }

    /// Adds a document element outside the records: `path` absolute (e.g.
    /// `/Message/Header/Source/LEA`, or an attribute, `/Message/@version`),
    /// with its text. Given several times, a path repeats as record values
    /// do. Written before the records unless the order lists, or the order
    /// the document elements are given in, put it after them.
    pub fn document(mut self, path: &str, text: &str) -> Result<Self> {
        if !path.trim().starts_with('/') {
            return Err(field_error(path, "a document element's path is absolute"));
        }
        let t = target(&self.record, path)?;
        if t.elements.starts_with(&self.record) {
            return Err(field_error(
                path,
                "a document element cannot be inside a record",
            ));
        }
        if !text.chars().all(xml_char) {
            return Err(field_error(path, BAD_CHAR));
        }
        self.document.push((path.to_string(), t, text.to_string()));
        Ok(self)
    }

    /// Declares an element that repeats as a group (e.g.
    /// `CINdetails/Assessments`, relative to the top-level record, or
    /// absolute): a value given again under it opens a new instance of it
    /// (see [Repeats](self#repeats)).
    pub fn repeating(mut self, path: &str) -> Result<Self> {
        let t = target(&self.record, path)?;
        if t.attr.is_some() {
            return Err(field_error(path, "an attribute cannot repeat"));
        }
        self.repeating.push(t.elements);
        Ok(self)
    }

    /// Declares a path (relative to the top-level record, or absolute) written
    /// even when its value is empty or not given: as an empty element (or
    /// attribute), in the latest instance of its parent.
    pub fn required(mut self, path: &str) -> Result<Self> {
        let t = target(&self.record, path)?;
        self.required.push(t);
        Ok(self)
    }

    /// Indentation: `Some(n)` spaces a level (the default, 2), or `None` for
    /// none (one line).
    pub fn indent(mut self, spaces: Option<usize>) -> Self {
        self.indent = spaces;
        self
    }
}

/// One element of the merged order.
#[derive(Debug)]
struct OrderNode {
    name: String,
    /// In merged order, once built.
    children: Vec<u32>,
    /// Position among its siblings.
    rank: u32,
}

/// The merged order of all lists, as a trie of element names from the
/// document node (node 0).
#[derive(Debug)]
struct Order {
    nodes: Vec<OrderNode>,
}

impl Order {
    fn child(&self, parent: u32, name: &str) -> u32 {
        if parent == NONE {
            return NONE;
        }
        self.nodes[parent as usize]
            .children
            .iter()
            .copied()
            .find(|&c| self.nodes[c as usize].name == name)
            .unwrap_or(NONE)
    }

    fn node(&self, path: &[String]) -> u32 {
        path.iter().fold(0, |at, name| self.child(at, name))
    }

    /// Merges the lists; nodes are numbered in order of first appearance,
    /// which breaks ties, except that the elements of `records` (the record
    /// paths and their containers) go after the siblings they are not put in
    /// order with.
    fn build(lists: &[Vec<Vec<String>>], records: &[Vec<String>]) -> Result<Order> {
        let mut order = Order {
            nodes: vec![OrderNode {
                name: String::new(),
                children: Vec::new(),
                rank: 0,
            }],
        };
        // Per node: each list's sequence of its children.
        let mut seqs: Vec<Vec<(usize, Vec<u32>)>> = vec![Vec::new()];
        for (li, list) in lists.iter().enumerate() {
            for path in list {
                let mut at = 0u32;
                for name in path {
                    let mut c = order.child(at, name);
                    if c == NONE {
                        c = order.nodes.len() as u32;
                        order.nodes.push(OrderNode {
                            name: name.clone(),
                            children: Vec::new(),
                            rank: 0,
                        });
                        seqs.push(Vec::new());
                        order.nodes[at as usize].children.push(c);
                    }
                    let s = &mut seqs[at as usize];
                    if s.last().is_none_or(|(l, _)| *l != li) {
                        s.push((li, Vec::new()));
                    }
                    if let Some((_, seq)) = s.last_mut() {
                        if !seq.contains(&c) {
                            seq.push(c);
                        }
                    }
                    at = c;
                }
            }
        }
        let mut late = Vec::new();
        for path in records {
            for depth in 1..=path.len() {
                let n = order.node(&path[..depth]);
                if n != NONE && !late.contains(&n) {
                    late.push(n);
                }
            }
        }
        for (n, seq) in seqs.iter().enumerate() {
            let merged = merge(&order.nodes[n].children, seq, &late).map_err(|stuck| {
                let mut path = order.path_of(n as u32);
                path.push(order.nodes[stuck as usize].name.clone());
                Error::Field {
                    field: path.join("/"),
                    reason: "the order lists disagree on where this element goes",
                }
            })?;
            for (rank, &c) in merged.iter().enumerate() {
                order.nodes[c as usize].rank = rank as u32;
            }
            order.nodes[n].children = merged;
        }
        Ok(order)
    }

    /// The element names from the root to node `n`.
    fn path_of(&self, n: u32) -> Vec<String> {
        fn walk(o: &Order, at: u32, n: u32, path: &mut Vec<String>) -> bool {
            if at == n {
                return true;
            }
            for &c in &o.nodes[at as usize].children {
                path.push(o.nodes[c as usize].name.clone());
                if walk(o, c, n, path) {
                    return true;
                }
                path.pop();
            }
            false
        }
        let mut path = Vec::new();
        walk(self, 0, n, &mut path);
        path
    }
}

/// A topological sort of `nodes` keeping every sequence's order, ties going
/// to nodes not in `late`, then to the lower node number; `Err` with a node
/// of a cycle.
fn merge(nodes: &[u32], seqs: &[(usize, Vec<u32>)], late: &[u32]) -> Result<Vec<u32>, u32> {
    let mut edges: Vec<(u32, u32)> = Vec::new();
    for (_, seq) in seqs {
        for w in seq.windows(2) {
            if !edges.contains(&(w[0], w[1])) {
                edges.push((w[0], w[1]));
            }
        }
    }
    let mut left: Vec<u32> = nodes.to_vec();
    left.sort_unstable_by_key(|n| (late.contains(n), *n));
    let mut out = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let ready = left
            .iter()
            .position(|&n| !edges.iter().any(|&(a, b)| b == n && left.contains(&a)));
        match ready {
            Some(i) => out.push(left.remove(i)),
            None => return Err(left[0]),
        }
    }
    Ok(out)
}

/// One element of a record (or of the document) being built.
#[derive(Debug)]
struct Elem {
    name: String,
    /// Its node in the [`Order`], or [`NONE`].
    order: u32,
    text: Option<String>,
    attrs: Vec<(String, String)>,
    children: Vec<u32>,
}

/// A tree of elements; creation order is the order given.
#[derive(Debug, Default)]
struct Tree {
    elems: Vec<Elem>,
}

impl Tree {
    fn clear(&mut self) {
        self.elems.clear();
    }

    fn create(&mut self, parent: Option<u32>, name: &str, order: &Order) -> u32 {
        // A tree's root is the document node (a record's root gets its
        // node from its caller).
        let order = match parent {
            Some(p) => order.child(self.elems[p as usize].order, name),
            None => 0,
        };
        let id = self.elems.len() as u32;
        self.elems.push(Elem {
            name: name.to_string(),
            order,
            text: None,
            attrs: Vec::new(),
            children: Vec::new(),
        });
        if let Some(p) = parent {
            self.elems[p as usize].children.push(id);
        }
        id
    }

    /// The latest child of `at` named `name`.
    fn latest(&self, at: u32, name: &str) -> Option<u32> {
        self.elems[at as usize]
            .children
            .iter()
            .rev()
            .copied()
            .find(|&c| self.elems[c as usize].name == name)
    }

    /// The element (or attribute) at `rel` below `base`, through latest instances.
    fn get(&self, base: u32, rel: &[String], attr: Option<&str>) -> Option<&str> {
        let mut at = base;
        for name in rel {
            at = self.latest(at, name)?;
        }
        let e = &self.elems[at as usize];
        match attr {
            None => e.text.as_deref(),
            Some(a) => e
                .attrs
                .iter()
                .find(|(k, _)| k == a)
                .map(|(_, v)| v.as_str()),
        }
    }

    fn free(&self, at: u32, attr: Option<&str>) -> bool {
        let e = &self.elems[at as usize];
        match attr {
            None => e.text.is_none(),
            Some(a) => !e.attrs.iter().any(|(k, _)| k == a),
        }
    }

    fn set(&mut self, at: u32, attr: Option<&str>, text: &str) {
        let e = &mut self.elems[at as usize];
        match attr {
            None => e.text = Some(text.to_string()),
            Some(a) => e.attrs.push((a.to_string(), text.to_string())),
        }
    }

    /// A new element at `rel` below `base`: the containers their latest
    /// instances, the last one new.
    fn open_new(&mut self, base: u32, rel: &[String], order: &Order) -> u32 {
        let mut at = base;
        for (j, name) in rel.iter().enumerate() {
            at = match self.latest(at, name) {
                Some(c) if j + 1 < rel.len() => c,
                _ => self.create(Some(at), name, order),
            };
        }
        at
    }

    /// Puts `text` at `rel` below `base` (see [Repeats](self#repeats));
    /// `repeating` holds the repeating elements' paths relative to `base`.
    fn put(
        &mut self,
        base: u32,
        rel: &[String],
        attr: Option<&str>,
        text: &str,
        repeating: &[Vec<String>],
        order: &Order,
    ) -> Result<(), &'static str> {
        if rel.is_empty() {
            if !self.free(base, attr) {
                return Err("the record element's own text or attribute is given twice");
            }
            self.set(base, attr, text);
            return Ok(());
        }
        let mut chain: Vec<u32> = Vec::with_capacity(rel.len());
        let mut at = base;
        for (j, name) in rel.iter().enumerate() {
            let last = j + 1 == rel.len();
            match self.latest(at, name) {
                Some(c) if !last => {
                    chain.push(c);
                    at = c;
                }
                Some(c) if self.free(c, attr) => {
                    self.set(c, attr, text);
                    return Ok(());
                }
                Some(_) => {
                    // Taken: a new instance of the deepest repeating element
                    // on the path, or of the element itself.
                    let r = (0..=j)
                        .rev()
                        .find(|&k| repeating.iter().any(|p| p[..] == rel[..=k]))
                        .unwrap_or(j);
                    let parent = if r == 0 { base } else { chain[r - 1] };
                    let mut at = parent;
                    for name in &rel[r..] {
                        at = self.create(Some(at), name, order);
                    }
                    self.set(at, attr, text);
                    return Ok(());
                }
                None => {
                    let mut at = at;
                    for name in &rel[j..] {
                        at = self.create(Some(at), name, order);
                    }
                    self.set(at, attr, text);
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// `at`'s children in document order.
    fn sorted(&self, at: u32, order: &Order) -> Vec<u32> {
        let kids = &self.elems[at as usize].children;
        let mut unlisted: Vec<&str> = Vec::new();
        let mut keyed: Vec<(u64, u32)> = kids
            .iter()
            .map(|&c| {
                let e = &self.elems[c as usize];
                let rank = if e.order != NONE {
                    u64::from(order.nodes[e.order as usize].rank)
                } else {
                    let i = match unlisted.iter().position(|n| *n == e.name) {
                        Some(i) => i,
                        None => {
                            unlisted.push(&e.name);
                            unlisted.len() - 1
                        }
                    };
                    UNLISTED + i as u64
                };
                (rank, c)
            })
            .collect();
        keyed.sort_unstable();
        keyed.into_iter().map(|(_, c)| c).collect()
    }
}

/// Text escaped for element content.
fn escape_text(s: &str) -> Cow<'_, str> {
    let e = quick_xml::escape::escape(s);
    if e.contains('\r') {
        Cow::Owned(e.replace('\r', "&#13;"))
    } else {
        e
    }
}

/// Text escaped for a double-quoted attribute value (whitespace kept, as
/// attribute-value normalisation would turn it into spaces).
fn escape_attr(s: &str) -> Cow<'_, str> {
    let e = quick_xml::escape::escape(s);
    if e.contains(['\t', '\n', '\r']) {
        Cow::Owned(
            e.replace('\t', "&#9;")
                .replace('\n', "&#10;")
                .replace('\r', "&#13;"),
        )
    } else {
        e
    }
}

fn io(e: std::io::Error) -> Error {
    Error::Io(e.kind())
}

fn start_tag(e: &Elem) -> BytesStart<'_> {
    let mut start = BytesStart::new(e.name.as_str());
    for (k, v) in &e.attrs {
        start.push_attribute(Attribute {
            key: QName(k.as_bytes()),
            value: Cow::Owned(escape_attr(v).into_owned().into_bytes()),
        });
    }
    start
}

fn write_elem<W: Write>(w: &mut Writer<W>, tree: &Tree, at: u32, order: &Order) -> Result<()> {
    let e = &tree.elems[at as usize];
    let kids = tree.sorted(at, order);
    let text = e.text.as_deref().filter(|t| !t.is_empty());
    if kids.is_empty() && text.is_none() {
        return w.write_event(Event::Empty(start_tag(e))).map_err(io);
    }
    w.write_event(Event::Start(start_tag(e))).map_err(io)?;
    if let Some(t) = text {
        w.write_event(Event::Text(BytesText::from_escaped(escape_text(t))))
            .map_err(io)?;
    }
    for k in kids {
        write_elem(w, tree, k, order)?;
    }
    w.write_event(Event::End(BytesEnd::new(e.name.as_str())))
        .map_err(io)
}

/// Where a value of one kind of record goes.
#[derive(Debug, Clone)]
enum Place {
    /// Below the record element.
    Own(Vec<String>, Option<String>),
    /// Below the parent record's element (a nested record's context).
    Parent(Vec<String>, Option<String>),
    /// The nested record's link.
    Link,
    Bad(&'static str),
}

/// A kind of record, compiled: the top-level one or a nested one.
#[derive(Debug)]
struct Kind {
    /// Element names from the root.
    record: Vec<String>,
    /// Repeating elements, relative to the record element.
    repeating: Vec<Vec<String>>,
    /// Required paths, relative to the record element.
    required: Vec<(Vec<String>, Option<String>)>,
    /// Places of the paths seen so far.
    places: HashMap<String, Place>,
}

const OUTSIDE: &str =
    "leads outside the record (elements outside the records are the layout's document elements)";
const INTO_NESTED: &str = "leads into a nested record: give it with that record";

/// Nested records given with a top-level record to [`XmlWriter::record`]:
/// the index of the nested record in the layout (in the order of
/// [`XmlLayout::nested`] calls), and the records, each its `(path, text)` pairs.
pub type Nested<P, V> = (usize, Vec<Vec<(P, V)>>);

/// Streams an XML document (see the [module documentation](self)).
pub struct XmlWriter<W: Write> {
    w: Writer<W>,
    order: Order,
    record_path: String,
    kinds: Vec<Kind>,
    nested: Vec<NestedLayout>,
    /// The document's elements and the containers of the records.
    doc: Tree,
    /// The containers from the root element down (indexes in `doc`).
    spine: Vec<u32>,
    /// The placeholder of the records in `doc`.
    slot: u32,
    /// Per container: the children written after the records.
    after: Vec<Vec<u32>>,
    started: bool,
    records: u64,
    tree: Tree,
}

impl<W: Write> std::fmt::Debug for XmlWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmlWriter")
            .field("record_path", &self.record_path)
            .field("records", &self.records)
            .finish()
    }
}

impl<W: Write> XmlWriter<W> {
    /// A writer of `layout`'s document onto `out`. Fails when the layout's
    /// order lists disagree, or a document element cannot be placed.
    /// Nothing is written before the first [`record`](Self::record) or
    /// [`finish`](Self::finish).
    pub fn new(out: W, layout: XmlLayout) -> Result<XmlWriter<W>> {
        let mut lists = layout.lists.clone();
        lists.push(
            layout
                .document
                .iter()
                .map(|(_, t, _)| t.elements.clone())
                .collect(),
        );
        let mut records = vec![layout.record.clone()];
        records.extend(layout.nested.iter().map(|n| n.record.clone()));
        lists.push(records.clone());
        let order = Order::build(&lists, &records)?;

        let relative = |record: &[String], inner: &[&[String]], t: &[String]| {
            (t.len() >= record.len()
                && t.starts_with(record)
                && !inner.iter().any(|n| t.starts_with(n)))
            .then(|| t[record.len()..].to_vec())
        };
        let nested_paths: Vec<&[String]> =
            layout.nested.iter().map(|n| n.record.as_slice()).collect();
        let mut kinds = Vec::new();
        for (i, record) in std::iter::once(&layout.record)
            .chain(layout.nested.iter().map(|n| &n.record))
            .enumerate()
        {
            let inner: &[&[String]] = if i == 0 { &nested_paths } else { &[] };
            kinds.push(Kind {
                record: record.clone(),
                repeating: layout
                    .repeating
                    .iter()
                    .filter_map(|p| relative(record, inner, p))
                    .collect(),
                required: layout
                    .required
                    .iter()
                    .filter_map(|t| {
                        relative(record, inner, &t.elements).map(|r| (r, t.attr.clone()))
                    })
                    .collect(),
                places: HashMap::new(),
            });
        }

        // The document: its root, the containers of the records, a slot for
        // the records, then its own elements.
        let mut doc = Tree::default();
        let root = doc.create(None, "", &order);
        let mut spine = Vec::new();
        let mut at = root;
        let n = layout.record.len();
        for name in &layout.record[..n - 1] {
            at = doc.create(Some(at), name, &order);
            spine.push(at);
        }
        let slot = doc.create(Some(at), &layout.record[n - 1], &order);
        let doc_repeating: Vec<Vec<String>> = layout
            .repeating
            .iter()
            .filter(|p| !p.starts_with(&layout.record))
            .cloned()
            .collect();
        let required_doc: Vec<(String, &Target)> = layout
            .required
            .iter()
            .filter(|t| !t.elements.starts_with(&layout.record))
            .map(|t| {
                let mut p = t.elements.join("/");
                if let Some(a) = &t.attr {
                    p.push_str("/@");
                    p.push_str(a);
                }
                (format!("/{p}"), t)
            })
            .collect();
        for (path, t, text) in &layout.document {
            if text.trim().is_empty() && !required_doc.iter().any(|(_, r)| *r == t) {
                continue;
            }
            let text = if text.trim().is_empty() { "" } else { text };
            doc.put(
                root,
                &t.elements,
                t.attr.as_deref(),
                text,
                &doc_repeating,
                &order,
            )
            .map_err(|reason| field_error(path, reason))?;
            // The records' containers stay one of each.
            let mut parent = root;
            for (i, name) in layout.record[..n - 1].iter().enumerate() {
                let count = doc.elems[parent as usize]
                    .children
                    .iter()
                    .filter(|&&c| doc.elems[c as usize].name == *name)
                    .count();
                if count != 1 {
                    return Err(field_error(
                        path,
                        "repeats an element the records are written in",
                    ));
                }
                parent = spine[i];
            }
        }
        for (path, t) in &required_doc {
            if doc.get(root, &t.elements, t.attr.as_deref()).is_none() {
                doc.put(
                    root,
                    &t.elements,
                    t.attr.as_deref(),
                    "",
                    &doc_repeating,
                    &order,
                )
                .map_err(|reason| field_error(path, reason))?;
            }
        }

        let w = match layout.indent {
            Some(n) => Writer::new_with_indent(out, b' ', n),
            None => Writer::new(out),
        };
        Ok(XmlWriter {
            w,
            order,
            record_path: layout.record_path,
            kinds,
            nested: layout.nested,
            doc,
            spine,
            slot,
            after: Vec::new(),
            started: false,
            records: 0,
            tree: Tree::default(),
        })
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The declaration, the document elements before the records and the
    /// containers' start tags.
    fn start(&mut self) -> Result<()> {
        self.started = true;
        self.w
            .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
            .map_err(io)?;
        for i in 0..self.spine.len() {
            let at = self.spine[i];
            let next = self.spine.get(i + 1).copied().unwrap_or(self.slot);
            let e = &self.doc.elems[at as usize];
            self.w.write_event(Event::Start(start_tag(e))).map_err(io)?;
            if let Some(t) = e.text.as_deref().filter(|t| !t.is_empty()) {
                self.w
                    .write_event(Event::Text(BytesText::from_escaped(escape_text(t))))
                    .map_err(io)?;
            }
            let kids = self.doc.sorted(at, &self.order);
            let split = kids.iter().position(|&k| k == next).unwrap_or(kids.len());
            for &k in &kids[..split] {
                write_elem(&mut self.w, &self.doc, k, &self.order)?;
            }
            self.after
                .push(kids.get(split + 1..).unwrap_or_default().to_vec());
        }
        Ok(())
    }

    /// Where a path of records of kind `k` goes (cached per path).
    fn place(&mut self, k: usize, path: &str) -> Place {
        if let Some(p) = self.kinds[k].places.get(path) {
            return p.clone();
        }
        let p = self.resolve_place(k, path);
        self.kinds[k].places.insert(path.to_string(), p.clone());
        p
    }

    fn resolve_place(&self, k: usize, path: &str) -> Place {
        let kind = &self.kinds[k];
        let t = match target(&kind.record, path) {
            Ok(t) => t,
            Err(e) => return Place::Bad(e.reason()),
        };
        let top = &self.kinds[0].record;
        let into_nested = |t: &Target| {
            self.nested
                .iter()
                .any(|n| t.elements.starts_with(&n.record))
        };
        if t.elements.starts_with(&kind.record) {
            if k == 0 && into_nested(&t) {
                return Place::Bad(INTO_NESTED);
            }
            return Place::Own(t.elements[kind.record.len()..].to_vec(), t.attr);
        }
        if k > 0 && t.elements.starts_with(top) {
            if into_nested(&t) {
                return Place::Bad(INTO_NESTED);
            }
            let n = &self.nested[k - 1];
            let rel = t.elements[top.len()..].to_vec();
            if rel == n.key && t.attr == n.key_attr {
                return Place::Link;
            }
            return Place::Parent(rel, t.attr);
        }
        Place::Bad(OUTSIDE)
    }

    /// Writes one top-level record from its `(path, text)` pairs, with its
    /// nested records: `(index of the nested record in the layout, records)`,
    /// each record its own pairs. Pairs are placed in the order given (see
    /// [Repeats](self#repeats)); a path the writer cannot place is an
    /// [`Error::Value`] and nothing of the record is written.
    pub fn record<P, V>(&mut self, values: &[(P, V)], nested: &[Nested<P, V>]) -> Result<()>
    where
        P: AsRef<str>,
        V: AsRef<str>,
    {
        if !self.started {
            self.start()?;
        }
        let top_at = |w: &Self| format!("{} {}", w.record_path, w.records + 1);
        let mut tree = std::mem::take(&mut self.tree);
        tree.clear();
        let record = self.kinds[0].record.clone();
        let root = tree.create(None, &record[record.len() - 1], &self.order);
        tree.elems[root as usize].order = self.order.node(&record);
        let mut built = self
            .build(&mut tree, root, 0, values)
            .map_err(|(path, reason)| Error::Value {
                record: top_at(self),
                path,
                reason,
            });
        'nested: for (ni, records) in nested {
            if built.is_err() {
                break;
            }
            for (j, rec) in records.iter().enumerate() {
                if let Err((path, reason)) = self.nested_record(&mut tree, root, *ni, rec) {
                    let name = self
                        .nested
                        .get(*ni)
                        .and_then(|n| n.record.last())
                        .map_or("nested", String::as_str);
                    built = Err(Error::Value {
                        record: format!("{}, {name} {}", top_at(self), j + 1),
                        path,
                        reason,
                    });
                    break 'nested;
                }
            }
        }
        let result = built.and_then(|()| write_elem(&mut self.w, &tree, root, &self.order));
        self.tree = tree;
        if result.is_ok() {
            self.records += 1;
        }
        result
    }

    /// Places a record's own values below `at`, then its required paths.
    fn build<P, V>(
        &mut self,
        tree: &mut Tree,
        at: u32,
        k: usize,
        values: &[(P, V)],
    ) -> Result<(), (String, &'static str)>
    where
        P: AsRef<str>,
        V: AsRef<str>,
    {
        for (path, text) in values {
            let (path, text) = (path.as_ref(), text.as_ref());
            match self.place(k, path) {
                Place::Own(rel, attr) => {
                    self.own(tree, at, k, &rel, attr.as_deref(), text)
                        .map_err(|r| (path.to_string(), r))?;
                }
                Place::Bad(reason) => return Err((path.to_string(), reason)),
                // Nested records' context: placed by `nested_record`.
                Place::Parent(..) | Place::Link => {}
            }
        }
        let kind = &self.kinds[k];
        for (rel, attr) in &kind.required {
            if tree.get(at, rel, attr.as_deref()).is_none() {
                tree.put(at, rel, attr.as_deref(), "", &kind.repeating, &self.order)
                    .map_err(|r| (rel.join("/"), r))?;
            }
        }
        Ok(())
    }

    fn own(
        &self,
        tree: &mut Tree,
        at: u32,
        k: usize,
        rel: &[String],
        attr: Option<&str>,
        text: &str,
    ) -> Result<(), &'static str> {
        let kind = &self.kinds[k];
        if text.trim().is_empty() {
            let required = kind
                .required
                .iter()
                .any(|(r, a)| r[..] == *rel && a.as_deref() == attr);
            if !required {
                return Ok(());
            }
        } else if !text.chars().all(xml_char) {
            return Err(BAD_CHAR);
        }
        let text = if text.trim().is_empty() { "" } else { text };
        tree.put(at, rel, attr, text, &kind.repeating, &self.order)
    }

    fn nested_record<P, V>(
        &mut self,
        tree: &mut Tree,
        root: u32,
        ni: usize,
        values: &[(P, V)],
    ) -> Result<(), (String, &'static str)>
    where
        P: AsRef<str>,
        V: AsRef<str>,
    {
        let Some(n) = self.nested.get(ni) else {
            return Err((
                ni.to_string(),
                "the layout has no nested record of this index",
            ));
        };
        let (link, key, key_attr) = (n.link.clone(), n.key.clone(), n.key_attr.clone());
        let rel = n.record[self.kinds[0].record.len()..].to_vec();
        let k = ni + 1;
        let mut linked = false;
        for (path, text) in values {
            let (path, text) = (path.as_ref(), text.as_ref());
            match self.place(k, path) {
                Place::Link => {
                    let parent = tree.get(root, &key, key_attr.as_deref());
                    if text.trim().is_empty() {
                        return Err((path.to_string(), "the link to the parent record is empty"));
                    }
                    if parent != Some(text) {
                        return Err((path.to_string(), "the link is not the parent record's key"));
                    }
                    linked = true;
                }
                Place::Parent(prel, attr) => {
                    if text.trim().is_empty() {
                        continue;
                    }
                    match tree.get(root, &prel, attr.as_deref()) {
                        Some(t) if t == text => {}
                        Some(_) => {
                            return Err((
                                path.to_string(),
                                "differs from the parent record's value",
                            ))
                        }
                        None => self
                            .own(tree, root, 0, &prel, attr.as_deref(), text)
                            .map_err(|r| (path.to_string(), r))?,
                    }
                }
                Place::Bad(reason) => return Err((path.to_string(), reason)),
                Place::Own(..) => {}
            }
        }
        if !linked {
            return Err((link, "a nested record needs its link to the parent record"));
        }
        let at = tree.open_new(root, &rel, &self.order);
        self.build(tree, at, k, values)
    }

    /// Writes what follows the records and closes the document; returns the
    /// output, flushed.
    pub fn finish(mut self) -> Result<W> {
        if !self.started {
            self.start()?;
        }
        for i in (0..self.spine.len()).rev() {
            let after = std::mem::take(&mut self.after[i]);
            for k in after {
                write_elem(&mut self.w, &self.doc, k, &self.order)?;
            }
            let e = &self.doc.elems[self.spine[i] as usize];
            self.w
                .write_event(Event::End(BytesEnd::new(e.name.as_str())))
                .map_err(io)?;
        }
        self.w.get_mut().write_all(b"\n").map_err(io)?;
        self.w.get_mut().flush().map_err(io)?;
        Ok(self.w.into_inner())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{XmlSource, XmlSourceConfig};
    use casebridge_model::{RecordSource, TextRow, Want};

    type Pairs = Vec<(&'static str, &'static str)>;

    const CHILD: &str = "Message/Children/Child";
    const EPISODE: &str = "Message/Children/Child/CINdetails";
    const LINK: &str = "../ChildIdentifiers/LAchildID";
    const KEY: &str = "ChildIdentifiers/LAchildID";

    /// A small CIN-like layout: children with their episodes, one header element.
    fn cin() -> XmlLayout {
        XmlLayout::new(
            CHILD,
            [
                KEY,
                "ChildIdentifiers/UPN",
                "ChildCharacteristics/Ethnicity",
                "ChildCharacteristics/Disabilities/Disability",
            ],
        )
        .unwrap()
        .nested(
            EPISODE,
            [
                "/Message/Header/Source/LEA",
                LINK,
                "CINreferralDate",
                "ReferralSource",
                "Assessments/AssessmentActualStartDate",
                "Assessments/FactorsIdentifiedAtAssessment/AssessmentFactors",
                "ReferralNFA",
            ],
            LINK,
            KEY,
        )
        .unwrap()
        .document("/Message/Header/Source/LEA", "201")
        .unwrap()
    }

    /// Writes records (own pairs, episodes) with `layout`.
    fn write(layout: XmlLayout, records: &[(Pairs, Vec<Pairs>)]) -> Result<String> {
        let mut w = XmlWriter::new(Vec::new(), layout)?;
        for (own, episodes) in records {
            let nested = if episodes.is_empty() {
                Vec::new()
            } else {
                vec![(0, episodes.clone())]
            };
            w.record(own, &nested)?;
        }
        Ok(String::from_utf8(w.finish()?).unwrap())
    }

    /// The records at `record` of `xml`, each the values of `fields`.
    fn read(xml: &str, record: &str, fields: &[&str]) -> Vec<Vec<String>> {
        let config = XmlSourceConfig::new(record, fields.iter().copied());
        let mut src = XmlSource::from_reader(
            "t.xml",
            Box::new(std::io::Cursor::new(xml.to_string())),
            config,
        )
        .unwrap();
        let want = vec![Want::Text; fields.len()];
        let mut row = TextRow::default();
        let mut out = Vec::new();
        while src.read_row(&mut row, &want).unwrap() {
            out.push(
                (0..fields.len())
                    .map(|i| row.get(i).unwrap_or("").to_string())
                    .collect(),
            );
        }
        out
    }

    #[test]
    fn a_record_with_its_episodes_is_written_in_schema_order() {
        let xml = write(
            cin(),
            &[(
                vec![("ChildCharacteristics/Ethnicity", "WBRI"), (KEY, "C1")],
                vec![vec![
                    ("ReferralSource", "1A"),
                    (LINK, "C1"),
                    ("CINreferralDate", "2020-01-01"),
                ]],
            )],
        )
        .unwrap();
        let want = r#"<?xml version="1.0" encoding="UTF-8"?>
<Message>
  <Header>
    <Source>
      <LEA>201</LEA>
    </Source>
  </Header>
  <Children>
    <Child>
      <ChildIdentifiers>
        <LAchildID>C1</LAchildID>
      </ChildIdentifiers>
      <ChildCharacteristics>
        <Ethnicity>WBRI</Ethnicity>
      </ChildCharacteristics>
      <CINdetails>
        <CINreferralDate>2020-01-01</CINreferralDate>
        <ReferralSource>1A</ReferralSource>
      </CINdetails>
    </Child>
  </Children>
</Message>
"#;
        assert_eq!(xml, want);
    }

    #[test]
    fn unlisted_paths_follow_the_listed_ones_in_the_order_given() {
        let layout = XmlLayout::new("R/Rec", ["B", "A/Y", "A/X"])
            .unwrap()
            .indent(None);
        let xml = write(
            layout,
            &[(
                vec![
                    ("Z", "z"),
                    ("A/X", "x"),
                    ("W", "w"),
                    ("A/V", "v"),
                    ("B", "b"),
                    ("Z", "z2"),
                    ("A/Y", "y"),
                ],
                vec![],
            )],
        )
        .unwrap();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><R><Rec><B>b</B>\
             <A><Y>y</Y><X>x</X><V>v</V></A><Z>z</Z><Z>z2</Z><W>w</W></Rec></R>\n"
        );
    }

    #[test]
    fn order_lists_are_merged_and_contradictions_refused() {
        // The record's list knows nothing of the header; the episode's list
        // puts it before the children.
        let xml = write(
            cin(),
            &[(
                vec![(KEY, "C1")],
                vec![vec![(LINK, "C1"), ("ReferralNFA", "false")]],
            )],
        )
        .unwrap();
        assert!(xml.find("<Header>").unwrap() < xml.find("<Children>").unwrap());
        let e = XmlLayout::new("R/Rec", ["A", "B"])
            .unwrap()
            .nested("R/Rec/N", ["../B", "../A"], "../A", "A")
            .unwrap();
        let e = XmlWriter::new(Vec::new(), e).unwrap_err();
        assert_eq!(e.path(), "R/Rec/A", "{e}");
        assert!(e.to_string().contains("disagree"), "{e}");
        // A trailer after the records when a list says so.
        let layout = XmlLayout::new("R/Rec", ["X", "/R/End"])
            .unwrap()
            .document("/R/Begin", "b")
            .unwrap()
            .document("/R/End", "e")
            .unwrap()
            .indent(None);
        let xml = write(
            layout,
            &[(vec![("X", "1")], vec![]), (vec![("X", "2")], vec![])],
        )
        .unwrap();
        assert!(
            xml.ends_with(
                "<R><Begin>b</Begin><Rec><X>1</X></Rec><Rec><X>2</X></Rec><End>e</End></R>\n"
            ),
            "{xml}"
        );
    }

    #[test]
    fn repeated_paths_are_repeated_siblings_or_new_groups() {
        let factors = "Assessments/FactorsIdentifiedAtAssessment/AssessmentFactors";
        let layout = cin()
            .repeating("CINdetails/Assessments")
            .unwrap()
            .repeating(&format!("/{EPISODE}/{factors}"))
            .unwrap();
        let start = "Assessments/AssessmentActualStartDate";
        let xml = write(
            layout.indent(None),
            &[(
                vec![
                    (KEY, "C1"),
                    ("ChildCharacteristics/Disabilities/Disability", "HAND"),
                    ("ChildCharacteristics/Disabilities/Disability", "HEAR"),
                ],
                vec![vec![
                    (LINK, "C1"),
                    (start, "2020-01-02"),
                    (factors, "2A"),
                    (factors, "2B"),
                    (start, "2020-03-04"),
                    (factors, "3A"),
                ]],
            )],
        )
        .unwrap();
        assert!(xml.contains(
            "<Disabilities><Disability>HAND</Disability><Disability>HEAR</Disability></Disabilities>"
        ), "{xml}");
        assert!(xml.contains(
            "<Assessments><AssessmentActualStartDate>2020-01-02</AssessmentActualStartDate>\
             <FactorsIdentifiedAtAssessment><AssessmentFactors>2A</AssessmentFactors>\
             <AssessmentFactors>2B</AssessmentFactors></FactorsIdentifiedAtAssessment></Assessments>\
             <Assessments><AssessmentActualStartDate>2020-03-04</AssessmentActualStartDate>\
             <FactorsIdentifiedAtAssessment><AssessmentFactors>3A</AssessmentFactors>\
             </FactorsIdentifiedAtAssessment></Assessments>"
        ), "{xml}");
        // Without the declaration the dates are siblings in one group.
        let xml = write(
            cin().indent(None),
            &[(
                vec![(KEY, "C1")],
                vec![vec![(LINK, "C1"), (start, "1"), (start, "2")]],
            )],
        )
        .unwrap();
        assert_eq!(xml.matches("<Assessments>").count(), 1, "{xml}");
        assert_eq!(
            xml.matches("<AssessmentActualStartDate>").count(),
            2,
            "{xml}"
        );
        // Two episodes, in the order given.
        let xml = write(
            cin().indent(None),
            &[(
                vec![(KEY, "C1")],
                vec![
                    vec![(LINK, "C1"), ("CINreferralDate", "2021-01-01")],
                    vec![(LINK, "C1"), ("CINreferralDate", "2020-01-01")],
                ],
            )],
        )
        .unwrap();
        assert!(
            xml.contains(
                "<CINdetails><CINreferralDate>2021-01-01</CINreferralDate></CINdetails>\
             <CINdetails><CINreferralDate>2020-01-01</CINreferralDate></CINdetails>"
            ),
            "{xml}"
        );
    }

    #[test]
    fn text_is_escaped_and_read_back_exactly() {
        let values = [
            "a < b & c > d",
            "\"quoted\" and 'single'",
            "Zoë Łukasz 山田",
            "line one\r\nline two\ttab",
            "]]> &amp; &#38;",
        ];
        let paths = ["A", "B", "C", "D", "@id"];
        let layout = XmlLayout::new("R/Rec", paths).unwrap();
        let own: Pairs = paths.iter().copied().zip(values.iter().copied()).collect();
        let xml = write(layout, &[(own, vec![])]).unwrap();
        assert!(xml.contains("<A>a &lt; b &amp; c &gt; d</A>"), "{xml}");
        assert!(xml.contains("<C>Zoë Łukasz 山田</C>"), "{xml}");
        assert!(xml.contains("&#13;"), "{xml}");
        let back = read(&xml, "R/Rec", &paths);
        assert_eq!(back, vec![values.map(String::from).to_vec()]);
    }

    #[test]
    fn empty_values_are_omitted_unless_required() {
        let layout = || {
            XmlLayout::new("R/Rec", ["A/B", "A/C", "D", "E"])
                .unwrap()
                .indent(None)
        };
        let own: Pairs = vec![("A/B", ""), ("A/C", "  "), ("D", "d"), ("E", "")];
        let xml = write(layout(), &[(own.clone(), vec![])]).unwrap();
        assert!(xml.contains("<Rec><D>d</D></Rec>"), "{xml}");
        let required = layout().required("A/C").unwrap().required("E").unwrap();
        let xml = write(required, &[(own, vec![]), (vec![("D", "2")], vec![])]).unwrap();
        assert!(
            xml.contains("<Rec><A><C/></A><D>d</D><E/></Rec><Rec><A><C/></A><D>2</D><E/></Rec>"),
            "{xml}"
        );
    }

    #[test]
    fn a_path_that_cannot_be_placed_is_an_error_naming_it_not_its_value() {
        let cases: Vec<(Pairs, Vec<Pairs>, &str, &str)> = vec![
            (
                vec![("../Other", "SECRET1")],
                vec![],
                "../Other",
                "outside the record",
            ),
            (
                vec![("/Message/Header/Source/LEA", "SECRET2")],
                vec![],
                "/Message/Header/Source/LEA",
                "outside the record",
            ),
            (
                vec![("CINdetails/ReferralSource", "SECRET3")],
                vec![],
                "CINdetails/ReferralSource",
                "nested record",
            ),
            (vec![("A//B", "SECRET4")], vec![], "A//B", "empty step"),
            (
                vec![(".", "SECRET5"), (".", "x")],
                vec![],
                ".",
                "given twice",
            ),
            (vec![("Bad", "SECRET6\u{1}")], vec![], "Bad", "cannot hold"),
            (
                vec![(KEY, "C1")],
                vec![vec![("../../Header/X", "SECRET7"), (LINK, "C1")]],
                "../../Header/X",
                "outside the record",
            ),
            (
                vec![(KEY, "C1")],
                vec![vec![(LINK, "SECRET8")]],
                LINK,
                "not the parent record's key",
            ),
            (
                vec![(KEY, "C1")],
                vec![vec![("CINreferralDate", "SECRET9")]],
                LINK,
                "needs its link",
            ),
            (
                vec![(KEY, "C1"), ("ChildIdentifiers/UPN", "A1")],
                vec![vec![(LINK, "C1"), ("../ChildIdentifiers/UPN", "SECRET10")]],
                "../ChildIdentifiers/UPN",
                "differs",
            ),
        ];
        for (own, episodes, path, why) in cases {
            let mut w = XmlWriter::new(Vec::new(), cin().indent(None)).unwrap();
            w.record(&[(KEY, "FIRST")], &[]).unwrap();
            let nested = if episodes.is_empty() {
                vec![]
            } else {
                vec![(0, episodes)]
            };
            let e = w.record(&own, &nested).unwrap_err();
            let msg = e.to_string();
            assert!(matches!(e, Error::Value { .. }), "{msg}");
            assert_eq!(e.path(), path, "{msg}");
            assert!(msg.contains(why), "{msg}");
            assert!(msg.contains("Message/Children/Child 2"), "{msg}");
            assert!(!msg.contains("SECRET"), "{msg}");
            // Nothing of it was written, and the writer goes on.
            w.record(&[(KEY, "THIRD")], &[]).unwrap();
            let xml = String::from_utf8(w.finish().unwrap()).unwrap();
            assert!(!xml.contains("SECRET"), "{xml}");
            assert_eq!(read(&xml, CHILD, &[KEY]), [["FIRST"], ["THIRD"]]);
        }
        // An unknown nested index.
        let mut w = XmlWriter::new(Vec::new(), cin()).unwrap();
        let e = w
            .record(&[(KEY, "C1")], &[(3, vec![vec![(LINK, "C1")]])])
            .unwrap_err();
        assert!(e.to_string().contains("no nested record"), "{e}");
    }

    #[test]
    fn a_nested_context_path_fills_its_parent_once() {
        let xml = write(
            cin().indent(None),
            &[(
                vec![(KEY, "C1")],
                vec![
                    vec![(LINK, "C1"), ("../ChildIdentifiers/UPN", "A123")],
                    vec![(LINK, "C1"), ("../ChildIdentifiers/UPN", "A123")],
                ],
            )],
        )
        .unwrap();
        assert!(
            xml.contains(
                "<ChildIdentifiers><LAchildID>C1</LAchildID><UPN>A123</UPN></ChildIdentifiers>"
            ),
            "{xml}"
        );
    }

    #[test]
    fn layouts_that_cannot_be_written_are_refused() {
        assert!(XmlLayout::new("Child", ["A"]).is_err());
        assert!(XmlLayout::new("R/Rec", ["A[1]"]).is_err());
        let l = || XmlLayout::new("R/Rec", ["A"]).unwrap();
        assert!(l()
            .document("Header/X", "1")
            .unwrap_err()
            .to_string()
            .contains("absolute"));
        assert!(l()
            .document("/R/Rec/X", "1")
            .unwrap_err()
            .to_string()
            .contains("inside a record"));
        assert!(l().document("/R/X", "\u{0}").is_err());
        assert!(l().nested("R/Other", ["A"], "../A", "A").is_err());
        assert!(l()
            .nested("R/Rec/N", ["A"], "../B", "A")
            .unwrap_err()
            .to_string()
            .contains("key"));
        assert!(l().document("/@v", "1").is_err());
        // A document element may not repeat the records' containers.
        let twice = l()
            .document("/R/@v", "1")
            .unwrap()
            .document("/R/@v", "2")
            .unwrap();
        let e = XmlWriter::new(Vec::new(), twice).unwrap_err();
        assert!(e.to_string().contains("records are written in"), "{e}");
    }

    #[test]
    fn attributes_and_own_text() {
        let layout = XmlLayout::new("R/Rec", ["@id", "A/@code", "A"])
            .unwrap()
            .document("/R/@version", "2")
            .unwrap()
            .indent(None);
        let xml = write(
            layout,
            &[(
                vec![
                    ("A", "text"),
                    ("@id", "7"),
                    ("A/@code", "x\"y"),
                    (".", "own"),
                ],
                vec![],
            )],
        )
        .unwrap();
        assert!(
            xml.ends_with(
                "<R version=\"2\"><Rec id=\"7\">own<A code=\"x&quot;y\">text</A></Rec></R>\n"
            ),
            "{xml}"
        );
        assert_eq!(
            read(&xml, "R/Rec", &["@id", "A/@code", "A"]),
            [["7", "x\"y", "text"]]
        );
    }

    #[test]
    fn output_is_deterministic_and_an_empty_document_is_well_formed() {
        let records = vec![
            (
                vec![(KEY, "C1"), ("ChildIdentifiers/UPN", "A1")],
                vec![vec![(LINK, "C1")]],
            ),
            (vec![(KEY, "C2")], vec![]),
        ];
        let a = write(cin(), &records).unwrap();
        let b = write(cin(), &records).unwrap();
        assert_eq!(a, b);
        let empty = write(cin().indent(None), &[]).unwrap();
        assert_eq!(
            empty,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Message><Header><Source><LEA>201</LEA>\
             </Source></Header><Children></Children></Message>\n"
        );
        assert!(read(&empty, CHILD, &[KEY]).is_empty());
    }
}
