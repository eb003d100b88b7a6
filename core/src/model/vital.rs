//! The vital signs Wardwatch stores, with their codes in the store and the
//! LOINC codes they arrive under (docs/wire-format.md).

use serde::{Deserialize, Serialize};

/// A numeric vital sign. The discriminant is the `vital` column's value:
/// never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vital {
    HeartRate = 1,
    RespRate = 2,
    Spo2 = 3,
    SystolicBp = 4,
    DiastolicBp = 5,
    TemperatureC = 6,
    /// ACVPU as 0 = A, 1 = C, 2 = V, 3 = P, 4 = U.
    Consciousness = 7,
    /// Supplemental oxygen flow, L/min; 0 = room air.
    O2FlowLpm = 8,
}

impl Vital {
    pub const ALL: [Vital; 8] = [
        Vital::HeartRate,
        Vital::RespRate,
        Vital::Spo2,
        Vital::SystolicBp,
        Vital::DiastolicBp,
        Vital::TemperatureC,
        Vital::Consciousness,
        Vital::O2FlowLpm,
    ];

    pub fn code(self) -> i64 {
        self as i64
    }

    /// This vital's place in [`Vital::ALL`], for arrays with a slot per
    /// vital.
    pub const fn index(self) -> usize {
        self as usize - 1
    }

    pub fn from_code(code: i64) -> Option<Vital> {
        Vital::ALL.into_iter().find(|v| v.code() == code)
    }

    /// The stable identifier of this vital in alarm keys (`hr_high`,
    /// `spo2_low`, …), stored in `alarms.key`: never change one. Display
    /// text is [`Vital::label`], free to change.
    pub fn key(self) -> &'static str {
        match self {
            Vital::HeartRate => "hr",
            Vital::RespRate => "rr",
            Vital::Spo2 => "spo2",
            Vital::SystolicBp => "sbp",
            Vital::DiastolicBp => "dbp",
            Vital::TemperatureC => "temp",
            Vital::Consciousness => "acvpu",
            Vital::O2FlowLpm => "o2",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Vital::HeartRate => "HR",
            Vital::RespRate => "RR",
            Vital::Spo2 => "SpO2",
            Vital::SystolicBp => "SBP",
            Vital::DiastolicBp => "DBP",
            Vital::TemperatureC => "Temp",
            Vital::Consciousness => "ACVPU",
            Vital::O2FlowLpm => "O2",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Vital::HeartRate | Vital::RespRate => "/min",
            Vital::Spo2 => "%",
            Vital::SystolicBp | Vital::DiastolicBp => "mmHg",
            Vital::TemperatureC => "°C",
            Vital::Consciousness => "",
            Vital::O2FlowLpm => "L/min",
        }
    }

    /// Values outside this range are impossible for a living patient or a
    /// working sensor and are quarantined, not stored (docs/wire-format.md).
    pub fn plausible_range(self) -> (f64, f64) {
        match self {
            Vital::HeartRate => (1.0, 350.0),
            Vital::RespRate => (1.0, 80.0),
            Vital::Spo2 => (1.0, 100.0),
            Vital::SystolicBp => (30.0, 300.0),
            Vital::DiastolicBp => (10.0, 250.0),
            Vital::TemperatureC => (25.0, 45.0),
            Vital::Consciousness => (0.0, 4.0),
            Vital::O2FlowLpm => (0.0, 70.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Vital;

    #[test]
    fn every_vital_has_its_own_slot_in_the_order_of_all() {
        for (i, v) in Vital::ALL.into_iter().enumerate() {
            assert_eq!(v.index(), i, "{v:?}");
            assert_eq!(Vital::from_code(v.code()), Some(v));
        }
    }
}
