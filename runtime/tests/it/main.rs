//! Integration tests of wardwatch-runtime on real SQLite files in temporary
//! directories: live scoring, the one-runtime-per-store lock, concurrent
//! writers during ingest, and patient-message delivery.

mod delivery;
mod exit;
mod lake;
mod quarantine;
mod rules;
mod scoring;
mod upkeep;

use std::path::Path;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use wardwatch_core::api::Ctx;
use wardwatch_core::clock::FixedClock;

/// The audit keys' folder for tests: `WARDWATCH_KEY_DIR` (the test script
/// sets a fresh one per run, and the binaries under test inherit it), else
/// one under the system's temporary folder.
pub fn keys() -> wardwatch_core::store::AuditKeys {
    wardwatch_core::store::AuditKeys::in_dir(
        std::env::var_os("WARDWATCH_KEY_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("wardwatch-test-keys")),
    )
}

/// A fixed "now" so ages and validations do not drift with the calendar.
pub fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock(
        Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0)
            .single()
            .expect("valid time"),
    ))
}

pub fn ctx(dir: &Path, user: &str) -> Ctx {
    Ctx::create(dir, &keys(), user, clock()).expect("create the store")
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
