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
//! A patient's heart can bring its own beats to every rhythm ([`EcgTraits`]):
//! - **Premature ventricular complexes** in sinus rhythm: wide (QRS about
//!   140 ms, AHA/ACCF/HRS 2009 ECG standardisation: ≥ 120 ms), large, without
//!   a P wave and with a discordant T wave, at a fixed coupling interval
//!   (unifocal), followed by a full compensatory pause — the sinus node keeps
//!   its clock and the sinus beat that falls in the PVC's refractory period is
//!   not conducted, so the interval around the PVC is two sinus cycles
//!   (Goldberger, *Clinical Electrocardiography*, ch. 16). At slow rates a
//!   PVC can fall between two conducted beats (interpolated). Some PVCs come
//!   as couplets; the simulator never makes runs of three or more (those are
//!   ventricular tachycardia, the scenario's business).
//! - **Dual-chamber pacing** (DDD) for complete heart block: every P wave is
//!   followed after the AV delay (160 ms) by a pacing artefact and a wide,
//!   paced QRS — negative in lead II from the right-ventricular apex (superior
//!   axis) with a discordant T wave; below the lower rate limit the
//!   pacemaker paces at that limit; P waves faster than the upper tracking
//!   rate (130 /min) are followed at that rate. The artefact is a narrow spike (bipolar
//!   lead, under 1 mV at the skin) that a 250 Hz recording shows as one or
//!   two samples, as MIT-BIH's paced records show theirs. In AF the
//!   pacemaker paces the ventricle only when an interval would exceed the
//!   lower rate limit.
//!
//! While a scenario drives the heart (a scripted rate or rhythm, and the
//! minute of recovery after it), the patient's ectopy and pacing pause: the
//! script's rhythm is what the monitor sees.
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

/// What a patient's heart adds to every rhythm (see the module's doc).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EcgTraits {
    /// Premature ventricular complexes per minute in sinus rhythm (0: none).
    pub pvc_per_min: f64,
    /// The share of PVCs followed at once by a second one (a couplet).
    pub couplet_fraction: f64,
    /// +1 or −1: the direction of the patient's (unifocal) PVCs in lead II.
    pub pvc_polarity: f64,
    /// A dual-chamber pacemaker with this lower rate limit (/min).
    pub paced_lower_rate_bpm: Option<f64>,
}

/// The PVC's coupling interval as a share of the sinus cycle.
const PVC_COUPLING: f64 = 0.6;
/// The ventricles' refractory period after an ectopic beat: a sinus impulse
/// arriving sooner is not conducted (the compensatory pause).
const VENTRICULAR_REFRACTORY_S: f64 = 0.45;
/// The pacemaker's AV delay: from the P wave to the pacing artefact.
const PACED_AV_DELAY_S: f64 = 0.16;
/// The fastest atrial rate a dual-chamber pacemaker tracks (a common
/// programmed upper tracking rate); faster atria are not followed 1:1.
const PACED_UPPER_RATE_BPM: f64 = 130.0;

/// Noise and artefact for the next second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EcgConditions {
    pub rhythm: Rhythm,
    /// Breathing frequency, for baseline wander.
    pub resp_hz: f64,
    /// Motion artefact standard deviation in mV, when the patient moves.
    pub motion_mv: Option<f64>,
    /// The scenario drives the heart (a scripted rate or rhythm): the
    /// patient's own ectopy and pacing pause, so the script's rhythm is
    /// what the monitor sees.
    pub scripted: bool,
    /// A lead off that the monitor does not flag: the ECG shows a flat,
    /// noisy line while the heart beats on (and the pleth shows it).
    pub lead_off: bool,
}

/// The pleth's units per data unit: samples are written in thousandths.
pub const PLETH_FACTOR: f64 = 0.001;
/// Pulse arrival time from the R peak to the foot of the finger's pulse:
/// about 200–300 ms in adults at rest (Allen, "Photoplethysmography and its
/// application in clinical physiological measurement", Physiological
/// Measurement 28 (2007) R1–R39).
const PULSE_ARRIVAL_S: f64 = 0.24;

/// The finger's pulse of one beat, `dt` seconds after its foot: a systolic
/// peak about 150 ms after the foot and a smaller diastolic (reflected)
/// wave 250 ms later, in pleth units (1 for a normal beat). A premature
/// ventricular beat fills the ventricle less: a third of the pulse.
fn pulse_wave(kind: BeatKind, dt: f64) -> f64 {
    if !(0.0..1.0).contains(&dt) {
        return 0.0;
    }
    // Zero beyond 3.5 widths (under 5·10⁻⁶ of the wave): no `exp` there.
    let gauss = |c: f64, w: f64| {
        let z2 = ((dt - c) / w).powi(2);
        if z2 > 12.5 { 0.0 } else { (-z2).exp() }
    };
    let size = if kind == BeatKind::Ventricular {
        0.35
    } else {
        1.0
    };
    size * (gauss(0.15, 0.07) + 0.35 * gauss(0.40, 0.09))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum BeatKind {
    /// Conducted from the atria (sinus or AF).
    Conducted,
    /// A premature ventricular complex.
    Ventricular,
    /// Paced from the right-ventricular apex.
    Paced,
}

#[derive(Debug, Clone, Copy)]
struct Beat {
    r_s: f64,
    /// The RR interval that ended at this beat, which sets the T-wave delay.
    rr_s: f64,
    has_p: bool,
    kind: BeatKind,
}

/// One patient's ECG generator state.
#[derive(Debug, Clone)]
pub struct EcgSynth {
    fs_hz: u32,
    /// Index of the next sample to produce.
    next_sample: u64,
    /// The two previous beats and the next one (a T wave can outlast one short RR).
    beats: [Option<Beat>; 3],
    /// The same beats' templates.
    shapes: [Shape; 3],
    wander_phase: f64,
    fib_phase: f64,
    motion_mv: f64,
    traits: EcgTraits,
    /// The scenario drives this second (see [`EcgConditions::scripted`]).
    scripted: bool,
    /// When a PVC interrupted sinus rhythm: the next sinus beat's time (the
    /// sinus node's own clock).
    sinus_due_s: Option<f64>,
}

/// Standard normal deviate (Box–Muller).
pub fn normal(rng: &mut SplitMix64) -> f64 {
    let u1 = rng.unit().max(f64::MIN_POSITIVE);
    let u2 = rng.unit();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// An approximately standard normal deviate for white measurement noise,
/// from the same two draws [`normal`] takes but without its logarithm,
/// square root and cosine (they were a sixth of the generator's time): the
/// sum of eight uniform 16-bit integers, centred and scaled to unit
/// variance: the Irwin–Hall distribution (Irwin, Biometrika 1927;19:225–239;
/// Hall, ibid. 240–245), close to a Gaussian by the central limit theorem
/// but with short tails — it never goes beyond ±4.9, which additive sensor
/// noise does not need. Not for the heart's own variability, which keeps
/// [`normal`].
pub fn noise(rng: &mut SplitMix64) -> f64 {
    // Eight uniforms on 0..=65535: mean 8 · 32767.5, variance 8 · (65536² − 1) / 12.
    const MEAN: f64 = 8.0 * 32_767.5;
    const SD: f64 = 53_509.919_921_450_08; // √(8 · (65536² − 1) / 12)
    let sum16 = |x: u64| (x & 0xFFFF) + (x >> 16 & 0xFFFF) + (x >> 32 & 0xFFFF) + (x >> 48);
    let sum = sum16(rng.next_u64()) + sum16(rng.next_u64());
    (sum as f64 - MEAN) / SD
}

/// Consumes what [`normal`] draws, without the arithmetic.
fn skip_normal(rng: &mut SplitMix64) {
    rng.next_u64();
    rng.next_u64();
}

/// sin(θ₀ + kδ) for k = 0, 1, 2, … by the angle-addition formulas: two
/// multiplications and additions a step instead of a `sin`. Over one
/// second's 125–500 steps the rounding error stays near 1e-13.
struct Rotation {
    sin: f64,
    cos: f64,
    sin_d: f64,
    cos_d: f64,
}

impl Rotation {
    fn new(theta0: f64, delta: f64) -> Rotation {
        let (sin, cos) = theta0.sin_cos();
        let (sin_d, cos_d) = delta.sin_cos();
        Rotation {
            sin,
            cos,
            sin_d,
            cos_d,
        }
    }

    /// The current angle's sine; then steps on.
    fn next(&mut self) -> f64 {
        let now = self.sin;
        let (s, c) = (self.sin, self.cos);
        self.sin = s * self.cos_d + c * self.sin_d;
        self.cos = c * self.cos_d - s * self.sin_d;
        now
    }
}

/// One Gaussian wave of a beat, `amp · exp(−½ ((d − mu) / sd)²)` at `d`
/// seconds from the R peak, zero beyond 5 sd (under 4·10⁻⁶ of its
/// amplitude). Its reciprocal width and bounds are worked out once per
/// beat, not at every sample (a division per wave and sample).
#[derive(Debug, Clone, Copy, Default)]
struct Wave {
    amp_mv: f64,
    mu_s: f64,
    inv_sd: f64,
    lo_s: f64,
    hi_s: f64,
}

impl Wave {
    fn new(amp_mv: f64, mu_s: f64, sd_s: f64) -> Wave {
        Wave {
            amp_mv,
            mu_s,
            inv_sd: 1.0 / sd_s,
            lo_s: mu_s - 5.0 * sd_s,
            hi_s: mu_s + 5.0 * sd_s,
        }
    }

    #[inline]
    fn at(&self, d: f64) -> f64 {
        if d < self.lo_s || d > self.hi_s {
            return 0.0;
        }
        let z = (d - self.mu_s) * self.inv_sd;
        self.amp_mv * (-0.5 * z * z).exp()
    }
}

/// A scheduled beat's template: its R peak's time and its waves, or none.
#[derive(Debug, Clone, Copy, Default)]
struct Shape {
    r_s: f64,
    waves: [Wave; 5],
    len: usize,
}

impl Shape {
    /// The beat template of `b` (the waves in mV, placed relative to the
    /// R peak, the main deflection); `pvc_polarity` orients ventricular
    /// beats.
    fn of(b: &Beat, pvc_polarity: f64) -> Shape {
        let s = b.rr_s.sqrt().clamp(0.5, 1.3);
        let mut waves = [Wave::default(); 5];
        let list: &[Wave] = match b.kind {
            BeatKind::Conducted => &[
                Wave::new(-0.12, -0.035, 0.008),
                Wave::new(1.3, 0.0, 0.011),
                Wave::new(-0.3, 0.035, 0.010),
                Wave::new(0.32, 0.27 * s, 0.055 * s),
                Wave::new(0.15, -0.17 * s, 0.022),
            ],
            // Wide (σ 28 ms: about 140 ms from onset to end), larger than a
            // conducted QRS, a late opposite deflection, and a T wave
            // discordant with the QRS.
            BeatKind::Ventricular => {
                let p = if pvc_polarity < 0.0 { -1.0 } else { 1.0 };
                &[
                    Wave::new(1.7 * p, 0.0, 0.028),
                    Wave::new(-0.45 * p, 0.065, 0.022),
                    Wave::new(-0.45 * p, 0.31, 0.075),
                ]
            }
            BeatKind::Paced => {
                let spike = -0.045;
                &[
                    Wave::new(0.8, spike, 0.0025),
                    Wave::new(-1.1, 0.0, 0.030),
                    Wave::new(0.3, 0.07, 0.022),
                    Wave::new(0.38, 0.31 * s, 0.07 * s),
                    Wave::new(0.15, spike - PACED_AV_DELAY_S, 0.022),
                ]
            }
        };
        // The last wave of a conducted or paced beat is its P wave.
        let len = if b.kind != BeatKind::Ventricular && !b.has_p {
            list.len() - 1
        } else {
            list.len()
        };
        waves[..len].copy_from_slice(&list[..len]);
        Shape {
            r_s: b.r_s,
            waves,
            len,
        }
    }

    /// The beat's ECG in mV at time `t`.
    #[inline]
    fn mv(&self, t: f64) -> f64 {
        let d = t - self.r_s;
        if !(-0.45..=0.9).contains(&d) {
            return 0.0;
        }
        self.waves[..self.len].iter().map(|w| w.at(d)).sum()
    }
}

impl EcgSynth {
    pub fn new(fs_hz: u32, rng: &mut SplitMix64) -> EcgSynth {
        EcgSynth {
            fs_hz,
            next_sample: 0,
            beats: [None; 3],
            shapes: [Shape::default(); 3],
            wander_phase: rng.unit() * std::f64::consts::TAU,
            fib_phase: rng.unit() * std::f64::consts::TAU,
            motion_mv: 0.0,
            traits: EcgTraits::default(),
            scripted: false,
            sinus_due_s: None,
        }
    }

    /// The same generator for a heart with these traits.
    pub fn with_traits(mut self, traits: EcgTraits) -> EcgSynth {
        self.traits = traits;
        self
    }

    /// The beat after `prev` (or, without one, the first beat at `t0`), or
    /// `None` in asystole.
    fn next_beat(
        &mut self,
        prev: Option<&Beat>,
        before_prev: Option<&Beat>,
        t0: f64,
        rhythm: Rhythm,
        rng: &mut SplitMix64,
    ) -> Option<Beat> {
        let Some((rr, has_p)) = Self::draw_rr(rhythm, rng) else {
            self.sinus_due_s = None;
            return None;
        };
        let start = prev.map_or(t0 - 0.5 * rr, |p| p.r_s);
        let conducted = |at: f64| Beat {
            r_s: at,
            rr_s: at - start,
            has_p,
            kind: BeatKind::Conducted,
        };
        let sinus = matches!(rhythm, Rhythm::Sinus { .. });
        // A sinus beat held back by the last PVC, if that was the last beat.
        let held_sinus = self.sinus_due_s.take();
        let traits = if self.scripted {
            EcgTraits::default()
        } else {
            self.traits
        };
        if let Some(lower) = traits.paced_lower_rate_bpm {
            let limit = 60.0 / lower.max(1.0);
            return Some(if sinus {
                // Every P wave is tracked up to the upper tracking rate;
                // below the lower rate, the atrium is paced too.
                let rr = rr.clamp(60.0 / PACED_UPPER_RATE_BPM, limit);
                Beat {
                    r_s: start + rr,
                    rr_s: rr,
                    has_p: true,
                    kind: BeatKind::Paced,
                }
            } else if rr > limit {
                Beat {
                    r_s: start + limit,
                    rr_s: limit,
                    has_p: false,
                    kind: BeatKind::Paced,
                }
            } else {
                conducted(start + rr)
            });
        }
        if !sinus || traits.pvc_per_min <= 0.0 {
            return Some(conducted(start + rr));
        }
        // The sinus node's clock runs on through ectopic beats.
        let mut due = held_sinus.unwrap_or(start + rr);
        let after_pvc = prev.is_some_and(|p| p.kind == BeatKind::Ventricular);
        let chance = if after_pvc {
            // Only a first PVC may bring a second (no runs of three).
            if before_prev.is_some_and(|b| b.kind == BeatKind::Ventricular) {
                0.0
            } else {
                traits.couplet_fraction
            }
        } else {
            (traits.pvc_per_min * rr / 60.0).min(0.5)
        };
        if chance > 0.0 && rng.unit() < chance {
            let coupling = PVC_COUPLING * rr;
            let at = start + coupling;
            while due < at + VENTRICULAR_REFRACTORY_S {
                due += rr;
            }
            self.sinus_due_s = Some(due);
            return Some(Beat {
                r_s: at,
                rr_s: coupling,
                has_p: false,
                kind: BeatKind::Ventricular,
            });
        }
        Some(conducted(due))
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
        self.run_second(rng, c, out, None);
    }

    /// Appends one second of ECG to `out` and of the finger's pleth (the
    /// same beats' pulses, at the same rate, in thousandths of pleth units,
    /// see [`PLETH_FACTOR`]) to `pleth`. No beat, no pulse: the pleth is
    /// flat in asystole.
    pub fn second_with_pleth(
        &mut self,
        rng: &mut SplitMix64,
        c: EcgConditions,
        out: &mut Vec<i32>,
        pleth: &mut Vec<i32>,
    ) {
        self.run_second(rng, c, out, Some(pleth));
    }

    /// A scheduled beat's template (none: no beat).
    fn shape(&self, b: Option<&Beat>) -> Shape {
        b.map_or_else(Shape::default, |b| Shape::of(b, self.traits.pvc_polarity))
    }

    fn run_second(
        &mut self,
        rng: &mut SplitMix64,
        c: EcgConditions,
        out: &mut Vec<i32>,
        mut pleth: Option<&mut Vec<i32>>,
    ) {
        let fs = f64::from(self.fs_hz);
        let a_motion = (-std::f64::consts::TAU * 1.0 / fs).exp();
        let motion_innov = (1.0 - a_motion * a_motion).sqrt();
        let is_af = matches!(c.rhythm, Rhythm::AtrialFibrillation { .. });
        self.scripted = c.scripted;
        // After asystole (or at the very start) the next beat comes soon.
        if self.beats[2].is_none() {
            let t0 = self.next_sample as f64 / fs;
            self.beats[2] = self.next_beat(None, None, t0, c.rhythm, rng);
            self.shapes[2] = self.shape(self.beats[2].as_ref());
        }
        // Baseline wander, sin(2π f t + φ): the second's first sample
        // exactly, then each next one by rotating (sin, cos) through the
        // sample's angle (`sin` was 6 % of the simulator's samples at
        // 10,000 patients, nearly all of it this one per sample).
        let mut wander = Rotation::new(
            std::f64::consts::TAU * c.resp_hz * (self.next_sample as f64 / fs) + self.wander_phase,
            std::f64::consts::TAU * c.resp_hz / fs,
        );
        for _ in 0..self.fs_hz {
            let t = self.next_sample as f64 / fs;
            self.next_sample += 1;
            while let Some(next) = self.beats[2]
                && t >= next.r_s
            {
                let before = self.beats[1];
                let following = self.next_beat(Some(&next), before.as_ref(), t, c.rhythm, rng);
                self.beats = [before, Some(next), following];
                self.shapes = [
                    self.shapes[1],
                    self.shapes[2],
                    self.shape(following.as_ref()),
                ];
            }
            let mut mv: f64 = if c.lead_off {
                0.0
            } else {
                self.shapes.iter().map(|b| b.mv(t)).sum()
            };
            if let Some(pleth) = pleth.as_deref_mut() {
                let pulse: f64 = self
                    .beats
                    .iter()
                    .flatten()
                    .map(|b| pulse_wave(b.kind, t - b.r_s - PULSE_ARRIVAL_S))
                    .sum();
                let x = 0.5 + pulse + 0.004 * noise(rng);
                pleth.push((x / PLETH_FACTOR).round() as i32);
            }
            mv += 0.06 * wander.next();
            if is_af {
                // Fibrillatory waves: ~6 Hz with a wandering phase.
                self.fib_phase += 0.05 * noise(rng);
                mv += 0.05 * (std::f64::consts::TAU * 6.0 * t + self.fib_phase).sin();
            }
            let sd = c.motion_mv.unwrap_or(0.0);
            // Without motion the deviate is drawn all the same (the stream
            // of draws, so every later value, stays as it was) but not
            // computed: zero times it is zero.
            let motion = if sd == 0.0 {
                skip_normal(rng);
                0.0
            } else {
                sd * motion_innov * normal(rng)
            };
            self.motion_mv = a_motion * self.motion_mv + motion;
            mv += self.motion_mv + 0.012 * noise(rng);
            out.push((mv * SYNTH_GAIN_ADU_PER_MV).round() as i32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_follows_the_sine_and_a_skipped_deviate_draws_as_many() {
        let (theta0, delta) = (1234.5678, std::f64::consts::TAU * 0.3 / 500.0);
        let mut r = Rotation::new(theta0, delta);
        for k in 0..500 {
            let want = (theta0 + f64::from(k) * delta).sin();
            assert!((r.next() - want).abs() < 1e-12, "step {k}");
        }
        let (mut a, mut b) = (SplitMix64::new(3), SplitMix64::new(3));
        normal(&mut a);
        skip_normal(&mut b);
        assert_eq!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn measurement_noise_is_unit_variance_and_draws_as_normal_does() {
        let mut rng = SplitMix64::new(11);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| noise(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / f64::from(n);
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / f64::from(n);
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
        // As a Gaussian: about 4.6 % beyond 2 sd, none beyond 5.
        let beyond2 = xs.iter().filter(|x| x.abs() > 2.0).count() as f64 / f64::from(n);
        assert!((0.04..0.052).contains(&beyond2), "{beyond2} beyond 2 sd");
        assert!(xs.iter().all(|x| x.abs() < 5.0));
        let (mut a, mut b) = (SplitMix64::new(3), SplitMix64::new(3));
        noise(&mut a);
        normal(&mut b);
        assert_eq!(a.next_u64(), b.next_u64());
    }

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
                scripted: false,
                lead_off: false,
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

    /// The beats `next_beat` schedules over `seconds` of one rhythm.
    fn schedule(traits: EcgTraits, rhythm: Rhythm, seconds: f64) -> Vec<Beat> {
        let mut rng = SplitMix64::new(11);
        let mut synth = EcgSynth::new(250, &mut rng).with_traits(traits);
        let mut beats: Vec<Beat> = Vec::new();
        while beats.last().is_none_or(|b| b.r_s < seconds) {
            let n = beats.len();
            let prev = n.checked_sub(1).map(|i| beats[i]);
            let before = n.checked_sub(2).map(|i| beats[i]);
            let next = synth
                .next_beat(prev.as_ref(), before.as_ref(), 0.0, rhythm, &mut rng)
                .expect("a beat");
            beats.push(next);
        }
        beats
    }

    const ECTOPIC: EcgTraits = EcgTraits {
        pvc_per_min: 6.0,
        couplet_fraction: 0.2,
        pvc_polarity: -1.0,
        paced_lower_rate_bpm: None,
    };

    #[test]
    fn pvcs_come_early_with_a_full_compensatory_pause_and_never_three_in_a_row() {
        let rr = 60.0 / 75.0;
        let beats = schedule(ECTOPIC, Rhythm::Sinus { hr_bpm: 75.0 }, 1800.0);
        let is_v = |b: &Beat| b.kind == BeatKind::Ventricular;
        let singles: Vec<usize> = (1..beats.len() - 1)
            .filter(|&i| is_v(&beats[i]) && !is_v(&beats[i - 1]) && !is_v(&beats[i + 1]))
            .collect();
        let pvcs = beats.iter().filter(|b| is_v(b)).count();
        let minutes = beats.last().map_or(0.0, |b| b.r_s) / 60.0;
        let rate = pvcs as f64 / minutes;
        assert!((4.5..=9.0).contains(&rate), "{rate} PVCs a minute");
        assert!(
            beats.windows(3).all(|w| !w.iter().all(is_v)),
            "a run of three"
        );
        assert!(beats.windows(2).any(|w| w.iter().all(is_v)), "no couplet");
        for &i in &singles {
            let coupling = beats[i].r_s - beats[i - 1].r_s;
            let around = beats[i + 1].r_s - beats[i - 1].r_s;
            assert!(coupling < 0.7 * rr, "PVC {i} not premature: {coupling} s");
            // The sinus node's two cycles (each with a few % of jitter).
            assert!(
                (around - 2.0 * rr).abs() < 0.15 * rr,
                "PVC {i}: {around} s around it, not a compensatory pause of {} s",
                2.0 * rr
            );
            assert!(!beats[i].has_p);
        }
        assert!(singles.len() > 100, "{} single PVCs", singles.len());
    }

    #[test]
    fn beats_stay_in_order_when_a_script_takes_over_and_hands_back_the_heart() {
        let mut rng = SplitMix64::new(5);
        let busy = EcgTraits {
            pvc_per_min: 30.0,
            couplet_fraction: 0.5,
            ..ECTOPIC
        };
        let mut synth = EcgSynth::new(250, &mut rng).with_traits(busy);
        let mut beats: Vec<Beat> = Vec::new();
        for k in 0..2000 {
            // The script takes the heart for a few beats now and then, often
            // right after a PVC.
            synth.scripted = (k / 5) % 3 == 2;
            let n = beats.len();
            let prev = n.checked_sub(1).map(|i| beats[i]);
            let before = n.checked_sub(2).map(|i| beats[i]);
            let rhythm = Rhythm::Sinus { hr_bpm: 80.0 };
            let next = synth
                .next_beat(prev.as_ref(), before.as_ref(), 0.0, rhythm, &mut rng)
                .expect("a beat");
            beats.push(next);
        }
        for w in beats.windows(2) {
            assert!(w[1].r_s > w[0].r_s + 0.2, "{:?} after {:?}", w[1], w[0]);
            assert!(w[1].rr_s > 0.2, "{:?}", w[1]);
        }
    }

    #[test]
    fn a_paced_heart_tracks_the_sinus_rate_and_paces_at_the_lower_rate_below_it() {
        let paced = EcgTraits {
            paced_lower_rate_bpm: Some(60.0),
            ..EcgTraits::default()
        };
        let fast = schedule(paced, Rhythm::Sinus { hr_bpm: 85.0 }, 120.0);
        assert!(fast.iter().all(|b| b.kind == BeatKind::Paced && b.has_p));
        let rate = 60.0 * (fast.len() - 1) as f64 / (fast[fast.len() - 1].r_s - fast[0].r_s);
        assert!((80.0..90.0).contains(&rate), "tracked at {rate} /min");
        let slow = schedule(paced, Rhythm::Sinus { hr_bpm: 40.0 }, 120.0);
        assert!(
            slow.windows(2).all(|w| w[1].r_s - w[0].r_s <= 1.0 + 1e-9),
            "an interval over the lower rate's 1 s"
        );
        // In AF only the long intervals are paced.
        let af = schedule(
            paced,
            Rhythm::AtrialFibrillation { mean_hr_bpm: 60.0 },
            300.0,
        );
        assert!(af.iter().any(|b| b.kind == BeatKind::Paced));
        assert!(af.iter().any(|b| b.kind == BeatKind::Conducted));
        assert!(af.iter().all(|b| !b.has_p));
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
