//! Integration tests of wardwatch-core through its API layer, on real SQLite
//! files in temporary directories.

mod alarms;
mod audit;
mod auth;
mod backup;
mod cipher;
mod devices;
mod history;
mod import;
mod ingest;
mod lake;
mod matrix;
mod migrations;
mod props;
mod roles;
mod rollup_journal;

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
    Ctx::create(dir, &keys(), user, clock()).expect("open the store")
}

/// The store under `ctx`, opened on its own: tests look behind the API to
/// check what it wrote.
pub fn store_of(ctx: &Ctx) -> wardwatch_core::store::Store {
    wardwatch_core::store::Store::open_dir(ctx.data_dir()).expect("open the store")
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

/// A store holding the demo ward (seed 9), opened behind the API, and the
/// ward's MRNs.
pub fn store_with_ward(dir: &Path) -> (wardwatch_core::store::Store, Vec<String>) {
    let mut c = ctx(dir, "admin");
    wardwatch_core::api::load_demo_ward(&mut c, 9).expect("demo");
    let mrns = store_of(&c)
        .patients()
        .expect("patients")
        .into_iter()
        .map(|p| p.mrn)
        .collect();
    (store_of(&c), mrns)
}
