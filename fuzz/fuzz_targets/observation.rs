//! The FHIR Observation decoder: any bytes a stream may carry decode to an
//! observation or a rejection with its reason, never a panic.
#![no_main]

use chrono::TimeZone;
use libfuzzer_sys::fuzz_target;
use wardwatch_core::ingest::observation::decode;

fuzz_target!(|bytes: &[u8]| {
    let now = chrono::Utc
        .with_ymd_and_hms(2026, 11, 25, 8, 0, 0)
        .single()
        .expect("a valid time");
    let _ = decode(bytes, now);
});
