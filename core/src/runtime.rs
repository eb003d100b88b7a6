//! The runtime that wires sources → store → scoring → alarms, the same in the
//! desktop app and in `wardwatchctl serve`. It takes the shutdown signal, the
//! clock and the notifier from its caller, so tests stop it cleanly, replays
//! pin the time, and a headless run can record notices instead of showing
//! them.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use wardwatch_notify::Notifier;

use crate::alarms::Rules;
use crate::alarms::stage::{AlarmStage, DeliveryStats};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::ingest::pipeline::{self, RunReport};
use crate::store::Store;

/// The ward's alarm rules key in `settings` (JSON of `alarms::Rules`).
pub const RULES_SETTING: &str = "alarms.rules";

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ServeReport {
    pub ingest: RunReport,
    pub notifications: DeliveryStats,
}

/// The ward's alarm rules: the stored ones, else the defaults.
pub fn rules(store: &Store) -> Result<Rules> {
    match store.setting(RULES_SETTING)? {
        None => Ok(Rules::default()),
        Some(json) => serde_json::from_str(&json).map_err(|e| Error::InvalidInput {
            what: "alarm rules",
            reason: format!("stored `{RULES_SETTING}` is invalid: {e}"),
        }),
    }
}

/// Runs every configured source until `shutdown` completes.
pub async fn serve(
    data_dir: PathBuf,
    clock: Arc<dyn Clock>,
    notifier: Box<dyn Notifier>,
    shutdown: impl Future<Output = ()>,
) -> Result<ServeReport> {
    let store = Store::open_dir(&data_dir)?;
    let sources = store.sources()?;
    let rules = rules(&store)?;
    drop(store);
    if sources.is_empty() {
        tracing::warn!("no stream sources configured: add one with `wardwatchctl sources add`");
    }
    tracing::info!(sources = sources.len(), "runtime starting");
    let (stage, stats) = AlarmStage::start(&data_dir, rules, notifier, clock.clone())?;
    let ingest = pipeline::run(data_dir, sources, clock, Some(Box::new(stage)), shutdown).await?;
    let total = ingest.total();
    tracing::info!(
        stored = total.stored,
        duplicates = total.duplicates,
        quarantined = total.quarantined,
        "runtime stopped"
    );
    let notifications = stats.lock().map(|s| s.clone()).unwrap_or_default();
    Ok(ServeReport {
        ingest,
        notifications,
    })
}
