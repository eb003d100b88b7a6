//! The time source for request signing. SigV4 signatures embed the time and
//! AWS rejects ones more than five minutes off, so production uses the system
//! clock; tests and replays inject a fixed one.

use std::fmt::Debug;

use chrono::{DateTime, Utc};

/// Gives the current time in UTC.
pub trait Clock: Debug + Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Always the same instant; for tests and deterministic replays.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}
