//! Wardwatch's data lake (docs/data-lake.md): the object targets (a local
//! folder, any S3-compatible store), and the sync engine that seals the
//! store's spool into objects and sends them, verified, to the target.
//! Like `wardwatch-core`, this crate never depends on `tauri` or webkit.

pub mod archive;
pub mod audit;
pub mod curated;
pub mod engine;
pub mod error;
pub mod history;
pub mod rest;
pub mod target;

pub use engine::{Engine, Pass, Progress, Rules, health, plan};
pub use error::{Error, Fault};
pub use target::{Credentials, Put, Target};

use std::path::Path;

use wardwatch_core::store::lake::LakeTarget;

/// The folder of the embedded default target, inside the data directory.
pub const DEFAULT_LAKE_DIR: &str = "lake";

/// The target objects go to: the configured one, or the embedded default
/// (`DATA_DIR/lake`) when none is configured.
pub fn configured_target(targets: &[LakeTarget], data_dir: &Path) -> Result<LakeTarget, Error> {
    match targets {
        [] => {
            let dir = data_dir.join(DEFAULT_LAKE_DIR);
            let dir = std::path::absolute(&dir).unwrap_or(dir);
            Ok(LakeTarget::folder(
                "local",
                &dir,
                chrono::Utc::now(),
                "default",
            ))
        }
        [one] => Ok(one.clone()),
        many => Err(Error::config(
            &many[0].name,
            format!(
                "{} targets are configured; Wardwatch syncs to one: remove the others (`wardwatchctl sync targets remove`)",
                many.len()
            ),
        )),
    }
}
