//! ECG signal quality per window, so that a lost or unusable signal becomes a
//! technical condition ("check leads") instead of an asystole alarm — the main
//! cause of false asystole alarms in the PhysioNet/CinC Challenge 2015
//! (Clifford et al., Physiol. Meas. 37:1210, 2016).
//!
//! Each 2-second window is classed, in this order:
//! - `Missing`: more than half the samples are missing (NaN);
//! - `Flat`: peak-to-peak below 0.01 mV — a constant trace as a disconnected
//!   lead gives (a true asystole still shows a few tens of µV of noise and
//!   baseline movement, so it is not flat by this rule);
//! - `Saturated`: peak-to-peak above 10 mV, or more than 10 % of samples
//!   sitting exactly at the window's extreme value (clipping at the ADC rail);
//! - `Unstable`: the baseline moves by more than `STEP_MV` (1 mV) between
//!   the window's first and last half-second (medians, so QRS complexes do
//!   not count). Respiratory wander moves the baseline by tenths of a mV
//!   over seconds; a step of millivolts is electrode motion or an amplifier
//!   recovering from overload, during which complexes shrink and vanish
//!   (MIT-BIH 116 at 1354 s, where a 4 mV step hid eight beats). A pause
//!   there is not asystole. The step must also be a quarter of the window's
//!   robust amplitude (1st–99th percentile): the half-second medians of a
//!   fast VT with complexes of 5–6 mV move by about 1 mV with the complexes
//!   alone, a sixth of their size (Challenge 2015 v254s, a true VT that was
//!   otherwise unclassified), while the steps that hid beats in MIT-BIH 116
//!   are 0.29–0.98 of it;
//! - `Good` for a quiet trace: a robust amplitude below `QUIET_MV` (0.15 mV)
//!   is what asystole looks like — baseline movement and a few quantisation
//!   steps. The noise ratio below is meaningless there (quantisation steps
//!   dominate the second difference), and calling it noise would hide a real
//!   asystole behind a technical alarm. A disconnected lead is caught as
//!   `Flat`, or reported by the device itself (no samples);
//! - `Noisy`: the RMS of the second difference, scaled to 250 Hz, exceeds
//!   `NOISE_RATIO` × the window's robust amplitude — broadband (EMG/motion)
//!   noise raises the second difference everywhere, while a clean ECG has
//!   sharp slopes only inside the QRS;
//! - `Good` otherwise.

use ndarray::ArrayView1;

use crate::span;
use serde::Serialize;

pub const WINDOW_S: f64 = 2.0;
const FLAT_MV: f64 = 0.01;
const SATURATED_MV: f64 = 10.0;
const CLIPPED_SHARE: f64 = 0.10;
/// Baseline movement across one window that is not physiological...
pub const STEP_MV: f64 = 1.0;
/// ...when it is also this share of the window's amplitude.
pub const STEP_SHARE: f64 = 0.25;
pub const NOISE_RATIO: f64 = 0.15;
/// Below this robust amplitude a trace is quiet, not noisy (see above).
pub const QUIET_MV: f64 = 0.15;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    Good,
    Missing,
    Flat,
    Saturated,
    Unstable,
    Noisy,
}

impl Quality {
    pub fn is_usable(self) -> bool {
        self == Quality::Good
    }
}

/// The class of one window starting at `start_sample`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QualityWindow {
    pub start_sample: usize,
    pub samples: usize,
    pub quality: Quality,
    /// The noise measure (second-difference RMS / amplitude), for tuning.
    pub noise_ratio: f64,
}

/// Classes one window of samples (mV).
pub fn window_quality(w: ArrayView1<f64>, fs_hz: f64) -> (Quality, f64) {
    let valid: Vec<f64> = w.iter().copied().filter(|v| v.is_finite()).collect();
    if valid.len() * 2 < w.len() || valid.len() < 3 {
        return (Quality::Missing, f64::NAN);
    }
    let (lo, hi) = valid
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let p2p = hi - lo;
    if p2p < FLAT_MV {
        return (Quality::Flat, 0.0);
    }
    let at_rail = valid.iter().filter(|&&v| v == lo || v == hi).count();
    if p2p > SATURATED_MV || at_rail as f64 > CLIPPED_SHARE * valid.len() as f64 {
        return (Quality::Saturated, f64::NAN);
    }
    // The 1st to 99th percentile range, the robust amplitude.
    let mut scratch = valid.clone();
    let amplitude = {
        let mut q = |p: f64| rank(&mut scratch, ((valid.len() - 1) as f64 * p) as usize);
        q(0.99) - q(0.01)
    };
    let quarter = (0.5 * fs_hz).round() as usize;
    if valid.len() >= 4 * quarter && quarter > 0 {
        let mut median = |range: std::ops::Range<usize>| {
            let part = &mut scratch[..quarter];
            part.copy_from_slice(&valid[range]);
            rank(part, quarter / 2)
        };
        let step = median(valid.len() - quarter..valid.len()) - median(0..quarter);
        if step.abs() > STEP_MV && step.abs() > STEP_SHARE * amplitude {
            return (Quality::Unstable, f64::NAN);
        }
    }
    let v = ArrayView1::from(&valid[..]);
    let d2 =
        &(&span(&v, 2, v.len()) + &span(&v, 0, v.len() - 2)) - &(2.0 * &span(&v, 1, v.len() - 1));
    // A second difference scales with fs²; express it at 250 Hz so one
    // threshold serves every sampling rate.
    let scale = (fs_hz / 250.0).powi(2);
    let rms = (d2.mapv(|x| x * x).mean().unwrap_or(0.0)).sqrt() * scale;
    let amplitude = amplitude.max(FLAT_MV);
    let ratio = rms / amplitude;
    let quality = if amplitude >= QUIET_MV && ratio > NOISE_RATIO {
        Quality::Noisy
    } else {
        Quality::Good
    };
    (quality, ratio)
}

/// The value at index `k` of `v` sorted by `f64::total_cmp` (what a full
/// sort would put there), found by selection; reorders `v`.
fn rank(v: &mut [f64], k: usize) -> f64 {
    *v.select_nth_unstable_by(k, f64::total_cmp).1
}

/// Classes every 2-s window of a recording (the last one may be shorter; one
/// under 0.5 s is merged into the previous).
pub fn assess_quality(samples_mv: ArrayView1<f64>, fs_hz: f64) -> Vec<QualityWindow> {
    let len = ((WINDOW_S * fs_hz).round() as usize).max(1);
    let n = samples_mv.len();
    let mut out = Vec::with_capacity(n / len + 1);
    let mut start = 0;
    while start < n {
        let mut end = (start + len).min(n);
        if n - end < len / 4 {
            end = n;
        }
        let (quality, noise_ratio) = window_quality(span(&samples_mv, start, end), fs_hz);
        out.push(QualityWindow {
            start_sample: start,
            samples: end - start,
            quality,
            noise_ratio,
        });
        start = end;
    }
    out
}

/// Share of `[start, end)` covered by unusable windows.
pub fn unusable_share(windows: &[QualityWindow], start: usize, end: usize) -> f64 {
    if end <= start {
        return 0.0;
    }
    let bad: usize = windows
        .iter()
        .filter(|w| !w.quality.is_usable())
        .map(|w| {
            let lo = w.start_sample.max(start);
            let hi = (w.start_sample + w.samples).min(end);
            hi.saturating_sub(lo)
        })
        .sum();
    bad as f64 / (end - start) as f64
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ndarray::Array1;

    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }

    /// A step of millivolts in the baseline (electrode motion, an amplifier
    /// recovering) is unusable; respiratory wander under big complexes is
    /// not.
    #[test]
    fn a_baseline_step_is_unstable_and_wander_is_not() {
        let fs = 360.0;
        let qrs = |i: usize| {
            let dt = (i % 270) as f64 / fs - 0.3;
            3.0 * (-(dt / 0.012).powi(2)).exp()
        };
        let wander = Array1::from_shape_fn(720, |i| {
            qrs(i) + 0.4 * (i as f64 / fs * 2.0 * std::f64::consts::PI * 0.25).sin()
        });
        assert_eq!(window_quality(wander.view(), fs).0, Quality::Good);
        let step = Array1::from_shape_fn(720, |i| {
            let level = if i < 180 {
                -0.8
            } else {
                3.2 - 0.3 * (i - 180) as f64 / 540.0
            };
            level + 0.1 * qrs(i) + 0.02 * (i as f64 * 0.7).sin()
        });
        assert_eq!(window_quality(step.view(), fs).0, Quality::Unstable);
    }

    #[test]
    fn classes() {
        let fs = 250.0;
        let flat = Array1::from_elem(500, 1.0);
        assert_eq!(window_quality(flat.view(), fs).0, Quality::Flat);
        let mut missing = Array1::from_elem(500, 0.1);
        missing
            .slice_axis_mut(ndarray::Axis(0), ndarray::Slice::from(0..300))
            .fill(f64::NAN);
        assert_eq!(window_quality(missing.view(), fs).0, Quality::Missing);
        let clipped = Array1::from_shape_fn(500, |i| (i as f64 / 20.0).sin().clamp(-0.5, 0.5));
        assert_eq!(window_quality(clipped.view(), fs).0, Quality::Saturated);
        let mut seed = 7;
        let noise = Array1::from_shape_fn(500, |_| lcg(&mut seed));
        assert_eq!(window_quality(noise.view(), fs).0, Quality::Noisy);
        let (x, _) = crate::ecg::qrs::tests::synthetic(fs, 2.0, 0.8, 1.0);
        assert_eq!(window_quality(x.view(), fs).0, Quality::Good);
    }

    #[test]
    fn windows_cover_the_recording() {
        let x = Array1::from_elem(1100, 1.0);
        let w = assess_quality(x.view(), 250.0);
        assert_eq!(w.iter().map(|w| w.samples).sum::<usize>(), 1100);
        assert_eq!(w.len(), 2, "the 100-sample tail joins the last window");
        assert_eq!(unusable_share(&w, 0, 1100), 1.0);
    }
}
