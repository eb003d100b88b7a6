//! The ingestion runtime: sources (tokio tasks, one per stream or shard) send
//! raw batches over a bounded channel to a decoder thread, which decodes and
//! validates each record and hands the batch on, over a second bounded
//! channel and in the order received, to one writer thread that stores each
//! batch in one transaction with its checkpoint (`Store::store_batch`) and
//! hands it on to the stage (scoring, alarms) on a thread of its own
//! (`stage_thread`). Decoding the next batch, storing this one and scoring
//! the one before thus overlap, on other cores. The bounds are what keep
//! memory flat when the store is slower than the streams: sources wait
//! instead of buffering.
//!
//! Shutdown: the caller's shutdown future stops the sources; the decoder and
//! then the writer drain what they already sent and exit, so nothing read is
//! dropped unstored except what a crash loses — and that is re-read from the
//! checkpoint on the next start.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::source::{self, SourceConfig};
use crate::stage_thread::StageThread;
use crate::supervisor::Progress;
use wardwatch_core::clock::Clock;
use wardwatch_core::error::{Error, ErrorKind, Result};
use wardwatch_core::ingest::observation::Rejection;
use wardwatch_core::store::AuditKeys;
use wardwatch_core::store::rollup_journal::{MERGE_EVERY, PARTS};
use wardwatch_core::store::{
    BatchOutcome, IngestBatch, IngestItem, QUARANTINE_RAW_MAX, QuarantineBudget, ScoreRow, Store,
    StoredBatch,
};

/// Records per batch a source sends at most. 2,000 rather than 500: each
/// batch the writer takes is a commit, and a commit rewrites the same hot
/// pages (the indexes' newest leaves, a spool row per ward for the lake's
/// cleaned zone) however few records it carries — at 5,000 patients a
/// batch of 500 held two or three records of each ward. `bench/scale.sh
/// 5000 60` (issue 16, one sitting, against 500 twice): as fast as taken
/// 1.46× real time against 1.21–1.25×, 55.8 serve CPU seconds against
/// 66.5–68.8, 1.41 GB written against 1.69–1.85; live, the same CPU
/// (72.3 s against 70.8–74.5) and alarm latency. A batch still waits no
/// longer for its records than a source's flush delay (SSE: 100 ms).
pub const MAX_BATCH: usize = 2000;
/// Batches in flight between the sources and the decoder, and again
/// between the decoder and the writer: four of `MAX_BATCH`, the records
/// sixteen batches of 500 held. Against sixteen of 2,000,
/// `bench/scale.sh 5000 60` (issue 16, one sitting): as fast as taken
/// 1.58× real time against 1.64×, 50.0 serve CPU seconds against 49.1,
/// peak RSS 589 MB against 631, and alarm latency p50 1.2 s against 2.5
/// (a shorter queue before a saturated writer); live, the same.
pub const CHANNEL_BATCHES: usize = 4;
/// A writer that has fallen behind stores the batches waiting for it
/// together, in one transaction, up to this many records
/// ([`Store::store_batches`]); one that keeps up stores each as it comes.
/// Eight batches: with batches of 500, 4,000 rather than 2,000 ran
/// `bench/scale.sh 5000 60` at 1.14/1.11× real time against 1.05/1.09×,
/// 13.1 serve CPU seconds per 1,000 patient-minutes against 13.9 (fewer
/// commits rewrite the same hot pages), with the same alarm latency.
pub const GATHER_RECORDS: usize = 8 * MAX_BATCH;

/// One record as read from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// The stream's sequence; empty when the stream gave none.
    pub sequence: String,
    pub data: Vec<u8>,
    /// Refused by the source itself (an oversized event, of which `data`
    /// holds the head): stored in the quarantine, counted, never decoded.
    pub rejected: Option<Rejection>,
    /// Bytes received for this record (more than `data` holds for a head).
    pub received_len: usize,
}

impl RawRecord {
    pub fn new(sequence: String, data: Vec<u8>) -> RawRecord {
        RawRecord {
            sequence,
            received_len: data.len(),
            data,
            rejected: None,
        }
    }
}

/// What sources tell the writer. `B` is a batch's records: as read
/// (`RawRecord`s, from the sources) or decoded (an `IngestBatch`, from the
/// decoder to the writer), so a raw batch cannot reach the writer.
#[derive(Debug)]
pub enum SourceEvent<B = Vec<RawRecord>> {
    Batch {
        source: String,
        shard: String,
        records: B,
        /// When it arrived: when the source finished reading it, or for
        /// Kinesis when the stream accepted its oldest record. The writer
        /// reports how long it waited (the age of the oldest unprocessed
        /// record), and an alarm's latency counts from here.
        read_at: std::time::Instant,
    },
    /// The source lost its connection and will retry.
    Reconnect { source: String, error: String },
    /// How far behind the stream's head the source is (Kinesis reports it).
    Lag { source: String, millis_behind: i64 },
    /// The source's server said records are gone that were never read (an
    /// SSE gateway's `gap` event): `records` of them when it said how many,
    /// `what` in words (sequences only, no patient data); `shard` resumes
    /// after `resume`. The records before it were all sent first.
    Lost {
        source: String,
        shard: String,
        records: Option<u64>,
        what: String,
        resume: Option<String>,
    },
    /// A source's server said what time it is (an HTTP `Date` header),
    /// `seen` when it was read.
    ServerTime {
        source: String,
        server: chrono::DateTime<chrono::Utc>,
        seen: std::time::Instant,
    },
    /// A second passed (sent by the pipeline's own timer).
    Tick,
    /// A technical condition of Wardwatch itself from a helper thread
    /// (`upkeep`: a damaged store, failing backups).
    Condition {
        key: String,
        started: bool,
        message: String,
    },
}

impl<B> SourceEvent<B> {
    /// The same event, a batch's records replaced by `f`'s (given the
    /// source, shard and records); any other event as it is.
    pub fn map_records<C>(self, f: impl FnOnce(&str, &str, B) -> C) -> SourceEvent<C> {
        match self {
            SourceEvent::Batch {
                source,
                shard,
                records,
                read_at,
            } => SourceEvent::Batch {
                records: f(&source, &shard, records),
                source,
                shard,
                read_at,
            },
            SourceEvent::Reconnect { source, error } => SourceEvent::Reconnect { source, error },
            SourceEvent::Lag {
                source,
                millis_behind,
            } => SourceEvent::Lag {
                source,
                millis_behind,
            },
            SourceEvent::ServerTime {
                source,
                server,
                seen,
            } => SourceEvent::ServerTime {
                source,
                server,
                seen,
            },
            SourceEvent::Lost {
                source,
                shard,
                records,
                what,
                resume,
            } => SourceEvent::Lost {
                source,
                shard,
                records,
                what,
                resume,
            },
            SourceEvent::Tick => SourceEvent::Tick,
            SourceEvent::Condition {
                key,
                started,
                message,
            } => SourceEvent::Condition {
                key,
                started,
                message,
            },
        }
    }
}

/// What the writer receives: the sources' events in their order, each
/// batch decoded.
type WriterEvent = SourceEvent<IngestBatch>;

/// What a run of the writer did, per source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunReport {
    pub by_source: HashMap<String, BatchOutcome>,
    pub reconnects: HashMap<String, u64>,
    /// Records each source said were gone before they were read.
    pub lost: HashMap<String, u64>,
}

impl RunReport {
    pub fn total(&self) -> BatchOutcome {
        self.by_source
            .values()
            .fold(BatchOutcome::default(), |a, b| BatchOutcome {
                stored: a.stored + b.stored,
                duplicates: a.duplicates + b.duplicates,
                quarantined: a.quarantined + b.quarantined,
                conflicts: a.conflicts + b.conflicts,
            })
    }
}

/// Work that runs after each stored batch and once a second (scoring and
/// the alarm engine hook in here), on the stage's own thread and store
/// connection, in the order the writer handled each event
/// ([`crate::stage_thread`]). Errors are the stage's own business: a stage
/// must never stop ingestion.
pub trait Stage: Send {
    /// The batch `after_batch` is called with next was read from its source
    /// at `read_at`, taken by the writer at `picked` (to store, alone or
    /// with batches waiting behind it) and stored at `stored`: where its
    /// alarms' latency starts (the queue to the writer and the write
    /// included).
    fn batch_read(
        &mut self,
        _read_at: std::time::Instant,
        _picked: std::time::Instant,
        _stored: std::time::Instant,
    ) {
    }
    /// Scores what the writer stored of `batch` and raises its alarms. The
    /// score rows it returns, the writer stores with its next write (within
    /// a `TICK`): the stage's own connection writes only alarms, so the
    /// writer's cache of open blocks, which another connection's commit
    /// empties, is kept, and the rows cost no commit of their own.
    #[must_use = "the rows are stored by the caller"]
    fn after_batch(
        &mut self,
        store: &Store,
        batch: &IngestBatch,
        stored: &StoredBatch,
    ) -> Vec<ScoreRow>;
    fn tick(&mut self, store: &Store, now: chrono::DateTime<chrono::Utc>);
    /// What reports, on the writer's thread and at every retry, that the
    /// store refuses its batches (another process holds its write lock, or
    /// the disk is full): the store cannot take anything meanwhile, not
    /// even an alarm. Taken once, when the stage's thread starts.
    fn blocked_report(&mut self) -> Option<Box<dyn crate::stage_thread::BlockedReport>> {
        None
    }
    /// The store took the batch again after `blocked_for`.
    fn store_unblocked(&mut self, _store: &Store, _blocked_for: Duration) {}
    /// How far `source`'s server clock is ahead of ours (negative: behind).
    fn clock_skew(&mut self, _store: &Store, _source: &str, _skew: chrono::Duration) {}
    /// A technical condition of Wardwatch itself started or ended.
    fn system_condition(&mut self, _store: &Store, _key: &str, _started: bool, _message: &str) {}
    /// `source` lost records before they were read (`what`: which).
    fn records_lost(&mut self, _store: &Store, _source: &str, _what: &str) {}
    /// A source delivered a batch (`Ok`) or lost its connection (`Err`).
    fn source_event(
        &mut self,
        _store: &Store,
        _source: &str,
        _outcome: std::result::Result<(), &str>,
    ) {
    }
}

/// How often stages get a `tick` (stall detection, reminders, escalation).
pub const TICK: Duration = Duration::from_secs(1);

/// Runs `sources` into the store in `data_dir` until `shutdown` completes.
pub async fn run(
    data_dir: PathBuf,
    audit_keys: Option<AuditKeys>,
    sources: Vec<SourceConfig>,
    clock: Arc<dyn Clock>,
    stage: Option<Box<dyn Stage>>,
    progress: Progress,
    shutdown: impl Future<Output = ()>,
) -> Result<RunReport> {
    let store = Store::open_dir(&data_dir)?;
    let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for config in sources {
        let checkpoints = store.checkpoints(config.name())?;
        tasks.push(tokio::spawn(source::run(
            config,
            checkpoints,
            tx.clone(),
            stop_rx.clone(),
        )));
    }
    // Observations charted by hand: a source of their own, always running.
    {
        use wardwatch_core::store::charted::{CHARTED_SHARD, CHARTED_SOURCE};
        let checkpoint = store.checkpoint(CHARTED_SOURCE, CHARTED_SHARD)?;
        let (dir, charted_tx, stop) = (data_dir.clone(), tx.clone(), stop_rx.clone());
        tasks.push(tokio::task::spawn_blocking(move || {
            source::charted::run(dir, checkpoint, charted_tx, stop)
        }));
    }
    // Ticks go through the same channel, so the writer thread stays the only
    // one touching the store and the stages.
    let ticker_tx = tx.clone();
    let ticker = tokio::spawn(async move {
        let mut interval = tokio::time::interval(TICK);
        loop {
            interval.tick().await;
            if ticker_tx.send(SourceEvent::Tick).await.is_err() {
                return;
            }
        }
    });
    let upkeep_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let upkeep = crate::upkeep::start(
        data_dir.clone(),
        crate::upkeep::BackupPlan::from_settings(&store)?,
        audit_keys,
        clock.clone(),
        tx.downgrade(),
        upkeep_stop.clone(),
    )
    .map_err(|source| Error::DataDir {
        path: data_dir.clone(),
        source,
    })?;
    let lake = crate::lake::start(
        data_dir.clone(),
        clock.clone(),
        tx.downgrade(),
        upkeep_stop.clone(),
    )
    .map_err(|source| Error::DataDir {
        path: data_dir.clone(),
        source,
    })?;
    drop(tx);
    let (decoded_tx, decoded_rx) = mpsc::channel(CHANNEL_BATCHES);
    let decoder_clock = clock.clone();
    let decoder = std::thread::Builder::new()
        .name("wardwatch-decoder".into())
        .spawn(move || decode_loop(rx, decoded_tx, decoder_clock))
        .map_err(|source| Error::DataDir {
            path: data_dir.clone(),
            source,
        })?;
    let writer_clock = clock.clone();
    let writer = std::thread::Builder::new()
        .name("wardwatch-writer".into())
        .spawn(move || {
            write_loop(
                store,
                decoded_rx,
                writer_clock,
                stage,
                progress,
                MERGE_EVERY,
            )
        })
        .map_err(|source| Error::DataDir {
            path: data_dir.clone(),
            source,
        })?;
    let mut writer = tokio::task::spawn_blocking(move || writer.join());

    // Stop on shutdown, or at once if the writer dies: then nothing is being
    // stored or alarmed, and the caller must know rather than wait.
    tokio::pin!(shutdown);
    let early = tokio::select! {
        _ = &mut shutdown => None,
        joined = &mut writer => Some(joined),
    };
    let _ = stop_tx.send(true);
    upkeep_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    ticker.abort();
    let _ = ticker.await;
    let joined = match early {
        Some(joined) => joined,
        None => writer.await,
    };
    // The helpers end before the runtime returns: none is left inside the
    // store or a TLS stream while the process exits.
    let _ = tokio::task::spawn_blocking(move || {
        for helper in [lake, upkeep] {
            helper.join_within(crate::helper::DRAIN);
        }
    })
    .await;
    // The writer has ended, so the decoder has (its channel is closed).
    // A decoder that panicked ended the writer early: an error, not a
    // quiet stop.
    let decoded = tokio::task::spawn_blocking(move || decoder.join().is_ok())
        .await
        .unwrap_or(false);
    match joined {
        Ok(Ok(_)) if !decoded => Err(Error::InvalidInput {
            what: "ingest decoder",
            reason: "the decoder thread panicked".into(),
        }),
        Ok(Ok(result)) => result,
        _ => Err(Error::InvalidInput {
            what: "ingest writer",
            reason: "the writer thread panicked".into(),
        }),
    }
}

/// Decodes each batch's records (at the clock's time when decoded) and
/// passes every event on in the order received. Ends when every source has
/// stopped, or at once when the writer has: its channel then refuses.
fn decode_loop(
    mut rx: mpsc::Receiver<SourceEvent>,
    tx: mpsc::Sender<WriterEvent>,
    clock: Arc<dyn Clock>,
) {
    while let Some(event) = rx.blocking_recv() {
        let out = event.map_records(|source, shard, records| {
            decode_batch(source, shard, records, clock.now())
        });
        if tx.blocking_send(out).is_err() {
            return;
        }
    }
}

/// A source's batch decoded and validated at `now`; a record its source
/// refused stays refused.
pub fn decode_batch(
    source: &str,
    shard: &str,
    records: Vec<RawRecord>,
    now: chrono::DateTime<chrono::Utc>,
) -> IngestBatch {
    IngestBatch {
        items: records
            .into_iter()
            .map(|r| match r.rejected {
                Some(rejection) => {
                    IngestItem::refused(r.sequence, r.data, r.received_len, rejection)
                }
                None => IngestItem::decode(r.sequence, r.data, now),
            })
            .collect(),
        ordered: shard != crate::source::sse::SHARD,
        source: source.to_owned(),
        shard: shard.to_owned(),
    }
}

/// The writer: stores what the decoder sends, hands it to the stage, and
/// merges the rollup journal every `merge_every` (`MERGE_EVERY`).
fn write_loop(
    store: Store,
    rx: mpsc::Receiver<WriterEvent>,
    clock: Arc<dyn Clock>,
    stage: Option<Box<dyn Stage>>,
    progress: Progress,
    merge_every: Duration,
) -> Result<RunReport> {
    let mut store = store;
    let data_dir = store.path().parent().unwrap_or(Path::new(".")).to_owned();
    let mut stage = match stage {
        Some(stage) => Some(StageThread::start(stage, &data_dir, clock.clone())?),
        None => None,
    };
    let written = write_events(
        &mut store,
        rx,
        clock.clone(),
        stage.as_mut(),
        progress,
        merge_every,
    );
    // The stage finishes what the writer stored before the run ends, and
    // its last scores are stored; a stage that stopped is an error even
    // when the writer ended well.
    let staged = stage.as_mut().map_or(Ok(()), |stage| {
        let finished = stage.finish();
        store_scores(&mut store, stage.take_scores(), clock.as_ref());
        finished
    });
    let report = written?;
    staged?;
    Ok(report)
}

/// A writer that has fallen behind takes the store's write lock again
/// microseconds after each commit, and SQLite keeps no queue for it: every
/// other writer (the stage's alarms, a clinician's acknowledgement and its
/// audit entry, the lake's seals, `wardwatchctl` in another process) could
/// wait out its busy timeout and fail. At 10,000 patients a command's audit
/// entry did. So the writer leaves the lock free for [`LOCK_GAP`] once it
/// has written for [`LOCK_HELD_AT_MOST`] without a pause, and the store's
/// connections try the lock every millisecond while they wait
/// (`wardwatch_core::store::BUSY_TIMEOUT`). A writer that keeps up pauses
/// on its own and never sleeps here.
pub const LOCK_HELD_AT_MOST: Duration = Duration::from_millis(50);
/// How long the lock is left free (see [`LOCK_HELD_AT_MOST`]): at most 4 %
/// of a saturated writer's time.
pub const LOCK_GAP: Duration = Duration::from_millis(2);

/// When the writer last left the store's write lock free.
struct LockGaps {
    since: std::time::Instant,
}

impl Default for LockGaps {
    fn default() -> Self {
        LockGaps {
            since: std::time::Instant::now(),
        }
    }
}

impl LockGaps {
    /// The writer waits for its next event: the lock is free meanwhile.
    fn idle(&mut self) {
        self.since = std::time::Instant::now();
    }

    /// Before the writer handles an event: leaves the lock free for a gap
    /// when it has written without a pause for too long.
    fn before_write(&mut self) {
        if self.since.elapsed() >= LOCK_HELD_AT_MOST {
            std::thread::sleep(LOCK_GAP);
            self.idle();
        }
    }
}

/// Scores the stage computed, stored in a transaction of their own (when no
/// batch came to take them along).
fn store_scores(store: &mut Store, rows: Vec<ScoreRow>, clock: &dyn Clock) {
    if rows.is_empty() {
        return;
    }
    if let Err(e) = store.store_batches_with_scores(&[], &rows, clock.now()) {
        tracing::error!(error = %e, count = rows.len(), "cannot store scores");
    }
}

fn write_events(
    store: &mut Store,
    mut rx: mpsc::Receiver<WriterEvent>,
    clock: Arc<dyn Clock>,
    mut stage: Option<&mut StageThread>,
    progress: Progress,
    merge_every: Duration,
) -> Result<RunReport> {
    let mut report = RunReport::default();
    let retention = store.retention()?;
    let budget = quarantine_budget(store)?;
    let mut last_prune: Option<chrono::DateTime<chrono::Utc>> = None;
    let mut last_trim: Option<std::time::Instant> = None;
    // An upper bound of the bytes quarantined since the last trim: a flood
    // is trimmed after a tenth of the budget, not only every 10 s.
    let mut quarantined_since_trim: u64 = 0;
    // The WAL is checkpointed beside the writer, not inside its commits.
    let checkpointer = crate::checkpoint::Checkpointer::start(store);
    // An event taken from the channel while gathering batches, handled next.
    let mut next: Option<WriterEvent> = None;
    let mut fair = LockGaps::default();
    // Minutes go to the rollup journal, a part merged every MERGE_EVERY /
    // PARTS; what a stopped runtime left there is merged first.
    store.defer_rollups(true);
    // The one writer of the blocks that keeps them between batches: its
    // own writes to them uncounted, so that the stage's and the lake's
    // commits no longer make it read them all again.
    store.sole_block_writer()?;
    let mut rollups = RollupMerges::new(merge_every);
    rollups.merge_all(store, stage.as_deref_mut())?;
    while let Some(event) = next.take().or_else(|| match rx.try_recv() {
        Ok(event) => Some(event),
        Err(mpsc::error::TryRecvError::Empty) => {
            // Nothing waits: the lock is free until the next event.
            fair.idle();
            rx.blocking_recv()
        }
        Err(mpsc::error::TryRecvError::Disconnected) => None,
    }) {
        fair.before_write();
        progress.bump();
        let now = clock.now();
        if last_prune.is_none_or(|t| now - t >= chrono::Duration::hours(1)) {
            let pruned = match store.prune(now, retention) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "pruning failed; retried in an hour");
                    Default::default()
                }
            };
            tracing::info!(
                samples = pruned.samples,
                ecg_blocks = pruned.ecg_blocks,
                "pruned full-rate data past retention"
            );
            if let Err(e) = store.trim_quarantine(now, budget) {
                tracing::warn!(error = %e, "cannot trim the quarantine");
            }
            last_prune = Some(now);
        }
        match event {
            SourceEvent::Batch {
                records: batch,
                read_at,
                ..
            } => {
                let picked = std::time::Instant::now();
                // Batches already waiting behind this one are stored with
                // it, in one transaction (when the writer is behind).
                let mut read = vec![read_at];
                let mut batches = vec![batch];
                let mut records = batches[0].items.len();
                while records < GATHER_RECORDS {
                    match rx.try_recv() {
                        Ok(SourceEvent::Batch {
                            records: batch,
                            read_at,
                            ..
                        }) => {
                            records += batch.items.len();
                            batches.push(batch);
                            read.push(read_at);
                        }
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let scores = stage.as_mut().map(|s| s.take_scores()).unwrap_or_default();
                let stored = store_with_retry(
                    store,
                    &batches,
                    &scores,
                    clock.as_ref(),
                    &progress,
                    stage.as_deref_mut(),
                )?;
                let stored_at = std::time::Instant::now();
                for ((batch, stored), read_at) in batches.into_iter().zip(stored).zip(read) {
                    let outcome = stored.outcome;
                    let waited_ms = picked.saturating_duration_since(read_at).as_millis() as i64;
                    if let Err(e) = store.note_pending(&batch.source, waited_ms) {
                        tracing::warn!(error = %e, "cannot record queue age");
                    }
                    let total = report.by_source.entry(batch.source.clone()).or_default();
                    total.stored += outcome.stored;
                    total.duplicates += outcome.duplicates;
                    total.quarantined += outcome.quarantined;
                    total.conflicts += outcome.conflicts;
                    if outcome.quarantined > 0 {
                        tracing::warn!(source = %batch.source, count = outcome.quarantined, "records quarantined");
                    }
                    if outcome.conflicts > 0 {
                        tracing::warn!(source = %batch.source, count = outcome.conflicts, "records conflict with stored ones; quarantined with both values");
                    }
                    let rejected = (outcome.quarantined + outcome.conflicts) as u64;
                    quarantined_since_trim += rejected * QUARANTINE_RAW_MAX as u64;
                    if rejected > 0
                        && (last_trim.is_none_or(|t| t.elapsed() >= QUARANTINE_TRIM_EVERY)
                            || quarantined_since_trim >= budget.max_bytes / 10)
                    {
                        last_trim = Some(std::time::Instant::now());
                        quarantined_since_trim = 0;
                        match store.trim_quarantine(clock.now(), budget) {
                            Ok(t) if t.over_budget > 0 => {
                                tracing::error!(
                                    dropped = t.over_budget,
                                    "the quarantine is over its budget: its oldest entries were dropped (counted per source in `ingest status`)"
                                )
                            }
                            Ok(_) => {}
                            Err(e) => tracing::warn!(error = %e, "cannot trim the quarantine"),
                        }
                    }
                    if let Some(stage) = stage.as_mut() {
                        stage.batch(batch, stored, read_at, picked, stored_at)?;
                    }
                }
            }
            SourceEvent::Reconnect { source, error } => {
                *report.reconnects.entry(source.clone()).or_default() += 1;
                if let Err(e) = store.note_reconnect(&source, &error, clock.now()) {
                    tracing::warn!(error = %e, "cannot record a reconnect");
                }
                if let Some(stage) = stage.as_mut() {
                    stage.reconnect(source, error)?;
                }
            }
            SourceEvent::Lost {
                source,
                shard,
                records,
                what,
                resume,
            } => {
                *report.lost.entry(source.clone()).or_default() += records.unwrap_or(0);
                tracing::error!(source = %source, records, what = %what, "a source lost records before they were read: their patients' data has a gap");
                if let Err(e) = store.note_lost(
                    &source,
                    &shard,
                    records,
                    &what,
                    resume.as_deref(),
                    clock.now(),
                ) {
                    tracing::error!(error = %e, "cannot record lost records");
                }
                if let Some(stage) = stage.as_mut() {
                    stage.records_lost(source, what)?;
                }
            }
            SourceEvent::ServerTime {
                source,
                server,
                seen,
            } => {
                let ours =
                    clock.now() - chrono::Duration::from_std(seen.elapsed()).unwrap_or_default();
                if let Some(stage) = stage.as_mut() {
                    stage.clock_skew(source, server - ours)?;
                }
            }
            SourceEvent::Tick => {
                if let Some(stage) = stage.as_mut() {
                    store_scores(store, stage.take_scores(), clock.as_ref());
                    stage.tick()?;
                }
            }
            SourceEvent::Condition {
                key,
                started,
                message,
            } => {
                if let Some(stage) = stage.as_mut() {
                    stage.condition(key, started, message)?;
                }
            }
            SourceEvent::Lag {
                source,
                millis_behind,
            } => {
                if let Err(e) = store.note_lag(&source, millis_behind, clock.now()) {
                    tracing::warn!(error = %e, "cannot record lag");
                }
            }
        }
        if rollups.due(store) {
            rollups.merge_next(store, stage.as_deref_mut())?;
        }
        if let Some(c) = &checkpointer {
            c.committed();
        }
    }
    rollups.merge_all(store, stage)?;
    Ok(report)
}

/// The technical condition of a rollup journal that cannot be merged.
pub const ROLLUPS_KEY: &str = "tech:store:rollups";

/// When the writer merges the rollup journal
/// (`wardwatch_core::store::rollup_journal`), and which of its parts
/// could not be merged last time.
struct RollupMerges {
    /// How often each part is merged: one part every `every / PARTS`.
    every: Duration,
    last: std::time::Instant,
    /// The parts whose last merge failed, as bits, and why.
    failing: u32,
    why: String,
    /// Whether the technical alarm was last said to be on; `None` at the
    /// start (a runtime before may have raised it), so the first merge
    /// says which.
    said: Option<bool>,
}

impl RollupMerges {
    fn new(every: Duration) -> RollupMerges {
        RollupMerges {
            every,
            last: std::time::Instant::now(),
            failing: 0,
            why: String::new(),
            said: None,
        }
    }

    fn due(&self, store: &Store) -> bool {
        store.rollup_journal_dirty() && self.last.elapsed() >= self.every / PARTS as u32
    }

    /// Merges the next part the writer appended to.
    fn merge_next(&mut self, store: &mut Store, stage: Option<&mut StageThread>) -> Result<()> {
        self.last = std::time::Instant::now();
        if let Some(part) = store.rollup_journal_next_part() {
            self.merge_part(store, part);
        }
        self.report(stage)
    }

    /// Merges every part, each in its own transaction (a damaged row
    /// holds up only its part): what a runtime before left, when the
    /// writer starts, and all that is left when it stops.
    fn merge_all(&mut self, store: &mut Store, stage: Option<&mut StageThread>) -> Result<()> {
        self.last = std::time::Instant::now();
        for part in 0..PARTS {
            self.merge_part(store, part);
        }
        self.report(stage)
    }

    /// A failure is logged and noted, and the part is tried again at its
    /// next merge (the journal keeps the minutes, the samples are stored):
    /// the monitoring goes on.
    fn merge_part(&mut self, store: &mut Store, part: i64) {
        let started = std::time::Instant::now();
        match store.merge_rollup_journal_part(part) {
            Ok(merged) => {
                tracing::debug!(
                    part,
                    rows = merged.rows,
                    hours = merged.hours,
                    ms = started.elapsed().as_millis() as u64,
                    "rollup journal merged"
                );
                self.failing &= !(1 << part);
            }
            Err(e) => {
                tracing::error!(error = %e, part, "cannot merge the rollup journal; tried again at its next merge");
                self.failing |= 1 << part;
                self.why = e.to_string();
            }
        }
    }

    /// Raises or ends the technical alarm when that changed. Only a stage
    /// that has stopped is an error here.
    fn report(&mut self, stage: Option<&mut StageThread>) -> Result<()> {
        let on = self.failing != 0;
        if self.said == Some(on) {
            return Ok(());
        }
        self.said = Some(on);
        let message = if on {
            format!(
                "minute history not updated: the rollup journal cannot be merged ({}); samples are still stored",
                self.why
            )
        } else {
            "minute history: the rollup journal is merged again".to_owned()
        };
        match stage {
            Some(stage) => stage.condition(ROLLUPS_KEY.to_owned(), on, message),
            None => Ok(()),
        }
    }
}

/// How often, at most, the quarantine is held to its budget while records
/// are being rejected (and once an hour with the prune).
const QUARANTINE_TRIM_EVERY: Duration = Duration::from_secs(10);

/// The quarantine's budget from the settings (`quarantine.max_mb`,
/// `quarantine.keep_days`), else the defaults. A value out of range is an
/// error at start, not a silent default.
fn quarantine_budget(store: &Store) -> Result<QuarantineBudget> {
    use wardwatch_core::settings::stored_number;
    let d = QuarantineBudget::default();
    Ok(QuarantineBudget {
        max_bytes: stored_number(store, "quarantine.max_mb")?.map_or(d.max_bytes, |mb| mb << 20),
        keep: stored_number(store, "quarantine.keep_days")?
            .map_or(d.keep, |days| chrono::Duration::days(days as i64)),
    })
}

/// Longest wait between two attempts at a blocked batch.
const RETRY_MAX: Duration = Duration::from_secs(5);
/// Past this, a blocked batch is logged as an error at every attempt.
const BLOCKED_LOUD: Duration = Duration::from_secs(30);

/// A busy database (another process holding the write lock) and a full disk
/// are waited out: the batch is retried with capped backoff for as long as
/// it takes, and the sources wait on the bounded channel meanwhile, so
/// nothing is lost and the runtime resumes by itself when the cause goes.
/// Anything else stops the writer; the sources resume from the checkpoint on
/// the next start.
fn store_with_retry(
    store: &mut Store,
    batches: &[IngestBatch],
    scores: &[ScoreRow],
    clock: &dyn Clock,
    progress: &Progress,
    mut stage: Option<&mut StageThread>,
) -> Result<Vec<StoredBatch>> {
    let source = batches.first().map_or("", |b| b.source.as_str());
    let mut delay = Duration::from_millis(50);
    let started = std::time::Instant::now();
    let mut blocked = false;
    loop {
        match store
            .store_batches_with_scores(batches, scores, clock.now())
            .map(|(stored, _refused)| stored)
        {
            Err(e) if matches!(e.kind(), ErrorKind::Busy | ErrorKind::DiskFull) => {
                blocked = true;
                progress.set_store_blocked(true);
                if let Some(stage) = stage.as_deref_mut() {
                    stage.store_blocked(e.kind(), started.elapsed());
                }
                let blocked_s = started.elapsed().as_secs();
                if started.elapsed() < BLOCKED_LOUD {
                    tracing::warn!(source, kind = ?e.kind(), blocked_s, "store blocked; retrying the batch");
                } else {
                    tracing::error!(source, kind = ?e.kind(), blocked_s, error = %e, "store still blocked: nothing is stored until it frees (free disk space, or stop the process holding the store)");
                }
                std::thread::sleep(delay);
                // Waiting out a blocked store is progress, not a stall.
                progress.bump();
                delay = (delay * 2).min(RETRY_MAX);
            }
            other => {
                if blocked {
                    progress.set_store_blocked(false);
                    if let (Ok(_), Some(stage)) = (&other, stage) {
                        stage.store_unblocked(started.elapsed())?;
                    }
                }
                if started.elapsed() >= BLOCKED_LOUD {
                    tracing::warn!(
                        source,
                        blocked_s = started.elapsed().as_secs(),
                        "store free again; ingest resumed"
                    );
                }
                return other;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_core::clock::FixedClock;
    use wardwatch_core::ingest::observation::RejectCode;

    fn batch(source: &str, records: Vec<RawRecord>) -> SourceEvent {
        SourceEvent::Batch {
            source: source.into(),
            shard: "0".into(),
            records,
            read_at: std::time::Instant::now(),
        }
    }

    #[test]
    fn the_decoder_passes_every_event_on_in_order_with_batches_decoded() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-25T08:00:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        let (tx, rx) = mpsc::channel(4);
        let (out_tx, mut out_rx) = mpsc::channel(4);
        let decoder =
            std::thread::spawn(move || decode_loop(rx, out_tx, Arc::new(FixedClock(now))));
        let refused = RawRecord {
            rejected: Some(Rejection {
                code: RejectCode::Oversized,
                reason: "too big".into(),
            }),
            ..RawRecord::new("2".into(), b"{\"head".to_vec())
        };
        let events = vec![
            batch("a", vec![RawRecord::new("1".into(), b"{not json".to_vec())]),
            SourceEvent::Tick,
            batch("b", vec![refused]),
            SourceEvent::Reconnect {
                source: "a".into(),
                error: "gone".into(),
            },
        ];
        std::thread::spawn(move || {
            for e in events {
                tx.blocking_send(e).expect("send");
            }
        });
        let mut got = Vec::new();
        while let Some(e) = out_rx.blocking_recv() {
            got.push(match e {
                SourceEvent::Batch { records: batch, .. } => {
                    let item = &batch.items[0];
                    let code = item.decoded.as_ref().err().map(|r| r.code);
                    format!("{} {} {code:?}", batch.source, item.sequence)
                }
                SourceEvent::Tick => "tick".into(),
                SourceEvent::Reconnect { source, .. } => {
                    format!("reconnect {source}")
                }
                other => format!("{other:?}"),
            });
        }
        assert_eq!(
            got,
            [
                "a 1 Some(InvalidJson)",
                "tick",
                "b 2 Some(Oversized)",
                "reconnect a"
            ]
        );
        decoder.join().expect("the decoder ends with its sources");
    }

    #[test]
    fn the_decoder_stops_when_the_writer_is_gone() {
        let (tx, rx) = mpsc::channel(4);
        let (out_tx, out_rx) = mpsc::channel(1);
        drop(out_rx);
        let decoder = std::thread::spawn(move || {
            decode_loop(rx, out_tx, Arc::new(wardwatch_core::clock::SystemClock))
        });
        tx.blocking_send(SourceEvent::Tick).expect("send");
        decoder.join().expect("the decoder returns");
        assert!(
            tx.blocking_send(SourceEvent::Tick).is_err(),
            "its sources are told"
        );
    }

    /// What the writer's stage was shown, in order.
    struct Seen(Arc<std::sync::Mutex<Vec<String>>>);

    impl Stage for Seen {
        fn after_batch(
            &mut self,
            _store: &Store,
            batch: &IngestBatch,
            stored: &StoredBatch,
        ) -> Vec<ScoreRow> {
            let o = stored.outcome;
            let line = format!(
                "{} {}: {} stored, {} duplicate, {} quarantined",
                batch.source, batch.shard, o.stored, o.duplicates, o.quarantined
            );
            self.0.lock().expect("lock").push(line);
            Vec::new()
        }
        fn tick(&mut self, _store: &Store, _now: chrono::DateTime<chrono::Utc>) {
            self.0.lock().expect("lock").push("tick".into());
        }
    }

    /// A writer that has fallen behind finds batches waiting and stores them
    /// together (issue 16). Every record is still stored once, each batch
    /// still reaches the stage in the order received, with its own counts,
    /// and an event between two batches is handled between them.
    /// A store with the demo ward, in a private folder.
    struct Ward {
        /// Removed when the ward is dropped.
        _dir: tempfile::TempDir,
        data: PathBuf,
        now: chrono::DateTime<chrono::Utc>,
        clock: Arc<dyn Clock>,
        mrns: Vec<String>,
    }

    impl Ward {
        fn new() -> Ward {
            let dir = tempfile::Builder::new()
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .tempdir()
                .expect("tmp");
            let data = dir.path().join("data");
            let now = chrono::DateTime::parse_from_rfc3339("2026-11-25T08:00:00Z")
                .expect("time")
                .with_timezone(&chrono::Utc);
            let clock: Arc<dyn Clock> = Arc::new(wardwatch_core::clock::FixedClock(now));
            let keys = AuditKeys::in_dir(dir.path().join("keys"));
            let mut ctx = wardwatch_core::api::Ctx::create(&data, &keys, "admin", clock.clone())
                .expect("store");
            wardwatch_core::api::load_demo_ward(&mut ctx, 3).expect("ward");
            let mrns = Store::open_dir(&data)
                .expect("open")
                .patients()
                .expect("patients")
                .into_iter()
                .map(|p| p.mrn)
                .collect();
            Ward {
                _dir: dir,
                data,
                now,
                clock,
                mrns,
            }
        }

        /// A heart rate of `mrn`, `secs` into the hour before now.
        fn record(&self, seq: usize, id: &str, mrn: &str, secs: i64) -> RawRecord {
            let at = self.now - chrono::Duration::seconds(3600 - secs);
            RawRecord::new(
                seq.to_string(),
                format!(
                    r#"{{"resourceType":"Observation","id":"{id}","status":"final",
                    "code":{{"coding":[{{"system":"http://loinc.org","code":"8867-4"}}]}},
                    "subject":{{"identifier":{{"value":"{mrn}"}}}},
                    "effectiveDateTime":"{}","valueQuantity":{{"value":72,"code":"/min"}}}}"#,
                    at.to_rfc3339()
                )
                .into_bytes(),
            )
        }

        /// A batch of source `gw`, decoded.
        fn batch(&self, shard: &str, records: Vec<RawRecord>) -> WriterEvent {
            SourceEvent::Batch {
                source: "gw".into(),
                shard: shard.into(),
                records: decode_batch("gw", shard, records, self.now),
                read_at: std::time::Instant::now(),
            }
        }
    }

    #[test]
    fn batches_waiting_for_the_writer_are_stored_together_and_staged_one_by_one_in_order() {
        let ward = Ward::new();
        let (data, clock, mrns) = (&ward.data, ward.clock.clone(), &ward.mrns);
        let store = Store::open_dir(data).expect("open");
        let record = |seq: usize, id: &str, mrn: &str, secs: i64| ward.record(seq, id, mrn, secs);
        let batch = |shard: &str, records: Vec<RawRecord>| ward.batch(shard, records);
        // More waiting than one transaction takes: 6 batches of 450
        // records (the first 5 go together; gathering after the 6th meets
        // the tick), a tick, 2 more (one repeating a record, one of an
        // unknown patient).
        let (tx, rx) = mpsc::channel(16);
        let mut seq = 0;
        for b in 0..6 {
            let records = (0..450)
                .map(|i| {
                    seq += 1;
                    let mrn = &mrns[i % mrns.len()];
                    record(seq, &format!("{b}-{i}"), mrn, seq as i64)
                })
                .collect();
            tx.blocking_send(batch(&format!("shard-{}", b % 2), records))
                .expect("send");
        }
        tx.blocking_send(SourceEvent::Tick).expect("send");
        tx.blocking_send(batch("shard-0", vec![record(9001, "0-0", &mrns[0], 1)]))
            .expect("send");
        tx.blocking_send(batch("shard-1", vec![record(9002, "x", "NOBODY", 1)]))
            .expect("send");
        drop(tx);
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let report = write_loop(
            store,
            rx,
            clock,
            Some(Box::new(Seen(seen.clone()))),
            Progress::default(),
            MERGE_EVERY,
        )
        .expect("writer");
        let mut want: Vec<String> = (0..6)
            .map(|b| format!("gw shard-{}: 450 stored, 0 duplicate, 0 quarantined", b % 2))
            .collect();
        want.push("tick".into());
        want.push("gw shard-0: 0 stored, 1 duplicate, 0 quarantined".into());
        want.push("gw shard-1: 0 stored, 0 duplicate, 1 quarantined".into());
        assert_eq!(*seen.lock().expect("lock"), want);
        let total = &report.by_source["gw"];
        assert_eq!(
            (total.stored, total.duplicates, total.quarantined),
            (2700, 1, 1)
        );
        let store = Store::open_dir(data).expect("open");
        assert_eq!(store.sample_counts().expect("counts").0, 2700);
        assert_eq!(
            store.checkpoint("gw", "shard-1").expect("cp").as_deref(),
            Some("9002")
        );
    }

    /// A stage that takes the first batch and waits for the test's word.
    struct Held {
        seen: Arc<std::sync::Mutex<Vec<String>>>,
        release: std::sync::mpsc::Receiver<()>,
        /// Samples the stage's own connection saw when the first batch came.
        samples_seen: Arc<std::sync::Mutex<Option<i64>>>,
        report: Option<Box<dyn crate::stage_thread::BlockedReport>>,
    }

    /// Writes down each report of a blocked store.
    struct Reports(Arc<std::sync::Mutex<Vec<String>>>);

    impl crate::stage_thread::BlockedReport for Reports {
        fn store_blocked(&mut self, kind: ErrorKind, _blocked_for: Duration) {
            self.0
                .lock()
                .expect("lock")
                .push(format!("blocked: {kind:?}"));
        }
    }

    impl Stage for Held {
        fn blocked_report(&mut self) -> Option<Box<dyn crate::stage_thread::BlockedReport>> {
            self.report.take()
        }
        fn after_batch(
            &mut self,
            store: &Store,
            batch: &IngestBatch,
            stored: &StoredBatch,
        ) -> Vec<ScoreRow> {
            let first = self.seen.lock().expect("lock").is_empty();
            self.seen
                .lock()
                .expect("lock")
                .push(format!("{}: {} stored", batch.shard, stored.outcome.stored));
            // A heart rate per batch, for the writer to store.
            let obs = batch.items[0].decoded.as_ref().expect("decoded");
            let score = ScoreRow {
                mrn: obs.mrn.clone(),
                at: obs.effective,
                value: 60.0 + self.seen.lock().expect("lock").len() as f64,
                score: wardwatch_core::model::ScoreDetail::EcgHr { lead: 131330 },
            };
            if first {
                let samples = store.sample_counts().expect("counts").0;
                *self.samples_seen.lock().expect("lock") = Some(samples);
                let _ = self.release.recv();
            }
            vec![score]
        }
        fn tick(&mut self, _store: &Store, _now: chrono::DateTime<chrono::Utc>) {
            self.seen.lock().expect("lock").push("tick".into());
        }
    }

    /// Scoring runs on the stage's own thread (issue 16): while the stage
    /// is still busy with one batch, the writer goes on storing the next
    /// ones; the stage reads each batch back from the store through its own
    /// connection (the writer hands it on only once committed), and sees
    /// every event in order. The scores it computes are stored by the
    /// writer, the last batch's too.
    #[test]
    fn the_writer_stores_on_while_the_stage_is_busy_and_the_stage_sees_what_was_stored() {
        let ward = Ward::new();
        let (release_tx, release) = std::sync::mpsc::channel();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let samples_seen = Arc::new(std::sync::Mutex::new(None));
        let stage = Held {
            seen: seen.clone(),
            release,
            samples_seen: samples_seen.clone(),
            report: None,
        };
        let (tx, rx) = mpsc::channel(16);
        for b in 0..3 {
            let records = (0..10)
                .map(|i| {
                    let seq = b * 10 + i;
                    let mrn = &ward.mrns[i % ward.mrns.len()];
                    ward.record(seq, &format!("{b}-{i}"), mrn, seq as i64)
                })
                .collect();
            tx.blocking_send(ward.batch(&format!("shard-{b}"), records))
                .expect("send");
            tx.blocking_send(SourceEvent::Tick).expect("send");
        }
        let store = Store::open_dir(&ward.data).expect("open");
        let clock = ward.clock.clone();
        let writer = std::thread::spawn(move || {
            write_loop(
                store,
                rx,
                clock,
                Some(Box::new(stage)),
                Progress::default(),
                MERGE_EVERY,
            )
        });
        // All three batches are stored while the stage still holds the first.
        let watcher = Store::open_dir(&ward.data).expect("open");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while watcher.sample_counts().expect("counts").0 < 30
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(watcher.sample_counts().expect("counts").0, 30);
        assert_eq!(
            *seen.lock().expect("lock"),
            ["shard-0: 10 stored"],
            "the stage is still on the first batch"
        );
        assert!(
            samples_seen.lock().expect("lock").is_some_and(|n| n >= 10),
            "the stage reads its batch back from the store: {:?}",
            samples_seen.lock().expect("lock")
        );
        release_tx.send(()).expect("release the stage");
        drop(tx);
        let report = writer.join().expect("writer thread").expect("writer");
        assert_eq!(report.by_source["gw"].stored, 30);
        let mut scores: Vec<f64> = ward
            .mrns
            .iter()
            .flat_map(|m| watcher.scores(m, Some("ecg_hr"), 10).expect("scores"))
            .map(|r| r.value)
            .collect();
        scores.sort_by(f64::total_cmp);
        assert_eq!(
            scores,
            [61.0, 63.0, 65.0],
            "one per batch, each stored once"
        );
        assert_eq!(
            *seen.lock().expect("lock"),
            [
                "shard-0: 10 stored",
                "tick",
                "shard-1: 10 stored",
                "tick",
                "shard-2: 10 stored",
                "tick"
            ],
            "every event reaches the stage, in order, before the writer returns"
        );
    }

    /// A stage that panics on a batch.
    struct Broken;

    impl Stage for Broken {
        fn after_batch(
            &mut self,
            _store: &Store,
            _batch: &IngestBatch,
            _stored: &StoredBatch,
        ) -> Vec<ScoreRow> {
            panic!("a bug in scoring");
        }
        fn tick(&mut self, _store: &Store, _now: chrono::DateTime<chrono::Utc>) {}
    }

    /// Data stored but never scored is alarms never raised: a stage thread
    /// that dies stops the writer with an error that says so, whether the
    /// writer meets it on its next event or at its end.
    #[test]
    fn a_stage_that_dies_stops_the_writer_with_an_error() {
        let ward = Ward::new();
        for ticks_after in [0, 40] {
            let (tx, rx) = mpsc::channel(64);
            let mrn = &ward.mrns[0];
            let seq = 100 + ticks_after;
            tx.blocking_send(ward.batch(
                "0",
                vec![ward.record(seq, &format!("b{seq}"), mrn, seq as i64)],
            ))
            .expect("send");
            for _ in 0..ticks_after {
                tx.blocking_send(SourceEvent::Tick).expect("send");
            }
            drop(tx);
            let store = Store::open_dir(&ward.data).expect("open");
            let err = write_loop(
                store,
                rx,
                ward.clock.clone(),
                Some(Box::new(Broken)),
                Progress::default(),
                MERGE_EVERY,
            )
            .expect_err("the writer reports the stage");
            assert!(
                err.to_string().contains("the stage thread panicked"),
                "{ticks_after} ticks after: {err}"
            );
            assert!(
                err.to_string().contains("no longer scored or alarmed"),
                "{err}"
            );
        }
    }

    /// The ward must hear that the store refuses writes while it does
    /// (another process holds its write lock): the writer says so from its
    /// own thread at once, even while the stage's thread is busy.
    #[test]
    fn a_blocked_store_is_reported_from_the_writer_while_the_stage_is_busy() {
        let ward = Ward::new();
        let (release_tx, release) = std::sync::mpsc::channel();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let reports = Arc::new(std::sync::Mutex::new(Vec::new()));
        let stage = Held {
            seen: seen.clone(),
            release,
            samples_seen: Default::default(),
            report: Some(Box::new(Reports(reports.clone()))),
        };
        let hr_batch = |b: usize| {
            let records = (0..10)
                .map(|i| {
                    let seq = b * 10 + i;
                    ward.record(seq, &format!("{b}-{i}"), &ward.mrns[0], seq as i64)
                })
                .collect();
            ward.batch(&format!("shard-{b}"), records)
        };
        let (tx, rx) = mpsc::channel(16);
        tx.blocking_send(hr_batch(0)).expect("send");
        let store = Store::open_dir(&ward.data).expect("open");
        let clock = ward.clock.clone();
        let writer = std::thread::spawn(move || {
            write_loop(
                store,
                rx,
                clock,
                Some(Box::new(stage)),
                Progress::default(),
                MERGE_EVERY,
            )
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while seen.lock().expect("lock").is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        // The stage holds the first batch; another process takes the lock.
        let other = wardwatch_core::store::cipher::connect(&ward.data).expect("open");
        other.execute_batch("BEGIN IMMEDIATE").expect("lock");
        tx.blocking_send(hr_batch(1)).expect("send");
        // Past the store's 10 s busy timeout, the writer reports.
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while reports.lock().expect("lock").is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            reports.lock().expect("lock").first().map(String::as_str),
            Some("blocked: Busy")
        );
        assert_eq!(
            *seen.lock().expect("lock"),
            ["shard-0: 10 stored"],
            "the stage is still on the first batch"
        );
        // The lock goes: the batch is stored, nothing lost.
        other.execute_batch("COMMIT").expect("unlock");
        release_tx.send(()).expect("release the stage");
        drop(tx);
        let report = writer.join().expect("writer thread").expect("writer");
        assert_eq!(report.by_source["gw"].stored, 20);
        assert_eq!(
            *seen.lock().expect("lock"),
            ["shard-0: 10 stored", "shard-1: 10 stored"]
        );
    }

    /// What the stage saw of the minute history: the journal's rows and the
    /// heart-rate minutes counted for the ward's first patient, at each
    /// batch; and each technical condition.
    struct Minutes {
        seen: std::sync::mpsc::Sender<String>,
        mrn: String,
        now: chrono::DateTime<chrono::Utc>,
    }

    impl Minutes {
        fn counted(store: &Store, mrn: &str, now: chrono::DateTime<chrono::Utc>) -> u64 {
            store
                .rollups(
                    mrn,
                    wardwatch_core::model::Vital::HeartRate,
                    now - chrono::Duration::hours(1),
                    now,
                )
                .expect("rollups")
                .iter()
                .map(|(_, m)| u64::from(m.count))
                .sum()
        }
    }

    impl Stage for Minutes {
        fn after_batch(
            &mut self,
            store: &Store,
            _batch: &IngestBatch,
            _stored: &StoredBatch,
        ) -> Vec<ScoreRow> {
            let (rows, _) = store.rollup_journal_size().expect("journal");
            let line = format!(
                "journal {rows}, minutes {}",
                Minutes::counted(store, &self.mrn, self.now)
            );
            let _ = self.seen.send(line);
            Vec::new()
        }
        fn tick(&mut self, _store: &Store, _now: chrono::DateTime<chrono::Utc>) {}
        fn system_condition(&mut self, _store: &Store, key: &str, started: bool, _message: &str) {
            let line = format!("{key} {}", if started { "started" } else { "ended" });
            let _ = self.seen.send(line);
        }
    }

    /// The runtime writer's minute history goes through the rollup journal
    /// (issue 16): merged when the writer starts (what a stopped one left)
    /// and when it stops. A journal that cannot be merged is a technical
    /// alarm and the monitoring goes on; merged again, the alarm ends.
    #[test]
    fn the_writer_merges_the_rollup_journal_when_it_starts_and_stops_and_alarms_when_it_cannot() {
        let ward = Ward::new();
        let (data, clock, mrn) = (&ward.data, ward.clock.clone(), ward.mrns[0].clone());
        let heart_rates = |first: usize, n: usize| -> Vec<RawRecord> {
            (first..first + n)
                .map(|i| ward.record(i, &format!("hr-{i}"), &mrn, i as i64 * 10))
                .collect()
        };
        let baseline = Minutes::counted(&Store::open_dir(data).expect("open"), &mrn, ward.now);
        // A writer that stopped without merging left 5 values in the journal.
        let mut left = Store::open_dir(data).expect("open");
        left.defer_rollups(true);
        let batch = decode_batch("gw", "shard-0", heart_rates(1, 5), ward.now);
        assert_eq!(
            left.store_batch(&batch, ward.now)
                .expect("store")
                .outcome
                .stored,
            5
        );
        drop(left);
        // A writer over `records`, one batch each. The stage reports as it
        // goes; each batch is sent once the stage has reported on the one
        // before, and the channel closed (the writer merges and stops)
        // once it has reported on the last: what it sees never races the
        // writer's last merge. No merge falls due in between.
        let run = |records: Vec<Vec<RawRecord>>| {
            let (tx, rx) = mpsc::channel(16);
            let (seen_tx, seen) = std::sync::mpsc::channel();
            let stage = Minutes {
                seen: seen_tx,
                mrn: mrn.clone(),
                now: ward.now,
            };
            let store = Store::open_dir(data).expect("open");
            let clock = clock.clone();
            let writer = std::thread::spawn(move || {
                write_loop(
                    store,
                    rx,
                    clock,
                    Some(Box::new(stage)),
                    Progress::default(),
                    Duration::MAX,
                )
            });
            let mut lines = Vec::new();
            for r in records {
                tx.blocking_send(ward.batch("shard-0", r)).expect("send");
                loop {
                    let line = seen.recv().expect("the stage reports");
                    let batch_seen = line.starts_with("journal");
                    lines.push(line);
                    if batch_seen {
                        break;
                    }
                }
            }
            drop(tx);
            writer.join().expect("joined").expect("the writer runs");
            lines.extend(seen.try_iter());
            lines
        };
        // Merged at the start; the writer's own batch waits in the journal
        // (the stage sees it there) and is merged when the writer stops.
        assert_eq!(
            run(vec![heart_rates(6, 5)]),
            [
                format!("{ROLLUPS_KEY} ended"),
                format!("journal 1, minutes {}", baseline + 5)
            ]
        );
        let store = Store::open_dir(data).expect("open");
        assert_eq!(store.rollup_journal_size().expect("journal").0, 0);
        assert_eq!(Minutes::counted(&store, &mrn, ward.now), baseline + 10);

        // A damaged row in the journal: the merges fail and say so, the
        // writer stores on, and nothing in the journal is lost.
        let mut writer = Store::open_dir(data).expect("open");
        writer.defer_rollups(true);
        let batch = decode_batch("gw", "shard-0", heart_rates(11, 5), ward.now);
        writer.store_batch(&batch, ward.now).expect("store");
        drop(writer);
        let raw = wardwatch_core::store::cipher::connect(data).expect("the file");
        let good: Vec<u8> = raw
            .query_row("SELECT data FROM rollup_journal", [], |r| r.get(0))
            .expect("the row");
        raw.execute("UPDATE rollup_journal SET data = X'01ff'", [])
            .expect("damage it");
        assert_eq!(
            run(vec![heart_rates(16, 5), heart_rates(21, 5)]),
            [
                format!("{ROLLUPS_KEY} started"),
                format!("journal 2, minutes {}", baseline + 10),
                format!("journal 3, minutes {}", baseline + 10),
            ]
        );
        let store = Store::open_dir(data).expect("open");
        assert_eq!(store.sample_counts().expect("samples").0, 25, "all stored");
        assert_eq!(store.rollup_journal_size().expect("journal").0, 3);
        // Repaired: the next writer merges it all and the alarm ends.
        raw.execute(
            "UPDATE rollup_journal SET data = ?1 WHERE id = (SELECT min(id) FROM rollup_journal)",
            [good],
        )
        .expect("repair");
        assert_eq!(
            run(vec![heart_rates(26, 5)]),
            [
                format!("{ROLLUPS_KEY} ended"),
                format!("journal 1, minutes {}", baseline + 25),
            ]
        );
        let store = Store::open_dir(data).expect("open");
        assert_eq!(Minutes::counted(&store, &mrn, ward.now), baseline + 30);
        assert_eq!(store.rollup_journal_size().expect("journal").0, 0);
    }
}
