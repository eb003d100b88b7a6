//! The cleaned form of a stored observation, for the data lake's cleaned zone
//! (docs/data-lake.md): still a FHIR R4 `Observation` (the format the hospital
//! sent), but validated, deduplicated and with units standardised — each vital
//! under the first code of `VITAL_CODES` with its canonical UCUM unit, a blood
//! pressure as the `85354-9` panel, signal loss as `dataAbsentReason`, ECG as
//! `valueSampledData` with the stored integers. Decoding the cleaned form
//! gives back the same observation (a test pins that).

use chrono::SecondsFormat;
use serde_json::{Value, json};

use super::observation::{Body, EcgBlock, Observation, Reading};
use crate::model::Vital;
use crate::model::codes::{LOINC, MDC, PulseWave, UCUM, code_of, waveform_name};

const ACVPU: [&str; 5] = ["A", "C", "V", "P", "U"];
const BP_PANEL: &str = "85354-9";

/// The cleaned FHIR Observation of `obs`, as it arrived from `source`.
pub fn to_fhir(obs: &Observation, source: &str) -> Value {
    let mut o = json!({
        "resourceType": "Observation",
        "id": obs.id,
        "meta": {"source": format!("urn:wardwatch:source:{source}")},
        "status": "final",
        "subject": {"identifier": {"value": obs.mrn}},
        "effectiveDateTime": obs.effective.to_rfc3339_opts(SecondsFormat::Millis, true),
    });
    if let Some(device) = &obs.device {
        o["device"] = json!({"identifier": {"value": device}});
    }
    match &obs.body {
        Body::Numeric(readings) => numeric(&mut o, readings),
        Body::Ecg(blocks) => ecg(&mut o, blocks),
    }
    o
}

fn vital_code(vital: Vital) -> Value {
    match code_of(vital) {
        Some(c) => json!({"coding": [{"system": LOINC, "code": c.loinc, "display": c.display}]}),
        None => json!({"coding": [{"system": "urn:wardwatch:acvpu", "code": "acvpu"}]}),
    }
}

/// `value[x]` or `dataAbsentReason` of one reading, as (key, value).
fn value_of(vital: Vital, reading: &Reading) -> (&'static str, Value) {
    match reading {
        Reading::SignalLost => (
            "dataAbsentReason",
            json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "error"}]}),
        ),
        Reading::Value(v) if vital == Vital::Consciousness => {
            let level = ACVPU.get(*v as usize).copied().unwrap_or("U");
            (
                "valueCodeableConcept",
                json!({"coding": [{"system": "urn:wardwatch:acvpu", "code": level}]}),
            )
        }
        Reading::Value(v) => {
            let unit = code_of(vital).map_or("", |c| c.ucum);
            (
                "valueQuantity",
                json!({"value": v, "unit": unit, "system": UCUM, "code": unit}),
            )
        }
    }
}

fn numeric(o: &mut Value, readings: &[(Vital, Reading)]) {
    let bp = |v: Vital| matches!(v, Vital::SystolicBp | Vital::DiastolicBp);
    if readings.len() > 1 || readings.iter().any(|(v, _)| bp(*v)) {
        // A panel: the blood-pressure panel, or several readings at once.
        let code = if readings.iter().all(|(v, _)| bp(*v)) {
            json!({"coding": [{"system": LOINC, "code": BP_PANEL, "display": "Blood pressure panel"}]})
        } else {
            json!({"text": "vital signs"})
        };
        o["code"] = code;
        let components: Vec<Value> = readings
            .iter()
            .map(|(vital, reading)| {
                let (key, value) = value_of(*vital, reading);
                let mut c = json!({"code": vital_code(*vital)});
                c[key] = value;
                c
            })
            .collect();
        o["component"] = Value::Array(components);
    } else if let Some((vital, reading)) = readings.first() {
        o["code"] = vital_code(*vital);
        let (key, value) = value_of(*vital, reading);
        o[key] = value;
    }
}

fn ecg(o: &mut Value, blocks: &[EcgBlock]) {
    let lead_code = |mdc: u32| match waveform_name(mdc) {
        Some(name) => {
            json!({"coding": [{"system": MDC, "code": mdc.to_string(), "display": name}]})
        }
        None => json!({"coding": [{"system": MDC, "code": mdc.to_string()}]}),
    };
    let sampled = |b: &EcgBlock| {
        // Leads in mV; a pulse wave in its own unit (mmHg, arbitrary).
        let unit = PulseWave::from_mdc(b.lead).map_or("mV", |w| w.ucum);
        // One string, written in place: this runs for every ECG block stored.
        let mut data = String::with_capacity(b.samples.len() * 5);
        for (i, s) in b.samples.iter().enumerate() {
            if i > 0 {
                data.push(' ');
            }
            match s {
                Some(v) => {
                    use std::fmt::Write;
                    let _ = write!(data, "{v}");
                }
                None => data.push('E'),
            }
        }
        json!({
            "origin": {"value": b.origin_mv, "unit": unit, "system": UCUM, "code": unit},
            "period": b.period_ns as f64 / 1e6,
            "factor": b.factor_mv,
            "dimensions": 1,
            "data": data,
        })
    };
    let absent = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "error"}]});
    match blocks {
        [b] => {
            o["code"] = lead_code(b.lead);
            if b.samples.is_empty() {
                o["dataAbsentReason"] = absent;
            } else {
                o["valueSampledData"] = sampled(b);
            }
        }
        _ => {
            o["code"] = json!({"coding": [{"system": MDC, "code": "131328", "display": "MDC_ECG_ELEC_POTL"}]});
            let components: Vec<Value> = blocks
                .iter()
                .map(|b| {
                    let mut c = json!({"code": lead_code(b.lead)});
                    if b.samples.is_empty() {
                        c["dataAbsentReason"] = absent.clone();
                    } else {
                        c["valueSampledData"] = sampled(b);
                    }
                    c
                })
                .collect();
            o["component"] = Value::Array(components);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::ingest::observation::decode;

    fn obs(body: Body) -> Observation {
        Observation {
            id: "o-1".into(),
            mrn: "MRN1".into(),
            device: Some("MON-5A-1".into()),
            effective: Utc
                .with_ymd_and_hms(2026, 11, 25, 7, 0, 0)
                .single()
                .expect("time"),
            body,
        }
    }

    #[test]
    fn the_cleaned_form_decodes_to_the_same_observation() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 25, 7, 1, 0)
            .single()
            .expect("time");
        let block = |lead, samples: Vec<Option<i32>>| EcgBlock {
            lead,
            period_ns: if samples.is_empty() { 0 } else { 4_000_000 },
            origin_mv: 0.0,
            // The decoder's factor for a block without samples is 1.
            factor_mv: if samples.is_empty() { 1.0 } else { 0.005 },
            samples,
        };
        let cases = [
            Body::Numeric(vec![(Vital::HeartRate, Reading::Value(72.0))]),
            Body::Numeric(vec![(Vital::Spo2, Reading::SignalLost)]),
            Body::Numeric(vec![(Vital::TemperatureC, Reading::Value(37.2))]),
            Body::Numeric(vec![(Vital::Consciousness, Reading::Value(2.0))]),
            Body::Numeric(vec![(Vital::O2FlowLpm, Reading::Value(0.0))]),
            Body::Numeric(vec![
                (Vital::SystolicBp, Reading::Value(120.0)),
                (Vital::DiastolicBp, Reading::Value(80.0)),
            ]),
            Body::Ecg(vec![block(
                131_330,
                vec![Some(1), None, Some(-40), Some(200)],
            )]),
            Body::Ecg(vec![block(131_330, vec![])]),
            Body::Ecg(vec![
                block(131_329, vec![Some(3), Some(4)]),
                block(131_330, vec![Some(5), None]),
            ]),
        ];
        for body in cases {
            let o = obs(body);
            let text = to_fhir(&o, "gw").to_string();
            let back = decode(text.as_bytes(), now);
            assert_eq!(back.as_ref(), Ok(&o), "{text}");
        }
    }
}
