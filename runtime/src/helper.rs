//! The runtime's helper threads (the lake sync, the store's upkeep): each
//! stops at a shared flag and is joined, with a bound, before the runtime
//! returns. A helper left running while the process exits would still be
//! inside SQLCipher or a TLS stream when the C libraries' exit handlers free
//! their state under it.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the runtime waits, at shutdown, for each helper to notice its
/// stop flag and end. A lake pass ends between two windows of objects, and
/// a window's requests time out on their own (`sync.request_timeout_seconds`).
pub const DRAIN: Duration = Duration::from_secs(20);

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
        let handle = std::thread::Builder::new().name(name.into()).spawn(f)?;
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
