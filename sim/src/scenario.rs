//! Scenario files: which clinical episodes happen to which patient and when,
//! and how often records are broken on purpose. A scenario is JSON (format in
//! the crate docs); it is parsed and validated once, into typed [`Episode`]s,
//! so the generator never sees an unknown kind or a negative duration.
//!
//! Built-in scenarios: [`Scenario::demo`] (a ward where something happens
//! every few minutes, repeating) and [`Scenario::alarm_tests`] (one
//! life-threatening event per bed, for alarm tests).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::record::MalformedKind;

/// The kinds of episode the generator can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpisodeKind {
    /// Sinus tachycardia at `hr` (default 165 /min).
    Tachycardia,
    /// Sinus bradycardia at `hr` (default 35 /min).
    Bradycardia,
    /// Flat ECG with noise; the HR numeric reads 0 (monitor "no signal").
    Asystole,
    /// Atrial fibrillation: irregular RR, no P waves, fibrillatory baseline,
    /// mean ventricular rate `hr` (default 125 /min). Onset at the start,
    /// termination at the end of the episode.
    AtrialFibrillation,
    /// SpO2 falls to `spo2` (default 82 %).
    Desaturation,
    /// Systolic pressure falls to `sbp` (default 78 mmHg).
    Hypotension,
    /// Temperature rises to `temp` (default 39.3 °C), slowly.
    Fever,
    /// Respiratory rate rises to `rr` (default 30 /min).
    Tachypnoea,
    /// Leads or probe off: `dataAbsentReason` for every affected numeric and
    /// an ECG block without valid samples (see `EcgGap`), or
    /// no records at all with `"silent": true`. `signals` limits it (default
    /// all of `ecg`, `hr`, `rr`, `spo2`, `bp`, `temp`, `pleth`).
    SensorDisconnect,
    /// Large low-frequency noise on the ECG (patient moving), amplitude
    /// `mv` (default 1.5 mV standard deviation).
    MotionArtefact,
    /// An ECG electrode off that the monitor does not flag: the lead shows
    /// a flat, noisy line (an asystole to the ECG alone) while the heart
    /// beats on, the HR numeric (from the pleth) and the pleth with it.
    LeadOff,
}

impl EpisodeKind {
    /// Numeric parameters this kind accepts, with defaults.
    fn numeric_params(self) -> &'static [(&'static str, f64, f64, f64)] {
        // (name, default, min, max)
        match self {
            EpisodeKind::Tachycardia => &[("hr", 165.0, 100.0, 300.0)],
            EpisodeKind::Bradycardia => &[("hr", 35.0, 10.0, 60.0)],
            EpisodeKind::AtrialFibrillation => &[("hr", 125.0, 40.0, 220.0)],
            EpisodeKind::Desaturation => &[("spo2", 82.0, 40.0, 100.0)],
            EpisodeKind::Hypotension => &[("sbp", 78.0, 40.0, 120.0)],
            EpisodeKind::Fever => &[("temp", 39.3, 37.5, 43.0)],
            EpisodeKind::Tachypnoea => &[("rr", 30.0, 20.0, 70.0)],
            EpisodeKind::MotionArtefact => &[("mv", 1.5, 0.1, 5.0)],
            EpisodeKind::Asystole | EpisodeKind::SensorDisconnect | EpisodeKind::LeadOff => &[],
        }
    }
}

/// A signal a sensor disconnect can take away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    Ecg,
    Hr,
    Rr,
    Spo2,
    Bp,
    Temp,
    /// The pulse oximeter's waveform (when the ward streams it).
    Pleth,
}

impl SignalKind {
    pub const ALL: [SignalKind; 7] = [
        SignalKind::Ecg,
        SignalKind::Hr,
        SignalKind::Rr,
        SignalKind::Spo2,
        SignalKind::Bp,
        SignalKind::Temp,
        SignalKind::Pleth,
    ];
}

/// Which patient an episode is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatientRef {
    Mrn(String),
    /// Index into the generator's patient list (0-based).
    Bed(usize),
}

/// A validated episode.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    pub patient: PatientRef,
    pub kind: EpisodeKind,
    pub start_s: u64,
    pub duration_s: u64,
    /// The kind's numeric target (HR, SpO2, …) or noise amplitude, defaults applied.
    pub level: Option<f64>,
    /// For a sensor disconnect: the signals lost.
    pub signals: Vec<SignalKind>,
    /// For a sensor disconnect: emit nothing instead of `dataAbsentReason`.
    pub silent: bool,
}

impl Episode {
    /// Is the episode on at `t_s` seconds of (cycle) time?
    /// An episode of the built-in scenarios: by bed, default parameters, and
    /// a sensor disconnect losing every signal.
    fn built_in(
        bed: usize,
        kind: EpisodeKind,
        start_s: u64,
        duration_s: u64,
        level: Option<f64>,
    ) -> Episode {
        Episode {
            patient: PatientRef::Bed(bed),
            kind,
            start_s,
            duration_s,
            level,
            signals: if kind == EpisodeKind::SensorDisconnect {
                SignalKind::ALL.to_vec()
            } else {
                Vec::new()
            },
            silent: false,
        }
    }

    pub fn active_at(&self, t_s: u64) -> bool {
        t_s >= self.start_s && t_s < self.start_s.saturating_add(self.duration_s)
    }
}

/// Deliberately broken records.
#[derive(Debug, Clone, PartialEq)]
pub struct MalformedSpec {
    /// Malformed records injected per valid numeric record, 0–1.
    pub rate: f64,
    pub kinds: Vec<MalformedKind>,
}

impl Default for MalformedSpec {
    fn default() -> Self {
        MalformedSpec {
            rate: 0.0,
            kinds: MalformedKind::ALL.to_vec(),
        }
    }
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scenario {
    pub episodes: Vec<Episode>,
    pub malformed: MalformedSpec,
    /// When set, episode times repeat with this period (for a demo that runs
    /// for hours).
    pub repeat_s: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    episodes: Vec<EpisodeFile>,
    #[serde(default)]
    malformed: Option<MalformedFile>,
    #[serde(default)]
    repeat_s: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EpisodeFile {
    #[serde(default)]
    mrn: Option<String>,
    #[serde(default)]
    bed: Option<usize>,
    kind: EpisodeKind,
    start_s: u64,
    duration_s: u64,
    #[serde(default)]
    params: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MalformedFile {
    rate: f64,
    #[serde(default)]
    kinds: Option<Vec<MalformedKind>>,
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Scenario> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::ScenarioRead {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::from_json(&text, path)
    }

    /// Parses scenario JSON; `path` only names the source in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<Scenario> {
        let file: ScenarioFile =
            serde_json::from_str(text).map_err(|source| Error::ScenarioParse {
                path: path.to_path_buf(),
                source,
            })?;
        let invalid = |at: String, reason: String| Error::ScenarioInvalid {
            path: path.to_path_buf(),
            at,
            reason,
        };
        let mut episodes = Vec::with_capacity(file.episodes.len());
        for (i, e) in file.episodes.into_iter().enumerate() {
            let at = format!("episodes[{i}]");
            episodes.push(validate_episode(e).map_err(|reason| invalid(at, reason))?);
        }
        let malformed = match file.malformed {
            None => MalformedSpec::default(),
            Some(m) => {
                if !(0.0..=1.0).contains(&m.rate) {
                    return Err(invalid(
                        "malformed.rate".into(),
                        format!("{} is not a fraction between 0 and 1", m.rate),
                    ));
                }
                let kinds = m.kinds.unwrap_or_else(|| MalformedKind::ALL.to_vec());
                if kinds.is_empty() && m.rate > 0.0 {
                    return Err(invalid(
                        "malformed.kinds".into(),
                        "is empty but the rate is above 0: list at least one kind".into(),
                    ));
                }
                MalformedSpec {
                    rate: m.rate,
                    kinds,
                }
            }
        };
        if file.repeat_s == Some(0) {
            return Err(invalid(
                "repeat_s".into(),
                "must be at least 1 second".into(),
            ));
        }
        Ok(Scenario {
            episodes,
            malformed,
            repeat_s: file.repeat_s,
        })
    }

    /// The built-in demo: repeating every 30 minutes, episodes spread over the
    /// first 8 beds (so it needs at least 8 patients), no malformed records.
    pub fn demo() -> Scenario {
        let e = Episode::built_in;
        Scenario {
            episodes: vec![
                e(0, EpisodeKind::Tachycardia, 120, 240, Some(150.0)),
                e(1, EpisodeKind::Desaturation, 300, 300, Some(86.0)),
                e(2, EpisodeKind::AtrialFibrillation, 60, 900, Some(120.0)),
                e(3, EpisodeKind::Fever, 0, 1500, Some(38.9)),
                e(4, EpisodeKind::Hypotension, 600, 420, Some(82.0)),
                e(5, EpisodeKind::SensorDisconnect, 900, 90, None),
                e(6, EpisodeKind::MotionArtefact, 240, 45, Some(1.5)),
                e(6, EpisodeKind::LeadOff, 1000, 30, None),
                e(7, EpisodeKind::Bradycardia, 1200, 180, Some(38.0)),
                e(0, EpisodeKind::Asystole, 1620, 12, None),
            ],
            malformed: MalformedSpec::default(),
            repeat_s: Some(1800),
        }
    }

    /// For alarm tests: from 30 s on, bed 0 asystole (20 s), bed 1 extreme
    /// tachycardia 170 /min (60 s), bed 2 AF onset (120 s, then terminates),
    /// bed 3 desaturation to 82 % (120 s), bed 4 sensor disconnect (60 s),
    /// bed 5 extreme bradycardia 35 /min (60 s). Needs 6 patients.
    pub fn alarm_tests() -> Scenario {
        let e = |bed, kind, duration_s, level| Episode::built_in(bed, kind, 30, duration_s, level);
        Scenario {
            episodes: vec![
                e(0, EpisodeKind::Asystole, 20, None),
                e(1, EpisodeKind::Tachycardia, 60, Some(170.0)),
                e(2, EpisodeKind::AtrialFibrillation, 120, Some(125.0)),
                e(3, EpisodeKind::Desaturation, 120, Some(82.0)),
                e(4, EpisodeKind::SensorDisconnect, 60, None),
                e(5, EpisodeKind::Bradycardia, 60, Some(35.0)),
            ],
            malformed: MalformedSpec::default(),
            repeat_s: None,
        }
    }

    /// The same scenario with malformed records injected at `rate` (all kinds).
    pub fn with_malformed(mut self, rate: f64, kinds: &[MalformedKind]) -> Scenario {
        self.malformed = MalformedSpec {
            rate,
            kinds: kinds.to_vec(),
        };
        self
    }
}

fn validate_episode(e: EpisodeFile) -> std::result::Result<Episode, String> {
    let patient = match (e.mrn, e.bed) {
        (Some(mrn), None) if !mrn.trim().is_empty() => PatientRef::Mrn(mrn),
        (None, Some(bed)) => PatientRef::Bed(bed),
        (Some(_), None) => return Err("`mrn` is empty".into()),
        (Some(_), Some(_)) => return Err("give either `mrn` or `bed`, not both".into()),
        (None, None) => return Err("say which patient: `mrn` or `bed` (0-based)".into()),
    };
    if e.duration_s == 0 {
        return Err("`duration_s` must be at least 1".into());
    }
    let numeric = e.kind.numeric_params();
    let mut level = numeric.first().map(|p| p.1);
    let mut signals = Vec::new();
    let mut silent = false;
    for (name, value) in &e.params {
        if let Some(&(_, _, lo, hi)) = numeric.iter().find(|p| p.0 == name) {
            let v = value
                .as_f64()
                .ok_or_else(|| format!("`params.{name}` must be a number"))?;
            if !(lo..=hi).contains(&v) {
                return Err(format!("`params.{name}` = {v} is outside {lo}–{hi}"));
            }
            level = Some(v);
        } else if e.kind == EpisodeKind::SensorDisconnect && name == "signals" {
            signals = serde_json::from_value::<Vec<SignalKind>>(value.clone()).map_err(|err| {
                format!("`params.signals` must list some of ecg, hr, rr, spo2, bp, temp: {err}")
            })?;
        } else if e.kind == EpisodeKind::SensorDisconnect && name == "silent" {
            silent = value
                .as_bool()
                .ok_or_else(|| "`params.silent` must be true or false".to_owned())?;
        } else {
            let known: Vec<&str> = numeric.iter().map(|p| p.0).collect();
            let known = if e.kind == EpisodeKind::SensorDisconnect {
                "signals, silent".to_owned()
            } else if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            };
            return Err(format!(
                "unknown parameter `{name}` for this kind (accepted: {known})"
            ));
        }
    }
    if e.kind == EpisodeKind::SensorDisconnect && signals.is_empty() {
        signals = SignalKind::ALL.to_vec();
    }
    Ok(Episode {
        patient,
        kind: e.kind,
        start_s: e.start_s,
        duration_s: e.duration_s,
        level,
        signals,
        silent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario> {
        Scenario::from_json(text, Path::new("s.json"))
    }

    #[test]
    fn parses_the_documented_example() {
        let s = parse(crate::SCENARIO_EXAMPLE).expect("example parses");
        assert_eq!(s.episodes.len(), 4);
        assert_eq!(s.episodes[1].level, Some(170.0));
        assert_eq!(s.episodes[2].signals, vec![SignalKind::Ecg]);
        assert_eq!(s.malformed.rate, 0.01);
        assert_eq!(s.malformed.kinds.len(), 2);
    }

    #[test]
    fn errors_name_the_file_and_the_episode() {
        let err = parse(r#"{"episodes":[{"bed":0,"kind":"tachycardia","start_s":0,"duration_s":5,"params":{"hr":900}}]}"#)
            .expect_err("hr 900 rejected");
        let msg = err.to_string();
        assert!(
            msg.contains("s.json") && msg.contains("episodes[0]") && msg.contains("hr"),
            "{msg}"
        );

        let err = parse(r#"{"episodes":[{"bed":0,"kind":"hiccups","start_s":0,"duration_s":5}]}"#)
            .expect_err("unknown kind");
        assert!(err.to_string().contains("s.json"), "{err}");
        assert!(err.to_string().contains("hiccups"), "{err}");

        let err = parse(r#"{"episodes":[{"kind":"fever","start_s":0,"duration_s":5}]}"#)
            .expect_err("no patient");
        assert!(err.to_string().contains("mrn"), "{err}");
    }

    #[test]
    fn rejects_unknown_fields_and_bad_rates() {
        assert!(parse(r#"{"episodez":[]}"#).is_err());
        assert!(parse(r#"{"malformed":{"rate":1.5}}"#).is_err());
        assert!(parse(r#"{"malformed":{"rate":0.1,"kinds":["bogus"]}}"#).is_err());
    }
}
