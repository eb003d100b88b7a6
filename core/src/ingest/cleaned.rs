//! The cleaned form of a stored observation, for the data lake's cleaned zone
//! (docs/data-lake.md): still a FHIR R4 `Observation` (the format the hospital
//! sent), but validated, deduplicated and with units standardised — each vital
//! under the first code of `VITAL_CODES` with its canonical UCUM unit, a blood
//! pressure as the `85354-9` panel, signal loss as `dataAbsentReason`, ECG as
//! `valueSampledData` with the stored integers. Decoding the cleaned form
//! gives back the same observation (a test pins that).

use std::io::Write;

use chrono::SecondsFormat;

use super::observation::{Body, EcgBlock, Observation, Reading};
use crate::model::Vital;
use crate::model::codes::{LOINC, MDC, PulseWave, UCUM, code_of, waveform_name};

const ACVPU: [&str; 5] = ["A", "C", "V", "P", "U"];
const BP_PANEL: &str = "85354-9";
const ABSENT: &str = r#"{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/data-absent-reason","code":"error"}]}"#;

/// The cleaned FHIR Observation of `obs`, as it arrived from `source`, as
/// JSON text.
pub fn to_fhir(obs: &Observation, source: &str) -> String {
    let mut out = Vec::with_capacity(512);
    write_fhir(&mut out, obs, source);
    // Only JSON text (valid UTF-8, `str` escaped by serde_json) is written.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends the cleaned FHIR Observation of `obs` to `out` as one JSON
/// object (no newline). Written field by field, not through a
/// `serde_json::Value` tree: this runs for every observation stored, five
/// or so per monitored patient a second, and building the tree was a
/// sixth of the writer thread's time (issue 16's profile).
pub fn write_fhir(out: &mut Vec<u8>, obs: &Observation, source: &str) {
    out.extend_from_slice(br#"{"resourceType":"Observation","id":"#);
    string(out, &obs.id);
    out.extend_from_slice(br#","meta":{"source":"urn:wardwatch:source:"#);
    string_contents(out, source);
    out.extend_from_slice(br#""},"status":"final","subject":{"identifier":{"value":"#);
    string(out, &obs.mrn);
    out.extend_from_slice(br#"}},"effectiveDateTime":""#);
    out.extend_from_slice(
        obs.effective
            .to_rfc3339_opts(SecondsFormat::Millis, true)
            .as_bytes(),
    );
    out.push(b'"');
    if let Some(device) = &obs.device {
        out.extend_from_slice(br#","device":{"identifier":{"value":"#);
        string(out, device);
        out.extend_from_slice(b"}}");
    }
    match &obs.body {
        Body::Numeric(readings) => numeric(out, readings),
        Body::Ecg(blocks) => ecg(out, blocks),
    }
    out.push(b'}');
}

/// `s` as a JSON string, quoted and escaped.
fn string(out: &mut Vec<u8>, s: &str) {
    // Serialising a `str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// `s` escaped, without its quotes (to continue a string begun in place).
fn string_contents(out: &mut Vec<u8>, s: &str) {
    let at = out.len();
    string(out, s);
    out.remove(at);
    out.pop();
}

fn number(out: &mut Vec<u8>, v: f64) {
    // `null` for a value that is not finite, as `serde_json::Value` had it.
    let _ = serde_json::to_writer(&mut *out, &v);
}

/// A FHIR `Quantity` in a UCUM unit.
fn quantity(out: &mut Vec<u8>, value: f64, unit: &str) {
    out.extend_from_slice(br#"{"value":"#);
    number(out, value);
    out.extend_from_slice(br#","unit":"#);
    string(out, unit);
    out.extend_from_slice(br#","system":"#);
    string(out, UCUM);
    out.extend_from_slice(br#","code":"#);
    string(out, unit);
    out.push(b'}');
}

/// `"dataAbsentReason":…` for signal loss or a block without samples.
fn absent(out: &mut Vec<u8>) {
    out.extend_from_slice(br#""dataAbsentReason":"#);
    out.extend_from_slice(ABSENT.as_bytes());
}

/// `"code":{…}` of a vital.
fn vital_code(out: &mut Vec<u8>, vital: Vital) {
    match code_of(vital) {
        Some(c) => {
            out.extend_from_slice(br#""code":{"coding":[{"system":"#);
            string(out, LOINC);
            out.extend_from_slice(br#","code":"#);
            string(out, c.loinc);
            out.extend_from_slice(br#","display":"#);
            string(out, c.display);
            out.extend_from_slice(b"}]}");
        }
        None => out.extend_from_slice(
            br#""code":{"coding":[{"system":"urn:wardwatch:acvpu","code":"acvpu"}]}"#,
        ),
    }
}

/// `"value[x]":…` or `"dataAbsentReason":…` of one reading.
fn value_of(out: &mut Vec<u8>, vital: Vital, reading: &Reading) {
    match reading {
        Reading::SignalLost => absent(out),
        Reading::Value(v) if vital == Vital::Consciousness => {
            let level = ACVPU.get(*v as usize).copied().unwrap_or("U");
            out.extend_from_slice(
                br#""valueCodeableConcept":{"coding":[{"system":"urn:wardwatch:acvpu","code":"#,
            );
            string(out, level);
            out.extend_from_slice(b"}]}");
        }
        Reading::Value(v) => {
            out.extend_from_slice(br#""valueQuantity":"#);
            quantity(out, *v, code_of(vital).map_or("", |c| c.ucum));
        }
    }
}

fn numeric(out: &mut Vec<u8>, readings: &[(Vital, Reading)]) {
    let bp = |v: Vital| matches!(v, Vital::SystolicBp | Vital::DiastolicBp);
    if readings.len() > 1 || readings.iter().any(|(v, _)| bp(*v)) {
        // A panel: the blood-pressure panel, or several readings at once.
        if readings.iter().all(|(v, _)| bp(*v)) {
            out.extend_from_slice(br#","code":{"coding":[{"system":"#);
            string(out, LOINC);
            out.extend_from_slice(br#","code":"#);
            string(out, BP_PANEL);
            out.extend_from_slice(br#","display":"Blood pressure panel"}]}"#);
        } else {
            out.extend_from_slice(br#","code":{"text":"vital signs"}"#);
        }
        out.extend_from_slice(br#","component":["#);
        for (i, (vital, reading)) in readings.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'{');
            vital_code(out, *vital);
            out.push(b',');
            value_of(out, *vital, reading);
            out.push(b'}');
        }
        out.push(b']');
    } else if let Some((vital, reading)) = readings.first() {
        out.push(b',');
        vital_code(out, *vital);
        out.push(b',');
        value_of(out, *vital, reading);
    }
}

/// `"code":{…}` of a lead or pulse wave.
fn lead_code(out: &mut Vec<u8>, mdc: u32) {
    out.extend_from_slice(br#""code":{"coding":[{"system":"#);
    string(out, MDC);
    let _ = write!(out, r#","code":"{mdc}""#);
    if let Some(name) = waveform_name(mdc) {
        out.extend_from_slice(br#","display":"#);
        string(out, name);
    }
    out.extend_from_slice(b"}]}");
}

/// `"valueSampledData":{…}`, or `"dataAbsentReason":…` for a block
/// without samples.
fn sampled(out: &mut Vec<u8>, b: &EcgBlock) {
    if b.samples.is_empty() {
        absent(out);
        return;
    }
    // Leads in mV; a pulse wave in its own unit (mmHg, arbitrary).
    let unit = PulseWave::from_mdc(b.lead).map_or("mV", |w| w.ucum);
    out.extend_from_slice(br#""valueSampledData":{"origin":"#);
    quantity(out, b.origin_mv, unit);
    out.extend_from_slice(br#","period":"#);
    number(out, b.period_ns as f64 / 1e6);
    out.extend_from_slice(br#","factor":"#);
    number(out, b.factor_mv);
    out.extend_from_slice(br#","dimensions":1,"data":""#);
    sample_data(out, &b.samples);
    out.extend_from_slice(b"\"}");
}

/// Samples as FHIR `SampledData.data`: decimals separated by spaces, `E`
/// for a sample missing (the simulator writes its records with it too).
pub fn sample_data(out: &mut Vec<u8>, samples: &[Option<i32>]) {
    for (i, s) in samples.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        match s {
            Some(v) => integer(out, *v),
            None => out.push(b'E'),
        }
    }
}

/// `v` in decimal. An ECG record carries hundreds; `write!` takes each
/// through the formatting machinery, several times slower.
fn integer(out: &mut Vec<u8>, v: i32) {
    let mut digits = [0u8; 11];
    let mut at = digits.len();
    let mut n = v.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        at -= 1;
        digits[at] = b'-';
    }
    out.extend_from_slice(&digits[at..]);
}

fn ecg(out: &mut Vec<u8>, blocks: &[EcgBlock]) {
    match blocks {
        [b] => {
            out.push(b',');
            lead_code(out, b.lead);
            out.push(b',');
            sampled(out, b);
        }
        _ => {
            out.extend_from_slice(br#","code":{"coding":[{"system":"#);
            string(out, MDC);
            out.extend_from_slice(
                br#","code":"131328","display":"MDC_ECG_ELEC_POTL"}]},"component":["#,
            );
            for (i, b) in blocks.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.push(b'{');
                lead_code(out, b.lead);
                out.push(b',');
                sampled(out, b);
                out.push(b'}');
            }
            out.push(b']');
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
    fn integers_are_written_as_decimals() {
        for v in [0, 7, -7, 10, -10, 12_345, i32::MAX, i32::MIN] {
            let mut out = Vec::new();
            integer(&mut out, v);
            assert_eq!(String::from_utf8(out).expect("ascii"), v.to_string());
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
            let text = to_fhir(&o, "gw");
            let back = decode(text.as_bytes(), now);
            assert_eq!(back.as_ref(), Ok(&o), "{text}");
        }
        // Text that needs escaping stays one valid line, and decodes back.
        let mut o = obs(Body::Numeric(vec![(
            Vital::HeartRate,
            Reading::Value(61.5),
        )]));
        o.id = "o\"1\\\n".into();
        o.mrn = "MRN-\u{e9}\t".into();
        let mut line = Vec::new();
        write_fhir(&mut line, &o, "gw \"east\"");
        assert!(!line.contains(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&line).expect("JSON");
        assert_eq!(v["meta"]["source"], "urn:wardwatch:source:gw \"east\"");
        assert_eq!(decode(&line, now).as_ref(), Ok(&o));
    }
}
