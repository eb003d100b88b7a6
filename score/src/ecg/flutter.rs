//! Atrial flutter apart from AF: the organisation of the atrial signal.
//!
//! Flutter with variable AV block is as irregular at the ventricles as AF,
//! and its flutter waves do not stand in place before each QRS, so neither
//! the RR measures (`rhythm`) nor the PR-window coherence (`atrial`) tell
//! it from AF: MIT-BIH 222's flutter read as AF. What differs is the atria
//! themselves: one macro-reentrant circuit makes a regular wave at
//! 240–340 /min (4–5.7 Hz), one narrow spectral line with its harmonics,
//! where AF's many wavelets spread their power over 4–9 Hz.
//!
//! The atrial signal is the ECG with the ventricles' QRS-T taken out: an
//! average beat subtracted at each dominant beat (the average beat
//! subtraction of Slocum, Sahakian & Swiryn, "Diagnosis of atrial
//! fibrillation from surface electrocardiograms based on computer-detected
//! atrial activity", J. Electrocardiol. 25:1–8, 1992), scaled to the beat
//! by least squares; beats unlike the dominant ones are blanked. Over the
//! last 10 s of it, a Welch spectrum (4 s Hann segments, half overlapped,
//! 0.25 Hz apart) gives the dominant atrial frequency and the organisation
//! index of Everett, Kok, Vaughn, Moorman & Haines, "Frequency domain
//! algorithm for quantifying atrial fibrillation organization to increase
//! defibrillation efficacy", IEEE Trans. Biomed. Eng. 48:969–978, 2001:
//! the power within 0.5 Hz of the peak and of its first harmonic over the
//! power of the band.
//!
//! Measured offline on MIT-BIH (the reference beats and rhythm labels, 10 s
//! windows every 5 s): 222's flutter has an index of 0.75 (10th–90th
//! percentile 0.69–0.82) at 5.9 Hz; AF in 201, 202, 203, 210, 219 and 221
//! 0.32–0.44 (90th percentiles 0.46–0.60); sinus and nodal rhythm 0.31–0.48
//! at 3.3–4.0 Hz. An index of at least [`ORGANISED_INDEX`] with the peak at
//! flutter's rates, in [`RUN`] windows running (15 s), marked 38 windows
//! of 222's flutter and none of AF in those records. 203's flutter, in a
//! noisy record of multiform ventricular beats, reads as AF here too.

use std::collections::VecDeque;

use super::filter::BandWindow;

/// The average beat: from this long before the R peak (the QRS onset)…
const PRE_S: f64 = 0.12;
/// …to this long after it (past the T wave at ordinary rates).
const POST_S: f64 = 0.50;
/// Each dominant beat moves the average this much of the way to itself.
const TEMPLATE_RATE: f64 = 1.0 / 8.0;
/// The atrial signal is kept at about this rate (an average of whole
/// samples: flutter's waves and their first harmonic lie under 12 Hz).
const KEPT_HZ: f64 = 50.0;
/// The spectrum is of the last this many seconds…
const WINDOW_S: f64 = 10.0;
/// …taken again every this many seconds.
const STEP_S: f64 = 5.0;
/// Welch segments of this many seconds, half overlapped (0.25 Hz apart).
const SEGMENT_S: f64 = 4.0;
/// The band the organisation is a share of.
const BAND_HZ: (f64, f64) = (3.0, 20.0);
/// Where the dominant atrial frequency is looked for.
const PEAK_HZ: (f64, f64) = (3.0, 12.0);
/// The dominant frequency of flutter: 3.5–6.5 Hz (210–390 /min), typical
/// flutter's 240–340 /min with room for the slowing of drugs and the
/// spectrum's 0.25 Hz steps.
const FLUTTER_HZ: (f64, f64) = (3.5, 6.5);
/// The half width of the peak and of its harmonic.
const PEAK_HALF_WIDTH_HZ: f64 = 0.5;
/// Organisation index at or above which the atrial signal is flutter's
/// (see the module comment for what it was read from).
pub const ORGANISED_INDEX: f64 = 0.6;
/// Windows in a row that it must hold for…
const RUN: usize = 3;
/// …and the index that keeps it, once it holds (AF's windows reach 0.6 at
/// their 90th percentile, flutter's stay above 0.69 at their 10th); it
/// ends after this many windows in a row below that.
const HELD_INDEX: f64 = 0.5;
const MISSES_TO_END: usize = 2;

/// The atrial signal of one lead and whether it is organised as flutter.
#[derive(Debug, Clone)]
pub struct FlutterTrack {
    fs_hz: f64,
    /// Samples averaged into one of `kept`.
    every: usize,
    /// The average beat (band-limited), `PRE_S + POST_S` long.
    template: Option<Vec<f64>>,
    /// The beat before the one last added: its R peak and whether it was
    /// unlike the dominant ones.
    previous: Option<(usize, bool)>,
    /// The sample up to which the atrial signal is made.
    done_to: usize,
    /// A partial average of `every` samples: its sum and count.
    partial: (f64, usize),
    /// The atrial signal at `KEPT_HZ`, the last `WINDOW_S`.
    kept: VecDeque<f32>,
    /// Kept samples since the last spectrum.
    since_spectrum: usize,
    /// Whether spectra are taken (while the rhythm may be AF, and while a
    /// run goes on).
    watching: bool,
    /// Spectra in a row that were flutter's, and the R peak of the beat
    /// at which the run began.
    run: usize,
    run_from: usize,
    /// Windows in a row below `HELD_INDEX` while flutter holds.
    misses: usize,
    /// The last spectrum's dominant frequency and organisation index.
    last: Option<(f64, f64)>,
    /// Scratch for a window of the band.
    scratch: Vec<f64>,
}

impl FlutterTrack {
    pub fn new(fs_hz: f64) -> FlutterTrack {
        let every = ((fs_hz / KEPT_HZ).round() as usize).max(1);
        FlutterTrack {
            fs_hz,
            every,
            template: None,
            previous: None,
            done_to: 0,
            partial: (0.0, 0),
            kept: VecDeque::new(),
            since_spectrum: 0,
            watching: false,
            run: 0,
            run_from: 0,
            misses: 0,
            last: None,
            scratch: Vec::new(),
        }
    }

    fn samples(&self, s: f64) -> usize {
        (s * self.fs_hz).round() as usize
    }

    /// The rate of the kept atrial signal.
    fn kept_hz(&self) -> f64 {
        self.fs_hz / self.every as f64
    }

    /// Spectra are taken while `on` (the rhythm may be AF: irregular, or
    /// an episode open), as a sinus rhythm needs none, and while a run of
    /// flutter's goes on (so that it ends when the spectrum says so, not
    /// when the intervals look regular for a moment).
    pub fn watch(&mut self, on: bool) {
        self.watching = on;
    }

    /// Where the atrial signal has been flutter's for `RUN` spectra in a
    /// row: the R peak of the beat at which that began.
    pub fn flutter_since(&self) -> Option<usize> {
        (self.run >= RUN).then_some(self.run_from)
    }

    /// The last spectrum's dominant frequency (Hz) and organisation index.
    pub fn last_spectrum(&self) -> Option<(f64, f64)> {
        self.last
    }

    /// A classified beat at `r` (`unlike`: not one of the dominant beats,
    /// or unclassified). The atrial signal is made up to just before its
    /// QRS, with the beat before it taken out.
    pub(crate) fn add_beat(&mut self, band: &BandWindow, r: usize, unlike: bool) {
        let Some((q, q_unlike)) = self.previous.replace((r, unlike)) else {
            return;
        };
        let (pre, post) = (self.samples(PRE_S), self.samples(POST_S));
        if !self.watching && self.run == 0 {
            // Nothing to measure (a sinus rhythm with its P waves): nothing
            // kept either, so a ward of such patients holds ~3 kB less per
            // lead. Watched again, the signal fills up in `WINDOW_S`.
            if self.template.is_some() || self.kept.capacity() > 0 {
                self.template = None;
                self.kept = VecDeque::new();
                self.scratch = Vec::new();
                self.partial = (0.0, 0);
                self.since_spectrum = 0;
            }
            self.done_to = r.saturating_sub(pre);
            return;
        }
        let (q_from, q_to) = (q.saturating_sub(pre), q + post);
        let from = self.done_to.max(q_from);
        let to = r.saturating_sub(pre);
        if to <= from {
            return;
        }
        let mut x = std::mem::take(&mut self.scratch);
        if !band.range_into(from, to, &mut x) || !x.iter().all(|v| v.is_finite()) {
            // A gap (missing samples, or older than the band keeps): the
            // atrial signal starts again after it.
            self.restart();
            self.done_to = to;
            self.scratch = x;
            return;
        }
        // The beat before, over its whole window (buffered by now: the
        // classifier decides a beat after its T wave).
        let beat = if q_unlike {
            None
        } else {
            band.range(q_from, q_to)
                .filter(|w| w.iter().all(|v| v.is_finite()))
        };
        let overlap = from.max(q_from)..to.min(q_to);
        match beat {
            Some(w) => {
                let template = match self.template.take() {
                    Some(mut t) => {
                        for (t, v) in t.iter_mut().zip(&w) {
                            *t += (v - *t) * TEMPLATE_RATE;
                        }
                        t
                    }
                    None => w.clone(),
                };
                let tt: f64 = template.iter().map(|v| v * v).sum();
                let k = if tt > 0.0 {
                    w.iter().zip(&template).map(|(a, b)| a * b).sum::<f64>() / tt
                } else {
                    0.0
                };
                for i in overlap {
                    x[i - from] -= k * template[i - q_from];
                }
                self.template = Some(template);
            }
            None => {
                for i in overlap {
                    x[i - from] = 0.0;
                }
            }
        }
        for &v in &x {
            self.partial.0 += v;
            self.partial.1 += 1;
            if self.partial.1 == self.every {
                self.kept
                    .push_back((self.partial.0 / self.every as f64) as f32);
                self.partial = (0.0, 0);
                self.since_spectrum += 1;
            }
        }
        let window = (WINDOW_S * self.kept_hz()).round() as usize;
        while self.kept.len() > window {
            self.kept.pop_front();
        }
        self.done_to = to;
        self.scratch = x;
        if (self.watching || self.run > 0)
            && self.kept.len() >= window
            && self.since_spectrum as f64 >= STEP_S * self.kept_hz()
        {
            self.since_spectrum = 0;
            let (peak, index) = self.spectrum();
            self.last = Some((peak, index));

            // Flutter's index, or once flutter holds, the lower one that
            // keeps it (a window of 222's flutter dips to 0.58 now and
            // then, and AF came back for it).
            let bar = if self.run >= RUN {
                HELD_INDEX
            } else {
                ORGANISED_INDEX
            };
            let flutter = index >= bar && (FLUTTER_HZ.0..=FLUTTER_HZ.1).contains(&peak);
            if flutter {
                if self.run == 0 {
                    // The window began about a window ago.
                    self.run_from = r.saturating_sub(self.samples(WINDOW_S));
                }
                self.run += 1;
                self.misses = 0;
            } else if self.run >= RUN && self.misses + 1 < MISSES_TO_END {
                // One window that falls short does not end flutter.
                self.misses += 1;
            } else {
                self.run = 0;
                self.misses = 0;
            }
        }
    }

    fn restart(&mut self) {
        self.kept.clear();
        self.partial = (0.0, 0);
        self.since_spectrum = 0;
        self.run = 0;
        self.misses = 0;
    }

    /// The dominant frequency and the organisation index of the kept
    /// atrial signal (Welch: Hann segments of `SEGMENT_S`, half
    /// overlapped, each zero-padded to `FFT_LEN` points).
    fn spectrum(&self) -> (f64, f64) {
        let fs = self.kept_hz();
        let n = ((SEGMENT_S * fs).round() as usize).min(FFT_LEN);
        let resolution = fs / FFT_LEN as f64;
        let first = (BAND_HZ.0 / resolution).ceil() as usize;
        let last = ((BAND_HZ.1 / resolution).floor() as usize).min(FFT_LEN / 2);
        if n < 4 || last <= first || self.kept.len() < n {
            return (0.0, 0.0);
        }
        let mut power = vec![0.0f64; last - first + 1];
        let samples: Vec<f64> = self.kept.iter().map(|&v| f64::from(v)).collect();
        let mut re = [0.0f64; FFT_LEN];
        let mut im = [0.0f64; FFT_LEN];
        let mut start = 0;
        while start + n <= samples.len() {
            let part = &samples[start..start + n];
            let mean = part.iter().sum::<f64>() / n as f64;
            re.fill(0.0);
            im.fill(0.0);
            for (i, (r, v)) in re.iter_mut().zip(part).enumerate() {
                let hann = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / (n - 1) as f64).cos();
                *r = (v - mean) * hann;
            }
            fft(&mut re, &mut im);
            for (k, p) in (first..=last).zip(power.iter_mut()) {
                *p += re[k] * re[k] + im[k] * im[k];
            }
            start += n / 2;
        }
        let hz = |i: usize| (first + i) as f64 * resolution;
        let total: f64 = power.iter().sum();
        let Some(peak) = (0..power.len())
            .filter(|&i| (PEAK_HZ.0..=PEAK_HZ.1).contains(&hz(i)))
            .max_by(|&a, &b| power[a].total_cmp(&power[b]))
        else {
            return (0.0, 0.0);
        };
        if total <= 0.0 {
            return (hz(peak), 0.0);
        }
        let near = |centre: f64| -> f64 {
            (0..power.len())
                .filter(|&i| (hz(i) - centre).abs() <= PEAK_HALF_WIDTH_HZ + 1e-9)
                .map(|i| power[i])
                .sum()
        };
        let peak_hz = hz(peak);
        (peak_hz, (near(peak_hz) + near(2.0 * peak_hz)) / total)
    }
}

/// The spectrum's length: a segment (200 points at 50 Hz) zero-padded to
/// a power of two, 0.2 Hz apart at 50 Hz.
const FFT_LEN: usize = 256;

/// In-place radix-2 FFT (Cooley–Tukey, decimation in time) of `FFT_LEN`
/// points: a tenth of the work of the 69 frequencies of the band taken one
/// by one, for a spectrum every 5 s of every patient whose rhythm may be
/// AF.
fn fft(re: &mut [f64; FFT_LEN], im: &mut [f64; FFT_LEN]) {
    let n = FFT_LEN;
    let bits = n.trailing_zeros();
    for i in 0..n {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if j > i {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let mut len = 2;
    while len <= n {
        let (sin, cos) = (-std::f64::consts::TAU / len as f64).sin_cos();
        for chunk in (0..n).step_by(len) {
            let (mut wr, mut wi) = (1.0f64, 0.0f64);
            for k in 0..len / 2 {
                let (a, b) = (chunk + k, chunk + k + len / 2);
                let (tr, ti) = (re[b] * wr - im[b] * wi, re[b] * wi + im[b] * wr);
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
                (wr, wi) = (wr * cos - wi * sin, wr * sin + wi * cos);
            }
        }
        len *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The FFT against the DFT's definition, on a signal of two tones and
    /// a step.
    #[test]
    fn the_fft_is_the_discrete_fourier_transform() {
        let x: Vec<f64> = (0..FFT_LEN)
            .map(|i| {
                let t = i as f64;
                (0.3 * t).sin() + 0.5 * (1.7 * t + 0.4).cos() + if i < 40 { 1.0 } else { 0.0 }
            })
            .collect();
        let mut re = [0.0; FFT_LEN];
        re.copy_from_slice(&x);
        let mut im = [0.0; FFT_LEN];
        fft(&mut re, &mut im);
        for k in [0, 1, 7, 12, 54, 128, 200] {
            let (mut dr, mut di) = (0.0, 0.0);
            for (i, v) in x.iter().enumerate() {
                let a = -std::f64::consts::TAU * (k * i) as f64 / FFT_LEN as f64;
                dr += v * a.cos();
                di += v * a.sin();
            }
            assert!(
                (re[k] - dr).abs() < 1e-9 && (im[k] - di).abs() < 1e-9,
                "bin {k}"
            );
        }
    }
}
