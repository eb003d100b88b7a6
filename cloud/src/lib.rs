//! Wardwatch's client for AWS Kinesis Data Streams, the transport that carries
//! vital-sign records off the ward: SigV4 request signing ([`sigv4`]) and the
//! Kinesis JSON 1.1 protocol ([`kinesis`]), over an HTTP client, clock and
//! configuration the caller passes in.
//!
//! Failures are one [`Error`] type whose [`Error::kind`] says what to do
//! (retry, recreate, re-authenticate, fetch a new iterator). Nothing in this
//! crate logs secrets or record payloads: records carry patient data.

pub mod clock;
pub mod error;
pub mod kinesis;
pub mod sigv4;

pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{Context, Error, ErrorKind};
pub use kinesis::{
    GetRecordsOutput, HashKeyRange, IteratorStart, KinesisClient, KinesisConfig, KinesisRecord,
    PutRecordOutput, PutRecordsEntry, PutRecordsOutput, Shard, StreamStatus, StreamSummary,
};
pub use sigv4::Credentials;
