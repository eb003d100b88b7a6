//! Per-minute rollups packed one row per patient, vital and hour: 60 slots of
//! (count u16, min i16, max i16, sum i32), values in units × 10 (0.1 °C,
//! 0.1 /min), little-endian: 600 bytes. ARCHITECTURE.md has the sizing.

use serde::Serialize;

pub const SLOTS: usize = 60;
pub const SLOT_BYTES: usize = 10;
pub const BLOB_BYTES: usize = SLOTS * SLOT_BYTES;
pub const HOUR_MS: i64 = 3_600_000;
/// The SQL function every store connection has (`Store`'s open) that
/// merges two hour blobs ([`Hour::merge_blobs`]). Only the store's own
/// statements call it: no trigger or view does, so other tools reading the
/// file need not have it.
pub const MERGE_FUNCTION: &str = "wardwatch_rollup_merge";

/// One minute's summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Minute {
    pub count: u16,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Slot {
    count: u16,
    min: i16,
    max: i16,
    sum: i32,
}

/// An hour of rollups being updated in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hour {
    slots: [Slot; SLOTS],
}

impl Slot {
    /// A slot from its 10 stored bytes (`b` holds at least that many).
    fn read(b: &[u8]) -> Slot {
        Slot {
            count: u16::from_le_bytes([b[0], b[1]]),
            min: i16::from_le_bytes([b[2], b[3]]),
            max: i16::from_le_bytes([b[4], b[5]]),
            sum: i32::from_le_bytes([b[6], b[7], b[8], b[9]]),
        }
    }

    /// Appends its 10 stored bytes.
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.min.to_le_bytes());
        out.extend_from_slice(&self.max.to_le_bytes());
        out.extend_from_slice(&self.sum.to_le_bytes());
    }
}

impl Default for Hour {
    fn default() -> Self {
        Hour {
            slots: [Slot::default(); SLOTS],
        }
    }
}

fn scaled(value: f64) -> i16 {
    (value * 10.0)
        .round()
        .clamp(i16::MIN as f64, i16::MAX as f64) as i16
}

impl Hour {
    /// Reads a stored blob; a blob of the wrong size (corruption) reads as empty
    /// minutes rather than failing ingestion.
    pub fn from_blob(blob: &[u8]) -> Hour {
        let mut h = Hour::default();
        if blob.len() != BLOB_BYTES {
            return h;
        }
        for (slot, b) in h.slots.iter_mut().zip(blob.chunks_exact(SLOT_BYTES)) {
            *slot = Slot::read(b);
        }
        h
    }

    pub fn to_blob(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BLOB_BYTES);
        for s in &self.slots {
            s.write(&mut out);
        }
        out
    }

    /// Adds a value at `minute` (0–59 within the hour).
    pub fn add(&mut self, minute: usize, value: f64) {
        let Some(s) = self.slots.get_mut(minute) else {
            return;
        };
        let v = scaled(value);
        if s.count == 0 {
            s.min = v;
            s.max = v;
        } else {
            s.min = s.min.min(v);
            s.max = s.max.max(v);
        }
        s.count = s.count.saturating_add(1);
        s.sum = s.sum.saturating_add(i32::from(v));
    }

    /// Sets `minute` (0–59) to a summary of `count` readings: for history
    /// built straight into a store (the demo's back-fill, benchmarks).
    pub fn set(&mut self, minute: usize, count: u16, min: f64, max: f64, mean: f64) {
        if let Some(s) = self.slots.get_mut(minute) {
            *s = Slot {
                count,
                min: scaled(min),
                max: scaled(max),
                sum: (mean * 10.0 * f64::from(count)).round() as i32,
            };
        }
    }

    /// Folds another in-memory hour (built from new samples only) into this one.
    pub fn merge(&mut self, other: &Hour) {
        for (s, o) in self.slots.iter_mut().zip(&other.slots) {
            if o.count == 0 {
                continue;
            }
            if s.count == 0 {
                *s = *o;
            } else {
                s.min = s.min.min(o.min);
                s.max = s.max.max(o.max);
                s.count = s.count.saturating_add(o.count);
                s.sum = s.sum.saturating_add(o.sum);
            }
        }
    }

    /// `new` merged into `stored`, both as blobs (a blob of the wrong size,
    /// or none, reads as empty minutes): what SQL calls
    /// [`MERGE_FUNCTION`] to add a batch's minutes to a stored hour.
    pub fn merge_blobs(stored: &[u8], new: &[u8]) -> Vec<u8> {
        let mut hour = Hour::from_blob(stored);
        hour.merge(&Hour::from_blob(new));
        hour.to_blob()
    }

    /// Appends the minutes that hold data, in stored units, to `out`: their
    /// number (u8), then each one's index (u8) and slot as in the blob (10
    /// bytes). The rollup journal's form of a batch's minutes of an hour
    /// (`rollup_journal`): a batch adds one or two minutes to an hour, so
    /// 11 bytes each, not the 600 of the whole hour.
    pub(crate) fn put_sparse(&self, out: &mut Vec<u8>) {
        let filled = self.slots.iter().filter(|s| s.count > 0).count();
        out.push(filled as u8); // at most SLOTS (60)
        for (i, s) in self.slots.iter().enumerate().filter(|(_, s)| s.count > 0) {
            out.push(i as u8);
            s.write(out);
        }
    }

    /// Reads what [`Hour::put_sparse`] wrote at the start of `data` and
    /// merges it into this hour; returns the bytes it took, or `None` when
    /// `data` ends inside it or names a minute past the hour's last.
    pub(crate) fn merge_sparse(&mut self, data: &[u8]) -> Option<usize> {
        let (&filled, mut rest) = data.split_first()?;
        let mut other = Hour::default();
        for _ in 0..filled {
            let (entry, after) = rest.split_at_checked(1 + SLOT_BYTES)?;
            *other.slots.get_mut(usize::from(entry[0]))? = Slot::read(&entry[1..]);
            rest = after;
        }
        self.merge(&other);
        Some(data.len() - rest.len())
    }

    /// The hour's own summary in stored units (value × 10): readings, min,
    /// max and sum over its minutes; `None` for an empty hour. Kept beside
    /// the blob (`vital_rollups.n/lo/hi/total`, migration 18) so a chart of
    /// months reads an index, not every minute.
    pub fn summary(&self) -> Option<(i64, i64, i64, i64)> {
        let mut out: Option<(i64, i64, i64, i64)> = None;
        for s in self.slots.iter().filter(|s| s.count > 0) {
            let (n, lo, hi, total) = out.unwrap_or((0, i64::MAX, i64::MIN, 0));
            out = Some((
                n + i64::from(s.count),
                lo.min(i64::from(s.min)),
                hi.max(i64::from(s.max)),
                total + i64::from(s.sum),
            ));
        }
        out
    }

    /// The minutes that hold data, as (minute index, summary).
    pub fn minutes(&self) -> Vec<(usize, Minute)> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.count > 0)
            .map(|(i, s)| {
                (
                    i,
                    Minute {
                        count: s.count,
                        min: f64::from(s.min) / 10.0,
                        max: f64::from(s.max) / 10.0,
                        mean: f64::from(s.sum) / 10.0 / f64::from(s.count),
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_merge_and_blob_round_trip() {
        let mut a = Hour::default();
        a.add(0, 72.0);
        a.add(0, 80.0);
        a.add(59, 36.6);
        let mut b = Hour::default();
        b.add(0, 60.0);
        a.merge(&b);
        let back = Hour::from_blob(&a.to_blob());
        assert_eq!(back, a);
        let m = back.minutes();
        assert_eq!(m[0].0, 0);
        assert_eq!((m[0].1.count, m[0].1.min, m[0].1.max), (3, 60.0, 80.0));
        assert!((m[0].1.mean - 70.666).abs() < 0.01);
        assert_eq!((m[1].0, m[1].1.mean), (59, 36.6));
    }

    #[test]
    fn sparse_minutes_merge_like_the_hour_they_came_from() {
        let mut a = Hour::default();
        a.add(3, 72.0);
        a.add(3, 74.0);
        a.add(59, 36.6);
        let mut out = vec![9];
        a.put_sparse(&mut out);
        assert_eq!(out.len(), 1 + 1 + 2 * (1 + SLOT_BYTES));
        let mut stored = Hour::default();
        stored.add(3, 60.0);
        let mut expected = stored.clone();
        expected.merge(&a);
        assert_eq!(stored.merge_sparse(&out[1..]), Some(out.len() - 1));
        assert_eq!(stored, expected);
        // Cut short, or a minute past the hour: refused, nothing merged.
        let before = stored.clone();
        assert_eq!(stored.merge_sparse(&out[1..out.len() - 1]), None);
        let mut past = out[1..].to_vec();
        past[1] = 60;
        assert_eq!(stored.merge_sparse(&past), None);
        assert_eq!(stored, before);
    }
}
