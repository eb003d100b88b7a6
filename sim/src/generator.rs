//! The synthetic ward: for each simulated second, every patient's physiology
//! moves (baseline + slow drift + the scenario's active episodes), and the
//! records that fall due are emitted — numerics every `numerics_period_s`,
//! one ECG block (lead II) every `ecg_block_s` once its samples are recorded,
//! and malformed records at the scenario's rate.
//!
//! Determinism: every patient has its own SplitMix64 streams derived from the
//! seed and the patient's position, one for physiology and ECG and one for
//! malformed-record injection, so the same config gives byte-identical output
//! and turning malformed records on does not change the valid ones.
//!
//! Physiology per second: each vital has a target (baseline + an
//! Ornstein–Uhlenbeck drift with a 10-minute time constant, or the episode's
//! level) and follows it with a first-order lag (HR 8 s, SpO2 15 s, RR 20 s,
//! SBP 30 s, temperature 5 min), so episodes ramp in and out the way monitors
//! show them. Fever raises the heart rate by 10 /min per °C (sinus rhythm).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use wardwatch_core::demo::SplitMix64;
use wardwatch_core::model::PatientRecord;

use crate::ecg::{EcgConditions, EcgSynth, EcgTraits, Rhythm, SYNTH_GAIN_ADU_PER_MV, normal};
use crate::error::{Error, Result};
use crate::observation::{
    self as obs, EcgGap, EcgLead, EcgScale, NumericVital, Observation, Subject,
};
use crate::record::{MalformedKind, RecordKind, RecordSource, SimBatch, SimRecord};
use crate::scenario::{Episode, EpisodeKind, PatientRef, Scenario, SignalKind};

/// A patient's resting vital signs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VitalBaseline {
    pub hr_bpm: f64,
    pub rr_per_min: f64,
    pub spo2_pct: f64,
    pub sbp_mmhg: f64,
    pub temp_c: f64,
}

impl Default for VitalBaseline {
    fn default() -> Self {
        VitalBaseline {
            hr_bpm: 75.0,
            rr_per_min: 16.0,
            spo2_pct: 97.0,
            sbp_mmhg: 125.0,
            temp_c: 36.8,
        }
    }
}

/// One simulated patient.
#[derive(Debug, Clone, PartialEq)]
pub struct SimPatient {
    pub mrn: String,
    pub device_id: Option<String>,
    pub baseline: VitalBaseline,
    /// Ectopic beats and pacing in the patient's ECG.
    pub ecg_traits: EcgTraits,
}

/// What a patient's conditions bring to the simulated ECG:
/// - a pacemaker (any condition naming one): dual-chamber pacing with a
///   lower rate of 60 /min;
/// - heart failure: frequent PVCs, 4 a minute with a tenth as couplets —
///   ventricular ectopy is common in heart failure (most patients on
///   24-h Holter; Packer, Circulation 1992;85(1 Suppl):I50–56);
/// - ischaemic heart disease: occasional PVCs, 1 a minute, a twentieth as
///   couplets;
/// - otherwise none.
///
/// The PVCs' direction in lead II follows the MRN, so a patient keeps one
/// ectopic focus.
pub fn ecg_traits_of(r: &PatientRecord) -> EcgTraits {
    let has = |needle: &str| {
        r.conditions
            .iter()
            .any(|c| c.to_lowercase().contains(needle))
    };
    let polarity = if r.mrn.bytes().map(u32::from).sum::<u32>() % 2 == 0 {
        1.0
    } else {
        -1.0
    };
    let (pvc_per_min, couplet_fraction) = if has("heart failure") {
        (4.0, 0.1)
    } else if has("ischaemic heart disease") || has("ischemic heart disease") {
        (1.0, 0.05)
    } else {
        (0.0, 0.0)
    };
    EcgTraits {
        pvc_per_min,
        couplet_fraction,
        pvc_polarity: polarity,
        paced_lower_rate_bpm: has("pacemaker").then_some(60.0),
    }
}

impl SimPatient {
    /// From a registry record: its MRN and baseline (defaults where unknown),
    /// device `MON-{ward}-{bed}` (or `MON-{mrn}` without a bed). A device id
    /// names one device: bed numbers repeat across wards, and a shared id
    /// would read as one monitor moving between patients at every record.
    pub fn from_record(r: &PatientRecord) -> SimPatient {
        let d = VitalBaseline::default();
        let b = &r.baseline;
        SimPatient {
            mrn: r.mrn.clone(),
            device_id: Some(match (&r.ward, &r.bed) {
                (Some(ward), Some(bed)) => format!("MON-{}-{bed}", ward.replace(' ', "")),
                (None, Some(bed)) => format!("MON-{bed}"),
                _ => format!("MON-{}", r.mrn),
            }),
            baseline: VitalBaseline {
                hr_bpm: b.hr_bpm.unwrap_or(d.hr_bpm),
                rr_per_min: b.rr_per_min.unwrap_or(d.rr_per_min),
                spo2_pct: b.spo2_pct.unwrap_or(d.spo2_pct),
                sbp_mmhg: b.sbp_mmhg.unwrap_or(d.sbp_mmhg),
                temp_c: b.temp_c.unwrap_or(d.temp_c),
            },
            ecg_traits: ecg_traits_of(r),
        }
    }

    /// The patients of `wardwatch_core::demo::ward` (up to 24 beds) or, for
    /// more, of `wardwatch_core::demo::registry` — the same records the app
    /// imports for the demo and the benchmarks, so every MRN is registered.
    pub fn from_demo(n: usize, seed: u64, today: NaiveDate) -> Vec<SimPatient> {
        wardwatch_core::demo::patients(n, seed, today)
            .iter()
            .take(n)
            .map(SimPatient::from_record)
            .collect()
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    pub patients: Vec<SimPatient>,
    pub seed: u64,
    /// Simulated time of second 0.
    pub start: DateTime<Utc>,
    /// 1–60 s between numerics (each of HR, RR, SpO2, BP, temperature).
    pub numerics_period_s: u32,
    /// 125–500 Hz, or `None` for no ECG.
    pub ecg_fs_hz: Option<u32>,
    /// Seconds of ECG per Observation (1–10).
    pub ecg_block_s: u32,
    pub scenario: Scenario,
    /// How ECG blocks recorded with the leads off are written (default all `E`).
    pub ecg_gap: EcgGap,
    /// Stop after this many simulated seconds (numerics at 0..duration, ECG
    /// covering [0, duration)); `None` runs until shutdown.
    pub duration_s: Option<u64>,
    /// Stream each patient's finger pleth (MDC_PULS_OXIM_PLETH) beside the
    /// ECG, at its rate and in its blocks: the pulse of every simulated
    /// beat, none in asystole (needs `ecg_fs_hz`).
    pub pleth: bool,
}

impl GeneratorConfig {
    /// Numerics every second, ECG at 250 Hz in 2-second blocks, no episodes,
    /// no end.
    pub fn new(patients: Vec<SimPatient>, seed: u64, start: DateTime<Utc>) -> GeneratorConfig {
        GeneratorConfig {
            patients,
            seed,
            start,
            numerics_period_s: 1,
            ecg_fs_hz: Some(250),
            ecg_block_s: 2,
            scenario: Scenario::default(),
            ecg_gap: EcgGap::default(),
            duration_s: None,
            pleth: false,
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |field, reason: String| Err(Error::Config { field, reason });
        if self.patients.is_empty() {
            return bad("patients", "at least one patient is needed".into());
        }
        let mut mrns: Vec<&str> = self.patients.iter().map(|p| p.mrn.as_str()).collect();
        mrns.sort_unstable();
        if let Some(w) = mrns.windows(2).find(|w| w[0] == w[1]) {
            return bad("patients", format!("MRN `{}` appears twice", w[0]));
        }
        if !(1..=60).contains(&self.numerics_period_s) {
            return bad(
                "numerics_period_s",
                format!("{} is outside 1–60", self.numerics_period_s),
            );
        }
        if let Some(fs) = self.ecg_fs_hz
            && !(125..=500).contains(&fs)
        {
            return bad("ecg_fs_hz", format!("{fs} Hz is outside 125–500"));
        }
        if !(1..=10).contains(&self.ecg_block_s) {
            return bad(
                "ecg_block_s",
                format!("{} is outside 1–10", self.ecg_block_s),
            );
        }
        Ok(())
    }
}

// Indices into the per-vital arrays.
const HR: usize = 0;
const RR: usize = 1;
const SPO2: usize = 2;
const SBP: usize = 3;
const TEMP: usize = 4;
const DRIFT_SD: [f64; 5] = [4.0, 1.5, 0.8, 6.0, 0.15];
const LAG_S: [f64; 5] = [8.0, 20.0, 15.0, 30.0, 300.0];
const DRIFT_TAU_S: f64 = 600.0;

#[derive(Debug, Clone)]
struct PatientState {
    rng: SplitMix64,
    bad_rng: SplitMix64,
    drift: [f64; 5],
    level: [f64; 5],
    ecg: Option<EcgSynth>,
    /// Samples of the block being recorded (`None` = leads off).
    ecg_buf: Vec<Option<i32>>,
    ecg_buf_silent: bool,
    /// The pleth of the same block (`None` = probe off).
    pleth_buf: Vec<Option<i32>>,
    pleth_buf_silent: bool,
    bad_seq: u64,
    episodes: Vec<Episode>,
    /// Seconds the scenario still drives the heart (see `record_ecg_second`).
    scripted_hold_s: u32,
}

/// Seconds after a scripted rate or rhythm ends before the patient's own
/// ectopy and pacing return.
const SCRIPTED_SETTLE_S: u32 = 60;

/// What the active episodes do to a patient during one second.
#[derive(Debug, Clone, Default)]
struct Effects {
    target: [Option<f64>; 5],
    rhythm: Option<Rhythm>,
    motion_mv: Option<f64>,
    lead_off: bool,
    lost: Vec<SignalKind>,
    silent: bool,
}

impl Effects {
    fn of(episodes: &[Episode], t_s: u64) -> Effects {
        let mut e = Effects::default();
        for ep in episodes.iter().filter(|ep| ep.active_at(t_s)) {
            let level = ep.level.unwrap_or(0.0);
            match ep.kind {
                EpisodeKind::Tachycardia | EpisodeKind::Bradycardia => {
                    e.target[HR] = Some(level);
                }
                EpisodeKind::AtrialFibrillation => {
                    e.target[HR] = Some(level);
                    e.rhythm = Some(Rhythm::AtrialFibrillation { mean_hr_bpm: level });
                }
                EpisodeKind::Asystole => e.rhythm = Some(Rhythm::Asystole),
                EpisodeKind::Desaturation => e.target[SPO2] = Some(level),
                EpisodeKind::Hypotension => e.target[SBP] = Some(level),
                EpisodeKind::Fever => e.target[TEMP] = Some(level),
                EpisodeKind::Tachypnoea => e.target[RR] = Some(level),
                EpisodeKind::MotionArtefact => e.motion_mv = Some(level),
                EpisodeKind::LeadOff => e.lead_off = true,
                EpisodeKind::SensorDisconnect => {
                    e.lost.extend_from_slice(&ep.signals);
                    e.silent |= ep.silent;
                }
            }
        }
        e
    }

    fn lost(&self, s: SignalKind) -> bool {
        self.lost.contains(&s)
    }
}

/// The synthetic ward (see the module docs). A [`RecordSource`].
#[derive(Debug)]
pub struct Generator {
    config: GeneratorConfig,
    states: Vec<PatientState>,
    /// The next second to process.
    t_s: u64,
}

impl Generator {
    pub fn new(config: GeneratorConfig) -> Result<Generator> {
        config.validate()?;
        let mut per_patient: Vec<Vec<Episode>> = vec![Vec::new(); config.patients.len()];
        for (i, ep) in config.scenario.episodes.iter().enumerate() {
            let idx = match &ep.patient {
                PatientRef::Bed(b) => (*b < config.patients.len()).then_some(*b),
                PatientRef::Mrn(m) => config.patients.iter().position(|p| &p.mrn == m),
            };
            let Some(idx) = idx else {
                return Err(Error::Config {
                    field: "scenario",
                    reason: format!(
                        "episodes[{i}] is for {:?}, which is not among the {} simulated patients",
                        ep.patient,
                        config.patients.len()
                    ),
                });
            };
            per_patient[idx].push(ep.clone());
        }
        let states = config
            .patients
            .iter()
            .zip(per_patient)
            .enumerate()
            .map(|(i, (p, episodes))| {
                // Distinct, well-mixed streams per patient and purpose.
                let mut mix =
                    SplitMix64::new(config.seed ^ (i as u64).wrapping_mul(0xA24B_AED4_963E_E407));
                let mut rng = SplitMix64::new(mix.next_u64());
                let bad_rng = SplitMix64::new(mix.next_u64());
                let b = p.baseline;
                let ecg = config
                    .ecg_fs_hz
                    .map(|fs| EcgSynth::new(fs, &mut rng).with_traits(p.ecg_traits));
                PatientState {
                    rng,
                    bad_rng,
                    drift: [0.0; 5],
                    level: [b.hr_bpm, b.rr_per_min, b.spo2_pct, b.sbp_mmhg, b.temp_c],
                    ecg,
                    ecg_buf: Vec::new(),
                    ecg_buf_silent: false,
                    pleth_buf: Vec::new(),
                    pleth_buf_silent: false,
                    bad_seq: 0,
                    episodes,
                    scripted_hold_s: 0,
                }
            })
            .collect();
        Ok(Generator {
            config,
            states,
            t_s: 0,
        })
    }

    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    fn cycle_t(&self, t_s: u64) -> u64 {
        match self.config.scenario.repeat_s {
            Some(r) => t_s % r,
            None => t_s,
        }
    }

    /// Processes second `t`: records the ECG of [t−1, t), emits a finished
    /// block, then moves physiology to `t` and emits numerics due at `t`.
    fn tick(&mut self, t: u64, out: &mut Vec<SimRecord>) {
        let now = self.config.start + Duration::seconds(t as i64);
        let cfg = &self.config;
        let in_range = cfg.duration_s.is_none_or(|d| t < d);
        let prev_cycle = (t > 0).then(|| self.cycle_t(t - 1));
        let cycle = self.cycle_t(t);
        let block = u64::from(cfg.ecg_block_s);
        for (patient, st) in cfg.patients.iter().zip(self.states.iter_mut()) {
            if let (Some(pc), Some(fs)) = (prev_cycle, cfg.ecg_fs_hz) {
                let fx = Effects::of(&st.episodes, pc);
                record_ecg_second(st, &fx, fs, cfg.pleth);
                // A last, shorter block when the duration is not a multiple.
                if t.is_multiple_of(block) || cfg.duration_s == Some(t) {
                    emit_ecg_block(patient, st, now, fs, cfg.ecg_gap, out);
                    emit_pleth_block(patient, st, now, fs, cfg.ecg_gap, out);
                }
            }
            if in_range {
                let fx = Effects::of(&st.episodes, cycle);
                advance_physiology(st, &patient.baseline, &fx);
                if t.is_multiple_of(u64::from(cfg.numerics_period_s)) {
                    emit_numerics(patient, st, &fx, now, &cfg.scenario, out);
                }
            }
        }
    }
}

impl RecordSource for Generator {
    fn next_batch(&mut self) -> Result<Option<SimBatch>> {
        loop {
            let t = self.t_s;
            if self.config.duration_s.is_some_and(|d| t > d) {
                return Ok(None);
            }
            self.t_s += 1;
            let mut records = Vec::new();
            self.tick(t, &mut records);
            if !records.is_empty() {
                return Ok(Some(SimBatch {
                    at: self.config.start + Duration::seconds(t as i64),
                    records,
                }));
            }
        }
    }
}

fn advance_physiology(st: &mut PatientState, b: &VitalBaseline, fx: &Effects) {
    let a = (-1.0 / DRIFT_TAU_S).exp();
    let innov = (1.0 - a * a).sqrt();
    for (drift, sd) in st.drift.iter_mut().zip(DRIFT_SD) {
        *drift = a * *drift + sd * innov * normal(&mut st.rng);
    }
    let base = [b.hr_bpm, b.rr_per_min, b.spo2_pct, b.sbp_mmhg, b.temp_c];
    for i in 0..5 {
        let mut target = fx.target[i].unwrap_or(base[i] + st.drift[i]);
        if i == SPO2 {
            target = target.min(100.0);
        }
        if i == HR && fx.target[HR].is_none() {
            // Fever drives the heart rate (~10 /min per °C above baseline).
            target += 10.0 * (st.level[TEMP] - b.temp_c).max(0.0);
        }
        st.level[i] += (target - st.level[i]) * (1.0 - (-1.0 / LAG_S[i]).exp());
    }
}

fn record_ecg_second(st: &mut PatientState, fx: &Effects, fs: u32, with_pleth: bool) {
    let Some(synth) = st.ecg.as_mut() else {
        return;
    };
    let rhythm = fx.rhythm.unwrap_or(Rhythm::Sinus {
        hr_bpm: st.level[HR],
    });
    let rhythm = match rhythm {
        // The AF episode's mean rate ramps with the HR level too.
        Rhythm::AtrialFibrillation { .. } => Rhythm::AtrialFibrillation {
            mean_hr_bpm: st.level[HR],
        },
        r => r,
    };
    // The script drives the heart while it sets a rate or rhythm and for the
    // minute after, while the rate settles back (8-s lag).
    if fx.rhythm.is_some() || fx.target[HR].is_some() {
        st.scripted_hold_s = SCRIPTED_SETTLE_S;
    } else {
        st.scripted_hold_s = st.scripted_hold_s.saturating_sub(1);
    }
    let c = EcgConditions {
        rhythm,
        resp_hz: st.level[RR] / 60.0,
        motion_mv: fx.motion_mv,
        scripted: st.scripted_hold_s > 0,
        lead_off: fx.lead_off,
    };
    // The heart keeps beating while the leads are off: generate anyway so the
    // rhythm state stays continuous, then blank the second.
    let mut second = Vec::with_capacity(fs as usize);
    if with_pleth {
        let mut pleth = Vec::with_capacity(fs as usize);
        synth.second_with_pleth(&mut st.rng, c, &mut second, &mut pleth);
        if fx.lost(SignalKind::Pleth) {
            st.pleth_buf.extend(std::iter::repeat_n(None, pleth.len()));
            st.pleth_buf_silent |= fx.silent;
        } else {
            st.pleth_buf.extend(pleth.into_iter().map(Some));
        }
    } else {
        synth.second(&mut st.rng, c, &mut second);
    }
    if fx.lost(SignalKind::Ecg) {
        st.ecg_buf.extend(std::iter::repeat_n(None, second.len()));
        st.ecg_buf_silent |= fx.silent;
    } else {
        st.ecg_buf.extend(second.into_iter().map(Some));
    }
}

/// Takes the recorded block that ends at `now` (whole seconds of samples)
/// out of `buf`: its samples, start and how a block without a valid
/// sample goes (a silent disconnect sends nothing, whatever the gap style).
fn take_block(
    buf: &mut Vec<Option<i32>>,
    silent: &mut bool,
    now: DateTime<Utc>,
    fs: u32,
    gap: EcgGap,
) -> Option<(Vec<Option<i32>>, DateTime<Utc>, EcgGap)> {
    let samples = std::mem::take(buf);
    let silent = std::mem::replace(silent, false);
    if samples.is_empty() {
        return None;
    }
    let start = now - Duration::seconds((samples.len() / fs as usize) as i64);
    Some((samples, start, if silent { EcgGap::Omit } else { gap }))
}

/// Emits the recorded block of lead II that ends at `now`.
fn emit_ecg_block(
    p: &SimPatient,
    st: &mut PatientState,
    now: DateTime<Utc>,
    fs: u32,
    gap: EcgGap,
    out: &mut Vec<SimRecord>,
) {
    let Some((samples, start, gap)) =
        take_block(&mut st.ecg_buf, &mut st.ecg_buf_silent, now, fs, gap)
    else {
        return;
    };
    let scale = EcgScale {
        factor_mv: 1.0 / SYNTH_GAIN_ADU_PER_MV,
        origin_mv: 0.0,
    };
    let fs = f64::from(fs);
    if let Some((o, lost, n)) =
        obs::ecg_block(EcgLead::II, subject(p), start, fs, scale, &samples, gap)
    {
        out.push(record(&p.mrn, &o, RecordKind::Ecg, lost, n));
    }
}

/// Emits the pleth recorded with the block that ends at `now`.
fn emit_pleth_block(
    p: &SimPatient,
    st: &mut PatientState,
    now: DateTime<Utc>,
    fs: u32,
    gap: EcgGap,
    out: &mut Vec<SimRecord>,
) {
    let Some((samples, start, gap)) =
        take_block(&mut st.pleth_buf, &mut st.pleth_buf_silent, now, fs, gap)
    else {
        return;
    };
    let scale = EcgScale {
        factor_mv: crate::ecg::PLETH_FACTOR,
        origin_mv: 0.0,
    };
    let (wave, fs) = (obs::PulseWave::PLETH, f64::from(fs));
    if let Some((o, lost, _)) = obs::pulse_block(wave, subject(p), start, fs, scale, &samples, gap)
    {
        out.push(record(&p.mrn, &o, RecordKind::Pulse, lost, 0));
    }
}

fn subject(p: &SimPatient) -> Subject<'_> {
    Subject {
        mrn: &p.mrn,
        device_id: p.device_id.as_deref(),
        device_display: None,
    }
}

fn record(mrn: &str, o: &Observation, kind: RecordKind, absent: bool, samples: u32) -> SimRecord {
    SimRecord {
        partition_key: mrn.to_owned(),
        id: o.id.clone(),
        payload: obs::to_json(o),
        kind,
        data_absent: absent,
        ecg_samples: samples,
    }
}

fn emit_numerics(
    p: &SimPatient,
    st: &mut PatientState,
    fx: &Effects,
    now: DateTime<Utc>,
    scenario: &Scenario,
    out: &mut Vec<SimRecord>,
) {
    let who = subject(p);
    let asystole = matches!(fx.rhythm, Some(Rhythm::Asystole));
    // Measurement noise, rounded to what a monitor displays.
    let hr = if asystole {
        0.0
    } else {
        (st.level[HR] + normal(&mut st.rng))
            .round()
            .clamp(1.0, 350.0)
    };
    let rr = (st.level[RR] + 0.7 * normal(&mut st.rng))
        .round()
        .clamp(1.0, 80.0);
    let spo2 = (st.level[SPO2] + 0.5 * normal(&mut st.rng))
        .round()
        .clamp(1.0, 100.0);
    let sbp = (st.level[SBP] + 3.0 * normal(&mut st.rng))
        .round()
        .clamp(40.0, 280.0);
    let dbp = (0.6 * sbp + 5.0 + 2.0 * normal(&mut st.rng))
        .round()
        .clamp(20.0, sbp - 10.0);
    let temp = ((st.level[TEMP] + 0.03 * normal(&mut st.rng)) * 10.0).round() / 10.0;

    let singles = [
        (NumericVital::HeartRate, SignalKind::Hr, hr),
        (NumericVital::RespRate, SignalKind::Rr, rr),
        (NumericVital::Spo2, SignalKind::Spo2, spo2),
        (NumericVital::TemperatureC, SignalKind::Temp, temp),
    ];
    for (vital, signal, value) in singles {
        let lost = fx.lost(signal);
        if lost && fx.silent {
            continue;
        }
        let o = obs::numeric(vital, who, now, (!lost).then_some(value));
        out.push(record(&p.mrn, &o, RecordKind::Numeric, lost, 0));
        if !lost {
            maybe_malformed(p, st, vital, o, now, scenario, out);
        }
    }
    let lost = fx.lost(SignalKind::Bp);
    if !(lost && fx.silent) {
        let o = obs::blood_pressure(who, now, "bp", (!lost).then_some((sbp, dbp)));
        out.push(record(&p.mrn, &o, RecordKind::Numeric, lost, 0));
    }
}

/// With probability `rate`, emits a broken copy of a valid numeric record.
fn maybe_malformed(
    p: &SimPatient,
    st: &mut PatientState,
    vital: NumericVital,
    mut o: Observation,
    now: DateTime<Utc>,
    scenario: &Scenario,
    out: &mut Vec<SimRecord>,
) {
    let spec = &scenario.malformed;
    if spec.rate <= 0.0 || spec.kinds.is_empty() || st.bad_rng.unit() >= spec.rate {
        return;
    }
    let kind = *st.bad_rng.pick(&spec.kinds);
    st.bad_seq += 1;
    o.id = format!("{}-bad-{}-{}", p.mrn, kind.name(), st.bad_seq);
    let payload = match kind {
        MalformedKind::InvalidJson => {
            let mut json = obs::to_json(&o);
            // Cut mid-object; the JSON is ASCII so any cut is valid UTF-8.
            json.truncate(json.len() / 2);
            json
        }
        MalformedKind::UnknownCode => {
            o.code = obs::CodeableConcept::one(obs::LOINC, "99999-9", Some("Not a vital sign"));
            obs::to_json(&o)
        }
        MalformedKind::UnknownUnit => {
            if let Some(q) = o.value_quantity.as_mut() {
                q.unit = "bpm".into();
                q.code = "bpm".into();
            }
            obs::to_json(&o)
        }
        MalformedKind::ImpossibleValue => {
            let v = match vital {
                NumericVital::HeartRate => 900.0,
                NumericVital::Spo2 => 130.0,
                NumericVital::RespRate => 200.0,
                NumericVital::TemperatureC => 60.0,
            };
            if let Some(q) = o.value_quantity.as_mut() {
                q.value = v;
            }
            obs::to_json(&o)
        }
        MalformedKind::UnknownPatient => {
            o.subject = Some(obs::Reference {
                identifier: Some(obs::Identifier {
                    value: format!("UNREGISTERED-{}-{}", p.mrn, st.bad_seq),
                }),
                display: None,
            });
            obs::to_json(&o)
        }
        MalformedKind::FutureTimestamp => {
            o.effective_date_time = obs::rfc3339(now + Duration::days(1));
            obs::to_json(&o)
        }
        MalformedKind::MissingSubject => {
            o.subject = None;
            obs::to_json(&o)
        }
    };
    out.push(SimRecord {
        partition_key: p.mrn.clone(),
        id: o.id,
        payload,
        kind: RecordKind::Malformed(kind),
        data_absent: false,
        ecg_samples: 0,
    });
}
