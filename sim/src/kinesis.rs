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
//!
//! A ward's devices put at once, not one call after another: a batch goes
//! out in `LANES` lanes of calls in flight together, a patient's records
//! always in the same lane (by a hash of the MRN), so they arrive in order
//! (retries apart).

use std::time::Duration;

use wardwatch_cloud::{ErrorKind as CloudErrorKind, KinesisClient};

use crate::error::{Error, Result};
use crate::record::SimRecord;
use crate::sink::RecordSink;

const MAX_CALL_RECORDS: usize = 500;
const MAX_CALL_BYTES: usize = 5 * 1024 * 1024;
/// `PutRecords` calls in flight at once.
pub const LANES: usize = 4;

/// The lane of a partition key (FNV-1a of its bytes).
fn lane_of(key: &str) -> usize {
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (h % LANES as u64) as usize
}

/// Calls made and records put again, by one lane.
#[derive(Debug, Default)]
struct Tally {
    calls: u64,
    retried: u64,
}

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
}

/// Puts `records` in one call, again for those that fail (throttled) with
/// exponential backoff, up to the retry policy's attempts.
async fn put_all(
    client: &KinesisClient,
    stream: &str,
    retry: Retry,
    records: &[&SimRecord],
    tally: &mut Tally,
) -> Result<()> {
    let mut pending: Vec<&SimRecord> = records.to_vec();
    let mut backoff = retry.initial_backoff;
    for attempt in 1..=retry.max_attempts.max(1) {
        let entries: Vec<(&str, &[u8])> = pending
            .iter()
            .map(|r| (r.partition_key.as_str(), r.payload.as_slice()))
            .collect();
        tally.calls += 1;
        let failed: Vec<&SimRecord> = match client.put_records(stream, &entries).await {
            Ok(out) => out
                .failed_indices()
                .into_iter()
                .map(|i| pending[i])
                .collect(),
            Err(e) if e.kind() == CloudErrorKind::Transient => pending.clone(),
            Err(e) => {
                return Err(Error::Kinesis {
                    stream: stream.to_owned(),
                    source: e,
                });
            }
        };
        if failed.is_empty() {
            return Ok(());
        }
        if attempt == retry.max_attempts {
            break;
        }
        tracing::debug!(
            stream = %stream,
            failed = failed.len(),
            attempt,
            "throttled: putting records again"
        );
        tally.retried += failed.len() as u64;
        pending = failed;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(retry.max_backoff);
    }
    Err(Error::KinesisThrottled {
        stream: stream.to_owned(),
        records: pending.len(),
        attempts: retry.max_attempts,
    })
}

/// Splits records into `PutRecords` calls within the AWS limits (records in
/// order; a call closes before it would pass 500 records or 5 MiB of keys and
/// data). Returns index ranges into `records`.
pub fn plan_calls<R: std::borrow::Borrow<SimRecord>>(records: &[R]) -> Vec<std::ops::Range<usize>> {
    let mut calls = Vec::new();
    let (mut start, mut bytes) = (0usize, 0usize);
    for (i, r) in records.iter().enumerate() {
        let r = r.borrow();
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
        let mut lanes: Vec<Vec<&SimRecord>> = vec![Vec::new(); LANES];
        for r in batch {
            lanes[lane_of(&r.partition_key)].push(r);
        }
        let (client, stream, retry) = (&self.client, self.stream.as_str(), self.retry);
        let done = futures_util::future::join_all(lanes.iter().filter(|l| !l.is_empty()).map(
            |lane| async move {
                let mut tally = Tally::default();
                for call in plan_calls(lane) {
                    if let Err(e) = put_all(client, stream, retry, &lane[call], &mut tally).await {
                        return (tally, Err(e));
                    }
                }
                (tally, Ok(()))
            },
        ))
        .await;
        let mut first_error = None;
        for (tally, result) in done {
            self.calls += tally.calls;
            self.retried_records += tally.retried;
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
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

    /// A patient's records always take the same lane (so they are put in
    /// order), and a ward's patients spread over every lane.
    #[test]
    fn a_patient_keeps_one_lane_and_a_ward_uses_them_all() {
        let mrns: Vec<String> = (0..200).map(|k| format!("MRN{k:06}")).collect();
        let mut used = [0usize; LANES];
        for m in &mrns {
            assert_eq!(lane_of(m), lane_of(&m.clone()));
            used[lane_of(m)] += 1;
        }
        assert!(used.iter().all(|&n| n >= 20), "{used:?}");
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
        assert!(plan_calls::<SimRecord>(&[]).is_empty());
    }
}
