//! Devices and whom they measured (issue 9, item 11). A monitor left
//! assigned to a bed's previous patient files the new patient's data under
//! the old one; this module keeps each device's assignment history (the
//! stream's MRN per device, and every correction) and moves one device's
//! data over a time range from one patient to another, in one transaction
//! with its audit entry.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, named_params, params};
use serde::Serialize;

use super::numerics::{self, BlockCache, NumSample};
use super::rollup::{HOUR_MS, Hour};
use super::vitals::ecg_seconds;
use super::{AuditEntry, Store, audit, from_ms, to_ms};
use crate::error::{Error, Result, SqlContext};
use crate::model::Vital;

/// Who made an assignment: the stream (the MRN a device reported for).
pub const BY_STREAM: &str = "stream";

/// A device's ECG blocks of a patient (`:from_id`) in `[:from_ms,
/// :until_ms)`, found second by second (`vitals::ecg_seconds`).
macro_rules! moving_ecg {
    () => {
        concat!(
            ecg_seconds!(),
            ", moving_ecg AS (
               SELECT f.id, f.lead, f.start_ms FROM ecg_seconds CROSS JOIN ecg_blocks f
                 ON f.start_ms / 1000 = ecg_seconds.s AND f.patient_id = :from_id
               WHERE f.device_id = :device AND f.start_ms >= :from_ms AND f.start_ms < :until_ms)"
        )
    };
}

/// How many of the moving ECG blocks `:to_id` already has a block of the
/// same lead and start for.
pub(super) const ECG_MOVE_CLASHES: &str = concat!(
    moving_ecg!(),
    "
    SELECT count(*) FROM moving_ecg f JOIN ecg_blocks t
      ON t.start_ms / 1000 = f.start_ms / 1000 AND t.patient_id = :to_id
     AND t.lead = f.lead AND +t.start_ms = f.start_ms"
);

/// Moves the ECG blocks to `:to_id`.
pub(super) const ECG_MOVE: &str = concat!(
    moving_ecg!(),
    "
    UPDATE ecg_blocks SET patient_id = :to_id WHERE id IN (SELECT id FROM moving_ecg)"
);

/// A device with the patient it reports for now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceView {
    pub device: String,
    pub mrn: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

/// One span of a device's history: whom it measured, from when to when,
/// and who said so (`stream`, or the user who corrected it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assignment {
    pub mrn: String,
    pub from: DateTime<Utc>,
    pub to: Option<DateTime<Utc>>,
    pub by: String,
    pub note: Option<String>,
}

/// What a move did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MoveReport {
    pub samples: usize,
    pub ecg_blocks: usize,
    /// Minute-history hours rebuilt from the samples, per patient.
    pub hours_rebuilt: usize,
    /// Scores of either patient in the range, marked superseded: they were
    /// computed from the wrong patient's data.
    pub scores_superseded: usize,
    /// Alarms of the source patient raised in the range, marked misfiled.
    pub alarms_marked: usize,
}

/// A move of one device's data from one patient to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataMove<'a> {
    pub device: &'a str,
    pub from_mrn: &'a str,
    pub to_mrn: &'a str,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// The ingest side: per batch, each device's id and current patient
/// (foldhash, not SipHash: every record of a batch looks its device up).
#[derive(Debug, Default)]
pub(crate) struct DeviceCache(
    std::collections::HashMap<String, (i64, Option<i64>), foldhash::fast::RandomState>,
);

/// The device `uid`, registered if new, with its assignment moved to
/// `patient_id` (from `ts`) when it reported for someone else until now.
pub(crate) fn device_for(
    tx: &Transaction<'_>,
    cache: &mut DeviceCache,
    uid: &str,
    patient_id: i64,
    ts: i64,
    now: DateTime<Utc>,
) -> Result<i64> {
    let cached = cache.0.get(uid).copied();
    let (id, current) = match cached {
        Some(known) => known,
        None => {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO devices (device_uid, kind, patient_id, linked_ms)
                 VALUES (?1, 'stream', NULL, ?2)",
            )
            .and_then(|mut s| s.execute(params![uid, to_ms(now)]))
            .ctx("registering a device")?;
            tx.prepare_cached("SELECT id, patient_id FROM devices WHERE device_uid = ?1")
                .and_then(|mut s| s.query_row([uid], |r| Ok((r.get(0)?, r.get(1)?))))
                .ctx("registering a device")?
        }
    };
    if current != Some(patient_id) {
        tx.prepare_cached(
            "UPDATE device_assignments SET to_ms = ?2 WHERE device_id = ?1 AND to_ms IS NULL",
        )
        .and_then(|mut s| s.execute(params![id, ts]))
        .ctx("recording a device assignment")?;
        tx.prepare_cached(
            "INSERT INTO device_assignments (device_id, patient_id, from_ms, by_user)
             VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut s| s.execute(params![id, patient_id, ts, BY_STREAM]))
        .ctx("recording a device assignment")?;
        tx.prepare_cached("UPDATE devices SET patient_id = ?2, linked_ms = ?3 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![id, patient_id, ts]))
            .ctx("recording a device assignment")?;
    }
    // A device the batch holds for this patient already: no new key.
    if cached != Some((id, Some(patient_id))) {
        cache.0.insert(uid.to_owned(), (id, Some(patient_id)));
    }
    Ok(id)
}

impl Store {
    /// Every device with the patient it reports for now.
    pub fn devices(&self) -> Result<Vec<DeviceView>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT d.device_uid, p.mrn, d.linked_ms FROM devices d
                 LEFT JOIN patients p ON p.id = d.patient_id ORDER BY d.device_uid",
            )
            .ctx("listing devices")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(DeviceView {
                    device: r.get(0)?,
                    mrn: r.get(1)?,
                    since: r.get::<_, Option<i64>>(2)?.map(from_ms),
                })
            })
            .ctx("listing devices")?;
        rows.collect::<rusqlite::Result<_>>().ctx("listing devices")
    }

    /// A device's assignment history, oldest first.
    pub fn device_history(&self, device: &str) -> Result<Vec<Assignment>> {
        let id = self.device_id(device)?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT p.mrn, a.from_ms, a.to_ms, a.by_user, a.note FROM device_assignments a
                 JOIN patients p ON p.id = a.patient_id WHERE a.device_id = ?1
                 ORDER BY a.from_ms, a.id",
            )
            .ctx("reading a device's history")?;
        let rows = stmt
            .query_map([id], |r| {
                Ok(Assignment {
                    mrn: r.get(0)?,
                    from: from_ms(r.get(1)?),
                    to: r.get::<_, Option<i64>>(2)?.map(from_ms),
                    by: r.get(3)?,
                    note: r.get(4)?,
                })
            })
            .ctx("reading a device's history")?;
        rows.collect::<rusqlite::Result<_>>()
            .ctx("reading a device's history")
    }

    fn device_id(&self, device: &str) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT id FROM devices WHERE device_uid = ?1",
                [device],
                |r| r.get(0),
            )
            .optional()
            .ctx("resolving a device")?
            .ok_or_else(|| Error::InvalidInput {
                what: "device",
                reason: format!("no device `{device}` has sent data"),
            })
    }

    /// Moves `m.device`'s samples and ECG in `[since, until)` from one
    /// patient to the other, in one transaction with `audit_entry`:
    /// rebuilds both patients' minute history for the hours touched (after
    /// merging the rollup journal), marks
    /// their scores in the range superseded and the source patient's alarms
    /// in it misfiled, and records the correction in the device's history.
    /// Refuses (changing nothing) a range that reaches before `raw_since`
    /// (only data still held at full rate can be split by device) and a
    /// move onto samples the target already holds.
    pub fn move_device_data(
        &mut self,
        m: &DataMove<'_>,
        raw_since: DateTime<Utc>,
        user: &str,
        audit_entry: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<MoveReport> {
        let invalid = |reason: String| Error::InvalidInput {
            what: "data move",
            reason,
        };
        if m.since >= m.until {
            return Err(invalid(
                "the range is empty: --since must be before --until".into(),
            ));
        }
        if m.from_mrn == m.to_mrn {
            return Err(invalid("the two patients are the same".into()));
        }
        if m.since < raw_since {
            return Err(invalid(format!(
                "{} is before {}, the oldest full-rate data kept: older minute history cannot be split by device",
                m.since.to_rfc3339(),
                raw_since.to_rfc3339()
            )));
        }
        let device = self.device_id(m.device)?;
        let (from_id, to_id) = (
            self.known_patient_id(m.from_mrn)?,
            self.known_patient_id(m.to_mrn)?,
        );
        let (since, until) = (to_ms(m.since), to_ms(m.until));
        let sealer = self.sealer()?.clone();
        // It rewrites blocks the writer may hold open.
        self.numeric_blocks.forget();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx("moving data")?;
        // The hours are rebuilt from the samples below: minutes of theirs
        // still in the journal are merged first, else a later merge would
        // add them again (`rollup_journal`). A writer's note of the parts
        // it appended to goes stale: merging an emptied part costs a seek.
        super::rollup_journal::merge_within(&tx, &self.path, None)?;
        // The samples to move: each vital's samples of `device` in the range.
        let mut moving: Vec<(i64, NumSample)> = Vec::new();
        for vital in Vital::ALL {
            let samples = numerics::samples_in(&tx, from_id, vital.code(), since, until)?;
            moving.extend(
                samples
                    .into_iter()
                    .filter(|s| s.device == Some(device))
                    .map(|s| (vital.code(), s)),
            );
        }
        let mut blocks = BlockCache::default();
        let range = named_params! {
            ":from_id": from_id, ":to_id": to_id, ":device": device, ":from_ms": since, ":until_ms": until
        };
        let mut clashes: i64 = tx
            .query_row(ECG_MOVE_CLASHES, range, |r| r.get(0))
            .ctx("checking a data move")?;
        for (vital, s) in &moving {
            if blocks.get(&tx, to_id, *vital, s.ts_ms)?.is_some() {
                clashes += 1;
            }
        }
        if clashes > 0 {
            return Err(invalid(format!(
                "{} samples or ECG blocks would land where {} already has data at the same time: nothing was moved",
                clashes, m.to_mrn
            )));
        }
        // The hours and vitals touched, to rebuild their minute history.
        let touched: BTreeSet<(i64, i64)> = moving
            .iter()
            .map(|(vital, s)| (*vital, s.ts_ms - s.ts_ms.rem_euclid(HOUR_MS)))
            .collect();
        for (vital, s) in &moving {
            blocks.remove(&tx, from_id, *vital, s.ts_ms)?;
            blocks.insert(&tx, to_id, *vital, *s)?;
        }
        blocks.flush(&tx)?;
        let mut report = MoveReport {
            samples: moving.len(),
            ecg_blocks: tx.execute(ECG_MOVE, range).ctx("moving ECG")?,
            ..MoveReport::default()
        };
        for (vital, hour) in &touched {
            for patient_id in [from_id, to_id] {
                rebuild_hour(&tx, patient_id, *vital, *hour)?;
                report.hours_rebuilt += 1;
            }
        }
        report.scores_superseded = tx
            .execute(
                "UPDATE scores SET superseded_ms = ?4
                 WHERE patient_id IN (?1, ?5) AND ts_ms >= ?2 AND ts_ms < ?3 AND superseded_ms IS NULL",
                params![from_id, since, until, to_ms(now), to_id],
            )
            .ctx("marking scores")?;
        report.alarms_marked = tx
            .execute(
                "UPDATE alarms SET detail = json_set(detail, '$.misfiled',
                   json_object('moved_to', ?4, 'device', ?5, 'by', ?6, 'at_ms', ?7))
                 WHERE patient_id = ?1 AND raised_ms >= ?2 AND raised_ms < ?3",
                params![from_id, since, until, m.to_mrn, m.device, user, to_ms(now)],
            )
            .ctx("marking alarms")?;
        tx.execute(
            "INSERT INTO device_assignments (device_id, patient_id, from_ms, to_ms, by_user, note)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                device,
                to_id,
                since,
                until,
                user,
                format!("corrected: data moved from {}", m.from_mrn)
            ],
        )
        .ctx("recording the correction")?;
        let head = audit::append(&tx, &sealer, audit_entry)?;
        tx.commit().ctx("moving data")?;
        sealer.record_head(&head);
        Ok(report)
    }
}

/// Recomputes one patient's minute rollup of `vital` for `hour` from the
/// samples it holds now.
fn rebuild_hour(tx: &Transaction<'_>, patient_id: i64, vital: i64, hour: i64) -> Result<()> {
    let mut h = Hour::default();
    let mut any = false;
    for s in numerics::samples_in(tx, patient_id, vital, hour, hour + HOUR_MS)? {
        if let Some(v) = s.value {
            h.add(((s.ts_ms - hour) / 60_000) as usize, v);
            any = true;
        }
    }
    if any {
        super::history::put_rollup(tx, patient_id, vital, hour, &h).map(|_| 0)
    } else {
        tx.execute(
            "DELETE FROM vital_rollups WHERE patient_id = ?1 AND vital = ?2 AND hour_ms = ?3",
            params![patient_id, vital, hour],
        )
    }
    .ctx("rebuilding the minute history")?;
    Ok(())
}
