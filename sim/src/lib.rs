//! `wardwatch-sim`: the cloud simulator. It produces realistic multi-patient
//! vital-sign streams — FHIR Observations in the wire format of
//! `docs/wire-format.md` — for the demo, the ingest tests and the benchmarks:
//! a synthetic ward with scripted clinical episodes ([`generator`],
//! [`scenario`]), replays of real PhysioNet recordings ([`replay`]), and the
//! outputs a receiver subscribes to: an SSE gateway ([`sse`]) or any
//! [`sink::RecordSink`] (Kinesis through `wardwatch-cloud`).
//!
//! ```no_run
//! # async fn demo() -> wardwatch_sim::Result<()> {
//! use wardwatch_sim::*;
//! let start = chrono::Utc::now(); // the caller owns the clock; tests pin it
//! let patients = SimPatient::from_demo(24, 7, start.date_naive());
//! let mut config = GeneratorConfig::new(patients, 7, start);
//! config.scenario = Scenario::demo();
//! let log = SharedLog::default();
//! let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
//! let gateway = SseGateway::bind("127.0.0.1:0", log.clone(), GatewayOptions::default(),
//!     async { let _ = stop_rx.await; }).await?;
//! let mut sink = log.clone();
//! let ctrl_c = async { let _ = tokio::signal::ctrl_c().await; };
//! let report = run_sim(Generator::new(config)?, &mut sink, Pace::RealTime, ctrl_c).await?;
//! let _ = stop_tx.send(());
//! gateway.stopped().await;
//! println!("{} records, {} malformed", report.emitted_total, report.malformed);
//! # Ok(()) }
//! ```
//!
//! # Wire format details a receiver relies on
//!
//! - One record = one Observation, compact JSON on one line, `status` `final`,
//!   `category` vital-signs, `subject.identifier.value` = MRN, optional
//!   `device.identifier.value` (device id) and `device.display`.
//! - Ids: `{mrn}-{tag}-{epoch_ms}` with tag `hr`, `rr`, `spo2`, `temp`, `bp`
//!   (`abp`/`nbp` from MIMIC), `ecg-ii` (`ecg-{lead}`), `wave-pleth`,
//!   `wave-abp`, `wave-art` (pulse waveforms); a sub-millisecond
//!   block start adds `.nnnnnn` (ns within the ms). Malformed records:
//!   `{mrn}-bad-{kind}-{n}`. Unique per run as long as one MRN is fed by one
//!   source.
//! - Numerics: `valueQuantity` with the UCUM code in both `unit` and `code`
//!   (`/min`, `%`, `Cel`, `mm[Hg]`); BP as the `85354-9` panel with `8480-6` and
//!   `8462-4` components; no signal → `dataAbsentReason` (system
//!   `http://terminology.hl7.org/CodeSystem/data-absent-reason`, code `error`).
//!
//! # ECG encoding (bit-exact replay)
//!
//! Each ECG Observation holds one lead, one block (default 2 s) of samples:
//! `valueSampledData.data` = the samples as **the integers of the WFDB file,
//! unchanged** (raw ADC units, baseline included), `E` for the format's
//! invalid-sample sentinel; `factor` = `1 / gain` (mV per ADC unit),
//! `origin.value` = `−baseline / gain` (mV), `period` = `1000 / fs` ms,
//! `dimensions` = 1. So `origin + factor × data` is WFDB's physical value in
//! mV, and the integers a receiver stores are the recording's own. For
//! MIT-BIH 100 MLII: `factor` 0.005, `origin` −5.12, `period`
//! 2.7777777777777777, blocks of 720 samples, the last one 560 (650,000 =
//! 902 × 720 + 560); concatenating `data` of the blocks in `effectiveDateTime`
//! order gives `Record::read_raw(MLII)` exactly. Synthetic ECG uses the same
//! layout with `factor` 0.005 and `origin` 0. A block with no valid sample
//! (sensor disconnect, `~` gap, absent segment) is by default an ECG
//! Observation whose `data` is all `E` ([`observation::EcgGap`]; the record's
//! `data_absent` is true), or optionally `dataAbsentReason` without
//! `valueSampledData`, or nothing. Blocks never straddle WFDB segments.
//! A replayed pleth or arterial pressure is written the same way under its
//! MDC code and unit (`{arb'U}`, `mm[Hg]`); the synthetic pleth has
//! `factor` 0.001 and `origin` 0.
//!
//! # Scenario files
//!
//! JSON, unknown fields rejected. `episodes[]`: `mrn` *or* `bed` (0-based
//! index into the patient list), `kind`, `start_s`, `duration_s`, optional
//! `params`. Kinds and parameters (defaults): `tachycardia` {`hr`: 165},
//! `bradycardia` {`hr`: 35}, `asystole`, `atrial_fibrillation` {`hr`: 125},
//! `desaturation` {`spo2`: 82}, `hypotension` {`sbp`: 78}, `fever` {`temp`:
//! 39.3}, `tachypnoea` {`rr`: 30}, `motion_artefact` {`mv`: 1.5},
//! `lead_off` (the ECG a flat line while the heart, its HR numeric and the
//! pleth go on), `sensor_disconnect` {`signals`: all of `ecg hr rr spo2 bp
//! temp pleth`, `silent`: false}. `malformed`: {`rate`: malformed records injected per valid
//! HR/RR/SpO2/temperature record (0–1), `kinds`: default all of
//! `invalid_json unknown_code unknown_unit impossible_value unknown_patient
//! future_timestamp missing_subject`}. `repeat_s`: optional cycle length.
//! See [`SCENARIO_EXAMPLE`].

pub mod demo;
pub mod ecg;
pub mod error;
pub mod generator;
pub mod kinesis;
pub mod observation;
pub mod record;
pub mod replay;
pub mod run;
pub mod scenario;
pub mod sink;
pub mod sse;

pub use error::{Error, ErrorKind, Result};
pub use generator::{Generator, GeneratorConfig, SimPatient, VitalBaseline};
pub use kinesis::KinesisSink;
pub use observation::EcgGap;
pub use record::{Interleave, MalformedKind, RecordKind, RecordSource, SimBatch, SimRecord};
pub use replay::{EcgReplay, EcgReplayOptions, NumericsReplay, NumericsReplayOptions};
pub use run::{Pace, PatientCounts, SimReport, run_sim};
pub use scenario::{Episode, EpisodeKind, PatientRef, Scenario, SignalKind};
pub use sink::{NullSink, RecordSink, VecSink};
pub use sse::{GatewayOptions, SharedLog, SseGateway, StartFrom};

/// An example scenario file (parsed in the tests, so it stays valid).
pub const SCENARIO_EXAMPLE: &str = r#"{
  "malformed": { "rate": 0.01, "kinds": ["invalid_json", "impossible_value"] },
  "episodes": [
    { "bed": 0, "kind": "asystole", "start_s": 60, "duration_s": 15 },
    { "mrn": "WW100001", "kind": "tachycardia", "start_s": 120, "duration_s": 90,
      "params": { "hr": 170 } },
    { "bed": 2, "kind": "sensor_disconnect", "start_s": 30, "duration_s": 20,
      "params": { "signals": ["ecg"] } },
    { "bed": 3, "kind": "desaturation", "start_s": 0, "duration_s": 300,
      "params": { "spo2": 84 } }
  ]
}"#;
