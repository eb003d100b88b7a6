//! What the core crate's benchmarks share (each uses what it needs).
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use wardwatch_core::api::Ctx;
use wardwatch_core::clock::FixedClock;
use wardwatch_core::store::AuditKeys;

/// The `p` quantile (0–1) of `xs`, nearest rank; sorts `xs`.
pub fn percentile(xs: &mut [f64], p: f64) -> f64 {
    xs.sort_by(f64::total_cmp);
    let i = ((xs.len() as f64 - 1.0) * p).round() as usize;
    xs[i.min(xs.len() - 1)]
}

/// An owner-only temporary folder: a store refuses a folder others can reach.
pub fn private_tempdir() -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
}

/// A new store in `dir/store`, its audit keys in `dir/keys`, with the user
/// `bench` as its admin and the clock standing at `now`.
pub fn bench_ctx(
    dir: &Path,
    now: DateTime<Utc>,
) -> wardwatch_core::error::Result<(AuditKeys, Ctx)> {
    let keys = AuditKeys::in_dir(dir.join("keys"));
    let ctx = Ctx::create(
        &dir.join("store"),
        &keys,
        "bench",
        Arc::new(FixedClock(now)),
    )?;
    Ok((keys, ctx))
}
