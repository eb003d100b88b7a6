//! Where simulated records go: the [`RecordSink`] trait and the sinks that
//! need nothing else — [`NullSink`] (benchmarks), [`VecSink`] (tests) — plus
//! the SSE log (`sse::SharedLog`) and, with `wardwatch-cloud`, Kinesis.
//!
//! A sink's `send` returns only once the whole batch is accepted (for Kinesis:
//! acknowledged), so the run report counts exactly what reached the sink.

use std::future::Future;

use crate::error::Result;
use crate::record::SimRecord;

/// A destination for batches of records.
pub trait RecordSink: Send {
    /// Short name for messages (`sse`, `kinesis`, `null`, …).
    fn name(&self) -> &'static str;

    /// Delivers a batch; `Ok` means every record of it was accepted.
    fn send(&mut self, batch: &[SimRecord]) -> impl Future<Output = Result<()>> + Send;
}

/// Discards records, counting them and their bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NullSink {
    pub records: u64,
    pub bytes: u64,
}

impl RecordSink for NullSink {
    fn name(&self) -> &'static str {
        "null"
    }

    async fn send(&mut self, batch: &[SimRecord]) -> Result<()> {
        self.records += batch.len() as u64;
        self.bytes += batch.iter().map(|r| r.payload.len() as u64).sum::<u64>();
        Ok(())
    }
}

/// Keeps every record in memory.
#[derive(Debug, Default, Clone)]
pub struct VecSink {
    pub records: Vec<SimRecord>,
}

impl RecordSink for VecSink {
    fn name(&self) -> &'static str {
        "vec"
    }

    async fn send(&mut self, batch: &[SimRecord]) -> Result<()> {
        self.records.extend_from_slice(batch);
        Ok(())
    }
}

impl<S: RecordSink> RecordSink for &mut S {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn send(&mut self, batch: &[SimRecord]) -> impl Future<Output = Result<()>> + Send {
        (**self).send(batch)
    }
}
