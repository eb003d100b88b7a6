//! A heart-rate meter that behaves like a bedside monitor's display.
//!
//! AAMI EC13 (*Cardiac monitors, heart rate meters, and alarms*) lets each
//! monitor choose its averaging but requires it to be disclosed and to respond
//! within seconds to rate changes. This meter:
//! - shows 60 000 / mean of the last 8 RR intervals (ms), so a single ectopic
//!   beat moves the reading by only about a tenth;
//! - switches to the mean of the last 4 intervals when all 4 are below 80 % or
//!   all above 120 % of that 8-beat mean, so a run of ectopy (sudden
//!   tachycardia) or a sudden slowing shows within 4 beats instead of 8;
//! - between beats, when the time since the last beat exceeds the interval
//!   the reading implies, shows 60 / elapsed seconds instead, so the display
//!   falls at once during a pause or asystole rather than freezing on the last
//!   value.

use std::collections::VecDeque;

use serde::Serialize;

pub const AVERAGE_BEATS: usize = 8;
pub const FAST_BEATS: usize = 4;

/// One reading of the meter, taken at a beat.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HrPoint {
    pub sample: usize,
    pub time_s: f64,
    pub hr_bpm: f64,
}

/// Streaming heart-rate meter fed with beat sample indices.
#[derive(Debug, Clone)]
pub struct HrMeter {
    fs_hz: f64,
    last_beat: Option<usize>,
    rr_s: VecDeque<f64>,
    hr_bpm: Option<f64>,
}

impl HrMeter {
    pub fn new(fs_hz: f64) -> HrMeter {
        HrMeter {
            fs_hz,
            last_beat: None,
            rr_s: VecDeque::with_capacity(AVERAGE_BEATS),
            hr_bpm: None,
        }
    }

    /// Registers a beat and returns the reading right after it (none before
    /// the second beat).
    pub fn beat(&mut self, sample: usize) -> Option<f64> {
        if let Some(last) = self.last_beat {
            if self.rr_s.len() == AVERAGE_BEATS {
                self.rr_s.pop_front();
            }
            self.rr_s
                .push_back(sample.saturating_sub(last) as f64 / self.fs_hz);
            let mean = |xs: &mut dyn Iterator<Item = &f64>, n: usize| xs.sum::<f64>() / n as f64;
            let n = self.rr_s.len();
            let avg = mean(&mut self.rr_s.iter(), n);
            let recent = self.rr_s.iter().skip(n.saturating_sub(FAST_BEATS));
            let fast = n >= FAST_BEATS
                && (recent.clone().all(|&r| r < 0.8 * avg)
                    || recent.clone().all(|&r| r > 1.2 * avg));
            let rr = if fast {
                mean(&mut self.rr_s.iter().skip(n - FAST_BEATS), FAST_BEATS)
            } else {
                avg
            };
            self.hr_bpm = (rr > 0.0).then(|| 60.0 / rr);
        }
        self.last_beat = Some(sample);
        self.hr_bpm
    }

    /// The reading at `sample` (at or after the last beat), decayed when the
    /// next beat is overdue.
    pub fn reading_at(&self, sample: usize) -> Option<f64> {
        let hr = self.hr_bpm?;
        let elapsed_s = sample.saturating_sub(self.last_beat?) as f64 / self.fs_hz;
        Some(if elapsed_s > 60.0 / hr {
            60.0 / elapsed_s
        } else {
            hr
        })
    }
}

/// The meter's reading at every beat of a recording.
pub fn hr_series(beats: &[usize], fs_hz: f64) -> Vec<HrPoint> {
    let mut meter = HrMeter::new(fs_hz);
    beats
        .iter()
        .filter_map(|&sample| {
            meter.beat(sample).map(|hr_bpm| HrPoint {
                sample,
                time_s: sample as f64 / fs_hz,
                hr_bpm,
            })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn beats(rr_s: &[f64], fs: f64) -> Vec<usize> {
        let mut t = 0.0;
        let mut out = vec![0];
        for r in rr_s {
            t += r;
            out.push((t * fs).round() as usize);
        }
        out
    }

    #[test]
    fn steady_rate_reads_exactly() {
        let s = hr_series(&beats(&[0.75; 12], 100.0), 100.0);
        assert!(s.iter().all(|p| (p.hr_bpm - 80.0).abs() < 1e-9));
    }

    #[test]
    fn one_ectopic_beat_moves_the_reading_little() {
        let mut rr = vec![1.0; 10];
        rr.extend([0.6, 1.4]); // premature beat and compensatory pause
        rr.extend([1.0; 3]);
        let s = hr_series(&beats(&rr, 250.0), 250.0);
        assert!(s.iter().all(|p| (p.hr_bpm - 60.0).abs() < 5.0), "{s:?}");
    }

    #[test]
    fn run_of_tachycardia_shows_within_four_beats() {
        let mut rr = vec![1.0; 10];
        rr.extend([0.4; 4]);
        let s = hr_series(&beats(&rr, 250.0), 250.0);
        let last = s.last().unwrap().hr_bpm;
        assert!((last - 150.0).abs() < 1.0, "{last}");
    }

    #[test]
    fn reading_falls_during_a_pause() {
        let mut m = HrMeter::new(100.0);
        for b in beats(&[1.0; 8], 100.0) {
            m.beat(b);
        }
        assert_eq!(m.reading_at(800 + 50), Some(60.0));
        assert_eq!(m.reading_at(800 + 300), Some(20.0));
        assert_eq!(HrMeter::new(100.0).reading_at(5), None);
    }
}
