//! The data model shared by the store, the importers and the front ends.

pub mod codes;
pub mod patient;
pub mod score;
pub mod vital;

pub use patient::{
    Baseline, Carried, MedicationClass, PatientRecord, PatientSummary, RecordField, Sex, Spo2Scale,
    spo2_scale_from_number,
};
pub use score::{EcgEvent, ScoreDetail};
pub use vital::Vital;
