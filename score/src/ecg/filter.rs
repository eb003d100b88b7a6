//! Second-order IIR sections (biquads) used to band-limit ECG before beat
//! detection. Coefficients follow R. Bristow-Johnson's "Cookbook formulae for
//! audio EQ biquad filter coefficients" (bilinear transform with frequency
//! pre-warping); with Q = 1/√2 a section is a 2nd-order Butterworth filter, so
//! the same design works at any sampling rate (125 Hz MIMIC, 250 Hz Challenge,
//! 360 Hz MIT-BIH) instead of Pan–Tompkins' integer filters tied to 200 Hz.

/// One biquad in transposed direct form II; it carries its own state so a
/// stream can be filtered block by block with the same result as in one go.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Biquad {
    b0: f64,
    b1: f64,
    b2: f64,
    a1: f64,
    a2: f64,
    s1: f64,
    s2: f64,
}

impl Biquad {
    fn design(fs_hz: f64, f0_hz: f64, highpass: bool) -> Biquad {
        let w0 = 2.0 * std::f64::consts::PI * f0_hz / fs_hz;
        let (sin, cos) = w0.sin_cos();
        let alpha = sin / (2.0 * std::f64::consts::FRAC_1_SQRT_2);
        let a0 = 1.0 + alpha;
        let (b0, b1) = if highpass {
            ((1.0 + cos) / 2.0, -(1.0 + cos))
        } else {
            ((1.0 - cos) / 2.0, 1.0 - cos)
        };
        Biquad {
            b0: b0 / a0,
            b1: b1 / a0,
            b2: b0 / a0,
            a1: -2.0 * cos / a0,
            a2: (1.0 - alpha) / a0,
            s1: 0.0,
            s2: 0.0,
        }
    }

    pub(crate) fn lowpass(fs_hz: f64, f0_hz: f64) -> Biquad {
        Biquad::design(fs_hz, f0_hz, false)
    }

    pub(crate) fn highpass(fs_hz: f64, f0_hz: f64) -> Biquad {
        Biquad::design(fs_hz, f0_hz, true)
    }

    /// Sets the state as if `x` had been the input forever and returns the
    /// steady output, so a recording that starts at an offset (every ECG does)
    /// causes no start-up transient that the detector would take for a beat.
    pub(crate) fn prime(&mut self, x: f64) -> f64 {
        let gain = (self.b0 + self.b1 + self.b2) / (1.0 + self.a1 + self.a2);
        let y = gain * x;
        self.s2 = self.b2 * x - self.a2 * y;
        self.s1 = self.b1 * x - self.a1 * y + self.s2;
        y
    }

    #[inline]
    pub(crate) fn process(&mut self, x: f64) -> f64 {
        let y = self.b0 * x + self.s1;
        self.s1 = self.b1 * x - self.a1 * y + self.s2;
        self.s2 = self.b2 * x - self.a2 * y;
        y
    }
}

/// What a [`BandWindow`] makes of a missing input sample (NaN).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Missing {
    /// Kept as NaN, the filters untouched: a window over it is unusable.
    Kept,
    /// Filtered as the baseline (0 mV).
    Baseline,
}

/// The last seconds of a band-limited stream, addressed by absolute sample
/// index: a high-pass then a low-pass section, primed on the first sample
/// so a stream that starts off the baseline does not ring.
#[derive(Debug, Clone)]
pub(crate) struct BandWindow {
    highpass: Biquad,
    lowpass: Biquad,
    primed: bool,
    missing: Missing,
    /// `buffer[0]` is sample `offset`. Stored as `f32` (24-bit mantissa,
    /// far finer than any ECG's ADC) and never past `keep`, so a monitored
    /// bed's windows take 4 bytes a sample, allocated once (issue 16: these
    /// windows were most of a bed's memory at 8 bytes a sample and up to
    /// twice `keep` while a block was trimmed).
    buffer: std::collections::VecDeque<f32>,
    offset: usize,
    keep: usize,
}

impl BandWindow {
    pub(crate) fn new(
        fs_hz: f64,
        highpass_hz: f64,
        lowpass_hz: f64,
        keep_s: f64,
        missing: Missing,
    ) -> BandWindow {
        BandWindow {
            highpass: Biquad::highpass(fs_hz, highpass_hz),
            lowpass: Biquad::lowpass(fs_hz, lowpass_hz),
            primed: false,
            missing,
            buffer: std::collections::VecDeque::new(),
            offset: 0,
            keep: ((keep_s * fs_hz).round() as usize).max(1),
        }
    }

    /// Feeds samples (mV; NaN for missing).
    pub(crate) fn push(&mut self, block: &[f64]) {
        for &x in block {
            let x = match (x.is_finite(), self.missing) {
                (true, _) => x,
                (false, Missing::Baseline) => 0.0,
                (false, Missing::Kept) => {
                    self.keep_one(f64::NAN);
                    continue;
                }
            };
            let y = if self.primed {
                self.lowpass.process(self.highpass.process(x))
            } else {
                self.primed = true;
                self.highpass.prime(x);
                self.lowpass.prime(0.0);
                0.0
            };
            self.keep_one(y);
        }
    }

    fn keep_one(&mut self, y: f64) {
        if self.buffer.capacity() == 0 {
            self.buffer.reserve_exact(self.keep);
        }
        if self.buffer.len() == self.keep {
            self.buffer.pop_front();
            self.offset += 1;
        }
        self.buffer.push_back(y as f32);
    }

    /// The first sample after the newest one fed.
    pub(crate) fn samples_seen(&self) -> usize {
        self.offset + self.buffer.len()
    }

    /// Samples `from..to`, or `None` when they are not all buffered (no
    /// longer, or not yet).
    pub(crate) fn range(&self, from: usize, to: usize) -> Option<Vec<f64>> {
        let mut out = Vec::new();
        self.range_into(from, to, &mut out).then_some(out)
    }

    /// [`BandWindow::range`] into `out` (its contents replaced), for a
    /// caller that reads many windows in a row; `false` (and `out` left
    /// empty) when they are not all buffered.
    pub(crate) fn range_into(&self, from: usize, to: usize, out: &mut Vec<f64>) -> bool {
        out.clear();
        if from < self.offset || to > self.samples_seen() || to < from {
            return false;
        }
        out.extend(
            self.buffer
                .range(from - self.offset..to - self.offset)
                .map(|&v| f64::from(v)),
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gain_at(mut f: Biquad, fs: f64, hz: f64) -> f64 {
        let n = (fs * 4.0) as usize;
        let mut peak: f64 = 0.0;
        for i in 0..n {
            let y = f.process((2.0 * std::f64::consts::PI * hz * i as f64 / fs).sin());
            if i > n / 2 {
                peak = peak.max(y.abs());
            }
        }
        peak
    }

    #[test]
    fn butterworth_sections_are_3db_down_at_the_corner() {
        for fs in [125.0, 250.0, 360.0] {
            let lp = Biquad::lowpass(fs, 15.0);
            let hp = Biquad::highpass(fs, 5.0);
            assert!((gain_at(lp, fs, 15.0) - std::f64::consts::FRAC_1_SQRT_2).abs() < 0.02);
            assert!((gain_at(hp, fs, 5.0) - std::f64::consts::FRAC_1_SQRT_2).abs() < 0.02);
            assert!(gain_at(lp, fs, 2.0) > 0.99 && gain_at(hp, fs, 40.0) > 0.97);
        }
    }

    /// Fed in blocks larger than it keeps, a window never holds (or
    /// allocates) more than its span, and still answers for the newest.
    #[test]
    fn a_band_window_is_bounded_by_its_span_whatever_the_block_size() {
        let fs = 250.0;
        let mut w = BandWindow::new(fs, 1.0, 40.0, 4.0, Missing::Kept);
        let block: Vec<f64> = (0..1500).map(|i| (i as f64 * 0.05).sin()).collect();
        for _ in 0..10 {
            w.push(&block);
            assert_eq!(w.buffer.len(), 1000);
            assert!(w.buffer.capacity() < 1024, "{}", w.buffer.capacity());
        }
        let seen = w.samples_seen();
        assert_eq!(seen, 15_000);
        assert!(w.range(seen - 1000, seen).is_some());
        assert!(w.range(seen - 1001, seen).is_none(), "older than the span");
        let mut missing = block.clone();
        missing[1499] = f64::NAN;
        w.push(&missing);
        let last = w
            .range(w.samples_seen() - 2, w.samples_seen())
            .expect("kept");
        assert!(last[0].is_finite() && last[1].is_nan());
    }

    #[test]
    fn priming_removes_the_start_transient() {
        let mut hp = Biquad::highpass(360.0, 5.0);
        assert_eq!(hp.prime(-0.145), 0.0);
        assert!(hp.process(-0.145).abs() < 1e-12);
        let mut lp = Biquad::lowpass(360.0, 15.0);
        assert!((lp.prime(2.0) - 2.0).abs() < 1e-12);
        assert!((lp.process(2.0) - 2.0).abs() < 1e-12);
    }
}
