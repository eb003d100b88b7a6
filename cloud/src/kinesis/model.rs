//! The data Kinesis operations take and return: public, Rust-shaped types
//! (`Option` for absent, `Vec<u8>` for decoded record data, `u128` hash keys)
//! and the private JSON 1.1 wire structs they are converted from.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// A stream's lifecycle state, as `DescribeStreamSummary` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamStatus {
    Creating,
    Deleting,
    Active,
    Updating,
    /// A state this client does not know yet.
    Other(String),
}

impl StreamStatus {
    pub(crate) fn parse(s: &str) -> StreamStatus {
        match s {
            "CREATING" => StreamStatus::Creating,
            "DELETING" => StreamStatus::Deleting,
            "ACTIVE" => StreamStatus::Active,
            "UPDATING" => StreamStatus::Updating,
            other => StreamStatus::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            StreamStatus::Creating => "CREATING",
            StreamStatus::Deleting => "DELETING",
            StreamStatus::Active => "ACTIVE",
            StreamStatus::Updating => "UPDATING",
            StreamStatus::Other(s) => s,
        }
    }
}

/// What `describe_stream_summary` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSummary {
    pub stream_name: String,
    pub status: StreamStatus,
    pub open_shard_count: Option<u32>,
    pub stream_arn: Option<String>,
}

/// The range of 128-bit partition-key hashes a shard owns (both ends
/// included). A record goes to the shard whose range holds MD5(partition key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashKeyRange {
    pub starting: u128,
    pub ending: u128,
}

impl HashKeyRange {
    /// The hash key that splits the range into two halves of equal width,
    /// the usual `NewStartingHashKey` for `split_shard`.
    pub fn midpoint(&self) -> u128 {
        // Saturating: a one-key range has no midpoint, and the server says so.
        self.starting
            .saturating_add((self.ending.saturating_sub(self.starting)) / 2)
            .saturating_add(1)
    }
}

/// One shard, open or closed. Resharding closes a shard (it then has an
/// `ending_sequence_number`) and opens children that name it as parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    pub shard_id: String,
    pub parent_shard_id: Option<String>,
    pub adjacent_parent_shard_id: Option<String>,
    pub hash_key_range: HashKeyRange,
    pub starting_sequence_number: String,
    /// Set once the shard is closed: no records are added after this one.
    pub ending_sequence_number: Option<String>,
}

impl Shard {
    /// Whether the shard still takes new records.
    pub fn is_open(&self) -> bool {
        self.ending_sequence_number.is_none()
    }
}

/// Where a shard iterator starts reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IteratorStart {
    /// The oldest record still retained.
    TrimHorizon,
    /// Just after the newest record: only records put from now on.
    Latest,
    /// Just after this sequence number: resuming from a checkpoint.
    AfterSequenceNumber(String),
    /// At this sequence number, including it.
    AtSequenceNumber(String),
}

impl IteratorStart {
    pub(crate) fn wire(&self) -> (&'static str, Option<&str>) {
        match self {
            IteratorStart::TrimHorizon => ("TRIM_HORIZON", None),
            IteratorStart::Latest => ("LATEST", None),
            IteratorStart::AfterSequenceNumber(s) => ("AFTER_SEQUENCE_NUMBER", Some(s)),
            IteratorStart::AtSequenceNumber(s) => ("AT_SEQUENCE_NUMBER", Some(s)),
        }
    }
}

/// A record as read back. `Debug` shows the data's length, not its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct KinesisRecord {
    pub sequence_number: String,
    pub partition_key: String,
    /// The payload, base64-decoded.
    pub data: Vec<u8>,
    /// When Kinesis accepted the record, in Unix milliseconds.
    pub approximate_arrival_ms: Option<i64>,
}

impl std::fmt::Debug for KinesisRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Partition keys and data may identify patients: keep them out of logs.
        f.debug_struct("KinesisRecord")
            .field("sequence_number", &self.sequence_number)
            .field("partition_key_len", &self.partition_key.len())
            .field("data_len", &self.data.len())
            .field("approximate_arrival_ms", &self.approximate_arrival_ms)
            .finish()
    }
}

/// One page of records from a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetRecordsOutput {
    pub records: Vec<KinesisRecord>,
    /// `None` once the shard is closed and every record in it has been read:
    /// continue with its child shards.
    pub next_shard_iterator: Option<String>,
    /// How far this iterator is behind the newest record (0 = caught up).
    pub millis_behind_latest: Option<i64>,
}

/// Where `put_record` stored a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRecordOutput {
    pub shard_id: String,
    pub sequence_number: String,
}

/// The outcome of one record of a `put_records` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutRecordsEntry {
    Stored {
        shard_id: String,
        sequence_number: String,
    },
    /// Not stored; `error_code` is `ProvisionedThroughputExceededException`
    /// or `InternalFailure` on AWS. Retry this record.
    Failed {
        error_code: String,
        error_message: String,
    },
}

/// The result of `put_records`: one entry per input record, in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRecordsOutput {
    pub failed_record_count: u32,
    pub records: Vec<PutRecordsEntry>,
}

impl PutRecordsOutput {
    /// Indices (into the input) of the records to send again.
    pub fn failed_indices(&self) -> Vec<usize> {
        self.records
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r, PutRecordsEntry::Failed { .. }))
            .map(|(i, _)| i)
            .collect()
    }
}

/// Orders two sequence numbers. They are decimal strings of up to 128 bits,
/// so string order is wrong (`"9" > "10"`) and `u64` too small.
pub fn sequence_cmp(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

// ---- JSON 1.1 wire shapes (field names as AWS spells them) ----

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateStreamInput<'a> {
    pub stream_name: &'a str,
    pub shard_count: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StreamNameInput<'a> {
    pub stream_name: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DescribeStreamSummaryWire {
    pub stream_description_summary: StreamSummaryWire,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StreamSummaryWire {
    pub stream_name: String,
    #[serde(rename = "StreamARN")]
    pub stream_arn: Option<String>,
    pub stream_status: String,
    pub open_shard_count: Option<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListShardsInput<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_results: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListShardsWire {
    #[serde(default)]
    pub shards: Vec<ShardWire>,
    pub next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ShardWire {
    pub shard_id: String,
    pub parent_shard_id: Option<String>,
    pub adjacent_parent_shard_id: Option<String>,
    pub hash_key_range: HashKeyRangeWire,
    pub sequence_number_range: SequenceNumberRangeWire,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct HashKeyRangeWire {
    pub starting_hash_key: String,
    pub ending_hash_key: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SequenceNumberRangeWire {
    pub starting_sequence_number: String,
    pub ending_sequence_number: Option<String>,
}

impl ShardWire {
    /// `None` when a hash key is not a 128-bit decimal number.
    pub(crate) fn into_shard(self) -> Option<Shard> {
        Some(Shard {
            hash_key_range: HashKeyRange {
                starting: self.hash_key_range.starting_hash_key.parse().ok()?,
                ending: self.hash_key_range.ending_hash_key.parse().ok()?,
            },
            shard_id: self.shard_id,
            parent_shard_id: self.parent_shard_id,
            adjacent_parent_shard_id: self.adjacent_parent_shard_id,
            starting_sequence_number: self.sequence_number_range.starting_sequence_number,
            ending_sequence_number: self.sequence_number_range.ending_sequence_number,
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetShardIteratorInput<'a> {
    pub stream_name: &'a str,
    pub shard_id: &'a str,
    pub shard_iterator_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starting_sequence_number: Option<&'a str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetShardIteratorWire {
    pub shard_iterator: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetRecordsInput<'a> {
    pub shard_iterator: &'a str,
    pub limit: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetRecordsWire {
    #[serde(default)]
    pub records: Vec<RecordWire>,
    pub next_shard_iterator: Option<String>,
    pub millis_behind_latest: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RecordWire {
    pub sequence_number: String,
    /// JSON 1.1 timestamps are Unix seconds with a fraction.
    pub approximate_arrival_timestamp: Option<f64>,
    pub data: String,
    pub partition_key: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutRecordInput<'a> {
    pub stream_name: &'a str,
    pub partition_key: &'a str,
    pub data: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutRecordWire {
    pub shard_id: String,
    pub sequence_number: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutRecordsInput<'a> {
    pub stream_name: &'a str,
    pub records: Vec<PutRecordsRequestEntry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutRecordsRequestEntry<'a> {
    pub data: String,
    pub partition_key: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutRecordsWire {
    pub failed_record_count: Option<u32>,
    #[serde(default)]
    pub records: Vec<PutRecordsResultWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutRecordsResultWire {
    pub sequence_number: Option<String>,
    pub shard_id: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SplitShardInput<'a> {
    pub stream_name: &'a str,
    pub shard_to_split: &'a str,
    pub new_starting_hash_key: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MergeShardsInput<'a> {
    pub stream_name: &'a str,
    pub shard_to_merge: &'a str,
    pub adjacent_shard_to_merge: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateShardCountInput<'a> {
    pub stream_name: &'a str,
    pub target_shard_count: u32,
    pub scaling_type: &'static str,
}

/// For operations whose answer carries nothing we use (an empty body or `{}`).
#[derive(Deserialize)]
pub(crate) struct Ignored {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_compare_numerically() {
        assert_eq!(sequence_cmp("9", "10"), Ordering::Less);
        assert_eq!(
            sequence_cmp(
                "49590338271490256608559692538361571095921575989136588898",
                "49590338271490256608559692540925702759324208523137515618"
            ),
            Ordering::Less
        );
        assert_eq!(sequence_cmp("007", "7"), Ordering::Equal);
    }

    #[test]
    fn midpoint_splits_the_full_range_in_half() {
        let full = HashKeyRange {
            starting: 0,
            ending: u128::MAX,
        };
        assert_eq!(full.midpoint(), 1u128 << 127);
        let small = HashKeyRange {
            starting: 10,
            ending: 20,
        };
        assert_eq!(small.midpoint(), 16);
    }

    #[test]
    fn shard_wire_parses_full_width_hash_keys_and_closed_state() {
        let json = r#"{"ShardId":"shardId-000000000000","HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"340282366920938463463374607431768211455"},"SequenceNumberRange":{"StartingSequenceNumber":"1","EndingSequenceNumber":"2"},"ParentShardId":"shardId-000000000009"}"#;
        let shard = serde_json::from_str::<ShardWire>(json)
            .expect("valid shard json")
            .into_shard()
            .expect("valid hash keys");
        assert_eq!(shard.hash_key_range.ending, u128::MAX);
        assert!(!shard.is_open());
        assert_eq!(
            shard.parent_shard_id.as_deref(),
            Some("shardId-000000000009")
        );
        assert_eq!(shard.adjacent_parent_shard_id, None);
    }

    #[test]
    fn record_debug_hides_key_and_data() {
        let r = KinesisRecord {
            sequence_number: "1".into(),
            partition_key: "patient-4711".into(),
            data: b"hr=180".to_vec(),
            approximate_arrival_ms: None,
        };
        let shown = format!("{r:?}");
        assert!(!shown.contains("4711") && !shown.contains("hr="), "{shown}");
    }
}
