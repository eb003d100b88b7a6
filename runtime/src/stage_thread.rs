//! The stage (scoring, the alarm engine) on a thread of its own, with its
//! own store connection, fed by the writer thread over a bounded channel.
//!
//! The writer stores a batch and hands it on; storing the next batch then
//! overlaps scoring this one, on another core. The stage still sees every
//! event in the order the writer handled it, and only after the writer's
//! commit, so what it reads back of a batch is in the store. The bound keeps
//! memory flat: a stage that falls behind holds the writer back, and the
//! sources behind it, rather than queueing batches.
//!
//! The stage's score rows come back to the writer over another channel,
//! and the writer stores them with its next batch (or at the next tick):
//! the stage's own connection writes only alarms. A commit on another
//! connection empties the writer's cache of open numeric blocks, and the
//! rows would cost a commit of their own.
//!
//! A stage that stops (it panicked, or could not open the store) stops the
//! writer with an error naming it: data stored but never scored would be
//! alarms never raised. A stage that hangs holds the writer, whose stalled
//! progress the supervisor reports.
//!
//! A store that refuses the writer's batches is reported from the writer's
//! thread at once ([`BlockedReport`]): the stage's thread may itself be
//! waiting on that store.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Duration, Instant};

use wardwatch_core::clock::Clock;
use wardwatch_core::error::{Error, ErrorKind, Result};
use wardwatch_core::store::{IngestBatch, ScoreRow, Store, StoredBatch};

use crate::pipeline::Stage;

/// Events waiting for the stage thread: two gathered writes' worth of
/// batches (four each at most), so the writer stores the next while the
/// stage works through these.
pub const STAGE_EVENTS: usize = 8;

/// Reports a store that refuses the writer's batches, called on the
/// writer's thread at every retry.
pub trait BlockedReport: Send {
    fn store_blocked(&mut self, kind: ErrorKind, blocked_for: Duration);
}

/// What the writer hands the stage, in the order it handled it.
enum StageEvent {
    /// A batch, stored in the transaction that ended at `stored_at`.
    Batch {
        batch: IngestBatch,
        stored: StoredBatch,
        read_at: Instant,
        picked: Instant,
        stored_at: Instant,
    },
    Reconnect {
        source: String,
        error: String,
    },
    ClockSkew {
        source: String,
        skew: chrono::Duration,
    },
    Lost {
        source: String,
        what: String,
    },
    Tick,
    Condition {
        key: String,
        started: bool,
        message: String,
    },
    Unblocked(Duration),
}

/// The writer's end of the stage thread.
pub struct StageThread {
    // Dropped before `tx`: the report may hold a sender the stage's own
    // drop waits to see closed (its notification queue).
    report: Option<Box<dyn BlockedReport>>,
    tx: Option<SyncSender<StageEvent>>,
    /// The stage's score rows, for the writer to store. Unbounded, but the
    /// stage computes rows only from the `STAGE_EVENTS` it was sent.
    scores: Receiver<Vec<ScoreRow>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl std::fmt::Debug for StageThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageThread")
            .field("running", &self.thread.is_some())
            .finish()
    }
}

impl StageThread {
    /// Starts `stage` on a thread with its own connection to the store in
    /// `data_dir`.
    pub fn start(
        mut stage: Box<dyn Stage>,
        data_dir: &std::path::Path,
        clock: Arc<dyn Clock>,
    ) -> Result<StageThread> {
        let report = stage.blocked_report();
        let (tx, rx) = std::sync::mpsc::sync_channel(STAGE_EVENTS);
        let (scores_tx, scores) = std::sync::mpsc::channel();
        let dir = data_dir.to_owned();
        let thread = std::thread::Builder::new()
            .name("wardwatch-stage".into())
            .spawn(move || {
                // The runtime's checkpointer copies the WAL: an alarm's
                // commit does not. SQLite's own threshold (1,000 pages) is
                // always passed at a busy ward, and every alarm's commit
                // copied the WAL's newest pages and synced the database
                // file on the alarm's way to the desktop (at 10,000
                // patients this thread wrote half as much as the
                // checkpointer itself).
                let store = Store::open_beside_checkpointer(&dir)?;
                stage_loop(&store, rx, &scores_tx, clock.as_ref(), stage.as_mut());
                Ok(())
            })
            .map_err(|source| Error::DataDir {
                path: data_dir.to_owned(),
                source,
            })?;
        Ok(StageThread {
            report,
            tx: Some(tx),
            scores,
            thread: Some(thread),
        })
    }

    /// The score rows the stage has computed since the last call, in order.
    pub fn take_scores(&mut self) -> Vec<ScoreRow> {
        let mut rows = Vec::new();
        while let Ok(more) = self.scores.try_recv() {
            rows.extend(more);
        }
        rows
    }

    fn send(&mut self, event: StageEvent) -> Result<()> {
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(event).is_ok());
        if sent {
            return Ok(());
        }
        // The stage thread has ended: say why.
        self.tx = None;
        match self.finish() {
            Err(e) => Err(e),
            Ok(()) => Err(stopped("the stage thread ended while the writer ran")),
        }
    }

    pub fn batch(
        &mut self,
        batch: IngestBatch,
        stored: StoredBatch,
        read_at: Instant,
        picked: Instant,
        stored_at: Instant,
    ) -> Result<()> {
        self.send(StageEvent::Batch {
            batch,
            stored,
            read_at,
            picked,
            stored_at,
        })
    }

    pub fn reconnect(&mut self, source: String, error: String) -> Result<()> {
        self.send(StageEvent::Reconnect { source, error })
    }

    pub fn clock_skew(&mut self, source: String, skew: chrono::Duration) -> Result<()> {
        self.send(StageEvent::ClockSkew { source, skew })
    }

    pub fn records_lost(&mut self, source: String, what: String) -> Result<()> {
        self.send(StageEvent::Lost { source, what })
    }

    pub fn tick(&mut self) -> Result<()> {
        self.send(StageEvent::Tick)
    }

    pub fn condition(&mut self, key: String, started: bool, message: String) -> Result<()> {
        self.send(StageEvent::Condition {
            key,
            started,
            message,
        })
    }

    pub fn store_blocked(&mut self, kind: ErrorKind, blocked_for: Duration) {
        if let Some(report) = self.report.as_mut() {
            report.store_blocked(kind, blocked_for);
        }
    }

    pub fn store_unblocked(&mut self, blocked_for: Duration) -> Result<()> {
        self.send(StageEvent::Unblocked(blocked_for))
    }

    /// Lets the stage finish what it was sent and waits for it: an error if
    /// it could not run, or panicked.
    pub fn finish(&mut self) -> Result<()> {
        self.report = None;
        self.tx = None;
        match self.thread.take().map(|t| t.join()) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(e),
            Some(Err(_)) => Err(stopped("the stage thread panicked")),
        }
    }
}

impl Drop for StageThread {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            tracing::error!(error = %e, "the alarm stage stopped");
        }
    }
}

fn stopped(reason: &str) -> Error {
    Error::InvalidInput {
        what: "alarm stage",
        reason: format!("{reason}: stored data is no longer scored or alarmed"),
    }
}

/// Runs each event through `stage` until the writer closes the channel.
fn stage_loop(
    store: &Store,
    rx: Receiver<StageEvent>,
    scores: &std::sync::mpsc::Sender<Vec<ScoreRow>>,
    clock: &dyn Clock,
    stage: &mut (dyn Stage + 'static),
) {
    while let Ok(event) = rx.recv() {
        match event {
            StageEvent::Batch {
                batch,
                stored,
                read_at,
                picked,
                stored_at,
            } => {
                stage.batch_read(read_at, picked, stored_at);
                stage.source_event(store, &batch.source, Ok(()));
                let rows = stage.after_batch(store, &batch, &stored);
                // The writer keeps its end until this thread has ended.
                if !rows.is_empty() && scores.send(rows).is_err() {
                    tracing::error!("the writer is gone: a batch's scores are not stored");
                }
            }
            StageEvent::Reconnect { source, error } => {
                stage.source_event(store, &source, Err(&error));
            }
            StageEvent::ClockSkew { source, skew } => stage.clock_skew(store, &source, skew),
            StageEvent::Lost { source, what } => stage.records_lost(store, &source, &what),
            StageEvent::Tick => stage.tick(store, clock.now()),
            StageEvent::Condition {
                key,
                started,
                message,
            } => stage.system_condition(store, &key, started, &message),
            StageEvent::Unblocked(blocked_for) => stage.store_unblocked(store, blocked_for),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_core::clock::SystemClock;

    /// Writes a setting at every tick, as an alarm's commit writes.
    struct Writes;

    impl Stage for Writes {
        fn after_batch(&mut self, _: &Store, _: &IngestBatch, _: &StoredBatch) -> Vec<ScoreRow> {
            Vec::new()
        }
        fn tick(&mut self, store: &Store, _: chrono::DateTime<chrono::Utc>) {
            store
                .set_setting("test.stage", "written")
                .expect("stage write");
        }
    }

    /// The stage's commits leave the WAL to the runtime's checkpointer: a
    /// WAL far past SQLite's own threshold is still all in the WAL after
    /// the stage has committed (the database file has not grown), and
    /// what the stage wrote is stored.
    #[test]
    fn the_stages_commits_leave_the_wal_to_the_checkpointer() {
        let dir = tempfile::Builder::new()
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .expect("tmp");
        let data = dir.path().join("data");
        let store = Store::create_dir(&data).expect("store");
        store.checkpoint_past_the_backstop().expect("threshold");
        let db_len = || std::fs::metadata(store.path()).expect("db").len();
        let before = db_len();
        // Past 1,000 pages of WAL, none of it copied.
        for i in 0..1_200 {
            store
                .set_setting(&format!("test.key{i}"), &"x".repeat(3_000))
                .expect("setting");
        }
        assert_eq!(db_len(), before, "nothing checkpointed the WAL yet");
        let mut stage =
            StageThread::start(Box::new(Writes), &data, Arc::new(SystemClock)).expect("stage");
        stage.tick().expect("tick");
        stage.finish().expect("the stage ran");
        assert_eq!(
            store.setting("test.stage").expect("read").as_deref(),
            Some("written")
        );
        assert_eq!(
            db_len(),
            before,
            "the stage's commit copied the WAL into the database file"
        );
    }
}
