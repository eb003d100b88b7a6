//! Raw numeric samples packed in minute blocks (`vital_blocks`, issue 16).
//!
//! One row per patient, vital and minute instead of one per sample: a row
//! cost ~32 bytes a sample (key, value, device, B-tree slack), 12.7 MB per
//! patient-day at 4.5 numerics a second; a block's samples cost 3–5 bytes
//! each. A block holds its samples in time order, each at most once:
//!
//! ```text
//! per sample: tag u8 | varint Δt | [varint device + 1] | value
//!   tag bits 0–1: 0 integer, 1 tenths (value × 10), 2 f64 (8 bytes LE),
//!                 3 signal lost (no value); an integer or tenths is the
//!                 zigzag varint of its difference from the block's
//!                 previous value of that kind (0 before the first)
//!   tag bit 2:    the device changes here (the varint follows; 0 = none)
//!   tag bit 3:    Δt is in whole seconds, else in milliseconds
//!   Δt: from the minute's start for the first sample, else from the
//!       previous sample
//! ```
//!
//! A value is stored exactly: as an integer or tenths only when that gives
//! back the same f64. The writer keeps the blocks a batch touches in
//! [`BlockCache`] and writes each once, at the end of the batch.

use std::collections::hash_map::Entry;

/// The cache's maps, keyed by the store's own integers: foldhash (seeded
/// per process), not SipHash.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

use rusqlite::{OptionalExtension, Transaction, params};

use crate::error::{Error, Result, SqlContext};

/// A block's span.
pub const BLOCK_MS: i64 = 60_000;

/// One raw numeric sample: `value` `None` is signal loss ("no signal" is
/// never stored as a number).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumSample {
    pub ts_ms: i64,
    pub value: Option<f64>,
    pub device: Option<i64>,
}

/// The block holding `ts_ms`.
pub fn block_of(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(BLOCK_MS) * BLOCK_MS
}

const INT: u8 = 0;
const TENTHS: u8 = 1;
const F64: u8 = 2;
const LOST: u8 = 3;
const DEVICE: u8 = 4;
const SECONDS: u8 = 8;
/// Beyond this an f64 may not be an exact integer.
const EXACT: f64 = 9_007_199_254_740_992.0;

pub(super) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(super) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(super) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// The codec's running state: what the next sample's differences are
/// taken from. After the last sample of a block it is all that appending
/// one more needs, without decoding the block.
#[derive(Debug, Clone, Copy)]
struct Encoder {
    prev_ts: i64,
    device: Option<i64>,
    prev: [i64; 2],
}

impl Encoder {
    fn new(block_ms: i64) -> Encoder {
        Encoder {
            prev_ts: block_ms,
            device: None,
            prev: [0; 2],
        }
    }

    /// Appends `s` (not before the previous sample) to `out`.
    fn push(&mut self, out: &mut Vec<u8>, s: &NumSample) {
        let (kind, int) = match s.value {
            None => (LOST, 0),
            Some(v) if v.fract() == 0.0 && v.abs() < EXACT => (INT, v as i64),
            Some(v) if (v * 10.0).abs() < EXACT && (v * 10.0).round() / 10.0 == v => {
                (TENTHS, (v * 10.0).round() as i64)
            }
            Some(_) => (F64, 0),
        };
        let changes = s.device != self.device;
        let dt = s.ts_ms - self.prev_ts;
        let whole = dt % 1000 == 0;
        out.push(kind | if changes { DEVICE } else { 0 } | if whole { SECONDS } else { 0 });
        put_varint(out, if whole { dt / 1000 } else { dt } as u64);
        if changes {
            put_varint(out, s.device.map_or(0, |d| d as u64 + 1));
            self.device = s.device;
        }
        match (kind, s.value) {
            (INT | TENTHS, _) => {
                let k = usize::from(kind);
                put_varint(out, zigzag(int.wrapping_sub(self.prev[k])));
                self.prev[k] = int;
            }
            (F64, Some(v)) => out.extend_from_slice(&v.to_le_bytes()),
            _ => {}
        }
        self.prev_ts = s.ts_ms;
    }
}

/// Packs `samples` (time order, each time once, all inside the block that
/// starts at `block_ms`).
pub fn encode(block_ms: i64, samples: &[NumSample]) -> Vec<u8> {
    encode_with_state(block_ms, samples).0
}

/// [`encode`], and the state that appends the next sample.
fn encode_with_state(block_ms: i64, samples: &[NumSample]) -> (Vec<u8>, Encoder) {
    let mut out = Vec::with_capacity(samples.len() * 4);
    let mut encoder = Encoder::new(block_ms);
    for s in samples {
        encoder.push(&mut out, s);
    }
    (out, encoder)
}

/// Unpacks a block; a damaged one is an error naming it, never a panic.
pub fn decode(block_ms: i64, data: &[u8]) -> Result<Vec<NumSample>> {
    let damaged = |why: &str| Error::InvalidInput {
        what: "a numeric block",
        reason: format!("the block of {block_ms} ms is damaged: {why}"),
    };
    let mut pos = 0usize;
    let varint = |pos: &mut usize| -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *data
                .get(*pos)
                .ok_or_else(|| damaged("it ends inside a number"))?;
            *pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(damaged("a number runs on"))
    };
    let mut out = Vec::new();
    let mut ts = block_ms;
    let mut device = None;
    let mut prev = [0i64; 2];
    while pos < data.len() {
        let tag = data[pos];
        pos += 1;
        if tag & !(SECONDS | DEVICE | 3) != 0 {
            return Err(damaged("an unknown tag"));
        }
        let dt = i64::try_from(varint(&mut pos)?)
            .ok()
            .and_then(|d| {
                if tag & SECONDS != 0 {
                    d.checked_mul(1000)
                } else {
                    Some(d)
                }
            })
            .ok_or_else(|| damaged("a time runs over"))?;
        ts = ts
            .checked_add(dt)
            .ok_or_else(|| damaged("a time runs over"))?;
        if ts >= block_ms + BLOCK_MS {
            return Err(damaged("a sample lies outside its minute"));
        }
        if tag & DEVICE != 0 {
            device = match varint(&mut pos)? {
                0 => None,
                d => Some(i64::try_from(d - 1).map_err(|_| damaged("a device id runs over"))?),
            };
        }
        let value = match tag & 3 {
            kind @ (INT | TENTHS) => {
                let k = usize::from(kind);
                prev[k] = prev[k].wrapping_add(unzigzag(varint(&mut pos)?));
                Some(if kind == INT {
                    prev[k] as f64
                } else {
                    prev[k] as f64 / 10.0
                })
            }
            F64 => {
                let bytes = data
                    .get(pos..pos + 8)
                    .ok_or_else(|| damaged("it ends inside a value"))?;
                pos += 8;
                Some(f64::from_le_bytes(
                    bytes.try_into().map_err(|_| damaged("a value"))?,
                ))
            }
            _ => None,
        };
        out.push(NumSample {
            ts_ms: ts,
            value,
            device,
        });
    }
    Ok(out)
}

/// One patient's samples of one vital in `[from_ms, to_ms)`, in time order.
pub(crate) fn samples_in(
    conn: &rusqlite::Connection,
    patient_id: i64,
    vital: i64,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<NumSample>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT minute_ms, data FROM vital_blocks
             WHERE patient_id = ?1 AND vital = ?2 AND minute_ms > ?3 AND minute_ms < ?4
             ORDER BY minute_ms",
        )
        .ctx("reading numeric samples")?;
    let mut rows = stmt
        .query(params![patient_id, vital, from_ms - BLOCK_MS, to_ms])
        .ctx("reading numeric samples")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("reading numeric samples")? {
        let minute: i64 = row.get(0).ctx("reading numeric samples")?;
        let data: Vec<u8> = row.get(1).ctx("reading numeric samples")?;
        out.extend(
            decode(minute, &data)?
                .into_iter()
                .filter(|s| s.ts_ms >= from_ms && s.ts_ms < to_ms),
        );
    }
    Ok(out)
}

/// The newest sample of one patient's vital.
pub(crate) fn latest(
    conn: &rusqlite::Connection,
    patient_id: i64,
    vital: i64,
) -> Result<Option<NumSample>> {
    let row: Option<(i64, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT minute_ms, data FROM vital_blocks WHERE patient_id = ?1 AND vital = ?2
             ORDER BY minute_ms DESC LIMIT 1",
        )
        .and_then(|mut s| {
            s.query_row(params![patient_id, vital], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .ctx("reading the latest sample")?;
    Ok(match row {
        Some((minute, data)) => decode(minute, &data)?.pop(),
        None => None,
    })
}

/// Minutes (patient, vital, minute) holding a measured value, and those
/// values, over every patient; only samples before `before_ms` when given
/// (tests and benchmarks that check other copies against the store).
pub fn valued_minutes_and_samples(
    conn: &rusqlite::Connection,
    before_ms: Option<i64>,
) -> Result<(i64, i64)> {
    let mut stmt = conn
        .prepare("SELECT minute_ms, data FROM vital_blocks")
        .ctx("counting numeric samples")?;
    let mut rows = stmt.query([]).ctx("counting numeric samples")?;
    let (mut minutes, mut samples) = (0, 0);
    while let Some(row) = rows.next().ctx("counting numeric samples")? {
        let minute: i64 = row.get(0).ctx("counting numeric samples")?;
        let data: Vec<u8> = row.get(1).ctx("counting numeric samples")?;
        let n = decode(minute, &data)?
            .iter()
            .filter(|s| s.value.is_some() && before_ms.is_none_or(|b| s.ts_ms < b))
            .count() as i64;
        minutes += i64::from(n > 0);
        samples += n;
    }
    Ok((minutes, samples))
}

/// Writes (or deletes, when empty) one block.
pub(crate) fn put_block(
    tx: &Transaction<'_>,
    patient_id: i64,
    vital: i64,
    minute_ms: i64,
    samples: &[NumSample],
) -> Result<()> {
    if samples.is_empty() {
        tx.prepare_cached(
            "DELETE FROM vital_blocks WHERE patient_id = ?1 AND vital = ?2 AND minute_ms = ?3",
        )
        .and_then(|mut s| s.execute(params![patient_id, vital, minute_ms]))
        .ctx("storing numeric samples")?;
    } else {
        put_encoded(
            tx,
            patient_id,
            vital,
            minute_ms,
            samples.len(),
            &encode(minute_ms, samples),
        )?;
    }
    Ok(())
}

/// Writes one non-empty block as encoded: updated in place when the row
/// exists (`INSERT OR REPLACE` would delete and insert it again).
fn put_encoded(
    tx: &Transaction<'_>,
    patient_id: i64,
    vital: i64,
    minute_ms: i64,
    n: usize,
    data: &[u8],
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO vital_blocks (patient_id, vital, minute_ms, n, data)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (minute_ms, patient_id, vital) DO UPDATE SET n = excluded.n, data = excluded.data",
    )
    .and_then(|mut s| s.execute(params![patient_id, vital, minute_ms, n as i64, data]))
    .ctx("storing numeric samples")?;
    Ok(())
}

/// One block as the store holds it (or will, once the batch commits):
/// encoded, with the state that appends a later sample in place. Samples
/// mostly arrive in time order, so a batch's sample costs a few bytes of
/// encoding, not a decode and re-encode of its whole minute.
#[derive(Debug)]
struct OpenBlock {
    data: Vec<u8>,
    n: usize,
    /// The state after the block's last sample.
    encoder: Encoder,
    /// Changed since the store last had it.
    dirty: bool,
    /// The batch that last used it ([`BlockCache::begin`]).
    used: u64,
}

impl OpenBlock {
    fn new(minute: i64, samples: &[NumSample]) -> OpenBlock {
        let (data, encoder) = encode_with_state(minute, samples);
        OpenBlock {
            data,
            n: samples.len(),
            encoder,
            dirty: false,
            used: 0,
        }
    }

    /// Whether `ts_ms` comes after every sample of the block.
    fn after_last(&self, ts_ms: i64) -> bool {
        self.n == 0 || ts_ms > self.encoder.prev_ts
    }
}

/// The numeric blocks that batches read and change, each read from the
/// store once and written once per batch ([`BlockCache::flush`]), so a
/// sample stored earlier in a batch is seen by the next record's duplicate
/// check. The writer's cache ([`Store`](super::Store)'s `numeric_blocks`)
/// keeps them from one batch to the next, so a monitored patient's open
/// minute is not read back from the store every batch (issue 16):
/// - it is used only while no other connection has written to the blocks
///   since ([`BlockCache::begin`]): every connection but the runtime's
///   writer counts its writes to `vital_blocks` in `block_changes` (TEMP
///   triggers, [`count_block_writes`]; the writer drops its own,
///   [`Store::sole_block_writer`](super::Store::sole_block_writer)),
///   read again only when `PRAGMA data_version` says another connection has
///   committed — most such commits (the stage's alarms, the lake's sync)
///   leave the blocks alone and the cache stands;
/// - this connection's other writers of `vital_blocks` (pruning, moving a
///   device's data) and a failed batch empty it ([`BlockCache::forget`]);
/// - a block no batch used for [`BlockCache::KEEP_BATCHES`] batches is let
///   go, and the whole cache past [`BlockCache::MAX_BLOCKS`].
///
/// Hours of minute rollups are not kept: a batch's minutes are merged into
/// their stored hour by SQL ([`super::history::merge_rollup`]).
#[derive(Debug, Default)]
pub(crate) struct BlockCache {
    blocks: HashMap<(i64, i64, i64), OpenBlock>,
    /// The blocks changed since the last flush.
    dirty: Vec<(i64, i64, i64)>,
    /// Batches begun.
    batch: u64,
    /// The store's `data_version` when `changes` was read…
    version: Option<i64>,
    /// …and `block_changes.version`, which the blocks agree with.
    changes: Option<i64>,
    /// Blocks read from the store (a counter, for benchmarks and tests).
    reads: u64,
}

/// The writes to the blocks that other connections count: a TEMP trigger
/// `{table}_{op}_counted` each.
const COUNTED_WRITES: [(&str, &str); 3] = [
    ("vital_blocks", "insert"),
    ("vital_blocks", "update"),
    ("vital_blocks", "delete"),
];

/// Makes this connection count its writes to the numeric blocks
/// in `block_changes` (migration 26), in the same statement's transaction:
/// TEMP triggers, this connection's alone. Opening a [`Store`](super::Store)
/// sets them on every connection.
pub(crate) fn count_block_writes(conn: &rusqlite::Connection) -> Result<()> {
    let sql: String = COUNTED_WRITES
        .iter()
        .map(|(table, op)| {
            format!(
                "CREATE TEMP TRIGGER IF NOT EXISTS {table}_{op}_counted AFTER {op} ON main.{table}
                 BEGIN UPDATE block_changes SET version = version + 1; END;\n"
            )
        })
        .collect();
    conn.execute_batch(&sql)
        .ctx("counting this connection's writes to the blocks")
}

/// Stops this connection counting its writes to the blocks (the writer
/// whose [`BlockCache`] keeps them).
pub(crate) fn uncount_block_writes(conn: &rusqlite::Connection) -> Result<()> {
    let sql: String = COUNTED_WRITES
        .iter()
        .map(|(table, op)| format!("DROP TRIGGER IF EXISTS temp.{table}_{op}_counted;\n"))
        .collect();
    conn.execute_batch(&sql)
        .ctx("leaving this connection's writes to the blocks uncounted")
}

impl BlockCache {
    /// A block unused for this many batches is let go (checked this often).
    const KEEP_BATCHES: u64 = 64;
    /// Past this many entries (a block about 300 bytes at 1 Hz, an hour
    /// 720), all are let go.
    const MAX_BLOCKS: usize = 200_000;

    fn clear(&mut self) {
        self.blocks.clear();
        self.dirty.clear();
    }

    /// Starts a batch in a transaction that holds the write lock: if
    /// another connection has written to the blocks since they were read,
    /// they are read again. `block_changes` is read only when another
    /// connection has committed at all (`data_version`).
    pub(crate) fn begin(&mut self, tx: &Transaction<'_>) -> Result<()> {
        let version = super::patients::data_version(tx)?;
        if self.version != Some(version) {
            let changes: i64 = tx
                .prepare_cached("SELECT version FROM block_changes WHERE id = 1")
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .ctx("reading the count of block changes")?;
            if self.changes != Some(changes) {
                self.clear();
                self.changes = Some(changes);
            }
            self.version = Some(version);
        }
        self.batch += 1;
        Ok(())
    }

    /// Lets every block go: the store may no longer hold them.
    pub(crate) fn forget(&mut self) {
        self.clear();
        self.version = None;
        self.changes = None;
    }

    /// Blocks read from the store so far.
    pub(crate) fn reads(&self) -> u64 {
        self.reads
    }

    /// After a committed batch: lets go of blocks no longer in use.
    pub(crate) fn settle(&mut self) {
        if self.blocks.len() > Self::MAX_BLOCKS {
            self.clear();
        } else if self.batch.is_multiple_of(Self::KEEP_BATCHES) {
            let batch = self.batch;
            self.blocks
                .retain(|_, b| b.used + Self::KEEP_BATCHES > batch);
        }
    }

    fn block(
        &mut self,
        tx: &Transaction<'_>,
        patient_id: i64,
        vital: i64,
        ts_ms: i64,
    ) -> Result<&mut OpenBlock> {
        let minute = block_of(ts_ms);
        let key = (patient_id, vital, minute);
        let block = match self.blocks.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let data: Option<Vec<u8>> = tx
                    .prepare_cached(
                        "SELECT data FROM vital_blocks WHERE patient_id = ?1 AND vital = ?2 AND minute_ms = ?3",
                    )
                    .and_then(|mut s| {
                        s.query_row(params![patient_id, vital, minute], |r| r.get(0))
                            .optional()
                    })
                    .ctx("reading numeric samples")?;
                self.reads += 1;
                let samples = match data {
                    Some(d) => decode(minute, &d)?,
                    None => Vec::new(),
                };
                e.insert(OpenBlock::new(minute, &samples))
            }
        };
        block.used = self.batch;
        Ok(block)
    }

    /// Changes a block's samples where appending will not do; `change`
    /// says whether it changed them.
    fn rewrite(
        block: &mut OpenBlock,
        minute: i64,
        change: impl FnOnce(&mut Vec<NumSample>) -> bool,
    ) -> Result<bool> {
        let mut samples = decode(minute, &block.data)?;
        if !change(&mut samples) {
            return Ok(false);
        }
        let used = block.used;
        *block = OpenBlock::new(minute, &samples);
        block.used = used;
        block.dirty = true;
        Ok(true)
    }

    /// The sample stored at exactly `ts_ms`, if any.
    pub(crate) fn get(
        &mut self,
        tx: &Transaction<'_>,
        patient_id: i64,
        vital: i64,
        ts_ms: i64,
    ) -> Result<Option<NumSample>> {
        let block = self.block(tx, patient_id, vital, ts_ms)?;
        if block.after_last(ts_ms) {
            return Ok(None);
        }
        let samples = decode(block_of(ts_ms), &block.data)?;
        Ok(samples
            .binary_search_by_key(&ts_ms, |s| s.ts_ms)
            .ok()
            .map(|i| samples[i]))
    }

    /// Adds `sample` unless one is stored at its time; whether it was added.
    pub(crate) fn insert(
        &mut self,
        tx: &Transaction<'_>,
        patient_id: i64,
        vital: i64,
        sample: NumSample,
    ) -> Result<bool> {
        let key = (patient_id, vital, block_of(sample.ts_ms));
        let block = self.block(tx, patient_id, vital, sample.ts_ms)?;
        let was_dirty = block.dirty;
        let added = if block.after_last(sample.ts_ms) {
            block.encoder.push(&mut block.data, &sample);
            block.n += 1;
            block.dirty = true;
            true
        } else {
            Self::rewrite(block, key.2, |samples| {
                match samples.binary_search_by_key(&sample.ts_ms, |s| s.ts_ms) {
                    Ok(_) => false,
                    Err(i) => {
                        samples.insert(i, sample);
                        true
                    }
                }
            })?
        };
        if added && !was_dirty {
            self.dirty.push(key);
        }
        Ok(added)
    }

    /// Removes the sample at exactly `ts_ms`; whether there was one.
    pub(crate) fn remove(
        &mut self,
        tx: &Transaction<'_>,
        patient_id: i64,
        vital: i64,
        ts_ms: i64,
    ) -> Result<bool> {
        let key = (patient_id, vital, block_of(ts_ms));
        let block = self.block(tx, patient_id, vital, ts_ms)?;
        if block.after_last(ts_ms) {
            return Ok(false);
        }
        let was_dirty = block.dirty;
        let removed = Self::rewrite(block, key.2, |samples| {
            match samples.binary_search_by_key(&ts_ms, |s| s.ts_ms) {
                Ok(i) => {
                    samples.remove(i);
                    true
                }
                Err(_) => false,
            }
        })?;
        if removed && !was_dirty {
            self.dirty.push(key);
        }
        Ok(removed)
    }

    /// Writes every changed block (deletes one left empty): those listed
    /// in `dirty`, not a walk over every block held.
    pub(crate) fn flush(&mut self, tx: &Transaction<'_>) -> Result<()> {
        for (patient_id, vital, minute) in self.dirty.drain(..) {
            let Some(block) = self.blocks.get_mut(&(patient_id, vital, minute)) else {
                continue;
            };
            if block.n == 0 {
                put_block(tx, patient_id, vital, minute, &[])?;
            } else {
                put_encoded(tx, patient_id, vital, minute, block.n, &block.data)?;
            }
            block.dirty = false;
        }
        Ok(())
    }
}

/// Migration 20's step in Rust: packs every row of `vital_samples` into
/// `vital_blocks`, then drops the old table.
pub(crate) fn pack_rows_of_migration_20(tx: &Transaction<'_>) -> Result<()> {
    let mut current: Option<(i64, i64, i64)> = None;
    let mut samples = Vec::new();
    {
        let mut stmt = tx
            .prepare(
                "SELECT patient_id, vital, ts_ms, value, status, device_id FROM vital_samples
                 ORDER BY patient_id, vital, ts_ms",
            )
            .ctx("packing numeric samples")?;
        let mut rows = stmt.query([]).ctx("packing numeric samples")?;
        while let Some(r) = rows.next().ctx("packing numeric samples")? {
            let (patient_id, vital, ts_ms): (i64, i64, i64) = (
                r.get(0).ctx("packing numeric samples")?,
                r.get(1).ctx("packing numeric samples")?,
                r.get(2).ctx("packing numeric samples")?,
            );
            let value: Option<f64> = r.get(3).ctx("packing numeric samples")?;
            let status: i64 = r.get(4).ctx("packing numeric samples")?;
            let device: Option<i64> = r.get(5).ctx("packing numeric samples")?;
            let key = (patient_id, vital, block_of(ts_ms));
            if current.is_some_and(|c| c != key) {
                let (p, v, m) = current.take().unwrap_or(key);
                put_block(tx, p, v, m, &std::mem::take(&mut samples))?;
            }
            current = Some(key);
            samples.push(NumSample {
                ts_ms,
                value: value.filter(|_| status == 0),
                device,
            });
        }
    }
    if let Some((p, v, m)) = current {
        put_block(tx, p, v, m, &samples)?;
    }
    tx.execute_batch("DROP TABLE vital_samples;")
        .ctx("packing numeric samples")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ts_ms: i64, value: Option<f64>, device: Option<i64>) -> NumSample {
        NumSample {
            ts_ms,
            value,
            device,
        }
    }

    #[test]
    fn a_block_reads_back_exactly_what_was_written() {
        let m = 1_764_662_400_000;
        let samples = vec![
            s(m, Some(72.0), Some(3)),
            s(m + 1000, Some(36.8), Some(3)),
            s(m + 2000, None, Some(3)),
            s(m + 2500, Some(-4.0), None),
            s(m + 3000, Some(0.1 + 0.2), Some(70_000)),
            s(m + 59_999, Some(98.25), Some(70_000)),
        ];
        let data = encode(m, &samples);
        assert_eq!(decode(m, &data).expect("decode"), samples);
        // A second a sample at 1 Hz, one device: ~4 bytes a sample.
        let steady: Vec<_> = (0..60)
            .map(|i| s(m + i * 1000, Some(60.0 + (i % 7) as f64), Some(12)))
            .collect();
        let bytes = encode(m, &steady).len();
        assert!(bytes <= 3 * 60 + 3, "{bytes} bytes for 60 samples");
    }

    /// The writer appends a batch's samples to a block it holds open: the
    /// bytes must be those of packing the whole minute at once.
    #[test]
    fn appending_to_a_packed_block_gives_the_bytes_of_packing_it_whole() {
        let m = 1_764_662_400_000;
        let samples = vec![
            s(m + 500, Some(72.0), Some(3)),
            s(m + 1000, Some(36.8), Some(3)),
            s(m + 2000, None, None),
            s(m + 3000, Some(98.25), Some(9)),
            s(m + 4000, Some(71.0), Some(9)),
            s(m + 4100, Some(36.9), Some(9)),
        ];
        for cut in 0..=samples.len() {
            let (mut data, mut encoder) = encode_with_state(m, &samples[..cut]);
            for later in &samples[cut..] {
                encoder.push(&mut data, later);
            }
            assert_eq!(data, encode(m, &samples), "appended after {cut} samples");
        }
    }

    #[test]
    fn a_damaged_block_is_an_error_not_a_panic() {
        let m = 0;
        let good = encode(m, &[s(10, Some(1.5), None), s(20, Some(1e300), None)]);
        for cut in 0..good.len() {
            let _ = decode(m, &good[..cut]);
        }
        assert!(decode(m, &good[..good.len() - 1]).is_err());
        assert!(decode(m, &[0x80]).is_err(), "unknown tag");
        assert!(
            decode(m, &[0, 0xff, 0xff, 0xff, 0x7f, 0]).is_err(),
            "outside its minute"
        );
        assert!(decode(m, &[0; 0]).expect("empty").is_empty());
    }
}
