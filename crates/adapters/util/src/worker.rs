//! [`Worker`]: a thread that owns an output and does, in order, the work
//! handed to it, so that encoding and writing a file overlap reading and
//! mapping the records (the JSON Lines and CSV sinks write through one).

use std::io;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

/// A thread doing work of type `M` on a state it owns, ending with `R`.
///
/// At most `depth` pieces of work wait for it; [`Worker::send`] blocks
/// beyond that, so memory stays bounded however fast work comes. The first
/// error stops the thread (its state is dropped there: an
/// [`OutputFile`](crate::OutputFile) removes its temporary file) and is
/// returned by the next [`Worker::send`] or by [`Worker::finish`]. Dropped
/// without `finish`, the worker is told to stop and waited for.
pub struct Worker<M: Send + 'static, R: Send + 'static> {
    to: Option<SyncSender<M>>,
    thread: Option<JoinHandle<io::Result<R>>>,
}

impl<M: Send + 'static, R: Send + 'static> Worker<M, R> {
    /// Starts a thread named `name` that gives each piece of work to
    /// `step`, in order, then hands its state to `end` once every sender
    /// is gone.
    pub fn spawn<S, F, E>(
        name: &str,
        depth: usize,
        state: S,
        mut step: F,
        end: E,
    ) -> io::Result<Worker<M, R>>
    where
        S: Send + 'static,
        F: FnMut(&mut S, M) -> io::Result<()> + Send + 'static,
        E: FnOnce(S) -> io::Result<R> + Send + 'static,
    {
        let (to, work) = sync_channel(depth);
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let mut state = state;
                for m in work {
                    step(&mut state, m)?;
                }
                end(state)
            })?;
        Ok(Worker {
            to: Some(to),
            thread: Some(thread),
        })
    }

    /// Hands `work` to the thread; if it has stopped, why.
    pub fn send(&mut self, work: M) -> io::Result<()> {
        if let Some(to) = &self.to {
            if to.send(work).is_ok() {
                return Ok(());
            }
        }
        match self.join() {
            Err(e) => Err(e),
            Ok(_) => Err(io::Error::other("the writer thread stopped")),
        }
    }

    /// Waits for the work handed over to be done; what `end` returned, or
    /// the first error.
    pub fn finish(mut self) -> io::Result<R> {
        self.join()
    }

    fn join(&mut self) -> io::Result<R> {
        self.to = None;
        let Some(thread) = self.thread.take() else {
            return Err(io::Error::other("the writer thread stopped"));
        };
        match thread.join() {
            Ok(r) => r,
            Err(_) => Err(io::Error::other("the writer thread panicked")),
        }
    }
}

impl<M: Send + 'static, R: Send + 'static> Drop for Worker<M, R> {
    fn drop(&mut self) {
        self.to = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn work_is_done_in_order_and_the_end_returned() {
        let mut w = Worker::spawn(
            "test",
            2,
            Vec::new(),
            |v: &mut Vec<u32>, m| {
                v.push(m);
                Ok(())
            },
            Ok,
        )
        .unwrap();
        for i in 0..1000 {
            w.send(i).unwrap();
        }
        assert_eq!(w.finish().unwrap(), (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn the_first_error_is_returned_by_the_next_send_or_finish() {
        let mut w = Worker::spawn(
            "test",
            1,
            (),
            |(), m: u32| {
                if m == 3 {
                    Err(io::Error::other("disk full"))
                } else {
                    Ok(())
                }
            },
            |()| Ok(()),
        )
        .unwrap();
        let mut failed = None;
        for i in 0..100 {
            if let Err(e) = w.send(i) {
                failed = Some(e);
                break;
            }
        }
        assert_eq!(failed.unwrap().to_string(), "disk full");
        // Stopped: later work is refused, not lost silently.
        assert!(w.send(7).is_err());
        let mut w2 = Worker::spawn(
            "test",
            4,
            (),
            |(), _m: u32| Err(io::Error::other("bad")),
            |()| Ok(()),
        )
        .unwrap();
        let _ = w2.send(1);
        assert!(w2.finish().is_err());
    }

    #[test]
    fn dropped_it_stops_and_drops_its_state() {
        struct Flag(Arc<Mutex<bool>>);
        impl Drop for Flag {
            fn drop(&mut self) {
                *self.0.lock().unwrap() = true;
            }
        }
        let dropped = Arc::new(Mutex::new(false));
        let mut w: Worker<u32, ()> =
            Worker::spawn("test", 1, Flag(dropped.clone()), |_, _| Ok(()), |_| Ok(())).unwrap();
        w.send(1).unwrap();
        drop(w);
        assert!(*dropped.lock().unwrap());
    }
}
