//! Integration tests of wardwatch-core through its API layer, on real SQLite
//! files in temporary directories.

mod alarms;
mod import;
mod ingest;
mod migrations;
mod roles;

use std::path::Path;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use wardwatch_core::api::Ctx;
use wardwatch_core::clock::FixedClock;

/// A fixed "now" so ages and validations do not drift with the calendar.
pub fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock(
        Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0)
            .single()
            .expect("valid time"),
    ))
}

pub fn ctx(dir: &Path, user: &str) -> Ctx {
    Ctx::open(dir, user, clock()).expect("open the store")
}
