//! The built-in demo ward: 24 patients with the variety of a real medical ward
//! (COPD on NEWS2 scale 2, heart failure, AF on anticoagulation, post-operative,
//! beta-blocked, diabetic, elderly and young), generated deterministically from
//! a seed so that the demo, tests and benchmarks see the same patients.
//! Names are invented; no real person's data is in here.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

use crate::model::{Baseline, PatientRecord, Sex, Spo2Scale};

/// The number of beds on the demo ward.
pub const DEMO_BEDS: usize = 24;

/// A small deterministic generator (SplitMix64, Steele, Lea & Flood 2014):
/// enough for varied demo data, and stable across platforms and releases,
/// which a crate's RNG may not be.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i64
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next_u64() as usize % items.len()]
    }
}

/// A kind of patient on the ward and what their record looks like.
struct Archetype {
    ages: (i64, i64),
    conditions: &'static [&'static str],
    medications: &'static [&'static str],
    spo2_scale: Spo2Scale,
    /// baseline HR, RR, SBP, SpO2, temperature
    baseline: (f64, f64, f64, f64, f64),
}

const ARCHETYPES: [Archetype; 8] = [
    Archetype {
        ages: (62, 84),
        conditions: &["COPD with hypercapnic respiratory failure", "Hypertension"],
        medications: &[
            "Tiotropium 18 micrograms inhaled daily",
            "Salbutamol 100 micrograms inhaled as needed",
            "Prednisolone 30 mg daily",
        ],
        spo2_scale: Spo2Scale::Two,
        baseline: (88.0, 20.0, 132.0, 90.0, 36.8),
    },
    Archetype {
        ages: (58, 90),
        conditions: &[
            "Heart failure with reduced ejection fraction",
            "Chronic kidney disease stage 3",
        ],
        medications: &[
            "Bisoprolol 5 mg daily",
            "Furosemide 40 mg daily",
            "Ramipril 5 mg daily",
        ],
        spo2_scale: Spo2Scale::One,
        baseline: (66.0, 18.0, 108.0, 95.0, 36.6),
    },
    Archetype {
        ages: (55, 88),
        conditions: &["Atrial fibrillation", "Type 2 diabetes mellitus"],
        medications: &[
            "Apixaban 5 mg twice daily",
            "Digoxin 125 micrograms daily",
            "Metformin 1 g twice daily",
        ],
        spo2_scale: Spo2Scale::One,
        baseline: (84.0, 16.0, 128.0, 96.0, 36.7),
    },
    Archetype {
        ages: (35, 80),
        conditions: &["Post-operative day 1: laparoscopic cholecystectomy"],
        medications: &[
            "Paracetamol 1 g four times daily",
            "Enoxaparin 40 mg daily",
            "Morphine 5 mg as needed",
        ],
        spo2_scale: Spo2Scale::One,
        baseline: (78.0, 15.0, 124.0, 97.0, 37.0),
    },
    Archetype {
        ages: (45, 75),
        conditions: &["Ischaemic heart disease", "Hypertension"],
        medications: &[
            "Metoprolol 50 mg twice daily",
            "Atorvastatin 80 mg nightly",
            "Aspirin 75 mg daily",
        ],
        spo2_scale: Spo2Scale::One,
        baseline: (58.0, 14.0, 138.0, 97.0, 36.6),
    },
    Archetype {
        ages: (40, 78),
        conditions: &["Type 1 diabetes mellitus", "Diabetic foot infection"],
        medications: &[
            "Insulin glargine 20 units nightly",
            "Insulin aspart with meals",
            "Flucloxacillin 1 g four times daily",
        ],
        spo2_scale: Spo2Scale::One,
        baseline: (82.0, 16.0, 130.0, 97.0, 37.2),
    },
    Archetype {
        ages: (86, 97),
        conditions: &["Frailty", "Fall at home", "Dementia"],
        medications: &["Donepezil 10 mg nightly", "Colecalciferol 800 units daily"],
        spo2_scale: Spo2Scale::One,
        baseline: (74.0, 17.0, 146.0, 95.0, 36.4),
    },
    Archetype {
        ages: (19, 34),
        conditions: &["Community-acquired pneumonia"],
        medications: &[
            "Amoxicillin 1 g three times daily",
            "Paracetamol 1 g four times daily",
        ],
        spo2_scale: Spo2Scale::One,
        baseline: (72.0, 14.0, 118.0, 98.0, 36.9),
    },
];

const FAMILY: &[&str] = &[
    "Abbott",
    "Bennett",
    "Chowdhury",
    "Davies",
    "Evans",
    "Fischer",
    "Gallagher",
    "Hughes",
    "Iqbal",
    "Jones",
    "Kowalski",
    "Lindqvist",
    "Murphy",
    "Nakamura",
    "Okafor",
    "Patel",
    "Quinn",
    "Rossi",
    "Sato",
    "Thompson",
    "Usman",
    "Varga",
    "Walsh",
    "Young",
];
const GIVEN_F: &[&str] = &[
    "Alice", "Beatrice", "Chloe", "Dorothy", "Eileen", "Farah", "Grace", "Hana", "Ines", "Joan",
];
const GIVEN_M: &[&str] = &[
    "Arthur", "Bilal", "Connor", "David", "Emeka", "Frank", "George", "Harold", "Ivan", "James",
];
const ALLERGIES: &[&str] = &["Penicillin", "Latex", "Codeine", "Sulfonamides"];
const CLINICIANS: &[&str] = &[
    "Dr R. Adeyemi",
    "Dr S. Brandt",
    "Dr M. Castillo",
    "Dr K. Oduya",
];

/// The demo ward for `seed`: 24 patients in beds 1–24 of ward "Cardio A",
/// ages counted against `today`, admitted in the days before it.
pub fn ward(seed: u64, today: NaiveDate) -> Vec<PatientRecord> {
    let mut rng = SplitMix64::new(seed);
    let midnight: DateTime<Utc> = today.and_time(NaiveTime::MIN).and_utc();
    let offset = rng.range(0, ARCHETYPES.len() as i64 - 1) as usize;
    (0..DEMO_BEDS)
        .map(|bed| {
            // Every archetype appears three times; the order depends on the seed.
            let a = &ARCHETYPES[(bed + offset) % ARCHETYPES.len()];
            let sex = if rng.unit() < 0.5 {
                Sex::Female
            } else {
                Sex::Male
            };
            let given = *rng.pick(if sex == Sex::Female { GIVEN_F } else { GIVEN_M });
            let age = rng.range(a.ages.0, a.ages.1);
            let birth = today - Duration::days(age * 365 + rng.range(10, 350));
            let jitter = |rng: &mut SplitMix64, v: f64, spread: f64| {
                ((v + (rng.unit() - 0.5) * 2.0 * spread) * 10.0).round() / 10.0
            };
            let (hr, rr, sbp, spo2, temp) = a.baseline;
            let baseline = Baseline {
                hr_bpm: Some(jitter(&mut rng, hr, 6.0).round()),
                rr_per_min: Some(jitter(&mut rng, rr, 2.0).round()),
                sbp_mmhg: Some(jitter(&mut rng, sbp, 10.0).round()),
                spo2_pct: Some(jitter(&mut rng, spo2, 1.0).round().min(100.0)),
                temp_c: Some(jitter(&mut rng, temp, 0.3)),
            };
            let allergies = if rng.unit() < 0.3 {
                vec![(*rng.pick(ALLERGIES)).to_owned()]
            } else {
                Vec::new()
            };
            PatientRecord {
                mrn: format!("WW{:06}", 100_000 + (seed % 900_000) as usize + bed),
                family_name: FAMILY[(bed * 7 + seed as usize) % FAMILY.len()].to_owned(),
                given_name: given.to_owned(),
                birth_date: Some(birth),
                sex,
                ward: Some("Cardio A".to_owned()),
                bed: Some((bed + 1).to_string()),
                attending: Some((*rng.pick(CLINICIANS)).to_owned()),
                conditions: a.conditions.iter().map(|s| (*s).to_owned()).collect(),
                medications: a.medications.iter().map(|s| (*s).to_owned()).collect(),
                allergies,
                baseline,
                spo2_scale: a.spo2_scale,
                alert_consent: rng.unit() < 0.7,
                admitted_at: Some(midnight - Duration::minutes(rng.range(6 * 60, 6 * 24 * 60))),
                discharged_at: None,
            }
        })
        .collect()
}

/// The demo ward (24 beds) for up to 24 patients, else `registry(n, …)`:
/// the records the simulator's patients, the benchmarks and the demo share,
/// so that every simulated MRN is registered.
pub fn patients(n: usize, seed: u64, today: NaiveDate) -> Vec<PatientRecord> {
    if n <= DEMO_BEDS {
        ward(seed, today)
    } else {
        registry(n, seed, today)
    }
}

/// `n` registry records for load tests (100,000-patient import benchmark):
/// the demo archetypes spread over many wards, unique MRNs.
pub fn registry(n: usize, seed: u64, today: NaiveDate) -> Vec<PatientRecord> {
    let mut out = Vec::with_capacity(n);
    let mut block = 0u64;
    while out.len() < n {
        for mut r in ward(seed.wrapping_add(block), today) {
            if out.len() == n {
                break;
            }
            let k = out.len();
            r.mrn = format!("R{k:08}");
            r.ward = Some(format!("Ward {}", k / DEMO_BEDS + 1));
            out.push(r);
        }
        block += 1;
    }
    out
}

/// The demo ward's accounts (README, SECURITY.md): documented, so that the
/// demo opens and its lock screen unlocks without asking anyone. Never
/// create them on a real ward's store.
pub const DEMO_ACCOUNTS: &[(&str, crate::store::Role)] = &[
    ("nurse.demo", crate::store::Role::Clinician),
    ("doctor.demo", crate::store::Role::Clinician),
    ("viewer.demo", crate::store::Role::Viewer),
];

/// The demo accounts' password.
pub const DEMO_PASSWORD: &str = "wardwatch demo ward";

/// One hour of a vital's generated history: its minute summaries and,
/// from `raw_from` on, the readings they summarise.
#[derive(Debug, Clone)]
pub struct HistoryHour {
    pub vital: crate::model::Vital,
    pub hour_ms: i64,
    pub hour: crate::store::rollup::Hour,
    /// The raw readings (1 Hz, as a monitor sends them: whole numbers,
    /// temperature in tenths), in time order; empty before `raw_from`.
    pub raw: Vec<crate::store::numerics::NumSample>,
}

/// A patient's past minute history, generated for the demo and benchmarks
/// (not physiology to learn from): each vital wanders around the record's
/// baseline (a mean-reverting walk) with a day-night rhythm, heart rate
/// lowest at night and temperature lowest in the early morning (the
/// circadian pattern of healthy adults). One hour per vital and hour of
/// `[from, to)`, 60 readings a minute, as a monitor at 1 Hz would leave.
/// From `raw_from` on the readings themselves are generated too (a slow
/// swing over the minute around its mean), and the minutes summarise them
/// exactly, so the raw samples and the minute history agree.
pub fn history_hours(
    record: &PatientRecord,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    raw_from: Option<DateTime<Utc>>,
    seed: u64,
) -> Vec<HistoryHour> {
    use crate::model::Vital;
    use crate::store::rollup::{HOUR_MS, Hour, SLOTS};
    let b = &record.baseline;
    // (vital, baseline, walk step, spread within a minute, amplitude of the day-night swing)
    let vitals = [
        (Vital::HeartRate, b.hr_bpm.unwrap_or(75.0), 0.8, 4.0, 6.0),
        (Vital::RespRate, b.rr_per_min.unwrap_or(16.0), 0.3, 2.0, 1.5),
        (Vital::Spo2, b.spo2_pct.unwrap_or(96.0), 0.2, 1.0, 0.5),
        (
            Vital::SystolicBp,
            b.sbp_mmhg.unwrap_or(125.0),
            1.0,
            5.0,
            8.0,
        ),
        (
            Vital::DiastolicBp,
            b.sbp_mmhg.unwrap_or(125.0) * 0.62,
            0.6,
            3.0,
            5.0,
        ),
        (
            Vital::TemperatureC,
            b.temp_c.unwrap_or(36.8),
            0.02,
            0.1,
            0.3,
        ),
    ];
    let first = from.timestamp_millis().div_euclid(HOUR_MS) * HOUR_MS;
    let last = to.timestamp_millis();
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::new();
    for (vital, base, step, spread, swing) in vitals {
        let (lo, hi) = vital.plausible_range();
        let mut drift = 0.0f64;
        let mut hour_ms = first;
        while hour_ms < last {
            let mut hour = Hour::default();
            let mut raw = Vec::new();
            for minute in 0..SLOTS {
                let t = hour_ms + minute as i64 * 60_000;
                if t < from.timestamp_millis() || t >= last {
                    continue;
                }
                drift = 0.98 * drift + step * (rng.unit() * 2.0 - 1.0);
                let day = (t.rem_euclid(24 * HOUR_MS) as f64 / (24 * HOUR_MS) as f64)
                    * std::f64::consts::TAU;
                // Lowest near 04:00 for heart rate and temperature.
                let rhythm = -swing * (day - std::f64::consts::TAU * 4.0 / 24.0).cos();
                let mean = (base + drift + rhythm).clamp(lo, hi);
                let half = spread * (0.5 + rng.unit()) / 2.0;
                let (min, max) = ((mean - half).max(lo), (mean + half).min(hi));
                let mean = if vital == Vital::Spo2 {
                    mean.min(100.0)
                } else {
                    mean
                };
                if raw_from.is_some_and(|r| t >= r.timestamp_millis()) {
                    let phase = rng.unit() * std::f64::consts::TAU;
                    let top = if vital == Vital::Spo2 {
                        hi.min(100.0)
                    } else {
                        hi
                    };
                    for second in 0..60 {
                        let swing =
                            (std::f64::consts::TAU * f64::from(second) / 60.0 + phase).sin();
                        let v = (mean + half * swing).clamp(lo, top);
                        let v = if vital == Vital::TemperatureC {
                            (v * 10.0).round() / 10.0
                        } else {
                            v.round()
                        };
                        hour.add(minute, v);
                        raw.push(crate::store::numerics::NumSample {
                            ts_ms: t + i64::from(second) * 1000,
                            value: Some(v),
                            device: None,
                        });
                    }
                } else {
                    hour.set(minute, 60, min, max.max(mean), mean);
                }
            }
            out.push(HistoryHour {
                vital,
                hour_ms,
                hour,
                raw,
            });
            hour_ms += HOUR_MS;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap_or_default()
    }

    #[test]
    fn same_seed_same_ward_other_seed_other_ward() {
        assert_eq!(ward(7, day()), ward(7, day()));
        assert_ne!(ward(7, day()), ward(8, day()));
    }

    #[test]
    fn ward_has_the_promised_variety_and_valid_records() {
        let w = ward(42, day());
        assert_eq!(w.len(), DEMO_BEDS);
        assert!(w.iter().all(|r| r.validate(day()).is_ok()));
        assert!(w.iter().any(|r| r.spo2_scale == Spo2Scale::Two));
        let has = |needle: &str| {
            w.iter()
                .any(|r| r.conditions.iter().any(|c| c.contains(needle)))
        };
        for c in [
            "COPD",
            "Heart failure",
            "Atrial fibrillation",
            "Post-operative",
            "diabetes",
        ] {
            assert!(has(c), "no patient with {c}");
        }
        assert!(w.iter().any(|r| r.age_years(day()) >= Some(86)));
        assert!(
            w.iter()
                .any(|r| r.age_years(day()).is_some_and(|a| a <= 34))
        );
    }
}
