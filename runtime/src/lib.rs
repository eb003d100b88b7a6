//! Wardwatch's runtime: the asynchronous half that wires stream sources →
//! store → live scoring → alarms → notifications, and delivers queued patient
//! messages. The same runtime runs in `wardwatchctl serve` and, on a single
//! workstation, inside the desktop app. It takes the shutdown signal, the
//! clock and the notifier from its caller, so tests stop it cleanly, replays
//! pin the time, and a headless run can record notices instead of showing
//! them.
//!
//! `wardwatch-core` stays a synchronous library (model, store, import, API,
//! the pure alarm conditions and book); everything here that needs tokio,
//! HTTP, the cloud clients or D-Bus lives in this crate instead.

pub mod checkpoint;
pub mod directory;
pub mod flood;
pub mod helper;
pub mod lake;
pub mod lock;
pub mod logfile;
pub mod messages;
pub mod pipeline;
pub mod scoring;
pub mod setup;
pub mod source;
pub mod stage;
pub mod stage_thread;
pub mod supervisor;
pub mod upkeep;
pub mod vault;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;
use wardwatch_core::clock::Clock;
use wardwatch_core::error::Result;
use wardwatch_core::store::{AuditKeys, Store};
use wardwatch_notify::Notifier;

use crate::lock::RuntimeLock;
use crate::messages::Delivery;
use crate::pipeline::RunReport;
use crate::stage::{AlarmStage, DeliveryStats};
use crate::supervisor::{Progress, Supervisor};

pub use wardwatch_core::alarms::book::RULES_SETTING;

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ServeReport {
    pub ingest: RunReport,
    pub notifications: DeliveryStats,
    pub messages: Delivery,
}

/// Runs every configured source, and delivers patient messages, until
/// `shutdown` completes. Refuses at once (`ErrorKind::RuntimeRunning`, naming
/// the holder) when another runtime already runs on this store, and
/// (`ErrorKind::NoStore`) when `data_dir` holds no store.
pub async fn serve(
    data_dir: PathBuf,
    keys: AuditKeys,
    clock: Arc<dyn Clock>,
    notifier: Box<dyn Notifier>,
    shutdown: impl Future<Output = ()>,
) -> Result<ServeReport> {
    let lock = RuntimeLock::acquire(&data_dir, clock.now())?;
    let supervisor = Supervisor::from_env();
    let store = Store::open_dir(&data_dir)?;
    let sources = store.sources()?;
    let rules = store.alarm_rules()?;
    drop(store);
    if sources.is_empty() {
        tracing::warn!("no stream sources configured: add one with `wardwatchctl sources add`");
    }
    tracing::info!(sources = sources.len(), lock = %lock.path().display(), "runtime starting");
    let (stage, stats) = AlarmStage::start(&data_dir, rules, notifier, clock.clone())?;
    // One stop for every part: the caller's shutdown, or the ingest
    // pipeline ending on its own (its writer died), stops them all.
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let trigger = async {
        tokio::select! {
            _ = shutdown => {}
            _ = stopped(stop_rx.clone()) => {}
        }
        supervisor.notify("STOPPING=1");
        let _ = stop_tx.send(true);
    };
    let progress = Progress::default();
    let source_count = sources.len();
    let ingest = async {
        let r = pipeline::run(
            data_dir.clone(),
            Some(keys.clone()),
            sources,
            clock.clone(),
            Some(Box::new(stage)),
            progress.clone(),
            stopped(stop_rx.clone()),
        )
        .await;
        let _ = stop_tx.send(true);
        r
    };
    let delivery = messages::run(&data_dir, &keys, clock.clone(), stopped(stop_rx.clone()));
    let beat = supervisor::heartbeat(
        &data_dir,
        progress.clone(),
        &supervisor,
        clock.clone(),
        stopped(stop_rx.clone()),
    );
    supervisor.notify(&format!(
        "READY=1\nSTATUS=running: {source_count} source(s)\nMAINPID={}",
        std::process::id()
    ));
    let (ingest, messages, (), ()) = tokio::join!(ingest, delivery, trigger, beat);
    let ingest = ingest?;
    let messages = messages.unwrap_or_else(|e| {
        tracing::error!(kind = ?e.kind(), error = %e, "patient message delivery could not run");
        Delivery::default()
    });
    let total = ingest.total();
    tracing::info!(
        stored = total.stored,
        duplicates = total.duplicates,
        quarantined = total.quarantined,
        messages_sent = messages.sent,
        "runtime stopped"
    );
    let notifications = stats.lock().map(|s| s.clone()).unwrap_or_default();
    drop(lock);
    Ok(ServeReport {
        ingest,
        notifications,
        messages,
    })
}
