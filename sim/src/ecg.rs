//! A synthetic single-lead ECG (lead II), good enough for a live display, QRS
//! detection and rhythm alarms, cheap enough for 1,000 patients at 250 Hz.
//!
//! Each beat is a sum of five Gaussians (P, Q, R, S, T), the beat model of
//! ECGSYN: McSharry PE, Clifford GD, Tarassenko L, Smith LA. "A dynamical model
//! for generating synthetic electrocardiogram signals." IEEE Trans Biomed Eng
//! 2003;50(3):289–294. ECGSYN places the waves at angles on a limit cycle
//! integrated as an ODE; here they are placed directly in time relative to the
//! R peak (Q −35 ms, S +35 ms, P and T scaled by √RR as ECGSYN scales its
//! widths, a Bazett-like QT), which gives the same morphology without
//! integrating an ODE per sample. RR intervals carry a few percent of jitter in
//! sinus rhythm; atrial fibrillation draws them from a wide log-normal, drops
//! the P wave and adds 6 Hz fibrillatory waves; asystole schedules no beats.
//! Baseline wander follows respiration; motion artefact is large AR(1)
//! low-pass noise (~1 Hz corner).
//!
//! Samples are integers at 200 data units per mV (MIT-BIH's gain), so a
//! synthetic block is written exactly like a replayed one.

use wardwatch_core::demo::SplitMix64;

/// Data units per mV of synthetic ECG (factor 0.005 mV).
pub const SYNTH_GAIN_ADU_PER_MV: f64 = 200.0;

/// The rhythm for the next second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rhythm {
    Sinus { hr_bpm: f64 },
    AtrialFibrillation { mean_hr_bpm: f64 },
    Asystole,
}

/// Noise and artefact for the next second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EcgConditions {
    pub rhythm: Rhythm,
    /// Breathing frequency, for baseline wander.
    pub resp_hz: f64,
    /// Motion artefact standard deviation in mV, when the patient moves.
    pub motion_mv: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
struct Beat {
    r_s: f64,
    /// The RR interval that ended at this beat, which sets the T-wave delay.
    rr_s: f64,
    has_p: bool,
}

/// One patient's ECG generator state.
#[derive(Debug, Clone)]
pub struct EcgSynth {
    fs_hz: u32,
    /// Index of the next sample to produce.
    next_sample: u64,
    /// The two previous beats and the next one (a T wave can outlast one short RR).
    beats: [Option<Beat>; 3],
    wander_phase: f64,
    fib_phase: f64,
    motion_mv: f64,
}

/// Standard normal deviate (Box–Muller).
pub fn normal(rng: &mut SplitMix64) -> f64 {
    let u1 = rng.unit().max(f64::MIN_POSITIVE);
    let u2 = rng.unit();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[inline]
fn wave(d: f64, amp_mv: f64, mu_s: f64, sd_s: f64) -> f64 {
    let z = (d - mu_s) / sd_s;
    if z.abs() > 5.0 {
        0.0
    } else {
        amp_mv * (-0.5 * z * z).exp()
    }
}

/// The beat template in mV at `d` seconds from the R peak.
fn beat_mv(b: &Beat, d: f64) -> f64 {
    if !(-0.45..=0.9).contains(&d) {
        return 0.0;
    }
    let s = b.rr_s.sqrt().clamp(0.5, 1.3);
    let mut v = wave(d, -0.12, -0.035, 0.008)
        + wave(d, 1.3, 0.0, 0.011)
        + wave(d, -0.3, 0.035, 0.010)
        + wave(d, 0.32, 0.27 * s, 0.055 * s);
    if b.has_p {
        v += wave(d, 0.15, -0.17 * s, 0.022);
    }
    v
}

impl EcgSynth {
    pub fn new(fs_hz: u32, rng: &mut SplitMix64) -> EcgSynth {
        EcgSynth {
            fs_hz,
            next_sample: 0,
            beats: [None; 3],
            wander_phase: rng.unit() * std::f64::consts::TAU,
            fib_phase: rng.unit() * std::f64::consts::TAU,
            motion_mv: 0.0,
        }
    }

    fn draw_rr(rhythm: Rhythm, rng: &mut SplitMix64) -> Option<(f64, bool)> {
        match rhythm {
            Rhythm::Sinus { hr_bpm } => {
                let rr = 60.0 / hr_bpm.max(1.0) * (1.0 + 0.025 * normal(rng));
                Some((rr.max(0.2), true))
            }
            Rhythm::AtrialFibrillation { mean_hr_bpm } => {
                // Log-normal with σ = 0.25: mean 1 after the −σ²/2 shift, RR
                // coefficient of variation ≈ 25 %, typical of AF.
                let rr = 60.0 / mean_hr_bpm.max(1.0) * (0.25 * normal(rng) - 0.03125).exp();
                Some((rr.clamp(0.22, 3.0), false))
            }
            Rhythm::Asystole => None,
        }
    }

    /// Appends one second of samples (`fs_hz` of them) to `out`.
    pub fn second(&mut self, rng: &mut SplitMix64, c: EcgConditions, out: &mut Vec<i32>) {
        let fs = f64::from(self.fs_hz);
        let a_motion = (-std::f64::consts::TAU * 1.0 / fs).exp();
        let motion_innov = (1.0 - a_motion * a_motion).sqrt();
        let is_af = matches!(c.rhythm, Rhythm::AtrialFibrillation { .. });
        // After asystole (or at the very start) the next beat comes soon.
        if self.beats[2].is_none()
            && let Some((rr, has_p)) = Self::draw_rr(c.rhythm, rng)
        {
            let t0 = self.next_sample as f64 / fs;
            self.beats[2] = Some(Beat {
                r_s: t0 + 0.5 * rr,
                rr_s: rr,
                has_p,
            });
        }
        for _ in 0..self.fs_hz {
            let t = self.next_sample as f64 / fs;
            self.next_sample += 1;
            while let Some(next) = self.beats[2]
                && t >= next.r_s
            {
                self.beats = [
                    self.beats[1],
                    Some(next),
                    Self::draw_rr(c.rhythm, rng).map(|(rr, has_p)| Beat {
                        r_s: next.r_s + rr,
                        rr_s: rr,
                        has_p,
                    }),
                ];
            }
            let mut mv: f64 = self
                .beats
                .iter()
                .flatten()
                .map(|b| beat_mv(b, t - b.r_s))
                .sum();
            mv += 0.06 * (std::f64::consts::TAU * c.resp_hz * t + self.wander_phase).sin();
            if is_af {
                // Fibrillatory waves: ~6 Hz with a wandering phase.
                self.fib_phase += 0.05 * normal(rng);
                mv += 0.05 * (std::f64::consts::TAU * 6.0 * t + self.fib_phase).sin();
            }
            let sd = c.motion_mv.unwrap_or(0.0);
            self.motion_mv = a_motion * self.motion_mv + sd * motion_innov * normal(rng);
            mv += self.motion_mv + 0.012 * normal(rng);
            out.push((mv * SYNTH_GAIN_ADU_PER_MV).round() as i32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r_peaks(samples: &[i32], fs: f64) -> Vec<f64> {
        // Local maxima above 0.8 mV, at least 200 ms apart.
        let mut peaks: Vec<f64> = Vec::new();
        for i in 1..samples.len() - 1 {
            let v = samples[i];
            if f64::from(v) > 0.8 * SYNTH_GAIN_ADU_PER_MV
                && v >= samples[i - 1]
                && v > samples[i + 1]
            {
                let t = i as f64 / fs;
                if peaks.last().is_none_or(|&p| t - p > 0.2) {
                    peaks.push(t);
                }
            }
        }
        peaks
    }

    fn run(rhythm: Rhythm, seconds: usize) -> Vec<i32> {
        let mut rng = SplitMix64::new(7);
        let mut synth = EcgSynth::new(250, &mut rng);
        let mut out = Vec::new();
        for _ in 0..seconds {
            let c = EcgConditions {
                rhythm,
                resp_hz: 0.25,
                motion_mv: None,
            };
            synth.second(&mut rng, c, &mut out);
        }
        out
    }

    #[test]
    fn sinus_rhythm_beats_at_the_requested_rate() {
        let ecg = run(Rhythm::Sinus { hr_bpm: 72.0 }, 60);
        let beats = r_peaks(&ecg, 250.0).len();
        assert!(
            (70..=74).contains(&beats),
            "{beats} beats in 60 s at 72 /min"
        );
    }

    #[test]
    fn af_is_irregular_and_asystole_is_flat() {
        let ecg = run(Rhythm::AtrialFibrillation { mean_hr_bpm: 120.0 }, 60);
        let peaks = r_peaks(&ecg, 250.0);
        let rr: Vec<f64> = peaks.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = rr.iter().sum::<f64>() / rr.len() as f64;
        let sd = (rr.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / rr.len() as f64).sqrt();
        assert!(sd / mean > 0.12, "RR CV {} too regular for AF", sd / mean);

        let flat = run(Rhythm::Asystole, 10);
        let max = flat.iter().map(|v| v.abs()).max().unwrap_or(0);
        assert!(f64::from(max) < 0.3 * SYNTH_GAIN_ADU_PER_MV, "max {max}");
    }
}
