//! A patient's history for a chart: any window, decimated to the chart's
//! width as min/max/mean per column (one bin per pixel column), from the
//! full-rate samples when the window is short and still within their
//! retention, else from the minute rollups. A year of one patient's minute
//! data is ~8,760 rollup rows per vital; the bins are filled straight from
//! the packed blobs (no per-minute allocation). ARCHITECTURE.md has the
//! figures.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

use super::rollup::{BLOB_BYTES, HOUR_MS, Hour, SLOT_BYTES};
use super::{Store, from_ms, to_ms};
use crate::error::{Result, SqlContext};
use crate::model::Vital;

/// Windows at most this long are drawn from the full-rate samples (when
/// they are still kept); longer ones from the minute rollups.
pub const SAMPLES_MAX_SPAN_MS: i64 = 3 * HOUR_MS;
/// The finest bin over full-rate samples (numerics arrive about once a
/// second) and over minute rollups: a finer bin would only add empty ones.
const SAMPLE_BIN_MIN_MS: i64 = 1_000;
const MINUTE_BIN_MIN_MS: i64 = 60_000;

/// Where a history's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// Full-rate samples (the store keeps `retention.raw_numerics_hours`).
    Samples,
    /// Minute rollups (kept for the store's life).
    Minutes,
    /// Full-rate samples read back from the lake's cleaned zone, for a
    /// window whose samples have left the store (`Store::history_of_samples`).
    Lake,
}

/// One vital over the bins: `None` where the bin holds no data (a gap the
/// chart shows as one, never joined).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistorySeries {
    pub vital: Vital,
    pub label: &'static str,
    pub unit: &'static str,
    pub min: Vec<Option<f64>>,
    pub max: Vec<Option<f64>>,
    pub mean: Vec<Option<f64>>,
    /// Readings behind the bins (samples, or minutes' sample counts).
    pub readings: u64,
}

/// A patient's vitals over `[from, to)` in `bins` equal columns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct History {
    pub mrn: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub resolution: Resolution,
    pub bin_ms: i64,
    /// Each bin's start, ms since the epoch (the chart's x values).
    pub t_ms: Vec<i64>,
    /// Only vitals with data in the window.
    pub series: Vec<HistorySeries>,
    /// NEWS2 aggregate, the highest per bin.
    pub news2: Vec<Option<f64>>,
    /// The cardiac risk (0–100), the highest per bin.
    pub cardiac_risk: Vec<Option<f64>>,
}

impl History {
    /// The history as CSV, one row per bin that holds data: each vital's
    /// mean, min and max, and the highest NEWS2; times in UTC (RFC 3339).
    pub fn to_csv(&self) -> String {
        let mut out = String::from("time_utc");
        for s in &self.series {
            let key = s.vital.key();
            out.push_str(&format!(",{key}_mean,{key}_min,{key}_max"));
        }
        out.push_str(",news2_max,cardiac_risk_max\n");
        let cell = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        for (i, t) in self.t_ms.iter().enumerate() {
            let any = self
                .series
                .iter()
                .any(|s| s.mean.get(i).copied().flatten().is_some())
                || self.news2.get(i).copied().flatten().is_some()
                || self.cardiac_risk.get(i).copied().flatten().is_some();
            if !any {
                continue;
            }
            out.push_str(&from_ms(*t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            for s in &self.series {
                for col in [&s.mean, &s.min, &s.max] {
                    out.push(',');
                    out.push_str(&cell(col.get(i).copied().flatten()));
                }
            }
            for col in [&self.news2, &self.cardiac_risk] {
                out.push(',');
                out.push_str(&cell(col.get(i).copied().flatten()));
            }
            out.push('\n');
        }
        out
    }
}

/// Writes an hour of rollups with its summary (insert or replace).
pub(super) fn put_rollup(
    conn: &rusqlite::Connection,
    patient_id: i64,
    vital: i64,
    hour_ms: i64,
    hour: &Hour,
) -> rusqlite::Result<usize> {
    let (n, lo, hi, total) = summary_columns(hour);
    conn.prepare_cached(
        "INSERT INTO vital_rollups (patient_id, vital, hour_ms, data, n, lo, hi, total)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (patient_id, vital, hour_ms) DO UPDATE SET
           data = excluded.data, n = excluded.n, lo = excluded.lo, hi = excluded.hi, total = excluded.total",
    )?
    .execute(params![patient_id, vital, hour_ms, hour.to_blob(), n, lo, hi, total])
}

/// Adds a batch's minutes (`new`) to the stored hour, in one statement:
/// a new hour is inserted, a stored one merged by SQL
/// ([`super::rollup::MERGE_FUNCTION`]) and its summary updated by
/// arithmetic, which equals the merged hour's own summary (counts and sums
/// add, extremes take the extreme). A stored blob of the wrong size reads as
/// empty minutes, as [`Hour::from_blob`] reads it, so its summary is then
/// the new minutes' alone. The writer no longer reads an hour to update it
/// (issue 16: 4.7 % of its samples at 5,000 patients).
pub(super) fn merge_rollup(
    conn: &rusqlite::Connection,
    patient_id: i64,
    vital: i64,
    hour_ms: i64,
    new: &Hour,
) -> rusqlite::Result<usize> {
    // Built once: the statement cache is keyed by the text.
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "INSERT INTO vital_rollups (patient_id, vital, hour_ms, data, n, lo, hi, total)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (patient_id, vital, hour_ms) DO UPDATE SET
               data = {merge}(data, excluded.data),
               n = CASE WHEN {whole} THEN coalesce(n, 0) + excluded.n ELSE excluded.n END,
               lo = CASE WHEN {whole} THEN min(coalesce(lo, excluded.lo), excluded.lo) ELSE excluded.lo END,
               hi = CASE WHEN {whole} THEN max(coalesce(hi, excluded.hi), excluded.hi) ELSE excluded.hi END,
               total = CASE WHEN {whole} THEN coalesce(total, 0) + excluded.total ELSE excluded.total END",
            merge = super::rollup::MERGE_FUNCTION,
            whole = format_args!("length(data) = {}", super::rollup::BLOB_BYTES),
        )
    });
    let (n, lo, hi, total) = summary_columns(new);
    conn.prepare_cached(&SQL)?.execute(params![
        patient_id,
        vital,
        hour_ms,
        new.to_blob(),
        n,
        lo,
        hi,
        total
    ])
}

type SummaryColumns = (Option<i64>, Option<i64>, Option<i64>, Option<i64>);

fn summary_columns(hour: &Hour) -> SummaryColumns {
    hour.summary()
        .map_or((None, None, None, None), |(n, lo, hi, t)| {
            (Some(n), Some(lo), Some(hi), Some(t))
        })
}

/// Accumulates min/max/sum/count per bin.
struct Bins {
    from_ms: i64,
    bin_ms: i64,
    count: Vec<u64>,
    min: Vec<f64>,
    max: Vec<f64>,
    sum: Vec<f64>,
}

impl Bins {
    fn new(from_ms: i64, bin_ms: i64, n: usize) -> Bins {
        Bins {
            from_ms,
            bin_ms,
            count: vec![0; n],
            min: vec![f64::INFINITY; n],
            max: vec![f64::NEG_INFINITY; n],
            sum: vec![0.0; n],
        }
    }

    fn index(&self, t_ms: i64) -> Option<usize> {
        if t_ms < self.from_ms {
            return None;
        }
        let i = ((t_ms - self.from_ms) / self.bin_ms) as usize;
        (i < self.count.len()).then_some(i)
    }

    fn add(&mut self, t_ms: i64, count: u64, min: f64, max: f64, sum: f64) {
        if let Some(i) = self.index(t_ms) {
            self.count[i] += count;
            self.min[i] = self.min[i].min(min);
            self.max[i] = self.max[i].max(max);
            self.sum[i] += sum;
        }
    }

    fn into_series(self, vital: Vital) -> Option<HistorySeries> {
        let readings: u64 = self.count.iter().sum();
        if readings == 0 {
            return None;
        }
        let n = self.count.len();
        let (mut min, mut max, mut mean) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for i in 0..n {
            let c = self.count[i];
            let some = |v: f64| (c > 0).then_some(round1(v));
            min.push(some(self.min[i]));
            max.push(some(self.max[i]));
            mean.push(some(self.sum[i] / c.max(1) as f64));
        }
        Some(HistorySeries {
            vital,
            label: vital.label(),
            unit: vital.unit(),
            min,
            max,
            mean,
            readings,
        })
    }
}

/// Values are stored to 0.1 (rollups) or as sent; the chart needs no more.
fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The bin width for `span_ms` in at most `columns` bins, never finer than
/// the data's own resolution.
fn bin_width(span_ms: i64, columns: u32, finest_ms: i64) -> i64 {
    let columns = i64::from(columns.max(1));
    ((span_ms + columns - 1) / columns).max(finest_ms)
}

impl Store {
    /// `mrn`'s vitals over `[from, to)` in at most `columns` bins; full-rate
    /// samples when the window is at most `SAMPLES_MAX_SPAN_MS` long and
    /// starts after `samples_since` (what the retention still holds), else
    /// minute rollups. An unknown patient has an empty history (the API
    /// checks the patient first).
    pub fn history(
        &self,
        mrn: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        columns: u32,
        samples_since: DateTime<Utc>,
    ) -> Result<History> {
        self.history_of(mrn, from, to, columns, samples_since, &Vital::ALL)
    }

    /// [`Store::history`] of only `vitals` (the overview's sparklines need
    /// two of them).
    pub fn history_of(
        &self,
        mrn: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        columns: u32,
        samples_since: DateTime<Utc>,
        vitals: &[Vital],
    ) -> Result<History> {
        let (from_ms, to_ms) = (to_ms(from), to_ms(to).max(to_ms(from) + 1));
        let span = to_ms - from_ms;
        let resolution = if span <= SAMPLES_MAX_SPAN_MS && from >= samples_since {
            Resolution::Samples
        } else {
            Resolution::Minutes
        };
        let finest = match resolution {
            Resolution::Samples | Resolution::Lake => SAMPLE_BIN_MIN_MS,
            Resolution::Minutes => MINUTE_BIN_MIN_MS,
        };
        let bin_ms = bin_width(span, columns, finest);
        let n = ((span + bin_ms - 1) / bin_ms) as usize;
        let t_ms: Vec<i64> = (0..n as i64).map(|i| from_ms + i * bin_ms).collect();
        let mut out = History {
            mrn: mrn.to_owned(),
            from,
            to,
            resolution,
            bin_ms,
            t_ms,
            series: Vec::new(),
            news2: vec![None; n],
            cardiac_risk: vec![None; n],
        };
        let Some(patient_id) = self.patient_id(mrn)? else {
            return Ok(out);
        };
        for &vital in vitals {
            let mut bins = Bins::new(from_ms, bin_ms, n);
            match resolution {
                Resolution::Samples | Resolution::Lake => {
                    self.sample_bins(patient_id, vital, to_ms, &mut bins)?
                }
                Resolution::Minutes => self.minute_bins(patient_id, vital, to_ms, &mut bins)?,
            }
            out.series.extend(bins.into_series(vital));
        }
        self.score_bins(patient_id, &mut out)?;
        Ok(out)
    }

    /// The highest NEWS2 and cardiac risk per bin of `out` (scores stay in
    /// the store for its life).
    fn score_bins(&self, patient_id: i64, out: &mut History) -> Result<()> {
        let (from_ms, to_ms, bin_ms) = (
            to_ms(out.from),
            to_ms(out.to).max(to_ms(out.from) + 1),
            out.bin_ms,
        );
        for (kind, series) in [
            ("news2", &mut out.news2),
            ("cardiac_risk", &mut out.cardiac_risk),
        ] {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT (ts_ms - ?2) / ?4, max(value) FROM scores
                     WHERE patient_id = ?1 AND kind = ?5 AND ts_ms >= ?2 AND ts_ms < ?3
                       AND superseded_ms IS NULL
                     GROUP BY 1",
                )
                .ctx("reading score history")?;
            let rows = stmt
                .query_map(params![patient_id, from_ms, to_ms, bin_ms, kind], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(1)?))
                })
                .ctx("reading score history")?;
            for row in rows {
                let (i, v) = row.ctx("reading score history")?;
                if let Some(slot) = usize::try_from(i).ok().and_then(|i| series.get_mut(i)) {
                    *slot = Some(v);
                }
            }
        }
        Ok(())
    }

    /// A history over `[from, to)` (at most `SAMPLES_MAX_SPAN_MS`) from
    /// full-rate `samples` found elsewhere — the lake's cleaned zone, once
    /// the store's own have gone (`retention.raw_numerics_hours`): `(vital,
    /// ms since the epoch, value)`, in any order; samples outside the window
    /// are left out. NEWS2 and the cardiac risk come from the store.
    pub fn history_of_samples(
        &self,
        mrn: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        columns: u32,
        samples: &[(Vital, i64, f64)],
    ) -> Result<History> {
        let (start, end) = (to_ms(from), to_ms(to).max(to_ms(from) + 1));
        let span = (end - start).min(SAMPLES_MAX_SPAN_MS);
        let (from_ms, to_ms) = (start, start + span);
        let bin_ms = bin_width(span, columns, SAMPLE_BIN_MIN_MS);
        let n = ((span + bin_ms - 1) / bin_ms) as usize;
        let mut out = History {
            mrn: mrn.to_owned(),
            from,
            to: super::from_ms(to_ms),
            resolution: Resolution::Lake,
            bin_ms,
            t_ms: (0..n as i64).map(|i| from_ms + i * bin_ms).collect(),
            series: Vec::new(),
            news2: vec![None; n],
            cardiac_risk: vec![None; n],
        };
        for vital in Vital::ALL {
            let mut bins = Bins::new(from_ms, bin_ms, n);
            for &(v, t, value) in samples {
                if v == vital && (from_ms..to_ms).contains(&t) && value.is_finite() {
                    bins.add(t, 1, value, value, value);
                }
            }
            out.series.extend(bins.into_series(vital));
        }
        if let Some(patient_id) = self.patient_id(mrn)? {
            self.score_bins(patient_id, &mut out)?;
        }
        Ok(out)
    }

    fn sample_bins(
        &self,
        patient_id: i64,
        vital: Vital,
        to_ms: i64,
        bins: &mut Bins,
    ) -> Result<()> {
        let samples =
            super::numerics::samples_in(&self.conn, patient_id, vital.code(), bins.from_ms, to_ms)?;
        for s in samples {
            if let Some(v) = s.value {
                bins.add(s.ts_ms, 1, v, v, v);
            }
        }
        Ok(())
    }

    /// Minute rollups into the bins. Bins of an hour or more take each
    /// whole hour inside the window from its summary (an index read), placed
    /// by the hour's start: an extreme may land in the neighbouring column
    /// by less than an hour, under one pixel at that zoom. Hours cut by the
    /// window's edges, and hours written before the summaries existed, are
    /// read minute by minute from their blob.
    fn minute_bins(
        &self,
        patient_id: i64,
        vital: Vital,
        to_ms: i64,
        bins: &mut Bins,
    ) -> Result<()> {
        let first_hour = bins.from_ms.div_euclid(HOUR_MS) * HOUR_MS;
        let (whole_from, whole_to) = if bins.bin_ms >= HOUR_MS {
            (
                (bins.from_ms + HOUR_MS - 1).div_euclid(HOUR_MS) * HOUR_MS,
                to_ms.div_euclid(HOUR_MS) * HOUR_MS,
            )
        } else {
            (0, 0)
        };
        if whole_to > whole_from {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT hour_ms, n, lo, hi, total FROM vital_rollups INDEXED BY vital_rollups_hours
                     WHERE patient_id = ?1 AND vital = ?2 AND hour_ms >= ?3 AND hour_ms < ?4
                       AND n IS NOT NULL",
                )
                .ctx("reading history summaries")?;
            let mut rows = stmt
                .query(params![patient_id, vital.code(), whole_from, whole_to])
                .ctx("reading history summaries")?;
            while let Some(row) = rows.next().ctx("reading history summaries")? {
                let get = |i: usize| row.get::<_, i64>(i).ctx("reading history summaries");
                let (hour_ms, n, lo, hi, total) = (get(0)?, get(1)?, get(2)?, get(3)?, get(4)?);
                if n > 0 {
                    bins.add(
                        hour_ms,
                        n as u64,
                        lo as f64 / 10.0,
                        hi as f64 / 10.0,
                        total as f64 / 10.0,
                    );
                }
            }
        }
        // Everything not taken from a summary: minute by minute.
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT hour_ms, data FROM vital_rollups
                 WHERE patient_id = ?1 AND vital = ?2 AND hour_ms >= ?3 AND hour_ms < ?4
                   AND NOT (hour_ms >= ?5 AND hour_ms < ?6 AND n IS NOT NULL)",
            )
            .ctx("reading history rollups")?;
        let mut rows = stmt
            .query(params![
                patient_id,
                vital.code(),
                first_hour,
                to_ms,
                whole_from,
                whole_to
            ])
            .ctx("reading history rollups")?;
        while let Some(row) = rows.next().ctx("reading history rollups")? {
            let hour_ms: i64 = row.get(0).ctx("reading history rollups")?;
            let blob = row
                .get_ref(1)
                .ctx("reading history rollups")?
                .as_blob()
                .map_err(rusqlite::Error::from)
                .ctx("reading history rollups")?;
            if blob.len() != BLOB_BYTES {
                continue; // as Hour::from_blob: a damaged row reads as empty
            }
            for (minute, s) in blob.chunks_exact(SLOT_BYTES).enumerate() {
                let count = u16::from_le_bytes([s[0], s[1]]);
                if count == 0 {
                    continue;
                }
                let t = hour_ms + minute as i64 * 60_000;
                if t >= to_ms {
                    break;
                }
                let min = f64::from(i16::from_le_bytes([s[2], s[3]])) / 10.0;
                let max = f64::from(i16::from_le_bytes([s[4], s[5]])) / 10.0;
                let sum = f64::from(i32::from_le_bytes([s[6], s[7], s[8], s[9]])) / 10.0;
                bins.add(t, u64::from(count), min, max, sum);
            }
        }
        Ok(())
    }

    /// Writes back-filled minute rollups and the raw readings of those that
    /// have them (the demo's and the benchmarks' history, built straight
    /// into the store rather than streamed): hours that already hold data
    /// are left as they are, their raw readings too. Returns the hours
    /// written.
    pub fn backfill_rollups(
        &mut self,
        mrn: &str,
        hours: &[crate::demo::HistoryHour],
    ) -> Result<usize> {
        let patient_id = self.known_patient_id(mrn)?;
        // The writer's cached hours are reread after it.
        self.numeric_blocks.forget();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx("back-filling history")?;
        let mut written = 0;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO vital_rollups (patient_id, vital, hour_ms, data, n, lo, hi, total)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .ctx("back-filling history")?;
            for h in hours {
                let (n, lo, hi, total) = summary_columns(&h.hour);
                let inserted = stmt
                    .execute(params![
                        patient_id,
                        h.vital.code(),
                        h.hour_ms,
                        h.hour.to_blob(),
                        n,
                        lo,
                        hi,
                        total
                    ])
                    .ctx("back-filling history")?;
                written += inserted;
                if inserted == 0 {
                    continue;
                }
                for minute in h.raw.chunk_by(|a, b| {
                    super::numerics::block_of(a.ts_ms) == super::numerics::block_of(b.ts_ms)
                }) {
                    super::numerics::put_block(
                        &tx,
                        patient_id,
                        h.vital.code(),
                        super::numerics::block_of(minute[0].ts_ms),
                        minute,
                    )?;
                }
            }
        }
        tx.commit().ctx("back-filling history")?;
        Ok(written)
    }

    /// The oldest hour of minute rollups held for `mrn`, if any.
    pub fn oldest_rollup(&self, mrn: &str) -> Result<Option<DateTime<Utc>>> {
        let Some(patient_id) = self.patient_id(mrn)? else {
            return Ok(None);
        };
        let ms: Option<i64> = self
            .conn
            .query_row(
                "SELECT min(hour_ms) FROM vital_rollups WHERE patient_id = ?1",
                [patient_id],
                |r| r.get(0),
            )
            .ctx("reading history")?;
        Ok(ms.map(from_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_never_finer_than_the_data() {
        assert_eq!(bin_width(365 * 24 * HOUR_MS, 1000, 60_000), 31_536_000);
        assert_eq!(bin_width(10 * 60_000, 1000, 1_000), 1_000);
        assert_eq!(bin_width(10 * 60_000, 1000, 60_000), 60_000);
    }

    #[test]
    fn a_bin_takes_the_extremes_and_the_weighted_mean() {
        let mut b = Bins::new(0, 100, 3);
        b.add(10, 2, 60.0, 80.0, 140.0);
        b.add(90, 1, 50.0, 50.0, 50.0);
        b.add(250, 1, 70.0, 70.0, 70.0);
        b.add(300, 1, 1.0, 1.0, 1.0); // past the window
        let s = b.into_series(Vital::HeartRate).expect("data");
        assert_eq!(s.min, vec![Some(50.0), None, Some(70.0)]);
        assert_eq!(s.max, vec![Some(80.0), None, Some(70.0)]);
        assert_eq!(s.mean[0], Some(63.3));
        assert_eq!(s.readings, 4);
    }
}
