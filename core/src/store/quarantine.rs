//! The quarantine: records that could not be stored, each with its source,
//! sequence, a stable code and a reason, kept for review (`wardwatchctl
//! ingest quarantine`). It keeps a record's head and full length and holds
//! to a byte budget and a retention (issue 9, item 4).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{Transaction, params};
use serde::Serialize;

use super::vitals::{IngestBatch, IngestItem};
use super::{Store, from_ms, to_ms};
use crate::error::{Result, SqlContext};
use crate::ingest::observation::Rejection;

/// A quarantined record, for review.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quarantined {
    pub id: i64,
    pub received: DateTime<Utc>,
    pub source: String,
    pub sequence: Option<String>,
    pub code: String,
    pub reason: String,
    /// The record as received, or its first [`QUARANTINE_RAW_MAX`] bytes.
    /// In JSON: `{"text": …}` when it is UTF-8, else `{"base64": …}`.
    #[serde(serialize_with = "raw_as_text_or_base64")]
    pub raw: Vec<u8>,
    /// The record's full length in bytes.
    pub raw_len: usize,
}

fn raw_as_text_or_base64<S: serde::Serializer>(
    raw: &[u8],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use base64::Engine;
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(1))?;
    match std::str::from_utf8(raw) {
        Ok(text) => map.serialize_entry("text", text)?,
        Err(_) => map.serialize_entry(
            "base64",
            &base64::engine::general_purpose::STANDARD.encode(raw),
        )?,
    }
    map.end()
}

/// Bytes kept of a quarantined record; its full length is recorded beside.
pub const QUARANTINE_RAW_MAX: usize = 64 << 10;

impl Store {
    /// Quarantined records, newest first.
    pub fn quarantine(&self, limit: usize) -> Result<Vec<Quarantined>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, received_ms, source, sequence, code, reason, raw,
                   coalesce(raw_len, length(raw)) FROM quarantine
                 ORDER BY id DESC LIMIT ?1",
            )
            .ctx("reading the quarantine")?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(Quarantined {
                    id: r.get(0)?,
                    received: from_ms(r.get(1)?),
                    source: r.get(2)?,
                    sequence: r.get(3)?,
                    code: r.get(4)?,
                    reason: r.get(5)?,
                    raw: r.get(6)?,
                    raw_len: r.get::<_, i64>(7)?.max(0) as usize,
                })
            })
            .ctx("reading the quarantine")?;
        rows.collect::<rusqlite::Result<_>>()
            .ctx("reading the quarantine")
    }

    /// Quarantined records counted by rejection code.
    pub fn quarantine_counts(&self) -> Result<HashMap<String, i64>> {
        let mut stmt = self
            .conn
            .prepare("SELECT code, count(*) FROM quarantine GROUP BY code")
            .ctx("counting the quarantine")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .ctx("counting the quarantine")?;
        rows.collect::<rusqlite::Result<_>>()
            .ctx("counting the quarantine")
    }
}

pub(super) fn quarantine(
    tx: &Transaction<'_>,
    batch: &IngestBatch,
    item: &IngestItem,
    rejection: &Rejection,
    now: DateTime<Utc>,
) -> Result<()> {
    let kept = &item.raw[..item.raw.len().min(QUARANTINE_RAW_MAX)];
    tx.prepare_cached(
        "INSERT INTO quarantine (received_ms, source, sequence, code, reason, raw, raw_len)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut s| {
        s.execute(params![
            to_ms(now),
            batch.source,
            item.sequence,
            rejection.code.as_str(),
            rejection.reason,
            kept,
            item.received_len.max(item.raw.len()) as i64
        ])
    })
    .ctx("quarantining a record")?;
    Ok(())
}

/// How much the quarantine may hold (settings `quarantine.max_mb`,
/// `quarantine.keep_days`). A hostile or broken stream must not fill the
/// disk and stop the runtime (issue 9, item 4): past the budget the oldest
/// entries go first, and each source counts what it lost that way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuarantineBudget {
    pub max_bytes: u64,
    pub keep: chrono::Duration,
}

impl Default for QuarantineBudget {
    /// 256 MB and 30 days: weeks of a bad device's records for review.
    fn default() -> Self {
        QuarantineBudget {
            max_bytes: 256 << 20,
            keep: chrono::Duration::days(30),
        }
    }
}

/// What a trim removed: past `keep`, and oldest-first for the byte budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Trimmed {
    pub expired: usize,
    pub over_budget: usize,
}

/// Bytes an entry counts for beside its raw bytes and reason (row, index).
const QUARANTINE_ROW_OVERHEAD: i64 = 64;

impl Store {
    /// Holds the quarantine to `budget`; see [`QuarantineBudget`]. Trims to
    /// 90 % of the byte budget, so that a flood does not trim every batch.
    pub fn trim_quarantine(
        &mut self,
        now: DateTime<Utc>,
        budget: QuarantineBudget,
    ) -> Result<Trimmed> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx("trimming the quarantine")?;
        let expired = tx
            .execute(
                "DELETE FROM quarantine WHERE received_ms < ?1",
                [to_ms(now - budget.keep)],
            )
            .ctx("trimming the quarantine")?;
        let size = "length(raw) + length(reason) + length(source) + coalesce(length(sequence), 0)";
        let total: i64 = tx
            .query_row(
                &format!(
                    "SELECT coalesce(sum({size} + {QUARANTINE_ROW_OVERHEAD}), 0) FROM quarantine"
                ),
                [],
                |r| r.get(0),
            )
            .ctx("measuring the quarantine")?;
        let mut over_budget = 0;
        let max = i64::try_from(budget.max_bytes).unwrap_or(i64::MAX);
        if total > max {
            let target = total - max / 10 * 9;
            let mut freed = 0i64;
            let mut cutoff = None;
            let mut by_source: HashMap<String, i64> = HashMap::new();
            {
                let mut stmt = tx
                    .prepare(&format!(
                        "SELECT id, source, {size} + {QUARANTINE_ROW_OVERHEAD} FROM quarantine ORDER BY id"
                    ))
                    .ctx("trimming the quarantine")?;
                let mut rows = stmt.query([]).ctx("trimming the quarantine")?;
                while freed < target {
                    let Some(row) = rows.next().ctx("trimming the quarantine")? else {
                        break;
                    };
                    let (id, source, bytes): (i64, String, i64) = (
                        row.get(0).ctx("trimming")?,
                        row.get(1).ctx("trimming")?,
                        row.get(2).ctx("trimming")?,
                    );
                    freed += bytes;
                    cutoff = Some(id);
                    *by_source.entry(source).or_default() += 1;
                }
            }
            if let Some(cutoff) = cutoff {
                over_budget = tx
                    .execute("DELETE FROM quarantine WHERE id <= ?1", [cutoff])
                    .ctx("trimming the quarantine")?;
                for (source, n) in by_source {
                    tx.execute(
                        "INSERT INTO ingest_stats (source, quarantine_dropped, updated_ms) VALUES (?1, ?2, ?3)
                         ON CONFLICT (source) DO UPDATE SET quarantine_dropped = quarantine_dropped + excluded.quarantine_dropped",
                        params![source, n, to_ms(now)],
                    )
                    .ctx("counting dropped quarantine entries")?;
                }
            }
        }
        tx.commit().ctx("trimming the quarantine")?;
        Ok(Trimmed {
            expired,
            over_budget,
        })
    }
}
