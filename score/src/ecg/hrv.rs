//! Time-domain heart-rate variability after the Task Force of the ESC and
//! NASPE, "Heart rate variability: standards of measurement, physiological
//! interpretation and clinical use", Circulation 93:1043–1065, 1996: SDNN,
//! RMSSD and pNN50 over normal-to-normal (NN) intervals.
//!
//! Beats are not classified here, so NN intervals are approximated by
//! filtering RR intervals: an interval counts when it lies in 300–2000 ms and
//! differs by at most 20 % from the one before it — the common filter that
//! drops the short-long pair around an ectopic beat and detection errors.
//! Successive differences are taken only between two accepted intervals.

use ndarray::{Array1, ArrayView1, Axis, Slice, Zip};

use crate::span;
use serde::Serialize;

const NN_MIN_MS: f64 = 300.0;
const NN_MAX_MS: f64 = 2000.0;
const NN_MAX_CHANGE: f64 = 0.2;

/// Time-domain HRV.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Hrv {
    /// NN intervals used.
    pub nn_count: usize,
    pub mean_nn_ms: f64,
    /// Standard deviation of NN intervals (sample, n − 1).
    pub sdnn_ms: f64,
    /// Root mean square of successive NN differences.
    pub rmssd_ms: f64,
    /// Share of successive NN differences above 50 ms, in percent.
    pub pnn50_pct: f64,
}

/// RR intervals in ms between consecutive beats.
pub fn rr_intervals_ms(beats: &[usize], fs_hz: f64) -> Array1<f64> {
    let t = Array1::from_iter(beats.iter().map(|&b| b as f64 * 1000.0 / fs_hz));
    if t.len() < 2 {
        return Array1::zeros(0);
    }
    &span(&t, 1, t.len()) - &span(&t, 0, t.len() - 1)
}

/// Which RR intervals count as NN (see the module notes).
pub fn nn_mask(rr_ms: ArrayView1<f64>) -> Array1<bool> {
    let mut mask = rr_ms.mapv(|r| (NN_MIN_MS..=NN_MAX_MS).contains(&r));
    if rr_ms.len() > 1 {
        let prev = span(&rr_ms, 0, rr_ms.len() - 1);
        let cur = span(&rr_ms, 1, rr_ms.len());
        let n = mask.len();
        Zip::from(mask.slice_axis_mut(Axis(0), Slice::from(1..n)))
            .and(&cur)
            .and(&prev)
            .for_each(|m, &c, &p| *m = *m && (c - p).abs() <= NN_MAX_CHANGE * p);
    }
    mask
}

/// SDNN, RMSSD and pNN50; `None` with fewer than 3 NN intervals.
pub fn hrv(rr_ms: ArrayView1<f64>) -> Option<Hrv> {
    let mask = nn_mask(rr_ms);
    let nn: Array1<f64> = rr_ms
        .iter()
        .zip(mask.iter())
        .filter_map(|(&r, &m)| m.then_some(r))
        .collect();
    if nn.len() < 3 {
        return None;
    }
    let mean_nn_ms = nn.mean()?;
    let sdnn_ms = nn.std(1.0);
    let diffs: Array1<f64> = (1..rr_ms.len())
        .filter(|&i| mask[i] && mask[i - 1])
        .map(|i| rr_ms[i] - rr_ms[i - 1])
        .collect();
    let (rmssd_ms, pnn50_pct) = if diffs.is_empty() {
        (f64::NAN, f64::NAN)
    } else {
        let n = diffs.len() as f64;
        (
            (diffs.mapv(|d| d * d).sum() / n).sqrt(),
            100.0 * diffs.iter().filter(|d| d.abs() > 50.0).count() as f64 / n,
        )
    };
    Some(Hrv {
        nn_count: nn.len(),
        mean_nn_ms,
        sdnn_ms,
        rmssd_ms,
        pnn50_pct,
    })
}

/// SDNN of the intervals between `beats` (sample indices at `fs_hz`): what
/// [`hrv`] of [`rr_intervals_ms`] gives as `sdnn_ms`, the same values in
/// the same order, without its arrays. The live cardiac risk takes it over
/// five minutes of beats for every patient every second (`hrv` with its
/// six arrays was 8 % of the alarm stage's time at 10,000 patients).
pub fn sdnn_ms(
    beats: impl IntoIterator<Item = usize>,
    fs_hz: f64,
    nn: &mut Vec<f64>,
) -> Option<f64> {
    nn.clear();
    let mut prev_t: Option<f64> = None;
    let mut prev_rr: Option<f64> = None;
    for b in beats {
        let t = b as f64 * 1000.0 / fs_hz;
        if let Some(p) = prev_t {
            let rr = t - p;
            let counts = (NN_MIN_MS..=NN_MAX_MS).contains(&rr)
                && prev_rr.is_none_or(|q| (rr - q).abs() <= NN_MAX_CHANGE * q);
            if counts {
                nn.push(rr);
            }
            prev_rr = Some(rr);
        }
        prev_t = Some(t);
    }
    (nn.len() >= 3).then(|| ArrayView1::from(&nn[..]).std(1.0))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn textbook_values() {
        let rr = array![800.0, 860.0, 780.0, 820.0, 900.0];
        let h = hrv(rr.view()).unwrap();
        assert_eq!(h.nn_count, 5);
        assert!((h.mean_nn_ms - 832.0).abs() < 1e-9);
        // Sample SD of the five intervals.
        assert!((h.sdnn_ms - 48.166_378_315).abs() < 1e-6, "{}", h.sdnn_ms);
        // Differences 60, -80, 40, 80: RMSSD = sqrt((3600+6400+1600+6400)/4).
        assert!((h.rmssd_ms - 67.082_039_325).abs() < 1e-6);
        assert!((h.pnn50_pct - 75.0).abs() < 1e-9);
    }

    #[test]
    fn ectopic_pair_is_excluded() {
        let rr = array![1000.0, 1000.0, 600.0, 1400.0, 1000.0, 1000.0];
        let mask = nn_mask(rr.view());
        assert_eq!(mask.to_vec(), [true, true, false, false, false, true]);
        let h = hrv(rr.view()).unwrap();
        assert_eq!(h.nn_count, 3);
        assert_eq!(h.rmssd_ms, 0.0);
    }

    #[test]
    fn sdnn_from_beats_is_what_hrv_gives() {
        // Sinus with an ectopic pair, a dropout and out-of-range intervals.
        let mut beats = vec![0usize];
        let mut x = 17u64;
        for i in 0..400 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let jitter = (x >> 33) % 60;
            let rr = match i % 97 {
                10 => 120,
                11 => 330,
                50 => 600,
                _ => 200 + jitter as usize,
            };
            beats.push(beats[i] + rr);
        }
        let mut nn = Vec::new();
        for fs in [250.0, 360.0, 500.0] {
            for n in [0, 2, 3, 4, 50, 401] {
                let b = &beats[..n];
                let want = hrv(rr_intervals_ms(b, fs).view()).map(|h| h.sdnn_ms);
                let got = sdnn_ms(b.iter().copied(), fs, &mut nn);
                assert_eq!(
                    got.map(f64::to_bits),
                    want.map(f64::to_bits),
                    "{fs} Hz, {n} beats"
                );
            }
        }
    }

    #[test]
    fn intervals_from_beats() {
        assert_eq!(
            rr_intervals_ms(&[0, 250, 500], 250.0).to_vec(),
            [1000.0, 1000.0]
        );
        assert!(rr_intervals_ms(&[7], 250.0).is_empty());
        assert!(hrv(array![800.0, 810.0].view()).is_none());
    }
}
