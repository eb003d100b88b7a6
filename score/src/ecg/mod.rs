//! ECG analysis: beat detection ([`qrs`]), the heart-rate meter ([`hr`]),
//! heart-rate variability ([`hrv`]), rhythm findings ([`rhythm`]) and signal
//! quality ([`quality`]), ventricular fibrillation and flutter ([`vf`]),
//! atrial activity for AF ([`atrial`]) and atrial flutter ([`flutter`]).

pub mod atrial;
pub mod beats;
pub(crate) mod filter;
pub mod flutter;
pub mod hr;
pub mod hrv;
pub mod qrs;
pub mod quality;
pub mod rhythm;
pub mod vf;

pub use hr::{HrMeter, HrPoint, hr_series};
pub use hrv::{Hrv, hrv, rr_intervals_ms};
pub use qrs::{Beat, BeatMatch, QrsDetector, compare_beats, detect_qrs};
pub use quality::{Quality, QualityWindow, assess_quality};
pub use rhythm::{Finding, FindingKind};
