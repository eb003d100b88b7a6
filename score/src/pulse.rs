//! Pulse detection on pulsatile waveforms: the photoplethysmogram (pleth,
//! arbitrary units) and the arterial blood pressure (ABP, mmHg).
//!
//! [`PulseDetector`] finds each pulse's onset with the slope sum function
//! (SSF) of Zong, Heldt, Moody and Mark, "An open-source algorithm to detect
//! onset of arterial blood pressure pulses", Computers in Cardiology 30
//! (2003) 259–262: the signal is low-pass filtered (16 Hz), the positive
//! first differences are summed over a window as long as a pulse's upstroke
//! (128 ms), so each upstroke becomes one large SSF peak whatever the
//! baseline; a pulse is detected where the SSF crosses 60 % of its recent
//! peak level, and its onset is where the SSF rose from its foot before the
//! crossing. The initial peak level is three times the mean SSF of the first
//! seconds, as in the paper. A 250 ms refractory period follows each pulse
//! (heart rates up to 240 /min). The same method serves the pleth, whose
//! upstroke is of the same order (about 100–250 ms).
//!
//! [`PulseEvidence::over`] then says what the pulses of a span of time show:
//! their rate, whether they are regular and of steady amplitude, and how
//! much of the span had no signal — the signal quality the alarm decisions
//! rest on (module `bedside`). Quality follows the criteria used by the
//! best multi-signal entries of the PhysioNet/CinC Challenge 2015 on false
//! ICU alarms (Clifford et al., "False alarm reduction in critical care",
//! Physiol. Meas. 37(8), 2016, and the entries of that focus issue):
//! physiological rate, regular intervals, consistent amplitude, no gaps.

use serde::Serialize;

use crate::ecg::filter::Biquad;

/// One detected pulse.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pulse {
    /// Sample index of the pulse onset (the foot of the upstroke).
    pub onset: usize,
    /// Where the upstroke crossed the detection threshold, mid-rise: the
    /// steadier fiducial point for intervals (the foot is hard to place
    /// on a noisy baseline).
    pub mark: usize,
    /// The SSF peak: the rise of the upstroke over 128 ms, in the channel's
    /// units. Comparable between pulses of one channel, not across channels.
    pub upstroke: f64,
    /// The filtered signal at the onset (for ABP about the diastolic
    /// pressure, mmHg).
    pub foot: f64,
    /// The rise from the foot to the highest point within
    /// `AMPLITUDE_WINDOW_S` of the onset (for ABP about the pulse
    /// pressure).
    pub amplitude: f64,
}

/// Low-pass cut-off (Zong et al.: 16 Hz).
const LOWPASS_HZ: f64 = 16.0;
/// SSF window (Zong et al.: 128 ms, about one upstroke).
const SSF_WINDOW_S: f64 = 0.128;
/// Seconds of SSF whose mean sets the first peak level.
const LEARN_S: f64 = 3.0;
/// Detection threshold as a fraction of the peak level (Zong et al.: 60 %).
const THRESHOLD: f64 = 0.6;
/// No new pulse within this time of the last onset.
const REFRACTORY_S: f64 = 0.25;
/// ...and within this share of the recent median interval.
const REFRACTORY_SHARE: f64 = 0.55;
/// A pulse's amplitude is measured this long after its onset (past the
/// systolic peak at any rate the detector follows); the pulse is reported
/// then.
const AMPLITUDE_WINDOW_S: f64 = 0.35;
/// After a crossing, the SSF peak is sought for this long.
const PEAK_SEARCH_S: f64 = 0.15;
/// The onset lies at most this far before the crossing.
const ONSET_SEARCH_S: f64 = 0.3;
/// After this long without a pulse the peak level decays (a weaker pulse, a
/// gain change)...
const DECAY_AFTER_S: f64 = 2.0;
/// ...by this factor a second...
const DECAY_PER_S: f64 = 0.5;
/// ...but not below this fraction of the slow peak level, so that the noise
/// of a flat line is not taken for pulses.
const FLOOR: f64 = 0.2;

/// Streaming pulse-onset detector: feed blocks, get the pulses whose onset
/// was confirmed in that block (at most `PEAK_SEARCH_S` after the crossing).
#[derive(Debug, Clone)]
pub struct PulseDetector {
    fs_hz: f64,
    lowpass: Biquad,
    primed: bool,
    last: f64,
    /// Positive differences of the last `SSF_WINDOW_S`, and their sum.
    diffs: std::collections::VecDeque<f64>,
    ssf: f64,
    window: usize,
    /// The SSF of the last `ONSET_SEARCH_S + PEAK_SEARCH_S`; `history[0]`
    /// is sample `history_start`.
    history: std::collections::VecDeque<(f64, f64)>,
    history_start: usize,
    /// A detected pulse whose amplitude is still being measured, and the
    /// sample at which it is reported.
    pending: Option<(Pulse, usize)>,
    seen: usize,
    learn_sum: f64,
    learn_count: usize,
    /// Recent peak level (fast) and long-term level (slow); 0 while learning.
    level: f64,
    slow_level: f64,
    /// Samples since the level last decayed or was set by a pulse.
    since_level: usize,
    /// A crossing being followed: where it crossed and the SSF peak so far.
    candidate: Option<(usize, f64)>,
    last_onset: Option<usize>,
    last_crossing: Option<usize>,
    /// The crossing of the last pulse: the next onset lies after it.
    last_crossing_before: Option<usize>,
    /// The last intervals between onsets (samples).
    intervals: std::collections::VecDeque<usize>,
}

impl PulseDetector {
    pub fn new(fs_hz: f64) -> PulseDetector {
        let window = ((SSF_WINDOW_S * fs_hz).round() as usize).max(2);
        PulseDetector {
            fs_hz,
            lowpass: Biquad::lowpass(fs_hz, LOWPASS_HZ.min(0.4 * fs_hz)),
            primed: false,
            last: 0.0,
            diffs: std::collections::VecDeque::with_capacity(window + 1),
            ssf: 0.0,
            window,
            history: std::collections::VecDeque::new(),
            history_start: 0,
            pending: None,
            seen: 0,
            learn_sum: 0.0,
            learn_count: 0,
            level: 0.0,
            slow_level: 0.0,
            since_level: 0,
            candidate: None,
            last_onset: None,
            last_crossing: None,
            last_crossing_before: None,
            intervals: std::collections::VecDeque::new(),
        }
    }

    /// Samples fed so far.
    pub fn samples_seen(&self) -> usize {
        self.seen
    }

    /// Feeds a block (NaN for missing samples: the filter restarts after a
    /// gap and nothing is detected across it).
    pub fn push(&mut self, samples: &[f64]) -> Vec<Pulse> {
        let mut out = Vec::new();
        for &x in samples {
            self.step(x, &mut out);
        }
        out
    }

    fn step(&mut self, x: f64, out: &mut Vec<Pulse>) {
        let i = self.seen;
        self.seen += 1;
        if !x.is_finite() {
            // A gap: forget the upstroke in progress and start the filter
            // again on the next sample.
            self.primed = false;
            self.diffs.clear();
            self.ssf = 0.0;
            self.candidate = None;
            self.record(0.0, f64::NAN);
            if let Some((p, _)) = self.pending.take() {
                out.push(p);
            }
            return;
        }
        let y = if self.primed {
            self.lowpass.process(x)
        } else {
            self.primed = true;
            self.lowpass.prime(x)
        };
        let d = (y - self.last).max(0.0);
        self.last = y;
        self.diffs.push_back(d);
        self.ssf += d;
        if self.diffs.len() > self.window
            && let Some(old) = self.diffs.pop_front()
        {
            self.ssf -= old;
        }
        let ssf = self.ssf.max(0.0);
        self.record(ssf, y);
        if let Some((p, due)) = &mut self.pending {
            p.amplitude = p.amplitude.max(y - p.foot);
            if i >= *due
                && let Some((p, _)) = self.pending.take()
            {
                out.push(p);
            }
        }

        if self.level == 0.0 {
            self.learn_sum += ssf;
            self.learn_count += 1;
            if self.learn_count as f64 >= LEARN_S * self.fs_hz {
                let mean = self.learn_sum / self.learn_count as f64;
                if mean > 0.0 {
                    self.level = 3.0 * mean;
                    self.slow_level = self.level;
                } else {
                    // A flat start: keep learning.
                    self.learn_sum = 0.0;
                    self.learn_count = 0;
                }
            }
            return;
        }

        self.since_level += 1;
        let decay_after = (DECAY_AFTER_S * self.fs_hz) as usize;
        if self.candidate.is_none() && self.since_level > decay_after {
            // One decay step a tenth of a second.
            let step = (0.1 * self.fs_hz).max(1.0) as usize;
            if (self.since_level - decay_after).is_multiple_of(step) {
                let floor = FLOOR * self.slow_level;
                self.level = (self.level * DECAY_PER_S.powf(0.1)).max(floor);
            }
        }

        let threshold = THRESHOLD * self.level;
        match self.candidate {
            None => {
                let refractory = self.refractory();
                let clear = self.last_crossing.is_none_or(|c| i >= c + refractory);
                if ssf > threshold && clear {
                    self.candidate = Some((i, ssf));
                }
            }
            Some((crossing, peak)) => {
                let peak = peak.max(ssf);
                self.candidate = Some((crossing, peak));
                let search = (PEAK_SEARCH_S * self.fs_hz) as usize;
                if i >= crossing + search || ssf < 0.5 * peak {
                    self.candidate = None;
                    self.last_crossing = Some(crossing);
                    let onset = self
                        .onset_before(crossing, peak)
                        .max(self.last_crossing_before.map_or(0, |c| c + 1));
                    self.last_crossing_before = Some(crossing);
                    if self.last_onset.is_none_or(|o| onset > o) {
                        if let Some(o) = self.last_onset {
                            self.intervals.push_back(onset - o);
                            if self.intervals.len() > 8 {
                                self.intervals.pop_front();
                            }
                        }
                        self.last_onset = Some(onset);
                        if let Some((p, _)) = self.pending.take() {
                            out.push(p);
                        }
                        let (foot, amplitude) = self.rise_since(onset);
                        let due = onset + (AMPLITUDE_WINDOW_S * self.fs_hz) as usize;
                        let pulse = Pulse {
                            onset,
                            mark: crossing,
                            upstroke: peak,
                            foot,
                            amplitude,
                        };
                        if i >= due {
                            out.push(pulse);
                        } else {
                            self.pending = Some((pulse, due));
                        }
                        self.level = 0.75 * self.level + 0.25 * peak;
                        self.slow_level = 0.95 * self.slow_level + 0.05 * peak;
                        self.since_level = 0;
                    }
                }
            }
        }
    }

    /// No crossing within `REFRACTORY_S`, nor within `REFRACTORY_SHARE` of
    /// the median of the last intervals: the upstroke after the dicrotic
    /// notch of arterial and pleth pulses is not a new pulse, while a rate
    /// that doubles (intervals halve) is still followed.
    fn refractory(&self) -> usize {
        let floor = (REFRACTORY_S * self.fs_hz) as usize;
        if self.intervals.len() < 3 {
            return floor;
        }
        let mut v: Vec<usize> = self.intervals.iter().copied().collect();
        v.sort_unstable();
        let median = v[v.len() / 2];
        floor.max((REFRACTORY_SHARE * median as f64) as usize)
    }

    /// The filtered value at `onset` and the highest rise above it since.
    fn rise_since(&self, onset: usize) -> (f64, f64) {
        let at = onset.saturating_sub(self.history_start);
        let foot = self.history.get(at).map_or(f64::NAN, |h| h.1);
        let top = self
            .history
            .iter()
            .skip(at)
            .map(|h| h.1)
            .filter(|v| v.is_finite())
            .fold(f64::NEG_INFINITY, f64::max);
        (foot, (top - foot).max(0.0))
    }

    fn record(&mut self, ssf: f64, y: f64) {
        self.history.push_back((ssf, y));
        let keep = ((ONSET_SEARCH_S + PEAK_SEARCH_S) * self.fs_hz) as usize + 2;
        while self.history.len() > keep {
            self.history.pop_front();
            self.history_start += 1;
        }
    }

    /// Walks back from the crossing to where the SSF was last below 2 % of
    /// the peak (or at its lowest within the search span).
    fn onset_before(&self, crossing: usize, peak: f64) -> usize {
        let span = (ONSET_SEARCH_S * self.fs_hz) as usize;
        let lowest = crossing.saturating_sub(span).max(self.history_start);
        let mut best = (crossing, f64::INFINITY);
        let mut j = crossing;
        while j > lowest {
            j -= 1;
            let v = self.history[j - self.history_start].0;
            if v < best.1 {
                best = (j, v);
            }
            if v <= 0.02 * peak {
                return j;
            }
        }
        best.0
    }
}

/// Detects the pulses of a whole recording (the same as streaming it).
pub fn detect_pulses(samples: &[f64], fs_hz: f64) -> Vec<Pulse> {
    PulseDetector::new(fs_hz).push(samples)
}

/// What the pulses of one channel show over a span of time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PulseEvidence {
    pub pulses: usize,
    /// 60 / median interval.
    pub rate_bpm: Option<f64>,
    /// Share of intervals within ±20 % of the median interval.
    pub regular_share: f64,
    /// Share of pulses whose upstroke is within half to twice the median.
    pub steady_share: f64,
    /// Longest time without a pulse onset in the span (including its ends).
    pub longest_gap_s: f64,
    /// Share of the span's samples that were missing.
    pub missing_share: f64,
}

/// Fewest pulses for a channel to say anything about the rate.
const MIN_PULSES: usize = 3;

impl PulseEvidence {
    /// The evidence of `pulses` (sorted by onset) between samples `from` and
    /// `to`; `missing` is how many samples of the span were missing.
    pub fn over(pulses: &[Pulse], from: usize, to: usize, missing: usize, fs_hz: f64) -> Self {
        let inside: Vec<&Pulse> = pulses
            .iter()
            .filter(|p| p.mark >= from && p.mark < to)
            .collect();
        let span = to.saturating_sub(from).max(1);
        let mut intervals: Vec<f64> = inside
            .windows(2)
            .map(|w| (w[1].mark - w[0].mark) as f64 / fs_hz)
            .collect();
        let mut edges = vec![from];
        edges.extend(inside.iter().map(|p| p.mark));
        edges.push(to);
        let longest_gap_s = edges
            .windows(2)
            .map(|w| (w[1] - w[0]) as f64 / fs_hz)
            .fold(0.0, f64::max);
        let rate_bpm = (!intervals.is_empty()).then(|| 60.0 / median(&mut intervals.clone()));
        let regular_share = match rate_bpm {
            Some(rate) => {
                let m = 60.0 / rate;
                intervals
                    .iter()
                    .filter(|&&iv| (iv - m).abs() <= 0.2 * m)
                    .count() as f64
                    / intervals.len() as f64
            }
            None => 0.0,
        };
        let mut ups: Vec<f64> = inside.iter().map(|p| p.upstroke).collect();
        let steady_share = if ups.is_empty() {
            0.0
        } else {
            let m = median(&mut ups.clone());
            ups.retain(|&u| u >= 0.5 * m && u <= 2.0 * m);
            ups.len() as f64 / inside.len() as f64
        };
        intervals.clear();
        PulseEvidence {
            pulses: inside.len(),
            rate_bpm,
            regular_share,
            steady_share,
            longest_gap_s,
            missing_share: missing as f64 / span as f64,
        }
    }

    /// A pulse throughout the span: enough pulses of steady amplitude at a
    /// physiological rate, no pause of `max_gap_s`, no gap in the signal.
    /// Looser than [`is_good`](Self::is_good) on regularity (half the
    /// intervals within ±20 %): ectopic beats and a pulse deficit make a
    /// pulse irregular, not absent.
    pub fn is_present(&self, max_gap_s: f64) -> bool {
        self.pulses >= MIN_PULSES
            && self.missing_share < 0.05
            && self.rate_bpm.is_some_and(|r| (25.0..=220.0).contains(&r))
            && self.longest_gap_s < max_gap_s
            && self.regular_share >= 0.5
            && self.steady_share >= 0.7
    }

    /// Good enough to contradict the ECG: enough pulses at a physiological
    /// rate, regular, of steady amplitude, with no gap in the signal.
    pub fn is_good(&self) -> bool {
        self.pulses >= MIN_PULSES
            && self.missing_share < 0.05
            && self.rate_bpm.is_some_and(|r| (25.0..=220.0).contains(&r))
            && self.regular_share >= 0.8
            && self.steady_share >= 0.8
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic arterial pressure: diastole 80, systole 120, a 150 ms
    /// upstroke and an exponential run-off, at `bpm`.
    fn abp(fs: f64, seconds: f64, bpm: f64) -> (Vec<f64>, Vec<usize>) {
        let n = (seconds * fs) as usize;
        let period = 60.0 / bpm;
        let mut onsets = Vec::new();
        let mut t0 = 0.5;
        while t0 < seconds {
            onsets.push((t0 * fs) as usize);
            t0 += period;
        }
        let x = (0..n)
            .map(|i| {
                let t = i as f64 / fs;
                let last = onsets.iter().rev().find(|&&o| o <= i);
                match last {
                    None => 80.0,
                    Some(&o) => {
                        let dt = t - o as f64 / fs;
                        if dt < 0.15 {
                            80.0 + 40.0 * (dt / 0.15)
                        } else {
                            80.0 + 40.0 * (-(dt - 0.15) / 0.35).exp()
                        }
                    }
                }
            })
            .collect();
        (x, onsets)
    }

    #[test]
    fn finds_every_pulse_onset_within_40_ms() {
        let fs = 250.0;
        let (x, onsets) = abp(fs, 30.0, 72.0);
        let found = detect_pulses(&x, fs);
        // The first pulses fall in the learning period; the last is still
        // being measured when the recording ends.
        let expected: Vec<usize> = onsets
            .into_iter()
            .filter(|&o| o > 4 * 250 && o + 100 < 30 * 250)
            .collect();
        let found: Vec<usize> = found
            .iter()
            .map(|p| p.onset)
            .filter(|&o| o > 4 * 250)
            .collect();
        assert_eq!(found.len(), expected.len(), "{found:?} vs {expected:?}");
        for (f, e) in found.iter().zip(&expected) {
            assert!(f.abs_diff(*e) <= 10, "onset {f} for {e}");
        }
    }

    #[test]
    fn streaming_in_blocks_finds_the_same_pulses() {
        let fs = 125.0;
        let (x, _) = abp(fs, 20.0, 110.0);
        let whole = detect_pulses(&x, fs);
        let mut d = PulseDetector::new(fs);
        let mut blocks = Vec::new();
        for chunk in x.chunks(37) {
            blocks.extend(d.push(chunk));
        }
        assert_eq!(whole, blocks);
    }

    #[test]
    fn a_flat_line_after_pulses_has_no_pulse_and_a_long_gap() {
        let fs = 250.0;
        let (mut x, _) = abp(fs, 20.0, 80.0);
        let keep = 12 * 250;
        for v in &mut x[keep..] {
            *v = 80.0 + 0.01 * ((*v * 7.0).sin());
        }
        let pulses = detect_pulses(&x, fs);
        let ev = PulseEvidence::over(&pulses, keep + 50, 20 * 250, 0, fs);
        assert_eq!(ev.pulses, 0, "{pulses:?}");
        assert!(!ev.is_good());
        assert!(ev.longest_gap_s > 7.0);
        let before = PulseEvidence::over(&pulses, 4 * 250, keep, 0, fs);
        assert!(before.is_good(), "{before:?}");
        assert!((before.rate_bpm.expect("a rate") - 80.0).abs() < 2.0);
    }

    #[test]
    fn missing_samples_make_the_evidence_unusable_not_a_panic() {
        let fs = 250.0;
        let (mut x, _) = abp(fs, 20.0, 80.0);
        for v in &mut x[2000..2400] {
            *v = f64::NAN;
        }
        let pulses = detect_pulses(&x, fs);
        let ev = PulseEvidence::over(&pulses, 1000, 5000, 400, fs);
        assert!(!ev.is_good());
        assert!(pulses.windows(2).all(|w| w[0].onset < w[1].onset));
    }
}
