//! A Kinesis Data Streams client on the AWS SDK for Rust
//! (`aws-sdk-kinesis`): the SDK signs (SigV4), serialises and resolves
//! credentials (keys, or the standard AWS chain); this module keeps what
//! Wardwatch adds around it:
//!
//! - The client does not retry (the SDK's retries are off): each call
//!   either succeeds or returns an [`Error`] whose kind tells the caller
//!   whether to retry ([`ErrorKind::Transient`]), refresh an iterator, or give
//!   up — the callers own their back-off.
//! - It validates the limits AWS documents (names, key and record sizes,
//!   batch sizes) before sending, so a bad request fails fast with
//!   [`ErrorKind::InvalidInput`].
//! - Errors are classified from the HTTP answer itself (the AWS error code in
//!   `x-amzn-ErrorType`, a JSON `__type` or an XML `<Code>`), with request
//!   values the server echoes removed: partition keys and records carry
//!   patient data.
//! - The SDK client is built at the first call (resolving the AWS chain is
//!   asynchronous), through the proxy the environment names.
//!
//! [`ErrorKind::Transient`]: crate::ErrorKind::Transient
//! [`ErrorKind::InvalidInput`]: crate::ErrorKind::InvalidInput

mod model;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::error::SdkError;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ScalingType, ShardIteratorType};
use aws_smithy_async::time::{SharedTimeSource, TimeSource};
use reqwest::Url;

use crate::clock::Clock;
use crate::credentials::CredentialSource;
use crate::error::{Context, Error, ErrorKind};

pub use model::{
    GetRecordsOutput, HashKeyRange, IteratorStart, KinesisRecord, PutRecordOutput, PutRecordsEntry,
    PutRecordsOutput, Shard, StreamStatus, StreamSummary, sequence_cmp,
};

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
    pub credentials: CredentialSource,
    /// The longest one call may take (connecting, sending, answering).
    pub timeout: Duration,
    /// A PEM file of CA certificates to trust beside the system's (an
    /// endpoint behind a hospital's own CA).
    pub ca_bundle: Option<String>,
}

/// A Kinesis Data Streams client. Cheap to clone: the SDK client is shared.
#[derive(Debug, Clone)]
pub struct KinesisClient {
    endpoint: Url,
    config: KinesisConfig,
    clock: Option<Arc<dyn Clock>>,
    list_shards_page_size: Option<u32>,
    sdk: Arc<tokio::sync::OnceCell<aws_sdk_kinesis::Client>>,
}

/// A [`Clock`] as the SDK's time source (what it signs with).
#[derive(Debug)]
struct ClockTime(Arc<dyn Clock>);

impl TimeSource for ClockTime {
    fn now(&self) -> std::time::SystemTime {
        let t = self.0.now();
        std::time::UNIX_EPOCH + Duration::from_millis(t.timestamp_millis().max(0) as u64)
    }
}

impl KinesisClient {
    /// Checks the configuration once and builds the client.
    pub fn new(config: KinesisConfig) -> Result<Self, Error> {
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
            config,
            clock: None,
            list_shards_page_size: None,
            sdk: Arc::new(tokio::sync::OnceCell::new()),
        })
    }

    /// Signs with `clock`'s time instead of the system clock (before the
    /// first call).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self.sdk = Arc::new(tokio::sync::OnceCell::new());
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

    /// The SDK client, built at the first call.
    async fn sdk(&self, ctx: &Context) -> Result<&aws_sdk_kinesis::Client, Error> {
        self.sdk
            .get_or_try_init(|| async {
                let c = &self.config;
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .region(aws_config::Region::new(c.region.clone()))
                    .endpoint_url(c.endpoint.clone())
                    .retry_config(aws_config::retry::RetryConfig::disabled())
                    .timeout_config(
                        aws_config::timeout::TimeoutConfig::builder()
                            .connect_timeout(c.timeout.min(Duration::from_secs(10)))
                            .operation_timeout(c.timeout)
                            .build(),
                    );
                match &c.credentials {
                    CredentialSource::Keys(keys) => {
                        loader = loader.credentials_provider(keys.to_sdk());
                    }
                    CredentialSource::AwsChain {
                        profile: Some(profile),
                    } => loader = loader.profile_name(profile),
                    CredentialSource::AwsChain { profile: None } => {}
                }
                if let Some(clock) = &self.clock {
                    loader = loader.time_source(SharedTimeSource::new(ClockTime(clock.clone())));
                }
                if let Some(http) = crate::http::sdk_http_client(c.ca_bundle.as_deref())
                    .map_err(|reason| invalid(ctx, &reason))?
                {
                    loader = loader.http_client(http);
                }
                let shared = loader.load().await;
                Ok(aws_sdk_kinesis::Client::new(&shared))
            })
            .await
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
        self.sdk(&ctx)
            .await?
            .create_stream()
            .stream_name(stream)
            .shard_count(count(&ctx, shard_count)?)
            .send()
            .await
            .map_err(|e| sdk_error(&ctx, e))?;
        Ok(())
    }

    /// Deletes a stream and its records (it is DELETING for a while).
    pub async fn delete_stream(&self, stream: &str) -> Result<(), Error> {
        let ctx = self.context("DeleteStream", Some(stream), None);
        check_stream_name(&ctx, stream)?;
        self.sdk(&ctx)
            .await?
            .delete_stream()
            .stream_name(stream)
            .send()
            .await
            .map_err(|e| sdk_error(&ctx, e))?;
        Ok(())
    }

    /// The stream's status and open shard count.
    pub async fn describe_stream_summary(&self, stream: &str) -> Result<StreamSummary, Error> {
        let ctx = self.context("DescribeStreamSummary", Some(stream), None);
        check_stream_name(&ctx, stream)?;
        let out = self
            .sdk(&ctx)
            .await?
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .map_err(|e| sdk_error(&ctx, e))?;
        let s = out
            .stream_description_summary()
            .ok_or_else(|| response(&ctx, "no StreamDescriptionSummary"))?;
        Ok(StreamSummary {
            stream_name: s.stream_name().to_owned(),
            status: StreamStatus::parse(s.stream_status().as_str()),
            open_shard_count: u32::try_from(s.open_shard_count()).ok(),
            stream_arn: Some(s.stream_arn().to_owned()).filter(|a| !a.is_empty()),
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
        let sdk = self.sdk(&ctx).await?;
        let mut shards = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            // AWS refuses StreamName together with NextToken: the token alone
            // names the stream.
            let page_size = self
                .list_shards_page_size
                .and_then(|n| i32::try_from(n).ok());
            let ask = |with_name: bool| {
                sdk.list_shards()
                    .set_stream_name(with_name.then(|| stream.to_owned()))
                    .set_next_token(next_token.clone())
                    .set_max_results(page_size)
                    .send()
            };
            let page = match ask(next_token.is_none())
                .await
                .map_err(|e| sdk_error(&ctx, e))
            {
                // moto checks that follow-up pages repeat the first page's
                // StreamName, which AWS (and kinesalite) refuse. Its
                // `InvalidToken` is no AWS Kinesis error code, so this retry
                // only ever happens against moto (or LocalStack, built on it).
                Err(e) if next_token.is_some() && e.aws_code() == Some("InvalidToken") => {
                    ask(true).await.map_err(|e| sdk_error(&ctx, e))?
                }
                other => other?,
            };
            for s in page.shards() {
                let id = s.shard_id();
                let hash = |v: &str| v.parse::<u128>().ok();
                let range = s.hash_key_range().and_then(|r| {
                    Some(HashKeyRange {
                        starting: hash(r.starting_hash_key())?,
                        ending: hash(r.ending_hash_key())?,
                    })
                });
                let range = range.ok_or_else(|| {
                    response(
                        &ctx,
                        &format!("shard `{id}` has a hash key that is not a 128-bit number"),
                    )
                })?;
                let seq = s.sequence_number_range();
                shards.push(Shard {
                    shard_id: id.to_owned(),
                    parent_shard_id: s.parent_shard_id().map(str::to_owned),
                    adjacent_parent_shard_id: s.adjacent_parent_shard_id().map(str::to_owned),
                    hash_key_range: range,
                    starting_sequence_number: seq
                        .map(|r| r.starting_sequence_number().to_owned())
                        .unwrap_or_default(),
                    ending_sequence_number: seq
                        .and_then(|r| r.ending_sequence_number())
                        .map(str::to_owned),
                });
            }
            match page.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
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
        let out = self
            .sdk(&ctx)
            .await?
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard_id)
            .shard_iterator_type(ShardIteratorType::from(kind))
            .set_starting_sequence_number(sequence_number.map(str::to_owned))
            .send()
            .await
            .map_err(|e| sdk_error(&ctx, e))?;
        out.shard_iterator()
            .map(str::to_owned)
            .ok_or_else(|| response(&ctx, "no ShardIterator"))
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
        let out = self
            .sdk(&ctx)
            .await?
            .get_records()
            .shard_iterator(shard_iterator)
            .limit(count(&ctx, limit)?)
            .send()
            .await
            .map_err(|e| sdk_error(&ctx, e))?;
        let records = out
            .records()
            .iter()
            .map(|r| KinesisRecord {
                approximate_arrival_ms: r
                    .approximate_arrival_timestamp()
                    .and_then(|t| t.to_millis().ok()),
                sequence_number: r.sequence_number().to_owned(),
                partition_key: r.partition_key().to_owned(),
                data: r.data().as_ref().to_vec(),
            })
            .collect();
        Ok(GetRecordsOutput {
            records,
            // Some servers send "" rather than omitting the field.
            next_shard_iterator: out
                .next_shard_iterator()
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            millis_behind_latest: out.millis_behind_latest(),
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
        let out = self
            .sdk(&ctx)
            .await?
            .put_record()
            .stream_name(stream)
            .partition_key(partition_key)
            .data(Blob::new(data))
            .send()
            .await
            .map_err(|e| sdk_error(&ctx, e))?;
        Ok(PutRecordOutput {
            shard_id: out.shard_id().to_owned(),
            sequence_number: out.sequence_number().to_owned(),
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
            entries.push(
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(data))
                    .partition_key(key)
                    .build()
                    .map_err(|e| invalid(&ctx, &format!("record {i}: {e}")))?,
            );
        }
        if total > MAX_BATCH_BYTES {
            return Err(invalid(
                &ctx,
                &format!("the batch is {total} bytes, over the 5 MiB limit: split it"),
            ));
        }
        let out = self
            .sdk(&ctx)
            .await?
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await
            .map_err(|e| sdk_error(&ctx, e))?;
        let results = out
            .records()
            .iter()
            .map(|r| {
                (
                    r.error_code().map(str::to_owned),
                    r.error_message().map(str::to_owned),
                    r.sequence_number().map(str::to_owned),
                    r.shard_id().map(str::to_owned),
                )
            })
            .collect();
        put_records_output(
            results,
            out.failed_record_count()
                .and_then(|n| u32::try_from(n).ok()),
            records.len(),
        )
        .map_err(|detail| response(&ctx, &detail))
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
        self.sdk(&ctx)
            .await?
            .split_shard()
            .stream_name(stream)
            .shard_to_split(shard_id)
            .new_starting_hash_key(new_starting_hash_key.to_string())
            .send()
            .await
            .map_err(|e| sdk_error(&ctx, e))?;
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
        self.sdk(&ctx)
            .await?
            .merge_shards()
            .stream_name(stream)
            .shard_to_merge(shard_id)
            .adjacent_shard_to_merge(adjacent_shard_id)
            .send()
            .await
            .map_err(|e| sdk_error(&ctx, e))?;
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
        self.sdk(&ctx)
            .await?
            .update_shard_count()
            .stream_name(stream)
            .target_shard_count(count(&ctx, target_shard_count)?)
            .scaling_type(ScalingType::UniformScaling)
            .send()
            .await
            .map_err(|e| sdk_error(&ctx, e))?;
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
}

/// A count the SDK takes as `i32`.
fn count(ctx: &Context, n: u32) -> Result<i32, Error> {
    i32::try_from(n).map_err(|_| invalid(ctx, "a count over 2^31"))
}

fn response(ctx: &Context, detail: &str) -> Error {
    Error::Response {
        context: Box::new(ctx.clone()),
        status: 200,
        detail: detail.to_owned(),
    }
}

/// An SDK failure as this crate's [`Error`]: an HTTP answer is classified
/// from its status, `x-amzn-ErrorType` header and body, exactly as the
/// server sent them ([`Error::from_response`]); no answer is transient;
/// a request the SDK could not build is invalid input.
fn sdk_error<E, R>(ctx: &Context, e: SdkError<E, R>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + AsHttpResponse,
{
    let (status, error_type, body) = match e.raw_response() {
        Some(r) => (Some(r.status()), r.error_type(), r.body_bytes()),
        None => (None, None, Vec::new()),
    };
    match (&e, status) {
        (SdkError::ConstructionFailure(_), _) => invalid(ctx, "the request could not be built"),
        (SdkError::ServiceError(_) | SdkError::ResponseError(_), Some(status))
            if !(200..300).contains(&status) =>
        {
            let err = Error::from_response(ctx.clone(), status, error_type.as_deref(), &body);
            if err.kind() == ErrorKind::Transient {
                tracing::debug!(
                    operation = ctx.operation,
                    status,
                    code = err.aws_code().unwrap_or(""),
                    "kinesis call throttled or failed transiently"
                );
            }
            err
        }
        (SdkError::ResponseError(_), status) => Error::Response {
            context: Box::new(ctx.clone()),
            status: status.unwrap_or(200),
            detail: format!("the answer could not be read: {}", crate::error::chain(&e)),
        },
        _ => {
            tracing::debug!(operation = ctx.operation, "kinesis call got no answer");
            Error::Transport {
                context: Box::new(ctx.clone()),
                source: crate::error::chain(&e).into(),
            }
        }
    }
}

/// What this module reads of the SDK's raw HTTP response.
trait AsHttpResponse {
    fn status(&self) -> u16;
    fn error_type(&self) -> Option<String>;
    fn body_bytes(&self) -> Vec<u8>;
}

impl AsHttpResponse for aws_sdk_kinesis::config::http::HttpResponse {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
    fn error_type(&self) -> Option<String> {
        self.headers().get("x-amzn-errortype").map(str::to_owned)
    }
    fn body_bytes(&self) -> Vec<u8> {
        self.body().bytes().map(<[u8]>::to_vec).unwrap_or_default()
    }
}

/// Turns a `PutRecords` answer for `sent` records (each: error code and
/// message, sequence number, shard) into per-record outcomes. An entry
/// counts as stored only with a sequence number, a shard and no error code,
/// so a malformed entry is retried rather than silently lost.
#[allow(clippy::type_complexity)]
fn put_records_output(
    results: Vec<(
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    )>,
    failed_record_count: Option<u32>,
    sent: usize,
) -> Result<PutRecordsOutput, String> {
    if results.len() != sent {
        return Err(format!("{} results for {sent} records", results.len()));
    }
    let records: Vec<PutRecordsEntry> = results
        .into_iter()
        .map(
            |(code, message, sequence, shard)| match (code, sequence, shard) {
                (None, Some(sequence_number), Some(shard_id)) => PutRecordsEntry::Stored {
                    shard_id,
                    sequence_number,
                },
                (code, _, _) => PutRecordsEntry::Failed {
                    error_code: code.unwrap_or_else(|| "MissingResult".into()),
                    error_message: message.unwrap_or_default(),
                },
            },
        )
        .collect();
    let counted = records
        .iter()
        .filter(|r| matches!(r, PutRecordsEntry::Failed { .. }))
        .count() as u32;
    Ok(PutRecordsOutput {
        // The per-record results decide; the summary count can only add.
        failed_record_count: failed_record_count.unwrap_or(counted).max(counted),
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

    use crate::credentials::Credentials;

    fn keys(id: &str, secret: &str) -> CredentialSource {
        CredentialSource::Keys(Credentials {
            access_key_id: id.into(),
            secret_access_key: secret.into(),
            session_token: None,
        })
    }

    fn client() -> KinesisClient {
        KinesisClient::new(KinesisConfig {
            // Nothing listens here; these tests must fail before sending.
            endpoint: "http://127.0.0.1:9".into(),
            region: "us-east-1".into(),
            credentials: keys("AKID", "SECRET"),
            timeout: Duration::from_secs(5),
            ca_bundle: None,
        })
        .expect("valid config")
    }

    #[test]
    fn bad_endpoints_are_refused_at_construction() {
        for endpoint in ["", "kinesis.eu-west-1.amazonaws.com", "ftp://x/", "http://"] {
            let err = KinesisClient::new(KinesisConfig {
                endpoint: endpoint.into(),
                region: "eu-west-1".into(),
                credentials: keys("a", "b"),
                timeout: Duration::from_secs(5),
                ca_bundle: None,
            })
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

    fn result(
        code: Option<&str>,
        sequence: Option<&str>,
    ) -> (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    ) {
        (
            code.map(str::to_owned),
            code.map(|_| "Rate exceeded for shard shardId-000000000001".to_owned()),
            sequence.map(str::to_owned),
            sequence.map(|_| "shardId-000000000000".to_owned()),
        )
    }

    #[test]
    fn put_records_partial_failure_names_the_records_to_retry() {
        // The shape AWS documents for a throttled batch.
        let out = put_records_output(
            vec![
                result(None, Some("4959")),
                result(Some("ProvisionedThroughputExceededException"), None),
                result(None, Some("4960")),
                result(Some("InternalFailure"), None),
            ],
            Some(2),
            4,
        )
        .expect("one result per record");
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
        assert!(put_records_output(vec![result(None, Some("1"))], Some(0), 2).is_err());
        // An entry with neither a result nor an error is retried, not dropped.
        let out = put_records_output(vec![result(None, None)], None, 1).expect("one entry");
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
