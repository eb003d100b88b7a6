//! The alarm stage of the runtime: scoring, then condition detection, then
//! the alarm book, on the stage thread (`stage_thread`); notifications go
//! out on threads of their own (as many as the notifier takes calls at
//! once) so a slow or absent notification daemon never delays ingestion,
//! and their deliveries are recorded on another so that a store busy with
//! a write never delays a notification.
//! A notifier that cannot deliver raises the technical condition
//! `tech:notifications` (the in-app alarm list keeps every alarm); a new
//! alarm's or an escalation's notification it did not take is tried again
//! a few times within seconds (`NOTICE_RETRY_AFTER`), then left to the
//! alarm's reminders.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use wardwatch_core::ErrorKind;
use wardwatch_notify::{AlarmNotice, ErrorKind as NotifyErrorKind, Notifier};
use wardwatch_score::ecg::rhythm::FindingKind;

use crate::pipeline::Stage;
use crate::scoring::LiveScorer;
use crate::stage_thread::BlockedReport;
use wardwatch_core::alarms::book::{Notice, NoticeKind};
use wardwatch_core::alarms::conditions::{
    ConditionEvent, ConditionTracker, Input, Priority, Rules,
};
use wardwatch_core::clock::Clock;
use wardwatch_core::ingest::observation::{Body, Reading};
use wardwatch_core::model::{EcgEvent, ScoreDetail};
use wardwatch_core::store::{IngestBatch, ScoreRow, Store, StoredBatch};

/// Notifications waiting for the notifier threads; beyond this the oldest
/// reminders would be stale anyway, so new ones are dropped (counted in
/// `DeliveryStats::queue_full`, and logged).
pub const NOTICE_QUEUE: usize = 256;
/// How long a stopping stage waits for the notifications still queued: an
/// alarm raised just before a stop still reaches the desktop.
const NOTICE_DRAIN: StdDuration = StdDuration::from_secs(10);
/// The most notifier threads, whatever the notifier would take at once.
const MAX_NOTIFIER_THREADS: usize = 8;
/// A new alarm's (or an escalation's) notification that the daemon did not
/// take (no answer in time, a backlog, no daemon) is tried again after each
/// of these waits, then left to the alarm's reminder (`Rules::reminder_every`,
/// 5 minutes by default). One call in 16 end-to-end runs of issue 16's
/// benchmark failed on a saturated machine, and its alarm waited for the
/// reminder: minutes without a sound for a high-priority alarm.
const NOTICE_RETRY_AFTER: [StdDuration; 4] = [
    StdDuration::from_millis(500),
    StdDuration::from_secs(1),
    StdDuration::from_secs(2),
    StdDuration::from_secs(4),
];
/// The most notices waiting for another try; beyond this (a daemon gone
/// amid a flood of alarms) they are left to their reminders at once.
const NOTICE_RETRIES_HELD: usize = NOTICE_QUEUE;
/// How often a notifier thread waiting for notices looks for a retry that
/// has come due.
const NOTICE_RETRY_POLL: StdDuration = StdDuration::from_millis(100);
/// How often idle notifier threads look for alarms acknowledged or
/// resolved since their notifications were shown, to take those down.
const CLOSE_SWEEP: StdDuration = StdDuration::from_secs(1);
/// Alarms whose notifications are kept track of for taking down, at most
/// (a ward's active alarms are far fewer; past it, new ones stay up).
const NOTIFICATIONS_TRACKED: usize = 4096;
/// Alarm notifications the desktop shows at once before a new alarm goes
/// into the one summary notification instead ("Bed 12 SpO2 88 < 90 (+14
/// more alarms)", the others listed in its body, updated in place): a
/// screen of more popups than a nurse can read is no alarm, and a daemon
/// holding every notification answers ever more slowly (dunst, a call
/// from `gdbus`: ~10 ms with none on screen, ~50 ms with 120 on an idle
/// machine, ~200 ms with 60 on a busy one; ~10 ms throughout when it shows
/// at most 10; with 120 on screen, the desktop call was 600–700 ms at p50
/// in `bench/scale.sh 2000 60`). Only with a notifier
/// that can tell what is on screen ([`Notifier::on_screen`]).
pub const ON_SCREEN_MAX: usize = 8;
/// The other alarms a summary notification lists in its body; the rest are
/// counted.
const SUMMARY_LINES: usize = 6;
/// The summary notification is changed at most once in this long: the
/// alarms that join it meanwhile wait and go in together with the next
/// change (a high-priority alarm goes at once, taking them with it). One
/// update in place per alarm kept the desktop's daemon busy redrawing
/// through a flood: at 5,000 patients, hundreds of technical alarms
/// within a minute took dunst to 66–73 % of a core and Xvfb to 20 %,
/// beside `serve` on the same two cores.
pub const SUMMARY_EVERY: StdDuration = StdDuration::from_secs(1);
/// How long a recording that found the store busy (past its own 10 s busy
/// timeout: a backup, a long write of another process) waits before it is
/// tried again, and for how long it is tried.
const RECORD_RETRY: StdDuration = StdDuration::from_secs(1);
const RECORD_GIVE_UP: StdDuration = StdDuration::from_secs(300);
/// Patients' limits are re-read this often (a clinician may change them).
const LIMITS_REFRESH: Duration = Duration::seconds(60);

/// When the data that raised an alarm passed the receiving side's steps:
/// the parts of its latency.
#[derive(Debug, Clone, Copy)]
struct Marks {
    /// The source read its batch (sample arrival).
    read: Instant,
    /// The writer thread took the batch.
    picked: Instant,
    /// The batch was stored (the writer's commit).
    stored: Instant,
    /// The stage thread took the batch.
    staged: Instant,
    /// The batch's scoring was done; the alarm engine starts.
    scored: Instant,
}

impl Marks {
    /// An alarm raised by the clock (a delay ran out, a stream stalled):
    /// no data to wait for.
    fn now() -> Marks {
        let now = Instant::now();
        Marks {
            read: now,
            picked: now,
            stored: now,
            staged: now,
            scored: now,
        }
    }
}

/// A notice on its way, with when its data reached Wardwatch.
struct Outgoing {
    notice: Notice,
    marks: Marks,
    /// Handed to the notifier threads.
    queued: Instant,
    /// Whether the notice's alarm is in the store (to record its delivery).
    /// Not when the store itself is what is blocked.
    stored: bool,
}

/// Delivery latencies from sample arrival (the source's read of the batch
/// that raised the alarm; the queue to the writer, the write, scoring and
/// the alarm engine included) to the notifier's return.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeliveryStats {
    pub delivered: u64,
    /// Calls to the notifier that failed (each try counts).
    pub failed: u64,
    /// Failed notices of new alarms and escalations tried again.
    pub retried: u64,
    /// Those still undelivered after every retry: left to their alarms'
    /// reminders (each is also an error in the log).
    pub given_up: u64,
    /// Retries not made: their alarm was acknowledged or resolved while the
    /// retry waited, or while it waited to join the summary notification
    /// (the clinician has seen it; a notification now would be a stale
    /// one).
    pub retries_closed: u64,
    /// Desktop notifications taken down because their alarm was
    /// acknowledged or resolved (a summary once all its alarms are).
    pub closed: u64,
    /// Notices of new alarms and reminders shown in the summary
    /// notification, the desktop already showing `ON_SCREEN_MAX` alarm
    /// notifications (each also counts as delivered).
    pub folded: u64,
    /// Calls that showed or changed the summary notification: fewer than
    /// the alarms folded into it when several joined within
    /// `SUMMARY_EVERY`.
    pub summary_updates: u64,
    /// Deliveries (and `tech:notifications` changes) whose recording in the
    /// store failed on a store busy past its timeout and was tried again.
    pub records_retried: u64,
    /// Those given up on: the notification went out, but its alarm does not
    /// say so (each is also an error in the log).
    pub records_lost: u64,
    /// Notices never handed to the notifier threads: their queue
    /// (`NOTICE_QUEUE`) was full, a burst faster than the desktop takes
    /// them. Their alarms are in the store and the in-app list all the
    /// same (the log says so at the 1st, 2nd, 4th, 8th … of them).
    pub queue_full: u64,
    /// Milliseconds, one per delivered new alarm.
    pub latencies_ms: Vec<f64>,
    /// The same latencies in their parts, in the same order.
    pub parts_ms: Vec<LatencyParts>,
}

/// Where one alarm's latency went, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencyParts {
    /// From the source's read of the batch to the writer thread taking it
    /// (decoding and the queues).
    pub to_writer: f64,
    /// Storing the batch (one transaction).
    pub store: f64,
    /// Waiting for the stage thread (the batches before it).
    pub stage_queue: f64,
    /// Scoring the batch (every bed's waveforms in it, NEWS2, risk).
    pub scoring: f64,
    /// The alarm engine and recording the alarm (the stage's write, which
    /// waits for the writer's transaction).
    pub alarm: f64,
    /// Waiting for a notifier thread (the notices ahead of it).
    pub notifier_queue: f64,
    /// The notifier's call to the desktop (D-Bus) until it answered.
    pub desktop: f64,
}

impl DeliveryStats {
    /// The `p`-th percentile (0–100) of the latencies, nearest rank.
    pub fn latency_percentile_ms(&self, p: f64) -> Option<f64> {
        let mut xs = self.latencies_ms.clone();
        if xs.is_empty() {
            return None;
        }
        xs.sort_by(f64::total_cmp);
        let rank = ((p / 100.0) * xs.len() as f64).ceil().max(1.0) as usize;
        xs.get(rank.min(xs.len()) - 1).copied()
    }

    /// The `p`-th percentile of each part of the latencies, each on its own
    /// (so they need not add up to the total's percentile).
    pub fn parts_percentile_ms(&self, p: f64) -> Option<LatencyParts> {
        let of = |f: fn(&LatencyParts) -> f64| {
            DeliveryStats {
                latencies_ms: self.parts_ms.iter().map(f).collect(),
                ..DeliveryStats::default()
            }
            .latency_percentile_ms(p)
        };
        Some(LatencyParts {
            to_writer: of(|x| x.to_writer)?,
            store: of(|x| x.store)?,
            stage_queue: of(|x| x.stage_queue)?,
            scoring: of(|x| x.scoring)?,
            alarm: of(|x| x.alarm)?,
            notifier_queue: of(|x| x.notifier_queue)?,
            desktop: of(|x| x.desktop)?,
        })
    }
}

pub type SharedStats = Arc<Mutex<DeliveryStats>>;

/// Scoring → conditions → alarm book, as a pipeline stage.
pub struct AlarmStage {
    scorer: LiveScorer,
    tracker: ConditionTracker,
    /// `None` once the stage is dropped (the notifier threads then drain
    /// the queue and end).
    notices: Option<SyncSender<Outgoing>>,
    /// What the notifier threads count, and notices the queue refused.
    stats: SharedStats,
    /// Disconnected when the notifier threads and the recording thread have ended.
    notifier_done: Option<std::sync::mpsc::Receiver<()>>,
    limits_loaded: HashMap<String, DateTime<Utc>>,
    /// The newest data time seen, and when it arrived. Time for the alarm
    /// engine is data time moving on with the wall clock from there: live it
    /// is the wall clock; in a replay faster than real time, delays and
    /// stall detection still measure the patient's time.
    data_clock: Option<(DateTime<Utc>, Instant)>,
    /// When the source read the batch `after_batch` gets next, when the
    /// writer took it, and when it was stored.
    batch_read: Option<(Instant, Instant, Instant)>,
    /// Consecutive connection failures per source.
    source_failures: HashMap<String, u32>,
    /// Since when a patient's ECG has come without samples, and whether that
    /// has been raised.
    ecg_absent: HashMap<String, (DateTime<Utc>, bool)>,
    data_dir: std::path::PathBuf,
    disk_checked: Option<Instant>,
    disk_low: bool,
    /// Since when (wall time) the store has refused writes, once announced
    /// (by the writer's thread, through `blocked_report`).
    store_blocked: BlockedSince,
    /// Sources whose server clock is raised as off.
    clock_off: std::collections::HashSet<String>,
    /// Each source's rejected records over the last minute.
    floods: HashMap<String, crate::flood::FloodWatch>,
    clock: Arc<dyn Clock>,
    /// When the ward's rules were last re-read, and whether the stored
    /// ones could not be used (announced once as `tech:rules`).
    rules_checked: Instant,
    rules_refresh: StdDuration,
    rules_broken: bool,
}

/// A store refusing writes this long is announced to the ward (one busy
/// timeout has already passed before the first refusal).
const STORE_BLOCKED_ALARM: StdDuration = StdDuration::from_secs(10);
const STORE_BLOCKED_KEY: &str = "tech:store";
/// A server clock further off than this is a technical condition: alarm and
/// sample times would be wrong by as much (an HTTP `Date` has 1 s
/// resolution, so a few seconds is the finest a check can be).
const CLOCK_SKEW_MAX: Duration = Duration::seconds(5);

/// A source that failed this many times in a row is unreachable (one failure
/// is a reconnect the backoff handles quietly).
const SOURCE_FAILURES: u32 = 2;
/// Free space below this, or below 5 % of the disk, is a technical condition:
/// the store cannot take a day of ECG for a full ward in less.
const DISK_LOW_BYTES: u64 = 2 << 30;
const DISK_CHECK: StdDuration = StdDuration::from_secs(60);
/// The ward's alarm rules are re-read this often: an admin's change (the
/// admin view, `settings set alarms.rules`) applies without a restart.
pub const RULES_REFRESH: StdDuration = StdDuration::from_secs(10);

impl std::fmt::Debug for AlarmStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlarmStage").finish_non_exhaustive()
    }
}

/// Hands `outgoing` to the notifier threads (`None`: the stage is stopping).
fn send_outgoing(notices: Option<&SyncSender<Outgoing>>, stats: &SharedStats, outgoing: Outgoing) {
    let Some(notices) = notices else {
        return;
    };
    match notices.try_send(outgoing) {
        Ok(()) => {}
        Err(TrySendError::Full(o)) => {
            // Counted always, logged at powers of two: a burst of thousands
            // must not become thousands of log lines.
            let n = {
                let mut s = stats.lock().unwrap_or_else(|e| e.into_inner());
                s.queue_full += 1;
                s.queue_full
            };
            if n.is_power_of_two() {
                tracing::error!(
                    alarm = o.notice.alarm_id,
                    not_queued = n,
                    "notification queue full; the alarm stays in the in-app list"
                )
            }
        }
        Err(TrySendError::Disconnected(_)) => {
            tracing::error!("the notifier threads have stopped")
        }
    }
}

/// Since when (wall time) the store has refused writes, once announced: set
/// on the writer's thread, taken on the stage's when the store frees.
type BlockedSince = Arc<Mutex<Option<DateTime<Utc>>>>;

/// The store cannot take the alarm, so the notice goes straight to the
/// notifier; the episode is written to the alarm book once the store takes
/// writes again (`Stage::store_unblocked`).
fn announce_blocked(
    since: &BlockedSince,
    clock: &dyn Clock,
    notices: Option<&SyncSender<Outgoing>>,
    stats: &SharedStats,
    kind: ErrorKind,
    blocked_for: StdDuration,
) {
    let mut since = since.lock().unwrap_or_else(|e| e.into_inner());
    if since.is_some() || blocked_for < STORE_BLOCKED_ALARM {
        return;
    }
    let now = clock.now();
    *since = Some(now - Duration::from_std(blocked_for).unwrap_or_default());
    let why = match kind {
        ErrorKind::DiskFull => "the disk is full",
        _ => "another process holds its write lock",
    };
    send_outgoing(
        notices,
        stats,
        Outgoing {
            notice: Notice {
                alarm_id: 0,
                mrn: None,
                priority: Priority::Technical,
                title: "INOP store blocked".to_owned(),
                body: format!(
                    "The clinical store takes no writes ({why}): vital signs wait and no new alarm can be raised until it frees"
                ),
                kind: wardwatch_core::alarms::book::NoticeKind::New,
            },
            marks: Marks::now(),
            queued: Instant::now(),
            stored: false,
        },
    );
}

/// The stage's [`BlockedReport`], on the writer's thread: it holds its own
/// sender to the notifier threads, dropped when the writer ends (before the
/// stage waits for those threads to drain).
struct StoreBlockedReport {
    since: BlockedSince,
    clock: Arc<dyn Clock>,
    notices: Option<SyncSender<Outgoing>>,
    stats: SharedStats,
}

impl BlockedReport for StoreBlockedReport {
    fn store_blocked(&mut self, kind: ErrorKind, blocked_for: StdDuration) {
        announce_blocked(
            &self.since,
            self.clock.as_ref(),
            self.notices.as_ref(),
            &self.stats,
            kind,
            blocked_for,
        );
    }
}

impl Drop for AlarmStage {
    /// Lets the notifier threads deliver what is queued, for up to
    /// `NOTICE_DRAIN`: a stop must not swallow the last alarms' notifications.
    fn drop(&mut self) {
        drop(self.notices.take());
        if let Some(done) = self.notifier_done.take()
            && let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = done.recv_timeout(NOTICE_DRAIN)
        {
            tracing::error!(
                waited_s = NOTICE_DRAIN.as_secs(),
                "notifications still queued at stop were not delivered; their alarms stay in the in-app list"
            );
        }
    }
}

impl AlarmStage {
    /// Starts the notifier threads and the thread recording their deliveries
    /// (with its own store connection); returns the stage and the delivery
    /// statistics it keeps.
    pub fn start(
        data_dir: &Path,
        rules: Rules,
        notifier: Box<dyn Notifier>,
        clock: Arc<dyn Clock>,
    ) -> wardwatch_core::Result<(AlarmStage, SharedStats)> {
        Self::start_with_summary_every(data_dir, rules, notifier, clock, SUMMARY_EVERY)
    }

    /// [`AlarmStage::start`] with the summary notification changed at most
    /// once in `summary_every` instead of `SUMMARY_EVERY` (tests: an hour,
    /// so that only a high-priority alarm or a stop shows what waits).
    pub fn start_with_summary_every(
        data_dir: &Path,
        rules: Rules,
        notifier: Box<dyn Notifier>,
        clock: Arc<dyn Clock>,
        summary_every: StdDuration,
    ) -> wardwatch_core::Result<(AlarmStage, SharedStats)> {
        // The runtime's checkpointer copies the WAL; the reconciliation's
        // and the deliveries' records do not wait for it.
        let store = Store::open_beside_checkpointer(data_dir)?;
        let closed = store.reconcile_alarms_at_start(clock.now())?;
        if closed > 0 {
            tracing::info!(
                closed,
                "open alarms closed at start; conditions still present are raised again"
            );
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(NOTICE_QUEUE);
        let stats = SharedStats::default();
        let done_rx = spawn_delivery(
            data_dir,
            store,
            notifier,
            clock.clone(),
            rx,
            summary_every,
            stats.clone(),
        )?;
        Ok((
            AlarmStage {
                scorer: LiveScorer::default(),
                tracker: ConditionTracker::new(rules),
                notices: Some(tx),
                stats: stats.clone(),
                notifier_done: Some(done_rx),
                limits_loaded: HashMap::new(),
                data_clock: None,
                batch_read: None,
                source_failures: HashMap::new(),
                ecg_absent: HashMap::new(),
                data_dir: data_dir.to_owned(),
                disk_checked: None,
                disk_low: false,
                store_blocked: Default::default(),
                clock_off: Default::default(),
                floods: HashMap::new(),
                clock: clock.clone(),
                rules_checked: Instant::now(),
                rules_refresh: RULES_REFRESH,
                rules_broken: false,
            },
            stats,
        ))
    }

    /// Re-reads the ward's rules every `every` instead of `RULES_REFRESH`
    /// (tests: zero, at every tick).
    pub fn with_rules_refresh(mut self, every: StdDuration) -> AlarmStage {
        self.rules_refresh = every;
        self
    }

    /// The store has refused the writer's batch for `blocked_for`: what
    /// the writer's thread calls through [`Stage::blocked_report`].
    pub fn store_blocked(&mut self, kind: ErrorKind, blocked_for: StdDuration) {
        announce_blocked(
            &self.store_blocked,
            self.clock.as_ref(),
            self.notices.as_ref(),
            &self.stats,
            kind,
            blocked_for,
        );
    }

    fn send(&self, notice: Notice, marks: Marks) {
        self.send_outgoing(Outgoing {
            notice,
            marks,
            queued: Instant::now(),
            stored: true,
        });
    }

    /// Counts `rejected` records of `source` and raises or ends its
    /// quarantine-flood condition.
    fn watch_flood(&mut self, store: &Store, source: &str, rejected: usize) {
        let watch = self.floods.entry(source.to_owned()).or_default();
        let change = watch.record(Instant::now(), rejected);
        let count = watch.count();
        if watch.is_idle() {
            self.floods.remove(source);
        }
        let Some(started) = change else {
            return;
        };
        let now = self.clock.now();
        let message = if started {
            tracing::error!(source = %source, per_minute = count, "a source floods the quarantine");
            format!(
                "source {source} sends bad records: {count} rejected in the last minute (`wardwatchctl ingest quarantine`)"
            )
        } else {
            format!("source {source} sends good records again")
        };
        self.apply(
            store,
            vec![system_condition(
                &format!("tech:quarantine:{source}"),
                started,
                message,
                now,
            )],
            now,
            Marks::now(),
        );
    }

    fn send_outgoing(&self, outgoing: Outgoing) {
        send_outgoing(self.notices.as_ref(), &self.stats, outgoing);
    }

    fn apply(&self, store: &Store, events: Vec<ConditionEvent>, now: DateTime<Utc>, marks: Marks) {
        for ev in events {
            match store.apply_condition(&ev, now) {
                Ok(Some(notice)) => self.send(notice, marks),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, key = %ev.key, "cannot record an alarm condition")
                }
            }
        }
    }

    /// Takes the ward's rules as stored now. Stored rules that cannot be
    /// used (only a hand-edited store has them: `settings set` checks) keep
    /// the rules in force and raise `tech:rules` until mended.
    fn refresh_rules(&mut self, store: &Store) {
        let stored = store.alarm_rules().and_then(|r| {
            r.check()
                .map(|()| r)
                .map_err(|reason| wardwatch_core::Error::InvalidInput {
                    what: "alarm rules",
                    reason,
                })
        });
        let broken = match stored {
            Ok(rules) => {
                if &rules != self.tracker.rules() {
                    tracing::info!("the ward's alarm rules changed; applying them");
                    self.tracker.set_rules(rules);
                }
                false
            }
            Err(e) => {
                if !self.rules_broken {
                    tracing::error!(error = %e, "the stored alarm rules cannot be used; keeping the previous ones");
                }
                true
            }
        };
        if broken != self.rules_broken {
            self.rules_broken = broken;
            let msg = "the ward's stored alarm rules cannot be used: the previous rules stay in force; set them again (admin view or `wardwatchctl settings set alarms.rules`)";
            self.system_condition(store, "tech:rules", broken, msg);
        }
    }

    /// Loads a patient's limits the first time they are seen, and again
    /// every `LIMITS_REFRESH`.
    fn ensure_limits(&mut self, store: &Store, mrn: &str, now: DateTime<Utc>) {
        if self
            .limits_loaded
            .get(mrn)
            .is_some_and(|t| now - *t < LIMITS_REFRESH)
        {
            return;
        }
        self.limits_loaded.insert(mrn.to_owned(), now);
        match store.alarm_limits_of(mrn) {
            Ok(Some(limits)) => self.tracker.set_patient_limits(mrn, limits),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "cannot read a patient's alarm limits"),
        }
    }
}

impl Stage for AlarmStage {
    fn batch_read(&mut self, read_at: Instant, picked: Instant, stored: Instant) {
        self.batch_read = Some((read_at, picked, stored));
    }

    fn after_batch(
        &mut self,
        store: &Store,
        batch: &IngestBatch,
        stored: &StoredBatch,
    ) -> Vec<ScoreRow> {
        let rejected = stored.outcome.quarantined + stored.outcome.conflicts;
        if rejected > 0 || self.floods.contains_key(&batch.source) {
            self.watch_flood(store, &batch.source, rejected);
        }
        let staged = Instant::now();
        let mut marks = match self.batch_read.take() {
            Some((read, picked, stored)) => Marks {
                read,
                picked,
                stored,
                staged,
                scored: staged,
            },
            None => Marks::now(),
        };
        let received = marks.read;
        let rows = self.scorer.score_batch(store, batch, stored);
        marks.scored = Instant::now();
        let mut inputs = Vec::new();
        // Charted observations act through NEWS2 (the rows above), not as a
        // stream: a nurse's one reading must not start the stall clock of a
        // patient who is not monitored.
        let charted = batch.source == wardwatch_core::store::charted::CHARTED_SOURCE;
        for &i in stored.stored_items.iter().filter(|_| !charted) {
            let Some(Ok(obs)) = batch.items.get(i).map(|it| &it.decoded) else {
                continue;
            };
            if let Body::Numeric(readings) = &obs.body {
                for (vital, reading) in readings {
                    inputs.push(Input::Reading {
                        mrn: obs.mrn.clone(),
                        vital: *vital,
                        value: match reading {
                            Reading::Value(v) => Some(*v),
                            Reading::SignalLost => None,
                        },
                        at: obs.effective,
                    });
                }
            } else {
                // ECG keeps the patient's stream alive for stall detection.
                inputs.push(Input::EcgAlive {
                    mrn: obs.mrn.clone(),
                    at: obs.effective,
                });
                // The device itself reporting no ECG (leads off, no samples):
                // a sensor-off once it lasts `signal_lost_after`.
                let no_samples = matches!(&obs.body, Body::Ecg(blocks) if blocks.iter().all(|b| b.samples.is_empty()));
                let lost_after = self.tracker.rules().signal_lost_after;
                if no_samples {
                    let since = *self
                        .ecg_absent
                        .entry(obs.mrn.clone())
                        .or_insert((obs.effective, false));
                    if !since.1 && obs.effective - since.0 >= lost_after {
                        self.ecg_absent.insert(obs.mrn.clone(), (since.0, true));
                        inputs.push(Input::Ecg {
                            mrn: obs.mrn.clone(),
                            kind: FindingKind::EcgSignalUnusable,
                            onset: true,
                            at: obs.effective,
                            detail: String::new(),
                        });
                    }
                } else if let Some((_, raised)) = self.ecg_absent.remove(&obs.mrn)
                    && raised
                {
                    inputs.push(Input::Ecg {
                        mrn: obs.mrn.clone(),
                        kind: FindingKind::EcgSignalUnusable,
                        onset: false,
                        at: obs.effective,
                        detail: String::new(),
                    });
                }
            }
        }
        inputs.extend(rows.iter().filter_map(score_input));
        let Some(now) = store_now(&inputs) else {
            return rows;
        };
        // A device whose clock runs ahead must not drag the ward's alarm time
        // with it (every other bed would look stalled): never past the wall.
        let now = now.min(self.clock.now());
        if self.data_clock.is_none_or(|(t, _)| now > t) {
            self.data_clock = Some((now, received));
        }
        for input in &inputs {
            if let Input::Reading { mrn, .. }
            | Input::Ecg { mrn, .. }
            | Input::EcgAlive { mrn, .. }
            | Input::News2 { mrn, .. } = input
            {
                self.ensure_limits(store, mrn, now);
            }
            let events = self.tracker.observe(input);
            self.apply(store, events, now, marks);
        }
        rows
    }

    fn source_event(
        &mut self,
        store: &Store,
        source: &str,
        outcome: std::result::Result<(), &str>,
    ) {
        let now = self.clock.now();
        let failures = self.source_failures.entry(source.to_owned()).or_default();
        let event = match outcome {
            Ok(()) => {
                let was_down = *failures >= SOURCE_FAILURES;
                *failures = 0;
                was_down.then(|| {
                    system_condition(
                        &format!("tech:source:{source}"),
                        false,
                        format!("source {source} reachable again"),
                        now,
                    )
                })
            }
            Err(error) => {
                *failures += 1;
                (*failures == SOURCE_FAILURES).then(|| {
                    system_condition(
                        &format!("tech:source:{source}"),
                        true,
                        format!("source {source} unreachable: {error}"),
                        now,
                    )
                })
            }
        };
        if let Some(ev) = event {
            self.apply(store, vec![ev], now, Marks::now());
        }
    }

    fn system_condition(&mut self, store: &Store, key: &str, started: bool, message: &str) {
        let now = self.clock.now();
        self.apply(
            store,
            vec![system_condition(key, started, message.to_owned(), now)],
            now,
            Marks::now(),
        );
    }

    /// A latched technical alarm: lost data is not a condition that ends
    /// by itself, so it stays until someone acknowledges it (a second loss
    /// before then continues it; `ingest status` counts every one).
    fn records_lost(&mut self, store: &Store, source: &str, what: &str) {
        let now = self.clock.now();
        let key = format!("tech:lost:{source}");
        let start = ConditionEvent {
            latched: true,
            ..system_condition(
                &key,
                true,
                format!("data lost: source {source} {what}: its patients' data has a gap there"),
                now,
            )
        };
        let end = system_condition(&key, false, String::new(), now);
        self.apply(store, vec![start, end], now, Marks::now());
    }

    fn clock_skew(&mut self, store: &Store, source: &str, skew: Duration) {
        let off = skew.abs() > CLOCK_SKEW_MAX;
        if off == self.clock_off.contains(source) {
            return;
        }
        let now = self.clock.now();
        let message = if off {
            self.clock_off.insert(source.to_owned());
            tracing::error!(source = %source, skew_s = skew.num_seconds(), "this machine's clock disagrees with a source's server");
            format!(
                "clock off: this workstation and source {source} differ by {} s (check time synchronisation)",
                skew.num_seconds().abs()
            )
        } else {
            self.clock_off.remove(source);
            format!("clock agrees with source {source} again")
        };
        self.apply(
            store,
            vec![system_condition(
                &format!("tech:clock:{source}"),
                off,
                message,
                now,
            )],
            now,
            Marks::now(),
        );
    }

    fn blocked_report(&mut self) -> Option<Box<dyn BlockedReport>> {
        Some(Box::new(StoreBlockedReport {
            since: self.store_blocked.clone(),
            clock: self.clock.clone(),
            notices: self.notices.clone(),
            stats: self.stats.clone(),
        }))
    }

    fn store_unblocked(&mut self, store: &Store, blocked_for: StdDuration) {
        let taken = self
            .store_blocked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(since) = taken else {
            return;
        };
        let now = self.clock.now();
        let message = format!(
            "store blocked for {} s: vital signs waited, nothing was lost",
            blocked_for.as_secs()
        );
        // On the record, started and ended: the ward was told when it began.
        for (started, at) in [(true, since), (false, now)] {
            if let Err(e) = store.apply_condition(
                &system_condition(STORE_BLOCKED_KEY, started, message.clone(), at),
                now,
            ) {
                tracing::error!(error = %e, "cannot record the store-blocked condition");
            }
        }
        tracing::warn!(
            blocked_s = blocked_for.as_secs(),
            "store takes writes again"
        );
    }

    fn tick(&mut self, store: &Store, wall_now: DateTime<Utc>) {
        if self.disk_checked.is_none_or(|t| t.elapsed() >= DISK_CHECK) {
            self.disk_checked = Some(Instant::now());
            if let (Ok(free), Ok(total)) = (
                fs4::available_space(&self.data_dir),
                fs4::total_space(&self.data_dir),
            ) {
                let low = free < DISK_LOW_BYTES || free.saturating_mul(20) < total;
                if low != self.disk_low {
                    self.disk_low = low;
                    let msg = format!(
                        "disk nearly full: {:.1} GB free for the store",
                        free as f64 / 1e9
                    );
                    self.apply(
                        store,
                        vec![system_condition("tech:disk", low, msg, wall_now)],
                        wall_now,
                        Marks::now(),
                    );
                }
            }
        }
        if self.rules_checked.elapsed() >= self.rules_refresh {
            self.rules_checked = Instant::now();
            self.refresh_rules(store);
        }
        let flooded: Vec<String> = self.floods.keys().cloned().collect();
        for source in flooded {
            self.watch_flood(store, &source, 0);
        }
        let marks = Marks::now();
        let now = match self.data_clock {
            Some((t, at)) => t + Duration::from_std(at.elapsed()).unwrap_or_default(),
            None => wall_now,
        };
        let events = self.tracker.observe(&Input::Tick { now });
        self.apply(store, events, now, marks);
        match store.due_notices(self.tracker.rules(), now) {
            Ok(notices) => {
                for n in notices {
                    self.send(n, marks);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot check reminders"),
        }
    }
}

/// The newest time among the inputs (data time drives the book, so a
/// replay at any speed gives the same alarms).
fn store_now(inputs: &[Input]) -> Option<DateTime<Utc>> {
    inputs.iter().map(Input::at).max()
}

/// ECG events and NEWS2 results as alarm inputs.
fn score_input(row: &ScoreRow) -> Option<Input> {
    match &row.score {
        ScoreDetail::EcgEvent(EcgEvent::Suppressed {
            finding, reason, ..
        }) => Some(Input::EcgSuppressed {
            mrn: row.mrn.clone(),
            kind: finding.kind,
            at: row.at,
            detail: reason.clone(),
        }),
        ScoreDetail::EcgEvent(event) => Some(Input::Ecg {
            mrn: row.mrn.clone(),
            kind: event.kind(),
            onset: event.is_onset(),
            at: row.at,
            detail: match event {
                EcgEvent::Onset { finding, .. } => finding.detail.clone(),
                EcgEvent::End { .. } | EcgEvent::Suppressed { .. } => String::new(),
            },
        }),
        ScoreDetail::News2(score) => Some(Input::News2 {
            mrn: row.mrn.clone(),
            aggregate: score.aggregate,
            red_score: score.red_score,
            at: row.at,
        }),
        ScoreDetail::CardiacRisk(_) | ScoreDetail::EcgHr { .. } => None,
    }
}

fn to_notice(n: &Notice) -> AlarmNotice {
    let notice = AlarmNotice::new(n.alarm_id, n.priority, n.title.clone(), n.body.clone());
    match &n.mrn {
        Some(mrn) => notice.for_patient(mrn.clone()),
        None => notice,
    }
}

/// Starts the notifier threads (as many as the notifier takes calls at once)
/// and the thread that records their deliveries in `store`; the receiver
/// returned is disconnected once all have ended.
fn spawn_delivery(
    data_dir: &Path,
    store: Store,
    notifier: Box<dyn Notifier>,
    clock: Arc<dyn Clock>,
    notices: Receiver<Outgoing>,
    summary_every: StdDuration,
    stats: SharedStats,
) -> wardwatch_core::Result<Receiver<()>> {
    let thread_error = |source| wardwatch_core::Error::DataDir {
        path: data_dir.to_owned(),
        source,
    };
    // Read only, and only before a retry: a read never waits for the write
    // lock in WAL mode.
    let book = Store::open_dir(data_dir)?;
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let (records_tx, records_rx) = std::sync::mpsc::sync_channel(NOTICE_QUEUE);
    std::thread::Builder::new()
        .name("wardwatch-notified".into())
        .spawn({
            let done_tx = done_tx.clone();
            let stats = stats.clone();
            move || {
                record_loop(store, records_rx, stats);
                drop(done_tx);
            }
        })
        .map_err(thread_error)?;
    let delivery = Arc::new(Delivery {
        threads: notifier.max_in_flight().clamp(1, MAX_NOTIFIER_THREADS),
        notifier: Arc::from(notifier),
        clock,
        notices: Mutex::new(notices),
        records: records_tx,
        book: Mutex::new(book),
        shown: Mutex::new(HashMap::new()),
        swept: Mutex::new(Instant::now()),
        summary: Mutex::new(Summary::default()),
        summary_every,
        summary_due: Mutex::new(None),
        failing: Mutex::new(false),
        retries: Mutex::new(Vec::new()),
        stopping: Default::default(),
        stats,
    });
    for _ in 0..delivery.threads {
        let delivery = Arc::clone(&delivery);
        let done_tx = done_tx.clone();
        std::thread::Builder::new()
            .name("wardwatch-notifier".into())
            .spawn(move || {
                delivery.run();
                drop(done_tx);
            })
            .map_err(thread_error)?;
    }
    Ok(done_rx)
}

/// A store write the notifier threads leave to the recording thread.
enum Record {
    /// A notice of this alarm reached the desktop.
    Notified(i64, DateTime<Utc>),
    /// `tech:notifications` started or ended.
    Condition(ConditionEvent),
}

/// What the notifier threads share: they take notices off one queue, each
/// delivering one at a time.
///
/// They never write to the store themselves: a write waits for the store's
/// write lock, which the writer thread holds through each batch and another
/// process may hold for seconds (a backup), and the notice queued behind it
/// (the "store blocked" one, say) must not wait for that too. Issue 16: the
/// notifier queue was 1,091 ms of the live latency at p99 at 1,000 patients
/// when each round of deliveries was recorded on the notifier's thread.
///
/// There are as many threads as the notifier takes calls at once
/// ([`Notifier::max_in_flight`]): a burst of alarms (a ward's desaturations
/// within seconds) reaches the desktop in that many lanes, not one behind
/// the other, and a call stuck until its timeout holds up only its own lane.
/// Notices go out in queue order but may arrive out of it; each is a
/// notification of its own (none replaces another). A notice that failed
/// waits for its retry beside the queue, so the notices after it go out
/// meanwhile; a stop gives each waiting retry its last try at once. A retry
/// whose alarm has been acknowledged or resolved meanwhile is not made, and
/// the notifications of an alarm acknowledged or resolved (in the app, by
/// another process) are taken down within about `CLOSE_SWEEP`.
struct Delivery {
    threads: usize,
    notifier: Arc<dyn Notifier>,
    clock: Arc<dyn Clock>,
    notices: Mutex<Receiver<Outgoing>>,
    records: SyncSender<Record>,
    /// A connection to read an alarm's state before its retry and for
    /// the sweep.
    book: Mutex<Store>,
    /// The notifications on the desktop of each stored alarm (a reminder
    /// or an escalation is a notification of its own).
    shown: Mutex<HashMap<i64, Vec<u32>>>,
    /// When the shown alarms were last looked at.
    swept: Mutex<Instant>,
    /// The alarms shown in the summary notification. Held through a call
    /// that changes it, so updates go out one at a time.
    summary: Mutex<Summary>,
    /// The summary's least spacing between changes (`SUMMARY_EVERY`).
    summary_every: StdDuration,
    /// When the notices waiting to join the summary are due to go in:
    /// apart from the summary's lock, so an idle notifier thread can look
    /// without waiting for a call in progress.
    summary_due: Mutex<Option<Instant>>,
    /// Whether `tech:notifications` is raised. Held while its change is
    /// handed to the recording thread, so the raise and the end of the
    /// condition are recorded in the order they were decided.
    failing: Mutex<bool>,
    /// Failed notices waiting for another try, with when it is due and how
    /// many tries they have had.
    retries: Mutex<Vec<Retry>>,
    /// The stage has stopped: what fails now is not tried again.
    stopping: std::sync::atomic::AtomicBool,
    stats: SharedStats,
}

/// The one notification that shows the new alarms of a flood (the desktop
/// already showing `ON_SCREEN_MAX` alarm notifications): the highest
/// priority's newest alarm as its title, with how many more; the others in
/// its body. Updated in place as alarms join it, at most once in
/// `SUMMARY_EVERY` (the alarms that join it meanwhile wait for the next
/// update; a high-priority one goes at once, with them); once they are
/// acknowledged or resolved, it is updated without them, and taken down
/// with the last.
#[derive(Default)]
struct Summary {
    /// The daemon's id for it, once shown.
    notification: Option<u32>,
    /// Its alarms, oldest first.
    alarms: Vec<Notice>,
    /// Notices waiting to join it at its next update, oldest first, with
    /// the tries each has had.
    pending: Vec<(Outgoing, usize)>,
    /// When it was last shown or changed.
    updated: Option<Instant>,
}

/// A priority's rank in a summary: the highest goes on top.
fn rank(p: Priority) -> u8 {
    match p {
        Priority::High => 3,
        Priority::Medium => 2,
        Priority::Technical => 1,
        Priority::Low => 0,
    }
}

impl Summary {
    /// The summary notification showing its alarms and `adding` (oldest
    /// first); `None` when that is no alarm.
    fn notice(&self, adding: &[&Notice]) -> Option<AlarmNotice> {
        // Newest first; an alarm again (its reminder) is listed once, as
        // its newest.
        let mut seen = std::collections::HashSet::new();
        let mut all: Vec<&Notice> = self
            .alarms
            .iter()
            .chain(adding.iter().copied())
            .rev()
            .filter(|n| seen.insert(n.alarm_id))
            .collect();
        // Highest priority first; within it, newest first (a stable sort).
        all.sort_by_key(|n| std::cmp::Reverse(rank(n.priority)));
        let (top, rest) = all.split_first()?;
        let title = if rest.is_empty() {
            top.title.clone()
        } else {
            format!(
                "{} (+{} more alarm{})",
                top.title,
                rest.len(),
                if rest.len() == 1 { "" } else { "s" }
            )
        };
        let mut body = vec![top.body.clone()];
        body.extend(rest.iter().take(SUMMARY_LINES).map(|n| n.title.clone()));
        if rest.len() > SUMMARY_LINES {
            body.push(format!(
                "and {} more in Wardwatch's alarm list",
                rest.len() - SUMMARY_LINES
            ));
        }
        let mut notice = AlarmNotice::new(top.alarm_id, top.priority, title, body.join("\n"));
        if let Some(mrn) = &top.mrn {
            notice = notice.for_patient(mrn.clone());
        }
        if let Some(id) = self.notification {
            notice = notice.replacing(id);
        }
        Some(notice)
    }
}

/// What a notifier thread does next.
enum Work {
    /// Deliver this notice, which has had this many tries.
    Notice(Box<Outgoing>, usize),
    /// Take down the notifications of closed alarms (`Delivery::sweep`).
    Sweep,
    /// Show the notices waiting to join the summary (`Delivery::flush`).
    Flush,
}

/// A notice to try again.
struct Retry {
    out: Outgoing,
    due: Instant,
    /// Tries so far.
    tries: usize,
}

impl Delivery {
    fn record(&self, r: Record) {
        if self.records.send(r).is_err() {
            tracing::error!("the thread recording notifications has stopped");
        }
    }

    /// The next notice and how many tries it has had: a retry that has come
    /// due, else the next in the queue. `None` once the stage has stopped,
    /// the queue is empty and every retry has had its last try (at once: a
    /// stop does not wait for the retries' schedule).
    fn next(&self) -> Option<Work> {
        let queue = self
            .notices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            let stopping = self.stopping.load(std::sync::atomic::Ordering::SeqCst);
            if let Some(r) = self.take_retry(stopping) {
                return Some(Work::Notice(Box::new(r.out), r.tries));
            }
            // Looked at before the queue too: a flood that keeps the queue
            // busy must not keep the summary's waiting notices off screen.
            if self.take_flush(stopping) {
                return Some(Work::Flush);
            }
            if stopping {
                return None;
            }
            match queue.recv_timeout(NOTICE_RETRY_POLL) {
                Ok(out) => return Some(Work::Notice(Box::new(out), 0)),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if self.take_flush(false) {
                        return Some(Work::Flush);
                    }
                    if self.sweep_due() {
                        return Some(Work::Sweep);
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    self.stopping
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
        }
    }

    fn lock_retries(&self) -> std::sync::MutexGuard<'_, Vec<Retry>> {
        // A plain list that no panic can leave half-written.
        self.retries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The retry due first, if it is due (or `any`).
    fn take_retry(&self, any: bool) -> Option<Retry> {
        let mut retries = self.lock_retries();
        let (i, first) = retries.iter().enumerate().min_by_key(|(_, r)| r.due)?;
        (any || first.due <= Instant::now()).then(|| retries.swap_remove(i))
    }

    /// A failed notice of a new alarm or an escalation, tried `tries` times,
    /// goes back for another try while its retries last (not once the stage
    /// stops, nor beyond `NOTICE_RETRIES_HELD`); `false` if it did not.
    fn retry_later(&self, out: Outgoing, tries: usize) -> bool {
        let Some(wait) = NOTICE_RETRY_AFTER.get(tries - 1) else {
            return false;
        };
        if !retried_kind(&out.notice.kind)
            || self.stopping.load(std::sync::atomic::Ordering::SeqCst)
        {
            return false;
        }
        let mut retries = self.lock_retries();
        if retries.len() >= NOTICE_RETRIES_HELD {
            return false;
        }
        retries.push(Retry {
            out,
            due: Instant::now() + *wait,
            tries,
        });
        true
    }

    /// Raises (`true`) or ends `tech:notifications` if that changes it.
    fn set_failing(&self, failing: bool, now: DateTime<Utc>) {
        let mut state = self
            .failing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *state == failing {
            return;
        }
        *state = failing;
        // Short for the alarm bar; the full error is in the log.
        let msg = if failing {
            "desktop notifications undeliverable: no notification service answered \
             (alarms stay in this list)"
                .to_owned()
        } else {
            String::new()
        };
        self.record(Record::Condition(notifications_condition(
            failing, msg, now,
        )));
    }

    /// One notifier thread: delivers notices until the queue ends, and
    /// when idle takes down the notifications of closed alarms.
    fn run(&self) {
        while let Some(work) = self.next() {
            match work {
                Work::Notice(out, tries) => {
                    if tries > 0 && self.closed_meanwhile(&out) {
                        continue;
                    }
                    self.deliver(*out, tries);
                }
                Work::Sweep => self.sweep(),
                Work::Flush => self.flush(),
            }
        }
    }

    /// Whether the shown alarms are due another look (claimed by the
    /// caller when so).
    fn sweep_due(&self) -> bool {
        let mut swept = self
            .swept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if swept.elapsed() < CLOSE_SWEEP {
            return false;
        }
        *swept = Instant::now();
        true
    }

    /// Takes down the notifications of the alarms that are no longer
    /// active: acknowledged or resolved in the app since they were shown.
    /// A nurse who has acknowledged an alarm has seen it; a critical
    /// notification left on the screen would hide the next one.
    fn sweep(&self) {
        let mut ids: Vec<i64> = self
            .shown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .copied()
            .collect();
        {
            let summary = self.lock_summary();
            ids.extend(summary.alarms.iter().map(|n| n.alarm_id));
            ids.extend(
                summary
                    .pending
                    .iter()
                    .filter(|(out, _)| out.stored)
                    .map(|(out, _)| out.notice.alarm_id),
            );
        }
        if ids.is_empty() {
            return;
        }
        let closed: std::collections::HashSet<i64> = {
            let book = self
                .book
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            ids.into_iter()
                .filter(|&id| match book.alarm_is_active(id) {
                    Ok(Some(active)) => !active,
                    // Gone from the store: nothing to keep on the screen.
                    Ok(None) => true,
                    Err(e) => {
                        tracing::warn!(alarm = id, error = %e, "could not read an alarm to close its notification");
                        false
                    }
                })
                .collect()
        };
        if closed.is_empty() {
            return;
        }
        self.sweep_summary(&closed);
        for alarm in closed {
            let notifications = self
                .shown
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&alarm)
                .unwrap_or_default();
            for id in notifications {
                match self.notifier.close(id) {
                    Ok(()) => {
                        if let Ok(mut s) = self.stats.lock() {
                            s.closed += 1;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(alarm, error = %e, "could not take down the notification of a closed alarm")
                    }
                }
            }
        }
    }

    /// Takes the `closed` alarms out of the summary notification, those
    /// shown and those waiting to join it: updated without them (with the
    /// waiting ones that are left), or taken down with the last.
    fn sweep_summary(&self, closed: &std::collections::HashSet<i64>) {
        let mut summary = self.lock_summary();
        let shown = summary.alarms.len();
        summary.alarms.retain(|n| !closed.contains(&n.alarm_id));
        let (gone, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut summary.pending)
            .into_iter()
            .partition(|(out, _)| closed.contains(&out.notice.alarm_id));
        if !gone.is_empty() {
            if let Ok(mut s) = self.stats.lock() {
                s.retries_closed += gone.len() as u64;
            }
            tracing::info!(
                alarms = gone.len(),
                "alarms acknowledged or resolved while waiting to join the summary notification; not shown"
            );
        }
        summary.pending = waiting;
        // What it shows is unchanged (or it is not on screen): the waiting
        // ones go in at their time.
        if summary.alarms.len() == shown || summary.notification.is_none() {
            return;
        }
        let adding = std::mem::take(&mut summary.pending);
        self.show_summary(&mut summary, adding);
    }

    fn lock_summary(&self) -> std::sync::MutexGuard<'_, Summary> {
        self.summary
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the notices waiting to join the summary are due (or, with
    /// `any`, waiting at all); claimed by the caller when so.
    fn take_flush(&self, any: bool) -> bool {
        let mut due = self
            .summary_due
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match *due {
            Some(t) if any || t <= Instant::now() => {
                *due = None;
                true
            }
            _ => false,
        }
    }

    /// The notices waiting to join the summary are due at `at` (or sooner,
    /// if already so).
    fn flush_at(&self, at: Instant) {
        let mut due = self
            .summary_due
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *due = Some(due.map_or(at, |t| t.min(at)));
    }

    /// Shows the notices waiting to join the summary, unless it changed
    /// too recently (then they are due again at their time). A stopping
    /// stage shows them at once.
    fn flush(&self) {
        let mut summary = self.lock_summary();
        if summary.pending.is_empty() {
            return;
        }
        let stopping = self.stopping.load(std::sync::atomic::Ordering::SeqCst);
        if let Some(due) = summary.updated.map(|t| t + self.summary_every)
            && due > Instant::now()
            && !stopping
        {
            self.flush_at(due);
            return;
        }
        let adding = std::mem::take(&mut summary.pending);
        self.show_summary(&mut summary, adding);
    }

    /// Shows the summary with its alarms and `adding` (notices with the
    /// tries each has had), or takes it down when that is no alarm. On
    /// success each added notice counts as delivered; on failure each goes
    /// its way as a failed notice (`not_delivered`).
    fn show_summary(&self, summary: &mut Summary, adding: Vec<(Outgoing, usize)>) {
        let notices: Vec<&Notice> = adding.iter().map(|(out, _)| &out.notice).collect();
        let Some(notice) = summary.notice(&notices) else {
            if let Some(id) = summary.notification {
                match self.notifier.close(id) {
                    Ok(()) => {
                        summary.notification = None;
                        if let Ok(mut s) = self.stats.lock() {
                            s.closed += 1;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(notification = id, error = %e, "could not take down the summary notification")
                    }
                }
            }
            return;
        };
        let called = Instant::now();
        let result = self.notifier.notify(&notice);
        let done = Instant::now();
        let now = self.clock.now();
        match result {
            Ok(delivered) => {
                summary.notification = Some(delivered.notification_id);
                summary.updated = Some(done);
                if let Ok(mut s) = self.stats.lock() {
                    s.summary_updates += 1;
                }
                if adding.is_empty() {
                    return;
                }
                for (out, _) in adding {
                    let alarm = out.notice.alarm_id;
                    summary.alarms.retain(|n| n.alarm_id != alarm);
                    if summary.alarms.len() >= NOTIFICATIONS_TRACKED {
                        // Still in the app's list; no longer in the summary.
                        summary.alarms.remove(0);
                    }
                    summary.alarms.push(out.notice.clone());
                    self.count_delivered(&out, called, done, now, true);
                }
                self.set_failing(false, now);
            }
            Err(e) if adding.is_empty() => {
                let id = summary.notification;
                tracing::warn!(notification = ?id, error = %e, "could not update the summary notification");
            }
            Err(e) => {
                if let Ok(mut s) = self.stats.lock() {
                    s.failed += 1;
                }
                let refused = e.kind() == NotifyErrorKind::Rejected;
                for (out, tries) in adding {
                    self.not_delivered(out, tries + 1, &e);
                }
                if !refused {
                    self.set_failing(true, now);
                }
                // Do not hammer a daemon that is not there.
                std::thread::sleep(StdDuration::from_millis(100));
            }
        }
    }

    /// Whether the alarm of `out`, a notice waiting for its retry, has been
    /// acknowledged or resolved meanwhile. A store that cannot say is not a
    /// reason to hold a notice back: `false` then.
    fn closed_meanwhile(&self, out: &Outgoing) -> bool {
        if !out.stored {
            return false;
        }
        let alarm = out.notice.alarm_id;
        let active = self
            .book
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .alarm_is_active(alarm);
        match active {
            Ok(Some(false)) => {}
            Ok(Some(true) | None) => return false,
            Err(e) => {
                tracing::warn!(alarm, error = %e, "could not read the alarm before its retry; trying anyway");
                return false;
            }
        }
        if let Ok(mut s) = self.stats.lock() {
            s.retries_closed += 1;
        }
        tracing::info!(
            alarm,
            "alarm acknowledged or resolved before its notification's retry; not retried"
        );
        true
    }

    /// Whether a new alarm's notice, or a reminder, goes into the summary
    /// notification: the desktop shows `ON_SCREEN_MAX` alarm notifications
    /// besides it. (An escalation, a new person called, is shown on its
    /// own.)
    fn folds(&self, out: &Outgoing, summary: &Summary) -> bool {
        Self::may_fold(out)
            && self.notifier.on_screen().is_some_and(|n| {
                n.saturating_sub(usize::from(summary.notification.is_some())) >= ON_SCREEN_MAX
            })
    }

    /// Whether `out` is of the notices that go into the summary when the
    /// desktop is crowded: a stored alarm's new notice or reminder.
    fn may_fold(out: &Outgoing) -> bool {
        out.stored
            && out.notice.alarm_id > 0
            && matches!(out.notice.kind, NoticeKind::New | NoticeKind::Reminder)
    }

    /// Delivers `out`, which has had `tries` tries before this one.
    fn deliver(&self, out: Outgoing, tries: usize) {
        // The summary's lock is held through a change of the summary (up
        // to a call's timeout on a hung daemon): only a notice that may go
        // into it, on a desktop that shows `ON_SCREEN_MAX` or more, waits
        // for it. The others (escalations, technical notices, any notice
        // on an uncrowded desktop) go on their own at once.
        // (The decision itself is made again under the lock: the desktop
        // may have changed while this notice waited for it.)
        let crowded = Self::may_fold(&out)
            && self
                .notifier
                .on_screen()
                .is_some_and(|n| n >= ON_SCREEN_MAX);
        if crowded {
            let mut summary = self.lock_summary();
            if self.folds(&out, &summary) {
                let due = summary
                    .updated
                    .map(|t| t + self.summary_every)
                    .filter(|&due| due > Instant::now());
                match due {
                    // Changed too recently: it waits for the next change,
                    // unless it is what the ward must hear now.
                    Some(due) if out.notice.priority != Priority::High => {
                        summary.pending.push((out, tries));
                        self.flush_at(due);
                    }
                    _ => {
                        let mut adding = std::mem::take(&mut summary.pending);
                        adding.push((out, tries));
                        self.show_summary(&mut summary, adding);
                    }
                }
                return;
            }
        }
        let tries = tries + 1;
        let notice = to_notice(&out.notice);
        let called = Instant::now();
        let result = self.notifier.notify(&notice);
        let done = Instant::now();
        let now = self.clock.now();
        match result {
            Ok(delivered) => {
                if out.stored && out.notice.alarm_id > 0 {
                    let mut shown = self
                        .shown
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if shown.len() < NOTIFICATIONS_TRACKED {
                        shown
                            .entry(out.notice.alarm_id)
                            .or_default()
                            .push(delivered.notification_id);
                    }
                }
                self.count_delivered(&out, called, done, now, false);
                self.set_failing(false, now);
            }
            Err(e) => {
                if let Ok(mut s) = self.stats.lock() {
                    s.failed += 1;
                }
                let refused = e.kind() == NotifyErrorKind::Rejected;
                self.not_delivered(out, tries, &e);
                if !refused {
                    self.set_failing(true, now);
                }
                // Do not hammer a daemon that is not there.
                std::thread::sleep(StdDuration::from_millis(100));
            }
        }
    }

    /// `out` reached the desktop (on its own, or `folded` into the summary)
    /// by the call made at `called` that returned at `done`: counted, its
    /// latency kept (a new alarm's), and its delivery recorded.
    fn count_delivered(
        &self,
        out: &Outgoing,
        called: Instant,
        done: Instant,
        now: DateTime<Utc>,
        folded: bool,
    ) {
        let ms = |from: Instant, to: Instant| (to - from).as_secs_f64() * 1000.0;
        let m = out.marks;
        if let Ok(mut s) = self.stats.lock() {
            s.delivered += 1;
            if folded {
                s.folded += 1;
            }
            if matches!(out.notice.kind, NoticeKind::New) {
                s.latencies_ms.push(ms(m.read, done));
                s.parts_ms.push(LatencyParts {
                    to_writer: ms(m.read, m.picked),
                    store: ms(m.picked, m.stored),
                    stage_queue: ms(m.stored, m.staged),
                    scoring: ms(m.staged, m.scored),
                    alarm: ms(m.scored, out.queued),
                    notifier_queue: ms(out.queued, called),
                    desktop: ms(called, done),
                });
            }
        }
        if out.stored {
            self.record(Record::Notified(out.notice.alarm_id, now));
        }
    }

    /// `out`'s `tries`-th try failed with `e` (the call itself is counted
    /// by the caller): tried again shortly while its retries last, else
    /// left to its alarm's reminder; logged either way.
    fn not_delivered(&self, out: Outgoing, tries: usize, e: &wardwatch_notify::Error) {
        let alarm = out.notice.alarm_id;
        let first = retried_kind(&out.notice.kind);
        let refused = e.kind() == NotifyErrorKind::Rejected;
        // A daemon that answered and refused the notice would refuse
        // it again; one that did not answer may well answer soon.
        let retried = !refused && self.retry_later(out, tries);
        if let Ok(mut s) = self.stats.lock() {
            if retried {
                s.retried += 1;
            } else if first && !refused {
                s.given_up += 1;
            }
        }
        if retried {
            tracing::warn!(
                alarm,
                tries,
                kind = ?e.kind(),
                error = %e,
                "notification not delivered; trying again shortly"
            );
        } else if first && !refused {
            tracing::error!(
                alarm,
                tries,
                kind = ?e.kind(),
                error = %e,
                "notification not delivered after its retries; the alarm is in the in-app list and its reminder tries again"
            );
        } else {
            tracing::warn!(alarm, kind = ?e.kind(), error = %e, "notification not delivered");
        }
    }
}

/// Notices tried again when they fail: those of a new alarm and of an
/// escalation. A reminder is itself the next try of one.
fn retried_kind(kind: &NoticeKind) -> bool {
    matches!(kind, NoticeKind::New | NoticeKind::Escalation { .. })
}

/// Writes what the notifier threads hand over, in their order, until the
/// last of them ends. A write the store refuses as busy (another process
/// held the write lock past the busy timeout) is kept and tried again every
/// `RECORD_RETRY`, with the ones after it, for up to `RECORD_GIVE_UP`: a
/// notification that went out is not shown as undelivered because a backup
/// ran just then. Any other failure (the alarm is gone) is logged and
/// dropped.
fn record_loop(store: Store, rx: Receiver<Record>, stats: SharedStats) {
    let mut pending: std::collections::VecDeque<(Record, Instant)> = Default::default();
    let mut open = true;
    while open || !pending.is_empty() {
        let next = if pending.is_empty() {
            rx.recv().ok()
        } else if open {
            match rx.recv_timeout(RECORD_RETRY) {
                Ok(r) => Some(r),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    open = false;
                    None
                }
            }
        } else {
            // Stopping: what is still refused is tried once more below.
            None
        };
        match next {
            Some(r) => pending.push_back((r, Instant::now())),
            None if pending.is_empty() => open = false,
            None => {}
        }
        while let Some((r, since)) = pending.pop_front() {
            match write_record(&store, &r) {
                Ok(()) => {}
                Err(e)
                    if e.kind() == ErrorKind::Busy && open && since.elapsed() < RECORD_GIVE_UP =>
                {
                    tracing::warn!(error = %e, "the store is busy: recording a notification again shortly");
                    if let Ok(mut s) = stats.lock() {
                        s.records_retried += 1;
                    }
                    pending.push_front((r, since));
                    break;
                }
                Err(e) => {
                    if let Ok(mut s) = stats.lock() {
                        s.records_lost += 1;
                    }
                    match &r {
                        Record::Notified(alarm, _) => {
                            tracing::error!(alarm, error = %e, "cannot record a notification");
                        }
                        Record::Condition(ev) => {
                            tracing::error!(error = %e, key = %ev.key, "cannot record a technical condition");
                        }
                    }
                }
            }
        }
    }
}

fn write_record(store: &Store, r: &Record) -> wardwatch_core::Result<()> {
    match r {
        Record::Notified(alarm_id, at) => store.mark_notified(*alarm_id, *at),
        Record::Condition(ev) => store.apply_condition(ev, ev.at).map(|_| ()),
    }
}

fn notifications_condition(started: bool, message: String, at: DateTime<Utc>) -> ConditionEvent {
    system_condition("tech:notifications", started, message, at)
}

/// A technical condition of Wardwatch itself (no patient).
fn system_condition(
    key: &str,
    started: bool,
    message: String,
    at: DateTime<Utc>,
) -> ConditionEvent {
    ConditionEvent {
        mrn: None,
        key: key.to_owned(),
        started,
        priority: Priority::Technical,
        latched: false,
        message,
        at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(alarm_id: i64, priority: Priority, kind: NoticeKind) -> Notice {
        Notice {
            alarm_id,
            priority,
            kind,
            title: format!("Bed {alarm_id}"),
            body: format!("patient {alarm_id}"),
            mrn: Some(format!("MRN-{alarm_id}")),
        }
    }

    /// The summary's title is the highest priority's newest alarm; an
    /// alarm's reminder lists it once, as the newest; past `SUMMARY_LINES`
    /// the others are counted.
    #[test]
    fn a_summary_heads_with_the_most_urgent_newest_alarm_and_lists_each_once() {
        let mut summary = Summary {
            notification: Some(7),
            alarms: (1..=9)
                .map(|i| notice(i, Priority::Medium, NoticeKind::New))
                .collect(),
            ..Summary::default()
        };
        summary.alarms[2].priority = Priority::High;
        let n = summary.notice(&[]).expect("a summary");
        assert_eq!(n.alarm_id, 3, "the high one, though older");
        assert_eq!(n.title, "Bed 3 (+8 more alarms)");
        assert_eq!(n.replaces, Some(7));
        assert_eq!(n.patient_mrn.as_deref(), Some("MRN-3"));
        let lines: Vec<&str> = n.body.lines().collect();
        assert_eq!(lines[0], "patient 3");
        assert_eq!(
            lines[1..7],
            ["Bed 9", "Bed 8", "Bed 7", "Bed 6", "Bed 5", "Bed 4"]
        );
        assert_eq!(lines[7], "and 2 more in Wardwatch's alarm list");

        // Alarm 5's reminder: listed once, as the newest medium.
        summary.alarms[2].priority = Priority::Medium;
        let reminder = notice(5, Priority::Medium, NoticeKind::Reminder);
        let n = summary.notice(&[&reminder]).expect("a summary");
        assert_eq!(n.title, "Bed 5 (+8 more alarms)");
        assert!(!n.body.lines().skip(1).any(|l| l == "Bed 5"), "{}", n.body);

        summary.alarms.truncate(1);
        let n = summary.notice(&[]).expect("a summary");
        assert_eq!(n.title, "Bed 1", "one alarm: no count");
        assert!(Summary::default().notice(&[]).is_none());
    }
}
