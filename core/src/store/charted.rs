//! Observations charted by hand (migration 17): each row is one FHIR
//! Observation that the runtime ingests as the built-in source `charted`,
//! so it reaches the samples, NEWS2, alarms and the lake like a streamed
//! one. Rows are never changed: a correction is a newer charting.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

use super::{Store, from_ms, to_ms};
use crate::error::{Result, SqlContext};

/// The built-in source the runtime ingests charted observations as; no
/// configured source may take this name.
pub const CHARTED_SOURCE: &str = "charted";
/// Its one shard (row ids are its strictly increasing sequence).
pub const CHARTED_SHARD: &str = "rows";

/// One charted observation, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Charted {
    pub id: i64,
    pub mrn: String,
    pub observed: DateTime<Utc>,
    pub entered: DateTime<Utc>,
    pub entered_by: String,
    pub detail: Option<String>,
    /// The FHIR Observation, as the runtime ingests it.
    pub fhir: String,
}

impl Store {
    /// Stores `observations` (FHIR JSON) charted for `mrn` in one
    /// transaction; returns their ids.
    pub fn insert_charted(
        &mut self,
        mrn: &str,
        observed: DateTime<Utc>,
        entered: DateTime<Utc>,
        entered_by: &str,
        detail: Option<&str>,
        observations: &[String],
    ) -> Result<Vec<i64>> {
        let patient_id = self.known_patient_id(mrn)?;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx("charting observations")?;
        let mut ids = Vec::new();
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO charted_observations
                       (patient_id, observed_ms, entered_ms, entered_by, detail, fhir)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .ctx("charting observations")?;
            for fhir in observations {
                stmt.execute(params![
                    patient_id,
                    to_ms(observed),
                    to_ms(entered),
                    entered_by,
                    detail,
                    fhir
                ])
                .ctx("charting observations")?;
                ids.push(tx.last_insert_rowid());
            }
        }
        tx.commit().ctx("charting observations")?;
        Ok(ids)
    }

    /// Charted observations with an id above `after`, oldest first, at most
    /// `limit`: what the runtime's `charted` source has not read yet.
    pub fn charted_after(&self, after: i64, limit: usize) -> Result<Vec<Charted>> {
        self.charted_where(
            "c.id > ?1 ORDER BY c.id LIMIT ?2",
            params![after, limit as i64],
        )
    }

    /// `mrn`'s charted observations observed at or after `since`, newest first.
    pub fn charted_for(
        &self,
        mrn: &str,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Charted>> {
        self.charted_where(
            "p.mrn = ?1 AND c.observed_ms >= ?2 ORDER BY c.observed_ms DESC, c.id DESC LIMIT ?3",
            params![mrn, to_ms(since), limit as i64],
        )
    }

    fn charted_where(&self, clause: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<Charted>> {
        let sql = format!(
            "SELECT c.id, p.mrn, c.observed_ms, c.entered_ms, c.entered_by, c.detail, c.fhir
             FROM charted_observations c JOIN patients p ON p.id = c.patient_id WHERE {clause}"
        );
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .ctx("reading charted observations")?;
        let rows = stmt
            .query_map(args, |r| {
                Ok(Charted {
                    id: r.get(0)?,
                    mrn: r.get(1)?,
                    observed: from_ms(r.get(2)?),
                    entered: from_ms(r.get(3)?),
                    entered_by: r.get(4)?,
                    detail: r.get(5)?,
                    fhir: r.get(6)?,
                })
            })
            .ctx("reading charted observations")?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .ctx("reading charted observations")
    }
}
