//! The registry as a FHIR R4 `Bundle` of `Patient`, `Condition`,
//! `MedicationStatement` and `AllergyIntolerance` resources.
//!
//! Mapping (documented for the hospital's interface team in `docs/import.md`):
//! - MRN: the `Patient.identifier` whose `type` has code `MR` (HL7 v2 table
//!   0203, system `http://terminology.hl7.org/CodeSystem/v2-0203`).
//! - name: the `official` `HumanName` (else the first): `family`, `given` joined.
//! - attending: `Patient.generalPractitioner[0].display`.
//! - Wardwatch's own fields are Patient extensions under `EXT` (ward, bed, NEWS2
//!   SpO2 scale, alert consent, baseline vitals as UCUM quantities, admission
//!   period).
//! - Conditions, medications and allergies attach to their patient through
//!   `subject` (`patient` for AllergyIntolerance): a reference to the Patient's
//!   `fullUrl` or `Patient/{id}`. Entries that are no longer true
//!   (clinicalStatus inactive/resolved, status stopped/entered-in-error) are
//!   skipped, as a clinician reading the record would.
//!
//! A bad entry rejects its whole patient: storing a patient without the allergy
//! that failed to parse would be worse than keeping the previous record.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Value, json};

use super::{Parsed, Rejected, parse_date, parse_instant};
use crate::error::{Error, Result};
use crate::model::{
    Baseline, Carried, PatientRecord, RecordField, Sex, Spo2Scale, spo2_scale_from_number,
};

/// Prefix of Wardwatch's Patient extensions.
pub const EXT: &str = "urn:wardwatch:fhir:extension:";
const MR_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";
const MRN_SYSTEM: &str = "urn:wardwatch:mrn";

/// Baseline extensions: (name, UCUM units accepted, setter).
type Setter = fn(&mut Baseline, f64);
const BASELINES: [(&str, &str, Setter); 5] = [
    ("baseline-heart-rate", "/min", |b, v| b.hr_bpm = Some(v)),
    ("baseline-respiratory-rate", "/min", |b, v| {
        b.rr_per_min = Some(v)
    }),
    ("baseline-systolic-bp", "mm[Hg]", |b, v| {
        b.sbp_mmhg = Some(v)
    }),
    ("baseline-spo2", "%", |b, v| b.spo2_pct = Some(v)),
    ("baseline-body-temperature", "Cel", |b, v| {
        b.temp_c = Some(v)
    }),
];

pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Parsed> {
    let invalid = |reason: String| Error::InvalidFile {
        path: path.to_owned(),
        format: "FHIR R4 Bundle",
        reason,
    };
    let bundle: Value =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("not JSON: {e}")))?;
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(invalid("the top-level resourceType is not `Bundle`".into()));
    }
    let entries = match bundle.get("entry") {
        None => &Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(invalid("`entry` is not an array".into())),
    };

    // Pass 1: patients, keyed by every reference that may name them.
    struct Slot {
        location: String,
        record: Option<PatientRecord>,
        carried: Carried,
        error: Option<String>,
    }
    let mut slots: Vec<Slot> = Vec::new();
    let mut by_ref: HashMap<String, usize> = HashMap::new();
    let mut parsed = Parsed::default();
    for (i, entry) in entries.iter().enumerate() {
        let resource = entry.get("resource").unwrap_or(&Value::Null);
        if resource_type(resource) != Some("Patient") {
            continue;
        }
        let location = location(i, resource);
        if let Some(url) = entry.get("fullUrl").and_then(Value::as_str) {
            by_ref.insert(url.to_owned(), slots.len());
        }
        if let Some(id) = resource.get("id").and_then(Value::as_str) {
            by_ref.insert(format!("Patient/{id}"), slots.len());
        }
        let (record, carried, error) = match patient(resource) {
            Ok((r, carried)) => (Some(r), carried, None),
            Err(e) => (None, Carried::NONE, Some(e.to_string())),
        };
        slots.push(Slot {
            location,
            record,
            carried,
            error,
        });
    }

    // Pass 2: the lists, in bundle order. A list whose resource type the
    // bundle does not hold at all is not carried: it stays as stored.
    let mut lists = Carried::NONE;
    for (i, entry) in entries.iter().enumerate() {
        let resource = entry.get("resource").unwrap_or(&Value::Null);
        let kind = resource_type(resource);
        let subject_field = match kind {
            Some("Patient") => continue,
            Some("Condition") => {
                lists = lists.with(RecordField::Conditions);
                "subject"
            }
            Some("MedicationStatement") => {
                lists = lists.with(RecordField::Medications);
                "subject"
            }
            Some("AllergyIntolerance") => {
                lists = lists.with(RecordField::Allergies);
                "patient"
            }
            other => {
                parsed.rejected.push(Rejected {
                    location: location(i, resource),
                    mrn: None,
                    reason: match other {
                        Some(t) => format!("resource type `{t}` is not imported"),
                        None => "the entry has no resource with a resourceType".into(),
                    },
                });
                continue;
            }
        };
        let location = location(i, resource);
        let reference = resource
            .get(subject_field)
            .and_then(|s| s.get("reference"))
            .and_then(Value::as_str);
        let Some(&slot) = reference.and_then(|r| by_ref.get(r)) else {
            parsed.rejected.push(Rejected {
                location,
                mrn: None,
                reason: format!(
                    "`{subject_field}` does not reference a Patient in this bundle ({})",
                    reference.unwrap_or("no reference")
                ),
            });
            continue;
        };
        let item = match kind {
            Some("Condition") => condition(resource),
            Some("MedicationStatement") => medication(resource),
            _ => allergy(resource),
        };
        let slot = &mut slots[slot];
        match (item, slot.record.as_mut()) {
            (Ok(None), _) | (_, None) => {}
            (Ok(Some(text)), Some(record)) => match kind {
                Some("Condition") => record.conditions.push(text),
                Some("MedicationStatement") => record.medications.push(text),
                _ => record.allergies.push(text),
            },
            (Err(e), Some(record)) => {
                parsed.rejected.push(Rejected {
                    location,
                    mrn: Some(record.mrn.clone()),
                    reason: e.to_string(),
                });
                slot.error.get_or_insert_with(|| {
                    "rejected with an entry that refers to it (see below)".into()
                });
                slot.record = None;
            }
        }
    }

    for slot in slots {
        match (slot.record, slot.error) {
            (Some(record), None) => {
                let carried = [
                    RecordField::Conditions,
                    RecordField::Medications,
                    RecordField::Allergies,
                ]
                .into_iter()
                .filter(|f| lists.has(*f))
                .fold(slot.carried, Carried::with);
                parsed.records.push((slot.location, record, carried))
            }
            (record, error) => parsed.rejected.push(Rejected {
                location: slot.location,
                mrn: record.map(|r| r.mrn),
                reason: error.unwrap_or_default(),
            }),
        }
    }
    Ok(parsed)
}

fn resource_type(resource: &Value) -> Option<&str> {
    resource.get("resourceType").and_then(Value::as_str)
}

/// "entry 3 (Patient/p-0003)": entries are numbered from 1 as people count.
fn location(index: usize, resource: &Value) -> String {
    match (
        resource_type(resource),
        resource.get("id").and_then(Value::as_str),
    ) {
        (Some(t), Some(id)) => format!("entry {} ({t}/{id})", index + 1),
        (Some(t), None) => format!("entry {} ({t})", index + 1),
        _ => format!("entry {}", index + 1),
    }
}

fn bad(what: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidInput {
        what,
        reason: reason.into(),
    }
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A Patient resource as a record, and the fields it carries.
fn patient(p: &Value) -> Result<(PatientRecord, Carried)> {
    let mrn = p
        .get("identifier")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|id| {
            id.pointer("/type/coding")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|c| str_at(c, "code") == Some("MR") && str_at(c, "system") == Some(MR_SYSTEM))
        })
        .and_then(|id| str_at(id, "value"))
        .ok_or_else(|| {
            bad(
                "Patient.identifier",
                "no identifier of type MR (medical record number)",
            )
        })?;
    let names = p.get("name").and_then(Value::as_array);
    let name = names
        .and_then(|n| {
            n.iter()
                .find(|n| str_at(n, "use") == Some("official"))
                .or(n.first())
        })
        .ok_or_else(|| bad("Patient.name", "is missing"))?;
    // `family` is 0..1 in FHIR R4; a name given only as text (an
    // unidentified patient's "Unknown Trauma 4") is shown as written.
    let family = str_at(name, "family")
        .or_else(|| str_at(name, "text"))
        .unwrap_or("")
        .to_owned();
    let given: Vec<&str> = name
        .get("given")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut carried = Carried::NONE.with(RecordField::Name);
    let birth_date = match p.get("birthDate") {
        None => None,
        Some(b) => {
            carried = carried.with(RecordField::BirthDate);
            let b = b
                .as_str()
                .ok_or_else(|| bad("Patient.birthDate", "is not a string"))?;
            Some(parse_date("Patient.birthDate", b)?)
        }
    };
    if p.get("gender").is_some() {
        carried = carried.with(RecordField::Sex);
    }
    if p.get("generalPractitioner").is_some() {
        carried = carried.with(RecordField::Attending);
    }
    let mut record = PatientRecord {
        mrn: mrn.to_owned(),
        family_name: family,
        given_name: given.join(" "),
        birth_date,
        sex: Sex::parse(str_at(p, "gender").unwrap_or("unknown"))?,
        ward: None,
        bed: None,
        attending: p
            .pointer("/generalPractitioner/0/display")
            .and_then(Value::as_str)
            .map(str::to_owned),
        conditions: Vec::new(),
        medications: Vec::new(),
        allergies: Vec::new(),
        baseline: Baseline::default(),
        spo2_scale: Spo2Scale::One,
        alert_consent: false,
        admitted_at: None,
        discharged_at: None,
    };
    for ext in p
        .get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = str_at(ext, "url").and_then(|u| u.strip_prefix(EXT)) else {
            continue; // other organisations' extensions are not ours to judge
        };
        use RecordField as F;
        let field = match name {
            "ward" => F::Ward,
            "bed" => F::Bed,
            "news2-spo2-scale" => F::Spo2Scale,
            "alert-consent" => F::AlertConsent,
            "admission" => F::AdmittedAt,
            "baseline-heart-rate" => F::BaselineHr,
            "baseline-respiratory-rate" => F::BaselineRr,
            "baseline-systolic-bp" => F::BaselineSbp,
            "baseline-spo2" => F::BaselineSpo2,
            _ => F::BaselineTemp,
        };
        carried = carried.with(field);
        if field == F::AdmittedAt {
            carried = carried.with(F::DischargedAt);
        }
        match name {
            "ward" => record.ward = str_at(ext, "valueString").map(str::to_owned),
            "bed" => record.bed = str_at(ext, "valueString").map(str::to_owned),
            "news2-spo2-scale" => {
                let n = ext
                    .get("valueInteger")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| bad("news2-spo2-scale", "needs valueInteger 1 or 2"))?;
                record.spo2_scale = spo2_scale_from_number(n)?;
            }
            "alert-consent" => {
                record.alert_consent = ext
                    .get("valueBoolean")
                    .and_then(Value::as_bool)
                    .ok_or_else(|| bad("alert-consent", "needs valueBoolean"))?;
            }
            "admission" => {
                let period = ext.get("valuePeriod").unwrap_or(&Value::Null);
                record.admitted_at =
                    parse_instant("admission start", str_at(period, "start").unwrap_or(""))?;
                record.discharged_at =
                    parse_instant("admission end", str_at(period, "end").unwrap_or(""))?;
            }
            other => {
                let Some((_, unit, set)) = BASELINES.iter().find(|(n, ..)| *n == other) else {
                    return Err(bad(
                        "Patient.extension",
                        format!("unknown Wardwatch extension `{other}`"),
                    ));
                };
                let q = ext.get("valueQuantity").unwrap_or(&Value::Null);
                let value = q.get("value").and_then(Value::as_f64).ok_or_else(|| {
                    bad(
                        "Patient.extension",
                        format!("`{other}` needs valueQuantity.value"),
                    )
                })?;
                let code = str_at(q, "code").unwrap_or(unit);
                let value = match (code, *unit) {
                    (c, u) if c == u => value,
                    // UCUM [degF] -> Cel
                    ("[degF]", "Cel") => (value - 32.0) * 5.0 / 9.0,
                    (c, u) => {
                        return Err(bad(
                            "Patient.extension",
                            format!("`{other}` has unit `{c}`; expected UCUM `{u}`"),
                        ));
                    }
                };
                set(&mut record.baseline, value);
            }
        }
    }
    Ok((record, carried))
}

fn concept_text(c: Option<&Value>) -> Option<String> {
    let c = c?;
    str_at(c, "text")
        .or_else(|| c.pointer("/coding/0/display").and_then(Value::as_str))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn status_code(resource: &Value, field: &str) -> Option<String> {
    resource
        .get(field)
        .and_then(|s| s.pointer("/coding/0/code").or(Some(s)))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn condition(c: &Value) -> Result<Option<String>> {
    if matches!(
        status_code(c, "clinicalStatus").as_deref(),
        Some("inactive" | "resolved" | "remission")
    ) || status_code(c, "verificationStatus").as_deref() == Some("entered-in-error")
    {
        return Ok(None);
    }
    concept_text(c.get("code"))
        .map(Some)
        .ok_or_else(|| bad("Condition.code", "has neither text nor a coding display"))
}

fn medication(m: &Value) -> Result<Option<String>> {
    if matches!(
        status_code(m, "status").as_deref(),
        Some("stopped" | "entered-in-error" | "completed" | "not-taken")
    ) {
        return Ok(None);
    }
    concept_text(m.get("medicationCodeableConcept"))
        .map(Some)
        .ok_or_else(|| {
            bad(
                "MedicationStatement.medicationCodeableConcept",
                "has neither text nor a coding display",
            )
        })
}

fn allergy(a: &Value) -> Result<Option<String>> {
    if matches!(
        status_code(a, "clinicalStatus").as_deref(),
        Some("inactive" | "resolved")
    ) || status_code(a, "verificationStatus").as_deref() == Some("entered-in-error")
    {
        return Ok(None);
    }
    concept_text(a.get("code")).map(Some).ok_or_else(|| {
        bad(
            "AllergyIntolerance.code",
            "has neither text nor a coding display",
        )
    })
}

/// Writes records as a FHIR R4 transaction-free `collection` Bundle in the
/// mapping above (the demo's export, and the CSV/FHIR equivalence test).
pub fn write(records: &[PatientRecord]) -> Value {
    let mut entries = Vec::new();
    for (n, r) in records.iter().enumerate() {
        let pid = format!("p{}", n + 1);
        let full_url = format!("urn:uuid:wardwatch-{pid}");
        let mut ext = Vec::new();
        let s = |name: &str, v: &Option<String>| {
            v.as_ref()
                .map(|v| json!({"url": format!("{EXT}{name}"), "valueString": v}))
        };
        ext.extend(s("ward", &r.ward));
        ext.extend(s("bed", &r.bed));
        ext.push(
            json!({"url": format!("{EXT}news2-spo2-scale"), "valueInteger": r.spo2_scale.number()}),
        );
        ext.push(json!({"url": format!("{EXT}alert-consent"), "valueBoolean": r.alert_consent}));
        let b = &r.baseline;
        for ((name, unit, _), value) in
            BASELINES
                .iter()
                .zip([b.hr_bpm, b.rr_per_min, b.sbp_mmhg, b.spo2_pct, b.temp_c])
        {
            if let Some(v) = value {
                ext.push(json!({"url": format!("{EXT}{name}"), "valueQuantity":
                    {"value": v, "system": "http://unitsofmeasure.org", "code": unit, "unit": unit}}));
            }
        }
        if r.admitted_at.is_some() || r.discharged_at.is_some() {
            let t = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            };
            let mut period = serde_json::Map::new();
            if let Some(s) = t(r.admitted_at) {
                period.insert("start".into(), s.into());
            }
            if let Some(e) = t(r.discharged_at) {
                period.insert("end".into(), e.into());
            }
            ext.push(json!({"url": format!("{EXT}admission"), "valuePeriod": period}));
        }
        let mut patient = json!({
            "resourceType": "Patient",
            "id": pid,
            "identifier": [{
                "type": {"coding": [{"system": MR_SYSTEM, "code": "MR"}]},
                "system": MRN_SYSTEM,
                "value": r.mrn,
            }],
            "name": [{"use": "official", "family": r.family_name, "given": r.given_name.split(' ').collect::<Vec<_>>()}],
            "gender": r.sex.as_str(),
            "extension": ext,
        });
        if let Some(b) = r.birth_date {
            patient["birthDate"] = json!(b.format("%Y-%m-%d").to_string());
        }
        if let Some(a) = &r.attending {
            patient["generalPractitioner"] = json!([{ "display": a }]);
        }
        entries.push(json!({"fullUrl": full_url, "resource": patient}));
        let subject = json!({"reference": full_url});
        for (k, c) in r.conditions.iter().enumerate() {
            entries.push(json!({"resource": {"resourceType": "Condition", "id": format!("{pid}-c{k}"),
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                "code": {"text": c}, "subject": subject}}));
        }
        for (k, m) in r.medications.iter().enumerate() {
            entries.push(json!({"resource": {"resourceType": "MedicationStatement", "id": format!("{pid}-m{k}"),
                "status": "active", "medicationCodeableConcept": {"text": m}, "subject": subject}}));
        }
        for (k, a) in r.allergies.iter().enumerate() {
            entries.push(json!({"resource": {"resourceType": "AllergyIntolerance", "id": format!("{pid}-a{k}"),
                "code": {"text": a}, "patient": subject}}));
        }
    }
    json!({"resourceType": "Bundle", "type": "collection", "entry": entries})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_json(v: Value) -> Result<Parsed> {
        parse(Path::new("t.json"), v.to_string().as_bytes())
    }

    fn patient_json(id: &str, mrn: &str) -> Value {
        json!({"fullUrl": format!("urn:uuid:{id}"), "resource": {"resourceType": "Patient", "id": id,
            "identifier": [{"type": {"coding": [{"system": MR_SYSTEM, "code": "MR"}]}, "value": mrn}],
            "name": [{"family": "Lovelace", "given": ["Ada", "King"]}],
            "gender": "female", "birthDate": "1950-12-10",
            "extension": [{"url": format!("{EXT}baseline-body-temperature"),
                "valueQuantity": {"value": 98.6, "code": "[degF]"}}]}})
    }

    #[test]
    fn patient_with_lists_and_fahrenheit_baseline() -> Result<()> {
        let p = parse_json(json!({"resourceType": "Bundle", "entry": [
            patient_json("a", "M1"),
            {"resource": {"resourceType": "Condition", "code": {"text": "COPD"}, "subject": {"reference": "Patient/a"}}},
            {"resource": {"resourceType": "Condition", "clinicalStatus": {"coding": [{"code": "resolved"}]},
                "code": {"text": "Pneumonia"}, "subject": {"reference": "urn:uuid:a"}}},
            {"resource": {"resourceType": "AllergyIntolerance", "code": {"coding": [{"display": "Penicillin"}]},
                "patient": {"reference": "urn:uuid:a"}}},
        ]}))?;
        assert!(p.rejected.is_empty(), "{:?}", p.rejected);
        let r = &p.records[0].1;
        assert_eq!(r.given_name, "Ada King");
        assert_eq!(r.conditions, ["COPD"]);
        assert_eq!(r.allergies, ["Penicillin"]);
        let t = r.baseline.temp_c.unwrap_or_default();
        assert!((t - 37.0).abs() < 1e-9, "{t}");
        Ok(())
    }

    #[test]
    fn bad_entry_rejects_its_patient_and_names_the_entry() -> Result<()> {
        let p = parse_json(json!({"resourceType": "Bundle", "entry": [
            patient_json("a", "M1"),
            patient_json("b", "M2"),
            {"resource": {"resourceType": "MedicationStatement", "id": "x", "status": "active",
                "subject": {"reference": "urn:uuid:b"}}},
        ]}))?;
        assert_eq!(p.records.len(), 1);
        let locations: Vec<_> = p.rejected.iter().map(|r| r.location.as_str()).collect();
        assert!(
            locations.contains(&"entry 3 (MedicationStatement/x)"),
            "{locations:?}"
        );
        assert!(locations.contains(&"entry 2 (Patient/b)"), "{locations:?}");
        Ok(())
    }

    #[test]
    fn not_a_bundle_is_a_file_error() {
        assert!(matches!(
            parse_json(json!({"resourceType": "Patient"})),
            Err(Error::InvalidFile { .. })
        ));
        assert!(matches!(
            parse(Path::new("t.json"), b"{\"resourceType\": \"Bund"),
            Err(Error::InvalidFile { .. })
        ));
    }
}
