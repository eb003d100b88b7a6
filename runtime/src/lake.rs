//! The data lake in the background (docs/data-lake.md): a thread of its own,
//! with its own store connection and a small tokio runtime, runs the sync
//! engine — seal what the plan says, send pending objects to the target,
//! verified — every few seconds while the runtime runs.
//!
//! Failure is loud: a target that cannot be opened, refuses the
//! credentials or names a missing bucket, data waiting longer than
//! `sync.alarm_after_minutes`, or more than `sync.outbox_alarm_mb` unsynced,
//! is the technical alarm `tech:sync` (through the pipeline's channel, as
//! `SourceEvent::Condition`) until the lake catches up. Nothing is dropped
//! meanwhile: the spool and the outbox hold everything.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use wardwatch_core::clock::Clock;
use wardwatch_core::store::Store;
use wardwatch_sync::{Engine, Error, Fault, Rules, Target, configured_target, health};

use crate::helper::Helper;
use crate::pipeline::SourceEvent;

/// The technical condition of a lake that is not keeping up.
pub const SYNC_KEY: &str = "tech:sync";
/// The technical condition of a bucket whose lifecycle lacks the archival
/// rules (checked at start).
pub const ARCHIVE_KEY: &str = "tech:archive";

/// The technical condition of a dataset catalogue that cannot be brought
/// up to date (its index unreadable: `wardwatchctl catalog reindex`).
pub const CATALOG_KEY: &str = "tech:catalog";

/// The catalogue is refreshed at most this often (a refresh reads every
/// entry's digest; at a year of a busy ward's objects that is a few
/// hundred thousand).
const CATALOG_EVERY: Duration = Duration::from_secs(60);
/// The catalogue's refreshes take at most about a tenth of the lake
/// thread: the next waits at least this many times as long as the last
/// one took. A refresh derives an entry for every object the lake holds,
/// so its cost grows with the lake (at 5,000 patients and 1 MiB objects,
/// about 10,000 objects an hour); the objects' sync must not wait on it.
const CATALOG_SHARE: u32 = 10;
/// A refresh this slow is logged with the lever that makes it cheaper.
const CATALOG_SLOW: Duration = Duration::from_secs(10);

/// How long after a refresh that took `cost` the next may start.
fn catalog_spacing(cost: Duration) -> Duration {
    CATALOG_EVERY.max(cost.saturating_mul(CATALOG_SHARE))
}
/// The audit chain's head goes to the lake at most this often (when the
/// trail grew): a rewrite can hide at most this much of the newest trail
/// from `audit verify --lake`, and a busy ward writes 12 small objects an
/// hour.
const AUDIT_HEAD_EVERY: Duration = Duration::from_secs(300);

/// Seconds between passes when all is synced, and when a pass failed.
const IDLE: u64 = 10;
const AFTER_FAILURE: u64 = 30;

/// Starts the sync thread; it stops when `stop` is set (a pass under way
/// ends between two windows of objects) or the writer is gone.
pub fn start(
    data_dir: PathBuf,
    clock: Arc<dyn Clock>,
    tx: mpsc::WeakSender<SourceEvent>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<Helper> {
    Helper::spawn("wardwatch-sync", move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "the lake sync cannot start its runtime");
                return;
            }
        };
        rt.block_on(run(&data_dir, clock, &tx, stop));
    })
}

fn send(tx: &mpsc::WeakSender<SourceEvent>, started: bool, message: String) {
    send_as(tx, SYNC_KEY, started, message);
}

fn send_as(tx: &mpsc::WeakSender<SourceEvent>, key: &str, started: bool, message: String) {
    if let Some(tx) = tx.upgrade() {
        let _ = tx.try_send(SourceEvent::Condition {
            key: key.to_owned(),
            started,
            message,
        });
    }
}

async fn open(data_dir: &Path, clock: Arc<dyn Clock>) -> Result<Engine, Error> {
    // The runtime's checkpointer copies the WAL; a seal's commit does not.
    let store = Store::open_beside_checkpointer(data_dir).map_err(|e| Error::store("lake", &e))?;
    let targets = store.lake_targets().map_err(|e| Error::store("lake", &e))?;
    let t = configured_target(&targets, data_dir)?;
    let rules = Rules::from_settings(&store).map_err(|e| Error::config(&t.name, e.to_string()))?;
    let target = Target::open(&t, None).await?;
    tracing::info!(target = %t.name, url = %t.url, "lake sync starting");
    Ok(Engine::new(store, target, rules, clock))
}

/// Compares the bucket's lifecycle with the archival rules once at start. A
/// credential that may not read it is only logged (least privilege may
/// leave that to the admin's); rules that differ are `tech:archive`.
async fn check_archival_rules(engine: &Engine, tx: &mpsc::WeakSender<SourceEvent>) {
    let Some(s3) = engine.target().as_s3() else {
        return;
    };
    let policy = match wardwatch_sync::archive::Policy::from_settings(engine.store()) {
        Ok(p) => p,
        Err(e) => {
            send_as(tx, ARCHIVE_KEY, true, format!("archival settings: {e}"));
            return;
        }
    };
    match s3.compare_lifecycle(&policy).await {
        Ok(c) if c.matches() => {
            for w in c.warnings() {
                tracing::warn!(warning = %w, "archival rules");
            }
        }
        Ok(_) => send_as(
            tx,
            ARCHIVE_KEY,
            true,
            format!(
                "bucket {} does not hold the archival rules: an admin runs `wardwatchctl archive apply`",
                s3.bucket()
            ),
        ),
        Err(e) if e.fault == Fault::Credentials => {
            tracing::warn!(error = %e, "cannot read the bucket's lifecycle to check the archival rules");
        }
        Err(e) => tracing::warn!(error = %e, "cannot check the archival rules"),
    }
}

async fn run(
    data_dir: &Path,
    clock: Arc<dyn Clock>,
    tx: &mpsc::WeakSender<SourceEvent>,
    stop: Arc<AtomicBool>,
) {
    let gone = || stop.load(Ordering::Relaxed) || tx.strong_count() == 0;
    let nap = |secs: u64| async move {
        for _ in 0..secs * 10 {
            if gone() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let mut alarmed = false;
    let mut engine = loop {
        match open(data_dir, clock.clone()).await {
            Ok(e) => break e,
            Err(e) => {
                tracing::error!(error = %e, "the lake sync cannot start");
                if !alarmed {
                    alarmed = true;
                    send(tx, true, format!("lake sync cannot start: {e}"));
                }
                nap(AFTER_FAILURE).await;
                if gone() {
                    return;
                }
            }
        }
    };
    engine.cancel_on(stop.clone());
    check_archival_rules(&engine, tx).await;
    // The catalogue follows the lake: refreshed at start and after each
    // pass that changed the lake.
    let mut catalog_due = true;
    // When the next refresh may start (`catalog_spacing` after the last).
    let mut next_refresh: Option<std::time::Instant> = None;
    let mut manifests_due = false;
    let mut catalog_alarmed = false;
    let mut last_head: Option<std::time::Instant> = None;
    while !gone() {
        let pass = engine.pass(false, &mut |_| {}).await;
        if let Ok(p) = &pass {
            catalog_due |= p.written + p.sealed + p.curated.commits > 0;
        }
        // Spaced in monotonic time: this is pacing, not data time.
        let spaced = next_refresh.is_none_or(|t| std::time::Instant::now() >= t);
        if catalog_due && spaced {
            catalog_due = false;
            let started = std::time::Instant::now();
            let refreshed =
                wardwatch_catalog::refresh(engine.store_mut(), data_dir, "sync", clock.now());
            let cost = started.elapsed();
            next_refresh = Some(started + catalog_spacing(cost));
            if cost >= CATALOG_SLOW {
                tracing::warn!(
                    seconds = cost.as_secs(),
                    next_in_seconds = catalog_spacing(cost).as_secs(),
                    "the catalogue's refresh is slow: it derives an entry for every object of the lake; larger objects (setting sync.object_kib) make fewer"
                );
            }
            match refreshed {
                Ok(r) => {
                    if r.store.changed() > 0 {
                        tracing::info!(
                            created = r.store.created,
                            updated = r.store.updated,
                            removed = r.store.removed,
                            indexed = r.indexed,
                            "catalogue refreshed"
                        );
                    }
                    if catalog_alarmed {
                        catalog_alarmed = false;
                        send_as(tx, CATALOG_KEY, false, "the catalogue is current".into());
                    }
                    manifests_due = true;
                }
                Err(e) => {
                    // A busy index (a reindex by hand) is retried next pass.
                    catalog_due = true;
                    tracing::error!(error = %e, "the catalogue cannot be refreshed");
                    if !catalog_alarmed && !matches!(e, wardwatch_catalog::Error::Busy) {
                        catalog_alarmed = true;
                        send_as(tx, CATALOG_KEY, true, format!("dataset catalogue: {e}"));
                    }
                }
            }
        }
        if manifests_due {
            // A target that cannot take them now is tech:sync already;
            // they are written once it can.
            let (store, target) = engine.parts();
            match wardwatch_catalog::manifest::publish(store, target, clock.now()).await {
                Ok(n) => {
                    manifests_due = false;
                    if n > 0 {
                        tracing::info!(written = n, "dataset manifests written to the lake");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "dataset manifests"),
            }
        }
        // The audit chain's head, write-once, at most every AUDIT_HEAD_EVERY.
        if last_head.is_none_or(|t| t.elapsed() >= AUDIT_HEAD_EVERY) {
            let (store, target) = engine.parts();
            match wardwatch_sync::audit::publish_head(store, target, clock.now()).await {
                Ok(written) => {
                    last_head = Some(std::time::Instant::now());
                    if let Some(seq) = written {
                        tracing::info!(seq, "audit chain head written to the lake");
                    }
                }
                // Retried next pass; a target that refuses writes is
                // tech:sync already.
                Err(e) => tracing::warn!(error = %e, "the audit chain's head"),
            }
        }
        let (failure, pending) = match &pass {
            Ok(p) => {
                if p.written + p.sealed > 0 {
                    tracing::info!(
                        sealed = p.sealed,
                        written = p.written,
                        bytes = p.bytes,
                        pending = p.pending,
                        "lake sync pass"
                    );
                }
                (p.failure.clone(), p.pending)
            }
            Err(e) => (Some(e.clone()), 1),
        };
        if let Some(e) = &failure {
            tracing::warn!(fault = ?e.fault, error = %e, "lake sync");
        }
        let why = match engine.store().lake_backlog() {
            Ok(status) => health(&status, failure.as_ref(), clock.now(), engine.rules()),
            Err(e) => Some(format!("cannot read the lake outbox: {e}")),
        };
        match (why, alarmed) {
            (Some(why), false) => {
                alarmed = true;
                send(tx, true, why);
            }
            (None, true) => {
                alarmed = false;
                send(tx, false, "the lake has caught up".into());
            }
            _ => {}
        }
        let wait = match &failure {
            Some(e) if e.fault != Fault::Conflict && e.fault != Fault::Refused => AFTER_FAILURE,
            _ if pending > 0 => 1,
            _ => IDLE,
        };
        nap(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_catalogue_refresh_waits_longer_so_the_sync_goes_on() {
        // A quick refresh: once a minute.
        assert_eq!(catalog_spacing(Duration::from_millis(300)), CATALOG_EVERY);
        // A lake whose refresh takes 30 s: every 5 minutes, so refreshes
        // take a tenth of the lake thread, not half of it.
        assert_eq!(
            catalog_spacing(Duration::from_secs(30)),
            Duration::from_secs(300)
        );
    }
}
