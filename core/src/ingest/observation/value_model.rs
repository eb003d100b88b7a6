//! The decoder as it was before it read records into typed borrowed fields:
//! a `serde_json::Value` tree and lookups in it. Kept for the tests as the
//! model the decoder must agree with, reason for reason, on any input. The
//! checks that do not depend on how fields are read are the decoder's own.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    ACVPU_SYSTEM, Body, Decoded, EcgBlock, Observation, Reading, RejectCode, acvpu, block,
    blood_pressure_pair, check_period, check_range, check_status, checked_id, effective_at,
    in_unit, is_ecg_lead, loinc_vital, missing, no_signal, reject, wave_scale,
    zero_means_no_signal,
};
use crate::model::Vital;
use crate::model::codes::{LOINC, MDC, MDC_ECG_ELEC_POTL, PulseWave};

/// Decodes and validates one record received at `now`.
pub fn decode(bytes: &[u8], now: DateTime<Utc>) -> Decoded<Observation> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| reject(RejectCode::InvalidJson, format!("not JSON: {e}")))?;
    if v.get("resourceType").and_then(Value::as_str) != Some("Observation") {
        return Err(reject(
            RejectCode::NotAnObservation,
            "resourceType is not `Observation`",
        ));
    }
    let id = checked_id(str_at(&v, "id"))?;
    check_status(str_at(&v, "status"))?;
    let mrn = v
        .pointer("/subject/identifier/value")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("subject.identifier.value"))?;
    let device = v
        .pointer("/device/identifier/value")
        .or_else(|| v.pointer("/device/display"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let effective = effective_at(str_at(&v, "effectiveDateTime"), now)?;
    let body = body(&v)?;
    Ok(Observation {
        id: id.to_owned(),
        mrn: mrn.to_owned(),
        device,
        effective,
        body,
    })
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The codings of a CodeableConcept as (system, code) pairs.
fn codings(concept: Option<&Value>) -> Vec<(&str, &str)> {
    concept
        .and_then(|c| c.get("coding"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| Some((str_at(c, "system")?, str_at(c, "code")?)))
        .collect()
}

fn body(v: &Value) -> Decoded<Body> {
    let codes = codings(v.get("code"));
    if codes.is_empty() {
        return Err(missing("code.coding"));
    }
    for (system, code) in &codes {
        match *system {
            LOINC => {
                if let Some(vital) = loinc_vital(code) {
                    return numeric(v, vital, code).map(|r| Body::Numeric(vec![(vital, r)]));
                }
                if *code == "85354-9" {
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
                    if v.get("dataAbsentReason").is_some() {
                        return Ok(no_signal(lead));
                    }
                    let data = v
                        .get("valueSampledData")
                        .ok_or_else(|| missing("valueSampledData"))?;
                    return Ok(Body::Ecg(vec![sampled_data(lead, data)?]));
                }
            }
            ACVPU_SYSTEM if *code == "acvpu" => return consciousness(v),
            _ => {}
        }
    }
    let shown: Vec<String> = codes.iter().map(|(s, c)| format!("{s}|{c}")).collect();
    Err(reject(
        RejectCode::UnknownCode,
        format!("no known vital-sign code among {}", shown.join(", ")),
    ))
}

/// A value with a UCUM code, converted to the vital's unit.
fn quantity(vital: Vital, q: &Value, what: &str) -> Decoded<f64> {
    let value = q
        .get("value")
        .and_then(Value::as_f64)
        .ok_or_else(|| missing(&format!("{what}.value")))?;
    in_unit(
        vital,
        value,
        str_at(q, "code").or_else(|| str_at(q, "unit")),
    )
}

fn numeric(v: &Value, vital: Vital, code: &str) -> Decoded<Reading> {
    if v.get("dataAbsentReason").is_some() {
        return Ok(Reading::SignalLost);
    }
    let q = v
        .get("valueQuantity")
        .ok_or_else(|| missing(&format!("valueQuantity (LOINC {code})")))?;
    let value = quantity(vital, q, "valueQuantity")?;
    if value == 0.0 && zero_means_no_signal(vital) {
        return Ok(Reading::SignalLost);
    }
    check_range(vital, value).map(Reading::Value)
}

fn blood_pressure(v: &Value) -> Decoded<Body> {
    if v.get("dataAbsentReason").is_some() {
        return Ok(Body::Numeric(vec![
            (Vital::SystolicBp, Reading::SignalLost),
            (Vital::DiastolicBp, Reading::SignalLost),
        ]));
    }
    let mut readings = Vec::new();
    for c in v
        .get("component")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let vital = codings(c.get("code"))
            .into_iter()
            .find_map(|(s, code)| (s == LOINC).then(|| loinc_vital(code)).flatten());
        let Some(vital @ (Vital::SystolicBp | Vital::DiastolicBp)) = vital else {
            continue;
        };
        let reading = if c.get("dataAbsentReason").is_some() {
            Reading::SignalLost
        } else {
            let q = c
                .get("valueQuantity")
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

fn consciousness(v: &Value) -> Decoded<Body> {
    let letter = codings(v.get("valueCodeableConcept"))
        .into_iter()
        .find(|(s, _)| *s == ACVPU_SYSTEM)
        .map(|(_, c)| c)
        .ok_or_else(|| missing("valueCodeableConcept (urn:wardwatch:acvpu)"))?;
    acvpu(letter)
}

fn ecg_components(v: &Value) -> Decoded<Body> {
    let mut blocks = Vec::new();
    for c in v
        .get("component")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let lead = codings(c.get("code"))
            .into_iter()
            .find_map(|(s, code)| (s == MDC).then(|| code.parse::<u32>().ok()).flatten())
            .filter(|l| is_ecg_lead(*l));
        if let (Some(lead), Some(data)) = (lead, c.get("valueSampledData")) {
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

fn sampled_data(lead: u32, d: &Value) -> Decoded<EcgBlock> {
    let period_ms = d
        .get("period")
        .and_then(Value::as_f64)
        .ok_or_else(|| missing("valueSampledData.period"))?;
    check_period(lead, period_ms)?;
    let origin = d
        .get("origin")
        .ok_or_else(|| missing("valueSampledData.origin"))?;
    let scale = wave_scale(
        lead,
        str_at(origin, "code").or_else(|| str_at(origin, "unit")),
    )?;
    block(
        lead,
        period_ms,
        origin.get("value").and_then(Value::as_f64).unwrap_or(0.0) * scale,
        d.get("factor").and_then(Value::as_f64).unwrap_or(1.0) * scale,
        str_at(d, "data"),
    )
}
