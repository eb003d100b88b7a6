//! A WFDB record's signals as bedside channels, for the examples and the
//! tests that replay recordings (the score crate reads no files itself).
//! Included with `#[path]`; `core::analysis::analyze_record_signals` does
//! the same with errors instead of panics.

use wardwatch_score::bedside::{Channel, ChannelKind};
use wardwatch_wfdb::Record;

/// Every ECG, pleth and arterial-pressure signal of `record` (others left
/// out; pleth and pressure too unless `pulse`), in physical units, cut at
/// `up_to_s` seconds (`f64::INFINITY`: whole).
pub fn record_channels(
    record: &Record,
    up_to_s: f64,
    pulse: bool,
) -> (Vec<Channel>, Vec<Vec<f64>>) {
    let fs = record.fs_hz();
    let mut channels = Vec::new();
    let mut data = Vec::new();
    for (i, s) in record.signals().iter().enumerate() {
        let Some(kind) = ChannelKind::of_signal(&s.description, &s.units) else {
            continue;
        };
        if kind.is_pulsatile() && !pulse {
            continue;
        }
        channels.push(Channel {
            name: s.description.clone(),
            kind,
            fs_hz: fs,
        });
        let mut x = record.physical(i).expect("signal reads");
        if up_to_s.is_finite() {
            x.truncate((up_to_s * fs) as usize);
        }
        data.push(x);
    }
    (channels, data)
}
