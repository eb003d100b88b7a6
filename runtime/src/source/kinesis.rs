//! The AWS Kinesis Data Streams source: every shard of a stream, each read in
//! order by its own task with GetRecords, resumed AFTER_SEQUENCE_NUMBER from
//! the stored checkpoint (TRIM_HORIZON the first time). Resharding is
//! handled as the Kinesis developer guide describes: a closed shard is read
//! to its end (GetRecords returns no next iterator), and a child shard is
//! read only once its parents are finished, so a patient's records stay in
//! order across a split or merge.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use wardwatch_cloud::{ErrorKind, IteratorStart, KinesisClient, KinesisConfig, Shard};

use super::backoff::Backoff;
use crate::pipeline::{MAX_BATCH, RawRecord, SourceEvent};

/// GetRecords per call (AWS allows up to 10,000 records or 10 MB).
const GET_LIMIT: u32 = 1000;
/// Idle poll interval per shard: AWS allows 5 GetRecords a second per shard,
/// shared by every consumer.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// How often the shard list is refreshed to find children after a reshard.
const RESHARD_POLL: Duration = Duration::from_secs(10);

/// When a batch "arrived", for its queue age and alarm latency: when Kinesis
/// accepted its oldest record (`ApproximateArrivalTimestamp`), so the time a
/// record waited in the stream for the next GetRecords counts, as it does
/// for a patient; the read itself (`read_at`) when no record says, or when
/// the stream's clock runs ahead of ours.
fn arrived_at(
    read_at: std::time::Instant,
    now_ms: i64,
    arrived: &[Option<i64>],
) -> std::time::Instant {
    let Some(oldest) = arrived.iter().flatten().min() else {
        return read_at;
    };
    let waited = u64::try_from(now_ms.saturating_sub(*oldest)).unwrap_or(0);
    read_at
        .checked_sub(Duration::from_millis(waited))
        .unwrap_or(read_at)
}

/// Where the source is configured to read.
#[derive(Debug, Clone)]
pub struct KinesisSource {
    pub name: String,
    pub endpoint: String,
    pub stream: String,
    pub region: String,
    /// `env:PREFIX`: keys from PREFIX_ACCESS_KEY_ID, PREFIX_SECRET_ACCESS_KEY
    /// and optionally PREFIX_SESSION_TOKEN.
    pub credentials: String,
    /// A PEM file of CA certificates to trust beside the system's.
    pub ca_bundle: Option<String>,
}

/// Reads the stream until `stop`. `checkpoints` map shard ids to the last
/// stored sequence number.
pub async fn run(
    source: KinesisSource,
    checkpoints: HashMap<String, String>,
    tx: mpsc::Sender<SourceEvent>,
    mut stop: watch::Receiver<bool>,
) {
    let seed = source
        .name
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30), seed);
    let client = loop {
        let built = crate::vault::credentials(&source.credentials).and_then(|credentials| {
            KinesisClient::new(KinesisConfig {
                endpoint: source.endpoint.clone(),
                region: source.region.clone(),
                credentials,
                timeout: Duration::from_secs(30),
                ca_bundle: source.ca_bundle.clone(),
            })
            .map_err(|e| e.to_string())
        });
        match built {
            Ok(c) => break c,
            Err(e) => {
                if !report(&tx, &source.name, e).await
                    || !pause(&mut stop, backoff.next_delay()).await
                {
                    return;
                }
            }
        }
    };

    let mut finished: HashSet<String> = HashSet::new();
    let mut running: HashMap<String, ()> = HashMap::new();
    let mut readers: JoinSet<(String, bool)> = JoinSet::new();
    let mut checkpoints = checkpoints;
    loop {
        match client.list_shards(&source.stream).await {
            Ok(shards) => {
                backoff.reset();
                let listed: HashSet<&str> = shards.iter().map(|s| s.shard_id.as_str()).collect();
                for shard in &shards {
                    if finished.contains(&shard.shard_id) || running.contains_key(&shard.shard_id) {
                        continue;
                    }
                    if !parents_done(shard, &finished, &listed) {
                        continue;
                    }
                    running.insert(shard.shard_id.clone(), ());
                    let reader = ShardReader {
                        client: client.clone(),
                        source: source.name.clone(),
                        stream: source.stream.clone(),
                        shard_id: shard.shard_id.clone(),
                        after: checkpoints.remove(&shard.shard_id),
                        tx: tx.clone(),
                        stop: stop.clone(),
                    };
                    readers.spawn(reader.run());
                }
            }
            Err(e) => {
                let kind = e.kind();
                if !report(&tx, &source.name, e.to_string()).await {
                    return;
                }
                let delay = if kind == ErrorKind::Transient {
                    backoff.next_delay()
                } else {
                    Duration::from_secs(30)
                };
                if !pause(&mut stop, delay).await {
                    break;
                }
                continue;
            }
        }
        // Wait for a reader to finish its shard, a refresh, or shutdown.
        tokio::select! {
            Some(done) = readers.join_next(), if !readers.is_empty() => {
                if let Ok((shard_id, drained)) = done {
                    running.remove(&shard_id);
                    if drained {
                        finished.insert(shard_id);
                    }
                }
            }
            _ = tokio::time::sleep(RESHARD_POLL) => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
    }
    while readers.join_next().await.is_some() {}
}

/// A child shard waits for each parent still listed and not yet drained.
fn parents_done(shard: &Shard, finished: &HashSet<String>, listed: &HashSet<&str>) -> bool {
    [&shard.parent_shard_id, &shard.adjacent_parent_shard_id]
        .into_iter()
        .flatten()
        .all(|p| finished.contains(p) || !listed.contains(p.as_str()))
}

/// Tells the writer about a failure; false when the writer is gone.
async fn report(tx: &mpsc::Sender<SourceEvent>, source: &str, error: String) -> bool {
    let error = wardwatch_core::text::redact_secrets(&error).into_owned();
    tracing::warn!(source = %source, error = %error, "kinesis source error; retrying");
    tx.send(SourceEvent::Reconnect {
        source: source.to_owned(),
        error,
    })
    .await
    .is_ok()
}

/// Sleeps unless stopped; false when stopped.
async fn pause(stop: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => !*stop.borrow(),
        _ = stop.changed() => false,
    }
}

struct ShardReader {
    client: KinesisClient,
    source: String,
    stream: String,
    shard_id: String,
    after: Option<String>,
    tx: mpsc::Sender<SourceEvent>,
    stop: watch::Receiver<bool>,
}

impl ShardReader {
    /// Returns the shard id and whether the shard was read to its end.
    async fn run(mut self) -> (String, bool) {
        let seed = self
            .shard_id
            .bytes()
            .fold(11u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(20), seed);
        let mut iterator: Option<String> = None;
        loop {
            if *self.stop.borrow() {
                return (self.shard_id, false);
            }
            let it = match &iterator {
                Some(it) => it.clone(),
                None => {
                    let start = match &self.after {
                        Some(seq) => IteratorStart::AfterSequenceNumber(seq.clone()),
                        None => IteratorStart::TrimHorizon,
                    };
                    match self
                        .client
                        .get_shard_iterator(&self.stream, &self.shard_id, start)
                        .await
                    {
                        Ok(it) => it,
                        Err(e) if e.kind() == ErrorKind::NotFound => return (self.shard_id, true),
                        Err(e) => {
                            if !report(&self.tx, &self.source, e.to_string()).await
                                || !pause(&mut self.stop, backoff.next_delay()).await
                            {
                                return (self.shard_id, false);
                            }
                            continue;
                        }
                    }
                }
            };
            match self.client.get_records(&it, GET_LIMIT).await {
                Ok(out) => {
                    backoff.reset();
                    let got = out.records.len();
                    if let Some(last) = out.records.last() {
                        self.after = Some(last.sequence_number.clone());
                    }
                    let read_at = std::time::Instant::now();
                    let now_ms = chrono::Utc::now().timestamp_millis();
                    let (records, arrivals): (Vec<RawRecord>, Vec<Option<i64>>) = out
                        .records
                        .into_iter()
                        .map(|r| {
                            (
                                RawRecord::new(r.sequence_number, r.data),
                                r.approximate_arrival_ms,
                            )
                        })
                        .unzip();
                    for (chunk, arrived) in
                        records.chunks(MAX_BATCH).zip(arrivals.chunks(MAX_BATCH))
                    {
                        let sent = self
                            .tx
                            .send(SourceEvent::Batch {
                                source: self.source.clone(),
                                shard: self.shard_id.clone(),
                                records: chunk.to_vec(),
                                read_at: arrived_at(read_at, now_ms, arrived),
                            })
                            .await;
                        if sent.is_err() {
                            return (self.shard_id, false);
                        }
                    }
                    if let Some(ms) = out.millis_behind_latest {
                        let _ = self
                            .tx
                            .send(SourceEvent::Lag {
                                source: self.source.clone(),
                                millis_behind: ms,
                            })
                            .await;
                    }
                    match out.next_shard_iterator {
                        None => return (self.shard_id, true),
                        Some(next) => iterator = Some(next),
                    }
                    if got == 0 && !pause(&mut self.stop, IDLE_POLL).await {
                        return (self.shard_id, false);
                    }
                }
                Err(e) => {
                    match e.kind() {
                        // Iterators last 5 minutes: get a new one after the last record read.
                        ErrorKind::ExpiredIterator => iterator = None,
                        ErrorKind::NotFound => return (self.shard_id, true),
                        _ => {
                            iterator = None;
                            if !report(&self.tx, &self.source, e.to_string()).await
                                || !pause(&mut self.stop, backoff.next_delay()).await
                            {
                                return (self.shard_id, false);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_batch_arrived_when_kinesis_accepted_its_oldest_record() {
        let read = Instant::now();
        let now_ms = 1_000_000;
        // Waited 300 ms in the stream: the latency counts from then.
        let at = arrived_at(
            read,
            now_ms,
            &[Some(now_ms - 100), Some(now_ms - 300), None],
        );
        assert_eq!(read - at, Duration::from_millis(300));
        // No arrival times, or a stream clock ahead of ours: the read.
        assert_eq!(arrived_at(read, now_ms, &[None, None]), read);
        assert_eq!(arrived_at(read, now_ms, &[Some(now_ms + 2_000)]), read);
    }
}
