//! Clinical scoring for Wardwatch: NEWS2, ECG analysis (beat detection,
//! heart-rate meter, HRV, rhythm findings, signal quality), trend deviations
//! and a combined cardiac-risk score.
//!
//! Numeric code is pure: functions over `ndarray` views that return values.
//! Stateful types (`QrsDetector`, `EcgStream`, `EwmaState`) exist only where
//! a live stream needs them, and the batch functions run the same code.

pub mod analysis;
pub mod bedside;
pub mod ecg;
pub mod error;
pub mod news2;
pub mod pulse;
pub mod risk;
pub mod trend;

pub use analysis::{
    EcgReport, EcgStream, StreamEvent, StreamUpdate, analyze_ecg, parse_sample_column,
};
pub use error::{Error, ErrorKind, Result};
pub use news2::{Acvpu, Breathing, News2Input, News2Score, Parameter, Spo2Scale, news2};

/// `a[lo..hi]` as a view. ndarray's `s!` macro carries an
/// `allow(unsafe_code)` that the workspace's `forbid(unsafe_code)` rejects,
/// so slicing goes through this helper instead.
pub(crate) fn span<S: ndarray::Data>(
    a: &ndarray::ArrayBase<S, ndarray::Ix1>,
    lo: usize,
    hi: usize,
) -> ndarray::ArrayView1<'_, S::Elem> {
    a.slice_axis(ndarray::Axis(0), ndarray::Slice::from(lo..hi))
}
