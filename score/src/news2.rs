//! NEWS2, the National Early Warning Score 2 (Royal College of Physicians,
//! *National Early Warning Score (NEWS) 2: Standardising the assessment of
//! acute-illness severity in the NHS*, 2017): per-parameter scores from Chart 1,
//! the aggregate 0–20 and the clinical response and monitoring frequency of
//! Charts 3 and 4.
//!
//! **Rounding.** The RCP chart bands are written in whole numbers for
//! respiration rate, SpO2, systolic pressure and pulse, and to one decimal for
//! temperature; a measured value falling between two bands (20.5 /min, 38.05 °C)
//! has no band of its own. Inputs are therefore first rounded half up to the
//! chart's resolution (20.5 → 21, 38.05 → 38.1, 91.4 → 91), then looked up.
//! Half-way is judged with a 1e-9 tolerance, so 38.05, which binary floating
//! point stores as 38.04999…, still rounds to 38.1 as a clinician would expect.
//!
//! **Missing parameters.** A missing value never scores 0 silently: the result
//! lists it in `missing`, sets `complete = false`, and the aggregate is then a
//! lower bound (every sub-score is ≥ 0). SpO2 on scale 2 at ≥ 93 % depends on air
//! versus oxygen; when that is unknown it is scored as on air (the lower bound)
//! and `AirOrOxygen` is listed missing.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which SpO2 scale applies; scale 2 is for patients with hypercapnic
/// respiratory failure and a prescribed target of 88–92 %, decided by a
/// clinician and stored with the patient record.
/// Serialised as `"1"` / `"2"`, as the chart and the patient record name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Spo2Scale {
    #[default]
    #[serde(rename = "1")]
    One,
    #[serde(rename = "2")]
    Two,
}

impl Spo2Scale {
    /// The scale's number on the chart.
    pub fn number(self) -> u8 {
        match self {
            Spo2Scale::One => 1,
            Spo2Scale::Two => 2,
        }
    }

    pub fn from_number(n: i64) -> Option<Spo2Scale> {
        match n {
            1 => Some(Spo2Scale::One),
            2 => Some(Spo2Scale::Two),
            _ => None,
        }
    }
}

/// Whether the patient breathes air or receives supplemental oxygen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Breathing {
    Air,
    Oxygen,
}

/// ACVPU consciousness level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Acvpu {
    Alert,
    NewConfusion,
    Voice,
    Pain,
    Unresponsive,
}

impl Acvpu {
    /// Parses the chart letter (`A`, `C`, `V`, `P`, `U`, any case).
    pub fn from_letter(letter: &str) -> Option<Acvpu> {
        match letter.trim().to_ascii_uppercase().as_str() {
            "A" => Some(Acvpu::Alert),
            "C" => Some(Acvpu::NewConfusion),
            "V" => Some(Acvpu::Voice),
            "P" => Some(Acvpu::Pain),
            "U" => Some(Acvpu::Unresponsive),
            _ => None,
        }
    }
}

/// The seven NEWS2 parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parameter {
    RespirationRate,
    Spo2,
    AirOrOxygen,
    SystolicBp,
    Pulse,
    Consciousness,
    Temperature,
}

impl Parameter {
    pub const ALL: [Parameter; 7] = [
        Parameter::RespirationRate,
        Parameter::Spo2,
        Parameter::AirOrOxygen,
        Parameter::SystolicBp,
        Parameter::Pulse,
        Parameter::Consciousness,
        Parameter::Temperature,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Parameter::RespirationRate => "respiration rate",
            Parameter::Spo2 => "SpO2",
            Parameter::AirOrOxygen => "air or oxygen",
            Parameter::SystolicBp => "systolic blood pressure",
            Parameter::Pulse => "pulse",
            Parameter::Consciousness => "consciousness",
            Parameter::Temperature => "temperature",
        }
    }
}

impl fmt::Display for Parameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One set of observations; any field may be absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct News2Input {
    pub resp_rate_per_min: Option<f64>,
    pub spo2_pct: Option<f64>,
    #[serde(default)]
    pub spo2_scale: Spo2Scale,
    pub breathing: Option<Breathing>,
    pub systolic_bp_mmhg: Option<f64>,
    pub pulse_per_min: Option<f64>,
    pub consciousness: Option<Acvpu>,
    pub temperature_c: Option<f64>,
}

/// The score of one parameter, with the value as rounded for the chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubScore {
    pub parameter: Parameter,
    /// The value looked up in the chart (after rounding); `None` for the
    /// categorical parameters.
    pub charted_value: Option<f64>,
    pub score: u8,
}

/// Clinical response bands of RCP NEWS2 Chart 3/4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Aggregate 0.
    Routine,
    /// Aggregate 1–4 with no single parameter scoring 3.
    Low,
    /// A 3 in any single parameter ("red score") with aggregate ≤ 4.
    LowMediumRedScore,
    /// Aggregate 5–6: urgent response threshold.
    Urgent,
    /// Aggregate ≥ 7: emergency response threshold.
    Emergency,
}

impl Response {
    pub fn clinical_risk(self) -> &'static str {
        match self {
            Response::Routine | Response::Low => "low",
            Response::LowMediumRedScore => "low-medium",
            Response::Urgent => "medium",
            Response::Emergency => "high",
        }
    }

    /// Minimum monitoring frequency (RCP Chart 4).
    pub fn monitoring_frequency(self) -> &'static str {
        match self {
            Response::Routine => "minimum 12-hourly",
            Response::Low => "minimum 4–6-hourly",
            Response::LowMediumRedScore | Response::Urgent => "minimum 1-hourly",
            Response::Emergency => "continuous monitoring of vital signs",
        }
    }

    /// Clinical response (RCP Chart 4, abridged).
    pub fn action(self) -> &'static str {
        match self {
            Response::Routine => "continue routine NEWS monitoring",
            Response::Low => {
                "inform registered nurse, who must assess the patient and decide whether increased monitoring or escalation of care is required"
            }
            Response::LowMediumRedScore => {
                "registered nurse to inform the medical team caring for the patient, who will review and decide whether escalation of care is necessary"
            }
            Response::Urgent => {
                "urgent response: registered nurse to immediately inform the medical team and request urgent assessment by a clinician or team competent in acute illness; care in an environment with monitoring facilities"
            }
            Response::Emergency => {
                "emergency response: immediately inform the medical team (at least specialist registrar level); emergency assessment by a team with critical-care competencies including airway skills; consider transfer to level 2 or 3 care"
            }
        }
    }
}

/// A NEWS2 result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct News2Score {
    /// Scores of the parameters that were given, in chart order.
    pub sub_scores: Vec<SubScore>,
    /// Sum of `sub_scores`; a lower bound when `complete` is false.
    pub aggregate: u8,
    pub missing: Vec<Parameter>,
    pub complete: bool,
    /// Whether any single parameter scored 3.
    pub red_score: bool,
    pub spo2_scale: Spo2Scale,
    pub response: Response,
    pub clinical_risk: String,
    pub monitoring_frequency: String,
    pub action: String,
}

/// Rounds half up to `decimals` places with a tolerance for binary fractions.
fn round_half_up(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale + 0.5 + 1e-9).floor() / scale
}

fn checked(
    parameter: &'static str,
    value: f64,
    (min, max): (f64, f64),
    unit: &'static str,
) -> Result<f64> {
    if !value.is_finite() {
        return Err(Error::NotFinite { parameter });
    }
    if !(min..=max).contains(&value) {
        return Err(Error::OutOfRange {
            parameter,
            value,
            min,
            max,
            unit,
        });
    }
    Ok(value)
}

/// Chart 1 respiration rate (whole breaths per minute).
pub fn score_resp_rate(rr: f64) -> u8 {
    match rr {
        r if r <= 8.0 => 3,
        r if r <= 11.0 => 1,
        r if r <= 20.0 => 0,
        r if r <= 24.0 => 2,
        _ => 3,
    }
}

/// Chart 1 SpO2 (whole percent). `on_oxygen = None` scores scale 2 as on air.
pub fn score_spo2(spo2: f64, scale: Spo2Scale, on_oxygen: Option<bool>) -> u8 {
    match scale {
        Spo2Scale::One => match spo2 {
            s if s <= 91.0 => 3,
            s if s <= 93.0 => 2,
            s if s <= 95.0 => 1,
            _ => 0,
        },
        Spo2Scale::Two => match spo2 {
            s if s <= 83.0 => 3,
            s if s <= 85.0 => 2,
            s if s <= 87.0 => 1,
            s if s <= 92.0 => 0,
            // ≥ 93 %: 0 on air; on oxygen 93–94: 1, 95–96: 2, ≥ 97: 3.
            _ if on_oxygen != Some(true) => 0,
            s if s <= 94.0 => 1,
            s if s <= 96.0 => 2,
            _ => 3,
        },
    }
}

/// Chart 1 systolic blood pressure (whole mmHg).
pub fn score_systolic_bp(sbp: f64) -> u8 {
    match sbp {
        s if s <= 90.0 => 3,
        s if s <= 100.0 => 2,
        s if s <= 110.0 => 1,
        s if s <= 219.0 => 0,
        _ => 3,
    }
}

/// Chart 1 pulse (whole beats per minute).
pub fn score_pulse(pulse: f64) -> u8 {
    match pulse {
        p if p <= 40.0 => 3,
        p if p <= 50.0 => 1,
        p if p <= 90.0 => 0,
        p if p <= 110.0 => 1,
        p if p <= 130.0 => 2,
        _ => 3,
    }
}

/// Chart 1 temperature (°C to one decimal).
pub fn score_temperature(t: f64) -> u8 {
    match t {
        t if t <= 35.0 => 3,
        t if t <= 36.0 => 1,
        t if t <= 38.0 => 0,
        t if t <= 39.0 => 1,
        _ => 2,
    }
}

/// Physiological limits beyond which an input is a typo or a unit mix-up
/// (e.g. °F for °C), not a patient. Deliberately wide: NEWS2 must still score
/// extreme but survivable values.
const RR_LIMITS: (f64, f64) = (0.0, 120.0);
const SPO2_LIMITS: (f64, f64) = (0.0, 100.0);
const SBP_LIMITS: (f64, f64) = (0.0, 350.0);
const PULSE_LIMITS: (f64, f64) = (0.0, 350.0);
const TEMP_LIMITS: (f64, f64) = (10.0, 50.0);

/// Scores one set of observations. Impossible values are errors; missing
/// ones make a partial score (see the module notes).
pub fn news2(input: &News2Input) -> Result<News2Score> {
    let mut sub_scores = Vec::with_capacity(7);
    let mut missing = Vec::new();
    let mut push = |parameter: Parameter, value: Option<f64>, score: Option<u8>| match score {
        Some(score) => sub_scores.push(SubScore {
            parameter,
            charted_value: value,
            score,
        }),
        None => missing.push(parameter),
    };

    let rr = input
        .resp_rate_per_min
        .map(|v| checked("respiration rate", v, RR_LIMITS, "/min"))
        .transpose()?
        .map(|v| round_half_up(v, 0));
    push(Parameter::RespirationRate, rr, rr.map(score_resp_rate));

    let on_oxygen = input.breathing.map(|b| b == Breathing::Oxygen);
    let spo2 = input
        .spo2_pct
        .map(|v| checked("SpO2", v, SPO2_LIMITS, "%"))
        .transpose()?
        .map(|v| round_half_up(v, 0));
    push(
        Parameter::Spo2,
        spo2,
        spo2.map(|s| score_spo2(s, input.spo2_scale, on_oxygen)),
    );
    push(
        Parameter::AirOrOxygen,
        None,
        on_oxygen.map(|o| if o { 2 } else { 0 }),
    );

    let sbp = input
        .systolic_bp_mmhg
        .map(|v| checked("systolic blood pressure", v, SBP_LIMITS, "mmHg"))
        .transpose()?
        .map(|v| round_half_up(v, 0));
    push(Parameter::SystolicBp, sbp, sbp.map(score_systolic_bp));

    let pulse = input
        .pulse_per_min
        .map(|v| checked("pulse", v, PULSE_LIMITS, "/min"))
        .transpose()?
        .map(|v| round_half_up(v, 0));
    push(Parameter::Pulse, pulse, pulse.map(score_pulse));

    push(
        Parameter::Consciousness,
        None,
        input
            .consciousness
            .map(|c| if c == Acvpu::Alert { 0 } else { 3 }),
    );

    let temp = input
        .temperature_c
        .map(|v| checked("temperature", v, TEMP_LIMITS, "°C"))
        .transpose()?
        .map(|v| round_half_up(v, 1));
    push(Parameter::Temperature, temp, temp.map(score_temperature));

    let aggregate: u8 = sub_scores.iter().map(|s| s.score).sum();
    let red_score = sub_scores.iter().any(|s| s.score == 3);
    let response = match aggregate {
        0 => Response::Routine,
        a if a >= 7 => Response::Emergency,
        a if a >= 5 => Response::Urgent,
        _ if red_score => Response::LowMediumRedScore,
        _ => Response::Low,
    };
    Ok(News2Score {
        complete: missing.is_empty(),
        sub_scores,
        aggregate,
        missing,
        red_score,
        spo2_scale: input.spo2_scale,
        response,
        clinical_risk: response.clinical_risk().to_owned(),
        monitoring_frequency: response.monitoring_frequency().to_owned(),
        action: response.action().to_owned(),
    })
}

impl fmt::Display for News2Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "NEWS2 (SpO2 scale {})", self.spo2_scale.number())?;
        for s in &self.sub_scores {
            match s.charted_value {
                Some(v) => writeln!(f, "  {:<24} {:>6}  → {}", s.parameter.label(), v, s.score)?,
                None => writeln!(f, "  {:<24} {:>6}  → {}", s.parameter.label(), "", s.score)?,
            }
        }
        if self.complete {
            writeln!(f, "aggregate: {}", self.aggregate)?;
        } else {
            let names: Vec<&str> = self.missing.iter().map(|p| p.label()).collect();
            writeln!(
                f,
                "aggregate: {} (PARTIAL, at least this much: missing {})",
                self.aggregate,
                names.join(", ")
            )?;
        }
        if self.red_score {
            writeln!(f, "a single parameter scores 3")?;
        }
        writeln!(f, "clinical risk: {}", self.clinical_risk)?;
        writeln!(f, "monitoring: {}", self.monitoring_frequency)?;
        write!(f, "response: {}", self.action)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn full() -> News2Input {
        News2Input {
            resp_rate_per_min: Some(16.0),
            spo2_pct: Some(97.0),
            spo2_scale: Spo2Scale::One,
            breathing: Some(Breathing::Air),
            systolic_bp_mmhg: Some(120.0),
            pulse_per_min: Some(70.0),
            consciousness: Some(Acvpu::Alert),
            temperature_c: Some(37.0),
        }
    }

    /// Every band edge of Chart 1: (value, expected score) on both sides of it.
    #[test]
    fn respiration_rate_band_edges() {
        for (v, s) in [
            (0.0, 3),
            (8.0, 3),
            (9.0, 1),
            (11.0, 1),
            (12.0, 0),
            (20.0, 0),
            (21.0, 2),
            (24.0, 2),
            (25.0, 3),
            (60.0, 3),
        ] {
            assert_eq!(score_resp_rate(v), s, "RR {v}");
        }
    }

    #[test]
    fn spo2_scale_1_band_edges() {
        for (v, s) in [
            (50.0, 3),
            (91.0, 3),
            (92.0, 2),
            (93.0, 2),
            (94.0, 1),
            (95.0, 1),
            (96.0, 0),
            (100.0, 0),
        ] {
            for o in [None, Some(false), Some(true)] {
                assert_eq!(score_spo2(v, Spo2Scale::One, o), s, "SpO2 {v} {o:?}");
            }
        }
    }

    #[test]
    fn spo2_scale_2_band_edges_on_air_and_oxygen() {
        let both = [
            (83.0, 3),
            (84.0, 2),
            (85.0, 2),
            (86.0, 1),
            (87.0, 1),
            (88.0, 0),
            (92.0, 0),
        ];
        for (v, s) in both {
            assert_eq!(score_spo2(v, Spo2Scale::Two, Some(false)), s, "air {v}");
            assert_eq!(score_spo2(v, Spo2Scale::Two, Some(true)), s, "oxygen {v}");
        }
        for v in [93.0, 95.0, 97.0, 100.0] {
            assert_eq!(score_spo2(v, Spo2Scale::Two, Some(false)), 0, "air {v}");
            assert_eq!(
                score_spo2(v, Spo2Scale::Two, None),
                0,
                "unknown {v}: lower bound"
            );
        }
        for (v, s) in [
            (93.0, 1),
            (94.0, 1),
            (95.0, 2),
            (96.0, 2),
            (97.0, 3),
            (100.0, 3),
        ] {
            assert_eq!(score_spo2(v, Spo2Scale::Two, Some(true)), s, "oxygen {v}");
        }
    }

    #[test]
    fn systolic_bp_band_edges() {
        for (v, s) in [
            (60.0, 3),
            (90.0, 3),
            (91.0, 2),
            (100.0, 2),
            (101.0, 1),
            (110.0, 1),
            (111.0, 0),
            (219.0, 0),
            (220.0, 3),
        ] {
            assert_eq!(score_systolic_bp(v), s, "SBP {v}");
        }
    }

    #[test]
    fn pulse_band_edges() {
        for (v, s) in [
            (30.0, 3),
            (40.0, 3),
            (41.0, 1),
            (50.0, 1),
            (51.0, 0),
            (90.0, 0),
            (91.0, 1),
            (110.0, 1),
            (111.0, 2),
            (130.0, 2),
            (131.0, 3),
        ] {
            assert_eq!(score_pulse(v), s, "pulse {v}");
        }
    }

    #[test]
    fn temperature_band_edges() {
        for (v, s) in [
            (34.0, 3),
            (35.0, 3),
            (35.1, 1),
            (36.0, 1),
            (36.1, 0),
            (38.0, 0),
            (38.1, 1),
            (39.0, 1),
            (39.1, 2),
            (41.0, 2),
        ] {
            assert_eq!(score_temperature(v), s, "temp {v}");
        }
    }

    #[test]
    fn oxygen_and_consciousness_through_news2() {
        let mut i = full();
        assert_eq!(news2(&i).unwrap().aggregate, 0);
        i.breathing = Some(Breathing::Oxygen);
        assert_eq!(news2(&i).unwrap().aggregate, 2);
        for c in [
            Acvpu::NewConfusion,
            Acvpu::Voice,
            Acvpu::Pain,
            Acvpu::Unresponsive,
        ] {
            i.consciousness = Some(c);
            let s = news2(&i).unwrap();
            assert_eq!(s.aggregate, 5, "{c:?}");
            assert!(s.red_score);
        }
    }

    #[test]
    fn rounding_half_up_to_chart_resolution() {
        let score = |f: fn(&mut News2Input)| {
            let mut i = full();
            f(&mut i);
            news2(&i).unwrap().aggregate
        };
        assert_eq!(score(|i| i.resp_rate_per_min = Some(20.4)), 0);
        assert_eq!(score(|i| i.resp_rate_per_min = Some(20.5)), 2);
        assert_eq!(score(|i| i.spo2_pct = Some(95.5)), 0);
        assert_eq!(score(|i| i.spo2_pct = Some(95.49)), 1);
        assert_eq!(score(|i| i.systolic_bp_mmhg = Some(110.5)), 0);
        assert_eq!(score(|i| i.pulse_per_min = Some(90.5)), 1);
        assert_eq!(score(|i| i.temperature_c = Some(38.05)), 1);
        assert_eq!(score(|i| i.temperature_c = Some(38.04)), 0);
        assert_eq!(score(|i| i.temperature_c = Some(35.04)), 3);
        assert_eq!(score(|i| i.temperature_c = Some(35.05)), 1);
    }

    #[test]
    fn response_bands() {
        let with = |f: fn(&mut News2Input)| {
            let mut i = full();
            f(&mut i);
            news2(&i).unwrap()
        };
        assert_eq!(with(|_| ()).response, Response::Routine);
        assert_eq!(
            with(|i| i.pulse_per_min = Some(95.0)).response,
            Response::Low
        );
        let red = with(|i| i.resp_rate_per_min = Some(7.0));
        assert_eq!(
            (red.aggregate, red.response),
            (3, Response::LowMediumRedScore)
        );
        assert_eq!(red.monitoring_frequency, "minimum 1-hourly");
        let five = with(|i| {
            i.resp_rate_per_min = Some(22.0);
            i.pulse_per_min = Some(120.0);
            i.temperature_c = Some(38.5);
        });
        assert_eq!((five.aggregate, five.response), (5, Response::Urgent));
        let seven = with(|i| {
            i.resp_rate_per_min = Some(26.0);
            i.pulse_per_min = Some(120.0);
            i.spo2_pct = Some(93.0);
        });
        assert_eq!((seven.aggregate, seven.response), (7, Response::Emergency));
        assert_eq!(
            seven.monitoring_frequency,
            "continuous monitoring of vital signs"
        );
        let max = news2(&News2Input {
            resp_rate_per_min: Some(5.0),
            spo2_pct: Some(80.0),
            spo2_scale: Spo2Scale::One,
            breathing: Some(Breathing::Oxygen),
            systolic_bp_mmhg: Some(80.0),
            pulse_per_min: Some(150.0),
            consciousness: Some(Acvpu::Unresponsive),
            temperature_c: Some(34.0),
        })
        .unwrap();
        assert_eq!(max.aggregate, 20);
    }

    #[test]
    fn partial_score_names_what_is_missing() {
        let s = news2(&News2Input {
            pulse_per_min: Some(135.0),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.aggregate, 3);
        assert!(!s.complete);
        assert_eq!(s.missing.len(), 6);
        assert!(!s.missing.contains(&Parameter::Pulse));
        let text = s.to_string();
        assert!(
            text.contains("PARTIAL") && text.contains("temperature"),
            "{text}"
        );

        let empty = news2(&News2Input::default()).unwrap();
        assert_eq!(empty.missing, Parameter::ALL);
        assert_eq!(empty.sub_scores.len(), 0);

        let mut scale2 = full();
        scale2.spo2_scale = Spo2Scale::Two;
        scale2.breathing = None;
        let s = news2(&scale2).unwrap();
        assert_eq!(s.missing, [Parameter::AirOrOxygen]);
        assert_eq!(
            s.aggregate, 0,
            "SpO2 97 on unknown support scores the on-air lower bound"
        );
    }

    #[test]
    fn impossible_values_are_rejected() {
        let bad: [fn(&mut News2Input); 7] = [
            |i| i.spo2_pct = Some(101.0),
            |i| i.resp_rate_per_min = Some(-1.0),
            |i| i.pulse_per_min = Some(f64::NAN),
            |i| i.temperature_c = Some(98.6),
            |i| i.systolic_bp_mmhg = Some(-5.0),
            |i| i.spo2_pct = Some(-0.5),
            |i| i.temperature_c = Some(f64::INFINITY),
        ];
        for f in bad {
            let mut i = full();
            f(&mut i);
            let err = news2(&i).unwrap_err();
            assert!(!err.to_string().ends_with('.'), "{err}");
        }
        let mut i = full();
        i.temperature_c = Some(98.6);
        assert_eq!(
            news2(&i).unwrap_err().to_string(),
            "temperature = 98.6 is impossible: expected 10..=50 °C"
        );
    }

    #[test]
    fn serialises_for_the_cli() {
        let s = news2(&full()).unwrap();
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["aggregate"], 0);
        assert_eq!(json["response"], "routine");
        assert_eq!(json["sub_scores"][0]["parameter"], "respiration_rate");
    }
}
