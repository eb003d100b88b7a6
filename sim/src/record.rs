//! What the simulator emits: [`SimRecord`]s (one FHIR Observation each, as the
//! bytes that go on the wire) grouped in time-stamped [`SimBatch`]es, and the
//! [`RecordSource`] trait that the generator and the WFDB replays implement.
//!
//! Each record carries what the receiving side's tests need to check
//! "emitted = stored + quarantined": its kind (and, for a deliberately broken
//! record, which breakage), its Observation id and how many ECG samples it holds.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// One record on the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRecord {
    /// The patient's MRN: the Kinesis partition key, so one patient's records
    /// stay in order on one shard. A malformed record keeps the MRN of the
    /// patient whose monitor "sent" it, even when its payload names another.
    pub partition_key: String,
    /// The Observation's `id` (also for malformed records, whose payload may
    /// not let a receiver read it).
    pub id: String,
    /// One FHIR R4 Observation in UTF-8 JSON, on one line (docs/wire-format.md).
    pub payload: Vec<u8>,
    pub kind: RecordKind,
    /// No valid value: `dataAbsentReason`, or an ECG block whose samples are
    /// all `E`. A receiver stores signal loss.
    pub data_absent: bool,
    /// ECG samples in the record's `valueSampledData` (0 for numerics).
    pub ecg_samples: u32,
}

/// What a record is, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RecordKind {
    /// A numeric vital sign (HR, RR, SpO2, BP panel, temperature).
    Numeric,
    /// One lead of ECG, a block of samples.
    Ecg,
    /// A pulse waveform (the pleth), a block of samples.
    Pulse,
    /// Deliberately broken: a receiver must quarantine it with a reason.
    Malformed(MalformedKind),
}

/// The ways the simulator breaks records on purpose (scenario `malformed.kinds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MalformedKind {
    /// The JSON is cut off half-way.
    InvalidJson,
    /// A LOINC code that is not a vital sign (`99999-9`).
    UnknownCode,
    /// Heart rate in `bpm`, which is not UCUM.
    UnknownUnit,
    /// Heart rate 900 /min or SpO2 130 %.
    ImpossibleValue,
    /// A subject MRN that no registry holds.
    UnknownPatient,
    /// `effectiveDateTime` one day ahead of the record's time.
    FutureTimestamp,
    /// No `subject` at all.
    MissingSubject,
}

impl MalformedKind {
    pub const ALL: [MalformedKind; 7] = [
        MalformedKind::InvalidJson,
        MalformedKind::UnknownCode,
        MalformedKind::UnknownUnit,
        MalformedKind::ImpossibleValue,
        MalformedKind::UnknownPatient,
        MalformedKind::FutureTimestamp,
        MalformedKind::MissingSubject,
    ];

    /// The snake_case name used in scenario files and reports.
    pub fn name(self) -> &'static str {
        match self {
            MalformedKind::InvalidJson => "invalid_json",
            MalformedKind::UnknownCode => "unknown_code",
            MalformedKind::UnknownUnit => "unknown_unit",
            MalformedKind::ImpossibleValue => "impossible_value",
            MalformedKind::UnknownPatient => "unknown_patient",
            MalformedKind::FutureTimestamp => "future_timestamp",
            MalformedKind::MissingSubject => "missing_subject",
        }
    }
}

/// Records that become due at the same simulated instant.
#[derive(Debug, Clone, PartialEq)]
pub struct SimBatch {
    /// When these records are sent: a numeric at its measurement time, an ECG
    /// block when its last sample has been recorded (block start + block length).
    pub at: DateTime<Utc>,
    pub records: Vec<SimRecord>,
}

/// Produces batches in non-decreasing `at` order; `Ok(None)` when finished.
/// Implementations are pure computation (no I/O but reading a record file), so
/// `run_sim` drives them on a blocking thread.
pub trait RecordSource: Send {
    fn next_batch(&mut self) -> Result<Option<SimBatch>>;
}

impl<S: RecordSource + ?Sized> RecordSource for Box<S> {
    fn next_batch(&mut self) -> Result<Option<SimBatch>> {
        (**self).next_batch()
    }
}

/// Several sources interleaved by batch time (ties: the earlier source first),
/// e.g. a generated ward plus one bed replaying MIT-BIH 100.
#[derive(Default)]
pub struct Interleave {
    sources: Vec<Box<dyn RecordSource>>,
    heads: Vec<Option<SimBatch>>,
    started: bool,
}

impl std::fmt::Debug for Interleave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interleave")
            .field("sources", &self.sources.len())
            .finish()
    }
}

impl Interleave {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, source: impl RecordSource + 'static) -> Self {
        self.sources.push(Box::new(source));
        self
    }
}

impl RecordSource for Interleave {
    fn next_batch(&mut self) -> Result<Option<SimBatch>> {
        if !self.started {
            self.started = true;
            for s in &mut self.sources {
                self.heads.push(s.next_batch()?);
            }
        }
        let next = self
            .heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|b| (b.at, i)))
            .min();
        let Some((_, i)) = next else {
            return Ok(None);
        };
        let refill = self.sources[i].next_batch()?;
        Ok(std::mem::replace(&mut self.heads[i], refill))
    }
}
