//! Streaming rewrite of an XML document: the same elements, attributes,
//! order, declaration, comments' places and whitespace, with the values of
//! text and attributes replaced by a callback.
//!
//! [`rewrite`] pulls events from the same guarded byte stream as
//! [`XmlSource`](crate::XmlSource) (DTDs refused, depth and token limits, the
//! input hashed) and writes every token back as it came, byte for byte,
//! except:
//!
//! * a **text value**: a run of text and CDATA between two tags (entities and
//!   character references decoded) that is not whitespace only. The callback
//!   gets it with the [targets](RewriteConfig::targets) whose element holds
//!   it (its own or an ancestor's: a path reads an element's string value)
//!   and, per record path, the record it is in; it answers with a new value
//!   (written as escaped text) or `None` to keep the bytes as they are.
//!   Whitespace-only runs are structure and always kept.
//! * an **attribute value** that is not blank, with the targets naming that
//!   attribute; namespace declarations (`xmlns`, `xmlns:p`) and `xml:`
//!   attributes are structure and always kept. A replaced value keeps its
//!   quote character; the other attributes of the tag keep their bytes.
//! * **comments and processing instructions**, which no path reads: emptied
//!   (`<!---->`, `<?target?>`) unless [`RewriteConfig::keep_markup`].
//!
//! A replaced value is written in the document's encoding (UTF-8, or
//! Windows-1252 with numeric references for what it cannot hold). End tags
//! lose any whitespace after their name (`</a >` becomes `</a>`).
//!
//! Memory is bounded: one event and one text run (at most
//! [`XmlLimits::max_record_bytes`]) at a time, and the stack of open elements.

use std::io::{Read, Write};
use std::ops::Range;
use std::path::Path;

use casebridge_io::OutputFile;
use casebridge_model::{Locator, Sha256, SourceError, SourceErrorKind};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::input::{count_newlines, Input};
use crate::paths::{record_segments, resolve};
use crate::source::{declared_encoding, file_error, parse_error, start, DeclError};
use crate::text::{decode, unescape, Enc};
use crate::{Error, XmlLimits};

/// What to rewrite: record paths (so that values know which record they are
/// in) and target paths (so that values know which fields read them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewriteConfig {
    /// Element paths from the root, as in [`XmlSourceConfig::record_path`](crate::XmlSourceConfig::record_path).
    pub record_paths: Vec<String>,
    /// Field paths, each read from the records of one record path (its
    /// index in `record_paths`), with the syntax of
    /// [`XmlSourceConfig::fields`](crate::XmlSourceConfig::fields) (relative,
    /// `../` context, `/`-absolute, `@attr`). A target's id is its index here.
    pub targets: Vec<(usize, String)>,
    /// Copy comments and processing instructions instead of emptying them.
    pub keep_markup: bool,
    /// Size limits (`max_record_bytes` bounds one text value).
    pub limits: XmlLimits,
}

/// Where the current value is, for one record path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordAt {
    /// The 1-based index of the record the value is in (as
    /// [`Locator::XmlPath`] counts them), if it is inside one.
    pub open: Option<u64>,
    /// Records of this path started so far.
    pub seen: u64,
}

/// One value offered to the callback.
#[derive(Debug)]
pub struct Value<'a> {
    /// Ids of the targets that read it (empty: no target does).
    pub targets: &'a [u32],
    /// Per record path (same order as [`RewriteConfig::record_paths`]).
    pub records: &'a [RecordAt],
    /// Whether it is an attribute's value (else a text value).
    pub attribute: bool,
    /// The decoded value; `None` when it cannot be decoded (bytes invalid in
    /// the encoding, an undefined entity).
    pub text: Option<&'a str>,
}

/// What a rewrite read and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewriteInfo {
    /// SHA-256 of the input.
    pub sha256: Sha256,
    /// Bytes of input.
    pub bytes: u64,
    /// Records started, per record path.
    pub records: Vec<u64>,
    /// Values offered to the callback.
    pub values: u64,
    /// Values replaced.
    pub replaced: u64,
}

const NONE: u32 = u32::MAX;

#[derive(Debug, Default)]
struct Node {
    name: Box<[u8]>,
    children: Vec<u32>,
    text: Vec<u32>,
    attrs: Vec<(Box<[u8]>, u32)>,
    /// The record path this node is the record element of.
    record: Option<usize>,
}

#[derive(Debug)]
struct Trie {
    nodes: Vec<Node>,
}

impl Trie {
    fn child(&self, parent: u32, name: &[u8]) -> u32 {
        if parent == NONE {
            return NONE;
        }
        for &c in &self.nodes[parent as usize].children {
            if &*self.nodes[c as usize].name == name {
                return c;
            }
        }
        NONE
    }

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

    fn compile(config: &RewriteConfig) -> Result<Trie, Error> {
        let mut trie = Trie {
            nodes: vec![Node::default()],
        };
        let mut records = Vec::new();
        for (i, rp) in config.record_paths.iter().enumerate() {
            let segs = record_segments(rp)?;
            let node = trie.insert(&segs);
            trie.nodes[node as usize].record.get_or_insert(i);
            records.push(segs);
        }
        if config.targets.len() >= NONE as usize {
            return Err(Error::Field {
                field: String::new(),
                reason: "too many targets",
            });
        }
        for (id, (r, field)) in config.targets.iter().enumerate() {
            let Some(record) = records.get(*r) else {
                return Err(Error::Field {
                    field: field.clone(),
                    reason: "no such record path",
                });
            };
            let (elements, attr) = resolve(record, field)?;
            let node = trie.insert(&elements) as usize;
            match attr {
                Some(a) => trie.nodes[node]
                    .attrs
                    .push((a.as_bytes().into(), id as u32)),
                None => trie.nodes[node].text.push(id as u32),
            }
        }
        Ok(trie)
    }
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    node: u32,
    covering: usize,
}

fn is_blank(raw: &[u8]) -> bool {
    raw.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

fn io_error(e: std::io::Error) -> SourceError {
    file_error(SourceErrorKind::Io(format!(
        "cannot write the output: {}",
        e.kind()
    )))
}

/// Appends `s` escaped for text (`quote: None`) or for an attribute value
/// between `quote`s.
fn escape(s: &str, quote: Option<u8>, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '"' if quote == Some(b'"') => out.push_str("&quot;"),
            '\'' if quote == Some(b'\'') => out.push_str("&apos;"),
            '\t' if quote.is_some() => out.push_str("&#9;"),
            '\n' if quote.is_some() => out.push_str("&#10;"),
            c => out.push(c),
        }
    }
}

/// Decodes `raw` (escaped unless CDATA) onto `dec`; `false` if it cannot be.
fn decode_onto(raw: &[u8], escaped: bool, enc: Enc, dec: &mut String) -> bool {
    match decode(raw, enc) {
        Ok(s) if escaped && memchr::memchr(b'&', s.as_bytes()).is_some() => {
            unescape(&s, dec).is_ok()
        }
        Ok(s) => {
            dec.push_str(&s);
            true
        }
        Err(_) => false,
    }
}

struct Rewriter<'c> {
    config: &'c RewriteConfig,
    trie: Trie,
    enc: Enc,
    stack: Vec<Frame>,
    /// Text targets of the open elements.
    covering: Vec<u32>,
    records: Vec<RecordAt>,
    /// The current text run: raw bytes, and pieces (CDATA or not).
    run: Vec<u8>,
    pieces: Vec<(bool, Range<usize>)>,
    root_seen: bool,
    root_closed: bool,
    values: u64,
    replaced: u64,
    /// Scratch.
    dec: String,
    esc: String,
    attr_targets: Vec<u32>,
}

type Edit<'e> = dyn FnMut(&Value<'_>) -> Option<String> + 'e;

impl Rewriter<'_> {
    fn fail(&self, kind: SourceErrorKind, line: u64) -> SourceError {
        let (path, index) = match (self.config.record_paths.first(), self.records.first()) {
            (Some(p), Some(r)) => (p.trim().trim_matches('/').to_string(), r.seen.max(1)),
            _ => (String::new(), 1),
        };
        SourceError {
            kind,
            locator: Locator::XmlPath { path, index, line },
            recoverable: false,
        }
    }

    fn syntax(&self, msg: &str, line: u64) -> SourceError {
        self.fail(SourceErrorKind::Syntax(msg.into()), line)
    }

    /// Writes `s` in the document's encoding.
    fn put_str(&self, s: &str, out: &mut dyn Write) -> Result<(), SourceError> {
        match self.enc {
            Enc::Utf8 => out.write_all(s.as_bytes()),
            Enc::Windows1252 => out.write_all(&encoding_rs::WINDOWS_1252.encode(s).0),
        }
        .map_err(io_error)
    }

    fn push_run(&mut self, raw: &[u8], cdata: bool, input: &mut Input) -> Result<(), SourceError> {
        if self.stack.is_empty() && (cdata || !is_blank(raw)) {
            let line = input.line();
            return Err(self.syntax(
                if cdata {
                    "CDATA outside the root element"
                } else {
                    "text outside the root element"
                },
                line,
            ));
        }
        if self.run.len() + raw.len() > self.config.limits.max_record_bytes {
            let line = input.line();
            return Err(self.fail(
                SourceErrorKind::Limit(format!(
                    "a text value is longer than {} bytes",
                    self.config.limits.max_record_bytes
                )),
                line,
            ));
        }
        let at = self.run.len();
        self.run.extend_from_slice(raw);
        self.pieces.push((cdata, at..self.run.len()));
        Ok(())
    }

    /// Writes the pending text run, replaced if the callback says so.
    fn flush(&mut self, out: &mut dyn Write, edit: &mut Edit<'_>) -> Result<(), SourceError> {
        if self.pieces.is_empty() {
            return Ok(());
        }
        let blank = self
            .pieces
            .iter()
            .all(|(cdata, r)| !*cdata && is_blank(&self.run[r.clone()]));
        let mut replacement = None;
        if !blank {
            self.dec.clear();
            let run = std::mem::take(&mut self.run);
            let mut ok = true;
            for (cdata, r) in &self.pieces {
                ok &= decode_onto(&run[r.clone()], !cdata, self.enc, &mut self.dec);
            }
            self.run = run;
            self.values += 1;
            replacement = edit(&Value {
                targets: &self.covering,
                records: &self.records,
                attribute: false,
                text: ok.then_some(self.dec.as_str()),
            });
        }
        match replacement {
            Some(new) => {
                self.replaced += 1;
                self.esc.clear();
                escape(&new, None, &mut self.esc);
                self.put_str(&self.esc, out)?;
            }
            None => {
                for (cdata, r) in &self.pieces {
                    let raw = &self.run[r.clone()];
                    if *cdata {
                        out.write_all(b"<![CDATA[").map_err(io_error)?;
                        out.write_all(raw).map_err(io_error)?;
                        out.write_all(b"]]>").map_err(io_error)?;
                    } else {
                        out.write_all(raw).map_err(io_error)?;
                    }
                }
            }
        }
        self.run.clear();
        self.pieces.clear();
        if self.run.capacity() > 1 << 20 {
            self.run = Vec::new();
        }
        Ok(())
    }

    fn open(
        &mut self,
        e: &BytesStart<'_>,
        empty: bool,
        input: &mut Input,
        out: &mut dyn Write,
        edit: &mut Edit<'_>,
    ) -> Result<(), SourceError> {
        let line = |input: &mut Input| input.line().saturating_sub(count_newlines(e)).max(1);
        if self.stack.is_empty() && self.root_closed {
            let line = line(input);
            return Err(self.syntax("content after the root element", line));
        }
        if self.stack.len() >= self.config.limits.max_depth {
            let limit = self.config.limits.max_depth;
            let line = line(input);
            return Err(self.fail(SourceErrorKind::DepthLimit { limit }, line));
        }
        self.root_seen = true;
        let parent = self.stack.last().map_or(0, |f| f.node);
        let node = self.trie.child(parent, e.local_name().as_ref());
        let covering = self.covering.len();
        if node != NONE {
            let n = &self.trie.nodes[node as usize];
            if let Some(r) = n.record {
                let at = &mut self.records[r];
                at.seen += 1;
                at.open = Some(at.seen);
            }
            self.covering.extend_from_slice(&n.text);
        }
        self.stack.push(Frame { node, covering });

        // Attributes: values replaced in place, everything else as it was.
        let content: &[u8] = e;
        let base = content.as_ptr() as usize;
        let mut edits: Vec<(Range<usize>, String)> = Vec::new();
        for attr in e.attributes() {
            let Ok(attr) = attr else {
                let line = line(input);
                return Err(self.syntax("malformed attributes", line));
            };
            let key = attr.key;
            if key.as_namespace_binding().is_some()
                || key.prefix().is_some_and(|p| p.as_ref() == b"xml")
            {
                continue;
            }
            let raw: &[u8] = &attr.value;
            let start = (raw.as_ptr() as usize).wrapping_sub(base);
            let range = start..start + raw.len();
            if is_blank(raw)
                || range.end > content.len()
                || start == 0
                || content.get(range.clone()) != Some(raw)
            {
                continue;
            }
            let quote = content[start - 1];
            self.attr_targets.clear();
            if node != NONE {
                for (name, id) in &self.trie.nodes[node as usize].attrs {
                    if **name == *key.local_name().as_ref() {
                        self.attr_targets.push(*id);
                    }
                }
            }
            self.dec.clear();
            let ok = decode_onto(raw, true, self.enc, &mut self.dec);
            self.values += 1;
            if let Some(new) = edit(&Value {
                targets: &self.attr_targets,
                records: &self.records,
                attribute: true,
                text: ok.then_some(self.dec.as_str()),
            }) {
                let mut esc = String::new();
                escape(&new, Some(quote), &mut esc);
                edits.push((range, esc));
            }
        }
        out.write_all(b"<").map_err(io_error)?;
        let mut at = 0;
        for (range, new) in &edits {
            out.write_all(&content[at..range.start]).map_err(io_error)?;
            self.put_str(new, out)?;
            at = range.end;
            self.replaced += 1;
        }
        out.write_all(&content[at..]).map_err(io_error)?;
        out.write_all(if empty { b"/>" } else { b">" })
            .map_err(io_error)?;
        if empty {
            self.close();
        }
        Ok(())
    }

    fn close(&mut self) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        self.covering.truncate(frame.covering);
        if self.stack.is_empty() {
            self.root_closed = true;
        }
        if frame.node != NONE {
            if let Some(r) = self.trie.nodes[frame.node as usize].record {
                self.records[r].open = None;
            }
        }
    }
}

/// Rewrites the XML document read from `reader` onto `out` (see the
/// [module documentation](self)); `edit` decides each value. Nothing of a
/// document with a DTD is written past its XML declaration: write to a
/// temporary place and drop it on error, as [`rewrite_file`] does.
pub fn rewrite(
    reader: Box<dyn Read + Send>,
    out: &mut dyn Write,
    config: &RewriteConfig,
    edit: &mut Edit<'_>,
) -> Result<RewriteInfo, SourceError> {
    let trie = Trie::compile(config).map_err(|e| {
        file_error(SourceErrorKind::Syntax(format!(
            "invalid configuration: {e}"
        )))
    })?;
    let (mut reader, bom): (Reader<Input>, bool) = start(reader, &config.limits)?;
    if bom {
        out.write_all(&[0xEF, 0xBB, 0xBF]).map_err(io_error)?;
    }
    let mut w = Rewriter {
        config,
        trie,
        enc: Enc::Utf8,
        stack: Vec::new(),
        covering: Vec::new(),
        records: vec![RecordAt::default(); config.record_paths.len()],
        run: Vec::new(),
        pieces: Vec::new(),
        root_seen: false,
        root_closed: false,
        values: 0,
        replaced: 0,
        dec: String::new(),
        esc: String::new(),
        attr_targets: Vec::new(),
    };
    let mut buf = Vec::with_capacity(8192);
    loop {
        if buf.capacity() > 1 << 20 {
            buf = Vec::with_capacity(8192);
        }
        buf.clear();
        reader.get_mut().start_token();
        let ev = match reader.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(e) => {
                let input = reader.get_mut();
                let kind = parse_error(&e, input, &config.limits);
                let line = input.line();
                return Err(w.fail(kind, line));
            }
        };
        let input = reader.get_mut();
        match &ev {
            Event::Text(t) => {
                w.push_run(t, false, input)?;
                continue;
            }
            Event::CData(c) => {
                w.push_run(c, true, input)?;
                continue;
            }
            _ => w.flush(out, edit)?,
        }
        match ev {
            Event::Start(e) => w.open(&e, false, input, out, edit)?,
            Event::Empty(e) => w.open(&e, true, input, out, edit)?,
            Event::End(e) => {
                if w.stack.is_empty() {
                    let line = input.line();
                    return Err(w.syntax("end tag without a start tag", line));
                }
                w.close();
                out.write_all(b"</").map_err(io_error)?;
                out.write_all(e.as_ref()).map_err(io_error)?;
                out.write_all(b">").map_err(io_error)?;
            }
            Event::Comment(c) => {
                out.write_all(b"<!--").map_err(io_error)?;
                if config.keep_markup {
                    out.write_all(&c).map_err(io_error)?;
                }
                out.write_all(b"-->").map_err(io_error)?;
            }
            Event::PI(p) => {
                out.write_all(b"<?").map_err(io_error)?;
                out.write_all(if config.keep_markup { &p } else { p.target() })
                    .map_err(io_error)?;
                out.write_all(b"?>").map_err(io_error)?;
            }
            Event::Decl(d) => {
                match declared_encoding(&d, bom) {
                    Ok(Some(enc)) => w.enc = enc,
                    Ok(None) => {}
                    Err(DeclError::Malformed) => {
                        let line = input.line();
                        return Err(w.syntax("malformed XML declaration", line));
                    }
                    Err(DeclError::Unsupported(kind)) => return Err(file_error(kind)),
                }
                out.write_all(b"<?").map_err(io_error)?;
                out.write_all(&d).map_err(io_error)?;
                out.write_all(b"?>").map_err(io_error)?;
            }
            Event::DocType(d) => {
                let line = input.line().saturating_sub(count_newlines(&d)).max(1);
                return Err(w.fail(SourceErrorKind::Dtd, line));
            }
            Event::Eof => {
                if !w.stack.is_empty() {
                    let line = input.line();
                    return Err(w.syntax("end of file inside an element", line));
                }
                if !w.root_seen {
                    return Err(file_error(SourceErrorKind::Empty));
                }
                break;
            }
            Event::Text(_) | Event::CData(_) => {}
        }
    }
    out.flush().map_err(io_error)?;
    let (sha256, bytes) = reader
        .get_mut()
        .finish()
        .map_err(|e| file_error(SourceErrorKind::Io(e.kind().to_string())))?;
    Ok(RewriteInfo {
        sha256,
        bytes,
        records: w.records.iter().map(|r| r.seen).collect(),
        values: w.values,
        replaced: w.replaced,
    })
}

/// Rewrites the file `input` into `output`: written to an [`OutputFile`]
/// (an exclusive, owner-only temporary file beside `output`), synced and
/// renamed into place; on any error the temporary file is removed and
/// `output` is not touched.
pub fn rewrite_file(
    input: &Path,
    output: &Path,
    config: &RewriteConfig,
    edit: &mut Edit<'_>,
) -> Result<RewriteInfo, SourceError> {
    let file = std::fs::File::open(input)
        .map_err(|e| file_error(SourceErrorKind::Io(e.kind().to_string())))?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(file_error(SourceErrorKind::Io("is a directory".into())));
    }
    let output_error = |e: casebridge_io::Error| {
        io_error(
            e.io_error()
                .map_or(std::io::ErrorKind::Other, std::io::Error::kind)
                .into(),
        )
    };
    let mut out = OutputFile::create(output).map_err(output_error)?;
    let info = rewrite(Box::new(file), &mut out, config, edit)?;
    out.finish().map_err(output_error)?;
    Ok(info)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{XmlSource, XmlSourceConfig};
    use casebridge_model::{RecordSource, TextRow, Want};

    fn config(records: &[&str], targets: &[(usize, &str)], keep_markup: bool) -> RewriteConfig {
        RewriteConfig {
            record_paths: records.iter().map(|s| s.to_string()).collect(),
            targets: targets.iter().map(|(r, t)| (*r, t.to_string())).collect(),
            keep_markup,
            limits: XmlLimits::default(),
        }
    }

    fn run(
        doc: &[u8],
        config: &RewriteConfig,
        edit: &mut Edit<'_>,
    ) -> Result<(Vec<u8>, RewriteInfo), SourceError> {
        let mut out = Vec::new();
        let info = rewrite(
            Box::new(std::io::Cursor::new(doc.to_vec())),
            &mut out,
            config,
            edit,
        )?;
        Ok((out, info))
    }

    const ODD: &[u8] = b"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
<!-- a comment -->\n<?style href=\"x\"?>\n\
<c:Message xmlns:c=\"urn:x\" xmlns=\"urn:d\"   a = 'one'  b=\"t&amp;o\" >\r\n\
  <c:Child id=\"7\"><Name>A &amp; B &#233;&lt;</Name><Empty/><E2 x='1' /><![CDATA[ <raw> ]]>\n\
  mixed<i>x</i>tail</c:Child>\n\
</c:Message>\n<!-- after -->\n";

    #[test]
    fn keeping_every_value_copies_the_document_byte_for_byte() {
        let cfg = config(&["Message/Child"], &[(0, "Name"), (0, "@id")], true);
        let (out, info) = run(ODD, &cfg, &mut |_| None).unwrap();
        assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(ODD));
        assert_eq!(out, ODD);
        assert_eq!(info.records, [1]);
        assert_eq!(info.replaced, 0);
        assert_eq!(info.bytes, ODD.len() as u64);
    }

    #[test]
    fn unread_values_comments_and_instructions_are_emptied_structure_kept() {
        let cfg = config(&["Message/Child"], &[(0, "Name")], false);
        let mut seen = Vec::new();
        let (out, _) = run(ODD, &cfg, &mut |v| {
            seen.push((v.targets.to_vec(), v.attribute, v.text.map(str::to_string)));
            if v.targets.is_empty() {
                Some(String::new())
            } else {
                None
            }
        })
        .unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
<!---->\n<?style?>\n\
<c:Message xmlns:c=\"urn:x\" xmlns=\"urn:d\"   a = ''  b=\"\" >\r\n\
  <c:Child id=\"\"><Name>A &amp; B &#233;&lt;</Name><Empty/><E2 x='' /><i></i></c:Child>\n\
</c:Message>\n<!---->\n"
        );
        // Values are offered decoded; namespace declarations never are.
        assert!(seen.contains(&(vec![0], false, Some("A & B é<".into()))));
        assert!(seen.contains(&(vec![], true, Some("t&o".into()))));
        assert!(seen.contains(&(vec![], false, Some(" <raw> \nmixed".into()))));
        assert!(!seen.iter().any(|s| s.2.as_deref() == Some("urn:x")));
    }

    const CIN: &str =
        "<?xml version=\"1.0\"?>\n<Message>\n  <Header><LEA>999</LEA></Header>\n  <Children>\n\
    <Child>\n      <ChildIdentifiers><LAchildID>C1</LAchildID><UPN/></ChildIdentifiers>\n\
      <CINdetails ref=\"r1\"><CINreferralDate>2020-01-01</CINreferralDate></CINdetails>\n\
      <CINdetails ref=\"r2\"><CINreferralDate>2021-01-01</CINreferralDate></CINdetails>\n\
    </Child>\n    <Child>\n      <ChildIdentifiers><LAchildID>C2</LAchildID></ChildIdentifiers>\n\
      <CINdetails ref=\"r3\"><CINreferralDate>2022-01-01</CINreferralDate></CINdetails>\n\
    </Child>\n  </Children>\n</Message>\n";

    #[test]
    fn targets_relative_context_absolute_and_attributes_with_their_records() {
        let cfg = config(
            &[
                "Message/Children/Child",
                "/Message/Children/Child/CINdetails/",
            ],
            &[
                (0, "ChildIdentifiers/LAchildID"),
                (1, "../ChildIdentifiers/LAchildID"),
                (1, "CINreferralDate"),
                (1, "@ref"),
                (0, "/Message/Header/LEA"),
                (0, "ChildIdentifiers/UPN"),
            ],
            false,
        );
        let (out, info) = run(CIN.as_bytes(), &cfg, &mut |v| {
            let r: Vec<String> = v
                .records
                .iter()
                .map(|r| {
                    format!(
                        "{}/{}",
                        r.open.map_or("-".into(), |o| o.to_string()),
                        r.seen
                    )
                })
                .collect();
            Some(format!("{:?}{}", v.targets, r.join(",")))
        })
        .unwrap();
        let out = String::from_utf8(out).unwrap();
        let expected = CIN
            .replace(">999<", ">[4]-/0,-/0<")
            .replace(">C1<", ">[0, 1]1/1,-/0<")
            .replace("\"r1\"", "\"[3]1/1,1/1\"")
            .replace(">2020-01-01<", ">[2]1/1,1/1<")
            .replace("\"r2\"", "\"[3]1/1,2/2\"")
            .replace(">2021-01-01<", ">[2]1/1,2/2<")
            .replace(">C2<", ">[0, 1]2/2,-/2<")
            .replace("\"r3\"", "\"[3]2/2,3/3\"")
            .replace(">2022-01-01<", ">[2]2/2,3/3<");
        assert_eq!(out, expected);
        assert_eq!(info.records, [2, 3]);
        assert_eq!(info.values, 9);
    }

    #[test]
    fn replacements_are_escaped_and_read_back_exactly() {
        let doc = "<R><X a=\"1\" b='2'>v</X><X a=\"3\" b='4'>w</X></R>";
        let cfg = config(&["R/X"], &[(0, "."), (0, "@a"), (0, "@b")], false);
        let nasty = "a<b>&c\"d'e\tf\r\ng ]]> \u{e9}";
        let (out, _) = run(doc.as_bytes(), &cfg, &mut |_| Some(nasty.to_string())).unwrap();
        let mut src = XmlSource::from_reader(
            "x",
            Box::new(std::io::Cursor::new(out)),
            XmlSourceConfig::new("R/X", [".", "@a", "@b"]),
        )
        .unwrap();
        let mut row = TextRow::new();
        let mut n = 0;
        while src.read_row(&mut row, &[Want::Text; 3]).unwrap() {
            for i in 0..3 {
                assert_eq!(row.get(i).unwrap(), nasty);
            }
            n += 1;
        }
        assert_eq!(n, 2);
    }

    #[test]
    fn undecodable_values_are_offered_as_none() {
        let doc = "<R><X>a &undefined; b</X><X>&#0;</X><X>ok</X></R>";
        let cfg = config(&["R/X"], &[(0, ".")], false);
        let mut got = Vec::new();
        run(doc.as_bytes(), &cfg, &mut |v| {
            got.push(v.text.map(str::to_string));
            Some(String::new())
        })
        .unwrap();
        assert_eq!(got, [None, None, Some("ok".to_string())]);
    }

    #[test]
    fn windows_1252_documents_stay_windows_1252() {
        let doc = b"<?xml version=\"1.0\" encoding=\"windows-1252\"?><R><X>Zo\xEB</X></R>";
        let cfg = config(&["R/X"], &[(0, ".")], false);
        let (out, _) = run(doc, &cfg, &mut |v| {
            assert_eq!(v.text, Some("Zo\u{eb}"));
            Some("\u{e9}\u{2019}\u{4e00}".into())
        })
        .unwrap();
        assert_eq!(
            out,
            b"<?xml version=\"1.0\" encoding=\"windows-1252\"?><R><X>\xE9\x92&#19968;</X></R>"
        );
    }

    #[test]
    fn a_dtd_is_refused_and_nothing_is_left_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("in.xml");
        std::fs::write(
            &input,
            "<?xml version=\"1.0\"?>\n<!DOCTYPE R [<!ENTITY e \"secret\">]>\n<R><X>&e;</X></R>\n",
        )
        .unwrap();
        let out_dir = tmp.path().join("out");
        std::fs::create_dir(&out_dir).unwrap();
        let output = out_dir.join("in.xml");
        let cfg = config(&["R/X"], &[(0, ".")], true);
        let err = rewrite_file(&input, &output, &cfg, &mut |_| None).unwrap_err();
        assert_eq!(err.kind, SourceErrorKind::Dtd);
        assert!(!err.recoverable);
        assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 0);
    }

    #[test]
    fn limits_and_malformed_documents_fail() {
        let cfg = config(&["R/X"], &[(0, ".")], true);
        let mut deep = config(&["R/X"], &[(0, ".")], true);
        deep.limits.max_depth = 2;
        assert!(matches!(
            run(b"<R><X><Y/></X></R>", &deep, &mut |_| None)
                .unwrap_err()
                .kind,
            SourceErrorKind::DepthLimit { limit: 2 }
        ));
        let mut long = cfg.clone();
        long.limits.max_record_bytes = 8;
        assert!(matches!(
            run(b"<R><X>0123<![CDATA[456789]]></X></R>", &long, &mut |_| {
                None
            })
            .unwrap_err()
            .kind,
            SourceErrorKind::Limit(_)
        ));
        for bad in [
            &b"<R><X></R>"[..],
            b"<R></R><R/>",
            b"<R></R>text",
            b"<R>",
            b"",
            b"\xFF\xFE<\0R\0/\0>\0",
        ] {
            assert!(run(bad, &cfg, &mut |_| None).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rewrite_file_writes_owner_only_and_replaces_atomically() {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("in.xml");
        std::fs::write(&input, CIN).unwrap();
        let output = tmp.path().join("out.xml");
        let cfg = config(
            &["Message/Children/Child"],
            &[(0, "ChildIdentifiers/LAchildID")],
            false,
        );
        let info = rewrite_file(&input, &output, &cfg, &mut |v| {
            (!v.targets.is_empty()).then(|| "X".to_string())
        })
        .unwrap();
        assert_eq!(info.records, [2]);
        let out = std::fs::read_to_string(&output).unwrap();
        assert!(out.contains("<LAchildID>X</LAchildID>") && !out.contains("C1"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&output).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 2);
    }
}
