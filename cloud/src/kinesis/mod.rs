//! A Kinesis Data Streams client speaking the JSON 1.1 protocol: every call is
//! `POST /` with `Content-Type: application/x-amz-json-1.1`, the operation in
//! `X-Amz-Target: Kinesis_20131202.<Operation>`, a JSON body, and a SigV4
//! signature for service `kinesis`.
//!
//! The client does not retry: each call either succeeds or returns an
//! [`Error`] whose kind tells the caller whether to retry
//! ([`ErrorKind::Transient`]), refresh an iterator, or give up. It validates
//! the limits AWS documents (names, key and record sizes, batch sizes) before
//! sending, so a bad request fails fast with [`ErrorKind::InvalidInput`].
//!
//! [`ErrorKind::Transient`]: crate::ErrorKind::Transient
//! [`ErrorKind::InvalidInput`]: crate::ErrorKind::InvalidInput

mod model;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::Url;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::clock::{Clock, SystemClock};
use crate::error::{Context, Error, ErrorKind};
use crate::sigv4::{self, Credentials, Scope, SignableRequest};

use model::*;
pub use model::{
    GetRecordsOutput, HashKeyRange, IteratorStart, KinesisRecord, PutRecordOutput, PutRecordsEntry,
    PutRecordsOutput, Shard, StreamStatus, StreamSummary, sequence_cmp,
};

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const TARGET_PREFIX: &str = "Kinesis_20131202";
const SERVICE: &str = "kinesis";

/// AWS limits (Kinesis Data Streams quotas), checked before sending.
const MAX_RECORD_BYTES: usize = 1024 * 1024;
const MAX_BATCH_RECORDS: usize = 500;
const MAX_BATCH_BYTES: usize = 5 * 1024 * 1024;
const MAX_PARTITION_KEY_CHARS: usize = 256;
const MAX_GET_RECORDS_LIMIT: u32 = 10_000;

/// Where and as whom to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisConfig {
    /// `https://kinesis.eu-west-1.amazonaws.com`, or a local server such as
    /// `http://127.0.0.1:4567`.
    pub endpoint: String,
    /// The signing region, e.g. `eu-west-1`.
    pub region: String,
    pub credentials: Credentials,
}

/// A Kinesis Data Streams client. Cheap to clone: the HTTP client and clock
/// are shared.
#[derive(Debug, Clone)]
pub struct KinesisClient {
    endpoint: Url,
    region: String,
    credentials: Credentials,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    list_shards_page_size: Option<u32>,
}

impl KinesisClient {
    /// Checks the configuration once and builds the client. Timeouts, proxies
    /// and TLS roots are whatever `http` was built with.
    pub fn new(config: KinesisConfig, http: reqwest::Client) -> Result<Self, Error> {
        let endpoint = Url::parse(&config.endpoint).map_err(|e| Error::Endpoint {
            endpoint: config.endpoint.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            return Err(Error::Endpoint {
                endpoint: config.endpoint,
                reason: "not an http(s) url with a host".into(),
            });
        }
        if config.region.is_empty() {
            return Err(Error::Endpoint {
                endpoint: config.endpoint,
                reason: "the region is empty".into(),
            });
        }
        Ok(KinesisClient {
            endpoint,
            region: config.region,
            credentials: config.credentials,
            http,
            clock: Arc::new(SystemClock),
            list_shards_page_size: None,
        })
    }

    /// Signs with `clock`'s time instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Asks `list_shards` for pages of at most `n` shards (the server's default
    /// otherwise); small pages exercise pagination in tests.
    pub fn with_list_shards_page_size(mut self, n: u32) -> Self {
        self.list_shards_page_size = Some(n);
        self
    }

    /// The endpoint as configured (for messages and logs).
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// Creates a stream with `shard_count` shards. It starts CREATING; see
    /// [`KinesisClient::wait_for_active`]. An existing stream gives
    /// [`ErrorKind::InUse`].
    pub async fn create_stream(&self, stream: &str, shard_count: u32) -> Result<(), Error> {
        let ctx = self.context("CreateStream", Some(stream), None);
        check_stream_name(&ctx, stream)?;
        if shard_count == 0 {
            return Err(invalid(&ctx, "a stream needs at least one shard"));
        }
        let _: Ignored = self
            .call(
                &ctx,
                &CreateStreamInput {
                    stream_name: stream,
                    shard_count,
                },
            )
            .await?;
        Ok(())
    }

    /// Deletes a stream and its records (it is DELETING for a while).
    pub async fn delete_stream(&self, stream: &str) -> Result<(), Error> {
        let ctx = self.context("DeleteStream", Some(stream), None);
        check_stream_name(&ctx, stream)?;
        let _: Ignored = self
            .call(
                &ctx,
                &StreamNameInput {
                    stream_name: stream,
                },
            )
            .await?;
        Ok(())
    }

    /// The stream's status and open shard count.
    pub async fn describe_stream_summary(&self, stream: &str) -> Result<StreamSummary, Error> {
        let ctx = self.context("DescribeStreamSummary", Some(stream), None);
        check_stream_name(&ctx, stream)?;
        let out: DescribeStreamSummaryWire = self
            .call(
                &ctx,
                &StreamNameInput {
                    stream_name: stream,
                },
            )
            .await?;
        let s = out.stream_description_summary;
        Ok(StreamSummary {
            stream_name: s.stream_name,
            status: StreamStatus::parse(&s.stream_status),
            open_shard_count: s.open_shard_count,
            stream_arn: s.stream_arn,
        })
    }

    /// Polls until the stream is ACTIVE (after create, split, merge or
    /// resize), for at most `timeout`. Polls start at 50 ms and back off to
    /// 1 s. Giving up returns [`Error::NotActive`] (kind `Transient`).
    pub async fn wait_for_active(
        &self,
        stream: &str,
        timeout: Duration,
    ) -> Result<StreamSummary, Error> {
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            let summary = self.describe_stream_summary(stream).await?;
            if summary.status == StreamStatus::Active {
                return Ok(summary);
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(Error::NotActive {
                    stream: stream.to_string(),
                    endpoint: self.endpoint.to_string(),
                    status: summary.status.as_str().to_string(),
                    waited,
                });
            }
            tokio::time::sleep(pause.min(timeout - waited)).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// Every shard of the stream, open and closed, following `NextToken`
    /// across pages. Closed shards stay listed until their records expire.
    pub async fn list_shards(&self, stream: &str) -> Result<Vec<Shard>, Error> {
        let ctx = self.context("ListShards", Some(stream), None);
        check_stream_name(&ctx, stream)?;
        let mut shards = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            // AWS refuses StreamName together with NextToken: the token alone
            // names the stream.
            let input = ListShardsInput {
                stream_name: next_token.is_none().then_some(stream),
                next_token: next_token.as_deref(),
                max_results: self.list_shards_page_size,
            };
            let page: ListShardsWire = match self.call(&ctx, &input).await {
                // moto checks that follow-up pages repeat the first page's
                // StreamName, which AWS (and kinesalite) refuse. Its
                // `InvalidToken` is no AWS Kinesis error code, so this retry
                // only ever happens against moto (or LocalStack, built on it).
                Err(e) if next_token.is_some() && e.aws_code() == Some("InvalidToken") => {
                    let input = ListShardsInput {
                        stream_name: Some(stream),
                        ..input
                    };
                    self.call(&ctx, &input).await?
                }
                other => other?,
            };
            for wire in page.shards {
                let id = wire.shard_id.clone();
                let shard = wire.into_shard().ok_or_else(|| Error::Response {
                    context: Box::new(ctx.clone()),
                    status: 200,
                    detail: format!("shard `{id}` has a hash key that is not a 128-bit number"),
                })?;
                shards.push(shard);
            }
            match page.next_token {
                Some(token) if !token.is_empty() => next_token = Some(token),
                _ => return Ok(shards),
            }
        }
    }

    /// An iterator for reading `shard_id` from `start`. Iterators expire after
    /// five minutes ([`ErrorKind::ExpiredIterator`]).
    pub async fn get_shard_iterator(
        &self,
        stream: &str,
        shard_id: &str,
        start: IteratorStart,
    ) -> Result<String, Error> {
        let ctx = self.context("GetShardIterator", Some(stream), Some(shard_id));
        check_stream_name(&ctx, stream)?;
        let (kind, sequence_number) = start.wire();
        if sequence_number.is_some_and(|s| s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit())) {
            return Err(invalid(
                &ctx,
                "a sequence number is a non-empty decimal number",
            ));
        }
        let out: GetShardIteratorWire = self
            .call(
                &ctx,
                &GetShardIteratorInput {
                    stream_name: stream,
                    shard_id,
                    shard_iterator_type: kind,
                    starting_sequence_number: sequence_number,
                },
            )
            .await?;
        Ok(out.shard_iterator)
    }

    /// Reads up to `limit` records (1..=10000) at `shard_iterator`. Continue
    /// with `next_shard_iterator`; an empty page does not mean the end, only
    /// `next_shard_iterator == None` (closed shard, fully read) does.
    pub async fn get_records(
        &self,
        shard_iterator: &str,
        limit: u32,
    ) -> Result<GetRecordsOutput, Error> {
        let ctx = self.context("GetRecords", None, None);
        if !(1..=MAX_GET_RECORDS_LIMIT).contains(&limit) {
            return Err(invalid(
                &ctx,
                "the record limit must be between 1 and 10000",
            ));
        }
        if shard_iterator.is_empty() {
            return Err(invalid(
                &ctx,
                "the shard iterator is empty: get one with get_shard_iterator",
            ));
        }
        let out: GetRecordsWire = self
            .call(
                &ctx,
                &GetRecordsInput {
                    shard_iterator,
                    limit,
                },
            )
            .await?;
        let mut records = Vec::with_capacity(out.records.len());
        for r in out.records {
            let data = BASE64
                .decode(r.data.as_bytes())
                .map_err(|_| Error::Response {
                    context: Box::new(ctx.clone()),
                    status: 200,
                    detail: format!("record {} has data that is not base64", r.sequence_number),
                })?;
            records.push(KinesisRecord {
                approximate_arrival_ms: r
                    .approximate_arrival_timestamp
                    .filter(|t| t.is_finite())
                    .map(|t| (t * 1000.0).round() as i64),
                sequence_number: r.sequence_number,
                partition_key: r.partition_key,
                data,
            });
        }
        Ok(GetRecordsOutput {
            records,
            // Some servers send "" rather than omitting the field.
            next_shard_iterator: out.next_shard_iterator.filter(|s| !s.is_empty()),
            millis_behind_latest: out.millis_behind_latest,
        })
    }

    /// Stores one record; the partition key picks the shard.
    pub async fn put_record(
        &self,
        stream: &str,
        partition_key: &str,
        data: &[u8],
    ) -> Result<PutRecordOutput, Error> {
        let ctx = self.context("PutRecord", Some(stream), None);
        check_stream_name(&ctx, stream)?;
        check_record(&ctx, 0, partition_key, data)?;
        let out: PutRecordWire = self
            .call(
                &ctx,
                &PutRecordInput {
                    stream_name: stream,
                    partition_key,
                    data: BASE64.encode(data),
                },
            )
            .await?;
        Ok(PutRecordOutput {
            shard_id: out.shard_id,
            sequence_number: out.sequence_number,
        })
    }

    /// Stores up to 500 records (5 MiB) in one call. Records can fail one by
    /// one (throttling) while the call succeeds: check
    /// [`PutRecordsOutput::failed_indices`] and send those again.
    pub async fn put_records<K: AsRef<str>, D: AsRef<[u8]>>(
        &self,
        stream: &str,
        records: &[(K, D)],
    ) -> Result<PutRecordsOutput, Error> {
        let ctx = self.context("PutRecords", Some(stream), None);
        check_stream_name(&ctx, stream)?;
        if records.is_empty() || records.len() > MAX_BATCH_RECORDS {
            return Err(invalid(
                &ctx,
                &format!(
                    "a batch holds 1 to {MAX_BATCH_RECORDS} records, not {}: split it",
                    records.len()
                ),
            ));
        }
        let mut total = 0usize;
        let mut entries = Vec::with_capacity(records.len());
        for (i, (key, data)) in records.iter().enumerate() {
            let (key, data) = (key.as_ref(), data.as_ref());
            check_record(&ctx, i, key, data)?;
            total += key.len() + data.len();
            entries.push(PutRecordsRequestEntry {
                data: BASE64.encode(data),
                partition_key: key,
            });
        }
        if total > MAX_BATCH_BYTES {
            return Err(invalid(
                &ctx,
                &format!("the batch is {total} bytes, over the 5 MiB limit: split it"),
            ));
        }
        let out: PutRecordsWire = self
            .call(
                &ctx,
                &PutRecordsInput {
                    stream_name: stream,
                    records: entries,
                },
            )
            .await?;
        put_records_output(out, records.len()).map_err(|detail| Error::Response {
            context: Box::new(ctx),
            status: 200,
            detail,
        })
    }

    /// Splits an open shard at `new_starting_hash_key` (often
    /// `shard.hash_key_range.midpoint()`): the shard closes and two children
    /// open. The stream is UPDATING until the split is done.
    pub async fn split_shard(
        &self,
        stream: &str,
        shard_id: &str,
        new_starting_hash_key: u128,
    ) -> Result<(), Error> {
        let ctx = self.context("SplitShard", Some(stream), Some(shard_id));
        check_stream_name(&ctx, stream)?;
        let _: Ignored = self
            .call(
                &ctx,
                &SplitShardInput {
                    stream_name: stream,
                    shard_to_split: shard_id,
                    new_starting_hash_key: new_starting_hash_key.to_string(),
                },
            )
            .await?;
        Ok(())
    }

    /// Merges two open shards with adjacent hash key ranges into one child.
    pub async fn merge_shards(
        &self,
        stream: &str,
        shard_id: &str,
        adjacent_shard_id: &str,
    ) -> Result<(), Error> {
        let ctx = self.context("MergeShards", Some(stream), Some(shard_id));
        check_stream_name(&ctx, stream)?;
        let _: Ignored = self
            .call(
                &ctx,
                &MergeShardsInput {
                    stream_name: stream,
                    shard_to_merge: shard_id,
                    adjacent_shard_to_merge: adjacent_shard_id,
                },
            )
            .await?;
        Ok(())
    }

    /// Resizes the stream to `target_shard_count` open shards with uniform
    /// scaling. Not every server has it (kinesalite answers
    /// [`ErrorKind::Unsupported`]).
    pub async fn update_shard_count(
        &self,
        stream: &str,
        target_shard_count: u32,
    ) -> Result<(), Error> {
        let ctx = self.context("UpdateShardCount", Some(stream), None);
        check_stream_name(&ctx, stream)?;
        if target_shard_count == 0 {
            return Err(invalid(&ctx, "a stream needs at least one shard"));
        }
        let _: Ignored = self
            .call(
                &ctx,
                &UpdateShardCountInput {
                    stream_name: stream,
                    target_shard_count,
                    scaling_type: "UNIFORM_SCALING",
                },
            )
            .await?;
        Ok(())
    }

    fn context(
        &self,
        operation: &'static str,
        stream: Option<&str>,
        shard: Option<&str>,
    ) -> Context {
        Context {
            operation,
            endpoint: self.endpoint.to_string(),
            stream: stream.map(str::to_string),
            shard: shard.map(str::to_string),
        }
    }

    /// Sends one signed JSON 1.1 call and decodes the answer.
    async fn call<I: Serialize, O: DeserializeOwned>(
        &self,
        ctx: &Context,
        input: &I,
    ) -> Result<O, Error> {
        let body = serde_json::to_vec(input).map_err(|e| invalid(ctx, &e.to_string()))?;
        let target = format!("{TARGET_PREFIX}.{}", ctx.operation);
        let payload_sha256 = sigv4::sha256_hex(&body);
        let signature = sigv4::sign(
            &SignableRequest {
                method: "POST",
                url: &self.endpoint,
                headers: &[("content-type", CONTENT_TYPE), ("x-amz-target", &target)],
                payload_sha256: &payload_sha256,
            },
            &self.credentials,
            Scope {
                region: &self.region,
                service: SERVICE,
            },
            self.clock.now(),
        )?;
        let mut request = self
            .http
            .post(self.endpoint.clone())
            .header("content-type", CONTENT_TYPE)
            .header("x-amz-target", &target);
        for (name, value) in signature.headers() {
            request = request.header(name, value);
        }
        let started = std::time::Instant::now();
        let response = request.body(body).send().await.map_err(|source| {
            tracing::debug!(operation = ctx.operation, error = %source, "kinesis call got no answer");
            Error::Transport {
                context: Box::new(ctx.clone()),
                source,
            }
        })?;
        let status = response.status().as_u16();
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = response.bytes().await.map_err(|source| Error::Transport {
            context: Box::new(ctx.clone()),
            source,
        })?;
        // Fields only: operation, stream, status and timing, never bodies.
        tracing::debug!(
            operation = ctx.operation,
            stream = ctx.stream.as_deref().unwrap_or(""),
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "kinesis call"
        );
        if !(200..300).contains(&status) {
            let err = Error::from_response(ctx.clone(), status, error_type.as_deref(), &bytes);
            if err.kind() == ErrorKind::Transient {
                tracing::debug!(
                    operation = ctx.operation,
                    status,
                    code = err.aws_code().unwrap_or(""),
                    "kinesis call throttled or failed transiently"
                );
            }
            return Err(err);
        }
        // Operations without output may answer with an empty body.
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(bytes).map_err(|e| Error::Response {
            context: Box::new(ctx.clone()),
            status,
            // serde's message names the field and position, not the values.
            detail: format!("response json does not match: {e}"),
        })
    }
}

/// Turns a `PutRecords` answer for `sent` records into per-record outcomes.
/// An entry counts as stored only with a sequence number, a shard and no
/// error code, so a malformed entry is retried rather than silently lost.
fn put_records_output(out: PutRecordsWire, sent: usize) -> Result<PutRecordsOutput, String> {
    if out.records.len() != sent {
        return Err(format!("{} results for {sent} records", out.records.len()));
    }
    let records: Vec<PutRecordsEntry> = out
        .records
        .into_iter()
        .map(|r| match (r.error_code, r.sequence_number, r.shard_id) {
            (None, Some(sequence_number), Some(shard_id)) => PutRecordsEntry::Stored {
                shard_id,
                sequence_number,
            },
            (code, _, _) => PutRecordsEntry::Failed {
                error_code: code.unwrap_or_else(|| "MissingResult".into()),
                error_message: r.error_message.unwrap_or_default(),
            },
        })
        .collect();
    let counted = records
        .iter()
        .filter(|r| matches!(r, PutRecordsEntry::Failed { .. }))
        .count() as u32;
    Ok(PutRecordsOutput {
        // The per-record results decide; the summary count can only add.
        failed_record_count: out.failed_record_count.unwrap_or(counted).max(counted),
        records,
    })
}

fn invalid(ctx: &Context, problem: &str) -> Error {
    Error::InvalidInput {
        context: Box::new(ctx.clone()),
        problem: problem.to_string(),
    }
}

fn check_stream_name(ctx: &Context, stream: &str) -> Result<(), Error> {
    let ok = (1..=128).contains(&stream.len())
        && stream
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            ctx,
            "a stream name is 1 to 128 characters from a-z, A-Z, 0-9, `_`, `.`, `-`: fix the stream name",
        ))
    }
}

/// Checks one record against AWS's limits. Messages name the record's index,
/// never its key or data.
fn check_record(
    ctx: &Context,
    index: usize,
    partition_key: &str,
    data: &[u8],
) -> Result<(), Error> {
    let key_chars = partition_key.chars().count();
    if key_chars == 0 || key_chars > MAX_PARTITION_KEY_CHARS {
        return Err(invalid(
            ctx,
            &format!(
                "record {index}: a partition key is 1 to {MAX_PARTITION_KEY_CHARS} characters, not {key_chars}"
            ),
        ));
    }
    if data.len() + partition_key.len() > MAX_RECORD_BYTES {
        return Err(invalid(
            ctx,
            &format!(
                "record {index}: data and partition key are {} bytes, over the 1 MiB record limit: split the record",
                data.len() + partition_key.len()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> KinesisClient {
        KinesisClient::new(
            KinesisConfig {
                // Nothing listens here; these tests must fail before sending.
                endpoint: "http://127.0.0.1:9".into(),
                region: "us-east-1".into(),
                credentials: Credentials {
                    access_key_id: "AKID".into(),
                    secret_access_key: "SECRET".into(),
                    session_token: None,
                },
            },
            reqwest::Client::new(),
        )
        .expect("valid config")
    }

    #[test]
    fn bad_endpoints_are_refused_at_construction() {
        for endpoint in ["", "kinesis.eu-west-1.amazonaws.com", "ftp://x/", "http://"] {
            let err = KinesisClient::new(
                KinesisConfig {
                    endpoint: endpoint.into(),
                    region: "eu-west-1".into(),
                    credentials: Credentials {
                        access_key_id: "a".into(),
                        secret_access_key: "b".into(),
                        session_token: None,
                    },
                },
                reqwest::Client::new(),
            )
            .expect_err(endpoint);
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{endpoint}");
        }
    }

    #[tokio::test]
    async fn oversized_and_empty_input_fails_before_sending() {
        let c = client();
        let big = vec![0u8; MAX_RECORD_BYTES + 1];
        let err = c.put_record("s", "k", &big).await.expect_err("too big");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err = c.put_record("s", "", b"x").await.expect_err("empty key");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let long_key = "k".repeat(257);
        let err = c
            .put_record("s", &long_key, b"x")
            .await
            .expect_err("long key");
        assert!(
            !err.to_string().contains(&long_key),
            "keys stay out of messages"
        );
        let none: [(&str, &[u8]); 0] = [];
        let err = c.put_records("s", &none).await.expect_err("empty batch");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let many = vec![("k", b"x".as_slice()); 501];
        let err = c.put_records("s", &many).await.expect_err("501 records");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err = c.get_records("it", 0).await.expect_err("limit 0");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err = c.create_stream("bad name!", 1).await.expect_err("bad name");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err = c
            .get_shard_iterator(
                "s",
                "shardId-0",
                IteratorStart::AfterSequenceNumber("12a".into()),
            )
            .await
            .expect_err("bad sequence number");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn put_records_partial_failure_names_the_records_to_retry() {
        // The shape AWS documents for a throttled batch.
        let body = r#"{"FailedRecordCount":2,"Records":[
            {"SequenceNumber":"4959","ShardId":"shardId-000000000000"},
            {"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded for shard shardId-000000000001 in stream s under account 111122223333."},
            {"SequenceNumber":"4960","ShardId":"shardId-000000000000"},
            {"ErrorCode":"InternalFailure","ErrorMessage":"Internal service failure."}]}"#;
        let wire: PutRecordsWire = serde_json::from_str(body).expect("valid json");
        let out = put_records_output(wire, 4).expect("one result per record");
        assert_eq!(out.failed_record_count, 2);
        assert_eq!(out.failed_indices(), vec![1, 3]);
        assert_eq!(
            out.records[0],
            PutRecordsEntry::Stored {
                shard_id: "shardId-000000000000".into(),
                sequence_number: "4959".into()
            }
        );
        assert!(
            matches!(&out.records[1], PutRecordsEntry::Failed { error_code, .. }
            if error_code == "ProvisionedThroughputExceededException")
        );
    }

    #[test]
    fn put_records_answer_with_missing_entries_is_an_error() {
        let wire: PutRecordsWire = serde_json::from_str(
            r#"{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1","ShardId":"s"}]}"#,
        )
        .expect("valid json");
        assert!(put_records_output(wire, 2).is_err());
        // An entry with neither a result nor an error is retried, not dropped.
        let wire: PutRecordsWire = serde_json::from_str(r#"{"Records":[{}]}"#).expect("valid json");
        let out = put_records_output(wire, 1).expect("one entry");
        assert_eq!(out.failed_indices(), vec![0]);
        assert_eq!(out.failed_record_count, 1);
    }

    #[tokio::test]
    async fn a_refused_connection_is_transient() {
        // Port 9 (discard) is closed on loopback here: connection refused.
        let err = client()
            .describe_stream_summary("s")
            .await
            .expect_err("nothing listens");
        assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
        assert!(
            err.to_string()
                .contains("DescribeStreamSummary on stream `s`")
        );
    }
}
