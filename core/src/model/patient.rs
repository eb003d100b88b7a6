//! A patient as the hospital's registry describes them, plus what Wardwatch needs
//! to interpret their vital signs: baseline vitals, the NEWS2 SpO2 scale and the
//! consent to receive alerts.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    Female,
    Male,
    Other,
    Unknown,
}

impl Sex {
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }

    /// Accepts FHIR `AdministrativeGender` codes and the usual one-letter forms.
    pub fn parse(s: &str) -> Result<Sex> {
        match s.trim().to_ascii_lowercase().as_str() {
            "female" | "f" => Ok(Sex::Female),
            "male" | "m" => Ok(Sex::Male),
            "other" | "o" => Ok(Sex::Other),
            "unknown" | "u" | "" => Ok(Sex::Unknown),
            other => Err(Error::InvalidInput {
                what: "sex",
                reason: format!("`{other}` is not one of female, male, other, unknown"),
            }),
        }
    }
}

/// NEWS2 SpO2 scale (RCP 2017, chart 1): scale 2 is for patients with
/// hypercapnic respiratory failure whose prescribed target is 88–92 %. The one
/// type is the scoring crate's, so the record and the score cannot disagree.
pub use wardwatch_score::Spo2Scale;

/// Parses the scale's chart number (1 or 2) from a registry field.
pub fn spo2_scale_from_number(n: i64) -> Result<Spo2Scale> {
    Spo2Scale::from_number(n).ok_or_else(|| Error::InvalidInput {
        what: "NEWS2 SpO2 scale",
        reason: format!("`{n}` is not 1 or 2"),
    })
}

/// The patient's usual vital signs, when the record gives them. Scoring falls
/// back to a learned baseline for whatever is absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub hr_bpm: Option<f64>,
    pub rr_per_min: Option<f64>,
    pub sbp_mmhg: Option<f64>,
    pub spo2_pct: Option<f64>,
    pub temp_c: Option<f64>,
}

impl Baseline {
    /// Rejects values no living patient has as a baseline.
    pub fn validate(&self) -> Result<()> {
        let checks: [(&'static str, Option<f64>, f64, f64); 5] = [
            ("baseline heart rate", self.hr_bpm, 20.0, 250.0),
            ("baseline respiratory rate", self.rr_per_min, 3.0, 70.0),
            ("baseline systolic pressure", self.sbp_mmhg, 50.0, 260.0),
            ("baseline SpO2", self.spo2_pct, 50.0, 100.0),
            ("baseline temperature", self.temp_c, 30.0, 43.0),
        ];
        for (what, value, lo, hi) in checks {
            if let Some(v) = value
                && (!v.is_finite() || v < lo || v > hi)
            {
                return Err(Error::InvalidInput {
                    what,
                    reason: format!("{v} is outside the plausible range {lo}–{hi}"),
                });
            }
        }
        Ok(())
    }
}

/// Drug classes that change how vital signs are read (a beta-blocker blunts
/// tachycardia; an anticoagulant matters for AF). Derived from medication names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MedicationClass {
    BetaBlocker,
    Anticoagulant,
    Antiarrhythmic,
    Insulin,
}

impl MedicationClass {
    /// International non-proprietary names per class (WHO ATC groups C07, B01A,
    /// C01B and A10A). A name matches when it contains one of these words.
    const NAMES: &'static [(MedicationClass, &'static [&'static str])] = &[
        (
            MedicationClass::BetaBlocker,
            &[
                "metoprolol",
                "bisoprolol",
                "atenolol",
                "carvedilol",
                "propranolol",
                "nebivolol",
                "labetalol",
                "sotalol",
                "esmolol",
            ],
        ),
        (
            MedicationClass::Anticoagulant,
            &[
                "warfarin",
                "apixaban",
                "rivaroxaban",
                "dabigatran",
                "edoxaban",
                "heparin",
                "enoxaparin",
                "dalteparin",
            ],
        ),
        (
            MedicationClass::Antiarrhythmic,
            &[
                "amiodarone",
                "flecainide",
                "dronedarone",
                "digoxin",
                "propafenone",
            ],
        ),
        (MedicationClass::Insulin, &["insulin"]),
    ];

    pub fn of(medication: &str) -> Vec<MedicationClass> {
        let lower = medication.to_ascii_lowercase();
        Self::NAMES
            .iter()
            .filter(|(_, names)| names.iter().any(|n| lower.contains(n)))
            .map(|(class, _)| *class)
            .collect()
    }
}

/// The full record of one patient, as imported and as shown in the detail view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientRecord {
    pub mrn: String,
    pub family_name: String,
    pub given_name: String,
    /// `None`: unknown (FHIR `Patient.birthDate` is 0..1; an unidentified
    /// emergency admission has none). Nothing in scoring uses the age.
    pub birth_date: Option<NaiveDate>,
    pub sex: Sex,
    pub ward: Option<String>,
    pub bed: Option<String>,
    pub attending: Option<String>,
    pub conditions: Vec<String>,
    pub medications: Vec<String>,
    pub allergies: Vec<String>,
    pub baseline: Baseline,
    pub spo2_scale: Spo2Scale,
    pub alert_consent: bool,
    pub admitted_at: Option<DateTime<Utc>>,
    pub discharged_at: Option<DateTime<Utc>>,
}

impl PatientRecord {
    /// Checks what the importers cannot express in types; called before a
    /// record is stored.
    pub fn validate(&self, today: NaiveDate) -> Result<()> {
        let mrn_ok = !self.mrn.is_empty()
            && self.mrn.len() <= 64
            && self
                .mrn
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !mrn_ok {
            return Err(Error::InvalidInput {
                what: "MRN",
                reason: format!(
                    "`{}` must be 1–64 letters, digits, `-`, `_` or `.`",
                    self.mrn
                ),
            });
        }
        if self.family_name.trim().is_empty() {
            return Err(Error::InvalidInput {
                what: "family name",
                reason: "is empty".into(),
            });
        }
        self.check_text_limits()?;
        if let Some(birth) = self.birth_date {
            if birth > today {
                return Err(Error::InvalidInput {
                    what: "birth date",
                    reason: format!("{birth} is in the future"),
                });
            }
            if today.year() - birth.year() > 130 {
                return Err(Error::InvalidInput {
                    what: "birth date",
                    reason: format!("{birth} gives an age over 130 years"),
                });
            }
        }
        if let (Some(a), Some(d)) = (self.admitted_at, self.discharged_at)
            && d < a
        {
            return Err(Error::InvalidInput {
                what: "discharge time",
                reason: format!("{d} is before the admission {a}"),
            });
        }
        self.baseline.validate()
    }

    /// Every text field within its documented limit (docs/import.md), and
    /// free of control characters and bidirectional overrides, which would
    /// garble a terminal or reorder a name on screen (issue 9, item 8).
    fn check_text_limits(&self) -> Result<()> {
        let fields: [(&'static str, Option<&str>, usize); 5] = [
            ("family name", Some(&self.family_name), MAX_NAME_CHARS),
            ("given name", Some(&self.given_name), MAX_NAME_CHARS),
            ("ward", self.ward.as_deref(), MAX_PLACE_CHARS),
            ("bed", self.bed.as_deref(), MAX_PLACE_CHARS),
            ("attending", self.attending.as_deref(), MAX_NAME_CHARS),
        ];
        for (what, value, max) in fields {
            if let Some(v) = value {
                check_text(what, v, max)?;
            }
        }
        for (what, list) in [
            ("conditions", &self.conditions),
            ("medications", &self.medications),
            ("allergies", &self.allergies),
        ] {
            if list.len() > MAX_LIST_ENTRIES {
                return Err(Error::InvalidInput {
                    what,
                    reason: format!("{} entries; at most {MAX_LIST_ENTRIES}", list.len()),
                });
            }
            for entry in list {
                check_text(what, entry, MAX_ENTRY_CHARS)?;
            }
        }
        Ok(())
    }

    /// Whole years of age; `None` when the birth date is unknown.
    pub fn age_years(&self, today: NaiveDate) -> Option<u32> {
        self.birth_date.and_then(|b| today.years_since(b))
    }

    /// This record, read from a file that carries only `carried`, laid over
    /// the `stored` one: what the file does not carry stays as stored
    /// (issue 9: a registry export without the allergy column must not
    /// erase a patient's allergies).
    pub fn over(mut self, stored: &PatientRecord, carried: Carried) -> PatientRecord {
        use RecordField as F;
        let keep = |f: RecordField| !carried.has(f);
        if keep(F::Name) {
            self.family_name.clone_from(&stored.family_name);
            self.given_name.clone_from(&stored.given_name);
        }
        if keep(F::BirthDate) {
            self.birth_date = stored.birth_date;
        }
        if keep(F::Sex) {
            self.sex = stored.sex;
        }
        if keep(F::Ward) {
            self.ward.clone_from(&stored.ward);
        }
        if keep(F::Bed) {
            self.bed.clone_from(&stored.bed);
        }
        if keep(F::Attending) {
            self.attending.clone_from(&stored.attending);
        }
        if keep(F::Conditions) {
            self.conditions.clone_from(&stored.conditions);
        }
        if keep(F::Medications) {
            self.medications.clone_from(&stored.medications);
        }
        if keep(F::Allergies) {
            self.allergies.clone_from(&stored.allergies);
        }
        let (b, sb) = (&mut self.baseline, &stored.baseline);
        for (f, mine, theirs) in [
            (F::BaselineHr, &mut b.hr_bpm, sb.hr_bpm),
            (F::BaselineRr, &mut b.rr_per_min, sb.rr_per_min),
            (F::BaselineSbp, &mut b.sbp_mmhg, sb.sbp_mmhg),
            (F::BaselineSpo2, &mut b.spo2_pct, sb.spo2_pct),
            (F::BaselineTemp, &mut b.temp_c, sb.temp_c),
        ] {
            if keep(f) {
                *mine = theirs;
            }
        }
        if keep(F::Spo2Scale) {
            self.spo2_scale = stored.spo2_scale;
        }
        if keep(F::AlertConsent) {
            self.alert_consent = stored.alert_consent;
        }
        if keep(F::AdmittedAt) {
            self.admitted_at = stored.admitted_at;
        }
        if keep(F::DischargedAt) {
            self.discharged_at = stored.discharged_at;
        }
        self
    }

    /// The fields `stored` had that this record (already laid over it)
    /// empties: an empty cell in a column the file has. Imports report them.
    pub fn cleared_from(&self, stored: &PatientRecord) -> Vec<&'static str> {
        let b = (&self.baseline, &stored.baseline);
        let lost = |now: bool, before: bool| before && !now;
        [
            (
                "birth date",
                lost(self.birth_date.is_some(), stored.birth_date.is_some()),
            ),
            ("ward", lost(self.ward.is_some(), stored.ward.is_some())),
            ("bed", lost(self.bed.is_some(), stored.bed.is_some())),
            (
                "attending",
                lost(self.attending.is_some(), stored.attending.is_some()),
            ),
            (
                "conditions",
                lost(!self.conditions.is_empty(), !stored.conditions.is_empty()),
            ),
            (
                "medications",
                lost(!self.medications.is_empty(), !stored.medications.is_empty()),
            ),
            (
                "allergies",
                lost(!self.allergies.is_empty(), !stored.allergies.is_empty()),
            ),
            (
                "baseline HR",
                lost(b.0.hr_bpm.is_some(), b.1.hr_bpm.is_some()),
            ),
            (
                "baseline RR",
                lost(b.0.rr_per_min.is_some(), b.1.rr_per_min.is_some()),
            ),
            (
                "baseline SBP",
                lost(b.0.sbp_mmhg.is_some(), b.1.sbp_mmhg.is_some()),
            ),
            (
                "baseline SpO2",
                lost(b.0.spo2_pct.is_some(), b.1.spo2_pct.is_some()),
            ),
            (
                "baseline temperature",
                lost(b.0.temp_c.is_some(), b.1.temp_c.is_some()),
            ),
            (
                "admission time",
                lost(self.admitted_at.is_some(), stored.admitted_at.is_some()),
            ),
            (
                "discharge time",
                lost(self.discharged_at.is_some(), stored.discharged_at.is_some()),
            ),
        ]
        .into_iter()
        .filter(|(_, lost)| *lost)
        .map(|(name, _)| name)
        .collect()
    }

    pub fn medication_classes(&self) -> Vec<MedicationClass> {
        let mut classes: Vec<MedicationClass> = self
            .medications
            .iter()
            .flat_map(|m| MedicationClass::of(m))
            .collect();
        classes.sort_by_key(|c| *c as u8);
        classes.dedup();
        classes
    }

    pub fn display_name(&self) -> String {
        format!("{}, {}", self.family_name, self.given_name)
    }
}

/// Longest family, given or attending name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest ward or bed name.
pub const MAX_PLACE_CHARS: usize = 64;
/// Longest condition, medication or allergy entry.
pub const MAX_ENTRY_CHARS: usize = 500;
/// Most entries in one list.
pub const MAX_LIST_ENTRIES: usize = 100;

fn check_text(what: &'static str, value: &str, max: usize) -> Result<()> {
    let chars = value.chars().count();
    if chars > max {
        return Err(Error::InvalidInput {
            what,
            reason: format!("{chars} characters; at most {max}"),
        });
    }
    // Cc (controls), and the Unicode bidirectional embeddings, overrides
    // and isolates (U+202A–U+202E, U+2066–U+2069).
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
    {
        return Err(Error::InvalidInput {
            what,
            reason: format!("contains the control character U+{:04X}", c as u32),
        });
    }
    Ok(())
}

/// The parts of a record a registry file may or may not carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordField {
    /// Family and given name.
    Name,
    BirthDate,
    Sex,
    Ward,
    Bed,
    Attending,
    Conditions,
    Medications,
    Allergies,
    BaselineHr,
    BaselineRr,
    BaselineSbp,
    BaselineSpo2,
    BaselineTemp,
    Spo2Scale,
    AlertConsent,
    AdmittedAt,
    DischargedAt,
}

/// Which [`RecordField`]s a file carries for a record (the MRN always).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Carried(u32);

impl Carried {
    /// Everything: a whole record (the demo ward, a full export).
    pub const ALL: Carried = Carried(u32::MAX);
    pub const NONE: Carried = Carried(0);

    pub fn with(self, field: RecordField) -> Carried {
        Carried(self.0 | 1 << field as u32)
    }

    pub fn has(self, field: RecordField) -> bool {
        self.0 & (1 << field as u32) != 0
    }
}

/// One row of the ward overview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientSummary {
    pub mrn: String,
    pub name: String,
    /// `None`: the birth date is unknown.
    pub age_years: Option<u32>,
    pub sex: Sex,
    pub ward: Option<String>,
    pub bed: Option<String>,
    pub spo2_scale: Spo2Scale,
    pub conditions: Vec<String>,
    pub medication_classes: Vec<MedicationClass>,
    pub admitted: bool,
}

impl PatientSummary {
    pub fn of(record: &PatientRecord, today: NaiveDate) -> PatientSummary {
        PatientSummary {
            mrn: record.mrn.clone(),
            name: record.display_name(),
            age_years: record.age_years(today),
            sex: record.sex,
            ward: record.ward.clone(),
            bed: record.bed.clone(),
            spo2_scale: record.spo2_scale,
            conditions: record.conditions.clone(),
            medication_classes: record.medication_classes(),
            admitted: record.discharged_at.is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_blocker_is_recognised_inside_a_prescription_line() {
        assert_eq!(
            MedicationClass::of("Bisoprolol 2.5 mg once daily"),
            vec![MedicationClass::BetaBlocker]
        );
        assert!(MedicationClass::of("Paracetamol 1 g").is_empty());
    }

    #[test]
    fn impossible_baseline_is_rejected() {
        let b = Baseline {
            spo2_pct: Some(130.0),
            ..Baseline::default()
        };
        assert_eq!(
            b.validate().map_err(|e| e.kind()),
            Err(crate::ErrorKind::InvalidInput)
        );
    }
}
