//! The streaming XML record source.

use std::fs::File;
use std::io::{BufRead, Read};
use std::path::Path;

use casebridge_model::{
    Locator, RecordSource, SourceError, SourceErrorKind, SourceInfo, TextRow, Want, PRESENCE_LIMIT,
    PRESENT,
};
use quick_xml::errors::{Error as XmlError, IllFormedError};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::input::{count_newlines, Fault, Input};
use crate::paths::{Plan, NONE};
use crate::text::{decode, unescape, Enc, TextError};
use crate::{XmlLimits, XmlSourceConfig};

/// Capacity above which the event buffer is given back after a large token.
const BUF_KEEP: usize = 1 << 20;

/// Why a field's value cannot be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SlotError {
    Text(TextError),
    /// A context value longer than `max_record_bytes`.
    Limit,
}

/// The value being collected for one field.
#[derive(Debug, Default)]
struct Slot {
    text: String,
    /// Occurrences of the field's element or attribute so far.
    count: u32,
    error: Option<SlotError>,
    /// A presence field past [`PRESENCE_LIMIT`]: text no longer held.
    long: bool,
    /// With `long`: whether any of its text is not whitespace.
    nonblank: bool,
}

impl Slot {
    fn clear(&mut self) {
        self.text.clear();
        self.count = 0;
        self.error = None;
        self.long = false;
        self.nonblank = false;
    }
}

/// An open element.
#[derive(Debug, Clone, Copy)]
struct Frame {
    /// Its trie node, or [`NONE`].
    node: u32,
    /// Length of the active slot list before it opened.
    active: usize,
}

/// What handling one event led to.
enum Step {
    More,
    /// A record element closed.
    Record,
    /// The end of the document.
    End,
}

/// Everything but the parser, so that events borrowed from the parser's
/// buffer can be handled with `&mut State`.
struct State {
    columns: Vec<String>,
    record_path: String,
    plan: Plan,
    sep: String,
    limits: XmlLimits,
    enc: Enc,
    slots: Vec<Slot>,
    want: Vec<Want>,
    stack: Vec<Frame>,
    /// Slots collecting the text of the open elements.
    active: Vec<u32>,
    in_record: bool,
    record_line: u64,
    record_bytes: usize,
    oversized: bool,
    records: u64,
    root_seen: bool,
    root_closed: bool,
    /// End of the document reached, or a fatal error.
    done: bool,
    /// The root's start tag, read while checking the prolog.
    pending: Option<Event<'static>>,
    /// Scratch: one decoded piece of text.
    dec: String,
}

/// A streaming XML record source (see the [crate documentation](crate)).
pub struct XmlSource {
    name: String,
    reader: Reader<Input>,
    buf: Vec<u8>,
    st: State,
}

impl std::fmt::Debug for XmlSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmlSource")
            .field("name", &self.name)
            .field("record_path", &self.st.record_path)
            .field("columns", &self.st.columns)
            .finish()
    }
}

pub(crate) fn file_error(kind: SourceErrorKind) -> SourceError {
    SourceError {
        kind,
        locator: Locator::File,
        recoverable: false,
    }
}

/// A name from the document fit for a message: short XML-name characters
/// only, else a placeholder (messages never carry document text).
pub(crate) fn shown(name: &str) -> String {
    if !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
    {
        name.to_string()
    } else {
        "\u{2026}".to_string()
    }
}

/// The message for a parser error.
pub(crate) fn parse_error(e: &XmlError, input: &Input, limits: &XmlLimits) -> SourceErrorKind {
    match e {
        XmlError::Io(_) => match input.fault {
            Some(Fault::Token) => SourceErrorKind::Limit(format!(
                "a single tag, text node or other token is longer than {} bytes",
                limits.max_token_bytes
            )),
            Some(Fault::Io(kind)) => SourceErrorKind::Io(kind.to_string()),
            None => SourceErrorKind::Io("read error".into()),
        },
        XmlError::Syntax(s) => SourceErrorKind::Syntax(s.to_string()),
        XmlError::IllFormed(i) => match i {
            IllFormedError::MismatchedEndTag { expected, found } => {
                SourceErrorKind::Syntax(format!(
                    "end tag </{}> does not close <{}>",
                    shown(found),
                    shown(expected)
                ))
            }
            IllFormedError::UnmatchedEndTag(n) => {
                SourceErrorKind::Syntax(format!("end tag </{}> without a start tag", shown(n)))
            }
            IllFormedError::MissingEndTag(n) => {
                SourceErrorKind::Syntax(format!("<{}> is not closed", shown(n)))
            }
            IllFormedError::MissingDoctypeName => SourceErrorKind::Dtd,
            IllFormedError::MissingDeclVersion(_) => {
                SourceErrorKind::Syntax("XML declaration without a version".into())
            }
            IllFormedError::DoubleHyphenInComment => {
                SourceErrorKind::Syntax("`--` inside a comment".into())
            }
        },
        XmlError::InvalidAttr(_) => SourceErrorKind::Syntax("malformed attributes".into()),
        XmlError::Escape(_) => SourceErrorKind::Syntax("malformed reference".into()),
        XmlError::Namespace(_) => SourceErrorKind::Syntax("malformed namespace".into()),
        _ => SourceErrorKind::Syntax("malformed XML".into()),
    }
}

/// Why an XML declaration cannot be followed.
pub(crate) enum DeclError {
    Malformed,
    Unsupported(SourceErrorKind),
}

/// The encoding an XML declaration gives (`None`: UTF-8 or not said); a
/// UTF-8 byte-order mark wins over it.
pub(crate) fn declared_encoding(
    d: &quick_xml::events::BytesDecl<'_>,
    bom: bool,
) -> Result<Option<Enc>, DeclError> {
    let Some(label) = d.encoding() else {
        return Ok(None);
    };
    let Ok(label) = label else {
        return Err(DeclError::Malformed);
    };
    let label = String::from_utf8_lossy(&label).trim().to_string();
    match encoding_rs::Encoding::for_label(label.as_bytes()) {
        Some(e) if e == encoding_rs::UTF_8 => Ok(None),
        Some(e) if e == encoding_rs::WINDOWS_1252 => Ok((!bom).then_some(Enc::Windows1252)),
        _ => Err(DeclError::Unsupported(
            SourceErrorKind::UnsupportedEncoding(shown(&label)),
        )),
    }
}

/// The parser over `reader`, past a UTF-8 byte-order mark (whether there was
/// one is returned); UTF-16 and UTF-32 are refused, as is an empty stream.
pub(crate) fn start(
    reader: Box<dyn Read + Send>,
    limits: &XmlLimits,
) -> Result<(Reader<Input>, bool), SourceError> {
    let mut input = Input::new(reader, limits.max_token_bytes);
    let head = input
        .fill_buf()
        .map_err(|e| file_error(SourceErrorKind::Io(e.kind().to_string())))?;
    if head.is_empty() {
        return Err(file_error(SourceErrorKind::Empty));
    }
    let mut bom = false;
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        input.consume(3);
        bom = true;
    } else if head.starts_with(&[0xFF, 0xFE])
        || head.starts_with(&[0xFE, 0xFF])
        || head.starts_with(&[0, 0])
        || head.starts_with(b"\0<")
        || head.starts_with(b"<\0")
    {
        return Err(file_error(SourceErrorKind::UnsupportedEncoding(
            "UTF-16 or UTF-32".into(),
        )));
    }
    let mut reader = Reader::from_reader(input);
    {
        let c = reader.config_mut();
        c.trim_text(false);
        c.check_end_names = true;
        c.expand_empty_elements = false;
        c.check_comments = false;
        c.allow_unmatched_ends = false;
    }
    Ok((reader, bom))
}

impl State {
    /// Where an error at `line` is: in the current record, or before the next.
    fn locator(&self, line: u64) -> Locator {
        Locator::XmlPath {
            path: self.record_path.clone(),
            index: if self.in_record {
                self.records
            } else {
                self.records + 1
            },
            line,
        }
    }

    /// A non-recoverable error: nothing more is read.
    fn fatal(&mut self, kind: SourceErrorKind, line: u64) -> SourceError {
        self.done = true;
        SourceError {
            kind,
            locator: self.locator(line),
            recoverable: false,
        }
    }

    fn syntax(&mut self, msg: &str, line: u64) -> SourceError {
        self.fatal(SourceErrorKind::Syntax(msg.into()), line)
    }

    /// Whether slot `id` collects at this point of the document.
    #[inline]
    fn eligible(&self, id: usize) -> bool {
        if self.plan.context[id] {
            !self.in_record
        } else {
            self.in_record && self.want[id] != Want::Skip
        }
    }

    /// Appends already decoded text to slot `id`, within the limits.
    fn push(&mut self, id: usize, text: &str) {
        let context = self.plan.context[id];
        if !context && self.oversized {
            return;
        }
        let presence = !context && self.want[id] == Want::Presence;
        let max = self.limits.max_record_bytes;
        let slot = &mut self.slots[id];
        if slot.error.is_some() || text.is_empty() {
            return;
        }
        if slot.long {
            slot.nonblank |= !text.trim().is_empty();
            return;
        }
        if presence && slot.text.len() + text.len() > PRESENCE_LIMIT {
            slot.long = true;
            slot.nonblank = !slot.text.trim().is_empty() || !text.trim().is_empty();
            return;
        }
        if context {
            if slot.text.len() + text.len() > max {
                slot.text = String::new();
                slot.error = Some(SlotError::Limit);
                return;
            }
        } else {
            self.record_bytes += text.len();
            if self.record_bytes > max {
                // Read on to the record's end without holding its text.
                self.oversized = true;
                for (s, &ctx) in self.slots.iter_mut().zip(&self.plan.context) {
                    if !ctx {
                        s.text = String::new();
                    }
                }
                return;
            }
        }
        self.slots[id].text.push_str(text);
    }

    /// Appends a raw piece of text or attribute value to slot `id`. `cache`
    /// says whether `self.dec` already holds the piece decoded (one piece
    /// may go to several slots).
    fn append(
        &mut self,
        id: usize,
        raw: &[u8],
        escaped: bool,
        cache: &mut Option<Result<(), TextError>>,
    ) {
        {
            let slot = &mut self.slots[id];
            if slot.error.is_some() || (self.oversized && !self.plan.context[id]) {
                return;
            }
            if slot.long {
                // Past the presence limit: no decoding, only whether it is blank.
                slot.nonblank |= !raw.iter().all(u8::is_ascii_whitespace);
                return;
            }
        }
        if cache.is_none() {
            self.dec.clear();
            *cache = Some(match decode(raw, self.enc) {
                Ok(s) if escaped && memchr::memchr(b'&', s.as_bytes()).is_some() => {
                    unescape(&s, &mut self.dec)
                }
                Ok(s) => {
                    self.dec.push_str(&s);
                    Ok(())
                }
                Err(e) => Err(e),
            });
        }
        match cache {
            Some(Ok(())) => {
                let dec = std::mem::take(&mut self.dec);
                self.push(id, &dec);
                self.dec = dec;
            }
            Some(Err(e)) => self.slots[id].error = Some(SlotError::Text(e.clone())),
            None => {}
        }
    }

    /// A new occurrence of slot `id`'s element or attribute.
    fn occurrence(&mut self, id: usize) {
        if self.slots[id].count > 0 {
            let sep = std::mem::take(&mut self.sep);
            self.push(id, &sep);
            self.sep = sep;
        }
        let slot = &mut self.slots[id];
        slot.count = slot.count.saturating_add(1);
    }

    fn clear_anchored(&mut self, node: u32) {
        let n = self.plan.nodes[node as usize].anchors.len();
        for k in 0..n {
            let id = self.plan.nodes[node as usize].anchors[k] as usize;
            self.slots[id].clear();
        }
    }

    fn begin_record(&mut self, line: u64) {
        self.records += 1;
        self.in_record = true;
        self.record_line = line;
        self.record_bytes = 0;
        self.oversized = false;
        for (s, &ctx) in self.slots.iter_mut().zip(&self.plan.context) {
            if !ctx {
                s.clear();
            }
        }
    }

    fn open(&mut self, e: &BytesStart<'_>, input: &mut Input) -> Result<(), SourceError> {
        // The line of the `<`: the parser has consumed the tag up to its `>`.
        let line = |input: &mut Input| input.line().saturating_sub(count_newlines(e)).max(1);
        if self.stack.is_empty() && self.root_closed {
            let line = line(input);
            return Err(self.syntax("content after the root element", line));
        }
        if self.stack.len() >= self.limits.max_depth {
            let limit = self.limits.max_depth;
            let line = line(input);
            return Err(self.fatal(SourceErrorKind::DepthLimit { limit }, line));
        }
        self.root_seen = true;
        let parent = self.stack.last().map_or(0, |f| f.node);
        let node = self.plan.child(parent, e.local_name().as_ref());
        let active = self.active.len();
        if node != NONE {
            let ni = node as usize;
            if self.plan.nodes[ni].record {
                self.begin_record(line(input));
            }
            self.clear_anchored(node);
            let nattrs = self.plan.nodes[ni].attrs.len();
            if (0..nattrs).any(|k| self.eligible(self.plan.nodes[ni].attrs[k].1 as usize)) {
                for attr in e.attributes() {
                    let Ok(attr) = attr else {
                        let line = line(input);
                        return Err(self.syntax("malformed attributes", line));
                    };
                    if attr.key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let local = attr.key.local_name();
                    for k in 0..nattrs {
                        let (ref name, id) = self.plan.nodes[ni].attrs[k];
                        let id = id as usize;
                        if **name == *local.as_ref() && self.eligible(id) {
                            self.occurrence(id);
                            self.append(id, &attr.value, true, &mut None);
                        }
                    }
                }
            }
            let ntext = self.plan.nodes[ni].text.len();
            for k in 0..ntext {
                let id = self.plan.nodes[ni].text[k];
                if self.eligible(id as usize) {
                    self.occurrence(id as usize);
                    self.active.push(id);
                }
            }
        }
        self.stack.push(Frame { node, active });
        Ok(())
    }

    fn close(&mut self, input: &mut Input) -> Result<Step, SourceError> {
        let Some(frame) = self.stack.pop() else {
            let line = input.line();
            return Err(self.syntax("end tag without a start tag", line));
        };
        self.active.truncate(frame.active);
        if self.stack.is_empty() {
            self.root_closed = true;
        }
        if frame.node != NONE {
            self.clear_anchored(frame.node);
            if self.plan.nodes[frame.node as usize].record {
                self.in_record = false;
                return Ok(Step::Record);
            }
        }
        Ok(Step::More)
    }

    fn text(&mut self, raw: &[u8], escaped: bool, input: &mut Input) -> Result<Step, SourceError> {
        if self.stack.is_empty() {
            let start = input.line().saturating_sub(count_newlines(raw)).max(1);
            if let Some(at) = raw.iter().position(|b| !b.is_ascii_whitespace()) {
                let line = start + count_newlines(&raw[..at]);
                return Err(self.syntax("text outside the root element", line));
            }
            if !escaped {
                return Err(self.syntax("CDATA outside the root element", start));
            }
            return Ok(Step::More);
        }
        let mut cache = None;
        for k in 0..self.active.len() {
            let id = self.active[k] as usize;
            if self.plan.context[id] && self.in_record {
                continue;
            }
            self.append(id, raw, escaped, &mut cache);
        }
        Ok(Step::More)
    }

    /// Handles one event, just parsed from `input`.
    fn handle(&mut self, ev: Event<'_>, input: &mut Input) -> Result<Step, SourceError> {
        match ev {
            Event::Start(e) => self.open(&e, input).map(|()| Step::More),
            Event::Empty(e) => {
                self.open(&e, input)?;
                self.close(input)
            }
            Event::End(_) => self.close(input),
            Event::Text(t) => self.text(&t, true, input),
            Event::CData(c) => self.text(&c, false, input),
            Event::Comment(_) | Event::PI(_) | Event::Decl(_) => Ok(Step::More),
            Event::DocType(d) => {
                let line = input.line().saturating_sub(count_newlines(&d)).max(1);
                Err(self.fatal(SourceErrorKind::Dtd, line))
            }
            Event::Eof => {
                self.done = true;
                if !self.stack.is_empty() {
                    let line = input.line();
                    Err(self.syntax("end of file inside an element", line))
                } else if !self.root_seen {
                    Err(file_error(SourceErrorKind::Empty))
                } else {
                    Ok(Step::End)
                }
            }
        }
    }

    /// Delivers the record that just closed.
    fn deliver(&mut self, row: &mut TextRow) -> Result<bool, SourceError> {
        let n = self.columns.len();
        row.reset(n);
        let locator = Locator::XmlPath {
            path: self.record_path.clone(),
            index: self.records,
            line: self.record_line,
        };
        row.locator = Some(locator.clone());
        let rejected = |kind| SourceError {
            kind,
            locator: locator.clone(),
            recoverable: true,
        };
        if self.oversized {
            return Err(rejected(SourceErrorKind::Limit(format!(
                "record holds more than {} bytes of text",
                self.limits.max_record_bytes
            ))));
        }
        for i in 0..n {
            if self.want[i] == Want::Skip {
                continue;
            }
            let column = &self.columns[i];
            if let Some(e) = &self.slots[i].error {
                return Err(rejected(match e {
                    SlotError::Text(TextError::Encoding) => SourceErrorKind::InvalidEncoding {
                        column: column.clone(),
                    },
                    SlotError::Text(TextError::Entity(name)) => {
                        SourceErrorKind::Entity { name: name.clone() }
                    }
                    SlotError::Text(TextError::Amp) => SourceErrorKind::Syntax(format!(
                        "field {column}: `&` that starts no entity or character reference"
                    )),
                    SlotError::Limit => SourceErrorKind::Limit(format!(
                        "field {column}: value longer than {} bytes",
                        self.limits.max_record_bytes
                    )),
                }));
            }
        }
        for i in 0..n {
            let slot = &mut self.slots[i];
            match self.want[i] {
                Want::Skip => {}
                Want::Text if self.plan.context[i] => row.cell_mut(i).push_str(&slot.text),
                Want::Text => std::mem::swap(row.cell_mut(i), &mut slot.text),
                Want::Presence => {
                    let trimmed = slot.text.trim();
                    if slot.long {
                        if slot.nonblank {
                            row.cell_mut(i).push_str(PRESENT);
                        }
                    } else if trimmed.is_empty() {
                    } else if trimmed.len() <= PRESENCE_LIMIT {
                        row.cell_mut(i).push_str(&slot.text);
                    } else {
                        row.cell_mut(i).push_str(PRESENT);
                    }
                }
            }
        }
        Ok(true)
    }
}

impl XmlSource {
    /// Opens an XML file and reads its prolog (declaration, comments, up to
    /// the root element's start tag).
    pub fn open(path: &Path, config: XmlSourceConfig) -> Result<XmlSource, SourceError> {
        let file =
            File::open(path).map_err(|e| file_error(SourceErrorKind::Io(e.kind().to_string())))?;
        if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(file_error(SourceErrorKind::Io("is a directory".into())));
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        XmlSource::from_reader(&name, Box::new(file), config)
    }

    /// Reads XML from any byte stream (an HTTP body, a decompressor, a
    /// fuzzer's input); `name` names it in findings.
    pub fn from_reader(
        name: &str,
        reader: Box<dyn Read + Send>,
        config: XmlSourceConfig,
    ) -> Result<XmlSource, SourceError> {
        let plan = Plan::compile(&config.record_path, &config.fields).map_err(|e| {
            file_error(SourceErrorKind::Syntax(format!(
                "invalid configuration: {e}"
            )))
        })?;
        let (reader, bom) = start(reader, &config.limits)?;
        let n = config.fields.len();
        let mut src = XmlSource {
            name: name.to_string(),
            reader,
            buf: Vec::with_capacity(8192),
            st: State {
                columns: config.fields.clone(),
                record_path: config.record_path.trim().trim_matches('/').to_string(),
                plan,
                sep: config.repeat_separator.clone(),
                limits: config.limits,
                enc: Enc::Utf8,
                slots: (0..n).map(|_| Slot::default()).collect(),
                want: vec![Want::Skip; n],
                stack: Vec::new(),
                active: Vec::new(),
                in_record: false,
                record_line: 0,
                record_bytes: 0,
                oversized: false,
                records: 0,
                root_seen: false,
                root_closed: false,
                done: false,
                pending: None,
                dec: String::new(),
            },
        };
        src.prolog(bom)?;
        Ok(src)
    }

    /// Reads up to the root element's start tag, which is kept for
    /// [`RecordSource::read_row`]: the declared encoding, and no DTD.
    fn prolog(&mut self, bom: bool) -> Result<(), SourceError> {
        loop {
            self.buf.clear();
            self.reader.get_mut().start_token();
            let ev = match self.reader.read_event_into(&mut self.buf) {
                Ok(ev) => ev,
                Err(e) => {
                    let input = self.reader.get_mut();
                    let kind = parse_error(&e, input, &self.st.limits);
                    let line = input.line();
                    return Err(self.st.fatal(kind, line));
                }
            };
            let line = self.reader.get_mut().line();
            match ev {
                Event::Decl(d) => match declared_encoding(&d, bom) {
                    Ok(Some(enc)) => self.st.enc = enc,
                    Ok(None) => {}
                    Err(DeclError::Malformed) => {
                        return Err(self.st.syntax("malformed XML declaration", line))
                    }
                    Err(DeclError::Unsupported(kind)) => return Err(file_error(kind)),
                },
                Event::Start(_) | Event::Empty(_) => {
                    // Handled by the first read_row, from this same position.
                    self.st.pending = Some(ev.into_owned());
                    return Ok(());
                }
                ev => {
                    self.st.handle(ev, self.reader.get_mut())?;
                }
            }
        }
    }

    /// The file name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl RecordSource for XmlSource {
    fn columns(&self) -> &[String] {
        &self.st.columns
    }

    fn read_row(&mut self, row: &mut TextRow, wanted: &[Want]) -> Result<bool, SourceError> {
        if self.st.done {
            return Ok(false);
        }
        let n = self.st.columns.len();
        for i in 0..n {
            self.st.want[i] = wanted.get(i).copied().unwrap_or(Want::Skip);
        }
        if let Some(ev) = self.st.pending.take() {
            match self.st.handle(ev, self.reader.get_mut())? {
                Step::More => {}
                Step::Record => return self.st.deliver(row),
                Step::End => return Ok(false),
            }
        }
        loop {
            if self.buf.capacity() > BUF_KEEP {
                self.buf = Vec::with_capacity(8192);
            }
            self.buf.clear();
            self.reader.get_mut().start_token();
            let ev = match self.reader.read_event_into(&mut self.buf) {
                Ok(ev) => ev,
                Err(e) => {
                    let input = self.reader.get_mut();
                    let kind = parse_error(&e, input, &self.st.limits);
                    let line = input.line();
                    return Err(self.st.fatal(kind, line));
                }
            };
            match self.st.handle(ev, self.reader.get_mut())? {
                Step::More => {}
                Step::Record => return self.st.deliver(row),
                Step::End => return Ok(false),
            }
        }
    }

    fn bytes_read(&self) -> u64 {
        self.reader.get_ref().bytes_read()
    }

    fn take_warning(&mut self) -> Option<SourceError> {
        None
    }

    fn finish(mut self: Box<Self>) -> Result<SourceInfo, SourceError> {
        let (sha256, bytes) = self
            .reader
            .get_mut()
            .finish()
            .map_err(|e| file_error(SourceErrorKind::Io(e.kind().to_string())))?;
        Ok(SourceInfo {
            name: self.name.clone(),
            sha256,
            bytes,
            records: self.st.records,
        })
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
