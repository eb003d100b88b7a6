//! The minute rollups' journal (issue 16, migration 23).
//!
//! Every stored numeric value adds to its patient's hour of minute rollups
//! (`vital_rollups`, one 600-byte row per patient, vital and hour). Merged
//! batch by batch, each of a ward's hour rows, and the page that holds it,
//! was rewritten about once a second: at 5,000 patients that was half of
//! all the runtime writer wrote (session 27: the WAL 4.3 GB a minute with
//! it, 2.0 GB without) and a quarter of its CPU.
//!
//! A runtime writer ([`Store::defer_rollups`]) instead appends what a
//! transaction adds — each hour's new minutes, sparse, with their key — as
//! one row of `rollup_journal`, in the same transaction as the samples:
//! rows in arrival order fill consecutive pages, a few kB per batch. Every
//! [`MERGE_EVERY`] or so it folds the whole journal into `vital_rollups`
//! and deletes the rows it folded, in one transaction
//! ([`Store::merge_rollup_journal`]): each hour row is then written once a
//! merge, not once a batch.
//!
//! Invariants:
//! - a stored value's minute is in exactly one of `vital_rollups` and
//!   `rollup_journal`, never both and never neither: a journal row is
//!   written with its samples and deleted with its merge;
//! - the journal in the store is the truth, not the writer's memory: any
//!   connection may merge it (the lake's curator before it reads minutes,
//!   a device-data move before it rebuilds hours), and merges take turns
//!   on the write lock;
//! - readers of `vital_rollups` see a value at most one merge interval
//!   after it was stored while a runtime runs (the lake's curator cuts two
//!   minutes back and merges first anyway), and a runtime merges when it
//!   starts (what a stopped one left) and when it stops.
//!
//! A journal row's `data`: a format byte ([`FORMAT`]), then for each hour
//! touched: the patient id (varint), the vital code (varint), the hour's
//! number since the epoch (zigzag varint), then its minutes as
//! [`Hour::put_sparse`] writes them.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::params;

use super::numerics::{put_varint, unzigzag, zigzag};
use super::rollup::{HOUR_MS, Hour};
use crate::error::{Error, Result, SqlContext};

/// How often a runtime writer merges the journal: often enough that a
/// chart of hours is at most this late, seldom enough that each hour row
/// is written a few times a minute at most. Merging 5,000 patients' hours
/// takes the writer a fraction of a second (ARCHITECTURE.md).
pub const MERGE_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// The first byte of a journal row.
const FORMAT: u8 = 1;

/// A transaction's contributions, encoded as a journal row's `data`.
#[derive(Debug, Default)]
pub(super) struct JournalRow {
    data: Vec<u8>,
}

impl JournalRow {
    /// Adds a batch's minutes of one hour.
    pub(super) fn add(&mut self, patient_id: i64, vital: i64, hour_ms: i64, minutes: &Hour) {
        if self.data.is_empty() {
            self.data.push(FORMAT);
        }
        put_varint(&mut self.data, patient_id as u64);
        put_varint(&mut self.data, vital as u64);
        put_varint(&mut self.data, zigzag(hour_ms.div_euclid(HOUR_MS)));
        minutes.put_sparse(&mut self.data);
    }

    /// Appends the row (nothing when nothing was added); true when it did.
    pub(super) fn insert(self, tx: &rusqlite::Transaction<'_>) -> Result<bool> {
        if self.data.is_empty() {
            return Ok(false);
        }
        tx.prepare_cached("INSERT INTO rollup_journal (data) VALUES (?1)")
            .and_then(|mut s| s.execute([self.data]))
            .ctx("appending to the rollup journal")?;
        Ok(true)
    }
}

/// What a merge folded in.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JournalMerge {
    /// Journal rows merged and deleted.
    pub rows: usize,
    /// Hour rows of `vital_rollups` written.
    pub hours: usize,
}

/// Decodes one journal row's `data` into `hours` (merging); `None` when it
/// is damaged, and then `hours` may hold part of it (the caller drops them).
fn decode_row(data: &[u8], hours: &mut BTreeMap<(i64, i64, i64), Hour>) -> Option<()> {
    let (&format, mut rest) = data.split_first()?;
    if format != FORMAT {
        return None;
    }
    let varint = |rest: &mut &[u8]| -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, after) = rest.split_first()?;
            *rest = after;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    };
    while !rest.is_empty() {
        let patient_id = i64::try_from(varint(&mut rest)?).ok()?;
        let vital = i64::try_from(varint(&mut rest)?).ok()?;
        let hour_ms = unzigzag(varint(&mut rest)?).checked_mul(HOUR_MS)?;
        let taken = hours
            .entry((patient_id, vital, hour_ms))
            .or_default()
            .merge_sparse(rest)?;
        rest = &rest[taken..];
    }
    Some(())
}

/// Folds every journal row into `vital_rollups` and deletes them, within
/// `tx` (which the caller commits). A damaged row fails the merge by its
/// id, and nothing is folded or deleted: the rows stay for a build that can
/// read them.
pub(super) fn merge_within(tx: &rusqlite::Transaction<'_>, path: &Path) -> Result<JournalMerge> {
    let mut hours: BTreeMap<(i64, i64, i64), Hour> = BTreeMap::new();
    let mut last: Option<i64> = None;
    let mut rows = 0usize;
    {
        let mut stmt = tx
            .prepare_cached("SELECT id, data FROM rollup_journal ORDER BY id")
            .ctx("reading the rollup journal")?;
        let mut found = stmt.query([]).ctx("reading the rollup journal")?;
        while let Some(row) = found.next().ctx("reading the rollup journal")? {
            let id: i64 = row.get(0).ctx("reading the rollup journal")?;
            let data = row
                .get_ref(1)
                .and_then(|v| v.as_blob().map_err(Into::into))
                .ctx("reading the rollup journal")?;
            decode_row(data, &mut hours).ok_or_else(|| Error::StoreDamaged {
                path: path.to_path_buf(),
                problems: format!(
                    "rollup journal row {id} cannot be read ({} bytes): the minute history waiting in the journal is not merged until it is repaired; the samples themselves are stored",
                    data.len()
                ),
            })?;
            last = Some(id);
            rows += 1;
        }
    }
    let Some(last) = last else {
        return Ok(JournalMerge::default());
    };
    for (&(patient_id, vital, hour_ms), hour) in &hours {
        super::history::merge_rollup(tx, patient_id, vital, hour_ms, hour)
            .ctx("merging the rollup journal")?;
    }
    tx.execute("DELETE FROM rollup_journal WHERE id <= ?1", params![last])
        .ctx("emptying the rollup journal")?;
    Ok(JournalMerge {
        rows,
        hours: hours.len(),
    })
}

impl super::Store {
    /// Makes this connection's batches add their minutes to the rollup
    /// journal instead of merging them into their hours one batch at a
    /// time (see the module comment): for a runtime writer, which then
    /// calls [`Store::merge_rollup_journal`] every [`MERGE_EVERY`] and when
    /// it stops. Off by default: a store used by a command or a test has
    /// its minute history up to date after each batch.
    pub fn defer_rollups(&mut self, on: bool) {
        self.rollups_deferred = on;
    }

    /// Journal rows this connection appended since its last merge.
    pub fn rollup_journal_appended(&self) -> usize {
        self.journal_appended
    }

    /// Folds the whole rollup journal into the minute history, in one
    /// transaction, whoever wrote it (see the module comment).
    pub fn merge_rollup_journal(&mut self) -> Result<JournalMerge> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx("starting a rollup merge")?;
        let merged = merge_within(&tx, &self.path)?;
        tx.commit().ctx("committing a rollup merge")?;
        self.journal_appended = 0;
        Ok(merged)
    }

    /// Rows waiting in the rollup journal, and their bytes.
    pub fn rollup_journal_size(&self) -> Result<(i64, i64)> {
        self.conn
            .query_row(
                "SELECT count(*), coalesce(sum(length(data)), 0) FROM rollup_journal",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ctx("reading the rollup journal")
    }
}
