//! The byte stream under the parser: hashes every byte read, counts the
//! newlines the parser has consumed (for line numbers), and refuses to let one
//! token grow past the token limit.

use std::io::{self, BufRead, Read};

use casebridge_model::Sha256;
use sha2::Digest;

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
    inner: Box<dyn Read + Send>,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    eof: bool,
    hasher: sha2::Sha256,
    /// Bytes read from the underlying reader (and hashed).
    pub total: u64,
    /// Newlines among the bytes the parser has consumed.
    pub newlines: u64,
    /// Bytes consumed since [`Input::start_token`].
    token: u64,
    token_limit: u64,
    pub fault: Option<Fault>,
}

impl Input {
    pub fn new(inner: Box<dyn Read + Send>, token_limit: usize) -> Input {
        Input {
            inner,
            buf: vec![0; BLOCK].into_boxed_slice(),
            pos: 0,
            end: 0,
            eof: false,
            hasher: sha2::Sha256::new(),
            total: 0,
            newlines: 0,
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

    /// Reads the next block, filling it as far as the reader goes.
    fn refill(&mut self) -> io::Result<()> {
        self.pos = 0;
        self.end = 0;
        while self.end < self.buf.len() && !self.eof {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    let n = n.min(self.buf.len() - self.end);
                    self.hasher.update(&self.buf[self.end..self.end + n]);
                    self.total += n as u64;
                    self.end += n;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fault = Some(Fault::Io(e.kind()));
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Reads and hashes the rest of the stream; gives the hash and byte count.
    pub fn finish(&mut self) -> io::Result<(Sha256, u64)> {
        if let Some(Fault::Io(kind)) = self.fault {
            return Err(kind.into());
        }
        loop {
            self.pos = self.end;
            if self.eof {
                break;
            }
            self.refill()?;
        }
        let hasher = std::mem::take(&mut self.hasher);
        Ok((Sha256(hasher.finalize().into()), self.total))
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
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.token > self.token_limit {
            // The parser appends everything it consumes for a token to its
            // buffer: stop it here, at most one block past the limit.
            self.fault = Some(Fault::Token);
            return Err(io::Error::other("token limit"));
        }
        if let Some(Fault::Io(kind)) = self.fault {
            return Err(kind.into());
        }
        if self.pos >= self.end && !self.eof {
            self.refill()?;
        }
        Ok(&self.buf[self.pos..self.end])
    }

    #[inline]
    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.end - self.pos);
        let consumed = &self.buf[self.pos..self.pos + amt];
        self.newlines += consumed.iter().filter(|&&b| b == b'\n').count() as u64;
        self.pos += amt;
        self.token += amt as u64;
    }
}
