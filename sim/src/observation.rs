//! Builds the FHIR R4 Observations of docs/wire-format.md: numeric vital signs
//! under their LOINC codes and UCUM units, the blood-pressure panel with its two
//! components, ECG leads as `valueSampledData` under IEEE 11073 MDC codes, and
//! `dataAbsentReason` for a sensor that reports no signal.
//!
//! The structs mirror only the JSON we emit. They are plain data so that the
//! malformed-record injector can take a valid Observation and break exactly
//! one thing in it.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use wardwatch_core::model::Vital;
pub use wardwatch_core::model::codes::{EcgLead, LOINC, MDC, PulseWave, UCUM};
const CATEGORY_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const ABSENT_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/data-absent-reason";

/// A numeric vital sign the simulator emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NumericVital {
    HeartRate,
    RespRate,
    Spo2,
    TemperatureC,
}

impl NumericVital {
    /// The store's vital this is.
    pub fn vital(self) -> Vital {
        match self {
            NumericVital::HeartRate => Vital::HeartRate,
            NumericVital::RespRate => Vital::RespRate,
            NumericVital::Spo2 => Vital::Spo2,
            NumericVital::TemperatureC => Vital::TemperatureC,
        }
    }

    fn code(self) -> &'static wardwatch_core::model::codes::VitalCode {
        // Every vital the simulator emits has a code on the wire.
        wardwatch_core::model::codes::code_of(self.vital())
            .unwrap_or(&wardwatch_core::model::codes::VITAL_CODES[0])
    }

    pub fn loinc(self) -> &'static str {
        self.code().loinc
    }

    pub fn display(self) -> &'static str {
        self.code().display
    }

    /// The UCUM code, used as both `unit` and `code` of the Quantity so that a
    /// receiver reading either sees the same unit.
    pub fn ucum(self) -> &'static str {
        self.code().ucum
    }

    /// Short tag used in Observation ids.
    pub fn tag(self) -> &'static str {
        match self {
            NumericVital::HeartRate => "hr",
            NumericVital::RespRate => "rr",
            NumericVital::Spo2 => "spo2",
            NumericVital::TemperatureC => "temp",
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Coding {
    pub system: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CodeableConcept {
    pub coding: Vec<Coding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl CodeableConcept {
    pub fn one(system: &str, code: &str, display: Option<&str>) -> Self {
        CodeableConcept {
            coding: vec![Coding {
                system: system.to_owned(),
                code: code.to_owned(),
                display: display.map(str::to_owned),
            }],
            text: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Identifier {
    pub value: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Reference {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Identifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Quantity {
    pub value: f64,
    pub unit: String,
    pub system: String,
    pub code: String,
}

impl Quantity {
    pub fn ucum(value: f64, unit: &str) -> Self {
        Quantity {
            value,
            unit: unit.to_owned(),
            system: UCUM.to_owned(),
            code: unit.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SampledData {
    pub origin: Quantity,
    /// Milliseconds between samples.
    pub period: f64,
    /// mV per data unit.
    pub factor: f64,
    pub dimensions: u32,
    /// Space-separated integers, `E` for a missing sample.
    pub data: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    pub code: CodeableConcept,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_quantity: Option<Quantity>,
}

/// The Observation as emitted (field order = JSON order).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    pub resource_type: &'static str,
    pub id: String,
    pub status: &'static str,
    pub category: Vec<CodeableConcept>,
    pub code: CodeableConcept,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<Reference>,
    pub effective_date_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_quantity: Option<Quantity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_sampled_data: Option<SampledData>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub component: Vec<Component>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_absent_reason: Option<CodeableConcept>,
}

/// Who and which device an Observation is about.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub mrn: &'a str,
    pub device_id: Option<&'a str>,
    /// Free text for the device reference (e.g. "arterial line").
    pub device_display: Option<&'a str>,
}

/// RFC 3339 in UTC with as many fractional digits as needed (none lost: a
/// 360 Hz block can start between milliseconds).
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Observation id: `{mrn}-{tag}-{epoch_ms}`, plus the sub-millisecond part
/// when there is one, so ids are unique per patient, vital and instant and
/// the same on every run.
pub fn observation_id(mrn: &str, tag: &str, t: DateTime<Utc>) -> String {
    let ms = t.timestamp_millis();
    let sub_ms_ns = t.timestamp_subsec_nanos() % 1_000_000;
    if sub_ms_ns == 0 {
        format!("{mrn}-{tag}-{ms}")
    } else {
        format!("{mrn}-{tag}-{ms}.{sub_ms_ns:06}")
    }
}

fn base(id: String, code: CodeableConcept, who: Subject<'_>, t: DateTime<Utc>) -> Observation {
    let device = match (who.device_id, who.device_display) {
        (None, None) => None,
        (id, display) => Some(Reference {
            identifier: id.map(|v| Identifier {
                value: v.to_owned(),
            }),
            display: display.map(str::to_owned),
        }),
    };
    Observation {
        resource_type: "Observation",
        id,
        status: "final",
        category: vec![CodeableConcept::one(
            CATEGORY_SYSTEM,
            "vital-signs",
            Some("Vital Signs"),
        )],
        code,
        subject: Some(Reference {
            identifier: Some(Identifier {
                value: who.mrn.to_owned(),
            }),
            display: None,
        }),
        device,
        effective_date_time: rfc3339(t),
        value_quantity: None,
        value_sampled_data: None,
        component: Vec::new(),
        data_absent_reason: None,
    }
}

fn absent_reason() -> CodeableConcept {
    CodeableConcept::one(ABSENT_SYSTEM, "error", Some("Error"))
}

/// A numeric vital sign; `None` = the sensor has no signal (`dataAbsentReason`).
pub fn numeric(
    vital: NumericVital,
    who: Subject<'_>,
    t: DateTime<Utc>,
    value: Option<f64>,
) -> Observation {
    let code = CodeableConcept::one(LOINC, vital.loinc(), Some(vital.display()));
    let mut obs = base(observation_id(who.mrn, vital.tag(), t), code, who, t);
    match value {
        Some(v) => obs.value_quantity = Some(Quantity::ucum(v, vital.ucum())),
        None => obs.data_absent_reason = Some(absent_reason()),
    }
    obs
}

/// The blood-pressure panel (`85354-9`) with systolic and diastolic components;
/// `None` = no reading. `tag` tells ids apart when one patient has two sources
/// (MIMIC's arterial line `abp` and cuff `nbp`).
pub fn blood_pressure(
    who: Subject<'_>,
    t: DateTime<Utc>,
    tag: &str,
    value: Option<(f64, f64)>,
) -> Observation {
    let code = CodeableConcept::one(LOINC, "85354-9", Some("Blood pressure panel"));
    let mut obs = base(observation_id(who.mrn, tag, t), code, who, t);
    match value {
        Some((sys, dia)) => {
            obs.component = vec![
                Component {
                    code: CodeableConcept::one(LOINC, "8480-6", Some("Systolic blood pressure")),
                    value_quantity: Some(Quantity::ucum(sys, "mm[Hg]")),
                },
                Component {
                    code: CodeableConcept::one(LOINC, "8462-4", Some("Diastolic blood pressure")),
                    value_quantity: Some(Quantity::ucum(dia, "mm[Hg]")),
                },
            ];
        }
        None => obs.data_absent_reason = Some(absent_reason()),
    }
    obs
}

/// How a block of ECG samples is written (see the crate docs, "ECG encoding").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EcgScale {
    /// mV per data unit: `1 / gain` of the WFDB signal.
    pub factor_mv: f64,
    /// mV of data value 0: `-baseline / gain`.
    pub origin_mv: f64,
}

/// One block of one ECG lead. `samples` are integers as recorded (`None` =
/// missing, written `E`); `samples = None` as a whole means no signal at all
/// for the block (`dataAbsentReason`).
pub fn ecg(
    lead: EcgLead,
    who: Subject<'_>,
    t: DateTime<Utc>,
    fs_hz: f64,
    scale: EcgScale,
    samples: Option<&[Option<i32>]>,
) -> Observation {
    let code = CodeableConcept::one(MDC, lead.mdc_code, Some(lead.mdc_name));
    let tag = format!("ecg-{}", lead.tag);
    waveform(code, &tag, "mV", who, t, fs_hz, scale, samples)
}

/// One block of any sampled waveform under `code`, its id tagged `tag`,
/// its origin in `unit` (`samples = None`: `dataAbsentReason`).
#[allow(clippy::too_many_arguments)]
fn waveform(
    code: CodeableConcept,
    tag: &str,
    unit: &str,
    who: Subject<'_>,
    t: DateTime<Utc>,
    fs_hz: f64,
    scale: EcgScale,
    samples: Option<&[Option<i32>]>,
) -> Observation {
    let mut obs = base(observation_id(who.mrn, tag, t), code, who, t);
    match samples {
        Some(samples) => {
            obs.value_sampled_data = Some(SampledData {
                origin: Quantity::ucum(scale.origin_mv, unit),
                period: 1000.0 / fs_hz,
                factor: scale.factor_mv,
                dimensions: 1,
                data: sample_data(samples),
            })
        }
        None => obs.data_absent_reason = Some(absent_reason()),
    }
    obs
}

/// A block as a record body, as `gap` says when no sample in it is valid:
/// the Observation `make` builds, whether no sample is valid, and the
/// number of entries in `data` (`E` included); `None` for
/// [`EcgGap::Omit`] with nothing recorded.
fn gap_block(
    samples: &[Option<i32>],
    gap: EcgGap,
    make: impl FnOnce(Option<&[Option<i32>]>) -> Observation,
) -> Option<(Observation, bool, u32)> {
    let lost = samples.iter().all(Option::is_none);
    match (lost, gap) {
        (true, EcgGap::Omit) => None,
        (true, EcgGap::DataAbsentReason) => Some((make(None), true, 0)),
        (lost, _) => Some((make(Some(samples)), lost, samples.len() as u32)),
    }
}

/// How an ECG block in which no sample was recorded (leads off, a `~` gap, an
/// absent segment) goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EcgGap {
    /// `valueSampledData` with every sample `E` (the default: the timeline
    /// stays covered and every decoder that takes ECG takes it).
    #[default]
    MissingSamples,
    /// `dataAbsentReason` and no `valueSampledData` (docs/wire-format.md allows
    /// it on any Observation; a decoder must then accept ECG without samples).
    DataAbsentReason,
    /// No record at all.
    Omit,
}

/// An ECG block as a record body: the Observation, whether no sample in it is
/// valid, and the number of entries in `data` (`E` included). `None` when
/// `gap` is [`EcgGap::Omit`] and nothing was recorded.
pub fn ecg_block(
    lead: EcgLead,
    who: Subject<'_>,
    t: DateTime<Utc>,
    fs_hz: f64,
    scale: EcgScale,
    samples: &[Option<i32>],
    gap: EcgGap,
) -> Option<(Observation, bool, u32)> {
    gap_block(samples, gap, |s| ecg(lead, who, t, fs_hz, scale, s))
}

/// One block of a pulse waveform (a pleth, an arterial pressure) in its
/// own unit, as [`ecg_block`] for a lead. `scale` is in the wave's unit
/// (mmHg, or pleth units) despite its field names.
pub fn pulse_block(
    wave: PulseWave,
    who: Subject<'_>,
    t: DateTime<Utc>,
    fs_hz: f64,
    scale: EcgScale,
    samples: &[Option<i32>],
    gap: EcgGap,
) -> Option<(Observation, bool, u32)> {
    let code = CodeableConcept::one(MDC, wave.mdc_code, Some(wave.mdc_name));
    // `wave-abp`, never `abp`: a MIMIC replay's ABP panel has that tag.
    let tag = format!("wave-{}", wave.tag);
    gap_block(samples, gap, |s| {
        waveform(code, &tag, wave.ucum, who, t, fs_hz, scale, s)
    })
}

/// Writes samples as FHIR `SampledData.data` (as the cleaned zone does:
/// `core::fmt`'s machinery per sample was 5 % of the simulator's time at
/// 10,000 patients).
pub fn sample_data(samples: &[Option<i32>]) -> String {
    let mut out = Vec::with_capacity(samples.len() * 5);
    wardwatch_core::ingest::cleaned::sample_data(&mut out, samples);
    // Digits, '-', ' ' and 'E': ASCII, so always UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// Serialises to one line of JSON. Serialising these plain structs cannot
/// fail (no maps with non-string keys, no non-finite floats reach here because
/// the builders only take finite values); an empty object is the fallback.
pub fn to_json(obs: &Observation) -> Vec<u8> {
    serde_json::to_vec(obs).unwrap_or_else(|_| b"{}".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ids_keep_sub_millisecond_starts_apart() {
        let t = Utc.timestamp_opt(1_700_000_000, 2_777_777).single();
        let t = t.expect("valid");
        assert_eq!(
            observation_id("M1", "ecg-ii", t),
            "M1-ecg-ii-1700000000002.777777"
        );
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.002777777Z");
    }

    #[test]
    fn samples_are_written_as_display_writes_them() {
        for v in [0, 7, -7, 10, -10, 99_999, i32::MAX, i32::MIN, -1_000_000] {
            assert_eq!(sample_data(&[Some(v)]), v.to_string());
        }
    }

    #[test]
    fn sample_data_marks_missing_samples_with_e() {
        assert_eq!(sample_data(&[Some(-3), None, Some(1024)]), "-3 E 1024");
    }
}
