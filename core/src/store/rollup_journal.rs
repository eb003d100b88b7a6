//! The minute rollups' journal (issue 16, migration 23).
//!
//! Every stored numeric value adds to its patient's hour of minute rollups
//! (`vital_rollups`, one 600-byte row per patient, vital and hour). Merged
//! batch by batch, each of a ward's hour rows, and the page that holds it,
//! was rewritten about once a second: at 5,000 patients that was half of
//! all the runtime writer wrote (session 27: 4.3 GB for a simulated
//! minute with it, 2.0 GB without) and a quarter of its CPU.
//!
//! A runtime writer ([`Store::defer_rollups`]) instead appends what a
//! transaction adds — each hour's new minutes, sparse, with their key — as
//! rows of `rollup_journal`, one per part ([`PARTS`]: patients in runs
//! of 16 ids, round robin, [`part_of`]), in the same transaction as the samples: rows in arrival
//! order fill consecutive pages, a few kB per batch. Every [`MERGE_EVERY`]
//! / [`PARTS`] it folds one part into `vital_rollups` and deletes the rows
//! it folded, in one transaction ([`Store::merge_rollup_journal_part`]):
//! each hour row is then written once a merge (every 60 s), not once a
//! batch, and a merge holds the write lock for a thirtieth of the journal.
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
//! A journal row's `data` (its `part` beside it): a format byte
//! ([`FORMAT`]), then for each hour touched: the patient id (varint), the
//! vital code (varint), the hour's number since the epoch (zigzag varint),
//! then its minutes as [`Hour::put_sparse`] writes them.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::params;

use super::numerics::{put_varint, unzigzag, zigzag};
use super::rollup::{HOUR_MS, Hour};
use crate::error::{Error, Result, SqlContext};

/// How often a runtime writer merges each part of the journal: often
/// enough that a chart of hours is at most this late (a minute: the
/// charts that read the minute history span hours, their columns a
/// minute or more), seldom enough that each hour row is written once a
/// minute. Every merge rewrites all of a ward's open hours: at 10,000
/// patients 30 s made the merges 17 % of the writer's time (session 36).
pub const MERGE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The journal's parts: a patient's minutes go to part [`part_of`] its
/// id, and a runtime writer merges one part every `MERGE_EVERY /
/// PARTS` (2 s), so that each merge holds the store's write lock — and
/// the batches behind it, and their alarms — for a thirtieth of what the
/// whole journal takes (about 2 s at 10,000 patients on the 2-core
/// machine, ARCHITECTURE.md). At most 32 (the writer's parts to merge
/// are bits of a `u32`).
pub const PARTS: i64 = 30;
const _: () = assert!(PARTS >= 1 && PARTS <= 32);

/// The first byte of a journal row.
const FORMAT: u8 = 1;

/// A transaction's contributions, encoded as journal rows' `data`, one
/// per part.
#[derive(Debug)]
pub(super) struct JournalRow {
    parts: Vec<Vec<u8>>,
}

impl Default for JournalRow {
    fn default() -> Self {
        JournalRow {
            parts: vec![Vec::new(); PARTS as usize],
        }
    }
}

/// Patients go to the parts in runs of this many consecutive ids.
/// `vital_rollups` is keyed by patient first, so the hour rows of
/// neighbouring ids share pages where they have little history (a new
/// ward: about one patient's open hours to a 4 KiB page): a part of whole
/// runs writes each such page once a merge, where ids taken modulo
/// [`PARTS`] had every part write it (measured: the same 30,000 hours
/// cost 78 µs each in tenth-parts against 33 µs in one merge).
pub const RUN: i64 = 16;

/// A patient's part of the journal: runs of [`RUN`] ids, round robin.
pub fn part_of(patient_id: i64) -> usize {
    patient_id.div_euclid(RUN).rem_euclid(PARTS) as usize
}

impl JournalRow {
    /// Adds a batch's minutes of one hour.
    pub(super) fn add(&mut self, patient_id: i64, vital: i64, hour_ms: i64, minutes: &Hour) {
        let data = &mut self.parts[part_of(patient_id)];
        if data.is_empty() {
            data.push(FORMAT);
        }
        put_varint(data, patient_id as u64);
        put_varint(data, vital as u64);
        put_varint(data, zigzag(hour_ms.div_euclid(HOUR_MS)));
        minutes.put_sparse(data);
    }

    /// Appends a row to each part that was added to; returns those parts
    /// as bits (part `k` is bit `k`).
    pub(super) fn insert(self, tx: &rusqlite::Transaction<'_>) -> Result<u32> {
        let mut parts = 0u32;
        for (part, data) in self.parts.into_iter().enumerate() {
            if data.is_empty() {
                continue;
            }
            tx.prepare_cached("INSERT INTO rollup_journal (part, data) VALUES (?1, ?2)")
                .and_then(|mut s| s.execute(params![part as i64, data]))
                .ctx("appending to the rollup journal")?;
            parts |= 1 << part;
        }
        Ok(parts)
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

/// Folds the journal's rows (of `part` only, when given) into
/// `vital_rollups` and deletes them, within `tx` (which the caller
/// commits). A damaged row fails the merge by its id, and nothing is
/// folded or deleted: the rows stay for a build that can read them.
pub(super) fn merge_within(
    tx: &rusqlite::Transaction<'_>,
    path: &Path,
    part: Option<i64>,
) -> Result<JournalMerge> {
    let mut hours: BTreeMap<(i64, i64, i64), Hour> = BTreeMap::new();
    let mut taken: Vec<i64> = Vec::new();
    {
        // A part through its index (`rollup_journal_parts`).
        let mut stmt = tx
            .prepare_cached(match part {
                Some(_) => "SELECT id, data FROM rollup_journal WHERE part = ?1 ORDER BY id",
                None => "SELECT id, data FROM rollup_journal WHERE ?1 IS NULL ORDER BY id",
            })
            .ctx("reading the rollup journal")?;
        let mut found = stmt.query([part]).ctx("reading the rollup journal")?;
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
            taken.push(id);
        }
    }
    if taken.is_empty() {
        return Ok(JournalMerge::default());
    }
    for (&(patient_id, vital, hour_ms), hour) in &hours {
        super::history::merge_rollup(tx, patient_id, vital, hour_ms, hour)
            .ctx("merging the rollup journal")?;
    }
    // Exactly the rows read: one appended since (by another connection,
    // which this transaction's write lock keeps out) cannot be among them.
    let mut delete = tx
        .prepare_cached("DELETE FROM rollup_journal WHERE id = ?1")
        .ctx("emptying the rollup journal")?;
    for id in &taken {
        delete.execute([id]).ctx("emptying the rollup journal")?;
    }
    Ok(JournalMerge {
        rows: taken.len(),
        hours: hours.len(),
    })
}

impl super::Store {
    /// Makes this connection's batches add their minutes to the rollup
    /// journal instead of merging them into their hours one batch at a
    /// time (see the module comment): for a runtime writer, which then
    /// calls [`Store::merge_rollup_journal_part`] every [`MERGE_EVERY`] /
    /// [`PARTS`], and [`Store::merge_rollup_journal`] when it starts and
    /// stops. Off by default: a store used by a command or a test has
    /// its minute history up to date after each batch.
    pub fn defer_rollups(&mut self, on: bool) {
        self.rollups_deferred = on;
    }

    /// Whether this connection appended journal rows that it has not
    /// merged since.
    pub fn rollup_journal_dirty(&self) -> bool {
        self.journal_dirty != 0
    }

    /// Folds the whole rollup journal into the minute history, in one
    /// transaction, whoever wrote it (see the module comment).
    pub fn merge_rollup_journal(&mut self) -> Result<JournalMerge> {
        let merged = self.merge_journal(None)?;
        self.journal_dirty = 0;
        Ok(merged)
    }

    /// The next part, after the one this returned last, that this
    /// connection appended to since it merged it; `None` when there is
    /// none.
    pub fn rollup_journal_next_part(&mut self) -> Option<i64> {
        let part = (1..=PARTS)
            .map(|k| (self.journal_last_part + k).rem_euclid(PARTS))
            .find(|&k| self.journal_dirty & (1 << k) != 0)?;
        self.journal_last_part = part;
        Some(part)
    }

    /// Folds one part (0 to [`PARTS`] − 1) of the rollup journal into the
    /// minute history, in one transaction.
    pub fn merge_rollup_journal_part(&mut self, part: i64) -> Result<JournalMerge> {
        let merged = self.merge_journal(Some(part))?;
        self.journal_dirty &= !(1 << part.rem_euclid(PARTS));
        Ok(merged)
    }

    fn merge_journal(&mut self, part: Option<i64>) -> Result<JournalMerge> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx("starting a rollup merge")?;
        let merged = merge_within(&tx, &self.path, part)?;
        tx.commit().ctx("committing a rollup merge")?;
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
