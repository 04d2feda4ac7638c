//! The byte stream under the parser. A thread reads the source in blocks and
//! hashes every byte (so hashing overlaps parsing, as in the CSV reader);
//! the parser's side counts lines lazily and refuses to let one token grow
//! past the token limit.

use std::io::{self, BufRead, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use casebridge_model::Sha256;
use sha2::Digest;

/// Size of the blocks read from the underlying reader.
const BLOCK: usize = 128 * 1024;
/// Blocks in flight between the reading thread and the parser.
const IN_FLIGHT: usize = 4;

/// Why the stream stopped giving bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// One token consumed more than the token limit.
    Token,
    /// The underlying reader failed.
    Io(io::ErrorKind),
}

type Block = Result<Vec<u8>, io::ErrorKind>;
type Hashed = Result<(Sha256, u64), io::ErrorKind>;

pub(crate) struct Input {
    rx: Receiver<Block>,
    recycle: SyncSender<Vec<u8>>,
    handle: Option<JoinHandle<Hashed>>,
    current: Vec<u8>,
    pos: usize,
    eof: bool,
    /// Bytes read from the underlying reader so far (ahead of the parser).
    progress: Arc<AtomicU64>,
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
    pub fn new(mut inner: Box<dyn Read + Send>, token_limit: usize) -> Input {
        let (tx, rx) = sync_channel::<Block>(IN_FLIGHT);
        let (recycle, pool) = sync_channel::<Vec<u8>>(IN_FLIGHT + 2);
        let progress = Arc::new(AtomicU64::new(0));
        let shared = progress.clone();
        let handle = std::thread::spawn(move || -> Hashed {
            let mut hasher = sha2::Sha256::new();
            let mut total = 0u64;
            loop {
                let mut buf = pool
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(BLOCK));
                buf.resize(BLOCK, 0);
                let mut filled = 0;
                while filled < BLOCK {
                    match inner.read(&mut buf[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n.min(BLOCK - filled),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            let _ = tx.send(Err(e.kind()));
                            return Err(e.kind());
                        }
                    }
                }
                buf.truncate(filled);
                hasher.update(&buf);
                total += filled as u64;
                shared.store(total, Ordering::Relaxed);
                if filled == 0 {
                    break;
                }
                if tx.send(Ok(buf)).is_err() {
                    // The source was dropped without finishing: stop reading.
                    return Err(io::ErrorKind::BrokenPipe);
                }
            }
            Ok((Sha256(hasher.finalize().into()), total))
        });
        Input {
            rx,
            recycle,
            handle: Some(handle),
            current: Vec::new(),
            pos: 0,
            eof: false,
            progress,
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
        self.progress.load(Ordering::Relaxed)
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
        match self.rx.recv() {
            Ok(Ok(next)) => {
                let old = std::mem::replace(&mut self.current, next);
                let _ = self.recycle.try_send(old);
                self.pos = 0;
                self.counted = 0;
                Ok(true)
            }
            Ok(Err(kind)) => {
                self.fault = Some(Fault::Io(kind));
                self.eof = true;
                Err(kind.into())
            }
            Err(_) => {
                self.eof = true;
                Ok(false)
            }
        }
    }

    /// Reads and hashes the rest of the stream; gives the hash and byte count.
    pub fn finish(&mut self) -> io::Result<(Sha256, u64)> {
        while self.rx.recv().is_ok() {}
        self.eof = true;
        let hashed = match self.handle.take() {
            Some(h) => h.join().unwrap_or(Err(io::ErrorKind::Other)),
            None => Err(io::ErrorKind::Other),
        };
        hashed.map_err(io::Error::from)
    }
}

impl Drop for Input {
    /// Stops the reading thread and waits for it, so that no thread outlives
    /// its source (a source dropped at a fatal error, or never finished).
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            // Disconnect: the thread's next send fails and it returns.
            let (_, closed) = sync_channel(0);
            drop(std::mem::replace(&mut self.rx, closed));
            let _ = handle.join();
        }
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
