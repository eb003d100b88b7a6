//! ECG analysis: beat detection ([`qrs`]), the heart-rate meter ([`hr`]),
//! heart-rate variability ([`hrv`]), rhythm findings ([`rhythm`]) and signal
//! quality ([`quality`]).

mod filter;
pub mod qrs;

pub use qrs::{Beat, BeatMatch, QrsDetector, compare_beats, detect_qrs};
