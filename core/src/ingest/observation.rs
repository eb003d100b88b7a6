//! Decoding and validating one stream record: a FHIR R4 `Observation` in JSON
//! (docs/wire-format.md). Pure: bytes and the current time in, a typed
//! observation or a `Rejection` (code + reason, for quarantine) out.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use raw::{Concept, Object, Quantity, Raw, Sampled, Text};

use crate::model::Vital;
use crate::model::codes::{EcgLead, LOINC, MDC, MDC_ECG_ELEC_POTL, PulseWave, vital_for_loinc};

mod raw;
#[cfg(test)]
mod value_model;

const ACVPU_SYSTEM: &str = "urn:wardwatch:acvpu";
/// How far in the future a timestamp may lie (clock skew between devices).
const MAX_FUTURE: Duration = Duration::minutes(5);
/// Longest observation id kept (FHIR's own limit is 64 characters; some
/// gateways prefix their source).
pub const MAX_ID_BYTES: usize = 128;
/// How far in the past a timestamp may lie. A phone or wearable that was
/// offline forwards what it buffered, hours or a few days late; a device
/// whose clock reset reports 1970 (issue 9, item 7). Older than this is
/// quarantined, not filed into a patient's history.
pub const MAX_PAST: Duration = Duration::days(7);

/// One decoded observation.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub id: String,
    pub mrn: String,
    pub device: Option<String>,
    pub effective: DateTime<Utc>,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// One or more numeric readings (a blood-pressure panel gives two).
    Numeric(Vec<(Vital, Reading)>),
    /// One block per lead.
    Ecg(Vec<EcgBlock>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reading {
    Value(f64),
    /// The sensor reported no signal (dataAbsentReason, or the monitor's 0).
    SignalLost,
}

/// Samples of one ECG lead: mV = origin_mv + factor_mv × sample. A block
/// with no samples (and period 0) is the device reporting no signal.
#[derive(Debug, Clone, PartialEq)]
pub struct EcgBlock {
    /// IEEE 11073-10101 MDC code of the lead (131330 = lead II).
    pub lead: u32,
    pub period_ns: i64,
    pub origin_mv: f64,
    pub factor_mv: f64,
    /// `None` where the device marked the sample as an error or out of range.
    pub samples: Vec<Option<i32>>,
}

/// Why a record was quarantined. `code` is stable (counted, filtered on);
/// `reason` is for the person reviewing the quarantine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub code: RejectCode,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    InvalidJson,
    NotAnObservation,
    MissingField,
    UnknownCode,
    UnknownUnit,
    ImpossibleValue,
    FutureTimestamp,
    UnknownPatient,
    EnteredInError,
    /// Older than [`MAX_PAST`] when received.
    StaleTimestamp,
    /// Before the patient's recorded admission: likely a monitor still
    /// assigned to the bed's previous patient.
    BeforeAdmission,
    /// The same observation id, or the same patient, vital and time, is
    /// stored with other content; the reason holds both.
    Conflicting,
    /// Larger than a source accepts (SSE: `MAX_EVENT_BYTES`).
    Oversized,
    /// A sequence (SSE event id) that cannot be sent back to resume.
    BadSequence,
}

impl RejectCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::InvalidJson => "invalid_json",
            RejectCode::NotAnObservation => "not_an_observation",
            RejectCode::MissingField => "missing_field",
            RejectCode::UnknownCode => "unknown_code",
            RejectCode::UnknownUnit => "unknown_unit",
            RejectCode::ImpossibleValue => "impossible_value",
            RejectCode::FutureTimestamp => "future_timestamp",
            RejectCode::UnknownPatient => "unknown_patient",
            RejectCode::EnteredInError => "entered_in_error",
            RejectCode::StaleTimestamp => "stale_timestamp",
            RejectCode::BeforeAdmission => "before_admission",
            RejectCode::Conflicting => "conflicting",
            RejectCode::Oversized => "oversized",
            RejectCode::BadSequence => "bad_sequence",
        }
    }
}

fn reject(code: RejectCode, reason: impl Into<String>) -> Rejection {
    Rejection {
        code,
        reason: reason.into(),
    }
}

fn missing(field: &str) -> Rejection {
    reject(
        RejectCode::MissingField,
        format!("`{field}` is missing or not of the right type"),
    )
}

type Decoded<T> = Result<T, Rejection>;

/// Decodes and validates one record received at `now`.
pub fn decode(bytes: &[u8], now: DateTime<Utc>) -> Decoded<Observation> {
    match serde_json::from_slice::<Object<Raw>>(bytes) {
        Ok(raw) => validate(&raw.into_inner().unwrap_or_default(), now),
        // Not JSON, or a repeated key (which a `Value` resolves to the
        // last): read through a `Value`, which also words the reason.
        Err(_) => {
            let v: Value = serde_json::from_slice(bytes)
                .map_err(|e| reject(RejectCode::InvalidJson, format!("not JSON: {e}")))?;
            let raw = Object::<Raw>::deserialize(&v)
                .map_err(|e| reject(RejectCode::InvalidJson, format!("not JSON: {e}")))?;
            validate(&raw.into_inner().unwrap_or_default(), now)
        }
    }
}

fn validate(v: &Raw, now: DateTime<Utc>) -> Decoded<Observation> {
    if v.resource_type.as_str() != Some("Observation") {
        return Err(reject(
            RejectCode::NotAnObservation,
            "resourceType is not `Observation`",
        ));
    }
    let id = checked_id(v.id.as_str())?;
    check_status(v.status.as_str())?;
    let mrn = v
        .subject
        .get()
        .and_then(|s| s.identifier.get())
        .and_then(|i| i.value.as_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("subject.identifier.value"))?;
    // The identifier's value if it has one (a string or not), else the
    // display.
    let device = v.device.get().and_then(|d| {
        match d.identifier.get().map_or(&Text::Absent, |i| &i.value) {
            Text::Absent => d.display.as_str(),
            other => other.as_str(),
        }
        .map(str::to_owned)
    });
    let effective = effective_at(v.effective.as_str(), now)?;
    let body = body(v)?;
    Ok(Observation {
        id: id.to_owned(),
        mrn: mrn.to_owned(),
        device,
        effective,
        body,
    })
}

/// The pieces of validation that do not depend on how the record's fields
/// are read (shared with the decoder's model in the tests).
fn checked_id(id: Option<&str>) -> Decoded<&str> {
    let id = id.filter(|s| !s.is_empty()).ok_or_else(|| missing("id"))?;
    // FHIR ids are at most 64 characters; every id is kept for
    // deduplication, so an unbounded one would grow the store.
    if id.len() > MAX_ID_BYTES {
        return Err(reject(
            RejectCode::MissingField,
            format!("`id` is {} bytes; at most {MAX_ID_BYTES}", id.len()),
        ));
    }
    Ok(id)
}

fn check_status(status: Option<&str>) -> Decoded<()> {
    match status {
        Some("final" | "amended" | "corrected" | "preliminary") => Ok(()),
        Some(s @ ("entered-in-error" | "cancelled")) => Err(reject(
            RejectCode::EnteredInError,
            format!("status is `{s}`"),
        )),
        Some(s) => Err(reject(
            RejectCode::MissingField,
            format!("status `{s}` is not a result status"),
        )),
        None => Err(missing("status")),
    }
}

/// `effectiveDateTime`, no more than [`MAX_FUTURE`] after `now` nor
/// [`MAX_PAST`] before it.
fn effective_at(text: Option<&str>, now: DateTime<Utc>) -> Decoded<DateTime<Utc>> {
    let text = text.ok_or_else(|| missing("effectiveDateTime"))?;
    let effective = DateTime::parse_from_rfc3339(text)
        .map_err(|e| {
            reject(
                RejectCode::MissingField,
                format!("effectiveDateTime `{text}`: {e}"),
            )
        })?
        .with_timezone(&Utc);
    if effective > now + MAX_FUTURE {
        return Err(reject(
            RejectCode::FutureTimestamp,
            format!("effectiveDateTime {text} is more than 5 minutes after the time received"),
        ));
    }
    if effective < now - MAX_PAST {
        return Err(reject(
            RejectCode::StaleTimestamp,
            format!(
                "effectiveDateTime {text} is more than {} days before the time received (a device clock reset?)",
                MAX_PAST.num_days()
            ),
        ));
    }
    Ok(effective)
}

impl Observation {
    /// The id as the store keeps it for deduplication: FNV-1a, 64 bits,
    /// stable across builds. Two ids in the store's window sharing a hash
    /// (odds about 10⁻⁵ at 10,000 patients) make the later record a
    /// conflict, quarantined with its reason: kept, never dropped silently.
    pub fn id_hash(&self) -> i64 {
        let mut h = Fnv::default();
        h.write(self.id.as_bytes());
        h.0 as i64
    }

    /// A fingerprint of what the observation says (patient, time, device,
    /// values), not of its bytes: a redelivery with other whitespace is the
    /// same observation; one id reused for another value is not. FNV-1a,
    /// 64 bits, the ECG samples a 32-bit word at a step (a byte at a step
    /// was four dependent multiplications a sample, 5 % of the writer
    /// thread at 10,000 patients). Held in memory only (`store::dedup`),
    /// so it may change between builds.
    pub fn digest(&self) -> i64 {
        let mut h = Fnv::default();
        h.write(self.mrn.as_bytes());
        h.write(&self.effective.timestamp_millis().to_le_bytes());
        h.write(self.device.as_deref().unwrap_or("").as_bytes());
        match &self.body {
            Body::Numeric(readings) => {
                for (vital, reading) in readings {
                    h.write(&vital.code().to_le_bytes());
                    match reading {
                        Reading::Value(v) => h.write(&v.to_bits().to_le_bytes()),
                        Reading::SignalLost => h.write(b"lost"),
                    }
                }
            }
            Body::Ecg(blocks) => {
                for b in blocks {
                    h.write(&b.lead.to_le_bytes());
                    h.write(&b.period_ns.to_le_bytes());
                    h.write(&b.origin_mv.to_bits().to_le_bytes());
                    h.write(&b.factor_mv.to_bits().to_le_bytes());
                    for s in &b.samples {
                        h.write_word(s.unwrap_or(i32::MIN) as u32);
                    }
                }
            }
        }
        h.0 as i64
    }
}

struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(Self::PRIME);
        }
    }

    /// One FNV-1a step over a whole word: each step is a bijection of the
    /// state, so two sample lists that differ in one sample never meet.
    fn write_word(&mut self, word: u32) {
        self.0 = (self.0 ^ u64::from(word)).wrapping_mul(Self::PRIME);
    }
}

/// The codings of a CodeableConcept as (system, code) pairs.
fn codings<'a>(concept: &'a Object<Concept>) -> impl Iterator<Item = (&'a str, &'a str)> {
    concept
        .get()
        .into_iter()
        .flat_map(|c| &c.coding.0)
        .filter_map(|c| {
            let c = c.get()?;
            Some((c.system.as_str()?, c.code.as_str()?))
        })
}

fn body(v: &Raw) -> Decoded<Body> {
    let mut any = false;
    for (system, code) in codings(&v.code) {
        any = true;
        match system {
            LOINC => {
                if let Some(vital) = loinc_vital(code) {
                    return numeric(v, vital, code).map(|r| Body::Numeric(vec![(vital, r)]));
                }
                if code == "85354-9" {
                    return blood_pressure(v);
                }
            }
            MDC => {
                let lead: u32 = code.parse().map_err(|_| {
                    reject(
                        RejectCode::UnknownCode,
                        format!("MDC code `{code}` is not a number"),
                    )
                })?;
                if lead == MDC_ECG_ELEC_POTL {
                    return ecg_components(v);
                }
                if is_ecg_lead(lead) || PulseWave::from_mdc(lead).is_some() {
                    if v.data_absent.0 {
                        return Ok(no_signal(lead));
                    }
                    let data = v.sampled.get().ok_or_else(|| missing("valueSampledData"))?;
                    return Ok(Body::Ecg(vec![sampled_data(lead, data)?]));
                }
            }
            ACVPU_SYSTEM if code == "acvpu" => return consciousness(v),
            _ => {}
        }
    }
    if !any {
        return Err(missing("code.coding"));
    }
    let shown: Vec<String> = codings(&v.code).map(|(s, c)| format!("{s}|{c}")).collect();
    Err(reject(
        RejectCode::UnknownCode,
        format!("no known vital-sign code among {}", shown.join(", ")),
    ))
}

/// Leads off or a gap in the recording: a valid observation of "no
/// signal", with no samples.
fn no_signal(lead: u32) -> Body {
    Body::Ecg(vec![EcgBlock {
        lead,
        period_ns: 0,
        origin_mv: 0.0,
        factor_mv: 1.0,
        samples: Vec::new(),
    }])
}

fn loinc_vital(code: &str) -> Option<Vital> {
    vital_for_loinc(code)
}

fn is_ecg_lead(code: u32) -> bool {
    EcgLead::from_mdc(code).is_some()
}

/// A value with a UCUM code, converted to the vital's unit.
fn quantity(vital: Vital, q: &Quantity, what: &str) -> Decoded<f64> {
    let value = q.value.0.ok_or_else(|| missing(&format!("{what}.value")))?;
    in_unit(vital, value, q.code.as_str().or_else(|| q.unit.as_str()))
}

/// A value given in UCUM `unit`, in the vital's own unit.
fn in_unit(vital: Vital, value: f64, unit: Option<&str>) -> Decoded<f64> {
    let unit = unit.unwrap_or("");
    let value = match (vital, unit) {
        (Vital::HeartRate | Vital::RespRate, "/min" | "{beats}/min" | "{breaths}/min") => value,
        (Vital::Spo2, "%") => value,
        (Vital::SystolicBp | Vital::DiastolicBp, "mm[Hg]") => value,
        (Vital::TemperatureC, "Cel") => value,
        (Vital::TemperatureC, "[degF]") => (value - 32.0) * 5.0 / 9.0,
        (Vital::O2FlowLpm, "L/min") => value,
        _ => {
            return Err(reject(
                RejectCode::UnknownUnit,
                format!("unit `{unit}` is not accepted for {}", vital.label()),
            ));
        }
    };
    Ok(value)
}

fn check_range(vital: Vital, value: f64) -> Decoded<f64> {
    let (lo, hi) = vital.plausible_range();
    if value.is_finite() && (lo..=hi).contains(&value) {
        Ok(value)
    } else {
        Err(reject(
            RejectCode::ImpossibleValue,
            format!(
                "{} {value} is outside {lo}–{hi} {}",
                vital.label(),
                vital.unit()
            ),
        ))
    }
}

/// A monitor's "no signal" is a 0 for these (MIMIC-III numerics do the same).
fn zero_means_no_signal(vital: Vital) -> bool {
    matches!(vital, Vital::HeartRate | Vital::RespRate | Vital::Spo2)
}

fn numeric(v: &Raw, vital: Vital, code: &str) -> Decoded<Reading> {
    if v.data_absent.0 {
        return Ok(Reading::SignalLost);
    }
    let q = v
        .quantity
        .get()
        .ok_or_else(|| missing(&format!("valueQuantity (LOINC {code})")))?;
    let value = quantity(vital, q, "valueQuantity")?;
    if value == 0.0 && zero_means_no_signal(vital) {
        return Ok(Reading::SignalLost);
    }
    check_range(vital, value).map(Reading::Value)
}

fn blood_pressure(v: &Raw) -> Decoded<Body> {
    if v.data_absent.0 {
        return Ok(Body::Numeric(vec![
            (Vital::SystolicBp, Reading::SignalLost),
            (Vital::DiastolicBp, Reading::SignalLost),
        ]));
    }
    let mut readings = Vec::new();
    for c in v.component.0.iter().filter_map(Object::get) {
        let vital = codings(&c.code)
            .find_map(|(s, code)| (s == LOINC).then(|| loinc_vital(code)).flatten());
        let Some(vital @ (Vital::SystolicBp | Vital::DiastolicBp)) = vital else {
            continue;
        };
        let reading = if c.data_absent.0 {
            Reading::SignalLost
        } else {
            let q = c
                .quantity
                .get()
                .ok_or_else(|| missing("component.valueQuantity"))?;
            Reading::Value(check_range(
                vital,
                quantity(vital, q, "component.valueQuantity")?,
            )?)
        };
        readings.push((vital, reading));
    }
    blood_pressure_pair(readings)
}

/// A panel's readings: both a systolic and a diastolic, the diastolic below.
fn blood_pressure_pair(readings: Vec<(Vital, Reading)>) -> Decoded<Body> {
    let get = |want| readings.iter().find(|(v, _)| *v == want).map(|(_, r)| *r);
    match (get(Vital::SystolicBp), get(Vital::DiastolicBp)) {
        (Some(Reading::Value(s)), Some(Reading::Value(d))) if d >= s => Err(reject(
            RejectCode::ImpossibleValue,
            format!("diastolic {d} is not below systolic {s}"),
        )),
        (Some(_), Some(_)) => Ok(Body::Numeric(readings)),
        _ => Err(missing(
            "component 8480-6 (systolic) and 8462-4 (diastolic)",
        )),
    }
}

fn consciousness(v: &Raw) -> Decoded<Body> {
    let letter = codings(&v.concept)
        .find(|(s, _)| *s == ACVPU_SYSTEM)
        .map(|(_, c)| c)
        .ok_or_else(|| missing("valueCodeableConcept (urn:wardwatch:acvpu)"))?;
    acvpu(letter)
}

fn acvpu(letter: &str) -> Decoded<Body> {
    let level = match letter {
        "A" => 0.0,
        "C" => 1.0,
        "V" => 2.0,
        "P" => 3.0,
        "U" => 4.0,
        other => {
            return Err(reject(
                RejectCode::UnknownCode,
                format!("ACVPU code `{other}`"),
            ));
        }
    };
    Ok(Body::Numeric(vec![(
        Vital::Consciousness,
        Reading::Value(level),
    )]))
}

fn ecg_components(v: &Raw) -> Decoded<Body> {
    let mut blocks = Vec::new();
    for c in v.component.0.iter().filter_map(Object::get) {
        let lead = codings(&c.code)
            .find_map(|(s, code)| (s == MDC).then(|| code.parse::<u32>().ok()).flatten())
            .filter(|l| is_ecg_lead(*l));
        if let (Some(lead), Some(data)) = (lead, c.sampled.get()) {
            blocks.push(sampled_data(lead, data)?);
        }
    }
    if blocks.is_empty() {
        return Err(missing(
            "component with an ECG lead code and valueSampledData",
        ));
    }
    Ok(Body::Ecg(blocks))
}

/// FHIR R4 SampledData: value = origin + factor × data; `E`, `U`, `L` mark
/// samples the device could not give. An ECG lead's values are in mV, an
/// arterial pressure's in mmHg, a pleth's in arbitrary units (kept in the
/// block's `origin_mv` and `factor_mv` all the same).
fn sampled_data(lead: u32, d: &Sampled) -> Decoded<EcgBlock> {
    let period_ms = d
        .period
        .0
        .ok_or_else(|| missing("valueSampledData.period"))?;
    check_period(lead, period_ms)?;
    let origin = d
        .origin
        .get()
        .ok_or_else(|| missing("valueSampledData.origin"))?;
    let scale = wave_scale(lead, origin.code.as_str().or_else(|| origin.unit.as_str()))?;
    block(
        lead,
        period_ms,
        origin.value.0.unwrap_or(0.0) * scale,
        d.factor.0.unwrap_or(1.0) * scale,
        d.data.as_str(),
    )
}

fn check_period(lead: u32, period_ms: f64) -> Decoded<()> {
    let wave = PulseWave::from_mdc(lead);
    // ECG 100–1000 Hz: below cannot show a QRS, above no bedside device
    // sends. A pulse wave is slower: 25 Hz still shows its upstroke.
    let (slowest_ms, range) = if wave.is_some() {
        (40.0, "1–40 ms (25–1000 Hz)")
    } else {
        (10.0, "1–10 ms (100–1000 Hz)")
    };
    if !(1.0..=slowest_ms).contains(&period_ms) {
        return Err(reject(
            RejectCode::ImpossibleValue,
            format!("sampling period {period_ms} ms is outside {range}"),
        ));
    }
    Ok(())
}

/// What a lead's or wave's samples in `unit` are multiplied by to be in
/// mV (ECG), mmHg (arterial pressure) or the pleth's own units.
fn wave_scale(lead: u32, unit: Option<&str>) -> Decoded<f64> {
    Ok(match (PulseWave::from_mdc(lead), unit) {
        (None, None | Some("mV")) => 1.0,
        (None, Some("uV" | "µV")) => 0.001,
        (None, Some(other)) => {
            return Err(reject(
                RejectCode::UnknownUnit,
                format!("ECG unit `{other}`; expected mV or uV"),
            ));
        }
        (Some(w), None | Some("mm[Hg]" | "mmHg")) if w.arterial => 1.0,
        (Some(w), Some("kPa")) if w.arterial => 7.500_62,
        (Some(w), Some(other)) if w.arterial => {
            return Err(reject(
                RejectCode::UnknownUnit,
                format!("arterial pressure unit `{other}`; expected mm[Hg] or kPa"),
            ));
        }
        (Some(_), None | Some("{arb'U}" | "1" | "%")) => 1.0,
        (Some(w), Some(other)) => {
            return Err(reject(
                RejectCode::UnknownUnit,
                format!("{} unit `{other}`; expected {{arb'U}}, 1 or %", w.mdc_name),
            ));
        }
    })
}

/// The block of `text`'s samples, their values `origin_mv` +
/// `factor_mv` × sample.
fn block(
    lead: u32,
    period_ms: f64,
    origin_mv: f64,
    factor_mv: f64,
    text: Option<&str>,
) -> Decoded<EcgBlock> {
    if !(factor_mv.is_finite() && factor_mv > 0.0 && origin_mv.is_finite()) {
        return Err(reject(
            RejectCode::ImpossibleValue,
            format!("factor {factor_mv} mV is not positive"),
        ));
    }
    let text = text.ok_or_else(|| missing("valueSampledData.data"))?;
    let mut ints = Vec::new();
    let mut decimals = false;
    for token in text.split_ascii_whitespace() {
        match token {
            "E" | "U" | "L" => ints.push(None),
            t => match t.parse::<i32>() {
                Ok(i) => ints.push(Some(i)),
                Err(_) => {
                    decimals = true;
                    break;
                }
            },
        }
    }
    let (samples, origin_mv, factor_mv) = if decimals {
        // Decimal data: keep it at 1 µV resolution (far below ECG noise).
        let mut out = Vec::new();
        for t in text.split_ascii_whitespace() {
            out.push(match t {
                "E" | "U" | "L" => None,
                t => {
                    let x: f64 =
                        t.parse()
                            .ok()
                            .filter(|x: &f64| x.is_finite())
                            .ok_or_else(|| {
                                reject(
                                    RejectCode::ImpossibleValue,
                                    format!("sample `{t}` is not a finite number"),
                                )
                            })?;
                    let mv = origin_mv + factor_mv * x;
                    Some(
                        (mv * 1000.0)
                            .round()
                            .clamp(i32::MIN as f64, i32::MAX as f64) as i32,
                    )
                }
            });
        }
        (out, 0.0, 0.001)
    } else {
        (ints, origin_mv, factor_mv)
    };
    if samples.is_empty() {
        return Err(missing("valueSampledData.data (no samples)"));
    }
    Ok(EcgBlock {
        lead,
        period_ns: (period_ms * 1e6).round() as i64,
        origin_mv,
        factor_mv,
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T08:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn obs(code: Value, value: Value) -> Value {
        let mut o = json!({"resourceType": "Observation", "id": "o1", "status": "final",
            "code": {"coding": [code]}, "subject": {"identifier": {"value": "M1"}},
            "effectiveDateTime": "2026-11-25T07:59:00Z"});
        if let Value::Object(m) = value {
            for (k, v) in m {
                o[k] = v;
            }
        }
        o
    }

    fn dec(v: &Value) -> Decoded<Observation> {
        decode(v.to_string().as_bytes(), now())
    }

    fn loinc(code: &str) -> Value {
        json!({"system": LOINC, "code": code})
    }

    #[test]
    fn heart_rate_and_both_spo2_codes() {
        let o = dec(&obs(
            loinc("8867-4"),
            json!({"valueQuantity": {"value": 72, "code": "/min"}}),
        ));
        assert_eq!(
            o.map(|o| o.body),
            Ok(Body::Numeric(vec![(
                Vital::HeartRate,
                Reading::Value(72.0)
            )]))
        );
        for code in ["2708-6", "59408-5"] {
            let o = dec(&obs(
                loinc(code),
                json!({"valueQuantity": {"value": 94, "code": "%"}}),
            ));
            assert_eq!(
                o.map(|o| o.body),
                Ok(Body::Numeric(vec![(Vital::Spo2, Reading::Value(94.0))]))
            );
        }
    }

    #[test]
    fn fahrenheit_is_converted() {
        let o = dec(&obs(
            loinc("8310-5"),
            json!({"valueQuantity": {"value": 101.3, "code": "[degF]"}}),
        ));
        let Ok(Observation {
            body: Body::Numeric(r),
            ..
        }) = o
        else {
            panic!("{o:?}")
        };
        let Reading::Value(c) = r[0].1 else { panic!() };
        assert!((c - 38.5).abs() < 1e-9, "{c}");
    }

    #[test]
    fn impossible_values_unknown_units_and_codes_are_rejected_with_codes() {
        let code = |v: Value| dec(&v).map_err(|r| r.code).err();
        assert_eq!(
            code(obs(
                loinc("8867-4"),
                json!({"valueQuantity": {"value": 900, "code": "/min"}})
            )),
            Some(RejectCode::ImpossibleValue)
        );
        assert_eq!(
            code(obs(
                loinc("2708-6"),
                json!({"valueQuantity": {"value": 130, "code": "%"}})
            )),
            Some(RejectCode::ImpossibleValue)
        );
        assert_eq!(
            code(obs(
                loinc("8867-4"),
                json!({"valueQuantity": {"value": 72, "code": "Hz"}})
            )),
            Some(RejectCode::UnknownUnit)
        );
        assert_eq!(
            code(obs(
                loinc("1234-5"),
                json!({"valueQuantity": {"value": 72, "code": "/min"}})
            )),
            Some(RejectCode::UnknownCode)
        );
        let mut future = obs(
            loinc("8867-4"),
            json!({"valueQuantity": {"value": 72, "code": "/min"}}),
        );
        future["effectiveDateTime"] = json!("2027-01-01T00:00:00Z");
        assert_eq!(code(future), Some(RejectCode::FutureTimestamp));
        assert_eq!(
            decode(b"{not json", now()).map_err(|r| r.code).err(),
            Some(RejectCode::InvalidJson)
        );
        let mut no_subject = obs(
            loinc("8867-4"),
            json!({"valueQuantity": {"value": 72, "code": "/min"}}),
        );
        no_subject.as_object_mut().map(|m| m.remove("subject"));
        assert_eq!(code(no_subject), Some(RejectCode::MissingField));
    }

    #[test]
    fn zero_and_data_absent_mean_signal_lost() {
        let o = dec(&obs(
            loinc("2708-6"),
            json!({"valueQuantity": {"value": 0, "code": "%"}}),
        ));
        assert_eq!(
            o.map(|o| o.body),
            Ok(Body::Numeric(vec![(Vital::Spo2, Reading::SignalLost)]))
        );
        let o = dec(&obs(
            loinc("8867-4"),
            json!({"dataAbsentReason": {"coding": [{"code": "error"}]}}),
        ));
        assert_eq!(
            o.map(|o| o.body),
            Ok(Body::Numeric(vec![(Vital::HeartRate, Reading::SignalLost)]))
        );
    }

    #[test]
    fn blood_pressure_panel_gives_two_readings_and_checks_their_order() {
        let comp = |code: &str, v: f64| json!({"code": {"coding": [loinc(code)]}, "valueQuantity": {"value": v, "code": "mm[Hg]"}});
        let o = dec(&obs(
            loinc("85354-9"),
            json!({"component": [comp("8480-6", 120.0), comp("8462-4", 80.0)]}),
        ));
        assert_eq!(
            o.map(|o| o.body),
            Ok(Body::Numeric(vec![
                (Vital::SystolicBp, Reading::Value(120.0)),
                (Vital::DiastolicBp, Reading::Value(80.0))
            ]))
        );
        let o = dec(&obs(
            loinc("85354-9"),
            json!({"component": [comp("8480-6", 80.0), comp("8462-4", 95.0)]}),
        ));
        assert_eq!(
            o.map_err(|r| r.code).err(),
            Some(RejectCode::ImpossibleValue)
        );
    }

    #[test]
    fn ecg_lead_ii_keeps_integer_samples_exactly() {
        let o = dec(&obs(
            json!({"system": MDC, "code": "131330"}),
            json!({"valueSampledData": {"origin": {"value": -5.12, "code": "mV"}, "period": 2.7777777777777777,
                "factor": 0.005, "dimensions": 1, "data": "995 1011 E -3"}}),
        ));
        let Ok(Observation {
            body: Body::Ecg(blocks),
            ..
        }) = o
        else {
            panic!("{o:?}")
        };
        assert_eq!(blocks[0].lead, 131_330);
        assert_eq!(
            blocks[0].samples,
            vec![Some(995), Some(1011), None, Some(-3)]
        );
        assert_eq!(blocks[0].period_ns, 2_777_778);
    }

    /// The deduplication digest tells content apart, not bytes: the same
    /// samples written otherwise are the same observation; one sample
    /// changed, missing, or two swapped is another.
    #[test]
    fn an_ecg_digest_changes_with_any_sample_and_only_with_the_samples() {
        let digest = |data: &str| {
            dec(&obs(
                json!({"system": MDC, "code": "131330"}),
                json!({"valueSampledData": {"origin": {"value": -5.12, "code": "mV"},
                    "period": 2.7777777777777777, "factor": 0.005, "dimensions": 1, "data": data}}),
            ))
            .map(|o| o.digest())
            .unwrap_or_else(|r| panic!("{r:?}"))
        };
        let base = digest("995 1011 E -3");
        assert_eq!(base, digest("995  1011 E   -3"));
        for other in [
            "995 1012 E -3",
            "995 1011 -3 E",
            "1011 995 E -3",
            "995 1011 E -3 0",
        ] {
            assert_ne!(base, digest(other), "{other}");
        }
    }

    #[test]
    fn pleth_and_arterial_pressure_waves_decode_in_their_own_units() {
        let wave = |code: &str, unit: &str, period: f64| {
            dec(&obs(
                json!({"system": MDC, "code": code}),
                json!({"valueSampledData": {"origin": {"value": 0, "code": unit}, "period": period,
                    "factor": 0.1, "dimensions": 1, "data": "800 E 1200"}}),
            ))
        };
        // A pleth at 62.5 Hz: slower than any ECG is allowed, fine for a pulse.
        let Ok(Observation {
            body: Body::Ecg(blocks),
            ..
        }) = wave("150452", "{arb'U}", 16.0)
        else {
            panic!("a pleth decodes")
        };
        assert_eq!(blocks[0].lead, 150_452);
        assert_eq!(blocks[0].samples, vec![Some(800), None, Some(1200)]);
        // An arterial line in kPa is kept in mmHg.
        let Ok(Observation {
            body: Body::Ecg(blocks),
            ..
        }) = wave("150032", "kPa", 8.0)
        else {
            panic!("an ABP decodes")
        };
        assert!((blocks[0].factor_mv - 0.750_062).abs() < 1e-9);
        // Wrong units and rates are refused with the reason.
        let err = wave("150032", "mV", 8.0).expect_err("ABP in mV");
        assert_eq!(err.code, RejectCode::UnknownUnit);
        assert!(err.reason.contains("arterial pressure"), "{}", err.reason);
        let err = wave("131330", "mV", 16.0).expect_err("ECG at 62.5 Hz");
        assert_eq!(err.code, RejectCode::ImpossibleValue);
        let err = wave("150452", "{arb'U}", 50.0).expect_err("pleth at 20 Hz");
        assert_eq!(err.code, RejectCode::ImpossibleValue);
        // Probe off: a valid observation of no signal.
        let o = dec(&obs(
            json!({"system": MDC, "code": "150452"}),
            json!({"dataAbsentReason": {"coding": [{"code": "error"}]}}),
        ));
        assert!(
            matches!(o, Ok(Observation { body: Body::Ecg(ref b), .. }) if b[0].samples.is_empty()),
            "{o:?}"
        );
    }

    /// Every path into a JSON value, as the keys and indexes leading there.
    fn paths(v: &Value, at: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
        out.push(at.clone());
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    at.push(json!(k));
                    paths(x, at, out);
                    at.pop();
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    at.push(json!(i));
                    paths(x, at, out);
                    at.pop();
                }
            }
            _ => {}
        }
    }

    fn at_mut<'a>(v: &'a mut Value, path: &[Value]) -> Option<&'a mut Value> {
        path.iter().try_fold(v, |v, step| match step {
            Value::String(k) => v.get_mut(k.as_str()),
            _ => v.get_mut(step.as_u64()? as usize),
        })
    }

    /// Records of every kind mutated at random, one to three times each: a
    /// field removed, given a value of another type (`null` included), a
    /// key repeated with another value, a string or key written with
    /// escapes. Decoding through typed borrowed fields gives what the
    /// `Value`-tree decoder it replaced gives, quarantine reason included.
    #[test]
    fn typed_decoding_gives_what_the_value_tree_gave_reason_for_reason() {
        let mut next = crate::ingest::xorshift(0x2545_f491_4f6c_dd1d);
        let mdc = |code: &str| json!({"system": MDC, "code": code});
        let comp = |code: &str, v: f64| json!({"code": {"coding": [loinc(code)]}, "valueQuantity": {"value": v, "code": "mm[Hg]"}});
        let wave = json!({"origin": {"value": -5.12, "code": "mV"}, "period": 4,
            "factor": 0.005, "dimensions": 1, "data": "995 1011 E -3 12"});
        let mut bases = vec![
            obs(
                loinc("8867-4"),
                json!({"valueQuantity": {"value": 72, "unit": "/min"}}),
            ),
            obs(
                loinc("2708-6"),
                json!({"valueQuantity": {"value": 0, "code": "%"}}),
            ),
            obs(
                loinc("8310-5"),
                json!({"valueQuantity": {"value": 101.3, "code": "[degF]"}}),
            ),
            obs(
                loinc("9279-1"),
                json!({"dataAbsentReason": {"coding": [{"code": "error"}]}}),
            ),
            obs(
                loinc("85354-9"),
                json!({"component": [comp("8480-6", 120.0), comp("8462-4", 80.0)]}),
            ),
            obs(
                json!({"system": ACVPU_SYSTEM, "code": "acvpu"}),
                json!({"valueCodeableConcept": {"coding": [{"system": ACVPU_SYSTEM, "code": "V"}]}}),
            ),
            obs(mdc("131330"), json!({"valueSampledData": wave.clone()})),
            obs(
                mdc("150452"),
                json!({"valueSampledData": {"origin": {"value": 0, "code": "{arb'U}"},
                "period": 8, "factor": 0.1, "data": "800 E 1200.5"}}),
            ),
            obs(mdc("150032"), json!({"dataAbsentReason": null})),
            obs(
                mdc(&MDC_ECG_ELEC_POTL.to_string()),
                json!({"component": [
                {"code": {"coding": [mdc("131329")]}, "valueSampledData": wave.clone()},
                {"code": {"coding": [mdc("131330")]}, "valueSampledData": wave}]}),
            ),
        ];
        for b in &mut bases {
            b["device"] = json!({"identifier": {"value": "MON-1"}, "display": "bed 4"});
        }
        let replacements = [
            json!(null),
            json!(0),
            json!(-3.5),
            json!(18446744073709551615_u64),
            json!("x"),
            json!(""),
            json!(true),
            json!([]),
            json!({}),
            json!([1, "a", {"code": "x"}]),
            json!({"value": 1, "code": "%"}),
        ];
        let (mut cases, mut accepted) = (0, 0);
        for round in 0..6000 {
            let mut v = bases[round % bases.len()].clone();
            let mut text = None;
            for _ in 0..1 + next(3) {
                let mut all = Vec::new();
                paths(&v, &mut Vec::new(), &mut all);
                let path = all.swap_remove(next(all.len()));
                match next(4) {
                    0 => {
                        if let Some((Value::String(k), parent)) = path.split_last()
                            && let Some(Value::Object(m)) = at_mut(&mut v, parent)
                        {
                            m.remove(k);
                        }
                    }
                    1 if !path.is_empty() => {
                        // The same key twice: the first given another value.
                        let s = v.to_string();
                        let key = path.last().and_then(Value::as_str).unwrap_or("status");
                        let other = replacements[next(replacements.len())].to_string();
                        text = Some(s.replacen(
                            &format!("\"{key}\":"),
                            &format!("\"{key}\":{other},\"{key}\":"),
                            1,
                        ));
                    }
                    2 => {
                        // Strings and keys with escapes (owned, not borrowed).
                        let s = v.to_string();
                        let word = [
                            "final",
                            "Observation",
                            "resourceType",
                            "code",
                            "mm[Hg]",
                            "M1",
                        ][next(6)];
                        let escaped: String = word
                            .chars()
                            .enumerate()
                            .map(|(i, c)| {
                                if i == 1 {
                                    format!("\\u{:04x}", c as u32)
                                } else {
                                    c.to_string()
                                }
                            })
                            .collect();
                        text =
                            Some(s.replacen(&format!("\"{word}\""), &format!("\"{escaped}\""), 1));
                    }
                    _ => {
                        if let Some(x) = at_mut(&mut v, &path) {
                            *x = replacements[next(replacements.len())].clone();
                        }
                    }
                }
                if text.is_some() {
                    break;
                }
            }
            let bytes = text.unwrap_or_else(|| v.to_string()).into_bytes();
            let (got, want) = (decode(&bytes, now()), value_model::decode(&bytes, now()));
            assert_eq!(got, want, "{}", String::from_utf8_lossy(&bytes));
            cases += 1;
            accepted += usize::from(got.is_ok());
        }
        // Both outcomes are exercised, not only one.
        assert!(
            accepted > cases / 10 && accepted < cases * 9 / 10,
            "{accepted} of {cases}"
        );
    }
}
