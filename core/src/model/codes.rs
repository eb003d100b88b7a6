//! The one table of codes on the wire (docs/wire-format.md): LOINC codes and
//! UCUM units of the numeric vital signs, IEEE 11073-10101 MDC codes of the
//! ECG leads and the pulse waveforms. The decoder reads with it and the simulator writes with it, so
//! the two cannot drift apart.

use super::Vital;

pub const LOINC: &str = "http://loinc.org";
pub const UCUM: &str = "http://unitsofmeasure.org";
/// IEEE 11073-10101 (MDC) as FHIR names it.
pub const MDC: &str = "urn:oid:2.16.840.1.113883.6.24";
/// MDC_ECG_ELEC_POTL: a multi-lead ECG observation, one component per lead.
pub const MDC_ECG_ELEC_POTL: u32 = 131_328;

/// A LOINC code a vital sign arrives under, with its UCUM unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VitalCode {
    pub vital: Vital,
    pub loinc: &'static str,
    pub display: &'static str,
    /// The canonical UCUM code (the decoder also converts a few others).
    pub ucum: &'static str,
}

/// Every accepted code; the first row of a vital is the one Wardwatch
/// itself writes.
pub const VITAL_CODES: &[VitalCode] = &[
    code(Vital::HeartRate, "8867-4", "Heart rate", "/min"),
    code(Vital::RespRate, "9279-1", "Respiratory rate", "/min"),
    code(
        Vital::Spo2,
        "2708-6",
        "Oxygen saturation in Arterial blood",
        "%",
    ),
    code(
        Vital::Spo2,
        "59408-5",
        "Oxygen saturation in Arterial blood by Pulse oximetry",
        "%",
    ),
    code(Vital::TemperatureC, "8310-5", "Body temperature", "Cel"),
    code(
        Vital::O2FlowLpm,
        "3151-8",
        "Inhaled oxygen flow rate",
        "L/min",
    ),
    code(
        Vital::SystolicBp,
        "8480-6",
        "Systolic blood pressure",
        "mm[Hg]",
    ),
    code(
        Vital::DiastolicBp,
        "8462-4",
        "Diastolic blood pressure",
        "mm[Hg]",
    ),
];

const fn code(
    vital: Vital,
    loinc: &'static str,
    display: &'static str,
    ucum: &'static str,
) -> VitalCode {
    VitalCode {
        vital,
        loinc,
        display,
        ucum,
    }
}

/// The vital a LOINC code stands for.
pub fn vital_for_loinc(loinc: &str) -> Option<Vital> {
    VITAL_CODES
        .iter()
        .find(|c| c.loinc == loinc)
        .map(|c| c.vital)
}

/// The code Wardwatch writes a vital under; `None` for a vital that has no
/// LOINC code on the wire (consciousness).
pub fn code_of(vital: Vital) -> Option<&'static VitalCode> {
    VITAL_CODES.iter().find(|c| c.vital == vital)
}

/// An ECG lead and its MDC code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EcgLead {
    pub mdc: u32,
    /// `mdc` as the Coding's `code` string.
    pub mdc_code: &'static str,
    pub mdc_name: &'static str,
    /// Lower-case tag used in Observation ids.
    pub tag: &'static str,
}

const fn lead(
    mdc: u32,
    mdc_code: &'static str,
    mdc_name: &'static str,
    tag: &'static str,
) -> EcgLead {
    EcgLead {
        mdc,
        mdc_code,
        mdc_name,
        tag,
    }
}

/// MDC_ECG_ELEC_POTL_I, _II, _V1…_V6 (131329–131336) and _III, _AVR, _AVL,
/// _AVF (131389–131392), per IEEE 11073-10101.
pub const ECG_LEADS: &[EcgLead] = &[
    lead(131_329, "131329", "MDC_ECG_ELEC_POTL_I", "i"),
    lead(131_330, "131330", "MDC_ECG_ELEC_POTL_II", "ii"),
    lead(131_331, "131331", "MDC_ECG_ELEC_POTL_V1", "v1"),
    lead(131_332, "131332", "MDC_ECG_ELEC_POTL_V2", "v2"),
    lead(131_333, "131333", "MDC_ECG_ELEC_POTL_V3", "v3"),
    lead(131_334, "131334", "MDC_ECG_ELEC_POTL_V4", "v4"),
    lead(131_335, "131335", "MDC_ECG_ELEC_POTL_V5", "v5"),
    lead(131_336, "131336", "MDC_ECG_ELEC_POTL_V6", "v6"),
    lead(131_389, "131389", "MDC_ECG_ELEC_POTL_III", "iii"),
    lead(131_390, "131390", "MDC_ECG_ELEC_POTL_AVR", "avr"),
    lead(131_391, "131391", "MDC_ECG_ELEC_POTL_AVL", "avl"),
    lead(131_392, "131392", "MDC_ECG_ELEC_POTL_AVF", "avf"),
];

impl EcgLead {
    pub const II: EcgLead = lead(131_330, "131330", "MDC_ECG_ELEC_POTL_II", "ii");

    /// The lead with this MDC code.
    pub fn from_mdc(mdc: u32) -> Option<EcgLead> {
        ECG_LEADS.iter().copied().find(|l| l.mdc == mdc)
    }

    /// The lead for a WFDB signal description: `I`, `II`, `III`, `V1`–`V6`,
    /// `aVR`, `aVL`, `aVF`, and the modified limb leads of the MIT-BIH
    /// database (`MLII` is lead II in MDC terms). `None` for anything else
    /// (e.g. MIMIC's bare `V`, whose chest position is unknown).
    pub fn from_wfdb_name(name: &str) -> Option<EcgLead> {
        let name = name.trim().to_ascii_uppercase();
        let name = name
            .strip_prefix("ECG ")
            .or_else(|| name.strip_prefix("ML"))
            .unwrap_or(&name);
        ECG_LEADS
            .iter()
            .copied()
            .find(|l| l.tag.eq_ignore_ascii_case(name))
    }
}

/// A pulsatile waveform: the pulse oximeter's plethysmogram or an arterial
/// pressure line, with its MDC code (IEEE 11073-10101: partition 2, SCADA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PulseWave {
    pub mdc: u32,
    pub mdc_code: &'static str,
    pub mdc_name: &'static str,
    /// Lower-case tag used in Observation ids.
    pub tag: &'static str,
    /// An arterial pressure in mmHg (else a pleth in arbitrary units).
    pub arterial: bool,
    /// The UCUM unit its samples are written in.
    pub ucum: &'static str,
}

/// MDC_PULS_OXIM_PLETH (2::19380), MDC_PRESS_BLD_ART_ABP (2::18960) and
/// the unspecified arterial pressure MDC_PRESS_BLD_ART (2::18944).
pub const PULSE_WAVES: &[PulseWave] = &[
    PulseWave {
        mdc: 150_452,
        mdc_code: "150452",
        mdc_name: "MDC_PULS_OXIM_PLETH",
        tag: "pleth",
        arterial: false,
        ucum: "{arb'U}",
    },
    PulseWave {
        mdc: 150_032,
        mdc_code: "150032",
        mdc_name: "MDC_PRESS_BLD_ART_ABP",
        tag: "abp",
        arterial: true,
        ucum: "mm[Hg]",
    },
    PulseWave {
        mdc: 150_016,
        mdc_code: "150016",
        mdc_name: "MDC_PRESS_BLD_ART",
        tag: "art",
        arterial: true,
        ucum: "mm[Hg]",
    },
];

impl PulseWave {
    pub const PLETH: PulseWave = PULSE_WAVES[0];
    pub const ABP: PulseWave = PULSE_WAVES[1];

    /// The waveform with this MDC code.
    pub fn from_mdc(mdc: u32) -> Option<PulseWave> {
        PULSE_WAVES.iter().copied().find(|w| w.mdc == mdc)
    }

    /// The waveform for a WFDB signal description: `PLETH` (the Challenge
    /// 2015 and MIMIC-III name), `ABP` and `ART` (arterial pressure).
    pub fn from_wfdb_name(name: &str) -> Option<PulseWave> {
        match name.trim().to_ascii_uppercase().as_str() {
            "PLETH" => Some(PulseWave::PLETH),
            "ABP" => Some(PulseWave::ABP),
            "ART" => Some(PULSE_WAVES[2]),
            _ => None,
        }
    }
}

/// The MDC name of a sampled waveform's code (an ECG lead or a pulse wave).
pub fn waveform_name(mdc: u32) -> Option<&'static str> {
    EcgLead::from_mdc(mdc)
        .map(|l| l.mdc_name)
        .or_else(|| PulseWave::from_mdc(mdc).map(|w| w.mdc_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulse_wave_codes_are_partition_two_of_the_nomenclature() {
        // MDC code = partition × 65536 + term code (IEEE 11073-10101).
        assert_eq!(PulseWave::PLETH.mdc, 2 * 65_536 + 19_380);
        assert_eq!(PulseWave::ABP.mdc, 2 * 65_536 + 18_960);
        for w in PULSE_WAVES {
            assert_eq!(w.mdc_code, w.mdc.to_string());
            assert_eq!(PulseWave::from_mdc(w.mdc), Some(*w));
            assert!(EcgLead::from_mdc(w.mdc).is_none());
        }
        assert_eq!(waveform_name(131_330), Some("MDC_ECG_ELEC_POTL_II"));
        assert_eq!(waveform_name(150_452), Some("MDC_PULS_OXIM_PLETH"));
    }

    #[test]
    fn every_lead_and_vital_code_is_found_by_its_own_key() {
        for l in ECG_LEADS {
            assert_eq!(l.mdc_code.parse::<u32>().ok(), Some(l.mdc));
            assert_eq!(EcgLead::from_mdc(l.mdc), Some(*l));
        }
        assert_eq!(EcgLead::from_wfdb_name("MLII"), Some(EcgLead::II));
        assert_eq!(EcgLead::from_wfdb_name("ECG II"), Some(EcgLead::II));
        assert_eq!(EcgLead::from_wfdb_name("v5").map(|l| l.mdc), Some(131_335));
        assert_eq!(EcgLead::from_wfdb_name("V"), None);
        for c in VITAL_CODES {
            assert_eq!(vital_for_loinc(c.loinc), Some(c.vital));
        }
        assert_eq!(code_of(Vital::Spo2).map(|c| c.loinc), Some("2708-6"));
        assert_eq!(code_of(Vital::Consciousness), None);
        // Every vital but consciousness (its own system) has a wire code.
        for v in Vital::ALL {
            assert_eq!(code_of(v).is_some(), v != Vital::Consciousness, "{v:?}");
        }
    }
}
