//! The Kinesis output: [`KinesisSink`] puts batches with `wardwatch-cloud`'s
//! `put_records`, partition key = MRN, data = the Observation bytes.
//!
//! A batch is split into `PutRecords` calls of at most 500 records and 5 MiB
//! (the AWS limits, planned up front by [`plan_calls`]). Throttled records —
//! a failed call of kind `Transient`, or single records reported failed in a
//! successful call — are sent again with exponential backoff; `send` returns
//! only when every record is stored, so the run report counts stored records.
//! A retried record can land after later records of the same patient (as with
//! any `PutRecords` producer); receivers order by `effectiveDateTime` and drop
//! duplicates by `id`.

use std::time::Duration;

use wardwatch_cloud::{ErrorKind as CloudErrorKind, KinesisClient};

use crate::error::{Error, Result};
use crate::record::SimRecord;
use crate::sink::RecordSink;

const MAX_CALL_RECORDS: usize = 500;
const MAX_CALL_BYTES: usize = 5 * 1024 * 1024;

/// Retry policy for throttled or failed records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    /// Attempts per record before `send` fails (default 10).
    pub max_attempts: u32,
    /// First backoff (default 50 ms), doubled per attempt up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Puts records on a Kinesis stream.
#[derive(Debug, Clone)]
pub struct KinesisSink {
    client: KinesisClient,
    stream: String,
    retry: Retry,
    /// Records put again after a throttle (for logs and benchmarks).
    pub retried_records: u64,
    /// `PutRecords` calls made.
    pub calls: u64,
}

impl KinesisSink {
    pub fn new(client: KinesisClient, stream: impl Into<String>) -> KinesisSink {
        KinesisSink {
            client,
            stream: stream.into(),
            retry: Retry::default(),
            retried_records: 0,
            calls: 0,
        }
    }

    pub fn with_retry(mut self, retry: Retry) -> KinesisSink {
        self.retry = retry;
        self
    }

    pub fn stream(&self) -> &str {
        &self.stream
    }

    async fn put_all(&mut self, records: &[&SimRecord]) -> Result<()> {
        let mut pending: Vec<&SimRecord> = records.to_vec();
        let mut backoff = self.retry.initial_backoff;
        for attempt in 1..=self.retry.max_attempts.max(1) {
            let entries: Vec<(&str, &[u8])> = pending
                .iter()
                .map(|r| (r.partition_key.as_str(), r.payload.as_slice()))
                .collect();
            self.calls += 1;
            let failed: Vec<&SimRecord> =
                match self.client.put_records(&self.stream, &entries).await {
                    Ok(out) => out
                        .failed_indices()
                        .into_iter()
                        .map(|i| pending[i])
                        .collect(),
                    Err(e) if e.kind() == CloudErrorKind::Transient => pending.clone(),
                    Err(e) => return Err(self.fail(e)),
                };
            if failed.is_empty() {
                return Ok(());
            }
            if attempt == self.retry.max_attempts {
                break;
            }
            tracing::debug!(
                stream = %self.stream,
                failed = failed.len(),
                attempt,
                "throttled: putting records again"
            );
            self.retried_records += failed.len() as u64;
            pending = failed;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.retry.max_backoff);
        }
        Err(Error::KinesisThrottled {
            stream: self.stream.clone(),
            records: pending.len(),
            attempts: self.retry.max_attempts,
        })
    }

    fn fail(&self, source: wardwatch_cloud::Error) -> Error {
        Error::Kinesis {
            stream: self.stream.clone(),
            source,
        }
    }
}

/// Splits records into `PutRecords` calls within the AWS limits (records in
/// order; a call closes before it would pass 500 records or 5 MiB of keys and
/// data). Returns index ranges into `records`.
pub fn plan_calls(records: &[SimRecord]) -> Vec<std::ops::Range<usize>> {
    let mut calls = Vec::new();
    let (mut start, mut bytes) = (0usize, 0usize);
    for (i, r) in records.iter().enumerate() {
        let size = r.partition_key.len() + r.payload.len();
        if i > start && (i - start == MAX_CALL_RECORDS || bytes + size > MAX_CALL_BYTES) {
            calls.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < records.len() {
        calls.push(start..records.len());
    }
    calls
}

impl RecordSink for KinesisSink {
    fn name(&self) -> &'static str {
        "kinesis"
    }

    async fn send(&mut self, batch: &[SimRecord]) -> Result<()> {
        for call in plan_calls(batch) {
            let records: Vec<&SimRecord> = batch[call].iter().collect();
            self.put_all(&records).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordKind;

    fn rec(bytes: usize) -> SimRecord {
        SimRecord {
            partition_key: "MRN".into(),
            id: String::new(),
            payload: vec![b'x'; bytes],
            kind: RecordKind::Numeric,
            data_absent: false,
            ecg_samples: 0,
        }
    }

    #[test]
    fn calls_respect_the_record_and_byte_limits() {
        let small: Vec<SimRecord> = (0..1201).map(|_| rec(100)).collect();
        assert_eq!(plan_calls(&small), vec![0..500, 500..1000, 1000..1201]);
        // Five records of just under 1 MiB (key included) fit in 5 MiB, six do not.
        let big: Vec<SimRecord> = (0..6).map(|_| rec(1024 * 1024 - 10)).collect();
        assert_eq!(plan_calls(&big), vec![0..5, 5..6]);
        let bigger: Vec<SimRecord> = (0..6).map(|_| rec(1024 * 1024)).collect();
        assert_eq!(plan_calls(&bigger), vec![0..4, 4..6]);
        assert!(plan_calls(&[]).is_empty());
    }
}
