//! The crate's single error type. Every variant names the file it is about and,
//! where it helps, the line, byte or signal, so a message read in a log or a CLI
//! says what to fix without a debugger.

use std::path::PathBuf;

/// What callers can branch on without matching message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file the record needs is not on disk.
    NotFound,
    /// A file is there but its content does not follow the WFDB specification.
    InvalidData,
    /// Valid WFDB that this reader deliberately does not handle (e.g. format 310).
    Unsupported,
    /// The caller asked for something the record does not have.
    InvalidArgument,
}

/// Errors from reading WFDB headers, signal files and annotation files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("`{path}` line {line}: {message}")]
    Header {
        path: PathBuf,
        line: usize,
        message: String,
    },

    #[error(
        "`{path}`: signal {signal} uses format {format}; this reader supports formats 212, 16 and 80"
    )]
    UnsupportedFormat {
        path: PathBuf,
        signal: usize,
        format: u16,
    },

    #[error("`{path}`: {message}")]
    Inconsistent { path: PathBuf, message: String },

    #[error(
        "`{path}`: signal {signal} has no data file (file name `~`): it only describes a layout"
    )]
    NoData { path: PathBuf, signal: usize },

    #[error(
        "`{path}` is truncated: {expected_bytes} bytes of samples expected after offset {offset}, {found_bytes} found"
    )]
    Truncated {
        path: PathBuf,
        offset: u64,
        expected_bytes: u64,
        found_bytes: u64,
    },

    #[error("signal index {index} out of range: record `{record}` has {count} signals")]
    NoSuchSignal {
        record: String,
        index: usize,
        count: usize,
    },

    #[error(
        "`{path}`: checksum mismatch for signal {signal} (`{description}`): header says {expected}, samples give {actual}"
    )]
    Checksum {
        path: PathBuf,
        signal: usize,
        description: String,
        expected: i16,
        actual: i16,
    },

    #[error("`{path}` byte {offset}: {message}")]
    Annotation {
        path: PathBuf,
        offset: usize,
        message: String,
    },

    #[error("`{path}` is a multi-segment header: open it with `MultiRecord::open`")]
    MultiSegment { path: PathBuf },

    #[error("`{path}` is a single-segment header: open it with `Record::open`")]
    SingleSegment { path: PathBuf },
}

impl Error {
    /// Coarse classification for callers that decide what to do next.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            Error::Io { .. } => ErrorKind::InvalidData,
            Error::Header { .. }
            | Error::Truncated { .. }
            | Error::Checksum { .. }
            | Error::Inconsistent { .. }
            | Error::Annotation { .. } => ErrorKind::InvalidData,
            Error::UnsupportedFormat { .. } => ErrorKind::Unsupported,
            Error::NoData { .. }
            | Error::NoSuchSignal { .. }
            | Error::MultiSegment { .. }
            | Error::SingleSegment { .. } => ErrorKind::InvalidArgument,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
