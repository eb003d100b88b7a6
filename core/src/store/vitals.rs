//! Storing stream records: numeric samples, ECG blocks, minute rollups,
//! quarantined records (`quarantine.rs`) and the source's checkpoint, all in
//! one transaction per batch.
//! That transaction is what makes ingestion exactly-once into the store: the
//! checkpoint advances only with the samples it covers, and observation ids
//! seen within `DEDUP_WINDOW` (`dedup.rs`), and records whose samples are
//! already stored, are skipped (sources deliver at least once). Numerics go
//! to minute blocks (`numerics.rs`).

use std::collections::HashMap;
use std::sync::{Arc, mpsc};

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, named_params, params};
use serde::Serialize;

use super::dedup::{RecentIds, Seen};
use super::lake::{SpoolLines, SpoolPlan, SpoolRow, insert_spool_rows};
use super::numerics::{BlockCache, NumSample};
use super::quarantine::quarantine;
use super::rollup::{HOUR_MS, Hour};
use super::rollup_journal::JournalRow;
use super::{Store, from_ms, to_ms};
use crate::error::{Result, SqlContext};
use crate::ingest::codec;
use crate::ingest::observation::{Body, Observation, Reading, RejectCode, Rejection};
use crate::ingest::source::{MAX_SEQUENCE_LEN, resumable};
use crate::model::{ScoreDetail, Vital};

/// The seconds from `:from_ms` up to `:until_ms` that hold any ECG block,
/// as `ecg_seconds(s)`, each found by one seek in `ecg_blocks_key`
/// (migration 28: `(start_ms / 1000, patient_id, lead, start_ms)`). A
/// query joins it to `ecg_blocks ON start_ms / 1000 = s AND patient_id = …`
/// to seek one patient's blocks second by second: led by the second, the
/// index has no range of its own for a patient. The last second may lie
/// past `:until_ms`; the caller bounds `start_ms` itself. A macro, so the
/// queries that start with it are `concat!`ed constants.
macro_rules! ecg_seconds {
    () => {
        "WITH RECURSIVE ecg_seconds(s) AS (
            SELECT (SELECT start_ms / 1000 FROM ecg_blocks WHERE start_ms / 1000 >= :from_ms / 1000
                    ORDER BY start_ms / 1000 LIMIT 1)
            UNION ALL
            SELECT (SELECT start_ms / 1000 FROM ecg_blocks WHERE start_ms / 1000 > ecg_seconds.s
                    ORDER BY start_ms / 1000 LIMIT 1)
            FROM ecg_seconds WHERE ecg_seconds.s < :until_ms / 1000)"
    };
}
pub(super) use ecg_seconds;

/// One lead of a patient's ECG from `:from_ms` on, in time order.
pub(super) const ECG_FROM: &str = concat!(
    ecg_seconds!(),
    "
    SELECT b.start_ms, b.period_ns, b.origin_mv, b.factor_mv, b.encoding, b.n_samples, b.data
    FROM ecg_seconds CROSS JOIN ecg_blocks b
      ON b.start_ms / 1000 = ecg_seconds.s
     AND b.patient_id = (SELECT id FROM patients WHERE mrn = :mrn) AND b.lead = :lead
    WHERE b.start_ms >= :from_ms ORDER BY b.start_ms"
);

/// Deletes the ECG blocks that start before `?1`: a range of the seconds
/// the key leads with.
pub(super) const ECG_PRUNE: &str =
    "DELETE FROM ecg_blocks WHERE start_ms / 1000 <= ?1 / 1000 AND start_ms < ?1";

/// A patient's stored ECG block of a lead starting exactly at `?3`. The `+`
/// keeps SQLite from putting `?3` for `start_ms` into `start_ms / 1000`
/// (its constant propagation: SQLite 3.40 then no longer matches the
/// index's leading expression and scans the table; the SQLite bundled here
/// does not; the `+` costs nothing: the seek still ends at the patient's
/// lead in that second, a block or two).
pub(super) const ECG_BLOCK_AT: &str =
    "SELECT period_ns, n_samples, origin_mv, factor_mv, encoding, data FROM ecg_blocks
     WHERE start_ms / 1000 = ?3 / 1000 AND patient_id = ?1 AND lead = ?2 AND +start_ms = ?3";

/// One record as a source delivered it, decoded or not.
#[derive(Debug, Clone)]
pub struct IngestItem {
    /// The source's sequence for this record (Kinesis sequence number, SSE id).
    pub sequence: String,
    /// The record's bytes, or only their head when its source refused it
    /// for its size.
    pub raw: Vec<u8>,
    /// How many bytes were received (more than `raw` holds for a head).
    pub received_len: usize,
    pub decoded: std::result::Result<Observation, Rejection>,
}

impl IngestItem {
    /// A record as received, decoded at `now`.
    pub fn decode(sequence: impl Into<String>, raw: Vec<u8>, now: DateTime<Utc>) -> IngestItem {
        IngestItem {
            sequence: sequence.into(),
            decoded: crate::ingest::observation::decode(&raw, now),
            received_len: raw.len(),
            raw,
        }
    }

    /// A record its source refused: `raw` may be its head only, of the
    /// `received_len` bytes that came.
    pub fn refused(
        sequence: impl Into<String>,
        raw: Vec<u8>,
        received_len: usize,
        rejection: Rejection,
    ) -> IngestItem {
        IngestItem {
            sequence: sequence.into(),
            raw,
            received_len,
            decoded: Err(rejection),
        }
    }
}

/// A batch from one shard of one source, in the shard's order.
#[derive(Debug, Clone)]
pub struct IngestBatch {
    pub source: String,
    pub shard: String,
    pub items: Vec<IngestItem>,
    /// The shard's sequences strictly increase (Kinesis), so anything at or
    /// before the checkpoint is a redelivery. SSE ids are whatever a gateway
    /// chooses (UUIDs, a counter reset by a restart): there only observation
    /// ids deduplicate, and the checkpoint just resumes the stream.
    pub ordered: bool,
}

/// What storing a batch did, with the indices (into `IngestBatch::items`)
/// of the observations newly stored, for the scoring stage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredBatch {
    pub outcome: BatchOutcome,
    pub stored_items: Vec<usize>,
}

/// Counts of what storing batches did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BatchOutcome {
    /// Observations newly stored.
    pub stored: usize,
    /// Observations seen before with the same content (same id, or the
    /// same samples under another id, or at or before the checkpoint).
    pub duplicates: usize,
    /// Records rejected into the quarantine (bad, unknown patient, …).
    pub quarantined: usize,
    /// Observations that contradict what is stored (the same id or the same
    /// patient, vital and time with other content): quarantined with both.
    pub conflicts: usize,
}

/// The latest reading of one vital for one patient.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatestVital {
    pub vital: Vital,
    pub at: DateTime<Utc>,
    /// `None`: the sensor reported signal loss.
    pub value: Option<f64>,
}

/// How early before a patient's recorded admission an observation may lie
/// (device clocks drift) before it is taken for another patient's.
pub const ADMISSION_SLACK: chrono::Duration = chrono::Duration::minutes(5);

/// Sequence order: Kinesis sequence numbers and SSE ids are decimal integers
/// that may exceed u128, so compare by length first, then text.
pub fn sequence_after(a: &str, b: &str) -> bool {
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if numeric(a) && numeric(b) {
        let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
        (a.len(), a) > (b.len(), b)
    } else {
        a > b
    }
}

impl Store {
    /// The stored checkpoint of `source`/`shard`, if any.
    pub fn checkpoint(&self, source: &str, shard: &str) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT sequence FROM source_checkpoints WHERE source = ?1 AND shard = ?2",
                [source, shard],
                |r| r.get(0),
            )
            .optional()
            .ctx("reading a checkpoint")
    }

    /// Every checkpoint of `source`, by shard.
    pub fn checkpoints(&self, source: &str) -> Result<HashMap<String, String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT shard, sequence FROM source_checkpoints WHERE source = ?1")
            .ctx("reading checkpoints")?;
        let rows = stmt
            .query_map([source], |r| Ok((r.get(0)?, r.get(1)?)))
            .ctx("reading checkpoints")?;
        rows.collect::<rusqlite::Result<_>>()
            .ctx("reading checkpoints")
    }

    /// Stores a batch in one transaction (see the module comment).
    pub fn store_batch(&mut self, batch: &IngestBatch, now: DateTime<Utc>) -> Result<StoredBatch> {
        self.store_batches(std::slice::from_ref(batch), now)
            .map(|mut stored| stored.pop().unwrap_or_default())
    }

    /// Stores batches in one transaction, each as [`Store::store_batch`]
    /// would, in order, with its own checkpoint and counters: all of them
    /// or, on an error, none. A writer that has fallen behind stores what
    /// waits for it together, and pays a commit (the pages it dirtied,
    /// encrypted and written to the WAL) once for them all.
    pub fn store_batches(
        &mut self,
        batches: &[IngestBatch],
        now: DateTime<Utc>,
    ) -> Result<Vec<StoredBatch>> {
        self.store_batches_with_scores(batches, &[], now)
            .map(|(stored, _)| stored)
    }

    /// [`Store::store_batches`], and `scores` (rows scoring computed from
    /// batches stored before) in the same transaction, so that they cost no
    /// commit of their own. They go in a savepoint: should the store refuse
    /// them together, each is tried alone; a row refused alone is logged
    /// and counted (the second value), and the batches are stored all the
    /// same. A score of a patient not in the store is left out, as by
    /// [`Store::insert_score`].
    pub fn store_batches_with_scores(
        &mut self,
        batches: &[IngestBatch],
        scores: &[ScoreRow],
        now: DateTime<Utc>,
    ) -> Result<(Vec<StoredBatch>, usize)> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx("starting a batch")?;
        self.recent_ids.begin(to_ms(now));
        let numerics = &mut self.numeric_blocks;
        let recent_ids = &mut self.recent_ids;
        // When deferred, the minutes of every batch go to the journal: a
        // row per part they touch.
        let mut journal = self.rollups_deferred.then(JournalRow::default);
        let mut appended = 0u32;
        let stored = numerics
            .begin(&tx)
            .and_then(|()| {
                write_with_spool(batches, now, |batch| {
                    write_batch(&tx, recent_ids, numerics, journal.as_mut(), batch, now)
                })
            })
            .and_then(|(stored, spooled)| {
                for rows in &spooled {
                    insert_spool_rows(&tx, rows, now)?;
                }
                if let Some(journal) = journal.take() {
                    appended = journal.insert(&tx)?;
                }
                Ok(stored)
            })
            .map(|stored| (stored, insert_scores_within(&tx, scores)))
            .and_then(|stored| tx.commit().ctx("committing a batch").map(|()| stored));
        match &stored {
            Ok(_) => {
                self.numeric_blocks.settle();
                self.journal_dirty |= appended;
            }
            Err(_) => {
                self.recent_ids.undo_last();
                // Its blocks hold what was rolled back.
                self.numeric_blocks.forget();
            }
        }
        stored
    }

    /// The latest reading of every vital of a patient: one index seek per
    /// vital, so it stays fast with months of samples.
    pub fn latest_vitals(&self, mrn: &str) -> Result<Vec<LatestVital>> {
        let Some(patient_id) = self.patient_id(mrn)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for vital in Vital::ALL {
            if let Some(s) = super::numerics::latest(&self.conn, patient_id, vital.code())? {
                out.push(LatestVital {
                    vital,
                    at: from_ms(s.ts_ms),
                    value: s.value,
                });
            }
        }
        Ok(out)
    }

    /// The newest score of `kind` for a patient.
    pub fn latest_score(&self, mrn: &str, kind: &str) -> Result<Option<ScoreRow>> {
        Ok(self.scores(mrn, Some(kind), 1)?.into_iter().next())
    }

    /// The patient's id, or `PatientNotFound` naming the MRN.
    pub(crate) fn known_patient_id(&self, mrn: &str) -> Result<i64> {
        self.patient_id(mrn)?
            .ok_or_else(|| crate::Error::PatientNotFound {
                mrn: mrn.to_owned(),
            })
    }

    pub(super) fn patient_id(&self, mrn: &str) -> Result<Option<i64>> {
        self.conn
            .prepare_cached("SELECT id FROM patients WHERE mrn = ?1")
            .and_then(|mut s| s.query_row([mrn], |r| r.get(0)).optional())
            .ctx("resolving a patient")
    }

    /// Number of stored observations-worth of numeric samples and ECG samples
    /// (tests and status).
    pub fn sample_counts(&self) -> Result<(i64, i64)> {
        self.conn
            .query_row(
                "SELECT (SELECT coalesce(sum(n), 0) FROM vital_blocks),
                        (SELECT coalesce(sum(n_samples), 0) FROM ecg_blocks)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ctx("counting samples")
    }

    /// ECG samples of one lead of one patient from `from` on, in time order,
    /// with each block's start; for analysis and the live view.
    pub fn ecg_samples(&self, mrn: &str, lead: u32, from: DateTime<Utc>) -> Result<Vec<EcgStored>> {
        let mut stmt = self.conn.prepare_cached(ECG_FROM).ctx("reading ECG")?;
        let rows = stmt
            .query_map(
                named_params! {":mrn": mrn, ":lead": lead, ":from_ms": to_ms(from), ":until_ms": i64::MAX},
                |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, f64>(2)?,
                    r.get::<_, f64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, Vec<u8>>(6)?,
                ))
            })
            .ctx("reading ECG")?;
        let mut out = Vec::new();
        for row in rows {
            let (start_ms, period_ns, origin_mv, factor_mv, encoding, n, data) =
                row.ctx("reading ECG")?;
            out.push(EcgStored {
                start: from_ms(start_ms),
                period_ns,
                origin_mv,
                factor_mv,
                samples: codec::decode(encoding, &data, n.max(0) as usize)?,
            });
        }
        Ok(out)
    }

    /// The minute rollups of one vital over `[from, to)`.
    pub fn rollups(
        &self,
        mrn: &str,
        vital: Vital,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, super::rollup::Minute)>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT r.hour_ms, r.data FROM vital_rollups r JOIN patients p ON p.id = r.patient_id
                 WHERE p.mrn = ?1 AND r.vital = ?2 AND r.hour_ms >= ?3 AND r.hour_ms < ?4
                 ORDER BY r.hour_ms",
            )
            .ctx("reading rollups")?;
        let from_hour = to_ms(from).div_euclid(HOUR_MS) * HOUR_MS;
        let rows = stmt
            .query_map(params![mrn, vital.code(), from_hour, to_ms(to)], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .ctx("reading rollups")?;
        let mut out = Vec::new();
        for row in rows {
            let (hour_ms, blob) = row.ctx("reading rollups")?;
            for (minute, m) in Hour::from_blob(&blob).minutes() {
                let at = from_ms(hour_ms + minute as i64 * 60_000);
                if at >= from && at < to {
                    out.push((at, m));
                }
            }
        }
        Ok(out)
    }
}

/// One stored ECG block, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct EcgStored {
    pub start: DateTime<Utc>,
    pub period_ns: i64,
    pub origin_mv: f64,
    pub factor_mv: f64,
    pub samples: Vec<Option<i32>>,
}

/// Stores `batches` one after the other with `write` while another thread
/// writes and compresses their lake spool lines (a tenth of a busy
/// writer's time): each batch's raw lines from the start, its cleaned and
/// quarantine lines once `write` has decided them. Returns what `write`
/// returned and each batch's spool rows, in order. Should that thread not
/// start, the lines are written here, after the batches.
fn write_with_spool<W>(
    batches: &[IngestBatch],
    now: DateTime<Utc>,
    mut write: W,
) -> Result<(Vec<StoredBatch>, Vec<Vec<SpoolRow>>)>
where
    W: FnMut(&IngestBatch) -> Result<(StoredBatch, SpoolPlan)>,
{
    std::thread::scope(|scope| {
        let (plans, planned) = mpsc::channel::<SpoolPlan>();
        let lines = std::thread::Builder::new()
            .name("wardwatch-spool".into())
            .spawn_scoped(scope, move || -> Result<Vec<Vec<SpoolRow>>> {
                let mut out = Vec::with_capacity(batches.len());
                for batch in batches {
                    let mut lines = SpoolLines::received(batch, now);
                    let Ok(plan) = planned.recv() else {
                        break; // the writer failed: nothing is spooled
                    };
                    lines.apply(&plan);
                    out.push(lines.compress()?);
                }
                Ok(out)
            });
        let mut stored = Vec::with_capacity(batches.len());
        let mut inline = Vec::new();
        let mut written = Ok(());
        for batch in batches {
            match write(batch) {
                Ok((done, plan)) => {
                    stored.push(done);
                    match &lines {
                        // A closed channel means that thread failed: its
                        // error comes from the join below.
                        Ok(_) => {
                            let _ = plans.send(plan);
                        }
                        Err(_) => inline.push(plan),
                    }
                }
                Err(e) => {
                    written = Err(e);
                    break;
                }
            }
        }
        // Joined on every path, so that a panic there is an error here.
        drop(plans);
        let spooled = match lines {
            Ok(handle) => handle.join().unwrap_or_else(|_| {
                Err(crate::Error::InvalidInput {
                    what: "a lake spool row",
                    reason: "the thread writing the batch's lake lines panicked".into(),
                })
            }),
            Err(_) => batches
                .iter()
                .zip(&inline)
                .map(|(batch, plan)| {
                    let mut lines = SpoolLines::received(batch, now);
                    lines.apply(plan);
                    lines.compress()
                })
                .collect(),
        };
        written?;
        let spooled = spooled?;
        Ok((stored, spooled))
    })
}

/// A patient's id, admission time and ward, as a batch needs them.
type PatientKeys = (i64, Option<i64>, Option<Arc<str>>);

fn write_batch(
    tx: &Transaction<'_>,
    recent_ids: &mut RecentIds,
    numerics: &mut BlockCache,
    mut journal: Option<&mut JournalRow>,
    batch: &IngestBatch,
    now: DateTime<Utc>,
) -> Result<(StoredBatch, SpoolPlan)> {
    let mut outcome = BatchOutcome::default();
    let mut stored_items = Vec::new();
    let checkpoint: Option<String> = tx
        .query_row(
            "SELECT sequence FROM source_checkpoints WHERE source = ?1 AND shard = ?2",
            [&batch.source, &batch.shard],
            |r| r.get(0),
        )
        .optional()
        .ctx("reading a checkpoint")?;
    let mut patients: HashMap<String, Option<PatientKeys>> = HashMap::new();
    let mut spool = SpoolPlan::default();
    let mut devices = super::devices::DeviceCache::default();
    // Each stored value's (patient, vital code, hour, minute, value), put
    // in key order at the end: a batch's hours are then built one at a
    // time and written in the order of `vital_rollups`' key, with no map
    // of hour-sized values to grow.
    let mut rollups: Vec<((i64, i64, i64), usize, f64)> = Vec::new();
    let mut last_sequence: Option<&str> = None;
    let mut last_effective: Option<DateTime<Utc>> = None;

    for (index, item) in batch.items.iter().enumerate() {
        if batch.ordered
            && checkpoint
                .as_deref()
                .is_some_and(|c| !sequence_after(&item.sequence, c))
        {
            outcome.duplicates += 1; // redelivered from before the checkpoint
            continue;
        }
        let reject = |rejection: &Rejection,
                      outcome: &mut BatchOutcome,
                      spool: &mut SpoolPlan|
         -> Result<()> {
            quarantine(tx, batch, item, rejection, now)?;
            spool.quarantined(index, rejection);
            if rejection.code == RejectCode::Conflicting {
                outcome.conflicts += 1;
            } else {
                outcome.quarantined += 1;
            }
            Ok(())
        };
        if !item.sequence.is_empty() && !resumable(&item.sequence) {
            // Never a checkpoint: sent back, it would break the source.
            let rejection = match &item.decoded {
                Err(r) => r.clone(),
                Ok(_) => Rejection {
                    code: RejectCode::BadSequence,
                    reason: format!(
                        "sequence {:?} cannot be sent back to resume the stream (control or non-ASCII characters, or over {MAX_SEQUENCE_LEN} bytes)",
                        item.sequence.chars().take(80).collect::<String>()
                    ),
                },
            };
            reject(&rejection, &mut outcome, &mut spool)?;
            continue;
        }
        if !item.sequence.is_empty() {
            last_sequence = Some(&item.sequence);
        }
        let obs = match &item.decoded {
            Ok(obs) => obs,
            Err(rejection) => {
                reject(rejection, &mut outcome, &mut spool)?;
                continue;
            }
        };
        let patient = match patients.get(&obs.mrn) {
            Some(p) => p.clone(),
            None => {
                let p: Option<PatientKeys> = tx
                    .prepare_cached("SELECT id, admitted_ms, ward FROM patients WHERE mrn = ?1")
                    .and_then(|mut s| {
                        s.query_row([&obs.mrn], |r| {
                            let ward: Option<String> = r.get(2)?;
                            Ok((r.get(0)?, r.get(1)?, ward.map(Arc::from)))
                        })
                        .optional()
                    })
                    .ctx("resolving a patient")?;
                patients.insert(obs.mrn.clone(), p.clone());
                p
            }
        };
        let Some((patient_id, admitted_ms, ward)) = patient else {
            let rejection = Rejection {
                code: RejectCode::UnknownPatient,
                reason: format!("no patient with MRN `{}` in the registry", obs.mrn),
            };
            reject(&rejection, &mut outcome, &mut spool)?;
            continue;
        };
        if let Some(admitted) = admitted_ms.map(from_ms)
            && obs.effective < admitted - ADMISSION_SLACK
        {
            let rejection = Rejection {
                code: RejectCode::BeforeAdmission,
                reason: format!(
                    "effectiveDateTime {} is before the patient's admission at {}: is the device still assigned to a previous patient?",
                    obs.effective
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    admitted.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                ),
            };
            reject(&rejection, &mut outcome, &mut spool)?;
            continue;
        }
        let ts = to_ms(obs.effective);
        let held = match already_held(tx, numerics, patient_id, obs, ts)? {
            Held::Conflict(reason) => {
                let rejection = Rejection {
                    code: RejectCode::Conflicting,
                    reason,
                };
                reject(&rejection, &mut outcome, &mut spool)?;
                continue;
            }
            held => held,
        };
        match recent_ids.see(obs.id_hash(), obs.digest()) {
            Seen::New => {}
            Seen::Same => {
                outcome.duplicates += 1;
                continue;
            }
            Seen::Other => {
                let rejection = Rejection {
                    code: RejectCode::Conflicting,
                    reason: format!(
                        "observation id `{}` was stored before with other content; this one is kept here, the stored one is unchanged",
                        obs.id
                    ),
                };
                reject(&rejection, &mut outcome, &mut spool)?;
                continue;
            }
        }
        if held == Held::All {
            outcome.duplicates += 1; // the same samples under another id
            continue;
        }
        let device_id = match &obs.device {
            None => None,
            Some(uid) => Some(super::devices::device_for(
                tx,
                &mut devices,
                uid,
                patient_id,
                to_ms(obs.effective),
                now,
            )?),
        };
        let ts = to_ms(obs.effective);
        match &obs.body {
            Body::Numeric(readings) => {
                for (vital, reading) in readings {
                    let value = match reading {
                        Reading::Value(v) => Some(*v),
                        Reading::SignalLost => None,
                    };
                    let sample = NumSample {
                        ts_ms: ts,
                        value,
                        device: device_id,
                    };
                    let inserted = numerics.insert(tx, patient_id, vital.code(), sample)?;
                    if let (true, Some(v)) = (inserted, value) {
                        let hour = ts.div_euclid(HOUR_MS) * HOUR_MS;
                        let minute = ((ts - hour) / 60_000) as usize;
                        rollups.push(((patient_id, vital.code(), hour), minute, v));
                    }
                }
            }
            Body::Ecg(blocks) => {
                for b in blocks.iter().filter(|b| !b.samples.is_empty()) {
                    let (encoding, data) = codec::encode(&b.samples)?;
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO ecg_blocks (patient_id, lead, start_ms, period_ns, n_samples,
                           origin_mv, factor_mv, encoding, data, device_id)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            patient_id,
                            b.lead,
                            ts,
                            b.period_ns,
                            b.samples.len() as i64,
                            b.origin_mv,
                            b.factor_mv,
                            encoding,
                            data,
                            device_id
                        ])
                    })
                    .ctx("storing an ECG block")?;
                }
            }
        }
        spool.cleaned(index, ward);
        outcome.stored += 1;
        stored_items.push(index);
        last_effective = Some(last_effective.map_or(obs.effective, |t| t.max(obs.effective)));
    }

    numerics.flush(tx)?;
    // Stable: a key's values keep their order.
    rollups.sort_by_key(|&(key, _, _)| key);
    for group in rollups.chunk_by(|a, b| a.0 == b.0) {
        let (patient_id, vital, hour) = group[0].0;
        let mut new = Hour::default();
        for &(_, minute, v) in group {
            new.add(minute, v);
        }
        match journal.as_deref_mut() {
            Some(journal) => journal.add(patient_id, vital, hour, &new),
            None => super::history::merge_rollup(tx, patient_id, vital, hour, &new)
                .map(|_| ())
                .ctx("writing a rollup")?,
        }
    }

    if let Some(seq) = last_sequence {
        super::sources::set_checkpoint(tx, &batch.source, &batch.shard, seq, now)?;
    }
    tx.prepare_cached(
        "INSERT INTO ingest_stats (source, stored, quarantined, duplicates, last_sequence, last_stored_ms, lag_ms, updated_ms, conflicts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (source) DO UPDATE SET
           stored = stored + excluded.stored, quarantined = quarantined + excluded.quarantined,
           duplicates = duplicates + excluded.duplicates, conflicts = conflicts + excluded.conflicts,
           last_sequence = coalesce(excluded.last_sequence, last_sequence),
           last_stored_ms = coalesce(excluded.last_stored_ms, last_stored_ms),
           lag_ms = coalesce(excluded.lag_ms, lag_ms), updated_ms = excluded.updated_ms",
    )
    .and_then(|mut s| {
        s.execute(params![
            batch.source,
            outcome.stored as i64,
            outcome.quarantined as i64,
            outcome.duplicates as i64,
            last_sequence,
            last_effective.map(to_ms),
            last_effective.map(|t| (now - t).num_milliseconds().max(0)),
            to_ms(now),
            outcome.conflicts as i64
        ])
    })
    .ctx("updating ingest statistics")?;
    Ok((
        StoredBatch {
            outcome,
            stored_items,
        },
        spool,
    ))
}

/// What the store already holds under an observation's keys (patient,
/// vital or lead, time).
#[derive(Debug, PartialEq)]
enum Held {
    /// None of it, or part of it with the same content.
    NoneOrSome,
    /// All of it, with the same content.
    All,
    /// Some of it with other content: why, naming both values.
    Conflict(String),
}

fn already_held(
    tx: &Transaction<'_>,
    numerics: &mut BlockCache,
    patient_id: i64,
    obs: &Observation,
    ts: i64,
) -> Result<Held> {
    let at = obs
        .effective
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut held = 0;
    let total;
    match &obs.body {
        Body::Numeric(readings) => {
            total = readings.len();
            for (vital, reading) in readings {
                let Some(stored) = numerics.get(tx, patient_id, vital.code(), ts)? else {
                    continue;
                };
                let stored = stored.value;
                let new = match reading {
                    Reading::Value(v) => Some(*v),
                    Reading::SignalLost => None,
                };
                if stored != new {
                    let say = |v: Option<f64>| match v {
                        Some(v) => format!("{v} {}", vital.unit()),
                        None => "signal lost".to_owned(),
                    };
                    return Ok(Held::Conflict(format!(
                        "{} at {at} is stored as {}; this record says {}",
                        vital.label(),
                        say(stored),
                        say(new)
                    )));
                }
                held += 1;
            }
        }
        Body::Ecg(blocks) => {
            let blocks: Vec<_> = blocks.iter().filter(|b| !b.samples.is_empty()).collect();
            total = blocks.len();
            let mut stmt = tx
                .prepare_cached(ECG_BLOCK_AT)
                .ctx("checking for a stored ECG block")?;
            for b in blocks {
                let stored: Option<(i64, i64, f64, f64, i64, Vec<u8>)> = stmt
                    .query_row(params![patient_id, b.lead, ts], |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                        ))
                    })
                    .optional()
                    .ctx("checking for a stored ECG block")?;
                let Some(stored) = stored else { continue };
                let (encoding, data) = codec::encode(&b.samples)?;
                let new = (
                    b.period_ns,
                    b.samples.len() as i64,
                    b.origin_mv,
                    b.factor_mv,
                    encoding,
                    data,
                );
                if stored != new {
                    return Ok(Held::Conflict(format!(
                        "ECG lead {} from {at} is stored with {} samples; this record has {} other samples",
                        b.lead, stored.1, new.1
                    )));
                }
                held += 1;
            }
        }
    }
    Ok(if total > 0 && held == total {
        Held::All
    } else {
        Held::NoneOrSome
    })
}

#[cfg(test)]
mod tests {
    use super::sequence_after;

    #[test]
    fn long_sequence_numbers_compare_numerically() {
        assert!(sequence_after(
            "49590338271490256608559692538361571095921575989136588898",
            "49590338271490256608559692538361571095921575989136588897"
        ));
        assert!(sequence_after("10", "9"));
        assert!(!sequence_after("9", "10"));
        assert!(!sequence_after("7", "7"));
    }
}

/// A stored score or finding: its kind and detail are the typed
/// [`ScoreDetail`] (serialised as `"kind"` and `"detail"` beside the rest).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreRow {
    pub mrn: String,
    pub at: DateTime<Utc>,
    pub value: f64,
    #[serde(flatten)]
    pub score: ScoreDetail,
}

/// Stores `row` on `conn` (in its transaction, if one is open).
fn insert_score_on(conn: &rusqlite::Connection, row: &ScoreRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO scores (patient_id, kind, ts_ms, value, detail)
         SELECT id, ?2, ?3, ?4, ?5 FROM patients WHERE mrn = ?1",
    )
    .and_then(|mut s| {
        s.execute(params![
            row.mrn,
            row.score.kind(),
            to_ms(row.at),
            row.value,
            score_detail_json(&row.score)
        ])
    })
    .ctx("storing a score")?;
    Ok(())
}

/// Runs `f` in a savepoint of the open transaction on `conn`: what it wrote
/// stays only if it succeeds.
fn in_savepoint(conn: &rusqlite::Connection, f: impl FnOnce() -> Result<()>) -> Result<()> {
    conn.execute_batch("SAVEPOINT scores")
        .ctx("storing scores")?;
    let r = f().and_then(|()| conn.execute_batch("RELEASE scores").ctx("storing scores"));
    if r.is_err() {
        let _ = conn.execute_batch("ROLLBACK TO scores; RELEASE scores");
    }
    r
}

/// Stores `rows` inside the open transaction on `conn`: together, or
/// should that fail, each alone. How many the store refused (each logged).
fn insert_scores_within(conn: &rusqlite::Connection, rows: &[ScoreRow]) -> usize {
    if rows.is_empty() {
        return 0;
    }
    let together = in_savepoint(conn, || {
        rows.iter().try_for_each(|row| insert_score_on(conn, row))
    });
    let Err(e) = together else {
        return 0;
    };
    tracing::warn!(error = %e, count = rows.len(), "cannot store scores together; storing them one by one");
    rows.iter()
        .filter(
            |row| match in_savepoint(conn, || insert_score_on(conn, row)) {
                Ok(()) => false,
                Err(e) => {
                    tracing::error!(error = %e, kind = row.score.kind(), "cannot store a score");
                    true
                }
            },
        )
        .count()
}

impl Store {
    pub fn insert_score(&self, row: &ScoreRow) -> Result<()> {
        insert_score_on(&self.conn, row)
    }

    /// Stores `rows` together: in one transaction of their own (inside a
    /// savepoint of the caller's, when one is open), so that a batch's scores
    /// cost one commit, not one each. Either all are stored or none (the
    /// error says why).
    pub fn insert_scores(&self, rows: &[ScoreRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let (begin, done, undo) = if self.conn.is_autocommit() {
            ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
        } else {
            (
                "SAVEPOINT scores",
                "RELEASE scores",
                "ROLLBACK TO scores; RELEASE scores",
            )
        };
        self.conn.execute_batch(begin).ctx("storing scores")?;
        let r = rows
            .iter()
            .try_for_each(|row| self.insert_score(row))
            .and_then(|()| self.conn.execute_batch(done).ctx("storing scores"));
        if r.is_err() {
            let _ = self.conn.execute_batch(undo);
        }
        r
    }

    /// Scores of one patient (newest first), optionally of one kind.
    pub fn scores(&self, mrn: &str, kind: Option<&str>, limit: usize) -> Result<Vec<ScoreRow>> {
        let Some(patient_id) = self.patient_id(mrn)? else {
            return Ok(Vec::new());
        };
        // Two statements so that the (patient, kind, time) index serves the
        // common case of one kind.
        let mut stmt = match kind {
            Some(_) => self.conn.prepare_cached(
                "SELECT kind, ts_ms, value, detail FROM scores
                 WHERE patient_id = ?1 AND kind = ?2 AND superseded_ms IS NULL
                 ORDER BY ts_ms DESC, id DESC LIMIT ?3",
            ),
            None => self.conn.prepare_cached(
                "SELECT kind, ts_ms, value, detail FROM scores
                 WHERE patient_id = ?1 AND ?2 IS NULL AND superseded_ms IS NULL
                 ORDER BY ts_ms DESC, id DESC LIMIT ?3",
            ),
        }
        .ctx("reading scores")?;
        let rows = stmt
            .query_map(params![patient_id, kind, limit as i64], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, f64>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .ctx("reading scores")?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, at_ms, value, detail) = row.ctx("reading scores")?;
            // Scores are derived data: a row this build cannot read (written
            // by another version) is skipped and said, never fatal.
            match parse_score(&kind, &detail) {
                Some(score) => out.push(ScoreRow {
                    mrn: mrn.to_owned(),
                    at: from_ms(at_ms),
                    value,
                    score,
                }),
                None => tracing::warn!(kind = %kind, "unreadable score row skipped"),
            }
        }
        Ok(out)
    }
}

/// How long full-rate data stays in the local store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Raw numeric samples (minute rollups keep the history beyond).
    pub raw_numerics: chrono::Duration,
    /// Full-rate ECG blocks.
    pub ecg: chrono::Duration,
}

impl Default for Retention {
    /// 24 h of raw numerics and 72 h of ECG (ARCHITECTURE.md, sizing).
    fn default() -> Self {
        Retention {
            raw_numerics: chrono::Duration::hours(24),
            ecg: chrono::Duration::hours(72),
        }
    }
}

impl Store {
    /// Retention windows from the settings (`retention.raw_numerics_hours`,
    /// `retention.ecg_hours`, 1–87,600 h; other values are ignored), else
    /// the defaults.
    pub fn retention(&self) -> Result<Retention> {
        let hours = |key: &str| -> Result<Option<chrono::Duration>> {
            Ok(self
                .setting(key)?
                .and_then(|v| v.trim().parse::<i64>().ok())
                // Up to ten years; anything larger is a typo, not a policy.
                .filter(|h| (1..=87_600).contains(h))
                .map(chrono::Duration::hours))
        };
        let d = Retention::default();
        Ok(Retention {
            raw_numerics: hours("retention.raw_numerics_hours")?.unwrap_or(d.raw_numerics),
            ecg: hours("retention.ecg_hours")?.unwrap_or(d.ecg),
        })
    }
}

/// Removes one patient's samples of `vital` from before `before_ms`: whole
/// blocks, and the head of the block that straddles it. How many went.
fn prune_numerics(
    tx: &Transaction<'_>,
    patient_id: i64,
    vital: i64,
    before_ms: i64,
) -> Result<usize> {
    use super::numerics::{BLOCK_MS, block_of, decode, put_block};
    let whole: i64 = tx
        .prepare_cached(
            "SELECT coalesce(sum(n), 0) FROM vital_blocks
             WHERE patient_id = ?1 AND vital = ?2 AND minute_ms <= ?3",
        )
        .and_then(|mut s| {
            s.query_row(params![patient_id, vital, before_ms - BLOCK_MS], |r| {
                r.get(0)
            })
        })
        .ctx("pruning samples")?;
    tx.prepare_cached(
        "DELETE FROM vital_blocks WHERE patient_id = ?1 AND vital = ?2 AND minute_ms <= ?3",
    )
    .and_then(|mut s| s.execute(params![patient_id, vital, before_ms - BLOCK_MS]))
    .ctx("pruning samples")?;
    let minute = block_of(before_ms);
    let mut cut = 0;
    if minute < before_ms {
        let data: Option<Vec<u8>> = tx
            .prepare_cached("SELECT data FROM vital_blocks WHERE patient_id = ?1 AND vital = ?2 AND minute_ms = ?3")
            .and_then(|mut s| s.query_row(params![patient_id, vital, minute], |r| r.get(0)).optional())
            .ctx("pruning samples")?;
        if let Some(data) = data {
            let mut kept = decode(minute, &data)?;
            let before = kept.len();
            kept.retain(|s| s.ts_ms >= before_ms);
            cut = before - kept.len();
            if cut > 0 {
                put_block(tx, patient_id, vital, minute, &kept)?;
            }
        }
    }
    Ok(whole as usize + cut)
}

/// What a prune removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub samples: usize,
    pub ecg_blocks: usize,
}

impl Store {
    /// Removes full-rate data older than the retention windows. Rollups and
    /// scores stay. (Observation ids are held in memory for `DEDUP_WINDOW`
    /// only; a redelivered record is still recognised by its content while
    /// its data is stored.)
    pub fn prune(&mut self, now: DateTime<Utc>, keep: Retention) -> Result<Pruned> {
        // It may cut into blocks the writer holds open.
        self.numeric_blocks.forget();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx("pruning")?;
        // By key range per patient (and vital): a whole-table scan of a
        // quarter-billion rows would hold the writer for minutes.
        let patients: Vec<i64> = {
            let mut stmt = tx.prepare("SELECT id FROM patients").ctx("pruning")?;
            let ids = stmt.query_map([], |r| r.get(0)).ctx("pruning")?;
            ids.collect::<rusqlite::Result<_>>().ctx("pruning")?
        };
        let mut samples = 0;
        let raw_before = to_ms(now - keep.raw_numerics);
        for id in patients {
            for vital in Vital::ALL {
                samples += prune_numerics(&tx, id, vital.code(), raw_before)?;
            }
        }
        // ECG by the range of seconds its key leads with (migration 28).
        let ecg_blocks = tx
            .execute(ECG_PRUNE, params![to_ms(now - keep.ecg)])
            .ctx("pruning ECG")?;
        tx.commit().ctx("pruning")?;
        Ok(Pruned {
            samples,
            ecg_blocks,
        })
    }
}

impl Store {
    /// Observation ids this store holds for deduplication: those of the
    /// records it stored within the last `DEDUP_WINDOW` (at most
    /// `DEDUP_MAX_IDS`), in memory (tests, benchmarks).
    pub fn observation_count(&self) -> usize {
        self.recent_ids.len()
    }
}

impl Store {
    /// Bytes on disk per table, its indexes included, largest first (the
    /// `dbstat` view; for sizing and the benchmarks). Pages, so free space
    /// inside a page counts to its table.
    pub fn bytes_by_table(&self) -> Result<Vec<(String, i64)>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) AS bytes
                 FROM dbstat AS d LEFT JOIN sqlite_schema AS m ON m.name = d.name
                 GROUP BY 1 ORDER BY bytes DESC",
            )
            .ctx("measuring the store's tables")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .ctx("measuring the store's tables")?;
        rows.collect::<rusqlite::Result<_>>()
            .ctx("measuring the store's tables")
    }
}

/// Where a store's bytes are (`wardwatchctl store space`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Space {
    /// The database file as its pages count it (page count × page size).
    pub file_bytes: i64,
    /// Pages in use per table, its indexes included, largest first.
    pub tables: Vec<TableSpace>,
    /// Free pages: space the store reuses before the file grows again
    /// (left by data pruned past retention, the lake's spool once sealed).
    pub free_bytes: i64,
    /// The write-ahead log beside the file (0 when there is none): written
    /// into the database at checkpoints and reused, not data of its own.
    pub wal_bytes: u64,
}

/// One table's pages (see [`Space`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSpace {
    pub table: String,
    pub bytes: i64,
}

impl Store {
    /// Where the store's bytes are: per table, free, the WAL. Reads every
    /// page (`dbstat`): on a large store, a minute or more.
    pub fn space(&self) -> Result<Space> {
        // One read transaction: the tables and the free pages make up the
        // file even while the runtime writes.
        let read = self
            .conn
            .unchecked_transaction()
            .ctx("measuring the store")?;
        let tables = self
            .bytes_by_table()?
            .into_iter()
            .map(|(table, bytes)| TableSpace { table, bytes })
            .collect();
        // SQLCipher answers `page_size` as text (its `cipher_page_size`).
        let pragma = |name: &str| -> Result<i64> {
            let value: rusqlite::types::Value = self
                .conn
                .pragma_query_value(None, name, |r| r.get(0))
                .ctx("measuring the store")?;
            match value {
                rusqlite::types::Value::Integer(n) => Some(n),
                rusqlite::types::Value::Text(t) => t.trim().parse().ok(),
                _ => None,
            }
            .ok_or_else(|| crate::error::Error::InvalidInput {
                what: "the store's pages",
                reason: format!("PRAGMA {name} is not a number"),
            })
        };
        let page = pragma("page_size")?;
        let file_bytes = pragma("page_count")? * page;
        let free_bytes = pragma("freelist_count")? * page;
        read.finish().ctx("measuring the store")?;
        let mut wal = self.path.as_os_str().to_owned();
        wal.push("-wal");
        Ok(Space {
            file_bytes,
            tables,
            free_bytes,
            wal_bytes: std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0),
        })
    }
}

impl Store {
    /// Compressed ECG bytes per stored sample (the codec's ratio, for sizing).
    pub fn ecg_bytes_per_sample(&self) -> Result<f64> {
        self.conn
            .query_row(
                "SELECT coalesce(sum(length(data)), 0) * 1.0 / max(coalesce(sum(n_samples), 0), 1) FROM ecg_blocks",
                [],
                |r| r.get(0),
            )
            .ctx("measuring ECG storage")
    }
}

/// The `detail` column's JSON: the detail alone (the kind has its column).
fn score_detail_json(score: &ScoreDetail) -> String {
    serde_json::to_value(score)
        .ok()
        .and_then(|mut v| v.get_mut("detail").map(serde_json::Value::take))
        .unwrap_or(serde_json::Value::Null)
        .to_string()
}

pub(super) fn parse_score(kind: &str, detail: &str) -> Option<ScoreDetail> {
    let detail: serde_json::Value = serde_json::from_str(detail).ok()?;
    serde_json::from_value(serde_json::json!({ "kind": kind, "detail": detail })).ok()
}
