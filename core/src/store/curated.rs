//! The curated zone's side of the store (docs/data-lake.md): the rows each
//! Apache Iceberg table takes from the store, the tables' catalog (which
//! metadata file is current, and up to when the store's rows are in it) and
//! the key of the patient pseudonyms.
//!
//! Invariants:
//! - a table's metadata location and its watermark change together, in one
//!   transaction ([`Store::lake_table_committed`]): the rows before the
//!   watermark are in the table exactly once, those after it not at all;
//! - an intent is recorded before a commit writes its first file and cleared
//!   in that same transaction, so an intent found at start names a table
//!   whose last commit a crash interrupted: its unreferenced files are
//!   orphans to remove;
//! - no name, MRN or free text about a patient leaves through these rows: a
//!   patient is a keyed hash of the MRN ([`Pseudonymizer`]).

use chrono::{DateTime, Datelike, Utc};
use hmac::{Hmac, Mac};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use sha2::Sha256;

use super::rollup::{HOUR_MS, Hour};
use super::{Store, from_ms, to_ms};
use crate::error::{Error, Result, SqlContext};
use crate::model::score::{EcgEvent, ScoreDetail};
use crate::model::vital::Vital;

/// The pseudonym key's name in `lake_secrets`.
const PSEUDONYM_KEY: &str = "pseudonym_key";

/// Patient pseudonyms: HMAC-SHA256 of the MRN under the store's own key
/// (RFC 2104), as 32 hex digits. Stable across exports and tables, so
/// tables join on it; not reversible without the key, which never leaves
/// the store.
#[derive(Clone)]
pub struct Pseudonymizer {
    key: [u8; 32],
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer(..)")
    }
}

impl Pseudonymizer {
    pub fn new(key: [u8; 32]) -> Pseudonymizer {
        Pseudonymizer { key }
    }

    /// The pseudonym of `mrn`.
    pub fn of(&self, mrn: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(mrn.as_bytes());
        let digest = mac.finalize().into_bytes();
        crate::text::hex(&digest[..16])
    }
}

/// One of the curated tables, as the store's catalog has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CuratedTable {
    pub name: String,
    pub location: String,
    pub metadata_location: String,
    /// The store's rows before this are in the table.
    pub watermark: DateTime<Utc>,
    pub snapshot_id: Option<i64>,
    pub rows: i64,
    pub commits: i64,
    pub orphans_removed: i64,
    pub updated: DateTime<Utc>,
}

/// A minute of one vital of one patient.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinuteRow {
    pub patient: String,
    pub ward: Option<String>,
    pub vital: &'static str,
    pub unit: &'static str,
    pub minute: DateTime<Utc>,
    pub count: i32,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
}

/// A score (NEWS2, cardiac risk, ECG heart rate), with its detail (sub-scores,
/// contributors) as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreOut {
    pub patient: String,
    pub ward: Option<String>,
    pub kind: String,
    pub at: DateTime<Utc>,
    pub value: f64,
    pub detail: String,
    /// NEWS2 only: false when a parameter was missing (a partial score,
    /// RCP 2017: a missing value is never scored 0).
    pub complete: Option<bool>,
}

/// A rhythm finding's onset or end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingRow {
    pub patient: String,
    pub ward: Option<String>,
    pub at: DateTime<Utc>,
    /// `onset` or `end`.
    pub event: String,
    /// The finding's kind (e.g. `atrial_fibrillation`).
    pub finding: String,
    /// The lead's MDC code.
    pub lead: Option<i64>,
    pub detail: String,
}

/// An alarm as it stood at `updated`: a row per change of its life cycle
/// (raised, acknowledged, escalated, ended, resolved, annotated), so the
/// newest row per `alarm_id` is its latest state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmRow {
    pub alarm_id: i64,
    /// NULL for a technical alarm of no patient.
    pub patient: Option<String>,
    pub ward: Option<String>,
    pub key: String,
    pub priority: String,
    pub state: String,
    pub latched: bool,
    pub raised: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub condition_ended: Option<DateTime<Utc>>,
    pub acked_by: Option<String>,
    pub acked: Option<DateTime<Utc>>,
    pub escalated: Option<DateTime<Utc>>,
    pub escalated_to: Option<String>,
    pub notify_count: i32,
    pub annotation: Option<String>,
    pub annotated_by: Option<String>,
}

/// The patient dimension: a row per change of a patient's record. No name,
/// no MRN, no exact birth date (the year only).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatientRow {
    pub patient: String,
    pub ward: Option<String>,
    pub sex: String,
    pub birth_year: Option<i32>,
    pub spo2_scale: i32,
    pub conditions: i32,
    pub medications: i32,
    pub admitted: Option<DateTime<Utc>>,
    pub discharged: Option<DateTime<Utc>>,
    pub updated: DateTime<Utc>,
}

fn opt_ms(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.map(from_ms)
}

impl Store {
    /// The key of the patient pseudonyms, made (32 random bytes) on first use.
    pub fn lake_pseudonymizer(&mut self) -> Result<Pseudonymizer> {
        let found: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT value FROM lake_secrets WHERE name = ?1",
                [PSEUDONYM_KEY],
                |r| r.get(0),
            )
            .optional()
            .ctx("reading the pseudonym key")?;
        if let Some(v) = found {
            let key: [u8; 32] = v.try_into().map_err(|_| Error::InvalidInput {
                what: "the pseudonym key",
                reason: "it is not 32 bytes: the store is damaged".into(),
            })?;
            return Ok(Pseudonymizer::new(key));
        }
        let key: [u8; 32] = crate::auth::random_bytes("the pseudonym key")?;
        // OR IGNORE: another process made one first; read back whichever won.
        self.conn
            .execute(
                "INSERT OR IGNORE INTO lake_secrets (name, value) VALUES (?1, ?2)",
                params![PSEUDONYM_KEY, key.to_vec()],
            )
            .ctx("storing the pseudonym key")?;
        self.lake_pseudonymizer()
    }

    /// Minutes of vitals in `[from, end)` (whole minutes: `from` and `to` are
    /// taken at their minute), and `end`: `to`, or the earlier minute before
    /// which the rows stop at `max_rows` or fewer (the first minute that
    /// holds rows is always read). A day of a large ward is tens of millions
    /// of rows: held at once, a catch-up (the first pass over a store with
    /// history, or after a day stopped) took the memory of the process
    /// (issue 16).
    pub fn curated_minutes(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        p: &Pseudonymizer,
        max_rows: usize,
    ) -> Result<(Vec<MinuteRow>, DateTime<Utc>)> {
        let lo = to_ms(from);
        let first_hour = lo.div_euclid(HOUR_MS) * HOUR_MS;
        let hi = self.curated_minutes_end(lo, to_ms(to), max_rows)?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT p.mrn, p.ward, r.vital, r.hour_ms, r.data
                 FROM vital_rollups r INDEXED BY vital_rollups_by_hour
                 JOIN patients p ON p.id = r.patient_id
                 WHERE r.hour_ms >= ?1 AND r.hour_ms < ?2
                 ORDER BY r.hour_ms, p.id, r.vital",
            )
            .ctx("reading minute rollups")?;
        let rows = stmt
            .query_map(params![first_hour, hi], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                ))
            })
            .ctx("reading minute rollups")?;
        let mut out = Vec::new();
        for row in rows {
            let (mrn, ward, vital, hour_ms, data) = row.ctx("reading minute rollups")?;
            let Some(vital) = Vital::from_code(vital) else {
                continue;
            };
            let patient = p.of(&mrn);
            for (slot, m) in Hour::from_blob(&data).minutes() {
                let at = hour_ms + slot as i64 * 60_000;
                if at < lo || at >= hi || m.count == 0 {
                    continue;
                }
                out.push(MinuteRow {
                    patient: patient.clone(),
                    ward: ward.clone(),
                    vital: vital.key(),
                    unit: vital.unit(),
                    minute: from_ms(at),
                    count: i32::from(m.count),
                    min: m.min,
                    max: m.max,
                    mean: m.mean,
                });
            }
        }
        Ok((out, from_ms(hi)))
    }

    /// Where [`Store::curated_minutes`] from `lo` stops: the first minute
    /// past which its rows would exceed `max_rows` (counted from the hours'
    /// summaries, nothing held but a count a minute of one hour), else `hi`.
    fn curated_minutes_end(&self, lo: i64, hi: i64, max_rows: usize) -> Result<i64> {
        let first_hour = lo.div_euclid(HOUR_MS) * HOUR_MS;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT hour_ms, data FROM vital_rollups INDEXED BY vital_rollups_by_hour
                 WHERE hour_ms >= ?1 AND hour_ms < ?2 ORDER BY hour_ms",
            )
            .ctx("counting minute rollups")?;
        let mut rows = stmt
            .query(params![first_hour, hi])
            .ctx("counting minute rollups")?;
        let mut total = 0usize;
        // The hour being counted and its rows a minute.
        let mut hour: Option<(i64, [usize; 60])> = None;
        // The minute before which the rows stay within `max_rows`, once
        // `counts` of `hour_ms` are complete.
        let end_in = |hour_ms: i64, counts: &[usize; 60], total: &mut usize| {
            for (slot, &n) in counts.iter().enumerate() {
                let at = hour_ms + slot as i64 * 60_000;
                if at < lo || at >= hi || n == 0 {
                    continue;
                }
                if *total > 0 && *total + n > max_rows {
                    return Some(at);
                }
                *total += n;
            }
            None
        };
        while let Some(row) = rows.next().ctx("counting minute rollups")? {
            let hour_ms: i64 = row.get(0).ctx("counting minute rollups")?;
            let data: Vec<u8> = row.get(1).ctx("counting minute rollups")?;
            if let Some((h, counts)) = &hour
                && *h != hour_ms
            {
                if let Some(end) = end_in(*h, counts, &mut total) {
                    return Ok(end);
                }
                hour = None;
            }
            let (_, counts) = hour.get_or_insert((hour_ms, [0; 60]));
            for (slot, _) in Hour::from_blob(&data).minutes() {
                counts[slot] += 1;
            }
        }
        if let Some((h, counts)) = &hour
            && let Some(end) = end_in(*h, counts, &mut total)
        {
            return Ok(end);
        }
        Ok(hi)
    }

    /// Scores other than rhythm events, timed in `[from, to)`, current ones
    /// only (not those superseded by a correction).
    /// With their `end` as [`Store::curated_minutes`] has it: at most
    /// `max_rows` and the rows of the last instant.
    pub fn curated_scores(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        p: &Pseudonymizer,
        max_rows: usize,
    ) -> Result<(Vec<ScoreOut>, DateTime<Utc>)> {
        let (rows, end) = self.curated_score_rows(from, to, false, max_rows)?;
        let rows = rows
            .into_iter()
            .map(|(mrn, ward, kind, at, value, detail)| ScoreOut {
                patient: p.of(&mrn),
                complete: match super::vitals::parse_score(&kind, &detail) {
                    Some(ScoreDetail::News2(n)) => Some(n.complete),
                    _ => None,
                },
                ward,
                kind,
                at,
                value,
                detail,
            })
            .collect();
        Ok((rows, end))
    }

    /// Rhythm findings' onsets and ends timed in `[from, to)`, with their
    /// `end` as [`Store::curated_scores`] has it.
    pub fn curated_findings(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        p: &Pseudonymizer,
        max_rows: usize,
    ) -> Result<(Vec<FindingRow>, DateTime<Utc>)> {
        let (rows, end) = self.curated_score_rows(from, to, true, max_rows)?;
        let rows = rows
            .into_iter()
            .map(|(mrn, ward, kind, at, _, detail)| {
                // The row's typed form (the one contract of scores); a row
                // that does not parse is still exported, as `unknown`.
                let event = match super::vitals::parse_score(&kind, &detail) {
                    Some(ScoreDetail::EcgEvent(e)) => Some(e),
                    _ => None,
                };
                let finding = event
                    .as_ref()
                    .and_then(|e| serde_json::to_value(e.kind()).ok())
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "unknown".into());
                let (event, lead) = match event {
                    Some(EcgEvent::Onset { lead, .. }) => ("onset", Some(i64::from(lead))),
                    Some(EcgEvent::End { lead, .. }) => ("end", Some(i64::from(lead))),
                    Some(EcgEvent::Suppressed { lead, .. }) => {
                        ("suppressed", Some(i64::from(lead)))
                    }
                    None => ("unknown", None),
                };
                FindingRow {
                    patient: p.of(&mrn),
                    ward,
                    at,
                    event: event.to_owned(),
                    finding,
                    lead,
                    detail,
                }
            })
            .collect();
        Ok((rows, end))
    }

    /// Scores in `[from, end)`, in time order: `end` is `to`, or the time
    /// of the first row past `max_rows` that is not at the time of the row
    /// before it (an instant's rows are never split).
    #[allow(clippy::type_complexity)]
    fn curated_score_rows(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        events: bool,
        max_rows: usize,
    ) -> Result<(
        Vec<(String, Option<String>, String, DateTime<Utc>, f64, String)>,
        DateTime<Utc>,
    )> {
        // By time, through the index of rhythm events alone (rare among the
        // scores: a heart rate every 10 s) or of all scores (migration 25).
        // The kind is written out: a partial index serves only a query
        // whose terms name its condition.
        let (index, op) = if events {
            ("scores_events_by_time", "=")
        } else {
            ("scores_by_time", "<>")
        };
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT p.mrn, p.ward, s.kind, s.ts_ms, s.value, s.detail
                 FROM scores s INDEXED BY {index} JOIN patients p ON p.id = s.patient_id
                 WHERE s.ts_ms >= ?1 AND s.ts_ms < ?2 AND s.superseded_ms IS NULL
                   AND s.kind {op} '{}'
                 ORDER BY s.ts_ms, s.id",
                ScoreDetail::ECG_EVENT
            ))
            .ctx("reading scores")?;
        let rows = stmt
            .query_map(params![to_ms(from), to_ms(to)], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    from_ms(r.get(3)?),
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .ctx("reading scores")?;
        let mut out: Vec<(String, Option<String>, String, DateTime<Utc>, f64, String)> = Vec::new();
        for row in rows {
            let row = row.ctx("reading scores")?;
            if out.len() >= max_rows && out.last().is_some_and(|last| last.3 != row.3) {
                return Ok((out, row.3));
            }
            out.push(row);
        }
        Ok((out, to))
    }

    /// Alarms that changed in `[from, to)`, as they stand now.
    pub fn curated_alarms(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        p: &Pseudonymizer,
    ) -> Result<Vec<AlarmRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT a.id, p.mrn, p.ward, a.key, a.priority, a.state, a.latched,
                        a.raised_ms, a.updated_ms, a.condition_ended_ms, a.acked_by,
                        a.acked_ms, a.escalated_ms, a.escalated_to, a.notify_count,
                        a.annotation, a.annotated_by
                 FROM alarms a INDEXED BY alarms_by_update
                 LEFT JOIN patients p ON p.id = a.patient_id
                 WHERE a.updated_ms >= ?1 AND a.updated_ms < ?2
                 ORDER BY a.updated_ms, a.id",
            )
            .ctx("reading alarms")?;
        let rows = stmt
            .query_map(params![to_ms(from), to_ms(to)], |r| {
                let mrn: Option<String> = r.get(1)?;
                Ok(AlarmRow {
                    alarm_id: r.get(0)?,
                    patient: mrn.map(|m| p.of(&m)),
                    ward: r.get(2)?,
                    key: r.get(3)?,
                    priority: r.get(4)?,
                    state: r.get(5)?,
                    latched: r.get::<_, i64>(6)? != 0,
                    raised: from_ms(r.get(7)?),
                    updated: from_ms(r.get(8)?),
                    condition_ended: opt_ms(r.get(9)?),
                    acked_by: r.get(10)?,
                    acked: opt_ms(r.get(11)?),
                    escalated: opt_ms(r.get(12)?),
                    escalated_to: r.get(13)?,
                    notify_count: r.get(14)?,
                    annotation: r.get(15)?,
                    annotated_by: r.get(16)?,
                })
            })
            .ctx("reading alarms")?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .ctx("reading alarms")
    }

    /// Patients whose record changed in `[from, to)`, as they stand now.
    pub fn curated_patients(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        p: &Pseudonymizer,
    ) -> Result<Vec<PatientRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT mrn, ward, sex, birth_date, spo2_scale, admitted_ms, discharged_ms, updated_ms,
                        (SELECT count(*) FROM patient_conditions c WHERE c.patient_id = patients.id),
                        (SELECT count(*) FROM patient_medications m WHERE m.patient_id = patients.id)
                 FROM patients WHERE updated_ms >= ?1 AND updated_ms < ?2
                 ORDER BY updated_ms, id",
            )
            .ctx("reading patients")?;
        let rows = stmt
            .query_map(params![to_ms(from), to_ms(to)], |r| {
                let mrn: String = r.get(0)?;
                let birth: Option<String> = r.get(3)?;
                Ok(PatientRow {
                    patient: p.of(&mrn),
                    ward: r.get(1)?,
                    sex: r.get(2)?,
                    birth_year: birth
                        .and_then(|b| chrono::NaiveDate::parse_from_str(&b, "%Y-%m-%d").ok())
                        .map(|d| d.year()),
                    spo2_scale: r.get(4)?,
                    admitted: opt_ms(r.get(5)?),
                    discharged: opt_ms(r.get(6)?),
                    updated: from_ms(r.get(7)?),
                    conditions: r.get(8)?,
                    medications: r.get(9)?,
                })
            })
            .ctx("reading patients")?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .ctx("reading patients")
    }

    /// The curated tables the store's catalog holds.
    pub fn lake_tables(&self) -> Result<Vec<CuratedTable>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT name, location, metadata_location, watermark_ms, snapshot_id, rows,
                        commits, orphans_removed, updated_ms
                 FROM lake_tables ORDER BY name",
            )
            .ctx("reading the lake's tables")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(CuratedTable {
                    name: r.get(0)?,
                    location: r.get(1)?,
                    metadata_location: r.get(2)?,
                    watermark: from_ms(r.get(3)?),
                    snapshot_id: r.get(4)?,
                    rows: r.get(5)?,
                    commits: r.get(6)?,
                    orphans_removed: r.get(7)?,
                    updated: from_ms(r.get(8)?),
                })
            })
            .ctx("reading the lake's tables")?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .ctx("reading the lake's tables")
    }

    /// One curated table, if the catalog has it.
    pub fn lake_table(&self, name: &str) -> Result<Option<CuratedTable>> {
        Ok(self.lake_tables()?.into_iter().find(|t| t.name == name))
    }

    /// Records a table just created (its first metadata file written) and
    /// clears the intent of its creation, in one transaction.
    pub fn lake_table_created(
        &mut self,
        name: &str,
        location: &str,
        metadata_location: &str,
        watermark: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.conn.transaction().ctx("recording a lake table")?;
        tx.execute(
            "INSERT INTO lake_tables (name, location, metadata_location, watermark_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                name,
                location,
                metadata_location,
                to_ms(watermark),
                to_ms(now)
            ],
        )
        .ctx("recording a lake table")?;
        tx.execute("DELETE FROM lake_table_intents WHERE name = ?1", [name])
            .ctx("recording a lake table")?;
        tx.commit().ctx("recording a lake table")
    }

    /// Forgets a table (its location changed: a new target); the next pass
    /// creates it afresh there, from the start of the store's data.
    pub fn lake_table_forget(&mut self, name: &str) -> Result<()> {
        let tx = self.conn.transaction().ctx("forgetting a lake table")?;
        tx.execute("DELETE FROM lake_table_intents WHERE name = ?1", [name])
            .ctx("forgetting a lake table")?;
        tx.execute("DELETE FROM lake_tables WHERE name = ?1", [name])
            .ctx("forgetting a lake table")?;
        tx.commit().ctx("forgetting a lake table")
    }

    /// Marks a commit of `name` under way (before its first file is written).
    pub fn lake_table_intent(&mut self, name: &str, now: DateTime<Utc>) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO lake_table_intents (name, started_ms) VALUES (?1, ?2)",
                params![name, to_ms(now)],
            )
            .ctx("recording a lake commit")?;
        Ok(())
    }

    /// Tables whose last commit was interrupted.
    pub fn lake_table_intents(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name FROM lake_table_intents ORDER BY name")
            .ctx("reading lake commits")?;
        let rows = stmt
            .query_map([], |r| r.get(0))
            .ctx("reading lake commits")?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .ctx("reading lake commits")
    }

    /// A commit's end: the new metadata file, watermark and snapshot, the
    /// data files it added (written with schema `schema_id`), and the intent
    /// cleared, in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub fn lake_table_committed(
        &mut self,
        name: &str,
        metadata_location: &str,
        watermark: DateTime<Utc>,
        snapshot_id: Option<i64>,
        rows_added: i64,
        files: &[super::catalog::TableFile],
        schema_id: i32,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.conn.transaction().ctx("recording a lake commit")?;
        let changed = tx
            .execute(
                "UPDATE lake_tables SET metadata_location = ?2, watermark_ms = ?3,
                   snapshot_id = coalesce(?4, snapshot_id), rows = rows + ?5,
                   commits = commits + (?4 IS NOT NULL), updated_ms = ?6
                 WHERE name = ?1",
                params![
                    name,
                    metadata_location,
                    to_ms(watermark),
                    snapshot_id,
                    rows_added,
                    to_ms(now)
                ],
            )
            .ctx("recording a lake commit")?;
        if changed != 1 {
            return Err(Error::InvalidInput {
                what: "a lake commit",
                reason: format!("no table {name} in the store's catalog"),
            });
        }
        if let Some(snapshot_id) = snapshot_id {
            super::catalog::record_files(&tx, name, snapshot_id, schema_id, files, now)?;
        }
        tx.execute("DELETE FROM lake_table_intents WHERE name = ?1", [name])
            .ctx("recording a lake commit")?;
        tx.commit().ctx("recording a lake commit")
    }

    /// An interrupted commit cleaned up: `removed` orphan files counted.
    pub fn lake_table_recovered(&mut self, name: &str, removed: i64) -> Result<()> {
        let tx = self.conn.transaction().ctx("recording a lake recovery")?;
        tx.execute(
            "UPDATE lake_tables SET orphans_removed = orphans_removed + ?2 WHERE name = ?1",
            params![name, removed],
        )
        .ctx("recording a lake recovery")?;
        tx.execute("DELETE FROM lake_table_intents WHERE name = ?1", [name])
            .ctx("recording a lake recovery")?;
        tx.commit().ctx("recording a lake recovery")
    }

    /// When the store's data begins (the oldest rollup, score, alarm or
    /// patient change): where a new table's watermark starts.
    pub fn curated_origin(&self) -> Result<Option<DateTime<Utc>>> {
        let ms: Option<i64> = self
            .conn
            .query_row(
                "SELECT min(m) FROM (
                    SELECT min(hour_ms) AS m FROM vital_rollups
                    UNION ALL SELECT min(ts_ms) FROM scores
                    UNION ALL SELECT min(updated_ms) FROM alarms
                    UNION ALL SELECT min(updated_ms) FROM patients)",
                [],
                |r| r.get(0),
            )
            .ctx("reading the store's first data")?;
        Ok(ms.map(from_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_keyed_and_hide_the_mrn() {
        let a = Pseudonymizer::new([7; 32]);
        let b = Pseudonymizer::new([8; 32]);
        assert_eq!(a.of("MRN-1"), a.of("MRN-1"));
        assert_ne!(a.of("MRN-1"), a.of("MRN-2"));
        assert_ne!(a.of("MRN-1"), b.of("MRN-1"));
        assert_eq!(a.of("MRN-1").len(), 32);
        assert!(!a.of("MRN-1").contains("MRN"));
    }
}
