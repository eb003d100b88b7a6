//! Integration tests for wardwatch-notify, one binary.
//!
//! Most talk to a real notification daemon on a real session bus and fail
//! without one; run them as
//! `scripts/notifyd.sh run -- cargo test -p wardwatch-notify`.
//! The `unavailable` tests run the notifier in a child process (this same
//! binary, see `unavailable::probe`) with the bus address pointed elsewhere.

mod bus;
mod contract;
mod desktop;
mod unavailable;

use std::sync::atomic::{AtomicU32, Ordering};

/// A title no other test (or earlier run) uses, so a test finds its own
/// `Notify` call among everything on the bus.
pub fn unique_title(marker: &str, what: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{marker} Bed {n} {what} [it-{}-{n}]", std::process::id())
}
