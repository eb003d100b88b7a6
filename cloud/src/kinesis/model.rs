//! The data Kinesis operations take and return: public, Rust-shaped types
//! (`Option` for absent, `Vec<u8>` for record data, `u128` hash keys),
//! converted from the SDK's.

use std::cmp::Ordering;

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

#[cfg(test)]
mod tests {
    use super::*;

    /// A record read back may carry a patient's MRN in its partition key
    /// and an Observation in its data: its `Debug` (which logs and error
    /// chains print) shows their lengths, never their bytes.
    #[test]
    fn record_debug_hides_key_and_data() {
        let record = KinesisRecord {
            sequence_number: "49590338271490256608559692538361571095921575989136588898".into(),
            partition_key: "MRN-0042".into(),
            data: br#"{"resourceType":"Observation","subject":{"identifier":{"value":"MRN-0042"}},"name":"Ada Lovelace"}"#.to_vec(),
            approximate_arrival_ms: Some(1_764_662_400_000),
        };
        let shown = format!("{record:?}");
        for secret in ["MRN-0042", "Lovelace", "Observation"] {
            assert!(!shown.contains(secret), "`{secret}` in {shown}");
        }
        assert!(shown.contains("partition_key_len: 8"), "{shown}");
        assert!(shown.contains("data_len: "), "{shown}");
        // The sequence number is no patient data and is what an operator needs.
        assert!(shown.contains("49590338271490256608559692538361571095921575989136588898"));
        let page = GetRecordsOutput {
            records: vec![record],
            next_shard_iterator: None,
            millis_behind_latest: None,
        };
        assert!(!format!("{page:?}").contains("MRN-0042"));
    }
}
