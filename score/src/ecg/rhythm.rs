//! Rhythm findings from beat times.
//!
//! Life-threatening alarms use the PhysioNet/CinC Challenge 2015 definitions
//! (Clifford et al., "The PhysioNet/Computing in Cardiology Challenge 2015:
//! reducing false arrhythmia alarms in the ICU", CinC 42:273, 2015):
//! - asystole: no beat for at least 4 s;
//! - extreme bradycardia: heart rate below 40 bpm for 5 consecutive beats,
//!   taken here as the mean rate over 5 beats (4 intervals) `60·4 / (t₅ − t₁)`;
//! - extreme tachycardia: above 140 bpm for 17 consecutive beats, likewise
//!   `60·16 / (t₁₇ − t₁)`.
//!
//! A 5-beat window containing a pause of 4 s or more is left to asystole
//! rather than also called bradycardia.
//! A pause whose span is mostly unusable signal (see `quality`) is reported as
//! a technical condition, not as asystole.
//!
//! Atrial fibrillation follows Dash, Chon, Lu & Raeder, "Automatic real time
//! detection of atrial fibrillation", Ann. Biomed. Eng. 37:1701–1709, 2009:
//! over windows of 128 RR intervals, after dropping the 8 longest and 8
//! shortest, AF needs all of normalised RMSSD (RMSSD / mean RR) > 0.1,
//! Shannon entropy of a 16-bin RR histogram (normalised to 0–1) > 0.7, and —
//! on the untrimmed window — a turning-point ratio within 0.54–0.77, the band
//! expected of a random series (≈ 2/3), which excludes regular bigeminy.
//! Before the measures, the two intervals around each ectopic beat (a
//! premature interval with its compensatory pause) are set aside
//! (`without_ectopy`), so that sinus rhythm with frequent PVCs or APCs is
//! not called AF.
//! Gaps of up to 32 non-AF windows inside an episode are bridged.
//! An episode runs from the start of its first AF window to the end of its
//! last, so onset and termination are placed to within one window.
//! The live path (`analysis::EcgStream`) also looks at the waveform: P
//! waves before the beats (`ecg::atrial`) veto AF and end an episode.

use ndarray::{Array1, ArrayView1, Zip};

use crate::span;
use serde::{Deserialize, Serialize};

use super::quality::{QualityWindow, unusable_share};

pub const ASYSTOLE_S: f64 = 4.0;
pub const BRADY_BEATS: usize = 5;
pub const BRADY_BPM: f64 = 40.0;
pub const TACHY_BEATS: usize = 17;
pub const TACHY_BPM: f64 = 140.0;
pub const AF_WINDOW: usize = 128;
/// Ventricular tachycardia: this many consecutive ventricular beats…
pub const VT_BEATS: usize = 5;
/// …above this rate (PhysioNet/CinC 2015 alarm definition).
pub const VT_BPM: f64 = 100.0;
const AF_TRIM: usize = 8;
const AF_BINS: usize = 16;
/// Non-AF windows bridged inside an episode.
const AF_BRIDGE: usize = AF_WINDOW / 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    Asystole,
    ExtremeBradycardia,
    ExtremeTachycardia,
    AtrialFibrillation,
    /// Technical: the ECG cannot be analysed (lead off, flat, noise).
    EcgSignalUnusable,
    /// Ventricular fibrillation or flutter: a fibrillatory waveform for at
    /// least 4 s (see `ecg::vf`).
    VentricularFibrillation,
    /// Ventricular tachycardia: at least 5 consecutive ventricular beats
    /// above 100 /min (PhysioNet/CinC 2015), beats classed by `ecg::beats`.
    VentricularTachycardia,
    /// Ventricular rhythm: at least 5 consecutive ventricular beats at
    /// 100 /min or slower, an idioventricular or accelerated idioventricular
    /// rhythm (an escape or ectopic ventricular focus below the VT rate).
    /// Not life-threatening in itself: a medium alarm, as monitors raise
    /// "vent rhythm". Never for a paced patient (`EcgStream::set_paced`):
    /// without the pacer's spikes a paced beat reads as ventricular.
    VentricularRhythm,
    /// Atrial flutter with variable block: irregular at the ventricles
    /// like AF, but with one organised atrial wave at flutter's rate (see
    /// `ecg::flutter`). Reported instead of AF, as AF is.
    AtrialFlutter,
}

impl FindingKind {
    pub fn label(self) -> &'static str {
        match self {
            FindingKind::Asystole => "asystole",
            FindingKind::ExtremeBradycardia => "extreme bradycardia",
            FindingKind::ExtremeTachycardia => "extreme tachycardia",
            FindingKind::AtrialFibrillation => "atrial fibrillation",
            FindingKind::EcgSignalUnusable => "ECG signal unusable (technical)",
            FindingKind::VentricularFibrillation => "ventricular fibrillation/flutter",
            FindingKind::VentricularTachycardia => "ventricular tachycardia",
            FindingKind::VentricularRhythm => "ventricular rhythm",
            FindingKind::AtrialFlutter => "atrial flutter",
        }
    }
}

/// An episode in the recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub start_sample: usize,
    pub end_sample: usize,
    pub start_s: f64,
    pub end_s: f64,
    pub detail: String,
}

impl Finding {
    fn new(kind: FindingKind, start: usize, end: usize, fs_hz: f64, detail: String) -> Finding {
        Finding {
            kind,
            start_sample: start,
            end_sample: end,
            start_s: start as f64 / fs_hz,
            end_s: end as f64 / fs_hz,
            detail,
        }
    }
}

/// Pauses of at least 4 s (including before the first and after the last
/// beat), as asystole or, when mostly unusable signal, as a technical finding.
pub fn pauses(
    beats: &[usize],
    n_samples: usize,
    fs_hz: f64,
    quality: &[QualityWindow],
) -> Vec<Finding> {
    let limit = (ASYSTOLE_S * fs_hz).ceil() as usize;
    let mut edges = Vec::with_capacity(beats.len() + 2);
    edges.push(0);
    edges.extend_from_slice(beats);
    edges.push(n_samples);
    edges
        .windows(2)
        .filter(|w| w[1].saturating_sub(w[0]) >= limit)
        .map(|w| {
            let (a, b) = (w[0], w[1]);
            let secs = (b - a) as f64 / fs_hz;
            let bad = unusable_share(quality, a, b);
            if bad >= 0.5 {
                Finding::new(
                    FindingKind::EcgSignalUnusable,
                    a,
                    b,
                    fs_hz,
                    format!(
                        "no beat for {secs:.1} s but {:.0} % of it is unusable signal: check leads",
                        100.0 * bad
                    ),
                )
            } else {
                Finding::new(
                    FindingKind::Asystole,
                    a,
                    b,
                    fs_hz,
                    format!("no beat for {secs:.1} s"),
                )
            }
        })
        .collect()
}

/// Mean heart rate over each run of `beats_per_window` consecutive beats,
/// one value per run start.
pub fn windowed_hr_bpm(beats: &[usize], fs_hz: f64, beats_per_window: usize) -> Array1<f64> {
    if beats_per_window < 2 || beats.len() < beats_per_window {
        return Array1::zeros(0);
    }
    let t = Array1::from_iter(beats.iter().map(|&b| b as f64 / fs_hz));
    let span =
        &span(&t, beats_per_window - 1, t.len()) - &span(&t, 0, t.len() + 1 - beats_per_window);
    span.mapv(|d| 60.0 * (beats_per_window - 1) as f64 / d)
}

/// Merges flagged runs of beat windows into episodes.
fn episodes(
    flags: ArrayView1<bool>,
    beats: &[usize],
    span: usize,
    fs_hz: f64,
    kind: FindingKind,
    detail: impl Fn(usize, usize) -> String,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut k = 0;
    while k < flags.len() {
        if !flags[k] {
            k += 1;
            continue;
        }
        let first = k;
        while k < flags.len() && flags[k] {
            k += 1;
        }
        let (start, end) = (beats[first], beats[k - 1 + span - 1]);
        out.push(Finding::new(kind, start, end, fs_hz, detail(first, k)));
    }
    out
}

/// Extreme bradycardia and tachycardia episodes (Challenge 2015 definitions).
pub fn rate_alarms(beats: &[usize], fs_hz: f64) -> Vec<Finding> {
    let brady = windowed_hr_bpm(beats, fs_hz, BRADY_BEATS);
    let tachy = windowed_hr_bpm(beats, fs_hz, TACHY_BEATS);
    // A window that contains a pause of 4 s or more is an asystole (or a
    // technical condition), reported by `pauses`; it is not also bradycardia.
    let limit = (ASYSTOLE_S * fs_hz).ceil() as usize;
    let brady_flags: Array1<bool> = brady
        .iter()
        .enumerate()
        .map(|(k, &h)| {
            h < BRADY_BPM
                && beats[k..k + BRADY_BEATS]
                    .windows(2)
                    .all(|w| w[1] - w[0] < limit)
        })
        .collect();
    let mut out = episodes(
        brady_flags.view(),
        beats,
        BRADY_BEATS,
        fs_hz,
        FindingKind::ExtremeBradycardia,
        |a, b| {
            let min = span(&brady, a, b).fold(f64::INFINITY, |m, &h| m.min(h));
            format!("HR < {BRADY_BPM} bpm over {BRADY_BEATS} beats, lowest {min:.0} bpm")
        },
    );
    out.extend(episodes(
        tachy.mapv(|h| h > TACHY_BPM).view(),
        beats,
        TACHY_BEATS,
        fs_hz,
        FindingKind::ExtremeTachycardia,
        |a, b| {
            let max = span(&tachy, a, b).fold(0.0f64, |m, &h| m.max(h));
            format!("HR > {TACHY_BPM} bpm over {TACHY_BEATS} beats, highest {max:.0} bpm")
        },
    ));
    out
}

/// Dash et al.'s three irregularity measures for one window of RR intervals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AfFeatures {
    pub normalised_rmssd: f64,
    pub shannon_entropy: f64,
    pub turning_point_ratio: f64,
}

impl AfFeatures {
    pub fn is_af(&self) -> bool {
        self.normalised_rmssd > 0.1
            && self.shannon_entropy > 0.7
            && (0.54..=0.77).contains(&self.turning_point_ratio)
    }
}

/// The measures for one window (any length ≥ 2·8 + 3), after the intervals
/// around ectopic beats are set aside (see [`without_ectopy`]). A window
/// whose intervals are mostly ectopic (bigeminy, trigeminy) has too few
/// left to judge and is not AF.
///
/// The live analysis runs this on every beat of every monitored patient
/// (at 10,000 patients it was a fifth of the alarm stage's time, issue
/// 16): its buffers are this thread's, reused, and the local medians come
/// from a sorting network.
pub fn af_features(rr_ms: ArrayView1<f64>) -> AfFeatures {
    AF_SCRATCH.with(|scratch| {
        let AfScratch {
            keys,
            drop,
            kept,
            keep,
            order,
            trimmed,
            squares,
        } = &mut *scratch.borrow_mut();
        set_ectopy_aside(rr_ms, keys, drop, kept);
        if kept.len() * 2 < rr_ms.len() {
            return AfFeatures {
                normalised_rmssd: 0.0,
                shannon_entropy: 0.0,
                turning_point_ratio: 0.0,
            };
        }
        dash_features(ArrayView1::from(&kept[..]), keep, order, trimmed, squares)
    })
}

/// The buffers [`af_features`] reuses.
#[derive(Debug, Default)]
struct AfScratch {
    keys: Vec<i64>,
    drop: Vec<bool>,
    kept: Vec<f64>,
    keep: Vec<bool>,
    order: Vec<usize>,
    trimmed: Vec<f64>,
    squares: Vec<f64>,
}

thread_local! {
    static AF_SCRATCH: std::cell::RefCell<AfScratch> = std::cell::RefCell::new(AfScratch::default());
}

/// A premature interval shorter than this share of the local median…
pub const ECTOPIC_PREMATURE: f64 = 0.85;
/// …followed by a compensatory one longer than this share of it marks an
/// ectopic beat (a PVC or an APC with its pause).
pub const ECTOPIC_COMPENSATORY: f64 = 1.15;
/// Intervals on each side of an interval that make its local median.
const LOCAL: usize = 4;
const _: () = assert!(2 * LOCAL + 1 == 9, "median_of_9 takes the local window");

/// The RR series with both intervals around each ectopic beat removed: a
/// premature interval (< 85 % of the local median of its 9 neighbours)
/// followed by a compensatory one (> 115 %). Frequent ectopy in sinus
/// rhythm is the main cause of false AF calls from RR irregularity (issue
/// 10: 17 of MIT-BIH's 40 records without AF). In AF, intervals vary without
/// that short–long coupling, and enough irregularity remains. The removal
/// follows the practice of ectopic filtering before RR-based AF detection
/// (e.g. Petrėnas et al., "Low-complexity detection of atrial fibrillation
/// in continuous long-term monitoring", Comput. Biol. Med. 65:184, 2015).
pub fn without_ectopy(rr_ms: ArrayView1<f64>) -> Array1<f64> {
    let (mut keys, mut drop, mut kept) = (Vec::new(), Vec::new(), Vec::new());
    set_ectopy_aside(rr_ms, &mut keys, &mut drop, &mut kept);
    Array1::from(kept)
}

/// [`without_ectopy`] into `kept`, in the caller's buffers.
fn set_ectopy_aside(
    rr_ms: ArrayView1<f64>,
    keys: &mut Vec<i64>,
    drop: &mut Vec<bool>,
    kept: &mut Vec<f64>,
) {
    ectopic(rr_ms, keys, drop);
    kept.clear();
    kept.extend(
        rr_ms
            .iter()
            .zip(drop.iter())
            .filter_map(|(&r, &d)| (!d).then_some(r)),
    );
}

/// Marks in `drop` the intervals [`without_ectopy`] removes. The medians are
/// taken over `f64::total_cmp`'s order, as integers (`keys`): the same
/// value as selecting with `total_cmp`.
fn ectopic(rr_ms: ArrayView1<f64>, keys: &mut Vec<i64>, drop: &mut Vec<bool>) {
    let n = rr_ms.len();
    drop.clear();
    drop.resize(n, false);
    keys.clear();
    keys.extend(rr_ms.iter().map(|&r| total_key(r)));
    let mut local = [0i64; 2 * LOCAL + 1];
    for i in 0..n.saturating_sub(1) {
        let from = i.saturating_sub(LOCAL);
        let to = (from + 2 * LOCAL + 1).min(n);
        let median = if to - from == local.len() {
            local.copy_from_slice(&keys[from..to]);
            median_of_9(local)
        } else {
            let local = &mut local[..to - from];
            local.copy_from_slice(&keys[from..to]);
            let middle = local.len() / 2;
            *local.select_nth_unstable(middle).1
        };
        let median = from_total_key(median);
        if rr_ms[i] < ECTOPIC_PREMATURE * median && rr_ms[i + 1] > ECTOPIC_COMPENSATORY * median {
            drop[i] = true;
            drop[i + 1] = true;
        }
    }
}

/// `x` as an integer whose order is `f64::total_cmp`'s (the transform the
/// standard library's `total_cmp` compares by). Its own inverse.
fn total_key(x: f64) -> i64 {
    let bits = x.to_bits() as i64;
    bits ^ ((((bits >> 63) as u64) >> 1) as i64)
}

fn from_total_key(key: i64) -> f64 {
    f64::from_bits((key ^ ((((key >> 63) as u64) >> 1) as i64)) as u64)
}

/// The middle of nine values: the 19 compare-exchanges of Paeth's median
/// network (A. Paeth, "Median finding on a 3×3 grid", Graphics Gems, 1990,
/// as listed in N. Devillard, "Fast median search: an ANSI C
/// implementation", 1998), branch-free.
fn median_of_9(p: [i64; 9]) -> i64 {
    let [
        mut p0,
        mut p1,
        mut p2,
        mut p3,
        mut p4,
        mut p5,
        mut p6,
        mut p7,
        mut p8,
    ] = p;
    // In locals, unrolled: through an array the exchanges went by memory.
    macro_rules! exchange {
        ($a:ident, $b:ident) => {
            let (lo, hi) = ($a.min($b), $a.max($b));
            $a = lo;
            $b = hi;
        };
    }
    exchange!(p1, p2);
    exchange!(p4, p5);
    exchange!(p7, p8);
    exchange!(p0, p1);
    exchange!(p3, p4);
    exchange!(p6, p7);
    exchange!(p1, p2);
    exchange!(p4, p5);
    exchange!(p7, p8);
    exchange!(p0, p3);
    exchange!(p5, p8);
    exchange!(p4, p7);
    exchange!(p3, p6);
    exchange!(p1, p4);
    exchange!(p2, p5);
    exchange!(p4, p7);
    exchange!(p4, p2);
    exchange!(p6, p4);
    exchange!(p4, p2);
    let _ = (p0, p1, p2, p3, p5, p6, p7, p8);
    p4
}

/// Dash et al.'s measures on a series of RR intervals, in the caller's
/// buffers.
fn dash_features(
    rr_ms: ArrayView1<f64>,
    keep: &mut Vec<bool>,
    order: &mut Vec<usize>,
    trimmed: &mut Vec<f64>,
    squares: &mut Vec<f64>,
) -> AfFeatures {
    let n = rr_ms.len();
    // Turning points on the untrimmed series.
    let tp = if n >= 3 {
        let a = span(&rr_ms, 0, rr_ms.len() - 2);
        let b = span(&rr_ms, 1, rr_ms.len() - 1);
        let c = span(&rr_ms, 2, rr_ms.len());
        let mut count = 0usize;
        Zip::from(&a).and(&b).and(&c).for_each(|&a, &b, &c| {
            if (b - a) * (c - b) < 0.0 {
                count += 1;
            }
        });
        count as f64 / n as f64
    } else {
        0.0
    };
    // Drop the AF_TRIM longest and shortest intervals, keeping time order;
    // of equal intervals the earlier counts as the shorter. Selected, not
    // sorted: only which are the AF_TRIM at each end matters.
    keep.clear();
    keep.resize(n, true);
    if n > 2 * AF_TRIM + 2 {
        order.clear();
        order.extend(0..n);
        let by_length = |i: &usize, j: &usize| rr_ms[*i].total_cmp(&rr_ms[*j]).then(i.cmp(j));
        order.select_nth_unstable_by(AF_TRIM, by_length);
        let rest = &mut order[AF_TRIM..];
        let longest = rest.len() - AF_TRIM;
        rest.select_nth_unstable_by(longest, by_length);
        for &i in order[..AF_TRIM].iter().chain(&order[n - AF_TRIM..]) {
            keep[i] = false;
        }
    }
    trimmed.clear();
    trimmed.extend(
        rr_ms
            .iter()
            .zip(keep.iter())
            .filter_map(|(&r, &k)| k.then_some(r)),
    );
    let m = trimmed.len();
    // Sums as ndarray sums a contiguous array (the figures are those of
    // the whole-array arithmetic this replaced, to the last bit).
    let mean = ArrayView1::from(&trimmed[..]).mean().unwrap_or(f64::NAN);
    squares.clear();
    squares.extend(trimmed.windows(2).map(|w| {
        let d = w[1] - w[0];
        d * d
    }));
    let rmssd = (ArrayView1::from(&squares[..]).sum() / (m.max(2) - 1) as f64).sqrt();
    let (lo, hi) = trimmed
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &r| {
            (l.min(r), h.max(r))
        });
    let mut counts = [0usize; AF_BINS];
    let width = (hi - lo) / AF_BINS as f64;
    for &r in trimmed.iter() {
        let bin = if width > 0.0 {
            (((r - lo) / width) as usize).min(AF_BINS - 1)
        } else {
            0
        };
        counts[bin] += 1;
    }
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / m as f64;
            -p * p.ln()
        })
        .sum::<f64>()
        / (AF_BINS as f64).ln();
    AfFeatures {
        normalised_rmssd: rmssd / mean,
        shannon_entropy: entropy,
        turning_point_ratio: tp,
    }
}

/// AF features for every window of `AF_WINDOW` consecutive RR intervals.
pub fn af_features_windows(rr_ms: ArrayView1<f64>) -> Vec<AfFeatures> {
    if rr_ms.len() < AF_WINDOW {
        return Vec::new();
    }
    rr_ms
        .windows(AF_WINDOW)
        .into_iter()
        .map(af_features)
        .collect()
}

/// AF episodes with onset and termination.
pub fn af_episodes(beats: &[usize], rr_ms: ArrayView1<f64>, fs_hz: f64) -> Vec<Finding> {
    let features = af_features_windows(rr_ms);
    let mut flags: Array1<bool> = features.iter().map(AfFeatures::is_af).collect();
    // Hysteresis: a few non-AF windows inside an episode (one window's
    // turning points falling just outside the band) do not split it.
    let mut last_af: Option<usize> = None;
    for k in 0..flags.len() {
        if flags[k] {
            if let Some(j) = last_af
                && k - j <= AF_BRIDGE
            {
                flags
                    .slice_axis_mut(ndarray::Axis(0), ndarray::Slice::from(j..k))
                    .fill(true);
            }
            last_af = Some(k);
        }
    }
    // A window of AF_WINDOW intervals spans AF_WINDOW + 1 beats.
    episodes(
        flags.view(),
        beats,
        AF_WINDOW + 1,
        fs_hz,
        FindingKind::AtrialFibrillation,
        |a, b| {
            let f = &features[a..b];
            let mean = f.iter().map(|x| x.normalised_rmssd).sum::<f64>() / f.len() as f64;
            format!(
                "irregular RR (normalised RMSSD {mean:.2}) over {} windows",
                b - a
            )
        },
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ecg::hrv::rr_intervals_ms;
    use crate::ecg::quality::Quality;

    /// A linear congruential generator's 53 high bits (Knuth's MMIX
    /// constants): the tests' repeatable random numbers.
    fn lcg(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 11
        }
    }

    #[test]
    fn the_median_network_gives_the_value_selection_gives() {
        let mut rnd = lcg(7);
        for round in 0..20_000 {
            // Few distinct values in some rounds, so that ties are common;
            // signed zeros, infinities and NaN in others (any f64 orders).
            let pick = |r: u64| match round % 4 {
                0 => (r % 5) as f64 * 100.0,
                1 => (r % 2_000) as f64 / 7.0 + 300.0,
                2 => [0.0, -0.0, 1.0, -1.0, f64::INFINITY, f64::NAN, 250.5][(r % 7) as usize],
                _ => f64::from_bits(r << 11),
            };
            let values: [f64; 9] = std::array::from_fn(|_| pick(rnd()));
            let mut sorted = values;
            let expected = *sorted.select_nth_unstable_by(4, f64::total_cmp).1;
            let got = from_total_key(median_of_9(values.map(total_key)));
            assert_eq!(got.to_bits(), expected.to_bits(), "{values:?}");
            for v in values {
                assert_eq!(from_total_key(total_key(v)).to_bits(), v.to_bits());
            }
        }
    }

    #[test]
    fn ectopic_beats_are_set_aside_with_their_pauses_in_windows_of_any_length() {
        // Sinus at 800 ms with a PVC (coupling 480 ms, pause 1,120 ms) every
        // tenth beat: the premature and the compensatory intervals go, the
        // rest stay; short windows take their median of what they have.
        let rr: Vec<f64> = (0..60)
            .map(|i| match i % 10 {
                5 => 480.0,
                6 => 1_120.0,
                _ => 800.0 + (i % 3) as f64,
            })
            .collect();
        for n in [2, 5, 6, 8, 9, 10, 16, 17, 60] {
            let kept = without_ectopy(ndarray::ArrayView1::from(&rr[..n]));
            let ectopic = (0..n).filter(|i| matches!(i % 10, 5 | 6)).count();
            // An interval at the very end has no successor to confirm it.
            let unconfirmed = usize::from(n % 10 == 6);
            assert_eq!(kept.len(), n - ectopic + unconfirmed, "{n} intervals");
            let confirmed = kept.len() - unconfirmed;
            assert!(
                kept.iter().take(confirmed).all(|&r| r >= 800.0),
                "{n}: {kept}"
            );
        }
    }

    fn beats_from_rr(rr_s: &[f64], fs: f64) -> Vec<usize> {
        let mut t = 1.0;
        let mut out = vec![(t * fs) as usize];
        for r in rr_s {
            t += r;
            out.push((t * fs).round() as usize);
        }
        out
    }

    #[test]
    fn asystole_at_four_seconds_not_below() {
        let fs = 100.0;
        let beats = [100, 200, 599, 998, 1397];
        assert!(
            pauses(&beats, 1500, fs, &[]).is_empty(),
            "3.99 s is not asystole"
        );
        let beats = [100, 200, 600, 900];
        let f = pauses(&beats, 1000, fs, &[]);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].kind, f[0].start_s, f[0].end_s),
            (FindingKind::Asystole, 2.0, 6.0)
        );
    }

    #[test]
    fn pause_over_bad_signal_is_technical() {
        let q = [QualityWindow {
            start_sample: 0,
            samples: 2000,
            quality: Quality::Flat,
            noise_ratio: 0.0,
        }];
        let f = pauses(&[100, 900], 1000, 100.0, &q);
        assert_eq!(f[0].kind, FindingKind::EcgSignalUnusable);
        assert!(f[0].detail.contains("check leads"));
    }

    #[test]
    fn brady_needs_five_beats_below_forty() {
        let fs = 100.0;
        // Four intervals of 1.6 s (37.5 bpm) after sinus: exactly 5 slow beats.
        let mut rr = vec![1.0; 5];
        rr.extend([1.6; 4]);
        rr.extend([1.0; 5]);
        let f = rate_alarms(&beats_from_rr(&rr, fs), fs);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::ExtremeBradycardia);
        // Three slow intervals are not enough.
        let mut rr = vec![1.0; 5];
        rr.extend([1.6; 3]);
        rr.extend([1.0; 5]);
        assert!(rate_alarms(&beats_from_rr(&rr, fs), fs).is_empty());
    }

    #[test]
    fn tachy_needs_seventeen_beats_above_140() {
        let fs = 250.0;
        let run = |n: usize| {
            let mut rr = vec![0.8; 5];
            rr.extend(vec![0.42; n]);
            rr.extend([0.8; 5]);
            rate_alarms(&beats_from_rr(&rr, fs), fs)
        };
        assert_eq!(run(16).len(), 1, "16 intervals = 17 beats at 143 bpm");
        assert!(run(15).is_empty());
    }

    #[test]
    fn af_on_random_rr_not_on_sinus_or_bigeminy() {
        let mut bits = lcg(42);
        let mut rnd = || bits() as f64 / (1u64 << 53) as f64;
        let sinus: Vec<f64> = (0..300)
            .map(|i| 0.8 + 0.02 * (i as f64 / 5.0).sin())
            .collect();
        let af: Vec<f64> = (0..300).map(|_| 0.4 + 0.6 * rnd()).collect();
        let bigeminy: Vec<f64> = (0..300)
            .map(|i| if i % 2 == 0 { 0.5 } else { 1.1 })
            .collect();
        let fs = 250.0;
        for (rr, expect) in [(&sinus, 0), (&af, 1), (&bigeminy, 0)] {
            let beats = beats_from_rr(rr, fs);
            let found = af_episodes(&beats, rr_intervals_ms(&beats, fs).view(), fs);
            assert_eq!(
                found.len(),
                expect,
                "{:?}",
                af_features(ndarray::ArrayView1::from(&rr[..]))
            );
        }
        let mut mixed = sinus.clone();
        mixed.extend(&af);
        mixed.extend(&sinus);
        let beats = beats_from_rr(&mixed, fs);
        let found = af_episodes(&beats, rr_intervals_ms(&beats, fs).view(), fs);
        assert_eq!(found.len(), 1);
        let (onset, end) = (beats[300], beats[600]);
        let tol = (AF_WINDOW as f64 * 0.8 * fs) as usize;
        assert!(found[0].start_sample.abs_diff(onset) < tol, "{found:?}");
        assert!(found[0].end_sample.abs_diff(end) < tol, "{found:?}");
    }
}
