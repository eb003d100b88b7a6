//! The crate's error type: bad clinical input or bad sample input, with the
//! parameter, value or line that caused it.

/// What callers can branch on without matching message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A value is outside what a living patient or a real recording can have.
    InvalidInput,
}

/// Errors from scoring and from parsing sample input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{parameter} = {value} is impossible: expected {min}..={max} {unit}")]
    OutOfRange {
        parameter: &'static str,
        value: f64,
        min: f64,
        max: f64,
        unit: &'static str,
    },

    #[error("{parameter} is not a finite number")]
    NotFinite { parameter: &'static str },

    #[error("line {line}: `{text}` is not a number (expected one sample per line)")]
    BadSampleRow { line: usize, text: String },

    #[error("no samples found: expected one number per line, optionally after a header line")]
    NoSamples,

    #[error("sampling frequency {fs_hz} Hz is unusable for ECG: give at least {min_hz} Hz")]
    SamplingRate { fs_hz: f64, min_hz: f64 },

    #[error("channel {index} does not exist: the bed has {channels} channels")]
    UnknownChannel { index: usize, channels: usize },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
