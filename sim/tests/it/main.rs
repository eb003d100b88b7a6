//! Integration tests for wardwatch-sim (one binary, see STYLE.md): the
//! generator's determinism and wire format, episode effects, malformed-record
//! accounting, bit-exact WFDB replay, the SSE gateway over real sockets, and
//! the run loop's pacing and shutdown.

mod conformance;
mod ecg;
mod generator;
mod kinesis;
mod props;
mod replay;
mod run;
mod sse;

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use wardwatch_sim::ecg::EcgTraits;
use wardwatch_sim::{SimPatient, SimRecord, VitalBaseline};

/// The shared PhysioNet test data: `WARDWATCH_TESTDATA`, else `../shared/data`
/// next to the repository.
pub fn testdata() -> PathBuf {
    let dir = std::env::var_os("WARDWATCH_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"))
        });
    assert!(
        dir.join("mitdb/100.hea").is_file(),
        "test data missing: expected PhysioNet records under {} (set WARDWATCH_TESTDATA to the \
         folder holding mitdb/, challenge2015/ and mimic3wdb-matched/)",
        dir.display()
    );
    dir
}

pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0)
        .single()
        .expect("valid start time")
}

pub fn patients(n: usize) -> Vec<SimPatient> {
    (0..n)
        .map(|i| SimPatient {
            mrn: format!("T{i:05}"),
            device_id: Some(format!("MON-{i}")),
            baseline: VitalBaseline {
                hr_bpm: 70.0 + i as f64,
                ..VitalBaseline::default()
            },
            ecg_traits: EcgTraits::default(),
        })
        .collect()
}

pub fn json(r: &SimRecord) -> Value {
    serde_json::from_slice(&r.payload).expect("payload is JSON")
}

/// `code.coding[0].code`.
pub fn code(v: &Value) -> &str {
    v["code"]["coding"][0]["code"].as_str().unwrap_or_default()
}
