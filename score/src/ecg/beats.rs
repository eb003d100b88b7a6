//! Beat classification, live: each detected beat as normal (or
//! supraventricular) or ventricular, from its morphology against the
//! patient's own running template of normal beats — the approach of
//! template-matching arrhythmia monitors (Hamilton & Tompkins's open-source
//! arrhythmia analysis; de Chazal, O'Dwyer & Reilly, IEEE TBME 51:1196,
//! 2004 list the same morphology and width features among theirs).
//!
//! For each beat, a window of the band-limited ECG around its R peak
//! (−150 ms to +200 ms) is compared with the template:
//! - `correlation`: the best Pearson correlation over alignments within
//!   ±40 ms (a ventricular beat's peak is not where a normal one's is);
//! - `width_ratio`: the beat's QRS width over the template's, the width
//!   being how long the absolute slope stays above a fifth of its maximum.
//!
//! A ventricular beat is wide and unlike the template (AAMI EC57 class V):
//! correlation below `V_CORRELATION`, or below `V_CORRELATION_WIDE` with a
//! width ratio over `V_WIDTH_RATIO`. Normal beats that match well update
//! the template slowly, so it follows slow changes (posture, lead drift).
//! The first `SEED_BEATS` beats seed the template from the beat most like
//! the others. Which records informed the thresholds: the development half
//! of the MIT-BIH inter-patient split (DS1, de Chazal 2004); the figures
//! are reported on all records and on DS2 (`examples/eval_mitdb.rs`).

use std::collections::VecDeque;

use super::filter::Biquad;

/// Beats that seed the template.
const SEED_BEATS: usize = 8;
/// Below this correlation a beat is ventricular whatever its width.
pub const V_CORRELATION: f64 = 0.5;
/// Below this correlation, a wide beat is ventricular.
pub const V_CORRELATION_WIDE: f64 = 0.8;
/// A beat this much wider than the template is wide.
pub const V_WIDTH_RATIO: f64 = 1.4;
/// Template update weight.
const TEMPLATE_ALPHA: f64 = 0.05;
const PRE_S: f64 = 0.15;
const POST_S: f64 = 0.20;
const ALIGN_S: f64 = 0.04;

/// A beat's class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BeatClass {
    /// Normal or supraventricular (not told apart here).
    Normal,
    Ventricular,
    /// Not yet classified (the template is being seeded) or unclassifiable.
    Unknown,
}

/// The measures a beat was classed by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeatMorphology {
    pub correlation: f64,
    pub width_ratio: f64,
}

/// One morphology family of the patient's beats.
#[derive(Debug, Clone)]
struct Cluster {
    template: Vec<f64>,
    width: f64,
    /// Beats assigned recently (decayed), to tell the dominant family.
    weight: f64,
}

/// The live classifier: feed every sample (`push`), then classify beats
/// whose window has been seen (`classify`).
///
/// Beats are grouped into morphology families (up to `MAX_CLUSTERS`, a new
/// one for a beat that matches none at `CLUSTER_MATCH`); the family with
/// most recent beats is the patient's dominant (normal) morphology. A beat
/// of another family is ventricular when it is wider than the dominant
/// (`V_WIDTH_RATIO`) or unlike it (`V_CORRELATION`) and premature or wide.
#[derive(Debug, Clone)]
pub struct BeatClassifier {
    fs_hz: f64,
    highpass: Biquad,
    lowpass: Biquad,
    primed: bool,
    /// Band-limited samples; `buffer[0]` is sample `offset`.
    buffer: VecDeque<f64>,
    offset: usize,
    clusters: Vec<Cluster>,
    /// The last R peaks and the mean RR of dominant beats, for prematurity.
    last_r: Option<usize>,
    mean_rr: Option<f64>,
    seen: usize,
}

/// Families of morphology kept.
const MAX_CLUSTERS: usize = 6;
/// A beat joins a family it correlates with this well.
const CLUSTER_MATCH: f64 = 0.85;
/// Weights decay by this per beat, so the dominant family follows the
/// rhythm of the last minutes.
const WEIGHT_DECAY: f64 = 0.995;
/// An RR interval shorter than this share of the mean is premature.
const PREMATURE: f64 = 0.9;

impl BeatClassifier {
    pub fn new(fs_hz: f64) -> BeatClassifier {
        BeatClassifier {
            fs_hz,
            highpass: Biquad::highpass(fs_hz, 1.0),
            lowpass: Biquad::lowpass(fs_hz, 40.0),
            primed: false,
            buffer: VecDeque::new(),
            offset: 0,
            clusters: Vec::new(),
            last_r: None,
            mean_rr: None,
            seen: 0,
        }
    }

    fn samples(&self, s: f64) -> usize {
        (s * self.fs_hz).round() as usize
    }

    /// Feeds samples (mV; NaN is taken as the baseline).
    pub fn push(&mut self, block: &[f64]) {
        for &x in block {
            let x = if x.is_finite() { x } else { 0.0 };
            let y = if self.primed {
                self.lowpass.process(self.highpass.process(x))
            } else {
                self.primed = true;
                self.highpass.prime(x);
                self.lowpass.prime(0.0);
                0.0
            };
            self.buffer.push_back(y);
        }
        // Keep two seconds: enough for any pending beat's window.
        let keep = self.samples(2.0);
        while self.buffer.len() > keep {
            self.buffer.pop_front();
            self.offset += 1;
        }
    }

    /// The first sample after the newest one fed.
    pub fn samples_seen(&self) -> usize {
        self.offset + self.buffer.len()
    }

    /// Whether the window of a beat at `r` has been fed in full.
    pub fn ready(&self, r: usize) -> bool {
        r + self.samples(POST_S) + self.samples(ALIGN_S) < self.samples_seen()
    }

    fn window(&self, r: usize, shift: isize) -> Option<Vec<f64>> {
        let pre = self.samples(PRE_S) as isize;
        let post = self.samples(POST_S) as isize;
        let start = r as isize + shift - pre;
        let end = r as isize + shift + post;
        if start < self.offset as isize || end as usize > self.samples_seen() {
            return None;
        }
        let (a, b) = (start as usize - self.offset, end as usize - self.offset);
        let mut w: Vec<f64> = self.buffer.range(a..b).copied().collect();
        let mean = w.iter().sum::<f64>() / w.len() as f64;
        w.iter_mut().for_each(|v| *v -= mean);
        Some(w)
    }

    /// The best alignment of the beat at `r` with `template`: a coarse
    /// search (every ~5 ms) over ±40 ms, refined around its best.
    fn best_match(&self, r: usize, template: &[f64]) -> Option<(f64, Vec<f64>)> {
        let align = self.samples(ALIGN_S) as isize;
        let step = (self.samples(0.005) as isize).max(1);
        let score = |shift: isize| {
            self.window(r, shift)
                .map(|w| (correlation(&w, template), shift))
        };
        let better = |best: Option<(f64, isize)>, c: Option<(f64, isize)>| match (best, c) {
            (Some(b), Some(c)) if c.0 > b.0 => Some(c),
            (None, c) => c,
            (b, _) => b,
        };
        let mut best = None::<(f64, isize)>;
        let mut shift = -align;
        while shift <= align {
            best = better(best, score(shift));
            shift += step;
        }
        let (_, coarse) = best?;
        for shift in (coarse - step + 1)..(coarse + step) {
            if shift != coarse && (-align..=align).contains(&shift) {
                best = better(best, score(shift));
            }
        }
        let (corr, shift) = best?;
        Some((corr, self.window(r, shift)?))
    }

    /// Classes the beat at R peak `r` (its window must be `ready`).
    pub fn classify(&mut self, r: usize) -> (BeatClass, Option<BeatMorphology>) {
        let Some(centre) = self.window(r, 0) else {
            return (BeatClass::Unknown, None);
        };
        let rr = self.last_r.map(|p| r.saturating_sub(p) as f64);
        self.last_r = Some(r);
        self.seen += 1;
        for c in &mut self.clusters {
            c.weight *= WEIGHT_DECAY;
        }
        // The family this beat belongs to.
        // The family most like it unaligned, then aligned to that one.
        let nearest = self
            .clusters
            .iter()
            .map(|c| correlation(&centre, &c.template))
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(k, _)| k);
        let found: Option<(usize, f64, Vec<f64>)> = nearest.and_then(|k| {
            self.best_match(r, &self.clusters[k].template)
                .map(|(corr, w)| (k, corr, w))
        });
        let k = match found {
            Some((k, corr, w)) if corr >= CLUSTER_MATCH => {
                let c = &mut self.clusters[k];
                for (t, v) in c.template.iter_mut().zip(&w) {
                    *t += TEMPLATE_ALPHA * (v - *t);
                }
                c.width = qrs_width(&c.template);
                c.weight += 1.0;
                k
            }
            _ => {
                if self.clusters.len() >= MAX_CLUSTERS {
                    // The least used family makes way.
                    if let Some(least) = (0..self.clusters.len()).min_by(|&a, &b| {
                        self.clusters[a].weight.total_cmp(&self.clusters[b].weight)
                    }) {
                        self.clusters.remove(least);
                    }
                }
                self.clusters.push(Cluster {
                    width: qrs_width(&centre),
                    template: centre,
                    weight: 1.0,
                });
                self.clusters.len() - 1
            }
        };
        let Some(dominant) = (0..self.clusters.len())
            .max_by(|&a, &b| self.clusters[a].weight.total_cmp(&self.clusters[b].weight))
        else {
            return (BeatClass::Unknown, None);
        };
        if self.seen <= SEED_BEATS {
            return (BeatClass::Unknown, None);
        }
        if k == dominant {
            if let Some(rr) = rr {
                self.mean_rr = Some(self.mean_rr.map_or(rr, |m| m + 0.1 * (rr - m)));
            }
            return (
                BeatClass::Normal,
                Some(BeatMorphology {
                    correlation: 1.0,
                    width_ratio: 1.0,
                }),
            );
        }
        let d = &self.clusters[dominant];
        let (corr, w) = self
            .best_match(r, &d.template)
            .unwrap_or((0.0, self.clusters[k].template.clone()));
        let width_ratio = qrs_width(&w) / d.width.max(1.0);
        let premature = match (rr, self.mean_rr) {
            (Some(rr), Some(m)) => rr < PREMATURE * m,
            _ => false,
        };
        let wide = width_ratio > V_WIDTH_RATIO;
        let ventricular = wide || (corr < V_CORRELATION_WIDE && premature) || corr < V_CORRELATION;
        let morphology = BeatMorphology {
            correlation: corr,
            width_ratio,
        };
        if ventricular {
            (BeatClass::Ventricular, Some(morphology))
        } else {
            (BeatClass::Normal, Some(morphology))
        }
    }
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let (ma, mb) = (
        a[..n].iter().sum::<f64>() / n as f64,
        b[..n].iter().sum::<f64>() / n as f64,
    );
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (x, y) = (a[i] - ma, b[i] - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    if saa <= 0.0 || sbb <= 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

/// Samples from the first to the last where the absolute slope exceeds a
/// fifth of its maximum: the extent of the steep part of the complex.
fn qrs_width(w: &[f64]) -> f64 {
    let slopes: Vec<f64> = w.windows(2).map(|p| (p[1] - p[0]).abs()).collect();
    let max = slopes.iter().fold(0.0f64, |m, &s| m.max(s));
    if max <= 0.0 {
        return 0.0;
    }
    let steep: Vec<usize> = slopes
        .iter()
        .enumerate()
        .filter(|(_, s)| **s > 0.2 * max)
        .map(|(i, _)| i)
        .collect();
    match (steep.first(), steep.last()) {
        (Some(a), Some(b)) => (b - a + 1) as f64,
        _ => 0.0,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A synthetic lead: narrow Gaussian R waves every 0.8 s, with every
    /// fifth beat replaced by a wide, inverted one 250 ms early (a PVC).
    fn with_pvcs(fs: f64, seconds: f64) -> (Vec<f64>, Vec<(usize, bool)>) {
        let n = (fs * seconds) as usize;
        let mut x = vec![0.0; n];
        let mut beats = Vec::new();
        let mut t = 0.5;
        let mut k = 0;
        while t < seconds - 0.5 {
            let pvc = k % 5 == 4 && k >= SEED_BEATS;
            let at = if pvc { t - 0.25 } else { t };
            let (amp, width) = if pvc { (-1.2, 0.045) } else { (1.0, 0.012) };
            let c = (at * fs) as usize;
            for (i, v) in x.iter_mut().enumerate() {
                let dt = (i as f64 - c as f64) / fs;
                *v += amp * (-(dt / width).powi(2)).exp();
            }
            beats.push((c, pvc));
            t += 0.8;
            k += 1;
        }
        (x, beats)
    }

    #[test]
    fn wide_premature_beats_are_ventricular_and_normal_ones_are_not() {
        let fs = 360.0;
        let (x, beats) = with_pvcs(fs, 60.0);
        let mut c = BeatClassifier::new(fs);
        let mut fed = 0;
        let mut wrong = Vec::new();
        for (r, pvc) in beats {
            let upto = (r + (0.3 * fs) as usize).min(x.len());
            c.push(&x[fed..upto]);
            fed = upto;
            assert!(c.ready(r));
            let (class, m) = c.classify(r);
            if class == BeatClass::Unknown {
                continue;
            }
            if (class == BeatClass::Ventricular) != pvc {
                wrong.push((r, pvc, m));
            }
        }
        assert!(wrong.is_empty(), "{wrong:?}");
    }
}
