//! The crate's single error type. Each variant says which file, which episode,
//! which address or which sink it is about, so that a message printed by
//! `wardwatchctl sim` tells the user what to fix.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::run::SimReport;

/// What callers can branch on without matching message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file (scenario, WFDB record) is not there.
    NotFound,
    /// A scenario, configuration or record does not make sense.
    InvalidInput,
    /// Network or sink trouble that may go away on retry.
    Transient,
    /// An unexpected I/O failure.
    Io,
}

/// Errors from configuring and running the simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot read scenario `{path}`: {source}")]
    ScenarioRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("scenario `{path}` is not valid JSON for a scenario: {source}")]
    ScenarioParse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("scenario `{path}`, {at}: {reason}")]
    ScenarioInvalid {
        path: PathBuf,
        /// Where in the file, e.g. `episodes[2]`.
        at: String,
        reason: String,
    },

    #[error("invalid simulator configuration: {field}: {reason}")]
    Config { field: &'static str, reason: String },

    #[error("cannot replay `{path}`: {source}")]
    Wfdb {
        path: PathBuf,
        #[source]
        source: wardwatch_wfdb::Error,
    },

    #[error("cannot replay `{path}`: {reason}")]
    Replay { path: PathBuf, reason: String },

    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },

    #[error("SSE gateway on {addr}: {source}")]
    Gateway {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },

    /// The sink refused a batch; `report` counts what it had accepted before.
    #[error("sink `{sink}` failed after {} records: {source}", report.emitted_total)]
    Sink {
        sink: &'static str,
        report: Box<SimReport>,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("kinesis stream `{stream}`: {source}")]
    Kinesis {
        stream: String,
        #[source]
        source: wardwatch_cloud::Error,
    },

    #[error(
        "kinesis stream `{stream}`: {records} records still throttled after {attempts} attempts: add shards or slow the simulator"
    )]
    KinesisThrottled {
        stream: String,
        records: usize,
        attempts: u32,
    },

    #[error("the record generator thread stopped unexpectedly: {reason}")]
    Generator { reason: String },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::ScenarioRead { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            Error::Wfdb { source, .. } if source.kind() == wardwatch_wfdb::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            Error::ScenarioRead { .. } | Error::Gateway { .. } | Error::Bind { .. } => {
                ErrorKind::Io
            }
            Error::ScenarioParse { .. }
            | Error::ScenarioInvalid { .. }
            | Error::Config { .. }
            | Error::Wfdb { .. }
            | Error::Replay { .. } => ErrorKind::InvalidInput,
            Error::Sink { .. } | Error::KinesisThrottled { .. } => ErrorKind::Transient,
            Error::Kinesis { source, .. } => match source.kind() {
                wardwatch_cloud::ErrorKind::Transient => ErrorKind::Transient,
                wardwatch_cloud::ErrorKind::NotFound => ErrorKind::NotFound,
                _ => ErrorKind::InvalidInput,
            },
            Error::Generator { .. } => ErrorKind::Io,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
