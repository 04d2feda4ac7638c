//! The byte stream under the parser. A [`HashingReader`] thread reads the
//! source in blocks and hashes every byte (so hashing overlaps parsing, as in
//! the CSV reader);
//! the parser's side counts lines lazily and refuses to let one token grow
//! past the token limit.

use std::io::{self, BufRead, Read};

use casebridge_io::HashingReader;
use casebridge_model::Sha256;

/// Size of the blocks read from the underlying reader.
const BLOCK: usize = 128 * 1024;

/// Why the stream stopped giving bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// One token consumed more than the token limit.
    Token,
    /// The underlying reader failed.
    Io(io::ErrorKind),
}

pub(crate) struct Input {
    blocks: HashingReader,
    current: Vec<u8>,
    pos: usize,
    eof: bool,
    /// Newlines in the bytes consumed before `counted` (in `current`).
    newlines: u64,
    counted: usize,
    /// Bytes consumed since [`Input::start_token`].
    token: u64,
    token_limit: u64,
    pub fault: Option<Fault>,
}

/// Newlines in `bytes`. Sums in byte lanes over chunks of 255 so that the
/// loop vectorises (a plain filter-count runs at a fraction of the speed).
pub(crate) fn count_newlines(bytes: &[u8]) -> u64 {
    bytes
        .chunks(255)
        .map(|c| u64::from(c.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n'))))
        .sum()
}

impl Input {
    pub fn new(inner: Box<dyn Read + Send>, token_limit: usize) -> Input {
        Input {
            blocks: HashingReader::with_block(inner, BLOCK),
            current: Vec::new(),
            pos: 0,
            eof: false,
            newlines: 0,
            counted: 0,
            token: 0,
            token_limit: token_limit as u64,
            fault: None,
        }
    }

    /// Starts counting a new token (called before each parser event).
    #[inline]
    pub fn start_token(&mut self) {
        self.token = 0;
    }

    /// Bytes read from the source so far.
    pub fn bytes_read(&self) -> u64 {
        self.blocks.bytes_read()
    }

    /// The 1-based line the parser has reached (counted lazily, as only
    /// record starts and errors need it).
    pub fn line(&mut self) -> u64 {
        let pos = self.pos.min(self.current.len());
        if self.counted < pos {
            self.newlines += count_newlines(&self.current[self.counted..pos]);
            self.counted = pos;
        }
        self.newlines + 1
    }

    /// Takes the next block; `false` at the end of the stream.
    fn next_block(&mut self) -> io::Result<bool> {
        // Everything in the old block has been consumed: count its lines.
        self.line();
        match self.blocks.next_block(&mut self.current) {
            Ok(true) => {
                self.pos = 0;
                self.counted = 0;
                Ok(true)
            }
            Err(kind) => {
                self.fault = Some(Fault::Io(kind));
                self.eof = true;
                Err(kind.into())
            }
            Ok(false) => {
                self.eof = true;
                Ok(false)
            }
        }
    }

    /// Reads and hashes the rest of the stream; gives the hash and byte count.
    pub fn finish(&mut self) -> io::Result<(Sha256, u64)> {
        self.eof = true;
        self.blocks.finish()
    }
}

impl Read for Input {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Input {
    #[inline]
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.current.len() || self.token > self.token_limit {
            if self.token > self.token_limit {
                // The parser appends everything it consumes for a token to
                // its buffer: stop it here, at most one block past the limit.
                self.fault = Some(Fault::Token);
                return Err(io::Error::other("token limit"));
            }
            if let Some(Fault::Io(kind)) = self.fault {
                return Err(kind.into());
            }
            if self.eof || !self.next_block()? {
                return Ok(&[]);
            }
        }
        Ok(&self.current[self.pos..])
    }

    #[inline]
    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.current.len());
        self.token += amt as u64;
    }
}
