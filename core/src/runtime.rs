//! The runtime that wires sources → store → scoring, the same in the desktop
//! app and in `wardwatchctl serve`. It takes the shutdown signal and the clock
//! from its caller, so tests stop it cleanly and replays pin the time.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use crate::clock::Clock;
use crate::error::Result;
use crate::ingest::pipeline::{self, RunReport, Stage};
use crate::scoring::LiveScorer;
use crate::store::Store;

/// Runs every configured source until `shutdown` completes.
pub async fn serve(
    data_dir: PathBuf,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()>,
) -> Result<RunReport> {
    let sources = Store::open_dir(&data_dir)?.sources()?;
    if sources.is_empty() {
        tracing::warn!("no stream sources configured: add one with `wardwatchctl sources add`");
    }
    tracing::info!(sources = sources.len(), "runtime starting");
    let stage: Box<dyn Stage> = Box::new(LiveScorer::default());
    let report = pipeline::run(data_dir, sources, clock, Some(stage), shutdown).await?;
    let total = report.total();
    tracing::info!(
        stored = total.stored,
        duplicates = total.duplicates,
        quarantined = total.quarantined,
        "runtime stopped"
    );
    Ok(report)
}
