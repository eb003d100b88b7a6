//! Integration tests of wardwatch-runtime on real SQLite files in temporary
//! directories: live scoring, the one-runtime-per-store lock, concurrent
//! writers during ingest, and patient-message delivery.

mod lake;
mod quarantine;
mod scoring;
mod upkeep;

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
    Ctx::create(dir, user, clock()).expect("create the store")
}

/// A temporary folder only its owner can reach, as a store's folder must be
/// (a store is refused in a folder other users can read).
pub fn private_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .expect("temp dir")
}
