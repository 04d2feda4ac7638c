//! The streaming CSV reader.

use std::fs::File;
use std::io::{self, Read};

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use casebridge_io::HashingReader;
use casebridge_model::{
    Encoding, Locator, RecordSource, Sha256, SourceError, SourceErrorKind, SourceInfo, TextRow,
    Want, PRESENCE_LIMIT, PRESENT,
};

/// Size of the blocks the hashing thread reads.
const BLOCK: usize = 1 << 20;

/// How to read a CSV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvSourceConfig {
    /// Text encoding.
    pub encoding: Encoding,
    /// Field delimiter.
    pub delimiter: u8,
    /// Physical line of the header row; lines before it are skipped.
    pub header_row: u64,
    /// Largest record, in bytes, held in memory; a larger one is rejected
    /// (and skipped without being held).
    pub max_record_bytes: usize,
}

impl Default for CsvSourceConfig {
    fn default() -> Self {
        CsvSourceConfig {
            encoding: Encoding::Auto,
            delimiter: b',',
            header_row: 1,
            max_record_bytes: 64 << 20,
        }
    }
}

impl CsvSourceConfig {
    /// Opens `path` for reading with this configuration.
    pub fn build(&self, path: &Path) -> Result<CsvSource, SourceError> {
        CsvSource::open(path, self.clone())
    }
}

/// The parser's cursor in the blocks a [`HashingReader`] reads (and
/// hashes) on its own thread.
struct BlockReader {
    inner: HashingReader,
    current: Vec<u8>,
    pos: usize,
    done: bool,
    /// The last byte of the blocks before `current` (to tell a CRLF split
    /// across two blocks, and how the file ends).
    last: Option<u8>,
}

impl BlockReader {
    fn spawn(file: Box<dyn Read + Send>) -> BlockReader {
        BlockReader::spawn_with_block(file, BLOCK)
    }

    fn spawn_with_block(file: Box<dyn Read + Send>, block: usize) -> BlockReader {
        BlockReader {
            inner: HashingReader::with_block(file, block),
            current: Vec::new(),
            pos: 0,
            done: false,
            last: None,
        }
    }

    /// Whether the byte at `at` in `block` (the current block) follows a
    /// carriage return: an LF there ends no line of its own.
    fn after_cr(&self, block: &[u8], at: usize) -> bool {
        match at.checked_sub(1) {
            Some(i) => block[i] == b'\r',
            None => self.last == Some(b'\r'),
        }
    }

    /// Drains what is left and returns the hash of the whole file.
    fn finish(&mut self) -> io::Result<(Sha256, u64)> {
        self.done = true;
        self.inner.finish()
    }

    fn fill(&mut self) -> bool {
        if self.pos < self.current.len() {
            return true;
        }
        if self.done {
            return false;
        }
        if let Some(&b) = self.current.last() {
            self.last = Some(b);
        }
        match self.inner.next_block(&mut self.current) {
            Ok(true) => {
                self.pos = 0;
                true
            }
            // A read error ends the records; `finish` reports it.
            Ok(false) | Err(_) => {
                self.done = true;
                false
            }
        }
    }
}

/// How fields are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decode {
    Utf8,
    Windows1252,
    /// `auto`: per field, UTF-8 when it is valid UTF-8, else Windows-1252.
    /// Decided per field rather than once for the rest of the file, since
    /// exports concatenated from several systems mix both, and valid UTF-8
    /// re-read as Windows-1252 is mojibake that no check would catch.
    Auto,
}

/// The fields an `auto` source read as Windows-1252, reported once per file.
#[derive(Debug, Default)]
struct Fallback {
    /// Where the first one was.
    first: Option<Locator>,
    fields: u64,
    reported: bool,
}

/// Parses CSV records from the blocks, counting lines itself.
///
/// Hand-written rather than `csv::Reader` or `csv_core`, for two reasons.
/// `csv::Reader`'s record positions point before the pending LF of a CRLF
/// terminator and before skipped blank lines, so on Windows exports every
/// line number would be one short, and line numbers are what a go-live team
/// acts on. And `csv_core` walks a state machine byte by byte, while case-note
/// exports are mostly long quoted free text: here a quoted field is crossed
/// with `memchr` (SIMD) from quote to quote, several times faster. The
/// grammar is `csv_core`'s default one (RFC 4180, `"` quoting with `""`
/// escapes, CR, LF or CRLF terminators, empty lines skipped, text after a
/// closing quote kept literally), and a property test checks that both
/// split any input into the same records and fields.
struct Parser {
    blocks: BlockReader,
    delimiter: u8,
    state: State,
    out: Vec<u8>,
    ends: Vec<usize>,
    nfields: usize,
    /// Line ends consumed so far, from the first byte of the file: an LF,
    /// a CR, or a CRLF (one), as old Mac exports end lines with CR alone.
    newlines: u64,
    max_record_bytes: usize,
    oversized: bool,
    /// The line where the quoted field being read opened its quote.
    quote_line: u64,
    /// Set when the input ended inside a quoted field.
    unclosed: Option<Unclosed>,
}

/// A quote that the end of the input left open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Unclosed {
    /// The line where the quote opened.
    line: u64,
    /// Lines from there to the end of the file, that line included.
    lines: u64,
}

/// Where the parser is inside a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a field.
    StartField,
    /// Inside an unquoted field.
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// Just after a quote inside a quoted field: an escaped quote or the end.
    QuoteInQuoted,
}

/// What [`Parser::next`] found.
enum Next {
    /// A record starting on this physical line.
    Record(u64),
    /// A record starting on this line, larger than the limit (discarded).
    Oversized(u64),
    End,
}

impl Parser {
    fn new(blocks: BlockReader, delimiter: u8, newlines: u64, max_record_bytes: usize) -> Parser {
        Parser {
            blocks,
            delimiter,
            state: State::StartField,
            out: Vec::with_capacity(64 * 1024),
            ends: Vec::with_capacity(64),
            nfields: 0,
            newlines,
            max_record_bytes,
            oversized: false,
            quote_line: 0,
            unclosed: None,
        }
    }

    fn field(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.out[start..self.ends[i]]
    }

    fn fields(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.nfields).map(|i| self.field(i))
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.out.len() + bytes.len() > self.max_record_bytes {
            // Keep parsing to find the record's end, but hold no more bytes.
            self.oversized = true;
        } else {
            self.out.extend_from_slice(bytes);
        }
    }

    fn end_field(&mut self) {
        if self.ends.len() >= MAX_FIELDS {
            self.oversized = true;
        } else {
            self.ends.push(self.out.len());
        }
    }

    fn finish_record(&mut self, line: u64) -> Next {
        if self.oversized {
            self.nfields = 0;
            Next::Oversized(line)
        } else {
            self.nfields = self.ends.len();
            Next::Record(line)
        }
    }

    fn next(&mut self) -> Next {
        // Line terminators and empty lines before the record belong to no
        // record; consume them here so the start line is exact.
        loop {
            if !self.blocks.fill() {
                return Next::End;
            }
            let pos = self.blocks.pos;
            match self.blocks.current[pos] {
                b'\n' if self.blocks.after_cr(&self.blocks.current, pos) => {}
                b'\n' | b'\r' => self.newlines += 1,
                _ => break,
            }
            self.blocks.pos += 1;
        }
        let line = self.newlines + 1;
        self.out.clear();
        self.ends.clear();
        self.oversized = false;
        self.state = State::StartField;
        let delim = self.delimiter;
        loop {
            if !self.blocks.fill() {
                // The end of the input ends the field and the record; inside
                // a quoted field it also means the quote was never closed.
                if self.state == State::Quoted {
                    let ended = matches!(self.blocks.last, Some(b'\r' | b'\n'));
                    self.unclosed = Some(Unclosed {
                        line: self.quote_line,
                        lines: (self.newlines + 1)
                            .saturating_sub(self.quote_line)
                            .saturating_add(u64::from(!ended)),
                    });
                }
                self.end_field();
                return self.finish_record(line);
            }
            let block = std::mem::take(&mut self.blocks.current);
            let base = self.blocks.pos;
            let buf = &block[base..];
            let mut i = 0;
            let mut done = false;
            while i < buf.len() && !done {
                match self.state {
                    State::StartField => {
                        if buf[i] == b'"' {
                            self.state = State::Quoted;
                            self.quote_line = self.newlines + 1;
                            i += 1;
                        } else {
                            self.state = State::Unquoted;
                        }
                    }
                    State::Unquoted => match memchr::memchr3(delim, b'\r', b'\n', &buf[i..]) {
                        None => {
                            self.push(&buf[i..]);
                            i = buf.len();
                        }
                        Some(j) => {
                            self.push(&buf[i..i + j]);
                            let b = buf[i + j];
                            i += j + 1;
                            self.end_field();
                            if b == delim {
                                self.state = State::StartField;
                            } else {
                                if b == b'\r' || !self.blocks.after_cr(&block, base + i - 1) {
                                    self.newlines += 1;
                                }
                                done = true;
                            }
                        }
                    },
                    State::Quoted => match memchr::memchr3(b'"', b'\n', b'\r', &buf[i..]) {
                        None => {
                            self.push(&buf[i..]);
                            i = buf.len();
                        }
                        Some(j) => {
                            let b = buf[i + j];
                            if b != b'"' {
                                if b == b'\r' || !self.blocks.after_cr(&block, base + i + j) {
                                    self.newlines += 1;
                                }
                                self.push(&buf[i..=i + j]);
                            } else {
                                self.push(&buf[i..i + j]);
                                self.state = State::QuoteInQuoted;
                            }
                            i += j + 1;
                        }
                    },
                    State::QuoteInQuoted => {
                        let b = buf[i];
                        i += 1;
                        if b == b'"' {
                            self.push(b"\"");
                            self.state = State::Quoted;
                        } else if b == delim {
                            self.end_field();
                            self.state = State::StartField;
                        } else if b == b'\r' || b == b'\n' {
                            // After a quote: never the LF of a CRLF.
                            self.newlines += 1;
                            self.end_field();
                            done = true;
                        } else {
                            // Text after a closing quote is kept literally.
                            self.push(&[b]);
                            self.state = State::Unquoted;
                        }
                    }
                }
            }
            self.blocks.current = block;
            self.blocks.pos += i;
            if done {
                return self.finish_record(line);
            }
        }
    }
}

/// Most fields a record may have.
const MAX_FIELDS: usize = 1 << 16;

/// A streaming CSV source.
pub struct CsvSource {
    name: String,
    parser: Parser,
    header: Vec<String>,
    decode: Decode,
    records: u64,
    progress: Arc<AtomicU64>,
    warning: Option<SourceError>,
    fallback: Fallback,
    finished: bool,
}

impl std::fmt::Debug for CsvSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvSource")
            .field("name", &self.name)
            .field("header", &self.header)
            .finish()
    }
}

fn file_error(kind: SourceErrorKind) -> SourceError {
    SourceError {
        kind,
        locator: Locator::File,
        recoverable: false,
    }
}

/// Windows-1252 characters for bytes 0x80 to 0x9F (the rest of the upper
/// half is Latin-1); undefined bytes map to the C1 control of the same
/// value, as the WHATWG encoding standard (and `encoding_rs`) does.
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{81}', '\u{201A}', '\u{192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{2C6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8D}', '\u{17D}', '\u{8F}',
    '\u{90}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{2DC}', '\u{2122}', '\u{161}', '\u{203A}', '\u{153}', '\u{9D}', '\u{17E}', '\u{178}',
];

/// The first character of `s` that Windows-1252 has no byte for, if any
/// (written anyway, an encoder would put `&#321;` in its place). ASCII is
/// crossed eight bytes at a time; Latin-1's two-byte forms are told by
/// their bytes, the rest looked up in the table of bytes 0x80..0x9F.
/// A property test checks it against `encoding_rs`'s encoder.
pub fn windows_1252_lacks(s: &str) -> Option<char> {
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        i = next_non_ascii(b, i)?;
        let (lead, second) = (b[i], b.get(i + 1).copied().unwrap_or(0));
        if lead == 0xC3 || (lead == 0xC2 && second >= 0xA0) {
            // U+00A0..U+00FF: Latin-1, all in Windows-1252.
            i += 2;
            continue;
        }
        // The rest: the characters of bytes 0x80..0x9F.
        let c = s.get(i..).and_then(|t| t.chars().next())?;
        let has = CP1252_HIGH.contains(&c);
        if !has {
            return Some(c);
        }
        i += c.len_utf8();
    }
}

/// The index of the first byte from `i` that is not ASCII.
fn next_non_ascii(b: &[u8], mut i: usize) -> Option<usize> {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let m = u64::from_le_bytes(w) & HIGH;
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b.get(i..)?.iter().position(|&x| x >= 0x80).map(|j| i + j)
}

/// Appends Windows-1252 bytes to `out` as UTF-8, without an intermediate
/// allocation. Short fields (codes, dates, names) go through a table, which
/// costs less than setting up a decoder; long ones through `encoding_rs`,
/// whose ASCII runs are copied with SIMD.
fn push_windows_1252(out: &mut String, bytes: &[u8]) {
    if bytes.len() <= 64 {
        out.reserve(bytes.len());
        for &b in bytes {
            out.push(match b {
                0x00..=0x7F => b as char,
                0x80..=0x9F => CP1252_HIGH[usize::from(b - 0x80)],
                _ => char::from(b),
            });
        }
        return;
    }
    let mut decoder = encoding_rs::WINDOWS_1252.new_decoder_without_bom_handling();
    if let Some(max) = decoder.max_utf8_buffer_length(bytes.len()) {
        out.reserve(max);
    }
    // Every byte maps to a character, and the space is reserved: one call
    // decodes it all.
    let _ = decoder.decode_to_string(bytes, out, true);
}

fn is_blank<'a>(mut fields: impl Iterator<Item = &'a [u8]>) -> bool {
    fields.all(|f| f.iter().all(u8::is_ascii_whitespace))
}

impl CsvSource {
    /// Opens a CSV file and reads its header.
    pub fn open(path: &Path, config: CsvSourceConfig) -> Result<CsvSource, SourceError> {
        let file =
            File::open(path).map_err(|e| file_error(SourceErrorKind::Io(e.kind().to_string())))?;
        if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(file_error(SourceErrorKind::Io("is a directory".into())));
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        CsvSource::from_reader(Box::new(file), &name, config)
    }

    /// Reads CSV from any byte stream (an HTTP body, a decompressor, a
    /// fuzzer's input); `name` names it in findings.
    pub fn from_reader(
        reader: Box<dyn Read + Send>,
        name: &str,
        config: CsvSourceConfig,
    ) -> Result<CsvSource, SourceError> {
        let mut blocks = BlockReader::spawn(reader);
        let progress = blocks.inner.progress();
        let mut decode = match config.encoding {
            Encoding::Utf8 => Decode::Utf8,
            Encoding::Windows1252 => Decode::Windows1252,
            Encoding::Auto => Decode::Auto,
        };

        // Byte-order marks: UTF-8 is read (and wins over a Windows-1252
        // declaration); UTF-16 and UTF-32 are refused up front.
        if blocks.fill() {
            let head = &blocks.current[..blocks.current.len().min(4)];
            if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
                blocks.pos = 3;
                decode = Decode::Utf8;
            } else if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
                let _ = blocks.finish();
                return Err(file_error(SourceErrorKind::UnsupportedEncoding(
                    "UTF-16".into(),
                )));
            }
        }
        // Skip lines before the header row.
        let mut newlines = 0;
        while newlines + 1 < config.header_row && blocks.fill() {
            let rest = &blocks.current[blocks.pos..];
            match memchr::memchr2(b'\r', b'\n', rest) {
                Some(i) => {
                    let at = blocks.pos + i;
                    if blocks.current[at] == b'\r' || !blocks.after_cr(&blocks.current, at) {
                        newlines += 1;
                    }
                    blocks.pos = at + 1;
                }
                None => blocks.pos = blocks.current.len(),
            }
        }
        let parser = Parser::new(blocks, config.delimiter, newlines, config.max_record_bytes);
        let mut src = CsvSource {
            name: name.to_string(),
            parser,
            header: Vec::new(),
            decode,
            records: 0,
            progress,
            warning: None,
            fallback: Fallback::default(),
            finished: false,
        };
        let header_line = loop {
            match src.parser.next() {
                Next::End => {
                    let _ = src.parser.blocks.finish();
                    return Err(file_error(SourceErrorKind::Empty));
                }
                Next::Record(line) | Next::Oversized(line) if src.parser.unclosed.is_some() => {
                    let err = src.unclosed_error(line, 0);
                    let _ = src.parser.blocks.finish();
                    return Err(err);
                }
                Next::Oversized(_) => {
                    let _ = src.parser.blocks.finish();
                    return Err(file_error(SourceErrorKind::Limit(format!(
                        "header row larger than {} bytes",
                        config.max_record_bytes
                    ))));
                }
                Next::Record(_) if is_blank(src.parser.fields()) => {}
                Next::Record(line) => break line,
            }
        };
        let decode = src.decode;
        let mut fallbacks = 0;
        src.header = src
            .parser
            .fields()
            .map(|f| match (decode, std::str::from_utf8(f)) {
                (Decode::Utf8 | Decode::Auto, Ok(s)) => s.to_string(),
                (Decode::Utf8, Err(_)) => String::from_utf8_lossy(f).into_owned(),
                (Decode::Windows1252 | Decode::Auto, _) => {
                    fallbacks += u64::from(decode == Decode::Auto);
                    let mut s = String::new();
                    push_windows_1252(&mut s, f);
                    s
                }
            })
            .map(|s| s.trim_start_matches('\u{feff}').trim().to_string())
            .collect();
        if fallbacks > 0 {
            src.fallback = Fallback {
                first: Some(Locator::CsvLine {
                    line: header_line,
                    record: 0,
                }),
                fields: fallbacks,
                reported: false,
            };
        }
        Ok(src)
    }

    /// Delivers the wanted fields of the current record into `row`.
    fn deliver(
        &mut self,
        row: &mut TextRow,
        wanted: &[Want],
        n: usize,
        locator: &Locator,
    ) -> Result<bool, SourceError> {
        row.reset(n);
        for (i, want) in wanted.iter().enumerate().take(n) {
            let field = self.parser.field(i);
            let text = match want {
                Want::Skip => continue,
                Want::Text => field,
                Want::Presence => {
                    let trimmed = field.trim_ascii();
                    if trimmed.is_empty() {
                        continue;
                    }
                    if trimmed.len() > PRESENCE_LIMIT {
                        // Still checked for encoding, so that a bad byte is
                        // reported whatever the purpose of the read.
                        if self.decode != Decode::Windows1252 && std::str::from_utf8(field).is_err()
                        {
                            if self.decode == Decode::Utf8 {
                                return Err(self.invalid(i, locator));
                            }
                            self.fell_back(locator);
                        }
                        row.cell_mut(i).push_str(PRESENT);
                        continue;
                    }
                    field
                }
            };
            match self.decode {
                Decode::Windows1252 => push_windows_1252(row.cell_mut(i), text),
                Decode::Utf8 | Decode::Auto => match std::str::from_utf8(text) {
                    Ok(s) => row.cell_mut(i).push_str(s),
                    Err(_) if self.decode == Decode::Auto => {
                        // This field only: the next one is UTF-8 if it is valid UTF-8.
                        push_windows_1252(row.cell_mut(i), text);
                        self.fell_back(locator);
                    }
                    Err(_) => return Err(self.invalid(i, locator)),
                },
            }
        }
        Ok(true)
    }

    /// Counts a field of the record at `locator` read as Windows-1252.
    fn fell_back(&mut self, locator: &Locator) {
        if self.fallback.first.is_none() {
            self.fallback.first = Some(locator.clone());
        }
        self.fallback.fields += 1;
    }

    /// At the end of the file: the one warning for the fields read as
    /// Windows-1252, if any.
    fn report_fallback(&mut self) {
        if self.fallback.reported {
            return;
        }
        self.fallback.reported = true;
        if let Some(first) = self.fallback.first.take() {
            self.warning = Some(SourceError {
                kind: SourceErrorKind::EncodingFallback {
                    fields: self.fallback.fields,
                },
                locator: first,
                recoverable: true,
            });
        }
    }

    /// The error for a quote that the end of the file left open, in the
    /// record starting on `line`: the record cannot be told from the rest
    /// of the file, so reading stops.
    fn unclosed_error(&mut self, line: u64, record: u64) -> SourceError {
        let u = self
            .parser
            .unclosed
            .take()
            .unwrap_or(Unclosed { line, lines: 1 });
        SourceError {
            kind: SourceErrorKind::Syntax(format!(
                "a quote opened on line {} is never closed: the rest of the file ({} line{}) \
                 was read as one field",
                u.line,
                u.lines,
                if u.lines == 1 { "" } else { "s" }
            )),
            locator: Locator::CsvLine { line, record },
            recoverable: false,
        }
    }

    fn invalid(&self, column: usize, locator: &Locator) -> SourceError {
        SourceError {
            kind: SourceErrorKind::InvalidEncoding {
                column: self.header[column].clone(),
            },
            locator: locator.clone(),
            recoverable: true,
        }
    }

    /// The file name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl RecordSource for CsvSource {
    fn columns(&self) -> &[String] {
        &self.header
    }

    fn detected_encoding(&self) -> Option<Encoding> {
        // `auto` decides per field: a file that held any field not valid
        // UTF-8 (read as Windows-1252) is a Windows-1252 export.
        Some(
            if self.decode == Decode::Windows1252 || self.fallback.fields > 0 {
                Encoding::Windows1252
            } else {
                Encoding::Utf8
            },
        )
    }

    fn read_row(&mut self, row: &mut TextRow, wanted: &[Want]) -> Result<bool, SourceError> {
        let line = loop {
            match self.parser.next() {
                Next::End => {
                    self.report_fallback();
                    return Ok(false);
                }
                Next::Record(line) | Next::Oversized(line) if self.parser.unclosed.is_some() => {
                    // Not counted as a record: the file stops here.
                    self.report_fallback();
                    return Err(self.unclosed_error(line, self.records + 1));
                }
                Next::Oversized(line) => {
                    self.records += 1;
                    return Err(SourceError {
                        kind: SourceErrorKind::Limit(format!(
                            "record larger than {} bytes",
                            self.parser.max_record_bytes
                        )),
                        locator: Locator::CsvLine {
                            line,
                            record: self.records,
                        },
                        recoverable: true,
                    });
                }
                // Blank rows (nothing but delimiters and spaces) are not records.
                Next::Record(_) if is_blank(self.parser.fields()) => {}
                Next::Record(line) => break line,
            }
        };
        self.records += 1;
        let locator = Locator::CsvLine {
            line,
            record: self.records,
        };
        row.locator = Some(locator.clone());
        let n = self.header.len();
        if self.parser.nfields != n {
            return Err(SourceError {
                kind: SourceErrorKind::FieldCount {
                    expected: n,
                    found: self.parser.nfields,
                },
                locator,
                recoverable: true,
            });
        }
        self.deliver(row, wanted, n, &locator)
    }

    fn bytes_read(&self) -> u64 {
        self.progress.load(Ordering::Relaxed)
    }

    fn take_warning(&mut self) -> Option<SourceError> {
        self.warning.take()
    }

    fn finish(mut self: Box<Self>) -> Result<SourceInfo, SourceError> {
        self.finished = true;
        let (sha256, bytes) = self
            .parser
            .blocks
            .finish()
            .map_err(|e| file_error(SourceErrorKind::Io(e.kind().to_string())))?;
        Ok(SourceInfo {
            name: self.name.clone(),
            sha256,
            bytes,
            records: self.records,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    type Rows = Vec<Result<(u64, Vec<String>), SourceError>>;

    fn read_all(
        bytes: &[u8],
        encoding: Encoding,
    ) -> (Vec<String>, Rows, SourceInfo, Vec<SourceError>) {
        let f = write(bytes);
        let cfg = CsvSourceConfig {
            encoding,
            ..CsvSourceConfig::default()
        };
        let mut src = Box::new(cfg.build(f.path()).unwrap());
        let header = src.columns().to_vec();
        let wanted = vec![Want::Text; header.len()];
        let mut row = TextRow::new();
        let mut out = Vec::new();
        let mut warnings: Vec<SourceError> = src.take_warning().into_iter().collect();
        loop {
            match src.read_row(&mut row, &wanted) {
                Ok(false) => break,
                Ok(true) => out.push(Ok((
                    row.locator.as_ref().and_then(Locator::line).unwrap(),
                    (0..row.len())
                        .map(|i| row.get(i).unwrap().to_string())
                        .collect(),
                ))),
                Err(e) => {
                    let stop = !e.recoverable;
                    out.push(Err(e));
                    if stop {
                        break;
                    }
                }
            }
            warnings.extend(src.take_warning());
        }
        // The end of the file raises the per-file warnings.
        warnings.extend(src.take_warning());
        let info = src.finish().unwrap();
        (header, out, info, warnings)
    }

    #[test]
    fn embedded_newlines_keep_physical_start_lines() {
        let data = b"ID,NOTE\r\n1,\"first\r\nsecond\r\nthird\"\r\n2,plain\r\n3,\"x\ny\"\n4,z\n";
        let (header, rows, info, _) = read_all(data, Encoding::Utf8);
        assert_eq!(header, ["ID", "NOTE"]);
        let lines: Vec<u64> = rows.iter().map(|r| r.as_ref().unwrap().0).collect();
        assert_eq!(lines, [2, 5, 6, 8]);
        assert_eq!(rows[0].as_ref().unwrap().1[1], "first\r\nsecond\r\nthird");
        assert_eq!(info.records, 4);
        assert_eq!(info.sha256, Sha256::digest(data));
        assert_eq!(info.bytes, data.len() as u64);
    }

    #[test]
    fn ragged_rows_are_recoverable_and_reading_goes_on() {
        let data = b"A,B,C\n1,2,3\n1,2\n1,2,3,4\n5,6,7\n";
        let (_, rows, _, _) = read_all(data, Encoding::Utf8);
        assert!(matches!(
            &rows[1],
            Err(SourceError {
                kind: SourceErrorKind::FieldCount {
                    expected: 3,
                    found: 2
                },
                locator: Locator::CsvLine { line: 3, .. },
                recoverable: true
            })
        ));
        assert!(matches!(
            &rows[2],
            Err(SourceError {
                kind: SourceErrorKind::FieldCount { found: 4, .. },
                ..
            })
        ));
        assert_eq!(rows[3].as_ref().unwrap().1, ["5", "6", "7"]);
    }

    #[test]
    fn bom_is_stripped_and_blank_rows_skipped() {
        let data = b"\xEF\xBB\xBFID,NAME\n\n1,Zo\xC3\xAB\n,\n2,Amara\n";
        let (header, rows, _, warnings) = read_all(data, Encoding::Windows1252);
        assert_eq!(header, ["ID", "NAME"]);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0].as_ref().unwrap(),
            &(3, vec!["1".into(), "Zoë".into()])
        );
        assert_eq!(rows[1].as_ref().unwrap().0, 5);
        assert!(warnings.is_empty());
    }

    #[test]
    fn invalid_utf8_is_reported_per_field_when_declared_utf8() {
        let data = b"ID,NAME\n1,Zo\xEB\n2,Amara\n";
        let (_, rows, _, _) = read_all(data, Encoding::Utf8);
        assert!(
            matches!(&rows[0], Err(SourceError { kind: SourceErrorKind::InvalidEncoding { column }, locator: Locator::CsvLine { line: 2, .. }, .. }) if column == "NAME")
        );
        assert_eq!(rows[1].as_ref().unwrap().1, ["2", "Amara"]);
    }

    #[test]
    fn auto_falls_back_to_windows_1252_with_one_warning() {
        let data = b"ID,NAME\n1,Amara\n2,Zo\xEB\n3,O\x92Neill\n";
        let (_, rows, _, warnings) = read_all(data, Encoding::Auto);
        assert_eq!(rows[1].as_ref().unwrap().1[1], "Zoë");
        assert_eq!(rows[2].as_ref().unwrap().1[1], "O\u{2019}Neill");
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].locator.line(), Some(3));
        assert_eq!(
            warnings[0].kind,
            SourceErrorKind::EncodingFallback { fields: 2 }
        );
    }

    // See: issue 9 ("Zoë" after a Windows-1252 byte came out as "ZoÃ«").
    #[test]
    fn auto_never_rereads_valid_utf8_as_windows_1252() {
        let mut long_1252 = vec![b'n'; 40];
        long_1252.push(0x92);
        let mut data = b"ID,NAME,NOTE\n1,Amara,ok\n2,Zo\xEB,x\n".to_vec();
        data.extend_from_slice(b"3,Zo\xC3\xAB,Ren\xC3\xA9e\n4,O\x92Neill,caf\xC3\xA9\n5,Li,");
        data.extend_from_slice(&long_1252);
        data.extend_from_slice(b"\n");
        let (_, rows, _, warnings) = read_all(&data, Encoding::Auto);
        let cells: Vec<Vec<String>> = rows.iter().map(|r| r.as_ref().unwrap().1.clone()).collect();
        assert_eq!(cells[1][1], "Zoë");
        assert_eq!(cells[2][1..], ["Zoë", "Renée"]);
        assert_eq!(cells[3][1..], ["O\u{2019}Neill", "café"]);
        // One warning for the file, at the first such field, with the count.
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].locator, Locator::CsvLine { line: 3, record: 2 });
        assert_eq!(
            warnings[0].kind,
            SourceErrorKind::EncodingFallback { fields: 3 }
        );
        // A long presence-only field is checked, counted, and not decoded.
        let f = write(&data);
        let mut src = Box::new(CsvSourceConfig::default().build(f.path()).unwrap());
        let want = [Want::Skip, Want::Skip, Want::Presence];
        let mut row = TextRow::new();
        let mut n = 0;
        while src.read_row(&mut row, &want).unwrap() {
            n += 1;
            assert!(src.take_warning().is_none());
        }
        assert_eq!((n, row.get(2)), (5, Some(PRESENT)));
        let w = src.take_warning().unwrap();
        assert_eq!(w.kind, SourceErrorKind::EncodingFallback { fields: 1 });
        assert_eq!(w.locator.line(), Some(6));
        // A Windows-1252 header counts too; a UTF-8 file gets no warning.
        let (header, _, _, warnings) = read_all(b"ID,PR\xC9NOM\n1,Zo\xC3\xAB\n", Encoding::Auto);
        assert_eq!(header, ["ID", "PRÉNOM"]);
        assert_eq!(warnings[0].locator.line(), Some(1));
        let (_, _, _, warnings) = read_all(b"ID,NAME\n1,Zo\xC3\xAB\n", Encoding::Auto);
        assert!(warnings.is_empty());
    }

    // See: issue 9 (old Mac exports end lines with CR alone).
    #[test]
    fn cr_only_line_endings_count_as_lines() {
        let data = b"ID,NOTE\r1,a\r2,\"x\ry\"\r3,c,extra\r4,d\r";
        let (header, rows, info, _) = read_all(data, Encoding::Utf8);
        assert_eq!(header, ["ID", "NOTE"]);
        let lines: Vec<u64> = rows
            .iter()
            .map(|r| match r {
                Ok((line, _)) => *line,
                Err(e) => e.locator.line().unwrap(),
            })
            .collect();
        assert_eq!(lines, [2, 3, 5, 6]);
        assert_eq!(rows[1].as_ref().unwrap().1[1], "x\ry");
        assert!(matches!(
            &rows[2],
            Err(SourceError {
                kind: SourceErrorKind::FieldCount { found: 3, .. },
                ..
            })
        ));
        assert_eq!(info.records, 4);
        // CRLF is one line end, also when split across blocks; CR, LF and
        // CRLF mixed in one file each end one line.
        let mixed = b"ID,NOTE\r\n1,\"a\r\nb\"\r2,c\n3,\"d\re\"\n4,f\r\n";
        let (_, rows, _, _) = read_all(mixed, Encoding::Utf8);
        let lines: Vec<u64> = rows.iter().map(|r| r.as_ref().unwrap().0).collect();
        assert_eq!(lines, [2, 4, 5, 7]);
        let f = write(mixed);
        for block in 1..5 {
            let file = Box::new(File::open(f.path()).unwrap());
            let mut p = Parser::new(
                BlockReader::spawn_with_block(file, block),
                b',',
                0,
                usize::MAX,
            );
            let mut lines = Vec::new();
            while let Next::Record(l) = p.next() {
                lines.push(l);
            }
            assert_eq!(lines, [1, 2, 4, 5, 7], "block size {block}");
        }
        // Title lines before the header, ended by CR alone.
        let f = write(b"Report\rExtracted\rID,NAME\r1,A\r");
        let cfg = CsvSourceConfig {
            header_row: 3,
            ..CsvSourceConfig::default()
        };
        let mut src = cfg.build(f.path()).unwrap();
        assert_eq!(src.columns(), ["ID", "NAME"]);
        let mut row = TextRow::new();
        assert!(src.read_row(&mut row, &[Want::Text; 2]).unwrap());
        assert_eq!(row.locator.unwrap().line(), Some(4));
    }

    #[test]
    fn windows_1252_lacks_what_it_has_no_byte_for() {
        assert_eq!(windows_1252_lacks("Ann Smith"), None);
        // Latin-1, and the characters of 0x80..0x9F (euro, curly quotes, dash).
        assert_eq!(windows_1252_lacks("Zoë owes £3 – “so” €5 ŒŸ"), None);
        assert_eq!(windows_1252_lacks("Zoë Łukasz"), Some('Ł'));
        assert_eq!(windows_1252_lacks("Ďurová"), Some('Ď'));
        assert_eq!(windows_1252_lacks("ok 😀"), Some('😀'));
        // Every character a Windows-1252 byte decodes to is one it has.
        let mut all = String::new();
        let bytes: Vec<u8> = (0u8..=255).collect();
        push_windows_1252(&mut all, &bytes);
        assert_eq!(windows_1252_lacks(&all), None);
        // U+0080..U+009F that no byte decodes to (0x80 is the euro sign).
        assert_eq!(windows_1252_lacks("\u{80}"), Some('\u{80}'));
    }

    // See: issue 9 (an unclosed quote used to be reported as a short row).
    #[test]
    fn unclosed_quote_names_its_line_and_the_lines_it_took() {
        let data = b"ID,NOTE\n1,ok\n2,\"never closed\n3,x\n4,y\n";
        let f = write(data);
        let mut src = Box::new(CsvSourceConfig::default().build(f.path()).unwrap());
        let mut row = TextRow::new();
        assert!(src.read_row(&mut row, &[Want::Text; 2]).unwrap());
        let e = src.read_row(&mut row, &[Want::Text; 2]).unwrap_err();
        assert_eq!(
            e.kind,
            SourceErrorKind::Syntax(
                "a quote opened on line 3 is never closed: the rest of the file (3 lines) \
                 was read as one field"
                    .into()
            )
        );
        assert_eq!(e.locator, Locator::CsvLine { line: 3, record: 2 });
        assert!(!e.recoverable);
        // Nothing is left to read; the whole file is hashed.
        assert!(!src.read_row(&mut row, &[Want::Text; 2]).unwrap());
        let info = src.finish().unwrap();
        assert_eq!(info.sha256, Sha256::digest(data));
        assert_eq!(info.records, 1);

        // A quote opened in a later field of a record, no final newline.
        let (_, rows, _, _) = read_all(b"A,B,C\n1,\"two\nlines\",\"open\nx", Encoding::Utf8);
        let e = rows[0].as_ref().unwrap_err();
        assert_eq!(e.locator.line(), Some(2));
        assert!(e
            .to_string()
            .contains("a quote opened on line 3 is never closed"));
        assert!(e.to_string().contains("(2 lines)"), "{e}");
        // In the header: the file cannot be read at all.
        let f = write(b"ID,\"NOTE\n1,a\n");
        let e = CsvSource::open(f.path(), CsvSourceConfig::default()).unwrap_err();
        assert!(matches!(e.kind, SourceErrorKind::Syntax(_)) && !e.recoverable);
        assert_eq!(e.locator.line(), Some(1));
    }

    #[test]
    fn empty_file_and_utf16_are_file_errors() {
        let f = write(b"");
        assert_eq!(
            CsvSource::open(f.path(), CsvSourceConfig::default())
                .unwrap_err()
                .kind,
            SourceErrorKind::Empty
        );
        let f = write(b"\n\n  \n");
        assert_eq!(
            CsvSource::open(f.path(), CsvSourceConfig::default())
                .unwrap_err()
                .kind,
            SourceErrorKind::Empty
        );
        let f = write(b"\xFF\xFEI\0D\0");
        assert!(matches!(
            CsvSource::open(f.path(), CsvSourceConfig::default())
                .unwrap_err()
                .kind,
            SourceErrorKind::UnsupportedEncoding(_)
        ));
        let missing = Path::new("/nonexistent/x.csv");
        assert!(matches!(
            CsvSource::open(missing, CsvSourceConfig::default())
                .unwrap_err()
                .kind,
            SourceErrorKind::Io(_)
        ));
    }

    #[test]
    fn header_row_skips_title_lines_and_keeps_physical_lines() {
        let data = b"Report: persons\nExtracted 01/11/2026\nID,NAME\n1,A\n";
        let f = write(data);
        let cfg = CsvSourceConfig {
            header_row: 3,
            ..CsvSourceConfig::default()
        };
        let mut src = cfg.build(f.path()).unwrap();
        assert_eq!(src.columns(), ["ID", "NAME"]);
        let mut row = TextRow::new();
        assert!(src.read_row(&mut row, &[Want::Text; 2]).unwrap());
        assert_eq!(row.locator.unwrap().line(), Some(4));
    }

    #[test]
    fn large_file_spanning_many_blocks_hashes_whole_file() {
        let mut data = b"ID,NOTE\n".to_vec();
        for i in 0..40_000 {
            data.extend_from_slice(format!("{i},\"{}\nmore\"\n", "x".repeat(60)).as_bytes());
        }
        let (_, rows, info, _) = read_all(&data, Encoding::Auto);
        assert_eq!(rows.len(), 40_000);
        assert_eq!(rows[39_999].as_ref().unwrap().0, 2 + 2 * 39_999);
        assert_eq!(info.sha256, Sha256::digest(&data));
    }

    #[test]
    fn windows_1252_table_agrees_with_encoding_rs() {
        let all: Vec<u8> = (0..=255u8).collect();
        for chunk in [&all[..32], &all[128..160], &all[160..224], &all[224..]] {
            let mut ours = String::new();
            push_windows_1252(&mut ours, chunk);
            let (theirs, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(chunk);
            assert_eq!(ours, theirs);
        }
        let mut long = String::new();
        push_windows_1252(&mut long, &all);
        assert_eq!(
            long,
            encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(&all)
                .0
        );
    }

    #[test]
    fn presence_columns_are_not_decoded_when_long() {
        let long = "x".repeat(100);
        let mut data = format!("A,B,C\n1,  ,{long}\n2,NULL,").into_bytes();
        data.push(0xFF);
        data.extend_from_slice(format!("{long}\n").as_bytes());
        let f = write(&data);
        let mut src = CsvSource::open(
            f.path(),
            CsvSourceConfig {
                encoding: Encoding::Utf8,
                ..CsvSourceConfig::default()
            },
        )
        .unwrap();
        let want = [Want::Skip, Want::Presence, Want::Presence];
        let mut row = TextRow::new();
        assert!(src.read_row(&mut row, &want).unwrap());
        assert_eq!(
            (row.get(0), row.get(1), row.get(2)),
            (Some(""), Some(""), Some(PRESENT))
        );
        // Short fields keep their text (null markers); bad bytes are still reported.
        let err = src.read_row(&mut row, &want).unwrap_err();
        assert!(
            matches!(err.kind, SourceErrorKind::InvalidEncoding { ref column } if column == "C")
        );
    }

    #[test]
    fn oversized_record_is_rejected_and_the_next_read() {
        let mut data = b"ID,NOTE\n1,short\n2,\"".to_vec();
        data.extend(std::iter::repeat_n(b'x', 300_000));
        data.extend_from_slice(b"\"\n3,after\n");
        let f = write(&data);
        let cfg = CsvSourceConfig {
            max_record_bytes: 100_000,
            ..CsvSourceConfig::default()
        };
        let mut src = Box::new(cfg.build(f.path()).unwrap());
        let mut row = TextRow::new();
        assert!(src.read_row(&mut row, &[Want::Text; 2]).unwrap());
        let err = src.read_row(&mut row, &[Want::Text; 2]).unwrap_err();
        assert!(matches!(err.kind, SourceErrorKind::Limit(_)) && err.recoverable);
        assert_eq!(err.locator.line(), Some(3));
        assert!(src.read_row(&mut row, &[Want::Text; 2]).unwrap());
        assert_eq!(
            (row.get(1), row.locator.as_ref().and_then(Locator::line)),
            (Some("after"), Some(4))
        );
        assert!(!src.read_row(&mut row, &[Want::Text; 2]).unwrap());
        assert_eq!(src.finish().unwrap().sha256, Sha256::digest(&data));
    }

    /// Splits `data` with csv_core (the oracle) into records of fields.
    fn oracle(data: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut rdr = csv_core::Reader::new();
        let mut input = data;
        let mut out = vec![0u8; data.len() + 16];
        let mut ends = vec![0usize; data.len() + 16];
        let mut records = Vec::new();
        let (mut outlen, mut endlen) = (0, 0);
        loop {
            let (res, nin, nout, nend) =
                rdr.read_record(input, &mut out[outlen..], &mut ends[endlen..]);
            input = &input[nin..];
            outlen += nout;
            endlen += nend;
            match res {
                csv_core::ReadRecordResult::Record => {
                    let mut fields = Vec::new();
                    let mut start = 0;
                    for e in &ends[..endlen] {
                        fields.push(out[start..*e].to_vec());
                        start = *e;
                    }
                    records.push(fields);
                    outlen = 0;
                    endlen = 0;
                }
                csv_core::ReadRecordResult::End => return records,
                _ => {}
            }
        }
    }

    /// Splits `data` with this crate's parser, reading it in tiny blocks.
    fn ours(data: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let f = write(data);
        let file = File::open(f.path()).unwrap();
        let blocks = BlockReader::spawn_with_block(Box::new(file), 7);
        let mut p = Parser::new(blocks, b',', 0, usize::MAX);
        let mut records = Vec::new();
        while let Next::Record(_) = p.next() {
            records.push(p.fields().map(<[u8]>::to_vec).collect());
        }
        records
    }

    proptest::proptest! {
        #[test]
        fn windows_1252_lacks_agrees_with_encoding_rs(s in "(\\PC|[\u{80}-\u{9f}\u{a0}-\u{ff}\u{152}\u{20ac}\u{2018}-\u{201e}]){0,40}") {
            let (_, _, lossy) = encoding_rs::WINDOWS_1252.encode(&s);
            let first = s.chars().find(|c| encoding_rs::WINDOWS_1252.encode(&c.to_string()).2);
            proptest::prop_assert_eq!(windows_1252_lacks(&s).is_some(), lossy);
            proptest::prop_assert_eq!(windows_1252_lacks(&s), first);
        }

        #[test]
        fn parser_agrees_with_csv_core(data in proptest::collection::vec(proptest::sample::select(b"ab,\"\r\n \xe9".to_vec()), 0..300)) {
            // csv_core strips a leading BOM; this alphabet has none.
            proptest::prop_assert_eq!(ours(&data), oracle(&data));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2000)) {
            let f = write(&bytes);
            if let Ok(src) = CsvSource::open(f.path(), CsvSourceConfig::default()) {
                let mut src = Box::new(src);
                let wanted = vec![Want::Text; src.columns().len()];
                let mut row = TextRow::new();
                let mut n = 0;
                loop {
                    match src.read_row(&mut row, &wanted) {
                        Ok(false) => break,
                        Ok(true) => proptest::prop_assert!(row.locator.is_some()),
                        Err(e) => {
                            proptest::prop_assert!(e.locator.line().is_some());
                            if !e.recoverable { break; }
                        }
                    }
                    n += 1;
                    proptest::prop_assert!(n < 10_000);
                }
                let info = src.finish().unwrap();
                proptest::prop_assert_eq!(info.sha256, Sha256::digest(&bytes));
            }
        }
    }
}
