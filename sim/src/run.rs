//! Drives a [`RecordSource`] into a [`RecordSink`] at a chosen pace until the
//! source ends or the shutdown future completes, and reports exactly what the
//! sink accepted.
//!
//! Generation is CPU work, so the source runs on its own thread and hands
//! batches over a small bounded channel (Vector-style backpressure: a slow sink
//! slows the generator, memory stays flat). Pacing uses tokio's clock, so a
//! test can run "real time" under `tokio::time::pause()`. Paced, a batch goes
//! out spread over its simulated second (devices are not in step). A batch
//! is counted only after the sink accepted it, and shutdown never leaves one
//! half sent (it only ends the spreading), so `SimReport` is exact.

use std::collections::BTreeMap;
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::record::{MalformedKind, RecordKind, RecordSource, SimBatch, SimRecord};
use crate::sink::RecordSink;

/// At a paced run, a batch (a simulated second of every patient) is sent in
/// up to `SPREAD_PARTS` parts of at least `SPREAD_RECORDS` records, evenly
/// over its second.
const SPREAD_PARTS: usize = 10;
const SPREAD_RECORDS: usize = 100;

/// How fast simulated time runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// One simulated second per second (the live demo).
    RealTime,
    /// `n` simulated seconds per second.
    Speedup(f64),
    /// No waiting (tests, benchmarks).
    AsFastAsPossible,
}

impl Pace {
    fn speed(self) -> Option<f64> {
        match self {
            Pace::RealTime => Some(1.0),
            Pace::Speedup(x) if x.is_finite() && x > 0.0 => Some(x),
            Pace::Speedup(_) | Pace::AsFastAsPossible => None,
        }
    }
}

/// Per-patient counts (keyed by partition key = MRN).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PatientCounts {
    pub numeric: u64,
    pub ecg: u64,
    pub malformed: u64,
    pub data_absent: u64,
    pub ecg_samples: u64,
}

/// What a run delivered to its sink.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SimReport {
    /// Records accepted by the sink, malformed ones included.
    pub emitted_total: u64,
    pub numeric: u64,
    pub ecg: u64,
    /// Pulse waveform blocks (the pleth).
    pub pulse: u64,
    pub malformed: u64,
    /// Valid records (numeric or ECG) without a valid value (see `SimRecord::data_absent`).
    pub data_absent: u64,
    /// Entries of ECG `valueSampledData.data`, `E` included.
    pub ecg_samples: u64,
    pub payload_bytes: u64,
    pub malformed_by_kind: BTreeMap<MalformedKind, u64>,
    pub per_patient: BTreeMap<String, PatientCounts>,
    pub batches: u64,
    /// Simulated time of the first and last batch.
    pub first_at: Option<DateTime<Utc>>,
    pub last_at: Option<DateTime<Utc>>,
}

impl SimReport {
    /// Valid records: what a receiver should store (numeric, ECG, pulse).
    pub fn valid_total(&self) -> u64 {
        self.numeric + self.ecg + self.pulse
    }

    /// Adds one batch the sink accepted.
    pub fn count(&mut self, at: DateTime<Utc>, records: &[SimRecord]) {
        self.batches += 1;
        self.first_at.get_or_insert(at);
        self.last_at = Some(at);
        for r in records {
            self.emitted_total += 1;
            self.payload_bytes += r.payload.len() as u64;
            let p = match self.per_patient.get_mut(r.partition_key.as_str()) {
                Some(p) => p,
                None => self.per_patient.entry(r.partition_key.clone()).or_default(),
            };
            match r.kind {
                RecordKind::Numeric => {
                    self.numeric += 1;
                    p.numeric += 1;
                }
                RecordKind::Ecg => {
                    self.ecg += 1;
                    p.ecg += 1;
                }
                RecordKind::Pulse => self.pulse += 1,
                RecordKind::Malformed(k) => {
                    self.malformed += 1;
                    p.malformed += 1;
                    *self.malformed_by_kind.entry(k).or_default() += 1;
                }
            }
            if r.data_absent {
                self.data_absent += 1;
                p.data_absent += 1;
            }
            self.ecg_samples += u64::from(r.ecg_samples);
            p.ecg_samples += u64::from(r.ecg_samples);
        }
    }
}

/// Batches in flight between the generator thread and the sink.
const CHANNEL_BATCHES: usize = 4;

/// Runs `source` into `sink` at `pace` until the source ends or `shutdown`
/// completes. On a sink error the returned [`Error::Sink`] carries the report
/// of what was accepted before.
pub async fn run_sim<S, K>(
    mut source: S,
    sink: &mut K,
    pace: Pace,
    shutdown: impl Future<Output = ()>,
) -> Result<SimReport>
where
    S: RecordSource + 'static,
    K: RecordSink,
{
    let (tx, mut rx) = mpsc::channel::<Result<SimBatch>>(CHANNEL_BATCHES);
    std::thread::Builder::new()
        .name("wardwatch-sim-source".into())
        .spawn(move || {
            loop {
                let next = source.next_batch();
                let done = !matches!(next, Ok(Some(_)));
                let item = match next {
                    Ok(Some(b)) => Ok(b),
                    Ok(None) => break,
                    Err(e) => Err(e),
                };
                // The receiver is gone when the run stopped: just end.
                if tx.blocking_send(item).is_err() || done {
                    break;
                }
            }
        })
        .map_err(|e| Error::Generator {
            reason: format!("cannot start the generator thread: {e}"),
        })?;

    tokio::pin!(shutdown);
    let speed = pace.speed();
    let mut origin: Option<(DateTime<Utc>, Instant)> = None;
    let mut report = SimReport::default();
    loop {
        let next = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            b = rx.recv() => b,
        };
        let Some(batch) = next else {
            break;
        };
        let batch = batch?;
        let mut parts = 1;
        let mut step = std::time::Duration::ZERO;
        let mut start = Instant::now();
        if let Some(speed) = speed {
            let (a0, w0) = *origin.get_or_insert((batch.at, Instant::now()));
            let ahead = (batch.at - a0).to_std().unwrap_or_default().div_f64(speed);
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = tokio::time::sleep_until(w0 + ahead) => {}
            }
            // A ward's devices are not in step: a second's records (every
            // patient's) go out spread over that second, not in one burst.
            parts = batch
                .records
                .len()
                .div_ceil(SPREAD_RECORDS)
                .clamp(1, SPREAD_PARTS);
            step = std::time::Duration::from_secs(1).div_f64(speed) / parts as u32;
            start = w0 + ahead;
        }
        let size = batch.records.len().div_ceil(parts).max(1);
        let mut sent = 0;
        // Shutdown ends the spreading, not the batch: the rest goes at once.
        let mut hurry = false;
        for (i, chunk) in batch.records.chunks(size).enumerate() {
            if i > 0 && !hurry {
                tokio::select! {
                    biased;
                    _ = &mut shutdown => hurry = true,
                    _ = tokio::time::sleep_until(start + step * i as u32) => {}
                }
            }
            if let Err(e) = sink.send(chunk).await {
                if sent > 0 {
                    report.count(batch.at, &batch.records[..sent]);
                }
                return Err(Error::Sink {
                    sink: sink.name(),
                    report: Box::new(report),
                    source: Box::new(e),
                });
            }
            sent += chunk.len();
        }
        report.count(batch.at, &batch.records);
        if hurry {
            break;
        }
    }
    tracing::info!(
        emitted = report.emitted_total,
        malformed = report.malformed,
        ecg_samples = report.ecg_samples,
        "simulation ended"
    );
    Ok(report)
}
