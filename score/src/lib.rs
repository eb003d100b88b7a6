//! Clinical scoring for Wardwatch: NEWS2, ECG analysis (beat detection,
//! heart-rate meter, HRV, rhythm findings, signal quality), trend deviations
//! and a combined cardiac-risk score.
//!
//! Numeric code is pure: functions over `ndarray` views that return values.
//! Stateful types (`QrsDetector`, `EcgStream`, `EwmaState`) exist only where
//! a live stream needs them, and the batch functions run the same code.

pub mod ecg;
pub mod error;
pub mod news2;

pub use error::{Error, ErrorKind, Result};
