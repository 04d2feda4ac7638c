//! [`HashingReader`]: an input read in blocks on its own thread, every byte
//! hashed, so hashing overlaps parsing.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use casebridge_model::Sha256;
use sha2::Digest;

/// Block size of [`HashingReader::new`].
pub const DEFAULT_BLOCK: usize = 1 << 20;
/// Blocks in flight between the reading thread and the parser.
const IN_FLIGHT: usize = 4;

type Block = Result<Vec<u8>, io::ErrorKind>;
type Hashed = io::Result<(Sha256, u64)>;

/// Reads a byte stream in blocks on its own thread and computes the SHA-256
/// of every byte.
///
/// The parser takes blocks with [`next_block`](HashingReader::next_block),
/// handing back the one it is done with (buffers are recycled, so memory
/// stays at a few blocks whatever the input's size);
/// [`finish`](HashingReader::finish) reads what the parser did not and gives
/// the hash and size of the whole stream. A read error ends the blocks (the
/// parser sees its kind) and is what `finish` returns.
///
/// Dropped without `finish` (a source closed at a fatal error), the reader
/// stops at its next block and the drop waits for its thread, so no thread
/// outlives its source.
pub struct HashingReader {
    rx: Receiver<Block>,
    recycle: SyncSender<Vec<u8>>,
    handle: Option<JoinHandle<Hashed>>,
    progress: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for HashingReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashingReader")
            .field("bytes_read", &self.bytes_read())
            .field("finished", &self.handle.is_none())
            .finish()
    }
}

impl HashingReader {
    /// Starts reading `inner` in blocks of [`DEFAULT_BLOCK`] bytes.
    pub fn new(inner: Box<dyn Read + Send>) -> HashingReader {
        HashingReader::with_block(inner, DEFAULT_BLOCK)
    }

    /// Starts reading `inner` in blocks of `block` bytes (tests use tiny
    /// ones to cross block boundaries everywhere).
    pub fn with_block(inner: Box<dyn Read + Send>, block: usize) -> HashingReader {
        HashingReader::spawn(inner, block.max(1), true)
    }

    /// Only hashes `inner`, giving no blocks (for a source that another
    /// reader parses, as calamine does a workbook).
    pub fn hash_only(inner: Box<dyn Read + Send>) -> HashingReader {
        HashingReader::spawn(inner, DEFAULT_BLOCK, false)
    }

    fn spawn(mut inner: Box<dyn Read + Send>, block: usize, deliver: bool) -> HashingReader {
        let (tx, rx) = sync_channel::<Block>(IN_FLIGHT);
        let (recycle, pool) = sync_channel::<Vec<u8>>(IN_FLIGHT + 2);
        let progress = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, stopped) = (progress.clone(), stop.clone());
        let tx = deliver.then_some(tx);
        let handle = std::thread::spawn(move || -> Hashed {
            let mut hasher = sha2::Sha256::new();
            let mut total = 0u64;
            let mut spare = None;
            loop {
                if stopped.load(Ordering::Relaxed) {
                    return Err(dropped());
                }
                let mut buf = spare
                    .take()
                    .or_else(|| pool.try_recv().ok())
                    .unwrap_or_else(|| Vec::with_capacity(block));
                buf.resize(block, 0);
                let mut filled = 0;
                while filled < block {
                    match inner.read(&mut buf[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n.min(block - filled),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            if let Some(tx) = &tx {
                                let _ = tx.send(Err(e.kind()));
                            }
                            return Err(e);
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
                match &tx {
                    Some(tx) => {
                        if tx.send(Ok(buf)).is_err() {
                            // Dropped without finishing: stop reading.
                            return Err(dropped());
                        }
                    }
                    None => spare = Some(buf),
                }
            }
            Ok((Sha256(hasher.finalize().into()), total))
        });
        HashingReader {
            rx,
            recycle,
            handle: Some(handle),
            progress,
            stop,
        }
    }

    /// The counter of bytes read from the input so far (ahead of the
    /// parser), for progress bars.
    pub fn progress(&self) -> Arc<AtomicU64> {
        self.progress.clone()
    }

    /// Bytes read from the input so far.
    pub fn bytes_read(&self) -> u64 {
        self.progress.load(Ordering::Relaxed)
    }

    /// Replaces `block` (done with, and recycled) by the next block:
    /// `Ok(true)`; at the end of the input `Ok(false)`, and after a read
    /// error its kind, leaving `block` as it was.
    pub fn next_block(&mut self, block: &mut Vec<u8>) -> Result<bool, io::ErrorKind> {
        match self.rx.recv() {
            Ok(Ok(next)) => {
                let old = std::mem::replace(block, next);
                let _ = self.recycle.try_send(old);
                Ok(true)
            }
            Ok(Err(kind)) => Err(kind),
            Err(_) => Ok(false),
        }
    }

    /// Reads and hashes the rest of the input; gives the SHA-256 and size
    /// of all of it, or the read error.
    pub fn finish(&mut self) -> io::Result<(Sha256, u64)> {
        while self.rx.recv().is_ok() {}
        match self.handle.take() {
            Some(h) => h
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("hashing thread panicked"))),
            None => Err(io::Error::other("already finished")),
        }
    }
}

fn dropped() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the reader was dropped")
}

impl Drop for HashingReader {
    /// Stops the reading thread and waits for it.
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            self.stop.store(true, Ordering::Relaxed);
            // Disconnect: a send blocked on a full channel fails at once.
            let (_, closed) = sync_channel(0);
            drop(std::mem::replace(&mut self.rx, closed));
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Cursor;

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn blocks_give_every_byte_and_the_hash_of_all() {
        for block in [1, 7, 4096, DEFAULT_BLOCK] {
            let bytes = data(100_003);
            let mut r = HashingReader::with_block(Box::new(Cursor::new(bytes.clone())), block);
            let mut got = Vec::new();
            let mut cur = Vec::new();
            while r.next_block(&mut cur).unwrap() {
                assert!(cur.len() <= block);
                got.extend_from_slice(&cur);
            }
            assert_eq!(got, bytes);
            assert_eq!(r.finish().unwrap(), (Sha256::digest(&bytes), 100_003));
            assert_eq!(r.bytes_read(), 100_003);
        }
    }

    #[test]
    fn finish_hashes_what_the_parser_did_not_read() {
        let bytes = data(50_000);
        let mut r = HashingReader::with_block(Box::new(Cursor::new(bytes.clone())), 1000);
        let mut cur = Vec::new();
        assert!(r.next_block(&mut cur).unwrap());
        assert_eq!(r.finish().unwrap(), (Sha256::digest(&bytes), 50_000));
        assert!(r.finish().is_err(), "only once");
    }

    #[test]
    fn hash_only_gives_no_blocks_and_the_hash() {
        let bytes = data(3 * DEFAULT_BLOCK + 5);
        let mut r = HashingReader::hash_only(Box::new(Cursor::new(bytes.clone())));
        let mut cur = Vec::new();
        assert_eq!(r.next_block(&mut cur), Ok(false));
        assert_eq!(
            r.finish().unwrap(),
            (Sha256::digest(&bytes), bytes.len() as u64)
        );
    }

    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::new(io::ErrorKind::PermissionDenied, "nope"));
            }
            let n = buf.len().min(self.0);
            self.0 -= n;
            Ok(n)
        }
    }

    #[test]
    fn a_read_error_ends_the_blocks_and_is_what_finish_returns() {
        let mut r = HashingReader::with_block(Box::new(Failing(10)), 4);
        let mut cur = Vec::new();
        assert_eq!(r.next_block(&mut cur), Ok(true));
        assert_eq!(r.next_block(&mut cur), Ok(true));
        assert_eq!(cur.len(), 4);
        assert_eq!(r.next_block(&mut cur), Err(io::ErrorKind::PermissionDenied));
        assert_eq!(cur.len(), 4, "left as it was");
        let err = r.finish().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    }

    /// An endless input: only stopping on drop ends its thread.
    struct Endless(Arc<AtomicU64>);
    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0.fetch_add(1, Ordering::Relaxed);
            buf.fill(b'x');
            Ok(buf.len())
        }
    }

    #[test]
    fn drop_stops_and_joins_the_thread() {
        for deliver in [true, false] {
            let reads = Arc::new(AtomicU64::new(0));
            let inner = Box::new(Endless(reads.clone()));
            let mut r = if deliver {
                HashingReader::with_block(inner, 16)
            } else {
                HashingReader::hash_only(inner)
            };
            let mut cur = Vec::new();
            if deliver {
                assert!(r.next_block(&mut cur).unwrap());
            }
            drop(r);
            // Joined: the thread no longer reads.
            let after = reads.load(Ordering::Relaxed);
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert_eq!(reads.load(Ordering::Relaxed), after);
        }
    }
}
