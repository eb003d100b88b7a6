//! The runtime's helper threads (the lake sync, the store's upkeep): each
//! stops at a shared flag and is joined, with a bound, before the runtime
//! returns. A helper left running while the process exits would still be
//! inside SQLCipher or a TLS stream when the C libraries' exit handlers free
//! their state under it.
//!
//! A helper runs at a lower priority than the threads that take, store,
//! score and alarm ([`HELPER_NICE`]): its work can wait minutes, an alarm
//! cannot. On a workstation whose cores ingest keeps busy, the lake's seals
//! and sync took CPU time the writer and the stage were waiting for (at
//! 10,000 patients live the lake thread was a third of `serve`'s CPU three
//! minutes in); lowered, it takes what they leave. A lake that falls
//! behind for it says so (`tech:sync`, from the outbox's age and size).

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the runtime waits, at shutdown, for each helper to notice its
/// stop flag and end. A lake pass ends between two windows of objects, and
/// a window's requests time out on their own (`sync.request_timeout_seconds`).
pub const DRAIN: Duration = Duration::from_secs(20);

/// How much nicer than the runtime a helper thread runs (Linux's nice
/// values: each step about 1.25 times less CPU time under contention; at
/// 10, about a tenth of a thread of the runtime's own priority). Added to
/// the thread's nice value, so a runtime started with `nice` keeps its
/// helpers below it; 19 at most.
pub const HELPER_NICE: i32 = 10;

/// Lowers the calling thread's priority by [`HELPER_NICE`]. Linux keeps a
/// nice value per thread (`setpriority(2)` with the thread's id), and
/// lowering one's own needs no privilege; a failure is logged and the
/// helper runs at the runtime's priority.
fn lower_priority(name: &str) {
    let tid = rustix::thread::gettid();
    let lowered = rustix::process::getpriority_process(Some(tid)).and_then(|nice| {
        let to = (nice + HELPER_NICE).min(19);
        rustix::process::setpriority_process(Some(tid), to).map(|()| to)
    });
    match lowered {
        Ok(nice) => tracing::debug!(thread = name, nice, "helper thread at a lower priority"),
        Err(e) => {
            tracing::warn!(thread = name, error = %e, "cannot lower a helper thread's priority; it competes with ingest")
        }
    }
}

/// A running helper thread.
#[derive(Debug)]
pub struct Helper {
    name: &'static str,
    handle: JoinHandle<()>,
}

/// How a helper ended when it was joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It returned.
    Stopped,
    /// It panicked (logged).
    Panicked,
    /// It was still running when the bound passed (logged); the process
    /// exits without it.
    StillRunning,
}

impl Helper {
    pub(crate) fn spawn(
        name: &'static str,
        f: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<Helper> {
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                lower_priority(name);
                f()
            })?;
        Ok(Helper { name, handle })
    }

    /// The thread's name (`wardwatch-sync`, `wardwatch-upkeep`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Waits at most `bound` for the thread to end, once the caller has set
    /// its stop flag. Blocks the calling thread.
    pub fn join_within(self, bound: Duration) -> Ended {
        let deadline = Instant::now() + bound;
        while !self.handle.is_finished() {
            if Instant::now() >= deadline {
                tracing::error!(
                    thread = self.name,
                    waited_s = bound.as_secs(),
                    "a helper thread did not stop in time; the runtime stops without it"
                );
                return Ended::StillRunning;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        match self.handle.join() {
            Ok(()) => Ended::Stopped,
            Err(_) => {
                tracing::error!(thread = self.name, "a helper thread panicked");
                Ended::Panicked
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A helper runs below the thread that started it, and the thread that
    /// started it keeps its priority.
    #[test]
    fn a_helper_runs_at_a_lower_priority_than_the_runtime() {
        let nice = || rustix::process::getpriority_process(Some(rustix::thread::gettid()));
        let runtime = nice().expect("the test thread's nice value");
        let (tx, rx) = std::sync::mpsc::channel();
        let helper = Helper::spawn("wardwatch-test", move || {
            tx.send(nice().expect("the helper's nice value"))
                .expect("send");
        })
        .expect("spawn");
        let helper_nice = rx.recv().expect("the helper's answer");
        assert_eq!(helper.join_within(Duration::from_secs(10)), Ended::Stopped);
        assert_eq!(helper_nice, (runtime + HELPER_NICE).min(19));
        assert_eq!(
            nice().expect("again"),
            runtime,
            "the runtime's own priority"
        );
    }
}
