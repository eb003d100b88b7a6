//! Replays real recordings (PhysioNet WFDB, read with `wardwatch-wfdb`) as
//! streams for one MRN: an ECG lead, a pleth or an arterial pressure as
//! `valueSampledData` blocks at the record's own rate ([`EcgReplay`], one
//! per signal), and MIMIC-III numerics records (`…n.hea`,
//! one sample a minute) as numeric Observations ([`NumericsReplay`]).
//!
//! ECG samples are emitted as the raw ADC integers from the file, with
//! `factor = 1/gain` and `origin = −baseline/gain`, so `origin + factor × data`
//! is WFDB's physical value and `data` itself is bit-exact (crate docs, "ECG
//! encoding"). Blocks never straddle a segment boundary, because segments may
//! differ in gain or baseline. The timeline is covered without holes: every
//! block of a `~` gap segment, an absent segment or a segment without the
//! lead becomes one ECG Observation without a valid sample (sensor
//! disconnect; all `E`, or `dataAbsentReason`, per [`EcgGap`]); an invalid
//! sample inside a present segment is written `E`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use wardwatch_wfdb::{MultiRecord, Record, SegmentContent, SignalSpec};

use crate::error::{Error, Result};
use crate::observation::{
    self as obs, EcgGap, EcgLead, EcgScale, NumericVital, PulseWave, Subject,
};
use crate::record::{RecordKind, RecordSource, SimBatch, SimRecord};

/// Whom and how to replay an ECG record as.
#[derive(Debug, Clone)]
pub struct EcgReplayOptions {
    pub mrn: String,
    pub device_id: Option<String>,
    /// Time of the record's first sample.
    pub start: DateTime<Utc>,
    /// Signal name as in the header (`MLII`, `II`, `PLETH`, `ABP`, …);
    /// `None` = the first signal that is a known lead.
    pub lead: Option<String>,
    /// Seconds per Observation (default 2).
    pub block_s: u32,
    /// How blocks without samples are written (default all `E`).
    pub gap: EcgGap,
}

impl EcgReplayOptions {
    pub fn new(mrn: impl Into<String>, start: DateTime<Utc>) -> Self {
        EcgReplayOptions {
            mrn: mrn.into(),
            device_id: None,
            start,
            lead: None,
            block_s: 2,
            gap: EcgGap::default(),
        }
    }
}

/// What a replayed signal is on the wire.
#[derive(Debug, Clone, Copy)]
enum Wave {
    Lead(EcgLead),
    Pulse(PulseWave),
}

#[derive(Debug)]
enum Part {
    /// Samples of the lead are on disk.
    Data {
        start_sample: u64,
        samples: u64,
        record: Box<Record>,
        signal: usize,
    },
    /// No samples: `~`, absent segment, or the segment lacks the lead.
    Gap { start_sample: u64, samples: u64 },
}

#[derive(Debug)]
struct Loaded {
    samples: Vec<Option<i32>>,
    scale: EcgScale,
}

/// An ECG lead of a WFDB record, single- or multi-segment, as a [`RecordSource`].
#[derive(Debug)]
pub struct EcgReplay {
    path: PathBuf,
    opts: EcgReplayOptions,
    fs_hz: f64,
    block_samples: u64,
    wave: Wave,
    lead_name: String,
    parts: Vec<Part>,
    part: usize,
    /// Position within the current part.
    pos: u64,
    loaded: Option<Loaded>,
}

fn wfdb_err(path: &Path) -> impl FnOnce(wardwatch_wfdb::Error) -> Error + '_ {
    move |source| Error::Wfdb {
        path: path.to_path_buf(),
        source,
    }
}

fn find_signal(signals: &[SignalSpec], name: &str) -> Option<usize> {
    signals
        .iter()
        .position(|s| s.description.trim().eq_ignore_ascii_case(name.trim()))
}

/// The time of `sample` at `fs_hz`, exact to the nanosecond for integer rates.
pub(crate) fn sample_time(start: DateTime<Utc>, sample: u64, fs_hz: f64) -> DateTime<Utc> {
    let ns = if fs_hz.fract() == 0.0 && fs_hz >= 1.0 {
        (u128::from(sample) * 1_000_000_000 / fs_hz as u128) as i64
    } else {
        let period_ms = 1000.0 / fs_hz;
        // MIMIC writes 1/min as 0.0166666666667 Hz: snap to whole milliseconds.
        let period_ms = if (period_ms - period_ms.round()).abs() < 1e-3 {
            period_ms.round()
        } else {
            period_ms
        };
        (sample as f64 * period_ms * 1e6).round() as i64
    };
    start + Duration::nanoseconds(ns)
}

impl EcgReplay {
    /// Opens `header` (single- or multi-segment) and picks the lead.
    pub fn open(header: impl AsRef<Path>, opts: EcgReplayOptions) -> Result<EcgReplay> {
        let path = header.as_ref().to_path_buf();
        if opts.block_s == 0 {
            return Err(Error::Config {
                field: "block_s",
                reason: "must be at least 1 second".into(),
            });
        }
        let (fs_hz, candidates, parts_raw) = match MultiRecord::open(&path) {
            Ok(multi) => {
                let names: Vec<SignalSpec> = multi
                    .layout()
                    .map(|l| l.signals().to_vec())
                    .or_else(|| multi.present().next().map(|(_, r)| r.signals().to_vec()))
                    .unwrap_or_default();
                let parts: Vec<(u64, u64, Option<Record>)> = multi
                    .segments()
                    .iter()
                    .map(|s| match &s.content {
                        SegmentContent::Present(r) => {
                            (s.start_sample, s.samples, Some((**r).clone()))
                        }
                        _ => (s.start_sample, s.samples, None),
                    })
                    .collect();
                (multi.fs_hz(), names, parts)
            }
            Err(wardwatch_wfdb::Error::SingleSegment { .. }) => {
                let record = Record::open(&path).map_err(wfdb_err(&path))?;
                let n = record.samples_per_signal().map_err(wfdb_err(&path))?;
                (
                    record.fs_hz(),
                    record.signals().to_vec(),
                    vec![(0, n, Some(record))],
                )
            }
            Err(e) => return Err(wfdb_err(&path)(e)),
        };
        let lead_name = match &opts.lead {
            Some(name) => {
                if find_signal(&candidates, name).is_none() {
                    return Err(Error::Replay {
                        path,
                        reason: format!(
                            "no signal named `{name}` (signals: {})",
                            names_of(&candidates)
                        ),
                    });
                }
                name.clone()
            }
            None => candidates
                .iter()
                .map(|s| s.description.trim().to_owned())
                .find(|d| EcgLead::from_wfdb_name(d).is_some())
                .ok_or_else(|| Error::Replay {
                    path: path.clone(),
                    reason: format!(
                        "no ECG lead with an MDC code among {}: name one with `lead`",
                        names_of(&candidates)
                    ),
                })?,
        };
        let wave = EcgLead::from_wfdb_name(&lead_name)
            .map(Wave::Lead)
            .or_else(|| PulseWave::from_wfdb_name(&lead_name).map(Wave::Pulse))
            .ok_or_else(|| Error::Replay {
                path: path.clone(),
                reason: format!(
                    "signal `{lead_name}` is not a waveform with an MDC code (I, II, III, MLII, V1–V6, PLETH, ABP, ART)"
                ),
            })?;
        if !(fs_hz.is_finite() && fs_hz > 0.0) {
            return Err(Error::Replay {
                path,
                reason: format!("sampling frequency {fs_hz} Hz"),
            });
        }
        let parts = parts_raw
            .into_iter()
            .filter(|(_, samples, _)| *samples > 0)
            .map(|(start_sample, samples, record)| {
                match record.and_then(|r| find_signal(r.signals(), &lead_name).map(|i| (r, i))) {
                    Some((record, signal)) => Part::Data {
                        start_sample,
                        samples,
                        record: Box::new(record),
                        signal,
                    },
                    None => Part::Gap {
                        start_sample,
                        samples,
                    },
                }
            })
            .collect();
        let block_samples = ((fs_hz * f64::from(opts.block_s)).round() as u64).max(1);
        Ok(EcgReplay {
            path,
            opts,
            fs_hz,
            block_samples,
            wave,
            lead_name,
            parts,
            part: 0,
            pos: 0,
            loaded: None,
        })
    }

    pub fn fs_hz(&self) -> f64 {
        self.fs_hz
    }

    /// The signal name replayed (as in the header).
    pub fn lead_name(&self) -> &str {
        &self.lead_name
    }

    /// Samples on the record's timeline (present, gaps and absent segments).
    pub fn total_samples(&self) -> u64 {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Data { samples, .. } | Part::Gap { samples, .. } => *samples,
            })
            .sum()
    }

    fn load(&mut self) -> Result<()> {
        if self.loaded.is_some() {
            return Ok(());
        }
        if let Some(Part::Data {
            record,
            signal,
            samples,
            ..
        }) = self.parts.get(self.part)
        {
            let mut data = record.read_signal(*signal).map_err(wfdb_err(&self.path))?;
            // A segment file shorter than its header says reads as missing samples.
            data.resize(*samples as usize, None);
            let spec = &record.signals()[*signal];
            let gain = if spec.gain_adu_per_unit > 0.0 {
                spec.gain_adu_per_unit
            } else {
                wardwatch_wfdb::DEFAULT_GAIN
            };
            let unit_to_mv = match spec.units.trim() {
                "uV" => 1e-3,
                "V" => 1e3,
                _ => 1.0,
            };
            self.loaded = Some(Loaded {
                samples: data,
                scale: EcgScale {
                    factor_mv: unit_to_mv / gain,
                    origin_mv: -f64::from(spec.baseline_adu) * unit_to_mv / gain,
                },
            });
        }
        Ok(())
    }
}

fn names_of(signals: &[SignalSpec]) -> String {
    let names: Vec<&str> = signals.iter().map(|s| s.description.trim()).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

impl RecordSource for EcgReplay {
    fn next_batch(&mut self) -> Result<Option<SimBatch>> {
        loop {
            let Some(part) = self.parts.get(self.part) else {
                return Ok(None);
            };
            let (start_sample, samples) = match part {
                Part::Data {
                    start_sample,
                    samples,
                    ..
                }
                | Part::Gap {
                    start_sample,
                    samples,
                } => (*start_sample, *samples),
            };
            if self.pos >= samples {
                self.part += 1;
                self.pos = 0;
                self.loaded = None;
                continue;
            }
            self.load()?;
            let n = self.block_samples.min(samples - self.pos);
            let first = start_sample + self.pos;
            let t = sample_time(self.opts.start, first, self.fs_hz);
            let at = sample_time(self.opts.start, first + n, self.fs_hz);
            let who = Subject {
                mrn: &self.opts.mrn,
                device_id: self.opts.device_id.as_deref(),
                device_display: None,
            };
            let gap_samples;
            let (samples, scale) = match &self.loaded {
                Some(l) => (
                    &l.samples[self.pos as usize..(self.pos + n) as usize],
                    l.scale,
                ),
                None => {
                    gap_samples = vec![None; n as usize];
                    let scale = EcgScale {
                        factor_mv: 1.0 / wardwatch_wfdb::DEFAULT_GAIN,
                        origin_mv: 0.0,
                    };
                    (gap_samples.as_slice(), scale)
                }
            };
            let gap = self.opts.gap;
            let block = match self.wave {
                Wave::Lead(lead) => obs::ecg_block(lead, who, t, self.fs_hz, scale, samples, gap)
                    .map(|(o, lost, count)| (o, lost, count, RecordKind::Ecg)),
                Wave::Pulse(wave) => {
                    obs::pulse_block(wave, who, t, self.fs_hz, scale, samples, gap)
                        .map(|(o, lost, _)| (o, lost, 0, RecordKind::Pulse))
                }
            };
            self.pos += n;
            let Some((o, lost, count, kind)) = block else {
                continue;
            };
            let record = SimRecord {
                partition_key: self.opts.mrn.clone(),
                id: o.id.clone(),
                payload: obs::to_json(&o),
                kind,
                data_absent: lost,
                ecg_samples: count,
            };
            return Ok(Some(SimBatch {
                at,
                records: vec![record],
            }));
        }
    }
}

/// Whom to replay a numerics record as.
#[derive(Debug, Clone)]
pub struct NumericsReplayOptions {
    pub mrn: String,
    pub device_id: Option<String>,
    /// Time of the record's first sample.
    pub start: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy)]
enum Mapped {
    Single(NumericVital, usize),
    /// Blood-pressure panel from systolic and diastolic signals; `cuff` =
    /// intermittent NBP (missing means "not measured this minute", not signal loss).
    Panel {
        sys: usize,
        dia: usize,
        cuff: bool,
    },
}

/// A MIMIC-III numerics record (`…n.hea`) as a [`RecordSource`], one batch per
/// sample (minute). What is emitted for each sample:
///
/// - HR, RESP, SpO2: the value as recorded, 0 included (a receiver stores 0 as
///   signal loss); the WFDB missing sentinel → `dataAbsentReason`.
/// - ABPSys/ABPDias → a BP panel (id tag `abp`, device "arterial line");
///   missing or 0 → `dataAbsentReason`.
/// - NBPSys/NBPDias → a BP panel (id tag `nbp`, device "NIBP cuff") only in
///   minutes with a reading; values as recorded (MIMIC has diastolic above
///   systolic in places: a receiver must reject those).
/// - PULSE and the mean pressures have no code in docs/wire-format.md and are
///   not emitted.
#[derive(Debug)]
pub struct NumericsReplay {
    opts: NumericsReplayOptions,
    fs_hz: f64,
    mapped: Vec<Mapped>,
    /// Physical values per signal, `None` where the sentinel is.
    values: Vec<Vec<Option<f64>>>,
    frames: usize,
    next: usize,
}

impl NumericsReplay {
    pub fn open(header: impl AsRef<Path>, opts: NumericsReplayOptions) -> Result<NumericsReplay> {
        let path = header.as_ref();
        let record = Record::open(path).map_err(wfdb_err(path))?;
        let signals = record.signals();
        let idx = |name: &str| find_signal(signals, name);
        let mut mapped = Vec::new();
        for (name, vital) in [
            ("HR", NumericVital::HeartRate),
            ("RESP", NumericVital::RespRate),
            ("SpO2", NumericVital::Spo2),
        ] {
            if let Some(i) = idx(name) {
                mapped.push(Mapped::Single(vital, i));
            }
        }
        if let (Some(sys), Some(dia)) = (idx("ABPSys"), idx("ABPDias")) {
            mapped.push(Mapped::Panel {
                sys,
                dia,
                cuff: false,
            });
        }
        if let (Some(sys), Some(dia)) = (idx("NBPSys"), idx("NBPDias")) {
            mapped.push(Mapped::Panel {
                sys,
                dia,
                cuff: true,
            });
        }
        if mapped.is_empty() {
            return Err(Error::Replay {
                path: path.to_path_buf(),
                reason: format!(
                    "no HR, RESP, SpO2, ABPSys/ABPDias or NBPSys/NBPDias signal among {}",
                    names_of(signals)
                ),
            });
        }
        let mut values = vec![Vec::new(); signals.len()];
        let mut frames = usize::MAX;
        for m in &mapped {
            let used = match *m {
                Mapped::Single(_, i) => vec![i],
                Mapped::Panel { sys, dia, .. } => vec![sys, dia],
            };
            for i in used {
                let spec = &signals[i];
                let raw = record.read_signal(i).map_err(wfdb_err(path))?;
                let gain = if spec.gain_adu_per_unit > 0.0 {
                    spec.gain_adu_per_unit
                } else {
                    wardwatch_wfdb::DEFAULT_GAIN
                };
                let base = f64::from(spec.baseline_adu);
                // Rounded to 1/1000 so 723 at gain 10 is 72.3, not 72.30000000000001.
                values[i] = raw
                    .iter()
                    .map(|v| v.map(|v| ((f64::from(v) - base) / gain * 1000.0).round() / 1000.0))
                    .collect();
                frames = frames.min(values[i].len());
            }
        }
        Ok(NumericsReplay {
            opts,
            fs_hz: record.fs_hz(),
            mapped,
            values,
            frames,
            next: 0,
        })
    }

    /// Samples (minutes) in the record.
    pub fn frames(&self) -> usize {
        self.frames
    }
}

impl RecordSource for NumericsReplay {
    fn next_batch(&mut self) -> Result<Option<SimBatch>> {
        if self.next >= self.frames {
            return Ok(None);
        }
        let k = self.next;
        self.next += 1;
        let t = sample_time(self.opts.start, k as u64, self.fs_hz);
        let mrn = self.opts.mrn.as_str();
        let who = |display| Subject {
            mrn,
            device_id: self.opts.device_id.as_deref(),
            device_display: display,
        };
        let mut records = Vec::with_capacity(self.mapped.len());
        for m in &self.mapped {
            let o = match *m {
                Mapped::Single(vital, i) => obs::numeric(vital, who(None), t, self.values[i][k]),
                Mapped::Panel { sys, dia, cuff } => {
                    let pair = self.values[sys][k].zip(self.values[dia][k]);
                    if cuff {
                        match pair {
                            Some(p) if p.0 > 0.0 && p.1 > 0.0 => {
                                obs::blood_pressure(who(Some("NIBP cuff")), t, "nbp", Some(p))
                            }
                            Some(_) => obs::blood_pressure(who(Some("NIBP cuff")), t, "nbp", None),
                            None => continue,
                        }
                    } else {
                        let pair = pair.filter(|p| p.0 > 0.0 && p.1 > 0.0);
                        obs::blood_pressure(who(Some("arterial line")), t, "abp", pair)
                    }
                }
            };
            let absent = o.data_absent_reason.is_some();
            records.push(SimRecord {
                partition_key: mrn.to_owned(),
                id: o.id.clone(),
                payload: obs::to_json(&o),
                kind: RecordKind::Numeric,
                data_absent: absent,
                ecg_samples: 0,
            });
        }
        Ok(Some(SimBatch { at: t, records }))
    }
}
