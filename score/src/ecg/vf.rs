//! Ventricular fibrillation and flutter from the waveform, not from beats:
//! in VF and flutter there are no QRS complexes to detect, only a
//! continuous undulation, which a beat detector reads as an extreme
//! tachycardia (MIT-BIH 207) or misses as an asystole.
//!
//! Each analysis window (`VF_WINDOW_S`, moved on by one second) is judged
//! by two published time-domain measures:
//!
//! - the **VF filter** of Kuo & Dillman (Computers in Cardiology 1978,
//!   as specified in Amann, Tratnig & Unterkofler, "Reliability of old and
//!   new ventricular fibrillation detection algorithms for automated
//!   external defibrillators", BioMed Eng OnLine 4:60, 2005): the mean
//!   half-period `N = ⌊π·Σ|vᵢ| / Σ|vᵢ − vᵢ₋₁| + ½⌋` in samples, and the
//!   leakage `l = Σ|vᵢ + vᵢ₋N| / Σ(|vᵢ| + |vᵢ₋N|)` of a notch filter tuned to
//!   that period. A sinusoid-like signal (VF, flutter) passes almost
//!   nothing (`l` near 0); QRS complexes with flat stretches between them
//!   leak (`l` near 1). Flutter or VF when `l < LEAKAGE_MAX`;
//! - the **mean frequency** `fs / 2N` within 2.5–10 Hz (150–600 /min, the
//!   range of flutter and fibrillation), which excludes the slow baseline
//!   undulation of motion artefact.
//!
//! A window of unusable signal (noise, flat, saturated: `quality`) is never
//! called VF: a monitor says "ECG unanalysable" over artefact rather than
//! raise a life-threatening alarm on it.
//!
//! Which records informed the thresholds: `LEAKAGE_MAX` is the VF filter's
//! published operating point region; the frequency band is physiology. The
//! whole MIT-BIH database is then reported (`examples/eval_mitdb.rs`),
//! record 207 being its only flutter.

use ndarray::ArrayView1;

use crate::ecg::filter::Biquad;

/// The analysis window: the Challenge 2015 definition of VF/flutter alarms
/// is a fibrillatory waveform for at least 4 s.
pub const VF_WINDOW_S: f64 = 4.0;
/// Leakage below this is a sinusoid-like (fibrillatory) waveform.
pub const LEAKAGE_MAX: f64 = 0.406;
/// The mean frequency of flutter and fibrillation, Hz.
pub const VF_HZ: (f64, f64) = (2.5, 10.0);

/// The VF filter's measures for one window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VfMeasures {
    /// Mean half-period, samples.
    pub half_period: usize,
    pub leakage: f64,
    /// `fs / (2·half_period)`, Hz.
    pub mean_hz: f64,
}

impl VfMeasures {
    pub fn is_fibrillatory(&self) -> bool {
        self.leakage < LEAKAGE_MAX && (VF_HZ.0..=VF_HZ.1).contains(&self.mean_hz)
    }
}

/// The VF filter over one window of band-limited samples (mV, no NaN, the
/// mean removed by the caller's filtering). `None` for a window too short
/// or without signal.
pub fn vf_measures(v: ArrayView1<f64>, fs_hz: f64) -> Option<VfMeasures> {
    let n = v.len();
    if n < 8 {
        return None;
    }
    // Both sums in one pass (each the same additions in the same order as
    // a pass of its own; the two chains of additions overlap).
    let (mut abs_sum, mut diff_sum) = (v[0].abs(), 0.0f64);
    for i in 1..n {
        abs_sum += v[i].abs();
        diff_sum += (v[i] - v[i - 1]).abs();
    }
    if diff_sum <= 0.0 || abs_sum <= 0.0 {
        return None;
    }
    let half_period = (std::f64::consts::PI * abs_sum / diff_sum + 0.5).floor() as usize;
    if half_period == 0 || half_period >= n {
        return None;
    }
    let (mut num, mut den) = (0.0, 0.0);
    for i in half_period..n {
        num += (v[i] + v[i - half_period]).abs();
        den += v[i].abs() + v[i - half_period].abs();
    }
    if den <= 0.0 {
        return None;
    }
    Some(VfMeasures {
        half_period,
        leakage: num / den,
        mean_hz: fs_hz / (2.0 * half_period as f64),
    })
}

/// Decisions (one a second) in a row that start a VF/flutter finding: the
/// first window's 4 s and one more second of the same.
const VF_ONSET_DECISIONS: usize = 2;
/// Negative decisions in a row that end it.
const VF_END_DECISIONS: usize = 3;

/// The live VF/flutter decision's state (`analysis::EcgStream`): the
/// band-limited samples of the last window, and runs of positive and
/// negative decisions.
#[derive(Debug, Clone)]
pub(crate) struct VfTrack {
    highpass: Biquad,
    lowpass: Biquad,
    primed: bool,
    /// The last `VF_WINDOW_S` of band-limited samples (NaN where missing).
    /// (`f32`, allocated once at its length, as `filter::BandWindow`.)
    window: std::collections::VecDeque<f32>,
    len: usize,
    step: usize,
    /// Samples since the last decision.
    since_decision: usize,
    positives: usize,
    negatives: usize,
    /// Where the first positive window of the current run started.
    run_start: usize,
    active: bool,
}

/// What one decision changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VfChange {
    None,
    /// A finding starts; its first positive window began at `run_start`.
    Onset {
        run_start: usize,
    },
    End,
}

impl VfTrack {
    pub(crate) fn new(fs_hz: f64) -> VfTrack {
        VfTrack {
            highpass: Biquad::highpass(fs_hz, 1.0),
            lowpass: Biquad::lowpass(fs_hz, 30.0),
            primed: false,
            window: std::collections::VecDeque::new(),
            len: (VF_WINDOW_S * fs_hz).round() as usize,
            step: fs_hz.round() as usize,
            since_decision: 0,
            positives: 0,
            negatives: 0,
            run_start: 0,
            active: false,
        }
    }

    pub(crate) fn is_active(&self) -> bool {
        self.active
    }

    /// Feeds one sample (mV, NaN when missing); returns the window's
    /// band-limited samples when a decision is due (once a second).
    pub(crate) fn push(&mut self, x: f64) -> Option<Vec<f64>> {
        let y = if x.is_finite() {
            let h = if self.primed {
                self.highpass.process(x)
            } else {
                self.primed = true;
                self.highpass.prime(x);
                self.lowpass.prime(0.0);
                0.0
            };
            self.lowpass.process(h)
        } else {
            f64::NAN
        };
        if self.window.capacity() == 0 {
            self.window.reserve_exact(self.len);
        }
        if self.window.len() == self.len {
            self.window.pop_front();
        }
        self.window.push_back(y as f32);
        self.since_decision += 1;
        if self.window.len() < self.len || self.since_decision < self.step {
            return None;
        }
        self.since_decision = 0;
        Some(self.window.iter().map(|&v| f64::from(v)).collect())
    }

    /// Records the decision on the window that starts at `start`.
    pub(crate) fn decide(&mut self, positive: bool, start: usize) -> VfChange {
        if positive {
            if self.positives == 0 {
                self.run_start = start;
            }
            self.positives += 1;
            self.negatives = 0;
        } else {
            self.negatives += 1;
            self.positives = 0;
        }
        if !self.active && self.positives >= VF_ONSET_DECISIONS {
            self.active = true;
            VfChange::Onset {
                run_start: self.run_start,
            }
        } else if self.active && self.negatives >= VF_END_DECISIONS {
            self.active = false;
            VfChange::End
        } else {
            VfChange::None
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ndarray::Array1;

    #[test]
    fn a_sinusoid_at_flutter_rate_is_fibrillatory_and_a_sinus_ecg_is_not() {
        let fs = 250.0;
        let n = (VF_WINDOW_S * fs) as usize;
        // Ventricular flutter: a near-sinusoid at 4.5 Hz (270 /min).
        let flutter = Array1::from_shape_fn(n, |i| {
            0.8 * (2.0 * std::f64::consts::PI * 4.5 * i as f64 / fs).sin()
        });
        let m = vf_measures(flutter.view(), fs).unwrap();
        assert!(m.is_fibrillatory(), "{m:?}");
        assert!((m.mean_hz - 4.5).abs() < 0.5, "{m:?}");
        // Sinus rhythm: sharp R waves at 75 /min with flat stretches between.
        let (sinus, _) = crate::ecg::qrs::tests::synthetic(fs, VF_WINDOW_S, 0.8, 1.0);
        let sinus = &sinus - sinus.mean().unwrap();
        let m = vf_measures(sinus.view(), fs).unwrap();
        assert!(!m.is_fibrillatory(), "{m:?}");
        // Slow baseline sway (motion): sinusoid-like but far too slow.
        let sway = Array1::from_shape_fn(n, |i| {
            0.5 * (2.0 * std::f64::consts::PI * 0.8 * i as f64 / fs).sin()
        });
        assert!(!vf_measures(sway.view(), fs).unwrap().is_fibrillatory());
    }
}
