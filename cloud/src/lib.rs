//! Wardwatch's client for AWS Kinesis Data Streams, the transport that carries
//! vital-sign records off the ward: the AWS SDK for Rust (`aws-sdk-kinesis`,
//! which signs with SigV4) wrapped in Wardwatch's limits and error kinds
//! ([`kinesis`]); credentials as keys or the standard AWS chain
//! ([`credentials`]); the SDK's HTTP client on a hospital network ([`http`]).
//!
//! Failures are one [`Error`] type whose [`Error::kind`] says what to do
//! (retry, recreate, re-authenticate, fetch a new iterator). Nothing in this
//! crate logs secrets or record payloads: records carry patient data.

pub mod clock;
pub mod credentials;
pub mod error;
pub mod http;
pub mod kinesis;

pub use clock::{Clock, FixedClock, SystemClock};
pub use credentials::{CredentialSource, Credentials};
pub use error::{Context, Error, ErrorKind};
pub use kinesis::{
    GetRecordsOutput, HashKeyRange, IteratorStart, KinesisClient, KinesisConfig, KinesisRecord,
    PutRecordOutput, PutRecordsEntry, PutRecordsOutput, Shard, StreamStatus, StreamSummary,
};
