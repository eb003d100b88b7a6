//! The decoder as it was before it read records into typed borrowed fields:
//! a `serde_json::Value` tree and lookups in it. Kept for the tests as the
//! model the decoder must agree with, reason for reason, on any input.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    ACVPU_SYSTEM, Body, Decoded, EcgBlock, MAX_FUTURE, MAX_ID_BYTES, MAX_PAST, Observation,
    Reading, RejectCode, check_range, is_ecg_lead, loinc_vital, missing, reject,
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
    let id = str_at(&v, "id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("id"))?;
    // FHIR ids are at most 64 characters; every id is kept for
    // deduplication, so an unbounded one would grow the store.
    if id.len() > MAX_ID_BYTES {
        return Err(reject(
            RejectCode::MissingField,
            format!("`id` is {} bytes; at most {MAX_ID_BYTES}", id.len()),
        ));
    }
    match str_at(&v, "status") {
        Some("final" | "amended" | "corrected" | "preliminary") => {}
        Some(s @ ("entered-in-error" | "cancelled")) => {
            return Err(reject(
                RejectCode::EnteredInError,
                format!("status is `{s}`"),
            ));
        }
        Some(s) => {
            return Err(reject(
                RejectCode::MissingField,
                format!("status `{s}` is not a result status"),
            ));
        }
        None => return Err(missing("status")),
    }
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
    let effective_text =
        str_at(&v, "effectiveDateTime").ok_or_else(|| missing("effectiveDateTime"))?;
    let effective = DateTime::parse_from_rfc3339(effective_text)
        .map_err(|e| {
            reject(
                RejectCode::MissingField,
                format!("effectiveDateTime `{effective_text}`: {e}"),
            )
        })?
        .with_timezone(&Utc);
    if effective > now + MAX_FUTURE {
        return Err(reject(
            RejectCode::FutureTimestamp,
            format!(
                "effectiveDateTime {effective_text} is more than 5 minutes after the time received"
            ),
        ));
    }
    if effective < now - MAX_PAST {
        return Err(reject(
            RejectCode::StaleTimestamp,
            format!(
                "effectiveDateTime {effective_text} is more than {} days before the time received (a device clock reset?)",
                MAX_PAST.num_days()
            ),
        ));
    }
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
                        // Leads off or a gap in the recording: a valid
                        // observation of "no signal", with no samples.
                        return Ok(Body::Ecg(vec![EcgBlock {
                            lead,
                            period_ns: 0,
                            origin_mv: 0.0,
                            factor_mv: 1.0,
                            samples: Vec::new(),
                        }]));
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
    let unit = str_at(q, "code")
        .or_else(|| str_at(q, "unit"))
        .unwrap_or("");
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

fn consciousness(v: &Value) -> Decoded<Body> {
    let letter = codings(v.get("valueCodeableConcept"))
        .into_iter()
        .find(|(s, _)| *s == ACVPU_SYSTEM)
        .map(|(_, c)| c)
        .ok_or_else(|| missing("valueCodeableConcept (urn:wardwatch:acvpu)"))?;
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

/// FHIR R4 SampledData: value = origin + factor × data; `E`, `U`, `L` mark
/// samples the device could not give. An ECG lead's values are in mV, an
/// arterial pressure's in mmHg, a pleth's in arbitrary units (kept in the
/// block's `origin_mv` and `factor_mv` all the same).
fn sampled_data(lead: u32, d: &Value) -> Decoded<EcgBlock> {
    let wave = PulseWave::from_mdc(lead);
    let period_ms = d
        .get("period")
        .and_then(Value::as_f64)
        .ok_or_else(|| missing("valueSampledData.period"))?;
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
    let origin = d
        .get("origin")
        .ok_or_else(|| missing("valueSampledData.origin"))?;
    let unit = str_at(origin, "code").or_else(|| str_at(origin, "unit"));
    let scale = match (wave, unit) {
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
    };
    let origin_mv = origin.get("value").and_then(Value::as_f64).unwrap_or(0.0) * scale;
    let factor_mv = d.get("factor").and_then(Value::as_f64).unwrap_or(1.0) * scale;
    if !(factor_mv.is_finite() && factor_mv > 0.0 && origin_mv.is_finite()) {
        return Err(reject(
            RejectCode::ImpossibleValue,
            format!("factor {factor_mv} mV is not positive"),
        ));
    }
    let text = str_at(d, "data").ok_or_else(|| missing("valueSampledData.data"))?;
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
