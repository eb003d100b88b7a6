//! The registry's FHIR R4 Bundle import: any file gives records and
//! rejected entries with their reasons, or a file error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wardwatch_core::import::{Format, parse};

fuzz_target!(|bytes: &[u8]| {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).expect("a valid date");
    let _ = parse(std::path::Path::new("fuzz.json"), Format::Fhir, bytes, today);
});
